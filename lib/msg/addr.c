/* Addresses `node:service` and the services' port offsets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msg/msg.h"

/* Port offset = index. msgtest is the test tool's service (tests/tools/msgtool). */
static const char *const services[CONF_PORT_SPAN] = {
	"memberd", "leaderd", "dbd", "recoverd", "vacuumd", "ipd", "svcd", "logfwd",
	[15] = "msgtest",
};

int msg_service_index(const char *service)
{
	for (int i = 0; i < CONF_PORT_SPAN; i++)
		if (services[i] && strcmp(services[i], service) == 0)
			return i;
	return -1;
}

/* A name that makes a safe socket file name: [a-z0-9._-], not starting with a dot. */
bool msg_service_valid(const char *service)
{
	size_t n = strlen(service);
	if (n == 0 || n >= MSG_SERVICE_MAX || service[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = service[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return true;
}

int msg_addr_parse(const char *s, struct msg_addr *a)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s)
		goto bad;
	if (colon - s == 1 && s[0] == '*') {
		a->node = MSG_NODE_ALL;
	} else {
		char *end;
		errno = 0;
		unsigned long v = strtoul(s, &end, 10);
		if (errno || end != colon || s[0] < '0' || s[0] > '9' || v >= CONF_MAX_NODES)
			goto bad;
		a->node = (uint32_t)v;
	}
	if (!msg_service_valid(colon + 1))
		goto bad;
	strcpy(a->service, colon + 1);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

const char *msg_status_str(int status)
{
	switch (status) {
	case MSG_OK: return "ok";
	case MSG_E_TIMEOUT: return "timed out";
	case MSG_E_LINK: return "link to the node broke";
	case MSG_E_UNREACHABLE: return "destination unreachable";
	case MSG_E_QUEUE: return "destination queue full";
	case MSG_E_REMOTE: return "error reply";
	case MSG_E_BADREPLY: return "malformed reply";
	}
	return "unknown status";
}
