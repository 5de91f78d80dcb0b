/* shoal logging. Every process logs through here; a record is (time, node, service, pid,
 * level, message).
 *
 * Before log_attach(), and in the CLIs, which never attach, a record is one line on stderr.
 * After log_attach() a record (an encoded log_record message) goes into this process's
 * shared-memory ring, <run dir>/logring/SERVICE.PID.N, which logfwd drains: no system call
 * while logfwd is awake, one datagram to wake it when it sleeps (ring.c says how). Where
 * the ring is full or taken by another thread, or before logfwd was once reached, the
 * record is one datagram to logfwd's socket (<run dir>/sock/logfwd, in lib/msg's envelope)
 * sent with MSG_DONTWAIT on a socket of its own: a log call never waits. When logfwd is
 * gone or its socket is full the record is dropped and counted, and the count travels in
 * the next record that gets through (logfwd writes it out). Until a record has once reached
 * logfwd, a record that cannot be sent goes to stderr instead, so a daemon that starts
 * before logfwd loses nothing. What is in the ring when the process dies, or while logfwd
 * restarts, is still delivered: logfwd drains a dead process's ring before removing it.
 *
 * Levels: log_attach() reads <run dir>/log-levels (written by logfwd when `logctl level`
 * changes one, so levels survive restarts) and watches it; a change applies at once.
 *
 * log_msg() may be called from any thread; log_attach/detach/set_sink from the main one.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/conf.h"

struct msg_ctx;

#define LOG_TEXT_MAX 2000 /* bytes of message text; a longer one is cut and ends in "..." */

void log_init(const char *service, int node, int level);
void log_set_level(int level);
int log_get_level(void);

/* Sends records to this node's logfwd from now on, and follows <run dir>/log-levels for
 * this process's service (msg_self_service(m)). The watcher runs on msg_loop(m) and does
 * not keep the loop alive. 0, or -1 with errno (records then keep going to stderr). */
int log_attach(struct msg_ctx *m, const struct conf *c);
/* Back to stderr; stops the watcher. Call before the loop goes away. */
void log_detach(void);

/* logfwd's own records: handed to fn (in the calling thread) instead of a socket. */
struct log_rec {
	uint64_t time_us; /* CLOCK_REALTIME */
	int level;
	pid_t pid;
	const char *service;
	const char *text; /* NUL-terminated, one line */
};
typedef void log_sink_fn(const struct log_rec *r, void *arg);
void log_set_sink(log_sink_fn *fn, void *arg);

/* Records this process has dropped since it started (never reset). */
uint64_t log_dropped_total(void);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)     log_msg(LOGL_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOGL_DEBUG, __VA_ARGS__)

/* ---- <run dir>/log-levels: one "SERVICE LEVEL" per line, `*` the default ---- */

#define LOG_LEVELS_MAX 64

struct log_levels {
	int def;                  /* -1: none set (the configuration's level applies) */
	unsigned n;
	struct {
		char service[32];
		int level;
	} e[LOG_LEVELS_MAX];
};

void log_levels_path(const struct conf *c, char *buf, size_t len);
/* 0, or -1 with errno (ENOENT: no file: l is empty). Bad lines are skipped. */
int log_levels_load(const char *path, struct log_levels *l);
/* Atomically (temporary file, rename). 0 or -1 with errno. */
int log_levels_save(const char *path, const struct log_levels *l);
/* The level for service, else the default, else fallback. */
int log_levels_find(const struct log_levels *l, const char *service, int fallback);
/* service NULL or "": the default, and every override is removed. -1 ENOSPC when full. */
int log_levels_set(struct log_levels *l, const char *service, int level);


/* ---- the shared-memory ring (ring.c): the process produces, logfwd consumes ---- */
#define LOG_RING_BYTES      (256 * 1024)
#define LOG_RING_RECORD_MAX 4096

struct log_ring_hdr {
	_Atomic uint32_t magic;   /* set last, once the rest is written */
	uint32_t size;
	uint32_t pid;             /* the producer */
	char service[32];
	_Alignas(64) _Atomic uint64_t head; /* bytes written, only grows */
	_Alignas(64) _Atomic uint64_t tail; /* bytes taken, only grows */
	_Atomic uint32_t sleeping;          /* logfwd waits for a poke */
};

struct log_ring {
	struct log_ring_hdr *h;
	uint8_t *data;
};

/* The producer's: a new file at path (O_EXCL), mapped. 0 or -1 with errno. */
int log_ring_create(struct log_ring *r, const char *path, const char *service, pid_t pid);
/* logfwd's: maps an existing ring, checking its size and magic. 0 or -1 with errno. */
int log_ring_open(struct log_ring *r, const char *path);
void log_ring_close(struct log_ring *r);
/* 0 stored (poke: logfwd sleeps, wake it), or -1: no room. */
int log_ring_put(struct log_ring *r, const void *rec, size_t len, bool *poke);
/* 1 with the next record copied to buf, 0 when empty, -1 EPROTO on a corrupt ring. */
int log_ring_get(struct log_ring *r, void *buf, size_t cap, size_t *len);
/* logfwd is about to stop looking: true if it may (the ring is empty and flagged so that the
 * next record pokes), false if a record came in meanwhile. */
bool log_ring_sleep(struct log_ring *r);
pid_t log_ring_pid(const struct log_ring *r);
#endif
