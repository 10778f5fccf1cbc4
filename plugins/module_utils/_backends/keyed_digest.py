# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Keyed payload digests: what a libvirt host records, so that its readers cannot test guesses.

A domain's metadata and a pool's volume names are visible to every read-only libvirt client
(monitoring agents, exporters). A plain sha256 of a short password there can be checked against
guesses offline; an HMAC-SHA256 under a key those clients cannot read cannot. The key is one per
pool, kept as a volume of it (``libvirt.py`` says why there); nothing here talks to libvirt.
"""

from __future__ import annotations

import hashlib
import hmac

from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import PayloadRecord

KEY_BYTES = 32
# Each use of the key has its own context, so that no value stands for another: the key's id is
# not the digest of any payload, and a file's digest is not a payload's.
KEY_ID_CONTEXT = b'vmpayload-key-id/1'
PAYLOAD_CONTEXT = b'vmpayload-payload/1\n'
FILE_CONTEXT = b'vmpayload-file/1\n'


class DigestKey:
    """A pool's payload digest key; ``stored`` says whether the pool keeps it already."""

    def __init__(self, secret, stored):
        if len(secret) < KEY_BYTES:
            raise ValueError('a payload digest key has at least %d bytes' % KEY_BYTES)
        self._secret = secret
        self.stored = stored

    @property
    def secret(self):
        return self._secret

    def _mac(self, context, text):
        return hmac.new(self._secret, context + text.encode('utf-8'), hashlib.sha256).hexdigest()

    @property
    def id(self):
        """Names the key in records (16 hex digits), so that a record made under another key is told apart."""
        return hmac.new(self._secret, KEY_ID_CONTEXT, hashlib.sha256).hexdigest()[:16]

    def describe(self, payload):
        """``payload`` as a record under this key: the canonical digest and each file's sha256, keyed."""
        files = [{'name': f.name, 'size': f.size, 'digest': self._mac(FILE_CONTEXT, '%s\n%s' % (f.name, f.sha256))}
                 for f in payload.files]
        return PayloadRecord(availability=None, digest=self._mac(PAYLOAD_CONTEXT, payload.digest),
                             device=payload.device, label=payload.label, files=files, key_id=self.id)
