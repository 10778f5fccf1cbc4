# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plays users copy (playbooks/, docs/gitops/), run as users run them, against the real libvirtd.

Every playbook passes --syntax-check; the cloud-init seed play gives a defined, shut-off domain its
seed and changes nothing the second time; the audit play finds no drift, then drift once the
expected content changes; the GitOps inventory's site play and the plays that take a vaulted
secret run in check mode with --diff without printing the secret or touching the domains.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from xml.etree import ElementTree
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / 'playbooks'
GITOPS = REPO / 'docs' / 'gitops'
GITOPS_INVENTORY = GITOPS / 'inventory'
# The example vault password the GitOps docs ship with (docs/gitops/README.md).
VAULT_PASSWORD_FILE = GITOPS / 'vault-password.example.txt'
URI = 'qemu:///system'
POOL = 'vmpayload'
POOL_PATH = '/var/lib/vmpayload/pool'
NAMESPACE = 'urn:x-vmpayload:payload:1'
BIN = Path(sys.executable).parent
# What virsh says when libvirtd is not there, or went away in the middle of a command.
DAEMON_GONE = re.compile(r'Failed to connect socket|End of file while reading data|Disconnected from|Cannot recv data')
RECAP_LINE = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.MULTILINE)


def _env():
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.default',
               ANSIBLE_RETRY_FILES_ENABLED='0')
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(REPO / '.build' / 'collections'))
    return env


def _ansible(tool, *args, env=None):
    """Run an Ansible command line tool of this venv; stdout and stderr together, as a user sees them."""
    # The venv's Python has libvirt-python, pycdlib and pyfatfs, wherever the modules run here.
    interpreter = [] if tool == 'ansible-vault' else ['-e', 'ansible_python_interpreter=%s' % sys.executable]
    command = [str(BIN / tool), *interpreter, *map(str, args)]
    return subprocess.run(command, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900, check=False)


def _succeeded(result):
    assert result.returncode == 0, 'exit %d:\n%s' % (result.returncode, result.stdout)
    return result.stdout


def _recap(output):
    """{host: (ok, changed, unreachable, failed)} from the PLAY RECAP."""
    recap = output[output.rindex('PLAY RECAP'):]
    return {match.group(1): tuple(int(n) for n in match.groups()[1:]) for match in RECAP_LINE.finditer(recap)}


def _changed(output):
    return {host: counts[1] for host, counts in _recap(output).items()}


def _virsh(*args, check=True):
    """virsh against the system libvirtd, bounded: a daemon that stops answering fails the test
    instead of hanging it. Other suites restart libvirtd while these run, so a command that finds
    no daemon is tried again until one answers."""
    for _attempt in range(60):
        result = subprocess.run(['virsh', '-q', '-c', URI, *args], capture_output=True, text=True, timeout=600,
                                check=False)
        if result.returncode == 0 or not DAEMON_GONE.search(result.stderr):
            break
        time.sleep(2)
    if check:
        assert result.returncode == 0, 'virsh %s: %s%s' % (' '.join(args), result.stdout, result.stderr)
    return result


def _payload_volumes(dom_uuid):
    _virsh('pool-refresh', POOL)
    names = (line.split()[0] for line in _virsh('vol-list', POOL).stdout.splitlines() if line.strip())
    return sorted(name for name in names if name.startswith('vmpayload-%s-' % dom_uuid))


def _inactive_xml(name):
    return _virsh('dumpxml', '--inactive', name).stdout


@pytest.fixture(scope='module')
def pool():
    """The collection's pool, made with its own payload_pool module when this machine lacks it.

    An existing running pool is left exactly as it is: other tests and users stage volumes in it.
    """
    info = _virsh('pool-info', POOL, check=False)
    if info.returncode != 0 or not re.search(r'^State:\s+running', info.stdout, re.MULTILINE):
        _succeeded(_ansible('ansible', 'localhost', '-m', 'vmpayload.core.payload_pool',
                            '-a', json.dumps({'uri': URI, 'name': POOL, 'path': POOL_PATH})))
    return POOL


@pytest.fixture(scope='module')
def make_domain(pool, tmp_path_factory):
    """`make_domain(suffix)`: a shut-off domain `vmpayload-users-<run>-<suffix>`, defined once per module.

    Tests that only run check mode share domains (each asserts it left them untouched), because a
    definition can take minutes on a busy host while libvirtd probes qemu. The domains and their
    volumes are removed when the module's tests are done.
    """
    run = uuid.uuid4().hex[:8]
    definitions = tmp_path_factory.mktemp('domains')
    made = {}

    def define(suffix):
        name = 'vmpayload-users-%s-%s' % (run, suffix)
        if name not in made:
            definition = definitions / ('%s.xml' % name)
            dom_uuid = str(uuid.uuid4())
            # With its own UUID, a definition tried again after a daemon restart is the same domain.
            definition.write_text(
                "<domain type='qemu'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
                "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
                "<devices/></domain>" % (name, dom_uuid))
            made[name] = dom_uuid
            _virsh('define', str(definition))
        return name

    yield define
    leftovers = []
    for name, dom_uuid in made.items():
        volumes = _payload_volumes(dom_uuid)
        results = [_virsh('vol-delete', '--pool', POOL, volume, check=False) for volume in volumes]
        results.append(_virsh('undefine', name, check=False))
        leftovers.extend(r.stderr for r in results if r.returncode != 0 and 'failed to get domain' not in r.stderr)
    assert not leftovers, 'could not remove the test domains and volumes: %s' % leftovers


def _write_yaml(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


SYNTAX_CHECKS = [pytest.param(['-i', 'localhost,', path], id='playbooks/%s' % path.name)
                 for path in sorted(PLAYBOOKS.glob('*.yml'))]
SYNTAX_CHECKS.append(pytest.param(['-i', GITOPS_INVENTORY, '--vault-password-file', VAULT_PASSWORD_FILE,
                                   GITOPS / 'site.yml'], id='docs/gitops/site.yml'))


@pytest.mark.parametrize('arguments', SYNTAX_CHECKS)
def test_playbook_syntax(arguments):
    _succeeded(_ansible('ansible-playbook', '--syntax-check', *arguments))


def test_user_playbooks_are_all_syntax_checked():
    assert {p.name for p in PLAYBOOKS.glob('*.yml')} >= {
        'cloud_init_seed.yml', 'windows_unattend.yml', 'run_once_install.yml', 'audit_payloads.yml'}


def _payload_info(vm_name):
    output = _succeeded(_ansible('ansible', 'localhost', '--one-line', '-m', 'vmpayload.core.vm_payload_info',
                                 '-a', json.dumps({'uri': URI, 'name': vm_name})))
    # `localhost | SUCCESS => {...}`
    return json.loads(output[output.index('=> {') + 3:].splitlines()[0])


def _audit(inventory, report, *extra):
    return _ansible('ansible-playbook', '-i', inventory, PLAYBOOKS / 'audit_payloads.yml',
                    '-e', 'audit_report_path=%s' % report, *extra)


def test_cloud_init_seed_is_idempotent_read_back_and_audited(make_domain, tmp_path):
    vm = make_domain('seed')
    seed = ['-i', 'localhost,', PLAYBOOKS / 'cloud_init_seed.yml', '-e', 'payload_vm_name=%s' % vm]

    first = _succeeded(_ansible('ansible-playbook', *seed))
    assert _changed(first) == {'localhost': 1}, first
    second = _succeeded(_ansible('ansible-playbook', *seed))
    assert _changed(second) == {'localhost': 0}, second

    info = _payload_info(vm)
    assert (info['availability'], info['device'], info['label']) == ('permanent', 'cdrom', 'cidata'), info
    assert [f['name'] for f in info['files']] == ['meta-data', 'user-data'], info
    assert all(f['size'] > 0 for f in info['files']), info
    assert info['digest'] in first, 'the play did not report the digest vm_payload_info reads back:\n' + first

    # The audit's inventory states what the seed play was given, as a GitOps inventory would.
    inventory = _write_yaml(tmp_path / 'audit.yml', {'payload_vms': {'hosts': {'seeded': {
        'payload_vm_name': vm,
        'payload_preset': 'nocloud',
        'payload_files_map': {
            'user-data': "{{ lookup('ansible.builtin.template', '%s') }}" % (PLAYBOOKS / 'templates' / 'cloud-init-user-data.yml.j2'),
            'meta-data': "{{ lookup('ansible.builtin.template', '%s') }}" % (PLAYBOOKS / 'templates' / 'cloud-init-meta-data.yml.j2'),
        },
        'seed_hostname': vm, 'seed_instance_id': vm, 'seed_admin_user': 'ops',
        'seed_ssh_authorized_keys': [], 'seed_packages': [],
    }}}})
    report = tmp_path / 'report.json'

    clean = _audit(inventory, report)
    clean_output = _succeeded(clean)
    entry, = json.loads(report.read_text())['vms']
    assert (entry['status'], entry['digest'], entry['expected_digest']) == ('ok', info['digest'], info['digest']), clean_output
    assert json.loads(report.read_text())['drifted'] == [], clean_output
    assert '#cloud-config' not in clean_output, 'the audit printed content:\n' + clean_output

    drifted = _audit(inventory, report, '-e', '{"seed_packages": ["tmux"]}')
    assert drifted.returncode != 0, 'the audit did not fail on drift:\n' + drifted.stdout
    entry, = json.loads(report.read_text())['vms']
    assert entry['status'] == 'drift', drifted.stdout
    assert entry['digest'] == info['digest'] != entry['expected_digest'], drifted.stdout
    assert 'payload drift' in drifted.stdout and vm in drifted.stdout, drifted.stdout
    assert '#cloud-config' not in drifted.stdout, 'the audit printed content:\n' + drifted.stdout


def _vault_secret():
    plain = _succeeded(_ansible('ansible-vault', 'view', '--vault-password-file', VAULT_PASSWORD_FILE,
                                GITOPS_INVENTORY / 'group_vars' / 'windows_vms' / 'vault.yml'))
    return yaml.safe_load(plain)['vault_windows_admin_password']


def test_gitops_check_diff_shows_changes_but_no_secret_and_changes_nothing(make_domain, tmp_path):
    listed = _succeeded(_ansible('ansible', 'payload_vms', '-i', GITOPS_INVENTORY, '--list-hosts',
                                 '--vault-password-file', VAULT_PASSWORD_FILE))
    hosts = sorted(listed[listed.index('hosts ('):].split()[2:])
    assert hosts == ['db1', 'web1', 'win1'], listed
    # A second inventory source maps the example VMs to this test's domains; its host vars outrank
    # the example's group_vars, and the example inventory stays the first source of each host.
    domains = {host: make_domain(host) for host in hosts}
    override = _write_yaml(tmp_path / 'test-domains.yml', {'all': {'hosts': {
        host: {'payload_vm_name': name, 'payload_module_host': 'localhost', 'payload_libvirt_uri': URI}
        for host, name in domains.items()}}})
    before = {name: _inactive_xml(name) for name in domains.values()}

    result = _ansible('ansible-playbook', '-v', '-i', GITOPS_INVENTORY, '-i', override, GITOPS / 'site.yml',
                      '--vault-password-file', VAULT_PASSWORD_FILE, '--limit', 'payload_vms', '--check', '--diff')
    output = _succeeded(result)

    assert _changed(output) == {'db1': 1, 'web1': 1, 'win1': 1}, output
    for shown in ('+device: floppy', '+Unattend.xml  ', '+label: cidata', '+user-data  ', '+meta-data  '):
        assert shown in output, 'the diff does not show %r:\n%s' % (shown, output)
    secret = _vault_secret()
    assert len(secret) >= 8
    assert secret not in output, 'the vaulted password appears in the output'
    assert 'AdministratorPassword' not in output and '#cloud-config' not in output, 'content in the output:\n' + output
    for name, xml in before.items():
        assert _inactive_xml(name) == xml, 'check mode changed the definition of %s' % name
        assert _payload_volumes(_virsh('domuuid', name).stdout.strip()) == [], 'check mode staged a volume for %s' % name
        assert ElementTree.fromstring(xml).find('metadata/{%s}payload' % NAMESPACE) is None


SECRET_PLAYS = [
    pytest.param('windows_unattend.yml', 'win1', 'vault_unattend_admin_password', 'An-Example-Admin-Secret-5tq',
                 '+device: floppy', id='windows_unattend'),
    pytest.param('run_once_install.yml', 'web1', 'vault_install_root_password_hash',
                 '$6$examplesalt$ExampleHashNotARealOne', '+ks.cfg  ', id='run_once_install'),
]


@pytest.mark.parametrize('playbook, domain, secret_var, secret, shown', SECRET_PLAYS)
def test_secret_play_check_diff_shows_no_secret(make_domain, tmp_path, playbook, domain, secret_var, secret, shown):
    vm = make_domain(domain)
    before = _inactive_xml(vm)
    # A file, as a user passes the vault file: -e @secrets.yml.
    secrets = _write_yaml(tmp_path / 'secrets.yml', {secret_var: secret})
    output = _succeeded(_ansible('ansible-playbook', '-v', '-i', 'localhost,', PLAYBOOKS / playbook,
                                 '-e', 'payload_vm_name=%s' % vm, '-e', '@%s' % secrets, '--check', '--diff'))
    assert _changed(output) == {'localhost': 1}, output
    assert shown in output, 'the diff does not show %r:\n%s' % (shown, output)
    assert secret not in output, 'the secret appears in the output'
    assert _inactive_xml(vm) == before, 'check mode changed the definition'
    assert _payload_volumes(_virsh('domuuid', vm).stdout.strip()) == [], 'check mode staged a volume'
