#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_payload_info
short_description: Read back a VM's payload
version_added: 0.1.0
description:
  - Reports a VM's payload as oVirt's GetVmPayloadQuery does. It gives the availability (V(permanent),
    V(run-once) or V(none)), device, label, and each file's name, size and digest. A running VM reports what it
    runs with; on libvirt, a stopped VM with a managed save image (C(virsh managedsave)) what that image holds,
    which the VM resumes with at its next start.
  - With O(include_content=true) each file's content is read from the staged image itself, not from the record
    (libvirt), or from the engine (oVirt).
  - On oVirt the engine shows payloads only to users that hold an administrator role. For any other user the module
    reports V(unknown) with RV(msg) saying why, never a false V(none).
  - On libvirt the digests are keyed with the pool's payload digest key (see M(vmpayload.core.vm_payload)), so a digest
    computed elsewhere cannot be compared with them. To audit a VM, give the payload it should have as O(expected);
    the module compares it under the pool's key and reports RV(matches_expected).
author:
  - vmpayload.core contributors (@vmpayload)
extends_documentation_fragment:
  - vmpayload.core.vm
  - vmpayload.core.vm.PLATFORM
  - vmpayload.core.attributes
options:
  include_content:
    description:
      - Also return each file's content, read from the image. Text comes as RV(files[].content), other bytes as
        RV(files[].content_b64).
      - Content is often secret. The whole result is then marked so that Ansible hides it in its output; the
        registered variable still holds it.
    type: bool
    default: false
  expected:
    description:
      - The payload the VM should have, as M(vmpayload.core.vm_payload) takes it. The module reports whether the VM
        carries it (RV(matches_expected)) and its digest under the platform's key (RV(expected_digest)), never its
        content.
      - It is validated as M(vmpayload.core.vm_payload) validates a payload, before anything is connected to; an error
        names the option under C(expected).
    type: dict
    suboptions:
      device:
        description: The payload's device.
        type: str
        choices: [cdrom, floppy]
        default: cdrom
      label:
        description: The volume label.
        type: str
      preset:
        description: The preset the payload was sent with (it sets the label).
        type: str
        choices: [nocloud, configdrive, sysprep]
      files:
        description: The files, each with O(expected.files[].name) and one of the content options.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: The path of the file in the image. Required; a string.
            type: raw
          content:
            description: The content as text (a string). Not logged.
            type: raw
          content_b64:
            description: The content as base64 (a string). Not logged.
            type: raw
          src:
            description: A file on the host where the module runs.
            type: path
      max_content_size:
        description: The largest content, in bytes, a single file may have.
        type: int
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Audit the payload of every VM in the inventory
  vmpayload.core.vm_payload_info:
    name: "{{ inventory_hostname }}"
  delegate_to: "{{ hypervisor }}"
  register: payload

- name: Read the seed back
  vmpayload.core.vm_payload_info:
    name: web1
    include_content: true
  register: seed

- name: Check that a VM carries the payload the inventory says it should
  vmpayload.core.vm_payload_info:
    name: "{{ inventory_hostname }}"
    expected:
      preset: nocloud
      files: "{{ {'meta-data': meta_data, 'user-data': user_data} | vmpayload.core.payload_files }}"
  delegate_to: "{{ hypervisor }}"
  register: audit
  failed_when: not audit.matches_expected

- name: Read an oVirt VM's payload, found by its id
  vmpayload.core.vm_payload_info:
    auth: "{{ ovirt_auth }}"
    id: 3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55
  register: payload
"""

RETURN = r"""
availability:
  description: V(permanent), V(run-once), V(none), or V(unknown) when the platform does not show the payload.
  returned: always
  type: str
  sample: permanent
digest:
  description:
    - The recorded payload digest. On libvirt an HMAC-SHA256 under the pool's payload digest key (RV(digest_key)); on
      oVirt the canonical sha256 digest, as the P(vmpayload.core.payload_digest#filter) filter gives it.
  returned: when there is a payload
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
digest_key:
  description:
    - libvirt. The id of the pool's key the record's digests are keyed with (not the key). Absent from records of
      releases before keyed digests; a record under another pool's key does not match a payload here.
  returned: when the record names one, on libvirt
  type: str
  sample: 5f0c2a7e9b14d3c8
expected_digest:
  description: The digest O(expected) has under the platform's key, as RV(digest) would show it.
  returned: when O(expected) is given
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
matches_expected:
  description: Whether the VM carries O(expected) (permanent or run-once), with the same device and label.
  returned: when O(expected) is given
  type: bool
  sample: true
device:
  description: The payload's device.
  returned: when there is a payload
  type: str
  sample: cdrom
label:
  description: The volume label.
  returned: when there is a payload
  type: str
  sample: cidata
msg:
  description:
    - Why the availability is V(unknown); or, on libvirt, that the record and its volume were copied from another
      domain (a clone), whose payload the VM uses until M(vmpayload.core.vm_payload) gives it its own; or that the
      recorded volume is missing from the pool (C(virsh undefine --remove-all-storage) of a clone that shared it
      deletes it), so that the VM cannot start until M(vmpayload.core.vm_payload) stages the payload again.
  returned: when availability is V(unknown), the record was copied from another domain, or its volume is missing
  type: str
  sample: the oVirt engine shows payloads only to users with an administrator role
restore_pending:
  description:
    - oVirt. The engine stores a one-boot payload, which the VM would boot with again; the next change made by this
      collection while the VM is down gives it back what it keeps.
  returned: when availability is V(run-once) on oVirt
  type: bool
  sample: true
volume:
  description: The storage-pool volume that holds the image (libvirt).
  returned: when there is a payload, on libvirt
  type: str
  sample: vmpayload-3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55-2e9e49663987d14f.iso
files:
  description: The payload's files.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The path in the image.
      type: str
    size:
      description: Size in bytes.
      type: int
    digest:
      description: The file's digest as the record keeps it (keyed on libvirt, as RV(digest) is).
      type: str
    sha256:
      description: The content's sha256, with O(include_content=true) (the content is in the result then).
      type: str
    content:
      description: The content as text, with O(include_content=true), when it is UTF-8.
      type: str
    content_b64:
      description: The content as base64, with O(include_content=true), when it is not UTF-8.
      type: str
"""

from ansible_collections.vmpayload.core.plugins.module_utils._backends.actions import vm_payload_info
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import (
    LIBVIRT_ARGSPEC,
    OVIRT_ARGSPEC,
    PAYLOAD_ARGSPEC,
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
    VM_ONE_OF,
)


def main():
    argument_spec = dict(VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC, include_content=dict(type='bool', default=False),
                         expected=dict(type='dict', options=PAYLOAD_ARGSPEC))
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, required_one_of=VM_ONE_OF,
                           mutually_exclusive=VM_ONE_OF + PLATFORM_EXCLUSIVE)
    module.run(vm_payload_info)


if __name__ == '__main__':
    main()
