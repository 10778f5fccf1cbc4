# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A libvirt test-driver domain with a managed save image: the test driver keeps none, nor shows its XML."""

from __future__ import annotations


class SavedWith:
    """A domain whose managed save image holds ``saved_xml``; everything else is the wrapped domain's."""

    def __init__(self, domain, saved_xml):
        self.domain, self.saved_xml = domain, saved_xml

    def __getattr__(self, name):
        return getattr(self.domain, name)

    def hasManagedSaveImage(self, flags):
        return 1

    def managedSaveGetXMLDesc(self, flags):
        return self.saved_xml
