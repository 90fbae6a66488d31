#!/bin/bash
# rig: one-host
# timeout: 400
#
# The yardstick's own ground: Debian's QEMU runs qguest (tests/qguest/)
# under KVM in an emulated host, the guest fills its RAM and dirties it,
# and QEMU's own migration over TCP moves it to a second QEMU on the same
# host, where the guest beats on and checks every page it wrote. This is
# the guest lmig's QEMU tests and benchmarks run, and the migration they
# are compared with.
. "$RIG_REPO/tests/lib.sh"

# QEMU's own migration copies RAM: no shared backend needed.
QGUEST_MEM="-m 128M"
qguest_start qtsrc
qguest_wait qtsrc "qguest: filled" 120
note "qtsrc: $(grep "qguest: filled" /tmp/qtsrc.log)"
qguest_wait qtsrc "qguest: beat 2," 60
qguest_check qtsrc

qguest_start qtdst -incoming tcp:127.0.0.1:4444
vmq qtsrc migrate '{"uri": "tcp:127.0.0.1:4444"}' >/dev/null || fail "QEMU refused to migrate"
st=
for _ in $(seq 600); do
	st=$(vmq qtsrc query-migrate)
	case $(field "$st" status) in completed | failed | cancelled) break ;; esac
	sleep 0.5
done
[ "$(field "$st" status)" = completed ] || fail "QEMU's migration did not complete: $st"
note "QEMU over TCP: total $(field "$st" total-time) ms, downtime $(field "$st" downtime) ms"
[ "$(field "$(vmq qtdst query-status)" status)" = running ] || fail "the destination does not run"

# The guest goes on where it was: its next beats come from the destination.
beats=$(grep -c "qguest: beat" /tmp/qtdst.log || true)
qguest_wait qtdst "qguest: beat $(($(qguest_last_beat qtsrc) + 2))," 60
! grep -q "qguest: filled" /tmp/qtdst.log || fail "the guest started over on the destination"
note "qtdst: $(grep "qguest: beat" /tmp/qtdst.log | tail -n1) ($beats beats before)"
qguest_check qtdst
