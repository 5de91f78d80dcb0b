/* Public address allocation: CTDB's three algorithms (LCP2, deterministic, non-deterministic),
 * reproduced owner for owner (shared/ref/ipalloc.md describes them; section numbers below
 * refer to it). Pure: no I/O, no global state; memory is O(addresses x nodes) and freed
 * before ipalloc_run() returns. The caller (ipd, the `ipalloc` driver) gathers the input.
 * Time: LCP2 is O(m^2 + m * n * (sqrt(n) + moves)) for m addresses on n nodes (15 ms for
 * 64 x 1024 from nothing); the other two are about O(m * n).
 *
 * The merged list. Every address known to at least one node takes part, ordered by
 * descending 128-bit key (IPv4 a.b.c.d is the key ::a.b.c.d; on an equal key, which only
 * IPv4 x and IPv6 ::x share, IPv6 comes first). An address no node knows takes no part (as in
 * CTDB, whose list is the union of the known lists) and comes out unassigned.
 *
 * Eligibility (section 2.2): node k may host address a iff k knows a, (flags & 0x3F) == 0 and
 * its runstate is RUNNING. The current owner of a is trusted only if that node knows a (a
 * node is believed only about itself): when several nodes claim a, CTDB keeps the
 * highest-numbered claimant that knows it, and the caller passes that one.
 */
#ifndef SHOAL_IPALLOC_H
#define SHOAL_IPALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPALLOC_UNASSIGNED UINT32_MAX /* CTDB_UNKNOWN_PNN, printed as -1 */

/* Node flags: CTDB's bits. Any of them makes a node ineligible. */
#define IPALLOC_DISCONNECTED        0x01u
#define IPALLOC_UNHEALTHY           0x02u
#define IPALLOC_PERMANENTLY_DISABLED 0x04u
#define IPALLOC_BANNED              0x08u
#define IPALLOC_DELETED             0x10u
#define IPALLOC_STOPPED             0x20u
#define IPALLOC_INELIGIBLE          0x3Fu

/* Runstates: only RUNNING nodes host addresses. */
enum ipalloc_runstate {
	IPALLOC_RS_UNKNOWN, IPALLOC_RS_INIT, IPALLOC_RS_SETUP, IPALLOC_RS_FIRST_RECOVERY,
	IPALLOC_RS_STARTUP, IPALLOC_RS_RUNNING, IPALLOC_RS_SHUTDOWN,
};

/* IPAllocAlgorithm's values; any other value runs LCP2, as in CTDB. */
enum ipalloc_algorithm {
	IPALLOC_DETERMINISTIC = 0,
	IPALLOC_NONDETERMINISTIC = 1,
	IPALLOC_LCP2 = 2,
};

/* An address in canonical form: key[0..3] are the big-endian 32-bit words of the IPv6
 * address, or (0, 0, 0, a.b.c.d) for IPv4. */
struct ipalloc_addr {
	int family; /* AF_INET or AF_INET6 */
	uint32_t key[4];
};

#define IPALLOC_ADDRSTRLEN 46 /* INET6_ADDRSTRLEN */

/* Parses an IPv4 or IPv6 address (no prefix, no scope); -1 with EINVAL if it is neither. */
int ipalloc_addr_parse(struct ipalloc_addr *a, const char *s);
/* The canonical text (inet_ntop's); buf holds at least IPALLOC_ADDRSTRLEN bytes. */
const char *ipalloc_addr_format(const struct ipalloc_addr *a, char *buf, size_t len);
/* Output order: < 0 if a comes before b (a has the larger key), 0 if the same address. */
int ipalloc_addr_cmp(const struct ipalloc_addr *a, const struct ipalloc_addr *b);
/* LCP2's distance (section 4.1), 0..128: per word, 32 if equal, else the leading zero bits
 * of the XOR; the sum does not stop at the first differing word (CTDB's quirk). */
unsigned ipalloc_distance(const struct ipalloc_addr *a, const struct ipalloc_addr *b);

/* Tunables, as CTDB's (section 8). NoIPHostOnAllDisabled is obsolete and has no field. */
struct ipalloc_tunables {
	bool no_ip_failback;      /* LCP2 and non-deterministic place but never rebalance */
	bool no_ip_takeover;      /* no node receives an address; they keep what they can host */
	bool disable_ip_failover; /* no allocation at all: every trusted owner stays */
};

/* Log levels of CTDB's messages (section 4.6); the text is CTDB's, without the newline. */
enum ipalloc_log_level {
	IPALLOC_LOG_ERR, IPALLOC_LOG_WARNING, IPALLOC_LOG_NOTICE, IPALLOC_LOG_INFO,
	IPALLOC_LOG_DEBUG,
};
typedef void ipalloc_log_fn(void *arg, enum ipalloc_log_level level, const char *msg);

struct ipalloc_input {
	enum ipalloc_algorithm algorithm;
	struct ipalloc_tunables tunables;

	uint32_t num_nodes;             /* nodes 0..num_nodes-1, dead ones included */
	const uint32_t *node_flags;     /* [num_nodes] */
	const uint32_t *runstate;       /* [num_nodes]; NULL: all RUNNING */

	uint32_t num_addrs;
	const struct ipalloc_addr *addrs; /* [num_addrs], distinct, in any order */
	const uint32_t *current;        /* [num_addrs] current owner; IPALLOC_UNASSIGNED: none */
	/* [num_addrs * num_nodes]: known[a * num_nodes + k] != 0 iff node k lists addrs[a]. */
	const uint8_t *known;
	const uint32_t *home;           /* [num_addrs] home node (deterministic); NULL: none */

	/* Nodes that may receive addresses in LCP2's rebalance although they hold some (the
	 * "rebalance node" messages since the last run); values >= num_nodes are logged. */
	const uint32_t *force_rebalance;
	uint32_t num_force_rebalance;

	ipalloc_log_fn *log;            /* NULL: no logging */
	void *log_arg;
	enum ipalloc_log_level log_level; /* messages at or below this level are passed */
};

/* Upper bound of num_addrs * num_nodes. Memory: at most about 14 bytes per pair (LCP2's
 * dsum matrix, the eligibility matrix, the placement's block minima), 80 MB at the bound;
 * 64 nodes x 1024 addresses take under 1 MB. */
#define IPALLOC_MAX_PAIRS (1u << 24)

/* Computes the new owners: owner[a] (an array of num_addrs) for addrs[a], IPALLOC_UNASSIGNED
 * where no node may host it. Returns 0, or -1 with errno EINVAL (bad input: no nodes, NULL arrays, a duplicate
 * address, an unknown family), E2BIG (more than IPALLOC_MAX_PAIRS) or ENOMEM. */
int ipalloc_run(const struct ipalloc_input *in, uint32_t *owner);

#endif
