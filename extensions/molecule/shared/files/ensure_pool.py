# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Stand-in for the payload_staging role in the Molecule scenarios: make sure the payload pool exists.

usage: ensure_pool.py URI POOL PATH

Defines, builds, starts and autostarts a directory pool when it is missing or inactive, with
libvirt-python only. Prints one JSON object: {"changed": bool, "actions": [...]}.
prepare.yml uses this only while roles/payload_staging does not exist yet.
"""

from __future__ import annotations

import json
import sys
from xml.sax.saxutils import escape

import libvirt

POOL_XML = """<pool type='dir'>
  <name>{name}</name>
  <target>
    <path>{path}</path>
    <permissions><mode>0755</mode><owner>0</owner><group>0</group></permissions>
  </target>
</pool>"""


def main(uri, name, path):
    conn = libvirt.open(uri)
    actions = []
    try:
        try:
            pool = conn.storagePoolLookupByName(name)
        except libvirt.libvirtError:
            pool = conn.storagePoolDefineXML(POOL_XML.format(name=escape(name), path=escape(path)), 0)
            actions.append('defined')
            pool.build(0)
            actions.append('built')
        if not pool.isActive():
            pool.create(0)
            actions.append('started')
        if not pool.autostart():
            pool.setAutostart(1)
            actions.append('autostart')
    finally:
        conn.close()
    print(json.dumps({'changed': bool(actions), 'actions': actions}))


if __name__ == '__main__':
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
