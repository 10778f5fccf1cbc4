# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The libvirt backend: the collection plays VDSM's part, with libvirt-python only.

It builds the image locally, uploads it into a storage-pool volume through libvirt's stream
API (so ``qemu+ssh://`` hosts need nothing but libvirt), points a drive at its file, and records what it
attached in the domain's ``<metadata>`` under the collection's namespace. Volumes are named
``vmpayload-<domain uuid>-<digest prefix>.<iso|img>``; any such volume of a domain that neither its
persistent nor its live definition uses is deleted on the next run. The XML editing is in
``libvirt_xml.py``; this module holds the calls to libvirt.
"""

from __future__ import annotations

import base64
import functools
import os
import traceback
from xml.etree import ElementTree

from ansible_collections.vmpayload.core.plugins.module_utils._backends import libvirt_xml as xml
from ansible_collections.vmpayload.core.plugins.module_utils._backends.base import (
    Capabilities,
    PayloadBackend,
    PayloadRecord,
    Placement,
    Vm,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.keyed_digest import KEY_BYTES, DigestKey
from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_uses import (
    managed_save_xml,
    volumes_domain_uses,
    volumes_domains_use,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.waits import WaitTimeout, retry, wait_until
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    MissingLibraryError,
    VmNotFoundError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import WORK_PREFIX, PrivateDir

try:
    import libvirt
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

DEFAULT_POOL = 'vmpayload'
UPLOAD_CHUNK = 256 * 1024
# A pool refresh refused because another run is creating a volume is tried again this often.
REFRESH_ATTEMPTS = 10
REFRESH_PAUSE = 0.1
# How often a permanent payload is staged again when a concurrent run removed its volume.
RACE_ATTEMPTS = 3
SHUTOFF_STATES = (5, 0)  # VIR_DOMAIN_SHUTOFF, VIR_DOMAIN_NOSTATE
STOP_POLL = 1.0
START_POLL = 0.5
# The payload digest key (keyed_digest.py says why there is one) is a volume of the pool, mode 0600:
# read-only libvirt connections cannot download a volume ("read only access prevents
# virStorageVolDownload"), and hosts that share the pool's directory, as live migration needs, share
# the key with it, so a migrated VM's record still matches on its destination. Its name is no payload
# volume's (libvirt_xml.PAYLOAD_VOLUME): cleanups and prune_orphans never take it.
DIGEST_KEY_VOLUME = 'vmpayload-digest-key'
DIGEST_KEY_VOLUME_XML = ("<volume><name>%s</name><capacity unit='bytes'>%d</capacity><target><format type='raw'/>"
                         "<permissions><mode>0600</mode></permissions></target></volume>" % (DIGEST_KEY_VOLUME, KEY_BYTES))
# How long a run waits for the value of a key another run has just created.
KEY_WAIT = 10
KEY_POLL = 0.2


def _translate_libvirt_errors(method):
    """Turn any libvirt error escaping a public method into a BackendError naming the URI."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except libvirt.libvirtError as exc:
            raise BackendError('libvirt at %s failed: %s' % (self.uri, exc.get_error_message())) from None
    return wrapper


def _volume_vanished(exc):
    return isinstance(exc, libvirt.libvirtError) and exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL


def _pool_busy(exc):
    """libvirt refuses a pool refresh while a volume of the pool is being created."""
    return isinstance(exc, libvirt.libvirtError) and 'asynchronous jobs' in (exc.get_error_message() or '')


class LibvirtBackend(PayloadBackend):
    platform = 'libvirt'

    @classmethod
    def capabilities(cls, params):
        return Capabilities(platform=cls.platform)

    @classmethod
    def open(cls, params):
        return cls(uri=params['uri'], pool=params.get('pool'), drive=params.get('drive') or 'dedicated',
                   target=params.get('target'))

    def __init__(self, uri, pool, drive='dedicated', target=None):
        if LIBVIRT_IMPORT_ERROR is not None:
            raise MissingLibraryError('libvirt-python', LIBVIRT_IMPORT_ERROR)
        self.uri = uri
        self.pool_name = pool or DEFAULT_POOL
        self.drive = drive
        self.target = target
        self._key = None
        self._refreshed_pool = None
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
    def find_vm(self, name=None, vm_id=None):
        try:
            domain = self.conn.lookupByUUIDString(vm_id) if vm_id else self.conn.lookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise VmNotFoundError('no domain %s %s on %s'
                                      % ('with uuid' if vm_id else 'named', vm_id or name, self.uri))
            raise BackendError('looking up the domain failed: %s' % exc.get_error_message())
        return Vm(name=domain.name(), id=domain.UUIDString(), handle=domain)

    @_translate_libvirt_errors
    def is_running(self, vm):
        return vm.handle.state()[0] not in SHUTOFF_STATES

    def _pool(self):
        """The payload pool, refreshed once per backend (one task, or one vm_payloads batch).

        Once is enough: what this run creates or deletes goes through libvirt, which keeps the pool's list
        up to date; the paths that race with other runs or hosts (the key's creation, a run-once volume
        removed before its start) refresh again themselves. Each refresh reads every file of the
        directory, so a fleet's pool is not read again for every step of every VM.
        """
        if self._refreshed_pool is not None:
            return self._refreshed_pool
        try:
            pool = self.conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError:
            raise BackendError('storage pool %s does not exist on %s; run the vmpayload.core.payload_staging role '
                               'there, or set pool to an existing pool' % (self.pool_name, self.uri))
        if not pool.isActive():
            raise BackendError('storage pool %s on %s is not active' % (self.pool_name, self.uri))
        self._refresh(pool)
        self._refreshed_pool = pool
        return pool

    @staticmethod
    def _pool_path(pool):
        """The pool's directory: payload drives name their image by its path there (libvirt_xml.disk_xml says why)."""
        return ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path')

    @staticmethod
    def _refresh(pool):
        """Re-read the pool's directory (the release hook deletes files behind libvirt's back).

        libvirt refuses a refresh while any volume of the pool is being created ("has asynchronous
        jobs running"), which is the normal case when several forks stage payloads for different VMs
        at once. Such a job lasts milliseconds for a payload: wait a little, then go on with what
        libvirt already lists rather than fail the task.
        """
        try:
            retry(REFRESH_ATTEMPTS, REFRESH_PAUSE, retry_on=_pool_busy)(pool.refresh)(0)
        except libvirt.libvirtError as exc:
            if not _pool_busy(exc):
                raise

    # -- the pool's digest key -------------------------------------------------------------

    def _key_volume(self, pool):
        try:
            return pool.storageVolLookupByName(DIGEST_KEY_VOLUME)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            raise

    def _read_key(self, volume):
        """The key's bytes; None while the run that created the volume has not written them (it reads as zeros)."""
        chunks = []
        stream = self.conn.newStream(0)
        try:
            volume.download(stream, 0, KEY_BYTES, 0)
            stream.recvAll(lambda _stream, data, sink: sink.append(data), chunks)
            stream.finish()
        except libvirt.libvirtError as exc:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                return None
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_DENIED:
                raise BackendError('the payload digest key (volume %s of pool %s) cannot be read at %s: %s. Payload '
                                   'digests are keyed so that read-only clients cannot test guesses of the content; '
                                   'use a read-write connection'
                                   % (DIGEST_KEY_VOLUME, self.pool_name, self.uri, exc.get_error_message()))
            raise
        value = b''.join(chunks)
        return value if len(value) == KEY_BYTES and value.strip(b'\0') else None

    def _write_key(self, volume, secret):
        stream = self.conn.newStream(0)
        volume.upload(stream, 0, len(secret), 0)
        remaining = secret
        while remaining:
            remaining = remaining[stream.send(remaining):]
        stream.finish()

    def _key_value(self, volume):
        try:
            return wait_until(lambda: self._read_key(volume), KEY_WAIT, KEY_POLL, 'the payload digest key')
        except WaitTimeout:
            return None

    def _digest_key(self):
        """The pool's key, or a fresh one that :meth:`_keep_key` stores before anything is written with it.

        Without the pool (or its key) nothing staged can match a record: a fresh key says so.
        """
        if self._key is None:
            try:
                pool = self._pool()
            except BackendError:
                pool = None
            volume = self._key_volume(pool) if pool is not None else None
            value = self._key_value(volume) if volume is not None else None
            self._key = DigestKey(value, stored=True) if value else DigestKey(os.urandom(KEY_BYTES), stored=False)
        return self._key

    def _keep_key(self):
        """The key the pool keeps, stored now if it has none; another run's (or host's), when it stored one first.

        Concurrent first runs (forks staging many VMs, or hosts sharing the pool) race to create the
        volume; libvirt creates it once, and the others read what its creator writes.
        """
        key = self._digest_key()
        if key.stored:
            return key
        pool = self._pool()
        try:
            volume, created = pool.createXML(DIGEST_KEY_VOLUME_XML, 0), True
        except libvirt.libvirtError:
            # Created meanwhile, here or by a host that shares the directory (the pool's list may not show it yet).
            self._refresh(pool)
            volume, created = self._key_volume(pool), False
            if volume is None:
                raise
        value = None if created else self._key_value(volume)
        if not value:
            # This run created the volume, or the run that did died before it wrote the key.
            self._write_key(volume, key.secret)
            value = self._read_key(volume)
        self._key = DigestKey(value, stored=True)
        return self._key

    @_translate_libvirt_errors
    def describe(self, payload):
        return self._digest_key().describe(payload)

    @staticmethod
    def _xml(domain, inactive):
        # SECURE keeps passwords (VNC, SPICE) in the XML that may be defined again.
        flags = libvirt.VIR_DOMAIN_XML_SECURE | (libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0)
        return ElementTree.fromstring(domain.XMLDesc(flags))

    # -- volumes -----------------------------------------------------------------------------

    def _upload(self, pool, name, payload):
        """Build the image locally and upload it into a fresh volume ``name``; True when it was uploaded.

        A volume of that name that a domain uses is left alone and used as it is: the name carries
        the payload digest, and a volume is only put into a definition once its upload is complete.
        One that no domain uses may be a killed run's partial upload: it is made again.
        """
        if self._volume_exists(pool, name):
            if self._volume_in_use(name, pool):
                return False
            pool.storageVolLookupByName(name).delete(0)
        # Imported here: a run that finds the payload in place builds nothing, and compiles no image code.
        from ansible_collections.vmpayload.core.plugins.module_utils._image.base import build_epoch, writer_for

        workdir = PrivateDir(WORK_PREFIX, purpose='a private directory for the image')
        try:
            image = os.path.join(workdir.path, name)
            writer = writer_for(payload.device, epoch=build_epoch(), size='auto' if payload.device == 'floppy' else None)
            writer.write(payload, image)
            size = os.path.getsize(image)
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
            return True
        finally:
            workdir.remove()

    def _volume_in_use(self, name, pool=None):
        """Whether any domain of the host, defined or running, has a drive on volume ``name`` of our pool."""
        return name in volumes_domains_use(self.conn, pool or self._pool())

    def _discard(self, pool, name):
        """Delete a volume this run uploaded and could not put to use, unless a domain uses it meanwhile."""
        try:
            if not self._volume_in_use(name, pool):
                pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError:
            pass

    def _volume_exists(self, pool, name):
        try:
            pool.storageVolLookupByName(name)
            return True
        except libvirt.libvirtError:
            return False

    def _referenced_volumes(self, domain, pool):
        used = set()
        for inactive in (True, False):
            if not inactive and domain.state()[0] in SHUTOFF_STATES:
                continue
            used |= xml.volumes_in_pool(self._xml(domain, inactive), self.pool_name, self._pool_path(pool))
        return used

    @_translate_libvirt_errors
    def cleanup_volumes(self, domain, pool=None):
        """Delete this domain's payload volumes that no domain uses (a clone may use them); return their names."""
        pool = pool or self._pool()
        removed, own = [], None
        for name in sorted(pool.listVolumes()):
            # Only the names this backend gives; the definitions are read again for each volume: a
            # concurrent run may just have pointed the domain at it.
            match = xml.PAYLOAD_VOLUME.match(name)
            if not match or match.group('uuid') != domain.UUIDString():
                continue
            # A volume the domain itself names is in use: the scan of every domain of the host (for each VM,
            # so O(VMs²) over a fleet) is needed only for a volume the domain no longer names.
            own = volumes_domain_uses(domain, pool) if own is None else own
            if name not in own and not self._volume_in_use(name, pool):
                try:
                    pool.storageVolLookupByName(name).delete(0)
                    removed.append(name)
                except libvirt.libvirtError:
                    continue
        return removed

    # -- reading -----------------------------------------------------------------------------

    @staticmethod
    def _saved_definition(domain):
        """The definition a stopped domain resumes from at its next start (its managed save image), or None."""
        saved = None if domain.isActive() else managed_save_xml(domain)
        return None if saved is None else ElementTree.fromstring(saved)

    @_translate_libvirt_errors
    def read_record(self, vm, live=False):
        """The VM's record: with ``live``, of what it runs with, or resumes from (a managed save) or boots with next."""
        definition = self._saved_definition(vm.handle) if live else None
        if definition is None:
            definition = self._xml(vm.handle, inactive=not live)
        record = xml.record_in_domain(definition)
        if record is None:
            return PayloadRecord.none()
        owner = xml.volume_owner(record.placement.get('volume'))
        if record.availability != 'unknown' and owner not in (None, vm.id):
            # A clone, or a definition copied from another VM: the guest sees that VM's payload.
            record.reason = ('the payload record and its volume were copied from domain %s (a clone?); this VM uses '
                             'that domain\'s payload until vm_payload gives it its own' % owner)
        elif record.availability != 'unknown' and self._volume_missing(record.placement.get('volume')):
            # Deleted behind the collection's back, as virsh undefine --remove-all-storage of a clone that shared it does.
            record.reason = ('the payload volume %s is missing from pool %s: the VM cannot start until vm_payload stages '
                             'its payload again' % (record.placement.get('volume'), self.pool_name))
        return record

    def _volume_missing(self, name):
        """Whether the record's volume is gone from a pool that is there (a missing pool is reported where it is used).

        Without a refresh, which would cost every VM of a fleet a scan of the pool directory: a volume deleted
        through libvirt (virsh vol-delete, undefine --remove-all-storage) is gone from the pool's list at once.
        """
        if not name:
            return False
        try:
            pool = self.conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError:
            return False
        return bool(pool.isActive()) and not self._volume_exists(pool, name)

    @_translate_libvirt_errors
    def read_contents(self, vm, record):
        from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image

        volume_name = record.placement.get('volume')
        if not volume_name:
            return record.files
        pool = self._pool()
        try:
            volume = pool.storageVolLookupByName(volume_name)
        except libvirt.libvirtError:
            raise BackendError('the payload volume %s is missing from pool %s' % (volume_name, self.pool_name))
        workdir = PrivateDir(WORK_PREFIX, purpose='a private directory for the image read back')
        try:
            image = os.path.join(workdir.path, 'image')
            size = volume.info()[1]
            stream = self.conn.newStream(0)
            volume.download(stream, 0, size, 0)
            with open(image, 'wb') as target:
                stream.recvAll(lambda _stream, data, handle: handle.write(data), target)
            stream.finish()
            listing = read_image(image, with_content=True)
        finally:
            workdir.remove()
        recorded = {f['name']: f['digest'] for f in record.files}
        files = []
        for f in listing['files']:
            entry = {'name': f['name'], 'size': f['size'], 'digest': recorded.get(f['name']), 'sha256': f['sha256']}
            try:
                entry['content'] = f['content'].decode('utf-8')
            except UnicodeDecodeError:
                entry['content_b64'] = base64.b64encode(f['content']).decode('ascii')
            files.append(entry)
        return files

    # -- placing -----------------------------------------------------------------------------

    @_translate_libvirt_errors
    def place(self, vm, payload, record, once=False):
        domain = vm.handle
        # The pool first: without it nothing can be placed, whatever the drives say.
        pool = self._pool()
        persistent = self._xml(domain, inactive=True)
        drive, target = ('dedicated', None) if once else (self.drive, self.target)
        pool_path = self._pool_path(pool)
        bus, slot = xml.choose_slot(persistent, payload.device, drive, target, self.pool_name, pool_path)
        volume_name = xml.volume_name(vm.id, self.describe(payload).digest, payload.device, once=once)
        placement = Placement(reported={'volume': volume_name},
                              location=dict(pool=pool, pool_path=pool_path, bus=bus, slot=slot, drive=drive,
                                            volume=volume_name))
        if once:
            return placement
        running = self.is_running(vm)
        occupant = xml.find_disk(persistent, slot)
        placement.in_place = (record.placement.get('target') == slot
                              and xml.pool_volume(occupant, self.pool_name, pool_path) == volume_name
                              and self._volume_exists(pool, volume_name))
        if running:
            live_xml = self._xml(domain, inactive=False)
            live_disk, live_record = xml.find_disk(live_xml, slot), xml.record_in_domain(live_xml)
            placement.live = (xml.pool_volume(live_disk, self.pool_name, pool_path) == volume_name
                              and live_record is not None
                              and live_record.placement.get('volume') == volume_name)
            # A run killed between the define and the running VM's media change (or its record) left the
            # VM without what it keeps, though its drive could take it now. A run-once boot is left alone.
            placement.live_repair = (not placement.live and live_disk is not None
                                     and live_disk.get('device') == payload.device
                                     and (live_record is None or live_record.availability == 'permanent'))
        placement.needs_restart = running and occupant is None
        saved = None if running else self._saved_definition(domain)
        if saved is not None:
            # libvirt restores the saved definition, whatever the persistent one says now.
            saved_record = xml.record_in_domain(saved)
            placement.resumes_other = not (saved_record is not None and saved_record.availability == 'permanent'
                                           and saved_record.placement.get('volume') == volume_name)
        replaced = xml.disk_source(occupant)
        if replaced and not xml.is_payload_disk(occupant, self.pool_name, pool_path):
            placement.reported['replaced_media'] = replaced
        return placement

    # -- permanent payload -----------------------------------------------------------------

    @_translate_libvirt_errors
    def attach(self, vm, payload, placement):
        domain = vm.handle
        where = placement.location
        pool, slot = where['pool'], where['slot']
        described, volume_name = self._staged_as(vm, payload, once=False)
        disk = xml.disk_xml(payload.device, where['bus'], slot, os.path.join(where['pool_path'], volume_name))
        record = xml.payload_record(described, 'permanent', self.pool_name, volume_name, where['drive'], slot)
        running = self.is_running(vm)
        removed = []
        live_changed = []

        # Another run on the same VM may have cleaned up our volume between our upload and our
        # define (its definition did not name it yet): stage it again. If that run defined after
        # us, its payload stands and our volume was rightly removed.
        @retry(RACE_ATTEMPTS, 0, until=lambda staged: staged)
        def stage():
            uploaded = self._upload(pool, volume_name, payload)
            # The definition is read after the upload, right before the define, so that an edit made
            # meanwhile (by an admin, or by another run) is kept.
            persistent = self._xml(domain, inactive=True)
            before = xml.record_in_domain(persistent)
            # One payload per VM: a payload moving to another drive leaves the old one.
            moved_from = before if before is not None and before.placement.get('target') not in (None, slot) else None
            old_drive = xml.release_drive(persistent, moved_from) if moved_from else None
            try:
                self._define(persistent, disk, record)
            except BackendError:
                if uploaded:
                    self._discard(pool, volume_name)
                raise
            released = not running or old_drive is None or self._release_live(domain, old_drive, moved_from)
            live_changed.append(running and self._change_live(domain, disk, record) and released)
            removed.extend(self.cleanup_volumes(domain, pool))
            return self._volume_exists(pool, volume_name) or volume_name not in self._referenced_volumes(domain, pool)

        stage()
        return dict(self._staged_summary(record), restart_required=running and not live_changed[-1],
                    removed_volumes=sorted(set(removed) - {volume_name}))

    def _staged_as(self, vm, payload, once):
        """The payload described under the key the host keeps, and its volume's name.

        Stored before the first write made with it; when a concurrent first run stored another key
        first, that one is used, and the volume name follows it.
        """
        described = self._keep_key().describe(payload)
        return described, xml.volume_name(vm.id, described.digest, payload.device, once=once)

    @staticmethod
    def _staged_summary(record):
        """The result keys that follow from the stored key (the same as decided, unless another key won)."""
        summary = record.summary()
        return {key: summary[key] for key in ('digest', 'files', 'digest_key', 'volume')}

    def _define(self, persistent, disk, record):
        """Write the drive and the record into the persistent definition in one step.

        One virDomainDefineXML, so a failure leaves either the old definition or the new one,
        never a drive without its record.
        """
        if disk is not None:
            xml.put_disk(persistent, disk)
        xml.put_record(persistent, record)
        try:
            self.conn.defineXML(xml.to_text(persistent))
        except libvirt.libvirtError as exc:
            raise BackendError('updating the domain definition failed: %s' % exc.get_error_message())

    def _change_live(self, domain, disk, record):
        """Change the running VM's media and record where the bus allows it; False where it does not."""
        try:
            domain.updateDeviceFlags(xml.to_text(disk), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError:
            # The running VM has no such drive (IDE and floppy drives cannot be hot-plugged).
            return False
        text = xml.to_text(xml.record_element(record, namespaced=False)) if record is not None else None
        try:
            domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, text, xml.NAMESPACE_PREFIX if text else None,
                               xml.NAMESPACE, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            raise BackendError('recording the payload in the running domain failed: %s' % exc.get_error_message())
        return True

    @_translate_libvirt_errors
    def detach(self, vm, record):
        domain = vm.handle
        persistent = self._xml(domain, inactive=True)
        running = self.is_running(vm)
        old_drive = xml.release_drive(persistent, record)
        self._define(persistent, None, None)
        live_done = running and old_drive is not None and self._release_live(domain, old_drive, record)
        return dict(restart_required=running and old_drive is not None and not live_done,
                    removed_volumes=self.cleanup_volumes(domain))

    def _release_live(self, domain, old_drive, record):
        """Empty or detach the old payload drive in the running VM; False when the bus refuses."""
        if record.placement.get('drive') == 'replace':
            return self._change_live(domain, old_drive, None)
        try:
            domain.detachDeviceFlags(xml.to_text(old_drive), libvirt.VIR_DOMAIN_AFFECT_LIVE)
            domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, xml.NAMESPACE,
                               libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return True
        except libvirt.libvirtError:
            # IDE and floppy drives cannot be unplugged from a running VM.
            return False

    @_translate_libvirt_errors
    def tidy(self, vm):
        return dict(removed_volumes=self.cleanup_volumes(vm.handle))

    # -- run once ----------------------------------------------------------------------------

    @_translate_libvirt_errors
    def start_once(self, vm, payload, placement, timeout):
        domain = vm.handle
        where = placement.location
        described, volume_name = self._staged_as(vm, payload, once=True)
        disk = xml.disk_xml(payload.device, where['bus'], where['slot'], os.path.join(where['pool_path'], volume_name))
        record = xml.payload_record(described, 'run-once', self.pool_name, volume_name, 'dedicated', where['slot'])

        def vanished(exc):
            # The drive names the file, so libvirt reports a missing file ("Cannot access storage file"),
            # not a missing volume: ask the pool, re-read.
            if not isinstance(exc, libvirt.libvirtError):
                return False
            self._refresh(where['pool'])
            return _volume_vanished(exc) or not self._volume_exists(where['pool'], volume_name)

        # The upload comes first: a failed one (a full pool) leaves a running VM running. A
        # concurrent run's cleanup may delete the volume before the start names it: stage it again.
        @retry(RACE_ATTEMPTS, 0, retry_on=vanished)
        def stage_and_start():
            self._upload(where['pool'], volume_name, payload)
            if self.is_running(vm):
                self._stop(vm, timeout)
            # A defined domain started from a different XML with its own UUID runs that XML and
            # keeps its persistent definition: nothing to undo if this process dies here.
            self.conn.createXML(xml.to_text(xml.once_definition(self._xml(domain, inactive=True), disk, record)), 0)

        try:
            stage_and_start()
        except libvirt.libvirtError as exc:
            self._discard(where['pool'], volume_name)
            raise BackendError('starting %s with the run-once payload failed: %s' % (vm.name,
                                                                                     exc.get_error_message()))
        return self._staged_summary(record)

    def _stop(self, vm, timeout):
        try:
            vm.handle.shutdown()
        except libvirt.libvirtError:
            pass
        try:
            wait_until(lambda: not self.is_running(vm), timeout, STOP_POLL, 'shutdown of %s' % vm.name)
            return
        except WaitTimeout:
            pass
        try:
            vm.handle.destroy()
        except libvirt.libvirtError as exc:
            raise BackendError('stopping %s failed: %s' % (vm.name, exc.get_error_message()))

    @_translate_libvirt_errors
    def wait_running(self, vm, timeout):
        wait_until(lambda: vm.handle.state()[0] == libvirt.VIR_DOMAIN_RUNNING, timeout, START_POLL,
                   '%s did not reach the running state within %d s' % (vm.name, timeout))
