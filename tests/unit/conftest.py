# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared set-up of the unit tests: the ``readers`` helpers on sys.path, and mtools' checks on."""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# Our images must pass mtools with its sanity checks on: never inherit a skip from the caller.
os.environ.pop('MTOOLS_SKIP_CHECK', None)


@pytest.fixture(scope='session')
def image_readers():
    """The independent readers; a missing one fails the test (it is never silently skipped)."""
    import readers

    missing = readers.missing_tools()
    if missing:
        pytest.fail('independent image readers not installed: %s (see bindep.txt)' % ', '.join(missing))
    return readers
