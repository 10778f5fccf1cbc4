# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The factory chooses the platform by ``auth`` (oVirt) versus ``uri`` (libvirt), without connecting."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.vmpayload.core.plugins.module_utils._backends.factory import backend_class
from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend
from ansible_collections.vmpayload.core.plugins.module_utils._backends.ovirt import OvirtBackend
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import (
    LIBVIRT_ARGSPEC,
    OVIRT_ARGSPEC,
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
)


def validated(env, **given):
    """The parameters a module would get, environment fallbacks included."""
    validator = ArgumentSpecValidator(dict(VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC),
                                      mutually_exclusive=PLATFORM_EXCLUSIVE)
    for key in ('OVIRT_URL', 'OVIRT_USERNAME', 'OVIRT_PASSWORD', 'OVIRT_CAFILE', 'OVIRT_TOKEN', 'OVIRT_HOSTNAME'):
        env.delenv(key, raising=False)
    return validator.validate(dict(name='web1', **given))


@pytest.mark.parametrize('given, chosen', [
    ({}, LibvirtBackend),
    ({'uri': 'qemu+ssh://root@kvm1/system'}, LibvirtBackend),
    ({'auth': {'url': 'https://engine/ovirt-engine/api', 'username': 'admin@internal', 'password': 'pw'}},
     OvirtBackend),
    ({'auth': {}}, OvirtBackend),
])
def test_auth_chooses_ovirt_and_anything_else_libvirt(monkeypatch, given, chosen):
    result = validated(monkeypatch, **given)
    assert not result.error_messages
    assert backend_class(result.validated_parameters) is chosen


def test_a_task_names_one_platform(monkeypatch):
    result = validated(monkeypatch, uri='qemu:///system', auth={'url': 'https://engine/ovirt-engine/api'})
    assert 'parameters are mutually exclusive: auth|uri' in result.error_messages


def test_the_default_uri_does_not_count_against_auth(monkeypatch):
    result = validated(monkeypatch, auth={})
    assert not result.error_messages and result.validated_parameters['uri'] == 'qemu:///system'


def test_auth_keys_come_from_the_environment_awx_injects(monkeypatch):
    validated(monkeypatch)
    monkeypatch.setenv('OVIRT_URL', 'https://rhv.example.com/ovirt-engine/api')
    monkeypatch.setenv('OVIRT_USERNAME', 'admin@internal')
    monkeypatch.setenv('OVIRT_PASSWORD', 'from-awx')
    validator = ArgumentSpecValidator(dict(VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC),
                                      mutually_exclusive=PLATFORM_EXCLUSIVE)
    auth = validator.validate(dict(name='web1', auth={})).validated_parameters['auth']
    assert (auth['url'], auth['username'], auth['password']) == ('https://rhv.example.com/ovirt-engine/api',
                                                                 'admin@internal', 'from-awx')


def test_the_fact_ovirt_auth_registers_is_accepted_as_it_is(monkeypatch):
    # ovirt.ovirt's ovirt_auth module sets exactly these keys (plugins/modules/ovirt_auth.py L291-300).
    fact = dict(token='abc', url='https://engine/ovirt-engine/api', ca_file=None, insecure=True, timeout=0,
                compress=True, kerberos=False, headers=None)
    result = validated(monkeypatch, auth=fact)
    assert not result.error_messages
    assert result.validated_parameters['auth']['token'] == 'abc'


def test_the_password_is_no_log(monkeypatch):
    result = validated(monkeypatch, auth={'url': 'https://e/ovirt-engine/api', 'password': 's3cret-pw', 'token': 't0k'})
    assert {'s3cret-pw', 't0k'} <= result._no_log_values


def test_choosing_connects_to_nothing(monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError('the factory connected')

    monkeypatch.setattr(OvirtBackend, '__init__', no_connection)
    monkeypatch.setattr(LibvirtBackend, '__init__', no_connection)
    assert backend_class({'auth': {}}) is OvirtBackend
    assert backend_class({'auth': None, 'uri': 'qemu:///system'}) is LibvirtBackend
