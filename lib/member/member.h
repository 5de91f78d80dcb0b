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

#endif
