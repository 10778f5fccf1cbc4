# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Floppy images on a Python with the newest setuptools, which has no pkg_resources.

setuptools 82 removed ``pkg_resources``, which PyFilesystem2 (``fs``, a dependency of pyfatfs)
imports on import. The collection does without any setuptools pin because its FAT writer and
reader use pyfatfs's low-level ``PyFat`` only, never pyfatfs's PyFilesystem2 layer (``PyFatFS``).
This proves it: a virtualenv of its own gets the newest setuptools from the package index and the
collection's requirements for pycdlib and pyfatfs; its Python builds a floppy image through the
collection's writer factory and reads it back through the collection's reader (the ``before`` side
of a diff, and what vm_payload_info returns), and neither ``fs`` nor ``pkg_resources`` may have been
imported. fsck.vfat and mtools then judge the image.

The virtualenv lives under .build/ and is reused while it has what requirements.txt asks for and is
less than a day old (then pip looks for a newer setuptools again).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / '.build' / 'collections'
VENV = ROOT / '.build' / 'venv-newest-setuptools'
STAMP = VENV / 'vmpayload-stamp.json'
REFRESH_SECONDS = 24 * 3600
# setuptools 82 is the first release without pkg_resources.
FIRST_SETUPTOOLS_WITHOUT_PKG_RESOURCES = 82
PIP_TIMEOUT = 600

# Run by the virtualenv's Python with the collection importable; prints one JSON document.
BUILD_AND_READ = r'''
import importlib.util
import json
import sys
from importlib.metadata import version

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

image = sys.argv[1]
files = [
    {'name': 'user-data', 'content': '#cloud-config\nhostname: vm1\n'},
    {'name': 'meta-data', 'content': 'instance-id: vm1\n'},
    {'name': 'scripts/\u00fcbersicht of a long name.txt', 'content': 'German\n' * 300},
    {'name': 'empty', 'content': ''},
]
payload = parse_payload(files, device='floppy', label='cidata')
writer_for('floppy').write(payload, image)
listing = read_image(image, with_content=False)
print(json.dumps({
    'setuptools': version('setuptools'),
    'pkg_resources_installed': importlib.util.find_spec('pkg_resources') is not None,
    'imported': sorted(name for name in ('fs', 'pkg_resources') if name in sys.modules),
    'expected': {f.name: f.size for f in payload.files},
    'read_back': {f['name']: f['size'] for f in listing['files']},
    'label': listing['label'],
}))
'''


def _requirements():
    """requirements.txt's lines for the image libraries, as a user installs them."""
    lines = (ROOT / 'requirements.txt').read_text(encoding='utf-8').splitlines()
    wanted = [line.strip() for line in lines if re.match(r'^(pycdlib|pyfatfs)\b', line.strip())]
    assert len(wanted) == 2, 'requirements.txt should name pycdlib and pyfatfs: %s' % wanted
    return wanted


def _python():
    return VENV / 'bin' / 'python'


def _fresh(stamp):
    try:
        recorded = json.loads(STAMP.read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return False
    return (recorded == stamp and _python().exists()
            and time.time() - STAMP.stat().st_mtime < REFRESH_SECONDS)


@pytest.fixture(scope='module')
def venv_python():
    """The virtualenv's Python, made or refreshed under a lock (another run may share .build/)."""
    requirements = _requirements()
    stamp = {'python': sys.version, 'requirements': requirements}
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(str(VENV) + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _fresh(stamp):
            if STAMP.exists():
                STAMP.unlink()
            subprocess.run([sys.executable, '-m', 'venv', '--clear', str(VENV)], check=True, timeout=PIP_TIMEOUT)
            subprocess.run([str(_python()), '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
                            '--upgrade', 'setuptools', *requirements], check=True, timeout=PIP_TIMEOUT)
            STAMP.write_text(json.dumps(stamp), encoding='utf-8')
    return _python()


def _reader_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith('MTOOLS')}
    env.update(LC_ALL='C.UTF-8', LANG='C.UTF-8', TZ='UTC')
    return env


def test_floppy_is_built_and_read_without_pyfilesystem2_or_pkg_resources(venv_python, tmp_path):
    image = tmp_path / 'seed.img'
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), LC_ALL='C.UTF-8')
    # -I is not used: it would drop PYTHONPATH. -s keeps the user's site-packages out.
    result = subprocess.run([str(venv_python), '-s', '-c', BUILD_AND_READ, str(image)], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)

    # The test means something only where setuptools has dropped pkg_resources.
    assert int(report['setuptools'].split('.')[0]) >= FIRST_SETUPTOOLS_WITHOUT_PKG_RESOURCES, report['setuptools']
    assert not report['pkg_resources_installed']
    assert report['imported'] == []
    assert report['read_back'] == report['expected']
    assert report['label'] == 'CIDATA'

    fsck = subprocess.run(['fsck.vfat', '-n', str(image)], capture_output=True, text=True, env=_reader_env(),
                          timeout=60, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    listing = subprocess.run(['mdir', '-/', '-b', '-i', str(image), '::'], capture_output=True, text=True,
                             env=_reader_env(), timeout=60, check=True).stdout
    paths = {line[3:].rstrip('/') for line in listing.splitlines() if line.startswith('::/')}
    assert paths == set(report['expected']) | {'scripts'}
