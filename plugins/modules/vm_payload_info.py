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
    V(run-once) or V(none)), device, label, and each file's name, size and sha256. A running VM reports what it
    runs with.
  - With O(include_content=true) each file's content is read from the staged image itself, not from the record
    (libvirt), or from the engine (oVirt).
  - On oVirt the engine shows payloads only to users that hold an administrator role. For any other user the module
    reports V(unknown) with RV(msg) saying why, never a false V(none).
author:
  - vmpayload.core contributors (@vmpayload)
extends_documentation_fragment:
  - vmpayload.core.vm
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
  description: The recorded payload digest.
  returned: when there is a payload
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
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
  description: Why the availability is V(unknown).
  returned: when availability is V(unknown)
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
    sha256:
      description: The content's sha256.
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
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
    VM_ONE_OF,
)


def main():
    argument_spec = dict(VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC, include_content=dict(type='bool', default=False))
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, required_one_of=VM_ONE_OF,
                           mutually_exclusive=VM_ONE_OF + PLATFORM_EXCLUSIVE)
    module.run(vm_payload_info)


if __name__ == '__main__':
    main()
