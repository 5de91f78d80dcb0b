/* Liveness of this node's other daemons, so the cluster can tell "node gone" from "its
 * leaderd hung". The daemons are the services of the node's scan directory (laid out by
 * `shoal node start`, read again every RESCAN_S); each is pinged from the
 * heartbeat tick: an answer is up, a missing socket is down (the supervisor is restarting
 * it), no answer within its period is hung, and a record in <run dir>/failed/ (which
 * state_housekeeping() turns into a health reason) means the supervisor left it down.
 *
 * A daemon that is up is pinged every PING_UP_ROUNDS seconds from a second endpoint of
 * memberd's (a client socket, c.PID.N) that is read only at the next such round: so its
 * answer, which comes after memberd went back to sleep, does not wake it. A daemon that is
 * not up is pinged every second from memberd's own socket, so that it is seen up again at
 * once. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "memberd.h"

#define RESCAN_S 10 /* seconds: the scan directory changes only when a node is laid out */
/* An up daemon is pinged every this many rounds (seconds): each ping wakes it, and an idle
 * node's cost is its wake-ups. So a daemon stuck in a loop is seen hung within 15 to 17 s,
 * as soon as CTDB's monitor event would; a stopped leaderd, the one that matters at once,
 * lease.c sees within half a second. One that is not up is pinged every round. */
#define PING_UP_ROUNDS 15

static const char *state_name(unsigned s)
{
	const char *n = proto_daemon_state_name(s);
	return n ? n : "unknown";
}

static void set_state(struct memberd *md, struct daemon_entry *e, unsigned state)
{
	if (e->state == state)
		return;
	log_notice("daemon %s: %s -> %s", e->name, state_name(e->state), state_name(state));
	e->state = state;
	/* A hung leaderd must not go on leading or following through our heartbeats. */
	if (strcmp(e->name, "leaderd") == 0 && state != PROTO_DAEMON_STATE_UP)
		lease_drop(md, state_name(state));
	view_changed(md, "daemon state changed");
	heartbeat_send_all(md, false);
}

static struct memberd *g_md;

static struct msg_ctx *pinger; /* MSG_LAZY_LOCAL; md->d.msg if it could not be had */

static void on_pong(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct daemons *ds = &g_md->daemons;
	uint64_t id = (uint64_t)(uintptr_t)arg;
	for (unsigned i = 0; i < ds->n; i++) {
		struct daemon_entry *e = &ds->d[i];
		if (!e->pending || e->ping_id != id)
			continue;
		e->pending = false;
		set_state(g_md, e, status == MSG_OK ? PROTO_DAEMON_STATE_UP : PROTO_DAEMON_STATE_HUNG);
		return;
	}
}

static bool is_failed(const struct memberd *md, const char *name)
{
	char reason[REASON_LEN];
	snprintf(reason, sizeof reason, REASON_FAILED_FMT, name);
	for (unsigned i = 0; i < md->health.n; i++)
		if (strcmp(md->health.r[i], reason) == 0)
			return true;
	return false;
}

/* The names in the scan directory, keeping what we knew of each. */
static void rescan(struct memberd *md)
{
	char dir[PATH_MAX + 16];
	struct daemons next = { 0 };
	snprintf(dir, sizeof dir, "%s/scan", md->d.conf.run_dir);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)) && next.n < DAEMONS_MAX) {
			if (de->d_name[0] == '.' || strcmp(de->d_name, "memberd") == 0 ||
			    !msg_service_valid(de->d_name))
				continue;
			struct daemon_entry *e = &next.d[next.n++];
			snprintf(e->name, sizeof e->name, "%.31s", de->d_name);
			e->state = PROTO_DAEMON_STATE_DOWN;
			for (unsigned i = 0; i < md->daemons.n; i++)
				if (strcmp(md->daemons.d[i].name, e->name) == 0)
					*e = md->daemons.d[i];
		}
		closedir(d);
	}
	bool changed = next.n != md->daemons.n;
	md->daemons = next;
	if (changed) {
		view_changed(md, "daemon list changed");
		heartbeat_send_all(md, false);
	}
}

void daemons_ping(struct memberd *md)
{
	static uint64_t next_id = 1;
	if (md->chores_round % RESCAN_S == 0)
		rescan(md);
	bool up_round = md->chores_round % PING_UP_ROUNDS == 0;
	if (up_round)
		msg_drain_local(pinger); /* the answers to the last round */
	for (unsigned i = 0; i < md->daemons.n; i++) {
		struct daemon_entry *e = &md->daemons.d[i];
		if (e->pending && (up_round || !e->lazy)) {
			/* Still no answer after a whole period. */
			msg_cancel(e->lazy ? pinger : md->d.msg, e->req_id);
			e->pending = false;
			set_state(md, e, PROTO_DAEMON_STATE_HUNG);
		}
		if (is_failed(md, e->name)) {
			set_state(md, e, PROTO_DAEMON_STATE_FAILED);
			continue;
		}
		if (e->pending || (e->state == PROTO_DAEMON_STATE_UP && !up_round))
			continue;
		struct msg_addr to = { .node = md->self };
		snprintf(to.service, sizeof to.service, "%s", e->name);
		uint64_t tag = next_id++;
		struct proto_ping p = { .seq = tag };
		/* Lazily, the answer is read (or the request cancelled) at the next round; its
		 * deadline is only for a memberd that stalled. */
		e->lazy = e->state == PROTO_DAEMON_STATE_UP && pinger != md->d.msg;
		double round = md->interval > CHORES_S ? md->interval : CHORES_S;
		unsigned ms = (unsigned)((e->lazy ? (PING_UP_ROUNDS + 2) * round : CHORES_S) * 1000) - 50;
		if (msg_request(e->lazy ? pinger : md->d.msg, &to, PROTO_PING, &p, ms, on_pong,
		                (void *)(uintptr_t)tag, &e->req_id) < 0) {
			set_state(md, e, PROTO_DAEMON_STATE_DOWN);
			continue;
		}
		e->pending = true;
		e->ping_id = tag;
	}
}

void daemons_start(struct memberd *md)
{
	char err[256];
	g_md = md;
	pinger = msg_open(md->d.loop, &md->d.conf, &md->d.nodes, NULL, MSG_LAZY_LOCAL, err, sizeof err);
	if (!pinger) {
		log_warning("liveness pings from memberd's own socket: %s", err);
		pinger = md->d.msg;
	}
}

void daemons_stop(struct memberd *md)
{
	if (pinger != md->d.msg)
		msg_close(pinger);
	pinger = NULL;
}

size_t daemons_fill(const struct daemons *d, struct proto_daemon_info *infos)
{
	for (unsigned i = 0; i < d->n; i++)
		infos[i] = (struct proto_daemon_info){ .name = d->d[i].name, .state = d->d[i].state };
	return d->n;
}

bool daemons_take(struct daemons *d, const struct proto_daemon_info *infos, size_t n)
{
	bool changed = n != d->n;
	if (n > DAEMONS_MAX)
		n = DAEMONS_MAX;
	for (size_t i = 0; i < n; i++) {
		struct daemon_entry *e = &d->d[i];
		const char *name = infos[i].name ? infos[i].name : "";
		unsigned state = infos[i].state;
		/* Every heartbeat brings the list, and it hardly ever changes. */
		if (e->state == state && strcmp(e->name, name) == 0)
			continue;
		changed = true;
		snprintf(e->name, sizeof e->name, "%s", name);
		e->state = state;
	}
	d->n = (unsigned)n;
	return changed;
}
