# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The libvirt backend: the collection plays VDSM's part, with libvirt-python only.

It builds the image locally, uploads it into a storage-pool volume through libvirt's stream
API (so ``qemu+ssh://`` hosts need nothing but libvirt), points a disk at it, and records what it
attached in the domain's ``<metadata>`` under the collection's namespace. Volumes are named
``vmpayload-<domain uuid>-<digest prefix>.<iso|img>``; any such volume of a domain that neither its
persistent nor its live definition uses is deleted on the next run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import time
import traceback
from xml.etree import ElementTree

from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import PayloadBackend, PayloadRecord
from ansible_collections.vmpayload.core.plugins.module_utils._image.base import build_epoch, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    MissingLibraryError,
    PayloadValidationError,
    VmNotFoundError,
)

try:
    import libvirt
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

NAMESPACE = 'urn:x-vmpayload:payload:1'
NAMESPACE_PREFIX = 'vmpayload'
VOLUME_PREFIX = 'vmpayload-'
DEFAULT_POOL = 'vmpayload'
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
UPLOAD_CHUNK = 256 * 1024
# A pool refresh refused because another run is creating a volume is tried again this often.
REFRESH_ATTEMPTS = 10
REFRESH_PAUSE = 0.1
# How often a permanent payload is staged again when a concurrent run removed its volume.
RACE_ATTEMPTS = 3
# Run-once volume names carry this mark, so the release hook knows which volumes to delete.
RUN_ONCE_MARK = 'once-'
# Every name _volume_name gives: <prefix><domain UUID>-[<run-once mark>]<16 hex digits of the digest>.iso|img.
PAYLOAD_VOLUME = re.compile(r'^%s(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(?:%s)?'
                            r'[0-9a-f]{16}\.(?:iso|img)$' % (re.escape(VOLUME_PREFIX), re.escape(RUN_ONCE_MARK)))
SHUTOFF_STATES = (5, 0)  # VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_NOSTATE

ElementTree.register_namespace(NAMESPACE_PREFIX, NAMESPACE)


def _q(tag):
    return '{%s}%s' % (NAMESPACE, tag)


def record_element(record, namespaced=True):
    """The metadata element for a PayloadRecord.

    Namespaced for a full domain definition; plain for virDomainSetMetadata, which adds the
    namespace itself.
    """
    tag = _q if namespaced else (lambda name: name)
    element = ElementTree.Element(tag('payload'))
    for key in ('availability', 'digest', 'device', 'label', 'pool', 'volume', 'drive', 'target'):
        value = getattr(record, key)
        if value is not None:
            element.set(key, str(value))
    for f in record.files:
        ElementTree.SubElement(element, tag('file'), name=f['name'], size=str(f['size']), sha256=f['sha256'])
    return element


def record_from_element(element):
    files = [{'name': f.get('name'), 'size': int(f.get('size')), 'sha256': f.get('sha256')}
             for f in element.findall(_q('file'))]
    return PayloadRecord(availability=element.get('availability', 'unknown'), digest=element.get('digest'),
                         device=element.get('device'), label=element.get('label'), files=files,
                         volume=element.get('volume'), pool=element.get('pool'), drive=element.get('drive'),
                         target=element.get('target'))


def _record_in_domain_xml(domain_xml):
    """The record kept in a full domain definition's <metadata>, or None."""
    found = domain_xml.find('metadata/' + _q('payload'))
    return None if found is None else record_from_element(found)


def _put_record(domain_xml, record):
    """Replace the record in a full domain definition (remove it when ``record`` is None)."""
    metadata = domain_xml.find('metadata')
    if metadata is None:
        metadata = ElementTree.SubElement(domain_xml, 'metadata')
    for old in metadata.findall(_q('payload')):
        metadata.remove(old)
    if record is not None:
        metadata.append(record_element(record))


def _put_disk(domain_xml, disk):
    """Replace the disk at ``disk``'s target in a full domain definition, or add it."""
    devices = domain_xml.find('devices')
    existing = _find_disk(domain_xml, disk.find('target').get('dev'))
    if existing is None:
        devices.append(disk)
    else:
        devices.insert(list(devices).index(existing), disk)
        devices.remove(existing)


def _disk_xml(device, bus, target, pool, volume):
    disk = ElementTree.Element('disk', type='volume' if volume else 'file', device=device)
    ElementTree.SubElement(disk, 'driver', name='qemu', type='raw')
    if volume:
        ElementTree.SubElement(disk, 'source', pool=pool, volume=volume)
    ElementTree.SubElement(disk, 'target', dev=target, bus=bus)
    ElementTree.SubElement(disk, 'readonly')
    return disk


def _find_disk(domain_xml, target):
    for disk in domain_xml.findall('devices/disk'):
        node = disk.find('target')
        if node is not None and node.get('dev') == target:
            return disk
    return None


def _release_drive(domain_xml, record):
    """Take the payload described by ``record`` out of a full definition.

    A drive the payload replaced was the VM's own: it stays, empty. A dedicated drive goes.
    Returns the element to apply to the running VM (the empty drive, or the removed one), or
    None when the definition had no such drive.
    """
    disk = _find_disk(domain_xml, record.target)
    if disk is None:
        return None
    if record.drive == 'replace':
        empty = _disk_xml(record.device, disk.find('target').get('bus'), record.target, None, None)
        _put_disk(domain_xml, empty)
        return empty
    domain_xml.find('devices').remove(disk)
    return disk


def _disk_source(disk):
    """What a disk holds, as ``pool/volume`` or a path; None when empty."""
    if disk is None or disk.find('source') is None:
        return None
    source = disk.find('source')
    if source.get('volume'):
        return '%s/%s' % (source.get('pool'), source.get('volume'))
    return source.get('file') or source.get('dev') or source.get('name')


def _disk_volume(disk):
    """(pool, volume) a disk points at, or None."""
    if disk is None:
        return None
    source = disk.find('source')
    if source is None or disk.get('type') != 'volume':
        return None
    return source.get('pool'), source.get('volume')


def _translate_libvirt_errors(method):
    """Turn any libvirt error escaping a public method into a BackendError naming the URI."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except libvirt.libvirtError as exc:
            raise BackendError('libvirt at %s failed: %s' % (self.uri, exc.get_error_message())) from None
    return wrapper


class LibvirtBackend(PayloadBackend):
    platform = 'libvirt'

    def __init__(self, uri, pool):
        if LIBVIRT_IMPORT_ERROR is not None:
            raise MissingLibraryError('libvirt-python', LIBVIRT_IMPORT_ERROR)
        self.uri = uri
        self.pool_name = pool or DEFAULT_POOL
        try:
            self.conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise BackendError('cannot connect to libvirt at %s: %s' % (uri, exc.get_error_message()))

    def close(self):
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass

    # -- finding things -------------------------------------------------------------------

    @_translate_libvirt_errors
    def find_vm(self, name=None, uuid=None):
        try:
            if uuid:
                return self.conn.lookupByUUIDString(uuid)
            return self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise VmNotFoundError('no domain %s %s on %s'
                                      % ('with uuid' if uuid else 'named', uuid or name, self.uri))
            raise BackendError('looking up the domain failed: %s' % exc.get_error_message())

    def _pool(self):
        try:
            pool = self.conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError:
            raise BackendError('storage pool %s does not exist on %s; run the vmpayload.core.payload_staging role '
                               'there, or set pool to an existing pool' % (self.pool_name, self.uri))
        if not pool.isActive():
            raise BackendError('storage pool %s on %s is not active' % (self.pool_name, self.uri))
        self._refresh(pool)
        return pool

    @staticmethod
    def _refresh(pool):
        """Re-read the pool's directory (the release hook deletes files behind libvirt's back).

        libvirt refuses a refresh while any volume of the pool is being created ("has asynchronous
        jobs running"), which is the normal case when several forks stage payloads for different VMs
        at once. Such a job lasts milliseconds for a payload: wait a little, then go on with what
        libvirt already lists rather than fail the task.
        """
        for attempt in range(REFRESH_ATTEMPTS):
            try:
                pool.refresh(0)
                return
            except libvirt.libvirtError as exc:
                if 'asynchronous jobs' not in (exc.get_error_message() or ''):
                    raise
                if attempt + 1 < REFRESH_ATTEMPTS:
                    time.sleep(REFRESH_PAUSE)

    @staticmethod
    def _running(domain):
        return domain.state()[0] not in SHUTOFF_STATES

    @staticmethod
    def _xml(domain, inactive):
        # SECURE keeps passwords (VNC, SPICE) in the XML that may be defined again.
        flags = libvirt.VIR_DOMAIN_XML_SECURE | (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)
        return ElementTree.fromstring(domain.XMLDesc(flags))

    def _slot(self, domain_xml, device, drive, target):
        """(bus, target dev) of the payload drive."""
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
        occupant = _find_disk(domain_xml, slot)
        source = _disk_source(occupant)
        ours = source is None or source.startswith('%s/%s' % (self.pool_name, VOLUME_PREFIX))
        if occupant is not None and (occupant.get('device') != device or not ours):
            raise PayloadValidationError(
                'the payload slot %s already holds the VM\'s own %s%s; set target to a free slot, or use '
                'drive: replace to put the payload into an existing drive'
                % (slot, occupant.get('device'), ' (%s)' % source if source else ''), option='target')
        return bus, slot

    # -- volumes -----------------------------------------------------------------------------

    def _volume_name(self, domain, payload, once=False):
        extension = 'iso' if payload.device == 'cdrom' else 'img'
        return '%s%s-%s%s.%s' % (VOLUME_PREFIX, domain.UUIDString(), RUN_ONCE_MARK if once else '',
                                 payload.digest[:16], extension)

    def _upload(self, pool, name, payload):
        """Build the image locally and upload it into a fresh volume ``name``."""
        workdir = tempfile.mkdtemp(prefix='vmpayload-')
        try:
            image = os.path.join(workdir, name)
            writer = writer_for(payload.device, epoch=build_epoch(), size='auto' if payload.device == 'floppy' else None)
            writer.write(payload, image)
            size = os.path.getsize(image)
            try:
                existing = pool.storageVolLookupByName(name)
                existing.delete(0)
            except libvirt.libvirtError:
                pass
            volume_xml = ('<volume><name>%s</name><capacity unit="bytes">%d</capacity>'
                          '<target><format type="raw"/></target></volume>' % (name, size))
            try:
                volume = pool.createXML(volume_xml, 0)
            except libvirt.libvirtError as exc:
                raise BackendError('cannot create volume %s in pool %s: %s'
                                   % (name, self.pool_name, exc.get_error_message()))
            stream = self.conn.newStream(0)
            try:
                volume.upload(stream, 0, size, 0)
                with open(image, 'rb') as source:
                    stream.sendAll(lambda _stream, nbytes, handle: handle.read(min(nbytes, UPLOAD_CHUNK)), source)
                stream.finish()
            except libvirt.libvirtError as exc:
                try:
                    stream.abort()
                except libvirt.libvirtError:
                    pass
                volume.delete(0)
                raise BackendError('uploading %s to pool %s failed: %s'
                                   % (name, self.pool_name, exc.get_error_message()))
            return volume
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _volume_exists(self, pool, name):
        try:
            pool.storageVolLookupByName(name)
            return True
        except libvirt.libvirtError:
            return False

    def _referenced_volumes(self, domain):
        used = set()
        for inactive in (True, False):
            if not inactive and not self._running(domain):
                continue
            for disk in self._xml(domain, inactive).findall('devices/disk'):
                ref = _disk_volume(disk)
                if ref and ref[0] == self.pool_name:
                    used.add(ref[1])
        return used

    @_translate_libvirt_errors
    def cleanup_volumes(self, domain, pool=None):
        """Delete this domain's payload volumes that no definition of it uses; return their names."""
        pool = pool or self._pool()
        prefix = '%s%s-' % (VOLUME_PREFIX, domain.UUIDString())
        removed = []
        for name in sorted(pool.listVolumes()):
            # The definitions are read again for each volume: a concurrent run may just have
            # pointed the domain at it.
            if name.startswith(prefix) and name not in self._referenced_volumes(domain):
                try:
                    pool.storageVolLookupByName(name).delete(0)
                    removed.append(name)
                except libvirt.libvirtError:
                    continue
        return removed

    # -- reading -----------------------------------------------------------------------------

    @_translate_libvirt_errors
    def read_payload(self, vm, include_content=False):
        running = self._running(vm)
        record = _record_in_domain_xml(self._xml(vm, inactive=not running))
        if record is None:
            record = PayloadRecord.none()
        result = record.summary()
        if include_content and record.volume:
            result['files'] = self._read_volume_files(record)
        return record, result

    def _read_volume_files(self, record):
        from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image

        pool = self._pool()
        try:
            volume = pool.storageVolLookupByName(record.volume)
        except libvirt.libvirtError:
            raise BackendError('the payload volume %s is missing from pool %s' % (record.volume, self.pool_name))
        workdir = tempfile.mkdtemp(prefix='vmpayload-')
        try:
            image = os.path.join(workdir, 'image')
            size = volume.info()[1]
            stream = self.conn.newStream(0)
            volume.download(stream, 0, size, 0)
            with open(image, 'wb') as target:
                stream.recvAll(lambda _stream, data, handle: handle.write(data), target)
            stream.finish()
            listing = read_image(image, with_content=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        files = []
        for f in listing['files']:
            entry = {'name': f['name'], 'size': f['size'], 'sha256': f['sha256']}
            try:
                entry['content'] = f['content'].decode('utf-8')
            except UnicodeDecodeError:
                import base64
                entry['content_b64'] = base64.b64encode(f['content']).decode('ascii')
            files.append(entry)
        return files

    # -- permanent payload -----------------------------------------------------------------

    @_translate_libvirt_errors
    def apply_permanent(self, vm, payload, drive, target, check_mode):
        persistent = self._xml(vm, inactive=True)
        before = _record_in_domain_xml(persistent)
        bus, slot = self._slot(persistent, payload.device, drive, target)
        pool = self._pool()
        volume_name = self._volume_name(vm, payload)
        running = self._running(vm)
        current = _disk_volume(_find_disk(persistent, slot))
        live_current = _disk_volume(_find_disk(self._xml(vm, inactive=False), slot)) if running else None
        in_place = (before is not None and before.availability == 'permanent' and before.digest == payload.digest
                    and before.target == slot and current == (self.pool_name, volume_name)
                    and self._volume_exists(pool, volume_name))
        result = dict(changed=not in_place, volume=volume_name, restart_required=False, availability='permanent',
                      **_payload_summary(payload))
        if in_place:
            result['restart_required'] = running and live_current != (self.pool_name, volume_name)
            if not check_mode:
                result['removed_volumes'] = self.cleanup_volumes(vm, pool)
            return result
        result['diff'] = _diff(before, payload)
        replaced = _disk_source(_find_disk(persistent, slot))
        if replaced and not replaced.startswith('%s/%s' % (self.pool_name, VOLUME_PREFIX)):
            result['replaced_media'] = replaced
        if check_mode:
            result['restart_required'] = running and _find_disk(persistent, slot) is None
            return result

        disk = _disk_xml(payload.device, bus, slot, self.pool_name, volume_name)
        record = PayloadRecord(availability='permanent', digest=payload.digest, device=payload.device,
                               label=payload.label, files=[f.summary() for f in payload.files], pool=self.pool_name,
                               volume=volume_name, drive=drive, target=slot)
        # One payload per VM: a payload moving to another drive leaves the old one.
        moved_from = before if before is not None and before.target and before.target != slot else None
        old_drive = _release_drive(persistent, moved_from) if moved_from else None
        removed = []
        for attempt in range(RACE_ATTEMPTS):
            self._upload(pool, volume_name, payload)
            self._define(persistent, disk, record)
            released = not running or old_drive is None or self._release_live(vm, old_drive, moved_from)
            live_changed = running and self._change_live(vm, disk, record) and released
            removed.extend(self.cleanup_volumes(vm, pool))
            # Another run on the same VM may have cleaned up our volume between our upload and
            # our define (its definition did not name it yet): upload it again. If that run
            # defined after us, its payload stands and our volume was rightly removed.
            if self._volume_exists(pool, volume_name) or volume_name not in self._referenced_volumes(vm):
                break
        result['restart_required'] = running and not live_changed
        result['removed_volumes'] = sorted(set(removed) - {volume_name})
        return result

    def _define(self, persistent, disk, record):
        """Write the drive and the record into the persistent definition in one step.

        One virDomainDefineXML, so a failure leaves either the old definition or the new one,
        never a drive without its record.
        """
        if disk is not None:
            _put_disk(persistent, disk)
        _put_record(persistent, record)
        try:
            self.conn.defineXML(ElementTree.tostring(persistent, encoding='unicode'))
        except libvirt.libvirtError as exc:
            raise BackendError('updating the domain definition failed: %s' % exc.get_error_message())

    def _change_live(self, vm, disk, record):
        """Change the running VM's media and record where the bus allows it; False where it does not."""
        try:
            vm.updateDeviceFlags(ElementTree.tostring(disk, encoding='unicode'), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError:
            # The running VM has no such drive (IDE and floppy drives cannot be hot-plugged).
            return False
        text = ElementTree.tostring(record_element(record, namespaced=False), encoding='unicode') \
            if record is not None else None
        try:
            vm.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, text, NAMESPACE_PREFIX if text else None,
                           NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise BackendError('recording the payload in the running domain failed: %s' % exc.get_error_message())
        return True

    @_translate_libvirt_errors
    def remove_permanent(self, vm, check_mode):
        persistent = self._xml(vm, inactive=True)
        before = _record_in_domain_xml(persistent)
        running = self._running(vm)
        if before is None or before.availability != 'permanent':
            result = dict(changed=False, availability='none', restart_required=False)
            if not check_mode:
                result['removed_volumes'] = self.cleanup_volumes(vm)
            return result
        result = dict(changed=True, availability='none', restart_required=False, diff=_diff(before, None))
        if check_mode:
            return result
        old_drive = _release_drive(persistent, before)
        self._define(persistent, None, None)
        live_done = running and old_drive is not None and self._release_live(vm, old_drive, before)
        result['restart_required'] = running and old_drive is not None and not live_done
        result['removed_volumes'] = self.cleanup_volumes(vm)
        return result

    def _release_live(self, vm, old_drive, record):
        """Empty or detach the old payload drive in the running VM; False when the bus refuses."""
        if record.drive == 'replace':
            return self._change_live(vm, old_drive, None)
        try:
            vm.detachDeviceFlags(ElementTree.tostring(old_drive, encoding='unicode'), libvirt.VIR_DOMAIN_AFFECT_LIVE)
            vm.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return True
        except libvirt.libvirtError:
            # IDE and floppy drives cannot be unplugged from a running VM.
            return False

    # -- run once ----------------------------------------------------------------------------

    @_translate_libvirt_errors
    def start_once(self, vm, payload, restart, wait, timeout, check_mode):
        volume_name = self._volume_name(vm, payload, once=True)
        if self._running(vm):
            live = _record_in_domain_xml(self._xml(vm, inactive=False))
            if live is not None and live.availability == 'run-once' and live.digest == payload.digest:
                return dict(changed=False, availability='run-once', volume=live.volume, **_payload_summary(payload))
            if not restart:
                raise BackendError('domain %s is running without this run-once payload; set restart: true to stop '
                                   'it and start it again with the payload' % vm.name())
        persistent = self._xml(vm, inactive=True)
        bus, slot = self._slot(persistent, payload.device, 'dedicated', None)
        pool = self._pool()
        result = dict(changed=True, availability='run-once', volume=volume_name, restart_required=False,
                      diff=_diff(_record_in_domain_xml(persistent), payload), **_payload_summary(payload))
        if check_mode:
            return result
        if self._running(vm):
            self._stop(vm, timeout)
        self._upload(pool, volume_name, payload)
        once = self._xml(vm, inactive=True)
        _put_disk(once, _disk_xml(payload.device, bus, slot, self.pool_name, volume_name))
        record = PayloadRecord(availability='run-once', digest=payload.digest, device=payload.device,
                               label=payload.label, files=[f.summary() for f in payload.files], pool=self.pool_name,
                               volume=volume_name, drive='dedicated', target=slot)
        _put_record(once, record)
        try:
            # A defined domain started from a different XML with its own UUID runs that XML and
            # keeps its persistent definition: nothing to undo if this process dies here.
            self.conn.createXML(ElementTree.tostring(once, encoding='unicode'), 0)
        except libvirt.libvirtError as exc:
            raise BackendError('starting %s with the run-once payload failed: %s' % (vm.name(),
                                                                                     exc.get_error_message()))
        if wait:
            self._wait_running(vm, timeout)
        return result

    def _stop(self, vm, timeout):
        try:
            vm.shutdown()
        except libvirt.libvirtError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._running(vm):
                return
            time.sleep(1)
        try:
            vm.destroy()
        except libvirt.libvirtError as exc:
            raise BackendError('stopping %s failed: %s' % (vm.name(), exc.get_error_message()))

    def _wait_running(self, vm, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if vm.state()[0] == libvirt.VIR_DOMAIN_RUNNING:
                return
            time.sleep(0.5)
        raise BackendError('%s did not reach the running state within %d s' % (vm.name(), timeout))


def _payload_summary(payload):
    summary = payload.summary()
    return {key: summary[key] for key in ('digest', 'device', 'label', 'files')}


def _listing_text(listing):
    if listing is None:
        return ''
    from ansible_collections.vmpayload.core.plugins.module_utils._image.image_file import listing_text
    return listing_text(listing)


def _diff(before, payload):
    return dict(before=_listing_text(before.listing() if before else None),
                after=_listing_text(payload.summary() if payload is not None else None))
