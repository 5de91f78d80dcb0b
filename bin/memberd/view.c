/* Membership views and their subscribers. A subscriber is a local service; the list is
 * kept in <run dir>/memberd.subscribers so a restarted memberd still serves it, and a
 * subscriber that restarts subscribes again and gets the current view at once. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "memberd.h"

void view_fill(const struct memberd *md, struct proto_node_info *nodes, size_t *count)
{
	for (uint32_t i = 0; i < md->d.nodes.count; i++) {
		const struct peer *p = &md->peer[i];
		bool self = i == md->self;
		uint32_t flags = 0;
		if (md->d.nodes.node[i].deleted)
			flags |= MEMBER_FLAG_DELETED;
		else if (!self && !p->connected)
			flags |= MEMBER_FLAG_DISCONNECTED;
		nodes[i] = (struct proto_node_info){
			.node = i,
			.address = md->d.nodes.node[i].address,
			.connected = self || p->connected,
			.flags = flags,
			.incarnation = self ? md->incarnation : p->incarnation,
		};
	}
	*count = md->d.nodes.count;
}

static void publish(struct memberd *md)
{
	static struct proto_node_info nodes[CONF_MAX_NODES];
	struct proto_view v = { .view = md->view, .this_node = md->self, .incarnation = md->incarnation,
	                        .nodes = nodes };
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

static void save_subscribers(struct memberd *md)
{
	char path[PATH_MAX + 32], buf[SUBSCRIBERS_MAX * MSG_SERVICE_MAX];
	size_t off = 0;
	for (unsigned i = 0; i < md->nsubscribers; i++)
		off += (size_t)snprintf(buf + off, sizeof buf - off, "%s\n", md->subscriber[i]);
	snprintf(path, sizeof path, "%s/memberd.subscribers", md->d.conf.run_dir);
	if (write_file_atomic(path, buf, off) < 0)
		log_warning("unable to save %s: %s", path, strerror(errno));
}

void view_load_subscribers(struct memberd *md)
{
	char path[PATH_MAX + 32], line[128];
	snprintf(path, sizeof path, "%s/memberd.subscribers", md->d.conf.run_dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	while (md->nsubscribers < SUBSCRIBERS_MAX && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		/* Clients (c.PID.N) do not outlive their process; keep only daemons. */
		if (msg_service_valid(line) && strncmp(line, "c.", 2) != 0)
			snprintf(md->subscriber[md->nsubscribers++], MSG_SERVICE_MAX, "%.31s", line);
	}
	fclose(f);
}

static void reply_view(struct memberd *md, const struct msg_in *in)
{
	static struct proto_node_info nodes[CONF_MAX_NODES];
	struct proto_view v = { .view = md->view, .this_node = md->self, .incarnation = md->incarnation,
	                        .nodes = nodes };
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
	view_fill(md, nodes, &s.nodes_count);
	msg_reply(md->d.msg, in, PROTO_MEMBER_STATUS, &s);
}
