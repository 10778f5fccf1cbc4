# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Property: any valid payload round-trips through its writer and an external reader.

Names come from a safe alphabet with punctuation and some Unicode (non-BMP on CD-ROM only: mtools
cannot print it), nested up to four levels; contents are random bytes given inline, as base64 or as a ``src``
file. The CD-ROM image is read back with xorriso (Rock Ridge and Joliet trees), the floppy image
with mcopy after fsck.vfat has checked it.
"""

from __future__ import annotations

import base64
import os
import tempfile

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

BASE_ALPHABET = "abcXYZ019-_!#&'()+,=@[]~\u00e9\u00fc\u00df\u00f8\u00f1\u00c5\u0416\u0436\u03a9\u4e2d\u6587"
ALPHABETS = {'cdrom': BASE_ALPHABET + '\U0001F600\U0001F680', 'floppy': BASE_ALPHABET}
LABELS = {'cdrom': [None, 'cidata', 'config-2', 'OEMDRV', 'a.b_c-1'],
          'floppy': [None, 'cidata', 'config-2', 'OEMDRV', 'x']}
DEVICES = ('cdrom', 'floppy')
# 30 per device keeps the suite quick; raise it for a longer hunt (500 per device takes ~80 s).
EXAMPLES = int(os.environ.get('VMPAYLOAD_PROPERTY_EXAMPLES', '30'))
# Entries whose names clash with earlier ones are dropped (and checked to be refused); at most this share.
MAX_DROPPED_SHARE = 1 / 3


@st.composite
def payloads(draw, device):
    """(entries kept, label, entries dropped): entries are (name, bytes, kind).

    An entry is dropped only when this test's own rules say its name cannot sit beside the ones
    kept so far (``conflict``); the model is never asked while drawing.
    """
    core = st.text(ALPHABETS[device], min_size=1, max_size=8)
    # Inner spaces and dots are allowed everywhere; leading/trailing ones are not on FAT.
    segment = st.one_of(core, st.builds(lambda a, mid, b: a + mid + b, core, st.sampled_from([' ', '.', ' . ']),
                                        core))
    path = st.lists(segment, min_size=1, max_size=4).map('/'.join)
    contents = st.one_of(st.binary(max_size=64), st.binary(min_size=1000, max_size=20000))
    drawn = draw(st.lists(st.tuples(path, contents, st.sampled_from(['content', 'content_b64', 'src'])),
                          min_size=1, max_size=8))
    label = draw(st.sampled_from(LABELS[device]))
    kept, dropped = [], []
    for name, data, kind in drawn:
        rule = conflict([entry[0] for entry in kept], name, device)
        if rule is None:
            kept.append((name, data, kind))
        else:
            dropped.append((len(kept), name, rule))
    return kept, label, dropped


def conflict(names, name, device):
    """Why ``name`` cannot join ``names`` in one image, or None: the file-system rules, stated here.

    A name is given once; FAT does not tell upper from lower case, so there names equal but for case
    are one name, and a directory must be spelled one way; a name cannot be both a file and a directory.
    (The drawn names break no rule of a single name: the alphabet and the segment shapes see to that.)
    """
    def same(a, b):
        return a.casefold() == b.casefold() if device == 'floppy' else a == b

    parts = name.split('/')
    mine = ['/'.join(parts[:depth]) for depth in range(1, len(parts))]
    for other in names:
        other_parts = other.split('/')
        theirs = ['/'.join(other_parts[:depth]) for depth in range(1, len(other_parts))]
        if same(name, other):
            return 'given twice'
        if any(same(name, directory) for directory in theirs) or any(same(directory, other) for directory in mine):
            return 'file and directory'
        if any(same(a, b) and a != b for a in mine for b in theirs):
            return 'directory spelled two ways'
    return None


def _specs(entries, directory):
    """The files option for ``entries``; ``src`` contents are written to files in ``directory``."""
    specs = []
    for index, (name, data, kind) in enumerate(entries):
        if kind == 'content':
            try:
                specs.append({'name': name, 'content': data.decode('utf-8')})
                continue
            except UnicodeDecodeError:
                kind = 'content_b64'
        if kind == 'content_b64':
            specs.append({'name': name, 'content_b64': base64.b64encode(data).decode('ascii')})
        else:
            path = os.path.join(directory, 'src-%d.bin' % index)
            with open(path, 'wb') as stream:
                stream.write(data)
            specs.append({'name': name, 'src': path})
    return specs


def expected_tree(entries):
    """(files: {name: bytes}, directories) straight from the drawn entries, not from the model."""
    files = {name: data for name, data, kind in entries}
    directories = set()
    for name in files:
        parts = name.split('/')
        directories.update('/'.join(parts[:depth]) for depth in range(1, len(parts)))
    return files, directories


@pytest.mark.parametrize('device', DEVICES)
def test_random_payloads_round_trip_through_writer_and_external_reader(image_readers, device):
    counts = {'drawn': 0, 'dropped': 0}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payloads(device))
    def round_trip(drawn):
        entries, label, dropped = drawn
        counts['drawn'] += len(entries) + len(dropped)
        counts['dropped'] += len(dropped)
        names = [entry[0] for entry in entries]
        # What this test drops, the model refuses too (and for the same reason: a name clash).
        for kept_then, name, rule in dropped:
            event('dropped: %s' % rule)
            with pytest.raises(PayloadValidationError, match='same name|given twice|cannot also be a directory'):
                parse_payload([{'name': n, 'content': ''} for n in names[:kept_then] + [name]],
                              device=device, label=label)
        expected_files, expected_dirs = expected_tree(entries)
        with tempfile.TemporaryDirectory() as tmp:
            # What this test keeps, the model must take: a valid input refused fails here.
            payload = parse_payload(_specs(entries, tmp), device=device, label=label)
            image = os.path.join(tmp, 'payload.img')
            writer_for(device).write(payload, image)
            if device == 'cdrom':
                trees = [image_readers.xorriso_extract(image, os.path.join(tmp, 'rr')),
                         image_readers.xorriso_extract(image, os.path.join(tmp, 'joliet'), joliet=True)]
                assert image_readers.isoinfo_d(image)['fields']['Volume id'] == (label or '')
            else:
                code, problems, clusters = image_readers.fsck_vfat(image)
                assert (code, problems) == (0, [])
                trees = [image_readers.mcopy_extract(image, os.path.join(tmp, 'fat'))]
            for tree in trees:
                found_files, found_dirs = image_readers.read_tree(tree)
                image_readers.chmod_tree_writable(tree)
                assert sorted(found_files) == sorted(expected_files)
                assert found_files == expected_files
                assert found_dirs == expected_dirs

    round_trip()
    # Dropped entries are counted: a strategy that drew mostly clashes would test almost nothing.
    assert counts['drawn'] and counts['dropped'] <= counts['drawn'] * MAX_DROPPED_SHARE, counts
