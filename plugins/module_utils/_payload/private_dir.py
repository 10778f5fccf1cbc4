# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private working directories that a killed run does not leave behind for good.

A run's working directory holds payload content: a built image, copies of ``src`` files. SIGKILL
skips every ``finally``, so the run holds an exclusive lock on its directory for as long as it
lives (the kernel drops it with the process), and each run removes the directories of the
collection's prefixes that no live run holds, as payload_image does with its ``.partial`` files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import ImageWriteError

# The libvirt backend builds an image (or reads one back) in a WORK_PREFIX directory; the copies of
# src files go to a SRC_COPIES_PREFIX one.
WORK_PREFIX = 'vmpayload-work-'
SRC_COPIES_PREFIX = 'vmpayload-src-'
PREFIXES = (WORK_PREFIX, SRC_COPIES_PREFIX)
# A directory a cleanup removed between its creation and its lock is made again, this often.
MAKE_ATTEMPTS = 3


class PrivateDir:
    """A directory made by ``tempfile.mkdtemp`` (mode 0700) and locked until :meth:`remove`."""

    def __init__(self, prefix, parent=None, purpose='a private working directory'):
        self._descriptor = None
        for _attempt in range(MAKE_ATTEMPTS):
            try:
                self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)
                self._descriptor = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue
            except OSError as exc:
                where = parent or tempfile.gettempdir()
                raise ImageWriteError('cannot make %s in %s: %s' % (purpose, where, exc.strerror)) from None
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            # A cleanup that locked it first (before this run could) removed it: it has no name any more.
            if os.fstat(self._descriptor).st_nlink > 0:
                return
            os.close(self._descriptor)
            self._descriptor = None
        raise ImageWriteError('cannot make %s in %s: it was removed as it was made, %d times'
                              % (purpose, parent or tempfile.gettempdir(), MAKE_ATTEMPTS))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()

    def remove(self):
        if self._descriptor is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._descriptor)
        self._descriptor = None


def remove_stale(parent=None):
    """Remove the directories killed runs of this user left in ``parent`` (default: tempfile's); return their paths.

    Only directories with one of the collection's prefixes, owned by this user, not symbolic links, and
    not locked by a live run.
    """
    parent = parent or tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in sorted(names):
        if not name.startswith(PREFIXES):
            continue
        path = os.path.join(parent, name)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            # Not a directory, a symbolic link, or gone meanwhile: not ours to remove.
            continue
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(path)
            removed.append(path)
        except OSError:
            # Held by a live run (BlockingIOError), or removed by a concurrent cleanup.
            continue
        finally:
            os.close(descriptor)
    return removed


def warn_stale_removed(module):
    """Remove what killed runs left (see :func:`remove_stale`) and say so in the task's warnings."""
    for path in remove_stale():
        module.warn('removed %s, a private directory a killed run of this collection left (it may have held payload '
                    'content)' % path)
