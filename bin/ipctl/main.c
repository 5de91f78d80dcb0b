/* ipctl: the thin client of ipd. Parse, one request with a deadline (per node with -n all),
 * print. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ipalloc/ipalloc.h"
#include "pubaddr/pubaddr.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: ipctl [-c FILE] [--json] [-t MS] [-n NODE|all] COMMAND [ARGS]\n"
	        "\n"
	        "Shows and changes the public addresses that ipd keeps: the floating addresses\n"
	        "clients connect to, each hosted by exactly one node at a time.\n"
	        "\n"
	        "Commands:\n"
	        "  status              every address, its owner in the leader's allocation and the\n"
	        "                      interface this node holds it on (`-` if elsewhere), this\n"
	        "                      node's public interfaces and their link state, the leader\n"
	        "                      and its term, the host set, why this node holds nothing\n"
	        "                      (self-fencing, shutdown) if it does not\n"
	        "  list                the same, addresses only\n"
	        "  move ADDR NODE      move ADDR to NODE now (NODE must list it and may host);\n"
	        "                      a later allocation may rebalance it again\n"
	        "  add ADDR/PREFIX IFACE\n"
	        "                      add an address to the node's list (in memory, as CTDB's\n"
	        "                      addip: `reload` returns to the file) and reallocate\n"
	        "  delete ADDR         remove an address from the node's list; it is released\n"
	        "                      and, if other nodes list it, moved to one of them\n"
	        "  reload              re-read public_addresses: addresses that did not change stay\n"
	        "                      where they are; a bad file is refused, nothing changes\n"
	        "  rebalance           a new allocation in which every node may receive addresses\n"
	        "  hosts [N,N,...]     the host set (nodes allowed to host addresses); with a list,\n"
	        "                      set it (only with `ip host source = manual`; use -n all to\n"
	        "                      set it on every node)\n"
	        "  stats               ipd's counters\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -n, --node NODE|all the node whose ipd answers or acts (default: this node);\n"
	        "                      move, rebalance always go to the leader\n"
	        "  -j, --json          print JSON instead of text\n"
	        "  -t, --timeout MS    deadline for each answer (default %d)\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Examples:\n"
	        "  ipctl status\n"
	        "  ipctl -n all --json status\n"
	        "  ipctl move 10.0.0.101 2\n"
	        "  ipctl add 10.0.0.107/24 eth1 && ipctl delete 10.0.0.107\n"
	        "  ipctl -n all hosts 0,2\n"
	        "\n"
	        "Exit status: 0 success, 100 bad usage or a refused request (the message says why),\n"
	        "111 ipd did not answer, or asked to try again (a node that just started may not\n"
	        "know the leader yet: \"no leader now\").\n",
	        CONF_DEFAULT_PATH, CLI_TIMEOUT_MS);
}

/* Empty text fields decode as NULL. */
static const char *S(const char *s) { return s ? s : ""; }

static const char *node_str(uint32_t n, char *buf, size_t len)
{
	if (n == UINT32_MAX)
		return "-";
	snprintf(buf, len, "%u", n);
	return buf;
}

static void print_status(struct cli *c, const struct proto_ip_status *s, bool full, bool first)
{
	char nb[16];
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "this_node", s->this_node);
		json_bool(&j, "has_leader", s->has_leader);
		if (s->has_leader)
			json_uint(&j, "leader", s->leader);
		json_uint(&j, "term", s->term);
		json_str(&j, "algorithm", S(s->algorithm));
		json_str(&j, "host_source", S(s->host_source));
		json_str(&j, "fenced", S(s->fenced));
		json_str(&j, "connection_reset", S(s->destroy));
		json_uint(&j, "runs", s->runs);
		json_uint(&j, "last_run_ms", s->last_run_ms);
		json_arr_begin(&j, "hosts");
		for (size_t i = 0; i < s->hosts_count; i++)
			json_uint(&j, NULL, s->hosts[i]);
		json_arr_end(&j);
		json_arr_begin(&j, "addresses");
		for (size_t i = 0; i < s->addresses_count; i++) {
			const struct proto_ip_entry *e = &s->addresses[i];
			json_obj_begin(&j, NULL);
			json_str(&j, "address", S(e->address));
			json_uint(&j, "bits", e->bits);
			if (e->owner == UINT32_MAX)
				json_null(&j, "owner");
			else
				json_uint(&j, "owner", e->owner);
			json_str(&j, "iface", S(e->iface));
			json_bool(&j, "held", S(e->iface)[0] != 0);
			json_bool(&j, "listed", e->listed);
			json_arr_begin(&j, "ifaces");
			for (size_t k = 0; k < e->ifaces_count; k++)
				json_str(&j, NULL, e->ifaces[k]);
			json_arr_end(&j);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_arr_begin(&j, "interfaces");
		for (size_t i = 0; i < s->ifaces_count; i++) {
			json_obj_begin(&j, NULL);
			json_str(&j, "name", s->ifaces[i].name);
			json_bool(&j, "exists", s->ifaces[i].exists);
			json_bool(&j, "up", s->ifaces[i].up);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return;
	}
	if (!first)
		printf("\n");
	if (full) {
		printf("node %u, leader %s, term %llu, %s, host set from %s:", s->this_node,
		       s->has_leader ? node_str(s->leader, nb, sizeof nb) : "none",
		       (unsigned long long)s->term, S(s->algorithm), S(s->host_source));
		for (size_t i = 0; i < s->hosts_count; i++)
			printf("%s%u", i ? "," : " ", s->hosts[i]);
		printf("%s\n", s->hosts_count ? "" : " none");
		if (S(s->fenced)[0])
			printf("holding nothing: %s\n", S(s->fenced));
	}
	printf("%-40s %-6s %s\n", "ADDRESS", "OWNER", "HERE");
	for (size_t i = 0; i < s->addresses_count; i++) {
		const struct proto_ip_entry *e = &s->addresses[i];
		char ab[64];
		snprintf(ab, sizeof ab, "%s/%u", S(e->address), e->bits);
		printf("%-40s %-6s %s%s\n", ab, node_str(e->owner, nb, sizeof nb), S(e->iface)[0] ? S(e->iface) : "-",
		       e->listed ? "" : " (not listed here)");
	}
	if (!full)
		return;
	printf("%-16s %s\n", "INTERFACE", "LINK");
	for (size_t i = 0; i < s->ifaces_count; i++)
		printf("%-16s %s\n", s->ifaces[i].name,
		       !s->ifaces[i].exists ? "missing" : s->ifaces[i].up ? "up" : "down");
}

static void print_done(struct cli *c, const struct msg_in *r, uint32_t node, bool many)
{
	const struct proto_ip_done *d = r->body;
	if (c->json)
		printf("{\"ok\":true,\"node\":%u,\"text\":\"%s\"}\n", node, S(d->text));
	else if (many)
		printf("node %u: %s\n", node, S(d->text));
	else
		printf("%s\n", S(d->text));
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "ipctl" };
	int cmdi = cli_parse(&c, argc, argv, true, usage);
	const char *node_arg = c.node_arg;
	const char *cmd = argv[cmdi];
	int nargs = argc - cmdi - 1;
	char **args = argv + cmdi + 1;
	static const struct { const char *name; int min, max; } cmds[] = {
		{ "status", 0, 0 }, { "list", 0, 0 }, { "move", 2, 2 }, { "add", 2, 2 },
		{ "delete", 1, 1 }, { "reload", 0, 0 }, { "rebalance", 0, 0 }, { "hosts", 0, 1 },
		{ "stats", 0, 0 },
	};
	size_t ci;
	for (ci = 0; ci < sizeof cmds / sizeof cmds[0]; ci++)
		if (strcmp(cmd, cmds[ci].name) == 0)
			break;
	if (ci == sizeof cmds / sizeof cmds[0])
		cli_fatal(&c, EXIT_USAGE, "unknown command \"%s\" (see ipctl --help)", cmd);
	if (nargs < cmds[ci].min || nargs > cmds[ci].max)
		cli_fatal(&c, EXIT_USAGE, "%s: wrong number of arguments (see ipctl --help)", cmd);

	cli_connect(&c);
	uint32_t self = msg_self_node(c.msg);
	uint32_t targets[CONF_MAX_NODES];
	unsigned ntargets = cli_targets(&c, node_arg, targets);
	bool all = node_arg && strcmp(node_arg, "all") == 0;
	struct msg_in r;
	int rc = 0;

	if (strcmp(cmd, "move") == 0) {
		struct ipalloc_addr a;
		if (ipalloc_addr_parse(&a, args[0]) < 0)
			cli_fatal(&c, EXIT_USAGE, "move: expected an IPv4 or IPv6 address, got \"%s\"", args[0]);
		struct proto_ip_move q = { .address = args[0], .node = cli_node(&c, args[1], "move") };
		cli_call(&c, self, "ipd", PROTO_IP_MOVE, &q, "ask for the move", &r);
		print_done(&c, &r, self, false);
	} else if (strcmp(cmd, "rebalance") == 0) {
		struct proto_ip_realloc q = { .reason = "ipctl rebalance", .rebalance = true, .node = self };
		cli_call(&c, self, "ipd", PROTO_IP_REALLOC, &q, "ask for a rebalance", &r);
		print_done(&c, &r, self, false);
	} else if (strcmp(cmd, "stats") == 0) {
		cli_stats(&c, targets[0], "ipd");
	} else {
		for (unsigned t = 0; t < ntargets; t++) {
			uint32_t n = targets[t];
			if (strcmp(cmd, "status") == 0 || strcmp(cmd, "list") == 0 ||
			    (strcmp(cmd, "hosts") == 0 && nargs == 0)) {
				cli_call(&c, self, "ipd", PROTO_IP_STATUS_GET, &(struct proto_ip_status_get){ .node = n },
				         "ask ipd for its status", &r);
				const struct proto_ip_status *s = r.body;
				if (cmd[0] == 'h') {
					if (c.json) {
						printf("{\"node\":%u,\"host_source\":\"%s\",\"hosts\":[", n, S(s->host_source));
						for (size_t i = 0; i < s->hosts_count; i++)
							printf("%s%u", i ? "," : "", s->hosts[i]);
						printf("]}\n");
					} else {
						printf("%s%s:", all ? "" : "hosts from ", S(s->host_source));
						for (size_t i = 0; i < s->hosts_count; i++)
							printf("%s%u", i ? "," : " ", s->hosts[i]);
						printf("%s\n", s->hosts_count ? "" : " none");
					}
				} else {
					print_status(&c, s, cmd[0] == 's', t == 0);
				}
			} else if (strcmp(cmd, "add") == 0) {
				struct pubaddr e;
				char what[200];
				if (pubaddr_parse_prefix(args[0], &e, what, sizeof what) < 0)
					cli_fatal(&c, EXIT_USAGE, "add: %s", what);
				if (!*args[1] || strlen(args[1]) >= 16)
					cli_fatal(&c, EXIT_USAGE, "add: expected an interface name, got \"%s\"", args[1]);
				struct proto_ip_add q = { .address = e.text, .bits = (uint8_t)e.bits, .iface = args[1],
					                  .node = n };
				cli_call(&c, self, "ipd", PROTO_IP_ADD, &q, "add the address", &r);
				print_done(&c, &r, n, all);
			} else if (strcmp(cmd, "delete") == 0) {
				struct ipalloc_addr a;
				if (ipalloc_addr_parse(&a, args[0]) < 0)
					cli_fatal(&c, EXIT_USAGE, "delete: expected an IPv4 or IPv6 address, got \"%s\"",
					          args[0]);
				struct proto_ip_delete q = { .address = args[0], .node = n };
				cli_call(&c, self, "ipd", PROTO_IP_DELETE, &q, "delete the address", &r);
				print_done(&c, &r, n, all);
			} else if (strcmp(cmd, "reload") == 0) {
				cli_call(&c, self, "ipd", PROTO_IP_RELOAD, &(struct proto_ip_reload){ .node = n },
				         "reload the public addresses", &r);
				print_done(&c, &r, n, all);
			} else { /* hosts LIST */
				static uint32_t list[CONF_MAX_NODES];
				size_t nl = 0;
				char *save = NULL, *copy = strdup(args[0]);
				if (!copy)
					cli_fatal(&c, EXIT_SYSTEM, "out of memory");
				if (strcmp(copy, "none") != 0)
					for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
						list[nl++] = cli_node(&c, tok, "hosts");
				free(copy);
				struct proto_ip_hosts_set q = { .nodes = list, .nodes_count = nl, .node = n };
				cli_call(&c, self, "ipd", PROTO_IP_HOSTS_SET, &q, "set the host set", &r);
				print_done(&c, &r, n, all);
			}
		}
	}
	cli_close(&c);
	return rc;
}
