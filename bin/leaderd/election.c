/* The election state machine. One timer: election_evaluate() looks at the state, does
 * what is due and sets the timer to the next deadline, after every event.
 *
 * Safety (README, "Leadership"):
 * - A term only grows. A bid takes max(newest, voted term) + 1; renewals carry the term; a
 *   node rejects any term older than its newest, which it saves (fsync) before acting.
 * - Lock `none`: a term needs votes of a majority of the non-deleted nodes, one vote per
 *   node per term (saved before the answer). A voter grants no vote within lease x (1 +
 *   drift) of its start or of a renewal it acknowledged (a vote counts as one). The leader's
 *   lease runs from the send time of the last renewal a majority acknowledged (at first:
 *   of its bid), so any later majority holds a node that waits out that lease first.
 * - Lock `file:`: the helper's lease record is the authority (lockfile.c); the lease runs
 *   from the moment leaderd asked for the last write that succeeded.
 * - Lock `!COMMAND`: the external lock is the authority; it never expires.
 * - Before every leader action: now < lease_until, still eligible, not partitioned; else
 *   the leader steps down at once.
 *
 * Liveness: the preferred candidate (lowest-numbered eligible node) bids; the k-th bids
 * k x election timeout later unless a bid or a leader showed up: O(N) messages a round. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "leaderd.h"
#include "log/log.h"

#define REASON_PARTITIONED "partitioned"
#define PARTITION_GRACE    (3000 * MS)
/* Nothing is due while memberd carries the lease: events and the lease timer wake us, and
 * the partition grace (sync_health) sets its own deadline. A look now and then is cheap
 * insurance; an idle node's cost is its wake-ups. */
#define CARRIED_LOOK       (30000 * MS)

const char *role_name(enum role r)
{
	switch (r) {
	case ROLE_FOLLOWER: return "follower";
	case ROLE_CANDIDATE: return "candidate";
	case ROLE_LEADER: return "leader";
	}
	return "?";
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Votes (or acknowledgements) a term needs: a majority of the non-deleted nodes. */
static unsigned majority(const struct leaderd *ld)
{
	unsigned total = ld->total ? ld->total : 1;
	return total / 2 + 1;
}

bool node_eligible_self(const struct leaderd *ld)
{
	if (!ld->d.conf.leader_capable || !ld->have_view)
		return false;
	uint32_t f = ld->node[ld->self].flags;
	return !(f & (MEMBER_FLAG_BANNED | MEMBER_FLAG_STOPPED | MEMBER_FLAG_DELETED));
}

static bool is_candidate(const struct leaderd *ld, uint32_t n)
{
	return n < ld->nnodes && ld->node[n].eligible;
}

/* This node's place among the candidates (0: preferred), or -1. */
static int rank_of_self(const struct leaderd *ld)
{
	int rank = 0;
	for (unsigned i = 0; i < ld->ncand; i++) {
		if (ld->cand[i] == ld->self)
			return rank;
		/* The leader we just lost may linger in the view until memberd notices. */
		if (ld->cand[i] != ld->lost_leader)
			rank++;
	}
	return -1;
}

static bool leader_reachable(const struct leaderd *ld)
{
	return ld->leader != NODE_NONE && ld->leader < ld->nnodes && ld->node[ld->leader].connected;
}

/* Fewer than half of the nodes reached, or exactly half without the leader. */
static bool compute_partitioned(const struct leaderd *ld)
{
	if (!ld->have_view)
		return false;
	if (ld->reachable * 2 < ld->total)
		return true;
	if (ld->reachable * 2 == ld->total)
		return !(ld->role == ROLE_LEADER || leader_reachable(ld));
	return false;
}

static void health_done(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = arg;
	ld->health_pending = false;
	if (status != MSG_OK)
		log_info("unable to set the health reason %s: %s", REASON_PARTITIONED,
		         msg_status_str(status));
}

/* Keeps memberd's `partitioned` reason in line with ours (the view says what it has).
 * Returns when to look again: the end of the grace a partition seen just after the start
 * waits out before memberd is told (0: no such wait). */
static uint64_t sync_health(struct leaderd *ld)
{
	bool want = compute_partitioned(ld);
	uint64_t now = now_ns(), grace_end = ld->grace_from + PARTITION_GRACE;
	if (want != ld->partitioned && now >= grace_end) {
		log_notice("%s: %u of %u nodes reached", want ? "partitioned" : "no longer partitioned",
		           ld->reachable, ld->total);
	}
	ld->partitioned = want;
	/* Right after a start memberd has not met its peers yet: that is no partition. */
	if (want && !ld->self_partitioned_in_view && now < grace_end)
		return grace_end;
	if (!ld->have_view || ld->health_pending || want == ld->self_partitioned_in_view)
		return 0;
	struct proto_member_set op = {
		.node = ld->self,
		.op = want ? PROTO_MEMBER_OP_HEALTH_ON : PROTO_MEMBER_OP_HEALTH_OFF,
		.reason = REASON_PARTITIONED,
	};
	struct msg_addr to = { .node = ld->self, .service = "memberd" };
	if (msg_request(ld->d.msg, &to, PROTO_MEMBER_SET, &op, 1000, health_done, ld, NULL) == 0)
		ld->health_pending = true;
	return 0;
}

bool election_leader_ok(struct leaderd *ld)
{
	carry_sync(ld);
	return ld->role == ROLE_LEADER && now_ns() < ld->lease_until && node_eligible_self(ld) &&
	       !compute_partitioned(ld);
}

uint64_t election_lease_left(const struct leaderd *ld)
{
	uint64_t now = now_ns();
	if (ld->role == ROLE_LEADER)
		return ld->lease_until == TIME_INF ? TIME_INF
		       : ld->lease_until > now ? (ld->lease_until - now) / MS : 0;
	if (ld->leader != NODE_NONE && ld->leader_heard + ld->lease > now)
		return (ld->leader_heard + ld->lease - now) / MS;
	return 0;
}

static int save_newest(struct leaderd *ld, uint64_t term)
{
	if (term <= ld->newest)
		return 0;
	uint64_t old = ld->newest;
	ld->newest = term;
	if (store_save(ld) < 0) {
		ld->newest = old;
		return -1;
	}
	member_trace(ld->trace_fd, "term %" PRIu64 " %u %" PRIu64, term, ld->self, now_ns());
	return 0;
}

static void set_leader(struct leaderd *ld, uint32_t leader, uint64_t term, const char *why)
{
	if (ld->leader == leader && ld->leader_term == term)
		return;
	if (leader == NODE_NONE)
		log_notice("no leader (term %" PRIu64 " of node %d ended: %s)", ld->leader_term,
		           ld->leader == NODE_NONE ? -1 : (int)ld->leader, why);
	else
		log_notice("leader changed: node %u, term %" PRIu64 " (%s)", leader, term, why);
	if (leader == NODE_NONE)
		ld->no_leader_since = now_ns();
	ld->lost_leader = leader == NODE_NONE ? ld->leader : NODE_NONE;
	ld->leader = leader;
	if (leader != NODE_NONE)
		ld->leader_term = term;
	subscribers_notify(ld);
}

/* ---- leading ---- */

static void on_renew_ack(struct msg_ctx *m, int status, const struct msg_in *in, void *arg);

static void send_renewals(struct leaderd *ld, uint64_t now)
{
	uint64_t seq = ++ld->renew_seq;
	ld->ring[seq % RING].seq = seq;
	ld->ring[seq % RING].sent = now;
	ld->ring[seq % RING].acks = 1; /* our own */
	ld->next_renew = now + ld->lease / 3;
	ld->stat_renewals++;
	if (ld->lock_kind == CONF_LOCK_NONE) {
		/* We count ourselves in the majority: we too must not vote for a lease. */
		ld->ack_until = max64(ld->ack_until, now + ld->lease_drift);
		ld->ack_term = ld->leader_term;
		if (majority(ld) <= 1) {
			ld->lease_until = now + ld->lease;
			member_trace(ld->trace_fd, "valid %" PRIu64 " %u %" PRIu64, ld->leader_term, ld->self,
			      ld->lease_until);
		}
	} else if (ld->lock_kind == CONF_LOCK_FILE && !ld->renew_asked) {
		ld->renew_asked = now;
		lockfile_renew(ld, now);
	} else if (ld->lock_kind == CONF_LOCK_COMMAND) {
		/* The lock never expires, but we act only within a lease of our last renewal, and
		 * the others bid only a lease after the last renewal they heard: so a leaderd that
		 * dies (its helper with it) is never overlapped by the next leader. */
		ld->lease_until = now + ld->lease;
		member_trace(ld->trace_fd, "valid %" PRIu64 " %u %" PRIu64, ld->leader_term, ld->self, ld->lease_until);
	}
	struct proto_leader_renew r = { .term = ld->leader_term, .leader = ld->self, .seq = seq,
	                                .sent_ns = now, .lease_ms = (uint32_t)(ld->lease / MS) };
	unsigned sent = 0;
	for (uint32_t i = 0; i < ld->nnodes; i++) {
		if (i == ld->self || ld->node[i].deleted || !ld->node[i].connected)
			continue;
		request_leaderd(ld, i, PROTO_LEADER_RENEW, &r, (unsigned)(ld->lease / MS), on_renew_ack, ld);
		sent++;
	}
	/* The first round announces the term: it and its acks are part of the election. */
	if (seq == ld->first_seq)
		ld->stat_election_msgs += 2 * sent;
}

static void on_renew_ack(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = arg;
	if (status != MSG_OK || in->type != PROTO_LEADER_RENEW_ACK)
		return;
	const struct proto_leader_renew_ack *a = in->body;
	if (ld->role != ROLE_LEADER || a->term != ld->leader_term) {
		if (a->newest > ld->newest)
			save_newest(ld, a->newest);
		return;
	}
	if (!a->ok) {
		if (a->newest > ld->leader_term) {
			log_warning("node %u has seen term %" PRIu64 ", newer than ours (%" PRIu64 ")",
			            in->env->src_node, a->newest, ld->leader_term);
			save_newest(ld, a->newest);
			election_step_down(ld, "a newer term exists");
		}
		return;
	}
	if (ld->lock_kind != CONF_LOCK_NONE)
		return;
	struct renewal *e = &ld->ring[a->seq % RING];
	if (e->seq != a->seq)
		return;
	if (++e->acks == majority(ld)) {
		uint64_t until = e->sent + ld->lease;
		if (until > ld->lease_until) {
			ld->lease_until = until;
			member_trace(ld->trace_fd, "valid %" PRIu64 " %u %" PRIu64, ld->leader_term, ld->self, until);
		}
	}
}

/* We won term; our lease runs to until. Saves the term before acting on it. */
static void become_leader(struct leaderd *ld, uint64_t term, uint64_t until)
{
	uint64_t now = now_ns();
	if (save_newest(ld, term) < 0) {
		election_step_down(ld, "unable to save the term");
		return;
	}
	if (now >= until) {
		log_warning("term %" PRIu64 " won too late: its lease had run out", term);
		ld->role = ROLE_FOLLOWER;
		return;
	}
	ld->role = ROLE_LEADER;
	ld->leader_term = term;
	ld->lease_until = until;
	/* A leader reads its links on its renewal timer only (on_timer): the acks of one round
	 * are read when the next goes out, a lease/3 later, so they do not wake it once each.
	 * Its lease runs from the send time of what a majority acknowledged, so reading an ack
	 * late only makes the lease look shorter for a while: never longer. */
	if (!carry_used(ld))
		msg_set_lazy_links(ld->d.msg, true);
	ld->renew_asked = 0;
	member_trace(ld->trace_fd, "start %" PRIu64 " %u %" PRIu64 " %" PRIu64, term, ld->self, now, until);
	log_notice("leading: term %" PRIu64 " (lock %s)", term, ld->d.conf.cluster_lock);
	set_leader(ld, ld->self, term, "elected");
	if (carry_used(ld)) {
		carry_update(ld); /* memberd's next heartbeats announce the term */
		return;
	}
	ld->first_seq = ld->renew_seq + 1;
	send_renewals(ld, now);
}

void election_trace_end(struct leaderd *ld, uint64_t term, uint64_t at)
{
	member_trace(ld->trace_fd, "end %" PRIu64 " %u %" PRIu64, term, ld->self, at);
}

/* The term is over, claims and all: the others may vote at once, not after our lease. */
void election_send_release(struct leaderd *ld, uint64_t term)
{
	struct proto_leader_release r = { .term = term, .leader = ld->self, .sent_ns = now_ns() };
	for (uint32_t i = 0; i < ld->nnodes; i++)
		if (i != ld->self && !ld->node[i].deleted && ld->node[i].connected) {
			send_leaderd(ld, i, PROTO_LEADER_RELEASE, &r);
			ld->stat_election_msgs++;
		}
}

void election_step_down(struct leaderd *ld, const char *why)
{
	uint64_t now = now_ns();
	if (ld->role == ROLE_LEADER) {
		/* memberd may claim for us until it has our next registration: the term ends,
		 * and the release goes out, when it confirms (carry.c). A release sent before
		 * let a new leader start while our claims still went out. */
		if (carry_used(ld)) {
			ld->ending_term = ld->leader_term;
		} else {
			election_trace_end(ld, ld->leader_term, min64(now, ld->lease_until));
			election_send_release(ld, ld->leader_term);
		}
		log_notice("stepping down from term %" PRIu64 ": %s", ld->leader_term, why);
		ld->stat_stepdowns++;
		if (ld->ack_term == ld->leader_term)
			ld->ack_until = 0;
		ld->hold_until = now + ld->et; /* let the next candidate go first */
	} else if (ld->role == ROLE_CANDIDATE) {
		log_info("bid for term %" PRIu64 " given up: %s", ld->bid_term, why);
		/* We never led this term: our own vote binds us no longer. */
		if (ld->ack_term == ld->bid_term) {
			ld->ack_until = ld->pre_bid_ack_until;
			ld->ack_term = ld->pre_bid_ack_term;
		}
	}
	if (ld->role != ROLE_FOLLOWER) {
		if (ld->lock_kind == CONF_LOCK_FILE)
			ld->role == ROLE_LEADER ? lockfile_release(ld) : lockfile_idle(ld);
		else if (ld->lock_kind == CONF_LOCK_COMMAND)
			lockcmd_release(ld);
	}
	ld->role = ROLE_FOLLOWER;
	ld->lease_until = 0;
	msg_set_lazy_links(ld->d.msg, false);
	if (ld->leader == ld->self)
		set_leader(ld, NODE_NONE, 0, why);
}

/* ---- bidding ---- */

static uint64_t bid_hold(const struct leaderd *ld)
{
	switch (ld->lock_kind) {
	case CONF_LOCK_FILE: return ld->lease_drift + 3 * ld->poll + ld->et;
	case CONF_LOCK_COMMAND: return 2000 * MS;
	}
	return ld->et;
}

static void on_bid_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg);

static void bid(struct leaderd *ld, uint64_t now)
{
	uint64_t term = max64(ld->newest, ld->voted_term) + 1;
	/* Our own vote (and the fact that we used this term number), saved first. */
	uint64_t old_term = ld->voted_term;
	uint32_t old_for = ld->voted_for;
	ld->voted_term = term;
	ld->voted_for = ld->self;
	if (store_save(ld) < 0) {
		ld->voted_term = old_term;
		ld->voted_for = old_for;
		ld->hold_until = now + ld->et;
		return;
	}
	ld->role = ROLE_CANDIDATE;
	ld->bid_term = term;
	ld->bid_sent = now;
	ld->bid_deadline = now + bid_hold(ld);
	ld->bid_retry_at = 0;
	ld->bid_refused_for_good = false;
	ld->bid_asked = ld->bid_answered = 0;
	ld->votes = 1;
	ld->elections++;
	log_notice("bidding for term %" PRIu64 " (%u candidates, %u of %u nodes reached)", term,
	           ld->ncand, ld->reachable, ld->total);
	ld->pre_bid_ack_until = ld->ack_until;
	ld->pre_bid_ack_term = ld->ack_term;
	if (ld->lock_kind == CONF_LOCK_NONE) {
		ld->ack_until = max64(ld->ack_until, now + ld->lease_drift);
		ld->ack_term = term;
	}
	struct proto_leader_bid b = { .term = term, .candidate = ld->self, .sent_ns = now,
	                              .hold_ms = (uint32_t)(bid_hold(ld) / MS) };
	for (uint32_t i = 0; i < ld->nnodes; i++) {
		if (i == ld->self || ld->node[i].deleted || !ld->node[i].connected)
			continue;
		request_leaderd(ld, i, PROTO_LEADER_BID, &b, (unsigned)(ld->et / MS), on_bid_reply, ld);
		ld->stat_election_msgs++;
		ld->bid_asked++;
	}
	switch (ld->lock_kind) {
	case CONF_LOCK_NONE:
		if (ld->votes >= majority(ld))
			become_leader(ld, term, now + ld->lease);
		break;
	case CONF_LOCK_FILE:
		lockfile_acquire(ld, term);
		break;
	case CONF_LOCK_COMMAND:
		lockcmd_acquire(ld, term);
		break;
	}
}

static void on_bid_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = arg;
	if (status != MSG_OK || in->type != PROTO_LEADER_BID_REPLY)
		return;
	const struct proto_leader_bid_reply *r = in->body;
	if (ld->role != ROLE_CANDIDATE || r->term != ld->bid_term)
		return;
	if (r->newest >= ld->bid_term) {
		save_newest(ld, r->newest);
		election_step_down(ld, "a newer term exists");
		election_evaluate(ld);
		return;
	}
	if (ld->lock_kind != CONF_LOCK_NONE)
		return;
	if (!r->granted) {
		log_info("node %u refused its vote for term %" PRIu64 ": %s", in->env->src_node,
		         r->term, r->why ? r->why : "");
		if (r->retry_ms)
			ld->bid_retry_at = max64(ld->bid_retry_at, now_ns() + (uint64_t)r->retry_ms * MS);
		else
			ld->bid_refused_for_good = true;
		/* Everyone answered and only the just started refused: give the bid up when
		 * they can vote, not at its deadline. */
		if (++ld->bid_answered == ld->bid_asked && !ld->bid_refused_for_good &&
		    ld->votes < majority(ld) && ld->bid_retry_at < ld->bid_deadline) {
			ld->bid_deadline = ld->bid_retry_at;
			election_evaluate(ld);
		}
		return;
	}
	ld->bid_answered++;
	if (++ld->votes >= majority(ld)) {
		become_leader(ld, ld->bid_term, ld->bid_sent + ld->lease);
		election_evaluate(ld);
	}
}

static void bid_reply(struct leaderd *ld, const struct msg_in *in, uint64_t term, bool granted,
                      const char *why, uint32_t retry_ms)
{
	struct proto_leader_bid_reply r = { .term = term, .granted = granted, .newest = ld->newest,
	                                    .why = why, .retry_ms = retry_ms };
	ld->stat_msgs_sent++;
	ld->stat_election_msgs++;
	msg_reply(ld->d.msg, in, PROTO_LEADER_BID_REPLY, &r);
}

void election_bid_received(struct leaderd *ld, const struct msg_in *in)
{
	const struct proto_leader_bid *b = in->body;
	carry_sync(ld); /* what memberd acknowledged for us binds the vote */
	uint64_t now = now_ns();
	if (b->candidate != in->env->src_node) {
		bid_reply(ld, in, b->term, false, "candidate is not the sender", 0);
		return;
	}
	if (b->term <= ld->newest) {
		bid_reply(ld, in, b->term, false, "stale term", 0);
		return;
	}
	ld->hold_until = max64(ld->hold_until, now + (uint64_t)b->hold_ms * MS + ld->et);
	if (ld->lock_kind != CONF_LOCK_NONE) {
		bid_reply(ld, in, b->term, false, "no vote with a cluster lock", 0);
		election_evaluate(ld);
		return;
	}
	const char *why = NULL;
	uint32_t retry_ms = 0;
	if (ld->role == ROLE_LEADER) {
		why = "I lead";
	} else if (now < ld->quiet_until) {
		why = "just started";
		retry_ms = (uint32_t)((ld->quiet_until - now) / MS) + 1;
	} else if (now < ld->ack_until) {
		why = "leader's lease may still run";
	} else if (carry_vote_waits(ld)) {
		why = "lease hand-over to memberd under way";
	} else if (ld->voted_term > b->term ||
	           (ld->voted_term == b->term && ld->voted_for != b->candidate)) {
		why = "already voted in this term";
	}
	if (!why) {
		ld->voted_term = b->term;
		ld->voted_for = b->candidate;
		if (store_save(ld) < 0) {
			why = "unable to save the vote";
		} else {
			/* Our vote is a promise like an acknowledgement: no other vote for a lease. */
			ld->ack_until = now + ld->lease_drift;
			ld->ack_term = b->term;
			ld->stat_votes++;
			if (ld->role == ROLE_CANDIDATE)
				election_step_down(ld, "voted for another candidate");
		}
	}
	bid_reply(ld, in, b->term, why == NULL, why, why ? retry_ms : 0);
	election_evaluate(ld);
}

/* ---- following ---- */

static void renew_ack(struct leaderd *ld, const struct msg_in *in, uint64_t term, uint64_t seq,
                      bool ok)
{
	struct proto_leader_renew_ack a = { .term = term, .seq = seq, .ok = ok, .newest = ld->newest };
	ld->stat_msgs_sent++;
	msg_reply(ld->d.msg, in, PROTO_LEADER_RENEW_ACK, &a);
}

/* A leader's renewal: its own message, or a claim memberd passed on. heard: when it came. */
static bool accept_renewal(struct leaderd *ld, uint32_t leader, uint64_t term, uint64_t sent_ns,
                           uint64_t heard)
{
	if (term < ld->newest || (ld->role == ROLE_LEADER && term == ld->leader_term)) {
		ld->stat_rejected++;
		log_info("renewal of term %" PRIu64 " from node %u rejected: term %" PRIu64 " is newer",
		         term, leader, ld->newest);
		return false;
	}
	if (ld->role == ROLE_LEADER)
		election_step_down(ld, "a newer term is announced");
	if (ld->role == ROLE_CANDIDATE)
		election_step_down(ld, "a leader is announced");
	if (save_newest(ld, term) < 0)
		return false; /* not durable: do not act on it */
	ld->stat_accepted++;
	member_trace(ld->trace_fd, "accept %" PRIu64 " %u %" PRIu64 " %u %" PRIu64, term, leader, sent_ns, ld->self, heard);
	ld->leader_heard = max64(ld->leader_heard, heard);
	if (ld->lock_kind == CONF_LOCK_NONE) {
		ld->ack_until = max64(ld->ack_until, heard + ld->lease_drift);
		ld->ack_term = term;
	}
	set_leader(ld, leader, term, "renewal");
	return true;
}

void election_renew_received(struct leaderd *ld, const struct msg_in *in)
{
	const struct proto_leader_renew *r = in->body;
	if (r->leader != in->env->src_node)
		return;
	bool ok = accept_renewal(ld, r->leader, r->term, r->sent_ns, now_ns());
	renew_ack(ld, in, r->term, r->seq, ok);
	election_evaluate(ld);
}

void election_lease_heard(struct leaderd *ld, const struct msg_in *in)
{
	const struct proto_lease_heard *h = in->body;
	if (in->remote || strcmp(in->env->src_service, "memberd") != 0)
		return;
	if (h->dropped) {
		/* memberd dropped our lease (it took us for hung): register anew. */
		carry_sync(ld);
		ld->carried = false;
		ld->reg_role = 0;
	} else if (h->leader == h->node) {
		/* Its claims may still be in flight after it released the term. */
		if (h->leader == ld->released_leader && h->term == ld->released_term)
			return;
		if (accept_renewal(ld, h->leader, h->term, h->sent_ns, min64(h->arrived_ns, now_ns())))
			ld->claim_seq = h->seq;
	} else if (h->term > ld->newest) {
		save_newest(ld, h->term);
		if (ld->role == ROLE_LEADER && h->term > ld->leader_term)
			election_step_down(ld, "a newer term exists");
		else if (ld->role == ROLE_CANDIDATE && h->term >= ld->bid_term)
			election_step_down(ld, "a newer term exists");
	}
	election_evaluate(ld);
}

void election_release_received(struct leaderd *ld, const struct msg_in *in)
{
	const struct proto_leader_release *r = in->body;
	if (r->leader != in->env->src_node)
		return;
	ld->released_leader = r->leader;
	ld->released_term = r->term;
	if (ld->ack_term == r->term && ld->lock_kind == CONF_LOCK_NONE)
		ld->ack_until = 0;
	if (ld->leader == r->leader && ld->leader_term == r->term) {
		/* It stopped acting before it said so: no need to wait its lease out. */
		set_leader(ld, NODE_NONE, 0, "it stepped down");
		ld->hold_until = 0;
		ld->leader_heard = 0;
	}
	election_evaluate(ld);
}

/* leaderctl elect: the leader steps down; a follower passes it on to the leader. */
static void elect_forwarded(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	/* The leader stepped down (or did not answer): our own status is the answer. */
	struct proto_envelope *env = arg;
	struct msg_in req = { .env = env };
	send_status(g_ld, &req);
	free((void *)env->src_service);
	free(env);
}

void election_elect(struct leaderd *ld, const struct msg_in *in)
{
	if (ld->role == ROLE_LEADER) {
		/* step_down holds us back an election timeout: the others' first candidate
		 * bids at once (it ranks the lost leader last), and a bid of ours beside it
		 * would split the votes, at every retry, more often the more nodes there are. */
		election_step_down(ld, "an election was asked for");
	} else if (ld->leader != NODE_NONE && !in->remote) {
		struct proto_envelope *env = calloc(1, sizeof *env);
		char *svc = strdup(in->env->src_service);
		if (env && svc) {
			*env = *in->env;
			env->src_service = svc;
			env->body = (struct proto_bytes){ 0 };
			struct proto_leader_elect e = { 0 };
			if (request_leaderd(ld, ld->leader, PROTO_LEADER_ELECT, &e, 1000, elect_forwarded,
			                    env) == 0)
				return;
		}
		free(svc);
		free(env);
	} else if (ld->role == ROLE_FOLLOWER) {
		ld->hold_until = 0;
	}
	send_status(ld, in);
	election_evaluate(ld);
}

/* ---- the view ---- */

void election_view(struct leaderd *ld, const struct proto_view *v)
{
	/* The subscription's answer and the views published meanwhile may cross: never go
	 * back to an older view of the same memberd. */
	if (ld->have_view && v->incarnation == ld->view_incarnation && v->view < ld->view) {
		election_evaluate(ld); /* a view_refresh may have waited for this answer */
		return;
	}
	/* A restarted memberd has not met its peers yet either (see sync_health). */
	if (ld->have_view && v->incarnation != ld->view_incarnation) {
		ld->grace_from = now_ns();
		/* The old memberd's acknowledgements bind us; the new one has no registration. */
		carry_sync(ld);
		ld->carried = false;
		ld->reg_role = 0;
	}
	ld->view_incarnation = v->incarnation;
	ld->have_view = true;
	ld->view = v->view;
	ld->nnodes = (unsigned)(v->nodes_count < CONF_MAX_NODES ? v->nodes_count : CONF_MAX_NODES);
	ld->total = ld->reachable = ld->ncand = 0;
	ld->self_partitioned_in_view = false;
	for (unsigned i = 0; i < ld->nnodes; i++) {
		const struct proto_node_info *n = &v->nodes[i];
		struct node_state *s = &ld->node[i];
		bool self = i == ld->self;
		bool leaderd_up = self;
		for (size_t k = 0; k < n->daemons_count; k++)
			if (n->daemons[k].name && strcmp(n->daemons[k].name, "leaderd") == 0)
				leaderd_up = self || n->daemons[k].state == PROTO_DAEMON_STATE_UP;
		s->flags = n->flags;
		s->deleted = n->flags & MEMBER_FLAG_DELETED;
		s->connected = !s->deleted && (self || (n->connected && !(n->flags & MEMBER_FLAG_DISCONNECTED)));
		s->eligible = s->connected && leaderd_up && !(n->flags & MEMBER_FLAGS_INACTIVE);
		if (self)
			s->eligible = s->eligible && ld->d.conf.leader_capable;
		if (!s->deleted)
			ld->total++;
		if (s->connected)
			ld->reachable++;
		if (s->eligible)
			ld->cand[ld->ncand++] = i;
		if (self)
			for (size_t k = 0; k < n->health_count; k++)
				if (n->health[k] && strcmp(n->health[k], REASON_PARTITIONED) == 0)
					ld->self_partitioned_in_view = true;
	}
	election_evaluate(ld);
}

/* ---- the lock helpers' reports ---- */

void election_lock_held(struct leaderd *ld, uint64_t term, uint64_t asked)
{
	if (ld->role != ROLE_CANDIDATE) {
		/* We gave the bid up meanwhile: give the lock back. */
		if (ld->lock_kind == CONF_LOCK_FILE)
			lockfile_release(ld);
		else
			lockcmd_release(ld);
		return;
	}
	if (term > ld->voted_term) {
		ld->voted_term = term;
		ld->voted_for = ld->self;
	}
	become_leader(ld, term, asked + ld->lease);
	election_evaluate(ld);
}

void election_lock_renewed(struct leaderd *ld, uint64_t asked)
{
	if (ld->renew_asked == asked)
		ld->renew_asked = 0;
	if (ld->role != ROLE_LEADER)
		return;
	uint64_t until = asked + ld->lease;
	if (until > ld->lease_until) {
		ld->lease_until = until;
		member_trace(ld->trace_fd, "valid %" PRIu64 " %u %" PRIu64, ld->leader_term, ld->self, until);
	}
}

void election_lock_lost(struct leaderd *ld, const char *why)
{
	ld->renew_asked = 0;
	if (ld->role == ROLE_LEADER || ld->role == ROLE_CANDIDATE) {
		char buf[128];
		snprintf(buf, sizeof buf, "cluster lock: %s", why);
		if (ld->role == ROLE_CANDIDATE)
			ld->hold_until = now_ns() + ld->et;
		election_step_down(ld, buf);
	}
	election_evaluate(ld);
}

/* ---- the timer ---- */

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct leaderd *ld = t->data;
	/* Leading, links are read here only (become_leader); reading may end our term. */
	if (ld->role == ROLE_LEADER)
		msg_drain_links(ld->d.msg);
	election_evaluate(ld);
}

/* What is due now; returns the next deadline. */
static uint64_t step(struct leaderd *ld, uint64_t now)
{
	uint64_t next = now + 1000 * MS;

	if (ld->role == ROLE_LEADER) {
		if (now >= ld->lease_until)
			election_step_down(ld, "lease ran out: no majority or lock renewal in time");
		else if (!node_eligible_self(ld))
			election_step_down(ld, "no longer eligible");
		else if (compute_partitioned(ld))
			election_step_down(ld, "partitioned");
		else if (!ld->d.conf.leader_capable)
			election_step_down(ld, "leader capability is off");
	}
	if (ld->role == ROLE_LEADER) {
		if (carry_used(ld))
			/* The lease timer wakes us at its end, once memberd has it. */
			return ld->carried ? now + CARRIED_LOOK : min64(next, ld->lease_until);
		if (now >= ld->next_renew)
			send_renewals(ld, now);
		next = min64(ld->next_renew, ld->lease_until);
		return next;
	}
	if (ld->role == ROLE_CANDIDATE) {
		if (now >= ld->bid_deadline) {
			int rank = rank_of_self(ld);
			election_step_down(ld, "no majority or lock in time");
			/* Jitter: a bid refused by a voter that bid at the same moment must not
			 * meet the same bid again at every retry. */
			ld->hold_until = now + ld->et * (uint64_t)(rank < 0 ? 1 : rank + 1) +
			                 (uint64_t)random() % (ld->et / 2 + 1);
			/* Refused only by voters that had just started (nodes started together, a
			 * few ms apart): they can vote by now, and the others still hold back for
			 * our bid. Bid again at once rather than after the next candidates, whose
			 * bids in the same term would meet our own vote (cold start: 1.3 s to a
			 * leader instead of 0.6). */
			if (ld->bid_retry_at && !ld->bid_refused_for_good && ld->lock_kind == CONF_LOCK_NONE)
				ld->hold_until = ld->bid_retry_at;
		} else {
			return ld->bid_deadline;
		}
	}
	/* following */
	if (ld->leader != NODE_NONE) {
		if (now >= ld->leader_heard + ld->lease)
			set_leader(ld, NODE_NONE, 0, "no renewal for a lease");
		else if (!is_candidate(ld, ld->leader)) {
			/* It still renews, so memberd may know better than our copy of the view:
			 * ask for the current one and judge on that (a view lost or late would
			 * otherwise stay). A leaderd that starts beside a memberd meeting its peers
			 * hears the leader's claim before the view in which the leader is
			 * connected: dropped at once, it bid against a live lease and learned the
			 * leader again only a second later. */
			if (view_refresh(ld))
				return min64(next, ld->leader_heard + ld->lease);
			set_leader(ld, NODE_NONE, 0, "no longer eligible in the view");
		}
		else if (carry_used(ld) && ld->carried && ld->reg_role == PROTO_LEASE_ROLE_FOLLOW &&
		         ld->reg_leader == ld->leader && ld->reg_term == ld->leader_term)
			return now + CARRIED_LOOK; /* the lease timer wakes us when it falls silent */
		else
			return min64(next, ld->leader_heard + ld->lease);
	}
	int rank = rank_of_self(ld);
	if (rank < 0 || ld->reachable * 2 < ld->total || !node_eligible_self(ld))
		return next;
	if (ld->lock_kind == CONF_LOCK_NONE && ld->reachable < majority(ld))
		return next;
	uint64_t at = ld->no_leader_since + (uint64_t)rank * ld->et;
	at = max64(at, ld->hold_until);
	at = max64(at, ld->started + ld->lease);
	/* The other voters acknowledged the same renewal a little after us: a poll interval
	 * later their windows have closed too, and the first bid can win. */
	if (ld->lock_kind == CONF_LOCK_NONE) {
		at = max64(at, ld->quiet_until);
		if (ld->ack_until)
			at = max64(at, ld->ack_until + ld->poll);
	}
	/* Whatever the lock: not within a lease of the last renewal we accepted. */
	if (ld->leader_heard)
		at = max64(at, ld->leader_heard + ld->lease_drift);
	/* A registration being handed over: where memberd's last acknowledgement left the
	 * promise comes with the reply, which evaluates again. A bid before it would count
	 * from a stale copy and meet refusals. */
	if (now >= at && carry_vote_waits(ld))
		return next;
	if (now >= at) {
		bid(ld, now);
		if (ld->role == ROLE_LEADER)
			return carry_used(ld) ? min64(next, ld->lease_until) : min64(ld->next_renew, ld->lease_until);
		return ld->bid_deadline;
	}
	return min64(next, at);
}

void election_evaluate(struct leaderd *ld)
{
	carry_sync(ld);
	uint64_t now = now_ns();
	uint64_t next = step(ld, now);
	uint64_t again = sync_health(ld);
	if (again)
		next = min64(next, again);
	carry_update(ld);
	/* libev counts a timer from the loop's time, taken when it last woke: after a slow
	 * step (a busy machine) the timer would run early, find nothing due and wake us once
	 * more. Count from now instead. */
	ev_now_update(ld->d.loop);
	now = now_ns();
	if (next <= now)
		next = now + 1 * MS;
	ev_timer_stop(ld->d.loop, &ld->timer);
	ev_timer_set(&ld->timer, (double)(next - now) / 1e9 + 0.0002, 0.);
	ev_timer_start(ld->d.loop, &ld->timer);
}

void election_start(struct leaderd *ld)
{
	uint64_t now = now_ns();
	ld->started = now;
	ld->grace_from = now;
	ld->leader = NODE_NONE;
	ld->no_leader_since = now;
	ld->quiet_until = now + ld->lease_drift;
	srandom((unsigned)(now ^ (uint64_t)getpid() << 16));
	carry_start(ld);
	ev_timer_init(&ld->timer, on_timer, 0.1, 0.);
	ld->timer.data = ld;
	ev_timer_start(ld->d.loop, &ld->timer);
}
