#!/bin/bash
# rig: two-hosts
# timeout: 300
#
# make demo, until the migration engine moves memory: the two emulated
# hosts, their KVM and soft-RoCE devices, lmig loaded on both, RDMA WRITE
# traffic across the link between them, and lmig reading a running
# guest's dirty log on host-a.
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
echo "== A guest on host-a, and lmig reading its dirty log"
lmvm_start vm --mem 1G --vcpus 2 --dirty-rate 1M
sed 's/^/  /' /tmp/vm.log
lmctl dirty-rate --vm-pid "$pid_vm" --seconds 4 | sed 's/^/  /'
check=$(vmq vm x-guest-check)
echo "  the guest checked $(field "$check" pages-checked) pages it wrote: ok=$(field "$check" ok)"
on_each 'rmmod lmig' >/dev/null
echo
echo "The rig works. The migration engine (issue 4) will move that VM to host-b."
