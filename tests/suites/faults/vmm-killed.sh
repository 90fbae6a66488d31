#!/bin/bash
# rig: two-hosts
# timeout: 900
#
# A VMM killed in the middle of a migration. The source VMM first: its
# session fails (the VM is gone, there is nothing to move), and so does
# the destination's, which never resumes and keeps nothing pinned. Then
# the destination VMM: its session fails, the source's too, and the source
# guest runs on and checks every page. A migration right after succeeds.
. "$RIG_REPO/tests/lib.sh"


# migrate SRC DST: starts moving lmvm SRC here to DST on the peer and
# returns once pages move; sets src_id and dst_id.
migrate() {
	local listen
	listen=$(peer_listen "$2")
	dst_id=$(field "$listen" id)
	src_id=$(field "$(lmctl start --vm-pid "$(eval echo "\$pid_$1")" --to "$(field "$listen" uri)" --json)" id)
	[ -n "$src_id" ] || fail "lmctl start printed no id"
	for _ in $(seq 300); do
		[ "$(field "$(lmctl status "$src_id" --json)" transferred_pages)" -gt 0 ] && break
		sleep 0.2
	done
}

lmig_load_both
pins_before=$(peer_pins_held)

# The source VMM dies.
lmvm_start doomed --mem 256M --vcpus 1 --dirty-rate 1M
peer_lmvm_start dst1 --incoming --mem 256M --vcpus 1
migrate doomed dst1
kill -9 "$pid_doomed"
st=$(wait_session_state here "$src_id" failed 60)
[ "$(field "$st" state)" = failed ] || fail "the source session outlived its VMM: $st"
note "source: $(field "$st" message)"
st=$(wait_session_state peer "$dst_id" failed 90)
[ "$(field "$st" state)" = failed ] || fail "the destination did not fail: $st"
note "destination: $(field "$st" message)"
[ "$(field "$(pvmq dst1 query-status)" status)" = inmigrate ] || fail "the destination VM was resumed"
pins_unchanged peer "$pins_before" "the destination keeps pages pinned"
lmctl remove "$src_id"
on_peer "lmctl remove $dst_id"

# The destination VMM dies.
lmvm_start src --mem 256M --vcpus 1 --dirty-rate 1M
peer_lmvm_start dst2 --incoming --mem 256M --vcpus 1
migrate src dst2
on_peer "kill -9 \$(cat /tmp/dst2.pid)"
st=$(wait_session_state peer "$dst_id" failed 60)
[ "$(field "$st" state)" = failed ] || fail "the destination session outlived its VMM: $st"
note "destination: $(field "$st" message)"
pins_unchanged peer "$pins_before" "pages stay pinned for a dead VMM"
st=$(wait_session_state here "$src_id" failed 90)
[ "$(field "$st" state)" = failed ] || fail "the source did not fail: $st"
note "source: $(field "$st" message)"
[ "$(field "$(vmq src query-status)" status)" = running ] || fail "the source guest stopped"
expect_check_ok "source after the destination VMM died" "$(vmq src x-guest-check)"
lmctl remove "$src_id"
on_peer "lmctl remove $dst_id"

# A destination VMM that dies while its session only listens.
peer_lmvm_start idle --incoming --mem 64M --vcpus 1
idle_id=$(field "$(peer_listen idle)" id)
on_peer "kill -9 \$(cat /tmp/idle.pid)"
st=$(wait_session_state peer "$idle_id" failed 30)
[ "$(field "$st" state)" = failed ] || fail "a listening session outlived its VMM: $st"
note "listener: $(field "$st" message)"
on_peer "lmctl remove $idle_id"

peer_lmvm_start dst3 --incoming --mem 256M --vcpus 1
listen=$(peer_listen dst3)
lmctl start --vm-pid "$pid_src" --to "$(field "$listen" uri)" --qmp /tmp/src.qmp --json \
	>/tmp/start.json || fail "the migration afterwards failed: $(cat /tmp/start.json)"
on_peer "lmctl wait $(field "$listen" id) --qmp /tmp/dst3.qmp" || fail "dst3 did not resume"
sleep 2
expect_check_ok "destination afterwards" "$(pvmq dst3 x-guest-check)"
lmig_unload_both
