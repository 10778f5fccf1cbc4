# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one place that decides, for every platform (as kubernetes.core's ``perform_action`` does).

It validates the payload and checks it against the platform's capabilities before connecting,
finds the VM, reads its record, compares digests, guards check mode, builds the diff and
assembles the result. Backends (``base.PayloadBackend``) only carry out what is decided here.
"""

from __future__ import annotations

import json
import uuid

from ansible_collections.vmpayload.core.plugins.module_utils._backends.factory import backend_class
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import payload_params
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import BackendError, PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import listing_text, parse_payload, staged_payload
from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import warn_stale_removed

CONTENT_AVAILABILITIES = ('permanent', 'run-once')


def payload_summary(described):
    """Result keys for a payload as the backend records it."""
    summary = described.summary()
    return {key: summary[key] for key in ('digest', 'device', 'label', 'files', 'digest_key') if key in summary}


def payload_diff(record, described):
    """Before and after as listings of names, sizes and digests; never content."""
    before = record.listing() if record.availability in CONTENT_AVAILABILITIES else None
    after = described.listing() if described is not None else None
    return dict(before=listing_text(before) if before else '', after=listing_text(after) if after else '')


def _known(record):
    """Refuse to decide on a payload the platform would not show (its reason says why)."""
    if record.availability == 'unknown':
        raise BackendError(record.reason or 'the VM\'s payload cannot be read')
    return record


def _refuse_if_blocked(backend, vm):
    refusal = backend.change_refusal(vm)
    if refusal:
        raise BackendError(refusal)


def ensure_permanent(backend, vm, payload, check_mode):
    """Make ``payload`` what the VM keeps."""
    record = _known(backend.read_record(vm))
    described = backend.describe(payload)
    placement = backend.place(vm, payload, record)
    running = backend.is_running(vm)
    in_place = record.holds(described, 'permanent') and placement.in_place and not placement.live_repair
    result = dict(changed=not in_place, availability='permanent', restart_required=False,
                  **payload_summary(described))
    result.update(placement.reported)
    if in_place:
        result['restart_required'] = (running and not placement.live) or placement.resumes_other
        if not check_mode:
            result.update(backend.tidy(vm))
        return result
    _refuse_if_blocked(backend, vm)
    result['diff'] = payload_diff(record, described)
    if check_mode:
        result['restart_required'] = (running and placement.needs_restart) or placement.resumes_other
        return result
    result.update(backend.attach(vm, payload, placement))
    if placement.resumes_other:
        result['restart_required'] = True
    return result


def ensure_absent(backend, vm, check_mode):
    """Take the VM's permanent payload away."""
    record = _known(backend.read_record(vm))
    result = dict(changed=False, availability='none', restart_required=False)
    if record.availability != 'permanent':
        if not check_mode:
            result.update(backend.tidy(vm))
        return result
    _refuse_if_blocked(backend, vm)
    result.update(changed=True, diff=payload_diff(record, None))
    if check_mode:
        return result
    result.update(backend.detach(vm, record))
    return result


def start_once(backend, vm, payload, restart, wait, timeout, check_mode):
    """Start the VM once with ``payload``; what it keeps stays as it was."""
    described = backend.describe(payload)
    if backend.is_running(vm):
        live = _known(backend.read_record(vm, live=True))
        if live.holds(described, 'run-once'):
            return dict(changed=False, availability='run-once', **dict(live.reported, **payload_summary(described)))
        if not restart:
            raise BackendError('VM %s is running without this run-once payload; set restart: true to stop it and '
                               'start it again with the payload' % vm.name)
    placement = backend.place(vm, payload, None, once=True)
    result = dict(changed=True, availability='run-once', restart_required=False,
                  diff=payload_diff(_known(backend.read_record(vm)), described), **payload_summary(described))
    result.update(placement.reported)
    if check_mode:
        return result
    result.update(backend.start_once(vm, payload, placement, timeout))
    if wait:
        backend.wait_running(vm, timeout)
    return result


def read_back(backend, vm, include_content, expected=None):
    """What the VM runs with, or would boot with if started now; content only when asked.

    With ``expected`` (a payload), also whether the VM carries it: compared with the VM's record
    under the platform's own digests, so that an audit needs no key of its own.
    """
    record = backend.read_record(vm, live=True)
    result = dict(changed=False, **record.summary())
    if expected is not None:
        described = backend.describe(expected)
        result['expected_digest'] = described.digest
        result['matches_expected'] = any(record.holds(described, availability) for availability in CONTENT_AVAILABILITIES)
    if include_content and record.availability in CONTENT_AVAILABILITIES:
        result['files'] = backend.read_contents(vm, record)
    return result


def _check_vm_id(vm_id):
    """libvirt and oVirt both name VMs by UUID; a malformed one is named before anything is asked."""
    if vm_id is None:
        return
    try:
        uuid.UUID(vm_id)
    except ValueError:
        raise PayloadValidationError('uuid %s is not a UUID (such as 3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55)'
                                     % json.dumps(vm_id), option='uuid') from None


def _run(module, decide, payload=None, run_once=False, changes=True):
    """Check the payload against the platform, connect, find the VM, decide; always disconnect.

    A module that ``changes`` things (not in check mode) first removes what killed runs left.
    """
    params = module.params
    _check_vm_id(params['uuid'])
    if changes and not module.check_mode:
        warn_stale_removed(module)
    platform = backend_class(params)
    capabilities = platform.capabilities(params)
    if payload is not None:
        capabilities.check(payload, run_once=run_once)
    backend = platform.open(params)
    try:
        vm = backend.find_vm(name=params['name'], vm_id=params['uuid'])
        result = decide(backend, vm)
    finally:
        backend.close()
    if not module._diff:
        result.pop('diff', None)
    return result


def vm_payload(module):
    params = module.params
    if params['state'] == 'absent':
        return _run(module, lambda backend, vm: ensure_absent(backend, vm, module.check_mode))
    # The whole payload is validated before anything is connected to; each src is read once, into a private copy.
    with staged_payload(**payload_params(params)) as payload:
        return _run(module, lambda backend, vm: ensure_permanent(backend, vm, payload, module.check_mode), payload)


def vm_run_once_payload(module):
    params = module.params

    def decide(backend, vm):
        return start_once(backend, vm, payload, params['restart'], params['wait'], params['timeout'],
                          module.check_mode)

    with staged_payload(**payload_params(params)) as payload:
        return _run(module, decide, payload, run_once=True)


def _expected_payload(params):
    """The ``expected`` payload of vm_payload_info, its errors named under ``expected``."""
    try:
        return parse_payload(**payload_params(params))
    except PayloadValidationError as exc:
        raise PayloadValidationError('expected: %s' % exc, option='expected.%s' % exc.option if exc.option else 'expected',
                                     file=exc.file) from None


def vm_payload_info(module):
    params = module.params
    # The expected payload is validated before anything is connected to, as the modules that send one do.
    expected = _expected_payload(params['expected']) if params['expected'] else None
    return _run(module, lambda backend, vm: read_back(backend, vm, params['include_content'], expected), changes=False)
