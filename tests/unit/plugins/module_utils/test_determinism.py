# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The same payload gives the same bytes: at another time, in another time zone, in another process.

No fake clock is available here, so the later builds really are later (the module sleeps once,
longer than FAT's two-second date resolution) and run in subprocesses with another ``TZ``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import unicodedata

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._image.base import (
    DEFAULT_EPOCH,
    MAX_EPOCH,
    build_epoch,
    writer_for,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import PayloadValidationError
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload

SDE = 1700000000  # 2023-11-14T22:13:20Z, an even second so FAT stores it exactly
DEVICES = ('cdrom', 'floppy')
# A named zone (from tzdata, which Debian always installs) and a POSIX rule that needs no database.
ZONES = ('Asia/Kolkata', '<+1245>-12:45')
ZONE_OFFSETS = {'Asia/Kolkata': '+0530', '<+1245>-12:45': '+1245'}

BUILD_SCRIPT = r'''
import json, sys, time
from ansible_collections.vmpayload.core.plugins.module_utils._image.base import build_epoch, writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload
for job in json.load(sys.stdin):
    payload = parse_payload(job['files'], device=job['device'], label=job['label'])
    writer_for(job['device'], epoch=build_epoch()).write(payload, job['dest'])
print(json.dumps({'time': time.time(), 'offset': time.strftime('%z')}))
'''


def payload_files(source):
    return [
        {'name': 'user-data', 'content': '#cloud-config\nhostname: vm1\n'},
        {'name': 'meta-data', 'content': 'instance-id: vm1\n'},
        {'name': 'scripts/\u00e9t\u00e9/run.sh', 'content_b64': base64.b64encode(b'#!/bin/sh\necho \xff\n').decode()},
        {'name': 'blob.bin', 'src': str(source)},
        {'name': 'empty', 'content': ''},
    ]


def build_in_subprocess(jobs, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ('SOURCE_DATE_EPOCH', 'TZ')}
    env['PYTHONPATH'] = os.pathsep.join(p for p in sys.path if p)
    env.update(env_overrides)
    result = subprocess.run([sys.executable, '-c', BUILD_SCRIPT], input=json.dumps(jobs), capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def builds(tmp_path_factory):
    """Images of one payload per device: twice now in this process, then (after a pause) in
    subprocesses with other time zones, and with SOURCE_DATE_EPOCH set."""
    tmp = tmp_path_factory.mktemp('determinism')
    source = tmp / 'blob.bin'
    source.write_bytes(bytes(range(256)) * 40)
    files = payload_files(source)
    out = {'files': files, 'source': source, 'tmp': tmp, 'zones': {}}
    started = time.time()
    for device in DEVICES:
        for run in ('first', 'second'):
            path = tmp / ('%s-%s.img' % (device, run))
            payload = parse_payload(files, device=device, label='cidata')
            writer_for(device).write(payload, str(path))
            out[(device, run)] = path
        out[(device, 'payload')] = payload
    time.sleep(max(0.0, started + 2.2 - time.time()))
    for zone in ZONES:
        jobs = [{'files': files, 'device': d, 'label': 'cidata',
                 'dest': str(tmp / ('%s-%d.img' % (d, ZONES.index(zone))))} for d in DEVICES]
        out['zones'][zone] = build_in_subprocess(jobs, TZ=zone)
        out['zones'][zone]['started'] = started
        for job in jobs:
            out[(job['device'], zone)] = job['dest']
    jobs = [{'files': files, 'device': d, 'label': 'cidata', 'dest': str(tmp / ('%s-sde.img' % d))} for d in DEVICES]
    build_in_subprocess(jobs, SOURCE_DATE_EPOCH=str(SDE), TZ='America/New_York')
    for job in jobs:
        out[(job['device'], 'sde')] = job['dest']
    return out


def read(path):
    with open(path, 'rb') as stream:
        return stream.read()


@pytest.mark.parametrize('device', DEVICES)
def test_two_builds_in_one_process_are_byte_identical(builds, device):
    assert read(builds[(device, 'first')]) == read(builds[(device, 'second')])


@pytest.mark.parametrize('zone', ZONES)
@pytest.mark.parametrize('device', DEVICES)
def test_later_build_in_another_time_zone_is_byte_identical(builds, device, zone):
    report = builds['zones'][zone]
    assert report['offset'] == ZONE_OFFSETS[zone], 'the subprocess did not run in %s' % zone
    assert report['time'] - report['started'] >= 2.0, 'the second build was not later'
    assert read(builds[(device, zone)]) == read(builds[(device, 'first')])


@pytest.mark.parametrize('device', DEVICES)
def test_source_date_epoch_changes_the_image(builds, device):
    assert read(builds[(device, 'sde')]) != read(builds[(device, 'first')])


def _unique_dates(found):
    return {epoch for where, epoch in found if not where.endswith('-expiration')}


def test_iso_has_no_date_but_the_default_epoch(builds, image_readers):
    image = builds[('cdrom', 'first')]
    found = image_readers.iso_dates(image)
    assert {where.split('-')[0] for where, epoch in found} >= {'pvd', 'svd', 'rr'}
    assert _unique_dates(found) == {DEFAULT_EPOCH}
    assert {epoch for where, epoch in found if where.endswith('-expiration')} == {None}
    pvd = image_readers.xorriso_pvd_info(image)
    assert (pvd['Creation Time'], pvd['Modif. Time'], pvd['Eff. Time']) == ('1980010100000000',) * 3
    assert pvd['Expir. Time'] == '0000000000000000'
    for tree in ('', '-R', '-J'):
        assert {row[2] for row in image_readers.isoinfo_listing(image, tree)} == {'Jan 1 1980'}, tree
    assert {row[2] for row in image_readers.bsdtar_list(image)} == {'Jan 1 1980'}


def test_iso_honours_source_date_epoch_in_every_date(builds, image_readers, tmp_path):
    image = builds[('cdrom', 'sde')]
    assert _unique_dates(image_readers.iso_dates(image)) == {SDE}
    pvd = image_readers.xorriso_pvd_info(image)
    assert (pvd['Creation Time'], pvd['Modif. Time'], pvd['Eff. Time']) == ('2023111422132000',) * 3
    for tree in ('', '-R', '-J'):
        assert {row[2] for row in image_readers.isoinfo_listing(image, tree)} == {'Nov 14 2023'}, tree
    assert {row[2] for row in image_readers.bsdtar_list(image)} == {'Nov 14 2023'}
    dest = image_readers.xorriso_extract(image, tmp_path / 'x')
    for current, subdirectories, names in os.walk(dest):
        for name in names:
            info = os.stat(os.path.join(current, name))
            assert (info.st_mtime, info.st_atime) == (SDE, SDE), name
    image_readers.chmod_tree_writable(dest)


def test_fat_has_no_date_but_the_default_epoch(builds, image_readers):
    image = builds[('floppy', 'first')]
    date, clock = image_readers.dos_date_time(DEFAULT_EPOCH)
    entries = image_readers.fat_entries(image)
    assert len(entries) >= 8
    for entry in entries:
        assert (entry.crt_tenth, entry.crt_time, entry.crt_date, entry.acc_date, entry.wrt_time, entry.wrt_date) \
            == (0, clock, date, date, clock, date), entry.path
    dates = image_readers.mdir_dates(image)
    assert dates and set(dates) == {('1980-01-01', '0:00')}


def test_fat_honours_source_date_epoch_in_every_date(builds, image_readers, tmp_path):
    image = builds[('floppy', 'sde')]
    date, clock = image_readers.dos_date_time(SDE)
    for entry in image_readers.fat_entries(image):
        assert (entry.crt_tenth, entry.crt_time, entry.crt_date, entry.acc_date, entry.wrt_time, entry.wrt_date) \
            == (0, clock, date, date, clock, date), entry.path
    assert set(image_readers.mdir_dates(image)) == {('2023-11-14', '22:13')}
    dest = image_readers.mcopy_extract(image, tmp_path / 'x', preserve_dates=True)
    for current, subdirectories, names in os.walk(dest):
        for name in names:
            assert os.stat(os.path.join(current, name)).st_mtime == SDE, name


@pytest.mark.parametrize('value, expected', [
    (None, DEFAULT_EPOCH),
    ('', DEFAULT_EPOCH),
    (str(SDE), SDE),
    ('0', DEFAULT_EPOCH),
    ('-5', DEFAULT_EPOCH),
    ('99999999999', MAX_EPOCH),
])
def test_build_epoch_reads_and_clamps_source_date_epoch(value, expected):
    environ = {} if value is None else {'SOURCE_DATE_EPOCH': value}
    assert build_epoch(environ) == expected


@pytest.mark.parametrize('value', ['soon', '1.5', '0x10'])
def test_build_epoch_rejects_a_non_integer_source_date_epoch(value):
    with pytest.raises(PayloadValidationError) as info:
        build_epoch({'SOURCE_DATE_EPOCH': value})
    assert info.value.option == 'SOURCE_DATE_EPOCH'
    assert 'SOURCE_DATE_EPOCH' in str(info.value)


def _flip(data, position):
    data = bytearray(data)
    data[position] ^= 0x01
    return bytes(data)


@pytest.mark.parametrize('where', ['first', 'middle', 'last'])
@pytest.mark.parametrize('index', [0, 2, 3], ids=['content', 'content_b64', 'src'])
@pytest.mark.parametrize('device', DEVICES)
def test_a_one_byte_change_in_any_content_changes_the_image(builds, tmp_path, device, index, where):
    files = [dict(f) for f in builds['files']]
    original = parse_payload(files, device=device, label='cidata')
    by_name = {f.name: f for f in original.files}
    with by_name[unicodedata.normalize('NFC', files[index]['name'])].open() as stream:
        data = stream.read()
    position = {'first': 0, 'middle': len(data) // 2, 'last': len(data) - 1}[where]
    changed = _flip(data, position)
    if 'content' in files[index]:
        files[index]['content'] = changed.decode('utf-8')
    elif 'content_b64' in files[index]:
        files[index]['content_b64'] = base64.b64encode(changed).decode()
    else:
        source = tmp_path / 'changed.bin'
        source.write_bytes(changed)
        files[index]['src'] = str(source)
    payload = parse_payload(files, device=device, label='cidata')
    assert payload.digest != original.digest
    image = tmp_path / 'changed.img'
    writer_for(device).write(payload, str(image))
    assert read(image) != read(builds[(device, 'first')])
    assert len(read(image)) == len(read(builds[(device, 'first')]))


@pytest.mark.parametrize('device', DEVICES)
def test_input_order_and_paths_do_not_change_the_image(builds, tmp_path, device):
    files = list(reversed(builds['files']))
    copy = tmp_path / 'elsewhere' / 'another-name.bin'
    copy.parent.mkdir()
    copy.write_bytes(builds['source'].read_bytes())
    files = [dict(f, src=str(copy)) if 'src' in f else f for f in files]
    image = tmp_path / 'sub' / 'other-name.iso'
    image.parent.mkdir()
    writer_for(device).write(parse_payload(files, device=device, label='cidata'), str(image))
    assert read(image) == read(builds[(device, 'first')])


def test_fat_serial_is_stable_for_a_payload_and_differs_between_payloads(builds, image_readers, tmp_path):
    first = image_readers.minfo(builds[('floppy', 'first')])['serial number']
    later = image_readers.minfo(builds[('floppy', 'Asia/Kolkata')])['serial number']
    assert first == later == builds[('floppy', 'payload')].digest[:8].upper()
    serials = {first}
    for variant in ({'label': 'other'}, {'files': builds['files'][:-1]},
                    {'files': builds['files'][:1] + [{'name': 'meta-data', 'content': 'instance-id: vm2\n'}]}):
        args = {'files': builds['files'], 'label': 'cidata'}
        args.update(variant)
        image = tmp_path / ('v%d.img' % len(serials))
        image_readers.build(args['files'], image, device='floppy', label=args['label'])
        serials.add(image_readers.minfo(image)['serial number'])
    assert len(serials) == 4
