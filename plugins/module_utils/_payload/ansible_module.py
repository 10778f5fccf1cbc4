# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one wrapper around AnsibleModule: the collection's typed errors become fail_json here."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import (
    MissingLibraryError,
    PayloadError,
    PayloadValidationError,
)


class PayloadModule(AnsibleModule):
    """AnsibleModule that runs one action and reports the collection's errors without a traceback."""

    def run(self, action):
        """Call ``action(self)``, which returns the result dict, and exit with it."""
        try:
            result = action(self)
        except MissingLibraryError as exc:
            self.fail_json(msg=missing_required_lib(exc.library), exception=exc.import_traceback)
        except PayloadValidationError as exc:
            details = {key: value for key, value in (('option', exc.option), ('file', exc.file)) if value}
            self.fail_json(msg=str(exc), **details)
        except PayloadError as exc:
            self.fail_json(msg=str(exc))
        self.exit_json(**result)
