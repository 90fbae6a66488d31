/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmvm: a small KVM VMM whose guest dirties memory and checks itself.
 */
#ifndef LMVM_H
#define LMVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/abi.h"

#define LMVM_SLOTS 2

struct slot {
	uint64_t gpa, size;
	uint8_t *hva;
};

struct vcpu {
	struct vm *vm;
	int index, fd;
	struct kvm_run *run;
	pthread_t thread;
	/* Pacing: pages written since pace_start (CLOCK_MONOTONIC ns). */
	uint64_t pace_start_ns, pace_pages;
	bool parked, started;
};

enum vm_status { VM_RUNNING, VM_PAUSED, VM_INMIGRATE, VM_CRASHED };

struct vm {
	int kvm, fd;
	uint64_t mem_size;
	int nvcpus;
	struct slot slots[LMVM_SLOTS];
	struct vcpu vcpus[LMVM_MAX_VCPUS];
	uint64_t rate;		/* bytes per second per vCPU; 0 = idle */
	bool rate_max;
	enum lmvm_pattern pattern;
	bool fill;		/* the guest writes every page once first */
	bool incoming, state_loaded;

	pthread_mutex_t lock;
	pthread_cond_t cond;	/* parked/unparked, checks, heartbeats */
	enum vm_status status;
	bool quit;
	char crash[256];

	/* Guest self-check: the sequence asked for and vCPUs that finished it. */
	uint32_t check_seq;
	int checks_done;

	/* Heartbeats as the VMM saw them, CLOCK_REALTIME ns. */
	uint64_t beat_count, beat_last_ns, beat_max_gap_ns;

	/* MSRs that this host can save and restore. */
	uint32_t *msr_index;
	int nmsrs;
	struct kvm_cpuid2 *cpuid;
};

/* vm.c */
int vm_create(struct vm *vm);
int vm_start(struct vm *vm);
void vm_pause(struct vm *vm);
void vm_resume(struct vm *vm);
void vm_shutdown(struct vm *vm);
struct lmvm_control *vm_control(struct vm *vm);
int vm_guest_check(struct vm *vm, char *out, size_t len);
uint64_t now_ns(int clock);

/* state.c */
int state_save(struct vm *vm, uint8_t **blob, size_t *len, char *err, size_t errlen);
int state_load(struct vm *vm, const uint8_t *blob, size_t len, char *err, size_t errlen);

/* qmp.c */
int qmp_serve(struct vm *vm, const char *path, int stop_fd);

/* util.c */
char *base64_encode(const uint8_t *data, size_t len);
uint8_t *base64_decode(const char *s, size_t *len);
void memory_digest(const uint8_t *p, uint64_t len, char hex[33]);

#endif
