# SPDX-License-Identifier: GPL-2.0
# Test metadata, read by the build machine and by the runner alike.
# A test declares itself in its first lines:
#   # rig: one-host two-hosts     topologies it runs in (default: one-host)
#   # timeout: 120                seconds (default: 300), times
#                                 RIG_TIMEOUT_SCALE (default 1)

test_topologies() {
	local t
	t=$(sed -n '1,15s/^# rig: *//p' "$1" | head -n1)
	echo "${t:-one-host}"
}

test_timeout() {
	local t
	t=$(sed -n '1,15s/^# timeout: *\([0-9]*\).*/\1/p' "$1" | head -n1)
	echo $((${t:-300} * ${RIG_TIMEOUT_SCALE:-1}))
}
