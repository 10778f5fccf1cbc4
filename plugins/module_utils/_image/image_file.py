# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""payload_image's action: validate, build beside ``dest``, compare, rename into place."""

from __future__ import annotations

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
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

HASH_CHUNK = 1024 * 1024


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def listing_text(listing):
    """A diff-friendly text of an image listing: metadata only, one file per line."""
    lines = ['device: %s' % listing['device'], 'label: %s' % (listing['label'] or '')]
    lines.extend('%s  %d  sha256:%s' % (f['name'], f['size'], f['sha256']) for f in listing['files'])
    return '\n'.join(lines) + '\n'


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


def ensure_image(module):
    """Make ``dest`` hold the image of the declared payload; return the module result."""
    params = module.params
    dest = params['dest']
    payload = parse_payload(**payload_params(params))
    writer = writer_for(payload.device, epoch=build_epoch(), size=params['size'])
    writer.plan(payload)
    exists = check_dest(dest)

    # In check mode the image is built in Ansible's own temporary directory, never beside dest.
    build_dir = module.tmpdir if module.check_mode else os.path.dirname(os.path.abspath(dest))
    try:
        descriptor, temporary = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), suffix='.partial',
                                                 dir=build_dir)
    except OSError as exc:
        raise ImageWriteError('cannot create a file in %s to build the image: %s' % (build_dir, exc.strerror))
    os.close(descriptor)
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
            module.atomic_move(temporary, dest, unsafe_writes=params['unsafe_writes'])
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)

    if exists or not module.check_mode:
        file_args = module.load_file_common_arguments(params, path=dest)
        result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
    return result
