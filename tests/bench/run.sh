#!/bin/bash
# rig: two-hosts
# timeout: 3600
#
# make bench, on host A of the rig: in one run, on the same two hosts and
# the same link,
#   1. ib_write_bw from A to B with 64 KiB and 4 KiB messages: the limit;
#   2. lmig moving an lmvm whose memory holds data in every page;
#   3. QEMU's own RDMA migration (rdma:) of qguest, a QEMU/KVM guest of the
#      same size holding the same kind of data;
#   4. both again with the guest dirtying at 25 % and 50 % of the link.
# It leaves in $RIG_OUT/bench: bench.json, table.txt and, per migration, a
# series NAME.dat of "seconds remaining-MiB" for the plot (tests/bench.sh
# draws it on the build machine).
#
# Each migration's setup time (lmig: connecting, authenticating and the
# destination's first granted chunk; QEMU: its setup-time) and the dirty
# rate the guest achieved meanwhile are recorded too, the latter from the
# guests' own counts of their page writes (lmvm's x-guest-check before
# the start, and on the destination right after it resumed; qguest's beat
# lines, one a second): the rates asked for are not what the two guests
# manage under load.
#
# Source CPU is the source host's busy time (/proc/stat) over the
# migration, less what the guest's vCPU threads ran meanwhile: qguest
# polls and never idles, so without that the guest would count as QEMU's
# cost.
#
# BENCH_QPS=N (default 1) has lmig send over N QPs (lmctl start --qps);
# above 1 the run also measures ib_write_bw over N QPs and lmig over one
# QP with the idle guest, as references from the same run. rdma_rxe runs
# each QP on one CPU, so that pays on hosts with more (RIG_SMP).
. "$RIG_REPO/tests/lib.sh"

MEM_MIB=${BENCH_MEM_MIB:-128}
QPS=${BENCH_QPS:-1}
# A migration that has not ended by then is cancelled: it did not converge.
CAP_S=${BENCH_CAP_S:-600}
out=$RIG_OUT/bench
rm -rf "$out"
mkdir -p "$out"
HZ=$(getconf CLK_TCK)

now() { date +%s.%N; }
# calc EXPR: awk arithmetic, three decimals.
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }

# On /proc/stat: "BUSY SOFTIRQ ALL" ticks, summed over the host's CPUs;
# busy is user, nice, system, irq, softirq and steal.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }'; }

# Busy ticks of this host.
host_busy() { cpu_ticks </proc/stat | cut -d' ' -f1; }

# cpu_begin NAME, cpu_end NAME: how busy the CPUs of both hosts were over
# a phase, as C[NAME] = "SRC SRC_SOFTIRQ DST DST_SOFTIRQ", in CPUs (of
# NCPU each). rdma_rxe's packet work (both ends) runs in softirq. Each
# also marks the phase in marks, for tests/bench.sh to measure the build
# machine's own CPU over it: the emulated hosts share its cores.
declare -A C CB
NCPU=$(nproc)
cpu_begin() {
	echo "$1 begin" >>"$out/marks"
	CB[$1]="$(cpu_ticks </proc/stat) $(on_peer "cat /proc/stat" | cpu_ticks)"
}
cpu_end() {
	local e
	e="$(cpu_ticks </proc/stat) $(on_peer "cat /proc/stat" | cpu_ticks)"
	echo "$1 end" >>"$out/marks"
	# shellcheck disable=SC2086
	C[$1]=$(echo ${CB[$1]} $e | awk -v n="$NCPU" '{
		printf "%.2f %.2f %.2f %.2f", n * ($7 - $1) / ($9 - $3), n * ($8 - $2) / ($9 - $3),
			n * ($10 - $4) / ($12 - $6), n * ($11 - $5) / ($12 - $6) }')
}

# Ticks run by the vCPU threads ("CPU N/KVM", QEMU's name and lmvm's) of PID.
vcpu_ticks() {
	local t sum=0 rest
	for t in /proc/"$1"/task/*; do
		grep -q '^CPU [0-9]*/KVM$' "$t/comm" 2>/dev/null || continue
		rest=$(sed 's/^.*) //' "$t/stat") || continue
		# shellcheck disable=SC2086
		set -- $rest
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}

# write_bw NAME SIZE [QPS]: A to B, 10 s of RDMA WRITEs; BW = bytes per
# second, C[NAME] the CPUs it kept busy. ib_write_bw prints two decimals:
# in MiB/s, not in Gb/s, which at the rig's rates would be steps of
# 1.25 MB/s.
write_bw() {
	local q=${3:-1}
	on_peer "pkill -x ib_write_bw; ib_write_bw -d rxe0 -R -s $2 -q $q -D 10 >/tmp/bw.server 2>&1 &"
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		sleep 1
		cpu_begin "$1"
		if ib_write_bw -d rxe0 -R -s "$2" -q "$q" -D 10 "$RIG_PEER" >/tmp/bw.client 2>&1; then
			cpu_end "$1"
			BW=$(awk -v s="$2" '$1 == s { printf "%.0f", $4 * 1048576 }' /tmp/bw.client)
			[ -n "$BW" ] || fail "ib_write_bw -s $2 printed no result: $(cat /tmp/bw.client)"
			return 0
		fi
	done
	fail "ib_write_bw -s $2 never connected to $RIG_PEER: $(cat /tmp/bw.client)"
}

# json_run NAME KEY=VALUE...: one migration's record, appended to runs;
# its values are kept as R[NAME.KEY] for the table.
runs=()
declare -A R
json_run() {
	local name=$1 kv s="" sep=""
	shift
	for kv in "$@"; do
		R[$name.${kv%%=*}]=${kv#*=}
		case ${kv#*=} in
		'' | *[!0-9.-]* | *.*.* | -) s+="$sep\"${kv%%=*}\": \"${kv#*=}\"" ;;
		*) s+="$sep\"${kv%%=*}\": ${kv#*=}" ;;
		esac
		sep=", "
	done
	runs+=("\"$name\": {$s}")
}

# The guest's last whole beat line, as "BEAT WRITES" (qguest counts its
# page writes and beats once a second).
qguest_beat() {
	grep -ao 'qguest: beat [0-9]*, [0-9]* writes' "/tmp/$1.log" | tail -n1 |
		sed 's/qguest: beat \([0-9]*\), \([0-9]*\) writes/\1 \2/'
}

# lmig_run NAME DIRTY_BYTES_PER_S [QPS]: lmig moves a filled lmvm from A to B.
lmig_run() {
	local name=$1 rate=$2 qps=${3:-$QPS} l uri last st c0 g0 t0 c1 g1 t1 t2 r pid job sid='' setup=0 w0 w1
	peer_lmvm_start "${name}d" --incoming --mem "${MEM_MIB}M"
	# The rate is the benchmark's: not scaled by RIG_LOAD_DIVISOR.
	RIG_LOAD_DIVISOR=1 lmvm_start "${name}s" --mem "${MEM_MIB}M" --fill --dirty-rate "$rate"
	for _ in $(seq 600); do
		[ "$(field "$(vmq "${name}s" x-query-memory)" filled)" = true ] && break
		sleep 1
	done
	[ "$(field "$(vmq "${name}s" x-query-memory)" filled)" = true ] ||
		fail "$name: lmvm did not fill its memory within 600 s"
	sleep 2
	l=$(peer_listen "${name}d")
	uri=$(field "$l" uri)
	last=$(lmctl status --json | grep -o '"id": [0-9]*, "role": "source"' | tail -n1 |
		grep -o '[0-9]*' | head -n1)
	pid=$(eval echo "\$pid_${name}s")
	w0=$(field "$(vmq "${name}s" x-guest-check)" writes)
	cpu_begin "$name"
	c0=$(host_busy) g0=$(vcpu_ticks "$pid") t0=$(now)
	lmctl start --vm-pid "$pid" --to "$uri" --qps "$qps" --qmp "/tmp/${name}s.qmp" --json \
		>"$out/$name.json" 2>"$out/$name.err" &
	job=$!
	: >"$out/$name.dat"
	while kill -0 "$job" 2>/dev/null; do
		st=$(lmctl status --json | grep '"role": "source"' | tail -n1)
		r=$(field "$st" id)
		if [ -n "$r" ] && [ "$r" != "${last:-}" ] && [ "$(field "$st" state)" != setup ]; then
			sid=$r
			echo "$(calc "$(now) - $t0") $(calc "$(field "$st" remaining_pages) * 4096 / 1048576")" >>"$out/$name.dat"
			setup=$(field "$st" setup_time_ms)
		fi
		sleep 0.5
	done
	wait "$job" || fail "$name: lmig did not complete: $(cat "$out/$name.err" "$out/$name.json")"
	t1=$(now) c1=$(host_busy) g1=$(vcpu_ticks "$pid")
	cpu_end "$name"
	echo "$(calc "$t1 - $t0") 0" >>"$out/$name.dat"
	on_peer "lmctl wait $(field "$l" id) --qmp /tmp/${name}d.qmp" >/dev/null ||
		fail "$name: the destination did not resume"
	st=$(pvmq "${name}d" x-guest-check)
	# Its writes so far: the source's, and the destination's since it resumed.
	w1=$(field "$st" writes) t2=$(now)
	expect_check_ok "$name" "$st"
	r=$(cat "$out/$name.json")
	note "$name: $r"
	[ "$(field "$r" qps)" = "$qps" ] || fail "$name: lmig sent over $(field "$r" qps) QPs, not $qps"
	json_run "$name" engine=lmig guest=lmvm dirty_bytes_per_s="$rate" session="$sid" qps="$qps" \
		achieved_dirty_bytes_per_s="$(calc "(${w1:-0} - ${w0:-0}) * 4096 / ($t2 - $t0)")" \
		setup_ms="${setup:-0}" \
		total_ms="$(field "$r" total_time_ms)" \
		downtime_ms="$(field "$r" measured_downtime_ms)" \
		kernel_downtime_ms="$(field "$r" downtime_ms)" rounds="$(field "$r" rounds)" \
		bytes="$(field "$r" transferred_bytes)" \
		throughput_bytes_per_s="$(field "$r" throughput_bytes_per_s)" \
		source_cpu_s="$(calc "(($c1 - $c0) - ($g1 - $g0)) / $HZ")" \
		check="$(field "$st" pages-checked)"
	vmq "${name}s" quit >/dev/null 2>&1 || true
	pvmq "${name}d" quit >/dev/null 2>&1 || true
	on_peer "lmctl remove $(field "$l" id)" >/dev/null 2>&1 || true
	[ -z "$sid" ] || lmctl remove "$sid" >/dev/null 2>&1 || true
}

# qemu_run NAME DIRTY_PAGES_PER_S: QEMU's RDMA migration of qguest, A to B.
qemu_run() {
	local name=$1 rate=$2 st c0 g0 t0 c1 g1 t1 pid status='' ok='' cancelled='' b0 b1 rem
	export QGUEST_MEM="-m ${MEM_MIB}M" QGUEST_RATE=$rate
	peer_qguest "${name}d" qguest_start -incoming "rdma:$RIG_PEER:4444"
	qguest_start "${name}s"
	qguest_wait "${name}s" "qguest: filled" 600
	sleep 2
	pid=$(eval echo "\$pid_${name}s")
	b0=$(qguest_beat "${name}s")
	c0=$(host_busy) g0=$(vcpu_ticks "$pid") t0=$(now)
	vmq "${name}s" migrate "{\"uri\": \"rdma:$RIG_PEER:4444\"}" >/dev/null ||
		fail "$name: QEMU refused to migrate"
	: >"$out/$name.dat"
	while :; do
		st=$(vmq "${name}s" query-migrate)
		status=$(field "$st" status)
		case $status in completed | failed | cancelled) break ;; esac
		t1=$(calc "$(now) - $t0")
		# A reply before the first pass counts nothing as remaining yet.
		rem=$(field "$st" remaining)
		echo "$t1 $(calc "${rem:-0} / 1048576")" >>"$out/$name.dat"
		if [ -z "$cancelled" ] && [ "$(calc "($t1 > $CAP_S)")" = 1.000 ]; then
			cancelled=1
			vmq "${name}s" migrate_cancel >/dev/null || true
			note "$name: cancelled after $CAP_S s: it did not converge"
		fi
		sleep 0.5
	done
	t1=$(now) c1=$(host_busy) g1=$(vcpu_ticks "$pid")
	b1=$(qguest_beat "${name}s")
	echo "$st" >"$out/$name.json"
	note "$name: $st"
	if [ "$status" = completed ]; then
		echo "$(calc "$t1 - $t0") 0" >>"$out/$name.dat"
		peer_qguest "${name}d" qguest_wait "qguest: beat" 60
		peer_qguest "${name}d" qguest_check
		ok=$(on_peer "grep 'qguest: check' /tmp/${name}d.log | tail -n1" | grep -o '[0-9]* pages verified' | grep -o '^[0-9]*')
	fi
	json_run "$name" engine=qemu-rdma guest=qguest dirty_bytes_per_s=$((rate * 4096)) status="$status" \
		achieved_dirty_bytes_per_s="$(echo "${b0:-0 0} ${b1:-0 0}" |
			awk '{ print ($3 > $1) ? int(($4 - $2) * 4096 / ($3 - $1)) : 0 }')" \
		setup_ms="$(field "$st" setup-time)" \
		total_ms="$(field "$st" total-time)" downtime_ms="$(field "$st" downtime)" \
		rounds="$(field "$st" dirty-sync-count)" bytes="$(field "$st" transferred)" \
		throughput_bytes_per_s="$(calc "$(field "$st" mbps) * 1000000 / 8")" \
		source_cpu_s="$(calc "(($c1 - $c0) - ($g1 - $g0)) / $HZ")" \
		check="${ok:-}"
	qguest_stop "${name}s"
	peer_qguest "${name}d" qguest_stop
}

lmig_load_both
note "ib_write_bw 64 KiB and 4 KiB, A to B"
write_bw bw64 65536
bw64=$BW
write_bw bw4 4096
bw4=$BW
note "limit: $bw64 B/s with 64 KiB, $bw4 B/s with 4 KiB messages"
bw64q=$bw64
if [ "$QPS" -gt 1 ]; then
	write_bw bw64q 65536 "$QPS"
	bw64q=$BW
	note "limit over $QPS QPs: $bw64q B/s with 64 KiB messages"
	note "lmig over one QP, the guest idle"
	lmig_run lmig0q1 0 1
fi

for pct in 0 25 50; do
	rate=$((bw64 * pct / 100))
	note "guest dirtying ${pct} % of the link ($rate B/s)"
	lmig_run "lmig$pct" "$rate"
	qemu_run "qemu$pct" $((rate / 4096))
done

# row NAME DIRTY%: one migration's line of the table.
row() {
	local n=$1
	printf '%-8s %-9s %6s %9s %8s %8s %9s %9s %7s %8s  %s\n' "$n" "${R[$n.engine]}" "$2" \
		"$(calc "${R[$n.achieved_dirty_bytes_per_s]:-0} / 1e6")" \
		"$(calc "${R[$n.setup_ms]:-0} / 1000")" \
		"$(calc "${R[$n.total_ms]:-0} / 1000")" "${R[$n.downtime_ms]:-?}ms" \
		"$(calc "${R[$n.throughput_bytes_per_s]:-0} / 1e6")" "${R[$n.source_cpu_s]}" \
		"$(calc "${R[$n.source_cpu_s]} / (${R[$n.bytes]:-1} / 1073741824)")" \
		"${R[$n.check]:-no (${R[$n.status]:-failed})}"
}

# The table: one line per migration, then the ratios the goals are set in.
{
	printf '%-8s %-9s %6s %9s %8s %8s %9s %9s %7s %8s  %s\n' run engine dirty% dirtyMB/s \
		setup_s total_s downtime MB/s cpu_s cpu_s/GiB verified
	[ "$QPS" -le 1 ] || row lmig0q1 0
	for pct in 0 25 50; do
		for e in lmig qemu; do
			row "$e$pct" "$pct"
		done
	done
	echo
	printf 'ib_write_bw A to B: %s MB/s with 64 KiB, %s MB/s with 4 KiB messages\n' \
		"$(calc "$bw64 / 1e6")" "$(calc "$bw4 / 1e6")"
	printf 'lmig bulk throughput / ib_write_bw 64 KiB: %s (goal >= 0.9)\n' \
		"$(calc "${R[lmig0.throughput_bytes_per_s]} / $bw64")"
	if [ "$QPS" -gt 1 ]; then
		printf 'over %s QPs: ib_write_bw %s MB/s with 64 KiB, %s x one QP; lmig %s MB/s, %s x one QP (%s MB/s), %s x ib_write_bw over %s\n' \
			"$QPS" "$(calc "$bw64q / 1e6")" "$(calc "$bw64q / $bw64")" \
			"$(calc "${R[lmig0.throughput_bytes_per_s]} / 1e6")" \
			"$(calc "${R[lmig0.throughput_bytes_per_s]} / ${R[lmig0q1.throughput_bytes_per_s]}")" \
			"$(calc "${R[lmig0q1.throughput_bytes_per_s]} / 1e6")" \
			"$(calc "${R[lmig0.throughput_bytes_per_s]} / $bw64q")" "$QPS"
	fi
	for pct in 0 25 50; do
		if [ "${R[qemu$pct.status]}" != completed ]; then
			printf 'dirty %2s %%: QEMU did not complete (%s): no ratio\n' "$pct" "${R[qemu$pct.status]}"
			continue
		fi
		printf 'dirty %2s %%: lmig / QEMU total time %s (goal <= 0.5), downtime %s (<= 1), source CPU per GiB %s (<= 1)\n' \
			"$pct" "$(calc "${R[lmig$pct.total_ms]} / ${R[qemu$pct.total_ms]}")" \
			"$(calc "${R[lmig$pct.downtime_ms]} / ${R[qemu$pct.downtime_ms]}")" \
			"$(calc "(${R[lmig$pct.source_cpu_s]} / ${R[lmig$pct.bytes]}) / (${R[qemu$pct.source_cpu_s]} / ${R[qemu$pct.bytes]})")"
	done
	phases=(bw64)
	[ "$QPS" -le 1 ] || phases+=(bw64q lmig0q1)
	phases+=(lmig0)
	echo
	printf 'CPUs busy over the bulk phases, of %s per host (softirq: rdma_rxe'"'"'s packet work):\n' "$NCPU"
	printf '%-8s %4s %9s %7s %8s %7s %8s\n' phase QPs MB/s source softirq dest softirq
	for p in "${phases[@]}"; do
		case $p in
		bw64) q=1 bw=$bw64 ;;
		bw64q) q=$QPS bw=$bw64q ;;
		*) q=${R[$p.qps]} bw=${R[$p.throughput_bytes_per_s]} ;;
		esac
		# shellcheck disable=SC2086
		printf '%-8s %4s %9s %7s %8s %7s %8s\n' "$p" "$q" "$(calc "$bw / 1e6")" ${C[$p]}
	done
} >"$out/table.txt"
cat "$out/table.txt"

cpu_json=()
for p in "${phases[@]}"; do
	# shellcheck disable=SC2086
	set -- ${C[$p]}
	cpu_json+=("\"$p\": {\"source\": $1, \"source_softirq\": $2, \"dest\": $3, \"dest_softirq\": $4}")
done

IFS=,
cat >"$out/bench.json" <<EOF
{"kernel": "$RIG_RELEASE", "guest_mib": $MEM_MIB, "cap_s": $CAP_S,
 "ib_write_bw_64k_bytes_per_s": $bw64, "ib_write_bw_4k_bytes_per_s": $bw4,
 "qps": $QPS, "ib_write_bw_64k_qps_bytes_per_s": $bw64q,
 "cpus_per_host": $NCPU, "cpus_busy": {${cpu_json[*]}},
 "runs": {${runs[*]}}}
EOF
unset IFS
lmig_unload_both
