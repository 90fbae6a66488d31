#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# The link goes down in the middle of a migration, first on the source's
# side, then on the destination's, for longer than RC's retries last, and
# comes back. Each time both sessions fail on their own, without a word
# from the other side (no disconnect reaches them): the source guest runs
# on and checks every page it wrote, the destination VM is never resumed
# and keeps nothing pinned, and a migration over the restored link
# succeeds.
. "$RIG_REPO/tests/lib.sh"

# Longer than a dead peer takes to notice (retries of about 2 s, 7 times).
DOWN=35

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

	# On the peer the link goes down under the command that cut it, so
	# that command runs detached and brings the link back by itself.
	t0=$(date +%s)
	if [ "$side" = source ]; then
		ip link set eth0 down
	else
		on_peer "setsid sh -c 'ip link set eth0 down; sleep $DOWN; ip link set eth0 up' \
			</dev/null >/dev/null 2>&1 &"
	fi
	note "$side link down"

	st=$(wait_session_state here "$src_id" failed 120)
	[ "$(field "$st" state)" = failed ] || fail "the source did not notice the dead link: $st"
	note "source failed after $(($(date +%s) - t0)) s: $(field "$st" message)"
	[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
	expect_check_ok "source with the $side link down" "$(vmq src x-guest-check)"

	if [ "$side" = source ]; then
		sleep $((DOWN - ($(date +%s) - t0) > 0 ? DOWN - ($(date +%s) - t0) : 0))
		ip link set eth0 up
	fi
	note "$side link up after $(($(date +%s) - t0)) s"
	# The peer answers again once the link is back.
	for _ in $(seq 120); do on_peer true 2>/dev/null && break; sleep 1; done

	st=$(wait_session_state peer "$dst_id" failed 120)
	[ "$(field "$st" state)" = failed ] || fail "the destination did not notice the dead link: $st"
	note "destination failed after $(($(date +%s) - t0)) s: $(field "$st" message)"
	! on_peer "lmctl wait $dst_id --qmp /tmp/dst_$side.qmp" >/dev/null 2>&1 ||
		fail "the destination resumed after a failed migration"
	[ "$(field "$(pvmq "dst_$side" query-status)" status)" = inmigrate ] ||
		fail "the destination VM was resumed"
	pins_unchanged peer "$pins_before" "the failed destination keeps pages pinned"
	lmctl remove "$src_id"
	on_peer "lmctl remove $dst_id"

	# rxe's own limit, not lmig's: a MAD sent while the link was down
	# (the disconnect) fails and leaves rxe's QP1 in error for good, and
	# with it RDMA CM on that host. A new rxe0 has a new QP1.
	rxe_renew="rdma link delete rxe0; $RXE_ADD"
	if [ "$side" = source ]; then bash -c "$rxe_renew"; else on_peer "$rxe_renew"; fi
done

# The link carries a whole migration again.
peer_lmvm_start dst --incoming --mem 256M --vcpus 1
listen=$(peer_listen dst)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json || fail "the migration after the link came back failed: $(cat /tmp/start.json)"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst.qmp" || fail "dst did not resume"
sleep 2
expect_check_ok "destination after the link came back" "$(pvmq dst x-guest-check)"
lmig_unload_both
