#!/bin/bash
# rig: two-hosts
# timeout: 400
#
# Unloading lmig in the middle of a migration: on the source, every session
# is cancelled cleanly and the guest runs on and checks every page; the
# destination's session fails, its VM is never resumed, and lmig unloads
# there too with the failed session still listed. No kernel report.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 256M --vcpus 1
lmvm_start src --mem 256M --vcpus 1 --dirty-rate 1M
listen=$(peer_listen dst)
dst_id=$(field "$listen" id)
src_id=$(field "$(lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --json)" id)
for _ in $(seq 300); do
	[ "$(field "$(lmctl status "$src_id" --json)" transferred_pages)" -gt 0 ] && break
	sleep 0.2
done

rmmod lmig || fail "lmig would not unload under a running migration"
[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
expect_check_ok "source after rmmod" "$(vmq src x-guest-check)"

! on_peer "lmctl wait $dst_id" >/tmp/wait.out 2>&1 || fail "the destination completed"
note "destination: $(tail -n1 /tmp/wait.out)"
[ "$(field "$(pvmq dst query-status)" status)" = inmigrate ] || fail "the destination VM was resumed"
on_peer "rmmod lmig" || fail "lmig would not unload on the destination"
