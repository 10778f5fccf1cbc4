# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The payload model: parse, validate and normalise a declared payload, and digest it.

Everything here runs before any image is written. A rejection names the option path
(``files[2].content_b64``) and the file, never its content. ``src`` files are read once, each
copied as it is hashed into a private directory that images are then built from
(:func:`staged_payload`; small ones in memory), so an image holds exactly the bytes its digest
was taken of.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import io
import json
import os
import re
import stat
import unicodedata
from xml.etree import ElementTree
from dataclasses import dataclass, replace

from .errors import ImageWriteError, PayloadValidationError
from .private_dir import SRC_COPIES_PREFIX, PrivateDir

DEVICES = ('cdrom', 'floppy')
PRESETS = ('nocloud', 'configdrive', 'sysprep')
CONTENT_KEYS = ('content', 'content_b64', 'src')
DIGEST_FORMAT = 'vmpayload-digest/1'

# ISO 9660 allows eight directory levels counting the root: seven directories and a file.
ISO_MAX_PATH_COMPONENTS = 8
# Joliet stores names as UCS-2 and caps each at 64 characters.
JOLIET_MAX_NAME_UNITS = 64
# Rock Ridge names carry the Linux NAME_MAX.
ROCK_RIDGE_MAX_NAME_BYTES = 255
# VFAT allows 255 UTF-16 units per name, but pyfatfs refuses a long name of more than 255
# bytes in UTF-16, so 127 units is what the floppy writer can store.
VFAT_MAX_NAME_UNITS = 127
# Linux's NAME_MAX: 127 CJK characters are 381 bytes of UTF-8, which no Linux filesystem holds
# (mtools' mcopy even crashes on such a name).
LINUX_NAME_MAX_BYTES = 255

JOLIET_FORBIDDEN = frozenset('*:;?\\')
VFAT_FORBIDDEN = frozenset('"*:<>?\\|')

# The oVirt engine's rule for volume_id, kept for every device so that a payload moves
# between platforms unchanged.
ISO_LABEL_RE = re.compile(r'^[A-Za-z0-9_.\-]{1,32}$')
# FAT volume labels are 11 bytes of upper-case OEM characters; '.' is not allowed there.
FAT_LABEL_RE = re.compile(r'^[A-Z0-9_\-]{1,11}$')

_B64_ALPHABET = frozenset(b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
_B64_WHITESPACE = frozenset(b' \t\r\n')
_B64_WHITESPACE_BYTES = b' \t\r\n'
# Whole base64 (its length a multiple of 4 checked apart): the alphabet, then at most two '=' at the end.
_B64_STRICT = re.compile(rb'[A-Za-z0-9+/]*={0,2}')
_HASH_CHUNK = 1024 * 1024
# src files up to this size are held in memory rather than copied to a file, up to HOLD_TOTAL_MAX in all.
HOLD_FILE_MAX = _HASH_CHUNK
HOLD_TOTAL_MAX = 16 * 1024 * 1024

NOCLOUD_REQUIRED = ('meta-data', 'user-data')
NOCLOUD_LABEL = 'cidata'
CONFIGDRIVE_LABEL = 'config-2'
CONFIGDRIVE_REQUIRED = 'openstack/latest/meta_data.json'
CONFIGDRIVE_ROOTS = ('openstack/', 'ec2/')
SYSPREP_NAMES = ('unattend.xml', 'autounattend.xml', 'sysprep.inf')
# Python refuses to turn a longer run of digits into an int (sys.int_max_str_digits, 4300 by
# default), so its json, which cloud-init reads meta_data.json with, refuses such an integer.
JSON_MAX_INT_DIGITS = 4300


@dataclass(frozen=True)
class PayloadFile:
    """One validated file: its normalised name, size, sha256 and where its bytes come from.

    A ``src`` file's bytes are read from its private copy, the one its sha256 was taken of while it
    was made (see :class:`PrivateCopies`): ``copy``, a file, or ``held``, the bytes themselves for a
    small file; ``src`` itself is named in messages only. ``index`` is the file's place in the
    declared ``files``, for messages.
    """

    name: str
    size: int
    sha256: str
    data: bytes | None = None
    src: str | None = None
    copy: str | None = None
    index: int | None = None
    held: bytes | None = None

    @property
    def settled(self):
        """Whether the bytes are this process's own: inline content, or the private copy of ``src``."""
        return self.src is None or self.copy is not None or self.held is not None

    def open(self):
        """A binary stream of the content: inline bytes, else the private copy of ``src``.

        A ``src`` file parsed without copies is opened where it is: what it holds now may not be
        what was hashed. Build images with a writer, which copies and checks such files first.
        """
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.held is not None:
            return io.BytesIO(self.held)
        return open(self.copy or self.src, 'rb')

    def summary(self):
        return {'name': self.name, 'size': self.size, 'sha256': self.sha256}


@dataclass(frozen=True)
class Payload:
    """A validated payload, files sorted by name, with its canonical digest."""

    device: str
    label: str | None
    files: tuple
    digest: str

    @property
    def total_size(self):
        return sum(f.size for f in self.files)

    def directories(self):
        """Every directory the files need, parents before children."""
        dirs = set()
        for f in self.files:
            parts = f.name.split('/')[:-1]
            for depth in range(1, len(parts) + 1):
                dirs.add('/'.join(parts[:depth]))
        return sorted(dirs, key=lambda d: (d.count('/'), d))

    def summary(self):
        """Metadata safe to log and diff: never content."""
        return {
            'device': self.device,
            'label': self.label,
            'digest': self.digest,
            'files': [f.summary() for f in self.files],
        }


def payload_digest(device, label, named_hashes):
    """Canonical sha256 of device, label and each (name, content sha256), sorted by name."""
    document = {
        'format': DIGEST_FORMAT,
        'device': device,
        'label': label or '',
        'files': sorted([name, sha] for name, sha in named_hashes),
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _file_digest_text(entry):
    """An image's files carry their sha256; a VM's record its digests as the platform keeps them (keyed on libvirt)."""
    if 'sha256' in entry:
        return 'sha256:%s' % entry['sha256']
    return 'digest:%s' % (entry.get('digest') or '-')


def listing_text(listing):
    """A diff-friendly text of an image listing: metadata only, one file per line."""
    lines = ['device: %s' % listing['device'], 'label: %s' % (listing['label'] or '')]
    lines.extend('%s  %d  %s' % (f['name'], f['size'], _file_digest_text(f)) for f in listing['files'])
    return '\n'.join(lines) + '\n'


def is_noncharacter(char):
    """U+FDD0..U+FDEF and the last two code points of every plane: not for interchange.

    XML 1.0 has no U+FFFE or U+FFFF at all (libvirt refuses a definition holding them).
    """
    point = ord(char)
    return 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def _where(index, name=None):
    if name is None:
        return 'files[%d]' % index
    return 'files[%d] %s' % (index, json.dumps(name, ensure_ascii=False))


def _kind(value):
    """The YAML word for the type of a value that should have been a string."""
    if isinstance(value, bool):
        return 'a boolean'
    if isinstance(value, (int, float)):
        return 'a number'
    if isinstance(value, dict):
        return 'a mapping'
    if isinstance(value, (list, tuple)):
        return 'a list'
    return type(value).__name__


def normalise_name(raw, index, device):
    """NFC-normalise a payload path and check it against every rule of ``device``."""
    if not isinstance(raw, str):
        raise PayloadValidationError('%s: name must be a string, not %s; quote it' % (_where(index), _kind(raw)),
                                     option='files[%d].name' % index)
    option = 'files[%d].name' % index
    try:
        raw.encode('utf-8')
    except UnicodeEncodeError as exc:
        raise PayloadValidationError('%s: name is not valid Unicode (unpaired surrogate at character %d)'
                                     % (_where(index), exc.start), option=option) from None
    name = unicodedata.normalize('NFC', raw)
    where = _where(index, name)

    def reject(rule):
        raise PayloadValidationError('%s: %s' % (where, rule), option=option, file=name)

    if not name:
        reject('name is empty')
    for position, char in enumerate(name):
        if unicodedata.category(char) == 'Cc':
            reject('name contains a control character (U+%04X) at character %d' % (ord(char), position))
        # Names are recorded in XML: libvirt's domain metadata, oVirt's requests.
        if is_noncharacter(char):
            reject('name contains U+%04X at character %d, a Unicode noncharacter, which is not for interchange '
                   '(names are recorded in XML, which has no U+FFFE or U+FFFF)' % (ord(char), position))
    if name.startswith('/'):
        reject("name must be relative: remove the leading '/'")
    if '\\' in name:
        reject("name contains '\\': separate directories with '/'")
    parts = name.split('/')
    for part in parts:
        if part == '':
            reject("name has an empty path segment ('//' or a trailing '/')")
        if part in ('.', '..'):
            reject("path segment '%s' is not allowed" % part)

    if device == 'cdrom':
        if len(parts) > ISO_MAX_PATH_COMPONENTS:
            reject('ISO 9660 allows at most %d directory levels; this name has %d'
                   % (ISO_MAX_PATH_COMPONENTS - 1, len(parts) - 1))
        for part in parts:
            forbidden = sorted(set(part) & JOLIET_FORBIDDEN)
            if forbidden:
                reject('Joliet names cannot contain %s' % ' '.join(repr(c) for c in forbidden))
            units = len(part.encode('utf-16-be')) // 2
            if units > JOLIET_MAX_NAME_UNITS:
                reject('segment of %d UTF-16 units is longer than Joliet allows (%d)'
                       % (units, JOLIET_MAX_NAME_UNITS))
            if len(part.encode('utf-8')) > ROCK_RIDGE_MAX_NAME_BYTES:
                reject('segment is longer than Rock Ridge allows (%d UTF-8 bytes)' % ROCK_RIDGE_MAX_NAME_BYTES)
    else:
        for part in parts:
            forbidden = sorted(set(part) & VFAT_FORBIDDEN)
            if forbidden:
                reject('FAT long names cannot contain %s' % ' '.join(repr(c) for c in forbidden))
            if part.endswith(('.', ' ')):
                reject('FAT names cannot end with a dot or a space')
            if part.startswith(' '):
                reject('FAT names cannot start with a space')
            units = len(part.encode('utf-16-be')) // 2
            if units > VFAT_MAX_NAME_UNITS:
                reject('segment of %d UTF-16 units is longer than the floppy writer stores (%d)'
                       % (units, VFAT_MAX_NAME_UNITS))
            # A Linux guest (and mtools) must be able to create the name on its own filesystems.
            if len(part.encode('utf-8')) > LINUX_NAME_MAX_BYTES:
                reject('segment is longer than Linux allows in a name (%d UTF-8 bytes)' % LINUX_NAME_MAX_BYTES)
    return name


def decode_b64_strict(text):
    """Decode base64, ignoring ASCII whitespace; raise ValueError naming the offending offset.

    Valid input is decoded in C; only input already known to be bad is scanned character by
    character, to say where it goes wrong.
    """
    # A non-ASCII character becomes '?', which the strict decoder rejects.
    raw = text.encode('ascii', errors='replace') if isinstance(text, str) else bytes(text)
    compact = raw.translate(None, _B64_WHITESPACE_BYTES)
    # binascii's strict_mode (Python 3.11+) is not there on 3.9 and 3.10, where the modules run too: the
    # alphabet and the padding are checked by _B64_STRICT instead, the same on every Python.
    if len(compact) % 4 == 0 and _B64_STRICT.fullmatch(compact):
        try:
            return binascii.a2b_base64(compact)
        except binascii.Error:
            pass
    _explain_bad_b64(text, raw)
    raise ValueError('not valid base64')


def _explain_bad_b64(text, raw):
    """Raise ValueError for the first fault in base64 input that failed to decode."""
    if isinstance(text, str):
        for position, char in enumerate(text):
            if ord(char) > 127:
                raise ValueError('character at offset %d is not in the base64 alphabet' % position)
    significant = 0
    padding_at = None
    for position, byte in enumerate(raw):
        if byte in _B64_WHITESPACE:
            continue
        if byte == ord('='):
            if padding_at is None:
                padding_at = significant
            significant += 1
            continue
        if byte not in _B64_ALPHABET:
            raise ValueError('character at offset %d is not in the base64 alphabet' % position)
        if padding_at is not None:
            raise ValueError("data continues after '=' padding at offset %d" % position)
        significant += 1
    if significant % 4:
        raise ValueError('length of %d base64 characters is not a multiple of 4 (truncated?)' % significant)
    if padding_at is not None and significant - padding_at > 2:
        raise ValueError('more than two padding characters')
    if padding_at is not None and padding_at % 4 < 2:
        raise ValueError("misplaced '=' padding")


def decode_utf8_strict(data):
    """Decode UTF-8, raising ValueError with the byte offset of the first invalid sequence."""
    try:
        return data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError('invalid UTF-8 at byte offset %d' % exc.start) from None


class PrivateCopies:
    """The private copies of ``src`` files: in memory for small files, else in a private directory.

    A file of up to HOLD_FILE_MAX bytes is held in memory while the files so held total at most
    HOLD_TOTAL_MAX: no file on disk, and no cost per file. Larger ones are copied into a private
    directory (``private_dir.PrivateDir``: mode 0700, locked while this run lives, so that a later
    run removes it if this one is killed) in ``tmpdir`` (default: tempfile's, from ``TMPDIR``) when
    the first such copy is, each a new file of mode 0600 that only this process writes. The
    directory is removed with everything in it on leaving.
    """

    def __init__(self, tmpdir=None):
        self.tmpdir = tmpdir
        self.path = None
        self._directory = None
        self._made = 0
        self._held = 0

    def may_hold(self, size):
        """Whether a file of ``size`` bytes is to be held in memory rather than copied to a file."""
        return size <= HOLD_FILE_MAX and self._held + size <= HOLD_TOTAL_MAX

    def count_held(self, size):
        self._held += size

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.remove()

    def new_file(self):
        """A new empty file for one copy: (its descriptor, open for writing, and its path)."""
        if self.path is None:
            self._directory = PrivateDir(SRC_COPIES_PREFIX, self.tmpdir,
                                         purpose='a private directory for the copies of src files')
            self.path = self._directory.path
        path = os.path.join(self.path, str(self._made))
        self._made += 1
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), path
        except OSError as exc:
            raise ImageWriteError('cannot create %s for the copy of a src file: %s' % (path, exc.strerror)) from None

    def remove(self):
        if self.path is not None:
            self.path = None
            self._directory.remove()


def _too_large(where, size, limit, option, name):
    return PayloadValidationError('%s: %d bytes is more than max_content_size (%d bytes)' % (where, size, limit),
                                  option=option, file=name)


def _write_all(descriptor, view):
    while view:
        view = view[os.write(descriptor, view):]


class _Sha256:
    """sha256 of the chunks read into its one buffer, in this thread."""

    def __init__(self):
        self._digest = hashlib.sha256()
        self._buffer = bytearray(_HASH_CHUNK)

    def buffer(self):
        """A buffer to read the next chunk into."""
        return self._buffer

    def add(self, buffer, count):
        with memoryview(buffer) as view:
            self._digest.update(view[:count])

    def finish(self):
        return self._digest.hexdigest()


class _ThreadedSha256(_Sha256):
    """sha256 of the chunks given to it, in order, in a thread of its own.

    hashlib lets go of the GIL while it hashes a large chunk, so on two cores one chunk is hashed
    while it is written into the copy and the next one is read: a copy then costs about what the
    hash alone did. Two buffers take turns; each is lent again once it is hashed.
    """

    def __init__(self):
        # Imported here, as only a file of more than a chunk needs them.
        import queue
        import threading

        super().__init__()
        self._chunks = queue.SimpleQueue()
        self._free = queue.SimpleQueue()
        self._free.put(self._buffer)
        self._free.put(bytearray(_HASH_CHUNK))
        self._error = None
        self._thread = threading.Thread(target=self._run, name='vmpayload-sha256', daemon=True)
        self._thread.start()

    def _run(self):
        for buffer, count in iter(self._chunks.get, None):
            try:
                super().add(buffer, count)
            except Exception as exc:  # raised again in the reading thread, by finish()
                self._error = exc
            # Lent again even after an error, so that the reading thread never waits for ever.
            self._free.put(buffer)

    def buffer(self):
        return self._free.get()

    def add(self, buffer, count):
        self._chunks.put((buffer, count))

    def finish(self):
        self._chunks.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return super().finish()


def _read_whole(source, expected, reject):
    """Read a small file whole, hashing it: (size, sha256, its bytes), the bytes copied once only."""
    digest = hashlib.sha256()
    parts = []
    # One byte more than its size: a file that has grown since is read to its end all the same.
    want = expected + 1
    while True:
        try:
            chunk = os.read(source, want)
        except OSError as exc:
            reject('cannot be read: %s' % exc.strerror)
        if not chunk:
            break
        digest.update(chunk)
        parts.append(chunk)
        want = _HASH_CHUNK
    data = parts[0] if len(parts) == 1 else b''.join(parts)
    return len(data), digest.hexdigest(), data


def _read_src(path, where, option, name, copies=None, limit=None):
    """Check ``src`` and read it once, hashing it and, with ``copies``, copying it as it goes.

    Returns (size, sha256, path of the copy or None, bytes held or None). Only the bytes hashed are
    in the copy, so an image built from the copy holds exactly what the digest says, whatever
    ``src`` becomes. The file is streamed in chunks; only a small one is held whole in memory.
    """
    def reject(rule):
        raise PayloadValidationError('%s: src %s %s' % (where, json.dumps(path), rule), option=option, file=name)

    if not isinstance(path, str) or not path:
        raise PayloadValidationError('%s: src must be a non-empty path' % where, option=option, file=name)
    if not os.path.isabs(path):
        reject('is not absolute; src is read on the host where the module runs '
               "(for a file on the controller use content: \"{{ lookup('file', ...) }}\")")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        reject('does not exist')
    except OSError as exc:
        reject('cannot be read: %s' % exc.strerror)
    if not stat.S_ISREG(info.st_mode):
        reject('is not a regular file')
    if limit is not None and info.st_size > limit:
        raise _too_large(where, info.st_size, limit, option, name)
    try:
        # O_NONBLOCK: a FIFO put in its place since the stat must not block the open.
        source = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        reject('does not exist')
    except OSError as exc:
        reject('cannot be read: %s' % exc.strerror)
    target = copy = None
    try:
        info = os.fstat(source)
        if not stat.S_ISREG(info.st_mode):
            reject('is not a regular file')
        if copies is not None and copies.may_hold(info.st_size):
            size, sha256, held = _read_whole(source, info.st_size, reject)
            copies.count_held(size)
            return size, sha256, None, held
        if copies is not None:
            target, copy = copies.new_file()
        # A file of more than one chunk is hashed in a second thread while it is copied.
        hasher = _ThreadedSha256() if target is not None and info.st_size > _HASH_CHUNK else _Sha256()
        size = 0
        try:
            while True:
                buffer = hasher.buffer()
                try:
                    count = os.readv(source, [buffer])
                except OSError as exc:
                    reject('cannot be read: %s' % exc.strerror)
                if not count:
                    break
                hasher.add(buffer, count)
                if target is not None:
                    try:
                        with memoryview(buffer) as view:
                            _write_all(target, view[:count])
                    except OSError as exc:
                        raise ImageWriteError('%s: src %s cannot be copied into %s: %s'
                                              % (where, json.dumps(path), copies.path, exc.strerror)) from None
                size += count
        finally:
            sha256 = hasher.finish()
    finally:
        os.close(source)
        if target is not None:
            os.close(target)
    return size, sha256, copy, None


def _parse_file(index, spec, device, max_content_size, copies=None):
    where = _where(index)
    if not isinstance(spec, dict):
        raise PayloadValidationError('%s: each file must be a mapping with name and one of %s'
                                     % (where, ', '.join(CONTENT_KEYS)), option=where)
    unknown = sorted(set(spec) - {'name'} - set(CONTENT_KEYS))
    if unknown:
        raise PayloadValidationError('%s: unknown key(s) %s' % (where, ', '.join(unknown)), option=where)
    if spec.get('name') is None:
        raise PayloadValidationError('%s: name is required' % where, option='files[%d].name' % index)
    name = normalise_name(spec['name'], index, device)
    where = _where(index, name)
    given = [key for key in CONTENT_KEYS if spec.get(key) is not None]
    if len(given) != 1:
        raise PayloadValidationError('%s: give exactly one of %s (got %s)'
                                     % (where, ', '.join(CONTENT_KEYS), ', '.join(given) or 'none'),
                                     option='files[%d]' % index, file=name)
    key = given[0]
    option = 'files[%d].%s' % (index, key)
    value = spec[key]
    if key == 'src':
        size, sha, copy, held = _read_src(value, where, option, name, copies, max_content_size)
        result = PayloadFile(name=name, size=size, sha256=sha, src=value, copy=copy, index=index, held=held)
    else:
        if not isinstance(value, str):
            # The modules take content raw: Ansible would write a mapping's or a list's Python repr.
            raise PayloadValidationError('%s: %s must be a string, not %s; render structured data as text first '
                                         '(to_json, to_nice_yaml), or quote it' % (where, key, _kind(value)),
                                         option=option, file=name)
        if key == 'content':
            try:
                data = value.encode('utf-8')
            except UnicodeEncodeError as exc:
                raise PayloadValidationError('%s: content is not valid Unicode (unpaired surrogate at character %d); '
                                             'use content_b64 for binary data' % (where, exc.start),
                                             option=option, file=name) from None
        else:
            try:
                data = decode_b64_strict(value)
            except ValueError as exc:
                raise PayloadValidationError('%s: content_b64 is not valid base64: %s' % (where, exc),
                                             option=option, file=name) from None
        result = PayloadFile(name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)
    if max_content_size is not None and result.size > max_content_size:
        raise _too_large(where, result.size, max_content_size, option, name)
    return result


def _collision_key(name, device):
    if device == 'floppy':
        return name.casefold()
    return name


def _check_tree(files, device):
    """No two files may share a name, and no name may be both a file and a directory."""
    seen = {}
    for index, f in files:
        key = _collision_key(f.name, device)
        if key in seen:
            other = seen[key]
            rule = 'is the same name on FAT (case-insensitive)' if device == 'floppy' else 'is given twice'
            raise PayloadValidationError('%s: name %s as files[%d]' % (_where(index, f.name), rule, other),
                                         option='files[%d].name' % index, file=f.name)
        seen[key] = index
    # On FAT a directory spelled two ways ('Dir/a', 'dir/b') would become two entries that
    # case-insensitive readers cannot tell apart.
    spelled = {}
    for index, f in files:
        parts = f.name.split('/')
        for depth in range(1, len(parts)):
            prefix = '/'.join(parts[:depth])
            first = spelled.setdefault(_collision_key(prefix, device), (prefix, index))
            if first[0] != prefix:
                raise PayloadValidationError('%s: directory %s is the same name on FAT (case-insensitive) as %s '
                                             'in files[%d]; spell it one way'
                                             % (_where(index, f.name), json.dumps(prefix, ensure_ascii=False),
                                                json.dumps(first[0], ensure_ascii=False), first[1]),
                                             option='files[%d].name' % index, file=f.name)
    for index, f in files:
        parts = _collision_key(f.name, device).split('/')
        for depth in range(1, len(parts)):
            prefix = '/'.join(parts[:depth])
            if prefix in seen:
                raise PayloadValidationError('%s: %s is a file (files[%d]) and cannot also be a directory'
                                             % (_where(index, f.name), json.dumps(prefix, ensure_ascii=False),
                                                seen[prefix]), option='files[%d].name' % index, file=f.name)


def normalise_label(label, device):
    """Check a volume label against the device's rules; FAT labels are upper-cased."""
    if label is None or label == '':
        return None
    if not isinstance(label, str):
        raise PayloadValidationError('label must be a string', option='label')
    if device == 'cdrom':
        if not ISO_LABEL_RE.match(label):
            raise PayloadValidationError('label %s is not a valid CD-ROM volume id: use 1 to 32 letters, digits, '
                                         "'_', '-' or '.'" % json.dumps(label), option='label')
        return label
    upper = label.upper()
    if not FAT_LABEL_RE.match(upper):
        raise PayloadValidationError('label %s is not a valid FAT volume label: use 1 to 11 letters, digits, '
                                     "'_' or '-' (FAT labels are stored upper-case)" % json.dumps(label),
                                     option='label')
    return upper


def _preset_label(preset, label):
    wanted = {'nocloud': NOCLOUD_LABEL, 'configdrive': CONFIGDRIVE_LABEL}.get(preset)
    if wanted is None:
        return label
    if label is not None and not isinstance(label, str):
        raise PayloadValidationError('label must be a string', option='label')
    if label not in (None, '') and label.lower() != wanted:
        raise PayloadValidationError('preset %s needs label %s, not %s; leave label unset'
                                     % (preset, wanted, json.dumps(label)), option='label')
    return wanted


def _inline_text(f, where, option):
    """Inline content as text for a format check; ``src`` files are not read twice."""
    if f.data is None:
        return None
    try:
        return decode_utf8_strict(f.data)
    except ValueError as exc:
        raise PayloadValidationError('%s: not UTF-8 text (%s)' % (where, exc), option=option, file=f.name) from None


def _longest_json_integer(text):
    """Parse JSON text (raising json.JSONDecodeError) and return the most digits of any integer in it.

    Integers are measured, not converted: int() of more than 4300 digits raises a ValueError
    that names no file.
    """
    longest = [0]

    def integer(digits):
        longest[0] = max(longest[0], len(digits.lstrip('-')))
        return 0

    json.loads(text, parse_int=integer)
    return longest[0]


def _check_preset(preset, indexed):
    by_name = {f.name: (index, f) for index, f in indexed}
    if preset == 'nocloud':
        missing = [n for n in NOCLOUD_REQUIRED if n not in by_name]
        if missing:
            raise PayloadValidationError('preset nocloud needs %s at the top of the image (missing: %s)'
                                         % (' and '.join(NOCLOUD_REQUIRED), ', '.join(missing)), option='files')
    elif preset == 'configdrive':
        if CONFIGDRIVE_REQUIRED not in by_name:
            raise PayloadValidationError('preset configdrive needs %s' % CONFIGDRIVE_REQUIRED, option='files')
        for index, f in indexed:
            where = _where(index, f.name)
            if not f.name.startswith(CONFIGDRIVE_ROOTS):
                raise PayloadValidationError('%s: preset configdrive keeps files under openstack/ or ec2/'
                                             % where, option='files[%d].name' % index, file=f.name)
            if f.name.endswith('.json'):
                # Only content_b64 can give bytes that are not UTF-8.
                text = _inline_text(f, where, 'files[%d].content_b64' % index)
                if text is not None:
                    try:
                        digits = _longest_json_integer(text)
                    except json.JSONDecodeError as exc:
                        raise PayloadValidationError('%s: not valid JSON (line %d, column %d)'
                                                     % (where, exc.lineno, exc.colno),
                                                     option='files[%d]' % index, file=f.name) from None
                    except RecursionError:
                        raise PayloadValidationError('%s: JSON nested too deeply to check' % where,
                                                     option='files[%d]' % index, file=f.name) from None
                    if digits > JSON_MAX_INT_DIGITS:
                        raise PayloadValidationError('%s: has an integer of %d digits; Python\'s json, which '
                                                     'cloud-init reads it with, reads at most %d'
                                                     % (where, digits, JSON_MAX_INT_DIGITS),
                                                     option='files[%d]' % index, file=f.name)
    elif preset == 'sysprep':
        answer = [(index, f) for index, f in indexed if f.name.casefold() in SYSPREP_NAMES]
        if not answer:
            raise PayloadValidationError('preset sysprep needs an answer file at the top of the image: '
                                         'Unattend.xml, autounattend.xml or sysprep.inf', option='files')
        for index, f in answer:
            if not f.name.casefold().endswith('.xml'):
                continue
            if f.data is None:
                continue
            # Parsed as bytes so that the file's own BOM and encoding declaration decide:
            # Windows tools often write UTF-16 answer files.
            try:
                ElementTree.fromstring(f.data)
            except ElementTree.ParseError as exc:
                line, column = exc.position
                raise PayloadValidationError('%s: not well-formed XML (line %d, column %d)'
                                             % (_where(index, f.name), line, column),
                                             option='files[%d]' % index, file=f.name) from None
            except (LookupError, ValueError):
                # The declared encoding: expat asks Python's codecs for one it does not know itself,
                # and gets LookupError for an unknown name (x-bogus) and ValueError for one expat
                # cannot use (utf-32, utf-7, shift_jis: 'multi-byte encodings are not supported').
                raise PayloadValidationError('%s: the encoding its XML declaration names is unknown or cannot be '
                                             'read here; write the answer file in UTF-8 or UTF-16, which Windows '
                                             'Setup reads' % _where(index, f.name),
                                             option='files[%d]' % index, file=f.name) from None


def parse_payload(files, device='cdrom', label=None, preset=None, max_content_size=None, copies=None):
    """Validate a declared payload completely and return a :class:`Payload`.

    Raises :class:`PayloadValidationError` on the first rule broken, before anything is written.
    With ``copies`` (a :class:`PrivateCopies`), each ``src`` file is copied into it as it is hashed,
    its one read; without, it is only hashed (enough for a digest), and a writer copies it again,
    checking it against the digest, before building. Use :func:`staged_payload` to build.
    """
    if device not in DEVICES:
        raise PayloadValidationError('device must be one of %s, not %s' % (', '.join(DEVICES), json.dumps(device)),
                                     option='device')
    if preset is not None and preset not in PRESETS:
        raise PayloadValidationError('preset must be one of %s, not %s' % (', '.join(PRESETS), json.dumps(preset)),
                                     option='preset')
    if max_content_size is not None and (not isinstance(max_content_size, int) or isinstance(max_content_size, bool)
                                         or max_content_size < 0):
        raise PayloadValidationError('max_content_size must be a number of bytes >= 0', option='max_content_size')
    if not isinstance(files, (list, tuple)) or not files:
        raise PayloadValidationError('files must be a non-empty list', option='files')
    label = normalise_label(_preset_label(preset, label), device)
    indexed = [(index, _parse_file(index, spec, device, max_content_size, copies))
               for index, spec in enumerate(files)]
    _check_tree(indexed, device)
    if preset is not None:
        _check_preset(preset, indexed)
    ordered = tuple(sorted((f for index, f in indexed), key=lambda f: f.name))
    digest = payload_digest(device, label, [(f.name, f.sha256) for f in ordered])
    return Payload(device=device, label=label, files=ordered, digest=digest)


@contextlib.contextmanager
def staged_payload(files, device='cdrom', label=None, preset=None, max_content_size=None, tmpdir=None):
    """:func:`parse_payload` for a payload that is going to be built or sent: a context manager.

    Each ``src`` file is read once, hashed while it is copied, into memory when small or else into
    a private directory (see :class:`PrivateCopies`), and the payload's files are read from those
    copies: an image built from it holds exactly the bytes its digest was taken of, even if ``src``
    changes meanwhile. The directory is removed on leaving, also on error.
    """
    with PrivateCopies(tmpdir) as copies:
        yield parse_payload(files, device=device, label=label, preset=preset, max_content_size=max_content_size,
                            copies=copies)


def _copy_again(payload_file, copies):
    """A private copy of a ``src`` file parsed without one; it must still be what was hashed."""
    index = payload_file.index
    name = payload_file.name
    where = _where(index, name) if index is not None else 'file %s' % json.dumps(name, ensure_ascii=False)
    option = 'files[%d].src' % index if index is not None else 'files'
    size, sha, copy, held = _read_src(payload_file.src, where, option, name, copies)
    if (size, sha) != (payload_file.size, payload_file.sha256):
        how = ('%d bytes then, %d now' % (payload_file.size, size) if size != payload_file.size
               else 'same size, other bytes')
        raise ImageWriteError('%s: src %s changed after it was validated (%s): no image is built from it, as the '
                              'image would not hold what the payload digest says; run again'
                              % (where, json.dumps(payload_file.src), how))
    return replace(payload_file, copy=copy, held=held)


@contextlib.contextmanager
def staged(payload, tmpdir=None):
    """``payload`` with every ``src`` file read from a private copy, as the image writers need it.

    A payload from :func:`staged_payload` has its copies and is given back as it is. Otherwise each
    ``src`` file is copied now (as :func:`staged_payload` does; a directory is removed on leaving),
    and one that is no longer what was hashed fails with :class:`ImageWriteError`.
    """
    if all(f.settled for f in payload.files):
        yield payload
        return
    with PrivateCopies(tmpdir) as copies:
        files = tuple(f if f.settled else _copy_again(f, copies) for f in payload.files)
        yield replace(payload, files=files)
