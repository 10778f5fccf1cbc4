# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Which payload volumes the domains of a host use, or may start from again.

Apart from the pool module (``libvirt_pool``) because every VM module asks it: a module imports, and
so compiles, only what its run can use.
"""

from __future__ import annotations

from xml.etree import ElementTree

from ansible_collections.vmpayload.core.plugins.module_utils._backends.libvirt_xml import volumes_in_pool

try:
    import libvirt
except ImportError:
    # The modules report the missing library (LibvirtBackend, LibvirtPools) before anything here is used.
    libvirt = None


def managed_save_xml(domain):
    """The definition in ``domain``'s managed save image, which ``virsh start`` restores, as XML text; or None."""
    if not domain.hasManagedSaveImage(0):
        return None
    try:
        return domain.managedSaveGetXMLDesc(0)
    except libvirt.libvirtError as exc:
        # A driver without it (libvirt's test driver) restores from the persistent definition.
        if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
            raise
    return None


def _definitions(domain):
    """Every definition of ``domain`` that libvirt may start it from again, as XML text.

    The persistent and the running definition; the one in its managed save image (``virsh start``
    restores from it); and those its snapshots hold (``virsh snapshot-revert`` brings a snapshot's
    definition back, with the payload volume it named then).
    """
    flags = (libvirt.VIR_DOMAIN_XML_INACTIVE, 0) if domain.isActive() else (libvirt.VIR_DOMAIN_XML_INACTIVE,)
    for flag in flags:
        yield domain.XMLDesc(flag)
    saved = managed_save_xml(domain)
    if saved is not None:
        yield saved
    for snapshot in domain.listAllSnapshots(0):
        # A snapshot deleted since the listing restores nothing.
        try:
            yield snapshot.getXMLDesc(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                raise


def _snapshot_domains(snapshot_xml):
    """The domain definitions a snapshot holds: the one it reverts to, and (of a running domain) the persistent one."""
    return [element for element in (snapshot_xml.find('domain'), snapshot_xml.find('inactiveDomain')) if element is not None]


def _volumes_of(domain, name, path):
    """The volumes of the pool (``name``, ``path``) that any definition of ``domain`` names."""
    used = set()
    for text in _definitions(domain):
        root = ElementTree.fromstring(text)
        for definition in _snapshot_domains(root) if root.tag == 'domainsnapshot' else [root]:
            used |= volumes_in_pool(definition, name, path)
    return used


def volumes_domain_uses(domain, pool):
    """The volumes of ``pool`` that ``domain`` itself uses or may start from again (any of its definitions)."""
    return _volumes_of(domain, pool.name(), ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path'))


def volumes_domains_use(conn, pool):
    """The volumes of ``pool`` any domain of the host uses, or may start from again.

    That is any definition of a domain: persistent, running, in a managed save image or in a snapshot.
    A clone, or a definition copied from another VM, uses the other VM's payload volume; a snapshot taken
    before a payload change names the old volume: no volume is deleted while any of them names it,
    whichever VM its name says it is for.
    """
    name = pool.name()
    path = ElementTree.fromstring(pool.XMLDesc(0)).findtext('target/path')
    used = set()
    for domain in conn.listAllDomains(0):
        try:
            used |= _volumes_of(domain, name, path)
        except libvirt.libvirtError as exc:
            # Undefined (or a transient domain stopped) since the listing: it uses nothing any more.
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
    return used
