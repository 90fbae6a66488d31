/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What conn.c and dqp.c, the connection and its data QPs, share: nothing
 * else includes this.
 */
#ifndef _LMIG_CONN_PRIV_H
#define _LMIG_CONN_PRIV_H

#include "conn.h"

/*
 * Local ACK timeout, 4.096 us << 19: about 2 s per try, so the 7 retries
 * ride out some 15 s of a loaded link before the QP fails. RDMA CM's
 * default (about 0.5 s on RoCE) was seen to fail a busy emulated link;
 * a migration would rather wait than lose its connection.
 */
#define LOCAL_ACK_TIMEOUT	19
/* Any send waits this long for room before the connection counts as dead. */
#define SEND_TIMEOUT	(30 * HZ)

#define RESOLVE_MS		5000

/* Every connect and accept: RC retries, and RNR retries without end. */
extern const struct rdma_conn_param lmig_conn_param;

/* Whether the calling worker thread is told to stop. */
bool lmig_conn_stopping(void);
/* The connection is over, for err; wakes its worker. */
void lmig_conn_set_closed(struct lmig_conn *c, int err);
void lmig_conn_qp_event(struct ib_event *ev, void *ctx);
/* ADDR_RESOLVED, ROUTE_RESOLVED or ESTABLISHED: how far a connection got. */
void lmig_cm_advance(struct lmig_conn *c, enum lmig_cm_state *state,
		     enum rdma_cm_event_type event);
/* What an RDMA CM event that ends a connection means, or 0. */
int lmig_cm_event_error(enum rdma_cm_event_type event);
/* Every id of a connection reports here, its context the connection. */
int lmig_cm_handler(struct rdma_cm_id *id, struct rdma_cm_event *ev);

/* dqp.c, for the RDMA CM handler and teardown. */
int lmig_dqp_accept(struct lmig_conn *c, struct rdma_cm_id *id, const struct lmig_join *j);
struct lmig_dqp *lmig_dqp_find(struct lmig_conn *c, struct rdma_cm_id *id);
void lmig_dqp_event(struct lmig_conn *c, struct lmig_dqp *q, struct rdma_cm_event *ev);
void lmig_dqp_close_all(struct lmig_conn *c);

#endif /* _LMIG_CONN_PRIV_H */
