#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_payloads
short_description: Give many VMs their permanent payloads in one task
version_added: 0.1.0
description:
  - The batch form of M(vmpayload.core.vm_payload), for fleets. One task on the hypervisor (or wherever the libvirt
    URI or the oVirt engine is reached from) gives every VM in O(vms) its payload, or takes it away, over one
    connection. One M(vmpayload.core.vm_payload) task per VM pays Ansible's cost of a task on a host for every VM;
    this pays it once.
  - Each VM is decided exactly as M(vmpayload.core.vm_payload) decides it, with the same results, so idempotence,
    check mode, diff, C(restart_required), clones, keyed digests and the cleanup of old volumes are the same.
  - Every entry is validated before anything is connected to. A bad entry (a bad payload, neither or both of name and
    uuid, C(files) missing with O(vms[].state=present), a VM given twice) fails the task naming C(vms[N]), the VM and
    the option, and no VM is changed. A name and a uuid that turn out to be the same VM are refused after the
    look-ups, also before any VM is changed.
  - A VM that is not found, or whose change fails, does not stop the others. Every other VM is done, its result
    is in RV(vms) with C(failed) and C(msg), and the task then fails, its message naming each VM that failed.
    Run it again once the cause is fixed; the VMs already done report no change.
author:
  - vmpayload.core contributors (@vmpayload)
extends_documentation_fragment:
  - vmpayload.core.vm.PLATFORM
  - vmpayload.core.vm.ENGINE_PAYLOAD_SIZE
  - vmpayload.core.attributes
options:
  drive:
    description:
      - libvirt only; as O(vmpayload.core.vm_payload#module:drive), for every VM of the task. Give VMs that need another
        drive mode a task of their own.
    type: str
    choices: [dedicated, replace]
    default: dedicated
  target:
    description:
      - libvirt only. The target device of the payload drive (for example V(hdc)) for every VM of the task, as
        O(vmpayload.core.vm_payload#module:target).
    type: str
  vms:
    description:
      - The VMs and their payloads, in the order they are done. Each VM at most once.
      - An empty list changes nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The VM's name (the libvirt domain name, the oVirt VM name). Exactly one of O(vms[].name) or
            O(vms[].uuid).
        type: str
      uuid:
        description:
          - The VM's id (the libvirt domain UUID, the oVirt VM id).
        type: str
        aliases: [id]
      state:
        description:
          - As O(vmpayload.core.vm_payload#module:state). V(present) makes the payload the VM's permanent payload;
            V(absent) removes it and deletes its volumes.
        type: str
        choices: [present, absent]
        default: present
      files:
        description:
          - The files of the VM's payload, as O(vmpayload.core.vm_payload#module:files). Required with
            O(vms[].state=present).
          - Validated with the whole list before anything is connected to; a bad file fails naming
            C(vms[N].files[M]) and its name, never its content.
        type: list
        elements: dict
        suboptions:
          name:
            description:
              - The path of the file in the image, as O(vmpayload.core.vm_payload#module:files[].name). Required.
            type: raw
          content:
            description:
              - The content as text, written as UTF-8. Not logged.
            type: raw
          content_b64:
            description:
              - The content as base64, for any bytes. Not logged.
            type: raw
          src:
            description:
              - An absolute path to a file on the host where the module runs, read once into a private copy, as
                O(vmpayload.core.vm_payload#module:files[].src). The copies of every VM's files are kept until the
                task ends.
            type: path
      device:
        description:
          - How the guest sees the payload, as O(vmpayload.core.vm_payload#module:device).
        type: str
        choices: [cdrom, floppy]
        default: cdrom
      label:
        description:
          - The volume label, as O(vmpayload.core.vm_payload#module:label).
        type: str
      preset:
        description:
          - A shortcut that sets O(vms[].label) and checks the files the guest tooling expects, as
            O(vmpayload.core.vm_payload#module:preset).
        type: str
        choices: [nocloud, configdrive, sysprep]
      max_content_size:
        description:
          - The largest content, in bytes, that a single file of this VM's payload may have.
        type: int
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One diff per VM that changes, headed C(vms[N] name (uuid)); file names, sizes and digests, never content.
  idempotent:
    support: full
notes:
  - On libvirt the payload drive and the digest key are those of M(vmpayload.core.vm_payload); the two modules can be
    used on the same VMs, in either order.
  - On oVirt O(auth) is given once for all VMs, and each VM must be down for a change, as with
    M(vmpayload.core.vm_payload).
seealso:
  - module: vmpayload.core.vm_payload
    description: One VM per task; the same decisions and results.
"""

EXAMPLES = r"""
# Each VM of the web group has, in its host_vars, seed_entry: {name: ..., preset: nocloud, files: [...]}
- name: Give every VM of the web group its NoCloud seed, in one task on the hypervisor
  vmpayload.core.vm_payloads:
    vms: "{{ groups['web'] | map('extract', hostvars) | map(attribute='seed_entry') | list }}"
  register: seeds

- name: Two VMs written out, one of them losing its payload
  vmpayload.core.vm_payloads:
    uri: qemu:///system
    pool: vmpayload
    vms:
      - name: web1
        preset: nocloud
        files:
          - name: user-data
            content: "#cloud-config\n"
          - name: meta-data
            content: "instance-id: web1\n"
      - uuid: 3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55
        state: absent

- name: Which VMs changed
  ansible.builtin.debug:
    msg: "{{ seeds.vms | selectattr('changed') | map(attribute='name') | list }}"

- name: On oVirt, with the fact ovirt.ovirt.ovirt_auth registered
  vmpayload.core.vm_payloads:
    auth: "{{ ovirt_auth }}"
    vms:
      - name: win1
        device: floppy
        preset: sysprep
        files:
          - name: Unattend.xml
            content: "{{ lookup('ansible.builtin.template', 'Unattend.xml.j2') }}"
"""

RETURN = r"""
changed:
  description: Whether any VM changed (or would, in check mode).
  returned: always
  type: bool
  sample: true
vms:
  description:
    - One result per entry of O(vms), in the same order, with the keys M(vmpayload.core.vm_payload) returns for that
      VM (its RV(vmpayload.core.vm_payload#module:digest), RV(vmpayload.core.vm_payload#module:files),
      RV(vmpayload.core.vm_payload#module:volume), RV(vmpayload.core.vm_payload#module:removed_volumes)... as documented
      there) and the keys below. Never content; diffs are in the task's diff, not here.
  returned: always
  type: list
  elements: dict
  sample:
    - name: web1
      uuid: 3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55
      state: present
      changed: true
      availability: permanent
      restart_required: false
      digest: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
      digest_key: 5f0c2a7e9b14d3c8
      device: cdrom
      label: cidata
      files: [{"name": "meta-data", "size": 18, "digest": "c35a90d0056983ce685d60e87f65c894ebd6eb66d95aa4badce6bc22d504d4bb"}]
      volume: vmpayload-3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55-2e9e49663987d14f.iso
      removed_volumes: []
  contains:
    name:
      description: The VM's name (as given, when the VM was not found by its uuid).
      type: str
      sample: web1
    uuid:
      description: The VM's id (null when the VM named was not found).
      type: str
      sample: 3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55
    state:
      description: The entry's O(vms[].state).
      type: str
      sample: present
    changed:
      description: Whether this VM changed (or would, in check mode).
      type: bool
      sample: true
    availability:
      description: V(permanent) after O(vms[].state=present), V(none) after O(vms[].state=absent).
      type: str
      sample: permanent
    restart_required:
      description:
        - Whether the VM sees the change only after its next start. True for a running VM whose drive could not change
          live, or, on libvirt, for a stopped VM that resumes from a managed save image holding another payload.
      type: bool
      sample: false
    failed:
      description: True when this VM was not found or its change failed; the other VMs were still done.
      type: bool
      sample: true
    msg:
      description: Why this VM failed.
      type: str
      sample: no domain named web9 on qemu:///system
msg:
  description: When VMs failed, how many, and each one's C(vms[N]), name and reason.
  returned: on failure
  type: str
  sample: '1 of 3 VMs failed (the others were done): vms[2] ("web9"): no domain named web9 on qemu:///system'
"""

from ansible_collections.vmpayload.core.plugins.module_utils._backends.fleet import vm_payloads
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import (
    ENGINE_PAYLOAD_ARGSPEC,
    LIBVIRT_ARGSPEC,
    OVIRT_ARGSPEC,
    PAYLOAD_ARGSPEC,
    PLATFORM_EXCLUSIVE,
    VM_ARGSPEC,
    optional_files,
)


def main():
    # Which of name and uuid an entry gives, and files with state present, are checked by the action, so that the
    # message names vms[N]; Ansible's own name no entry.
    entry = dict(optional_files(PAYLOAD_ARGSPEC), **VM_ARGSPEC,
                 state=dict(type='str', default='present', choices=['present', 'absent']))
    argument_spec = dict(
        LIBVIRT_ARGSPEC, **OVIRT_ARGSPEC, **ENGINE_PAYLOAD_ARGSPEC,
        drive=dict(type='str', default='dedicated', choices=['dedicated', 'replace']),
        target=dict(type='str'),
        vms=dict(type='list', elements='dict', required=True, options=entry),
    )
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, mutually_exclusive=PLATFORM_EXCLUSIVE)
    module.run(vm_payloads)


if __name__ == '__main__':
    main()
