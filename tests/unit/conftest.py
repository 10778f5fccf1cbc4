# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared set-up of the unit tests: the ``readers`` helpers on sys.path, and mtools' checks on."""

from __future__ import annotations

import os
import stat
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


# /proc/sys entries of mode 0200: the kernel checks a sysctl's mode bits for every user (root's
# CAP_DAC_OVERRIDE does not apply there), so opening one to read fails with EACCES even for root.
WRITE_ONLY_SYSCTLS = ('/proc/sys/net/ipv4/route/flush', '/proc/sys/vm/compact_memory', '/proc/sys/vm/drop_caches')


@pytest.fixture(scope='session')
def src_nobody_can_read():
    """A regular file that open() refuses to read for any user, root included (CI runs as root)."""
    for path in WRITE_ONLY_SYSCTLS:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o200:
            try:
                with open(path, 'rb'):
                    pass
            except PermissionError:
                return path
    pytest.fail('none of %s is a write-only file this user cannot open to read' % ', '.join(WRITE_ONLY_SYSCTLS))
