// SPDX-License-Identifier: GPL-2.0
/*
 * lmvm-copy SRC_QMP DST_QMP [--corrupt GPA]
 *
 * Copies all guest memory of a stopped lmvm into an --incoming lmvm of the
 * same layout, through /proc/PID/mem, skipping zero pages so the
 * destination stays as sparse as the source. This is a migration with no
 * lmig in it: it proves lmvm's save/restore on its own. --corrupt flips
 * one byte of the destination at GPA afterwards, to show that the guest's
 * self-check can fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmp.h"

#define CHUNK (2u << 20)
#define PAGE 4096u
#define MAX_SLOTS 8

struct vmm {
	struct qmp q;
	int pid, nslots, mem;
	uint64_t gpa[MAX_SLOTS], size[MAX_SLOTS], hva[MAX_SLOTS];
};

static int die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "lmvm-copy: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, "\n");
	exit(1);
}

static void query(struct vmm *v, const char *path)
{
	char err[256];
	struct json *r, *ret, *slots;
	int i;

	if (qmp_open(&v->q, path, err, sizeof(err)))
		die("%s: %s", path, err);
	r = qmp_run(&v->q, "x-query-memory", NULL, err, sizeof(err));
	if (!r)
		die("%s: %s", path, err);
	ret = json_get(r, "return");
	slots = json_get(ret, "slots");
	if (!json_get(ret, "pid") || !slots || slots->type != JSON_ARRAY || slots->n > MAX_SLOTS)
		die("%s: %s", path, "unexpected x-query-memory reply");
	v->pid = (int)json_get(ret, "pid")->num;
	v->nslots = slots->n;
	for (i = 0; i < slots->n; i++) {
		v->gpa[i] = (uint64_t)json_get(slots->items[i], "gpa")->num;
		v->size[i] = (uint64_t)json_get(slots->items[i], "size")->num;
		v->hva[i] = (uint64_t)json_get(slots->items[i], "hva")->num;
	}
	json_free(r);
}

static int is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	unsigned int i;

	for (i = 0; i < PAGE / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	struct vmm src, dst;
	uint64_t copied = 0, zero = 0, corrupt = 0;
	char path[64];
	uint8_t *buf;
	int i;

	if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "--corrupt"))) {
		fprintf(stderr, "usage: lmvm-copy SRC_QMP DST_QMP [--corrupt GPA]\n");
		return 2;
	}
	if (argc == 5)
		corrupt = strtoull(argv[4], NULL, 0);
	query(&src, argv[1]);
	query(&dst, argv[2]);
	if (src.nslots != dst.nslots)
		die("%s and %s have different memory layouts", argv[1], argv[2]);
	for (i = 0; i < src.nslots; i++)
		if (src.gpa[i] != dst.gpa[i] || src.size[i] != dst.size[i])
			die("%s and %s have different memory layouts", argv[1], argv[2]);

	snprintf(path, sizeof(path), "/proc/%d/mem", src.pid);
	src.mem = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/mem", dst.pid);
	dst.mem = open(path, O_RDWR);
	buf = malloc(CHUNK);
	if (src.mem < 0 || dst.mem < 0 || !buf)
		die("cannot open the VMMs' memory: %s%s", strerror(errno), "");

	for (i = 0; i < src.nslots; i++) {
		uint64_t off;

		for (off = 0; off < src.size[i]; off += CHUNK) {
			uint64_t len = src.size[i] - off < CHUNK ? src.size[i] - off : CHUNK, p;

			if (pread(src.mem, buf, len, src.hva[i] + off) != (ssize_t)len)
				die("reading the source's memory: %s%s", strerror(errno), "");
			for (p = 0; p < len; p += PAGE) {
				if (is_zero(buf + p)) {
					zero++;
					continue;
				}
				if (pwrite(dst.mem, buf + p, PAGE, dst.hva[i] + off + p) != PAGE)
					die("writing the destination's memory: %s%s",
					    strerror(errno), "");
				copied++;
			}
		}
	}

	if (corrupt) {
		for (i = 0; i < dst.nslots; i++) {
			uint8_t b;
			uint64_t at;

			if (corrupt < dst.gpa[i] || corrupt >= dst.gpa[i] + dst.size[i])
				continue;
			at = dst.hva[i] + corrupt - dst.gpa[i];
			if (pread(dst.mem, &b, 1, at) != 1)
				die("reading the byte to corrupt: %s%s", strerror(errno), "");
			b ^= 0x5a;
			if (pwrite(dst.mem, &b, 1, at) != 1)
				die("corrupting: %s%s", strerror(errno), "");
			printf("corrupted the byte at GPA 0x%" PRIx64 "\n", corrupt);
			break;
		}
		if (i == dst.nslots)
			die("GPA %s is not in guest memory%s", argv[4], "");
	}
	printf("copied %" PRIu64 " pages (%" PRIu64 " MiB), skipped %" PRIu64 " zero pages\n",
	       copied, copied * PAGE >> 20, zero);
	return 0;
}
