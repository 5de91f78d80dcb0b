/* shoal logging to stderr: one line, one write(2) per record:
 *
 *     2024-05-01T12:00:00.123Z notice memberd[4242]: node 2 connected
 *
 * The time is UTC (the nodes of a cluster compare their logs). A record that does not fit
 * LOG_LINE_MAX is cut and ends in "..."; newlines in a message become spaces, so a record is
 * always one line. A full pipe (EAGAIN) drops the record rather than wait; errno is kept. */
#include "log/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static char log_service[32] = "shoal";
static int log_node = -1; /* kept for logfwd's records; not printed */
static int log_level = LOGL_NOTICE;

void log_init(const char *service, int node, int level)
{
	snprintf(log_service, sizeof log_service, "%s", service ? service : "shoal");
	log_node = node;
	log_set_level(level);
}

void log_set_level(int level)
{
	if (level < LOGL_ERR)
		level = LOGL_ERR;
	if (level > LOGL_DEBUG)
		level = LOGL_DEBUG;
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

/* "YYYY-mm-ddTHH:MM:SS.mmmZ" into buf; returns its length (0 if the clock fails). */
static size_t log_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
		return 0;
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return 0;
	int m = snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return m > 0 && (size_t)m < len - n ? n + (size_t)m : 0;
}

void log_msg(int level, const char *fmt, ...)
{
	if (level > log_level)
		return;
	int saved = errno;
	char buf[LOG_LINE_MAX];
	size_t n = log_time(buf, sizeof buf);
	int m = snprintf(buf + n, sizeof buf - n, "%s%s %s[%ld]: ", n ? " " : "",
			 log_level_name(level), log_service, (long)getpid());
	if (m < 0)
		goto out;
	n += (size_t)m;

	size_t start = n, room = sizeof buf - n - 1; /* keep one byte for the newline */
	va_list ap;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, room + 1, fmt, ap); /* +1: the NUL lands where '\n' goes */
	va_end(ap);
	if (m < 0)
		goto out;
	if ((size_t)m > room) { /* cut: keep what fits and say so */
		n += room;
		memcpy(buf + n - 3, "...", 3);
	} else {
		n += (size_t)m;
	}
	for (size_t i = start; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	buf[n++] = '\n';

	while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
		;
out:
	errno = saved;
}
