# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Typed errors of the collection; modules turn them into ``fail_json`` in one place."""

from __future__ import annotations


class PayloadError(Exception):
    """Any failure a user can act on. The message never carries file content."""


class PayloadValidationError(PayloadError):
    """The declared payload is invalid; nothing has been written.

    ``option`` is the option path at fault (``files[2].content_b64``, ``label``...), ``file``
    the payload file name when one applies.
    """

    def __init__(self, message, option=None, file=None):
        super().__init__(message)
        self.option = option
        self.file = file


class PayloadCapacityError(PayloadValidationError):
    """The payload does not fit the image it was asked to go on."""


class ImageWriteError(PayloadError):
    """Writing or reading an image failed (I/O, permissions, a broken existing image)."""


class MissingLibraryError(PayloadError):
    """A Python library the chosen writer or backend needs is not installed where the module runs."""

    def __init__(self, library, import_traceback):
        super().__init__('the Python library %s is required' % library)
        self.library = library
        self.import_traceback = import_traceback


class VmNotFoundError(PayloadError):
    """No VM has the given name or id."""


class BackendError(PayloadError):
    """The platform refused or failed an operation (connection, storage pool, device change)."""
