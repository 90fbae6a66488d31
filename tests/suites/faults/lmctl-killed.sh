#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# lmctl is only a client: killed at any point (SIGKILL, no chance to clean
# up), its session lives on in the kernel and another lmctl takes over.
# Killed while it connects, the session is cancelled or was never made;
# killed mid-round, 'lmctl finalize' completes it; 'lmctl finalize' killed
# while it hands the VM over leaves a session that a second one or 'lmctl
# wait' sees through. The VM always ends up running whole on exactly one
# host, and nothing stays pinned on the destination.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
pins_before=$(peer_pins_held)

# last_source_id: the newest source session here, if any.
last_source_id() {
	lmctl list | awk '$1 ~ /^[0-9]+$/ && $2 == "source" { id = $1 } END { print id }'
}

# start_killable N DOWNTIME: an 'lmctl start --qmp' of VM srcN to dstN in
# the background, its output in /tmp/startN.out; sets lm and dst_id.
start_killable() {
	listen=$(peer_listen "dst$1")
	dst_id=$(field "$listen" id)
	: >"/tmp/start$1.out"
	lmctl start --vm-pid "$(eval echo "\$pid_src$1")" --to "$(field "$listen" uri)" \
		--downtime-limit "$2" --qmp "/tmp/src$1.qmp" >>"/tmp/start$1.out" 2>&1 &
	lm=$!
}

kill_lmctl() {
	kill -9 "$lm" 2>/dev/null || true
	wait "$lm" 2>/dev/null || true
}

# expect_on_destination N WHAT: the migration of srcN completed; the VM
# runs whole on host B only.
expect_on_destination() {
	[ "$(field "$(vmq "src$1" query-status)" status)" != running ] ||
		fail "$2: the source runs although the migration completed"
	on_peer "lmctl wait $dst_id --qmp /tmp/dst$1.qmp" >/dev/null ||
		fail "$2: the destination did not resume"
	sleep 2
	expect_check_ok "destination ($2)" "$(pvmq "dst$1" x-guest-check)"
}

# expect_on_source N WHAT: the migration of srcN was cancelled; the VM
# runs whole here, the destination session ended, nothing pinned there.
expect_on_source() {
	[ "$(field "$(vmq "src$1" query-status)" status)" = running ] ||
		fail "$2: the source guest is not running"
	expect_check_ok "source ($2)" "$(vmq "src$1" x-guest-check)"
	on_peer "lmctl cancel $dst_id" >/dev/null 2>&1 || true
	st=$(field "$(on_peer "lmctl status $dst_id --json")" state)
	case $st in
	cancelled | failed) ;;
	*) fail "$2: the destination session is still $st" ;;
	esac
	pins_unchanged peer "$pins_before" "$2: the destination keeps pages pinned"
}

# clean_up N ID: forget both sessions and quit both VMMs of migration N.
clean_up() {
	[ -z "$2" ] || lmctl remove "$2"
	on_peer "lmctl remove $dst_id"
	vmq "src$1" quit >/dev/null 2>&1 || true
	pvmq "dst$1" quit >/dev/null 2>&1 || true
}

n=0
# Killed while it connects: no session, or one that a cancel ends.
for delay in 0.05 0.2 0.5; do
	n=$((n + 1))
	lmvm_start "src$n" --mem 64M --vcpus 1 --dirty-rate 256K
	peer_lmvm_start "dst$n" --incoming --mem 64M --vcpus 1
	start_killable $n 300
	sleep "$delay"
	kill_lmctl
	id=$(last_source_id)
	st=none
	if [ -n "$id" ]; then
		st=$(field "$(lmctl status "$id" --json)" state)
		lmctl cancel "$id" || fail "connect, delay $delay: cancel of a $st session failed"
		end=$(field "$(lmctl status "$id" --json)" state)
		[ "$end" = cancelled ] || fail "connect, delay $delay: the $st session ended $end"
	fi
	note "killed $delay s into 'lmctl start': its session was $st"
	expect_on_source $n "killed $delay s into connect"
	clean_up $n "$id"
done

# Killed mid-round: the session goes on; a later finalize completes it.
# The guest dirties fast enough to take several rounds.
n=$((n + 1))
lmvm_start "src$n" --mem 128M --vcpus 1 --dirty-rate 4M
peer_lmvm_start "dst$n" --incoming --mem 128M --vcpus 1
start_killable $n 300
for _ in $(seq 300); do
	[ "$(field "$(lmctl status "$(last_source_id)" --json 2>/dev/null)" transferred_pages)" -gt 0 ] \
		2>/dev/null && break
	sleep 0.1
done
sleep 0.5
kill_lmctl
id=$(last_source_id)
[ -n "$id" ] || fail "no session left after lmctl was killed mid-round"
sleep 2
st=$(field "$(lmctl status "$id" --json)" state)
case $st in active | converged) ;; *) fail "the session is $st after lmctl died mid-round" ;; esac
[ "$(field "$(vmq "src$n" query-status)" status)" = running ] || fail "the guest stopped with lmctl"
lmctl finalize "$id" --qmp "/tmp/src$n.qmp" >/dev/null ||
	fail "lmctl finalize did not complete the session lmctl left mid-round"
note "killed mid-round: its session was $st; 'lmctl finalize' completed it"
expect_on_destination $n "killed mid-round"
clean_up $n "$id"

# Killed during the handover, at several delays after it began. A guest
# that dirties twice what the session may send never converges, so the
# last round, after 'lmctl finalize' paused the VM, takes seconds (up to
# 32 MiB at 4 MiB/s).
for delay in 0 0.5 1.5; do
	n=$((n + 1))
	lmvm_start "src$n" --mem 32M --vcpus 1 --dirty-rate 8M
	peer_lmvm_start "dst$n" --incoming --mem 32M --vcpus 1
	listen=$(peer_listen "dst$n")
	dst_id=$(field "$listen" id)
	id=$(field "$(lmctl start --vm-pid "$(eval echo "\$pid_src$n")" --to "$(field "$listen" uri)" \
		--max-bandwidth "$(load 4M)" --json)" id)
	[ -n "$id" ] || fail "handover, delay $delay: lmctl start printed no id"
	for _ in $(seq 600); do
		[ "$(field "$(lmctl status "$id" --json)" rounds)" -ge 2 ] && break
		sleep 0.1
	done
	: >"/tmp/fin$n.out"
	lmctl finalize "$id" --qmp "/tmp/src$n.qmp" >>"/tmp/fin$n.out" 2>&1 &
	lm=$!
	for _ in $(seq 3000); do
		grep -q "has not converged" "/tmp/fin$n.out" && break
		kill -0 "$lm" 2>/dev/null || fail "lmctl finalize ended early: $(cat "/tmp/fin$n.out")"
		sleep 0.02
	done
	sleep "$delay"
	kill_lmctl
	st=$(field "$(lmctl status "$id" --json)" state)

	# What an operator does: look, and finish what lmctl left.
	case $st in
	active | converged)
		lmctl finalize "$id" --qmp "/tmp/src$n.qmp" >/dev/null ||
			fail "handover, delay $delay: finalize by hand failed" ;;
	finalizing)
		lmctl wait "$id" >/dev/null || true ;;
	esac
	end=$(field "$(lmctl status "$id" --json)" state)
	note "killed $delay s into 'lmctl finalize': its session was $st, then $end"
	[ "$end" = completed ] || fail "handover, delay $delay: the migration ended $end"
	expect_on_destination $n "killed $delay s into the handover"
	clean_up $n "$id"
done
lmig_unload_both
