/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Addresses as the operator writes them, and the connect string
 * lmig://ADDR:PORT/TOKEN that lmctl listen prints and lmctl start takes.
 */
#ifndef LMCTL_URI_H
#define LMCTL_URI_H

#include <stddef.h>
#include <linux/lmig.h>

/* Long enough for "lmig://[IPv6%ifname]:65535/" and 64 hex digits. */
#define URI_MAX		160
/* Long enough for "[IPv6%ifname]:65535". */
#define ENDPOINT_MAX	80

/*
 * Parses ADDR, ADDR:PORT, [IPv6] or [IPv6]:PORT, where ADDR is a numeric
 * address or a host name; an empty ADDR (":PORT") is any IPv4 address.
 * *port_given says whether a port was written; without one, ep->port is
 * LMIG_DEFAULT_PORT. Returns 0, or -1 with err set.
 */
int endpoint_parse(const char *s, struct lmig_endpoint *ep, int *port_given,
		   char *err, size_t errlen);
/* "192.0.2.1:7471" or "[2001:db8::1]:7471". */
void endpoint_format(const struct lmig_endpoint *ep, char *buf, size_t len);
int endpoint_is_any(const struct lmig_endpoint *ep);
/*
 * Sets ep's address to the host's first non-loopback IPv4 address on an
 * interface that is up, keeping the port. Returns 0, or -1 with err set.
 */
int endpoint_from_host(struct lmig_endpoint *ep, char *err, size_t errlen);

int uri_parse(const char *s, struct lmig_endpoint *ep, __u8 token[LMIG_TOKEN_LEN],
	      char *err, size_t errlen);
void uri_format(const struct lmig_endpoint *ep, const __u8 token[LMIG_TOKEN_LEN],
		char *buf, size_t len);

#endif
