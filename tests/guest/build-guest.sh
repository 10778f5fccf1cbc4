#!/usr/bin/env bash
# Build the tiny test guest from Debian packages: the Debian kernel and a busybox initramfs whose
# /init mounts every CD-ROM and floppy, prints each file's sha256 and name to the serial console,
# and powers off. The guest's kernel is then the independent judge of our images.
#
# usage: tests/guest/build-guest.sh OUTDIR   (writes OUTDIR/vmlinuz and OUTDIR/initrd.img)
set -euo pipefail
out=$(realpath -m "${1:?usage: $0 OUTDIR}")
here=$(dirname "$(realpath "$0")")
mkdir -p "$out"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ "$out/initrd.img" -nt "$here/init" ]; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The kernel package linux-image-amd64 points at, unpacked without installing it.
kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
(
    cd "$work"
    # apt may download as its _apt user, which then needs to own the directory: give it and try again.
    if ! apt-get download "$kernel_pkg" >/dev/null 2>&1; then
        chown _apt "$work" 2>/dev/null || true
        apt-get download "$kernel_pkg" >/dev/null
    fi
)
dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/kernel"
cp "$work"/kernel/boot/vmlinuz-* "$out/vmlinuz"

root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,mnt,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
# /init starts as a /bin/sh script, before busybox installs its other applets.
ln -s busybox "$root/bin/sh"
# The drivers busybox's insmod loads, in dependency order (plain .ko files in Debian's kernel).
for module in scsi_common scsi_mod libata ata_piix cdrom sr_mod isofs floppy fat vfat nls_utf8 nls_cp437; do
    found=$(find "$work/kernel/lib/modules" -name "$module.ko*" | head -n 1)
    [ -n "$found" ] || { echo "kernel module $module not found in $kernel_pkg" >&2; exit 1; }
    case "$found" in
        *.ko.xz) xz -dc "$found" > "$root/lib/modules/$module.ko" ;;
        *.ko.zst) zstd -qdc "$found" > "$root/lib/modules/$module.ko" ;;
        *) cp "$found" "$root/lib/modules/$module.ko" ;;
    esac
done
install -m 0755 "$here/init" "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > "$out/initrd.img.tmp")
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "guest built in $out from $kernel_pkg"
