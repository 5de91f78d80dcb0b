/* Membership facts shared by memberd and its clients: the node flags of a view. The bits
 * are CTDB's (ctdb/protocol/protocol.h), so admins read them the same way. */
#ifndef SHOAL_MEMBER_H
#define SHOAL_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#define MEMBER_FLAG_DISCONNECTED 0x01
#define MEMBER_FLAG_UNHEALTHY    0x02
#define MEMBER_FLAG_DISABLED     0x04 /* CTDB's PERMANENTLY_DISABLED */
#define MEMBER_FLAG_BANNED       0x08
#define MEMBER_FLAG_DELETED      0x10
#define MEMBER_FLAG_STOPPED      0x20
#define MEMBER_FLAGS_INACTIVE (MEMBER_FLAG_DELETED | MEMBER_FLAG_DISCONNECTED | \
                               MEMBER_FLAG_BANNED | MEMBER_FLAG_STOPPED)

/* "OK", or the set flags joined by '|' (e.g. "DISCONNECTED|UNHEALTHY"). */
const char *member_flags_str(uint32_t flags, char *buf, size_t len);

/* The leadership trace that tests/cluster/leadercheck.py checks: <run dir>/leaderd.trace,
 * written by leaderd and by memberd (which carries the lease), only when the environment
 * has SHOAL_LEADERD_TRACE=1 (it grows by a line per renewal). member_trace_open returns the
 * descriptor, or -1 when off or not openable; member_trace on -1 does nothing. One write
 * per line on an O_APPEND file, so the two writers' lines never mix. */
int member_trace_open(const char *run_dir);
void member_trace(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
