# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payloads against the real libvirtd: many shut-off domains in one task, over one connection.

Checked from outside the module, on the pool's volumes (key, size, mtime, inode, sha256) and the
domains' persistent definitions: check mode writes nothing, the first run gives every VM its payload,
the second run (in diff mode) reports changed: false and writes nothing, no content reaches the output
at -vvv, a bad entry changes no VM, and a VM that is not found fails the task after the others are done.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import libvirt
import pytest
from fault_helpers import POOL, domain_xml, payload_volumes, record_of, run_play

SECRET = 'fleet-password-%s' % uuid.uuid4().hex[:12]


@pytest.fixture
def domains(conn):
    """Three defined, shut-off domains (no disk, never started); removed with their payload volumes."""
    prefix = 'vmp-fleet-%s-' % uuid.uuid4().hex[:8]
    made = [conn.defineXML("<domain type='qemu'><name>%s%d</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                           "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
                           "<devices/></domain>" % (prefix, index)) for index in range(3)]
    yield made
    pool = conn.storagePoolLookupByName(POOL)
    for dom in made:
        for volume in payload_volumes(conn, dom.UUIDString()):
            pool.storageVolLookupByName(volume).delete(0)
        dom.undefine()


def _entry(dom, state='present', files=None):
    if state == 'absent':
        return {'name': dom.name(), 'state': 'absent'}
    return {'name': dom.name(), 'preset': 'nocloud',
            'files': files or [{'name': 'user-data', 'content': '#cloud-config\npassword: %s\n' % SECRET},
                               {'name': 'meta-data', 'content': 'instance-id: %s\n' % dom.name()}]}


def _task(entries, **keywords):
    return dict({'vmpayload.core.vm_payloads': {'pool': POOL, 'vms': entries}}, **keywords)


def _state(conn, made):
    """What a run that changes nothing leaves as it was: each domain's definition and its volumes' files."""
    pool = conn.storagePoolLookupByName(POOL)
    state = {}
    for dom in made:
        volumes = {}
        for name in payload_volumes(conn, dom.UUIDString()):
            path = pool.storageVolLookupByName(name).path()
            stat = os.stat(path)
            with open(path, 'rb') as stream:
                volumes[name] = (stat.st_mtime_ns, stat.st_ino, hashlib.sha256(stream.read()).hexdigest())
        state[dom.name()] = (domain_xml(conn, dom.UUIDString()), volumes)
    return state


def test_check_first_and_second_run_of_a_fleet(conn, domains, tmp_path):
    bare = _state(conn, domains)
    entries = [_entry(dom) for dom in domains]
    (checked,), output = run_play(tmp_path, [_task(entries, check_mode=True, diff=True)], 'check', verbose=True)
    assert checked['changed'] is True and [vm['changed'] for vm in checked['vms']] == [True] * 3
    assert _state(conn, domains) == bare, 'check mode wrote something'
    assert [diff['after_header'] for diff in checked['diff']] == [
        'vms[%d] %s (%s)' % (index, dom.name(), dom.UUIDString()) for index, dom in enumerate(domains)]
    assert all('user-data' in diff['after'] and diff['before'] == '' for diff in checked['diff'])
    assert SECRET not in output

    (first,), output = run_play(tmp_path, [_task(entries)], 'first')
    assert first['changed'] is True and 'diff' not in first
    for dom, vm in zip(domains, first['vms']):
        assert (vm['name'], vm['uuid'], vm['changed']) == (dom.name(), dom.UUIDString(), True)
        assert vm['availability'] == 'permanent'
        assert payload_volumes(conn, dom.UUIDString()) == [vm['volume']]
        assert record_of(domain_xml(conn, dom.UUIDString())).get('digest') == vm['digest']
        assert [f['name'] for f in vm['files']] == ['meta-data', 'user-data'] and vm['restart_required'] is False
    assert SECRET not in output

    done = _state(conn, domains)
    (second,), output = run_play(tmp_path, [_task(entries, diff=True)], 'second', verbose=True)
    assert second['changed'] is False and second['diff'] == []
    assert [vm['changed'] for vm in second['vms']] == [False] * 3
    assert [vm['volume'] for vm in second['vms']] == [vm['volume'] for vm in first['vms']]
    assert _state(conn, domains) == done, 'the second run wrote something'
    assert SECRET not in output

    # One VM's payload taken away in the same task that leaves the others as they are.
    (absent,), output = run_play(tmp_path, [_task(entries[:2] + [_entry(domains[2], 'absent')], diff=True)], 'absent')
    assert [vm['changed'] for vm in absent['vms']] == [False, False, True]
    assert [diff['before_header'].split()[1] for diff in absent['diff']] == [domains[2].name()]
    assert payload_volumes(conn, domains[2].UUIDString()) == []
    assert _state(conn, domains[:2]) == {name: done[name] for name in (domains[0].name(), domains[1].name())}


def test_a_bad_entry_changes_no_vm_and_a_missing_vm_fails_after_the_others(conn, domains, tmp_path):
    bare = _state(conn, domains)
    bad_file = _entry(domains[1], files=[{'name': '../user-data', 'content': SECRET},
                                         {'name': 'meta-data', 'content': 'instance-id: x\n'}])
    missing = 'vmp-fleet-missing-%s' % uuid.uuid4().hex[:8]
    tasks = [
        _task([_entry(domains[0]), bad_file, _entry(domains[2])], ignore_errors=True),
        _task([_entry(domains[0]), _entry(domains[0])], ignore_errors=True),
        _task([{'uuid': domains[0].UUIDString(), 'state': 'absent'}, _entry(domains[0])], ignore_errors=True),
    ]
    (bad, duplicate, same_vm), output = run_play(tmp_path, tasks, 'bad', verbose=True)
    assert bad['failed'] and bad['msg'].startswith('vms[1] ("%s"): files[0] "../user-data"' % domains[1].name())
    assert bad['option'] == 'vms[1].files[0].name'
    assert duplicate['failed'] and duplicate['msg'] == ('vms[1] ("%s") names the same VM as vms[0]; give each VM once'
                                                        % domains[0].name())
    assert same_vm['failed'] and same_vm['msg'].startswith('vms[1] ("%s") is the same VM as vms[0]' % domains[0].name())
    assert _state(conn, domains) == bare, 'a refused task changed a VM'
    assert SECRET not in output

    (partial,), output = run_play(tmp_path, [_task([_entry(domains[0]), {'name': missing, 'state': 'absent'},
                                                    _entry(domains[2])], ignore_errors=True)], 'missing')
    assert partial['failed'] and partial['changed'] is True
    assert partial['msg'] == ('1 of 3 VMs failed (the others were done): vms[1] ("%s"): no domain named %s on '
                              'qemu:///system' % (missing, missing))
    assert [(vm['name'], vm['changed'], vm.get('failed', False)) for vm in partial['vms']] == [
        (domains[0].name(), True, False), (missing, False, True), (domains[2].name(), True, False)]
    assert len(payload_volumes(conn, domains[0].UUIDString())) == 1
    assert len(payload_volumes(conn, domains[2].UUIDString())) == 1
    assert payload_volumes(conn, domains[1].UUIDString()) == []
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByName(missing)
