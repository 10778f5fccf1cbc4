# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The payload model: a table of bad inputs, each refused with a message that names the file or
option at fault and never shows content; then what the model promises for good inputs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import unicodedata

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._image.fat import Layout
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    PayloadCapacityError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import (
    DIGEST_FORMAT,
    ISO_MAX_PATH_COMPONENTS,
    JOLIET_MAX_NAME_UNITS,
    LINUX_NAME_MAX_BYTES,
    VFAT_MAX_NAME_UNITS,
    decode_b64_strict,
    parse_payload,
    payload_digest,
)

SECRET = 'hunter2-S3CR3T-4f9c'
SECRET_TEXT = 'password: %s\n' % SECRET
SECRET_B64 = base64.b64encode(SECRET_TEXT.encode()).decode()
# Everything of the secret that could leak: its text, its base64, and base64 fragments long
# enough to recognise.
LEAKS = (SECRET, SECRET_B64, SECRET_B64[:12], SECRET_B64[-12:])


def text(name, **extra):
    spec = {'name': name, 'content': SECRET_TEXT}
    spec.update(extra)
    return spec


def blob(name, encoded=SECRET_B64):
    return {'name': name, 'content_b64': encoded}


def nocloud_pair():
    return [text('user-data'), text('meta-data')]


def _src_file(tmp):
    path = tmp / 'secret.txt'
    path.write_text(SECRET_TEXT)
    return str(path)


def _fifo(tmp):
    path = tmp / 'fifo'
    os.mkfifo(path)
    return str(path)


def _dangling(tmp):
    path = tmp / 'dangling'
    os.symlink(str(tmp / 'nowhere'), path)
    return str(path)


def _big_file(tmp, size):
    path = tmp / 'big.bin'
    with open(path, 'wb') as stream:
        stream.truncate(size)
    return str(path)


FLOPPY_CLUSTERS = Layout(1474560).clusters


def case(case_id, build, option, file=None, mentions=(), named=None, size=None):
    """``build(tmp)`` gives parse_payload's keyword arguments; ``size`` also asks the floppy writer
    to plan; ``named`` is what identifies the file or option in the message when it is neither
    the file nor the option text (a missing file's name)."""
    return pytest.param(build, option, file, tuple(mentions), named, size, id=case_id)


BAD = [
    # ---- names
    case('name-empty', lambda t: dict(files=[text('')]), 'files[0].name', '', ['name is empty']),
    case('name-absolute', lambda t: dict(files=[text('/etc/passwd')]), 'files[0].name', '/etc/passwd',
         ['relative']),
    case('name-dotdot', lambda t: dict(files=[text('a/../b')]), 'files[0].name', 'a/../b', ["'..'"]),
    case('name-dot', lambda t: dict(files=[text('./a')]), 'files[0].name', './a', ["'.'"]),
    case('name-double-slash', lambda t: dict(files=[text('a//b')]), 'files[0].name', 'a//b', ['empty path segment']),
    case('name-trailing-slash', lambda t: dict(files=[text('dir/')]), 'files[0].name', 'dir/',
         ['empty path segment']),
    case('name-nul', lambda t: dict(files=[text('ok'), text('a\x00b')]), 'files[1].name', 'a\x00b',
         ['control character (U+0000)']),
    case('name-escape-char', lambda t: dict(files=[text('a\x1bb')]), 'files[0].name', 'a\x1bb', ['U+001B']),
    case('name-del-char', lambda t: dict(files=[text('a\x7f')]), 'files[0].name', 'a\x7f', ['U+007F']),
    case('name-c1-char', lambda t: dict(files=[text('a\x85b')], device='floppy'), 'files[0].name', 'a\x85b',
         ['U+0085']),
    # Names are recorded in XML (libvirt's domain metadata, oVirt's requests): XML 1.0 has no
    # U+FFFE or U+FFFF, and the other noncharacters are not for interchange.
    case('name-noncharacter-fffe', lambda t: dict(files=[text('a\ufffeb')]), 'files[0].name', 'a\ufffeb',
         ['U+FFFE at character 1', 'noncharacter']),
    case('name-noncharacter-ffff', lambda t: dict(files=[text('d/\uffff')], device='floppy'), 'files[0].name',
         'd/\uffff', ['U+FFFF at character 2']),
    case('name-noncharacter-fdd0', lambda t: dict(files=[text('\ufdd0x')]), 'files[0].name', '\ufdd0x', ['U+FDD0']),
    case('name-noncharacter-plane-16', lambda t: dict(files=[text('x\U0010ffff')]), 'files[0].name', 'x\U0010ffff',
         ['U+10FFFF']),
    case('name-backslash', lambda t: dict(files=[text('dir\\file')]), 'files[0].name', 'dir\\file', ["'\\'"]),
    case('name-lone-surrogate', lambda t: dict(files=[text('a\udc80b')]), 'files[0].name', None,
         ['unpaired surrogate at character 1']),
    case('name-not-a-string', lambda t: dict(files=[{'name': 42, 'content': SECRET_TEXT}]), 'files[0].name', None,
         ['must be a string']),
    case('name-missing', lambda t: dict(files=[{'content': SECRET_TEXT}]), 'files[0].name', None, ['required']),
    case('joliet-colon', lambda t: dict(files=[text('c:/x')]), 'files[0].name', 'c:/x', ["':'", 'Joliet']),
    case('joliet-star-question-semicolon', lambda t: dict(files=[text('a*b?c;1')]), 'files[0].name', 'a*b?c;1',
         ["'*'", "';'", "'?'"]),
    case('vfat-forbidden', lambda t: dict(files=[text('a<b>|"c"')], device='floppy'), 'files[0].name',
         'a<b>|"c"', ["'<'", "'|'", 'FAT']),
    case('vfat-trailing-dot', lambda t: dict(files=[text('dir./x')], device='floppy'), 'files[0].name', 'dir./x',
         ['end with a dot or a space']),
    case('vfat-trailing-space', lambda t: dict(files=[text('name ')], device='floppy'), 'files[0].name', 'name ',
         ['end with a dot or a space']),
    case('vfat-leading-space', lambda t: dict(files=[text(' name')], device='floppy'), 'files[0].name', ' name',
         ['start with a space']),
    case('joliet-too-long', lambda t: dict(files=[text('x' * (JOLIET_MAX_NAME_UNITS + 1))]), 'files[0].name',
         'x' * (JOLIET_MAX_NAME_UNITS + 1), ['65 UTF-16 units', 'Joliet']),
    case('joliet-too-long-by-a-non-bmp-half', lambda t: dict(files=[text('\u00e9' * 63 + '\U0001F600')]),
         'files[0].name', '\u00e9' * 63 + '\U0001F600', ['65 UTF-16 units']),
    case('vfat-too-long', lambda t: dict(files=[text('d/' + 'x' * (VFAT_MAX_NAME_UNITS + 1))], device='floppy'),
         'files[0].name', 'd/' + 'x' * (VFAT_MAX_NAME_UNITS + 1), ['128 UTF-16 units']),
    case('vfat-too-many-utf8-bytes', lambda t: dict(files=[text('\u8a2d' * (LINUX_NAME_MAX_BYTES // 3 + 1))],
                                                    device='floppy'),
         'files[0].name', '\u8a2d' * (LINUX_NAME_MAX_BYTES // 3 + 1), ['255 UTF-8 bytes']),
    case('iso-too-deep',
         lambda t: dict(files=[text('/'.join('d%d' % i for i in range(ISO_MAX_PATH_COMPONENTS)) + '/f')]),
         'files[0].name', '/'.join('d%d' % i for i in range(ISO_MAX_PATH_COMPONENTS)) + '/f',
         ['at most 7 directory levels', 'has 8']),
    case('duplicate', lambda t: dict(files=[text('a/b'), text('c'), text('a/b')]), 'files[2].name', 'a/b',
         ['given twice', 'files[0]']),
    case('duplicate-after-nfc', lambda t: dict(files=[text('caf\u00e9'), text('cafe\u0301')]), 'files[1].name',
         'caf\u00e9', ['given twice']),
    case('duplicate-after-case-folding-on-fat', lambda t: dict(files=[text('README.txt'), text('readme.TXT')],
                                                               device='floppy'),
         'files[1].name', 'readme.TXT', ['case-insensitive', 'files[0]']),
    case('directory-spelled-two-ways-on-fat', lambda t: dict(files=[text('Dir/a'), text('dir/b')], device='floppy'),
         'files[1].name', 'dir/b', ['"dir"', '"Dir"', 'case-insensitive']),
    case('file-and-directory', lambda t: dict(files=[text('a'), text('a/b')]), 'files[1].name', 'a/b',
         ['"a" is a file (files[0])']),
    case('file-and-directory-case-folded-on-fat', lambda t: dict(files=[text('Conf'), text('conf/x')],
                                                                 device='floppy'),
         'files[1].name', 'conf/x', ['is a file (files[0])']),
    # ---- file specs and encodings
    case('not-a-mapping', lambda t: dict(files=[SECRET_TEXT]), 'files[0]', None, ['mapping']),
    case('unknown-key', lambda t: dict(files=[text('a', data=SECRET_TEXT)]), 'files[0]', None, ['unknown', 'data']),
    case('two-contents', lambda t: dict(files=[text('a', content_b64=SECRET_B64)]), 'files[0]', 'a',
         ['exactly one', 'content, content_b64']),
    case('no-content', lambda t: dict(files=[{'name': 'a'}]), 'files[0]', 'a', ['got none']),
    case('content-not-a-string', lambda t: dict(files=[{'name': 'a', 'content': SECRET_TEXT.encode()}]),
         'files[0].content', 'a', ['must be a string']),
    case('content-lone-surrogate', lambda t: dict(files=[{'name': 'a', 'content': SECRET + '\udc80'}]),
         'files[0].content', 'a', ['unpaired surrogate', 'content_b64']),
    case('b64-bad-character', lambda t: dict(files=[blob('a', SECRET_B64[:8] + '$' + SECRET_B64[9:])]),
         'files[0].content_b64', 'a', ['offset 8', 'base64 alphabet']),
    case('b64-non-ascii', lambda t: dict(files=[blob('a', SECRET_B64[:4] + '\u00e9' + SECRET_B64[5:])]),
         'files[0].content_b64', 'a', ['offset 4']),
    case('b64-data-after-padding', lambda t: dict(files=[blob('a', 'QQ==' + SECRET_B64)]), 'files[0].content_b64',
         'a', ["after '=' padding at offset 4"]),
    case('b64-too-much-padding', lambda t: dict(files=[blob('a', 'Q===')]), 'files[0].content_b64', 'a',
         ['more than two padding']),
    case('b64-truncated', lambda t: dict(files=[blob('a', SECRET_B64[:-3])]), 'files[0].content_b64', 'a',
         ['not a multiple of 4', 'truncated']),
    # ---- labels
    case('iso-label-too-long', lambda t: dict(files=[text('a')], label='L' * 33), 'label', None, ['1 to 32']),
    case('iso-label-bad-characters', lambda t: dict(files=[text('a')], label='ci data!'), 'label', None,
         ['"ci data!"', 'CD-ROM volume id']),
    case('fat-label-too-long', lambda t: dict(files=[text('a')], label='twelve-chars', device='floppy'), 'label',
         None, ['"twelve-chars"', '1 to 11']),
    case('fat-label-dot-valid-on-cdrom-only', lambda t: dict(files=[text('a')], label='config.2', device='floppy'),
         'label', None, ['FAT volume label']),
    case('label-not-a-string', lambda t: dict(files=[text('a')], label=7), 'label', None, ['must be a string']),
    case('label-not-a-string-with-preset', lambda t: dict(files=nocloud_pair(), label=7, preset='nocloud'),
         'label', None, ['must be a string']),
    # ---- sizes
    case('max-content-size-content', lambda t: dict(files=[text('a')], max_content_size=10), 'files[0].content',
         'a', ['max_content_size (10 bytes)', '%d bytes' % len(SECRET_TEXT)]),
    case('max-content-size-b64', lambda t: dict(files=[text('ok', content=''), blob('b')], max_content_size=5),
         'files[1].content_b64', 'b', ['max_content_size (5 bytes)']),
    case('max-content-size-src', lambda t: dict(files=[{'name': 's', 'src': _src_file(t)}], max_content_size=1),
         'files[0].src', 's', ['max_content_size (1 bytes)']),
    case('max-content-size-negative', lambda t: dict(files=[text('a')], max_content_size=-1), 'max_content_size',
         None, ['>= 0']),
    case('files-empty', lambda t: dict(files=[]), 'files', None, ['non-empty list']),
    case('device-unknown', lambda t: dict(files=[text('a')], device='usb'), 'device', None, ['"usb"']),
    case('fat-capacity', lambda t: dict(files=[{'name': 'big.bin', 'src': _big_file(t, FLOPPY_CLUSTERS * 512 + 1)}],
                                        device='floppy'),
         'size', None, ['1474560-byte FAT12 image', 'set size to a larger value'], size=None),
    case('fat-root-entries', lambda t: dict(files=[text('root-file-%04d' % i) for i in range(80)], device='floppy'),
         'files', None, ['root directory entries', 'sub-directory'], size=None),
    case('fat-size-not-offered', lambda t: dict(files=[text('a')], device='floppy'), 'size', None,
         ["'3.5M'", '1440K'], size='3.5M'),
    case('fat-size-infinite', lambda t: dict(files=[text('a')], device='floppy'), 'size', None,
         ["'infM'", 'not a size'], size='infM'),
    case('fat-size-overflows-to-infinity', lambda t: dict(files=[text('a')], device='floppy'), 'size', None,
         ["'1e400M'", 'not a size'], size='1e400M'),
    case('fat-size-not-a-number', lambda t: dict(files=[text('a')], device='floppy'), 'size', None,
         ["'nanK'", 'not a size'], size='nanK'),
    case('size-on-cdrom', lambda t: dict(files=[text('a')]), 'size', None, ['floppy images only'], size='2880K'),
    # ---- presets
    case('preset-unknown', lambda t: dict(files=[text('a')], preset='ignition'), 'preset', None, ['"ignition"']),
    case('nocloud-missing-user-data', lambda t: dict(files=[text('meta-data')], preset='nocloud'), 'files', None,
         ['preset nocloud', 'missing: user-data'], named='user-data'),
    case('nocloud-user-data-not-at-top', lambda t: dict(files=[text('seed/user-data'), text('meta-data')],
                                                        preset='nocloud'),
         'files', None, ['missing: user-data'], named='user-data'),
    case('nocloud-label-conflict', lambda t: dict(files=nocloud_pair(), preset='nocloud', label='config-2'), 'label',
         None, ['preset nocloud needs label cidata', '"config-2"']),
    case('configdrive-missing-meta-data', lambda t: dict(files=[text('openstack/latest/user_data')],
                                                         preset='configdrive'),
         'files', None, ['preset configdrive'], named='openstack/latest/meta_data.json'),
    case('configdrive-wrong-place', lambda t: dict(files=[blob('openstack/latest/meta_data.json',
                                                               base64.b64encode(b'{}').decode()),
                                                          text('user_data')], preset='configdrive'),
         'files[1].name', 'user_data', ['under openstack/ or ec2/']),
    case('configdrive-invalid-json', lambda t: dict(files=[{'name': 'openstack/latest/meta_data.json',
                                                            'content': '{"admin_pass": "%s",}' % SECRET}],
                                                    preset='configdrive'),
         'files[0]', 'openstack/latest/meta_data.json', ['not valid JSON', 'line 1']),
    case('configdrive-json-not-utf8', lambda t: dict(files=[blob('openstack/latest/meta_data.json',
                                                                 base64.b64encode(b'{"k": "\xff"}').decode())],
                                                     preset='configdrive'),
         'files[0].content_b64', 'openstack/latest/meta_data.json', ['not UTF-8 text', 'invalid UTF-8 at byte offset 7']),
    case('configdrive-json-integer-too-long',
         lambda t: dict(files=[{'name': 'openstack/latest/meta_data.json',
                                'content': '{"admin_pass": "%s", "n": -%s}' % (SECRET, '7' * 4301)}],
                        preset='configdrive'),
         'files[0]', 'openstack/latest/meta_data.json', ['integer of 4301 digits', '4300']),
    case('configdrive-label-conflict', lambda t: dict(files=[text('openstack/latest/meta_data.json',
                                                                  content='{}')],
                                                      preset='configdrive', label='cidata'),
         'label', None, ['needs label config-2']),
    case('sysprep-missing-answer-file', lambda t: dict(files=[text('setup/Unattend.xml')], preset='sysprep'),
         'files', None, ['preset sysprep'], named='Unattend.xml'),
    case('sysprep-malformed-xml', lambda t: dict(files=[{'name': 'Unattend.xml',
                                                         'content': '<unattend><pw>%s</unattend>' % SECRET}],
                                                 preset='sysprep', device='floppy'),
         'files[0]', 'Unattend.xml', ['not well-formed XML', 'line 1']),
    case('sysprep-unknown-encoding',
         lambda t: dict(files=[{'name': 'Unattend.xml', 'content': '<?xml version="1.0" encoding="x-bogus"?>'
                                                                   '<unattend><pw>%s</pw></unattend>' % SECRET}],
                        preset='sysprep'),
         'files[0]', 'Unattend.xml', ['encoding', 'UTF-8 or UTF-16']),
    case('sysprep-utf32-declared',
         lambda t: dict(files=[{'name': 'autounattend.xml', 'content': '<?xml version="1.0" encoding="utf-32"?>'
                                                                       '<unattend><pw>%s</pw></unattend>' % SECRET}],
                        preset='sysprep', device='floppy'),
         'files[0]', 'autounattend.xml', ['encoding', 'UTF-8 or UTF-16']),
    # ---- src
    case('src-missing', lambda t: dict(files=[{'name': 's', 'src': str(t / 'absent.txt')}]), 'files[0].src', 's',
         ['does not exist', 'absent.txt']),
    case('src-relative', lambda t: dict(files=[{'name': 's', 'src': 'relative/secret.txt'}]), 'files[0].src', 's',
         ['not absolute']),
    case('src-empty', lambda t: dict(files=[{'name': 's', 'src': ''}]), 'files[0].src', 's', ['non-empty path']),
    case('src-directory', lambda t: dict(files=[{'name': 's', 'src': str(t)}]), 'files[0].src', 's',
         ['not a regular file']),
    case('src-fifo', lambda t: dict(files=[{'name': 's', 'src': _fifo(t)}]), 'files[0].src', 's',
         ['not a regular file']),
    case('src-dangling-symlink', lambda t: dict(files=[{'name': 's', 'src': _dangling(t)}]), 'files[0].src', 's',
         ['does not exist']),
    case('src-read-fails', lambda t: dict(files=[{'name': 's', 'src': '/proc/self/mem'}]), 'files[0].src', 's',
         ['cannot be read']),
]


def _quoted(name):
    return json.dumps(name, ensure_ascii=False)


def _fail(build, size, tmp_path):
    kwargs = build(tmp_path)
    payload = parse_payload(**kwargs)
    if size is not None or kwargs.get('device') == 'floppy':
        writer_for(payload.device, size=size).plan(payload)


def test_the_bad_input_table_has_at_least_30_cases():
    assert len(BAD) >= 30


@pytest.mark.parametrize('build, option, file, mentions, named, size', BAD)
def test_bad_input_is_refused_naming_the_file_or_option_without_content(
        tmp_path, build, option, file, mentions, named, size):
    with pytest.raises(PayloadValidationError) as info:
        _fail(build, size, tmp_path)
    error = info.value
    message = str(error)
    assert (error.option, error.file) == (option, file), message
    if named is not None:
        assert named in message
    elif file is not None:
        assert _quoted(file) in message
        assert option.split('.')[0] in message
    else:
        assert option.split('.')[0] in message
    for fragment in mentions:
        assert fragment in message
    for leak in LEAKS:
        assert leak not in message
        assert leak not in repr(error.args)


def test_capacity_errors_are_their_own_type(tmp_path):
    payload = parse_payload([{'name': 'big', 'src': _big_file(tmp_path, 1474560)}], device='floppy')
    with pytest.raises(PayloadCapacityError):
        writer_for('floppy').plan(payload)


@pytest.mark.parametrize('kind', ['open-fails', 'read-fails'])
def test_src_that_cannot_be_read_is_refused_for_root_too(src_nobody_can_read, kind):
    """A src the module's user cannot read, root included: open() is refused (EACCES), or read() fails (EIO)."""
    path, reason = {'open-fails': (src_nobody_can_read, 'Permission denied'),
                    # Reading a process's own memory at address 0, which is never mapped.
                    'read-fails': ('/proc/self/mem', 'Input/output error')}[kind]
    with pytest.raises(OSError):  # the premise, for this user: the file cannot be read
        with open(path, 'rb') as stream:
            stream.read(1)
    with pytest.raises(PayloadValidationError) as info:
        parse_payload([{'name': 'readable', 'content': SECRET_TEXT}, {'name': 'locked', 'src': path}])
    assert (info.value.option, info.value.file) == ('files[1].src', 'locked')
    assert str(info.value) == 'files[1] "locked": src "%s" cannot be read: %s' % (path, reason)


# ------------------------------------------------------------------ good inputs

def test_names_are_normalised_to_nfc():
    payload = parse_payload([{'name': 'cafe\u0301/e\u0301te\u0301.txt', 'content': 'x'}])
    assert payload.files[0].name == 'caf\u00e9/\u00e9t\u00e9.txt'
    assert unicodedata.is_normalized('NFC', payload.files[0].name)
    assert payload.directories() == ['caf\u00e9']
    assert payload.digest == parse_payload([{'name': 'caf\u00e9/\u00e9t\u00e9.txt', 'content': 'x'}]).digest


@pytest.mark.parametrize('device, given, stored', [
    ('floppy', 'cidata', 'CIDATA'),
    ('floppy', 'OemDrv', 'OEMDRV'),
    ('floppy', 'config-2', 'CONFIG-2'),
    ('floppy', 'abcdefghijk', 'ABCDEFGHIJK'),
    ('cdrom', 'cidata', 'cidata'),
    ('cdrom', 'config-2', 'config-2'),
    ('cdrom', 'A.label-of_32_characters.ok-1234', 'A.label-of_32_characters.ok-1234'),
    ('cdrom', None, None),
    ('floppy', '', None),
])
def test_labels_are_kept_on_cdrom_and_upper_cased_on_fat(device, given, stored):
    assert parse_payload([{'name': 'a', 'content': ''}], device=device, label=given).label == stored


@pytest.mark.parametrize('device, preset, label, files, stored', [
    ('cdrom', 'nocloud', None, ['user-data', 'meta-data'], 'cidata'),
    ('floppy', 'nocloud', None, ['user-data', 'meta-data'], 'CIDATA'),
    ('cdrom', 'nocloud', 'CIDATA', ['user-data', 'meta-data', 'network-config', 'vendor-data'], 'cidata'),
    ('cdrom', 'configdrive', None, ['openstack/latest/meta_data.json', 'ec2/latest/meta-data.json'], 'config-2'),
    ('floppy', 'sysprep', 'oemdrv', ['autounattend.xml'], 'OEMDRV'),
    ('cdrom', 'sysprep', None, ['sysprep.inf'], None),
])
def test_presets_set_their_label_and_accept_their_files(device, preset, label, files, stored):
    specs = [{'name': n, 'content': '{}' if n.endswith('.json') else '<a/>' if n.endswith('.xml') else 'x'}
             for n in files]
    assert parse_payload(specs, device=device, label=label, preset=preset).label == stored


def test_files_are_sorted_by_name_and_directories_parents_first():
    names = ['zeta', 'b/c/d', 'a', 'b/a', '\u00e9', 'B', 'b/c/a']
    payload = parse_payload([{'name': n, 'content': n} for n in names])
    assert [f.name for f in payload.files] == sorted(names)
    assert payload.directories() == ['b', 'b/c']


def test_digest_is_the_documented_canonical_sha256():
    payload = parse_payload([{'name': 'b', 'content': 'B'}, {'name': 'a', 'content_b64': 'QQ=='}], label='x')
    document = {'format': DIGEST_FORMAT, 'device': 'cdrom', 'label': 'x',
                'files': [['a', hashlib.sha256(b'A').hexdigest()], ['b', hashlib.sha256(b'B').hexdigest()]]}
    canonical = json.dumps(document, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    assert payload.digest == hashlib.sha256(canonical.encode()).hexdigest()
    assert payload.digest == payload_digest('cdrom', 'x', [('b', hashlib.sha256(b'B').hexdigest()),
                                                           ('a', hashlib.sha256(b'A').hexdigest())])


def test_digest_is_stable_across_order_and_content_encodings(tmp_path):
    source = tmp_path / 'a.txt'
    source.write_bytes(b'same bytes')
    variants = [
        [{'name': 'a', 'content': 'same bytes'}, {'name': 'b', 'content': ''}],
        [{'name': 'b', 'content_b64': ''}, {'name': 'a', 'content_b64': base64.b64encode(b'same bytes').decode()}],
        [{'name': 'a', 'src': str(source)}, {'name': 'b', 'content': ''}],
        [{'name': 'a', 'content_b64': 'c2Ft\nZSBi\r\neXRl cw=='}, {'name': 'b', 'content': ''}],
    ]
    digests = {parse_payload(files, label='x').digest for files in variants}
    assert len(digests) == 1


BASE = dict(files=[{'name': 'a', 'content': 'one'}, {'name': 'd/b', 'content': 'two'}], device='cdrom', label='x')


@pytest.mark.parametrize('change', [
    dict(device='floppy'),
    dict(label='y'),
    dict(label=None),
    dict(files=[{'name': 'A', 'content': 'one'}, {'name': 'd/b', 'content': 'two'}]),
    dict(files=[{'name': 'a', 'content': 'one'}, {'name': 'e/b', 'content': 'two'}]),
    dict(files=[{'name': 'a', 'content': 'onE'}, {'name': 'd/b', 'content': 'two'}]),
    dict(files=[{'name': 'a', 'content': 'one'}, {'name': 'd/b', 'content': 'two '}]),
    dict(files=[{'name': 'a', 'content': 'one'}]),
], ids=['device', 'label', 'no-label', 'name-case', 'directory', 'content-1', 'content-2', 'file-removed'])
def test_digest_changes_with_device_label_names_and_content(change):
    changed = dict(BASE)
    changed.update(change)
    assert parse_payload(**changed).digest != parse_payload(**BASE).digest


def test_summary_has_names_sizes_and_hashes_but_no_content():
    payload = parse_payload([{'name': 'user-data', 'content': SECRET_TEXT}], label='cidata')
    summary = payload.summary()
    assert summary['files'] == [{'name': 'user-data', 'size': len(SECRET_TEXT),
                                 'sha256': hashlib.sha256(SECRET_TEXT.encode()).hexdigest()}]
    assert SECRET not in json.dumps(summary)


def test_src_is_hashed_by_streaming_and_not_kept_in_memory(tmp_path):
    source = tmp_path / 'big.bin'
    data = os.urandom(3 * 1024 * 1024 + 5)
    source.write_bytes(data)
    f = parse_payload([{'name': 'big', 'src': str(source)}]).files[0]
    assert (f.size, f.sha256, f.data, f.src) == (len(data), hashlib.sha256(data).hexdigest(), None, str(source))


@pytest.mark.parametrize('encoded, decoded', [
    ('', b''),
    ('QQ==', b'A'),
    ('QUI=', b'AB'),
    ('QUJD', b'ABC'),
    ('QU\nJD\r\n', b'ABC'),
    ('//79', b'\xff\xfe\xfd'),
])
def test_strict_base64_accepts_valid_input_with_whitespace(encoded, decoded):
    assert decode_b64_strict(encoded) == decoded


@pytest.mark.parametrize('device, names', [
    ('cdrom', ['x' * JOLIET_MAX_NAME_UNITS, '\U0001F600' * (JOLIET_MAX_NAME_UNITS // 2),
               '/'.join('d%d' % i for i in range(ISO_MAX_PATH_COMPONENTS - 1)) + '/f', 'a_b',
               'README', 'readme', 'trailing.', ' leading space']),
    ('floppy', ['x' * VFAT_MAX_NAME_UNITS, '\u00e9' * VFAT_MAX_NAME_UNITS, '\u8a2d' * (LINUX_NAME_MAX_BYTES // 3),
                '/'.join('d%d' % i for i in range(12)) + '/f', 'a;b,c=d+e[f]', 'Dir/a', 'Dir/b']),
], ids=['cdrom', 'floppy'])
def test_names_at_the_limits_are_accepted(device, names):
    payload = parse_payload([{'name': n, 'content': ''} for n in names], device=device)
    assert {f.name for f in payload.files} == set(names)


def test_utf16_answer_file_with_its_own_declaration_is_accepted():
    xml = '<?xml version="1.0" encoding="utf-16"?><unattend xmlns="urn:schemas-microsoft-com:unattend"/>'
    encoded = base64.b64encode(xml.encode('utf-16')).decode()
    payload = parse_payload([{'name': 'Unattend.xml', 'content_b64': encoded}], preset='sysprep')
    assert payload.files[0].data == xml.encode('utf-16')


def test_configdrive_json_integers_of_up_to_4300_digits_are_accepted():
    files = [{'name': 'openstack/latest/meta_data.json', 'content': '{"n": -%s, "m": 1e400}' % ('7' * 4300)}]
    assert parse_payload(files, preset='configdrive').label == 'config-2'


@pytest.mark.parametrize('declaration', ['<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0"?>', ''])
def test_utf8_answer_files_with_or_without_a_declaration_are_accepted(declaration):
    xml = declaration + '<unattend xmlns="urn:schemas-microsoft-com:unattend"/>'
    parse_payload([{'name': 'Unattend.xml', 'content': xml}], preset='sysprep')


@pytest.mark.parametrize('name', ['\ufffd', 'x\ufdcf\ufdf0', '\U0010fffd', '\ufefftop'],
                         ids=['replacement-character', 'next-to-the-fdd0-range', 'last-private-use', 'bom'])
def test_names_next_to_the_noncharacters_are_accepted(name):
    assert parse_payload([{'name': name, 'content': 'x'}]).files[0].name == name


def test_deeply_nested_configdrive_json_is_refused_cleanly():
    deep = [{'name': 'openstack/latest/meta_data.json', 'content': '[' * 100000}]
    with pytest.raises(PayloadValidationError) as failure:
        parse_payload(deep, preset='configdrive')
    assert 'nested too deeply' in str(failure.value) and failure.value.option == 'files[0]'


@pytest.mark.parametrize('spec', [
    {'name': 'n\udcff', 'content': 'x'},
    {'name': 'n', 'content': 'secret\udcff'},
    {'name': 'n', 'content_b64': 'QUJD\u00e9EVG'},
])
def test_errors_chain_no_codec_exception_that_quotes_content(spec):
    with pytest.raises(PayloadValidationError) as failure:
        parse_payload([spec])
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


def test_max_content_size_refuses_a_boolean():
    with pytest.raises(PayloadValidationError) as failure:
        parse_payload([{'name': 'a', 'content': 'x'}], max_content_size=True)
    assert failure.value.option == 'max_content_size'
