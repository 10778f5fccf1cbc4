# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Keyed digests against the real libvirtd: nothing a read-only client sees lets it test a guess.

A payload holding a short password is staged; then everything a read-only connection can read
(the domain's definitions, the pool's volumes and their definitions) is searched for the plain
sha256 of the password and for the payload's canonical digest, whole or as the 16-digit prefix
volume names used to carry. The audit flow (vm_payload_info with ``expected``) still tells a VM
that has its payload from one that does not.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from xml.etree import ElementTree

import libvirt
import pytest
from fault_helpers import POOL, POOL_PATH, active_pool, connect, run_play

from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = 'urn:x-vmpayload:payload:1'
KEY_VOLUME = 'vmpayload-digest-key'
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))
PASSWORD = 'hunter2'
FILES = [{'name': 'password.txt', 'content': PASSWORD}, {'name': 'user-data', 'content': '#cloud-config\n'}]


@pytest.fixture
def make_domain(conn):
    """Defined, shut-off domains (no disk, no kernel: started, they sit in the firmware)."""
    made = []

    def make():
        name = 'vmp-keyed-%s' % uuid.uuid4().hex[:8]
        made.append(conn.defineXML(
            "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
            "<devices/></domain>" % name))
        return made[-1]

    yield make
    pool = conn.storagePoolLookupByName(POOL)
    for dom in made:
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            pass
        pool.refresh(0)
        for volume in pool.listVolumes():
            if volume.startswith('vmpayload-%s-' % dom.UUIDString()):
                pool.storageVolLookupByName(volume).delete(0)
        dom.undefine()


def _play(tmp_path, tasks, name='play'):
    """Run tasks on localhost at -vvv; each task's registered result, in order, and the output."""
    return run_play(tmp_path, tasks, '%s-%s' % (name, uuid.uuid4().hex[:6]), verbose=True)


def _vm_payload(domain, files=None, module='vm_payload', **extra):
    return {'vmpayload.core.%s' % module: dict({'name': domain.name(), 'pool': POOL,
                                                'files': FILES if files is None else files}, **extra)}


def _guesses():
    """What a guesser can compute from a guess: the plain digests, whole and as volume-name prefixes."""
    payload = parse_payload(FILES)
    plain = [hashlib.sha256(PASSWORD.encode()).hexdigest(), payload.digest] + [f.sha256 for f in payload.files]
    return plain + [digest[:16] for digest in plain]


def _download(conn, volume):
    stream = conn.newStream(0)
    volume.download(stream, 0, 0, 0)
    chunks = []
    stream.recvAll(lambda _stream, data, sink: sink.append(data), chunks)
    stream.finish()
    return b''.join(chunks)


def _read_only_view(domain_uuid):
    """Everything about the domain and the pool's volumes a read-only client can read; the key it cannot."""
    reader = connect(read_only=True)
    try:
        dom = reader.lookupByUUIDString(domain_uuid)
        texts = [dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)]
        if dom.isActive():
            texts.append(dom.XMLDesc(0))
        pool = reader.storagePoolLookupByName(POOL)
        for volume in pool.listVolumes():
            texts.append(volume)
            texts.append(pool.storageVolLookupByName(volume).XMLDesc(0))
        with pytest.raises(libvirt.libvirtError, match='read only access prevents virStorageVolDownload'):
            _download(reader, pool.storageVolLookupByName(KEY_VOLUME))
        return '\n'.join(texts)
    finally:
        reader.close()


def test_read_only_clients_see_no_digest_they_could_test_a_guess_against(conn, make_domain, tmp_path):
    permanent, once = make_domain(), make_domain()
    results, output = _play(tmp_path, [_vm_payload(permanent), _vm_payload(once, module='vm_run_once_payload')])
    assert all(result['changed'] for result in results)
    try:
        record = ElementTree.fromstring(conn.lookupByUUIDString(permanent.UUIDString()).XMLDesc(
            libvirt.VIR_DOMAIN_XML_INACTIVE)).find('metadata/{%s}payload' % NAMESPACE)
        assert record is not None and record.get('key'), 'the record does not name its key'
        view = _read_only_view(permanent.UUIDString()) + _read_only_view(once.UUIDString())
        assert 'vmpayload-%s-' % permanent.UUIDString() in view and 'vmpayload:payload' in view
        found = [guess for guess in _guesses() if guess in view]
        assert not found, 'a read-only client can test guesses against %s' % found
        # Task results reach job logs (AWX) that more people read than the payload's owner.
        assert not [guess for guess in _guesses() if guess in output]
        assert PASSWORD not in view and PASSWORD not in output
        # On the host, the key is root's alone: not QEMU's user's, whose processes read the pool's images.
        key_file = (POOL_PATH / KEY_VOLUME).stat()
        assert (key_file.st_uid, key_file.st_mode & 0o777) == (0, 0o600)
    finally:
        conn.lookupByUUIDString(once.UUIDString()).destroy()


def test_the_audit_tells_a_vm_with_its_payload_from_one_without(conn, make_domain, tmp_path):
    domain = make_domain()
    other = [{'name': 'password.txt', 'content': 'hunter3'}, FILES[1]]
    results, output = _play(tmp_path, [
        _vm_payload(domain),
        _vm_payload(domain),
        {'vmpayload.core.vm_payload_info': {'name': domain.name(), 'expected': {'files': FILES}}},
        {'vmpayload.core.vm_payload_info': {'name': domain.name(), 'expected': {'files': other}}},
        {'vmpayload.core.vm_payload_info': {'name': domain.name(), 'expected': {'files': FILES, 'label': 'cidata'}}},
    ])
    staged, again, same, different, relabelled = results
    assert (staged['changed'], again['changed']) == (True, False)
    assert same['matches_expected'] is True and same['expected_digest'] == same['digest'] == staged['digest']
    assert different['matches_expected'] is False and different['expected_digest'] != same['digest']
    assert relabelled['matches_expected'] is False
    assert same['digest_key'] == staged['digest_key'] and len(staged['digest_key']) == 16
    assert 'hunter3' not in output and PASSWORD not in output


def test_a_record_with_plain_digests_is_rewritten_keyed_once(conn, make_domain, tmp_path):
    domain = make_domain()
    _play(tmp_path, [_vm_payload(domain)])
    # As a release before keyed digests wrote it: the canonical digest, each file's sha256, no key.
    definition = ElementTree.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    record = definition.find('metadata/{%s}payload' % NAMESPACE)
    payload = parse_payload(FILES)
    record.set('digest', payload.digest)
    del record.attrib['key']
    for node, f in zip(record.findall('{%s}file' % NAMESPACE), payload.files):
        del node.attrib['digest']
        node.set('sha256', f.sha256)
    conn.defineXML(ElementTree.tostring(definition, encoding='unicode'))
    assert payload.digest in _read_only_view(domain.UUIDString())

    results, _output = _play(tmp_path, [_vm_payload(domain), _vm_payload(domain)])
    assert [result['changed'] for result in results] == [True, False]
    view = _read_only_view(domain.UUIDString())
    assert not [guess for guess in _guesses() if guess in view]


@pytest.fixture
def fresh_pool(conn, tmp_path):
    """A pool of its own, without a key yet (the shared pool's key stays: other tests' records use it)."""
    name = 'vmp-keyed-%s' % uuid.uuid4().hex[:8]
    yield active_pool(conn, name, tmp_path / 'pool')
    pool = conn.storagePoolLookupByName(name)
    pool.refresh(0)
    for volume in pool.listAllVolumes(0):
        volume.delete(0)
    pool.destroy()
    pool.undefine()


def test_concurrent_first_runs_agree_on_one_key(conn, make_domain, fresh_pool, tmp_path):
    """Forks staging payloads for many VMs into a pool that has no key yet store one key, not one each."""
    domains = [make_domain() for _index in range(4)]
    runs = []
    for index, domain in enumerate(domains):
        path = tmp_path / ('first-%d.yml' % index)
        task = _vm_payload(domain, pool=fresh_pool.name())
        path.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [task]}]))
        runs.append(subprocess.Popen([ANSIBLE_PLAYBOOK, '-i', 'localhost,', '-c', 'local',
                                      '-e', 'ansible_python_interpreter=%s' % sys.executable, str(path)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for run in runs:
        output, _errors = run.communicate(timeout=600)
        assert run.returncode == 0, output
    fresh_pool.refresh(0)
    assert KEY_VOLUME in fresh_pool.listVolumes()
    results, _output = _play(tmp_path, [_vm_payload(domain, pool=fresh_pool.name()) for domain in domains])
    assert [result['changed'] for result in results] == [False] * len(domains)
    assert len({result['digest_key'] for result in results}) == 1


def test_hosts_that_share_the_pool_directory_share_the_key(conn, make_domain, fresh_pool, tmp_path):
    """Another host's pool over the same directory (as NFS gives it) finds the key: records match there too."""
    domain = make_domain()
    (staged, elsewhere), _output = _play(tmp_path, [_vm_payload(domain, pool=fresh_pool.name()),
                                                    _vm_payload(make_domain())])
    # The key is the pool's, not the host's: the host's other pool (another directory) has its own.
    assert staged['digest_key'] != elsewhere['digest_key']
    path = ElementTree.fromstring(fresh_pool.XMLDesc(0)).findtext('target/path')
    fresh_pool.destroy()
    fresh_pool.undefine()
    # What a second host sees: a pool of another name, made over the directory, listing what is there.
    other = active_pool(conn, 'vmp-keyed-other-%s' % uuid.uuid4().hex[:8], path)
    try:
        (again,), _output = _play(tmp_path, [_vm_payload(domain, pool=other.name())])
        assert (again['changed'], again['digest_key']) == (False, staged['digest_key'])
        other.refresh(0)
        assert KEY_VOLUME in other.listVolumes()
    finally:
        other.destroy()
        other.undefine()
        active_pool(conn, fresh_pool.name(), path)
