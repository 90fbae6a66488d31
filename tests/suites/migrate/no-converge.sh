#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# A guest that dirties memory faster than the link carries it never
# converges: the session says so, and lmctl says how far off it is. An
# operator's `lmctl finalize` still completes the migration correctly:
# the guest checks every page on the destination.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 128M --vcpus 1
lmvm_start src --mem 128M --vcpus 1 --dirty-rate max

listen=$(peer_listen dst)
dst_id=$(field "$listen" id)
started=$(lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --json)
src_id=$(field "$started" id)

# Several rounds, never converged, however slow the hosts are: lmctl
# watch says so once it has seen a round that did not shrink.
timeout 600 lmctl watch "$src_id" 2>&1 | tee /tmp/watch.out | grep -q "not converging" ||
	fail "lmctl watch did not say it is not converging: $(tail -n 3 /tmp/watch.out)"
grep "not converging" /tmp/watch.out | head -n 1
st=$(lmctl status "$src_id" --json)
note "then: $st"
[ "$(field "$st" state)" = active ] || fail "a guest faster than the link converged: $st"
[ "$(field "$st" rounds)" -ge 2 ] || fail "not converging before round 2: $st"

# By hand: pause, send the rest, complete.
lmctl finalize "$src_id" --qmp /tmp/src.qmp --json >/tmp/fin.json || fail "finalize failed: $(cat /tmp/fin.json)"
note "finalized: $(cat /tmp/fin.json)"
on_peer "lmctl wait $dst_id" >/dev/null || fail "the destination did not complete"
[ "$(vmq src x-memory-digest)" = "$(pvmq dst x-memory-digest)" ] || fail "memory digests differ"
on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" || fail "the destination did not resume"
sleep 2
expect_check_ok destination "$(pvmq dst x-guest-check)"
lmig_unload_both
