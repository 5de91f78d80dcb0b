/* The messaging endpoint: envelopes, dispatch, requests with deadlines, counters. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "msg/msg_int.h"

struct msg_ctx *msg_open(struct ev_loop *loop, const struct conf *c, const struct conf_nodes *n,
                         const char *service, unsigned flags, char *err, size_t errlen)
{
	static unsigned clients;
	struct msg_ctx *m;

	if (sodium_init() < 0) {
		snprintf(err, errlen, "unable to initialise libsodium");
		errno = EIO;
		return NULL;
	}
	int self = nodes_find(n, c->node_address);
	if (self < 0) {
		snprintf(err, errlen, "node address %s is not in the nodes file %s", c->node_address,
		         c->nodes_file);
		errno = EINVAL;
		return NULL;
	}
	if (!(m = calloc(1, sizeof *m)))
		goto nomem;
	m->loop = loop;
	m->conf = c;
	m->nodes = n;
	m->self = (uint32_t)self;
	m->flags = flags;
	m->fd = m->listen_fd = -1;
	m->keylen = -1;
	m->next_id = 1;
	if (service)
		snprintf(m->service, sizeof m->service, "%s", service);
	else
		snprintf(m->service, sizeof m->service, "c.%ld.%u", (long)getpid(), ++clients);
	if (!msg_service_valid(m->service)) {
		snprintf(err, errlen, "invalid service name %s", m->service);
		free(m);
		errno = EINVAL;
		return NULL;
	}
	m->rxbuf = malloc(MSG_DGRAM_MAX);
	m->body = malloc(MSG_BODY_MAX);
	m->txbuf = malloc(MSG_DGRAM_MAX);
	m->arena_mem = malloc(ARENA_SIZE);
	if (!m->rxbuf || !m->body || !m->txbuf || !m->arena_mem) {
		msg_close(m);
		goto nomem;
	}
	link_self_sockaddr(m);
	if (local_bind(m, err, errlen) < 0 || ((flags & MSG_LISTEN) && link_listen(m, err, errlen) < 0)) {
		int e = errno;
		msg_close(m);
		errno = e;
		return NULL;
	}
	if ((flags & MSG_LISTEN) && msg_load_key(m) < 0) {
		snprintf(err, errlen, "unable to read the cluster key %s: %s", c->cluster_key,
		         strerror(errno));
		msg_close(m);
		return NULL;
	}
	return m;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
	return NULL;
}

double msg_mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pending_free(struct msg_ctx *m, struct pending *p)
{
	for (struct pending **pp = &m->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	ev_timer_stop(m->loop, &p->t);
	free(p);
}

void msg_close(struct msg_ctx *m)
{
	if (!m)
		return;
	while (m->pending)
		pending_free(m, m->pending);
	stream_close_all(m);
	link_close_all(m);
	local_close_all(m);
	sodium_memzero(m->key, sizeof m->key);
	free(m->rxbuf);
	free(m->body);
	free(m->txbuf);
	free(m->arena_mem);
	free(m->call_buf);
	free(m);
}

const char *msg_self_service(const struct msg_ctx *m) { return m->service; }
uint32_t msg_self_node(const struct msg_ctx *m) { return m->self; }
struct ev_loop *msg_loop(const struct msg_ctx *m) { return m->loop; }

void msg_set_handler(struct msg_ctx *m, msg_handler_fn *fn, void *arg)
{
	m->handler = fn;
	m->handler_arg = arg;
}

/* Encodes body and envelope into m->txbuf. */
int msg_encode(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
               uint64_t id, uint64_t reply_to, size_t *len)
{
	size_t blen;
	if (proto_encode(type, body, m->body, MSG_BODY_MAX, &blen) < 0)
		return -1;
	struct proto_envelope e = {
		.version = PROTO_VERSION,
		.src_node = m->self,
		.src_service = m->service,
		.dst_node = dst->node,
		.dst_service = dst->service,
		.id = id,
		.reply_to = reply_to,
		.type = (uint16_t)type,
		.body = { m->body, blen },
	};
	return proto_envelope_encode_buf(&e, m->txbuf, MSG_DGRAM_MAX, len);
}

/* Sends m->txbuf (len bytes) to one node:service. */
int msg_deliver(struct msg_ctx *m, const struct msg_addr *dst, size_t len, struct link **via)
{
	*via = NULL;
	if (dst->node == m->self)
		return local_send(m, dst->service, m->txbuf, len);
	return link_send(m, dst->node, dst->service, m->txbuf, len, via);
}

static int send_env(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
                    uint64_t id, uint64_t reply_to, struct link **via)
{
	size_t len;
	struct link *unused;
	if (!via)
		via = &unused;
	if (msg_encode(m, dst, type, body, id, reply_to, &len) < 0)
		return -1;
	if (dst->node != MSG_NODE_ALL)
		return msg_deliver(m, dst, len, via);
	if (id) {
		errno = EINVAL; /* a request has one destination */
		return -1;
	}
	int rc = 0;
	for (uint32_t i = 0; i < m->nodes->count; i++) {
		if (m->nodes->node[i].deleted)
			continue;
		struct msg_addr one = *dst;
		one.node = i;
		/* Each delivery reuses txbuf; re-encode so dst_node names the real node. */
		if (msg_encode(m, &one, type, body, 0, reply_to, &len) < 0 || msg_deliver(m, &one, len, via) < 0)
			rc = -1;
	}
	return rc;
}

int msg_send(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body)
{
	return send_env(m, dst, type, body, 0, 0, NULL);
}

int msg_reply(struct msg_ctx *m, const struct msg_in *req, unsigned type, const void *body)
{
	struct msg_addr to = { .node = req->env->src_node };
	snprintf(to.service, sizeof to.service, "%s", req->env->src_service);
	return send_env(m, &to, type, body, 0, req->env->id, NULL);
}

int msg_reply_error(struct msg_ctx *m, const struct msg_in *req, unsigned code, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	struct proto_error e = { .code = code, .text = text };
	return msg_reply(m, req, PROTO_ERROR, &e);
}

static void pending_fire(struct msg_ctx *m, struct pending *p, int status, const struct msg_in *in)
{
	msg_reply_fn *cb = p->cb;
	void *arg = p->arg;
	pending_free(m, p);
	cb(m, status, in, arg);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pending *p = t->data;
	pending_fire(p->ctx, p, MSG_E_TIMEOUT, NULL);
}

int msg_request(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
                unsigned timeout_ms, msg_reply_fn *cb, void *arg, uint64_t *id)
{
	struct pending *p = calloc(1, sizeof *p);
	if (!p)
		return -1;
	p->ctx = m;
	p->id = m->next_id++;
	p->cb = cb;
	p->arg = arg;
	if (send_env(m, dst, type, body, p->id, 0, &p->link) < 0) {
		int e = errno;
		free(p);
		errno = e;
		return -1;
	}
	ev_timer_init(&p->t, on_deadline, timeout_ms / 1000.0, 0);
	p->t.data = p;
	ev_timer_start(m->loop, &p->t);
	p->next = m->pending;
	m->pending = p;
	if (id)
		*id = p->id;
	return 0;
}

void msg_cancel(struct msg_ctx *m, uint64_t id)
{
	for (struct pending *p = m->pending; p; p = p->next)
		if (p->id == id) {
			pending_free(m, p);
			return;
		}
}

/* A link broke: what was pending on it fails now, not at its deadline. A link that never
 * came up (refused, or no hello in time) means the peer cannot be reached. */
void msg_link_broke(struct msg_ctx *m, struct link *l)
{
	int status = l->state == LINK_UP ? MSG_E_LINK : MSG_E_UNREACHABLE;
	struct pending *p = m->pending;
	while (p) {
		struct pending *next = p->next;
		if (p->link == l) {
			pending_fire(m, p, status, NULL);
			next = m->pending; /* the callback may have changed the list */
		}
		p = next;
	}
	if (l->state == LINK_UP)
		stream_link_broke(m, l->node, l->service);
}

static void call_done(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	m->call_done = true;
	m->call_status = status;
	if (!in)
		return;
	/* Keep the reply's raw datagram; msg_call decodes it again into call storage. */
	*m->call_out = *in;
	m->call_out->env = NULL;
	free(m->call_buf);
	m->call_buf = malloc(m->call_len = in->env->body.len);
	if (m->call_buf)
		memcpy(m->call_buf, in->env->body.data, m->call_len);
}

int msg_call(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
             unsigned timeout_ms, struct msg_in *reply)
{
	static struct proto_envelope env;
	static union proto_any any;
	static uint8_t arena_mem[ARENA_SIZE];
	struct proto_arena a;

	m->call_done = false;
	m->call_out = reply;
	if (msg_request(m, dst, type, body, timeout_ms, call_done, NULL, NULL) < 0)
		return errno == ENOBUFS ? MSG_E_QUEUE : MSG_E_UNREACHABLE;
	while (!m->call_done)
		ev_run(m->loop, EVRUN_ONCE);
	if (m->call_status != MSG_OK && m->call_status != MSG_E_REMOTE)
		return m->call_status;
	if (!m->call_buf)
		return MSG_E_BADREPLY;
	proto_arena_init(&a, arena_mem, sizeof arena_mem);
	memset(&env, 0, sizeof env);
	env.type = (uint16_t)reply->type;
	if (proto_decode(reply->type, m->call_buf, m->call_len, &any, &a) < 0)
		return MSG_E_BADREPLY;
	reply->env = &env;
	reply->body = &any;
	return m->call_status;
}

/* in NULL: the reply failed to decode. */
static void on_reply(struct msg_ctx *m, uint64_t reply_to, const struct msg_in *in)
{
	for (struct pending *p = m->pending; p; p = p->next)
		if (p->id == reply_to) {
			int status = !in ? MSG_E_BADREPLY : in->type == PROTO_ERROR ? MSG_E_REMOTE : MSG_OK;
			pending_fire(m, p, status, in);
			return;
		}
	m->st.late_replies++;
}

static void answer_stats(struct msg_ctx *m, const struct msg_in *in)
{
	struct proto_counter c[COUNTERS_MAX];
	const struct {
		const char *name;
		uint64_t v;
	} base[] = {
		{ "rx", m->st.rx }, { "tx", m->st.tx },
		{ "drop_queue", m->st.drop_queue },
		{ "drop_unreachable", m->st.drop_unreachable },
		{ "drop_malformed", m->st.drop_malformed },
		{ "drop_not_permitted", m->st.drop_not_permitted },
		{ "drop_foreign_uid", m->st.drop_foreign_uid },
		{ "drop_spoofed", m->st.drop_spoofed },
		{ "drop_mac", m->st.drop_mac },
		{ "drop_replay", m->st.drop_replay },
		{ "drop_unknown_source", m->st.drop_unknown_source },
		{ "late_replies", m->st.late_replies },
		{ "links_opened", m->st.links_opened },
		{ "links_failed", m->st.links_failed },
	};
	size_t n = 0;
	for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
		c[n++] = (struct proto_counter){ .name = base[i].name, .value = base[i].v };
	for (unsigned i = 0; i < m->ncounters && n < COUNTERS_MAX; i++)
		c[n++] = (struct proto_counter){ .name = m->counters[i].name, .value = *m->counters[i].value };
	struct proto_stats s = { .service = m->service, .counters = c, .counters_count = n };
	msg_reply(m, in, PROTO_STATS, &s);
}

void msg_dispatch(struct msg_ctx *m, const uint8_t *buf, size_t len, struct link *l, pid_t pid,
                  uid_t uid)
{
	struct msg_in in = { .env = &m->env, .remote = l != NULL, .pid = pid, .uid = uid,
	                     .arrived = l ? l->rx_at : msg_mono_now() };

	proto_arena_init(&m->arena, m->arena_mem, ARENA_SIZE);
	if (proto_envelope_decode_buf(&m->env, buf, len, &m->arena) < 0 ||
	    !m->env.src_service || !msg_service_valid(m->env.src_service)) {
		m->st.drop_malformed++;
		return;
	}
	/* A peer speaks only for itself: the link's node and service, or (locally) this node. */
	if ((l && (m->env.src_node != l->node || strcmp(m->env.src_service, l->service) != 0)) ||
	    (!l && m->env.src_node != m->self)) {
		m->st.drop_spoofed++;
		return;
	}
	if (m->env.version < PROTO_VERSION_MIN || m->env.version > PROTO_VERSION) {
		m->st.drop_malformed++;
		return;
	}
	m->st.rx++;
	in.type = m->env.type;
	in.body = &m->in_body;
	if (!proto_type_name(in.type)) {
		if (m->env.id)
			msg_reply_error(m, &in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "unknown message type %u", in.type);
		m->st.drop_malformed++;
		return;
	}
	if (proto_decode(in.type, m->env.body.data, m->env.body.len, &m->in_body, &m->arena) < 0) {
		m->st.drop_malformed++;
		if (m->env.reply_to)
			on_reply(m, m->env.reply_to, NULL);
		else if (m->env.id)
			msg_reply_error(m, &in, PROTO_ERROR_CODE_MALFORMED, "malformed %s: %s",
			                proto_type_name(in.type), strerror(errno));
		return;
	}
	if (m->env.reply_to) {
		on_reply(m, m->env.reply_to, &in);
		return;
	}
	if (!proto_sender_ok(in.type, m->env.src_service)) {
		m->st.drop_not_permitted++;
		if (m->env.id)
			msg_reply_error(m, &in, PROTO_ERROR_CODE_NOT_PERMITTED, "%s may not send %s",
			                m->env.src_service, proto_type_name(in.type));
		return;
	}
	switch (in.type) {
	case PROTO_PING: {
		const struct proto_ping *p = in.body;
		struct proto_pong r = { .seq = p->seq, .payload = p->payload };
		if (m->env.id) {
			msg_reply(m, &in, PROTO_PONG, &r);
			return;
		}
		/* A one-way ping is not answered here: the handler may count it. */
		if (m->handler)
			m->handler(m, &in, m->handler_arg);
		return;
	}
	case PROTO_STATS_GET:
		answer_stats(m, &in);
		return;
	case PROTO_STREAM_CHUNK:
		stream_on_chunk(m, &in);
		return;
	case PROTO_STREAM_ACK:
		stream_on_ack(m, &in);
		return;
	}
	if (m->handler)
		m->handler(m, &in, m->handler_arg);
	else if (m->env.id)
		msg_reply_error(m, &in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "%s does not handle %s", m->service,
		                proto_type_name(in.type));
}

void msg_counter_add(struct msg_ctx *m, const char *name, const uint64_t *value)
{
	if (m->ncounters >= COUNTERS_MAX)
		return;
	snprintf(m->counters[m->ncounters].name, sizeof m->counters[0].name, "%s", name);
	m->counters[m->ncounters++].value = value;
}

uint64_t msg_counter_get(const struct msg_ctx *m, const char *name)
{
	for (unsigned i = 0; i < m->ncounters; i++)
		if (strcmp(m->counters[i].name, name) == 0)
			return *m->counters[i].value;
	return 0;
}

void msg_drain(struct msg_ctx *m)
{
	local_drain(m);
	link_drain(m);
}

void msg_drain_links(struct msg_ctx *m)
{
	link_drain(m);
}

void msg_drain_local(struct msg_ctx *m)
{
	local_drain(m);
}

void msg_set_event_handler(struct msg_ctx *m, msg_event_fn *fn, void *arg)
{
	m->event_fn = fn;
	m->event_arg = arg;
}

#define EVENT_QUIET 10.0

void msg_event(struct msg_ctx *m, const char *kind, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	ev_tstamp now = ev_now(m->loop);
	unsigned i, free_slot = 0;
	if (!m->event_fn)
		return;
	for (i = 0; i < 8; i++) {
		if (strcmp(m->events[i].kind, kind) == 0)
			break;
		if (m->events[i].at < m->events[free_slot].at)
			free_slot = i;
	}
	if (i == 8) {
		i = free_slot;
		snprintf(m->events[i].kind, sizeof m->events[i].kind, "%s", kind);
	} else if (now - m->events[i].at < EVENT_QUIET) {
		return;
	}
	m->events[i].at = now;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	m->event_fn(m, what, m->event_arg);
}
