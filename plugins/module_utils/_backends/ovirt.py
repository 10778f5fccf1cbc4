# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The oVirt backend: the engine keeps the payload and VDSM builds the image; this drives the engine.

Everything goes through ovirt-engine-sdk-python. The engine's behaviour that the design rests on
was read in its source (ovirt-engine @ 0111fc63, the lines cited are in docs/ovirt.md):

- A VM's payloads are written by UpdateVmCommand only while the VM is not running (Down, Suspended,
  ImageLocked, ImageIllegal; UpdateVmCommand.java L346-360, VMStatus.java L53-55). On a running VM the
  PUT answers 200 and silently keeps the old payload, so every write is verified against the answer.
- ``<payloads/>`` clears the payload; only the first payload is kept (BackendVmResource.java L675-703).
- Each file's text may count at most ``PayloadSize`` (8192) Java characters, refused as "Payload is
  limited to 16K" (VmCommand.java L428-446); content is plain text on the v4 API (VmMapper.java L1049).
- The start action carries no payload files (RunVmOnceParams, VmService.Start); RunVmCommand reads the
  stored payload when the run begins and hands it to VDSM (RunVmCommand.java L193, L856-864, L653-656).
- Payloads are shown to users with an administrator role only (GetVmPayloadQuery.java L29-44).

So a one-boot payload is stored while the VM is down, the VM is started, and what the VM kept comes
back at the next change made while it is down. Until then the stored payload carries a journal, under
``vmpayload-restore/``, of what the VM kept: a rerun after an interruption at any step finds it there,
in the engine itself, and converges.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import traceback

from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import (
    Capabilities,
    PayloadBackend,
    PayloadRecord,
    Placement,
    Vm,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.waits import WaitTimeout, retry, wait_until
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import DEFAULT_ENGINE_PAYLOAD_SIZE
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    MissingLibraryError,
    PayloadValidationError,
    VmNotFoundError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload, payload_digest

try:
    import ovirtsdk4 as sdk
    from ovirtsdk4 import types
    OVIRT_IMPORT_ERROR = None
except ImportError:
    OVIRT_IMPORT_ERROR = traceback.format_exc()

# The statuses in which the engine writes a payload (VMStatus.isNotRunning()).
WRITABLE_STATUSES = ('down', 'suspended', 'image_locked', 'image_illegal')
STOPPED_STATUSES = ('down',)
# Once the engine reports Up, VDSM has built this boot's image; before that a failed start is re-run
# from the stored payload (VmAnalyzer.java L270-272, RunVmCommandBase.java L187-201).
RUNNING_STATUSES = ('up',)
JOURNAL_DIRECTORY = 'vmpayload-restore'
JOURNAL_MANIFEST = JOURNAL_DIRECTORY + '/kept.json'
JOURNAL_FILES = JOURNAL_DIRECTORY + '/files/'
JOURNAL_FORMAT = 'vmpayload-restore/1'
DEFAULT_REQUEST_TIMEOUT = 180
# UpdateVm and RunVm hold the VM's lock for the length of one command: a conflict with one of them
# (409 "Related operation is currently in progress", "VM is being updated") is tried again, briefly.
LOCK_ATTEMPTS = 4
LOCK_PAUSE = 2.0
LOCK_CONFLICTS = ('currently in progress', 'is being updated')
STATUS_POLL = 2.0
# AWX's Red Hat Virtualization credential writes the CA file's path only into this INI file.
AWX_INI_ENV = 'OVIRT_INI_PATH'


def _locked(exc):
    return (OVIRT_IMPORT_ERROR is None and isinstance(exc, sdk.Error) and exc.code == 409
            and any(text in _engine_reason(exc) for text in LOCK_CONFLICTS))


def _engine_reason(exc):
    """The engine's own words for a failure: the fault's detail without its brackets, else the SDK's message."""
    fault = getattr(exc, 'fault', None)
    if fault is not None and (fault.detail or fault.reason):
        detail = (fault.detail or '').strip()
        if detail.startswith('[') and detail.endswith(']'):
            detail = detail[1:-1]
        return detail or fault.reason
    return str(exc)


def awx_ca_file(environ=None):
    """The CA file AWX's Red Hat Virtualization credential names in its INI file, or None."""
    path = (environ if environ is not None else os.environ).get(AWX_INI_ENV)
    if not path:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding='utf-8')
    except configparser.Error:
        return None
    return parser.get('ovirt', 'ovirt_ca_file', fallback=None) or None


def engine_url(auth):
    if auth.get('url'):
        return auth['url']
    if auth.get('hostname'):
        return 'https://%s/ovirt-engine/api' % auth['hostname']
    raise PayloadValidationError('auth needs url or hostname (or OVIRT_URL in the environment)', option='auth.url')


class OvirtBackend(PayloadBackend):
    platform = 'oVirt'

    @classmethod
    def capabilities(cls, params):
        for option, libvirt_only in (('drive', params.get('drive') == 'replace'), ('target', params.get('target'))):
            if libvirt_only:
                raise PayloadValidationError('%s is a libvirt option; the oVirt engine gives a payload a drive of its '
                                             'own' % option, option=option)
        return _engine_capabilities(params.get('engine_payload_size') or DEFAULT_ENGINE_PAYLOAD_SIZE,
                                    reserved=(JOURNAL_DIRECTORY,))

    @classmethod
    def open(cls, params):
        return cls(params['auth'], params.get('engine_payload_size') or DEFAULT_ENGINE_PAYLOAD_SIZE)

    def __init__(self, auth, engine_payload_size=DEFAULT_ENGINE_PAYLOAD_SIZE):
        if OVIRT_IMPORT_ERROR is not None:
            raise MissingLibraryError('ovirt-engine-sdk-python', OVIRT_IMPORT_ERROR)
        self.url = engine_url(auth)
        self.engine_payload_size = engine_payload_size
        if not auth.get('token') and not auth.get('kerberos') and not (auth.get('username') and auth.get('password')):
            raise PayloadValidationError('auth needs a token, or username and password (or OVIRT_TOKEN, '
                                         'OVIRT_USERNAME and OVIRT_PASSWORD in the environment)', option='auth')
        # ovirt.ovirt logs out only from a token it obtained itself (ovirt_vm.py L2942).
        self.logout = not auth.get('token')
        self.token_only = bool(auth.get('token')) and not (auth.get('username') and auth.get('password'))
        self.connection = sdk.Connection(
            url=self.url, username=auth.get('username'), password=auth.get('password'), token=auth.get('token'),
            ca_file=auth.get('ca_file') or awx_ca_file(), insecure=bool(auth.get('insecure')),
            kerberos=bool(auth.get('kerberos')), headers=auth.get('headers'),
            timeout=auth.get('timeout') or DEFAULT_REQUEST_TIMEOUT, compress=auth.get('compress', True))
        self.vms_service = self.connection.system_service().vms_service()
        self.username = auth.get('username')

    def close(self):
        try:
            self.connection.close(logout=self.logout)
        except sdk.Error:
            pass

    def _failure(self, asked, exc):
        """A BackendError naming the engine, what was asked and the engine's reason; never a secret."""
        if isinstance(exc, sdk.ConnectionError):
            return BackendError('cannot reach the oVirt engine at %s while %s: %s' % (self.url, asked, exc))
        # SDK 4.6 reports a request over its timeout as a plain Error ("Failed to read response: ...
        # Operation timed out"), with no HTTP code; a timed-out connect is a TimeoutError.
        if isinstance(exc, sdk.TimeoutError) or (exc.code is None and 'timed out' in str(exc).lower()):
            return BackendError('the oVirt engine at %s did not answer in time while %s: %s' % (self.url, asked, exc))
        code = getattr(exc, 'code', None)
        status = ' (HTTP %s)' % code if code else ''
        if 'SSL certificate' in str(exc):
            return BackendError('the oVirt engine at %s is not trusted while %s: %s. Give the CA that signed its '
                                'certificate as auth.ca_file (or OVIRT_CAFILE, or the CA File of AWX\'s Red Hat '
                                'Virtualization credential)' % (self.url, asked, exc))
        if isinstance(exc, sdk.AuthError) and self.token_only:
            # The SDK answers a 401 by logging in again, with no user when only a token was given.
            return BackendError('the oVirt engine at %s refused the token while %s: it expired or was revoked; log '
                                'in again (ovirt.ovirt.ovirt_auth) or give username and password'
                                % (self.url, asked))
        if isinstance(exc, sdk.AuthError) or code in (401, 403):
            return BackendError('the oVirt engine at %s refused %s%s: %s'
                                % (self.url, asked, status, _engine_reason(exc)))
        return BackendError('the oVirt engine at %s failed %s%s: %s' % (self.url, asked, status, _engine_reason(exc)))

    def _call(self, asked, request, *args, **kwargs):
        """One engine request; lock conflicts are tried again a few times, any other failure says what was asked."""
        try:
            return retry(LOCK_ATTEMPTS, LOCK_PAUSE, retry_on=_locked)(request)(*args, **kwargs)
        except sdk.Error as exc:
            raise self._failure(asked, exc) from None

    # -- finding things -------------------------------------------------------------------

    def find_vm(self, name=None, vm_id=None):
        if vm_id:
            try:
                found = self.vms_service.vm_service(vm_id).get()
            except sdk.NotFoundError:
                raise VmNotFoundError('no VM with id %s on the oVirt engine at %s' % (vm_id, self.url)) from None
            except sdk.Error as exc:
                raise self._failure('looking up VM %s' % vm_id, exc) from None
        else:
            # all_content brings the payloads along in the list (BackendVmsResource.java L919-939).
            if '"' in name:
                raise PayloadValidationError('an oVirt VM name cannot contain a double quote', option='name')
            listed = self._call('looking up VM %s' % name, self.vms_service.list,
                                search='name="%s"' % name, all_content=True)
            matches = [vm for vm in listed if vm.name == name]
            if not matches:
                raise VmNotFoundError('no VM named %s on the oVirt engine at %s' % (name, self.url))
            found = matches[0]
        return Vm(name=found.name, id=found.id, handle=found)

    def _refresh(self, vm, asked='reading VM %s'):
        """The VM as the engine has it now; the Vm handle is updated in place."""
        fresh = self._call(asked % vm.name, self.vms_service.vm_service(vm.id).get)
        vm.handle = fresh
        return fresh

    @staticmethod
    def _status(vm):
        return vm.handle.status.value if vm.handle.status is not None else 'unknown'

    def is_running(self, vm):
        return self._status(vm) not in STOPPED_STATUSES

    # -- reading -----------------------------------------------------------------------------

    def _stored(self, vm):
        """(type, volume_id, {name: text}) of the payload the engine stores, None when there is none."""
        payloads = vm.handle.payloads
        if not payloads:
            return None
        payload = payloads[0]
        files = {f.name: f.content or '' for f in payload.files or []}
        return (payload.type.value if payload.type is not None else 'cdrom', payload.volume_id, files)

    @staticmethod
    def _can_see_payloads(vm):
        """Whether a VM without ``<payloads>`` has none, rather than being shown to a user who may not see it.

        GetVmPayloadQuery returns the payload only to users with an administrator role
        (GetVmPayloadQuery.java L29-44). Those users' requests are unfiltered by default, and only an
        unfiltered VM keeps its ``<placement_policy>``, which the mapper always fills and the REST layer
        removes from filtered answers (BackendVmResource.java L139-145, BaseBackendResource.isFiltered()):
        so its presence tells an administrator's answer apart with no extra request.
        """
        return vm.handle.placement_policy is not None

    def read_record(self, vm, live=False):
        if not vm.handle.payloads and not self._can_see_payloads(vm):
            return PayloadRecord.unknown(
                'the oVirt engine shows payloads only to users with an administrator role, and only in unfiltered '
                'answers: %s got a filtered answer (no administrator role, or a Filter header in auth.headers), so '
                'whether VM %s has a payload cannot be told' % (self.username or 'this user', vm.name))
        stored = self._stored(vm)
        if stored is None:
            return PayloadRecord.none()
        kind, volume_id, files = stored
        journal = _journal(files)
        if journal is None:
            return _record('permanent', kind, volume_id, files)
        if live:
            return _record('run-once', kind, volume_id, _without_journal(files),
                           reported={'restore_pending': True})
        return _kept_record(journal, files)

    def read_contents(self, vm, record):
        stored = self._stored(vm)
        files = {}
        if stored is not None:
            journal = _journal(stored[2])
            if journal is not None and record.availability != 'run-once':
                files = _journal_files(journal, stored[2])
            else:
                files = _without_journal(stored[2])
        return [dict(_file_summary(name, text), content=text, sha256=_file_summary(name, text)['digest'])
                for name, text in sorted(files.items())]

    # -- changing ------------------------------------------------------------------------------

    def place(self, vm, payload, record, once=False):
        stored = self._stored(vm)
        journal_pending = stored is not None and _journal(stored[2]) is not None
        return Placement(in_place=not journal_pending, live=True, needs_restart=False)

    def change_refusal(self, vm):
        status = self._status(vm)
        if status in WRITABLE_STATUSES:
            return None
        return ('the oVirt engine changes a payload only while the VM is down, and VM %s is %s '
                '(UpdateVmCommand ignores the payload of a running VM): stop it first'
                % (vm.name, status.replace('_', ' ')))

    def _store(self, vm, kind, volume_id, files, asked):
        """PUT the payload (None clears it) and check that the engine stored it."""
        if files is None:
            wanted = []
        else:
            wanted = [types.Payload(type=types.VmDeviceType(kind), volume_id=volume_id,
                                    files=[types.File(name=name, content=text) for name, text in sorted(files.items())])]
        answer = self._call(asked, self.vms_service.vm_service(vm.id).update, types.Vm(payloads=wanted))
        vm.handle = answer
        stored = self._stored(vm)
        expected = None if files is None else (kind, volume_id or None, dict(files))
        got = None if stored is None else (stored[0], stored[1] or None, stored[2])
        if got != expected:
            raise BackendError('the oVirt engine at %s kept the payload it had when %s (VM status %s): it writes '
                               'payloads only while a VM is down' % (self.url, asked, self._status(vm)))

    def attach(self, vm, payload, placement):
        self._store(vm, payload.device, payload.label, _texts(payload), 'storing the payload of VM %s' % vm.name)
        return dict(restart_required=self._status(vm) not in STOPPED_STATUSES)

    def detach(self, vm, record):
        self._store(vm, None, None, None, 'removing the payload of VM %s' % vm.name)
        return dict(restart_required=self._status(vm) not in STOPPED_STATUSES)

    def tidy(self, vm):
        """Give a down VM back what it kept, when a one-boot payload is still stored."""
        stored = self._stored(vm)
        if stored is None or _journal(stored[2]) is None or self._status(vm) not in WRITABLE_STATUSES:
            return {}
        kept = _kept_payload(_journal(stored[2]), stored[2])
        self._store(vm, *kept, asked='restoring the payload VM %s keeps' % vm.name)
        return dict(changed=True, restored=True)

    # -- run once ----------------------------------------------------------------------------

    def start_once(self, vm, payload, placement, timeout):
        if self.is_running(vm):
            self._stop(vm, timeout)
        # A next-run configuration is applied once the VM is down, and applying it clears the stored
        # payload (ProcessDownVmCommand.java L287-320): store only after that.
        if vm.handle.next_run_configuration_exists:
            wait_until(lambda: not self._refresh(vm).next_run_configuration_exists, timeout, STATUS_POLL,
                       'the oVirt engine did not apply the next-run configuration of VM %s within %d s of its stop'
                       % (vm.name, timeout))
        stored = self._stored(vm)
        if stored is not None and _journal(stored[2]) is not None:
            kept = _kept_payload(_journal(stored[2]), stored[2])
        elif stored is not None:
            kept = stored
        else:
            kept = (None, None, None)
        one_boot = dict(_texts(payload))
        one_boot.update(_journal_of(kept))
        self._check_one_boot(payload, one_boot)
        self._store(vm, payload.device, payload.label, one_boot, 'storing the one-boot payload of VM %s' % vm.name)
        try:
            # No use_cloud_init/use_sysprep/use_ignition: set true, they would drop the stored payload
            # (RunVmCommand.java L891-924).
            self._call('starting VM %s' % vm.name, self.vms_service.vm_service(vm.id).start)
        except BackendError as failure:
            try:
                self._store(vm, *kept, asked='restoring the payload VM %s keeps' % vm.name)
            except BackendError as restore_failure:
                raise BackendError('%s; restoring the payload it keeps failed too (%s): run the task again once the '
                                   'VM is down' % (failure, restore_failure)) from None
            raise BackendError('%s; the payload it keeps was restored' % failure) from None
        return {}

    def _check_one_boot(self, payload, files):
        """The one-boot payload, journal included, must be a valid payload within the engine's limit."""
        try:
            combined = parse_payload([{'name': name, 'content': text} for name, text in files.items()],
                                     device=payload.device, label=payload.label)
        except PayloadValidationError as exc:
            raise BackendError('the payload the VM keeps cannot ride along on this %s for its one boot: %s'
                               % (payload.device, exc)) from None
        _engine_capabilities(self.engine_payload_size).check(combined)

    def _stop(self, vm, timeout):
        """Shut the VM down; power it off when it is not down within ``timeout`` seconds."""
        service = self.vms_service.vm_service(vm.id)
        self._call('shutting down VM %s' % vm.name, service.shutdown)
        try:
            self._wait_status(vm, STOPPED_STATUSES, timeout, 'shutdown')
            return
        except WaitTimeout:
            pass
        self._call('powering off VM %s' % vm.name, service.stop)
        self._wait_status(vm, STOPPED_STATUSES, timeout, 'power-off')

    def _wait_status(self, vm, statuses, timeout, what):
        def reached():
            self._refresh(vm)
            return self._status(vm) in statuses

        wait_until(reached, timeout, STATUS_POLL,
                   lambda: 'VM %s is %s, not %s, %d s after its %s'
                   % (vm.name, self._status(vm).replace('_', ' '), ' or '.join(statuses), timeout, what))

    def wait_running(self, vm, timeout):
        def up():
            self._refresh(vm)
            status = self._status(vm)
            if status in STOPPED_STATUSES:
                raise BackendError('VM %s went down again while starting; the engine\'s events say why' % vm.name)
            return status in RUNNING_STATUSES

        wait_until(up, timeout, STATUS_POLL,
                   lambda: 'VM %s did not reach the up status within %d s (it is %s)'
                   % (vm.name, timeout, self._status(vm).replace('_', ' ')))


def _engine_capabilities(limit, reserved=()):
    # VmCommand.java L438: the engine's message counts 2 bytes per Java character.
    return Capabilities(platform=OvirtBackend.platform, devices=('cdrom', 'floppy'), run_once=True,
                        binary_content=False, max_file_units=limit,
                        size_refusal='Payload is limited to %dK' % (2 * limit // 1024), reserved=reserved)


def _texts(payload):
    """{name: text} of a validated payload (Capabilities.check made sure each file is UTF-8)."""
    texts = {}
    for f in payload.files:
        with f.open() as stream:
            texts[f.name] = stream.read().decode('utf-8')
    return texts


def _file_summary(name, text):
    data = text.encode('utf-8')
    # The engine shows the content itself to whoever may read the payload: the digest is the plain sha256.
    return {'name': name, 'size': len(data), 'digest': hashlib.sha256(data).hexdigest()}


def _record(availability, kind, volume_id, files, reported=None):
    summaries = [_file_summary(name, text) for name, text in sorted(files.items())]
    digest = payload_digest(kind, volume_id, [(f['name'], f['digest']) for f in summaries])
    return PayloadRecord(availability=availability, digest=digest, device=kind, label=volume_id, files=summaries,
                         reported=dict(reported or {}))


def _journal(files):
    """The manifest of a one-boot payload's journal, or None when the payload has none."""
    text = files.get(JOURNAL_MANIFEST)
    if text is None:
        return None
    try:
        manifest = json.loads(text)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) and manifest.get('format') == JOURNAL_FORMAT else None


def _without_journal(files):
    return {name: text for name, text in files.items() if name.split('/', 1)[0] != JOURNAL_DIRECTORY}


def _journal_files(journal, files):
    return {name: files.get(JOURNAL_FILES + name, '') for name in journal.get('files') or []}


def _kept_payload(journal, files):
    """(type, volume_id, {name: text}) the VM keeps, from the journal; (None, None, None) for none."""
    if journal.get('availability') != 'permanent':
        return (None, None, None)
    return (journal.get('type') or 'cdrom', journal.get('volume_id'), _journal_files(journal, files))


def _kept_record(journal, files):
    kind, volume_id, kept = _kept_payload(journal, files)
    if kept is None:
        return PayloadRecord.none()
    return _record('permanent', kind, volume_id, kept)


def _journal_of(kept):
    """The journal files that carry what the VM keeps while it boots once."""
    kind, volume_id, files = kept
    manifest = {'format': JOURNAL_FORMAT, 'availability': 'permanent' if files is not None else 'none'}
    entries = {}
    if files is not None:
        manifest.update(type=kind, volume_id=volume_id, files=sorted(files))
        entries = {JOURNAL_FILES + name: text for name, text in files.items()}
    entries[JOURNAL_MANIFEST] = json.dumps(manifest, ensure_ascii=False, sort_keys=True)
    return entries
