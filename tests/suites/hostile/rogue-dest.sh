#!/bin/bash
# rig: two-hosts
# timeout: 1200
#
# A real source (lmctl start --finalize auto) against a destination that
# breaks the protocol on purpose (rogue-peer dest on host B). An ERROR
# whose text has no NUL, grants outside the layout and an unknown
# placement end in a clear refusal, also when the session fails before
# START. A destination that goes silent after READY, connection up, is
# given up on in bounded time. One that takes
# FINAL and drops the connection without ACK leaves the source in doubt:
# lmctl exits 3, the VM stays paused, and resumed by hand it runs on
# intact. Last the rogue plays it straight, by copy, by RDMA WRITE (also
# asked for two QPs, which a wire 1.1 rogue does not offer), and
# granting slowly while it reads nothing: the migration completes and the
# rogue holds exactly the source's memory, which shows the rogue itself
# speaks the protocol, and that the source takes grants while it waits.
. "$RIG_REPO/tests/lib.sh"

ROGUE=$RIG_PEER:7490
TOKEN=$(printf '5a%.0s' $(seq 32))	# any token: the rogue checks AUTH with it
URI=lmig://$ROGUE/$TOKEN

# rogue_start CASE [OPTION...]: a rogue destination on host B, in the
# background, listening when this returns; its output and exit status go
# to a file.
rogue_start() {
	local c=$1
	shift
	on_peer "rm -f /tmp/rogue-$c.out; { rogue-peer dest --listen $ROGUE --token $TOKEN --slots $slots $* $c; \
		echo exit \$?; } </dev/null >/tmp/rogue-$c.out 2>&1 &"
	for _ in $(seq 50); do
		on_peer "grep -q 'listening for a source' /tmp/rogue-$c.out" && return 0
		sleep 0.2
	done
	fail "rogue-peer dest $c did not come up: $(on_peer "cat /tmp/rogue-$c.out")"
}

# rogue_end CASE: waits for the rogue to finish and fails unless it passed;
# its line is in rogue_line.
rogue_end() {
	local out
	for _ in $(seq 120); do
		out=$(on_peer "cat /tmp/rogue-$1.out")
		case $out in *"exit "[0-9]*) break ;; esac
		sleep 1
	done
	rogue_line=$(printf '%s\n' "$out" | grep "^$1: ") || rogue_line="$1: no verdict"
	note "rogue: $rogue_line"
	[ "$(printf '%s\n' "$out" | sed -n 's/^exit //p')" = 0 ] || fail "rogue-peer dest $1: $out"
}

# VM's slot digests, as rogue-peer prints them: HEX,HEX
digests() {
	vmq "$1" x-memory-digest | grep -o '"digest": *"[0-9a-f]*"' | cut -d'"' -f4 | paste -sd, -
}

expect_runs() {
	[ "$(field "$(vmq src query-status)" status)" = running ] || fail "$1: the source VM does not run"
}

lmig_load_both
lmvm_start src --mem 64M --vcpus 1 --dirty-rate 1M
slots=$(vmq src x-query-memory | grep -o '"gpa": *[0-9]*, *"size": *[0-9]*' |
	awk -F'[:,]' '{ printf "%s0:%d:%d", (NR > 1 ? "," : ""), $2 / 4096, $4 / 4096 }')
pins_before=$(pins_held)

# Refusals: lmctl start fails with the reason. A refusal in the handshake
# leaves no session; one that comes after the first GRANT (grant-short's
# READY, since round 0 starts on the first GRANT) can fail the session
# once started, and lmctl prints its summary: that one is removed here.
for case in error-text bad-grant grant-beyond grant-short bad-placement; do
	rogue_start "$case"
	! lmctl start --vm-pid "$pid_src" --to "$URI" --qmp /tmp/src.qmp --finalize auto --json \
		>/tmp/out 2>/tmp/err || fail "$case: the source went on"
	note "$case: lmctl: $(cat /tmp/err)"
	id=$(field "$(cat /tmp/out)" id)
	[ -z "$id" ] || lmctl remove "$id" >/dev/null
	case $case in
	error-text) grep -q "rogue-peer refuses" /tmp/err || fail "$case: the text is not shown" ;;
	bad-placement) grep -q "protocol error" /tmp/err || fail "$case: not a protocol error" ;;
	*) grep -q "grant" /tmp/err || fail "$case: the error does not say the grant was bad" ;;
	esac
	# 128 bytes without NUL are cut inside the session's message, not read past.
	! LC_ALL=C grep -q '[^[:print:][:space:]]' /tmp/err || fail "$case: unprintable bytes in the error"
	rogue_end "$case"
	expect_no_sessions
	expect_runs "$case"
done

# A session that fails after CONNECT and before START, here on the rogue's
# bad READY: START gets EBUSY and the status says why, which lmctl turns
# into "the session failed before it started". lmctl starts at once and
# nearly always wins that race, so uapi-session waits for the failure.
rogue_start bad-placement
uapi-session --start-late "$pid_src" "$URI"
rogue_end bad-placement
expect_no_sessions
expect_runs start-late

# Silent after READY, connection up: the source gives up in bounded time.
# CHECK: PEER_TIMEOUT (30 s) bounds it, or SEND_TIMEOUT (30 s) once the
# rogue's receive queue is empty and every send waits on RNR retries.
rogue_start silent --wait 240
t0=$(date +%s)
rc=0
lmctl start --vm-pid "$pid_src" --to "$URI" --qmp /tmp/src.qmp --finalize auto --json \
	>/tmp/start.json 2>/tmp/err || rc=$?
secs=$(($(date +%s) - t0))
[ $rc -eq 1 ] || fail "silent: lmctl exit $rc, expected 1: $(cat /tmp/err)"
[ $secs -le 180 ] || fail "silent: the source took $secs s to give up"
note "silent: the source gave up after $secs s: $(tail -n1 /tmp/err)"
rogue_end silent
expect_runs silent
expect_check_ok "source after a silent destination" "$(vmq src x-guest-check)"
lmctl remove "$(field "$(cat /tmp/start.json)" id)"

# FINAL out and no ACK: in doubt, paused, and resumable when nobody has the VM.
rogue_start drop-ack
rc=0
lmctl start --vm-pid "$pid_src" --to "$URI" --qmp /tmp/src.qmp --finalize auto --json \
	>/tmp/start.json 2>/tmp/err || rc=$?
note "drop-ack: lmctl: $(cat /tmp/err)"
[ $rc -eq 3 ] || fail "drop-ack: lmctl exit $rc, expected 3 (in doubt)"
id=$(field "$(cat /tmp/start.json)" id)
st=$(lmctl status "$id" --json)
[ "$(field "$st" state)" = in-doubt ] || fail "drop-ack: the session is not in doubt: $st"
[ "$(field "$(vmq src query-status)" status)" = paused ] || fail "drop-ack: the source VM is not paused"
rogue_end drop-ack
# Every page had arrived before FINAL: the rogue holds the paused VM's memory.
# CHECK: lmvm writes no guest memory while paused.
d=$(digests src)
case $rogue_line in *"digests $d"*) ;; *) fail "drop-ack: the rogue's memory is not the source's ($d)" ;; esac
vmq src cont >/dev/null
sleep 2
expect_runs drop-ack
expect_check_ok "source resumed after in-doubt" "$(vmq src x-guest-check)"
lmctl remove "$id"

# straight VM CASE [OPTION]: the rogue plays it straight; the migration of
# VM completes and the rogue has what VM has. The VM is then the rogue's;
# it is resumed all the same, as nobody will run the rogue's copy.
# START_OPTS are lmctl start's. The rogue speaks wire 1.1: the source
# never sends over more than one QP to it.
straight() {
	local vm=$1 c=$2 pid=pid_$1 what="$2${3:+ $3}${START_OPTS:+ $START_OPTS}" d
	shift 2
	rogue_start "$c" "$@"
	# shellcheck disable=SC2086
	lmctl start --vm-pid "${!pid}" --to "$URI" --qmp "/tmp/$vm.qmp" --finalize auto --json \
		${START_OPTS:-} >/tmp/start.json 2>/tmp/err ||
		fail "$what: the migration failed: $(cat /tmp/err)"
	[ "$(field "$(cat /tmp/start.json)" state)" = completed ] ||
		fail "$what: not completed: $(cat /tmp/start.json)"
	[ "$(field "$(cat /tmp/start.json)" qps)" = 1 ] ||
		fail "$what: not over one QP: $(cat /tmp/start.json)"
	rogue_end "$c"
	d=$(digests "$vm")
	case $rogue_line in
	*"digests $d"*) ;;
	*) fail "$what: the rogue's memory is not the source's ($d)" ;;
	esac
	lmctl remove "$(field "$(cat /tmp/start.json)" id)"
	vmq "$vm" cont >/dev/null
	expect_check_ok "source after $what" "$(vmq "$vm" x-guest-check)"
}

# CHECK: --copy (READY asking for DATA) needs wire 1.1's copy placement.
straight src ack --copy
straight src ack
# Asked for two QPs, a destination older than wire 1.4 gets one.
START_OPTS="--qps 2" straight src ack
# slow-grants registers slowly and reads nothing before READY. A fresh VM,
# its memory still mostly zero, makes the source send a zero marker each
# time round 0 catches up: those sends wait for room, and the source must
# still take the GRANTs whose delivery the rogue waits for, or both would
# wait for each other until SEND_TIMEOUT. The source's first send that
# found no receive waits for all of the grant phase, which must therefore
# stay well under SEND_TIMEOUT (30 s): 64 MiB is 128 GRANTs, about 7 s.
lmvm_start fresh --mem 64M --vcpus 1 --dirty-rate 64K
straight fresh slow-grants

expect_no_sessions
pins_unchanged here "$pins_before" "pages left pinned on the source"
lmig_unload_both
