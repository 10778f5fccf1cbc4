# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one wrapper around AnsibleModule: the collection's typed errors become fail_json here."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.errors import NoLogError

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    MissingLibraryError,
    PayloadError,
    PayloadValidationError,
)


NOT_SHOWN = 'NOT_SHOWN (the task failed on its arguments, and this option holds no_log parts)'


def _holds_no_log(spec):
    """Whether an option's sub-options, at any depth, hold a no_log one."""
    options = (spec or {}).get('options') or {}
    return any(option.get('no_log') or _holds_no_log(option) for option in options.values())


class PayloadModule(AnsibleModule):
    """AnsibleModule that runs one action and reports the collection's errors without a traceback."""

    def fail_json(self, msg, **kwargs):
        errors = self._argument_errors()
        if errors:
            msg = self._named_argument_error(msg, errors)
            kwargs.setdefault('invocation', {'module_args': self._arguments_to_show()})
        super().fail_json(msg=msg, **kwargs)

    def _argument_errors(self):
        """ansible-core's errors in the arguments; the module fails on them before it runs."""
        result = getattr(self, 'validation_result', None)
        return result.errors.errors if result is not None else []

    def _arguments_to_show(self):
        """The arguments for the invocation of a task that failed on them, without the options that hold no_log parts.

        Ansible masks the no_log values it found, and finds none in a value of the wrong shape (``expected:`` given
        a list, whose items hold content): such options are left out, whatever their shape.
        """
        return {key: NOT_SHOWN if _holds_no_log(self.argument_spec.get(key)) else value
                for key, value in self.params.items()}

    @staticmethod
    def _named_argument_error(msg, errors):
        """The argument error that names its option, when ansible-core's first one does not.

        ansible-core fails on the first argument error. For a list of dicts given something else (``files: a``,
        ``files: [a]``) that is its no_log scan's 'dictionary requested, could not parse JSON or key=value',
        which names no option (or one that quotes the value); the element error after it names ``files``.
        """
        if isinstance(errors[0], NoLogError) and msg == errors[0].args[0]:
            named = [error.args[0] for error in errors if not isinstance(error, NoLogError)]
            if named:
                return named[0]
        return msg

    def run(self, action):
        """Call ``action(self)``, which returns the result dict, and exit with it.

        A result with ``failed`` (vm_payloads: some VMs failed, the others were done) fails the task with its
        ``msg``, keeping the rest of the result.
        """
        try:
            result = action(self)
        except MissingLibraryError as exc:
            self.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_traceback)
        except PayloadValidationError as exc:
            details = {key: value for key, value in (('option', exc.option), ('file', exc.file)) if value}
            self.fail_json(msg=str(exc), **details)
        except PayloadError as exc:
            self.fail_json(msg=str(exc))
        if result.pop('failed', False):
            self.fail_json(**result)
        self.exit_json(**result)
