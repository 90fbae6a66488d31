// SPDX-License-Identifier: GPL-2.0
/*
 * lmctl: starts, monitors and finalizes lmig live migrations. The work is
 * done by lmig.ko; lmctl only hands it VMs and reports what it does.
 */
#include <stdio.h>
#include <string.h>

#include "lmctl.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "cancel", cmd_cancel, "end a session that has not finished; the source VM runs on" },
	{ "dirty-rate", cmd_dirty_rate, "measure how fast a running VM dirties its memory" },
	{ "finalize", cmd_finalize, "source: pause the VM, send the rest and its state, wait" },
	{ "list", cmd_list, "list the sessions in the kernel, one line each" },
	{ "listen", cmd_listen, "destination: wait for a VM's source; prints the URI for start" },
	{ "remove", cmd_remove, "forget a finished (completed, failed, cancelled, in-doubt) session" },
	{ "start", cmd_start, "source: send a running VM to the destination at a URI" },
	{ "status", cmd_status, "show a session's state and progress (all with no ID); --json" },
	{ "version", cmd_version, "print lmctl's and the loaded module's interface version" },
	{ "wait", cmd_wait, "wait until a session finishes; destination: resume the VM" },
	{ "watch", cmd_watch, "show a session's progress live until it finishes" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: lmctl COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'lmctl COMMAND --help' describes a command's options. See lmctl(8).\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "lmctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
