# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""vm_payload_info's controller side: hide a result that carries payload content.

A module cannot mark its own result as no_log (Ansible strips ``_ansible_no_log`` from module
returns); an action plugin can. The registered variable still holds the content.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name='vmpayload.core.vm_payload_info',
                                           module_args=self._task.args, task_vars=task_vars))
        if boolean(self._task.args.get('include_content', False), strict=False) and not result.get('failed'):
            result['_ansible_no_log'] = True
        return result
