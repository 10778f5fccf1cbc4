# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one factory: which backend serves a module's parameters.

``auth`` (a dict, as ovirt.ovirt's modules take it; ``{}`` takes every key from the environment)
chooses oVirt; otherwise ``uri`` (as community.libvirt's modules take it, default
``qemu:///system``) chooses libvirt. The modules declare the two mutually exclusive, so a task
names one platform. The class is chosen without importing any platform library: capabilities are
checked, and the payload refused, before a connection is made.
"""

from __future__ import annotations


def backend_class(params):
    """The backend class for a module's parameters; nothing is imported from a platform library yet."""
    if params.get('auth') is not None:
        from ansible_collections.vmpayload.core.plugins.module_utils._backends.ovirt import OvirtBackend
        return OvirtBackend
    from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt import LibvirtBackend
    return LibvirtBackend
