/* logfwd: the node's log stream. Every local process sends its records here (lib/log);
 * logfwd queues them for a writer thread that alone touches the target, so neither the
 * senders nor logfwd's own loop ever wait on a slow file, pipe or syslog daemon. This file
 * only wires the parts: sources.c (counters, levels, status), writer.c (queue, thread),
 * targets.c (formats and targets). */
#include <errno.h>
#include <string.h>

#include "logfwd.h"

static struct logfwd lf;
static ev_signal sighup;

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	switch (in->type) {
	case PROTO_LOG_RECORD:
		sources_record(&lf, in);
		return;
	case PROTO_LOG_RING_POKE:
		rings_poke(&lf, in);
		return;
	case PROTO_LOG_LEVEL_SET:
		sources_level_set(&lf, in);
		return;
	case PROTO_LOG_LEVEL_GET:
		sources_levels_answer(&lf, in);
		return;
	case PROTO_LOG_STATUS_GET:
		sources_status_answer(&lf, in);
		return;
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "logfwd does not handle %s",
		                proto_type_name(in->type));
}

/* logfwd's own records skip the socket: straight into the queue. */
static void own_record(const struct log_rec *r, void *arg)
{
	writer_push(&lf.w, r->time_us, r->level, (uint32_t)r->pid, r->service, r->text, 0);
}

static void on_sighup(struct ev_loop *loop, ev_signal *w, int revents)
{
	writer_reopen(&lf.w);
	log_info("SIGHUP: reopening %s", lf.d.conf.log_location);
}

int main(int argc, char **argv)
{
	int rc = daemon_init(&lf.d, "logfwd", argc, argv, 0);
	if (rc >= 0)
		return rc;
	const char *host = lf.d.conf.log_hostname[0] ? lf.d.conf.log_hostname : lf.d.conf.node_address;
	writer_init(&lf.w, &lf.d.conf, host);
	log_set_sink(own_record, NULL);
	sources_levels_load(&lf);
	if (writer_start(&lf.w) < 0) {
		log_set_sink(NULL, NULL);
		log_err("fatal: unable to start the writer thread: %s", strerror(errno));
		return 111;
	}
	msg_set_handler(lf.d.msg, on_message, NULL);
	rings_init(&lf);
	ev_signal_init(&sighup, on_sighup, SIGHUP);
	ev_signal_start(lf.d.loop, &sighup);
	ev_unref(lf.d.loop);
	daemon_ready(&lf.d);
	rc = daemon_run(&lf.d);
	log_set_sink(NULL, NULL);
	/* What is queued gets a moment to reach the target; a stuck target is abandoned. */
	writer_stop(&lf.w, 1.0);
	return rc;
}
