# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: the unit tests (tests/unit) run through ``ansible-test units``, as a collection's CI runs them.

This is the one place ``make test`` runs tests/unit: ansible-test imports the collection as
``ansible_collections.vmpayload.core`` from a real collection tree, with its own pytest plugins,
which a plain pytest run over the checkout does not prove. ``make unit`` keeps the quick plain run.

A skip fails the gate unless tests/skips-allowed.txt lists it: ansible-test runs pytest with ``-r a``,
whose short summary names each skip's file and reason. (tests/conftest.py fails such a run already;
this reads what ansible-test printed, so the gate holds even if that conftest was not loaded.)
"""

from __future__ import annotations

import sys

from ecosystem_tools import run_tool
from skip_gate import load_allowed_skips, unlisted_summary_skips  # tests/skip_gate.py: tests/conftest.py puts tests/ on sys.path

CONTROLLER_PYTHON = '%d.%d' % sys.version_info[:2]


def test_ansible_test_units(ansible_test_tree, ansible_test_environment):
    completed = run_tool(['ansible-test', 'units', '--local', '--python', CONTROLLER_PYTHON, '--color', 'no'],
                         ansible_test_tree, ansible_test_environment)
    assert ' passed' in completed.stdout, completed.stdout
    unlisted, counted, listed = unlisted_summary_skips(load_allowed_skips(), completed.stdout)
    assert not unlisted, 'skips not on tests/skips-allowed.txt:\n%s\n%s' % ('\n'.join(unlisted), completed.stdout)
    assert counted == listed, 'pytest counted %d skips, its summary lists %d:\n%s' % (counted, listed, completed.stdout)
