/* ipd on the leader's node: allocation runs. A run gathers every reachable node's ip_info,
 * computes the owners with lib/ipalloc over the host set, then sends the allocation in two
 * acknowledged phases: release (every node gives up what is not its own), then take. A
 * periodic check gathers the same and starts a run only when what the nodes hold differs
 * from the allocation (an address held twice, not at all, or by a node that may no longer
 * host it). The run is a small state machine: idle -> gather -> release -> take -> idle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipd.h"
#include "log/log.h"
#include "member/member.h"

static const char *const run_names[] = { "idle", "gather", "release", "take" };

#define GATHER_MS  1000
#define RELEASE_MS 40000  /* releaseip scripts may run (svcd's event timeout is 30 s) */
#define TAKE_MS    40000
#define EXCLUDE_S  30.0   /* a node whose takeip failed is not given that address again */
/* A connected node whose ipd does not answer may still hold addresses: nothing moves for
 * this long (its ipd may be restarting), then it counts as hosting nothing. */
#define SILENT_S   3.0

static bool am_leader(const struct ipd *x)
{
	return x->has_leader && x->leader == x->self;
}

static void set_state(struct ipd *x, enum run_state s)
{
	log_debug("run %llu: %s -> %s", (unsigned long long)x->run_no, run_names[x->run], run_names[s]);
	x->run = s;
}

static void on_run_timer(struct ev_loop *loop, ev_timer *t, int revents);

void leader_init(struct ipd *x)
{
	uint32_t n = x->d.nodes.count;
	x->ni = calloc(n, sizeof *x->ni);
	x->hold_until = calloc(n, sizeof *x->hold_until);
	x->rebalance = calloc(n, 1);
	x->silent_since = calloc(n, sizeof *x->silent_since);
	if (!x->ni || !x->hold_until || !x->rebalance || !x->silent_since) {
		log_err("out of memory");
		exit(111);
	}
	ev_timer_init(&x->run_timer, on_run_timer, 0., 0.);
	x->run_timer.data = x;
}

void leader_trigger(struct ipd *x, const char *why, double delay)
{
	if (!am_leader(x))
		return;
	log_info("allocation wanted: %s", why);
	x->run_force = true;
	if (x->run != RUN_IDLE) {
		x->run_again = true;
		return;
	}
	double now = now_mono();
	if (now + delay < x->not_before)
		delay = x->not_before - now;
	if (ev_is_active(&x->run_timer)) {
		double left = ev_timer_remaining(x->d.loop, &x->run_timer);
		if (left <= delay)
			return;
		ev_timer_stop(x->d.loop, &x->run_timer);
	}
	ev_timer_set(&x->run_timer, delay > 0 ? delay : 0., 0.);
	ev_timer_start(x->d.loop, &x->run_timer);
}

void leader_node_lost(struct ipd *x, uint32_t n)
{
	/* Its addresses move one keepalive interval after the detection, by which time the node
	 * itself (if it lives, cut off) has released them. */
	double until = now_mono() + x->d.conf.keepalive_interval_ms / 1000.0;
	if (n < x->d.nodes.count)
		x->hold_until[n] = until;
	if (until > x->not_before)
		x->not_before = until;
	/* A run waiting for that node's answer would wait for its deadline: start again
	 * without it (late answers to the old run are ignored). */
	if (x->run != RUN_IDLE && am_leader(x)) {
		log_info("run %llu abandoned: node %u disconnected", (unsigned long long)x->run_no, n);
		x->run_no++;
		set_state(x, RUN_IDLE);
		leader_trigger(x, "a node was lost during a run", 0.);
	}
}

void leader_lost(struct ipd *x)
{
	if (x->run != RUN_IDLE)
		log_notice("run %llu abandoned: no longer the leader", (unsigned long long)x->run_no);
	set_state(x, RUN_IDLE);
	ev_timer_stop(x->d.loop, &x->run_timer);
	x->have_alloc = false;
	x->run_again = false;
}

/* ---- gather ---- */

static void ninfo_reset(struct ninfo *n)
{
	n->answered = n->ready = n->leaving = false;
	n->nknown = n->nheld = 0;
}

static void compute(struct ipd *x);

#define ARG(n) ((void *)(uintptr_t)((x->run_no << 11) | (n)))
#define ARG_NODE(a) ((uint32_t)((uintptr_t)(a) & 0x7ff))
#define ARG_RUN(a) ((uint64_t)((uintptr_t)(a) >> 11))

static void on_info(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct ipd *x = g_ipd;
	uint32_t n = ARG_NODE(arg);
	if (ARG_RUN(arg) != x->run_no || x->run != RUN_GATHER)
		return;
	x->waiting--;
	if (status == MSG_OK && in->type == PROTO_IP_INFO) {
		const struct proto_ip_info *r = in->body;
		struct ninfo *ni = &x->ni[n];
		if (!ni->known) {
			ni->known = calloc(PUBADDR_MAX, sizeof *ni->known);
			ni->held = calloc(PUBADDR_MAX, sizeof *ni->held);
			if (!ni->known || !ni->held) {
				log_err("out of memory");
				exit(111);
			}
		}
		ni->answered = true;
		ni->ready = r->ready;
		ni->leaving = r->leaving;
		for (size_t i = 0; i < r->known_count && ni->nknown < PUBADDR_MAX; i++) {
			if (ipalloc_addr_parse(&ni->known[ni->nknown].a, r->known[i].address) < 0)
				continue;
			ni->known[ni->nknown].bits = r->known[i].bits;
			ni->known[ni->nknown++].avail = r->known[i].available;
		}
		for (size_t i = 0; i < r->held_count && ni->nheld < PUBADDR_MAX; i++)
			if (ipalloc_addr_parse(&ni->held[ni->nheld], r->held[i].address) == 0)
				ni->nheld++;
	} else {
		log_info("node %u's ipd did not answer (%s): it hosts nothing in this run", n,
		         msg_status_str(status));
	}
	if (x->waiting == 0)
		compute(x);
}

static void start_run(struct ipd *x)
{
	if (!am_leader(x) || x->run != RUN_IDLE)
		return;
	x->run_no++;
	x->run_started = now_mono();
	set_state(x, RUN_GATHER);
	x->waiting = 0;
	for (uint32_t n = 0; n < x->d.nodes.count; n++) {
		ninfo_reset(&x->ni[n]);
		if (!node_reachable(x, n))
			continue;
		struct msg_addr to = { .node = n, .service = "ipd" };
		x->waiting++;
		if (msg_request(x->d.msg, &to, PROTO_IP_INFO_GET,
		                &(struct proto_ip_info_get){ .term = x->leader_term }, GATHER_MS, on_info, ARG(n),
		                NULL) < 0)
			x->waiting--;
	}
	if (x->waiting == 0)
		compute(x);
}

static void on_run_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	start_run(t->data);
}

void leader_check(struct ipd *x)
{
	if (!am_leader(x) || x->run != RUN_IDLE || ev_is_active(&x->run_timer))
		return;
	if (now_mono() < x->not_before)
		return;
	start_run(x);
}

/* ---- compute ---- */

static struct ipalloc_addr addrs[PUBADDR_MAX];
static unsigned abits[PUBADDR_MAX];
static bool conflict[PUBADDR_MAX];
static uint32_t current[PUBADDR_MAX], owner[PUBADDR_MAX], nholders[PUBADDR_MAX];
static unsigned naddrs;

static int merged_find(const struct ipalloc_addr *a)
{
	for (unsigned i = 0; i < naddrs; i++)
		if (ipalloc_addr_cmp(&addrs[i], a) == 0)
			return (int)i;
	return -1;
}

static void log_ipalloc(void *arg, enum ipalloc_log_level level, const char *msg)
{
	if (level <= IPALLOC_LOG_WARNING)
		log_warning("ipalloc: %s", msg);
	else
		log_debug("ipalloc: %s", msg);
}

static void send_phase(struct ipd *x, enum proto_ip_phase phase);

static bool excluded(struct ipd *x, uint32_t n, const struct ipalloc_addr *a)
{
	double now = now_mono();
	for (unsigned i = 0; i < x->nexcl;) {
		if (x->excl[i].until < now) {
			x->excl[i] = x->excl[--x->nexcl];
			continue;
		}
		if (x->excl[i].node == n && ipalloc_addr_cmp(&x->excl[i].a, a) == 0)
			return true;
		i++;
	}
	return false;
}

static void done(struct ipd *x)
{
	set_state(x, RUN_IDLE);
	if (x->run_again) {
		x->run_again = false;
		leader_trigger(x, "changes during the last run", 0.);
	}
}

static void compute(struct ipd *x)
{
	if (!am_leader(x)) {
		set_state(x, RUN_IDLE);
		return;
	}
	uint32_t nn = x->d.nodes.count;
	naddrs = 0;
	double now = now_mono();
	for (uint32_t n = 0; n < nn; n++) {
		if (x->ni[n].answered || !node_reachable(x, n)) {
			x->silent_since[n] = 0;
			continue;
		}
		if (!x->silent_since[n])
			x->silent_since[n] = now;
		if (now - x->silent_since[n] < SILENT_S) {
			log_info("node %u is connected but its ipd did not answer: nothing moves yet", n);
			set_state(x, RUN_IDLE);
			leader_trigger(x, "a silent node", 0.5);
			return;
		}
	}
	/* The merged list: every address a node that answered lists. */
	for (uint32_t n = 0; n < nn; n++)
		for (unsigned k = 0; k < x->ni[n].nknown; k++) {
			int i = merged_find(&x->ni[n].known[k].a);
			if (i < 0) {
				if (naddrs == PUBADDR_MAX)
					continue;
				i = (int)naddrs++;
				addrs[i] = x->ni[n].known[k].a;
				abits[i] = x->ni[n].known[k].bits;
				conflict[i] = false;
			} else if (abits[i] != x->ni[n].known[k].bits && !conflict[i]) {
				char t[IPALLOC_ADDRSTRLEN];
				ipalloc_addr_format(&addrs[i], t, sizeof t);
				conflict[i] = true;
				if (strcmp(x->conflict_logged, t) != 0) {
					log_err("%s is listed with prefix /%u on one node and /%u on node %u: "
					          "it is not hosted until the public_addresses files agree",
					          t, abits[i], x->ni[n].known[k].bits, n);
					snprintf(x->conflict_logged, sizeof x->conflict_logged, "%s", t);
				}
			}
		}
	uint8_t *known = calloc((size_t)naddrs * nn + 1, 1);
	uint32_t *flags = calloc(nn, sizeof *flags);
	uint32_t *force = calloc(nn, sizeof *force);
	if (!known || !flags || !force) {
		log_err("out of memory");
		exit(111);
	}
	uint32_t nforce = 0;
	for (uint32_t n = 0; n < nn; n++) {
		struct ninfo *ni = &x->ni[n];
		if (!ni->answered || !ni->ready)
			flags[n] = IPALLOC_DISCONNECTED;
		else if (ni->leaving)
			flags[n] = IPALLOC_STOPPED;
		else if (!node_may_host(x, n))
			flags[n] = x->have_view && n < x->nnodes && (x->node[n].flags & IPALLOC_INELIGIBLE)
			                   ? x->node[n].flags & IPALLOC_INELIGIBLE
			                   : IPALLOC_PERMANENTLY_DISABLED;
		if (x->rebalance_all || x->rebalance[n])
			force[nforce++] = n;
		for (unsigned k = 0; k < ni->nknown; k++) {
			int i = merged_find(&ni->known[k].a);
			if (i >= 0 && ni->known[k].avail && !conflict[i] && !excluded(x, n, &addrs[i]))
				known[(size_t)i * nn + n] = 1;
		}
	}
	/* Current owners: the highest-numbered holder that lists it (CTDB's rule). */
	for (unsigned i = 0; i < naddrs; i++) {
		current[i] = IPALLOC_UNASSIGNED;
		nholders[i] = 0;
	}
	for (uint32_t n = 0; n < nn; n++)
		for (unsigned k = 0; k < x->ni[n].nheld; k++) {
			int i = merged_find(&x->ni[n].held[k]);
			if (i < 0)
				continue;
			nholders[i]++;
			bool lists = false;
			for (unsigned j = 0; j < x->ni[n].nknown; j++)
				if (ipalloc_addr_cmp(&x->ni[n].known[j].a, &addrs[i]) == 0)
					lists = true;
			if (lists)
				current[i] = n;
		}

	/* The periodic check: nothing to do when every address is where the allocation says,
	 * once, and its owner may still host it. */
	if (!x->run_force && x->have_alloc) {
		bool same = naddrs == x->nalloc;
		for (unsigned i = 0; same && i < naddrs; i++) {
			unsigned a;
			for (a = 0; a < x->nalloc; a++)
				if (ipalloc_addr_cmp(&x->alloc[a].a, &addrs[i]) == 0)
					break;
			if (a == x->nalloc) {
				same = false;
				break;
			}
			uint32_t o = x->alloc[a].node;
			if (o == IPALLOC_UNASSIGNED) {
				/* unhosted: fine only if nobody holds it and nobody could host it (nobody
				 * may take it under these two switches: a new run would change nothing) */
				bool could = false;
				for (uint32_t n = 0; n < nn; n++)
					if (!flags[n] && known[(size_t)i * nn + n] && !x->d.conf.disable_ip_failover &&
					    !x->d.conf.no_ip_takeover)
						could = true;
				same = nholders[i] == 0 && !could;
			} else {
				same = nholders[i] == 1 && current[i] == o && o < nn && !flags[o] &&
				       known[(size_t)i * nn + o];
			}
		}
		if (same) {
			free(known);
			free(flags);
			free(force);
			set_state(x, RUN_IDLE);
			return;
		}
		log_notice("consistency check: the addresses differ from the allocation: new run");
	}
	x->run_force = false;

	struct ipalloc_input in = {
		.algorithm = x->d.conf.ip_allocation == CONF_IPALLOC_DETERMINISTIC     ? IPALLOC_DETERMINISTIC
		             : x->d.conf.ip_allocation == CONF_IPALLOC_NONDETERMINISTIC ? IPALLOC_NONDETERMINISTIC
		                                                                        : IPALLOC_LCP2,
		.tunables = { .no_ip_failback = x->d.conf.no_ip_failback,
			      .no_ip_takeover = x->d.conf.no_ip_takeover,
			      .disable_ip_failover = x->d.conf.disable_ip_failover },
		.num_nodes = nn,
		.node_flags = flags,
		.num_addrs = naddrs,
		.addrs = addrs,
		.current = current,
		.known = known,
		.force_rebalance = force,
		.num_force_rebalance = nforce,
		.log = log_ipalloc,
		.log_level = IPALLOC_LOG_WARNING,
	};
	int rc = naddrs ? ipalloc_run(&in, owner) : 0;
	free(known);
	free(flags);
	free(force);
	if (rc < 0) {
		log_err("allocation failed: %s", strerror(errno));
		set_state(x, RUN_IDLE);
		return;
	}
	x->rebalance_all = false;
	memset(x->rebalance, 0, nn);
	if (x->move.set) {
		int i = merged_find(&x->move.a);
		uint32_t to = x->move.node;
		char t[IPALLOC_ADDRSTRLEN];
		ipalloc_addr_format(&x->move.a, t, sizeof t);
		if (i >= 0 && to < nn && x->ni[to].answered && !x->ni[to].leaving && node_may_host(x, to)) {
			bool lists = false;
			for (unsigned k = 0; k < x->ni[to].nknown; k++)
				if (ipalloc_addr_cmp(&x->ni[to].known[k].a, &addrs[i]) == 0 && x->ni[to].known[k].avail)
					lists = true;
			if (lists) {
				owner[i] = to;
				x->stat_moves++;
				log_notice("moving %s to node %u, as asked", t, to);
			} else {
				log_warning("cannot move %s to node %u: it does not list it (or its interface is down)",
				            t, to);
			}
		} else {
			log_warning("cannot move %s to node %u: it may not host addresses now", t, to);
		}
		x->move.set = false;
	}
	x->nalloc = 0;
	unsigned moved = 0;
	for (unsigned i = 0; i < naddrs; i++) {
		struct owner *o = &x->alloc[x->nalloc++];
		o->a = addrs[i];
		ipalloc_addr_format(&addrs[i], o->text, sizeof o->text);
		o->bits = abits[i];
		o->node = conflict[i] ? IPALLOC_UNASSIGNED : owner[i];
		if (o->node != current[i] || nholders[i] != (o->node != IPALLOC_UNASSIGNED))
			moved++;
	}
	x->have_alloc = true;
	x->stat_runs++;
	log_info("run %llu (term %llu): %u addresses, %u to change", (unsigned long long)x->run_no,
	         (unsigned long long)x->leader_term, naddrs, moved);
	send_phase(x, PROTO_IP_PHASE_RELEASE);
}

/* ---- the two phases ---- */

static void on_ack(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct ipd *x = g_ipd;
	uint32_t n = ARG_NODE(arg);
	if (ARG_RUN(arg) != x->run_no || (x->run != RUN_RELEASE && x->run != RUN_TAKE))
		return;
	x->waiting--;
	if (status != MSG_OK || in->type != PROTO_IP_ASSIGN_ACK) {
		log_warning("node %u did not acknowledge the %s phase (%s%s%s)", n, run_names[x->run],
		            msg_status_str(status), status == MSG_E_REMOTE ? ": " : "",
		            status == MSG_E_REMOTE ? ((const struct proto_error *)in->body)->text : "");
		x->run_again = true;
	} else {
		const struct proto_ip_assign_ack *a = in->body;
		for (size_t i = 0; i < a->failed_count; i++) {
			struct ipalloc_addr ad;
			if (ipalloc_addr_parse(&ad, a->failed[i]) < 0)
				continue;
			log_warning("node %u failed to take %s: it is not given it again for %.0f s", n,
			            a->failed[i], EXCLUDE_S);
			if (x->nexcl < 64) {
				x->excl[x->nexcl].a = ad;
				x->excl[x->nexcl].node = n;
				x->excl[x->nexcl++].until = now_mono() + EXCLUDE_S;
			}
			x->run_again = true;
		}
	}
	if (x->waiting)
		return;
	if (x->run == RUN_RELEASE) {
		send_phase(x, PROTO_IP_PHASE_TAKE);
		return;
	}
	x->last_run_ms = (uint64_t)((now_mono() - x->run_started) * 1000);
	log_info("run %llu done in %llu ms", (unsigned long long)x->run_no,
	         (unsigned long long)x->last_run_ms);
	done(x);
}

static void send_phase(struct ipd *x, enum proto_ip_phase phase)
{
	static struct proto_ip_owner owners[PUBADDR_MAX];
	for (unsigned i = 0; i < x->nalloc; i++)
		owners[i] = (struct proto_ip_owner){ .address = x->alloc[i].text, .node = x->alloc[i].node,
			                             .bits = (uint8_t)x->alloc[i].bits };
	struct proto_ip_assign q = { .term = x->leader_term, .run = x->run_no, .phase = phase,
		                     .owners = owners, .owners_count = x->nalloc };
	set_state(x, phase == PROTO_IP_PHASE_RELEASE ? RUN_RELEASE : RUN_TAKE);
	x->waiting = 0;
	for (uint32_t n = 0; n < x->d.nodes.count; n++) {
		if (!x->ni[n].answered)
			continue;
		struct msg_addr to = { .node = n, .service = "ipd" };
		x->waiting++;
		if (msg_request(x->d.msg, &to, PROTO_IP_ASSIGN, &q,
		                phase == PROTO_IP_PHASE_RELEASE ? RELEASE_MS : TAKE_MS, on_ack, ARG(n), NULL) < 0)
			x->waiting--;
	}
	if (x->waiting == 0) {
		if (phase == PROTO_IP_PHASE_RELEASE)
			send_phase(x, PROTO_IP_PHASE_TAKE);
		else
			done(x);
	}
}

void leader_move(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_move *q = in->body;
	struct ipalloc_addr a;
	if (!q->address || ipalloc_addr_parse(&a, q->address) < 0) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_FAILED, "not an address");
		return;
	}
	if (q->node >= x->d.nodes.count) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u", q->node);
		return;
	}
	x->move.set = true;
	x->move.a = a;
	x->move.node = q->node;
	leader_trigger(x, "ipctl move", 0.);
	char text[64];
	snprintf(text, sizeof text, "moving %s to node %u", q->address, q->node);
	msg_reply(x->d.msg, in, PROTO_IP_DONE, &(struct proto_ip_done){ .text = text });
}
