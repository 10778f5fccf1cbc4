# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fault suite, bad input (issue 10): a table of bad inputs to every module and filter, through a real
ansible-playbook, against the real libvirtd, two real defined domains (one with a payload staged) and the
real pool.

Each case is refused with a message that names the option, the file (where there is one) and the reason,
never a raw exception, never content: a marker string travels in the content of every case, and neither it
nor its base64 appears anywhere in the output of ``ansible-playbook -vvv`` or in the results. The cases run
in three batches, one task per case (``ignore_errors``); a small callback plugin written beside the
playbook records every task's result as JSON. Around each batch the domain's persistent and live XML (with
security info), the pool's definition, its volumes and their bytes, and the payload_image ``dest`` (bytes,
mode, and the names in its directory) are snapshot: a refused input leaves them byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from test_user_playbooks import POOL, _virsh, pool  # pylint: disable=unused-import  # noqa: F401 (pool is a fixture used here)

BIN = Path(sys.executable).parent
URI = 'qemu:///system'

# The secret every case carries in its content. 30 characters, so that the base64 of any content that
# starts with it starts with the base64 of the marker.
MARKER = 'MARKER-bad-input-5e2c91d07af3x'
assert len(MARKER) % 3 == 0
CONTENT = MARKER + ' and the rest of a secret file\n'
CONTENT_B64 = base64.b64encode(CONTENT.encode()).decode()
MARKER_B64 = base64.b64encode(MARKER.encode()).decode()
LEAKS = (MARKER, MARKER_B64)
# A leaked content that equals a no_log value in full is masked by Ansible: a mask in a message is a leak.
MASKS = ('********', 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER')
# The volumes the libvirt backend stages: vmpayload-<domain uuid>-...
PAYLOAD_VOLUME = re.compile(r'^vmpayload-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-')
# What a raw exception looks like in a message.
RAW = re.compile(r'Traceback|Error\(|Exception|\bline \d+, in\b|object at 0x|\bNoneType\b|'
                 r'(?<![\w.])(KeyError|ValueError|TypeError|IndexError|AttributeError|UnicodeDecodeError|'
                 r'OverflowError|RecursionError|LookupError|OSError|struct\.error)\b')

# Placeholders in case arguments, replaced by the paths of this run.
DEST = '@DEST@'
INPUTS = '@INPUTS@'
DOMAIN = '@DOMAIN@'
DOMAIN_UUID = '@DOMAIN_UUID@'
BARE = '@BARE@'


@dataclass
class Case:
    """One bad input. ``target`` is a module name, or ``filter:<name>`` with args ``input`` and ``kwargs``."""

    id: str
    target: str
    args: dict
    expect: str
    option: str | None = None
    file: str | None = None
    batch: str = field(default='')
    check_mode: bool = False

    def __post_init__(self):
        if not self.batch:
            if self.target.startswith('filter:'):
                self.batch = 'filters'
            elif self.target == 'payload_image':
                self.batch = 'image'
            else:
                self.batch = 'libvirt'


def secret(name='secret.txt'):
    return {'name': name, 'content': CONTENT}


def secret_b64(name='secret.bin'):
    return {'name': name, 'content_b64': CONTENT_B64}


def image(files, **args):
    return dict(dict(dest=DEST), files=files, **args)


def vm(files=None, **args):
    spec = dict(name=DOMAIN)
    if files is not None:
        spec['files'] = files
    spec.update(args)
    return {key: value for key, value in spec.items() if value is not None}


def nocloud():
    return [secret('user-data'), secret('meta-data')]


def meta_json(text):
    """A configdrive meta_data.json holding the marker, with ``text`` in it."""
    return {'name': 'openstack/latest/meta_data.json', 'content': '{"secret": "%s", %s' % (MARKER, text)}


def bad_b64(broken):
    return {'name': 'bad.bin', 'content_b64': broken}


OVIRT_AUTH = {'url': 'https://engine.invalid/ovirt-engine/api', 'username': 'admin@internal', 'password': MARKER}
FILE0 = r'files\[0\] '
FILE1 = r'files\[1\] '


def q(name):
    """The quoted file name as the messages show it."""
    return re.escape(json.dumps(name, ensure_ascii=False))


CASES = [
    # -- base64 ------------------------------------------------------------------------------------------
    Case('b64-truncated', 'payload_image', image([secret(), bad_b64(CONTENT_B64[:-1])]),
         FILE1 + q('bad.bin') + r': content_b64 is not valid base64: length of \d+ base64 characters is not a '
         r'multiple of 4', 'files[1].content_b64', 'bad.bin'),
    Case('b64-illegal-char', 'payload_image', image([secret(), bad_b64(CONTENT_B64[:10] + '!' + CONTENT_B64[11:])]),
         r'content_b64 is not valid base64: character at offset 10 is not in the base64 alphabet',
         'files[1].content_b64', 'bad.bin'),
    Case('b64-non-ascii', 'payload_image', image([bad_b64(CONTENT_B64[:7] + '\u00e9' + CONTENT_B64[8:])]),
         r'content_b64 is not valid base64: character at offset 7 is not in the base64 alphabet',
         'files[0].content_b64', 'bad.bin'),
    Case('b64-data-after-padding', 'payload_image', image([secret(), bad_b64('QQ==' + CONTENT_B64)]),
         r"content_b64 is not valid base64: data continues after '=' padding at offset 4",
         'files[1].content_b64', 'bad.bin'),
    Case('b64-too-much-padding', 'payload_image', image([secret(), bad_b64(CONTENT_B64[:-4] + 'Q===')]),
         r'content_b64 is not valid base64: more than two padding characters', 'files[1].content_b64', 'bad.bin'),
    Case('b64-url-safe-alphabet', 'vm_payload', vm([secret(), bad_b64(CONTENT_B64[:20] + '-_' + CONTENT_B64[22:])]),
         r'content_b64 is not valid base64: character at offset 20 is not in the base64 alphabet',
         'files[1].content_b64', 'bad.bin'),
    # -- file names --------------------------------------------------------------------------------------
    Case('name-duplicate', 'payload_image', image([secret('a.txt'), secret('a.txt')]),
         FILE1 + q('a.txt') + r': name is given twice as files\[0\]', 'files[1].name', 'a.txt'),
    Case('name-duplicate-after-nfc', 'vm_run_once_payload', vm([secret('caf\u00e9'), secret('cafe\u0301')]),
         FILE1 + q('caf\u00e9') + r': name is given twice as files\[0\]', 'files[1].name', 'caf\u00e9'),
    Case('name-fat-case-clash', 'payload_image', image([secret('Readme.TXT'), secret('README.txt')], device='floppy'),
         FILE1 + q('README.txt') + r': name is the same name on FAT \(case-insensitive\) as files\[0\]',
         'files[1].name', 'README.txt'),
    Case('name-fat-directory-case-clash', 'vm_payload', vm([secret('Dir/a'), secret('dir/b')], device='floppy'),
         FILE1 + q('dir/b') + r': directory "dir" is the same name on FAT \(case-insensitive\) as "Dir" in '
         r'files\[0\]', 'files[1].name', 'dir/b'),
    Case('name-file-and-directory', 'payload_image', image([secret('a'), secret('a/b')]),
         FILE1 + q('a/b') + r': "a" is a file \(files\[0\]\) and cannot also be a directory', 'files[1].name', 'a/b'),
    Case('name-dotdot', 'payload_image', image([secret('x/../etc/passwd')]),
         FILE0 + q('x/../etc/passwd') + r": path segment '\.\.' is not allowed", 'files[0].name', 'x/../etc/passwd'),
    Case('name-dot', 'vm_payload', vm([secret('./x')]),
         FILE0 + q('./x') + r": path segment '\.' is not allowed", 'files[0].name', './x'),
    Case('name-absolute', 'payload_image', image([secret('/etc/passwd')]),
         FILE0 + q('/etc/passwd') + r": name must be relative: remove the leading '/'", 'files[0].name', '/etc/passwd'),
    Case('name-empty', 'payload_image', image([secret(''), secret()]),
         FILE0 + r'"": name is empty', 'files[0].name'),
    Case('name-empty-segment', 'vm_run_once_payload', vm([secret('a//b')]),
         FILE0 + q('a//b') + r": name has an empty path segment \('//' or a trailing '/'\)", 'files[0].name', 'a//b'),
    Case('name-trailing-slash', 'payload_image', image([secret('dir/')]),
         r"name has an empty path segment", 'files[0].name', 'dir/'),
    Case('name-backslash', 'payload_image', image([secret('dir\\x')]),
         FILE0 + q('dir\\x') + r": name contains '\\': separate directories with '/'", 'files[0].name', 'dir\\x'),
    Case('name-nul', 'payload_image', image([secret('a\x00b')]),
         FILE0 + q('a\x00b') + r': name contains a control character \(U\+0000\) at character 1',
         'files[0].name', 'a\x00b'),
    Case('name-newline', 'vm_payload', vm([secret('a\nb')]),
         r'name contains a control character \(U\+000A\) at character 1', 'files[0].name', 'a\nb'),
    Case('name-noncharacter-fffe', 'payload_image', image([secret('x\ufffe')]),
         r'name contains U\+FFFE at character 1, a Unicode noncharacter', 'files[0].name', 'x\ufffe'),
    Case('name-noncharacter-fdd0', 'vm_payload', vm([secret('d/\ufdd0')]),
         r'name contains U\+FDD0 at character 2, a Unicode noncharacter', 'files[0].name', 'd/\ufdd0'),
    Case('name-joliet-too-long', 'payload_image', image([secret('j' * 65)]),
         r'segment of 65 UTF-16 units is longer than Joliet allows \(64\)', 'files[0].name', 'j' * 65),
    Case('name-joliet-too-long-astral', 'vm_payload', vm([secret('\U0001F600' * 33)]),
         r'segment of 66 UTF-16 units is longer than Joliet allows \(64\)', 'files[0].name', '\U0001F600' * 33),
    Case('name-joliet-forbidden', 'payload_image', image([secret('c:/x;1')]),
         r"Joliet names cannot contain ':'", 'files[0].name', 'c:/x;1'),
    Case('name-iso-too-deep', 'payload_image', image([secret('1/2/3/4/5/6/7/8/f')]),
         r'ISO 9660 allows at most 7 directory levels; this name has 8', 'files[0].name', '1/2/3/4/5/6/7/8/f'),
    Case('name-fat-too-long', 'payload_image', image([secret('f' * 128)], device='floppy'),
         r'segment of 128 UTF-16 units is longer than the floppy writer stores \(127\)', 'files[0].name', 'f' * 128),
    Case('name-fat-linux-name-max', 'vm_payload', vm([secret('\u6f22' * 86)], device='floppy'),
         r'segment is longer than Linux allows in a name \(255 UTF-8 bytes\)', 'files[0].name', '\u6f22' * 86),
    Case('name-fat-forbidden', 'payload_image', image([secret('a<b>.txt')], device='floppy'),
         r"FAT long names cannot contain '<' '>'", 'files[0].name', 'a<b>.txt'),
    Case('name-fat-trailing-dot', 'payload_image', image([secret('dir./x')], device='floppy'),
         r'FAT names cannot end with a dot or a space', 'files[0].name', 'dir./x'),
    Case('name-fat-leading-space', 'payload_image', image([secret(' x')], device='floppy'),
         r'FAT names cannot start with a space', 'files[0].name', ' x'),
    Case('name-missing', 'payload_image', image([secret(), {'content': CONTENT}]),
         r'files\[1\]: name is required', 'files[1].name'),
    Case('name-not-a-string', 'payload_image', image([{'name': ['x'], 'content': CONTENT}]),
         r'files\[0\]: name must be a string, not a list; quote it', 'files[0].name'),
    Case('name-a-number', 'vm_payload', vm([secret(), {'name': 2024, 'content': CONTENT}]),
         r'files\[1\]: name must be a string, not a number; quote it', 'files[1].name'),
    # -- content -----------------------------------------------------------------------------------------
    Case('content-and-src', 'payload_image', image([secret(), dict(secret('both'), src='/etc/hostname')]),
         FILE1 + q('both') + r': give exactly one of content, content_b64, src \(got content, src\)',
         'files[1]', 'both'),
    Case('content-and-content-b64', 'vm_payload', vm([dict(secret('both'), content_b64=CONTENT_B64)]),
         FILE0 + q('both') + r': give exactly one of content, content_b64, src \(got content, content_b64\)',
         'files[0]', 'both'),
    Case('content-none-given', 'payload_image', image([secret(), {'name': 'empty'}]),
         FILE1 + q('empty') + r': give exactly one of content, content_b64, src \(got none\)', 'files[1]', 'empty'),
    Case('content-not-a-string', 'payload_image', image([{'name': 'data.json', 'content': {'secret': MARKER}}]),
         FILE0 + q('data.json') + r': content must be a string, not a mapping; render structured data as text first '
         r'\(to_json, to_nice_yaml\)', 'files[0].content', 'data.json'),
    Case('content-b64-not-a-string', 'vm_payload', vm([{'name': 'blob', 'content_b64': [CONTENT_B64]}]),
         FILE0 + q('blob') + r': content_b64 must be a string, not a list', 'files[0].content_b64', 'blob'),
    Case('file-unknown-key', 'payload_image', image([secret(), dict(secret('typo'), mode='0600')]),
         r'Unsupported parameters for \(vmpayload\.core\.payload_image\) module: files\.mode'),
    Case('file-not-a-mapping', 'payload_image', image([secret(), CONTENT]),
         r"Elements value for option 'files' is of type str and we were unable to convert to dict"),
    Case('files-not-a-list', 'payload_image', image(CONTENT),
         r"Elements value for option 'files' is of type str and we were unable to convert to dict"),
    Case('files-a-number', 'vm_payload', vm(files=5), r"Elements value for option 'files' is of type \w+ and we were "
         r"unable to convert to dict"),
    Case('files-empty', 'payload_image', image([]),
         r'files must be a non-empty list', 'files'),
    Case('files-missing', 'payload_image', {'dest': DEST, 'label': MARKER[:8]},
         r'missing required arguments: files'),
    Case('content-over-max-content-size', 'payload_image', image([secret(), secret_b64()], max_content_size=16),
         FILE0 + q('secret.txt') + r': %d bytes is more than max_content_size \(16 bytes\)' % len(CONTENT),
         'files[0].content', 'secret.txt'),
    Case('max-content-size-negative', 'payload_image', image([secret()], max_content_size=-1),
         r'max_content_size must be a number of bytes >= 0', 'max_content_size'),
    Case('max-content-size-not-a-number', 'vm_payload', vm([secret()], max_content_size='16K'),
         r"argument 'max_content_size' is of type str and we were unable to convert to int"),
    Case('too-many-files-fat-root', 'payload_image',
         image([secret('root-file-%03d.txt' % i) for i in range(120)], device='floppy'),
         r'the payload needs \d+ root directory entries \(long names take several\); a 1474560-byte FAT12 image has '
         r'224: put files in a sub-directory, or use a larger size', 'files'),
    # -- src -----------------------------------------------------------------------------------------------
    Case('src-missing', 'payload_image', image([secret(), {'name': 'gone', 'src': INPUTS + '/no-such-file'}]),
         FILE1 + q('gone') + r': src "[^"]*/no-such-file" does not exist', 'files[1].src', 'gone'),
    Case('src-directory', 'vm_payload', vm([secret(), {'name': 'dir', 'src': INPUTS}]),
         FILE1 + q('dir') + r': src "[^"]*" is not a regular file', 'files[1].src', 'dir'),
    Case('src-fifo', 'payload_image', image([secret(), {'name': 'fifo', 'src': INPUTS + '/fifo'}]),
         r'src "[^"]*/fifo" is not a regular file', 'files[1].src', 'fifo'),
    Case('src-relative', 'payload_image', image([secret(), {'name': 'rel', 'src': 'relative/secret.txt'}]),
         r'src "relative/secret.txt" is not absolute; src is read on the host where the module runs',
         'files[1].src', 'rel'),
    Case('src-unreadable-not-a-directory', 'payload_image',
         image([secret(), {'name': 'under', 'src': INPUTS + '/secret.txt/child'}]),
         r'src "[^"]*/secret.txt/child" cannot be read: Not a directory', 'files[1].src', 'under'),
    Case('src-unreadable-symlink-loop', 'vm_run_once_payload', vm([{'name': 'loop', 'src': INPUTS + '/loop'}]),
         r'src "[^"]*/loop" cannot be read: Too many levels of symbolic links', 'files[0].src', 'loop'),
    Case('src-over-max-content-size', 'payload_image',
         image([{'name': 'big', 'src': INPUTS + '/secret.txt'}], max_content_size=8),
         FILE0 + q('big') + r': %d bytes is more than max_content_size \(8 bytes\)' % len(CONTENT),
         'files[0].src', 'big'),
    # -- device, preset, label -----------------------------------------------------------------------------
    Case('device-unknown', 'payload_image', image([secret()], device='dvd'),
         r'value of device must be one of: cdrom, floppy, got: dvd'),
    Case('preset-unknown', 'vm_payload', vm([secret()], preset='ignition'),
         r'value of preset must be one of: nocloud, configdrive, sysprep, got: ignition'),
    Case('label-cdrom-too-long', 'payload_image', image([secret()], label='L' * 33),
         r'label "L{33}" is not a valid CD-ROM volume id: use 1 to 32 letters, digits', 'label'),
    Case('label-cdrom-bad-char', 'vm_run_once_payload', vm([secret()], label='my label'),
         r'label "my label" is not a valid CD-ROM volume id', 'label'),
    Case('label-floppy-too-long', 'payload_image', image([secret()], device='floppy', label='twelve-chars'),
         r'label "twelve-chars" is not a valid FAT volume label: use 1 to 11 letters', 'label'),
    Case('label-floppy-dot', 'vm_payload', vm([secret()], device='floppy', label='config.2'),
         r'label "config.2" is not a valid FAT volume label', 'label'),
    Case('label-against-preset', 'payload_image', image(nocloud(), preset='nocloud', label='seed'),
         r'preset nocloud needs label cidata, not "seed"; leave label unset', 'label'),
    Case('nocloud-missing-meta-data', 'payload_image', image([secret('user-data')], preset='nocloud'),
         r'preset nocloud needs meta-data and user-data at the top of the image \(missing: meta-data\)', 'files'),
    Case('configdrive-missing-meta-data', 'vm_payload', vm([secret('openstack/latest/user_data')],
                                                           preset='configdrive'),
         r'preset configdrive needs openstack/latest/meta_data.json', 'files'),
    Case('configdrive-outside-roots', 'payload_image',
         image([meta_json('"a": 1}'), secret('etc/passwd')], preset='configdrive'),
         FILE1 + q('etc/passwd') + r': preset configdrive keeps files under openstack/ or ec2/', 'files[1].name',
         'etc/passwd'),
    Case('configdrive-bad-json', 'payload_image', image([meta_json('"a": }')], preset='configdrive'),
         FILE0 + q('openstack/latest/meta_data.json') + r': not valid JSON \(line 1, column \d+\)',
         'files[0]', 'openstack/latest/meta_data.json'),
    Case('configdrive-huge-int', 'vm_payload', vm([meta_json('"n": %s}' % ('9' * 5000))], preset='configdrive'),
         r"has an integer of 5000 digits; Python's json, which cloud-init reads it with, reads at most 4300",
         'files[0]', 'openstack/latest/meta_data.json'),
    Case('configdrive-deep-json', 'payload_image',
         image([meta_json('"deep": %s}' % ('[' * 100000 + ']' * 100000))], preset='configdrive'),
         r'JSON nested too deeply to check', 'files[0]', 'openstack/latest/meta_data.json'),
    Case('configdrive-json-not-utf8', 'payload_image',
         image([{'name': 'openstack/latest/meta_data.json',
                 'content_b64': base64.b64encode(b'{"secret": "' + MARKER.encode() + b'\xff"}').decode()}],
               preset='configdrive'),
         FILE0 + q('openstack/latest/meta_data.json') + r': not UTF-8 text \(invalid UTF-8 at byte offset %d\)'
         % (len(MARKER) + 12),
         'files[0].content_b64', 'openstack/latest/meta_data.json'),
    Case('sysprep-no-answer-file', 'payload_image', image([secret('setup/Unattend.xml')], preset='sysprep'),
         r'preset sysprep needs an answer file at the top of the image: Unattend.xml, autounattend.xml or '
         r'sysprep.inf', 'files'),
    Case('sysprep-malformed-xml', 'vm_payload',
         vm([{'name': 'Unattend.xml', 'content': '<unattend><secret>%s</unattend>' % MARKER}],
            device='floppy', preset='sysprep'),
         FILE0 + q('Unattend.xml') + r': not well-formed XML \(line 1, column \d+\)', 'files[0]', 'Unattend.xml'),
    Case('sysprep-unknown-encoding', 'payload_image',
         image([{'name': 'Unattend.xml', 'content': '<?xml version="1.0" encoding="x-bogus"?><u>%s</u>' % MARKER}],
               preset='sysprep'),
         FILE0 + q('Unattend.xml') + r': the encoding its XML declaration names is unknown or cannot be read here',
         'files[0]', 'Unattend.xml'),
    Case('sysprep-multibyte-encoding', 'payload_image',
         image([{'name': 'autounattend.xml',
                 'content': '<?xml version="1.0" encoding="shift_jis"?><u>%s</u>' % MARKER}], preset='sysprep'),
         r'the encoding its XML declaration names is unknown or cannot be read here; write the answer file in '
         r'UTF-8 or UTF-16', 'files[0]', 'autounattend.xml'),
    # -- floppy size -----------------------------------------------------------------------------------------
    Case('size-too-small', 'payload_image',
         image([{'name': 'big.bin', 'src': INPUTS + '/two-mib.bin'}, secret()], device='floppy', size='1440K'),
         r'the payload needs \d+ bytes on disk .* more than the \d+ bytes a 1474560-byte FAT12 image holds; '
         r'set size to a larger value or to auto', 'size'),
    Case('size-infinite', 'payload_image', image([secret()], device='floppy', size='infM'),
         r"size 'infM' is not a size: use bytes, 1440K, 2880K", 'size'),
    Case('size-overflow', 'payload_image', image([secret()], device='floppy', size='1e400M'),
         r"size '1e400M' is not a size", 'size'),
    Case('size-negative', 'payload_image', image([secret()], device='floppy', size=-1),
         r'size -1 is not a FAT image size this collection builds', 'size'),
    Case('size-zero', 'payload_image', image([secret()], device='floppy', size=0),
         r'size 0 is not a FAT image size this collection builds', 'size'),
    Case('size-not-a-number', 'payload_image', image([secret()], device='floppy', size='abc'),
         r"size 'abc' is not a size", 'size'),
    Case('size-not-whole-mib', 'payload_image', image([secret()], device='floppy', size='4.5M'),
         r"size '4.5M' is not a FAT image size this collection builds", 'size'),
    Case('size-too-large', 'payload_image', image([secret()], device='floppy', size='2048M'),
         r"size '2048M' is not a FAT image size this collection builds", 'size'),
    Case('size-list', 'payload_image', image([secret()], device='floppy', size=[1440]),
         r'size must be a number of bytes, a string such as 1440K or 64M, or auto', 'size'),
    Case('size-on-cdrom', 'payload_image', image([secret()], size='2880K'),
         r'size applies to floppy images only; a CD-ROM image grows with its payload', 'size'),
    # -- dest and file attributes --------------------------------------------------------------------------
    Case('dest-missing-directory', 'payload_image', dict(image([secret()]), dest=INPUTS + '/no-such-dir/seed.iso'),
         r'the directory of dest \([^)]*/no-such-dir\) does not exist', 'dest'),
    Case('dest-is-directory', 'payload_image', dict(image([secret()]), dest=INPUTS),
         r'dest [^ ]* is a directory; give the path of the image file', 'dest'),
    Case('dest-not-regular', 'payload_image', dict(image([secret()]), dest=INPUTS + '/fifo'),
         r'dest [^ ]*/fifo exists and is not a regular file', 'dest'),
    Case('dest-under-a-file', 'payload_image', dict(image([secret()]), dest=INPUTS + '/secret.txt/seed.iso'),
         r'dest [^ ]*/secret.txt/seed.iso cannot be examined: Not a directory', 'dest'),
    Case('check-mode-b64', 'payload_image', image([secret(), bad_b64(CONTENT_B64[:5] + '#' + CONTENT_B64[6:])]),
         r'content_b64 is not valid base64: character at offset 5 is not in the base64 alphabet',
         'files[1].content_b64', 'bad.bin', check_mode=True),
    Case('check-mode-dest-is-directory', 'payload_image', dict(image([secret()]), dest=INPUTS),
         r'dest [^ ]* is a directory; give the path of the image file', 'dest', check_mode=True),
    Case('check-mode-size-too-small', 'payload_image',
         image([{'name': 'big.bin', 'src': INPUTS + '/two-mib.bin'}], device='floppy', size='1.44M'),
         r'more than the \d+ bytes a 1474560-byte FAT12 image holds', 'size', check_mode=True),
    Case('mode-invalid-octal', 'payload_image', image([secret('other')], mode='0999'),
         r'mode must be in octal or symbolic form'),
    Case('mode-invalid-symbolic', 'payload_image', image([secret('other')], mode='u=rwz'),
         r'mode must be in octal or symbolic form'),
    Case('owner-unknown', 'payload_image', image([secret('other')], owner='no-such-user-5e2c'),
         r'chown failed: failed to look up user no-such-user-5e2c'),
    Case('group-unknown', 'payload_image', image([secret('other')], group='no-such-group-5e2c'),
         r'chgrp failed: failed to look up group no-such-group-5e2c'),
    # -- the VM and the platform -----------------------------------------------------------------------------
    Case('vm-not-found', 'vm_payload', dict(vm([secret()]), name='vmpayload-no-such-domain-5e2c'),
         r'no domain named vmpayload-no-such-domain-5e2c on qemu:///system'),
    Case('vm-uuid-not-found', 'vm_run_once_payload', {'uuid': '00000000-5e2c-4000-8000-000000000000',
                                                      'files': [secret()]},
         r'no domain with uuid 00000000-5e2c-4000-8000-000000000000 on qemu:///system'),
    Case('vm-uuid-malformed', 'vm_payload_info', {'uuid': 'not-a-uuid'},
         r'uuid "not-a-uuid" is not a UUID', 'uuid'),
    Case('vm-info-not-found', 'vm_payload_info', {'name': 'vmpayload-no-such-domain-5e2c'},
         r'no domain named vmpayload-no-such-domain-5e2c on qemu:///system'),
    Case('vm-name-and-uuid', 'vm_payload', vm([secret()], uuid=DOMAIN_UUID),
         r'parameters are mutually exclusive: name\|uuid'),
    Case('vm-neither-name-nor-uuid', 'vm_payload', {'files': [secret()]},
         r'one of the following is required: name, uuid'),
    Case('vm-state-present-without-files', 'vm_payload', vm(label=MARKER[:8]),
         r'state is present but all of the following are missing: files'),
    Case('pool-missing', 'vm_payload', dict(vm([secret()], pool='vmpayload-no-such-pool-5e2c'), name=BARE),
         r'storage pool vmpayload-no-such-pool-5e2c does not exist on qemu:///system; run the '
         r'vmpayload.core.payload_staging role there, or set pool to an existing pool'),
    Case('run-once-pool-missing', 'vm_run_once_payload',
         dict(vm([secret()], pool='vmpayload-no-such-pool-5e2c'), name=BARE),
         r'storage pool vmpayload-no-such-pool-5e2c does not exist on qemu:///system'),
    Case('pool-missing-on-a-vm-with-a-payload', 'vm_payload', vm([secret('other')], pool='vmpayload-no-such-pool-5e2c'),
         r'storage pool vmpayload-no-such-pool-5e2c does not exist on qemu:///system'),
    Case('info-expected-bad-b64', 'vm_payload_info', vm(expected={'files': [secret(), bad_b64(CONTENT_B64[:-1])]}),
         r'expected: files\[1\] "bad.bin": content_b64 is not valid base64: length of \d+ base64 characters',
         'expected.files[1].content_b64', 'bad.bin'),
    Case('info-expected-not-a-mapping', 'vm_payload_info', vm(expected=[secret()]),
         r"argument 'expected' is of type list and we were unable to convert to dict"),
    Case('uri-unreachable', 'vm_payload', vm([secret()], uri='qemu+unix:///system?socket=/nonexistent/sock'),
         r'cannot connect to libvirt at qemu\+unix:///system\?socket=/nonexistent/sock'),
    Case('drive-replace-without-a-drive', 'vm_payload', dict(vm([secret()], drive='replace'), name=BARE),
         r'drive: replace needs an existing cdrom drive; the domain has none'),
    Case('target-not-a-drive-name', 'vm_payload', dict(vm([secret()], target='hd!'), name=BARE),
         r'target hd! is not a drive name on the ide bus \(\^hd\[a-d\]\$\)'),
    Case('target-on-another-bus', 'vm_payload', dict(vm([secret()], device='floppy', target='hdc'), name=BARE),
         r'target hdc is not a drive name on the fdc bus \(\^fd\[ab\]\$\)'),
    Case('check-mode-pool-missing', 'vm_payload', dict(vm([secret()], pool='vmpayload-no-such-pool-5e2c'), name=BARE),
         r'storage pool vmpayload-no-such-pool-5e2c does not exist on qemu:///system', check_mode=True),
    Case('check-mode-run-once-pool-missing', 'vm_run_once_payload',
         dict(vm([secret()], pool='vmpayload-no-such-pool-5e2c'), name=BARE),
         r'storage pool vmpayload-no-such-pool-5e2c does not exist on qemu:///system', check_mode=True),
    Case('check-mode-name-dotdot', 'vm_payload', vm([secret('../x')]),
         FILE0 + q('../x') + r": path segment '\.\.' is not allowed", 'files[0].name', '../x', check_mode=True),
    Case('auth-and-uri', 'vm_payload', vm([secret()], auth=OVIRT_AUTH, uri=URI),
         r'parameters are mutually exclusive: auth\|uri'),
    Case('drive-unknown', 'vm_payload', vm([secret()], drive='second'),
         r'value of drive must be one of: dedicated, replace, got: second'),
    Case('state-unknown', 'vm_payload', vm([secret()], state='gone'),
         r'value of state must be one of: present, absent, got: gone'),
    Case('restart-not-a-bool', 'vm_run_once_payload', vm([secret()], restart='maybe'),
         r"argument 'restart' is of type str and we were unable to convert to bool"),
    Case('timeout-not-a-number', 'vm_run_once_payload', vm([secret()], timeout='soon'),
         r"argument 'timeout' is of type str and we were unable to convert to int"),
    Case('include-content-not-a-bool', 'vm_payload_info', vm(include_content='perhaps'),
         r"argument 'include_content' is of type str and we were unable to convert to bool"),
    Case('ovirt-target', 'vm_payload', dict(vm([secret()]), auth=OVIRT_AUTH, target='hdc'),
         r'target is a libvirt option; the oVirt engine gives a payload a drive of its own', 'target'),
    Case('ovirt-binary-content', 'vm_payload',
         dict(vm([{'name': 'blob', 'content_b64': base64.b64encode(CONTENT.encode() + b'\xff\xfe').decode()}]),
              auth=OVIRT_AUTH),
         r'file "blob": oVirt carries payload content as text only, and this file is not UTF-8 text \(byte offset '
         r'%d\)' % len(CONTENT), 'files', 'blob'),
    Case('ovirt-xml-illegal-character', 'vm_payload',
         dict(vm([secret(), {'name': 'ctl', 'content': MARKER + '\x01'}]), auth=OVIRT_AUTH),
         r'file "ctl": oVirt carries payload content as XML text, and this file has a character XML 1.0 cannot '
         r'carry .* at byte offset %d' % len(MARKER), 'files', 'ctl'),
    Case('ovirt-over-engine-payload-size', 'vm_run_once_payload',
         dict(vm([secret()]), auth=OVIRT_AUTH, engine_payload_size=16),
         r'file "secret.txt": Payload is limited to 0K \(%d UTF-16 code units of text; the limit is 16\)'
         % len(CONTENT), 'files', 'secret.txt'),
    Case('ovirt-reserved-directory', 'vm_payload', dict(vm([secret('vmpayload-restore/x')]), auth=OVIRT_AUTH),
         r'file "vmpayload-restore/x": the directory vmpayload-restore is reserved on oVirt', 'files',
         'vmpayload-restore/x'),
    Case('ovirt-auth-without-credentials', 'vm_payload',
         dict(vm([secret()]), auth={'url': 'https://engine.invalid/ovirt-engine/api', 'password': MARKER}),
         r'auth needs a token, or username and password', 'auth'),
    # -- payload_pool ------------------------------------------------------------------------------------
    Case('pool-path-relative', 'payload_pool', {'name': POOL, 'path': 'relative/pool'},
         r"path must be absolute, not 'relative/pool'", 'path'),
    Case('pool-mode-not-octal', 'payload_pool', {'name': POOL, 'path': '/var/lib/vmpayload/pool', 'mode': 'rwx'},
         r"mode must be an octal number such as 0750, not 'rwx'", 'mode'),
    Case('pool-mode-out-of-range', 'payload_pool', {'name': POOL, 'path': '/var/lib/vmpayload/pool', 'mode': '4750'},
         r"mode '4750' is out of range: libvirt manages the permission bits 0000 to 0777 only", 'mode'),
    Case('pool-other-path', 'payload_pool', {'name': POOL, 'path': INPUTS},
         r'storage pool vmpayload on qemu:///system has the directory /var/lib/vmpayload/pool, not [^;]*; nothing '
         r'was changed'),
    Case('pool-path-taken', 'payload_pool', {'name': 'vmpayload-no-such-pool-5e2c', 'path': '/var/lib/vmpayload/pool'},
         r'/var/lib/vmpayload/pool is already the directory of storage pool vmpayload on qemu:///system; nothing was '
         r'changed'),
    Case('pool-present-without-path', 'payload_pool', {'name': POOL},
         r'state is present but all of the following are missing: path'),
    Case('pool-owner-not-a-number', 'payload_pool', {'name': POOL, 'path': '/var/lib/vmpayload/pool', 'owner': 'root'},
         r"argument 'owner' is of type str and we were unable to convert to int"),
    # -- filters ---------------------------------------------------------------------------------------------
    Case('filter-b64decode-illegal-char', 'filter:payload_b64decode', {'input': CONTENT_B64[:12] + '*' + CONTENT_B64[13:]},
         r'payload_b64decode.*the input is not valid base64: character at offset 12 is not in the base64 alphabet'),
    Case('filter-b64decode-truncated', 'filter:payload_b64decode', {'input': CONTENT_B64[:-2]},
         r'the input is not valid base64: length of \d+ base64 characters is not a multiple of 4'),
    Case('filter-b64decode-not-utf8', 'filter:payload_b64decode',
         {'input': base64.b64encode(CONTENT.encode() + b'\xc3\x28').decode()},
         r'the base64 decodes to bytes that are not utf-8 text: invalid UTF-8 at byte offset %d of the decoded '
         r'bytes' % len(CONTENT)),
    Case('filter-b64decode-not-a-string', 'filter:payload_b64decode', {'input': [CONTENT_B64]},
         r'the input must be base64 text \(a string\), not a list'),
    Case('filter-b64decode-unknown-encoding', 'filter:payload_b64decode',
         {'input': CONTENT_B64, 'kwargs': {'encoding': 'x-bogus'}},
         r'encoding "x-bogus" is not a text encoding Python knows'),
    Case('filter-b64decode-wrong-encoding', 'filter:payload_b64decode',
         {'input': base64.b64encode(CONTENT.encode('utf-16-le') + b'\x00').decode(), 'kwargs': {'encoding': 'utf-16-le'}},
         r'the base64 decodes to bytes that are not utf-16-le text: invalid utf-16-le at byte offset \d+'),
    Case('filter-b64encode-not-a-string', 'filter:payload_b64encode', {'input': {'secret': MARKER}},
         r'the input must be text \(a string\), not a mapping'),
    Case('filter-b64encode-unencodable', 'filter:payload_b64encode',
         {'input': CONTENT + '\u20ac', 'kwargs': {'encoding': 'latin-1'}},
         r'the text cannot be encoded as latin-1: the character at offset %d has no form in latin-1' % len(CONTENT)),
    Case('filter-b64encode-non-text-codec', 'filter:payload_b64encode',
         {'input': CONTENT, 'kwargs': {'encoding': 'base64'}},
         r'encoding "base64" is not a text encoding Python knows'),
    Case('filter-b64encode-encoding-not-a-string', 'filter:payload_b64encode',
         {'input': CONTENT, 'kwargs': {'encoding': 8}},
         r'encoding must be the name of a text encoding such as utf-8, not a number'),
    Case('filter-files-not-a-mapping', 'filter:payload_files', {'input': [CONTENT]},
         r'the input must be a mapping of file name to content, not a list'),
    Case('filter-files-value-not-content', 'filter:payload_files', {'input': {'a.txt': [CONTENT]}},
         r'the value of "a.txt" is a list: give text, bytes, or a mapping with one of content, content_b64, src'),
    Case('filter-files-unknown-key', 'filter:payload_files', {'input': {'a.txt': {'text': CONTENT}}},
         r'the value of "a.txt" has unknown key\(s\) text'),
    Case('filter-files-two-contents', 'filter:payload_files',
         {'input': {'a.txt': {'content': CONTENT, 'content_b64': CONTENT_B64}}},
         r'the value of "a.txt" must give exactly one of content, content_b64, src \(got content, content_b64\)'),
    Case('filter-files-int-key', 'filter:payload_files', {'input': CONTENT, 'expression': '{1: data}'},
         r'file names must be strings; the key 1 is a number \(quote it\)'),
    Case('filter-digest-bad-device', 'filter:payload_digest', {'input': [secret()], 'kwargs': {'device': 'dvd'}},
         r'device must be one of cdrom, floppy, not "dvd"'),
    Case('filter-digest-bad-preset', 'filter:payload_digest', {'input': [secret()], 'kwargs': {'preset': 'ignition'}},
         r'preset must be one of nocloud, configdrive, sysprep, not "ignition"'),
    Case('filter-digest-bad-label', 'filter:payload_digest',
         {'input': [secret()], 'kwargs': {'device': 'floppy', 'label': 'twelve-chars'}},
         r'label "twelve-chars" is not a valid FAT volume label'),
    Case('filter-digest-duplicate', 'filter:payload_digest', {'input': [secret('a'), secret('a')]},
         r'files\[1\] "a": name is given twice as files\[0\]'),
    Case('filter-digest-bad-b64', 'filter:payload_digest', {'input': {'bad.bin': {'content_b64': CONTENT_B64[:-1]}}},
         r'files\[0\] "bad.bin": content_b64 is not valid base64: length of \d+'),
    Case('filter-digest-not-a-list', 'filter:payload_digest', {'input': CONTENT},
         r'files must be a non-empty list'),
]
BATCHES = ('libvirt', 'image', 'filters')
# Each batch runs its cases on this many lanes at once (the machines this runs on have two cores).
LANES = 2


def test_the_table_has_sixty_distinct_kinds():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60
    assert {case.target for case in CASES} >= {
        'payload_image', 'vm_payload', 'vm_run_once_payload', 'vm_payload_info', 'payload_pool',
        'filter:payload_b64encode', 'filter:payload_b64decode', 'filter:payload_files', 'filter:payload_digest'}


# -- running the cases ----------------------------------------------------------------------------------------

CALLBACK = '''
from __future__ import annotations

import json
import os

from ansible.parsing.ajson import AnsibleJSONEncoder
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: case_results
type: aggregate
short_description: Every task's result, by task name, as JSON in the file CASE_RESULTS names
description: [The bad-input fault suite reads it.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'case_results'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.results = {}

    def _record(self, result, status):
        self.results[result._task.get_name()] = dict(result._result, _status=status, _host=result._host.get_name())

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        # Each case runs on one lane (host) and is skipped on the others: keep the lane's result.
        self.results.setdefault(result._task.get_name(), dict(result._result, _status='skipped'))

    def v2_playbook_on_stats(self, stats):
        with open(os.environ['CASE_RESULTS'], 'w', encoding='utf-8') as stream:
            json.dump(self.results, stream, cls=AnsibleJSONEncoder)
'''


def _substitute(value, places):
    if isinstance(value, str):
        for placeholder, actual in places.items():
            value = value.replace(placeholder, actual)
        return value
    if isinstance(value, dict):
        return {key: _substitute(item, places) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, places) for item in value]
    return value


def _task(case, places):
    common = {'name': case.id, 'ignore_errors': True, 'check_mode': case.check_mode}
    if case.target.startswith('filter:'):
        kwargs = case.args.get('kwargs', {})
        call = ', '.join('%s=kw_%s' % (key, key) for key in kwargs)
        expression = case.args.get('expression', 'data')
        # The input travels in task variables, never in the template text that error messages quote.
        variables = dict({'kw_%s' % key: value for key, value in kwargs.items()}, data=case.args['input'])
        msg = '{{ %s | vmpayload.core.%s%s }}' % (expression, case.target.split(':', 1)[1], '(%s)' % call if call else '')
        return dict(common, vars=variables, **{'ansible.builtin.debug': {'msg': msg}})
    return dict(common, **{'vmpayload.core.%s' % case.target: _substitute(case.args, places)})


def _run_batch(tmp, name, cases, places):
    """Run ``cases`` in one ansible-playbook -vvv; return it and {case id: result}.

    The cases are dealt round-robin to LANES names for the local host, which the free strategy runs side by
    side; each case runs on its own lane and is skipped, on the controller, on the others.
    """
    tasks = [dict(_task(case, places), when="inventory_hostname == 'lane%d'" % (number % LANES))
             for number, case in enumerate(cases)]
    playbook = tmp / ('%s.yml' % name)
    # JSON is YAML; json.dumps escapes what YAML could not carry (NUL, U+FFFE) as \\u escapes.
    playbook.write_text(json.dumps([{'hosts': 'lanes', 'gather_facts': False, 'strategy': 'free', 'tasks': tasks}]))
    inventory = tmp / 'lanes.ini'
    lanes = ['lane%d ansible_connection=local ansible_python_interpreter=%s\n' % (lane, sys.executable)
             for lane in range(LANES)]
    inventory.write_text('[lanes]\n' + ''.join(lanes))
    results = tmp / ('%s.results.json' % name)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0',
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default', ANSIBLE_CALLBACK_PLUGINS=str(tmp / 'callbacks'),
               ANSIBLE_CALLBACKS_ENABLED='case_results', ANSIBLE_VERBOSE_TO_STDERR='1', ANSIBLE_PIPELINING='1',
               CASE_RESULTS=str(results))
    command = [str(BIN / 'ansible-playbook'), '-vvv', '-i', str(inventory), '--forks', str(LANES), str(playbook)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert results.exists(), 'ansible-playbook exited %d without results:\n%s\n%s' % (
        done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    return done, json.loads(results.read_text(encoding='utf-8'))


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _define(tmp, name):
    dom_uuid = str(uuid.uuid4())
    definition = tmp / ('%s.xml' % name)
    # With its own UUID, a definition tried again after a daemon restart is the same domain.
    definition.write_text(
        "<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % (name, dom_uuid))
    _virsh('define', str(definition))
    return dom_uuid


def _snapshot(world):
    """Everything a refused input must leave as it was, byte for byte."""
    state = {}
    for domain in world['domains']:
        state['%s persistent XML' % domain] = _virsh('dumpxml', '--inactive', '--security-info', domain).stdout
        state['%s live XML' % domain] = _virsh('dumpxml', '--security-info', domain).stdout
        state['%s state' % domain] = _virsh('domstate', domain).stdout
    volumes = {}
    _virsh('pool-refresh', POOL)
    for line in _virsh('vol-list', POOL).stdout.splitlines():
        if not line.strip():
            continue
        volume, path = line.split()[0], line.split()[-1]
        owner = PAYLOAD_VOLUME.match(volume)
        # Other suites on this machine stage and remove payloads of their own domains in the same pool meanwhile:
        # every other volume is compared, those of this suite's domains, and any not named as a payload's.
        if owner and owner.group(1) not in world['uuids']:
            continue
        try:
            volumes[volume] = (path, _file_sha256(path))
        except FileNotFoundError:
            volumes[volume] = (path, 'removed while it was read')
    dest = Path(world['dest'])
    state.update({
        'pool definition': _virsh('pool-dumpxml', '--inactive', POOL).stdout,
        'pool volumes and their bytes': volumes,
        'dest bytes': _file_sha256(dest),
        'dest mode': stat.filemode(dest.stat().st_mode),
        'names in the directory of dest': sorted(os.listdir(dest.parent)),
        'names in the inputs directory': sorted(os.listdir(world['inputs'])),
    })
    return state


@pytest.fixture(scope='module')
def world(pool, tmp_path_factory):  # noqa: F811 (the pool fixture of test_user_playbooks)
    """Two defined, shut-off domains, one with a payload already staged in the real pool; an existing image at
    dest; the inputs the src and dest cases point at. Then every batch, with a snapshot before and after."""
    tmp = tmp_path_factory.mktemp('bad-input')
    (tmp / 'callbacks').mkdir()
    (tmp / 'callbacks' / 'case_results.py').write_text(CALLBACK)
    inputs = tmp / 'inputs'
    inputs.mkdir()
    (inputs / 'secret.txt').write_text(CONTENT)
    os.mkfifo(inputs / 'fifo')
    os.symlink('loop', inputs / 'loop')
    with open(inputs / 'two-mib.bin', 'wb') as stream:
        stream.write(CONTENT.encode() * (2 * 1024 * 1024 // len(CONTENT)))
    images = tmp / 'images'
    images.mkdir()
    dest = images / 'seed.iso'
    run = uuid.uuid4().hex[:8]
    seeded, bare = 'vmpayload-badinput-%s-seeded' % run, 'vmpayload-badinput-%s-bare' % run
    defined = {}
    world = dict(domains=(seeded, bare), uuids=defined.values(), dest=str(dest), inputs=str(inputs), tmp=tmp)
    try:
        for name in (seeded, bare):
            defined[name] = _define(tmp, name)
        places = {DEST: str(dest), INPUTS: str(inputs), DOMAIN: seeded, DOMAIN_UUID: defined[seeded], BARE: bare}
        # What the refused runs must not touch: a payload staged on a domain, an image at dest.
        setup = [Case('setup-vm-payload', 'vm_payload', vm(nocloud(), preset='nocloud'), ''),
                 Case('setup-image', 'payload_image', image(nocloud(), preset='nocloud', mode='0640'), '')]
        done, results = _run_batch(tmp, 'setup', setup, places)
        for case in setup:
            assert results[case.id]['_status'] == 'ok', (results[case.id], done.stdout[-3000:])
        assert stat.S_IMODE(dest.stat().st_mode) == 0o640
        world['batches'] = {}
        for batch in BATCHES:
            cases = [case for case in CASES if case.batch == batch]
            before = _snapshot(world)
            done, results = _run_batch(tmp, batch, cases, places)
            world['batches'][batch] = dict(before=before, after=_snapshot(world), results=results,
                                           stdout=done.stdout, stderr=done.stderr)
        yield world
    finally:
        for line in _virsh('vol-list', POOL, check=False).stdout.splitlines():
            if any(line.strip().startswith('vmpayload-%s-' % dom_uuid) for dom_uuid in defined.values()):
                _virsh('vol-delete', '--pool', POOL, line.split()[0], check=False)
        for name in defined:
            _virsh('undefine', name, check=False)


@pytest.mark.parametrize('case', [pytest.param(case, id=case.id) for case in CASES])
def test_bad_input_is_refused_naming_option_file_and_reason(world, case):
    result = world['batches'][case.batch]['results'].get(case.id)
    assert result is not None, 'no result for %s' % case.id
    shown = json.dumps(result, ensure_ascii=False)
    assert result['_status'] == 'failed', 'not refused: %s' % shown
    assert not result.get('changed'), shown
    msg = result.get('msg', '')
    assert re.search(case.expect, msg), 'message does not match %r:\n%s' % (case.expect, msg)
    assert not RAW.search(msg), 'a raw exception in the message: %s' % msg
    assert 'MODULE FAILURE' not in msg and 'module_stdout' not in result and 'module_stderr' not in result, shown
    for leak in LEAKS:
        assert leak not in shown, 'content (%s) in the result: %s' % (leak, shown)
    for mask in MASKS:
        assert mask not in msg, 'content, masked by Ansible, in the message: %s' % msg
    if not case.target.startswith('filter:'):
        assert result.get('exception', '(traceback unavailable)') == '(traceback unavailable)', shown
    if case.option is not None:
        assert result.get('option') == case.option, shown
    if case.file is not None:
        assert result.get('file') == case.file, shown


@pytest.mark.parametrize('batch', BATCHES)
def test_refused_inputs_leave_domain_pool_and_dest_byte_identical(world, batch):
    before, after = world['batches'][batch]['before'], world['batches'][batch]['after']
    for key in before:
        assert after[key] == before[key], '%s changed during the %s batch' % (key, batch)


@pytest.mark.parametrize('batch', BATCHES)
def test_no_content_in_verbose_output(world, batch):
    outcome = world['batches'][batch]
    for stream in ('stdout', 'stderr'):
        for leak in LEAKS:
            assert leak not in outcome[stream], 'content in %s of ansible-playbook -vvv (%s batch)' % (stream, batch)
    assert 'Traceback (most recent call last)' not in outcome['stdout'] + outcome['stderr']
