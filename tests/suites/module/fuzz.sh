#!/bin/bash
# rig: one-host
# timeout: 180
#
# Random and edge input to every /dev/lmig ioctl from four threads for
# 30 s, with a running VM to attach: every call gets success or a
# documented error, the kernel reports nothing, every session ends, the
# module unloads, and the guest never notices.
. "$RIG_REPO/tests/lib.sh"

! lmig_loaded || rmmod lmig
insmod "$LMIG_KO"
lmvm_start vm --mem 256M --vcpus 2 --dirty-rate 512K
uapi-fuzz "$pid_vm" 30
rmmod lmig || fail "rmmod refused after the fuzzing"
expect_check_ok "after the fuzzing" "$(vmq vm x-guest-check)"
