# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Many VMs in one task over one connection: the vm_payloads module's action.

One task per VM pays Ansible's per host-task cost (a process, the module's imports, a connection)
for every VM. Here every entry's payload is validated first, then one connection serves all VMs,
and each VM is decided by the same functions as vm_payload (``ensure_permanent``,
``ensure_absent``), so idempotence, check mode, diff and ``restart_required`` are vm_payload's.

A bad entry fails the task before anything is connected to. A VM that is not found, or whose
change fails, is reported in its own result; the others are still done, and the task then fails
naming every VM that failed.
"""

from __future__ import annotations

import contextlib
import json

from ansible_collections.vmpayload.core.plugins.module_utils._backends.actions import (
    _check_vm_id,
    ensure_absent,
    ensure_permanent,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.factory import backend_class
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import payload_params
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadError, PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import staged_payload
from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import warn_stale_removed


def _where(index, entry):
    """``vms[2] ("web3")``: how a message names an entry, by what the user gave."""
    given = entry.get('name') if entry.get('name') is not None else entry.get('uuid')
    return 'vms[%d]' % index + (' (%s)' % json.dumps(given, ensure_ascii=False) if given is not None else '')


def _named(index, entry, exc):
    """A validation error of one entry, its message and option under ``vms[index]``."""
    option = 'vms[%d].%s' % (index, exc.option) if exc.option else 'vms[%d]' % index
    return PayloadValidationError('%s: %s' % (_where(index, entry), exc), option=option, file=exc.file)


def _vm_key(entry):
    """What makes two entries the same VM before any lookup: the same uuid, or the same name."""
    if entry['uuid'] is not None:
        return 'uuid', entry['uuid'].lower()
    return 'name', entry['name']


def check_entries(entries):
    """Each entry names one VM, once, and says what it needs; raise naming the first that does not."""
    seen = {}
    for index, entry in enumerate(entries):
        if (entry['name'] is None) == (entry['uuid'] is None):
            raise PayloadValidationError('%s: give exactly one of name or uuid' % _where(index, entry),
                                         option='vms[%d].name' % index)
        try:
            _check_vm_id(entry['uuid'])
        except PayloadValidationError as exc:
            raise _named(index, entry, exc) from None
        if entry['state'] == 'present' and not entry['files']:
            raise PayloadValidationError('%s: files is required with state present' % _where(index, entry),
                                         option='vms[%d].files' % index)
        key = _vm_key(entry)
        if key in seen:
            raise PayloadValidationError('%s names the same VM as vms[%d]; give each VM once'
                                         % (_where(index, entry), seen[key]), option='vms[%d].%s' % (index, key[0]))
        seen[key] = index


def _staged(stack, entries, capabilities):
    """Every entry's payload (None for state absent), validated and staged before any connection."""
    payloads = []
    for index, entry in enumerate(entries):
        if entry['state'] == 'absent':
            payloads.append(None)
            continue
        try:
            payload = stack.enter_context(staged_payload(**payload_params(entry)))
            capabilities.check(payload)
        except PayloadValidationError as exc:
            raise _named(index, entry, exc) from None
        payloads.append(payload)
    return payloads


def _find_all(backend, entries):
    """Each entry's VM, or the error that says why it was not found."""
    found = []
    for entry in entries:
        try:
            found.append(backend.find_vm(name=entry['name'], vm_id=entry['uuid']))
        except PayloadError as exc:
            found.append(exc)
    # A name and a uuid may name the same VM; refused here, before any VM is changed.
    first = {}
    for index, vm in enumerate(found):
        if isinstance(vm, PayloadError):
            continue
        if vm.id in first:
            raise PayloadValidationError('%s is the same VM as vms[%d] (%s, uuid %s); give each VM once; nothing was '
                                         'changed' % (_where(index, entries[index]), first[vm.id], vm.name, vm.id),
                                         option='vms[%d]' % index)
        first[vm.id] = index
    return found


def _decide(backend, entry, payload, vm, check_mode):
    """One VM's result as vm_payload gives it, with its name and uuid; a failure is its own result."""
    result = dict(name=entry['name'], uuid=entry['uuid'], state=entry['state'], changed=False)
    if isinstance(vm, PayloadError):
        return dict(result, failed=True, msg=str(vm))
    result.update(name=vm.name, uuid=vm.id)
    try:
        if payload is None:
            result.update(ensure_absent(backend, vm, check_mode))
        else:
            result.update(ensure_permanent(backend, vm, payload, check_mode))
    except PayloadError as exc:
        # What a backend changed before it failed is not known here; vm_payload's next run finds it.
        return dict(result, failed=True, msg=str(exc))
    return result


def _diff(index, result):
    """One VM's diff for Ansible's list of diffs, headed by the VM."""
    diff = result.pop('diff')
    header = 'vms[%d] %s (%s)' % (index, result['name'], result['uuid'])
    return dict(diff, before_header=header, after_header=header)


def vm_payloads(module):
    params = module.params
    entries = params['vms']
    check_entries(entries)
    platform = backend_class(params)
    capabilities = platform.capabilities(params)
    with contextlib.ExitStack() as stack:
        payloads = _staged(stack, entries, capabilities)
        if not module.check_mode:
            warn_stale_removed(module)
        backend = platform.open(params)
        try:
            found = _find_all(backend, entries)
            results = [_decide(backend, entry, payload, vm, module.check_mode)
                       for entry, payload, vm in zip(entries, payloads, found)]
        finally:
            backend.close()
    diffs = [_diff(index, result) for index, result in enumerate(results) if 'diff' in result]
    outcome = dict(changed=any(result['changed'] for result in results), vms=results)
    if module._diff:
        outcome['diff'] = diffs
    failures = ['%s: %s' % (_where(index, result), result['msg'])
                for index, result in enumerate(results) if result.get('failed')]
    if failures:
        outcome.update(failed=True, msg='%d of %d VMs failed (the others were done): %s'
                       % (len(failures), len(results), '; '.join(failures)))
    return outcome
