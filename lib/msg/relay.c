/* Relaying a request to the same kind of daemon on another node: a CLI talks to its own
 * node's daemon only (its endpoint has no link to the peers), so `-n NODE` reaches the
 * other node through the local daemon, which passes the answer back unchanged. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"
#include "proto/proto.h"

struct relay {
	uint32_t src_node;
	char src_service[64];
	uint64_t id;
	unsigned type;
	uint32_t to;
	char service[32];
};

static void relay_answer(struct msg_ctx *m, struct relay *r, unsigned type, const void *body)
{
	struct proto_envelope env = { .src_node = r->src_node, .src_service = r->src_service, .id = r->id };
	struct msg_in in = { .env = &env, .type = r->type };
	msg_reply(m, &in, type, body);
}

static void on_reply(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct relay *r = arg;
	if (status == MSG_OK || (status == MSG_E_REMOTE && in)) {
		relay_answer(m, r, in->type, in->body);
	} else {
		char text[160];
		snprintf(text, sizeof text, "node %u's %s: %s", r->to, r->service, msg_status_str(status));
		struct proto_error e = { .code = PROTO_ERROR_CODE_UNREACHABLE, .text = text };
		relay_answer(m, r, PROTO_ERROR, &e);
	}
	free(r);
}

int msg_relay(struct msg_ctx *m, const struct msg_in *in, const struct conf_nodes *nodes, uint32_t node,
              unsigned timeout_ms)
{
	const char *service = msg_self_service(m);
	if (node >= nodes->count || nodes->node[node].deleted)
		return msg_reply_error(m, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u", node);
	struct relay *r = calloc(1, sizeof *r);
	if (!r)
		return msg_reply_error(m, in, PROTO_ERROR_CODE_BUSY, "out of memory");
	r->src_node = in->env->src_node;
	snprintf(r->src_service, sizeof r->src_service, "%s", in->env->src_service ? in->env->src_service : "");
	r->id = in->env->id;
	r->type = in->type;
	r->to = node;
	snprintf(r->service, sizeof r->service, "%s", service);
	struct msg_addr to = { .node = node };
	snprintf(to.service, sizeof to.service, "%s", service);
	if (msg_request(m, &to, in->type, in->body, timeout_ms, on_reply, r, NULL) < 0) {
		int e = errno;
		free(r);
		return msg_reply_error(m, in, PROTO_ERROR_CODE_UNREACHABLE, "node %u: %s", node, strerror(e));
	}
	return 0;
}
