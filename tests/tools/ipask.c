/* ipask [-t MS] PORT ADDR...: asks the ipserve behind each address, all at once, for its
 * line. Prints "ADDR LINE" for each address in the order given ("ADDR -" for one that did
 * not answer within MS milliseconds, default 1000), and exits 0 when every address
 * answered, 1 when not. One process per check instead of a shell, a timeout and a /dev/tcp
 * connect per address: the public address tests poll this many times a second. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXADDR 64

struct ask {
	const char *addr;
	int fd;
	char line[128];
	size_t len;
	int done; /* 1 answered, -1 failed */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int start(struct ask *a, int port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, a->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, a->addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof *s6;
	} else {
		fprintf(stderr, "ipask: not an address: %s\n", a->addr);
		return -1;
	}
	a->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		return -1;
	if (connect(a->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		return -1;
	return 0;
}

/* Reads what is there; done once a whole line arrived, failed on EOF or error before it. */
static void pull(struct ask *a)
{
	for (;;) {
		ssize_t r = read(a->fd, a->line + a->len, sizeof a->line - 1 - a->len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (r <= 0) {
			a->done = -1;
			return;
		}
		a->len += (size_t)r;
		char *nl = memchr(a->line, '\n', a->len);
		if (nl || a->len == sizeof a->line - 1) {
			if (nl)
				*nl = '\0';
			a->line[a->len] = '\0';
			a->done = 1;
			return;
		}
	}
}

int main(int argc, char **argv)
{
	int timeout_ms = 1000, opt;
	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't' || (timeout_ms = atoi(optarg)) <= 0) {
			fprintf(stderr, "usage: ipask [-t MS] PORT ADDR...\n");
			return 100;
		}
	}
	int n = argc - optind - 1;
	if (n < 1 || n > MAXADDR) {
		fprintf(stderr, "usage: ipask [-t MS] PORT ADDR... (1 to %d addresses)\n", MAXADDR);
		return 100;
	}
	int port = atoi(argv[optind]);
	struct ask a[MAXADDR];
	for (int i = 0; i < n; i++) {
		a[i] = (struct ask){ .addr = argv[optind + 1 + i], .fd = -1 };
		if (start(&a[i], port) < 0)
			a[i].done = -1;
	}
	long long end = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd p[MAXADDR];
		int idx[MAXADDR], np = 0;
		for (int i = 0; i < n; i++) {
			if (a[i].done)
				continue;
			p[np] = (struct pollfd){ .fd = a[i].fd, .events = POLLIN };
			idx[np++] = i;
		}
		long long left = end - now_ms();
		if (np == 0 || left <= 0)
			break;
		if (poll(p, (nfds_t)np, (int)left) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < np; k++)
			if (p[k].revents)
				pull(&a[idx[k]]);
	}
	int all = 1;
	for (int i = 0; i < n; i++) {
		if (a[i].done == 1) {
			printf("%s %s\n", a[i].addr, a[i].line);
		} else {
			printf("%s -\n", a[i].addr);
			all = 0;
		}
		if (a[i].fd >= 0)
			close(a[i].fd);
	}
	return all ? 0 : 1;
}
