/* shoal status: the cluster overview, as `ctdb status` gives it, from this node's memberd. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "member/member.h"
#include "shoal.h"

/* leaderd answers at once when it runs; a missing one must not slow shoal status down. */
#define LEADER_TIMEOUT_MS 500

static void usage(FILE *f)
{
	fputs("Usage: shoal [-c FILE] status [--json] [-t MS]\n"
	      "\n"
	      "Prints the cluster as this node's memberd sees it: each node's number, address\n"
	      "and state (OK, or CTDB's flags: DISCONNECTED, UNHEALTHY, DISABLED, BANNED,\n"
	      "STOPPED, DELETED), which node this is, the membership view number, and the\n"
	      "leader and its term as this node's leaderd knows them, and the public addresses\n"
	      "with their owners as this node's ipd knows them.\n"
	      "\n"
	      "  -j, --json        print JSON\n"
	      "  -t, --timeout MS  deadline for memberd's answer (default 3000)\n"
	      "  -h, --help        this text\n"
	      "\n"
	      "Exit status: 0 success, 100 bad usage or configuration, 111 memberd did not answer.\n",
	      f);
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli c = { .prog = "shoal", .conf_path = shoal_conf_path };
	struct msg_in r;
	char flags[128];
	int o;

	while ((o = getopt_long(argc, argv, "jt:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': c.json = true; break;
		case 't': {
			unsigned v;
			char extra;
			if (sscanf(optarg, "%u%c", &v, &extra) != 1 || v < 1 || v > 600000)
				shoal_die_usage("status", "--timeout: expected milliseconds from 1 to 600000, got \"%s\"",
				                optarg);
			c.timeout_ms = v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		shoal_die_usage("status", "unexpected argument \"%s\"", argv[optind]);

	cli_connect(&c);
	/* The leader first: the memberd reply stays valid only until the next call. */
	struct msg_in lr;
	struct msg_addr la = { .node = msg_self_node(c.msg), .service = "leaderd" };
	int lst = msg_call(c.msg, &la, PROTO_LEADER_STATUS_GET, &(struct proto_leader_status_get){ 0 },
	                   LEADER_TIMEOUT_MS, &lr);
	bool leaderd_up = lst == MSG_OK && lr.type == PROTO_LEADER_STATUS;
	bool has_leader = false;
	uint32_t leader = 0;
	uint64_t term = 0;
	if (leaderd_up) {
		const struct proto_leader_status *ls = lr.body;
		has_leader = ls->has_leader;
		leader = ls->leader;
		term = ls->leader_term;
	}
	/* ipd's addresses: copied out, since each reply lives only until the next call. */
	struct msg_in ir;
	struct msg_addr ia = { .node = msg_self_node(c.msg), .service = "ipd" };
	static char ip_addr[1024][64];
	static uint32_t ip_owner[1024];
	static char ip_here[1024][16];
	size_t nip = 0;
	int ist = msg_call(c.msg, &ia, PROTO_IP_STATUS_GET,
	                   &(struct proto_ip_status_get){ .node = msg_self_node(c.msg) }, LEADER_TIMEOUT_MS, &ir);
	bool ipd_up = ist == MSG_OK && ir.type == PROTO_IP_STATUS;
	if (ipd_up) {
		const struct proto_ip_status *is = ir.body;
		for (size_t i = 0; i < is->addresses_count && nip < 1024; i++, nip++) {
			snprintf(ip_addr[nip], sizeof ip_addr[nip], "%s/%u", is->addresses[i].address,
			         is->addresses[i].bits);
			ip_owner[nip] = is->addresses[i].owner;
			snprintf(ip_here[nip], sizeof ip_here[nip], "%s",
			         is->addresses[i].iface ? is->addresses[i].iface : "");
		}
	}
	cli_call(&c, msg_self_node(c.msg), "memberd", PROTO_MEMBER_STATUS_GET,
	         &(struct proto_member_status_get){ 0 }, "ask memberd for the cluster status", &r);
	const struct proto_member_status *s = r.body;
	if (c.json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "view", s->view);
		json_uint(&j, "this_node", s->this_node);
		json_arr_begin(&j, "nodes");
		for (size_t i = 0; i < s->nodes_count; i++) {
			json_obj_begin(&j, NULL);
			json_uint(&j, "node", s->nodes[i].node);
			json_str(&j, "address", s->nodes[i].address);
			json_str(&j, "state", member_flags_str(s->nodes[i].flags, flags, sizeof flags));
			json_uint(&j, "flags", s->nodes[i].flags);
			json_bool(&j, "this_node", s->nodes[i].node == s->this_node);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_begin(&j, "leader");
		json_bool(&j, "known", leaderd_up);
		if (leaderd_up && has_leader) {
			json_uint(&j, "node", leader);
			json_uint(&j, "term", term);
		}
		json_obj_end(&j);
		json_arr_begin(&j, "addresses");
		for (size_t i = 0; i < nip; i++) {
			json_obj_begin(&j, NULL);
			json_str(&j, "address", ip_addr[i]);
			if (ip_owner[i] != UINT32_MAX)
				json_uint(&j, "owner", ip_owner[i]);
			json_str(&j, "here", ip_here[i]);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
	} else {
		printf("Number of nodes: %zu\n", s->nodes_count);
		for (size_t i = 0; i < s->nodes_count; i++)
			printf("node:%-4u %-39s %s%s\n", s->nodes[i].node, s->nodes[i].address,
			       member_flags_str(s->nodes[i].flags, flags, sizeof flags),
			       s->nodes[i].node == s->this_node ? " (this node)" : "");
		printf("View: %llu\n", (unsigned long long)s->view);
		if (!leaderd_up)
			printf("Leader: unknown (leaderd not running)\n");
		else if (!has_leader)
			printf("Leader: none (election in progress)\n");
		else
			printf("Leader: node %u, term %llu\n", leader, (unsigned long long)term);
		if (!ipd_up) {
			printf("Public addresses: unknown (ipd not running)\n");
		} else {
			printf("Public addresses: %zu\n", nip);
			for (size_t i = 0; i < nip; i++) {
				if (ip_owner[i] == UINT32_MAX)
					printf("  %-43s unassigned\n", ip_addr[i]);
				else
					printf("  %-43s node %u%s%s\n", ip_addr[i], ip_owner[i],
					       ip_here[i][0] ? ", here on " : "", ip_here[i]);
			}
		}
	}
	cli_close(&c);
	return shoal_flush_stdout();
}
