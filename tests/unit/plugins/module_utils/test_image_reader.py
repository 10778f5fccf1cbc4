# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading back a damaged existing image (payload_image's diff, vm_payload_info's content): each
corruption is refused as ImageWriteError naming the path, never with the library's exception or the
content; a loop in the image ends instead of running forever."""

from __future__ import annotations

import random
import signal
import struct

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._image import fat
from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import ImageWriteError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

SECRET = 'hunter2-S3CR3T-4f9c'
# Long enough for a chain of several clusters on the floppy.
FILES = [{'name': 'a/b/secret.txt', 'content': SECRET * 100}, {'name': 'ünïcode.txt', 'content': SECRET}]
# The longest a corrupt image may take to be refused; pyfatfs alone never ends on some.
DEADLINE = 20


def _image(tmp_path_factory, device):
    path = tmp_path_factory.mktemp('good') / ('good.' + device)
    writer_for(device).write(parse_payload(FILES, device=device), str(path))
    return path.read_bytes()


@pytest.fixture(scope='module')
def floppy(tmp_path_factory):
    return _image(tmp_path_factory, 'floppy')


@pytest.fixture(scope='module')
def cdrom(tmp_path_factory):
    return _image(tmp_path_factory, 'cdrom')


class Fat12:
    """Offsets in the 1.44 MB image the FAT writer lays out, to damage one structure at a time."""

    def __init__(self, image):
        self.image = bytearray(image)
        layout = fat.Layout(len(image))
        self.fat_bytes = layout.fat_sectors * fat.SECTOR
        self.fats = (fat.SECTOR, fat.SECTOR + self.fat_bytes)
        self.root = fat.SECTOR + layout.fats * self.fat_bytes

    def entry(self, short_name):
        """Offset of the 32-byte directory entry with this 8.3 name (11 bytes, space-padded)."""
        at = self.image.find(short_name)
        while at % 32:
            at = self.image.find(short_name, at + 1)
        assert at > 0, short_name
        return at

    def cluster_of(self, short_name):
        return struct.unpack_from('<H', self.image, self.entry(short_name) + 26)[0]

    def point(self, short_name, cluster):
        struct.pack_into('<H', self.image, self.entry(short_name) + 26, cluster)

    def link(self, cluster, value):
        """Set FAT12 entry ``cluster`` to ``value`` in both FATs."""
        for start in self.fats:
            offset = start + cluster * 3 // 2
            packed = struct.unpack_from('<H', self.image, offset)[0]
            packed = (packed & 0x000F) | (value << 4) if cluster & 1 else (packed & 0xF000) | value
            struct.pack_into('<H', self.image, offset, packed)


DIR_A, DIR_B, SECRET_TXT = b'A          ', b'B          ', b'SECRET  TXT'


def _directory_loops_to_its_parent(fs):
    fs.point(DIR_B, fs.cluster_of(DIR_A))


def _directory_chain_loops(fs):
    cluster = fs.cluster_of(DIR_A)
    fs.link(cluster, cluster)


def _directory_past_the_fat(fs):
    # pyfatfs's table has 4095 entries on this image; its chain walk reads entry 4095 (IndexError).
    fs.point(DIR_B, 4095)


def _file_past_the_fat(fs):
    fs.point(SECRET_TXT, 4095)


def _file_chain_loops_with_a_4_gib_size(fs):
    # Unbounded, the walk goes round the loop until 4 GiB are read (25 s here) and lists a wrong file.
    cluster = fs.cluster_of(SECRET_TXT)
    fs.link(cluster, cluster)
    struct.pack_into('<I', fs.image, fs.entry(SECRET_TXT) + 28, 0xFFFFFFFF)


def _truncated_in_the_root_directory(fs):
    del fs.image[fs.root + 16:]


def _garbage_fat(fs):
    garbage = random.Random(0).randbytes(fs.fat_bytes)
    for start in fs.fats:
        fs.image[start:start + fs.fat_bytes] = garbage


def _broken_long_name(fs):
    # A lone low surrogate in the VFAT long name of ünïcode.txt.
    at = fs.image.find('ü'.encode('utf-16-le'), fs.root)
    fs.image[at:at + 2] = b'\x00\xdc'


ISO_BLOCK = 2048


def _iso_root_records(image):
    """(offset, ISO 9660 name) of each directory record in the root directory."""
    offset = struct.unpack_from('<I', image, 16 * ISO_BLOCK + 156 + 2)[0] * ISO_BLOCK
    records = []
    while image[offset]:
        records.append((offset, bytes(image[offset + 33:offset + 33 + image[offset + 32]])))
        offset += image[offset]
    return records


def _iso_record(image, predicate):
    return next(offset for offset, name in _iso_root_records(image) if predicate(name))


def _iso_directory_record_too_short(image):
    image = bytearray(image)
    image[_iso_root_records(image)[0][0]] = 21      # a directory record is at least 33 bytes
    return image


def _iso_directory_extent_not_in_the_path_table(image):
    image = bytearray(image)
    record = _iso_record(image, lambda name: name == b'A')
    struct.pack_into('<I', image, record + 2, 100)
    struct.pack_into('>I', image, record + 6, 100)
    return image


def _iso_name_version_not_a_number(image):
    image = bytearray(image)
    record = _iso_record(image, lambda name: name.endswith(b';1'))
    image[record + 33 + image[record + 32] - 1] = ord('U')
    return image


def _iso_record_lost_its_rock_ridge_entry(image):
    image = bytearray(image)
    record = _iso_record(image, lambda name: name.endswith(b';1'))
    marker = image.find(b'RR', record + 33, record + image[record])
    image[marker:marker + 2] = b'ZZ'
    return image


def _iso_rock_ridge_name_not_utf8(image):
    image = bytearray(image)
    image[image.find('ü'.encode())] = 0xFF
    return image


def _on_floppy(damage):
    def damaged(floppy):
        fs = Fat12(floppy)
        damage(fs)
        return fs.image
    return damaged


# What each raised before read_image turned it into ImageWriteError, or what it did instead.
DAMAGED = [
    pytest.param('floppy', _on_floppy(_truncated_in_the_root_directory), id='fat-truncated-struct-error'),
    pytest.param('floppy', _on_floppy(_garbage_fat), id='fat-valid-boot-sector-garbage-fat-struct-error'),
    pytest.param('floppy', _on_floppy(_directory_loops_to_its_parent), id='fat-directory-loop-recursion-error'),
    pytest.param('floppy', _on_floppy(_directory_chain_loops), id='fat-directory-cluster-chain-loop-never-ended'),
    pytest.param('floppy', _on_floppy(_directory_past_the_fat), id='fat-directory-past-the-fat-index-error'),
    pytest.param('floppy', _on_floppy(_file_past_the_fat), id='fat-file-past-the-fat-index-error'),
    pytest.param('floppy', _on_floppy(_file_chain_loops_with_a_4_gib_size), id='fat-file-chain-loop-read-4-gib'),
    pytest.param('floppy', _on_floppy(_broken_long_name), id='fat-long-name-unicode-decode-error'),
    pytest.param('cdrom', _iso_directory_record_too_short, id='iso-short-directory-record-struct-error'),
    pytest.param('cdrom', _iso_rock_ridge_name_not_utf8, id='iso-rock-ridge-name-unicode-decode-error'),
    pytest.param('cdrom', _iso_directory_extent_not_in_the_path_table, id='iso-extent-not-in-path-table-key-error'),
    pytest.param('cdrom', _iso_name_version_not_a_number, id='iso-name-version-value-error'),
    pytest.param('cdrom', _iso_record_lost_its_rock_ridge_entry, id='iso-record-without-rock-ridge-attribute-error'),
    pytest.param('floppy', lambda image: bytes(len(image)), id='zeros'),
    pytest.param('floppy', lambda image: random.Random(1).randbytes(len(image)), id='random-bytes'),
    pytest.param('floppy', lambda image: image[:513], id='fat-truncated-after-the-boot-sector'),
]


class _Deadline:
    """Fail a test whose code does not return within ``seconds`` (an endless loop in a library)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        def expired(signum, frame):
            raise AssertionError('still reading after %d s' % self.seconds)
        self.previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc_info):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)


@pytest.mark.filterwarnings('ignore::UserWarning')
@pytest.mark.parametrize('device, damage', DAMAGED)
def test_a_damaged_image_is_refused_naming_the_path_without_content(tmp_path, floppy, cdrom, device, damage):
    path = tmp_path / 'dest.img'
    path.write_bytes(bytes(damage(floppy if device == 'floppy' else cdrom)))
    with _Deadline(DEADLINE):
        with pytest.raises(ImageWriteError) as refused:
            read_image(str(path))
    message = str(refused.value)
    assert str(path) in message
    assert SECRET not in message and SECRET[:7] not in message
    for raw in ('unpack', 'codec', 'index out of range', 'recursion'):
        assert raw not in message


def test_a_fat32_root_directory_whose_chain_loops_is_refused_not_walked_forever(tmp_path):
    # The collection writes FAT12 and FAT16 only, but reads what detect_device takes for FAT, FAT32
    # too; pyfatfs walks a FAT32 root directory's cluster chain while it opens the image.
    from pyfatfs.PyFat import PyFat

    path = tmp_path / 'fat32.img'
    path.write_bytes(bytes(40 * 1024 * 1024))
    formatter = PyFat()
    formatter.mkfs(str(path), PyFat.FAT_TYPE_FAT32, size=40 * 1024 * 1024)
    formatter.close()
    image = bytearray(path.read_bytes())
    reserved, fat_sectors, root_cluster = (struct.unpack_from('<H', image, 14)[0], struct.unpack_from('<I', image, 36)[0],
                                           struct.unpack_from('<I', image, 44)[0])
    for fat_number in range(image[16]):
        struct.pack_into('<I', image, (reserved + fat_number * fat_sectors) * fat.SECTOR + 4 * root_cluster, root_cluster)
    path.write_bytes(bytes(image))
    with _Deadline(DEADLINE):
        with pytest.raises(ImageWriteError, match='cluster chain in it loops') as refused:
            read_image(str(path))
    assert str(path) in str(refused.value)


@pytest.mark.parametrize('device', ['floppy', 'cdrom'])
def test_an_intact_image_still_reads_back(tmp_path, floppy, cdrom, device):
    path = tmp_path / 'dest.img'
    path.write_bytes(floppy if device == 'floppy' else cdrom)
    listing = read_image(str(path), with_content=True)
    assert [(f['name'], f['content'].decode()) for f in listing['files']] == [
        ('a/b/secret.txt', SECRET * 100), ('ünïcode.txt', SECRET)]
