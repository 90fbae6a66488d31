#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# A live migration end to end: a 1 GiB lmvm with 2 vCPUs dirtying 2 MB/s
# in all moves from host A to host B with `lmctl start --finalize auto`.
# The paused source's memory digest equals the destination's before it
# resumes; the destination resumes and its guest checks every page it
# ever wrote; nothing is left in either kernel.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 1G --vcpus 2
lmvm_start src --mem 1G --vcpus 2 --dirty-rate 1M
sleep 3

listen=$(peer_listen dst)
note "listen: $listen"
uri=$(field "$listen" uri)
dst_id=$(field "$listen" id)
[ -n "$uri" ] && [ -n "$dst_id" ] || fail "lmctl listen printed no URI and id"

lmctl start --vm-pid "$pid_src" --to "$uri" --qmp /tmp/src.qmp --finalize auto --json \
	>/tmp/start.json 2>/tmp/start.err || {
	cat /tmp/start.err /tmp/start.json
	lmctl status --json || true
	on_peer "lmctl status --json; dmesg | tail -20" || true
	fail "lmctl start failed"
}
result=$(cat /tmp/start.json)
note "source: $result"
[ "$(field "$result" state)" = completed ] || fail "the source session did not complete"

# The destination completed too; its VM has not run yet.
on_peer "lmctl wait $dst_id --json" >/tmp/wait.json || fail "the destination did not complete: $(cat /tmp/wait.json)"
note "destination: $(cat /tmp/wait.json)"
[ "$(field "$(pvmq dst query-status)" status)" = inmigrate ] || fail "the destination ran before it was told"
src_digest=$(vmq src x-memory-digest)
dst_digest=$(pvmq dst x-memory-digest)
[ "$src_digest" = "$dst_digest" ] || fail "digests differ: $src_digest / $dst_digest"
note "memory digests equal: $src_digest"

# Now it takes the source's state and runs on.
on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" || fail "lmctl wait --qmp did not resume the destination"
[ "$(field "$(pvmq dst query-status)" status)" = running ] || fail "the destination does not run"
sleep 3
expect_check_ok destination "$(pvmq dst x-guest-check)"
note "destination heartbeats: $(pvmq dst x-heartbeat-stats)"

lmig_unload_both
