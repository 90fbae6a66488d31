#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# A live migration over several QPs (wire 1.4, `lmctl start --qps`): the
# source joins three data QPs to the destination's session and stripes its
# WRITEs over all four. Both sides count four QPs, the paused source's
# memory digest equals the destination's, and the resumed guest checks
# every page it ever wrote; nothing is left in either kernel.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 256M --vcpus 2
lmvm_start src --mem 256M --vcpus 2 --dirty-rate 1M
sleep 3

listen=$(peer_listen dst)
uri=$(field "$listen" uri)
dst_id=$(field "$listen" id)
[ -n "$uri" ] && [ -n "$dst_id" ] || fail "lmctl listen printed no URI and id: $listen"

lmctl start --vm-pid "$pid_src" --to "$uri" --qps 4 --qmp /tmp/src.qmp --json \
	>/tmp/start.json 2>/tmp/start.err || {
	cat /tmp/start.err /tmp/start.json
	on_peer "lmctl status --json; dmesg | tail -20" || true
	fail "lmctl start --qps 4 failed"
}
result=$(cat /tmp/start.json)
note "source: $result"
[ "$(field "$result" state)" = completed ] || fail "the source session did not complete"
[ "$(field "$result" qps)" = 4 ] ||
	fail "the source did not send over 4 QPs: $result; $(dmesg | grep -a 'did not join' | tail -n 3)"

on_peer "lmctl wait $dst_id --json" >/tmp/wait.json || fail "the destination did not complete: $(cat /tmp/wait.json)"
st=$(on_peer "lmctl status $dst_id --json")
[ "$(field "$st" qps)" = 4 ] || fail "the destination did not accept 3 data QPs: $st"
src_digest=$(vmq src x-memory-digest)
dst_digest=$(pvmq dst x-memory-digest)
[ "$src_digest" = "$dst_digest" ] || fail "digests differ: $src_digest / $dst_digest"
note "memory digests equal over 4 QPs: $src_digest"

on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" || fail "lmctl wait --qmp did not resume the destination"
sleep 2
expect_check_ok destination "$(pvmq dst x-guest-check)"

lmig_unload_both
