/* ipserve PORT TEXT: a tiny TCP server for the public address tests. It listens on every
 * address (IPv6 socket, dual stack), writes TEXT and a newline to each client at once and
 * keeps the connection open until the client closes it (so a test can hold a long-lived
 * connection), never blocking on one client. Runs until killed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXFD 256

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ipserve PORT TEXT\n");
		return 100;
	}
	int port = atoi(argv[1]);
	int ls = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int zero = 0, one = 1;
	setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* listen on addresses that arrive later */
	setsockopt(ls, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
		                   .sin6_addr = in6addr_any };
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 64) < 0) {
		fprintf(stderr, "ipserve: fatal: unable to listen on port %d: %s\n", port, strerror(errno));
		return 111;
	}
	char msg[256];
	int mlen = snprintf(msg, sizeof msg, "%s\n", argv[2]);
	struct pollfd p[MAXFD];
	int n = 1;
	p[0] = (struct pollfd){ .fd = ls, .events = POLLIN };
	for (;;) {
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 111;
		}
		for (int i = n - 1; i >= 1; i--) {
			if (!p[i].revents)
				continue;
			char buf[512];
			ssize_t r = read(p[i].fd, buf, sizeof buf);
			if (r <= 0) {
				close(p[i].fd);
				p[i] = p[--n];
			}
		}
		if (p[0].revents & POLLIN) {
			int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				continue;
			if (write(c, msg, (size_t)mlen) < 0 || n == MAXFD) {
				close(c);
				continue;
			}
			p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
	}
}
