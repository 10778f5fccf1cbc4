# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The decision layer against a fake backend, as kubernetes.core tests ``perform_action``.

The fake keeps a VM's record in memory and logs every operation, so each test asserts both the
result and which changing operations were (or were not) called.
"""

from __future__ import annotations

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._backends import actions
from ansible_collections.vmpayload.core.plugins.module_utils._backends.keyed_digest import DigestKey
from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import (
    Capabilities,
    PayloadBackend,
    PayloadRecord,
    Placement,
    Vm,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    PayloadValidationError,
    VmNotFoundError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

CHANGING = ('attach', 'detach', 'start_once', 'tidy', 'wait_running')


def make_payload(text='instance-id: web1\n', device='cdrom'):
    return parse_payload([{'name': 'meta-data', 'content': text}, {'name': 'user-data', 'content': '#cloud-config\n'}],
                         device=device, preset='nocloud' if device == 'cdrom' else None)


# The fake keys its digests, as libvirt does: the decision layer must compare and report the
# backend's description of a payload, never the model's plain digest.
FAKE_KEY = DigestKey(b'fake-host-key-0123456789abcdef--', stored=True)


def record_of(wanted, availability):
    described = FAKE_KEY.describe(wanted)
    return PayloadRecord(availability=availability, digest=described.digest, device=wanted.device, label=wanted.label,
                         files=described.files, key_id=described.key_id,
                         reported={'volume': 'vol-%s' % described.digest[:4]})


def keyed(wanted):
    return FAKE_KEY.describe(wanted).digest


class FakeBackend(PayloadBackend):
    """One VM in memory; ``placement`` is what ``place`` answers; ``calls`` logs every operation."""

    platform = 'fake'
    opened_with = None

    def __init__(self, record=None, live=None, running=False, placement=None, refusal=None):
        self.refusal = refusal
        self.record = record or PayloadRecord.none()
        self.live = live or PayloadRecord.none()
        self.running = running
        self.placement = placement or Placement()
        self.calls = []
        self.closed = False

    @classmethod
    def capabilities(cls, params):
        return Capabilities(platform=cls.platform, devices=('cdrom',), run_once=params.get('run_once', True))

    @classmethod
    def open(cls, params):
        cls.opened_with = params
        return cls.instance

    def find_vm(self, name=None, vm_id=None):
        self.calls.append('find_vm')
        if name not in (None, 'web1'):
            raise VmNotFoundError('no VM named %s' % name)
        return Vm(name='web1', id='1234')

    def is_running(self, vm):
        return self.running

    def describe(self, payload):
        return FAKE_KEY.describe(payload)

    def read_record(self, vm, live=False):
        # A stopped VM would boot with what it keeps, as libvirt and oVirt both say.
        self.calls.append('read_record(live)' if live else 'read_record')
        return self.live if live and self.running else self.record

    def read_contents(self, vm, record):
        self.calls.append('read_contents')
        return [dict(f, content='secret') for f in record.files]

    def place(self, vm, payload, record, once=False):
        self.calls.append('place(once)' if once else 'place')
        return self.placement

    def attach(self, vm, payload, placement):
        self.calls.append('attach')
        self.record = record_of(payload, 'permanent')
        return dict(restart_required=self.running)

    def detach(self, vm, record):
        self.calls.append('detach')
        self.record = PayloadRecord.none()
        return dict(restart_required=False)

    def start_once(self, vm, payload, placement, timeout):
        self.calls.append('start_once')
        self.running = True
        self.live = record_of(payload, 'run-once')
        return {}

    def wait_running(self, vm, timeout):
        self.calls.append('wait_running')

    def change_refusal(self, vm):
        return self.refusal

    def tidy(self, vm):
        self.calls.append('tidy')
        return dict(removed_volumes=[])

    def close(self):
        self.closed = True


def changing(backend):
    return [call for call in backend.calls if call in CHANGING]


VM = Vm(name='web1', id='1234')


@pytest.mark.parametrize('check_mode', [False, True])
def test_a_new_permanent_payload_is_attached_except_in_check_mode(check_mode):
    backend = FakeBackend(placement=Placement(reported={'volume': 'v1'}))
    wanted = make_payload()
    result = actions.ensure_permanent(backend, VM, wanted, check_mode)
    assert result['changed'] is True
    assert (result['availability'], result['digest'], result['volume']) == ('permanent', keyed(wanted), 'v1')
    assert result['digest_key'] == FAKE_KEY.id and wanted.digest not in repr(result)
    assert result['diff']['before'] == ''
    assert 'meta-data  18  digest:%s' % FAKE_KEY.describe(wanted).files[0]['digest'] in result['diff']['after']
    assert changing(backend) == ([] if check_mode else ['attach'])


@pytest.mark.parametrize('check_mode', [False, True])
def test_the_same_payload_in_place_changes_nothing(check_mode):
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent'), placement=Placement(in_place=True))
    result = actions.ensure_permanent(backend, VM, wanted, check_mode)
    assert result['changed'] is False and 'diff' not in result
    assert changing(backend) == ([] if check_mode else ['tidy'])


@pytest.mark.parametrize('record_availability, in_place', [
    ('permanent', False),  # the record says so, but the platform lost it (a volume deleted, media changed)
    ('run-once', True),    # the VM runs with it once, but does not keep it
])
def test_a_payload_the_record_alone_vouches_for_is_staged_again(record_availability, in_place):
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, record_availability), placement=Placement(in_place=in_place))
    assert actions.ensure_permanent(backend, VM, wanted, False)['changed'] is True
    assert changing(backend) == ['attach']


def test_a_different_payload_is_a_change_with_a_diff_of_names_sizes_and_digests():
    old, new = make_payload('instance-id: old\n'), make_payload('instance-id: new-one\n')
    backend = FakeBackend(record=record_of(old, 'permanent'), placement=Placement(in_place=True))
    result = actions.ensure_permanent(backend, VM, new, True)
    assert result['changed'] is True
    assert 'meta-data  17  digest:%s' % FAKE_KEY.describe(old).files[0]['digest'] in result['diff']['before']
    assert 'meta-data  21  digest:%s' % FAKE_KEY.describe(new).files[0]['digest'] in result['diff']['after']
    assert 'instance-id' not in repr(result)
    assert not any(f.sha256 in repr(result) for f in old.files + new.files)


@pytest.mark.parametrize('running, live, needs_restart, check_mode, expected', [
    (False, True, True, True, False),   # a stopped VM never needs a restart
    (True, True, True, True, True),     # check mode predicts from the placement
    (True, True, False, True, False),
    (True, True, True, False, True),    # a real run says what the backend reports
])
def test_restart_required_for_a_change(running, live, needs_restart, check_mode, expected):
    backend = FakeBackend(running=running, placement=Placement(live=live, needs_restart=needs_restart))
    assert actions.ensure_permanent(backend, VM, make_payload(), check_mode)['restart_required'] is expected


@pytest.mark.parametrize('running, live, expected', [(False, False, False), (True, True, False), (True, False, True)])
def test_restart_required_when_unchanged_says_whether_the_running_vm_sees_it(running, live, expected):
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent'), running=running,
                          placement=Placement(in_place=True, live=live))
    result = actions.ensure_permanent(backend, VM, wanted, True)
    assert (result['changed'], result['restart_required']) == (False, expected)


@pytest.mark.parametrize('in_place', [False, True])
@pytest.mark.parametrize('check_mode', [False, True])
def test_a_stopped_vm_that_resumes_another_payload_needs_a_restart(in_place, check_mode):
    """A managed save image holds the payload the VM resumes with, whatever its definition says now."""
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent') if in_place else None,
                          placement=Placement(in_place=in_place, resumes_other=True))
    result = actions.ensure_permanent(backend, VM, wanted, check_mode)
    assert (result['changed'], result['restart_required']) == (not in_place, True)


@pytest.mark.parametrize('check_mode', [False, True])
def test_absent_detaches_a_permanent_payload(check_mode):
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent'))
    result = actions.ensure_absent(backend, VM, check_mode)
    assert (result['changed'], result['availability']) == (True, 'none')
    assert result['diff']['after'] == '' and keyed(wanted)[:8] not in result['diff']['before']
    assert 'meta-data  18  digest:' in result['diff']['before']
    assert changing(backend) == ([] if check_mode else ['detach'])


@pytest.mark.parametrize('availability', ['none', 'run-once'])
def test_absent_without_a_permanent_payload_changes_nothing(availability):
    record = PayloadRecord.none() if availability == 'none' else record_of(make_payload(), 'run-once')
    backend = FakeBackend(record=record)
    result = actions.ensure_absent(backend, VM, False)
    assert (result['changed'], result['availability']) == (False, 'none')
    assert changing(backend) == ['tidy']


@pytest.mark.parametrize('check_mode, wait', [(False, True), (False, False), (True, True)])
def test_run_once_starts_a_stopped_vm(check_mode, wait):
    wanted = make_payload()
    backend = FakeBackend(placement=Placement(reported={'volume': 'once-1'}))
    result = actions.start_once(backend, VM, wanted, False, wait, 30, check_mode)
    assert (result['changed'], result['availability'], result['volume']) == (True, 'run-once', 'once-1')
    expected = [] if check_mode else ['start_once'] + (['wait_running'] if wait else [])
    assert changing(backend) == expected
    assert 'place(once)' in backend.calls


def test_run_once_on_a_vm_running_with_it_changes_nothing():
    wanted = make_payload()
    backend = FakeBackend(running=True, live=record_of(wanted, 'run-once'))
    result = actions.start_once(backend, VM, wanted, True, True, 30, False)
    assert (result['changed'], result['volume']) == (False, 'vol-%s' % keyed(wanted)[:4])
    assert changing(backend) == [] and 'place(once)' not in backend.calls


@pytest.mark.parametrize('live_availability', ['none', 'permanent', 'run-once'])
def test_run_once_refuses_to_restart_a_running_vm_unless_told(live_availability):
    other = make_payload('instance-id: other\n')
    live = PayloadRecord.none() if live_availability == 'none' else record_of(other, live_availability)
    backend = FakeBackend(running=True, live=live)
    with pytest.raises(BackendError, match='web1 is running without this run-once payload; set restart: true'):
        actions.start_once(backend, VM, make_payload(), False, True, 30, False)
    assert changing(backend) == []


def test_run_once_with_restart_stops_and_starts_through_the_backend():
    backend = FakeBackend(running=True, live=record_of(make_payload('instance-id: other\n'), 'permanent'))
    assert actions.start_once(backend, VM, make_payload(), True, True, 30, False)['changed'] is True
    assert changing(backend) == ['start_once', 'wait_running']


def test_read_back_gives_content_only_when_asked():
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent'))
    plain = actions.read_back(backend, VM, include_content=False)
    assert plain['digest'] == keyed(wanted) and 'secret' not in repr(plain)
    assert actions.read_back(backend, VM, include_content=True)['files'][0]['content'] == 'secret'


@pytest.mark.parametrize('recorded, availability, expected', [
    ('instance-id: web1\n', 'permanent', True),
    ('instance-id: web1\n', 'run-once', True),
    ('instance-id: other\n', 'permanent', False),
    (None, 'none', False),
])
def test_read_back_compares_with_the_expected_payload_under_the_backends_digests(recorded, availability, expected):
    record = record_of(make_payload(recorded), availability) if recorded else PayloadRecord.none()
    backend = FakeBackend(record=record, live=record, running=availability == 'run-once')
    result = actions.read_back(backend, VM, include_content=False, expected=make_payload())
    assert (result['matches_expected'], result['expected_digest']) == (expected, keyed(make_payload()))
    assert changing(backend) == []


def test_read_back_of_a_running_vm_reads_what_it_runs_with():
    wanted = make_payload()
    backend = FakeBackend(running=True, record=PayloadRecord.none(), live=record_of(wanted, 'run-once'))
    assert actions.read_back(backend, VM, include_content=False)['availability'] == 'run-once'
    assert 'read_record(live)' in backend.calls


def test_read_back_says_why_it_cannot_tell():
    backend = FakeBackend(record=PayloadRecord.unknown('the engine shows payloads to administrators only'))
    result = actions.read_back(backend, VM, include_content=True)
    assert result['availability'] == 'unknown' and 'administrators' in result['msg']
    assert 'read_contents' not in backend.calls


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('decide', [
    lambda backend: actions.ensure_permanent(backend, VM, make_payload('instance-id: new\n'), backend.check_mode),
    lambda backend: actions.ensure_absent(backend, VM, backend.check_mode),
])
def test_a_change_the_platform_refuses_now_fails_in_check_mode_too(decide, check_mode):
    backend = FakeBackend(record=record_of(make_payload(), 'permanent'), refusal='web1 is up; the engine waits for down')
    backend.check_mode = check_mode
    with pytest.raises(BackendError, match='the engine waits for down'):
        decide(backend)
    assert changing(backend) == []


def test_a_refusal_does_not_matter_when_nothing_needs_changing():
    wanted = make_payload()
    backend = FakeBackend(record=record_of(wanted, 'permanent'), placement=Placement(in_place=True), refusal='no')
    assert actions.ensure_permanent(backend, VM, wanted, False)['changed'] is False
    assert actions.ensure_absent(FakeBackend(refusal='no'), VM, False)['changed'] is False


@pytest.mark.parametrize('decide', [
    lambda backend: actions.ensure_permanent(backend, VM, make_payload(), False),
    lambda backend: actions.ensure_absent(backend, VM, False),
    lambda backend: actions.start_once(backend, VM, make_payload(), True, True, 5, False),
])
def test_nothing_is_decided_on_a_payload_the_platform_will_not_show(decide):
    unknown = PayloadRecord.unknown('the engine shows payloads to administrators only')
    backend = FakeBackend(record=unknown, live=unknown, running=True)
    with pytest.raises(BackendError, match='administrators only'):
        decide(backend)
    assert changing(backend) == []


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def module_params(**extra):
    params = dict(name='web1', uuid=None, state='present', device='cdrom', label=None, preset=None,
                  max_content_size=None, files=[{'name': 'a.txt', 'content': 'a', 'content_b64': None, 'src': None}],
                  restart=False, wait=True, timeout=5, include_content=False, auth=None, uri='test:///default')
    params.update(extra)
    return params


@pytest.fixture
def fake_platform(monkeypatch):
    backend = FakeBackend(placement=Placement(reported={'volume': 'v'}))
    FakeBackend.instance = backend
    monkeypatch.setattr(actions, 'backend_class', lambda params: FakeBackend)
    return backend


def test_a_module_run_connects_decides_and_always_disconnects(fake_platform):
    result = actions.vm_payload(FakeModule(module_params()))
    assert result['changed'] is True and 'diff' not in result
    assert fake_platform.closed and changing(fake_platform) == ['attach']
    fake_platform.closed = False
    with pytest.raises(VmNotFoundError):
        actions.vm_payload(FakeModule(module_params(name='db9')))
    assert fake_platform.closed


def test_diff_is_returned_only_in_diff_mode(fake_platform):
    assert 'diff' in actions.vm_payload(FakeModule(module_params(), check_mode=True, diff=True))


@pytest.mark.parametrize('params, message', [
    (dict(device='floppy'), 'fake carries payloads on cdrom only, not floppy'),
    (dict(files=[{'name': '../x', 'content': 'a', 'content_b64': None, 'src': None}]), "segment '..'"),
    (dict(name=None, uuid='not-a-uuid'), 'uuid "not-a-uuid" is not a UUID'),
])
def test_a_payload_the_platform_cannot_carry_is_refused_before_connecting(fake_platform, params, message):
    FakeBackend.opened_with = None
    with pytest.raises(PayloadValidationError, match=message):
        actions.vm_payload(FakeModule(module_params(**params)))
    assert FakeBackend.opened_with is None and fake_platform.calls == []


def test_run_once_is_refused_before_connecting_where_the_platform_has_none(fake_platform):
    FakeBackend.opened_with = None
    with pytest.raises(PayloadValidationError, match='fake cannot start a VM once with a payload'):
        actions.vm_run_once_payload(FakeModule(module_params(run_once=False)))
    assert FakeBackend.opened_with is None


@pytest.mark.parametrize('run, check_mode, tidies', [
    (actions.vm_payload, False, True),
    (actions.vm_payload, True, False),
    (actions.vm_run_once_payload, False, True),
    (actions.vm_payload_info, False, False),
])
def test_only_a_module_that_changes_things_removes_what_killed_runs_left(fake_platform, monkeypatch, run, check_mode,
                                                                         tidies):
    tidied = []
    monkeypatch.setattr(actions, 'warn_stale_removed', tidied.append)
    run(FakeModule(module_params(expected=None), check_mode=check_mode))
    assert bool(tidied) is tidies
