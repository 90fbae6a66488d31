// SPDX-License-Identifier: GPL-2.0
/*
 * LMIG_START_MEASURE: a worker that harvests the dirty log every interval
 * and reports how fast the guest dirties its memory, sending nothing.
 * An operator learns from it whether a VM can converge over a link before
 * trying.
 */
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "lmig.h"

struct measure {
	struct lmig_session *s;
	struct lmig_harvest *h;
	u32 interval_ms;
};

static void measure_free(void *work)
{
	struct measure *m = work;

	lmig_harvest_free(m->h);
	kfree(m);
}

static void record(struct lmig_session *s, u64 dirty, u64 ms)
{
	spin_lock(&s->stats_lock);
	s->stats.rounds++;
	s->stats.remaining_pages = dirty;
	s->stats.dirty_rate_pps = ms ? div64_u64(dirty * 1000, ms) : 0;
	spin_unlock(&s->stats_lock);
}

static int measure_thread(void *arg)
{
	struct measure *m = arg;
	struct lmig_session *s = m->s;
	ktime_t last;
	u64 dirty;
	long ret;

	kthread_use_mm(s->vm->mm);
	ret = lmig_harvest_begin(m->h);
	last = ktime_get();
	while (!ret && !kthread_should_stop()) {
		ktime_t now;

		/* kthread_stop() wakes this sleep early. */
		schedule_timeout_interruptible(msecs_to_jiffies(m->interval_ms));
		if (kthread_should_stop())
			break;
		ret = lmig_harvest_all(m->h, &dirty);
		now = ktime_get();
		if (!ret)
			record(s, dirty, ktime_ms_delta(now, last));
		last = now;
	}
	lmig_harvest_end(m->h);
	kthread_unuse_mm(s->vm->mm);
	if (ret)
		lmig_worker_fail(s, ret, "%s", lmig_harvest_why(m->h));
	lmig_worker_park();
	return 0;
}

int lmig_measure_start(struct lmig_session *s, u32 interval_ms)
{
	struct measure *m;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->s = s;
	m->interval_ms = interval_ms;
	m->h = lmig_harvest_alloc(s->vm, s->id);
	if (!m->h) {
		kfree(m);
		return -ENOMEM;
	}
	return lmig_worker_run(s, measure_thread, m, measure_free, "measure");
}
