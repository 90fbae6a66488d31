/* SPDX-License-Identifier: GPL-2.0 */
/*
 * All of lmctl's traffic with the kernel goes through here.
 */
#ifndef LMCTL_IPC_H
#define LMCTL_IPC_H

#include <linux/lmig.h>

/*
 * Opens /dev/lmig and checks that the module speaks an interface major
 * this lmctl was built for. Returns the fd, or -1 after printing what to do.
 */
int ipc_open(void);

int ipc_version(int fd, struct lmig_version *v);
int ipc_status(int fd, __u32 id, struct lmig_status *st);
/* Fills ids with up to cap session ids; returns how many exist, or -errno. */
int ipc_list(int fd, __u32 *ids, __u32 cap);

#endif
