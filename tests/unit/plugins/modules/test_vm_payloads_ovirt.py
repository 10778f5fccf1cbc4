# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payloads on oVirt: the real ovirtsdk4 against the local engine (tests/unit/ovirt_engine.py).

The batch logs in once for all VMs, gives each VM that is down its payload, reports a running VM's
refusal as that VM's failure after the others are done, and a second run sends no update.
"""

from __future__ import annotations

import json

import pytest
from module_args import patch_module_args

import ovirt_engine
from ansible_collections.vmpayload.core.plugins.module_utils._backends import ovirt as ovirt_backend
from ansible_collections.vmpayload.core.plugins.modules import vm_payloads

ADMIN = 'admin@internal'
SECRET = 'hunter2-fleet-Secret'


@pytest.fixture
def engine(tmp_path, monkeypatch):
    for name in ('OVIRT_URL', 'OVIRT_HOSTNAME', 'OVIRT_USERNAME', 'OVIRT_PASSWORD', 'OVIRT_TOKEN', 'OVIRT_CAFILE',
                 'OVIRT_INI_PATH'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(ovirt_backend, 'STATUS_POLL', 0)
    monkeypatch.setattr(ovirt_backend, 'LOCK_PAUSE', 0)
    with ovirt_engine.FakeEngine(tmp_path) as running:
        yield running


def run(capsys, engine, vms, check_mode=False, diff=False):
    args = dict(auth=dict(url=engine.url, username=ADMIN, password=engine.users[ADMIN].password,
                          ca_file=engine.ca_file), vms=vms)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)), pytest.raises(SystemExit):
        vm_payloads.main()
    return json.loads(capsys.readouterr().out)


def seed(name):
    return dict(name=name, preset='nocloud', files=[{'name': 'user-data', 'content': '#cloud-config\n#%s\n' % SECRET},
                                                    {'name': 'meta-data', 'content': 'instance-id: %s\n' % name}])


def test_one_login_for_every_vm_a_running_one_fails_alone_and_a_second_run_sends_nothing(engine, capsys):
    ids = [engine.add_vm('web1'), engine.add_vm('web2', status='up'), engine.add_vm('web3')]
    vms = [seed('web1'), seed('web2'), seed('web3')]
    checked = run(capsys, engine, vms, check_mode=True, diff=True)
    assert engine.count('PUT', r'/vms/') == 0 and SECRET not in json.dumps(checked)
    assert [d['before_header'].split()[1] for d in checked['diff']] == ['web1', 'web3']

    engine.requests.clear()
    first = run(capsys, engine, vms)
    assert first['failed'] is True and first['changed'] is True
    assert first['msg'].startswith('1 of 3 VMs failed (the others were done): vms[1] ("web2"): ')
    assert 'VM web2 is up' in first['msg']
    assert [(vm['name'], vm['changed'], vm.get('failed', False)) for vm in first['vms']] == [
        ('web1', True, False), ('web2', False, True), ('web3', True, False)]
    assert engine.count('POST', 'sso/oauth/token') == 1 and engine.count('PUT', r'/vms/') == 2
    assert engine.vm(ids[1]).payload is None
    assert sorted(engine.vm(ids[2]).payload.files)[0] == ('meta-data', 'instance-id: web3\n')

    engine.requests.clear()
    second = run(capsys, engine, [seed('web1'), seed('web3')])
    assert second['changed'] is False and not second.get('failed')
    assert engine.count('POST', 'sso/oauth/token') == 1 and engine.count('PUT', r'/vms/') == 0
