# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payloads' action (``fleet.py``) against fake backends: one per VM behind one connection.

Each VM is test_actions' FakeBackend, so the decisions are vm_payload's; these tests assert what the
batch adds: validation of every entry before connecting, one connection, results in order, a list of
diffs headed by VM, and failures that leave the other VMs done.
"""

from __future__ import annotations

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._backends import fleet
from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import (
    Capabilities,
    PayloadBackend,
    PayloadRecord,
    Placement,
    Vm,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.keyed_digest import DigestKey
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError, VmNotFoundError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

UUIDS = {'web1': '00000000-0000-4000-8000-000000000001', 'web2': '00000000-0000-4000-8000-000000000002',
         'web3': '00000000-0000-4000-8000-000000000003'}
CHANGING = ('attach', 'detach', 'tidy')
# Keyed, as libvirt's: the decision layer must compare the backend's description, not the plain digest.
FAKE_KEY = DigestKey(b'fake-host-key-0123456789abcdef--', stored=True)


def record_of(wanted, availability):
    described = FAKE_KEY.describe(wanted)
    return PayloadRecord(availability=availability, digest=described.digest, device=wanted.device, label=wanted.label,
                         files=described.files, key_id=described.key_id)


class FakeVm:
    """One shut-off VM's record in memory; ``calls`` logs what was done to it."""

    def __init__(self, name):
        self.vm = Vm(name=name, id=UUIDS[name])
        self.record = PayloadRecord.none()
        self.placement = Placement(reported={'volume': 'v-%s' % name})
        self.refusal = None
        self.calls = []


class FleetBackend(PayloadBackend):
    """Several fake VMs behind one connection; ``opened`` counts connections."""

    platform = 'fake'
    opened = 0
    instance = None

    def __init__(self, vms):
        self.vms = vms
        self.closed = False

    @classmethod
    def capabilities(cls, params):
        return Capabilities(platform=cls.platform, devices=('cdrom',))

    @classmethod
    def open(cls, params):
        cls.opened += 1
        return cls.instance

    def find_vm(self, name=None, vm_id=None):
        for fake in self.vms.values():
            if name == fake.vm.name or vm_id == fake.vm.id:
                return fake.vm
        raise VmNotFoundError('no VM named %s' % (name or vm_id))

    def _log(self, vm, call):
        self.vms[vm.name].calls.append(call)
        return self.vms[vm.name]

    def describe(self, payload):
        return FAKE_KEY.describe(payload)

    def is_running(self, vm):
        return False

    def read_record(self, vm, live=False):
        return self._log(vm, 'read_record').record

    def read_contents(self, vm, record):
        raise AssertionError('vm_payloads never reads content')

    def place(self, vm, payload, record, once=False):
        return self._log(vm, 'place').placement

    def attach(self, vm, payload, placement):
        self._log(vm, 'attach').record = record_of(payload, 'permanent')
        return dict(restart_required=False)

    def detach(self, vm, record):
        self._log(vm, 'detach').record = PayloadRecord.none()
        return dict(restart_required=False)

    def start_once(self, vm, payload, placement, timeout):
        raise AssertionError('vm_payloads never starts a VM')

    def wait_running(self, vm, timeout):
        raise AssertionError('vm_payloads never waits for a VM')

    def change_refusal(self, vm):
        return self.vms[vm.name].refusal

    def tidy(self, vm):
        self._log(vm, 'tidy')
        return dict(removed_volumes=[])

    def close(self):
        self.closed = True


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff


def changing(fake):
    return [call for call in fake.calls if call in CHANGING]


def files(text='instance-id: x\n'):
    return [{'name': 'meta-data', 'content': text, 'content_b64': None, 'src': None},
            {'name': 'user-data', 'content': '#cloud-config\n', 'content_b64': None, 'src': None}]


def entry(name=None, uuid=None, state='present', **extra):
    return dict(dict(name=name, uuid=uuid, state=state, files=files() if state == 'present' else None, device='cdrom',
                     label=None, preset='nocloud', max_content_size=None), **extra)


def params(*entries):
    return dict(vms=list(entries), uri='test:///default', pool='vmpayload', auth=None, drive='dedicated', target=None,
                engine_payload_size=8192)


def payload_of(text='instance-id: x\n'):
    return parse_payload([{k: v for k, v in f.items() if v is not None} for f in files(text)], preset='nocloud')


@pytest.fixture
def platform(monkeypatch):
    vms = {name: FakeVm(name) for name in UUIDS}
    FleetBackend.instance = FleetBackend(vms)
    FleetBackend.opened = 0
    monkeypatch.setattr(fleet, 'backend_class', lambda params: FleetBackend)
    monkeypatch.setattr(fleet, 'warn_stale_removed', lambda module: None)
    return vms


def run(*entries, check_mode=False, diff=False):
    return fleet.vm_payloads(FakeModule(params(*entries), check_mode=check_mode, diff=diff))


@pytest.mark.parametrize('entries, option, message', [
    ([entry('web1'), entry('web2', files=[{'name': '../x', 'content': 'a', 'content_b64': None, 'src': None}])],
     'vms[1].files[0].name', 'vms[1] ("web2"): files[0] "../x"'),
    ([entry('web1'), entry()], 'vms[1].name', 'vms[1]: give exactly one of name or uuid'),
    ([entry('web1', uuid=UUIDS['web1'])], 'vms[0].name', 'vms[0] ("web1"): give exactly one of name or uuid'),
    ([entry(uuid='nope')], 'vms[0].uuid', 'vms[0] ("nope"): uuid "nope" is not a UUID'),
    ([entry('web1', files=None)], 'vms[0].files', 'vms[0] ("web1"): files is required with state present'),
    ([entry('web1'), entry('web2'), entry('web1', state='absent')], 'vms[2].name',
     'vms[2] ("web1") names the same VM as vms[0]; give each VM once'),
    ([entry(uuid=UUIDS['web1']), entry(uuid=UUIDS['web1'].upper())], 'vms[1].uuid', 'names the same VM as vms[0]'),
    ([entry('web1', preset=None, label='bad label!')], 'vms[0].label', 'vms[0] ("web1"): '),
])
def test_a_bad_entry_fails_naming_it_before_anything_is_connected_to(platform, entries, option, message):
    with pytest.raises(PayloadValidationError) as failure:
        run(*entries)
    assert message in str(failure.value) and failure.value.option == option
    assert FleetBackend.opened == 0 and all(vm.calls == [] for vm in platform.values())


def test_a_payload_the_platform_cannot_carry_is_refused_before_connecting(platform):
    with pytest.raises(PayloadValidationError, match=r'vms\[1\] \("web2"\): fake carries payloads on cdrom only'):
        run(entry('web1'), entry('web2', device='floppy', preset=None))
    assert FleetBackend.opened == 0


def test_the_same_vm_by_name_and_by_uuid_is_refused_before_any_vm_changes(platform):
    with pytest.raises(PayloadValidationError, match=r'vms\[2\] \("%s"\) is the same VM as vms\[0\]' % UUIDS['web1']):
        run(entry('web1'), entry('web2'), entry(uuid=UUIDS['web1'], state='absent'))
    assert all(changing(vm) == [] for vm in platform.values()) and FleetBackend.instance.closed


@pytest.mark.parametrize('check_mode', [False, True])
def test_every_vm_over_one_connection_with_vm_payloads_decisions(platform, check_mode):
    platform['web2'].record = record_of(payload_of(), 'permanent')
    platform['web2'].placement.in_place = True
    platform['web3'].record = record_of(payload_of('old\n'), 'permanent')
    result = run(entry('web1'), entry('web2'), entry('web3', state='absent'), check_mode=check_mode, diff=True)
    assert FleetBackend.opened == 1 and FleetBackend.instance.closed
    assert result['changed'] is True and 'failed' not in result
    assert [(vm['name'], vm['uuid'], vm['state'], vm['changed']) for vm in result['vms']] == [
        ('web1', UUIDS['web1'], 'present', True), ('web2', UUIDS['web2'], 'present', False),
        ('web3', UUIDS['web3'], 'absent', True)]
    assert result['vms'][0]['volume'] == 'v-web1' and result['vms'][2]['availability'] == 'none'
    assert all('diff' not in vm for vm in result['vms'])
    assert [d['before_header'] for d in result['diff']] == ['vms[0] web1 (%s)' % UUIDS['web1'],
                                                            'vms[2] web3 (%s)' % UUIDS['web3']]
    assert 'meta-data' in result['diff'][0]['after'] and result['diff'][1]['after'] == ''
    expected = {'web1': [] if check_mode else ['attach'], 'web2': [] if check_mode else ['tidy'],
                'web3': [] if check_mode else ['detach']}
    assert {name: changing(vm) for name, vm in platform.items()} == expected


def test_no_diff_without_diff_mode_and_an_empty_list_changes_nothing(platform):
    assert 'diff' not in run(entry('web1'))
    assert run() == dict(changed=False, vms=[])


def test_a_missing_or_failing_vm_fails_the_task_after_the_others_are_done(platform):
    platform['web2'].refusal = 'the VM is locked'
    result = run(entry('web1'), entry('web9'), entry('web2'), entry('web3'))
    assert result['failed'] is True and result['changed'] is True
    assert result['msg'] == ('2 of 4 VMs failed (the others were done): vms[1] ("web9"): no VM named web9; '
                             'vms[2] ("web2"): the VM is locked')
    assert [(vm['name'], vm['changed'], vm.get('failed', False)) for vm in result['vms']] == [
        ('web1', True, False), ('web9', False, True), ('web2', False, True), ('web3', True, False)]
    assert result['vms'][1]['uuid'] is None
    assert changing(platform['web1']) == ['attach'] and changing(platform['web3']) == ['attach']
    assert changing(platform['web2']) == []


def test_results_hold_no_content(platform):
    secret = 'p4ssw0rd-in-the-payload'
    result = run(entry('web1', files=files(secret)), check_mode=True, diff=True)
    assert secret not in repr(result)


def test_a_vm_with_an_unreadable_payload_is_its_own_failure(platform):
    platform['web1'].record = PayloadRecord.unknown('the record is damaged')
    result = run(entry('web1'), entry('web2'))
    assert result['vms'][0]['failed'] and result['vms'][0]['msg'] == 'the record is damaged'
    assert result['vms'][1]['changed'] is True
