#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian bookworm test kernels with their headers into the cache,
# without installing them: packages are downloaded and unpacked with
# dpkg -x, so /boot and the build machine's own modules are never touched.
#
#   tests/rig/kernels.sh [6.1] [6.12] [debug]
#
# A kernel already in the cache at the newest version apt knows is kept.
# Without apt metadata (offline), whatever the cache holds is used.
# "debug" is built from Debian's 6.1 source instead (debug-kernel.sh): the
# first time takes about 20 minutes, later runs reuse it.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

# First Depends: of a package, i.e. the versioned package a meta-package
# points to, or a versioned package's -common / kbuild dependencies.
deps_of() {
	apt-cache depends --no-recommends --no-suggests "$1" 2>/dev/null |
		awk '$1 == "Depends:" { print $2 }'
}

fetch_one() {
	local name=$1 meta image rel dir root pkgs p
	meta=$(kernel_meta_image "$name")
	dir=$CACHE/kernels/$name
	root=$dir/root

	image=$(deps_of "$meta" | grep -m1 '^linux-image-' || true)
	if [ -z "$image" ] && [ ! -s "$dir/release" ] && [ "$(id -u)" -eq 0 ]; then
		apt-get update -q >/dev/null 2>&1 || true
		image=$(deps_of "$meta" | grep -m1 '^linux-image-' || true)
	fi
	if [ -z "$image" ]; then
		[ -s "$dir/release" ] || die "apt does not know $meta; run apt-get update"
		say "$name: apt does not know $meta, using cached $(cat "$dir/release")"
		return 0
	fi
	rel=${image#linux-image-}
	if [ -s "$dir/release" ] && [ "$(cat "$dir/release")" = "$rel" ] &&
	   [ -f "$root/boot/vmlinuz-$rel" ]; then
		say "$name: $rel (cached)"
		return 0
	fi

	# The headers package names its -common part and the kbuild tools
	# (fixdep, modpost) built for the same upload.
	pkgs="$image linux-headers-$rel"
	for p in $(deps_of "linux-headers-$rel"); do
		case $p in
		linux-headers-*-common | linux-kbuild-*) pkgs="$pkgs $p" ;;
		esac
	done

	say "$name: fetching $rel ($pkgs)"
	mkdir -p "$CACHE/debs"
	(cd "$CACHE/debs" && apt-get download -q $pkgs >/dev/null 2>&1) ||
		(cd "$CACHE/debs" && apt-get download $pkgs) ||
		die "apt-get download failed for $pkgs"

	rm -rf "$root" "$dir/release"
	mkdir -p "$root"
	for p in $pkgs; do
		# apt-get download names files pkg_version_arch.deb; the
		# version is the candidate, so pick the newest matching file.
		local deb
		deb=$(ls -t "$CACHE/debs/${p}_"*.deb 2>/dev/null | head -n1)
		[ -n "$deb" ] || die "downloaded package $p not found"
		dpkg -x "$deb" "$root"
	done

	# The headers Makefile includes its -common half by absolute path;
	# point it into the cache instead of /usr/src.
	sed -i "s#^include /usr/src/#include $root/usr/src/#" \
		"$root/usr/src/linux-headers-$rel/Makefile"
	depmod -b "$root" "$rel"
	echo "$rel" >"$dir/release"
	say "$name: $rel ready in $root"
}

[ $# -gt 0 ] || set -- 6.1
for k in "$@"; do
	case $k in
	debug) "$RIG_DIR/debug-kernel.sh" ;;
	*) fetch_one "$k" ;;
	esac
done
