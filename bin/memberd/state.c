/* This node's own state: admin flags (disabled, stopped, banned) and health reasons.
 *
 * memberd owns its node's flags: it keeps them in <database dir>/memberd.state (written
 * atomically and durably, by a thread: the loop never waits on the disk) so they survive
 * daemon and node restarts, and tells every peer in each
 * heartbeat. A ban is held as time remaining: the file stores the remainder (rewritten
 * every few seconds while banned), every node counts it down on its own CLOCK_MONOTONIC,
 * and it lifts on its own. Health is a set of reasons; each source clears only its own. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "memberd.h"

#define REASON_UNMONITORED "not yet monitored"
#define STATE_FILE_MAX (256 + REASONS_MAX * (REASON_LEN + 16))

static void state_path(const struct memberd *md, char *buf, size_t len)
{
	snprintf(buf, len, "%s/memberd.state", md->d.conf.db_dir);
}

uint64_t state_ban_remaining_ms(double until, double now)
{
	return until > now ? (uint64_t)((until - now) * 1000 + 0.5) : 0;
}

uint32_t state_flags(const struct memberd *md, double now)
{
	uint32_t f = 0;
	if (md->disabled)
		f |= MEMBER_FLAG_DISABLED;
	if (md->stopped)
		f |= MEMBER_FLAG_STOPPED;
	if (md->ban_until > now)
		f |= MEMBER_FLAG_BANNED;
	if (md->health.n)
		f |= MEMBER_FLAG_UNHEALTHY;
	return f;
}

bool reasons_set(struct reasons *r, const char *reason, bool on)
{
	for (unsigned i = 0; i < r->n; i++) {
		if (strcmp(r->r[i], reason) != 0)
			continue;
		if (on)
			return false;
		memmove(r->r[i], r->r[i + 1], (r->n - i - 1) * sizeof r->r[0]);
		r->n--;
		return true;
	}
	if (!on || r->n == REASONS_MAX)
		return false;
	snprintf(r->r[r->n++], REASON_LEN, "%s", reason);
	return true;
}

/* Reasons that other sources own and set again themselves: not kept on disk. */
static bool reason_is_automatic(const char *r)
{
	return strcmp(r, REASON_UNMONITORED) == 0 ||
	       (strncmp(r, "daemon ", 7) == 0 && strstr(r, " permanently down"));
}

void state_save(struct memberd *md)
{
	char path[PATH_MAX + 32], buf[STATE_FILE_MAX];
	state_path(md, path, sizeof path);
	int n = snprintf(buf, sizeof buf,
	                 "# memberd's admin state of this node; written by memberd, read at its start\n"
	                 "disabled = %d\nstopped = %d\nban remaining ms = %llu\n",
	                 md->disabled, md->stopped,
	                 (unsigned long long)state_ban_remaining_ms(md->ban_until, mono_now()));
	/* Reasons an admin set by hand stay until an admin clears them. */
	for (unsigned i = 0; i < md->health.n; i++)
		if (!reason_is_automatic(md->health.r[i]))
			n += snprintf(buf + n, sizeof buf - (size_t)n, "health = %s\n", md->health.r[i]);
	/* By the writer's thread: under I/O load a write here stalled the loop 327 ms, and the
	 * peers dropped this node for its silence. */
	if (file_writer_put(md->state_file, buf, (size_t)n) < 0)
		log_err("unable to save the node's flags to %s: %s", path, strerror(errno));
}

/* The writers' threads cannot log: their failures are told from the loop. */
static void state_report_write_errors(struct memberd *md)
{
	struct file_writer *w[] = { md->state_file, md->subscribers_file };
	for (unsigned i = 0; i < sizeof w / sizeof w[0]; i++) {
		int e = w[i] ? file_writer_error(w[i]) : 0;
		if (e)
			log_err("unable to save %s: %s", file_writer_path(w[i]), strerror(e));
	}
}

int state_load(struct memberd *md)
{
	char path[PATH_MAX + 32], line[256];
	double now = mono_now();
	state_path(md, path, sizeof path);
	md->state_file = file_writer_new(path, STATE_FILE_MAX);
	if (!md->state_file) {
		log_err("unable to start the writer of %s: %s", path, strerror(errno));
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		/* First start: the configured state. */
		md->disabled = md->d.conf.start_as == CONF_START_DISABLED;
		md->stopped = md->d.conf.start_as == CONF_START_STOPPED;
		if (errno != ENOENT)
			log_err("unable to read %s: %s; starting as configured", path, strerror(errno));
	} else {
		unsigned lineno = 0, known = 0;
		while (fgets(line, sizeof line, f)) {
			int v;
			unsigned long long ms;
			lineno++;
			if (line[0] == '#' || line[0] == '\n')
				continue;
			if (sscanf(line, "disabled = %d", &v) == 1)
				md->disabled = v != 0;
			else if (sscanf(line, "stopped = %d", &v) == 1)
				md->stopped = v != 0;
			else if (sscanf(line, "ban remaining ms = %llu", &ms) == 1)
				md->ban_until = ms ? now + ms / 1000.0 : 0;
			else if (strncmp(line, "health = ", 9) == 0 && line[9] != '\n') {
				line[strcspn(line, "\n")] = 0;
				reasons_set(&md->health, line + 9, true);
			}
			else {
				log_warning("%s:%u: ignoring unknown line", path, lineno);
				continue;
			}
			known++;
		}
		fclose(f);
		/* Empty: left so by an older memberd that did not fsync, or by a damaged disk. */
		if (!known) {
			log_warning("%s holds no state: starting as configured", path);
			md->disabled = md->d.conf.start_as == CONF_START_DISABLED;
			md->stopped = md->d.conf.start_as == CONF_START_STOPPED;
		}
	}
	if (md->d.conf.health_monitor != CONF_HEALTH_NONE)
		reasons_set(&md->health, REASON_UNMONITORED, true);
	state_housekeeping(md);
	state_save(md);
	return 0;
}

/* Daemons the supervisor left down (svc/NAME/finish writes <run dir>/failed/NAME). */
#define FAILED_ROUNDS 5
static bool failed_daemons(struct memberd *md)
{
	char dir[PATH_MAX + 16], reason[REASON_LEN];
	bool changed = false;
	snprintf(dir, sizeof dir, "%s/failed", md->d.conf.run_dir);
	struct reasons now = { 0 };
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' && now.n < REASONS_MAX) {
				snprintf(reason, sizeof reason, REASON_FAILED_FMT, e->d_name);
				reasons_set(&now, reason, true);
			}
		closedir(d);
	}
	/* This source clears only its own reasons. */
	for (unsigned i = 0; i < md->health.n;) {
		if (strncmp(md->health.r[i], "daemon ", 7) == 0 &&
		    strstr(md->health.r[i], " permanently down")) {
			bool still = false;
			for (unsigned k = 0; k < now.n; k++)
				still |= strcmp(now.r[k], md->health.r[i]) == 0;
			if (!still) {
				reasons_set(&md->health, md->health.r[i], false);
				changed = true;
				continue;
			}
		}
		i++;
	}
	for (unsigned k = 0; k < now.n; k++)
		if (reasons_set(&md->health, now.r[k], true)) {
			log_warning("health: %s", now.r[k]);
			changed = true;
		}
	return changed;
}

void state_housekeeping(struct memberd *md)
{
	double now = mono_now();
	state_report_write_errors(md);
	/* Every FAILED_ROUNDS seconds: a daemon left down stays down, and the look costs a
	 * path lookup that runs cold. */
	bool changed = md->chores_round % FAILED_ROUNDS == 0 && failed_daemons(md);
	if (md->ban_until && md->ban_until <= now) {
		md->ban_until = 0;
		log_notice("ban lifted");
		state_save(md);
		changed = true;
	} else if (md->ban_until && md->chores_round % 3 == 0) {
		state_save(md); /* the remainder, so a restart resumes the ban */
	}
	if (changed) {
		view_changed(md, "own state changed");
		heartbeat_send_all(md, false);
	}
}

int state_apply(struct memberd *md, const struct proto_member_set *op, char *why, size_t len)
{
	double now = mono_now();
	const char *reason = op->reason ? op->reason : "";
	switch (op->op) {
	case PROTO_MEMBER_OP_DISABLE: md->disabled = true; break;
	case PROTO_MEMBER_OP_ENABLE: md->disabled = false; break;
	case PROTO_MEMBER_OP_STOP: md->stopped = true; break;
	case PROTO_MEMBER_OP_CONTINUE: md->stopped = false; break;
	case PROTO_MEMBER_OP_BAN:
		if (op->ban_seconds == 0) {
			snprintf(why, len, "a ban needs a number of seconds above 0");
			return -1;
		}
		md->ban_until = now + op->ban_seconds;
		break;
	case PROTO_MEMBER_OP_UNBAN: md->ban_until = 0; break;
	case PROTO_MEMBER_OP_HEALTH_ON:
	case PROTO_MEMBER_OP_HEALTH_OFF:
		if (!*reason) {
			snprintf(why, len, "a health change needs a reason");
			return -1;
		}
		/* svcd repeats its verdicts after every monitor (so a restarted memberd learns
		 * them): one that changes nothing makes no view, no save and no log line. */
		if (!reasons_set(&md->health, reason, op->op == PROTO_MEMBER_OP_HEALTH_ON))
			return 0;
		break;
	default:
		snprintf(why, len, "unknown operation %u", (unsigned)op->op);
		return -1;
	}
	log_notice("%s%s%s", proto_member_op_name(op->op), *reason ? " " : "", reason);
	state_save(md);
	view_changed(md, "own state changed");
	heartbeat_send_all(md, false);
	return 0;
}
