/* SPDX-License-Identifier: GPL-2.0 */
/* Whole reads and writes on file descriptors and sockets. */
#ifndef LMIG_IO_H
#define LMIG_IO_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * Writes all of buf. On a socket, a peer that went away is an error
 * return (EPIPE), not a SIGPIPE.
 */
static inline int io_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* Reads exactly len bytes; -1 on error or end of file. */
static inline int io_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

#endif
