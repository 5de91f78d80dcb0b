/* The nodes file at runtime: comparing ours with each peer's, and reloading it.
 *
 * Every heartbeat carries a digest of the sender's nodes file. When a peer's differs, we ask
 * for its list: a list that differs only by added entries or newly deleted (`#`) ones is a
 * reload rolling out node by node, so we stay connected and warn until the digests agree;
 * any other difference is another cluster's list, and the peer is refused. Both sides run
 * the same check, so both log it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "memberd.h"

#define RECHECK_S 2.0   /* ask again when a nodes_get went unanswered */
#define REWARN_S  10.0

static struct memberd *g_md; /* the one memberd, for replies' callbacks */

static void on_nodes_list(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	struct memberd *md = g_md;
	uint32_t from = (uint32_t)(uintptr_t)arg;
	struct peer *p = &md->peer[from];
	static struct conf_nodes theirs;
	char why[200];

	if (p->compat != NODES_CHECKING)
		return;
	if (status != MSG_OK || in->type != PROTO_NODES_LIST) {
		p->compat = NODES_UNKNOWN; /* asked again on its next heartbeat */
		return;
	}
	const struct proto_nodes_list *l = in->body;
	memset(&theirs, 0, sizeof theirs);
	theirs.count = (unsigned)l->nodes_count;
	for (size_t i = 0; i < l->nodes_count; i++) {
		snprintf(theirs.node[i].address, sizeof theirs.node[i].address, "%s",
		         l->nodes[i].address ? l->nodes[i].address : "");
		theirs.node[i].deleted = l->nodes[i].deleted;
	}
	p->compat_at = mono_now();
	if (nodes_compatible(&md->d.nodes, &theirs, why, sizeof why) == 0) {
		p->compat = NODES_RELOAD;
		log_warning("node %u's nodes file differs from ours by a reload in progress (%u "
		            "nodes there, %u here): staying connected until they agree",
		            from, theirs.count, md->d.nodes.count);
		return;
	}
	p->compat = NODES_REFUSED;
	log_err("refusing node %u (%s): its nodes file is not ours: %s", from,
	        md->d.nodes.node[from].address, why);
	if (p->connected)
		peer_disconnect(md, from, "its nodes file is not ours");
}

bool nodes_accept(struct memberd *md, uint32_t from, const struct proto_heartbeat *hb)
{
	struct peer *p = &md->peer[from];
	double now = mono_now();
	if (hb->nodes_digest.len != sizeof p->digest)
		return false;
	if (memcmp(hb->nodes_digest.data, md->d.nodes.digest, sizeof p->digest) == 0) {
		if (p->compat == NODES_RELOAD)
			log_notice("node %u's nodes file agrees with ours again", from);
		p->compat = NODES_SAME;
		memcpy(p->digest, hb->nodes_digest.data, sizeof p->digest);
		return true;
	}
	if (p->compat == NODES_SAME || memcmp(hb->nodes_digest.data, p->digest, sizeof p->digest) != 0) {
		memcpy(p->digest, hb->nodes_digest.data, sizeof p->digest);
		p->compat = NODES_UNKNOWN;
	}
	switch (p->compat) {
	case NODES_CHECKING:
		if (now - p->compat_at < RECHECK_S)
			return p->connected; /* keep what we had until the answer comes */
		/* ask again */
		__attribute__((fallthrough));
	case NODES_UNKNOWN: {
		struct msg_addr to = { .node = from, .service = "memberd" };
		p->compat = NODES_CHECKING;
		p->compat_at = now;
		g_md = md;
		msg_request(md->d.msg, &to, PROTO_NODES_GET, &(struct proto_nodes_get){ 0 }, 1000,
		            on_nodes_list, (void *)(uintptr_t)from, NULL);
		return p->connected;
	}
	case NODES_RELOAD:
		if (now - p->compat_at > REWARN_S) {
			p->compat_at = now;
			log_warning("node %u's nodes file still differs from ours (reload in progress?)",
			            from);
		}
		return true;
	case NODES_REFUSED:
		return false;
	case NODES_SAME:
		break;
	}
	return true;
}

static void fill_list(const struct conf_nodes *n, struct proto_nodes_entry *e, size_t *count)
{
	for (unsigned i = 0; i < n->count; i++)
		e[i] = (struct proto_nodes_entry){ .address = n->node[i].address, .deleted = n->node[i].deleted };
	*count = n->count;
}

void nodes_answer(struct memberd *md, const struct msg_in *in)
{
	static struct proto_nodes_entry e[CONF_MAX_NODES];
	struct proto_nodes_list l = { .nodes = e };
	fill_list(&md->d.nodes, e, &l.nodes_count);
	msg_reply(md->d.msg, in, PROTO_NODES_LIST, &l);
}

void nodes_reload(struct memberd *md, const struct msg_in *in)
{
	static struct conf_nodes next;
	struct conf_error e;
	char why[PATH_MAX + 300];

	if (in->remote) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_NOT_PERMITTED, "reload from the node itself");
		return;
	}
	if (nodes_load(&next, md->d.conf.nodes_file, &e) < 0) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s",
		                conf_error_str(&e, why, sizeof why));
		return;
	}
	if (nodes_reload_ok(&md->d.nodes, &next, why, sizeof why) < 0) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_FAILED, "%s: not reloaded: %s",
		                md->d.conf.nodes_file, why);
		return;
	}
	if (next.node[md->self].deleted) {
		msg_reply_error(md->d.msg, in, PROTO_ERROR_CODE_FAILED,
		                "%s: not reloaded: it deletes this node (%u); stop the node instead",
		                md->d.conf.nodes_file, md->self);
		return;
	}
	unsigned added = next.count - md->d.nodes.count, deleted = 0;
	for (unsigned i = 0; i < md->d.nodes.count; i++)
		if (next.node[i].deleted && !md->d.nodes.node[i].deleted) {
			deleted++;
			memset(&md->peer[i], 0, sizeof md->peer[i]);
		}
	/* In place: lib/msg holds a pointer to this list. */
	md->d.nodes = next;
	for (uint32_t i = 0; i < md->d.nodes.count; i++)
		if (md->peer[i].compat != NODES_SAME)
			md->peer[i].compat = NODES_UNKNOWN;
	log_notice("reloaded %s: %u added, %u deleted", md->d.conf.nodes_file, added, deleted);
	view_changed(md, "nodes file reloaded");
	heartbeat_send_all(md, false);
	status_answer(md, in);
}
