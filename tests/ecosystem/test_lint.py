# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Gate: ``ansible-lint`` with the production profile at the collection root, over everything, as the Galaxy and
Automation Hub importers lint a collection.

No paths are given: ansible-lint then walks the whole checkout, leaving out only what ``.gitignore`` and
``.ansible-lint``'s ``exclude_paths`` name (build products, virtualenvs), so a new play, role, filter document,
benchmark or changelog fragment is linted without being listed here. ``.ansible-lint`` also says which files are of
which kind where ansible-lint's own globs guess wrong."""

from __future__ import annotations

from ecosystem_tools import ROOT, run_tool, tool_environment

# The GitOps example's vaulted variables are linted too, decrypted with the example's own password file.
VAULT_PASSWORD_FILE = ROOT / 'docs' / 'gitops' / 'vault-password.example.txt'


def test_ansible_lint_production_profile(tmp_path):
    # The plays call the collection's modules by FQCN: ansible-lint must resolve them, from this checkout.
    collections = tmp_path / 'collections'
    (collections / 'ansible_collections' / 'vmpayload').mkdir(parents=True)
    (collections / 'ansible_collections' / 'vmpayload' / 'core').symlink_to(ROOT)
    environment = tool_environment(HOME=str(tmp_path / 'home'), ANSIBLE_COLLECTIONS_PATH=str(collections),
                                   ANSIBLE_VAULT_PASSWORD_FILE=str(VAULT_PASSWORD_FILE))
    # .ansible-lint sets the profile too; saying it here keeps the gate from weakening with the file.
    completed = run_tool(['ansible-lint', '--offline', '--nocolor', '--profile', 'production'], ROOT, environment)
    assert "Profile 'production' was required, and it passed" in completed.stdout + completed.stderr
