/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LMCTL_H
#define LMCTL_H

#define LMCTL_VERSION "0.1"

/* One function per subcommand, each in its own file; argv[0] is its name. */
int cmd_version(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_dirty_rate(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_remove(int argc, char **argv);

#endif
