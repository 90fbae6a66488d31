#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot one topology of emulated hosts on one kernel, run tests in it, and
# print one TAP line per test:
#
#   tests/rig/boot.sh KERNEL one-host|two-hosts [TEST...]
#
# The kernel must be fetched (kernels.sh), its initramfs built
# (initramfs.sh) and lmig and the tools built (make rig-build). Each host
# gets a result directory under build/rig/ with its console log, kernel
# log, the tests' logs and results.tap.
#
# Environment: RIG_MEM (MiB per host, default 2048), RIG_SMP (vCPUs per
# host, default 1), RIG_BOOT_TIMEOUT (s, default 120), RIG_TIMEOUT_SCALE
# (each test's timeout is multiplied by it, default 1), RIG_LOAD_DIVISOR
# (guests' dirty rates are divided by it, default 1: load in tests/lib.sh),
# and make bench's BENCH_MEM_MIB and BENCH_CAP_S (tests/bench/run.sh) and
# BENCH_SCALE_GIB (tests/bench/scale.sh).
# The debug kernel defaults to 3072 MiB (KASAN's shadow and kmemleak's
# pool), 600 s, a scale of 4 and a divisor of 32 (everything under TCG runs
# several times slower, and its link carries a few hundred KiB/s).

set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$RIG_DIR/params.sh"

kernel=${1:?usage: boot.sh KERNEL TOPOLOGY [TEST...]}
topology=${2:?usage: boot.sh KERNEL TOPOLOGY [TEST...]}
shift 2
tests=("$@")
rel=$(kernel_release "$kernel")
case $topology in
one-host) roles=(a) ;;
two-hosts) roles=(a b) ;;
*) die "unknown topology '$topology' (one-host or two-hosts)" ;;
esac
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
[ -f "$(kernel_initrd "$kernel")" ] || die "no initramfs for $kernel: run tests/rig/initramfs.sh $kernel"
[ -x "$BUILD/bin/rig-exec" ] || die "rig tools are not built: run make rig-build"

out=$BUILD/rig/$kernel/$topology
rm -rf "$out"

# The hosts' link is a QEMU socket backend on loopback: host A listens,
# host B connects, so A must be listening before B starts.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		ss -Htln "sport = :$p" | grep -q . || { echo $p; return; }
	done
}
port=$(free_port)

if [ "$kernel" = debug ]; then
	: "${RIG_MEM:=3072}" "${RIG_BOOT_TIMEOUT:=600}" "${RIG_TIMEOUT_SCALE:=4}"
	: "${RIG_LOAD_DIVISOR:=32}"
fi
export RIG_TIMEOUT_SCALE=${RIG_TIMEOUT_SCALE:-1}
export RIG_LOAD_DIVISOR=${RIG_LOAD_DIVISOR:-1}
budget=${RIG_BOOT_TIMEOUT:-120}
for t in "${tests[@]}"; do
	budget=$((budget + $(test_timeout "$REPO/$t") + 15))
done

declare -A pid
start=$(date +%s)
for i in "${!roles[@]}"; do
	role=${roles[$i]}
	dir=$out/host-$role
	mkdir -p "$dir"
	peer_role=${roles[$(((i + 1) % ${#roles[@]}))]}
	cat >"$dir/env" <<-EOT
		RIG_KERNEL=$kernel
		RIG_RELEASE=$rel
		RIG_KROOT=$(kernel_root "$kernel")
		RIG_TOPOLOGY=$topology
		RIG_ROLE=$role
		RIG_ADDR=10.77.0.$((i + 1))
		RIG_PEER=10.77.0.$(((i + 1) % ${#roles[@]} + 1))
		RIG_PEER_OUT=$out/host-$peer_role
		RIG_EXEC_PORT=7000
		RIG_REPO=$REPO
		RIG_CACHE=$CACHE
		RIG_OUT=$dir
		RIG_TESTS="${tests[*]}"
		RIG_TIMEOUT_SCALE=$RIG_TIMEOUT_SCALE
		RIG_LOAD_DIVISOR=$RIG_LOAD_DIVISOR
		LMIG_KO=$(module_dir "$kernel")/lmig.ko
	EOT
	# make bench's settings (tests/bench/run.sh), when given.
	for v in BENCH_MEM_MIB BENCH_CAP_S BENCH_QPS BENCH_SCALE_GIB; do
		[ -z "${!v:-}" ] || printf '%s=%q\n' "$v" "${!v}" >>"$dir/env"
	done
	sed -i 's/^\t*//; s/^/export /' "$dir/env"

	net=()
	if [ "$topology" = two-hosts ]; then
		if [ "$role" = a ]; then
			net=(-netdev "socket,id=net0,listen=127.0.0.1:$port")
		else
			net=(-netdev "socket,id=net0,connect=127.0.0.1:$port")
		fi
		net+=(-device "virtio-net-pci,netdev=net0,mac=52:54:00:77:00:0$((i + 1))")
	fi

	# The debug kernel interprets ACPI so slowly under TCG that every
	# PCI interrupt routing method (_PRT) runs into AML's 30 s loop
	# timeout; its PCI interrupts are routed without ACPI instead. It
	# keeps 4-level paging: with TCG's LA57 it once reported a KASAN
	# wild access in the first interrupt of its boot. Its console shows
	# informational messages too: one of its hosts once hung silently
	# before init. Without ACPI's interrupt parsing, and without
	# X86_MPPARSE, it disables its local APIC (acpi_mps_check), and
	# "lapic" cannot bring it back on x86_64 (it does so on 32-bit only).
	# Its clock events then all come from the HPET, and under TCG a host
	# that loses one HPET interrupt freezes idle for good: seen in the
	# RCU-tasks self test at boot (one two-host boot of two on
	# 2026-11-27), which boot.sh then fails after RIG_BOOT_TIMEOUT.
	# Tried and dropped: X86_MPPARSE
	# (an APIC from SeaBIOS's MP table) hung nested KVM in rig/kvm, and
	# hpet=disable (the PIT alone) froze at the same self test.
	append="console=ttyS0 loglevel=4 panic=-1"
	[ "$kernel" != debug ] || append="$append pci=noacpi no5lvl loglevel=7 lapic"
	qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp "${RIG_SMP:-1}"
		-m "${RIG_MEM:-2048}" -nodefaults -display none -no-reboot
		-name "lmig-rig-$kernel-$topology-$role"
		-chardev "file,id=console,path=$dir/console.log,append=on" -serial chardev:console
		-kernel "$(kernel_image "$kernel")" -initrd "$(kernel_initrd "$kernel")"
		-append "$append rig.kernel=$kernel rig.repo=$REPO rig.cache=$CACHE rig.out=$dir"
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
		-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$CACHE,mount_tag=cache,security_model=none,readonly=on,multidevs=remap"
		-virtfs "local,path=$dir,mount_tag=out,security_model=none,multidevs=remap"
		"${net[@]}")
	# A host that powers itself off leaving power-on in its result
	# directory (power_cycle_peer in tests/lib.sh) is started again, as
	# a host coming back after a power cut. Any other exit ends it.
	(
		q=
		trap '[ -z "$q" ] || kill "$q" 2>/dev/null; exit 0' TERM
		while :; do
			"${qemu[@]}" >>"$dir/qemu.log" 2>&1 &
			q=$!
			wait "$q" || true
			[ -e "$dir/power-on" ] || break
			rm -f "$dir/power-on"
			echo "rig: powered on again" >>"$dir/qemu.log"
		done
	) &
	pid[$role]=$!

	if [ "$role" = a ] && [ "$topology" = two-hosts ]; then
		for _ in $(seq 100); do
			ss -Htln "sport = :$port" | grep -q . && break
			kill -0 "${pid[a]}" 2>/dev/null || break
			sleep 0.1
		done
	fi
done

cleanup() {
	local p
	for p in "${pid[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Stream host A's results while the hosts run; stop at the budget. Result
# lines (and the log excerpt that follows a failure) go to stdout as they
# come, progress to stderr.
tap=$out/host-a/results.tap
shown=0
say "$kernel/$topology: booting ${#roles[@]} host(s), logs in ${out#"$REPO"/}"
show_new() {
	local total line
	[ -f "$tap" ] || return 0
	total=$(wc -l <"$tap")
	[ "$total" -gt "$shown" ] || return 0
	tail -n +$((shown + 1)) "$tap" | head -n $((total - shown)) |
	while IFS= read -r line; do
		case $line in
		"# done") ;;
		"# "*": started"*) say "$kernel/$topology: ${line#\# }" ;;
		ok* | "not ok"*)
			echo "$line" | sed "s#^\(\(not \)\{0,1\}ok\) [0-9]* #\1 $kernel/$topology/#" ;;
		*) echo "$line" ;;
		esac
	done
	shown=$total
}
# A test's own timeout runs on host A's clock. A host whose clock stood
# still (a nested guest once froze one: no timer fired, nothing ran) never
# ends the test, so the test's timeout is also counted here, with room for
# the kernel checks after it; past that the hosts are stopped.
watch_line=
watch_since=0
hung() {
	local line limit
	line=$(grep -E '^# .*: started, timeout [0-9]+s$|^(not )?ok ' "$tap" 2>/dev/null | tail -n1)
	if [ "$line" != "$watch_line" ]; then
		watch_line=$line
		watch_since=$(date +%s)
	fi
	case $watch_line in
	"# "*": started, timeout "*) ;;
	*) return 1 ;;
	esac
	limit=${watch_line##* }
	limit=$((${limit%s} + 300))
	[ $(($(date +%s) - watch_since)) -gt "$limit" ] || return 1
	say "$kernel/$topology: ${watch_line#\# }, and no result ${limit}s later: host A hangs, stopping the hosts"
}
froze=
while :; do
	alive=0
	for r in "${roles[@]}"; do
		kill -0 "${pid[$r]}" 2>/dev/null && alive=1
	done
	if [ -s "$out/host-a/ready" ] && [ ! -f "$out/.ready-shown" ]; then
		touch "$out/.ready-shown"
		say "$kernel/$topology: host A ready $(($(cat "$out/host-a/ready") - start)) s after start"
	fi
	show_new
	[ $alive -eq 1 ] || break
	if hung; then
		froze=1
		break
	fi
	if [ $(($(date +%s) - start)) -gt "$budget" ]; then
		say "$kernel/$topology: hosts still running after ${budget}s, stopping them"
		break
	fi
	sleep 1
done
cleanup
trap - EXIT

# A test with no result line never finished: host A froze (the watchdog
# above; tests/check.sh runs such tests again on fresh hosts), or a host
# died or ran out of time.
show_new
why="host died or hung"
[ -z "$froze" ] || why="host A froze"
for i in "${!tests[@]}"; do
	grep -qE "^(not )?ok $((i + 1)) " "$tap" 2>/dev/null && continue
	name=${tests[$i]#tests/suites/}
	echo "not ok $kernel/$topology/${name%.*} # no result: $why (see ${out#"$REPO"/}/host-*/console.log)"
done
