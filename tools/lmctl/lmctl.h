/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LMCTL_H
#define LMCTL_H

#include <linux/types.h>

#define LMCTL_VERSION "0.1"

/* One function per subcommand, each in its own file; argv[0] is its name. */
int cmd_version(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_dirty_rate(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_finalize(int argc, char **argv);
int cmd_wait(int argc, char **argv);

/* status.c */
const char *role_name(__u32 role);
const char *state_name(__u32 state);

/* args.c: "usage: SYNOPSIS" and where the options are described, on stderr. */
void usage_error(const char *synopsis, const char *cmd);
/*
 * Values on the command line. Each returns 0, or -1 after saying
 * what it expected; opt names the option in that message.
 */
int parse_session_id(const char *s, __u32 *id);

/* "ID [--qmp PATH] [--json] [--help]", as finalize and wait take them. */
struct id_qmp_json {
	__u32 id;
	const char *qmp_path;
	int json;
};
/* -1 to go on with out filled, else the exit status (help shown: 0). */
int parse_id_qmp_json(int argc, char **argv, const char *synopsis, const char *cmd,
		      void (*help)(void), struct id_qmp_json *out);
struct lmig_status;
/* ipc_status, saying on stderr why it failed. */
int session_status(int fd, __u32 id, struct lmig_status *st);
int parse_pid(const char *opt, const char *s, int *pid);
int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
	       unsigned long *out);
/* Bytes per second: 500K, 20M, 1G (powers of 1024), or 0 for no limit. */
int parse_rate(const char *opt, const char *s, __u64 *out);

#endif
