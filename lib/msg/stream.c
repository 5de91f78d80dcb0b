/* Streams: bodies larger than one datagram, sent as chunks in order. The sender keeps at
 * most STREAM_WINDOW bytes unacknowledged, so a slow receiver slows the sender instead of
 * filling queues; the receiver acknowledges every quarter window and at the end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg_int.h"

#define STREAM_CHUNK   (60 * 1024)
#define STREAM_WINDOW  (1024 * 1024)
#define STREAM_RX_IDLE 60.0 /* seconds before a receiver forgets a silent stream */

static void stx_free(struct msg_ctx *m, struct stream_tx *s)
{
	for (struct stream_tx **p = &m->stx; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	ev_timer_stop(m->loop, &s->idle);
	free(s);
}

static void stx_finish(struct msg_ctx *m, struct stream_tx *s, int status, const struct msg_in *in)
{
	msg_reply_fn *done = s->done;
	void *arg = s->arg;
	stx_free(m, s);
	if (done)
		done(m, status, in, arg);
}

/* Sends chunks while the window allows. */
static void stx_pump(struct msg_ctx *m, struct stream_tx *s)
{
	while (s->sent < s->len && s->sent - s->acked < STREAM_WINDOW) {
		size_t n = s->len - s->sent;
		if (n > STREAM_CHUNK)
			n = STREAM_CHUNK;
		struct proto_stream_chunk c = {
			.stream = s->id, .offset = s->sent, .total = s->len, .kind = s->kind,
			.data = { s->data + s->sent, n },
		};
		if (msg_send(m, &s->dst, PROTO_STREAM_CHUNK, &c) < 0) {
			stx_finish(m, s, errno == ENOBUFS ? MSG_E_QUEUE : MSG_E_UNREACHABLE, NULL);
			return;
		}
		s->sent += n;
	}
}

static void on_stx_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct stream_tx *s = t->data;
	stx_finish(s->ctx, s, MSG_E_TIMEOUT, NULL);
}

int msg_stream_send(struct msg_ctx *m, const struct msg_addr *dst, uint32_t kind, const void *data,
                    size_t len, unsigned idle_timeout_ms, msg_reply_fn *done, void *arg)
{
	if (dst->node == MSG_NODE_ALL || len == 0) {
		errno = EINVAL;
		return -1;
	}
	struct stream_tx *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	s->ctx = m;
	s->id = m->next_id++;
	s->dst = *dst;
	s->kind = kind;
	s->data = data;
	s->len = len;
	s->done = done;
	s->arg = arg;
	s->idle_s = idle_timeout_ms / 1000.0;
	ev_timer_init(&s->idle, on_stx_idle, 0, s->idle_s);
	s->idle.data = s;
	ev_timer_again(m->loop, &s->idle);
	s->next = m->stx;
	m->stx = s;
	stx_pump(m, s);
	return 0;
}

void stream_on_ack(struct msg_ctx *m, const struct msg_in *in)
{
	const struct proto_stream_ack *a = in->body;
	struct stream_tx *s;
	for (s = m->stx; s; s = s->next)
		if (s->id == a->stream && s->dst.node == in->env->src_node &&
		    strcmp(s->dst.service, in->env->src_service) == 0)
			break;
	if (!s) {
		m->st.late_replies++;
		return;
	}
	if (a->error) {
		stx_finish(m, s, MSG_E_REMOTE, in);
		return;
	}
	if (a->offset > s->acked && a->offset <= s->sent)
		s->acked = a->offset;
	ev_timer_again(m->loop, &s->idle);
	if (s->acked == s->len)
		stx_finish(m, s, MSG_OK, in);
	else
		stx_pump(m, s);
}

void msg_set_stream_handler(struct msg_ctx *m, msg_stream_fn *fn, void *arg)
{
	m->stream_fn = fn;
	m->stream_arg = arg;
}

static void srx_free(struct msg_ctx *m, struct stream_rx *r)
{
	for (struct stream_rx **p = &m->srx; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	free(r);
}

static void send_ack(struct msg_ctx *m, const struct msg_in *in, uint64_t stream, uint64_t off,
                     unsigned error)
{
	struct msg_addr to = { .node = in->env->src_node };
	memcpy(to.service, in->env->src_service, strlen(in->env->src_service) + 1);
	struct proto_stream_ack a = { .stream = stream, .offset = off, .error = error };
	msg_send(m, &to, PROTO_STREAM_ACK, &a);
}

void stream_on_chunk(struct msg_ctx *m, const struct msg_in *in)
{
	const struct proto_stream_chunk *c = in->body;
	ev_tstamp now = ev_now(m->loop);
	struct stream_rx *r, *next;

	for (r = m->srx; r; r = next) {
		next = r->next;
		if (r->id == c->stream && r->node == in->env->src_node &&
		    strcmp(r->service, in->env->src_service) == 0)
			break;
		if (now - r->used > STREAM_RX_IDLE)
			srx_free(m, r);
	}
	if (!m->stream_fn) {
		send_ack(m, in, c->stream, 0, PROTO_ERROR_CODE_UNKNOWN_TYPE);
		return;
	}
	if (!r) {
		if (c->offset != 0 || c->total == 0 || !(r = calloc(1, sizeof *r))) {
			send_ack(m, in, c->stream, 0, PROTO_ERROR_CODE_FAILED);
			return;
		}
		r->node = in->env->src_node;
		snprintf(r->service, sizeof r->service, "%s", in->env->src_service);
		r->id = c->stream;
		r->next = m->srx;
		m->srx = r;
	}
	/* Chunks arrive in order on one socket or link; anything else means loss. */
	if (c->offset != r->next_off || c->offset + c->data.len > c->total) {
		send_ack(m, in, c->stream, r->next_off, PROTO_ERROR_CODE_FAILED);
		srx_free(m, r);
		return;
	}
	r->used = now;
	r->next_off += c->data.len;
	m->stream_fn(m, in, c, m->stream_arg);
	if (r->next_off == c->total) {
		send_ack(m, in, c->stream, r->next_off, 0);
		srx_free(m, r);
	} else if (r->next_off - r->acked >= STREAM_WINDOW / 4) {
		send_ack(m, in, c->stream, r->next_off, 0);
		r->acked = r->next_off;
	}
}

/* A broken link fails the streams that went over it to that peer. */
void stream_link_broke(struct msg_ctx *m, uint32_t node, const char *service)
{
	struct stream_tx *s = m->stx;
	while (s) {
		struct stream_tx *next = s->next;
		if (s->dst.node == node && strcmp(s->dst.service, service) == 0) {
			stx_finish(m, s, MSG_E_LINK, NULL);
			next = m->stx;
		}
		s = next;
	}
}

void stream_close_all(struct msg_ctx *m)
{
	while (m->stx)
		stx_free(m, m->stx);
	while (m->srx)
		srx_free(m, m->srx);
}
