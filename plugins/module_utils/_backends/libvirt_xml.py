# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The libvirt backend's domain XML editing, as pure functions over ElementTree elements.

Nothing here talks to libvirt, so unit tests reach every rule without a daemon. The record
kept in a domain's ``<metadata>`` is ``<vmpayload:payload>`` in the namespace below; its
attributes and ``<vmpayload:file>`` children are what the role's release hook and older
releases of the collection read, so their names do not change.
"""

from __future__ import annotations

import json
import os
import re
from xml.etree import ElementTree

from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import PayloadRecord
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError

NAMESPACE = 'urn:x-vmpayload:payload:1'
NAMESPACE_PREFIX = 'vmpayload'
VOLUME_PREFIX = 'vmpayload-'
# The dedicated drive's slot, as today's oVirt engine reserves one: the secondary IDE slave on
# i440fx machines, the last SATA unit on q35; floppies take the first floppy drive.
DEDICATED_SLOTS = {
    ('cdrom', 'ide'): 'hdd',
    ('cdrom', 'sata'): 'sdz',
    ('floppy', 'fdc'): 'fda',
}
TARGET_PATTERNS = {
    'ide': re.compile(r'^hd[a-d]$'),
    'sata': re.compile(r'^sd[a-z]{1,2}$'),
    'fdc': re.compile(r'^fd[ab]$'),
}
# Run-once volume names carry this mark, so the release hook knows which volumes to delete.
RUN_ONCE_MARK = 'once-'
# Every name volume_name gives: <prefix><domain UUID>-[<run-once mark>]<16 hex digits of the keyed digest>.iso|img.
PAYLOAD_VOLUME = re.compile(r'^%s(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(?:%s)?'
                            r'[0-9a-f]{16}\.(?:iso|img)$' % (re.escape(VOLUME_PREFIX), re.escape(RUN_ONCE_MARK)))
# The record's attributes, in the order earlier releases wrote them; ``key`` names the pool's key the
# digests are keyed with (records of earlier releases have none, and plain sha256 digests).
RECORD_KEYS = ('availability', 'digest', 'key', 'device', 'label')
PLACEMENT_KEYS = ('pool', 'volume', 'drive', 'target')

ElementTree.register_namespace(NAMESPACE_PREFIX, NAMESPACE)


def _q(tag):
    return '{%s}%s' % (NAMESPACE, tag)


def volume_name(domain_uuid, digest, device, once=False):
    """The volume that holds a payload of a domain: its UUID, a run-once mark, 16 hex digits of the (keyed) digest."""
    extension = 'iso' if device == 'cdrom' else 'img'
    return '%s%s-%s%s.%s' % (VOLUME_PREFIX, domain_uuid, RUN_ONCE_MARK if once else '', digest[:16], extension)


def volume_owner(name):
    """The UUID of the domain a payload volume was made for (its name says), or None for any other name."""
    match = PAYLOAD_VOLUME.match(name or '')
    return match.group('uuid') if match else None


def record_element(record, namespaced=True):
    """The metadata element for a PayloadRecord.

    Namespaced for a full domain definition; plain for virDomainSetMetadata, which adds the
    namespace itself.
    """
    tag = _q if namespaced else (lambda name: name)
    element = ElementTree.Element(tag('payload'))
    values = [(key, record.key_id if key == 'key' else getattr(record, key)) for key in RECORD_KEYS]
    values.extend((key, record.placement.get(key)) for key in PLACEMENT_KEYS)
    for key, value in values:
        if value is not None:
            element.set(key, str(value))
    for f in record.files:
        ElementTree.SubElement(element, tag('file'), name=f['name'], size=str(f['size']), digest=f['digest'])
    return element


# A file's size in the record: decimal digits only (int() would also take ' 1', '1_0' and other
# scripts' digits, and refuses more than 4300 digits with a ValueError).
SIZE_RE = re.compile(r'^[0-9]{1,20}$')


def _record_file(index, node):
    """A ``<vmpayload:file>`` as a dict, or the reason it is malformed (named by position and name, not values)."""
    name, size = node.get('name'), node.get('size')
    where = 'files[%d]' % index
    if not name:
        return None, '%s has no name' % where
    where = '%s (%s)' % (where, json.dumps(name, ensure_ascii=False))
    if size is None:
        return None, '%s has no size' % where
    if not SIZE_RE.match(size):
        return None, '%s has a size that is not a whole number of bytes' % where
    return {'name': name, 'size': int(size), 'digest': node.get('digest')}, None


def record_from_element(element):
    """The PayloadRecord a metadata element holds; one that cannot be read is an unknown payload.

    A malformed record (hand-edited, or damaged) gives availability ``unknown`` with the reason, which
    the decision layer refuses to act on and vm_payload_info reports as it is.
    """
    placement = {key: element.get(key) for key in PLACEMENT_KEYS if element.get(key) is not None}
    reported = {'volume': placement['volume']} if placement.get('volume') else {}
    files = []
    for index, node in enumerate(element.findall(_q('file'))):
        entry, problem = _record_file(index, node)
        if problem:
            return PayloadRecord(availability='unknown', reported=reported, placement=placement,
                                 reason='the payload record in the domain\'s metadata cannot be read: %s; '
                                        'correct or remove it (virsh metadata <domain> %s --remove --config), then run again'
                                        % (problem, NAMESPACE))
        files.append(entry)
    return PayloadRecord(availability=element.get('availability', 'unknown'), digest=element.get('digest'),
                         device=element.get('device'), label=element.get('label'), files=files,
                         reported=reported, placement=placement, key_id=element.get('key'))


def payload_record(described, availability, pool, volume, drive, target):
    """The record of a payload (``described`` under the pool's key) staged as ``volume`` in ``pool`` at ``target``."""
    return PayloadRecord(availability=availability, digest=described.digest, device=described.device,
                         label=described.label, files=[dict(f) for f in described.files], key_id=described.key_id,
                         reported={'volume': volume},
                         placement=dict(pool=pool, volume=volume, drive=drive, target=target))


def record_in_domain(domain_xml):
    """The record kept in a full domain definition's <metadata>, or None."""
    found = domain_xml.find('metadata/' + _q('payload'))
    return None if found is None else record_from_element(found)


def put_record(domain_xml, record):
    """Replace the record in a full domain definition (remove it when ``record`` is None)."""
    metadata = domain_xml.find('metadata')
    if metadata is None:
        metadata = ElementTree.SubElement(domain_xml, 'metadata')
    for old in metadata.findall(_q('payload')):
        metadata.remove(old)
    if record is not None:
        metadata.append(record_element(record))


def find_disk(domain_xml, target):
    for disk in domain_xml.findall('devices/disk'):
        node = disk.find('target')
        if node is not None and node.get('dev') == target:
            return disk
    return None


def put_disk(domain_xml, disk):
    """Replace the disk at ``disk``'s target in a full domain definition, or add it."""
    devices = domain_xml.find('devices')
    existing = find_disk(domain_xml, disk.find('target').get('dev'))
    if existing is None:
        devices.append(disk)
    else:
        devices.insert(list(devices).index(existing), disk)
        devices.remove(existing)


def disk_xml(device, bus, target, path):
    """A read-only drive at ``target`` holding the image at ``path``, or empty when ``path`` is None.

    The image is named by its path in the pool's directory, not by pool and volume: libvirt resolves a
    volume through the pool of the host the domain starts or arrives on, whose list of volumes is only
    as fresh as its last refresh (a migration's destination had not seen a run-once image uploaded a
    minute before: "Storage volume not found"). A path needs only the file, as a shared pool gives it.
    """
    disk = ElementTree.Element('disk', type='file', device=device)
    ElementTree.SubElement(disk, 'driver', name='qemu', type='raw')
    if path:
        ElementTree.SubElement(disk, 'source', file=path)
    ElementTree.SubElement(disk, 'target', dev=target, bus=bus)
    ElementTree.SubElement(disk, 'readonly')
    return disk


def release_drive(domain_xml, record):
    """Take the payload described by ``record`` out of a full definition.

    A drive the payload replaced was the VM's own: it stays, empty. A dedicated drive goes.
    Returns the element to apply to the running VM (the empty drive, or the removed one), or
    None when the definition had no such drive.
    """
    target = record.placement.get('target')
    disk = find_disk(domain_xml, target)
    if disk is None:
        return None
    if record.placement.get('drive') == 'replace':
        empty = disk_xml(record.device, disk.find('target').get('bus'), target, None)
        put_disk(domain_xml, empty)
        return empty
    domain_xml.find('devices').remove(disk)
    return disk


def disk_source(disk):
    """What a disk holds, as ``pool/volume`` or a path; None when empty."""
    if disk is None or disk.find('source') is None:
        return None
    source = disk.find('source')
    if source.get('volume'):
        return '%s/%s' % (source.get('pool'), source.get('volume'))
    return source.get('file') or source.get('dev') or source.get('name')


def pool_volume(disk, pool, pool_path):
    """The name of the volume of ``pool`` a disk holds, or None.

    By volume, as earlier releases attached payloads, or by the file's path in the pool's directory
    (``pool_path``), as this release attaches them and as a definition copied by a cloning tool names them.
    """
    source = disk.find('source') if disk is not None else None
    if source is None:
        return None
    if disk.get('type') == 'volume':
        return source.get('volume') if source.get('pool') == pool else None
    path = source.get('file') if disk.get('type') == 'file' else None
    if path and pool_path and os.path.dirname(os.path.normpath(path)) == os.path.normpath(pool_path):
        return os.path.basename(path)
    return None


def volumes_in_pool(domain_xml, pool, pool_path):
    """The names of the volumes of ``pool`` (directory ``pool_path``) that a definition's disks use."""
    used = {pool_volume(disk, pool, pool_path) for disk in domain_xml.findall('devices/disk')}
    used.discard(None)
    return used


def is_payload_disk(disk, pool, pool_path):
    """Whether a drive holds one of this collection's volumes of ``pool``."""
    return (pool_volume(disk, pool, pool_path) or '').startswith(VOLUME_PREFIX)


def choose_slot(domain_xml, device, drive, target, pool, pool_path):
    """(bus, target dev) of the payload drive in a definition; refuse a slot the VM's own media holds."""
    if drive == 'replace':
        for disk in domain_xml.findall('devices/disk'):
            node = disk.find('target')
            if disk.get('device') == device and node is not None and (target is None or node.get('dev') == target):
                return node.get('bus'), node.get('dev')
        raise PayloadValidationError('drive: replace needs an existing %s drive%s; the domain has none'
                                     % (device, ' with target %s' % target if target else ''), option='target')
    machine = domain_xml.find('os/type').get('machine', '')
    if device == 'floppy':
        if 'q35' in machine:
            raise PayloadValidationError('q35 machines have no floppy controller; use device: cdrom',
                                         option='device')
        bus = 'fdc'
    else:
        bus = 'sata' if 'q35' in machine else 'ide'
    slot = target or DEDICATED_SLOTS[(device, bus)]
    if not TARGET_PATTERNS[bus].match(slot):
        raise PayloadValidationError('target %s is not a drive name on the %s bus (%s)'
                                     % (slot, bus, TARGET_PATTERNS[bus].pattern), option='target')
    occupant = find_disk(domain_xml, slot)
    source = disk_source(occupant)
    ours = source is None or is_payload_disk(occupant, pool, pool_path)
    if occupant is not None and (occupant.get('device') != device or not ours):
        raise PayloadValidationError(
            'the payload slot %s already holds the VM\'s own %s%s; set target to a free slot, or use '
            'drive: replace to put the payload into an existing drive'
            % (slot, occupant.get('device'), ' (%s)' % source if source else ''), option='target')
    return bus, slot


def once_definition(persistent_xml, disk, record):
    """The definition a run-once start uses: the persistent one plus the payload drive and its record."""
    once = ElementTree.fromstring(ElementTree.tostring(persistent_xml))
    put_disk(once, disk)
    put_record(once, record)
    return once


def to_text(element):
    return ElementTree.tostring(element, encoding='unicode')
