/* Heartbeats and failure detection, on one tick per interval.
 *
 * Idle cost is wake-ups, not work: on a virtual machine a wake-up costs ~100 us. So memberd
 * wakes once per interval, at a fixed phase of the wall clock's interval boundaries, and
 * does everything at that tick: it reads what its peers sent (links are read only then,
 * MSG_LAZY_LINKS, so an arrival never wakes it), sends its own heartbeat to every peer, and
 * once a second pings the local daemons and does its housekeeping. Only local requests
 * (CLIs, subscribers) wake it between ticks.
 *
 * Silence runs from the moment the peer's last heartbeat arrived (the kernel's receive
 * time, not the tick that read it), and a peer is disconnected once it has been silent for
 * keepalive limit intervals, less half an interval for jitter: not at a tick, but at that
 * very moment (a timer set at each tick to the earliest peer's limit, which never fires
 * while every peer talks: the next tick comes first and moves it). With the defaults,
 * 180 ms x 3, a peer is disconnected 270 to 450 ms after it stopped, and never for less than
 * 450 ms of silence (270 ms beyond one interval).
 *
 * Phases: the node whose memberd carries the leader's lease (lease.c) ticks on the
 * boundaries, every other one a quarter of an interval later. So a follower reads a claim
 * in the tick just after it went out and acknowledges it at once, and the leader reads the
 * acknowledgement at its next tick: a lease is renewed 1.25 intervals after its claim.
 *
 * Never wrong under load: memberd reads its links before it blames anyone, and when its
 * own loop ran more than an interval late (SIGSTOP/SIGCONT, a VM pause, swap) the silence
 * was ours: every peer's silence count starts again. Silence is measured on
 * CLOCK_MONOTONIC, so a wall-clock step changes nothing (it moves the ticks only). */
#include <string.h>

#include "log/log.h"
#include "memberd.h"


void heartbeat_send_all(struct memberd *md, bool leaving)
{
	static char health[REASONS_MAX][REASON_LEN];
	static const char *reasons[REASONS_MAX];
	static struct proto_daemon_info daemons[DAEMONS_MAX];
	double now = mono_now();
	for (unsigned i = 0; i < md->health.n; i++) {
		memcpy(health[i], md->health.r[i], REASON_LEN);
		reasons[i] = health[i];
	}
	struct proto_heartbeat hb = {
		.incarnation = md->incarnation,
		.version = PROTO_VERSION,
		.seq = ++md->hb_seq,
		.nodes_digest = { md->d.nodes.digest, sizeof md->d.nodes.digest },
		.flags = state_flags(md, now),
		.ban_remaining_ms = state_ban_remaining_ms(md->ban_until, now),
		.health = reasons,
		.health_count = md->health.n,
		.leaving = leaving,
		.daemons = daemons,
		.daemons_count = daemons_fill(&md->daemons, daemons),
	};
	lease_fill(md, &hb);
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		if (i == md->self || md->d.nodes.node[i].deleted)
			continue;
		struct msg_addr to = { .node = i, .service = "memberd" };
		msg_send(md->d.msg, &to, PROTO_HEARTBEAT, &hb);
	}
}

void peer_disconnect(struct memberd *md, uint32_t i, const char *why)
{
	md->peer[i].connected = false;
	log_notice("node %u (%s) disconnected: %s", i, md->d.nodes.node[i].address, why);
	view_changed(md, "node disconnected");
}

static void check_silence(struct memberd *md, double now)
{
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		struct peer *p = &md->peer[i];
		if (!p->connected || now - p->last_heard <= md->silence_limit)
			continue;
		char why[64];
		snprintf(why, sizeof why, "silent for %.0f ms", (now - p->last_heard) * 1000);
		peer_disconnect(md, i, why);
	}
}

/* The silence timer, to the earliest connected peer's limit. */
static void arm_silence(struct memberd *md, double now)
{
	double at = 0;
	bool any = false;
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		const struct peer *p = &md->peer[i];
		if (p->connected && (!any || p->last_heard < at)) {
			at = p->last_heard;
			any = true;
		}
	}
	ev_timer_stop(md->d.loop, &md->silence);
	if (!any)
		return;
	double in = at + md->silence_limit - now;
	/* libev counts from the loop's time, taken when it woke: count from now. */
	ev_now_update(md->d.loop);
	ev_timer_set(&md->silence, (in > 0 ? in : 0) + 0.0005, 0.);
	ev_timer_start(md->d.loop, &md->silence);
}

static void on_silence(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct memberd *md = t->data;
	double now = mono_now();
	/* Our own tick is overdue too: we were stopped, not the peer; the tick says so. */
	if (now - md->last_tick > md->interval * 1.5)
		return;
	msg_drain_links(md->d.msg);
	check_silence(md, now);
	arm_silence(md, now);
}

static void on_tick(struct ev_loop *loop, ev_periodic *t, int revents)
{
	struct memberd *md = t->data;
	double now = mono_now();
	double late = now - md->last_tick - md->interval;
	/* Half an interval early is due: ticks jitter, and a second is not a whole number of
	 * them for every interval. */
	bool chores = now + md->interval / 2 >= md->chores_at;
	if (chores) {
		md->chores_at = now + CHORES_S;
		state_housekeeping(md);
		lease_chores(md);
		/* Before the heartbeats: a daemon pinged on our own socket (one that was not
		 * up) may answer while we work, and is then read in this same wake-up. */
		daemons_ping(md);
		md->chores_round++;
	}
	/* What the peers sent since the last tick (the local socket wakes us on its own). */
	msg_drain_links(md->d.msg);
	md->last_tick = now;
	if (late > md->interval) {
		/* We were stopped, not our peers: restart every silence count. */
		md->stat_stalls++;
		md->stall_ms = (uint32_t)(late * 1000);
		log_warning("own loop ran %.0f ms late: restarting peers' silence counts", late * 1000);
		for (uint32_t i = 0; i < md->d.nodes.count; i++)
			if (md->peer[i].connected)
				md->peer[i].last_heard = now;
		/* ipd sleeps for seconds: it learns of a paused machine from us. */
		view_changed(md, "own loop stalled");
	}
	lease_tick(md);
	heartbeat_send_all(md, false);
	check_silence(md, now);
	arm_silence(md, now);
}

void heartbeat_phase(struct memberd *md, bool lead)
{
	double phase = lead ? 0 : md->interval / 4;
	if (phase == md->phase)
		return;
	md->phase = phase;
	ev_periodic_stop(md->d.loop, &md->tick);
	ev_periodic_set(&md->tick, phase, md->interval, NULL);
	ev_periodic_start(md->d.loop, &md->tick);
}

void heartbeat_start(struct memberd *md)
{
	ev_periodic_init(&md->tick, on_tick, 0, md->interval, NULL);
	md->tick.data = md;
	md->phase = -1;
	heartbeat_phase(md, false); /* starts the tick */
	ev_init(&md->silence, on_silence);
	md->silence.data = md;
	md->last_tick = mono_now();
	md->chores_at = md->last_tick;
	heartbeat_send_all(md, false);
}

static bool reasons_equal(const struct reasons *a, const struct proto_heartbeat *hb)
{
	if (a->n != hb->health_count)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (strcmp(a->r[i], hb->health[i]) != 0)
			return false;
	return true;
}

void heartbeat_received(struct memberd *md, const struct msg_in *in)
{
	const struct proto_heartbeat *hb = in->body;
	uint32_t from = in->env->src_node;
	double now = mono_now();

	/* Heartbeats come from peers' memberd over links only; lib/msg checked the source. */
	if (!in->remote || from >= md->d.nodes.count || from == md->self) {
		md->stat_heartbeats_bad++;
		return;
	}
	if (hb->version < PROTO_VERSION_MIN || hb->version > PROTO_VERSION) {
		md->stat_heartbeats_bad++;
		log_warning("node %u speaks protocol version %u; this node accepts %d to %d", from,
		            hb->version, PROTO_VERSION_MIN, PROTO_VERSION);
		return;
	}
	if (md->d.nodes.node[from].deleted || !nodes_accept(md, from, hb)) {
		md->stat_heartbeats_bad++;
		return;
	}
	md->stat_heartbeats_rx++;
	struct peer *p = &md->peer[from];
	if (hb->leaving) {
		p->left = true;
		if (p->connected)
			peer_disconnect(md, from, "it is stopping");
		return;
	}
	/* Heartbeats of one peer may come over two links (each side opens one): keep the newest. */
	if (!p->connected || in->arrived > p->last_heard)
		p->last_heard = in->arrived;
	p->last_seq = hb->seq;
	bool changed = false;
	if (!p->connected || p->incarnation != hb->incarnation) {
		bool was = p->connected;
		if (!was && !p->left && p->incarnation == hb->incarnation) {
			/* Back with the same incarnation: we were wrong to drop it. */
			p->flaps++;
			md->stat_flaps++;
			log_warning("node %u flapped: back with the same incarnation", from);
		}
		p->connected = true;
		p->left = false;
		p->incarnation = hb->incarnation;
		log_notice("node %u (%s) %s, incarnation %llu", from, md->d.nodes.node[from].address,
		           was ? "restarted" : "connected", (unsigned long long)hb->incarnation);
		changed = true;
	}
	/* Only the transitions of a ban count as changes, not its countdown. */
	bool banned_before = p->ban_until > now;
	p->ban_until = hb->ban_remaining_ms ? now + hb->ban_remaining_ms / 1000.0 : 0;
	if (p->flags != hb->flags || banned_before != (p->ban_until > now) || !reasons_equal(&p->health, hb)) {
		p->flags = hb->flags;
		p->health.n = 0;
		for (size_t i = 0; i < hb->health_count && i < REASONS_MAX; i++)
			snprintf(p->health.r[p->health.n++], REASON_LEN, "%s", hb->health[i]);
		changed = true;
	}
	if (daemons_take(&p->daemons, hb->daemons, hb->daemons_count))
		changed = true;
	/* The view first: leaderd judges a claim by the view it has, and the claim in the
	 * heartbeat that (re)connects a leader must find it connected there, or leaderd drops
	 * the leader it has just heard (both go to leaderd's socket, in this order). */
	if (changed)
		view_changed(md, "node state changed");
	lease_heard(md, from, hb, in->arrived);
}
