# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the fault suite (test_fault_*.py) shares: running a module as its own process, optionally with a
SIGKILL at a named step (fault_injection/sitecustomize.py), and looking at the result from outside the
module: the pool's volumes, the domain's definitions, and the payload read back from a volume with a reader
nobody here wrote (xorriso, mtools)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import libvirt

ROOT = Path(__file__).resolve().parents[2]
URI = 'qemu:///system'
POOL = 'vmpayload'
POOL_PATH = Path('/var/lib/vmpayload/pool')
NAMESPACE = 'urn:x-vmpayload:payload:1'
FAULT_SHIM = Path(__file__).resolve().parent / 'fault_injection'
MODULE_PACKAGE = 'ansible_collections.vmpayload.core.plugins.modules.'
# The names the libvirt backend gives payload volumes (the pattern is part of the collection's contract).
PAYLOAD_VOLUME = re.compile(r'^vmpayload-(?P<uuid>[0-9a-f-]{36})-(?P<once>once-)?[0-9a-f]{16}\.(?:iso|img)$')


class ModuleRun:
    def __init__(self, completed):
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        try:
            self.result = json.loads(completed.stdout[completed.stdout.index('{'):])
        except ValueError:
            self.result = None

    @property
    def killed(self):
        return self.returncode == -signal.SIGKILL

    def __str__(self):
        return 'rc=%s\nstdout: %s\nstderr: %s' % (self.returncode, self.stdout[-3000:], self.stderr[-3000:])


def module_env(tmpdir, fault=None, **extra):
    """The environment of a module process: TMPDIR its own, the shim first on PYTHONPATH, the collection after."""
    collections = os.environ.get('PYTHONPATH') or str(ROOT / '.build' / 'collections')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FAULT_SHIM), collections]), TMPDIR=str(tmpdir),
               LC_ALL='C.UTF-8')
    env.pop('VMPAYLOAD_FAULT', None)
    if fault:
        env['VMPAYLOAD_FAULT'] = fault
    env.update(extra)
    return env


def run_module(module, args, tmpdir, fault=None, background=False, timeout=300, **extra):
    """Run ``vmpayload.core.<module>`` as Ansible runs a module: its own Python process, arguments as JSON on stdin."""
    command = [sys.executable, '-m', MODULE_PACKAGE + module]
    stdin = json.dumps({'ANSIBLE_MODULE_ARGS': args})
    env = module_env(tmpdir, fault, **extra)
    if background:
        process = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        process.stdin.write(stdin)
        process.stdin.close()
        return process
    return ModuleRun(subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
                                    check=False))


def finish(process, timeout=300):
    """The ModuleRun of a process started with ``run_module(..., background=True)``."""
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    process.wait(timeout=timeout)
    return ModuleRun(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))


def payload_volumes(conn, domain_uuid, pool=POOL):
    """The payload volumes of this domain in the pool (refreshed: the release hook deletes behind libvirt's back)."""
    storage = conn.storagePoolLookupByName(pool)
    storage.refresh(0)
    return sorted(name for name in storage.listVolumes()
                  if PAYLOAD_VOLUME.match(name) and PAYLOAD_VOLUME.match(name).group('uuid') == domain_uuid)


def domain_xml(conn, domain_uuid, inactive=True):
    flags = libvirt.VIR_DOMAIN_XML_SECURE | (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)
    return conn.lookupByUUIDString(domain_uuid).XMLDesc(flags)


def pool_volume(disk, pool=POOL, pool_path=POOL_PATH):
    """The volume of the pool a disk element holds, named by pool and volume or by its path in the pool's directory."""
    source = disk.find('source')
    if source is None:
        return None
    if source.get('pool') == pool and source.get('volume'):
        return source.get('volume')
    path = source.get('file')
    return os.path.basename(path) if path and Path(path).parent == Path(pool_path) else None


def pool_disks(definition, pool=POOL, pool_path=POOL_PATH):
    """{target dev: volume} of the disks of a definition (text) that hold a volume of the pool."""
    root = ElementTree.fromstring(definition)
    disks = {}
    for disk in root.findall('devices/disk'):
        volume = pool_volume(disk, pool, pool_path)
        if volume:
            disks[disk.find('target').get('dev')] = volume
    return disks


def record_of(definition):
    """The payload record element of a definition (text), or None."""
    return ElementTree.fromstring(definition).find('metadata/{%s}payload' % NAMESPACE)


def without_payload(definition, pool=POOL, pool_path=POOL_PATH):
    """A definition (text) with the payload's disks and record taken out, as canonical text: what else it says."""
    root = ElementTree.fromstring(definition)
    devices = root.find('devices')
    for disk in list(root.findall('devices/disk')):
        if pool_volume(disk, pool, pool_path):
            devices.remove(disk)
    metadata = root.find('metadata')
    if metadata is not None:
        for record in metadata.findall('{%s}payload' % NAMESPACE):
            metadata.remove(record)
        if len(metadata) == 0:
            root.remove(metadata)
    # Addresses and aliases libvirt gives devices may move when a disk comes and goes.
    for parent in root.iter():
        for child in list(parent):
            if child.tag in ('address', 'alias'):
                parent.remove(child)
    return ElementTree.canonicalize(ElementTree.tostring(root, encoding='unicode'), strip_text=True)


def download(conn, volume_name, dest, pool=POOL):
    """Read a volume back through libvirt's stream API into ``dest``."""
    volume = conn.storagePoolLookupByName(pool).storageVolLookupByName(volume_name)
    stream = conn.newStream(0)
    volume.download(stream, 0, volume.info()[1], 0)
    with open(dest, 'wb') as target:
        stream.recvAll(lambda _stream, data, handle: handle.write(data), target)
    stream.finish()
    return dest


def iso_files(image, workdir):
    """{path: bytes} of the files in an ISO image, as xorriso extracts them (Rock Ridge names)."""
    out = Path(workdir) / 'extracted'
    subprocess.run(['xorriso', '-osirrox', 'on', '-indev', str(image), '-extract', '/', str(out)],
                   check=True, capture_output=True, timeout=120)
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob('*')) if path.is_file()}


def fat_files(image, workdir):
    """{path: bytes} of the files in a FAT image, as mtools copies them out (VFAT long names)."""
    out = Path(workdir) / 'extracted'
    out.mkdir()
    subprocess.run(['mcopy', '-s', '-n', '-i', str(image), '::/', str(out)], check=True, capture_output=True,
                   timeout=120, env=dict(os.environ, MTOOLS_SKIP_CHECK='1'))
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob('*')) if path.is_file()}


def volume_files(conn, volume_name, workdir, pool=POOL):
    """The files a payload volume holds, read back from libvirt (ISO with xorriso, FAT with mtools)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    image = download(conn, volume_name, workdir / 'image', pool)
    try:
        return (fat_files if volume_name.endswith('.img') else iso_files)(image, workdir)
    finally:
        subprocess.run(['rm', '-rf', str(workdir)], check=False)


def leftovers(directory):
    """Everything a run left in its temporary directory (the module's vmpayload-* and Ansible's own)."""
    return sorted(str(path.relative_to(directory)) for path in Path(directory).rglob('*'))


def connect(read_only=False):
    """A connection to the system libvirtd; a test fails (never skips) when it does not run."""
    import pytest  # pylint: disable=import-outside-toplevel  # only the tests that connect need it

    try:
        return libvirt.openReadOnly(URI) if read_only else libvirt.open(URI)
    except libvirt.libvirtError as exc:
        pytest.fail('libvirtd must run for these tests (make test starts it): %s' % exc)


def active_pool(conn, name=POOL, path=POOL_PATH):
    """The payload pool, defined and started when it is not."""
    try:
        pool = conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        os.makedirs(path, exist_ok=True)
        pool = conn.storagePoolDefineXML("<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>"
                                         % (name, path), 0)
    if not pool.isActive():
        pool.create(0)
    return pool


def run_play(playbook_dir, tasks, name, verbose=False, timeout=600):
    """Run ``tasks`` on localhost through ansible-playbook; (each task's registered result, the whole output)."""
    saved, playbook = Path(playbook_dir) / ('%s.json' % name), Path(playbook_dir) / ('%s.yml' % name)
    play = [dict(task, register='result_%d' % index) for index, task in enumerate(tasks)]
    play.append({'ansible.builtin.copy': {'content': '{{ [%s] | to_json }}' % ', '.join(
        'result_%d' % index for index in range(len(tasks))), 'dest': str(saved)}})
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False, 'tasks': play}]))
    completed = subprocess.run([str(Path(sys.executable).with_name('ansible-playbook'))] + (['-vvv'] if verbose else [])
                               + ['-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
                                  str(playbook)],
                               env=dict(os.environ, ANSIBLE_NOCOLOR='1'), capture_output=True, text=True,
                               timeout=timeout, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    return json.loads(saved.read_text()), output
