#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Everything the emulated hosts need, for each kernel named:
#   tests/rig/prepare.sh 6.1 6.12
# fetches the kernel and its headers, builds lmig.ko against them (warnings
# are errors) and builds the hosts' initramfs. The tools are built by make.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || set -- 6.1
"$RIG_DIR/kernels.sh" "$@"
for k in "$@"; do
	dir=$(module_dir "$k")
	# Kbuild writes objects next to the sources, so each kernel gets
	# its own copy of them.
	mkdir -p "$dir"
	cp -a "$REPO/Kbuild" "$dir/"
	rm -rf "$dir/kmod" "$dir/uapi"
	cp -a "$REPO/kmod" "$REPO/uapi" "$dir/"
	say "$k: building lmig.ko against $(kernel_release "$k")"
	make -s -C "$(kernel_kdir "$k")" M="$dir" LMIG_WERROR=y modules >"$dir/build.log" 2>&1 ||
		{ cat "$dir/build.log" >&2; die "$k: lmig.ko does not build"; }
	grep -v -e '^Skipping BTF' -e 'Entering directory' -e 'Leaving directory' \
		"$dir/build.log" >&2 || true
	"$RIG_DIR/initramfs.sh" "$k"
done
