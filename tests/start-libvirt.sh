#!/usr/bin/env bash
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Start virtlogd and libvirtd where they are not running, then wait until libvirtd answers.
# `make services` (so `make demo` and `make test`) and the test that restarts libvirtd use it.
#
# With systemd, systemd starts them. Without it (containers, CI machines) they are started as
# daemons, and /dev/kvm may have been left root-only (mode 0600), where Debian's udev rule would make
# it group kvm, mode 0660 (QEMU's user, libvirt-qemu, is in group kvm). On such a host libvirt 9.0
# probes QEMU with KVM (when root can create a VM there), then finds KVM "not available now" for QEMU's
# user on every later call and probes again: each domain definition takes 30 to 130 s. Giving
# /dev/kvm udev's ownership and mode, as on any udev host, makes the probe and the check agree. The
# test guests still run under software emulation where the CPU has no vmx/svm
# (tests/guest/virt_type.py), as a Debian kernel cannot use KVM without them.
set -euo pipefail

uri=qemu:///system
here=$(cd "$(dirname "$0")" && pwd)

if [ -d /run/systemd/system ]; then
    systemctl start virtlogd libvirtd
else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    if [ -c /dev/kvm ] && [ "$(stat -c %U:%G:%a /dev/kvm)" = root:root:600 ] && getent group kvm >/dev/null \
        && python3 "$here/kvm_creates_vm.py"; then
        chgrp kvm /dev/kvm
        chmod 0660 /dev/kvm
    fi
    pgrep -x libvirtd >/dev/null || libvirtd -d
fi

for _ in $(seq 1 60); do
    virsh -c "$uri" version >/dev/null 2>&1 && exit 0
    sleep 1
done
echo "libvirtd did not answer on $uri within 60 s" >&2
exit 1
