/* msgtool: drives lib/msg for tests/messaging.bats and tests/bench/messaging.sh.
 *
 *   msgtool -c CONF serve [-s SERVICE] [--delay-ms N] [--blackhole] [--lazy]
 *   msgtool -c CONF ping DST [--count N] [--size B]
 *   msgtool -c CONF send DST --count N [--rate PER_SEC] [--size B]
 *   msgtool -c CONF call DST [--timeout MS] [--linger MS]
 *   msgtool -c CONF stream DST --bytes N [--seed S]
 *   msgtool -c CONF stats DST
 *   msgtool -c CONF fanout --to a,b,c --count N --rate R
 *   msgtool -c CONF lastword DST --linger MS
 *   msgtool -c CONF forge DST --mode replay|badmac|wrongkey|foreign[:ADDR]|garbage
 *                                    |unknown-type|local-garbage
 *   msgtool rawpingpong [--count N] [--size B] [--peer-cpu C]   (Unix datagrams, no lib/msg)
 *   msgtool rawtcp --server ADDR --client ADDR [--count N] [--size B] [--peer-cpu C]
 *                                                        (TCP, no lib/msg)
 *
 * DST is node:service (node numbers from 0, `*` for all). The library is the thing under
 * test: everything but rawpingpong, rawtcp and forge goes through lib/msg. Exit 0 on
 * success, 1 when what was measured failed, 100 on bad usage, 111 on system errors.
 *
 * serve --lazy reads its links as memberd does (MSG_LAZY_LINKS), only on SIGUSR1, and prints
 * "ping NODE arrived NS" for each ping (NS: CLOCK_MONOTONIC, as lib/msg stamped it).
 * lastword sends one ping, keeps its link open MS ms, prints "closing NS" and exits: its
 * FIN follows the ping, which a lazy server has not read yet.
 *
 * The raw references fork their echoing peer, which inherits the caller's CPUs; --peer-cpu
 * moves it to CPU C, so that a reference runs across CPUs like the lib/msg server it is
 * compared with (a ping-pong on one CPU skips the wake-up of an idle one and is ~20x faster
 * on a virtual machine: unpinned, the scheduler picks either at random). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"

static struct cli C = { .prog = "msgtool" };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: msgtool -c CONF serve [-s SERVICE] [--delay-ms N] [--blackhole] [--lazy]\n"
	        "       msgtool -c CONF ping DST [--count N] [--size B]\n"
	        "       msgtool -c CONF send DST --count N [--rate PER_SEC] [--size B]\n"
	        "       msgtool -c CONF call DST [--timeout MS] [--linger MS]\n"
	        "       msgtool -c CONF stream DST --bytes N [--seed S]\n"
	        "       msgtool -c CONF stats DST\n"
	        "       msgtool -c CONF fanout --to a,b,c --count N --rate R\n"
	        "       msgtool -c CONF lastword DST --linger MS\n"
	        "       msgtool -c CONF forge DST --mode replay|badmac|wrongkey|foreign[:ADDR]|garbage"
	        "|unknown-type|local-garbage\n"
	        "       msgtool rawpingpong [--count N] [--size B] [--peer-cpu C]\n"
	        "       msgtool rawtcp --server ADDR --client ADDR [--count N] [--size B] [--peer-cpu C]\n");
	exit(EXIT_USAGE);
}

/* --- options: `--name value`, `-s value`, `--flag`, and positional arguments --- */

struct opts {
	const char *pos[4];
	int npos;
	const char *service, *to, *mode, *server, *client;
	unsigned long long count, size, rate, delay_ms, timeout_ms, linger_ms, bytes, seed;
	long peer_cpu; /* -1: where the caller runs */
	bool blackhole, lazy;
};

static unsigned long long num(const char *name, const char *v)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end)
		cli_fatal(&C, EXIT_USAGE, "%s: expected a number, got \"%s\"", name, v);
	return n;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			if (o->npos >= 4)
				usage();
			o->pos[o->npos++] = a;
			continue;
		}
		if (strcmp(a, "--blackhole") == 0) {
			o->blackhole = true;
			continue;
		}
		if (strcmp(a, "--lazy") == 0) {
			o->lazy = true;
			continue;
		}
		if (i + 1 >= argc)
			cli_fatal(&C, EXIT_USAGE, "%s needs a value", a);
		const char *v = argv[++i];
		if (strcmp(a, "-s") == 0 || strcmp(a, "--service") == 0)
			o->service = v;
		else if (strcmp(a, "--to") == 0)
			o->to = v;
		else if (strcmp(a, "--mode") == 0)
			o->mode = v;
		else if (strcmp(a, "--server") == 0)
			o->server = v;
		else if (strcmp(a, "--client") == 0)
			o->client = v;
		else if (strcmp(a, "--count") == 0)
			o->count = num(a, v);
		else if (strcmp(a, "--size") == 0)
			o->size = num(a, v);
		else if (strcmp(a, "--rate") == 0)
			o->rate = num(a, v);
		else if (strcmp(a, "--delay-ms") == 0)
			o->delay_ms = num(a, v);
		else if (strcmp(a, "--timeout") == 0)
			o->timeout_ms = num(a, v);
		else if (strcmp(a, "--linger") == 0)
			o->linger_ms = num(a, v);
		else if (strcmp(a, "--bytes") == 0)
			o->bytes = num(a, v);
		else if (strcmp(a, "--seed") == 0)
			o->seed = num(a, v);
		else if (strcmp(a, "--peer-cpu") == 0)
			o->peer_cpu = (long)num(a, v);
		else
			cli_fatal(&C, EXIT_USAGE, "unknown option %s", a);
	}
}

static struct msg_addr dst_arg(const struct opts *o)
{
	struct msg_addr d;
	if (o->npos < 1)
		cli_fatal(&C, EXIT_USAGE, "missing destination (node:service)");
	if (msg_addr_parse(o->pos[0], &d) < 0)
		cli_fatal(&C, EXIT_USAGE, "bad destination \"%s\" (expected node:service)", o->pos[0]);
	return d;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Prints median and p99 of n samples (microseconds), sorting them. */
static void print_latency(double *us, size_t n)
{
	qsort(us, n, sizeof *us, cmp_double);
	size_t p99 = n * 99 / 100;
	if (p99 >= n)
		p99 = n - 1;
	printf("count %zu\nmedian_us %.1f\np99_us %.1f\nmax_us %.1f\n", n, us[n / 2], us[p99], us[n - 1]);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/* Runs the loop for ms milliseconds. */
static void on_sleep(struct ev_loop *loop, ev_timer *t, int revents)
{
	*(bool *)t->data = true;
}

static void loop_sleep(struct ev_loop *loop, unsigned ms)
{
	bool done = false;
	ev_timer t;
	ev_timer_init(&t, on_sleep, ms / 1000.0, 0);
	t.data = &done;
	ev_timer_start(loop, &t);
	while (!done)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
}

/* One counter from a stats reply, or -1 if absent. */
static long long stat_value(const struct proto_stats *s, const char *name)
{
	for (size_t i = 0; i < s->counters_count; i++)
		if (s->counters[i].name && strcmp(s->counters[i].name, name) == 0)
			return (long long)s->counters[i].value;
	return -1;
}

/* ------------------------------------------------------------------ serve */

#define TS_MAGIC "shoalts"  /* a ping payload of 16 bytes: magic (8) and CLOCK_MONOTONIC ns */

static uint64_t c_pings, c_requests, c_max_delay_us, c_streams, c_stream_bytes;
static struct opts S;

struct delayed {
	ev_timer t;
	struct msg_ctx *m;
	struct proto_envelope env;
	char service[MSG_SERVICE_MAX];
};

static void answer_view(struct msg_ctx *m, const struct msg_in *in)
{
	struct proto_view v = { .view = 1, .this_node = msg_self_node(m), .incarnation = c_requests };
	msg_reply(m, in, PROTO_VIEW, &v);
}

static void on_delayed(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct delayed *d = t->data;
	struct msg_in in = { .env = &d->env, .type = PROTO_VIEW_GET };
	answer_view(d->m, &in);
	free(d);
}

static void serve_handler(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	switch (in->type) {
	case PROTO_PING: {
		/* one-way (requests are answered by lib/msg) */
		const struct proto_ping *p = in->body;
		c_pings++;
		if (S.lazy) {
			printf("ping %u arrived %.0f\n", in->env->src_node, in->arrived * 1e9);
			fflush(stdout);
		}
		if (p->payload.len == 16 && memcmp(p->payload.data, TS_MAGIC, 8) == 0) {
			uint64_t sent;
			memcpy(&sent, p->payload.data + 8, 8);
			uint64_t now = now_ns();
			uint64_t us = now > sent ? (now - sent) / 1000 : 0;
			if (us > c_max_delay_us)
				c_max_delay_us = us;
		}
		return;
	}
	case PROTO_VIEW_GET:
		c_requests++;
		if (S.blackhole || !in->env->id)
			return;
		if (S.delay_ms) {
			struct delayed *d = calloc(1, sizeof *d);
			if (!d)
				return;
			d->m = m;
			d->env = *in->env;
			snprintf(d->service, sizeof d->service, "%s", in->env->src_service);
			d->env.src_service = d->service;
			d->env.dst_service = NULL;
			d->env.body = (struct proto_bytes){ 0 };
			ev_timer_init(&d->t, on_delayed, S.delay_ms / 1000.0, 0);
			d->t.data = d;
			ev_timer_start(msg_loop(m), &d->t);
			return;
		}
		answer_view(m, in);
		return;
	}
	if (in->env->id && !S.blackhole)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "msgtool does not handle %s",
		                proto_type_name(in->type));
}

struct rx_stream {
	bool used;
	uint32_t node;
	char service[MSG_SERVICE_MAX];
	uint64_t id, bytes;
	crypto_generichash_state h;
};
static struct rx_stream rxs[32];

static void serve_stream(struct msg_ctx *m, const struct msg_in *in,
                         const struct proto_stream_chunk *c, void *arg)
{
	struct rx_stream *r = NULL, *free_slot = NULL;
	for (size_t i = 0; i < sizeof rxs / sizeof rxs[0]; i++) {
		if (!rxs[i].used) {
			if (!free_slot)
				free_slot = &rxs[i];
			continue;
		}
		if (rxs[i].id == c->stream && rxs[i].node == in->env->src_node &&
		    strcmp(rxs[i].service, in->env->src_service) == 0)
			r = &rxs[i];
	}
	if (c->offset == 0) {
		if (!r)
			r = free_slot;
		if (!r)
			return;
		r->used = true;
		r->node = in->env->src_node;
		snprintf(r->service, sizeof r->service, "%s", in->env->src_service);
		r->id = c->stream;
		r->bytes = 0;
		crypto_generichash_init(&r->h, NULL, 0, crypto_generichash_BYTES);
	}
	if (!r)
		return;
	crypto_generichash_update(&r->h, c->data.data, c->data.len);
	r->bytes += c->data.len;
	c_stream_bytes += c->data.len;
	if (c->offset + c->data.len == c->total) {
		uint8_t h[crypto_generichash_BYTES];
		char text[2 * sizeof h + 1];
		crypto_generichash_final(&r->h, h, sizeof h);
		hex(h, sizeof h, text);
		printf("stream %llu %s\n", (unsigned long long)r->bytes, text);
		fflush(stdout);
		c_streams++;
		r->used = false;
	}
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void on_drain(struct ev_loop *loop, ev_signal *w, int revents)
{
	msg_drain_links(w->data);
}

static int cmd_serve(const struct opts *o)
{
	char err[512];
	const char *service = o->service ? o->service : "msgtest";
	S = *o;
	cli_load(&C);
	C.loop = ev_default_loop(EVFLAG_AUTO);
	unsigned flags = msg_service_index(service) >= 0 ? MSG_LISTEN : 0;
	struct msg_ctx *m = msg_open(C.loop, &C.conf, &C.nodes, service, flags, err, sizeof err);
	if (!m)
		cli_fatal(&C, EXIT_SYSTEM, "%s", err);
	msg_set_handler(m, serve_handler, NULL);
	msg_set_stream_handler(m, serve_stream, NULL);
	msg_counter_add(m, "pings", &c_pings);
	msg_counter_add(m, "requests", &c_requests);
	msg_counter_add(m, "max_delay_us", &c_max_delay_us);
	msg_counter_add(m, "streams", &c_streams);
	msg_counter_add(m, "stream_bytes", &c_stream_bytes);
	ev_signal sterm, sint, susr1;
	ev_signal_init(&sterm, on_stop, SIGTERM);
	ev_signal_init(&sint, on_stop, SIGINT);
	ev_signal_start(C.loop, &sterm);
	ev_signal_start(C.loop, &sint);
	if (S.lazy) {
		msg_set_lazy_links(m, true);
		ev_signal_init(&susr1, on_drain, SIGUSR1);
		susr1.data = m;
		ev_signal_start(C.loop, &susr1);
	}
	printf("ready\n");
	fflush(stdout);
	ev_run(C.loop, 0);
	msg_close(m);
	return 0;
}

/* ------------------------------------------------------------------ clients */

static void connect_client(void)
{
	cli_connect(&C);
}

static int cmd_ping(const struct opts *o)
{
	struct msg_addr d = dst_arg(o);
	size_t count = o->count ? o->count : 1000, size = o->size;
	if (size > 65536)
		cli_fatal(&C, EXIT_USAGE, "--size: at most 65536");
	connect_client();
	uint8_t *payload = calloc(1, size + 1);
	double *us = calloc(count, sizeof *us);
	if (!payload || !us)
		cli_fatal(&C, EXIT_SYSTEM, "out of memory");
	unsigned timeout = o->timeout_ms ? (unsigned)o->timeout_ms : 5000;
	struct msg_in r;
	for (size_t i = 0; i <= count; i++) { /* the first round trip (link set-up) is not counted */
		struct proto_ping p = { .seq = i, .payload = { payload, size } };
		uint64_t t0 = now_ns();
		int st = msg_call(C.msg, &d, PROTO_PING, &p, timeout, &r);
		uint64_t t1 = now_ns();
		if (st != MSG_OK || r.type != PROTO_PONG ||
		    ((const struct proto_pong *)r.body)->seq != i) {
			printf("status %s\nfailed_at %zu\n", st == MSG_OK ? "wrong reply" : msg_status_str(st), i);
			free(payload);
			free(us);
			cli_close(&C);
			return 1;
		}
		if (i)
			us[i - 1] = (double)(t1 - t0) / 1000.0;
	}
	print_latency(us, count);
	free(payload);
	free(us);
	cli_close(&C);
	return 0;
}

/* After a flood of pings the destination's queue may still be full: the request is refused
 * at once (MSG_E_QUEUE), so wait for the queue to drain and ask again, within the deadline. */
static int stats_call(const struct msg_addr *d, unsigned timeout_ms, struct msg_in *r)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		int st = msg_call(C.msg, d, PROTO_STATS_GET, &(struct proto_stats_get){ 0 }, timeout_ms, r);
		if (st != MSG_E_QUEUE || now_ns() >= end)
			return st;
		ev_run(C.loop, EVRUN_NOWAIT);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* send: one-way pings, as fast as the destination's queue allows, or paced. */
struct pacer {
	ev_timer t;
	uint64_t t0, sent, count, rate;
	void (*send_one)(struct pacer *p);
	bool done;
};

static void on_pace(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct pacer *p = t->data;
	uint64_t due = (now_ns() - p->t0) * p->rate / 1000000000u + 1;
	if (due > p->count)
		due = p->count;
	while (p->sent < due) {
		p->send_one(p);
		p->sent++;
	}
	if (p->sent >= p->count) {
		ev_timer_stop(loop, t);
		p->done = true;
	}
}

static void pace(struct pacer *p)
{
	p->t0 = now_ns();
	ev_timer_init(&p->t, on_pace, 0, 0.001);
	p->t.data = p;
	ev_timer_start(C.loop, &p->t);
	while (!p->done)
		ev_run(C.loop, EVRUN_ONCE);
}

static struct msg_addr send_dst;
static uint8_t *send_payload;
static size_t send_size;
static uint64_t send_failed;

static int send_ping(void)
{
	struct proto_ping p = { .seq = 0, .payload = { send_payload, send_size } };
	return msg_send(C.msg, &send_dst, PROTO_PING, &p);
}

static void send_paced(struct pacer *p)
{
	if (send_ping() < 0)
		send_failed++;
}

static int cmd_send(const struct opts *o)
{
	send_dst = dst_arg(o);
	uint64_t count = o->count ? o->count : 1000;
	send_size = o->size;
	if (send_size > 65536)
		cli_fatal(&C, EXIT_USAGE, "--size: at most 65536");
	connect_client();
	send_payload = calloc(1, send_size + 1);
	uint64_t t0 = now_ns();
	if (o->rate) {
		struct pacer p = { .count = count, .rate = o->rate, .send_one = send_paced };
		pace(&p);
	} else {
		for (uint64_t i = 0; i < count; i++) {
			/* A full queue: let the loop drain it and try again (one destination only:
			 * a broadcast that failed for one node reached the others). */
			int tries = 0;
			while (send_ping() < 0) {
				if (errno != ENOBUFS || send_dst.node == MSG_NODE_ALL || ++tries > 1000) {
					send_failed++;
					break;
				}
				ev_run(C.loop, EVRUN_ONCE);
			}
		}
	}
	/* A stats request follows the pings on the same socket or link: once it is answered,
	 * every ping before it has been taken in. */
	int rc = 0;
	for (uint32_t n = 0; n < C.nodes.count; n++) {
		if (send_dst.node != MSG_NODE_ALL && send_dst.node != n)
			continue;
		if (C.nodes.node[n].deleted)
			continue;
		struct msg_addr d = send_dst;
		d.node = n;
		struct msg_in r;
		int st = stats_call(&d, 10000, &r);
		if (st != MSG_OK) {
			printf("received %u - (%s)\n", n, msg_status_str(st));
			rc = 1;
			continue;
		}
		printf("received %u %lld\n", n, stat_value(r.body, "pings"));
	}
	uint64_t t1 = now_ns();
	double s = (double)(t1 - t0) / 1e9;
	printf("sent %llu\nfailed %llu\nelapsed_ms %.1f\nrate_per_s %.0f\n", (unsigned long long)count,
	       (unsigned long long)send_failed, s * 1000, (double)(count - send_failed) / s);
	free(send_payload);
	cli_close(&C);
	return rc;
}

static int cmd_lastword(const struct opts *o)
{
	send_dst = dst_arg(o);
	if (send_dst.node == MSG_NODE_ALL)
		cli_fatal(&C, EXIT_USAGE, "lastword: one node, not *");
	connect_client();
	if (send_ping() < 0)
		cli_fatal(&C, EXIT_SYSTEM, "send: %s", strerror(errno));
	loop_sleep(C.loop, (unsigned)(o->linger_ms ? o->linger_ms : 200));
	printf("closing %llu\n", (unsigned long long)now_ns());
	fflush(stdout);
	cli_close(&C);
	return 0;
}

static uint64_t self_counter(const char *name)
{
	struct msg_addr self = { .node = msg_self_node(C.msg) };
	snprintf(self.service, sizeof self.service, "%s", msg_self_service(C.msg));
	struct msg_in r;
	if (stats_call(&self, 2000, &r) != MSG_OK)
		return (uint64_t)-1;
	return (uint64_t)stat_value(r.body, name);
}

static int cmd_call(const struct opts *o)
{
	struct msg_addr d = dst_arg(o);
	unsigned timeout = o->timeout_ms ? (unsigned)o->timeout_ms : 3000;
	connect_client();
	struct msg_in r;
	uint64_t t0 = now_ns();
	int st = msg_call(C.msg, &d, PROTO_VIEW_GET, &(struct proto_view_get){ 0 }, timeout, &r);
	uint64_t t1 = now_ns();
	printf("status %s\n", msg_status_str(st));
	if (st == MSG_E_REMOTE) {
		const struct proto_error *e = r.body;
		printf("error %s %s\n", proto_error_code_name(e->code) ? proto_error_code_name(e->code) : "?",
		       e->text ? e->text : "");
	}
	printf("elapsed_ms %.1f\n", (double)(t1 - t0) / 1e6);
	fflush(stdout);
	if (o->linger_ms) {
		loop_sleep(C.loop, (unsigned)o->linger_ms);
		printf("late_replies %lld\n", (long long)self_counter("late_replies"));
	}
	cli_close(&C);
	return st == MSG_OK ? 0 : 1;
}

static bool stream_done;
static int stream_status;

static void on_stream_done(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	stream_done = true;
	stream_status = status;
}

static int cmd_stream(const struct opts *o)
{
	struct msg_addr d = dst_arg(o);
	size_t len = o->bytes;
	if (!len)
		cli_fatal(&C, EXIT_USAGE, "--bytes: expected a positive size");
	uint8_t *data = malloc(len + 8);
	if (!data)
		cli_fatal(&C, EXIT_SYSTEM, "out of memory");
	uint64_t x = o->seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	for (size_t i = 0; i < len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(data + i, &x, 8);
	}
	uint8_t h[crypto_generichash_BYTES];
	char text[2 * sizeof h + 1];
	crypto_generichash(h, sizeof h, data, len, NULL, 0);
	hex(h, sizeof h, text);
	connect_client();
	uint64_t t0 = now_ns();
	unsigned idle = o->timeout_ms ? (unsigned)o->timeout_ms : 10000;
	if (msg_stream_send(C.msg, &d, 1, data, len, idle, on_stream_done, NULL) < 0) {
		printf("status %s (%s)\n", msg_status_str(MSG_E_UNREACHABLE), strerror(errno));
		cli_close(&C);
		free(data);
		return 1;
	}
	while (!stream_done)
		ev_run(C.loop, EVRUN_ONCE);
	uint64_t t1 = now_ns();
	double s = (double)(t1 - t0) / 1e9;
	printf("status %s\n", msg_status_str(stream_status));
	if (stream_status != MSG_OK) {
		cli_close(&C);
		free(data);
		return 1;
	}
	printf("sent %zu %s\nelapsed_ms %.1f\nmb_per_s %.1f\n", len, text, s * 1000, (double)len / 1e6 / s);
	cli_close(&C);
	free(data);
	return 0;
}

static int cmd_stats(const struct opts *o)
{
	struct msg_addr d = dst_arg(o);
	connect_client();
	struct msg_in r;
	int st = stats_call(&d, o->timeout_ms ? (unsigned)o->timeout_ms : 3000, &r);
	if (st != MSG_OK) {
		fprintf(stderr, "msgtool: stats %s: %s\n", o->pos[0], msg_status_str(st));
		cli_close(&C);
		return 1;
	}
	const struct proto_stats *s = r.body;
	for (size_t i = 0; i < s->counters_count; i++)
		printf("%s %llu\n", s->counters[i].name, (unsigned long long)s->counters[i].value);
	cli_close(&C);
	return 0;
}

/* fanout: one-way pings to several local services at a steady rate. */
#define FANOUT_MAX 16
static struct msg_addr fan_dst[FANOUT_MAX];
static uint64_t fan_drops[FANOUT_MAX];
static size_t fan_n;
static uint64_t fan_max_send_ns, fan_max_iter_ns, fan_check_ns;
static bool fan_measure;

static void fan_send(struct pacer *p)
{
	uint8_t payload[16];
	memcpy(payload, TS_MAGIC, 8);
	for (size_t i = 0; i < fan_n; i++) {
		uint64_t t0 = now_ns();
		memcpy(payload + 8, &t0, 8);
		struct proto_ping ping = { .seq = p->sent, .payload = { payload, sizeof payload } };
		int rc = msg_send(C.msg, &fan_dst[i], PROTO_PING, &ping);
		uint64_t t1 = now_ns();
		if (rc < 0)
			fan_drops[i]++;
		if (t1 - t0 > fan_max_send_ns)
			fan_max_send_ns = t1 - t0;
	}
}

/* One iteration's work: from the end of the poll (check) to the start of the next (prepare). */
static void on_check(struct ev_loop *loop, ev_check *w, int revents)
{
	fan_check_ns = now_ns();
}

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	if (!fan_measure || !fan_check_ns)
		return;
	uint64_t d = now_ns() - fan_check_ns;
	if (d > fan_max_iter_ns)
		fan_max_iter_ns = d;
}

static int cmd_fanout(const struct opts *o)
{
	if (!o->to || !o->count || !o->rate)
		cli_fatal(&C, EXIT_USAGE, "fanout needs --to, --count and --rate");
	connect_client();
	char list[1024];
	snprintf(list, sizeof list, "%s", o->to);
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (fan_n >= FANOUT_MAX)
			cli_fatal(&C, EXIT_USAGE, "--to: at most %d destinations", FANOUT_MAX);
		struct msg_addr *d = &fan_dst[fan_n++];
		if (strchr(t, ':')) {
			if (msg_addr_parse(t, d) < 0 || d->node == MSG_NODE_ALL)
				cli_fatal(&C, EXIT_USAGE, "--to: bad destination %s", t);
		} else {
			if (!msg_service_valid(t))
				cli_fatal(&C, EXIT_USAGE, "--to: bad service %s", t);
			d->node = msg_self_node(C.msg);
			snprintf(d->service, sizeof d->service, "%s", t);
		}
	}
	ev_check chk;
	ev_prepare prep;
	ev_check_init(&chk, on_check);
	ev_set_priority(&chk, EV_MAXPRI);
	ev_prepare_init(&prep, on_prepare);
	ev_check_start(C.loop, &chk);
	ev_prepare_start(C.loop, &prep);
	fan_measure = true;
	struct pacer p = { .count = o->count, .rate = o->rate, .send_one = fan_send };
	pace(&p);
	/* Let what is queued for live receivers drain. */
	loop_sleep(C.loop, 100);
	fan_measure = false;
	for (size_t i = 0; i < fan_n; i++) {
		struct msg_in r;
		printf("dest %s drops %llu", fan_dst[i].service, (unsigned long long)fan_drops[i]);
		int st = stats_call(&fan_dst[i], 1000, &r);
		if (st == MSG_OK)
			printf(" received %lld max_delay_us %lld\n", stat_value(r.body, "pings"),
			       stat_value(r.body, "max_delay_us"));
		else
			printf(" unresponsive\n");
	}
	printf("max_iteration_us %.1f\nmax_send_us %.1f\n", (double)fan_max_iter_ns / 1000.0,
	       (double)fan_max_send_ns / 1000.0);
	ev_check_stop(C.loop, &chk);
	ev_prepare_stop(C.loop, &prep);
	cli_close(&C);
	return 0;
}

/* ------------------------------------------------------------------ forge */

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes within timeout_ms. 0, or -1: errno ETIMEDOUT, or ECONNRESET at
 * EOF. */
static int read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000u;
	while (len) {
		uint64_t now = now_ns();
		if (now >= end) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, (int)((end - now) / 1000000u) + 1);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0)
			continue;
		ssize_t n = recv(fd, p, len, 0);
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Waits for the peer to close: 0 if it did within timeout_ms. */
static int wait_closed(int fd, int timeout_ms)
{
	uint8_t b[4096];
	for (;;) {
		if (read_full(fd, b, 1, timeout_ms) < 0)
			return errno == ETIMEDOUT ? -1 : 0;
	}
}

static int tcp_connect(const char *from, const char *to, unsigned port)
{
	struct sockaddr_storage a, b;
	socklen_t al, bl;
	if (msg_sockaddr(from, 0, &a, &al) < 0 || msg_sockaddr(to, port, &b, &bl) < 0)
		cli_fatal(&C, EXIT_USAGE, "bad address %s or %s", from, to);
	int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		cli_fatal(&C, EXIT_SYSTEM, "socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, al) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "bind %s: %s", from, strerror(errno));
	if (connect(fd, (struct sockaddr *)&b, bl) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "connect %s port %u: %s", to, port, strerror(errno));
	return fd;
}

#define FORGE_SERVICE "forge"

/* An envelope from FORGE_SERVICE on this node carrying a ping (id 0: one-way). */
static size_t forge_envelope(const struct msg_addr *d, uint64_t id, uint8_t *out, size_t cap)
{
	uint8_t body[64];
	size_t blen, len;
	struct proto_ping p = { .seq = 7 };
	if (proto_encode(PROTO_PING, &p, body, sizeof body, &blen) < 0)
		cli_fatal(&C, EXIT_BUG, "encode ping: %s", strerror(errno));
	struct proto_envelope e = {
		.version = PROTO_VERSION, .src_node = msg_self_node(C.msg), .src_service = FORGE_SERVICE,
		.dst_node = d->node, .dst_service = d->service, .id = id, .type = PROTO_PING,
		.body = { body, blen },
	};
	if (proto_envelope_encode_buf(&e, out, cap, &len) < 0)
		cli_fatal(&C, EXIT_BUG, "encode envelope: %s", strerror(errno));
	return len;
}

/* Sends a sealed ping request on an established link and checks the pong. */
static int forge_check_pong(int fd, struct msg_wire *w, const struct msg_addr *d)
{
	uint8_t env[512], frame[512 + MSG_FRAME_OVERHEAD];
	size_t len = msg_wire_seal(w, env, forge_envelope(d, 42, env, sizeof env), frame);
	if (write_all(fd, frame, len) < 0)
		return -1;
	uint8_t hdr[MSG_FRAME_HDR];
	if (read_full(fd, hdr, sizeof hdr, 3000) < 0)
		return -1;
	size_t flen = msg_wire_frame_len(hdr);
	uint8_t *in = malloc(flen ? flen : 1);
	if (!flen || !in)
		return -1;
	memcpy(in, hdr, sizeof hdr);
	const uint8_t *payload;
	size_t plen;
	if (read_full(fd, in + sizeof hdr, flen - sizeof hdr, 3000) < 0 ||
	    msg_wire_open(w, in, flen, &payload, &plen) < 0) {
		free(in);
		return -1;
	}
	static uint8_t arena_mem[65536];
	struct proto_arena a;
	struct proto_envelope e;
	proto_arena_init(&a, arena_mem, sizeof arena_mem);
	int rc = proto_envelope_decode_buf(&e, payload, plen, &a) == 0 && e.type == PROTO_PONG &&
	         e.reply_to == 42 ? 0 : -1;
	free(in);
	return rc;
}

static int forge_local(const struct msg_addr *d, const char *mode)
{
	char path[PATH_MAX + 64];
	struct sockaddr_un to = { .sun_family = AF_UNIX }, me = { .sun_family = AF_UNIX };
	if (d->node != msg_self_node(C.msg))
		cli_fatal(&C, EXIT_USAGE, "%s: the destination must be on this node", mode);
	snprintf(path, sizeof path, "%s/sock/%s", C.conf.run_dir, d->service);
	if ((size_t)snprintf(to.sun_path, sizeof to.sun_path, "%s", path) >= sizeof to.sun_path)
		cli_fatal(&C, EXIT_USAGE, "socket path %s is too long", path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		cli_fatal(&C, EXIT_SYSTEM, "socket: %s", strerror(errno));
	if (strcmp(mode, "local-garbage") == 0) {
		uint8_t junk[300];
		randombytes_buf(junk, sizeof junk);
		if (sendto(fd, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to) < 0)
			cli_fatal(&C, EXIT_SYSTEM, "send to %s: %s", path, strerror(errno));
		printf("sent %zu random bytes\n", sizeof junk);
		return 0;
	}
	/* unknown-type: our own socket, so the error reply can reach us. */
	char name[MSG_SERVICE_MAX];
	snprintf(name, sizeof name, "f.%ld", (long)getpid());
	if ((size_t)snprintf(me.sun_path, sizeof me.sun_path, "%s/sock/%s", C.conf.run_dir, name) >=
	    sizeof me.sun_path)
		cli_fatal(&C, EXIT_USAGE, "socket path for %s is too long", name);
	unlink(me.sun_path);
	if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "bind %s: %s", me.sun_path, strerror(errno));
	uint8_t empty_map = 0xa0, buf[MSG_DGRAM_MAX];
	size_t len;
	struct proto_envelope e = {
		.version = PROTO_VERSION, .src_node = msg_self_node(C.msg), .src_service = name,
		.dst_node = d->node, .dst_service = d->service, .id = 5, .type = 999,
		.body = { &empty_map, 1 },
	};
	if (proto_envelope_encode_buf(&e, buf, sizeof buf, &len) < 0)
		cli_fatal(&C, EXIT_BUG, "encode envelope: %s", strerror(errno));
	int rc = 1;
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
		printf("send failed: %s\n", strerror(errno));
		goto out;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 3000) != 1) {
		printf("no reply\n");
		goto out;
	}
	ssize_t n = recv(fd, buf, sizeof buf, 0);
	static uint8_t arena_mem[65536];
	struct proto_arena a;
	struct proto_envelope r;
	struct proto_error err;
	proto_arena_init(&a, arena_mem, sizeof arena_mem);
	if (n < 0 || proto_envelope_decode_buf(&r, buf, (size_t)n, &a) < 0) {
		printf("bad reply\n");
		goto out;
	}
	if (r.type != PROTO_ERROR || r.reply_to != 5 ||
	    proto_decode(PROTO_ERROR, r.body.data, r.body.len, &err, &a) < 0) {
		printf("reply type %u reply_to %llu\n", r.type, (unsigned long long)r.reply_to);
		goto out;
	}
	const char *cn = proto_error_code_name(err.code);
	printf("error %s %s\n", cn ? cn : "?", err.text ? err.text : "");
	rc = 0;
out:
	unlink(me.sun_path);
	close(fd);
	return rc;
}

static int forge(const struct opts *o);

static int cmd_forge(const struct opts *o)
{
	int rc = forge(o);
	cli_close(&C);
	return rc;
}

static int forge(const struct opts *o)
{
	struct msg_addr d = dst_arg(o);
	const char *mode = o->mode;
	if (!mode)
		cli_fatal(&C, EXIT_USAGE, "forge needs --mode");
	connect_client();
	if (strcmp(mode, "unknown-type") == 0 || strcmp(mode, "local-garbage") == 0)
		return forge_local(&d, mode);

	int idx = msg_service_index(d.service);
	if (idx < 0 || d.node >= C.nodes.count || d.node == MSG_NODE_ALL)
		cli_fatal(&C, EXIT_USAGE, "forge: %s has no port or no such node", o->pos[0]);
	const char *from = C.conf.node_address;
	bool foreign = strncmp(mode, "foreign", 7) == 0;
	if (foreign)
		from = mode[7] == ':' ? mode + 8 : "127.0.0.99";
	uint8_t key[CONF_KEY_MAX], hello[MSG_HELLO_LEN];
	struct conf_error ce;
	char eb[PATH_MAX + 300];
	int keylen = conf_read_key(C.conf.cluster_key, key, sizeof key, &ce);
	if (keylen < 0)
		cli_fatal(&C, EXIT_USAGE, "%s", conf_error_str(&ce, eb, sizeof eb));
	int fd = tcp_connect(from, C.nodes.node[d.node].address, C.conf.port_base + (unsigned)idx);
	struct msg_wire w;
	msg_wire_init(&w, true);
	uint32_t self = msg_self_node(C.msg);

	if (strcmp(mode, "wrongkey") == 0) {
		uint8_t other[32];
		randombytes_buf(other, sizeof other);
		msg_wire_hello(&w, other, sizeof other, self, FORGE_SERVICE, hello);
	} else {
		msg_wire_hello(&w, key, (size_t)keylen, self, FORGE_SERVICE, hello);
	}
	if (write_all(fd, hello, sizeof hello) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "send hello: %s", strerror(errno));
	if (foreign || strcmp(mode, "wrongkey") == 0) {
		int closed = wait_closed(fd, 3000);
		printf("%s\n", closed == 0 ? "closed by peer" : "still open");
		close(fd);
		return closed == 0 ? 0 : 1;
	}
	uint8_t peer[MSG_HELLO_LEN];
	uint32_t pnode;
	char psvc[MSG_SERVICE_MAX];
	if (read_full(fd, peer, sizeof peer, 3000) < 0 ||
	    msg_wire_take_hello(&w, key, (size_t)keylen, peer, &pnode, psvc) < 0) {
		printf("hello failed: %s\n", strerror(errno));
		return 1;
	}
	uint8_t env[512], frame[512 + MSG_FRAME_OVERHEAD];
	size_t elen = forge_envelope(&d, 0, env, sizeof env);
	if (strcmp(mode, "garbage") == 0) {
		uint8_t junk[64] = { 0xff, 0xff, 0xff, 0xf0 }; /* a frame of almost 4 GiB */
		write_all(fd, junk, sizeof junk);
		int closed = wait_closed(fd, 3000);
		printf("%s\n", closed == 0 ? "closed by peer" : "still open");
		close(fd);
		return closed == 0 ? 0 : 1;
	}
	if (strcmp(mode, "replay") == 0) {
		size_t flen = msg_wire_seal(&w, env, elen, frame);
		if (write_all(fd, frame, flen) < 0 || write_all(fd, frame, flen) < 0)
			cli_fatal(&C, EXIT_SYSTEM, "send: %s", strerror(errno));
		printf("sent a frame twice\n");
	} else if (strcmp(mode, "badmac") == 0) {
		size_t flen = msg_wire_seal(&w, env, elen, frame);
		frame[flen - 1] ^= 0x40;
		w.tx_seq--; /* the receiver never accepted it */
		if (write_all(fd, frame, flen) < 0)
			cli_fatal(&C, EXIT_SYSTEM, "send: %s", strerror(errno));
		printf("sent a frame with a bad MAC\n");
	} else {
		cli_fatal(&C, EXIT_USAGE, "unknown --mode %s", mode);
	}
	/* The link survives a dropped frame: a valid request still gets its answer. */
	int rc = forge_check_pong(fd, &w, &d);
	printf("%s\n", rc == 0 ? "pong ok" : "no pong");
	close(fd);
	return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ raw references */

/* Called by the parent, which can still give up cleanly: a CPU the peer cannot have is a
 * broken measurement, not a slower one. */
static void peer_pin(const struct opts *o, pid_t pid)
{
	if (o->peer_cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	if (o->peer_cpu < CPU_SETSIZE)
		CPU_SET((int)o->peer_cpu, &set);
	if (o->peer_cpu >= CPU_SETSIZE || sched_setaffinity(pid, sizeof set, &set) < 0) {
		int e = o->peer_cpu >= CPU_SETSIZE ? EINVAL : errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cli_fatal(&C, EXIT_USAGE, "--peer-cpu %ld: %s", o->peer_cpu, strerror(e));
	}
}

static int cmd_rawpingpong(const struct opts *o)
{
	size_t count = o->count ? o->count : 10000, size = o->size ? o->size : 96;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "socketpair: %s", strerror(errno));
	uint8_t *buf = calloc(1, size);
	double *us = calloc(count, sizeof *us);
	pid_t pid = fork();
	if (pid < 0)
		cli_fatal(&C, EXIT_SYSTEM, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		for (;;) {
			ssize_t n = recv(sv[1], buf, size, 0);
			if (n <= 0 || send(sv[1], buf, (size_t)n, 0) < 0)
				_exit(0);
		}
	}
	peer_pin(o, pid);
	close(sv[1]);
	for (size_t i = 0; i <= count; i++) {
		uint64_t t0 = now_ns();
		if (send(sv[0], buf, size, 0) < 0 || recv(sv[0], buf, size, 0) <= 0)
			cli_fatal(&C, EXIT_SYSTEM, "ping-pong: %s", strerror(errno));
		if (i)
			us[i - 1] = (double)(now_ns() - t0) / 1000.0;
	}
	close(sv[0]);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	print_latency(us, count);
	free(buf);
	free(us);
	return 0;
}

static int cmd_rawtcp(const struct opts *o)
{
	size_t count = o->count ? o->count : 10000, size = o->size ? o->size : 140;
	if (!o->server || !o->client)
		cli_fatal(&C, EXIT_USAGE, "rawtcp needs --server ADDR and --client ADDR");
	struct sockaddr_storage ss;
	socklen_t sl;
	if (msg_sockaddr(o->server, 0, &ss, &sl) < 0)
		cli_fatal(&C, EXIT_USAGE, "bad address %s", o->server);
	int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0)
		cli_fatal(&C, EXIT_SYSTEM, "listen on %s: %s", o->server, strerror(errno));
	unsigned port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
	uint8_t *buf = calloc(1, size);
	double *us = calloc(count, sizeof *us);
	pid_t pid = fork();
	if (pid < 0)
		cli_fatal(&C, EXIT_SYSTEM, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL), one = 1;
		if (fd < 0)
			_exit(1);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		while (read_full(fd, buf, size, 60000) == 0)
			if (write_all(fd, buf, size) < 0)
				break;
		_exit(0);
	}
	peer_pin(o, pid);
	close(lfd);
	int fd = tcp_connect(o->client, o->server, port);
	for (size_t i = 0; i <= count; i++) {
		uint64_t t0 = now_ns();
		if (write_all(fd, buf, size) < 0 || read_full(fd, buf, size, 5000) < 0)
			cli_fatal(&C, EXIT_SYSTEM, "ping-pong: %s", strerror(errno));
		if (i)
			us[i - 1] = (double)(now_ns() - t0) / 1000.0;
	}
	close(fd);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	print_latency(us, count);
	free(buf);
	free(us);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			C.conf_path = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage();
		} else {
			cli_fatal(&C, EXIT_USAGE, "unknown option %s", argv[i]);
		}
	}
	if (i >= argc)
		usage();
	if (sodium_init() < 0)
		cli_fatal(&C, EXIT_SYSTEM, "unable to initialise libsodium");
	const char *cmd = argv[i++];
	struct opts o = { .peer_cpu = -1 };
	parse_opts(argc - i, argv + i, &o);
	static const struct {
		const char *name;
		int (*fn)(const struct opts *);
	} cmds[] = {
		{ "serve", cmd_serve }, { "ping", cmd_ping }, { "send", cmd_send }, { "call", cmd_call },
		{ "stream", cmd_stream }, { "stats", cmd_stats }, { "fanout", cmd_fanout },
		{ "lastword", cmd_lastword }, { "forge", cmd_forge }, { "rawpingpong", cmd_rawpingpong }, { "rawtcp", cmd_rawtcp },
	};
	for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
		if (strcmp(cmd, cmds[k].name) == 0)
			return cmds[k].fn(&o);
	cli_fatal(&C, EXIT_USAGE, "unknown command \"%s\"", cmd);
}
