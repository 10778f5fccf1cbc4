# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: every ansible-core release meta/runtime.yml claims, and every module-side Python, as users run them.

For each release in version_matrix.RELEASES, its own virtualenv runs ``ansible-test sanity`` and
``ansible-test units`` (everything for the oldest and the newest release; for those between, sanity
without its slow tests and the unit tests that use ansible-core), and the smoke play (matrix_smoke.yml)
through its ``ansible-playbook``, with the modules on Python 3.9. The newest release also runs the smoke
play with the modules on each Python of version_matrix.TARGET_PYTHONS. 2.19's sanity and units are
test_sanity.py and test_units.py, on the project's own virtualenv. docs/testing-gates.md has the table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

import version_matrix
from ecosystem_tools import BUILD, ROOT, TOOL_TIMEOUT, copy_checkout, run_tool, tool_environment
from version_matrix import NEWEST, OLDEST, RELEASES, TARGET_PYTHONS

URI = 'qemu:///system'
POOL = 'vmpayload'
POOL_PATH = '/var/lib/vmpayload/pool'
# The releases whose sanity and units the matrix runs (2.19's are test_sanity.py and test_units.py).
OWN_VENV = [release for release in RELEASES if RELEASES[release]]
# The sanity tests that take most of a run: each builds a virtualenv of its own (its first run here pip-installs
# its pinned tools) and reads every file (pylint, validate-modules, pep8, yamllint, changelog) or imports every
# plugin (import). The oldest and the newest release run them; the releases between run the others, which
# check the collection with that release's own code: ansible-doc, runtime-metadata, action-plugin-docs, compile,
# shebang, the code-smell tests.
SLOW_SANITY = ('pylint', 'validate-modules', 'import', 'pep8', 'yamllint', 'changelog')
# ansible-test passes a test it could not run (a missing program, no virtualenv) with only a warning.
NOT_RUN = re.compile(r'^WARNING: (?:Skipping sanity test|Required program).*$', re.M)
# ansible-test spends most of a run waiting for pip (each sanity test's virtualenv) and for its forked unit
# test processes: the matrix's sanity and units runs go three at a time, each in its own copy of the checkout.
PARALLEL_RUNS = 3
# What ansible-core prints when a collection's requires_ansible leaves it out.
UNSUPPORTED = re.compile(r'does not support Ansible version|not compatible with', re.I)


@pytest.fixture(scope='session')
def matrix_venvs():
    """Every virtualenv of the matrix, made once and kept in .build/matrix (version_matrix.py)."""
    try:
        version_matrix.make_all()
    except RuntimeError as exc:
        pytest.fail('a virtualenv of the version matrix could not be made: %s' % exc, pytrace=False)


def release_environment(release, **overrides):
    """The tools' environment with ``release``'s virtualenv first on PATH."""
    environment = tool_environment(**overrides)
    environment['PATH'] = os.pathsep.join((str(version_matrix.controller_bin(release)), environment['PATH']))
    return environment


def ansible_test_home(release):
    """ansible-test's home for ``release``, in .build/matrix, with the offline get-pip for its pip pin.

    One per release: runs of different releases go side by side, and two of them could otherwise make
    the same sanity virtualenv (same requirements, same Python) at the same time.
    """
    probe = ('import sys\nfrom ansible_test._internal.python_requirements import get_venv_packages\n'
             'class P:\n    version = "%d.%d" % sys.version_info[:2]\nprint(get_venv_packages(P())["pip"])\n')
    completed = subprocess.run([str(version_matrix.controller_bin(release) / 'python'), '-c', probe],
                               capture_output=True, text=True, check=True)
    home = version_matrix.MATRIX / ('ansible-test-home-%s' % release)
    cache = home / '.ansible' / 'test' / 'cache'
    cache.mkdir(parents=True, exist_ok=True)
    script = cache / ('get_pip_%s.py' % completed.stdout.strip().replace('.', '_'))
    script.write_bytes((ROOT / 'tests' / 'ecosystem' / 'get_pip_offline.py').read_bytes())
    return str(home)


def test_the_claim_is_the_oldest_release_tested():
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    assert runtime['requires_ansible'] == '>=%s.0' % OLDEST
    for release in RELEASES:
        assert (ROOT / 'tests' / 'sanity' / ('ignore-%s.txt' % release)).is_file(), release
    assert sorted((path.name for path in (ROOT / 'tests' / 'sanity').glob('ignore-*.txt'))) == \
        sorted('ignore-%s.txt' % release for release in RELEASES)


@pytest.mark.parametrize('release', OWN_VENV)
def test_virtualenv_holds_the_newest_patch_release(matrix_venvs, release):
    assert version_matrix.installed_core(release).startswith(release + '.')


def ansible_facing_units():
    """The unit test files that use ansible-core: they import it, or run modules through tests/unit/module_args.py.

    The others test the image writers, the payload model and the backends with ansible-core nowhere in
    the call path: on the same Python, their results cannot differ between releases.
    """
    uses_ansible = re.compile(r'^(?:from|import) (?:ansible|module_args)\b', re.M)
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / 'tests' / 'unit').rglob('test_*.py')
                  if uses_ansible.search(path.read_text(encoding='utf-8')))


def test_the_ansible_facing_units_are_found():
    found = ansible_facing_units()
    for needed in ('tests/unit/plugins/filter/test_payload_filters.py', 'tests/unit/plugins/modules/test_payload_image.py',
                   'tests/unit/plugins/modules/test_ovirt_modules.py'):
        assert needed in found, found


def ansible_test_command(kind, release):
    """The ansible-test command line of the matrix's ``kind`` run (sanity or units) for ``release``.

    The oldest and the newest release run everything. The releases between them run on Python 3.12, as
    the oldest does: sanity without SLOW_SANITY, units with only the tests that use ansible-core (the
    others would only repeat the oldest release's results).
    """
    command = ['ansible-test', kind, '--local', '--python', RELEASES[release], '--color', 'no']
    if release not in (OLDEST, NEWEST):
        if kind == 'sanity':
            for name in SLOW_SANITY:
                command += ['--skip-test', name]
        else:
            command += ansible_facing_units()
    return command


@pytest.fixture(scope='session')
def matrix_runs(matrix_venvs):
    """Every release's sanity and units runs, PARALLEL_RUNS at a time: {(kind, release): (command, completed, seconds)}."""
    jobs = [(kind, release) for release in OWN_VENV for kind in ('sanity', 'units')]
    # The longest first: the full runs of the oldest and the newest release.
    jobs.sort(key=lambda job: job[1] not in (OLDEST, NEWEST))

    def run(job):
        kind, release = job
        tree = copy_checkout(version_matrix.MATRIX / 'trees' / ('%s-%s' % job) / 'ansible_collections' / 'vmpayload'
                             / 'core')
        command = ansible_test_command(kind, release)
        started = time.monotonic()
        completed = subprocess.run(command, cwd=tree, env=release_environment(release, HOME=ansible_test_home(release)),
                                   capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False)
        return job, (command, completed, time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        runs = dict(pool.map(run, jobs))
    # How long each run took, for docs/testing-gates.md's run times.
    (version_matrix.MATRIX / 'runs.json').write_text(json.dumps(
        {'%s %s' % job: round(seconds) for job, (_command, _completed, seconds) in runs.items()}, indent=1))
    return runs


def matrix_run(matrix_runs, kind, release):
    """The output of the ``kind`` run of ``release``; a failed run fails the test with the tool's own output."""
    command, completed, seconds = matrix_runs[(kind, release)]
    if completed.returncode != 0:
        pytest.fail('%s exited with %d after %.0f s\n--- stdout ---\n%s\n--- stderr ---\n%s'
                    % (' '.join(command), completed.returncode, seconds, completed.stdout, completed.stderr),
                    pytrace=False)
    return completed


@pytest.mark.parametrize('release', OWN_VENV)
def test_sanity(matrix_runs, release):
    completed = matrix_run(matrix_runs, 'sanity', release)
    assert not NOT_RUN.findall(completed.stdout + completed.stderr), completed.stderr


@pytest.mark.parametrize('release', OWN_VENV)
def test_units(matrix_runs, release):
    completed = matrix_run(matrix_runs, 'units', release)
    assert ' passed' in completed.stdout and ' failed' not in completed.stdout, completed.stdout


@pytest.fixture
def shut_off_domains():
    """A factory of defined, shut-off domains (no disk, no kernel) with a pool named POOL; removed, with their volumes, after."""
    import libvirt  # pylint: disable=import-outside-toplevel  # only the smoke play needs libvirtd

    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for the smoke play (make test starts it): %s' % exc, pytrace=False)
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError:
        os.makedirs(POOL_PATH, exist_ok=True)
        pool = conn.storagePoolDefineXML("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>"
                                         % (POOL, POOL_PATH), 0)
    if not pool.isActive():
        pool.create(0)
    made = []

    def make():
        domain = conn.defineXML(
            "<domain type='qemu'><name>vmp-matrix-%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>" % uuid.uuid4().hex[:8])
        made.append(domain.UUIDString())
        return domain.name()

    try:
        yield make
    finally:
        try:
            conn.getLibVersion()
        except libvirt.libvirtError:
            # libvirtd was restarted during the play (another make test's start-libvirt.sh): connect again.
            conn = libvirt.open(URI)
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        for domain_uuid in made:
            for volume in pool.listVolumes():
                if volume.startswith('vmpayload-%s-' % domain_uuid):
                    pool.storageVolLookupByName(volume).delete(0)
            conn.lookupByUUIDString(domain_uuid).undefine()
        conn.close()


@pytest.mark.parametrize('release', RELEASES)
def test_smoke_play(matrix_venvs, shut_off_domains, tmp_path, release):
    """The smoke play with ``release``'s ansible-playbook: one host per module-side Python, all in one run."""
    pythons = TARGET_PYTHONS if release == NEWEST else ('3.9',)
    hosts = {}
    for python in pythons:
        work = tmp_path / ('python-%s' % python)
        work.mkdir()
        hosts['python-%s' % python] = {'ansible_connection': 'local',
                                       'ansible_python_interpreter': str(version_matrix.target_interpreter(python)),
                                       'smoke_python': python, 'smoke_dir': str(work),
                                       'smoke_domain': shut_off_domains()}
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': hosts, 'vars': {'smoke_pool': POOL, 'smoke_release': release}}}),
                         encoding='utf-8')
    environment = release_environment(release, HOME=str(tmp_path / 'home'),
                                      ANSIBLE_COLLECTIONS_PATH=str(BUILD / 'collections'))
    completed = run_tool(['ansible-playbook', '-i', inventory, ROOT / 'tests' / 'ecosystem' / 'matrix_smoke.yml'],
                         tmp_path, environment)
    output = completed.stdout + completed.stderr
    for host in hosts:
        assert re.search(r'^%s\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0\s' % re.escape(host),
                         completed.stdout, re.M), output
    assert not UNSUPPORTED.search(output), output
    assert '[DEPRECATION WARNING]' not in output, output


def test_galaxy_install_into_the_oldest_release_does_not_warn(matrix_venvs, tmp_path):
    """The built tarball, installed by the oldest release's ansible-galaxy, is taken as compatible."""
    collections = tmp_path / 'collections'
    environment = release_environment(OLDEST, HOME=str(tmp_path / 'home'), ANSIBLE_COLLECTIONS_PATH=str(collections))
    run_tool(['ansible-galaxy', 'collection', 'build', '--output-path', tmp_path, ROOT], ROOT, environment)
    (tarball,) = tmp_path.glob('vmpayload-core-*.tar.gz')
    completed = run_tool(['ansible-galaxy', 'collection', 'install', '--offline', '-p', collections, tarball],
                         tmp_path, environment)
    output = completed.stdout + completed.stderr
    assert 'vmpayload.core' in output and 'was installed successfully' in output, output
    assert not UNSUPPORTED.search(output) and '[WARNING]' not in output, output
