# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fixtures shared by the integration tests that stage payloads in the system libvirtd's payload pool."""

from __future__ import annotations

import pytest
from fault_helpers import active_pool, connect


@pytest.fixture
def conn():
    """A read-write connection to the system libvirtd, with the payload pool active (a module may define its own)."""
    connection = connect()
    active_pool(connection)
    yield connection
    connection.close()
