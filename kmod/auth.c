// SPDX-License-Identifier: GPL-2.0
/*
 * The source proves it knows the destination session's token without
 * sending it: HMAC-SHA256 keyed with the token over a context string, the
 * destination's fresh nonce and the HELLO the source sent. The nonce makes
 * a recorded proof useless for any other connection; the HELLO binds the
 * proof to the layout that will be checked. The HELLO is taken without its
 * header, which the transport fills in as it sends.
 *
 * A data QP the source joins later (wire 1.4) proves the token the same
 * way, over another context, the same nonce and its index.
 */
#include <crypto/hash.h>
#include <crypto/algapi.h>
#include <linux/err.h>

#include "lmig.h"
#include "proto.h"

static const char auth_context[] = "lmig auth v1";
/* A data QP's join: its own context, so that no AUTH proof serves as one. */
static const char join_context[] = "lmig join v1";

/* HMAC-SHA256(token, context || nonce || data), into mac. */
static int token_hmac(const u8 *token, const char *context, size_t context_len,
		      const u8 *nonce, const void *data, u32 len, u8 *mac)
{
	struct crypto_shash *tfm;
	int ret;

	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	ret = crypto_shash_setkey(tfm, token, LMIG_TOKEN_LEN);
	if (!ret) {
		SHASH_DESC_ON_STACK(desc, tfm);

		desc->tfm = tfm;
		ret = crypto_shash_init(desc);
		if (!ret)
			ret = crypto_shash_update(desc, context, context_len);
		if (!ret)
			ret = crypto_shash_update(desc, nonce, LMIG_NONCE_LEN);
		if (!ret)
			ret = crypto_shash_update(desc, data, len);
		if (!ret)
			ret = crypto_shash_final(desc, mac);
		shash_desc_zero(desc);
	}
	crypto_free_shash(tfm);
	return ret;
}

int lmig_auth_mac(const u8 *token, const u8 *nonce, const void *hello, u32 hello_len,
		  u8 *mac)
{
	return token_hmac(token, auth_context, sizeof(auth_context), nonce,
		    hello + sizeof(struct lmig_msg_hdr),
		    hello_len - sizeof(struct lmig_msg_hdr), mac);
}

/* The proof for data QP index: the same nonce, the index little endian. */
int lmig_join_mac(const u8 *token, const u8 *nonce, u16 index, u8 *mac)
{
	__le16 i = cpu_to_le16(index);

	return token_hmac(token, join_context, sizeof(join_context), nonce, &i, sizeof(i), mac);
}

/* Constant time, so that a wrong guess learns nothing from the timing. */
bool lmig_auth_equal(const u8 *a, const u8 *b)
{
	return !crypto_memneq(a, b, LMIG_MAC_LEN);
}
