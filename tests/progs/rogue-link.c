// SPDX-License-Identifier: GPL-2.0
/*
 * rogue-peer's RDMA link and lmig's AUTH MAC; see rogue-peer.h.
 *
 * The connection is set up as kmod/conn.c sets up its own (RC, port space
 * TCP, retry_count 7, rnr_retry 7, a 2 s local ACK timeout, no private
 * data, 32 receive buffers of LMIG_MSG_MAX), so that the module sees an
 * ordinary peer until the case makes it misbehave.
 *
 * SHA-256 is written out here (FIPS 180-4) rather than taken from
 * libcrypto: the rig's hosts then need nothing beyond rdma-core.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rogue-peer.h"

#define CQ_DEPTH	(RX_DEPTH + TX_DEPTH + 8)
#define SQ_DEPTH	(TX_DEPTH + 4)		/* +4 for WRITEs */
#define KEEPALIVE_MS	2000			/* as kmod/conn.c's KEEPALIVE */
#define ACK_TIMEOUT	19			/* 4.096 us << 19, as the module */

enum { WR_RX = 1, WR_TX, WR_WRITE };
#define WR_ID(kind, i)	((uint64_t)(kind) << 32 | (uint32_t)(i))

double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char host[256];
	const char *colon = strrchr(s, ':');
	size_t n;

	if (!colon || !colon[1])
		return -1;
	n = colon - s;
	if (n && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (!n || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = 0;
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -1;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	return 0;
}

static uint8_t *rx_buf(struct link *l, int i)
{
	return l->bufs + (size_t)i * TX_MAX;
}

static uint8_t *tx_buf(struct link *l, int i)
{
	return l->bufs + (size_t)(RX_DEPTH + i) * TX_MAX;
}

uint8_t *link_data(struct link *l)
{
	return l->bufs + (size_t)(RX_DEPTH + TX_DEPTH) * TX_MAX;
}

static int post_rx(struct link *l, int i)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)rx_buf(l, i),
		.length = LMIG_MSG_MAX,
		.lkey = l->mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = WR_ID(WR_RX, i), .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(l->id->qp, &wr, &bad);
}

static void on_cm_event(struct link *l, struct rdma_cm_event *ev)
{
	switch (ev->event) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		/* One source at a time, as the module's listener. */
		if (l->request || l->id) {
			rdma_reject(ev->id, NULL, 0);
			break;
		}
		l->request = ev->id;
		break;
	case RDMA_CM_EVENT_ADDR_RESOLVED:
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
	case RDMA_CM_EVENT_ESTABLISHED:
		l->cm = ev->event;
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
	case RDMA_CM_EVENT_ADDR_CHANGE:
		if (ev->id == l->id && !l->closed)
			l->closed = ev->event;
		break;
	default:
		break;
	}
}

static void cm_events(struct link *l)
{
	struct rdma_cm_event *ev;

	while (!rdma_get_cm_event(l->ec, &ev)) {
		struct rdma_cm_id *reject = NULL;

		on_cm_event(l, ev);
		if (ev->event == RDMA_CM_EVENT_CONNECT_REQUEST && ev->id != l->request)
			reject = ev->id;
		rdma_ack_cm_event(ev);
		/* A request we turned away is ours to destroy, once acknowledged. */
		if (reject)
			rdma_destroy_id(reject);
	}
}

static int is_nop(struct link *l, int i)
{
	const struct lmig_msg_hdr *h = (const void *)rx_buf(l, i);

	return l->rx_len[i] == sizeof(*h) && le16toh(h->type) == LMIG_MSG_NOP;
}

static int drain_cq(struct link *l)
{
	struct ibv_wc wc[16];
	int n, i, total = 0;

	while (l->cq && (n = ibv_poll_cq(l->cq, 16, wc)) > 0) {
		total += n;
		for (i = 0; i < n; i++) {
			int kind = wc[i].wr_id >> 32, idx = (uint32_t)wc[i].wr_id;

			if (wc[i].status != IBV_WC_SUCCESS && !l->wc_error)
				l->wc_error = wc[i].status + 1;
			if (kind == WR_TX) {
				l->tx_busy[idx] = 0;
			} else if (kind == WR_WRITE) {
				l->writes--;
				l->write_status = wc[i].status;
			} else if (kind == WR_RX && wc[i].status == IBV_WC_SUCCESS) {
				l->rx_len[idx] = wc[i].byte_len;
				/* NOPs only say "still here"; skip them unless holding. */
				if (!l->hold_rx && is_nop(l, idx))
					post_rx(l, idx);
				else
					l->ring[l->tail++ % RX_DEPTH] = idx;
			}
		}
	}
	return total;
}

void link_pump(struct link *l, int timeout_ms)
{
	struct pollfd pfd[2] = { { .fd = l->ec->fd, .events = POLLIN } };
	int nfd = 1;

	cm_events(l);
	if (drain_cq(l))
		return;
	if (l->cq) {
		ibv_req_notify_cq(l->cq, 0);
		/* A completion between the drain and the arming raises no event. */
		if (drain_cq(l))
			return;
		pfd[1].fd = l->cc->fd;
		pfd[1].events = POLLIN;
		nfd = 2;
	}
	if (timeout_ms > 0 && poll(pfd, nfd, timeout_ms) > 0 && nfd == 2 &&
	    (pfd[1].revents & POLLIN)) {
		struct ibv_cq *cq;
		void *ctx;

		if (!ibv_get_cq_event(l->cc, &cq, &ctx))
			ibv_ack_cq_events(cq, 1);
	}
	cm_events(l);
	drain_cq(l);
}

const char *link_dead(struct link *l)
{
	static char why[128];

	if (l->closed) {
		snprintf(why, sizeof(why), "%s", rdma_event_str(l->closed));
		return why;
	}
	if (l->wc_error) {
		snprintf(why, sizeof(why), "a completion failed: %s",
			 ibv_wc_status_str(l->wc_error - 1));
		return why;
	}
	return NULL;
}

static int wait_cm(struct link *l, int want, int timeout_ms)
{
	double end = now_ms() + timeout_ms;

	while (l->cm != want && !l->closed && now_ms() < end)
		link_pump(l, 100);
	if (l->cm == want)
		return 0;
	switch (l->closed) {
	case 0:
		return -ETIMEDOUT;
	case RDMA_CM_EVENT_REJECTED:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
		return -EHOSTUNREACH;
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return -ETIMEDOUT;
	default:
		return -ECONNRESET;
	}
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int open_channel(struct link *l)
{
	l->ec = rdma_create_event_channel();
	if (!l->ec)
		return -errno;
	set_nonblock(l->ec->fd);
	return 0;
}

/* The PD, CQ, QP and buffers of a connection on id, as conn.c's setup_qp. */
static int setup_qp(struct link *l, struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr qa = {
		.cap = {
			.max_send_wr = SQ_DEPTH,
			.max_recv_wr = RX_DEPTH,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
		.qp_type = IBV_QPT_RC,
	};
	size_t len = (size_t)(RX_DEPTH + TX_DEPTH) * TX_MAX + DATA_LEN;
	uint8_t t = ACK_TIMEOUT;
	int i;

	l->id = id;
	rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &t, sizeof(t));
	l->pd = ibv_alloc_pd(id->verbs);
	l->cc = l->pd ? ibv_create_comp_channel(id->verbs) : NULL;
	if (!l->cc)
		return -ENOMEM;
	set_nonblock(l->cc->fd);
	l->cq = ibv_create_cq(id->verbs, CQ_DEPTH, l, l->cc, 0);
	if (!l->cq || posix_memalign((void **)&l->bufs, 4096, len))
		return -ENOMEM;
	memset(l->bufs, 0, len);
	l->mr = ibv_reg_mr(l->pd, l->bufs, len, IBV_ACCESS_LOCAL_WRITE);
	if (!l->mr)
		return -errno;
	qa.send_cq = l->cq;
	qa.recv_cq = l->cq;
	if (rdma_create_qp(id, l->pd, &qa))
		return -errno;
	for (i = 0; i < (l->rx_posted ? l->rx_posted : RX_DEPTH); i++)
		if (post_rx(l, i))
			return -EIO;
	ibv_req_notify_cq(l->cq, 0);
	l->last_tx = now_ms();
	return 0;
}

/* Frees what setup_qp() made, and the id; the event channel stays. */
static void teardown(struct link *l)
{
	int i;

	if (l->id && l->id->qp)
		rdma_destroy_qp(l->id);
	for (i = 0; i < l->nmrs; i++)
		ibv_dereg_mr(l->mrs[i]);
	l->nmrs = 0;
	if (l->mr)
		ibv_dereg_mr(l->mr);
	if (l->cq)
		ibv_destroy_cq(l->cq);
	if (l->cc)
		ibv_destroy_comp_channel(l->cc);
	if (l->pd)
		ibv_dealloc_pd(l->pd);
	if (l->id)
		rdma_destroy_id(l->id);
	free(l->bufs);
	l->mr = NULL;
	l->cq = NULL;
	l->cc = NULL;
	l->pd = NULL;
	l->id = NULL;
	l->bufs = NULL;
	l->cm = -1;
	l->closed = 0;
	l->wc_error = 0;
	l->head = l->tail = 0;
	l->writes = 0;
	memset(l->tx_busy, 0, sizeof(l->tx_busy));
}

int link_connect(struct link *l, const struct sockaddr *dst, int timeout_ms)
{
	struct rdma_conn_param param = {
		.retry_count = 7, .rnr_retry_count = 7,
		.private_data = l->pdata, .private_data_len = l->pdata_len,
	};
	double end = now_ms() + timeout_ms;
	struct rdma_cm_id *id;
	int ret;

	if (!l->ec && (ret = open_channel(l)))
		return ret;
	for (;;) {
		if (rdma_create_id(l->ec, &id, l, RDMA_PS_TCP))
			return -errno;
		l->id = id;
		/* ADDR_RESOLVED is event 0: none seen yet must differ from it. */
		l->cm = -1;
		ret = rdma_resolve_addr(id, NULL, (struct sockaddr *)dst, 2000) ? -errno : 0;
		if (!ret)
			ret = wait_cm(l, RDMA_CM_EVENT_ADDR_RESOLVED, 5000);
		if (!ret)
			ret = rdma_resolve_route(id, 2000) ? -errno : 0;
		if (!ret)
			ret = wait_cm(l, RDMA_CM_EVENT_ROUTE_RESOLVED, 5000);
		if (!ret)
			ret = setup_qp(l, id);
		if (!ret)
			ret = rdma_connect(id, &param) ? -errno : 0;
		if (!ret)
			ret = wait_cm(l, RDMA_CM_EVENT_ESTABLISHED, 10000);
		if (!ret)
			return 0;
		/*
		 * The module's listener rejects while it still closes the
		 * previous connection: a case that connects twice waits it out.
		 */
		teardown(l);
		/* A join is refused for good. */
		if (ret != -ECONNREFUSED || now_ms() > end || l->pdata)
			return ret;
		sleep_ms(300);
	}
}

int link_listen(struct link *l, const struct sockaddr *src)
{
	int ret = open_channel(l);

	if (ret)
		return ret;
	if (rdma_create_id(l->ec, &l->listen_id, l, RDMA_PS_TCP) ||
	    rdma_bind_addr(l->listen_id, (struct sockaddr *)src) ||
	    rdma_listen(l->listen_id, 1))
		return -errno;
	return 0;
}

int link_accept(struct link *l, int timeout_ms)
{
	struct rdma_conn_param param = { .retry_count = 7, .rnr_retry_count = 7 };
	double end = now_ms() + timeout_ms;
	int ret;

	while (!l->request && now_ms() < end)
		link_pump(l, 200);
	if (!l->request)
		return -ETIMEDOUT;
	ret = setup_qp(l, l->request);
	l->request = NULL;
	if (!ret)
		ret = rdma_accept(l->id, &param) ? -errno : 0;
	if (!ret)
		ret = wait_cm(l, RDMA_CM_EVENT_ESTABLISHED, 10000);
	return ret;
}

void link_close(struct link *l)
{
	if (l->request) {
		rdma_reject(l->request, NULL, 0);
		rdma_destroy_id(l->request);
		l->request = NULL;
	}
	if (l->id && !l->closed)
		rdma_disconnect(l->id);
	teardown(l);
	if (l->listen_id)
		rdma_destroy_id(l->listen_id);
	l->listen_id = NULL;
	if (l->ec)
		rdma_destroy_event_channel(l->ec);
	l->ec = NULL;
}

void msg_header(void *msg, uint16_t type, uint32_t len)
{
	struct lmig_msg_hdr *h = msg;

	h->magic = htole32(LMIG_PROTO_MAGIC);
	h->major = LMIG_PROTO_MAJOR;
	h->minor = LMIG_PROTO_MINOR;
	h->type = htole16(type);
	h->len = htole32(len);
	h->reserved = 0;
}

static int free_tx(struct link *l)
{
	int i;

	for (i = 0; i < TX_DEPTH; i++)
		if (!l->tx_busy[i])
			return i;
	return -1;
}

int link_send_raw(struct link *l, const void *msg, uint32_t len)
{
	double end = now_ms() + 30000;	/* conn.c's SEND_TIMEOUT */
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
				  .num_sge = 1 }, *bad;
	struct ibv_sge sge;
	int i;

	while ((i = free_tx(l)) < 0 && !link_dead(l) && now_ms() < end)
		link_pump(l, 50);
	if (link_dead(l))
		return -ECONNRESET;
	if (i < 0)
		return -ETIMEDOUT;
	if (len > TX_MAX)
		return -EMSGSIZE;
	memcpy(tx_buf(l, i), msg, len);
	sge.addr = (uintptr_t)tx_buf(l, i);
	sge.length = len;
	sge.lkey = l->mr->lkey;
	wr.wr_id = WR_ID(WR_TX, i);
	wr.sg_list = &sge;
	if (ibv_post_send(l->id->qp, &wr, &bad))
		return -EIO;
	l->tx_busy[i] = 1;
	l->last_tx = now_ms();
	return 0;
}

int link_send(struct link *l, uint16_t type, void *msg, uint32_t len)
{
	msg_header(msg, type, len);
	return link_send_raw(l, msg, len);
}

int link_sent(struct link *l, int timeout_ms)
{
	double end = now_ms() + timeout_ms;
	int i, busy;

	for (;;) {
		for (busy = 0, i = 0; i < TX_DEPTH; i++)
			busy |= l->tx_busy[i];
		if (!busy)
			return 0;
		if (link_dead(l))
			return -ECONNRESET;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		link_pump(l, 50);
	}
}

static int header_ok(const void *buf, uint32_t len)
{
	const struct lmig_msg_hdr *h = buf;

	return len >= sizeof(*h) && le32toh(h->magic) == LMIG_PROTO_MAGIC &&
	       h->major == LMIG_PROTO_MAJOR && le32toh(h->len) == len && !h->reserved;
}

int link_recv(struct link *l, int timeout_ms, void *buf, uint32_t *type)
{
	double end = now_ms() + timeout_ms;

	for (;;) {
		if (l->head != l->tail) {
			int i = l->ring[l->head++ % RX_DEPTH];
			uint32_t len = l->rx_len[i];

			memcpy(buf, rx_buf(l, i), len);
			if (!l->hold_rx)
				post_rx(l, i);
			if (!header_ok(buf, len))
				return -EBADMSG;
			*type = le16toh(((struct lmig_msg_hdr *)buf)->type);
			if (*type == LMIG_MSG_NOP)
				continue;
			return len;
		}
		if (link_dead(l))
			return -ECONNRESET;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		/* As the module does, so that it hears from us while we wait. */
		if (!l->quiet && now_ms() - l->last_tx >= KEEPALIVE_MS && free_tx(l) >= 0) {
			struct lmig_msg_hdr nop;

			link_send(l, LMIG_MSG_NOP, &nop, sizeof(nop));
		}
		link_pump(l, 200);
	}
}

int link_write(struct link *l, uint32_t len, uint64_t remote, uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)link_data(l), .length = len,
			       .lkey = l->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = WR_ID(WR_WRITE, 0),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = remote, .rkey = rkey },
	}, *bad;
	double end = now_ms() + 60000;	/* longer than RC's retries */

	if (len > DATA_LEN || ibv_post_send(l->id->qp, &wr, &bad))
		return -EINVAL;
	l->writes++;
	while (l->writes && now_ms() < end)
		link_pump(l, 100);
	return l->writes ? -ETIMEDOUT : l->write_status;
}

struct ibv_mr *link_reg(struct link *l, void *addr, size_t len)
{
	struct ibv_mr *mr;

	if (l->nmrs == MAX_MRS)
		return NULL;
	mr = ibv_reg_mr(l->pd, addr, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (mr)
		l->mrs[l->nmrs++] = mr;
	return mr;
}

const char *msg_name(uint32_t type)
{
	static const char *const names[] = {
		[LMIG_MSG_HELLO] = "HELLO", [LMIG_MSG_CHALLENGE] = "CHALLENGE",
		[LMIG_MSG_AUTH] = "AUTH", [LMIG_MSG_GRANT] = "GRANT",
		[LMIG_MSG_READY] = "READY", [LMIG_MSG_ZERO] = "ZERO",
		[LMIG_MSG_ROUND_DONE] = "ROUND_DONE", [LMIG_MSG_ROUND_ACK] = "ROUND_ACK",
		[LMIG_MSG_BLOB] = "BLOB", [LMIG_MSG_FINAL] = "FINAL", [LMIG_MSG_ACK] = "ACK",
		[LMIG_MSG_ERROR] = "ERROR", [LMIG_MSG_NOP] = "NOP", [LMIG_MSG_DATA] = "DATA",
		[LMIG_MSG_JOINED] = "JOINED",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ? names[type] : "unknown";
}

/* SHA-256, FIPS 180-4. */

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;
	uint8_t block[64];
	size_t n;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8], t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ w[i - 15] >> 3) +
		       w[i - 7] + (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ w[i - 2] >> 10);
	memcpy(v, h, sizeof(v));
	for (i = 0; i < 64; i++) {
		/* v[0..7] are a..h */
		t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) +
		     ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
		t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) +
		     ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for (i = 0; i < 8; i++)
		h[i] += v[i];
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, h0, sizeof(h0));
	s->bytes = 0;
	s->n = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->bytes += len;
	while (len) {
		size_t k = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->block + s->n, p, k);
		s->n += k;
		p += k;
		len -= k;
		if (s->n == 64) {
			sha256_block(s->h, s->block);
			s->n = 0;
		}
	}
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->bytes * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	int i;

	sha256_update(s, &pad, 1);
	while (s->n != 56)
		sha256_update(s, &zero, 1);
	for (i = 0; i < 8; i++)
		len[i] = bits >> (56 - 8 * i);
	sha256_update(s, len, 8);
	for (i = 0; i < 32; i++)
		out[i] = s->h[i / 4] >> (24 - 8 * (i % 4));
}

/* RFC 2104 over the concatenation of parts. */
void hmac_sha256(const uint8_t *key, size_t key_len, const void *const *parts,
		 const size_t *lens, int nparts, uint8_t out[32])
{
	uint8_t k[64] = { 0 }, pad[64], inner[32];
	struct sha256 s;
	int i;

	if (key_len > 64) {
		sha256_init(&s);
		sha256_update(&s, key, key_len);
		sha256_final(&s, k);
	} else {
		memcpy(k, key, key_len);
	}
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	for (i = 0; i < nparts; i++)
		sha256_update(&s, parts[i], lens[i]);
	sha256_final(&s, inner);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, inner, 32);
	sha256_final(&s, out);
}

void auth_mac(const uint8_t token[LMIG_TOKEN_LEN], const uint8_t nonce[LMIG_NONCE_LEN],
	      const void *hello, uint32_t hello_len, uint8_t mac[LMIG_MAC_LEN])
{
	/* auth.c hashes sizeof(context): the string's NUL is part of the input. */
	static const char context[] = "lmig auth v1";
	const void *parts[] = { context, nonce, (const uint8_t *)hello + sizeof(struct lmig_msg_hdr) };
	const size_t lens[] = { sizeof(context), LMIG_NONCE_LEN,
				hello_len - sizeof(struct lmig_msg_hdr) };

	hmac_sha256(token, LMIG_TOKEN_LEN, parts, lens, 3, mac);
}

void join_mac(const uint8_t token[LMIG_TOKEN_LEN], const uint8_t nonce[LMIG_NONCE_LEN],
	      uint16_t index, uint8_t mac[LMIG_MAC_LEN])
{
	static const char context[] = "lmig join v1";
	uint16_t le = htole16(index);
	const void *parts[] = { context, nonce, &le };
	const size_t lens[] = { sizeof(context), LMIG_NONCE_LEN, sizeof(le) };

	hmac_sha256(token, LMIG_TOKEN_LEN, parts, lens, 3, mac);
}
