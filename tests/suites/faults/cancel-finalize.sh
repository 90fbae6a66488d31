#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# lmctl cancel racing lmctl finalize, at several delays. Whoever wins, the
# VM ends up running on exactly one host with all its memory: a source
# that completed has a completed destination; a cancelled or failed source
# runs on (lmctl resumed it) and its destination did not complete; an
# in-doubt source stays paused until the destination's state decides. Two
# finalizes race each time: one goes in, and both report how it ended.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
n=0
for delay in 0 0.05 0.2 0.5 1; do
	n=$((n + 1))
	peer_lmvm_start "dst$n" --incoming --mem 64M --vcpus 1
	lmvm_start "src$n" --mem 64M --vcpus 1 --dirty-rate 256K
	listen=$(peer_listen "dst$n")
	dst_id=$(field "$listen" id)
	src_id=$(field "$(lmctl start --vm-pid "$(eval echo "\$pid_src$n")" \
		--to "$(field "$listen" uri)" --json)" id)
	t0=$(date +%s)
	for _ in $(seq 600); do
		[ "$(field "$(lmctl status "$src_id" --json)" state)" = converged ] && break
		sleep 0.2
	done
	note "delay $delay s: $(field "$(lmctl status "$src_id" --json)" state) after $(($(date +%s) - t0)) s"

	lmctl finalize "$src_id" --qmp "/tmp/src$n.qmp" >/tmp/fin.out 2>&1 &
	fin=$!
	# A second finalize at once: at most one of the two may go ahead.
	lmctl finalize "$src_id" --qmp "/tmp/src$n.qmp" >/tmp/fin2.out 2>&1 &
	fin2=$!
	sleep "$delay"
	lmctl cancel "$src_id"
	rc=0
	wait "$fin" || rc=$?
	rc2=0
	wait "$fin2" || rc2=$?
	src=$(field "$(lmctl status "$src_id" --json)" state)
	t0=$(date +%s)
	on_peer "timeout 200 lmctl wait $dst_id" >/dev/null 2>&1 || true
	note "the destination ended $(($(date +%s) - t0)) s after the cancel"
	dst=$(field "$(on_peer "lmctl status $dst_id --json")" state)
	note "delay $delay s: source $src (lmctl $rc, $rc2), destination $dst"
	# Each lmctl waits for whichever finalize went in, and tells the truth,
	# also one that starts after the other has finished.
	for f in fin fin2; do
		r=$([ $f = fin ] && echo "$rc" || echo "$rc2")
		[ "$r" -eq 0 ] && [ "$src" != completed ] && fail "lmctl finalize exit 0 for a $src session"
		[ "$r" -ne 0 ] && [ "$src" = completed ] &&
			fail "lmctl finalize exit $r for a completed session: $(cat /tmp/$f.out)"
	done

	case $src in
	completed)
		[ "$dst" = completed ] || fail "the source completed, the destination is $dst"
		runs=peer ;;
	cancelled | failed)
		[ "$dst" != completed ] || fail "the destination completed under a $src source"
		runs=here ;;
	in-doubt)
		[ "$(field "$(vmq "src$n" query-status)" status)" = paused ] ||
			fail "an in-doubt source was resumed"
		if [ "$dst" = completed ]; then runs=peer; else vmq "src$n" cont >/dev/null; runs=here; fi ;;
	*)
		fail "the source is $src after cancel and finalize" ;;
	esac

	if [ "$runs" = here ]; then
		[ "$(field "$(vmq "src$n" query-status)" status)" = running ] ||
			fail "the source did not run on: $(cat /tmp/fin.out /tmp/fin2.out)"
		[ "$(field "$(pvmq "dst$n" query-status)" status)" = inmigrate ] ||
			fail "the destination VM was resumed"
		expect_check_ok "source (delay $delay)" "$(vmq "src$n" x-guest-check)"
	else
		on_peer "lmctl wait $dst_id --qmp /tmp/dst$n.qmp" >/dev/null ||
			fail "the completed destination did not resume"
		sleep 2
		expect_check_ok "destination (delay $delay)" "$(pvmq "dst$n" x-guest-check)"
	fi
	lmctl remove "$src_id"
	on_peer "lmctl remove $dst_id"
done
lmig_unload_both
