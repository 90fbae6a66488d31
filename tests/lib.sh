# SPDX-License-Identifier: GPL-2.0
# Helpers for test scripts, which run inside emulated host A (or the only
# host) with the environment tests/rig/boot.sh wrote: RIG_TOPOLOGY, RIG_PEER,
# RIG_OUT, LMIG_KO and the rest. Sourced, not executed.

set -eu

# Exit status 4 is "skipped" for the runner, as in kselftest.
skip() { echo "SKIP: $*"; exit 4; }
fail() { echo "FAIL: $*"; exit 1; }
note() { echo "# $*"; }

two_hosts() { [ "$RIG_TOPOLOGY" = two-hosts ]; }

# Runs a shell command line on host B, with host B's environment.
on_peer() {
	two_hosts || fail "on_peer needs the two-hosts topology"
	rig-exec run "$RIG_PEER" "$RIG_EXEC_PORT" "$@"
}

# Runs a shell command line here, and on host B if there is one, each
# line of output tagged with the host it came from.
on_each() {
	bash -c "$*" 2>&1 | sed "s/^/[$(hostname)] /"
	[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	if two_hosts; then
		on_peer "$*" 2>&1 | sed "s/^/[peer] /"
		[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	fi
	return 0
}

lmig_loaded() { [ -d /sys/module/lmig ]; }
