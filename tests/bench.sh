#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boots the two emulated hosts and runs tests/bench/run.sh on
# them (ib_write_bw, lmig and QEMU's RDMA migration on the same link, in
# one run), shows its log live, then leaves in build/bench/ the table
# (table.txt), the numbers (bench.json) and the plot of remaining memory
# over time, lmig next to QEMU (bench.png).
#
# make bench-scale (--scale) runs tests/bench/scale.sh instead: guests of
# BENCH_SCALE_GIB GiB (default "1 2 4"), on hosts with room for the
# biggest; it leaves build/bench-scale/scale.txt and scale.json.
#
#   tests/bench.sh [--scale] [KERNEL]

set -uo pipefail
. "$(dirname "$0")/rig/lib.sh"

scale=
if [ "${1:-}" = --scale ]; then
	scale=1
	shift
fi
kernel=${1:-6.1}
if [ -n "$scale" ]; then
	name=bench-scale bench=tests/bench/scale.sh result=scale.json
	export BENCH_SCALE_GIB=${BENCH_SCALE_GIB:-1 2 4}
	# shellcheck disable=SC2086
	biggest=$(printf '%s\n' $BENCH_SCALE_GIB | sort -n | tail -n1)
	# The guest, and the 2 GiB a host needs besides.
	export RIG_MEM=${RIG_MEM:-$((biggest * 1024 + 2048))}
else
	name=bench bench=tests/bench/run.sh result=bench.json
	"$RIG_DIR/deps.sh" gnuplot-nox || exit 1
fi
"$RIG_DIR/prepare.sh" "$kernel" || exit 1

host_a=$BUILD/rig/$kernel/two-hosts/host-a

# sample_machine_cpu MARKS: as each line "PHASE begin|end" shows up in
# MARKS (run.sh writes them), prints it with this machine's busy and all
# ticks (/proc/stat) at that moment, within a fifth of a second. The
# emulated hosts' CPUs are threads on this machine's cores, so a host
# cannot tell whether it was held back by them.
sample_machine_cpu() {
	local seen=0 n
	while :; do
		n=$(wc -l 2>/dev/null <"$1") || n=0
		if [ "$n" -gt "$seen" ]; then
			sed -n "$((seen + 1)),${n}p" "$1" | while read -r line; do
				echo "$line $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)"
			done
			seen=$n
		fi
		sleep 0.2
	done
}

# machine_cpu: per phase, this machine's cores busy over it ("PHASE BUSY"),
# from the last begin before each end.
machine_cpu() {
	awk -v n="$(nproc)" '$2 == "begin" { b[$1] = $3; t[$1] = $4 }
		$2 == "end" && ($1 in b) && $4 > t[$1] { printf "%s %.2f\n", $1, n * ($3 - b[$1]) / ($4 - t[$1]) }' \
		"$BUILD/bench-machine-cpu.txt"
}
log=${bench%.sh}
log=${log//\//.}
"$RIG_DIR/boot.sh" "$kernel" two-hosts "$bench" >"$BUILD/$name.tap" &
boot=$!
# boot.sh starts by clearing the result directory: wait for this run's.
sleep 2
tail -n +1 -F "$host_a/logs/$log.log" 2>/dev/null &
tailer=$!
sampler=
if [ -z "$scale" ]; then
	sample_machine_cpu "$host_a/bench/marks" >"$BUILD/bench-machine-cpu.txt" &
	sampler=$!
fi
wait $boot
rc=$?
sleep 1
kill $tailer $sampler 2>/dev/null
wait $tailer $sampler 2>/dev/null
if [ $rc -ne 0 ] || ! grep -q '^ok' "$BUILD/$name.tap" || [ ! -s "$host_a/$name/$result" ]; then
	cat "$BUILD/$name.tap"
	echo "$name failed: see build/rig/$kernel/two-hosts/host-*/ for the hosts' logs"
	exit 1
fi

res=$BUILD/$name
rm -rf "$res"
cp -r "$host_a/$name" "$res"
if [ -n "$scale" ]; then
	echo
	cat "$res/scale.txt"
	echo
	echo "bench-scale: ${res#"$REPO"/}/scale.json and scale.txt"
	exit 0
fi
# The build machine's share: appended to the table, and to bench.json.
mc=$(machine_cpu)
if [ -n "$mc" ]; then
	{
		echo
		printf 'The machine running both hosts (%s cores), busy over the same phases:\n' "$(nproc)"
		echo "$mc" | awk '{ printf "%-8s %5s cores\n", $1, $2 }'
	} >>"$res/table.txt"
	json=$(echo "$mc" | awk '{ printf "%s\"%s\": %s", (NR > 1 ? ", " : ""), $1, $2 }')
	sed -i "\$s/}\$/, \"machine_cores\": $(nproc), \"machine_cores_busy\": {$json}}/" "$res/bench.json"
fi
plot=()
for pct in 0 25 50; do
	plot+=("set title 'guest dirtying ${pct} % of the link'; plot '$res/lmig$pct.dat' using 1:2 with lines lw 2 title 'lmig (lmvm)', '$res/qemu$pct.dat' using 1:2 with lines lw 2 title 'QEMU rdma: (qguest)'")
done
gnuplot <<-EOT || echo "bench: gnuplot failed; the numbers are in $res" >&2
	set terminal pngcairo size 1400,450 font ',10'
	set output '$res/bench.png'
	set multiplot layout 1,3 title 'Remaining memory over time, same hosts and link ($kernel rig)'
	set xlabel 'seconds since the start'
	set ylabel 'MiB left to send'
	set key top right
	set yrange [0:*]
	${plot[0]}
	${plot[1]}
	${plot[2]}
	unset multiplot
EOT
echo
cat "$res/table.txt"
echo
echo "bench: ${res#"$REPO"/}/bench.json, table.txt and bench.png"
