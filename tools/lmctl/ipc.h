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

/*
 * The commands below return 0 or -errno, and explain a failure in err for
 * the operator: what it means for this command, and what to do.
 */
int ipc_session_attach(int fd, __u32 id, int vm_fd, char *err, size_t errlen);
int ipc_session_measure(int fd, __u32 id, __u32 interval_ms, char *err, size_t errlen);
/* local: in, where to listen; out, with the port bound. */
int ipc_session_listen(int fd, __u32 id, struct lmig_endpoint *local,
		       __u8 token[LMIG_TOKEN_LEN], char *err, size_t errlen);
/* qps: QPs for the session's WRITEs, 0 for the module's default. */
int ipc_session_connect(int fd, __u32 id, const struct lmig_endpoint *remote,
			const __u8 token[LMIG_TOKEN_LEN], __u32 qps, char *err, size_t errlen);
/* Starts sending memory; 0 for either value means the module's default. */
int ipc_session_migrate(int fd, __u32 id, __u32 downtime_limit_ms, __u64 max_bandwidth,
			char *err, size_t errlen);
int ipc_session_finalize(int fd, __u32 id, const void *blob, __u32 blob_len,
			 char *err, size_t errlen);
/*
 * Waits up to timeout_ms (0: for ever) for the session to finish; a
 * destination's VMM state blob lands in blob when it fits in capacity.
 * Returns 0 with w filled, or -errno (ETIMEDOUT, EINTR, ...).
 */
int ipc_session_wait(int fd, __u32 id, __u32 timeout_ms, void *blob, __u32 capacity,
		     struct lmig_session_wait *w);
/* LMIG_IOC_SESSION_CANCEL or _REMOVE; -1 with errno set on failure. */
int ipc_session_cmd(int fd, unsigned long cmd, struct lmig_session_id *s);
/* Cancels and removes a session; errors are of no use to the caller. */
void ipc_session_end(int fd, __u32 id);

#endif
