/* memberd: heartbeats every peer's memberd, decides who is connected, and publishes a
 * numbered membership view to local subscribers on every change. This file only wires the
 * parts: heartbeat.c (peers, detection), view.c (views, subscribers, status). */
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "memberd.h"

static struct memberd md;

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	switch (in->type) {
	case PROTO_HEARTBEAT:
		heartbeat_received(&md, in);
		return;
	case PROTO_VIEW_SUBSCRIBE:
		view_subscribe(&md, in);
		return;
	case PROTO_VIEW_GET:
		view_answer(&md, in);
		return;
	case PROTO_MEMBER_STATUS_GET:
		status_answer(&md, in);
		return;
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "memberd does not handle %s",
		                proto_type_name(in->type));
}

int main(int argc, char **argv)
{
	struct timespec ts;
	int rc = daemon_init(&md.d, "memberd", argc, argv, MSG_LISTEN);
	if (rc >= 0)
		return rc;
	md.self = msg_self_node(md.d.msg);
	/* A new incarnation on every start: peers treat it as a view change, so a restart is
	 * never mistaken for the same process having been silent. */
	clock_gettime(CLOCK_REALTIME, &ts);
	md.incarnation = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	md.interval = md.d.conf.keepalive_interval_ms / 1000.0;
	md.silence_limit = md.interval * md.d.conf.keepalive_limit;
	msg_counter_add(md.d.msg, "view_changes", &md.stat_view_changes);
	msg_counter_add(md.d.msg, "heartbeats_rx", &md.stat_heartbeats_rx);
	msg_counter_add(md.d.msg, "heartbeats_bad", &md.stat_heartbeats_bad);
	msg_set_handler(md.d.msg, on_message, NULL);
	view_load_subscribers(&md);
	heartbeat_start(&md);
	view_changed(&md, "started");
	daemon_ready(&md.d);
	return daemon_run(&md.d);
}
