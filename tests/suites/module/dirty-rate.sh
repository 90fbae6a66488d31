#!/bin/bash
# rig: one-host
# timeout: 300
#
# A session that harvests KVM's dirty log from its kernel worker and sends
# nothing (lmctl dirty-rate): it sees a running guest's writes, sees
# exactly nothing of a stopped one, and leaves the guest as it found it,
# also when the module is unloaded under a measuring session.
. "$RIG_REPO/tests/lib.sh"

! lmig_loaded || rmmod lmig
insmod "$LMIG_KO"
lmvm_start vm --mem 256M --vcpus 2 --dirty-rate 1M

lmctl dirty-rate --vm-pid "$pid_vm" --seconds 4 --interval 500
r=$(lmctl dirty-rate --vm-pid "$pid_vm" --seconds 4 --interval 500 --json)
note "running: $r"
[ "$(field "$r" dirty_rate_pps)" -gt 0 ] || fail "no dirty page seen in a running guest"
expect_check_ok "after measuring" "$(vmq vm x-guest-check)"

# A stopped guest writes nothing, and no VMM writes behind KVM's back.
vmq vm stop >/dev/null
r=$(lmctl dirty-rate --vm-pid "$pid_vm" --seconds 3 --interval 500 --json)
note "stopped: $r"
[ "$(field "$r" dirty_rate_pps)" = 0 ] || fail "dirty pages in a stopped guest"
vmq vm cont >/dev/null

# Bad input gets a clear error and leaves no session behind.
! lmctl dirty-rate --vm-pid 1 2>/tmp/err || fail "measured init, which is no VMM"
note "pid 1: $(cat /tmp/err)"
grep -q "no KVM VM" /tmp/err || fail "unclear error"
! lmctl dirty-rate --vm-pid "$pid_vm" --interval 5 2>/dev/null || fail "took a 5 ms interval"
[ "$(lmctl list)" = "no sessions" ] || fail "sessions left behind: $(lmctl list)"

# Unloading stops a measuring worker and gives the VM its flags back.
id=$(uapi-session --leave "$pid_vm" measure)
sleep 2
lmctl status "$id"
rmmod lmig || fail "rmmod refused"
sleep 1
expect_check_ok "after rmmod" "$(vmq vm x-guest-check)"
# Logging is off again: a new module can turn it on afresh.
insmod "$LMIG_KO"
r=$(lmctl dirty-rate --vm-pid "$pid_vm" --seconds 3 --interval 500 --json)
note "after reload: $r"
[ "$(field "$r" dirty_rate_pps)" -gt 0 ] || fail "no dirty page seen after reload"
rmmod lmig
