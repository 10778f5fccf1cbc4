# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The payload pool logic against libvirt's own test driver (``test:///<node file>``).

The test driver keeps pools in memory and touches no directory, so these tests run anywhere
libvirt-python does: each test gets a fresh, private driver from its own node file, and keeps one
connection to it for the whole test.
"""

from __future__ import annotations

import json

import libvirt
import pytest
from module_args import patch_module_args
from libvirt_doubles import SavedWith

from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_pool import (
    LibvirtPools,
    parse_mode,
    qemu_gid,
)
from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_uses import volumes_domains_use
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    BackendError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.modules import payload_pool

QEMU_GROUP = 64055
WANTED = ('0750', 0, QEMU_GROUP)
DEBIAN_CAPABILITIES = """<capabilities><host>
  <secmodel><model>none</model><doi>0</doi></secmodel>
  <secmodel><model>dac</model><doi>0</doi>
    <baselabel type='kvm'>+64055:+64055</baselabel><baselabel type='qemu'>+64055:+64055</baselabel>
  </secmodel></host></capabilities>"""


@pytest.fixture
def node(tmp_path):
    path = tmp_path / 'node.xml'
    path.write_text('<node/>')
    return 'test://%s' % path


@pytest.fixture
def pools(node):
    managed = LibvirtPools(libvirt.open(node), node)
    yield managed
    managed.close()


def present(pools, path='/srv/vmpayload/pool', permissions=WANTED, autostart=True, check_mode=False):
    return pools.ensure_present('vmpayload', path, permissions, autostart, check_mode)


def pool_xml(pools):
    return pools.conn.storagePoolLookupByName('vmpayload').XMLDesc(0)


def test_creates_then_changes_nothing(pools):
    first = present(pools)
    assert first['changed'] is True
    assert first['actions'] == ['define', 'build', 'start', 'autostart']
    assert first['pool'] == dict(name='vmpayload', type='dir', path='/srv/vmpayload/pool', mode='0750', owner=0,
                                 group=QEMU_GROUP, active=True, autostart=True)
    assert first['diff'] == dict(before={}, after=first['pool'])
    second = present(pools)
    assert (second['changed'], second['actions']) == (False, [])
    assert second['diff']['before'] == second['diff']['after'] == first['pool']


def test_check_mode_predicts_and_changes_nothing(pools):
    predicted = present(pools, check_mode=True)
    assert (predicted['changed'], predicted['actions']) == (True, ['define', 'build', 'start', 'autostart'])
    assert pools.conn.listAllStoragePools(0) == []
    assert present(pools)['pool'] == predicted['pool']


@pytest.mark.parametrize('before, actions', [
    # (what to do to the created pool, the steps that put it right)
    (lambda pool: pool.setAutostart(0), ['autostart']),
    (lambda pool: pool.destroy(), ['build', 'start']),
])
def test_puts_a_drifted_pool_right(pools, before, actions):
    present(pools)
    before(pools.conn.storagePoolLookupByName('vmpayload'))
    assert present(pools, check_mode=True)['actions'] == actions
    result = present(pools)
    assert (result['changed'], result['actions']) == (True, actions)
    assert present(pools)['changed'] is False


def test_other_permissions_are_defined_and_built_in(pools):
    present(pools)
    uuid = pools.conn.storagePoolLookupByName('vmpayload').UUIDString()
    result = present(pools, permissions=('0700', 0, 0))
    assert result['actions'] == ['stop', 'define', 'build', 'start']
    assert result['pool']['mode'] == '0700' and result['pool']['group'] == 0
    assert "<mode>0700</mode>" in pool_xml(pools)
    # Redefined, not replaced: the same pool.
    assert pools.conn.storagePoolLookupByName('vmpayload').UUIDString() == uuid
    assert present(pools, permissions=('0700', 0, 0))['changed'] is False


def test_autostart_false_is_kept(pools):
    assert present(pools, autostart=False)['actions'] == ['define', 'build', 'start']
    assert present(pools, autostart=False)['changed'] is False
    assert present(pools)['actions'] == ['autostart']


@pytest.mark.parametrize('existing, message', [
    ("<pool type='dir'><name>vmpayload</name><target><path>/elsewhere</path></target></pool>",
     'has the directory /elsewhere, not /srv/vmpayload/pool; nothing was changed'),
    ("<pool type='netfs'><name>vmpayload</name><source><host name='nas'/><dir path='/export'/><format type='nfs'/>"
     "</source><target><path>/srv/vmpayload/pool</path></target></pool>",
     "is a 'netfs' pool, not a 'dir' pool; nothing was changed"),
    ("<pool type='dir'><name>images</name><target><path>/srv/vmpayload/pool/</path></target></pool>",
     '/srv/vmpayload/pool is already the directory of storage pool images'),
])
def test_a_conflicting_pool_fails_and_changes_nothing(pools, existing, message):
    pools.conn.storagePoolDefineXML(existing, 0)
    definitions = sorted(pool.XMLDesc(0) for pool in pools.conn.listAllStoragePools(0))
    for check_mode in (True, False):
        with pytest.raises(BackendError, match=message):
            present(pools, check_mode=check_mode)
    assert sorted(pool.XMLDesc(0)
                  for pool in pools.conn.listAllStoragePools(0)) == definitions


def _volume(pools, name):
    pool = pools.conn.storagePoolLookupByName('vmpayload')
    pool.createXML("<volume><name>%s</name><capacity unit='KiB'>4</capacity></volume>" % name, 0)


def _domain(pools, name):
    return pools.conn.defineXML("<domain type='test'><name>%s</name><memory unit='MiB'>64</memory>"
                                "<os><type>hvm</type></os></domain>" % name)


def test_prune_orphans_deletes_only_payload_volumes_of_undefined_domains(pools):
    present(pools)
    kept_domain = _domain(pools, 'web1')
    gone_domain = _domain(pools, 'web2')
    kept = ['vmpayload-%s-0123456789abcdef.iso' % kept_domain.UUIDString(),
            'vmpayload-%s-once-0123456789abcdef.img' % kept_domain.UUIDString(),
            # Not the modules' names: never touched, whatever their UUID.
            'vmpayload-%s-notours.iso' % gone_domain.UUIDString(),
            'install-media.iso']
    orphans = ['vmpayload-%s-0123456789abcdef.iso' % gone_domain.UUIDString(),
               'vmpayload-%s-once-fedcba9876543210.iso' % gone_domain.UUIDString()]
    for name in kept + orphans:
        _volume(pools, name)
    gone_domain.undefine()

    assert pools.prune_orphans('vmpayload', check_mode=True) == sorted(orphans)
    assert len(pools.conn.storagePoolLookupByName('vmpayload').listVolumes()) == len(kept + orphans)
    assert pools.prune_orphans('vmpayload', check_mode=False) == sorted(orphans)
    assert sorted(pools.conn.storagePoolLookupByName('vmpayload').listVolumes()) == sorted(kept)
    assert pools.prune_orphans('vmpayload', check_mode=False) == []


def _other_host(tmp_path, pool_path='/srv/vmpayload/pool', domains=()):
    """Another host's URI, a test driver with a pool over ``pool_path`` and ``domains`` ((name, uuid, disk path))."""
    node = tmp_path / 'other-host.xml'
    disks = "<devices><disk type='file' device='cdrom'><source file='%s'/><target dev='hdd' bus='ide'/></disk></devices>"
    node.write_text(
        "<node><pool type='dir'><name>payloads-b</name><target><path>%s</path></target></pool>%s</node>"
        % (pool_path, ''.join("<domain type='test'><name>%s</name><uuid>%s</uuid><memory unit='MiB'>64</memory>"
                              "<os><type>hvm</type></os>%s</domain>" % (name, uuid, disks % disk if disk else '')
                              for name, uuid, disk in domains)))
    return 'test://%s' % node


def test_prune_orphans_keeps_what_a_host_sharing_the_directory_still_needs(pools, tmp_path):
    """A VM migrated away is defined on the other host only; a clone there uses an undefined VM's volume."""
    present(pools)
    migrated, cloned, gone = (_domain(pools, name) for name in ('migrated', 'cloned', 'gone'))
    volumes = {domain.name(): 'vmpayload-%s-0123456789abcdef.iso' % domain.UUIDString()
               for domain in (migrated, cloned, gone)}
    for name in volumes.values():
        _volume(pools, name)
    other = _other_host(tmp_path, domains=[('migrated', migrated.UUIDString(), None),
                                           ('clone', '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f',
                                            '/srv/vmpayload/pool/' + volumes['cloned'])])
    for domain in (migrated, cloned, gone):
        domain.undefine()

    assert pools.prune_orphans('vmpayload', check_mode=True) == sorted(volumes.values())
    assert pools.prune_orphans('vmpayload', check_mode=False, shared_with=[other]) == [volumes['gone']]
    assert sorted(pools.conn.storagePoolLookupByName('vmpayload').listVolumes()) == sorted(
        [volumes['migrated'], volumes['cloned']])


@pytest.mark.parametrize('other, message', [
    ('nosuchdriver:///system', 'cannot connect to libvirt at nosuchdriver:///system \\(shared_with\\)'),
    (None, 'has no active storage pool over /srv/vmpayload/pool'),
])
def test_prune_orphans_deletes_nothing_when_a_sharing_host_cannot_be_asked(pools, tmp_path, other, message):
    present(pools)
    gone = _domain(pools, 'gone')
    _volume(pools, 'vmpayload-%s-0123456789abcdef.iso' % gone.UUIDString())
    gone.undefine()
    with pytest.raises(BackendError, match=message + '.*nothing was deleted'):
        pools.prune_orphans('vmpayload', check_mode=False, shared_with=[other or _other_host(tmp_path, '/srv/other')])
    assert len(pools.conn.storagePoolLookupByName('vmpayload').listVolumes()) == 1


def test_prune_orphans_on_a_missing_pool_finds_nothing(pools):
    assert pools.prune_orphans('vmpayload', check_mode=False) == []


def test_absent_stops_and_undefines_then_changes_nothing(pools):
    present(pools)
    assert pools.ensure_absent('vmpayload', None, check_mode=True)['actions'] == ['stop', 'undefine']
    assert len(pools.conn.listAllStoragePools(0)) == 1
    removed = pools.ensure_absent('vmpayload', '/srv/vmpayload/pool', check_mode=False)
    assert (removed['changed'], removed['actions'], removed['pool']) == (True, ['stop', 'undefine'], {})
    assert removed['diff']['after'] == {} and removed['diff']['before']['name'] == 'vmpayload'
    assert pools.conn.listAllStoragePools(0) == []
    assert pools.ensure_absent('vmpayload', None, check_mode=False)['changed'] is False


def test_absent_refuses_a_pool_at_another_path(pools):
    present(pools)
    with pytest.raises(BackendError, match='has the directory /srv/vmpayload/pool, not /other'):
        pools.ensure_absent('vmpayload', '/other', check_mode=False)
    assert len(pools.conn.listAllStoragePools(0)) == 1


@pytest.mark.parametrize('given, octal', [('0750', '0750'), ('750', '0750'), (0o750, '0750'), (' 0700 ', '0700'),
                                          ('0', '0000'), ('777', '0777')])
def test_parse_mode(given, octal):
    assert parse_mode(given) == octal


@pytest.mark.parametrize('given', ['rwxr-x---', '0758', '', '02750', '1777', -1, 0o1000])
def test_parse_mode_refuses(given):
    with pytest.raises(PayloadValidationError) as failure:
        parse_mode(given)
    assert failure.value.option == 'mode'


@pytest.mark.parametrize('capabilities, gid', [
    (DEBIAN_CAPABILITIES, 64055),
    (DEBIAN_CAPABILITIES.replace('+64055:+64055', '+107:+107'), 107),
    ("<capabilities><host><secmodel><model>dac</model><baselabel type='qemu'>+0:+36</baselabel></secmodel>"
     "</host></capabilities>", 36),
    ("<capabilities><host><secmodel><model>selinux</model></secmodel></host></capabilities>", None),
    ('<capabilities/>', None),
])
def test_qemu_gid_from_capabilities(capabilities, gid):
    assert qemu_gid(capabilities) == gid


def test_qemu_group_without_a_dac_model_asks_for_group(pools):
    # The test driver reports a "testSecurity" model only.
    with pytest.raises(PayloadValidationError, match='set group') as failure:
        pools.qemu_group()
    assert failure.value.option == 'group'


def run_module(capsys, args, check_mode=False, diff=False):
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args), pytest.raises(SystemExit):
        payload_pool.main()
    return json.loads(capsys.readouterr().out)


def test_module_result(node, capsys):
    result = run_module(capsys, dict(uri=node, path='/srv/vmpayload/pool', group=107), check_mode=True, diff=True)
    assert result['changed'] is True and not result.get('failed')
    assert result['actions'] == ['define', 'build', 'start', 'autostart']
    assert result['pool']['group'] == 107 and result['pool']['mode'] == '0750'
    assert result['libvirt_version'].count('.') == 2
    assert result['diff'] == dict(before={}, after=result['pool'])
    assert 'diff' not in run_module(capsys, dict(uri=node, path='/srv/vmpayload/pool', group=107))


def test_module_result_with_prune_orphans(node, capsys):
    # Each module run opens its own test driver, so no volume is there to find: the keys are what is checked.
    args = dict(uri=node, path='/srv/vmpayload/pool', group=107, prune_orphans=True)
    result = run_module(capsys, args, diff=True)
    assert result['removed_volumes'] == []
    assert result['diff']['before']['orphan_volumes'] == [] and result['diff']['after']['orphan_volumes'] == []
    assert 'removed_volumes' not in run_module(capsys, dict(uri=node, path='/srv/vmpayload/pool', group=107))


@pytest.mark.parametrize('args, message', [
    (dict(path='relative/pool', group=107), "path must be absolute, not 'relative/pool'"),
    (dict(path='/srv/pool', group=107, mode='u+rwx'), 'mode must be an octal number'),
    (dict(path='/srv/pool'), 'does not report the group QEMU runs as'),
    (dict(group=107), 'state is present but all of the following are missing: path'),
    (dict(path='/srv/pool', uri='nosuchdriver:///system', group=107), 'cannot connect to libvirt at nosuchdriver'),
])
def test_module_refuses(node, capsys, args, message):
    result = run_module(capsys, dict(dict(uri=node), **args))
    assert result['failed'] is True and message in result['msg']


class _ListsAVanishedDomain:
    """A connection whose domain listing still holds a domain undefined right after the listing."""

    def __init__(self, conn, vanished):
        self.conn, self.vanished = conn, vanished

    def listAllDomains(self, flags):
        return self.conn.listAllDomains(flags) + [self.vanished]


def test_a_domain_undefined_while_volumes_in_use_are_listed_uses_nothing(pools, tmp_path):
    present(pools, path=str(tmp_path))
    pool = pools.conn.storagePoolLookupByName('vmpayload')
    disk = ("<disk type='volume' device='cdrom'><source pool='vmpayload' volume='%s'/><target dev='hdd' bus='ide'/>"
            "<readonly/></disk>")
    template = ("<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os>"
                "<devices>%s</devices></domain>")
    pools.conn.defineXML(template % ('stays', disk % 'kept.iso'))
    vanished = pools.conn.defineXML(template % ('goes', disk % 'freed.iso'))
    vanished.undefine()
    assert volumes_domains_use(_ListsAVanishedDomain(pools.conn, vanished), pool) == {'kept.iso'}


DISK = ("<disk type='%s' device='cdrom'>%s<target dev='hdd' bus='ide'/><readonly/></disk>")
BY_VOLUME = DISK % ('volume', "<source pool='vmpayload' volume='%s'/>")
BY_FILE = DISK % ('file', "<source file='/srv/vmpayload/pool/%s'/>")
DOMAIN = ("<domain type='test'><name>%s</name><memory>65536</memory><os><type>hvm</type></os>"
          "<devices>%s</devices></domain>")


def _redefine(conn, domain, drive):
    """The same domain (name and UUID) with another payload drive, as vm_payload's change defines it."""
    return conn.defineXML(DOMAIN.replace('<name>', '<uuid>%s</uuid><name>' % domain.UUIDString()) % (domain.name(), drive))


@pytest.mark.parametrize('drive', [BY_VOLUME, BY_FILE], ids=['by-volume', 'by-file'])
def test_a_volume_only_a_snapshot_names_is_in_use(pools, drive):
    # A snapshot taken before a payload change names the old volume; a revert brings that definition back.
    present(pools)
    pool = pools.conn.storagePoolLookupByName('vmpayload')
    domain = pools.conn.defineXML(DOMAIN % ('snapped', drive % 'old.iso'))
    domain.snapshotCreateXML('<domainsnapshot><name>before</name></domainsnapshot>', 0)
    _redefine(pools.conn, domain, drive % 'new.iso')
    assert volumes_domains_use(pools.conn, pool) == {'old.iso', 'new.iso'}
    domain.snapshotLookupByName('before', 0).delete(0)
    assert volumes_domains_use(pools.conn, pool) == {'new.iso'}


class _Lists:
    """A connection listing the given domains."""

    def __init__(self, *domains):
        self.domains = domains

    def listAllDomains(self, flags):
        return list(self.domains)


def test_a_volume_only_a_managed_save_image_names_is_in_use(pools):
    # virsh start restores a managed save image with the definition saved in it, not the persistent one.
    present(pools)
    pool = pools.conn.storagePoolLookupByName('vmpayload')
    domain = pools.conn.defineXML(DOMAIN % ('saved', BY_FILE % 'saved.iso'))
    saved = domain.XMLDesc(0)
    domain = _redefine(pools.conn, domain, BY_FILE % 'next.iso')
    assert volumes_domains_use(_Lists(SavedWith(domain, saved)), pool) == {'saved.iso', 'next.iso'}
    assert volumes_domains_use(_Lists(domain), pool) == {'next.iso'}
