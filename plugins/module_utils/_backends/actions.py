# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The actions of vm_payload, vm_run_once_payload and vm_payload_info, over any backend."""

from __future__ import annotations

from ansible_collections.vmpayload.core.plugins.module_utils._backends.factory import create_backend
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import payload_params
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload


def _with_backend(module, work):
    backend = create_backend(module.params)
    try:
        vm = backend.find_vm(name=module.params['name'], uuid=module.params['uuid'])
        return work(backend, vm)
    finally:
        backend.close()


def _finish(module, result):
    if not module._diff:
        result.pop('diff', None)
    return result


def vm_payload(module):
    params = module.params
    # Validate the whole payload before connecting to anything.
    payload = parse_payload(**payload_params(params)) if params['state'] == 'present' else None

    def work(backend, vm):
        if payload is None:
            return backend.remove_permanent(vm, module.check_mode)
        return backend.apply_permanent(vm, payload, params['drive'], params['target'], module.check_mode)

    return _finish(module, _with_backend(module, work))


def vm_run_once_payload(module):
    params = module.params
    payload = parse_payload(**payload_params(params))

    def work(backend, vm):
        return backend.start_once(vm, payload, params['restart'], params['wait'], params['timeout'],
                                  module.check_mode)

    return _finish(module, _with_backend(module, work))


def vm_payload_info(module):
    def work(backend, vm):
        summary = backend.read_payload(vm, include_content=module.params['include_content'])[1]
        return dict(changed=False, **summary)

    return _with_backend(module, work)
