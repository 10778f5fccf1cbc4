# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A clone against the real libvirtd: it uses its original's payload volume until it gets its own.

The clone is made as cloning tools make one for a read-only drive: the original's definition with
a new name and UUID, its payload drive and metadata record kept. No volume a domain uses is ever
deleted, by the original's runs or by ``prune_orphans``, whichever VM the volume's name is for.
"""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import libvirt
import pytest
from fault_helpers import POOL, POOL_PATH, run_play


@pytest.fixture
def domains(conn):
    """The original, and its clone (made by the test); both removed with their volumes afterwards."""
    made = {}
    name = 'vmp-original-%s' % uuid.uuid4().hex[:8]
    made['original'] = conn.defineXML(
        "<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64' machine='pc'>hvm</type></os><features><acpi/></features>"
        "<devices/></domain>" % name)
    uuids = [made['original'].UUIDString()]
    yield made, uuids
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    for dom in made.values():
        try:
            conn.lookupByUUIDString(dom.UUIDString()).undefine()
        except libvirt.libvirtError:
            pass
    for volume in pool.listVolumes():
        if any(volume.startswith('vmpayload-%s-' % domain_uuid) for domain_uuid in uuids):
            pool.storageVolLookupByName(volume).delete(0)


def _clone(conn, original):
    definition = ElementTree.fromstring(original.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    definition.find('name').text = original.name().replace('original', 'clone')
    definition.remove(definition.find('uuid'))
    return conn.defineXML(ElementTree.tostring(definition, encoding='unicode'))


def _play(tmp_path, tasks):
    return run_play(tmp_path, tasks, uuid.uuid4().hex[:6])[0]


def _payload(name, text):
    return {'vmpayload.core.vm_payload': {'name': name, 'pool': POOL, 'files': [{'name': 'who.txt', 'content': text}]}}


def _volumes(conn, domain_uuid):
    pool = conn.storagePoolLookupByName(POOL)
    pool.refresh(0)
    return sorted(v for v in pool.listVolumes() if v.startswith('vmpayload-%s-' % domain_uuid))


def _prune():
    return {'vmpayload.core.payload_pool': {'name': POOL, 'path': str(POOL_PATH), 'prune_orphans': True}}


def test_a_clone_keeps_its_originals_volume_until_it_gets_its_own(conn, domains, tmp_path):
    made, uuids = domains
    original = made['original']
    first, = _play(tmp_path, [_payload(original.name(), 'original')])
    shared = first['volume']
    made['clone'] = clone = _clone(conn, original)
    uuids.append(clone.UUIDString())

    info, = _play(tmp_path, [{'vmpayload.core.vm_payload_info': {'name': clone.name(), 'pool': POOL}}])
    assert (info['availability'], info['volume']) == ('permanent', shared)
    assert original.UUIDString() in info['msg'] and 'clone' in info['msg']

    # The original moves on: its old volume stays, as the clone still uses it.
    moved, = _play(tmp_path, [_payload(original.name(), 'original, second payload')])
    assert moved['changed'] and shared not in moved['removed_volumes']
    assert shared in _volumes(conn, original.UUIDString())

    # The original is undefined without state: absent; prune_orphans takes only what nobody uses.
    original.undefine()
    pruned, = _play(tmp_path, [_prune()])
    assert pruned['removed_volumes'] == [moved['volume']]
    assert _volumes(conn, original.UUIDString()) == [shared]

    own, again, info = _play(tmp_path, [_payload(clone.name(), 'original'), _payload(clone.name(), 'original'),
                                        {'vmpayload.core.vm_payload_info': {'name': clone.name(), 'pool': POOL}}])
    assert (own['changed'], again['changed']) == (True, False)
    assert own['volume'].startswith('vmpayload-%s-' % clone.UUIDString()) and 'msg' not in info
    assert _volumes(conn, clone.UUIDString()) == [own['volume']]
    pruned, = _play(tmp_path, [_prune()])
    assert pruned['removed_volumes'] == [shared]
