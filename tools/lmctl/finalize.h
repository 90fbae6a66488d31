/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LMCTL_FINALIZE_H
#define LMCTL_FINALIZE_H

#include <linux/types.h>

#include "qmp.h"

/*
 * The end of a source session that is active or converged: pauses the VMM
 * (if q; otherwise the operator has), finalizes with the VMM's state and
 * waits until the session has finished. Unless it completed, resumes the
 * VMM that lmctl paused: the VM runs on here. Prints the summary or what
 * went wrong, and returns lmctl's exit status: 0 only when completed,
 * LMCTL_EXIT_IN_DOUBT (the VMM stays paused) when in doubt.
 *
 * With qemu_uri (QEMU, prepared by qemu_prepare), no state goes with
 * lmig: once it completed, QEMU's own migration takes the device state
 * to qemu_uri, and only a QEMU migration that completes too gives the VM
 * to the destination; if it fails, the VM runs on here.
 */
int handover(int fd, __u32 id, struct qmp *q, const char *qemu_uri, int json);

/*
 * With qemu_uri, when another lmctl finalized the session: QEMU's device
 * state follows only if the VM was paused, and only once lmig completed.
 */
int qemu_finalized_elsewhere(int fd, __u32 id, struct qmp *q, const char *qemu_uri, int json);

/*
 * The exit status when nobody knows which host has the VM: FINAL went
 * out and its ACK never came. Neither side may be resumed blindly.
 */
#define LMCTL_EXIT_IN_DOUBT 3

struct lmig_status;
/* Says so, and what the operator must check before resuming anything. */
void in_doubt(const struct lmig_status *st, int json);

#endif
