# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The oVirt modules as users and AWX run them: ansible-playbook and ansible-runner against the local engine.

The engine is tests/unit/ovirt_engine.py, started in this process; its request log tells what the modules
sent. Nothing here needs libvirt.

- ``playbooks/ovirt_payloads.yml`` through ``ansible-playbook``, the engine and login in OVIRT_URL,
  OVIRT_USERNAME, OVIRT_PASSWORD and OVIRT_CAFILE (the play's ``group/vmpayload.core.ovirt`` module
  defaults give ``auth: {}``, so this takes the action group and the environment fallbacks): the seed
  goes in, a second run sends no update, a review with ``--check --diff`` shows names and sizes and sends
  no update, and the password is never printed.
- The same play as an AWX job: ``ansible_runner.run()`` on a private data directory laid out as AWX lays
  it out, with the variables and the INI file that AWX's Red Hat Virtualization credential injects. AWX
  sets no OVIRT_CAFILE: the engine's CA reaches the module only through the INI file, and without it
  there the engine is not trusted.
- A run-once play through ``ansible-playbook``: one boot with the payload, then ``vm_payload_info``
  reports it as run-once with a restore pending.
- The fact the real ``ovirt.ovirt.ovirt_auth`` registers (ovirt.ovirt from the ansible package on PyPI,
  tests/unit/ovirt_collection.py), given as ``auth`` as it is: the modules use its token, log in no
  second time, and leave the token for ovirt_auth to revoke.

Task results are read from a small callback plugin written for each test (ansible-core 2.19 ships no JSON
callback), which records every result as a JSON line; what a user reads is the default callback's output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import ansible_runner
import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / 'tests' / 'unit'
if str(UNIT) not in sys.path:
    sys.path.insert(0, str(UNIT))

import ovirt_engine  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOKS = ROOT / 'playbooks'
PLAY = PLAYBOOKS / 'ovirt_payloads.yml'
COLLECTIONS = ROOT / '.build' / 'collections'
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name('ansible-playbook')
ADMIN = 'admin@internal'
OVIRT_VARIABLES = ('OVIRT_URL', 'OVIRT_HOSTNAME', 'OVIRT_USERNAME', 'OVIRT_PASSWORD', 'OVIRT_TOKEN', 'OVIRT_CAFILE',
                   'OVIRT_INI_PATH')
# What the Makefile exports for every Ansible command.
MAKE_ENVIRONMENT = {'PYTHONPATH': str(COLLECTIONS), 'ANSIBLE_COLLECTIONS_PATH': str(COLLECTIONS), 'LC_ALL': 'C.UTF-8'}
RUN_TIMEOUT = 120
VM_PAYLOAD = 'vmpayload.core.vm_payload'
VM_PAYLOAD_INFO = 'vmpayload.core.vm_payload_info'
VM_RUN_ONCE_PAYLOAD = 'vmpayload.core.vm_run_once_payload'
# The ansible-runner events that end a task on a host.
RESULT_EVENTS = ('runner_on_ok', 'runner_on_failed', 'runner_on_skipped', 'runner_on_unreachable')

RECORDER_NAME = 'vmpayload_record'
RECORDER_SOURCE = '''\
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: vmpayload_record
type: aggregate
short_description: every task result and the play recap as JSON lines, in the file VMPAYLOAD_RECORD names
description: [Written by tests/integration/test_ovirt_runner.py for its own runs.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'vmpayload_record'
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, record):
        with open(os.environ['VMPAYLOAD_RECORD'], 'a', encoding='utf-8') as stream:
            stream.write(json.dumps(record, default=str, sort_keys=True) + '\\n')

    def _record(self, event, result):
        self._write(dict(event=event, host=result.host.get_name(), task=result.task.get_name(),
                         action=result.task.resolved_action or result.task.action, result=result.result))

    def v2_runner_on_ok(self, result):
        self._record('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record('failed', result)

    def v2_runner_on_skipped(self, result):
        self._record('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._record('unreachable', result)

    def v2_playbook_on_stats(self, stats):
        self._write(dict(event='stats', summary={host: stats.summarize(host) for host in sorted(stats.processed)}))
'''


@dataclasses.dataclass
class PlaybookRun:
    output: str  # stdout and stderr together, as a user sees them
    record: str  # the recorder's JSON lines, as written
    events: list

    def result(self, action):
        """The one result of the task that ran this module."""
        results = [event for event in self.events if event.get('action') == action]
        assert len(results) == 1, 'expected one result of %s, got %d:\n%s' % (action, len(results), self.output)
        return results[0]['result']

    def changed(self):
        """{host: changed} from the play recap."""
        stats = [event for event in self.events if event['event'] == 'stats']
        assert len(stats) == 1, self.output
        return {host: summary['changed'] for host, summary in stats[0]['summary'].items()}


@pytest.fixture
def engine(tmp_path, monkeypatch):
    """A running local engine; the caller's own OVIRT_* variables are kept away from every run."""
    for name in OVIRT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    workdir = tmp_path / 'engine'
    workdir.mkdir()
    with ovirt_engine.FakeEngine(workdir) as running:
        yield running


def _environment(engine):
    """The engine and the login as a user exports them (playbooks/ovirt_payloads.yml says which)."""
    return {'OVIRT_URL': engine.url, 'OVIRT_USERNAME': ADMIN, 'OVIRT_PASSWORD': engine.users[ADMIN].password,
            'OVIRT_CAFILE': engine.ca_file}


def _ansible_playbook(tmp_path, name, environment, *arguments):
    """ansible-playbook of this venv with the default callback, and the recorder beside it; it must succeed."""
    plugins = tmp_path / 'callback_plugins'
    plugins.mkdir(exist_ok=True)
    (plugins / ('%s.py' % RECORDER_NAME)).write_text(RECORDER_SOURCE)
    record = tmp_path / ('%s.jsonl' % name)
    env = dict(os.environ, **dict(MAKE_ENVIRONMENT, **environment), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default',
               ANSIBLE_CALLBACK_PLUGINS=str(plugins), ANSIBLE_CALLBACKS_ENABLED=RECORDER_NAME,
               VMPAYLOAD_RECORD=str(record))
    command = [str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-e', 'ansible_python_interpreter=%s' % sys.executable,
               *map(str, arguments)]
    completed = subprocess.run(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=RUN_TIMEOUT, check=False)
    assert completed.returncode == 0, 'ansible-playbook exited %d:\n%s' % (completed.returncode, completed.stdout)
    assert record.is_file(), 'the recorder wrote nothing:\n' + completed.stdout
    text = record.read_text()
    return PlaybookRun(completed.stdout, text, [json.loads(line) for line in text.splitlines()])


def _rendered_seed(vm_name, instance_id=None):
    """The play's two templates rendered with its default variables, by plain Jinja2 and not by Ansible."""
    variables = dict(seed_hostname=vm_name, seed_instance_id=instance_id or vm_name, seed_admin_user='ops',
                     seed_ssh_authorized_keys=[], seed_packages=[])
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PLAYBOOKS / 'templates')),
                                   keep_trailing_newline=True, trim_blocks=True, undefined=jinja2.StrictUndefined)
    templates.filters['to_json'] = json.dumps
    return {name: templates.get_template(template).render(variables)
            for name, template in (('user-data', 'cloud-init-user-data.yml.j2'),
                                   ('meta-data', 'cloud-init-meta-data.yml.j2'))}


def _diff_line(name, content):
    """A file's line in the modules' diff: name, size in bytes, digest (on oVirt the plain sha256)."""
    data = content.encode('utf-8')
    return '%s  %d  digest:%s' % (name, len(data), hashlib.sha256(data).hexdigest())


def _puts(requests):
    return [request for request in requests if request.method == 'PUT']


def test_ovirt_payloads_play_seeds_once_reviews_a_change_and_never_prints_the_password(engine, tmp_path):
    vm_id = engine.add_vm('web1')
    environment = _environment(engine)
    password = environment['OVIRT_PASSWORD']
    play = ['-e', 'payload_vm_name=web1', PLAY]
    wanted = _rendered_seed('web1')

    # -vvv prints every module's arguments (invocation): the password must be masked there too.
    first = _ansible_playbook(tmp_path, 'first', environment, '-vvv', *play)
    seeded = first.result(VM_PAYLOAD)
    assert (seeded['changed'], seeded['availability']) == (True, 'permanent'), first.output
    assert first.changed() == {'localhost': 1}, first.output
    stored = engine.vm(vm_id).payload
    assert (stored.type, stored.volume_id) == ('cdrom', 'cidata')
    assert dict(stored.files) == wanted and len(stored.files) == 2
    read_back = first.result(VM_PAYLOAD_INFO)
    assert (read_back['availability'], read_back['digest']) == ('permanent', seeded['digest'])
    assert [f['name'] for f in read_back['files']] == ['meta-data', 'user-data']
    assert len(_puts(engine.api_requests())) == 1
    assert engine.live_tokens() == set(), 'a module left its SSO token alive'

    mark = len(engine.requests)
    second = _ansible_playbook(tmp_path, 'second', environment, *play)
    assert second.result(VM_PAYLOAD)['changed'] is False
    assert second.changed() == {'localhost': 0}, second.output
    assert _puts(engine.requests[mark:]) == []
    assert dict(engine.vm(vm_id).payload.files) == wanted

    mark = len(engine.requests)
    review = _ansible_playbook(tmp_path, 'review', environment, '--check', '--diff', '-e', 'seed_instance_id=other',
                               *play)
    proposed = review.result(VM_PAYLOAD)
    changed_seed = _rendered_seed('web1', instance_id='other')
    assert proposed['changed'] is True and review.changed() == {'localhost': 1}, review.output
    assert _diff_line('meta-data', wanted['meta-data']) in proposed['diff']['before']
    assert _diff_line('meta-data', changed_seed['meta-data']) in proposed['diff']['after']
    assert _diff_line('user-data', wanted['user-data']) in proposed['diff']['after']
    # What the reviewer reads: the default callback's diff, names and sizes, and no content.
    assert '-' + _diff_line('meta-data', wanted['meta-data']) in review.output, review.output
    assert '+' + _diff_line('meta-data', changed_seed['meta-data']) in review.output, review.output
    assert _puts(engine.requests[mark:]) == []
    assert dict(engine.vm(vm_id).payload.files) == wanted

    for run in (first, second, review):
        assert password not in run.output and password not in run.record
        assert 'instance-id:' not in run.output and '#cloud-config' not in run.output
    assert 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER' in first.output, 'the -vvv run showed no masked arguments'


# -- as AWX runs a job ------------------------------------------------------------------------------

def _awx_private_data_dir(root, engine, ca_file):
    """A private data directory as AWX lays it out for a job of playbooks/ovirt_payloads.yml.

    The Red Hat Virtualization credential injects OVIRT_URL, OVIRT_USERNAME, OVIRT_PASSWORD and
    OVIRT_INI_PATH, and writes the INI file from its template (awx awx/main/models/credential/__init__.py):
    ``[ovirt]\\novirt_url={{host}}\\novirt_username={{username}}\\novirt_password={{password}}\\n``
    ``{% if ca_file %}ovirt_ca_file={{ca_file}}{% endif %}``. No OVIRT_CAFILE.
    """
    project = root / 'project'
    project.mkdir(parents=True)
    shutil.copy2(PLAY, project / PLAY.name)
    shutil.copytree(PLAYBOOKS / 'templates', project / 'templates')
    (root / 'inventory').mkdir()
    (root / 'inventory' / 'hosts').write_text(
        'localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
    env = root / 'env'
    env.mkdir()
    password = engine.users[ADMIN].password
    ini = env / 'awx_rhv_credential.ini'
    ini.write_text('[ovirt]\novirt_url=%s\novirt_username=%s\novirt_password=%s\n%s'
                   % (engine.url, ADMIN, password, 'ovirt_ca_file=%s' % ca_file if ca_file else ''))
    ini.chmod(0o600)
    # PATH: ansible-runner starts the ansible-playbook it finds there, as on an execution environment.
    envvars = {'OVIRT_URL': engine.url, 'OVIRT_USERNAME': ADMIN, 'OVIRT_PASSWORD': password,
               'OVIRT_INI_PATH': str(ini), **MAKE_ENVIRONMENT, 'ANSIBLE_NOCOLOR': '1',
               'PATH': os.pathsep.join([str(ANSIBLE_PLAYBOOK.parent), os.environ.get('PATH', os.defpath)])}
    (env / 'envvars').write_text(yaml.safe_dump(envvars))
    (env / 'extravars').write_text(yaml.safe_dump({'payload_vm_name': 'web1'}))
    (env / 'settings').write_text(yaml.safe_dump({'job_timeout': RUN_TIMEOUT}))
    return root


def _awx_job(private_data_dir):
    runner = ansible_runner.run(private_data_dir=str(private_data_dir), playbook=PLAY.name, quiet=True)
    return runner, list(runner.events)


def _task_events(events, action):
    """The job's events that end this module's task on a host (not runner_on_start)."""
    return [event for event in events
            if event['event'] in RESULT_EVENTS and event['event_data'].get('task_action') == action]


def _files_holding(directory, text):
    return sorted(str(path.relative_to(directory)) for path in directory.rglob('*')
                  if path.is_file() and text.encode('utf-8') in path.read_bytes())


def test_awx_job_with_the_rhv_credential_seeds_the_vm_and_leaves_the_password_in_no_output(engine, tmp_path):
    vm_id = engine.add_vm('web1')
    password = engine.users[ADMIN].password
    private_data_dir = _awx_private_data_dir(tmp_path / 'awx', engine, engine.ca_file)
    runner, events = _awx_job(private_data_dir)
    stdout = runner.stdout.read()
    assert (runner.status, runner.rc) == ('successful', 0), stdout

    seeded = _task_events(events, VM_PAYLOAD)
    assert [event['event'] for event in seeded] == ['runner_on_ok'], stdout
    result = seeded[0]['event_data']['res']
    assert result['changed'] is True
    # The module was given no CA file and no password it would show: the CA came from the INI file.
    assert result['invocation']['module_args']['auth']['ca_file'] is None
    assert result['invocation']['module_args']['auth']['password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'
    assert runner.stats['changed'] == {'localhost': 1}
    stored = engine.vm(vm_id).payload
    assert (stored.type, stored.volume_id, dict(stored.files)) == ('cdrom', 'cidata', _rendered_seed('web1'))

    artifacts = Path(runner.config.artifact_dir)
    command = json.loads((artifacts / 'command').read_text())
    # The CA came from the INI file: the job had no OVIRT_CAFILE.
    assert 'OVIRT_CAFILE' not in command['env'] and command['env']['OVIRT_INI_PATH'].endswith('.ini')
    assert len(list((artifacts / 'job_events').glob('*.json'))) == len(events) > 0
    # ansible-runner itself records the environment it gave the job, password and all, in artifacts/<ident>/command
    # (AWX keeps a redacted copy of that environment and deletes the directory). Everything that came out of
    # Ansible and the modules (stdout, job events) must be free of the password.
    holding = _files_holding(private_data_dir / 'artifacts', password)
    assert holding == [str((artifacts / 'command').relative_to(private_data_dir / 'artifacts'))], holding
    del command['env']['OVIRT_PASSWORD']
    assert password not in json.dumps(command)
    assert password not in stdout


def test_awx_job_trusts_the_engine_only_through_the_ca_file_of_the_ini(engine, tmp_path):
    vm_id = engine.add_vm('web1')
    private_data_dir = _awx_private_data_dir(tmp_path / 'awx', engine, ca_file=None)
    runner, events = _awx_job(private_data_dir)
    stdout = runner.stdout.read()
    assert runner.status == 'failed' and runner.rc != 0, stdout
    failed = _task_events(events, VM_PAYLOAD)
    assert [event['event'] for event in failed] == ['runner_on_failed'], stdout
    message = failed[0]['event_data']['res']['msg']
    assert 'SSL' in message.upper() or 'certificate' in message.lower(), message
    assert engine.api_requests() == [] and engine.vm(vm_id).payload is None
    assert engine.users[ADMIN].password not in stdout


# -- one boot with a payload ------------------------------------------------------------------------

KICKSTART = 'text\nlang en_US.UTF-8\nreboot\n'
RUN_ONCE_PLAY = [{
    'name': 'Boot install1 once with its kickstart',
    'hosts': 'localhost',
    'connection': 'local',
    'gather_facts': False,
    'tasks': [
        {'name': 'Boot it once with the kickstart',
         VM_RUN_ONCE_PAYLOAD: {'auth': {}, 'name': 'install1', 'label': 'OEMDRV',
                               'files': [{'name': 'ks.cfg', 'content': KICKSTART}]}},
        {'name': 'Read back what the engine keeps',
         VM_PAYLOAD_INFO: {'auth': {}, 'name': 'install1'}},
    ],
}]


def test_run_once_play_boots_the_vm_once_with_the_payload_and_info_reports_the_restore_pending(engine, tmp_path):
    vm_id = engine.add_vm('install1')
    playbook = tmp_path / 'run_once.yml'
    playbook.write_text(yaml.safe_dump(RUN_ONCE_PLAY, sort_keys=False))
    run = _ansible_playbook(tmp_path, 'run_once', _environment(engine), playbook)

    booted = run.result(VM_RUN_ONCE_PAYLOAD)
    assert (booted['changed'], booted['availability']) == (True, 'run-once'), run.output
    vm = engine.vm(vm_id)
    assert vm.status == 'up' and len(vm.boots) == 1
    boot = vm.boots[0]
    assert boot.initialization is None and (boot.payload.type, boot.payload.volume_id) == ('cdrom', 'OEMDRV')
    assert dict(boot.payload.files)['ks.cfg'] == KICKSTART
    assert json.loads(dict(boot.payload.files)['vmpayload-restore/kept.json'])['availability'] == 'none'

    info = run.result(VM_PAYLOAD_INFO)
    assert (info['availability'], info['restore_pending']) == ('run-once', True), info
    assert [f['name'] for f in info['files']] == ['ks.cfg'] and info['digest'] == booted['digest']
    assert engine.users[ADMIN].password not in run.output


@pytest.fixture(scope='session')
def ovirt_ovirt():
    """A collections root with the real ovirt.ovirt, from the ansible package on PyPI (cached in .build)."""
    import ovirt_collection  # pylint: disable=import-outside-toplevel

    try:
        return ovirt_collection.fetch(str(ROOT / '.build' / 'ovirt-collections'))
    except ovirt_collection.Unavailable as exc:
        pytest.fail('ovirt.ovirt is needed to test its ovirt_auth fact with the modules: %s' % exc)


def test_the_fact_ovirt_auth_registers_works_as_it_is(engine, tmp_path, ovirt_ovirt):
    vm_id = engine.add_vm('web1')
    login = {'url': engine.url, 'username': ADMIN, 'password': engine.users[ADMIN].password,
             'ca_file': engine.ca_file}
    play = [{
        'name': 'Log in with ovirt.ovirt, give web1 a payload with its token, log out',
        'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'tasks': [
            {'name': 'Log in', 'ovirt.ovirt.ovirt_auth': login},
            {'name': 'Give web1 its payload', VM_PAYLOAD: {
                'auth': '{{ ovirt_auth }}', 'name': 'web1', 'label': 'cidata',
                'files': [{'name': 'meta-data', 'content': 'instance-id: web1\n'}]}},
            {'name': 'Read it back', VM_PAYLOAD_INFO: {'auth': '{{ ovirt_auth }}', 'name': 'web1'}},
            {'name': 'Log out', 'ovirt.ovirt.ovirt_auth': {'state': 'absent', 'ovirt_auth': '{{ ovirt_auth }}'}},
        ],
    }]
    playbook = tmp_path / 'with_ovirt_auth.yml'
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    collections = '%s:%s' % (COLLECTIONS, ovirt_ovirt)
    run = _ansible_playbook(tmp_path, 'with_ovirt_auth', {'ANSIBLE_COLLECTIONS_PATH': collections}, playbook)

    assert run.result(VM_PAYLOAD)['changed'] is True, run.output
    assert run.result(VM_PAYLOAD_INFO)['availability'] == 'permanent'
    assert engine.vm(vm_id).payload.files == [('meta-data', 'instance-id: web1\n')]
    # One login, by ovirt_auth: the modules used its token and left it alone; ovirt_auth revoked it at the end.
    assert engine.count('POST', r'/sso/oauth/token$') == 1
    assert engine.count('POST', r'/sso-logout$') == 1 and engine.live_tokens() == set()
    assert engine.users[ADMIN].password not in run.output
