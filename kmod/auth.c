// SPDX-License-Identifier: GPL-2.0
/*
 * The source proves it knows the destination session's token without
 * sending it: HMAC-SHA256 keyed with the token over a context string, the
 * destination's fresh nonce and the HELLO the source sent. The nonce makes
 * a recorded proof useless for any other connection; the HELLO binds the
 * proof to the layout that will be checked. The HELLO is taken without its
 * header, which the transport fills in as it sends.
 */
#include <crypto/hash.h>
#include <crypto/algapi.h>
#include <linux/err.h>

#include "lmig.h"
#include "proto.h"

static const char context[] = "lmig auth v1";

int lmig_auth_mac(const u8 *token, const u8 *nonce, const void *hello, u32 hello_len,
		  u8 *mac)
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
			ret = crypto_shash_update(desc, context, sizeof(context));
		if (!ret)
			ret = crypto_shash_update(desc, nonce, LMIG_NONCE_LEN);
		if (!ret)
			ret = crypto_shash_update(desc, hello + sizeof(struct lmig_msg_hdr),
						  hello_len - sizeof(struct lmig_msg_hdr));
		if (!ret)
			ret = crypto_shash_final(desc, mac);
		shash_desc_zero(desc);
	}
	crypto_free_shash(tfm);
	return ret;
}

/* Constant time, so that a wrong guess learns nothing from the timing. */
bool lmig_auth_equal(const u8 *a, const u8 *b)
{
	return !crypto_memneq(a, b, LMIG_MAC_LEN);
}
