# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payload, vm_run_once_payload and vm_payload_info on oVirt: the real ovirtsdk4 against the local engine.

Each module runs from its ``main()`` with the arguments Ansible would give it; the engine
(tests/unit/ovirt_engine.py) records every request, so the tests assert what was sent as well as
what the module answered.
"""

from __future__ import annotations

import json
import socket
from xml.etree import ElementTree

import pytest
from module_args import patch_module_args

import ovirt_engine
from ansible_collections.vmpayload.core.plugins.module_utils._backends import ovirt as ovirt_backend
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload
from ansible_collections.vmpayload.core.plugins.modules import vm_payload, vm_payload_info, vm_run_once_payload
from ovirt_engine import Payload

ADMIN = 'admin@internal'
SEED = [{'name': 'user-data', 'content': '#cloud-config\nhostname: web1\n'},
        {'name': 'meta-data', 'content': 'instance-id: web1\n'}]
SECRET = 'hunter2-Sup3r-Secret'
UNICODE = [{'name': 'café/naïve ☃.txt', 'content': '日本語 😀 %s\n' % SECRET}, {'name': 'ß', 'content': 'Ω'}]


@pytest.fixture
def engine(tmp_path, monkeypatch):
    for name in ('OVIRT_URL', 'OVIRT_HOSTNAME', 'OVIRT_USERNAME', 'OVIRT_PASSWORD', 'OVIRT_TOKEN', 'OVIRT_CAFILE',
                 'OVIRT_INI_PATH'):
        monkeypatch.delenv(name, raising=False)
    # Polls and lock retries at full speed: the engine's steps advance per request, not per second.
    monkeypatch.setattr(ovirt_backend, 'STATUS_POLL', 0)
    monkeypatch.setattr(ovirt_backend, 'LOCK_PAUSE', 0)
    with ovirt_engine.FakeEngine(tmp_path) as running:
        yield running


def auth_of(engine, username=ADMIN, **extra):
    return dict(dict(url=engine.url, username=username, password=engine.users[username].password,
                     ca_file=engine.ca_file), **extra)


def run(capsys, module, args, check_mode=False, diff=False):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)), \
            pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def seed(engine, **extra):
    return dict(dict(auth=auth_of(engine), name='web1', preset='nocloud', files=SEED), **extra)


def puts(engine):
    return engine.count('PUT', r'/vms/')


def sent_payloads(body):
    """(type, volume_id, sorted (name, content)) of each payload in a PUT body, as the SDK wrote it."""
    vm = ElementTree.fromstring(body)
    assert [child.tag for child in vm] == ['payloads'], 'the update carries the payload only'
    return [(p.findtext('type'), p.findtext('volume_id'),
             sorted((f.findtext('name'), f.findtext('content')) for f in p.findall('files/file')))
            for p in vm.findall('payloads/payload')]


def wanted_digest(files, **options):
    return parse_payload(files, **options).digest


# -- vm_payload -----------------------------------------------------------------------------------

def test_sets_the_payload_then_changes_nothing(engine, capsys):
    vm_id = engine.add_vm('web1')
    first = run(capsys, vm_payload, seed(engine))
    assert (first['changed'], first['availability']) == (True, 'permanent') and not first.get('failed')
    assert first['digest'] == wanted_digest(SEED, preset='nocloud')
    stored = engine.vm(vm_id).payload
    assert (stored.type, stored.volume_id) == ('cdrom', 'cidata')
    assert sorted(stored.files) == sorted((f['name'], f['content']) for f in SEED)
    put = [r for r in engine.api_requests() if r.method == 'PUT'][0]
    assert sent_payloads(put.body) == [('cdrom', 'cidata', sorted((f['name'], f['content']) for f in SEED))]

    engine.requests.clear()
    second = run(capsys, vm_payload, seed(engine))
    assert (second['changed'], second['digest']) == (False, first['digest'])
    # The fewest requests an idempotent run can make: a token, one search that brings the payload, a logout.
    assert [(r.method, r.path) for r in engine.requests] == [
        ('POST', '/ovirt-engine/sso/oauth/token'), ('GET', '/ovirt-engine/api/vms'),
        ('POST', '/ovirt-engine/services/sso-logout')]
    assert engine.requests[1].query['search'] == 'name="web1"'
    assert engine.live_tokens() == set()


def test_check_mode_and_diff_show_names_sizes_digests_never_content(engine, capsys):
    vm_id = engine.add_vm('web1', payload=Payload(volume_id='cidata', files=[('user-data', SECRET)]))
    result = run(capsys, vm_payload, seed(engine), check_mode=True, diff=True)
    assert result['changed'] is True and puts(engine) == 0
    assert 'user-data  %d  digest:' % len(SECRET) in result['diff']['before']
    assert 'meta-data  18  digest:' in result['diff']['after']
    assert SECRET not in json.dumps(result) and '#cloud-config' not in json.dumps(result)
    assert engine.vm(vm_id).payload.files == [('user-data', SECRET)]


def test_unicode_names_and_content_go_through_and_come_back_equal(engine, capsys):
    vm_id = engine.add_vm('wéb☃')
    result = run(capsys, vm_payload, dict(auth=auth_of(engine), name='wéb☃', label='TIQUETTE', files=UNICODE))
    assert result['changed'] is True
    assert sorted(engine.vm(vm_id).payload.files) == sorted((f['name'], f['content']) for f in UNICODE)
    back = run(capsys, vm_payload_info, dict(auth=auth_of(engine), id=vm_id, include_content=True))
    assert {f['name']: f['content'] for f in back['files']} == {f['name']: f['content'] for f in UNICODE}
    assert back['digest'] == result['digest'] and back['availability'] == 'permanent'
    again = run(capsys, vm_payload, dict(auth=auth_of(engine), name='wéb☃', label='TIQUETTE', files=UNICODE))
    assert again['changed'] is False


def test_absent_clears_the_payload_then_changes_nothing(engine, capsys):
    vm_id = engine.add_vm('web1', payload=Payload(volume_id='cidata', files=[('user-data', 'x')]))
    first = run(capsys, vm_payload, dict(auth=auth_of(engine), name='web1', state='absent'), diff=True)
    assert (first['changed'], first['availability']) == (True, 'none')
    assert 'user-data  1  digest:' in first['diff']['before'] and first['diff']['after'] == ''
    assert engine.vm(vm_id).payload is None
    bodies = [r.body for r in engine.api_requests() if r.method == 'PUT']
    assert len(bodies) == 1 and sent_payloads(bodies[0]) == []
    assert run(capsys, vm_payload, dict(auth=auth_of(engine), name='web1', state='absent'))['changed'] is False
    assert puts(engine) == 1


def test_a_running_vm_is_refused_with_the_engines_reason_in_check_mode_too(engine, capsys):
    engine.add_vm('web1', status='up')
    for check_mode in (True, False):
        result = run(capsys, vm_payload, seed(engine), check_mode=check_mode)
        assert result['failed'] is True
        assert 'changes a payload only while the VM is down, and VM web1 is up' in result['msg']
    assert puts(engine) == 0


def test_a_running_vm_that_already_has_the_payload_is_fine(engine, capsys):
    files = [(f['name'], f['content']) for f in SEED]
    engine.add_vm('web1', status='up', payload=Payload(volume_id='cidata', files=files))
    result = run(capsys, vm_payload, seed(engine))
    assert (result.get('failed'), result['changed']) == (None, False)


def test_a_token_from_ovirt_auth_is_used_as_it_is_and_not_revoked(engine, capsys):
    engine.add_vm('web1')
    token = json.loads(_login(engine))['access_token']
    fact = dict(token=token, url=engine.url, ca_file=engine.ca_file, insecure=False, timeout=0, compress=True,
                kerberos=False, headers=None)
    assert run(capsys, vm_payload, dict(auth=fact, name='web1', files=SEED))['changed'] is True
    assert token in engine.live_tokens()
    assert engine.count('POST', 'sso/oauth/token') == 1


def _login(engine):
    import ssl
    import http.client
    import urllib.parse
    connection = http.client.HTTPSConnection('localhost', engine.port,
                                             context=ssl.create_default_context(cafile=engine.ca_file))
    connection.request('POST', '/ovirt-engine/sso/oauth/token',
                       urllib.parse.urlencode(dict(grant_type='password', scope='ovirt-app-api', username=ADMIN,
                                                   password=engine.users[ADMIN].password)),
                       {'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json'})
    return connection.getresponse().read().decode()


def test_auth_keys_come_from_the_environment_awx_injects(engine, capsys, monkeypatch, tmp_path):
    engine.add_vm('web1')
    monkeypatch.setenv('OVIRT_URL', engine.url)
    monkeypatch.setenv('OVIRT_USERNAME', ADMIN)
    monkeypatch.setenv('OVIRT_PASSWORD', engine.users[ADMIN].password)
    # AWX writes the credential's CA file only into the INI file it names in OVIRT_INI_PATH.
    ini = tmp_path / 'ovirt.ini'
    ini.write_text('[ovirt]\novirt_url=%s\novirt_username=%s\novirt_password=x\novirt_ca_file=%s\n'
                   % (engine.url, ADMIN, engine.ca_file))
    monkeypatch.setenv('OVIRT_INI_PATH', str(ini))
    assert run(capsys, vm_payload, dict(auth={}, name='web1', files=SEED))['changed'] is True


def test_without_the_ca_the_engine_is_not_trusted(engine, capsys):
    engine.add_vm('web1')
    auth = auth_of(engine)
    del auth['ca_file']
    result = run(capsys, vm_payload, dict(auth=auth, name='web1', files=SEED))
    assert result['failed'] is True and 'is not trusted while looking up VM web1' in result['msg']
    assert 'Give the CA that signed its certificate as auth.ca_file' in result['msg']
    assert engine.users[ADMIN].password not in result['msg']


# -- checked before any request ---------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (dict(files=[{'name': 'big', 'content': '😀' * 4097}]),
     'file "big": Payload is limited to 16K (8194 UTF-16 code units of text; the limit is 8192)'),
    (dict(files=[{'name': 'bin', 'content_b64': '/wA='}]), 'oVirt carries payload content as text only'),
    (dict(files=[{'name': 'a', 'content': '12345'}], engine_payload_size=4), 'Payload is limited to 0K'),
    (dict(files=[{'name': 'vmpayload-restore/x', 'content': 'a'}]), 'reserved on oVirt'),
    (dict(files=SEED, drive='replace'), 'drive is a libvirt option'),
    (dict(files=SEED, target='hdc'), 'target is a libvirt option'),
    (dict(files=SEED, label='not a label'), 'not a valid CD-ROM volume id'),
])
def test_what_the_engine_would_refuse_is_refused_before_any_request(engine, capsys, args, message):
    engine.add_vm('web1')
    result = run(capsys, vm_payload, dict(dict(auth=auth_of(engine), name='web1'), **args))
    assert result['failed'] is True and message in result['msg']
    assert engine.requests == []


def test_exactly_the_engines_limit_is_accepted_by_both(engine, capsys):
    vm_id = engine.add_vm('web1')
    assert run(capsys, vm_payload, dict(auth=auth_of(engine), name='web1',
                                        files=[{'name': 'big', 'content': '😀' * 4096}]))['changed'] is True
    assert engine.vm(vm_id).payload.files == [('big', '😀' * 4096)]


# -- errors -----------------------------------------------------------------------------------------

def test_a_wrong_password_fails_clearly_and_echoes_no_secret(engine, capsys):
    engine.add_vm('web1')
    result = run(capsys, vm_payload, dict(seed(engine), auth=auth_of(engine, password='wrong-pw-123')))
    assert result['failed'] is True
    assert 'refused' in result['msg'] and "Cannot authenticate user 'admin@internal'" in result['msg']
    assert 'wrong-pw-123' not in json.dumps(result)


def test_a_token_the_engine_does_not_know_is_refused(engine, capsys):
    engine.add_vm('web1')
    fact = dict(token='expired-token-0000', url=engine.url, ca_file=engine.ca_file)
    result = run(capsys, vm_payload_info, dict(auth=fact, name='web1'))
    assert result['failed'] is True
    assert 'refused the token while looking up VM web1: it expired or was revoked' in result['msg']
    assert 'expired-token-0000' not in json.dumps(result)


@pytest.mark.parametrize('method, path, status, detail, expected', [
    ('GET', r'/vms$', 500, 'Internal Server Error', 'failed looking up VM web1 (HTTP 500): Internal Server Error'),
    ('GET', r'/vms$', 403, 'User is not authorized to perform this action.',
     'refused looking up VM web1 (HTTP 403): User is not authorized to perform this action.'),
    ('PUT', r'/vms/', 409, 'Cannot edit VM. VM web1 is being migrated.',
     'failed storing the payload of VM web1 (HTTP 409): Cannot edit VM. VM web1 is being migrated.'),
    ('PUT', r'/vms/', 503, None, 'failed storing the payload of VM web1 (HTTP 503)'),
])
def test_engine_failures_name_the_vm_the_action_and_the_reason(engine, capsys, method, path, status, detail,
                                                               expected):
    engine.add_vm('web1')
    engine.fail(method, path, status, '[%s]' % detail if detail else None, times=10)
    result = run(capsys, vm_payload, seed(engine))
    assert result['failed'] is True and expected in result['msg'], result['msg']
    assert engine.live_tokens() == set()


def test_a_busy_vm_is_tried_again_a_few_times(engine, capsys):
    vm_id = engine.add_vm('web1')
    engine.fail('PUT', r'/vms/', 409, '[Cannot edit VM. Related operation is currently in progress. Please try '
                                      'again later.]', times=2)
    assert run(capsys, vm_payload, seed(engine))['changed'] is True
    assert puts(engine) == 3 and engine.vm(vm_id).payload is not None


def test_a_busy_vm_that_stays_busy_fails_after_the_last_attempt(engine, capsys):
    engine.add_vm('web1')
    engine.fail('PUT', r'/vms/', 409, '[Cannot edit VM. VM is being updated.]', times=99)
    result = run(capsys, vm_payload, seed(engine))
    assert result['failed'] is True and 'VM is being updated' in result['msg']
    assert puts(engine) == ovirt_backend.LOCK_ATTEMPTS


@pytest.mark.parametrize('args, message', [
    (dict(name='db9'), 'no VM named db9 on the oVirt engine at'),
    (dict(id='6a0b7b2e-40a6-4bba-9e5b-9b1d22c7a1f0'), 'no VM with id 6a0b7b2e-40a6-4bba-9e5b-9b1d22c7a1f0'),
])
def test_a_missing_vm_is_named(engine, capsys, args, message):
    engine.add_vm('web1')
    result = run(capsys, vm_payload_info, dict(auth=auth_of(engine), **args))
    assert result['failed'] is True and message in result['msg']


def test_an_engine_that_is_not_there_fails_clearly(engine, capsys):
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        closed_port = probe.getsockname()[1]
    auth = dict(auth_of(engine), url='https://localhost:%d/ovirt-engine/api' % closed_port)
    result = run(capsys, vm_payload_info, dict(auth=auth, name='web1'))
    assert result['failed'] is True and 'cannot reach the oVirt engine at https://localhost:%d' % closed_port in \
        result['msg']


def test_an_engine_that_does_not_answer_times_out(engine, capsys):
    engine.add_vm('web1')
    engine.hang('GET', r'/vms$', 5)
    result = run(capsys, vm_payload_info, dict(auth=auth_of(engine, timeout=1), name='web1'))
    assert result['failed'] is True and 'did not answer in time while looking up VM web1' in result['msg']


# -- who may see payloads ------------------------------------------------------------------------------

def test_a_user_without_an_admin_role_gets_unknown_never_a_false_none(engine, capsys):
    engine.add_vm('web1', payload=Payload(volume_id='cidata', files=[('user-data', SECRET)]))
    info = run(capsys, vm_payload_info, dict(auth=auth_of(engine, 'viewer@internal'), name='web1'))
    assert info['availability'] == 'unknown' and 'administrator role' in info['msg']
    assert SECRET not in json.dumps(info)
    for module, args in ((vm_payload, seed(engine)), (vm_payload, dict(name='web1', state='absent')),
                         (vm_run_once_payload, dict(name='web1', files=SEED))):
        result = run(capsys, module, dict(args, auth=auth_of(engine, 'viewer@internal')))
        assert result['failed'] is True and 'administrator role' in result['msg']
    assert puts(engine) == 0 and engine.count('POST', r'/start$') == 0


def test_an_admin_sees_none_as_none(engine, capsys):
    engine.add_vm('web1')
    info = run(capsys, vm_payload_info, dict(auth=auth_of(engine), name='web1'))
    assert (info['availability'], info['files']) == ('none', [])


# -- run once ------------------------------------------------------------------------------------------

KICKSTART = [{'name': 'ks.cfg', 'content': 'rootpw --iscrypted %s\n' % SECRET}]


def once(engine, **extra):
    return dict(dict(auth=auth_of(engine), name='install1', label='OEMDRV', files=KICKSTART), **extra)


def boot_files(boot):
    return dict(boot.payload.files) if boot.payload else {}


def test_run_once_boots_with_the_payload_and_the_vm_gets_back_what_it_keeps(engine, capsys):
    vm_id = engine.add_vm('install1')
    result = run(capsys, vm_run_once_payload, once(engine))
    assert (result['changed'], result['availability']) == (True, 'run-once') and not result.get('failed')
    vm = engine.vm(vm_id)
    assert vm.status == 'up' and len(vm.boots) == 1
    assert boot_files(vm.boots[0])['ks.cfg'] == KICKSTART[0]['content']
    assert json.loads(boot_files(vm.boots[0])['vmpayload-restore/kept.json'])['availability'] == 'none'
    start = [r for r in engine.requests if r.path.endswith('/start')][0]
    assert 'use_cloud_init' not in start.body and 'use_sysprep' not in start.body

    info = run(capsys, vm_payload_info, dict(auth=auth_of(engine), name='install1'))
    assert (info['availability'], info['restore_pending']) == ('run-once', True)
    assert info['digest'] == result['digest'] == wanted_digest(KICKSTART, label='OEMDRV')
    assert [f['name'] for f in info['files']] == ['ks.cfg']

    engine.requests.clear()
    again = run(capsys, vm_run_once_payload, once(engine))
    assert again['changed'] is False and puts(engine) == 0 and engine.count('POST', '/start') == 0

    vm.status = 'down'
    restored = run(capsys, vm_payload, dict(auth=auth_of(engine), name='install1', state='absent'))
    assert (restored['changed'], restored['restored']) == (True, True)
    assert vm.payload is None
    assert run(capsys, vm_payload, dict(auth=auth_of(engine), name='install1', state='absent'))['changed'] is False


def test_run_once_keeps_a_permanent_payload_in_its_journal_and_vm_payload_restores_it(engine, capsys):
    permanent = Payload(type='cdrom', volume_id='cidata', files=[(f['name'], f['content']) for f in SEED])
    vm_id = engine.add_vm('install1', payload=permanent)
    assert run(capsys, vm_run_once_payload, once(engine))['changed'] is True
    boot = boot_files(engine.vm(vm_id).boots[0])
    assert boot['vmpayload-restore/files/user-data'] == SEED[0]['content']
    kept = run(capsys, vm_payload_info, dict(auth=auth_of(engine), name='install1'))
    assert kept['availability'] == 'run-once'

    engine.vm(vm_id).status = 'down'
    args = dict(auth=auth_of(engine), name='install1', preset='nocloud', files=SEED)
    assert run(capsys, vm_payload, dict(args), check_mode=True)['changed'] is True
    assert run(capsys, vm_payload, dict(args))['changed'] is True
    assert sorted(engine.vm(vm_id).payload.files) == sorted(permanent.files)
    assert run(capsys, vm_payload, dict(args))['changed'] is False


def test_run_once_on_a_running_vm_needs_restart(engine, capsys):
    vm_id = engine.add_vm('install1', status='up')
    refused = run(capsys, vm_run_once_payload, once(engine))
    assert refused['failed'] is True and 'set restart: true' in refused['msg']
    assert puts(engine) == 0
    result = run(capsys, vm_run_once_payload, once(engine, restart=True))
    assert result['changed'] is True
    assert engine.count('POST', '/shutdown$') == 1 and engine.count('POST', '/stop$') == 0
    assert engine.vm(vm_id).status == 'up' and len(engine.vm(vm_id).boots) == 1


def test_a_guest_that_ignores_shutdown_is_powered_off_after_the_timeout(engine, capsys):
    vm_id = engine.add_vm('install1', status='up')
    engine.vm(vm_id).ignores_shutdown = True
    result = run(capsys, vm_run_once_payload, once(engine, restart=True, timeout=0, wait=False))
    assert result.get('changed') is True, result
    assert engine.count('POST', '/shutdown$') == 1 and engine.count('POST', '/stop$') == 1


def test_a_pending_next_run_configuration_is_applied_before_the_payload_is_stored(engine, capsys):
    vm_id = engine.add_vm('install1', status='up', next_run=True)
    assert run(capsys, vm_run_once_payload, once(engine, restart=True))['changed'] is True
    assert boot_files(engine.vm(vm_id).boots[0])['ks.cfg'] == KICKSTART[0]['content']


def test_check_mode_starts_and_stores_nothing(engine, capsys):
    vm_id = engine.add_vm('install1', status='up')
    result = run(capsys, vm_run_once_payload, once(engine, restart=True), check_mode=True, diff=True)
    assert result['changed'] is True and 'ks.cfg' in result['diff']['after']
    assert SECRET not in json.dumps(result)
    assert [r.method for r in engine.api_requests()] == ['GET'] and engine.vm(vm_id).status == 'up'


def test_wait_false_returns_without_polling(engine, capsys):
    vm_id = engine.add_vm('install1')
    assert run(capsys, vm_run_once_payload, once(engine, wait=False))['changed'] is True
    assert engine.vm(vm_id).status == 'wait_for_launch'


def test_a_vm_that_never_comes_up_fails_after_the_timeout(engine, capsys):
    engine.steps_to_up = 1000
    engine.add_vm('install1')
    result = run(capsys, vm_run_once_payload, once(engine, timeout=0))
    assert result['failed'] is True and 'did not reach the up status within 0 s (it is powering up)' in result['msg']


# -- run once: a failure at every step leaves the VM as it was, and a rerun converges ------------------

def kept_payload():
    return Payload(type='floppy', volume_id='SYSPREP', files=[('Unattend.xml', '<unattend>%s</unattend>' % SECRET)])


@pytest.mark.parametrize('status, method, path', [
    ('down', 'GET', r'/vms$'),           # finding the VM
    ('up', 'POST', r'/shutdown$'),       # stopping it
    ('up', 'GET', r'/vms/[^/]+$'),       # waiting for it to stop
    ('down', 'PUT', r'/vms/'),           # storing the one-boot payload
    ('down', 'POST', r'/start$'),        # starting it
])
def test_a_failure_at_any_step_leaves_what_the_vm_keeps(engine, capsys, status, method, path):
    vm_id = engine.add_vm('install1', status=status, payload=kept_payload())
    engine.fail(method, path, 500, '[Internal engine error]', times=1)
    failed = run(capsys, vm_run_once_payload, once(engine, restart=True))
    assert failed['failed'] is True and 'Internal engine error' in failed['msg']
    vm = engine.vm(vm_id)
    assert vm.payload == kept_payload() and vm.boots == []
    if path.endswith('start$'):
        assert 'the payload it keeps was restored' in failed['msg']
    converged = run(capsys, vm_run_once_payload, once(engine, restart=True))
    assert converged['changed'] is True and vm.status == 'up'
    assert boot_files(vm.boots[0])['ks.cfg'] == KICKSTART[0]['content']
    assert boot_files(vm.boots[0])['vmpayload-restore/files/Unattend.xml'] == '<unattend>%s</unattend>' % SECRET


def test_an_interruption_between_storing_and_starting_converges(engine, capsys, monkeypatch):
    vm_id = engine.add_vm('install1', payload=kept_payload())
    # The start fails, and so does the restore after it: the engine is left as a crash between storing and
    # starting would leave it, the one-boot payload and its journal stored on the down VM.
    engine.fail('POST', r'/start$', 500, '[Internal engine error]', times=1)
    store = ovirt_backend.OvirtBackend._store
    stores = []

    def second_store_fails(self, *args, **kwargs):
        stores.append(args)
        if len(stores) == 2:
            engine.fail('PUT', r'/vms/', 500, '[Internal engine error]', times=1)
        return store(self, *args, **kwargs)

    monkeypatch.setattr(ovirt_backend.OvirtBackend, '_store', second_store_fails)
    failed = run(capsys, vm_run_once_payload, once(engine))
    monkeypatch.setattr(ovirt_backend.OvirtBackend, '_store', store)
    assert failed['failed'] is True and 'restoring the payload it keeps failed too' in failed['msg']
    vm = engine.vm(vm_id)
    assert 'vmpayload-restore/kept.json' in dict(vm.payload.files) and vm.boots == []
    pending = run(capsys, vm_payload_info, dict(auth=auth_of(engine), name='install1'))
    assert (pending['availability'], pending['restore_pending']) == ('run-once', True)

    converged = run(capsys, vm_run_once_payload, once(engine))
    assert converged['changed'] is True and vm.status == 'up'
    assert boot_files(vm.boots[-1])['ks.cfg'] == KICKSTART[0]['content']
    # The journal still holds what the VM keeps, not the one-boot payload of the first attempt.
    assert boot_files(vm.boots[-1])['vmpayload-restore/files/Unattend.xml'] == '<unattend>%s</unattend>' % SECRET
    vm.status = 'down'
    keep = dict(auth=auth_of(engine), name='install1', device='floppy', label='SYSPREP',
                files=[{'name': 'Unattend.xml', 'content': '<unattend>%s</unattend>' % SECRET}])
    assert run(capsys, vm_payload, keep)['changed'] is True
    assert vm.payload == kept_payload()
    assert run(capsys, vm_payload, keep)['changed'] is False
