#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every test suite, in the emulated hosts, on each kernel named
# (default 6.1). Each topology is booted once per kernel and runs all the
# tests that declare it (see tests/rig/params.sh). Prints one TAP line per
# test and ends with "N passed, N failed, N skipped"; exits non-zero if
# anything failed.
#
#   tests/check.sh [KERNEL...]
#   LMIG_TESTS='tests/suites/rig/*' tests/check.sh 6.12   (a subset)

set -uo pipefail
. "$(dirname "$0")/rig/lib.sh"
. "$RIG_DIR/params.sh"

[ $# -gt 0 ] || set -- 6.1
cd "$REPO"

# shellcheck disable=SC2206
tests=(${LMIG_TESTS:-tests/suites/*/*.sh})
[ -e "${tests[0]}" ] || die "no tests match '${LMIG_TESTS:-}'"

passed=0 failed=0 skipped=0
results=$BUILD/rig/results.tap
mkdir -p "$BUILD/rig"
: >"$results"

record() {
	echo "$1" | tee -a "$results"
	case $1 in
	"#"*) ;;
	"not ok"*) failed=$((failed + 1)) ;;
	*"# SKIP"*) skipped=$((skipped + 1)) ;;
	ok*) passed=$((passed + 1)) ;;
	esac
}

# run_hosts KERNEL TOPOLOGY FIRST TEST...: boots the hosts and records each
# result line. On a FIRST run (1), the tests a frozen host left without a
# result go to again[] instead.
run_hosts() {
	local k=$1 topology=$2 first=$3 line
	shift 3
	while IFS= read -r line; do
		case $first/$line in
		"1/not ok $k/$topology/"*" # no result: host A froze"*)
			line=${line#"not ok $k/$topology/"}
			again+=("tests/suites/${line%% *}.sh")
			;;
		*) record "$line" ;;
		esac
	done < <("$RIG_DIR/boot.sh" "$k" "$topology" "$@" ||
		echo "not ok $k/$topology/boot # the rig could not start (see above)")
}

start=$(date +%s)
for k in "$@"; do
	if ! "$RIG_DIR/prepare.sh" "$k"; then
		record "not ok $k/prepare # kernel fetch, module build or initramfs failed"
		continue
	fi
	for topology in one-host two-hosts; do
		sel=()
		for t in "${tests[@]}"; do
			case " $(test_topologies "$t") " in
			*" $topology "*) sel+=("$t") ;;
			esac
		done
		[ ${#sel[@]} -gt 0 ] || continue
		# An emulated host whose clock stood still (TCG running a
		# nested guest once left it with no timer firing: nothing ran,
		# no timeout fired) is stopped by boot.sh's watchdog. The tests
		# it left without a result run once more on fresh hosts; the
		# frozen hosts' logs stay in TOPOLOGY.froze/. A host that died
		# (a panic, say) is never given a second chance.
		again=()
		run_hosts "$k" "$topology" 1 "${sel[@]}"
		[ ${#again[@]} -gt 0 ] || continue
		record "# $k/$topology: host A froze in ${again[0]#tests/suites/}; ${#again[@]} test(s) without a result run again on fresh hosts (frozen logs: build/rig/$k/$topology.froze/)"
		rm -rf "$BUILD/rig/$k/$topology.froze"
		mv "$BUILD/rig/$k/$topology" "$BUILD/rig/$k/$topology.froze"
		run_hosts "$k" "$topology" 0 "${again[@]}"
	done
done

echo "# $(($(date +%s) - start)) s; results in ${results#"$REPO"/}, logs in build/rig/KERNEL/TOPOLOGY/host-*/"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
