# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The storage pool that holds payload volumes: a libvirt ``dir`` pool, ensured with libvirt-python only.

Everything goes through libvirt, so the same task works against a remote ``qemu+ssh://`` host: libvirt
creates the directory (``virStoragePoolBuild`` makes it with the pool's ``<permissions>``, and applies
them to a directory that already exists), starts the pool and sets its autostart flag.

libvirt reads an active pool's ``<permissions>`` back from the directory on every refresh, so after a
refresh they say what the directory really has. A pool whose directory drifted from the wanted mode or
owner is put right the only way libvirt offers: stop the pool, define the wanted permissions, build it
and start it again. Stopping a ``dir`` pool leaves its files alone, and running domains keep the images
they have open.
"""

from __future__ import annotations

import os
import traceback
from xml.etree import ElementTree
from dataclasses import asdict, dataclass

from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_uses import volumes_domains_use
# The volume names the libvirt backend gives payloads: prune_orphans deletes only those.
from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_xml import PAYLOAD_VOLUME
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    MissingLibraryError,
    PayloadValidationError,
)

try:
    import libvirt
    LIBVIRT_IMPORT_ERROR = None
except ImportError:
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()

POOL_TYPE = 'dir'


@dataclass
class PoolState:
    """A pool as libvirt reports it; ``mode`` is an octal string such as ``0750``."""

    name: str
    type: str
    path: str
    mode: str | None
    owner: int | None
    group: int | None
    active: bool
    autostart: bool

    def as_dict(self):
        return asdict(self)

    def permissions(self):
        return self.mode, self.owner, self.group


def parse_mode(value):
    """The octal string for a mode given as ``'0750'``, ``'750'`` or the integer 0o750."""
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        try:
            number = int(text, 8)
        except ValueError:
            raise PayloadValidationError('mode must be an octal number such as 0750, not %r' % value, option='mode')
    # libvirt keeps only the permission bits of a pool directory (it reports st_mode & 0777), so a
    # setuid, setgid or sticky bit would look like drift on every run.
    if not 0 <= number <= 0o777:
        raise PayloadValidationError('mode %r is out of range: libvirt manages the permission bits 0000 to 0777 only'
                                     % value, option='mode')
    return '%04o' % number


def qemu_gid(capabilities_xml):
    """The group id libvirt runs QEMU processes as, from the host capabilities; None when not reported.

    The DAC security model's base label is ``+<uid>:+<gid>`` (Debian 12: ``+64055:+64055``, the
    libvirt-qemu user and group; Fedora and RHEL: the qemu user and group).
    """
    host = ElementTree.fromstring(capabilities_xml).find('host')
    if host is None:
        return None
    for secmodel in host.findall('secmodel'):
        if secmodel.findtext('model') != 'dac':
            continue
        for virt_type in ('kvm', 'qemu'):
            label = secmodel.find("baselabel[@type='%s']" % virt_type)
            if label is not None and ':' in (label.text or ''):
                return int(label.text.split(':', 1)[1].lstrip('+'))
    return None


def _state(pool):
    """The pool's state from its XML: for an active pool, as of its last refresh."""
    root = ElementTree.fromstring(pool.XMLDesc(0))
    permissions = root.find('target/permissions')

    def number(tag):
        # libvirt writes -1 for an owner or group it was not given.
        text = permissions.findtext(tag) if permissions is not None else None
        return int(text) if text not in (None, '') and int(text) >= 0 else None

    mode = permissions.findtext('mode') if permissions is not None else None
    return PoolState(name=root.findtext('name'), type=root.get('type'), path=root.findtext('target/path'),
                     mode=parse_mode(mode) if mode else None, owner=number('owner'), group=number('group'),
                     active=bool(pool.isActive()), autostart=bool(pool.autostart()))


def _pool_xml(name, path, permissions):
    mode, owner, group = permissions
    root = ElementTree.Element('pool', type=POOL_TYPE)
    ElementTree.SubElement(root, 'name').text = name
    target = ElementTree.SubElement(root, 'target')
    ElementTree.SubElement(target, 'path').text = path
    _set_permissions(target, mode, owner, group)
    return ElementTree.tostring(root, encoding='unicode')


def _set_permissions(target, mode, owner, group):
    """Set mode, owner and group under ``target``, keeping anything else there (an SELinux label)."""
    element = target.find('permissions')
    if element is None:
        element = ElementTree.SubElement(target, 'permissions')
    for tag, value in (('mode', mode), ('owner', owner), ('group', group)):
        child = element.find(tag)
        if child is None:
            child = ElementTree.SubElement(element, tag)
        child.text = str(value)


def _redefined_xml(pool, permissions):
    """The pool's own definition with new permissions: same UUID and everything else."""
    root = ElementTree.fromstring(pool.XMLDesc(0))
    _set_permissions(root.find('target'), *permissions)
    return ElementTree.tostring(root, encoding='unicode')


def _domain_exists(conn, uri, domain_uuid):
    try:
        conn.lookupByUUIDString(domain_uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return False
        raise BackendError('looking up domain %s on %s failed: %s' % (domain_uuid, uri, exc.get_error_message()))
    return True


def _same_path(left, right):
    return os.path.normpath(left) == os.path.normpath(right)


class LibvirtPools:
    """Ensures one ``dir`` storage pool over an open libvirt connection."""

    def __init__(self, conn, uri):
        self.conn = conn
        self.uri = uri

    @classmethod
    def open(cls, uri):
        if LIBVIRT_IMPORT_ERROR is not None:
            raise MissingLibraryError('libvirt-python', LIBVIRT_IMPORT_ERROR)
        try:
            return cls(libvirt.open(uri), uri)
        except libvirt.libvirtError as exc:
            raise BackendError('cannot connect to libvirt at %s: %s' % (uri, exc.get_error_message()))

    def close(self):
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass

    def libvirt_version(self):
        number = self.conn.getLibVersion()
        return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000, number % 1000)

    def qemu_group(self):
        gid = qemu_gid(self.conn.getCapabilities())
        if gid is None:
            raise PayloadValidationError('libvirt at %s does not report the group QEMU runs as (no DAC security '
                                         'model in its capabilities); set group' % self.uri, option='group')
        return gid

    def _lookup(self, name):
        try:
            return self.conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                return None
            raise BackendError('looking up storage pool %s failed: %s' % (name, exc.get_error_message()))

    def _current(self, pool, check_mode):
        """The pool's state; for an active pool, the permissions its directory has (as of the last refresh).

        Outside check mode the pool is refreshed first. Check mode skips that: refreshing a pool whose
        directory has gone makes libvirt stop the pool.
        """
        if pool.isActive() and not check_mode:
            try:
                pool.refresh(0)
            except libvirt.libvirtError:
                # The directory is gone and libvirt has stopped the pool; starting it builds the directory.
                pass
        return _state(pool)

    def _path_owner(self, name, path):
        """The name of another pool whose target is ``path``, or None."""
        for pool in self.conn.listAllStoragePools(0):
            if pool.name() == name:
                continue
            target = ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path')
            if target and _same_path(target, path):
                return pool.name()
        return None

    # -- present -----------------------------------------------------------------------------

    def ensure_present(self, name, path, permissions, autostart, check_mode):
        """Make pool ``name`` a started ``dir`` pool at ``path``; return the module result.

        ``permissions`` is (mode, owner, group) of the directory. Nothing is changed when an existing
        pool of that name is not a ``dir`` pool at ``path``, or another pool already uses ``path``.
        """
        pool = self._lookup(name)
        before = self._current(pool, check_mode) if pool is not None else None
        if before is not None:
            self._refuse_mismatch(before, path)
        other = self._path_owner(name, path)
        if other is not None:
            raise BackendError('%s is already the directory of storage pool %s on %s; nothing was changed'
                               % (path, other, self.uri))

        actions = self._plan_present(before, permissions, autostart)
        after = PoolState(name=name, type=POOL_TYPE, path=before.path if before else path,
                          mode=permissions[0], owner=permissions[1], group=permissions[2],
                          active=True, autostart=autostart)
        if actions and not check_mode:
            pool = self._apply_present(pool, name, path, permissions, autostart, actions)
            after = self._current(pool, check_mode)
        return dict(changed=bool(actions), actions=actions, pool=after.as_dict(),
                    diff=dict(before=before.as_dict() if before else {}, after=after.as_dict()))

    def _refuse_mismatch(self, current, path):
        """Fail, changing nothing, when the pool of that name is not ours to manage as asked."""
        if current.type != POOL_TYPE:
            raise BackendError('storage pool %s on %s is a %r pool, not a %r pool; nothing was changed. Remove it '
                               'or choose another name' % (current.name, self.uri, current.type, POOL_TYPE))
        if path is not None and not _same_path(current.path, path):
            raise BackendError('storage pool %s on %s has the directory %s, not %s; nothing was changed. Use that '
                               'path or another pool name' % (current.name, self.uri, current.path, path))

    @staticmethod
    def _plan_present(before, permissions, autostart):
        """The steps, in order, from ``before`` (None: no such pool) to the wanted pool."""
        if before is None:
            return ['define', 'build', 'start'] + (['autostart'] if autostart else [])
        actions = []
        if before.permissions() != tuple(permissions):
            # Stopped first: the definition of a stopped pool is replaced at once, where an active
            # pool's would only wait for its next start.
            actions += ['stop', 'define'] if before.active else ['define']
        if 'define' in actions or not before.active:
            # Building an existing directory applies the permissions to it; a missing one is created.
            actions += ['build', 'start']
        if before.autostart != autostart:
            actions.append('autostart' if autostart else 'no-autostart')
        return actions

    def _apply_present(self, pool, name, path, permissions, autostart, actions):
        step = None
        try:
            for step in actions:
                if step == 'define':
                    xml = _pool_xml(name, path, permissions) if pool is None else _redefined_xml(pool, permissions)
                    pool = self.conn.storagePoolDefineXML(xml, 0)
                elif step == 'stop':
                    pool.destroy()
                elif step == 'build':
                    pool.build(0)
                elif step == 'start':
                    pool.create(0)
                else:
                    pool.setAutostart(1 if autostart else 0)
        except libvirt.libvirtError as exc:
            raise self._step_failed(name, step, exc)
        return pool

    def _step_failed(self, name, step, exc):
        return BackendError('storage pool %s on %s: %s failed: %s' % (name, self.uri, step, exc.get_error_message()))

    # -- orphans -----------------------------------------------------------------------------

    def _sharing_pool(self, uri, path):
        """(connection, pool) of host ``uri`` over the directory ``path``; BackendError when it has none."""
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError as exc:
            raise BackendError('cannot connect to libvirt at %s (shared_with): %s; nothing was deleted'
                               % (uri, exc.get_error_message()))
        for pool in conn.listAllStoragePools(0):
            if pool.isActive() and _same_path(ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path'), path):
                pool.refresh(0)
                return conn, pool
        conn.close()
        raise BackendError('%s (shared_with) has no active storage pool over %s, so its VMs cannot be asked about '
                           'the payload volumes there; nothing was deleted. shared_with lists the hosts whose pools '
                           'use this pool\'s directory' % (uri, path))

    def _still_wanted(self, domain_uuid, volume, hosts):
        """Whether the volume's VM is defined, or any domain uses the volume, on any of ``hosts`` ((conn, uri, pool))."""
        return any(_domain_exists(conn, uri, domain_uuid) or volume in volumes_domains_use(conn, pool)
                   for conn, uri, pool in hosts)

    def prune_orphans(self, name, check_mode, shared_with=()):
        """Delete the payload volumes in pool ``name`` whose domain is no longer defined; return their names.

        The modules delete a VM's old volumes whenever they run on that VM; a VM undefined without
        ``state: absent`` first leaves its volume behind, and only this finds it. Each domain is looked up
        right before its volume goes, so a VM defined in the meantime keeps its payload; a volume any
        domain still uses (a clone of the undefined VM) stays. ``shared_with`` are the libvirt URIs of the
        other hosts whose pools use the same directory: a VM that migrated to one of them is defined there,
        and its volume stays. Each is reached before anything is deleted.
        """
        pool = self._lookup(name)
        if pool is None or not pool.isActive():
            return []
        path = ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path')
        hosts = [(self.conn, self.uri, pool)]
        try:
            for uri in shared_with:
                conn, sharing = self._sharing_pool(uri, path)
                hosts.append((conn, uri, sharing))
            return self._prune(name, pool, hosts, check_mode)
        finally:
            for conn, _uri, _pool in hosts[1:]:
                conn.close()

    def _prune(self, name, pool, hosts, check_mode):
        orphans = []
        for volume in sorted(pool.listVolumes()):
            match = PAYLOAD_VOLUME.match(volume)
            if match is None or self._still_wanted(match.group('uuid'), volume, hosts):
                continue
            if not check_mode:
                try:
                    pool.storageVolLookupByName(volume).delete(0)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
                        continue
                    raise self._step_failed(name, 'deleting orphan volume %s' % volume, exc)
            orphans.append(volume)
        return orphans

    # -- absent ------------------------------------------------------------------------------

    def ensure_absent(self, name, path, check_mode):
        """Stop and undefine pool ``name``; its directory and the files in it stay."""
        pool = self._lookup(name)
        if pool is None:
            return dict(changed=False, actions=[], pool={}, diff=dict(before={}, after={}))
        before = self._current(pool, check_mode)
        self._refuse_mismatch(before, path)
        actions = (['stop'] if before.active else []) + ['undefine']
        if not check_mode:
            step = None
            try:
                for step in actions:
                    if step == 'stop':
                        pool.destroy()
                    else:
                        pool.undefine()
            except libvirt.libvirtError as exc:
                raise self._step_failed(name, step, exc)
        return dict(changed=True, actions=actions, pool={}, diff=dict(before=before.as_dict(), after={}))


def ensure_pool(module):
    """The payload_pool module's action: its parameters in, its result out."""
    params = module.params
    if params['path'] is not None and not os.path.isabs(params['path']):
        raise PayloadValidationError('path must be absolute, not %r' % params['path'], option='path')
    mode = parse_mode(params['mode'])
    pools = LibvirtPools.open(params['uri'])
    try:
        if params['state'] == 'absent':
            result = pools.ensure_absent(params['name'], params['path'], module.check_mode)
        else:
            group = params['group'] if params['group'] is not None else pools.qemu_group()
            result = pools.ensure_present(params['name'], params['path'], (mode, params['owner'], group),
                                          params['autostart'], module.check_mode)
            if params['prune_orphans']:
                orphans = pools.prune_orphans(params['name'], module.check_mode, params['shared_with'])
                result['removed_volumes'] = orphans
                result['changed'] = result['changed'] or bool(orphans)
                result['diff']['before']['orphan_volumes'] = orphans
                result['diff']['after']['orphan_volumes'] = []
        result['libvirt_version'] = pools.libvirt_version()
    finally:
        pools.close()
    if not module._diff:
        result.pop('diff')
    return result
