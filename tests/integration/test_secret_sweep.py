# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The secret sweep: a marker in payload content, through every module, in every mode, at -vvv.

Each module runs with content that holds a marker (as text, as base64 and from a ``src`` file),
in check mode with diff, for real, again, and failing on a bad input next to the marker. The marker,
its base64, and the plain sha256 of every file that holds it must appear nowhere: not in the output
at ``-vvv``, not in any registered result (but vm_payload_info's, when it was asked for content), not
in the domain's definitions read with secrets (``--security-info``); and nowhere a read-only libvirt
connection reaches, not even as an unkeyed hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import libvirt
import pytest
from fault_helpers import POOL, active_pool, connect, run_play

from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

MARKER = 'SECRET-MARKER-%s' % uuid.uuid4().hex


@pytest.fixture
def domain():
    conn = connect()
    pool = active_pool(conn)
    dom = conn.defineXML(
        "<domain type='qemu'><name>vmp-sweep-%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % uuid.uuid4().hex[:8])
    yield dom
    if dom.isActive():
        dom.destroy()
    pool.refresh(0)
    for volume in pool.listVolumes():
        if volume.startswith('vmpayload-%s-' % dom.UUIDString()):
            pool.storageVolLookupByName(volume).delete(0)
    dom.undefine()
    conn.close()


def _files(src):
    """A payload holding the marker three ways: as text, as base64 bytes, and in a src file."""
    return [{'name': 'user-data', 'content': '#cloud-config\npassword: %s\n' % MARKER},
            {'name': 'meta-data', 'content': 'instance-id: sweep\n'},
            {'name': 'blob.bin', 'content_b64': base64.b64encode(b'\x00' + MARKER.encode() + b'\xff').decode()},
            {'name': 'from-src.txt', 'src': str(src)}]


def _marker_forms():
    return [MARKER, base64.b64encode(MARKER.encode()).decode()]


def _unkeyed_hashes(files):
    """Every unkeyed hash a guesser could compute from a guess of a file that holds the marker."""
    payload = parse_payload(files)
    hashes = [payload.digest, payload.digest[:16]]
    for f in payload.files:
        if f.name != 'meta-data':
            hashes.extend([f.sha256, f.sha256[:16]])
    return hashes


def _vm_tasks(domain_name, files):
    """(task, whether its registered result holds content by request) for every VM module and mode."""
    vm = {'name': domain_name, 'pool': POOL}
    bad = files + [{'name': '../escape', 'content': MARKER}]
    tasks = [({'vmpayload.core.vm_payload': dict(vm, files=files), 'check_mode': check, 'diff': True}, False)
             for check in (True, False, False)]
    tasks.append(({'vmpayload.core.vm_payload_info': dict(vm, expected={'files': files})}, False))
    tasks.append(({'vmpayload.core.vm_payload_info': dict(vm, include_content=True)}, True))
    for module, args in (('vm_payload', dict(vm, files=bad)), ('vm_payload_info', dict(vm, expected={'files': bad})),
                         ('vm_run_once_payload', dict(vm, files=bad))):
        tasks.append(({'vmpayload.core.%s' % module: args, 'ignore_errors': True}, False))
    tasks.extend(({'vmpayload.core.vm_run_once_payload': dict(vm, files=files), 'check_mode': check, 'diff': True}, False)
                 for check in (True, False))
    tasks.append(({'vmpayload.core.vm_payload': dict(vm, state='absent'), 'diff': True}, False))
    return tasks


def _image_tasks(files, image):
    bad = files + [{'name': '../escape', 'content': MARKER}]
    tasks = [({'vmpayload.core.payload_image': {'dest': str(image), 'files': files}, 'check_mode': check, 'diff': True},
              False) for check in (True, False, False)]
    tasks.append(({'vmpayload.core.payload_image': {'dest': str(image), 'files': bad}, 'ignore_errors': True}, False))
    return tasks


def _play(tmp_path, tasks, name):
    """Run the tasks at -vvv; their registered results and the whole output."""
    return run_play(tmp_path, [task for task, _holds_content in tasks], name, verbose=True, timeout=900)


def _shown_in_results(tasks, results, forbidden):
    found = []
    for (task, holds_content), result in zip(tasks, results):
        # Content asked for is in the registered variable by design; the rest of that result is checked.
        shown = json.dumps({key: value for key, value in result.items() if not (holds_content and key == 'files')})
        found.extend((json.dumps(task)[:60], text) for text in forbidden if text in shown)
    return found


def test_no_vm_module_shows_a_secret_or_an_unkeyed_hash_of_it_anywhere(domain, tmp_path):
    src = tmp_path / 'secret.txt'
    src.write_text('token=%s\n' % MARKER)
    files = _files(src)
    tasks = _vm_tasks(domain.name(), files)
    results, output = _play(tmp_path, tasks, 'vm')

    # The sweep ran what it says: each task changed, matched, read back or failed as it should.
    assert [result.get('changed') for result in results[:3]] == [True, True, False]
    assert results[3]['matches_expected'] is True
    assert any(MARKER in f.get('content', '') for f in results[4]['files']), 'include_content did not read back'
    assert all(result.get('failed') and 'escape' in result['msg'] for result in results[5:8]), results[5:8]
    assert [result.get('changed') for result in results[8:]] == [True, True, True]
    assert '--- before' in output and '+++ after' in output, 'no diff was shown'

    forbidden = _marker_forms() + _unkeyed_hashes(files)
    assert hashlib.sha256(src.read_bytes()).hexdigest() in forbidden
    assert not [text for text in forbidden if text in output], 'shown at -vvv'
    assert not _shown_in_results(tasks, results, forbidden)

    conn = connect()
    try:
        dom = conn.lookupByUUIDString(domain.UUIDString())
        secure = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
        secure += dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE) if dom.isActive() else ''
    finally:
        conn.close()
    assert 'vmpayload:payload' in secure, 'the run-once record is not in the running definition'
    assert not [text for text in forbidden if text in secure], 'in the domain XML'

    reader = connect(read_only=True)
    try:
        seen = [reader.lookupByUUIDString(domain.UUIDString()).XMLDesc(0)]
        pool = reader.storagePoolLookupByName(POOL)
        seen.extend(pool.listVolumes())
        seen.extend(secret.XMLDesc(0) for secret in reader.listAllSecrets(0))
    finally:
        reader.close()
    assert not [text for text in forbidden if text in '\n'.join(seen)], 'readable over a read-only connection'


def test_payload_image_never_shows_a_secret(tmp_path):
    """payload_image writes a local file (0600) and reports each file's sha256, as copy reports a checksum; the
    secret itself, as text or base64, appears nowhere."""
    src = tmp_path / 'secret.txt'
    src.write_text('token=%s\n' % MARKER)
    tasks = _image_tasks(_files(src), tmp_path / 'seed.iso')
    results, output = _play(tmp_path, tasks, 'image')
    assert [result.get('changed') for result in results[:3]] == [True, True, False]
    assert results[3].get('failed') and 'escape' in results[3]['msg']
    assert '--- before' in output
    assert not [text for text in _marker_forms() if text in output], 'shown at -vvv'
    assert not _shown_in_results(tasks, results, _marker_forms())
