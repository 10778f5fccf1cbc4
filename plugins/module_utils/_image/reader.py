# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read an existing payload image back: device, label and each file's name, size and sha256.

Used for the ``before`` side of a diff and, with ``with_content``, to return what a guest sees.
"""

from __future__ import annotations

import hashlib
import struct

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

# What the libraries also raise on a damaged image, besides their own exceptions. Observed on
# corrupt images (pyfatfs 1.1.0, pycdlib 1.22.0): zeros, random bytes, images truncated anywhere,
# a valid boot sector with a FAT of random bytes, random bytes over the directories, bit flips:
# * struct.error: a record cut short, in both libraries' parsers (an image truncated in its
#   directories, a FAT or an ISO directory record length that points past the data): caught in
#   read_image;
# * UnicodeDecodeError: a VFAT long name (UTF-16) or a Rock Ridge name (UTF-8) that does not decode
#   (caught where names are read, below);
# * IndexError: pyfatfs's cluster-chain walk reading the entry one past its FAT (caught in
#   _guard_cluster_chains, around that walk only);
# * KeyError, ValueError: pycdlib's open, on a directory record whose extent its path table does
#   not have, or whose name's version is not a number; AttributeError: pycdlib's walk, on a record
#   that lost its Rock Ridge entry (each caught around that one call only).
# A loop in the image (a directory that contains its own ancestor, a cluster chain that comes back
# on itself) made the walk recurse until RecursionError, or never end: it is detected below.
# Anything else is a bug here or in a library, and is left to show as one.

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
    try:
        iso.open(path)
    except KeyError:
        # Observed: pycdlib looks a directory record's extent up in what it built from the path
        # table (_walk_directories, extent_to_ptr), and a damaged record's is not there.
        raise PyCdlibException('its directory records and its path table disagree') from None
    except ValueError:
        # Observed: int() on the version after ';' of a damaged ISO 9660 name
        # (_interchange_level_from_filename).
        raise PyCdlibException('a directory record in it is damaged') from None
    try:
        if iso.has_rock_ridge():
            facet = 'rr_path'
        elif iso.has_joliet():
            facet = 'joliet_path'
        else:
            facet = 'iso_path'
        files = []
        walk = iso.walk(**{facet: '/'})
        while True:
            try:
                directory, subdirectories, names = next(walk)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise PyCdlibException('a file name in it is not valid UTF-8') from None
            except AttributeError:
                # Observed: pycdlib's walk reads child.rock_ridge.name(), and a damaged record in an
                # image with Rock Ridge has no Rock Ridge entry (None).
                raise PyCdlibException('a directory record in it has lost its Rock Ridge entry') from None
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


def _fat_name(entry):
    """The long name where there is one, else the 8.3 name."""
    try:
        return str(entry)
    except UnicodeDecodeError:
        raise PyFATException('a long file name in it is not valid UTF-16') from None


def _fat_files(root):
    """(path, entry) of every file under ``root``.

    Walked with a list of pending directories, each directory's cluster once: on a damaged image a
    subdirectory can point at its own ancestor. (The root is not counted: on FAT12 and FAT16 it has
    no cluster, and pyfatfs gives it a number that a subdirectory's may equal.)
    """
    pending = [(root, '')]
    seen = set()
    while pending:
        directory, prefix = pending.pop()
        subdirectories, files, specials = directory.get_entries()
        for entry in files:
            yield prefix + _fat_name(entry), entry
        for subdirectory in subdirectories:
            path = prefix + _fat_name(subdirectory)
            cluster = subdirectory.get_cluster()
            if cluster in seen:
                raise PyFATException('the directory %s is a directory already listed (a loop)' % path)
            seen.add(cluster)
            pending.append((subdirectory, path + '/'))


def _guard_cluster_chains(fat):
    """Make this PyFat's cluster-chain walk end on a damaged FAT, for its directory parser too.

    pyfatfs's own walk never ends on a chain that comes back on itself (its directory parser then
    grows a list until memory runs out; a file's is read round and round up to its size, 4 GiB),
    and raises IndexError on a link to the entry just past its table. Its directory parser calls
    ``self.get_cluster_chain``, so the guard is set on this one instance, before ``open`` (which
    walks a FAT32 root directory's chain).
    """
    walk = fat.get_cluster_chain

    def guarded(first_cluster):
        chain = walk(first_cluster)
        entries = len(fat.fat)
        length = 0
        while True:
            try:
                cluster = next(chain)
            except StopIteration:
                return
            except IndexError:
                raise PyFATException('a cluster chain in it links past the end of its FAT') from None
            length += 1
            if length > entries:
                raise PyFATException('a cluster chain in it loops')
            yield cluster

    fat.get_cluster_chain = guarded


def _read_fat(path, with_content):
    # pyfatfs's low-level PyFat, as the FAT writer uses it: its PyFilesystem2 layer (PyFatFS, and
    # FatIO) imports PyFilesystem2, which imports pkg_resources, and setuptools 82 removed that.
    # PyFat parses the boot sector, the FAT and the directories, follows each file's cluster chain
    # and reads its clusters.
    if PYFATFS_IMPORT_ERROR is not None:
        raise MissingLibraryError('pyfatfs', PYFATFS_IMPORT_ERROR)
    fat = PyFat()
    _guard_cluster_chains(fat)
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
    except struct.error:
        raise ImageWriteError('%s is not a readable payload image: it is truncated, or a record in it is shorter '
                              'than its format needs' % path) from None
    raise ImageWriteError('%s is neither an ISO 9660 nor a FAT image' % path)
