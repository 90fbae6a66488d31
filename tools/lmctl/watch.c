// SPDX-License-Identifier: GPL-2.0
/* lmctl watch: a session's progress, live, until it finishes. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "finalize.h"
#include "ipc.h"
#include "lmctl.h"
#include "progress.h"

#define REFRESH_MS	500

#define SYNOPSIS "lmctl watch ID"

static void help(void)
{
	printf(
		"usage: " SYNOPSIS "\n"
		"\n"
		"Shows session ID's progress until it finishes, then its summary: on a\n"
		"terminal one line redrawn every %d ms, otherwise a line every %d s.\n"
		"Exits 0 if the session completed, 3 if a source is in doubt. Interrupting\n"
		"lmctl leaves the session be.\n",
		REFRESH_MS, LOG_EVERY_MS / 1000);
}

int cmd_watch(int argc, char **argv)
{
	double shown = 0;
	struct progress p;
	struct lmig_status st;
	int fd, err, ret = 1;
	__u32 id;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		help();
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		usage_error(SYNOPSIS, "watch");
		return 2;
	}
	if (parse_session_id(argv[1], &id))
		return 2;
	fd = ipc_open();
	if (fd < 0)
		return 1;
	progress_init(&p, stdout);
	catch_interrupts();
	for (;;) {
		if (interrupted) {
			progress_end(&p);
			ret = 128 + interrupted;
			break;
		}
		err = ipc_status(fd, id, &st);
		if (err) {
			progress_end(&p);
			if (err == -ENOENT)
				fprintf(stderr, "lmctl: no session %u (any more): 'lmctl list' shows the sessions\n", id);
			else
				fprintf(stderr, "lmctl: status of session %u: %s\n", id, strerror(-err));
			break;
		}
		progress_sample(&p, &st);
		if (state_finished(st.state)) {
			progress_clear(&p);
			if (st.state == LMIG_STATE_IN_DOUBT) {
				in_doubt(&st, 0);
				ret = LMCTL_EXIT_IN_DOUBT;
			} else {
				summary_print(&st, -1, -1, 0);
				ret = st.state == LMIG_STATE_COMPLETED ? 0 : 1;
			}
			break;
		}
		if (p.tty || now_ms() - shown >= LOG_EVERY_MS) {
			progress_show(&p, &st);
			shown = now_ms();
		}
		sleep_ms(REFRESH_MS);
	}
	close(fd);
	return ret;
}
