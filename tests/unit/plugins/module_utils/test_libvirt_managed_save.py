# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A stopped domain with a managed save image resumes from the definition in that image, not its persistent one.

``virsh managedsave`` during a run-once boot leaves a persistent definition without the payload and a save
image with it; ``virsh start`` restores the save image. vm_payload_info reports what the VM resumes with, and
vm_payload says that a new payload reaches it only at its next boot (``restart_required``). libvirt's test
driver does not show a save image's XML, so a wrapper gives it (tests/unit/libvirt_doubles.py); the rest is the
test driver's.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from libvirt_doubles import POOL_PATH, SavedWith, backend_on_test_driver

from ansible_collections.vmpayload.core.plugins.module_utils._backends import libvirt_xml as xml
from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import Vm
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

DOMAIN = "<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os><devices/></domain>"


@pytest.fixture
def backend(tmp_path):
    with backend_on_test_driver(tmp_path) as made:
        yield made


def _payload(text):
    return parse_payload([{'name': 'user-data', 'content': text}, {'name': 'meta-data', 'content': 'instance-id: a\n'}],
                         preset='nocloud')


def _saved(backend, domain, payload, availability):
    """The domain's definition with ``payload`` staged as ``availability`` on its drive hdd, as a save image holds it."""
    vm_id = domain.UUIDString()
    described = backend.describe(payload)
    volume = xml.volume_name(vm_id, described.digest, payload.device, once=availability == 'run-once')
    root = ElementTree.fromstring(domain.XMLDesc(0))
    xml.put_disk(root, xml.disk_xml(payload.device, 'ide', 'hdd', '%s/%s' % (POOL_PATH, volume)))
    xml.put_record(root, xml.payload_record(described, availability, 'vmpayload', volume, 'dedicated', 'hdd'))
    return xml.to_text(root), volume


def test_a_vm_saved_during_its_run_once_boot_reports_the_payload_it_resumes_with(backend):
    domain = backend.conn.defineXML(DOMAIN % 'saved-once')
    saved_xml, volume = _saved(backend, domain, _payload('#cloud-config\n'), 'run-once')
    vm = Vm(name='saved-once', id=domain.UUIDString(), handle=SavedWith(domain, saved_xml))

    resumed = backend.read_record(vm, live=True)
    assert (resumed.availability, resumed.placement['volume']) == ('run-once', volume)
    # What the VM keeps, for the modules that change it, is still its persistent definition.
    assert backend.read_record(vm).availability == 'none'
    # Without a save image, a stopped VM reports what it boots with.
    assert backend.read_record(Vm(name='saved-once', id=domain.UUIDString(), handle=domain), live=True).availability \
        == 'none'


@pytest.mark.parametrize('saved_availability, same_payload, resumes_other', [
    ('permanent', True, False),    # it resumes with this very payload
    ('permanent', False, True),    # with an older one
    ('run-once', True, True),      # with the same files, but as a run-once boot's, gone at its end
    (None, False, True),           # with none
])
def test_placement_says_whether_a_saved_vm_resumes_with_another_payload(
        backend, saved_availability, same_payload, resumes_other):
    domain = backend.conn.defineXML(DOMAIN % 'saved')
    wanted = _payload('#cloud-config\nhostname: new\n')
    if saved_availability is None:
        saved_xml = domain.XMLDesc(0)
    else:
        saved_xml, _volume = _saved(backend, domain, wanted if same_payload else _payload('#cloud-config\n'),
                                    saved_availability)
    vm = Vm(name='saved', id=domain.UUIDString(), handle=SavedWith(domain, saved_xml))
    placement = backend.place(vm, wanted, backend.read_record(vm))
    assert placement.resumes_other is resumes_other
    # A VM without a save image boots from its definition: nothing to resume.
    assert backend.place(Vm(name='saved', id=domain.UUIDString(), handle=domain), wanted,
                         backend.read_record(vm)).resumes_other is False
