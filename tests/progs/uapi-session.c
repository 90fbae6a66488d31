// SPDX-License-Identifier: GPL-2.0
/*
 * uapi-session PID MEM_BYTES: sessions and attaching a VM, against the
 * running VMM PID (an lmvm of MEM_BYTES in two memslots). Needs lmig.ko.
 *
 * uapi-session --leave PID [measure]: creates a session, attaches PID's VM
 * (and starts measuring its dirty rate) and exits without cleaning up, so
 * that the caller can kill the VMM or unload the module under a live
 * session. Prints the session id.
 *
 * uapi-session --start-late PID lmig://ADDR:PORT/TOKEN: connects PID's VM
 * to a destination that fails the session right after its first GRANT
 * (rogue-peer dest bad-placement), waits until the session has failed,
 * and only then starts it: START must say EBUSY, not that no VM is
 * attached, and the status must say why the session failed. lmctl turns
 * that EBUSY into "the session failed before it started"; lmctl itself
 * starts at once and wins that race nearly always.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/lmig.h>

#include "tap.h"
#include "uri.h"
#include "vmfd.h"

static int dev;

static int err_of(unsigned long cmd, void *arg)
{
	return ioctl(dev, cmd, arg) < 0 ? errno : 0;
}

static int create(uint32_t role, uint32_t *id)
{
	struct lmig_session_create c = { .size = sizeof(c), .role = role };
	int err = err_of(LMIG_IOC_SESSION_CREATE, &c);

	*id = c.id;
	return err;
}

static int attach(uint32_t id, int fd, struct lmig_session_attach *a)
{
	*a = (struct lmig_session_attach){ .size = sizeof(*a), .id = id, .vm_fd = fd };
	return err_of(LMIG_IOC_SESSION_ATTACH_VM, a);
}

static int status(uint32_t id, struct lmig_status *st)
{
	*st = (struct lmig_status){ .size = sizeof(*st), .id = id };
	return err_of(LMIG_IOC_SESSION_STATUS, st);
}

static int by_id(unsigned long cmd, uint32_t id)
{
	struct lmig_session_id s = { .size = sizeof(s), .id = id };

	return err_of(cmd, &s);
}

static int listed(uint32_t id, uint32_t *count)
{
	uint32_t ids[LMIG_MAX_SESSIONS];
	struct lmig_session_list l = {
		.size = sizeof(l), .capacity = LMIG_MAX_SESSIONS, .ids = (uintptr_t)ids,
	};
	uint32_t i;

	if (err_of(LMIG_IOC_SESSION_LIST, &l))
		return 0;
	*count = l.count;
	for (i = 0; i < l.count && i < LMIG_MAX_SESSIONS; i++)
		if (ids[i] == id)
			return 1;
	return 0;
}

static int vm_fd(pid_t pid)
{
	char err[256];
	int fd = vm_fd_of_pid(pid, err, sizeof(err));

	if (fd < 0)
		tap_bail("%s", err);
	return fd;
}

static int leave(pid_t pid, int measure)
{
	struct lmig_session_start st = { .size = sizeof(st), .flags = LMIG_START_MEASURE };
	struct lmig_session_attach a;
	uint32_t id;

	if (create(LMIG_ROLE_SOURCE, &id) || attach(id, vm_fd(pid), &a))
		tap_bail("create and attach");
	st.id = id;
	if (measure && err_of(LMIG_IOC_SESSION_START, &st))
		tap_bail("start measuring");
	printf("%u\n", id);
	return 0;
}

static int start_late(pid_t pid, const char *uri)
{
	struct lmig_session_connect c = { .size = sizeof(c), .timeout_ms = 30000 };
	struct lmig_session_start s = { .size = sizeof(s) };
	struct lmig_session_attach a;
	struct lmig_status st = { 0 };
	uint32_t id;
	char why[256];
	int err, i;

	if (uri_parse(uri, &c.remote, c.token, why, sizeof(why)))
		tap_bail("%s", why);
	tap_plan(4);
	if (create(LMIG_ROLE_SOURCE, &id) || attach(id, vm_fd(pid), &a))
		tap_bail("create and attach");
	c.id = id;
	err = err_of(LMIG_IOC_SESSION_CONNECT, &c);
	tap_ok(!err, "CONNECT returns on the first GRANT (err %d)", err);
	for (i = 0; i < 300 && !status(id, &st) && st.state != LMIG_STATE_FAILED; i++)
		usleep(100000);
	tap_ok(st.state == LMIG_STATE_FAILED && st.message[0],
	       "the destination's READY fails the session before START: %.*s",
	       (int)sizeof(st.message), st.message);
	s.id = id;
	err = err_of(LMIG_IOC_SESSION_START, &s);
	tap_ok(err == EBUSY, "START on the failed session gets EBUSY (got %s)",
	       err ? strerror(err) : "success");
	tap_ok(by_id(LMIG_IOC_SESSION_REMOVE, id) == 0, "the failed session is removed");
	return tap_exit();
}

int main(int argc, char **argv)
{
	struct lmig_session_create c;
	struct lmig_session_attach a;
	struct lmig_status st;
	uint32_t id = 0, other, count = 0, ids[LMIG_MAX_SESSIONS + 1];
	uint64_t mem;
	int fd, null, n, err;

	dev = open("/dev/lmig", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		tap_skip_all("/dev/lmig: %s: is lmig.ko loaded?", strerror(errno));
	if (argc >= 3 && argc <= 4 && !strcmp(argv[1], "--leave"))
		return leave(atoi(argv[2]), argc == 4 && !strcmp(argv[3], "measure"));
	if (argc == 4 && !strcmp(argv[1], "--start-late"))
		return start_late(atoi(argv[2]), argv[3]);
	if (argc != 3) {
		fprintf(stderr, "usage: uapi-session PID MEM_BYTES | --leave PID [measure] |\n"
			"       uapi-session --start-late PID lmig://ADDR:PORT/TOKEN\n");
		return 2;
	}
	mem = strtoull(argv[2], NULL, 0);
	fd = vm_fd(atoi(argv[1]));
	null = open("/dev/null", O_RDWR);
	tap_plan(35);

	err = create(LMIG_ROLE_SOURCE, &id);
	tap_ok(!err && id > 0, "create a source session: id %u", id);
	tap_ok(create(0, &other) == EINVAL && create(3, &other) == EINVAL,
	       "an unknown role gets EINVAL");
	c = (struct lmig_session_create){ .size = sizeof(c), .role = 1, .flags = 1 };
	tap_ok(err_of(LMIG_IOC_SESSION_CREATE, &c) == EINVAL, "unknown flags get EINVAL");
	c = (struct lmig_session_create){ .size = sizeof(c), .role = 1, .reserved[3] = 1 };
	tap_ok(err_of(LMIG_IOC_SESSION_CREATE, &c) == EINVAL, "a non-zero reserved field gets EINVAL");

	tap_ok(status(id, &st) == 0 && st.state == LMIG_STATE_SETUP &&
	       st.role == LMIG_ROLE_SOURCE && st.total_pages == 0,
	       "a new session is in setup, with no VM");
	tap_ok(status(0, &st) == ENOENT && status(100000, &st) == ENOENT,
	       "status of an unknown session gets ENOENT");

	tap_ok(attach(id, null, &a) == EINVAL, "attaching /dev/null gets EINVAL");
	n = open("/dev/kvm", O_RDWR);
	tap_ok(attach(id, n, &a) == EINVAL, "attaching /dev/kvm itself (not a VM) gets EINVAL");
	close(n);
	tap_ok(attach(id, 9999, &a) == EBADF && attach(id, -1, &a) == EBADF,
	       "attaching a closed or negative fd gets EBADF");
	tap_ok(attach(424242, fd, &a) == ENOENT, "attaching to an unknown session gets ENOENT");

	err = attach(id, fd, &a);
	tap_ok(!err && a.slots == 2 && a.total_pages == mem / 4096,
	       "attaching the VMM's VM: %u slots, %llu pages (err %d)", a.slots,
	       (unsigned long long)a.total_pages, err);
	tap_ok(attach(id, fd, &a) == EBUSY, "attaching a second VM gets EBUSY");
	tap_ok(create(LMIG_ROLE_SOURCE, &other) == 0 && attach(other, fd, &a) == EBUSY &&
	       by_id(LMIG_IOC_SESSION_CANCEL, other) == 0 &&
	       by_id(LMIG_IOC_SESSION_REMOVE, other) == 0,
	       "a VM in one session cannot join another (EBUSY)");
	tap_ok(status(id, &st) == 0 && st.slots == 2 && st.total_pages == mem / 4096 &&
	       st.remaining_pages == st.total_pages,
	       "status reports the VM's layout");

	n = listed(id, &count);
	tap_ok(n && count >= 1, "the session is listed (%u in all)", count);
	tap_ok(by_id(LMIG_IOC_SESSION_REMOVE, id) == EBUSY,
	       "removing an unfinished session gets EBUSY");
	{
		struct lmig_session_start s = { .size = sizeof(s), .id = id };

		struct lmig_session_listen l = { .size = sizeof(l), .id = id };
		struct lmig_session_connect c = { .size = sizeof(c), .id = id };
		struct lmig_session_finalize f = { .size = sizeof(f), .id = id };
		struct lmig_session_wait w = { .size = sizeof(w), .id = id, .timeout_ms = 50 };

		tap_ok(err_of(LMIG_IOC_SESSION_START, &s) == ENOTCONN,
		       "starting a migration with no peer gets ENOTCONN");
		l.local.family = AF_INET;
		tap_ok(err_of(LMIG_IOC_SESSION_LISTEN, &l) == EINVAL,
		       "a source session cannot listen (EINVAL)");
		c.remote.family = 12345;
		tap_ok(err_of(LMIG_IOC_SESSION_CONNECT, &c) == EINVAL,
		       "connecting to an unknown address family gets EINVAL");
		c.remote.family = AF_INET;
		c.qps = LMIG_MAX_QPS + 1;
		tap_ok(err_of(LMIG_IOC_SESSION_CONNECT, &c) == EINVAL,
		       "asking for more than LMIG_MAX_QPS QPs gets EINVAL");
		f.blob_len = LMIG_MAX_BLOB + 1;
		tap_ok(err_of(LMIG_IOC_SESSION_FINALIZE, &f) == E2BIG,
		       "a VMM state above LMIG_MAX_BLOB gets E2BIG");
		f.blob_len = 0;
		tap_ok(err_of(LMIG_IOC_SESSION_FINALIZE, &f) == EBUSY,
		       "finalizing a session not started gets EBUSY");
		tap_ok(err_of(LMIG_IOC_SESSION_WAIT, &w) == ETIMEDOUT,
		       "waiting 50 ms for a session in setup gets ETIMEDOUT");
		w.id = 424242;
		tap_ok(err_of(LMIG_IOC_SESSION_WAIT, &w) == ENOENT,
		       "waiting for an unknown session gets ENOENT");
		s.flags = 0x80;
		tap_ok(err_of(LMIG_IOC_SESSION_START, &s) == EINVAL,
		       "starting with unknown flags gets EINVAL");
		s.flags = LMIG_START_MEASURE;
		s.interval_ms = LMIG_MAX_INTERVAL_MS + 1;
		tap_ok(err_of(LMIG_IOC_SESSION_START, &s) == EINVAL,
		       "an interval above the limit gets EINVAL");
		s.interval_ms = 100;
		tap_ok(err_of(LMIG_IOC_SESSION_START, &s) == 0 && status(id, &st) == 0 &&
		       st.state == LMIG_STATE_ACTIVE, "measuring: the session is active");
		tap_ok(err_of(LMIG_IOC_SESSION_START, &s) == EBUSY, "starting twice gets EBUSY");
	}
	tap_ok(by_id(LMIG_IOC_SESSION_CANCEL, id) == 0 && status(id, &st) == 0 &&
	       st.state == LMIG_STATE_CANCELLED && st.total_pages == 0,
	       "cancel: the session stops measuring and lets go of the VM");
	tap_ok(by_id(LMIG_IOC_SESSION_CANCEL, id) == 0 && status(id, &st) == 0 &&
	       st.state == LMIG_STATE_CANCELLED, "cancelling twice is harmless");
	tap_ok(by_id(LMIG_IOC_SESSION_REMOVE, id) == 0 && status(id, &st) == ENOENT &&
	       !listed(id, &count), "remove: the session is gone");
	tap_ok(by_id(LMIG_IOC_SESSION_REMOVE, id) == ENOENT, "removing it again gets ENOENT");

	/* The table is bounded: the next create after the last id fails cleanly. */
	listed(0, &count);
	for (n = 0; n < LMIG_MAX_SESSIONS - (int)count; n++)
		if (create(LMIG_ROLE_DESTINATION, &ids[n]))
			break;
	tap_ok(n == LMIG_MAX_SESSIONS - (int)count && create(LMIG_ROLE_SOURCE, &other) == ENOSPC,
	       "after %d sessions, create gets ENOSPC", LMIG_MAX_SESSIONS);
	while (n-- > 0)
		if (by_id(LMIG_IOC_SESSION_CANCEL, ids[n]) || by_id(LMIG_IOC_SESSION_REMOVE, ids[n]))
			break;
	tap_ok(n < 0, "and all of them cancel and remove");

	tap_ok(create(LMIG_ROLE_SOURCE, &id) == 0 && attach(id, fd, &a) == 0 &&
	       by_id(LMIG_IOC_SESSION_CANCEL, id) == 0 && by_id(LMIG_IOC_SESSION_REMOVE, id) == 0,
	       "the same VM attaches again to a new session");
	return tap_exit();
}
