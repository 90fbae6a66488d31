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

QGUEST=$RIG_REPO/build/qguest.bin
[ -f "$QGUEST" ] || fail "no $QGUEST: run make tools"
qemu_pids=()
trap 'kill "${qemu_pids[@]}" 2>/dev/null; lmvm_cleanup' EXIT

# qemu_start NAME [QEMU OPTION...]: qguest in QEMU/KVM, 128 MiB, 512
# pages/s; serial through the FIFOs /tmp/NAME.ser.{in,out} (its output is
# copied to /tmp/NAME.log), QMP on /tmp/NAME.qmp.
qemu_start() {
	local name=$1
	shift
	rm -f "/tmp/$name.ser.in" "/tmp/$name.ser.out" "/tmp/$name.qmp"
	mkfifo "/tmp/$name.ser.in" "/tmp/$name.ser.out"
	qemu-system-x86_64 -accel kvm -m 128M -nodefaults -display none \
		-kernel "$QGUEST" -append "rate=512" \
		-chardev "pipe,id=ser,path=/tmp/$name.ser" -serial chardev:ser \
		-qmp "unix:/tmp/$name.qmp,server=on,wait=off" "$@" \
		>"/tmp/$name.qemu.log" 2>&1 &
	qemu_pids+=($!)
	cat "/tmp/$name.ser.out" >"/tmp/$name.log" &
	qemu_pids+=($!)
	for _ in $(seq 100); do
		[ -S "/tmp/$name.qmp" ] && qmp "/tmp/$name.qmp" query-status >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "QEMU $name did not come up: $(cat "/tmp/$name.qemu.log")"
}

# wait_line NAME PATTERN SECONDS: until the guest's output has PATTERN.
wait_line() {
	for _ in $(seq $(($3 * 5))); do
		grep -q "$2" "/tmp/$1.log" && return 0
		sleep 0.2
	done
	fail "$1: no '$2' from the guest within $3 s: $(tail -n 5 "/tmp/$1.log")"
}

# expect_check NAME: the guest checks every page against its record.
expect_check() {
	printf c >"/tmp/$1.ser.in"
	wait_line "$1" "qguest: check" 120
	grep -q "qguest: check ok" "/tmp/$1.log" || fail "$1: $(grep "qguest: check" "/tmp/$1.log")"
	note "$1: $(grep "qguest: check" "/tmp/$1.log" | tail -n1)"
}

qemu_start src
wait_line src "qguest: filled" 120
note "src: $(grep "qguest: filled" /tmp/src.log)"
wait_line src "qguest: beat 2," 60
expect_check src

qemu_start dst -incoming tcp:127.0.0.1:4444
qmp /tmp/src.qmp migrate '{"uri": "tcp:127.0.0.1:4444"}' >/dev/null ||
	fail "QEMU refused to migrate"
st=
for _ in $(seq 600); do
	st=$(qmp /tmp/src.qmp query-migrate)
	case $(field "$st" status) in completed | failed | cancelled) break ;; esac
	sleep 0.5
done
[ "$(field "$st" status)" = completed ] || fail "QEMU's migration did not complete: $st"
note "QEMU over TCP: total $(field "$st" total-time) ms, downtime $(field "$st" downtime) ms"
[ "$(field "$(qmp /tmp/dst.qmp query-status)" status)" = running ] ||
	fail "the destination does not run"

# The guest goes on where it was: its next beats come from the destination.
beats=$(grep -c "qguest: beat" /tmp/dst.log)
for _ in $(seq 100); do
	[ "$(grep -c "qguest: beat" /tmp/dst.log)" -ge $((beats + 2)) ] && break
	sleep 0.2
done
[ "$(grep -c "qguest: beat" /tmp/dst.log)" -ge $((beats + 2)) ] ||
	fail "the guest does not beat on the destination: $(tail -n 3 /tmp/dst.log)"
grep -q "qguest: filled" /tmp/dst.log && fail "the guest started over on the destination"
note "dst: $(grep "qguest: beat" /tmp/dst.log | tail -n1)"
expect_check dst
