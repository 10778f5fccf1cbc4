# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: ``ansible-test sanity``, every test that applies, on this machine's Python."""

from __future__ import annotations

import sys

from ecosystem_tools import run_tool

CONTROLLER_PYTHON = '%d.%d' % sys.version_info[:2]


def test_ansible_test_sanity(ansible_test_tree, ansible_test_environment):
    # --local: no containers here. No --skip-test: a test that finds nothing to check says so itself.
    run_tool(['ansible-test', 'sanity', '--local', '--python', CONTROLLER_PYTHON, '--color', 'no'],
             ansible_test_tree, ansible_test_environment)
