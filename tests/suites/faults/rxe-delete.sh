#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# The RDMA device goes away (rdma link delete rxe0) in the middle of a
# migration, on the source's side, then on the destination's, and under a
# destination that only listens. The deletion never hangs on lmig: the
# session on that host fails and frees everything it had on the device
# (QP, MRs, mappings, pinned pages), the other side fails on its own, the
# source guest runs on and checks every page, no destination VM resumes,
# and once the device is back a migration succeeds.
. "$RIG_REPO/tests/lib.sh"


lmig_load_both
lmvm_start src --mem 256M --vcpus 1 --dirty-rate 1M
pins_before=$(peer_pins_held)

for side in source destination; do
	peer_lmvm_start "dst_$side" --incoming --mem 256M --vcpus 1
	listen=$(peer_listen "dst_$side")
	dst_id=$(field "$listen" id)
	src_id=$(field "$(lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --json)" id)
	[ -n "$src_id" ] || fail "lmctl start printed no id"
	for _ in $(seq 300); do
		[ "$(field "$(lmctl status "$src_id" --json)" transferred_pages)" -gt 0 ] && break
		sleep 0.2
	done

	# Removal waits for every user of the device: it must come back.
	if [ "$side" = source ]; then
		timeout 60 rdma link delete rxe0 || fail "rdma link delete hung or failed on the source"
	else
		on_peer "timeout 60 rdma link delete rxe0" ||
			fail "rdma link delete hung or failed on the destination"
	fi
	note "rxe0 deleted on the $side"

	st=$(wait_session_state here "$src_id" failed 120)
	[ "$(field "$st" state)" = failed ] || fail "the source did not fail: $st"
	note "source: $(field "$st" message)"
	[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
	expect_check_ok "source after rxe0 went away on the $side" "$(vmq src x-guest-check)"

	st=$(wait_session_state peer "$dst_id" failed 120)
	[ "$(field "$st" state)" = failed ] || fail "the destination did not fail: $st"
	note "destination: $(field "$st" message)"
	[ "$(field "$(pvmq "dst_$side" query-status)" status)" = inmigrate ] ||
		fail "the destination VM was resumed"
	pins_unchanged peer "$pins_before" "the destination keeps pages pinned"

	if [ "$side" = source ]; then bash -c "$RXE_ADD"; else on_peer "$RXE_ADD"; fi
	lmctl remove "$src_id"
	on_peer "lmctl remove $dst_id"
done

# A destination bound to the device's address only listens when it goes.
peer_lmvm_start idle --incoming --mem 64M --vcpus 1
listen=$(on_peer "lmctl listen --vm-pid \$(cat /tmp/idle.pid) --bind $RIG_PEER --json")
idle_id=$(field "$listen" id)
on_peer "timeout 60 rdma link delete rxe0" || fail "rdma link delete hung under a listener"
st=$(wait_session_state peer "$idle_id" failed 30)
[ "$(field "$st" state)" = failed ] || fail "the listening session did not fail: $st"
note "listener: $(field "$st" message)"
on_peer "$RXE_ADD"
on_peer "lmctl remove $idle_id"

# With the device back, a migration goes through.
peer_lmvm_start dst --incoming --mem 256M --vcpus 1
listen=$(peer_listen dst)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json || fail "the migration after rxe0 came back failed: $(cat /tmp/start.json)"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst.qmp" || fail "dst did not resume"
sleep 2
expect_check_ok "destination after rxe0 came back" "$(pvmq dst x-guest-check)"
lmig_unload_both
