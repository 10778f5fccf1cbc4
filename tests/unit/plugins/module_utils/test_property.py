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
from hypothesis import HealthCheck, given, settings
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


@st.composite
def payloads(draw, device):
    core = st.text(ALPHABETS[device], min_size=1, max_size=8)
    # Inner spaces and dots are allowed everywhere; leading/trailing ones are not on FAT.
    segment = st.one_of(core, st.builds(lambda a, mid, b: a + mid + b, core, st.sampled_from([' ', '.', ' . ']),
                                        core))
    path = st.lists(segment, min_size=1, max_size=4).map('/'.join)
    contents = st.one_of(st.binary(max_size=64), st.binary(min_size=1000, max_size=20000))
    entries = draw(st.lists(st.tuples(path, contents, st.sampled_from(['content', 'content_b64', 'src'])),
                            min_size=1, max_size=8))
    label = draw(st.sampled_from(LABELS[device]))
    files = []
    for name, data, kind in entries:
        if kind == 'content':
            try:
                spec = {'name': name, 'content': data.decode('utf-8')}
            except UnicodeDecodeError:
                kind = 'content_b64'
        if kind == 'content_b64':
            spec = {'name': name, 'content_b64': base64.b64encode(data).decode('ascii')}
        elif kind == 'src':
            spec = {'name': name, 'src': data}  # written to a file by the test
        try:  # keep only names that stay valid beside the ones kept so far (collisions, case)
            parse_payload([dict(s, src=None, content='') if 'src' in s else s for s in files + [spec]],
                          device=device, label=label)
        except PayloadValidationError:
            continue
        files.append(spec)
    return files, label


def _materialise(files, directory):
    """Write ``src`` contents to files on disk and point the specs at them."""
    out = []
    for index, spec in enumerate(files):
        if 'src' in spec:
            path = os.path.join(directory, 'src-%d.bin' % index)
            with open(path, 'wb') as stream:
                stream.write(spec['src'])
            spec = dict(spec, src=path)
        out.append(spec)
    return out


@pytest.mark.parametrize('device', DEVICES)
def test_random_payloads_round_trip_through_writer_and_external_reader(image_readers, device):

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payloads(device))
    def round_trip(drawn):
        files, label = drawn
        with tempfile.TemporaryDirectory() as tmp:
            files = _materialise(files, tmp)
            payload = parse_payload(files, device=device, label=label)
            expected_files, expected_dirs = image_readers.expected_tree(payload)
            image = os.path.join(tmp, 'payload.img')
            writer_for(device).write(payload, image)
            if device == 'cdrom':
                trees = [image_readers.xorriso_extract(image, os.path.join(tmp, 'rr')),
                         image_readers.xorriso_extract(image, os.path.join(tmp, 'joliet'), joliet=True)]
                assert image_readers.isoinfo_d(image)['fields']['Volume id'] == (payload.label or '')
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
