# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The payload option group; in step with PAYLOAD_ARGSPEC in module_utils/_payload/argspec.py."""

    DOCUMENTATION = r"""
options:
  device:
    description:
      - How the guest sees the payload.
      - V(cdrom) builds an ISO 9660 image with Joliet and Rock Ridge, so long and Unicode names survive
        for Windows and Linux readers.
      - V(floppy) builds a FAT image (FAT12 on a 1.44 MB floppy by default) with VFAT long names.
    type: str
    choices: [cdrom, floppy]
    default: cdrom
  label:
    description:
      - The volume label (volume id) of the image, for example V(cidata), V(config-2) or V(OEMDRV).
      - On V(cdrom) 1 to 32 letters, digits, V(_), V(-) or V(.), the oVirt engine's rule for C(volume_id),
        written as given.
      - On V(floppy) 1 to 11 letters, digits, V(_) or V(-), stored upper-case as FAT readers expect
        (V(cidata) becomes V(CIDATA); cloud-init matches the label without regard to case).
      - Unset, the image has no label (an empty ISO volume id, the FAT label V(NO NAME)).
    type: str
  preset:
    description:
      - A shortcut that sets O(label) and checks the files that the guest tooling expects.
      - V(nocloud) sets label V(cidata) and requires C(user-data) and C(meta-data) at the top of the image
        (C(network-config) and C(vendor-data) are optional).
      - V(configdrive) sets label V(config-2), requires C(openstack/latest/meta_data.json), keeps every file
        under C(openstack/) or C(ec2/), and checks that inline C(.json) files parse.
      - V(sysprep) requires C(Unattend.xml), C(autounattend.xml) or C(sysprep.inf) at the top of the image
        (any case) and checks that an inline XML answer file is well-formed.
      - Setting O(label) to a different value than the preset's fails.
    type: str
    choices: [nocloud, configdrive, sysprep]
  files:
    description:
      - The files of the payload. Give each a O(files[].name) and exactly one of O(files[].content),
        O(files[].content_b64) or O(files[].src).
      - The whole list is validated before anything is written; a bad entry fails naming its index and
        name, never its content.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The path of the file in the image, directories separated by V(/); directories are created.
          - Unicode is allowed and normalised to NFC. No empty segment, no V(.) or V(..), no leading V(/),
            no V(\\), no control characters, no Unicode noncharacters (such as U+FFFE).
          - On V(cdrom) at most 7 directory levels, each segment at most 64 UTF-16 units (Joliet), and none
            of the characters C(*), C(:), C(;), C(?) or a backslash.
          - On V(floppy) each segment at most 127 UTF-16 units, none of the characters C(*), C(:), C(<), C(>),
            C(?), C(|), a double quote or a backslash, no trailing dot or space, and no two names equal when
            upper and lower case are taken as the same.
          - Required. A string; quote a name YAML would read as a number.
        type: raw
      content:
        description:
          - The content as text, written as UTF-8. Not logged.
          - A string. A mapping or a list fails rather than being written as its Python form; render structured
            data as text first, for example with P(ansible.builtin.to_json#filter) or
            P(ansible.builtin.to_nice_yaml#filter).
        type: raw
      content_b64:
        description:
          - The content as base64, for any bytes. Whitespace is ignored; anything else that is not base64
            fails with its offset. Not logged.
          - A string.
        type: raw
      src:
        description:
          - An absolute path to a file on the host where the module runs. It is read once and copied as it is
            hashed, into memory if it has at most 1 MiB (up to 16 MiB of such files in all), else in chunks, never
            whole into memory, into a private directory (mode V(0700), in E(TMPDIR) or C(/tmp)). The image, or the
            content sent to the platform, is made from that copy, so it holds exactly the bytes the digest was taken
            of, even if the file changes during the task.
          - The copies are removed when the task ends, also when it fails; E(TMPDIR) needs room for the larger files.
          - For a file on the controller, use O(files[].content) with a C(file) lookup, or copy it first.
        type: path
  max_content_size:
    description:
      - The largest content, in bytes, that a single file may have. Unset, there is no limit beyond the
        image's capacity.
    type: int
"""
