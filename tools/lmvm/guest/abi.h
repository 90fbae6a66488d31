/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What lmvm and its guest agree on: the guest-physical layout, the I/O
 * ports and the control block. Included by both sides; the guest is
 * freestanding, so only fixed-width types are used.
 */
#ifndef LMVM_ABI_H
#define LMVM_ABI_H

#include <stdint.h>

#define LMVM_PAGE_SIZE		4096ull
#define LMVM_MAX_VCPUS		64

/*
 * Guest-physical layout of the low memslot. Everything below
 * LMVM_RESERVED_END plus the record is the guest's own; data pages follow.
 */
#define LMVM_GDT_GPA		0x1000ull
#define LMVM_PML4_GPA		0x2000ull
#define LMVM_PDPT_GPA		0x3000ull
#define LMVM_PD_GPA		0x10000ull	/* one page per GiB mapped */
#define LMVM_PD_MAX		80		/* maps 80 GiB of address space */
#define LMVM_CONTROL_GPA	0x60000ull
#define LMVM_STACK_GPA		0x100000ull	/* 16 KiB per vCPU */
#define LMVM_STACK_SIZE		0x4000ull
#define LMVM_CODE_GPA		0x200000ull	/* the guest is linked here */
#define LMVM_CODE_MAX		0x100000ull
#define LMVM_RECORD_GPA		0x400000ull	/* u32 generation per data page */
#define LMVM_HIGH_GPA		(4ull << 30)	/* above the PC hole */

/*
 * Ports. The guest reads PACE after each batch of pages: the VMM sleeps
 * there to hold the dirty rate and answers with the current check request.
 * The other ports are written.
 */
#define LMVM_PORT_PACE		0x510	/* in: check sequence; the VMM may sleep */
#define LMVM_PORT_HEARTBEAT	0x511	/* out: heartbeat counter (vCPU 0) */
#define LMVM_PORT_CHECK_DONE	0x512	/* out: check sequence just finished */
#define LMVM_PORT_STARTED	0x513	/* out: vCPU index, once */

enum lmvm_pattern {
	LMVM_PATTERN_SEQ = 0,
	LMVM_PATTERN_RANDOM = 1,
	LMVM_PATTERN_HOTCOLD = 2,
};

/* Per-vCPU part of the control block: written by the guest only. */
struct lmvm_cpu_ctl {
	uint64_t writes;	/* pages written, all generations */
	uint64_t cursor;	/* next page for the seq pattern */
	uint64_t rng;		/* xorshift state for random/hotcold */
	uint64_t check_done;	/* last check sequence finished */
	uint64_t check_bad;	/* pages whose content is not their stamp */
	uint64_t check_pages;	/* written pages verified */
	uint64_t check_first_bad;	/* gfn of the first bad page */
	uint64_t check_counters_bad;	/* sum of generations != writes */
	uint64_t filled;	/* 1 once the share was written all through */
};

/*
 * The control block, at LMVM_CONTROL_GPA. The VMM fills the first part
 * before the guest starts and never writes guest memory afterwards: a
 * VMM's writes are invisible to KVM's dirty log, and so to a migration.
 */
struct lmvm_control {
	uint64_t magic;
	uint32_t version;
	uint32_t nvcpus;
	uint64_t low_data_gpa;		/* first data page in the low slot */
	uint64_t low_data_pages;
	uint64_t high_data_gpa;		/* first data page above the hole */
	uint64_t high_data_pages;
	uint32_t pattern;		/* enum lmvm_pattern */
	uint32_t batch_pages;		/* pages between two PACE reads */
	uint32_t fill;			/* write every page once, at full speed, first */
	uint32_t reserved0;
	uint64_t tsc_khz;
	uint64_t heartbeat_us;
	/* Written by the guest. */
	uint64_t heartbeats;
	uint64_t reserved[6];
	struct lmvm_cpu_ctl cpu[LMVM_MAX_VCPUS];
};

#define LMVM_CONTROL_MAGIC	0x4c4d564d43544c31ull	/* "LMVMCTL1" */
#define LMVM_CONTROL_VERSION	2

/*
 * The stamp of a data page: word i of page gfn at generation gen. Word 0
 * names the page and word 1 the generation; the rest make the page's
 * content depend on both, so a stale or misplaced page never passes.
 */
#define LMVM_STAMP_MAGIC	0x5354414d50000000ull	/* "STAMP" */

static inline uint64_t lmvm_stamp(uint64_t gfn, uint64_t gen, uint64_t i)
{
	if (i == 0)
		return LMVM_STAMP_MAGIC ^ gfn;
	if (i == 1)
		return gen;
	return (gfn * 0x9e3779b97f4a7c15ull) ^ (gen * 0xc2b2ae3d27d4eb4full) ^
	       (i * 0x165667b19e3779f9ull);
}

#endif /* LMVM_ABI_H */
