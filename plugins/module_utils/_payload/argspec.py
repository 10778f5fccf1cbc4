# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument specs shared by the modules, one dict per option group, in step with doc_fragments/."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import DEVICES, PRESETS

# name, content and content_b64 are raw, and which of them a file gives is not declared here: Ansible would turn
# a mapping or a list into its Python repr and write that, and its own messages name no file (``missing required
# arguments: name found in files``). The model refuses those with the index and name of the file.
FILE_SPEC = dict(
    name=dict(type='raw'),
    content=dict(type='raw', no_log=True),
    content_b64=dict(type='raw', no_log=True),
    src=dict(type='path'),
)

PAYLOAD_ARGSPEC = dict(
    device=dict(type='str', default='cdrom', choices=list(DEVICES)),
    label=dict(type='str'),
    preset=dict(type='str', choices=list(PRESETS)),
    files=dict(type='list', elements='dict', required=True, options=FILE_SPEC),
    max_content_size=dict(type='int'),
)


def payload_params(params):
    """The keyword arguments of ``parse_payload`` from a module's validated parameters."""
    files = [{key: value for key, value in spec.items() if value is not None} for spec in params['files']]
    return dict(files=files, device=params['device'], label=params['label'], preset=params['preset'],
                max_content_size=params['max_content_size'])


VM_ARGSPEC = dict(
    name=dict(type='str'),
    uuid=dict(type='str', aliases=['id']),
)
VM_ONE_OF = [('name', 'uuid')]

LIBVIRT_ARGSPEC = dict(
    uri=dict(type='str', default='qemu:///system'),
    pool=dict(type='str', default='vmpayload'),
)

# ovirt.ovirt's ``auth`` (its module_utils/ovirt.py), with the same environment fallbacks, so that the
# fact ovirt.ovirt.ovirt_auth registers works as it is. AWX's "Red Hat Virtualization" credential
# injects OVIRT_URL, OVIRT_USERNAME, OVIRT_PASSWORD and OVIRT_INI_PATH (an INI file that holds the CA
# file's path); the oVirt backend reads ca_file from that file when nothing else gives one.
OVIRT_AUTH_SPEC = dict(
    url=dict(type='str', fallback=(env_fallback, ['OVIRT_URL'])),
    hostname=dict(type='str', fallback=(env_fallback, ['OVIRT_HOSTNAME'])),
    username=dict(type='str', fallback=(env_fallback, ['OVIRT_USERNAME'])),
    password=dict(type='str', no_log=True, fallback=(env_fallback, ['OVIRT_PASSWORD'])),
    token=dict(type='str', no_log=True, fallback=(env_fallback, ['OVIRT_TOKEN'])),
    ca_file=dict(type='path', fallback=(env_fallback, ['OVIRT_CAFILE'])),
    insecure=dict(type='bool', default=False),
    timeout=dict(type='int', default=0),
    compress=dict(type='bool', default=True),
    kerberos=dict(type='bool', default=False),
    headers=dict(type='dict'),
)
DEFAULT_ENGINE_PAYLOAD_SIZE = 8192

OVIRT_ARGSPEC = dict(
    auth=dict(type='dict', options=OVIRT_AUTH_SPEC),
)
# The modules that send payloads: the engine's per-file limit, checked before any request.
ENGINE_PAYLOAD_ARGSPEC = dict(
    engine_payload_size=dict(type='int', default=DEFAULT_ENGINE_PAYLOAD_SIZE),
)
# A task names one platform: auth (oVirt) or uri (libvirt). Checked before defaults apply, so the
# default uri does not count.
PLATFORM_EXCLUSIVE = [('auth', 'uri')]


def optional_files(argspec):
    """The payload group with ``files`` not required (a module that also removes payloads)."""
    files = dict(argspec['files'], required=False)
    return dict(argspec, files=files)
