#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_payload
short_description: Give a VM a permanent payload, or take it away
version_added: 0.1.0
description:
  - Keeps a payload with the VM (oVirt's "permanent" availability). On libvirt the collection plays VDSM's part.
    It builds the image, uploads it as a volume into a storage pool through libvirt's stream API, attaches it,
    and records what it attached in the domain's C(<metadata>). The namespace is C(urn:x-vmpayload:payload:1) and
    the record holds the digest, device, label, file names and sizes, and the volume.
  - On libvirt every digest in the record and in the volume name is keyed (HMAC-SHA256) with the pool's payload
    digest key, the volume C(vmpayload-digest-key) (mode 0600) that the first change creates in the pool.
    Read-only libvirt clients (monitoring agents) see the record and the volumes but cannot download the key, so
    they cannot test a guess of a password in the payload. Hosts that share the pool's directory (live migration)
    share the key. To audit, use M(vmpayload.core.vm_payload_info) with its C(expected) option.
  - Idempotent by payload digest. When the digest is unchanged and the drive still holds the payload's volume,
    nothing is uploaded. A different payload gets a new volume, the drive is switched to it, and the old volume
    is deleted once no definition of any domain uses it.
  - A clone (a definition copied from another VM, with its payload drive and record) uses the other VM's volume;
    M(vmpayload.core.vm_payload_info) says so, and the next run gives the clone a volume of its own. No volume a
    domain uses is deleted, whichever VM it was made for.
  - On oVirt (O(auth) given) the engine keeps the payload and VDSM builds the image. The module reads the VM's
    payload from the engine and sends an update (the VM's C(payloads), C(volume_id) from O(label)) only when it
    differs, then checks that the engine stored it. The engine writes payloads only while a VM is down, so a change
    to a running VM fails with that reason, in check mode too. The engine's rules are checked before any request
    (see O(engine_payload_size); content must be text).
  - The whole payload is validated before anything is touched.
author:
  - vmpayload.core contributors (@vmpayload)
extends_documentation_fragment:
  - vmpayload.core.payload
  - vmpayload.core.vm
  - vmpayload.core.vm.PLATFORM
  - vmpayload.core.vm.ENGINE_PAYLOAD_SIZE
  - vmpayload.core.attributes
options:
  state:
    description:
      - V(present) makes the payload the VM's permanent payload; V(absent) removes it (availability "none") and
        deletes its volumes.
    type: str
    choices: [present, absent]
    default: present
  drive:
    description:
      - libvirt only; the oVirt engine gives the payload a drive of its own.
      - V(dedicated) puts the payload on a drive of its own at a fixed slot, as today's oVirt engine does, so the
        VM's own install media stays where it is. That slot is IDE C(hdd) on i440fx machines, SATA C(sdz) on q35
        machines, and C(fda) for floppies.
      - V(replace) puts the payload into the VM's existing CD-ROM (or floppy) drive, the first one or the one
        named by O(target), as the oVirt feature page describes. When someone later changes the media on that
        drive, the next run reports it as RV(replaced_media) and puts the payload back. V(state=absent) leaves
        the drive empty.
    type: str
    choices: [dedicated, replace]
    default: dedicated
  target:
    description:
      - libvirt only. The target device (for example V(hdc)) of the drive, overriding the default slot.
    type: str
  files:
    description:
      - Required with O(state=present).
    required: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: File names, sizes and digests before and after; never content.
  idempotent:
    support: full
seealso:
  - module: vmpayload.core.vm_payloads
    description: Many VMs in one task over one connection, each decided as here.
notes:
  - On libvirt, on a running VM a CD-ROM's media is changed live and persistently. A drive that must be added (the first
    payload on a running VM), or a change the bus refuses live, goes into the persistent definition only, and
    RV(restart_required) is true. The guest sees the payload after its next start.
"""

EXAMPLES = r"""
- name: Give web1 a NoCloud seed on a drive of its own
  vmpayload.core.vm_payload:
    name: web1
    preset: nocloud
    files:
      - name: user-data
        content: "{{ lookup('ansible.builtin.template', 'user-data.j2') }}"
      - name: meta-data
        content: "instance-id: web1\n"

- name: Put a Windows answer file on win1's floppy
  vmpayload.core.vm_payload:
    name: win1
    device: floppy
    preset: sysprep
    files:
      - name: Unattend.xml
        content: "{{ lookup('ansible.builtin.file', 'Unattend.xml') }}"

- name: Take the payload away
  vmpayload.core.vm_payload:
    name: web1
    state: absent

- name: Log in to the oVirt engine once (ovirt.ovirt), for the tasks that follow
  ovirt.ovirt.ovirt_auth:
    url: https://engine.example.com/ovirt-engine/api
    username: admin@internal
    password: "{{ vault_engine_password }}"
    ca_file: /etc/pki/ovirt-engine/ca.pem

- name: Give the oVirt VM web1 its NoCloud seed (the VM must be down)
  vmpayload.core.vm_payload:
    auth: "{{ ovirt_auth }}"
    name: web1
    preset: nocloud
    files:
      - name: user-data
        content: "{{ lookup('ansible.builtin.template', 'user-data.j2') }}"
      - name: meta-data
        content: "instance-id: web1\n"

- name: In AWX, with the Red Hat Virtualization credential, every key comes from the environment
  vmpayload.core.vm_payload:
    auth: {}
    name: win1
    device: floppy
    preset: sysprep
    files:
      - name: Unattend.xml
        content: "{{ lookup('ansible.builtin.template', 'Unattend.xml.j2') }}"
"""

RETURN = r"""
availability:
  description: V(permanent) after O(state=present), V(none) after O(state=absent).
  returned: always
  type: str
  sample: permanent
digest:
  description:
    - The payload digest as the VM's record keeps it. On libvirt an HMAC-SHA256 of the canonical digest under the
      pool's payload digest key (RV(digest_key)), which read-only libvirt clients cannot read, so that the record and
      the volume name let nobody test a guess of the content. On oVirt the canonical digest, as payload_image and the
      P(vmpayload.core.payload_digest#filter) filter give it.
  returned: when O(state=present)
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
digest_key:
  description: libvirt. The id of the pool's key the digests are keyed with (not the key itself).
  returned: when O(state=present), on libvirt
  type: str
  sample: 5f0c2a7e9b14d3c8
device:
  description: The payload's device.
  returned: when O(state=present)
  type: str
  sample: cdrom
label:
  description: The volume label written.
  returned: when O(state=present)
  type: str
  sample: cidata
files:
  description: The payload's files (name, size, digest); never content.
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{"name": "meta-data", "size": 18, "digest": "c35a90d0056983ce685d60e87f65c894ebd6eb66d95aa4badce6bc22d504d4bb"}]
  contains:
    name:
      description: The NFC-normalised path in the image.
      type: str
      sample: meta-data
    size:
      description: The content's size in bytes.
      type: int
      sample: 18
    digest:
      description: The file's digest as the record keeps it; on libvirt keyed as RV(digest) is, on oVirt the content's sha256.
      type: str
      sample: c35a90d0056983ce685d60e87f65c894ebd6eb66d95aa4badce6bc22d504d4bb
volume:
  description: The storage-pool volume that holds the image (libvirt).
  returned: when O(state=present) on libvirt
  type: str
  sample: vmpayload-3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55-2e9e49663987d14f.iso
restart_required:
  description:
    - Whether the VM sees the change only after its next start. True for a running VM whose drive could not change
      live, or, on libvirt, for a stopped VM that resumes from a managed save image holding another payload.
  returned: always
  type: bool
  sample: false
replaced_media:
  description: The media found in the payload's drive that was not this payload (someone changed it).
  returned: when O(drive=replace) found other media
  type: str
  sample: /var/lib/libvirt/images/debian-12.iso
removed_volumes:
  description: Payload volumes of this VM that were deleted because nothing uses them any more.
  returned: when not in check mode, on libvirt
  type: list
  elements: str
  sample: []
restored:
  description:
    - oVirt. The VM was down with a one-boot payload still stored (see M(vmpayload.core.vm_run_once_payload)) and
      has been given back what it keeps.
  returned: when that happened
  type: bool
  sample: true
"""

from ansible_collections.vmpayload.core.plugins.module_utils._backends.actions import vm_payload
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import (
    ENGINE_PAYLOAD_ARGSPEC,
    LIBVIRT_ARGSPEC,
    OVIRT_ARGSPEC,
    PAYLOAD_ARGSPEC,
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
    VM_ONE_OF,
    optional_files,
)


def main():
    argument_spec = dict(
        optional_files(PAYLOAD_ARGSPEC), **VM_ARGSPEC, **LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC, **ENGINE_PAYLOAD_ARGSPEC,
        state=dict(type='str', default='present', choices=['present', 'absent']),
        drive=dict(type='str', default='dedicated', choices=['dedicated', 'replace']),
        target=dict(type='str'),
    )
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, required_one_of=VM_ONE_OF,
                           mutually_exclusive=VM_ONE_OF + PLATFORM_EXCLUSIVE, required_if=[('state', 'present', ['files'])])
    module.run(vm_payload)


if __name__ == '__main__':
    main()
