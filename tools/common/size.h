/* SPDX-License-Identifier: GPL-2.0 */
#ifndef LMIG_SIZE_H
#define LMIG_SIZE_H

#include <stdint.h>

/*
 * "512", "16M", "8G", "1T": bytes, with binary suffixes (K, M, G, T, each
 * optionally followed by "i", "iB" or "B"). Returns 0, or -1 if s is not one.
 */
int parse_size(const char *s, uint64_t *out);

#endif
