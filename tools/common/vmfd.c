// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmfd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int vm_fd_of_pid(pid_t pid, char *err, size_t errlen)
{
	char dir[64], path[320], link[64];
	int found = -1, pidfd, fd;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "no process %d (%s)", (int)pid, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, "anon_inode:kvm-vm")) {
			found = atoi(e->d_name);
			break;
		}
	}
	closedir(d);
	if (found < 0) {
		snprintf(err, errlen, "process %d has no KVM VM open: is it a VMM?", (int)pid);
		return -1;
	}
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		snprintf(err, errlen, "pidfd_open(%d): %s", (int)pid, strerror(errno));
		return -1;
	}
	fd = syscall(SYS_pidfd_getfd, pidfd, found, 0);
	if (fd < 0)
		snprintf(err, errlen, "pidfd_getfd(%d, fd %d): %s%s", (int)pid, found,
			 strerror(errno), errno == EPERM ? " (needs ptrace access)" : "");
	close(pidfd);
	return fd;
}
