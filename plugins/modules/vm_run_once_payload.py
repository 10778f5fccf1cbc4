#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_run_once_payload
short_description: Start a VM once with a payload that only that boot sees
version_added: 0.1.0
description:
  - oVirt's "run-once" availability. The VM is started with the payload attached, and its persistent definition
    is not changed, so the next boot has no payload, or has its permanent one.
  - On libvirt the domain is started from its own definition plus the payload drive, with its own UUID
    (C(virDomainCreateXML)). libvirt keeps the persistent definition as it was, as virt-install's
    C(--cloud-init) does, so a crash leaves nothing half done.
  - The run-once volume is deleted when the domain stops, by the payload_staging role's libvirt hook. Failing
    that, the next run of any of this collection's modules on the VM deletes it.
  - On oVirt the engine's start action carries no payload files, and the engine writes a VM's payload only while
    the VM is down (docs/ovirt.md gives the engine's source lines). So the module stores the payload on the down VM,
    with a journal of what the VM keeps under C(vmpayload-restore/) in the same payload, starts the VM, and waits
    until the engine reports it up. If the start fails, what the VM keeps is stored again at once.
  - On oVirt the one-boot payload stays stored until the VM is down again and one of this collection's modules
    runs on it. M(vmpayload.core.vm_payload) (your permanent payload, or O(vmpayload.core.vm_payload#module:state=absent))
    gives the VM back what it keeps. Until then M(vmpayload.core.vm_payload_info) reports V(run-once) with
    RV(vmpayload.core.vm_payload_info#module:restore_pending). A start from elsewhere (the web UI, HA) boots with the
    one-boot payload, and the guest also sees the journal directory.
  - "Idempotency: a VM already running with this run-once payload is not changed. A running VM without it fails
    with a clear message, unless O(restart=true), which shuts it down (destroying it after O(timeout)) and starts
    it again with the payload."
author:
  - vmpayload.core contributors (@vmpayload)
extends_documentation_fragment:
  - vmpayload.core.payload
  - vmpayload.core.vm
  - vmpayload.core.vm.PLATFORM
  - vmpayload.core.vm.ENGINE_PAYLOAD_SIZE
  - vmpayload.core.attributes
options:
  restart:
    description:
      - Stop a running VM to start it again with the payload.
    type: bool
    default: false
  wait:
    description:
      - Wait until the VM runs.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for a graceful shutdown (with O(restart=true)) and for the VM to run (on oVirt, for the
        status up).
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details: Nothing is started, stopped or uploaded.
  diff_mode:
    support: full
  idempotent:
    support: full
"""

EXAMPLES = r"""
- name: Boot an installer VM once with its kickstart
  vmpayload.core.vm_run_once_payload:
    name: install1
    label: OEMDRV
    files:
      - name: ks.cfg
        content: "{{ lookup('ansible.builtin.template', 'ks.cfg.j2') }}"

- name: The same on oVirt, restarting the VM if it runs
  vmpayload.core.vm_run_once_payload:
    auth: "{{ ovirt_auth }}"
    name: install1
    label: OEMDRV
    restart: true
    files:
      - name: ks.cfg
        content: "{{ lookup('ansible.builtin.template', 'ks.cfg.j2') }}"
"""

RETURN = r"""
availability:
  description: Always V(run-once).
  returned: success
  type: str
  sample: run-once
digest:
  description:
    - The payload digest as the VM's record keeps it. On libvirt an HMAC-SHA256 of the canonical digest under the
      pool's payload digest key (RV(digest_key)), which read-only libvirt clients cannot read, so that the record and
      the volume name let nobody test a guess of the content. On oVirt the canonical digest, as payload_image and the
      P(vmpayload.core.payload_digest#filter) filter give it.
  returned: success
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
digest_key:
  description: libvirt. The id of the pool's key the digests are keyed with (not the key itself).
  returned: success, on libvirt
  type: str
  sample: 5f0c2a7e9b14d3c8
device:
  description: The payload's device.
  returned: success
  type: str
  sample: cdrom
label:
  description: The volume label written.
  returned: success
  type: str
  sample: OEMDRV
files:
  description: The payload's files (name, size, digest); never content.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "ks.cfg", "size": 812, "digest": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]
  contains:
    name:
      description: The NFC-normalised path in the image.
      type: str
      sample: ks.cfg
    size:
      description: The content's size in bytes.
      type: int
      sample: 812
    digest:
      description: The file's digest as the record keeps it; on libvirt keyed as RV(digest) is, on oVirt the content's sha256.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
volume:
  description: The run-once volume the VM booted with (libvirt).
  returned: success, on libvirt
  type: str
  sample: vmpayload-3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55-once-2e9e49663987d14f.iso
"""

from ansible_collections.vmpayload.core.plugins.module_utils._backends.actions import vm_run_once_payload
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import (
    ENGINE_PAYLOAD_ARGSPEC,
    LIBVIRT_ARGSPEC,
    OVIRT_ARGSPEC,
    PAYLOAD_ARGSPEC,
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
    VM_ONE_OF,
)


def main():
    argument_spec = dict(
        PAYLOAD_ARGSPEC, **VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC, **ENGINE_PAYLOAD_ARGSPEC,
        restart=dict(type='bool', default=False),
        wait=dict(type='bool', default=True),
        timeout=dict(type='int', default=120),
    )
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, required_one_of=VM_ONE_OF,
                           mutually_exclusive=VM_ONE_OF + PLATFORM_EXCLUSIVE)
    module.run(vm_run_once_payload)


if __name__ == '__main__':
    main()
