# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Every pytest run under tests/ (``make test``, ``make unit``, ``ansible-test units``): a skipped test fails
the run unless tests/skips-allowed.txt lists it with the reason the skip is acceptable.

A test that cannot run where CI runs must say so by failing; a skip passes silently, so it is for the few
cases written down in the list. The units gate (tests/ecosystem/test_units.py) checks ansible-test's skip
summary against the same list, in case this file was not loaded there.
"""

from __future__ import annotations

import os
import sys

import pytest

# ansible-test imports this file as a package module: put tests/ on sys.path for skip_gate (and for the units gate).
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from skip_gate import ALLOWED_SKIPS, CHECKOUT, FORMAT, load_allowed_skips, skip_is_allowed, skip_reason  # noqa: E402


def checkout_node_id(config, node_id):
    """``node_id`` with its path made relative to the checkout (pytest makes it relative to its rootdir)."""
    path, separator, rest = node_id.partition('::')
    relative = os.path.relpath(os.path.join(str(config.rootpath), path), str(CHECKOUT)).replace(os.sep, '/')
    return relative + separator + rest


class SkipGate:
    """Collects skips (of tests and of whole modules) and fails the session on one the list does not hold."""

    def __init__(self, config):
        self.config = config
        self.entries = load_allowed_skips()
        self.unlisted = []

    def _record(self, report):
        if not report.skipped or hasattr(report, 'wasxfail'):
            return
        node_id, reason = checkout_node_id(self.config, report.nodeid), skip_reason(report)
        if not skip_is_allowed(self.entries, node_id, reason):
            self.unlisted.append((node_id, reason))

    def pytest_runtest_logreport(self, report):
        self._record(report)

    def pytest_collectreport(self, report):
        self._record(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        if self.unlisted and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter):
        if self.unlisted:
            terminalreporter.section('skips not on %s' % os.path.relpath(str(ALLOWED_SKIPS), str(CHECKOUT)), red=True)
            for node_id, reason in self.unlisted:
                terminalreporter.line('UNLISTED SKIP %s: %s' % (node_id, reason), red=True)
            terminalreporter.line('A skip fails the run: make the test fail instead, or add "%s" to the list.' % FORMAT)


def pytest_configure(config):
    # With pytest-xdist (ansible-test units) the controller sees every report: gate there, not in the workers.
    if not hasattr(config, 'workerinput'):
        config.pluginmanager.register(SkipGate(config), 'vmpayload-skip-gate')
