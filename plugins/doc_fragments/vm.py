# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The VM and libvirt connection option groups; in step with VM_ARGSPEC and LIBVIRT_ARGSPEC."""

    DOCUMENTATION = r"""
options:
  name:
    description:
      - The VM's name (the libvirt domain name). One of O(name) or O(uuid) is required.
    type: str
  uuid:
    description:
      - The VM's id (the libvirt domain UUID).
    type: str
    aliases: [id]
  uri:
    description:
      - The libvirt connection URI, as in community.libvirt, for example V(qemu:///system) or
        V(qemu+ssh://root@host/system). Images are built where the module runs and uploaded through libvirt,
        so a remote host needs nothing but libvirt.
    type: str
    default: qemu:///system
  pool:
    description:
      - The libvirt storage pool that holds payload volumes; the vmpayload.core.payload_staging role creates it.
    type: str
    default: vmpayload
requirements:
  - libvirt-python
"""
