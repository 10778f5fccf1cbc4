# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The child process of the benchmark: build one image, as a freshly started module would.

    python benchmarks/build_one.py {cdrom|floppy} SRC_DIR OUT LABEL

Every regular file under SRC_DIR becomes a ``{name, src}`` entry, read once and copied as it is
hashed (into memory up to 1 MiB, else into a private directory) and built from that copy, as the
modules do; floppy images use ``size: auto``. This file imports only what the build needs, so the wall time that
image_build.py measures is interpreter start + our imports + parse + write, nothing of its own.
"""

import os
import sys


def payload_specs(src_dir):
    """The ``files`` list for every regular file under ``src_dir``, as ``{name, src}``, sorted."""
    specs = []
    for parent, dirs, files in os.walk(src_dir):
        dirs.sort()
        for leaf in sorted(files):
            path = os.path.join(parent, leaf)
            specs.append({'name': os.path.relpath(path, src_dir).replace(os.sep, '/'), 'src': path})
    return specs


def writer_options(device):
    """Keyword arguments for ``writer_for``: the floppy writer picks the smallest image that fits."""
    return {'size': 'auto'} if device == 'floppy' else {}


def build_one(device, src_dir, out, label):
    """Import the collection, parse the payload under ``src_dir`` and write its image to ``out``."""
    from ansible_collections.vmpayload.core.plugins.module_utils._image.base import writer_for
    from ansible_collections.vmpayload.core.plugins.module_utils._payload.model import staged_payload

    with staged_payload(payload_specs(src_dir), device=device, label=label or None) as payload:
        writer_for(device, **writer_options(device)).write(payload, out)


if __name__ == '__main__':
    if len(sys.argv) != 5 or sys.argv[1] not in ('cdrom', 'floppy'):
        sys.exit(__doc__)
    build_one(*sys.argv[1:])
