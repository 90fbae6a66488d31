// SPDX-License-Identifier: GPL-2.0
/*
 * The lmvm guest: every vCPU writes pages of its own share of guest memory
 * at the rate and in the pattern lmvm chose, stamping each with (gfn,
 * generation) and counting the generation in its record, so that it can
 * later prove that every page holds its latest version. vCPU 0 also beats
 * a heartbeat. No interrupts, no other state: all of it is in guest memory
 * and registers, which is what a migration has to carry.
 */
#include "abi.h"

#define CTL ((volatile struct lmvm_control *)LMVM_CONTROL_GPA)
#define RECORD ((volatile uint32_t *)LMVM_RECORD_GPA)

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* A vCPU's share of the data pages: [first, first + count). */
struct share {
	uint64_t first, count;
};

static uint64_t total_pages(void)
{
	return CTL->low_data_pages + CTL->high_data_pages;
}

static uint64_t page_gpa(uint64_t idx)
{
	if (idx < CTL->low_data_pages)
		return CTL->low_data_gpa + idx * LMVM_PAGE_SIZE;
	return CTL->high_data_gpa + (idx - CTL->low_data_pages) * LMVM_PAGE_SIZE;
}

static uint64_t xorshift(volatile struct lmvm_cpu_ctl *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rng = x;
	return x;
}

static uint64_t next_page(volatile struct lmvm_cpu_ctl *c, struct share s)
{
	uint64_t r, hot;

	switch (CTL->pattern) {
	case LMVM_PATTERN_RANDOM:
		return s.first + xorshift(c) % s.count;
	case LMVM_PATTERN_HOTCOLD:
		/* 90 % of the writes go to the first 10 % of the share. */
		r = xorshift(c);
		hot = s.count / 10 ? s.count / 10 : 1;
		if (r % 10 < 9)
			return s.first + (r >> 8) % hot;
		return s.first + (r >> 8) % s.count;
	default:
		r = c->cursor;
		c->cursor = r + 1 < s.count ? r + 1 : 0;
		return s.first + r;
	}
}

/*
 * The new generation is counted before the page is written: wherever the
 * vCPU is stopped, it finishes the page when it resumes, so record and
 * page agree again at the next PACE, where checks happen.
 */
static void write_page(volatile struct lmvm_cpu_ctl *c, uint64_t idx)
{
	uint64_t gpa = page_gpa(idx), gfn = gpa / LMVM_PAGE_SIZE;
	uint64_t gen = RECORD[idx] + 1, i;
	volatile uint64_t *w = (volatile uint64_t *)gpa;

	RECORD[idx] = gen;
	c->writes++;
	for (i = 0; i < LMVM_PAGE_SIZE / 8; i++)
		w[i] = lmvm_stamp(gfn, gen, i);
}

static void check_share(volatile struct lmvm_cpu_ctl *c, struct share s, uint64_t seq)
{
	uint64_t idx, i, bad = 0, pages = 0, gens = 0, first_bad = ~0ull;

	for (idx = s.first; idx < s.first + s.count; idx++) {
		uint64_t gen = RECORD[idx], gpa, gfn;
		volatile uint64_t *w;

		/* Never written: zero, and reading it would cost host memory. */
		if (!gen)
			continue;
		gpa = page_gpa(idx);
		gfn = gpa / LMVM_PAGE_SIZE;
		w = (volatile uint64_t *)gpa;
		pages++;
		gens += gen;
		for (i = 0; i < LMVM_PAGE_SIZE / 8; i++) {
			if (w[i] != lmvm_stamp(gfn, gen, i)) {
				if (!bad)
					first_bad = gfn;
				bad++;
				break;
			}
		}
	}
	c->check_bad = bad;
	c->check_pages = pages;
	c->check_first_bad = first_bad;
	c->check_counters_bad = gens != c->writes;
	c->check_done = seq;
	outl(LMVM_PORT_CHECK_DONE, (uint32_t)seq);
}

void guest_main(uint64_t cpu)
{
	volatile struct lmvm_cpu_ctl *c = &CTL->cpu[cpu];
	uint64_t n = CTL->nvcpus, per = total_pages() / n;
	struct share s = { .first = cpu * per, .count = per };
	uint64_t period = CTL->tsc_khz * CTL->heartbeat_us / 1000;
	uint64_t next_beat = rdtsc() + period;

	if (cpu == n - 1)
		s.count = total_pages() - s.first;
	if (!c->rng)
		c->rng = 0x2545f4914f6cdd1dull * (cpu + 1);
	outl(LMVM_PORT_STARTED, (uint32_t)cpu);

	/*
	 * A benchmark's guest holds data in every page, not zero pages a
	 * migration skips. Unpaced: the VMM sleeps in PACE to hold the rate.
	 */
	if (CTL->fill && !c->filled) {
		uint64_t idx;

		for (idx = s.first; idx < s.first + s.count; idx++)
			if (!RECORD[idx])
				write_page(c, idx);
		c->filled = 1;
	}

	for (;;) {
		uint32_t batch = CTL->batch_pages, seq, i;

		for (i = 0; i < batch && s.count; i++)
			write_page(c, next_page(c, s));

		seq = inl(LMVM_PORT_PACE);
		if (seq != (uint32_t)c->check_done)
			check_share(c, s, seq);

		if (cpu == 0 && (int64_t)(rdtsc() - next_beat) >= 0) {
			CTL->heartbeats++;
			outl(LMVM_PORT_HEARTBEAT, (uint32_t)CTL->heartbeats);
			next_beat += period;
			/* After a long stop, beat once, not once per missed period. */
			if ((int64_t)(rdtsc() - next_beat) >= 0)
				next_beat = rdtsc() + period;
		}
	}
}
