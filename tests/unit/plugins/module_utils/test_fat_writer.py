# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Floppy images read back by readers nobody here wrote: fsck.vfat, mtools and blkid.

mtools runs with its sanity checks on (MTOOLS_SKIP_CHECK unset) in a UTF-8 locale.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import unicodedata

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._image import fat
from ansible_collections.vmpayload.core.plugins.module_utils._image.base import DEFAULT_EPOCH, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    PayloadCapacityError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import (
    LINUX_NAME_MAX_BYTES,
    VFAT_MAX_NAME_UNITS,
    Payload,
    PayloadFile,
    parse_payload,
)

ALL_BYTES = bytes(range(256)) * 3 + bytes(reversed(range(256)))
FLOPPY_144 = 1474560


def b64(data):
    return base64.b64encode(data).decode('ascii')


def _random_file(path, size, seed):
    path.write_bytes(random.Random(seed).randbytes(size))
    return str(path)


def _longest():
    units = VFAT_MAX_NAME_UNITS
    return [{'name': 'x' * units, 'content': 'ascii'},
            {'name': '\u00e9' * units, 'content': 'accents: 254 bytes of UTF-8'},
            {'name': '\u8a2d' * (LINUX_NAME_MAX_BYTES // 3), 'content': 'CJK: 85 characters, 255 bytes of UTF-8'},
            {'name': 'd' * units + '/' + '\u00fc' * (units - 4) + '.txt', 'content': 'nested'}]


def _empty_src(tmp):
    path = tmp / 'empty-source'
    path.write_bytes(b'')
    return str(path)


def _src(tmp):
    return [{'name': 'images/random.bin', 'src': _random_file(tmp / 'random.bin', 1024 * 1024 + 777, 7)},
            {'name': 'host.txt', 'src': _random_file(tmp / 'h\u00f4te.txt', 10, 8)},
            {'name': 'inline.txt', 'content': 'inline next to streamed\n'}]


def _fills_the_floppy(tmp):
    """One directory cluster plus a file taking every other cluster: the image is 100% used."""
    layout = fat.Layout(FLOPPY_144)
    size = (layout.clusters - 1) * layout.cluster_size
    return [{'name': 'big/whole.bin', 'src': _random_file(tmp / 'whole.bin', size, 9)}]


def _short_name_clashes():
    files = [{'name': 'configuration-%d.yaml' % i, 'content': 'n: %d\n' % i} for i in range(1, 13)]
    for name in ('x.tar.gz', '.hidden', 'a b.txt', 'ABC.TXT', 'abc1.txt', 'MiXeD.Txt', '+plus,semi;eq=[b].txt',
                 "it's.txt", '\u00a2', '\u00c4\u00d6\u00dc', '\u00c9', 'Dir.With.Dots/file', 'no_ext',
                 # 8.3 but for an inner space: pyfatfs alone refuses these
                 'READ ME.TXT', '2024 01', 'A B/C D.E F',
                 # names that are the 8.3 alias another name would get ('+a.txt' -> '_A.TXT')
                 '+a.txt', '_A.TXT', 'READ_ME.TXT', '\u00c5/0', '_', 'CONFIGUR.YAM', 'configuration.d/x'):
        files.append({'name': name, 'content': name + '\n'})
    return files


# id -> (label, preset, files factory taking a temporary directory)
CASES = {
    'nocloud-seed': (None, 'nocloud', lambda tmp: [
        {'name': 'user-data', 'content': '#cloud-config\nhostname: vm1\n'},
        {'name': 'meta-data', 'content': 'instance-id: vm1\n'}]),
    'unicode-names': ('unicode', None, lambda tmp: [
        {'name': 'dokumente/\u00fcbersicht.txt', 'content': 'German\n'},
        {'name': '\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac.txt', 'content': 'Greek\n'},
        {'name': '\u65e5\u672c\u8a9e/\u8a2d\u5b9a.yaml', 'content': 'Japanese\n'},
        {'name': '\u0416/\u0436.txt', 'content': 'Cyrillic\n'},
        {'name': 'cafe\u0301.txt', 'content': 'given in NFD, stored in NFC\n'}]),
    'deep-nesting': ('deep', None, lambda tmp: [
        {'name': '/'.join('level%02d' % i for i in range(1, 13)) + '/leaf.txt', 'content': 'twelve levels\n'},
        {'name': 'level01/level02/side.txt', 'content': 'side\n'}]),
    'empty-files': ('empty', None, lambda tmp: [
        {'name': 'empty', 'content': ''},
        {'name': 'dir/empty.bin', 'content_b64': ''},
        {'name': 'dir/empty-src', 'src': _empty_src(tmp)},
        {'name': 'not-empty', 'content': 'x'}]),
    'all-byte-values': ('binary', None, lambda tmp: [
        {'name': 'all-bytes.bin', 'content_b64': b64(ALL_BYTES)},
        {'name': 'crlf.txt', 'content': 'line\r\nline\r\n'}]),
    'longest-names': ('long', None, lambda tmp: _longest()),
    'src-streamed': ('streamed', None, _src),
    'short-name-clashes': ('clashes', None, lambda tmp: _short_name_clashes()),
    'fills-the-floppy': ('full', None, _fills_the_floppy),
    'many-files-in-one-directory': ('many', None, lambda tmp: [
        # 120 names of 4 slots each: a directory of 15 clusters, and aliases up to ~9
        {'name': 'many/a-fairly-long-file-name-number-%03d.conf' % i, 'content': 'n=%d\n' % i} for i in range(120)]),
    'no-label': (None, None, lambda tmp: [{'name': 'only', 'content': 'no label given\n'}]),
    'label-11-chars': ('abcdefghijk', None, lambda tmp: [{'name': 'f', 'content': 'x'}]),
}


@pytest.fixture(scope='module')
def built(tmp_path_factory, image_readers):
    """Build each case once: id -> (image path, payload, expected files, expected dirs, input names)."""
    cache = {}

    def get(case_id):
        if case_id not in cache:
            label, preset, factory = CASES[case_id]
            tmp = tmp_path_factory.mktemp(case_id)
            files = factory(tmp)
            image = tmp / 'payload.img'
            payload = image_readers.build(files, image, device='floppy', label=label, preset=preset)
            expected_files, expected_dirs = image_readers.expected_tree(payload)
            names = {unicodedata.normalize('NFC', spec['name']) for spec in files}
            cache[case_id] = (image, payload, expected_files, expected_dirs, names)
        return cache[case_id]
    return get


ids = pytest.mark.parametrize('case_id', sorted(CASES))


@ids
def test_expected_names_are_the_input_names_in_nfc(built, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    assert set(expected_files) == names == {f.name for f in payload.files}


@ids
def test_image_is_exactly_144_mb(built, case_id):
    image = built(case_id)[0]
    assert image.stat().st_size == FLOPPY_144


@ids
def test_fsck_vfat_finds_no_problem(built, image_readers, case_id):
    image = built(case_id)[0]
    code, problems, summary = image_readers.fsck_vfat(image)
    assert (code, problems) == (0, [])
    assert summary is not None


@ids
def test_minfo_reports_standard_geometry_label_and_serial(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    info = image_readers.minfo(image)
    assert info['sectors per track'] == '18', info['_text']
    assert info['heads'] == '2', info['_text']
    assert info['media byte'] == 'f0', info['_text']
    assert info['media descriptor byte'] == '0xf0', info['_text']
    assert info['small size'] == '2880 sectors', info['_text']
    assert info['disk type'] == 'FAT12   ', info['_text']
    assert info['disk label'] == (upper_label(case_id) or 'NO NAME').ljust(11), info['_text']
    assert info['serial number'] == payload.digest[:8].upper(), info['_text']


def upper_label(case_id):
    """The label a FAT reader must show for a case: the one given (or the preset's), upper-cased."""
    label, preset, factory = CASES[case_id]
    label = {'nocloud': 'cidata'}.get(preset, label)
    return label.upper() if label else None


@ids
def test_blkid_reports_vfat_with_upper_case_label_and_serial(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    probe = image_readers.blkid(image)
    assert (probe['TYPE'], probe['VERSION']) == ('vfat', 'FAT12')
    assert probe.get('LABEL') == upper_label(case_id)
    serial = payload.digest[:8].upper()
    assert probe['UUID'] == serial[:4] + '-' + serial[4:]


@ids
def test_mdir_lists_exactly_the_payload_paths_and_the_label(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    assert image_readers.mdir_paths(image) == image_readers.all_paths(payload)
    head = image_readers.mdir(image).splitlines()[0]
    if upper_label(case_id):
        assert head.rstrip().endswith('is ' + upper_label(case_id)), head
    else:
        assert head.rstrip().endswith('has no label'), head


@ids
def test_every_date_in_the_image_is_the_build_epoch(built, image_readers, case_id):
    image = built(case_id)[0]
    date, clock = image_readers.dos_date_time(DEFAULT_EPOCH)
    for entry in image_readers.fat_entries(image):
        assert (entry.crt_tenth, entry.crt_time, entry.crt_date, entry.acc_date, entry.wrt_time, entry.wrt_date) \
            == (0, clock, date, date, clock, date), entry.path
    assert set(image_readers.mdir_dates(image)) == {('1980-01-01', '0:00')}


@ids
def test_mcopy_extracts_equal_names_and_bytes(built, image_readers, case_id, tmp_path):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    files, dirs = image_readers.read_tree(image_readers.mcopy_extract(image, tmp_path / 'out'))
    assert sorted(files) == sorted(expected_files)
    assert files == expected_files
    assert dirs == expected_dirs


@ids
def test_mtype_reads_each_file_byte_for_byte(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    for name, data in expected_files.items():
        assert image_readers.mtype(image, name) == data, name


def test_non_bmp_names_are_stored_as_utf16_surrogate_pairs(tmp_path, image_readers):
    """mtools prints '_' for each half of a surrogate pair and fsck.vfat escapes them, so no installed
    tool can judge these names: our raw LFN walker reads the names, fsck.vfat checks the structure,
    and mtype reads each file's bytes through its 8.3 path."""
    files = [{'name': 'emoji-\U0001F600.txt', 'content': 'one'},
             {'name': '\U0001F600' * (VFAT_MAX_NAME_UNITS // 2) + 'x', 'content': 'longest, 127 units'},
             {'name': 'rocket-\U0001F680/\U0001F4C4.txt', 'content': 'nested'}]
    image = tmp_path / 'emoji.img'
    payload = image_readers.build(files, image, device='floppy', label='emoji')
    code, problems, clusters = image_readers.fsck_vfat(image)
    assert (code, problems) == (0, [])
    entries = [e for e in image_readers.fat_entries(image)
               if not e.attr & 0x08 and e.path.rpartition('/')[2] not in ('.', '..')]
    assert {e.path for e in entries} == image_readers.all_paths(payload)
    expected_files, expected_dirs = image_readers.expected_tree(payload)
    for entry in entries:
        if not entry.attr & 0x10:
            assert image_readers.mtype(image, entry.short_path[1:]) == expected_files[entry.path[1:]]


def test_fills_the_floppy_uses_every_cluster(built, image_readers):
    image, payload, expected_files, expected_dirs, names = built('fills-the-floppy')
    layout = fat.Layout(FLOPPY_144)
    assert payload.files[0].src is not None
    code, problems, (used, total) = image_readers.fsck_vfat(image)
    assert used == total == layout.clusters
    free = [line for line in image_readers.run(['mdir', '-i', image, '::']).stdout.splitlines() if line.strip()][-1]
    assert free.split() == ['0', 'bytes', 'free']


def test_one_byte_more_than_the_floppy_holds_is_refused_before_writing(tmp_path):
    layout = fat.Layout(FLOPPY_144)
    source = tmp_path / 'too-big.bin'
    with open(source, 'wb') as stream:
        stream.truncate((layout.clusters - 1) * layout.cluster_size + 1)
    payload = parse_payload([{'name': 'big/whole.bin', 'src': str(source)}], device='floppy')
    image = tmp_path / 'never.img'
    with pytest.raises(PayloadCapacityError) as info:
        writer_for('floppy').write(payload, str(image))
    assert info.value.option == 'size'
    assert 'size' in str(info.value) and '1474560-byte FAT12 image' in str(info.value)
    assert not image.exists()


def _root_names(count, long_first=False):
    """``count`` names of 8 lower-case characters: two root slots each (short entry + one LFN)."""
    names = ['file-%03d' % i for i in range(count)]
    if long_first:
        names[0] = 'a-name-of-20-letters'  # 20 UTF-16 units: two LFN slots
    return [{'name': n, 'content': n} for n in names]


def test_root_directory_filled_to_its_last_slot_is_written_and_readable(tmp_path, image_readers):
    # 1 label + 3 slots for the long name + 2 x 110 = 224, exactly BPB_RootEntCnt.
    files = _root_names(111, long_first=True)
    image = tmp_path / 'root.img'
    payload = image_readers.build(files, image, device='floppy', label='root')
    assert image_readers.fat_root_slots_used(image) == fat.Layout(FLOPPY_144).root_entries == 224
    code, problems, clusters = image_readers.fsck_vfat(image)
    assert (code, problems) == (0, [])
    extracted, extracted_dirs = image_readers.read_tree(image_readers.mcopy_extract(image, tmp_path / 'out'))
    assert extracted == image_readers.expected_tree(payload)[0]


def test_one_root_entry_too_many_is_refused_before_writing(tmp_path):
    payload = parse_payload(_root_names(112, long_first=True), device='floppy', label='root')
    image = tmp_path / 'never.img'
    with pytest.raises(PayloadCapacityError) as info:
        writer_for('floppy').write(payload, str(image))
    assert info.value.option == 'files'
    assert 'root directory entries' in str(info.value) and 'sub-directory' in str(info.value)
    assert not image.exists()


# size -> (image bytes, sectors per track, heads, media byte, FAT type, content bytes)
SIZES = {
    '2880K': (2949120, '36', '2', 'f0', 'FAT12', 2 * 1024 * 1024),
    '1M': (1048576, '32', '64', 'f8', 'FAT12', 512 * 1024),
    '4M': (4194304, '32', '64', 'f8', 'FAT12', 3 * 1024 * 1024),
    '5M': (5242880, '32', '64', 'f8', 'FAT16', 4 * 1024 * 1024 + 1),
    '64M': (67108864, '32', '64', 'f8', 'FAT16', 6 * 1024 * 1024),
    # auto: the smallest size that holds the payload
    'auto': (2949120, '36', '2', 'f0', 'FAT12', 2 * 1024 * 1024),
    'auto-fat16': (5242880, '32', '64', 'f8', 'FAT16', 4 * 1024 * 1024 + 300 * 1024),
    # the largest size offered (a sparse file)
    '2047M': (2047 * 1024 * 1024, '32', '64', 'f8', 'FAT16', 1024),
}


@pytest.mark.parametrize('size_id', sorted(SIZES))
def test_larger_sizes_pass_fsck_and_mtools(tmp_path, image_readers, size_id):
    image_bytes, sectors, heads, media, fat_type, content = SIZES[size_id]
    size = size_id.split('-')[0]
    files = [{'name': 'payload/data.bin', 'src': _random_file(tmp_path / 'data.bin', content, content)},
             {'name': '\u00fcber/\u65e5\u672c.txt', 'content': 'unicode\n'},
             {'name': 'empty', 'content': ''}]
    image = tmp_path / 'big.img'
    payload = image_readers.build(files, image, device='floppy', label='oemdrv', size=size)
    assert image.stat().st_size == image_bytes
    code, problems, clusters = image_readers.fsck_vfat(image)
    assert (code, problems) == (0, [])
    info = image_readers.minfo(image)
    assert (info['sectors per track'], info['heads'], info['media byte']) == (sectors, heads, media), info['_text']
    assert info['disk type'].rstrip() == fat_type
    assert info['disk label'] == 'OEMDRV     '
    probe = image_readers.blkid(image)
    assert (probe['TYPE'], probe['VERSION'], probe['LABEL']) == ('vfat', fat_type, 'OEMDRV')
    assert image_readers.mdir_paths(image) == image_readers.all_paths(payload)
    extracted, dirs = image_readers.read_tree(image_readers.mcopy_extract(image, tmp_path / 'out'))
    expected_files, expected_dirs = image_readers.expected_tree(payload)
    assert extracted == expected_files
    assert dirs == expected_dirs


def test_plan_reports_the_size_auto_chooses():
    payload = parse_payload([{'name': 'a', 'content': 'x' * (2 * 1024 * 1024)}], device='floppy')
    assert writer_for('floppy', size='auto').plan(payload) == 2949120
    assert writer_for('floppy').plan(parse_payload([{'name': 'a', 'content': 'x'}], device='floppy')) == FLOPPY_144


def test_2048m_is_not_offered_because_it_would_not_be_valid_fat16():
    """2048 MiB in 32 KiB clusters is 65527 clusters; FAT16 must stay under 65525."""
    assert fat.Layout(fat.parse_size('2047M')).clusters < 65525
    with pytest.raises(PayloadValidationError) as info:
        fat.parse_size('2048M')
    assert info.value.option == 'size' and '2047M' in str(info.value)


def test_volume_serial_is_never_left_to_pyfatfs_clock(tmp_path, image_readers):
    """A digest starting with 32 zero bits would make pyfatfs pick a serial from the clock."""
    data = b'x'
    payload = Payload(device='floppy', label=None, digest='0' * 64,
                      files=(PayloadFile(name='a', size=1, sha256=hashlib.sha256(data).hexdigest(), data=data),))
    image = tmp_path / 'zero.img'
    writer_for('floppy').write(payload, str(image))
    assert image_readers.minfo(image)['serial number'] == '00000001'


def test_src_is_streamed_not_held_in_the_model(built):
    image, payload, expected_files, expected_dirs, names = built('src-streamed')
    streamed = [f for f in payload.files if f.src is not None]
    assert {f.name for f in streamed} == {'images/random.bin', 'host.txt'}
    assert all(f.data is None for f in streamed)
    assert len(expected_files['images/random.bin']) == 1024 * 1024 + 777
    assert os.path.exists(streamed[0].src)


def test_mtools_run_with_their_checks_on(image_readers, monkeypatch):
    """Our images must pass mtools without MTOOLS_SKIP_CHECK, even if the caller has it set."""
    monkeypatch.setenv('MTOOLS_SKIP_CHECK', '1')
    assert not any(key.startswith('MTOOLS') for key in image_readers.reader_env())
