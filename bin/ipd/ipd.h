/* ipd: the node's public addresses, and on the leader's node the allocation.
 *
 * Files: main.c (wiring, dispatch, memberd's view and leaderd's leader, the host set, the
 * CLI's requests and their relay to other nodes), node.c (this node's side: interfaces,
 * held addresses, assignments in two phases, takeip/releaseip events through svcd, hooks,
 * self-fencing, the consistency check, connections and tickle ACKs), leader.c (the leader's
 * runs: gather every node's ip_info, compute with lib/ipalloc, release phase, take phase;
 * the leader's consistency check).
 *
 * The kernel is the truth about what this node holds: held[] is re-read from rtnetlink
 * before every decision, so a restarted ipd adopts what its interfaces already have.
 */
#ifndef IPD_H
#define IPD_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "ipalloc/ipalloc.h"
#include "pubaddr/pubaddr.h"

#define NODE_NONE    UINT32_MAX
#define IFACES_MAX   16
#define CONNS_MAX    4096
/* Idle cost is wake-ups (a wake-up costs ~100 us on a virtual machine), so the periodic
 * work is a backstop behind events: rtnetlink notifications start this node's check, and
 * every node asks the leader for a run when what it can host changes. */
#define CHECK_S      10.0    /* the consistency checks (this node's and the leader's) */
#define CHECK_NOMON_S 1.0    /* ... when rtnetlink notifications could not be had */
#define CONNS_S      1.0     /* the connection list, while this node holds addresses */

struct iface {
	char name[IF_NAMESIZE];
	int index;               /* 0: does not exist */
	bool exists, up;
};

/* A public address on one of this node's interfaces. */
struct held {
	struct ipalloc_addr a;
	char text[IPALLOC_ADDRSTRLEN];
	unsigned bits;
	int ifindex;
	char iface[IF_NAMESIZE];
};

/* One row of the leader's allocation, as this node last heard it. */
struct owner {
	struct ipalloc_addr a;
	char text[IPALLOC_ADDRSTRLEN];
	unsigned bits;
	uint32_t node;
	bool take_failed;        /* its takeip failed here: not taken again until a new table */
};

/* A request this node answers later (an assignment phase, a relayed CLI request). */
struct later {
	bool busy;
	uint32_t node;
	char service[32];
	uint64_t id;
	unsigned type;
};

/* A connection of a peer to an address it held, for tickle ACKs. */
struct conn {
	struct ipalloc_addr server, client;
	uint16_t sport, cport;
	uint32_t node;           /* who reported it */
};

/* The leader's view of one node during a run. */
struct ninfo {
	bool answered, ready, leaving;
	unsigned nknown, nheld;
	struct { struct ipalloc_addr a; unsigned bits; bool avail; } *known;
	struct ipalloc_addr *held;
};

enum run_state { RUN_IDLE, RUN_GATHER, RUN_RELEASE, RUN_TAKE };

struct event;

struct ipd {
	struct daemon d;
	struct event *events;    /* svcd events in flight (node.c) */
	uint32_t self;
	int nl, mon_fd;
	ev_io mon_io;
	ev_timer check_timer, soon_timer, tickle_timer, run_timer;
	ev_timer conns_timer;    /* runs while this node holds addresses (node.c) */
	ev_timer sub_retry, shutdown_timer;
	/* stalls of the loop, seen at every wake-up and before every sleep (main.c) */
	ev_check stall_wake;
	ev_prepare stall_sleep;
	double awake;            /* monotonic: when the loop was last seen running */
	double check_due;        /* monotonic: when check_timer fires next */
	double suspended;        /* CLOCK_BOOTTIME - CLOCK_MONOTONIC at the last wake-up */

	/* this node */
	struct pubaddr_list pa;
	char pa_error[300];      /* the last load's error, or empty */
	struct iface ifs[IFACES_MAX];
	unsigned nifs;
	struct held held[PUBADDR_MAX];
	unsigned nheld;
	bool ready;              /* public addresses read, interfaces scanned */
	bool check_deferred;     /* a check came during a phase: run it after the phase */
	bool leaving;            /* shutdown failover */
	char fenced[64];         /* why this node must hold nothing, or empty */
	const char *destroy;     /* how released connections are reset */
	bool destroy_warned, svcd_warned;

	/* the allocation as the leader last sent it */
	uint64_t newest_term;    /* the newest term seen: older ones are rejected */
	uint64_t table_term, table_run;
	int table_phase;         /* PROTO_IP_PHASE_*, 0: none yet */
	struct owner table[PUBADDR_MAX];
	unsigned ntable;
	struct later phase_req;  /* the leader's phase awaiting our acknowledgement */
	unsigned phase_pending;  /* events still running for it */
	char phase_failed[64][IPALLOC_ADDRSTRLEN];
	unsigned nphase_failed;

	/* who leads */
	bool has_leader;
	uint32_t leader;
	uint64_t leader_term;

	/* memberd's view */
	bool have_view;
	uint64_t member_incarnation, member_stalls; /* memberd's, from its views */
	uint32_t nnodes;
	/* svcd_known: svcd is one of the node's supervised daemons (then svcd_up says how it
	 * is); otherwise its socket alone tells */
	struct vnode { bool deleted, connected, svcd_known, svcd_up, ipd_up; uint32_t flags; } *node;
	unsigned total, reachable;
	bool manual_hosts;
	uint8_t *host;           /* manual host set: host[n] */

	/* connections of the peers, for tickle ACKs */
	struct conn conns[CONNS_MAX];
	unsigned nconns;
	uint64_t conns_hash;     /* of what we sent last */
	struct { struct ipalloc_addr a; unsigned left; } tickle[64];
	unsigned ntickle;

	/* leader */
	enum run_state run;
	uint64_t run_no;
	bool run_again, run_force, rebalance_all;
	uint8_t *rebalance;      /* force-rebalance nodes for the next run */
	ev_tstamp run_started, not_before;
	ev_tstamp *hold_until;   /* per node: disconnected at, + keepalive interval */
	ev_tstamp *silent_since; /* per node: connected, but its ipd did not answer since */
	struct ninfo *ni;
	unsigned waiting;
	struct owner alloc[PUBADDR_MAX];
	unsigned nalloc;
	bool have_alloc;
	struct { struct ipalloc_addr a; uint32_t node; ev_tstamp until; } excl[64];
	unsigned nexcl;
	struct { bool set; struct ipalloc_addr a; uint32_t node; } move;
	uint64_t stat_runs, stat_moves, stat_takes, stat_releases, stat_take_failed;
	uint64_t stat_tickles, stat_killed, last_run_ms;
	char conflict_logged[IPALLOC_ADDRSTRLEN];
};

extern struct ipd *g_ipd;
double now_mono(void);

/* main.c */
bool node_may_host(struct ipd *x, uint32_t n);   /* the host set */
bool node_reachable(struct ipd *x, uint32_t n);
int send_ipd(struct ipd *x, uint32_t node, unsigned type, const void *body);
void later_save(struct later *l, const struct msg_in *in);
int later_reply(struct ipd *x, struct later *l, unsigned type, const void *body);
void ask_realloc(struct ipd *x, const char *reason, bool rebalance);

/* node.c */
void node_init(struct ipd *x);
/* At exit: the events whose answers will never come (the loop has ended). */
void node_free_events(struct ipd *x);
/* Reads public_addresses: -1 (list unchanged) on a parse error; 0 with why set when an
 * interface does not exist (the list is taken). */
int node_load(struct ipd *x, char *why, size_t len);
void node_load_list(struct ipd *x);          /* the interfaces of the list, after a change */
void node_scan(struct ipd *x);               /* interfaces and held addresses */
void node_check(struct ipd *x);              /* the consistency check */
void node_check_soon(struct ipd *x);
void node_fence(struct ipd *x, const char *why);
void node_unfence(struct ipd *x);
void node_info_reply(struct ipd *x, const struct msg_in *in);
void node_assign(struct ipd *x, const struct msg_in *in);
void node_conns_received(struct ipd *x, const struct msg_in *in);
void node_conns_watch(struct ipd *x);        /* polls the connections while it holds any */
void node_release_all(struct ipd *x, const char *why);
int held_find(const struct ipd *x, const struct ipalloc_addr *a);
int iface_find(const struct ipd *x, const char *name);

/* leader.c */
void leader_init(struct ipd *x);
void leader_trigger(struct ipd *x, const char *why, double delay);
void leader_check(struct ipd *x);
void leader_lost(struct ipd *x);
void leader_node_lost(struct ipd *x, uint32_t n);
void leader_move(struct ipd *x, const struct msg_in *in);

#endif
