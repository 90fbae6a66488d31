// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ipc.h"
#include "progress.h"
#include "uri.h"

#define DEV "/dev/" LMIG_DEVICE_NAME

int ipc_version(int fd, struct lmig_version *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	return ioctl(fd, LMIG_IOC_VERSION, v) < 0 ? -errno : 0;
}

/* The whole structure, message included: an older module fills less. */
_Static_assert(sizeof(struct lmig_status) == LMIG_STATUS_SIZE_VER1, "lmig_status size");

int ipc_status(int fd, __u32 id, struct lmig_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = LMIG_STATUS_SIZE_VER1;
	st->id = id;
	return ioctl(fd, LMIG_IOC_SESSION_STATUS, st) < 0 ? -errno : 0;
}

int ipc_list(int fd, __u32 *ids, __u32 cap)
{
	struct lmig_session_list l = {
		.size = sizeof(l), .capacity = cap, .ids = (uintptr_t)ids,
	};

	return ioctl(fd, LMIG_IOC_SESSION_LIST, &l) < 0 ? -errno : (int)l.count;
}

int ipc_session_create(int fd, __u32 role, __u32 *id)
{
	struct lmig_session_create c = { .size = sizeof(c), .role = role };

	if (ioctl(fd, LMIG_IOC_SESSION_CREATE, &c) < 0)
		return -errno;
	*id = c.id;
	return 0;
}

/* What errno means for any command, beyond its own meanings. */
static int explain(int e, char *err, size_t errlen, const char *what)
{
	if (e == ENOTTY)
		snprintf(err, errlen, "%s: the loaded lmig module is older than this lmctl (interface %u.%u) and does not know the command: install matching versions",
			 what, LMIG_VERSION_MAJOR, LMIG_VERSION_MINOR);
	else
		snprintf(err, errlen, "%s: %s", what, strerror(e));
	return -e;
}

int ipc_session_attach(int fd, __u32 id, int vm_fd, char *err, size_t errlen)
{
	struct lmig_session_attach a = { .size = sizeof(a), .id = id, .vm_fd = vm_fd };
	int e;

	if (ioctl(fd, LMIG_IOC_SESSION_ATTACH_VM, &a) == 0)
		return 0;
	e = errno;
	if (e == EINVAL)
		snprintf(err, errlen, "that fd is not a KVM VM, or the VM has no memory");
	else if (e == ESRCH)
		snprintf(err, errlen, "the VMM is exiting");
	else if (e == EBUSY)
		snprintf(err, errlen, "the VM belongs to another session: 'lmctl list' shows it, 'lmctl cancel ID' ends it");
	else
		return explain(e, err, errlen, "cannot attach the VM");
	return -e;
}

int ipc_session_measure(int fd, __u32 id, __u32 interval_ms, char *err, size_t errlen)
{
	struct lmig_session_start s = {
		.size = sizeof(s), .id = id, .flags = LMIG_START_MEASURE,
		.interval_ms = interval_ms,
	};

	if (ioctl(fd, LMIG_IOC_SESSION_START, &s) == 0)
		return 0;
	return explain(errno, err, errlen, "cannot start measuring");
}

int ipc_session_listen(int fd, __u32 id, struct lmig_endpoint *local,
		       __u8 token[LMIG_TOKEN_LEN], char *err, size_t errlen)
{
	struct lmig_session_listen l = { .size = sizeof(l), .id = id, .local = *local };
	char where[ENDPOINT_MAX];
	int e;

	if (ioctl(fd, LMIG_IOC_SESSION_LISTEN, &l) == 0) {
		*local = l.local;
		memcpy(token, l.token, LMIG_TOKEN_LEN);
		return 0;
	}
	e = errno;
	endpoint_format(local, where, sizeof(where));
	if (e == EADDRINUSE)
		snprintf(err, errlen, "port %u is in use: pick another with --bind ADDR:PORT, or leave the port out and lmctl finds a free one",
			 local->port);
	else if (e == EADDRNOTAVAIL)
		snprintf(err, errlen, "cannot listen on %s: no RDMA device here has that address: check --bind (rdma link show lists the devices and their netdevs)",
			 where);
	else if (e == ENODEV)
		snprintf(err, errlen, "this host has no RDMA device: load the NIC's RDMA driver, or add soft-RoCE (rdma link add rxe0 type rxe netdev IFACE)");
	else
		return explain(e, err, errlen, "cannot listen");
	return -e;
}

/* CONNECT failed with e; the session has failed and its status says why. */
static int explain_connect(int fd, __u32 id, int e, const struct lmig_endpoint *remote,
			   char *err, size_t errlen)
{
	struct lmig_status st;
	char where[ENDPOINT_MAX], msg[sizeof(st.message) + 1] = "";
	size_t n;

	endpoint_format(remote, where, sizeof(where));
	if (!ipc_status(fd, id, &st))
		snprintf(msg, sizeof(msg), "%.*s", (int)sizeof(st.message), st.message);
	switch (e) {
	case EACCES:
		snprintf(err, errlen, "the destination refused the token: check the URI from lmctl listen");
		break;
	case EPROTO:
		if (strstr(msg, "memory layouts differ"))
			snprintf(err, errlen, "the destination turned the VM away: %s: both VMs must have the same memory layout",
				 msg);
		else
			snprintf(err, errlen, "protocol error with %s%s%s: are both hosts running the same lmig version?",
				 where, msg[0] ? ": " : "", msg);
		return -e;
	case ECONNREFUSED:
		snprintf(err, errlen, "nobody listens at %s (lmctl listen on the destination?), or its session already has a source",
			 where);
		break;
	case ETIMEDOUT:
		snprintf(err, errlen, "%s did not answer: is the address right, and the RDMA link up on both hosts (rdma link show)?",
			 where);
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
		snprintf(err, errlen, "no route to %s: check the address and this host's RDMA link (rdma link show)",
			 where);
		break;
	case EINTR:
		snprintf(err, errlen, "interrupted while connecting to %s", where);
		break;
	default:
		explain(e, err, errlen, "cannot connect");
		break;
	}
	/* The module's own words, when they add to ours. */
	n = strlen(err);
	if (msg[0] && !strstr(err, msg) && n + 1 < errlen)
		snprintf(err + n, errlen - n, " (%s)", msg);
	return -e;
}

int ipc_session_connect(int fd, __u32 id, const struct lmig_endpoint *remote,
			const __u8 token[LMIG_TOKEN_LEN], __u32 qps, char *err, size_t errlen)
{
	struct lmig_session_connect c = {
		.size = sizeof(c), .id = id, .remote = *remote, .qps = qps,
	};

	memcpy(c.token, token, LMIG_TOKEN_LEN);
	if (ioctl(fd, LMIG_IOC_SESSION_CONNECT, &c) == 0)
		return 0;
	return explain_connect(fd, id, errno, remote, err, errlen);
}

int ipc_session_migrate(int fd, __u32 id, __u32 downtime_limit_ms, __u64 max_bandwidth,
			char *err, size_t errlen)
{
	struct lmig_session_start s = {
		.size = sizeof(s), .id = id, .downtime_limit_ms = downtime_limit_ms,
		.max_bandwidth = max_bandwidth,
	};
	struct lmig_status st;
	char why[sizeof(st.message) + 1];
	int e;

	if (ioctl(fd, LMIG_IOC_SESSION_START, &s) == 0)
		return 0;
	e = errno;
	/* Connected, then failed before the start: the module says why. */
	if (e == EBUSY && !ipc_status(fd, id, &st) && st.state == LMIG_STATE_FAILED) {
		snprintf(err, errlen, "the session failed before it started: %s",
			 end_reason(&st, why, sizeof(why)));
		return -e;
	}
	return explain(e, err, errlen, "cannot start the migration");
}

int ipc_session_finalize(int fd, __u32 id, const void *blob, __u32 blob_len,
			 char *err, size_t errlen)
{
	struct lmig_session_finalize f = {
		.size = sizeof(f), .id = id, .blob_len = blob_len, .blob = (uintptr_t)blob,
	};
	int e;

	if (ioctl(fd, LMIG_IOC_SESSION_FINALIZE, &f) == 0)
		return 0;
	e = errno;
	if (e == EBUSY)
		snprintf(err, errlen, "session %u is not migrating (active or converged) any more: 'lmctl status %u' says why",
			 id, id);
	else if (e == E2BIG)
		snprintf(err, errlen, "the VMM state is %u bytes, more than lmig carries (%u)",
			 blob_len, LMIG_MAX_BLOB);
	else if (e == EINVAL)
		snprintf(err, errlen, "session %u is not a source session", id);
	else
		return explain(e, err, errlen, "cannot finalize");
	return -e;
}

int ipc_session_wait(int fd, __u32 id, __u32 timeout_ms, void *blob, __u32 capacity,
		     struct lmig_session_wait *w)
{
	memset(w, 0, sizeof(*w));
	w->size = sizeof(*w);
	w->id = id;
	w->timeout_ms = timeout_ms;
	w->blob_capacity = capacity;
	w->blob = (uintptr_t)blob;
	return ioctl(fd, LMIG_IOC_SESSION_WAIT, w) < 0 ? -errno : 0;
}

int ipc_session_cmd(int fd, unsigned long cmd, struct lmig_session_id *s)
{
	return ioctl(fd, cmd, s) < 0 ? -1 : 0;
}

void ipc_session_end(int fd, __u32 id)
{
	struct lmig_session_id s = { .size = sizeof(s), .id = id };

	ipc_session_cmd(fd, LMIG_IOC_SESSION_CANCEL, &s);
	ipc_session_cmd(fd, LMIG_IOC_SESSION_REMOVE, &s);
}

int ipc_open(void)
{
	struct lmig_version v;
	int fd, err;

	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT)
			fprintf(stderr, "lmctl: %s does not exist: load the module first (modprobe lmig)\n", DEV);
		else if (err == EACCES || err == EPERM)
			fprintf(stderr, "lmctl: %s: %s: lmctl must run as root\n", DEV, strerror(err));
		else
			fprintf(stderr, "lmctl: %s: %s\n", DEV, strerror(err));
		return -1;
	}
	err = ipc_version(fd, &v);
	if (err) {
		fprintf(stderr, "lmctl: cannot read the interface version of %s: %s\n",
			DEV, strerror(-err));
		close(fd);
		return -1;
	}
	if (v.major != LMIG_VERSION_MAJOR) {
		fprintf(stderr, "lmctl: the loaded lmig module speaks interface %u.%u; this lmctl was built for %u.x: install matching versions\n",
			v.major, v.minor, LMIG_VERSION_MAJOR);
		close(fd);
		return -1;
	}
	return fd;
}
