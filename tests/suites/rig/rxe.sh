#!/bin/bash
# rig: one-host two-hosts
# timeout: 60
#
# Every host has a soft-RoCE device whose port is ACTIVE, bound to the
# interface that carries the rig's address.
. "$RIG_REPO/tests/lib.sh"

check='rdma link show rxe0/1 && rdma link show rxe0/1 | grep -q "state ACTIVE" &&
	ibv_devinfo -d rxe0 | grep -E "state|link_layer|active_mtu"'
on_each "$check"
