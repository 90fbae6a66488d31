/* SPDX-License-Identifier: GPL-2.0 */
/*
 * lmig's wire protocol: the control messages two lmig modules exchange
 * over an RC QP (SEND/RECV); page data goes by RDMA WRITE, never here.
 *
 * Every message begins with struct lmig_msg_hdr. All fields are little
 * endian, whatever the hosts are. The receiver checks the length, magic,
 * version and every bound before it uses a field; a violation aborts the
 * session (before AUTH, the destination only drops that connection and
 * listens on), never the host. Sizes are fixed by BUILD_BUG_ON in conn.c.
 *
 *   source                          destination
 *   HELLO (layout, features)  ->
 *                             <-    CHALLENGE (nonce)
 *   AUTH (HMAC-SHA256)        ->
 *                             <-    GRANT ... (chunk -> iova, rkey)
 *   [round 0's WRITEs, ZEROs] ->    GRANT ...
 *                             <-    READY            or ERROR (why)
 *   [RDMA WRITEs of a round]
 *   ZERO (page ranges)        ->
 *   ROUND_DONE (round, pages) ->
 *                             <-    ROUND_ACK (after placing the zeros)
 *   ... more rounds ...
 *   BLOB (VMM state, pieces)  ->
 *   FINAL (totals)            ->
 *                             <-    ACK
 *
 * RC delivers in order and a SEND completes at the receiver only after
 * every WRITE posted before it has been placed, so a round's pages have
 * landed when its ROUND_DONE arrives, and all of them when FINAL does.
 * ROUND_ACK keeps a zero marker of one round from being placed after a
 * WRITE of the next one to the same page.
 *
 * The destination grants chunks as it registers them, in slot and page
 * order, the first one at once. Since 1.3 the source's handshake ends on
 * the first GRANT, and round 0, once started, writes only into chunks
 * granted already and sends ZERO only for pages in them, while the
 * destination registers the rest and places those zeros between chunks.
 * Until READY the source keeps taking GRANTs even while it cannot send:
 * the destination's next REG_MR queues behind its GRANT, and it reads
 * again only once that completes.
 * READY follows the last GRANT; round 0's ROUND_DONE is sent only after
 * it. A 1.2 destination grants everything before READY anyway, and a 1.2
 * source sends nothing before READY: either side works with the other.
 *
 * Since 1.4 a source may join data QPs after the first GRANT, when the
 * CHALLENGE came from a 1.4 destination: RDMA CM connections to the same
 * listener whose private data is struct lmig_join, proving the token for
 * that QP's index. The destination accepts them only after AUTH, from the
 * source's address, each index once, into the session's PD, until JOINED
 * (or round 0's ROUND_DONE). A join that fails ends the joining, and
 * JOINED names how many QPs the source uses: indexes 0 .. qps - 1.
 *
 *   JOIN (RDMA CM) ...        ->    (accepted or rejected)
 *   JOINED (qps)              ->
 *
 * Data QPs carry the source's RDMA WRITEs and, after a round's last one, a
 * zero-length SEND with the round as immediate data: RC orders nothing
 * across QPs, but that SEND completes at the destination only once the
 * WRITEs before it on its QP are placed. The destination takes ROUND_DONE
 * only once every data QP in use has delivered the round's marker; one
 * that breaks fails the session.
 */
#ifndef _LMIG_PROTO_H
#define _LMIG_PROTO_H

#include <linux/types.h>
#include <asm/page.h>

#define LMIG_PROTO_MAGIC	0x4c4d4947	/* "LMIG" */
#define LMIG_PROTO_MAJOR	1
/*
 * 1.1 added NOP, DATA and READY's placement; 1.2 shared slots; 1.3 the
 * handshake ends on the first GRANT; 1.4 data QPs.
 */
#define LMIG_PROTO_MINOR	4

/* Every message fits in one receive buffer. */
#define LMIG_MSG_MAX		16384

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
	LMIG_MSG_NOP = 13,	/* header only: "still here" */
	LMIG_MSG_DATA = 14,	/* pages by copy, when they cannot be written */
	LMIG_MSG_JOINED = 15,	/* since 1.4: the QPs the source uses */
};

struct lmig_msg_hdr {
	__le32 magic;
	__u8 major;
	__u8 minor;
	__le16 type;		/* enum lmig_msg_type */
	__le32 len;		/* of the whole message, header included */
	__le32 reserved;	/* zero */
};

/*
 * A slot of the wire: what pages are addressed in, and both sides must
 * have alike. Either one memslot (as_id, base_gfn, npages), or with
 * LMIG_SLOT_SHARED a shared file of npages that memslots show parts of
 * (as_id and base_gfn zero). In the order of each one's first memslot by
 * address space and gpa.
 */
#define LMIG_SLOT_SHARED	0x1

struct lmig_wire_slot {
	__le16 as_id;
	__le16 flags;		/* LMIG_SLOT_* */
	__le32 reserved1;
	__le64 base_gfn;
	__le64 npages;
};

struct lmig_msg_hello {
	struct lmig_msg_hdr hdr;
	__le32 page_size;
	__le32 nslots;
	__le64 features;	/* none yet */
	struct lmig_wire_slot slots[];
};

#define LMIG_NONCE_LEN		32
#define LMIG_MAC_LEN		32

struct lmig_msg_challenge {
	struct lmig_msg_hdr hdr;
	__u8 nonce[LMIG_NONCE_LEN];
};

struct lmig_msg_auth {
	struct lmig_msg_hdr hdr;
	__u8 mac[LMIG_MAC_LEN];	/* HMAC-SHA256(token, context || nonce || HELLO) */
};

/* The private data of a data QP's connect request (RDMA CM allows 56 bytes). */
#define LMIG_JOIN_MAGIC		0x4c4d4a4e	/* "LMJN" */

struct lmig_join {
	__le32 magic;
	__u8 major;
	__u8 minor;
	__le16 index;		/* 1 .. LMIG_MAX_QPS - 1 */
	__u8 mac[LMIG_MAC_LEN];	/* HMAC-SHA256(token, context || nonce || index) */
};

struct lmig_msg_joined {
	struct lmig_msg_hdr hdr;
	__le32 qps;		/* 1 .. LMIG_MAX_QPS, data QPs 1 .. qps - 1 */
	__le32 reserved;
};

/* Pages [first, first + npages) of a slot are at iova under rkey. */
struct lmig_wire_grant {
	__le32 slot;		/* index in the HELLO layout */
	__le32 npages;
	__le64 first;		/* page index within the slot */
	__le64 iova;
	__le32 rkey;
	__le32 reserved;
};

struct lmig_msg_grant {
	struct lmig_msg_hdr hdr;
	__le32 count;
	__le32 reserved;
	struct lmig_wire_grant grants[];
};

/* How the destination places pages: READY.placement. */
enum lmig_placement {
	/* RDMA WRITE straight into the granted (fast-registered) chunks. */
	LMIG_PLACE_WRITE = 0,
	/* DATA messages, copied in: no grants (no fast registration). */
	LMIG_PLACE_COPY = 1,
};

struct lmig_msg_ready {
	struct lmig_msg_hdr hdr;
	__le64 chunks;		/* grants sent in all */
	__le32 placement;	/* enum lmig_placement */
	__le32 reserved;
};

/* LMIG_PLACE_COPY: npages pages of a slot from first, after this header. */
struct lmig_msg_data {
	struct lmig_msg_hdr hdr;
	__le32 slot;
	__le32 npages;
	__le64 first;
	__u8 data[];
};

/* Pages the source found all zero in this round. */
struct lmig_wire_range {
	__le32 slot;
	__le32 npages;
	__le64 first;
};

struct lmig_msg_zero {
	struct lmig_msg_hdr hdr;
	__le32 count;
	__le32 reserved;
	struct lmig_wire_range ranges[];
};

struct lmig_msg_round {
	struct lmig_msg_hdr hdr;
	__le64 round;
	__le64 data_pages;	/* written this round */
	__le64 zero_pages;	/* marked zero this round */
};

struct lmig_msg_blob {
	struct lmig_msg_hdr hdr;
	__le32 total;		/* length of the whole blob */
	__le32 offset;		/* of this piece; data runs to hdr.len */
	__u8 data[];
};

struct lmig_msg_final {
	struct lmig_msg_hdr hdr;
	__le64 rounds;
	__le64 data_pages;	/* over all rounds */
	__le64 zero_pages;
	__le32 blob_len;
	__le32 reserved;
};

#define LMIG_ERROR_TEXT		128

struct lmig_msg_error {
	struct lmig_msg_hdr hdr;
	__le32 errno_val;	/* positive Linux errno */
	__le32 reserved;
	char text[LMIG_ERROR_TEXT];	/* NUL-terminated */
};

#define LMIG_GRANTS_PER_MSG \
	((LMIG_MSG_MAX - sizeof(struct lmig_msg_grant)) / sizeof(struct lmig_wire_grant))
#define LMIG_RANGES_PER_MSG \
	((LMIG_MSG_MAX - sizeof(struct lmig_msg_zero)) / sizeof(struct lmig_wire_range))
#define LMIG_BLOB_PER_MSG	(LMIG_MSG_MAX - sizeof(struct lmig_msg_blob))
#define LMIG_DATA_PAGES		((LMIG_MSG_MAX - sizeof(struct lmig_msg_data)) / PAGE_SIZE)

#endif /* _LMIG_PROTO_H */
