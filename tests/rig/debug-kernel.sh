#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the rig's debug kernel, "debug": Debian's linux-source-6.1 with
# KASAN, lockdep, kmemleak, UBSAN and list debugging, configured by
# tests/rig/debug.config on top of allnoconfig. Called by
# `tests/rig/kernels.sh debug`; leaves the same layout in the cache as a
# fetched kernel, so prepare.sh, initramfs.sh and boot.sh treat it alike:
#
#   CACHE/kernels/debug/src          the build tree (also the module headers)
#   CACHE/kernels/debug/root         boot/vmlinuz-REL, lib/modules/REL,
#                                    usr/src/linux-headers-REL -> ../../../src
#   CACHE/kernels/debug/release      REL
#
# The first build takes about 20 min on 2 cores (progress is shown) and
# 2 GB of disk. It is kept until debug.config or Debian's source package
# changes; a change of debug.config alone rebuilds in the same tree. The
# compiler runs at nice 19 so that emulated hosts keep the CPUs.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

pkg=linux-source-6.1
dir=$CACHE/kernels/debug
src=$dir/src
root=$dir/root
fragment=$RIG_DIR/debug.config
log=$dir/build.log

# What a build depends on besides the compiler: Debian's source version
# and the fragment. The cache is current when its stamp says the same.
candidate() {
	apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p'
}
version=$(candidate || true)
if [ -z "$version" ] && [ "$(id -u)" -eq 0 ]; then
	apt-get update -q >/dev/null 2>&1 || true
	version=$(candidate || true)
fi
if [ -z "$version" ]; then
	# Offline: whatever source the cache holds will do.
	version=$(cat "$src/.lmig-source" 2>/dev/null) ||
		die "apt does not know $pkg and no source is cached; run apt-get update"
fi
stamp="$version $(sha256sum <"$fragment" | cut -d' ' -f1)"
if [ -s "$dir/release" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ] &&
   [ -f "$root/boot/vmlinuz-$(cat "$dir/release")" ]; then
	say "debug: $(cat "$dir/release") (cached)"
	exit 0
fi

# flex, bison and bc run during the build, libelf is objtool's (the ORC
# unwinder); the rest of a kernel build is what lmig already needs.
"$RIG_DIR/deps.sh" bc bison flex libelf-dev

if [ "$(cat "$src/.lmig-source" 2>/dev/null)" != "$version" ]; then
	say "debug: unpacking $pkg $version"
	mkdir -p "$CACHE/debs"
	deb=$CACHE/debs/${pkg}_${version//:/%3a}_all.deb
	[ -f "$deb" ] || (cd "$CACHE/debs" && apt-get download -q "$pkg=$version" >/dev/null) ||
		die "apt-get download $pkg=$version failed"
	rm -rf "$src" "$dir/release" "$dir/stamp"
	mkdir -p "$src"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
		nice -n 19 tar -xJ -C "$src" --strip-components=1
	echo "$version" >"$src/.lmig-source"
fi

# allnoconfig switches off everything the fragment does not ask for, as
# tinyconfig does. A line of the fragment that Kconfig overrode (a symbol
# renamed, a dependency missing) is an error, not a quietly weaker kernel.
make -s -C "$src" KCONFIG_ALLCONFIG="$fragment" allnoconfig
lost=$(grep -E '^(CONFIG_|# CONFIG_[A-Z0-9_]+ is not set)' "$fragment" |
	while IFS= read -r line; do
		case $line in
		"# "*)
			sym=${line#\# }
			sym=${sym%% *}
			! grep -qE "^$sym=[ym]" "$src/.config" || echo "  $line"
			;;
		*) grep -qxF "$line" "$src/.config" || echo "  $line" ;;
		esac
	done)
[ -z "$lost" ] || die "debug: Kconfig did not keep these lines of ${fragment#"$REPO"/}:
$lost"
rel=$(make -s -C "$src" kernelrelease)

# About 1,330 C files; the count of those compiled is the progress.
say "debug: building $rel with $(nproc) jobs at nice 19; a first build takes about 20 min on 2 cores (log: $log)"
start=$(date +%s)
nice -n 19 make -C "$src" -j"$(nproc)" bzImage modules >"$log" 2>&1 &
make_pid=$!
# A background job ignores SIGINT: stop it by hand when this script stops.
trap 'kill "$make_pid" 2>/dev/null || true' EXIT
trap 'exit 1' INT TERM
while :; do
	for _ in $(seq 60); do
		kill -0 "$make_pid" 2>/dev/null || break 2
		sleep 1
	done
	say "debug: $(grep -c '^  CC ' "$log" || true) of about 1330 files compiled, $((($(date +%s) - start) / 60)) min"
done
wait "$make_pid" || { tail -n 30 "$log" >&2; die "debug: kernel build failed (see $log)"; }
trap - EXIT INT TERM

rm -rf "$root" "$dir/release" "$dir/stamp"
mkdir -p "$root/boot" "$root/usr/src"
make -s -C "$src" INSTALL_MOD_PATH="$root" modules_install >>"$log" 2>&1 ||
	die "debug: modules_install failed (see $log)"
cp "$src/arch/x86/boot/bzImage" "$root/boot/vmlinuz-$rel"
cp "$src/System.map" "$root/boot/System.map-$rel"
cp "$src/.config" "$root/boot/config-$rel"
# Out-of-tree modules build against the tree itself, as against Debian's
# headers; relative, so the cache can move.
ln -s ../../../src "$root/usr/src/linux-headers-$rel"
depmod -b "$root" "$rel"
echo "$rel" >"$dir/release"
echo "$stamp" >"$dir/stamp"
say "debug: $rel ready in $root after $((($(date +%s) - start) / 60)) min"
