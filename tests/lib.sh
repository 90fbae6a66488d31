# SPDX-License-Identifier: GPL-2.0
# Helpers for test scripts, which run inside emulated host A (or the only
# host) with the environment tests/rig/boot.sh wrote: RIG_TOPOLOGY, RIG_PEER,
# RIG_OUT, LMIG_KO and the rest. Sourced, not executed.

set -eu

# Exit status 4 is "skipped" for the runner, as in kselftest.
skip() { echo "SKIP: $*"; exit 4; }
fail() { echo "FAIL: $*"; exit 1; }
note() { echo "# $*"; }

two_hosts() { [ "$RIG_TOPOLOGY" = two-hosts ]; }

# Runs a shell command line on host B, with host B's environment.
on_peer() {
	two_hosts || fail "on_peer needs the two-hosts topology"
	rig-exec run "$RIG_PEER" "$RIG_EXEC_PORT" "$@"
}

# Runs a shell command line here, and on host B if there is one, each
# line of output tagged with the host it came from.
on_each() {
	bash -c "$*" 2>&1 | sed "s/^/[$(hostname)] /"
	[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	if two_hosts; then
		on_peer "$*" 2>&1 | sed "s/^/[peer] /"
		[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	fi
	return 0
}

lmig_loaded() { [ -d /sys/module/lmig ]; }

# lmvm VMs, by name: lmvm_start NAME ARGS... runs "lmvm run ARGS" with its
# QMP socket at /tmp/NAME.qmp and its output in /tmp/NAME.log, and waits
# until it answers. Every VM started so is killed when the test exits.
# load RATE: a rate (bytes/s, K/M/G as lmvm and lmctl take them) divided
# by RIG_LOAD_DIVISOR, which a slow kernel sets (the debug kernel's link
# under TCG carries about 400 KiB/s). "max" and 0 stay as they are.
load() {
	local n=${1%[KMGkmg]} u=${1##*[0-9]} m=1
	case $1 in max | 0) echo "$1"; return ;; esac
	case $u in K | k) m=1024 ;; M | m) m=$((1024 * 1024)) ;; G | g) m=$((1024 * 1024 * 1024)) ;; esac
	echo $((n * m / ${RIG_LOAD_DIVISOR:-1}))
}

# The arguments, quoted for eval, with each --dirty-rate's rate through load.
loaded_args() {
	local a next=
	for a in "$@"; do
		if [ -n "$next" ]; then a=$(load "$a"); next=; fi
		[ "$a" != --dirty-rate ] || next=1
		printf '%q ' "$a"
	done
}

lmvm_pids=()
lmvm_cleanup() {
	local p
	for p in "${lmvm_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap lmvm_cleanup EXIT

lmvm_start() {
	local name=$1
	shift
	eval "set -- $(loaded_args "$@")"
	rm -f "/tmp/$name.qmp"
	lmvm run "$@" --qmp "/tmp/$name.qmp" >"/tmp/$name.log" 2>&1 &
	lmvm_pids+=($!)
	eval "pid_$name=$!"
	for _ in $(seq 100); do
		[ -S "/tmp/$name.qmp" ] && qmp "/tmp/$name.qmp" query-status >/dev/null 2>&1 &&
			return 0
		kill -0 "${lmvm_pids[-1]}" 2>/dev/null || break
		sleep 0.2
	done
	cat "/tmp/$name.log"
	fail "lmvm $name did not come up"
}

# vmq NAME COMMAND [ARGUMENTS]: one QMP command to VM NAME; prints the result.
vmq() {
	local name=$1
	shift
	qmp "/tmp/$name.qmp" "$@"
}

# field JSON KEY: the value of KEY in a one-line JSON object (numbers, bools).
field() {
	printf '%s\n' "$1" | sed -n "s/.*\"$2\": *\"\{0,1\}\([^,\"}]*\).*/\1/p" | head -n1
}

# expect_ok WHAT JSON: a guest check result must say ok.
expect_check_ok() {
	[ "$(field "$2" ok)" = true ] || fail "$1: the guest check failed: $2"
	note "$1: guest check ok, $(field "$2" pages-checked) pages verified, $(field "$2" writes) written"
}

# The same on host B: peer_lmvm_start NAME ARGS... and pvmq NAME COMMAND.
# The peer's VMs are killed when the test exits, with the local ones.
peer_lmvm_start() {
	local name=$1
	shift
	eval "set -- $(loaded_args "$@")"
	on_peer "rm -f /tmp/$name.qmp; lmvm run $* --qmp /tmp/$name.qmp >/tmp/$name.log 2>&1 & echo \$! >/tmp/$name.pid"
	peer_vms+=("$name")
	for _ in $(seq 100); do
		on_peer "qmp /tmp/$name.qmp query-status" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	on_peer "cat /tmp/$name.log"
	fail "lmvm $name did not come up on the peer"
}
peer_vms=()
peer_pid() { on_peer "cat /tmp/$1.pid"; }
pvmq() {
	local name=$1
	shift
	on_peer "qmp /tmp/$name.qmp $*"
}
peer_cleanup() {
	local n
	for n in "${peer_vms[@]}"; do
		on_peer "kill \$(cat /tmp/$n.pid) 2>/dev/null" || true
	done
	lmvm_cleanup
}
trap peer_cleanup EXIT

# Cuts host B's power: it stops at once, with no shutdown and no word to
# anyone, as in a power cut; the rig then starts it again (tests/rig/
# boot.sh). Returns once it answers; whatever ran on it is gone. What its
# new boot printed is no test's fault, as at the rig's own boot: it is
# kept in host B's logs/reboot.kcheck, not charged to the test (the debug
# kernel warns at every boot about MSI without ACPI). lmig is not loaded
# there yet, so nothing of it can hide in that log.
power_cycle_peer() {
	on_peer 'touch "$RIG_OUT/power-on"; (sleep 0.5; echo o >/proc/sysrq-trigger) >/dev/null 2>&1 &' ||
		true
	sleep 3
	for _ in $(seq 240); do
		if on_peer true >/dev/null 2>&1; then
			on_peer 'mkdir -p "$RIG_OUT/logs"; "$RIG_REPO/tests/rig/kcheck.sh" "$RIG_OUT/dmesg.log" >>"$RIG_OUT/logs/reboot.kcheck" 2>&1' ||
				note "host B's boot printed reports: see its logs/reboot.kcheck"
			return 0
		fi
		sleep 1
	done
	fail "host B did not come back after its power cut"
}

# Loads lmig.ko here and on the peer (after unloading what a test left).
lmig_load_both() {
	on_each "! [ -d /sys/module/lmig ] || rmmod lmig; insmod $LMIG_KO"
}

# Unloads it on both: it must hold no reference then, nothing leaked.
lmig_unload_both() {
	on_each "lmctl list >/dev/null; for i in \$(lmctl list | awk '\$1 ~ /^[0-9]+\$/ { print \$1 }'); do lmctl cancel \$i >/dev/null; lmctl remove \$i >/dev/null; done; rmmod lmig"
}

# A command line that prints how many pages are pinned with FOLL_PIN and
# not released yet: run it here with bash -c, or on the peer with on_peer.
# /proc/vmstat does not fold the counters' per-CPU parts in; an idle CPU
# may put off its periodic fold, and a cancelled destination's released
# pins were once counted as held. Reading stat_refresh folds them first.
PINS_HELD="cat /proc/sys/vm/stat_refresh >/dev/null 2>&1; awk '/^nr_foll_pin_acquired/ { a = \$2 } /^nr_foll_pin_released/ { r = \$2 } END { print a - r }' /proc/vmstat"

# Pages pinned and not released yet, on this host.
pins_held() {
	bash -c "$PINS_HELD"
}

# A command line that (re)creates rxe0 on eth0 and waits until it is
# ACTIVE: run it here with bash -c, or on the peer with on_peer.
RXE_ADD="rdma link add rxe0 type rxe netdev eth0; for i in \$(seq 100); do rdma link show rxe0/1 | grep -q 'state ACTIVE' && break; sleep 0.1; done"

# wait_session_state here|peer ID STATE SECONDS: until session ID (here or
# on host B) is in STATE, or the time is up; prints its last status.
wait_session_state() {
	local st
	for _ in $(seq "$4"); do
		if [ "$1" = peer ]; then
			st=$(on_peer "lmctl status $2 --json" 2>/dev/null) || st=
		else
			st=$(lmctl status "$2" --json)
		fi
		[ "$(field "$st" state)" = "$3" ] && break
		sleep 1
	done
	echo "$st"
}

peer_pins_held() {
	on_peer "$PINS_HELD"
}

# pins_unchanged here|peer BEFORE WHAT: fails with WHAT unless that host
# holds as many pins as BEFORE, saying both counts.
pins_unchanged() {
	local now
	case $1 in
	peer) now=$(peer_pins_held) || fail "$3: cannot count the pinned pages: $now" ;;
	here) now=$(pins_held) || fail "$3: cannot count the pinned pages: $now" ;;
	*) fail "pins_unchanged: here or peer, not '$1'" ;;
	esac
	[ "$now" = "$2" ] || fail "$3 ($now pages pinned, $2 before)"
}

# No session left in the kernel here (and on the peer with "peer").
expect_no_sessions() {
	local out
	if [ "${1:-}" = peer ]; then out=$(on_peer "lmctl list"); else out=$(lmctl list); fi
	[ "$out" = "no sessions" ] || fail "sessions left behind${1:+ on the $1}: $out"
}

# lmctl listen for VM NAME, here or (peer_listen) on host B: its JSON.
listen_here() {
	local out
	out=$(lmctl listen --vm-pid "$(eval echo "\$pid_$1")" --json 2>&1) ||
		fail "lmctl listen for $1: $out" >&2
	echo "$out"
}
peer_listen() {
	local out
	out=$(on_peer "lmctl listen --vm-pid \$(cat /tmp/$1.pid) --json 2>&1") ||
		fail "lmctl listen for $1 on the peer: $out" >&2
	echo "$out"
}

# QEMU/KVM running qguest (tests/qguest/), by name: qguest_start NAME
# [QEMU OPTION...] runs it with 128 MiB in a shared memfd backend (the
# layout lmig's QEMU migration wants), its serial port through the FIFOs
# /tmp/NAME.ser.{in,out} (the output copied to /tmp/NAME.log), QMP on
# /tmp/NAME.qmp, and waits until QMP answers. pid_NAME and /tmp/NAME.pid
# hold its pid. Every QEMU started so is killed when the test exits.
# QGUEST_MEM replaces the memory options; qguest_mem SIZE gives the shared ones.
# QGUEST_RATE is the guest's dirty rate in pages per second (default 512).
# QGUEST_KERNEL, QGUEST_APPEND and QGUEST_INITRD boot another guest (lguest).
qguest_mem() { echo "-m $1 -object memory-backend-memfd,id=ram,size=$1,share=on -machine memory-backend=ram"; }
: "${QGUEST_MEM:=$(qguest_mem 128M)}"
qguest_start() {
	local name=$1 i cpus tid kernel=${QGUEST_KERNEL:-$RIG_REPO/build/qguest.bin}
	local initrd=()
	shift
	[ -f "$kernel" ] || fail "no $kernel: run make tools"
	[ -z "${QGUEST_INITRD:-}" ] || initrd=(-initrd "$QGUEST_INITRD")
	rm -f "/tmp/$name.ser.in" "/tmp/$name.ser.out" "/tmp/$name.qmp" "/tmp/$name.log"
	mkfifo "/tmp/$name.ser.in" "/tmp/$name.ser.out"
	# shellcheck disable=SC2086
	qemu-system-x86_64 -accel kvm $QGUEST_MEM -nodefaults -display none \
		-kernel "$kernel" -append "${QGUEST_APPEND:-rate=${QGUEST_RATE:-512}}" "${initrd[@]}" \
		-chardev "pipe,id=ser,path=/tmp/$name.ser" -serial chardev:ser \
		-qmp "unix:/tmp/$name.qmp,server=on,wait=off" "$@" \
		>"/tmp/$name.qemu.log" 2>&1 &
	lmvm_pids+=($!)
	eval "pid_$name=$!"
	echo $! >"/tmp/$name.pid"
	cat "/tmp/$name.ser.out" >"/tmp/$name.log" 2>/dev/null </dev/null &
	lmvm_pids+=($!)
	for i in $(seq 100); do
		if [ -S "/tmp/$name.qmp" ] &&
			cpus=$(timeout 10 qmp "/tmp/$name.qmp" query-cpus-fast 2>/dev/null); then
			# qguest polls and never idles, and the host has one CPU: its
			# vCPU runs when nothing else wants to, or a migration would
			# get a third of the CPU and never catch up with it.
			# (props has a thread-id too: the thread's index in its core)
			for tid in $(printf '%s\n' "$cpus" | sed 's/"props": {[^}]*}//g' |
				grep -o '"thread-id": [0-9]*' | grep -o '[0-9]*$'); do
				chrt --idle -p 0 "$tid" >/dev/null ||
					fail "cannot make the vCPU thread $tid of $name SCHED_IDLE"
			done
			return 0
		fi
		kill -0 "$(eval echo "\$pid_$name")" 2>/dev/null || break
		sleep 0.2
	done
	fail "QEMU $name did not come up: $(cat "/tmp/$name.qemu.log")"
}

# qguest_wait NAME PATTERN SECONDS: until the guest's output has PATTERN.
qguest_wait() {
	local i
	for i in $(seq $(($3 * 5))); do
		grep -q "$2" "/tmp/$1.log" && return 0
		sleep 0.2
	done
	fail "$1: no '$2' from the guest within $3 s: $(tail -n 5 "/tmp/$1.log")"
}

# qguest_last_beat NAME: the number of the guest's last whole beat line, 0
# if none. A guest paused by a migration may stop in the middle of a line.
qguest_last_beat() {
	grep -ao "qguest: beat [0-9]*," "/tmp/$1.log" | tail -n1 | tr -dc 0-9 | grep . || echo 0
}

# qguest_check NAME: the guest checks every page against its record.
qguest_check() {
	local before
	before=$(grep -c "qguest: check" "/tmp/$1.log" || true)
	printf c >"/tmp/$1.ser.in"
	for _ in $(seq 600); do
		[ "$(grep -c "qguest: check" "/tmp/$1.log" || true)" -gt "$before" ] && break
		sleep 0.2
	done
	[ "$(grep -c "qguest: check" "/tmp/$1.log" || true)" -gt "$before" ] ||
		fail "$1: the guest did not answer its check within 120 s: $(tail -n 3 "/tmp/$1.log")"
	grep "qguest: check" "/tmp/$1.log" | tail -n1 | grep -q "check ok" ||
		fail "$1: $(grep "qguest: check" "/tmp/$1.log" | tail -n1)"
	note "$1: $(grep "qguest: check" "/tmp/$1.log" | tail -n1)"
}

# qguest_stop NAME: quits QEMU NAME (qguest never idles: it costs a CPU).
qguest_stop() {
	local pid
	pid=$(cat "/tmp/$1.pid")
	kill "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
}

# The same on host B: peer_qguest NAME FUNCTION [ARGS...] runs qguest_start
# (the QEMU is killed when the test exits), qguest_wait, qguest_check or
# qguest_stop there, with this host's QGUEST_* settings.
peer_qguest() {
	local name=$1 fn=$2 q=
	shift 2
	[ $# -eq 0 ] || q=$(printf ' %q' "$@")
	[ "$fn" != qguest_start ] || peer_vms+=("$name")
	on_peer "QGUEST_MEM=$(printf %q "$QGUEST_MEM") QGUEST_RATE=${QGUEST_RATE:-512} \
		QGUEST_KERNEL=$(printf %q "${QGUEST_KERNEL:-}") QGUEST_APPEND=$(printf %q "${QGUEST_APPEND:-}") \
		QGUEST_INITRD=$(printf %q "${QGUEST_INITRD:-}"); . \"\$RIG_REPO/tests/lib.sh\"; trap - EXIT; $fn $name$q"
}
