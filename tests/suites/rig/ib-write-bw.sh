#!/bin/bash
# rig: one-host two-hosts
# timeout: 180
#
# RDMA WRITE traffic crosses the rig's link: ib_write_bw from host A to
# host B (or from the only host to itself), with 64 KiB messages. The
# bandwidth is printed for the record, never judged: the rig is emulated.
. "$RIG_REPO/tests/lib.sh"

server='ib_write_bw -d rxe0 -R -s 65536 -n 300 --report_gbits'
if two_hosts; then
	on_peer "$server >/tmp/ib_write_bw.server 2>&1 &"
	target=$RIG_PEER
else
	$server >/tmp/ib_write_bw.server 2>&1 &
	target=$RIG_ADDR
fi

# The server needs a moment to listen; a client that comes too early
# fails at once, so it simply tries again.
for try in $(seq 20); do
	if ib_write_bw -d rxe0 -R -s 65536 -n 300 --report_gbits "$target" >/tmp/client 2>&1; then
		cat /tmp/client
		result=$(awk '$1 == 65536 { print $4 " Gb/s average" }' /tmp/client)
		[ -n "$result" ] || fail "ib_write_bw printed no result line"
		note "ib_write_bw 64 KiB: $result (try $try)"
		exit 0
	fi
	sleep 1
done
cat /tmp/client
fail "ib_write_bw never connected to $target"
