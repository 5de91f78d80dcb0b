/* ipd: the public addresses of this node, and the allocation on the leader's node. This
 * file wires the parts (see ipd.h): memberd's view (the host set, self-fencing), leaderd's
 * leader, the timers, the dispatch, the CLI's requests and their relay to other nodes. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipd.h"
#include "log/log.h"
#include "member/member.h"
#include "netif/netif.h"

static struct ipd ipd_instance;
struct ipd *g_ipd = &ipd_instance;

double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool node_reachable(struct ipd *x, uint32_t n)
{
	if (n == x->self)
		return true;
	return x->have_view && n < x->nnodes && !x->node[n].deleted && x->node[n].connected;
}

bool node_may_host(struct ipd *x, uint32_t n)
{
	if (x->manual_hosts)
		return n < x->d.nodes.count && x->host[n];
	if (!x->have_view || n >= x->nnodes)
		return false;
	const struct vnode *v = &x->node[n];
	return !v->deleted && v->connected &&
	       !(v->flags & (MEMBER_FLAGS_INACTIVE | MEMBER_FLAG_DISABLED | MEMBER_FLAG_UNHEALTHY));
}

int send_ipd(struct ipd *x, uint32_t node, unsigned type, const void *body)
{
	struct msg_addr to = { .node = node, .service = "ipd" };
	return msg_send(x->d.msg, &to, type, body);
}

void later_save(struct later *l, const struct msg_in *in)
{
	l->busy = true;
	l->node = in->env->src_node;
	snprintf(l->service, sizeof l->service, "%s", in->env->src_service);
	l->id = in->env->id;
	l->type = in->type;
}

int later_reply(struct ipd *x, struct later *l, unsigned type, const void *body)
{
	if (!l->busy)
		return 0;
	l->busy = false;
	struct proto_envelope env = { .src_node = l->node, .src_service = l->service, .id = l->id };
	struct msg_in in = { .env = &env, .type = l->type };
	return msg_reply(x->d.msg, &in, type, body);
}

void ask_realloc(struct ipd *x, const char *reason, bool rebalance)
{
	if (!x->has_leader)
		return; /* the next leader runs an allocation anyway */
	send_ipd(x, x->leader, PROTO_IP_REALLOC,
	         &(struct proto_ip_realloc){ .reason = reason, .rebalance = rebalance, .node = x->self });
}

/* ---- manual host set, kept in <run dir>/ipd.hosts ---- */

static void hosts_path(struct ipd *x, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ipd.hosts", x->d.conf.run_dir);
}

static void hosts_load(struct ipd *x)
{
	char path[PATH_MAX + 16];
	hosts_path(x, path, sizeof path);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	unsigned n;
	while (fscanf(f, "%u", &n) == 1)
		if (n < x->d.nodes.count)
			x->host[n] = 1;
	fclose(f);
}

static int hosts_save(struct ipd *x)
{
	char path[PATH_MAX + 16], buf[8192];
	size_t off = 0;
	for (uint32_t n = 0; n < x->d.nodes.count && off < sizeof buf - 16; n++)
		if (x->host[n])
			off += (size_t)snprintf(buf + off, sizeof buf - off, "%u\n", n);
	hosts_path(x, path, sizeof path);
	return write_file_atomic(path, buf, off);
}

/* ---- memberd's view ---- */

static void stalled(struct ipd *x, const char *how, double s);
static double stall_limit(const struct ipd *x);

static void view_received(struct ipd *x, const struct proto_view *v)
{
	/* A pause of the whole machine sends no signal, and our idle loop sleeps for seconds:
	 * memberd's tick is what notices it. */
	if (x->have_view && v->incarnation == x->member_incarnation && v->stalls > x->member_stalls &&
	    v->stall_ms > stall_limit(x) * 1000 && x->ready)
		stalled(x, "was paused with its node (memberd saw it) for", v->stall_ms / 1000.0);
	x->member_incarnation = v->incarnation;
	x->member_stalls = v->stalls;

	bool first = !x->have_view, changed = first;
	uint32_t nn = x->d.nodes.count;
	unsigned total = 0, reachable = 0;
	bool partitioned = false;
	static bool may[CONF_MAX_NODES];
	for (uint32_t n = 0; n < nn && n < CONF_MAX_NODES; n++)
		may[n] = node_may_host(x, n);
	for (size_t i = 0; i < v->nodes_count; i++) {
		const struct proto_node_info *p = &v->nodes[i];
		if (p->node >= nn)
			continue;
		struct vnode nv = { .deleted = p->flags & MEMBER_FLAG_DELETED, .connected = p->connected,
			            .flags = p->flags };
		nv.ipd_up = true; /* unless memberd says otherwise */
		for (size_t k = 0; k < p->daemons_count; k++)
			if (strcmp(p->daemons[k].name, "svcd") == 0) {
				nv.svcd_known = true;
				nv.svcd_up = p->daemons[k].state == PROTO_DAEMON_STATE_UP;
			} else if (strcmp(p->daemons[k].name, "ipd") == 0) {
				nv.ipd_up = p->daemons[k].state == PROTO_DAEMON_STATE_UP;
			}
		struct vnode *o = &x->node[p->node];
		if (!first && o->connected && !nv.connected && p->node != x->self) {
			log_notice("node %u disconnected", p->node);
			leader_node_lost(x, p->node);
		}
		/* A peer's ipd that hung or went (memberd's liveness ping) holds its addresses
		 * without answering: a run finds it silent, and moves them after SILENT_S. The
		 * leader learns it here rather than from polling every node. */
		if (first || o->connected != nv.connected || o->flags != nv.flags || o->deleted != nv.deleted ||
		    (p->node != x->self && o->ipd_up != nv.ipd_up))
			changed = true;
		*o = nv;
		if (!nv.deleted) {
			total++;
			if (nv.connected || p->node == x->self)
				reachable++;
		}
		if (p->node == x->self)
			for (size_t k = 0; k < p->health_count; k++)
				if (strcmp(p->health[k], "partitioned") == 0)
					partitioned = true;
	}
	x->nnodes = nn;
	x->have_view = true;
	x->total = total;
	x->reachable = reachable;
	/* Self-fencing: memberd declares peers gone after its keepalive limit, so a node cut off
	 * releases at that moment; the leader waits one keepalive interval more. With exactly
	 * half of the nodes, leaderd decides (its `partitioned` reason): the half with the leader
	 * keeps its addresses and takes the others'; fencing both halves would leave every
	 * address unhosted. */
	uint32_t self_flags = x->self < nn ? x->node[x->self].flags : 0;
	if (total > 1 && reachable * 2 < total)
		node_fence(x, "lost the majority of the nodes");
	else if (partitioned)
		node_fence(x, "partitioned (leaderd)");
	else if (self_flags & (MEMBER_FLAG_BANNED | MEMBER_FLAG_STOPPED))
		node_fence(x, self_flags & MEMBER_FLAG_BANNED ? "banned" : "stopped");
	else
		node_unfence(x);
	/* A node that may host again (back, enabled, healthy) may receive addresses in the
	 * rebalance even if it kept one: LCP2 otherwise only fails back to empty nodes. */
	for (uint32_t n = 0; n < nn && n < CONF_MAX_NODES; n++)
		if (!first && !may[n] && node_may_host(x, n))
			x->rebalance[n] = 1;
	if (changed)
		leader_trigger(x, "membership changed", 0.);
}

static void subscribe(struct ipd *x);

static void on_subscribe_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct ipd *x = arg;
	if (status != MSG_OK || in->type != PROTO_VIEW) {
		ev_timer_start(x->d.loop, &x->sub_retry);
		return;
	}
	view_received(x, in->body);
}

static void leader_received(struct ipd *x, const struct proto_leader_changed *c)
{
	bool was = x->has_leader && x->leader == x->self;
	uint64_t old_term = x->leader_term;
	x->has_leader = c->has_leader;
	x->leader = c->has_leader ? c->leader : NODE_NONE;
	x->leader_term = c->term;
	if (c->term > x->newest_term)
		x->newest_term = c->term;
	bool is = x->has_leader && x->leader == x->self;
	if (was && (!is || old_term != c->term))
		leader_lost(x);
	if (is && (!was || old_term != c->term)) {
		log_notice("leading in term %llu: taking over the allocation", (unsigned long long)c->term);
		leader_trigger(x, "new leader", 0.);
	}
	if (c->has_leader && !is && (!was || old_term != c->term))
		ask_realloc(x, "new leader", false); /* tells it this ipd is there */
}

static void on_leader_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct ipd *x = arg;
	if (status != MSG_OK || in->type != PROTO_LEADER_CHANGED) {
		ev_timer_start(x->d.loop, &x->sub_retry);
		return;
	}
	leader_received(x, in->body);
}

static void subscribe(struct ipd *x)
{
	struct msg_addr mb = { .node = x->self, .service = "memberd" };
	struct msg_addr ld = { .node = x->self, .service = "leaderd" };
	if (x->d.conf.ip_host_source == CONF_IPHOSTS_MEMBERD || !x->have_view)
		if (msg_request(x->d.msg, &mb, PROTO_VIEW_SUBSCRIBE, &(struct proto_view_subscribe){ 0 }, 1000,
		                on_subscribe_reply, x, NULL) < 0)
			ev_timer_start(x->d.loop, &x->sub_retry);
	if (msg_request(x->d.msg, &ld, PROTO_LEADER_SUBSCRIBE, &(struct proto_leader_subscribe){ 0 }, 1000,
	                on_leader_reply, x, NULL) < 0)
		ev_timer_start(x->d.loop, &x->sub_retry);
}

static void on_sub_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
	ev_timer_stop(loop, t);
	subscribe(t->data);
}

/* ---- timers ---- */

static struct later shutdown_req;
static double shutdown_deadline;

static void shutdown_maybe_done(struct ipd *x)
{
	if (!shutdown_req.busy)
		return;
	bool timeout = now_mono() >= shutdown_deadline;
	if (x->nheld && !timeout)
		return;
	char text[128];
	snprintf(text, sizeof text, x->nheld ? "timed out: %u addresses released without a taker"
	                                     : "addresses handed over", x->nheld);
	if (x->nheld)
		node_release_all(x, "shutdown failover timed out");
	later_reply(x, &shutdown_req, PROTO_IP_DONE, &(struct proto_ip_done){ .text = text });
}

/* The shutdown's answer waits for the hand-over: polled while one is pending only. */
static void on_shutdown_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	shutdown_maybe_done(t->data);
	if (!shutdown_req.busy)
		ev_timer_stop(loop, t);
}

static void on_check(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ipd *x = t->data;
	/* x->awake is this iteration's wake-up, the time base libev schedules from */
	x->check_due = x->awake + ev_timer_remaining(loop, t);
	node_check(x);
	leader_check(x);
}

/* ---- stalls ---- */

/* The longest stall of this loop that needs no repair: twice memberd's detection time. */
static double stall_limit(const struct ipd *x)
{
	double limit = 2.0 * x->d.conf.keepalive_interval_ms * x->d.conf.keepalive_limit / 1000.0;
	return limit < 1.0 ? 1.0 : limit;
}

static volatile sig_atomic_t got_cont, got_stop;

/* SIGTERM and SIGINT pass through here on their way to the skeleton's watchers: a
 * supervisor follows its SIGTERM with a SIGCONT, which must not read as a stall (a
 * restarted ipd adopts what it holds). The kernel delivers the lower-numbered SIGTERM
 * first, so got_stop is set by the time the SIGCONT is looked at. */
static void on_signal(int sig)
{
	if (sig == SIGCONT) {
		got_cont = 1;
		return;
	}
	got_stop = 1;
	ev_feed_signal(sig); /* all that libev's own handler does */
}

static void catch_signal(int sig)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigfillset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* Grows by the time the machine spent suspended, which the monotonic clock, and so every
 * timer, skips. */
static double boot_minus_mono(void)
{
	struct timespec b, m;
	clock_gettime(CLOCK_BOOTTIME, &b);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return (double)(b.tv_sec - m.tv_sec) + (b.tv_nsec - m.tv_nsec) / 1e9;
}

/* A stalled loop (the process was stopped) may have missed its own fencing: whatever it
 * holds may meanwhile be someone else's. Give it all up and ask for an allocation. */
static void stalled(struct ipd *x, const char *how, double s)
{
	log_warning("this ipd %s %.1f s: releasing what it holds", how, s);
	node_release_all(x, "stalled");
	x->table_phase = 0; /* adopt nothing, take nothing until the next allocation */
	ask_realloc(x, "stalled", false);
}

/* Runs first at every wake-up and last before every sleep, so that a stall is dealt with
 * before anything acts on what the loop knew before it. The idle loop sleeps for seconds,
 * and a long sleep cannot be told from a stop by the clock alone; what tells: a SIGCONT
 * (a stop by signal, of ipd or of its tree, always ends with one; it lasted at most the
 * time since the loop was last seen), a callback that ran past the limit (stuck, or
 * stopped within it), a suspend of the machine, and check_timer firing late. That last
 * one is the coarse backstop for what sends no signal (a paused VM whose clock jumps, the
 * cgroup freezer): it catches a pause that covers its due time. A shorter one between two
 * checks is told by memberd, whose tick sees every pause of the machine (view_received);
 * only a freeze of ipd's cgroup alone goes unseen until the check. Late is more than
 * limit/2 late, the lateness the old limit/2 timer tolerated. */
static void stall_check(struct ipd *x, bool waking)
{
	double now = now_mono(), limit = stall_limit(x), gap = now - x->awake;
	bool cont = got_cont;
	got_cont = 0;
	if (!waking) {
		if (x->ready && !got_stop && gap > limit)
			stalled(x, cont ? "was stopped for up to" : "was busy for", gap);
		x->awake = now;
		return;
	}
	double susp = boot_minus_mono(), slept = susp - x->suspended;
	x->suspended = susp;
	if (x->ready && !got_stop) {
		if (cont && gap > limit)
			stalled(x, "was stopped for up to", gap);
		else if (slept > limit)
			stalled(x, "was suspended for", slept);
		else if (now - x->check_due > limit / 2)
			stalled(x, "woke late by", now - x->check_due);
	}
	x->awake = now;
}

static void on_stall_wake(struct ev_loop *loop, ev_check *w, int revents)
{
	stall_check(w->data, true);
}

static void on_stall_sleep(struct ev_loop *loop, ev_prepare *w, int revents)
{
	stall_check(w->data, false);
}

static void stall_init(struct ipd *x)
{
	x->awake = now_mono();
	x->suspended = boot_minus_mono();
	ev_check_init(&x->stall_wake, on_stall_wake);
	x->stall_wake.data = x;
	ev_set_priority(&x->stall_wake, EV_MAXPRI); /* before any other callback */
	ev_check_start(x->d.loop, &x->stall_wake);
	ev_prepare_init(&x->stall_sleep, on_stall_sleep);
	x->stall_sleep.data = x;
	ev_prepare_start(x->d.loop, &x->stall_sleep);
	/* they must not keep the loop running on their own */
	ev_unref(x->d.loop);
	ev_unref(x->d.loop);
	catch_signal(SIGCONT);
	catch_signal(SIGTERM);
	catch_signal(SIGINT);
}

static void on_monitor(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipd *x = w->data;
	if (netif_monitor_drain(x->mon_fd) > 0)
		node_check_soon(x);
}

/* ---- CLI requests ---- */

/* Passes a request on to node's ipd and relays the answer to the asker. */
static void relay(struct ipd *x, const struct msg_in *in, uint32_t node)
{
	msg_relay(x->d.msg, in, &x->d.nodes, node, 2500);
}

static void done_reply(struct ipd *x, const struct msg_in *in, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void done_reply(struct ipd *x, const struct msg_in *in, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	msg_reply(x->d.msg, in, PROTO_IP_DONE, &(struct proto_ip_done){ .text = text });
}

static void send_status(struct ipd *x, const struct msg_in *in)
{
	static struct proto_ip_entry e[PUBADDR_MAX];
	static const char *eif[PUBADDR_MAX][PUBADDR_IFACES_MAX];
	static struct proto_ip_iface ifs[IFACES_MAX];
	static uint32_t hosts[CONF_MAX_NODES];
	static struct ipalloc_addr seen[PUBADDR_MAX];
	unsigned n = 0;
	node_scan(x);
	/* the allocation's addresses, then listed ones it lacks, then held ones */
	for (unsigned i = 0; i < x->ntable + x->pa.count + x->nheld && n < PUBADDR_MAX; i++) {
		const struct ipalloc_addr *a;
		unsigned bits;
		if (i < x->ntable) {
			a = &x->table[i].a;
			bits = x->table[i].bits;
		} else if (i < x->ntable + x->pa.count) {
			a = &x->pa.a[i - x->ntable].addr;
			bits = x->pa.a[i - x->ntable].bits;
		} else {
			a = &x->held[i - x->ntable - x->pa.count].a;
			bits = x->held[i - x->ntable - x->pa.count].bits;
		}
		unsigned k;
		for (k = 0; k < n; k++)
			if (ipalloc_addr_cmp(&seen[k], a) == 0)
				break;
		if (k < n)
			continue;
		seen[n] = *a;
		struct proto_ip_entry *r = &e[n];
		memset(r, 0, sizeof *r);
		static char text[PUBADDR_MAX][IPALLOC_ADDRSTRLEN];
		ipalloc_addr_format(a, text[n], IPALLOC_ADDRSTRLEN);
		r->address = text[n];
		r->bits = (uint8_t)bits;
		r->owner = NODE_NONE;
		for (unsigned t = 0; t < x->ntable; t++)
			if (ipalloc_addr_cmp(&x->table[t].a, a) == 0)
				r->owner = x->table[t].node;
		int h = held_find(x, a);
		r->iface = h >= 0 ? x->held[h].iface : "";
		int p = pubaddr_find_addr(&x->pa, a);
		r->listed = p >= 0;
		if (p >= 0) {
			for (unsigned j = 0; j < x->pa.a[p].nifaces; j++)
				eif[n][j] = x->pa.a[p].iface[j];
			r->ifaces = eif[n];
			r->ifaces_count = x->pa.a[p].nifaces;
		}
		n++;
	}
	for (unsigned i = 0; i < x->nifs; i++)
		ifs[i] = (struct proto_ip_iface){ .name = x->ifs[i].name, .up = x->ifs[i].up,
			                          .exists = x->ifs[i].exists };
	unsigned nh = 0;
	for (uint32_t k = 0; k < x->d.nodes.count; k++)
		if (node_may_host(x, k))
			hosts[nh++] = k;
	static const char *const alg[] = { "deterministic", "nondeterministic", "lcp2" };
	char fenced[128];
	snprintf(fenced, sizeof fenced, "%s%s%s", x->fenced, x->fenced[0] && x->leaving ? ", " : "",
	         x->leaving ? "shutting down" : "");
	struct proto_ip_status s = {
		.this_node = x->self,
		.has_leader = x->has_leader,
		.leader = x->leader,
		.term = x->leader_term,
		.addresses = e,
		.addresses_count = n,
		.ifaces = ifs,
		.ifaces_count = x->nifs,
		.host_source = x->manual_hosts ? "manual" : "memberd",
		.hosts = hosts,
		.hosts_count = nh,
		.runs = x->stat_runs,
		.last_run_ms = x->last_run_ms,
		.algorithm = alg[x->d.conf.ip_allocation],
		.fenced = fenced,
		.destroy = x->destroy,
	};
	if (x->pa_error[0])
		log_debug("public addresses: %s", x->pa_error);
	msg_reply(x->d.msg, in, PROTO_IP_STATUS, &s);
}

static void list_changed(struct ipd *x, const char *why, bool rebalance)
{
	node_scan(x);
	node_check_soon(x);
	ask_realloc(x, why, rebalance);
}

static void do_reload(struct ipd *x, const struct msg_in *in)
{
	static struct pubaddr_list old;
	old = x->pa;
	char why[sizeof x->pa_error];
	if (node_load(x, why, sizeof why) < 0 || why[0]) {
		/* node_load keeps the old list on a parse error; an unknown interface is refused
		 * here too: nothing changes until the file is right. */
		x->pa = old;
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s", why);
		log_err("reload refused: %s", why);
		/* restore the interfaces of the old list */
		node_load_list(x);
		return;
	}
	unsigned added = 0, removed = 0, same = 0;
	for (unsigned i = 0; i < x->pa.count; i++) {
		int o = pubaddr_find_addr(&old, &x->pa.a[i].addr);
		if (o < 0)
			added++;
		else
			same++;
	}
	removed = old.count - same;
	x->pa_error[0] = 0;
	log_notice("public addresses reloaded: %u added, %u removed, %u unchanged", added, removed, same);
	list_changed(x, "public addresses reloaded", added > 0);
	done_reply(x, in, "reloaded: %u added, %u removed, %u unchanged", added, removed, same);
}

static void do_add(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_add *q = in->body;
	char spec[128], what[200];
	struct pubaddr e;
	if (!q->address) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "no address");
		return;
	}
	snprintf(spec, sizeof spec, "%s/%u", q->address, q->bits);
	if (pubaddr_parse_prefix(spec, &e, what, sizeof what) < 0) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s", what);
		return;
	}
	if (!q->iface || !q->iface[0] || strlen(q->iface) >= IF_NAMESIZE || if_nametoindex(q->iface) == 0) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "interface %s does not exist", q->iface);
		return;
	}
	snprintf(e.iface[0], sizeof e.iface[0], "%s", q->iface);
	e.nifaces = 1;
	if (pubaddr_add(&x->pa, &e) < 0) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s: %s", e.text,
		                errno == EEXIST ? "already listed" : "too many addresses");
		return;
	}
	node_load_list(x);
	log_notice("%s/%u on %s added", e.text, e.bits, q->iface);
	list_changed(x, "address added", true);
	done_reply(x, in, "added %s/%u on %s", e.text, e.bits, q->iface);
}

static void do_delete(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_delete *q = in->body;
	if (!q->address || pubaddr_remove(&x->pa, q->address) < 0) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s is not listed on node %u",
		                q->address ? q->address : "", x->self);
		return;
	}
	node_load_list(x);
	log_notice("%s deleted", q->address);
	list_changed(x, "address deleted", false);
	done_reply(x, in, "deleted %s", q->address);
}

static void do_hosts(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_hosts_set *q = in->body;
	if (!x->manual_hosts) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED,
		                "the host set comes from memberd (ip host source = memberd)");
		return;
	}
	for (size_t i = 0; i < q->nodes_count; i++)
		if (q->nodes[i] >= x->d.nodes.count) {
			msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u", q->nodes[i]);
			return;
		}
	memset(x->host, 0, x->d.nodes.count);
	for (size_t i = 0; i < q->nodes_count; i++)
		x->host[q->nodes[i]] = 1;
	if (hosts_save(x) < 0)
		log_warning("unable to save the host set: %s", strerror(errno));
	log_notice("host set changed (%zu nodes)", q->nodes_count);
	leader_trigger(x, "host set changed", 0.);
	ask_realloc(x, "host set changed", false);
	done_reply(x, in, "host set: %zu nodes", q->nodes_count);
}

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	struct ipd *x = arg;
	bool from_ipd = strcmp(in->env->src_service, "ipd") == 0;
	switch (in->type) {
	case PROTO_VIEW:
		if (!in->remote)
			view_received(x, in->body);
		return;
	case PROTO_LEADER_CHANGED:
		if (!in->remote)
			leader_received(x, in->body);
		return;
	case PROTO_IP_INFO_GET:
		if (from_ipd)
			node_info_reply(x, in);
		return;
	case PROTO_IP_ASSIGN:
		if (from_ipd)
			node_assign(x, in);
		return;
	case PROTO_IP_CONNS:
		if (from_ipd && in->remote)
			node_conns_received(x, in);
		return;
	case PROTO_IP_REALLOC: {
		const struct proto_ip_realloc *q = in->body;
		if (x->has_leader && x->leader == x->self) {
			if (q->rebalance) {
				if (in->remote || from_ipd) {
					if (q->node < x->d.nodes.count)
						x->rebalance[q->node] = 1;
				} else {
					x->rebalance_all = true;
				}
			}
			char why[96];
			snprintf(why, sizeof why, "node %u: %s", q->node, q->reason ? q->reason : "");
			leader_trigger(x, why, 0.);
			if (in->env->id)
				done_reply(x, in, "allocation started on node %u", x->self);
		} else if (in->env->id && x->has_leader && !in->remote) {
			relay(x, in, x->leader);
		} else if (in->env->id) {
			msg_reply_error(m, in, PROTO_ERROR_CODE_BUSY, "no leader now: try again");
		}
		return;
	}
	case PROTO_IP_STATUS_GET: {
		const struct proto_ip_status_get *q = in->body;
		if (q->node != x->self && !in->remote)
			relay(x, in, q->node);
		else
			send_status(x, in);
		return;
	}
	case PROTO_IP_MOVE:
		if (x->has_leader && x->leader == x->self)
			leader_move(x, in);
		else if (x->has_leader && !in->remote)
			relay(x, in, x->leader);
		else
			msg_reply_error(m, in, PROTO_ERROR_CODE_BUSY, "no leader now: try again");
		return;
	case PROTO_IP_ADD:
		if (((const struct proto_ip_add *)in->body)->node != x->self && !in->remote)
			relay(x, in, ((const struct proto_ip_add *)in->body)->node);
		else
			do_add(x, in);
		return;
	case PROTO_IP_DELETE:
		if (((const struct proto_ip_delete *)in->body)->node != x->self && !in->remote)
			relay(x, in, ((const struct proto_ip_delete *)in->body)->node);
		else
			do_delete(x, in);
		return;
	case PROTO_IP_RELOAD:
		if (((const struct proto_ip_reload *)in->body)->node != x->self && !in->remote)
			relay(x, in, ((const struct proto_ip_reload *)in->body)->node);
		else
			do_reload(x, in);
		return;
	case PROTO_IP_HOSTS_SET:
		if (((const struct proto_ip_hosts_set *)in->body)->node != x->self && !in->remote)
			relay(x, in, ((const struct proto_ip_hosts_set *)in->body)->node);
		else
			do_hosts(x, in);
		return;
	case PROTO_IP_SHUTDOWN: {
		if (in->remote) {
			msg_reply_error(m, in, PROTO_ERROR_CODE_NOT_PERMITTED, "local only");
			return;
		}
		const struct proto_ip_shutdown *q = in->body;
		later_reply(x, &shutdown_req, PROTO_IP_DONE, &(struct proto_ip_done){ .text = "superseded" });
		later_save(&shutdown_req, in);
		shutdown_deadline = now_mono() + q->timeout_ms / 1000.0;
		x->leaving = true;
		log_notice("shutdown failover: handing the addresses over (%u ms at most)", q->timeout_ms);
		ask_realloc(x, "shutting down", false);
		if (!x->has_leader)
			node_release_all(x, "shutting down without a leader");
		shutdown_maybe_done(x);
		if (shutdown_req.busy && !ev_is_active(&x->shutdown_timer))
			ev_timer_start(x->d.loop, &x->shutdown_timer);
		return;
	}
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "ipd does not handle %s",
		                proto_type_name(in->type));
}

int main(int argc, char **argv)
{
	struct ipd *x = g_ipd;
	int rc = daemon_init(&x->d, "ipd", argc, argv, MSG_LISTEN);
	if (rc >= 0)
		return rc;
	x->self = msg_self_node(x->d.msg);
	x->leader = NODE_NONE;
	x->node = calloc(x->d.nodes.count, sizeof *x->node);
	x->host = calloc(x->d.nodes.count, 1);
	if (!x->node || !x->host) {
		fprintf(stderr, "ipd: fatal: out of memory\n");
		return 111;
	}
	x->manual_hosts = x->d.conf.ip_host_source == CONF_IPHOSTS_MANUAL;
	if (x->manual_hosts)
		hosts_load(x);
	if (x->d.conf.no_ip_host_on_all_disabled != 1)
		log_notice("no ip host on all disabled is obsolete (as in CTDB 4.17): ignored");
	x->nl = netif_nl_open();
	if (x->nl < 0) {
		fprintf(stderr, "ipd: fatal: unable to open rtnetlink: %s\n", strerror(errno));
		return 111;
	}
	node_init(x);
	leader_init(x);
	char why[sizeof x->pa_error];
	if (node_load(x, why, sizeof why) < 0)
		log_err("public addresses: %s: this node hosts nothing until ipctl reload succeeds", why);
	else if (why[0])
		log_err("public addresses: %s", why);
	snprintf(x->pa_error, sizeof x->pa_error, "%s", why);
	x->mon_fd = netif_monitor_open();
	if (x->mon_fd >= 0) {
		ev_io_init(&x->mon_io, on_monitor, x->mon_fd, EV_READ);
		x->mon_io.data = x;
		ev_io_start(x->d.loop, &x->mon_io);
	} else {
		log_warning("unable to watch interface changes (%s): the periodic check finds them",
		            strerror(errno));
	}
	node_scan(x);
	if (x->nheld)
		log_notice("adopting %u public addresses already on the interfaces", x->nheld);
	x->ready = true;
	msg_counter_add(x->d.msg, "runs", &x->stat_runs);
	msg_counter_add(x->d.msg, "moves", &x->stat_moves);
	msg_counter_add(x->d.msg, "takes", &x->stat_takes);
	msg_counter_add(x->d.msg, "releases", &x->stat_releases);
	msg_counter_add(x->d.msg, "take_failed", &x->stat_take_failed);
	msg_counter_add(x->d.msg, "tickles", &x->stat_tickles);
	msg_counter_add(x->d.msg, "connections_reset", &x->stat_killed);
	msg_set_handler(x->d.msg, on_message, x);
	double check_s = x->mon_fd >= 0 ? CHECK_S : CHECK_NOMON_S;
	ev_timer_init(&x->check_timer, on_check, check_s, check_s);
	x->check_timer.data = x;
	ev_timer_start(x->d.loop, &x->check_timer);
	stall_init(x);
	x->check_due = x->awake + check_s;
	ev_timer_init(&x->shutdown_timer, on_shutdown_timer, 0.05, 0.05);
	x->shutdown_timer.data = x;
	ev_timer_init(&x->sub_retry, on_sub_retry, 0.5, 0.);
	x->sub_retry.data = x;
	subscribe(x);
	daemon_ready(&x->d);
	rc = daemon_run(&x->d);
	node_free_events(x);
	return rc;
}
