# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The version matrix: which ansible-core releases and module-side Pythons are claimed, and their virtualenvs.

``meta/runtime.yml`` claims every release in RELEASES, and test_version_matrix.py tests every one of them
(docs/testing-gates.md lists the matrix and why it starts at 2.16). Each release gets a virtualenv
of its own under ``.build/matrix``, with ansible-core of that minor series (its newest patch release),
what ``ansible-test units`` needs, and the collection's requirements; each module-side Python gets
one with the libraries the modules import. A virtualenv is made once and kept while its stamp (the
interpreter, the requirement lines and the sources they come from) matches; ``make clean`` removes it.

Run as a script, it makes all of them (two at a time) and prints how long each took:
``python tests/ecosystem/version_matrix.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / '.build' / 'matrix'
PYENV_ROOT = Path(os.environ.get('PYENV_ROOT') or Path.home() / '.pyenv')

# ansible-core minor release -> the controller Python its virtualenv runs on. Each release supports
# these controller Pythons: 2.16 and 2.17 3.10-3.12, 2.18 and 2.19 3.11-3.13, 2.20 and 2.21 3.12-3.14.
# 3.12 is the one they all share; the newest release runs on 3.13, the newest Python here.
# 2.19 is the project's own virtualenv (.venv, tests/requirements.txt), which test_sanity.py and
# test_units.py already run sanity and units with; the matrix adds its smoke play.
RELEASES = {
    '2.16': '3.12',
    '2.17': '3.12',
    '2.18': '3.12',
    '2.19': None,
    '2.20': '3.12',
    '2.21': '3.13',
}

# The hypervisors' Pythons the modules must run on: RHEL 9 (3.9), Debian 12 (3.11), Ubuntu 24.04 (3.12),
# and the newest (3.13). Every release in RELEASES supports 3.9-3.12 on targets; 3.13 from 2.18 on.
TARGET_PYTHONS = ('3.9', '3.11', '3.12', '3.13')
# The libraries the modules import where they run, by their names in requirements.txt: the smoke play
# builds images (pycdlib, pyfatfs) and talks to libvirt. The oVirt SDK is for the units only.
TARGET_LIBRARIES = ('pycdlib', 'pyfatfs', 'libvirt-python')
# What tests/unit imports beyond ansible-test's own units requirements and requirements.txt.
UNIT_EXTRAS = ('hypothesis>=6',)


def release_key(release):
    return tuple(int(part) for part in release.split('.'))


OLDEST, NEWEST = min(RELEASES, key=release_key), max(RELEASES, key=release_key)


def pyenv_python(version):
    """The newest pyenv-installed CPython of ``version`` (for example 3.12 -> .../versions/3.12.1/bin/python)."""
    candidates = sorted((path for path in (PYENV_ROOT / 'versions').glob('%s.*' % version)
                         if path.name[len(version) + 1:].isdigit()),
                        key=lambda path: int(path.name.rsplit('.', 1)[1]))
    if not candidates:
        raise RuntimeError('Python %s is not installed under %s (pyenv install %s)' % (version, PYENV_ROOT, version))
    return candidates[-1] / 'bin' / 'python'


def requirement_lines(path):
    lines = []
    for line in path.read_text(encoding='utf-8').splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def collection_requirements():
    return requirement_lines(ROOT / 'requirements.txt')


def target_requirements():
    wanted = [line for line in collection_requirements()
              if line.split('>', 1)[0].split('<', 1)[0].split('=', 1)[0].strip() in TARGET_LIBRARIES]
    assert len(wanted) == len(TARGET_LIBRARIES), wanted
    return wanted


def release_dir(release):
    return MATRIX / ('ansible-core-%s' % release)


def target_dir(python):
    return MATRIX / ('python-%s' % python)


def controller_bin(release):
    """The bin directory whose ansible-* tools are ``release``'s."""
    if RELEASES[release] is None:
        return ROOT / '.venv' / 'bin'
    return release_dir(release) / 'bin'


def target_interpreter(python):
    return target_dir(python) / 'bin' / 'python'


def _make(directory, python, steps, log):
    """A virtualenv at ``directory`` on pyenv's ``python``, with ``steps`` (lists of pip install arguments) run in order.

    A step may be a function of the virtualenv's directory that returns the arguments, for what is known only
    once the earlier steps ran; the stamp records its name. The virtualenv is kept when its stamp matches;
    otherwise it is made again from nothing, so that a failed or changed build never leaves a half-made
    virtualenv that looks finished.
    """
    interpreter = pyenv_python(python)
    stamp = directory / 'matrix.stamp'
    named = [step if isinstance(step, list) else step.__name__ for step in steps]
    wanted = json.dumps({'python': str(interpreter), 'steps': named}, sort_keys=True)
    if stamp.is_file() and stamp.read_text(encoding='utf-8') == wanted:
        return False
    shutil.rmtree(directory, ignore_errors=True)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(log, 'w', encoding='utf-8') as output:
        def run(command):
            output.write('$ %s\n' % ' '.join(command))
            output.flush()
            done = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False, timeout=1800)
            if done.returncode != 0:
                raise RuntimeError('%s exited with %d; see %s' % (' '.join(command), done.returncode, log))

        run([str(interpreter), '-m', 'venv', str(directory)])
        for step in steps:
            arguments = step if isinstance(step, list) else step(directory)
            run([str(directory / 'bin' / 'python'), '-m', 'pip', 'install', '-q', '--disable-pip-version-check']
                + arguments)
    stamp.write_text(wanted, encoding='utf-8')
    return True


def ansible_test_units_requirements(directory):
    """ansible-test's own requirements for ``ansible-test units``, read from the release just installed."""
    found = sorted(directory.glob('lib/python*/site-packages/ansible_test/_data/requirements/units.txt'))
    return requirement_lines(found[0])


def make_release(release):
    """The virtualenv of ansible-core ``release``: ansible-core, ansible-test's units requirements, the collection's."""
    python = RELEASES[release]
    if python is None:
        return False
    core = 'ansible-core>=%s,<%s.%d' % (release, release.split('.')[0], int(release.split('.')[1]) + 1)
    return _make(release_dir(release), python,
                 [[core] + collection_requirements() + list(UNIT_EXTRAS), ansible_test_units_requirements],
                 MATRIX / ('ansible-core-%s.log' % release))


def make_target(python):
    """The module-side Python ``python``: the libraries the modules import, nothing of Ansible."""
    return _make(target_dir(python), python, [target_requirements()], MATRIX / ('python-%s.log' % python))


def make_all(workers=3):
    """Every virtualenv of the matrix; {name: (made, seconds)}. The first failure is raised after all have run.

    pip builds libvirt-python and the oVirt SDK from source once per Python and keeps the wheels in its
    cache: the first virtualenv of each Python goes first, the ones that reuse its wheels after.
    """
    jobs, seen = [], set()
    for release in sorted((release for release in RELEASES if RELEASES[release]), key=release_key):
        first = RELEASES[release] not in seen
        seen.add(RELEASES[release])
        jobs.append((not first, 'ansible-core %s' % release, make_release, release))
    for python in TARGET_PYTHONS:
        jobs.append((python in seen, 'python %s' % python, make_target, python))
    jobs = [job[1:] for job in sorted(jobs, key=lambda job: job[0])]
    results, errors = {}, []

    def run(job):
        name, function, argument = job
        started = time.monotonic()
        try:
            results[name] = (function(argument), time.monotonic() - started)
        except Exception as exc:  # pylint: disable=broad-exception-caught  # reported below, with its name
            errors.append('%s: %s' % (name, exc))

    MATRIX.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, jobs))
    if errors:
        raise RuntimeError('; '.join(errors))
    return results


def installed_core(release):
    """The ansible-core version ``release``'s virtualenv holds."""
    completed = subprocess.run([str(controller_bin(release) / 'python'), '-c',
                                'from ansible.release import __version__; print(__version__)'],
                               capture_output=True, text=True, check=True)
    return completed.stdout.strip()


if __name__ == '__main__':
    START = time.monotonic()
    for NAME, (MADE, SECONDS) in sorted(make_all().items()):
        print('%-18s %s in %.0f s' % (NAME, 'made' if MADE else 'kept', SECONDS))
    print('all: %.0f s' % (time.monotonic() - START))
    sys.exit(0)
