#!/bin/bash
# rig: one-host
# timeout: 240
#
# Sessions and attaching a VM: the uapi's rules for every session ioctl,
# a VMM's VM taken by its pid, and the two ways a session can lose its
# ground: the VMM exits under it, or the module is unloaded under it.
# The VM never notices any of it.
. "$RIG_REPO/tests/lib.sh"

! lmig_loaded || rmmod lmig
insmod "$LMIG_KO"
lmvm_start vm --mem 1G --vcpus 2 --dirty-rate 256K
uapi-session "$pid_vm" $((1 << 30))
expect_check_ok "after attach and cancel" "$(vmq vm x-guest-check)"

# The VMM exits while a session holds its VM; another VM is attached live.
gone=$(uapi-session --leave "$pid_vm")
kill -TERM "$pid_vm"
wait "$pid_vm" || fail "lmvm exited with $? while attached"
note "session $gone outlived its VMM"
st=$(lmctl status "$gone" --json)
note "lmctl status $gone --json: $st"
[ "$(field "$st" state)" = setup ] && [ "$(field "$st" total_pages)" = $((1 << 18)) ] ||
	fail "lmctl status does not show the session and its VM"
! lmctl status 255 2>/tmp/err || fail "lmctl status of a missing session succeeded"
grep -q "no session 255" /tmp/err || fail "unclear error: $(cat /tmp/err)"
lmvm_start live --mem 64M --dirty-rate 256K
live=$(uapi-session --leave "$pid_live")
note "session $live holds a running VM"
lmctl list
lmctl status

# lmctl ends and forgets sessions by id, and says what to do when it cannot.
extra=$(uapi-session --leave "$pid_live" 2>&1) && fail "a VM joined a second session"
! lmctl remove "$live" 2>/tmp/err || fail "removed an unfinished session"
grep -q "lmctl cancel $live" /tmp/err || fail "unclear error: $(cat /tmp/err)"
lmctl cancel "$gone"
[ "$(field "$(lmctl status "$gone" --json)" state)" = cancelled ] || fail "not cancelled"
lmctl remove "$gone"
! lmctl status "$gone" 2>/dev/null || fail "session $gone is still there"
! lmctl cancel 0 2>/dev/null || fail "took 0 as a session id"

# Unloading cancels and frees both; the running guest goes on unharmed.
rmmod lmig || fail "rmmod refused with idle sessions"
! lmig_loaded || fail "lmig is still loaded"
expect_check_ok "after rmmod" "$(vmq live x-guest-check)"
