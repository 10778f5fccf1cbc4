# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The libvirt backend's domain XML editing, without a daemon: parametrised tables over pure functions."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._backends import libvirt_xml as xml
from ansible_collections.vmpayload.core.plugins.module_utils._backends.keyed_digest import DigestKey
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

UUID = '3c5e9a04-5b8e-4f7e-9d1e-2f0c6b1a7e55'
DIGEST = '2e9e49663987d14f360fd4c88f7946f2173a0e337a54f339fda1c611d9c8dd7d'
KEY = DigestKey(bytes(range(32)), stored=True)


def domain(machine='pc-i440fx-7.2', disks=''):
    return ElementTree.fromstring(
        "<domain type='qemu'><name>web1</name><uuid>%s</uuid><os><type machine='%s'>hvm</type></os>"
        "<devices>%s</devices></domain>" % (UUID, machine, disks))


def cdrom(target, bus='ide', source=None, device='cdrom'):
    if source is None:
        return "<disk type='file' device='%s'><target dev='%s' bus='%s'/><readonly/></disk>" % (device, target, bus)
    if '/' in source and not source.startswith('/'):
        pool, volume = source.split('/')
        src = "<source pool='%s' volume='%s'/>" % (pool, volume)
        kind = 'volume'
    else:
        src, kind = "<source file='%s'/>" % source, 'file'
    return ("<disk type='%s' device='%s'>%s<target dev='%s' bus='%s'/><readonly/></disk>"
            % (kind, device, src, target, bus))


POOL_PATH = '/var/lib/vmpayload/pool'
OUR_VOLUME = 'vmpayload/vmpayload-%s-%s.iso' % (UUID, DIGEST[:16])
OUR_FILE = '%s/vmpayload-%s-%s.iso' % (POOL_PATH, UUID, DIGEST[:16])


@pytest.mark.parametrize('machine, device, drive, target, disks, expected', [
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, '', ('ide', 'hdd')),
    ('pc-q35-7.2', 'cdrom', 'dedicated', None, '', ('sata', 'sdz')),
    ('pc-i440fx-7.2', 'floppy', 'dedicated', None, '', ('fdc', 'fda')),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', 'hdc', '', ('ide', 'hdc')),
    ('pc-q35-7.2', 'cdrom', 'dedicated', 'sdab', '', ('sata', 'sdab')),
    # the slot already holds our own payload, or an empty drive of the right kind: it is reused
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source=OUR_VOLUME), ('ide', 'hdd')),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source=OUR_FILE), ('ide', 'hdd')),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd'), ('ide', 'hdd')),
    # replace takes the VM's first drive of the device, or the one named
    ('pc-i440fx-7.2', 'cdrom', 'replace', None, cdrom('hdc', source='/isos/debian.iso'), ('ide', 'hdc')),
    ('pc-q35-7.2', 'cdrom', 'replace', 'sdc', cdrom('sdb', 'sata') + cdrom('sdc', 'sata'), ('sata', 'sdc')),
    ('pc-i440fx-7.2', 'floppy', 'replace', None, cdrom('fdb', 'fdc', device='floppy'), ('fdc', 'fdb')),
])
def test_choose_slot(machine, device, drive, target, disks, expected):
    assert xml.choose_slot(domain(machine, disks), device, drive, target, 'vmpayload', POOL_PATH) == expected


@pytest.mark.parametrize('machine, device, drive, target, disks, option, message', [
    ('pc-q35-7.2', 'floppy', 'dedicated', None, '', 'device', 'q35 machines have no floppy controller'),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', 'sda', '', 'target', 'target sda is not a drive name on the ide bus'),
    ('pc-q35-7.2', 'cdrom', 'dedicated', 'hdc', '', 'target', 'not a drive name on the sata bus'),
    ('pc-i440fx-7.2', 'floppy', 'dedicated', 'fdc', '', 'target', 'not a drive name on the fdc bus'),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source='/isos/debian.iso'), 'target',
     "the payload slot hdd already holds the VM's own cdrom (/isos/debian.iso)"),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source='vmpayload/other.iso'), 'target',
     'already holds'),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source=POOL_PATH + '/other.iso'), 'target',
     'already holds'),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', source='/elsewhere/' + OUR_FILE.rsplit('/', maxsplit=1)[-1]),
     'target', 'already holds'),
    ('pc-i440fx-7.2', 'cdrom', 'dedicated', None, cdrom('hdd', device='disk'), 'target', "own disk"),
    ('pc-i440fx-7.2', 'cdrom', 'replace', None, '', 'target', 'drive: replace needs an existing cdrom drive'),
    ('pc-i440fx-7.2', 'cdrom', 'replace', 'hdb', cdrom('hdc'), 'target', 'cdrom drive with target hdb'),
])
def test_choose_slot_refuses(machine, device, drive, target, disks, option, message):
    with pytest.raises(PayloadValidationError, match=message.replace('(', r'\(').replace(')', r'\)')) as raised:
        xml.choose_slot(domain(machine, disks), device, drive, target, 'vmpayload', POOL_PATH)
    assert raised.value.option == option


@pytest.mark.parametrize('device, once, expected', [
    ('cdrom', False, 'vmpayload-%s-%s.iso' % (UUID, DIGEST[:16])),
    ('floppy', False, 'vmpayload-%s-%s.img' % (UUID, DIGEST[:16])),
    ('cdrom', True, 'vmpayload-%s-once-%s.iso' % (UUID, DIGEST[:16])),
])
def test_volume_name_matches_the_one_pattern(device, once, expected):
    name = xml.volume_name(UUID, DIGEST, device, once)
    assert name == expected
    assert xml.PAYLOAD_VOLUME.match(name).group('uuid') == UUID


@pytest.mark.parametrize('name', [
    'vmpayload-%s-%s.qcow2' % (UUID, DIGEST[:16]),
    'vmpayload-%s-%s.iso' % (UUID, DIGEST[:15]),
    'vmpayload-%s-twice-%s.iso' % (UUID, DIGEST[:16]),
    'vmpayload-%s-%s.iso.bak' % (UUID, DIGEST[:16]),
    'other-%s-%s.iso' % (UUID, DIGEST[:16]),
])
def test_payload_volume_pattern_rejects_other_names(name):
    assert xml.PAYLOAD_VOLUME.match(name) is None


def sample_payload(device='cdrom'):
    return parse_payload([{'name': 'dir/ünïcode.txt', 'content': 'x'}, {'name': 'b', 'content': 'yy'}],
                         device=device, label='CIDATA')


@pytest.mark.parametrize('availability, drive, target', [('permanent', 'dedicated', 'hdd'),
                                                         ('run-once', 'dedicated', 'sdz'),
                                                         ('permanent', 'replace', 'hdc')])
def test_record_survives_a_definition_round_trip(availability, drive, target):
    wanted = sample_payload()
    record = xml.payload_record(KEY.describe(wanted), availability, 'vmpayload', 'vol.iso', drive, target)
    definition = domain()
    xml.put_record(definition, record)
    text = xml.to_text(definition)
    assert "xmlns:vmpayload=\"urn:x-vmpayload:payload:1\"" in text
    back = xml.record_in_domain(ElementTree.fromstring(text))
    assert back == record
    assert back.holds(KEY.describe(wanted), availability)
    assert back.key_id == KEY.id and back.summary()['digest_key'] == KEY.id
    assert back.summary()['volume'] == 'vol.iso'


def test_record_attributes_keep_the_order_and_names_earlier_releases_wrote():
    element = xml.record_element(xml.payload_record(KEY.describe(sample_payload()), 'permanent', 'p', 'v', 'dedicated', 'hdd'))
    assert list(element.attrib) == ['availability', 'digest', 'key', 'device', 'label', 'pool', 'volume', 'drive', 'target']
    files = element.findall('{urn:x-vmpayload:payload:1}file')
    assert [f.get('name') for f in files] == ['b', 'dir/ünïcode.txt']
    assert [f.get('size') for f in files] == ['2', '1']


def test_the_record_holds_no_plain_sha256_of_the_payload_or_its_files():
    wanted = sample_payload()
    text = xml.to_text(xml.record_element(xml.payload_record(KEY.describe(wanted), 'permanent', 'p', 'v', 'dedicated', 'hdd')))
    assert wanted.digest not in text and wanted.digest[:16] not in text
    for f in wanted.files:
        assert f.sha256 not in text and f.sha256[:16] not in text
    assert 'sha256' not in text


def test_a_record_of_an_earlier_release_or_another_key_does_not_hold_the_payload():
    wanted = sample_payload()
    legacy = ElementTree.fromstring(
        '<payload xmlns="urn:x-vmpayload:payload:1" availability="permanent" digest="%s" device="cdrom" label="CIDATA">'
        '<file name="b" size="2" sha256="%s"/></payload>' % (wanted.digest, wanted.files[0].sha256))
    record = xml.record_from_element(legacy)
    assert record.availability == 'permanent' and record.key_id is None
    assert not record.holds(KEY.describe(wanted), 'permanent')
    other = DigestKey(bytes(range(1, 33)), stored=True)
    assert not xml.record_from_element(xml.record_element(xml.payload_record(
        other.describe(wanted), 'permanent', 'p', 'v', 'dedicated', 'hdd'))).holds(KEY.describe(wanted), 'permanent')


def test_a_plain_record_element_is_what_set_metadata_takes():
    element = xml.record_element(xml.payload_record(KEY.describe(sample_payload()), 'permanent', 'p', 'v', 'dedicated', 'hdd'),
                                 namespaced=False)
    assert element.tag == 'payload' and element.find('file') is not None


def test_put_record_replaces_and_removes():
    definition = domain()
    first = xml.payload_record(KEY.describe(sample_payload()), 'permanent', 'p', 'v1', 'dedicated', 'hdd')
    second = xml.payload_record(KEY.describe(sample_payload('floppy')), 'permanent', 'p', 'v2', 'dedicated', 'fda')
    xml.put_record(definition, first)
    xml.put_record(definition, second)
    assert len(definition.findall('metadata/{urn:x-vmpayload:payload:1}payload')) == 1
    assert xml.record_in_domain(definition).placement['volume'] == 'v2'
    xml.put_record(definition, None)
    assert xml.record_in_domain(definition) is None


def test_a_definition_without_a_record_has_none():
    assert xml.record_in_domain(domain()) is None


def test_put_disk_replaces_in_place_or_appends():
    definition = domain(disks=cdrom('hda', source='/a.iso') + cdrom('hdc', source='/b.iso'))
    xml.put_disk(definition, xml.disk_xml('cdrom', 'ide', 'hda', '/pool/v.iso'))
    xml.put_disk(definition, xml.disk_xml('cdrom', 'ide', 'hdd', '/pool/w.iso'))
    assert [d.find('target').get('dev') for d in definition.findall('devices/disk')] == ['hda', 'hdc', 'hdd']
    sources = [xml.disk_source(d) for d in definition.findall('devices/disk')]
    assert sources == ['/pool/v.iso', '/b.iso', '/pool/w.iso']


def test_a_payload_drive_names_its_image_by_path_read_only():
    """A path needs no pool lookup where the domain starts or arrives (a migration's destination)."""
    disk = xml.disk_xml('cdrom', 'ide', 'hdd', '/pool/v.iso')
    assert (disk.get('type'), disk.find('source').attrib, disk.find('readonly') is not None) == \
        ('file', {'file': '/pool/v.iso'}, True)
    empty = xml.disk_xml('floppy', 'fdc', 'fda', None)
    assert (empty.get('type'), empty.find('source'), empty.get('device')) == ('file', None, 'floppy')


@pytest.mark.parametrize('drive, remaining, released_source', [
    ('dedicated', ['hdc'], 'vmpayload/v.iso'),   # the payload's own drive goes
    ('replace', ['hdc', 'hdd'], None),           # the VM's drive stays, empty
])
def test_release_drive(drive, remaining, released_source):
    definition = domain(disks=cdrom('hdc', source='/b.iso') + cdrom('hdd', source='vmpayload/v.iso'))
    record = xml.payload_record(KEY.describe(sample_payload()), 'permanent', 'vmpayload', 'v.iso', drive, 'hdd')
    released = xml.release_drive(definition, record)
    assert [d.find('target').get('dev') for d in definition.findall('devices/disk')] == remaining
    assert xml.disk_source(released) == released_source
    assert xml.release_drive(domain(), record) is None


@pytest.mark.parametrize('disk, expected', [
    (cdrom('hdc', source='vmpayload/v.iso'), 'v.iso'),
    (cdrom('hdc', source=POOL_PATH + '/v.iso'), 'v.iso'),
    (cdrom('hdc', source=POOL_PATH + '/../v.iso'), None),
    (cdrom('hdc', source=POOL_PATH + '/sub/v.iso'), None),
    (cdrom('hdc', source='other/v.iso'), None),
    (cdrom('hdc', source='/isos/a.iso'), None),
    (cdrom('hdc'), None),
])
def test_pool_volume_by_volume_or_by_path_in_the_pool_directory(disk, expected):
    assert xml.pool_volume(ElementTree.fromstring(disk), 'vmpayload', POOL_PATH + '/') == expected


def test_volumes_in_pool_names_only_that_pool():
    definition = domain(disks=cdrom('hda', source='vmpayload/a.iso') + cdrom('hdb', source='other/b.iso')
                        + cdrom('hdc', source='/c.iso') + cdrom('hdd', source=POOL_PATH + '/d.iso'))
    assert xml.volumes_in_pool(definition, 'vmpayload', POOL_PATH) == {'a.iso', 'd.iso'}


@pytest.mark.parametrize('name, expected', [
    (OUR_VOLUME.split('/')[1], UUID),
    ('vmpayload-%s-once-%s.img' % (UUID, DIGEST[:16]), UUID),
    ('vmpayload-%s-notes.txt' % UUID, None),
    (None, None),
])
def test_volume_owner_is_the_domain_the_name_was_made_for(name, expected):
    assert xml.volume_owner(name) == expected


@pytest.mark.parametrize('source, expected', [
    ('vmpayload/vmpayload-x.iso', True), (POOL_PATH + '/vmpayload-x.iso', True), (POOL_PATH + '/debian.iso', False),
    ('other/vmpayload-x.iso', False), ('/var/vmpayload-x.iso', False), (None, False),
])
def test_is_payload_disk(source, expected):
    assert xml.is_payload_disk(ElementTree.fromstring(cdrom('hdd', source=source)), 'vmpayload', POOL_PATH) is expected


def test_once_definition_adds_drive_and_record_and_leaves_the_persistent_one_alone():
    persistent = domain(disks=cdrom('hdc', source='/b.iso'))
    before = xml.to_text(persistent)
    record = xml.payload_record(KEY.describe(sample_payload()), 'run-once', 'vmpayload', 'o.iso', 'dedicated', 'hdd')
    once = xml.once_definition(persistent, xml.disk_xml('cdrom', 'ide', 'hdd', POOL_PATH + '/o.iso'), record)
    assert xml.to_text(persistent) == before
    assert xml.disk_source(xml.find_disk(once, 'hdd')) == POOL_PATH + '/o.iso'
    assert xml.record_in_domain(once).availability == 'run-once'


def _recorded(*files):
    return ElementTree.fromstring(
        "<domain type='qemu'><name>web1</name><metadata>"
        "<vmpayload:payload xmlns:vmpayload='urn:x-vmpayload:payload:1' availability='permanent' digest='%s' "
        "device='cdrom' pool='vmpayload' volume='v.iso' drive='dedicated' target='hdd'>%s</vmpayload:payload>"
        "</metadata></domain>" % (DIGEST, ''.join("<vmpayload:file %s/>" % f for f in files)))


GOOD_FILE = "name='ok.txt' size='3' sha256='%s'" % DIGEST


@pytest.mark.parametrize('bad_file, problem', [
    ("name='user-data' sha256='%s'" % DIGEST, 'no size'),
    ("name='user-data' size='big' sha256='%s'" % DIGEST, 'size that is not a whole number of bytes'),
    ("name='user-data' size='-1' sha256='%s'" % DIGEST, 'size that is not a whole number of bytes'),
    ("name='user-data' size='1.5' sha256='%s'" % DIGEST, 'size that is not a whole number of bytes'),
    ("name='user-data' size='%s' sha256='%s'" % ('9' * 5000, DIGEST), 'size that is not a whole number of bytes'),
    ("size='1' sha256='%s'" % DIGEST, 'no name'),
], ids=['no-size', 'size-not-a-number', 'size-negative', 'size-fraction', 'size-of-5000-digits', 'no-name'])
def test_a_malformed_record_is_an_unknown_payload_that_the_decision_layer_refuses(bad_file, problem):
    from ansible_collections.vmpayload.core.plugins.module_utils._backends.actions import _known
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import BackendError

    record = xml.record_in_domain(_recorded(GOOD_FILE, bad_file))
    assert record.availability == 'unknown'
    assert problem in record.reason and 'files[1]' in record.reason and 'metadata' in record.reason
    if 'no name' not in problem:
        assert '"user-data"' in record.reason
    assert '9' * 100 not in record.reason
    # vm_payload_info reports it as it is; the changing modules refuse to act on it.
    assert record.summary()['msg'] == record.reason and record.summary()['availability'] == 'unknown'
    with pytest.raises(BackendError) as refused:
        _known(record)
    assert str(refused.value) == record.reason


def test_a_well_formed_record_with_an_empty_file_reads_back():
    record = xml.record_in_domain(_recorded(GOOD_FILE, "name='empty' size='0' sha256='%s'" % DIGEST))
    assert record.availability == 'permanent' and [f['size'] for f in record.files] == [3, 0]
