// SPDX-License-Identifier: GPL-2.0
/* lmctl's side of the VMM's QMP: stop, cont, x-save-state, x-load-state. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

int vmm_run(struct qmp *q, const char *cmd, const char *args, char *err, size_t errlen)
{
	char why[256];
	struct json *r = qmp_run(q, cmd, args, why, sizeof(why));

	if (!r) {
		snprintf(err, errlen, "the VMM refused '%s': %s", cmd, why);
		return -1;
	}
	json_free(r);
	return 0;
}

int vmm_open(struct qmp *q, const char *path, char *err, size_t errlen)
{
	char why[256];

	if (!qmp_open(q, path, why, sizeof(why)))
		return 0;
	snprintf(err, errlen, "%s: --qmp names the VMM's QMP socket (lmvm run --qmp PATH, or QEMU's -qmp unix:PATH,server=on,wait=off)",
		 why);
	return -1;
}

char *vmm_status(struct qmp *q, char *err, size_t errlen)
{
	char why[256] = "";
	struct json *r = qmp_run(q, "query-status", NULL, why, sizeof(why));
	const char *st = r ? json_str(json_get(r, "return"), "status") : NULL;
	char *copy = st ? strdup(st) : NULL;

	if (!copy)
		snprintf(err, errlen, "the VMM cannot say its status (%s): did it exit?",
			 r ? "no status in its reply" : why);
	json_free(r);
	return copy;
}

int vmm_running(struct qmp *q, char *err, size_t errlen)
{
	char *st = vmm_status(q, err, errlen);
	int running;

	if (!st)
		return -1;
	running = !strcmp(st, "running");
	free(st);
	return running;
}

int vmm_stop(struct qmp *q, char *err, size_t errlen)
{
	return vmm_run(q, "stop", NULL, err, errlen);
}

int vmm_cont(struct qmp *q, char *err, size_t errlen)
{
	return vmm_run(q, "cont", NULL, err, errlen);
}

/* Only base64 goes into a JSON string unquoted, and only base64 is state. */
static int is_base64(const char *s, size_t len)
{
	size_t i;

	/* strchr() finds the NUL of the set: test for it first. */
	for (i = 0; i < len; i++)
		if (!s[i] ||
		    !strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", s[i]))
			return 0;
	return 1;
}

char *vmm_save_state(struct qmp *q, size_t *len, char *err, size_t errlen)
{
	char why[256], *state = NULL;
	struct json *r = qmp_run(q, "x-save-state", NULL, why, sizeof(why));
	const char *s;

	if (!r) {
		snprintf(err, errlen, "the VMM cannot save its state (x-save-state): %s", why);
		return NULL;
	}
	s = json_str(json_get(r, "return"), "state");
	if (s && is_base64(s, strlen(s)))
		state = strdup(s);
	if (state)
		*len = strlen(state);
	else
		snprintf(err, errlen, s ? "out of memory" : "the VMM's x-save-state returned no base64 'state'");
	json_free(r);
	return state;
}

int vmm_load_state(struct qmp *q, const char *state, size_t len, char *err, size_t errlen)
{
	char why[256], *args;
	struct json *r;

	if (!is_base64(state, len)) {
		snprintf(err, errlen, "the VMM state that arrived is not base64: was the source's lmctl another version?");
		return -1;
	}
	if (asprintf(&args, "{\"state\": \"%.*s\"}", (int)len, state) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r = qmp_run(q, "x-load-state", args, why, sizeof(why));
	free(args);
	if (!r) {
		snprintf(err, errlen, "the VMM cannot load the state that arrived (x-load-state): %s", why);
		return -1;
	}
	json_free(r);
	return 0;
}
