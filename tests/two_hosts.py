# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A second libvirt host on this machine, for the live-migration tests (host "b"; the system libvirtd is "a").

It is a second virtlogd and libvirtd in a mount namespace of their own (../shared/notes/two-libvirt-hosts.md
tells how this was found to work): private directories under BASE are bind-mounted over /run/libvirt,
/var/lib/libvirt, /etc/libvirt (a copy of the real one, with its own host_uuid, ``cgroup_controllers = [ ]``
and migration ports of its own, without the first host's domains, pools, secrets and hooks),
/var/cache/libvirt and /var/log/libvirt. Everything else, the guests' kernel and console logs under
/var/lib/vmpayload included, both hosts see alike. The payload pool directory is either the first host's
(``--pool shared``: one directory, as an NFS-backed pool) or a private one bind-mounted over the same path
(``--pool private``: no shared storage).

Host b is prepared as a user prepares a host: the payload_staging role runs inside its namespace (there
/etc/libvirt is b's copy, so the role's release hook lands in b's hooks directory) with the pool at the
same path as on a. The role finds the daemon to reload by /run/libvirtd.pid, which in b's namespace is
a's (/run is shared): so the role runs with ``payload_staging_hook_activation: none`` and b's libvirtd
gets its SIGHUP here, by the pid in b's private run directory.

Commands (each prints one JSON object):

- ``start [--pool shared|private]``: start host b, or keep it when it runs with that pool already
  (idempotent); a running b given the other pool gets it by a mount (or umount) in its namespace.
- ``stop``: destroy what still runs on b, stop libvirtd and virtlogd by the pids in b's run directory.
- ``migrate NAME --to a|b [--console PATH]``: live, peer-to-peer migration over the loopback
  (``VIR_MIGRATE_LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE``); the destination's QEMU may write the
  serial console to another file (the source's QEMU still holds the old one until it exits).
- ``reclaim NAME``: a domain left on b goes back to a's definitions, stopped, so that a's clean-up finds it.

URIs: clients in the root namespace reach b at ``qemu+unix:///system?socket=BASE/run/libvirt-sock``; b's
daemon reaches a (for a peer-to-peer migration back) through a's run directory, bind-mounted at
BASE/host-a-run inside b's namespace only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from xml.etree import ElementTree

import libvirt

ROOT = Path(__file__).resolve().parents[1]
BASE = Path(os.environ.get('VMPAYLOAD_TWO_HOSTS_DIR', '/srv/vmpayload-two-hosts'))
POOL_PATH = Path('/var/lib/vmpayload/pool')
URI_A = 'qemu:///system'
# Bind-mounted over these paths inside b's namespace: name under BASE -> path.
PRIVATE_DIRS = {
    'run': '/run/libvirt',
    'lib': '/var/lib/libvirt',
    'etc': '/etc/libvirt',
    'cache': '/var/cache/libvirt',
    'log': '/var/log/libvirt',
}
# a's QEMUs listen for incoming migrations on 49152-49215 (qemu.conf's default); b's on its own range.
MIGRATION_PORTS_B = (49252, 49315)
START_TIMEOUT = 60
CAPABILITIES_CACHE = '/var/cache/libvirt/qemu/capabilities'


def _quiet(_context, _error):
    """libvirt's default handler prints every error on stderr, expected ones too; they are raised anyway."""


libvirt.registerErrorHandler(_quiet, None)


def uri_b(base=BASE):
    return 'qemu+unix:///system?socket=%s' % (base / 'run' / 'libvirt-sock')


def uri_a_from_b(base=BASE):
    """a's socket as b's daemon sees it (peer-to-peer migration back to a)."""
    return 'qemu+unix:///system?socket=%s' % (base / 'host-a-run' / 'libvirt-sock')


def uri_of(host, base=BASE):
    return URI_A if host == 'a' else uri_b(base)


def _pid(name, base=BASE):
    """The pid in b's pid file for ``name`` (virtlogd, libvirtd) when that process is alive and is ``name``."""
    try:
        pid = int((base / 'run' / ('%s.pid' % name)).read_text().strip())
        comm = Path('/proc/%d/comm' % pid).read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == name else None


def _answers(uri, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = libvirt.open(uri)
            conn.getLibVersion()
            conn.close()
            return True
        except libvirt.libvirtError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def _write_config(base, host_uuid):
    """b's /etc/libvirt: a's configuration files, none of a's objects, and b's own identity and ports."""
    etc = base / 'etc'
    for entry in Path('/etc/libvirt').iterdir():
        if entry.is_file() and entry.suffix == '.conf':
            shutil.copy2(entry, etc / entry.name)
    shutil.copytree('/etc/libvirt/nwfilter', etc / 'nwfilter')
    for directory in ('qemu', 'storage', 'hooks', 'secrets'):
        (etc / directory).mkdir(mode=0o755)
    with open(etc / 'libvirtd.conf', 'a', encoding='utf-8') as conf:
        # libvirt refuses to migrate to a host with its own UUID.
        conf.write('\n# vmpayload two-hosts test harness\nhost_uuid = "%s"\n' % host_uuid)
    with open(etc / 'qemu.conf', 'a', encoding='utf-8') as conf:
        # No systemd to make b's cgroups; and ports that a's incoming QEMUs do not use.
        conf.write('\n# vmpayload two-hosts test harness\ncgroup_controllers = [ ]\n'
                   'migration_port_min = %d\nmigration_port_max = %d\n' % MIGRATION_PORTS_B)


def _ns_script(base, pool):
    mounts = ['mount --bind /run/libvirt %s' % (base / 'host-a-run')]
    mounts += ['mount --bind %s %s' % (base / name, target) for name, target in PRIVATE_DIRS.items()]
    if pool == 'private':
        mounts.append('mount --bind %s %s' % (base / 'pool', POOL_PATH))
    return ' && '.join(['set -e'] + mounts + [
        'virtlogd -d -p /run/libvirt/virtlogd.pid',
        'libvirtd -d -p /run/libvirt/libvirtd.pid'])


def _stage(base):
    """Run the payload_staging role on b, inside b's namespace, then make b's libvirtd read its hooks."""
    pid = _pid('libvirtd', base)
    playbook = base / 'stage-b.yml'
    playbook.write_text(json.dumps([{
        'name': 'Prepare host b with the payload_staging role',
        'hosts': 'localhost',
        'gather_facts': False,
        'roles': [{'role': 'vmpayload.core.payload_staging',
                   'payload_staging_uri': uri_b(base),
                   'payload_staging_install_packages': False,
                   'payload_staging_hook_activation': 'none'}],
    }], indent=1))
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', LC_ALL='C.UTF-8')
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    command = ['nsenter', '--mount=/proc/%d/ns/mnt' % pid, '--', str(bin_dir / 'ansible-playbook'),
               '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    (base / 'stage-b.log').write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError('the payload_staging role failed on host b (%s):\n%s'
                           % (' '.join(command), (completed.stdout + completed.stderr)[-3000:]))
    # What the role's reload would do, to the right daemon.
    os.kill(pid, signal.SIGHUP)
    if not _answers(uri_b(base)):
        raise RuntimeError('host b did not answer after SIGHUP')


def _switch_pool(base, pool):
    """Give running b the other pool directory: mount the private one over the pool's path in b's namespace, or
    take it away (b's mounts do not propagate, so a sees nothing of it), then make b's pool list what is there."""
    pid = _pid('libvirtd', base)
    mount = ['mount', '--bind', str(base / 'pool'), str(POOL_PATH)] if pool == 'private' else ['umount', str(POOL_PATH)]
    subprocess.run(['nsenter', '--mount=/proc/%d/ns/mnt' % pid, '--'] + mount, capture_output=True, text=True,
                   timeout=30, check=True)
    (base / 'pool-mode').write_text(pool + '\n')
    conn = libvirt.open(uri_b(base))
    try:
        for storage in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
            storage.refresh(0)
    finally:
        conn.close()


def start(pool='shared', base=BASE):
    if pool not in ('shared', 'private'):
        raise ValueError('pool must be shared or private, not %r' % pool)
    started = time.monotonic()
    mode_file = base / 'pool-mode'
    if _pid('libvirtd', base) and mode_file.exists() and _answers(uri_b(base), timeout=10):
        if mode_file.read_text().strip() == pool:
            return dict(changed=False, uri=uri_b(base), pool=pool, base=str(base), seconds=0.0)
        _switch_pool(base, pool)
        return dict(changed=True, uri=uri_b(base), pool=pool, base=str(base), seconds=round(time.monotonic() - started, 1))
    stop(base)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, mode=0o755)
    for name in list(PRIVATE_DIRS) + ['host-a-run', 'pool']:
        (base / name).mkdir(mode=0o755)
    _write_config(base, uuid.uuid4())
    # a's probe of the same QEMU binaries, which libvirt re-checks against them: b need not probe them again
    # (tens of seconds on a busy 2-core machine).
    if Path(CAPABILITIES_CACHE).is_dir():
        shutil.copytree(CAPABILITIES_CACHE, base / 'cache' / 'qemu' / 'capabilities')
    POOL_PATH.mkdir(parents=True, exist_ok=True)
    mode_file.write_text(pool + '\n')
    # The daemons fork into the background inside the namespace, which lives on with them.
    completed = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', _ns_script(base, pool)],
                               env={'PATH': '/usr/sbin:/usr/bin:/sbin:/bin'}, capture_output=True, text=True,
                               timeout=60, check=False)
    if completed.returncode != 0 or not _answers(uri_b(base)):
        log = base / 'log'
        raise RuntimeError('host b did not start (rc %s): %s %s; logs in %s'
                           % (completed.returncode, completed.stdout, completed.stderr, log))
    answered = time.monotonic()
    _stage(base)
    return dict(changed=True, uri=uri_b(base), pool=pool, base=str(base), seconds=round(time.monotonic() - started, 1),
                daemon_seconds=round(answered - started, 1), libvirtd_pid=_pid('libvirtd', base),
                virtlogd_pid=_pid('virtlogd', base))


def _stop_pid(name, base, timeout=30):
    pid = _pid(name, base)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path('/proc/%d' % pid).exists() and time.monotonic() < deadline:
        try:
            if Path('/proc/%d/comm' % pid).read_text().strip() != name:
                break
        except OSError:
            break
        time.sleep(0.2)
    else:
        if Path('/proc/%d' % pid).exists():
            os.kill(pid, signal.SIGKILL)
    return pid


def stop(base=BASE):
    """Stop b: its domains first (their QEMUs would outlive the daemon), then libvirtd, then virtlogd."""
    destroyed = []
    if _pid('libvirtd', base) and _answers(uri_b(base), timeout=10):
        conn = libvirt.open(uri_b(base))
        for domain in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            domain.destroy()
            destroyed.append(domain.name())
        conn.close()
    stopped = {name: _stop_pid(name, base) for name in ('libvirtd', 'virtlogd')}
    return dict(changed=any(stopped.values()), destroyed=destroyed, stopped=stopped)


def _free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def migrate(name, to, console=None, base=BASE):
    """Live, peer-to-peer migration of ``name`` to host ``to``; the memory goes over the loopback.

    With ``console``, the destination's QEMU writes the serial console (the first <serial> with a file
    source) to that file: the destination opens it with O_TRUNC (append='off') while the source's QEMU
    still writes to its own.
    """
    source_uri, dest_daemon_uri = (URI_A, uri_b(base)) if to == 'b' else (uri_b(base), uri_a_from_b(base))
    conn = libvirt.open(source_uri)
    try:
        domain = conn.lookupByName(name)
        params = {libvirt.VIR_MIGRATE_PARAM_URI: 'tcp://127.0.0.1:%d' % _free_port()}
        if console:
            definition = ElementTree.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE
                                                               | libvirt.VIR_DOMAIN_XML_SECURE))
            definition.find("devices/serial[@type='file']/source").set('path', console)
            params[libvirt.VIR_MIGRATE_PARAM_DEST_XML] = ElementTree.tostring(definition, encoding='unicode')
        flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_PERSIST_DEST
                 | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
        started = time.monotonic()
        try:
            domain.migrateToURI3(dest_daemon_uri, params, flags)
        except libvirt.libvirtError as exc:
            return dict(failed=True, msg=str(exc), seconds=round(time.monotonic() - started, 1),
                        source_state=_state(conn, name))
        return dict(changed=True, seconds=round(time.monotonic() - started, 1), dest=to, source_state=_state(conn, name))
    finally:
        conn.close()


def _state(conn, name):
    try:
        state = conn.lookupByName(name).state()[0]
    except libvirt.libvirtError:
        return 'undefined'
    return {libvirt.VIR_DOMAIN_RUNNING: 'running', libvirt.VIR_DOMAIN_PAUSED: 'paused',
            libvirt.VIR_DOMAIN_SHUTOFF: 'shut off'}.get(state, str(state))


def reclaim(name, base=BASE):
    """A domain left on b: stopped there, defined again on a (when a no longer has it), undefined on b."""
    if not (_pid('libvirtd', base) and _answers(uri_b(base), timeout=10)):
        return dict(changed=False)
    conn_a, conn_b = libvirt.open(URI_A), libvirt.open(uri_b(base))
    try:
        try:
            domain = conn_b.lookupByName(name)
        except libvirt.libvirtError:
            return dict(changed=False)
        if domain.isActive():
            domain.destroy()
        if domain.isPersistent():
            definition = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
            try:
                conn_a.lookupByUUIDString(domain.UUIDString())
            except libvirt.libvirtError:
                conn_a.defineXML(definition)
            domain.undefine()
        return dict(changed=True)
    finally:
        conn_a.close()
        conn_b.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--base', type=Path, default=BASE, help='the directory that holds host b (default %(default)s)')
    commands = parser.add_subparsers(dest='command', required=True)
    start_parser = commands.add_parser('start')
    start_parser.add_argument('--pool', choices=['shared', 'private'], default='shared')
    commands.add_parser('stop')
    commands.add_parser('uri')
    migrate_parser = commands.add_parser('migrate')
    migrate_parser.add_argument('name')
    migrate_parser.add_argument('--to', choices=['a', 'b'], required=True)
    migrate_parser.add_argument('--console')
    reclaim_parser = commands.add_parser('reclaim')
    reclaim_parser.add_argument('name')
    args = parser.parse_args(argv)
    if args.command == 'start':
        result = start(args.pool, args.base)
    elif args.command == 'stop':
        result = stop(args.base)
    elif args.command == 'uri':
        result = dict(uri=uri_b(args.base), uri_a_from_b=uri_a_from_b(args.base))
    elif args.command == 'migrate':
        result = migrate(args.name, args.to, args.console, args.base)
    else:
        result = reclaim(args.name, args.base)
    print(json.dumps(result))
    return 1 if result.get('failed') else 0


if __name__ == '__main__':
    sys.exit(main())
