// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl wait: on the destination, wait for the migration to complete,
 * then give the VMM the state the source sent and resume the VM. A VM
 * whose migration did not complete is never resumed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finalize.h"
#include "ipc.h"
#include "lmctl.h"
#include "progress.h"
#include "qemu.h"
#include "vmm.h"

#define SYNOPSIS "lmctl wait ID [--qmp PATH] [--json]"

static void help(void)
{
	printf(
		"usage: " SYNOPSIS "\n"
		"\n"
		"Waits until session ID has finished and exits 0 only if it completed (3 if\n"
		"a source is in doubt).\n"
		"\n"
		"  --qmp PATH  the destination VMM's QMP socket: once completed, load the\n"
		"              state the source sent (x-load-state) and resume the VM (cont);\n"
		"              for QEMU (lmctl listen --qemu-incoming), wait until its own\n"
		"              migration has brought the devices and it runs\n"
		"  --json      the summary as one JSON object\n");
}

/* Completed: the VM's memory is here; its VMM state goes in, then it runs. */
static int resume_here(struct qmp *q, __u32 id, const char *blob, __u32 len)
{
	static const char *const source_safe =
		"the VM never ran here: quit this VMM; the source VMM is paused and intact, and may be resumed there (QMP 'cont')";
	char err[512];

	/* QEMU's device state comes by QEMU's own migration; QEMU runs then. */
	if (!len && qemu_is(q)) {
		fprintf(stderr, "lmctl: session %u completed: waiting for QEMU's device state\n", id);
		if (!qemu_wait_incoming(q, err, sizeof(err)))
			return 0;
		fprintf(stderr, "lmctl: %s\n", err);
		fprintf(stderr, "lmctl: the guest's memory is here; QEMU runs once its device state has come in, and not before\n");
		return interrupted ? 128 + interrupted : 1;
	}
	if (!len) {
		fprintf(stderr, "lmctl: the source sent no VMM state (finalized without --qmp?): session %u's VM stays paused\n",
			id);
		fprintf(stderr, "lmctl: %s\n", source_safe);
		return 1;
	}
	if (vmm_load_state(q, blob, len, err, sizeof(err)) || vmm_cont(q, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		fprintf(stderr, "lmctl: %s\n", source_safe);
		return 1;
	}
	return 0;
}

int cmd_wait(int argc, char **argv)
{
	struct id_qmp_json args;
	const char *qmp_path;
	struct lmig_session_wait w;
	struct lmig_status st;
	struct qmp q;
	int fd, err, json, ret;
	char why[512], *blob = NULL;
	__u32 id;

	ret = parse_id_qmp_json(argc, argv, SYNOPSIS, "wait", help, &args);
	if (ret >= 0)
		return ret;
	ret = 1;
	id = args.id;
	qmp_path = args.qmp_path;
	json = args.json;

	fd = ipc_open();
	if (fd < 0)
		return 1;
	if (session_status(fd, id, &st))
		goto out_fd;
	if (qmp_path && st.role != LMIG_ROLE_DESTINATION) {
		fprintf(stderr, "lmctl: session %u is a source: --qmp resumes a destination's VM; on the source, 'lmctl finalize %u --qmp PATH' does that\n",
			id, id);
		goto out_fd;
	}
	/* A VMM lmctl cannot reach is found before the wait, not after. */
	if (qmp_path && vmm_open(&q, qmp_path, why, sizeof(why))) {
		fprintf(stderr, "lmctl: %s\n", why);
		goto out_fd;
	}
	if (st.role == LMIG_ROLE_DESTINATION) {
		blob = malloc(LMIG_MAX_BLOB);
		if (!blob) {
			fprintf(stderr, "lmctl: out of memory for the VMM state\n");
			goto out_qmp;
		}
	}

	catch_interrupts();
	err = wait_finished(fd, id, blob, blob ? LMIG_MAX_BLOB : 0, &w);
	if (err == -EINTR) {
		fprintf(stderr, "lmctl: interrupted: session %u goes on: 'lmctl wait %u' again, or 'lmctl cancel %u'\n",
			id, id, id);
		ret = 128 + interrupted;
		goto out_blob;
	}
	if (!err)
		err = ipc_status(fd, id, &st);
	if (err) {
		fprintf(stderr, "lmctl: waiting for session %u: %s\n", id, strerror(-err));
		goto out_blob;
	}
	if (w.state == LMIG_STATE_IN_DOUBT) {
		in_doubt(&st, json);
		ret = LMCTL_EXIT_IN_DOUBT;
		goto out_blob;
	}
	if (w.state != LMIG_STATE_COMPLETED) {
		summary_print(&st, -1, -1, json);
		if (st.role == LMIG_ROLE_DESTINATION)
			fprintf(stderr, "lmctl: session %u did not complete: its VM stays paused here and must not run; the source's VM runs on there\n",
				id);
		goto out_blob;
	}
	if (qmp_path && resume_here(&q, id, blob, w.blob_len))
		goto out_blob;
	summary_print(&st, -1, st.role == LMIG_ROLE_DESTINATION ? (long long)w.blob_len : -1, json);
	if (st.role == LMIG_ROLE_DESTINATION && !qmp_path)
		fprintf(stderr, "lmctl: the VM's memory is here but lmctl did not resume it (no --qmp)\n");
	ret = 0;
out_blob:
	free(blob);
out_qmp:
	if (qmp_path)
		qmp_close(&q);
out_fd:
	close(fd);
	return ret;
}
