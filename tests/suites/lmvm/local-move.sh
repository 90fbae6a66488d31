#!/bin/bash
# rig: one-host
# timeout: 400
#
# lmvm's save/restore, before lmig exists: stop a running guest, save its
# state, copy its memory through /proc/PID/mem into an --incoming lmvm of
# the same layout, load the state there and resume. The destination's
# memory digest equals the paused source's, its guest checks every page it
# ever wrote and carries on, and its heartbeat gap covers the move.
. "$RIG_REPO/tests/lib.sh"

lmvm_start src --mem 1G --vcpus 2 --dirty-rate 1M
lmvm_start dst --incoming --mem 1G --vcpus 2
[ "$(field "$(vmq dst query-status)" status)" = inmigrate ] || fail "the destination is not waiting"
sleep 5

vmq src stop >/dev/null
# The source's last beat came before stop returned, the destination's
# first after cont is sent: the gap between them spans at least t0..t1.
t0=$(date +%s%N)
vmq src x-save-state >/tmp/state.json
note "state: $(field "$(cat /tmp/state.json)" size) bytes"
lmvm-copy /tmp/src.qmp /tmp/dst.qmp
src_digest=$(vmq src x-memory-digest)
dst_digest=$(vmq dst x-memory-digest)
[ "$src_digest" = "$dst_digest" ] || fail "digests differ: $src_digest / $dst_digest"
note "memory digests equal"
vmq dst x-load-state @/tmp/state.json >/dev/null
t1=$(date +%s%N)
vmq dst cont >/dev/null
moved_ms=$(((t1 - t0) / 1000000))

sleep 3
expect_check_ok destination "$(vmq dst x-guest-check)"
beats=$(vmq dst x-heartbeat-stats)
note "destination heartbeats: $beats; stopped for $moved_ms ms"
gap=$(field "$beats" max-gap-ms)
[ "${gap%.*}" -ge "$moved_ms" ] || fail "heartbeat gap ${gap} ms is shorter than the $moved_ms ms stop"

# The source was only paused: it resumes unharmed.
vmq src cont >/dev/null
sleep 1
expect_check_ok source "$(vmq src x-guest-check)"
