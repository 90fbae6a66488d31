#!/bin/bash
# rig: one-host
# timeout: 400
#
# The guest's self-check can fail: the same move as local-move, with one
# byte of the copied memory flipped. It is the first data page of vCPU 0,
# which the seq pattern wrote first and will not rewrite for minutes.
. "$RIG_REPO/tests/lib.sh"

lmvm_start src --mem 1G --vcpus 2 --dirty-rate 1M
lmvm_start dst --incoming --mem 1G --vcpus 2
sleep 5
vmq src stop >/dev/null
vmq src x-save-state >/tmp/state.json
# A 1 GiB lmvm's data starts at 6 MiB: after the record of generations.
lmvm-copy /tmp/src.qmp /tmp/dst.qmp --corrupt 0x600123
vmq dst x-load-state @/tmp/state.json >/dev/null
vmq dst cont >/dev/null
sleep 1
check=$(vmq dst x-guest-check)
note "destination: $check"
[ "$(field "$check" ok)" = false ] || fail "the check missed the corrupted byte"
[ "$(field "$check" bad-pages)" = 1 ] || fail "expected exactly one bad page"
[ "$(field "$check" first-bad-gfn)" = $((0x600)) ] || fail "the bad page is not the corrupted one"
