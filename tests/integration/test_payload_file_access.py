# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Who can read a staged payload image, before, while and after a real guest uses it (issue 10, item 8).

With qemu.conf's defaults (dynamic_ownership on, QEMU run as one user for every VM), libvirt hands each disk
of a starting domain to QEMU's user and does not hand read-only disks back when the domain stops: another
domain may still use them. Every VM's QEMU runs as that one user, so without the release hook a stopped
VM's payload (its passwords, its cloud-init keys) stayed readable by every other VM's QEMU process. The
hook gives the permanent image back to libvirt's own user, as the storage driver created it, and deletes
a run-once image. The guest's kernel reads the payload at each boot: what the hook did must not keep the
next start from handing the image to QEMU again.

Not skipped: without root, or without a libvirtd to reach, these tests fail, saying why.
"""

from __future__ import annotations

import filecmp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import libvirt
import pytest

from test_staging_role import (GUEST_BUILD_DIR, GUEST_TIMEOUT, HOOK_CONFIG_PATH, HOOK_PATH, HOOK_SOURCE, POOL_NAME,
                               POOL_PATH, URI, ansible_playbook, remove_domain, role_playbook, wait_until)

NOBODY = 65534


@pytest.fixture(scope='module')
def conn():
    if os.geteuid() != 0:
        pytest.fail('these tests need root: they install the release hook and read files as other users')
    try:
        connection = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for these tests (make test starts it): %s' % exc)
    yield connection
    connection.close()


@pytest.fixture(scope='module')
def qemu_ids(conn):
    """(uid, gid) libvirt runs QEMU as, from the DAC security model's base label."""
    match = re.search(r"<baselabel type='qemu'>\+(\d+):\+(\d+)<", conn.getCapabilities())
    return int(match.group(1)), int(match.group(2))


@pytest.fixture(scope='module')
def release_hook(conn, tmp_path_factory):
    """This checkout's release hook, installed as a user installs it: by the role, when the installed one differs."""
    config = {'pool_name': POOL_NAME, 'pool_path': str(POOL_PATH), 'managed_save_dir': '/var/lib/libvirt/qemu/save'}
    if not (HOOK_PATH.is_file() and filecmp.cmp(HOOK_SOURCE, HOOK_PATH, shallow=False) and HOOK_CONFIG_PATH.is_file()
            and json.loads(HOOK_CONFIG_PATH.read_text()) == config):
        assert ansible_playbook(role_playbook(tmp_path_factory.mktemp('staging')))['failed'] == 0


@pytest.fixture
def guest(conn):
    """A shut-off tiny guest that reports its media on the serial console and powers off; removed afterwards."""
    name = 'vmpx-access-%s' % uuid.uuid4().hex[:8]
    # qemu reads the kernel and initrd: not from the checkout, which may sit in a private home.
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


def attributes(path):
    info = os.stat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def readable_by(uid, gid, path):
    """Whether a process with that user, group and the user's supplementary groups (as libvirt starts QEMU) reads ``path``."""
    try:
        groups = os.getgrouplist(pwd.getpwuid(uid).pw_name, gid)
    except KeyError:
        groups = [gid]
    completed = subprocess.run(['/usr/bin/python3', '-c', 'import sys; open(sys.argv[1], "rb").read(1)', str(path)],
                               user=uid, group=gid, extra_groups=groups, cwd='/', capture_output=True, timeout=30,
                               check=False)
    return completed.returncode == 0


def stage(tmp_path, module, domain, content):
    """Run ``module`` on the guest with one secret file; the path of the image it staged."""
    playbook = tmp_path / 'stage.yml'
    options = {'name': domain.name(), 'files': [{'name': 'secret.txt', 'content': content}]}
    if module == 'vm_run_once_payload':
        options['timeout'] = 60
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'vmpayload.core.%s' % module: options, 'register': 'staged'},
        {'ansible.builtin.copy': {'content': '{{ staged.volume }}', 'dest': str(tmp_path / 'volume'), 'mode': '0600'},
         'changed_when': False},
    ]}]))
    assert ansible_playbook(playbook)['changed'] == 1
    return POOL_PATH / (tmp_path / 'volume').read_text()


def wait_until_off(domain, console):
    if not wait_until(lambda: not domain.isActive(), GUEST_TIMEOUT):
        domain.destroy()
        pytest.fail('the guest did not power off within %d s; console:\n%s' % (GUEST_TIMEOUT, console.read_text()))


def guest_read(console):
    return re.search(r'VMPAYLOAD FILE /dev/sr\d [0-9a-f]{64} secret\.txt', console.read_text()) is not None


def test_a_permanent_payload_is_qemus_only_while_its_vm_runs(release_hook, guest, qemu_ids, tmp_path):
    domain, console = guest
    image = stage(tmp_path, 'vm_payload', domain, 'root password\n')
    # As libvirt's storage driver creates a volume: its own user and group (the daemon runs as root), 0600.
    uploaded = attributes(image)
    assert uploaded == (0, 0, 0o600)
    assert not readable_by(*qemu_ids, image)

    for boot in (1, 2):
        domain.create()
        # libvirt's doing: the disks of a running domain are QEMU's, and every VM's QEMU runs as this user.
        assert attributes(image) == qemu_ids + (0o600,), 'boot %d' % boot
        assert not readable_by(NOBODY, NOBODY, image), 'boot %d: the pool directory lets other users in' % boot
        wait_until_off(domain, console)
        # Stopped: libvirt leaves a read-only disk as it is; the hook gives it back.
        assert attributes(image) == uploaded, 'boot %d: the stopped VM\'s payload is still QEMU\'s' % boot
        assert not readable_by(*qemu_ids, image), 'boot %d: another VM\'s QEMU can read the payload' % boot
        # The next start hands the image to QEMU again: the guest reads it at every boot.
        assert guest_read(console), 'boot %d:\n%s' % (boot, console.read_text())


def test_a_run_once_payload_is_gone_when_its_vm_stops(release_hook, guest, qemu_ids, tmp_path):
    domain, console = guest
    image = stage(tmp_path, 'vm_run_once_payload', domain, 'first-boot key\n')
    running = domain.isActive()
    if running:
        assert attributes(image) == qemu_ids + (0o600,)
    wait_until_off(domain, console)
    assert wait_until(lambda: not image.exists(), 10), '%s is still in the pool' % image
    assert guest_read(console), console.read_text()
