# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``src`` is read once: hashed while it is copied into a private directory, and images are built
from the copy, so an image holds exactly the bytes the payload's digest was taken of, whatever
happens to ``src`` between validation and the build (issue 10, item 7)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import tracemalloc

import pytest
from module_args import patch_module_args

from ansible_collections.vmpayload.core.plugins.module_utils._image import image_file
from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
from ansible_collections.vmpayload.core.plugins.module_utils._image.reader import read_image
from ansible_collections.vmpayload.core.plugins.module_utils._payload import model
from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    ImageWriteError,
    PayloadValidationError,
)
from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import parse_payload, staged_payload
from ansible_collections.vmpayload.core.plugins.modules import payload_image

SMALL = b'validated bytes\n' * 4096
# More than a chunk, and more than a file held in memory: copied to a file, hashed in a second thread.
LARGE = bytes(range(256)) * (3 * 4096) + b'tail'
SIZES = {'held': SMALL, 'on-disk': LARGE}
SECRET = 'hunter2-SRC-COPY-9c1e'


def _rewrite(path):
    """Other bytes of the same size, written into the same file."""
    with open(path, 'r+b') as stream:
        stream.write(b'X' * os.path.getsize(path))


def _replace(path):
    """Another file renamed onto ``path``, as an editor or a deployment tool saves it."""
    other = path + '.new'
    with open(other, 'wb') as stream:
        stream.write(b'another file, longer than the first one\n' * 4096)
    os.replace(other, path)


def _truncate(path):
    with open(path, 'r+b') as stream:
        stream.truncate(100)


CHANGES = {'rewritten': _rewrite, 'replaced': _replace, 'truncated': _truncate, 'removed': os.unlink}


def _source(tmp_path, data=LARGE):
    path = tmp_path / 'agent.bin'
    path.write_bytes(data)
    return str(path)


def _run_module(capsys, args):
    with patch_module_args(dict(args, _ansible_check_mode=False, _ansible_diff=False)), pytest.raises(SystemExit):
        payload_image.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('change', sorted(CHANGES))
@pytest.mark.parametrize('device', ['cdrom', 'floppy'])
@pytest.mark.parametrize('size', sorted(SIZES))
def test_payload_image_builds_the_bytes_it_hashed_when_src_changes_before_the_build(
        tmp_path, capsys, monkeypatch, size, device, change):
    """The src changes after validation (here: when the writer is picked), before the image is written.

    Before the single read, the writer opened src again: the image held the new bytes (or pycdlib
    failed on a removed file, or the FAT writer on a shorter one) under the old digest.
    """
    original = SIZES[size]
    source = _source(tmp_path, original)
    real_writer_for = image_file.writer_for

    def change_src_then_pick_the_writer(*args, **kwargs):
        CHANGES[change](source)
        return real_writer_for(*args, **kwargs)

    monkeypatch.setattr(image_file, 'writer_for', change_src_then_pick_the_writer)
    dest = tmp_path / 'payload.img'
    args = dict(dest=str(dest), device=device, files=[{'name': 'agent.bin', 'src': source}])
    if device == 'floppy':
        args['size'] = 'auto'
    result = _run_module(capsys, args)
    assert not result.get('failed'), result['msg']
    recorded = result['files'][0]
    assert recorded == {'name': 'agent.bin', 'size': len(original), 'sha256': hashlib.sha256(original).hexdigest()}
    written = read_image(str(dest), with_content=True)['files'][0]
    assert hashlib.sha256(written['content']).hexdigest() == recorded['sha256']
    assert written['content'] == original


@pytest.mark.parametrize('change', ['rewritten', 'replaced', 'truncated'])
@pytest.mark.parametrize('device', ['cdrom', 'floppy'])
@pytest.mark.parametrize('size', sorted(SIZES))
def test_a_writer_given_a_payload_without_copies_refuses_a_src_that_changed(tmp_path, size, device, change):
    """parse_payload alone only hashes (as the digest filter needs); the writer copies, and checks the copy."""
    source = _source(tmp_path, SIZES[size])
    payload = parse_payload([{'name': 'agent.bin', 'src': source}], device=device)
    CHANGES[change](source)
    image = tmp_path / 'payload.img'
    with pytest.raises(ImageWriteError) as raised:
        writer_for(device, size='auto' if device == 'floppy' else None).write(payload, str(image))
    message = str(raised.value)
    assert message.startswith('files[0] "agent.bin": src %s changed after it was validated' % json.dumps(source))
    assert 'run again' in message


@pytest.mark.parametrize('device', ['cdrom', 'floppy'])
@pytest.mark.parametrize('size', sorted(SIZES))
def test_a_writer_given_a_payload_without_copies_builds_an_unchanged_src(tmp_path, size, device):
    source = _source(tmp_path, SIZES[size])
    payload = parse_payload([{'name': 'agent.bin', 'src': source}], device=device)
    assert (payload.files[0].copy, payload.files[0].held) == (None, None)
    image = tmp_path / 'payload.img'
    writer_for(device, size='auto' if device == 'floppy' else None).write(payload, str(image))
    assert read_image(str(image), with_content=True)['files'][0]['content'] == SIZES[size]


def _watch_private_directories(monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs):
        made.append(real_mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, 'mkdtemp', mkdtemp)
    return made


def _all_removed(made):
    """A private directory was made, and none is left. A run makes it again when a concurrent run's cleanup
    removed it between its creation and its lock (private_dir.PrivateDir), so there may be more than one."""
    return bool(made) and not any(os.path.exists(path) for path in made)


def test_copies_are_private_and_removed_on_leaving(tmp_path, monkeypatch):
    made = _watch_private_directories(monkeypatch)
    source = _source(tmp_path)
    with staged_payload([{'name': 'a', 'src': source}, {'name': 'b', 'content': SECRET}]) as payload:
        copy = payload.files[0].copy
        assert os.path.dirname(copy) == made[0]
        assert stat.S_IMODE(os.stat(made[0]).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
        assert (payload.files[0].src, payload.files[0].held) == (source, None)
        with payload.files[0].open() as stream:
            assert stream.read() == LARGE
    assert not os.path.exists(made[0])


def test_a_payload_without_src_makes_no_directory(monkeypatch):
    made = _watch_private_directories(monkeypatch)
    with staged_payload([{'name': 'b', 'content': SECRET}]) as payload:
        assert payload.files[0].data == SECRET.encode()
    assert made == []


def test_small_src_files_are_held_in_memory_up_to_a_total(tmp_path, monkeypatch):
    """A file up to HOLD_FILE_MAX is held while the held ones total at most HOLD_TOTAL_MAX; then copied to a file."""
    made = _watch_private_directories(monkeypatch)
    monkeypatch.setattr(model, 'HOLD_TOTAL_MAX', 2 * len(SMALL))
    specs = []
    for index in range(3):
        path = tmp_path / ('small%d' % index)
        path.write_bytes(SMALL)
        specs.append({'name': path.name, 'src': str(path)})
    big = tmp_path / 'big'
    big.write_bytes(SMALL * 17)
    with staged_payload(specs + [{'name': 'big', 'src': str(big)}]) as payload:
        files = {f.name: f for f in payload.files}
        assert [files[name].held is not None for name in ('small0', 'small1', 'small2', 'big')] == [True, True, False, False]
        assert files['small0'].held == SMALL and files['small0'].data is None
        assert [os.path.basename(files[name].copy) for name in ('small2', 'big')] == ['0', '1']
        for path in (tmp_path / 'small0', tmp_path / 'small2', big):
            path.write_bytes(b'changed')
        for f in payload.files:
            with f.open() as stream:
                assert hashlib.sha256(stream.read()).hexdigest() == f.sha256
    assert _all_removed(made)


def test_a_held_src_is_not_checked_as_inline_content(tmp_path):
    """Presets check inline JSON and XML only; a src file, held or not, is carried as it is."""
    path = tmp_path / 'meta_data.json'
    path.write_bytes(b'{not json')
    with staged_payload([{'name': 'openstack/latest/meta_data.json', 'src': str(path)}], preset='configdrive') as payload:
        assert payload.files[0].held == b'{not json'


def test_copies_are_removed_when_the_build_fails(tmp_path, monkeypatch):
    made = _watch_private_directories(monkeypatch)
    with pytest.raises(RuntimeError):
        with staged_payload([{'name': 'a', 'src': _source(tmp_path)}]):
            raise RuntimeError('the build failed')
    assert _all_removed(made)


def test_copies_are_removed_when_a_later_file_is_refused(tmp_path, monkeypatch):
    made = _watch_private_directories(monkeypatch)
    with pytest.raises(PayloadValidationError) as raised:
        with staged_payload([{'name': 'a', 'src': _source(tmp_path)}, {'name': 'b', 'src': str(tmp_path / 'absent')}]):
            pass
    assert raised.value.option == 'files[1].src'
    assert _all_removed(made)


def test_a_read_failure_names_the_file_and_option():
    with pytest.raises(PayloadValidationError) as raised:
        with staged_payload([{'name': 'mem', 'src': '/proc/self/mem'}]):
            pass
    assert (raised.value.option, raised.value.file) == ('files[0].src', 'mem')
    assert str(raised.value).startswith('files[0] "mem": src "/proc/self/mem" cannot be read: ')


def test_a_copy_that_cannot_be_written_names_the_file(tmp_path, monkeypatch):
    def no_space(descriptor, view):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(model, '_write_all', no_space)
    source = _source(tmp_path)
    with pytest.raises(ImageWriteError) as raised:
        with staged_payload([{'name': 'a', 'src': source}]):
            pass
    assert str(raised.value).startswith('files[0] "a": src %s cannot be copied into ' % json.dumps(source))
    assert str(raised.value).endswith(': No space left on device')


def test_a_too_large_src_is_refused_before_it_is_copied(tmp_path, monkeypatch):
    made = _watch_private_directories(monkeypatch)
    with pytest.raises(PayloadValidationError) as raised:
        with staged_payload([{'name': 'a', 'src': _source(tmp_path)}], max_content_size=10):
            pass
    assert raised.value.option == 'files[0].src' and 'max_content_size' in str(raised.value)
    assert made == []


def test_src_is_copied_in_chunks_not_held_in_memory(tmp_path):
    source = tmp_path / 'big.bin'
    data = os.urandom(24 * 1024 * 1024 + 3)
    source.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    del data
    tracemalloc.start()
    try:
        with staged_payload([{'name': 'big', 'src': str(source)}]) as payload:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            f = payload.files[0]
            assert (f.size, f.sha256, f.data) == (24 * 1024 * 1024 + 3, expected, None)
            with f.open() as copy:
                digest = hashlib.sha256()
                for chunk in iter(lambda: copy.read(1024 * 1024), b''):
                    digest.update(chunk)
            assert digest.hexdigest() == expected
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_a_failure_in_the_hashing_thread_fails_the_read_and_does_not_hang(tmp_path, monkeypatch):
    source = tmp_path / 'big.bin'
    source.write_bytes(b'x' * (3 * 1024 * 1024 + 1))
    real_add = model._Sha256.add

    def add(self, buffer, count):
        if isinstance(self, model._ThreadedSha256):
            raise MemoryError('no memory for the hash')
        real_add(self, buffer, count)

    monkeypatch.setattr(model._Sha256, 'add', add)
    made = _watch_private_directories(monkeypatch)
    with pytest.raises(MemoryError):
        with staged_payload([{'name': 'big', 'src': str(source)}]):
            pass
    assert _all_removed(made)
