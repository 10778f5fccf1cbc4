# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run each integration target and the shipped playbooks through a real ansible-playbook."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = sorted(p.name for p in (ROOT / 'tests' / 'integration' / 'targets').iterdir() if p.is_dir())
RECAP = re.compile(r'^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.M)


def ansible_playbook(playbook, *extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    command = [str(Path(sys.executable).with_name('ansible-playbook')), '-i', 'localhost,', '-c', 'local',
               '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook), *extra]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    return completed


def recap(output):
    match = RECAP.search(output)
    assert match, output
    ok, changed, unreachable, failed = (int(group) for group in match.groups())
    return dict(ok=ok, changed=changed, unreachable=unreachable, failed=failed)


@pytest.mark.parametrize('target', TARGETS)
def test_integration_target(target, tmp_path):
    playbook = tmp_path / 'run.yml'
    playbook.write_text(
        '- hosts: localhost\n'
        '  gather_facts: false\n'
        '  vars:\n'
        '    output_dir: %s\n'
        '  tasks:\n'
        '    - ansible.builtin.import_tasks: %s\n'
        % (tmp_path, ROOT / 'tests' / 'integration' / 'targets' / target / 'tasks' / 'main.yml'))
    completed = ansible_playbook(playbook)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert recap(completed.stdout)['failed'] == 0


def test_playbook_second_run_changes_nothing(tmp_path):
    """The README's idempotence promise, through ansible-playbook: changed=0 and the image untouched."""
    dest = tmp_path / 'seed.iso'
    playbook = tmp_path / 'seed.yml'
    playbook.write_text(
        '- hosts: localhost\n'
        '  gather_facts: false\n'
        '  tasks:\n'
        '    - vmpayload.core.payload_image:\n'
        '        dest: %s\n'
        '        preset: nocloud\n'
        '        files:\n'
        '          - {name: user-data, content: "#cloud-config\\n"}\n'
        '          - {name: meta-data, content: "instance-id: i-1\\n"}\n'
        '      register: seed\n'
        % dest)
    first = ansible_playbook(playbook)
    assert first.returncode == 0 and recap(first.stdout)['changed'] == 1, first.stdout + first.stderr
    stamp = dest.stat().st_mtime_ns
    second = ansible_playbook(playbook)
    assert second.returncode == 0 and recap(second.stdout)['changed'] == 0, second.stdout + second.stderr
    assert dest.stat().st_mtime_ns == stamp
