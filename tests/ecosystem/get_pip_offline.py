# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Stand-in for the get-pip.py that ansible-test downloads to put pip into its sanity virtualenvs.

ansible-test fetches get-pip.py from ci-files.testing.ansible.com, which this machine cannot reach;
it looks in its cache first, so the sanity gate places this script there. It gives the same result
from what is at hand: the pip wheel bundled with Python (ensurepip), then the pip release ansible-test
asked for, from the package index. ansible-test calls it with pip's options and
``pip==VERSION --no-setuptools --no-wheel``.
"""

from __future__ import annotations

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    requested = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
    subprocess.run([sys.executable, '-m', 'ensurepip', '--upgrade'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', *requested], check=True)


if __name__ == '__main__':
    main()
