// SPDX-License-Identifier: GPL-2.0
/*
 * The RDMA connection under a session: RDMA CM for addressing and the
 * connection, kernel verbs for the rest, in the manner of nvme-rdma.
 *
 * Only the session's worker thread calls these functions; the RDMA CM
 * event handler and the completion handlers (softirq) only record what
 * happened under c->lock and wake the worker, which does the work. The
 * one exception is a connect request on the destination's listener: the
 * QP is set up and accepted in the handler, as RDMA CM wants.
 *
 * A connection may have data QPs too (dqp.c): its RDMA CM handler passes
 * their events and join requests on, and its teardown takes them first.
 */
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/kthread.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "compat.h"
#include "conn.h"
#include "conn_priv.h"

#define SQ_DEPTH	(LMIG_TX_DEPTH + LMIG_WRITE_DEPTH + 4)
/* One receive more for ib_drain_rq()'s marker, as nvme-rdma keeps. */
#define RQ_DEPTH	(LMIG_RX_DEPTH + 1)
#define CQ_DEPTH	(SQ_DEPTH + RQ_DEPTH)
/*
 * A side that has sent nothing for KEEPALIVE sends a NOP. A peer that
 * died without a word (powered off, its link cut) then fails that send
 * after the retries above, so neither side waits for it forever. A peer
 * whose QP lives but that sends nothing, not even NOPs, for PEER_TIMEOUT
 * counts as gone too.
 */
#define KEEPALIVE	(2 * HZ)
#define PEER_TIMEOUT	(30 * HZ)

static void check_sizes(void)
{
	BUILD_BUG_ON(sizeof(struct lmig_msg_hdr) != 16);
	BUILD_BUG_ON(sizeof(struct lmig_wire_slot) != 24);
	BUILD_BUG_ON(sizeof(struct lmig_msg_hello) != 32);
	BUILD_BUG_ON(sizeof(struct lmig_msg_challenge) != 48);
	BUILD_BUG_ON(sizeof(struct lmig_msg_auth) != 48);
	BUILD_BUG_ON(sizeof(struct lmig_wire_grant) != 32);
	BUILD_BUG_ON(sizeof(struct lmig_msg_grant) != 24);
	BUILD_BUG_ON(sizeof(struct lmig_msg_ready) != 32);
	BUILD_BUG_ON(sizeof(struct lmig_msg_data) != 32);
	BUILD_BUG_ON(sizeof(struct lmig_wire_range) != 16);
	BUILD_BUG_ON(sizeof(struct lmig_msg_zero) != 24);
	BUILD_BUG_ON(sizeof(struct lmig_msg_round) != 40);
	BUILD_BUG_ON(sizeof(struct lmig_msg_blob) != 24);
	BUILD_BUG_ON(sizeof(struct lmig_msg_final) != 48);
	BUILD_BUG_ON(sizeof(struct lmig_msg_error) != 24 + LMIG_ERROR_TEXT);
	BUILD_BUG_ON(sizeof(struct lmig_join) != 40);
	BUILD_BUG_ON(sizeof(struct lmig_msg_joined) != 24);
	/* What RDMA CM carries in a connect request after its own header. */
	BUILD_BUG_ON(sizeof(struct lmig_join) > 56);
	BUILD_BUG_ON(sizeof(struct lmig_msg_hello) +
		     LMIG_MAX_SLOTS * sizeof(struct lmig_wire_slot) > LMIG_MSG_MAX);
}

bool lmig_conn_stopping(void)
{
	return (current->flags & PF_KTHREAD) && kthread_should_stop();
}

void lmig_conn_set_closed(struct lmig_conn *c, int err)
{
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (c->cm != LMIG_CM_CLOSED) {
		c->cm = LMIG_CM_CLOSED;
		c->cm_error = err;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
}

static void set_wc_error(struct lmig_conn *c, struct ib_wc *wc)
{
	unsigned long flags;

	if (wc->status != IB_WC_WR_FLUSH_ERR)
		pr_debug("session %u: completion error %s\n", c->session,
			 ib_wc_status_msg(wc->status));
	spin_lock_irqsave(&c->lock, flags);
	if (!c->wc_error)
		c->wc_error = wc->status == IB_WC_WR_FLUSH_ERR ? -ECONNRESET : -EIO;
	spin_unlock_irqrestore(&c->lock, flags);
}

int lmig_conn_error(struct lmig_conn *c)
{
	unsigned long flags;
	int err = 0;

	spin_lock_irqsave(&c->lock, flags);
	/* After a drain, the flushed receives say less than the CM's reason. */
	if (c->wc_error && !(c->rq_drained && c->cm == LMIG_CM_CLOSED))
		err = c->wc_error;
	else if (c->cm == LMIG_CM_CLOSED)
		err = c->cm_error ? c->cm_error : -ECONNRESET;
	spin_unlock_irqrestore(&c->lock, flags);
	return err;
}

static void rx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct lmig_rx *rx = container_of(wc->wr_cqe, struct lmig_rx, cqe);
	struct lmig_conn *c = rx->c;
	unsigned long flags;

	if (wc->status != IB_WC_SUCCESS) {
		set_wc_error(c, wc);
	} else {
		ib_dma_sync_single_for_cpu(cq->device, rx->dma, LMIG_MSG_MAX, DMA_FROM_DEVICE);
		rx->len = wc->byte_len;
		WRITE_ONCE(c->last_rx, jiffies);
		spin_lock_irqsave(&c->lock, flags);
		list_add_tail(&rx->node, &c->rx_ready);
		spin_unlock_irqrestore(&c->lock, flags);
	}
	wake_up(&c->wq);
}

static void tx_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct lmig_tx *tx = container_of(wc->wr_cqe, struct lmig_tx, cqe);
	struct lmig_conn *c = tx->c;
	unsigned long flags;

	if (wc->status != IB_WC_SUCCESS)
		set_wc_error(c, wc);
	spin_lock_irqsave(&c->lock, flags);
	tx->status = wc->status;
	tx->busy = false;
	c->tx_busy--;
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
}

void lmig_conn_write_done(struct lmig_conn *c, struct ib_wc *wc)
{
	unsigned long flags;

	if (wc->status != IB_WC_SUCCESS)
		set_wc_error(c, wc);
	spin_lock_irqsave(&c->lock, flags);
	c->writes--;
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
}

static void sync_wr_done(struct ib_cq *cq, struct ib_wc *wc)
{
	struct lmig_sync_wr *w = container_of(wc->wr_cqe, struct lmig_sync_wr, cqe);

	w->status = wc->status;
	complete(&w->done);
}

void lmig_sync_wr_init(struct lmig_sync_wr *w)
{
	w->cqe.done = sync_wr_done;
	init_completion(&w->done);
	w->status = IB_WC_SUCCESS;
}

int lmig_sync_wr_wait(struct lmig_conn *c, struct lmig_sync_wr *w)
{
	struct ib_qp_attr attr = { .qp_state = IB_QPS_ERR };
	unsigned long deadline = jiffies + SEND_TIMEOUT;
	bool qp_in_error = false, warned = false;
	int err = 0, ret;

	/*
	 * A posted WR always completes, if only flushed when the QP fails,
	 * and it must not be forgotten before: it points into our stack.
	 * But it completes in order, behind every send posted before it, and
	 * a peer that keeps its QP up while it posts no receive holds such a
	 * send (RNR retries without end) and this WR with it. So the wait is
	 * bounded: when the worker must stop, the peer counts as gone, or the
	 * WR is not done after SEND_TIMEOUT, the QP is moved to the error
	 * state, which flushes it.
	 */
	while (!wait_for_completion_timeout(&w->done, HZ)) {
		if (qp_in_error)
			continue;
		if (!err) {
			err = lmig_conn_stopping() ? -EINTR : lmig_conn_alive(c);
			if (!err && time_after(jiffies, deadline))
				err = -ETIMEDOUT;
			if (!err)
				continue;
			pr_debug("session %u: a work request waits too long (%d): failing the QP\n",
				 c->session, err);
			lmig_conn_set_closed(c, err);
		}
		/* Tried again each second: only the flush lets the WR go. */
		ret = ib_modify_qp(c->id->qp, &attr, IB_QP_STATE);
		qp_in_error = !ret;
		if (ret && !warned) {
			pr_warn("session %u: cannot fail the QP (%d); waiting for its work request\n",
				c->session, ret);
			warned = true;
		}
	}
	if (w->status == IB_WC_SUCCESS)
		return 0;
	pr_debug("session %u: work request failed: %s\n", c->session,
		 ib_wc_status_msg(w->status));
	if (err)
		return err;
	return w->status == IB_WC_WR_FLUSH_ERR ? -ECONNRESET : -EIO;
}

void lmig_conn_qp_event(struct ib_event *ev, void *ctx)
{
	struct lmig_conn *c = ctx;

	pr_debug("session %u: QP event %s\n", c->session, ib_event_msg(ev->event));
	if (ev->event == IB_EVENT_QP_FATAL || ev->event == IB_EVENT_QP_ACCESS_ERR ||
	    ev->event == IB_EVENT_QP_REQ_ERR)
		lmig_conn_set_closed(c, -EIO);
}

static int post_rx(struct lmig_conn *c, struct lmig_rx *rx)
{
	struct ib_sge sge = {
		.addr = rx->dma,
		.length = LMIG_MSG_MAX,
		.lkey = c->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = {
		.wr_cqe = &rx->cqe,
		.sg_list = &sge,
		.num_sge = 1,
	};

	return ib_post_recv(c->id->qp, &wr, NULL);
}

static void free_buffers(struct lmig_conn *c, struct ib_device *dev)
{
	int i;

	for (i = 0; i < LMIG_RX_DEPTH; i++) {
		if (c->rx[i].dma)
			ib_dma_unmap_single(dev, c->rx[i].dma, LMIG_MSG_MAX, DMA_FROM_DEVICE);
		kfree(c->rx[i].buf);
		c->rx[i].buf = NULL;
		c->rx[i].dma = 0;
	}
	for (i = 0; i < LMIG_TX_DEPTH; i++) {
		if (c->tx[i].dma)
			ib_dma_unmap_single(dev, c->tx[i].dma, LMIG_MSG_MAX, DMA_TO_DEVICE);
		kfree(c->tx[i].buf);
		c->tx[i].buf = NULL;
		c->tx[i].dma = 0;
		c->tx[i].busy = false;
	}
}

static int alloc_buffers(struct lmig_conn *c, struct ib_device *dev)
{
	int i;

	for (i = 0; i < LMIG_RX_DEPTH; i++) {
		struct lmig_rx *rx = &c->rx[i];

		rx->c = c;
		rx->cqe.done = rx_done;
		rx->buf = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
		if (!rx->buf)
			return -ENOMEM;
		rx->dma = ib_dma_map_single(dev, rx->buf, LMIG_MSG_MAX, DMA_FROM_DEVICE);
		if (ib_dma_mapping_error(dev, rx->dma)) {
			rx->dma = 0;
			return -ENOMEM;
		}
	}
	for (i = 0; i < LMIG_TX_DEPTH; i++) {
		struct lmig_tx *tx = &c->tx[i];

		tx->c = c;
		tx->cqe.done = tx_done;
		tx->buf = kmalloc(LMIG_MSG_MAX, GFP_KERNEL);
		if (!tx->buf)
			return -ENOMEM;
		tx->dma = ib_dma_map_single(dev, tx->buf, LMIG_MSG_MAX, DMA_TO_DEVICE);
		if (ib_dma_mapping_error(dev, tx->dma)) {
			tx->dma = 0;
			return -ENOMEM;
		}
	}
	return 0;
}

/* Undoes setup_qp(); release runs once the QP can no longer be used. */
static void teardown_qp(struct lmig_conn *c, struct rdma_cm_id *id,
			void (*release)(void *), void *arg)
{
	if (c->qp_created) {
		ib_drain_qp(id->qp);
		rdma_destroy_qp(id);
		c->qp_created = false;
	}
	if (release)
		release(arg);
	free_buffers(c, id->device);
	if (c->cq)
		ib_free_cq(c->cq);
	c->cq = NULL;
	if (c->pd)
		ib_dealloc_pd(c->pd);
	c->pd = NULL;
}

static int setup_qp(struct lmig_conn *c, struct rdma_cm_id *id)
{
	struct ib_device *dev = id->device;
	struct ib_qp_init_attr qa = {};
	int i, ret;

	c->pd = ib_alloc_pd(dev, 0);
	if (IS_ERR(c->pd)) {
		ret = PTR_ERR(c->pd);
		c->pd = NULL;
		return ret;
	}
	c->cq = ib_alloc_cq_any(dev, c, CQ_DEPTH, IB_POLL_SOFTIRQ);
	if (IS_ERR(c->cq)) {
		ret = PTR_ERR(c->cq);
		c->cq = NULL;
		goto out;
	}
	c->max_sge = min_t(u32, 16, dev->attrs.max_send_sge);
	/* Without fast registration the destination copies pages in. */
	if ((dev->attrs.device_cap_flags & IB_DEVICE_MEM_MGT_EXTENSIONS) &&
	    dev->attrs.max_fast_reg_page_list_len > LMIG_MR_SPARE_PAGES)
		c->fr_pages = min_t(u32, 512, dev->attrs.max_fast_reg_page_list_len -
				    LMIG_MR_SPARE_PAGES);
	else
		c->fr_pages = 0;
	qa.event_handler = lmig_conn_qp_event;
	qa.qp_context = c;
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.cap.max_send_wr = SQ_DEPTH;
	qa.cap.max_recv_wr = RQ_DEPTH;
	qa.cap.max_send_sge = c->max_sge;
	qa.cap.max_recv_sge = 1;
	qa.sq_sig_type = IB_SIGNAL_REQ_WR;
	qa.qp_type = IB_QPT_RC;
	ret = rdma_create_qp(id, c->pd, &qa);
	if (ret)
		goto out;
	c->qp_created = true;
	c->id = id;
	ret = alloc_buffers(c, dev);
	for (i = 0; !ret && i < LMIG_RX_DEPTH; i++)
		ret = post_rx(c, &c->rx[i]);
	if (!ret)
		return 0;
out:
	teardown_qp(c, id, NULL, NULL);
	return ret;
}

const struct rdma_conn_param lmig_conn_param = {
	.retry_count = 7,
	.rnr_retry_count = 7,	/* receivers catch up; wait for them */
};

/* A connect request on the listener: the first one is ours to accept. */
static int accept_request(struct lmig_conn *c, struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	const struct lmig_join *j = ev->param.conn.private_data;
	struct rdma_conn_param param = lmig_conn_param;
	unsigned long flags;
	int ret;

	if (j && ev->param.conn.private_data_len >= sizeof(*j) &&
	    le32_to_cpu(j->magic) == LMIG_JOIN_MAGIC)
		return lmig_dqp_accept(c, id, j);

	spin_lock_irqsave(&c->lock, flags);
	if (c->id || c->cm != LMIG_CM_IDLE) {
		spin_unlock_irqrestore(&c->lock, flags);
		return -EBUSY;	/* RDMA CM rejects and destroys the id */
	}
	c->cm = LMIG_CM_ACCEPTED;
	spin_unlock_irqrestore(&c->lock, flags);

	ret = rdma_set_ack_timeout(id, LOCAL_ACK_TIMEOUT);
	if (!ret)
		ret = setup_qp(c, id);
	if (!ret) {
		memcpy(&c->peer, &id->route.addr.dst_addr, sizeof(c->peer));
		ret = rdma_accept(id, &param);
		if (ret)
			teardown_qp(c, id, NULL, NULL);
	}
	spin_lock_irqsave(&c->lock, flags);
	if (ret) {
		c->id = NULL;
		c->cm = LMIG_CM_IDLE;
	}
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
	return ret;
}

/* ADDR_RESOLVED, ROUTE_RESOLVED or ESTABLISHED: how far a connection got. */
void lmig_cm_advance(struct lmig_conn *c, enum lmig_cm_state *state,
		     enum rdma_cm_event_type event)
{
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (*state != LMIG_CM_CLOSED)
		*state = event == RDMA_CM_EVENT_ADDR_RESOLVED ? LMIG_CM_ADDR :
			 event == RDMA_CM_EVENT_ROUTE_RESOLVED ? LMIG_CM_ROUTE :
			 LMIG_CM_CONNECTED;
	spin_unlock_irqrestore(&c->lock, flags);
	wake_up(&c->wq);
}

/* What an RDMA CM event that ends a connection means, or 0. */
int lmig_cm_event_error(enum rdma_cm_event_type event)
{
	switch (event) {
	case RDMA_CM_EVENT_ADDR_ERROR:
		return -EHOSTUNREACH;
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return -ENETUNREACH;
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return -ETIMEDOUT;
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_ADDR_CHANGE:
		return -ECONNRESET;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return -ENODEV;
	default:
		return 0;
	}
}

int lmig_cm_handler(struct rdma_cm_id *id, struct rdma_cm_event *ev)
{
	struct lmig_conn *c = id->context;
	struct lmig_dqp *q;
	int err;

	pr_debug("session %u: %s (%d)\n", c->session, rdma_event_msg(ev->event), ev->status);
	if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST)
		return accept_request(c, id, ev);
	q = lmig_dqp_find(c, id);
	if (q) {
		lmig_dqp_event(c, q, ev);
		return 0;
	}
	if (id == c->listen_id) {
		if (ev->event == RDMA_CM_EVENT_DEVICE_REMOVAL)
			lmig_conn_set_closed(c, -ENODEV);
		return 0;
	}
	/*
	 * A connection being closed may still report (its DISCONNECTED
	 * after the state was reset for the next one): it no longer speaks
	 * for this conn. Device removal still waits for its destroy.
	 */
	if (READ_ONCE(c->id) != id)
		return 0;

	switch (ev->event) {
	case RDMA_CM_EVENT_ESTABLISHED:
		WRITE_ONCE(c->last_rx, jiffies);
		WRITE_ONCE(c->last_tx, jiffies);
		fallthrough;
	case RDMA_CM_EVENT_ADDR_RESOLVED:
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		lmig_cm_advance(c, &c->cm, ev->event);
		break;
	default:
		/* On device removal the worker destroys the id, which removal awaits. */
		err = lmig_cm_event_error(ev->event);
		if (err)
			lmig_conn_set_closed(c, err);
		break;
	}
	return 0;
}

struct lmig_conn *lmig_conn_alloc(u32 session)
{
	struct lmig_conn *c = kzalloc(sizeof(*c), GFP_KERNEL);

	check_sizes();
	if (!c)
		return NULL;
	c->session = session;
	c->nqps = 1;
	init_waitqueue_head(&c->wq);
	spin_lock_init(&c->lock);
	mutex_init(&c->join_lock);
	INIT_LIST_HEAD(&c->rx_ready);
	return c;
}

static void conn_close(struct lmig_conn *c, void (*release)(void *), void *arg)
{
	struct rdma_cm_id *id = c->id;
	unsigned long flags;

	lmig_dqp_close_all(c);
	if (id && c->qp_created)
		rdma_disconnect(id);
	if (id)
		teardown_qp(c, id, release, arg);
	/* Even with no id: a failed wait leaves CLOSED behind for the next. */
	spin_lock_irqsave(&c->lock, flags);
	c->id = NULL;
	c->cm = LMIG_CM_IDLE;
	c->cm_error = 0;
	c->wc_error = 0;
	c->rq_drained = false;
	c->tx_busy = 0;
	c->writes = 0;
	INIT_LIST_HEAD(&c->rx_ready);
	spin_unlock_irqrestore(&c->lock, flags);
	if (id)
		rdma_destroy_id(id);
}

void lmig_conn_close(struct lmig_conn *c)
{
	conn_close(c, NULL, NULL);
}

void lmig_conn_close_release(struct lmig_conn *c, void (*release)(void *), void *arg)
{
	conn_close(c, release, arg);
}

void lmig_conn_unlisten(struct lmig_conn *c)
{
	if (c->listen_id)
		rdma_destroy_id(c->listen_id);
	c->listen_id = NULL;
}

void lmig_conn_free(struct lmig_conn *c)
{
	if (!c)
		return;
	lmig_conn_unlisten(c);
	lmig_conn_close(c);
	kfree(c);
}

/* Waits until the connection reaches want, closes, or the worker stops. */
static int wait_cm(struct lmig_conn *c, enum lmig_cm_state want, unsigned long timeout)
{
	long left;

	left = wait_event_interruptible_timeout(c->wq,
						READ_ONCE(c->cm) >= want || lmig_conn_stopping(),
						timeout);
	if (READ_ONCE(c->cm) == LMIG_CM_CLOSED)
		return lmig_conn_error(c);
	if (READ_ONCE(c->cm) >= want)
		return 0;
	if (lmig_conn_stopping())
		return -EINTR;
	return left < 0 ? -EINTR : -ETIMEDOUT;
}

int lmig_conn_connect(struct lmig_conn *c, struct sockaddr *dst, unsigned long timeout)
{
	struct rdma_conn_param param = lmig_conn_param;
	struct rdma_cm_id *id;
	int ret;

	id = rdma_create_id(&init_net, lmig_cm_handler, c, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(id))
		return PTR_ERR(id);
	c->id = id;
	memcpy(&c->peer, dst, dst->sa_family == AF_INET6 ?
	       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	ret = rdma_set_ack_timeout(id, LOCAL_ACK_TIMEOUT);
	if (!ret)
		ret = rdma_resolve_addr(id, NULL, dst, RESOLVE_MS);
	if (!ret)
		ret = wait_cm(c, LMIG_CM_ADDR, timeout);
	if (!ret)
		ret = rdma_resolve_route(id, RESOLVE_MS);
	if (!ret)
		ret = wait_cm(c, LMIG_CM_ROUTE, timeout);
	if (!ret)
		ret = setup_qp(c, id);
	if (!ret)
		ret = rdma_connect(id, &param);
	if (!ret)
		ret = wait_cm(c, LMIG_CM_CONNECTED, timeout);
	return ret;
}

/*
 * RDMA CM says EADDRNOTAVAIL both for an address this host does not have
 * and for a port taken; an operator (and lmctl, which tries the next port)
 * must know which. The address alone, on any port, tells.
 */
static int bind_error(struct sockaddr *src, int err)
{
	struct sockaddr_storage any_port;
	struct rdma_cm_id *probe;

	if (err != -EADDRNOTAVAIL)
		return err;
	memcpy(&any_port, src, sizeof(any_port));
	if (any_port.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&any_port)->sin6_port = 0;
	else
		((struct sockaddr_in *)&any_port)->sin_port = 0;
	probe = rdma_create_id(&init_net, lmig_cm_handler, NULL, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(probe))
		return err;
	if (!rdma_bind_addr(probe, (struct sockaddr *)&any_port))
		err = -EADDRINUSE;
	rdma_destroy_id(probe);
	return err;
}

int lmig_conn_listen(struct lmig_conn *c, struct sockaddr *src)
{
	struct rdma_cm_id *id;
	int ret;

	id = rdma_create_id(&init_net, lmig_cm_handler, c, RDMA_PS_TCP, IB_QPT_RC);
	if (IS_ERR(id))
		return PTR_ERR(id);
	ret = rdma_bind_addr(id, src);
	if (ret)
		ret = bind_error(src, ret);
	if (!ret)
		ret = rdma_listen(id, 4);
	if (ret) {
		rdma_destroy_id(id);
		return ret;
	}
	/* The port bound, when src asked for any. */
	memcpy(src, &id->route.addr.src_addr, src->sa_family == AF_INET6 ?
	       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	c->listen_id = id;
	return 0;
}

int lmig_conn_wait_peer(struct lmig_conn *c, unsigned long timeout)
{
	long left;

	left = wait_event_interruptible_timeout(c->wq, READ_ONCE(c->cm) == LMIG_CM_CONNECTED ||
						READ_ONCE(c->cm) == LMIG_CM_CLOSED ||
						lmig_conn_stopping(), timeout);
	if (lmig_conn_stopping() || left < 0)
		return -EINTR;
	if (READ_ONCE(c->cm) == LMIG_CM_CONNECTED)
		return 0;
	if (READ_ONCE(c->cm) != LMIG_CM_CLOSED)
		return -ETIMEDOUT;
	return lmig_conn_error(c) ?: -ECONNRESET;
}

static struct lmig_tx *get_tx(struct lmig_conn *c)
{
	struct lmig_tx *found = NULL;
	unsigned long flags;
	int i;

	spin_lock_irqsave(&c->lock, flags);
	for (i = 0; i < LMIG_TX_DEPTH; i++) {
		if (!c->tx[i].busy) {
			found = &c->tx[i];
			found->busy = true;
			c->tx_busy++;
			break;
		}
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return found;
}

static int post_send(struct lmig_conn *c, u16 type, const void *msg, u32 len,
		     struct page **pages, u32 npages, struct lmig_tx **posted)
{
	u32 i;
	struct lmig_msg_hdr *hdr;
	struct lmig_tx *tx = NULL;
	struct ib_send_wr wr = {};
	struct ib_sge sge;
	int ret;

	if (WARN_ON_ONCE(len < sizeof(*hdr) || len + npages * PAGE_SIZE > LMIG_MSG_MAX))
		return -EINVAL;
	wait_event_interruptible_timeout(c->wq, (tx = get_tx(c)) ||
					 lmig_conn_error(c) || lmig_conn_stopping(), SEND_TIMEOUT);
	if (!tx) {
		ret = lmig_conn_error(c);
		return ret ? ret : lmig_conn_stopping() ? -EINTR : -ETIMEDOUT;
	}
	memcpy(tx->buf, msg, len);
	for (i = 0; i < npages; i++, len += PAGE_SIZE)
		memcpy(tx->buf + len, page_address(pages[i]), PAGE_SIZE);
	hdr = tx->buf;
	hdr->magic = cpu_to_le32(LMIG_PROTO_MAGIC);
	hdr->major = LMIG_PROTO_MAJOR;
	hdr->minor = LMIG_PROTO_MINOR;
	hdr->type = cpu_to_le16(type);
	hdr->len = cpu_to_le32(len);
	hdr->reserved = 0;
	ib_dma_sync_single_for_device(c->id->device, tx->dma, len, DMA_TO_DEVICE);

	sge.addr = tx->dma;
	sge.length = len;
	sge.lkey = c->pd->local_dma_lkey;
	wr.wr_cqe = &tx->cqe;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IB_WR_SEND;
	wr.send_flags = IB_SEND_SIGNALED;
	tx->status = IB_WC_SUCCESS;
	tx->posted = jiffies;
	ret = ib_post_send(c->id->qp, &wr, NULL);
	if (!ret)
		WRITE_ONCE(c->last_tx, jiffies);
	if (ret) {
		unsigned long flags;

		spin_lock_irqsave(&c->lock, flags);
		tx->busy = false;
		c->tx_busy--;
		spin_unlock_irqrestore(&c->lock, flags);
	}
	*posted = tx;
	return ret;
}

int lmig_conn_send(struct lmig_conn *c, u16 type, const void *msg, u32 len)
{
	struct lmig_tx *tx;

	return post_send(c, type, msg, len, NULL, 0, &tx);
}

int lmig_conn_send_pages(struct lmig_conn *c, u16 type, const void *msg, u32 len,
			 struct page **pages, u32 npages)
{
	struct lmig_tx *tx;

	return post_send(c, type, msg, len, pages, npages, &tx);
}

int lmig_conn_send_sync(struct lmig_conn *c, u16 type, const void *msg, u32 len)
{
	struct lmig_tx *tx;
	int ret = post_send(c, type, msg, len, NULL, 0, &tx);

	if (ret)
		return ret;
	/*
	 * This send's own completion decides, not the connection's state:
	 * a peer that got the message may close before the completion is
	 * seen here, and the last ACK of a migration must count as sent.
	 * A posted send always completes, flushed if the QP dies.
	 */
	wait_event_interruptible_timeout(c->wq, !READ_ONCE(tx->busy) || lmig_conn_stopping(),
					 SEND_TIMEOUT);
	if (READ_ONCE(tx->busy))
		return lmig_conn_stopping() ? -EINTR : -ETIMEDOUT;
	return READ_ONCE(tx->status) == IB_WC_SUCCESS ? 0 : -ECONNRESET;
}

static bool header_ok(const struct lmig_rx *rx)
{
	const struct lmig_msg_hdr *hdr = rx->buf;

	return rx->len >= sizeof(*hdr) && rx->len <= LMIG_MSG_MAX &&
	       le32_to_cpu(hdr->magic) == LMIG_PROTO_MAGIC &&
	       hdr->major == LMIG_PROTO_MAJOR &&
	       le32_to_cpu(hdr->len) == rx->len && !hdr->reserved;
}

/*
 * The peer's NOPs give their buffers back at once: a worker busy with a
 * long round must not let them fill its receive ring, or the peer's next
 * sends would wait for room and it would look silent.
 */
static int drop_nops(struct lmig_conn *c)
{
	struct lmig_rx *rx, *tmp;
	unsigned long flags;
	LIST_HEAD(nops);
	int ret = 0;

	spin_lock_irqsave(&c->lock, flags);
	list_for_each_entry_safe(rx, tmp, &c->rx_ready, node)
		if (header_ok(rx) && lmig_msg_type(rx) == LMIG_MSG_NOP)
			list_move_tail(&rx->node, &nops);
	spin_unlock_irqrestore(&c->lock, flags);
	list_for_each_entry_safe(rx, tmp, &nops, node) {
		list_del(&rx->node);
		if (!ret)
			ret = post_rx(c, rx);
	}
	return ret;
}

/*
 * A send not completed after SEND_TIMEOUT: the peer takes none of our
 * messages, though its QP may live and it may send NOPs of its own.
 */
static bool send_stuck(struct lmig_conn *c)
{
	unsigned long flags;
	bool stuck = false;
	int i;

	spin_lock_irqsave(&c->lock, flags);
	for (i = 0; i < LMIG_TX_DEPTH && !stuck; i++)
		stuck = c->tx[i].busy && time_after(jiffies, c->tx[i].posted + SEND_TIMEOUT);
	spin_unlock_irqrestore(&c->lock, flags);
	return stuck;
}

int lmig_conn_alive(struct lmig_conn *c)
{
	int ret = lmig_conn_error(c);

	if (ret)
		return ret;
	if (time_after(jiffies, READ_ONCE(c->last_rx) + PEER_TIMEOUT) || send_stuck(c))
		return -ETIMEDOUT;
	return 0;
}

int lmig_conn_keepalive(struct lmig_conn *c)
{
	struct lmig_msg_hdr nop = {};
	int ret;

	ret = drop_nops(c);
	if (ret)
		return ret;
	if (time_before(jiffies, c->last_tx + KEEPALIVE) ||
	    READ_ONCE(c->cm) != LMIG_CM_CONNECTED ||
	    READ_ONCE(c->tx_busy) == LMIG_TX_DEPTH)
		return 0;
	return lmig_conn_send(c, LMIG_MSG_NOP, &nop, sizeof(nop));
}

static struct lmig_rx *take_rx(struct lmig_conn *c)
{
	struct lmig_rx *rx = NULL;
	unsigned long flags;

	spin_lock_irqsave(&c->lock, flags);
	if (!list_empty(&c->rx_ready)) {
		rx = list_first_entry(&c->rx_ready, struct lmig_rx, node);
		list_del(&rx->node);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return rx;
}

/*
 * A peer may hang up right after its last message: the destination does,
 * once the source's ACK to FINAL is acknowledged on the wire. The
 * DISCONNECTED event then races that message's completion, polled in
 * softirq, and may be seen first. Draining the receive queue polls every
 * completion that came before the hang-up, so the message is read and the
 * source is not in doubt for nothing.
 */
static struct lmig_rx *take_last_rx(struct lmig_conn *c)
{
	unsigned long flags;

	if (!c->qp_created || c->rq_drained || READ_ONCE(c->cm) != LMIG_CM_CLOSED)
		return NULL;
	spin_lock_irqsave(&c->lock, flags);
	c->rq_drained = true;
	spin_unlock_irqrestore(&c->lock, flags);
	ib_drain_rq(c->id->qp);
	return take_rx(c);
}

struct lmig_rx *lmig_conn_recv(struct lmig_conn *c, unsigned long timeout)
{
	unsigned long deadline = jiffies + timeout;
	struct lmig_rx *rx;
	long left;
	int err;

	for (;;) {
		/* The wait is cut into KEEPALIVE slices to send NOPs between. */
		left = wait_event_interruptible_timeout(c->wq, !list_empty(&c->rx_ready) ||
							lmig_conn_error(c) || lmig_conn_stopping(),
							min_t(unsigned long, timeout, KEEPALIVE));
		/* NOPs are skipped, so that none hides a message behind it. */
		while ((rx = take_rx(c) ?: take_last_rx(c)) && header_ok(rx) &&
		       lmig_msg_type(rx) == LMIG_MSG_NOP) {
			/* A dead QP takes no buffer back; close forgets them. */
			err = lmig_conn_error(c) ? 0 : lmig_conn_repost(c, rx);
			if (err)
				return ERR_PTR(err);
		}
		if (rx && !header_ok(rx)) {
			pr_debug("session %u: malformed message of %u bytes\n",
				 c->session, rx->len);
			return ERR_PTR(-EPROTO);
		}
		if (rx)
			return rx;
		err = lmig_conn_error(c);
		if (err)
			return ERR_PTR(err);
		if (lmig_conn_stopping() || left < 0)
			return ERR_PTR(-EINTR);
		err = lmig_conn_alive(c);
		if (err)
			return ERR_PTR(err);
		if (timeout != MAX_SCHEDULE_TIMEOUT) {
			if (!time_before(jiffies, deadline))
				return ERR_PTR(-ETIMEDOUT);
			timeout = deadline - jiffies;
		}
		err = lmig_conn_keepalive(c);
		if (err)
			return ERR_PTR(err);
	}
}

int lmig_conn_repost(struct lmig_conn *c, struct lmig_rx *rx)
{
	return post_rx(c, rx);
}

int lmig_conn_recv_copy(struct lmig_conn *c, unsigned long timeout, void *buf, u32 *type)
{
	struct lmig_rx *rx;
	u32 len;
	int ret;

	rx = lmig_conn_recv(c, timeout);
	if (IS_ERR(rx))
		return PTR_ERR(rx);
	*type = lmig_msg_type(rx);
	len = rx->len;
	memcpy(buf, rx->buf, len);
	/* A dead QP may refuse the buffer back; the message counts all the same. */
	ret = lmig_conn_error(c) ? 0 : lmig_conn_repost(c, rx);
	return ret ? ret : len;
}

int lmig_conn_write(struct lmig_conn *c, u32 q, struct ib_cqe *cqe, const u64 *dma,
		    u32 nsge, u64 remote, u32 rkey)
{
	struct ib_sge sge[16];
	struct ib_rdma_wr wr = {};
	unsigned long flags;
	struct ib_qp *qp;
	u32 i;
	int ret;

	if (WARN_ON_ONCE(!nsge || nsge > c->max_sge || nsge > ARRAY_SIZE(sge) || q >= c->nqps))
		return -EINVAL;
	qp = q ? c->dq[q - 1].id->qp : c->id->qp;
	for (i = 0; i < nsge; i++) {
		sge[i].addr = dma[i];
		sge[i].length = PAGE_SIZE;
		sge[i].lkey = c->pd->local_dma_lkey;
	}
	wr.wr.wr_cqe = cqe;
	wr.wr.sg_list = sge;
	wr.wr.num_sge = nsge;
	wr.wr.opcode = IB_WR_RDMA_WRITE;
	wr.wr.send_flags = IB_SEND_SIGNALED;
	wr.remote_addr = remote;
	wr.rkey = rkey;
	spin_lock_irqsave(&c->lock, flags);
	c->writes++;
	spin_unlock_irqrestore(&c->lock, flags);
	ret = ib_post_send(qp, &wr.wr, NULL);
	if (ret) {
		spin_lock_irqsave(&c->lock, flags);
		c->writes--;
		spin_unlock_irqrestore(&c->lock, flags);
	}
	return ret;
}

int lmig_conn_wait_writes(struct lmig_conn *c)
{
	unsigned long deadline = jiffies + SEND_TIMEOUT;
	u32 left = READ_ONCE(c->writes);
	int err = 0;

	while (!err && READ_ONCE(c->writes)) {
		wait_event_interruptible_timeout(c->wq, !READ_ONCE(c->writes) ||
						 lmig_conn_error(c) || lmig_conn_stopping(), HZ);
		if (!READ_ONCE(c->writes))
			break;
		/*
		 * A WRITE the peer never acknowledges shows as its silence;
		 * a marker it takes no receive for (RNR retries without end),
		 * as no progress for SEND_TIMEOUT.
		 */
		err = lmig_conn_stopping() ? -EINTR : lmig_conn_alive(c) ?: lmig_conn_keepalive(c);
		if (READ_ONCE(c->writes) < left) {
			left = READ_ONCE(c->writes);
			deadline = jiffies + SEND_TIMEOUT;
		} else if (!err && time_after(jiffies, deadline)) {
			err = -ETIMEDOUT;
			lmig_conn_set_closed(c, err);
		}
	}
	/* One that completed in error failed its QP, and the connection with it. */
	return err ?: lmig_conn_error(c);
}
