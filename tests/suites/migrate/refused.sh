#!/bin/bash
# rig: two-hosts
# timeout: 600
#
# A migration that cannot be allowed gets a clear error and leaves nothing
# behind: a wrong token (the destination keeps listening and the right one
# still works afterwards), memory layouts that differ (named region), and a
# process that is no VMM. No session stays, no page stays pinned, the
# source guest runs on unharmed.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
peer_lmvm_start dst --incoming --mem 64M --vcpus 1
peer_lmvm_start other --incoming --mem 96M --vcpus 1
lmvm_start src --mem 64M --vcpus 1 --dirty-rate 1M
pins_before=$(peer_pins_held)

listen=$(peer_listen dst)
uri=$(field "$listen" uri)
dst_id=$(field "$listen" id)

# A wrong token: refused, and the destination waits on for the right one.
bad=${uri%/*}/$(printf '%064d' 0)
! lmctl start --vm-pid "$pid_src" --to "$bad" 2>/tmp/err || fail "a wrong token was accepted"
note "wrong token: $(cat /tmp/err)"
grep -q "token" /tmp/err || fail "the error does not say the token was refused"
expect_no_sessions
st=$(on_peer "lmctl status $dst_id --json")
[ "$(field "$st" state)" = setup ] || fail "the destination stopped listening: $st"
note "destination after it: $(field "$st" message)"

# A layout that differs: the region is named on both sides; no session stays here.
other=$(peer_listen other)
! lmctl start --vm-pid "$pid_src" --to "$(field "$other" uri)" 2>/tmp/err ||
	fail "a different memory layout was accepted"
note "layout: $(cat /tmp/err)"
grep -q "region [0-9]" /tmp/err || fail "the error does not name the region"
expect_no_sessions
st=$(on_peer "lmctl status $(field "$other" id) --json")
[ "$(field "$st" state)" = failed ] || fail "the destination of another layout did not fail: $st"

# Not a VMM: init has no KVM VM.
! lmctl start --vm-pid 1 --to "$uri" 2>/tmp/err || fail "migrated init"
note "pid 1: $(cat /tmp/err)"
expect_no_sessions

pins_after=$(peer_pins_held)
[ "$pins_before" = "$pins_after" ] || fail "pages left pinned on the destination: $pins_before -> $pins_after"
expect_check_ok source "$(vmq src x-guest-check)"

# The right token still works after all that, and the memory moves.
lmctl start --vm-pid "$pid_src" --to "$uri" --qmp /tmp/src.qmp --finalize auto --json \
	>/tmp/start.json 2>/tmp/start.err || fail "the right token failed: $(cat /tmp/start.err)"
on_peer "lmctl wait $dst_id --qmp /tmp/dst.qmp" || fail "the destination did not resume"
sleep 2
expect_check_ok destination "$(pvmq dst x-guest-check)"
lmig_unload_both
