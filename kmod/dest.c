// SPDX-License-Identifier: GPL-2.0
/*
 * The destination side of a migration: a listener and one worker thread
 * per session.
 *
 * Nothing is writable before the source has proved it knows the token.
 * Then the worker checks that both VMs have the same memory layout, pins
 * the destination VM's memory chunk by chunk (long term, for writing),
 * registers each chunk with fast registration on the session's own PD and
 * grants the source (iova, rkey) per chunk: pages land straight in guest
 * memory. Every page named in a message is checked against the memslots;
 * the WRITEs cannot reach beyond the chunks, which the RDMA device checks.
 * The session completes only on FINAL, which arrives after every WRITE of
 * the last round has been placed (RC ordering).
 *
 * A device without fast registration (or fastreg=N) cannot grant memory;
 * then nothing is pinned, the source sends pages inside DATA messages and
 * the worker copies them into the VM through the VMM's mm.
 */
#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/random.h>
#include <linux/sched/mm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "compat.h"
#include "conn.h"
#include "lmig.h"

#define HANDSHAKE_TIMEOUT	(10 * HZ)
/*
 * While it registers guest memory, the destination grants what it has
 * registered at most this long after the last GRANT (the first chunk at
 * once): the source writes into it meanwhile.
 */
#define GRANT_EVERY		(HZ / 10)

static bool fastreg = true;
module_param(fastreg, bool, 0644);
MODULE_PARM_DESC(fastreg,
		 "let the source write pages straight into fast-registered guest memory where the device can (N: copy them in from messages)");

struct chunk {
	u32 slot;
	u32 npages;
	u64 first;		/* page index in the slot */
	struct page **pages;
	u32 pinned;
	struct sg_table sgt;
	int mapped;		/* sg entries DMA-mapped */
	struct ib_mr *mr;
};

struct dest {
	struct lmig_session *s;
	struct lmig_vm *vm;
	struct lmig_conn *c;
	u8 token[LMIG_TOKEN_LEN];
	void *hello;		/* as received, for the MAC */
	u32 hello_len;
	void *msg;
	struct lmig_msg_error *err;

	struct chunk *chunks;
	u32 nchunks;
	u32 registered;		/* chunks pinned and registered, in order */
	u32 granted;		/* of those, chunks granted to the source */
	u32 *slot_chunk;	/* index of each slot's first chunk */
	u32 chunk_pages;

	bool copy;		/* LMIG_PLACE_COPY: pages come in DATA */
	bool joined;		/* JOINED came */
	void *bounce;		/* copy placement: a page to test for zero */
	u64 round_data;		/* copy placement: DATA pages this round */

	void *blob;
	u32 blob_len;
	u32 blob_got;
	u64 rounds;
	u64 data_pages;
	u64 zero_pages;
};

/* Runs once the QP is gone: nothing can write these pages any more. */
static void chunks_release(void *arg)
{
	struct dest *x = arg;
	struct ib_device *dev = x->c->id ? x->c->id->device : NULL;
	u32 i;

	for (i = 0; i < x->nchunks; i++) {
		struct chunk *k = &x->chunks[i];

		if (k->mr)
			ib_dereg_mr(k->mr);
		k->mr = NULL;
		if (k->mapped && dev)
			ib_dma_unmap_sg(dev, k->sgt.sgl, k->sgt.orig_nents, DMA_BIDIRECTIONAL);
		k->mapped = 0;
		if (k->sgt.sgl)
			sg_free_table(&k->sgt);
		k->sgt.sgl = NULL;
		if (k->pinned)
			unpin_user_pages_dirty_lock(k->pages, k->pinned, true);
		k->pinned = 0;
		kvfree(k->pages);
		k->pages = NULL;
	}
}

static void dest_free(void *work)
{
	struct dest *x = work;

	if (x->c)
		lmig_conn_close_release(x->c, chunks_release, x);
	if (x->chunks)
		chunks_release(x);
	lmig_conn_free(x->c);
	kvfree(x->chunks);
	kfree(x->slot_chunk);
	kfree(x->hello);
	kfree(x->msg);
	kfree(x->err);
	kfree(x->bounce);
	kvfree(x->blob);
	memzero_explicit(x->token, sizeof(x->token));
	kfree(x);
}

/* Tells the source why, and waits until it has the message. */
static void refuse(struct dest *x, int err, const char *text)
{
	memset(x->err, 0, sizeof(*x->err));
	x->err->errno_val = cpu_to_le32(-err);
	strscpy(x->err->text, text, sizeof(x->err->text));
	lmig_conn_send_sync(x->c, LMIG_MSG_ERROR, x->err, sizeof(*x->err));
}

/* The next message, copied to x->msg; its length, or an error. */
static int recv_msg(struct dest *x, unsigned long timeout, u32 *type)
{
	return lmig_conn_recv_copy(x->c, timeout, x->msg, type);
}

static int check_hello(struct dest *x, u32 len)
{
	const struct lmig_msg_hello *h = x->msg;
	u32 n;

	if (len < sizeof(*h))
		return -EPROTO;
	n = le32_to_cpu(h->nslots);
	if (n > LMIG_MAX_SLOTS || len != struct_size(h, slots, n) ||
	    le32_to_cpu(h->page_size) != PAGE_SIZE || h->features)
		return -EPROTO;
	while (n--)
		if ((le16_to_cpu(h->slots[n].flags) & ~LMIG_SLOT_SHARED) || h->slots[n].reserved1)
			return -EPROTO;
	memcpy(x->hello, h, len);
	x->hello_len = len;
	return 0;
}

/* The source proved the token: it may join data QPs, each with its own proof. */
static int open_joins(struct dest *x, const u8 *nonce)
{
	u8 mac[LMIG_MAX_QPS - 1][LMIG_MAC_LEN];
	int ret = 0;
	u32 i;

	for (i = 0; i < ARRAY_SIZE(mac) && !ret; i++)
		ret = lmig_join_mac(x->token, nonce, i + 1, mac[i]);
	/* Without them the source's joins fail, and it goes on over one QP. */
	if (!ret)
		lmig_conn_open_joins(x->c, mac, ARRAY_SIZE(mac));
	else
		pr_info("session %u: no data QPs: cannot compute their proofs (%d)\n",
			x->s->id, ret);
	memzero_explicit(mac, sizeof(mac));
	return 0;
}

/* HELLO, CHALLENGE, AUTH: 0 when the source knows the token. */
static int authenticate(struct dest *x)
{
	struct lmig_msg_challenge ch = {};
	u8 mac[LMIG_MAC_LEN];
	u32 type;
	int ret;

	ret = recv_msg(x, HANDSHAKE_TIMEOUT, &type);
	if (ret >= 0)
		ret = type == LMIG_MSG_HELLO ? check_hello(x, ret) : -EPROTO;
	if (ret)
		return ret;
	get_random_bytes(ch.nonce, sizeof(ch.nonce));
	ret = lmig_conn_send(x->c, LMIG_MSG_CHALLENGE, &ch, sizeof(ch));
	if (!ret)
		ret = recv_msg(x, HANDSHAKE_TIMEOUT, &type);
	if (ret < 0)
		return ret;
	if (type != LMIG_MSG_AUTH || ret != sizeof(struct lmig_msg_auth))
		return -EPROTO;
	ret = lmig_auth_mac(x->token, ch.nonce, x->hello, x->hello_len, mac);
	if (ret)
		return ret;
	if (!lmig_auth_equal(mac, ((struct lmig_msg_auth *)x->msg)->mac))
		ret = -EACCES;
	memzero_explicit(mac, sizeof(mac));
	return ret ?: open_joins(x, ch.nonce);
}

/* What slot i of the wire is, for a message: a memslot, or a shared file. */
static int slot_text(char *buf, size_t len, bool shared, u64 base_gfn, u64 npages)
{
	if (shared)
		return scnprintf(buf, len, "a shared file of %lluM", npages >> (20 - PAGE_SHIFT));
	return scnprintf(buf, len, "0x%llx+%lluM", base_gfn << PAGE_SHIFT,
			 npages >> (20 - PAGE_SHIFT));
}

/*
 * Both VMs must have the same slots of the wire (regions here); the
 * message names the first that differs.
 */
static int check_layout(struct dest *x, char *why, size_t len)
{
	const struct lmig_msg_hello *h = x->hello;
	u32 n = le32_to_cpu(h->nslots), i;
	int k;

	if (n != x->vm->nregions) {
		snprintf(why, len,
			 "memory layouts differ: source has %u memory regions, here %u",
			 n, x->vm->nregions);
		return -EPROTO;
	}
	for (i = 0; i < n; i++) {
		const struct lmig_wire_slot *w = &h->slots[i];
		const struct lmig_region *l = &x->vm->regions[i];
		bool shared = le16_to_cpu(w->flags) & LMIG_SLOT_SHARED;

		if (shared == l->shared && le16_to_cpu(w->as_id) == l->as_id &&
		    le64_to_cpu(w->base_gfn) == l->base_gfn &&
		    le64_to_cpu(w->npages) == l->npages)
			continue;
		k = scnprintf(why, len, "memory layouts differ at region %u: source ", i);
		k += slot_text(why + k, len - k, shared, le64_to_cpu(w->base_gfn),
			       le64_to_cpu(w->npages));
		k += scnprintf(why + k, len - k, ", here ");
		slot_text(why + k, len - k, l->shared, l->base_gfn, l->npages);
		return -EPROTO;
	}
	return 0;
}

static int alloc_chunks(struct dest *x)
{
	u32 i, n = 0;

	x->chunk_pages = x->c->fr_pages;
	for (i = 0; i < x->vm->nregions; i++)
		n += DIV_ROUND_UP_ULL(x->vm->regions[i].npages, x->chunk_pages);
	x->chunks = kvcalloc(n, sizeof(*x->chunks), GFP_KERNEL);
	x->slot_chunk = kcalloc(x->vm->nregions, sizeof(*x->slot_chunk), GFP_KERNEL);
	if (!x->chunks || !x->slot_chunk)
		return -ENOMEM;
	x->nchunks = n;
	n = 0;
	for (i = 0; i < x->vm->nregions; i++) {
		u64 first;

		x->slot_chunk[i] = n;
		for (first = 0; first < x->vm->regions[i].npages; first += x->chunk_pages) {
			x->chunks[n].slot = i;
			x->chunks[n].first = first;
			x->chunks[n].npages = min_t(u64, x->chunk_pages,
						    x->vm->regions[i].npages - first);
			n++;
		}
	}
	return 0;
}

/*
 * Pins a chunk of guest memory and registers it for remote writes. Its
 * frame stays its own: inlined, it and accept_source() push dest_thread()
 * over the frame limit on KASAN kernels.
 */
static noinline_for_stack int register_chunk(struct dest *x, struct chunk *k)
{
	struct ib_device *dev = x->c->id->device;
	unsigned long hva = x->vm->regions[k->slot].hva + (k->first << PAGE_SHIFT);
	struct lmig_sync_wr w;
	struct ib_reg_wr wr = {};
	int ret;

	k->pages = kvmalloc_array(k->npages, sizeof(*k->pages), GFP_KERNEL);
	if (!k->pages)
		return -ENOMEM;
	while (k->pinned < k->npages) {
		ret = pin_user_pages_fast(hva + ((unsigned long)k->pinned << PAGE_SHIFT),
					  k->npages - k->pinned, FOLL_WRITE | FOLL_LONGTERM,
					  k->pages + k->pinned);
		if (ret <= 0)
			return ret ? ret : -EFAULT;
		k->pinned += ret;
	}
	ret = sg_alloc_table_from_pages(&k->sgt, k->pages, k->npages, 0,
					(unsigned long)k->npages << PAGE_SHIFT, GFP_KERNEL);
	if (ret) {
		k->sgt.sgl = NULL;
		return ret;
	}
	k->mapped = ib_dma_map_sg(dev, k->sgt.sgl, k->sgt.orig_nents, DMA_BIDIRECTIONAL);
	if (!k->mapped)
		return -ENOMEM;
	k->mr = ib_alloc_mr(x->c->pd, IB_MR_TYPE_MEM_REG,
			    k->npages + LMIG_MR_SPARE_PAGES);
	if (IS_ERR(k->mr)) {
		ret = PTR_ERR(k->mr);
		k->mr = NULL;
		return ret;
	}
	ret = ib_map_mr_sg(k->mr, k->sgt.sgl, k->mapped, NULL, PAGE_SIZE);
	if (ret != k->mapped)
		return ret < 0 ? ret : -EINVAL;

	lmig_sync_wr_init(&w);
	wr.wr.opcode = IB_WR_REG_MR;
	wr.wr.wr_cqe = &w.cqe;
	wr.wr.send_flags = IB_SEND_SIGNALED;
	wr.mr = k->mr;
	wr.key = k->mr->rkey;
	wr.access = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE;
	ret = ib_post_send(x->c->id->qp, &wr.wr, NULL);
	if (ret)
		return ret;
	return lmig_sync_wr_wait(x->c, &w);
}

/* Grants the chunks registered since the last GRANT. */
static int send_grants(struct dest *x)
{
	struct lmig_msg_grant *m = x->msg;
	u32 i, n = 0;
	int ret;

	for (i = x->granted; i < x->registered; i++) {
		struct lmig_wire_grant *g = &m->grants[n++];
		const struct chunk *k = &x->chunks[i];

		g->slot = cpu_to_le32(k->slot);
		g->npages = cpu_to_le32(k->npages);
		g->first = cpu_to_le64(k->first);
		g->iova = cpu_to_le64(k->mr->iova);
		g->rkey = cpu_to_le32(k->mr->rkey);
		g->reserved = 0;
		if (n == LMIG_GRANTS_PER_MSG || i + 1 == x->registered) {
			memset(&m->hdr, 0, sizeof(m->hdr));
			m->count = cpu_to_le32(n);
			m->reserved = 0;
			ret = lmig_conn_send(x->c, LMIG_MSG_GRANT, m, struct_size(m, grants, n));
			if (ret)
				return ret;
			x->granted = i + 1;
			n = 0;
		}
	}
	return 0;
}

/* Nothing to pin or grant: READY alone says that pages come by copy. */
static int copy_memory(struct dest *x)
{
	struct lmig_msg_ready ready = {};

	x->bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!x->bounce)
		return -ENOMEM;
	lmig_worker_note(x->s, "pages come by copy: %s",
			 fastreg ? "the device has no fast registration" : "fastreg=N");
	ready.placement = cpu_to_le32(LMIG_PLACE_COPY);
	return lmig_conn_send(x->c, LMIG_MSG_READY, &ready, sizeof(ready));
}

static int place_zeros(struct dest *x, u32 len);
static int take_joined(struct dest *x, u32 len);

/*
 * What a source sends while memory is still being registered: ZEROs for
 * pages of chunks granted already, and JOINED (NOPs are passed over). Taken between
 * chunks, at most a receive ring's worth each time.
 */
static int take_early(struct dest *x)
{
	u32 type, n;
	int ret;

	for (n = 0; n < LMIG_RX_DEPTH; n++) {
		ret = recv_msg(x, 0, &type);
		if (ret == -ETIMEDOUT)
			return 0;
		if (ret < 0)
			return ret;
		ret = type == LMIG_MSG_ZERO ? place_zeros(x, ret) :
		      type == LMIG_MSG_JOINED ? take_joined(x, ret) : -EPROTO;
		if (ret == -EPROTO)
			lmig_worker_message(x->s, "the source broke the protocol (%u) before READY",
					    type);
		if (ret)
			return ret;
	}
	return 0;
}

static int grant_memory(struct dest *x)
{
	struct lmig_session *s = x->s;
	struct lmig_msg_ready ready = {};
	unsigned long last = jiffies;
	bool pinning = false;
	u32 i;
	int ret;

	ret = alloc_chunks(x);
	if (ret)
		return ret;
	kthread_use_mm(x->vm->mm);
	for (i = 0; i < x->nchunks && !ret; i++) {
		if (!(i & 63)) {
			lmig_worker_note(s, "pinning and registering guest memory: %u of %u chunks",
					 i, x->nchunks);
			if (kthread_should_stop())
				ret = -EINTR;
			else
				ret = lmig_conn_error(x->c);
		}
		/* Pinning a big VM takes a while: the source hears from here. */
		if (!ret)
			ret = lmig_conn_keepalive(x->c);
		if (!ret) {
			ret = register_chunk(x, &x->chunks[i]);
			pinning = ret && !lmig_conn_error(x->c);
		}
		if (!ret)
			x->registered = i + 1;
		/* The first chunk at once: the source starts on it. */
		if (!ret && (!x->granted || x->registered - x->granted == LMIG_GRANTS_PER_MSG ||
			     time_after_eq(jiffies, last + GRANT_EVERY))) {
			ret = send_grants(x);
			last = jiffies;
		}
		if (!ret)
			ret = take_early(x);
		/* take_early() names the protocol errors itself. */
		if (ret && ret != -EINTR && ret != -EPROTO)
			lmig_worker_message(s, "%s guest memory (error %d)", pinning ?
					    "could not pin and register" :
					    "lost the source while registering", ret);
	}
	kthread_unuse_mm(x->vm->mm);
	if (!ret)
		ret = send_grants(x);
	if (ret)
		return ret;
	ready.chunks = cpu_to_le64(x->nchunks);
	ready.placement = cpu_to_le32(LMIG_PLACE_WRITE);
	return lmig_conn_send(x->c, LMIG_MSG_READY, &ready, sizeof(ready));
}

/*
 * Fresh guest memory is zero already; reading first keeps untouched pages
 * clean. CPU stores to the DMA-mapped chunk pages need no sync: the device
 * only writes them, on coherent platforms.
 */
static int place_zero(struct dest *x, u32 slot, u64 p)
{
	const struct chunk *k;
	u32 i;
	void __user *hva;
	void *va;

	if (x->copy) {
		hva = (void __user *)(x->vm->regions[slot].hva + (p << PAGE_SHIFT));
		if (copy_from_user(x->bounce, hva, PAGE_SIZE))
			return -EFAULT;
		if (memchr_inv(x->bounce, 0, PAGE_SIZE) && clear_user(hva, PAGE_SIZE))
			return -EFAULT;
		return 0;
	}
	i = x->slot_chunk[slot] + div_u64(p, x->chunk_pages);
	/* A page the source was never granted is not pinned yet. */
	if (i >= x->granted)
		return -EPROTO;
	k = &x->chunks[i];
	va = kmap_local_page(k->pages[p - k->first]);
	if (memchr_inv(va, 0, PAGE_SIZE))
		clear_page(va);
	kunmap_local(va);
	return 0;
}

/* Zero ranges: pages the source found all zero, checked against the slots. */
static int place_zeros(struct dest *x, u32 len)
{
	const struct lmig_msg_zero *m = x->msg;
	u32 n, i;

	if (len < sizeof(*m))
		return -EPROTO;
	n = le32_to_cpu(m->count);
	if (n > LMIG_RANGES_PER_MSG || len != struct_size(m, ranges, n) || m->reserved)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		u32 slot = le32_to_cpu(m->ranges[i].slot);
		u32 count = le32_to_cpu(m->ranges[i].npages);
		u64 first = le64_to_cpu(m->ranges[i].first), p;

		if (slot >= x->vm->nregions || !count ||
		    first >= x->vm->regions[slot].npages ||
		    count > x->vm->regions[slot].npages - first)
			return -EPROTO;
		for (p = first; p < first + count; p++) {
			int err = place_zero(x, slot, p);

			if (!err && !(p & 1023)) {
				err = lmig_conn_keepalive(x->c);
				cond_resched();
			}
			if (err)
				return err;
		}
		x->zero_pages += count;
	}
	return 0;
}

/* Copy placement: pages checked against the slots, then copied in. */
static int place_data(struct dest *x, u32 len)
{
	const struct lmig_msg_data *m = x->msg;
	const struct lmig_region *sl;
	u64 first;
	u32 slot, n;

	if (!x->copy || len < sizeof(*m))
		return -EPROTO;
	slot = le32_to_cpu(m->slot);
	n = le32_to_cpu(m->npages);
	first = le64_to_cpu(m->first);
	if (slot >= x->vm->nregions || !n || n > LMIG_DATA_PAGES ||
	    len != sizeof(*m) + n * PAGE_SIZE)
		return -EPROTO;
	sl = &x->vm->regions[slot];
	if (first >= sl->npages || n > sl->npages - first)
		return -EPROTO;
	if (copy_to_user((void __user *)(sl->hva + (first << PAGE_SHIFT)), m->data,
			 n * PAGE_SIZE)) {
		lmig_worker_message(x->s, "could not write guest memory at %s 0x%llx",
				    sl->shared ? "offset" : "gpa",
				    (sl->shared ? first : sl->base_gfn + first) << PAGE_SHIFT);
		return -EFAULT;
	}
	x->round_data += n;
	return 0;
}

static int take_blob(struct dest *x, u32 len)
{
	const struct lmig_msg_blob *b = x->msg;
	u32 total, off, n;

	if (len < sizeof(*b))
		return -EPROTO;
	total = le32_to_cpu(b->total);
	off = le32_to_cpu(b->offset);
	n = len - sizeof(*b);
	if (!total || total > LMIG_MAX_BLOB || !n || off != x->blob_got ||
	    n > total - off || (x->blob && total != x->blob_len))
		return -EPROTO;
	if (!x->blob) {
		x->blob = kvmalloc(total, GFP_KERNEL);
		if (!x->blob)
			return -ENOMEM;
		x->blob_len = total;
	}
	memcpy(x->blob + off, b->data, n);
	x->blob_got += n;
	return 0;
}

static void publish(struct dest *x)
{
	struct lmig_session *s = x->s;

	spin_lock(&s->stats_lock);
	s->stats.rounds = x->rounds;
	s->stats.transferred_pages = x->data_pages;
	s->stats.transferred_bytes = x->data_pages << PAGE_SHIFT;
	s->stats.zero_pages = x->zero_pages;
	s->stats.qps = READ_ONCE(x->c->nqps);
	spin_unlock(&s->stats_lock);
}

static int check_final(struct dest *x, u32 len)
{
	const struct lmig_msg_final *f = x->msg;

	if (len != sizeof(*f) || f->reserved || le64_to_cpu(f->rounds) != x->rounds ||
	    le64_to_cpu(f->data_pages) != x->data_pages ||
	    le64_to_cpu(f->zero_pages) != x->zero_pages ||
	    le32_to_cpu(f->blob_len) != x->blob_len || x->blob_got != x->blob_len) {
		lmig_worker_message(x->s, "FINAL does not match what arrived");
		return -EPROTO;
	}
	return 0;
}

/* From here on no connection is accepted any more, not even a data QP. */
static void close_joins(struct dest *x)
{
	lmig_conn_close_joins(x->c);
	lmig_conn_unlisten(x->c);
}

/* JOINED: the QPs the source uses, once, before its first round is done. */
static int take_joined(struct dest *x, u32 len)
{
	const struct lmig_msg_joined *j = x->msg;
	int ret;

	if (len != sizeof(*j) || j->reserved || x->joined || x->rounds || x->copy)
		return -EPROTO;
	x->joined = true;
	ret = lmig_conn_use_joins(x->c, le32_to_cpu(j->qps));
	close_joins(x);
	if (!ret && le32_to_cpu(j->qps) > 1)
		lmig_worker_note(x->s, "the source writes over %u QPs", le32_to_cpu(j->qps));
	return ret;
}

/* ROUND_DONE: once its pages are all placed, the next round may write. */
static int take_round_done(struct dest *x, u32 len)
{
	struct lmig_msg_round *r = x->msg;
	int ret;

	/* By copy, what arrived must be what the source sent. */
	if (len != sizeof(*r) || le64_to_cpu(r->round) != x->rounds ||
	    (x->copy && le64_to_cpu(r->data_pages) != x->round_data))
		return -EPROTO;
	/* The data QPs' WRITEs of the round are placed once they marked it. */
	ret = lmig_conn_wait_marks(x->c, x->rounds);
	if (ret == -ETIMEDOUT || ret == -EPROTO)
		lmig_worker_message(x->s, "a data QP did not mark round %llu (%d)",
				    x->rounds, ret);
	if (ret)
		return ret;
	x->round_data = 0;
	x->data_pages += le64_to_cpu(r->data_pages);
	/* The source joins its data QPs before round 0: no more. */
	if (!x->rounds++)
		close_joins(x);
	publish(x);
	/* Zeros of this round are placed: the next may write. */
	return lmig_conn_send(x->c, LMIG_MSG_ROUND_ACK, r, sizeof(*r));
}

/* Places what the source sends until FINAL; 0 once acknowledged. */
static int receive(struct dest *x)
{
	u32 type;
	int ret;

	for (;;) {
		ret = recv_msg(x, MAX_SCHEDULE_TIMEOUT, &type);
		if (ret < 0)
			return ret;
		if (!lmig_vm_vmm_alive(x->vm)) {
			lmig_worker_message(x->s, "the VMM exited: nobody would run this VM");
			return -ESRCH;
		}
		switch (type) {
		case LMIG_MSG_ZERO:
			ret = place_zeros(x, ret);
			break;
		case LMIG_MSG_DATA:
			ret = place_data(x, ret);
			break;
		case LMIG_MSG_JOINED:
			ret = take_joined(x, ret);
			break;
		case LMIG_MSG_ROUND_DONE:
			ret = take_round_done(x, ret);
			break;
		case LMIG_MSG_BLOB:
			ret = take_blob(x, ret);
			break;
		case LMIG_MSG_FINAL:
			ret = check_final(x, ret);
			if (ret)
				break;
			/*
			 * Every page is here: this decides, ACK or not. A
			 * source that misses the ACK is in doubt and asks
			 * this session's state before it resumes.
			 */
			if (lmig_conn_send_sync(x->c, LMIG_MSG_ACK, x->msg,
						sizeof(struct lmig_msg_hdr)))
				pr_info_ratelimited("session %u: complete; the source may not have the ACK\n",
						    x->s->id);
			return 0;
		default:
			ret = -EPROTO;
		}
		if (ret) {
			if (ret == -EPROTO)
				lmig_worker_message(x->s, "the source broke the protocol (%u)",
						    type);
			return ret;
		}
	}
}

/* Waits for a source that knows the token; turns the others away. */
static noinline_for_stack int accept_source(struct dest *x)
{
	struct lmig_session *s = x->s;
	int ret;

	for (;;) {
		ret = lmig_conn_wait_peer(x->c, HZ);
		if (ret == -ETIMEDOUT) {
			if (lmig_vm_vmm_alive(x->vm))
				continue;
			lmig_worker_message(s, "the VMM exited: there is nothing to receive for");
			return -ESRCH;
		}
		if (ret == -EINTR || ret == -ENODEV)
			return ret;
		if (!ret)
			ret = authenticate(x);
		if (!ret)
			return 0;
		if (ret == -EACCES) {
			refuse(x, ret, "authentication failed: wrong token");
			lmig_worker_message(s, "turned away %pISpc: wrong token; listening",
					    &x->c->peer);
		} else {
			lmig_worker_message(s, "dropped %pISpc (error %d); listening",
					    &x->c->peer, ret);
		}
		lmig_conn_close(x->c);
		if (kthread_should_stop())
			return -EINTR;
	}
}

static int dest_thread(void *arg)
{
	struct dest *x = arg;
	struct lmig_session *s = x->s;
	char why[LMIG_ERROR_TEXT];
	u32 bad;
	ktime_t t0;
	int ret;

	ret = accept_source(x);
	if (ret)
		goto out;
	t0 = ktime_get();
	/*
	 * One source per session: the listener stays only for its data QPs,
	 * until its JOINED (or its round 0's end) closes it.
	 */
	spin_lock(&s->stats_lock);
	snprintf(s->stats.peer, sizeof(s->stats.peer), "%pISpc", &x->c->peer);
	s->stats.qps = 1;
	spin_unlock(&s->stats_lock);

	ret = check_layout(x, why, sizeof(why));
	/* Nothing is pinned or written where the VMM no longer keeps its memory. */
	if (!ret && lmig_vm_regions_same(x->vm, &bad) == -ESTALE) {
		snprintf(why, sizeof(why),
			 "the VMM remapped its shared memory (region %u) since the session began: start again",
			 bad);
		ret = -ESTALE;
	}
	if (ret) {
		refuse(x, ret, why);
		lmig_worker_message(s, "%s", why);
		goto out;
	}
	lmig_worker_phase(s, LMIG_STATE_ACTIVE);
	x->copy = !fastreg || !x->c->fr_pages;
	/* Pages copied from messages come over the one QP. */
	if (x->copy)
		close_joins(x);
	ret = x->copy ? copy_memory(x) : grant_memory(x);
	if (ret)
		goto out;
	spin_lock(&s->stats_lock);
	s->stats.setup_time_ms = ktime_ms_delta(ktime_get(), t0);
	spin_unlock(&s->stats_lock);
	if (!x->copy)
		lmig_worker_note(s, "receiving");
	/* Copies and zeros go through the VMM's own mappings. */
	if (x->copy)
		kthread_use_mm(x->vm->mm);
	ret = receive(x);
	if (x->copy)
		kthread_unuse_mm(x->vm->mm);
	if (ret == -ECONNRESET)
		lmig_worker_message(s, "the source went away before FINAL; this VM must not run");
out:
	/* A listener on a removed device holds up its removal until it goes. */
	lmig_conn_unlisten(x->c);
	lmig_conn_close_release(x->c, chunks_release, x);
	if (kthread_should_stop()) {
		ret = -EINTR;
	} else if (ret) {
		lmig_worker_failed(s, ret);
	} else {
		spin_lock(&s->stats_lock);
		s->blob = x->blob;
		s->blob_len = x->blob_len;
		spin_unlock(&s->stats_lock);
		x->blob = NULL;
		lmig_worker_complete(s);
	}
	lmig_worker_park();
	return 0;
}

int lmig_dest_listen(struct lmig_session *s, struct sockaddr *src, u8 *token)
{
	struct dest *x;
	int ret;

	lockdep_assert_held(&s->lock);
	x = kzalloc(sizeof(*x), GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	x->s = s;
	x->vm = s->vm;
	x->c = lmig_conn_alloc(s->id);
	x->hello = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
	x->msg = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
	x->err = kzalloc(sizeof(*x->err), GFP_KERNEL);
	if (!x->c || !x->hello || !x->msg || !x->err) {
		dest_free(x);
		return -ENOMEM;
	}
	get_random_bytes(x->token, sizeof(x->token));
	ret = lmig_conn_listen(x->c, src);
	if (ret) {
		dest_free(x);
		return ret;
	}
	memcpy(token, x->token, LMIG_TOKEN_LEN);
	lmig_worker_note(s, "listening");
	return lmig_worker_run(s, dest_thread, x, dest_free, "dst");
}
