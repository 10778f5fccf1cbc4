# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Requirements and execution-environment gate.

Building the image needs podman or docker and the network, so it is not done here. What is done is
everything up to it, offline: the collection artifact, `ansible-builder create` for the build context,
then the two steps of the image build that decide what goes into it, run as the Containerfile runs them
but on this machine: the galaxy stage's `ansible-galaxy collection install -r requirements.yml` (the
collection comes from the artifact in the context, so no Galaxy server is asked), and the builder stage's
introspect.py, which collects the Python and system requirements of the installed collections. bindep.txt
is then evaluated for the platforms it names.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from bindep.depends import Depends

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# bindep's platform profiles, as it detects them on each system.
FEDORA = ['platform:fedora', 'platform:fedora-42', 'platform:redhat', 'platform:rpm', 'platform:python3']
RHEL = ['platform:rhel', 'platform:rhel-9', 'platform:redhat', 'platform:rpm', 'platform:python3']
DEBIAN = ['platform:debian', 'platform:debian-12', 'platform:dpkg', 'platform:python3']
UBUNTU = ['platform:ubuntu', 'platform:ubuntu-24.04', 'platform:dpkg', 'platform:python3']

# What the modules need where they run (libvirt's client library, ssh for qemu+ssh URIs), and what pip
# needs to build libvirt-python, the oVirt SDK (libxml2) and pycurl (libcurl, OpenSSL), which must stay out
# of the image's final stage.
RUNTIME = {'rpm': {'libvirt-libs', 'openssh-clients'}, 'dpkg': {'libvirt0', 'openssh-client'}}
COMPILE = {'rpm': {'gcc', 'pkgconf-pkg-config', 'libvirt-devel', 'python3-devel',
                   'libxml2-devel', 'libcurl-devel', 'openssl-devel'},
           'dpkg': {'gcc', 'pkg-config', 'libvirt-dev', 'python3-dev',
                    'libxml2-dev', 'libcurl4-openssl-dev', 'libssl-dev'}}
IMAGE_READERS = {'rpm': {'genisoimage', 'xorriso', 'bsdtar', 'dosfstools', 'mtools'},
                 'dpkg': {'genisoimage', 'xorriso', 'libarchive-tools', 'dosfstools', 'mtools'}}


def tool_env(**overrides):
    """The project's venv first on PATH, the collection on the collections path; `overrides` replace variables,
    and a None value removes one."""
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get('PATH', '')]))
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(REPO / '.build' / 'collections'))
    env.update(overrides)
    return {name: value for name, value in env.items() if value is not None}


def run_tool(command, cwd=None, **env_overrides):
    """Run a tool; on failure the assertion message is the tool's own output."""
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=tool_env(**env_overrides),
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, '%s exited %d\n%s\n%s' % (
        ' '.join(map(str, command)), result.returncode, result.stdout, result.stderr)
    return result


def packages(bindep_text, platform, profile):
    """The packages bindep selects for a platform and a profile ('default' when none is asked for)."""
    depends = Depends(bindep_text)
    return {rule[0] for rule in depends.active_rules(platform + [profile])}


def requirement_names(text):
    return {re.split(r'[<>=!~;\[ ]', line.strip(), maxsplit=1)[0].lower()
            for line in text.splitlines() if line.strip() and not line.strip().startswith('#')}


def test_collection_metadata_points_at_the_requirement_files():
    metadata = yaml.safe_load((REPO / 'meta' / 'execution-environment.yml').read_text(encoding='utf-8'))
    assert metadata['version'] == 1
    assert metadata['dependencies'] == {'python': 'requirements.txt', 'system': 'bindep.txt'}
    for path in metadata['dependencies'].values():
        assert (REPO / path).is_file(), path


def test_build_context_installs_the_collection_with_its_requirements(tmp_path):
    version = yaml.safe_load((REPO / 'galaxy.yml').read_text(encoding='utf-8'))['version']
    artifact_name = 'vmpayload-core-%s.tar.gz' % version
    definition = yaml.safe_load((REPO / 'execution-environment.yml').read_text(encoding='utf-8'))
    assert definition['version'] == 3
    assert definition['dependencies']['galaxy']['collections'] == [
        {'name': 'collections/' + artifact_name, 'type': 'file'}], 'the definition must install galaxy.yml\'s version'

    # The definition with the artifact beside it, as `ansible-galaxy collection build` leaves them in a checkout.
    shutil.copy(REPO / 'execution-environment.yml', tmp_path)
    run_tool([VENV_BIN / 'ansible-galaxy', 'collection', 'build', '--output-path', tmp_path, REPO])
    context = tmp_path / 'context'
    run_tool([VENV_BIN / 'ansible-builder', 'create', '--file', tmp_path / 'execution-environment.yml',
              '--context', context, '--output-filename', 'Containerfile'])

    containerfile = (context / 'Containerfile').read_text(encoding='utf-8')
    assert 'ansible-galaxy collection install' in containerfile
    assert 'introspect.py introspect' in containerfile
    assert (context / '_build' / 'collections' / artifact_name).is_file()

    # The galaxy stage, offline: the collection comes from the artifact in the context. Nothing is installed
    # yet, as in the image: the checkout's collection (on the collections path and, from the Makefile, on
    # PYTHONPATH) must not count as installed.
    collections = tmp_path / 'usr-share-ansible' / 'collections'
    run_tool([VENV_BIN / 'ansible-galaxy', 'collection', 'install', '-r', 'requirements.yml',
              '--collections-path', collections], cwd=context / '_build',
             ANSIBLE_COLLECTIONS_PATH=str(collections), PYTHONPATH=None)
    assert (collections / 'ansible_collections' / 'vmpayload' / 'core' / 'meta' / 'execution-environment.yml').is_file()

    # The builder stage's introspection, with the script the context carries.
    pip_out, bindep_out = tmp_path / 'requirements.txt', tmp_path / 'bindep.txt'
    run_tool([sys.executable, context / '_build' / 'scripts' / 'introspect.py', 'introspect',
              '--write-pip=%s' % pip_out, '--write-bindep=%s' % bindep_out, collections])
    collection_requirements = requirement_names((REPO / 'requirements.txt').read_text(encoding='utf-8'))
    assert {'pycdlib', 'pyfatfs', 'libvirt-python', 'ovirt-engine-sdk-python'} <= collection_requirements
    assert collection_requirements <= requirement_names(pip_out.read_text(encoding='utf-8'))

    # What the image's stages install from it: assemble runs `bindep -b compile` in the builder stage,
    # install-from-bindep the default profile in the final one.
    system_requirements = bindep_out.read_text(encoding='utf-8')
    image_runtime = packages(system_requirements, FEDORA, 'default')
    assert RUNTIME['rpm'] <= image_runtime
    assert COMPILE['rpm'] & image_runtime == set()
    assert COMPILE['rpm'] <= packages(system_requirements, FEDORA, 'compile')


def test_bindep_names_packages_per_platform():
    bindep_text = (REPO / 'bindep.txt').read_text(encoding='utf-8')
    for family, other, platforms in (('rpm', 'dpkg', (FEDORA, RHEL)), ('dpkg', 'rpm', (DEBIAN, UBUNTU))):
        other_names = (RUNTIME[other] | COMPILE[other]) - (RUNTIME[family] | COMPILE[family])
        for platform in platforms:
            runtime = packages(bindep_text, platform, 'default')
            compile_time = packages(bindep_text, platform, 'compile')
            test = packages(bindep_text, platform, 'test')
            assert runtime == RUNTIME[family], platform
            assert COMPILE[family] <= compile_time, platform
            assert (COMPILE[family] | IMAGE_READERS[family]) <= test, platform
            assert other_names.isdisjoint(runtime | compile_time | test), platform


def test_bindep_debian_names_exist_and_make_deps_installed_them():
    """Every Debian name is a package Debian knows, and `bindep -b test` (what `make deps` installs) finds
    nothing missing on this machine."""
    bindep_text = (REPO / 'bindep.txt').read_text(encoding='utf-8')
    names = set().union(*(packages(bindep_text, DEBIAN, profile) for profile in ('default', 'compile', 'test')))
    run_tool(['apt-cache', 'show', '--no-all-versions'] + sorted(names))
    missing = subprocess.run([VENV_BIN / 'bindep', '-b', 'test'], cwd=REPO, capture_output=True, text=True,
                             check=False)
    assert missing.returncode == 0, 'bindep -b test lists missing packages:\n' + missing.stdout + missing.stderr
