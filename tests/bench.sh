#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: boots the two emulated hosts and runs tests/bench/run.sh on
# them (ib_write_bw, lmig and QEMU's RDMA migration on the same link, in
# one run), shows its log live, then leaves in build/bench/ the table
# (table.txt), the numbers (bench.json) and the plot of remaining memory
# over time, lmig next to QEMU (bench.png).
#
#   tests/bench.sh [KERNEL]

set -uo pipefail
. "$(dirname "$0")/rig/lib.sh"

kernel=${1:-6.1}
bench=tests/bench/run.sh
"$RIG_DIR/deps.sh" gnuplot-nox || exit 1
"$RIG_DIR/prepare.sh" "$kernel" || exit 1

host_a=$BUILD/rig/$kernel/two-hosts/host-a
"$RIG_DIR/boot.sh" "$kernel" two-hosts "$bench" >"$BUILD/bench.tap" &
boot=$!
# boot.sh starts by clearing the result directory: wait for this run's.
sleep 2
tail -n +1 -F "$host_a/logs/tests.bench.run.log" 2>/dev/null &
tailer=$!
wait $boot
rc=$?
sleep 1
kill $tailer 2>/dev/null
wait $tailer 2>/dev/null
if [ $rc -ne 0 ] || ! grep -q '^ok' "$BUILD/bench.tap" || [ ! -s "$host_a/bench/bench.json" ]; then
	cat "$BUILD/bench.tap"
	echo "bench failed: see build/rig/$kernel/two-hosts/host-*/ for the hosts' logs"
	exit 1
fi

res=$BUILD/bench
rm -rf "$res"
cp -r "$host_a/bench" "$res"
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
