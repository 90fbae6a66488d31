// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ipc.h"

#define DEV "/dev/" LMIG_DEVICE_NAME

int ipc_version(int fd, struct lmig_version *v)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	return ioctl(fd, LMIG_IOC_VERSION, v) < 0 ? -errno : 0;
}

int ipc_status(int fd, __u32 id, struct lmig_status *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
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

int ipc_session_attach(int fd, __u32 id, int vm_fd, char *err, size_t errlen)
{
	struct lmig_session_attach a = { .size = sizeof(a), .id = id, .vm_fd = vm_fd };

	if (ioctl(fd, LMIG_IOC_SESSION_ATTACH_VM, &a) == 0)
		return 0;
	snprintf(err, errlen, "cannot attach the VM: %s", strerror(errno));
	if (errno == EINVAL)
		snprintf(err, errlen, "that fd is not a KVM VM, or the VM has no memory");
	else if (errno == ESRCH)
		snprintf(err, errlen, "the VMM is exiting");
	return -1;
}

int ipc_session_measure(int fd, __u32 id, __u32 interval_ms, char *err, size_t errlen)
{
	struct lmig_session_start s = {
		.size = sizeof(s), .id = id, .flags = LMIG_START_MEASURE,
		.interval_ms = interval_ms,
	};

	if (ioctl(fd, LMIG_IOC_SESSION_START, &s) == 0)
		return 0;
	snprintf(err, errlen, "cannot start measuring: %s", strerror(errno));
	return -1;
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
