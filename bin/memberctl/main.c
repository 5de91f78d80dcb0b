/* memberctl: the thin client of memberd. Parse, one request with a deadline, print. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "member/member.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: memberctl [-c FILE] [--json] [-t MS] [-n NODE|all] COMMAND [ARGS]\n"
	        "\n"
	        "Shows and changes what memberd knows about cluster membership.\n"
	        "\n"
	        "Commands:\n"
	        "  status            the view, this node, its incarnation, every node's state,\n"
	        "                    health reasons, ban remainder and flap count\n"
	        "  list              one line per node: number, address, state\n"
	        "  stats             memberd's message counters (drops, MAC failures, heartbeats)\n"
	        "  disable, enable   a disabled node stays in the cluster but hosts no addresses\n"
	        "  stop, continue    a stopped node does not take part in the cluster\n"
	        "  ban SECONDS       exclude the node for SECONDS; the ban lifts on its own\n"
	        "  unban             lift a ban now\n"
	        "  health            list the node's health reasons\n"
	        "  reload            re-read the nodes file: added nodes join, newly #-ed lines\n"
	        "                    become deleted nodes; anything else is refused\n"
	        "  health REASON on|off\n"
	        "                    set or clear one reason; a node is healthy when it has none\n"
	        "\n"
	        "The changes act on this node, or with -n on node NODE (or every node); a node's\n"
	        "flags change only while it is connected, and survive its restarts.\n"
	        "\n"
	        "Options:\n"
	        "  -n, --node NODE|all the node to act on (default: this node)\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -j, --json          print JSON instead of text\n"
	        "  -t, --timeout MS    deadline for memberd's answer (default %d)\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Node states are CTDB's flags: OK, DISCONNECTED, UNHEALTHY, DISABLED, BANNED,\n"
	        "STOPPED, DELETED.\n"
	        "Exit status: 0 success, 100 bad usage or configuration, 111 memberd did not answer.\n",
	        CONF_DEFAULT_PATH, CLI_TIMEOUT_MS);
}

static const char *daemon_state(unsigned s)
{
	const char *n = proto_daemon_state_name(s);
	return n ? n : "unknown";
}

static void print_nodes(struct cli *c, struct json *j, const struct proto_node_info *n, size_t count,
                        uint32_t self)
{
	char flags[128];
	if (c->json) {
		json_arr_begin(j, "nodes");
		for (size_t i = 0; i < count; i++) {
			json_obj_begin(j, NULL);
			json_uint(j, "node", n[i].node);
			json_str(j, "address", n[i].address);
			json_bool(j, "connected", n[i].connected);
			json_str(j, "state", member_flags_str(n[i].flags, flags, sizeof flags));
			json_uint(j, "flags", n[i].flags);
			json_uint(j, "incarnation", n[i].incarnation);
			json_bool(j, "this_node", n[i].node == self);
			json_uint(j, "ban_remaining_ms", n[i].ban_remaining_ms);
			json_uint(j, "flaps", n[i].flaps);
			json_arr_begin(j, "health");
			for (size_t k = 0; k < n[i].health_count; k++)
				json_str(j, NULL, n[i].health[k]);
			json_arr_end(j);
			json_obj_begin(j, "daemons");
			for (size_t k = 0; k < n[i].daemons_count; k++)
				json_str(j, n[i].daemons[k].name, daemon_state(n[i].daemons[k].state));
			json_obj_end(j);
			json_obj_end(j);
		}
		json_arr_end(j);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		printf("%-4u %-39s %s%s", n[i].node, n[i].address,
		       member_flags_str(n[i].flags, flags, sizeof flags),
		       n[i].node == self ? " (this node)" : "");
		if (n[i].ban_remaining_ms)
			printf(" ban %llus", (unsigned long long)(n[i].ban_remaining_ms + 999) / 1000);
		if (n[i].flaps)
			printf(" flaps %u", n[i].flaps);
		for (size_t k = 0; k < n[i].health_count; k++)
			printf("%s%s", k ? ", " : " [", n[i].health[k]);
		printf("%s", n[i].health_count ? "]" : "");
		/* Only what is wrong: a daemon that is up is the normal case. */
		for (size_t k = 0; k < n[i].daemons_count; k++)
			if (n[i].daemons[k].state != PROTO_DAEMON_STATE_UP)
				printf(" %s:%s", n[i].daemons[k].name, daemon_state(n[i].daemons[k].state));
		printf("\n");
	}
}

static int cmd_health(struct cli *c, const char *node_arg)
{
	struct msg_in r;
	cli_call(c, msg_self_node(c->msg), "memberd", PROTO_MEMBER_STATUS_GET,
	         &(struct proto_member_status_get){ 0 }, "ask memberd for its status", &r);
	const struct proto_member_status *s = r.body;
	uint32_t n = node_arg ? cli_node(c, node_arg, "-n") : msg_self_node(c->msg);
	const struct proto_node_info *ni = &s->nodes[n];
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "node", n);
		json_bool(&j, "healthy", ni->health_count == 0);
		json_arr_begin(&j, "reasons");
		for (size_t i = 0; i < ni->health_count; i++)
			json_str(&j, NULL, ni->health[i]);
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	if (!ni->health_count)
		printf("node %u: healthy\n", n);
	for (size_t i = 0; i < ni->health_count; i++)
		printf("node %u: %s\n", n, ni->health[i]);
	return 0;
}

static int cmd_status(struct cli *c, bool list_only)
{
	struct msg_in r;
	struct json j;
	cli_call(c, msg_self_node(c->msg), "memberd", PROTO_MEMBER_STATUS_GET,
	         &(struct proto_member_status_get){ 0 }, "ask memberd for its status", &r);
	const struct proto_member_status *s = r.body;
	if (c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		if (!list_only) {
			json_uint(&j, "view", s->view);
			json_uint(&j, "this_node", s->this_node);
			json_uint(&j, "incarnation", s->incarnation);
			json_uint(&j, "keepalive_interval_ms", s->keepalive_interval_ms);
			json_uint(&j, "keepalive_limit", s->keepalive_limit);
			json_uint(&j, "subscribers", s->subscribers);
			json_uint(&j, "stalls", s->stalls);
		}
		print_nodes(c, &j, s->nodes, s->nodes_count, s->this_node);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	if (!list_only) {
		printf("view:        %llu\n", (unsigned long long)s->view);
		printf("this node:   %u\n", s->this_node);
		printf("incarnation: %llu\n", (unsigned long long)s->incarnation);
		printf("keepalive:   %u ms x %u\n", s->keepalive_interval_ms, s->keepalive_limit);
		printf("subscribers: %u\n", s->subscribers);
		printf("stalls:      %llu\n", (unsigned long long)s->stalls);
		printf("nodes:       %zu\n", s->nodes_count);
	}
	print_nodes(c, NULL, s->nodes, s->nodes_count, s->this_node);
	return 0;
}

static const struct {
	const char *name;
	unsigned op;
	int args; /* words after the command */
} set_cmds[] = {
	{ "disable", PROTO_MEMBER_OP_DISABLE, 0 }, { "enable", PROTO_MEMBER_OP_ENABLE, 0 },
	{ "stop", PROTO_MEMBER_OP_STOP, 0 },       { "continue", PROTO_MEMBER_OP_CONTINUE, 0 },
	{ "ban", PROTO_MEMBER_OP_BAN, 1 },         { "unban", PROTO_MEMBER_OP_UNBAN, 0 },
	{ "health", PROTO_MEMBER_OP_HEALTH_ON, 2 },
};

/* One change on one node, through the local memberd (which forwards it). */
static void set_one(struct cli *c, struct proto_member_set *op, const char *cmd)
{
	struct msg_in r;
	char what[64];
	snprintf(what, sizeof what, "%s node %u", cmd, op->node);
	cli_call(c, msg_self_node(c->msg), "memberd", PROTO_MEMBER_SET, op, what, &r);
}

static int cmd_set(struct cli *c, int sel, const char *node_arg, char **args, int nargs)
{
	struct proto_member_set op = { .op = set_cmds[sel].op };
	const char *cmd = set_cmds[sel].name;
	if (op.op == PROTO_MEMBER_OP_BAN) {
		char *end;
		long v = strtol(args[0], &end, 10);
		if (*end || v < 1 || v > 86400 * 365)
			cli_fatal(c, EXIT_USAGE, "ban: expected seconds from 1 to 31536000, got \"%s\"", args[0]);
		op.ban_seconds = (uint32_t)v;
	}
	if (op.op == PROTO_MEMBER_OP_HEALTH_ON) {
		if (strlen(args[0]) == 0 || strlen(args[0]) >= 64)
			cli_fatal(c, EXIT_USAGE, "health: a reason is 1 to 63 characters");
		if (strcmp(args[1], "off") == 0)
			op.op = PROTO_MEMBER_OP_HEALTH_OFF;
		else if (strcmp(args[1], "on") != 0)
			cli_fatal(c, EXIT_USAGE, "health: expected on or off after the reason, got \"%s\"",
			          args[1]);
		op.reason = args[0];
	}
	cli_connect(c);
	uint32_t targets[CONF_MAX_NODES];
	unsigned ntargets = cli_targets(c, node_arg, targets);
	for (unsigned t = 0; t < ntargets; t++) {
		op.node = targets[t];
		set_one(c, &op, cmd);
	}
	if (!c->json)
		printf("%s: done\n", cmd);
	else
		printf("{\"ok\":true}\n");
	return 0;
}

static int cmd_stats(struct cli *c)
{
	cli_stats(c, msg_self_node(c->msg), "memberd");
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "memberctl" };
	int cmdi = cli_parse(&c, argc, argv, true, usage);
	const char *node_arg = c.node_arg;
	const char *cmd = argv[cmdi];
	int nargs = argc - cmdi - 1;
	for (size_t i = 0; i < sizeof set_cmds / sizeof set_cmds[0]; i++) {
		if (strcmp(cmd, set_cmds[i].name) != 0)
			continue;
		if (set_cmds[i].op == PROTO_MEMBER_OP_HEALTH_ON && nargs == 0)
			break; /* `health` alone lists the reasons */
		if (nargs != set_cmds[i].args)
			cli_fatal(&c, EXIT_USAGE, "%s: expected %d argument%s (see memberctl --help)", cmd,
			          set_cmds[i].args, set_cmds[i].args == 1 ? "" : "s");
		int rc = cmd_set(&c, (int)i, node_arg, argv + cmdi + 1, nargs);
		cli_close(&c);
		return rc;
	}
	if (nargs)
		cli_fatal(&c, EXIT_USAGE, "%s: unexpected argument \"%s\"", cmd, argv[cmdi + 1]);
	int rc;
	if (strcmp(cmd, "reload") == 0) {
		struct msg_in r;
		cli_connect(&c);
		cli_call(&c, msg_self_node(c.msg), "memberd", PROTO_MEMBER_RELOAD,
		         &(struct proto_member_reload){ 0 }, "reload the nodes file", &r);
		const struct proto_member_status *st = r.body;
		if (c.json)
			printf("{\"ok\":true,\"view\":%llu,\"nodes\":%zu}\n", (unsigned long long)st->view,
			       st->nodes_count);
		else
			printf("reload: done, %zu nodes, view %llu\n", st->nodes_count,
			       (unsigned long long)st->view);
		rc = 0;
	} else if (strcmp(cmd, "health") == 0) {
		cli_connect(&c);
		rc = cmd_health(&c, node_arg);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "list") == 0) {
		cli_connect(&c);
		rc = cmd_status(&c, cmd[0] == 'l');
	} else if (strcmp(cmd, "stats") == 0) {
		cli_connect(&c);
		rc = cmd_stats(&c);
	} else {
		cli_fatal(&c, EXIT_USAGE, "unknown command \"%s\" (see memberctl --help)", cmd);
	}
	cli_close(&c);
	return rc;
}
