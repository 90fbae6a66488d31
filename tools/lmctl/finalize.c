// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl finalize, and the end of every source migration: pause the VMM,
 * send its state after the last pages, and resume it here unless the
 * destination has taken the VM over.
 */
#include <errno.h>
#include <stdbool.h>
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

static void cancel(int fd, __u32 id)
{
	struct lmig_session_id s = { .size = sizeof(s), .id = id };

	ipc_session_cmd(fd, LMIG_IOC_SESSION_CANCEL, &s);
}

/* The migration did not complete and the VM must run on here. */
static void resume(struct qmp *q, int paused)
{
	char err[512];

	if (!paused)
		fprintf(stderr, "lmctl: the VM stays here; lmctl did not pause it and leaves it as it is (paused: QMP 'cont' resumes it)\n");
	else if (vmm_cont(q, err, sizeof(err)))
		fprintf(stderr, "lmctl: cannot resume the VM: %s: resume it by hand (QMP 'cont')\n", err);
	else
		fprintf(stderr, "lmctl: the VM runs on here\n");
}

void in_doubt(const struct lmig_status *st, int json)
{
	if (json)
		summary_print(st, -1, -1, 1);
	fprintf(stderr, "lmctl: session %u is in doubt: %.*s\n", st->id,
		(int)sizeof(st->message), st->message);
	fprintf(stderr, "lmctl: the VM stays paused here. Ask the destination ('lmctl status' there): if its session completed, the VM is the destination's: quit this VMM; if not, resume it here (QMP 'cont')\n");
}

struct end {
	struct qmp *q;		/* the source VMM, if lmctl talks to it */
	const char *qemu_uri;	/* QEMU's device state goes there */
	int paused;		/* lmctl paused the VM, at paused_at */
	double paused_at;
	int json;
	bool finalizer;		/* this lmctl finalized (or raced to) */
};

static int settle(int fd, __u32 id, const struct end *e);

int handover(int fd, __u32 id, struct qmp *q, const char *qemu_uri, int json)
{
	struct end e = { .q = q, .qemu_uri = qemu_uri, .json = json, .finalizer = true };
	struct lmig_status st;
	char err[512], *state = NULL;
	size_t len = 0;
	int ret;

	if (q) {
		/* lmctl resumes only a VM it paused: not one paused for another finalize. */
		e.paused_at = now_ms();
		ret = vmm_running(q, err, sizeof(err));
		if (ret > 0 && vmm_stop(q, err, sizeof(err)))
			ret = -1;
		if (ret < 0) {
			fprintf(stderr, "lmctl: cannot pause the VM: %s\n", err);
			fprintf(stderr, "lmctl: session %u migrates on: 'lmctl finalize %u' to try again, or 'lmctl cancel %u'\n",
				id, id, id);
			return 1;
		}
		e.paused = ret;
		if (!e.paused)
			fprintf(stderr, "lmctl: the VM was paused already: lmctl will not resume it\n");
	}
	/* QEMU's device state goes by QEMU's own migration, after lmig's. */
	if (q && !qemu_uri) {
		state = vmm_save_state(q, &len, err, sizeof(err));
		if (state && len > LMIG_MAX_BLOB) {
			snprintf(err, sizeof(err), "the VMM state is %zu bytes, more than lmig carries (%u)",
				 len, LMIG_MAX_BLOB);
			free(state);
			state = NULL;
		}
		if (!state)
			goto not_finalized;
	}
	if (interrupted) {
		free(state);
		cancel(fd, id);
		fprintf(stderr, "lmctl: interrupted: session %u cancelled\n", id);
		resume(q, e.paused);
		return 128 + interrupted;
	}
	ret = ipc_session_finalize(fd, id, state, len, err, sizeof(err));
	free(state);
	if (ret)
		goto not_finalized;
	return settle(fd, id, &e);

not_finalized:
	fprintf(stderr, "lmctl: %s\n", err);
	if (!ipc_status(fd, id, &st) && (st.state == LMIG_STATE_FINALIZING ||
					 st.state == LMIG_STATE_COMPLETED ||
					 st.state == LMIG_STATE_IN_DOUBT)) {
		/*
		 * Another finalize went in first. Its end decides here too: a
		 * VM this lmctl paused is resumed if the migration fails.
		 */
		fprintf(stderr, "lmctl: session %u was finalized by another 'lmctl finalize': waiting for its end\n",
			id);
		return settle(fd, id, &e);
	}
	resume(q, e.paused);
	fprintf(stderr, "lmctl: session %u migrates on: 'lmctl finalize %u' to try again, or 'lmctl cancel %u'\n",
		id, id, id);
	return 1;
}

/*
 * lmig completed with the VM paused here: QEMU's migration takes its
 * device state to the destination, which then runs. Until that completes
 * the destination cannot run, so if it fails the VM runs on here.
 */
static int send_devices(const struct lmig_status *st, const struct end *e)
{
	double qemu_ms = 0, done_at;
	char err[512];
	int ret;

	fprintf(stderr, "lmctl: lmig completed: QEMU sends the device state to %s\n", e->qemu_uri);
	ret = qemu_send_devices(e->q, e->qemu_uri, &qemu_ms, err, sizeof(err));
	if (ret == QEMU_UNKNOWN) {
		fprintf(stderr, "lmctl: %s\n", err);
		fprintf(stderr, "lmctl: lmctl cannot tell how QEMU's migration ended, and the VM stays paused here: if the destination QEMU runs, quit this one; if it does not, resume this one (QMP 'cont')\n");
		return LMCTL_EXIT_IN_DOUBT;
	}
	if (ret) {
		fprintf(stderr, "lmctl: %s%s\n", interrupted ? "interrupted: " : "", err);
		fprintf(stderr, "lmctl: the destination QEMU has not run and cannot: quit it\n");
		resume(e->q, e->paused);
		return interrupted ? 128 + interrupted : 1;
	}
	done_at = now_ms();
	summary_print(st, e->paused ? done_at - e->paused_at : -1, -1, e->json);
	fprintf(stderr, "lmctl: QEMU sent the device state in %.0f ms: the VM runs at the destination; quit the source QEMU, never resume it\n",
		qemu_ms);
	return 0;
}

int qemu_finalized_elsewhere(int fd, __u32 id, struct qmp *q, const char *qemu_uri, int json)
{
	struct end e = { .q = q, .qemu_uri = qemu_uri, .json = json };
	char err[512];
	int running = vmm_running(q, err, sizeof(err));

	/*
	 * A finalize that left the VM running sent a last round the guest
	 * has written past: its devices must not follow.
	 */
	if (running) {
		fprintf(stderr, "lmctl: session %u was finalized by someone else %s: QEMU's device state is not sent, so the destination cannot run; the VM stays here (quit the destination QEMU)\n",
			id, running > 0 ? "while the VM ran" : "and QEMU cannot say whether the VM ran");
		return 1;
	}
	fprintf(stderr, "lmctl: session %u was finalized by someone else, the VM paused: waiting for its end\n",
		id);
	return settle(fd, id, &e);
}

/*
 * Waits for a finalized session's end and reports it; resumes a VM this
 * lmctl paused if the migration did not complete. An interrupt cancels
 * the session only if this lmctl finalized it (or raced to).
 */
static int settle(int fd, __u32 id, const struct end *e)
{
	struct lmig_session_wait w;
	struct lmig_status st;
	char why[sizeof(st.message) + 1];
	double done_at;
	int ret;

	ret = wait_finished(fd, id, NULL, 0, &w);
	done_at = now_ms();
	/* Cancel changes nothing once completed: then the VM is the destination's. */
	if (ret == -EINTR && e->finalizer)
		cancel(fd, id);
	if (ipc_status(fd, id, &st)) {
		fprintf(stderr, "lmctl: cannot read the state of session %u after finalizing: %s\n",
			id, strerror(errno));
		fprintf(stderr, "lmctl: the VM stays paused: if 'lmctl status %u' says completed, it runs at the destination; resume it here (QMP 'cont') only if not\n",
			id);
		return 1;
	}
	if (st.state == LMIG_STATE_COMPLETED && e->qemu_uri) {
		if (interrupted) {
			/* lmig's part is done and harmless: QEMU's has not begun. */
			fprintf(stderr, "lmctl: interrupted: QEMU's device migration not started\n");
			resume(e->q, e->paused);
			return 128 + interrupted;
		}
		return send_devices(&st, e);
	}
	if (st.state == LMIG_STATE_COMPLETED) {
		summary_print(&st, e->paused ? done_at - e->paused_at : -1, -1, e->json);
		if (interrupted)
			fprintf(stderr, "lmctl: the interrupt came too late: the migration had completed\n");
		fprintf(stderr, "lmctl: the VM is the destination's now: quit the source VMM, never resume it\n");
		return 0;
	}
	if (st.state == LMIG_STATE_IN_DOUBT && e->qemu_uri) {
		/* The destination QEMU has no device state: it cannot run. */
		if (e->json)
			summary_print(&st, -1, -1, 1);
		fprintf(stderr, "lmctl: session %u: %.*s; but QEMU's device state was never sent, so the destination QEMU cannot run: quit it\n",
			id, (int)sizeof(st.message), st.message);
		resume(e->q, e->paused);
		return 1;
	}
	if (st.state == LMIG_STATE_IN_DOUBT) {
		in_doubt(&st, e->json);
		return LMCTL_EXIT_IN_DOUBT;
	}
	if (st.state != LMIG_STATE_FAILED && st.state != LMIG_STATE_CANCELLED) {
		fprintf(stderr, "lmctl: waiting for session %u: %s\n", id, strerror(-ret));
		fprintf(stderr, "lmctl: session %u is %s and the VM stays paused: 'lmctl watch %u' shows how it ends; resume the VM (QMP 'cont') only if it does not complete\n",
			id, state_name(st.state), id);
		return 1;
	}
	if (e->json)
		summary_print(&st, -1, -1, 1);
	end_reason(&st, why, sizeof(why));
	fprintf(stderr, "lmctl: %ssession %u %s%s%s\n", interrupted ? "interrupted: " : "", id,
		state_name(st.state), why[0] ? ": " : "", why);
	resume(e->q, e->paused);
	return interrupted ? 128 + interrupted : 1;
}

#define SYNOPSIS "lmctl finalize ID [--qmp PATH] [--json]"

static void help(void)
{
	printf(
		"usage: " SYNOPSIS "\n"
		"\n"
		"Ends source session ID: the VMM is paused, the last pages and the VMM's\n"
		"state are sent, and lmctl waits for the destination to acknowledge.\n"
		"A session finalized already is waited for and reported, not touched.\n"
		"\n"
		"  --qmp PATH  the source VMM's QMP socket: lmctl pauses it (stop), takes its\n"
		"              state (x-save-state) and resumes it (cont) if the migration\n"
		"              fails; without it, pause the VMM first and no state is sent\n"
		"  --json      the summary as one JSON object\n");
}

int cmd_finalize(int argc, char **argv)
{
	struct id_qmp_json args;
	const char *qmp_path;
	struct lmig_status st;
	struct end late = { 0 };
	struct qmp q, *qp = NULL;
	int fd, json, ret;
	char why[512];
	__u32 id;

	ret = parse_id_qmp_json(argc, argv, SYNOPSIS, "finalize", help, &args);
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
		goto out;
	/* Checked before the VM is paused for nothing. */
	if (st.role != LMIG_ROLE_SOURCE) {
		fprintf(stderr, "lmctl: session %u is a destination: finalize the source's session; here, 'lmctl wait %u' waits for the VM\n",
			id, id);
		goto out;
	}
	if (st.state == LMIG_STATE_FINALIZING || st.state == LMIG_STATE_COMPLETED ||
	    st.state == LMIG_STATE_IN_DOUBT) {
		/* Finalized already: report its end, as the finalize that lost a race does. */
		fprintf(stderr, "lmctl: session %u was finalized already%s\n", id,
			st.state == LMIG_STATE_FINALIZING ? ": waiting for its end" : "");
		late.json = json;
		ret = settle(fd, id, &late);
		goto out;
	}
	if (st.state != LMIG_STATE_ACTIVE && st.state != LMIG_STATE_CONVERGED) {
		fprintf(stderr, "lmctl: session %u is %s: only an active or converged migration can be finalized%s\n",
			id, state_name(st.state),
			st.state == LMIG_STATE_SETUP ? " ('lmctl start' starts one)" : "");
		goto out;
	}
	if (st.state == LMIG_STATE_ACTIVE && st.expected_downtime_ms)
		fprintf(stderr, "lmctl: session %u has not converged: expect about %llu ms of downtime\n",
			id, (unsigned long long)st.expected_downtime_ms);
	if (qmp_path) {
		if (vmm_open(&q, qmp_path, why, sizeof(why))) {
			fprintf(stderr, "lmctl: %s\n", why);
			goto out;
		}
		qp = &q;
	}
	catch_interrupts();
	ret = handover(fd, id, qp, NULL, json);
	if (qp)
		qmp_close(qp);
out:
	close(fd);
	return ret;
}
