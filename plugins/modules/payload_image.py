#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: payload_image
short_description: Build a VM payload image (CD-ROM ISO or floppy FAT) from a declared payload
version_added: 0.1.0
description:
  - Builds the image that a guest reads its payload from at boot, as oVirt's VM Payload feature does,
    into a file on the host where the module runs.
  - O(device=cdrom) gives an ISO 9660 image with Joliet and Rock Ridge; O(device=floppy) a FAT12 image on a
    1.44 MB floppy by default, FAT12 or FAT16 when O(size) allows a larger one, with VFAT long names.
  - The image is deterministic. The same payload gives byte-identical images on any machine, in any time zone,
    at any time. Every date in it is 1980-01-01 00:00:00 UTC, or E(SOURCE_DATE_EPOCH) when that is set in the
    module's environment (clamped to 1980-2107). Entries are sorted, and the FAT volume serial is the first
    32 bits of the payload digest.
  - Idempotent. When O(dest) already holds the image this payload produces, nothing is written and the result
    is not changed. Otherwise the image is built in a temporary file in the directory of O(dest) and renamed
    into place, so a reader never sees a half-written image.
  - The whole payload and O(dest) are validated before anything is written. A bad input fails naming the option
    and the file, and leaves O(dest) as it was.
author:
  - vmpayload.core contributors (@vmpayload)
requirements:
  - pycdlib (for O(device=cdrom))
  - pyfatfs (for O(device=floppy))
extends_documentation_fragment:
  - vmpayload.core.payload
  - vmpayload.core.attributes
  - vmpayload.core.attributes.FILES
  - ansible.builtin.files
options:
  dest:
    description:
      - Where to write the image, on the host where the module runs. Its directory must exist.
    type: path
    required: true
  mode:
    description:
      - The permissions of the image file, as C(chmod) takes them. Quote an octal mode (V('0640')) so that Ansible
        receives a string, not a number; a symbolic mode (V(u=rw,g=r)) works too.
      - When O(mode) is not given, a new image is created with mode V(0600), whatever the C(umask), as it holds the
        payload's secrets. An existing O(dest) keeps its mode, as M(ansible.builtin.copy) does.
      - The image gets its final mode, owner and group while it is still the private temporary file beside O(dest),
        before it is renamed into place, so it is never at O(dest) with more access than they give. The rename
        carries an existing O(dest)'s mode, owner, group and SELinux context over to the new image, as
        M(ansible.builtin.copy) does, so the ones asked for are set on the existing file just before.
    type: raw
  size:
    description:
      - The size of a floppy image. V(1440K) (the default, also V(1.44M)) and V(2880K) (also V(2.88M)) are standard
        floppies. V(1M) to V(4M) give FAT12 and V(5M) to V(2047M), in whole MiB, give FAT16 disk images.
        A plain number is taken as bytes.
      - V(auto) picks the smallest of these that holds the payload.
      - A payload that does not fit fails with the room it needs; the image is never silently truncated.
      - Only for O(device=floppy); an ISO image grows with its content.
    type: raw
attributes:
  check_mode:
    support: full
    details: The image is built in Ansible's temporary directory to learn whether O(dest) would change.
  diff_mode:
    support: full
    details: The diff lists file names, sizes and sha256 digests before and after; never content.
  idempotent:
    support: full
  safe_file_operations:
    support: full
notes:
  - The image is built in a temporary file named C(.<name of dest>.<random>.partial) beside O(dest), private (mode
    V(0600)) while it is built. A run killed while building (SIGKILL, out of memory, power loss) leaves that file,
    holding the payload, until the next run for the same O(dest). That run, once the payload and O(dest) are validated
    and unless in check mode, removes it before building and warns naming it. It removes only regular files of the
    user it runs as whose names match that pattern exactly and that no running build holds, and never follows a
    symbolic link. A file left with another owner (a kill in the moment after O(owner) was set on it) stays for an
    administrator to remove.
  - In check mode the image is built in Ansible's own temporary directory, never beside O(dest), so a killed check
    run leaves nothing beside O(dest).
  - Names in the plain ISO 9660 directory are generated 8.3 upper-case names; Linux reads the real names from
    Rock Ridge and Windows from Joliet.
  - Linux mounts FAT with C(iocharset=ascii) by default; mount with C(-o iocharset=utf8) to see Unicode long names.
seealso:
  - name: oVirt VM Payload feature
    description: The feature this collection brings to Ansible.
    link: https://www.ovirt.org/develop/release-management/features/virt/vmpayload.html
"""

EXAMPLES = r"""
- name: Build a NoCloud seed for cloud-init
  vmpayload.core.payload_image:
    dest: /var/lib/libvirt/images/web1-seed.iso
    preset: nocloud
    files:
      - name: user-data
        content: |
          #cloud-config
          hostname: web1
      - name: meta-data
        content: |
          instance-id: web1
    mode: "0640"

- name: Put a Windows answer file on a floppy
  vmpayload.core.payload_image:
    dest: /srv/payloads/win1.img
    device: floppy
    preset: sysprep
    files:
      - name: Unattend.xml
        content: "{{ lookup('ansible.builtin.template', 'unattend.xml.j2') }}"

- name: Ship an installer and its licence, from files on the target host
  vmpayload.core.payload_image:
    dest: /srv/payloads/agent.img
    device: floppy
    size: auto
    label: AGENT
    files:
      - name: setup/agent.msi
        src: /srv/installers/agent.msi
      - name: setup/licence.key
        content_b64: "{{ agent_licence_b64 }}"
"""

RETURN = r"""
dest:
  description: The path of the image.
  returned: success
  type: str
  sample: /var/lib/libvirt/images/web1-seed.iso
sha256:
  description: The sha256 of the image file.
  returned: success
  type: str
  sample: 0f343b0931126a20f133d67c2b018a3b5a1f7b5b3b0c7cbe9c2ff5e6c2f0e3b1
size:
  description: The size of the image file in bytes.
  returned: success
  type: int
  sample: 1474560
digest:
  description:
    - The canonical sha256 of the payload (device, label, and each name with its content's sha256, sorted by name).
    - The same value the P(vmpayload.core.payload_digest#filter) filter computes.
  returned: success
  type: str
  sample: 2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d
device:
  description: The device the image is for.
  returned: success
  type: str
  sample: cdrom
label:
  description: The volume label written, after the preset and the FAT upper-casing; null when none.
  returned: success
  type: str
  sample: cidata
files:
  description: The files in the image, sorted by name. Never their content.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The NFC-normalised path in the image.
      type: str
      sample: user-data
    size:
      description: The content's size in bytes.
      type: int
      sample: 42
    sha256:
      description: The sha256 of the content.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
"""

from ansible_collections.vmpayload.core.plugins.module_utils._image.image_file import ensure_image
from ansible_collections.vmpayload.core.plugins.module_utils._payload.ansible_module import PayloadModule
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import PAYLOAD_ARGSPEC


def main():
    argument_spec = dict(PAYLOAD_ARGSPEC, dest=dict(type='path', required=True), size=dict(type='raw'))
    module = PayloadModule(argument_spec=argument_spec, supports_check_mode=True, add_file_common_args=True)
    module.run(ensure_image)


if __name__ == '__main__':
    main()
