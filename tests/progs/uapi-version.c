// SPDX-License-Identifier: GPL-2.0
/*
 * uapi-version: the first contract of /dev/lmig. The device is root only,
 * every ioctl wants CAP_SYS_ADMIN, LMIG_IOC_VERSION answers and follows the
 * size/reserved rules of the uapi header, and unknown commands get ENOTTY.
 * Needs lmig.ko loaded.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/lmig.h>

#include "tap.h"

#define DEV "/dev/" LMIG_DEVICE_NAME

static int fd;

/* An ioctl's errno, or 0 on success. */
static int ioctl_err(unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? errno : 0;
}

static void check_device_node(void)
{
	struct stat st;

	tap_ok(stat(DEV, &st) == 0 && S_ISCHR(st.st_mode) && st.st_uid == 0 &&
	       (st.st_mode & 07777) == 0600,
	       DEV " is a character device, owned by root, mode 0600");
}

static void check_version(void)
{
	struct lmig_version v = { .size = sizeof(v) };
	int err = ioctl_err(LMIG_IOC_VERSION, &v);

	tap_ok(!err && v.major == LMIG_VERSION_MAJOR && v.minor >= LMIG_VERSION_MINOR &&
	       !(v.features & ~LMIG_FEATURES_ALL),
	       "LMIG_IOC_VERSION reports %u.%u, features 0x%llx", v.major, v.minor,
	       (unsigned long long)v.features);
}

static void check_sizes(void)
{
	struct {
		struct lmig_version v;
		uint64_t tail[2];
	} big = { .v.size = sizeof(big) };
	struct lmig_version v = { .size = LMIG_VERSION_SIZE_VER0 - 8 };

	tap_ok(ioctl_err(LMIG_IOC_VERSION, &v) == EINVAL,
	       "a size below LMIG_VERSION_SIZE_VER0 gets EINVAL");

	v = (struct lmig_version){ .size = sizeof(v), .reserved[5] = 1 };
	tap_ok(ioctl_err(LMIG_IOC_VERSION, &v) == EINVAL,
	       "a non-zero reserved field gets EINVAL");

	tap_ok(ioctl_err(LMIG_IOC_VERSION, &big) == 0 &&
	       big.v.major == LMIG_VERSION_MAJOR && big.tail[0] == 0,
	       "a newer caller's larger struct with a zero tail is answered");

	big = (typeof(big)){ .v.size = sizeof(big), .tail[1] = 1 };
	tap_ok(ioctl_err(LMIG_IOC_VERSION, &big) == E2BIG,
	       "a larger struct with a non-zero tail gets E2BIG");

	v = (struct lmig_version){ .size = 1u << 20 };
	tap_ok(ioctl_err(LMIG_IOC_VERSION, &v) == EINVAL,
	       "an absurd size gets EINVAL");

	tap_ok(ioctl_err(LMIG_IOC_VERSION, NULL) == EFAULT,
	       "a NULL argument gets EFAULT");
}

static void check_unknown(void)
{
	struct lmig_version v = { .size = sizeof(v) };

	tap_ok(ioctl_err(_IOWR(LMIG_IOC_MAGIC, 0x7f, struct lmig_version), &v) == ENOTTY,
	       "an unknown command number gets ENOTTY");
	tap_ok(ioctl_err(_IOWR(0xAE, 0x00, struct lmig_version), &v) == ENOTTY,
	       "another driver's command (KVM's type) gets ENOTTY");
	tap_ok(ioctl_err(_IO(LMIG_IOC_MAGIC, 0x00), &v) == ENOTTY,
	       "LMIG_IOC_VERSION with the wrong direction gets ENOTTY");
}

/* As nobody: no open, and an fd opened by root carries no right with it. */
static void check_unprivileged(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct lmig_version v = { .size = sizeof(v) };
		int other;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(10);
		other = open(DEV, O_RDWR);
		if (other >= 0 || errno != EACCES)
			_exit(11);
		if (ioctl(fd, LMIG_IOC_VERSION, &v) == 0 || errno != EPERM)
			_exit(12);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		tap_diag("child failed at step %d", WEXITSTATUS(status));
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "without root: open gets EACCES, an inherited fd's ioctl gets EPERM");
}

int main(void)
{
	fd = open(DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		tap_skip_all(DEV " does not exist: is lmig.ko loaded?");
	if (fd < 0)
		tap_bail("open " DEV);

	tap_plan(12);
	check_device_node();
	check_version();
	check_sizes();
	check_unknown();
	check_unprivileged();
	return tap_exit();
}
