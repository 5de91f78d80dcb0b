/* tickfloor: the floor under memberd's idle cost, for tests/bench/idle.sh.
 *
 *   tickfloor [--nodes N] [--interval-ms MS] [--size B]
 *
 * Forks N processes (default 3), each a "node" with a loopback TCP connection to every
 * other, that do only what a heartbeat tick must: wake once per interval (default 180 ms,
 * memberd's default) at a fixed phase, read what the peers sent, and send B bytes (default
 * 172, a heartbeat's frame) to each peer. No CBOR, no MAC, no lease, no housekeeping. Node
 * 0 ticks on the interval's boundaries, the others a quarter of an interval later, as
 * memberd's do; like memberd's links, the sockets are read only at the tick, so an arrival
 * never wakes a node.
 *
 * Prints the pid of every node, one a line, then "ready", and runs until SIGTERM or
 * SIGINT, when it stops its nodes and exits 0. Sampled in the same run as a shoal node,
 * it tells memberd's own cost from the host's: on a virtual machine what a wake-up and a
 * cold system call cost changes with the hour, and it changes for both alike. Exit 100 on
 * bad usage, 111 on system errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODES_MAX 16

static void die(const char *what)
{
	fprintf(stderr, "tickfloor: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void usage(void)
{
	fprintf(stderr, "usage: tickfloor [--nodes N] [--interval-ms MS] [--size B]\n"
	                "  N processes (2-%d, default 3) that each wake once per interval (default 180 ms),\n"
	                "  read their loopback TCP peers and send B bytes (default 172) to each; prints\n"
	                "  their pids, then \"ready\"; runs until SIGTERM\n",
	        NODES_MAX);
	exit(100);
}

static long arg_num(const char *name, const char *v, long lo, long hi)
{
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < lo || n > hi) {
		fprintf(stderr, "tickfloor: %s: expected %ld to %ld, got \"%s\"\n", name, lo, hi, v);
		exit(100);
	}
	return n;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A connected pair of loopback TCP sockets: *a connects, *b is accepted. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (l < 0 || bind(l, (struct sockaddr *)&sa, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		die("listen on 127.0.0.1");
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, len) < 0)
		die("connect");
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0)
		die("accept");
	close(l);
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void node_run(int self, int n, const int *fd, double interval, size_t size)
{
	char buf[65536];
	memset(buf, 0xa5, sizeof buf);
	int ep = epoll_create1(EPOLL_CLOEXEC); /* empty: the sleep of an event loop */
	if (ep < 0)
		die("epoll_create1");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	double phase = self == 0 ? 0 : interval / 4;
	for (;;) {
		double now = mono();
		double next = ((long long)((now - phase) / interval) + 1) * interval + phase;
		struct epoll_event ev;
		int ms = (int)((next - now) * 1000) + 1;
		if (epoll_wait(ep, &ev, 1, ms) < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			if (i == self)
				continue;
			while (recv(fd[i], buf, sizeof buf, MSG_DONTWAIT) > 0)
				;
			if (send(fd[i], buf, size, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
				die("send");
		}
	}
}

static volatile sig_atomic_t stop;
static void on_stop(int sig) { stop = 1; }

int main(int argc, char **argv)
{
	int n = 3;
	long interval_ms = 180, size = 172;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 || i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--nodes") == 0)
			n = (int)arg_num("--nodes", argv[++i], 2, NODES_MAX);
		else if (strcmp(argv[i], "--interval-ms") == 0)
			interval_ms = arg_num("--interval-ms", argv[++i], 10, 60000);
		else if (strcmp(argv[i], "--size") == 0)
			size = arg_num("--size", argv[++i], 1, 65536);
		else
			usage();
	}
	/* fd[i][j]: node i's end of its connection to node j */
	int fd[NODES_MAX][NODES_MAX];
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			tcp_pair(&fd[i][j], &fd[j][i]);
	/* Blocked until sigsuspend, so a SIGTERM cannot slip in before the wait. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pid_t pid[NODES_MAX];
	for (int i = 0; i < n; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			die("fork");
		if (pid[i] == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &old, NULL);
			node_run(i, n, fd[i], interval_ms / 1000.0, (size_t)size);
		}
		printf("%d\n", (int)pid[i]);
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop)
		sigsuspend(&old);
	for (int i = 0; i < n; i++)
		kill(pid[i], SIGTERM);
	for (int i = 0; i < n; i++)
		waitpid(pid[i], NULL, 0);
	return 0;
}
