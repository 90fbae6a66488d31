// SPDX-License-Identifier: GPL-2.0
/*
 * Harvesting KVM's dirty log from a kernel thread.
 *
 * The worker adopts the VMM's mm (kthread_use_mm), so that current->mm is
 * kvm->mm and KVM's own VM ioctls accept it. Their arguments are user
 * pointers, so it maps a scratch area in that mm for them. It then calls
 * KVM_GET_DIRTY_LOG and KVM_CLEAR_DIRTY_LOG through the VM file's own
 * ioctl: KVM keeps its locking and re-arms write protection itself. Slots
 * the VMM did not log get dirty logging for the session's life and their
 * flags back afterwards.
 *
 * It clears whether or not the VMM enabled manual protect, which lmig
 * cannot see without reading KVM's internals. With manual protect, CLEAR
 * is what re-protects the pages GET reported; without it GET already did,
 * and CLEAR re-protects only those written again since, whose content
 * anyone reading a page after CLEAR sees anyway. So "GET, CLEAR, then
 * read the pages" is right either way.
 *
 * The log has one reader. A slot its VMM logs already (QEMU does for a
 * display's framebuffer, and for its own migration) is refused: each
 * harvest would clear what the other has not read, and pages would be
 * lost. So is a layout the VMM changed after the session began: the
 * old one would miss pages, and restoring its flags could bring back a
 * slot the VMM removed. Each harvest checks before and after it reads the
 * log. lmig cannot hold KVM's slots_lock across its own ioctls, so a slot
 * redefined in the instant between a check and the ioctl is caught only
 * by the check after it.
 *
 * These run in a session's worker thread; measure.c and source.c own it.
 */
#include <linux/bitmap.h>
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "lmig.h"

struct lmig_harvest {
	struct lmig_vm *vm;
	u32 session;
	unsigned long scratch;		/* user address in the VMM's mm */
	size_t scratch_len;
	bool *enabled;			/* slots this worker turned logging on for */
	u32 *flags;			/* their flags before, given back after */
	unsigned long **bitmaps;	/* per slot, the last harvest */
	unsigned long **merged;		/* per shared region, its slots' */
	char why[128];			/* what the last failure was */
};

static u32 kvm_slot(const struct lmig_slot *s)
{
	return (u32)s->as_id << 16 | s->id;
}

static size_t bitmap_bytes(u64 npages)
{
	return ALIGN(npages, 64) / 8;
}

/* A VM ioctl as if from the VMM, with arg copied to the scratch area. */
static long vm_ioctl(struct lmig_harvest *h, unsigned int cmd, const void *arg, size_t len)
{
	struct file *file = h->vm->file;

	if (copy_to_user((void __user *)h->scratch, arg, len))
		return -EFAULT;
	return file->f_op->unlocked_ioctl(file, cmd, h->scratch);
}

static long set_flags(struct lmig_harvest *h, const struct lmig_slot *s, u32 flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = kvm_slot(s),
		.flags = flags,
		.guest_phys_addr = s->base_gfn << PAGE_SHIFT,
		.memory_size = s->npages << PAGE_SHIFT,
		.userspace_addr = s->hva,
	};

	return vm_ioctl(h, KVM_SET_USER_MEMORY_REGION, &r, sizeof(r));
}

/* The bitmap lands right after the ioctl argument in the scratch area. */
static unsigned long bitmap_uaddr(struct lmig_harvest *h)
{
	return h->scratch + PAGE_SIZE;
}

static long layout_changed(struct lmig_harvest *h, const struct lmig_slot *s)
{
	snprintf(h->why, sizeof(h->why),
		 "the VMM changed its memory layout (slot %u at gpa 0x%llx) during the migration: start again",
		 s->id, s->base_gfn << PAGE_SHIFT);
	return -ESTALE;
}

/* Every slot as attached, and logged by this session alone. */
static long check_layout(struct lmig_harvest *h)
{
	const struct lmig_slot *s;
	u32 i, flags;
	long ret;

	for (i = 0; i < h->vm->nslots; i++) {
		s = &h->vm->slots[i];
		if (lmig_vm_slot_now(h->vm, i, &flags) ||
		    flags != (h->flags[i] | KVM_MEM_LOG_DIRTY_PAGES))
			return layout_changed(h, s);
	}
	if (!lmig_vm_slot_count_same(h->vm)) {
		snprintf(h->why, sizeof(h->why),
			 "the VMM added or removed memory slots during the migration: start again");
		return -ESTALE;
	}
	ret = lmig_vm_regions_same(h->vm, &i);
	if (ret == -ESTALE)
		snprintf(h->why, sizeof(h->why),
			 "the VMM remapped its shared memory (region %u) during the migration: start again",
			 i);
	return ret;
}

/*
 * Pages per KVM_CLEAR_DIRTY_LOG. KVM holds the VM's mmu lock for the
 * whole of each call, and the guest's faults wait for it: a huge slot is
 * cleared a piece at a time. A multiple of 64, as KVM requires.
 */
#define CLEAR_CHUNK	(SZ_256M >> PAGE_SHIFT)

/* Re-protects the pages the last GET named, CLEAR_CHUNK at a time. */
static long clear_slot(struct lmig_harvest *h, u32 i)
{
	const struct lmig_slot *s = &h->vm->slots[i];
	struct kvm_clear_dirty_log clear = { .slot = kvm_slot(s) };
	u64 first, n;
	long ret;

	for (first = 0; first < s->npages; first += n) {
		n = min_t(u64, CLEAR_CHUNK, s->npages - first);
		/* CLEAR acts on the bits it is given: none, nothing to do. */
		if (find_next_bit(h->bitmaps[i], first + n, first) >= first + n)
			continue;
		clear.first_page = first;
		clear.num_pages = n;
		clear.dirty_bitmap = (void __user *)(bitmap_uaddr(h) + first / 8);
		ret = vm_ioctl(h, KVM_CLEAR_DIRTY_LOG, &clear, sizeof(clear));
		if (ret)
			return ret;
		cond_resched();
	}
	return 0;
}

/* Fetches a slot's dirty bitmap and re-protects what it names. */
static long harvest_slot(struct lmig_harvest *h, u32 i)
{
	const struct lmig_slot *s = &h->vm->slots[i];
	struct kvm_dirty_log log = {
		.slot = kvm_slot(s),
		.dirty_bitmap = (void __user *)bitmap_uaddr(h),
	};
	long ret;

	ret = vm_ioctl(h, KVM_GET_DIRTY_LOG, &log, sizeof(log));
	if (!ret && copy_from_user(h->bitmaps[i], (void __user *)bitmap_uaddr(h),
				   bitmap_bytes(s->npages)))
		ret = -EFAULT;
	if (!ret)
		ret = clear_slot(h, i);
	if (ret) {
		snprintf(h->why, sizeof(h->why),
			 "could not harvest the dirty log of slot %u (error %ld)", s->id, ret);
		return ret;
	}
	return 0;
}

/*
 * A shared region's pages dirtied through any of its slots, each once: a
 * page the guest wrote through two windows travels once.
 */
static void merge(struct lmig_harvest *h, u32 r)
{
	unsigned long *m = h->merged[r];
	const struct lmig_slot *s;
	unsigned long b;
	u32 i;

	bitmap_zero(m, h->vm->regions[r].npages);
	for (i = 0; i < h->vm->nslots; i++) {
		s = &h->vm->slots[i];
		if (s->region != r)
			continue;
		if (!(s->offset % BITS_PER_LONG)) {
			bitmap_or(m + s->offset / BITS_PER_LONG, m + s->offset / BITS_PER_LONG,
				  h->bitmaps[i], s->npages);
			continue;
		}
		for_each_set_bit(b, h->bitmaps[i], s->npages)
			__set_bit(s->offset + b, m);
	}
}

long lmig_harvest_all(struct lmig_harvest *h, u64 *dirty)
{
	const struct lmig_region *r;
	u32 i;
	long ret;

	*dirty = 0;
	ret = check_layout(h);
	if (ret)
		return ret;
	for (i = 0; i < h->vm->nslots; i++) {
		ret = harvest_slot(h, i);
		if (ret)
			return ret;
	}
	for (i = 0; i < h->vm->nregions; i++) {
		r = &h->vm->regions[i];
		if (r->shared)
			merge(h, i);
		*dirty += bitmap_weight(lmig_harvest_bitmap(h, i), r->npages);
	}
	/* A slot changed while it was harvested would go unseen until the next round. */
	return check_layout(h);
}

/* The pages of region r dirtied before the last harvest. */
const unsigned long *lmig_harvest_bitmap(struct lmig_harvest *h, u32 r)
{
	u32 i;

	if (h->merged[r])
		return h->merged[r];
	/* Not shared: the one slot of the region. */
	for (i = 0; i < h->vm->nslots; i++)
		if (h->vm->slots[i].region == r)
			break;
	return h->bitmaps[i];
}

const char *lmig_harvest_why(const struct lmig_harvest *h)
{
	return h->why[0] ? h->why : "could not harvest the dirty log";
}

static long enable_logging(struct lmig_harvest *h)
{
	const struct lmig_slot *s;
	u32 i, flags;
	long ret;

	for (i = 0; i < h->vm->nslots; i++) {
		s = &h->vm->slots[i];
		if (lmig_vm_slot_now(h->vm, i, &flags))
			return layout_changed(h, s);
		if (flags & KVM_MEM_LOG_DIRTY_PAGES) {
			snprintf(h->why, sizeof(h->why),
				 "slot %u (gpa 0x%llx) is dirty-logged by its VMM already (a display?): lmig would lose pages",
				 s->id, s->base_gfn << PAGE_SHIFT);
			return -EBUSY;
		}
		h->flags[i] = flags;
		ret = set_flags(h, s, flags | KVM_MEM_LOG_DIRTY_PAGES);
		if (ret) {
			snprintf(h->why, sizeof(h->why),
				 "could not turn dirty logging on for slot %u (error %ld)",
				 s->id, ret);
			return ret;
		}
		h->enabled[i] = true;
	}
	return 0;
}

/* Only a slot still as lmig left it gets its flags back. */
static void restore_logging(struct lmig_harvest *h)
{
	const struct lmig_slot *s;
	u32 i, flags;

	for (i = 0; i < h->vm->nslots; i++) {
		s = &h->vm->slots[i];
		if (!h->enabled[i])
			continue;
		h->enabled[i] = false;
		if (lmig_vm_slot_now(h->vm, i, &flags) ||
		    flags != (h->flags[i] | KVM_MEM_LOG_DIRTY_PAGES))
			continue;
		if (set_flags(h, s, h->flags[i]))
			pr_warn_ratelimited("session %u: could not turn dirty logging off again on slot %u\n",
					    h->session, s->id);
	}
}

/*
 * In the worker, with the VMM's mm adopted: maps the scratch area, turns
 * logging on, and harvests once to reset the log, so that what the guest
 * writes from now on shows up in the next harvest.
 */
long lmig_harvest_begin(struct lmig_harvest *h)
{
	u64 dirty;
	long ret;

	h->scratch = vm_mmap(NULL, 0, h->scratch_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, 0);
	if (IS_ERR_VALUE(h->scratch)) {
		ret = (long)h->scratch;
		h->scratch = 0;
		return ret;
	}
	ret = enable_logging(h);
	if (!ret)
		ret = lmig_harvest_all(h, &dirty);
	if (ret)
		lmig_harvest_end(h);
	return ret;
}

/* Gives the VMM its flags back; still in the worker, mm adopted. */
void lmig_harvest_end(struct lmig_harvest *h)
{
	if (!h->scratch)
		return;
	restore_logging(h);
	vm_munmap(h->scratch, h->scratch_len);
	h->scratch = 0;
}

void lmig_harvest_free(struct lmig_harvest *h)
{
	u32 i;

	if (!h)
		return;
	if (h->bitmaps)
		for (i = 0; i < h->vm->nslots; i++)
			kvfree(h->bitmaps[i]);
	if (h->merged)
		for (i = 0; i < h->vm->nregions; i++)
			kvfree(h->merged[i]);
	kfree(h->merged);
	kfree(h->bitmaps);
	kfree(h->flags);
	kfree(h->enabled);
	kfree(h);
}

struct lmig_harvest *lmig_harvest_alloc(struct lmig_vm *vm, u32 session)
{
	size_t biggest = 0;
	struct lmig_harvest *h;
	u32 i;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return NULL;
	h->vm = vm;
	h->session = session;
	h->enabled = kcalloc(vm->nslots, sizeof(*h->enabled), GFP_KERNEL);
	h->flags = kcalloc(vm->nslots, sizeof(*h->flags), GFP_KERNEL);
	h->bitmaps = kcalloc(vm->nslots, sizeof(*h->bitmaps), GFP_KERNEL);
	h->merged = kcalloc(vm->nregions, sizeof(*h->merged), GFP_KERNEL);
	if (!h->enabled || !h->flags || !h->bitmaps || !h->merged)
		goto fail;
	for (i = 0; i < vm->nslots; i++) {
		biggest = max(biggest, bitmap_bytes(vm->slots[i].npages));
		h->bitmaps[i] = kvzalloc(bitmap_bytes(vm->slots[i].npages), GFP_KERNEL);
		if (!h->bitmaps[i])
			goto fail;
	}
	for (i = 0; i < vm->nregions; i++) {
		if (!vm->regions[i].shared)
			continue;
		h->merged[i] = kvzalloc(bitmap_bytes(vm->regions[i].npages), GFP_KERNEL);
		if (!h->merged[i])
			goto fail;
	}
	/* One page for the ioctl argument, then the largest bitmap. */
	h->scratch_len = PAGE_SIZE + PAGE_ALIGN(biggest);
	return h;
fail:
	lmig_harvest_free(h);
	return NULL;
}
