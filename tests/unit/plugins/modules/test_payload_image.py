# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""payload_image through Ansible's module entry point: results, check mode, diff, and bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmpayload.core.plugins.modules import payload_image

SECRET = 'hunter2-TOP-SECRET-7f3a'
NOCLOUD = [
    {'name': 'user-data', 'content': '#cloud-config\npassword: %s\n' % SECRET},
    {'name': 'meta-data', 'content': 'instance-id: vm1\n'},
]


def run(capsys, args, check_mode=False, diff=False):
    """Run the module's main(); return (failed, result) parsed from what it prints."""
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args), pytest.raises(SystemExit) as exit_info:
        payload_image.main()
    output = capsys.readouterr().out
    result = json.loads(output)
    assert (exit_info.value.code != 0) == bool(result.get('failed')), output
    return bool(result.get('failed')), result, output


def sha256_of(path):
    with open(path, 'rb') as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def test_builds_image_and_reports_metadata_only(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    assert not failed
    assert result['changed'] is True
    assert result['sha256'] == sha256_of(dest)
    assert result['size'] == dest.stat().st_size
    assert result['label'] == 'cidata'
    assert [f['name'] for f in result['files']] == ['meta-data', 'user-data']
    user_data = NOCLOUD[0]['content'].encode()
    assert result['files'][1] == {'name': 'user-data', 'size': len(user_data),
                                  'sha256': hashlib.sha256(user_data).hexdigest()}
    assert SECRET not in output


def test_second_run_is_unchanged_and_leaves_file_untouched(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    before = dest.stat()
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    assert not failed and result['changed'] is False
    after = dest.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert sorted(os.listdir(tmp_path)) == ['seed.iso']


def test_check_mode_predicts_change_and_writes_nothing(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD), check_mode=True)
    assert not failed and result['changed'] is True
    assert not dest.exists() and os.listdir(tmp_path) == []
    run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD), check_mode=True)
    assert result['changed'] is False


def test_diff_lists_names_sizes_digests_never_content(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    changed_files = [dict(NOCLOUD[0], content=NOCLOUD[0]['content'] + 'ssh_pwauth: true\n'), NOCLOUD[1]]
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=changed_files),
                                 check_mode=True, diff=True)
    assert not failed and result['changed'] is True
    new_hash = hashlib.sha256(changed_files[0]['content'].encode()).hexdigest()
    old_hash = hashlib.sha256(NOCLOUD[0]['content'].encode()).hexdigest()
    assert 'sha256:%s' % old_hash in result['diff']['before']
    assert 'sha256:%s' % new_hash in result['diff']['after']
    assert SECRET not in output and 'ssh_pwauth' not in output


def test_file_attributes_are_applied_and_idempotent(tmp_path, capsys):
    dest = tmp_path / 'seed.img'
    args = dict(dest=str(dest), device='floppy', files=[{'name': 'a.txt', 'content': 'a'}], mode='0600')
    run(capsys, args)
    assert oct(dest.stat().st_mode & 0o777) == '0o600'
    failed, result, output = run(capsys, dict(args, mode='0640'))
    assert result['changed'] is True and oct(dest.stat().st_mode & 0o777) == '0o640'
    failed, result, output = run(capsys, dict(args, mode='0640'))
    assert result['changed'] is False


def test_missing_library_fails_with_install_hint(tmp_path, capsys, monkeypatch):
    from ansible_collections.vmpayload.core.plugins.module_utils._image import iso
    monkeypatch.setattr(iso, 'PYCDLIB_IMPORT_ERROR', 'Traceback: ImportError: No module named pycdlib')
    failed, result, output = run(capsys, dict(dest=str(tmp_path / 'x.iso'), files=NOCLOUD))
    assert failed and 'pycdlib' in result['msg'] and not (tmp_path / 'x.iso').exists()


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / 'fifo'
    os.mkfifo(path)
    return str(path)


def _files(*specs):
    return [dict(spec) for spec in specs]


GOOD = {'name': 'ok.txt', 'content': SECRET}

# (id, arguments to merge over a valid cdrom payload, words the message must contain)
BAD_INPUTS = [
    ('empty-name', dict(files=_files(GOOD, {'name': '', 'content': SECRET})), ['files[1]', 'empty']),
    ('absolute-name', dict(files=_files({'name': '/etc/passwd', 'content': SECRET})), ['/etc/passwd', 'relative']),
    ('dotdot', dict(files=_files({'name': 'a/../b', 'content': SECRET})), ['a/../b', "'..'"]),
    ('dot-segment', dict(files=_files({'name': 'a/./b', 'content': SECRET})), ['a/./b', "'.'"]),
    ('double-slash', dict(files=_files({'name': 'a//b', 'content': SECRET})), ['a//b', 'empty path segment']),
    ('trailing-slash', dict(files=_files({'name': 'dir/', 'content': SECRET})), ['dir/', 'empty path segment']),
    ('nul-in-name', dict(files=_files({'name': 'a\x00b', 'content': SECRET})), ['files[0]', 'U+0000']),
    ('control-in-name', dict(files=_files({'name': 'a\nb', 'content': SECRET})), ['files[0]', 'U+000A']),
    ('backslash', dict(files=_files({'name': 'a\\b', 'content': SECRET})), ['files[0]', "'/'"]),
    ('joliet-forbidden', dict(files=_files({'name': 'what?.txt', 'content': SECRET})), ['what?.txt', 'Joliet']),
    ('joliet-too-long', dict(files=_files({'name': 'x' * 65, 'content': SECRET})), ['files[0]', '64']),
    ('too-deep', dict(files=_files({'name': '/'.join('d%d' % i for i in range(8)) + '/f', 'content': SECRET})),
     ['files[0]', 'directory levels']),
    ('duplicate-after-nfc', dict(files=_files({'name': 'caf\u00e9', 'content': SECRET},
                                              {'name': 'cafe\u0301', 'content': SECRET})), ['files[1]', 'twice']),
    ('file-and-directory', dict(files=_files({'name': 'a', 'content': SECRET}, {'name': 'a/b', 'content': SECRET})),
     ['files[1]', 'cannot also be a directory']),
    ('fat-case-clash', dict(device='floppy', files=_files({'name': 'Readme.txt', 'content': SECRET},
                                                          {'name': 'README.TXT', 'content': SECRET})),
     ['README.TXT', 'case']),
    ('fat-forbidden-char', dict(device='floppy', files=_files({'name': 'a<b', 'content': SECRET})), ['a<b', 'FAT']),
    ('fat-trailing-dot', dict(device='floppy', files=_files({'name': 'name.', 'content': SECRET})),
     ['name.', 'dot']),
    ('two-content-keys', dict(files=_files({'name': 'a', 'content': SECRET, 'content_b64': 'YQ=='})),
     ['mutually exclusive']),
    ('no-content-key', dict(files=_files({'name': 'a'})), ['content', 'src']),
    ('bad-b64-char', dict(files=_files({'name': 'bin', 'content_b64': 'QUJD*EVG'})), ['files[0]', 'offset 4']),
    ('bad-b64-padding', dict(files=_files({'name': 'bin', 'content_b64': 'QQ==QUJD'})), ['files[0]', 'padding']),
    ('truncated-b64', dict(files=_files({'name': 'bin', 'content_b64': 'QUJDRA'})), ['files[0]', 'multiple of 4']),
    ('label-too-long', dict(label='x' * 33), ['label', '32']),
    ('label-bad-char', dict(label='my label'), ['label']),
    ('fat-label-too-long', dict(device='floppy', label='TWELVECHARSX'), ['label', '11']),
    ('fat-label-dot', dict(device='floppy', label='A.B'), ['label']),
    ('max-content-size', dict(max_content_size=4), ['ok.txt', 'max_content_size']),
    ('nocloud-missing-user-data', dict(preset='nocloud', files=_files({'name': 'meta-data', 'content': SECRET})),
     ['nocloud', 'user-data']),
    ('nocloud-label-conflict', dict(preset='nocloud', label='seed',
                                    files=_files({'name': 'meta-data', 'content': 'instance-id: vm1'},
                                                 {'name': 'user-data', 'content': SECRET})), ['label', 'cidata']),
    ('configdrive-outside-openstack', dict(preset='configdrive', files=_files(
        {'name': 'openstack/latest/meta_data.json', 'content': '{}'}, {'name': 'user_data', 'content': SECRET})),
     ['user_data', 'openstack/']),
    ('configdrive-bad-json', dict(preset='configdrive', files=_files(
        {'name': 'openstack/latest/meta_data.json', 'content': '{"uuid": ' + SECRET}),
    ), ['meta_data.json', 'JSON']),
    ('sysprep-missing-answer', dict(preset='sysprep', files=_files({'name': 'setup.cmd', 'content': SECRET})),
     ['sysprep', 'Unattend.xml']),
    ('sysprep-malformed-xml', dict(preset='sysprep', files=_files({'name': 'Unattend.xml',
                                                                   'content': '<unattend>%s' % SECRET})),
     ['Unattend.xml', 'XML']),
    ('src-missing', dict(files=_files({'name': 'a', 'src': '/nonexistent/vmpayload/file'})),
     ['/nonexistent/vmpayload/file', 'does not exist']),
    ('src-relative', dict(files=_files({'name': 'a', 'src': 'relative/file'})), ['relative/file', 'absolute']),
    ('src-directory', dict(files=_files({'name': 'a', 'src': '/etc'})), ['/etc', 'not a regular file']),
    ('src-unreadable', dict(files=_files({'name': 'a', 'src': '/proc/self/mem'})), ['/proc/self/mem', 'cannot be read']),
    ('floppy-too-small', dict(device='floppy', files=_files({'name': 'big.bin',
                                                             'content_b64': base64.b64encode(b'\0' * 1500000).decode()})),
     ['size', 'auto']),
    ('floppy-bad-size', dict(device='floppy', size='3M5'), ['size']),
    ('size-on-cdrom', dict(size='2880K'), ['size', 'floppy']),
    ('floppy-root-full', dict(device='floppy', files=_files(*[{'name': 'a-long-file-name-%03d.txt' % i, 'content': 'x'}
                                                              for i in range(80)])), ['root directory']),
]


@pytest.mark.parametrize('dest_state', ['absent', 'existing'])
@pytest.mark.parametrize('case_id,overrides,words', BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_fails_clearly_and_leaves_dest_as_it_was(tmp_path, capsys, case_id, overrides, words, dest_state):
    dest = tmp_path / 'payload.img'
    if dest_state == 'existing':
        run(capsys, dict(dest=str(dest), device=overrides.get('device', 'cdrom'), files=[GOOD]))
        before = (dest.read_bytes(), dest.stat().st_mtime_ns)
    args = dict(dict(dest=str(dest), files=[GOOD]), **overrides)
    failed, result, output = run(capsys, args)
    assert failed, output
    for word in words:
        assert word in result['msg'], result['msg']
    assert SECRET not in output
    if dest_state == 'absent':
        assert not dest.exists()
    else:
        assert (dest.read_bytes(), dest.stat().st_mtime_ns) == before
    assert sorted(os.listdir(tmp_path)) == (['payload.img'] if dest_state == 'existing' else [])


def test_bad_input_corpus_is_large_enough():
    assert len(BAD_INPUTS) >= 30


def test_dest_is_a_directory(tmp_path, capsys):
    failed, result, output = run(capsys, dict(dest=str(tmp_path), files=[GOOD]))
    assert failed and 'is a directory' in result['msg'] and result['option'] == 'dest'
    assert os.listdir(tmp_path) == []


def test_dest_parent_missing(tmp_path, capsys):
    failed, result, output = run(capsys, dict(dest=str(tmp_path / 'no' / 'x.iso'), files=[GOOD]))
    assert failed and 'does not exist' in result['msg']
    assert os.listdir(tmp_path) == []


def test_dest_unwritable(tmp_path, capsys):
    if os.geteuid() == 0:
        # root passes permission checks everywhere; sysfs refuses to create files even for root.
        dest = '/sys/vmpayload-test.iso'
    else:
        locked = tmp_path / 'locked'
        locked.mkdir(mode=0o500)
        dest = str(locked / 'x.iso')
    failed, result, output = run(capsys, dict(dest=dest, files=[GOOD]))
    assert failed and os.path.dirname(dest) in result['msg']
    assert not os.path.exists(dest)


def test_fifo_src_is_rejected_without_blocking(tmp_path, capsys, fifo):
    failed, result, output = run(capsys, dict(dest=str(tmp_path / 'x.iso'), files=[{'name': 'a', 'src': fifo}]))
    assert failed and 'not a regular file' in result['msg']


def test_image_is_readable_by_isoinfo(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    listing = subprocess.run(['isoinfo', '-R', '-f', '-i', str(dest)], check=True, capture_output=True,
                             text=True).stdout.split()
    assert sorted(listing) == ['/meta-data', '/user-data']
