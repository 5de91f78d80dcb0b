/* nsaddrs LABEL=NETNS...: prints "LABEL ADDRESS" for every IPv4 and IPv6 address on any
 * interface of each network namespace (a name under /run/netns, or a path), addresses in
 * inet_ntop's canonical form, without prefix. One process for what took an `ip -n` per
 * node: the public address tests poll it many times a second. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int list(const char *label, const char *ns)
{
	char path[256];
	if (strchr(ns, '/'))
		snprintf(path, sizeof path, "%s", ns);
	else
		snprintf(path, sizeof path, "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "nsaddrs: unable to enter %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	struct ifaddrs *ifa;
	if (getifaddrs(&ifa) < 0) {
		fprintf(stderr, "nsaddrs: unable to list the addresses in %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		char a[INET6_ADDRSTRLEN];
		const struct sockaddr *sa = i->ifa_addr;
		if (!sa)
			continue;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, a, sizeof a);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, a, sizeof a);
		else
			continue;
		printf("%s %s\n", label, a);
	}
	freeifaddrs(ifa);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: nsaddrs LABEL=NETNS...\n");
		return 100;
	}
	int rc = 0;
	for (int k = 1; k < argc; k++) {
		char *eq = strchr(argv[k], '=');
		if (!eq || eq == argv[k] || !eq[1]) {
			fprintf(stderr, "nsaddrs: expected LABEL=NETNS, got '%s'\n", argv[k]);
			return 100;
		}
		*eq = '\0';
		if (list(argv[k], eq + 1) < 0)
			rc = 111;
	}
	return rc;
}
