/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU as lmig's client, over its QMP socket: lmig carries the guest's
 * RAM, QEMU's own migration (x-ignore-shared) its device state.
 */
#ifndef LMCTL_QEMU_H
#define LMCTL_QEMU_H

#include <stddef.h>

#include "qmp.h"

/* Each returns 0, or -1 with err set to what went wrong and what to do. */

/* 1 if the VMM is QEMU, 0 if not. */
int qemu_is(struct qmp *q);
/*
 * A QEMU whose migration lmig can share: guest RAM in a shared memory
 * backend, no device that writes guest memory behind KVM's dirty log.
 * Sets the x-ignore-shared capability.
 */
int qemu_prepare(struct qmp *q, char *err, size_t errlen);
/* The destination: prepared, waiting (-incoming defer), now listening at uri. */
int qemu_listen(struct qmp *q, const char *uri, char *err, size_t errlen);
/*
 * The source, paused: QEMU's migration to uri until it ends; *ms its
 * total time. -1 when it failed, so that the destination never loaded
 * the devices; QEMU_UNKNOWN when QEMU cannot say how it ended.
 */
#define QEMU_UNKNOWN	(-2)
int qemu_send_devices(struct qmp *q, const char *uri, double *ms, char *err, size_t errlen);
/* Clears x-ignore-shared again: a later QEMU migration of its own must carry the RAM. */
void qemu_unprepare(struct qmp *q);
/*
 * The destination: until QEMU's incoming migration has ended; then it must
 * have completed, and QEMU runs (cont after -S).
 */
int qemu_wait_incoming(struct qmp *q, char *err, size_t errlen);

#endif
