#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# checkpatch on the module and the uapi header (make style). checkpatch.pl
# comes from Debian's linux-source-6.1, unpacked once into the rig cache.

set -euo pipefail
. "$(dirname "$0")/rig/lib.sh"

dir=$CACHE/checkpatch
if [ ! -x "$dir/scripts/checkpatch.pl" ]; then
	say "fetching checkpatch.pl from linux-source-6.1 (once)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -q linux-source-6.1 >/dev/null 2>&1) ||
		die "apt-get download linux-source-6.1 failed (run apt-get update?)"
	dpkg-deb --fsys-tarfile "$tmp"/linux-source-6.1_*.deb |
		tar -x -C "$tmp" --wildcards './usr/src/linux-source-*.tar.xz'
	mkdir -p "$dir"
	tar -xJf "$tmp"/usr/src/linux-source-*.tar.xz -C "$dir" --strip-components=1 \
		--wildcards '*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
fi

cd "$REPO"
files=(kmod/*.[ch] uapi/linux/lmig.h)
"$dir/scripts/checkpatch.pl" --no-tree --strict --show-types --quiet -f "${files[@]}"
echo "style: checkpatch --strict finds nothing in ${#files[@]} files"
