# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one factory: which backend serves a module's parameters."""

from __future__ import annotations


def create_backend(params):
    """The libvirt backend for now; the oVirt backend will be chosen when ``auth`` is given."""
    from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend
    return LibvirtBackend(uri=params['uri'], pool=params.get('pool'))
