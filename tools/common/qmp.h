/* SPDX-License-Identifier: GPL-2.0 */
/* A QMP client: talks to QEMU and lmvm alike. */
#ifndef LMIG_QMP_H
#define LMIG_QMP_H

#include <stddef.h>

#include "json.h"

struct qmp {
	int fd;
	char *buf;
	size_t len;
};

/* Connects and negotiates capabilities. Returns 0, or -1 with err set. */
int qmp_open(struct qmp *q, const char *path, char *err, size_t errlen);
void qmp_close(struct qmp *q);

/*
 * Runs cmd with args (a JSON object's text, or NULL). Returns the whole
 * reply object (free with json_free); its "return" member is the result.
 * On a QMP error returns NULL with err set to the error's description.
 */
struct json *qmp_run(struct qmp *q, const char *cmd, const char *args, char *err,
		     size_t errlen);

#endif
