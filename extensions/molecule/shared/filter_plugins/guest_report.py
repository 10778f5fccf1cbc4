# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Test-only filters for the Molecule scenarios: read the test guest's console report and say what
the guest should have seen.

The guest (tests/guest/init) prints, between ``VMPAYLOAD BEGIN`` and ``VMPAYLOAD END``:
``VMPAYLOAD MEDIUM <device> <fstype> <label>``, ``VMPAYLOAD FILE <device> <sha256> <path>`` and
``VMPAYLOAD EMPTY <device>``. The expectation is computed here from the payload spec as the
playbook sent it (content, content_b64 or src), never from what the modules return.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata

from ansible.errors import AnsibleFilterError

DOCUMENTATION = ''


def guest_report(console_b64):
    """Parse a console log (as slurp returns it, base64) into a dict.

    ``complete``: both BEGIN and END were seen; ``media``: one dict per mounted medium, in the
    order printed, with ``device``, ``fstype``, ``label`` and ``files`` (``name``, ``sha256``,
    sorted by name); ``empty``: devices that held no mountable medium; ``lines``: the report's
    lines as printed (for messages).
    """
    try:
        raw = base64.b64decode(console_b64)
    except (binascii.Error, TypeError) as exc:
        raise AnsibleFilterError('guest_report expects the base64 content of the console log: %s' % exc)
    text = raw.decode('utf-8', errors='replace')
    began = ended = False
    media = []
    by_device = {}
    empty = []
    lines = []
    for line in text.splitlines():
        line = line.rstrip('\r')
        if line == 'VMPAYLOAD BEGIN':
            # A log holds one boot; should it hold more, the last report wins.
            began, ended, media, by_device, empty, lines = True, False, [], {}, [], []
            continue
        if not began or ended or not line.startswith('VMPAYLOAD '):
            continue
        if line == 'VMPAYLOAD END':
            ended = True
            continue
        lines.append(line)
        kind, space, rest = line[len('VMPAYLOAD '):].partition(' ')
        if kind == 'MEDIUM':
            device, fstype, label = (rest.split(' ', 2) + ['', ''])[:3]
            medium = dict(device=device, fstype=fstype, label=label, files=[])
            media.append(medium)
            by_device[device] = medium
        elif kind == 'FILE':
            device, sha256, path = (rest.split(' ', 2) + ['', ''])[:3]
            by_device.setdefault(device, dict(device=device, fstype='?', label='?', files=[]))
            by_device[device]['files'].append(dict(name=path, sha256=sha256))
        elif kind == 'EMPTY':
            empty.append(rest)
    for medium in media:
        medium['files'].sort(key=lambda f: f['name'])
    return dict(complete=began and ended, media=media, empty=empty, lines=lines)


def expected_files(files):
    """The ``name``/``size``/``sha256`` list of a payload spec's ``files``, sorted by name.

    Names are normalised to NFC as the collection promises; sha256 is taken of the bytes sent:
    ``content`` as UTF-8, ``content_b64`` decoded, ``src`` read from disk (the scenarios run on the
    hypervisor host, so the controller sees the same file).
    """
    if not isinstance(files, list):
        raise AnsibleFilterError('expected_files expects the payload spec list of files')
    result = []
    for entry in files:
        if 'content' in entry and entry['content'] is not None:
            data = str(entry['content']).encode('utf-8')
        elif 'content_b64' in entry and entry['content_b64'] is not None:
            data = base64.b64decode(''.join(str(entry['content_b64']).split()))
        elif 'src' in entry and entry['src'] is not None:
            with open(entry['src'], 'rb') as source:
                data = source.read()
        else:
            raise AnsibleFilterError('file %r has no content, content_b64 or src' % entry.get('name'))
        result.append(dict(name=unicodedata.normalize('NFC', entry['name']), size=len(data),
                           sha256=hashlib.sha256(data).hexdigest()))
    return sorted(result, key=lambda f: f['name'])


def names_and_sizes(files):
    """A files list (the modules' results, or expected_files) as ``name``/``size`` only, sorted by name.

    The modules report each file's digest keyed with the host's key, which no one else can compute:
    the content itself is checked by what the guest read and by vm_payload_info's include_content.
    """
    return sorted((dict(name=entry['name'], size=entry['size']) for entry in files), key=lambda f: f['name'])


class FilterModule(object):
    def filters(self):
        return {
            'guest_report': guest_report,
            'expected_files': expected_files,
            'names_and_sizes': names_and_sizes,
        }
