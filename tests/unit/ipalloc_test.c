/* Unit tests of lib/ipalloc: canonical addresses and their order, LCP2's distance, small
 * allocations checked against CTDB's cases and hand computations, input errors, logging.
 * Prints a line per failure; exits 1 if any. */
#include "ipalloc/ipalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"

static struct ipalloc_addr A(const char *s)
{
	struct ipalloc_addr a;
	if (ipalloc_addr_parse(&a, s) < 0) {
		fprintf(stderr, "bad test address %s\n", s);
		exit(2);
	}
	return a;
}

static void test_addr(void)
{
	struct ipalloc_addr a, b;
	char buf[IPALLOC_ADDRSTRLEN];

	CHECK(ipalloc_addr_parse(&a, "192.168.20.253") == 0 && a.family == AF_INET &&
	      a.key[0] == 0 && a.key[1] == 0 && a.key[2] == 0 && a.key[3] == 0xC0A814FD,
	      "IPv4 key");
	CHECK(ipalloc_addr_parse(&a, "2001:DB8:0:0::1") == 0 && a.family == AF_INET6 &&
	      a.key[0] == 0x20010DB8 && a.key[1] == 0 && a.key[2] == 0 && a.key[3] == 1,
	      "IPv6 key");
	CHECK(strcmp(ipalloc_addr_format(&a, buf, sizeof buf), "2001:db8::1") == 0,
	      "canonical IPv6 text: %s", buf);
	b = A("2001:0db8::0001");
	CHECK(ipalloc_addr_cmp(&a, &b) == 0, "the same IPv6 address in two spellings");
	a = A("10.0.0.1");
	CHECK(strcmp(ipalloc_addr_format(&a, buf, sizeof buf), "10.0.0.1") == 0, "IPv4 text");

	const char *bad[] = { "", "10.0.0", "10.0.0.256", "10.0.0.1/24", "fe80::1%eth0", "::g",
		              " 10.0.0.1", "1:2:3:4:5:6:7:8:9", "localhost" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		CHECK(ipalloc_addr_parse(&a, bad[i]) == -1 && errno == EINVAL, "\"%s\" rejected",
		      bad[i]);
	}

	/* Output order: descending key, IPv6 (non-zero upper words) before IPv4; IPv4 x and
	 * IPv6 ::x share a key, and stay distinct (IPv6 first). */
	const char *order[] = { "fd00::2", "fd00::1", "2001:db8::1", "192.168.21.254",
		                "192.168.20.254", "10.0.0.2", "10.0.0.1", "::1", "0.0.0.1" };
	for (size_t i = 0; i + 1 < sizeof order / sizeof order[0]; i++) {
		a = A(order[i]);
		b = A(order[i + 1]);
		CHECK(ipalloc_addr_cmp(&a, &b) < 0 && ipalloc_addr_cmp(&b, &a) > 0, "%s before %s",
		      order[i], order[i + 1]);
	}
}

static void test_distance(void)
{
	static const struct {
		const char *a, *b;
		unsigned d;
	} t[] = {
		/* Section 4.1's table, then the IPv6 quirk (no stop at the first difference). */
		{ "192.168.20.253", "192.168.20.252", 127 },
		{ "192.168.20.253", "192.168.20.254", 126 },
		{ "192.168.20.250", "192.168.20.253", 125 },
		{ "192.168.20.254", "192.168.21.254", 119 },
		{ "10.0.0.31", "10.0.0.34", 122 },
		{ "10.19.99.250", "130.216.30.170", 96 },
		{ "fd00::1", "192.168.1.1", 64 },
		{ "2001:db8::1", "2001:db8:0:1::1", 127 },
		{ "10.0.0.1", "10.0.0.1", 128 },
		{ "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ipalloc_addr a = A(t[i].a), b = A(t[i].b);
		unsigned d1 = ipalloc_distance(&a, &b), d2 = ipalloc_distance(&b, &a);
		CHECK(d1 == t[i].d && d2 == t[i].d, "dist(%s, %s) = %u/%u, want %u", t[i].a, t[i].b,
		      d1, d2, t[i].d);
	}
}

/* A small case: every node knows every address unless known is given. */
struct tcase {
	enum ipalloc_algorithm alg;
	struct ipalloc_tunables tun;
	uint32_t nn;
	uint32_t flags[8];
	const char *addr[16];
	int cur[16];
	const uint8_t *known;
	const uint32_t *home;
	const uint32_t *force;
	uint32_t nforce;
};

static char logbuf[8192];

static void log_cb(void *arg, enum ipalloc_log_level level, const char *msg)
{
	size_t l = strlen(logbuf);
	snprintf(logbuf + l, sizeof logbuf - l, "%s\n", msg);
}

static int run(const struct tcase *c, uint32_t *owner, enum ipalloc_log_level lvl, bool log)
{
	struct ipalloc_addr addrs[16];
	uint32_t cur[16];
	uint8_t known[16 * 8];
	uint32_t na = 0;

	while (na < 16 && c->addr[na]) {
		addrs[na] = A(c->addr[na]);
		cur[na] = c->cur[na] < 0 ? IPALLOC_UNASSIGNED : (uint32_t)c->cur[na];
		na++;
	}
	memset(known, 1, sizeof known);
	struct ipalloc_input in = {
		.algorithm = c->alg, .tunables = c->tun, .num_nodes = c->nn,
		.node_flags = c->flags, .num_addrs = na, .addrs = addrs, .current = cur,
		.known = c->known ? c->known : known, .home = c->home,
		.force_rebalance = c->force, .num_force_rebalance = c->nforce,
		.log = log ? log_cb : NULL, .log_level = lvl,
	};
	logbuf[0] = '\0';
	return ipalloc_run(&in, owner);
}

static void expect(const char *name, const struct tcase *c, const int *want)
{
	uint32_t owner[16];
	int r = run(c, owner, IPALLOC_LOG_ERR, false);

	CHECK(r == 0, "%s: ipalloc_run: %s", name, strerror(errno));
	if (r)
		return;
	for (int i = 0; i < 16 && c->addr[i]; i++) {
		int got = owner[i] == IPALLOC_UNASSIGNED ? -1 : (int)owner[i];
		CHECK(got == want[i], "%s: %s -> %d, want %d", name, c->addr[i], got, want[i]);
	}
}

#define NINE { "192.168.20.249", "192.168.20.250", "192.168.20.251", "192.168.20.252", \
	       "192.168.20.253", "192.168.20.254", "192.168.21.252", "192.168.21.253", \
	       "192.168.21.254" }

static void test_algorithms(void)
{
	/* lcp2.004 (section 4.8): all nine on node 1, three healthy nodes. */
	struct tcase c = { .alg = IPALLOC_LCP2, .nn = 3, .addr = NINE,
		           .cur = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } };
	expect("lcp2.004", &c, (const int[]){ 1, 0, 2, 1, 0, 2, 1, 0, 2 });

	/* The same with the INFO log: CTDB's six move lines. */
	uint32_t owner[16];
	run(&c, owner, IPALLOC_LOG_INFO, true);
	CHECK(strcmp(logbuf, "1 [-121363] -> 192.168.20.253 -> 0 [+0]\n"
	                     "1 [-105738] -> 192.168.20.251 -> 2 [+0]\n"
	                     "1 [-88649] -> 192.168.21.253 -> 0 [+14161]\n"
	                     "1 [-75448] -> 192.168.20.254 -> 2 [+15625]\n"
	                     "1 [-59823] -> 192.168.20.250 -> 0 [+29786]\n"
	                     "1 [-44198] -> 192.168.21.254 -> 2 [+28322]\n") == 0,
	      "lcp2.004 log:\n%s", logbuf);

	/* NoIPFailback: nothing is unassigned, so nothing moves. */
	c.tun.no_ip_failback = true;
	expect("lcp2 no failback", &c, (const int[]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 });
	c.tun.no_ip_failback = false;

	/* lcp2.001: 3 -> 1 healthy. */
	struct tcase c1 = { .alg = IPALLOC_LCP2, .nn = 3, .flags = { 2, 2, 0 }, .addr = NINE,
		            .cur = { 0, 1, 2, 0, 1, 2, 0, 1, 2 } };
	expect("lcp2.001", &c1, (const int[]){ 2, 2, 2, 2, 2, 2, 2, 2, 2 });

	/* det.002 (section 5): flags 0,2,0. Input in ascending order; list order is reverse. */
	struct tcase d = { .alg = IPALLOC_DETERMINISTIC, .nn = 3, .flags = { 0, 2, 0 },
		           .addr = NINE, .cur = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } };
	/* home: 21.254->0 21.253->1 21.252->2 20.254->0 20.253->1 20.252->2 20.251->0 ... */
	expect("det.002", &d, (const int[]){ 2, 0, 0, 2, 2, 0, 2, 0, 0 });

	/* nondet.003 (section 6). */
	struct tcase nd = { .alg = IPALLOC_NONDETERMINISTIC, .nn = 3, .addr = NINE,
		            .cur = { 1, 1, 1, 1, 1, 1, 1, 1, 1 } };
	expect("nondet.003", &nd, (const int[]){ 1, 1, 1, 2, 0, 2, 0, 2, 0 });

	/* takeover_helper/031 (section 4.4): known on nodes 0 and 2 only. */
	static const uint8_t k031[4 * 3] = { 1, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1 };
	struct tcase t = { .alg = IPALLOC_LCP2, .nn = 3, .known = k031,
		           .addr = { "10.0.0.31", "10.0.0.32", "10.0.0.33", "10.0.0.34" },
		           .cur = { -1, -1, -1, -1 } };
	expect("takeover_helper/031", &t, (const int[]){ 0, 2, 2, 0 });
	run(&t, owner, IPALLOC_LOG_INFO, true);
	CHECK(strcmp(logbuf, " 10.0.0.34 -> 0 [+0]\n 10.0.0.33 -> 2 [+0]\n"
	                     " 10.0.0.31 -> 0 [+14884]\n 10.0.0.32 -> 2 [+16129]\n") == 0,
	      "031 log:\n%s", logbuf);

	/* A node is believed only about itself: node 1 claims an address it does not know. */
	static const uint8_t kown[2 * 2] = { 1, 0, 1, 1 };
	struct tcase u = { .alg = IPALLOC_LCP2, .nn = 2, .known = kown,
		           .addr = { "10.0.0.1", "10.0.0.2" }, .cur = { 1, 1 } };
	u.tun.no_ip_takeover = true; /* so nothing can be placed anew */
	expect("untrusted owner", &u, (const int[]){ -1, 1 });

	/* NoIPTakeover keeps what can stay; the unhealthy node's address stays unhosted. */
	struct tcase nt = { .alg = IPALLOC_LCP2, .nn = 3, .flags = { 0, 2, 0 },
		            .tun = { .no_ip_takeover = true },
		            .addr = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4" },
		            .cur = { 0, 1, 2, -1 } };
	expect("no takeover lcp2", &nt, (const int[]){ 0, -1, 2, -1 });
	nt.alg = IPALLOC_NONDETERMINISTIC;
	expect("no takeover nondet", &nt, (const int[]){ 0, -1, 2, -1 });
	/* The deterministic reset still applies: list order .4 .3 .2 .1 -> 0 1 2 0. */
	nt.alg = IPALLOC_DETERMINISTIC;
	expect("no takeover det", &nt, (const int[]){ 0, 2, -1, 0 });

	/* Every node disabled (NoIPHostOnAllDisabled is obsolete): nobody hosts. */
	struct tcase ad = { .alg = IPALLOC_LCP2, .nn = 2, .flags = { 2, 4 },
		            .addr = { "10.0.0.1", "10.0.0.2" }, .cur = { 0, 1 } };
	expect("all disabled", &ad, (const int[]){ -1, -1 });

	/* DisableIPFailover: nothing moves, even off an unhealthy node. */
	ad.tun.disable_ip_failover = true;
	expect("failover disabled", &ad, (const int[]){ 0, 1 });

	/* Forced rebalance onto a node that holds an address (hand-computed in ipalloc.bats's
	 * force-rebalance case): 10.0.0.3 moves to node 1. */
	static const uint32_t force1[] = { 1 };
	struct tcase fr = { .alg = IPALLOC_LCP2, .nn = 2,
		            .addr = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5" },
		            .cur = { 0, 0, 0, 0, 1 } };
	expect("no candidates", &fr, (const int[]){ 0, 0, 0, 0, 1 });
	fr.force = force1;
	fr.nforce = 1;
	expect("forced", &fr, (const int[]){ 0, 0, 1, 0, 1 });

	/* Deterministic home nodes: a home beyond the nodes is ignored. */
	static const uint32_t home[3] = { 1, IPALLOC_UNASSIGNED, 9 };
	struct tcase h = { .alg = IPALLOC_DETERMINISTIC, .nn = 2, .home = home,
		           .addr = { "10.0.0.3", "10.0.0.2", "10.0.0.1" }, .cur = { -1, -1, -1 } };
	expect("home", &h, (const int[]){ 1, 1, 0 });
}

static void test_errors(void)
{
	struct ipalloc_addr addrs[2] = { A("10.0.0.1"), A("10.0.0.1") };
	uint32_t flags[1] = { 0 }, cur[2] = { 0, 0 }, owner[2];
	uint8_t known[2] = { 1, 1 };
	struct ipalloc_input in = { .num_nodes = 1, .node_flags = flags, .num_addrs = 2,
		                    .addrs = addrs, .current = cur, .known = known };

	errno = 0;
	CHECK(ipalloc_run(&in, owner) == -1 && errno == EINVAL, "duplicate address");
	addrs[1] = A("10.0.0.2");
	CHECK(ipalloc_run(&in, owner) == 0 && owner[0] == 0 && owner[1] == 0, "one node");
	in.num_nodes = 0;
	errno = 0;
	CHECK(ipalloc_run(&in, owner) == -1 && errno == EINVAL, "no nodes");
	in.num_nodes = 1u << 20;
	in.num_addrs = 1u << 10;
	errno = 0;
	CHECK(ipalloc_run(&in, owner) == -1 && errno == E2BIG, "too large");
	in.num_nodes = 1;
	in.num_addrs = 2;
	addrs[1].family = 12345;
	errno = 0;
	CHECK(ipalloc_run(&in, owner) == -1 && errno == EINVAL, "bad family");
	in.num_addrs = 0;
	CHECK(ipalloc_run(&in, owner) == 0, "no addresses");
}

int main(void)
{
	test_addr();
	test_distance();
	test_algorithms();
	test_errors();
	printf("ipalloc_test: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
