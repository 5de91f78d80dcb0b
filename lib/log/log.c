/* shoal logging, the client side in every process (see log.h).
 *
 * On stderr a record is one line, one write(2):
 *
 *     2024-05-01T12:00:00.123Z notice memberd[4242]: node 2 connected
 *
 * The time is UTC (the nodes of a cluster compare their logs). A line longer than
 * LOG_LINE_MAX (a record for logfwd: LOG_TEXT_MAX of text) is cut and ends in "...";
 * newlines become spaces, so a record is always one line. A full stderr pipe (EAGAIN) drops the record rather than wait; errno is kept.
 *
 * To logfwd a record goes first into the shared-memory ring (ring.c; to_shm below), once
 * logfwd was reached. Where the ring is full or another thread holds it, it is one
 * datagram instead, a log_record in an envelope from this node and
 * service, sent with MSG_DONTWAIT on a connected socket that is never closed while
 * attached (so threads may share it); reconnecting is connect(2) again on the same socket,
 * tried at most every LOG_RETRY_NS while logfwd is gone.
 *
 * A full socket (EAGAIN: Linux lets only net.unix.max_dgram_qlen datagrams wait, 10 by
 * default) does not drop at once: the datagram waits in a small ring (LOG_RING) that the
 * next log call, or the loop when the socket turns writable, sends on, so a burst survives
 * a logfwd that is a moment late. A full ring drops and counts; so does logfwd being gone.
 * The ring is taken with trylock only: a log call never waits for another thread.
 */
#include "log/log.h"

#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"
#include "msg/msg.h"

#define LOG_LINE_MAX 2048 /* a stderr line, its newline included */
#define LOG_RETRY_NS (20 * 1000000LL)
#define LOG_SNDBUF   (1024 * 1024)
#define LOG_RING     256

static char log_service[32] = "shoal";
static int log_node = -1;
static atomic_int log_level = LOGL_NOTICE;

static atomic_int log_fd = -1;            /* to logfwd; -1: not attached */
static atomic_bool log_reached;           /* a record once got through */
static atomic_uint_fast64_t log_pending;  /* dropped since the last record that got through */
static atomic_uint_fast64_t log_total;    /* dropped, ever */
static atomic_llong log_retry_at;         /* CLOCK_MONOTONIC ns: next reconnect allowed */
static struct sockaddr_un log_sa;

static log_sink_fn *log_sink;
static void *log_sink_arg;

static int log_conf_level = LOGL_NOTICE;  /* when log-levels names neither us nor `*` */
static char log_levels_file[PATH_MAX];
static struct ev_loop *log_loop;
static ev_stat log_levels_w;             /* without inotify */
static ev_io log_levels_io;              /* inotify on the run directory */
static const char *levels_name;          /* log-levels, in log_levels_file */

/* Datagrams waiting for room in logfwd's socket, oldest first. */
struct ring_item {
	uint8_t *data;
	size_t len;
	uint64_t dropped; /* the count it carries: given back if the item is lost */
};
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring_item ring[LOG_RING];
static size_t ring_head, ring_count;
static atomic_size_t ring_waiting;       /* ring_count, readable without the lock */
static ev_prepare ring_prep;
static ev_io ring_io;

/* The shared-memory ring (ring.c): the fast path once logfwd was reached. Threads take
 * turns by trylock; a thread that finds it taken sends a datagram instead. */
static pthread_mutex_t shm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_ring shm;
static atomic_bool shm_on;
static char shm_path[PATH_MAX + 96];
static uint8_t shm_poke[512];   /* the log_ring_poke datagram, made once at attach */
static size_t shm_poke_len;

static bool ring_flush(int fd);
static void ring_clear(void);
static void on_ring_writable(struct ev_loop *loop, ev_io *w, int revents);
static void on_ring_prepare(struct ev_loop *loop, ev_prepare *w, int revents);

void log_init(const char *service, int node, int level)
{
	snprintf(log_service, sizeof log_service, "%s", service ? service : "shoal");
	log_node = node;
	log_conf_level = level;
	log_set_level(level);
}

void log_set_level(int level)
{
	if (level < LOGL_ERR)
		level = LOGL_ERR;
	if (level > LOGL_DEBUG)
		level = LOGL_DEBUG;
	atomic_store(&log_level, level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

void log_set_sink(log_sink_fn *fn, void *arg)
{
	log_sink = fn;
	log_sink_arg = arg;
}

uint64_t log_dropped_total(void)
{
	return atomic_load(&log_total);
}

/* ---- levels ---- */

static void levels_reload(void)
{
	struct log_levels l;
	int saved = errno;
	if (log_levels_load(log_levels_file, &l) < 0)
		l.def = -1, l.n = 0; /* no file: the configuration's level */
	log_set_level(log_levels_find(&l, log_service, log_conf_level));
	errno = saved;
}

static void on_levels_changed(struct ev_loop *loop, ev_stat *w, int revents)
{
	levels_reload();
}

/* Follows log-levels through inotify on the run directory: the file may not exist yet, and
 * libev's ev_stat then (and on file systems it does not know) polls with stat(2) every
 * interval, a wake-up a second in every daemon of an idle node. logfwd replaces the file
 * by rename; an admin may edit or remove it. */
static void on_levels_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
	union {
		struct inotify_event ev;
		char buf[4096];
	} u;
	bool ours = false;
	ssize_t n;
	while ((n = read(w->fd, u.buf, sizeof u.buf)) > 0) {
		for (char *p = u.buf; p < u.buf + n;) {
			struct inotify_event *e = (struct inotify_event *)(void *)p;
			if ((e->mask & IN_Q_OVERFLOW) || (e->len && strcmp(e->name, levels_name) == 0))
				ours = true;
			p += sizeof *e + e->len;
		}
	}
	if (ours)
		levels_reload();
}

static void levels_watch(void)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(log_levels_file, '/');
	levels_name = slash ? slash + 1 : log_levels_file;
	snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - log_levels_file) : 1,
	         slash ? log_levels_file : ".");
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd >= 0 && inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
	                                 IN_DELETE | IN_ONLYDIR) >= 0) {
		ev_io_init(&log_levels_io, on_levels_inotify, fd, EV_READ);
		ev_io_start(log_loop, &log_levels_io);
		return;
	}
	if (fd >= 0)
		close(fd);
	/* No inotify to be had (limits, an odd file system): a stat every second. */
	ev_stat_init(&log_levels_w, on_levels_changed, log_levels_file, 1.);
	ev_stat_start(log_loop, &log_levels_w);
}

/* ---- attach ---- */

/* body (an encoded message of type) in an envelope from this process to logfwd. */
static int to_logfwd_envelope(unsigned type, const uint8_t *body, size_t blen, uint8_t *out,
                              size_t cap, size_t *len)
{
	struct proto_envelope e = {
		.version = PROTO_VERSION,
		.src_node = (uint32_t)log_node,
		.src_service = log_service,
		.dst_node = (uint32_t)log_node,
		.dst_service = "logfwd",
		.type = type,
		.body = { body, blen },
	};
	return proto_envelope_encode_buf(&e, out, cap, len);
}

static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static bool gone_errno(int e)
{
	return e == ECONNREFUSED || e == ENOTCONN || e == ENOENT || e == EPIPE;
}

/* logfwd went away or is not up yet: connect afresh (a restarted logfwd has a new socket),
 * but not on every call. 0 connected, -1 not now or not possible. */
static int reconnect(int fd)
{
	long long now = mono_ns(), at = atomic_load(&log_retry_at);
	if (now < at || !atomic_compare_exchange_strong(&log_retry_at, &at, now + LOG_RETRY_NS))
		return -1;
	return connect(fd, (struct sockaddr *)&log_sa, sizeof log_sa);
}

/* A forked child shares the mapping but not the parent's lock: it sends datagrams. */
static void shm_forked(void)
{
	atomic_store(&shm_on, false);
}

static void shm_atfork(void)
{
	pthread_atfork(NULL, NULL, shm_forked);
}

static void shm_attach(const struct conf *c)
{
	static atomic_uint serial;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	char dir[PATH_MAX + 16];
	uint8_t body[400];
	size_t blen;
	pthread_once(&once, shm_atfork);
	snprintf(dir, sizeof dir, "%s/logring", c->run_dir);
	if (snprintf(shm_path, sizeof shm_path, "%s/%s.%ld.%u", dir, log_service, (long)getpid(),
	             atomic_fetch_add(&serial, 1)) >= (int)sizeof shm_path || strlen(shm_path) > 255 ||
	    mkdir_p(dir, 0755) < 0 || log_ring_create(&shm, shm_path, log_service, getpid()) < 0)
		return; /* datagrams only */
	struct proto_log_ring_poke p = { .path = shm_path };
	if (proto_log_ring_poke_encode_buf(&p, body, sizeof body, &blen) < 0 ||
	    to_logfwd_envelope(PROTO_LOG_RING_POKE, body, blen, shm_poke, sizeof shm_poke, &shm_poke_len) < 0)
		goto fail;
	atomic_store(&shm_on, true);
	return;
fail:
	log_ring_close(&shm);
	unlink(shm_path);
}

static void shm_detach(void)
{
	atomic_store(&shm_on, false);
	pthread_mutex_lock(&shm_lock); /* a log call in another thread finishes first */
	if (shm.h) {
		/* An empty ring can go; one with records waits for logfwd, which removes it. */
		if (atomic_load(&shm.h->head) == atomic_load(&shm.h->tail))
			unlink(shm_path);
		log_ring_close(&shm);
	}
	pthread_mutex_unlock(&shm_lock);
}

/* Into the ring: 0 stored (and logfwd poked if it sleeps), -1 not (no ring, full, busy). */
static int to_shm(int fd, const void *body, size_t len)
{
	bool poke = false;
	if (!atomic_load(&shm_on) || pthread_mutex_trylock(&shm_lock) != 0)
		return -1;
	int rc = shm.h ? log_ring_put(&shm, body, len, &poke) : -1;
	if (rc == 0 && poke && send(fd, shm_poke, shm_poke_len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    !(gone_errno(errno) && reconnect(fd) == 0 &&
	      send(fd, shm_poke, shm_poke_len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0))
		atomic_store(&shm.h->sleeping, 1); /* not woken: let the next record try again */
	pthread_mutex_unlock(&shm_lock);
	return rc;
}

int log_attach(struct msg_ctx *m, const struct conf *c)
{
	int one = 1, sz = LOG_SNDBUF;
	log_detach();
	snprintf(log_service, sizeof log_service, "%s", msg_self_service(m));
	log_node = (int)msg_self_node(m);
	log_conf_level = c->log_level;
	log_levels_path(c, log_levels_file, sizeof log_levels_file);
	levels_reload();
	log_loop = msg_loop(m);
	levels_watch();
	ev_unref(log_loop);

	memset(&log_sa, 0, sizeof log_sa);
	log_sa.sun_family = AF_UNIX;
	if (snprintf(log_sa.sun_path, sizeof log_sa.sun_path, "%s/sock/logfwd", c->run_dir) >=
	    (int)sizeof log_sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	(void)setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	(void)connect(fd, (struct sockaddr *)&log_sa, sizeof log_sa); /* logfwd may come later */
	atomic_store(&log_reached, false);
	atomic_store(&log_retry_at, 0);
	atomic_store(&log_fd, fd);
	shm_attach(c);
	ev_prepare_init(&ring_prep, on_ring_prepare);
	ev_prepare_start(log_loop, &ring_prep);
	ev_unref(log_loop);
	ev_init(&ring_io, on_ring_writable);
	return 0;
}

void log_detach(void)
{
	if (log_loop) {
		ev_ref(log_loop);
		if (ev_is_active(&log_levels_io)) {
			ev_io_stop(log_loop, &log_levels_io);
			close(log_levels_io.fd);
		}
		ev_stat_stop(log_loop, &log_levels_w);
		if (ev_is_active(&ring_prep)) {
			ev_ref(log_loop);
			ev_prepare_stop(log_loop, &ring_prep);
		}
		if (ev_is_active(&ring_io)) {
			ev_ref(log_loop);
			ev_io_stop(log_loop, &ring_io);
		}
		log_loop = NULL;
	}
	shm_detach();
	int fd = atomic_exchange(&log_fd, -1);
	if (fd >= 0) {
		/* A last chance for what waits, then it is dropped. */
		pthread_mutex_lock(&ring_lock);
		ring_flush(fd);
		pthread_mutex_unlock(&ring_lock);
		ring_clear();
		close(fd);
	}
}

/* ---- records ---- */

/* "YYYY-mm-ddTHH:MM:SS.mmmZ" into buf; returns its length (0 if the clock fails). */
static size_t log_time(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;
	if (!gmtime_r(&ts->tv_sec, &tm))
		return 0;
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return 0;
	int m = snprintf(buf + n, len - n, ".%03ldZ", ts->tv_nsec / 1000000);
	return m > 0 && (size_t)m < len - n ? n + (size_t)m : 0;
}

static void to_stderr(const struct timespec *ts, int level, const char *text, size_t tlen)
{
	char buf[LOG_LINE_MAX];
	size_t n = log_time(ts, buf, sizeof buf);
	int m = snprintf(buf + n, sizeof buf - n, "%s%s %s[%ld]: ", n ? " " : "",
	                 log_level_name(level), log_service, (long)getpid());
	if (m < 0 || (size_t)m + n + 4 >= sizeof buf)
		return;
	n += (size_t)m;
	if (n + tlen + 1 > sizeof buf) { /* cut: keep what fits and say so */
		size_t keep = sizeof buf - 1 - n - 3;
		memcpy(buf + n, text, keep);
		memcpy(buf + n + keep, "...", 3);
		n += keep + 3;
	} else {
		memcpy(buf + n, text, tlen);
		n += tlen;
	}
	buf[n++] = '\n';
	while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
		;
}


/* A datagram lost for good: it and the count it carried are counted again. */
static void lost(uint64_t carried)
{
	atomic_fetch_add(&log_pending, carried + 1);
	atomic_fetch_add(&log_total, 1);
}

static void ring_pop(void)
{
	free(ring[ring_head].data);
	ring_head = (ring_head + 1) % LOG_RING;
	ring_count--;
}


/* Under ring_lock: sends what logfwd will take. Returns false if logfwd is gone (then the
 * ring is emptied and counted as lost). */
static bool ring_flush(int fd)
{
	bool ok = true;
	while (ring_count) {
		struct ring_item *it = &ring[ring_head];
		if (send(fd, it->data, it->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			ok = false;
			lost(it->dropped);
		}
		ring_pop();
	}
	atomic_store(&ring_waiting, ring_count);
	return ok;
}

static void ring_clear(void)
{
	pthread_mutex_lock(&ring_lock);
	while (ring_count)
		ring_pop();
	atomic_store(&ring_waiting, 0);
	pthread_mutex_unlock(&ring_lock);
}

/* The loop's part: watch for room only while something waits. */
static void on_ring_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd = atomic_load(&log_fd);
	if (fd >= 0 && pthread_mutex_trylock(&ring_lock) == 0) {
		ring_flush(fd);
		pthread_mutex_unlock(&ring_lock);
	}
}

static void on_ring_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	bool waiting = atomic_load(&ring_waiting) > 0;
	if (waiting && !ev_is_active(&ring_io)) {
		ev_io_set(&ring_io, atomic_load(&log_fd), EV_WRITE);
		ev_io_start(loop, &ring_io);
		ev_unref(loop);
	} else if (!waiting && ev_is_active(&ring_io)) {
		ev_ref(loop);
		ev_io_stop(loop, &ring_io);
	}
}

/* One datagram to logfwd: sent, queued in the ring, or (-1) not (errno). */
static int to_logfwd(int fd, const struct timespec *ts, int level, const char *text)
{
	uint8_t body[LOG_TEXT_MAX + 128], dgram[LOG_TEXT_MAX + 384];
	size_t blen, len;
	uint64_t dropped = atomic_exchange(&log_pending, 0);
	struct proto_log_record r = {
		.time_us = (uint64_t)ts->tv_sec * 1000000 + (uint64_t)ts->tv_nsec / 1000,
		.level = (uint8_t)level,
		.pid = (uint32_t)getpid(),
		.dropped = dropped,
		.text = text,
	};
	if (proto_log_record_encode_buf(&r, body, sizeof body, &blen) < 0)
		goto fail;
	if (atomic_load(&log_reached) && to_shm(fd, body, blen) == 0)
		return 0;
	if (to_logfwd_envelope(PROTO_LOG_RECORD, body, blen, dgram, sizeof dgram, &len) < 0)
		goto fail;

	bool locked = pthread_mutex_trylock(&ring_lock) == 0;
	if (locked && ring_count && ring_flush(fd) && ring_count)
		goto queue; /* keep the order: behind what already waits */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (send(fd, dgram, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			if (locked)
				pthread_mutex_unlock(&ring_lock);
			atomic_store(&log_reached, true);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN && locked)
			goto queue;
		if (!gone_errno(errno))
			break;
		if (attempt || reconnect(fd) < 0)
			break;
	}
	if (locked)
		pthread_mutex_unlock(&ring_lock);
fail:
	atomic_fetch_add(&log_pending, dropped);
	return -1;
queue:
	if (ring_count < LOG_RING) {
		uint8_t *copy = malloc(len);
		if (copy) {
			memcpy(copy, dgram, len);
			ring[(ring_head + ring_count) % LOG_RING] = (struct ring_item){ copy, len, dropped };
			ring_count++;
			atomic_store(&ring_waiting, ring_count);
			pthread_mutex_unlock(&ring_lock);
			atomic_store(&log_reached, true);
			return 0;
		}
	}
	pthread_mutex_unlock(&ring_lock);
	atomic_store(&log_reached, true); /* logfwd is there, only busy: count, no stderr */
	errno = EAGAIN;
	goto fail;
}

void log_msg(int level, const char *fmt, ...)
{
	if (level > atomic_load(&log_level))
		return;
	int saved = errno;
	char text[LOG_LINE_MAX + 1], keep[4] = "";
	struct timespec ts;
	va_list ap;

	va_start(ap, fmt);
	int m = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (m < 0)
		goto out;
	size_t n = (size_t)m < LOG_LINE_MAX ? (size_t)m : LOG_LINE_MAX; /* stderr cuts the line */
	for (size_t i = 0; i < n; i++)
		if (text[i] == '\n' || text[i] == '\r')
			text[i] = ' ';
	text[n] = 0;
	clock_gettime(CLOCK_REALTIME, &ts);

	/* A record for logfwd holds at most LOG_TEXT_MAX bytes: cut, and say so. */
	bool cut = n > LOG_TEXT_MAX;
	if (cut) {
		memcpy(keep, text + LOG_TEXT_MAX - 3, 4);
		memcpy(text + LOG_TEXT_MAX - 3, "...", 4);
	}
	if (log_sink) {
		struct log_rec r = {
			.time_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000,
			.level = level, .pid = getpid(), .service = log_service, .text = text,
		};
		log_sink(&r, log_sink_arg);
		goto out;
	}
	int fd = atomic_load(&log_fd);
	if (fd >= 0 && to_logfwd(fd, &ts, level, text) == 0)
		goto out;
	if (fd >= 0 && atomic_load(&log_reached)) {
		lost(0);
		goto out;
	}
	if (cut)
		memcpy(text + LOG_TEXT_MAX - 3, keep, 4);
	to_stderr(&ts, level, text, n);
out:
	errno = saved;
}
