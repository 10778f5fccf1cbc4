# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark: how fast, and in how much memory, payload_image's writers build images.

One run (``make bench``, or ``.venv/bin/python benchmarks/image_build.py``) does everything:

1. Creates four payload sets in a temporary directory: a NoCloud seed (3 small files), 16 KiB in
   4 files, 100 files totalling 10 MiB in 10 sub-directories, and one 200 MiB file of random bytes.
2. Builds each set with every tool, each one as a child process so that wall times compare like
   with like: our ISO writer (pycdlib) and our FAT writer (pyfatfs, ``size: auto``) through
   ``build_one.py`` beside this file, ``genisoimage``, ``xorriso -as mkisofs``,
   ``mkfs.vfat -C`` + ``mcopy -s`` on an image of the size and FAT type ours picks, and ``cp -r``
   as the floor. Tools take turns (one warm-up round, then the timed rounds) and the minimum wall
   time is kept. Peak memory is measured in the warm-up round with each process under GNU time
   (``/usr/bin/time -f %M``): a two-step tool reports the larger of its two steps, never their
   sum. Timed rounds run unwrapped, so the wrapper's millisecond is not in the times.
3. Times our writers in-process, imports done, as inside an Ansible module whose Python has
   already started; and times interpreter start and the imports on their own.
4. Checks the targets of issue 3 and prints PASS/MISS lines (the exit status is 0 either way:
   this is a report, not a test), then writes the report to ``benchmarks/results/latest.md``.

Before every run the previous output is deleted and ``os.sync()`` is called, outside the
timing, so that no run pays for writing back another run's data.
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import importlib.util
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from build_one import payload_specs, writer_options

KIB = 1024
MIB = 1024 * KIB
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHILD = os.path.join(HERE, 'build_one.py')
DEFAULT_RESULTS = os.path.join(HERE, 'results', 'latest.md')
MODULE_UTILS = 'ansible_collections.vmpayload.core.plugins.module_utils'
# GNU time (not the shell keyword) reports a child's peak RSS.
GNU_TIME = '/usr/bin/time' if os.access('/usr/bin/time', os.X_OK) else None

# Targets from issue 3, "Benchmark (not a timed test)".
ISO_TARGET_RATIO = 1.5
FAT_TARGET_RATIO = 3.0
MEMORY_TARGET_MIB = 100
# The time targets are judged on these sets, where the content, not interpreter start, takes
# the time; the small sets get INFO lines with the same ratios.
TARGET_SETS = ('10m', '200m')

OURS_ISO = 'ours ISO (pycdlib)'
OURS_FAT = 'ours FAT (pyfatfs)'
MTOOLS = 'mkfs.vfat + mcopy'


class BenchmarkError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Payload sets
# --------------------------------------------------------------------------------------------

USER_DATA = """#cloud-config
hostname: bench-vm
fqdn: bench-vm.example.test
users:
  - name: admin
    groups: [sudo]
    shell: /bin/bash
    sudo: ['ALL=(ALL) NOPASSWD:ALL']
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchmarkKeyBenchmarkKeyBenchmarkKey0 admin@example.test
package_update: true
packages: [qemu-guest-agent]
runcmd:
  - [systemctl, enable, --now, qemu-guest-agent]
"""
META_DATA = "instance-id: iid-bench-0001\nlocal-hostname: bench-vm\n"
NETWORK_CONFIG = """version: 2
ethernets:
  eth0:
    match: {name: "en*"}
    dhcp4: false
    addresses: [192.0.2.10/24]
    routes: [{to: default, via: 192.0.2.1}]
    nameservers: {addresses: [192.0.2.53]}
"""
ALL_SETS = ('nocloud', '16k', '10m', '200m')


@dataclass
class PayloadSet:
    """One payload: its files live under ``src``; ``key`` names it on the command line."""

    key: str
    title: str
    label: str
    src: str
    files: int = 0
    total: int = 0
    fat_size: int = 0
    fat_bits: int = 0


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as stream:
        stream.write(data)


def _split(total, parts, rng):
    """``parts`` positive sizes, varied but reproducible, adding up to ``total``."""
    weights = [rng.uniform(0.2, 1.8) for part in range(parts)]
    sizes = [max(1, int(w * total / sum(weights))) for w in weights]
    sizes[-1] += total - sum(sizes)
    return sizes


def make_sets(root, wanted):
    """Create the wanted payload sets under ``root``, smallest first."""
    rng = random.Random(20240603)
    sets = []
    if 'nocloud' in wanted:
        src = os.path.join(root, 'nocloud')
        for name, text in (('user-data', USER_DATA), ('meta-data', META_DATA), ('network-config', NETWORK_CONFIG)):
            _write(os.path.join(src, name), text.encode('utf-8'))
        sets.append(PayloadSet('nocloud', 'NoCloud seed: 3 small files', 'cidata', src))
    if '16k' in wanted:
        src = os.path.join(root, '16k')
        names = ('meta_data.json', 'network_data.json', 'user_data', 'vendor_data.json')
        for name in names:
            _write(os.path.join(src, 'openstack', 'latest', name), rng.randbytes(16 * KIB // len(names)))
        sets.append(PayloadSet('16k', '16 KiB in 4 files', 'config-2', src))
    if '10m' in wanted:
        src = os.path.join(root, '10m')
        for index, size in enumerate(_split(10 * MIB, 100, rng)):
            _write(os.path.join(src, 'part-%02d' % (index // 10), 'file-%03d.bin' % index), os.urandom(size))
        sets.append(PayloadSet('10m', '100 files, 10 MiB in total', 'PAYLOAD', src))
    if '200m' in wanted:
        src = os.path.join(root, '200m')
        os.makedirs(src)
        with open(os.path.join(src, 'disk-200m.bin'), 'wb') as stream:
            for mebibyte in range(200):
                stream.write(os.urandom(MIB))
        sets.append(PayloadSet('200m', 'one 200 MiB file', 'PAYLOAD', src))
    for pset in sets:
        specs = payload_specs(pset.src)
        pset.files = len(specs)
        pset.total = sum(os.path.getsize(spec['src']) for spec in specs)
    return sets


def plan_fat(sets):
    """Record the FAT image size and type our writer picks for each set, so mkfs.vfat gets the same."""
    from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

    for pset in sets:
        payload = parse_payload(payload_specs(pset.src), device='floppy', label=pset.label)
        layout = writer_for('floppy', **writer_options('floppy')).layout(payload)
        pset.fat_size, pset.fat_bits = layout.size, layout.fat_bits


# --------------------------------------------------------------------------------------------
# Tools, and how one run is measured
# --------------------------------------------------------------------------------------------

def _ours(device):
    return lambda pset, out: [[sys.executable, CHILD, device, pset.src, out, pset.label]]


def _mkisofs(*program):
    return lambda pset, out: [list(program) + ['-quiet', '-J', '-R', '-V', pset.label, '-o', out, pset.src]]


def _mtools(pset, out):
    entries = [os.path.join(pset.src, entry) for entry in sorted(os.listdir(pset.src))]
    mkfs = ['mkfs.vfat', '-C', '-F', str(pset.fat_bits), '-n', pset.label.upper()[:11], out, str(pset.fat_size // KIB)]
    return [mkfs, ['mcopy', '-s', '-i', out] + entries + ['::/']]


def _cp(pset, out):
    return [['cp', '-r', pset.src, out]]


@dataclass(frozen=True)
class Tool:
    """A way to build an image: ``kind`` is iso, fat or copy; ``commands(pset, out)`` gives its command lines."""

    name: str
    kind: str
    ours: bool
    needs: tuple
    commands: object


TOOLS = (
    Tool(OURS_ISO, 'iso', True, (), _ours('cdrom')),
    Tool('genisoimage', 'iso', False, ('genisoimage',), _mkisofs('genisoimage')),
    Tool('xorriso -as mkisofs', 'iso', False, ('xorriso',), _mkisofs('xorriso', '-as', 'mkisofs')),
    Tool(OURS_FAT, 'fat', True, (), _ours('floppy')),
    Tool(MTOOLS, 'fat', False, ('mkfs.vfat', 'mcopy'), _mtools),
    Tool('cp -r (floor)', 'copy', False, ('cp',), _cp),
)


def collection_root():
    """The directory holding ``ansible_collections/vmpayload/core`` (``make deps`` links it there)."""
    return os.path.join(REPO, '.build', 'collections')


def ensure_importable():
    """Make the collection importable here even without ``make``'s PYTHONPATH."""
    try:
        import ansible_collections.vmpayload.core.plugins.module_utils._image.base  # noqa: F401
    except ImportError:
        sys.path.insert(0, collection_root())
        import ansible_collections.vmpayload.core.plugins.module_utils._image.base  # noqa: F401


def child_env():
    """The environment of every child: our collection importable, a UTF-8 locale, mtools' checks on."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (collection_root(), env.get('PYTHONPATH')) if p)
    env['LC_ALL'] = 'C.UTF-8'
    # mkfs.vfat's images must pass mtools' own checks: never skip them here.
    env.pop('MTOOLS_SKIP_CHECK', None)
    return env


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def output_size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(parent, leaf)) for parent, subdirectories, files in os.walk(path) for leaf in files)
    return os.path.getsize(path)


def run_commands(commands, env, log_path, measure_rss=False):
    """Run the commands one after the other; returns (wall seconds, peak RSS in KiB or None).

    With ``measure_rss`` each command runs under GNU time and the peak is the largest of the
    commands' peaks. The wrapper is needed because a direct child of this Python process starts
    with our own resident set as its high-water mark (fork and exec keep it), so ``os.wait4``'s
    ru_maxrss never reports less than this process's size; GNU time is a small process. Without
    GNU time, that ru_maxrss is used all the same, as an upper bound.
    """
    peak_kib = 0
    rss_path = log_path + '.rss'
    with open(log_path, 'wb') as log:
        start = time.perf_counter()
        for argv in commands:
            wrapped = [GNU_TIME, '-f', '%M', '-o', rss_path] + argv if measure_rss and GNU_TIME else argv
            proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
            pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                log.flush()
                with open(log_path, 'rb') as text:
                    tail = text.read()[-2000:].decode('utf-8', 'replace')
                raise BenchmarkError('%s exited with %d:\n%s' % (' '.join(argv[:4]), proc.returncode, tail))
            if measure_rss and GNU_TIME:
                with open(rss_path) as text:
                    peak_kib = max(peak_kib, int(text.read().split()[-1]))
            else:
                peak_kib = max(peak_kib, usage.ru_maxrss)
        elapsed = time.perf_counter() - start
    return elapsed, (peak_kib if measure_rss else None)


@dataclass
class Measurement:
    """All timed runs of one tool on one set."""

    tool: Tool
    times: list = field(default_factory=list)
    rss_kib: int = 0
    image_bytes: int = 0

    @property
    def best(self):
        return min(self.times)


def measure_set(pset, tools, choose_runs, workdir, env, out):
    """A warm-up round, then timed rounds over all tools; returns {tool name: Measurement}.

    ``choose_runs`` gets the seconds the warm-up round took and returns how many timed rounds
    to do. Tools take turns within a round, so a slow moment of the machine hits them alike.
    """
    results = {tool.name: Measurement(tool) for tool in tools}
    log_path = os.path.join(workdir, 'tool.log')

    def one(tool, measure_rss=False):
        target = os.path.join(workdir, 'out-%s%s' % (tool.kind, '-ours' if tool.ours else ''))
        remove(target)
        os.sync()
        elapsed, peak = run_commands(tool.commands(pset, target), env, log_path, measure_rss)
        results[tool.name].image_bytes = output_size(target)
        remove(target)
        return elapsed, peak

    warm_up = 0.0
    for tool in tools:
        elapsed, results[tool.name].rss_kib = one(tool, measure_rss=True)
        warm_up += elapsed
    runs = choose_runs(warm_up)
    out('  warm-up round (measures peak RSS) %.2f s; %d timed rounds' % (warm_up, runs))
    for round_number in range(runs):
        for tool in tools:
            results[tool.name].times.append(one(tool)[0])
    return results


# --------------------------------------------------------------------------------------------
# In-process timings and import times
# --------------------------------------------------------------------------------------------

def b64_specs(src_dir):
    """The same files as ``{name, content_b64}``, as inline content reaches a module."""
    specs = []
    for spec in payload_specs(src_dir):
        with open(spec['src'], 'rb') as stream:
            specs.append({'name': spec['name'], 'content_b64': base64.b64encode(stream.read()).decode('ascii')})
    return specs


@dataclass
class InProcess:
    """Min seconds of staged_payload, of the writer's write, and of both, for one set/device/input kind."""

    pset: PayloadSet
    device: str
    kind: str
    parse: float
    write: float
    total: float


def time_in_process(sets, runs, workdir, b64_limit):
    """Time staged_payload and write() in this process, the imports done beforehand."""
    from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import staged_payload

    rows = []
    out = os.path.join(workdir, 'in-process.img')
    for pset in sets:
        kinds = [('src', payload_specs(pset.src))]
        if pset.total <= b64_limit:
            kinds.append(('content_b64', b64_specs(pset.src)))
        for kind, specs in kinds:
            for device in ('cdrom', 'floppy'):
                samples = []
                for run_number in range(runs + 1):  # the first run is a warm-up
                    remove(out)
                    os.sync()
                    start = time.perf_counter()
                    with staged_payload(specs, device=device, label=pset.label) as payload:
                        parsed = time.perf_counter()
                        writer_for(device, **writer_options(device)).write(payload, out)
                        written = time.perf_counter()
                    # The total includes removing the private copies of the src files.
                    done = time.perf_counter()
                    samples.append((parsed - start, written - parsed, done - start))
                remove(out)
                timed = samples[1:]
                rows.append(InProcess(pset, device, kind, *(min(s[i] for s in timed) for i in range(3))))
    return rows


IMPORT_CASES = (
    ('interpreter start only', 'pass'),
    ('+ payload model and writer factory', 'import {m}._payload.model, {m}._image.base'),
    ('+ ISO writer (pycdlib)', 'import {m}._payload.model, {m}._image.base, {m}._image.iso'),
    ('+ FAT writer (pyfatfs)', 'import {m}._payload.model, {m}._image.base, {m}._image.fat'),
    ('+ both writers', 'import {m}._payload.model, {m}._image.base, {m}._image.iso, {m}._image.fat'),
    # All that the payload_image module imports of ours before it does anything (when present).
    ("+ payload_image's action (_image.image_file)", 'import {m}._image.image_file'),
)


def time_imports(runs, env, workdir):
    """(label, min seconds, peak RSS KiB) of ``python -c 'import ...'`` for each case in IMPORT_CASES."""
    log_path = os.path.join(workdir, 'import.log')
    rows = []
    for label, code in IMPORT_CASES:
        code = code.format(m=MODULE_UTILS)
        modules = code.replace('import ', '', 1).split(', ') if code != 'pass' else []
        if not all(importlib.util.find_spec(module) for module in modules):
            continue
        argv = [sys.executable, '-c', code]
        # The warm-up run (page cache, byte-code caches where enabled) measures the peak RSS.
        warm_up_seconds, peak_kib = run_commands([argv], env, log_path, measure_rss=True)
        best = min(run_commands([argv], env, log_path)[0] for run_number in range(runs))
        rows.append((label, best, peak_kib))
    return rows


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def table(headers, rows, align):
    """A Markdown table whose columns line up in a terminal too; ``align`` is 'l' or 'r' per column."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(headers[i]), *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(values):
        return '| ' + ' | '.join(v.ljust(w) if a == 'l' else v.rjust(w)
                                 for v, w, a in zip(values, widths, align)) + ' |'

    rule = '|' + '|'.join(('-' * (w + 1) + ':') if a == 'r' else (':' + '-' * (w + 1))
                          for w, a in zip(widths, align)) + '|'
    return '\n'.join([line(headers), rule] + [line(row) for row in cells])


def human_size(nbytes):
    if nbytes >= MIB:
        return '%.1f MiB' % (nbytes / MIB)
    if nbytes >= KIB:
        return '%.1f KiB' % (nbytes / KIB)
    return '%d B' % nbytes


def set_table(results):
    fastest = min(m.best for m in results.values())
    rows = [(('**%s**' % m.tool.name) if m.tool.ours else m.tool.name,
             '%.4f' % m.best,
             '%.4f' % statistics.median(m.times),
             '%.2f×' % (m.best / fastest),
             '%.1f' % (m.rss_kib / KIB),
             human_size(m.image_bytes),
             len(m.times))
            for m in sorted(results.values(), key=lambda m: m.best)]
    return table(('tool', 'min s', 'median s', '× fastest', 'peak RSS MiB', 'output', 'runs'), rows, 'lrrrrrr')


def in_process_table(rows):
    return table(('set', 'writer', 'files as', 'parse s', 'write s', 'parse+write s'),
                 [(r.pset.title, 'ISO' if r.device == 'cdrom' else 'FAT', r.kind,
                   '%.4f' % r.parse, '%.4f' % r.write, '%.4f' % r.total) for r in rows], 'lllrrr')


def import_table(rows):
    start = rows[0][1]
    return table(('python -c', 'min s', 'imports alone s', 'peak RSS MiB'),
                 [(label, '%.4f' % best, '%.4f' % (best - start) if index else '-', '%.1f' % (rss / KIB))
                  for index, (label, best, rss) in enumerate(rows)], 'lrrr')


def check_targets(sets, all_results, in_process):
    """PASS/MISS lines for the targets; INFO lines for the same ratios where no target applies.

    A time target compares our child process with the reference tool's, like with like; each
    line adds, for information, our in-process parse+write and write-alone times as ratios to
    the same reference.
    """
    by_key = {(r.pset.key, r.device, r.kind): r for r in in_process}

    def time_line(pset, what, device, ours, reference, target):
        ratio = ours.best / reference.best
        verdict = ('PASS' if ratio <= target else 'MISS') if pset.key in TARGET_SETS else 'INFO'
        line = ('%s  %s, %s: ours %.4f s / %s %.4f s = %.2f× (target <= %.1f×)'
                % (verdict, what, pset.title, ours.best, reference.tool.name, reference.best, ratio, target))
        row = by_key.get((pset.key, device, 'src'))
        if row:
            line += ('; in-process: parse+write %.2f×, write alone %.2f×'
                     % (row.total / reference.best, row.write / reference.best))
        return line

    lines = []
    for pset in sets:
        results = all_results[pset.key]
        iso_tools = [m for m in results.values() if m.tool.kind == 'iso' and not m.tool.ours]
        if OURS_ISO in results and iso_tools:
            lines.append(time_line(pset, 'ISO', 'cdrom', results[OURS_ISO],
                                   min(iso_tools, key=lambda m: m.best), ISO_TARGET_RATIO))
        if OURS_FAT in results and MTOOLS in results:
            lines.append(time_line(pset, 'FAT', 'floppy', results[OURS_FAT], results[MTOOLS], FAT_TARGET_RATIO))
    for name in (OURS_ISO, OURS_FAT):
        m = all_results.get('200m', {}).get(name)
        if m:
            peak = m.rss_kib / KIB
            lines.append('%s  memory, %s on the 200 MiB file: peak RSS %.1f MiB (target < %d MiB)'
                         % ('PASS' if peak < MEMORY_TARGET_MIB else 'MISS', name, peak, MEMORY_TARGET_MIB))
    return lines


def _run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ''


def _first_line(argv, stderr_too=False):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return ''
    lines = (done.stdout or (done.stderr if stderr_too else '')).strip().splitlines()
    return lines[0].strip() if lines else ''


def versions():
    tools = (('genisoimage', ['genisoimage', '--version']), ('xorriso', ['xorriso', '-version']),
             ('mkfs.vfat', ['mkfs.vfat', '--help']), ('mtools', ['mcopy', '--version']))
    found = [('python', platform.python_version()),
             ('pycdlib', importlib.metadata.version('pycdlib')),
             ('pyfatfs', importlib.metadata.version('pyfatfs'))]
    return found + [(name, _first_line(argv, stderr_too=True) or 'not found') for name, argv in tools]


def machine_description(workdir):
    cpu = platform.machine()
    try:
        with open('/proc/cpuinfo') as info:
            cpu = next(line.split(':', 1)[1].strip() for line in info if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    fs = _first_line(['findmnt', '-n', '-o', 'FSTYPE', '-T', workdir]) or '?'
    return '%s, %d CPUs, %s; work directory %s (%s)' % (cpu, os.cpu_count(), platform.platform(), workdir, fs)


def code_description():
    """Which code was measured: the commit, uncommitted changes under plugins/, byte-code caching."""
    head = _first_line(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD']) or 'unknown commit'
    changed = [line for line in _run(['git', '--no-optional-locks', '-C', REPO, 'status', '--porcelain', '--',
                                      'plugins']).splitlines() if line.strip()]
    tree = ('with uncommitted changes in %d file(s) under plugins/' % len(changed)) if changed else 'plugins/ clean'
    pyc = ("PYTHONDONTWRITEBYTECODE is set, so modules without a cached .pyc (ours, unless something wrote "
           "them) are compiled at every start, as under Ansible's AnsiballZ"
           if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'byte-code caching on')
    return 'Code: %s, %s; %s.' % (head, tree, pyc)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--runs', type=int, default=5, help='timed runs per tool and set (default 5)')
    parser.add_argument('--big-runs', type=int, default=3,
                        help='runs for the 200 MiB set when --runs would take the benchmark past --budget '
                             '(default 3)')
    parser.add_argument('--budget', type=float, default=480, help='seconds the whole run should take (default 480)')
    parser.add_argument('--import-runs', type=int, default=10, help='runs of each import timing (default 10)')
    parser.add_argument('--sets', default=','.join(ALL_SETS), help='comma-separated subset of %s' % ', '.join(ALL_SETS))
    parser.add_argument('--b64-limit', type=int, default=16 * MIB,
                        help='time content_b64 input in-process for sets up to this many bytes (default 16 MiB)')
    parser.add_argument('--tmpdir', default=None, help='where to create payloads and images (default: $TMPDIR)')
    parser.add_argument('--results', default=DEFAULT_RESULTS, help='Markdown report path')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory')
    args = parser.parse_args(argv)
    unknown = set(args.sets.split(',')) - set(ALL_SETS)
    if unknown:
        parser.error('unknown set(s): %s' % ', '.join(sorted(unknown)))
    return args


class Report:
    """Prints as it goes; ``emit`` lines also go to the Markdown report."""

    def __init__(self):
        self.lines = []

    @staticmethod
    def progress(text):
        print(text, flush=True)

    def emit(self, *paragraphs):
        for text in paragraphs:
            print(text, flush=True)
            print(flush=True)
            self.lines.extend([text, ''])

    def save(self, path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as stream:
            stream.write('\n'.join(self.lines))


def run_count(args, pset, started, notes):
    """How many timed rounds ``pset`` gets: --runs, or --big-runs for the 200 MiB set if over budget.

    The projection counts the timed rounds and about two rounds more for the in-process timings.
    """
    def choose(warm_up):
        if pset.key != '200m':
            return args.runs
        projected = time.perf_counter() - started + warm_up * (args.runs + 2)
        if projected <= args.budget or args.big_runs >= args.runs:
            return args.runs
        notes.append('The 200 MiB set ran %d timed rounds instead of %d: with %d the whole benchmark was '
                     'projected to take %.0f s, more than its budget of %.0f s.'
                     % (args.big_runs, args.runs, args.runs, projected, args.budget))
        return args.big_runs
    return choose


def main(argv):
    args = parse_args(argv)
    started = time.perf_counter()
    ensure_importable()
    env = child_env()
    report = Report()
    tools = [t for t in TOOLS if all(shutil.which(n) for n in t.needs)]
    missing = [t.name for t in TOOLS if t not in tools]
    workdir = tempfile.mkdtemp(prefix='vmpayload-bench-', dir=args.tmpdir)
    try:
        report.progress('Creating payload sets in %s ...' % workdir)
        sets = make_sets(os.path.join(workdir, 'src'), args.sets.split(','))
        plan_fat(sets)
        report.emit(
            '# payload_image benchmark',
            'Run %s on %s.' % (time.strftime('%Y-%m-%d %H:%M:%S %Z'), machine_description(workdir)),
            'Versions: %s.' % '; '.join('%s %s' % v for v in versions()),
            code_description() + (' Not installed, so not measured: %s.' % ', '.join(missing) if missing else ''),
            'Times are wall-clock seconds of the child process(es), minimum over the timed rounds after '
            'one warm-up round; "× fastest" divides by the fastest tool of the set. Peak RSS is the largest '
            'maximum resident set of any one process of the tool, measured in the warm-up round %s. Our '
            'writers run as `python benchmarks/build_one.py`, so their times include interpreter start and '
            'imports (see the import table). mkfs.vfat gets the image size and FAT type our writer picks '
            'with `size: auto`; mtools runs without MTOOLS_SKIP_CHECK.'
            % ('with GNU time (%M)' if GNU_TIME else
               "with os.wait4 (no /usr/bin/time: an upper bound that includes this process's own size)"))

        all_results, notes = {}, []
        for pset in sets:
            report.progress('Measuring %s (%d files, %s) ...' % (pset.title, pset.files, human_size(pset.total)))
            all_results[pset.key] = measure_set(pset, tools, run_count(args, pset, started, notes),
                                                workdir, env, report.progress)
            report.emit('## %s (%d files, %s; FAT image %s, FAT%d)'
                        % (pset.title, pset.files, human_size(pset.total), human_size(pset.fat_size), pset.fat_bits),
                        set_table(all_results[pset.key]))
        report.emit(*notes)

        report.progress('Timing the writers in-process ...')
        in_process = time_in_process(sets, args.runs, workdir, args.b64_limit)
        report.emit('## Our writers in-process (imports done; min of %d runs after a warm-up)' % args.runs,
                    'parse = `staged_payload` (validation, and the sha256 of every file: each `src` file is read '
                    'once, hashed while it is copied, into memory up to 1 MiB, else into a private directory); '
                    'write = `writer_for(...).write`, from those copies; parse+write also removes the copies. '
                    'content_b64 input is timed for sets up to %s only.' % human_size(args.b64_limit),
                    in_process_table(in_process))

        report.progress('Timing interpreter start and imports ...')
        report.emit('## Interpreter start and imports (`python -c ...`, min of %d runs)' % args.import_runs,
                    import_table(time_imports(args.import_runs, env, workdir)))

        report.emit('## Targets',
                    'Time targets are judged on the 10 MiB and 200 MiB sets, where content dominates; on the '
                    'small sets our child process is mostly interpreter start and imports, shown as INFO.',
                    '\n'.join('    ' + line for line in check_targets(sets, all_results, in_process)),
                    'Total benchmark time: %.1f s.' % (time.perf_counter() - started))
    finally:
        if args.keep:
            report.progress('Kept %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.save(args.results)
    report.progress('Report written to %s' % os.path.relpath(args.results))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
