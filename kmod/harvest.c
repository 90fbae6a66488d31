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
 * The worker never takes the session's lock: cancel holds it while it
 * stops the worker. Counters go through the session's stats lock.
 */
#include <linux/bitmap.h>
#include <linux/kthread.h>
#include <linux/kvm_host.h>
#include <linux/mman.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "lmig.h"

/* Bitmaps are read in chunks of this size into kernel memory. */
#define CHUNK_BYTES	(64 * 1024)

struct harvest {
	struct lmig_session *s;
	struct lmig_vm *vm;
	unsigned long scratch;		/* user address in the VMM's mm */
	size_t scratch_len;
	unsigned long *chunk;		/* kernel copy of a piece of a bitmap */
	bool *enabled;			/* slots this worker turned logging on for */
	u32 interval_ms;
};

static u32 kvm_slot(const struct lmig_slot *s)
{
	return (u32)s->as_id << 16 | s->id;
}

static size_t bitmap_bytes(const struct lmig_slot *s)
{
	return ALIGN(s->npages, 64) / 8;
}

/* A VM ioctl as if from the VMM, with arg copied to the scratch area. */
static long vm_ioctl(struct harvest *h, unsigned int cmd, const void *arg, size_t len)
{
	struct file *file = h->vm->file;

	if (copy_to_user((void __user *)h->scratch, arg, len))
		return -EFAULT;
	return file->f_op->unlocked_ioctl(file, cmd, h->scratch);
}

static long set_flags(struct harvest *h, const struct lmig_slot *s, u32 flags)
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
static unsigned long bitmap_uaddr(struct harvest *h)
{
	return h->scratch + PAGE_SIZE;
}

/* Fetches a slot's dirty bitmap, re-protects what it names, counts it. */
static long harvest_slot(struct harvest *h, const struct lmig_slot *s, u64 *dirty)
{
	struct kvm_dirty_log log = {
		.slot = kvm_slot(s),
		.dirty_bitmap = (void __user *)bitmap_uaddr(h),
	};
	struct kvm_clear_dirty_log clear = {
		.slot = kvm_slot(s),
		.first_page = 0,
		.num_pages = s->npages,
		.dirty_bitmap = (void __user *)bitmap_uaddr(h),
	};
	size_t len = bitmap_bytes(s), off;
	long ret;

	ret = vm_ioctl(h, KVM_GET_DIRTY_LOG, &log, sizeof(log));
	if (!ret)
		ret = vm_ioctl(h, KVM_CLEAR_DIRTY_LOG, &clear, sizeof(clear));
	if (ret)
		return ret;
	for (off = 0; off < len; off += CHUNK_BYTES) {
		size_t n = min_t(size_t, CHUNK_BYTES, len - off);

		if (copy_from_user(h->chunk, (void __user *)(bitmap_uaddr(h) + off), n))
			return -EFAULT;
		*dirty += bitmap_weight(h->chunk, n * BITS_PER_BYTE);
	}
	return 0;
}

static long harvest_all(struct harvest *h, u64 *dirty)
{
	u32 i;
	long ret;

	*dirty = 0;
	for (i = 0; i < h->vm->nslots; i++) {
		ret = harvest_slot(h, &h->vm->slots[i], dirty);
		if (ret)
			return ret;
	}
	return 0;
}

static long enable_logging(struct harvest *h)
{
	u32 i;
	long ret;

	for (i = 0; i < h->vm->nslots; i++) {
		const struct lmig_slot *s = &h->vm->slots[i];

		if (s->flags & KVM_MEM_LOG_DIRTY_PAGES)
			continue;
		ret = set_flags(h, s, s->flags | KVM_MEM_LOG_DIRTY_PAGES);
		if (ret)
			return ret;
		h->enabled[i] = true;
	}
	return 0;
}

static void restore_logging(struct harvest *h)
{
	u32 i;

	for (i = 0; i < h->vm->nslots; i++) {
		if (h->enabled[i] && set_flags(h, &h->vm->slots[i], h->vm->slots[i].flags))
			pr_warn_ratelimited("session %u: could not turn dirty logging off again on slot %u\n",
					    h->s->id, h->vm->slots[i].id);
		h->enabled[i] = false;
	}
}

static void record(struct lmig_session *s, u64 dirty, u64 ms, long err)
{
	spin_lock(&s->stats_lock);
	if (err) {
		s->worker_error = err;
	} else {
		s->stats.rounds++;
		s->stats.remaining_pages = dirty;
		s->stats.dirty_rate_pps = ms ? div64_u64(dirty * 1000, ms) : 0;
	}
	spin_unlock(&s->stats_lock);
}

static int harvest_thread(void *arg)
{
	struct harvest *h = arg;
	struct lmig_session *s = h->s;
	ktime_t last;
	u64 dirty;
	long ret;

	kthread_use_mm(h->vm->mm);
	h->scratch = vm_mmap(NULL, 0, h->scratch_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, 0);
	if (IS_ERR_VALUE(h->scratch)) {
		ret = (long)h->scratch;
		h->scratch = 0;
		goto out;
	}
	ret = enable_logging(h);
	if (ret)
		goto out_restore;
	/* The first harvest only resets the log: what came before is no round. */
	ret = harvest_all(h, &dirty);
	last = ktime_get();
	while (!ret && !kthread_should_stop()) {
		ktime_t now;

		/* kthread_stop() wakes this sleep early. */
		schedule_timeout_interruptible(msecs_to_jiffies(h->interval_ms));
		if (kthread_should_stop())
			break;
		ret = harvest_all(h, &dirty);
		now = ktime_get();
		if (!ret)
			record(s, dirty, ktime_ms_delta(now, last), 0);
		last = now;
	}
out_restore:
	restore_logging(h);
	vm_munmap(h->scratch, h->scratch_len);
out:
	kthread_unuse_mm(h->vm->mm);
	if (ret) {
		pr_debug("session %u: harvest stopped: %ld\n", s->id, ret);
		record(s, 0, 0, ret);
	}
	/* kthread_stop() reaps the thread; wait for it. */
	while (!kthread_should_stop()) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (!kthread_should_stop())
			schedule();
		__set_current_state(TASK_RUNNING);
	}
	return 0;
}

int lmig_harvest_start(struct lmig_session *s, u32 interval_ms)
{
	struct lmig_vm *vm = s->vm;
	size_t biggest = 0;
	struct harvest *h;
	u32 i;

	lockdep_assert_held(&s->lock);
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	h->s = s;
	h->vm = vm;
	h->interval_ms = interval_ms;
	for (i = 0; i < vm->nslots; i++)
		biggest = max(biggest, bitmap_bytes(&vm->slots[i]));
	/* One page for the ioctl argument, then the largest bitmap. */
	h->scratch_len = PAGE_SIZE + PAGE_ALIGN(biggest);
	h->chunk = kmalloc(CHUNK_BYTES, GFP_KERNEL);
	h->enabled = kcalloc(vm->nslots, sizeof(*h->enabled), GFP_KERNEL);
	if (!h->chunk || !h->enabled)
		goto out_free;

	s->worker = kthread_create(harvest_thread, h, "lmig-harvest/%u", s->id);
	if (IS_ERR(s->worker)) {
		int ret = PTR_ERR(s->worker);

		s->worker = NULL;
		kfree(h->enabled);
		kfree(h->chunk);
		kfree(h);
		return ret;
	}
	s->harvest = h;
	wake_up_process(s->worker);
	return 0;

out_free:
	kfree(h->enabled);
	kfree(h->chunk);
	kfree(h);
	return -ENOMEM;
}

/* Stops the worker and waits until the VM's flags are back as they were. */
void lmig_harvest_stop(struct lmig_session *s)
{
	struct harvest *h = s->harvest;

	lockdep_assert_held(&s->lock);
	if (!s->worker)
		return;
	kthread_stop(s->worker);
	s->worker = NULL;
	s->harvest = NULL;
	kfree(h->enabled);
	kfree(h->chunk);
	kfree(h);
}
