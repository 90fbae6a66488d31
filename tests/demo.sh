#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boots the two emulated hosts and migrates a VM between them.
# The hosts are set up exactly as for make check; the demo's own output is
# shown live.
#
#   tests/demo.sh [KERNEL]

set -uo pipefail
. "$(dirname "$0")/rig/lib.sh"

kernel=${1:-6.1}
demo=tests/demo/migrate.sh
"$RIG_DIR/prepare.sh" "$kernel" || exit 1

log=$BUILD/rig/$kernel/two-hosts/host-a/logs/tests.demo.migrate.log
"$RIG_DIR/boot.sh" "$kernel" two-hosts "$demo" >"$BUILD/demo.tap" &
boot=$!
# boot.sh starts by clearing the result directory: wait for this run's.
sleep 2
tail -n +1 -F "$log" 2>/dev/null &
tailer=$!
wait $boot
rc=$?
sleep 1
kill $tailer 2>/dev/null
wait $tailer 2>/dev/null
if [ $rc -ne 0 ] || ! grep -q '^ok' "$BUILD/demo.tap"; then
	cat "$BUILD/demo.tap"
	echo "demo failed: see build/rig/$kernel/two-hosts/host-*/ for the hosts' logs"
	exit 1
fi
