#!/bin/bash
# rig: two-hosts
# timeout: 600
#
# QEMU as lmig's client, from host A to host B: lmig moves a running
# qguest's RAM over RDMA, QEMU's own migration (x-ignore-shared) only its
# devices. On B, lmctl listen readies the destination QEMU (-incoming
# defer) for its device state and lmctl wait returns once it runs; on A,
# lmctl start --qemu-migrate migrates the RAM, pauses the source once
# converged, finalizes, then has QEMU send the devices. The guest beats
# on at B, not started over, and checks every page it ever wrote.
#
# On QEMU's PC machines, pc and q35: their firmware's shadow RAM (PAM)
# and SMRAM give the running source memslots over the same RAM that the
# waiting destination lacks until it loads the chipset's state; lmig
# moves the shared RAM file, not the memslots, so the layouts agree.
# (microvm, whose layout never changes, migrated before pc and q35 did.)
. "$RIG_REPO/tests/lib.sh"

# migrate MACHINE
migrate() {
	local MACHINE=$1 out id uri waiter sum last
	note "machine $MACHINE"
	qguest_start qlsrc -machine "$MACHINE"
	qguest_wait qlsrc "qguest: beat 2," 180
	qguest_check qlsrc

	peer_qguest qldst qguest_start -machine "$MACHINE" -incoming defer ||
		fail "the destination QEMU did not start on host B"
	out=$(on_peer "lmctl listen --vm-pid \$(cat /tmp/qldst.pid) --qmp /tmp/qldst.qmp \
		--qemu-incoming tcp:0.0.0.0:4444 --json 2>&1") || fail "lmctl listen on host B: $out"
	id=$(field "$out" id)
	uri=$(printf '%s\n' "$out" | sed -n 's/.*"uri": "\([^"]*\)".*/\1/p')
	on_peer "lmctl wait $id --qmp /tmp/qldst.qmp" >/tmp/qlwait.out 2>&1 &
	waiter=$!

	lmctl start --vm-pid "$pid_qlsrc" --to "$uri" --qmp /tmp/qlsrc.qmp \
		--qemu-migrate "tcp:$RIG_PEER:4444" --json >/tmp/qlstart.json 2>/tmp/qlstart.err ||
		fail "lmctl start: $(tail -n 5 /tmp/qlstart.err)"
	wait "$waiter" || fail "lmctl wait on host B: $(cat /tmp/qlwait.out)"
	sum=$(cat /tmp/qlstart.json)
	note "lmig: $(field "$sum" state), total $(field "$sum" total_time_ms) ms, $(field "$sum" rounds) rounds, $(field "$sum" transferred_pages) pages and $(field "$sum" zero_pages) zero pages"
	note "downtime $(field "$sum" measured_downtime_ms) ms from QEMU's stop to its devices sent; lmig's own part $(field "$sum" downtime_ms) ms"
	note "$(grep "QEMU sent the device state" /tmp/qlstart.err | sed 's/^lmctl: //')"
	[ "$(field "$(vmq qlsrc query-status)" status)" = postmigrate ] ||
		fail "the source QEMU is not postmigrate: $(vmq qlsrc query-status)"
	[ "$(field "$(pvmq qldst query-status)" status)" = running ] ||
		fail "the destination QEMU does not run: $(pvmq qldst query-status)"

	last=$(qguest_last_beat qlsrc)
	peer_qguest qldst qguest_wait "qguest: beat $((last + 2))," 60 || fail "no beats on host B"
	! on_peer "grep -q 'qguest: filled' /tmp/qldst.log" || fail "the guest started over on host B"
	note "qldst: $(on_peer "grep 'qguest: beat' /tmp/qldst.log | tail -n1"), after beat $last on host A"
	peer_qguest qldst qguest_check || fail "the guest's check on host B did not pass"
	qguest_stop qlsrc
	peer_qguest qldst qguest_stop
	on_peer "lmctl remove $id" >/dev/null
	lmctl list | awk '$1 ~ /^[0-9]+$/ { print $1 }' | xargs -r -n1 lmctl remove >/dev/null
}

lmig_load_both
for m in pc q35; do
	migrate "$m"
done
lmig_unload_both
