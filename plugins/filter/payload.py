# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters for payload content: strict base64 and text conversion, the ``files`` shape, the payload digest.

``ansible.builtin.b64encode``/``b64decode`` already convert; these add what they leave out: strict
checking with the offset at fault, the ``files`` list the modules take, and the digest they return.
Error messages name file names, encodings and offsets, never content.
"""

from __future__ import annotations

import base64
import codecs
import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import (
    CONTENT_KEYS,
    decode_b64_strict,
    decode_utf8_strict,
    parse_payload,
)

_CONTENT_CHOICES = ', '.join(CONTENT_KEYS)


def _plain_str(text):
    """``text`` as a built-in ``str``: Ansible hands filters ``str`` subclasses, results must be plain.

    The subclass differs by release: ansible-core 2.19's data tagging passes tagged strings, 2.16 to 2.18 pass
    ``AnsibleUnsafeText``. ``str.__str__`` makes a plain ``str`` of either.
    """
    return str.__str__(text)


def _quoted(name):
    """A file or encoding name quoted for a message, as the payload model quotes file names."""
    return json.dumps(name, ensure_ascii=False)


def _kind(value):
    """The user's word for the type of ``value``: Ansible's subclasses (2.19's tagged types, the older
    ``AnsibleUnsafeText``/``AnsibleUnsafeBytes``) have class names that mean nothing to a user."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, str):
        return 'a string'
    if isinstance(value, (bytes, bytearray)):
        return 'bytes'
    if isinstance(value, Mapping):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return type(value).__name__


def _b64(data):
    return base64.b64encode(data).decode('ascii')


def _text_codec(encoding):
    """The canonical name of ``encoding``, refusing names that are unknown or do not map text to bytes."""
    if not isinstance(encoding, str):
        raise AnsibleFilterError('encoding must be the name of a text encoding such as utf-8, not %s' % _kind(encoding))
    try:
        # str.encode refuses codecs that do not map text to bytes (base64, rot13); lookup() alone would not.
        ''.encode(encoding)
    except LookupError:
        raise AnsibleFilterError('encoding %s is not a text encoding Python knows: use a name such as utf-8, '
                                 'utf-16 or latin-1' % _quoted(encoding)) from None
    return codecs.lookup(encoding).name


def _is_surrogate(char):
    return '\ud800' <= char <= '\udfff'


def payload_b64encode(text, encoding='utf-8'):
    """Base64 of the bytes of ``text`` in ``encoding``; text with no form in that encoding is an error."""
    if not isinstance(text, str):
        raise AnsibleFilterError('the input must be text (a string), not %s' % _kind(text))
    codec = _text_codec(encoding)
    try:
        data = text.encode(codec)
    except UnicodeEncodeError as exc:
        if _is_surrogate(text[exc.start]):
            why = ('is an unpaired surrogate, as Ansible makes of bytes that are not valid UTF-8 when it reads them. '
                   'Keep such data as bytes (payload_files turns this text back into its bytes, as content_b64)')
        else:
            why = 'has no form in %s. Choose an encoding that has it, such as utf-8' % encoding
        # "from None": the codec's own message quotes the character, which is content.
        raise AnsibleFilterError('the text cannot be encoded as %s: the character at offset %d %s'
                                 % (encoding, exc.start, why)) from None
    return _b64(data)


def payload_b64decode(b64, encoding='utf-8'):
    """The text that ``b64`` encodes in ``encoding``; invalid base64 or invalid text is an error, never mojibake."""
    if not isinstance(b64, str):
        raise AnsibleFilterError('the input must be base64 text (a string), not %s' % _kind(b64))
    codec = _text_codec(encoding)
    try:
        data = decode_b64_strict(b64)
    except ValueError as exc:
        raise AnsibleFilterError('the input is not valid base64: %s' % exc) from None
    if codec == 'utf-8':
        try:
            return decode_utf8_strict(data)
        except ValueError as exc:
            problem = '%s of the decoded bytes' % exc
    else:
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            problem = 'invalid %s at byte offset %d of the decoded bytes (%s)' % (encoding, exc.start, exc.reason)
    raise AnsibleFilterError('the base64 decodes to bytes that are not %s text: %s. Keep binary data as base64 '
                             '(content_b64), or pass the encoding the text is in, such as encoding="utf-16"'
                             % (encoding, problem))


def _text_entry(name, text):
    """``content`` for text that is valid Unicode, else ``content_b64`` of the bytes it was read from."""
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        # Ansible reads bytes that are not valid UTF-8 as lone surrogates (surrogateescape):
        # those turn back into the bytes that were read.
        try:
            data = text.encode('utf-8', 'surrogateescape')
        except UnicodeEncodeError as exc:
            raise AnsibleFilterError('the value of %s has an unpaired surrogate at character '
                                     'offset %d that stands for no byte: give the content as bytes or base64 '
                                     '(content_b64)' % (_quoted(name), exc.start)) from None
        return {'name': name, 'content_b64': _b64(data)}
    return {'name': name, 'content': _plain_str(text)}


def _spec_entry(name, spec):
    """A ``{content|content_b64|src: ...}`` mapping, checked and given its name."""
    where = 'the value of %s' % _quoted(name)
    unknown = sorted(str(key) for key in spec if key not in CONTENT_KEYS)
    if unknown:
        raise AnsibleFilterError('%s has unknown key(s) %s: the mapping key is the file name, the value holds '
                                 'one of %s' % (where, ', '.join(unknown), _CONTENT_CHOICES))
    given = [key for key in CONTENT_KEYS if spec.get(key) is not None]
    if len(given) != 1:
        raise AnsibleFilterError('%s must give exactly one of %s (got %s)'
                                 % (where, _CONTENT_CHOICES, ', '.join(given) or 'none'))
    key = given[0]
    if not isinstance(spec[key], str):
        raise AnsibleFilterError('%s: %s must be a string, not %s' % (where, key, _kind(spec[key])))
    return {'name': name, key: _plain_str(spec[key])}


def _file_entry(name, value):
    if isinstance(value, str):
        return _text_entry(name, value)
    if isinstance(value, (bytes, bytearray)):
        return {'name': name, 'content_b64': _b64(value)}
    if isinstance(value, Mapping):
        return _spec_entry(name, value)
    raise AnsibleFilterError('the value of %s is %s: give text, bytes, or a mapping with one of %s'
                             % (_quoted(name), _kind(value), _CONTENT_CHOICES))


def payload_files(mapping):
    """The ``files`` list the modules take, sorted by name, from a mapping of file name to content."""
    if not isinstance(mapping, Mapping):
        raise AnsibleFilterError('the input must be a mapping of file name to content, not %s' % _kind(mapping))
    for name in mapping:
        if not isinstance(name, str):
            raise AnsibleFilterError('file names must be strings; the key %s is %s (quote it)'
                                     % (name, _kind(name)))
    return [_file_entry(_plain_str(name), mapping[name]) for name in sorted(mapping)]


def payload_digest(files, device='cdrom', label=None, preset=None):
    """The canonical payload digest the modules return, from a ``files`` list or a payload_files mapping."""
    if isinstance(files, Mapping):
        files = payload_files(files)
    try:
        return parse_payload(files, device=device, label=label, preset=preset).digest
    except PayloadValidationError as exc:
        # "from None": the message is complete; an exception chain could quote content.
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """Payload filters of vmpayload.core."""

    def filters(self):
        return {
            'payload_b64encode': payload_b64encode,
            'payload_b64decode': payload_b64decode,
            'payload_files': payload_files,
            'payload_digest': payload_digest,
        }
