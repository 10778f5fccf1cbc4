# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Documentation gate: what ansible-doc shows for every module, filter and role is complete, antsibull-docs'
collection linter is clean, and the docsite builds with a page for each of them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.playbook.block import Block
from ansible.playbook.task import Task

REPO = Path(__file__).resolve().parents[2]
COLLECTION = 'vmpayload.core'
VENV_BIN = Path(sys.executable).parent

MODULES = sorted(path.stem for path in (REPO / 'plugins' / 'modules').glob('*.py') if path.stem != '__init__')
FILTERS = sorted(path.stem for path in (REPO / 'plugins' / 'filter').glob('*.yml'))
ROLES = sorted(path.parent.parent.name for path in (REPO / 'roles').glob('*/meta/argument_specs.yml'))
PLUGINS = [('module', name) for name in MODULES] + [('filter', name) for name in FILTERS]

# Keys of a task that are keywords rather than the action.
TASK_KEYWORDS = set(Task.fattributes) | set(Block.fattributes) | {'local_action'}
FQCN = re.compile(r'[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+')
LOOKUP_CALL = re.compile(r'\b(?:lookup|query|q)\(\s*[\'"]([^\'"]+)[\'"]')
FILTER_USE = re.compile(r'\|\s*([A-Za-z_][\w.]*)')
# What results carry besides the module's own keys: Ansible's common return values, and the file attributes
# that AnsibleModule.exit_json adds to any result with a `dest` (add_path_info).
COMMON_RESULT_KEYS = {'changed', 'failed', 'invocation', 'diff', 'warnings', 'deprecations', 'msg'}
PATH_INFO_KEYS = {'uid', 'gid', 'owner', 'group', 'mode', 'state', 'size', 'secontext'}


def tool_env():
    """The environment for the tools: the project's venv first on PATH, the collection on the collections path."""
    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get('PATH', '')]))
    env.setdefault('ANSIBLE_COLLECTIONS_PATH', str(REPO / '.build' / 'collections'))
    return env


def run_tool(command, **kwargs):
    """Run a tool; on failure the assertion message is the tool's own output."""
    result = subprocess.run(command, env=tool_env(), capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, '%s exited %d\n%s\n%s' % (
        ' '.join(map(str, command)), result.returncode, result.stdout, result.stderr)
    return result


def ansible_doc_json(plugin_type, name):
    fqcn = '%s.%s' % (COLLECTION, name)
    data = json.loads(run_tool([str(VENV_BIN / 'ansible-doc'), '-t', plugin_type, '--json', fqcn]).stdout)
    assert fqcn in data, 'ansible-doc -t %s found no documentation for %s' % (plugin_type, fqcn)
    return data[fqcn]


def undocumented_options(options, prefix=''):
    """Option paths that lack a description or a type, suboptions included."""
    missing = []
    for name, spec in (options or {}).items():
        path = prefix + name
        if not spec.get('description') or not spec.get('type'):
            missing.append(path)
        missing += undocumented_options(spec.get('suboptions'), path + '.')
    return missing


def undocumented_returns(returns, plugin_type, prefix=''):
    """Return-value paths that lack a description or type (or, for a module's own keys, `returned`), or whose
    dict contents are not described."""
    missing = []
    for name, spec in returns.items():
        path = prefix + name
        module_key = plugin_type == 'module' and not prefix
        required = ('description', 'type', 'returned') if module_key else ('description', 'type')
        missing += ['%s (no %s)' % (path, field) for field in required if not spec.get(field)]
        holds_dicts = spec.get('type') == 'dict' or spec.get('elements') == 'dict'
        if holds_dicts and not spec.get('contains'):
            missing.append('%s (its entries have no `contains`)' % path)
        missing += undocumented_returns(spec.get('contains') or {}, plugin_type, path + '.')
    return missing


def tasks_in(task_list):
    for task in task_list:
        yield task
        for section in ('block', 'rescue', 'always'):
            yield from tasks_in(task.get(section) or [])


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def short_names_used(examples):
    """Lookups not called by their FQCN, and this collection's filters used by their short name."""
    problems = []
    for text in strings_in(examples):
        problems += ['lookup %r' % name for name in LOOKUP_CALL.findall(text) if not FQCN.fullmatch(name)]
        problems += ['filter %r' % name for name in FILTER_USE.findall(text) if name in FILTERS]
    return problems


@pytest.mark.parametrize('plugin_type, name', PLUGINS + [('role', name) for name in ROLES])
def test_ansible_doc_renders(plugin_type, name):
    output = run_tool([str(VENV_BIN / 'ansible-doc'), '-t', plugin_type, '%s.%s' % (COLLECTION, name)]).stdout
    assert '%s.%s' % (COLLECTION, name) in output


@pytest.mark.parametrize('plugin_type, name', PLUGINS)
def test_plugin_docs_complete(plugin_type, name):
    docs = ansible_doc_json(plugin_type, name)
    doc = docs['doc']
    assert doc.get('short_description') and doc.get('description') and doc.get('version_added'), doc
    assert undocumented_options(doc.get('options')) == []
    assert docs.get('return'), 'no RETURN documentation'
    assert undocumented_returns(docs['return'], plugin_type) == []

    examples = yaml.safe_load(docs.get('examples') or '')
    assert examples, 'no EXAMPLES'
    if plugin_type == 'module':
        assert isinstance(examples, list), 'module EXAMPLES must be a list of tasks'
        for task in tasks_in(examples):
            actions = [key for key in task if key not in TASK_KEYWORDS and not key.startswith('with_')]
            if 'block' not in task:
                assert len(actions) == 1 and FQCN.fullmatch(actions[0]), \
                    'task %r: the action is not one FQCN: %s' % (task.get('name'), actions)
    assert short_names_used(examples) == []


@pytest.mark.parametrize('name', ROLES)
def test_role_docs_complete(name):
    entry_points = ansible_doc_json('role', name)['entry_points']
    assert 'main' in entry_points
    for entry_point, spec in entry_points.items():
        assert spec.get('short_description') and spec.get('description'), entry_point
        assert undocumented_options(spec.get('options')) == [], entry_point


def test_payload_image_returns_only_documented_keys(tmp_path):
    """Run payload_image for real and compare what it returns with its RETURN documentation."""
    returns = ansible_doc_json('module', 'payload_image')['return']
    result_file = tmp_path / 'result.json'
    playbook = tmp_path / 'build.yml'
    playbook.write_text(yaml.safe_dump([{
        'hosts': 'localhost',
        'gather_facts': False,
        'tasks': [
            {'vmpayload.core.payload_image': {
                'dest': str(tmp_path / 'seed.iso'), 'preset': 'nocloud',
                'files': [{'name': 'meta-data', 'content': 'instance-id: doc-check\n'},
                          {'name': 'user-data', 'content': '#cloud-config\n'}]},
             'register': 'built'},
            {'ansible.builtin.copy': {'content': '{{ built | to_json }}', 'dest': str(result_file)}},
        ],
    }]))
    run_tool([str(VENV_BIN / 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
              '-e', 'ansible_python_interpreter=%s' % sys.executable, str(playbook)])
    result = json.loads(result_file.read_text())

    assert set(result) - COMMON_RESULT_KEYS - PATH_INFO_KEYS - set(returns) == set()
    file_keys = set().union(*(entry.keys() for entry in result['files']))
    assert file_keys - set(returns['files']['contains']) == set()


def test_antsibull_docs_lint():
    run_tool([str(VENV_BIN / 'antsibull-docs'), 'lint-collection-docs', '--plugin-docs', '--check-extra-docs-refs',
              '--validate-collection-refs', 'all', '--disallow-unknown-collection-refs', str(REPO)])


def test_docsite_builds_with_a_page_for_everything():
    """docs/build_docsite.py fails on any warning but the references into the Ansible docsite left unresolved
    offline; here it must succeed and leave a page for every module, filter, role and extra doc."""
    out_dir = REPO / 'docs' / 'build'
    run_tool([sys.executable, str(REPO / 'docs' / 'build_docsite.py'), str(out_dir)])
    html_dir = out_dir / 'html'
    expected = ['index.html']
    expected += ['%s_module.html' % name for name in MODULES]
    expected += ['%s_filter.html' % name for name in FILTERS]
    expected += ['%s_role.html' % name for name in ROLES]
    expected += ['docsite/%s.html' % path.stem for path in (REPO / 'docs' / 'docsite' / 'rst').glob('*.rst')]
    assert [page for page in expected if not (html_dir / page).is_file()] == []
    index = (html_dir / 'index.html').read_text(encoding='utf-8')
    assert [page for page in expected[1:] if 'href="%s' % page not in index] == []
