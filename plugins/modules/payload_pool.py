#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: payload_pool
short_description: Ensure the libvirt storage pool that holds VM payload images
version_added: 0.1.0
description:
  - Ensures a libvirt storage pool of type C(dir), the kind the collection's modules stage payload volumes in
    (see O(vmpayload.core.vm_payload#module:pool)).
  - O(state=present) defines the pool, builds it (libvirt creates the directory, and its parents, when missing,
    and gives the directory O(mode), O(owner) and O(group)), starts it and sets its autostart flag.
  - Everything goes through libvirt, so the module works the same against a remote O(uri).
  - When the directory of an existing pool has another mode, owner or group, the module stops the pool, defines
    the wanted ones, builds it (which applies them) and starts it again. Stopping a C(dir) pool leaves its files
    alone and running VMs keep the images they have open; only a VM starting in that moment with a volume of this
    pool would fail.
  - A pool of that name that is not a C(dir) pool, or whose directory is not O(path), fails the task and changes
    nothing; so does another pool that already uses O(path).
  - O(state=absent) stops and undefines the pool. Its directory and the images in it stay.
author:
  - vmpayload.core contributors (@vmpayload)
requirements:
  - libvirt-python
extends_documentation_fragment:
  - vmpayload.core.attributes
options:
  name:
    description:
      - The name of the storage pool.
    type: str
    default: vmpayload
  path:
    description:
      - The absolute path of the pool's directory on the libvirt host. Required with O(state=present).
      - With O(state=absent), when given, the pool is removed only if it has this directory.
    type: path
  uri:
    description:
      - The libvirt connection URI, as in community.libvirt, for example V(qemu:///system) or
        V(qemu+ssh://root@host/system).
    type: str
    default: qemu:///system
  state:
    description:
      - Whether the pool should exist and run (V(present)) or not be defined (V(absent)).
    type: str
    choices: [present, absent]
    default: present
  autostart:
    description:
      - Whether libvirt starts the pool when it starts.
    type: bool
    default: true
  mode:
    description:
      - The permission bits of the directory, as an octal string such as V('0750').
      - libvirt keeps only the permission bits (V('0000') to V('0777')) of a pool's directory.
    type: str
    default: '0750'
  owner:
    description:
      - The numeric user id that owns the directory.
      - Numeric, as libvirt's pool definition takes it; the module may run on another host than libvirt's, where
        names could mean other ids.
    type: int
    default: 0
  group:
    description:
      - The numeric group id of the directory.
      - By default the group libvirt runs QEMU processes as, read from the host's capabilities (the base label of
        its DAC security model), so that QEMU can open the images and other users cannot. Some hosts take seconds,
        even tens of seconds, to compute their capabilities; give O(group) to skip that.
    type: int
  prune_orphans:
    description:
      - With O(state=present), also delete the payload volumes in the pool whose VM is no longer defined on O(uri),
        that is the volumes named C(vmpayload-<VM UUID>-...) that the collection's modules stage. Other files and
        volumes are never touched, nor is a volume any domain on O(uri) still uses or may start from again (in its
        persistent or running definition, its managed save image or one of its snapshots; a clone of the undefined
        VM uses its payload volume until M(vmpayload.core.vm_payload) gives it its own).
      - The libvirt modules delete a VM's unused payload volumes whenever they run on that VM, and
        O(vmpayload.core.vm_payload#module:state=absent) deletes its last one; a VM undefined without that leaves
        its volume behind, which this finds.
      - On a directory that other libvirt hosts also use (NFS, a cluster file system, as live migration needs),
        list them all in O(shared_with). A VM that migrated to another host is defined there, not here, and its
        volume would otherwise look orphaned.
    type: bool
    default: false
  shared_with:
    description:
      - With O(prune_orphans=true), the libvirt URIs of the other hosts whose pools use the same directory.
      - A volume stays while its VM is defined, or any domain uses it, on any of them. Each host is reached, and its
        pool over the directory found, before anything is deleted; one that cannot be fails the task and nothing
        is deleted.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    support: full
    details: Nothing is defined, built, started, refreshed or deleted; the result lists the actions a real run would take.
  diff_mode:
    support: full
    details: >-
      The diff shows the pool's name, type, path, mode, owner, group, active and autostart before and after, and
      with O(prune_orphans=true) the orphan volumes that go.
  idempotent:
    support: full
notes:
  - libvirt gives each new volume mode V('0600') and the owner root, and, with C(dynamic_ownership) on (the
    default), hands a VM's images to the QEMU user while the VM runs. The directory's group is what lets QEMU
    reach them, and its mode is what keeps other users out.
  - The P(vmpayload.core.payload_staging#role) role calls this module, and also installs the libvirt hook that
    deletes run-once images when a VM stops.
seealso:
  - name: libvirt storage pool XML
    description: The C(dir) pool and its C(permissions).
    link: https://libvirt.org/formatstorage.html
"""

EXAMPLES = r"""
- name: The collection's default pool, readable by QEMU and nobody else
  vmpayload.core.payload_pool:
    path: /var/lib/vmpayload/pool

- name: A pool on a remote host, with explicit ownership
  vmpayload.core.payload_pool:
    uri: qemu+ssh://root@kvm1.example.com/system
    name: payloads
    path: /srv/payloads
    mode: "0750"
    owner: 0
    group: 107

- name: The default pool, also deleting the payloads of VMs that were undefined without state=absent
  vmpayload.core.payload_pool:
    path: /var/lib/vmpayload/pool
    prune_orphans: true

- name: Remove the orphans of a pool that two hosts share over NFS; a VM migrated to kvm2 keeps its payload
  vmpayload.core.payload_pool:
    path: /var/lib/vmpayload/pool
    prune_orphans: true
    shared_with:
      - qemu+ssh://root@kvm2.example.com/system

- name: Remove the pool, keeping its directory and images
  vmpayload.core.payload_pool:
    name: payloads
    path: /srv/payloads
    state: absent
"""

RETURN = r"""
actions:
  description:
    - What was done (or, in check mode, would be done), in order. Each is one of V(define), V(stop), V(build),
      V(start), V(autostart), V(no-autostart) and V(undefine).
  returned: success
  type: list
  elements: str
  sample: [define, build, start, autostart]
pool:
  description: The pool after the task (in check mode, as it would be); empty when it is absent.
  returned: success
  type: dict
  contains:
    name:
      description: The pool's name.
      type: str
      sample: vmpayload
    type:
      description: The pool's type, always V(dir).
      type: str
      sample: dir
    path:
      description: The pool's directory.
      type: str
      sample: /var/lib/vmpayload/pool
    mode:
      description: The directory's permission bits.
      type: str
      sample: '0750'
    owner:
      description: The directory's owner id.
      type: int
      sample: 0
    group:
      description: The directory's group id.
      type: int
      sample: 64055
    active:
      description: Whether the pool runs.
      type: bool
      sample: true
    autostart:
      description: Whether libvirt starts the pool when it starts.
      type: bool
      sample: true
removed_volumes:
  description:
    - The payload volumes deleted (in check mode, that would be deleted) because their VM is no longer defined.
  returned: when O(prune_orphans=true) and O(state=present)
  type: list
  elements: str
  sample: [vmpayload-6d1d35fb-bd74-470d-bba9-354ed58dbc0f-a6f00d262fa3b040.iso]
libvirt_version:
  description: The version of the libvirt daemon at O(uri).
  returned: success
  type: str
  sample: 9.0.0
"""

from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_pool import ensure_pool
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule


def main():
    argument_spec = dict(
        name=dict(type='str', default='vmpayload'),
        path=dict(type='path'),
        uri=dict(type='str', default='qemu:///system'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        autostart=dict(type='bool', default=True),
        mode=dict(type='str', default='0750'),
        owner=dict(type='int', default=0),
        group=dict(type='int'),
        prune_orphans=dict(type='bool', default=False),
        shared_with=dict(type='list', elements='str', default=[]),
    )
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ('path',))])
    module.run(ensure_pool)


if __name__ == '__main__':
    main()
