#!/bin/bash
# rig: one-host
# timeout: 600
#
# QEMU as lmig's client: lmig moves a running qguest's RAM, QEMU's own
# migration (x-ignore-shared) only its devices. lmctl listen readies the
# destination QEMU (-incoming defer) for its device state; lmctl start
# --qemu-migrate migrates the RAM, pauses the source once converged,
# finalizes, then has QEMU send the devices; lmctl wait returns once the
# destination QEMU runs. The guest beats on there, not started over, and
# checks every page it ever wrote.
#
# The machine is microvm: its memory layout does not depend on what its
# firmware did. On pc and q35 the firmware's shadow RAM (PAM) gives the
# running source memslots that a waiting destination does not have yet,
# and lmig refuses the layouts (see Documentation/qemu.rst).
. "$RIG_REPO/tests/lib.sh"

lmig_loaded || insmod "$LMIG_KO"
MACHINE="microvm,pit=on,pic=on"

qguest_start qlsrc -machine "$MACHINE"
qguest_wait qlsrc "qguest: beat 2," 180
qguest_check qlsrc

qguest_start qldst -machine "$MACHINE" -incoming defer
out=$(lmctl listen --vm-pid "$pid_qldst" --qmp /tmp/qldst.qmp --qemu-incoming tcp:127.0.0.1:4444 \
	--json 2>&1) || fail "lmctl listen: $out"
id=$(field "$out" id)
uri=$(printf '%s\n' "$out" | sed -n 's/.*"uri": "\([^"]*\)".*/\1/p')
lmctl wait "$id" --qmp /tmp/qldst.qmp >/tmp/qlwait.out 2>&1 &
waiter=$!

lmctl start --vm-pid "$pid_qlsrc" --to "$uri" --qmp /tmp/qlsrc.qmp \
	--qemu-migrate tcp:127.0.0.1:4444 --json >/tmp/qlstart.json 2>/tmp/qlstart.err ||
	fail "lmctl start: $(tail -n 5 /tmp/qlstart.err)"
wait "$waiter" || fail "lmctl wait: $(cat /tmp/qlwait.out)"
sum=$(cat /tmp/qlstart.json)
note "lmig: $(field "$sum" state), total $(field "$sum" total_time_ms) ms, $(field "$sum" rounds) rounds, downtime $(field "$sum" measured_downtime_ms) ms (QEMU stop to devices sent; lmig's own part $(field "$sum" downtime_ms) ms)"
note "$(grep "QEMU sent the device state" /tmp/qlstart.err | sed 's/^lmctl: //')"
[ "$(field "$(vmq qlsrc query-status)" status)" = postmigrate ] ||
	fail "the source QEMU is not postmigrate: $(vmq qlsrc query-status)"
[ "$(field "$(vmq qldst query-status)" status)" = running ] ||
	fail "the destination QEMU does not run: $(vmq qldst query-status)"

last=$(grep "qguest: beat" /tmp/qlsrc.log | tail -n1 | sed 's/.*beat \([0-9]*\),.*/\1/')
qguest_wait qldst "qguest: beat $((last + 2))," 60
! grep -q "qguest: filled" /tmp/qldst.log || fail "the guest started over on the destination"
note "qldst: $(grep "qguest: beat" /tmp/qldst.log | tail -n1), after beat $last on the source"
qguest_check qldst
