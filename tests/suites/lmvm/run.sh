#!/bin/bash
# rig: one-host
# timeout: 240
#
# A 1 GiB lmvm with 2 vCPUs dirtying 1 MB/s each runs in an emulated host:
# its guest writes pages, beats its heartbeat, and proves every page it
# wrote holds its latest stamp. It ends cleanly on SIGTERM. The other
# patterns and an 8 GiB guest (sparse: the host has 2 GiB) check out too.
. "$RIG_REPO/tests/lib.sh"

lmvm_start vm --mem 1G --vcpus 2 --dirty-rate 1M
cat /tmp/vm.log
status=$(vmq vm query-status)
[ "$(field "$status" status)" = running ] || fail "not running: $status"

sleep 5
check=$(vmq vm x-guest-check)
expect_check_ok "after 5 s" "$check"
[ "$(field "$check" writes)" -gt 0 ] || fail "the guest wrote nothing: $check"
beats=$(vmq vm x-heartbeat-stats)
note "heartbeats: $beats"
[ "$(field "$beats" count)" -gt 0 ] || fail "no heartbeat: $beats"

# Memory the guest never touched costs the host nothing.
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid_vm/status")
note "lmvm resident: $((rss / 1024)) MiB of a 1024 MiB guest"
[ "$rss" -lt $((256 * 1024)) ] || fail "lmvm holds $((rss / 1024)) MiB: untouched memory is not free"

kill -TERM "$pid_vm"
wait "$pid_vm" || fail "lmvm exited with $? on SIGTERM"
[ ! -e /tmp/vm.qmp ] || fail "lmvm left its QMP socket behind"

# random and hotcold, and 8 GiB whose untouched memory costs nothing.
lmvm_start rnd --mem 64M --dirty-rate 512K --pattern random
lmvm_start hot --mem 8G --vcpus 2 --dirty-rate 512K --pattern hotcold
sleep 4
expect_check_ok random "$(vmq rnd x-guest-check)"
expect_check_ok "8 GiB hotcold" "$(vmq hot x-guest-check)"
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid_hot/status")
note "8 GiB lmvm resident: $((rss / 1024)) MiB"
[ "$rss" -lt $((256 * 1024)) ] || fail "the 8 GiB lmvm holds $((rss / 1024)) MiB"
