# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private working directories: a killed run's is removed by the next run, a live run's never is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import (
    SRC_COPIES_PREFIX,
    WORK_PREFIX,
    PrivateDir,
    remove_stale,
)


def _killed_run_left(parent):
    """A process that makes a PrivateDir, writes a secret into it, and is killed with SIGKILL."""
    script = textwrap.dedent('''
        import os, sys
        from ansible_collections.vmpayload.core.plugins.module_utils._payload.private_dir import PrivateDir
        work = PrivateDir(%r, %r)
        with open(os.path.join(work.path, 'image'), 'w') as image:
            image.write('secret')
        print(work.path, flush=True)
        sys.stdin.read()
    ''' % (WORK_PREFIX, str(parent)))
    # This process's sys.path: ansible-test units finds the collection elsewhere than PYTHONPATH says.
    run = subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path)))
    path = run.stdout.readline().strip()
    assert remove_stale(str(parent)) == [], 'a live run\'s directory was removed'
    run.send_signal(signal.SIGKILL)
    run.wait()
    return path


def test_a_killed_runs_directory_is_removed_and_a_live_ones_is_not(tmp_path):
    left = _killed_run_left(tmp_path)
    assert os.path.isfile(os.path.join(left, 'image'))
    with PrivateDir(SRC_COPIES_PREFIX, str(tmp_path)) as live:
        assert oct(os.stat(live.path).st_mode & 0o777) == '0o700'
        assert remove_stale(str(tmp_path)) == [left]
        assert os.path.isdir(live.path) and not os.path.exists(left)
    assert not os.path.exists(live.path)


def test_only_this_users_directories_of_the_collections_prefixes_are_removed(tmp_path):
    target = tmp_path / 'elsewhere'
    target.mkdir()
    (tmp_path / (WORK_PREFIX + 'link')).symlink_to(target)
    (tmp_path / (WORK_PREFIX + 'file')).write_text('x')
    (tmp_path / 'vmpayload-other-dir').mkdir()
    (tmp_path / 'not-ours').mkdir()
    foreign = tmp_path / (SRC_COPIES_PREFIX + 'foreign')
    foreign.mkdir()
    if os.geteuid() == 0:
        os.chown(foreign, 65534, 65534)
        expected = []
    else:
        expected = [str(foreign)]
    assert remove_stale(str(tmp_path)) == expected
    assert target.is_dir() and (tmp_path / (WORK_PREFIX + 'file')).is_file()
    assert (tmp_path / 'vmpayload-other-dir').is_dir() and (tmp_path / 'not-ours').is_dir()
    assert foreign.exists() is (os.geteuid() == 0)
