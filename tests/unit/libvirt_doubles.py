# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""libvirt's test driver set up for the libvirt backend, and what that driver cannot show (a managed save image)."""

from __future__ import annotations

import contextlib

import libvirt

from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend
from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_pool import LibvirtPools

POOL = 'vmpayload'
POOL_PATH = '/srv/vmpayload/pool'


@contextlib.contextmanager
def backend_on_test_driver(tmp_path):
    """A LibvirtBackend on a fresh test-driver host whose payload pool ``POOL`` (at ``POOL_PATH``) is active."""
    node = tmp_path / 'node.xml'
    node.write_text('<node/>')
    uri = 'test://%s' % node
    pools = LibvirtPools(libvirt.open(uri), uri)
    try:
        pools.ensure_present(POOL, POOL_PATH, ('0750', 0, 0), True, False)
        backend = LibvirtBackend(uri, POOL)
        # The test driver keeps its state per connection: the backend works on the one the pool was made on.
        backend.conn.close()
        backend.conn = pools.conn
        yield backend
    finally:
        pools.close()


class SavedWith:
    """A domain whose managed save image holds ``saved_xml``; everything else is the wrapped domain's."""

    def __init__(self, domain, saved_xml):
        self.domain, self.saved_xml = domain, saved_xml

    def __getattr__(self, name):
        return getattr(self.domain, name)

    def hasManagedSaveImage(self, flags):
        return 1

    def managedSaveGetXMLDesc(self, flags):
        return self.saved_xml
