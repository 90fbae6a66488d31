// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl dirty-rate: how fast a running VM dirties its memory, measured
 * with KVM's dirty log by a session that sends nothing. The number to
 * know before a migration: the link must outrun it to converge.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "lmctl.h"
#include "progress.h"
#include "vmfd.h"

static void usage(void)
{
	fprintf(stderr, "usage: lmctl dirty-rate --vm-pid PID [--seconds N] [--interval MS] [--json]\n");
}

int cmd_dirty_rate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm-pid", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long pid = 0, seconds = 5, interval = 1000;
	unsigned long long sum = 0, rounds = 0, shown = 0;
	struct lmig_status st = { 0 };
	char err[256] = "", why[sizeof(st.message) + 1], *end;
	int opt, fd, vmfd, json = 0, ret = 1;
	__u32 id = 0;	/* no session has id 0 */
	time_t deadline;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0) {
				fprintf(stderr, "lmctl: --vm-pid wants a process id, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			seconds = strtol(optarg, &end, 10);
			if (*end || seconds < 1 || seconds > 86400) {
				fprintf(stderr, "lmctl: --seconds wants 1 to 86400, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'i':
			interval = strtol(optarg, &end, 10);
			if (*end || interval < 10 || interval > LMIG_MAX_INTERVAL_MS) {
				fprintf(stderr, "lmctl: --interval wants 10 to %d ms, not '%s'\n",
					LMIG_MAX_INTERVAL_MS, optarg);
				return 2;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: lmctl dirty-rate --vm-pid PID [--seconds N] [--interval MS] [--json]\n");
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (!pid || optind < argc) {
		usage();
		return 2;
	}

	fd = ipc_open();
	if (fd < 0)
		return 1;
	vmfd = vm_fd_of_pid(pid, err, sizeof(err));
	if (vmfd < 0) {
		fprintf(stderr, "lmctl: %s\n", err);
		close(fd);
		return 1;
	}
	if (ipc_session_create(fd, LMIG_ROLE_SOURCE, &id) ||
	    ipc_session_attach(fd, id, vmfd, err, sizeof(err)) ||
	    ipc_session_measure(fd, id, interval, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err[0] ? err : strerror(errno));
		goto out;
	}
	/* The session is the kernel's: hand it back however lmctl ends. */
	catch_interrupts();

	deadline = time(NULL) + seconds;
	while (!interrupted && time(NULL) < deadline) {
		sleep_ms(interval / 4 ? interval / 4 : 1);
		if (ipc_status(fd, id, &st))
			break;
		if (st.state == LMIG_STATE_FAILED) {
			fprintf(stderr, "lmctl: the measurement failed: %s\n",
				end_reason(&st, why, sizeof(why)));
			goto out;
		}
		if (st.rounds == shown)
			continue;
		shown = st.rounds;
		rounds++;
		sum += st.dirty_rate_pps;
		if (!json)
			printf("round %llu: %llu pages dirty, %llu pages/s (%.1f MiB/s)\n",
			       (unsigned long long)st.rounds,
			       (unsigned long long)st.remaining_pages,
			       (unsigned long long)st.dirty_rate_pps,
			       st.dirty_rate_pps * 4096.0 / (1 << 20));
		fflush(stdout);
	}
	if (!rounds) {
		fprintf(stderr, "lmctl: no harvest finished in %ld s: try a longer --seconds\n", seconds);
		goto out;
	}
	if (json)
		printf("{\"vm_pid\": %ld, \"rounds\": %llu, \"interval_ms\": %ld, "
		       "\"dirty_rate_pps\": %llu, \"total_pages\": %llu}\n", pid, rounds, interval,
		       sum / rounds, (unsigned long long)st.total_pages);
	else
		printf("VM %ld dirties %llu pages/s (%.1f MiB/s) on average over %llu rounds\n", pid,
		       sum / rounds, sum / rounds * 4096.0 / (1 << 20), rounds);
	ret = 0;
out:
	ipc_session_end(fd, id);
	close(vmfd);
	close(fd);
	return ret;
}
