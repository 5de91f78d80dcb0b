/* logemit: a stand-in daemon for the logfwd tests and benchmark. It attaches to logfwd as
 * service NAME (default logemit) and then either
 *   - emits, every INTERVAL ms, COUNT records "seq=K" at notice and one "debug seq=K" at
 *     debug, until SIGTERM (the ev loop runs, so level changes apply), or
 *   - with -b CALLS: times CALLS log calls back to back and prints
 *     "calls=N p50_us=X p99_us=Y max_us=Z dropped=D" (the -p option waits that many ms
 *     first, for logfwd to be reached; -g US sleeps that long between calls, outside the
 *     timing, for the latency of calls at a steady rate rather than in one burst; -r times
 *     the raw reference instead: formatting the same text into a buffer, the least any log
 *     call does, so the figures show how much of a p99 is the machine's own noise).
 * usage: logemit -c CONF [-s NAME] [-i MS] [-n COUNT] [-b CALLS] [-p MS] [-g US] [-z BYTES] [-r] */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "log/log.h"

static unsigned long seq, count = 1;
static size_t pad;
static unsigned long gap_us;
static bool raw;
static char padding[4096];

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	for (unsigned long i = 0; i < count; i++, seq++)
		log_notice("seq=%lu%s%.*s", seq, pad ? " " : "", (int)pad, padding);
	log_debug("debug seq=%lu", seq);
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench(unsigned long calls)
{
	uint64_t *t = calloc(calls, sizeof *t);
	if (!t)
		return 111;
	uint64_t d0 = log_dropped_total(), start = now_ns();
	for (unsigned long i = 0; i < calls; i++) {
		uint64_t a = now_ns();
		if (raw) {
			static char sink[8192];
			snprintf(sink, sizeof sink, "bench seq=%lu%s%.*s", i, pad ? " " : "", (int)pad, padding);
			__asm__ volatile("" : : "r"(sink) : "memory");
		} else {
			log_notice("bench seq=%lu%s%.*s", i, pad ? " " : "", (int)pad, padding);
		}
		t[i] = now_ns() - a;
		if (gap_us)
			nanosleep(&(struct timespec){ 0, (long)gap_us * 1000 }, NULL);
	}
	uint64_t total = now_ns() - start;
	qsort(t, calls, sizeof *t, cmp_u64);
	printf("calls=%lu p50_us=%.2f p99_us=%.2f max_us=%.2f dropped=%llu rate=%.0f\n", calls,
	       t[calls / 2] / 1e3, t[calls * 99 / 100] / 1e3, t[calls - 1] / 1e3,
	       (unsigned long long)(log_dropped_total() - d0), calls / (total / 1e9));
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "logemit" };
	const char *name = "logemit";
	double interval = 0.01;
	unsigned long calls = 0, pause_ms = 0;
	char err[512];
	int o;
	while ((o = getopt(argc, argv, "c:s:i:n:b:p:g:z:r")) != -1) {
		switch (o) {
		case 'c': c.conf_path = optarg; break;
		case 's': name = optarg; break;
		case 'i': interval = strtod(optarg, NULL) / 1000; break;
		case 'n': count = strtoul(optarg, NULL, 10); break;
		case 'b': calls = strtoul(optarg, NULL, 10); break;
		case 'p': pause_ms = strtoul(optarg, NULL, 10); break;
		case 'g': gap_us = strtoul(optarg, NULL, 10) % 1000000; break;
		case 'z': pad = strtoul(optarg, NULL, 10) % sizeof padding; break;
		case 'r': raw = true; break;
		default: return 100;
		}
	}
	memset(padding, 'x', sizeof padding);
	cli_load(&c);
	signal(SIGPIPE, SIG_IGN);
	struct ev_loop *loop = ev_default_loop(0);
	struct msg_ctx *m = msg_open(loop, &c.conf, &c.nodes, name, 0, err, sizeof err);
	if (!m) {
		fprintf(stderr, "logemit: fatal: %s\n", err);
		return 111;
	}
	log_init(name, (int)msg_self_node(m), c.conf.log_level);
	if (log_attach(m, &c.conf) < 0) {
		fprintf(stderr, "logemit: fatal: unable to attach: %s\n", strerror(errno));
		return 111;
	}
	if (calls) {
		log_notice("bench start");
		usleep((useconds_t)pause_ms * 1000);
		int rc = bench(calls);
		log_detach();
		msg_close(m);
		return rc;
	}
	ev_timer tick;
	ev_signal term, intr;
	ev_timer_init(&tick, on_tick, 0, interval);
	ev_timer_start(loop, &tick);
	ev_signal_init(&term, on_stop, SIGTERM);
	ev_signal_start(loop, &term);
	ev_signal_init(&intr, on_stop, SIGINT);
	ev_signal_start(loop, &intr);
	ev_run(loop, 0);
	log_notice("stopping after seq=%lu", seq);
	log_detach();
	msg_close(m);
	return 0;
}
