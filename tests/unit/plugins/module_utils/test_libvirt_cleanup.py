# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""cleanup_volumes against libvirt's test driver: the host is scanned only for a volume the VM no longer names.

Every run of vm_payload, and each VM of vm_payloads, tidies the VM's old volumes. Reading every domain of the
host for a volume the VM itself names made that O(VMs) per VM, O(VMs²) for a fleet (benchmarks/README.md).
"""

from __future__ import annotations

import pytest
from libvirt_doubles import backend_on_test_driver

from ansible_collections.vmpayload.core.plugins.module_utils._backends import libvirt as backend_module

DISK = "<disk type='volume' device='cdrom'><source pool='vmpayload' volume='%s'/><target dev='%s' bus='ide'/></disk>"
DOMAIN = ("<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os>"
          "<devices>%s</devices></domain>")


@pytest.fixture
def backend(tmp_path, monkeypatch):
    with backend_on_test_driver(tmp_path) as made:
        made.scanned = []
        scan = backend_module.volumes_domains_use

        def counted(conn, pool):
            made.scanned.append(True)
            return scan(conn, pool)

        monkeypatch.setattr(backend_module, 'volumes_domains_use', counted)
        yield made


def _volume(conn, name):
    conn.storagePoolLookupByName('vmpayload').createXML(
        "<volume><name>%s</name><capacity unit='KiB'>4</capacity></volume>" % name, 0)
    return name


def test_the_host_is_scanned_only_for_volumes_the_vm_no_longer_names(backend):
    conn = backend.conn
    vm = conn.defineXML(DOMAIN % ('web1', ''))
    uuid = vm.UUIDString()
    current, snapped, cloned, old = (_volume(conn, 'vmpayload-%s-%s.iso' % (uuid, digest))
                                     for digest in ('0' * 16, '1' * 16, '2' * 16, '3' * 16))
    vm = conn.defineXML(DOMAIN.replace('<name>', '<uuid>%s</uuid><name>' % uuid) % ('web1', DISK % (snapped, 'hdd')))
    vm.snapshotCreateXML('<domainsnapshot><name>before</name></domainsnapshot>', 0)
    vm = conn.defineXML(DOMAIN.replace('<name>', '<uuid>%s</uuid><name>' % uuid) % ('web1', DISK % (current, 'hdd')))
    conn.defineXML(DOMAIN % ('web1-clone', DISK % (cloned, 'hdd')))

    # Its own volume and the one its snapshot names are its own; the clone's and the old one need the scan.
    assert backend.cleanup_volumes(vm) == [old]
    assert len(backend.scanned) == 2
    backend.scanned.clear()
    assert backend.cleanup_volumes(vm) == []
    assert len(backend.scanned) == 1
    assert sorted(conn.storagePoolLookupByName('vmpayload').listVolumes()) == sorted([current, snapped, cloned])


def test_a_vm_that_names_all_its_volumes_costs_no_scan(backend):
    conn = backend.conn
    vm = conn.defineXML(DOMAIN % ('web2', ''))
    current = _volume(conn, 'vmpayload-%s-%s.iso' % (vm.UUIDString(), '4' * 16))
    vm = conn.defineXML(DOMAIN.replace('<name>', '<uuid>%s</uuid><name>' % vm.UUIDString()) % ('web2', DISK % (current, 'hdd')))
    for index in range(20):
        conn.defineXML(DOMAIN % ('other%d' % index, ''))
    assert backend.cleanup_volumes(vm) == [] and backend.scanned == []
