# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Unit tests of the payload filters, and one run through ansible-playbook that loads them by FQCN."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible.release import __version__ as ansible_version

import ansible_collections.vmpayload.core as collection
from ansible_collections.vmpayload.core.plugins.filter.payload import (
    FilterModule,
    payload_b64decode,
    payload_b64encode,
    payload_digest,
    payload_files,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

# Every failing case carries this in its content; no message or exception chain may show it.
SECRET = 'TOP-SECRET-5b1e9c-password'
SECRET_BYTES = SECRET.encode('ascii')
SECRET_B64 = base64.b64encode(SECRET_BYTES).decode('ascii')
# The base64 of the first 24 bytes has no padding, so a case can append more base64 to it.
SECRET_B64_BODY = base64.b64encode(SECRET_BYTES[:24]).decode('ascii')

COLLECTION_DIR = Path(next(iter(collection.__path__)))
FILTER_DIR = COLLECTION_DIR / 'plugins' / 'filter'
# The collection is imported from <root>/ansible_collections/vmpayload/core: Ansible loads it from <root>.
COLLECTIONS_ROOT = COLLECTION_DIR.parents[2]
FILTER_NAMES = ('payload_b64encode', 'payload_b64decode', 'payload_files', 'payload_digest')


class TaggedText(str):
    """Stands in for the str subclasses Ansible hands to filters (tagged and unsafe text)."""


class LoudText(str):
    """A str subclass whose str() is not its value: results must hold the value itself."""

    def __str__(self):
        return 'not the value'


def b64(data):
    return base64.b64encode(data).decode('ascii')


def exact_types(*values):
    """The classes of ``values`` themselves: the filters must give plain str, list and dict, never a subclass."""
    return {type(value) for value in values}


def failure(call, *args, **kwargs):
    """The AnsibleFilterError ``call`` raises, checked to show no content anywhere Ansible would print."""
    with pytest.raises(AnsibleFilterError) as caught:
        call(*args, **kwargs)
    shown = ''.join(traceback.format_exception(caught.value))
    assert SECRET not in shown
    assert SECRET_B64_BODY not in shown
    # Python's codec errors quote the character or byte at fault: none may be chained to ours.
    assert "codec can't" not in shown
    return str(caught.value)


# --- payload_b64encode / payload_b64decode ---------------------------------------------------------

ROUND_TRIPS = [
    pytest.param('', 'utf-8', id='empty'),
    pytest.param('hello', 'utf-8', id='ascii'),
    pytest.param('#cloud-config\npackages: [qemu-guest-agent]\n', 'utf-8', id='multi-line'),
    pytest.param('Grüße, くらとみ, Ωμέγα', 'utf-8', id='unicode-bmp'),
    pytest.param('emoji \U0001F600 gothic \U00010348', 'utf-8', id='unicode-non-bmp'),
    pytest.param('NUL \x00 DEL \x7f', 'utf-8', id='control-characters'),
    pytest.param('\ufeffwith BOM', 'utf-8', id='leading-bom-kept'),
    pytest.param('Grüße', 'latin-1', id='latin-1'),
    pytest.param('€uro', 'cp1252', id='cp1252'),
    pytest.param('Ansible - くらとみ\n', 'utf-16', id='utf-16'),
    pytest.param('\U0001F600', 'utf-16-le', id='utf-16-le-non-bmp'),
    pytest.param('\U0001F600 x', 'utf-32', id='utf-32'),
    pytest.param('', 'utf-16', id='utf-16-empty'),
    pytest.param('Grüße', 'UTF8', id='encoding-alias'),
]


@pytest.mark.parametrize('text, encoding', ROUND_TRIPS)
def test_b64_round_trip(text, encoding):
    encoded = payload_b64encode(text, encoding)
    assert encoded == b64(text.encode(encoding))
    decoded = payload_b64decode(encoded, encoding=encoding)
    assert decoded == text
    assert exact_types(encoded, decoded) == {str}


@pytest.mark.parametrize('text, expected', [
    ('lola', 'bG9sYQ=='),
    ('€', '4oKs'),
    ('\U0001F600', '8J+YgA=='),
    ('', ''),
])
def test_b64encode_known_values(text, expected):
    assert payload_b64encode(text) == expected
    assert payload_b64decode(expected) == text


@pytest.mark.parametrize('b64_text', ['bG9s\nYQ==', ' bG9sYQ==\n', 'bG9s\r\n\tYQ=='],
                         ids=['newline', 'edges', 'crlf-tab'])
def test_b64decode_ignores_whitespace(b64_text):
    assert payload_b64decode(b64_text) == 'lola'


@pytest.mark.parametrize('text', [TaggedText('Grüße'), LoudText('Grüße')], ids=['tagged', 'overridden-str'])
def test_b64_filters_take_str_subclasses(text):
    encoded = payload_b64encode(text, TaggedText('latin-1'))
    assert encoded == 'R3L832U='
    assert payload_b64decode(TaggedText(encoded), encoding=TaggedText('latin-1')) == 'Grüße'


@pytest.mark.parametrize('text, encoding, offset', [
    pytest.param(SECRET + '€', 'latin-1', len(SECRET), id='no-latin-1-form'),
    pytest.param(SECRET + 'é', 'ascii', len(SECRET), id='not-ascii'),
    pytest.param(SECRET + '\U0001F600', 'cp1252', len(SECRET), id='non-bmp-in-cp1252'),
    pytest.param(SECRET + '\udcff', 'utf-8', len(SECRET), id='surrogate-escaped-byte'),
    pytest.param(SECRET + '\ud800', 'utf-16', len(SECRET), id='lone-surrogate-utf-16'),
])
def test_b64encode_unencodable_text_names_encoding_and_offset(text, encoding, offset):
    message = failure(payload_b64encode, text, encoding=encoding)
    assert 'cannot be encoded as %s' % encoding in message
    assert 'character at offset %d ' % offset in message


def test_b64encode_surrogate_points_to_payload_files():
    message = failure(payload_b64encode, SECRET + '\udcff')
    assert 'unpaired surrogate' in message and 'payload_files' in message


B64_FAILURES = [
    pytest.param(SECRET_B64_BODY + 'QU!D', 'character at offset %d is not in the base64 alphabet'
                 % (len(SECRET_B64_BODY) + 2), id='bad-character'),
    pytest.param(SECRET_B64_BODY + 'QUé=', 'character at offset %d is not in the base64 alphabet'
                 % (len(SECRET_B64_BODY) + 2), id='non-ascii-character'),
    pytest.param(SECRET_B64_BODY + 'QU-_', 'character at offset %d is not in the base64 alphabet'
                 % (len(SECRET_B64_BODY) + 2), id='url-safe-alphabet'),
    pytest.param(SECRET_B64_BODY + 'Q===', 'more than two padding characters', id='bad-padding'),
    pytest.param(SECRET_B64_BODY + 'QQ==QUJD', "data continues after '=' padding at offset %d"
                 % (len(SECRET_B64_BODY) + 4), id='data-after-padding'),
    pytest.param(SECRET_B64_BODY + 'QUJ', 'length of %d base64 characters is not a multiple of 4'
                 % (len(SECRET_B64_BODY) + 3), id='truncated'),
    pytest.param(SECRET_B64_BODY + 'QQ=', 'length of %d base64 characters is not a multiple of 4'
                 % (len(SECRET_B64_BODY) + 3), id='truncated-padding'),
]


@pytest.mark.parametrize('b64_text, expected', B64_FAILURES)
def test_b64decode_rejects_invalid_base64_with_offset(b64_text, expected):
    message = failure(payload_b64decode, b64_text)
    assert message.startswith('the input is not valid base64: ')
    assert expected in message


TEXT_FAILURES = [
    pytest.param(SECRET_BYTES + b'\xff tail', 'utf-8', 'invalid UTF-8 at byte offset %d' % len(SECRET), id='bad-byte'),
    pytest.param(SECRET_BYTES + '€'.encode('utf-8')[:2], 'utf-8', 'invalid UTF-8 at byte offset %d' % len(SECRET),
                 id='truncated-sequence'),
    pytest.param(SECRET_BYTES + b'\xc3\xa9\xed\xa0\x80', 'utf-8', 'invalid UTF-8 at byte offset %d'
                 % (len(SECRET) + 2), id='encoded-surrogate'),
    pytest.param(SECRET_BYTES + b'\xc0\xaf', 'utf-8', 'invalid UTF-8 at byte offset %d' % len(SECRET),
                 id='overlong'),
    pytest.param(SECRET_BYTES + 'Grüße'.encode('latin-1'), 'utf-8', 'invalid UTF-8 at byte offset %d'
                 % (len(SECRET) + 2), id='latin-1-read-as-utf-8'),
    pytest.param(SECRET.encode('utf-16-le') + b'A', 'utf-16-le', 'invalid utf-16-le at byte offset %d'
                 % (2 * len(SECRET)), id='utf-16-odd-length'),
    pytest.param(SECRET_BYTES + b'\x80', 'ascii', 'invalid ascii at byte offset %d' % len(SECRET), id='ascii'),
]


@pytest.mark.parametrize('data, encoding, expected', TEXT_FAILURES)
def test_b64decode_rejects_invalid_text_with_byte_offset(data, encoding, expected):
    message = failure(payload_b64decode, b64(data), encoding=encoding)
    assert expected + ' of the decoded bytes' in message
    assert 'content_b64' in message


@pytest.mark.parametrize('call', [payload_b64encode, payload_b64decode])
@pytest.mark.parametrize('encoding', ['no-such-encoding', 'base64', 'rot13'])
def test_unknown_or_non_text_encoding_is_refused(call, encoding):
    message = failure(call, SECRET_B64, encoding=encoding)
    assert 'encoding "%s" is not a text encoding' % encoding in message


@pytest.mark.parametrize('call', [payload_b64encode, payload_b64decode])
def test_encoding_must_be_a_name(call):
    assert 'not a number' in failure(call, SECRET_B64, encoding=8)


@pytest.mark.parametrize('call', [payload_b64encode, payload_b64decode])
@pytest.mark.parametrize('value, kind', [(5, 'a number'), (None, 'null'), ([SECRET], 'a list'),
                                         (SECRET_BYTES, 'bytes'), ({'a': SECRET}, 'a mapping')])
def test_b64_filters_need_a_string(call, value, kind):
    assert failure(call, value).endswith('(a string), not %s' % kind)


# --- payload_files ---------------------------------------------------------------------------------

BINARY = b'\x00\xff\xfe binary \x80'

FILES_CASES = [
    pytest.param({'user-data': '#cloud-config\n'}, [{'name': 'user-data', 'content': '#cloud-config\n'}], id='text'),
    pytest.param({'grüße/くらとみ.txt': 'Ωμέγα \U0001F600'},
                 [{'name': 'grüße/くらとみ.txt', 'content': 'Ωμέγα \U0001F600'}], id='unicode-text'),
    pytest.param({'empty': ''}, [{'name': 'empty', 'content': ''}], id='empty-text'),
    pytest.param({'blob': BINARY.decode('utf-8', 'surrogateescape')},
                 [{'name': 'blob', 'content_b64': b64(BINARY)}], id='surrogate-escaped-text'),
    pytest.param({'blob': BINARY}, [{'name': 'blob', 'content_b64': b64(BINARY)}], id='bytes'),
    pytest.param({'blob': bytearray(BINARY)}, [{'name': 'blob', 'content_b64': b64(BINARY)}], id='bytearray'),
    pytest.param({'empty': b''}, [{'name': 'empty', 'content_b64': ''}], id='empty-bytes'),
    pytest.param({'a': {'content': 'x'}}, [{'name': 'a', 'content': 'x'}], id='content-entry'),
    pytest.param({'a': {'content_b64': 'AAEC'}}, [{'name': 'a', 'content_b64': 'AAEC'}], id='content_b64-entry'),
    pytest.param({'a': {'src': '/srv/a.bin'}}, [{'name': 'a', 'src': '/srv/a.bin'}], id='src-entry'),
    pytest.param({'a': {'src': '/srv/a.bin', 'content': None}}, [{'name': 'a', 'src': '/srv/a.bin'}],
                 id='null-keys-dropped'),
    pytest.param({'b': 'x', 'a/z': b'y', 'A': 'z', 'a': {'src': '/y'}},
                 [{'name': 'A', 'content': 'z'}, {'name': 'a', 'src': '/y'}, {'name': 'a/z', 'content_b64': 'eQ=='},
                  {'name': 'b', 'content': 'x'}], id='sorted-by-name'),
    pytest.param({}, [], id='empty-mapping'),
]


@pytest.mark.parametrize('mapping, expected', FILES_CASES)
def test_payload_files(mapping, expected):
    assert payload_files(mapping) == expected


def test_payload_files_returns_plain_values_from_str_subclasses():
    mapping = {TaggedText('a'): LoudText('text'), LoudText('b'): {TaggedText('content_b64'): TaggedText('AAEC')}}
    files = payload_files(mapping)
    assert files == [{'name': 'a', 'content': 'text'}, {'name': 'b', 'content_b64': 'AAEC'}]
    assert exact_types(files) == {list}
    assert exact_types(*files) == {dict}
    assert exact_types(*(text for entry in files for item in entry.items() for text in item)) == {str}


def test_payload_files_output_is_a_valid_payload():
    mapping = {'user-data': '#cloud-config\n', 'meta-data': b'instance-id: vm1\n'}
    payload = parse_payload(payload_files(mapping), preset='nocloud')
    assert [f.name for f in payload.files] == ['meta-data', 'user-data']


FILES_FAILURES = [
    pytest.param([{'name': 'a', 'content': SECRET}], 'must be a mapping of file name to content, not a list',
                 id='list'),
    pytest.param(SECRET, 'must be a mapping of file name to content, not a string', id='string'),
    pytest.param(None, 'not null', id='null'),
    pytest.param({2024: SECRET}, 'the key 2024 is a number (quote it)', id='number-key'),
    pytest.param({'user-data': 42}, 'the value of "user-data" is a number', id='number'),
    pytest.param({'user-data': None}, 'the value of "user-data" is null', id='null-value'),
    pytest.param({'user-data': True}, 'the value of "user-data" is a boolean', id='boolean'),
    pytest.param({'user-data': [SECRET]}, 'the value of "user-data" is a list', id='list-value'),
    pytest.param({'user-data': {}}, 'the value of "user-data" must give exactly one of content, content_b64, src '
                                    '(got none)', id='no-content'),
    pytest.param({'user-data': {'content': SECRET, 'content_b64': SECRET_B64}},
                 '"user-data" must give exactly one of content, content_b64, src (got content, content_b64)',
                 id='two-contents'),
    pytest.param({'user-data': {'name': 'user-data', 'content': SECRET}},
                 'the value of "user-data" has unknown key(s) name: the mapping key is the file name', id='name-key'),
    pytest.param({'user-data': {'contents': SECRET}}, 'has unknown key(s) contents', id='misspelt-key'),
    pytest.param({'user-data': {'content': 7}}, 'the value of "user-data": content must be a string, not a number',
                 id='content-number'),
    pytest.param({'user-data': {'content_b64': SECRET_BYTES}}, 'content_b64 must be a string, not bytes',
                 id='content_b64-bytes'),
    pytest.param({'user-data': SECRET + '\ud800'}, 'the value of "user-data" has an unpaired surrogate at character '
                                                   'offset %d' % len(SECRET), id='surrogate-for-no-byte'),
]


@pytest.mark.parametrize('mapping, expected', FILES_FAILURES)
def test_payload_files_failures_name_the_key(mapping, expected):
    assert expected in failure(payload_files, mapping)


# --- payload_digest --------------------------------------------------------------------------------

VENDOR_DATA = b'#cloud-config\nruncmd: [true]\n'


@pytest.fixture
def src_file(tmp_path):
    path = tmp_path / 'vendor-data'
    path.write_bytes(VENDOR_DATA)
    return str(path)


def canonical_digest(device, label, contents):
    """The documented digest recomputed with json and hashlib alone, as test_model.py checks the model's.

    SHA-256 of the compact JSON (keys sorted, non-ASCII kept, UTF-8) of the format, the device, the label
    ('' for none) and each [name, SHA-256 of its bytes], sorted by name; ``contents`` is {name: bytes}.
    """
    document = {'format': 'vmpayload-digest/1', 'device': device, 'label': label or '',
                'files': sorted([name, hashlib.sha256(data).hexdigest()] for name, data in contents.items())}
    canonical = json.dumps(document, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
    return hashlib.sha256(canonical.encode('utf-8')).hexdigest()


def digest_cases(src_file):
    """(files, keyword arguments, (device, label, {name: bytes}) the digest is of) of valid payloads covering each
    content kind, device, label and preset: the third part is written out here, not asked of the model."""
    return [
        ([{'name': 'a.txt', 'content': 'x'}], {}, ('cdrom', None, {'a.txt': b'x'})),
        ([{'name': 'meta-data', 'content': 'instance-id: vm1\n'}, {'name': 'user-data', 'content_b64': b64(BINARY)},
          {'name': 'vendor-data', 'src': src_file}], {'preset': 'nocloud'},
         ('cdrom', 'cidata', {'meta-data': b'instance-id: vm1\n', 'user-data': BINARY, 'vendor-data': VENDOR_DATA})),
        ([{'name': 'grüße/くらとみ \U0001F600.txt', 'content': 'Ωμέγα'}], {'label': 'config_2'},
         ('cdrom', 'config_2', {'grüße/くらとみ \U0001F600.txt': 'Ωμέγα'.encode('utf-8')})),
        ([{'name': 'Unattend.xml', 'content': '<unattend/>\n'}], {'device': 'floppy', 'label': 'oemdrv',
                                                                  'preset': 'sysprep'},
         ('floppy', 'OEMDRV', {'Unattend.xml': b'<unattend/>\n'})),
        ([{'name': 'openstack/latest/meta_data.json', 'content': '{}'}], {'preset': 'configdrive'},
         ('cdrom', 'config-2', {'openstack/latest/meta_data.json': b'{}'})),
    ]


def test_payload_digest_is_the_canonical_sha256_of_what_was_given(src_file):
    for files, options, (device, label, contents) in digest_cases(src_file):
        expected = canonical_digest(device, label, contents)
        assert payload_digest(files, **options) == expected
        assert payload_digest(list(reversed(files)), **options) == expected
        # The modules return the model's digest: the filter and they agree because both are this value.
        assert parse_payload(files, **options).digest == expected


def test_payload_digest_takes_a_mapping(src_file):
    mapping = {'meta-data': 'instance-id: vm1\n', 'user-data': BINARY, 'vendor-data': {'src': src_file}}
    assert payload_digest(mapping, preset='nocloud') == canonical_digest(
        'cdrom', 'cidata', {'meta-data': b'instance-id: vm1\n', 'user-data': BINARY, 'vendor-data': VENDOR_DATA})


def test_payload_digest_positional_arguments():
    files = [{'name': 'Unattend.xml', 'content': '<unattend/>\n'}]
    assert payload_digest(files, 'floppy', 'oemdrv', 'sysprep') == \
        canonical_digest('floppy', 'OEMDRV', {'Unattend.xml': b'<unattend/>\n'})


def test_payload_digest_takes_str_subclasses():
    files = [{TaggedText('name'): TaggedText('a'), TaggedText('content'): LoudText('x')}]
    assert payload_digest(files, device=TaggedText('floppy'), label=TaggedText('data')) == \
        canonical_digest('floppy', 'DATA', {'a': b'x'})


BASE_FILES = [
    {'name': 'meta-data', 'content_b64': b64(b'instance-id: vm1\n')},
    {'name': 'user-data', 'content_b64': b64(b'#cloud-config\n')},
]


def with_byte_flipped(index, offset):
    files = [dict(entry) for entry in BASE_FILES]
    data = bytearray(base64.b64decode(files[index]['content_b64']))
    data[offset] ^= 0x01
    files[index]['content_b64'] = b64(bytes(data))
    return files


def renamed(index, name):
    files = [dict(entry) for entry in BASE_FILES]
    files[index]['name'] = name
    return files


@pytest.mark.parametrize('files, options', [
    pytest.param(with_byte_flipped(0, 0), {}, id='first-byte-of-first-file'),
    pytest.param(with_byte_flipped(1, 13), {}, id='last-byte-of-last-file'),
    pytest.param(with_byte_flipped(1, 5), {}, id='middle-byte'),
    pytest.param(BASE_FILES[:1] + [{'name': 'user-data', 'content_b64': b64(b'#cloud-config\n\x00')}], {},
                 id='one-byte-longer'),
    pytest.param(renamed(1, 'user-data.txt'), {}, id='name'),
    pytest.param(BASE_FILES, {'label': 'cidata2'}, id='label'),
    pytest.param(BASE_FILES, {'device': 'floppy', 'label': 'cidata'}, id='device'),
])
def test_payload_digest_changes_with_any_part(files, options):
    base = payload_digest(BASE_FILES, label='cidata')
    assert payload_digest(files, **dict({'label': 'cidata'}, **options)) != base


def test_payload_digest_ignores_content_kind():
    """The digest is of bytes: content, content_b64 and src holding the same bytes agree."""
    as_text = payload_digest([{'name': 'a', 'content': 'Grüße'}])
    assert payload_digest([{'name': 'a', 'content_b64': b64('Grüße'.encode('utf-8'))}]) == as_text
    assert payload_digest({'a': 'Grüße'.encode('utf-8')}) == as_text


DIGEST_FAILURES = [
    pytest.param([{'name': '../escape', 'content': SECRET}], {}, id='dot-dot-name'),
    pytest.param([{'name': 'a', 'content': SECRET}, {'name': 'a', 'content': SECRET}], {}, id='duplicate-name'),
    pytest.param([{'name': 'A.txt', 'content': SECRET}, {'name': 'a.TXT', 'content': SECRET}],
                 {'device': 'floppy'}, id='fat-case-collision'),
    pytest.param([{'name': 'a', 'content': SECRET + '\udcff'}], {}, id='surrogate-content'),
    pytest.param([{'name': 'a', 'content_b64': SECRET_B64_BODY + 'QU!D'}], {}, id='bad-base64'),
    pytest.param([{'name': 'a', 'content': SECRET}], {'label': 'not a label'}, id='bad-label'),
    pytest.param([{'name': 'a', 'content': SECRET}], {'device': 'tape'}, id='bad-device'),
    pytest.param([{'name': 'user-data', 'content': SECRET}], {'preset': 'nocloud'}, id='preset-missing-file'),
    pytest.param([{'name': 'openstack/latest/meta_data.json', 'content': '{"k": "%s"' % SECRET}],
                 {'preset': 'configdrive'}, id='invalid-json'),
    pytest.param([{'name': 'autounattend.xml', 'content_b64': b64(SECRET_BYTES + b'\xff')}],
                 {'preset': 'sysprep'}, id='xml-not-utf-8'),
    pytest.param([{'name': 'a', 'src': 'relative/path'}], {}, id='relative-src'),
    pytest.param([{'name': 'a', 'src': '/nonexistent/vmpayload/src'}], {}, id='missing-src'),
    pytest.param([], {}, id='no-files'),
]


@pytest.mark.parametrize('files, options', DIGEST_FAILURES)
def test_payload_digest_failures_carry_the_model_message(files, options):
    with pytest.raises(PayloadValidationError) as expected:
        parse_payload(files, **options)
    assert failure(payload_digest, files, **options) == str(expected.value)


def test_payload_digest_failures_from_a_mapping_name_the_key():
    assert 'the value of "user-data" is a number' in failure(payload_digest, {'user-data': 5})


# --- the filters inside Ansible, and the documentation examples --------------------------------------

# A key, the lines that continue its value (indented), then the comment that states the result.
EXAMPLE_RESULT = re.compile(r'^(?P<key>[a-z0-9_]+): .*\n(?: .*\n)*# (?P<kind>=>|fails:) (?P<value>.*)$', re.MULTILINE)


def documented_examples():
    """(key, template, kind, expected) of each example in the docs that states its result or failure."""
    examples = []
    for name in FILTER_NAMES:
        text = yaml.safe_load((FILTER_DIR / ('%s.yml' % name)).read_text(encoding='utf-8'))['EXAMPLES']
        templates = yaml.safe_load(text)
        for match in EXAMPLE_RESULT.finditer(text):
            key = '%s__%s' % (name, match['key'])
            examples.append(pytest.param(key, templates[match['key']], match['kind'], yaml.safe_load(match['value']),
                                         id=key))
    return examples


EXAMPLES = documented_examples()

# Rendered by ansible-playbook; each is compared with the direct call below.
RENDERED = {
    'encode': "{{ greeting | vmpayload.core.payload_b64encode }}",
    'encode_utf16': "{{ greeting | vmpayload.core.payload_b64encode(encoding='utf-16-le') }}",
    'decode': "{{ greeting_b64 | vmpayload.core.payload_b64decode }}",
    'files': "{{ seed | vmpayload.core.payload_files }}",
    'digest_of_mapping': "{{ seed | vmpayload.core.payload_digest(preset='nocloud') }}",
    'digest_of_files': "{{ seed | vmpayload.core.payload_files | vmpayload.core.payload_digest('floppy', 'cidata') }}",
    'digest_of_list': "{{ seed_list | vmpayload.core.payload_digest(label=seed_label) }}",
}
PLAY_VARS = {
    'greeting': 'Grüße \U0001F600',
    'greeting_b64': b64('Grüße \U0001F600'.encode('utf-8')),
    'seed': {'user-data': '#cloud-config\n', 'meta-data': {'content_b64': b64(b'instance-id: vm1\n')}},
    'seed_list': [{'name': 'user-data', 'content': '#cloud-config\n'}, {'name': 'meta-data', 'content': 'x'}],
    'seed_label': 'cidata',
}
EXPECTED = {
    'encode': payload_b64encode(PLAY_VARS['greeting']),
    'encode_utf16': payload_b64encode(PLAY_VARS['greeting'], 'utf-16-le'),
    'decode': PLAY_VARS['greeting'],
    'files': payload_files(PLAY_VARS['seed']),
    'digest_of_mapping': canonical_digest('cdrom', 'cidata', {'user-data': b'#cloud-config\n', 'meta-data': b'instance-id: vm1\n'}),
    'digest_of_files': canonical_digest('floppy', 'CIDATA', {'user-data': b'#cloud-config\n', 'meta-data': b'instance-id: vm1\n'}),
    'digest_of_list': canonical_digest('cdrom', 'cidata', {'user-data': b'#cloud-config\n', 'meta-data': b'x'}),
}
# Failing templates, with a part of the message each must give; the content never reaches the output.
FAILING = {
    'encode': ("{{ secret_text | vmpayload.core.payload_b64encode(encoding='latin-1') }}",
               'the character at offset %d has no form in latin-1' % len(SECRET)),
    'decode': ("{{ secret_b64 | vmpayload.core.payload_b64decode }}",
               'invalid UTF-8 at byte offset %d' % len(SECRET)),
    'files': ("{{ {'user-data': secret_text, 'meta-data': 5} | vmpayload.core.payload_files }}",
              'the value of "meta-data" is a number'),
    'digest': ("{{ {'../user-data': secret_text} | vmpayload.core.payload_digest }}",
               "path segment '..' is not allowed"),
}
SECRET_VARS = {'secret_text': SECRET + '€', 'secret_b64': b64(SECRET_BYTES + b'\xff')}


@pytest.fixture(scope='module')
def ansible_run(tmp_path_factory):
    """Render RENDERED, the documented examples and FAILING with ansible-playbook, in one run.

    ansible-test units runs each test in a process forked for it, where a module-scoped fixture is made
    again for every test: the outcome is kept, under a lock, where every test of the run finds it, so that
    ansible-playbook runs once per run, not once per test. That is the base temporary directory of the run:
    with pytest-xdist, its controller's (each forked child empties its worker's own base directory again).
    """
    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base) / 'filters-ansible-run'
    cache.mkdir(exist_ok=True)
    kept = cache / 'outcome.json'
    with open(cache / 'lock', 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not kept.exists():
            outcome = _render_in_ansible(tmp_path_factory.mktemp('ansible'))
            (cache / 'outcome.partial').write_text(json.dumps(outcome), encoding='utf-8')
            os.replace(cache / 'outcome.partial', kept)
    return tuple(json.loads(kept.read_text(encoding='utf-8')))


def _render_in_ansible(work):
    results = work / 'results.json'
    examples = {key: template for key, template, kind, expected in (example.values for example in EXAMPLES) if kind == '=>'}
    failing = {key: template for key, (template, message) in FAILING.items()}
    failing.update((key, template) for key, template, kind, expected in (example.values for example in EXAMPLES)
                   if kind == 'fails:')
    tasks = [{'name': 'fail_%s' % key, 'ansible.builtin.debug': {'msg': template},
              'register': 'fail_%s' % key, 'ignore_errors': True} for key, template in failing.items()]
    outcome = {'rendered': '{{ rendered }}', 'examples': '{{ examples }}',
               'failures': {key: '{{ fail_%s }}' % key for key in failing}}
    tasks.append({'name': 'Write what was rendered', 'ansible.builtin.copy': {
        'dest': str(results), 'content': '{{ outcome | to_json }}', 'mode': '0600'}})
    # The values live in a file of their own: Ansible quotes the playbook lines around a failing task.
    play = [{'hosts': 'localhost', 'gather_facts': False, 'vars_files': ['values.json'], 'tasks': tasks,
             'vars': {'rendered': RENDERED, 'examples': examples, 'outcome': outcome}}]
    # JSON is YAML: the playbook needs no YAML writer.
    (work / 'play.yml').write_text(json.dumps(play, ensure_ascii=False, indent=1), encoding='utf-8')
    (work / 'values.json').write_text(json.dumps(dict(PLAY_VARS, **SECRET_VARS), ensure_ascii=False), encoding='utf-8')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_ROOT), ANSIBLE_HOME=str(work / 'home'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_PYTHON_INTERPRETER=sys.executable, LC_ALL='C.UTF-8')
    # Ansible must find the collection itself, by FQCN, as in a play.
    env.pop('PYTHONPATH', None)
    process = subprocess.run([sys.executable, '-m', 'ansible', 'playbook', '-vvv', '-i', 'localhost,',
                              '-c', 'local', 'play.yml'],
                             cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads(results.read_text(encoding='utf-8')), process.stdout + process.stderr


@pytest.mark.parametrize('key', sorted(RENDERED))
def test_filters_render_by_fqcn_in_ansible(ansible_run, key):
    outcome, output = ansible_run
    assert outcome['rendered'][key] == EXPECTED[key]


@pytest.mark.parametrize('key', sorted(FAILING))
def test_filter_failures_in_ansible_say_what_is_wrong(ansible_run, key):
    outcome, output = ansible_run
    result = outcome['failures'][key]
    assert result['failed'] is True
    # ansible-core 2.19 names the filter that failed before its message; 2.16 to 2.18 give the message alone.
    if tuple(int(part) for part in ansible_version.split('.')[:2]) >= (2, 19):
        assert "The filter plugin 'vmpayload.core.payload_" in result['msg']
    assert FAILING[key][1] in result['msg']


def test_ansible_output_shows_no_content(ansible_run):
    outcome, output = ansible_run
    assert 'fatal: [localhost]: FAILED!' in output
    assert SECRET not in output and SECRET not in json.dumps(outcome)


@pytest.mark.parametrize('key, template, kind, expected', EXAMPLES)
def test_documented_examples_give_what_they_say(ansible_run, key, template, kind, expected):
    outcome, output = ansible_run
    if kind == '=>':
        assert outcome['examples'][key] == expected
    else:
        assert outcome['failures'][key]['failed'] is True
        assert expected in outcome['failures'][key]['msg']


def test_every_filter_has_documentation_and_examples():
    assert sorted(FilterModule().filters()) == sorted(FILTER_NAMES)
    documented = {example.values[0].split('__')[0] for example in EXAMPLES}
    assert documented == set(FILTER_NAMES)
    for name in FILTER_NAMES:
        doc = yaml.safe_load((FILTER_DIR / ('%s.yml' % name)).read_text(encoding='utf-8'))
        assert doc['DOCUMENTATION']['name'] == name
        assert doc['DOCUMENTATION']['version_added'] == '0.1.0'
