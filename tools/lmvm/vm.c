// SPDX-License-Identifier: GPL-2.0
/*
 * The VM: memslots, the guest's 64-bit environment, vCPU threads and the
 * exits the guest makes (pacing, heartbeats, self-checks).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lmvm.h"

extern const uint8_t lmvm_guest_start[], lmvm_guest_end[];

#define HEARTBEAT_US	20000
#define GIB		(1ull << 30)
#define MIB		(1ull << 20)

uint64_t now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct lmvm_control *vm_control(struct vm *vm)
{
	return (struct lmvm_control *)(vm->slots[0].hva + LMVM_CONTROL_GPA);
}

/*
 * Like a PC, memory sits below and above a hole under 4 GiB; unlike a PC,
 * even a small VM has both parts, so that every layout has two memslots.
 */
static void layout(struct vm *vm)
{
	uint64_t low = vm->mem_size / 2;

	if (low > 3 * GIB)
		low = 3 * GIB;
	low &= ~(2 * MIB - 1);
	vm->slots[0].gpa = 0;
	vm->slots[0].size = low;
	vm->slots[1].gpa = LMVM_HIGH_GPA;
	vm->slots[1].size = vm->mem_size - low;
}

/* The first data page of the low slot, after the guest's own pages. */
static uint64_t low_data_gpa(struct vm *vm)
{
	uint64_t record = vm->mem_size / LMVM_PAGE_SIZE * sizeof(uint32_t);

	return (LMVM_RECORD_GPA + record + 2 * MIB - 1) & ~(2 * MIB - 1);
}

static int map_slots(struct vm *vm)
{
	int i;

	for (i = 0; i < LMVM_SLOTS; i++) {
		struct slot *s = &vm->slots[i];
		struct kvm_userspace_memory_region r = {
			.slot = i,
			.guest_phys_addr = s->gpa,
			.memory_size = s->size,
		};

		/* Untouched guest memory costs the host nothing. */
		s->hva = mmap(NULL, s->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (s->hva == MAP_FAILED) {
			fprintf(stderr, "lmvm: cannot reserve %llu MiB of guest memory: %s\n",
				(unsigned long long)(s->size / MIB), strerror(errno));
			return -1;
		}
		/*
		 * With transparent huge pages one scattered write would
		 * populate 2 MiB; keep the cost of memory at what was touched.
		 */
		madvise(s->hva, s->size, MADV_NOHUGEPAGE);
		r.userspace_addr = (uintptr_t)s->hva;
		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			fprintf(stderr, "lmvm: KVM_SET_USER_MEMORY_REGION slot %d: %s\n", i,
				strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Identity map of all guest-physical space in use, with 2 MiB pages. */
static void build_page_tables(struct vm *vm)
{
	uint8_t *mem = vm->slots[0].hva;
	uint64_t *pml4 = (uint64_t *)(mem + LMVM_PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(mem + LMVM_PDPT_GPA);
	uint64_t end = vm->slots[1].gpa + vm->slots[1].size;
	uint64_t gibs = (end + GIB - 1) / GIB, i, j;

	pml4[0] = LMVM_PDPT_GPA | 0x3;				/* present, writable */
	for (i = 0; i < gibs; i++) {
		uint64_t *pd = (uint64_t *)(mem + LMVM_PD_GPA + i * LMVM_PAGE_SIZE);

		pdpt[i] = (LMVM_PD_GPA + i * LMVM_PAGE_SIZE) | 0x3;
		for (j = 0; j < 512; j++)
			pd[j] = (i * GIB + j * 2 * MIB) | 0x83;	/* 2 MiB page */
	}
}

static void build_gdt(struct vm *vm)
{
	uint64_t *gdt = (uint64_t *)(vm->slots[0].hva + LMVM_GDT_GPA);

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffull;	/* 0x08: 64-bit code */
	gdt[2] = 0x00cf93000000ffffull;	/* 0x10: data */
	gdt[3] = 0x00008b0000000067ull;	/* 0x18: 64-bit TSS (busy), base 0 */
	gdt[4] = 0;
}

static int setup_guest(struct vm *vm)
{
	struct lmvm_control *ctl = vm_control(vm);
	uint64_t code = lmvm_guest_end - lmvm_guest_start;
	uint64_t low_data = low_data_gpa(vm);
	long khz;

	if (code > LMVM_CODE_MAX)
		return -1;
	memcpy(vm->slots[0].hva + LMVM_CODE_GPA, lmvm_guest_start, code);
	build_gdt(vm);
	build_page_tables(vm);

	khz = ioctl(vm->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	ctl->magic = LMVM_CONTROL_MAGIC;
	ctl->version = LMVM_CONTROL_VERSION;
	ctl->nvcpus = vm->nvcpus;
	ctl->low_data_gpa = low_data;
	ctl->low_data_pages = (vm->slots[0].size - low_data) / LMVM_PAGE_SIZE;
	ctl->high_data_gpa = vm->slots[1].gpa;
	ctl->high_data_pages = vm->slots[1].size / LMVM_PAGE_SIZE;
	ctl->pattern = vm->pattern;
	ctl->fill = vm->fill;
	ctl->tsc_khz = khz > 0 ? (uint64_t)khz : 1000000;
	ctl->heartbeat_us = HEARTBEAT_US;
	/* About a hundred PACE exits a second per vCPU. */
	if (vm->rate_max)
		ctl->batch_pages = 256;
	else if (!vm->rate)
		ctl->batch_pages = 0;
	else {
		uint64_t b = vm->rate / LMVM_PAGE_SIZE / 100;

		ctl->batch_pages = b < 1 ? 1 : b > 256 ? 256 : b;
	}
	return 0;
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

/* Every vCPU starts straight in 64-bit mode at the guest's entry. */
static int setup_vcpu_regs(struct vm *vm, struct vcpu *v)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
		.rip = LMVM_CODE_GPA,
		.rsp = LMVM_STACK_GPA + (v->index + 1) * LMVM_STACK_SIZE,
		.rdi = v->index,
		.rflags = 0x2,
	};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	set_seg(&sregs.cs, 0x08, 0xb, true);
	set_seg(&sregs.ds, 0x10, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = 0x18;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	sregs.gdt.base = LMVM_GDT_GPA;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.cr3 = LMVM_PML4_GPA;
	sregs.cr4 = 0x20 | 0x200 | 0x400;	/* PAE, OSFXSR, OSXMMEXCPT */
	sregs.cr0 = 0x80050033;			/* PG, AM, WP, NE, ET, MP, PE */
	sregs.efer = 0x500;			/* LMA, LME */
	(void)vm;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -1;
	return 0;
}

/*
 * The MSRs KVM lists as worth saving, less those this host cannot read or
 * write back (the list is a superset on some hosts: KVM's paravirtual
 * MSRs, for one, refuse values their CPUID bits do not allow). Writing
 * back the value just read changes nothing in a new vCPU.
 */
static int probe_msrs(struct vm *vm)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} one;
	uint32_t i;

	if (ioctl(vm->kvm, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -1;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	vm->msr_index = calloc(probe.nmsrs + 1, sizeof(uint32_t));
	if (!list || !vm->msr_index)
		return -1;
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return -1;
	}
	for (i = 0; i < list->nmsrs; i++) {
		memset(&one, 0, sizeof(one));
		one.h.nmsrs = 1;
		one.e.index = list->indices[i];
		if (ioctl(vm->vcpus[0].fd, KVM_GET_MSRS, &one) == 1 &&
		    ioctl(vm->vcpus[0].fd, KVM_SET_MSRS, &one) == 1)
			vm->msr_index[vm->nmsrs++] = list->indices[i];
	}
	free(list);
	return 0;
}

static int get_cpuid(struct vm *vm)
{
	int n = 64;

	for (;;) {
		vm->cpuid = calloc(1, sizeof(*vm->cpuid) + n * sizeof(struct kvm_cpuid_entry2));
		if (!vm->cpuid)
			return -1;
		vm->cpuid->nent = n;
		if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, vm->cpuid) == 0)
			return 0;
		free(vm->cpuid);
		vm->cpuid = NULL;
		if (errno != E2BIG || n > 4096)
			return -1;
		n *= 2;
	}
}

int vm_create(struct vm *vm)
{
	int i, run_size;

	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0) {
		fprintf(stderr, "lmvm: /dev/kvm: %s (is KVM loaded, and are you allowed to use it?)\n",
			strerror(errno));
		return -1;
	}
	if (ioctl(vm->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "lmvm: unexpected KVM API version\n");
		return -1;
	}
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		fprintf(stderr, "lmvm: KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
	/* Intel needs a TSS for real mode; harmless elsewhere, out of the way. */
	ioctl(vm->fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	layout(vm);
	if (map_slots(vm) || get_cpuid(vm)) {
		fprintf(stderr, "lmvm: cannot set up guest memory or CPUID: %s\n", strerror(errno));
		return -1;
	}

	run_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->vm = vm;
		v->index = i;
		v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0 || run_size <= 0) {
			fprintf(stderr, "lmvm: KVM_CREATE_VCPU %d: %s\n", i, strerror(errno));
			return -1;
		}
		v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED || ioctl(v->fd, KVM_SET_CPUID2, vm->cpuid) < 0) {
			fprintf(stderr, "lmvm: vCPU %d setup: %s\n", i, strerror(errno));
			return -1;
		}
	}
	if (probe_msrs(vm)) {
		fprintf(stderr, "lmvm: cannot list the MSRs to save: %s\n", strerror(errno));
		return -1;
	}
	if (vm->incoming) {
		/* Memory and state arrive later: lmig, then x-load-state. */
		vm->status = VM_INMIGRATE;
		return 0;
	}
	if (setup_guest(vm)) {
		fprintf(stderr, "lmvm: the guest does not fit\n");
		return -1;
	}
	for (i = 0; i < vm->nvcpus; i++) {
		if (setup_vcpu_regs(vm, &vm->vcpus[i])) {
			fprintf(stderr, "lmvm: vCPU %d registers: %s\n", i, strerror(errno));
			return -1;
		}
	}
	vm->status = VM_RUNNING;
	return 0;
}

static void crash(struct vcpu *v, const char *why)
{
	struct vm *vm = v->vm;
	struct kvm_regs regs = { 0 };

	ioctl(v->fd, KVM_GET_REGS, &regs);
	pthread_mutex_lock(&vm->lock);
	if (vm->status != VM_CRASHED) {
		snprintf(vm->crash, sizeof(vm->crash), "vCPU %d: %s at rip 0x%llx",
			 v->index, why, (unsigned long long)regs.rip);
		fprintf(stderr, "lmvm: guest stopped: %s\n", vm->crash);
	}
	vm->status = VM_CRASHED;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* Hold the vCPU to its share of the dirty rate; a signal cuts the sleep. */
static void pace(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct lmvm_control *ctl = vm_control(vm);
	uint64_t now = now_ns(CLOCK_MONOTONIC), due, cap = HEARTBEAT_US * 1000ull / 2;
	struct timespec ts;

	if (vm->rate_max)
		return;
	v->pace_pages += ctl->batch_pages;
	due = vm->rate ? v->pace_start_ns + v->pace_pages * LMVM_PAGE_SIZE * 1000000000ull / vm->rate
		       : now + cap;
	if (due <= now)
		return;
	if (due - now > cap)
		due = now + cap;
	ts.tv_sec = (due - now) / 1000000000ull;
	ts.tv_nsec = (due - now) % 1000000000ull;
	nanosleep(&ts, NULL);
}

static void heartbeat(struct vm *vm, uint32_t count)
{
	uint64_t now = now_ns(CLOCK_REALTIME);

	pthread_mutex_lock(&vm->lock);
	if (vm->beat_last_ns && now - vm->beat_last_ns > vm->beat_max_gap_ns)
		vm->beat_max_gap_ns = now - vm->beat_last_ns;
	vm->beat_last_ns = now;
	vm->beat_count = count;
	pthread_mutex_unlock(&vm->lock);
}

static void handle_io(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint32_t *data = (uint32_t *)((uint8_t *)run + run->io.data_offset);

	if (run->io.size != 4 || run->io.count != 1) {
		crash(v, "unexpected port I/O size");
		return;
	}
	switch (run->io.port) {
	case LMVM_PORT_PACE:
		if (run->io.direction != KVM_EXIT_IO_IN)
			break;
		*data = __atomic_load_n(&vm->check_seq, __ATOMIC_ACQUIRE);
		pace(v);
		return;
	case LMVM_PORT_HEARTBEAT:
		heartbeat(vm, *data);
		return;
	case LMVM_PORT_CHECK_DONE:
		pthread_mutex_lock(&vm->lock);
		if (*data == vm->check_seq)
			vm->checks_done++;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		return;
	case LMVM_PORT_STARTED:
		v->started = true;
		return;
	}
	crash(v, "I/O to an unknown port");
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;

	for (;;) {
		pthread_mutex_lock(&vm->lock);
		if (vm->status != VM_RUNNING || vm->quit) {
			/*
			 * Port I/O completes only at the next KVM_RUN: enter
			 * once with immediate_exit set before parking, so the
			 * state saved while parked is whole.
			 */
			pthread_mutex_unlock(&vm->lock);
			v->run->immediate_exit = 1;
			ioctl(v->fd, KVM_RUN, 0);
			pthread_mutex_lock(&vm->lock);
			while ((vm->status != VM_RUNNING) && !vm->quit) {
				v->parked = true;
				pthread_cond_broadcast(&vm->cond);
				pthread_cond_wait(&vm->cond, &vm->lock);
			}
			v->parked = false;
			/* Any later kick sets it again, under the lock. */
			v->run->immediate_exit = 0;
			if (vm->quit) {
				v->parked = true;
				pthread_cond_broadcast(&vm->cond);
				pthread_mutex_unlock(&vm->lock);
				return NULL;
			}
		}
		pthread_mutex_unlock(&vm->lock);

		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			crash(v, strerror(errno));
			continue;
		}
		switch (v->run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			crash(v, "guest halted");
			break;
		case KVM_EXIT_SHUTDOWN:
			crash(v, "triple fault");
			break;
		case KVM_EXIT_MMIO:
			crash(v, "access outside guest memory");
			break;
		default: {
			char why[64];

			snprintf(why, sizeof(why), "KVM exit reason %u", v->run->exit_reason);
			crash(v, why);
		}
		}
	}
}

static void kick(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nvcpus; i++) {
		vm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vm->vcpus[i].thread, SIGUSR1);
	}
}

static bool all_parked(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nvcpus; i++)
		if (!vm->vcpus[i].parked)
			return false;
	return true;
}

static void on_kick(int sig)
{
	(void)sig;
}

int vm_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = on_kick };
	int i;

	/* No SA_RESTART: the kick must interrupt KVM_RUN and pacing sleeps. */
	sigaction(SIGUSR1, &sa, NULL);
	for (i = 0; i < vm->nvcpus; i++) {
		char name[16];

		vm->vcpus[i].pace_start_ns = now_ns(CLOCK_MONOTONIC);
		if (pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]))
			return -1;
		/* QEMU's name: tools that tell guest time from VMM time know it. */
		snprintf(name, sizeof(name), "CPU %d/KVM", i);
		pthread_setname_np(vm->vcpus[i].thread, name);
	}
	return 0;
}

/* Stops every vCPU outside KVM_RUN, with its last exit completed. */
void vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->status == VM_RUNNING)
		vm->status = VM_PAUSED;
	kick(vm);
	while (!all_parked(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

void vm_resume(struct vm *vm)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->run->immediate_exit = 0;
		/* No burst to catch up on the time spent stopped. */
		v->pace_start_ns = now_ns(CLOCK_MONOTONIC);
		v->pace_pages = 0;
	}
	vm->status = VM_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_shutdown(struct vm *vm)
{
	int i;

	pthread_mutex_lock(&vm->lock);
	vm->quit = true;
	kick(vm);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nvcpus; i++)
		pthread_join(vm->vcpus[i].thread, NULL);
}

/*
 * Asks every vCPU to verify its share of memory and waits for all of them.
 * Each answers at its next PACE, which comes at least every 10 ms.
 */
int vm_guest_check(struct vm *vm, char *out, size_t len)
{
	struct lmvm_control *ctl = vm_control(vm);
	uint64_t bad = 0, pages = 0, writes = 0, first_bad = ~0ull, counters = 0;
	struct timespec deadline;
	int i, ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->status != VM_RUNNING) {
		pthread_mutex_unlock(&vm->lock);
		snprintf(out, len, "the guest is not running: it checks itself, so 'cont' it first");
		return -1;
	}
	__atomic_add_fetch(&vm->check_seq, 1, __ATOMIC_RELEASE);
	vm->checks_done = 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 600;
	while (vm->checks_done < vm->nvcpus && vm->status == VM_RUNNING && ret == 0)
		ret = pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
	if (vm->checks_done < vm->nvcpus) {
		snprintf(out, len, "the guest did not finish its check (%d of %d vCPUs): %s",
			 vm->checks_done, vm->nvcpus,
			 vm->status == VM_CRASHED ? vm->crash : "timed out or stopped");
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	pthread_mutex_unlock(&vm->lock);

	for (i = 0; i < vm->nvcpus; i++) {
		struct lmvm_cpu_ctl *c = &ctl->cpu[i];

		bad += c->check_bad;
		pages += c->check_pages;
		writes += c->writes;
		counters += c->check_counters_bad;
		if (c->check_bad && c->check_first_bad < first_bad)
			first_bad = c->check_first_bad;
	}
	if (bad || counters)
		snprintf(out, len,
			 "{\"ok\": false, \"bad-pages\": %llu, \"first-bad-gfn\": %llu, "
			 "\"bad-counters\": %llu, \"pages-checked\": %llu, \"writes\": %llu}",
			 (unsigned long long)bad, (unsigned long long)first_bad,
			 (unsigned long long)counters, (unsigned long long)pages,
			 (unsigned long long)writes);
	else
		snprintf(out, len,
			 "{\"ok\": true, \"bad-pages\": 0, \"bad-counters\": 0, "
			 "\"pages-checked\": %llu, \"writes\": %llu}",
			 (unsigned long long)pages, (unsigned long long)writes);
	return 0;
}
