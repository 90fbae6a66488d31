/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMM, over its QMP socket: pause and resume it, and carry its device
 * state. The state is the text of x-save-state's "state" member (base64),
 * handed to lmig as the blob and to x-load-state on the other side as it
 * came, so lmctl never needs to know what is in it.
 */
#ifndef LMCTL_VMM_H
#define LMCTL_VMM_H

#include <stddef.h>

#include "qmp.h"

/* Each returns 0, or -1 with err set to what went wrong and what to do. */
int vmm_open(struct qmp *q, const char *path, char *err, size_t errlen);
/* Any command whose result does not matter, only that it succeeded. */
int vmm_run(struct qmp *q, const char *cmd, const char *args, char *err, size_t errlen);
/* Its run state ("running", "paused", "inmigrate"...), to free; NULL with err set. */
char *vmm_status(struct qmp *q, char *err, size_t errlen);
/* 1 if the VM runs, 0 if not (paused, or not started), -1 with err set. */
int vmm_running(struct qmp *q, char *err, size_t errlen);
int vmm_stop(struct qmp *q, char *err, size_t errlen);
int vmm_cont(struct qmp *q, char *err, size_t errlen);
/* The paused VMM's state, malloc()ed, *len bytes without a NUL; or NULL. */
char *vmm_save_state(struct qmp *q, size_t *len, char *err, size_t errlen);
int vmm_load_state(struct qmp *q, const char *state, size_t len, char *err, size_t errlen);

#endif
