/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the long-running commands (start, watch, finalize, wait) share:
 * catching interrupts, waiting for a session, its progress line and the
 * summary at the end.
 */
#ifndef LMCTL_PROGRESS_H
#define LMCTL_PROGRESS_H

#include <signal.h>
#include <stdio.h>
#include <linux/lmig.h>

/* Not a terminal: a progress line this often. */
#define LOG_EVERY_MS	2000

/* The signal (SIGINT, SIGTERM) that asked lmctl to stop, or 0. */
extern volatile sig_atomic_t interrupted;
/*
 * From here on SIGINT and SIGTERM set interrupted and interrupt a blocking
 * call (no SA_RESTART) instead of ending lmctl: it has a session to clean.
 */
void catch_interrupts(void);

double now_ms(void);
void sleep_ms(unsigned int ms);

/*
 * LMIG_IOC_SESSION_WAIT until the session has finished, in slices so that
 * an interrupt is never missed. Returns 0 with w filled, -EINTR when
 * interrupted, or another -errno.
 */
int wait_finished(int fd, __u32 id, void *blob, __u32 capacity, struct lmig_session_wait *w);

/* Completed, failed, cancelled or in doubt: the state will not change. */
int state_finished(__u32 state);

/*
 * Why a session ended as it did, in buf: the module's message, which
 * names the cause (and the errno) in words, else the errno's text; empty
 * when there is neither. Returns buf.
 */
const char *end_reason(const struct lmig_status *st, char *buf, size_t len);

struct progress {
	FILE *f;
	int tty;		/* redraw one line in place */
	int drawn;		/* a line is on the screen, not ended */
	double rate;		/* bytes per second, smoothed; 0 until known */
	double sample_ms;	/* when last_bytes was read */
	unsigned long long last_bytes;
	/*
	 * Pages left when lmctl first saw each of the last two rounds: while
	 * that shrinks round after round, the session is on its way.
	 */
	unsigned long long round_seen, round_left, prev_round_left;
};

void progress_init(struct progress *p, FILE *f);
/* Takes a status into the rate; call it on every status read. */
void progress_sample(struct progress *p, const struct lmig_status *st);
/* The line for st: on a tty redrawn in place, else a line of its own. */
void progress_show(struct progress *p, const struct lmig_status *st);
/* Ends a line left open on a tty, or erases it. */
void progress_end(struct progress *p);
void progress_clear(struct progress *p);

/*
 * A finished session to stdout: time, downtime, rounds, pages, throughput.
 * lmctl_downtime_ms is the downtime lmctl saw (VMM stop to completion),
 * negative if it did not pause the VMM; blob_len the state received (a
 * destination), negative if unknown.
 */
void summary_print(const struct lmig_status *st, double lmctl_downtime_ms, long long blob_len,
		   int json);

#endif
