/* The local processes' shared-memory log rings (lib/log/ring.c has the layout and the
 * wake-up protocol). A process pokes logfwd only when logfwd sleeps; logfwd then drains
 * every ring and keeps polling every RING_POLL_S while records keep coming, so a busy
 * process makes no system call per record, and an idle node costs no wake-up at all.
 *
 * A ring outlives its process: logfwd learns of the exit from a pidfd, drains what is
 * left (the last records before a crash are kept) and removes the file. A restarted
 * logfwd picks up every ring in <run dir>/logring at start.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "logfwd.h"

#define RING_POLL_S 0.002
#define RING_BATCH  512 /* records per ring per wake-up, so the loop keeps answering */

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Up to max records of one ring to the writer; the count, or -1 if the ring is corrupt. */
static int drain(struct logfwd *lf, struct ring_src *rs, int max)
{
	uint8_t rec[LOG_RING_RECORD_MAX], mem[LOG_RING_RECORD_MAX + 256];
	struct proto_arena a;
	struct proto_log_record r;
	size_t len;
	int n = 0, rc;
	while (n < max && (rc = log_ring_get(&rs->r, rec, sizeof rec, &len)) == 1) {
		proto_arena_init(&a, mem, sizeof mem);
		n++;
		if (proto_log_record_decode_buf(&r, rec, len, &a) < 0) {
			lf->rings_corrupt++;
			continue;
		}
		sources_push(lf, rs->service, &r);
	}
	if (n < max && rc < 0) {
		lf->rings_corrupt++;
		return -1;
	}
	return n;
}

static void ring_remove(struct logfwd *lf, struct ring_src *rs, bool unlink_file)
{
	if (rs->pidfd >= 0) {
		ev_ref(lf->d.loop);
		ev_io_stop(lf->d.loop, &rs->gone);
		close(rs->pidfd);
	}
	log_ring_close(&rs->r);
	if (unlink_file)
		unlink(rs->path);
	rs->used = false;
}

/* The producer exited: what it left is still delivered. */
static void on_gone(struct ev_loop *loop, ev_io *w, int revents)
{
	struct logfwd *lf = w->data;
	struct ring_src *rs = (struct ring_src *)((char *)w - offsetof(struct ring_src, gone));
	while (drain(lf, rs, RING_BATCH) > 0)
		;
	ring_remove(lf, rs, true);
}

static void start_polling(struct logfwd *lf)
{
	if (!ev_is_active(&lf->ring_poll)) {
		ev_timer_set(&lf->ring_poll, RING_POLL_S, RING_POLL_S);
		ev_timer_start(lf->d.loop, &lf->ring_poll);
		ev_unref(lf->d.loop);
	}
}

static int drain_all(struct logfwd *lf)
{
	int total = 0;
	for (unsigned i = 0; i < RINGS_MAX; i++) {
		struct ring_src *rs = &lf->rings[i];
		if (!rs->used)
			continue;
		int n = drain(lf, rs, RING_BATCH);
		if (n < 0) {
			log_warning("%s: corrupt log ring, dropped", rs->path);
			ring_remove(lf, rs, true);
		} else {
			total += n;
		}
	}
	return total;
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct logfwd *lf = w->data;
	if (drain_all(lf) > 0)
		return;
	/* Quiet for a tick: sleep, unless a record slipped in while flags were being set. */
	bool quiet = true;
	for (unsigned i = 0; i < RINGS_MAX; i++)
		if (lf->rings[i].used && !log_ring_sleep(&lf->rings[i].r))
			quiet = false;
	if (quiet) {
		ev_ref(loop);
		ev_timer_stop(loop, w);
	}
}

/* path names a file directly in ring_dir: nothing else is mapped. */
static bool path_ok(const struct logfwd *lf, const char *path)
{
	size_t n = strlen(lf->ring_dir);
	return path && strncmp(path, lf->ring_dir, n) == 0 && path[n] == '/' && path[n + 1] &&
	       path[n + 1] != '.' && !strchr(path + n + 1, '/');
}

static struct ring_src *ring_find(struct logfwd *lf, const char *path)
{
	for (unsigned i = 0; i < RINGS_MAX; i++)
		if (lf->rings[i].used && strcmp(lf->rings[i].path, path) == 0)
			return &lf->rings[i];
	return NULL;
}

static struct ring_src *ring_add(struct logfwd *lf, const char *path)
{
	struct ring_src *rs = NULL;
	for (unsigned i = 0; i < RINGS_MAX && !rs; i++)
		if (!lf->rings[i].used)
			rs = &lf->rings[i];
	if (!rs) {
		log_warning("%s: more than %d log rings; its process is heard by datagram only", path,
		            RINGS_MAX);
		return NULL;
	}
	memset(rs, 0, sizeof *rs);
	rs->pidfd = -1;
	snprintf(rs->path, sizeof rs->path, "%s", path);
	if (log_ring_open(&rs->r, path) < 0) {
		log_warning("%s: not a log ring: %s", path, strerror(errno));
		return NULL;
	}
	snprintf(rs->service, sizeof rs->service, "%.*s", (int)sizeof rs->r.h->service, rs->r.h->service);
	if (!msg_service_valid(rs->service))
		snprintf(rs->service, sizeof rs->service, "unknown");
	rs->used = true;
	rs->pidfd = pidfd_open(log_ring_pid(&rs->r));
	if (rs->pidfd < 0) { /* its process is gone already: what it left, then the file */
		while (drain(lf, rs, RING_BATCH) > 0)
			;
		ring_remove(lf, rs, true);
		return NULL;
	}
	ev_io_init(&rs->gone, on_gone, rs->pidfd, EV_READ);
	rs->gone.data = lf;
	ev_io_start(lf->d.loop, &rs->gone);
	ev_unref(lf->d.loop);
	return rs;
}

void rings_init(struct logfwd *lf)
{
	ev_init(&lf->ring_poll, on_poll);
	lf->ring_poll.data = lf;
	if (snprintf(lf->ring_dir, sizeof lf->ring_dir, "%.*s/logring", PATH_MAX - 16,
	             lf->d.conf.run_dir) >= (int)sizeof lf->ring_dir)
		return;
	DIR *d = opendir(lf->ring_dir);
	if (!d)
		return;
	struct dirent *e;
	char path[PATH_MAX + 300];
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    snprintf(path, sizeof path, "%s/%s", lf->ring_dir, e->d_name) < (int)sizeof lf->rings[0].path)
			ring_add(lf, path);
	closedir(d);
	/* A producer may have cleared `sleeping` for a poke that went to the old logfwd. */
	if (drain_all(lf) >= 0)
		start_polling(lf);
}

void rings_poke(struct logfwd *lf, const struct msg_in *in)
{
	const struct proto_log_ring_poke *p = in->body;
	if (in->remote)
		return;
	if (!ring_find(lf, p->path)) {
		if (!path_ok(lf, p->path)) {
			log_warning("%s[%ld]: log ring \"%s\" is not in %s: ignored", in->env->src_service,
			            (long)in->pid, p->path ? p->path : "", lf->ring_dir);
			return;
		}
		ring_add(lf, p->path);
	}
	drain_all(lf);
	start_polling(lf);
}
