// SPDX-License-Identifier: GPL-2.0
/*
 * uapi-fuzz PID SECONDS: random and edge input to every /dev/lmig ioctl,
 * from several threads at once, for a fixed time, with the VM of the VMM
 * PID at hand to attach. Every call must come back with success or a
 * documented error; the kernel must report nothing (the rig checks its
 * log after every test). At the end every session is cancelled and
 * removed, and the list must be empty.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/lmig.h>

#include "tap.h"
#include "vmfd.h"

#define THREADS 4

static int dev, vmfd;
static time_t deadline;
static unsigned long calls, unexpected;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Edge values weigh more than uniform ones. */
static uint64_t pick(uint64_t *s)
{
	static const uint64_t edges[] = { 0, 1, 2, 3, 7, 64, 255, 256, 257, 4096,
					  0x7fffffff, 0x80000000, 0xffffffff,
					  ~0ull, 1ull << 63 };

	if (rnd(s) % 2)
		return edges[rnd(s) % (sizeof(edges) / sizeof(edges[0]))];
	return rnd(s);
}

static const unsigned long cmds[] = {
	LMIG_IOC_VERSION, LMIG_IOC_SESSION_CREATE, LMIG_IOC_SESSION_ATTACH_VM,
	LMIG_IOC_SESSION_STATUS, LMIG_IOC_SESSION_LIST, LMIG_IOC_SESSION_CANCEL,
	LMIG_IOC_SESSION_REMOVE, LMIG_IOC_SESSION_START, LMIG_IOC_SESSION_LISTEN,
	LMIG_IOC_SESSION_CONNECT, LMIG_IOC_SESSION_FINALIZE, LMIG_IOC_SESSION_WAIT,
};

static int documented(int err)
{
	switch (err) {
	case 0: case EINVAL: case E2BIG: case EFAULT: case ENOENT: case EBADF:
	case EBUSY: case ENOSPC: case ENOTCONN: case ESRCH: case ENOTTY:
	case ETIMEDOUT: case EINTR: case EADDRINUSE: case EADDRNOTAVAIL:
	case ENODEV: case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH:
	case EACCES: case EPROTO: case ECANCELED: case ENOMEM:
		return 1;
	}
	return 0;
}

/* A plausible struct: right size, small ids, the VM fd, mostly zero tail. */
static void fill(uint64_t *s, uint8_t *buf, size_t len)
{
	uint32_t *w = (uint32_t *)buf;
	size_t i;

	memset(buf, 0, len);
	w[0] = rnd(s) % 8 ? 64 + (rnd(s) % 4) * 64 : (uint32_t)pick(s);	/* size */
	w[1] = rnd(s) % 4 ? 1 + rnd(s) % 8 : (uint32_t)pick(s);		/* id/role */
	w[2] = rnd(s) % 2 ? (uint32_t)vmfd : (uint32_t)pick(s);		/* fd/flags */
	w[3] = rnd(s) % 3 ? 0 : (uint32_t)pick(s);
	for (i = 16; i < len; i++)
		if (rnd(s) % 64 == 0)
			buf[i] = (uint8_t)rnd(s);
}

static void *fuzz(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	uint8_t buf[4096 + 64];
	unsigned long n = 0, bad = 0;

	while (time(NULL) < deadline) {
		unsigned long cmd = cmds[rnd(&s) % (sizeof(cmds) / sizeof(cmds[0]))];
		void *arg = buf;
		int err;

		fill(&s, buf, sizeof(buf));
		switch (rnd(&s) % 16) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = (void *)(uintptr_t)pick(&s);
			break;
		case 2:
			cmd = (cmd & ~0xffu) | (rnd(&s) & 0xff);	/* any number */
			break;
		case 3:
			/* A list pointing anywhere. */
			((uint64_t *)buf)[1] = pick(&s);
			break;
		}
		/* A wait for a session that never ends must end, here. */
		if ((cmd & 0xff) == (LMIG_IOC_SESSION_WAIT & 0xff))
			((uint32_t *)buf)[2] = 1 + rnd(&s) % 50;
		err = ioctl(dev, cmd, arg) < 0 ? errno : 0;
		n++;
		if (!documented(err)) {
			bad++;
			tap_diag("cmd 0x%lx: unexpected errno %d (%s)", cmd, err, strerror(err));
		}
	}
	pthread_mutex_lock(&lock);
	calls += n;
	unexpected += bad;
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	uint32_t ids[LMIG_MAX_SESSIONS];
	struct lmig_session_list l = { .size = sizeof(l), .capacity = LMIG_MAX_SESSIONS };
	pthread_t t[THREADS];
	char err[256];
	uint32_t i;
	int k;

	if (argc != 3) {
		fprintf(stderr, "usage: uapi-fuzz PID SECONDS\n");
		return 2;
	}
	dev = open("/dev/lmig", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		tap_skip_all("/dev/lmig: %s: is lmig.ko loaded?", strerror(errno));
	vmfd = vm_fd_of_pid(atoi(argv[1]), err, sizeof(err));
	if (vmfd < 0)
		tap_bail("%s", err);
	tap_plan(3);

	deadline = time(NULL) + atoi(argv[2]);
	for (k = 0; k < THREADS; k++)
		pthread_create(&t[k], NULL, fuzz, (void *)(uintptr_t)(k + 1));
	for (k = 0; k < THREADS; k++)
		pthread_join(t[k], NULL);
	tap_ok(unexpected == 0, "%lu calls from %d threads, %lu with an undocumented error",
	       calls, THREADS, unexpected);

	l.ids = (uintptr_t)ids;
	k = ioctl(dev, LMIG_IOC_SESSION_LIST, &l);
	tap_ok(k == 0, "the list still answers: %u sessions", l.count);
	for (i = 0; i < l.count && i < LMIG_MAX_SESSIONS; i++) {
		struct lmig_session_id s = { .size = sizeof(s), .id = ids[i] };

		ioctl(dev, LMIG_IOC_SESSION_CANCEL, &s);
		ioctl(dev, LMIG_IOC_SESSION_REMOVE, &s);
	}
	l.capacity = 0;
	k = ioctl(dev, LMIG_IOC_SESSION_LIST, &l);
	tap_ok(k == 0 && l.count == 0, "every session cancels and removes (%u left)", l.count);
	return tap_exit();
}
