# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: ``ansible-test sanity``, every test that applies, on this machine's Python."""

from __future__ import annotations

import re
import sys

import yaml
from ansible.release import __version__ as ansible_version

from ecosystem_tools import ROOT, run_tool
from version_matrix import OLDEST, RELEASES

CONTROLLER_PYTHON = '%d.%d' % sys.version_info[:2]
# ansible-test passes a test it could not run (a missing program, no virtualenv) with only a warning.
NOT_RUN = re.compile(r'^WARNING: (?:Skipping sanity test|Required program).*$', re.M)


def test_ansible_test_sanity(ansible_test_tree, ansible_test_environment):
    # --local: no containers here. No --skip-test: a test that finds nothing to check says so itself.
    completed = run_tool(['ansible-test', 'sanity', '--local', '--python', CONTROLLER_PYTHON, '--color', 'no'],
                         ansible_test_tree, ansible_test_environment)
    assert not NOT_RUN.findall(completed.stdout + completed.stderr), completed.stderr


def test_requires_ansible_and_ignore_file_match_the_tested_ansible_core():
    """meta/runtime.yml promises the oldest release of the version matrix (test_version_matrix.py), which holds
    the ansible-core release these gates run with; sanity reads its ignore file."""
    tested = '.'.join(ansible_version.split('.')[:2])
    runtime = yaml.safe_load((ROOT / 'meta' / 'runtime.yml').read_text(encoding='utf-8'))
    assert runtime['requires_ansible'] == '>=%s.0' % OLDEST
    assert tested in RELEASES and RELEASES[tested] is None, tested
    assert (ROOT / 'tests' / 'sanity' / ('ignore-%s.txt' % tested)).is_file()
