#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs the Debian bookworm packages the build, the rig and the tests
# need, if any is missing. Run by make check and make demo themselves.
# Arguments name more packages: those only one script needs (the debug
# kernel's build tools), so that everyone else does not install them.

set -euo pipefail

packages=(
	make gcc gcc-12 libc6-dev perl	# tools, and lmig.ko (Debian's headers call gcc-12)
	dwarves				# pahole: BTF for modules built against 6.12
	qemu-system-x86			# the emulated hosts
	busybox-static cpio kmod xz-utils zstd	# their initramfs
	iproute2 rdma-core ibverbs-utils ibverbs-providers rdmacm-utils perftest
	libibverbs-dev librdmacm-dev
	"$@"
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "rig: missing packages: ${missing[*]}" >&2
	echo "rig: run as root (sudo make ...) to install them, or install them yourself" >&2
	exit 1
fi
echo "rig: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
