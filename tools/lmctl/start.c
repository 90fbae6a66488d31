// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl start: on the source, a session that connects to the destination's
 * (lmctl listen) and sends the VM's memory, round after round, while the
 * guest runs. With --finalize auto, lmctl also ends it once it converges.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "finalize.h"
#include "ipc.h"
#include "lmctl.h"
#include "progress.h"
#include "qemu.h"
#include "uri.h"
#include "vmfd.h"
#include "vmm.h"

#define POLL_MS		200
#define MAX_DOWNTIME_MS	60000

struct start_args {
	int pid, json, wait, finalize_auto;
	const char *to, *qmp, *qemu_uri;
	unsigned long downtime_limit_ms, qps;
	__u64 max_bandwidth;
	struct lmig_endpoint remote;
	__u8 token[LMIG_TOKEN_LEN];
};

#define SYNOPSIS \
	"lmctl start --vm-pid PID --to URI [--downtime-limit MS] [--max-bandwidth RATE]\n" \
	"                   [--qps N] [--finalize auto|manual] [--qmp PATH]\n" \
	"                   [--qemu-migrate URI] [--wait] [--json]"

static void help(void)
{
	printf(
		"usage: " SYNOPSIS "\n"
		"\n"
		"On the source: connects a session for the VM of VMM process PID to the\n"
		"destination session at URI and starts sending its memory while it runs.\n"
		"\n"
		"  --vm-pid PID          the source VMM\n"
		"  --to URI              lmig://ADDR:PORT/TOKEN, as 'lmctl listen' printed it\n"
		"  --downtime-limit MS   the pause the VM may have at the end, 1 to %d\n"
		"                        (default %d): the session converges once the pages\n"
		"                        left fit in it\n"
		"  --max-bandwidth RATE  bytes per second, such as 500K, 20M or 1G (powers of\n"
		"                        1024); default 0, no limit\n"
		"  --qps N               RDMA QPs to carry the pages, 1 to %d (default 1):\n"
		"                        more where one QP cannot fill the link, as with\n"
		"                        rdma_rxe, which runs each QP on one CPU\n"
		"  --finalize auto       once converged, pause the VMM, send its state, wait,\n"
		"                        and resume the VMM if the migration fails (needs --qmp)\n"
		"  --finalize manual     leave that to 'lmctl finalize ID' (the default\n"
		"                        without --qmp)\n"
		"  --qmp PATH            the source VMM's QMP socket; implies --finalize auto\n"
		"  --qemu-migrate URI    QEMU: lmig moves the RAM, then QEMU's own migration\n"
		"                        moves the devices to URI (tcp:HOST:PORT, where the\n"
		"                        destination's 'lmctl listen --qemu-incoming' listens);\n"
		"                        needs --qmp; see Documentation/qemu.rst\n"
		"  --wait                with manual finalize: wait until the session finishes\n"
		"  --json                {\"id\": N}, or the summary as one JSON object\n"
		"\n"
		"Prints 'session N' and returns, unless it waits or finalizes.\n",
		MAX_DOWNTIME_MS, LMIG_DEFAULT_DOWNTIME_MS, LMIG_MAX_QPS);
}

static int parse_args(int argc, char **argv, struct start_args *a)
{
	static const struct option opts[] = {
		{ "vm-pid", required_argument, NULL, 'p' },
		{ "to", required_argument, NULL, 't' },
		{ "downtime-limit", required_argument, NULL, 'd' },
		{ "max-bandwidth", required_argument, NULL, 'b' },
		{ "qps", required_argument, NULL, 'n' },
		{ "finalize", required_argument, NULL, 'f' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "qemu-migrate", required_argument, NULL, 'm' },
		{ "wait", no_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *finalize = NULL;
	char err[512];
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_pid("--vm-pid", optarg, &a->pid))
				return 2;
			break;
		case 't':
			a->to = optarg;
			break;
		case 'd':
			if (parse_uint("--downtime-limit", optarg, 1, MAX_DOWNTIME_MS,
				       &a->downtime_limit_ms))
				return 2;
			break;
		case 'b':
			if (parse_rate("--max-bandwidth", optarg, &a->max_bandwidth))
				return 2;
			break;
		case 'n':
			if (parse_uint("--qps", optarg, 1, LMIG_MAX_QPS, &a->qps))
				return 2;
			break;
		case 'f':
			finalize = optarg;
			if (strcmp(finalize, "auto") && strcmp(finalize, "manual")) {
				fprintf(stderr, "lmctl: --finalize wants auto or manual, not '%s'\n", finalize);
				return 2;
			}
			break;
		case 'q':
			a->qmp = optarg;
			break;
		case 'm':
			a->qemu_uri = optarg;
			break;
		case 'w':
			a->wait = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			help();
			return 1;
		default:
			usage_error(SYNOPSIS, "start");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lmctl: unexpected argument '%s'\n", argv[optind]);
		usage_error(SYNOPSIS, "start");
		return 2;
	}
	if (!a->pid || !a->to) {
		fprintf(stderr, "lmctl: start needs --vm-pid PID, the process id of the source VMM, and --to URI, which 'lmctl listen' printed on the destination\n");
		return 2;
	}
	if (a->qemu_uri && (!a->qmp || (finalize && strcmp(finalize, "auto")))) {
		fprintf(stderr, "lmctl: --qemu-migrate finalizes by itself, through QEMU's QMP socket: it needs --qmp PATH and no --finalize manual\n");
		return 2;
	}
	a->finalize_auto = finalize ? !strcmp(finalize, "auto") : a->qmp != NULL;
	if (a->finalize_auto && !a->qmp) {
		fprintf(stderr, "lmctl: --finalize auto pauses the VMM and takes its state: it needs --qmp PATH, the source VMM's QMP socket\n");
		return 2;
	}
	if (!a->finalize_auto && a->qmp) {
		fprintf(stderr, "lmctl: --qmp is for --finalize auto; with manual finalize, give it to 'lmctl finalize ID --qmp PATH'\n");
		return 2;
	}
	if (uri_parse(a->to, &a->remote, a->token, err, sizeof(err))) {
		fprintf(stderr, "lmctl: --to: %s\n", err);
		return 2;
	}
	return 0;
}

/*
 * A started session, connected and sending; or none at all. Returns 0 with
 * *id set, or 1 after saying why.
 */
static int begin(int fd, int vmfd, const struct start_args *a, __u32 *id)
{
	char err[512];
	int e = ipc_session_create(fd, LMIG_ROLE_SOURCE, id);

	if (e) {
		fprintf(stderr, "lmctl: cannot create a session: %s%s\n", strerror(-e),
			e == -ENOSPC ? ": 'lmctl remove' finished sessions first" : "");
		return 1;
	}
	if (ipc_session_attach(fd, *id, vmfd, err, sizeof(err)) ||
	    ipc_session_connect(fd, *id, &a->remote, a->token, a->qps, err, sizeof(err)) ||
	    ipc_session_migrate(fd, *id, a->downtime_limit_ms, a->max_bandwidth, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		ipc_session_end(fd, *id);
		return 1;
	}
	return 0;
}

/* Migrates until converged, then hands the VM over. */
static int finalize_auto(int fd, __u32 id, struct qmp *q, const char *qemu_uri, int json)
{
	struct lmig_session_wait w;
	struct progress p;
	double shown = 0;
	struct lmig_status st;
	int err;

	progress_init(&p, stderr);
	for (;;) {
		if (interrupted) {
			struct lmig_session_id s = { .size = sizeof(s), .id = id };

			progress_end(&p);
			ipc_session_cmd(fd, LMIG_IOC_SESSION_CANCEL, &s);
			fprintf(stderr, "lmctl: interrupted: session %u cancelled; the VM runs on here\n", id);
			return 128 + interrupted;
		}
		err = ipc_status(fd, id, &st);
		if (err) {
			progress_end(&p);
			fprintf(stderr, "lmctl: status of session %u: %s\n", id, strerror(-err));
			return 1;
		}
		progress_sample(&p, &st);
		/* Into a log, a line every few seconds rather than every poll. */
		if (p.tty || now_ms() - shown >= LOG_EVERY_MS) {
			progress_show(&p, &st);
			shown = now_ms();
		}
		if (st.state == LMIG_STATE_CONVERGED)
			break;
		if (st.state != LMIG_STATE_ACTIVE) {
			progress_end(&p);
			if (qemu_uri && (st.state == LMIG_STATE_FINALIZING ||
					 st.state == LMIG_STATE_COMPLETED ||
					 st.state == LMIG_STATE_IN_DOUBT))
				return qemu_finalized_elsewhere(fd, id, q, qemu_uri, json);
			/* Finalized by hand meanwhile: that lmctl resumes the VM if need be. */
			if (st.state == LMIG_STATE_FINALIZING) {
				fprintf(stderr, "lmctl: session %u was finalized by someone else; waiting\n", id);
				if (wait_finished(fd, id, NULL, 0, &w) || ipc_status(fd, id, &st))
					return interrupted ? 128 + interrupted : 1;
			}
			if (st.state == LMIG_STATE_IN_DOUBT) {
				in_doubt(&st, json);
				return LMCTL_EXIT_IN_DOUBT;
			}
			summary_print(&st, -1, -1, json);
			if (st.state == LMIG_STATE_COMPLETED)
				return 0;
			fprintf(stderr, "lmctl: session %u %s before it converged%s%.*s; the VM runs on here\n",
				id, state_name(st.state), st.message[0] ? ": " : "",
				(int)sizeof(st.message), st.message);
			return 1;
		}
		sleep_ms(POLL_MS);
	}
	progress_end(&p);
	fprintf(stderr, "lmctl: session %u converged: pausing the VM\n", id);
	return handover(fd, id, q, qemu_uri, json);
}

/* Manual finalize, waiting: someone runs 'lmctl finalize ID'. */
static int wait_end(int fd, __u32 id, int json)
{
	struct lmig_session_wait w;
	struct lmig_status st;
	int err = wait_finished(fd, id, NULL, 0, &w);

	if (err == -EINTR) {
		struct lmig_session_id s = { .size = sizeof(s), .id = id };

		ipc_session_cmd(fd, LMIG_IOC_SESSION_CANCEL, &s);
		/* Cancel changes nothing once completed. */
		if (!ipc_status(fd, id, &st) && st.state == LMIG_STATE_COMPLETED) {
			summary_print(&st, -1, -1, json);
			return 0;
		}
		fprintf(stderr, "lmctl: interrupted: session %u cancelled\n", id);
		return 128 + interrupted;
	}
	if (!err)
		err = ipc_status(fd, id, &st);
	if (err) {
		fprintf(stderr, "lmctl: waiting for session %u: %s\n", id, strerror(-err));
		return 1;
	}
	if (st.state == LMIG_STATE_IN_DOUBT) {
		in_doubt(&st, json);
		return LMCTL_EXIT_IN_DOUBT;
	}
	summary_print(&st, -1, -1, json);
	return st.state == LMIG_STATE_COMPLETED ? 0 : 1;
}

int cmd_start(int argc, char **argv)
{
	struct start_args a = { 0 };
	struct qmp q;
	int fd, vmfd, ret;
	char err[512];
	__u32 id;

	ret = parse_args(argc, argv, &a);
	if (ret)
		return ret == 1 ? 0 : ret;
	/* A VMM lmctl cannot reach is found before anything starts. */
	if (a.finalize_auto && vmm_open(&q, a.qmp, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		return 1;
	}
	/* A QEMU whose migration lmig cannot share is refused before anything starts. */
	if (a.qemu_uri && qemu_prepare(&q, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		qmp_close(&q);
		return 1;
	}
	ret = 1;
	fd = ipc_open();
	if (fd < 0)
		goto out_qmp;
	vmfd = vm_fd_of_pid(a.pid, err, sizeof(err));
	if (vmfd < 0) {
		fprintf(stderr, "lmctl: %s\n", err);
		goto out_fd;
	}
	catch_interrupts();
	if (begin(fd, vmfd, &a, &id)) {
		if (interrupted)
			ret = 128 + interrupted;
		goto out_vmfd;
	}
	if (interrupted) {
		ipc_session_end(fd, id);
		fprintf(stderr, "lmctl: interrupted: session %u ended; the VM runs on here\n", id);
		ret = 128 + interrupted;
		goto out_vmfd;
	}

	if (a.json && !a.finalize_auto && !a.wait)
		printf("{\"id\": %u}\n", id);
	else if (!a.json)
		printf("session %u\n", id);
	fflush(stdout);
	ret = 0;
	if (a.finalize_auto)
		ret = finalize_auto(fd, id, &q, a.qemu_uri, a.json);
	else if (a.wait)
		ret = wait_end(fd, id, a.json);
out_vmfd:
	close(vmfd);
out_fd:
	close(fd);
	/* Left set, it would make a later QEMU migration of its own leave the RAM behind. */
	if (a.qemu_uri && ret)
		qemu_unprepare(&q);
out_qmp:
	if (a.finalize_auto)
		qmp_close(&q);
	return ret;
}
