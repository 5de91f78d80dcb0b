/* Heartbeats and failure detection. Every interval each memberd sends a heartbeat to every
 * peer's memberd; a peer silent for keepalive limit intervals is disconnected. The check
 * runs four times an interval so detection lands close to the limit. */
#include <string.h>

#include "log/log.h"
#include "memberd.h"

#define CHECKS_PER_INTERVAL 4

static void send_heartbeats(struct memberd *md)
{
	struct proto_heartbeat hb = {
		.incarnation = md->incarnation,
		.version = PROTO_VERSION,
		.seq = ++md->hb_seq,
		.nodes_digest = { md->d.nodes.digest, sizeof md->d.nodes.digest },
	};
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		if (i == md->self || md->d.nodes.node[i].deleted)
			continue;
		struct msg_addr to = { .node = i, .service = "memberd" };
		msg_send(md->d.msg, &to, PROTO_HEARTBEAT, &hb);
	}
}

static void check_silence(struct memberd *md, ev_tstamp now)
{
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		struct peer *p = &md->peer[i];
		if (!p->connected || now - p->last_heard <= md->silence_limit)
			continue;
		p->connected = false;
		log_notice("node %u (%s) disconnected: silent for %.0f ms", i, md->d.nodes.node[i].address,
		           (now - p->last_heard) * 1000);
		view_changed(md, "node disconnected");
	}
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	static unsigned n;
	struct memberd *md = t->data;
	if (n++ % CHECKS_PER_INTERVAL == 0)
		send_heartbeats(md);
	check_silence(md, ev_now(loop));
}

void heartbeat_start(struct memberd *md)
{
	ev_timer_init(&md->tick, on_tick, 0, md->interval / CHECKS_PER_INTERVAL);
	md->tick.data = md;
	ev_timer_again(md->d.loop, &md->tick);
	send_heartbeats(md);
}

void heartbeat_received(struct memberd *md, const struct msg_in *in)
{
	const struct proto_heartbeat *hb = in->body;
	uint32_t from = in->env->src_node;

	/* Heartbeats come from peers' memberd over links only; lib/msg checked the source. */
	if (!in->remote || from >= md->d.nodes.count || from == md->self) {
		md->stat_heartbeats_bad++;
		return;
	}
	if (hb->nodes_digest.len != sizeof md->d.nodes.digest ||
	    memcmp(hb->nodes_digest.data, md->d.nodes.digest, sizeof md->d.nodes.digest) != 0) {
		md->stat_heartbeats_bad++;
		log_warning("node %u has a different nodes file: ignoring it", from);
		return;
	}
	md->stat_heartbeats_rx++;
	struct peer *p = &md->peer[from];
	p->last_heard = ev_now(md->d.loop);
	p->last_seq = hb->seq;
	if (!p->connected || p->incarnation != hb->incarnation) {
		bool was = p->connected;
		p->connected = true;
		p->incarnation = hb->incarnation;
		log_notice("node %u (%s) %s, incarnation %llu", from, md->d.nodes.node[from].address,
		           was ? "restarted" : "connected", (unsigned long long)hb->incarnation);
		view_changed(md, was ? "node restarted" : "node connected");
	}
}
