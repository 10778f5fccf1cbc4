# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payload under stress, against the real libvirtd: concurrent plays, a daemon restart in the
middle of an upload, and a full storage pool."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from xml.etree import ElementTree
from pathlib import Path

import libvirt
import pytest

from fault_helpers import pool_volume

ROOT = Path(__file__).resolve().parents[2]
URI = 'qemu:///system'
POOL = 'vmpayload'
POOL_PATH = '/var/lib/vmpayload/pool'
NAMESPACE = 'urn:x-vmpayload:payload:1'
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name('ansible-playbook'))


def _connect():
    try:
        return libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for these tests (make test starts it): %s' % exc)


def _ensure_dir_pool(conn, name, path):
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        os.makedirs(path, exist_ok=True)
        pool = conn.storagePoolDefineXML(
            "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, path), 0)
    if not pool.isActive():
        pool.create(0)
    return pool


@pytest.fixture
def conn():
    connection = _connect()
    yield connection
    connection.close()


@pytest.fixture
def domain(conn):
    """A defined, shut-off domain that never boots: these tests look at definitions and volumes."""
    _ensure_dir_pool(conn, POOL, POOL_PATH)
    name = 'vmp-reliability-%s' % uuid.uuid4().hex[:8]
    dom = conn.defineXML(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % name)
    yield dom
    fresh = _connect()
    try:
        stale = fresh.lookupByName(name)
        pool = fresh.storagePoolLookupByName(POOL)
        pool.refresh(0)
        for volume in pool.listVolumes():
            if volume.startswith('vmpayload-%s-' % stale.UUIDString()):
                pool.storageVolLookupByName(volume).delete(0)
        stale.undefine()
    finally:
        fresh.close()


def _playbook(tmp_path, name, task):
    path = tmp_path / ('%s.yml' % name)
    path.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False,
                                 'tasks': [dict(task, register='outcome')]}]))
    return path


def _payload_files(marker, size=2 * 1024 * 1024, own_names=False):
    """The files of a payload (as the modules take them) and their bytes; ``own_names``: names carry the marker,
    so that a record's file names tell which of several payloads it holds."""
    blob = marker.encode() * (size // len(marker))
    names = ('blob-%s.bin' % marker, 'who-%s.txt' % marker) if own_names else ('blob.bin', 'who.txt')
    spec = [{'name': names[0], 'content_b64': base64.b64encode(blob).decode()},
            {'name': names[1], 'content': marker}]
    return spec, {names[0]: blob, names[1]: marker.encode()}


def _payload_task(domain_name, marker, size=2 * 1024 * 1024, pool=POOL, own_names=False):
    return {'vmpayload.core.vm_payload': {'name': domain_name, 'pool': pool,
                                          'files': _payload_files(marker, size, own_names)[0]}}


def _run(playbook, background=False):
    command = [ANSIBLE_PLAYBOOK, '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    if background:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def _state(conn, dom):
    """(record digest, volume the payload drive holds, this domain's payload volumes in the pool)."""
    definition = ElementTree.fromstring(conn.lookupByUUIDString(dom.UUIDString()).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    record = definition.find('metadata/{%s}payload' % NAMESPACE)
    drive = None
    for disk in definition.findall('devices/disk'):
        if disk.find('target').get('dev') == 'hdd':
            drive = pool_volume(disk, POOL, POOL_PATH)
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    volumes = sorted(v for v in pool.listVolumes() if v.startswith('vmpayload-%s-' % dom.UUIDString()))
    return (record.get('digest') if record is not None else None,
            record.get('volume') if record is not None else None, drive, volumes)


def _winner(conn, dom, candidates):
    """The payload (of ``candidates``, {marker: files}) whose file names the domain's record lists."""
    record = ElementTree.fromstring(conn.lookupByUUIDString(dom.UUIDString()).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE)).find('metadata/{%s}payload' % NAMESPACE)
    names = sorted(node.get('name') for node in record.findall('{%s}file' % NAMESPACE))
    sizes = {node.get('name'): int(node.get('size')) for node in record.findall('{%s}file' % NAMESPACE)}
    matching = [marker for marker, files in candidates.items() if sorted(files) == names]
    assert len(matching) == 1, 'the record lists %s, which is none of the payloads sent' % names
    assert sizes == {name: len(content) for name, content in candidates[matching[0]].items()}
    return matching[0]


def test_concurrent_plays_end_with_one_consistent_payload_and_no_orphan(conn, domain, tmp_path):
    """Two plays on one VM at once, three times: one payload wins whole. Consistent means: the record lists the
    winner's files, the drive holds the one volume left, and that volume, read back from libvirt, holds exactly the
    winner's files and bytes."""
    from fault_helpers import volume_files

    for round_number in range(3):
        markers = ('alpha-%d' % round_number, 'omega-%d' % round_number)
        plays = [_playbook(tmp_path, 'play-%d-%s' % (round_number, marker),
                           _payload_task(domain.name(), marker, own_names=True)) for marker in markers]
        processes = [_run(play, background=True) for play in plays]
        outputs = [process.communicate(timeout=600)[0] for process in processes]
        for process, output in zip(processes, outputs):
            assert process.returncode == 0, output
        digest, recorded_volume, drive_volume, volumes = _state(conn, domain)
        assert digest is not None
        assert recorded_volume == drive_volume
        assert volumes == [drive_volume], 'orphan or missing volume after round %d: %s' % (round_number, volumes)
        candidates = {marker: _payload_files(marker, own_names=True)[1] for marker in markers}
        won = _winner(conn, domain, candidates)
        assert volume_files(conn, drive_volume, tmp_path / ('read-back-%d' % round_number)) == candidates[won]


def _restart_libvirtd():
    """Stop libvirtd (killed if SIGTERM is not enough, as a crash would end it) and start it as make services does."""
    if not os.path.isdir('/run/systemd/system'):
        subprocess.run(['pkill', '-TERM', '-x', 'libvirtd'], check=False)
        for attempt in range(100):
            if subprocess.run(['pgrep', '-x', 'libvirtd'], capture_output=True, check=False).returncode != 0:
                break
            if attempt == 50:
                subprocess.run(['pkill', '-KILL', '-x', 'libvirtd'], check=False)
            time.sleep(0.1)
    else:
        subprocess.run(['systemctl', 'stop', 'libvirtd'], check=True)
    started = subprocess.run(['bash', str(ROOT / 'tests' / 'start-libvirt.sh')], capture_output=True, text=True,
                             check=False)
    if started.returncode != 0:
        pytest.fail('libvirtd did not come back: %s' % started.stderr)


def test_libvirtd_restart_during_upload_fails_clearly_and_next_run_converges(conn, domain, tmp_path):
    big = tmp_path / 'big.bin'
    with open(big, 'wb') as stream:
        for mebibyte in range(400):
            stream.write(os.urandom(1024 * 1024))
    task = {'vmpayload.core.vm_payload': {'name': domain.name(), 'files': [{'name': 'big.bin', 'src': str(big)}]}}
    play = _playbook(tmp_path, 'big', task)
    prefix = 'vmpayload-%s-' % domain.UUIDString()
    process = _run(play, background=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(name.startswith(prefix) for name in os.listdir(POOL_PATH)):
            break
        time.sleep(0.02)
    assert process.poll() is None, 'the run ended before its upload started: the test could not interrupt it'
    _restart_libvirtd()
    output = process.communicate(timeout=600)[0]
    assert process.returncode != 0, output
    assert 'libvirt' in output and 'Traceback' not in output, output

    fresh = _connect()
    try:
        retry = _run(play)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        digest, recorded_volume, drive_volume, volumes = _state(fresh, domain)
        assert recorded_volume == drive_volume and volumes == [drive_volume]
        again = _run(play)
        assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout
    finally:
        fresh.close()


@pytest.fixture
def tiny_pool(conn):
    """A storage pool on a 1 MiB tmpfs: too small for the payload."""
    path = '/var/lib/vmpayload/tiny-pool'
    os.makedirs(path, exist_ok=True)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', path], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.fail('cannot mount a tmpfs for the full-pool test: %s' % mounted.stderr)
    name = 'vmpayload-tiny-%s' % uuid.uuid4().hex[:6]
    pool = conn.storagePoolDefineXML(
        "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, path), 0)
    pool.create(0)
    yield name, path
    pool.destroy()
    pool.undefine()
    subprocess.run(['umount', path], check=True)


def test_full_pool_fails_clearly_and_leaves_the_domain_as_it_was(conn, domain, tiny_pool, tmp_path):
    pool_name, pool_path = tiny_pool
    before = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    play = _playbook(tmp_path, 'full',
                     _payload_task(domain.name(), 'too-big', size=3 * 1024 * 1024, pool=pool_name))
    outcome = _run(play)
    assert outcome.returncode != 0
    assert pool_name in outcome.stdout and 'Traceback' not in outcome.stdout, outcome.stdout
    assert conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before
    # The pool's digest key, stored before the first write, stays: it is the pool's, not the payload's.
    assert set(os.listdir(pool_path)) <= {'vmpayload-digest-key'}


def test_forks_staging_payloads_for_many_vms_in_one_pool_all_converge(conn, tmp_path):
    """Ansible's forks stage payloads for 20 VMs at once in one pool: every task succeeds, each VM ends
    with its one volume, and the second run changes nothing. (On a slow libvirtd this once failed: libvirt
    refuses a pool refresh while another fork creates a volume; the backend now waits that out.)"""
    _ensure_dir_pool(conn, POOL, POOL_PATH)
    names = ['vmp-reliability-forks-%s-%02d' % (uuid.uuid4().hex[:6], index) for index in range(20)]
    domains = [conn.defineXML(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % name) for name in names]
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'all': {'hosts': {name: {} for name in names}}}))
    blob = base64.b64encode(b'forks' * (2 * 1024 * 1024 // 5)).decode()
    playbook = tmp_path / 'forks.yml'
    playbook.write_text(json.dumps([{'hosts': 'all', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.vm_payload': {'name': '{{ inventory_hostname }}', 'pool': POOL,
                                       'files': [{'name': 'who.txt', 'content': '{{ inventory_hostname }}\n'},
                                                 # Uploads long enough to overlap other forks' volume creation.
                                                 {'name': 'blob.bin', 'content_b64': blob}]}}]}]))
    command = [ANSIBLE_PLAYBOOK, '-i', str(inventory), '-c', 'local', '--forks', '5',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    try:
        for expected_changed in (1, 0):
            completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
            assert completed.returncode == 0, completed.stdout + completed.stderr
            for name in names:
                assert re.search(r'^%s\s*:\s*ok=1\s+changed=%d\s+unreachable=0\s+failed=0' % (name, expected_changed),
                                 completed.stdout, re.M), completed.stdout
        from fault_helpers import volume_files

        for name, dom in zip(names, domains):
            digest, recorded_volume, drive_volume, volumes = _state(conn, dom)
            assert digest is not None and recorded_volume == drive_volume and volumes == [drive_volume]
            # What was sent for this VM, read back from its volume: no fork's upload went to another VM or astray.
            sent = {'who.txt': ('%s\n' % name).encode(), 'blob.bin': base64.b64decode(blob)}
            assert volume_files(conn, drive_volume, tmp_path / ('read-back-%s' % name)) == sent, name
    finally:
        fresh = _connect()
        try:
            pool = fresh.storagePoolLookupByName(POOL)
            pool.refresh(0)
            for dom in domains:
                for volume in pool.listVolumes():
                    if volume.startswith('vmpayload-%s-' % dom.UUIDString()):
                        pool.storageVolLookupByName(volume).delete(0)
                fresh.lookupByUUIDString(dom.UUIDString()).undefine()
        finally:
            fresh.close()


# -- races and failures inside one run, injected at the exact step, against the real libvirtd ----------

def _backend(pool=POOL):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend

    return LibvirtBackend(uri=URI, pool=pool)


def _small_payload(marker):
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

    return parse_payload([{'name': 'who.txt', 'content': marker}])


def _domain_volumes(conn, dom, pool=POOL):
    pool = conn.storagePoolLookupByName(pool)
    pool.refresh(0)
    return sorted(v for v in pool.listVolumes() if v.startswith('vmpayload-%s-' % dom.UUIDString()))


def _after_upload(monkeypatch, backend, action, times=1):
    """Run ``action(volume_name)`` right after the backend's next ``times`` uploads, as a concurrent actor would."""
    upload = backend._upload
    done = []

    def upload_then_act(pool, name, payload):
        volume = upload(pool, name, payload)
        if len(done) < times:
            done.append(name)
            action(name)
        return volume

    monkeypatch.setattr(backend, '_upload', upload_then_act)
    return done


def test_an_edit_made_during_the_upload_survives_the_define(conn, domain, monkeypatch):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions

    backend = _backend()
    try:
        def admin_edits(_name):
            editor = _connect()
            try:
                definition = ElementTree.fromstring(editor.lookupByUUIDString(domain.UUIDString()).XMLDesc(
                    libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
                ElementTree.SubElement(definition, 'description').text = 'edited during the upload'
                editor.defineXML(ElementTree.tostring(definition, encoding='unicode'))
            finally:
                editor.close()

        edited = _after_upload(monkeypatch, backend, admin_edits)
        vm = backend.find_vm(name=domain.name())
        assert actions.ensure_permanent(backend, vm, _small_payload('edit-race'), False)['changed'] is True
        assert edited, 'the edit was not made during the upload'
    finally:
        backend.close()
    definition = ElementTree.fromstring(conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert definition.findtext('description') == 'edited during the upload'
    digest, recorded_volume, drive_volume, volumes = _state(conn, domain)
    assert digest is not None and recorded_volume == drive_volume and volumes == [drive_volume]


def test_a_volume_that_only_shares_the_domains_prefix_is_not_cleaned_up(conn, domain, tmp_path):
    pool = _ensure_dir_pool(conn, POOL, POOL_PATH)
    stranger = 'vmpayload-%s-notes.txt' % domain.UUIDString()
    pool.createXML("<volume><name>%s</name><capacity unit='bytes'>16</capacity></volume>" % stranger, 0)
    outcome = _run(_playbook(tmp_path, 'prefix', _payload_task(domain.name(), 'prefix', size=1024)))
    assert outcome.returncode == 0, outcome.stdout
    assert stranger in _domain_volumes(conn, domain)
    pool.storageVolLookupByName(stranger).delete(0)


def test_a_define_that_fails_after_the_upload_leaves_no_volume(conn, domain, monkeypatch):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import BackendError

    before = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    backend = _backend()
    try:
        def refuse(_xml):
            raise libvirt.libvirtError('injected: the define is refused')

        monkeypatch.setattr(backend.conn, 'defineXML', refuse)
        vm = backend.find_vm(name=domain.name())
        with pytest.raises(BackendError, match='updating the domain definition failed'):
            actions.ensure_permanent(backend, vm, _small_payload('define-fails'), False)
    finally:
        backend.close()
    assert _domain_volumes(conn, domain) == []
    assert conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == before


def test_a_referenced_volume_is_never_deleted_to_be_uploaded_again(conn, domain):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions
    from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend

    payload = _small_payload('referenced')
    backend = _backend()
    try:
        actions.ensure_permanent(backend, backend.find_vm(name=domain.name()), payload, False)
    finally:
        backend.close()
    digest, recorded_volume, drive_volume, volumes = _state(conn, domain)
    # An open descriptor tells whether the file in use was unlinked (an inode number may be reused at once).
    in_use = os.open(os.path.join(POOL_PATH, drive_volume), os.O_RDONLY)
    # The same payload moves to another slot: its volume (same name) is already there and in use.
    moved = LibvirtBackend(uri=URI, pool=POOL, target='hdc')
    try:
        result = actions.ensure_permanent(moved, moved.find_vm(name=domain.name()), payload, False)
        assert result['changed'] is True and result['volume'] == drive_volume
        assert os.fstat(in_use).st_nlink == 1, 'the volume in use was deleted and made again'
    finally:
        moved.close()
        os.close(in_use)
    definition = ElementTree.fromstring(conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    targets = {disk.find('target').get('dev'): pool_volume(disk, POOL, POOL_PATH)
               for disk in definition.findall('devices/disk')}
    assert targets == {'hdc': drive_volume}


@pytest.fixture
def running_domain(conn, domain):
    """The domain started (no guest OS: the BIOS waits for a boot device), destroyed afterwards."""
    domain.create()
    yield domain
    for running in _connect().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
        if running.UUIDString() == domain.UUIDString():
            running.destroy()


def test_a_run_once_volume_removed_before_the_start_is_staged_again(conn, domain, monkeypatch):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions

    backend = _backend()
    try:
        def concurrent_cleanup(name):
            pool = conn.storagePoolLookupByName(POOL)
            pool.refresh(0)
            pool.storageVolLookupByName(name).delete(0)

        removed = _after_upload(monkeypatch, backend, concurrent_cleanup)
        vm = backend.find_vm(name=domain.name())
        result = actions.start_once(backend, vm, _small_payload('once-race'), False, True, 30, False)
        assert removed and result['changed'] is True
        live = ElementTree.fromstring(conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(0))
        assert live.find('metadata/{%s}payload' % NAMESPACE).get('availability') == 'run-once'
    finally:
        backend.close()
        for running in _connect().listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            if running.UUIDString() == domain.UUIDString():
                running.destroy()


def test_a_failed_run_once_upload_leaves_a_running_vm_running(conn, running_domain, tiny_pool):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import BackendError
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

    pool_name, pool_path = tiny_pool
    too_big = parse_payload([{'name': 'big.bin', 'content_b64': base64.b64encode(os.urandom(3 * 1024 * 1024)).decode()}])
    backend = _backend(pool_name)
    try:
        vm = backend.find_vm(name=running_domain.name())
        with pytest.raises(BackendError, match=pool_name):
            actions.start_once(backend, vm, too_big, True, True, 1, False)
    finally:
        backend.close()
    assert conn.lookupByUUIDString(running_domain.UUIDString()).isActive()
    # The pool's digest key, stored before the first write, stays: it is the pool's, not the payload's.
    assert set(os.listdir(pool_path)) <= {'vmpayload-digest-key'}


def test_out_of_band_edits_during_two_slow_concurrent_uploads_survive(conn, domain, tmp_path):
    """Two vm_payload runs on one VM, each in its own process with an upload slowed to seconds
    (fault_injection/sitecustomize.py), overlap; while both upload, an administrator edits the definition with
    virsh (description, another application's metadata, maximum memory). Nothing is lost: every edit is in the
    final definition, one payload won whole (its volume read back holds its files), no volume is left over and
    neither run leaves a temporary file."""
    from fault_helpers import leftovers, run_module, finish, volume_files

    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    markers = ('slow-first', 'slow-second')
    candidates = {}
    processes = []
    for marker in markers:
        files, candidates[marker] = _payload_files(marker, own_names=True)
        uploading = tmp_path / ('%s.uploading' % marker)
        # 2 MiB in 256 KiB chunks, 0.4 s each: an upload of about 3 s.
        processes.append(run_module('vm_payload', {'name': domain.name(), 'files': files}, tmpdir, background=True,
                                    VMPAYLOAD_FAULT_SLOW_UPLOAD='0.4', VMPAYLOAD_FAULT_UPLOADING=str(uploading)))
        deadline = time.monotonic() + 60
        while not uploading.exists() and processes[-1].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert uploading.exists(), 'the %s run did not start its upload: %s' % (marker, finish(processes[-1]))

    def virsh(*args):
        done = subprocess.run(['virsh', '-c', URI, *args], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr

    virsh('desc', domain.name(), '--config', '--new-desc', 'edited by hand during two uploads')
    virsh('metadata', domain.name(), '--config', '--uri', 'urn:x-other-tool:1', '--key', 'other',
          '--set', '<note>kept</note>')
    virsh('setmaxmem', domain.name(), '96M', '--config')
    assert all(process.poll() is None for process in processes), 'a run ended before the edits: the test proves nothing'

    for process in processes:
        run = finish(process)
        assert run.returncode == 0 and run.result['changed'] is True, str(run)

    definition = ElementTree.fromstring(conn.lookupByUUIDString(domain.UUIDString()).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert definition.findtext('description') == 'edited by hand during two uploads'
    assert definition.find('metadata/{urn:x-other-tool:1}note').text == 'kept'
    assert definition.find('memory').get('unit') == 'KiB' and int(definition.findtext('memory')) == 96 * 1024
    digest, recorded_volume, drive_volume, volumes = _state(conn, domain)
    assert recorded_volume == drive_volume and volumes == [drive_volume], volumes
    won = _winner(conn, domain, candidates)
    assert volume_files(conn, drive_volume, tmp_path / 'read-back') == candidates[won]
    assert leftovers(tmpdir) == []
