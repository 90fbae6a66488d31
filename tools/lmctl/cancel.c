// SPDX-License-Identifier: GPL-2.0
/* lmctl cancel and lmctl remove: end a session, forget a finished one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "lmctl.h"

static int by_id(int argc, char **argv, unsigned long cmd, const char *verb)
{
	struct lmig_session_id s = { .size = sizeof(s) };
	char *end;
	long id;
	int fd, ret = 0;

	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		int help = argc == 2;

		fprintf(help ? stdout : stderr, "usage: lmctl %s ID\n", verb);
		return help ? 0 : 2;
	}
	id = strtol(argv[1], &end, 10);
	if (*end || id <= 0 || id > LMIG_MAX_SESSIONS) {
		fprintf(stderr, "lmctl: '%s' is not a session id\n", argv[1]);
		return 2;
	}
	fd = ipc_open();
	if (fd < 0)
		return 1;
	s.id = id;
	if (ipc_session_cmd(fd, cmd, &s)) {
		if (errno == ENOENT)
			fprintf(stderr, "lmctl: no session %ld: 'lmctl list' shows the sessions\n", id);
		else if (errno == EBUSY)
			fprintf(stderr, "lmctl: session %ld has not finished: 'lmctl cancel %ld' first\n",
				id, id);
		else
			fprintf(stderr, "lmctl: %s session %ld: %s\n", verb, id, strerror(errno));
		ret = 1;
	}
	close(fd);
	return ret;
}

int cmd_cancel(int argc, char **argv)
{
	return by_id(argc, argv, LMIG_IOC_SESSION_CANCEL, "cancel");
}

int cmd_remove(int argc, char **argv)
{
	return by_id(argc, argv, LMIG_IOC_SESSION_REMOVE, "remove");
}
