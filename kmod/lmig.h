/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmig: live migration of KVM guest memory over RDMA.
 * Declarations shared between the module's files.
 */
#ifndef _LMIG_H
#define _LMIG_H

#include <linux/completion.h>
#include <linux/init.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/lmig.h>

struct file;
struct sockaddr;
struct kvm;
struct mm_struct;
struct task_struct;

/*
 * One memslot to migrate, as it was when the VM was attached: where the
 * guest writes, and so whose dirty log lmig reads. Its pages travel as
 * pages [offset, offset + npages) of its region.
 */
struct lmig_slot {
	u16 as_id;
	u16 id;
	u32 flags;		/* KVM_MEM_* as the VMM set them */
	u64 base_gfn;
	u64 npages;
	unsigned long hva;	/* in the VMM's mm */
	u32 region;
	u64 offset;
};

/*
 * What travels, page by page: guest memory as the VMM holds it. Anonymous
 * memory is one memslot's. Memory in a shared file (QEMU's memory
 * backends with share=on) is the whole file, however many memslots show
 * parts of it: a PC's chipset maps the same RAM at several addresses and
 * into the SMM address space, and a destination QEMU maps it the same way
 * only once it has loaded the chipset's state, after lmig. The file is
 * the same on both sides from the start.
 */
struct lmig_region {
	u64 npages;
	unsigned long hva;	/* of page 0, in the VMM's mm */
	struct file *file;	/* held, when shared: the layout check's */
	bool shared;		/* a shared file's; else one memslot's */
	u16 as_id;		/* that memslot's, unless shared */
	u64 base_gfn;
};

/* A KVM VM held by a session: its file, its struct kvm, the VMM's mm. */
struct lmig_vm {
	struct list_head node;		/* in the list of attached VMs */
	struct file *file;
	struct kvm *kvm;
	struct mm_struct *mm;
	u32 nslots;
	struct lmig_slot *slots;	/* sorted by address space, then gpa */
	u32 nregions;
	struct lmig_region *regions;	/* in the order of their first slot */
	u64 total_pages;		/* of all regions */
};

/* What a session's worker reports; it never takes the session's lock. */
struct lmig_stats {
	enum lmig_state phase;	/* the worker's view, once it has one */
	bool done;		/* completed or failed: nothing more to do */
	long error;		/* negative errno when it failed */
	u64 rounds;
	u64 remaining_pages;
	u64 dirty_rate_pps;
	u64 transferred_pages;
	u64 transferred_bytes;
	u64 zero_pages;
	u64 throughput_mbps;
	u64 expected_downtime_ms;
	u64 downtime_ms;
	u64 setup_time_ms;
	u64 total_time_ms;	/* frozen when done */
	u32 qps;		/* QPs carrying WRITEs, once connected */
	char peer[64];
	char message[128];
	bool message_is_note;
	bool final_sent;	/* source: FINAL may have arrived; no cancelling it */
};

/* What an ioctl asks of a running worker, under stats_lock too. */
struct lmig_request {
	bool go;		/* START */
	u32 downtime_limit_ms;
	u64 max_bandwidth;
	bool finalize;		/* FINALIZE: blob is handed over with it */
	void *blob;
	u32 blob_len;
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
	void *work;				/* the worker's own state */
	void (*work_free)(void *work);		/* after the worker stopped */

	struct completion handshake;	/* source: connected, or failed */
	int handshake_error;
	wait_queue_head_t done_wq;	/* stats.done or a finished state */

	spinlock_t stats_lock;		/* stats, req, blob */
	struct lmig_stats stats;
	struct lmig_request req;
	void *blob;		/* destination: the VMM state received */
	u32 blob_len;
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
long lmig_ioctl_session_listen(void __user *argp);
long lmig_ioctl_session_connect(void __user *argp);
long lmig_ioctl_session_finalize(void __user *argp);
long lmig_ioctl_session_wait(void __user *argp);
void lmig_sessions_exit(void);

/* session.c, for workers */
void lmig_worker_phase(struct lmig_session *s, enum lmig_state phase);
__printf(3, 4)
void lmig_worker_fail(struct lmig_session *s, long err, const char *fmt, ...);
/* Why something failed or waits; a note is progress, replaced on failure. */
__printf(2, 3)
void lmig_worker_message(struct lmig_session *s, const char *fmt, ...);
__printf(2, 3)
void lmig_worker_note(struct lmig_session *s, const char *fmt, ...);
void lmig_worker_failed(struct lmig_session *s, long err);
/* Source: FINAL is out and its ACK did not come; nobody knows who has the VM. */
void lmig_worker_in_doubt(struct lmig_session *s, long err);
void lmig_worker_complete(struct lmig_session *s);
/* Parks a worker that has nothing left to do until kthread_stop(). */
void lmig_worker_park(void);
int lmig_worker_run(struct lmig_session *s, int (*fn)(void *), void *work,
		    void (*work_free)(void *), const char *what);

/* harvest.c */
struct lmig_harvest;
struct lmig_harvest *lmig_harvest_alloc(struct lmig_vm *vm, u32 session);
void lmig_harvest_free(struct lmig_harvest *h);
long lmig_harvest_begin(struct lmig_harvest *h);
void lmig_harvest_end(struct lmig_harvest *h);
long lmig_harvest_all(struct lmig_harvest *h, u64 *dirty);
const unsigned long *lmig_harvest_bitmap(struct lmig_harvest *h, u32 slot);
/* After a harvest call failed: why, in words for the session's message. */
const char *lmig_harvest_why(const struct lmig_harvest *h);

/* measure.c */
int lmig_measure_start(struct lmig_session *s, u32 interval_ms);

/* source.c */
int lmig_source_connect(struct lmig_session *s, struct sockaddr *dst,
			const u8 *token, unsigned long timeout, u32 qps);

/* dest.c */
int lmig_dest_listen(struct lmig_session *s, struct sockaddr *src, u8 *token);

/* auth.c */
int lmig_auth_mac(const u8 *token, const u8 *nonce, const void *hello, u32 hello_len,
		  u8 *mac);
int lmig_join_mac(const u8 *token, const u8 *nonce, u16 index, u8 *mac);
bool lmig_auth_equal(const u8 *a, const u8 *b);

/* vm.c */
struct lmig_vm *lmig_vm_attach(int fd);
int lmig_vm_slot_now(const struct lmig_vm *vm, u32 i, u32 *flags);
bool lmig_vm_slot_count_same(const struct lmig_vm *vm);
int lmig_vm_regions_same(const struct lmig_vm *vm, u32 *bad);
void lmig_vm_release(struct lmig_vm *vm);
bool lmig_vm_vmm_alive(const struct lmig_vm *vm);

#endif /* _LMIG_H */
