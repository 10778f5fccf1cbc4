# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run every Molecule scenario of extensions/molecule/ against the host's real libvirtd.

Each scenario is one test: ``molecule test -s <scenario>`` from extensions/, as Molecule expects,
failing on a non-zero exit with the end of Molecule's output. The scenarios boot real (tiny) guests
under qemu, so they need libvirtd: when it does not answer, the tests fail; they never skip.

The scenarios start in the background the first time any of them is asked for: the first alone (it
shows the staging role on a fresh host), then two at a time (VMPAYLOAD_MOLECULE_WORKERS; each scenario has its own
domains); each test waits for its own. Full logs go to tests/output/molecule/<scenario>.log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / 'extensions'
MOLECULE_DIR = EXTENSIONS / 'molecule'
SCENARIOS = sorted(path.parent.name for path in MOLECULE_DIR.glob('*/molecule.yml'))
LOG_DIR = ROOT / 'tests' / 'output' / 'molecule'
URI = 'qemu:///system'
# One scenario takes 2 to 6 minutes here (software emulation; libvirtd re-probing qemu on hosts where
# /dev/kvm is root-only); the bound is there so that a hung scenario cannot eat CI's budget.
SCENARIO_TIMEOUT = int(os.environ.get('VMPAYLOAD_MOLECULE_TIMEOUT', '1200'))
WORKERS = max(1, int(os.environ.get('VMPAYLOAD_MOLECULE_WORKERS', '2')))
TAIL_LINES = 150


# Runs alone before the others (see _Runs): it takes the host back to fresh for the payload_staging role
# (no release hook for a while) and ends by staging it with the role's defaults, which the others use.
FIRST = 'staging_role'


def _weight(scenario):
    """A rough cost, to start the longest scenarios first: the size of the scenario's own playbooks.

    What makes a scenario long (guest boots, a second libvirt host, migrations, several domains) is
    written out in its playbooks: the migration, clone and snapshot scenarios, which took 2.5 to 7.5
    minutes each here, have the largest. A count of domains and steps put them last.
    """
    return sum(path.stat().st_size for path in (MOLECULE_DIR / scenario).glob('*.yml'))


def _environment():
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    # Molecule runs ansible-playbook and ansible-config from PATH: use the ones beside this Python.
    env['PATH'] = os.pathsep.join([str(bin_dir), env.get('PATH', '')])
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(ROOT / '.build' / 'collections'))
    env.update(NO_COLOR='1', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', LC_ALL='C.UTF-8')
    return env


def _preflight(env):
    """Why the scenarios cannot run, or None. Every reason fails the tests: nothing is skipped."""
    molecule = Path(sys.executable).with_name('molecule')
    if not molecule.exists():
        return 'molecule is not installed beside %s (pip install "molecule>=25")' % sys.executable
    collection = [Path(p) / 'ansible_collections' / 'vmpayload' / 'core'
                  for p in env['ANSIBLE_COLLECTIONS_PATH'].split(os.pathsep)]
    if not any((c / 'galaxy.yml').exists() for c in collection):
        return ('vmpayload.core is not on ANSIBLE_COLLECTIONS_PATH (%s); `make deps` links it into .build/collections'
                % env['ANSIBLE_COLLECTIONS_PATH'])
    if shutil.which('virsh', path=env['PATH']) is None:
        return 'virsh is not installed (libvirt-clients)'
    try:
        probe = subprocess.run(['virsh', '-c', URI, 'list', '--all', '--name'], env=env, capture_output=True,
                               text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return 'libvirtd at %s did not answer within 120 s' % URI
    if probe.returncode != 0:
        return ('libvirtd is not reachable at %s: %s\nStart it (systemctl start libvirtd, or without systemd: '
                'virtlogd -d && libvirtd -d).' % (URI, probe.stderr.strip()))
    return None


def _run_scenario(scenario, env):
    """Run one scenario; return (returncode, seconds, log path). Never raises for a failing scenario."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / ('%s.log' % scenario)
    command = [str(Path(sys.executable).with_name('molecule')), 'test', '-s', scenario]
    started = time.monotonic()
    with open(log_path, 'w', encoding='utf-8') as log:
        log.write('$ cd %s && %s\n' % (EXTENSIONS, ' '.join(command)))
        log.flush()
        process = subprocess.Popen(command, cwd=EXTENSIONS, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=SCENARIO_TIMEOUT)
        except subprocess.TimeoutExpired:
            # Stop Molecule and every ansible-playbook under it, then tidy the scenario's domains.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.write('\n*** timed out after %d s; running molecule destroy\n' % SCENARIO_TIMEOUT)
            log.flush()
            subprocess.run([command[0], 'destroy', '-s', scenario], cwd=EXTENSIONS, env=env, stdout=log,
                           stderr=subprocess.STDOUT, timeout=600, check=False)
            returncode = 'timeout'
    return returncode, time.monotonic() - started, log_path


class _Runs(object):
    """Runs every scenario once, in the background, and hands each test its own result.

    The first scenario runs alone: it removes the release hook to show the role on a fresh host, and
    leaves the host staged with the role's defaults. The others then run WORKERS at a time.
    """

    def __init__(self):
        self.env = _environment()
        self.problem = _preflight(self.env)
        self.futures = {scenario: Future() for scenario in SCENARIOS}
        self.thread = None
        if self.problem is None:
            self._build_guest()
        if self.problem is None:
            self.thread = threading.Thread(target=self._run_all, name='molecule', daemon=True)
            self.thread.start()

    def _build_guest(self):
        # Once, before scenarios run side by side (their create steps then find it built).
        build = subprocess.run(['bash', str(ROOT / 'tests' / 'guest' / 'build-guest.sh'),
                                str(ROOT / '.build' / 'guest')], env=self.env, capture_output=True, text=True,
                               timeout=900, check=False)
        if build.returncode != 0:
            self.problem = 'building the test guest failed:\n%s%s' % (build.stdout, build.stderr)

    def _run_into(self, scenario):
        future = self.futures[scenario]
        try:
            future.set_result(_run_scenario(scenario, self.env))
        except Exception as exc:  # noqa: BLE001 - handed to the scenario's test, which reports it
            future.set_exception(exc)

    def _run_all(self):
        first = FIRST if FIRST in SCENARIOS else SCENARIOS[0]
        rest = sorted((s for s in SCENARIOS if s != first), key=_weight, reverse=True)
        self._run_into(first)
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix='molecule') as pool:
            list(pool.map(self._run_into, rest))

    def result(self, scenario):
        if self.problem is not None:
            pytest.fail(self.problem, pytrace=False)
        return self.futures[scenario].result()

    def close(self):
        if self.thread is not None:
            self.thread.join()


@pytest.fixture(scope='module')
def molecule_runs():
    runs = _Runs()
    yield runs
    runs.close()


def test_scenarios_found():
    assert SCENARIOS, 'no Molecule scenario found under %s' % MOLECULE_DIR


def test_playbooks_parse():
    """Every scenario playbook and shared task file parses, in seconds, before the long runs."""
    playbooks = sorted(str(p) for p in MOLECULE_DIR.glob('*/*.yml')
                       if p.name not in ('molecule.yml', 'vars.yml') and p.parent.name != 'group_vars')
    env = _environment()
    completed = subprocess.run([str(Path(sys.executable).with_name('ansible-playbook')), '--syntax-check',
                                '-i', 'localhost,', *playbooks], env=env, capture_output=True, text=True,
                               timeout=300, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tasks = sorted(MOLECULE_DIR.glob('*/tasks/*.yml'))
    check = ('import sys, yaml\n'
             'for path in sys.argv[1:]:\n'
             '    assert isinstance(yaml.safe_load(open(path, encoding="utf-8")), list), path\n')
    completed = subprocess.run([sys.executable, '-c', check, *map(str, tasks)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize('scenario', SCENARIOS)
def test_molecule_scenario(scenario, molecule_runs):
    returncode, seconds, log_path = molecule_runs.result(scenario)
    if returncode != 0:
        lines = log_path.read_text(encoding='utf-8', errors='replace').splitlines()
        pytest.fail('molecule test -s %s %s after %.0f s; full log: %s\n%s'
                    % (scenario, 'timed out' if returncode == 'timeout' else 'exited %s' % returncode, seconds,
                       log_path, '\n'.join(lines[-TAIL_LINES:])), pytrace=False)
    print('%s passed in %.0f s' % (scenario, seconds))
