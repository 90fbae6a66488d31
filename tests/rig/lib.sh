# SPDX-License-Identifier: GPL-2.0
# Shared settings for the rig scripts that run on the build machine.
# Sourced, not executed.

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$RIG_DIR/../.." && pwd)
# Kernels, packages and initramfs images live outside the repository so that
# a fresh clone reuses them and `git clean` never throws away 300 MB.
CACHE=${LMIG_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/lmig}
BUILD=$REPO/build

die() { echo "rig: $*" >&2; exit 1; }
say() { echo "rig: $*" >&2; }

# The kernels the rig knows, by short name, and the Debian packages that
# name the newest build of each. The versioned package names are resolved
# through apt at fetch time because the security pocket moves them.
# "debug" has no package: it is Debian's 6.1 source built with the
# kernel's own checkers on (debug-kernel.sh), and lives in the cache like
# the others.
kernel_meta_image() {
	case $1 in
	6.1) echo linux-image-amd64 ;;
	6.12) echo linux-image-6.12-amd64 ;;
	debug) die "kernel 'debug' is built from source by tests/rig/debug-kernel.sh, not fetched" ;;
	*) die "unknown kernel '$1' (known: 6.1 6.12 debug)" ;;
	esac
}

kernel_root() { echo "$CACHE/kernels/$1/root"; }

# The kernel release (uname -r) of a fetched kernel.
kernel_release() {
	local f="$CACHE/kernels/$1/release"
	[ -s "$f" ] || die "kernel $1 is not fetched: run tests/rig/kernels.sh $1"
	cat "$f"
}

kernel_kdir() {
	echo "$(kernel_root "$1")/usr/src/linux-headers-$(kernel_release "$1")"
}

kernel_image() {
	echo "$(kernel_root "$1")/boot/vmlinuz-$(kernel_release "$1")"
}

kernel_initrd() { echo "$CACHE/kernels/$1/initrd.img"; }

# Where the module built for a kernel release lands, inside the repository's
# build directory so that the emulated hosts see it through the shared root.
module_dir() { echo "$BUILD/kmod-$(kernel_release "$1")"; }
