# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Issue 10, fault suite: run-once cycles with a real guest, against the real libvirtd and the role's release hook.

One tiny guest (a Debian kernel and a busybox /init that prints every file of its media with its sha256 on the
serial console, then powers off) is started CYCLES times by vm_run_once_payload, each time with a payload of its
own. In most cycles the guest is killed with ``virsh destroy`` soon after it starts (at a varying moment of its
boot): the release hook must delete that cycle's run-once image all the same. In BOOT_CYCLES cycles the guest
boots, reads the payload from its drive and powers itself off: what it printed must be the sha256 of each file
sent in that cycle. Every cycle also reads the run-once volume back from libvirt while the guest runs and compares
its files with what was sent.

After every cycle the pool holds no run-once image of the guest; after the last one the guest's persistent
definition (``virsh dumpxml --inactive --security-info``) is byte-identical to what it was before the first cycle
and the modules' TMPDIR is empty.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import libvirt
import pytest

from fault_helpers import ROOT, URI, leftovers, payload_volumes, pool_disks, record_of, run_module, volume_files, \
    domain_xml
from test_staging_role import SKIP_REASON, ansible_playbook, role_playbook

pytestmark = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or '')

CYCLES = 32
# These cycles let the guest boot, read its payload and power off by itself (20 to 40 s each under emulation).
BOOT_CYCLES = {0, CYCLES // 2, CYCLES - 1}
GUEST_BUILD_DIR = ROOT / '.build' / 'guest'
GUEST_TIMEOUT = 120
# The release hook runs before libvirt reports the domain shut off; a moment is allowed all the same.
HOOK_GRACE = 10
FILE_LINE = re.compile(r'^VMPAYLOAD FILE (/dev/sr\d) ([0-9a-f]{64}) (.+?)\s*$', re.M)


@pytest.fixture(scope='module')
def hook(tmp_path_factory):
    """The payload_staging role as a user runs it: the pool and the release hook (packages are the test's own)."""
    directory = tmp_path_factory.mktemp('staging')
    ansible_playbook(role_playbook(directory, dict(payload_staging_install_packages=False)))


@pytest.fixture
def conn():
    connection = libvirt.open(URI)
    yield connection
    connection.close()


@pytest.fixture
def guest(conn, hook):
    """A defined, shut-off tiny guest that writes its serial console to a file; removed afterwards with its images."""
    for file_name in ('vmlinuz', 'initrd.img'):
        if not (GUEST_BUILD_DIR / file_name).is_file():
            subprocess.run(['bash', str(ROOT / 'tests' / 'guest' / 'build-guest.sh'), str(GUEST_BUILD_DIR)],
                           check=True, timeout=900)
    name = 'vmp-fault-cycles-%s' % uuid.uuid4().hex[:8]
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
        fresh = libvirt.open(URI)
        try:
            stale = fresh.lookupByUUIDString(domain_uuid)
            if stale.isActive():
                stale.destroy()
            stale.undefine()
        finally:
            fresh.close()
        for leftover in Path('/var/lib/vmpayload/pool').glob('vmpayload-%s-*' % domain_uuid):
            leftover.unlink()
        shutil.rmtree(guest_dir, ignore_errors=True)


def virsh(*args):
    completed = subprocess.run(['virsh', '-c', URI, *args], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, 'virsh %s: %s' % (' '.join(args), completed.stderr)
    return completed.stdout


def wait_until(condition, timeout, pause=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(pause)
    return condition()


def cycle_payload(cycle):
    """A payload of this cycle only: its number and random bytes, in a text file and a binary one."""
    text = ('cycle %d %s\n' % (cycle, uuid.uuid4().hex)).encode()
    data = os.urandom(4096 + cycle)
    spec = [{'name': 'cycle.txt', 'content': text.decode()},
            {'name': 'data/random.bin', 'content_b64': base64.b64encode(data).decode()}]
    return spec, {'cycle.txt': text, 'data/random.bin': data}


def test_run_once_cycles_leave_no_image_and_the_definition_unchanged(conn, guest, tmp_path):
    domain, console = guest
    domain_uuid = domain.UUIDString()
    tmpdir = tmp_path / 'tmp'
    tmpdir.mkdir()
    before = virsh('dumpxml', '--inactive', '--security-info', domain.name())
    started = time.monotonic()
    for cycle in range(CYCLES):
        files, sent = cycle_payload(cycle)
        run = run_module('vm_run_once_payload', {'name': domain.name(), 'files': files, 'timeout': 60}, tmpdir)
        assert run.returncode == 0 and run.result['changed'] is True, 'cycle %d: %s' % (cycle, run)
        volume = run.result['volume']
        assert re.match(r'^vmpayload-%s-once-[0-9a-f]{16}\.iso$' % domain_uuid, volume), volume
        running = domain_xml(conn, domain_uuid, inactive=False)
        assert pool_disks(running) == {'hdd': volume} and record_of(running).get('availability') == 'run-once'

        if cycle in BOOT_CYCLES:
            if not wait_until(lambda: not domain.isActive(), GUEST_TIMEOUT, pause=1):
                pytest.fail('cycle %d: the guest did not power off within %d s; console:\n%s'
                            % (cycle, GUEST_TIMEOUT, console.read_text(errors='replace')))
            seen = {name: digest for _device, digest, name in FILE_LINE.findall(console.read_text(errors='replace'))}
            assert seen == {name: hashlib.sha256(content).hexdigest() for name, content in sent.items()}, \
                'cycle %d: the guest read other files than were sent; console:\n%s' % (cycle, console.read_text())
        else:
            # Read back while the guest runs, then killed at a varying moment of its boot.
            assert volume_files(conn, volume, tmp_path / ('read-back-%d' % cycle)) == sent, 'cycle %d' % cycle
            time.sleep(0.5 * (cycle % 3))
            assert domain.isActive(), 'cycle %d: the guest stopped before it was destroyed' % cycle
            virsh('destroy', domain.name())
        assert wait_until(lambda: payload_volumes(conn, domain_uuid) == [], HOOK_GRACE), \
            'cycle %d: run-once images left in the pool: %s' % (cycle, payload_volumes(conn, domain_uuid))
    elapsed = time.monotonic() - started

    assert not domain.isActive()
    assert payload_volumes(conn, domain_uuid) == []
    assert not [name for name in os.listdir('/var/lib/vmpayload/pool')
                if name.startswith('vmpayload-%s-once-' % domain_uuid)]
    assert virsh('dumpxml', '--inactive', '--security-info', domain.name()) == before
    assert leftovers(tmpdir) == []
    print('%d run-once cycles (%d booted and powered off, %d destroyed) in %.0f s'
          % (CYCLES, len(BOOT_CYCLES), CYCLES - len(BOOT_CYCLES), elapsed))
