// SPDX-License-Identifier: GPL-2.0
/*
 * kvm-dirty-log: proves that an emulated host can run KVM guests and that
 * KVM's dirty log reports exactly the pages a guest wrote, which is what
 * lmig is built on.
 *
 * A real-mode guest writes one byte to three pages and halts; the dirty
 * log must name those three pages and no other. It then writes a fourth
 * page: the second harvest must name that page alone, which shows that
 * fetching the log re-armed write tracking for the pages already reported.
 *
 * One edge: KVM's TDP MMU maps a page writable on its first fault, even a
 * read or fetch, and logs it dirty then. So the first harvest may also
 * name the code page, which the guest only fetched; after a harvest the
 * pages are write-protected and only writes are logged.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tap.h"

#define MEM_SIZE	(1u << 20)	/* all of real mode */
#define PAGES		(MEM_SIZE / 4096)
#define CODE_GPA	0x1000

/* mov ax, seg; mov ds, ax; mov byte [off], val */
#define STORE(seg, off, val) \
	0xb8, (seg) & 0xff, (seg) >> 8, 0x8e, 0xd8, \
	0xc6, 0x06, (off) & 0xff, (off) >> 8, (val)
#define HLT 0xf4

static const uint8_t guest_code[] = {
	STORE(0x1000, 0x0000, 0x11),	/* page 0x10 */
	STORE(0x2300, 0x0234, 0x22),	/* page 0x23, not at its start */
	STORE(0x7f00, 0x0fff, 0x33),	/* page 0x7f, its last byte */
	HLT,
	STORE(0xc800, 0x0000, 0x44),	/* page 0xc8, after the harvest */
	HLT,
};

static int vm, vcpu;
static struct kvm_run *run;

/* Runs the vCPU to its next HLT; anything else is a failure. */
static int run_to_hlt(void)
{
	if (ioctl(vcpu, KVM_RUN, 0) < 0) {
		tap_diag("KVM_RUN: %s", strerror(errno));
		return 0;
	}
	if (run->exit_reason != KVM_EXIT_HLT) {
		tap_diag("exit reason %u, expected HLT (%u)", run->exit_reason,
			 KVM_EXIT_HLT);
		return 0;
	}
	return 1;
}

static int listed(const unsigned int *pages, int n, int page)
{
	while (n--)
		if (pages[n] == (unsigned int)page)
			return 1;
	return 0;
}

/*
 * Fetches the dirty bitmap and checks it names every page in want, and no
 * page outside want and maybe.
 */
static int dirty_log_is(const char *what, const unsigned int *want, int n,
			const unsigned int *maybe, int m)
{
	uint64_t bitmap[PAGES / 64] = { 0 };
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bitmap };
	int ok = 1, page, found = 0;

	if (ioctl(vm, KVM_GET_DIRTY_LOG, &log) < 0) {
		tap_diag("KVM_GET_DIRTY_LOG: %s", strerror(errno));
		return tap_ok(0, "%s: dirty log fetched", what);
	}
	for (page = 0; page < (int)PAGES; page++) {
		int dirty = !!(bitmap[page / 64] & (1ull << (page % 64)));
		int wanted = listed(want, n, page);

		if (dirty != wanted && !(dirty && listed(maybe, m, page))) {
			tap_diag("page 0x%x: %s", page,
				 dirty ? "dirty but never written" : "written but not dirty");
			ok = 0;
		}
		found += dirty;
	}
	return tap_ok(ok, "%s: dirty log names the %d written page(s) and no stranger (%d dirty)",
		      what, n, found);
}

int main(void)
{
	static const unsigned int first[] = { 0x10, 0x23, 0x7f };
	static const unsigned int second[] = { 0xc8 };
	static const unsigned int code[] = { CODE_GPA / 4096 };
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
	};
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	uint8_t *mem;
	int kvm, run_size;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		tap_skip_all("/dev/kvm: %s", strerror(errno));
	tap_plan(6);

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		tap_bail("KVM_CREATE_VM");
	/* Intel needs a TSS for real mode; AMD ignores it. Out of the slot. */
	ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);

	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		tap_bail("mmap guest memory");
	memcpy(mem + CODE_GPA, guest_code, sizeof(guest_code));
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		tap_bail("KVM_SET_USER_MEMORY_REGION");

	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0)
		tap_bail("KVM_CREATE_VCPU");
	run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		tap_bail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		tap_bail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		tap_bail("KVM_SET_SREGS/KVM_SET_REGS");

	tap_ok(run_to_hlt(), "guest ran to its first HLT");
	tap_ok(mem[0x10000] == 0x11 && mem[0x23234] == 0x22 && mem[0x7ffff] == 0x33,
	       "the guest's stores are in host memory");
	dirty_log_is("first harvest", first, 3, code, 1);

	tap_ok(run_to_hlt(), "guest ran to its second HLT");
	dirty_log_is("second harvest", second, 1, NULL, 0);
	dirty_log_is("third harvest (guest halted)", NULL, 0, NULL, 0);

	return tap_exit();
}
