# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Independent readers for the images under test, and helpers to build images from a payload.

The judges are tools nobody here wrote: isoinfo (genisoimage), xorriso, bsdtar (libarchive),
fsck.vfat (dosfstools), mtools and blkid (util-linux). Two small raw walkers (``iso_dates``,
``fat_entries``) read every timestamp field straight from the on-disk structures, following
ECMA-119/SUSP/RRIP and Microsoft's FAT specification, because no installed tool prints all of them.
"""

from __future__ import annotations

import calendar
import collections
import os
import re
import shutil
import struct
import subprocess
import time

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import DEFAULT_EPOCH, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

TOOLS = ('isoinfo', 'xorriso', 'bsdtar', 'fsck.vfat', 'mdir', 'mcopy', 'mtype', 'minfo', 'blkid')


def reader_env(**extra):
    """The environment every reader runs in: UTF-8 locale, UTC, and mtools' checks left on."""
    env = {key: value for key, value in os.environ.items() if not key.startswith('MTOOLS')}
    env.update(LC_ALL='C.UTF-8', LANG='C.UTF-8', TZ='UTC')
    env.update(extra)
    return env


def run(args, check=True, env=None):
    """Run a reader; text output decoded as UTF-8 (undecodable bytes kept as surrogates)."""
    result = subprocess.run([str(a) for a in args], capture_output=True, env=env or reader_env(),
                            encoding='utf-8', errors='surrogateescape', timeout=120, check=False)
    if check and result.returncode != 0:
        raise AssertionError('%s exited %d\nstdout:\n%s\nstderr:\n%s'
                             % (' '.join(map(str, args)), result.returncode, result.stdout, result.stderr))
    return result


def build(files, path, device='cdrom', label=None, preset=None, epoch=DEFAULT_EPOCH, size=None):
    """Parse ``files`` and write the image to ``path``; returns the Payload."""
    payload = parse_payload(files, device=device, label=label, preset=preset)
    writer_for(device, epoch=epoch, size=size).write(payload, str(path))
    return payload


def expected_tree(payload):
    """(files: {name: bytes}, directories: set of names) a reader should find."""
    files = {}
    for f in payload.files:
        with f.open() as stream:
            files[f.name] = stream.read()
    return files, set(payload.directories())


def read_tree(root):
    """(files: {relative name: bytes}, directories: set of relative names) under ``root``."""
    files, dirs = {}, set()
    root = str(root)
    for current, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(current, root)
        prefix = '' if rel == '.' else rel + '/'
        for d in dirnames:
            dirs.add(prefix + d)
        for name in filenames:
            with open(os.path.join(current, name), 'rb') as stream:
                files[prefix + name] = stream.read()
    return files, dirs


def all_paths(payload):
    """Every path in the image (files and directories), '/'-rooted, as listings print them."""
    return {'/' + p for p in list(payload.directories()) + [f.name for f in payload.files]}


# ---------------------------------------------------------------- ISO readers

def isoinfo_d(image, joliet=False):
    """``isoinfo -d``: {'fields': {...}, 'joliet': bool, 'rock_ridge': bool, 'text': str}."""
    text = run(['isoinfo', '-d', '-i', image] + (['-J'] if joliet else [])).stdout
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(':')
        if sep:
            fields[key.strip()] = value.strip()
    return {'fields': fields, 'text': text,
            'joliet': 'Joliet with UCS level 3 found' in text,
            'rock_ridge': 'Rock Ridge signatures version 1 found' in text}


def isoinfo_find(image, tree='-R'):
    """``isoinfo -f`` (``-R`` Rock Ridge names, ``''`` plain ISO 9660 names): set of paths."""
    args = ['isoinfo', '-f', '-i', image] + ([tree] if tree else [])
    return set(line for line in run(args).stdout.splitlines() if line)


_ISOINFO_LINE = re.compile(r'^([-d])[-rwx]{9}\s+\d+\s+\d+\s+\d+\s+(\d+)\s+(\w{3}\s+\d+\s+\d{4})'
                           r'\s+\[\s*\d+\s+\d+\]\s\s(.*?)\s?$')


def isoinfo_listing(image, tree='-R'):
    """``isoinfo -l``: list of (type, size, date text, name) for every record, '.' and '..' included."""
    args = ['isoinfo', '-l', '-i', image] + ([tree] if tree else [])
    rows = []
    for line in run(args).stdout.splitlines():
        match = _ISOINFO_LINE.match(line)
        if match:
            kind, size, date, name = match.groups()
            rows.append((kind, int(size), ' '.join(date.split()), name))
    return rows


def _xorriso_unquote(text):
    assert text.startswith("'") and text.endswith("'"), text
    return text[1:-1].replace("'\"'\"'", "'")


def xorriso_find(image, joliet=False):
    """``xorriso -find /``: set of paths in the Rock Ridge tree, or in the Joliet tree."""
    args = ['xorriso', '-indev', image] + (['-rockridge', 'off'] if joliet else []) + ['-find', '/']
    out = run(args).stdout
    return {_xorriso_unquote(line) for line in out.splitlines() if line.startswith("'")} - {'/'}


def xorriso_ls(image, directory='/', joliet=False):
    """``xorriso -ls DIR``: set of names directly in ``directory``."""
    args = ['xorriso', '-indev', image] + (['-rockridge', 'off'] if joliet else []) + ['-ls', directory]
    out = run(args).stdout
    return {_xorriso_unquote(line) for line in out.splitlines() if line.startswith("'")}


def xorriso_extract(image, dest, joliet=False):
    """Extract the Rock Ridge (or Joliet) tree with xorriso into ``dest``."""
    args = (['xorriso', '-indev', image] + (['-rockridge', 'off'] if joliet else [])
            + ['-osirrox', 'on', '-extract', '/', dest])
    run(args)
    return dest


def xorriso_pvd_info(image):
    """``xorriso -pvd_info``: {'Volume Id': ..., 'Creation Time': ..., ...}."""
    out = run(['xorriso', '-indev', image, '-pvd_info']).stdout
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(': ')
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def bsdtar_extract(image, dest):
    os.makedirs(dest, exist_ok=True)
    run(['bsdtar', '-x', '-f', image, '-C', dest])
    return dest


def bsdtar_list(image):
    """``bsdtar -tvf``: list of (mode, size, date text, path)."""
    rows = []
    for line in run(['bsdtar', '-t', '-v', '-f', image]).stdout.splitlines():
        parts = line.split(None, 8)
        rows.append((parts[0], int(parts[4]), ' '.join(parts[5:8]), parts[8]))
    return rows


def chmod_tree_writable(root):
    """Extracted ISO trees are read-only (0444/0555); make them removable by a non-root user."""
    for current, dirnames, filenames in os.walk(str(root)):
        os.chmod(current, 0o755)
        for d in dirnames:
            os.chmod(os.path.join(current, d), 0o755)


def blkid(image):
    """``blkid -p -o export`` (util-linux's probe, what udev and cloud-init use): {'LABEL': ...}."""
    out = run(['blkid', '-p', '-o', 'export', image]).stdout
    return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)


# ---------------------------------------------------------------- FAT readers

def fsck_vfat(image):
    """``fsck.vfat -n``: (exit code, lines other than the banner and the summary, (used, total) clusters)."""
    result = run(['fsck.vfat', '-n', image], check=False)
    problems, summary = [], None
    for line in (result.stdout + result.stderr).splitlines():
        match = re.match(r'^%s: \d+ files, (\d+)/(\d+) clusters$' % re.escape(str(image)), line)
        if match:
            summary = (int(match.group(1)), int(match.group(2)))
        elif line.strip() and not line.startswith('fsck.fat '):
            problems.append(line)
    return result.returncode, problems, summary


def minfo(image):
    """``minfo -i IMG ::``: the boot-sector fields mtools reports (keys as minfo prints them)."""
    out = run(['minfo', '-i', image, '::']).stdout
    fields = {}
    for line in out.splitlines():
        match = re.match(r'^\s*([a-z][a-z0-9 ()]*?)\s*[:=]\s*(.*)$', line)
        if match:
            fields.setdefault(match.group(1), match.group(2).strip().strip('"'))
    fields['_text'] = out
    return fields


def mdir(image):
    """``mdir -/ -a``: the recursive listing's text."""
    return run(['mdir', '-/', '-a', '-i', image, '::']).stdout


def mdir_paths(image):
    """``mdir -/ -b``: set of '/'-rooted paths (files and directories) as mtools names them."""
    out = run(['mdir', '-/', '-b', '-i', image, '::']).stdout
    return {line[2:].rstrip('/') for line in out.splitlines() if line.startswith('::/')}


def mdir_dates(image):
    """Every (date, time) mdir prints in the recursive listing."""
    return re.findall(r'\s(\d{4}-\d{2}-\d{2})\s+(\d{1,2}:\d{2})', mdir(image))


def mcopy_extract(image, dest, preserve_dates=False):
    """Copy the whole FAT tree out with ``mcopy -s``."""
    os.makedirs(dest, exist_ok=True)
    run(['mcopy', '-s', '-n'] + (['-m'] if preserve_dates else []) + ['-i', image, '::/', str(dest) + '/'])
    return dest


def mtype(image, name):
    """One file's bytes through ``mtype``."""
    escaped = re.sub(r'([\\*?\[\]])', r'\\\1', name)  # mtools would take these as wildcards
    result = subprocess.run(['mtype', '-i', str(image), '::/' + escaped], capture_output=True,
                            env=reader_env(), timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------- raw date walkers

def _dr_date_epoch(raw):
    """ECMA-119 9.1.5: seven bytes, years since 1900 ... and a signed 15-minute GMT offset."""
    year, month, day, hour, minute, second = raw[0] + 1900, raw[1], raw[2], raw[3], raw[4], raw[5]
    offset = struct.unpack('b', raw[6:7])[0]
    return calendar.timegm((year, month, day, hour, minute, second)) - offset * 15 * 60


def _vd_date_epoch(raw):
    """ECMA-119 8.4.26.1: 16 digits and a signed offset; all zeros means 'not specified'."""
    digits = raw[:16].decode('ascii')
    if digits == '0' * 16 and raw[16] == 0:
        return None
    year, month, day, hour, minute, second = (int(digits[i:j]) for i, j in
                                              ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14)))
    hundredths = int(digits[14:16])
    offset = struct.unpack('b', raw[16:17])[0]
    return calendar.timegm((year, month, day, hour, minute, second)) - offset * 15 * 60 + hundredths / 100.0


def _susp_dates(image_bytes, area, found, depth=0):
    """Rock Ridge TF timestamps in a System Use area, following CE continuation areas."""
    pos = 0
    while pos + 4 <= len(area):
        sig, length = area[pos:pos + 2], area[pos + 2]
        if length < 4:
            break
        entry = area[pos:pos + length]
        if sig == b'TF':
            flags = entry[4]
            size = 17 if flags & 0x80 else 7
            at = 5
            for bit in range(7):
                if flags & (1 << bit):
                    raw = entry[at:at + size]
                    found.append(('rr-tf', _vd_date_epoch(raw) if size == 17 else _dr_date_epoch(raw)))
                    at += size
        elif sig == b'CE' and depth < 8:
            block = struct.unpack('<I', entry[4:8])[0]
            offset = struct.unpack('<I', entry[12:16])[0]
            ce_len = struct.unpack('<I', entry[20:24])[0]
            start = block * 2048 + offset
            _susp_dates(image_bytes, image_bytes[start:start + ce_len], found, depth + 1)
        elif sig == b'ST':
            break
        pos += length


def iso_dates(image):
    """Every timestamp in an ISO image: volume descriptors, directory records (ISO 9660 and
    Joliet trees) and Rock Ridge TF entries. Returns a list of (where, epoch or None)."""
    with open(image, 'rb') as stream:
        data = stream.read()
    found = []
    roots = []
    sector = 16
    while True:
        vd = data[sector * 2048:(sector + 1) * 2048]
        assert vd[1:6] == b'CD001', 'no volume descriptor at sector %d' % sector
        if vd[0] == 255:
            break
        if vd[0] in (1, 2):
            kind = 'pvd' if vd[0] == 1 else 'svd'
            for name, offset in (('creation', 813), ('modification', 830), ('expiration', 847),
                                 ('effective', 864)):
                found.append(('%s-%s' % (kind, name), _vd_date_epoch(vd[offset:offset + 17])))
            roots.append((kind, vd[156:156 + 34]))
        sector += 1
    for kind, root in roots:
        seen = set()
        pending = [struct.unpack('<I', root[2:6])[0]]
        sizes = {pending[0]: struct.unpack('<I', root[10:14])[0]}
        found.append(('%s-root' % kind, _dr_date_epoch(root[18:25])))
        while pending:
            lba = pending.pop()
            if lba in seen:
                continue
            seen.add(lba)
            extent = data[lba * 2048:lba * 2048 + sizes[lba]]
            pos = 0
            while pos < len(extent):
                length = extent[pos]
                if length == 0:
                    pos = (pos // 2048 + 1) * 2048
                    continue
                record = extent[pos:pos + length]
                found.append(('%s-record' % kind, _dr_date_epoch(record[18:25])))
                name_len = record[32]
                name = record[33:33 + name_len]
                system_use = record[33 + name_len + (1 - name_len % 2):]
                if kind == 'pvd':
                    _susp_dates(data, system_use, found)
                if record[25] & 2 and name not in (b'\x00', b'\x01'):
                    child = struct.unpack('<I', record[2:6])[0]
                    sizes[child] = struct.unpack('<I', record[10:14])[0]
                    pending.append(child)
                pos += length
    return found


def _fat_chain(fat_bytes, first, fat_bits):
    chain = []
    cluster = first
    end = 0xFF8 if fat_bits == 12 else 0xFFF8
    while 2 <= cluster < end and len(chain) < 70000:
        chain.append(cluster)
        if fat_bits == 12:
            pair = struct.unpack('<H', fat_bytes[cluster * 3 // 2:cluster * 3 // 2 + 2])[0]
            cluster = pair >> 4 if cluster & 1 else pair & 0xFFF
        else:
            cluster = struct.unpack('<H', fat_bytes[cluster * 2:cluster * 2 + 2])[0]
    return chain


# One short directory entry: path (from its long names when they exist), path of 8.3 names, its 8.3 bytes
# and its fields.
FatEntry = collections.namedtuple('FatEntry', 'path short_path short attr crt_tenth crt_time crt_date acc_date '
                                              'wrt_time wrt_date first_cluster')


def _short_name_text(raw):
    raw = bytes([0xE5]) + raw[1:] if raw[0] == 0x05 else raw
    base, ext = raw[:8].rstrip(b' ').decode('cp437'), raw[8:].rstrip(b' ').decode('cp437')
    return base + ('.' + ext if ext else '')


def fat_entries(image):
    """Every short directory entry of a FAT12/16 image, '.' and '..' and the volume label included.

    Long names are assembled from their LFN slots (UTF-16-LE, Microsoft's FAT specification
    section 7), so this walker also reads names mtools cannot print (non-BMP characters)."""
    with open(image, 'rb') as stream:
        data = stream.read()
    bytes_per_sector, sectors_per_cluster, reserved, fats, root_entries, total16 = struct.unpack(
        '<HBHBHH', data[11:21])
    fat_size = struct.unpack('<H', data[22:24])[0]
    total = total16 or struct.unpack('<I', data[32:36])[0]
    root_start = (reserved + fats * fat_size) * bytes_per_sector
    root_bytes = root_entries * 32
    data_start = root_start + -(-root_bytes // bytes_per_sector) * bytes_per_sector
    clusters = (total * bytes_per_sector - data_start) // (sectors_per_cluster * bytes_per_sector)
    fat_bits = 12 if clusters < 4085 else 16
    fat_bytes = data[reserved * bytes_per_sector:(reserved + fat_size) * bytes_per_sector]
    cluster_bytes = sectors_per_cluster * bytes_per_sector

    def entries(region, parent, short_parent):
        slots = {}
        for pos in range(0, len(region), 32):
            raw = region[pos:pos + 32]
            if raw[0] == 0:
                return
            if raw[0] == 0xE5:
                slots = {}
                continue
            if raw[11] == 0x0F:
                slots[raw[0] & 0x1F] = raw[1:11] + raw[14:26] + raw[28:32]
                continue
            name = short = _short_name_text(raw[0:11])
            if slots:
                units = b''.join(slots[i] for i in sorted(slots))
                name = units.decode('utf-16-le', errors='surrogatepass').split('\0', maxsplit=1)[0]
                slots = {}
            fields = (raw[11], raw[13]) + struct.unpack('<HHHxxHH', raw[14:26]) + struct.unpack('<H', raw[26:28])
            yield FatEntry(parent + '/' + name, short_parent + '/' + short, raw[0:11], *fields)

    result = []
    pending = [(data[root_start:root_start + root_bytes], '', '')]
    while pending:
        region, parent, short_parent = pending.pop()
        for entry in entries(region, parent, short_parent):
            result.append(entry)
            if entry.attr & 0x10 and entry.short not in (b'.          ', b'..         '):
                chain = _fat_chain(fat_bytes, entry.first_cluster, fat_bits)
                pending.append((b''.join(data[data_start + (c - 2) * cluster_bytes:data_start + (c - 1) * cluster_bytes]
                                         for c in chain), entry.path, entry.short_path))
    return result


def fat_root_slots_used(image):
    """How many 32-byte slots of a FAT12/16 root directory are in use (LFN slots included)."""
    with open(image, 'rb') as stream:
        boot = stream.read(512)
        bytes_per_sector, sectors_per_cluster, reserved, fats, root_entries = struct.unpack('<HBHBH', boot[11:19])
        fat_size = struct.unpack('<H', boot[22:24])[0]
        stream.seek((reserved + fats * fat_size) * bytes_per_sector)
        root = stream.read(root_entries * 32)
    used = 0
    for pos in range(0, len(root), 32):
        if root[pos] == 0:
            break
        used += root[pos] != 0xE5
    return used


def dos_date_time(epoch):
    """(DOS date, DOS time) of ``epoch`` in UTC, as FAT stores it."""
    tm = time.gmtime(epoch)
    return (((tm.tm_year - 1980) << 9) | (tm.tm_mon << 5) | tm.tm_mday,
            (tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec // 2))


def missing_tools():
    return [tool for tool in TOOLS if shutil.which(tool) is None]
