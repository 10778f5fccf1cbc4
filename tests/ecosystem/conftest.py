# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures of the ecosystem gates: the collection laid out for ansible-test, and ansible-test's environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ecosystem_tools import (ANSIBLE_TEST_HOME, ANSIBLE_TEST_ROOT, ANSIBLE_TEST_TREE, ansible_test_pip_version,
                             copy_checkout, tool_environment)


@pytest.fixture(scope='session')
def ansible_test_tree():
    """A fresh copy of the checkout at ANSIBLE_TEST_TREE, laid out as ansible-test needs it.

    The copy gets a git repository of its own (nothing committed): otherwise ansible-test walks up to
    this checkout's repository, whose .gitignore hides .build, and finds no files at all.
    """
    shutil.rmtree(ANSIBLE_TEST_ROOT, ignore_errors=True)
    return copy_checkout(ANSIBLE_TEST_TREE)


@pytest.fixture(scope='session')
def ansible_test_environment():
    """The environment for ``ansible-test --local``: its home in the build directory, pip bootstrapped offline.

    ansible-test builds a virtualenv per sanity test even with --local, and puts pip into each with
    a get-pip.py it downloads from ci-files.testing.ansible.com, a site this machine cannot reach. It
    uses a cached copy first; get_pip_offline.py, placed there, gives the same pip from the package index.
    """
    cache = ANSIBLE_TEST_HOME / '.ansible' / 'test' / 'cache'
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name('get_pip_offline.py'),
                cache / ('get_pip_%s.py' % ansible_test_pip_version().replace('.', '_')))
    return tool_environment(HOME=str(ANSIBLE_TEST_HOME))
