#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kcheck.sh LOG: move the kernel log into LOG and fail if it holds a
# warning, bug, oops, lockdep, KASAN, UBSAN or kmemleak report. Run after
# every test on every host, so a report is charged to the test that caused it.

log=${1:?usage: kcheck.sh LOG}

# kmemleak (the debug kernel) reports only when asked to scan; what it
# finds is added to the log and cleared, so it is reported once.
leaks=
if [ -d /sys/kernel/debug ] && ! [ -e /sys/kernel/debug/kmemleak ]; then
	mount -t debugfs none /sys/kernel/debug 2>/dev/null || true
fi
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak 2>/dev/null
	leaks=$(cat /sys/kernel/debug/kmemleak 2>/dev/null)
	[ -z "$leaks" ] || echo clear >/sys/kernel/debug/kmemleak
fi
new=$(dmesg -c 2>&1)
[ -z "$leaks" ] || new=$(printf '%s\n%s' "$new" "$leaks")
[ -n "$new" ] || exit 0
printf '%s\n' "$new" >>"$log"

# One pattern per kind of report the kernel prints.
bad=$(printf '%s\n' "$new" | grep -E \
	-e 'WARNING:' \
	-e 'BUG:' -e 'kernel BUG' \
	-e 'Oops' -e 'general protection fault' \
	-e 'Kernel panic' \
	-e 'KASAN:' -e 'UBSAN:' \
	-e 'possible circular locking' -e 'possible recursive locking' \
	-e 'inconsistent lock state' -e 'lockdep' \
	-e 'unreferenced object' \
	-e 'rcu_sched self-detected stall' -e 'rcu: INFO' \
	-e 'blocked for more than' \
	-e 'Call Trace:')
[ -z "$bad" ] && exit 0
echo "kernel reported on $(hostname):"
printf '%s\n' "$bad" | head -n 20 | sed 's/^/  /'
exit 1
