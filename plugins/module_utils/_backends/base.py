# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every platform backend does, so that a module never asks which platform it is on."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

AVAILABILITIES = ('permanent', 'run-once', 'none', 'unknown')


@dataclass
class PayloadRecord:
    """What a VM carries: the payload's metadata (never content) and where its image is."""

    availability: str
    digest: str | None = None
    device: str | None = None
    label: str | None = None
    files: list = field(default_factory=list)
    volume: str | None = None
    pool: str | None = None
    drive: str | None = None
    target: str | None = None

    def summary(self):
        result = {'availability': self.availability, 'digest': self.digest, 'device': self.device,
                  'label': self.label, 'files': [dict(f) for f in self.files]}
        if self.volume:
            result['volume'] = self.volume
        return result

    def listing(self):
        """The same shape as an image listing, for diffs."""
        return {'device': self.device or '', 'label': self.label, 'files': self.files}

    @classmethod
    def none(cls):
        return cls(availability='none')


class PayloadBackend(abc.ABC):
    """The contract. Each method validates before it acts and honours check mode itself."""

    platform = None

    @abc.abstractmethod
    def find_vm(self, name=None, uuid=None):
        """The VM, by name or id; raise VmNotFoundError when there is none."""

    @abc.abstractmethod
    def read_payload(self, vm, include_content=False):
        """The VM's current PayloadRecord (the running one when it runs) and, if asked, each file's content."""

    @abc.abstractmethod
    def apply_permanent(self, vm, payload, drive, target, check_mode):
        """Make ``payload`` the VM's permanent payload; returns the module result."""

    @abc.abstractmethod
    def remove_permanent(self, vm, check_mode):
        """Take the permanent payload away (availability none); returns the module result."""

    @abc.abstractmethod
    def start_once(self, vm, payload, restart, wait, timeout, check_mode):
        """Start the VM once with ``payload``; its persistent definition stays as it was."""

    def close(self):
        """Release the connection."""
