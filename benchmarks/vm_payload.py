# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark: one vm_payload task against the by-hand way, as whole ansible-playbook runs.

One run (``make bench``, or ``.venv/bin/python benchmarks/vm_payload.py``) does everything:

1. Starts a private, unprivileged libvirt daemon (``libvirtd`` in session mode, as ``nobody``
   when run as root) whose state, sockets and storage pool all live in a temporary directory,
   unless ``--uri`` names another libvirt. Why: on a host where the system daemon's QEMU
   capability cache is invalid at every lookup, each domain definition waits for a new QEMU probe
   (30 s and more), and that, not either playbook, would be measured. The private daemon also
   touches nothing that other users of the host have.
2. For 1 and for 20 VMs (``--sizes``) and each repetition, for each way in turn (the order
   alternates between repetitions): defines fresh shut-off domains ``vmpayload-bench-NN`` with no
   payload (not timed), runs the way's playbook once (first run) and again (second run), and times
   each whole ``ansible-playbook`` process. The ways are ``vm_payload/collection.yml`` (one
   ``vmpayload.core.vm_payload`` task) and ``vm_payload/by_hand.yml`` (``file`` + ``template`` +
   ``command: genisoimage`` + ``command: virsh attach-disk --config``), the VMs being inventory hosts
   with ``connection: local`` and the default 5 forks in both.
3. Checks what each run did: the PLAY RECAP, which tasks reported changed, and, around the second
   run, the domains' persistent XML, the pool volumes of the benchmark's domains (key, size, mtime,
   inode, sha256) and the by-hand seed files.
4. Prints the Markdown report and writes it to ``benchmarks/results/vm_payload.md``. Like
   image_build.py it is a report, not a test: it exits 0 whether the collection is faster or not,
   and non-zero only when a playbook fails or a first run leaves a VM without its seed.

Every domain, volume, file and process it creates is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from xml.etree import ElementTree
from dataclasses import dataclass, field

from image_build import Report, code_description, machine_description, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PLAYBOOKS = os.path.join(HERE, 'vm_payload')
DEFAULT_RESULTS = os.path.join(HERE, 'results', 'vm_payload.md')
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
DOMAIN_PREFIX = 'vmpayload-bench-'
# The collection's volume names start with this and the domain's UUID (see _backends/libvirt.py).
VOLUME_PREFIX = 'vmpayload-'
PRIVATE_POOL = 'vmpayload'
PAYLOAD_TARGET = 'hdd'  # the dedicated slot on i440fx machines, and the by-hand playbook's target
DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices/>
</domain>"""
COLLECTION, BY_HAND = 'collection', 'by hand'
WAYS = {COLLECTION: 'collection.yml', BY_HAND: 'by_hand.yml'}
RUNS = ('first', 'second')

try:
    import libvirt
except ImportError:
    sys.exit('libvirt-python is missing: run `make deps` and use .venv/bin/python')

# libvirt also prints every error to stderr; here they arrive as exceptions and some are expected
# (the socket that is not there yet while the private daemon starts).
libvirt.registerErrorHandler(lambda _context, _error: None, None)


class BenchmarkError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The libvirt under test
# --------------------------------------------------------------------------------------------

class PrivateLibvirt:
    """A session-mode libvirtd of our own, with everything under ``root``; a dir pool in it.

    As root, libvirtd always runs privileged (and would be a second system daemon), so the
    session daemon runs as ``nobody``; root clients may still use its socket.
    """

    def __init__(self, root):
        self.home = os.path.join(root, 'libvirt')
        self.pool_dir = os.path.join(self.home, 'pool')
        self.socket = os.path.join(self.home, 'run', 'libvirt', 'libvirt-sock')
        self.uri = 'qemu+unix:///session?socket=%s' % self.socket
        self.pool = PRIVATE_POOL
        self.process = self.log = None

    def start(self):
        os.makedirs(self.pool_dir)
        as_nobody = os.geteuid() == 0
        if as_nobody:
            # nobody must reach its home below our 0700 temporary directory.
            os.chmod(os.path.dirname(self.home), 0o711)
            for parent, _subdirectories, _files in os.walk(self.home):
                shutil.chown(parent, 'nobody', 'nogroup')
        daemon = shutil.which('libvirtd', path=os.pathsep.join((os.environ.get('PATH', ''), '/usr/sbin', '/sbin')))
        if not daemon:
            raise BenchmarkError('libvirtd not found')
        env = dict(PATH='/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME=self.home, LC_ALL='C.UTF-8',
                   XDG_RUNTIME_DIR=os.path.join(self.home, 'run'), XDG_CONFIG_HOME=os.path.join(self.home, 'config'),
                   XDG_CACHE_HOME=os.path.join(self.home, 'cache'))
        drop = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] if as_nobody else []
        self.log = open(os.path.join(os.path.dirname(self.home), 'libvirtd.log'), 'wb')
        self.process = subprocess.Popen(drop + [daemon], env=env, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = libvirt.open(self.uri)
                break
            except libvirt.libvirtError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise BenchmarkError('the private libvirtd did not start; see its log in the work directory')
                time.sleep(0.2)
        pool = conn.storagePoolDefineXML("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>"
                                         % (self.pool, self.pool_dir), 0)
        pool.create(0)
        return conn

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def libvirt_lookup(call, *args):
    """``call(*args)``, or None when libvirt says the object does not exist."""
    try:
        return call(*args)
    except libvirt.libvirtError:
        return None


class Domains:
    """The benchmark's domains and their payload volumes; ``reset`` makes them new and bare."""

    def __init__(self, conn, pool_name):
        self.conn = conn
        self.pool = conn.storagePoolLookupByName(pool_name)

    def names(self, count):
        return ['%s%02d' % (DOMAIN_PREFIX, index) for index in range(1, count + 1)]

    def remove_all(self):
        """Undefine every benchmark domain and delete its payload volumes."""
        self.pool.refresh(0)
        volumes = self.pool.listVolumes()
        for domain in self.conn.listAllDomains(0):
            if not domain.name().startswith(DOMAIN_PREFIX):
                continue
            prefix = '%s%s-' % (VOLUME_PREFIX, domain.UUIDString())
            if domain.isActive():
                domain.destroy()
            domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            for name in volumes:
                if name.startswith(prefix):
                    volume = libvirt_lookup(self.pool.storageVolLookupByName, name)
                    if volume is not None:
                        volume.delete(0)

    def reset(self, count):
        """Fresh shut-off domains with no payload (new UUIDs, so no volume name is reused)."""
        self.remove_all()
        for name in self.names(count):
            self.conn.defineXML(DOMAIN_XML % name)

    def snapshot(self, count):
        """What a second run must not change: persistent XML, and the domains' pool volumes."""
        self.pool.refresh(0)
        xml, uuids = {}, []
        for name in self.names(count):
            domain = self.conn.lookupByName(name)
            xml[name] = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE)
            uuids.append(domain.UUIDString())
        volumes = {}
        for name in self.pool.listVolumes():
            if any(name.startswith('%s%s-' % (VOLUME_PREFIX, uuid)) for uuid in uuids):
                volume = self.pool.storageVolLookupByName(name)
                volumes[name] = (volume.key(), volume.info()[1]) + file_state(volume.path())
        return xml, volumes, len(self.pool.listVolumes())

    def seed_sources(self, count):
        """For each domain, what its persistent definition has at the payload slot (None if nothing)."""
        found = {}
        for name in self.names(count):
            root = ElementTree.fromstring(self.conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            found[name] = None
            for disk in root.findall('devices/disk'):
                target, source = disk.find('target'), disk.find('source')
                if disk.get('device') == 'cdrom' and target.get('dev') == PAYLOAD_TARGET and source is not None:
                    found[name] = source.get('volume') or source.get('file')
        return found


def file_state(path):
    """What changes when a file is written or replaced: mtime, inode, sha256."""
    stat = os.stat(path)
    with open(path, 'rb') as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()
    return stat.st_mtime_ns, stat.st_ino, digest


def seed_files(seed_root):
    """State of every file the by-hand playbook wrote."""
    states = {}
    if os.path.isdir(seed_root):
        for parent, _subdirectories, files in os.walk(seed_root):
            for leaf in files:
                path = os.path.join(parent, leaf)
                states[os.path.relpath(path, seed_root)] = file_state(path)
    return states


# --------------------------------------------------------------------------------------------
# Running a playbook, and reading what it says
# --------------------------------------------------------------------------------------------

RECAP_LINE = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')
TASK_LINE = re.compile(r'^TASK \[(.*)\] \*+$')
CHANGED_LINE = re.compile(r'^changed: \[([^\]]+)\]')


@dataclass
class PlaybookRun:
    seconds: float
    changed: int  # PLAY RECAP: sum of changed= over the hosts
    changed_tasks: dict = field(default_factory=dict)  # task name: number of hosts that reported changed


def parse_output(text):
    recap_changed = recap_failed = 0
    changed_hosts, task = {}, None
    for line in text.splitlines():
        match = TASK_LINE.match(line)
        if match:
            task = match.group(1)
            continue
        match = CHANGED_LINE.match(line)
        if match and task:
            changed_hosts.setdefault(task, set()).add(match.group(1))
            continue
        match = RECAP_LINE.match(line)
        if match:
            recap_changed += int(match.group(3))
            recap_failed += int(match.group(4)) + int(match.group(5))
    return recap_changed, recap_failed, {name: len(hosts) for name, hosts in changed_hosts.items()}


class Ansible:
    """Runs a way's playbook against an inventory of ``count`` VMs, with everything under ``root``."""

    def __init__(self, root, uri, pool):
        self.root = root
        self.uri, self.pool = uri, pool
        self.seed_root = os.path.join(root, 'seeds')
        self.env = dict(os.environ)
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
            ANSIBLE_HOME=os.path.join(root, 'ansible-home'),
            ANSIBLE_LOCAL_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_REMOTE_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_NOCOLOR='1',
            LC_ALL='C.UTF-8',
        )
        # Nothing from the caller's ansible.cfg or ANSIBLE_* settings may treat one way differently.
        for name in ('ANSIBLE_CONFIG', 'ANSIBLE_FORKS', 'ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_PIPELINING'):
            self.env.pop(name, None)

    def inventory(self, names):
        path = os.path.join(self.root, 'inventory-%d.ini' % len(names))
        with open(path, 'w', encoding='utf-8') as stream:
            stream.write('[bench_vms]\n%s\n\n[bench_vms:vars]\n' % '\n'.join(names))
            stream.write('ansible_python_interpreter=%s\n' % sys.executable)
            stream.write('libvirt_uri="%s"\nlibvirt_pool=%s\nseed_root=%s\n' % (self.uri, self.pool, self.seed_root))
        return path

    def run(self, way, names, log_name):
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', self.inventory(names),
                os.path.join(PLAYBOOKS, WAYS[way])]
        log_path = os.path.join(self.root, log_name)
        with open(log_path, 'wb') as log:
            start = time.perf_counter()
            returncode = subprocess.call(argv, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
            seconds = time.perf_counter() - start
        with open(log_path, encoding='utf-8', errors='replace') as log:
            text = log.read()
        changed, failed, changed_tasks = parse_output(text)
        if returncode != 0 or failed:
            raise BenchmarkError('%s (%d VMs) failed with exit status %d:\n%s'
                                 % (WAYS[way], len(names), returncode, text[-3000:]))
        return PlaybookRun(seconds, changed, changed_tasks)


# --------------------------------------------------------------------------------------------
# One measurement: fresh VMs, first run, second run, and what the second run changed
# --------------------------------------------------------------------------------------------

@dataclass
class Cell:
    """Both runs of one way at one size in one repetition, and what the second run changed."""

    way: str
    count: int
    first: PlaybookRun
    second: PlaybookRun
    xml_changed: int  # domains whose persistent XML differs after the second run
    volumes_changed: int  # payload volumes added, removed or rewritten by the second run
    pool_volumes: tuple  # number of volumes in the pool before and after the second run
    seeds_rewritten: int  # by-hand seed files the second run wrote again


def measure(way, count, domains, ansible, tag):
    domains.reset(count)
    shutil.rmtree(ansible.seed_root, ignore_errors=True)
    names = domains.names(count)
    first = ansible.run(way, names, '%s-%s-%d-first.log' % (tag, WAYS[way], count))
    missing = sorted(name for name, source in domains.seed_sources(count).items() if not source)
    if missing:
        raise BenchmarkError('after its first run, %s left %s without a CD-ROM at %s'
                             % (WAYS[way], ', '.join(missing), PAYLOAD_TARGET))
    xml_before, volumes_before, pool_before = domains.snapshot(count)
    seeds_before = seed_files(ansible.seed_root)
    second = ansible.run(way, names, '%s-%s-%d-second.log' % (tag, WAYS[way], count))
    xml_after, volumes_after, pool_after = domains.snapshot(count)
    seeds_after = seed_files(ansible.seed_root)
    return Cell(
        way, count, first, second,
        xml_changed=sum(1 for name in xml_before if xml_before[name] != xml_after[name]),
        volumes_changed=sum(1 for name in set(volumes_before) | set(volumes_after)
                            if volumes_before.get(name) != volumes_after.get(name)),
        pool_volumes=(pool_before, pool_after),
        seeds_rewritten=sum(1 for name in set(seeds_before) | set(seeds_after)
                            if seeds_before.get(name) != seeds_after.get(name)),
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def times(cells, way, count, run):
    return [getattr(c, run).seconds for c in cells if c.way == way and c.count == count]


def time_table(cells, sizes):
    rows = []
    for count in sizes:
        for run in RUNS:
            ours, hand = times(cells, COLLECTION, count, run), times(cells, BY_HAND, count, run)
            rows.append((count, run, '%.2f' % min(ours), '%.2f' % min(hand), '**%.2f×**' % (min(ours) / min(hand)),
                         '%.2f' % statistics.median(ours), '%.2f' % statistics.median(hand),
                         '%.2f×' % (statistics.median(ours) / statistics.median(hand))))
    return table(('VMs', 'run', 'collection min s', 'by hand min s', 'collection / by hand (min)',
                  'collection median s', 'by hand median s', 'collection / by hand (median)'), rows, 'llrrrrrr')


def raw_table(cells, sizes, reps):
    rows = []
    for count in sizes:
        for way in WAYS:
            for run in RUNS:
                rows.append([count, way, run] + ['%.2f' % s for s in times(cells, way, count, run)])
    return table(('VMs', 'way', 'run') + tuple('rep %d s' % (rep + 1) for rep in range(reps)), rows,
                 'lll' + 'r' * reps)


def second_run_table(cells, sizes):
    rows = []
    for count in sizes:
        for way in WAYS:
            mine = [c for c in cells if c.way == way and c.count == count]
            tasks = {}
            for c in mine:
                for task, hosts in c.second.changed_tasks.items():
                    tasks.setdefault(task, set()).add(hosts)
            rows.append((count, way,
                         '/'.join(str(c.second.changed) for c in mine),
                         '; '.join('%s: %s' % (task, '/'.join(str(h) for h in sorted(hosts)))
                                   for task, hosts in tasks.items()) or '-',
                         '/'.join(str(c.volumes_changed) for c in mine),
                         '/'.join('%d→%d' % c.pool_volumes for c in mine),
                         '/'.join(str(c.seeds_rewritten) for c in mine),
                         '/'.join(str(c.xml_changed) for c in mine)))
    return table(('VMs', 'way', 'changed (PLAY RECAP)', 'tasks reporting changed (hosts)', 'payload volumes changed',
                  'pool volumes before→after', 'seed files rewritten', 'domain XML changed'), rows, 'llrlrrrr')


def verdict_lines(cells, sizes):
    lines = []
    for count in sizes:
        for run in RUNS:
            ours, hand = min(times(cells, COLLECTION, count, run)), min(times(cells, BY_HAND, count, run))
            lines.append('%s  %d VM%s, %s run: collection %.2f s / by hand %.2f s = %.2f× (target < 1×)'
                         % ('PASS' if ours < hand else 'MISS', count, '' if count == 1 else 's', run, ours, hand,
                            ours / hand))
    ours = [c for c in cells if c.way == COLLECTION]
    writes_nothing = all(c.second.changed == 0 and c.volumes_changed == 0 and c.xml_changed == 0 for c in ours)
    lines.append('%s  the collection\'s second run writes nothing: changed=0 in every PLAY RECAP, no payload volume '
                 'added, removed or rewritten, no domain XML changed (%d second runs checked)'
                 % ('PASS' if writes_nothing else 'MISS', len(ours)))
    return lines


def versions():
    found = []
    for name, argv in (('ansible-core', [os.path.join(VENV_BIN, 'ansible'), '--version']),
                       ('genisoimage', ['genisoimage', '--version']), ('virsh', ['virsh', '--version'])):
        try:
            output = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            output = ''
        found.append((name, output.splitlines()[0] if output else 'not found'))
    found.append(('libvirt', '.'.join(str(libvirt.getVersion() // 1000 ** i % 1000) for i in (2, 1, 0))))
    return found


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=int(os.environ.get('VMPAYLOAD_BENCH_REPS', 3)),
                        help='timed repetitions of each way and size (default 3, or $VMPAYLOAD_BENCH_REPS)')
    parser.add_argument('--sizes', default='1,20', help='comma-separated numbers of VMs (default 1,20)')
    parser.add_argument('--uri', default=None,
                        help='measure on this libvirt instead of a private session daemon (for example '
                             'qemu:///system); its pool --pool must exist')
    parser.add_argument('--pool', default='vmpayload', help='storage pool with --uri (default vmpayload)')
    parser.add_argument('--results', default=DEFAULT_RESULTS, help='Markdown report path')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory (logs, inventories)')
    args = parser.parse_args(argv)
    args.sizes = [int(size) for size in args.sizes.split(',')]
    if args.reps < 1 or min(args.sizes) < 1 or max(args.sizes) > 99:
        parser.error('--reps must be at least 1 and each size between 1 and 99')
    return args


def main(argv):
    args = parse_args(argv)
    started = time.perf_counter()
    report = Report()
    workdir = tempfile.mkdtemp(prefix=DOMAIN_PREFIX)
    private = None if args.uri else PrivateLibvirt(workdir)
    conn = domains = None
    try:
        if private:
            report.progress('Starting a private libvirtd in %s ...' % workdir)
            conn = private.start()
            uri, pool = private.uri, private.pool
        else:
            uri, pool = args.uri, args.pool
            conn = libvirt.open(uri)
        domains = Domains(conn, pool)
        ansible = Ansible(workdir, uri, pool)
        report.emit(
            '# vm_payload benchmark: one task against template + genisoimage + virsh attach-disk',
            'Run %s on %s.' % (time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine_description(workdir)),
            'Versions: %s.' % '; '.join('%s %s' % v for v in versions()),
            code_description(),
            'libvirt: %s.' % ('a private session-mode libvirtd started for this run (%s), pool `%s` in its '
                              'directory' % ('as nobody' if os.geteuid() == 0 else 'as this user', pool)
                              if private else '`%s`, pool `%s`' % (uri, pool)),
            'Each figure is the wall time of one whole `ansible-playbook` process. The VMs are inventory hosts '
            '(`connection: local`, default forks = 5, no facts) in both ways: `vm_payload/collection.yml` (one '
            '`vmpayload.core.vm_payload` task) and `vm_payload/by_hand.yml` (`file`, `template` looped over '
            'user-data and meta-data, `command: genisoimage`, `command: virsh attach-disk --config`). First run: '
            'fresh shut-off domains with no payload; second run: the same playbook again. The two ways take turns '
            'within each repetition, the order alternating; a warm-up repetition at 1 VM comes first and is not '
            'counted. The ratio columns divide the collection\'s time by the by-hand time; the headline ratio '
            'uses the minimum over %d repetitions (the least disturbed run on a shared machine), the median '
            'is beside it.' % args.reps)

        report.progress('Warm-up at 1 VM (not counted) ...')
        for way in WAYS:
            measure(way, 1, domains, ansible, 'warmup')

        cells = []
        for rep in range(args.reps):
            order = list(WAYS) if rep % 2 == 0 else list(reversed(WAYS))
            for count in args.sizes:
                for way in order:
                    cell = measure(way, count, domains, ansible, 'rep%d' % (rep + 1))
                    report.progress('  rep %d, %2d VMs, %-10s first %6.2f s, second %6.2f s'
                                    % (rep + 1, count, way, cell.first.seconds, cell.second.seconds))
                    cells.append(cell)

        report.emit('## Wall time of `ansible-playbook`',
                    time_table(cells, args.sizes),
                    '### Every repetition',
                    raw_table(cells, args.sizes, args.reps),
                    '## What the second run changed (one figure per repetition)',
                    'changed = sum of `changed=` over the hosts in PLAY RECAP; payload volumes = volumes of the '
                    'benchmark\'s domains in the pool whose key, size, mtime, inode or sha256 differ, or that '
                    'appeared or went; seed files = the by-hand playbook\'s user-data, meta-data and seed.iso '
                    'whose mtime, inode or sha256 differ; domain XML = persistent definitions that differ.',
                    second_run_table(cells, args.sizes),
                    '## Targets',
                    '\n'.join('    ' + line for line in verdict_lines(cells, args.sizes)),
                    'Total benchmark time: %.1f s.' % (time.perf_counter() - started))
    finally:
        if domains is not None:
            domains.remove_all()
        if conn is not None:
            conn.close()
        if private:
            private.stop()
        if args.keep:
            report.progress('Kept %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.save(args.results)
    report.progress('Report written to %s' % os.path.relpath(args.results))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchmarkError as exc:
        sys.exit('vm_payload benchmark failed: %s' % exc)
