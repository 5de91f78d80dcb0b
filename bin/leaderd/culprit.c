/* Culprits and bans. Any daemon reports a misbehaving node to any leaderd, which passes the
 * report to the leader. The leader counts reports per node; a count decays to zero after
 * `recovery grace period` without reports (CTDB's RecoveryGracePeriod). A node reported
 * more than `ban culprit count` times is banned for `recovery ban period` (RecoveryBanPeriod)
 * through memberd, which records the ban so every node sees it and lifts it on its own.
 * The leader never bans itself on its own report, nor the last eligible node. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "leaderd.h"
#include "log/log.h"

static void ban_done(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	uint32_t node = (uint32_t)(uintptr_t)arg;
	if (status != MSG_OK)
		log_warning("unable to ban node %u: %s", node, msg_status_str(status));
}

/* Candidates other than node. */
static unsigned others_eligible(const struct leaderd *ld, uint32_t node)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ld->ncand; i++)
		n += ld->cand[i] != node;
	return n;
}

static void count(struct leaderd *ld, const struct proto_culprit_report *r, uint32_t reporter)
{
	uint64_t now = now_ns();
	struct culprit *c = &ld->culprit[r->node];
	uint64_t grace = (uint64_t)ld->d.conf.recovery_grace_s * 1000 * MS;
	if (c->count && now - c->last > grace) {
		log_info("culprit count of node %u decayed", r->node);
		c->count = 0;
	}
	c->count++;
	c->last = now;
	snprintf(c->reason, sizeof c->reason, "%s", r->reason ? r->reason : "");
	log_notice("node %u reported as a culprit by node %u (%s): %u within %u s", r->node, reporter,
	           c->reason, c->count, ld->d.conf.recovery_grace_s);
	if (!ld->d.conf.enable_bans || c->count <= ld->d.conf.ban_culprit_count)
		return;
	if (r->node == ld->self && reporter == ld->self) {
		log_notice("not banning this node (the leader) on its own report");
		return;
	}
	if (!others_eligible(ld, r->node)) {
		log_notice("not banning node %u: it is the last eligible node", r->node);
		return;
	}
	if (!election_leader_ok(ld)) /* a ban acts for the leader: only within the lease */
		return;
	struct proto_member_set op = { .node = r->node, .op = PROTO_MEMBER_OP_BAN,
	                               .ban_seconds = ld->d.conf.recovery_ban_s };
	struct msg_addr to = { .node = ld->self, .service = "memberd" };
	log_warning("banning node %u for %u s: %u culprit reports, the last: %s", r->node,
	            op.ban_seconds, c->count, c->reason);
	if (msg_request(ld->d.msg, &to, PROTO_MEMBER_SET, &op, 2000, ban_done,
	                (void *)(uintptr_t)r->node, NULL) < 0)
		log_warning("unable to ask memberd for the ban: %s", strerror(errno));
	ld->stat_bans++;
	c->count = 0;
}

void culprit_report(struct leaderd *ld, const struct msg_in *in)
{
	const struct proto_culprit_report *r = in->body;
	if (r->node >= ld->nnodes || ld->node[r->node].deleted) {
		msg_reply_error(ld->d.msg, in, PROTO_ERROR_CODE_NO_SUCH_NODE, "no node %u", r->node);
		return;
	}
	if (ld->role == ROLE_LEADER) {
		count(ld, r, in->remote ? in->env->src_node : ld->self);
		send_status(ld, in);
		return;
	}
	if (in->remote || ld->leader == NODE_NONE) {
		msg_reply_error(ld->d.msg, in, PROTO_ERROR_CODE_UNREACHABLE,
		                in->remote ? "node %u does not lead" : "no leader (node %u knows of none)",
		                ld->self);
		return;
	}
	struct proto_culprit_report fw = *r;
	fw.reporter = ld->self;
	forward_leaderd(ld, in, ld->leader, PROTO_CULPRIT_REPORT, &fw, 2000);
}

void culprit_fill(const struct leaderd *ld, struct proto_culprit_count *out, size_t *n)
{
	uint64_t now = now_ns(), grace = (uint64_t)ld->d.conf.recovery_grace_s * 1000 * MS;
	*n = 0;
	for (uint32_t i = 0; i < ld->nnodes; i++) {
		const struct culprit *c = &ld->culprit[i];
		if (!c->count || now - c->last > grace)
			continue;
		out[(*n)++] = (struct proto_culprit_count){ .node = i, .count = c->count,
		                                            .reason = c->reason };
	}
}
