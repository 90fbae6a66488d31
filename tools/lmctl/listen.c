// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl listen: on the destination, a session that holds the incoming VM
 * and waits for its source. Prints the URI the source connects to; the
 * session lives on in the kernel after lmctl exits.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "lmctl.h"
#include "qemu.h"
#include "uri.h"
#include "vmfd.h"
#include "vmm.h"

/* Ports tried after LMIG_DEFAULT_PORT when no port was asked for. */
#define MORE_PORTS	255

#define SYNOPSIS \
	"lmctl listen --vm-pid PID [--bind ADDR[:PORT]] [--qmp PATH --qemu-incoming URI]\n" \
	"                    [--json]"

static void help(void)
{
	printf(
		"usage: " SYNOPSIS "\n"
		"\n"
		"On the destination: makes a session for the incoming VM of VMM process PID\n"
		"and waits for the source. Prints the URI to give 'lmctl start --to' on the\n"
		"source (first line) and the session id; the session lives on after lmctl.\n"
		"\n"
		"  --vm-pid PID       the destination VMM (lmvm run --incoming, ...)\n"
		"  --bind ADDR[:PORT] where to listen: an IPv4 address, [IPv6] or a host name\n"
		"                     (default: every address, port %u, or the next free one\n"
		"                     up to %u when no port is given)\n"
		"  --qemu-incoming URI QEMU: its own migration brings the devices to URI\n"
		"                     (tcp:ADDR:PORT) after lmig has brought the RAM; QEMU\n"
		"                     must wait with -incoming defer; needs --qmp\n"
		"  --qmp PATH         the destination QEMU's QMP socket\n"
		"  --json             {\"id\": N, \"uri\": \"lmig://...\", \"port\": P}\n",
		LMIG_DEFAULT_PORT, LMIG_DEFAULT_PORT + MORE_PORTS);
}

/* A session that listens on ep, or none at all: -errno with err set. */
static int listen_once(int fd, int vmfd, struct lmig_endpoint *ep, __u32 *id,
		       __u8 token[LMIG_TOKEN_LEN], char *err, size_t errlen)
{
	int e = ipc_session_create(fd, LMIG_ROLE_DESTINATION, id);

	if (e) {
		snprintf(err, errlen, "cannot create a session: %s%s", strerror(-e),
			 e == -ENOSPC ? ": 'lmctl remove' finished sessions first" : "");
		return e;
	}
	e = ipc_session_attach(fd, *id, vmfd, err, errlen);
	if (!e)
		e = ipc_session_listen(fd, *id, ep, token, err, errlen);
	if (e)
		ipc_session_end(fd, *id);
	return e;
}

static int listen_qemu(const char *qmp_path, const char *uri)
{
	char err[512];
	struct qmp q;
	int ret;

	if (vmm_open(&q, qmp_path, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		return -1;
	}
	ret = qemu_listen(&q, uri, err, sizeof(err));
	if (ret)
		fprintf(stderr, "lmctl: %s\n", err);
	qmp_close(&q);
	return ret;
}

int cmd_listen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm-pid", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "qemu-incoming", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct lmig_endpoint ep = { .family = AF_INET, .port = LMIG_DEFAULT_PORT }, shown;
	int opt, fd, vmfd, e, pid = 0, json = 0, port_given = 0;
	const char *qmp_path = NULL, *qemu_uri = NULL;
	char err[512], uri[URI_MAX];
	__u8 token[LMIG_TOKEN_LEN];
	__u32 id = 0;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (parse_pid("--vm-pid", optarg, &pid))
				return 2;
			break;
		case 'b':
			if (endpoint_parse(optarg, &ep, &port_given, err, sizeof(err))) {
				fprintf(stderr, "lmctl: --bind: %s\n", err);
				return 2;
			}
			break;
		case 'q':
			qmp_path = optarg;
			break;
		case 'i':
			qemu_uri = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			help();
			return 0;
		default:
			usage_error(SYNOPSIS, "listen");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lmctl: unexpected argument '%s'\n", argv[optind]);
		usage_error(SYNOPSIS, "listen");
		return 2;
	}
	if (!pid) {
		fprintf(stderr, "lmctl: listen needs --vm-pid PID, the process id of the destination VMM\n");
		return 2;
	}
	if (!qmp_path != !qemu_uri) {
		fprintf(stderr, "lmctl: --qemu-incoming and --qmp go together: QEMU's QMP socket, and where its device state comes in\n");
		return 2;
	}
	/* Listening on every address, the URI needs one the source can reach. */
	shown = ep;
	if (endpoint_is_any(&ep) && endpoint_from_host(&shown, err, sizeof(err))) {
		fprintf(stderr, "lmctl: %s\n", err);
		return 1;
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
	for (;;) {
		e = listen_once(fd, vmfd, &ep, &id, token, err, sizeof(err));
		if (e != -EADDRINUSE || port_given || ep.port >= LMIG_DEFAULT_PORT + MORE_PORTS)
			break;
		ep.port++;
	}
	close(vmfd);
	if (e == -EADDRINUSE && !port_given) {
		fprintf(stderr, "lmctl: ports %u to %u are all in use: name a free one with --bind ADDR:PORT\n",
			LMIG_DEFAULT_PORT, LMIG_DEFAULT_PORT + MORE_PORTS);
		close(fd);
		return 1;
	}
	if (e) {
		fprintf(stderr, "lmctl: %s\n", err);
		close(fd);
		return 1;
	}
	/* QEMU waits for its device state; one that cannot leaves no session. */
	if (qemu_uri && listen_qemu(qmp_path, qemu_uri)) {
		ipc_session_end(fd, id);
		close(fd);
		return 1;
	}
	close(fd);
	if (!endpoint_is_any(&ep))
		shown = ep;
	shown.port = ep.port;
	uri_format(&shown, token, uri, sizeof(uri));
	if (json)
		printf("{\"id\": %u, \"uri\": \"%s\", \"port\": %u}\n", id, uri, ep.port);
	else
		printf("%s\nsession %u\n", uri, id);
	return 0;
}
