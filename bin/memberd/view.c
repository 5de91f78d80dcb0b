/* Membership views and their subscribers. A subscriber is a local service; the list is
 * kept in <run dir>/memberd.subscribers so a restarted memberd still serves it, and a
 * subscriber that restarts subscribes again and gets the current view at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "memberd.h"

/* Node i's entry of the view; health strings point into md. */
static void node_fill(const struct memberd *md, uint32_t i, double now, struct proto_node_info *n,
                      const char **health, struct proto_daemon_info *daemons)
{
	const struct peer *p = &md->peer[i];
	const struct reasons *r = i == md->self ? &md->health : &p->health;
	bool self = i == md->self;
	uint32_t flags;
	if (self) {
		flags = state_flags(md, now);
	} else {
		/* Ban and health as counted here; the rest as the node told us. */
		flags = p->flags & ~(MEMBER_FLAG_BANNED | MEMBER_FLAG_UNHEALTHY);
		if (p->ban_until > now)
			flags |= MEMBER_FLAG_BANNED;
		if (p->health.n)
			flags |= MEMBER_FLAG_UNHEALTHY;
		if (!p->connected)
			flags |= MEMBER_FLAG_DISCONNECTED;
	}
	if (md->d.nodes.node[i].deleted)
		flags = MEMBER_FLAG_DELETED;
	for (unsigned k = 0; k < r->n; k++)
		health[k] = r->r[k];
	*n = (struct proto_node_info){
		.node = i,
		.address = md->d.nodes.node[i].address,
		.connected = self || p->connected,
		.flags = flags,
		.incarnation = self ? md->incarnation : p->incarnation,
		.ban_remaining_ms = state_ban_remaining_ms(self ? md->ban_until : p->ban_until, now),
		.health = health,
		.health_count = md->d.nodes.node[i].deleted ? 0 : r->n,
		.flaps = p->flaps,
		.daemons = daemons,
		.daemons_count = daemons_fill(self ? &md->daemons : &p->daemons, daemons),
	};
}

static void view_fill(const struct memberd *md, struct proto_node_info *nodes, size_t *count)
{
	static const char *health[CONF_MAX_NODES][REASONS_MAX];
	static struct proto_daemon_info daemons[CONF_MAX_NODES][DAEMONS_MAX];
	double now = mono_now();
	for (uint32_t i = 0; i < md->d.nodes.count; i++)
		node_fill(md, i, now, &nodes[i], health[i], daemons[i]);
	*count = md->d.nodes.count;
}

static void publish(struct memberd *md)
{
	static struct proto_node_info nodes[CONF_MAX_NODES];
	struct proto_view v = { .view = md->view, .this_node = md->self, .incarnation = md->incarnation,
	                        .nodes = nodes, .stalls = md->stat_stalls, .stall_ms = md->stall_ms };
	view_fill(md, nodes, &v.nodes_count);
	for (unsigned i = 0; i < md->nsubscribers; i++) {
		struct msg_addr to = { .node = md->self };
		memcpy(to.service, md->subscriber[i], sizeof to.service);
		if (msg_send(md->d.msg, &to, PROTO_VIEW, &v) < 0)
			log_info("view %llu not delivered to %s: %s", (unsigned long long)md->view,
			         md->subscriber[i], strerror(errno));
	}
}

void view_changed(struct memberd *md, const char *why)
{
	md->view++;
	md->stat_view_changes++;
	log_info("view %llu: %s", (unsigned long long)md->view, why);
	publish(md);
}

#define SUBSCRIBERS_FILE_MAX (SUBSCRIBERS_MAX * MSG_SERVICE_MAX)

static void save_subscribers(struct memberd *md)
{
	char buf[SUBSCRIBERS_FILE_MAX];
	size_t off = 0;
	for (unsigned i = 0; i < md->nsubscribers; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s\n", md->subscriber[i]);
	file_writer_put(md->subscribers_file, buf, off); /* off the loop, as state_save */
}

int view_load_subscribers(struct memberd *md)
{
	char path[PATH_MAX + 32], line[128];
	snprintf(path, sizeof path, "%s/memberd.subscribers", md->d.conf.run_dir);
	md->subscribers_file = file_writer_new(path, SUBSCRIBERS_FILE_MAX);
	if (!md->subscribers_file) {
		log_err("unable to start the writer of %s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (md->nsubscribers < SUBSCRIBERS_MAX && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		/* Clients (c.PID.N) do not outlive their process; keep only daemons. */
		if (msg_service_valid(line) && strncmp(line, "c.", 2) != 0)
			snprintf(md->subscriber[md->nsubscribers++], MSG_SERVICE_MAX, "%.31s", line);
	}
	fclose(f);
	return 0;
}

static void reply_view(struct memberd *md, const struct msg_in *in)
{
	static struct proto_node_info nodes[CONF_MAX_NODES];
	struct proto_view v = { .view = md->view, .this_node = md->self, .incarnation = md->incarnation,
	                        .nodes = nodes, .stalls = md->stat_stalls, .stall_ms = md->stall_ms };
	view_fill(md, nodes, &v.nodes_count);
	msg_reply(md->d.msg, in, PROTO_VIEW, &v);
}

void view_subscribe(struct memberd *md, const struct msg_in *in)
{
	const char *svc = in->env->src_service;
	if (in->remote) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED,
		                "subscribe to the memberd of your own node");
		return;
	}
	unsigned i;
	for (i = 0; i < md->nsubscribers; i++)
		if (strcmp(md->subscriber[i], svc) == 0)
			break;
	if (i == md->nsubscribers) {
		if (md->nsubscribers == SUBSCRIBERS_MAX) {
			msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_BUSY, "too many subscribers (%d)",
			                SUBSCRIBERS_MAX);
			return;
		}
		snprintf(md->subscriber[md->nsubscribers++], MSG_SERVICE_MAX, "%s", svc);
		if (strncmp(svc, "c.", 2) != 0)
			save_subscribers(md);
		log_info("%s subscribed", svc);
	}
	reply_view(md, in);
}

void view_answer(struct memberd *md, const struct msg_in *in)
{
	reply_view(md, in);
}

void status_answer(struct memberd *md, const struct msg_in *in)
{
	static struct proto_node_info nodes[CONF_MAX_NODES];
	struct proto_member_status s = {
		.view = md->view,
		.this_node = md->self,
		.incarnation = md->incarnation,
		.keepalive_interval_ms = md->d.conf.keepalive_interval_ms,
		.keepalive_limit = md->d.conf.keepalive_limit,
		.subscribers = md->nsubscribers,
		.nodes = nodes,
	};
	s.stalls = md->stat_stalls;
	view_fill(md, nodes, &s.nodes_count);
	msg_reply(md->d.msg, in, PROTO_MEMBER_STATUS, &s);
}

void member_set(struct memberd *md, const struct msg_in *in)
{
	const struct proto_member_set *op = in->body;
	char why[128];
	if (op->node == md->self) {
		if (state_apply(md, op, why, sizeof why) < 0)
			msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s", why);
		else
			status_answer(md, in);
		return;
	}
	if (in->remote) { /* forwarded once already: never loop */
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "this is node %u, not %u",
		                md->self, op->node);
		return;
	}
	if (op->node >= md->d.nodes.count || md->d.nodes.node[op->node].deleted) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u in %s", op->node,
		                md->d.conf.nodes_file);
		return;
	}
	if (!md->peer[op->node].connected) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_UNREACHABLE,
		                "node %u is disconnected: its flags change only while it is connected",
		                op->node);
		return;
	}
	/* The node that owns the flags answers. */
	struct msg_addr to = { .node = op->node, .service = "memberd" };
	msg_forward(md->d.msg, in, &to, PROTO_MEMBER_SET, op, 2000);
}
