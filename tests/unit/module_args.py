# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``patch_module_args`` on every ansible-core release the collection claims (meta/runtime.yml).

ansible-core 2.19 added ``ansible.module_utils.testing.patch_module_args``: with data tagging, the
arguments a module reads carry a serialization profile, which the helper sets with them. Before 2.19
(2.16 to 2.18) there is no profile, and AnsibleModule reads its arguments from the JSON in
``ansible.module_utils.basic._ANSIBLE_ARGS`` when it is set, as ansible-core's own unit tests of those
releases set it. Drop the fallback once requires_ansible reaches 2.19.
"""

from __future__ import annotations

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    import contextlib
    import json
    from unittest import mock

    from ansible.module_utils import basic

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Expose ``args`` to the AnsibleModule instances made within this context."""
        if not isinstance(args, (dict, type(None))):
            raise TypeError('The `args` arg must be a dict or None.')
        with mock.patch.object(basic, '_ANSIBLE_ARGS', json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}).encode()):
            yield

__all__ = ['patch_module_args']
