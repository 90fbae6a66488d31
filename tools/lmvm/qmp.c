// SPDX-License-Identifier: GPL-2.0
/*
 * A QMP subset on a Unix socket, so that lmctl and the tests drive QEMU
 * and lmvm the same way: the same greeting, capabilities negotiation,
 * {"execute": ..., "arguments": ..., "id": ...} in and {"return": ...} or
 * {"error": {"class": ..., "desc": ...}} out, one JSON object per line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "json.h"
#include "lmvm.h"

#define MAX_CLIENTS	8
#define MAX_INPUT	(64u << 20)	/* a state blob is well below this */

struct client {
	int fd;
	bool negotiated;
	char *in;
	size_t len;
};

struct reply {
	char *buf;
	size_t len;
	int error;
};

static void printr(struct reply *r, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	r->buf = realloc(r->buf, r->len + n + 1);
	memcpy(r->buf + r->len, s, n + 1);
	r->len += n;
	free(s);
}

/* Error text goes inside a JSON string: keep it to printable ASCII. */
static void error(struct reply *r, const char *cls, const char *fmt, ...)
{
	char desc[512], *c;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	for (c = desc; *c; c++)
		if (*c == '"' || *c == '\\' || *c < 0x20)
			*c = '\'';
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
	r->error = 1;
	printr(r, "{\"class\": \"%s\", \"desc\": \"%s\"}", cls, desc);
}

static const char *status_name(enum vm_status s)
{
	switch (s) {
	case VM_RUNNING: return "running";
	case VM_PAUSED: return "paused";
	case VM_INMIGRATE: return "inmigrate";
	default: return "internal-error";
	}
}

static void cmd_stop(struct vm *vm, struct json *args, struct reply *r)
{
	(void)args;
	vm_pause(vm);
	printr(r, "{}");
}

static void cmd_cont(struct vm *vm, struct json *args, struct reply *r)
{
	(void)args;
	if (vm->status == VM_CRASHED)
		return error(r, "GenericError", "the guest crashed: %s", vm->crash);
	if (vm->status == VM_INMIGRATE && !vm->state_loaded)
		return error(r, "GenericError",
			     "this VM is waiting for an incoming migration: load its state (x-load-state) first");
	vm_resume(vm);
	printr(r, "{}");
}

static void cmd_query_status(struct vm *vm, struct json *args, struct reply *r)
{
	(void)args;
	printr(r, "{\"status\": \"%s\", \"running\": %s, \"singlestep\": false}",
	       status_name(vm->status), vm->status == VM_RUNNING ? "true" : "false");
}

static void cmd_save_state(struct vm *vm, struct json *args, struct reply *r)
{
	char err[256];
	uint8_t *blob;
	size_t len;
	char *b64;

	(void)args;
	if (vm->status != VM_PAUSED)
		return error(r, "GenericError", "the VM is %s: stop it first",
			     status_name(vm->status));
	if (state_save(vm, &blob, &len, err, sizeof(err)))
		return error(r, "GenericError", "%s", err);
	b64 = base64_encode(blob, len);
	free(blob);
	if (!b64)
		return error(r, "GenericError", "out of memory");
	printr(r, "{\"size\": %zu, \"state\": \"%s\"}", len, b64);
	free(b64);
}

static void cmd_load_state(struct vm *vm, struct json *args, struct reply *r)
{
	const char *b64 = json_str(args, "state");
	char err[256];
	uint8_t *blob;
	size_t len;
	int ret;

	if (!b64)
		return error(r, "GenericError", "x-load-state needs a 'state' argument (base64)");
	if (vm->status != VM_PAUSED && vm->status != VM_INMIGRATE)
		return error(r, "GenericError", "the VM is %s: stop it first",
			     status_name(vm->status));
	blob = base64_decode(b64, &len);
	if (!blob)
		return error(r, "GenericError", "'state' is not valid base64");
	/* The vCPUs are parked; make sure, then write their state. */
	vm_pause(vm);
	ret = state_load(vm, blob, len, err, sizeof(err));
	free(blob);
	if (ret)
		return error(r, "GenericError", "%s", err);
	printr(r, "{}");
}

static void cmd_memory_digest(struct vm *vm, struct json *args, struct reply *r)
{
	int i;

	(void)args;
	printr(r, "{\"slots\": [");
	for (i = 0; i < LMVM_SLOTS; i++) {
		char hex[33];

		memory_digest(vm->slots[i].hva, vm->slots[i].size, hex);
		printr(r, "%s{\"slot\": %d, \"gpa\": %llu, \"size\": %llu, \"digest\": \"%s\"}",
		       i ? ", " : "", i, (unsigned long long)vm->slots[i].gpa,
		       (unsigned long long)vm->slots[i].size, hex);
	}
	printr(r, "]}");
}

static void cmd_query_memory(struct vm *vm, struct json *args, struct reply *r)
{
	const struct lmvm_control *ctl = vm_control(vm);
	bool filled = vm->fill;
	int i;

	(void)args;
	for (i = 0; i < vm->nvcpus; i++)
		filled = filled && __atomic_load_n(&ctl->cpu[i].filled, __ATOMIC_RELAXED);
	printr(r, "{\"pid\": %d, \"slots\": [", (int)getpid());
	for (i = 0; i < LMVM_SLOTS; i++)
		printr(r, "%s{\"slot\": %d, \"gpa\": %llu, \"size\": %llu, \"hva\": %llu}",
		       i ? ", " : "", i, (unsigned long long)vm->slots[i].gpa,
		       (unsigned long long)vm->slots[i].size,
		       (unsigned long long)(uintptr_t)vm->slots[i].hva);
	printr(r, "], \"filled\": %s}", filled ? "true" : "false");
}

static void cmd_guest_check(struct vm *vm, struct json *args, struct reply *r)
{
	char out[512];

	(void)args;
	if (vm_guest_check(vm, out, sizeof(out)))
		return error(r, "GenericError", "%s", out);
	printr(r, "%s", out);
}

static void cmd_heartbeat_stats(struct vm *vm, struct json *args, struct reply *r)
{
	uint64_t now = now_ns(CLOCK_REALTIME);

	(void)args;
	pthread_mutex_lock(&vm->lock);
	printr(r, "{\"count\": %llu, \"max-gap-ms\": %.3f, \"last-age-ms\": %.3f}",
	       (unsigned long long)vm->beat_count, vm->beat_max_gap_ns / 1e6,
	       vm->beat_last_ns ? (now - vm->beat_last_ns) / 1e6 : -1.0);
	pthread_mutex_unlock(&vm->lock);
}

static void cmd_capabilities(struct vm *vm, struct json *args, struct reply *r)
{
	(void)vm;
	(void)args;
	printr(r, "{}");
}

static const struct {
	const char *name;
	void (*fn)(struct vm *vm, struct json *args, struct reply *r);
} commands[] = {
	{ "qmp_capabilities", cmd_capabilities },
	{ "stop", cmd_stop },
	{ "cont", cmd_cont },
	{ "query-status", cmd_query_status },
	{ "x-save-state", cmd_save_state },
	{ "x-load-state", cmd_load_state },
	{ "x-memory-digest", cmd_memory_digest },
	{ "x-query-memory", cmd_query_memory },
	{ "x-guest-check", cmd_guest_check },
	{ "x-heartbeat-stats", cmd_heartbeat_stats },
};

static void dispatch(struct vm *vm, struct client *c, struct json *cmd, bool *quit)
{
	const char *name = json_str(cmd, "execute");
	struct json *id = json_get(cmd, "id");
	struct reply r = { 0 };
	char *line;
	size_t i;
	int n;

	if (!name) {
		error(&r, "GenericError", "Expected 'execute' in QMP input");
	} else if (!c->negotiated && strcmp(name, "qmp_capabilities")) {
		error(&r, "CommandNotFound",
		      "Expecting capabilities negotiation with 'qmp_capabilities'");
	} else if (!strcmp(name, "quit")) {
		printr(&r, "{}");
		*quit = true;
	} else {
		for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(name, commands[i].name))
				break;
		if (i == sizeof(commands) / sizeof(commands[0]))
			error(&r, "CommandNotFound", "The command %s has not been found", name);
		else
			commands[i].fn(vm, json_get(cmd, "arguments"), &r);
		if (!r.error && !strcmp(name, "qmp_capabilities"))
			c->negotiated = true;
	}
	n = asprintf(&line, "{\"%s\": %s%s%.*s}\r\n", r.error ? "error" : "return",
		     r.buf ? r.buf : "{}", id ? ", \"id\": " : "", id ? (int)id->raw_len : 0,
		     id ? id->raw : "");
	free(r.buf);
	if (n > 0) {
		io_write_all(c->fd, line, n);
		free(line);
	}
}

/* Reads what the client sent and runs every complete command in it. */
static int serve_client(struct vm *vm, struct client *c, bool *quit)
{
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
	size_t used;

	if (n <= 0)
		return -1;
	if (c->len + n > MAX_INPUT)
		return -1;
	c->in = realloc(c->in, c->len + n + 1);
	memcpy(c->in + c->len, buf, n);
	c->len += n;
	c->in[c->len] = '\0';

	while (c->len) {
		struct json *cmd = json_parse(c->in, c->len, &used);

		if (!cmd && !used)
			break;
		if (cmd && cmd->type == JSON_OBJECT) {
			dispatch(vm, c, cmd, quit);
		} else {
			static const char bad[] =
				"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n";

			io_write_all(c->fd, bad, sizeof(bad) - 1);
		}
		json_free(cmd);
		memmove(c->in, c->in + used, c->len - used + 1);
		c->len -= used;
		while (c->len && strchr(" \t\r\n", c->in[0])) {
			memmove(c->in, c->in + 1, c->len);
			c->len--;
		}
	}
	return 0;
}

int qmp_serve(struct vm *vm, const char *path, int stop_fd)
{
	static const char greeting[] =
		"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 1, \"major\": 0}, "
		"\"package\": \"lmvm\"}, \"capabilities\": []}}\r\n";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct client clients[MAX_CLIENTS] = { 0 };
	bool quit = false;
	int lfd, i;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "lmvm: QMP socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) || listen(lfd, 4)) {
		fprintf(stderr, "lmvm: QMP socket %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = -1;

	while (!quit) {
		struct pollfd pfd[MAX_CLIENTS + 2];
		int n = 0;

		pfd[n++] = (struct pollfd){ .fd = stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (i = 0; i < MAX_CLIENTS; i++)
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			for (i = 0; fd >= 0 && i < MAX_CLIENTS; i++) {
				if (clients[i].fd < 0) {
					clients[i] = (struct client){ .fd = fd };
					io_write_all(fd, greeting, sizeof(greeting) - 1);
					break;
				}
			}
			if (fd >= 0 && i == MAX_CLIENTS)
				close(fd);
		}
		for (i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];

			if (c->fd < 0 || !(pfd[i + 2].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (serve_client(vm, c, &quit)) {
				close(c->fd);
				free(c->in);
				*c = (struct client){ .fd = -1 };
			}
		}
	}
	for (i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			close(clients[i].fd);
		free(clients[i].in);
	}
	close(lfd);
	unlink(path);
	return 0;
}
