// SPDX-License-Identifier: GPL-2.0
/* Endpoints and lmig:// URIs: parsing what the operator wrote, printing ours. */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "uri.h"

#define SCHEME "lmig://"

static int parse_port(const char *s, __u16 *port)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* host "" is the family's any address. */
static int resolve(const char *host, int v6, struct lmig_endpoint *ep, char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = v6 ? AF_INET6 : AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *res, *ai;
	int rc;

	ep->family = v6 ? AF_INET6 : AF_INET;
	ep->scope_id = 0;
	memset(ep->addr, 0, sizeof(ep->addr));
	if (!*host)
		return 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ai->ai_addr;

			ep->family = AF_INET;
			memcpy(ep->addr, &sin->sin_addr, 4);
			break;
		}
		if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const void *)ai->ai_addr;

			ep->family = AF_INET6;
			ep->scope_id = sin6->sin6_scope_id;
			memcpy(ep->addr, &sin6->sin6_addr, 16);
			break;
		}
	}
	freeaddrinfo(res);
	if (!ai) {
		snprintf(err, errlen, "'%s' has no IPv4 or IPv6 address", host);
		return -1;
	}
	return 0;
}

int endpoint_parse(const char *s, struct lmig_endpoint *ep, int *port_given,
		   char *err, size_t errlen)
{
	const char *port = NULL, *colon;
	char host[256];
	size_t n;
	int v6 = 0;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || (close[1] && close[1] != ':')) {
			snprintf(err, errlen, "'%s': an IPv6 address is written [ADDR] or [ADDR]:PORT", s);
			return -1;
		}
		n = close - s - 1;
		if (close[1])
			port = close + 2;
		s++;
		v6 = 1;
	} else {
		colon = strchr(s, ':');
		n = strlen(s);
		/* Two colons or more: a bare IPv6 address, which has no port. */
		if (colon && !strchr(colon + 1, ':')) {
			n = colon - s;
			port = colon + 1;
		}
	}
	if (n >= sizeof(host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';

	ep->port = LMIG_DEFAULT_PORT;
	*port_given = port != NULL;
	if (port && parse_port(port, &ep->port)) {
		snprintf(err, errlen, "'%s' is not a port: expected 1 to 65535", port);
		return -1;
	}
	return resolve(host, v6, ep, err, errlen);
}

void endpoint_format(const struct lmig_endpoint *ep, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?", ifname[IF_NAMESIZE];

	inet_ntop(ep->family, ep->addr, addr, sizeof(addr));
	if (ep->family != AF_INET6)
		snprintf(buf, len, "%s:%u", addr, ep->port);
	else if (ep->scope_id && if_indextoname(ep->scope_id, ifname))
		snprintf(buf, len, "[%s%%%s]:%u", addr, ifname, ep->port);
	else if (ep->scope_id)
		snprintf(buf, len, "[%s%%%u]:%u", addr, ep->scope_id, ep->port);
	else
		snprintf(buf, len, "[%s]:%u", addr, ep->port);
}

int endpoint_is_any(const struct lmig_endpoint *ep)
{
	static const __u8 zero[16];

	return !memcmp(ep->addr, zero, ep->family == AF_INET6 ? 16 : 4);
}

int endpoint_from_host(struct lmig_endpoint *ep, char *err, size_t errlen)
{
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs)) {
		snprintf(err, errlen, "cannot list this host's addresses: %m");
		return -1;
	}
	for (i = ifs; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		ep->family = AF_INET;
		ep->scope_id = 0;
		memset(ep->addr, 0, sizeof(ep->addr));
		memcpy(ep->addr, &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr, 4);
		break;
	}
	freeifaddrs(ifs);
	if (!i) {
		snprintf(err, errlen, "this host has no IPv4 address to put in the URI: name the address the source should connect to with --bind ADDR");
		return -1;
	}
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int uri_parse(const char *s, struct lmig_endpoint *ep, __u8 token[LMIG_TOKEN_LEN],
	      char *err, size_t errlen)
{
	const char *slash, *t;
	char where[256];
	int port_given, i;
	size_t n;

	slash = strncmp(s, SCHEME, strlen(SCHEME)) ? NULL : strchr(s + strlen(SCHEME), '/');
	if (!slash) {
		snprintf(err, errlen, "'%s' is not an lmig URI: expected lmig://ADDR:PORT/TOKEN, as lmctl listen prints it on the destination", s);
		return -1;
	}
	n = slash - s - strlen(SCHEME);
	if (n >= sizeof(where)) {
		snprintf(err, errlen, "the URI's address is too long");
		return -1;
	}
	memcpy(where, s + strlen(SCHEME), n);
	where[n] = '\0';
	if (!n) {
		snprintf(err, errlen, "'%s' names no address: expected lmig://ADDR:PORT/TOKEN", s);
		return -1;
	}
	if (endpoint_parse(where, ep, &port_given, err, errlen))
		return -1;
	if (endpoint_is_any(ep)) {
		snprintf(err, errlen, "'%s' names no address but 'any': use the destination host's address", where);
		return -1;
	}
	t = slash + 1;
	if (strlen(t) != 2 * LMIG_TOKEN_LEN) {
		snprintf(err, errlen, "the URI's token is %zu characters, not %d: copy the whole URI that lmctl listen printed",
			 strlen(t), 2 * LMIG_TOKEN_LEN);
		return -1;
	}
	for (i = 0; i < LMIG_TOKEN_LEN; i++) {
		int hi = hex_digit(t[2 * i]), lo = hex_digit(t[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			snprintf(err, errlen, "the URI's token is not hexadecimal: copy the whole URI that lmctl listen printed");
			return -1;
		}
		token[i] = hi << 4 | lo;
	}
	return 0;
}

void uri_format(const struct lmig_endpoint *ep, const __u8 token[LMIG_TOKEN_LEN],
		char *buf, size_t len)
{
	char where[ENDPOINT_MAX], hex[2 * LMIG_TOKEN_LEN + 1];
	int i;

	endpoint_format(ep, where, sizeof(where));
	for (i = 0; i < LMIG_TOKEN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", token[i]);
	snprintf(buf, len, SCHEME "%s/%s", where, hex);
}
