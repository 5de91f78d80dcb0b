/* logfwd: takes every local process's log records and writes them to one target, off its
 * event loop, so no daemon ever waits on logging and logfwd itself always answers.
 *
 *   main.c     wiring: the daemon skeleton, dispatch, SIGHUP
 *   sources.c  per-source counters, the per-daemon levels (log-levels), status replies
 *   rings.c    the processes' shared-memory rings (lib/log/ring.c): drained on a poke
 *   writer.c   the bounded queue and the writer thread (the only place that may block)
 *   targets.c  the targets: file, stderr, syslog(3), RFC 3164 and RFC 5424 formatting
 *
 * Threads: the loop (main) pushes records; the writer pops and writes. They share only
 * struct writer, under its mutex, which neither holds across a system call that can block.
 */
#ifndef LOGFWD_H
#define LOGFWD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "daemon/daemon.h"
#include "log/log.h"

#define WRITER_QUEUE_MAX   4096             /* records waiting for the target */
#define WRITER_QUEUE_BYTES (8 * 1024 * 1024)
#define WRITER_BATCH       64               /* records taken per lock; one write for files */
#define SOURCES_MAX        64

/* One record waiting for the target. */
struct wrec {
	uint64_t time_us;
	uint64_t lost_sender;  /* the source dropped this many just before this record */
	uint64_t lost_queue;   /* logfwd dropped this many (queue full) just before it */
	uint32_t pid;
	int level;
	char service[MSG_SERVICE_MAX];
	size_t len;
	char text[];           /* NUL-terminated */
};

/* ---- targets.c ---- */

struct target {
	struct conf_log_target t;
	char location[PATH_MAX];
	char hostname[CONF_LOG_HOST_MAX];
	char tag[CONF_LOG_TAG_MAX];
	int facility;
	int fd;                /* -1: closed */
	double retry_at;       /* monotonic seconds: next open attempt after a failure */
	char error[256];       /* the last failure, "" if none */
};

void target_init(struct target *t, const struct conf *c, const char *hostname);
/* Opens if closed (at most once a second after a failure). 0, or -1 with t->error set. */
int target_open(struct target *t);
void target_close(struct target *t);
/* Writes n records; returns how many the target took (the rest failed: t->error says why). */
size_t target_write(struct target *t, struct wrec *const *r, size_t n);

/* ---- writer.c ---- */

struct writer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool started;
	struct wrec *ring[WRITER_QUEUE_MAX];
	size_t head, count, bytes;
	uint64_t lost_pending;     /* dropped since the last record queued */
	bool idle;                 /* the writer waits on wake */
	/* statistics, under lock */
	uint64_t written, dropped, failed;
	double busy_since;         /* monotonic seconds the current write began; 0 if none */
	char error[256];
	atomic_bool reopen, stop;
	struct target target;      /* the writer thread's alone */
};

void writer_init(struct writer *w, const struct conf *c, const char *hostname);
int writer_start(struct writer *w);
/* From the loop; never waits on the target. 0 queued, -1 dropped (queue full). */
int writer_push(struct writer *w, uint64_t time_us, int level, uint32_t pid, const char *service,
                const char *text, uint64_t lost_sender);
void writer_reopen(struct writer *w);
/* Lets the writer drain for up to timeout seconds, then leaves it (a blocked write). */
void writer_stop(struct writer *w, double timeout);
struct writer_stats {
	uint64_t written, dropped, failed, blocked_ms;
	uint32_t queued;
	char error[256];
};
void writer_stats(struct writer *w, struct writer_stats *s);
double mono_now(void);

/* ---- sources.c ---- */

struct source {
	char service[MSG_SERVICE_MAX];
	uint32_t pid;
	uint64_t received, dropped_sender, dropped_queue;
};

/* ---- rings.c ---- */

#define RINGS_MAX 128

struct ring_src {
	struct log_ring r;
	char path[PATH_MAX];
	char service[MSG_SERVICE_MAX];
	int pidfd;                 /* readable once the producer has exited */
	ev_io gone;
	bool used;
};

struct logfwd {
	struct daemon d;
	struct writer w;
	struct source src[SOURCES_MAX];
	unsigned nsrc;
	uint64_t untracked;        /* records from sources beyond SOURCES_MAX */
	uint64_t remote_refused;   /* log_record from another node */
	struct log_levels levels;
	char levels_path[PATH_MAX];
	struct ring_src rings[RINGS_MAX];
	char ring_dir[PATH_MAX];
	ev_timer ring_poll;        /* runs while records keep coming */
	uint64_t rings_corrupt;
};

/* Maps the rings already in <run dir>/logring (a restart), drains and removes dead ones. */
void rings_init(struct logfwd *lf);
/* A log_ring_poke: map the ring if new, drain every ring, poll while records come. */
void rings_poke(struct logfwd *lf, const struct msg_in *in);
/* Pushes one record to the writer and counts it for its source. */
void sources_push(struct logfwd *lf, const char *service, const struct proto_log_record *r);

void sources_record(struct logfwd *lf, const struct msg_in *in);
void sources_levels_load(struct logfwd *lf);
void sources_level_set(struct logfwd *lf, const struct msg_in *in);
void sources_levels_answer(struct logfwd *lf, const struct msg_in *in);
void sources_status_answer(struct logfwd *lf, const struct msg_in *in);

#endif
