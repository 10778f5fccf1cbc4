# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""payload_image's action: validate, build beside ``dest``, compare, rename into place."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import build_epoch, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.argspec import payload_params
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import listing_text, staged_payload
from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import warn_stale_removed

HASH_CHUNK = 1024 * 1024
PARTIAL_SUFFIX = '.partial'
# A new image is private unless mode says otherwise; an existing one keeps its mode, as copy does.
NEW_IMAGE_MODE = '0600'


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def check_dest(dest):
    """Reject a ``dest`` that cannot take an image, before anything is built."""
    if not dest:
        raise PayloadValidationError('dest must be a path', option='dest')
    try:
        info = os.stat(dest)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise PayloadValidationError('dest %s cannot be examined: %s' % (dest, exc.strerror), option='dest')
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise PayloadValidationError('dest %s is a directory; give the path of the image file' % dest,
                                     option='dest')
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise PayloadValidationError('dest %s exists and is not a regular file' % dest, option='dest')
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise PayloadValidationError('the directory of dest (%s) does not exist' % parent, option='dest')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PayloadValidationError('the directory of dest (%s) is not writable' % parent, option='dest')
    return info is not None


def _before_listing(dest):
    # Imported here, as only a diff against an existing image needs the reader (and the libraries
    # it reads with).
    from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image

    try:
        return listing_text(read_image(dest))
    except ImageWriteError:
        return 'not a payload image (%d bytes)\n' % os.path.getsize(dest)


def _partial_prefix(dest):
    return '.%s.' % os.path.basename(dest)


def _is_partial_of(name, dest):
    """Whether ``name`` is a temporary file name of ``dest``: ``.<name of dest>.<random>.partial``.

    The random part never holds a dot, so ``.seed.iso.x.<random>.partial`` (of ``seed.iso.x``) is not one of ``seed.iso``.
    """
    prefix = _partial_prefix(dest)
    if not (name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX)):
        return False
    random_part = name[len(prefix):-len(PARTIAL_SUFFIX)]
    return bool(random_part) and '.' not in random_part


def _same_file(one, other):
    return (one.st_dev, one.st_ino) == (other.st_dev, other.st_ino)


def _names(path, descriptor):
    """Whether ``path`` names the file open as ``descriptor``, without following a symbolic link."""
    try:
        return _same_file(os.lstat(path), os.fstat(descriptor))
    except FileNotFoundError:
        return False


def _remove_if_stale(path):
    """Remove ``path`` if it is a regular file of this user that no running build holds; say whether it was removed.

    A build holds an exclusive lock on its temporary file until it ends: the lock of a killed one is gone.
    """
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return False
        # O_NONBLOCK: a FIFO put there since the lstat must not block the open.
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        # Gone meanwhile, replaced by a symbolic link, or unreadable: not ours to remove.
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
        # Still the file examined above, and still named path.
        if not (_same_file(os.fstat(descriptor), info) and _names(path, descriptor)):
            return False
        os.unlink(path)
        return True
    except OSError:
        # Locked by a running build (BlockingIOError), or removed by a concurrent cleanup.
        return False
    finally:
        os.close(descriptor)


def _remove_stale_partials(module, dest):
    """Remove the temporary files that killed runs of ``dest`` left beside it, holding the payload; warn naming them."""
    directory = os.path.dirname(os.path.abspath(dest))
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        module.warn('cannot list %s to remove temporary files that an interrupted run left: %s' % (directory, exc.strerror))
        return
    removed = [os.path.join(directory, name) for name in names
               if _is_partial_of(name, dest) and _remove_if_stale(os.path.join(directory, name))]
    if removed:
        module.warn('removed %d temporary file%s that an interrupted run left beside %s: %s'
                    % (len(removed), '' if len(removed) == 1 else 's', dest, ', '.join(removed)))


def _locked_temporary(build_dir, dest):
    """A new private (0600) temporary file for the image of ``dest``, under an exclusive lock while it lives.

    Return its descriptor, which holds the lock, and its path.
    """
    while True:
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=_partial_prefix(dest), suffix=PARTIAL_SUFFIX, dir=build_dir)
        except OSError as exc:
            raise ImageWriteError('cannot create a file in %s to build the image: %s' % (build_dir, exc.strerror))
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(descriptor)
            os.unlink(temporary)
            raise ImageWriteError('cannot lock %s to build the image: %s' % (temporary, exc.strerror))
        # A concurrent run of the same dest may have removed it as stale between its creation and the lock.
        if _names(temporary, descriptor):
            return descriptor, temporary
        os.close(descriptor)


def _file_args(module, path, exists):
    """The file attributes asked for ``path``; for a new image the mode defaults to 0600."""
    file_args = module.load_file_common_arguments(module.params, path=path)
    if not exists and file_args['mode'] is None:
        file_args['mode'] = NEW_IMAGE_MODE
    return file_args


def _move_into_place(module, temporary, dest, exists):
    """Rename the image onto ``dest`` so that it is never there with more access than its final attributes give."""
    # atomic_move copies an existing dest's owner, group, mode and SELinux context onto the temporary file before
    # the rename, as copy does: settle the asked ones on dest first, so that what it copies is final. A new image
    # gets them on the temporary file itself. The chattr flags wait until after the rename, which 'i' would forbid.
    before_rename = dict(_file_args(module, dest if exists else temporary, exists), attributes=None)
    module.set_fs_attributes_if_different(before_rename, False)
    # After renaming onto a new dest, atomic_move sets its mode to 0666 & ~umask, its owner to the effective user and
    # its group to the effective (or the directory's set-group-ID) one: with umask 077 only this user can read it
    # until ensure_image sets the final attributes again.
    umask = os.umask(0o077)
    try:
        module.atomic_move(temporary, dest, unsafe_writes=module.params['unsafe_writes'])
    finally:
        os.umask(umask)


def ensure_image(module):
    """Make ``dest`` hold the image of the declared payload; return the module result."""
    if not module.check_mode:
        warn_stale_removed(module)
    # Each src file is read once, copied as it is hashed into a private directory that the image is
    # built from and that is removed at the end, also on error.
    with staged_payload(**payload_params(module.params)) as payload:
        return _ensure_image(module, payload)


def _ensure_image(module, payload):
    params = module.params
    dest = params['dest']
    writer = writer_for(payload.device, epoch=build_epoch(), size=params['size'])
    writer.plan(payload)
    exists = check_dest(dest)

    if not module.check_mode:
        _remove_stale_partials(module, dest)
    # In check mode the image is built in Ansible's own temporary directory, never beside dest.
    build_dir = module.tmpdir if module.check_mode else os.path.dirname(os.path.abspath(dest))
    descriptor, temporary = _locked_temporary(build_dir, dest)
    try:
        writer.write(payload, temporary)
        image_sha256 = file_sha256(temporary)
        image_size = os.path.getsize(temporary)
        changed = not exists or file_sha256(dest) != image_sha256
        result = dict(changed=changed, dest=dest, sha256=image_sha256, size=image_size, **payload.summary())
        if changed and module._diff:
            result['diff'] = dict(before_header=dest, after_header=dest,
                                  before=_before_listing(dest) if exists else '',
                                  after=listing_text(payload.summary()))
        if changed and not module.check_mode:
            _move_into_place(module, temporary, dest, exists)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
        os.close(descriptor)

    if exists or not module.check_mode:
        result['changed'] = module.set_fs_attributes_if_different(_file_args(module, dest, exists), result['changed'])
    return result
