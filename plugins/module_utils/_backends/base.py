# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The contract between the one decision layer (``actions.py``) and each platform's backend.

The decision layer finds the VM, reads its record, compares digests, guards check mode, builds
the diff and assembles the result, for every platform. A backend supplies the small operations
below and says what its platform can carry (:class:`Capabilities`). Where a payload goes on the
platform (libvirt's pool, drive and target) is the backend's own option, given to its constructor,
and the backend's own business: the contract speaks of VMs, records and payloads only.
"""

from __future__ import annotations

import abc
import functools
import json
import re
from dataclasses import dataclass, field

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError

AVAILABILITIES = ('permanent', 'run-once', 'none', 'unknown')


@functools.lru_cache(maxsize=None)
def xml_illegal():
    """What XML 1.0 cannot carry (its Char production): C0 controls but tab, LF and CR, and U+FFFE and U+FFFF.

    Text decoded from UTF-8 holds no surrogates. Compiled on first use: its ranges take about 20 ms to compile,
    which every module run paid at import, for a check that only text-only platforms (oVirt) make.
    """
    return re.compile('[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


@dataclass
class Vm:
    """A VM found on a platform: what the decision layer names it by, and the backend's own handle.

    A backend may replace the handle with a fresher one (oVirt keeps the engine's last answer).
    """

    name: str
    id: str
    handle: object = field(default=None, compare=False, repr=False)


@dataclass
class PayloadRecord:
    """What a VM carries: the payload's metadata (never content).

    ``reported`` holds the platform's own result keys (libvirt: ``volume``); ``placement`` is where
    the backend put the image, which only the backend reads.
    """

    availability: str
    digest: str | None = None
    device: str | None = None
    label: str | None = None
    files: list = field(default_factory=list)
    reported: dict = field(default_factory=dict)
    placement: dict = field(default_factory=dict)
    reason: str | None = None
    key_id: str | None = None

    def summary(self):
        result = {'availability': self.availability, 'digest': self.digest, 'device': self.device,
                  'label': self.label, 'files': [dict(f) for f in self.files]}
        if self.key_id:
            result['digest_key'] = self.key_id
        result.update(self.reported)
        if self.reason:
            result['msg'] = self.reason
        return result

    def listing(self):
        """The same shape as an image listing, for diffs."""
        return {'device': self.device or '', 'label': self.label, 'files': self.files}

    def holds(self, described, availability):
        """Whether this record says the VM carries the payload ``described`` (as the backend records it)."""
        return self.availability == availability and self.digest is not None and self.digest == described.digest

    @classmethod
    def none(cls):
        return cls(availability='none')

    @classmethod
    def unknown(cls, reason):
        return cls(availability='unknown', reason=reason)


def described(payload):
    """A payload as a record with its canonical sha256 digests."""
    return PayloadRecord(availability=None, digest=payload.digest, device=payload.device, label=payload.label,
                         files=[{'name': f.name, 'size': f.size, 'digest': f.sha256} for f in payload.files])


@dataclass
class Placement:
    """Where a payload would go on the VM, as the backend sees it before acting.

    ``in_place``: the platform already holds this payload there (beyond what the record says).
    ``live``: a running VM sees it now. ``needs_restart``: applying it would reach a running VM
    only at its next start. ``live_repair``: a running VM does not see what it keeps, but could now
    (a run was stopped between the two), so an unchanged payload is applied again.
    ``resumes_other``: a stopped VM resumes from a saved state (libvirt's managed save image) that
    holds another payload, or none: it sees this one only at its next boot.
    ``reported``: result keys the platform adds (volume, replaced media).
    ``location``: the backend's own notes for the operation that follows (drive slot, pool).
    """

    in_place: bool = False
    live: bool = True
    live_repair: bool = False
    needs_restart: bool = False
    resumes_other: bool = False
    reported: dict = field(default_factory=dict)
    location: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Capabilities:
    """What a platform can carry; :meth:`check` refuses the rest before any connection is made.

    ``binary_content=False``: the platform carries content as text in XML (oVirt's SDK writes it into
    the request as it is), so it must be UTF-8 and hold only characters XML 1.0 has.
    ``max_file_units`` counts a file's text in UTF-16 code units, as the oVirt engine's Java
    ``String.length()`` does; ``size_refusal`` is the platform's own words for a file over it.
    ``reserved`` are directories the backend keeps for itself in a payload.
    """

    platform: str
    devices: tuple = ('cdrom', 'floppy')
    run_once: bool = True
    binary_content: bool = True
    max_file_units: int | None = None
    size_refusal: str = ''
    reserved: tuple = ()

    def check(self, payload, run_once=False):
        if run_once and not self.run_once:
            raise PayloadValidationError('%s cannot start a VM once with a payload' % self.platform)
        if payload.device not in self.devices:
            raise PayloadValidationError('%s carries payloads on %s only, not %s'
                                         % (self.platform, ' or '.join(self.devices), payload.device),
                                         option='device')
        for f in payload.files:
            where = 'file %s' % json.dumps(f.name, ensure_ascii=False)
            for directory in self.reserved:
                if f.name.split('/', 1)[0] == directory:
                    raise PayloadValidationError('%s: the directory %s is reserved on %s for the payload the VM keeps '
                                                 'while it boots once' % (where, directory, self.platform),
                                                 option='files', file=f.name)
            if self.binary_content and self.max_file_units is None:
                continue
            with f.open() as stream:
                data = stream.read()
            try:
                text = data.decode('utf-8')
            except UnicodeDecodeError as exc:
                if self.binary_content:
                    continue
                raise PayloadValidationError(
                    '%s: %s carries payload content as text only, and this file is not UTF-8 text (byte offset %d). '
                    'Send it as base64 text (content: "{{ data | b64encode }}") and decode it in the guest'
                    % (where, self.platform, exc.start), option='files', file=f.name) from None
            illegal = None if self.binary_content else xml_illegal().search(text)
            if illegal:
                # The byte offset, as for invalid UTF-8; the character itself is content, so not shown.
                raise PayloadValidationError(
                    '%s: %s carries payload content as XML text, and this file has a character XML 1.0 cannot carry '
                    '(a control character other than tab, line feed and carriage return, or U+FFFE or U+FFFF) at '
                    'byte offset %d. Send it as base64 text (content: "{{ data | b64encode }}") and decode it in '
                    'the guest' % (where, self.platform, len(text[:illegal.start()].encode('utf-8'))),
                    option='files', file=f.name)
            if self.max_file_units is not None:
                units = len(text.encode('utf-16-le')) // 2
                if units > self.max_file_units:
                    raise PayloadValidationError(
                        '%s: %s (%d UTF-16 code units of text; the limit is %d)'
                        % (where, self.size_refusal, units, self.max_file_units), option='files', file=f.name)


class PayloadBackend(abc.ABC):
    """One platform. Constructing it connects; :meth:`close` releases the connection.

    No method takes check mode: the decision layer calls the changing ones (``attach``, ``detach``,
    ``start_once``, ``tidy``) only when it means to change something.
    """

    platform = None

    @classmethod
    @abc.abstractmethod
    def capabilities(cls, params):
        """The :class:`Capabilities` for a module's parameters (no connection is made)."""

    @classmethod
    @abc.abstractmethod
    def open(cls, params):
        """Connect with the module's parameters; the platform's own options (placement) are read here."""

    @abc.abstractmethod
    def find_vm(self, name=None, vm_id=None):
        """The :class:`Vm` by name or id; raise VmNotFoundError when there is none."""

    @abc.abstractmethod
    def is_running(self, vm):
        """Whether the VM runs (a payload change may then wait for its next start)."""

    @abc.abstractmethod
    def read_record(self, vm, live=False):
        """The VM's :class:`PayloadRecord`: what it keeps, or with ``live`` what it runs with now."""

    @abc.abstractmethod
    def read_contents(self, vm, record):
        """Each file of ``record`` with its content (``content``, or ``content_b64`` for bytes)."""

    @abc.abstractmethod
    def place(self, vm, payload, record, once=False):
        """Where ``payload`` would go (a :class:`Placement`); refuse a placement the VM cannot take."""

    @abc.abstractmethod
    def attach(self, vm, payload, placement):
        """Make ``payload`` the VM's permanent payload; return result keys (``restart_required``...)."""

    @abc.abstractmethod
    def detach(self, vm, record):
        """Take the permanent payload ``record`` describes away; return result keys."""

    @abc.abstractmethod
    def start_once(self, vm, payload, placement, timeout):
        """Start the VM once with ``payload``, stopping it first (within ``timeout``) when it runs.

        What the VM keeps stays as it was.
        """

    @abc.abstractmethod
    def wait_running(self, vm, timeout):
        """Return once the VM runs; raise BackendError after ``timeout`` seconds."""

    def describe(self, payload):
        """``payload`` as this platform records it (a :class:`PayloadRecord` without availability); never content.

        The decision layer compares it with the VM's record, and reports and diffs it. By default the
        digests are the canonical sha256 ones; a platform whose records others can read keys them.
        """
        return described(payload)

    def change_refusal(self, vm):
        """Why the platform cannot change what the VM keeps right now, or None.

        Asked only when a change is needed, in check mode too, so that check mode predicts the failure.
        """
        return None

    def tidy(self, vm):
        """Remove what earlier runs left behind for the VM; return result keys."""
        return {}

    def close(self):
        """Release the connection."""
