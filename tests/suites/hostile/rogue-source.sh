#!/bin/bash
# rig: two-hosts
# timeout: 1200
#
# A source that breaks the wire protocol on purpose (rogue-peer) against a
# real destination session on host B. Before AUTH, a bad magic, version,
# length or reserved field, a message out of order, a forged or replayed
# AUTH, a flood of NOPs: each gets the connection dropped (or an ERROR) and
# the session listens on. After a correct handshake, a ZERO or DATA past a
# slot's end, an RDMA WRITE across a grant's end (or with no grant at all
# when the destination copies), a FINAL that lies and a flood of messages
# each abort the session, never the host; with fast registration and
# without. Data QPs (wire 1.4) are refused before AUTH, with a wrong MAC or
# index, twice, and when pages are copied; a correct one writes; JOINED
# naming a QP that never joined fails the session. A source that stays connected but takes none of the
# destination's messages is given up on, and can be cancelled meanwhile. The destination VM's memory is exactly as before, no page stays
# pinned, no session stays, and a real migration to the same VM succeeds
# afterwards.
. "$RIG_REPO/tests/lib.sh"

# The destination VM's memslots as HELLO names them, as:gfn:npages,...
# CHECK: lmvm has no SMM, so every slot is in address space 0.
slots_of() {
	printf '%s\n' "$1" | grep -o '"gpa": *[0-9]*, *"size": *[0-9]*' |
		awk -F'[:,]' '{ printf "%s0:%d:%d", (NR > 1 ? "," : ""), $2 / 4096, $4 / 4096 }'
}

# A new session for dst on host B: sets id, to (ADDR:PORT) and token.
listen() {
	local out uri
	out=$(peer_listen dst)
	id=$(field "$out" id)
	uri=$(field "$out" uri)
	if [ -z "$id" ] || [ -z "$uri" ]; then fail "lmctl listen printed no id and URI: $out"; fi
	to=${uri#lmig://}
	token=${to##*/}
	to=${to%/*}
}

# wait_state STATE SECONDS: until the session on B is in STATE; its status.
wait_state() {
	local st
	for _ in $(seq "$2"); do
		st=$(on_peer "lmctl status $id --json")
		[ "$(field "$st" state)" = "$1" ] && break
		sleep 1
	done
	echo "$st"
}

# rogue CASE [OPTIONS]: one source case against the current session; it
# must pass.
rogue() {
	local line
	line=$(rogue-peer source --to "$to" --token "$token" --slots "$slots" "${@:2}" "$1" \
		2>/tmp/rogue.err) ||
		fail "${line:-rogue-peer source $1 printed nothing}: $(cat /tmp/rogue.err)"
	note "$line"
}

# The session on B failed and left nothing behind: CASE's checks.
expect_failed_clean() {
	local st
	st=$(wait_state failed 60)
	[ "$(field "$st" state)" = failed ] || fail "$1: the destination did not fail: $st"
	note "$1: the destination failed: $(field "$st" message)"
	[ "$(field "$(pvmq dst query-status)" status)" = inmigrate ] ||
		fail "$1: the destination VM was resumed"
	pins_unchanged peer "$pins_before" "$1: the failed destination keeps pages pinned"
	! on_peer "lmctl wait $id" >/dev/null 2>&1 || fail "$1: lmctl wait says it completed"
	on_peer "lmctl remove $id" >/dev/null
}

# Its AUTH must be kmod/auth.c's, or every case below proves nothing.
rogue-peer selftest || fail "rogue-peer's HMAC is not lmig's"

lmig_load_both
peer_lmvm_start dst --incoming --mem 64M --vcpus 1
slots=$(slots_of "$(pvmq dst x-query-memory)")
[ -n "$slots" ] || fail "no memslots in x-query-memory"
note "destination layout: $slots"
pins_before=$(peer_pins_held)
digest_before=$(pvmq dst x-memory-digest)

# Before AUTH nothing is granted: a broken or forged message costs the
# source its connection, and the session waits on for the right one.
listen
for case in bad-magic bad-version truncated oversized reserved runt overlong \
	out-of-order wrong-hmac replay; do
	rogue "$case"
	st=$(on_peer "lmctl status $id --json")
	[ "$(field "$st" state)" = setup ] || fail "$case: the destination stopped listening: $st"
done
note "after all of them the session listens on: $(field "$st" message)"
pins_unchanged peer "$pins_before" "pages pinned before any AUTH succeeded"
on_peer "lmctl cancel $id && lmctl remove $id" >/dev/null

# After AUTH the source holds grants; abusing them fails the session.
# CHECK: flood first spends about 10 s (dest.c's HANDSHAKE_TIMEOUT) being
# dropped for NOPs without a HELLO; that part leaves the session listening.
after_auth() {
	for case in zero-out-of-bounds data-out-of-bounds write-ungranted final-mismatch flood \
		joins joined-lie; do
		listen
		rogue "$case"
		expect_failed_clean "$case"
	done
}
after_auth

# A source that takes no message after the CHALLENGE yet sends NOPs: the
# destination's keepalive waits for a receive without end, and its memory
# registrations wait behind it. The destination gives up on that source
# (conn.c's SEND_TIMEOUT, 30 s); a cancel before then returns at once.
listen
rogue deaf --wait 120
expect_failed_clean deaf
listen
rogue-peer source --to "$to" --token "$token" --slots "$slots" --wait 120 deaf \
	>/tmp/deaf.out 2>&1 &
deaf_pid=$!
# Past AUTH (sent 5 s in) and into the registration.
sleep 12
t0=$(date +%s)
timeout 60 rig-exec run "$RIG_PEER" "$RIG_EXEC_PORT" "lmctl cancel $id" >/dev/null ||
	fail "deaf: lmctl cancel on host B did not return within 60 s"
note "deaf: cancelled in $(($(date +%s) - t0)) s while the destination waited on the source"
wait "$deaf_pid" || fail "deaf, cancelled: $(cat /tmp/deaf.out)"
note "$(cat /tmp/deaf.out)"
pins_unchanged peer "$pins_before" "deaf: the cancelled destination keeps pages pinned"
on_peer "lmctl remove $id" >/dev/null
# The same when pages come by copy (DATA) and nothing is granted.
# CHECK: the fastreg parameter is new (wire 1.1's placement); without it
# this pass is skipped.
if on_peer "[ -w /sys/module/lmig/parameters/fastreg ]"; then
	on_peer "echo N >/sys/module/lmig/parameters/fastreg"
	note "again with fastreg=N: copy placement"
	after_auth
	on_peer "echo Y >/sys/module/lmig/parameters/fastreg"
fi

expect_no_sessions peer
# Nothing the rogue sent reached the VM's memory.
# CHECK: write-ungranted's WRITE starts inside the chunk; rxe checks the
# whole range before it places a byte, a device that placed the first half
# would change the digest without breaking any rule.
digest_after=$(pvmq dst x-memory-digest)
[ "$digest_after" = "$digest_before" ] ||
	fail "the destination VM's memory changed: $digest_before -> $digest_after"
[ "$(field "$(pvmq dst query-status)" status)" = inmigrate ] || fail "the destination VM is not waiting"

# Host B is healthy: a real migration into the same VM works.
lmvm_start src --mem 64M --vcpus 1 --dirty-rate 1M
listen
lmctl start --vm-pid "$pid_src" --to "lmig://$to/$token" --qmp /tmp/src.qmp --json \
	>/tmp/start.json 2>/tmp/start.err || fail "the real migration failed: $(cat /tmp/start.err)"
on_peer "lmctl wait $id --qmp /tmp/dst.qmp" || fail "the destination did not resume"
sleep 2
expect_check_ok "destination after the rogue source" "$(pvmq dst x-guest-check)"
lmig_unload_both
