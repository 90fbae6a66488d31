#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the initramfs of an emulated host for a fetched kernel:
#
#   tests/rig/initramfs.sh 6.1
#
# It holds busybox, the modules needed to mount the build machine's root
# over virtio-9p, and tests/rig/init. Everything else (KVM, rdma_rxe, the
# tests, lmig.ko) comes from the shared root once it is mounted.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

name=${1:?usage: initramfs.sh KERNEL}
rel=$(kernel_release "$name")
root=$(kernel_root "$name")
out=$(kernel_initrd "$name")
busybox=$(command -v busybox) || die "busybox is missing (apt-get install busybox-static)"
case $(ldd "$busybox" 2>&1) in
*"not a dynamic"* | *"statically linked"*) ;;
*) die "$busybox is not static (apt-get install busybox-static)" ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,dev,proc,sys,host,newroot,lib/modules}
cp "$busybox" "$work/bin/busybox"
for applet in sh mount umount mkdir insmod cat ln readlink sleep echo grep \
	      ls chroot switch_root poweroff; do
	ln -s busybox "$work/bin/$applet"
done
cp "$RIG_DIR/init" "$work/init"
chmod 755 "$work/init"

# modprobe resolves the dependency order; some of these are built in on
# 6.12, which it reports as "builtin" and which need nothing here. busybox
# insmod cannot read .ko.xz, so modules are stored decompressed.
: >"$work/lib/modules/order"
for m in virtio_pci 9pnet_virtio 9p; do
	modprobe -d "$root" -S "$rel" --show-depends "$m"
done |
while read -r kind path _; do
	[ "$kind" = insmod ] || continue
	base=$(basename "$path")
	case $base in
	*.ko.xz) xz -dc "$path" >"$work/lib/modules/${base%.xz}"; base=${base%.xz} ;;
	*.ko.zst) zstd -qdc "$path" >"$work/lib/modules/${base%.zst}"; base=${base%.zst} ;;
	*) cp "$path" "$work/lib/modules/$base" ;;
	esac
	grep -qx "$base" "$work/lib/modules/order" || echo "$base" >>"$work/lib/modules/order"
done

(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
say "$name: initramfs $out ($(du -h "$out" | cut -f1))"
