/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmig: live migration of KVM guest memory over RDMA.
 * Declarations shared between the module's files.
 */
#ifndef _LMIG_H
#define _LMIG_H

#include <linux/init.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/lmig.h>

struct file;
struct harvest;
struct kvm;
struct mm_struct;
struct task_struct;

/* One memslot to migrate, as it was when the VM was attached. */
struct lmig_slot {
	u16 as_id;
	u16 id;
	u32 flags;		/* KVM_MEM_* as the VMM set them */
	u64 base_gfn;
	u64 npages;
	unsigned long hva;	/* in the VMM's mm */
};

/* A KVM VM held by a session: its file, its struct kvm, the VMM's mm. */
struct lmig_vm {
	struct list_head node;		/* in the list of attached VMs */
	struct file *file;
	struct kvm *kvm;
	struct mm_struct *mm;
	u32 nslots;
	u64 total_pages;
	struct lmig_slot *slots;	/* sorted by address space, then gpa */
};

struct lmig_session {
	struct kref ref;
	u32 id;
	enum lmig_role role;
	ktime_t created;

	struct mutex lock;	/* state, error, vm and the worker */
	enum lmig_state state;
	int error;
	struct lmig_vm *vm;
	struct task_struct *worker;
	struct harvest *harvest;

	/* What the worker measured; it never takes lock, only this. */
	spinlock_t stats_lock;
	struct {
		u64 rounds;
		u64 remaining_pages;
		u64 dirty_rate_pps;
	} stats;
	long worker_error;	/* set when the worker stopped on an error */
};

/* dev.c */
int __init lmig_dev_init(void);
void lmig_dev_exit(void);
int lmig_copy_sized_from_user(void *dst, size_t ksize, size_t min_size,
			      const void __user *src);
int lmig_copy_sized_to_user(void __user *dst, const void *src, size_t ksize);
bool lmig_all_zero(const u64 *v, size_t n);

/* session.c */
long lmig_ioctl_session_create(void __user *argp);
long lmig_ioctl_session_attach(void __user *argp);
long lmig_ioctl_session_status(void __user *argp);
long lmig_ioctl_session_list(void __user *argp);
long lmig_ioctl_session_cancel(void __user *argp);
long lmig_ioctl_session_remove(void __user *argp);
long lmig_ioctl_session_start(void __user *argp);
void lmig_sessions_exit(void);

/* harvest.c */
int lmig_harvest_start(struct lmig_session *s, u32 interval_ms);
void lmig_harvest_stop(struct lmig_session *s);

/* vm.c */
struct lmig_vm *lmig_vm_attach(int fd);
void lmig_vm_release(struct lmig_vm *vm);

#endif /* _LMIG_H */
