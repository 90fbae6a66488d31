#!/bin/bash
# rig: two-hosts
# timeout: 3600
#
# make bench-scale, on host A of the rig: what a session costs as the
# guest grows. For each size in BENCH_SCALE_GIB (GiB, default "1 2 4") an
# lmvm that has written almost nothing migrates from A to B: its pages are
# zero, and a host pays for them only once they are touched, so the rig
# can hold guests bigger than it could fill. Measured, per size:
#   - kernel memory each host gained between the VMs running without
#     lmig and the end of round 0 (when everything is allocated, pinned
#     and registered): SUnreclaim, VmallocUsed,
#     Percpu, KernelStack from /proc/meminfo; PageTables apart, since on
#     B it is the VMM's page tables for the guest memory pinning faults in;
#   - the destination's setup (pinning and registering all guest memory,
#     its setup_time_ms) and round 0's time on the source;
#   - the time of each harvest of the dirty log (lmig_harvest_all, by the
#     function_graph tracer): KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG.
# Then a straight line through the sizes for each, and where it reaches
# at 1 TiB: a projection, not a measurement. The migration completes and
# the destination's memory digest must equal the source's.
# It leaves $RIG_OUT/bench-scale/scale.txt and scale.json.
. "$RIG_REPO/tests/lib.sh"

SIZES=${BENCH_SCALE_GIB:-1 2 4}
out=$RIG_OUT/bench-scale
rm -rf "$out"
mkdir -p "$out"
T=/sys/kernel/tracing

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

# KiB of kernel memory a session can cost, and the page tables apart.
# shellcheck disable=SC2016
KMEM='/^(SUnreclaim|VmallocUsed|Percpu|KernelStack):/ { k += $2 } /^PageTables:/ { p = $2 } END { print k, p }'
kmem() { awk "$KMEM" /proc/meminfo; }
peer_kmem() { on_peer "awk '$KMEM' /proc/meminfo"; }

# The function_graph tracer on lmig_harvest_all alone: each call is one
# line with its duration. Without tracefs, harvest times stay unknown.
trace_on() {
	[ -e "$T/trace" ] || mount -t tracefs nodev "$T" 2>/dev/null || return 1
	echo 0 >"$T/tracing_on" &&
		echo lmig_harvest_all >"$T/set_ftrace_filter" &&
		echo function_graph >"$T/current_tracer" &&
		echo 16384 >"$T/buffer_size_kb" &&
		: >"$T/trace" &&
		echo 1 >"$T/tracing_on"
}
# Prints the harvests' durations in ms, one per line.
trace_off() {
	[ -e "$T/trace" ] || return 0
	echo 0 >"$T/tracing_on" 2>/dev/null || return 0
	sed -n 's/.* \([0-9][0-9.]*\) us .*lmig_harvest_all.*/\1/p' "$T/trace" |
		awk '{ printf "%.3f\n", $1 / 1000 }'
	echo nop >"$T/current_tracer"
	: >"$T/set_ftrace_filter"
}

# median and max of numbers on stdin: "MEDIAN MAX COUNT", or "- - 0".
stats() {
	sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "- - 0"; exit }
		printf "%s %s %d\n", v[int((NR + 1) / 2)], v[NR], NR }'
}

# wait_rounds ID MIN SECONDS: until the source session has finished MIN
# rounds (its round counts from 0), or with MIN 0 left setup; its status.
wait_rounds() {
	local st r
	for _ in $(seq $(($3 * 5))); do
		st=$(lmctl status "$1" --json)
		r=$(field "$st" rounds)
		case $(field "$st" state) in
		failed | cancelled) fail "session $1: $st" ;;
		setup) ;;
		*) [ -n "$r" ] && [ "$r" -ge "$2" ] && break ;;
		esac
		sleep 0.2
	done
	echo "$st"
}

rows=()
declare -A R
lmig_load_both
for g in $SIZES; do
	note "an lmvm of $g GiB, A to B"
	peer_lmvm_start "d$g" --incoming --mem "${g}G"
	# Some pages dirty in every round: a harvest with work to do.
	RIG_LOAD_DIVISOR=1 lmvm_start "s$g" --mem "${g}G" --dirty-rate 256K
	sleep 3
	read -r a0 ap0 <<<"$(kmem)"
	read -r b0 bp0 <<<"$(peer_kmem)"
	l=$(peer_listen "d$g")
	traced=yes
	trace_on || traced=no
	t0=$(now)
	sid=$(lmctl start --vm-pid "$(eval echo "\$pid_s$g")" --to "$(field "$l" uri)" \
		--finalize manual --json 2>"$out/start$g.err" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
	[ -n "$sid" ] || fail "$g GiB: lmctl start failed: $(cat "$out/start$g.err")"
	st=$(wait_rounds "$sid" 0 900)
	[ "$(field "$st" state)" != setup ] || fail "$g GiB: still in setup after 900 s: $st"
	t_act=$(now)
	st=$(wait_rounds "$sid" 1 1800)
	t_r0=$(now)
	[ "$(field "$st" rounds)" -ge 1 ] || fail "$g GiB: round 0 did not end within 1800 s: $st"
	read -r a1 ap1 <<<"$(kmem)"
	read -r b1 bp1 <<<"$(peer_kmem)"
	# A few more rounds for the harvest times, then the end.
	wait_rounds "$sid" 5 300 >/dev/null
	trace_off >"$out/harvest$g.ms"
	read -r hmed hmax hn <<<"$(stats <"$out/harvest$g.ms")"
	[ "$traced" = yes ] || note "no tracefs: harvest times unknown"
	bst=$(on_peer "lmctl status $(field "$l" id) --json")
	note "$g GiB: destination $(field "$bst" state), setup $(field "$bst" setup_time_ms) ms"
	lmctl finalize "$sid" --qmp "/tmp/s$g.qmp" >"$out/finalize$g.txt" 2>&1 ||
		fail "$g GiB: finalize failed: $(cat "$out/finalize$g.txt")"
	on_peer "lmctl wait $(field "$l" id)" >/dev/null || fail "$g GiB: the destination did not complete"
	ds=$(vmq "s$g" x-memory-digest)
	dd=$(pvmq "d$g" x-memory-digest)
	if [ "$ds" != "$dd" ] || [ -z "$(field "$ds" digest)" ]; then
		fail "$g GiB: the memory differs: source $ds, destination $dd"
	fi
	R[$g.a_kib]=$((a1 - a0)) R[$g.b_kib]=$((b1 - b0))
	R[$g.a_pt_kib]=$((ap1 - ap0)) R[$g.b_pt_kib]=$((bp1 - bp0))
	R[$g.setup_s]=$(calc "$(field "$bst" setup_time_ms) / 1000")
	R[$g.active_s]=$(calc "$t_act - $t0")
	R[$g.round0_s]=$(calc "$t_r0 - $t_act")
	R[$g.harvest_ms]=$hmed R[$g.harvest_max_ms]=$hmax R[$g.harvests]=$hn
	note "$g GiB: kernel memory +${R[$g.a_kib]} KiB on A, +${R[$g.b_kib]} KiB on B" \
		"(page tables +${R[$g.a_pt_kib]} / +${R[$g.b_pt_kib]} KiB);" \
		"active after ${R[$g.active_s]} s, round 0 ${R[$g.round0_s]} s;" \
		"harvest median $hmed ms, max $hmax ms over $hn"
	rows+=("$g")
	vmq "s$g" quit >/dev/null 2>&1 || true
	pvmq "d$g" quit >/dev/null 2>&1 || true
	lmctl remove "$sid" >/dev/null 2>&1 || true
	on_peer "lmctl remove $(field "$l" id)" >/dev/null 2>&1 || true
	sleep 2
done
lmig_unload_both

# fit KEY: "SLOPE_PER_GIB INTERCEPT AT_1TIB" of a least-squares line.
fit() {
	local g
	for g in "${rows[@]}"; do
		[ "${R[$g.$1]}" = - ] || echo "$g ${R[$g.$1]}"
	done | awk '{ n++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2 }
		END { if (n < 2 || n * sxx == sx * sx) { print "- - -"; exit }
			b = (n * sxy - sx * sy) / (n * sxx - sx * sx); a = (sy - b * sx) / n
			printf "%.3f %.3f %.3f\n", b, a, a + b * 1024 }'
}

keys=(a_kib b_kib a_pt_kib b_pt_kib setup_s round0_s harvest_ms)
{
	printf '%-8s %10s %10s %10s %10s %9s %9s %11s %8s\n' GiB A_kmem_KiB B_kmem_KiB \
		A_pt_KiB B_pt_KiB setup_s round0_s harvest_ms harvests
	for g in "${rows[@]}"; do
		printf '%-8s %10s %10s %10s %10s %9s %9s %11s %8s\n' "$g" "${R[$g.a_kib]}" \
			"${R[$g.b_kib]}" "${R[$g.a_pt_kib]}" "${R[$g.b_pt_kib]}" "${R[$g.setup_s]}" \
			"${R[$g.round0_s]}" "${R[$g.harvest_ms]}" "${R[$g.harvests]}"
	done
	echo
	printf '%-12s %14s %14s %16s\n' measure per_GiB fixed 'at 1 TiB (model)'
	for k in "${keys[@]}"; do
		read -r slope icpt tib <<<"$(fit "$k")"
		printf '%-12s %14s %14s %16s\n' "$k" "$slope" "$icpt" "$tib"
	done
} >"$out/scale.txt"
cat "$out/scale.txt"

{
	echo "{\"kernel\": \"$RIG_KERNEL\", \"sizes\": {"
	sep=
	for g in "${rows[@]}"; do
		printf '%s"%s": {' "$sep" "$g"
		s2=
		for k in "${keys[@]}" harvest_max_ms harvests active_s; do
			v=${R[$g.$k]}
			[ "$v" = - ] && v=null
			printf '%s"%s": %s' "$s2" "$k" "$v"
			s2=", "
		done
		printf '}'
		sep=", "
	done
	echo "}, \"fit\": {"
	sep=
	for k in "${keys[@]}"; do
		read -r slope icpt tib <<<"$(fit "$k")"
		[ "$slope" = - ] && slope=null icpt=null tib=null
		printf '%s"%s": {"per_gib": %s, "fixed": %s, "at_1tib": %s}' "$sep" "$k" "$slope" "$icpt" "$tib"
		sep=", "
	done
	echo "}}"
} >"$out/scale.json"
