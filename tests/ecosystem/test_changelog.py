# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Changelog gate: the fragments lint clean, and releasing them gives release notes that say what they say.

The release runs on a copy of the tree: `antsibull-changelog release` consumes the fragments
(keep_fragments is false) and rewrites changelogs/changelog.yaml, which is the maintainer's step when a
version ships, not the test's. `antsibull-changelog generate` would leave the tree alone but only renders
versions already released, so it cannot show unreleased fragments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# What a release needs from the tree: the collection's metadata, its plugins and roles (antsibull-changelog
# lists the new ones), and the changelog configuration with the fragments.
RELEASE_INPUTS = ('galaxy.yml', 'meta', 'plugins', 'roles', 'changelogs')


def changelog_env():
    """The project's venv first on PATH: antsibull-changelog runs ansible-doc to find new plugins."""
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get('PATH', '')]))
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(REPO / '.build' / 'collections'))
    return env


def run_changelog(args, cwd):
    command = [str(VENV_BIN / 'antsibull-changelog')] + args
    result = subprocess.run(command, cwd=cwd, env=changelog_env(), capture_output=True, text=True, check=False)
    assert result.returncode == 0, '%s exited %d\n%s\n%s' % (
        ' '.join(command), result.returncode, result.stdout, result.stderr)
    return result


def one_line(text):
    return ' '.join(text.split())


def fragment_entries():
    """(section, text) for every entry of every fragment."""
    entries = []
    for path in sorted((REPO / 'changelogs' / 'fragments').glob('*.y*ml')):
        for section, content in yaml.safe_load(path.read_text(encoding='utf-8')).items():
            for text in [content] if isinstance(content, str) else content:
                entries.append((section, text))
    return entries


def test_changelog_lint():
    result = run_changelog(['lint'], cwd=REPO)
    assert result.stdout.strip() == '', result.stdout


def test_changelog_yaml_lint():
    result = run_changelog(['lint-changelog-yaml', 'changelogs/changelog.yaml'], cwd=REPO)
    assert result.stdout.strip() == '', result.stdout


def test_release_notes_hold_every_fragment(tmp_path):
    tree = tmp_path / 'collection'
    for name in RELEASE_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tree / name)
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(source, tree / name)
    version = yaml.safe_load((REPO / 'galaxy.yml').read_text(encoding='utf-8'))['version']

    run_changelog(['release', '--version', version, '--date', '2000-01-01'], cwd=tree)

    notes = one_line((tree / 'CHANGELOG.rst').read_text(encoding='utf-8'))
    assert 'v%s' % version in notes
    entries = fragment_entries()
    assert entries, 'no changelog fragments'
    assert [text for _fragment, text in entries if one_line(text) not in notes] == []
    # The new modules, filters and roles are listed by antsibull-changelog from their version_added.
    for heading in ('New Modules', 'New Plugins', 'New Roles'):
        assert heading in notes
    assert 'vmpayload.core.payload_staging' in notes
