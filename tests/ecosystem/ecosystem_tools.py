# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the ecosystem gates share: paths, the environment the tools see, and how a tool is run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / '.build'
VENV_BIN = Path(sys.executable).parent
# A hung tool must not hang `make test`; this is a safety net far above any normal run, not a time check.
TOOL_TIMEOUT = 3600

# ansible-test finds the collection by its path, and resolves symbolic links first: it needs a real
# directory named .../ansible_collections/<namespace>/<name>.
ANSIBLE_TEST_ROOT = BUILD / 'ansible-test'
ANSIBLE_TEST_TREE = ANSIBLE_TEST_ROOT / 'ansible_collections' / 'vmpayload' / 'core'
# ansible-test keeps its virtualenvs and download cache under ~/.ansible/test: kept in the build
# directory, so that they survive between runs and nothing lands in the user's home.
ANSIBLE_TEST_HOME = BUILD / 'ansible-test-home'


def tool_environment(**overrides):
    """The caller's environment without the Makefile's pointers to this checkout, plus ``overrides``.

    The Makefile exports PYTHONPATH and ANSIBLE_COLLECTIONS_PATH at a link to the checkout; a gate
    must see only the copy or the install it tests.
    """
    environment = {key: value for key, value in os.environ.items()
                   if key not in ('PYTHONPATH', 'ANSIBLE_COLLECTIONS_PATH', 'ANSIBLE_COLLECTIONS_PATHS')}
    environment.update(PATH=os.pathsep.join((str(VENV_BIN), environment.get('PATH', os.defpath))),
                       ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', PY_COLORS='0', NO_COLOR='1')
    environment.update(overrides)
    return environment


def run_tool(command, cwd, environment):
    """Run a tool; a non-zero exit fails the test with the tool's own output."""
    completed = subprocess.run([str(part) for part in command], cwd=cwd, env=environment, capture_output=True,
                               text=True, timeout=TOOL_TIMEOUT, check=False)
    if completed.returncode != 0:
        pytest.fail('%s exited with %d\n--- stdout ---\n%s\n--- stderr ---\n%s'
                    % (' '.join(str(part) for part in command), completed.returncode, completed.stdout,
                       completed.stderr), pytrace=False)
    return completed


def checkout_files():
    """The files ansible-test itself would look at in this checkout: tracked and untracked-but-not-ignored.

    This is ansible-test's own rule for a git checkout (``git ls-files --cached --others
    --exclude-standard`` minus deleted files), so a new file is checked before it is committed, and
    a build product or a virtualenv never is.
    """
    def listed(*options):
        completed = subprocess.run(['git', 'ls-files', '-z', *options], cwd=ROOT, capture_output=True, check=True)
        return {name for name in completed.stdout.decode('utf-8', 'surrogateescape').split('\0') if name}

    return sorted(listed('--cached', '--others', '--exclude-standard') - listed('--deleted'))


def copy_checkout(tree):
    """A fresh copy of the checkout's files (checkout_files()) at ``tree``, with an empty git repository of its own.

    ansible-test needs a real directory named .../ansible_collections/vmpayload/core, and without a
    repository of its own it walks up to this checkout's, whose .gitignore hides .build.
    """
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name in checkout_files():
        source, copy = ROOT / name, tree / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)
    subprocess.run(['git', 'init', '--quiet', str(tree)], check=True)
    return tree


def ansible_test_pip_version():
    """The pip release ansible-test puts into its virtualenvs (it names the bootstrap script after it)."""
    from ansible_test._internal.python_requirements import get_venv_packages

    class ControllerPython:  # pylint: disable=too-few-public-methods
        version = '%d.%d' % sys.version_info[:2]

    return get_venv_packages(ControllerPython())['pip']
