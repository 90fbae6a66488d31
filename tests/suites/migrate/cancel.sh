#!/bin/bash
# rig: two-hosts
# timeout: 600
#
# lmctl cancel in the middle of a migration: the source guest keeps running
# and checks every page it wrote; the destination session fails, its VM is
# never resumed, and it keeps no page pinned; a new migration right after
# succeeds.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 256M --vcpus 2
lmvm_start src --mem 256M --vcpus 2 --dirty-rate 1M
pins_before=$(peer_pins_held)

listen=$(peer_listen dst)
dst_id=$(field "$listen" id)
started=$(lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --json)
src_id=$(field "$started" id)
[ -n "$src_id" ] || fail "lmctl start printed no id: $started"

# Cancel once pages are moving.
for _ in $(seq 300); do
	st=$(lmctl status "$src_id" --json)
	[ "$(field "$st" transferred_pages)" -gt 0 ] && break
	sleep 0.2
done
note "before cancel: $st"
lmctl cancel "$src_id"
[ "$(field "$(lmctl status "$src_id" --json)" state)" = cancelled ] || fail "not cancelled"
[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
expect_check_ok "source after cancel" "$(vmq src x-guest-check)"

! on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" >/tmp/wait.out 2>&1 ||
	fail "the destination completed a cancelled migration"
note "destination: $(cat /tmp/wait.out)"
[ "$(field "$(pvmq dst query-status)" status)" = inmigrate ] || fail "the destination VM was resumed"
pins_unchanged peer "$pins_before" "the failed destination keeps pages pinned"

# Both sessions are finished; forget them and move the VM for real.
lmctl remove "$src_id"
on_peer "lmctl remove $dst_id"
peer_lmvm_start dst2 --incoming --mem 256M --vcpus 2
listen=$(peer_listen dst2)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json || fail "the migration after the cancel failed: $(cat /tmp/start.json)"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst2.qmp" || fail "dst2 did not resume"
sleep 2
expect_check_ok "destination after a new migration" "$(pvmq dst2 x-guest-check)"
lmig_unload_both
