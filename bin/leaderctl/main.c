/* leaderctl: the thin client of leaderd. Parse, one request with a deadline, print. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: leaderctl [-c FILE] [--json] [-t MS] COMMAND [ARGS]\n"
	        "\n"
	        "Shows who leads the cluster and changes it.\n"
	        "\n"
	        "Commands:\n"
	        "  status                this node's leaderd: leader, term, role, cluster lock and\n"
	        "                        its state, lease left, candidates, culprit counts\n"
	        "  elect                 force a new election: the leader steps down and the\n"
	        "                        preferred candidate bids for a new term\n"
	        "  culprit NODE REASON   report NODE as misbehaving to the leader; more than\n"
	        "                        `ban culprit count` reports within the grace period ban it\n"
	        "  stats                 leaderd's message counters\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -j, --json          print JSON instead of text\n"
	        "  -t, --timeout MS    deadline for leaderd's answer (default %d)\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 success, 100 bad usage or configuration, 111 leaderd did not answer.\n",
	        CONF_DEFAULT_PATH, CLI_TIMEOUT_MS);
}

static void print_status(struct cli *c, const struct proto_leader_status *s)
{
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "this_node", s->this_node);
		json_bool(&j, "has_leader", s->has_leader);
		if (s->has_leader)
			json_uint(&j, "leader", s->leader);
		json_uint(&j, "leader_term", s->leader_term);
		json_uint(&j, "term", s->term);
		json_str(&j, "role", s->role);
		json_str(&j, "lock", s->lock);
		json_str(&j, "lock_state", s->lock_state);
		json_uint(&j, "lease_ms", s->lease_ms);
		json_uint(&j, "lease_left_ms", s->lease_left_ms);
		json_bool(&j, "partitioned", s->partitioned);
		json_uint(&j, "elections", s->elections);
		json_arr_begin(&j, "candidates");
		for (size_t i = 0; i < s->candidates_count; i++)
			json_uint(&j, NULL, s->candidates[i]);
		json_arr_end(&j);
		json_arr_begin(&j, "culprits");
		for (size_t i = 0; i < s->culprits_count; i++) {
			json_obj_begin(&j, NULL);
			json_uint(&j, "node", s->culprits[i].node);
			json_uint(&j, "count", s->culprits[i].count);
			json_str(&j, "reason", s->culprits[i].reason ? s->culprits[i].reason : "");
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return;
	}
	if (s->has_leader)
		printf("leader:      node %u, term %llu\n", s->leader, (unsigned long long)s->leader_term);
	else
		printf("leader:      none\n");
	printf("this node:   %u, %s%s\n", s->this_node, s->role, s->partitioned ? ", partitioned" : "");
	printf("newest term: %llu\n", (unsigned long long)s->term);
	printf("lock:        %s (%s)\n", s->lock, s->lock_state);
	if (s->lease_left_ms == UINT32_MAX)
		printf("lease:       %u ms, never expires while held\n", s->lease_ms);
	else
		printf("lease:       %u ms, %llu ms left\n", s->lease_ms,
		       (unsigned long long)s->lease_left_ms);
	printf("candidates: ");
	for (size_t i = 0; i < s->candidates_count; i++)
		printf(" %u", s->candidates[i]);
	printf("%s\n", s->candidates_count ? "" : " none");
	printf("elections:   %llu bids by this node\n", (unsigned long long)s->elections);
	for (size_t i = 0; i < s->culprits_count; i++)
		printf("culprit:     node %u, %u reports, last: %s\n", s->culprits[i].node,
		       s->culprits[i].count, s->culprits[i].reason ? s->culprits[i].reason : "");
}

static int cmd_stats(struct cli *c)
{
	cli_stats(c, msg_self_node(c->msg), "leaderd");
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
	struct cli c = { .prog = "leaderctl" };
	struct msg_in r;
	int o;
	while ((o = getopt_long(argc, argv, "+c:jt:h", opts, NULL)) != -1) {
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
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "elect") == 0 || strcmp(cmd, "stats") == 0) {
		if (nargs)
			cli_fatal(&c, EXIT_USAGE, "%s: unexpected argument \"%s\"", cmd, args[0]);
		cli_connect(&c);
		if (strcmp(cmd, "stats") == 0) {
			int rc = cmd_stats(&c);
			cli_close(&c);
			return rc;
		}
		if (strcmp(cmd, "status") == 0)
			cli_call(&c, msg_self_node(c.msg), "leaderd", PROTO_LEADER_STATUS_GET,
			         &(struct proto_leader_status_get){ 0 }, "ask leaderd for its status", &r);
		else
			cli_call(&c, msg_self_node(c.msg), "leaderd", PROTO_LEADER_ELECT,
			         &(struct proto_leader_elect){ 0 }, "ask for an election", &r);
		print_status(&c, r.body);
	} else if (strcmp(cmd, "culprit") == 0) {
		if (nargs != 2)
			cli_fatal(&c, EXIT_USAGE, "culprit: expected NODE REASON (see leaderctl --help)");
		char *end;
		unsigned long node = strtoul(args[0], &end, 10);
		cli_load(&c);
		if (*end || !*args[0] || node >= c.nodes.count)
			cli_fatal(&c, EXIT_USAGE, "culprit: expected a node number below %u, got \"%s\"",
			          c.nodes.count, args[0]);
		if (!*args[1] || strlen(args[1]) >= 64)
			cli_fatal(&c, EXIT_USAGE, "culprit: a reason is 1 to 63 characters");
		cli_connect(&c);
		struct proto_culprit_report rep = { .node = (uint32_t)node, .reason = args[1],
		                                    .reporter = msg_self_node(c.msg) };
		cli_call(&c, msg_self_node(c.msg), "leaderd", PROTO_CULPRIT_REPORT, &rep,
		         "report the culprit", &r);
		if (c.json)
			print_status(&c, r.body);
		else
			printf("culprit: node %lu reported\n", node);
	} else {
		cli_fatal(&c, EXIT_USAGE, "unknown command \"%s\" (see leaderctl --help)", cmd);
	}
	cli_close(&c);
	return 0;
}
