#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# The destination host loses its power in the middle of a migration: no
# disconnect, no error, just silence. The source notices on its own, its
# session fails, lmctl says so, and the guest runs on and checks every
# page. Once the host is back, a migration to it succeeds.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
lmvm_start src --mem 256M --vcpus 1 --dirty-rate 1M
peer_lmvm_start dst --incoming --mem 256M --vcpus 1
listen=$(peer_listen dst)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json 2>/tmp/start.err &
start_pid=$!
src_id=
for _ in $(seq 300); do
	[ -n "$src_id" ] || src_id=$(lmctl list | awk '$1 ~ /^[0-9]+$/ { print $1; exit }')
	[ -n "$src_id" ] && [ "$(field "$(lmctl status "$src_id" --json)" transferred_pages)" -gt 0 ] &&
		break
	sleep 0.2
done
[ -n "$src_id" ] || fail "lmctl start made no session: $(cat /tmp/start.err)"

t0=$(date +%s)
power_cycle_peer
note "host B is back after $(($(date +%s) - t0)) s"
rc=0
wait "$start_pid" || rc=$?
[ $rc -eq 1 ] || fail "lmctl start: exit $rc, expected 1: $(cat /tmp/start.err)"
note "lmctl after $(($(date +%s) - t0)) s: $(tail -n2 /tmp/start.err | tr '\n' ' ')"
st=$(lmctl status "$src_id" --json)
[ "$(field "$st" state)" = failed ] || fail "the source session is not failed: $st"
note "source: $(field "$st" message)"
[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
expect_check_ok "source after the destination lost power" "$(vmq src x-guest-check)"
lmctl remove "$src_id"

# Host B came back with nothing: lmig again, a VM, and the migration.
on_peer "insmod $LMIG_KO"
peer_lmvm_start dst2 --incoming --mem 256M --vcpus 1
listen=$(peer_listen dst2)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json || fail "the migration after the power cut failed: $(cat /tmp/start.json)"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst2.qmp" || fail "dst2 did not resume"
sleep 2
expect_check_ok "destination after its power cut" "$(pvmq dst2 x-guest-check)"
lmig_unload_both
