#!/bin/bash
# rig: one-host two-hosts
# timeout: 120
#
# lmig.ko loads on every host, registers /dev/lmig, answers the version
# ioctl by the uapi's rules, refuses bad commands, and unloads leaving
# nothing behind.
. "$RIG_REPO/tests/lib.sh"

cycle='set -e
	! [ -d /sys/module/lmig ] || rmmod lmig
	insmod "$LMIG_KO"
	[ -c /dev/lmig ]
	uapi-version
	lmctl version
	rmmod lmig
	! [ -e /dev/lmig ] || { echo "/dev/lmig survived rmmod"; exit 1; }
	! [ -d /sys/module/lmig ]'
on_each "$cycle"
# A second cycle: unload left nothing that makes a reload fail.
on_each "$cycle" >/dev/null
