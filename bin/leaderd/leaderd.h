/* leaderd: who leads, in numbered terms, and the cluster lock that makes it at most one.
 *
 * Files: main.c (wiring, dispatch, subscribers, status), election.c (the state machine:
 * view, bids, votes, renewals, step-down), store.c (the durable term and vote, the interval
 * trace), lockfile.c (`file:PATH`: a helper process keeps a lease on shared storage),
 * lockcmd.c (`!COMMAND`: CTDB's mutex helper contract), culprit.c (culprit counts, bans).
 *
 * Times are CLOCK_MONOTONIC nanoseconds (uint64_t). Every node of a loopback test cluster
 * shares that clock, which is what lets the tests compare the intervals of different nodes.
 */
#ifndef LEADERD_H
#define LEADERD_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "member/member.h"

#define NODE_NONE       UINT32_MAX
#define TIME_INF        UINT64_MAX
#define SUBSCRIBERS_MAX 64
#define RING            8        /* renewals awaiting acknowledgement */
#define MS              ((uint64_t)1000000)

enum role { ROLE_FOLLOWER, ROLE_CANDIDATE, ROLE_LEADER };
const char *role_name(enum role r);

struct node_state {
	bool deleted;
	bool connected;
	bool eligible;           /* a candidate: connected, active, leaderd up */
	uint32_t flags;
};

struct culprit {
	uint32_t count;
	uint64_t last;           /* when the last report came */
	char reason[64];
};

/* The lock helpers' side of the state machine (lockfile.c, lockcmd.c). */
enum lock_state { LOCK_IDLE, LOCK_CONTENDING, LOCK_HELD, LOCK_FAILED };
const char *lock_state_name(enum lock_state s);

struct leaderd {
	struct daemon d;
	uint32_t self;
	int lock_kind;           /* CONF_LOCK_* */
	const char *lock_arg;    /* the path or the command */
	uint64_t lease, et, lease_drift, poll; /* ns: lease, election timeout, lease x (1+drift) */
	uint64_t started;

	/* durable (store.c): written and fsynced before it is acted on */
	uint64_t newest;         /* the newest term this node accepted */
	uint64_t voted_term;     /* the newest term it voted in (or bid for) */
	uint32_t voted_for;

	/* the membership view */
	bool have_view;
	uint64_t view;
	uint64_t view_incarnation; /* memberd's: a new one restarts the partition grace */
	uint64_t grace_from;     /* no `partitioned` reason within 3 s of this (a start) */
	unsigned nnodes;
	struct node_state node[CONF_MAX_NODES];
	uint32_t cand[CONF_MAX_NODES];
	unsigned ncand;
	unsigned total, reachable; /* non-deleted nodes; those connected (self included) */
	bool self_partitioned_in_view; /* memberd shows our `partitioned` reason */
	bool health_pending;
	bool partitioned;

	/* roles */
	enum role role;
	uint32_t leader;         /* NODE_NONE: none known */
	uint64_t leader_term;
	uint64_t leader_heard;   /* last accepted renewal */
	uint64_t no_leader_since;
	uint32_t lost_leader;    /* the leader we last lost, not ranked among the candidates */
	uint64_t hold_until;     /* another node's bid is pending */
	uint64_t quiet_until;    /* none: no vote within lease x (1+drift) of our start */
	uint64_t ack_until;      /* none: ... nor of a renewal we acknowledged (or a vote) */
	uint64_t ack_term;

	/* candidate */
	uint64_t bid_term, bid_sent, bid_deadline;
	uint64_t bid_retry_at;   /* the bid's refusals all end by then (0: one does not) */
	bool bid_refused_for_good; /* a refusal without an end: back off as usual */
	unsigned bid_asked, bid_answered;
	unsigned votes;
	uint64_t elections;
	uint64_t pre_bid_ack_until, pre_bid_ack_term; /* restored when a bid fails */

	/* leader */
	uint64_t lease_until;    /* TIME_INF with a `!` lock while it is held */
	uint64_t renew_seq, next_renew;
	struct renewal { uint64_t seq, sent; unsigned acks; } ring[RING];
	uint64_t renew_asked;    /* file: the moment the pending lease write was asked; 0: none */

	/* the lock */
	enum lock_state lock;
	char lock_why[64];
	int helper_fd;           /* file: the helper's socket; cmd: its stdout */
	pid_t helper_pid;
	ev_io helper_io;
	ev_timer helper_timer;   /* cmd: status deadline, kill escalation; file: restart */
	ev_child helper_child;
	bool helper_killing;

	/* lock `none`: memberd carries the lease in its heartbeats and moves this timer
	 * (carry.c) */
	int lease_tfd;
	ev_io lease_w;
	bool carry_failed;       /* memberd cannot: renewals go out from here, as before */
	bool carried;            /* memberd confirmed the registration in force */
	uint64_t reg_gen;
	unsigned reg_role;       /* PROTO_LEASE_ROLE_*, 0: none asked yet */
	uint64_t reg_term;
	uint32_t reg_leader;
	struct reg_replaced {    /* what the registration in flight replaces */
		unsigned role;
		uint64_t term;
		uint32_t leader;
	} reg_replaced;
	unsigned pend_follows;   /* following registrations replaced since the last confirmed */
	uint32_t pend_leader;    /* ... the newest of them */
	uint64_t pend_term;
	uint64_t claim_seq;      /* the seq of the leader's claim we accepted */
	uint64_t ending_term;    /* a term we stepped down from, traced once memberd stops */
	uint32_t released_leader; /* its claims may still be in flight: not to be taken up */
	uint64_t released_term;

	ev_timer timer;          /* the one state-machine timer: evaluate() sets it */
	ev_timer subscribe_retry;
	uint64_t view_refreshed; /* when view_refresh last asked memberd (ns) */
	bool view_asked;         /* and its answer has not come yet */

	char subscriber[SUBSCRIBERS_MAX][MSG_SERVICE_MAX];
	unsigned nsubscribers;

	struct culprit culprit[CONF_MAX_NODES];

	int trace_fd;
	uint64_t stat_renewals, stat_accepted, stat_rejected, stat_votes, stat_stepdowns;
	uint64_t stat_bans, stat_msgs_sent;
	uint64_t stat_election_msgs;  /* bids, their replies, releases, the announcing round */
	uint64_t first_seq;           /* the renewal that announces our term */
};

uint64_t now_ns(void);
extern struct leaderd *g_ld;   /* the one instance, for callbacks without an argument */

/* election.c */
void election_start(struct leaderd *ld);
void election_view(struct leaderd *ld, const struct proto_view *v);
void election_evaluate(struct leaderd *ld);
void election_bid_received(struct leaderd *ld, const struct msg_in *in);
void election_renew_received(struct leaderd *ld, const struct msg_in *in);
void election_release_received(struct leaderd *ld, const struct msg_in *in);
void election_step_down(struct leaderd *ld, const char *why);
void election_elect(struct leaderd *ld, const struct msg_in *in);
/* Whether this node may act as leader now: it leads, its lease runs, it is eligible. */
bool election_leader_ok(struct leaderd *ld);
/* The lock helpers report here. */
void election_lock_held(struct leaderd *ld, uint64_t term, uint64_t asked);
void election_lock_renewed(struct leaderd *ld, uint64_t asked);
void election_lock_lost(struct leaderd *ld, const char *why);
uint64_t election_lease_left(const struct leaderd *ld);
bool node_eligible_self(const struct leaderd *ld);

/* carry.c */
void carry_start(struct leaderd *ld);
bool carry_used(const struct leaderd *ld);  /* lock `none` and memberd carries it */
void carry_sync(struct leaderd *ld);        /* lease_until, leader_heard from the timer */
void carry_update(struct leaderd *ld);      /* registers what the state asks for */
bool carry_vote_waits(const struct leaderd *ld); /* memberd may still acknowledge claims */
void election_lease_heard(struct leaderd *ld, const struct msg_in *in);
void election_trace_end(struct leaderd *ld, uint64_t term, uint64_t at);
void election_send_release(struct leaderd *ld, uint64_t term);

/* main.c */
void subscribers_notify(struct leaderd *ld);
void send_status(struct leaderd *ld, const struct msg_in *in);
bool view_refresh(struct leaderd *ld);
/* A message to node:leaderd, counted for the benchmark. */
int send_leaderd(struct leaderd *ld, uint32_t node, unsigned type, const void *body);
int request_leaderd(struct leaderd *ld, uint32_t node, unsigned type, const void *body,
                    unsigned timeout_ms, msg_reply_fn *cb, void *arg);
/* msg_forward to node:leaderd: in's asker gets what that leaderd answers. */
int forward_leaderd(struct leaderd *ld, const struct msg_in *in, uint32_t node, unsigned type,
                    const void *body, unsigned timeout_ms);

/* store.c */
void store_load(struct leaderd *ld);
/* Writes newest/voted_term/voted_for durably; -1 (logged) if it could not. */
int store_save(struct leaderd *ld);

/* lockfile.c: file:PATH */
void lockfile_start(struct leaderd *ld);
void lockfile_acquire(struct leaderd *ld, uint64_t min_term);
void lockfile_renew(struct leaderd *ld, uint64_t asked);
void lockfile_release(struct leaderd *ld);
void lockfile_idle(struct leaderd *ld);

/* lockcmd.c: !COMMAND */
void lockcmd_acquire(struct leaderd *ld, uint64_t term);
void lockcmd_release(struct leaderd *ld);

/* culprit.c */
void culprit_report(struct leaderd *ld, const struct msg_in *in);
void culprit_fill(const struct leaderd *ld, struct proto_culprit_count *out, size_t *n);

#endif
