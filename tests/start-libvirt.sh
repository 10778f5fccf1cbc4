#!/bin/bash
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Start virtlogd and libvirtd where they are not running, then wait until libvirtd answers.
# `make services` (so `make demo` and `make test`) and the test that restarts libvirtd use it.
#
# With systemd, systemd starts them. Without it (containers, CI machines), they are started as
# daemons. On such hosts /dev/kvm may exist and yet be unusable by QEMU's user (root-only, as
# without udev's rule). libvirt 9.0 then probes QEMU as a process that does get KVM, finds KVM
# "not available now" on every later call, and probes QEMU again: each domain definition takes
# 30 to 130 s. So, when tests/guest/virt_type.py finds KVM unusable for QEMU anyway, libvirtd starts
# in a mount namespace of its own where /dev/kvm is an empty root-only file: probe and check agree
# (no KVM) and the capabilities are probed once. Nothing changes outside libvirtd's namespace.
set -euo pipefail

uri=qemu:///system
here=$(cd "$(dirname "$0")" && pwd)

if [ -d /run/systemd/system ]; then
    systemctl start virtlogd libvirtd
else
    pgrep -x virtlogd >/dev/null || virtlogd -d
    if ! pgrep -x libvirtd >/dev/null; then
        virt_type=$(python3 "$here/guest/virt_type.py" 2>/dev/null || echo qemu)
        if [ -e /dev/kvm ] && [ "$virt_type" = qemu ]; then
            no_kvm=/run/vmpayload-no-kvm
            install -m 0000 /dev/null "$no_kvm"
            # "$1" is for the inner shell to expand.
            # shellcheck disable=SC2016
            unshare --mount --propagation private -- \
                sh -c 'mount --bind "$1" /dev/kvm && exec libvirtd -d' sh "$no_kvm"
        else
            libvirtd -d
        fi
    fi
fi

for _ in $(seq 1 60); do
    virsh -c "$uri" version >/dev/null 2>&1 && exit 0
    sleep 1
done
echo "libvirtd did not answer on $uri within 60 s" >&2
exit 1
