# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The payload_staging role on this machine, against the real libvirtd, and its hook end to end.

The role runs as a user runs it, through ansible-playbook: in check mode on a pool that does not exist
yet (nothing may change), then twice for real (the second run changes nothing). Then a tiny guest boots
once with a run-once payload, powers itself off, and the run-once image must be gone from the pool,
deleted by the hook inside libvirtd, while every other file stays.

Skipped only when not root (tests/skips-allowed.txt says so): the role installs packages and writes to
/etc/libvirt. A libvirtd that cannot be reached fails the tests, as it fails every other libvirt test.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import libvirt
import pytest

ROOT = Path(__file__).resolve().parents[2]
URI = 'qemu:///system'
POOL_NAME = 'vmpayload'
POOL_PATH = Path('/var/lib/vmpayload/pool')
HOOK_SOURCE = ROOT / 'roles' / 'payload_staging' / 'files' / 'vmpayload-qemu-hook'
HOOK_PATH = Path('/etc/libvirt/hooks/qemu.d/vmpayload')
HOOK_CONFIG_PATH = Path('/etc/libvirt/hooks/vmpayload.json')
GUEST_BUILD_DIR = ROOT / '.build' / 'guest'
# Software emulation boots the test guest and powers it off in 10 to 40 s.
GUEST_TIMEOUT = 120
RECAP = re.compile(r'^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


# The one reason these tests skip (test_fault_run_once_cycles.py shares it); tests/skips-allowed.txt lists it.
SKIP_REASON = None if os.geteuid() == 0 else 'the role and the guest need root'
pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or '')


def ansible_playbook(playbook, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    command = [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook), *extra]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
    match = RECAP.search(completed.stdout)
    assert completed.returncode == 0 and match, completed.stdout + completed.stderr
    ok, changed, unreachable, failed = (int(group) for group in match.groups())
    return dict(ok=ok, changed=changed, unreachable=unreachable, failed=failed, output=completed.stdout)


def role_playbook(directory, role_vars=None):
    playbook = directory / 'staging.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost',
        'gather_facts': False,
        'roles': [dict({'role': 'vmpayload.core.payload_staging'}, **(role_vars or {}))],
    }]))
    return playbook


def snapshot(path):
    return path.read_bytes() if path.exists() else None


def libvirtd_pid():
    return Path('/run/libvirtd.pid').read_text().strip() if Path('/run/libvirtd.pid').exists() else None


@pytest.fixture(scope='module')
def conn():
    try:
        connection = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for these tests (make test starts it): %s' % exc)
    yield connection
    connection.close()


@pytest.fixture(scope='module')
def qemu_gid(conn):
    """The group libvirt runs QEMU as, from its capabilities (slow on some hosts: asked once)."""
    return int(re.search(r"<baselabel type='qemu'>\+\d+:\+(\d+)<", conn.getCapabilities()).group(1))


def test_check_mode_on_a_new_pool_changes_nothing(tmp_path, conn):
    name = 'vmpx-check-%s' % uuid.uuid4().hex[:8]
    path = tmp_path / 'new' / 'pool'
    pools_before = sorted(conn.listStoragePools() + conn.listDefinedStoragePools())
    files_before = [snapshot(HOOK_PATH), snapshot(HOOK_CONFIG_PATH)]
    pid_before = libvirtd_pid()

    result = ansible_playbook(role_playbook(tmp_path, dict(payload_staging_pool_name=name,
                                                           payload_staging_pool_path=str(path))), '--check')

    assert result['failed'] == 0 and result['changed'] >= 1, result['output']
    assert sorted(conn.listStoragePools() + conn.listDefinedStoragePools()) == pools_before
    assert not path.parent.exists()
    assert [snapshot(HOOK_PATH), snapshot(HOOK_CONFIG_PATH)] == files_before
    assert libvirtd_pid() == pid_before


@pytest.fixture(scope='module')
def staged(tmp_path_factory):
    """The role with its defaults, run twice: the recaps of both runs."""
    directory = tmp_path_factory.mktemp('staging')
    playbook = role_playbook(directory)
    return ansible_playbook(playbook), ansible_playbook(playbook)


def test_role_converges_and_second_run_changes_nothing(staged, conn, qemu_gid):
    first, second = staged
    assert first['failed'] == 0, first['output']
    assert (second['failed'], second['changed']) == (0, 0), second['output']

    pool = conn.storagePoolLookupByName(POOL_NAME)
    assert pool.isActive() and pool.autostart()
    directory = POOL_PATH.stat()
    assert (stat.S_IMODE(directory.st_mode), directory.st_uid, directory.st_gid) == (0o750, 0, qemu_gid)
    assert filecmp.cmp(HOOK_SOURCE, HOOK_PATH, shallow=False) and os.access(HOOK_PATH, os.X_OK)
    assert json.loads(HOOK_CONFIG_PATH.read_text()) == {'pool_name': POOL_NAME, 'pool_path': str(POOL_PATH),
                                                        'managed_save_dir': '/var/lib/libvirt/qemu/save'}


def test_a_drifted_pool_directory_is_put_right(tmp_path, conn, qemu_gid):
    """What libvirt's test driver cannot show: the module restores a directory's mode on the real daemon."""
    name = 'vmpx-drift-%s' % uuid.uuid4().hex[:8]
    path = Path('/var/lib/vmpayload') / name
    playbook = tmp_path / 'pool.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.payload_pool': {'name': name, 'path': str(path), 'group': qemu_gid}, 'register': 'pool'},
        {'ansible.builtin.copy': {'content': '{{ pool.actions | to_json }}', 'dest': str(tmp_path / 'actions.json'),
                                  'mode': '0600'}, 'changed_when': False},
    ]}]))
    try:
        assert ansible_playbook(playbook)['changed'] == 1
        os.chmod(path, 0o755)
        assert ansible_playbook(playbook)['changed'] == 1
        assert json.loads((tmp_path / 'actions.json').read_text()) == ['stop', 'define', 'build', 'start']
        assert stat.S_IMODE(path.stat().st_mode) == 0o750
        assert ansible_playbook(playbook)['changed'] == 0
    finally:
        try:
            pool = conn.storagePoolLookupByName(name)
            if pool.isActive():
                pool.destroy()
            pool.undefine()
        except libvirt.libvirtError:
            pass
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def guest(conn):
    """A defined, shut-off tiny guest; undefined afterwards, with its files and images."""
    for name in ('vmlinuz', 'initrd.img'):
        if not (GUEST_BUILD_DIR / name).is_file():
            subprocess.run(['bash', str(ROOT / 'tests' / 'guest' / 'build-guest.sh'), str(GUEST_BUILD_DIR)],
                           check=True, timeout=900)
    name = 'vmpx-staging-%s' % uuid.uuid4().hex[:8]
    # qemu must read the kernel and initrd: not from the checkout, which may sit in a private home.
    guest_dir = Path('/var/lib/vmpayload') / ('test-' + name)
    guest_dir.mkdir(mode=0o755, parents=True)
    for file_name in ('vmlinuz', 'initrd.img'):
        shutil.copyfile(GUEST_BUILD_DIR / file_name, guest_dir / file_name)
    console = guest_dir / 'console.log'
    domain = conn.defineXML("""<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%(dir)s/vmlinuz</kernel>
    <initrd>%(dir)s/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 no_timer_check</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'><source path='%(console)s' append='off'/><target port='0'/></serial>
  </devices>
</domain>""" % dict(name=name, dir=guest_dir, console=console))
    domain_uuid = domain.UUIDString()
    try:
        yield domain, console
    finally:
        try:
            remove_domain(domain_uuid)
        finally:
            for leftover in POOL_PATH.glob('vmpayload-%s-*' % domain_uuid):
                leftover.unlink()
            shutil.rmtree(guest_dir, ignore_errors=True)


def remove_domain(domain_uuid):
    """Destroy and undefine, over a new connection: the test's may have died with a restart of libvirtd."""
    connection = libvirt.open(URI)
    try:
        domain = connection.lookupByUUIDString(domain_uuid)
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    finally:
        connection.close()


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(1)
    return condition()


class RunOnceWatch(threading.Thread):
    """Samples, until stopped, whether the domain ran and which of its run-once images were in the pool.

    Each sample is (active before, image names, active after): an image missing from a sample taken
    between two looks that both saw the domain running went while the guest ran. Its own connection.
    """

    INTERVAL = 0.2

    def __init__(self, domain_uuid):
        super().__init__(daemon=True)
        self.domain_uuid = domain_uuid
        self.samples = []
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            connection = libvirt.open(URI)
            try:
                domain = connection.lookupByUUIDString(self.domain_uuid)
                while not self.done.is_set():
                    before = domain.isActive()
                    present = {path.name for path in POOL_PATH.glob('vmpayload-%s-once-*' % self.domain_uuid)}
                    self.samples.append((before, present, domain.isActive()))
                    self.done.wait(self.INTERVAL)
            finally:
                connection.close()
        except libvirt.libvirtError as exc:
            self.error = exc

    def stop(self):
        self.done.set()
        self.join(30)
        assert self.error is None, 'watching the guest failed: %s' % self.error

    def while_running(self):
        """The image names of every sample taken while the guest certainly ran."""
        return [present for before, present, after in self.samples if before and after]


def test_hook_deletes_the_run_once_image_when_the_guest_stops(staged, guest, tmp_path):
    domain, console = guest
    domain_uuid = domain.UUIDString()
    # Files the hook must leave: this domain's permanent-looking image and an unused run-once one.
    decoys = [POOL_PATH / ('vmpayload-%s-%s.iso' % (domain_uuid, '0' * 16)),
              POOL_PATH / ('vmpayload-%s-once-%s.iso' % (domain_uuid, 'f' * 16))]
    for decoy in decoys:
        decoy.write_bytes(b'not ours to delete')
    sent = b'seen once\n'
    playbook = tmp_path / 'run_once.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.vm_run_once_payload': {
            'name': domain.name(), 'timeout': 60,
            'files': [{'name': 'hello.txt', 'content': sent.decode()}]}, 'register': 'started'},
        {'ansible.builtin.copy': {'content': '{{ started.volume }}', 'dest': str(tmp_path / 'volume'),
                                  'mode': '0600'}, 'changed_when': False},
    ]}]))

    # Watched from before the start, so the guest is seen running however soon it powers off.
    watch = RunOnceWatch(domain_uuid)
    watch.start()
    try:
        assert ansible_playbook(playbook)['changed'] == 1
        image = POOL_PATH / (tmp_path / 'volume').read_text()
        assert image.name.startswith('vmpayload-%s-once-' % domain_uuid)
        if not wait_until(lambda: not domain.isActive(), GUEST_TIMEOUT):
            domain.destroy()
            pytest.fail('the guest did not power off within %d s; console:\n%s' % (GUEST_TIMEOUT, console.read_text()))
    finally:
        watch.stop()
    running = watch.while_running()
    assert running, 'the guest was never seen running (%d samples)' % len(watch.samples)
    missing = [index for index, present in enumerate(running) if image.name not in present]
    assert not missing, 'the run-once image went while the guest still ran (%d of %d samples from sample %d on)' \
        % (len(missing), len(running), missing[0])
    # libvirt runs the release hook before it reports the domain shut off; allow a moment all the same.
    assert wait_until(lambda: not image.exists(), 10), '%s is still in the pool' % image
    assert all(decoy.read_bytes() == b'not ours to delete' for decoy in decoys)
    # The guest's kernel read the payload, byte for byte, from the image the hook then deleted.
    read = re.findall(r'^VMPAYLOAD FILE (/dev/sr\d) ([0-9a-f]{64}) (.*?)\r?$', console.read_text(), re.M)
    assert [(sha, name) for device, sha, name in read] == [(hashlib.sha256(sent).hexdigest(), 'hello.txt')], \
        console.read_text()


PAYLOAD_VOLUME = re.compile(r'^vmpayload-(?P<uuid>[0-9a-f-]{36})-(?:once-)?[0-9a-f]{16}\.(?:iso|img)$')


def _orphan(conn, file_name):
    """Whether prune_orphans may delete this pool file: one of the modules' volumes, of a VM not defined."""
    match = PAYLOAD_VOLUME.match(file_name)
    if match is None:
        return False
    try:
        conn.lookupByUUIDString(match.group('uuid'))
    except libvirt.libvirtError:
        return True
    return False


def test_prune_orphans_deletes_the_payload_of_a_vm_undefined_without_state_absent(tmp_path, conn):
    name = 'vmpx-orphan-%s' % uuid.uuid4().hex[:8]
    domain = conn.defineXML("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
                            "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
                            "</domain>" % name)
    domain_uuid = domain.UUIDString()
    stage = tmp_path / 'stage.yml'
    stage.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.vm_payload': {'name': name, 'files': [{'name': 'hello.txt', 'content': 'orphan soon\n'}]}}]}]))
    prune = tmp_path / 'prune.yml'
    prune.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.payload_pool': {'path': str(POOL_PATH), 'prune_orphans': True}, 'register': 'pruned'},
        {'ansible.builtin.copy': {'content': '{{ pruned.removed_volumes | to_json }}',
                                  'dest': str(tmp_path / 'removed.json'), 'mode': '0600'},
         'changed_when': False, 'check_mode': False},
    ]}]))
    try:
        assert ansible_playbook(stage)['changed'] == 1
        staged = sorted(POOL_PATH.glob('vmpayload-%s-*' % domain_uuid))
        assert len(staged) == 1
        domain.undefine()
        kept = [path for path in POOL_PATH.iterdir() if not _orphan(conn, path.name)]

        assert ansible_playbook(prune, '--check')['changed'] == 1
        assert staged[0].exists()
        predicted = json.loads((tmp_path / 'removed.json').read_text())
        assert staged[0].name in predicted and all(_orphan(conn, volume) for volume in predicted)
        assert ansible_playbook(prune)['changed'] == 1
        assert not staged[0].exists()
        assert all(path.exists() for path in kept), 'prune_orphans deleted a file it must keep'
        assert ansible_playbook(prune)['changed'] == 0
    finally:
        try:
            conn.lookupByName(name).undefine()
        except libvirt.libvirtError:
            pass
        for leftover in POOL_PATH.glob('vmpayload-%s-*' % domain_uuid):
            leftover.unlink()
