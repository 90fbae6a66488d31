// SPDX-License-Identifier: GPL-2.0
/*
 * Data QPs (wire 1.4): more RC QPs under one connection, for the source's
 * RDMA WRITEs, since rdma_rxe, for one, runs each QP on one CPU.
 *
 * The source joins each to the destination's listener once AUTH is done
 * (lmig_conn_join); the destination's RDMA CM handler accepts it into the
 * connection's PD if its private data proves the token for its index
 * (lmig_dqp_accept), so that the rkeys the connection grants work on it.
 * After a round's WRITEs the source sends a marker on each; the
 * destination takes the round's end only once every data QP in use has
 * delivered it, since RC orders nothing across QPs. They are torn down
 * before the connection's own QP, and with it.
 */
#include <crypto/algapi.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <net/ipv6.h>
#include <net/net_namespace.h>

#include "conn.h"
#include "conn_priv.h"

/*
 * A data QP carries WRITEs and a marker per round, one at a time; the
 * destination keeps a few receives posted for the markers. One WR more
 * each way for ib_drain_qp().
 */
#define DQ_RX_DEPTH	4
#define DQ_SQ_DEPTH	(LMIG_WRITE_DEPTH + 2)
#define DQ_CQ_DEPTH	(DQ_SQ_DEPTH + DQ_RX_DEPTH + 1)
/* The longest a round's markers may lag behind its ROUND_DONE. */
#define MARK_TIMEOUT	(30 * HZ)

/* Undoes setup_dqp(); the id stays (its owner destroys it). */
static void teardown_dqp(struct lmig_dqp *q)
{
	if (q->qp_created) {
		ib_drain_qp(q->id->qp);
		rdma_destroy_qp(q->id);
		q->qp_created = false;
	}
	if (q->cq)
		ib_free_cq(q->cq);
	q->cq = NULL;
}

static void dq_mark_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct lmig_dqp *q = container_of(wc->wr_cqe, struct lmig_dqp, mark_cqe);

	lmig_conn_write_done(q->c, wc);
}

static int post_dq_rx(struct lmig_dqp *q)
{
	struct ib_recv_wr wr = { .wr_cqe = &q->rx_cqe };

	return ib_post_recv(q->id->qp, &wr, NULL);
}

/* A marker, or something a data QP must not carry: a SEND with data. */
static void dq_rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct lmig_dqp *q = container_of(wc->wr_cqe, struct lmig_dqp, rx_cqe);
	struct lmig_conn *c = q->c;
	unsigned long flags;

	if (wc->status == IB_WC_WR_FLUSH_ERR)
		return;
	spin_lock_irqsave(&c->lock, flags);
	/* A SEND with data fails the zero-length receive: as bad as any. */
	if (wc->status != IB_WC_SUCCESS || !(wc->wc_flags & IB_WC_WITH_IMM) || wc->byte_len) {
		pr_debug("session %u: data QP receive: %s, %u bytes\n", c->session,
			 ib_wc_status_msg(wc->status), wc->byte_len);
		q->bad = true;
	} else {
		q->mark = be32_to_cpu(wc->ex.imm_data);
		q->marked = true;
		/*
		 * One marker per round, each after the last round's
		 * ROUND_ACK: a few receives keep up. Under the lock, so that
		 * none is posted once teardown has begun to drain the QP.
		 */
		if (!q->closing && post_dq_rx(q))
			q->bad = true;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
}

/* A data QP in the connection's PD: WRITEs and markers out, markers in. */
static int setup_dqp(struct lmig_conn *c, struct lmig_dqp *q, struct rdma_cm_id *id)
{
	struct ib_qp_init_attr qa = {};
	int ret;

	/* The stages are mapped for the connection's device, the MRs are in its PD. */
	if (id->device != c->id->device)
		return -EXDEV;
	q->cq = ib_alloc_cq_any(id->device, c, DQ_CQ_DEPTH, IB_POLL_SOFTIRQ);
	if (IS_ERR(q->cq)) {
		ret = PTR_ERR(q->cq);
		q->cq = NULL;
		return ret;
	}
	qa.event_handler = lmig_conn_qp_event;
	qa.qp_context = c;
	qa.send_cq = q->cq;
	qa.recv_cq = q->cq;
	qa.cap.max_send_wr = DQ_SQ_DEPTH;
	qa.cap.max_recv_wr = DQ_RX_DEPTH + 1;
	qa.cap.max_send_sge = c->max_sge;
	qa.cap.max_recv_sge = 1;
	qa.sq_sig_type = IB_SIGNAL_REQ_WR;
	qa.qp_type = IB_QPT_RC;
	ret = rdma_create_qp(id, c->pd, &qa);
	if (ret) {
		teardown_dqp(q);
		return ret;
	}
	q->qp_created = true;
	q->c = c;
	q->mark_cqe.done = dq_mark_done;
	q->rx_cqe.done = dq_rx_done;
	q->marked = false;
	q->bad = false;
	q->closing = false;
	return 0;
}

/* Whether a and b are the same host's address (ports aside). */
static bool same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET6)
		return ipv6_addr_equal(&((const struct sockaddr_in6 *)a)->sin6_addr,
				       &((const struct sockaddr_in6 *)b)->sin6_addr);
	return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
	       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
}

/*
 * A join request on the listener: accepted only while joins are open
 * (after AUTH), with the MAC of its index, each index once. Anything else
 * is rejected and its id destroyed by RDMA CM.
 */
int lmig_dqp_accept(struct lmig_conn *c, struct rdma_cm_id *id, const struct lmig_join *j)
{
	struct rdma_conn_param param = lmig_conn_param;
	u16 i = le16_to_cpu(j->index);
	struct lmig_dqp *q = NULL;
	unsigned long flags;
	int ret = -EACCES, k;

	mutex_lock(&c->join_lock);
	/* The proof travels in the clear: it counts from the source's host only. */
	if (!c->join_open || j->major != LMIG_PROTO_MAJOR || j->minor < 4 || !i ||
	    i > ARRAY_SIZE(c->dq) || crypto_memneq(j->mac, c->join_mac[i - 1], LMIG_MAC_LEN) ||
	    !same_host((struct sockaddr *)&id->route.addr.dst_addr,
		       (struct sockaddr *)&c->peer))
		goto out;
	q = &c->dq[i - 1];
	ret = -EBUSY;
	if (q->id)
		goto out;
	ret = rdma_set_ack_timeout(id, LOCAL_ACK_TIMEOUT) ?: setup_dqp(c, q, id);
	if (ret)
		goto out;
	spin_lock_irqsave(&c->lock, flags);
	q->cm = LMIG_CM_ACCEPTED;
	q->cm_error = 0;
	q->accepted = true;
	WRITE_ONCE(q->id, id);
	spin_unlock_irqrestore(&c->lock, flags);
	for (k = 0; k < DQ_RX_DEPTH && !ret; k++)
		ret = post_dq_rx(q);
	if (!ret)
		ret = rdma_accept(id, &param);
	if (ret) {
		teardown_dqp(q);
		spin_lock_irqsave(&c->lock, flags);
		WRITE_ONCE(q->id, NULL);
		q->cm = LMIG_CM_IDLE;
		q->accepted = false;
		spin_unlock_irqrestore(&c->lock, flags);
	}
out:
	mutex_unlock(&c->join_lock);
	pr_debug("session %u: join %u from %pISpc: %d\n", c->session, i,
		 &id->route.addr.dst_addr, ret);
	return ret;
}

struct lmig_dqp *lmig_dqp_find(struct lmig_conn *c, struct rdma_cm_id *id)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(c->dq); i++)
		if (READ_ONCE(c->dq[i].id) == id)
			return &c->dq[i];
	return NULL;
}

/*
 * A data QP's events: until it is connected they are its own (a join
 * that fails leaves the session on fewer QPs); once it is, they are the
 * connection's.
 */
void lmig_dqp_event(struct lmig_conn *c, struct lmig_dqp *q, struct rdma_cm_event *ev)
{
	enum lmig_cm_state was;
	unsigned long flags;
	int err = 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
	case RDMA_CM_EVENT_ESTABLISHED:
		lmig_cm_advance(c, &q->cm, ev->event);
		return;
	default:
		err = lmig_cm_event_error(ev->event);
		if (!err)
			return;
		/* The worker destroys the id, which removal awaits. */
		if (err == -ENODEV)
			lmig_conn_set_closed(c, err);
		break;
	}
	spin_lock_irqsave(&c->lock, flags);
	was = q->cm;
	if (q->cm != LMIG_CM_CLOSED) {
		q->cm = LMIG_CM_CLOSED;
		q->cm_error = err;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	/*
	 * The source's QPs are all in use once joined; the destination's
	 * once JOINED names them. One the source gave up on while it was
	 * accepted here is nothing to the connection.
	 */
	if (was == LMIG_CM_CONNECTED && (!q->accepted || q->in_use))
		lmig_conn_set_closed(c, err);
	wake_up(&c->wq);
}

/* No join is accepted from here on. */
static void stop_joins(struct lmig_conn *c)
{
	mutex_lock(&c->join_lock);
	c->join_open = false;
	memzero_explicit(c->join_mac, sizeof(c->join_mac));
	mutex_unlock(&c->join_lock);
}

/*
 * No join is accepted from here on, and the data QPs go: drained and
 * destroyed before the connection's QP, so that nothing writes into the
 * memory its release unpins, and before the PD they share.
 */
void lmig_dqp_close_all(struct lmig_conn *c)
{
	struct rdma_cm_id *id;
	unsigned long flags;
	u32 i;

	stop_joins(c);
	spin_lock_irqsave(&c->lock, flags);
	for (i = 0; i < ARRAY_SIZE(c->dq); i++)
		c->dq[i].closing = true;
	spin_unlock_irqrestore(&c->lock, flags);
	for (i = 0; i < ARRAY_SIZE(c->dq); i++)
		if (c->dq[i].id && c->dq[i].qp_created)
			rdma_disconnect(c->dq[i].id);
	for (i = 0; i < ARRAY_SIZE(c->dq); i++) {
		struct lmig_dqp *q = &c->dq[i];

		id = q->id;
		if (!id)
			continue;
		teardown_dqp(q);
		spin_lock_irqsave(&c->lock, flags);
		WRITE_ONCE(q->id, NULL);
		q->cm = LMIG_CM_IDLE;
		q->cm_error = 0;
		q->accepted = false;
		q->in_use = false;
		spin_unlock_irqrestore(&c->lock, flags);
		rdma_destroy_id(id);
	}
	WRITE_ONCE(c->nqps, 1);
}

/* lmig_conn_join()'s wait_cm(): a data QP's state, or the connection's end. */
static int wait_dqp(struct lmig_conn *c, struct lmig_dqp *q, enum lmig_cm_state want,
		    unsigned long timeout)
{
	long left;
	int err;

	left = wait_event_interruptible_timeout(c->wq, READ_ONCE(q->cm) >= want ||
						lmig_conn_error(c) || lmig_conn_stopping(),
						timeout);
	err = lmig_conn_error(c);
	if (err)
		return err;
	if (READ_ONCE(q->cm) == LMIG_CM_CLOSED)
		return READ_ONCE(q->cm_error) ?: -ECONNRESET;
	if (READ_ONCE(q->cm) >= want)
		return 0;
	if (lmig_conn_stopping())
		return -EINTR;
	return left < 0 ? -EINTR : -ETIMEDOUT;
}

int lmig_conn_join(struct lmig_conn *c, const struct lmig_join *join, unsigned long timeout)
{
	struct rdma_conn_param param = lmig_conn_param;
	struct lmig_dqp *q;
	struct rdma_cm_id *id;
	unsigned long flags;
	int ret;

	if (WARN_ON_ONCE(c->nqps > ARRAY_SIZE(c->dq) || !c->id))
		return -EINVAL;
	q = &c->dq[c->nqps - 1];
	id = rdma_create_id(&init_net, lmig_cm_handler, c, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(id))
		return PTR_ERR(id);
	spin_lock_irqsave(&c->lock, flags);
	q->cm = LMIG_CM_IDLE;
	q->cm_error = 0;
	WRITE_ONCE(q->id, id);
	spin_unlock_irqrestore(&c->lock, flags);
	param.private_data = join;
	param.private_data_len = sizeof(*join);
	ret = rdma_set_ack_timeout(id, LOCAL_ACK_TIMEOUT);
	if (!ret)
		ret = rdma_resolve_addr(id, NULL, (struct sockaddr *)&c->peer, RESOLVE_MS);
	if (!ret)
		ret = wait_dqp(c, q, LMIG_CM_ADDR, timeout);
	if (!ret)
		ret = rdma_resolve_route(id, RESOLVE_MS);
	if (!ret)
		ret = wait_dqp(c, q, LMIG_CM_ROUTE, timeout);
	if (!ret)
		ret = setup_dqp(c, q, id);
	if (!ret)
		ret = rdma_connect(id, &param);
	if (!ret)
		ret = wait_dqp(c, q, LMIG_CM_CONNECTED, timeout);
	if (!ret) {
		c->nqps++;
		return 0;
	}
	/* Given up: a late ESTABLISHED, or its end, is no longer the connection's. */
	spin_lock_irqsave(&c->lock, flags);
	q->cm = LMIG_CM_CLOSED;
	spin_unlock_irqrestore(&c->lock, flags);
	/*
	 * A late REP may still move the QP on, under RDMA CM's QP mutex;
	 * rdma_disconnect() fails it under that mutex first, so the drain's
	 * own move to the error state cannot be undone.
	 */
	if (q->qp_created)
		rdma_disconnect(id);
	teardown_dqp(q);
	spin_lock_irqsave(&c->lock, flags);
	WRITE_ONCE(q->id, NULL);
	q->cm = LMIG_CM_IDLE;
	spin_unlock_irqrestore(&c->lock, flags);
	rdma_destroy_id(id);
	return ret;
}

void lmig_conn_open_joins(struct lmig_conn *c, u8 mac[][LMIG_MAC_LEN], u32 n)
{
	mutex_lock(&c->join_lock);
	memcpy(c->join_mac, mac, min_t(size_t, n, ARRAY_SIZE(c->join_mac)) * LMIG_MAC_LEN);
	c->join_open = true;
	mutex_unlock(&c->join_lock);
}

/*
 * A QP accepted here that the source does not use (it gave up on it, or
 * never said) is failed: nothing would order its WRITEs.
 */
static void drop_unused(struct lmig_conn *c)
{
	u32 i;

	for (i = c->nqps - 1; i < ARRAY_SIZE(c->dq); i++)
		if (c->dq[i].id && c->dq[i].accepted && c->dq[i].qp_created)
			rdma_disconnect(c->dq[i].id);
}

void lmig_conn_close_joins(struct lmig_conn *c)
{
	stop_joins(c);
	drop_unused(c);
}

int lmig_conn_use_joins(struct lmig_conn *c, u32 qps)
{
	unsigned long flags;
	u32 i;

	stop_joins(c);
	if (!qps || qps > LMIG_MAX_QPS)
		return -EPROTO;
	/* The source's joins were established: each was accepted here first. */
	for (i = 1; i < qps; i++)
		if (!READ_ONCE(c->dq[i - 1].id))
			return -EPROTO;
	spin_lock_irqsave(&c->lock, flags);
	for (i = 1; i < qps; i++)
		c->dq[i - 1].in_use = true;
	WRITE_ONCE(c->nqps, qps);
	spin_unlock_irqrestore(&c->lock, flags);
	drop_unused(c);
	return 0;
}

int lmig_conn_mark(struct lmig_conn *c, u32 round)
{
	unsigned long flags;
	u32 i;
	int ret = 0;

	for (i = 1; i < c->nqps && !ret; i++) {
		struct lmig_dqp *q = &c->dq[i - 1];
		struct ib_send_wr wr = {
			.wr_cqe = &q->mark_cqe,
			.opcode = IB_WR_SEND_WITH_IMM,
			.send_flags = IB_SEND_SIGNALED,
			.ex.imm_data = cpu_to_be32(round),
		};

		/* Counted with the WRITEs, whose completions the round awaits. */
		spin_lock_irqsave(&c->lock, flags);
		c->writes++;
		spin_unlock_irqrestore(&c->lock, flags);
		ret = ib_post_send(q->id->qp, &wr, NULL);
		if (ret) {
			spin_lock_irqsave(&c->lock, flags);
			c->writes--;
			spin_unlock_irqrestore(&c->lock, flags);
		}
	}
	return ret;
}

/* 1 when every data QP in use marked round, 0 if not yet, or an error. */
static int marks_in(struct lmig_conn *c, u32 round)
{
	unsigned long flags;
	int ret = 1;
	u32 i;

	spin_lock_irqsave(&c->lock, flags);
	for (i = 1; i < c->nqps && ret > 0; i++) {
		const struct lmig_dqp *q = &c->dq[i - 1];

		if (q->bad)
			ret = -EPROTO;
		else if (q->marked && q->mark == round)
			continue;
		else if (q->cm == LMIG_CM_CLOSED)
			ret = q->cm_error ?: -ECONNRESET;
		else
			ret = 0;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return ret;
}

int lmig_conn_wait_marks(struct lmig_conn *c, u32 round)
{
	unsigned long deadline = jiffies + MARK_TIMEOUT;
	int ret;

	for (;;) {
		wait_event_interruptible_timeout(c->wq, marks_in(c, round) ||
						 lmig_conn_error(c) || lmig_conn_stopping(), HZ);
		ret = marks_in(c, round);
		if (ret > 0)
			return 0;
		if (ret < 0)
			return ret;
		ret = lmig_conn_stopping() ? -EINTR : lmig_conn_alive(c) ?: lmig_conn_keepalive(c);
		if (!ret && time_after(jiffies, deadline))
			ret = -ETIMEDOUT;
		if (ret)
			return ret;
	}
}
