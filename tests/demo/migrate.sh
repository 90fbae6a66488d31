#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# make demo: the two emulated hosts, their KVM and soft-RoCE devices, lmig
# loaded on both, the RDMA link between them measured, then a live
# migration with lmctl's defaults: a 1 GiB guest dirtying memory on host-a
# moves to host-b, where it checks every page it ever wrote and runs on.
. "$RIG_REPO/tests/lib.sh"

describe='echo "$(hostname): Linux $(uname -r), $(nproc) vCPU, $(($(sed -n "s/MemTotal: *\([0-9]*\).*/\1/p" /proc/meminfo) / 1024)) MiB"
	echo "  KVM:  $(ls /dev/kvm) ($(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null | sed "s/Y/nested paging/;s/N/shadow paging/"))"
	echo "  net:  $(ip -brief addr show eth0 | tr -s " ")"
	echo "  RDMA: $(rdma link show rxe0/1 | tr -s " ")"
	insmod "$LMIG_KO" && echo "  lmig: $(lmctl version | tail -n1)"'

echo "== The hosts"
bash -c "$describe"
on_peer "$describe"

echo
echo "== RDMA WRITE from host-a to host-b (ib_write_bw, 64 KiB messages)"
on_peer 'ib_write_bw -d rxe0 -R -s 65536 -D 5 --report_gbits >/tmp/bw.server 2>&1 &'
for _ in $(seq 20); do
	if ib_write_bw -d rxe0 -R -s 65536 -D 5 --report_gbits "$RIG_PEER" >/tmp/bw 2>&1; then
		awk '$1 == 65536 { printf "  %.1f MB/s (%s Gb/s) over the emulated link\n", $4 * 1000 / 8, $4 }' /tmp/bw
		break
	fi
	sleep 1
done
[ -s /tmp/bw ] && grep -q '^ 65536' /tmp/bw || { cat /tmp/bw; fail "ib_write_bw could not reach host-b"; }

echo
echo "== A guest on host-a: 1 GiB, 2 vCPUs, each dirtying 1 MB/s"
lmvm_start src --mem 1G --vcpus 2 --dirty-rate 1M
sed 's/^/  /' /tmp/src.log
peer_lmvm_start dst --incoming --mem 1G --vcpus 2
echo "  and on host-b an empty, paused VM of the same layout, waiting for it"
sleep 2

echo
echo "== On host-b: lmctl listen --vm-pid PID"
listen=$(on_peer "lmctl listen --vm-pid $(peer_pid dst)")
echo "$listen" | sed 's/^/  /'
uri=$(echo "$listen" | head -n1)
dst_id=$(echo "$listen" | sed -n 's/^session //p')

echo
echo "== On host-a: lmctl start --vm-pid PID --to URI --qmp SOCKET (finalizes when converged)"
lmctl start --vm-pid "$pid_src" --to "$uri" --qmp /tmp/src.qmp 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "the migration failed"

echo
echo "== On host-b: lmctl wait ID --qmp SOCKET (loads the VMM state, resumes)"
on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" 2>&1 | sed 's/^/  /'
sleep 3
check=$(pvmq dst x-guest-check)
echo "  the guest on host-b checked $(field "$check" pages-checked) pages it wrote: ok=$(field "$check" ok)"
[ "$(field "$check" ok)" = true ] || fail "the guest found pages that are not as it wrote them"
echo "  its heartbeat: $(pvmq dst x-heartbeat-stats)"
lmig_unload_both
echo
echo "The VM moved live from host-a to host-b."
