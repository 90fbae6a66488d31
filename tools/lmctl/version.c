// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "lmctl.h"

int cmd_version(int argc, char **argv)
{
	struct lmig_version v;
	int fd, err;

	if (argc > 1) {
		int help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");

		fprintf(help ? stdout : stderr, "usage: lmctl version\n");
		return help ? 0 : 2;
	}
	printf("lmctl %s, interface %u.%u\n", LMCTL_VERSION, LMIG_VERSION_MAJOR,
	       LMIG_VERSION_MINOR);
	fd = ipc_open();
	if (fd < 0)
		return 1;
	err = ipc_version(fd, &v);
	close(fd);
	if (err)
		return 1;
	printf("module interface %u.%u, features 0x%llx\n", v.major, v.minor,
	       (unsigned long long)v.features);
	return 0;
}
