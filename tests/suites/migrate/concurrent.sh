#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# Four live migrations at once, two in each direction, each of its own
# lmvm (128 MiB, 1 vCPU, dirtying): they share the link and every one
# completes on its own, verified by its guest on the destination.
. "$RIG_REPO/tests/lib.sh"

lmig_load_both
vm='--mem 128M --vcpus 1'
for i in 1 2; do
	lmvm_start "a$i" $vm --dirty-rate 256K
	peer_lmvm_start "b$i" --incoming $vm
	peer_lmvm_start "c$i" $vm --dirty-rate 256K
	lmvm_start "d$i" --incoming $vm
done

# a1, a2 move from here to the peer (b1, b2); c1, c2 from the peer to here (d1, d2).
for i in 1 2; do
	l=$(peer_listen "b$i")
	eval "uri_b$i=$(field "$l" uri) id_b$i=$(field "$l" id)"
	l=$(listen_here "d$i")
	eval "uri_d$i=$(field "$l" uri) id_d$i=$(field "$l" id)"
done
for i in 1 2; do
	lmctl start --vm-pid "$(eval echo "\$pid_a$i")" --to "$(eval echo "\$uri_b$i")" \
		--qmp "/tmp/a$i.qmp" --json >"/tmp/a$i.json" 2>"/tmp/a$i.err" &
	eval "job_a$i=$!"
	on_peer "(lmctl start --vm-pid \$(cat /tmp/c$i.pid) --to $(eval echo "\$uri_d$i") --qmp /tmp/c$i.qmp --json >/tmp/c$i.json 2>/tmp/c$i.err; echo \$? >/tmp/c$i.rc) &"
done
# On a failure, what both ends of every session said.
sessions() {
	echo "here:"
	lmctl status --json
	echo "peer:"
	on_peer "lmctl status --json"
}
for i in 1 2; do
	wait "$(eval echo "\$job_a$i")" ||
		fail "a$i did not migrate: $(cat /tmp/a$i.err /tmp/a$i.json; sessions)"
	note "a$i: $(cat /tmp/a$i.json)"
done
for i in 1 2; do
	for _ in $(seq 600); do
		on_peer "[ -s /tmp/c$i.rc ]" && break
		sleep 1
	done
	[ "$(on_peer "cat /tmp/c$i.rc")" = 0 ] ||
		fail "c$i did not migrate: $(on_peer "cat /tmp/c$i.err /tmp/c$i.json"; sessions)"
	note "c$i: $(on_peer "cat /tmp/c$i.json")"
done
for i in 1 2; do
	on_peer "lmctl wait $(eval echo "\$id_b$i") --qmp /tmp/b$i.qmp" >/dev/null || fail "b$i did not resume"
	lmctl wait "$(eval echo "\$id_d$i")" --qmp "/tmp/d$i.qmp" >/dev/null || fail "d$i did not resume"
done
sleep 2
for i in 1 2; do
	expect_check_ok "b$i" "$(pvmq "b$i" x-guest-check)"
	expect_check_ok "d$i" "$(vmq "d$i" x-guest-check)"
done
lmig_unload_both
