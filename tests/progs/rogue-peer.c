// SPDX-License-Identifier: GPL-2.0
/*
 * rogue-peer: speaks lmig's wire protocol (kmod/proto.h) badly on purpose,
 * to check that the module turns away or aborts on hostile input and
 * never writes where it should not (issue 7).
 *
 *   rogue-peer source --to ADDR:PORT --token HEX [--slots LIST] [--wait S] [--count N] CASE
 *   rogue-peer dest --listen ADDR:PORT --token HEX [--slots LIST] [--wait S] [--copy] CASE
 *   rogue-peer selftest
 *
 * As a source it connects to a session made by 'lmctl listen' (TOKEN is the
 * last part of its URI lmig://ADDR:PORT/TOKEN) and misbehaves; as a
 * destination it plays the protocol to a real 'lmctl start' and
 * misbehaves at the end. LIST is the destination VM's memory layout,
 * "as:gfn:npages,..." in the module's order (address space, then gfn).
 * 'rogue-peer' alone lists the cases.
 *
 * Prints one line, "CASE: ok: what happened" or "CASE: FAIL: ...". A
 * source exits 0 if the destination rejected or aborted as it must, a
 * destination if it played its case through; 1 otherwise, 2 on a usage
 * error.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "lmvm.h"
#include "rogue-peer.h"

#define PAGE		LMIG_PAGE
#define HANDSHAKE_MS	10000	/* dest.c's HANDSHAKE_TIMEOUT */
#define GRANT_MS	300000	/* source.c's GRANT_TIMEOUT: pinning takes a while */
#define CHUNK_PAGES	512	/* what the module grants per chunk */
#define SLOW_PAGES	128	/* slow-grants: pages per GRANT */
#define SLOW_MS		50	/* slow-grants: "registering" the next */

struct grant {
	uint32_t slot, npages, rkey;
	uint64_t first, iova;
};

struct ctx {
	const char *name;
	struct sockaddr_storage addr;
	uint8_t token[LMIG_TOKEN_LEN];
	struct memslot slots[LMIG_MAX_SLOTS];
	uint32_t nslots;
	int have_slots;
	int wait_ms;
	unsigned long count;
	int copy;		/* the destination places pages from DATA */
	struct link l;
	uint32_t hello_len;
	uint8_t nonce[LMIG_NONCE_LEN];	/* the last CHALLENGE's */
	struct grant *grants;
	uint64_t ngrants;
	uint8_t hello[TX_MAX], msg[TX_MAX], rx[TX_MAX];
};

static int verdict(struct ctx *x, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: %s: ", x->name, ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	link_close(&x->l);
	return ok ? 0 : 1;
}

/* An ERROR's text as the peer sent it, NUL or not, printable. */
static const char *error_text(const struct lmig_msg_error *e)
{
	static char text[LMIG_ERROR_TEXT + 1];
	size_t i;

	for (i = 0; i < LMIG_ERROR_TEXT && e->text[i]; i++)
		text[i] = e->text[i] >= ' ' && e->text[i] < 127 ? e->text[i] : '?';
	text[i] = 0;
	return text;
}

enum { R_NOTHING, R_CLOSED, R_ERROR, R_MESSAGE };

/* What the peer did next: a message, a disconnect, or nothing in time. */
static int reaction(struct ctx *x, int timeout_ms, uint32_t *type, char *what, size_t len)
{
	const struct lmig_msg_error *e = (const void *)x->rx;
	int n;

	*type = 0;
	n = link_recv(&x->l, timeout_ms, x->rx, type);
	if (n == -ETIMEDOUT) {
		snprintf(what, len, "no reaction in %d s", timeout_ms / 1000);
		return R_NOTHING;
	}
	if (n == -ECONNRESET) {
		snprintf(what, len, "the connection ended (%s)", link_dead(&x->l));
		return R_CLOSED;
	}
	if (n == -EBADMSG) {
		snprintf(what, len, "a message with a broken header came back");
		return R_MESSAGE;
	}
	if (*type == LMIG_MSG_ERROR && n == sizeof(*e)) {
		snprintf(what, len, "ERROR %u (%s): \"%s\"", le32toh(e->errno_val),
			 strerror(le32toh(e->errno_val)), error_text(e));
		return R_ERROR;
	}
	snprintf(what, len, "%s came back (%d bytes)", msg_name(*type), n);
	return R_MESSAGE;
}

/* The case passes if the peer refused (ERROR) or hung up; what says which. */
static int refused(struct ctx *x, char *what, size_t len)
{
	uint32_t type;
	int r = reaction(x, x->wait_ms, &type, what, len);

	return r == R_ERROR || r == R_CLOSED;
}

static uint32_t build_hello(struct ctx *x, void *buf, uint32_t nslots)
{
	struct lmig_msg_hello *h = buf;
	uint32_t i, len = sizeof(*h) + x->nslots * sizeof(h->slots[0]);

	memset(h, 0, len);
	h->page_size = htole32(sysconf(_SC_PAGESIZE));
	h->nslots = htole32(nslots);
	for (i = 0; i < x->nslots; i++) {
		h->slots[i].as_id = htole16(x->slots[i].as_id);
		h->slots[i].base_gfn = htole64(x->slots[i].base_gfn);
		h->slots[i].npages = htole64(x->slots[i].npages);
	}
	msg_header(h, LMIG_MSG_HELLO, len);
	return len;
}

/* Connects, sends a correct HELLO and takes the CHALLENGE; 0 or a reason. */
static const char *hello(struct ctx *x, uint8_t nonce[LMIG_NONCE_LEN])
{
	static char why[256];
	uint32_t type;
	int ret = link_connect(&x->l, (struct sockaddr *)&x->addr, 15000);

	if (ret) {
		snprintf(why, sizeof(why), "could not connect: %s", strerror(-ret));
		return why;
	}
	x->hello_len = build_hello(x, x->hello, x->nslots);
	if (link_send_raw(&x->l, x->hello, x->hello_len))
		return "could not send HELLO";
	if (reaction(x, HANDSHAKE_MS, &type, why, sizeof(why)) != R_MESSAGE ||
	    type != LMIG_MSG_CHALLENGE || le32toh(((struct lmig_msg_hdr *)x->rx)->len) !=
	    sizeof(struct lmig_msg_challenge))
		return why;
	memcpy(nonce, ((struct lmig_msg_challenge *)x->rx)->nonce, LMIG_NONCE_LEN);
	memcpy(x->nonce, nonce, LMIG_NONCE_LEN);
	return NULL;
}

static int send_auth(struct ctx *x, const uint8_t mac[LMIG_MAC_LEN])
{
	struct lmig_msg_auth a;

	memcpy(a.mac, mac, sizeof(a.mac));
	return link_send(&x->l, LMIG_MSG_AUTH, &a, sizeof(a));
}

/* The whole handshake up to READY, keeping the grants; 0 or a reason. */
static const char *authenticate(struct ctx *x)
{
	static char why[256];
	uint8_t nonce[LMIG_NONCE_LEN], mac[LMIG_MAC_LEN];
	const char *err = hello(x, nonce);
	uint32_t type, i, n;

	if (err)
		return err;
	auth_mac(x->token, nonce, x->hello, x->hello_len, mac);
	if (send_auth(x, mac))
		return "could not send AUTH";
	for (;;) {
		const struct lmig_msg_grant *g = (const void *)x->rx;

		if (reaction(x, GRANT_MS, &type, why, sizeof(why)) != R_MESSAGE)
			return why;
		if (type == LMIG_MSG_READY)
			break;
		n = le32toh(g->count);
		if (type != LMIG_MSG_GRANT || n > LMIG_GRANTS_PER_MSG) {
			snprintf(why, sizeof(why), "%s where GRANT or READY was due", msg_name(type));
			return why;
		}
		x->grants = realloc(x->grants, (x->ngrants + n) * sizeof(*x->grants));
		if (!x->grants)
			return "out of memory";
		for (i = 0; i < n; i++) {
			struct grant *k = &x->grants[x->ngrants++];

			k->slot = le32toh(g->grants[i].slot);
			k->npages = le32toh(g->grants[i].npages);
			k->first = le64toh(g->grants[i].first);
			k->iova = le64toh(g->grants[i].iova);
			k->rkey = le32toh(g->grants[i].rkey);
		}
	}
	{
		const struct lmig_msg_ready *r = (const void *)x->rx;

		if (le32toh(r->hdr.len) != sizeof(*r) || le64toh(r->chunks) != x->ngrants)
			return "READY does not count the grants that came";
		x->copy = le32toh(r->placement) == LMIG_PLACE_COPY;
		if (!x->copy && !x->ngrants)
			return "READY for RDMA WRITEs, but nothing was granted";
	}
	return NULL;
}

static int send_round(struct ctx *x, uint64_t round, uint64_t data, uint64_t zero)
{
	struct lmig_msg_round r = { .round = htole64(round), .data_pages = htole64(data),
				    .zero_pages = htole64(zero) };

	return link_send(&x->l, LMIG_MSG_ROUND_DONE, &r, sizeof(r));
}

/* Cases that break the first message's header or size. */
static int bad_hello(struct ctx *x)
{
	struct lmig_msg_hello *h = (void *)x->msg;
	uint32_t len;
	char what[256];
	int ret = link_connect(&x->l, (struct sockaddr *)&x->addr, 15000);

	if (ret)
		return verdict(x, 0, "could not connect: %s", strerror(-ret));
	len = build_hello(x, h, x->nslots);
	if (!strcmp(x->name, "bad-magic"))
		h->hdr.magic = htobe32(LMIG_PROTO_MAGIC);	/* a big-endian sender */
	else if (!strcmp(x->name, "bad-version"))
		h->hdr.major = LMIG_PROTO_MAJOR + 1;
	else if (!strcmp(x->name, "reserved"))
		h->hdr.reserved = htole32(1);
	else if (!strcmp(x->name, "oversized"))
		h->hdr.len = htole32(len + 8);		/* more than arrives */
	else if (!strcmp(x->name, "truncated"))
		h->nslots = htole32(x->nslots + 1);	/* the last slot is missing */
	else if (!strcmp(x->name, "runt"))
		len = 8;				/* half a header */
	else if (!strcmp(x->name, "overlong")) {
		/* A consistent header, past the receiver's LMIG_MSG_MAX buffer. */
		len = LMIG_MSG_MAX + 8;
		memset(h->slots + x->nslots, 0, len - sizeof(*h) - x->nslots * sizeof(h->slots[0]));
		h->hdr.len = htole32(len);
	}
	if (link_send_raw(&x->l, h, len))
		return verdict(x, 0, "could not send %u bytes", len);
	ret = refused(x, what, sizeof(what));
	return verdict(x, ret, "%s", what);
}

static int out_of_order(struct ctx *x)
{
	uint8_t mac[LMIG_MAC_LEN] = { 0 }, nonce[LMIG_NONCE_LEN];
	char first[256], second[256];
	const char *err;
	int ok1, ok2, ret;

	ret = link_connect(&x->l, (struct sockaddr *)&x->addr, 15000);
	if (ret)
		return verdict(x, 0, "could not connect: %s", strerror(-ret));
	send_auth(x, mac);
	ok1 = refused(x, first, sizeof(first));
	link_close(&x->l);

	err = hello(x, nonce);
	if (err)
		return verdict(x, 0, "AUTH before HELLO: %s; then HELLO: %s", first, err);
	send_round(x, 0, 0, 0);
	ok2 = refused(x, second, sizeof(second));
	return verdict(x, ok1 && ok2, "AUTH before HELLO: %s; ROUND_DONE instead of AUTH: %s",
		       first, second);
}

static int wrong_hmac(struct ctx *x)
{
	uint8_t nonce[LMIG_NONCE_LEN], mac[LMIG_MAC_LEN], token[LMIG_TOKEN_LEN];
	const char *err = hello(x, nonce);
	char what[256];

	if (err)
		return verdict(x, 0, "%s", err);
	memcpy(token, x->token, sizeof(token));
	token[0] ^= 1;
	auth_mac(token, nonce, x->hello, x->hello_len, mac);
	send_auth(x, mac);
	return verdict(x, refused(x, what, sizeof(what)), "%s", what);
}

/*
 * The AUTH that the right token makes for one connection's nonce, as an
 * eavesdropper would have recorded it, offered on a second connection.
 */
static int replay(struct ctx *x)
{
	uint8_t n1[LMIG_NONCE_LEN], n2[LMIG_NONCE_LEN], mac[LMIG_MAC_LEN];
	const char *err = hello(x, n1);
	char what[256];

	if (err)
		return verdict(x, 0, "first connection: %s", err);
	auth_mac(x->token, n1, x->hello, x->hello_len, mac);
	link_close(&x->l);
	err = hello(x, n2);
	if (err)
		return verdict(x, 0, "second connection: %s", err);
	if (!memcmp(n1, n2, sizeof(n1)))
		return verdict(x, 0, "the second CHALLENGE repeated the first nonce");
	send_auth(x, mac);
	return verdict(x, refused(x, what, sizeof(what)), "fresh nonce; the replayed AUTH: %s",
		       what);
}

static int zero_out_of_bounds(struct ctx *x)
{
	struct lmig_msg_zero *z = (void *)x->msg;
	const struct memslot *s = &x->slots[x->nslots - 1];
	const char *err = authenticate(x);
	char what[256];

	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	/* The last page of the last slot and one past the end of guest memory. */
	memset(z, 0, sizeof(*z) + sizeof(z->ranges[0]));
	z->count = htole32(1);
	z->ranges[0].slot = htole32(x->nslots - 1);
	z->ranges[0].npages = htole32(2);
	z->ranges[0].first = htole64(s->npages - 1);
	link_send(&x->l, LMIG_MSG_ZERO, z, sizeof(*z) + sizeof(z->ranges[0]));
	send_round(x, 0, 0, 2);
	return verdict(x, refused(x, what, sizeof(what)),
		       "ZERO of pages %llu-%llu of slot %u (%llu pages): %s",
		       (unsigned long long)s->npages - 1, (unsigned long long)s->npages,
		       x->nslots - 1, (unsigned long long)s->npages, what);
}

static int write_ungranted(struct ctx *x)
{
	const char *err = authenticate(x);
	const struct grant *g;
	uint64_t remote;
	int st;

	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	memset(link_data(&x->l), 0x5a, PAGE);
	if (x->copy) {
		/* Nothing is registered for us: any rkey must fail. */
		st = link_write(&x->l, PAGE, 0x100000, 0x1234);
		if (st < 0)
			return verdict(x, 0, "the WRITE did not complete: %s", strerror(-st));
		return verdict(x, st != IBV_WC_SUCCESS,
			       "copy placement, no grants: a WRITE with a made-up rkey: %s",
			       ibv_wc_status_str(st));
	}
	/*
	 * Half a page inside the first chunk and half past its end: what
	 * lands past it would be the next chunk's guest memory.
	 */
	g = &x->grants[0];
	remote = g->iova + (uint64_t)g->npages * PAGE - PAGE / 2;
	st = link_write(&x->l, PAGE, remote, g->rkey);
	if (st < 0)
		return verdict(x, 0, "the WRITE did not complete: %s", strerror(-st));
	return verdict(x, st != IBV_WC_SUCCESS,
		       "a WRITE across the end of grant (slot %u, pages %llu+%u): %s",
		       g->slot, (unsigned long long)g->first, g->npages,
		       st == IBV_WC_SUCCESS ? "ACCEPTED" : ibv_wc_status_str(st));
}

/* Connects j as data QP index of x's session, proving it with mac: 0 or why not. */
static int try_join(struct ctx *x, struct link *j, uint16_t index, const uint8_t *mac)
{
	struct lmig_join req = {
		.magic = htole32(LMIG_JOIN_MAGIC), .major = LMIG_PROTO_MAJOR, .minor = 4,
		.index = htole16(index),
	};
	int ret;

	memcpy(req.mac, mac, LMIG_MAC_LEN);
	memset(j, 0, sizeof(*j));
	j->pdata = &req;
	j->pdata_len = sizeof(req);
	j->quiet = 1;
	ret = link_connect(j, (struct sockaddr *)&x->addr, 5000);
	j->pdata = NULL;
	return ret;
}

/* A refused join: 1, else the verdict's words in what. */
static int join_refused(struct ctx *x, uint16_t index, const uint8_t *mac, const char *how,
			char *what, size_t len)
{
	struct link j;
	int r = try_join(x, &j, index, mac);

	link_close(&j);
	if (r == -ECONNREFUSED)
		return 1;
	snprintf(what, len, "a join %s: %s", how, r ? strerror(-r) : "ACCEPTED");
	return 0;
}

/*
 * Data QPs (wire 1.4) join only after AUTH, with the MAC of their index,
 * each index once; one that joined writes into the grants of the first.
 */
static int joins(struct ctx *x)
{
	uint8_t mac[LMIG_MAC_LEN], other[LMIG_TOKEN_LEN];
	char what[256] = "";
	const char *err;
	struct link j;
	int st;

	memset(mac, 0x5a, sizeof(mac));
	if (!join_refused(x, 1, mac, "before any AUTH", what, sizeof(what)))
		return verdict(x, 0, "%s", what);
	err = authenticate(x);
	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	memcpy(other, x->token, sizeof(other));
	other[0] ^= 1;
	join_mac(other, x->nonce, 1, mac);
	if (!join_refused(x, 1, mac, "with another token's MAC", what, sizeof(what)))
		return verdict(x, 0, "%s", what);
	join_mac(x->token, x->nonce, 0, mac);
	if (!join_refused(x, 0, mac, "as index 0, the first QP's", what, sizeof(what)))
		return verdict(x, 0, "%s", what);
	join_mac(x->token, x->nonce, LMIG_MAX_QPS, mac);
	if (!join_refused(x, LMIG_MAX_QPS, mac, "as index LMIG_MAX_QPS", what, sizeof(what)))
		return verdict(x, 0, "%s", what);
	join_mac(x->token, x->nonce, 1, mac);
	if (x->copy)
		return verdict(x, join_refused(x, 1, mac, "with copy placement", what, sizeof(what)),
			       "copy placement: every join refused, even a correct one%s%s",
			       what[0] ? ": " : "", what);
	st = try_join(x, &j, 1, mac);
	if (st) {
		link_close(&j);
		return verdict(x, 0, "a correct join was refused: %s", strerror(-st));
	}
	if (!join_refused(x, 1, mac, "of index 1 twice", what, sizeof(what))) {
		link_close(&j);
		return verdict(x, 0, "%s", what);
	}
	/* A page of zeros where fresh guest memory is zero: nothing changes. */
	memset(link_data(&j), 0, PAGE);
	st = link_write(&j, PAGE, x->grants[0].iova, x->grants[0].rkey);
	link_close(&j);
	return verdict(x, st == IBV_WC_SUCCESS,
		       "joins before AUTH, with another token's MAC, as index 0 and %d, and twice refused; a correct one's WRITE into the first grant: %s",
		       LMIG_MAX_QPS, st < 0 ? strerror(-st) : ibv_wc_status_str(st));
}

/* DATA is for copy placement only, and then only inside the slots. */
static int data_out_of_bounds(struct ctx *x)
{
	struct lmig_msg_data *d = (void *)x->msg;
	const struct memslot *s = &x->slots[x->nslots - 1];
	const char *err = authenticate(x);
	uint32_t len = sizeof(*d) + 2 * PAGE;
	char what[256];

	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	memset(d, 0x5a, len);
	d->slot = htole32(x->nslots - 1);
	d->npages = htole32(2);
	d->first = htole64(s->npages - 1);
	link_send(&x->l, LMIG_MSG_DATA, d, len);
	send_round(x, 0, 2, 0);
	return verdict(x, refused(x, what, sizeof(what)),
		       "%s placement: DATA of pages %llu-%llu of slot %u (%llu pages): %s",
		       x->copy ? "copy" : "write", (unsigned long long)s->npages - 1,
		       (unsigned long long)s->npages, x->nslots - 1,
		       (unsigned long long)s->npages, what);
}

static int final_mismatch(struct ctx *x)
{
	struct lmig_msg_final f = { .rounds = htole64(1), .data_pages = htole64(1) };
	const char *err = authenticate(x);
	char what[256];
	uint32_t type;

	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	send_round(x, 0, 0, 0);
	if (reaction(x, HANDSHAKE_MS, &type, what, sizeof(what)) != R_MESSAGE ||
	    type != LMIG_MSG_ROUND_ACK)
		return verdict(x, 0, "an empty round 0 was not acknowledged: %s", what);
	/* One round of no pages arrived; FINAL claims a data page. */
	link_send(&x->l, LMIG_MSG_FINAL, &f, sizeof(f));
	return verdict(x, refused(x, what, sizeof(what)), "FINAL claiming 1 data page: %s", what);
}

/* JOINED naming a data QP that never joined: the WRITEs it would carry are lost. */
static int joined_lie(struct ctx *x)
{
	struct lmig_msg_joined j = { .qps = htole32(2) };
	const char *err = authenticate(x);
	char what[256];

	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	link_send(&x->l, LMIG_MSG_JOINED, &j, sizeof(j));
	/* With copy placement JOINED has no place at all. */
	return verdict(x, refused(x, what, sizeof(what)), "%sJOINED with 2 QPs, none joined: %s",
		       x->copy ? "copy placement: " : "", what);
}

/*
 * First NOPs without a HELLO, which must not hold the listener longer than
 * its handshake timeout; then, authenticated, count messages as fast as
 * they go, half of them ROUND_DONEs that must all be acknowledged (or the
 * session aborted), never left hanging.
 */
static int flood(struct ctx *x)
{
	struct lmig_msg_hdr nop;
	unsigned long sent = 0, rounds = 0, acks = 0;
	double t0;
	char first[256], what[256] = "";
	const char *err;
	uint32_t type;
	int ret, r = R_NOTHING;

	ret = link_connect(&x->l, (struct sockaddr *)&x->addr, 15000);
	if (ret)
		return verdict(x, 0, "could not connect: %s", strerror(-ret));
	t0 = now_ms();
	while (!link_send(&x->l, LMIG_MSG_NOP, &nop, sizeof(nop)) && now_ms() - t0 < 3 * HANDSHAKE_MS)
		sent++;
	if (!link_dead(&x->l))
		return verdict(x, 0, "%lu NOPs without a HELLO held the listener for %.0f s",
			       sent, (now_ms() - t0) / 1000);
	snprintf(first, sizeof(first), "dropped after %.1f s of NOPs without a HELLO (%lu sent)",
		 (now_ms() - t0) / 1000, sent);
	link_close(&x->l);

	err = authenticate(x);
	if (err)
		return verdict(x, 0, "%s; then the handshake failed: %s", first, err);
	t0 = now_ms();
	for (sent = 0; sent < x->count && !link_dead(&x->l); sent++) {
		if (sent % 2 ? send_round(x, rounds, 0, 0) :
		    link_send(&x->l, LMIG_MSG_NOP, &nop, sizeof(nop)))
			break;
		rounds += sent % 2;
		/* Take what came back, or the peer blocks on our full queue. */
		link_pump(&x->l, 0);
		while ((r = reaction(x, 0, &type, what, sizeof(what))) == R_MESSAGE &&
		       type == LMIG_MSG_ROUND_ACK)
			acks++;
		if (r != R_NOTHING)
			break;
	}
	while (r == R_NOTHING && acks < rounds) {
		r = reaction(x, x->wait_ms, &type, what, sizeof(what));
		if (r == R_MESSAGE && type == LMIG_MSG_ROUND_ACK) {
			acks++;
			r = R_NOTHING;
		} else if (r == R_NOTHING) {
			break;
		}
	}
	if (acks == rounds && r == R_NOTHING)
		return verdict(x, 1, "%s; %lu messages in %.1f s, all %lu ROUND_DONEs acknowledged",
			       first, sent, (now_ms() - t0) / 1000, rounds);
	return verdict(x, r == R_CLOSED || r == R_ERROR,
		       "%s; after %lu messages, %lu of %lu ROUND_DONEs acknowledged: %s",
		       first, sent, acks, rounds, what);
}

/*
 * A source that stays connected and sends NOPs but takes no message after
 * the CHALLENGE: one receive posted, never again. It sends AUTH only once
 * the destination has sent a keepalive NOP, so that NOP waits for a
 * receive forever (RNR retries without end), and every registration of
 * guest memory the destination posts after AUTH waits behind it. The
 * destination must give up on such a source, not wait with it.
 */
static int deaf(struct ctx *x)
{
	uint8_t nonce[LMIG_NONCE_LEN], mac[LMIG_MAC_LEN];
	const char *err;
	uint32_t type;
	double t0;
	int n;

	x->l.rx_posted = 1;
	x->l.hold_rx = 1;
	err = hello(x, nonce);
	if (err)
		return verdict(x, 0, "the handshake failed: %s", err);
	/* Half the handshake timeout: the destination's NOP is out by then. */
	n = link_recv(&x->l, HANDSHAKE_MS / 2, x->rx, &type);
	if (n != -ETIMEDOUT)
		return verdict(x, 0, "something came with no receive posted (%d)", n);
	auth_mac(x->token, nonce, x->hello, x->hello_len, mac);
	if (send_auth(x, mac))
		return verdict(x, 0, "could not send AUTH");
	t0 = now_ms();
	n = link_recv(&x->l, x->wait_ms, x->rx, &type);
	return verdict(x, n == -ECONNRESET, "taking nothing after AUTH; after %.0f s: %s",
		       (now_ms() - t0) / 1000,
		       n == -ECONNRESET ? link_dead(&x->l) : "the destination still waits");
}

/* Destination side. */

enum dcase { D_ACK, D_DROP_ACK, D_SILENT, D_BAD_GRANT, D_GRANT_BEYOND, D_GRANT_SHORT,
	     D_BAD_PLACEMENT, D_ERROR_TEXT, D_SLOW_GRANTS };

struct dslot {
	uint8_t *mem;
	uint64_t npages;
	struct ibv_mr *mr;
};

static int dest_refuse(struct ctx *x, int err, const char *text)
{
	struct lmig_msg_error e = { .errno_val = htole32(err) };

	snprintf(e.text, sizeof(e.text), "%s", text);
	return link_send(&x->l, LMIG_MSG_ERROR, &e, sizeof(e));
}

/* Waits until the source hangs up: 0, or -1 if it sent something. */
static int wait_hangup(struct ctx *x, int timeout_ms, char *what, size_t len)
{
	uint32_t type;
	int r = reaction(x, timeout_ms, &type, what, len);

	return r == R_CLOSED ? 0 : -1;
}

/*
 * GRANTs of up to CHUNK_PAGES each, spoiled as the case asks, then READY;
 * with --copy no grants, and READY asks for DATA.
 */
static int send_grants(struct ctx *x, enum dcase c, const struct dslot *ds)
{
	struct lmig_msg_grant *m = (void *)x->msg;
	struct lmig_msg_ready ready = { 0 };
	uint64_t total = 0, first;
	uint32_t i, n = 0;
	int ret;

	for (i = 0; i < x->nslots && !x->copy; i++) {
		for (first = 0; first < ds[i].npages; first += CHUNK_PAGES) {
			struct lmig_wire_grant *g = &m->grants[n];
			uint64_t np = ds[i].npages - first < CHUNK_PAGES ?
				      ds[i].npages - first : CHUNK_PAGES;
			int spoil = i == 0 && first + np == ds[i].npages;	/* slot 0's last */

			/* Slot 0 is never granted whole: its last page is left out. */
			if (c == D_GRANT_SHORT && spoil && !--np)
				continue;
			n++;
			memset(g, 0, sizeof(*g));
			g->slot = htole32(c == D_BAD_GRANT && !total ? x->nslots : i);
			g->npages = htole32(np + (c == D_GRANT_BEYOND && spoil));
			g->first = htole64(first);
			g->iova = htole64((uintptr_t)ds[i].mem + first * PAGE);
			g->rkey = htole32(ds[i].mr->rkey);
			total++;
			if (n == LMIG_GRANTS_PER_MSG) {
				m->count = htole32(n);
				m->reserved = 0;
				ret = link_send(&x->l, LMIG_MSG_GRANT, m, sizeof(*m) + n * sizeof(*g));
				if (ret)
					return ret;
				n = 0;
			}
		}
	}
	if (n) {
		m->count = htole32(n);
		m->reserved = 0;
		ret = link_send(&x->l, LMIG_MSG_GRANT, m, sizeof(*m) + n * sizeof(m->grants[0]));
		if (ret)
			return ret;
	}
	ready.chunks = htole64(total);
	ready.placement = htole32(c == D_BAD_PLACEMENT ? 2 :
				  x->copy ? LMIG_PLACE_COPY : LMIG_PLACE_WRITE);
	return link_send(&x->l, LMIG_MSG_READY, &ready, sizeof(ready));
}

/*
 * A destination that registers slowly, as the module's does on a slow
 * host: one small GRANT at a time, each waited for until its SEND has
 * completed, that is until the source had a receive posted for it (the
 * module's next REG_MR queues behind it on the send queue), and nothing
 * read before READY, from a receive ring of two. The source fills that
 * ring and its own sends wait; it must go on taking GRANTs meanwhile, or
 * its receive ring fills and a GRANT never completes. The first send of
 * the source's that found no receive waits until READY: the grant phase
 * must stay well under SEND_TIMEOUT, after which the source gives up.
 * Returns how many GRANTs went, or -1 with why in what.
 */
static int64_t slow_grants(struct ctx *x, const struct dslot *ds, char *what, size_t len)
{
	struct lmig_msg_grant *m = (void *)x->msg;
	struct lmig_wire_grant *g = &m->grants[0];
	struct lmig_msg_ready ready = { 0 };
	uint64_t total = 0, first, np;
	uint32_t i;
	int ret;

	x->l.hold_rx = 1;
	for (i = 0; i < x->nslots; i++) {
		for (first = 0; first < ds[i].npages; first += np, total++) {
			np = ds[i].npages - first < SLOW_PAGES ? ds[i].npages - first : SLOW_PAGES;
			memset(m, 0, sizeof(*m) + sizeof(*g));
			m->count = htole32(1);
			g->slot = htole32(i);
			g->npages = htole32(np);
			g->first = htole64(first);
			g->iova = htole64((uintptr_t)ds[i].mem + first * PAGE);
			g->rkey = htole32(ds[i].mr->rkey);
			ret = link_send(&x->l, LMIG_MSG_GRANT, m, sizeof(*m) + sizeof(*g));
			if (!ret)
				ret = link_sent(&x->l, 30000);	/* conn.c's SEND_TIMEOUT */
			if (ret) {
				snprintf(what, len, "GRANT %llu not taken: %s",
					 (unsigned long long)total + 1,
					 ret == -ETIMEDOUT ? "the source stopped reading" :
					 link_dead(&x->l) ? link_dead(&x->l) : strerror(-ret));
				return -1;
			}
			sleep_ms(SLOW_MS);
		}
	}
	ready.chunks = htole64(total);
	ready.placement = htole32(LMIG_PLACE_WRITE);
	x->l.hold_rx = 0;
	if (link_send(&x->l, LMIG_MSG_READY, &ready, sizeof(ready))) {
		snprintf(what, len, "could not send READY");
		return -1;
	}
	return total;
}

/* Copy placement: pages inside a DATA message, checked, then copied in. */
static int take_data(struct ctx *x, int len, const struct dslot *ds, uint64_t *pages)
{
	const struct lmig_msg_data *d = (const void *)x->rx;
	uint32_t s = le32toh(d->slot), n = le32toh(d->npages);
	uint64_t first = le64toh(d->first);

	if (!x->copy || len < (int)sizeof(*d) || len != (int)(sizeof(*d) + n * PAGE) ||
	    s >= x->nslots || !n || first >= ds[s].npages || n > ds[s].npages - first)
		return -1;
	memcpy(ds[s].mem + first * PAGE, d->data, (size_t)n * PAGE);
	*pages += n;
	return 0;
}

/* The pages that a ZERO names are cleared, so the digests at the end hold. */
static int take_zero(struct ctx *x, int len, const struct dslot *ds, uint64_t *pages)
{
	const struct lmig_msg_zero *z = (const void *)x->rx;
	uint32_t n = le32toh(z->count), i;

	if (len < (int)sizeof(*z) || len != (int)(sizeof(*z) + n * sizeof(z->ranges[0])))
		return -1;
	for (i = 0; i < n; i++) {
		uint32_t s = le32toh(z->ranges[i].slot), np = le32toh(z->ranges[i].npages);
		uint64_t first = le64toh(z->ranges[i].first);

		if (s >= x->nslots || first > ds[s].npages || np > ds[s].npages - first)
			return -1;
		memset(ds[s].mem + first * PAGE, 0, (size_t)np * PAGE);
		*pages += np;
	}
	return 0;
}

static int dest(struct ctx *x, enum dcase c)
{
	const struct lmig_msg_hello *h = (const void *)x->rx;
	struct lmig_msg_challenge ch;
	uint64_t rounds = 0, data = 0, zero = 0, blob = 0, copied = 0;
	uint8_t mac[LMIG_MAC_LEN];
	char what[256], digests[LMIG_MAX_SLOTS * 34 + 1] = "";
	struct dslot *ds;
	uint32_t type = 0, i, n;
	int64_t slow = 0;
	double t0;
	int len;

	if (c == D_SLOW_GRANTS && x->copy)
		return verdict(x, 0, "slow-grants grants memory: it takes no --copy");
	if (c == D_SLOW_GRANTS)
		x->l.rx_posted = 2;
	if (link_listen(&x->l, (struct sockaddr *)&x->addr))
		return verdict(x, 0, "cannot listen: %s", strerror(errno));
	fprintf(stderr, "rogue-peer: listening for a source\n");
	if (link_accept(&x->l, x->wait_ms))
		return verdict(x, 0, "no source connected in %d s", x->wait_ms / 1000);

	len = link_recv(&x->l, HANDSHAKE_MS, x->rx, &type);
	n = len >= (int)sizeof(*h) ? le32toh(h->nslots) : 0;
	if (type != LMIG_MSG_HELLO || n > LMIG_MAX_SLOTS || !n ||
	    len != (int)(sizeof(*h) + n * sizeof(h->slots[0])))
		return verdict(x, 0, "no proper HELLO came (%d)", len);
	memcpy(x->hello, x->rx, len);
	x->hello_len = len;
	for (i = 0; i < n; i++) {
		struct memslot s = { le16toh(h->slots[i].as_id), le64toh(h->slots[i].base_gfn),
				  le64toh(h->slots[i].npages) };

		if (x->have_slots && (n != x->nslots || s.as_id != x->slots[i].as_id ||
				      s.base_gfn != x->slots[i].base_gfn ||
				      s.npages != x->slots[i].npages)) {
			dest_refuse(x, EPROTO, "memory layouts differ (rogue-peer --slots)");
			return verdict(x, 0, "the source's layout differs at slot %u", i);
		}
		x->slots[i] = s;
	}
	x->nslots = n;

	if (c == D_ERROR_TEXT) {
		static const char start[] = "rogue-peer refuses with a text that never ends ";
		struct lmig_msg_error e = { .errno_val = htole32(EPROTO) };

		/* All 128 bytes printable, no NUL: the source must end it itself. */
		memset(e.text, 'x', sizeof(e.text));
		memcpy(e.text, start, sizeof(start) - 1);
		link_send(&x->l, LMIG_MSG_ERROR, &e, sizeof(e));
		return verdict(x, !wait_hangup(x, x->wait_ms, what, sizeof(what)),
			       "ERROR of 128 bytes without NUL instead of CHALLENGE; then %s", what);
	}

	if (getrandom(ch.nonce, sizeof(ch.nonce), 0) != sizeof(ch.nonce) ||
	    link_send(&x->l, LMIG_MSG_CHALLENGE, &ch, sizeof(ch)))
		return verdict(x, 0, "could not send CHALLENGE");
	len = link_recv(&x->l, HANDSHAKE_MS, x->rx, &type);
	if (type != LMIG_MSG_AUTH || len != sizeof(struct lmig_msg_auth))
		return verdict(x, 0, "no AUTH came (%d)", len);
	auth_mac(x->token, ch.nonce, x->hello, x->hello_len, mac);
	if (memcmp(mac, ((struct lmig_msg_auth *)x->rx)->mac, sizeof(mac))) {
		dest_refuse(x, EACCES, "authentication failed: wrong token");
		return verdict(x, 0, "AUTH does not verify: another token, or rogue-peer's MAC is not kmod/auth.c's");
	}

	/*
	 * One buffer and MR per slot; by copy, nothing is registered. Each
	 * MR has a page more than it grants: rxe before 6.4 reads past its
	 * map array when a WRITE ends on an MR's last page (kmod/compat.h,
	 * LMIG_MR_SPARE_PAGES), which KASAN reports on the debug kernel.
	 */
	ds = calloc(x->nslots, sizeof(*ds));
	for (i = 0; ds && i < x->nslots; i++) {
		ds[i].npages = x->slots[i].npages;
		ds[i].mem = mmap(NULL, (ds[i].npages + 1) * PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (ds[i].mem == MAP_FAILED || (!x->copy &&
		    !(ds[i].mr = link_reg(&x->l, ds[i].mem, (ds[i].npages + 1) * PAGE))))
			return verdict(x, 0, "cannot register %llu pages for slot %u: %s",
				       (unsigned long long)ds[i].npages, i, strerror(errno));
	}
	if (!ds)
		return verdict(x, 0, "out of memory");
	if (c == D_SLOW_GRANTS) {
		slow = slow_grants(x, ds, what, sizeof(what));
		if (slow < 0)
			return verdict(x, 0, "%s", what);
	} else if (send_grants(x, c, ds)) {
		return verdict(x, 0, "could not send the grants");
	}

	if (c == D_BAD_GRANT || c == D_GRANT_BEYOND || c == D_GRANT_SHORT ||
	    c == D_BAD_PLACEMENT)
		return verdict(x, !wait_hangup(x, x->wait_ms, what, sizeof(what)),
			       "%s; the source: %s",
			       c == D_BAD_GRANT ? "a grant for a slot that does not exist" :
			       c == D_GRANT_BEYOND ? "slot 0's last grant ran a page past its end" :
			       c == D_GRANT_SHORT ? "slot 0's last page never granted" :
			       "READY with placement 2", what);
	if (c == D_SILENT) {
		/* Completions are still taken, so the CQ cannot overflow into an error. */
		x->l.quiet = 1;
		x->l.hold_rx = 1;
		t0 = now_ms();
		while (!link_dead(&x->l) && now_ms() - t0 < x->wait_ms)
			link_pump(&x->l, 500);
		return verdict(x, link_dead(&x->l) != NULL,
			       "silent after READY; after %.0f s: %s", (now_ms() - t0) / 1000,
			       link_dead(&x->l) ? link_dead(&x->l) : "the source still waits");
	}

	for (;;) {
		const struct lmig_msg_round *r = (const void *)x->rx;
		const struct lmig_msg_blob *b = (const void *)x->rx;
		const struct lmig_msg_final *f = (const void *)x->rx;

		len = link_recv(&x->l, x->wait_ms, x->rx, &type);
		if (len < 0)
			return verdict(x, 0, "after %llu rounds: %s", (unsigned long long)rounds,
				       len == -ECONNRESET ? link_dead(&x->l) : strerror(-len));
		if (type == LMIG_MSG_ZERO) {
			if (take_zero(x, len, ds, &zero))
				return verdict(x, 0, "a bad ZERO from the source");
		} else if (type == LMIG_MSG_DATA) {
			if (take_data(x, len, ds, &copied))
				return verdict(x, 0, "a bad DATA from the source (%d bytes)", len);
		} else if (type == LMIG_MSG_ROUND_DONE && len == sizeof(*r) &&
			   le64toh(r->round) == rounds &&
			   (!x->copy || le64toh(r->data_pages) == copied)) {
			copied = 0;
			data += le64toh(r->data_pages);
			rounds++;
			memcpy(x->msg, r, sizeof(*r));
			link_send(&x->l, LMIG_MSG_ROUND_ACK, x->msg, sizeof(*r));
		} else if (type == LMIG_MSG_BLOB && len >= (int)sizeof(*b) &&
			   le32toh(b->offset) == blob) {
			blob += len - sizeof(*b);
		} else if (type == LMIG_MSG_FINAL && len == sizeof(*f)) {
			break;
		} else {
			return verdict(x, 0, "unexpected %s (%d bytes) after %llu rounds",
				       msg_name(type), len, (unsigned long long)rounds);
		}
	}

	{
		const struct lmig_msg_final *f = (const void *)x->rx;
		int match = le64toh(f->rounds) == rounds && le64toh(f->data_pages) == data &&
			    le64toh(f->zero_pages) == zero && le32toh(f->blob_len) == blob;
		char *p = digests;

		for (i = 0; i < x->nslots; i++) {
			char hex[33];

			memory_digest(ds[i].mem, ds[i].npages * PAGE, hex);
			p += sprintf(p, "%s%s", i ? "," : "", hex);
		}
		if (c == D_DROP_ACK) {
			link_close(&x->l);
			return verdict(x, 1, "FINAL (%s: %llu rounds, %llu data and %llu zero pages, %llu-byte blob) arrived; dropped the connection without ACK; digests %s",
				       match ? "matches" : "DIFFERS", (unsigned long long)rounds,
				       (unsigned long long)data, (unsigned long long)zero,
				       (unsigned long long)blob, digests);
		}
		if (!match)
			return verdict(x, 0, "FINAL (%llu rounds, %llu data, %llu zero, blob %u) differs from what came (%llu, %llu, %llu, %llu)",
				       (unsigned long long)le64toh(f->rounds),
				       (unsigned long long)le64toh(f->data_pages),
				       (unsigned long long)le64toh(f->zero_pages), le32toh(f->blob_len),
				       (unsigned long long)rounds, (unsigned long long)data,
				       (unsigned long long)zero, (unsigned long long)blob);
	}
	link_send(&x->l, LMIG_MSG_ACK, x->msg, sizeof(struct lmig_msg_hdr));
	wait_hangup(x, 30000, what, sizeof(what));
	if (slow)
		fprintf(stderr, "rogue-peer: %lld GRANTs of %d pages, %d ms apart, each delivered\n",
			(long long)slow, SLOW_PAGES, SLOW_MS);
	return verdict(x, 1, "FINAL matched (%llu rounds, %llu data and %llu zero pages, %llu-byte blob); ACK sent; then %s; digests %s",
		       (unsigned long long)rounds, (unsigned long long)data,
		       (unsigned long long)zero, (unsigned long long)blob, what, digests);
}

/*
 * RFC 4231 test cases 1 and 2, and one AUTH computed apart (Python's hmac
 * over b"lmig auth v1\0" + nonce + HELLO[16:]) to pin down auth.c's input.
 */
static int selftest(void)
{
	static const uint8_t want_auth[32] = {
		0x43, 0x98, 0x0a, 0x65, 0x5d, 0x89, 0xfe, 0x45, 0x23, 0x6e, 0x0d, 0x4f,
		0x44, 0xd9, 0xe3, 0x89, 0xdd, 0x76, 0xf4, 0x5b, 0xbb, 0xc0, 0x4e, 0x22,
		0x97, 0x92, 0x87, 0xf9, 0x6c, 0x77, 0x9e, 0xc0 };
	static const uint8_t want1[32] = {
		0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce,
		0xaf, 0x0b, 0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83, 0x3d, 0xa7,
		0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7 };
	static const uint8_t want2[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24, 0x26,
		0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
		0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43 };
	uint8_t key[20], out[32], token[32], nonce[32], hello[80];
	const void *p1[] = { "Hi There" }, *p2[] = { "what do ya ", "want for nothing?" };
	const size_t l1[] = { 8 }, l2[] = { 11, 17 };
	int ok, i;

	memset(key, 0x0b, sizeof(key));
	hmac_sha256(key, sizeof(key), p1, l1, 1, out);
	ok = !memcmp(out, want1, 32);
	hmac_sha256((const uint8_t *)"Jefe", 4, p2, l2, 2, out);
	ok = ok && !memcmp(out, want2, 32);
	for (i = 0; i < 32; i++) {
		token[i] = i * 7 + 1;
		nonce[i] = 255 - i;
	}
	for (i = 0; i < 80; i++)
		hello[i] = i * 3;
	auth_mac(token, nonce, hello, sizeof(hello), out);
	ok = ok && !memcmp(out, want_auth, 32);
	printf("selftest: %s: HMAC-SHA256 of RFC 4231 cases 1 and 2, and an AUTH\n",
	       ok ? "ok" : "FAIL");
	return !ok;
}

static const struct {
	const char *name;
	int (*run)(struct ctx *x);
	int slots;	/* needs the destination's real layout */
	const char *what;
} source_cases[] = {
	{ "bad-magic", bad_hello, 0, "HELLO with a byte-swapped magic" },
	{ "bad-version", bad_hello, 0, "HELLO of the next major version" },
	{ "truncated", bad_hello, 0, "HELLO whose slot count names one slot more than it has" },
	{ "oversized", bad_hello, 0, "HELLO whose header length is 8 bytes more than arrives" },
	{ "reserved", bad_hello, 0, "HELLO with a non-zero reserved header field" },
	{ "runt", bad_hello, 0, "8 bytes: half a header" },
	{ "overlong", bad_hello, 0, "a SEND of LMIG_MSG_MAX + 8 bytes" },
	{ "out-of-order", out_of_order, 0, "AUTH before HELLO; ROUND_DONE instead of AUTH" },
	{ "wrong-hmac", wrong_hmac, 0, "AUTH made with another token" },
	{ "replay", replay, 0, "one connection's AUTH offered on the next" },
	{ "zero-out-of-bounds", zero_out_of_bounds, 1, "authenticated: ZERO past a slot's end" },
	{ "write-ungranted", write_ungranted, 1, "authenticated: RDMA WRITE across a grant's end" },
	{ "data-out-of-bounds", data_out_of_bounds, 1, "authenticated: DATA past a slot's end" },
	{ "final-mismatch", final_mismatch, 1, "authenticated: FINAL counting a page never sent" },
	{ "flood", flood, 1, "NOPs without HELLO; then thousands of messages, authenticated" },
	{ "joins", joins, 1, "data QPs joining before AUTH, with wrong MACs and indexes, twice" },
	{ "joined-lie", joined_lie, 1, "authenticated: JOINED naming a data QP that never joined" },
	{ "deaf", deaf, 1, "authenticated, sending NOPs, but posting no receive after the CHALLENGE" },
};

static const char *const dest_cases[] = {
	[D_ACK] = "ack", [D_DROP_ACK] = "drop-ack", [D_SILENT] = "silent",
	[D_BAD_GRANT] = "bad-grant", [D_GRANT_BEYOND] = "grant-beyond",
	[D_GRANT_SHORT] = "grant-short", [D_BAD_PLACEMENT] = "bad-placement",
	[D_ERROR_TEXT] = "error-text", [D_SLOW_GRANTS] = "slow-grants",
};

static int usage(void)
{
	size_t i;

	fprintf(stderr,
		"usage: rogue-peer source --to ADDR:PORT --token HEX [--slots LIST] [--wait S] [--count N] CASE\n"
		"       rogue-peer dest --listen ADDR:PORT --token HEX [--slots LIST] [--wait S] [--copy] CASE\n"
		"       rogue-peer selftest\n"
		"LIST: the destination VM's memslots, as:gfn:npages,... (numbers may be 0x...)\n"
		"source cases:\n");
	for (i = 0; i < sizeof(source_cases) / sizeof(source_cases[0]); i++)
		fprintf(stderr, "  %-20s %s\n", source_cases[i].name, source_cases[i].what);
	fprintf(stderr, "dest cases (--copy: pages by DATA, no grants):");
	for (i = 0; i < sizeof(dest_cases) / sizeof(dest_cases[0]); i++)
		fprintf(stderr, "%s %s", i ? "," : "", dest_cases[i]);
	fprintf(stderr, "\n");
	return 2;
}

static int bad_arg(const char *what, const char *arg)
{
	fprintf(stderr, "rogue-peer: %s: '%s'\n", what, arg);
	return 2;
}

static int parse_token(const char *s, uint8_t *token)
{
	int i;

	if (strlen(s) != 2 * LMIG_TOKEN_LEN)
		return -1;
	for (i = 0; i < LMIG_TOKEN_LEN; i++)
		if (sscanf(s + 2 * i, "%2hhx", &token[i]) != 1)
			return -1;
	return 0;
}

static int parse_slots(const char *s, struct ctx *x)
{
	char *end;

	for (x->nslots = 0; *s; x->nslots++) {
		struct memslot *sl = &x->slots[x->nslots];

		if (x->nslots == LMIG_MAX_SLOTS)
			return -1;
		sl->as_id = strtoul(s, &end, 0);
		if (*end != ':')
			return -1;
		sl->base_gfn = strtoull(end + 1, &end, 0);
		if (*end != ':')
			return -1;
		sl->npages = strtoull(end + 1, &end, 0);
		if (!sl->npages || (*end && *end != ','))
			return -1;
		s = *end ? end + 1 : end;
	}
	return x->nslots ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "token", required_argument, NULL, 'k' },
		{ "slots", required_argument, NULL, 's' },
		{ "wait", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{ "copy", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ctx x;
	const char *addr = NULL, *role = argc > 1 ? argv[1] : "";
	int source = !strcmp(role, "source"), o, have_token = 0;
	size_t i;

	if (!strcmp(role, "selftest"))
		return selftest();
	if (!source && strcmp(role, "dest"))
		return usage();
	x.wait_ms = source ? 20000 : 300000;
	x.count = 4000;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
		case 'l':
			if ((o == 't') != source)
				return usage();
			addr = optarg;
			break;
		case 'k':
			if (parse_token(optarg, x.token))
				return bad_arg("the token is 64 hex digits", optarg);
			have_token = 1;
			break;
		case 's':
			if (parse_slots(optarg, &x))
				return bad_arg("--slots wants as:gfn:npages,...", optarg);
			x.have_slots = 1;
			break;
		case 'w':
			x.wait_ms = atoi(optarg) * 1000;
			break;
		case 'c':
			x.count = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			if (source)
				return usage();
			x.copy = 1;
			break;
		default:
			return usage();
		}
	}
	if (!addr || !have_token || optind != argc - 1 || x.wait_ms <= 0)
		return usage();
	if (parse_addr(addr, &x.addr))
		return bad_arg("cannot resolve ADDR:PORT", addr);
	x.name = argv[optind];
	if (!source) {
		for (i = 0; i < sizeof(dest_cases) / sizeof(dest_cases[0]); i++)
			if (!strcmp(x.name, dest_cases[i]))
				return dest(&x, i);
		return usage();
	}
	for (i = 0; i < sizeof(source_cases) / sizeof(source_cases[0]); i++) {
		if (strcmp(x.name, source_cases[i].name))
			continue;
		if (source_cases[i].slots && !x.have_slots)
			return bad_arg("this case needs --slots, the destination's layout", x.name);
		/* Before the layout matters, any well-formed one will do. */
		if (!x.have_slots)
			parse_slots("0:0:512", &x);
		return source_cases[i].run(&x);
	}
	return usage();
}
