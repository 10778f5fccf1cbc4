# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read an existing payload image back: device, label and each file's name, size and sha256.

Used for the ``before`` side of a diff and, with ``with_content``, to return what a guest sees.
"""

from __future__ import annotations

import hashlib
import traceback

from ansible_collections.vmpayload.core.plugins.module_utils._image.fat import PYFATFS_IMPORT_ERROR
from ansible_collections.vmpayload.core.plugins.module_utils._image.iso import PYCDLIB_IMPORT_ERROR
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    MissingLibraryError,
)

# What the two libraries raise on a damaged image; whichever is installed.
_IMAGE_ERRORS = ()
if PYCDLIB_IMPORT_ERROR is None:
    import pycdlib
    from pycdlib.pycdlibexception import PyCdlibException
    _IMAGE_ERRORS += (PyCdlibException,)
if PYFATFS_IMPORT_ERROR is None:
    from pyfatfs import PyFATException
    _IMAGE_ERRORS += (PyFATException,)

ISO_MAGIC_OFFSET = 32769
READ_CHUNK = 1024 * 1024


class _Sink:
    """A write-only stream that hashes what it is given and keeps it only when asked to."""

    def __init__(self, keep):
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.chunks = [] if keep else None

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        if self.chunks is not None:
            self.chunks.append(bytes(data))
        return len(data)

    def entry(self, name):
        entry = {'name': name, 'size': self.size, 'sha256': self.sha256.hexdigest()}
        if self.chunks is not None:
            entry['content'] = b''.join(self.chunks)
        return entry


def detect_device(path):
    """``cdrom``, ``floppy`` or None for a file that is neither an ISO 9660 nor a FAT image."""
    with open(path, 'rb') as image:
        boot = image.read(512)
        image.seek(ISO_MAGIC_OFFSET)
        if image.read(5) == b'CD001':
            return 'cdrom'
    if len(boot) == 512 and boot[510:512] == b'\x55\xaa' and (boot[54:57] == b'FAT' or boot[82:85] == b'FAT'):
        return 'floppy'
    return None


def _read_iso(path, with_content):
    if PYCDLIB_IMPORT_ERROR is not None:
        raise MissingLibraryError('pycdlib', PYCDLIB_IMPORT_ERROR)
    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        if iso.has_rock_ridge():
            facet = 'rr_path'
        elif iso.has_joliet():
            facet = 'joliet_path'
        else:
            facet = 'iso_path'
        files = []
        for directory, subdirectories, names in iso.walk(**{facet: '/'}):
            for name in names:
                full = directory.rstrip('/') + '/' + name
                sink = _Sink(with_content)
                iso.get_file_from_iso_fp(sink, **{facet: full})
                display = full.lstrip('/')
                if facet == 'iso_path':
                    display = display.split(';')[0]
                files.append(sink.entry(display))
        label = iso.pvd.volume_identifier.decode('ascii', 'replace').strip() or None
    finally:
        iso.close()
    return {'device': 'cdrom', 'label': label, 'files': sorted(files, key=lambda f: f['name'])}


def _read_fat(path, with_content):
    # PyFatFS (pyfatfs on PyFilesystem2) walks and reads a FAT image in a few lines. It is imported
    # only here: importing PyFilesystem2 imports pkg_resources, which takes a fifth of a second,
    # and the FAT writer does without it.
    try:
        from pyfatfs.PyFatFS import PyFatFS
    except ImportError:
        raise MissingLibraryError('pyfatfs', traceback.format_exc())
    filesystem = PyFatFS(path, read_only=True, utc=True)
    try:
        files = []
        for name in filesystem.walk.files('/'):
            sink = _Sink(with_content)
            with filesystem.openbin(name) as stream:
                for chunk in iter(lambda: stream.read(READ_CHUNK), b''):
                    sink.write(chunk)
            files.append(sink.entry(name.lstrip('/')))
        raw_label = filesystem.fs.bpb_header['BS_VolLab'].decode('ascii', 'replace').strip()
    finally:
        filesystem.close()
    label = None if raw_label in ('', 'NO NAME') else raw_label
    return {'device': 'floppy', 'label': label, 'files': sorted(files, key=lambda f: f['name'])}


def read_image(path, with_content=False):
    """List a payload image; raise ImageWriteError if it is not one this collection can read."""
    try:
        device = detect_device(path)
        if device == 'cdrom':
            return _read_iso(path, with_content)
        if device == 'floppy':
            return _read_fat(path, with_content)
    except OSError as exc:
        raise ImageWriteError('cannot read %s: %s' % (path, exc.strerror))
    except _IMAGE_ERRORS as exc:
        raise ImageWriteError('%s is not a readable payload image: %s' % (path, exc))
    raise ImageWriteError('%s is neither an ISO 9660 nor a FAT image' % path)
