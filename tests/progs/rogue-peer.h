/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rogue-peer's view of lmig's wire format, and its link: one RDMA CM
 * connection (port space TCP, RC QP) that carries control messages as
 * SEND/RECV the way kmod/conn.c does, plus RDMA WRITEs, and the HMAC that
 * AUTH carries.
 *
 * The format is written out again here from kmod/proto.h (wire 1.1), not
 * included: that header is the kernel's (it needs PAGE_SIZE from
 * <asm/page.h>), and a second reading is what a test of the module's
 * parsing should use anyway. The sizes are the ones conn.c asserts.
 * Fields are little endian; the code converts with <endian.h>.
 *
 * The link is single-threaded and polled: every wait pumps the RDMA CM
 * events and the completion queue itself, so a case reads top to bottom.
 */
#ifndef ROGUE_PEER_H
#define ROGUE_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <linux/lmig.h>

#define LMIG_PROTO_MAGIC	0x4c4d4947	/* "LMIG" */
#define LMIG_PROTO_MAJOR	1
#define LMIG_PROTO_MINOR	1
#define LMIG_MSG_MAX		16384
#define LMIG_NONCE_LEN		32
#define LMIG_MAC_LEN		32
#define LMIG_ERROR_TEXT		128
#define LMIG_PAGE		4096u	/* the rig's hosts are x86 */

enum lmig_msg_type {
	LMIG_MSG_HELLO = 1,
	LMIG_MSG_CHALLENGE = 2,
	LMIG_MSG_AUTH = 3,
	LMIG_MSG_GRANT = 4,
	LMIG_MSG_READY = 5,
	LMIG_MSG_ZERO = 6,
	LMIG_MSG_ROUND_DONE = 7,
	LMIG_MSG_ROUND_ACK = 8,
	LMIG_MSG_BLOB = 9,
	LMIG_MSG_FINAL = 10,
	LMIG_MSG_ACK = 11,
	LMIG_MSG_ERROR = 12,
	LMIG_MSG_NOP = 13,
	LMIG_MSG_DATA = 14,
	LMIG_MSG_JOINED = 15,
};

enum lmig_placement { LMIG_PLACE_WRITE = 0, LMIG_PLACE_COPY = 1 };

struct lmig_msg_hdr {
	uint32_t magic;
	uint8_t major;
	uint8_t minor;
	uint16_t type;
	uint32_t len;		/* of the whole message, header included */
	uint32_t reserved;
};

struct lmig_wire_slot {
	uint16_t as_id;
	uint16_t reserved0;
	uint32_t reserved1;
	uint64_t base_gfn;
	uint64_t npages;
};

struct lmig_msg_hello {
	struct lmig_msg_hdr hdr;
	uint32_t page_size;
	uint32_t nslots;
	uint64_t features;
	struct lmig_wire_slot slots[];
};

struct lmig_msg_challenge {
	struct lmig_msg_hdr hdr;
	uint8_t nonce[LMIG_NONCE_LEN];
};

struct lmig_msg_auth {
	struct lmig_msg_hdr hdr;
	uint8_t mac[LMIG_MAC_LEN];
};

struct lmig_wire_grant {
	uint32_t slot;
	uint32_t npages;
	uint64_t first;		/* page index within the slot */
	uint64_t iova;
	uint32_t rkey;
	uint32_t reserved;
};

struct lmig_msg_grant {
	struct lmig_msg_hdr hdr;
	uint32_t count;
	uint32_t reserved;
	struct lmig_wire_grant grants[];
};

struct lmig_msg_ready {
	struct lmig_msg_hdr hdr;
	uint64_t chunks;	/* grants sent in all */
	uint32_t placement;	/* enum lmig_placement */
	uint32_t reserved;
};

struct lmig_msg_data {
	struct lmig_msg_hdr hdr;
	uint32_t slot;
	uint32_t npages;
	uint64_t first;
	uint8_t data[];
};

struct lmig_wire_range {
	uint32_t slot;
	uint32_t npages;
	uint64_t first;
};

struct lmig_msg_zero {
	struct lmig_msg_hdr hdr;
	uint32_t count;
	uint32_t reserved;
	struct lmig_wire_range ranges[];
};

struct lmig_msg_round {
	struct lmig_msg_hdr hdr;
	uint64_t round;
	uint64_t data_pages;
	uint64_t zero_pages;
};

struct lmig_msg_blob {
	struct lmig_msg_hdr hdr;
	uint32_t total;
	uint32_t offset;
	uint8_t data[];
};

struct lmig_msg_final {
	struct lmig_msg_hdr hdr;
	uint64_t rounds;
	uint64_t data_pages;
	uint64_t zero_pages;
	uint32_t blob_len;
	uint32_t reserved;
};

struct lmig_msg_error {
	struct lmig_msg_hdr hdr;
	uint32_t errno_val;
	uint32_t reserved;
	char text[LMIG_ERROR_TEXT];	/* NUL-terminated, if the peer is honest */
};

/* Wire 1.4: a data QP's connect request carries this as private data. */
#define LMIG_JOIN_MAGIC		0x4c4d4a4e	/* "LMJN" */

struct lmig_join {
	uint32_t magic;
	uint8_t major;
	uint8_t minor;
	uint16_t index;
	uint8_t mac[LMIG_MAC_LEN];
};

struct lmig_msg_joined {
	struct lmig_msg_hdr hdr;
	uint32_t qps;
	uint32_t reserved;
};

_Static_assert(sizeof(struct lmig_join) == 40, "wire");
_Static_assert(sizeof(struct lmig_msg_joined) == 24, "wire");
_Static_assert(sizeof(struct lmig_msg_hdr) == 16, "wire");
_Static_assert(sizeof(struct lmig_wire_slot) == 24, "wire");
_Static_assert(sizeof(struct lmig_msg_hello) == 32, "wire");
_Static_assert(sizeof(struct lmig_msg_challenge) == 48, "wire");
_Static_assert(sizeof(struct lmig_msg_auth) == 48, "wire");
_Static_assert(sizeof(struct lmig_wire_grant) == 32, "wire");
_Static_assert(sizeof(struct lmig_msg_grant) == 24, "wire");
_Static_assert(sizeof(struct lmig_msg_ready) == 32, "wire");
_Static_assert(sizeof(struct lmig_msg_data) == 32, "wire");
_Static_assert(sizeof(struct lmig_wire_range) == 16, "wire");
_Static_assert(sizeof(struct lmig_msg_zero) == 24, "wire");
_Static_assert(sizeof(struct lmig_msg_round) == 40, "wire");
_Static_assert(sizeof(struct lmig_msg_blob) == 24, "wire");
_Static_assert(sizeof(struct lmig_msg_final) == 48, "wire");
_Static_assert(sizeof(struct lmig_msg_error) == 24 + LMIG_ERROR_TEXT, "wire");

#define LMIG_GRANTS_PER_MSG \
	((LMIG_MSG_MAX - sizeof(struct lmig_msg_grant)) / sizeof(struct lmig_wire_grant))
#define LMIG_DATA_PAGES	((LMIG_MSG_MAX - sizeof(struct lmig_msg_data)) / LMIG_PAGE)

#define RX_DEPTH	32		/* as the module posts */
#define TX_DEPTH	16
#define TX_MAX		(LMIG_MSG_MAX + 4096)	/* room to send too much */
#define DATA_LEN	(2 * 4096)		/* the source of our WRITEs */
#define MAX_MRS		(LMIG_MAX_SLOTS + 1)

/* One memslot as HELLO carries it. */
struct memslot {
	uint16_t as_id;
	uint64_t base_gfn;
	uint64_t npages;
};

struct link {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	struct rdma_cm_id *id;
	struct rdma_cm_id *request;	/* a connect request not accepted yet */
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct ibv_mr *mr;		/* rx, tx and data buffers */
	uint8_t *bufs;
	struct ibv_mr *mrs[MAX_MRS];	/* registered by the caller */
	int nmrs;

	int cm;				/* the last RDMA CM event that moved us; -1: none */
	int closed;			/* the event that ended the connection, or 0 */
	int wc_error;			/* status of the first failed completion + 1 */
	int tx_busy[TX_DEPTH];
	uint32_t rx_len[RX_DEPTH];
	int ring[RX_DEPTH];		/* received, not taken yet */
	unsigned int head, tail;
	int writes;			/* RDMA WRITEs in flight */
	int write_status;		/* of the last one to complete */
	double last_tx;			/* ms, for keepalive NOPs */
	int quiet;			/* no NOPs from us */
	int hold_rx;			/* receive buffers are not posted again */
	int rx_posted;			/* receives posted at connect; 0: RX_DEPTH */
	const void *pdata;		/* private data of the connect request */
	uint8_t pdata_len;
};

double now_ms(void);
void sleep_ms(int ms);

/* "ADDR:PORT" or "[V6]:PORT" to a socket address; 0 or -1. */
int parse_addr(const char *s, struct sockaddr_storage *ss);

/* Source side: connects, trying again while the peer turns us away. */
int link_connect(struct link *l, const struct sockaddr *dst, int timeout_ms);
/* Destination side: listens, then accepts the first request. */
int link_listen(struct link *l, const struct sockaddr *src);
int link_accept(struct link *l, int timeout_ms);
/* Disconnects and frees everything; the link can connect again. */
void link_close(struct link *l);

/* Why the connection is over, in words, or NULL while it lives. */
const char *link_dead(struct link *l);
/* Processes what happened, waiting up to timeout_ms for something. */
void link_pump(struct link *l, int timeout_ms);

void msg_header(void *msg, uint16_t type, uint32_t len);
/* Sends len bytes as they are; the header is the caller's. */
int link_send_raw(struct link *l, const void *msg, uint32_t len);
/* Fills in a correct header, then sends. */
int link_send(struct link *l, uint16_t type, void *msg, uint32_t len);
/* Waits until every send has completed: 0, -ETIMEDOUT or -ECONNRESET. */
int link_sent(struct link *l, int timeout_ms);
/*
 * The next message other than NOP, copied to buf (TX_MAX bytes): its
 * length, -ETIMEDOUT, -ECONNRESET when the link is dead, or -EBADMSG for
 * a header that the module should never have sent. Sends NOPs meanwhile.
 */
int link_recv(struct link *l, int timeout_ms, void *buf, uint32_t *type);
/* An RDMA WRITE of len bytes of the data buffer; the completion status. */
int link_write(struct link *l, uint32_t len, uint64_t remote, uint32_t rkey);
uint8_t *link_data(struct link *l);
/* Registers memory for remote writes in the link's PD. */
struct ibv_mr *link_reg(struct link *l, void *addr, size_t len);

const char *msg_name(uint32_t type);

/* kmod/auth.c's MAC: HMAC-SHA256(token, "lmig auth v1\0" || nonce || HELLO body). */
void auth_mac(const uint8_t token[LMIG_TOKEN_LEN], const uint8_t nonce[LMIG_NONCE_LEN],
	      const void *hello, uint32_t hello_len, uint8_t mac[LMIG_MAC_LEN]);
/* kmod/auth.c's join MAC: HMAC-SHA256(token, "lmig join v1\0" || nonce || le16 index). */
void join_mac(const uint8_t token[LMIG_TOKEN_LEN], const uint8_t nonce[LMIG_NONCE_LEN],
	      uint16_t index, uint8_t mac[LMIG_MAC_LEN]);
void hmac_sha256(const uint8_t *key, size_t key_len, const void *const *parts,
		 const size_t *lens, int nparts, uint8_t out[32]);

#endif
