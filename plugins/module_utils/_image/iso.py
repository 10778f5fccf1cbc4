# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""ISO 9660 + Joliet + Rock Ridge payload images with pycdlib, byte-for-byte reproducible.

pycdlib stamps ``time.time()`` in local time into every directory record, Rock Ridge TF entry
and volume descriptor, and has no option for a fixed date (its issue #113). We pin the dates on
our own ISO object before writing, and patch the three volume-descriptor dates that pycdlib
computes while writing at their fixed ECMA-119 offsets afterwards; nothing process-wide is
touched, so another pycdlib user in the same process is unaffected. Our ISO object (``_PyCdlib``)
also checks Joliet's 64-character limit in UCS-2 units rather than UTF-8 bytes, and a label
longer than Joliet's 16 characters goes whole into the primary volume descriptor.
"""

from __future__ import annotations

import re
import struct
import traceback

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import ImageWriter, utc_fields
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    MissingLibraryError,
)

try:
    import pycdlib
    from pycdlib import dates as pycdlib_dates
    from pycdlib.pycdlibexception import PyCdlibException
    from pycdlib import utils as pycdlib_utils
    PYCDLIB_IMPORT_ERROR = None
except ImportError:
    PYCDLIB_IMPORT_ERROR = traceback.format_exc()

SECTOR = 2048
FIRST_VOLUME_DESCRIPTOR = 16
VD_TERMINATOR = 255
VD_PRIMARY = 1
VD_SUPPLEMENTARY = 2
# ECMA-119 8.4.26-8.4.29: creation, modification, expiration, effective dates.
VD_CREATION_OFFSET = 813
VD_MODIFICATION_OFFSET = 830
VD_EFFECTIVE_OFFSET = 864

FILE_MODE = 0o100444
DIRECTORY_MODE = 0o040555
APPLICATION_ID = 'VMPAYLOAD.CORE'
# pycdlib copies file content in blocks of this size; with its default of 32 KiB, the read and
# write calls make a 200 MiB file take 1.6 to 1.8 times as long to write.
WRITE_BLOCKSIZE = 256 * 1024
JOLIET_LABEL_CHARS = 16

_ISO_INVALID = re.compile(r'[^A-Z0-9_]')


def _iso_component(name, taken, is_directory):
    """A unique ISO 9660 level-1 name (8.3 upper case) for one path segment.

    The real name travels in Rock Ridge and Joliet; this one only has to be legal and unique.
    """
    upper = name.upper()
    if is_directory:
        stem, ext = _ISO_INVALID.sub('_', upper)[:8] or '_', ''
    else:
        base, dot, extension = upper.rpartition('.')
        if not dot or not base:
            base, extension = upper, ''
        stem = _ISO_INVALID.sub('_', base)[:8] or '_'
        ext = _ISO_INVALID.sub('_', extension)[:3]
    candidate = stem
    counter = 0
    while (candidate, ext) in taken:
        counter += 1
        suffix = str(counter)
        candidate = stem[:8 - len(suffix)] + suffix
    taken.add((candidate, ext))
    if is_directory:
        return candidate
    return '%s.%s;1' % (candidate, ext)


def _vd_date_bytes(epoch):
    year, month, day, hour, minute, second = utc_fields(epoch)
    return b'%04d%02d%02d%02d%02d%02d00' % (year, month, day, hour, minute, second) + struct.pack('b', 0)


def _pin_date(date, fields):
    year, month, day, hour, minute, second = fields
    if isinstance(date, pycdlib_dates.DirectoryRecordDate):
        date.years_since_1900 = year - 1900
        date.month, date.day_of_month = month, day
        date.hour, date.minute, date.second = hour, minute, second
        date.gmtoffset = 0
    else:
        date.year, date.month, date.dayofmonth = year, month, day
        date.hour, date.minute, date.second = hour, minute, second
        date.hundredthsofsecond = 0
        date.gmtoffset = 0
        date.date_str = b'%04d%02d%02d%02d%02d%02d00' % fields + struct.pack('b', 0)


_TF_FIELDS = ('creation_time', 'access_time', 'modification_time', 'attribute_change_time',
              'backup_time', 'expiration_time', 'effective_time')


def _pin_tree_dates(iso, epoch):
    """Set every directory record and Rock Ridge time of our ISO object to ``epoch`` (UTC)."""
    fields = utc_fields(epoch)
    roots = [vd.root_dir_record for vd in [iso.pvd] + ([iso.joliet_vd] if iso.joliet_vd else [])]
    pending = list(roots)
    while pending:
        record = pending.pop()
        _pin_date(record.date, fields)
        if record.rock_ridge is not None:
            for entries in (record.rock_ridge.dr_entries, record.rock_ridge.ce_entries):
                tf_record = entries.tf_record if entries is not None else None
                if tf_record is None:
                    continue
                for field in _TF_FIELDS:
                    value = getattr(tf_record, field)
                    if value is not None:
                        _pin_date(value, fields)
        if record.is_dir():
            pending.extend(child for child in record.children
                           if child is not record and not child.is_dot() and not child.is_dotdot())
            pending.extend(child for child in record.children if child.is_dot() or child.is_dotdot())


def _pin_volume_descriptor_dates(path, epoch):
    """Overwrite the dates pycdlib writes into each volume descriptor at write time."""
    stamp = _vd_date_bytes(epoch)
    with open(path, 'r+b') as image:
        sector = FIRST_VOLUME_DESCRIPTOR
        while True:
            image.seek(sector * SECTOR)
            header = image.read(7)
            if len(header) < 7 or header[1:6] != b'CD001':
                raise ImageWriteError('%s: volume descriptor %d is missing after writing' % (path, sector))
            if header[0] == VD_TERMINATOR:
                return
            if header[0] in (VD_PRIMARY, VD_SUPPLEMENTARY):
                for offset in (VD_CREATION_OFFSET, VD_MODIFICATION_OFFSET, VD_EFFECTIVE_OFFSET):
                    image.seek(sector * SECTOR + offset)
                    image.write(stamp)
            sector += 1


if PYCDLIB_IMPORT_ERROR is None:
    class _PyCdlib(pycdlib.PyCdlib):
        """Our own ISO object, differing from pycdlib's in one check.

        pycdlib applies Joliet's 64-character limit to the UTF-8 bytes of a name, so a name of
        33 accented or 22 CJK characters fails while being well within the 64 UCS-2 units Joliet
        allows. The model checks the real limit (UTF-16 units) before anything is written.
        """

        def _joliet_name_and_parent_from_path(self, joliet_path):
            splitpath = pycdlib_utils.split_path(joliet_path)
            name = splitpath.pop()
            parent = self._find_joliet_record(b'/' + b'/'.join(splitpath))
            return name.decode('utf-8').encode('utf-16_be'), parent


class IsoWriter(ImageWriter):
    """CD-ROM payloads: ISO 9660 level 1 names, Joliet (level 3) and Rock Ridge 1.09."""

    device = 'cdrom'

    def plan(self, payload):
        if PYCDLIB_IMPORT_ERROR is not None:
            raise MissingLibraryError('pycdlib', PYCDLIB_IMPORT_ERROR)
        # An ISO image grows with its content: no capacity to check beyond the name rules
        # the model already enforced. The estimate is for reporting only.
        return sum(-(-f.size // SECTOR) * SECTOR for f in payload.files)

    def _iso_paths(self, payload):
        """Map each payload path (files and directories) to its ISO 9660 path."""
        taken_by_dir = {}
        mapped = {'': ''}
        entries = [(d, True) for d in payload.directories()] + [(f.name, False) for f in payload.files]
        for path, is_directory in sorted(entries, key=lambda e: (e[0].count('/'), e[0])):
            parent, slash, leaf = path.rpartition('/')
            taken = taken_by_dir.setdefault(parent, set())
            mapped[path] = mapped[parent] + '/' + _iso_component(leaf, taken, is_directory)
        return mapped

    def _write(self, payload, path):
        self.plan(payload)
        iso_paths = self._iso_paths(payload)
        iso = _PyCdlib()
        label = payload.label or ''
        try:
            # The Joliet descriptor holds 16 UCS-2 characters of the volume id and pycdlib refuses
            # a longer one: Joliet gets the first 16 (as mkisofs does), the primary descriptor all
            # of it (up to 32). new() runs outside the block below: close() on an ISO object whose
            # new() failed raises, and would hide the real error.
            iso.new(interchange_level=1, vol_ident=label[:JOLIET_LABEL_CHARS], app_ident_str=APPLICATION_ID,
                    joliet=3, rock_ridge='1.09')
        except PyCdlibException as exc:
            raise ImageWriteError('building the ISO image failed: %s' % exc)
        iso.pvd.volume_identifier = label.encode('ascii').ljust(32)
        streams = []
        try:
            for directory in payload.directories():
                leaf = directory.rpartition('/')[2]
                iso.add_directory(iso_paths[directory], rr_name=leaf, joliet_path='/' + directory,
                                  file_mode=DIRECTORY_MODE)
            for f in payload.files:
                leaf = f.name.rpartition('/')[2]
                names = dict(iso_path=iso_paths[f.name], rr_name=leaf, joliet_path='/' + f.name,
                             file_mode=FILE_MODE)
                if f.copy is not None:
                    # The private copy of src: pycdlib opens it itself at write time and copies it in blocks.
                    iso.add_file(f.copy, **names)
                else:
                    stream = f.open()
                    streams.append(stream)
                    iso.add_fp(stream, f.size, **names)
            _pin_tree_dates(iso, self.epoch)
            iso.write(path, blocksize=WRITE_BLOCKSIZE)
        except PyCdlibException as exc:
            raise ImageWriteError('building the ISO image failed: %s' % exc)
        except OSError as exc:
            raise ImageWriteError('writing %s failed: %s' % (exc.filename or path, exc.strerror))
        finally:
            iso.close()
            for stream in streams:
                stream.close()
        _pin_volume_descriptor_dates(path, self.epoch)
