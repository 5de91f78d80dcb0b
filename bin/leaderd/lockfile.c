/* Cluster lock `file:PATH`: a lease on a file of shared storage, kept by a helper process
 * so that a stuck file system never blocks leaderd's loop.
 *
 * The record is 64 bytes at offset 0: "shoal-lease TERM NODE COUNTER" padded with blanks
 * and a newline; NODE -1 means released; an empty file is free. Every write is a
 * compare-and-write under a short fcntl lock: the helper re-reads the record and writes
 * only if it is still the one it last wrote (or watched), else the lease is lost.
 *
 * Every node's helper watches the record every poll interval (lease/10). A contender takes
 * the lease only once the record has stayed unchanged for lease x (1 + drift) plus one poll
 * interval since it first read it, on its own monotonic clock; a free or released record
 * it takes at once. The holder's renewal counts from the moment leaderd asked for the
 * write, so a write that lands late never lengthens the lease.
 *
 * Helper <-> leaderd: one text datagram per command on a SOCK_SEQPACKET pair:
 *   acquire MINTERM | renew ASKED | release | idle
 *   held TERM ASKED | renewed ASKED | lost WHY | log LEVEL TEXT
 * The helper dies with leaderd (PR_SET_PDEATHSIG, and it checks getppid() every poll). It
 * checks that the file keeps its inode and logs lock operations slower than lease/3. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leaderd.h"
#include "log/log.h"

#define REC_LEN 64

/* ---- the helper process ---- */

struct helper {
	int sock, fd;
	const char *path;
	uint32_t self;
	uint64_t lease_drift, poll;
	pid_t ppid;
	enum { H_WATCH, H_CONTEND, H_HOLD } mode;
	uint64_t min_term;
	char seen[REC_LEN + 1];  /* the record as last read */
	uint64_t seen_at;        /* when it was first read in that form */
	char mine[REC_LEN + 1];  /* the record we last wrote */
	ino_t ino;
	dev_t dev;
};

static void say(struct helper *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct helper *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1)
		n = (int)sizeof buf - 1;
	if (send(h->sock, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		_exit(0); /* leaderd is gone */
}

static int open_file(struct helper *h)
{
	struct stat st;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = open(h->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (h->fd < 0 || fstat(h->fd, &st) < 0) {
		say(h, "log %d unable to open %s: %s", LOGL_ERR, h->path, strerror(errno));
		return -1;
	}
	h->ino = st.st_ino;
	h->dev = st.st_dev;
	return 0;
}

/* The file is still the one we opened (not replaced or removed). */
static bool same_file(struct helper *h)
{
	struct stat st;
	return h->fd >= 0 && stat(h->path, &st) == 0 && st.st_ino == h->ino && st.st_dev == h->dev;
}

static int read_rec(struct helper *h, char rec[REC_LEN + 1])
{
	ssize_t n = pread(h->fd, rec, REC_LEN, 0);
	if (n < 0)
		return -1;
	memset(rec + n, 0, (size_t)(REC_LEN + 1 - n));
	return 0;
}

static bool rec_parse(const char *rec, uint64_t *term, long *node, uint64_t *counter)
{
	unsigned long long t, c;
	if (sscanf(rec, "shoal-lease %llu %ld %llu", &t, node, &c) != 3)
		return false;
	*term = t;
	*counter = c;
	return true;
}

static void rec_make(char rec[REC_LEN + 1], uint64_t term, long node, uint64_t counter)
{
	int n = snprintf(rec, REC_LEN + 1, "shoal-lease %" PRIu64 " %ld %" PRIu64, term, node, counter);
	memset(rec + n, ' ', (size_t)(REC_LEN - 1 - n));
	rec[REC_LEN - 1] = '\n';
	rec[REC_LEN] = 0;
}

static int lock_file(struct helper *h, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	while (fcntl(h->fd, F_SETLKW, &fl) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int write_rec(struct helper *h, const char *rec)
{
	if (pwrite(h->fd, rec, REC_LEN, 0) != REC_LEN || fdatasync(h->fd) < 0)
		return -1;
	return 0;
}

/* Under the fcntl lock: the record must still be `expect`, then becomes `next`. Returns 0,
 * 1 if the record had changed (in `got`), -1 on an I/O error. */
static int compare_and_write(struct helper *h, const char *expect, const char *next, char *got)
{
	uint64_t t0 = now_ns();
	int rc = -1;
	if (lock_file(h, F_WRLCK) < 0)
		goto out;
	if (read_rec(h, got) < 0)
		goto unlock;
	if (memcmp(got, expect, REC_LEN) != 0) {
		rc = 1;
		goto unlock;
	}
	rc = write_rec(h, next) < 0 ? -1 : 0;
unlock:
	lock_file(h, F_UNLCK);
out:
	if (now_ns() - t0 > h->lease_drift / 3)
		say(h, "log %d slow lock operation on %s: %" PRIu64 " ms", LOGL_WARNING, h->path,
		    (now_ns() - t0) / MS);
	return rc;
}

static void watch(struct helper *h, uint64_t now)
{
	char rec[REC_LEN + 1];
	if (read_rec(h, rec) < 0)
		return;
	if (memcmp(rec, h->seen, REC_LEN) != 0) {
		memcpy(h->seen, rec, sizeof rec);
		h->seen_at = now;
	}
}

static void try_take(struct helper *h)
{
	char rec[REC_LEN + 1], next[REC_LEN + 1];
	uint64_t term = 0, counter = 0, now = now_ns();
	long node = -1;
	uint64_t t0 = now;
	if (lock_file(h, F_WRLCK) < 0 || read_rec(h, rec) < 0) {
		say(h, "log %d unable to lock %s: %s", LOGL_ERR, h->path, strerror(errno));
		lock_file(h, F_UNLCK);
		return;
	}
	if (memcmp(rec, h->seen, REC_LEN) != 0) {
		memcpy(h->seen, rec, sizeof rec);
		h->seen_at = now;
	}
	bool valid = rec_parse(rec, &term, &node, &counter);
	bool free_ = rec[0] == 0 || (valid && node < 0);
	if (!free_ && !valid && rec[0]) {
		say(h, "log %d %s holds no lease record: taking it over like a stale one", LOGL_WARNING,
		    h->path);
	}
	if (free_ || now - h->seen_at >= h->lease_drift + h->poll) {
		uint64_t t = term + 1 > h->min_term ? term + 1 : h->min_term;
		rec_make(next, t, (long)h->self, 1);
		uint64_t asked = now_ns();
		if (write_rec(h, next) == 0) {
			memcpy(h->mine, next, sizeof next);
			memcpy(h->seen, next, sizeof next);
			h->seen_at = asked;
			h->mode = H_HOLD;
			say(h, "held %" PRIu64 " %" PRIu64, t, asked);
		} else {
			say(h, "log %d unable to write %s: %s", LOGL_ERR, h->path, strerror(errno));
		}
	}
	lock_file(h, F_UNLCK);
	if (now_ns() - t0 > h->lease_drift / 3)
		say(h, "log %d slow lock operation on %s: %" PRIu64 " ms", LOGL_WARNING, h->path,
		    (now_ns() - t0) / MS);
}

static void lost(struct helper *h, const char *why)
{
	h->mode = H_WATCH;
	say(h, "lost %s", why);
}

static void renew(struct helper *h, uint64_t asked, bool release)
{
	char next[REC_LEN + 1], got[REC_LEN + 1];
	uint64_t term, counter;
	long node;
	if (h->mode != H_HOLD) {
		if (!release)
			say(h, "lost not held");
		return;
	}
	if (!same_file(h)) {
		lost(h, "the lock file was replaced or removed");
		open_file(h);
		return;
	}
	if (!rec_parse(h->mine, &term, &node, &counter))
		return;
	rec_make(next, term, release ? -1 : (long)h->self, counter + 1);
	int rc = compare_and_write(h, h->mine, next, got);
	if (rc == 0) {
		memcpy(h->mine, next, sizeof next);
		memcpy(h->seen, next, sizeof next);
		h->seen_at = now_ns();
		if (release)
			h->mode = H_WATCH;
		else
			say(h, "renewed %" PRIu64, asked);
	} else if (rc > 0) {
		char why[128];
		got[strcspn(got, " \n")] = 0; /* keep it short */
		snprintf(why, sizeof why, "the record changed under us");
		lost(h, why);
	} else {
		lost(h, strerror(errno));
	}
}

static void command(struct helper *h, const char *cmd)
{
	unsigned long long v;
	if (sscanf(cmd, "acquire %llu", &v) == 1) {
		if (h->mode != H_HOLD) {
			h->mode = H_CONTEND;
			h->min_term = v;
			try_take(h);
		}
	} else if (sscanf(cmd, "renew %llu", &v) == 1) {
		renew(h, v, false);
	} else if (strcmp(cmd, "release") == 0) {
		renew(h, 0, true);
		h->mode = H_WATCH;
	} else if (strcmp(cmd, "idle") == 0) {
		if (h->mode == H_CONTEND)
			h->mode = H_WATCH;
	}
}

static void __attribute__((noreturn)) helper_main(struct helper *h)
{
	char buf[256];
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != h->ppid)
		_exit(0);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	h->fd = -1;
	open_file(h);
	for (;;) {
		struct pollfd p = { .fd = h->sock, .events = POLLIN };
		int n = poll(&p, 1, (int)(h->poll / MS));
		if (getppid() != h->ppid)
			_exit(0);
		if (n > 0) {
			ssize_t r = recv(h->sock, buf, sizeof buf - 1, 0);
			if (r <= 0)
				_exit(0);
			buf[r] = 0;
			command(h, buf);
		}
		if (h->fd < 0 && open_file(h) < 0)
			continue;
		if (!same_file(h)) {
			say(h, "log %d %s was replaced or removed: reopening", LOGL_WARNING, h->path);
			if (h->mode == H_HOLD)
				lost(h, "the lock file was replaced or removed");
			open_file(h);
			continue;
		}
		watch(h, now_ns());
		if (h->mode == H_CONTEND)
			try_take(h);
	}
}

/* ---- leaderd's side ---- */

static void tell(struct leaderd *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tell(struct leaderd *ld, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (ld->helper_fd < 0 || send(ld->helper_fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		log_warning("lock helper unreachable (%s): %s", buf, ld->helper_fd < 0 ? "not running"
		            : strerror(errno));
		if (strncmp(buf, "acquire", 7) == 0 || strncmp(buf, "renew", 5) == 0)
			election_lock_lost(ld, "the lock helper is not running");
	}
}

static void helper_died(struct leaderd *ld, const char *why)
{
	if (ld->helper_fd >= 0) {
		ev_io_stop(ld->d.loop, &ld->helper_io);
		close(ld->helper_fd);
		ld->helper_fd = -1;
	}
	log_err("lock helper for %s %s: restarting it in 1 s", ld->lock_arg, why);
	ld->lock = LOCK_FAILED;
	snprintf(ld->lock_why, sizeof ld->lock_why, "helper %s", why);
	ev_timer_stop(ld->d.loop, &ld->helper_timer);
	ev_timer_set(&ld->helper_timer, 1., 0.);
	ev_timer_start(ld->d.loop, &ld->helper_timer);
	election_lock_lost(ld, "the lock helper died");
}

static void on_helper(struct ev_loop *loop, ev_io *w, int revents)
{
	struct leaderd *ld = w->data;
	char buf[600];
	unsigned long long a, b;
	int level, off = 0;
	ssize_t n = recv(ld->helper_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		helper_died(ld, "exited");
		return;
	}
	buf[n] = 0;
	if (sscanf(buf, "held %llu %llu", &a, &b) == 2) {
		ld->lock = LOCK_HELD;
		ld->lock_why[0] = 0;
		log_notice("cluster lock %s taken for term %llu", ld->lock_arg, a);
		election_lock_held(ld, a, b);
	} else if (sscanf(buf, "renewed %llu", &a) == 1) {
		election_lock_renewed(ld, a);
	} else if (strncmp(buf, "lost ", 5) == 0) {
		if (ld->lock == LOCK_HELD)
			log_warning("cluster lock %s lost: %s", ld->lock_arg, buf + 5);
		ld->lock = LOCK_IDLE;
		snprintf(ld->lock_why, sizeof ld->lock_why, "%.60s", buf + 5);
		election_lock_lost(ld, buf + 5);
	} else if (sscanf(buf, "log %d %n", &level, &off) == 1 && off > 0) {
		log_msg(level, "lock helper: %s", buf + off);
	} else {
		log_warning("lock helper said something unexpected: %.100s", buf);
	}
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct leaderd *ld = w->data;
	ev_child_stop(loop, w);
	ld->helper_pid = 0;
	if (ld->helper_fd >= 0)
		helper_died(ld, WIFSIGNALED(w->rstatus) ? "was killed" : "exited");
}

static void spawn(struct leaderd *ld)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_err("unable to create the lock helper's socket: %s", strerror(errno));
		return;
	}
	struct helper h = { .sock = sv[1], .path = ld->lock_arg, .self = ld->self,
	                    .lease_drift = ld->lease_drift, .poll = ld->poll, .ppid = getpid() };
	pid_t pid = fork();
	if (pid < 0) {
		log_err("unable to start the lock helper: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		/* Keep only stderr (the supervisor's log) and our socket. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != sv[1])
				close(fd);
		helper_main(&h);
	}
	close(sv[1]);
	ld->helper_fd = sv[0];
	ld->helper_pid = pid;
	ld->lock = LOCK_IDLE;
	ev_io_init(&ld->helper_io, on_helper, sv[0], EV_READ);
	ld->helper_io.data = ld;
	ev_io_start(ld->d.loop, &ld->helper_io);
	ev_child_init(&ld->helper_child, on_child, pid, 0);
	ld->helper_child.data = ld;
	ev_child_start(ld->d.loop, &ld->helper_child);
	log_info("lock helper %d watches %s", (int)pid, ld->lock_arg);
}

static void on_restart(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct leaderd *ld = t->data;
	if (ld->helper_fd < 0)
		spawn(ld);
}

void lockfile_start(struct leaderd *ld)
{
	ev_timer_init(&ld->helper_timer, on_restart, 1., 0.);
	ld->helper_timer.data = ld;
	spawn(ld);
}

void lockfile_acquire(struct leaderd *ld, uint64_t min_term)
{
	ld->lock = LOCK_CONTENDING;
	tell(ld, "acquire %" PRIu64, min_term);
}

void lockfile_renew(struct leaderd *ld, uint64_t asked)
{
	tell(ld, "renew %" PRIu64, asked);
}

void lockfile_release(struct leaderd *ld)
{
	ld->lock = LOCK_IDLE;
	if (ld->helper_fd >= 0)
		tell(ld, "release");
}

void lockfile_idle(struct leaderd *ld)
{
	ld->lock = LOCK_IDLE;
	if (ld->helper_fd >= 0)
		tell(ld, "idle");
}
