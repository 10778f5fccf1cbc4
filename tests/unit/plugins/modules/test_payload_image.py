# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""payload_image through Ansible's module entry point: results, check mode, diff, and bad input."""

from __future__ import annotations

import base64
import fcntl
import grp
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_args import patch_module_args

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
     ['files[0] "a"', 'give exactly one of content, content_b64, src (got content, content_b64)']),
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


def test_a_src_root_cannot_read_fails_naming_the_option_and_the_reason(tmp_path, capsys, src_nobody_can_read):
    """CI runs as root, which reads a chmod 000 file: this src is refused to root as well (a write-only sysctl)."""
    dest = tmp_path / 'payload.img'
    failed, result, output = run(capsys, dict(dest=str(dest), files=[GOOD, {'name': 'locked', 'src': src_nobody_can_read}]))
    assert failed, output
    assert (result['option'], result['file']) == ('files[1].src', 'locked'), result
    assert result['msg'] == 'files[1] "locked": src "%s" cannot be read: Permission denied' % src_nobody_can_read
    assert SECRET not in output and os.listdir(tmp_path) == []


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


# File modes: the image is private while it is built and has its final attributes before the rename,
# as a new file 0600 unless mode says otherwise; an existing file keeps its mode, as copy does.

@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _other_group():
    """A group other than the effective one that this process may give a file to."""
    candidates = [entry.gr_gid for entry in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    return next((gid for gid in sorted(candidates) if gid != os.getegid()), os.getegid())


class AccessRecorder:
    """Records the mode, owner and group of the new image at the rename onto dest and after each change that follows."""

    def __init__(self, monkeypatch, dest):
        self.dest = str(dest)
        self.seen = []
        self.renamed = False
        for name in ('rename', 'chmod', 'chown', 'lchown'):
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name), name))

    def _record(self, path):
        info = os.stat(path)
        self.seen.append((stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid))

    def _wrap(self, real, name):
        def observed(path, *args, **kwargs):
            if name == 'rename' and os.fsdecode(args[0]) == self.dest:
                self._record(path)
                self.renamed = True
            real(path, *args, **kwargs)
            if name != 'rename' and self.renamed and os.fsdecode(path) == self.dest:
                self._record(path)
        return observed


@pytest.mark.usefixtures('umask_022')
def test_new_image_is_private_by_default(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    assert not failed and result['mode'] == '0600'
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert os.umask(0o022) == 0o022, 'the module left its umask behind'


# (id, mode of an existing dest or None, the mode option, the final mode)
ACCESS_CASES = [
    ('new-0640', None, '0640', 0o640),
    ('new-default', None, None, 0o600),
    ('existing-0644-to-0600', 0o644, '0600', 0o600),
    ('existing-0644-kept', 0o644, None, 0o644),
]


@pytest.mark.usefixtures('umask_022')
@pytest.mark.parametrize('case_id,before,mode,final', ACCESS_CASES, ids=[case[0] for case in ACCESS_CASES])
def test_image_is_never_at_dest_with_more_access_than_its_final_attributes(tmp_path, capsys, monkeypatch, case_id, before, mode, final):
    dest = tmp_path / 'seed.iso'
    if before is not None:
        run(capsys, dict(dest=str(dest), files=[GOOD]))
        dest.chmod(before)
    group = _other_group()
    args = dict(dest=str(dest), preset='nocloud', files=NOCLOUD, group=str(group))
    if mode is not None:
        args['mode'] = mode
    recorder = AccessRecorder(monkeypatch, dest)
    failed, result, output = run(capsys, args)
    monkeypatch.undo()
    assert not failed and result['changed'] is True, output
    info = dest.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_gid) == (final, group)
    assert recorder.seen, 'the rename onto dest was not observed'
    # At the rename the temporary file already has the final mode and group.
    assert recorder.seen[0] == (final, info.st_uid, group), recorder.seen
    for seen_mode, seen_uid, seen_gid in recorder.seen:
        assert seen_mode & ~final == 0, (oct(seen_mode), recorder.seen)
        assert seen_mode & 0o070 == 0 or seen_gid == group, recorder.seen


@pytest.mark.usefixtures('umask_022')
def test_existing_image_keeps_its_mode_when_rewritten_without_mode(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    run(capsys, dict(dest=str(dest), files=[GOOD]))
    dest.chmod(0o644)
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    assert not failed and result['changed'] is True and result['mode'] == '0644'
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD))
    assert not failed and result['changed'] is False and stat.S_IMODE(dest.stat().st_mode) == 0o644


# Temporary files a killed run left: .<dest's name>.<random>.partial, holding the payload.

STALE = '.seed.iso.abc123.partial'


def _stale_and_decoys(directory):
    """Write a stale temporary file of seed.iso and files a cleanup must leave alone.

    Return the decoys (name: kind) and the file outside ``directory`` that the symbolic link decoy points to.
    """
    (directory / STALE).write_text(SECRET)
    (directory / STALE).chmod(0o600)
    decoys = {
        '.seed.iso.bak': 'file',
        '.other.iso.x1y2z3.partial': 'file',
        '.seed.iso.x.k9m8n7.partial': 'file',  # a temporary file of dest seed.iso.x
        '.seed.iso.partial': 'file',
        'seed.iso.q1w2e3.partial': 'file',
        '.seed.iso.link01.partial': 'symlink',
        '.seed.iso.dir001.partial': 'directory',
        '.seed.iso.fifo01.partial': 'fifo',
        '.seed.iso.live01.partial': 'live',
    }
    if os.geteuid() == 0:
        decoys['.seed.iso.other1.partial'] = 'other-owner'
    outside = directory.parent / ('%s-link-target' % directory.name)
    outside.write_text(SECRET)
    for name, kind in decoys.items():
        path = directory / name
        if kind == 'symlink':
            path.symlink_to(outside)
        elif kind == 'directory':
            path.mkdir()
        elif kind == 'fifo':
            os.mkfifo(path)
        else:
            path.write_text(SECRET)
        if kind == 'other-owner':
            os.chown(path, 65534, 65534)
    return decoys, outside


@pytest.fixture
def live_partial():
    """Hold the lock a build holds on its temporary file, as a concurrent run of the same dest would."""
    def hold(path):
        descriptor = os.open(path, os.O_RDWR)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        held.append(descriptor)
    held = []
    yield hold
    for descriptor in held:
        os.close(descriptor)


@pytest.mark.parametrize('second_run', ['changing', 'unchanged'])
def test_a_run_removes_the_temporary_files_a_killed_run_of_its_dest_left(tmp_path, capsys, monkeypatch, live_partial, second_run):
    images = tmp_path / 'images'
    images.mkdir()
    dest = images / 'seed.iso'
    args = dict(dest=str(dest), preset='nocloud', files=NOCLOUD)
    run(capsys, args if second_run == 'unchanged' else dict(dest=str(dest), files=[GOOD]))
    decoys, outside = _stale_and_decoys(images)
    live_partial(images / '.seed.iso.live01.partial')

    # Where a warning goes depends on what else this process imported (the controller's display once a
    # controller module is loaded): record the module's warnings at the source.
    warnings, real_warn = [], AnsibleModule.warn

    def recording_warn(module, warning, **kwargs):
        warnings.append(warning)
        real_warn(module, warning, **kwargs)

    monkeypatch.setattr(AnsibleModule, 'warn', recording_warn)
    failed, result, output = run(capsys, args)
    assert not failed and result['changed'] is (second_run == 'changing'), output
    assert not (images / STALE).exists()
    assert sorted(os.listdir(images)) == sorted(['seed.iso'] + list(decoys))
    assert outside.read_text() == SECRET and os.readlink(images / '.seed.iso.link01.partial') == str(outside)
    assert (images / '.seed.iso.live01.partial').read_text() == SECRET
    assert warnings == ['removed 1 temporary file that an interrupted run left beside %s: %s' % (dest, images / STALE)]
    assert SECRET not in output


def test_check_mode_leaves_temporary_files_for_the_next_run(tmp_path, capsys):
    dest = tmp_path / 'seed.iso'
    (tmp_path / STALE).write_text(SECRET)
    failed, result, output = run(capsys, dict(dest=str(dest), preset='nocloud', files=NOCLOUD), check_mode=True)
    assert not failed and result['changed'] is True
    assert sorted(os.listdir(tmp_path)) == [STALE]


def test_a_temporary_file_removed_as_stale_before_it_was_locked_is_replaced(tmp_path, monkeypatch):
    """A concurrent run's cleanup can take a new temporary file between its creation and its lock."""
    from ansible_collections.vmpayload.core.plugins.module_utils._image import image_file
    real_flock, taken = fcntl.flock, []

    def cleanup_first(descriptor, operation):
        if not taken:
            (path,) = tmp_path.iterdir()
            taken.append(path.name)
            path.unlink()
        real_flock(descriptor, operation)

    monkeypatch.setattr(image_file.fcntl, 'flock', cleanup_first)
    descriptor, temporary = image_file._locked_temporary(str(tmp_path), str(tmp_path / 'seed.iso'))
    try:
        assert taken and os.listdir(tmp_path) == [os.path.basename(temporary)]
        assert os.path.samestat(os.fstat(descriptor), os.stat(temporary))
    finally:
        os.close(descriptor)


KILLED_BEFORE_RENAME = r'''
import json, os, signal, sys
from ansible.module_utils.basic import AnsibleModule
from module_args import patch_module_args
from ansible_collections.vmpayload.core.plugins.modules import payload_image

def stop_before_rename(self, src, dest, **kwargs):
    os.close(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT, 0o600))
    while True:
        signal.pause()

AnsibleModule.atomic_move = stop_before_rename
with open(sys.argv[1]) as stream, patch_module_args(json.load(stream)):
    payload_image.main()
'''


def test_sigkill_just_before_the_rename_leaves_a_secret_that_the_next_run_removes(tmp_path, capsys):
    """A real SIGKILL at the worst moment: the whole image built in the temporary file, not yet renamed."""
    images = tmp_path / 'images'
    images.mkdir()
    dest = images / 'seed.iso'
    args = dict(dest=str(dest), preset='nocloud', files=NOCLOUD)
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps(args))
    ready = tmp_path / 'ready'
    with (tmp_path / 'stderr').open('w') as errors:
        child = subprocess.Popen([sys.executable, '-c', KILLED_BEFORE_RENAME, str(args_file), str(ready)],
                                 env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
                                 stdout=subprocess.DEVNULL, stderr=errors)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), (tmp_path / 'stderr').read_text() or 'not at the rename within 120 s'
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    (partial,) = os.listdir(images)
    assert partial.startswith('.seed.iso.') and partial.endswith('.partial')
    assert SECRET.encode() in (images / partial).read_bytes()

    failed, result, output = run(capsys, args)
    assert not failed and result['changed'] is True
    assert os.listdir(images) == ['seed.iso']
    assert result['sha256'] == sha256_of(dest)
