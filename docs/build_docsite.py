# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Build the collection's docsite into docs/build/html, offline, the way antsibull-docs lays it out.

usage: python docs/build_docsite.py [OUTDIR]   (`make docs`; the collection must be on
ANSIBLE_COLLECTIONS_PATH, as the Makefile arranges)

The steps are those of the build.sh that `antsibull-docs sphinx-init` writes: sphinx-init for the Sphinx
configuration, `antsibull-docs collection` for the RST of every module, filter and role plus the
extra docs in docs/docsite, then sphinx-build. Two things differ, both because the build runs without
network access:

- intersphinx is switched off: it would try to fetch the Python, Jinja and Ansible inventories and warn
  when it cannot.
- Without those inventories, references into the Ansible docsite (ansible.builtin plugins,
  "common return values", ...) stay unresolved. They are the only warnings tolerated; any other
  warning, among them any unresolved reference to this collection, fails the build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

COLLECTION = 'vmpayload.core'
DOCS_DIR = Path(__file__).resolve().parent

# A warning Sphinx writes for a :ref: whose target is not in this build.
UNRESOLVED_REF = re.compile(r"WARNING: undefined label: '(?P<label>[^']+)'")

OFFLINE_CONF = '''
# Added by docs/build_docsite.py: the build runs offline, so intersphinx could only warn.
intersphinx_mapping = {}
'''


# The project's venv: the tools, and the ansible and ansible-doc that antsibull-docs looks up on PATH.
VENV_BIN = Path(sys.executable).parent


def tool(name):
    return str(VENV_BIN / name)


def run(command):
    """Run a build step; a failing step stops the build with that step's exit status."""
    print('+ ' + ' '.join(command), flush=True)
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get('PATH', '')]))
    status = subprocess.run(command, env=env, check=False).returncode
    if status:
        raise SystemExit(status)


def fresh_dir(path):
    """An empty directory only its owner may write to, as antsibull-docs demands of its output directories."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    path.chmod(0o755)


def is_tolerated(warning_line):
    """Whether a warning is an unresolved reference into the Ansible docsite, which intersphinx resolves online."""
    match = UNRESOLVED_REF.search(warning_line)
    return bool(match) and COLLECTION not in match.group('label')


def build(out_dir):
    site_dir = out_dir / 'sphinx'
    html_dir = out_dir / 'html'
    warnings_file = out_dir / 'sphinx-warnings.log'
    fresh_dir(site_dir)
    shutil.rmtree(html_dir, ignore_errors=True)
    run([tool('antsibull-docs'), 'sphinx-init', '--use-current', '--squash-hierarchy', '--fail-on-error',
         '--no-add-antsibull-docs-version', '--project', COLLECTION, '--copyright', 'vmpayload.core contributors',
         '--title', COLLECTION + ' documentation', '--dest-dir', str(site_dir), COLLECTION])
    with open(site_dir / 'conf.py', 'a', encoding='utf-8') as conf:
        conf.write(OFFLINE_CONF)
    rst_dir = site_dir / 'rst'
    rst_dir.chmod(0o755)
    run([tool('antsibull-docs'), '--config-file', str(site_dir / 'antsibull-docs.cfg'), 'collection',
         '--use-current', '--squash-hierarchy', '--fail-on-error', '--cleanup', 'everything',
         '--dest-dir', str(rst_dir), COLLECTION])
    run([tool('sphinx-build'), '--builder', 'html', '--conf-dir', str(site_dir), '--warning-file', str(warnings_file),
         '--keep-going', str(rst_dir), str(html_dir)])
    warnings = [line for line in warnings_file.read_text(encoding='utf-8').splitlines() if 'WARNING' in line]
    tolerated = [line for line in warnings if is_tolerated(line)]
    avoidable = [line for line in warnings if not is_tolerated(line)]
    if tolerated:
        print('%d reference(s) into the Ansible docsite left unresolved offline (intersphinx is off):' % len(tolerated))
        print('\n'.join(tolerated))
    if avoidable:
        print('%d warning(s) to fix:' % len(avoidable), file=sys.stderr)
        print('\n'.join(avoidable), file=sys.stderr)
        return 1
    print('docsite built in %s' % html_dir)
    return 0


def main():
    out_dir = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else DOCS_DIR / 'build'
    out_dir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get('ANSIBLE_COLLECTIONS_PATH'):
        print('ANSIBLE_COLLECTIONS_PATH must lead to %s (make docs sets it)' % COLLECTION, file=sys.stderr)
        return 2
    return build(out_dir)


if __name__ == '__main__':
    sys.exit(main())
