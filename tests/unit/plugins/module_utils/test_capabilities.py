# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a platform can carry, checked before any connection: devices, run-once, binary content, size."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import Capabilities
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

TEXT_ONLY = Capabilities(platform='engine', devices=('cdrom', 'floppy'), binary_content=False, max_file_units=8,
                         size_refusal='Payload is limited to 16K')


def one_file(device='cdrom', **content):
    return parse_payload([dict(name='f.txt', **content)], device=device)


def test_everything_passes_a_platform_without_limits():
    Capabilities(platform='libvirt').check(one_file(content_b64=base64.b64encode(b'\xff\x00' * 9000).decode()),
                                           run_once=True)


@pytest.mark.parametrize('content', [
    dict(content='12345678'),            # 8 code units
    dict(content='\U0001F600' * 4),      # 4 emoji are 8 UTF-16 code units (16 bytes of UTF-8)
    dict(content='ééééééé'),             # 7 units, 14 bytes
])
def test_text_within_the_limit_passes(content):
    TEXT_ONLY.check(one_file(**content))


@pytest.mark.parametrize('content, units', [(dict(content='123456789'), 9), (dict(content='\U0001F600' * 5), 10)])
def test_text_over_the_limit_is_refused_in_the_platforms_words(content, units):
    with pytest.raises(PayloadValidationError) as raised:
        TEXT_ONLY.check(one_file(**content))
    message = str(raised.value)
    assert 'Payload is limited to 16K' in message and '%d UTF-16 code units' % units in message
    assert raised.value.file == 'f.txt' and '123456789' not in message


def test_binary_content_is_refused_with_the_way_out():
    with pytest.raises(PayloadValidationError, match=r'not UTF-8 text \(byte offset 1\).*base64') as raised:
        TEXT_ONLY.check(one_file(content_b64=base64.b64encode(b'a\xff').decode()))
    assert raised.value.file == 'f.txt'


def test_src_files_are_read_for_the_check(tmp_path):
    src = tmp_path / 'big.txt'
    src.write_text('x' * 9)
    with pytest.raises(PayloadValidationError, match='limited to 16K'):
        TEXT_ONLY.check(one_file(src=str(src)))


def test_a_device_the_platform_lacks_is_refused():
    with pytest.raises(PayloadValidationError, match='engine carries payloads on cdrom only, not floppy') as raised:
        Capabilities(platform='engine', devices=('cdrom',)).check(one_file('floppy', content='a'))
    assert raised.value.option == 'device'


def test_run_once_is_refused_where_the_platform_has_none():
    with pytest.raises(PayloadValidationError, match='cannot start a VM once'):
        Capabilities(platform='engine', run_once=False).check(one_file(content='a'), run_once=True)
    Capabilities(platform='engine', run_once=False).check(one_file(content='a'))


# A platform that sends content as XML text (oVirt's SDK writes it into the request body as it is).
XML_TEXT = Capabilities(platform='engine', binary_content=False)
SECRET = 'hunter2-S3CR3T-4f9c'


@pytest.mark.parametrize('content, offset', [
    ('pw: %s\x01' % SECRET, 4 + len(SECRET)),     # a C0 control character
    ('\x00' + SECRET, 0),                          # NUL
    ('é%s\x1b' % SECRET, 2 + len(SECRET)),         # ESC, after a 2-byte character: the offset counts bytes
    ('%s\ufffe' % SECRET, len(SECRET)),            # noncharacters XML 1.0 has no place for
    ('ab\uffff%s' % SECRET, 2),
], ids=['c0-control', 'nul', 'escape-after-a-two-byte-character', 'u-fffe', 'u-ffff'])
def test_text_content_xml_cannot_carry_is_refused_with_the_file_and_byte_offset(content, offset):
    with pytest.raises(PayloadValidationError) as raised:
        XML_TEXT.check(one_file(content=content))
    message = str(raised.value)
    assert raised.value.file == 'f.txt' and raised.value.option == 'files'
    assert 'byte offset %d' % offset in message and '"f.txt"' in message and 'XML' in message
    assert SECRET not in message and content not in message


@pytest.mark.parametrize('content', ['tab\tnewline\ncarriage return\r\n', '\ufffd\U0010fffd\ud7ff\ue000', 'plain'],
                         ids=['tab-lf-cr', 'edges-of-the-legal-ranges', 'plain'])
def test_text_content_xml_can_carry_passes(content):
    XML_TEXT.check(one_file(content=content))


def test_xml_illegal_content_is_fine_where_content_is_binary():
    Capabilities(platform='libvirt').check(one_file(content='\x01\ufffe'))
