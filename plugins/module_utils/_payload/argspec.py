# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument specs shared by the modules, one dict per option group, in step with doc_fragments/."""

from __future__ import annotations

from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import DEVICES, PRESETS

FILE_SPEC = dict(
    name=dict(type='str', required=True),
    content=dict(type='str', no_log=True),
    content_b64=dict(type='str', no_log=True),
    src=dict(type='path'),
)

PAYLOAD_ARGSPEC = dict(
    device=dict(type='str', default='cdrom', choices=list(DEVICES)),
    label=dict(type='str'),
    preset=dict(type='str', choices=list(PRESETS)),
    files=dict(
        type='list', elements='dict', required=True, options=FILE_SPEC,
        mutually_exclusive=[('content', 'content_b64', 'src')],
        required_one_of=[('content', 'content_b64', 'src')],
    ),
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


def optional_files(argspec):
    """The payload group with ``files`` not required (a module that also removes payloads)."""
    files = dict(argspec['files'], required=False)
    return dict(argspec, files=files)
