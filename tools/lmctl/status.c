// SPDX-License-Identifier: GPL-2.0
/* lmctl status and lmctl list: what the kernel's sessions are doing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "json.h"
#include "lmctl.h"

const char *role_name(__u32 role)
{
	return role == LMIG_ROLE_SOURCE ? "source" :
	       role == LMIG_ROLE_DESTINATION ? "destination" : "unknown";
}

const char *state_name(__u32 state)
{
	static const char *const names[] = {
		[LMIG_STATE_SETUP] = "setup",
		[LMIG_STATE_ACTIVE] = "active",
		[LMIG_STATE_CONVERGED] = "converged",
		[LMIG_STATE_FINALIZING] = "finalizing",
		[LMIG_STATE_COMPLETED] = "completed",
		[LMIG_STATE_FAILED] = "failed",
		[LMIG_STATE_CANCELLED] = "cancelled",
		[LMIG_STATE_IN_DOUBT] = "in-doubt",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}

static unsigned int percent(const struct lmig_status *st)
{
	if (!st->total_pages)
		return 0;
	return (unsigned int)((st->total_pages - st->remaining_pages) * 100 / st->total_pages);
}

/* The field names are the ones DESIGN.md and lmctl(8) give. */
static void print_json(const struct lmig_status *st)
{
	printf("{\"id\": %u, \"role\": \"%s\", \"state\": \"%s\", \"error\": %d, "
	       "\"peer\": \"%.*s\", \"total_pages\": %llu, \"transferred_pages\": %llu, "
	       "\"transferred_bytes\": %llu, \"remaining_pages\": %llu, \"zero_pages\": %llu, "
	       "\"rounds\": %llu, \"dirty_rate_pps\": %llu, \"throughput_mbps\": %llu, "
	       "\"expected_downtime_ms\": %llu, \"downtime_ms\": %llu, \"setup_time_ms\": %llu, "
	       "\"total_time_ms\": %llu, \"downtime_limit_ms\": %llu, \"qps\": %llu, "
	       "\"message\": ",
	       st->id, role_name(st->role), state_name(st->state), st->error,
	       (int)strnlen((const char *)st->peer, sizeof(st->peer)), (const char *)st->peer,
	       (unsigned long long)st->total_pages, (unsigned long long)st->transferred_pages,
	       (unsigned long long)st->transferred_bytes, (unsigned long long)st->remaining_pages,
	       (unsigned long long)st->zero_pages, (unsigned long long)st->rounds,
	       (unsigned long long)st->dirty_rate_pps, (unsigned long long)st->throughput_mbps,
	       (unsigned long long)st->expected_downtime_ms, (unsigned long long)st->downtime_ms,
	       (unsigned long long)st->setup_time_ms, (unsigned long long)st->total_time_ms,
	       (unsigned long long)st->downtime_limit_ms, (unsigned long long)st->qps);
	json_print_string(stdout, st->message, sizeof(st->message));
	printf("}");
}

static void print_human(const struct lmig_status *st)
{
	printf("session %u: %s, %s", st->id, role_name(st->role), state_name(st->state));
	if (st->error)
		printf(" (%s)", strerror(-st->error));
	printf("\n");
	if (st->peer[0] && st->qps > 1)
		printf("  peer:        %.*s, over %llu QPs\n", (int)sizeof(st->peer),
		       (const char *)st->peer, (unsigned long long)st->qps);
	else if (st->peer[0])
		printf("  peer:        %.*s\n", (int)sizeof(st->peer), (const char *)st->peer);
	if (st->total_pages)
		printf("  memory:      %llu pages (%llu MiB) in %u memslots\n",
		       (unsigned long long)st->total_pages,
		       (unsigned long long)(st->total_pages * 4096 >> 20), st->slots);
	else
		printf("  memory:      no VM attached\n");
	if (st->total_pages)
		printf("  progress:    %u %%, %llu pages left, round %llu\n", percent(st),
		       (unsigned long long)st->remaining_pages, (unsigned long long)st->rounds);
	if (st->dirty_rate_pps)
		printf("  dirty rate:  %llu pages/s\n", (unsigned long long)st->dirty_rate_pps);
	printf("  time:        %llu ms\n", (unsigned long long)st->total_time_ms);
	if (st->message[0])
		printf("  message:     %.*s\n", (int)sizeof(st->message), st->message);
}

static int parse_args(int argc, char **argv, const char *usage, int *json, long *id)
{
	char *end;
	int i;

	*json = 0;
	*id = -1;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s\n", usage);
			return 1;
		} else if (!strcmp(argv[i], "--json")) {
			*json = 1;
		} else if (*id < 0 && argv[i][0] != '-') {
			*id = strtol(argv[i], &end, 10);
			if (*end || *id <= 0) {
				fprintf(stderr, "lmctl: '%s' is not a session id\n", argv[i]);
				return -1;
			}
		} else {
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	return 0;
}

/* Prints one session; 1 if it does not exist (any more). */
static int show(int fd, __u32 id, int json, int first)
{
	struct lmig_status st;
	int err = ipc_status(fd, id, &st);

	if (err == -ENOENT)
		return 1;
	if (err) {
		fprintf(stderr, "lmctl: status of session %u: %s\n", id, strerror(-err));
		return -1;
	}
	if (json) {
		printf("%s", first ? "" : ",\n ");
		print_json(&st);
	} else {
		print_human(&st);
	}
	return 0;
}

/* All session ids, or -1 after saying why not. */
static int list_ids(int fd, __u32 ids[LMIG_MAX_SESSIONS])
{
	int n = ipc_list(fd, ids, LMIG_MAX_SESSIONS);

	if (n < 0) {
		fprintf(stderr, "lmctl: cannot list sessions: %s\n", strerror(-n));
		return -1;
	}
	return n < LMIG_MAX_SESSIONS ? n : LMIG_MAX_SESSIONS;
}

int cmd_status(int argc, char **argv)
{
	__u32 ids[LMIG_MAX_SESSIONS];
	int fd, json, n, i, ret = 0, shown = 0;
	long id;

	ret = parse_args(argc, argv, "lmctl status [ID] [--json]", &json, &id);
	if (ret)
		return ret > 0 ? 0 : 2;
	fd = ipc_open();
	if (fd < 0)
		return 1;
	if (id > 0) {
		ret = show(fd, id, json, 1);
		if (ret == 1)
			fprintf(stderr, "lmctl: no session %ld: 'lmctl list' shows the sessions\n", id);
		if (json && !ret)
			printf("\n");
		close(fd);
		return ret ? 1 : 0;
	}
	n = list_ids(fd, ids);
	if (n < 0) {
		close(fd);
		return 1;
	}
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		/* A session removed since the list was taken is skipped. */
		int r = show(fd, ids[i], json, !shown);

		if (r < 0)
			ret = 1;
		shown += r == 0;
	}
	if (json)
		printf("]\n");
	else if (!shown)
		printf("no sessions\n");
	close(fd);
	return ret;
}

int cmd_list(int argc, char **argv)
{
	__u32 ids[LMIG_MAX_SESSIONS];
	int fd, n, i;

	if (argc > 1) {
		int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		fprintf(help ? stdout : stderr, "usage: lmctl list\n");
		return help ? 0 : 2;
	}
	fd = ipc_open();
	if (fd < 0)
		return 1;
	n = list_ids(fd, ids);
	if (n < 0) {
		close(fd);
		return 1;
	}
	if (n)
		printf("%-4s %-12s %-11s %9s %s\n", "ID", "ROLE", "STATE", "PROGRESS", "PEER");
	for (i = 0; i < n; i++) {
		struct lmig_status st;

		if (ipc_status(fd, ids[i], &st))
			continue;
		printf("%-4u %-12s %-11s %8u%% %.*s\n", st.id, role_name(st.role),
		       state_name(st.state), percent(&st), (int)sizeof(st.peer),
		       st.peer[0] ? (const char *)st.peer : "-");
	}
	if (!n)
		printf("no sessions\n");
	close(fd);
	return 0;
}
