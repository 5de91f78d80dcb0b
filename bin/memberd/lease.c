/* leaderd's lease, carried by the heartbeats.
 *
 * A lease needs a message each way every lease/3, and memberd already sends one to every
 * peer each interval: on a virtual machine the wake-ups, not the bytes, are the idle cost.
 * So leaderd registers its role here (lease_set) and memberd does the steady-state work: a
 * leader's heartbeats claim its term (each one a renewal), a follower's acknowledge the
 * newest claim heard, and memberd moves leaderd's timer (a timerfd taken from leaderd with
 * pidfd_getfd) to where the lease now ends. leaderd wakes when a lease runs out, or when
 * memberd passes on what the registration does not cover (lease_heard).
 *
 * The rules are leaderd's (bin/leaderd/election.c), applied here unchanged: a leader's
 * lease runs from the send time of the newest claim a majority acknowledged (itself
 * included); a follower acknowledges only claims of the leader and term leaderd
 * registered, and has stopped by the time leaderd reads the reply to its next
 * registration, which says where the timer was left. Silence is measured from the kernel's
 * receive time, as for failure detection. The leader's memberd ticks a quarter of an
 * interval before the others (heartbeat.c), so a claim is acknowledged in the tick that
 * reads it and the acknowledgement read at the leader's next tick. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log/log.h"
#include "memberd.h"

#define LEASE_NONE_NODE UINT32_MAX

static uint64_t ns_of(double s) { return (uint64_t)(s * 1e9); }

static void set_timer(struct lease *l, uint64_t at)
{
	/* 0 disarms it: no lease. */
	struct itimerspec its = { .it_value = { (time_t)(at / 1000000000), (long)(at % 1000000000) } };
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_err("unable to set leaderd's lease timer: %s", strerror(errno));
	l->deadline = at;
}

static void extend(struct lease *l, uint64_t until)
{
	if (l->tfd >= 0 && until > l->deadline)
		set_timer(l, until);
}

static void detach(struct memberd *md)
{
	struct lease *l = &md->lease;
	if (l->pidfd >= 0) {
		ev_io_stop(md->d.loop, &l->exit_w);
		close(l->pidfd);
	}
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->statfd >= 0)
		close(l->statfd);
	l->pidfd = l->tfd = l->statfd = -1;
	l->pid = 0;
	l->role = 0;
	l->deadline = 0;
	heartbeat_phase(md, false);
}

void lease_drop(struct memberd *md, const char *why)
{
	if (md->lease.tfd < 0)
		return;
	log_notice("leaderd is %s: its lease is no longer carried", why);
	detach(md);
	/* Read when it runs again: it registers anew. */
	struct proto_lease_heard h = { .node = md->self, .leader = LEASE_NONE_NODE, .dropped = true };
	struct msg_addr to = { .node = md->self, .service = "leaderd" };
	msg_send(md->d.msg, &to, PROTO_LEASE_HEARD, &h);
}

/* leaderd exited: nothing may be claimed or acknowledged for it any more. */
static void on_leaderd_exit(struct ev_loop *loop, ev_io *w, int revents)
{
	struct memberd *md = w->data;
	log_info("leaderd (pid %d) exited: its lease is no longer carried", (int)md->lease.pid);
	detach(md);
}

static int attach(struct memberd *md, pid_t pid, int fdno, char *why, size_t len)
{
	struct lease *l = &md->lease;
	detach(md);
	l->pidfd = pidfd_open(pid, 0);
	if (l->pidfd < 0) {
		snprintf(why, len, "pidfd_open(%d): %s", (int)pid, strerror(errno));
		return -1;
	}
	l->tfd = pidfd_getfd(l->pidfd, fdno, 0);
	struct itimerspec its;
	if (l->tfd < 0 || timerfd_gettime(l->tfd, &its) < 0) {
		snprintf(why, len, "unable to take leaderd's timer (fd %d): %s", fdno, strerror(errno));
		detach(md);
		return -1;
	}
	l->pid = pid;
	l->fdno = fdno;
	char path[48];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	l->statfd = open(path, O_RDONLY | O_CLOEXEC); /* -1: only the pings tell a hung one */
	ev_io_init(&l->exit_w, on_leaderd_exit, l->pidfd, EV_READ);
	l->exit_w.data = md;
	ev_io_start(md->d.loop, &l->exit_w);
	return 0;
}

void lease_init(struct memberd *md)
{
	struct lease *l = &md->lease;
	l->tfd = l->pidfd = l->statfd = -1;
	l->trace_fd = member_trace_open(md->d.conf.run_dir);
}

/* Following: the leader's claim seq, sent by its memberd of incarnation inc, arrived at
 * `at`; the lease runs from its arrival. A restarted memberd numbers its heartbeats from 1
 * again. */
static void follow_claim(struct lease *l, uint64_t seq, uint64_t inc, uint64_t at)
{
	if (seq > l->heard_seq || inc != l->leader_incarnation)
		l->heard_seq = seq;
	l->leader_incarnation = inc;
	extend(l, at + l->lease_ns);
}

void lease_set(struct memberd *md, const struct msg_in *in)
{
	const struct proto_lease_set *s = in->body;
	struct lease *l = &md->lease;
	char why[128];
	if (in->remote || strcmp(in->env->src_service, "leaderd") != 0 || in->pid <= 0) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED,
		                "only this node's leaderd registers a lease");
		return;
	}
	if ((l->tfd < 0 || l->pid != in->pid || l->fdno != (int)s->timer_fd) &&
	    attach(md, in->pid, (int)s->timer_fd, why, sizeof why) < 0) {
		log_warning("lease: %s", why);
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s", why);
		return;
	}
	uint64_t final = l->deadline;
	l->gen = s->gen;
	l->role = s->role;
	heartbeat_phase(md, l->role == PROTO_LEASE_ROLE_LEAD);
	l->term = s->term;
	l->leader = s->leader;
	l->lease_ns = (uint64_t)s->lease_ms * 1000000;
	l->heard_seq = s->seq;
	l->leader_incarnation = s->leader < md->d.nodes.count ? md->peer[s->leader].incarnation : 0;
	memset(l->acked, 0, sizeof l->acked);
	memset(l->ring, 0, sizeof l->ring);
	memset(l->told_term, 0, sizeof l->told_term);
	set_timer(l, s->deadline_ns);
	/* A newer claim of the same term may have come before leaderd registered the one it
	 * took up: acknowledge that one (and promise from its arrival), or the new leader's
	 * first lease, which runs from its bid, waits a round more. */
	const struct lease_seen *c = s->leader < md->d.nodes.count ? &l->seen[s->leader] : NULL;
	if (l->role == PROTO_LEASE_ROLE_FOLLOW && c && c->term == s->term && c->seq > l->heard_seq &&
	    c->inc == l->leader_incarnation)
		follow_claim(l, c->seq, c->inc, c->at);
	struct proto_lease_set_reply r = { .gen = s->gen, .final_ns = final };
	msg_reply(md->d.msg, in, PROTO_LEASE_SET_REPLY, &r);
	/* Announces the term, or acknowledges the claim leaderd took up, now, not a tick later:
	 * a new leader's first lease runs from its bid. */
	if (lease_carried(md))
		heartbeat_send_all(md, false);
}

bool lease_carried(const struct memberd *md)
{
	return md->lease.role == PROTO_LEASE_ROLE_LEAD || md->lease.role == PROTO_LEASE_ROLE_FOLLOW;
}

static unsigned voters(const struct memberd *md)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < md->d.nodes.count; i++)
		n += !md->d.nodes.node[i].deleted;
	return n ? n : 1;
}

static int by_seq_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The newest claim a majority holds (ourselves included) sets the lease's end. */
static void leader_count(struct memberd *md)
{
	struct lease *l = &md->lease;
	static uint64_t seqs[CONF_MAX_NODES];
	unsigned n = 0, need = voters(md) / 2 + 1;
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		if (md->d.nodes.node[i].deleted)
			continue;
		seqs[n++] = i == md->self ? md->hb_seq : l->acked[i];
	}
	if (n < need)
		return;
	qsort(seqs, n, sizeof seqs[0], by_seq_desc);
	uint64_t seq = seqs[need - 1];
	const struct lease_claim *c = &l->ring[seq % LEASE_RING];
	if (seq == 0 || c->seq != seq || c->sent + l->lease_ns <= l->deadline)
		return;
	extend(l, c->sent + l->lease_ns);
	member_trace(md->lease.trace_fd, "valid %" PRIu64 " %u %" PRIu64, l->term, md->self, l->deadline);
}

void lease_fill(struct memberd *md, struct proto_heartbeat *hb)
{
	struct lease *l = &md->lease;
	uint64_t now = ns_of(mono_now());
	switch (l->role) {
	case PROTO_LEASE_ROLE_NONE:
		hb->lease_term = l->term;
		hb->lease_leader = LEASE_NONE_NODE;
		break;
	case PROTO_LEASE_ROLE_LEAD:
		hb->lease_term = l->term;
		/* A lease that ran out is not renewed: leaderd is stepping down. */
		if (now >= l->deadline) {
			hb->lease_leader = LEASE_NONE_NODE;
			break;
		}
		hb->lease_leader = md->self;
		hb->lease_sent_ns = now;
		l->ring[hb->seq % LEASE_RING] = (struct lease_claim){ hb->seq, now };
		leader_count(md); /* a majority of one: each claim renews */
		break;
	case PROTO_LEASE_ROLE_FOLLOW:
		hb->lease_term = l->term;
		hb->lease_leader = l->leader;
		hb->lease_ack = l->heard_seq;
		break;
	}
}

static void pass_on(struct memberd *md, uint32_t from, const struct proto_heartbeat *hb, uint64_t arrived)
{
	struct lease *l = &md->lease;
	if (l->told_term[from] == hb->lease_term && l->told_leader[from] == hb->lease_leader)
		return;
	l->told_term[from] = hb->lease_term;
	l->told_leader[from] = hb->lease_leader;
	struct proto_lease_heard h = { .node = from, .term = hb->lease_term, .leader = hb->lease_leader,
	                               .seq = hb->seq, .sent_ns = hb->lease_sent_ns,
	                               .arrived_ns = arrived };
	struct msg_addr to = { .node = md->self, .service = "leaderd" };
	msg_send(md->d.msg, &to, PROTO_LEASE_HEARD, &h);
}

void lease_heard(struct memberd *md, uint32_t from, const struct proto_heartbeat *hb, double arrived)
{
	struct lease *l = &md->lease;
	if (hb->lease_term == 0)
		return;
	uint64_t at = ns_of(arrived);
	bool claim = hb->lease_leader == from;
	if (claim)
		l->seen[from] = (struct lease_seen){ hb->lease_term, hb->seq, md->peer[from].incarnation, at };
	if (l->role == 0)
		return;
	if (claim && l->role == PROTO_LEASE_ROLE_FOLLOW && from == l->leader && hb->lease_term == l->term) {
		follow_claim(l, hb->seq, md->peer[from].incarnation, at);
		member_trace(md->lease.trace_fd, "accept %" PRIu64 " %u %" PRIu64 " %u %" PRIu64, hb->lease_term, from,
		      hb->lease_sent_ns, md->self, at);
		return;
	}
	if (!claim && l->role == PROTO_LEASE_ROLE_LEAD && hb->lease_leader == md->self &&
	    hb->lease_term == l->term) {
		if (hb->lease_ack > l->acked[from] && hb->lease_ack <= md->hb_seq) {
			l->acked[from] = hb->lease_ack;
			leader_count(md);
		}
		return;
	}
	if (claim || hb->lease_term > l->term)
		pass_on(md, from, hb, at);
}

/* While carrying: a stopped leaderd (SIGSTOP, a debugger) must not go on leading
 * or following through us until the pings find it hung, seconds later. Its state letter
 * is read without waking it. */
void lease_tick(struct memberd *md)
{
	struct lease *l = &md->lease;
	char buf[128];
	/* About every half second: a stop seen that much later is as good, for fewer reads. */
	unsigned every = md->interval < 0.25 ? (unsigned)(0.5 / md->interval) : 1;
	if (l->statfd < 0 || !lease_carried(md) || l->ticks++ % every)
		return;
	ssize_t n = pread(l->statfd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* the name may hold anything, even ") " */
	if (p && (p[2] == 'T' || p[2] == 't'))
		lease_drop(md, "stopped");
}

/* Once a second: what leaderd was told and did not take up is told again. */
void lease_chores(struct memberd *md)
{
	memset(md->lease.told_term, 0, sizeof md->lease.told_term);
}
