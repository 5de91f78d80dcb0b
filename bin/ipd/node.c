/* ipd, this node's side: interfaces, the addresses held, the leader's assignments (release
 * before take), events and hooks through svcd, self-fencing, the consistency check,
 * connections copied to the peers and tickle ACKs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipd.h"
#include "log/log.h"
#include "netif/netif.h"

/* ---- lookups ---- */

int held_find(const struct ipd *x, const struct ipalloc_addr *a)
{
	for (unsigned i = 0; i < x->nheld; i++)
		if (ipalloc_addr_cmp(&x->held[i].a, a) == 0)
			return (int)i;
	return -1;
}

int iface_find(const struct ipd *x, const char *name)
{
	for (unsigned i = 0; i < x->nifs; i++)
		if (strcmp(x->ifs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int table_find(const struct ipd *x, const struct ipalloc_addr *a)
{
	for (unsigned i = 0; i < x->ntable; i++)
		if (ipalloc_addr_cmp(&x->table[i].a, a) == 0)
			return (int)i;
	return -1;
}

/* The first interface of a listed address that is up, or NULL. */
static const struct iface *usable_iface(const struct ipd *x, const struct pubaddr *p)
{
	for (unsigned k = 0; k < p->nifaces; k++) {
		int i = iface_find(x, p->iface[k]);
		if (i >= 0 && x->ifs[i].exists && x->ifs[i].up)
			return &x->ifs[i];
	}
	return NULL;
}

static bool available(const struct ipd *x, const struct pubaddr *p)
{
	return x->ready && !x->leaving && !x->fenced[0] && usable_iface(x, p);
}

/* ---- loading public_addresses ---- */

static void ifaces_from_list(struct ipd *x)
{
	struct iface old[IFACES_MAX];
	unsigned nold = x->nifs;
	memcpy(old, x->ifs, sizeof old);
	x->nifs = 0;
	for (unsigned i = 0; i < x->pa.count; i++)
		for (unsigned k = 0; k < x->pa.a[i].nifaces; k++) {
			if (iface_find(x, x->pa.a[i].iface[k]) >= 0 || x->nifs == IFACES_MAX)
				continue;
			struct iface *f = &x->ifs[x->nifs++];
			memset(f, 0, sizeof *f);
			memcpy(f->name, x->pa.a[i].iface[k], sizeof f->name);
			for (unsigned j = 0; j < nold; j++)
				if (strcmp(old[j].name, f->name) == 0)
					*f = old[j];
			if (netif_promote_secondaries(f->name) < 0 && errno != ENOENT)
				log_warning("unable to set promote_secondaries on %s: %s", f->name, strerror(errno));
		}
}

void node_load_list(struct ipd *x)
{
	ifaces_from_list(x);
}

int node_load(struct ipd *x, char *why, size_t len)
{
	static struct pubaddr_list next;
	struct conf_error e;
	char buf[PATH_MAX + 300];
	why[0] = 0;
	if (pubaddr_load(&next, x->d.conf.public_addresses, true, &e) < 0) {
		snprintf(why, len, "%s", conf_error_str(&e, buf, sizeof buf));
		return -1;
	}
	if (access(x->d.conf.public_addresses, F_OK) < 0)
		log_warning("%s does not exist: this node hosts no public address",
		            x->d.conf.public_addresses);
	/* An unknown interface is reported, not fatal: it may appear later, and its addresses
	 * are unavailable meanwhile. */
	if (pubaddr_check_ifaces(&next, x->d.conf.public_addresses, &e) < 0)
		snprintf(why, len, "%s", conf_error_str(&e, buf, sizeof buf));
	x->pa = next;
	ifaces_from_list(x);
	return 0;
}

/* ---- the kernel's view ---- */

struct scan_ctx {
	struct ipd *x;
	struct held *out;
	unsigned n;
};

static bool is_public(const struct ipd *x, const struct ipalloc_addr *a)
{
	return pubaddr_find_addr(&x->pa, a) >= 0 || table_find(x, a) >= 0 || held_find(x, a) >= 0;
}

static void scan_one(void *arg, int ifindex, const struct ipalloc_addr *a, unsigned bits)
{
	struct scan_ctx *s = arg;
	if (s->n == PUBADDR_MAX || !is_public(s->x, a))
		return;
	struct held *h = &s->out[s->n++];
	h->a = *a;
	ipalloc_addr_format(a, h->text, sizeof h->text);
	h->bits = bits;
	h->ifindex = ifindex;
	if (!if_indextoname((unsigned)ifindex, h->iface))
		snprintf(h->iface, sizeof h->iface, "?%d", ifindex);
}

void node_scan(struct ipd *x)
{
	for (unsigned i = 0; i < x->nifs; i++) {
		struct iface *f = &x->ifs[i];
		bool was = f->exists && f->up;
		netif_link_state(f->name, &f->exists, &f->up);
		f->index = f->exists ? (int)if_nametoindex(f->name) : 0;
		if (x->ready && was != (f->exists && f->up)) {
			log_notice("interface %s is %s", f->name, f->exists ? (f->up ? "up" : "down") : "gone");
			ask_realloc(x, f->up ? "an interface came up" : "an interface went down", false);
		}
	}
	static struct held next[PUBADDR_MAX];
	struct scan_ctx s = { x, next, 0 };
	if (netif_addr_dump(x->nl, scan_one, &s) < 0) {
		log_err("unable to read the interfaces' addresses: %s", strerror(errno));
		return;
	}
	memcpy(x->held, next, s.n * sizeof next[0]);
	x->nheld = s.n;
	node_conns_watch(x);
}

/* ---- events and hooks through svcd ---- */

static bool svcd_up(struct ipd *x)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/sock/svcd", x->d.conf.run_dir);
	bool up = access(path, F_OK) == 0;
	if (up && x->have_view && x->self < x->nnodes && x->node[x->self].svcd_known)
		up = x->node[x->self].svcd_up;
	if (!up && !x->svcd_warned) {
		log_notice("svcd does not run: ip events count as succeeded");
		x->svcd_warned = true;
	} else if (up && x->svcd_warned) {
		log_notice("svcd runs: ip events go through it");
		x->svcd_warned = false;
	}
	return up;
}

static void hook(struct ipd *x, const char *change, const char *addr, unsigned bits, const char *iface)
{
	if (!svcd_up(x))
		return;
	char e[5][128], dir[PATH_MAX + 32];
	const char *env[6];
	snprintf(e[0], sizeof e[0], "SHOAL_IP_CHANGE=%s", change);
	snprintf(e[1], sizeof e[1], "SHOAL_IP_ADDRESS=%s", addr ? addr : "");
	snprintf(e[2], sizeof e[2], "SHOAL_IP_BITS=%u", bits);
	snprintf(e[3], sizeof e[3], "SHOAL_IP_IFACE=%s", iface ? iface : "");
	snprintf(e[4], sizeof e[4], "SHOAL_NODE=%u", x->self);
	snprintf(dir, sizeof dir, "SHOAL_IP_HOOK_DIR=%s", x->d.conf.hook_dir);
	for (int i = 0; i < 5; i++)
		env[i] = e[i];
	env[5] = dir;
	struct msg_addr to = { .node = x->self, .service = "svcd" };
	msg_send(x->d.msg, &to, PROTO_SVC_HOOK, &(struct proto_svc_hook){ .env = env, .env_count = 6 });
}

enum ev_kind { EV_TAKE, EV_RELEASE, EV_UPDATE, EV_REALLOCATED };

struct event {
	struct event *prev, *next; /* x->events: in flight, freed at exit if still there */
	struct ipd *x;
	enum ev_kind kind;
	bool phase;              /* counts in phase_pending */
	uint64_t term, run;
	struct ipalloc_addr a;
	char addr[IPALLOC_ADDRSTRLEN];
	char iface[IF_NAMESIZE];
	int ifindex;
	unsigned bits;
};

static void phase_maybe_ack(struct ipd *x);
static void release_addr(struct ipd *x, const struct ipalloc_addr *a, const char *text, unsigned bits,
                         int ifindex, const char *iface, bool phase);

static void event_done(struct ipd *x, struct event *ev, bool ok, const char *why)
{
	if (!ok && ev->kind == EV_TAKE) {
		log_err("takeip %s on %s failed (%s): releasing it, reporting this node", ev->addr,
		          ev->iface, why);
		x->stat_take_failed++;
		if (x->nphase_failed < 64 && ev->phase)
			snprintf(x->phase_failed[x->nphase_failed++], IPALLOC_ADDRSTRLEN, "%s", ev->addr);
		release_addr(x, &ev->a, ev->addr, ev->bits, ev->ifindex, ev->iface, false);
		/* The table still gives it to us until the leader allocates anew: the consistency
		 * check must not take it back (and fail again) meanwhile. */
		int t = table_find(x, &ev->a);
		if (t >= 0)
			x->table[t].take_failed = true;
		char reason[64];
		snprintf(reason, sizeof reason, "takeip %s failed", ev->addr);
		struct msg_addr to = { .node = x->self, .service = "leaderd" };
		msg_send(x->d.msg, &to, PROTO_CULPRIT_REPORT,
		         &(struct proto_culprit_report){ .node = x->self, .reason = reason, .reporter = x->self });
		if (!ev->phase)
			ask_realloc(x, "takeip failed", false);
	} else if (!ok) {
		log_warning("%s event for %s failed (%s)",
		            ev->kind == EV_RELEASE ? "releaseip" : ev->kind == EV_UPDATE ? "updateip" : "ipreallocated",
		            ev->addr, why);
	}
	if (ev->phase && x->phase_pending > 0 && ev->term == x->table_term && ev->run == x->table_run) {
		x->phase_pending--;
		phase_maybe_ack(x);
	}
	if (ev->prev)
		ev->prev->next = ev->next;
	else
		x->events = ev->next;
	if (ev->next)
		ev->next->prev = ev->prev;
	free(ev);
}

void node_free_events(struct ipd *x)
{
	while (x->events) {
		struct event *ev = x->events;
		x->events = ev->next;
		free(ev);
	}
}

static void on_svc_result(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct event *ev = arg;
	struct ipd *x = ev->x;
	if (status == MSG_E_UNREACHABLE) {
		event_done(x, ev, true, NULL); /* svcd went away: as if absent */
		return;
	}
	if (status != MSG_OK || in->type != PROTO_SVC_RESULT) {
		char why[64];
		snprintf(why, sizeof why, "svcd: %s", msg_status_str(status));
		/* As CTDB: a timed-out ip event counts as success. */
		event_done(x, ev, status == MSG_E_TIMEOUT, why);
		return;
	}
	const struct proto_svc_result *r = in->body;
	event_done(x, ev, r->ok, r->ok ? NULL : "a script failed");
}

/* Runs the event through svcd (or at once, as succeeded, without svcd). */
static void run_event(struct ipd *x, enum ev_kind kind, bool phase, const struct ipalloc_addr *a,
                      const char *text, unsigned bits, int ifindex, const char *iface, const char *oldif)
{
	struct event *ev = calloc(1, sizeof *ev);
	if (!ev) {
		log_err("out of memory");
		return;
	}
	*ev = (struct event){ .x = x, .kind = kind, .phase = phase, .term = x->table_term,
		              .run = x->table_run, .ifindex = ifindex, .bits = bits, .next = x->events };
	if (x->events)
		x->events->prev = ev;
	x->events = ev;
	if (a)
		ev->a = *a;
	snprintf(ev->addr, sizeof ev->addr, "%s", text ? text : "");
	snprintf(ev->iface, sizeof ev->iface, "%s", iface ? iface : "");
	if (phase)
		x->phase_pending++;
	if (!svcd_up(x)) {
		event_done(x, ev, true, NULL);
		return;
	}
	char bitsbuf[8];
	snprintf(bitsbuf, sizeof bitsbuf, "%u", bits);
	const char *args[4];
	size_t nargs = 0;
	const char *name = "ipreallocated";
	if (kind == EV_TAKE || kind == EV_RELEASE) {
		name = kind == EV_TAKE ? "takeip" : "releaseip";
		args[0] = ev->iface;
		args[1] = ev->addr;
		args[2] = bitsbuf;
		nargs = 3;
	} else if (kind == EV_UPDATE) {
		name = "updateip";
		args[0] = oldif;
		args[1] = ev->iface;
		args[2] = ev->addr;
		args[3] = bitsbuf;
		nargs = 4;
	}
	struct proto_svc_run r = { .event = name, .args = args, .args_count = nargs };
	struct msg_addr to = { .node = x->self, .service = "svcd" };
	/* svcd's event timeout is 30 s by default; a little more, then it counts as done. */
	if (msg_request(x->d.msg, &to, PROTO_SVC_RUN, &r, 35000, on_svc_result, ev, NULL) < 0)
		event_done(x, ev, true, NULL);
}

/* ---- taking and releasing ---- */

static void tickle_add(struct ipd *x, const struct ipalloc_addr *a)
{
	for (unsigned i = 0; i < x->ntickle; i++)
		if (ipalloc_addr_cmp(&x->tickle[i].a, a) == 0) {
			x->tickle[i].left = 4;
			return;
		}
	if (x->ntickle == 64)
		return;
	x->tickle[x->ntickle].a = *a;
	x->tickle[x->ntickle++].left = 4;
	if (!ev_is_active(&x->tickle_timer))
		ev_timer_start(x->d.loop, &x->tickle_timer);
}

/* One gratuitous ARP (or unsolicited NA) for held[h]. */
static void announce_held(struct ipd *x, unsigned h)
{
	char text[IPALLOC_ADDRSTRLEN];
	if (netif_announce(x->held[h].ifindex, x->held[h].iface, &x->held[h].a) < 0)
		log_warning("unable to announce %s on %s: %s",
		            ipalloc_addr_format(&x->held[h].a, text, sizeof text), x->held[h].iface,
		            strerror(errno));
}

/* Announces and tickles a newly taken address: now and a few times more. */
static void announce(struct ipd *x, const struct ipalloc_addr *a)
{
	int h = held_find(x, a);
	if (h < 0)
		return;
	announce_held(x, (unsigned)h);
	for (unsigned i = 0; i < x->nconns; i++) {
		struct conn *c = &x->conns[i];
		if (c->node == x->self || ipalloc_addr_cmp(&c->server, a) != 0)
			continue;
		struct netif_conn nc = { .local = c->server, .remote = c->client, .lport = c->sport,
			                 .rport = c->cport };
		if (netif_tickle(&nc) == 0)
			x->stat_tickles++;
	}
}

/* At the end of every allocation run, what this node kept is announced again (one
 * gratuitous ARP or unsolicited NA each). A run follows every node that stalled and released
 * what it held; while it was frozen its kernel went on answering ARP for those addresses, so
 * clients may have learned its MAC for an address another node took meanwhile, and once it
 * released them nothing else corrected them: a client sent to the released node until its
 * neighbour entry expired (7-32 s in the failover benchmark). */
static void reannounce_held(struct ipd *x)
{
	for (unsigned i = 0; i < x->nheld; i++)
		announce_held(x, i);
}

static void on_tickle_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct ipd *x = t->data;
	for (unsigned i = 0; i < x->ntickle;) {
		if (held_find(x, &x->tickle[i].a) >= 0)
			announce(x, &x->tickle[i].a);
		if (--x->tickle[i].left == 0 || held_find(x, &x->tickle[i].a) < 0)
			x->tickle[i] = x->tickle[--x->ntickle];
		else
			i++;
	}
	if (!x->ntickle)
		ev_timer_stop(loop, t);
}

static bool take_addr(struct ipd *x, const struct pubaddr *p, bool phase)
{
	const struct iface *f = usable_iface(x, p);
	if (!f) {
		log_warning("cannot take %s: none of its interfaces is up", p->text);
		return false;
	}
	if (netif_addr_add(x->nl, f->index, &p->addr, p->bits) < 0) {
		log_err("unable to add %s/%u to %s: %s", p->text, p->bits, f->name, strerror(errno));
		return false;
	}
	log_notice("took %s/%u on %s", p->text, p->bits, f->name);
	x->stat_takes++;
	if (x->nheld < PUBADDR_MAX) {
		struct held *h = &x->held[x->nheld++];
		h->a = p->addr;
		memcpy(h->text, p->text, sizeof h->text);
		h->bits = p->bits;
		h->ifindex = f->index;
		snprintf(h->iface, sizeof h->iface, "%s", f->name);
		node_conns_watch(x);
	}
	announce(x, &p->addr);
	tickle_add(x, &p->addr);
	run_event(x, EV_TAKE, phase, &p->addr, p->text, p->bits, f->index, f->name, NULL);
	hook(x, "takeip", p->text, p->bits, f->name);
	return true;
}

static void release_addr(struct ipd *x, const struct ipalloc_addr *a, const char *text, unsigned bits,
                         int ifindex, const char *iface, bool phase)
{
	/* Connections first, while the address is still ours: the resets go out from it. */
	int n = netif_tcp_destroy(a);
	if (n > 0) {
		x->stat_killed += (uint64_t)n;
		log_info("reset %d connections to %s", n, text);
	} else if (n < 0 && !x->destroy_warned) {
		x->destroy_warned = true;
		if (errno == EOPNOTSUPP) {
			x->destroy = "none: no SOCK_DESTROY in this kernel";
			log_warning("this kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY): "
			            "connections to released addresses are left to the new owner's tickle ACKs");
		} else {
			log_warning("unable to reset connections to %s: %s", text, strerror(errno));
		}
	}
	if (netif_addr_del(x->nl, ifindex, a, bits) < 0) {
		log_err("unable to remove %s from %s: %s", text, iface, strerror(errno));
		return;
	}
	int h = held_find(x, a);
	if (h >= 0)
		x->held[h] = x->held[--x->nheld];
	log_notice("released %s/%u from %s", text, bits, iface);
	x->stat_releases++;
	run_event(x, EV_RELEASE, phase, a, text, bits, ifindex, iface, NULL);
	hook(x, "releaseip", text, bits, iface);
}

static void release_held(struct ipd *x, unsigned i, bool phase)
{
	struct held h = x->held[i];
	release_addr(x, &h.a, h.text, h.bits, h.ifindex, h.iface, phase);
}

void node_release_all(struct ipd *x, const char *why)
{
	node_scan(x);
	if (x->nheld)
		log_notice("releasing all %u public addresses: %s", x->nheld, why);
	while (x->nheld)
		release_held(x, x->nheld - 1, false);
}

/* Moves a held address to another interface of its list when its own went down, or is no
 * longer listed for it (public_addresses changed: updateip, as CTDB's reloadips does). */
static void maybe_update(struct ipd *x, unsigned i)
{
	struct held h = x->held[i];
	int p = pubaddr_find_addr(&x->pa, &h.a);
	if (p < 0)
		return;
	bool listed = false;
	for (unsigned k = 0; k < x->pa.a[p].nifaces; k++)
		if (strcmp(x->pa.a[p].iface[k], h.iface) == 0)
			listed = true;
	int f = iface_find(x, h.iface);
	if (listed && f >= 0 && x->ifs[f].exists && x->ifs[f].up)
		return;
	const struct iface *to = usable_iface(x, &x->pa.a[p]);
	if (!to || to->index == h.ifindex)
		return;
	if (netif_addr_del(x->nl, h.ifindex, &h.a, h.bits) < 0 ||
	    netif_addr_add(x->nl, to->index, &h.a, h.bits) < 0) {
		log_err("unable to move %s from %s to %s: %s", h.text, h.iface, to->name, strerror(errno));
		return;
	}
	log_notice("moved %s from %s to %s", h.text, h.iface, to->name);
	x->held[i].ifindex = to->index;
	snprintf(x->held[i].iface, sizeof x->held[i].iface, "%s", to->name);
	announce(x, &h.a);
	run_event(x, EV_UPDATE, false, &h.a, h.text, h.bits, to->index, to->name, h.iface);
	hook(x, "updateip", h.text, h.bits, to->name);
}

/* ---- the consistency check ---- */

/* Brings the interfaces in line with the table. takes: also take (not in a release phase).
 * Returns how many changes it made. */
static unsigned reconcile(struct ipd *x, bool takes, bool phase)
{
	unsigned changes = 0;
	bool hold_nothing = x->fenced[0] || x->leaving;
	for (unsigned i = 0; i < x->nheld;) {
		int t = table_find(x, &x->held[i].a);
		bool mine = !hold_nothing && t >= 0 && x->table[t].node == x->self &&
		            pubaddr_find_addr(&x->pa, &x->held[i].a) >= 0;
		/* Before the first allocation nothing is released: a restart adopts. */
		if (!mine && (x->table_phase || hold_nothing)) {
			release_held(x, i, phase);
			changes++;
			continue; /* held[i] is now another entry */
		}
		if (mine)
			maybe_update(x, i);
		i++;
	}
	if (!takes || hold_nothing)
		return changes;
	for (unsigned t = 0; t < x->ntable; t++) {
		if (x->table[t].node != x->self || x->table[t].take_failed ||
		    held_find(x, &x->table[t].a) >= 0)
			continue;
		int p = pubaddr_find_addr(&x->pa, &x->table[t].a);
		if (p < 0 || !available(x, &x->pa.a[p]))
			continue;
		if (take_addr(x, &x->pa.a[p], phase))
			changes++;
		else if (phase && x->nphase_failed < 64) {
			/* memcpy, not snprintf: gcc cannot tell the two fields of *x apart (-Wrestrict) */
			char *to = x->phase_failed[x->nphase_failed++];
			size_t n = strnlen(x->table[t].text, IPALLOC_ADDRSTRLEN - 1);
			memcpy(to, x->table[t].text, n);
			to[n] = 0;
		}
	}
	return changes;
}

void node_check(struct ipd *x)
{
	if (!x->ready)
		return;
	node_scan(x);
	if (x->phase_req.busy) {
		x->check_deferred = true; /* a phase in progress decides; checked again after it */
		return;
	}
	x->check_deferred = false;
	bool takes = x->table_phase == PROTO_IP_PHASE_TAKE || x->table_phase == PROTO_IP_PHASE_CHECK;
	unsigned n = reconcile(x, takes && x->table_term >= x->newest_term, false);
	if (n)
		log_notice("consistency check: %u addresses repaired", n);
}

static void on_soon(struct ev_loop *loop, ev_timer *t, int revents)
{
	node_check(t->data);
}

void node_check_soon(struct ipd *x)
{
	if (!ev_is_active(&x->soon_timer))
		ev_timer_start(x->d.loop, &x->soon_timer);
}

void node_fence(struct ipd *x, const char *why)
{
	if (!x->fenced[0])
		log_warning("self-fencing: %s", why);
	snprintf(x->fenced, sizeof x->fenced, "%s", why);
	node_release_all(x, why);
}

void node_unfence(struct ipd *x)
{
	if (!x->fenced[0])
		return;
	log_notice("self-fencing over (was: %s)", x->fenced);
	x->fenced[0] = 0;
	ask_realloc(x, "back in the majority", true);
}

/* ---- the leader's messages ---- */

void node_info_reply(struct ipd *x, const struct msg_in *in)
{
	static struct proto_ip_known known[PUBADDR_MAX];
	static const char *kif[PUBADDR_MAX][PUBADDR_IFACES_MAX];
	static struct proto_ip_held held[PUBADDR_MAX];
	static struct proto_ip_iface ifs[IFACES_MAX];
	const struct proto_ip_info_get *q = in->body;
	if (q->term > x->newest_term)
		x->newest_term = q->term;
	if (x->ready)
		node_scan(x);
	for (unsigned i = 0; i < x->pa.count; i++) {
		const struct pubaddr *p = &x->pa.a[i];
		for (unsigned k = 0; k < p->nifaces; k++)
			kif[i][k] = p->iface[k];
		known[i] = (struct proto_ip_known){ .address = p->text, .bits = (uint8_t)p->bits,
			                            .ifaces = kif[i], .ifaces_count = p->nifaces,
			                            .available = available(x, p) };
	}
	for (unsigned i = 0; i < x->nheld; i++)
		held[i] = (struct proto_ip_held){ .address = x->held[i].text, .bits = (uint8_t)x->held[i].bits,
			                          .iface = x->held[i].iface };
	for (unsigned i = 0; i < x->nifs; i++)
		ifs[i] = (struct proto_ip_iface){ .name = x->ifs[i].name, .up = x->ifs[i].up,
			                          .exists = x->ifs[i].exists };
	struct proto_ip_info r = {
		.node = x->self,
		.known = known, .known_count = x->ready ? x->pa.count : 0,
		.held = held, .held_count = x->nheld,
		.ifaces = ifs, .ifaces_count = x->nifs,
		.leaving = x->leaving || x->fenced[0],
		.ready = x->ready,
	};
	msg_reply(x->d.msg, in, PROTO_IP_INFO, &r);
}

static void phase_maybe_ack(struct ipd *x)
{
	if (!x->phase_req.busy || x->phase_pending)
		return;
	const char *failed[64];
	for (unsigned i = 0; i < x->nphase_failed; i++)
		failed[i] = x->phase_failed[i];
	struct proto_ip_assign_ack a = { .term = x->table_term, .run = x->table_run,
		                         .phase = (enum proto_ip_phase)x->table_phase,
		                         .failed = failed, .failed_count = x->nphase_failed };
	later_reply(x, &x->phase_req, PROTO_IP_ASSIGN_ACK, &a);
	if (x->table_phase == PROTO_IP_PHASE_TAKE) {
		reannounce_held(x);
		run_event(x, EV_REALLOCATED, false, NULL, NULL, 0, 0, NULL, NULL);
		hook(x, "ipreallocated", NULL, 0, NULL);
	}
	if (x->check_deferred)
		node_check_soon(x);
}

void node_assign(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_assign *q = in->body;
	if (q->term < x->newest_term) {
		msg_reply_error(x->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED,
		                "term %llu is older than %llu", (unsigned long long)q->term,
		                (unsigned long long)x->newest_term);
		return;
	}
	x->newest_term = q->term;
	if (x->phase_req.busy) {
		/* A newer phase overtook the one in progress: answer it now. */
		x->phase_pending = 0;
		phase_maybe_ack(x);
	}
	x->ntable = 0;
	for (size_t i = 0; i < q->owners_count && i < PUBADDR_MAX; i++) {
		struct owner *o = &x->table[x->ntable];
		if (ipalloc_addr_parse(&o->a, q->owners[i].address) < 0)
			continue;
		ipalloc_addr_format(&o->a, o->text, sizeof o->text);
		o->bits = q->owners[i].bits;
		o->node = q->owners[i].node;
		o->take_failed = false;
		x->ntable++;
	}
	x->table_term = q->term;
	x->table_run = q->run;
	x->table_phase = (int)q->phase;
	if (q->phase == PROTO_IP_PHASE_CHECK) {
		msg_reply(x->d.msg, in, PROTO_IP_ASSIGN_ACK,
		          &(struct proto_ip_assign_ack){ .term = q->term, .run = q->run, .phase = q->phase });
		node_check_soon(x);
		return;
	}
	later_save(&x->phase_req, in);
	x->phase_pending = 0;
	x->nphase_failed = 0;
	x->phase_pending++; /* held until reconcile has started every event */
	if (x->ready) {
		node_scan(x);
		reconcile(x, q->phase == PROTO_IP_PHASE_TAKE, true);
	}
	x->phase_pending--;
	phase_maybe_ack(x);
}

/* ---- connections, for tickle ACKs ---- */

static bool match_held(void *arg, const struct ipalloc_addr *local)
{
	return held_find(arg, local) >= 0;
}

static struct proto_tcp_conn out_conns[CONNS_MAX];
static char out_text[CONNS_MAX][2][IPALLOC_ADDRSTRLEN];
static unsigned nout;

static void conn_one(void *arg, const struct netif_conn *c)
{
	if (nout == CONNS_MAX || c->local.family != c->remote.family)
		return;
	ipalloc_addr_format(&c->local, out_text[nout][0], IPALLOC_ADDRSTRLEN);
	ipalloc_addr_format(&c->remote, out_text[nout][1], IPALLOC_ADDRSTRLEN);
	out_conns[nout] = (struct proto_tcp_conn){ .server = out_text[nout][0], .server_port = c->lport,
		                                   .client = out_text[nout][1], .client_port = c->rport };
	nout++;
}

/* Sends the list when it changed, and every tenth time anyway (for a restarted peer ipd).
 * Returns whether to keep polling: while this node holds addresses. */
static bool conns_send(struct ipd *x)
{
	nout = 0;
	if (x->nheld && netif_tcp_list(match_held, x, conn_one, NULL) < 0)
		return true;
	uint64_t h = 1469598103934665603ull;
	for (unsigned i = 0; i < nout; i++) {
		for (const char *p = out_text[i][0]; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		for (const char *p = out_text[i][1]; *p; p++)
			h = (h ^ (uint8_t)*p) * 1099511628211ull;
		h = (h ^ out_conns[i].server_port ^ ((uint64_t)out_conns[i].client_port << 16)) * 1099511628211ull;
	}
	static unsigned ticks;
	if (h == x->conns_hash && (!x->nheld || ++ticks % 10))
		return x->nheld > 0;
	x->conns_hash = h;
	struct proto_ip_conns m = { .node = x->self, .conns = out_conns, .conns_count = nout };
	for (uint32_t n = 0; n < x->nnodes; n++)
		if (n != x->self && node_reachable(x, n))
			send_ipd(x, n, PROTO_IP_CONNS, &m);
	return x->nheld > 0;
}

/* After the last address went, one more round sends the empty list, then the timer stops:
 * a node that holds nothing has no connections to copy, and no reason to wake. */
static void on_conns_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (!conns_send(t->data))
		ev_timer_stop(loop, t);
}

void node_conns_watch(struct ipd *x)
{
	if (x->nheld && !ev_is_active(&x->conns_timer))
		ev_timer_start(x->d.loop, &x->conns_timer);
}

void node_conns_received(struct ipd *x, const struct msg_in *in)
{
	const struct proto_ip_conns *m = in->body;
	uint32_t from = in->env->src_node;
	unsigned w = 0;
	for (unsigned i = 0; i < x->nconns; i++)
		if (x->conns[i].node != from)
			x->conns[w++] = x->conns[i];
	x->nconns = w;
	for (size_t i = 0; i < m->conns_count && x->nconns < CONNS_MAX; i++) {
		struct conn *c = &x->conns[x->nconns];
		if (ipalloc_addr_parse(&c->server, m->conns[i].server) < 0 ||
		    ipalloc_addr_parse(&c->client, m->conns[i].client) < 0)
			continue;
		c->sport = m->conns[i].server_port;
		c->cport = m->conns[i].client_port;
		c->node = from;
		x->nconns++;
	}
}

void node_init(struct ipd *x)
{
	x->destroy = "sock_diag SOCK_DESTROY";
	ev_timer_init(&x->soon_timer, on_soon, 0.01, 0.);
	x->soon_timer.data = x;
	ev_timer_init(&x->tickle_timer, on_tickle_timer, 0.15, 0.15);
	x->tickle_timer.data = x;
	ev_timer_init(&x->conns_timer, on_conns_timer, CONNS_S, CONNS_S);
	x->conns_timer.data = x;
}
