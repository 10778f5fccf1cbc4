# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The local oVirt engine speaks the protocol the real ovirtsdk4 expects, and behaves as the engine's source says."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse

import ovirtsdk4 as sdk
import pytest
from ovirtsdk4 import types

import ovirt_engine
from ovirt_engine import Payload, UserAccount

ADMIN = 'admin@internal'
VIEWER = 'viewer@internal'
CLOUD_INIT = Payload(type='cdrom', volume_id='cidata', files=[('user-data', '#cloud-config\n'),
                                                              ('meta-data', 'instance-id: web1\n')])


@pytest.fixture
def engine(tmp_path):
    with ovirt_engine.FakeEngine(tmp_path) as running:
        yield running


@pytest.fixture
def connect(engine):
    """Opens SDK connections to the engine as a user; they are released (without logging out) afterwards."""
    opened = []

    def connect_as(username=ADMIN, password=None, **options):
        connection = sdk.Connection(url=engine.url, username=username,
                                    password=engine.users[username].password if password is None else password,
                                    ca_file=engine.ca_file, **options)
        opened.append(connection)
        return connection

    yield connect_as
    for connection in opened:
        connection.close(logout=False)


def vms_of(connection):
    return connection.system_service().vms_service()


def vm_service(connection, vm_id):
    return vms_of(connection).vm_service(vm_id)


def sdk_payload(payload):
    return types.Payload(type=types.VmDeviceType(payload.type), volume_id=payload.volume_id,
                         files=[types.File(name=name, content=content) for name, content in payload.files])


def as_payload(vm):
    """The first payload of an SDK VM as a Payload, None when the VM came without one."""
    if not vm.payloads:
        return None
    payload = vm.payloads[0]
    return Payload(type=payload.type.value, volume_id=payload.volume_id,
                   files=[(item.name, item.content or '') for item in payload.files or []])


def raw_request(engine, method, path, body=None, headers=None):
    """(status, headers, body) of one request made without the SDK."""
    connection = http.client.HTTPSConnection('localhost', engine.port, timeout=5,
                                             context=ssl.create_default_context(cafile=engine.ca_file))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# -- SSO and authentication ----------------------------------------------------------------------


def test_the_sdk_logs_in_and_reads_a_vm_with_its_payload(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)

    vm = vm_service(connect(), vm_id).get()

    assert isinstance(vm, types.Vm)
    assert (vm.id, vm.name, vm.status) == (vm_id, 'web1', types.VmStatus.DOWN)
    assert vm.next_run_configuration_exists is False
    assert vm.payloads[0].type == types.VmDeviceType.CDROM
    assert vm.payloads[0].volume_id == 'cidata'
    assert vm.payloads[0].files[0].name == 'user-data'
    assert vm.payloads[0].files[0].content == '#cloud-config\n'
    token_request, get_request = engine.requests
    assert (token_request.method, token_request.path) == ('POST', ovirt_engine.SSO_TOKEN_PATH)
    assert (get_request.method, get_request.path) == ('GET', '%s/vms/%s' % (ovirt_engine.API_PATH, vm_id))
    assert get_request.headers['Authorization'] == 'Bearer %s' % engine.live_tokens().pop()


def test_the_token_endpoint_answers_as_the_engine_sso(engine):
    form = {'grant_type': 'password', 'scope': 'ovirt-app-api', 'username': ADMIN, 'password': 'engine-admin-pw'}
    headers = {'Content-Type': 'application/x-www-form-urlencoded', 'Accept': 'application/json'}

    status, reply_headers, body = raw_request(engine, 'POST', ovirt_engine.SSO_TOKEN_PATH,
                                              urllib.parse.urlencode(form), headers)

    answer = json.loads(body)
    assert status == 200 and reply_headers['Content-Type'] == 'application/json'
    assert sorted(answer) == ['access_token', 'exp', 'scope', 'token_type']
    assert (answer['scope'], answer['token_type']) == ('ovirt-app-api', 'bearer')
    assert answer['exp'].isdigit()
    assert engine.live_tokens() == {answer['access_token']}

    form['password'] = 'wrong'
    status, _headers, body = raw_request(engine, 'POST', ovirt_engine.SSO_TOKEN_PATH,
                                         urllib.parse.urlencode(form), headers)
    assert status == 400
    assert json.loads(body) == {
        'error_code': 'access_denied',
        'error': "Cannot authenticate user 'admin@internal': The username or password is incorrect..",
    }


def test_a_wrong_password_is_an_auth_error_with_the_engine_text(connect):
    with pytest.raises(sdk.AuthError) as failure:
        connect(ADMIN, password='not-the-password').authenticate()

    assert str(failure.value) == ("Error during SSO authentication access_denied : Cannot authenticate user "
                                  "'admin@internal': The username or password is incorrect..")


@pytest.mark.parametrize('authorization', [None, 'Bearer not-a-token', 'Basic YWRtaW5AaW50ZXJuYWw6eA=='])
def test_api_requests_need_a_live_bearer_token(engine, authorization):
    headers = {'Authorization': authorization} if authorization else {}

    status, reply_headers, body = raw_request(engine, 'GET', ovirt_engine.API_PATH + '/vms', headers=headers)

    assert status == 401
    assert reply_headers['WWW-Authenticate'] == 'Basic realm="RESTAPI"'
    assert reply_headers['Content-Type'].startswith('text/html')
    assert body == ovirt_engine.UNAUTHORIZED_PAGE


def test_logout_revokes_the_token(engine, connect):
    connection = connect()
    token = connection.authenticate()
    assert engine.live_tokens() == {token}

    connection.close()

    assert engine.live_tokens() == set()
    logout = engine.requests[-1]
    assert (logout.method, logout.path) == ('POST', ovirt_engine.SSO_LOGOUT_PATH)
    assert urllib.parse.parse_qs(logout.body) == {'scope': ['ovirt-app-api'], 'token': [token]}
    status, _headers, _body = raw_request(engine, 'GET', ovirt_engine.API_PATH + '/vms',
                                          headers={'Authorization': 'Bearer ' + token})
    assert status == 401


# -- reading VMs -----------------------------------------------------------------------------------


def test_an_unknown_vm_is_not_found_with_an_empty_body(connect):
    with pytest.raises(sdk.NotFoundError) as failure:
        vm_service(connect(), 'b0b0b0b0-0000-4000-8000-000000000000').get()

    assert failure.value.code == 404
    assert failure.value.fault is None


def test_search_finds_by_name_and_lists_payloads_only_with_all_content(engine, connect):
    web1 = engine.add_vm('web1', payload=CLOUD_INIT)
    spaced = engine.add_vm('web 1', payload=CLOUD_INIT)
    connection = connect()

    plain = vms_of(connection).list(search='name=web1')
    quoted = vms_of(connection).list(search='name="web 1"', all_content=True)

    assert [(vm.id, vm.payloads) for vm in plain] == [(web1, None)]
    assert [vm.id for vm in quoted] == [spaced]
    assert as_payload(quoted[0]) == CLOUD_INIT
    assert engine.requests[-1].query == {'search': 'name="web 1"', 'all_content': 'true'}
    assert engine.requests[-1].headers['All-Content'] == 'true'
    assert vms_of(connection).list(search='name=web') == []


# -- writing payloads --------------------------------------------------------------------------------


def test_a_payload_with_unicode_names_and_content_round_trips(engine, connect):
    vm_id = engine.add_vm('web1')
    sent = Payload(type='floppy', volume_id='Ünïcødé_ボリューム.1', files=[
        ('ファイル/ünïcode.txt', 'grüße 🎉\nzweite Zeile <&> "quoted"\n'),
        ('empty', ''),
    ])
    service = vm_service(connect(), vm_id)

    answered = service.update(types.Vm(payloads=[sdk_payload(sent)]))

    assert as_payload(answered) == sent
    assert as_payload(service.get()) == sent
    assert engine.vm(vm_id).payload == sent
    put = engine.requests[-2]
    assert (put.method, put.path) == ('PUT', '%s/vms/%s' % (ovirt_engine.API_PATH, vm_id))
    assert 'grüße 🎉' in put.body and '<volume_id>Ünïcødé_ボリューム.1</volume_id>' in put.body


@pytest.mark.parametrize('status', sorted(ovirt_engine.NOT_RUNNING_STATUSES))
def test_a_payload_is_written_while_the_vm_is_not_running(engine, connect, status):
    vm_id = engine.add_vm('web1', status=status)

    answered = vm_service(connect(), vm_id).update(types.Vm(payloads=[sdk_payload(CLOUD_INIT)]))

    assert as_payload(answered) == CLOUD_INIT == engine.vm(vm_id).payload
    # VmMapper gives ImageIllegal no REST status.
    assert answered.status == (None if status == 'image_illegal' else types.VmStatus(status))


@pytest.mark.parametrize('status', ['up', 'wait_for_launch', 'powering_up', 'powering_down', 'paused',
                                    'migrating_from', 'reboot_in_progress', 'not_responding'])
def test_a_payload_sent_to_a_running_vm_is_dropped_and_the_old_one_answered(engine, connect, status):
    vm_id = engine.add_vm('web1', status=status, payload=CLOUD_INIT)
    other = Payload(type='floppy', volume_id='other', files=[('a', 'b')])
    service = vm_service(connect(), vm_id)

    assert as_payload(service.update(types.Vm(payloads=[sdk_payload(other)]))) == CLOUD_INIT
    assert as_payload(service.update(types.Vm(payloads=[]))) == CLOUD_INIT
    assert engine.vm(vm_id).payload == CLOUD_INIT


def test_empty_payloads_clear_and_a_put_without_payloads_leaves_them(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)
    service = vm_service(connect(), vm_id)

    assert as_payload(service.update(types.Vm(name='web1'))) == CLOUD_INIT
    assert '<payloads>' not in engine.requests[-1].body
    cleared = service.update(types.Vm(payloads=[]))
    assert cleared.payloads is None and engine.vm(vm_id).payload is None


def test_only_the_first_payload_is_kept(engine, connect):
    vm_id = engine.add_vm('web1')
    second = Payload(type='floppy', volume_id='second', files=[('b', 'second')])

    answered = vm_service(connect(), vm_id).update(types.Vm(payloads=[sdk_payload(CLOUD_INIT), sdk_payload(second)]))

    assert len(answered.payloads) == 1 and as_payload(answered) == CLOUD_INIT


@pytest.mark.parametrize('payload_size, content, refusal', [
    (8192, '🎉' * 4096, None),  # 4096 four-byte characters are 8192 UTF-16 units, Java's String.length()
    (8192, '🎉' * 4096 + 'x', '[Payload is limited to 16K]'),
    (8192, 'x' * 8192, None),
    (8192, 'é' * 8193, '[Payload is limited to 16K]'),
    (4096, 'x' * 4097, '[Payload is limited to 8K]'),
])
def test_each_file_is_limited_to_payload_size_utf16_units(engine, connect, payload_size, content, refusal):
    engine.payload_size = payload_size
    vm_id = engine.add_vm('web1')
    wanted = Payload(files=[('small', 'ok'), ('big', content)])
    service = vm_service(connect(), vm_id)

    if refusal is None:
        assert as_payload(service.update(types.Vm(payloads=[sdk_payload(wanted)]))) == wanted
    else:
        with pytest.raises(sdk.Error) as failure:
            service.update(types.Vm(payloads=[sdk_payload(wanted)]))
        assert (failure.value.code, failure.value.fault.reason) == (400, 'Operation Failed')
        assert failure.value.fault.detail == refusal
        assert engine.vm(vm_id).payload is None


@pytest.mark.parametrize('volume_id, refusal', [
    ('config-2', None),
    ('', None),
    ('Größe_ボリューム.v1', None),
    ('x' * 32, None),
    ('x' * 33, ['size must be between 0 and 32', 'Attribute: payload.volumeId']),
    ('has space', [ovirt_engine.VOLUME_ID_SPECIAL_CHARS, 'Attribute: payload.volumeId']),
    ('slash/', [ovirt_engine.VOLUME_ID_SPECIAL_CHARS, 'Attribute: payload.volumeId']),
])
def test_volume_ids_follow_the_engine_bean_validation(engine, connect, volume_id, refusal):
    vm_id = engine.add_vm('web1')
    wanted = Payload(volume_id=volume_id, files=[('a', 'b')])
    service = vm_service(connect(), vm_id)

    if refusal is None:
        service.update(types.Vm(payloads=[sdk_payload(wanted)]))
        # Stored as sent; the SDK reads an empty <volume_id/> back as None.
        assert engine.vm(vm_id).payload == wanted
    else:
        with pytest.raises(sdk.Error) as failure:
            service.update(types.Vm(payloads=[sdk_payload(wanted)]))
        assert failure.value.code == 400
        assert failure.value.fault.detail == '[%s]' % ', '.join(refusal)


def test_the_device_type_is_read_as_the_engine_reads_its_enums(engine, connect):
    vm_id = engine.add_vm('web1')
    token = connect().authenticate()
    headers = {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/xml', 'Accept': 'application/xml'}
    path = '%s/vms/%s' % (ovirt_engine.API_PATH, vm_id)
    body = '<vm><payloads><payload><type>%s</type><files><file><name>a</name><content>b</content></file></files>' \
           '</payload></payloads></vm>'

    status, _headers, answer = raw_request(engine, 'PUT', path, body % 'disk', headers)
    assert status == 400
    assert b'<reason>Invalid value</reason>' in answer
    assert b"The string 'disk' isn't a valid value for the 'VmDeviceType' enumerated type." in answer

    status, _headers, _answer = raw_request(engine, 'PUT', path, body % 'CDROM', headers)
    assert status == 200 and engine.vm(vm_id).payload.type == 'cdrom'


# -- start, shutdown and stop ------------------------------------------------------------------


def test_start_boots_with_the_stored_payload_and_comes_up_one_step_per_get(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)
    service = vm_service(connect(), vm_id)

    service.start()

    assert engine.vm(vm_id).status == 'wait_for_launch'
    assert engine.vm(vm_id).boots == [ovirt_engine.Boot(payload=CLOUD_INIT)]
    engine.vm(vm_id).payload = None  # a change after the start does not reach this boot
    assert engine.vm(vm_id).boots[0].payload == CLOUD_INIT
    statuses = [service.get().status for _poll in range(3)]
    assert statuses == [types.VmStatus.POWERING_UP, types.VmStatus.UP, types.VmStatus.UP]
    assert engine.requests[-4].body.startswith('<action')


def test_steps_to_up_sets_how_many_gets_a_start_takes(engine, connect):
    engine.steps_to_up = 0
    vm_id = engine.add_vm('web1')

    vm_service(connect(), vm_id).start()

    assert engine.vm(vm_id).status == 'up'


@pytest.mark.parametrize('status, detail', [
    ('up', '[Cannot run VM because the VM is in Up status.]'),
    ('wait_for_launch', '[Cannot run VM because the VM is in Wait for Launch status.]'),
    ('powering_up', '[Cannot run VM because the VM is in Powering Up status.]'),
    ('powering_down', '[Cannot run VM because the VM is in Powering Down status.]'),
    ('migrating_from', '[Cannot run VM because the VM is in Migrating status.]'),
    ('image_illegal', '[Cannot run VM because the VM is in Image Illegal status.]'),
    ('image_locked', '[Cannot run VM: VM is locked. Please try again in a few minutes.]'),
    ('migrating_to', '[Cannot run VM. VM is running.]'),
])
def test_start_is_refused_while_the_vm_cannot_run(engine, connect, status, detail):
    vm_id = engine.add_vm('web1', status=status)

    with pytest.raises(sdk.Error) as failure:
        vm_service(connect(), vm_id).start()

    assert (failure.value.code, failure.value.fault.detail) == (409, detail)
    assert engine.vm(vm_id).boots == []


@pytest.mark.parametrize('flag, initialization', [('use_cloud_init', 'cloud_init'), ('use_sysprep', 'sysprep'),
                                                  ('use_ignition', 'ignition')])
def test_an_initialization_asked_for_boots_without_the_stored_payload(engine, connect, flag, initialization):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)

    vm_service(connect(), vm_id).start(**{flag: True})

    assert engine.vm(vm_id).boots == [ovirt_engine.Boot(payload=None, initialization=initialization)]


def test_initialization_flags_set_false_keep_the_stored_payload_and_two_true_are_refused(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)
    service = vm_service(connect(), vm_id)

    with pytest.raises(sdk.Error) as failure:
        service.start(use_cloud_init=True, use_sysprep=True)
    assert failure.value.code == 409
    assert failure.value.fault.reason == ovirt_engine.MIXED_INITIALIZATION
    assert failure.value.fault.detail is None

    service.start(use_cloud_init=False)
    assert engine.vm(vm_id).boots == [ovirt_engine.Boot(payload=CLOUD_INIT)]


def test_shutdown_passes_through_powering_down_and_stop_is_at_once(engine, connect):
    vm_id = engine.add_vm('web1', status='up')
    service = vm_service(connect(), vm_id)

    service.shutdown()
    assert engine.vm(vm_id).status == 'powering_down'
    assert service.get().status == types.VmStatus.DOWN

    with pytest.raises(sdk.Error) as failure:
        service.stop()
    assert (failure.value.code, failure.value.fault.detail) == (409, '[Cannot stop VM. VM is not running.]')
    with pytest.raises(sdk.Error) as failure:
        service.shutdown()
    assert (failure.value.code, failure.value.fault.detail) == (409, '[Cannot shutdown VM. VM is not running.]')

    engine.vm(vm_id).status = 'up'
    service.stop()
    assert engine.vm(vm_id).status == 'down'


def test_a_guest_that_ignores_acpi_stays_up_until_stopped(engine, connect):
    vm_id = engine.add_vm('web1', status='up')
    engine.vm(vm_id).ignores_shutdown = True
    service = vm_service(connect(), vm_id)

    service.shutdown()

    assert [service.get().status for _poll in range(2)] == [types.VmStatus.UP, types.VmStatus.UP]
    service.stop()
    assert service.get().status == types.VmStatus.DOWN


def test_shutdown_of_a_vm_that_is_not_up_stops_it(engine, connect):
    vm_id = engine.add_vm('web1', status='powering_up')

    vm_service(connect(), vm_id).shutdown()

    assert engine.vm(vm_id).status == 'down'


def test_a_pending_next_run_configuration_clears_the_payload_at_power_off(engine, connect):
    vm_id = engine.add_vm('web1', status='up', payload=CLOUD_INIT, next_run=True)
    service = vm_service(connect(), vm_id)
    assert service.get().next_run_configuration_exists is True

    service.stop()

    down = service.get()
    assert (down.status, down.next_run_configuration_exists, down.payloads) == (types.VmStatus.DOWN, False, None)
    assert engine.vm(vm_id).payload is None


# -- who sees what -------------------------------------------------------------------------------


def test_a_non_admin_is_filtered_by_default_and_never_sees_payloads(engine, connect):
    vm_id = engine.add_vm('web1', status='up', payload=CLOUD_INIT)
    viewer = connect(VIEWER)

    seen = vm_service(viewer, vm_id).get()
    listed = vms_of(viewer).list(search='name=web1', all_content=True)

    assert (seen.status, seen.payloads, seen.placement_policy, seen.host) == (types.VmStatus.UP, None, None, None)
    assert [vm.payloads for vm in listed] == [None]
    admin_view = vm_service(connect(), vm_id).get()
    assert admin_view.placement_policy.affinity == types.VmAffinity.MIGRATABLE
    assert admin_view.host.id == ovirt_engine.HOST_ID


def test_a_non_admin_unfiltered_query_fails_with_the_engine_400(engine, connect):
    vm_id = engine.add_vm('web1')
    viewer = connect(VIEWER)

    with pytest.raises(sdk.Error) as failure:
        vm_service(viewer, vm_id).get(filter=False)

    assert not isinstance(failure.value, sdk.AuthError)
    assert failure.value.code == 400
    assert failure.value.fault.detail == 'query execution failed due to insufficient permissions.'

    engine.filter_by_default = False
    with pytest.raises(sdk.Error) as failure:
        vms_of(viewer).list()
    assert failure.value.code == 400
    assert vms_of(connect(VIEWER, headers={'Filter': 'true'})).list()[0].id == vm_id


def test_an_admin_with_filter_keeps_payloads_but_loses_the_placement_policy(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)

    seen = vm_service(connect(), vm_id).get(filter=True)

    assert as_payload(seen) == CLOUD_INIT and seen.placement_policy is None


def test_the_session_keeps_the_admin_flag_of_its_login_while_payloads_follow_the_role(engine, connect):
    vm_id = engine.add_vm('web1', payload=CLOUD_INIT)
    viewer = connect(VIEWER)
    vm_service(viewer, vm_id).get()

    engine.users[VIEWER].admin = True
    seen = vm_service(viewer, vm_id).get()

    assert as_payload(seen) == CLOUD_INIT and seen.placement_policy is None


def test_changing_or_running_a_vm_needs_the_action_group(engine, connect):
    vm_id = engine.add_vm('web1')
    engine.users['manager@internal'] = UserAccount(password='manager-pw', action_groups=ovirt_engine.USER_VM_MANAGER)
    refused = (403, '[User is not authorized to perform this action.]')

    for request in (lambda: vm_service(connect(VIEWER), vm_id).update(types.Vm(payloads=[sdk_payload(CLOUD_INIT)])),
                    lambda: vm_service(connect(VIEWER), vm_id).start()):
        with pytest.raises(sdk.AuthError) as failure:
            request()
        assert (failure.value.code, failure.value.fault.detail) == refused

    answered = vm_service(connect('manager@internal'), vm_id).update(types.Vm(payloads=[sdk_payload(CLOUD_INIT)]))
    assert answered.payloads is None and engine.vm(vm_id).payload == CLOUD_INIT


def test_the_api_root_shows_the_summary_only_to_unfiltered_requests(engine, connect):
    engine.add_vm('web1', status='up')
    admin, viewer = connect(), connect(VIEWER)

    assert admin.test(raise_exception=True)
    assert admin.system_service().get().summary.vms.total == 1
    assert viewer.system_service().get().summary is None
    assert viewer.system_service().get().product_info.name == 'oVirt Engine'


# -- what tests control ----------------------------------------------------------------------------


def test_injected_faults_come_first_then_the_engine_answers_again(engine, connect):
    vm_id = engine.add_vm('web1')
    service = vm_service(connect(), vm_id)
    engine.fail('GET', r'/vms/[^/]+$', 409, '[Cannot edit VM. VM is being updated.]', times=2)
    engine.fail('put', r'/vms/', 404, None)

    for _attempt in range(2):
        with pytest.raises(sdk.Error) as failure:
            service.get()
        assert (failure.value.code, failure.value.fault.detail) == (409, '[Cannot edit VM. VM is being updated.]')
    assert service.get().id == vm_id
    with pytest.raises(sdk.NotFoundError):
        service.update(types.Vm(payloads=[]))

    assert engine.count('GET', r'/vms/' + vm_id) == 3
    assert [request.method for request in engine.api_requests()] == ['GET', 'GET', 'GET', 'PUT']


def test_a_hung_request_times_out_the_client(engine, connect):
    vm_id = engine.add_vm('web1')
    engine.hang('GET', r'/vms/', seconds=5)
    service = vm_service(connect(timeout=1), vm_id)

    # ovirtsdk4 4.6.3 reports a request's timeout from its curl multi handle as a plain Error with no code,
    # not as TimeoutError (that one is only for errors pycurl raises itself).
    with pytest.raises(sdk.Error, match='Operation timed out') as failure:
        service.get()
    assert failure.value.code is None and not isinstance(failure.value, sdk.TimeoutError)
    assert engine.count('GET', r'/vms/') == 1
