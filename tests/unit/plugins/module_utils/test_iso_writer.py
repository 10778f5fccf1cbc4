# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""CD-ROM images read back by readers nobody here wrote: isoinfo, xorriso and bsdtar.

Each case is built once per module; every test then asks one reader one question about it.
"""

from __future__ import annotations

import base64
import random
import re
import unicodedata

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import DEFAULT_EPOCH, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import (
    ISO_MAX_PATH_COMPONENTS,
    JOLIET_MAX_NAME_UNITS,
    parse_payload,
)

ALL_BYTES = bytes(range(256)) * 3 + bytes(reversed(range(256)))
SRC_SIZE = 3 * 1024 * 1024 + 12345


def b64(data):
    return base64.b64encode(data).decode('ascii')


def _deepest():
    dirs = ['lvl%d' % i for i in range(1, ISO_MAX_PATH_COMPONENTS)]
    return [{'name': '/'.join(dirs) + '/leaf.txt', 'content': 'at the deepest level ISO 9660 allows\n'},
            {'name': '/'.join(dirs[:3]) + '/middle.txt', 'content': 'middle\n'},
            {'name': 'top.txt', 'content': 'top\n'}]


def _longest():
    units = JOLIET_MAX_NAME_UNITS
    return [{'name': 'x' * units, 'content': 'ascii'},
            {'name': '\u00e9' * units, 'content': 'latin-1 accents, 128 bytes of UTF-8'},
            {'name': '\u8a2d' * units, 'content': 'CJK, 192 bytes of UTF-8'},
            {'name': '\U0001F600' * (units // 2), 'content': 'non-BMP: two UTF-16 units each'},
            {'name': 'd' * units + '/' + '\u00fc' * (units - 4) + '.txt', 'content': 'nested'},
            {'name': 'n' * (units - 4) + '.cfg', 'content': 'with an extension'}]


def _empty_src(tmp):
    path = tmp / 'empty-source'
    path.write_bytes(b'')
    return str(path)


def _src(tmp):
    big = tmp / 'big-source.bin'
    big.write_bytes(random.Random(20240601).randbytes(SRC_SIZE))
    small = tmp / 'h\u00f4te-fichier.txt'
    small.write_bytes('from the host\n'.encode('utf-8'))
    return [{'name': 'images/big.bin', 'src': str(big)},
            {'name': 'host.txt', 'src': str(small)},
            {'name': 'inline.txt', 'content': 'inline next to streamed\n'}]


def _iso_name_clashes():
    files = [{'name': 'configuration-%d.yaml' % i, 'content': 'n: %d\n' % i} for i in range(1, 13)]
    for name in ('README', 'readme', 'Readme.md', '.hidden', 'a.b.c.d', 'no_ext', 'spaces in name.txt',
                 "it's quoted.txt", '[brackets] & (parens) #1.txt', 'trailing.dot.', 'UPPER.TXT',
                 'dir.with.dots/file', 'DIR.WITH.DOTS2/file', 'Case', 'case/x'):
        files.append({'name': name, 'content': name + '\n'})
    return files


# id -> (label, preset, files factory taking a temporary directory)
CASES = {
    'nocloud-seed': ('cidata', 'nocloud', lambda tmp: [
        {'name': 'user-data', 'content': '#cloud-config\nhostname: vm1\n'},
        {'name': 'meta-data', 'content': 'instance-id: vm1\n'},
        {'name': 'network-config', 'content': 'version: 2\n'}]),
    'unicode-names': ('unicode', None, lambda tmp: [
        {'name': 'dokumente/\u00fcbersicht.txt', 'content': 'German\n'},
        {'name': '\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac.txt', 'content': 'Greek\n'},
        {'name': '\u65e5\u672c\u8a9e/\u8a2d\u5b9a.yaml', 'content': 'Japanese\n'},
        {'name': '\u0416/\u0436.txt', 'content': 'Cyrillic\n'},
        {'name': 'emoji-\U0001F600-\U0001F680.txt', 'content': 'non-BMP\n'},
        {'name': 'cafe\u0301.txt', 'content': 'given in NFD, stored in NFC\n'}]),
    'deepest-nesting': ('deep', None, lambda tmp: _deepest()),
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
    'iso-name-clashes': ('clashes', None, lambda tmp: _iso_name_clashes()),
    'many-files-in-one-directory': ('many', None, lambda tmp: [
        {'name': 'many/a-fairly-long-file-name-number-%03d.conf' % i, 'content': 'n=%d\n' % i} for i in range(300)]),
    'no-label': (None, None, lambda tmp: [{'name': 'only', 'content': 'no label given\n'}]),
    'label-32-chars': ('A.label-of_32_characters.ok-1234', None, lambda tmp: [{'name': 'f', 'content': 'x'}]),
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
            image = tmp / 'payload.iso'
            payload = image_readers.build(files, image, device='cdrom', label=label, preset=preset)
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
def test_isoinfo_d_reports_label_joliet_and_rock_ridge(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    info = image_readers.isoinfo_d(image)
    assert info['fields']['Volume id'] == (payload.label or ''), info['text']
    assert info['fields']['Application id'] == 'VMPAYLOAD.CORE'
    assert info['joliet'], info['text']
    assert info['rock_ridge'], info['text']
    assert info['fields']['Logical block size is'] == '2048'
    assert int(info['fields']['Volume size is']) * 2048 == image.stat().st_size


@ids
def test_blkid_reports_iso9660_with_the_whole_label(built, image_readers, case_id):
    """blkid merges the primary and Joliet volume ids: labels over 16 characters must survive."""
    image, payload, expected_files, expected_dirs, names = built(case_id)
    probe = image_readers.blkid(image)
    assert probe['TYPE'] == 'iso9660'
    assert probe.get('LABEL', '') == (payload.label or '')


@ids
def test_isoinfo_rock_ridge_tree_has_exactly_the_payload_paths(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    assert image_readers.isoinfo_find(image, '-R') == image_readers.all_paths(payload)


@ids
def test_isoinfo_rock_ridge_listing_shows_names_sizes_and_read_only_modes(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    rows = image_readers.isoinfo_listing(image, '-R')
    leaves = {}
    for kind, size, date, name in rows:
        if name not in ('.', '..'):
            leaves.setdefault(name, set()).add((kind, size))
    for path, data in expected_files.items():
        assert ('-', len(data)) in leaves[path.rpartition('/')[2]], path
    for path in expected_dirs:
        assert any(kind == 'd' for kind, size in leaves[path.rpartition('/')[2]]), path
    out = image_readers.run(['isoinfo', '-R', '-l', '-i', image]).stdout
    modes = set(re.findall(r'^([-d][-rwx]{9})\s', out, re.M))
    assert modes == {'-r--r--r--', 'dr-xr-xr-x'}, modes


_LEVEL1_FILE = re.compile(r'^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$')
_LEVEL1_DIR = re.compile(r'^[A-Z0-9_]{1,8}$')


@ids
def test_plain_iso9660_names_are_level_1_and_unique(built, image_readers, case_id):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    paths = image_readers.isoinfo_find(image, '')
    assert len(paths) == len(expected_files) + len(expected_dirs)
    rows = image_readers.isoinfo_listing(image, '')
    for kind, size, date, name in rows:
        if name in ('.', '..'):
            continue
        assert (_LEVEL1_DIR if kind == 'd' else _LEVEL1_FILE).match(name), name
    for path in paths:
        assert path.count('/') <= ISO_MAX_PATH_COMPONENTS, path


@ids
def test_every_date_in_the_image_is_the_build_epoch(built, image_readers, case_id):
    image = built(case_id)[0]
    found = image_readers.iso_dates(image)
    assert {epoch for where, epoch in found if not where.endswith('-expiration')} == {DEFAULT_EPOCH}


@ids
def test_xorriso_extracts_rock_ridge_tree_with_equal_names_and_bytes(built, image_readers, case_id, tmp_path):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    dest = image_readers.xorriso_extract(image, tmp_path / 'rr')
    files, dirs = image_readers.read_tree(dest)
    image_readers.chmod_tree_writable(dest)
    assert sorted(files) == sorted(expected_files)
    assert files == expected_files
    assert dirs == expected_dirs


@ids
def test_xorriso_extracts_joliet_tree_with_equal_names_and_bytes(built, image_readers, case_id, tmp_path):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    dest = image_readers.xorriso_extract(image, tmp_path / 'joliet', joliet=True)
    files, dirs = image_readers.read_tree(dest)
    image_readers.chmod_tree_writable(dest)
    assert sorted(files) == sorted(expected_files)
    assert files == expected_files
    assert dirs == expected_dirs


@ids
@pytest.mark.parametrize('joliet', [False, True], ids=['rock-ridge', 'joliet'])
def test_xorriso_find_and_ls_list_the_payload_names(built, image_readers, case_id, joliet):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    assert image_readers.xorriso_find(image, joliet=joliet) == image_readers.all_paths(payload)
    top = {p for p in list(expected_files) + list(expected_dirs) if '/' not in p}
    assert image_readers.xorriso_ls(image, '/', joliet=joliet) == top


@ids
def test_bsdtar_extracts_equal_names_and_bytes(built, image_readers, case_id, tmp_path):
    image, payload, expected_files, expected_dirs, names = built(case_id)
    dest = image_readers.bsdtar_extract(image, tmp_path / 'bsdtar')
    files, dirs = image_readers.read_tree(dest)
    image_readers.chmod_tree_writable(dest)
    assert sorted(files) == sorted(expected_files)
    assert files == expected_files
    assert dirs == expected_dirs


def test_src_file_is_streamed_in_full(built):
    image, payload, expected_files, expected_dirs, names = built('src-streamed')
    big = [f for f in payload.files if f.name == 'images/big.bin'][0]
    assert big.data is None and big.src is not None, 'src content must not be read into the model'
    assert len(expected_files['images/big.bin']) == SRC_SIZE
    assert image.stat().st_size > SRC_SIZE


def test_name_of_64_non_ascii_units_is_written(tmp_path, image_readers):
    """pycdlib's own check counts UTF-8 bytes; 64 accented characters are 128 bytes and must pass."""
    name = '\u00e9' * JOLIET_MAX_NAME_UNITS
    image = tmp_path / 'x.iso'
    image_readers.build([{'name': name, 'content': 'x'}], image)
    assert image_readers.xorriso_find(image, joliet=True) == {'/' + name}


def test_writer_refuses_size_for_cdrom():
    with pytest.raises(PayloadValidationError) as info:
        writer_for('cdrom', size='2880K')
    assert info.value.option == 'size'


def test_write_into_missing_directory_is_an_image_write_error(tmp_path):
    payload = parse_payload([{'name': 'a', 'content': 'x'}])
    with pytest.raises(ImageWriteError) as info:
        writer_for('cdrom').write(payload, str(tmp_path / 'no-such-dir' / 'x.iso'))
    assert 'no-such-dir' in str(info.value)
