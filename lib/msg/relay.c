/* Forwarding a request to another node and passing its answer back unchanged: a flag that
 * only its node may set, a report only the leader takes, and relaying, for a CLI's
 * `-n NODE` (a CLI talks to its own node's daemon only: its endpoint has no link to the
 * peers). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "proto/proto.h"

/* The asker of a request being forwarded: what msg_reply needs, kept until the answer. */
struct forward {
	struct proto_envelope env;
	char src_service[MSG_SERVICE_MAX];
	uint32_t to;
	char service[MSG_SERVICE_MAX];
};

static void on_answer(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct forward *f = arg;
	struct msg_in asker = { .env = &f->env };
	if (status == MSG_OK || (status == MSG_E_REMOTE && in && in->body))
		msg_reply(m, &asker, in->type, in->body);
	else
		msg_reply_error(m, &asker, PROTO_ERROR_CODE_UNREACHABLE, "node %u's %s did not answer: %s",
		                f->to, f->service, msg_status_str(status));
	free(f);
}

int msg_forward(struct msg_ctx *m, const struct msg_in *in, const struct msg_addr *to, unsigned type,
                const void *body, unsigned timeout_ms)
{
	struct forward *f = calloc(1, sizeof *f);
	if (!f)
		return msg_reply_error(m, in, PROTO_ERROR_CODE_BUSY, "out of memory");
	snprintf(f->src_service, sizeof f->src_service, "%s", in->env->src_service ? in->env->src_service : "");
	f->env = (struct proto_envelope){ .src_node = in->env->src_node, .src_service = f->src_service,
	                                  .id = in->env->id };
	f->to = to->node;
	snprintf(f->service, sizeof f->service, "%s", to->service);
	if (msg_request(m, to, type, body, timeout_ms, on_answer, f, NULL) < 0) {
		int e = errno;
		free(f);
		return msg_reply_error(m, in, PROTO_ERROR_CODE_UNREACHABLE, "unable to reach node %u's %s: %s",
		                       to->node, to->service, strerror(e));
	}
	return 0;
}

int msg_relay(struct msg_ctx *m, const struct msg_in *in, const struct conf_nodes *nodes, uint32_t node,
              unsigned timeout_ms)
{
	if (node >= nodes->count || nodes->node[node].deleted)
		return msg_reply_error(m, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u", node);
	struct msg_addr to = { .node = node };
	snprintf(to.service, sizeof to.service, "%s", msg_self_service(m));
	return msg_forward(m, in, &to, in->type, in->body, timeout_ms);
}
