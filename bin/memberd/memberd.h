/* memberd: who is connected. State shared by its files. */
#ifndef MEMBERD_H
#define MEMBERD_H

#include "daemon/daemon.h"
#include "member/member.h"

#define SUBSCRIBERS_MAX 64

struct peer {
	bool connected;
	uint64_t incarnation;   /* the peer's, from its heartbeats */
	ev_tstamp last_heard;   /* ev_now() of its last heartbeat */
	uint64_t last_seq;
};

struct memberd {
	struct daemon d;
	uint32_t self;
	uint64_t incarnation;
	uint64_t view;
	uint64_t hb_seq;
	double interval;        /* seconds */
	double silence_limit;   /* seconds of silence before a peer is disconnected */
	ev_timer tick;
	struct peer peer[CONF_MAX_NODES];
	char subscriber[SUBSCRIBERS_MAX][MSG_SERVICE_MAX];
	unsigned nsubscribers;
	uint64_t stat_view_changes, stat_heartbeats_rx, stat_heartbeats_bad;
};

/* heartbeat.c */
void heartbeat_start(struct memberd *md);
void heartbeat_received(struct memberd *md, const struct msg_in *in);

/* view.c */
void view_changed(struct memberd *md, const char *why);
void view_fill(const struct memberd *md, struct proto_node_info *nodes, size_t *count);
void view_load_subscribers(struct memberd *md);
void view_subscribe(struct memberd *md, const struct msg_in *in);
void view_answer(struct memberd *md, const struct msg_in *in);
void status_answer(struct memberd *md, const struct msg_in *in);

#endif
