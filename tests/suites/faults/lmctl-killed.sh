#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# lmctl is only a client: killed at any point (SIGKILL, no chance to clean
# up), the session lives on in the kernel and another lmctl takes over.
# Killed mid-round, 'lmctl finalize' later completes the migration; killed
# while it hands over (right after it paused the VM, at several delays),
# the session either completes by itself or is finalized by hand, and the
# VM always ends up running on exactly one host, whole. A session left
# behind is cancelled like any other.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both

# Killed mid-round: the session goes on; a later finalize completes it.
lmvm_start src0 --mem 128M --vcpus 1 --dirty-rate 512K
peer_lmvm_start dst0 --incoming --mem 128M --vcpus 1
listen=$(peer_listen dst0)
lmctl start --vm-pid "$pid_src0" --to "$(field "$listen" uri)" --qmp /tmp/src0.qmp \
	>/dev/null 2>&1 &
sleep 3
kill -9 $!
id=$(lmctl list | awk '$1 ~ /^[0-9]+$/ { print $1; exit }')
[ -n "$id" ] || fail "no session left after lmctl was killed"
sleep 2
st=$(field "$(lmctl status "$id" --json)" state)
case $st in active | converged) ;; *) fail "the session is $st after lmctl died" ;; esac
[ "$(field "$(vmq src0 query-status)" status)" = running ] || fail "the guest stopped with lmctl"
lmctl finalize "$id" --qmp /tmp/src0.qmp >/dev/null || fail "lmctl finalize did not complete the session"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst0.qmp" >/dev/null || fail "dst0 did not resume"
sleep 2
expect_check_ok "destination after lmctl was killed mid-round" "$(pvmq dst0 x-guest-check)"
lmctl remove "$id"
on_peer "lmctl remove $(field "$listen" id)"

# Killed during the handover, at several delays after it paused the VM.
n=0
for delay in 0 0.1 0.3 1; do
	n=$((n + 1))
	lmvm_start "src$n" --mem 64M --vcpus 1 --dirty-rate 256K
	peer_lmvm_start "dst$n" --incoming --mem 64M --vcpus 1
	listen=$(peer_listen "dst$n")
	dst_id=$(field "$listen" id)
	lmctl start --vm-pid "$(eval echo "\$pid_src$n")" --to "$(field "$listen" uri)" \
		--qmp "/tmp/src$n.qmp" >/tmp/start.out 2>&1 &
	lm=$!
	for _ in $(seq 600); do
		grep -q "pausing the VM" /tmp/start.out && break
		sleep 0.1
	done
	sleep "$delay"
	kill -9 "$lm" 2>/dev/null || true
	wait "$lm" 2>/dev/null || true
	id=$(lmctl list | awk '$1 ~ /^[0-9]+$/ { id = $1 } END { print id }')

	# What an operator does: look, and finish what lmctl left.
	st=$(field "$(lmctl status "$id" --json)" state)
	case $st in
	active | converged)
		lmctl finalize "$id" --qmp "/tmp/src$n.qmp" >/dev/null 2>&1 ||
			fail "delay $delay: finalize by hand failed" ;;
	finalizing)
		lmctl wait "$id" >/dev/null 2>&1 || true ;;
	esac
	end=$(field "$(lmctl status "$id" --json)" state)
	note "delay $delay s: the session was $st when lmctl died, then $end"
	[ "$end" = completed ] || fail "delay $delay: the migration ended $end"
	[ "$(field "$(vmq "src$n" query-status)" status)" != running ] ||
		fail "delay $delay: the source runs although the migration completed"
	on_peer "lmctl wait $dst_id --qmp /tmp/dst$n.qmp" >/dev/null ||
		fail "delay $delay: the destination did not resume"
	sleep 2
	expect_check_ok "destination (delay $delay)" "$(pvmq "dst$n" x-guest-check)"
	lmctl remove "$id"
	on_peer "lmctl remove $dst_id"
done

# A session whose lmctl died is cancelled like any other.
lmvm_start last --mem 64M --vcpus 1 --dirty-rate 256K
peer_lmvm_start dstl --incoming --mem 64M --vcpus 1
listen=$(peer_listen dstl)
lmctl start --vm-pid "$pid_last" --to "$(field "$listen" uri)" >/dev/null
id=$(lmctl list | awk '$1 ~ /^[0-9]+$/ { id = $1 } END { print id }')
lmctl cancel "$id"
[ "$(field "$(lmctl status "$id" --json)" state)" = cancelled ] || fail "cancel did not end it"
expect_check_ok "source after cancel" "$(vmq last x-guest-check)"
lmig_unload_both
