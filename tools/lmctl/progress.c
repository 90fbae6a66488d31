// SPDX-License-Identifier: GPL-2.0
/* A session while it runs and once it has finished, as the operator sees it. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "json.h"
#include "lmctl.h"
#include "progress.h"

#define PAGE		4096
#define MIB		(1024.0 * 1024.0)
#define WAIT_SLICE_MS	1000

volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

void catch_interrupts(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int wait_finished(int fd, __u32 id, void *blob, __u32 capacity, struct lmig_session_wait *w)
{
	for (;;) {
		int err;

		if (interrupted)
			return -EINTR;
		err = ipc_session_wait(fd, id, WAIT_SLICE_MS, blob, capacity, w);
		if (err != -ETIMEDOUT && err != -EINTR)
			return err;
	}
}

int state_finished(__u32 state)
{
	return state == LMIG_STATE_COMPLETED || state == LMIG_STATE_FAILED ||
	       state == LMIG_STATE_CANCELLED || state == LMIG_STATE_IN_DOUBT;
}

/* Bytes moved: the module counts bytes; pages are the fallback. */
static unsigned long long moved(const struct lmig_status *st)
{
	return st->transferred_bytes ? st->transferred_bytes : st->transferred_pages * PAGE;
}

void progress_init(struct progress *p, FILE *f)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->tty = isatty(fileno(f));
}

void progress_sample(struct progress *p, const struct lmig_status *st)
{
	double t = now_ms(), dt = t - p->sample_ms;
	unsigned long long bytes = moved(st);

	if (st->rounds != p->round_seen) {
		p->round_seen = st->rounds;
		p->prev_round_left = p->round_left;
		p->round_left = st->remaining_pages;
	}
	if (!p->sample_ms) {
		/* Until lmctl has measured for itself, the session's average. */
		if (st->total_time_ms > st->setup_time_ms)
			p->rate = bytes * 1e3 / (st->total_time_ms - st->setup_time_ms);
	} else if (dt >= 1000) {
		double now = (bytes - p->last_bytes) * 1e3 / dt;

		p->rate = p->rate ? (p->rate + now) / 2 : now;
	} else {
		return;
	}
	p->sample_ms = t;
	p->last_bytes = bytes;
}

static unsigned long long limit_ms(const struct lmig_status *st)
{
	return st->downtime_limit_ms ? st->downtime_limit_ms : LMIG_DEFAULT_DOWNTIME_MS;
}

/*
 * Pages the current round has left. In round 0 the module reports all
 * memory as left; what it sent, data or zero, is done.
 */
static unsigned long long pages_left(const struct lmig_status *st)
{
	unsigned long long done = st->transferred_pages + st->zero_pages;

	if (st->rounds)
		return st->remaining_pages;
	return done < st->total_pages ? st->total_pages - done : 0;
}

static unsigned int percent(const struct lmig_status *st)
{
	unsigned long long left = pages_left(st);

	if (!st->total_pages || left > st->total_pages)
		return 0;
	return (st->total_pages - left) * 100 / st->total_pages;
}

/*
 * Bytes per second over the link: the module's measure (throughput_mbps is
 * in megabits per second), which its expected downtime is computed from;
 * lmctl's own until it has one.
 */
static double link_rate(const struct progress *p, const struct lmig_status *st)
{
	return st->throughput_mbps ? st->throughput_mbps * 1e6 / 8 : p->rate;
}

/* ", 7.1 MiB/s", or nothing before a rate is known. */
static void rate_text(double rate, const char *prefix, char *buf, size_t len)
{
	if (rate)
		snprintf(buf, len, "%s%.1f MiB/s", prefix, rate / MIB);
	else
		buf[0] = '\0';
}

/* A source migrating: how far, how fast, and whether it will converge. */
static void source_line(const struct progress *p, const struct lmig_status *st, char *buf,
			size_t len)
{
	unsigned long long need = st->expected_downtime_ms, left = pages_left(st);
	double dirty = st->dirty_rate_pps * (double)PAGE, rate = link_rate(p, st);
	char rtext[32];
	int n;

	if (!need && rate)
		need = left * PAGE * 1e3 / rate;
	n = snprintf(buf, len, "session %u: %s, round %llu, ", st->id, state_name(st->state),
		     (unsigned long long)st->rounds);
	if (n < 0 || (size_t)n >= len)
		return;
	buf += n;
	len -= n;
	/*
	 * Past the full pass of round 0, the pages left are what the guest
	 * dirtied. Rounds that shrink are converging, even while the pages
	 * left now would take too long: judge by rounds, not by one moment.
	 */
	if (st->state == LMIG_STATE_ACTIVE && st->rounds >= 2 && need > limit_ms(st) &&
	    p->prev_round_left && p->round_left * 10 >= p->prev_round_left * 9) {
		rate_text(rate, " at ", rtext, sizeof(rtext));
		n = snprintf(buf, len, "not converging: %llu pages left need %llu ms%s, limit %llu ms",
			     left, need, rtext, limit_ms(st));
		if (n > 0 && (size_t)n < len && dirty)
			snprintf(buf + n, len - n, " (dirty rate %.1f MiB/s%s)", dirty / MIB,
				 rate && dirty >= rate ? " > link" : "");
		return;
	}
	rate_text(rate, ", ", rtext, sizeof(rtext));
	n = snprintf(buf, len, "%u%%, %llu pages left%s", percent(st), left, rtext);
	if (n > 0 && (size_t)n < len && st->expected_downtime_ms)
		snprintf(buf + n, len - n, ", downtime %llu ms (limit %llu ms)",
			 (unsigned long long)st->expected_downtime_ms, limit_ms(st));
}

const char *end_reason(const struct lmig_status *st, char *buf, size_t len)
{
	if (st->message[0])
		snprintf(buf, len, "%.*s", (int)sizeof(st->message), st->message);
	else if (st->error)
		snprintf(buf, len, "%s", strerror(-st->error));
	else if (len)
		buf[0] = '\0';
	return buf;
}

static void line(const struct progress *p, const struct lmig_status *st, char *buf, size_t len)
{
	char why[sizeof(st->message) + 1];

	if (state_finished(st->state)) {
		end_reason(st, why, sizeof(why));
		snprintf(buf, len, "session %u: %s%s%s", st->id, state_name(st->state),
			 why[0] ? ": " : "", why);
	} else if (st->state == LMIG_STATE_SETUP) {
		snprintf(buf, len, "session %u: setup%s%.*s", st->id, st->message[0] ? ", " : "",
			 (int)sizeof(st->message), st->message);
	} else if (st->role == LMIG_ROLE_SOURCE) {
		source_line(p, st, buf, len);
	} else {
		char rate[32];

		rate_text(link_rate(p, st), ", ", rate, sizeof(rate));
		snprintf(buf, len, "session %u: %s, round %llu, %llu of %llu pages received%s",
			 st->id, state_name(st->state), (unsigned long long)st->rounds,
			 (unsigned long long)st->transferred_pages,
			 (unsigned long long)st->total_pages, rate);
	}
}

void progress_show(struct progress *p, const struct lmig_status *st)
{
	struct winsize ws;
	char buf[512];

	line(p, st, buf, sizeof(buf));
	if (!p->tty) {
		fprintf(p->f, "%s\n", buf);
		fflush(p->f);
		return;
	}
	/* A line longer than the terminal would wrap and never be redrawn. */
	if (!ioctl(fileno(p->f), TIOCGWINSZ, &ws) && ws.ws_col > 1 && ws.ws_col <= sizeof(buf))
		buf[ws.ws_col - 1] = '\0';
	fprintf(p->f, "\r\033[K%s", buf);
	fflush(p->f);
	p->drawn = 1;
}

void progress_end(struct progress *p)
{
	if (p->drawn)
		fputc('\n', p->f);
	p->drawn = 0;
}

void progress_clear(struct progress *p)
{
	if (p->drawn)
		fprintf(p->f, "\r\033[K");
	fflush(p->f);
	p->drawn = 0;
}

static void summary_json(const struct lmig_status *st, double lmctl_downtime_ms,
			 long long blob_len, unsigned long long bps)
{
	printf("{\"id\": %u, \"role\": \"%s\", \"state\": \"%s\", \"error\": %d, \"message\": ",
	       st->id, role_name(st->role), state_name(st->state), st->error);
	json_print_string(stdout, st->message, sizeof(st->message));
	printf(", \"total_time_ms\": %llu, \"downtime_ms\": %llu",
	       (unsigned long long)st->total_time_ms, (unsigned long long)st->downtime_ms);
	if (lmctl_downtime_ms >= 0)
		printf(", \"measured_downtime_ms\": %.0f", lmctl_downtime_ms);
	printf(", \"rounds\": %llu, \"transferred_pages\": %llu, \"transferred_bytes\": %llu, "
	       "\"zero_pages\": %llu, \"throughput_bytes_per_s\": %llu, \"qps\": %llu",
	       (unsigned long long)st->rounds, (unsigned long long)st->transferred_pages,
	       (unsigned long long)moved(st), (unsigned long long)st->zero_pages, bps,
	       (unsigned long long)st->qps);
	if (blob_len >= 0)
		printf(", \"blob_len\": %lld", blob_len);
	printf("}\n");
}

void summary_print(const struct lmig_status *st, double lmctl_downtime_ms, long long blob_len,
		   int json)
{
	unsigned long long busy = st->total_time_ms > st->setup_time_ms ?
				  st->total_time_ms - st->setup_time_ms : st->total_time_ms;
	unsigned long long bps = busy ? moved(st) * 1000 / busy : 0;
	const char *moved_as = st->role == LMIG_ROLE_SOURCE ? "sent:        " : "received:    ";
	char why[sizeof(st->message) + 1];

	if (json) {
		summary_json(st, lmctl_downtime_ms, blob_len, bps);
		return;
	}
	printf("session %u %s in %.1f s", st->id, state_name(st->state), st->total_time_ms / 1e3);
	end_reason(st, why, sizeof(why));
	printf("%s%s\n", why[0] ? ": " : "", why);
	if (st->state != LMIG_STATE_COMPLETED)
		return;
	if (lmctl_downtime_ms >= 0)
		printf("  downtime:    %.0f ms from pausing the VM to completion (the module: %llu ms)\n",
		       lmctl_downtime_ms, (unsigned long long)st->downtime_ms);
	else if (st->role == LMIG_ROLE_SOURCE)
		printf("  downtime:    %llu ms\n", (unsigned long long)st->downtime_ms);
	printf("  rounds:      %llu\n", (unsigned long long)st->rounds);
	printf("  %s%llu pages, %.1f MiB; %llu zero pages\n", moved_as,
	       (unsigned long long)st->transferred_pages, moved(st) / MIB,
	       (unsigned long long)st->zero_pages);
	printf("  throughput:  %.1f MiB/s", bps / MIB);
	if (st->qps > 1)
		printf(" over %llu QPs", (unsigned long long)st->qps);
	printf("\n");
	if (blob_len >= 0)
		printf("  VMM state:   %lld bytes\n", blob_len);
}
