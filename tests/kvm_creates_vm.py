# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Exit 0 when this process can create a KVM virtual machine through /dev/kvm, 1 otherwise.

tests/start-libvirt.sh asks this as root: it is what libvirt's QEMU capability probe finds.
"""

import fcntl
import os
import sys

# From linux/kvm.h: _IO(KVMIO, 0x01), KVMIO being 0xAE.
KVM_CREATE_VM = 0xAE01


def main():
    try:
        device = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return 1
    try:
        machine = fcntl.ioctl(device, KVM_CREATE_VM, 0)
    except OSError:
        return 1
    finally:
        os.close(device)
    os.close(machine)
    return 0


if __name__ == '__main__':
    sys.exit(main())
