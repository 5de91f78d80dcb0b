#include <stdio.h>
#include <string.h>

#include "member/member.h"

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
