/* SPDX-License-Identifier: GPL-2.0 */
/*
 * All of lmctl's traffic with the kernel goes through here.
 */
#ifndef LMCTL_IPC_H
#define LMCTL_IPC_H

#include <stddef.h>
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

int ipc_session_create(int fd, __u32 role, __u32 *id);
/* These two explain a failure in err, for the operator. */
int ipc_session_attach(int fd, __u32 id, int vm_fd, char *err, size_t errlen);
int ipc_session_measure(int fd, __u32 id, __u32 interval_ms, char *err, size_t errlen);
/* LMIG_IOC_SESSION_CANCEL or _REMOVE; -1 with errno set on failure. */
int ipc_session_cmd(int fd, unsigned long cmd, struct lmig_session_id *s);
/* Cancels and removes a session; errors are of no use to the caller. */
void ipc_session_end(int fd, __u32 id);

#endif
