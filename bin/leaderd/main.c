/* leaderd: elects one leader in numbered terms, keeps the cluster lock, bans culprits, and
 * tells local subscribers who leads. This file wires the parts (see leaderd.h), answers
 * status and keeps the subscribers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "leaderd.h"
#include "log/log.h"

static struct leaderd ld_instance;
struct leaderd *g_ld = &ld_instance;

int send_leaderd(struct leaderd *ld, uint32_t node, unsigned type, const void *body)
{
	struct msg_addr to = { .node = node, .service = "leaderd" };
	ld->stat_msgs_sent++;
	return msg_send(ld->d.msg, &to, type, body);
}

int request_leaderd(struct leaderd *ld, uint32_t node, unsigned type, const void *body,
                    unsigned timeout_ms, msg_reply_fn *cb, void *arg)
{
	struct msg_addr to = { .node = node, .service = "leaderd" };
	ld->stat_msgs_sent++;
	return msg_request(ld->d.msg, &to, type, body, timeout_ms ? timeout_ms : 1, cb, arg, NULL);
}

int forward_leaderd(struct leaderd *ld, const struct msg_in *in, uint32_t node, unsigned type,
                    const void *body, unsigned timeout_ms)
{
	struct msg_addr to = { .node = node, .service = "leaderd" };
	ld->stat_msgs_sent++;
	return msg_forward(ld->d.msg, in, &to, type, body, timeout_ms);
}

/* ---- subscribers: kept in <run dir>/leaderd.subscribers, as memberd keeps its own ---- */

static void subscribers_path(const struct leaderd *ld, char *buf, size_t len)
{
	snprintf(buf, len, "%s/leaderd.subscribers", ld->d.conf.run_dir);
}

static void subscribers_save(struct leaderd *ld)
{
	char path[PATH_MAX + 32], buf[SUBSCRIBERS_MAX * MSG_SERVICE_MAX];
	size_t off = 0;
	for (unsigned i = 0; i < ld->nsubscribers; i++)
		if (strncmp(ld->subscriber[i], "c.", 2) != 0)
			off += (size_t)snprintf(buf + off, sizeof buf - off, "%s\n", ld->subscriber[i]);
	subscribers_path(ld, path, sizeof path);
	if (write_file_atomic(path, buf, off) < 0)
		log_warning("unable to save %s: %s", path, strerror(errno));
}

static void subscribers_load(struct leaderd *ld)
{
	char path[PATH_MAX + 32], line[128];
	subscribers_path(ld, path, sizeof path);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (ld->nsubscribers < SUBSCRIBERS_MAX && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (msg_service_valid(line) && strncmp(line, "c.", 2) != 0)
			snprintf(ld->subscriber[ld->nsubscribers++], MSG_SERVICE_MAX, "%.31s", line);
	}
	fclose(f);
}

static struct proto_leader_changed current(const struct leaderd *ld)
{
	return (struct proto_leader_changed){
		.term = ld->leader == NODE_NONE ? 0 : ld->leader_term,
		.leader = ld->leader,
		.has_leader = ld->leader != NODE_NONE,
	};
}

void subscribers_notify(struct leaderd *ld)
{
	struct proto_leader_changed c = current(ld);
	for (unsigned i = 0; i < ld->nsubscribers; i++) {
		struct msg_addr to = { .node = ld->self };
		memcpy(to.service, ld->subscriber[i], sizeof to.service);
		if (msg_send(ld->d.msg, &to, PROTO_LEADER_CHANGED, &c) < 0)
			log_info("leader change not delivered to %s: %s", ld->subscriber[i], strerror(errno));
	}
}

static void subscribe(struct leaderd *ld, const struct msg_in *in)
{
	const char *svc = in->env->src_service;
	if (in->remote) {
		msg_reply_error(ld->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED,
		                "subscribe to the leaderd of your own node");
		return;
	}
	unsigned i;
	for (i = 0; i < ld->nsubscribers; i++)
		if (strcmp(ld->subscriber[i], svc) == 0)
			break;
	if (i == ld->nsubscribers) {
		if (ld->nsubscribers == SUBSCRIBERS_MAX) {
			msg_reply_error(ld->d.msg, in, PROTO_ERROR_CODE_BUSY, "too many subscribers (%d)",
			                SUBSCRIBERS_MAX);
			return;
		}
		snprintf(ld->subscriber[ld->nsubscribers++], MSG_SERVICE_MAX, "%s", svc);
		subscribers_save(ld);
		log_info("%s subscribed", svc);
	}
	struct proto_leader_changed c = current(ld);
	msg_reply(ld->d.msg, in, PROTO_LEADER_CHANGED, &c);
}

/* ---- status ---- */

const char *lock_state_name(enum lock_state s)
{
	switch (s) {
	case LOCK_IDLE: return "idle";
	case LOCK_CONTENDING: return "contending";
	case LOCK_HELD: return "held";
	case LOCK_FAILED: return "failed";
	}
	return "?";
}

void send_status(struct leaderd *ld, const struct msg_in *in)
{
	static struct proto_culprit_count culprits[CONF_MAX_NODES];
	char state[64];
	if (ld->lock_kind == CONF_LOCK_NONE)
		snprintf(state, sizeof state, "%s", ld->role == ROLE_LEADER ? "majority" : "-");
	else if (ld->lock_why[0] && ld->lock != LOCK_HELD)
		snprintf(state, sizeof state, "%s (%.40s)", lock_state_name(ld->lock), ld->lock_why);
	else
		snprintf(state, sizeof state, "%s", lock_state_name(ld->lock));
	carry_sync(ld);
	uint64_t left = election_lease_left(ld);
	struct proto_leader_status s = {
		.this_node = ld->self,
		.term = ld->newest,
		.leader = ld->leader,
		.has_leader = ld->leader != NODE_NONE,
		.role = role_name(ld->role),
		.lock = ld->d.conf.cluster_lock,
		.lock_state = state,
		.lease_ms = (uint32_t)(ld->lease / MS),
		.lease_left_ms = left == TIME_INF ? UINT32_MAX : left,
		.candidates = ld->cand,
		.candidates_count = ld->ncand,
		.culprits = culprits,
		.partitioned = ld->partitioned,
		.elections = ld->elections,
		.leader_term = ld->leader == NODE_NONE ? 0 : ld->leader_term,
	};
	culprit_fill(ld, culprits, &s.culprits_count);
	msg_reply(ld->d.msg, in, PROTO_LEADER_STATUS, &s);
}

/* ---- memberd's view ---- */

static void subscribe_view(struct leaderd *ld);

static void on_view_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = arg;
	ld->view_asked = false;
	if (status != MSG_OK || in->type != PROTO_VIEW) {
		log_info("memberd did not answer the subscription (%s): trying again",
		         msg_status_str(status));
		ev_timer_start(ld->d.loop, &ld->subscribe_retry);
		election_evaluate(ld); /* a refresh waited for this answer */
		return;
	}
	election_view(ld, in->body);
}

static void subscribe_view(struct leaderd *ld)
{
	struct msg_addr to = { .node = ld->self, .service = "memberd" };
	if (msg_request(ld->d.msg, &to, PROTO_VIEW_SUBSCRIBE, &(struct proto_view_subscribe){ 0 }, 1000,
	                on_view_reply, ld, NULL) < 0) {
		ld->view_asked = false;
		ev_timer_start(ld->d.loop, &ld->subscribe_retry);
	}
}

/* Subscribing again answers with the current view; asked at most once a second. True while
 * that answer is awaited: what our copy of the view says may be judged on it instead. */
bool view_refresh(struct leaderd *ld)
{
	uint64_t now = now_ns();
	if (ld->view_asked)
		return true;
	if (ld->view_refreshed && now - ld->view_refreshed < 1000 * MS)
		return false;
	ld->view_refreshed = now;
	log_info("asking memberd for the current view");
	ld->view_asked = true;
	subscribe_view(ld);
	return ld->view_asked;
}

static void on_subscribe_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_timer_stop(loop, t);
	subscribe_view(t->data);
}

/* ---- dispatch ---- */

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	struct leaderd *ld = arg;
	switch (in->type) {
	case PROTO_VIEW:
		if (!in->remote)
			election_view(ld, in->body);
		return;
	case PROTO_LEADER_BID:
		if (in->remote)
			election_bid_received(ld, in);
		return;
	case PROTO_LEADER_RENEW:
		if (in->remote)
			election_renew_received(ld, in);
		return;
	case PROTO_LEASE_HEARD:
		election_lease_heard(ld, in);
		return;
	case PROTO_LEADER_RELEASE:
		if (in->remote)
			election_release_received(ld, in);
		return;
	case PROTO_LEADER_SUBSCRIBE:
		subscribe(ld, in);
		return;
	case PROTO_LEADER_STATUS_GET:
		send_status(ld, in);
		return;
	case PROTO_LEADER_ELECT:
		election_elect(ld, in);
		return;
	case PROTO_CULPRIT_REPORT:
		culprit_report(ld, in);
		return;
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "leaderd does not handle %s",
		                proto_type_name(in->type));
}

/* A graceful stop: the others need not wait out our lease. */
static void on_stop(struct daemon *d)
{
	struct leaderd *ld = g_ld;
	election_step_down(ld, "leaderd stops");
	/* The release waits for memberd to stop claiming for us (a local round trip): give
	 * it up to 200 ms, then let the others wait out the lease. */
	for (int i = 0; i < 10 || (ld->ending_term && i < 100); i++) {
		ev_run(d->loop, EVRUN_NOWAIT);
		if (i >= 10) {
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	struct leaderd *ld = g_ld;
	int rc = daemon_init(&ld->d, "leaderd", argc, argv, MSG_LISTEN);
	if (rc >= 0)
		return rc;
	ld->self = msg_self_node(ld->d.msg);
	ld->helper_fd = -1;
	ld->trace_fd = -1;
	ld->lost_leader = NODE_NONE;
	const char *arg;
	char why[200];
	if (conf_lock_parse(ld->d.conf.cluster_lock, &ld->lock_kind, &arg, why, sizeof why) < 0) {
		fprintf(stderr, "leaderd: fatal: cluster lock: %s\n", why); /* conf_load checked it */
		return 100;
	}
	ld->lock_arg = arg;
	ld->lease = (uint64_t)ld->d.conf.lease_ms * MS;
	ld->et = (uint64_t)ld->d.conf.election_timeout_ms * MS;
	ld->lease_drift = ld->lease + ld->lease * ld->d.conf.drift_percent / 100;
	ld->poll = ld->lease / 10 > 10 * MS ? ld->lease / 10 : 10 * MS;
	ld->d.on_stop = on_stop;
	msg_counter_add(ld->d.msg, "renewals", &ld->stat_renewals);
	msg_counter_add(ld->d.msg, "accepted", &ld->stat_accepted);
	msg_counter_add(ld->d.msg, "rejected", &ld->stat_rejected);
	msg_counter_add(ld->d.msg, "votes", &ld->stat_votes);
	msg_counter_add(ld->d.msg, "stepdowns", &ld->stat_stepdowns);
	msg_counter_add(ld->d.msg, "elections", &ld->elections);
	msg_counter_add(ld->d.msg, "bans", &ld->stat_bans);
	msg_counter_add(ld->d.msg, "leader_msgs_sent", &ld->stat_msgs_sent);
	msg_counter_add(ld->d.msg, "election_msgs", &ld->stat_election_msgs);
	msg_set_handler(ld->d.msg, on_message, ld);
	store_load(ld);
	ld->trace_fd = member_trace_open(ld->d.conf.run_dir);
	subscribers_load(ld);
	election_start(ld);
	if (ld->lock_kind == CONF_LOCK_FILE)
		lockfile_start(ld);
	ev_timer_init(&ld->subscribe_retry, on_subscribe_retry, 0.2, 0.);
	ld->subscribe_retry.data = ld;
	subscribe_view(ld);
	log_notice("cluster lock %s, lease %u ms, election timeout %u ms%s", ld->d.conf.cluster_lock,
	           ld->d.conf.lease_ms, ld->d.conf.election_timeout_ms,
	           ld->d.conf.leader_capable ? "" : ", not a leader candidate");
	subscribers_notify(ld);
	daemon_ready(&ld->d);
	return daemon_run(&ld->d);
}
