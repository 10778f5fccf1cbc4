# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark: 100 VMs on one host, one task per VM against one vm_payloads task, beside Ansible's floor.

One run (``make bench``, or ``.venv/bin/python benchmarks/fleet.py``) does everything:

1. Starts a private libvirtd (``vm_payload.py``'s PrivateLibvirt: session mode, as ``nobody`` when run as
   root, everything in a temporary directory), unless ``--uri`` names another libvirt.
2. Per repetition (``--reps``, default 2): defines ``--vms`` (100) fresh shut-off domains
   ``vmpayload-fleet-NNN`` with no payload (not timed), then times whole ``ansible-playbook`` processes
   on an inventory of those VMs as hosts (``connection: local``, forks 5, no facts):
   ``fleet/ping.yml`` (``ansible.builtin.ping``: the floor), ``fleet/info.yml`` (``vm_payload_info`` on
   each VM, read-only), ``fleet/per_host.yml`` (``vm_payload``, one task per VM) first and second run;
   then, on fresh domains again, ``fleet/batch.yml`` (one ``vm_payloads`` task on one host,
   ``hypervisor``) first and second run.
3. Samples, every 50 ms during each run, the resident memory of the ``ansible-playbook`` process tree
   (the sum over its processes: the controller, its forks and the modules they run) and of libvirtd
   (``VmRSS`` in ``/proc/<pid>/status``), and keeps the peaks.
4. Checks that every first run gave every VM its seed and that every second run reported changed=0
   and left the domains' persistent XML and their volumes (key, size, mtime, inode, sha256) as they were.
5. Prints the Markdown report and writes it to ``benchmarks/results/fleet.md``. A report, not a test:
   it exits non-zero only when a playbook fails or a check of step 4 does not hold.

Every domain, volume, file and process it creates is removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from image_build import Report, code_description, machine_description, table
from vm_payload import (
    VENV_BIN,
    VOLUME_PREFIX,
    BenchmarkError,
    PrivateLibvirt,
    file_state,
    libvirt,
    libvirt_lookup,
    parse_output,
    versions,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PLAYBOOKS = os.path.join(HERE, 'fleet')
DEFAULT_RESULTS = os.path.join(HERE, 'results', 'fleet.md')
DOMAIN_PREFIX = 'vmpayload-fleet-'
DOMAIN_XML = """<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices/>
</domain>"""
PAYLOAD_TARGET = 'hdd'
SAMPLE_EVERY = 0.05
# (label, playbook, run, whether it gives the VMs their payloads): the order of one repetition.
STEPS = (
    ('ping', 'ping.yml', None),
    ('vm_payload_info', 'info.yml', None),
    ('vm_payload per host', 'per_host.yml', 'first'),
    ('vm_payload per host', 'per_host.yml', 'second'),
    ('vm_payloads batch', 'batch.yml', 'first'),
    ('vm_payloads batch', 'batch.yml', 'second'),
)
FLOOR = 'ping'


class Fleet:
    """The benchmark's domains and their payload volumes."""

    def __init__(self, conn, pool_name, count):
        self.conn = conn
        self.pool = conn.storagePoolLookupByName(pool_name)
        self.names = ['%s%03d' % (DOMAIN_PREFIX, index) for index in range(1, count + 1)]

    def remove_all(self):
        """Undefine every domain with our prefix and delete its payload volumes."""
        self.pool.refresh(0)
        volumes = self.pool.listVolumes()
        for domain in self.conn.listAllDomains(0):
            if not domain.name().startswith(DOMAIN_PREFIX):
                continue
            prefix = '%s%s-' % (VOLUME_PREFIX, domain.UUIDString())
            if domain.isActive():
                domain.destroy()
            domain.undefine()
            for name in volumes:
                if name.startswith(prefix):
                    volume = libvirt_lookup(self.pool.storageVolLookupByName, name)
                    if volume is not None:
                        volume.delete(0)

    def reset(self):
        """Fresh shut-off domains with no payload (new UUIDs, so no volume name is reused)."""
        self.remove_all()
        for name in self.names:
            self.conn.defineXML(DOMAIN_XML % name)

    def snapshot(self):
        """What a second run must not change: persistent XML, and the domains' pool volumes."""
        self.pool.refresh(0)
        xml, uuids = {}, set()
        for name in self.names:
            domain = self.conn.lookupByName(name)
            xml[name] = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE)
            uuids.add(domain.UUIDString())
        volumes = {}
        for name in self.pool.listVolumes():
            if name[len(VOLUME_PREFIX):len(VOLUME_PREFIX) + 36] in uuids:
                volume = self.pool.storageVolLookupByName(name)
                volumes[name] = (volume.key(), volume.info()[1]) + file_state(volume.path())
        return xml, volumes

    def without_seed(self):
        """The domains whose persistent definition has no CD-ROM at the payload slot."""
        return [name for name in self.names
                if "<target dev='%s'" % PAYLOAD_TARGET not in self.conn.lookupByName(name).XMLDesc(
                    libvirt.VIR_DOMAIN_XML_INACTIVE)]


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------

def rss_kib(pid):
    """VmRSS of a process in KiB; 0 when it is gone (or a zombie)."""
    try:
        with open('/proc/%d/status' % pid, encoding='ascii', errors='replace') as status:
            for line in status:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children_of():
    """{parent pid: [child pids]} for every process of the host."""
    tree = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, encoding='ascii', errors='replace') as stat:
                # The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
                parent = int(stat.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_rss_kib(root):
    tree, total, pending = children_of(), 0, [root]
    while pending:
        pid = pending.pop()
        total += rss_kib(pid)
        pending.extend(tree.get(pid, ()))
    return total


class PeakSampler:
    """Samples the RSS of a process tree and of libvirtd in a thread until stopped; keeps the peaks."""

    def __init__(self, root, daemon_pid):
        self.root, self.daemon_pid = root, daemon_pid
        self.tree_peak = self.daemon_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.tree_peak = max(self.tree_peak, tree_rss_kib(self.root))
            if self.daemon_pid:
                self.daemon_peak = max(self.daemon_peak, rss_kib(self.daemon_pid))
            self._stop.wait(SAMPLE_EVERY)

    def stop(self):
        self._stop.set()
        self._thread.join()


# --------------------------------------------------------------------------------------------
# Running a playbook
# --------------------------------------------------------------------------------------------

@dataclass
class Measurement:
    label: str
    run: str | None
    seconds: float
    changed: int
    controller_kib: int
    libvirtd_kib: int
    load: float = 0.0  # the host's 1-minute load average when the run started
    xml_changed: int = 0
    volumes_changed: int = 0


class Ansible:
    def __init__(self, root, uri, pool, names):
        self.root = root
        self.env = dict(os.environ)
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
            ANSIBLE_HOME=os.path.join(root, 'ansible-home'),
            ANSIBLE_LOCAL_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_REMOTE_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_NOCOLOR='1',
            ANSIBLE_FORKS='5',
            LC_ALL='C.UTF-8',
        )
        for name in ('ANSIBLE_CONFIG', 'ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_PIPELINING'):
            self.env.pop(name, None)
        self.inventory = os.path.join(root, 'inventory.ini')
        with open(self.inventory, 'w', encoding='utf-8') as stream:
            stream.write('[bench_vms]\n%s\n\n[hypervisor]\nhypervisor\n\n' % '\n'.join(names))
            stream.write('[all:vars]\nansible_python_interpreter=%s\nlibvirt_uri="%s"\nlibvirt_pool=%s\n'
                         % (sys.executable, uri, pool))

    def run(self, playbook, log_name, daemon_pid):
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', self.inventory, os.path.join(PLAYBOOKS, playbook)]
        log_path = os.path.join(self.root, log_name)
        with open(log_path, 'wb') as log:
            start = time.perf_counter()
            process = subprocess.Popen(argv, cwd=self.root, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
            sampler = PeakSampler(process.pid, daemon_pid)
            returncode = process.wait()
            seconds = time.perf_counter() - start
            sampler.stop()
        with open(log_path, encoding='utf-8', errors='replace') as log:
            text = log.read()
        changed, failed, _tasks = parse_output(text)
        if returncode != 0 or failed:
            raise BenchmarkError('%s failed with exit status %d:\n%s' % (playbook, returncode, text[-3000:]))
        return seconds, changed, sampler.tree_peak, sampler.daemon_peak


def repetition(fleet, ansible, daemon_pid, tag, report):
    results = []
    snapshot = ({}, {})  # the state after the last first run: (definitions, volumes)
    for label, playbook, run in STEPS:
        if run == 'first':
            fleet.reset()
        load = os.getloadavg()[0]
        seconds, changed, controller, daemon = ansible.run(playbook, '%s-%s-%s.log' % (tag, playbook, run), daemon_pid)
        measurement = Measurement(label, run, seconds, changed, controller, daemon, load)
        if run == 'first':
            missing = fleet.without_seed()
            if missing:
                raise BenchmarkError('after its first run, %s left %d VMs without a CD-ROM at %s (%s...)'
                                     % (playbook, len(missing), PAYLOAD_TARGET, missing[0]))
            snapshot = fleet.snapshot()
        elif run == 'second':
            xml_after, volumes_after = fleet.snapshot()
            xml_before, volumes_before = snapshot
            measurement.xml_changed = sum(1 for name in xml_before if xml_before[name] != xml_after[name])
            measurement.volumes_changed = sum(1 for name in set(volumes_before) | set(volumes_after)
                                              if volumes_before.get(name) != volumes_after.get(name))
        report.progress('  %s: %-22s %-6s %7.2f s  changed=%d  controller %6.1f MiB  libvirtd %6.1f MiB  load %.1f'
                        % (tag, label, run or '', seconds, changed, controller / 1024, daemon / 1024, load))
        results.append(measurement)
    return results


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def grouped(measurements):
    groups = {}
    for m in measurements:
        groups.setdefault((m.label, m.run), []).append(m)
    return groups


def time_table(measurements, count):
    groups = grouped(measurements)
    floor = min(m.seconds for m in groups[(FLOOR, None)])
    floor_median = statistics.median(m.seconds for m in groups[(FLOOR, None)])
    rows = []
    for label, playbook, run in STEPS:
        mine = groups[(label, run)]
        best = min(m.seconds for m in mine)
        median = statistics.median(m.seconds for m in mine)
        rows.append((label, run or '-', '1' if playbook == 'batch.yml' else str(count), '%.2f' % best,
                     '%.0f' % (best / count * 1000), '**%.2f×**' % (best / floor), '%.2f' % median,
                     '%.2f×' % (median / floor_median), '/'.join(str(m.changed) for m in mine),
                     '%.0f' % (max(m.controller_kib for m in mine) / 1024),
                     '%.0f' % (max(m.libvirtd_kib for m in mine) / 1024)))
    return table(('way', 'run', 'hosts', 'min s', 'ms per VM', 'ratio to ping (min)', 'median s',
                  'ratio to ping (median)', 'changed', 'controller peak MiB', 'libvirtd peak MiB'),
                 rows, 'lllrrrrrrrr')


def raw_table(measurements, reps):
    groups = grouped(measurements)
    rows = [[label, run or '-'] + ['%.2f (%.1f)' % (m.seconds, m.load) for m in groups[(label, run)]]
            for label, _p, run in STEPS]
    return table(('way', 'run') + tuple('rep %d s (load)' % (rep + 1) for rep in range(reps)), rows, 'll' + 'r' * reps)


def verdict_lines(measurements, count):
    groups = grouped(measurements)
    floor = min(m.seconds for m in groups[(FLOOR, None)])
    lines = []
    for label, run, limit, target in (('vm_payload per host', 'first', 1.3, '<= 1.3×'),
                                      ('vm_payload per host', 'second', 1.3, '<= 1.3×'),
                                      ('vm_payloads batch', 'first', 0.25, '< 0.25×'),
                                      ('vm_payloads batch', 'second', 0.25, '< 0.25×')):
        best = min(m.seconds for m in groups[(label, run)])
        ok = best / floor <= limit if limit > 1 else best / floor < limit
        lines.append('%s  %d VMs, %s, %s run: %.2f s / ping %.2f s = %.2f× (target %s)'
                     % ('PASS' if ok else 'MISS', count, label, run, best, floor, best / floor, target))
    seconds = [m for m in measurements if m.run == 'second']
    clean = all(m.changed == 0 and m.xml_changed == 0 and m.volumes_changed == 0 for m in seconds)
    lines.append('%s  every second run writes nothing: changed=0, no domain XML and no payload volume changed '
                 '(%d second runs checked)' % ('PASS' if clean else 'MISS', len(seconds)))
    return lines


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=int(os.environ.get('VMPAYLOAD_FLEET_REPS', 2)),
                        help='repetitions (default 2, or $VMPAYLOAD_FLEET_REPS)')
    parser.add_argument('--vms', type=int, default=100, help='number of VMs (default 100)')
    parser.add_argument('--uri', default=None, help='measure on this libvirt instead of a private session daemon; '
                                                    'its pool --pool must exist (libvirtd memory is then not sampled)')
    parser.add_argument('--pool', default='vmpayload', help='storage pool with --uri (default vmpayload)')
    parser.add_argument('--results', default=DEFAULT_RESULTS, help='Markdown report path')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory (logs, inventory)')
    args = parser.parse_args(argv)
    if args.reps < 1 or not 1 <= args.vms <= 999:
        parser.error('--reps must be at least 1 and --vms between 1 and 999')
    return args


def main(argv):
    args = parse_args(argv)
    started = time.perf_counter()
    report = Report()
    workdir = tempfile.mkdtemp(prefix=DOMAIN_PREFIX)
    private = None if args.uri else PrivateLibvirt(workdir)
    conn = fleet = None
    try:
        if private:
            report.progress('Starting a private libvirtd in %s ...' % workdir)
            conn = private.start()
            uri, pool, daemon_pid = private.uri, private.pool, private.process.pid
        else:
            uri, pool, daemon_pid = args.uri, args.pool, None
            conn = libvirt.open(uri)
        fleet = Fleet(conn, pool, args.vms)
        ansible = Ansible(workdir, uri, pool, fleet.names)
        report.emit(
            '# Fleet benchmark: %d VMs on one host' % args.vms,
            'Run %s on %s.' % (time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine_description(workdir)),
            'Versions: %s.' % '; '.join('%s %s' % v for v in versions()),
            code_description(),
            'libvirt: %s.' % ('a private session-mode libvirtd started for this run, pool `%s` in its directory' % pool
                              if private else '`%s`, pool `%s`' % (uri, pool)),
            'Each figure is the wall time of one whole `ansible-playbook` process, %d repetitions; the ratio uses the '
            'minimum (the least disturbed run on a shared machine), the median is beside it. ping, vm_payload_info '
            'and vm_payload run one task on each of the %d VMs as inventory hosts (`connection: local`, forks 5, no '
            'facts); vm_payloads runs one task on one host for all of them. First run: fresh shut-off domains with '
            'no payload; second run: the same playbook again. Peak memory: the largest sum of RSS over the '
            '`ansible-playbook` process tree (controller, forks, modules), and libvirtd\'s VmRSS, sampled every '
            '%d ms; the largest over the repetitions.' % (args.reps, args.vms, SAMPLE_EVERY * 1000))
        measurements = []
        for rep in range(args.reps):
            fleet.reset()
            measurements += repetition(fleet, ansible, daemon_pid, 'rep%d' % (rep + 1), report)
        report.emit('## Wall time, time per VM, ratio to the ping floor, peak memory',
                    time_table(measurements, args.vms),
                    '### Every repetition',
                    'Wall time, and in brackets the host\'s 1-minute load average when the run started (2 CPUs; other '
                    'work on a shared machine shows there).',
                    raw_table(measurements, args.reps),
                    '## Targets',
                    '\n'.join('    ' + line for line in verdict_lines(measurements, args.vms)),
                    'Total benchmark time: %.1f s.' % (time.perf_counter() - started))
        failed_checks = [m for m in measurements if m.run == 'second' and (m.changed or m.xml_changed
                                                                           or m.volumes_changed)]
    finally:
        if fleet is not None:
            fleet.remove_all()
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
    if failed_checks:
        raise BenchmarkError('%d second runs changed something (see the report)' % len(failed_checks))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchmarkError as exc:
        sys.exit('fleet benchmark failed: %s' % exc)
