# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Issue 10, fault suite: ``kill -9`` at every step of vm_payload and vm_run_once_payload, against the real libvirtd.

Each case runs the module as Ansible does (its own Python process, arguments as JSON on stdin) with
fault_injection/sitecustomize.py first on PYTHONPATH, which SIGKILLs the process right before or after the named
step: the image build, the volume upload (before any byte, after the first chunk, after the last), the define,
the running VM's media change, the stop and the start of a run-once. Then the same task runs again and must
converge: the domain holds the payload (read back from the volume and compared with what was sent), no payload
volume of the domain is left that its definitions do not use, its definition says nothing else than before
plus the payload, and the run's TMPDIR is empty. A third run reports ``changed: false``.

The domains never boot an OS (the BIOS waits for a boot device): these cases look at definitions and volumes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import libvirt
import pytest

from fault_helpers import (
    URI,
    domain_xml,
    leftovers,
    module_env,
    payload_volumes,
    pool_disks,
    record_of,
    run_module,
    volume_files,
    without_payload,
)

PERMANENT_STEPS = ['build:before', 'build:after', 'upload:before', 'upload:mid', 'upload:after',
                   'define:before', 'define:after']
LIVE_STEPS = ['live:before', 'live:after']
FLOPPY_STEPS = ['build:after', 'upload:mid', 'define:after']
ABSENT_STEPS = ['define:before', 'define:after']
RUN_ONCE_STEPS = ['build:before', 'build:after', 'upload:before', 'upload:mid', 'upload:after',
                  'stop:before', 'stop:after', 'start:before', 'start:after']
# Run-once waits this long for the guest to stop before it destroys it (the BIOS ignores the ACPI request).
STOP_TIMEOUT = 1


@pytest.fixture
def conn():
    # Where CI runs, libvirtd runs (make test starts it): a test that cannot reach it fails, it does not skip.
    try:
        connection = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for these tests (make test starts it): %s' % exc.get_error_message())
    yield connection
    connection.close()


@pytest.fixture
def domain(conn):
    """A defined, shut-off domain with no OS to boot; destroyed and undefined afterwards, with its volumes."""
    name = 'vmp-fault-kill-%s' % uuid.uuid4().hex[:8]
    dom = conn.defineXML(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % name)
    domain_uuid = dom.UUIDString()
    yield dom
    fresh = libvirt.open(URI)
    try:
        stale = fresh.lookupByUUIDString(domain_uuid)
        if stale.isActive():
            stale.destroy()
        pool = fresh.storagePoolLookupByName('vmpayload')
        for volume in payload_volumes(fresh, domain_uuid):
            pool.storageVolLookupByName(volume).delete(0)
        stale.undefine()
    finally:
        fresh.close()


def _files(marker, source_dir):
    """A payload of a text file, 1 MiB of random bytes (four upload chunks, so that a kill can fall between two) and
    a ``src`` file over 1 MiB (the modules copy such a file into a private temporary directory first)."""
    blob = os.urandom(1024 * 1024)
    text = ('%s %s\n' % (marker, uuid.uuid4().hex)).encode()
    source = source_dir / ('%s.src' % marker)
    source.write_bytes(os.urandom(1024 * 1024 + 4096))
    spec = [{'name': 'blob.bin', 'content_b64': base64.b64encode(blob).decode()},
            {'name': 'dir/who.txt', 'content': text.decode()},
            {'name': 'from-src.bin', 'src': str(source)}]
    return spec, {'blob.bin': blob, 'dir/who.txt': text, 'from-src.bin': source.read_bytes()}


def _assert_clean_tmp(left, step):
    """``left``: what the TMPDIR of the runs held after the rerun (checked last, so a failure shows everything else)."""
    assert left == [], 'temporary files left after a kill at %s and a rerun: %s' % (step, left)


def _kill_then_converge(module, args, tmpdir, step):
    """The killed run, and the rerun that must succeed; their ModuleRuns."""
    killed = run_module(module, args, tmpdir, fault=step)
    assert killed.killed, 'the run was not killed at %s (the step was not reached?):\n%s' % (step, killed)
    rerun = run_module(module, args, tmpdir)
    assert rerun.returncode == 0 and rerun.result and not rerun.result.get('failed'), str(rerun)
    return killed, rerun


def _assert_permanent(conn, dom, original, wanted, tmp_path, live, slot='hdd'):
    domain_uuid = dom.UUIDString()
    persistent = domain_xml(conn, domain_uuid)
    disks = pool_disks(persistent)
    assert list(disks) == [slot], 'payload drives in the definition: %s' % disks
    volume = disks[slot]
    assert record_of(persistent).get('volume') == volume
    assert payload_volumes(conn, domain_uuid) == [volume], 'orphan or missing volume'
    assert volume_files(conn, volume, tmp_path / 'read-back') == wanted
    assert without_payload(persistent) == without_payload(original), 'the definition changed beyond the payload'
    if live:
        running = domain_xml(conn, domain_uuid, inactive=False)
        assert pool_disks(running) == {slot: volume}, 'the running VM does not hold the payload'
        assert record_of(running).get('volume') == volume


@pytest.mark.parametrize('step', PERMANENT_STEPS)
def test_vm_payload_killed_at_a_step_converges_on_the_next_run(conn, domain, tmp_path, step):
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    first, _second = _files('first', tmp_path)
    assert run_module('vm_payload', {'name': domain.name(), 'files': first}, tmpdir).returncode == 0
    # What the definition says before the run that is killed (libvirt added the IDE controller the drive needs).
    original = domain_xml(conn, domain.UUIDString())
    files, wanted = _files('second', tmp_path)
    args = {'name': domain.name(), 'files': files}

    _kill_then_converge('vm_payload', args, tmpdir, step)
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=False)
    left = leftovers(tmpdir)

    third = run_module('vm_payload', args, tmpdir)
    assert third.returncode == 0 and third.result['changed'] is False, str(third)
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=False)
    _assert_clean_tmp(left, step)


@pytest.mark.parametrize('step', FLOPPY_STEPS)
def test_vm_payload_on_a_floppy_killed_at_a_step_converges_on_the_next_run(conn, domain, tmp_path, step):
    """The same with the FAT writer and a floppy drive (the volume read back with mtools)."""
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    first = _files('first', tmp_path)[0]
    assert run_module('vm_payload', {'name': domain.name(), 'files': first, 'device': 'floppy'}, tmpdir).returncode == 0
    original = domain_xml(conn, domain.UUIDString())
    files, wanted = _files('second', tmp_path)
    args = {'name': domain.name(), 'files': files, 'device': 'floppy'}

    _kill_then_converge('vm_payload', args, tmpdir, step)
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=False, slot='fda')
    left = leftovers(tmpdir)

    third = run_module('vm_payload', args, tmpdir)
    assert third.returncode == 0 and third.result['changed'] is False, str(third)
    _assert_clean_tmp(left, step)


@pytest.mark.parametrize('step', ABSENT_STEPS)
def test_vm_payload_absent_killed_at_a_step_converges_on_the_next_run(conn, domain, tmp_path, step):
    """``state: absent`` killed around its define: the rerun takes the payload away, drive, record and volume."""
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    first = _files('first', tmp_path)[0]
    assert run_module('vm_payload', {'name': domain.name(), 'files': first}, tmpdir).returncode == 0
    # With its payload (libvirt added an IDE controller for the drive, and keeps it when the drive goes).
    before = domain_xml(conn, domain.UUIDString())
    args = {'name': domain.name(), 'state': 'absent'}

    _kill_then_converge('vm_payload', args, tmpdir, step)
    definition = domain_xml(conn, domain.UUIDString())
    assert pool_disks(definition) == {} and record_of(definition) is None
    assert payload_volumes(conn, domain.UUIDString()) == [], 'orphan volume'
    assert without_payload(definition) == without_payload(before)
    third = run_module('vm_payload', args, tmpdir)
    assert third.returncode == 0 and third.result['changed'] is False, str(third)
    assert leftovers(tmpdir) == []


@pytest.mark.parametrize('step', LIVE_STEPS)
def test_vm_payload_killed_while_changing_a_running_vms_media_converges(conn, domain, tmp_path, step):
    """The running VM has the payload drive (an IDE CD-ROM takes new media live): a kill around the media change."""
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    first, _second = _files('first', tmp_path)
    assert run_module('vm_payload', {'name': domain.name(), 'files': first}, tmpdir).returncode == 0
    # What the definition says before the run that is killed (libvirt added the IDE controller the drive needs).
    original = domain_xml(conn, domain.UUIDString())
    domain.create()
    files, wanted = _files('second', tmp_path)
    args = {'name': domain.name(), 'files': files}
    assert domain.isActive(), 'the VM stopped by itself before the run (a concurrent test on this host?)'

    _kill_then_converge('vm_payload', args, tmpdir, step)
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=True)
    left = leftovers(tmpdir)

    third = run_module('vm_payload', args, tmpdir)
    assert third.returncode == 0, str(third)
    assert (third.result['changed'], third.result['restart_required']) == (False, False), str(third)
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=True)
    _assert_clean_tmp(left, step)


def _assert_run_once(conn, dom, original, wanted, tmp_path):
    domain_uuid = dom.UUIDString()
    assert dom.isActive(), 'the VM is not running after the rerun'
    running = domain_xml(conn, domain_uuid, inactive=False)
    disks = pool_disks(running)
    assert list(disks) == ['hdd'], 'payload drives of the running VM: %s' % disks
    volume = disks['hdd']
    assert '-once-' in volume and record_of(running).get('availability') == 'run-once'
    assert payload_volumes(conn, domain_uuid) == [volume], 'orphan or missing volume'
    assert volume_files(conn, volume, tmp_path / 'read-back') == wanted
    # Run-once never touches what the VM keeps.
    assert domain_xml(conn, domain_uuid) == original


@pytest.mark.parametrize('step', RUN_ONCE_STEPS)
def test_vm_run_once_payload_killed_at_a_step_converges_on_the_next_run(conn, domain, tmp_path, step):
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    original = domain_xml(conn, domain.UUIDString())
    domain.create()
    files, wanted = _files('once', tmp_path)
    args = {'name': domain.name(), 'files': files, 'restart': True, 'timeout': STOP_TIMEOUT}
    assert domain.isActive(), 'the VM stopped by itself before the run (a concurrent test on this host?)'

    _kill_then_converge('vm_run_once_payload', args, tmpdir, step)
    _assert_run_once(conn, domain, original, wanted, tmp_path)
    left = leftovers(tmpdir)

    third = run_module('vm_run_once_payload', args, tmpdir)
    assert third.returncode == 0 and third.result['changed'] is False, str(third)
    _assert_run_once(conn, domain, original, wanted, tmp_path)
    _assert_clean_tmp(left, step)


def test_a_play_killed_mid_upload_converges_and_leaves_no_temporary_file(conn, domain, tmp_path):
    """The same through ansible-playbook, as a user runs it: the module process is killed (SIGKILL, rc 137) after the
    first chunk of its upload. The rerun converges and the third run reports changed=0. Ansible's own temporary
    directories (remote_tmp, local_tmp) are empty; in TMPDIR only the directory AnsiballZ unpacked the killed module
    into remains, which ansible-core removes in a ``finally`` that SIGKILL skips and no later run looks for: that one
    is ansible-core's, not the collection's, and is listed apart."""
    tmpdir, local_tmp, remote_tmp = (tmp_path / name for name in ('tmp', 'local', 'remote'))
    for directory in (tmpdir, local_tmp, remote_tmp):
        directory.mkdir()
    first, _second = _files('first', tmp_path)
    assert run_module('vm_payload', {'name': domain.name(), 'files': first}, tmpdir).returncode == 0
    original = domain_xml(conn, domain.UUIDString())
    files, wanted = _files('second', tmp_path)
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.vm_payload': {'name': domain.name(), 'files': files}}]}]))

    def play(fault=None):
        command = [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c', 'local',
                   '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
        env = module_env(tmpdir, fault, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCAL_TEMP=str(local_tmp),
                         ANSIBLE_REMOTE_TEMP=str(remote_tmp))
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)

    killed = play('upload:mid')
    assert killed.returncode != 0 and '"rc": 137' in killed.stdout, killed.stdout + killed.stderr
    rerun = play()
    assert rerun.returncode == 0 and re.search(r'ok=1\s+changed=1\s', rerun.stdout), rerun.stdout
    third = play()
    assert third.returncode == 0 and re.search(r'ok=1\s+changed=0\s', third.stdout), third.stdout
    _assert_permanent(conn, domain, original, wanted, tmp_path, live=False)

    assert leftovers(local_tmp) == [] and leftovers(remote_tmp) == []
    unpacked = re.compile(r'^ansible_vmpayload\.core\.vm_payload_payload_[^/]+(/.*)?$')
    ansible_core = [name for name in leftovers(tmpdir) if unpacked.match(name)]
    assert len([name for name in ansible_core if '/' not in name]) <= 1, ansible_core
    _assert_clean_tmp([name for name in leftovers(tmpdir) if name not in ansible_core], 'upload:mid')
