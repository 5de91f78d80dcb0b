/* Heartbeats and failure detection. Every interval each memberd sends a heartbeat to every
 * peer's memberd; a peer silent for keepalive limit intervals is disconnected, checked by a
 * timer set to the moment the first connected peer's silence runs out.
 *
 * Heartbeats go out on the wall clock's interval boundaries, so on a cluster with synchronised
 * clocks they arrive together and a node wakes a few times an interval, not once per peer:
 * idle cost is wake-ups, and a wake-up is expensive on a virtual machine.
 *
 * Never wrong under load: before blaming a peer, memberd reads what already waits on its
 * own sockets, and when its own loop ran more than an interval late (SIGSTOP/SIGCONT, a VM
 * pause, swap), the silence was ours: every peer's silence count starts again. Silence is
 * measured on CLOCK_MONOTONIC, so a wall-clock step changes nothing. */
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

/* Arms the deadline timer for the first connected peer whose silence will run out. */
static void arm_deadline(struct memberd *md, double now)
{
	double first = 0;
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		const struct peer *p = &md->peer[i];
		double due = p->last_heard + md->silence_limit;
		if (p->connected && (first == 0 || due < first))
			first = due;
	}
	ev_timer_stop(md->d.loop, &md->deadline);
	if (first == 0)
		return;
	/* A millisecond past, so the peer is late, not just due. */
	ev_timer_set(&md->deadline, first - now > 0 ? first - now + 0.001 : 0.001, 0);
	ev_timer_start(md->d.loop, &md->deadline);
}

static void check_silence(struct memberd *md)
{
	double now = mono_now();
	bool drained = false;
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		struct peer *p = &md->peer[i];
		if (!p->connected || now - p->last_heard <= md->silence_limit)
			continue;
		if (!drained) {
			/* Its heartbeat may be waiting in our own queue: read that first. */
			msg_drain(md->d.msg);
			drained = true;
			if (!p->connected || now - p->last_heard <= md->silence_limit)
				continue;
		}
		char why[64];
		snprintf(why, sizeof why, "silent for %.0f ms", (now - p->last_heard) * 1000);
		peer_disconnect(md, i, why);
	}
	arm_deadline(md, now);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	check_silence(t->data);
}

static void on_tick(struct ev_loop *loop, ev_periodic *t, int revents)
{
	struct memberd *md = t->data;
	double now = mono_now();
	double late = now - md->last_tick - md->interval;
	md->last_tick = now;
	if (late > md->interval) {
		/* We were stopped, not our peers: restart every silence count. */
		md->stat_stalls++;
		log_warning("own loop ran %.0f ms late: restarting peers' silence counts", late * 1000);
		for (uint32_t i = 0; i < md->d.nodes.count; i++)
			if (md->peer[i].connected)
				md->peer[i].last_heard = now;
	}
	heartbeat_send_all(md, false);
	check_silence(md);
}

void heartbeat_start(struct memberd *md)
{
	ev_periodic_init(&md->tick, on_tick, 0, md->interval, NULL);
	md->tick.data = md;
	ev_periodic_start(md->d.loop, &md->tick);
	ev_init(&md->deadline, on_deadline);
	md->deadline.data = md;
	md->last_tick = mono_now();
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
	p->last_heard = now;
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
	if (changed)
		view_changed(md, "node state changed");
	if (!ev_is_active(&md->deadline))
		arm_deadline(md, now);
}
