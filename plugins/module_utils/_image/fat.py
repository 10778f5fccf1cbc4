# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""FAT12/FAT16 payload images with VFAT long names, built with pyfatfs, byte-for-byte reproducible.

pyfatfs formats and keeps the directories; what it does not do, or does wrong, is done here, on
our own image only:

* its ``mkfs`` leaves heads and sectors per track at zero, which mtools and some firmware reject,
  and FAT12 entry 1 at 0xFF0 where readers expect all ones: we write the standard geometry
  (1.44 MB: 18 sectors, 2 heads, media 0xF0) and a proper entry 1;
* it stamps the current local time into every directory entry: we set every date to the build
  epoch (in UTC) before the directories are written for the last time;
* its ``writebytes`` holds a whole file in memory and writes cluster by cluster: we allocate each
  file's clusters through pyfatfs and stream the content into them in large sequential writes;
* its root-directory label entry goes through its 8.3 name generator (cut at 8 characters,
  'NO NAME' becomes 'NONAME'): we make it match the boot sector, or drop it without a label;
* names: short names are kept ASCII so every non-ASCII name has a long name, names that are
  8.3 but for a space are created under a stand-in and renamed, and names that are their own
  8.3 name are created before any alias could take them (see ``_creation_order``).

The volume serial is taken from the payload digest, so it is stable and differs between payloads.
"""

from __future__ import annotations

import math
import traceback

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import ImageWriter, utc_fields
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    MissingLibraryError,
    PayloadCapacityError,
    PayloadValidationError,
)

try:
    from pyfatfs.EightDotThree import EightDotThree
    from pyfatfs.PyFat import PyFat
    from pyfatfs.PyFatFS import PyFatFS
    from pyfatfs._exceptions import PyFATException
    PYFATFS_IMPORT_ERROR = None
except ImportError:
    PYFATFS_IMPORT_ERROR = traceback.format_exc()

SECTOR = 512
MIB = 1024 * 1024
FLOPPY_144 = 1474560
FLOPPY_288 = 2949120
# Above this, pyfatfs formats FAT16; at or below, FAT12 (cluster counts stay under 4085).
FAT12_MAX = 4 * MIB
# pyfatfs's FAT16 table starts at 8400 sectors.
FAT16_MIN = 5 * MIB
# 2048 MiB would give 65527 clusters of 32 KiB: a FAT16 volume needs fewer than 65525, or readers
# take it for FAT32 (fsck.vfat: 'Too many clusters for FAT16'; mtools cannot read its FAT).
FAT16_MAX = 2047 * MIB
DIR_ENTRY = 32
LFN_CHARS_PER_ENTRY = 13
LFN_BYTES_PER_ENTRY = 2 * LFN_CHARS_PER_ENTRY
# Short names in ASCII only: see FatWriter._populate.
SHORT_NAME_ENCODING = 'ascii'
COPY_CHUNK = 4 * MIB
FAT12_EOC = 0xFFF
FAT16_EOC = 0xFFFF

# (sectors per track, heads, media descriptor) for the standard floppy formats.
FLOPPY_GEOMETRY = {FLOPPY_144: (18, 2, 0xF0), FLOPPY_288: (36, 2, 0xF0)}
# Larger images are laid out like a hard disk: 32 sectors x 64 heads = 1 MiB per cylinder.
DISK_GEOMETRY = (32, 64, 0xF8)

# pyfatfs's mkfs chooses sectors per cluster from these tables (from Microsoft's fatgen103);
# they are repeated here only so that capacity is known before anything is written, and
# write() checks the real result against them.
_SECTORS_PER_CLUSTER = {
    12: [(4084, 1), (8168, 2), (16336, 4), (32672, 8)],
    16: [(8400, 0), (32680, 2), (262144, 4), (524288, 8), (1048576, 16), (2097152, 32), (4194304, 64)],
}


def parse_size(value):
    """An image size from an int or a string (``1440K``, ``1.44M``, ``2880K``, ``64M``, ``auto``)."""
    if value is None:
        return FLOPPY_144
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str):
        text = value.strip().upper().rstrip('B').rstrip('I')
        if text == 'AUTO':
            return 'auto'
        named = {'1.44M': FLOPPY_144, '2.88M': FLOPPY_288}
        if text in named:
            return named[text]
        units = {'K': 1024, 'M': MIB, 'G': 1024 * MIB}
        try:
            if text and text[-1] in units:
                size = int(float(text[:-1]) * units[text[-1]])
            else:
                size = int(text)
        except ValueError:
            raise PayloadValidationError('size %r is not a size: use bytes, 1440K, 2880K, a number of MiB such as '
                                         '64M, or auto' % value, option='size')
    else:
        raise PayloadValidationError('size must be a number of bytes, a string such as 1440K or 64M, or auto',
                                     option='size')
    if size in FLOPPY_GEOMETRY:
        return size
    if size % MIB or not (MIB <= size <= FAT12_MAX or FAT16_MIN <= size <= FAT16_MAX):
        raise PayloadValidationError('size %r is not a FAT image size this collection builds: use 1440K, 2880K, '
                                     '1M to 4M, or 5M to 2047M in whole MiB, or auto' % value, option='size')
    return size


class Layout:
    """Where things go in a FAT image of a given size, as pyfatfs's mkfs lays it out."""

    def __init__(self, size):
        self.size = size
        self.fat_bits = 12 if size <= FAT12_MAX else 16
        self.total_sectors = size // SECTOR
        self.sectors_per_cluster = next(spc for limit, spc in _SECTORS_PER_CLUSTER[self.fat_bits]
                                        if self.total_sectors <= limit)
        self.root_entries = 224 if self.fat_bits == 12 else 512
        self.reserved_sectors = 1
        self.fats = 2
        self.root_dir_sectors = (self.root_entries * DIR_ENTRY + SECTOR - 1) // SECTOR
        # pyfatfs computes the FAT size from the size in bytes, not sectors; the result is a
        # FAT larger than needed, which every reader accepts. Mirrored so capacity is exact.
        tmp1 = size - (self.reserved_sectors + self.root_dir_sectors)
        tmp2 = 256 * self.sectors_per_cluster + self.fats
        self.fat_sectors = math.ceil((tmp1 + tmp2 - 1) // tmp2 / SECTOR)
        data_sectors = (self.total_sectors - self.reserved_sectors - self.fats * self.fat_sectors
                        - self.root_dir_sectors)
        self.cluster_size = self.sectors_per_cluster * SECTOR
        self.clusters = data_sectors // self.sectors_per_cluster
        self.geometry = FLOPPY_GEOMETRY.get(size, DISK_GEOMETRY)

    def clusters_for(self, nbytes):
        return -(-nbytes // self.cluster_size)


def _entries_for(name):
    """Directory slots for one name: the short entry plus its long-name entries.

    Counted as if every name needs a long name, so the estimate never falls short.
    """
    units = len(name.encode('utf-16-le')) // 2
    return 1 + -(-units // LFN_CHARS_PER_ENTRY)


def _needs(payload, layout):
    """(root directory slots, data clusters) the payload takes on ``layout``."""
    children = {}
    for path in payload.directories() + [f.name for f in payload.files]:
        parent, _, leaf = path.rpartition('/')
        children.setdefault(parent, []).append(leaf)
    root_slots = 1 + sum(_entries_for(leaf) for leaf in children.get('', []))
    clusters = 0
    for directory in payload.directories():
        slots = 2 + sum(_entries_for(leaf) for leaf in children.get(directory, []))
        clusters += max(1, layout.clusters_for(slots * DIR_ENTRY))
    clusters += sum(layout.clusters_for(f.size) for f in payload.files)
    return root_slots, clusters


def _fits(payload, layout):
    root_slots, clusters = _needs(payload, layout)
    return root_slots <= layout.root_entries and clusters <= layout.clusters


def _pyfatfs_path(name):
    """The path pyfatfs is asked to create for ``name``.

    A segment that is a valid 8.3 name but for an inner space ('READ ME.TXT', '2024 01') makes
    pyfatfs fail: its short name drops the space, so it wants a long name, then refuses one because
    the name 'is already 8.3 conform'. Such a segment is created with '?' for each space (a
    character no FAT payload name holds, so it cannot clash) and renamed by _set_long_name().
    """
    parts = name.split('/')
    for index, part in enumerate(parts):
        if ' ' in part and EightDotThree.is_8dot3_conform(part, encoding=SHORT_NAME_ENCODING):
            parts[index] = part.replace(' ', '?')
    return '/'.join(parts)


def _creation_order(entry):
    """Parents first; in each directory, names that are their own 8.3 name first.

    pyfatfs finds an entry by its long name or its 8.3 name, and gives a new long name an 8.3
    alias no existing entry has. Created after '+a.txt' (alias '_A.TXT'), '_A.TXT' would be taken
    for that file: pyfatfs skips it silently and its content overwrites the other file's.
    """
    name = entry[0]
    leaf = _pyfatfs_path(name).rpartition('/')[2]
    return name.count('/'), not EightDotThree.is_8dot3_conform(leaf, encoding=SHORT_NAME_ENCODING), name


def _set_long_name(entry, name):
    """Write ``name`` into ``entry``'s long-name slots, which hold a stand-in of the same length."""
    encoded = name.encode('utf-16-le')
    if len(encoded) % LFN_BYTES_PER_ENTRY:
        encoded += b'\0\0'
    encoded += b'\xff' * (-len(encoded) % LFN_BYTES_PER_ENTRY)
    for slot in entry.lfn_entry.lfn_entries.values():
        at = ((slot['LDIR_Ord'] & 0x1F) - 1) * LFN_BYTES_PER_ENTRY
        slot['LDIR_Name1'] = encoded[at:at + 10]
        slot['LDIR_Name2'] = encoded[at + 10:at + 22]
        slot['LDIR_Name3'] = encoded[at + 22:at + 26]


def _candidate_sizes():
    yield FLOPPY_144
    yield FLOPPY_288
    yield FAT12_MAX
    for mib in range(FAT16_MIN // MIB, FAT16_MAX // MIB + 1):
        yield mib * MIB


class FatWriter(ImageWriter):
    """Floppy payloads: FAT12 on a 1.44 MB image by default, FAT12/FAT16 when ``size`` says so."""

    device = 'floppy'

    def __init__(self, epoch, size=None):
        super().__init__(epoch)
        self.size = parse_size(size)

    def layout(self, payload):
        """The layout for this payload; raises PayloadCapacityError when it does not fit."""
        if self.size != 'auto':
            layout = Layout(self.size)
            root_slots, clusters = _needs(payload, layout)
            if root_slots > layout.root_entries:
                raise PayloadCapacityError(
                    'the payload needs %d root directory entries (long names take several); a %d-byte FAT%d '
                    'image has %d: put files in a sub-directory, or use a larger size'
                    % (root_slots, layout.size, layout.fat_bits, layout.root_entries), option='files')
            if clusters > layout.clusters:
                raise PayloadCapacityError(
                    'the payload needs %d bytes on disk (%d bytes of content in %d-byte clusters), more than '
                    'the %d bytes a %d-byte FAT%d image holds; set size to a larger value or to auto, '
                    'or use device: cdrom'
                    % (clusters * layout.cluster_size, payload.total_size, layout.cluster_size,
                       layout.clusters * layout.cluster_size, layout.size, layout.fat_bits), option='size')
            return layout
        for size in _candidate_sizes():
            layout = Layout(size)
            if _fits(payload, layout):
                return layout
        raise PayloadCapacityError('the payload (%d bytes) does not fit the largest FAT16 image (%d MiB); '
                                   'use device: cdrom' % (payload.total_size, FAT16_MAX // MIB), option='size')

    def plan(self, payload):
        if PYFATFS_IMPORT_ERROR is not None:
            raise MissingLibraryError('pyfatfs', PYFATFS_IMPORT_ERROR)
        return self.layout(payload).size

    def write(self, payload, path):
        if PYFATFS_IMPORT_ERROR is not None:
            raise MissingLibraryError('pyfatfs', PYFATFS_IMPORT_ERROR)
        layout = self.layout(payload)
        try:
            self._format(payload, path, layout)
            self._populate(payload, path)
        except PyFATException as exc:
            raise ImageWriteError('building the FAT image failed: %s' % exc)
        except OSError as exc:
            raise ImageWriteError('writing %s failed: %s' % (exc.filename or path, exc.strerror))

    def _format(self, payload, path, layout):
        with open(path, 'wb'):
            pass
        fat = PyFat()
        sectors_per_track, heads, media = layout.geometry
        fat.mkfs(path, PyFat.FAT_TYPE_FAT12 if layout.fat_bits == 12 else PyFat.FAT_TYPE_FAT16,
                 size=layout.size, label=payload.label or 'NO NAME',
                 # pyfatfs takes a volume_id of 0 as 'none given' and derives one from the clock.
                 volume_id=int(payload.digest[:8], 16) or 1, media_type=media)
        try:
            header = fat.bpb_header
            actual = (header['BPB_SecPerClus'], header['BPB_FATSz16'], header['BPB_RootEntCnt'])
            expected = (layout.sectors_per_cluster, layout.fat_sectors, layout.root_entries)
            if actual != expected:
                raise ImageWriteError('pyfatfs laid out the %d-byte image differently than planned '
                                      '(sectors per cluster, FAT sectors, root entries: %s, expected %s)'
                                      % (layout.size, actual, expected))
            header['BPB_SecPerTrk'] = sectors_per_track
            header['BPB_NumHeads'] = heads
            fat._write_bpb_header()
            # pyfatfs also writes the label as a root-directory entry through its 8.3 name
            # generator, which cuts it after 8 characters and turns 'NO NAME' into 'NONAME', so
            # readers (blkid, Windows, mtools) see another label than the boot sector's and
            # fsck.vfat complains. Keep the entry equal to the boot sector; without a label,
            # write none, as mkfs.fat does.
            for entry in list(fat.root_dir._get_entries_raw()):
                if entry.is_volume_id():
                    if payload.label:
                        entry.name.set_byte_name(payload.label.ljust(11).encode('ascii'))
                    else:
                        fat.root_dir.remove_dir_entry(entry.get_short_name())
            fat.update_directory_entry(fat.root_dir)
            # FAT entry 1 is end-of-chain with all bits set; pyfatfs writes 0xFF0 on FAT12,
            # which mtools rejects ("Initial bytes of fat is not 0xff").
            fat.fat[1] = FAT12_EOC if layout.fat_bits == 12 else FAT16_EOC
            fat.flush_fat()
        finally:
            fat.close()

    def _populate(self, payload, path):
        # Short names in ASCII only: with the default ibm437, an upper-case name such as '¢' or
        # 'ÄÖÜ' fits 8.3 and gets no long name, and a reader with another OEM code page (mtools
        # and Western-European Windows use 850) shows other characters. With 'ascii' every
        # non-ASCII name keeps its exact spelling in a VFAT long-name entry.
        filesystem = PyFatFS(path, encoding=SHORT_NAME_ENCODING, utc=True, preserve_case=True, lazy_load=False)
        try:
            entries = [(d, True) for d in payload.directories()] + [(f.name, False) for f in payload.files]
            for name, is_directory in sorted(entries, key=_creation_order):
                if is_directory:
                    filesystem.makedir('/' + _pyfatfs_path(name))
                else:
                    filesystem.create('/' + _pyfatfs_path(name))
            fat = filesystem.fs
            renamed = [(fat.root_dir.get_entry('/' + _pyfatfs_path(name)), name.rpartition('/')[2])
                       for name in payload.directories() + [f.name for f in payload.files]
                       if _pyfatfs_path(name).rpartition('/')[2] != name.rpartition('/')[2]]
            for entry, leaf in renamed:
                _set_long_name(entry, leaf)
            for f in payload.files:
                if f.size:
                    entry = fat.root_dir.get_entry('/' + f.name)
                    clusters = fat.allocate_bytes(f.size)
                    self._copy_into(fat, f, clusters)
                    entry.set_cluster(clusters[0])
                    entry.filesize = f.size
            self._pin_dates(fat.root_dir)
            self._write_directories(fat, fat.root_dir)
            fat.flush_fat()
        finally:
            filesystem.close()

    @staticmethod
    def _copy_into(fat, payload_file, clusters):
        """Stream the content into its clusters, one large write per contiguous run."""
        runs = []
        for cluster in clusters:
            if runs and runs[-1][1] == cluster:
                runs[-1][1] = cluster + 1
            else:
                runs.append([cluster, cluster + 1])
        remaining = payload_file.size
        with payload_file.open() as stream:
            for first, end in runs:
                address = fat.get_data_cluster_address(first)
                run_bytes = min((end - first) * fat.bytes_per_cluster, remaining)
                while run_bytes:
                    chunk = stream.read(min(COPY_CHUNK, run_bytes))
                    if not chunk:
                        raise ImageWriteError('%s changed while the image was built (it is shorter than %d bytes)'
                                              % (payload_file.name, payload_file.size))
                    fat._write_data_to_address(chunk, address)
                    address += len(chunk)
                    run_bytes -= len(chunk)
                    remaining -= len(chunk)

    def _pin_dates(self, directory):
        year, month, day, hour, minute, second = utc_fields(self.epoch)
        dos_date = ((year - 1980) << 9) | (month << 5) | day
        dos_time = (hour << 11) | (minute << 5) | (second // 2)
        for entry in directory._get_entries_raw():
            entry.crttimetenth = 0
            entry.crttime = entry.wrttime = dos_time
            entry.crtdate = entry.wrtdate = entry.lstaccessdate = dos_date
            if entry.is_directory() and not entry.is_special():
                self._pin_dates(entry)

    def _write_directories(self, fat, directory):
        fat.update_directory_entry(directory)
        for entry in directory._get_entries_raw():
            if entry.is_directory() and not entry.is_special():
                self._write_directories(fat, entry)

