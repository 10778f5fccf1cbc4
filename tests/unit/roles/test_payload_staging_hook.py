# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The payload_staging role's libvirt hook, run as libvirt runs it: argv, the domain XML on stdin.

It must delete exactly the run-once images the released domain used, in the configured pool, give its
permanent images back to its own user and group with mode 0600 (libvirt leaves read-only disks to the
user QEMU runs as), and touch nothing else; stay silent on stdout (libvirt reads a qemu.d script's stdout as XML); and exit 0
whatever it is given.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[3] / 'roles' / 'payload_staging' / 'files' / 'vmpayload-qemu-hook'
UUID = '3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55'
OTHER_UUID = '9f1d2c3b-0a4e-4b5c-8d7e-6f5a4b3c2d1e'
ISO = 'vmpayload-%s-once-2e9e49663987d14f.iso' % UUID
IMG = 'vmpayload-%s-once-0123456789abcdef.img' % UUID
PERMANENT = 'vmpayload-%s-2e9e49663987d14f.iso' % UUID
PERMANENT_IMG = 'vmpayload-%s-0123456789abcdef.img' % UUID
OTHER_DOMAIN_ONCE = 'vmpayload-%s-once-2e9e49663987d14f.iso' % OTHER_UUID
OTHER_DOMAIN_PERMANENT = 'vmpayload-%s-2e9e49663987d14f.iso' % OTHER_UUID
UNUSED_ONCE = 'vmpayload-%s-once-ffffffffffffffff.iso' % UUID


def domain_xml(uuid=UUID, disks=(), record_volume=None, record_pool='vmpayload'):
    """A domain as libvirt hands it to a hook: disks as (type, source attributes) pairs."""
    devices = ''.join(
        "<disk type='%s' device='cdrom'><source %s/><target dev='hdd' bus='ide'/></disk>"
        % (kind, ' '.join("%s='%s'" % item for item in source.items()))
        for kind, source in disks)
    record = ''
    if record_volume:
        record = ("<metadata><vmpayload:payload xmlns:vmpayload='urn:x-vmpayload:payload:1' availability='run-once' "
                  "pool='%s' volume='%s'/></metadata>" % (record_pool, record_volume))
    return ("<domain type='qemu'><name>vm1</name><uuid>%s</uuid>%s<devices>%s</devices></domain>"
            % (uuid, record, devices)).encode()


ALL_FILES = (ISO, IMG, PERMANENT, PERMANENT_IMG, OTHER_DOMAIN_ONCE, OTHER_DOMAIN_PERMANENT, UNUSED_ONCE,
             'unrelated.qcow2')


def volume_disk(name, pool='vmpayload'):
    return ('volume', {'pool': pool, 'volume': name})


@pytest.fixture
def pool(tmp_path):
    """A pool directory holding one of every kind of file, and the hook's configuration for it."""
    directory = tmp_path / 'pool'
    directory.mkdir()
    for name in ALL_FILES:
        (directory / name).write_bytes(b'image')
    config = tmp_path / 'vmpayload.json'
    (tmp_path / 'save').mkdir()
    config.write_text(json.dumps({'pool_name': 'vmpayload', 'pool_path': str(directory),
                                  'managed_save_dir': str(tmp_path / 'save')}))
    return directory, config


def run_hook(config, args, stdin, direct=False):
    """Run the hook like libvirt: ``<hook> <domain> <operation> <sub-operation> <extra>``, XML on stdin."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'LC_ALL': 'C', 'VMPAYLOAD_HOOK_CONFIG': str(config)}
    command = [str(HOOK)] if direct else [sys.executable, str(HOOK)]
    return subprocess.run(command + list(args), input=stdin, env=env, capture_output=True, timeout=30, check=False)


def remaining(directory):
    return sorted(p.name for p in directory.iterdir())


def everything_but(*deleted):
    return sorted(set(ALL_FILES) - set(deleted))


def test_release_deletes_the_run_once_images_the_domain_used(pool):
    directory, config = pool
    xml = domain_xml(disks=[volume_disk(ISO), volume_disk(PERMANENT)], record_volume=IMG)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert completed.returncode == 0
    assert completed.stdout == b''
    assert remaining(directory) == everything_but(ISO, IMG)


def test_libvirt_can_execute_it_directly(pool):
    """The file is executable and its first line names an interpreter that exists."""
    directory, config = pool
    assert os.access(HOOK, os.X_OK)
    assert HOOK.read_text().splitlines()[0] == '#!/usr/bin/python3'
    completed = run_hook(config, ['vm1', 'release', 'end', 'shutdown'], domain_xml(disks=[volume_disk(ISO)]),
                         direct=True)
    assert completed.returncode == 0, completed.stderr
    assert remaining(directory) == everything_but(ISO)


def test_a_disk_given_by_path_in_the_pool_counts(pool):
    directory, config = pool
    xml = domain_xml(disks=[('file', {'file': str(directory / ISO)})])
    assert run_hook(config, ['vm1', 'release', 'end', '-'], xml).returncode == 0
    assert remaining(directory) == everything_but(ISO)


@pytest.mark.parametrize('operation', ['prepare', 'start', 'started', 'stopped', 'migrate', 'restore', 'reconnect',
                                       'attach', 'Release', ''])
def test_other_operations_touch_nothing_and_print_nothing(pool, operation):
    directory, config = pool
    xml = domain_xml(disks=[volume_disk(ISO)], record_volume=IMG)
    completed = run_hook(config, ['vm1', operation, 'begin', '-'], xml)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert remaining(directory) == everything_but()


@pytest.mark.parametrize('xml, why', [
    # Names the domain does not own, or that are not run-once images, or that point elsewhere.
    (domain_xml(disks=[volume_disk(OTHER_DOMAIN_ONCE), volume_disk(PERMANENT), volume_disk('unrelated.qcow2')]),
     'not this domain\'s run-once images'),
    (domain_xml(disks=[volume_disk(ISO, pool='elsewhere')], record_volume=IMG, record_pool='elsewhere'),
     'another pool'),
    (domain_xml(disks=[('file', {'file': '/var/lib/libvirt/images/' + ISO})]), 'a file outside the pool'),
    (domain_xml(disks=[volume_disk('../pool/' + ISO), volume_disk(ISO + '/..'), volume_disk(ISO.upper())]),
     'names that only resemble ours'),
    (domain_xml(uuid=OTHER_UUID, disks=[volume_disk(ISO)]), 'an image of another domain'),
    (domain_xml(uuid='../..', disks=[volume_disk(ISO)]), 'a UUID that is no UUID'),
    (domain_xml(), 'a domain with no payload'),
])
def test_release_deletes_nothing_else(pool, xml, why):
    directory, config = pool
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert completed.returncode == 0 and completed.stdout == b'', why
    assert remaining(directory) == everything_but(), why


@pytest.mark.parametrize('args, stdin', [
    (['vm1', 'release', 'end', '-'], b''),
    (['vm1', 'release', 'end', '-'], b'not xml at all \x00\xff'),
    (['vm1', 'release', 'end', '-'], b'<network><uuid>%s</uuid></network>' % UUID.encode()),
    (['vm1', 'release', 'end', '-'], b'<domain><name>no uuid</name></domain>'),
    (['vm1', 'release', 'end', '-'], b'<domain><uuid>' + b'x' * 100000 + b'</uuid></domain>'),
    ([], b''),
    (['vm1'], domain_xml(disks=[volume_disk(ISO)])),
])
def test_garbage_exits_0_and_deletes_nothing(pool, args, stdin):
    directory, config = pool
    completed = run_hook(config, args, stdin)
    assert completed.returncode == 0 and completed.stdout == b''
    assert remaining(directory) == everything_but()


@pytest.mark.parametrize('config_text', [None, 'not json', '[]', '{"pool_name": "vmpayload"}',
                                         '{"pool_name": "vmpayload", "pool_path": "relative/pool"}',
                                         '{"pool_name": "vmpayload", "pool_path": "/pool", "managed_save_dir": "save"}'])
def test_a_missing_or_bad_configuration_is_reported_and_exits_0(pool, config_text):
    directory, config = pool
    if config_text is None:
        config.unlink()
    else:
        config.write_text(config_text)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], domain_xml(disks=[volume_disk(ISO)]))
    assert completed.returncode == 0 and completed.stdout == b''
    assert b'vmpayload hook: nothing deleted' in completed.stderr
    assert remaining(directory) == everything_but()


def test_what_is_not_a_regular_file_is_left_and_reported(pool, tmp_path):
    """A symlink or directory with a run-once name stays, and so does what a symlink points at."""
    directory, config = pool
    target = tmp_path / 'precious'
    target.write_bytes(b'keep me')
    (directory / ISO).unlink()
    (directory / ISO).symlink_to(target)
    (directory / IMG).unlink()
    (directory / IMG).mkdir()
    completed = run_hook(config, ['vm1', 'release', 'end', '-'],
                         domain_xml(disks=[volume_disk(ISO)], record_volume=IMG))
    assert completed.returncode == 0 and completed.stdout == b''
    assert completed.stderr.count(b'not a regular file') == 2
    assert (directory / ISO).is_symlink() and (directory / IMG).is_dir() and target.read_bytes() == b'keep me'


def test_an_image_already_gone_is_no_error(pool):
    directory, config = pool
    (directory / ISO).unlink()
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], domain_xml(disks=[volume_disk(ISO)]))
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')


def test_a_missing_pool_directory_is_reported_and_exits_0(pool):
    directory, config = pool
    config.write_text(json.dumps({'pool_name': 'vmpayload', 'pool_path': str(directory / 'gone')}))
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], domain_xml(disks=[volume_disk(ISO)]))
    assert completed.returncode == 0 and completed.stdout == b''
    assert b'does not exist' in completed.stderr
    assert remaining(directory) == everything_but()


def test_exits_0_with_stdin_and_stderr_closed(pool):
    """Even with nowhere to read from or report to, libvirt sees 0."""
    directory, config = pool
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'VMPAYLOAD_HOOK_CONFIG': str(config / 'missing')}
    completed = subprocess.run([sys.executable, str(HOOK), 'vm1', 'release', 'end', '-'], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, timeout=30,
                               preexec_fn=lambda: (os.close(0), os.close(2)), check=False)
    assert completed.returncode == 0 and completed.stdout == b''
    assert remaining(directory) == everything_but()


# -- permanent images: given back to the hook's own user, as libvirt created them -------------------------------

# A user and group that are not the hook's: the QEMU user libvirt left the image to. Only root can hand a file
# to another user: run as a user, the tests keep the files their own and check the mode alone.
QEMU_IDS = (64055, 64055) if os.geteuid() == 0 else (os.geteuid(), os.getegid())


def attributes(path):
    info = os.lstat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def as_qemu_left_them(directory, mode=0o600):
    """Every file in the pool as libvirt leaves the disks of a stopped domain: owned by the QEMU user."""
    for name in ALL_FILES:
        os.chown(directory / name, *QEMU_IDS)
        os.chmod(directory / name, mode)


@pytest.mark.parametrize('mode', [0o600, 0o644, 0o4755], ids=oct)
def test_release_gives_the_permanent_images_back(pool, mode):
    directory, config = pool
    as_qemu_left_them(directory, mode)
    xml = domain_xml(disks=[volume_disk(PERMANENT), ('file', {'file': str(directory / PERMANENT_IMG)}),
                            volume_disk(ISO)])
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert remaining(directory) == everything_but(ISO)
    assert attributes(directory / PERMANENT) == (os.geteuid(), os.getegid(), 0o600)
    assert attributes(directory / PERMANENT_IMG) == (os.geteuid(), os.getegid(), 0o600)
    for name in everything_but(ISO, PERMANENT, PERMANENT_IMG):
        assert attributes(directory / name) == QEMU_IDS + (mode,), name


def test_a_permanent_image_already_given_back_is_not_written(pool):
    directory, config = pool
    os.chmod(directory / PERMANENT, 0o600)
    before = os.lstat(directory / PERMANENT).st_ctime_ns
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], domain_xml(record_volume=PERMANENT))
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert os.lstat(directory / PERMANENT).st_ctime_ns == before


@pytest.mark.parametrize('xml, why', [
    (domain_xml(disks=[volume_disk(OTHER_DOMAIN_PERMANENT), volume_disk('unrelated.qcow2')]),
     'not this domain\'s images'),
    (domain_xml(uuid=OTHER_UUID, disks=[volume_disk(PERMANENT)]), 'an image of another domain'),
    (domain_xml(disks=[volume_disk(PERMANENT, pool='elsewhere')], record_volume=PERMANENT_IMG, record_pool='elsewhere'),
     'another pool'),
    (domain_xml(disks=[('file', {'file': '/var/lib/libvirt/images/' + PERMANENT})]), 'a file outside the pool'),
    (domain_xml(disks=[volume_disk('../pool/' + PERMANENT), volume_disk(PERMANENT + '/..'),
                       volume_disk(PERMANENT.upper()), volume_disk(PERMANENT[:-4] + '0.iso')]),
     'names that only resemble ours'),
])
def test_release_gives_back_nothing_else(pool, xml, why):
    directory, config = pool
    as_qemu_left_them(directory, 0o644)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert completed.returncode == 0 and completed.stdout == b'', why
    assert remaining(directory) == everything_but(), why
    assert all(attributes(directory / name) == QEMU_IDS + (0o644,) for name in ALL_FILES), why


@pytest.mark.parametrize('operation', ['prepare', 'start', 'started', 'stopped', 'migrate', 'restore', 'reconnect'])
def test_other_operations_give_back_nothing(pool, operation):
    directory, config = pool
    as_qemu_left_them(directory, 0o644)
    completed = run_hook(config, ['vm1', operation, 'begin', '-'], domain_xml(disks=[volume_disk(PERMANENT)]))
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert attributes(directory / PERMANENT) == QEMU_IDS + (0o644,)


def test_a_permanent_name_that_is_not_a_regular_file_is_left_and_reported(pool, tmp_path):
    """A symlink with a permanent image's name: neither it nor what it points at changes hands."""
    directory, config = pool
    target = tmp_path / 'precious'
    target.write_bytes(b'keep me')
    os.chown(target, *QEMU_IDS)
    os.chmod(target, 0o644)
    (directory / PERMANENT).unlink()
    (directory / PERMANENT).symlink_to(target)
    (directory / PERMANENT_IMG).unlink()
    (directory / PERMANENT_IMG).mkdir()
    os.chown(directory / PERMANENT_IMG, *QEMU_IDS)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'],
                         domain_xml(disks=[volume_disk(PERMANENT)], record_volume=PERMANENT_IMG))
    assert completed.returncode == 0 and completed.stdout == b''
    assert completed.stderr.count(b'not a regular file') == 2
    assert attributes(target) == QEMU_IDS + (0o644,)
    assert os.lstat(directory / PERMANENT_IMG).st_uid == QEMU_IDS[0]


# -- a domain that has not ended: it migrated away (a shared pool), or it was saved to be restored --------------

# QEMU's image locks (block/file-posix.c): a shared lock on byte 100 + permission bit for as long as it has the
# image open, by an OFD lock, so that another QEMU (on this host, or on another over NFS) sees it.
HOLD_LIKE_QEMU = r"""
import fcntl, os, struct, sys
descriptor = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, struct.pack('hhqqi4x', fcntl.F_RDLCK, os.SEEK_SET, 100, 1, 0))
print('held', flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held_like_qemu():
    """Start a process that holds a file open with QEMU's image lock until the test ends."""
    holders = []

    def hold(path):
        holder = subprocess.Popen([sys.executable, '-c', HOLD_LIKE_QEMU, str(path)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        assert holder.stdout.readline() == b'held\n'
        holders.append(holder)
        return holder

    yield hold
    for holder in holders:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_images_another_qemu_holds_are_left_as_they_are(pool, held_like_qemu):
    """Released on the source after a migration to a host that shares the pool: the destination reads them."""
    directory, config = pool
    as_qemu_left_them(directory, 0o644)
    held_like_qemu(directory / ISO)
    held_like_qemu(directory / PERMANENT)
    xml = domain_xml(disks=[volume_disk(ISO), ('file', {'file': str(directory / PERMANENT)})], record_volume=IMG)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert remaining(directory) == everything_but(IMG)
    assert attributes(directory / PERMANENT) == QEMU_IDS + (0o644,)


def test_an_image_is_deleted_once_no_qemu_holds_it(pool, held_like_qemu):
    """The domain stopped on the destination: its release there deletes the run-once image."""
    directory, config = pool
    xml = domain_xml(disks=[volume_disk(ISO)])
    holder = held_like_qemu(directory / ISO)
    run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert ISO in remaining(directory)
    holder.stdin.close()
    holder.wait(timeout=30)
    assert run_hook(config, ['vm1', 'release', 'end', '-'], xml).returncode == 0
    assert remaining(directory) == everything_but(ISO)


def test_a_lock_on_other_bytes_does_not_count(pool, tmp_path):
    """Only QEMU's lock bytes say a QEMU reads the image; the modules' own locks are elsewhere."""
    directory, config = pool
    script = HOLD_LIKE_QEMU.replace(', 100, 1, 0', ', 0, 1, 0')
    holder = subprocess.Popen([sys.executable, '-c', script, str(directory / ISO)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b'held\n'
        run_hook(config, ['vm1', 'release', 'end', '-'], domain_xml(disks=[volume_disk(ISO)]))
        assert remaining(directory) == everything_but(ISO)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_managed_save_keeps_the_run_once_images(pool, tmp_path):
    """virsh managedsave releases the domain; its restore needs the run-once image it was saved with."""
    directory, config = pool
    as_qemu_left_them(directory, 0o644)
    (tmp_path / 'save' / 'vm1.save').write_bytes(b'saved state')
    xml = domain_xml(disks=[volume_disk(ISO), volume_disk(PERMANENT)], record_volume=IMG)
    completed = run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, b'', b'')
    assert remaining(directory) == everything_but()
    assert attributes(directory / PERMANENT) == (os.geteuid(), os.getegid(), 0o600)
    (tmp_path / 'save' / 'vm1.save').unlink()
    run_hook(config, ['vm1', 'release', 'end', '-'], xml)
    assert remaining(directory) == everything_but(ISO, IMG)
