/* What logfwd knows about its sources: per-service counters, the per-daemon levels kept
 * in <run dir>/log-levels, and the replies that report them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "logfwd.h"

static struct source *source_get(struct logfwd *lf, const char *service)
{
	for (unsigned i = 0; i < lf->nsrc; i++)
		if (strcmp(lf->src[i].service, service) == 0)
			return &lf->src[i];
	if (lf->nsrc >= SOURCES_MAX)
		return NULL;
	struct source *s = &lf->src[lf->nsrc++];
	memset(s, 0, sizeof *s);
	snprintf(s->service, sizeof s->service, "%s", service);
	return s;
}

void sources_record(struct logfwd *lf, const struct msg_in *in)
{
	const struct proto_log_record *r = in->body;
	if (in->remote) { /* records are a node's own: another node's logfwd has them */
		lf->remote_refused++;
		return;
	}
	sources_push(lf, in->env->src_service, r);
}

void sources_push(struct logfwd *lf, const char *service, const struct proto_log_record *r)
{
	struct source *s = source_get(lf, service);
	int level = r->level > LOGL_DEBUG ? LOGL_DEBUG : r->level;
	int rc = writer_push(&lf->w, r->time_us, level, r->pid, service, r->text ? r->text : "",
	                     r->dropped);
	if (!s) {
		lf->untracked++;
		return;
	}
	s->pid = r->pid;
	s->received++;
	s->dropped_sender += r->dropped;
	if (rc < 0)
		s->dropped_queue++;
}

void sources_levels_load(struct logfwd *lf)
{
	log_levels_path(&lf->d.conf, lf->levels_path, sizeof lf->levels_path);
	if (log_levels_load(lf->levels_path, &lf->levels) < 0 && errno != ENOENT)
		log_warning("unable to read %s: %s", lf->levels_path, strerror(errno));
}

void sources_levels_answer(struct logfwd *lf, const struct msg_in *in)
{
	struct proto_log_level_entry e[LOG_LEVELS_MAX];
	for (unsigned i = 0; i < lf->levels.n; i++)
		e[i] = (struct proto_log_level_entry){ .service = lf->levels.e[i].service,
		                                       .level = (uint8_t)lf->levels.e[i].level };
	struct proto_log_levels r = {
		.default_level = (uint8_t)(lf->levels.def >= 0 ? lf->levels.def : lf->d.conf.log_level),
		.levels = e,
		.levels_count = lf->levels.n,
	};
	msg_reply(lf->d.msg, in, PROTO_LOG_LEVELS, &r);
}

void sources_level_set(struct logfwd *lf, const struct msg_in *in)
{
	const struct proto_log_level_set *q = in->body;
	const char *svc = q->service && *q->service ? q->service : NULL;
	if (q->level < LOGL_ERR || q->level > LOGL_DEBUG) {
		msg_reply_error(lf->d.msg, in, PROTO_ERROR_CODE_MALFORMED, "level %u is not one of 3 (err) .. 7 (debug)",
		                q->level);
		return;
	}
	if (svc && !msg_service_valid(svc)) {
		msg_reply_error(lf->d.msg, in, PROTO_ERROR_CODE_MALFORMED, "\"%s\" is not a daemon name", svc);
		return;
	}
	struct log_levels next = lf->levels;
	if (log_levels_set(&next, svc, q->level) < 0) {
		msg_reply_error(lf->d.msg, in, PROTO_ERROR_CODE_FAILED, "more than %d daemons have levels",
		                LOG_LEVELS_MAX);
		return;
	}
	/* On disk first: every process follows the file, and so does a restart. */
	if (log_levels_save(lf->levels_path, &next) < 0) {
		msg_reply_error(lf->d.msg, in, PROTO_ERROR_CODE_FAILED, "unable to write %s: %s",
		                lf->levels_path, strerror(errno));
		return;
	}
	lf->levels = next;
	log_notice("log level of %s set to %s", svc ? svc : "every daemon", log_level_name(q->level));
	sources_levels_answer(lf, in);
}

void sources_status_answer(struct logfwd *lf, const struct msg_in *in)
{
	struct proto_log_source s[SOURCES_MAX];
	struct writer_stats ws;
	int def = lf->levels.def >= 0 ? lf->levels.def : lf->d.conf.log_level;
	writer_stats(&lf->w, &ws);
	for (unsigned i = 0; i < lf->nsrc; i++)
		s[i] = (struct proto_log_source){
			.service = lf->src[i].service,
			.pid = lf->src[i].pid,
			.received = lf->src[i].received,
			.dropped_sender = lf->src[i].dropped_sender,
			.dropped_queue = lf->src[i].dropped_queue,
			.level = (uint8_t)log_levels_find(&lf->levels, lf->src[i].service, def),
		};
	struct proto_log_status r = {
		.target = lf->d.conf.log_location,
		.written = ws.written,
		.dropped_queue = ws.dropped,
		.failed = ws.failed,
		.queued = ws.queued,
		.queue_max = WRITER_QUEUE_MAX,
		.blocked_ms = ws.blocked_ms,
		.default_level = (uint8_t)def,
		.sources = s,
		.sources_count = lf->nsrc,
		.error = ws.error,
	};
	msg_reply(lf->d.msg, in, PROTO_LOG_STATUS, &r);
}
