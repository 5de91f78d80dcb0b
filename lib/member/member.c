#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "member/member.h"

int member_trace_open(const char *run_dir)
{
	char path[PATH_MAX + 32];
	const char *on = getenv("SHOAL_LEADERD_TRACE");
	if (!on || strcmp(on, "1") != 0)
		return -1;
	snprintf(path, sizeof path, "%s/leaderd.trace", run_dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		log_warning("unable to open %s: %s", path, strerror(errno));
	return fd;
}

void member_trace(int fd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	if (fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf - 1)
		return;
	buf[n++] = '\n';
	if (write(fd, buf, (size_t)n) != n)
		log_warning("unable to write the leadership trace: %s", strerror(errno));
}

const char *member_flags_str(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ MEMBER_FLAG_DISCONNECTED, "DISCONNECTED" }, { MEMBER_FLAG_UNHEALTHY, "UNHEALTHY" },
		{ MEMBER_FLAG_DISABLED, "DISABLED" },         { MEMBER_FLAG_BANNED, "BANNED" },
		{ MEMBER_FLAG_DELETED, "DELETED" },           { MEMBER_FLAG_STOPPED, "STOPPED" },
	};
	size_t off = 0;
	buf[0] = 0;
	if (!flags) {
		snprintf(buf, len, "OK");
		return buf;
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (flags & names[i].bit) {
			int n = snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[i].name);
			if (n < 0 || (size_t)n >= len - off)
				break;
			off += (size_t)n;
		}
	return buf;
}
