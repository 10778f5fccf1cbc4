# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The VM and platform option groups; in step with VM_ARGSPEC, LIBVIRT_ARGSPEC, OVIRT_ARGSPEC and
    ENGINE_PAYLOAD_ARGSPEC."""

    # The VM options (DOCUMENTATION) and the platform options (PLATFORM) are apart, so that vm_payloads, which
    # names its VMs in a list, can take the platform options alone; the one-VM modules take both. Each is a
    # plain string literal: ansible-test's yamllint reads fragments without running them.
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The VM's name (the libvirt domain name, the oVirt VM name). One of O(name) or O(uuid) is required.
    type: str
  uuid:
    description:
      - The VM's id (the libvirt domain UUID, the oVirt VM id).
    type: str
    aliases: [id]
"""

    PLATFORM = r"""
options:
  uri:
    description:
      - The libvirt connection URI, as in community.libvirt, for example V(qemu:///system) or
        V(qemu+ssh://root@host/system). Images are built where the module runs and uploaded through libvirt,
        so a remote host needs nothing but libvirt.
      - Mutually exclusive with O(auth), which chooses oVirt. Unset and without O(auth), the default applies.
    type: str
    default: qemu:///system
  pool:
    description:
      - libvirt only. The storage pool that holds payload volumes; the vmpayload.core.payload_staging role
        creates it.
    type: str
    default: vmpayload
  auth:
    description:
      - The oVirt engine to work on, shaped as ovirt.ovirt's C(auth). Giving it chooses the oVirt backend
        (ovirt-engine-sdk-python); without it the module works on libvirt.
      - 'The fact that C(ovirt.ovirt.ovirt_auth) registers works as it is: C(auth: "{{ ovirt_auth }}").'
      - Keys not given come from the environment, as in ovirt.ovirt, so AWX's built-in Red Hat Virtualization
        credential works with C(auth) set to an empty dict. Its CA file, which AWX writes only into the INI file named by
        E(OVIRT_INI_PATH), is read from there when neither O(auth.ca_file) nor E(OVIRT_CAFILE) gives one.
    type: dict
    suboptions:
      url:
        description:
          - The engine's API URL, for example V(https://engine.example.com/ovirt-engine/api).
          - Default from E(OVIRT_URL).
        type: str
      hostname:
        description:
          - The engine's host name, used for V(https://<hostname>/ovirt-engine/api) when O(auth.url) is unset.
          - Default from E(OVIRT_HOSTNAME).
        type: str
      username:
        description:
          - The user, for example V(admin@internal). Default from E(OVIRT_USERNAME).
          - The engine shows payloads only to users that hold an administrator role.
        type: str
      password:
        description:
          - The user's password. Default from E(OVIRT_PASSWORD). Not logged.
        type: str
      token:
        description:
          - An SSO token instead of O(auth.username) and O(auth.password), as C(ovirt.ovirt.ovirt_auth)
            registers it. Default from E(OVIRT_TOKEN). Not logged. A token given is not revoked when the module ends;
            one the module obtained is.
        type: str
      ca_file:
        description:
          - The PEM file of the CA that signed the engine's certificate. Default from E(OVIRT_CAFILE), then from
            AWX's INI file (see O(auth)). Unset, the system's CAs are trusted.
        type: path
      insecure:
        description:
          - Skip the check of the engine's certificate. Only for tests.
        type: bool
        default: false
      timeout:
        description:
          - Seconds one request to the engine may take. V(0) means 180 seconds, so that no request waits forever.
        type: int
        default: 0
      compress:
        description:
          - Ask the engine for compressed responses.
        type: bool
        default: true
      kerberos:
        description:
          - Authenticate with Kerberos instead of a password.
        type: bool
        default: false
      headers:
        description:
          - Extra HTTP headers sent with every request, for example C(Filter) set to V(true).
        type: dict

requirements:
  - libvirt-python, on libvirt
  - ovirt-engine-sdk-python, on oVirt
"""

    ENGINE_PAYLOAD_SIZE = r"""
options:
  engine_payload_size:
    description:
      - oVirt only. The engine's C(PayloadSize) setting (C(engine-config -g PayloadSize)), the most a file's text may
        count, in UTF-16 code units (Java characters). Files over it are refused before any request, in the engine's
        words (C(Payload is limited to 16K) at the default).
    type: int
    default: 8192
"""
