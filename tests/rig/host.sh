#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside an emulated host, in the root that tests/rig/init built, as
# PID 1. It loads KVM and soft-RoCE, brings up the rig network and then,
# by role: host A (or the only host) runs the tests; host B serves
# rig-exec for host A. Either way it ends by powering the host off.

OUT=$1
# shellcheck source=/dev/null
. "$OUT/env"
export PATH=$RIG_REPO/build/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
cd /

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 10
}
trap poweroff_now EXIT

exec >>"$OUT/host.log" 2>&1
echo 1 >/proc/sys/kernel/sysrq
hostname "host-$RIG_ROLE"
date +%s >"$OUT/booted"
echo "host-$RIG_ROLE: $(uname -r), booted in $(cut -d' ' -f1 /proc/uptime) s of guest time"

# Modules come from the fetched kernel tree in the cache: this root is the
# build machine's, whose /lib/modules belongs to another kernel.
modprobe_rig() {
	modprobe -d "$RIG_KROOT" "$@" || echo "host-$RIG_ROLE: modprobe $* failed"
}
# rdma_rxe needs a crc32 provider; the generic one is a module on 6.1.
for m in crc32_generic kvm_amd virtio_net veth ib_core ib_uverbs rdma_cm \
	 rdma_ucm rdma_rxe; do
	modprobe_rig "$m"
done
ulimit -l unlimited

ip link set lo up
case $RIG_TOPOLOGY in
two-hosts)
	ip addr add "$RIG_ADDR/24" dev eth0
	ip link set eth0 up
	rdma link add rxe0 type rxe netdev eth0
	;;
one-host)
	# rxe short-circuits frames to its own MAC, so one device can
	# talk RDMA to itself; the veth only has to be up.
	ip link add veth0 type veth peer name veth1
	ip addr add "$RIG_ADDR/24" dev veth0
	ip link set veth1 up
	ip link set veth0 up
	rdma link add rxe0 type rxe netdev veth0
	;;
esac
for _ in $(seq 50); do
	rdma link show rxe0/1 2>/dev/null | grep -q 'state ACTIVE' && break
	sleep 0.2
done
rdma link show
ip -brief addr

# Written whole, then renamed: the build machine polls for it.
date +%s >"$OUT/ready.tmp" && mv "$OUT/ready.tmp" "$OUT/ready"
if [ "$RIG_ROLE" = b ]; then
	rig-exec serve "$RIG_EXEC_PORT"
else
	"$RIG_REPO/tests/rig/runner.sh"
	[ "$RIG_TOPOLOGY" = two-hosts ] &&
		rig-exec run "$RIG_PEER" "$RIG_EXEC_PORT" \
			'(sleep 1; sync; echo o >/proc/sysrq-trigger) >/dev/null 2>&1 &'
fi
