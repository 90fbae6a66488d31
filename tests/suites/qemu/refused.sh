#!/bin/bash
# rig: one-host
# timeout: 400
#
# QEMU setups where lmig would lose pages are refused with a message that
# says why and what to do, and nothing is left behind: no session, and
# the QEMU runs on.
# - A QEMU that logs dirty pages itself (std VGA tracks its framebuffer
#   so) is refused by the kernel: lmig.ko will not share KVM's log.
# - lmctl start --qemu-migrate refuses a QEMU whose RAM is not in a
#   shared memory backend, and one with an emulated device that writes
#   guest memory behind KVM's dirty log.
. "$RIG_REPO/tests/lib.sh"

lmig_loaded || insmod "$LMIG_KO"
# Small guests: what is refused here is not their size.
QGUEST_MEM=$(qguest_mem 32M)
# Refusals come before anything connects: no destination needed.
TO="lmig://127.0.0.1:7471/$(printf '%064d' 0)"

# expect_refused NAME PATTERN COMMAND...: COMMAND fails saying PATTERN,
# leaves no session, and QEMU NAME still runs.
expect_refused() {
	local name=$1 pattern=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		fail "$name: '$*' was not refused: $out"
	fi
	printf '%s\n' "$out" | grep -q "$pattern" || fail "$name: '$*' said: $out"
	note "$name: $(printf '%s\n' "$out" | grep "$pattern" | head -n1)"
	expect_no_sessions
	[ "$(field "$(vmq "$name" query-status)" status)" = running ] ||
		fail "$name does not run after the refusal"
}

# Each check waits for the guest to run: while the firmware boots, QEMU
# redefines memslots, and a session would rather stop on that.
qguest_start qvga -device VGA
qguest_wait qvga "qguest: beat 1," 180
expect_refused qvga "dirty-logged by its VMM already" \
	lmctl dirty-rate --vm-pid "$pid_qvga" --seconds 2
expect_refused qvga "PCI device .*VGA" \
	lmctl start --vm-pid "$pid_qvga" --to "$TO" --qmp /tmp/qvga.qmp --qemu-migrate tcp:127.0.0.1:4444
qguest_stop qvga

QGUEST_MEM="-m 32M" qguest_start qplain
qguest_wait qplain "qguest: beat 1," 180
expect_refused qplain "is not shared" \
	lmctl start --vm-pid "$pid_qplain" --to "$TO" --qmp /tmp/qplain.qmp --qemu-migrate tcp:127.0.0.1:4444
qguest_stop qplain

QGUEST_MEM="$(qguest_mem 32M | sed 's/share=on/share=off/')" \
	qguest_start qprivate
qguest_wait qprivate "qguest: beat 1," 180
expect_refused qprivate "is not shared" \
	lmctl start --vm-pid "$pid_qprivate" --to "$TO" --qmp /tmp/qprivate.qmp --qemu-migrate tcp:127.0.0.1:4444
qguest_stop qprivate

qguest_start qrng -device virtio-rng-pci,id=rng0
qguest_wait qrng "qguest: beat 1," 180
expect_refused qrng "PCI device 00:0.*id rng0" \
	lmctl start --vm-pid "$pid_qrng" --to "$TO" --qmp /tmp/qrng.qmp --qemu-migrate tcp:127.0.0.1:4444
qguest_stop qrng
