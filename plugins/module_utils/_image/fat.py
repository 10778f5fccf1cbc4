# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""FAT12/FAT16 payload images with VFAT long names, built with pyfatfs, byte-for-byte reproducible.

pyfatfs's ``PyFat`` formats the image, allocates clusters and serialises directory entries. It is
used directly, not through pyfatfs's PyFilesystem2 layer (``PyFatFS``), which looks every path up
by a linear scan and writes the parent directory and the whole FAT again for every file it
creates, and whose import imports PyFilesystem2 and pkg_resources (a fifth of a second). What
pyfatfs does not do, or does wrong, is done here, on our own image only:

* its ``mkfs`` leaves heads and sectors per track at zero, which mtools and some firmware reject,
  and FAT12 entry 1 at 0xFF0 where readers expect all ones: we write the standard geometry
  (1.44 MB: 18 sectors, 2 heads, media 0xF0) and a proper entry 1;
* it stamps the current local time into every directory entry: we set every date to the build
  epoch (in UTC) before the directories are written;
* PyFatFS's ``writebytes`` holds a whole file in memory and writes cluster by cluster: we
  allocate each file's clusters through pyfatfs and stream the content into them in large
  sequential writes;
* its root-directory label entry goes through its 8.3 name generator (cut at 8 characters,
  'NO NAME' becomes 'NONAME'): we make it match the boot sector, or drop it without a label;
* names: short names are kept ASCII so every non-ASCII name has a long name; long names are
  made here, as pyfatfs refuses one to a name that is 8.3 but for a space; short names are made
  unique here, as pyfatfs lists the whole directory for each one; and names that are their own
  8.3 name are added before any alias could take them (see ``_creation_order``).

The volume serial is taken from the payload digest, so it is stable and differs between payloads.
"""

from __future__ import annotations

import datetime
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
    from pyfatfs.FATDirectoryEntry import FATDirectoryEntry, FATLongDirectoryEntry
    from pyfatfs.PyFat import PyFat
    from pyfatfs import PyFATException
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
# Content is copied in blocks of this size: 4 MiB blocks cost a fresh process (which an Ansible
# module is) 0.1-0.3 s more kernel time in page faults on a file of 200 MiB.
COPY_CHUNK = 256 * 1024
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
        except (ValueError, OverflowError):
            # ValueError: not a number ('nanM' too); OverflowError: float('inf'), or a number too
            # large for a float ('1e400M'), has no int.
            raise PayloadValidationError('size %r is not a size: use bytes, 1440K, 2880K, a number of MiB such as '
                                         '64M, or auto' % value, option='size') from None
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
        parent, slash, leaf = path.rpartition('/')
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


def _is_own_short_name(leaf):
    """Whether ``leaf`` is stored as its own 8.3 name, with no long name.

    pyfatfs calls a name with an inner space ('READ ME.TXT', '2024 01') 8.3 conform, but its
    short name loses the space: such a name needs a long name like any name that is not 8.3.
    """
    return ' ' not in leaf and EightDotThree.is_8dot3_conform(leaf, encoding=SHORT_NAME_ENCODING)


def _creation_order(entry):
    """Parents first; in each directory, names that are their own 8.3 name first.

    A new long name gets an 8.3 alias that no entry already in its directory has: added after
    '+a.txt' (alias '_A.TXT'), the file '_A.TXT' would become '_A~1.TXT' with a long name, and the
    short name '_A.TXT' would name the other file for every reader that goes by short names.
    The order also decides where each directory's clusters are, so it is part of the image's bytes.
    """
    name = entry[0]
    return name.count('/'), not _is_own_short_name(name.rpartition('/')[2]), name


def _long_name(name, short_name):
    """The VFAT long-name entries of ``name``, for the entry whose 8.3 name is ``short_name``.

    Laid out as pyfatfs's make_lfn_entry() lays them out; that function cannot be used because it
    refuses a name that is 8.3 but for a space ('already 8.3 conform'), which needs a long name.
    """
    # UCS-2 units, NUL-terminated unless they fill the last slot, which is padded with 0xFFFF.
    encoded = name.encode('utf-16-le')
    if len(encoded) % LFN_BYTES_PER_ENTRY:
        encoded += b'\0\0'
    encoded += b'\xff' * (-len(encoded) % LFN_BYTES_PER_ENTRY)
    slots = len(encoded) // LFN_BYTES_PER_ENTRY
    checksum = short_name.checksum()
    long_name = FATLongDirectoryEntry()
    for index in range(slots):
        part = encoded[index * LFN_BYTES_PER_ENTRY:(index + 1) * LFN_BYTES_PER_ENTRY]
        order = index + 1
        if order == slots:
            order |= FATLongDirectoryEntry.LAST_LONG_ENTRY
        long_name.add_lfn_entry(LDIR_Ord=order, LDIR_Name1=part[:10], LDIR_Attr=FATDirectoryEntry.ATTR_LONG_NAME,
                                LDIR_Type=0, LDIR_Chksum=checksum, LDIR_Name2=part[10:22], LDIR_FstClusLO=0,
                                LDIR_Name3=part[22:])
    return long_name


class _DirectoryTree:
    """The payload's directories and files as entries of an open PyFat, built in memory.

    PyFatFS wrote the parent directory after every entry it created, and pyfatfs's
    update_directory_entry() then extended the directory's cluster chain by the clusters it
    lacked. Here a chain is extended the moment its directory outgrows it, in the same way, so
    every directory keeps the clusters it had; each directory is written once, at the end
    (FatWriter._write_directories), which fills every cluster of its chain, so a cluster is not
    erased when it is allocated.
    """

    def __init__(self, fat):
        self.fat = fat
        # Payload path ('' is the root) -> its entry.
        self.entries = {'': fat.root_dir}
        # Directory path -> the short names in it.
        self._short_names = {'': set()}
        # (directory path, 8.3 name as mapped) -> the last '~N' number tried for it, and its stem.
        self._last_suffix = {}
        # Sub-directory path -> bytes of its entries, and its clusters.
        self._sizes = {}
        self._chains = {}
        # make_8dot3_name() maps a name to 8.3, then makes it unique by listing the short name of
        # every entry in the directory, which takes time in the square of the directory's size
        # (6 s for 1000 files). Given this empty directory it only maps; _short_name() does the rest.
        empty_name = EightDotThree(encoding=SHORT_NAME_ENCODING)
        empty_name.set_str_name('EMPTY')
        self._empty_directory = FATDirectoryEntry.new(name=empty_name, tz=datetime.timezone.utc,
                                                      encoding=SHORT_NAME_ENCODING,
                                                      attr=FATDirectoryEntry.ATTR_DIRECTORY)

    def add(self, name, is_directory):
        """Add the file or directory ``name`` (a payload path) to its parent directory."""
        parent_name, slash, leaf = name.rpartition('/')
        parent = self.entries[parent_name]
        short_name = self._short_name(leaf, parent_name)
        # The current time pyfatfs stamps here is replaced by the build epoch (FatWriter._pin_dates).
        entry = FATDirectoryEntry.new(name=short_name, tz=datetime.timezone.utc, encoding=SHORT_NAME_ENCODING,
                                      attr=FATDirectoryEntry.ATTR_DIRECTORY if is_directory else 0)
        if short_name.get_unpadded_filename() != leaf:
            entry.set_lfn_entry(_long_name(leaf, short_name))
        if is_directory:
            self._make_directory(name, entry, parent)
        parent.add_subdirectory(entry)
        if parent_name:
            self._grow(parent_name, len(bytes(entry)))
        self.entries[name] = entry

    def _short_name(self, leaf, directory_name):
        """The 8.3 name of ``leaf``, unique in its directory, as pyfatfs's make_8dot3_name() makes it.

        It is made unique by make_8dot3_name()'s rule: '~1', '~2'... each cut into the candidate
        before it ('AB', 'AB~1', 'AB~1~2'), until one is free. A search resumes where the last one
        for the same mapped name in the directory stopped, as the candidates before are still
        taken: 1000 files that map alike need not try 500,000.

        pyfatfs drops the spaces of a name; one that is 8.3 but for a space gets '_' for each
        space instead ('READ ME.TXT' is 'READ_ME.TXT'), as this writer has always given it (it
        passed pyfatfs a stand-in with '?', which pyfatfs maps to '_'), so that such payloads
        keep their bytes.
        """
        if ' ' in leaf and EightDotThree.is_8dot3_conform(leaf, encoding=SHORT_NAME_ENCODING):
            leaf = leaf.replace(' ', '_')
        mapped = EightDotThree.make_8dot3_name(leaf, self._empty_directory)
        stem, dot, extension = mapped.partition('.')
        number, stem = self._last_suffix.get((directory_name, mapped), (0, stem))
        candidate = stem + dot + extension
        taken = self._short_names[directory_name]
        while candidate in taken:
            number += 1
            stem = '%s~%d' % (stem[:8 - 1 - len(str(number))], number)
            candidate = stem + dot + extension
        self._last_suffix[directory_name, mapped] = number, stem
        taken.add(candidate)
        short_name = EightDotThree(encoding=SHORT_NAME_ENCODING)
        short_name.set_str_name(candidate)
        return short_name

    def _make_directory(self, name, entry, parent):
        """Give a new directory its first cluster, and its '.' and '..' entries."""
        first_cluster = self.fat.allocate_bytes(2 * DIR_ENTRY)[0]
        entry.set_cluster(first_cluster)
        # '..' in a directory of the root directory points to cluster 0.
        parent_cluster = 0 if parent is self.fat.root_dir else parent.get_cluster()
        for dot_name, cluster in ((b'.          ', first_cluster), (b'..         ', parent_cluster)):
            short_name = EightDotThree(encoding=SHORT_NAME_ENCODING)
            short_name.set_byte_name(dot_name)
            entry.add_subdirectory(FATDirectoryEntry.new(name=short_name, tz=datetime.timezone.utc,
                                                         encoding=SHORT_NAME_ENCODING,
                                                         attr=FATDirectoryEntry.ATTR_DIRECTORY, cluster=cluster))
        self._short_names[name] = set()
        self._sizes[name] = 2 * DIR_ENTRY
        self._chains[name] = [first_cluster]

    def _grow(self, directory_name, added_bytes):
        """Count ``added_bytes`` more in a sub-directory; extend its chain by what it then lacks."""
        size = self._sizes[directory_name] = self._sizes[directory_name] + added_bytes
        chain = self._chains[directory_name]
        lacking = size - len(chain) * self.fat.bytes_per_cluster
        if lacking > 0:
            clusters = self.fat.allocate_bytes(lacking)
            self.fat.fat[chain[-1]] = clusters[0]
            chain.extend(clusters)


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

    def _write(self, payload, path):
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
            # PyFat's private _write_bpb_header(): pyfatfs has no public call that writes a changed
            # boot sector.
            fat._write_bpb_header()
            # pyfatfs also writes the label as a root-directory entry through its 8.3 name
            # generator, which cuts it after 8 characters and turns 'NO NAME' into 'NONAME', so
            # readers (blkid, Windows, mtools) see another label than the boot sector's and
            # fsck.vfat complains. Keep the entry equal to the boot sector; without a label,
            # write none, as mkfs.fat does.
            directories, files, specials = fat.root_dir.get_entries()
            for entry in specials:
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
        fat = PyFat(encoding=SHORT_NAME_ENCODING, lazy_load=False)
        fat.open(path)
        try:
            tree = _DirectoryTree(fat)
            names = [(d, True) for d in payload.directories()] + [(f.name, False) for f in payload.files]
            for name, is_directory in sorted(names, key=_creation_order):
                tree.add(name, is_directory)
            for f in payload.files:
                if f.size:
                    entry = tree.entries[f.name]
                    clusters = fat.allocate_bytes(f.size)
                    self._copy_into(fat, f, clusters)
                    entry.set_cluster(clusters[0])
                    entry.filesize = f.size
            self._pin_dates(fat.root_dir)
            self._write_directories(fat, fat.root_dir)
            fat.flush_fat()
        finally:
            fat.close()

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
                    # PyFat's private _write_data_to_address() writes at an offset through PyFat's own
                    # file handle; its public write_data_to_cluster() takes the whole content at once.
                    fat._write_data_to_address(chunk, address)
                    address += len(chunk)
                    run_bytes -= len(chunk)
                    remaining -= len(chunk)

    def _pin_dates(self, directory):
        """Date every entry under ``directory`` ('.', '..' and the label included) at the build epoch."""
        year, month, day, hour, minute, second = utc_fields(self.epoch)
        dos_date = ((year - 1980) << 9) | (month << 5) | day
        dos_time = (hour << 11) | (minute << 5) | (second // 2)
        subdirectories, files, specials = directory.get_entries()
        for entry in subdirectories + files + specials:
            entry.crttimetenth = 0
            entry.crttime = entry.wrttime = dos_time
            entry.crtdate = entry.wrtdate = entry.lstaccessdate = dos_date
        for subdirectory in subdirectories:
            self._pin_dates(subdirectory)

    def _write_directories(self, fat, directory):
        fat.update_directory_entry(directory)
        for subdirectory in directory.get_entries()[0]:
            self._write_directories(fat, subdirectory)
