// SPDX-License-Identifier: GPL-2.0
/*
 * The KVM VM a session migrates: taken from a VMM's VM fd, held by its
 * file and its mm, and its memory layout read once from KVM's memslots
 * and the VMM's mappings behind them. lmig reads the memslot list and
 * nothing else of KVM's internals.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kvm_host.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "compat.h"
#include "lmig.h"

/*
 * Every VM held by a session. A VM belongs to one session at a time: two
 * would fight over its dirty log, each harvest stealing the other's pages.
 */
static LIST_HEAD(attached);
static DEFINE_MUTEX(attached_lock);

static bool migrated(const struct kvm_memory_slot *ms)
{
	/* KVM's private slots (APIC page, TSS) are not guest RAM; ROM never changes. */
	return ms->id < KVM_USER_MEM_SLOTS && !(ms->flags & KVM_MEM_READONLY);
}

static int cmp_slot(const void *a, const void *b)
{
	const struct lmig_slot *x = a, *y = b;

	if (x->as_id != y->as_id)
		return x->as_id < y->as_id ? -1 : 1;
	if (x->base_gfn != y->base_gfn)
		return x->base_gfn < y->base_gfn ? -1 : 1;
	return 0;
}

/*
 * The memslots of every address space, from one SRCU snapshot each, so
 * that counting and copying see the same list.
 */
static int read_layout(struct lmig_vm *vm)
{
	struct kvm_memslots *snap[KVM_MAX_NR_ADDRESS_SPACES];
	struct kvm_memory_slot *ms;
	struct kvm *kvm = vm->kvm;
	u32 n = 0, as;
	int idx, bkt, ret = 0;

	idx = srcu_read_lock(&kvm->srcu);
	for (as = 0; as < KVM_MAX_NR_ADDRESS_SPACES; as++) {
		/* Address spaces a VM type does not use are never set up. */
		snap[as] = __kvm_memslots(kvm, as);
		if (!snap[as])
			continue;
		kvm_for_each_memslot(ms, bkt, snap[as])
			n += migrated(ms);
	}
	if (!n) {
		ret = -EINVAL;
		goto out;
	}
	if (n > LMIG_MAX_SLOTS) {
		ret = -E2BIG;
		goto out;
	}
	vm->slots = kcalloc(n, sizeof(*vm->slots), GFP_KERNEL);
	if (!vm->slots) {
		ret = -ENOMEM;
		goto out;
	}
	for (as = 0; as < KVM_MAX_NR_ADDRESS_SPACES; as++) {
		if (!snap[as])
			continue;
		kvm_for_each_memslot(ms, bkt, snap[as]) {
			struct lmig_slot *s = &vm->slots[vm->nslots];

			if (!migrated(ms))
				continue;
			s->as_id = as;
			s->id = ms->id;
			s->flags = ms->flags;
			s->base_gfn = ms->base_gfn;
			s->npages = ms->npages;
			s->hva = ms->userspace_addr;
			vm->nslots++;
		}
	}
	sort(vm->slots, vm->nslots, sizeof(*vm->slots), cmp_slot, NULL);
out:
	srcu_read_unlock(&kvm->srcu, idx);
	return ret;
}

/*
 * The inode of the shared file whose pages [hva, hva + npages pages) are,
 * mapped in order, and in *pgoff the first one's index in the file; NULL
 * if they are anything else. Under the mm's mmap lock.
 */
static struct inode *shared_file(struct mm_struct *mm, unsigned long hva, u64 npages,
				 u64 *pgoff)
{
	unsigned long addr = hva, end = hva + (npages << PAGE_SHIFT);
	struct inode *inode = NULL;
	struct vm_area_struct *vma;
	u64 pg, first = 0;

	while (addr < end) {
		vma = find_vma(mm, addr);
		/*
		 * Pages of a regular file: memfd and tmpfs, hugetlbfs, a file
		 * on disk. Not a device's memory, not an anonymous inode.
		 */
		if (!vma || vma->vm_start > addr || !vma->vm_file ||
		    !(vma->vm_flags & VM_SHARED) || (vma->vm_flags & (VM_IO | VM_PFNMAP)) ||
		    !S_ISREG(file_inode(vma->vm_file)->i_mode))
			return NULL;
		pg = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
		if (!inode) {
			inode = file_inode(vma->vm_file);
			first = pg;
		} else if (file_inode(vma->vm_file) != inode ||
			   pg != first + ((addr - hva) >> PAGE_SHIFT)) {
			return NULL;
		}
		addr = vma->vm_end;
	}
	*pgoff = first;
	return inode;
}

/*
 * A region for slot s's shared file, if the VMM maps the whole file in
 * order around it: lmig reads and writes every page of the file there,
 * those no slot shows at the moment too. No larger than a memslot can
 * be (bitmaps count in unsigned int, and a file far larger than guest
 * RAM is not guest RAM).
 */
static bool shared_region(struct mm_struct *mm, const struct lmig_slot *s,
			  struct inode *inode, u64 pgoff, struct lmig_region *r)
{
	loff_t size = i_size_read(inode);
	struct vm_area_struct *vma;
	u64 pg;

	if (!size || !PAGE_ALIGNED(size) || (size >> PAGE_SHIFT) > KVM_MEM_MAX_NR_PAGES ||
	    pgoff + s->npages > (size >> PAGE_SHIFT) || s->hva < (pgoff << PAGE_SHIFT))
		return false;
	r->hva = s->hva - (pgoff << PAGE_SHIFT);
	r->npages = size >> PAGE_SHIFT;
	if (shared_file(mm, r->hva, r->npages, &pg) != inode || pg)
		return false;
	vma = find_vma(mm, r->hva);
	r->file = get_file(vma->vm_file);
	r->shared = true;
	return true;
}

/*
 * Whether every shared region is still its file, mapped whole and in
 * order where it was: pages no memslot shows are guarded by nothing else,
 * and a VMM that mapped something of its own there would have lmig read
 * it or write into it. 0, or -ESTALE with the region in *bad. Takes the
 * mm's mmap lock.
 */
int lmig_vm_regions_same(const struct lmig_vm *vm, u32 *bad)
{
	const struct lmig_region *r;
	u64 pg;
	u32 i;
	int ret = 0;

	if (mmap_read_lock_killable(vm->mm))
		return -EINTR;
	for (i = 0; i < vm->nregions && !ret; i++) {
		r = &vm->regions[i];
		if (r->shared && (shared_file(vm->mm, r->hva, r->npages, &pg) !=
				  file_inode(r->file) || pg)) {
			*bad = i;
			ret = -ESTALE;
		}
	}
	mmap_read_unlock(vm->mm);
	return ret;
}

static void free_regions(struct lmig_vm *vm)
{
	u32 i;

	for (i = 0; vm->regions && i < vm->nregions; i++)
		if (vm->regions[i].file)
			fput(vm->regions[i].file);
	kfree(vm->regions);
}

/*
 * What travels (struct lmig_region): each slot's memory, except that the
 * slots showing one shared file share the file's region. Anything else,
 * a file mapped in pieces or out of order included, is its slot's own.
 */
static int map_regions(struct lmig_vm *vm)
{
	struct inode **inodes;
	struct inode *inode;
	u32 i, j;
	u64 pgoff;

	vm->regions = kcalloc(vm->nslots, sizeof(*vm->regions), GFP_KERNEL);
	inodes = kcalloc(vm->nslots, sizeof(*inodes), GFP_KERNEL);
	if (!vm->regions || !inodes) {
		kfree(inodes);
		return -ENOMEM;
	}
	if (mmap_read_lock_killable(vm->mm)) {
		kfree(inodes);
		return -EINTR;
	}
	for (i = 0; i < vm->nslots; i++) {
		struct lmig_slot *s = &vm->slots[i];
		struct lmig_region *r;

		inode = shared_file(vm->mm, s->hva, s->npages, &pgoff);
		for (j = 0; inode && j < vm->nregions; j++)
			if (inodes[j] == inode)
				break;
		if (inode && j < vm->nregions && pgoff + s->npages <= vm->regions[j].npages) {
			s->region = j;
			s->offset = pgoff;
			continue;
		}
		j = vm->nregions++;
		r = &vm->regions[j];
		s->region = j;
		if (inode && shared_region(vm->mm, s, inode, pgoff, r)) {
			inodes[j] = inode;
			s->offset = pgoff;
		} else {
			r->shared = false;
			r->as_id = s->as_id;
			r->base_gfn = s->base_gfn;
			r->npages = s->npages;
			r->hva = s->hva;
			s->offset = 0;
		}
		vm->total_pages += r->npages;
	}
	mmap_read_unlock(vm->mm);
	kfree(inodes);
	return 0;
}

/*
 * Whether slot i is still as it was attached, with only its flags free to
 * differ: its current flags go to *flags. A VMM may redefine its memory
 * (QEMU does when a guest reprograms its chipset); a session that went on
 * with the old layout would miss pages, and restoring its flags would
 * bring back a slot the VMM removed. Returns 0, or -ESTALE.
 */
int lmig_vm_slot_now(const struct lmig_vm *vm, u32 i, u32 *flags)
{
	const struct lmig_slot *s = &vm->slots[i];
	struct kvm_memslots *slots;
	struct kvm_memory_slot *ms;
	int idx, ret = -ESTALE;

	idx = srcu_read_lock(&vm->kvm->srcu);
	slots = __kvm_memslots(vm->kvm, s->as_id);
	ms = slots ? id_to_memslot(slots, s->id) : NULL;
	if (ms && ms->base_gfn == s->base_gfn && ms->npages == s->npages &&
	    ms->userspace_addr == s->hva) {
		*flags = ms->flags;
		ret = 0;
	}
	srcu_read_unlock(&vm->kvm->srcu, idx);
	return ret;
}

/* Whether the VM has as many migrated slots as it was attached with. */
bool lmig_vm_slot_count_same(const struct lmig_vm *vm)
{
	struct kvm_memslots *slots;
	struct kvm_memory_slot *ms;
	int idx, bkt;
	u32 n = 0, as;

	idx = srcu_read_lock(&vm->kvm->srcu);
	for (as = 0; as < KVM_MAX_NR_ADDRESS_SPACES; as++) {
		slots = __kvm_memslots(vm->kvm, as);
		if (!slots)
			continue;
		kvm_for_each_memslot(ms, bkt, slots)
			n += migrated(ms);
	}
	srcu_read_unlock(&vm->kvm->srcu, idx);
	return n == vm->nslots;
}

struct lmig_vm *lmig_vm_attach(int fd)
{
	struct lmig_vm *vm, *other;
	struct file *file;
	struct kvm *kvm;
	int ret;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	if (!file_is_kvm(file)) {
		ret = -EINVAL;
		goto out_fput;
	}
	kvm = file->private_data;
	/* A VMM on its way out has no address space left to migrate. */
	if (!mmget_not_zero(kvm->mm)) {
		ret = -ESRCH;
		goto out_fput;
	}
	vm = kzalloc(sizeof(*vm), GFP_KERNEL);
	if (!vm) {
		ret = -ENOMEM;
		goto out_mmput;
	}
	vm->file = file;
	vm->kvm = kvm;
	vm->mm = kvm->mm;
	ret = read_layout(vm) ?: map_regions(vm);
	if (ret)
		goto out_free;

	mutex_lock(&attached_lock);
	list_for_each_entry(other, &attached, node) {
		if (other->kvm == kvm) {
			ret = -EBUSY;
			break;
		}
	}
	if (!ret)
		list_add(&vm->node, &attached);
	mutex_unlock(&attached_lock);
	if (ret)
		goto out_free;
	pr_debug("attached a VM of %u slots, %u regions, %llu pages\n", vm->nslots,
		 vm->nregions, vm->total_pages);
	return vm;

out_free:
	free_regions(vm);
	kfree(vm->slots);
	kfree(vm);
out_mmput:
	mmput(kvm->mm);
out_fput:
	fput(file);
	return ERR_PTR(ret);
}

/*
 * Each thread of the VMM holds a user of its mm, and the session one more.
 * With only the session's left, the VMM has exited: nobody will run or
 * resume this VM again, so there is nothing to migrate or to receive.
 */
bool lmig_vm_vmm_alive(const struct lmig_vm *vm)
{
	return atomic_read(&vm->mm->mm_users) > 1;
}

void lmig_vm_release(struct lmig_vm *vm)
{
	if (!vm)
		return;
	mutex_lock(&attached_lock);
	list_del(&vm->node);
	mutex_unlock(&attached_lock);
	free_regions(vm);
	kfree(vm->slots);
	mmput(vm->mm);
	fput(vm->file);
	kfree(vm);
}
