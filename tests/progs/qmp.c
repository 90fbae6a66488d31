// SPDX-License-Identifier: GPL-2.0
/*
 * qmp SOCKET COMMAND [ARGUMENTS]: runs one QMP command against QEMU or lmvm
 * and prints its result as JSON on one line. ARGUMENTS is a JSON object,
 * or @FILE to read it from a file. Exits 1 with the error on stderr.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&s, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(s);
		return NULL;
	}
	return s;
}

int main(int argc, char **argv)
{
	char err[512], *args = NULL;
	struct json *reply, *ret;
	struct qmp q;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: qmp SOCKET COMMAND [ARGUMENTS|@FILE]\n");
		return 2;
	}
	if (argc == 4)
		args = argv[3][0] == '@' ? slurp(argv[3] + 1) : strdup(argv[3]);
	if (argc == 4 && !args) {
		perror(argv[3] + 1);
		return 2;
	}
	if (qmp_open(&q, argv[1], err, sizeof(err))) {
		fprintf(stderr, "qmp: %s\n", err);
		return 1;
	}
	reply = qmp_run(&q, argv[2], args, err, sizeof(err));
	if (!reply) {
		fprintf(stderr, "qmp: %s: %s\n", argv[2], err);
		return 1;
	}
	ret = json_get(reply, "return");
	printf("%.*s\n", (int)ret->raw_len, ret->raw);
	json_free(reply);
	qmp_close(&q);
	free(args);
	return 0;
}
