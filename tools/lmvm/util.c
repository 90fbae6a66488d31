// SPDX-License-Identifier: GPL-2.0
/* Base64 and the memory digest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmvm.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const uint8_t *data, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];

		*p++ = b64[v >> 18];
		*p++ = b64[(v >> 12) & 63];
		*p++ = b64[(v >> 6) & 63];
		*p++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = data[i] << 16 | (i + 1 < len ? data[i + 1] << 8 : 0);

		*p++ = b64[v >> 18];
		*p++ = b64[(v >> 12) & 63];
		*p++ = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

uint8_t *base64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	uint8_t *out;
	uint32_t acc = 0;
	int bits = 0;

	out = malloc(n / 4 * 3 + 3);
	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *c = strchr(b64, s[i]);

		if (s[i] == '=')
			break;
		if (!c || !s[i]) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = acc >> bits;
		}
	}
	*len = o;
	return out;
}

/*
 * A fast 128-bit digest of guest memory: four multiply-rotate lanes over
 * 64-bit words. It finds any accidental difference, which is all a test
 * needs; it is not a defence against someone crafting collisions.
 */
static inline uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

#define P1 0x9e3779b185ebca87ull
#define P2 0xc2b2ae3d27d4eb4full

void memory_digest(const uint8_t *p, uint64_t len, char hex[33])
{
	uint64_t lane[4] = { P1, P2, ~P1, ~P2 }, i, a, b;
	const uint64_t *w = (const uint64_t *)p;

	for (i = 0; i + 4 <= len / 8; i += 4) {
		lane[0] = rotl(lane[0] + w[i] * P2, 31) * P1;
		lane[1] = rotl(lane[1] + w[i + 1] * P2, 31) * P1;
		lane[2] = rotl(lane[2] + w[i + 2] * P2, 31) * P1;
		lane[3] = rotl(lane[3] + w[i + 3] * P2, 31) * P1;
	}
	a = rotl(lane[0], 1) + rotl(lane[1], 7) + len;
	b = rotl(lane[2], 12) + rotl(lane[3], 18);
	a ^= a >> 33;
	a *= P1;
	a ^= a >> 29;
	b ^= b >> 33;
	b *= P2;
	b ^= b >> 29;
	snprintf(hex, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}
