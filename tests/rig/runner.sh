#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the tests named in RIG_TESTS inside host A (or the only host), one
# at a time, each under its own timeout, and appends one TAP line per test
# to $RIG_OUT/results.tap. A test fails if it exits non-zero, runs out of
# time, or if either host's kernel log shows a report while it ran.
# Exit status 4 means skipped (the kselftest convention).

# shellcheck source=/dev/null
. "$RIG_REPO/tests/rig/params.sh"
tap=$RIG_OUT/results.tap
mkdir -p "$RIG_OUT/logs"

peer() { rig-exec run "$RIG_PEER" "$RIG_EXEC_PORT" "$@"; }

if [ "$RIG_TOPOLOGY" = two-hosts ]; then
	for _ in $(seq 120); do
		peer true >/dev/null 2>&1 && break
		sleep 0.5
	done
	peer true || echo "Bail out! host B never answered"
fi

# Whatever booting printed is not any test's fault, but is kept and shown.
kcheck_all() {
	local rc=0
	"$RIG_REPO/tests/rig/kcheck.sh" "$RIG_OUT/dmesg.log" || rc=1
	if [ "$RIG_TOPOLOGY" = two-hosts ]; then
		peer '"$RIG_REPO/tests/rig/kcheck.sh" "$RIG_OUT/dmesg.log"' || rc=1
	fi
	return $rc
}
kcheck_all >"$RIG_OUT/logs/boot.kcheck" 2>&1 ||
	cat "$RIG_OUT/logs/boot.kcheck"

n=0
for t in $RIG_TESTS; do
	n=$((n + 1))
	name=${t#tests/suites/}
	name=${name%.*}
	log=$RIG_OUT/logs/${name//\//.}.log
	limit=$(test_timeout "$RIG_REPO/$t")
	echo "# $name: started, timeout ${limit}s" >>"$tap"
	start=$(date +%s)
	(cd "$RIG_REPO" && timeout -k 5 "$limit" "$RIG_REPO/$t") >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	kreport=$(kcheck_all 2>&1)
	krc=$?
	[ $krc -eq 0 ] || printf '%s\n' "$kreport" >>"$log"

	if [ $krc -ne 0 ]; then
		line="not ok $n $name # kernel report (${secs}s)"
	elif [ $rc -eq 0 ]; then
		line="ok $n $name # ${secs}s"
	elif [ $rc -eq 4 ]; then
		line="ok $n $name # SKIP $(tail -n1 "$log")"
	elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		line="not ok $n $name # timeout after ${limit}s"
	else
		line="not ok $n $name # exit $rc (${secs}s)"
	fi
	echo "$line" >>"$tap"
	# The log travels with a failure so the build machine can show it;
	# the reason comes first, in case only the start of it is shown.
	case $line in
	"not ok"*) { grep -m1 '^FAIL: ' "$log"; tail -n 40 "$log"; } |
		sed 's/^/#   /' >>"$tap" ;;
	esac
done
echo "# done" >>"$tap"
