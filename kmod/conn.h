/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One RDMA connection of a session: its RDMA CM id, its own PD (so that
 * an rkey it grants is of no use to any other QP), one CQ, one RC QP,
 * and the buffers of the control channel.
 */
#ifndef _LMIG_CONN_H
#define _LMIG_CONN_H

#include <linux/completion.h>
#include <linux/mutex.h>
#include <linux/socket.h>
#include <linux/wait.h>
#include <rdma/ib_verbs.h>
#include <rdma/rdma_cm.h>

#include <linux/lmig.h>

#include "proto.h"

#define LMIG_RX_DEPTH		32
#define LMIG_TX_DEPTH		8
#define LMIG_WRITE_DEPTH	64	/* data WRITEs in flight */

struct lmig_conn;

struct lmig_rx {
	struct ib_cqe cqe;
	struct list_head node;
	struct lmig_conn *c;
	void *buf;
	u64 dma;
	u32 len;		/* bytes received */
};

struct lmig_tx {
	struct ib_cqe cqe;
	struct lmig_conn *c;
	void *buf;
	u64 dma;
	bool busy;
	unsigned long posted;	/* jiffies, when busy */
	int status;		/* enum ib_wc_status of its last send */
};

/* A work request posted by a caller that waits for it to complete. */
struct lmig_sync_wr {
	struct ib_cqe cqe;
	struct completion done;
	int status;		/* enum ib_wc_status */
};

enum lmig_cm_state {
	LMIG_CM_IDLE,
	LMIG_CM_ADDR,		/* address resolved */
	LMIG_CM_ROUTE,		/* route resolved */
	LMIG_CM_ACCEPTED,	/* destination: a request accepted */
	LMIG_CM_CONNECTED,
	LMIG_CM_CLOSED,		/* cm_error says why */
};

/*
 * A data QP (wire 1.4): joined to a connection by the source, in the
 * connection's PD, carrying only the source's RDMA WRITEs. Index i of the
 * wire is dq[i - 1]; the connection's own QP is index 0.
 */
struct lmig_dqp {
	struct lmig_conn *c;
	struct rdma_cm_id *id;
	struct ib_cq *cq;
	bool qp_created;
	enum lmig_cm_state cm;		/* under the connection's lock */
	int cm_error;
	struct ib_cqe mark_cqe;		/* source: its round markers */
	struct ib_cqe rx_cqe;		/* destination: the markers received */
	u32 mark;			/* destination: the last round marked */
	bool marked;			/* destination: a marker came */
	bool bad;			/* destination: something else came */
	bool accepted;			/* the destination's, not the source's */
	bool in_use;			/* destination: named by JOINED */
	bool closing;			/* torn down: receives are not posted again */
};

struct lmig_conn {
	u32 session;			/* id, for messages */
	struct rdma_cm_id *listen_id;	/* destination only */
	struct rdma_cm_id *id;
	struct ib_pd *pd;
	struct ib_cq *cq;
	bool qp_created;
	bool rq_drained;		/* the peer's last words are read */
	u32 max_sge;			/* per data WRITE */
	u32 fr_pages;			/* per fast-registered chunk; 0: none */

	wait_queue_head_t wq;		/* everything the worker waits for */
	spinlock_t lock;		/* the fields below */
	enum lmig_cm_state cm;
	int cm_error;
	int wc_error;			/* a failed completion: the QP is dead */
	struct list_head rx_ready;
	u32 tx_busy;
	u32 writes;			/* data WRITEs in flight */
	unsigned long last_rx;		/* jiffies of the last message */
	unsigned long last_tx;		/* jiffies of the last control send */

	/* Data QPs: the worker joins or tears them down, the CM handler accepts. */
	u32 nqps;			/* QPs that carry WRITEs, this one included */
	struct lmig_dqp dq[LMIG_MAX_QPS - 1];
	struct mutex join_lock;		/* destination: accepting one vs closing */
	bool join_open;			/* destination: joins may be accepted */
	u8 join_mac[LMIG_MAX_QPS - 1][LMIG_MAC_LEN];

	struct sockaddr_storage peer;
	struct lmig_rx rx[LMIG_RX_DEPTH];
	struct lmig_tx tx[LMIG_TX_DEPTH];
};

struct lmig_conn *lmig_conn_alloc(u32 session);
void lmig_conn_free(struct lmig_conn *c);
/* Drops the connected id and its resources, keeping any listener. */
void lmig_conn_close(struct lmig_conn *c);
/* The same, calling release(arg) once the QP is gone, before the PD is. */
void lmig_conn_close_release(struct lmig_conn *c, void (*release)(void *), void *arg);

int lmig_conn_connect(struct lmig_conn *c, struct sockaddr *dst, unsigned long timeout);
int lmig_conn_listen(struct lmig_conn *c, struct sockaddr *src);
/* Stops listening: RDMA CM's device removal waits for the listener too. */
void lmig_conn_unlisten(struct lmig_conn *c);
/* Destination: waits for an accepted connection to be established. */
int lmig_conn_wait_peer(struct lmig_conn *c, unsigned long timeout);

/* Why the connection cannot be used any more, or 0. */
int lmig_conn_error(struct lmig_conn *c);

int lmig_conn_send(struct lmig_conn *c, u16 type, const void *msg, u32 len);
/* The same with npages (lowmem) pages appended to the message. */
int lmig_conn_send_pages(struct lmig_conn *c, u16 type, const void *msg, u32 len,
			 struct page **pages, u32 npages);
/* Sends and waits until the peer has it (the SEND completed). */
int lmig_conn_send_sync(struct lmig_conn *c, u16 type, const void *msg, u32 len);
/*
 * Sends a NOP if nothing was sent for a while: a worker busy elsewhere
 * calls it often, so that its peer hears from it and a dead peer shows.
 */
int lmig_conn_keepalive(struct lmig_conn *c);
/*
 * 0 while the connection works, the peer was heard from lately and takes
 * our messages; else why not (-ETIMEDOUT: silent for too long, as a dead
 * peer is, or a send of ours not taken for as long).
 */
int lmig_conn_alive(struct lmig_conn *c);
/*
 * Waits up to timeout jiffies for a message whose header is valid, sending
 * NOPs meanwhile and passing over the peer's. Returns it (give it back
 * with lmig_conn_repost) or an ERR_PTR; -ETIMEDOUT also when the peer has
 * been silent for too long.
 */
struct lmig_rx *lmig_conn_recv(struct lmig_conn *c, unsigned long timeout);
int lmig_conn_repost(struct lmig_conn *c, struct lmig_rx *rx);
/* Whether a message waits to be received: a hint for a worker's waits. */
static inline bool lmig_conn_rx_pending(struct lmig_conn *c)
{
	return !list_empty_careful(&c->rx_ready);
}

/* lmig_conn_recv(), copied to buf (LMIG_MSG_MAX bytes): its length, or an error. */
int lmig_conn_recv_copy(struct lmig_conn *c, unsigned long timeout, void *buf, u32 *type);

/* Whether lmig_conn_send would find a send buffer without waiting. */
static inline bool lmig_conn_tx_free(struct lmig_conn *c)
{
	return READ_ONCE(c->tx_busy) < LMIG_TX_DEPTH;
}

void lmig_sync_wr_init(struct lmig_sync_wr *w);
/*
 * Waits for a posted lmig_sync_wr; 0 when it completed well. A wait that
 * lasts (the worker stops, the peer is gone, SEND_TIMEOUT passes) fails
 * the QP, so that the WR is flushed, and returns why.
 */
int lmig_sync_wr_wait(struct lmig_conn *c, struct lmig_sync_wr *w);

/*
 * Source: joins data QP number c->nqps to the connected peer, sending
 * join (struct lmig_join) with the request; on success c->nqps grows.
 * A failed join leaves the connection as it was.
 */
int lmig_conn_join(struct lmig_conn *c, const struct lmig_join *join,
		   unsigned long timeout);
/*
 * Destination: accepts joins from the peer's address whose MAC for index
 * i is mac[i - 1], for indexes below n, each once, from now until
 * lmig_conn_close_joins() or lmig_conn_use_joins().
 */
void lmig_conn_open_joins(struct lmig_conn *c, u8 mac[][LMIG_MAC_LEN], u32 n);
void lmig_conn_close_joins(struct lmig_conn *c);
/*
 * Destination, on JOINED: no more joins; the source uses qps QPs, each of
 * which must have been accepted (-EPROTO if not).
 */
int lmig_conn_use_joins(struct lmig_conn *c, u32 qps);
/* Source: the round's marker on every data QP, after its WRITEs. */
int lmig_conn_mark(struct lmig_conn *c, u32 round);
/*
 * Destination: waits until every data QP in use has delivered round's
 * marker; -EPROTO for anything else on one, an error if one breaks.
 */
int lmig_conn_wait_marks(struct lmig_conn *c, u32 round);

/* A data WRITE of nsge page-sized pieces on QP q, completing through cqe. */
int lmig_conn_write(struct lmig_conn *c, u32 q, struct ib_cqe *cqe, const u64 *dma,
		    u32 nsge, u64 remote, u32 rkey);
/*
 * Waits until every data WRITE (and marker) has completed, and says
 * whether one failed.
 */
int lmig_conn_wait_writes(struct lmig_conn *c);
/* Called from a data WRITE's completion handler. */
void lmig_conn_write_done(struct lmig_conn *c, struct ib_wc *wc);

static inline u32 lmig_msg_type(const struct lmig_rx *rx)
{
	return le16_to_cpu(((const struct lmig_msg_hdr *)rx->buf)->type);
}

#endif /* _LMIG_CONN_H */
