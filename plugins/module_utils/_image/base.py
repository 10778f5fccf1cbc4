# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every image writer does, the fixed build date, and the factory that picks a writer."""

from __future__ import annotations

import abc
import os
import time

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import staged

# 1980-01-01T00:00:00Z: the first instant FAT can store, so both writers stamp the same
# date and a reader sees an obviously synthetic one.
DEFAULT_EPOCH = 315532800
# FAT dates stop at the end of 2107.
MAX_EPOCH = 4354819199


def build_epoch(environ=None):
    """The timestamp written into every image: ``SOURCE_DATE_EPOCH`` if set, else DEFAULT_EPOCH.

    The value is clamped to what both ISO 9660 and FAT can store (1980-01-01 to 2107-12-31 UTC).
    """
    environ = os.environ if environ is None else environ
    value = environ.get('SOURCE_DATE_EPOCH')
    if value in (None, ''):
        return DEFAULT_EPOCH
    try:
        epoch = int(value)
    except ValueError:
        raise PayloadValidationError('SOURCE_DATE_EPOCH must be an integer number of seconds, not %r' % value,
                                     option='SOURCE_DATE_EPOCH')
    return min(max(epoch, DEFAULT_EPOCH), MAX_EPOCH)


def utc_fields(epoch):
    """(year, month, day, hour, minute, second) in UTC, whatever the process's time zone."""
    tm = time.gmtime(epoch)
    return tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec


class ImageWriter(abc.ABC):
    """Builds one kind of image from a validated payload, deterministically."""

    device = None

    def __init__(self, epoch=DEFAULT_EPOCH):
        self.epoch = epoch

    @abc.abstractmethod
    def plan(self, payload):
        """Check that the payload fits; raise PayloadCapacityError if not. Returns the image size in bytes."""

    def write(self, payload, path):
        """Write the image to ``path`` (a new file the caller later renames into place).

        Every ``src`` file is read from its private copy, whose sha256 is the one the payload records:
        a payload from ``staged_payload`` has its copies, any other gets them here (``model.staged``).
        """
        with staged(payload) as copied:
            self._write(copied, path)

    @abc.abstractmethod
    def _write(self, payload, path):
        """Write the image of ``payload``, whose ``src`` files all have their private copies, to ``path``."""


def writer_for(device, epoch=DEFAULT_EPOCH, size=None):
    """The one factory: the writer for ``device``; ``size`` is the floppy image size in bytes or ``auto``."""
    if device == 'cdrom':
        from ansible_collections.vmpayload.core.plugins.module_utils._image.iso import IsoWriter
        if size is not None:
            raise PayloadValidationError('size applies to floppy images only; a CD-ROM image grows with its payload',
                                         option='size')
        return IsoWriter(epoch=epoch)
    if device == 'floppy':
        from ansible_collections.vmpayload.core.plugins.module_utils._image.fat import FatWriter
        return FatWriter(epoch=epoch, size=size)
    raise PayloadValidationError('device must be cdrom or floppy, not %r' % (device,), option='device')
