/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A few TAP helpers for the rig's C test programs, in the spirit of
 * kselftest.h: a plan, ok/not ok lines with a description, skips, and an
 * exit status the runner understands (0 pass, 1 fail, 4 skip).
 */
#ifndef LMIG_TAP_H
#define LMIG_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_SKIP 4

static int tap_count, tap_failed;

static inline void tap_plan(int n)
{
	printf("TAP version 13\n1..%d\n", n);
	fflush(stdout);
}

static inline void tap_vresult(int pass, const char *fmt, va_list ap)
{
	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	if (!pass)
		tap_failed++;
}

/* One result; returns pass so that callers can stop early on failure. */
static inline int tap_ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* The whole program cannot run here: say why and exit as skipped. */
static inline void __attribute__((noreturn)) tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(TAP_SKIP);
}

/* A setup step failed and nothing after it can run. */
static inline void __attribute__((noreturn)) tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (errno %d: %s)\n", errno, strerror(errno));
	exit(1);
}

static inline int tap_exit(void)
{
	return tap_failed ? 1 : 0;
}

#endif /* LMIG_TAP_H */
