// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "io.h"
#include "qmp.h"

/*
 * A VMM answers every command at once, even one that starts long work
 * (QEMU's migrate returns and runs on): one that does not answer within
 * this is hung, and lmctl says so rather than hang with it.
 */
#define REPLY_TIMEOUT_S	120

/* The next object from the server that is not an asynchronous event. */
static struct json *read_reply(struct qmp *q, char *err, size_t errlen)
{
	/*
	 * A QMP server ends every message with a newline, and JSON has none
	 * inside strings: without a new one there is nothing new to parse.
	 * Parsing only then keeps a multi-MiB reply linear, not quadratic.
	 */
	bool line = q->len && memchr(q->buf, '\n', q->len);

	for (;;) {
		size_t used = 0;
		struct json *j = NULL;
		char chunk[65536];
		ssize_t n;

		while (q->len && strchr(" \t\r\n", q->buf[0])) {
			memmove(q->buf, q->buf + 1, q->len);
			q->len--;
		}
		if (q->len && line)
			j = json_parse(q->buf, q->len, &used);
		if (used) {
			bool reply = j && j->type == JSON_OBJECT && !json_get(j, "event");

			json_free(j);
			/* The caller keeps the reply: parse a copy it owns. */
			j = reply ? json_parse_copy(q->buf, used) : NULL;
			memmove(q->buf, q->buf + used, q->len - used + 1);
			q->len -= used;
			if (j)
				return j;
			continue;
		}
		n = recv(q->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * Replies carry no id: a late one would pass for the
			 * answer to the next command. Nothing more is said here.
			 */
			close(q->fd);
			q->fd = -1;
			snprintf(err, errlen, "the VMM did not answer within %d s", REPLY_TIMEOUT_S);
			return NULL;
		}
		if (n <= 0) {
			snprintf(err, errlen, "the VMM closed its QMP connection");
			return NULL;
		}
		q->buf = realloc(q->buf, q->len + n + 1);
		if (!q->buf) {
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		memcpy(q->buf + q->len, chunk, n);
		q->len += n;
		q->buf[q->len] = '\0';
		line = memchr(chunk, '\n', n) != NULL;
	}
}

struct json *qmp_run(struct qmp *q, const char *cmd, const char *args, char *err,
		     size_t errlen)
{
	struct json *reply, *e;
	char *msg;
	int n;

	n = asprintf(&msg, "{\"execute\": \"%s\"%s%s}\n", cmd, args ? ", \"arguments\": " : "",
		     args ? args : "");
	if (n < 0)
		return NULL;
	if (q->fd < 0) {
		free(msg);
		snprintf(err, errlen, "the VMM stopped answering QMP earlier");
		return NULL;
	}
	if (io_write_all(q->fd, msg, n)) {
		free(msg);
		snprintf(err, errlen, "cannot send to the VMM: %s", strerror(errno));
		return NULL;
	}
	free(msg);
	reply = read_reply(q, err, errlen);
	if (!reply)
		return NULL;
	e = json_get(reply, "error");
	if (e || !json_get(reply, "return")) {
		const char *desc = json_str(e, "desc");

		snprintf(err, errlen, "%s", desc ? desc : "malformed QMP reply");
		json_free(reply);
		return NULL;
	}
	return reply;
}

int qmp_open(struct qmp *q, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	struct json *j;

	memset(q, 0, sizeof(*q));
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "QMP socket path too long");
		return -1;
	}
	strcpy(sun.sun_path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sun, sizeof(sun))) {
		snprintf(err, errlen, "cannot connect to QMP socket %s: %s", path, strerror(errno));
		if (q->fd >= 0)
			close(q->fd);
		return -1;
	}
	setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	j = read_reply(q, err, errlen);
	if (!j || !json_get(j, "QMP")) {
		json_free(j);
		snprintf(err, errlen, "%s does not speak QMP", path);
		qmp_close(q);
		return -1;
	}
	json_free(j);
	j = qmp_run(q, "qmp_capabilities", NULL, err, errlen);
	if (!j) {
		qmp_close(q);
		return -1;
	}
	json_free(j);
	return 0;
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	free(q->buf);
	q->buf = NULL;
	q->fd = -1;
}
