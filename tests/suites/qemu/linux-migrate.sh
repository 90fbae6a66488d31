#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# A Linux guest through lmig, from host A to host B: QEMU (pc) boots the
# rig's own kernel with lguest's initramfs (tests/lguest/), which keeps
# data in RAM, rewrites memory every second, beats on its console and
# checks its data every fifth beat.
# lmig moves its RAM, QEMU its devices. The destination waits with -S, so
# that both QEMUs are stopped at the switchover: their guest memory is
# dumped (pmemsave) and compared byte for byte (all equal but for KVM's
# wall clock, which KVM itself rewrites on the destination), then the
# destination runs on, beats without booting again, and finds its data
# intact.
. "$RIG_REPO/tests/lib.sh"

export QGUEST_KERNEL=$RIG_KROOT/boot/vmlinuz-$RIG_RELEASE
export QGUEST_INITRD=$RIG_REPO/build/lguest.cpio.gz
# idle=poll: an L2 guest that halts can leave the emulated host idle with
# no timer armed (see tests/qguest/qguest.c).
export QGUEST_APPEND="console=ttyS0 idle=poll panic=-1 quiet"
[ -f "$QGUEST_INITRD" ] || fail "no build/lguest.cpio.gz: run make tools"
MEM=128M
MEM_BYTES=$((128 << 20))

# lguest_check HOST NAME: the guest's next check of its data (every fifth
# beat) must pass, here or on the peer.
lguest_check() {
	local run=eval before
	[ "$1" = here ] || run=on_peer
	before=$($run "grep -c 'linux: check' /tmp/$2.log" || true)
	for _ in $(seq 120); do
		[ "$($run "grep -c 'linux: check' /tmp/$2.log" || true)" -gt "$before" ] && break
		sleep 1
	done
	$run "grep 'linux: check' /tmp/$2.log | tail -n1" | grep -q "check ok" ||
		fail "$2: no good check within 120 s: $($run "tail -n 3 /tmp/$2.log")"
	note "$2: $($run "grep 'linux: check' /tmp/$2.log | tail -n1 | tr -d '\r'")"
}

lmig_load_both
QGUEST_MEM=$(qguest_mem $MEM)
qguest_start lxsrc
# (Linux ends its console lines with \r.)
qguest_wait lxsrc "linux: beat 3[^0-9]*$" 600
note "lxsrc: $(grep "linux: ready" /tmp/lxsrc.log)"
lguest_check here lxsrc

peer_qguest lxdst qguest_start -S -incoming defer ||
	fail "the destination QEMU did not start on host B"
out=$(on_peer "lmctl listen --vm-pid \$(cat /tmp/lxdst.pid) --qmp /tmp/lxdst.qmp \
	--qemu-incoming tcp:0.0.0.0:4444 --json 2>&1") || fail "lmctl listen on host B: $out"
id=$(field "$out" id)
uri=$(printf '%s\n' "$out" | sed -n 's/.*"uri": "\([^"]*\)".*/\1/p')

lmctl start --vm-pid "$(cat /tmp/lxsrc.pid)" --to "$uri" --qmp /tmp/lxsrc.qmp \
	--qemu-migrate "tcp:$RIG_PEER:4444" --json >/tmp/lxstart.json 2>/tmp/lxstart.err ||
	fail "lmctl start: $(tail -n 5 /tmp/lxstart.err)"
sum=$(cat /tmp/lxstart.json)
note "lmig: total $(field "$sum" total_time_ms) ms, $(field "$sum" rounds) rounds, downtime $(field "$sum" measured_downtime_ms) ms (lmig's part $(field "$sum" downtime_ms) ms)"

# The destination has its devices and, started with -S, stays stopped.
for _ in $(seq 120); do
	st=$(pvmq lxdst query-migrate)
	[ "$(field "$st" status)" = completed ] && break
	sleep 1
done
[ "$(field "$st" status)" = completed ] || fail "the destination did not load the devices: $st"
[ "$(field "$(vmq lxsrc query-status)" status)" = postmigrate ] ||
	fail "the source QEMU is not postmigrate: $(vmq lxsrc query-status)"
[ "$(field "$(pvmq lxdst query-status)" status)" != running ] ||
	fail "the destination runs before its memory was compared"

# Byte for byte, both stopped at the switchover.
out=$(vmq lxsrc pmemsave "{\"val\": 0, \"size\": $MEM_BYTES, \"filename\": \"/tmp/lxsrc.mem\"}" 2>&1) ||
	fail "pmemsave on the source failed: $out"
out=$(on_peer "qmp /tmp/lxdst.qmp pmemsave '{\"val\": 0, \"size\": $MEM_BYTES, \"filename\": \"/tmp/lxdst.mem\"}' 2>&1") ||
	fail "pmemsave on the destination failed: $out"
a=$(sha256sum /tmp/lxsrc.mem | cut -d' ' -f1)
b=$(on_peer "sha256sum /tmp/lxdst.mem" | cut -d' ' -f1)
if [ -z "$a" ] || [ "$a" != "$b" ]; then
	# Which pages: a digest per 4 KiB page on each side.
	pages='rm -rf /tmp/pg && mkdir /tmp/pg && cd /tmp/pg && split -a 5 -d -b 4096 "$0" p && md5sum p* && cd / && rm -rf /tmp/pg'
	bash -c "$pages" /tmp/lxsrc.mem >/tmp/lxsrc.pages
	on_peer "bash -c '$pages' /tmp/lxdst.mem" >/tmp/lxdst.pages
	diff /tmp/lxsrc.pages /tmp/lxdst.pages | sed -n 's/^< [0-9a-f]* *p0*\([0-9][0-9]*\)$/\1/p' |
		awk '{ printf "0x%x ", $1 * 4096 }' >/tmp/lxdiff
	[ "$(wc -w </tmp/lxdiff)" = 1 ] ||
		fail "guest memory differs: $(wc -w </tmp/lxdiff) pages, at: $(cut -c1-600 /tmp/lxdiff)"
	# One page may differ, in one place: KVM's pvclock wall clock (version,
	# seconds, nanoseconds), which KVM rewrites on the destination when
	# QEMU restores MSR_KVM_WALL_CLOCK_NEW with the devices, after lmig.
	# QEMU's own migration leaves the same difference.
	page=$(($(cut -d' ' -f1 /tmp/lxdiff)))
	od -A d -t u1 -v -j "$page" -N 4096 /tmp/lxsrc.mem >/tmp/lxsrc.od
	on_peer "od -A d -t u1 -v -j $page -N 4096 /tmp/lxdst.mem" >/tmp/lxdst.od
	why=$(awk -v now="$(date +%s)" '
		NR == FNR { for (i = 2; i <= NF; i++) s[$1 - '"$page"' + i - 2] = $i; next }
		{ for (i = 2; i <= NF; i++) d[$1 - '"$page"' + i - 2] = $i }
		function u32(a, o) { return a[o] + a[o + 1] * 256 + a[o + 2] * 65536 + a[o + 3] * 16777216 }
		END {
			lo = -1
			for (o = 0; o < 4096; o++)
				if (s[o] != d[o]) { if (lo < 0) lo = o; hi = o }
			if (lo % 4 || hi >= lo + 12) { print "bytes " lo " to " hi " differ"; exit }
			if (u32(s, lo) % 2 || u32(d, lo) % 2) { print "odd versions: not a pvclock wall clock"; exit }
			ds = u32(s, lo + 4) - now; dd = u32(d, lo + 4) - now
			if (ds < -86400 || ds > 86400 || dd < -86400 || dd > 86400) { print "no wall clock time at " lo + 4; exit }
			printf "ok %d %d %d", lo, u32(s, lo + 4), u32(d, lo + 4)
		}' /tmp/lxsrc.od /tmp/lxdst.od)
	case $why in
	ok*)
		# shellcheck disable=SC2086
		set -- $why
		note "the one difference: KVM's wall clock at gpa $(printf 0x%x $((page + $2))), $3 s at the source, $4 s at the destination" ;;
	*) fail "guest memory differs at $(cat /tmp/lxdiff)(not KVM's wall clock: $why): $(diff /tmp/lxsrc.od /tmp/lxdst.od | head -n 6)" ;;
	esac
else
	note "guest memory equal on both hosts: sha256 $a ($MEM)"
fi
rm -f /tmp/lxsrc.mem
on_peer "rm -f /tmp/lxdst.mem"

pvmq lxdst cont >/dev/null || fail "cont on the destination failed"
last=$(grep "linux: beat" /tmp/lxsrc.log | tail -n1 | tr -d '\r' | sed 's/.*beat //')
peer_qguest lxdst qguest_wait "linux: beat $((last + 2))[^0-9]*$" 120 || fail "no beats on host B"
! on_peer "grep -q 'linux: ready' /tmp/lxdst.log" || fail "the guest booted again on host B"
note "lxdst: $(on_peer "grep 'linux: beat' /tmp/lxdst.log | tail -n1"), after beat $last on host A"
lguest_check peer lxdst
on_peer "lmctl remove $id" >/dev/null
lmig_unload_both
