# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: the Galaxy artifact. Build it, install it into an empty collections path, use it by FQCN.

Only the installed copy is reachable: ANSIBLE_COLLECTIONS_PATH names the empty path alone, PYTHONPATH
is unset, the play lives outside the checkout, and every use asserts where the collection came from.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile

import pytest

from ecosystem_tools import ROOT, checkout_files, run_tool, tool_environment

# The collection is text (code, YAML, docs); 1 MiB leaves room to grow and still catches a stray image
# or virtualenv pulled into the artifact.
MAX_ARTIFACT_BYTES = 1024 * 1024
GALAXY_METADATA = {'MANIFEST.json', 'FILES.json'}
USER_DATA = '#cloud-config\nhostname: artifact-check\n'
META_DATA = 'instance-id: artifact-check\n'


@pytest.fixture(scope='module')
def artifact(tmp_path_factory):
    output = tmp_path_factory.mktemp('dist')
    run_tool(['ansible-galaxy', 'collection', 'build', '--output-path', output, ROOT], ROOT,
             tool_environment(HOME=str(output / 'home')))
    (tarball,) = output.glob('vmpayload-core-*.tar.gz')
    return tarball


@pytest.fixture(scope='module')
def installed(artifact, tmp_path_factory):
    """(environment that sees only the install, the installed collection's directory)."""
    work = tmp_path_factory.mktemp('installed')
    collections = work / 'collections'
    collections.mkdir()
    environment = tool_environment(HOME=str(work / 'home'), ANSIBLE_COLLECTIONS_PATH=str(collections))
    run_tool(['ansible-galaxy', 'collection', 'install', '--offline', '-p', collections, artifact], work, environment)
    return environment, collections / 'ansible_collections' / 'vmpayload' / 'core'


def test_artifact_holds_only_checkout_files_and_is_small(artifact):
    assert artifact.stat().st_size < MAX_ARTIFACT_BYTES, artifact.stat().st_size
    with tarfile.open(artifact) as archive:
        names = {member.name for member in archive.getmembers() if member.isfile()}
    strays = names - GALAXY_METADATA - set(checkout_files())
    assert not strays, 'not files of the checkout (build products?): %s' % sorted(strays)
    assert not [name for name in names if name.startswith(('tests/output/', '.build/', '.venv/'))]
    for needed in ('meta/runtime.yml', 'plugins/modules/payload_image.py', 'roles/payload_staging/tasks/main.yml'):
        assert needed in names


def test_installed_collection_is_the_one_ansible_lists(installed):
    environment, collection = installed
    completed = run_tool(['ansible-galaxy', 'collection', 'list', 'vmpayload.core', '--format', 'json'],
                         collection.parent, environment)
    listed = json.loads(completed.stdout)
    assert list(listed) == [str(collection.parents[1])], listed


def test_ansible_doc_reads_the_installed_module(installed):
    environment, collection = installed
    completed = run_tool(['ansible-doc', '--json', 'vmpayload.core.vm_payload'], collection.parent, environment)
    doc = json.loads(completed.stdout)['vmpayload.core.vm_payload']['doc']
    assert doc['filename'] == str(collection / 'plugins' / 'modules' / 'vm_payload.py')
    assert {'name', 'state', 'files', 'uri'} <= set(doc['options'])


def test_playbook_builds_an_iso_by_fqcn_from_the_install(installed, tmp_path):
    environment, collection = installed
    image = tmp_path / 'seed.iso'
    playbook = tmp_path / 'seed.yml'
    playbook.write_text(json.dumps([{
        'name': 'Build a NoCloud seed with the installed collection',
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [{
            'name': 'Build the seed',
            'vmpayload.core.payload_image': {
                'dest': str(image), 'preset': 'nocloud',
                'files': [{'name': 'user-data', 'content': USER_DATA}, {'name': 'meta-data', 'content': META_DATA}],
            },
        }],
    }]), encoding='utf-8')
    # -vvv names the module file that was sent; it must be the installed one.
    completed = run_tool(['ansible-playbook', '-vvv', '-i', 'localhost,', '-c', 'local',
                          '-e', 'ansible_python_interpreter=%s' % sys.executable, playbook], tmp_path, environment)
    used = set(re.findall(r'^Using module file (\S+)$', completed.stdout, re.M))
    assert used == {str(collection / 'plugins' / 'modules' / 'payload_image.py')}, completed.stdout
    assert re.search(r'^localhost\s*:.*\bchanged=1\b.*\bfailed=0\b', completed.stdout, re.M), completed.stdout

    # An independent reader (isoinfo, from genisoimage) judges the image.
    descriptor = run_tool(['isoinfo', '-d', '-i', image], tmp_path, environment).stdout
    assert re.search(r'^Volume id: cidata$', descriptor, re.M), descriptor
    for name, content in (('user-data', USER_DATA), ('meta-data', META_DATA)):
        extracted = run_tool(['isoinfo', '-R', '-i', image, '-x', '/' + name], tmp_path, environment).stdout
        assert extracted == content
