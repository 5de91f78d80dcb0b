/* What every shoal CLI shares: loading the configuration, a client endpoint with a
 * deadline on each call, the exit-status vocabulary, and a small JSON writer for --json.
 * Top-level code for tools: these functions may print and exit (cli_fatal). */
#ifndef SHOAL_CLI_H
#define SHOAL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"
#include "msg/msg.h"

#define EXIT_USAGE  100 /* bad usage, or a permanent error */
#define EXIT_SYSTEM 111 /* temporary or system failure */
#define EXIT_BUG    101

#define CLI_TIMEOUT_MS 3000

struct cli {
	const char *prog;
	const char *conf_path;
	bool json;
	unsigned timeout_ms;
	struct conf conf;
	struct conf_nodes nodes;
	struct ev_loop *loop;
	struct msg_ctx *msg;
	const char *node_arg;    /* -n, with cli_parse(with_node); NULL: not given */
};

/* The options every CLI shares: -c FILE, -j/--json, -t/--timeout MS, -h/--help. Put
 * CLI_SHORT_OPTS first in getopt_long's string and CLI_LONG_OPTS in the table, then hand
 * every option to cli_option() before the tool's own switch. */
#define CLI_SHORT_OPTS "+c:jt:h"
#define CLI_LONG_OPTS                                          \
	{ "config", required_argument, NULL, 'c' },            \
	{ "json", no_argument, NULL, 'j' },                     \
	{ "timeout", required_argument, NULL, 't' },            \
	{ "help", no_argument, NULL, 'h' }
/* true if it took opt (-c, -j, -t; a bad -t is fatal); -h and the rest are the tool's. */
bool cli_option(struct cli *c, int opt, const char *arg);

/* The options of a CLI that has no others: the shared ones, and -n/--node NODE|all (into
 * node_arg) when with_node. -h prints usage on stdout and exits 0; an unknown option or no
 * command prints it on stderr and exits 100. Returns the index of the command in argv. */
int cli_parse(struct cli *c, int argc, char **argv, bool with_node, void (*usage)(FILE *f));
/* A node number of the nodes file, or exit 100: "WHAT: expected a node number below N". */
uint32_t cli_node(const struct cli *c, const char *s, const char *what);
/* The nodes -n names, into targets (room for CONF_MAX_NODES): NULL is this node, "all"
 * every node of the nodes file that is not deleted, else one node number (cli_node).
 * Returns how many; after cli_connect (this node's number comes from the endpoint). */
unsigned cli_targets(const struct cli *c, const char *node_arg, uint32_t *targets);

void cli_fatal(const struct cli *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* Loads conf_path (or $SHOAL_CONF, or the default) and the nodes file; exits 100 on error. */
void cli_load(struct cli *c);
/* cli_load, then a client endpoint; exits 111 if it cannot bind. */
void cli_connect(struct cli *c);
void cli_close(struct cli *c);
/* A request to node:service with the CLI's deadline; on failure prints
 * "<prog>: fatal: unable to <what>: <reason>" and exits 111 (100 for an error reply). */
void cli_call(struct cli *c, uint32_t node, const char *service, unsigned type, const void *body,
              const char *what, struct msg_in *reply);

/* `stats` of every CLI: service's counters on node, a line each or one JSON object. */
void cli_stats(struct cli *c, uint32_t node, const char *service);

/* Minimal JSON writer: values separated automatically; strings escaped. */
struct json {
	FILE *f;
	int depth;
	bool first[32];
};
void json_init(struct json *j, FILE *f);
void json_obj_begin(struct json *j, const char *key);   /* key NULL inside arrays / at top */
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
void json_str(struct json *j, const char *key, const char *v);
void json_uint(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
void json_end(struct json *j);                            /* final newline */

#endif
