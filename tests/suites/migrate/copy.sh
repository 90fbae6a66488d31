#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# The fallback for devices without fast registration: with fastreg=N the
# destination pins and registers nothing, and the source sends pages in
# messages that the destination copies into the VM. A live migration then
# works as well: equal memory digests before the destination resumes, and
# its guest checks every page it wrote.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
on_peer "rmmod lmig && insmod $LMIG_KO fastreg=0"
peer_lmvm_start dst --incoming --mem 256M --vcpus 1
lmvm_start src --mem 256M --vcpus 1 --dirty-rate 1M
pins_before=$(peer_pins_held)

listen=$(peer_listen dst)
dst_id=$(field "$listen" id)
# Started without --qmp, the session sends round after round until it is
# finalized: the destination can be looked at while pages arrive.
src_id=$(field "$(lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --json)" id)
[ -n "$src_id" ] || fail "lmctl start printed no id"
for _ in $(seq 300); do
	st=$(on_peer "lmctl status $dst_id --json")
	[ "$(field "$st" transferred_pages)" -gt 0 ] && break
	sleep 0.5
done
note "destination while receiving: $st"
case $st in *"pages come by copy: fastreg=N"*) ;; *) fail "the destination does not say it copies: $st" ;; esac
pins_unchanged peer "$pins_before" "the copy path pinned pages"

lmctl finalize "$src_id" --qmp /tmp/src.qmp --json >/tmp/start.json 2>/tmp/start.err || {
	cat /tmp/start.err /tmp/start.json
	on_peer "lmctl status $dst_id --json" || true
	fail "lmctl finalize failed"
}
note "source: $(cat /tmp/start.json)"
on_peer "lmctl wait $dst_id --json" >/tmp/wait.json || fail "the destination did not complete: $(cat /tmp/wait.json)"
note "destination: $(cat /tmp/wait.json)"

src_digest=$(vmq src x-memory-digest)
dst_digest=$(pvmq dst x-memory-digest)
[ "$src_digest" = "$dst_digest" ] || fail "digests differ: $src_digest / $dst_digest"
note "memory digests equal: $src_digest"
on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" || fail "lmctl wait --qmp did not resume the destination"
sleep 3
expect_check_ok destination "$(pvmq dst x-guest-check)"
lmig_unload_both
