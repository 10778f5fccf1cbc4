# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""ovirt.ovirt, taken from the ``ansible`` package on PyPI, for the tests and the benchmark that use it.

Ansible Galaxy cannot be reached where this collection is tested, but PyPI can, and the ``ansible``
package still bundles ovirt.ovirt: ``pip download ansible==<release> --no-deps`` and the one
collection unpacked from the wheel, cached in the build directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

# The newest ansible release on PyPI when this was written: it bundles ovirt.ovirt 3.2.1 and wants
# ansible-core ~= 2.19.5, the series the collection's tests install.
ANSIBLE_RELEASE = '12.3.0'
PREFIX = 'ansible_collections/ovirt/ovirt/'


class Unavailable(Exception):
    """ovirt.ovirt could not be had; the message says why, with pip's own words."""


def collection_version(root):
    """The version of ovirt.ovirt under the collections root ``root``, or None when it is not there."""
    try:
        with open(os.path.join(root, PREFIX, 'MANIFEST.json'), encoding='utf-8') as stream:
            return json.load(stream)['collection_info']['version']
    except (OSError, ValueError, KeyError):
        return None


def fetch(cache, release=ANSIBLE_RELEASE):
    """A collections root holding ovirt.ovirt from ``ansible==release``, made once under ``cache``."""
    root = os.path.join(cache, 'ansible-%s' % release)
    if collection_version(root) is not None:
        return root
    os.makedirs(cache, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='ansible-%s.' % release, dir=cache)
    try:
        download = os.path.join(workdir, 'download')
        command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-d',
                   download, 'ansible==%s' % release]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise Unavailable('pip download --no-deps ansible==%s failed: %s' % (release, exc)) from None
        wheels = [name for name in os.listdir(download) if name.endswith('.whl')] if os.path.isdir(download) else []
        if done.returncode != 0 or not wheels:
            lines = [line.strip() for line in (done.stdout + done.stderr).splitlines()
                     if line.strip() and not line.startswith('WARNING:')]
            raise Unavailable('pip download --no-deps ansible==%s exited with %d: %s'
                              % (release, done.returncode, ' / '.join(lines[-3:])))
        staging = os.path.join(workdir, 'collections')
        with zipfile.ZipFile(os.path.join(download, wheels[0])) as wheel:
            members = [name for name in wheel.namelist() if name.startswith(PREFIX)]
            if not members:
                raise Unavailable('the ansible %s package does not bundle ovirt.ovirt any more' % release)
            wheel.extractall(staging, members)
        shutil.rmtree(root, ignore_errors=True)
        os.rename(staging, root)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return root
