// SPDX-License-Identifier: GPL-2.0
/* Values on the command line, and what lmctl says when one is wrong. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/lmig.h>

#include "ipc.h"
#include "lmctl.h"
#include "size.h"

void usage_error(const char *synopsis, const char *cmd)
{
	fprintf(stderr, "usage: %s\n'lmctl %s --help' describes the options\n", synopsis, cmd);
}

int parse_session_id(const char *s, __u32 *id)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > LMIG_MAX_SESSIONS) {
		fprintf(stderr, "lmctl: '%s' is not a session id: 'lmctl list' shows the sessions\n", s);
		return -1;
	}
	*id = v;
	return 0;
}

int parse_pid(const char *opt, const char *s, int *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT32_MAX) {
		fprintf(stderr, "lmctl: %s wants a process id, not '%s'\n", opt, s);
		return -1;
	}
	*pid = v;
	return 0;
}

int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
	       unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "lmctl: %s wants %lu to %lu, not '%s'\n", opt, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

int parse_rate(const char *opt, const char *s, __u64 *out)
{
	uint64_t v;

	if (parse_size(s, &v)) {
		fprintf(stderr, "lmctl: %s wants bytes per second such as 500K, 20M or 1G (powers of 1024), or 0 for no limit, not '%s'\n",
			opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

int parse_id_qmp_json(int argc, char **argv, const char *synopsis, const char *cmd,
		      void (*help)(void), struct id_qmp_json *out)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt;

	memset(out, 0, sizeof(*out));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'q':
			out->qmp_path = optarg;
			break;
		case 'j':
			out->json = 1;
			break;
		case 'h':
			help();
			return 0;
		default:
			usage_error(synopsis, cmd);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage_error(synopsis, cmd);
		return 2;
	}
	if (parse_session_id(argv[optind], &out->id))
		return 2;
	return -1;
}

int session_status(int fd, __u32 id, struct lmig_status *st)
{
	int err = ipc_status(fd, id, st);

	if (err == -ENOENT)
		fprintf(stderr, "lmctl: no session %u: 'lmctl list' shows the sessions\n", id);
	else if (err)
		fprintf(stderr, "lmctl: status of session %u: %s\n", id, strerror(-err));
	return err;
}
