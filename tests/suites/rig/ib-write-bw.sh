#!/bin/bash
# rig: one-host two-hosts
# timeout: 700
#
# RDMA WRITE traffic crosses the rig's link: ib_write_bw from host A to
# host B (or from the only host to itself), with 64 KiB messages. The
# bandwidth is printed for the record, never judged: the rig is emulated.
. "$RIG_REPO/tests/lib.sh"

server='ib_write_bw -d rxe0 -R -s 65536 -n 300 --report_gbits'
if two_hosts; then
	target=$RIG_PEER
	serve() { on_peer "pkill -x ib_write_bw; $server >/tmp/ib_write_bw.server 2>&1 &"; }
else
	target=$RIG_ADDR
	serve() {
		pkill -x ib_write_bw || true
		$server >/tmp/ib_write_bw.server 2>&1 &
	}
fi

# The server needs a moment to listen, and serves one client: after a
# client that failed (too early, or cut off on a loaded host) it may be
# gone or wedged, so each try starts a fresh one.
for try in $(seq 10); do
	serve
	sleep 1
	if timeout 60 ib_write_bw -d rxe0 -R -s 65536 -n 300 --report_gbits "$target" >/tmp/client 2>&1; then
		cat /tmp/client
		result=$(awk '$1 == 65536 { print $4 " Gb/s average" }' /tmp/client)
		[ -n "$result" ] || fail "ib_write_bw printed no result line"
		note "ib_write_bw 64 KiB: $result (try $try)"
		exit 0
	fi
done
cat /tmp/client
fail "ib_write_bw never completed against $target"
