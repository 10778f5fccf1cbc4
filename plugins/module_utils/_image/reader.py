# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read an existing payload image back: device, label and each file's name, size and sha256.

Used for the ``before`` side of a diff and, with ``with_content``, to return what a guest sees.
"""

from __future__ import annotations

import hashlib

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
    from pyfatfs.PyFat import PyFat
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


def _fat_files(directory, prefix=''):
    """(path, entry) of every file under ``directory``: the long name where there is one, else the 8.3 name."""
    subdirectories, files, specials = directory.get_entries()
    for entry in files:
        yield prefix + str(entry), entry
    for subdirectory in subdirectories:
        yield from _fat_files(subdirectory, prefix + str(subdirectory) + '/')


def _read_fat(path, with_content):
    # pyfatfs's low-level PyFat, as the FAT writer uses it: its PyFilesystem2 layer (PyFatFS, and
    # FatIO) imports PyFilesystem2, which imports pkg_resources, and setuptools 82 removed that.
    # PyFat parses the boot sector, the FAT and the directories, follows each file's cluster chain
    # and reads its clusters.
    if PYFATFS_IMPORT_ERROR is not None:
        raise MissingLibraryError('pyfatfs', PYFATFS_IMPORT_ERROR)
    fat = PyFat()
    fat.open(path, read_only=True)
    try:
        files = []
        for name, entry in _fat_files(fat.root_dir):
            sink = _Sink(with_content)
            remaining = entry.filesize
            clusters = fat.get_cluster_chain(entry.get_cluster()) if remaining else ()
            for cluster in clusters:
                chunk = fat.read_cluster_contents(cluster)[:remaining]
                sink.write(chunk)
                remaining -= len(chunk)
                if not remaining:
                    break
            if remaining:
                raise PyFATException('%s has %d bytes fewer in its clusters than its size, %d'
                                     % (name, remaining, entry.filesize))
            files.append(sink.entry(name))
        raw_label = fat.bpb_header['BS_VolLab'].decode('ascii', 'replace').strip()
    finally:
        fat.close()
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
