// SPDX-License-Identifier: GPL-2.0
/*
 * The source side of a migration: one worker thread per session connects,
 * authenticates, then sends the VM's memory round after round.
 *
 * Round 0 sends every page; each later round sends the pages the guest
 * dirtied meanwhile. A page is read into a staging page (which also tells
 * whether it is all zero, with one read) after its dirty bit was cleared,
 * so a write during the transfer shows up in the next round. Zero pages
 * travel as ranges in ZERO messages; the others as RDMA WRITEs of up to
 * max_sge contiguous pages into the memory the destination granted. The
 * source only ever reads guest memory. Pages travel by region (struct
 * lmig_region; a "slot" on the wire): a page a guest can reach through
 * several memslots travels once.
 *
 * The worker never takes the session's lock (cancel holds it while it
 * stops the worker); it reads requests and reports through stats_lock.
 */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "conn.h"
#include "lmig.h"

#define NSTAGES			32
#define HANDSHAKE_TIMEOUT	(10 * HZ)
/* Longest wait for the next GRANT (or READY) from a destination registering. */
#define GRANT_TIMEOUT		(300 * HZ)
#define ACK_TIMEOUT		(120 * HZ)
/* Longest wait for each step of a data QP's join: the fabric answers in ms. */
#define JOIN_TIMEOUT		(5 * HZ)
/* Rounds are at least this long, so that an idle guest costs nothing. */
#define MIN_ROUND_MS		100

struct grant {
	u64 first;
	u64 iova;
	u32 npages;
	u32 rkey;
};

struct slot_grants {
	struct grant *g;
	u32 n;
	u32 cap;
	u64 next;		/* first page not granted yet */
};

struct stage {
	struct ib_cqe cqe;
	struct lmig_conn *c;
	bool busy;
	struct page *pages[16];
	u64 dma[16];
};

struct source {
	struct lmig_session *s;
	struct lmig_vm *vm;
	struct lmig_conn *c;
	struct lmig_harvest *h;
	u8 token[LMIG_TOKEN_LEN];
	struct sockaddr_storage dst;
	unsigned long timeout;
	u32 qps;			/* asked for */
	u32 next_q;			/* the QP of the next WRITE */

	struct slot_grants *grants;
	u64 ngrants;
	bool ready;			/* READY came: every grant is here */
	struct stage stages[NSTAGES];
	bool stages_mapped;
	bool copy;			/* LMIG_PLACE_COPY: pages go in DATA */
	u32 run_max;			/* pages per WRITE or DATA */
	void *msg;			/* messages are built here */
	void *rxmsg;			/* the last message received */
	struct lmig_msg_zero *zero;	/* ranges of this round so far */
	void *blob;
	u32 blob_len;

	/* The WRITE being gathered: cur_n pages of slot cur_slot from cur_first. */
	struct stage *cur;
	u32 cur_n;
	u32 cur_slot;
	u64 cur_first;
	struct grant cur_g;		/* a copy: more grants move the arrays */

	u64 round;
	u64 round_pages;		/* to send this round */
	u64 round_done;			/* sent (as data or zero) this round */
	u64 round_data;
	u64 round_zero;
	ktime_t round_start;
	u64 bytes_per_sec;		/* measured over the last 256+ pages */
	u64 meas_pages;			/* rounds measured since, summed up */
	u64 meas_ms;
	u64 max_bandwidth;
	u32 downtime_limit_ms;
	u64 data_pages;			/* over all rounds */
	u64 zero_pages;
};

static void source_free(void *work)
{
	struct source *x = work;
	u32 i;

	lmig_conn_free(x->c);
	lmig_harvest_free(x->h);
	if (x->grants)
		for (i = 0; i < x->vm->nregions; i++)
			kvfree(x->grants[i].g);
	kfree(x->grants);
	kfree(x->msg);
	kfree(x->rxmsg);
	kfree(x->zero);
	kvfree(x->blob);
	memzero_explicit(x->token, sizeof(x->token));
	kfree(x);
}

static void stage_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct stage *st = container_of(wc->wr_cqe, struct stage, cqe);
	unsigned long flags;

	spin_lock_irqsave(&st->c->lock, flags);
	st->busy = false;
	spin_unlock_irqrestore(&st->c->lock, flags);
	lmig_conn_write_done(st->c, wc);
}

/* Runs when the QP is gone, before the PD and the device may go. */
static void stages_release(void *arg)
{
	struct source *x = arg;
	struct ib_device *dev = x->c->id->device;
	u32 i, k;

	for (i = 0; i < NSTAGES; i++) {
		for (k = 0; k < ARRAY_SIZE(x->stages[i].pages); k++) {
			if (!x->stages[i].pages[k])
				continue;
			if (x->stages_mapped && x->stages[i].dma[k])
				ib_dma_unmap_page(dev, x->stages[i].dma[k], PAGE_SIZE,
						  DMA_TO_DEVICE);
			__free_page(x->stages[i].pages[k]);
			x->stages[i].pages[k] = NULL;
			x->stages[i].dma[k] = 0;
		}
	}
	x->stages_mapped = false;
}

static int stages_alloc(struct source *x)
{
	struct ib_device *dev = x->c->id->device;
	u32 i, k;

	x->stages_mapped = true;
	for (i = 0; i < NSTAGES; i++) {
		struct stage *st = &x->stages[i];

		st->c = x->c;
		st->cqe.done = stage_done;
		for (k = 0; k < x->c->max_sge; k++) {
			st->pages[k] = alloc_page(GFP_KERNEL);
			if (!st->pages[k])
				return -ENOMEM;
			st->dma[k] = ib_dma_map_page(dev, st->pages[k], 0, PAGE_SIZE,
						     DMA_TO_DEVICE);
			if (ib_dma_mapping_error(dev, st->dma[k])) {
				st->dma[k] = 0;
				return -ENOMEM;
			}
		}
	}
	return 0;
}

static struct stage *find_stage(struct source *x)
{
	struct stage *found = NULL;
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&x->c->lock, flags);
	for (i = 0; i < NSTAGES; i++) {
		if (!x->stages[i].busy) {
			found = &x->stages[i];
			found->busy = true;
			break;
		}
	}
	spin_unlock_irqrestore(&x->c->lock, flags);
	return found;
}

/* Only when there is no stage at hand. */
static bool claim_stage(struct source *x)
{
	struct stage *st = find_stage(x);

	if (st)
		x->cur = st;
	return st;
}

/*
 * Waits for the next message and copies it to rxmsg; returns its length
 * and type. An ERROR from the peer becomes the session's message.
 */
static int recv_msg(struct source *x, unsigned long timeout, u32 *type)
{
	struct lmig_msg_error *e = x->rxmsg;
	int len;

	len = lmig_conn_recv_copy(x->c, timeout, x->rxmsg, type);
	if (len < 0)
		return len;
	if (*type == LMIG_MSG_ERROR) {
		if (len != sizeof(*e))
			return -EPROTO;
		e->text[sizeof(e->text) - 1] = 0;
		lmig_worker_message(x->s, "the destination refused: %s", e->text);
		return le32_to_cpu(e->errno_val) == EACCES ? -EACCES : -EPROTO;
	}
	return len;
}

/* Waits for a message of type want, and nothing else. */
static int expect(struct source *x, u32 want, unsigned long timeout)
{
	u32 type;
	int ret;

	ret = recv_msg(x, timeout, &type);
	if (ret >= 0 && type != want) {
		lmig_worker_message(x->s, "protocol error: message %u where %u was due",
				    type, want);
		return -EPROTO;
	}
	return ret;
}

static int send_hello(struct source *x, u32 *len)
{
	struct lmig_msg_hello *h = x->msg;
	u32 i;

	memset(h, 0, LMIG_MSG_MAX);
	h->page_size = cpu_to_le32(PAGE_SIZE);
	h->nslots = cpu_to_le32(x->vm->nregions);
	for (i = 0; i < x->vm->nregions; i++) {
		const struct lmig_region *r = &x->vm->regions[i];

		h->slots[i].flags = cpu_to_le16(r->shared ? LMIG_SLOT_SHARED : 0);
		h->slots[i].as_id = cpu_to_le16(r->as_id);
		h->slots[i].base_gfn = cpu_to_le64(r->base_gfn);
		h->slots[i].npages = cpu_to_le64(r->npages);
	}
	*len = struct_size(h, slots, x->vm->nregions);
	return lmig_conn_send(x->c, LMIG_MSG_HELLO, h, *len);
}

static int take_grants(struct source *x, u32 len)
{
	const struct lmig_msg_grant *m = x->rxmsg;
	u32 n = le32_to_cpu(m->count), i;

	if (len < sizeof(*m) || !n || n > LMIG_GRANTS_PER_MSG ||
	    len != struct_size(m, grants, n) || m->reserved)
		return -EPROTO;
	for (i = 0; i < n; i++) {
		const struct lmig_wire_grant *w = &m->grants[i];
		u32 slot = le32_to_cpu(w->slot);
		struct slot_grants *sg;
		struct grant *g;

		if (slot >= x->vm->nregions || w->reserved)
			return -EPROTO;
		sg = &x->grants[slot];
		/* Grants come in order, each where the previous one ended. */
		if (le64_to_cpu(w->first) != sg->next || !w->npages ||
		    le32_to_cpu(w->npages) > x->vm->regions[slot].npages - sg->next)
			return -EPROTO;
		if (sg->n == sg->cap) {
			u32 cap = sg->cap ? sg->cap * 2 : 64;

			g = kvmalloc_array(cap, sizeof(*g), GFP_KERNEL);
			if (!g)
				return -ENOMEM;
			if (sg->n)
				memcpy(g, sg->g, sg->n * sizeof(*g));
			kvfree(sg->g);
			sg->g = g;
			sg->cap = cap;
		}
		g = &sg->g[sg->n++];
		g->first = sg->next;
		g->npages = le32_to_cpu(w->npages);
		g->iova = le64_to_cpu(w->iova);
		g->rkey = le32_to_cpu(w->rkey);
		sg->next += g->npages;
		x->ngrants++;
	}
	return 0;
}

static const struct grant *find_grant(struct source *x, u32 slot, u64 page)
{
	const struct slot_grants *sg = &x->grants[slot];
	u32 lo = 0, hi = sg->n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct grant *g = &sg->g[mid];

		if (page < g->first)
			hi = mid;
		else if (page >= g->first + g->npages)
			lo = mid + 1;
		else
			return g;
	}
	return NULL;
}

/* READY: every slot granted whole, or nothing granted and pages copied. */
static int check_ready(struct source *x, u32 len)
{
	const struct lmig_msg_ready *r = x->rxmsg;
	u32 i;

	if (len != sizeof(*r) || r->reserved ||
	    le64_to_cpu(r->chunks) != x->ngrants)
		goto bad;
	switch (le32_to_cpu(r->placement)) {
	case LMIG_PLACE_WRITE:
		break;
	case LMIG_PLACE_COPY:
		if (x->ngrants)
			goto bad;
		x->copy = true;
		/* Stages hold max_sge pages. */
		x->run_max = min_t(u32, LMIG_DATA_PAGES, x->c->max_sge);
		return 0;
	default:
		goto bad;
	}
	for (i = 0; i < x->vm->nregions; i++)
		if (x->grants[i].next != x->vm->regions[i].npages) {
			lmig_worker_message(x->s, "protocol error: slot %u not granted whole", i);
			return -EPROTO;
		}
	return 0;
bad:
	lmig_worker_message(x->s, "protocol error: a READY that does not match the grants");
	return -EPROTO;
}

/* A GRANT, or the READY after the last one. */
static int take_grant_msg(struct source *x, u32 type, int len)
{
	int ret;

	if (type == LMIG_MSG_READY) {
		ret = check_ready(x, len);
		x->ready = !ret;
		return ret;
	}
	if (type != LMIG_MSG_GRANT) {
		lmig_worker_message(x->s, "protocol error: message %u where GRANT or READY was due",
				    type);
		return -EPROTO;
	}
	ret = take_grants(x, len);
	if (ret == -EPROTO)
		lmig_worker_message(x->s, "protocol error: bad memory grant");
	return ret;
}

/*
 * Takes the grants that have come, at most a receive ring's worth, and
 * with a timeout first waits that long for one. 0, or -ETIMEDOUT when
 * none came in time. The destination grants as it registers: grants
 * left unread would fill the receive ring and hold up its sends.
 */
static int take_more_grants(struct source *x, unsigned long timeout)
{
	u32 type;
	int len, n;

	for (n = 0; !x->ready && n < LMIG_RX_DEPTH; n++) {
		len = recv_msg(x, n ? 0 : timeout, &type);
		if (len == -ETIMEDOUT && (n || !timeout))
			return 0;
		if (len < 0)
			return len;
		len = take_grant_msg(x, type, len);
		if (len)
			return len;
	}
	return 0;
}

/*
 * Round 0 caught up with the destination's registration: waits for page's
 * grant, or with all set for READY. The time waited is not the link's:
 * the round's clock, which paces it and measures the throughput, moves on
 * by as much.
 */
static int wait_grants(struct source *x, u32 slot, u64 page, bool all)
{
	ktime_t t0 = ktime_get();
	int ret = 0;

	while (!ret && !x->ready && (all || page >= x->grants[slot].next))
		ret = take_more_grants(x, GRANT_TIMEOUT);
	x->round_start = ktime_add(x->round_start, ktime_sub(ktime_get(), t0));
	return ret;
}

static int wait_grant(struct source *x, u32 slot, u64 page)
{
	int ret = wait_grants(x, slot, page, false);

	if (ret)
		return ret;
	/* READY vouched for every slot granted whole. */
	return page < x->grants[slot].next ? 0 : -EPROTO;
}

static int wait_ready(struct source *x)
{
	return wait_grants(x, 0, 0, true);
}

/*
 * Joins the data QPs asked for, each proving the token for its index. One
 * that cannot join ends the joining but not the session, which goes on
 * over the QPs it has; only a connection that failed meanwhile fails it.
 */
static int join_qps(struct source *x, const u8 *nonce)
{
	struct lmig_join j = {
		.magic = cpu_to_le32(LMIG_JOIN_MAGIC),
		.major = LMIG_PROTO_MAJOR,
		.minor = LMIG_PROTO_MINOR,
	};
	struct lmig_msg_joined joined = {};
	int ret, err = 0;

	while (x->c->nqps < x->qps) {
		j.index = cpu_to_le16(x->c->nqps);
		/*
		 * Nothing is read meanwhile, and the destination goes on
		 * granting: each wait is short, and the grants are taken
		 * between joins, so that its sends never wait on us for long.
		 */
		ret = lmig_join_mac(x->token, nonce, x->c->nqps, j.mac) ?:
		      lmig_conn_join(x->c, &j, min_t(unsigned long, x->timeout, JOIN_TIMEOUT));
		err = kthread_should_stop() ? -EINTR : lmig_conn_error(x->c) ?:
		      take_more_grants(x, 0);
		if (err)
			break;
		if (ret) {
			pr_info("session %u: data QP %u did not join (%d); going on with %u\n",
				x->s->id, le16_to_cpu(j.index), ret, x->c->nqps);
			break;
		}
	}
	memzero_explicit(&j, sizeof(j));
	if (err)
		return err;
	joined.qps = cpu_to_le32(x->c->nqps);
	return lmig_conn_send(x->c, LMIG_MSG_JOINED, &joined, sizeof(joined));
}

static int handshake(struct source *x)
{
	struct lmig_session *s = x->s;
	struct lmig_msg_challenge *ch = x->rxmsg;
	struct lmig_msg_auth auth = {};
	u8 nonce[LMIG_NONCE_LEN];
	u32 hello_len, type;
	u8 peer_minor;
	int ret;

	ret = lmig_conn_connect(x->c, (struct sockaddr *)&x->dst, x->timeout);
	if (ret) {
		if (ret == -ECONNREFUSED)
			lmig_worker_message(s, "nobody listens at %pISpc, or it has its source",
					    &x->dst);
		else
			lmig_worker_message(s, "could not connect to %pISpc (error %d)",
					    &x->dst, ret);
		return ret;
	}
	spin_lock(&s->stats_lock);
	snprintf(s->stats.peer, sizeof(s->stats.peer), "%pISpc", &x->dst);
	spin_unlock(&s->stats_lock);
	ret = stages_alloc(x);
	if (!ret)
		ret = send_hello(x, &hello_len);
	if (!ret)
		ret = expect(x, LMIG_MSG_CHALLENGE, HANDSHAKE_TIMEOUT);
	if (ret < 0)
		return ret;
	if (ret != sizeof(*ch))
		return -EPROTO;
	peer_minor = ch->hdr.minor;
	memcpy(nonce, ch->nonce, sizeof(nonce));
	ret = lmig_auth_mac(x->token, ch->nonce, x->msg, hello_len, auth.mac);
	if (!ret)
		ret = lmig_conn_send(x->c, LMIG_MSG_AUTH, &auth, sizeof(auth));
	memzero_explicit(&auth, sizeof(auth));
	if (ret)
		return ret;
	lmig_worker_note(s, "waiting for the destination to grant its memory");
	/*
	 * The first GRANT (or READY, when pages are copied) is enough: round
	 * 0 goes as far as the grants do while the rest is registered.
	 */
	x->run_max = x->c->max_sge;
	ret = recv_msg(x, GRANT_TIMEOUT, &type);
	if (ret < 0)
		return ret;
	ret = take_grant_msg(x, type, ret);
	if (!ret && !x->copy && x->qps > 1 && peer_minor >= 4)
		ret = join_qps(x, nonce);
	if (ret)
		return ret;
	spin_lock(&s->stats_lock);
	s->stats.qps = x->c->nqps;
	spin_unlock(&s->stats_lock);
	if (x->c->nqps < x->qps)
		lmig_worker_note(s, "connected, over %u of %u QPs: %s", x->c->nqps, x->qps,
				 peer_minor < 4 ? "the destination has wire 1.3 or older" :
				 x->copy ? "pages are copied in over one" :
				 "the destination accepted no more");
	else if (!x->ready)
		lmig_worker_note(s, "connected; the destination registers the rest of its memory");
	else if (x->copy)
		lmig_worker_note(s, "connected; the destination copies pages in");
	else
		lmig_worker_note(s, "connected");
	return 0;
}

/*
 * Waits until claim(x) holds: a stage is free (WRITEs completed) or a
 * send buffer is. If that never comes (a dead peer that RC does not give
 * up on), the peer's silence tells.
 *
 * Before READY the grants that come meanwhile are taken. The destination
 * reads our ZEROs only between the chunks it registers, and each REG_MR
 * it posts queues behind its GRANT sends. A source that waited for a send
 * buffer without reading would leave those GRANTs unreceived once its
 * receive ring is full: the destination's REG_MR would never complete, it
 * would never read again, and both sides would wait for each other until
 * SEND_TIMEOUT.
 */
static int wait_claim(struct source *x, bool (*claim)(struct source *x))
{
	bool got = false;
	int err = 0;

	while (!err) {
		/* claim() succeeds at most once: the wait ends on it. */
		wait_event_interruptible_timeout(x->c->wq, (got = claim(x)) ||
						 (!x->ready && lmig_conn_rx_pending(x->c)) ||
						 lmig_conn_error(x->c) || kthread_should_stop(),
						 HZ);
		if (got)
			return 0;
		err = kthread_should_stop() ? -EINTR : lmig_conn_alive(x->c) ?:
		      lmig_conn_keepalive(x->c) ?: take_more_grants(x, 0);
	}
	return err;
}

/* After READY, lmig_conn_send waits for a send buffer by itself. */
static bool claim_tx(struct source *x)
{
	return x->ready || lmig_conn_tx_free(x->c);
}

static int send_zero(struct source *x)
{
	u32 n = le32_to_cpu(x->zero->count);
	int ret;

	if (!n)
		return 0;
	ret = wait_claim(x, claim_tx) ?:
	      lmig_conn_send(x->c, LMIG_MSG_ZERO, x->zero, struct_size(x->zero, ranges, n));
	x->zero->count = 0;
	return ret;
}

static int add_zero(struct source *x, u32 slot, u64 page)
{
	u32 n = le32_to_cpu(x->zero->count);
	struct lmig_wire_range *r = &x->zero->ranges[n ? n - 1 : 0];
	int ret;

	x->round_zero++;
	if (n && le32_to_cpu(r->slot) == slot && le32_to_cpu(r->npages) < U32_MAX &&
	    le64_to_cpu(r->first) + le32_to_cpu(r->npages) == page) {
		le32_add_cpu(&r->npages, 1);
		return 0;
	}
	if (n == LMIG_RANGES_PER_MSG) {
		ret = send_zero(x);
		if (ret)
			return ret;
		n = 0;
	}
	r = &x->zero->ranges[n];
	r->slot = cpu_to_le32(slot);
	r->npages = cpu_to_le32(1);
	r->first = cpu_to_le64(page);
	x->zero->count = cpu_to_le32(n + 1);
	return 0;
}

/* Keeps the round under max_bandwidth, sleeping off what it is ahead. */
static void pace(struct source *x)
{
	u64 due_us, spent_us;

	if (!x->max_bandwidth)
		return;
	due_us = div64_u64(x->round_data * PAGE_SIZE * USEC_PER_SEC, x->max_bandwidth);
	spent_us = ktime_us_delta(ktime_get(), x->round_start);
	if (due_us > spent_us + 1000)
		fsleep(min_t(u64, due_us - spent_us, USEC_PER_SEC));
}

/* Copy placement: the gathered pages travel inside a DATA message. */
static int send_data(struct source *x)
{
	struct lmig_msg_data *d = x->msg;
	unsigned long flags;
	int ret;

	memset(d, 0, sizeof(*d));
	d->slot = cpu_to_le32(x->cur_slot);
	d->npages = cpu_to_le32(x->cur_n);
	d->first = cpu_to_le64(x->cur_first);
	ret = lmig_conn_send_pages(x->c, LMIG_MSG_DATA, d, sizeof(*d), x->cur->pages, x->cur_n);
	/* The pages were copied into the message: the stage is free again. */
	spin_lock_irqsave(&x->c->lock, flags);
	x->cur->busy = false;
	spin_unlock_irqrestore(&x->c->lock, flags);
	return ret;
}

static int flush(struct source *x)
{
	struct ib_device *dev = x->c->id->device;
	const struct grant *g = &x->cur_g;
	u32 k;
	int ret;

	if (!x->cur_n)
		return 0;
	if (x->copy) {
		ret = send_data(x);
	} else {
		for (k = 0; k < x->cur_n; k++)
			ib_dma_sync_single_for_device(dev, x->cur->dma[k], PAGE_SIZE,
						      DMA_TO_DEVICE);
		/* Striped over the QPs: rxe, for one, runs each QP on one CPU. */
		ret = lmig_conn_write(x->c, x->next_q++ % x->c->nqps, &x->cur->cqe,
				      x->cur->dma, x->cur_n,
				      g->iova + ((x->cur_first - g->first) << PAGE_SHIFT),
				      g->rkey);
	}
	if (ret)
		return ret;
	x->round_data += x->cur_n;
	x->cur = NULL;
	x->cur_n = 0;
	pace(x);
	/* A paced round 0 may take long over 1024 pages: grants are taken here too. */
	return lmig_conn_keepalive(x->c) ?: take_more_grants(x, 0);
}

static int send_page(struct source *x, u32 slot, u64 page)
{
	const struct lmig_region *sl = &x->vm->regions[slot];
	void *buf;
	int ret;

	if (x->cur_n && (slot != x->cur_slot || page != x->cur_first + x->cur_n ||
			 x->cur_n == x->run_max ||
			 (!x->copy && page >= x->cur_g.first + x->cur_g.npages))) {
		ret = flush(x);
		if (ret)
			return ret;
	}
	/*
	 * Not even a zero marker before its grant: that page is not pinned
	 * yet. Unless its grant is here already, the markers gathered so far
	 * go out first, for the destination to place between the chunks it
	 * registers, not all after READY.
	 */
	if (!x->ready && page >= x->grants[slot].next) {
		ret = take_more_grants(x, 0);
		if (!ret && !x->ready && page >= x->grants[slot].next)
			ret = send_zero(x) ?: wait_grant(x, slot, page);
		if (ret)
			return ret;
	}
	if (!x->cur) {
		ret = wait_claim(x, claim_stage);
		if (ret)
			return ret;
	}
	buf = page_address(x->cur->pages[x->cur_n]);
	if (copy_from_user(buf, (const void __user *)(sl->hva + (page << PAGE_SHIFT)),
			   PAGE_SIZE)) {
		lmig_worker_message(x->s, "could not read guest memory at %s 0x%llx",
				    sl->shared ? "shared file offset" : "gpa",
				    (sl->shared ? page : sl->base_gfn + page) << PAGE_SHIFT);
		return -EFAULT;
	}
	x->round_done++;
	if (!memchr_inv(buf, 0, PAGE_SIZE))
		return add_zero(x, slot, page);
	if (!x->cur_n) {
		x->cur_slot = slot;
		x->cur_first = page;
		if (!x->copy) {
			const struct grant *g = find_grant(x, slot, page);

			if (!g)
				return -EPROTO;
			x->cur_g = *g;
		}
	}
	x->cur_n++;
	return 0;
}

static void publish(struct source *x, u64 dirty_rate)
{
	struct lmig_session *s = x->s;
	u64 left = x->round_pages - x->round_done;

	spin_lock(&s->stats_lock);
	s->stats.rounds = x->round;
	s->stats.remaining_pages = left;
	s->stats.transferred_pages = x->data_pages + x->round_data;
	s->stats.transferred_bytes = (x->data_pages + x->round_data) << PAGE_SHIFT;
	s->stats.zero_pages = x->zero_pages + x->round_zero;
	s->stats.throughput_mbps = div64_u64(x->bytes_per_sec * 8, 1000000);
	if (x->bytes_per_sec)
		s->stats.expected_downtime_ms = div64_u64((left << PAGE_SHIFT) * 1000,
							  x->bytes_per_sec);
	if (dirty_rate != U64_MAX)
		s->stats.dirty_rate_pps = dirty_rate;
	spin_unlock(&s->stats_lock);
}

static int vmm_alive(struct source *x)
{
	if (lmig_vm_vmm_alive(x->vm))
		return 0;
	lmig_worker_message(x->s, "the VMM exited: there is no VM left to migrate");
	return -ESRCH;
}

static int send_slot_pages(struct source *x, u32 slot, const unsigned long *bitmap)
{
	u64 npages = x->vm->regions[slot].npages, page;
	int ret;

	for (page = 0; page < npages; page++) {
		if (bitmap && !test_bit(page, bitmap)) {
			/* Skip a word of clean pages at once. */
			page = find_next_bit(bitmap, npages, page) - 1;
			continue;
		}
		ret = send_page(x, slot, page);
		if (ret)
			return ret;
		if (!(x->round_done & 1023)) {
			if (kthread_should_stop())
				return -EINTR;
			ret = lmig_conn_error(x->c) ?: lmig_conn_keepalive(x->c) ?:
			      vmm_alive(x) ?: take_more_grants(x, 0);
			if (ret)
				return ret;
			publish(x, U64_MAX);
			cond_resched();
		}
	}
	return 0;
}

/* Sends the pages of one round: all of them (round 0) or the dirty ones. */
static int send_round(struct source *x, bool all)
{
	struct lmig_msg_round r = {};
	u32 i;
	int ret;

	x->round_done = 0;
	x->round_data = 0;
	x->round_zero = 0;
	x->round_start = ktime_get();
	for (i = 0; i < x->vm->nregions; i++) {
		ret = send_slot_pages(x, i, all ? NULL : lmig_harvest_bitmap(x->h, i));
		if (ret)
			return ret;
	}
	ret = flush(x);
	if (!ret)
		ret = send_zero(x);
	/* Round 0 ends only once READY has vouched for every grant. */
	if (!ret)
		ret = wait_ready(x);
	/*
	 * Across QPs nothing is ordered: each data QP marks the end of the
	 * round behind its WRITEs, which the destination awaits before it
	 * takes ROUND_DONE. A WRITE that failed fails the round here.
	 */
	if (!ret && x->c->nqps > 1)
		ret = lmig_conn_mark(x->c, x->round) ?: lmig_conn_wait_writes(x->c);
	if (ret)
		return ret;
	r.round = cpu_to_le64(x->round);
	r.data_pages = cpu_to_le64(x->round_data);
	r.zero_pages = cpu_to_le64(x->round_zero);
	ret = lmig_conn_send(x->c, LMIG_MSG_ROUND_DONE, &r, sizeof(r));
	if (!ret)
		ret = expect(x, LMIG_MSG_ROUND_ACK, ACK_TIMEOUT);
	if (ret < 0)
		return ret;
	if (ret != sizeof(r) || le64_to_cpu(((struct lmig_msg_round *)x->rxmsg)->round) != x->round)
		return -EPROTO;

	/*
	 * A round of a few pages says little about the link, so rounds are
	 * summed up to 256 pages. Without that, a nearly idle guest (few
	 * data pages even in round 0) would never have a rate to converge by.
	 */
	x->meas_pages += x->round_data;
	x->meas_ms += ktime_ms_delta(ktime_get(), x->round_start);
	if (x->meas_pages >= 256 && x->meas_ms) {
		x->bytes_per_sec = div64_u64((x->meas_pages << PAGE_SHIFT) * 1000, x->meas_ms);
		x->meas_pages = 0;
		x->meas_ms = 0;
	}
	x->data_pages += x->round_data;
	x->zero_pages += x->round_zero;
	x->round_data = 0;
	x->round_zero = 0;
	x->round++;
	return 0;
}

static bool take_finalize(struct source *x)
{
	struct lmig_session *s = x->s;
	bool fin;

	spin_lock(&s->stats_lock);
	fin = s->req.finalize;
	if (fin && !x->blob) {
		x->blob = s->req.blob;
		x->blob_len = s->req.blob_len;
		s->req.blob = NULL;
	}
	spin_unlock(&s->stats_lock);
	return fin;
}

static void set_final_sent(struct lmig_session *s, bool sent)
{
	spin_lock(&s->stats_lock);
	s->stats.final_sent = sent;
	spin_unlock(&s->stats_lock);
}

static int send_final(struct source *x)
{
	struct lmig_msg_blob *b = x->msg;
	struct lmig_msg_final f = {};
	u32 off = 0;
	int ret;

	while (off < x->blob_len) {
		u32 n = min_t(u32, x->blob_len - off, LMIG_BLOB_PER_MSG);

		memset(b, 0, sizeof(*b));
		b->total = cpu_to_le32(x->blob_len);
		b->offset = cpu_to_le32(off);
		memcpy(b->data, x->blob + off, n);
		ret = lmig_conn_send(x->c, LMIG_MSG_BLOB, b, sizeof(*b) + n);
		if (ret)
			return ret;
		off += n;
	}
	f.rounds = cpu_to_le64(x->round);
	f.data_pages = cpu_to_le64(x->data_pages);
	f.zero_pages = cpu_to_le64(x->zero_pages);
	f.blob_len = cpu_to_le32(x->blob_len);
	/* A QP that failed since may have lost a WRITE: no FINAL then. */
	ret = lmig_conn_error(x->c);
	if (ret)
		return ret;
	/* From here on, the destination may complete before a word comes back. */
	set_final_sent(x->s, true);
	ret = lmig_conn_send(x->c, LMIG_MSG_FINAL, &f, sizeof(f));
	if (ret) {
		/* Not posted: it never left. */
		set_final_sent(x->s, false);
		return ret;
	}
	ret = expect(x, LMIG_MSG_ACK, ACK_TIMEOUT);
	return ret < 0 ? ret : 0;
}

static int migrate(struct source *x)
{
	struct lmig_session *s = x->s;
	ktime_t last_harvest, paused = 0;
	u64 dirty, ms, limit_pages;
	bool fin = false;
	int ret;

	lmig_worker_phase(s, LMIG_STATE_ACTIVE);
	lmig_worker_note(s, "round 0: all memory");
	x->round_pages = x->vm->total_pages;
	last_harvest = ktime_get();
	ret = send_round(x, true);
	while (!ret) {
		fin = take_finalize(x);
		if (fin && !paused)
			paused = ktime_get();
		ret = vmm_alive(x) ?: lmig_harvest_all(x->h, &dirty);
		if (ret == -ESRCH)
			break;
		if (ret) {
			lmig_worker_message(s, "%s", lmig_harvest_why(x->h));
			break;
		}
		ms = max_t(u64, 1, ktime_ms_delta(ktime_get(), last_harvest));
		last_harvest = ktime_get();
		x->round_pages = dirty;
		x->round_done = 0;
		publish(x, div64_u64(dirty * 1000, ms));
		ret = send_round(x, false);
		if (ret || fin)
			break;

		/* Would what the guest dirtied over this round fit the limit? */
		limit_pages = div64_u64(x->bytes_per_sec * x->downtime_limit_ms,
					1000) >> PAGE_SHIFT;
		x->round_pages = dirty;
		x->round_done = 0;
		publish(x, U64_MAX);
		if (x->bytes_per_sec && dirty <= limit_pages) {
			lmig_worker_phase(s, LMIG_STATE_CONVERGED);
			lmig_worker_note(s, "converged: finalize when ready");
		} else {
			lmig_worker_phase(s, LMIG_STATE_ACTIVE);
			lmig_worker_note(s, "round %llu: %llu pages dirtied since the last",
					 x->round, dirty);
		}
		ms = ktime_ms_delta(ktime_get(), last_harvest);
		if (ms < MIN_ROUND_MS)
			wait_event_interruptible_timeout(x->c->wq, kthread_should_stop() ||
							 READ_ONCE(s->req.finalize) ||
							 lmig_conn_error(x->c),
							 msecs_to_jiffies(MIN_ROUND_MS - ms));
	}
	if (ret)
		return ret;
	lmig_worker_note(s, "sending the VMM state and FINAL");
	ret = send_final(x);
	if (ret)
		return ret;
	x->round_pages = 0;
	x->round_done = 0;
	publish(x, U64_MAX);
	spin_lock(&s->stats_lock);
	s->stats.downtime_ms = ktime_ms_delta(ktime_get(), paused);
	spin_unlock(&s->stats_lock);
	return 0;
}

static bool started(struct lmig_session *s)
{
	bool go;

	spin_lock(&s->stats_lock);
	go = s->req.go;
	spin_unlock(&s->stats_lock);
	return go;
}

static int source_thread(void *arg)
{
	struct source *x = arg;
	struct lmig_session *s = x->s;
	ktime_t t0 = ktime_get();
	int ret;

	ret = handshake(x);
	memzero_explicit(x->token, sizeof(x->token));
	s->handshake_error = ret;
	complete_all(&s->handshake);
	if (ret)
		goto out;
	spin_lock(&s->stats_lock);
	s->stats.setup_time_ms = ktime_ms_delta(ktime_get(), t0);
	spin_unlock(&s->stats_lock);

	/* The destination waits too, and hears from here meanwhile; its grants are taken. */
	while (!started(s) && !kthread_should_stop() && !ret) {
		wait_event_interruptible_timeout(x->c->wq, started(s) || lmig_conn_error(x->c) ||
						 (!x->ready && lmig_conn_rx_pending(x->c)) ||
						 kthread_should_stop(), HZ);
		ret = lmig_conn_error(x->c) ?: lmig_conn_keepalive(x->c) ?: vmm_alive(x) ?:
		      take_more_grants(x, 0);
	}
	if (kthread_should_stop())
		goto out;
	if (ret) {
		if (ret != -ESRCH && ret != -EPROTO && ret != -EACCES && ret != -ENOMEM)
			lmig_worker_message(s, "the destination went away before the start");
		goto out;
	}
	spin_lock(&s->stats_lock);
	x->downtime_limit_ms = s->req.downtime_limit_ms;
	x->max_bandwidth = s->req.max_bandwidth;
	spin_unlock(&s->stats_lock);

	kthread_use_mm(x->vm->mm);
	ret = lmig_harvest_begin(x->h);
	if (ret)
		lmig_worker_message(s, "%s", lmig_harvest_why(x->h));
	else
		ret = migrate(x);
	lmig_harvest_end(x->h);
	kthread_unuse_mm(x->vm->mm);
out:
	lmig_conn_close_release(x->c, stages_release, x);
	if (kthread_should_stop())
		ret = -EINTR;
	else if (ret && READ_ONCE(s->stats.final_sent))
		lmig_worker_in_doubt(s, ret);
	else if (ret)
		lmig_worker_failed(s, ret);
	else
		lmig_worker_complete(s);
	lmig_worker_park();
	return 0;
}

int lmig_source_connect(struct lmig_session *s, struct sockaddr *dst,
			const u8 *token, unsigned long timeout, u32 qps)
{
	struct source *x;

	lockdep_assert_held(&s->lock);
	x = kzalloc(sizeof(*x), GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	x->s = s;
	x->vm = s->vm;
	x->timeout = timeout;
	x->qps = qps;
	memcpy(x->token, token, LMIG_TOKEN_LEN);
	memcpy(&x->dst, dst, dst->sa_family == AF_INET6 ?
	       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	x->c = lmig_conn_alloc(s->id);
	x->h = lmig_harvest_alloc(s->vm, s->id);
	x->grants = kcalloc(s->vm->nregions, sizeof(*x->grants), GFP_KERNEL);
	x->msg = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
	x->rxmsg = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
	x->zero = kzalloc(LMIG_MSG_MAX, GFP_KERNEL);
	if (!x->c || !x->h || !x->grants || !x->msg || !x->rxmsg || !x->zero) {
		source_free(x);
		return -ENOMEM;
	}
	return lmig_worker_run(s, source_thread, x, source_free, "src");
}
