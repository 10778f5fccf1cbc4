# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Test-only fault injection for the fault suite: a module process run with this directory first on
PYTHONPATH loads this file at start-up (Python's ``site`` imports ``sitecustomize``), and, when
``VMPAYLOAD_FAULT`` names a step, kills itself with SIGKILL right there. The product code is not
changed: the wrappers sit on libvirt-python's classes and on the image writers.

``VMPAYLOAD_FAULT`` is ``<step>:<when>``:

- ``build:before`` / ``build:after``: the image writer's ``write`` (the image in the module's temp directory);
- ``upload:before``: ``virStorageVol.upload``, after the volume was created, before any byte went;
- ``upload:mid``: ``virStream.sendAll``, after the first chunk was sent;
- ``upload:after``: ``virStream.finish``, after the stream was complete;
- ``define:before`` / ``define:after``: ``virConnect.defineXML``;
- ``live:before`` / ``live:after``: ``virDomain.updateDeviceFlags`` (the running VM's media change);
- ``stop:before`` / ``stop:after``: ``virDomain.shutdown`` (run-once stopping a running VM);
- ``start:before`` / ``start:after``: ``virConnect.createXML`` (run-once starting the VM with its payload).

``VMPAYLOAD_FAULT_SLOW_UPLOAD`` (seconds) makes every uploaded chunk wait that long, and
``VMPAYLOAD_FAULT_UPLOADING`` names a file created when the first chunk is handed to libvirt: a test
then knows that an upload is under way and lasts, and acts meanwhile (an out-of-band edit).

Without these variables this file does nothing. The chain to a sitecustomize further down the path
(Debian's) is kept.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import signal
import sys
import time

FAULT = os.environ.get('VMPAYLOAD_FAULT', '')
SLOW_UPLOAD = float(os.environ.get('VMPAYLOAD_FAULT_SLOW_UPLOAD', '0') or 0)
UPLOADING = os.environ.get('VMPAYLOAD_FAULT_UPLOADING', '')


def _chain():
    """Run the next sitecustomize on sys.path (the one this file shadows), if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = [entry for entry in sys.path if os.path.abspath(entry or '.') != here]
    spec = importlib.machinery.PathFinder.find_spec('sitecustomize', path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _around(owner, attribute, step):
    original = getattr(owner, attribute)

    def wrapper(*args, **kwargs):
        if FAULT == step + ':before':
            die()
        result = original(*args, **kwargs)
        if FAULT == step + ':after':
            die()
        return result

    wrapper.__name__ = original.__name__
    setattr(owner, attribute, wrapper)


def _install():
    import libvirt

    _around(libvirt.virConnect, 'defineXML', 'define')
    _around(libvirt.virConnect, 'createXML', 'start')
    _around(libvirt.virDomain, 'updateDeviceFlags', 'live')
    _around(libvirt.virDomain, 'shutdown', 'stop')
    _around(libvirt.virStorageVol, 'upload', 'upload')
    if FAULT == 'upload:after':
        _around(libvirt.virStream, 'finish', 'upload')

    send_all = libvirt.virStream.sendAll

    def send_all_then_die(self, handler, opaque):
        chunks = []

        def counting(stream, nbytes, data):
            if chunks and FAULT == 'upload:mid':
                # The first chunk went to libvirt: the volume is partly written.
                die()
            if not chunks and UPLOADING:
                with open(UPLOADING, 'w', encoding='ascii'):
                    pass
            if SLOW_UPLOAD:
                time.sleep(SLOW_UPLOAD)
            chunk = handler(stream, nbytes, data)
            chunks.append(len(chunk))
            return chunk

        return send_all(self, counting, opaque)

    libvirt.virStream.sendAll = send_all_then_die

    # The image writers are wrapped when the module imports them, not here: importing the collection before
    # Ansible's own loader is in place would break a controller started with this environment.
    sys.meta_path.insert(0, _WrapWriters())


WRITERS = {
    'ansible_collections.vmpayload.core.plugins.module_utils._image.iso': 'IsoWriter',
    'ansible_collections.vmpayload.core.plugins.module_utils._image.fat': 'FatWriter',
}


class _WrapWriters(importlib.abc.MetaPathFinder):
    """Wraps ``write`` of the ISO and FAT writers right after their modules are executed."""

    def find_spec(self, name, path, target=None):
        if name not in WRITERS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        execute = spec.loader.exec_module

        def exec_and_wrap(module):
            execute(module)
            _around(getattr(module, WRITERS[name]), 'write', 'build')

        spec.loader.exec_module = exec_and_wrap
        return spec


_chain()
if FAULT or SLOW_UPLOAD or UPLOADING:
    _install()
