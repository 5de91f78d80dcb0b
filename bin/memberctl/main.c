/* memberctl: the thin client of memberd. Parse, one request with a deadline, print. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "member/member.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: memberctl [-c FILE] [--json] [-t MS] COMMAND\n"
	        "\n"
	        "Shows what this node's memberd knows about cluster membership.\n"
	        "\n"
	        "Commands:\n"
	        "  status    the view number, this node, its incarnation and every node's state\n"
	        "  list      one line per node: number, address, state\n"
	        "  stats     memberd's message counters (drops, MAC failures, heartbeats)\n"
	        "\n"
	        "Options:\n"
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
			json_obj_end(j);
		}
		json_arr_end(j);
		return;
	}
	for (size_t i = 0; i < count; i++)
		printf("%-4u %-39s %s%s\n", n[i].node, n[i].address,
		       member_flags_str(n[i].flags, flags, sizeof flags),
		       n[i].node == self ? " (this node)" : "");
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
		printf("nodes:       %zu\n", s->nodes_count);
	}
	print_nodes(c, NULL, s->nodes, s->nodes_count, s->this_node);
	return 0;
}

static int cmd_stats(struct cli *c)
{
	struct msg_in r;
	struct json j;
	cli_call(c, msg_self_node(c->msg), "memberd", PROTO_STATS_GET, &(struct proto_stats_get){ 0 },
	         "ask memberd for its counters", &r);
	const struct proto_stats *s = r.body;
	if (c->json) {
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		for (size_t i = 0; i < s->counters_count; i++)
			json_uint(&j, s->counters[i].name, s->counters[i].value);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	for (size_t i = 0; i < s->counters_count; i++)
		printf("%-24s %llu\n", s->counters[i].name, (unsigned long long)s->counters[i].value);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli c = { .prog = "memberctl" };
	int o;
	while ((o = getopt_long(argc, argv, "c:jt:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': c.conf_path = optarg; break;
		case 'j': c.json = true; break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 600000)
				cli_fatal(&c, EXIT_USAGE, "--timeout: expected milliseconds from 1 to 600000, got \"%s\"",
				          optarg);
			c.timeout_ms = (unsigned)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	if (optind + 1 != argc)
		cli_fatal(&c, EXIT_USAGE, "%s: unexpected argument \"%s\"", cmd, argv[optind + 1]);
	int rc;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "list") == 0) {
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
