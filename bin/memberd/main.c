/* memberd: heartbeats every peer's memberd, decides who is connected, owns this node's admin
 * flags and health, and publishes a numbered membership view to local subscribers on every
 * change. This file only wires the parts (see memberd.h). */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "log/log.h"
#include "memberd.h"

static struct memberd md;

double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	switch (in->type) {
	case PROTO_HEARTBEAT:
		heartbeat_received(&md, in);
		return;
	case PROTO_VIEW_SUBSCRIBE:
		view_subscribe(&md, in);
		return;
	case PROTO_VIEW_GET:
		view_answer(&md, in);
		return;
	case PROTO_MEMBER_STATUS_GET:
		status_answer(&md, in);
		return;
	case PROTO_MEMBER_SET:
		member_set(&md, in);
		return;
	case PROTO_NODES_GET:
		nodes_answer(&md, in);
		return;
	case PROTO_MEMBER_RELOAD:
		nodes_reload(&md, in);
		return;
	case PROTO_LEASE_SET:
		lease_set(&md, in);
		return;
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "memberd does not handle %s",
		                proto_type_name(in->type));
}

#define WRITER_CLOSE_MS 3000

/* A graceful stop: peers drop us from their views now, not after a timeout. */
static void on_stop(struct daemon *d)
{
	heartbeat_send_all(&md, true);
	for (int i = 0; i < 10; i++)
		ev_run(d->loop, EVRUN_NOWAIT);
	state_save(&md);
	daemons_stop(&md);
	/* What waits is written before we exit, so a restart finds the newest state; but a
	 * hung disk does not hold up the stop for more than a few seconds. */
	int e = file_writer_close(md.state_file, WRITER_CLOSE_MS);
	if (e)
		log_err("unable to save the node's flags: %s", strerror(e));
	if (e != ETIMEDOUT)
		md.state_file = NULL;
	e = file_writer_close(md.subscribers_file, WRITER_CLOSE_MS);
	if (e != ETIMEDOUT)
		md.subscribers_file = NULL;
}

/* Heartbeats must not wait behind a busy machine's other work. Where not allowed (no
 * privilege, a container), memberd runs without; the detector tolerates its own stalls. */
static void go_realtime(void)
{
	struct sched_param sp = { .sched_priority = 1 };
	if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0)
		log_info("realtime scheduling not available: %s", strerror(errno));
#if !defined(__SANITIZE_ADDRESS__)
	/* On fault, so the tables sized for 1024 nodes cost only what a cluster touches. Under
	 * ASan the shadow mappings are terabytes: never lock those. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_info("unable to lock memory: %s", strerror(errno));
#endif
}

int main(int argc, char **argv)
{
	struct timespec ts;
	int rc = daemon_init(&md.d, "memberd", argc, argv, MSG_LISTEN | MSG_LAZY_LINKS);
	if (rc >= 0)
		return rc;
	md.self = msg_self_node(md.d.msg);
	/* A new incarnation on every start: peers treat it as a view change, so a restart is
	 * never mistaken for the same process having been silent. */
	clock_gettime(CLOCK_REALTIME, &ts);
	md.incarnation = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	md.interval = md.d.conf.keepalive_interval_ms / 1000.0;
	/* keepalive limit intervals, less half of one for the arrivals' own jitter */
	md.silence_limit = md.interval * (md.d.conf.keepalive_limit - 0.5);
	md.d.on_stop = on_stop;
	if (md.d.conf.realtime)
		go_realtime();
	msg_counter_add(md.d.msg, "view_changes", &md.stat_view_changes);
	msg_counter_add(md.d.msg, "heartbeats_rx", &md.stat_heartbeats_rx);
	msg_counter_add(md.d.msg, "heartbeats_bad", &md.stat_heartbeats_bad);
	msg_counter_add(md.d.msg, "stalls", &md.stat_stalls);
	msg_counter_add(md.d.msg, "flaps", &md.stat_flaps);
	msg_set_handler(md.d.msg, on_message, NULL);
	if (state_load(&md) < 0 || view_load_subscribers(&md) < 0)
		return 111;
	lease_init(&md);
	heartbeat_start(&md);
	daemons_start(&md);
	view_changed(&md, "started");
	daemon_ready(&md.d);
	rc = daemon_run(&md.d);
	/* What runs after main (LeakSanitizer's exit scan, in tests) need not be realtime: its
	 * scan waits, spinning, for a helper task that is not, and on a busy machine it spun
	 * for 15 s of CPU at realtime priority. */
	struct sched_param sp = { .sched_priority = 0 };
	sched_setscheduler(0, SCHED_OTHER, &sp);
	return rc;
}
