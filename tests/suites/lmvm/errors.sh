#!/bin/bash
# rig: one-host
# timeout: 200
#
# Bad flags and bad QMP requests get clear errors, and nothing breaks.
. "$RIG_REPO/tests/lib.sh"

# expect_error WHAT PATTERN CMD...: CMD fails and says PATTERN.
expect_error() {
	local what=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$what: succeeded: $out"
	fi
	printf '%s\n' "$out" | grep -q -- "$pattern" || fail "$what: unclear error: $out"
	note "$what: $out"
}

expect_error "tiny memory" "between 16M and 64G" lmvm run --mem 1M
expect_error "odd memory" "multiple of 2M" lmvm run --mem 17M
expect_error "no vCPUs" "from 1 to 64" lmvm run --vcpus 0
expect_error "bad rate" "bytes per second" lmvm run --dirty-rate fast
expect_error "bad pattern" "seq, random or hotcold" lmvm run --pattern zigzag
expect_error "stray argument" "unexpected argument" lmvm run extra

lmvm_start vm --mem 64M --dirty-rate 256K
lmvm_start small --incoming --mem 32M
lmvm_start in --incoming --mem 64M
expect_error "save while running" "stop it first" vmq vm x-save-state
expect_error "cont before state" "x-load-state" vmq in cont
expect_error "check while waiting" "not running" vmq in x-guest-check
expect_error "short state" "truncated" vmq in x-load-state '{"state": "AAAA"}'
garbage=$(head -c 300 /dev/urandom | base64 -w0)
expect_error "garbage state" "not an lmvm state" vmq in x-load-state "{\"state\": \"$garbage\"}"
expect_error "state not base64" "base64" vmq in x-load-state '{"state": "!!!"}'
expect_error "unknown command" "has not been found" vmq vm x-frobnicate
vmq vm stop >/dev/null
vmq vm x-save-state >/tmp/state.json
expect_error "layout mismatch" "32 MiB" vmq small x-load-state @/tmp/state.json
vmq in x-load-state @/tmp/state.json >/dev/null
vmq vm cont >/dev/null
expect_check_ok "after all that" "$(vmq vm x-guest-check)"
