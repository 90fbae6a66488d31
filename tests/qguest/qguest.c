// SPDX-License-Identifier: GPL-2.0
/*
 * qguest: a QEMU/KVM guest for lmig's tests and benchmarks, booted with
 * QEMU's -kernel (Multiboot). It fills all its RAM above 8 MiB with
 * non-zero pages, each stamped as lmvm's guest stamps them (gfn and
 * generation, tools/lmvm/guest/abi.h), then rewrites pages in order at
 * the rate given on its command line ("rate=PAGES_PER_S", 0 = idle),
 * counting each page's generation in a record at 2 MiB. It keeps time
 * with the TSC, timed once against the PIT, and polls: no interrupts and
 * no halt. In the rig, an L2 guest that halted to wait for its timer
 * once left the emulated host idle with no timer armed, hung for good
 * (QEMU TCG, nested SVM), and microvm gives no PIT interrupt unless its
 * firmware routes one; lmvm's guest, which polls the TSC, has neither
 * problem.
 *
 * On COM1 it beats once a second ("qguest: beat N, W writes") and answers
 * a 'c' with a check of every page against its record ("qguest: check ok,
 * N pages verified" or "qguest: check BAD, ..."). Everything it knows is
 * in its RAM, its registers and QEMU's PIC and PIT: what a migration has
 * to carry.
 */
#include <stdint.h>

#include "../../tools/lmvm/guest/abi.h"

#define PAGE		4096u
#define RECORD_PA	0x200000u	/* u32 generation per data page */
#define DATA_PA		0x800000u	/* first data page */
#define HZ		100u		/* ticks per second */
#define PIT_HZ		1193182u
#define CAL_TICKS	10u		/* the TSC is timed over 100 ms */
#define COM1		0x3f8

#define RECORD ((volatile uint32_t *)RECORD_PA)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;	/* KiB below 640 KiB, above 1 MiB */
	uint32_t boot_device;
	uint32_t cmdline;
};

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

struct idt_ptr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

void fault_entry(void);

static struct idt_gate idt[256];
static uint32_t npages;
static uint32_t ticks, tick_cycles;
static uint64_t next_tick;

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void con_putc(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, c);
}

static void con_puts(const char *s)
{
	while (*s)
		con_putc(*s++);
}

static void con_putu(uint32_t v)
{
	char b[11];
	int i = 0;

	do {
		b[i++] = '0' + v % 10;
		v /= 10;
	} while (v);
	while (i)
		con_putc(b[--i]);
}

static void con_putx(uint32_t v)
{
	int i;

	con_puts("0x");
	for (i = 28; i >= 0; i -= 4)
		con_putc("0123456789abcdef"[(v >> i) & 15]);
}

void qguest_fault(void)
{
	con_puts("qguest: unexpected interrupt or exception: halted\n");
}

static void set_gate(int v, void (*fn)(void))
{
	uint32_t a = (uint32_t)fn;
	uint16_t cs;

	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[v] = (struct idt_gate){ .off_lo = a & 0xffff, .sel = cs,
				    .type = 0x8e, .off_hi = a >> 16 };
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* Every vector is a fault: nothing is enabled to interrupt the guest. */
static void idt_init(void)
{
	struct idt_ptr p = { sizeof(idt) - 1, (uint32_t)idt };
	int v;

	for (v = 0; v < 256; v++)
		set_gate(v, fault_entry);
	__asm__ volatile("lidt %0" : : "m"(p));
	outb(0x21, 0xff);	/* both PICs masked */
	outb(0xa1, 0xff);
}

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(0x43, 0x00);	/* latch channel 0 */
	lo = inb(0x40);
	hi = inb(0x40);
	return lo | hi << 8;
}

/*
 * TSC cycles per tick, from the TSC over 100 ms of PIT channel 0 counting
 * down (mode 2, 65536, wrapping) polled, not interrupting. Each poll is a
 * VM exit; the time it overshoots by is a small error, which a test guest
 * can live with.
 */
static void clock_init(void)
{
	uint32_t elapsed = 0, t0;
	uint16_t prev, now;

	outb(0x43, 0x34);	/* channel 0, low then high byte, mode 2 */
	outb(0x40, 0);
	outb(0x40, 0);
	prev = pit_read();
	t0 = (uint32_t)rdtsc();
	while (elapsed < PIT_HZ / HZ * CAL_TICKS) {
		now = pit_read();
		elapsed += (uint16_t)(prev - now);
		prev = now;
	}
	tick_cycles = ((uint32_t)rdtsc() - t0) / CAL_TICKS;
	next_tick = rdtsc() + tick_cycles;
}

/* Ticks since clock_init; after a long stop it catches up at once. */
static uint32_t clock_ticks(void)
{
	while ((int64_t)(rdtsc() - next_tick) >= 0) {
		ticks++;
		next_tick += tick_cycles;
	}
	return ticks;
}

static void serial_init(void)
{
	outb(COM1 + 1, 0);	/* no interrupts: the guest polls */
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 1);	/* 115200 baud */
	outb(COM1 + 1, 0);
	outb(COM1 + 3, 3);	/* 8N1 */
	outb(COM1 + 2, 0xc7);
}

static uint32_t parse_rate(const struct multiboot_info *mbi)
{
	const char *s;
	uint32_t r = 0;

	if (!(mbi->flags & 4) || !mbi->cmdline)
		return 0;
	for (s = (const char *)mbi->cmdline; *s; s++) {
		if (s[0] == 'r' && s[1] == 'a' && s[2] == 't' && s[3] == 'e' && s[4] == '=') {
			for (s += 5; *s >= '0' && *s <= '9'; s++)
				r = r * 10 + (*s - '0');
			break;
		}
	}
	return r;
}

/* The record is counted first: a page cut short is finished on resume. */
static void write_page(uint32_t idx)
{
	uint32_t pa = DATA_PA + idx * PAGE, gen = RECORD[idx] + 1, i;
	volatile uint64_t *w = (volatile uint64_t *)pa;

	RECORD[idx] = gen;
	for (i = 0; i < PAGE / 8; i++)
		w[i] = lmvm_stamp(pa / PAGE, gen, i);
}

static void check(uint32_t writes)
{
	uint32_t idx, i, bad = 0, first_bad = 0;
	uint64_t gens = 0;

	for (idx = 0; idx < npages; idx++) {
		uint32_t pa = DATA_PA + idx * PAGE, gen = RECORD[idx];
		volatile uint64_t *w = (volatile uint64_t *)pa;

		gens += gen;
		for (i = 0; i < PAGE / 8; i++) {
			if (w[i] != lmvm_stamp(pa / PAGE, gen, i)) {
				if (!bad++)
					first_bad = pa / PAGE;
				break;
			}
		}
	}
	if (!bad && gens == (uint64_t)npages + writes) {
		con_puts("qguest: check ok, ");
		con_putu(npages);
		con_puts(" pages verified\n");
		return;
	}
	con_puts("qguest: check BAD, ");
	con_putu(bad);
	con_puts(" bad pages, first gfn ");
	con_putx(first_bad);
	con_puts(gens == (uint64_t)npages + writes ? ", generations add up\n" :
	     ", generations do not add up\n");
}

void qguest_main(const struct multiboot_info *mbi)
{
	uint32_t top, rate, idx, cursor = 0, owed = 0, writes = 0, beats = 0;
	uint32_t last, now, next_beat, t0;

	serial_init();
	if (!(mbi->flags & 1)) {
		con_puts("qguest: no memory size from the boot loader\n");
		return;
	}
	top = 0x100000 + mbi->mem_upper * 1024;
	if (top <= DATA_PA + PAGE) {
		con_puts("qguest: needs more than 8 MiB of RAM\n");
		return;
	}
	npages = (top - DATA_PA) / PAGE;
	if (npages * 4 > DATA_PA - RECORD_PA)
		npages = (DATA_PA - RECORD_PA) / 4;
	rate = parse_rate(mbi);
	idt_init();
	clock_init();
	con_puts("qguest: ");
	con_putu(npages);
	con_puts(" data pages at ");
	con_putx(DATA_PA);
	con_puts(", rate ");
	con_putu(rate);
	con_puts(" pages/s\n");

	t0 = clock_ticks();
	for (idx = 0; idx < npages; idx++) {
		RECORD[idx] = 0;
		write_page(idx);
	}
	con_puts("qguest: filled ");
	con_putu(npages);
	con_puts(" pages in ");
	con_putu((clock_ticks() - t0) * (1000 / HZ));
	con_puts(" ms\n");

	last = clock_ticks();
	next_beat = last + HZ;
	for (;;) {
		while ((now = clock_ticks()) == last)
			__asm__ volatile("pause");
		/*
		 * Pages owed for time the vCPU did not run are written now, so
		 * that a vCPU the host runs only when idle (see tests/lib.sh)
		 * still dirties at the rate asked, as lmvm's guest does. A gap
		 * over a second is not made up: a VM stopped for that long was
		 * not meant to run (QEMU restores the TSC on the destination
		 * of a migration, so its downtime barely shows anyway).
		 */
		owed += rate * (now - last > HZ ? 1 : now - last);
		last = now;
		while (owed >= HZ) {
			owed -= HZ;
			write_page(cursor);
			writes++;
			cursor = cursor + 1 < npages ? cursor + 1 : 0;
		}
		/* A check takes a while; that time is not owed. */
		if ((inb(COM1 + 5) & 1) && inb(COM1) == 'c') {
			check(writes);
			last = clock_ticks();
		}
		if ((int32_t)(now - next_beat) >= 0) {
			next_beat = now + HZ;
			con_puts("qguest: beat ");
			con_putu(++beats);
			con_puts(", ");
			con_putu(writes);
			con_puts(" writes\n");
		}
	}
}
