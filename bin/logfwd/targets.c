/* The targets, run only by the writer thread (writer.c), which is allowed to block.
 *
 *   stderr, file:PATH   one line per record, a batch per write(2):
 *                       2024-05-01T12:00:00.123Z HOST notice memberd[4242]: text
 *                       a file is opened O_APPEND (a FIFO too: the open waits for a
 *                       reader), and reopened after SIGHUP or a failure
 *   syslog              syslog(3), its ident "APP[PID]" so the record names its sender
 *   syslog:nonblocking  RFC 3164 without HOSTNAME (what a local syslogd expects) to a
 *                       datagram socket, MSG_DONTWAIT: a full socket fails the record
 *   syslog:udp          RFC 3164 with HOSTNAME, at most 1024 bytes (RFC 3164 4.1)
 *   syslog:udp-rfc5424  RFC 5424, at most 2048 bytes (RFC 5426 3.2 asks receivers to
 *                       take that much), cut on a UTF-8 character boundary
 *
 * APP-NAME is the source's service, or TAG-service; PRI is facility * 8 + level (shoal's
 * levels are syslog severities). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "logfwd.h"

#define RETRY_S       1.0
#define RFC3164_MAX   1024
#define RFC5424_MAX   2048
#define APP_NAME_MAX  48
#define FILE_BUF      (256 * 1024)

static char file_buf[FILE_BUF]; /* the writer thread's alone */

void target_init(struct target *t, const struct conf *c, const char *hostname)
{
	char what[256];
	memset(t, 0, sizeof *t);
	t->fd = -1;
	(void)conf_log_target_parse(c->log_location, &t->t, what, sizeof what); /* checked at load */
	snprintf(t->location, sizeof t->location, "%s", c->log_location);
	snprintf(t->hostname, sizeof t->hostname, "%s", hostname);
	snprintf(t->tag, sizeof t->tag, "%s", c->log_tag);
	t->facility = c->log_facility;
}

static int fail(struct target *t, const char *what, int e)
{
	snprintf(t->error, sizeof t->error, "unable to %s: %s", what, strerror(e));
	target_close(t);
	t->retry_at = mono_now() + RETRY_S;
	errno = e;
	return -1;
}

static int open_udp(struct target *t)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *ai;
	char port[8], what[300];
	snprintf(port, sizeof port, "%u", t->t.port);
	int rc = getaddrinfo(t->t.host, port, &hints, &ai);
	if (rc) {
		snprintf(t->error, sizeof t->error, "unable to resolve %.120s: %s", t->t.host, gai_strerror(rc));
		t->retry_at = mono_now() + RETRY_S;
		errno = EHOSTUNREACH;
		return -1;
	}
	t->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || connect(t->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int e = errno;
		freeaddrinfo(ai);
		snprintf(what, sizeof what, "connect to %s port %u", t->t.host, t->t.port);
		return fail(t, what, e);
	}
	freeaddrinfo(ai);
	return 0;
}

static int open_unix(struct target *t)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char what[300];
	size_t plen = strnlen(t->t.path, sizeof sa.sun_path - 1); /* checked at load */
	memcpy(sa.sun_path, t->t.path, plen);
	t->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		snprintf(what, sizeof what, "connect to %.200s", t->t.path);
		return fail(t, what, errno);
	}
	return 0;
}

int target_open(struct target *t)
{
	if (t->fd >= 0)
		return 0;
	if (mono_now() < t->retry_at) {
		errno = EAGAIN;
		return -1;
	}
	t->error[0] = 0;
	switch (t->t.kind) {
	case CONF_LOG_STDERR:
		t->fd = dup(STDERR_FILENO); /* closed like any other: stderr itself stays */
		return t->fd < 0 ? fail(t, "dup stderr", errno) : 0;
	case CONF_LOG_FILE: {
		/* Blocking on purpose: this thread may wait, and O_NONBLOCK would fail a FIFO
		 * that has no reader yet. */
		t->fd = open(t->t.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (t->fd < 0) {
			char what[PATH_MAX + 16];
			snprintf(what, sizeof what, "open %s", t->t.path);
			return fail(t, what, errno);
		}
		return 0;
	}
	case CONF_LOG_SYSLOG:
		t->fd = STDERR_FILENO + 1000; /* a marker: syslog(3) keeps its own socket */
		return 0;
	case CONF_LOG_NONBLOCKING:
		return open_unix(t);
	case CONF_LOG_UDP:
	case CONF_LOG_UDP_5424:
		return open_udp(t);
	}
	return -1;
}

void target_close(struct target *t)
{
	if (t->fd < 0)
		return;
	if (t->t.kind == CONF_LOG_SYSLOG)
		closelog();
	else
		close(t->fd);
	t->fd = -1;
}

/* ---- formats ---- */

static void app_name(const struct target *t, const char *service, char *out, size_t len)
{
	if (len > APP_NAME_MAX + 1)
		len = APP_NAME_MAX + 1;
	if (t->tag[0])
		snprintf(out, len, "%.23s-%.24s", t->tag, service);
	else
		snprintf(out, len, "%.48s", service);
}

/* One line of the file and stderr targets, with its newline; returns its length. */
static size_t fmt_line(const struct target *t, const struct wrec *r, char *buf, size_t len)
{
	struct tm tm;
	time_t s = (time_t)(r->time_us / 1000000);
	char ts[40] = "";
	if (gmtime_r(&s, &tm))
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(buf, len, "%s.%03uZ %s %s %s[%u]: %s\n", ts,
	                 (unsigned)(r->time_us % 1000000 / 1000), t->hostname, log_level_name(r->level),
	                 r->service, r->pid, r->text);
	if (n < 0)
		return 0;
	if ((size_t)n >= len) { /* cut, still one line */
		buf[len - 2] = '\n';
		return len - 1;
	}
	return (size_t)n;
}

/* Cuts s (n bytes) to at most max, not inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static size_t fmt_syslog(const struct target *t, const struct wrec *r, char *buf, size_t len)
{
	char app[APP_NAME_MAX + 1], ts[64];
	struct tm tm;
	time_t s = (time_t)(r->time_us / 1000000);
	unsigned pri = (unsigned)t->facility * 8 + (unsigned)r->level;
	int n;

	app_name(t, r->service, app, sizeof app);
	if (t->t.kind == CONF_LOG_UDP_5424) {
		if (!gmtime_r(&s, &tm))
			return 0;
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf, len, "<%u>1 %s.%06uZ %s %s %u - - %s", pri, ts,
		             (unsigned)(r->time_us % 1000000), t->hostname[0] ? t->hostname : "-", app,
		             r->pid, r->text);
		if (n < 0)
			return 0;
		return utf8_cut(buf, (size_t)n < len ? (size_t)n : len - 1, RFC5424_MAX);
	}
	if (!localtime_r(&s, &tm))
		return 0;
	strftime(ts, sizeof ts, "%b %e %H:%M:%S", &tm);
	if (t->t.kind == CONF_LOG_UDP)
		n = snprintf(buf, len, "<%u>%s %s %s[%u]: %s", pri, ts, t->hostname, app, r->pid, r->text);
	else
		n = snprintf(buf, len, "<%u>%s %s[%u]: %s", pri, ts, app, r->pid, r->text);
	if (n < 0)
		return 0;
	return utf8_cut(buf, (size_t)n < len ? (size_t)n : len - 1, RFC3164_MAX);
}

/* ---- writing ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The notices that go before a record: what its sender, and logfwd, had to drop. */
static size_t lost_notices(const struct wrec *r, struct wrec **out, char storage[2][sizeof(struct wrec) + 200])
{
	size_t n = 0;
	for (int i = 0; i < 2; i++) {
		uint64_t lost = i == 0 ? r->lost_queue : r->lost_sender;
		if (!lost)
			continue;
		struct wrec *x = (struct wrec *)(void *)storage[n];
		*x = *r;
		x->level = LOGL_WARNING;
		if (i == 0) {
			snprintf(x->service, sizeof x->service, "logfwd");
			x->pid = (uint32_t)getpid();
			snprintf(x->text, 200, "%llu log records dropped: the target did not keep up",
			         (unsigned long long)lost);
		} else {
			snprintf(x->text, 200, "%llu log records dropped before this one: logfwd was "
			         "gone or busy", (unsigned long long)lost);
		}
		x->len = strlen(x->text);
		out[n++] = x;
	}
	return n;
}

static size_t write_lines(struct target *t, struct wrec *const *r, size_t n)
{
	size_t len = 0, done = 0, pending = 0;
	for (size_t i = 0; i < n; i++) {
		struct wrec *x[3];
		_Alignas(struct wrec) char storage[2][sizeof(struct wrec) + 200];
		size_t k = lost_notices(r[i], x, storage);
		x[k++] = r[i];
		for (size_t j = 0; j < k; j++) {
			if (FILE_BUF - len < LOG_TEXT_MAX + 512) {
				if (write_all(t->fd, file_buf, len) < 0)
					goto failed;
				done += pending;
				pending = 0;
				len = 0;
			}
			len += fmt_line(t, x[j], file_buf + len, FILE_BUF - len);
		}
		pending++;
	}
	if (len && write_all(t->fd, file_buf, len) < 0)
		goto failed;
	return done + pending;
failed:
	fail(t, t->t.kind == CONF_LOG_STDERR ? "write to stderr" : "write to the log file", errno);
	return done;
}

static size_t write_syslog(struct target *t, struct wrec *const *r, size_t n)
{
	static char ident[APP_NAME_MAX + 16]; /* syslog(3) keeps the pointer */
	char app[APP_NAME_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		struct wrec *x[3];
		_Alignas(struct wrec) char storage[2][sizeof(struct wrec) + 200];
		size_t k = lost_notices(r[i], x, storage);
		x[k++] = r[i];
		for (size_t j = 0; j < k; j++) {
			app_name(t, x[j]->service, app, sizeof app);
			snprintf(ident, sizeof ident, "%s[%u]", app, x[j]->pid);
			openlog(ident, 0, t->facility << 3);
			syslog((t->facility << 3) | x[j]->level, "%s", x[j]->text);
		}
	}
	return n; /* syslog(3) reports nothing */
}

static size_t write_dgrams(struct target *t, struct wrec *const *r, size_t n)
{
	char buf[RFC5424_MAX + LOG_TEXT_MAX + 512];
	size_t ok = 0;
	for (size_t i = 0; i < n && t->fd >= 0; i++) {
		struct wrec *x[3];
		_Alignas(struct wrec) char storage[2][sizeof(struct wrec) + 200];
		size_t k = lost_notices(r[i], x, storage);
		x[k++] = r[i];
		int e = 0;
		for (size_t j = 0; j < k; j++) {
			size_t len = fmt_syslog(t, x[j], buf, sizeof buf);
			if (send(t->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				e = errno;
		}
		if (!e) {
			ok++;
			continue;
		}
		/* Full (EAGAIN) or refused (ICMP, for UDP): this record is lost, the next may
		 * pass. A local socket that went away is connected afresh. */
		snprintf(t->error, sizeof t->error, "unable to send to %.120s: %s", t->location, strerror(e));
		if (t->t.kind == CONF_LOG_NONBLOCKING && e != EAGAIN && e != ENOBUFS)
			fail(t, "send to the syslog socket", e);
	}
	return ok;
}

size_t target_write(struct target *t, struct wrec *const *r, size_t n)
{
	if (target_open(t) < 0)
		return 0;
	switch (t->t.kind) {
	case CONF_LOG_STDERR:
	case CONF_LOG_FILE:
		return write_lines(t, r, n);
	case CONF_LOG_SYSLOG:
		return write_syslog(t, r, n);
	case CONF_LOG_NONBLOCKING:
	case CONF_LOG_UDP:
	case CONF_LOG_UDP_5424:
		return write_dgrams(t, r, n);
	}
	return 0;
}
