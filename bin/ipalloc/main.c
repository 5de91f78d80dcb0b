/* ipalloc: the text-in/text-out driver of lib/ipalloc (shared/ref/ipalloc.md section 9).
 * Reads a case on stdin, prints `ADDR OWNER` per address in output order (descending key),
 * owner -1 where no node may host it. A malformed case gets `ipalloc: fatal: line N: ...`
 * and exit 100.
 *
 * Case lines (`#` starts a comment):
 *   nodes F,F,...        one flag value per node (CTDB's bits), node 0 first; required
 *   runstate S,S,...     optional, one per node, default all RUNNING (5)
 *   known N [ADDR...]    the addresses node N is configured for; without any known line
 *                        every node knows every address, with some, the others know none
 *   home ADDR N          home node of ADDR (deterministic); the first line for ADDR counts
 *   ADDR OWNER           an address and its current owner (-1: unassigned)
 * Addresses compare in canonical form and print in it. An address given twice keeps the
 * owner CTDB's merge keeps: the highest-numbered claimant that knows it. */
#include "ipalloc/ipalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "ipalloc"
#define EXIT_USAGE  100
#define EXIT_SYSTEM 111

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(PROG ": fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void die_nomem(void)
{
	die(EXIT_SYSTEM, "unable to allocate memory: %s", strerror(ENOMEM));
}

static void *xrealloc(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		die_nomem();
	p = realloc(p, n && size ? n * size : 1);
	if (!p)
		die_nomem();
	return p;
}

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [--algorithm lcp2|deterministic|nondeterministic] [--no-ip-failback]\n"
	      "               [--no-ip-takeover] [--force-rebalance N,N,...] < CASE\n"
	      "\n"
	      "Computes the owners of public addresses as CTDB's allocation does and prints one\n"
	      "`ADDR OWNER` line per address, largest address first (IPv6 before IPv4).\n"
	      "\n"
	      "Case lines (# starts a comment):\n"
	      "  nodes F,F,...        node flags, node 0 first (0x01 disconnected, 0x02 unhealthy,\n"
	      "                       0x04 disabled, 0x08 banned, 0x10 deleted, 0x20 stopped)\n"
	      "  runstate S,S,...     runstates (default 5, RUNNING, the only one that hosts)\n"
	      "  known N [ADDR...]    the addresses node N is configured for (default: all; once\n"
	      "                       a known line is given, nodes without one know none)\n"
	      "  home ADDR N          home node of ADDR for the deterministic algorithm\n"
	      "  ADDR OWNER           an address and its current owner (-1: unassigned)\n"
	      "\n"
	      "Options:\n"
	      "  -a, --algorithm ALG      lcp2 (default), deterministic, nondeterministic, or\n"
	      "                           IPAllocAlgorithm's number (0, 1, 2; others mean lcp2)\n"
	      "      --no-ip-failback     NoIPFailback=1: place unassigned addresses, never rebalance\n"
	      "      --no-ip-takeover     NoIPTakeover=1: no node receives an address\n"
	      "      --disable-ip-failover  no allocation at all: owners stay as they are\n"
	      "      --no-ip-host-on-all-disabled  obsolete (as in CTDB): accepted and ignored\n"
	      "      --force-rebalance L  nodes LCP2 may rebalance onto although they hold some\n"
	      "      --log-level LEVEL    print CTDB's allocation log (err, warning, notice, info,\n"
	      "                           debug) on stderr\n"
	      "      --repeat N           run the allocation N times (for timing)\n"
	      "      --time               print the allocation time on stderr (fastest run, and\n"
	      "                           the mean CPU time)\n"
	      "  -h, --help               print this help and exit\n"
	      "\n"
	      "Exit status: 0 success, 100 usage error or malformed case, 111 system failure.\n",
	      f);
}

/* ---- numbers ---- */

/* A complete decimal (or 0x hex if hex) uint32; 0 or -1. */
static int parse_u32(const char *s, uint32_t *v, bool hex)
{
	char *end;
	unsigned long long x;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	x = strtoull(s, &end, hex ? 0 : 10);
	if (errno || *end || x > UINT32_MAX)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

/* A comma-separated list of uint32 (each at most limit); returns the count or -1. The
 * string is left intact (for error messages). */
static long parse_list(const char *s, uint32_t **out, bool hex, uint32_t limit)
{
	uint32_t *v = NULL;
	size_t n = 0;
	const char *p = s;

	for (;;) {
		char item[32];
		size_t len = strcspn(p, ",");
		uint32_t x;
		if (len == 0 || len >= sizeof item) {
			free(v);
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (parse_u32(item, &x, hex) < 0 || x > limit) {
			free(v);
			return -1;
		}
		v = xrealloc(v, n + 1, sizeof *v);
		v[n++] = x;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	*out = v;
	return (long)n;
}

/* ---- the case ---- */

enum item_kind { ITEM_CURRENT, ITEM_KNOWN };

/* One occurrence of an address: an `ADDR OWNER` line or an address of a `known` line. */
struct item {
	struct ipalloc_addr addr;
	enum item_kind kind;
	uint32_t node;  /* owner (ITEM_CURRENT) or the knowing node (ITEM_KNOWN) */
	unsigned line;
	size_t seq;     /* input order, for a stable sort */
};

struct home {
	struct ipalloc_addr addr;
	uint32_t node;
};

struct kcase {
	uint32_t nn;
	uint32_t *flags;
	unsigned nodes_line;
	uint32_t *runstate;
	long nrunstate;
	unsigned runstate_line;
	struct item *items;
	size_t nitems, items_cap;
	struct home *homes;
	size_t nhomes;
	/* known lines: node numbers and their lines, checked once nodes is known */
	uint32_t *known_node;
	unsigned *known_line;
	size_t nknown;
};

static unsigned lineno;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bad(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	die(EXIT_USAGE, "line %u: %s", lineno, msg);
}

static void parse_addr(const char *tok, struct ipalloc_addr *a, const char *what)
{
	if (strlen(tok) >= IPALLOC_ADDRSTRLEN || ipalloc_addr_parse(a, tok) < 0)
		bad("%s: expected an IPv4 or IPv6 address, got \"%.64s\"", what, tok);
}

static void add_item(struct kcase *c, const struct ipalloc_addr *a, enum item_kind kind,
                     uint32_t node)
{
	if (c->nitems == c->items_cap) {
		c->items_cap = c->items_cap ? 2 * c->items_cap : 64;
		c->items = xrealloc(c->items, c->items_cap, sizeof *c->items);
	}
	c->items[c->nitems] = (struct item){ .addr = *a, .kind = kind, .node = node,
		                             .line = lineno, .seq = c->nitems };
	c->nitems++;
}

#define MAXTOK 3

static void parse_line(struct kcase *c, char *line)
{
	char *tok[MAXTOK + 1], *save = NULL, *rest;
	int nt = 0;

	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	/* Only `known` takes more than three words: split the first three, keep the rest. */
	rest = line;
	for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
		tok[nt++] = t;
		if (nt == 2 && strcmp(tok[0], "known") == 0) {
			rest = save;
			break;
		}
		if (nt > MAXTOK - 1)
			break;
	}
	if (nt == 0)
		return;

	if (strcmp(tok[0], "nodes") == 0) {
		if (c->nodes_line)
			bad("duplicate nodes line (first on line %u)", c->nodes_line);
		if (nt != 2 || strtok_r(NULL, " \t\r\n", &save))
			bad("nodes: expected one comma-separated list of flag values");
		long n = parse_list(tok[1], &c->flags, true, UINT32_MAX);
		if (n < 0)
			bad("nodes: expected comma-separated flag values, got \"%.64s\"", tok[1]);
		c->nn = (uint32_t)n;
		c->nodes_line = lineno;
	} else if (strcmp(tok[0], "runstate") == 0) {
		if (c->runstate_line)
			bad("duplicate runstate line (first on line %u)", c->runstate_line);
		if (nt != 2 || strtok_r(NULL, " \t\r\n", &save))
			bad("runstate: expected one comma-separated list of runstates");
		c->nrunstate = parse_list(tok[1], &c->runstate, false, IPALLOC_RS_SHUTDOWN);
		if (c->nrunstate < 0)
			bad("runstate: expected comma-separated runstates 0-6, got \"%.64s\"", tok[1]);
		c->runstate_line = lineno;
	} else if (strcmp(tok[0], "known") == 0) {
		uint32_t node;
		if (nt < 2 || parse_u32(tok[1], &node, false) < 0)
			bad("known: expected a node number, got \"%.64s\"", nt < 2 ? "" : tok[1]);
		for (size_t i = 0; i < c->nknown; i++) {
			if (c->known_node[i] == node)
				bad("known: second line for node %u (first on line %u)", node,
				    c->known_line[i]);
		}
		c->known_node = xrealloc(c->known_node, c->nknown + 1, sizeof *c->known_node);
		c->known_line = xrealloc(c->known_line, c->nknown + 1, sizeof *c->known_line);
		c->known_node[c->nknown] = node;
		c->known_line[c->nknown] = lineno;
		c->nknown++;
		char *s2 = NULL;
		for (char *t = strtok_r(rest, " \t\r\n", &s2); t; t = strtok_r(NULL, " \t\r\n", &s2)) {
			struct ipalloc_addr a;
			parse_addr(t, &a, "known");
			add_item(c, &a, ITEM_KNOWN, node);
		}
	} else if (strcmp(tok[0], "home") == 0) {
		struct ipalloc_addr a;
		uint32_t node;
		if (nt != 3 || strtok_r(NULL, " \t\r\n", &save))
			bad("home: expected \"home ADDR NODE\"");
		parse_addr(tok[1], &a, "home");
		if (parse_u32(tok[2], &node, false) < 0)
			bad("home: expected a node number, got \"%.64s\"", tok[2]);
		c->homes = xrealloc(c->homes, c->nhomes + 1, sizeof *c->homes);
		c->homes[c->nhomes++] = (struct home){ .addr = a, .node = node };
	} else {
		struct ipalloc_addr a;
		uint32_t owner;
		/* A first word without '.' or ':' was no attempt at an address. */
		if (!strpbrk(tok[0], ".:"))
			bad("expected nodes, runstate, known, home or \"ADDR OWNER\", got \"%.64s\"",
			    tok[0]);
		if (nt != 2 || strtok_r(NULL, " \t\r\n", &save))
			bad("expected \"ADDR OWNER\", got %s", nt < 2 ? "one word" : "more than two words");
		parse_addr(tok[0], &a, "address");
		if (strcmp(tok[1], "-1") == 0)
			owner = IPALLOC_UNASSIGNED;
		else if (parse_u32(tok[1], &owner, false) < 0)
			bad("owner: expected a node number or -1, got \"%.64s\"", tok[1]);
		add_item(c, &a, ITEM_CURRENT, owner);
	}
}

static void read_case(struct kcase *c, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;

	lineno = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if ((size_t)len != strlen(line))
			bad("NUL byte in the line");
		parse_line(c, line);
	}
	if (ferror(f))
		die(EXIT_SYSTEM, "unable to read the case: %s", strerror(errno));
	free(line);

	if (!c->nodes_line && lineno == 0)
		die(EXIT_USAGE, "empty case: expected a nodes line");
	if (!c->nodes_line)
		die(EXIT_USAGE, "line %u: end of case without a nodes line", lineno);
	if (c->runstate_line && (uint32_t)c->nrunstate != c->nn) {
		lineno = c->runstate_line;
		bad("runstate: %ld values for %u nodes", c->nrunstate, c->nn);
	}
	for (size_t i = 0; i < c->nknown; i++) {
		if (c->known_node[i] >= c->nn) {
			lineno = c->known_line[i];
			bad("known: no node %u (nodes are 0-%u)", c->known_node[i], c->nn - 1);
		}
	}
}

static int item_cmp(const void *x, const void *y)
{
	const struct item *a = x, *b = y;
	int r = ipalloc_addr_cmp(&a->addr, &b->addr);
	if (r)
		return r;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int addr_cmp(const void *x, const void *y)
{
	return ipalloc_addr_cmp(x, y);
}

/* ---- logging ---- */

static void log_stderr(void *arg, enum ipalloc_log_level level, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static const char *const level_names[] = { "err", "warning", "notice", "info", "debug" };

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "algorithm", required_argument, NULL, 'a' },
		{ "no-ip-failback", no_argument, NULL, 'F' },
		{ "no-ip-takeover", no_argument, NULL, 'T' },
		{ "disable-ip-failover", no_argument, NULL, 'D' },
		{ "no-ip-host-on-all-disabled", no_argument, NULL, 'H' },
		{ "force-rebalance", required_argument, NULL, 'f' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "time", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ipalloc_input in = { .algorithm = IPALLOC_LCP2 };
	struct kcase c = { 0 };
	uint32_t *force = NULL, repeat = 1;
	long nforce = 0;
	bool timing = false;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "a:h", opts, NULL)) != -1) {
		switch (o) {
		case 'a': {
			uint32_t v;
			if (strcmp(optarg, "lcp2") == 0)
				in.algorithm = IPALLOC_LCP2;
			else if (strcmp(optarg, "deterministic") == 0)
				in.algorithm = IPALLOC_DETERMINISTIC;
			else if (strcmp(optarg, "nondeterministic") == 0)
				in.algorithm = IPALLOC_NONDETERMINISTIC;
			else if (parse_u32(optarg, &v, false) == 0)
				in.algorithm = v <= IPALLOC_LCP2 ? (enum ipalloc_algorithm)v : IPALLOC_LCP2;
			else
				die(EXIT_USAGE, "unknown algorithm \"%s\" (lcp2, deterministic, "
				                "nondeterministic)", optarg);
			break;
		}
		case 'F':
			in.tunables.no_ip_failback = true;
			break;
		case 'T':
			in.tunables.no_ip_takeover = true;
			break;
		case 'D':
			in.tunables.disable_ip_failover = true;
			break;
		case 'H':
			/* CTDB 4.17 accepts it, logs it as obsolete, and ignores it. */
			fputs(PROG ": notice: NoIPHostOnAllDisabled is obsolete and ignored\n", stderr);
			break;
		case 'f':
			free(force);
			nforce = parse_list(optarg, &force, false, UINT32_MAX);
			if (nforce < 0)
				die(EXIT_USAGE, "--force-rebalance: expected node numbers N,N,..., "
				                "got \"%s\"", optarg);
			break;
		case 'l': {
			size_t i;
			for (i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
				if (strcmp(optarg, level_names[i]) == 0)
					break;
			}
			if (i == sizeof level_names / sizeof level_names[0])
				die(EXIT_USAGE, "--log-level: expected one of err, warning, notice, "
				                "info, debug, got \"%s\"", optarg);
			in.log = log_stderr;
			in.log_level = (enum ipalloc_log_level)i;
			break;
		}
		case 'r':
			if (parse_u32(optarg, &repeat, false) < 0 || repeat == 0)
				die(EXIT_USAGE, "--repeat: expected a positive number, got \"%s\"", optarg);
			break;
		case 't':
			timing = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			if (optopt && optopt != '?')
				die(EXIT_USAGE, "unknown option or missing argument: -%c", optopt);
			die(EXIT_USAGE, "unknown option or missing argument: %s", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		usage(stderr);
		die(EXIT_USAGE, "unexpected argument \"%s\" (the case is read from stdin)",
		    argv[optind]);
	}

	read_case(&c, stdin);

	/* The distinct addresses, in output order; then who knows each and its current owner. */
	qsort(c.items, c.nitems, sizeof *c.items, item_cmp);
	struct ipalloc_addr *addrs = xrealloc(NULL, c.nitems, sizeof *addrs);
	uint32_t na = 0;
	for (size_t i = 0; i < c.nitems; i++) {
		if (na == 0 || ipalloc_addr_cmp(&addrs[na - 1], &c.items[i].addr) != 0)
			addrs[na++] = c.items[i].addr;
	}
	if ((uint64_t)na * c.nn > IPALLOC_MAX_PAIRS)
		die(EXIT_USAGE, "too large: %u addresses x %u nodes is over %u pairs", na, c.nn,
		    IPALLOC_MAX_PAIRS);
	uint8_t *known = xrealloc(NULL, (size_t)na * c.nn, 1);
	uint32_t *current = xrealloc(NULL, na, sizeof *current);
	uint32_t *home = xrealloc(NULL, na, sizeof *home);
	uint32_t *owner = xrealloc(NULL, na, sizeof *owner);
	memset(known, c.nknown == 0, (size_t)na * c.nn);
	for (uint32_t a = 0; a < na; a++)
		current[a] = home[a] = IPALLOC_UNASSIGNED;
	size_t i = 0;
	for (uint32_t a = 0; a < na; a++) {
		size_t first = i;
		for (; i < c.nitems && ipalloc_addr_cmp(&addrs[a], &c.items[i].addr) == 0; i++) {
			if (c.items[i].kind == ITEM_KNOWN)
				known[(size_t)a * c.nn + c.items[i].node] = 1;
		}
		/* CTDB's merge: a node is believed only about itself; the highest one wins. */
		for (size_t j = first; j < i; j++) {
			uint32_t p = c.items[j].node;
			if (c.items[j].kind == ITEM_CURRENT && p < c.nn && known[(size_t)a * c.nn + p] &&
			    (current[a] == IPALLOC_UNASSIGNED || p > current[a]))
				current[a] = p;
		}
	}
	for (size_t h = 0; h < c.nhomes; h++) {
		struct ipalloc_addr *p = bsearch(&c.homes[h].addr, addrs, na, sizeof *addrs, addr_cmp);
		if (p && home[p - addrs] == IPALLOC_UNASSIGNED)
			home[p - addrs] = c.homes[h].node;
	}

	in.num_nodes = c.nn;
	in.node_flags = c.flags;
	in.runstate = c.runstate;
	in.num_addrs = na;
	in.addrs = addrs;
	in.current = current;
	in.known = known;
	in.home = c.nhomes ? home : NULL;
	in.force_rebalance = force;
	in.num_force_rebalance = (uint32_t)nforce;

	/* Timing: the fastest run is the least disturbed by other load; CPU time as well. */
	double best = 0, cpu0 = cpu_ms();
	for (uint32_t r = 0; r < repeat; r++) {
		double t0 = now_ms();
		if (ipalloc_run(&in, owner) < 0) {
			if (errno == ENOMEM)
				die(EXIT_SYSTEM, "unable to allocate: %s", strerror(errno));
			die(EXIT_USAGE, "unable to allocate: %s", strerror(errno));
		}
		double t = now_ms() - t0;
		if (r == 0 || t < best)
			best = t;
		in.log = NULL; /* log the first run only */
	}
	double cpu = (cpu_ms() - cpu0) / repeat;

	for (uint32_t a = 0; a < na; a++) {
		char buf[IPALLOC_ADDRSTRLEN];
		printf("%s %d\n", ipalloc_addr_format(&addrs[a], buf, sizeof buf),
		       owner[a] == IPALLOC_UNASSIGNED ? -1 : (int)owner[a]);
	}
	if (timing)
		fprintf(stderr, PROG ": time: %.3f ms fastest of %u runs, %.3f ms CPU per run\n",
		        best, repeat, cpu);
	if (fflush(stdout) != 0 || ferror(stdout))
		die(EXIT_SYSTEM, "unable to write the result: %s", strerror(errno));

	free(addrs);
	free(known);
	free(current);
	free(home);
	free(owner);
	free(force);
	free(c.flags);
	free(c.runstate);
	free(c.items);
	free(c.homes);
	free(c.known_node);
	free(c.known_line);
	return 0;
}
