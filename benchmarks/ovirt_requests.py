# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Benchmark: how many requests each oVirt module makes to the engine, first and second run, beside ovirt_vm.

One run (``make bench``, or ``.venv/bin/python benchmarks/ovirt_requests.py``) does everything:

1. Starts the local oVirt engine the unit tests use (``tests/unit/ovirt_engine.py``: the v4 REST API and SSO
   over HTTPS, with a log of every request) and gives it the VMs below.
2. Runs one-task playbooks as whole ``ansible-playbook`` processes, with the engine and the login in
   ``OVIRT_URL``, ``OVIRT_USERNAME``, ``OVIRT_PASSWORD`` and ``OVIRT_CAFILE`` (``auth: {}``), each twice, the
   first run making the change and the second finding nothing to do:

   * ``vmpayload.core.vm_payload`` giving the down VM web1 a NoCloud seed;
   * ``vmpayload.core.vm_payload_info`` on web1 (one run: it never changes anything);
   * ``vmpayload.core.vm_payload`` with ``state: absent`` on web1;
   * ``vmpayload.core.vm_run_once_payload`` on the down VM install1 (the first run stores, starts and waits
     until the VM is up; the second finds it up with this payload);
   * ``ovirt.ovirt.ovirt_vm`` changing web1's description. ovirt_vm cannot set a payload at all (ovirt.ovirt has
     no payload support), so an update of one plain field is the closest it comes. ovirt.ovirt is taken from the
     ``ansible`` package on PyPI, which still bundles it (``pip download ansible==RELEASE --no-deps``, cached
     under ``.build/``), without Galaxy. ovirt_vm reads VM fields and follows links that the test engine does
     not have (it answers only what this collection's modules ask), so ovirt_vm runs against a subclass that
     adds them (``OvirtVmEngine``); one run against the test engine as it is records the error it gives.

   For each run it records the engine requests (method, path, query) and the wall time of the whole
   ``ansible-playbook`` process, and checks what the run did (PLAY RECAP, the engine's state).
3. Repeats this ``--reps`` times with fresh engines (default 3) and checks that every repetition made the same
   requests; times are the minimum and the median of the repetitions.
4. Prints the Markdown report and writes it to ``benchmarks/results/ovirt_requests.md``. Like the other
   benchmarks it is a report, not a test: it exits 0 whether the counts are what they should be or not, and
   non-zero only when one of this collection's runs fails. If ovirt_vm cannot be run, the report says why and
   gives the requests that were read from ovirt_vm's source instead, marked so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

from image_build import Report, code_description, machine_description, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
DEFAULT_RESULTS = os.path.join(HERE, 'results', 'ovirt_requests.md')
VENV_BIN = os.path.dirname(os.path.abspath(sys.executable))
OVIRT_CACHE = os.path.join(REPO, '.build', 'ovirt-collections')
ADMIN = 'admin@internal'
CLUSTER_ID = 'c1a55e00-0000-4000-8000-000000000001'
SEED = [{'name': 'user-data', 'content': '#cloud-config\nhostname: web1\nusers:\n  - name: ops\n'},
        {'name': 'meta-data', 'content': 'instance-id: web1\nlocal-hostname: web1\n'}]
KICKSTART = [{'name': 'ks.cfg', 'content': 'text\nreboot\n'}]
DESCRIPTION = 'web1, seeded by vmpayload.core'
RUNS = ('first', 'second')

sys.path.insert(0, os.path.join(REPO, 'tests', 'unit'))
try:
    import ovirt_collection  # noqa: E402 pylint: disable=wrong-import-position
    import ovirt_engine  # noqa: E402 pylint: disable=wrong-import-position
except ImportError as import_error:
    sys.exit('tests/unit/ovirt_engine.py cannot be imported (%s): run `make deps` and use .venv/bin/python'
             % import_error)


class BenchmarkError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The engine ovirt_vm needs
# --------------------------------------------------------------------------------------------

class OvirtVmEngine(ovirt_engine.FakeEngine):
    """The test engine plus what ovirt_vm reads and follows for an update by name, answered as plainly as it can be.

    ovirt_vm's update check reads the VM's ``<cpu>`` (``getattr(entity.cpu, 'mode')``) and ``<description>``
    and follows its ``<cluster>`` link (GET /clusters/{id}); building the update it searches
    ``/templates?search=vm.name=NAME``; after the update and again at the end it lists
    ``/vms/{id}/numanodes``. A real engine always gives a VM a cluster and a CPU. Here the cluster is named
    Default, there are no templates and no NUMA nodes, and a PUT keeps the description it carries. This adds no
    request: it only lets the requests ovirt_vm makes succeed, so that they can be counted. It relies on the test
    engine's ``_route`` and ``_session`` (private), and is used for ovirt_vm only.
    """

    def __init__(self, workdir):
        super().__init__(workdir)
        self.descriptions = {}

    def _route(self, method, path, query, headers, body):
        api = ovirt_engine.API_PATH
        segments = [part for part in path[len(api):].split('/') if part] if path.startswith(api + '/') else []
        added = segments[:1] in (['clusters'], ['templates']) or segments[2:] == ['numanodes']
        if added and method == 'GET' and self._session(headers) is not None:
            if segments[0] == 'clusters' and len(segments) == 2:
                cluster = ET.Element('cluster', href='%s/clusters/%s' % (api, segments[1]), id=segments[1])
                ET.SubElement(cluster, 'name').text = 'Default'
                return ovirt_engine._xml_reply(200, cluster)  # pylint: disable=protected-access
            if segments == ['templates']:
                return ovirt_engine._xml_reply(200, ET.Element('templates'))  # pylint: disable=protected-access
            if segments[0] == 'vms' and len(segments) == 3:
                return ovirt_engine._xml_reply(200, ET.Element('vm_numa_nodes'))  # pylint: disable=protected-access
        reply = super()._route(method, path, query, headers, body)
        if segments[:1] != ['vms'] or len(segments) > 2 or reply.status != 200:
            return reply
        if method == 'PUT':
            description = ET.fromstring(body).find('description')
            if description is not None:
                self.descriptions[segments[1]] = description.text or ''
        root = ET.fromstring(reply.body)
        for vm in [root] if root.tag == 'vm' else root.findall('vm'):
            if vm.get('id') in self.descriptions:
                ET.SubElement(vm, 'description').text = self.descriptions[vm.get('id')]
            ET.SubElement(vm, 'cpu')
            ET.SubElement(vm, 'cluster', href='%s/clusters/%s' % (api, CLUSTER_ID), id=CLUSTER_ID)
        return ovirt_engine._xml_reply(200, root)  # pylint: disable=protected-access


# --------------------------------------------------------------------------------------------
# ovirt.ovirt, from the ansible package on PyPI
# --------------------------------------------------------------------------------------------

def find_ovirt_collection(args, report):
    """(collections root holding ovirt.ovirt, where it came from), or (None, why not)."""
    if args.ovirt_collections:
        version = ovirt_collection.collection_version(args.ovirt_collections)
        if version is None:
            return None, '--ovirt-collections %s holds no ansible_collections/ovirt/ovirt' % args.ovirt_collections
        return args.ovirt_collections, 'ovirt.ovirt %s from %s' % (version, args.ovirt_collections)
    cached = ovirt_collection.collection_version(os.path.join(OVIRT_CACHE, 'ansible-%s' % args.ansible_release))
    if cached is None:
        report.progress('Fetching ovirt.ovirt: pip download ansible==%s --no-deps' % args.ansible_release)
    try:
        root = ovirt_collection.fetch(OVIRT_CACHE, args.ansible_release)
    except ovirt_collection.Unavailable as exc:
        return None, str(exc)
    return root, ('ovirt.ovirt %s from the ansible %s package on PyPI (%s %s)'
                  % (ovirt_collection.collection_version(root), args.ansible_release,
                     'cached in' if cached else 'downloaded now, cached in', os.path.relpath(root, REPO)))


def _made(path):
    os.makedirs(path, exist_ok=True)
    return path


# --------------------------------------------------------------------------------------------
# Playbooks and runs
# --------------------------------------------------------------------------------------------

RECAP_LINE = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)')
FAILED_MSG = re.compile(r'"msg": "((?:[^"\\]|\\.)*)"')


@dataclasses.dataclass
class Scenario:
    key: str
    module: str  # fully qualified
    what: str
    args: dict
    runs: tuple = RUNS
    ours: bool = True


SCENARIOS = (
    Scenario('seed', 'vmpayload.core.vm_payload', 'NoCloud seed on the down VM web1',
             dict(name='web1', preset='nocloud', files=SEED)),
    Scenario('info', 'vmpayload.core.vm_payload_info', 'read web1\'s payload back', dict(name='web1'),
             runs=('first',)),
    Scenario('absent', 'vmpayload.core.vm_payload', '`state: absent` on web1', dict(name='web1', state='absent')),
    Scenario('once', 'vmpayload.core.vm_run_once_payload',
             'one boot of the down VM install1 with a payload; second run while it is up',
             dict(name='install1', label='OEMDRV', files=KICKSTART)),
    Scenario('ovirt_vm', 'ovirt.ovirt.ovirt_vm', 'description of the down VM web1 (it cannot set a payload)',
             dict(name='web1', description=DESCRIPTION), ours=False),
)


@dataclasses.dataclass
class Run:
    seconds: float
    changed: int
    requests: tuple  # (method, shown path, shown query)
    failed: str | None = None


def _shown(request, ids):
    """(method, path, query) with the API prefix cut and ids named, so that repetitions compare equal."""
    path = request.path
    if path.startswith(ovirt_engine.API_PATH):
        path = path[len(ovirt_engine.API_PATH):] or '/'
    elif path.startswith('/ovirt-engine/'):
        path = path[len('/ovirt-engine'):]
    for value, name in ids.items():
        path = path.replace(value, name)
    query = '&'.join('%s=%s' % item for item in request.query.items())
    return request.method, path, query


class Ansible:
    """Writes one-task playbooks and runs them as whole ansible-playbook processes against an engine."""

    def __init__(self, root, ovirt_root):
        self.root = root
        self.env = dict(os.environ)
        for name in ('ANSIBLE_CONFIG', 'ANSIBLE_STDOUT_CALLBACK', 'ANSIBLE_PIPELINING', 'OVIRT_HOSTNAME',
                     'OVIRT_TOKEN', 'OVIRT_INI_PATH'):
            self.env.pop(name, None)
        self.env.update(
            ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(path for path in (COLLECTIONS, ovirt_root) if path),
            PYTHONPATH=COLLECTIONS,
            ANSIBLE_HOME=os.path.join(root, 'ansible-home'),
            ANSIBLE_LOCAL_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_REMOTE_TEMP=os.path.join(root, 'ansible-tmp'),
            ANSIBLE_RETRY_FILES_ENABLED='0',
            ANSIBLE_NOCOLOR='1',
            LC_ALL='C.UTF-8',
        )

    def playbook(self, scenario):
        path = os.path.join(self.root, '%s.yml' % scenario.key)
        task = {'name': scenario.what, scenario.module: dict(scenario.args, auth={})}
        play = dict(name=scenario.key, hosts='localhost', connection='local', gather_facts=False, tasks=[task])
        with open(path, 'w', encoding='utf-8') as stream:
            json.dump([play], stream, indent=2)  # JSON is YAML
        return path

    def run(self, scenario, engine, ids, log_name):
        """The Run, and the output of ansible-playbook; ``ids`` names the engine's ids in the requests shown."""
        env = dict(self.env, OVIRT_URL=engine.url, OVIRT_USERNAME=ADMIN, OVIRT_PASSWORD=engine.users[ADMIN].password,
                   OVIRT_CAFILE=engine.ca_file)
        argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,', '-e',
                'ansible_python_interpreter=%s' % sys.executable, self.playbook(scenario)]
        log_path = os.path.join(self.root, log_name)
        engine.requests.clear()
        with open(log_path, 'wb') as log:
            start = time.perf_counter()
            returncode = subprocess.call(argv, cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
            seconds = time.perf_counter() - start
        with open(log_path, encoding='utf-8', errors='replace') as log:
            text = log.read()
        changed = failed = 0
        for line in text.splitlines():
            match = RECAP_LINE.match(line)
            if match:
                changed += int(match.group(3))
                failed += int(match.group(4)) + int(match.group(5))
        requests = tuple(_shown(request, dict(ids, **{CLUSTER_ID: '{cluster}'})) for request in engine.requests)
        problem = None
        if returncode != 0 or failed:
            message = FAILED_MSG.search(text)
            problem = (json.loads('"%s"' % message.group(1)) if message else
                       'exit status %d; see %s' % (returncode, log_path))
        return Run(seconds, changed, requests, problem), text


# --------------------------------------------------------------------------------------------
# One repetition
# --------------------------------------------------------------------------------------------

def _expect(condition, problems, text):
    if not condition:
        problems.append(text)


def repetition(number, ansible, workdir, ovirt_root):
    """{(scenario key, run): Run}, the problems seen (unexpected results of ours), and the ovirt_vm probe."""
    results, problems, probe = {}, [], None

    def run(scenario, which, engine):
        ids = {vm_id: '{id}' for vm_id in (web1, install1) if vm_id}
        result, text = ansible.run(scenario, engine, ids, 'rep%d-%s-%s.log' % (number, scenario.key, which))
        if result.failed and scenario.ours:
            raise BenchmarkError('%s (%s run) failed: %s\n%s' % (scenario.module, which, result.failed, text[-3000:]))
        results[scenario.key, which] = result
        return result

    ours = {scenario.key: scenario for scenario in SCENARIOS}
    web1 = install1 = None
    with ovirt_engine.FakeEngine(_made(os.path.join(workdir, 'engine-%d' % number))) as engine:
        web1, install1 = engine.add_vm('web1'), engine.add_vm('install1')
        for which, changed in zip(RUNS, (1, 0)):
            result = run(ours['seed'], which, engine)
            _expect(result.changed == changed, problems, 'vm_payload %s run: changed=%d' % (which, result.changed))
            stored = engine.vm(web1).payload
            _expect(stored is not None and sorted(stored.files) == sorted((f['name'], f['content']) for f in SEED),
                    problems, 'vm_payload %s run: the engine does not hold the seed' % which)
        _expect(run(ours['info'], 'first', engine).changed == 0, problems, 'vm_payload_info reported a change')
        for which, changed in zip(RUNS, (1, 0)):
            result = run(ours['absent'], which, engine)
            _expect(result.changed == changed, problems, 'state: absent %s run: changed=%d' % (which, result.changed))
            _expect(engine.vm(web1).payload is None, problems, 'state: absent %s run: a payload is left' % which)
        for which, changed in zip(RUNS, (1, 0)):
            result = run(ours['once'], which, engine)
            _expect(result.changed == changed, problems,
                    'vm_run_once_payload %s run: changed=%d' % (which, result.changed))
            vm = engine.vm(install1)
            _expect(vm.status == 'up' and len(vm.boots) == 1, problems,
                    'vm_run_once_payload %s run: the VM is %s after %d boot(s)' % (which, vm.status, len(vm.boots)))
    if ovirt_root is None:
        return results, problems, probe
    if number == 1:
        # ovirt_vm against the test engine as it is: what it lacks for ovirt_vm.
        with ovirt_engine.FakeEngine(_made(os.path.join(workdir, 'engine-plain'))) as engine:
            probe, _text = ansible.run(ours['ovirt_vm'], engine, {engine.add_vm('web1'): '{id}'},
                                       'ovirt_vm-plain-engine.log')
    with OvirtVmEngine(_made(os.path.join(workdir, 'engine-ovirt_vm-%d' % number))) as engine:
        web1, install1 = engine.add_vm('web1'), None
        for which, changed in zip(RUNS, (1, 0)):
            result = run(ours['ovirt_vm'], which, engine)
            if result.failed:
                break
            _expect(result.changed == changed, problems, 'ovirt_vm %s run: changed=%d' % (which, result.changed))
            _expect(engine.descriptions.get(web1) == DESCRIPTION, problems,
                    'ovirt_vm %s run: the description was not stored' % which)
    return results, problems, probe


# --------------------------------------------------------------------------------------------
# ovirt_vm's requests as read from its source (docs: /work/research/ovirt-engine.md, "AWX and ovirt.ovirt")
# --------------------------------------------------------------------------------------------

# oVirt/ovirt-ansible-collection @ 827dcc9b, plugins/modules/ovirt_vm.py main() L2698-2735 and
# plugins/module_utils/ovirt.py BaseModule.create L605-709, for an update by name of one plain field.
READ_FROM_SOURCE = {
    'first': (('POST', '/sso/oauth/token', ''), ('GET', '/vms', 'all_content=true&search=name="web1"'),
              ('GET', '/clusters/{cluster}', ''), ('GET', '/templates', 'search=vm.name=web1'),
              ('PUT', '/vms/{id}', ''), ('GET', '/vms/{id}', ''), ('GET', '/vms/{id}/numanodes', ''),
              ('GET', '/vms/{id}', ''), ('GET', '/vms/{id}', ''), ('GET', '/vms/{id}/numanodes', ''),
              ('POST', '/services/sso-logout', '')),
    'second': (('POST', '/sso/oauth/token', ''), ('GET', '/vms', 'all_content=true&search=name="web1"'),
               ('GET', '/clusters/{cluster}', ''), ('GET', '/vms/{id}', ''), ('GET', '/vms/{id}', ''),
               ('GET', '/vms/{id}/numanodes', ''), ('POST', '/services/sso-logout', '')),
}


def _numanodes_twice(requests):
    return tuple(same for request in requests
                 for same in ((request, request) if request[1].endswith('/numanodes') else (request,)))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

def _is_sso(request):
    return request[1].startswith(('/sso/', '/services/'))


def _kinds(requests):
    sso = sum(1 for request in requests if _is_sso(request))
    writes = [request for request in requests if request[0] in ('PUT', 'POST', 'DELETE') and not _is_sso(request)]
    return sso, writes


def _request_text(request):
    method, path, query = request
    return '%s %s%s' % (method, path, '?' + query if query else '')


def summary_table(reps, scenarios):
    rows = []
    for scenario in scenarios:
        for which in scenario.runs:
            runs = [rep[scenario.key, which] for rep in reps if (scenario.key, which) in rep]
            if not runs:
                continue
            requests = runs[0].requests
            sso, writes = _kinds(requests)
            gets = sum(1 for request in requests if request[0] == 'GET')
            seconds = [run.seconds for run in runs]
            same = all(run.requests == requests for run in runs)
            rows.append((scenario.module.rsplit('.', 1)[1], scenario.what, which,
                         'failed' if runs[0].failed else runs[0].changed,
                         '%d%s' % (len(requests), '' if same else ' (varied)'), len(requests) - sso, sso, gets,
                         ', '.join(_request_text(request).split('?')[0] for request in writes) or '-',
                         '%.2f' % min(seconds), '%.2f' % statistics.median(seconds)))
    return table(('module', 'task', 'run', 'changed', 'requests', 'API', 'SSO', 'GETs', 'writes', 'min s',
                  'median s'), rows, 'lllrrrrrlrr')


def sequence_table(reps, scenarios, extra=()):
    rows = []
    for scenario in scenarios:
        for which in scenario.runs:
            run = reps[0].get((scenario.key, which)) if reps else None
            if run is None:
                continue
            for index, request in enumerate(run.requests, 1):
                rows.append((scenario.module.rsplit('.', 1)[1] if index == 1 else '', which if index == 1 else '',
                             index, request[0], '`%s`' % request[1], '`%s`' % request[2] if request[2] else ''))
    for label, which, requests in extra:
        for index, request in enumerate(requests, 1):
            rows.append((label if index == 1 else '', which if index == 1 else '', index, request[0],
                         '`%s`' % request[1], '`%s`' % request[2] if request[2] else ''))
    return table(('module', 'run', '#', 'method', 'path', 'query'), rows, 'llrlll')


def readme_table(reps, ovirt_measured):
    def count(key, which):
        runs = [rep[key, which] for rep in reps if (key, which) in rep]
        return str(len(runs[0].requests)) if runs and not runs[0].failed else '-'

    rows = [('`vmpayload.core.vm_payload`, NoCloud seed on a down VM', count('seed', 'first'), count('seed', 'second')),
            ('`vmpayload.core.vm_payload`, `state: absent`', count('absent', 'first'), count('absent', 'second')),
            ('`vmpayload.core.vm_run_once_payload` (second run: VM up)', count('once', 'first'),
             count('once', 'second')),
            ('`vmpayload.core.vm_payload_info`', count('info', 'first'), '-')]
    if ovirt_measured:
        rows.append(('`ovirt.ovirt.ovirt_vm`, description (no payload support)', count('ovirt_vm', 'first'),
                     count('ovirt_vm', 'second')))
    rows.append(('`ovirt.ovirt.ovirt_vm`, read from its source, not run', str(len(READ_FROM_SOURCE['first'])),
                 str(len(READ_FROM_SOURCE['second']))))
    return table(('module, task', 'first run', 'second run'), rows, 'lrr')


def versions(ovirt_description):
    found = []
    for name, argv in (('ansible-core', [os.path.join(VENV_BIN, 'ansible'), '--version']),):
        try:
            output = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            output = ''
        found.append((name, output.splitlines()[0] if output else 'not found'))
    try:
        import ovirtsdk4.version  # pylint: disable=import-outside-toplevel
        found.append(('ovirt-engine-sdk-python', ovirtsdk4.version.VERSION))
    except ImportError:
        found.append(('ovirt-engine-sdk-python', 'not found'))
    found.append(('ovirt.ovirt', ovirt_description))
    return found


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--reps', type=int, default=int(os.environ.get('VMPAYLOAD_BENCH_REPS', 3)),
                        help='repetitions, each with fresh engines (default 3, or $VMPAYLOAD_BENCH_REPS)')
    parser.add_argument('--ansible-release', default=ovirt_collection.ANSIBLE_RELEASE,
                        help='the ansible package release on PyPI to take ovirt.ovirt from (default %s)'
                        % ovirt_collection.ANSIBLE_RELEASE)
    parser.add_argument('--ovirt-collections', default=None,
                        help='a collections directory that holds ansible_collections/ovirt/ovirt (no download)')
    parser.add_argument('--no-ovirt-vm', action='store_true', help='do not run ovirt.ovirt.ovirt_vm')
    parser.add_argument('--results', default=DEFAULT_RESULTS, help='Markdown report path')
    parser.add_argument('--keep', action='store_true', help='keep the temporary directory (playbooks, logs)')
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error('--reps must be at least 1')
    return args


def main(argv):
    args = parse_args(argv)
    started = time.perf_counter()
    report = Report()
    workdir = tempfile.mkdtemp(prefix='vmpayload-ovirt-requests-')
    try:
        if args.no_ovirt_vm:
            ovirt_root, ovirt_description = None, 'not run (--no-ovirt-vm)'
        else:
            ovirt_root, ovirt_description = find_ovirt_collection(args, report)
            if ovirt_root is None:
                ovirt_description = 'not installed, and it cannot be installed here: %s' % ovirt_description
        ansible = Ansible(workdir, ovirt_root)
        reps, problems, probe = [], [], None
        for number in range(1, args.reps + 1):
            report.progress('Repetition %d of %d' % (number, args.reps))
            results, seen, found = repetition(number, ansible, workdir, ovirt_root)
            reps.append(results)
            problems.extend(seen)
            probe = probe or found
        ovirt_vm = reps[0].get(('ovirt_vm', 'first'))
        ovirt_measured = ovirt_vm is not None and not ovirt_vm.failed
        measured = [scenario for scenario in SCENARIOS if scenario.ours or ovirt_measured]
        ours = [scenario for scenario in SCENARIOS if scenario.ours]
        varied = sorted({'%s %s' % (key, which) for rep in reps for (key, which), run in rep.items()
                         if run.requests != reps[0][key, which].requests})

        report.emit('# oVirt engine requests per run: vmpayload.core against ovirt.ovirt.ovirt_vm',
                    machine_description(workdir), code_description(),
                    'Versions: ' + '; '.join('%s: %s' % item for item in versions(ovirt_description)) + '.',
                    'Engine: the local oVirt engine of the unit tests (tests/unit/ovirt_engine.py) over HTTPS on '
                    '127.0.0.1, the login from OVIRT_URL, OVIRT_USERNAME, OVIRT_PASSWORD, OVIRT_CAFILE; each run is '
                    'one whole `ansible-playbook` process with one task. %d repetition(s), each with fresh engines.'
                    % args.reps)
        report.emit('## Requests per run',
                    'requests = every HTTP request the engine received during the run (API + SSO); SSO = the '
                    'token and the logout; writes = PUT and POST actions; time = the whole ansible-playbook '
                    'process, minimum and median of the repetitions. '
                    + ('Every repetition made the same requests.' if not varied else
                       'Requests varied between repetitions in: %s.' % ', '.join(varied)),
                    summary_table(reps, measured))
        ovirt_notes = ['ovirt.ovirt.ovirt_vm cannot set a payload: ovirt.ovirt has no payload support at all, so the '
                       'closest it comes to the same change is an update of one plain field of the same down VM, '
                       'its description (`name: web1`, `description: ...`, `auth: {}` from the same environment).']
        if ovirt_root is None:
            ovirt_notes.append('**ovirt_vm was not run here**: %s. Its requests below are **read from its source, '
                               'not run** (oVirt/ovirt-ansible-collection @ 827dcc9b, `ovirt_vm.py` main() '
                               'L2698-2735 and `module_utils/ovirt.py` BaseModule.create L605-709).'
                               % ovirt_description)
        else:
            if probe is not None:
                ovirt_notes.append(
                    'Against the test engine as it is, ovirt_vm %s (requests: %s). The test engine answers only '
                    'what this collection asks: its VMs have no `<cpu>`, `<cluster>` link or `<description>`, and it '
                    'has no /clusters/{id}, /templates or /vms/{id}/numanodes (404). ovirt_vm therefore ran '
                    'against `OvirtVmEngine`, the test engine plus those, answered as plainly as they can be '
                    '(cluster Default, no templates, no NUMA nodes); it adds no request.'
                    % ('fails: `%s`' % probe.failed if probe.failed else 'ran without failing',
                       ', '.join(_request_text(request) for request in probe.requests)))
            if not ovirt_measured:
                ovirt_notes.append('**ovirt_vm failed here** even so: `%s`. Its requests below are **read from '
                                   'its source, not run**.' % (ovirt_vm.failed if ovirt_vm else 'it did not run'))
            else:
                made = [reps[0]['ovirt_vm', which].requests for which in RUNS]
                numanodes_only = made == [_numanodes_twice(READ_FROM_SOURCE[which]) for which in RUNS]
                why = ('; the difference is all in /vms/{id}/numanodes, which ovirt_vm lists twice each time '
                       '(`__attach_numa_nodes` lists the NUMA nodes before and again after adding none) while the '
                       'reading counted one list' if numanodes_only else '; the sequences below show where they differ')
                ovirt_notes.append('Read from its source (research, not run), ovirt_vm would make %d requests on '
                                   'the first run and %d on the second; it made %d and %d here%s.'
                                   % (len(READ_FROM_SOURCE['first']), len(READ_FROM_SOURCE['second']),
                                      len(made[0]), len(made[1]), why))
        report.emit('## ovirt.ovirt.ovirt_vm', *ovirt_notes)
        extra = [] if ovirt_measured else [('ovirt_vm (read from source, not run)', which, READ_FROM_SOURCE[which])
                                           for which in RUNS]
        report.emit('## The requests, in order (first repetition)',
                    'Paths are under /ovirt-engine/api, except the SSO token (/ovirt-engine/sso/oauth/token) and '
                    'logout (/ovirt-engine/services/sso-logout); {id} is the VM\'s id. The SDK sends all_content '
                    'also as the All-Content header.',
                    sequence_table(reps, measured, extra))
        report.emit('## For benchmarks/README.md', readme_table(reps, ovirt_measured))
        idle = reps[0]['seed', 'second'].requests
        least = [('POST', '/sso/oauth/token'), ('GET', '/vms'), ('POST', '/services/sso-logout')]
        minimal = [request[:2] for request in idle] == least
        lines = ['%s  vm_payload\'s second (idempotent) run makes %d requests: %s'
                 % ('PASS' if minimal else 'MISS', len(idle), ', '.join(_request_text(request) for request in idle))]
        for scenario in ours:
            if 'second' in scenario.runs:
                second = reps[0][scenario.key, 'second']
                _sso, writes = _kinds(second.requests)
                lines.append('%s  %s (%s): the second run changes and writes nothing (%s)' % (
                    'PASS' if not writes and second.changed == 0 else 'MISS', scenario.module, scenario.what,
                    ', '.join(_request_text(request) for request in writes) or 'no PUT, no action'))
        lines += ['MISS  %s' % problem for problem in dict.fromkeys(problems)]
        report.emit('## Checks', '\n'.join('    ' + line for line in lines),
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
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchmarkError as exc:
        sys.exit('ovirt_requests benchmark failed: %s' % exc)
