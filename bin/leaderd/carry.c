/* With lock `none` memberd carries the lease in its heartbeats (bin/memberd/lease.c), so
 * an idle leaderd does not wake per renewal: it registers what it leads or follows
 * (lease_set), and memberd moves lease_tfd to where that lease ends. Reading the timer
 * gives lease_until (leading) or the newest claim's arrival (following); its expiry wakes
 * us. Until memberd confirms a registration, the timer may still be moved for the previous
 * one: it is not read then, nobody votes, and the reply says where the previous one ended.
 * If memberd cannot take the timer (pidfd_getfd refused), leaderd renews as before. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "leaderd.h"
#include "log/log.h"

static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

bool carry_used(const struct leaderd *ld)
{
	return ld->lock_kind == CONF_LOCK_NONE && !ld->carry_failed && ld->lease_tfd >= 0;
}

/* A claim goes out at the leader's tick, is acknowledged at the followers' a quarter of an
 * interval later and read at the leader's next: the lease is renewed 1.25 intervals after
 * its claim. What is left must cover a missed round, and never be under 250 ms (a loaded
 * machine's scheduling delays): 500 ms fits 180 ms ticks, 300 ms does not fit 100 ms ones. */
static bool carry_fits(const struct leaderd *ld)
{
	uint64_t round = (uint64_t)ld->d.conf.keepalive_interval_ms * MS * 5 / 4;
	return ld->lease >= round + (round > 250 * MS ? round : 250 * MS);
}

/* Where memberd left the timer: 0 if it is not armed (ran out, or never set). */
static uint64_t timer_deadline(const struct leaderd *ld)
{
	struct itimerspec its;
	if (timerfd_gettime(ld->lease_tfd, &its) < 0 || (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0))
		return 0;
	return now_ns() + (uint64_t)its.it_value.tv_sec * 1000000000ULL + (uint64_t)its.it_value.tv_nsec;
}

static bool released(const struct leaderd *ld, uint32_t leader, uint64_t term)
{
	return leader == ld->released_leader && term == ld->released_term;
}

/* No vote within lease x (1 + drift) of a claim acknowledged (election.c), unless its
 * leader released the term: it stopped acting before it said so, and what its memberd
 * claims until it hears of that binds nobody (or every voter would wait a lease out after
 * each release, and the bids meanwhile would be refused). */
static void promise(struct leaderd *ld, uint64_t heard, uint32_t leader, uint64_t term)
{
	if (released(ld, leader, term))
		return;
	if (heard + ld->lease_drift > ld->ack_until) {
		ld->ack_until = heard + ld->lease_drift;
		ld->ack_term = term;
	}
}

void carry_sync(struct leaderd *ld)
{
	if (!carry_used(ld) || !ld->carried)
		return;
	uint64_t at = timer_deadline(ld);
	if (!at)
		return;
	if (ld->reg_role == PROTO_LEASE_ROLE_LEAD && ld->role == ROLE_LEADER && ld->reg_term == ld->leader_term) {
		ld->lease_until = max64(ld->lease_until, at);
	} else if (ld->reg_role == PROTO_LEASE_ROLE_FOLLOW && at > ld->lease) {
		/* memberd acknowledged every claim that arrived up to at - lease: promises. */
		promise(ld, at - ld->lease, ld->reg_leader, ld->reg_term);
		if (ld->leader == ld->reg_leader && ld->leader_term == ld->reg_term)
			ld->leader_heard = max64(ld->leader_heard, at - ld->lease);
	}
}

static void on_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = g_ld;
	/* Only the reply to the newest registration counts: its tag is the generation (no
	 * allocation to leak when leaderd stops with a registration in flight). */
	if ((uintptr_t)arg != (uintptr_t)ld->reg_gen)
		return;
	struct reg_replaced c = ld->reg_replaced;
	if (status == MSG_E_REMOTE) {
		const struct proto_error *e = in->body;
		log_warning("memberd cannot carry the lease (%s): renewing from leaderd",
		            in->type == PROTO_ERROR && e->text ? e->text : "?");
		ld->carry_failed = true;
		ld->reg_role = 0;
		election_evaluate(ld);
		return;
	}
	if (status != MSG_OK || in->type != PROTO_LEASE_SET_REPLY) {
		/* memberd is restarting: ask again on the next evaluation. */
		ld->reg_role = 0;
		return;
	}
	const struct proto_lease_set_reply *r = in->body;
	ld->carried = true;
	/* Claims memberd acknowledged for the previous registration bind us as promises. */
	if (c.role == PROTO_LEASE_ROLE_FOLLOW && r->final_ns > ld->lease && !released(ld, c.leader, c.term)) {
		promise(ld, r->final_ns - ld->lease, c.leader, c.term);
		ld->leader_heard = max64(ld->leader_heard, r->final_ns - ld->lease);
	}
	if (ld->ending_term) {
		/* memberd claims for us no more: this is where the term ended. */
		uint64_t end = r->final_ns && r->final_ns < now_ns() ? r->final_ns : now_ns();
		election_trace_end(ld, ld->ending_term, end);
		election_send_release(ld, ld->ending_term);
		ld->ending_term = 0;
	}
	carry_sync(ld);
	election_evaluate(ld);
}

static void lease_register(struct leaderd *ld, unsigned role, uint64_t term, uint32_t leader,
                           uint64_t deadline)
{
	ld->reg_gen++;
	ld->reg_replaced = (struct reg_replaced){ .role = ld->carried ? ld->reg_role : 0,
	                                          .term = ld->reg_term, .leader = ld->reg_leader };
	if (ld->carried)
		ld->pend_follows = 0;
	if (ld->reg_role == PROTO_LEASE_ROLE_FOLLOW) {
		ld->pend_follows++;
		ld->pend_leader = ld->reg_leader;
		ld->pend_term = ld->reg_term;
	}
	/* Until the reply, the previous registration's acknowledgements may still go out. */
	if (ld->carried && ld->reg_role == PROTO_LEASE_ROLE_FOLLOW)
		carry_sync(ld);
	ld->carried = false;
	ld->reg_role = role;
	ld->reg_term = term;
	ld->reg_leader = leader;
	struct proto_lease_set s = { .gen = ld->reg_gen, .role = role, .term = term, .leader = leader,
	                             .deadline_ns = deadline, .seq = ld->claim_seq,
	                             .timer_fd = (uint32_t)ld->lease_tfd,
	                             .lease_ms = (uint32_t)(ld->lease / MS) };
	struct msg_addr to = { .node = ld->self, .service = "memberd" };
	if (msg_request(ld->d.msg, &to, PROTO_LEASE_SET, &s, 1000, on_reply,
	                (void *)(uintptr_t)ld->reg_gen, NULL) < 0)
		ld->reg_role = 0;
}

/* Until memberd confirms a registration, it may still acknowledge claims under one it
 * replaces, or already under the one it is given: a vote then would count from a stale
 * promise. A registration that follows nobody, replacing one that followed a released
 * term, binds nothing (so that the bids after a release are not refused). */
bool carry_vote_waits(const struct leaderd *ld)
{
	if (!carry_used(ld) || ld->carried)
		return false;
	if (ld->reg_role == PROTO_LEASE_ROLE_FOLLOW || ld->pend_follows > 1)
		return true;
	return ld->pend_follows == 1 && !released(ld, ld->pend_leader, ld->pend_term);
}

void carry_update(struct leaderd *ld)
{
	if (!carry_used(ld))
		return;
	unsigned role = PROTO_LEASE_ROLE_NONE;
	uint64_t term = ld->newest, deadline = 0;
	uint32_t leader = NODE_NONE;
	if (ld->role == ROLE_LEADER) {
		role = PROTO_LEASE_ROLE_LEAD;
		term = ld->leader_term;
		leader = ld->self;
		deadline = ld->lease_until;
	} else if (ld->role == ROLE_FOLLOWER && ld->leader != NODE_NONE && ld->leader != ld->self) {
		role = PROTO_LEASE_ROLE_FOLLOW;
		term = ld->leader_term;
		leader = ld->leader;
		deadline = ld->leader_heard + ld->lease;
	}
	if (ld->reg_role == role && ld->reg_term == term && ld->reg_leader == leader)
		return;
	lease_register(ld, role, term, leader, deadline);
}

static void on_lease_timer(struct ev_loop *loop, ev_io *w, int revents)
{
	struct leaderd *ld = w->data;
	uint64_t n;
	if (read(ld->lease_tfd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_warning("lease timer: %s", strerror(errno));
	election_evaluate(ld);
}

void carry_start(struct leaderd *ld)
{
	ld->lease_tfd = -1;
	ld->released_leader = NODE_NONE;
	if (ld->lock_kind != CONF_LOCK_NONE)
		return;
	if (!carry_fits(ld)) {
		log_notice("lease %u ms leaves too little slack over keepalive intervals of %u ms: renewing from leaderd",
		           ld->d.conf.lease_ms, ld->d.conf.keepalive_interval_ms);
		ld->carry_failed = true;
		return;
	}
	ld->lease_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ld->lease_tfd < 0) {
		log_warning("timerfd_create: %s: renewing from leaderd", strerror(errno));
		ld->carry_failed = true;
		return;
	}
	ev_io_init(&ld->lease_w, on_lease_timer, ld->lease_tfd, EV_READ);
	ld->lease_w.data = ld;
	ev_io_start(ld->d.loop, &ld->lease_w);
}
