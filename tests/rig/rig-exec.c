// SPDX-License-Identifier: GPL-2.0
/*
 * rig-exec: run a shell command on the other emulated host.
 *
 *   rig-exec serve PORT           on the peer host, forever
 *   rig-exec run HOST PORT CMD    prints CMD's output, exits with its status
 *
 * Tests run on host A and reach host B through this, so that a two-host
 * test reads as one story ("on_peer lmctl listen ..."). It carries no
 * authentication: it only ever listens on the rig's private virtual link
 * between two throw-away emulated hosts.
 *
 * Wire format: the client sends a 4-byte big-endian length and the command.
 * The server answers with frames of one type byte, a 4-byte big-endian
 * length and data: 'o' output (stdout and stderr interleaved), then one
 * 'x' frame whose data is the exit status as a decimal string.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"

#define MAX_CMD (1 << 20)

static int send_frame(int fd, char type, const void *data, uint32_t len)
{
	unsigned char hdr[5];
	uint32_t be = htonl(len);

	hdr[0] = type;
	memcpy(hdr + 1, &be, 4);
	if (io_write_all(fd, hdr, sizeof(hdr)))
		return -1;
	return io_write_all(fd, data, len);
}

/*
 * Run one command with its output going to the connection. The shell may
 * leave background children holding the pipe open, so the end of the
 * command is the shell's exit, not the pipe's EOF.
 */
static void serve_one(int conn)
{
	uint32_t len;
	char *cmd, buf[65536], status[16];
	int pipefd[2], wstatus = 0, exited = 0;
	pid_t pid;

	if (io_read_all(conn, &len, 4))
		return;
	len = ntohl(len);
	if (len > MAX_CMD)
		return;
	cmd = calloc(1, len + 1);
	if (!cmd || io_read_all(conn, cmd, len))
		goto out;
	if (pipe2(pipefd, O_CLOEXEC))
		goto out;

	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		setsid();
		execl("/bin/bash", "bash", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		goto out;
	}

	for (;;) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		int r = poll(&pfd, 1, exited ? 0 : 100);

		if (r > 0) {
			ssize_t n = read(pipefd[0], buf, sizeof(buf));

			if (n > 0) {
				if (send_frame(conn, 'o', buf, n))
					break;
				continue;
			}
			if (n == 0 && !exited) {
				waitpid(pid, &wstatus, 0);
				exited = 1;
			}
			break;
		}
		if (exited)
			break;
		if (waitpid(pid, &wstatus, WNOHANG) == pid)
			exited = 1;
	}
	if (!exited)
		waitpid(pid, &wstatus, 0);
	close(pipefd[0]);

	snprintf(status, sizeof(status), "%d",
		 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) :
				      128 + WTERMSIG(wstatus));
	send_frame(conn, 'x', status, strlen(status));
out:
	free(cmd);
}

static int serve(const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1, fd;

	sin.sin_port = htons(atoi(port));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 16)) {
		perror("rig-exec: listen");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);

	/* One child per connection, so a long command never blocks another. */
	for (;;) {
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		if (conn < 0)
			continue;
		if (fork() == 0) {
			close(fd);
			serve_one(conn);
			_exit(0);
		}
		close(conn);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	int fd, one = 1;

	if (getaddrinfo(host, port, &hints, &ai)) {
		fprintf(stderr, "rig-exec: cannot resolve %s\n", host);
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int run(const char *host, const char *port, int argc, char **argv)
{
	size_t len = 0;
	char *cmd, buf[65536];
	uint32_t be;
	int fd, i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	cmd = calloc(1, len + 1);
	if (!cmd)
		return 125;
	for (i = 0; i < argc; i++) {
		strcat(cmd, argv[i]);
		if (i + 1 < argc)
			strcat(cmd, " ");
	}

	fd = connect_to(host, port);
	if (fd < 0) {
		fprintf(stderr, "rig-exec: cannot reach %s:%s: %s\n", host, port,
			strerror(errno));
		return 125;
	}
	len = strlen(cmd);
	be = htonl(len);
	if (io_write_all(fd, &be, 4) || io_write_all(fd, cmd, len))
		return 125;

	for (;;) {
		unsigned char hdr[5];
		uint32_t flen;

		if (io_read_all(fd, hdr, 5)) {
			fprintf(stderr, "rig-exec: connection to %s lost\n", host);
			return 125;
		}
		memcpy(&be, hdr + 1, 4);
		flen = ntohl(be);
		if (flen >= sizeof(buf) || io_read_all(fd, buf, flen))
			return 125;
		if (hdr[0] == 'x') {
			buf[flen] = '\0';
			return atoi(buf);
		}
		if (io_write_all(1, buf, flen))
			return 125;
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "serve"))
		return serve(argv[2]);
	if (argc >= 5 && !strcmp(argv[1], "run"))
		return run(argv[2], argv[3], argc - 4, argv + 4);
	fprintf(stderr, "usage: rig-exec serve PORT\n"
			"       rig-exec run HOST PORT COMMAND...\n");
	return 2;
}
