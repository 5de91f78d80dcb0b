/* svcctl: the thin client of svcd. Parse, one request with a deadline (per node with -n
 * all, through this node's svcd), print. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define EXIT_EVENT_FAILED 1

static const char *const events[] = {
	"init", "setup", "startup", "shutdown", "monitor", "takeip", "releaseip", "updateip",
	"ipreallocated", "startrecovery", "recovered", NULL,
};
static const unsigned nargs[] = { 0, 0, 0, 0, 0, 3, 3, 4, 0, 0, 0 };

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: svcctl [-c FILE] [--json] [-t MS] [-n NODE|all] COMMAND [ARGS...]\n"
	        "\n"
	        "Talks to this node's svcd (or, with -n, another node's, through this one's),\n"
	        "which runs the event scripts of [events] directory (NN.name, executable ones\n"
	        "only, in name order) with CTDB's arguments, so CTDB's legacy event scripts run\n"
	        "unchanged.\n"
	        "\n"
	        "Commands:\n"
	        "  status [EVENT]         svcd's state, then the last result of every script of\n"
	        "                         every event (or of EVENT): status, exit code, duration,\n"
	        "                         the tail of its output; `status hook`: the last\n"
	        "                         run of the hooks\n"
	        "  run EVENT [ARGS...]    run an event now (it waits for the one running) and\n"
	        "                         print its result; exit 1 if it failed (a monitor run\n"
	        "                         this way does not change the node's health)\n"
	        "  list                   the scripts of the events directory, enabled or not\n"
	        "  enable SCRIPT          make SCRIPT executable: it runs from the next event on\n"
	        "  disable SCRIPT         clear SCRIPT's execute bits (kept across restarts)\n"
	        "  hook [NAME=VALUE...]   run the hooks of [events] hook directory with these\n"
	        "                         variables added to their environment, as ipd does on\n"
	        "                         each change of its addresses (returns at once; this\n"
	        "                         node only)\n"
	        "\n"
	        "Events and their arguments:\n"
	        "  init, setup, startup   svcd's start: startup is retried until it succeeds\n"
	        "  monitor                every [events] monitor interval\n"
	        "  shutdown               when svcd stops\n"
	        "  takeip IFACE IP BITS, releaseip IFACE IP BITS,\n"
	        "  updateip OLDIFACE NEWIFACE IP BITS, ipreallocated   from ipd\n"
	        "  startrecovery, recovered                            around a recovery\n"
	        "\n"
	        "A script's status is OK, FAILED (non-zero exit, or killed by a signal),\n"
	        "TIMEDOUT (the event's timeout expired: its process group was killed), DISABLED\n"
	        "(not executable) or NOT_RUN (an earlier script of the event failed).\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -j, --json          print JSON instead of text\n"
	        "  -t, --timeout MS    deadline for svcd's answer (default %d; for run, the\n"
	        "                      event timeout plus 5 s)\n"
	        "  -n, --node NODE|all the node whose svcd answers or acts (default: this node);\n"
	        "                      with all, each node in turn: text under a `node N:` line,\n"
	        "                      JSON one object a line with its \"node\"; run exits 1 if\n"
	        "                      the event failed on any of them\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 success, 1 the event ran and failed, 100 bad usage or\n"
	        "configuration (or svcd refused the request), 111 svcd did not answer or is\n"
	        "stopping (try again).\n",
	        CONF_DEFAULT_PATH, CLI_TIMEOUT_MS);
}

static int event_index(const char *name)
{
	for (int i = 0; events[i]; i++)
		if (strcmp(events[i], name) == 0)
			return i;
	return -1;
}

static void time_text(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	if (!ns || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "-");
}

static const char *status_word(unsigned st)
{
	switch (st) {
	case PROTO_SCRIPT_STATUS_OK: return "OK";
	case PROTO_SCRIPT_STATUS_FAILED: return "FAILED";
	case PROTO_SCRIPT_STATUS_TIMEOUT: return "TIMEDOUT";
	case PROTO_SCRIPT_STATUS_DISABLED: return "DISABLED";
	case PROTO_SCRIPT_STATUS_NOT_RUN: return "NOT_RUN";
	}
	return "?";
}

static void json_scripts(struct json *j, const struct proto_script_result *sr, size_t n)
{
	json_arr_begin(j, "scripts");
	for (size_t i = 0; i < n; i++) {
		json_obj_begin(j, NULL);
		json_str(j, "name", sr[i].name);
		json_str(j, "status", proto_script_status_name(sr[i].status));
		/* exit_code is -SIGNAL when a signal ended the script */
		fprintf(stdout, ",\"exit_code\":%lld", (long long)sr[i].exit_code);
		json_uint(j, "duration_ms", sr[i].duration_ms);
		json_uint(j, "finished_ns", sr[i].finished_ns);
		json_str(j, "output", sr[i].output ? sr[i].output : "");
		json_obj_end(j);
	}
	json_arr_end(j);
}

static void print_scripts(const struct proto_script_result *sr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char code[32] = "";
		if (sr[i].status == PROTO_SCRIPT_STATUS_FAILED || sr[i].status == PROTO_SCRIPT_STATUS_TIMEOUT)
			snprintf(code, sizeof code, sr[i].exit_code < 0 ? " (signal %lld)" : " (exit %lld)",
			         (long long)llabs(sr[i].exit_code));
		if (sr[i].status == PROTO_SCRIPT_STATUS_DISABLED || sr[i].status == PROTO_SCRIPT_STATUS_NOT_RUN)
			printf("  %-24s %s\n", sr[i].name, status_word(sr[i].status));
		else
			printf("  %-24s %-8s %8.3f s%s\n", sr[i].name, status_word(sr[i].status),
			       sr[i].duration_ms / 1000.0, code);
		if (sr[i].output && *sr[i].output) {
			const char *p = sr[i].output;
			while (*p) {
				size_t len = strcspn(p, "\n");
				printf("      | %.*s\n", (int)len, p);
				p += len + (p[len] == '\n');
			}
		}
	}
}

static const char *event_word(bool ok, const struct proto_script_result *sr, size_t n)
{
	if (ok)
		return "OK";
	for (size_t i = 0; i < n; i++)
		if (sr[i].status == PROTO_SCRIPT_STATUS_TIMEOUT)
			return "TIMEDOUT";
	return "FAILED";
}

static void check_run(struct cli *c, int argc, char **argv)
{
	int e = event_index(argv[0]);
	if (e < 0)
		cli_fatal(c, EXIT_USAGE, "run: unknown event \"%s\" (see svcctl --help)", argv[0]);
	if ((unsigned)(argc - 1) != nargs[e])
		cli_fatal(c, EXIT_USAGE, "run: %s takes %u arguments%s, got %d", events[e], nargs[e],
		          e == 7 ? " (OLDIFACE NEWIFACE IP BITS)" : nargs[e] ? " (IFACE IP BITS)" : "",
		          argc - 1);
	for (int i = 1; i < argc; i++)
		if (strlen(argv[i]) > 256)
			cli_fatal(c, EXIT_USAGE, "run: argument %d is longer than 256 bytes", i);
}

/* Every request goes to this node's svcd, which passes it on when it names another node
 * (a CLI's endpoint has no links to the peers). */
static void call_svcd(struct cli *c, unsigned type, const void *q, const char *what, struct msg_in *r)
{
	cli_call(c, msg_self_node(c->msg), "svcd", type, q, what, r);
}

static int cmd_run(struct cli *c, uint32_t node, bool many, int argc, char **argv)
{
	int e = event_index(argv[0]);
	struct proto_svc_run q = { .event = events[e], .args = (const char **)(argv + 1),
	                           .args_count = (size_t)(argc - 1), .has_node = true, .node = node };
	struct msg_in r;
	char what[64];
	snprintf(what, sizeof what, "run %s", events[e]);
	call_svcd(c, PROTO_SVC_RUN, &q, what, &r);
	const struct proto_svc_result *res = r.body;
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "node", node);
		json_str(&j, "event", res->event);
		json_bool(&j, "ok", res->ok);
		json_uint(&j, "duration_ms", res->duration_ms);
		json_scripts(&j, res->scripts, res->scripts_count);
		json_obj_end(&j);
		json_end(&j);
	} else {
		if (many)
			printf("node %u:\n", node);
		printf("%s: %s in %.3f s\n", res->event, event_word(res->ok, res->scripts, res->scripts_count),
		       res->duration_ms / 1000.0);
		print_scripts(res->scripts, res->scripts_count);
	}
	return res->ok ? 0 : EXIT_EVENT_FAILED;
}

static int cmd_status(struct cli *c, uint32_t node, bool many, const char *only)
{
	struct msg_in r;
	call_svcd(c, PROTO_SVC_STATUS_GET, &(struct proto_svc_status_get){ .has_node = true, .node = node },
	          "ask svcd for its status", &r);
	const struct proto_svc_status *st = r.body;
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "node", node);
		json_str(&j, "state", proto_svc_state_name(st->state));
		json_str(&j, "events_dir", st->events_dir);
		json_bool(&j, "healthy", st->healthy);
		json_uint(&j, "monitor_timeouts", st->monitor_timeouts);
		json_str(&j, "running", st->running ? st->running : "");
		json_uint(&j, "queued", st->queued);
		json_obj_begin(&j, "events");
		for (size_t i = 0; i < st->events_count; i++) {
			const struct proto_event_result *e = &st->events[i];
			if (only && strcmp(only, e->event) != 0)
				continue;
			json_obj_begin(&j, e->event);
			json_bool(&j, "ok", e->ok);
			json_arr_begin(&j, "args");
			for (size_t a = 0; a < e->args_count; a++)
				json_str(&j, NULL, e->args[a]);
			json_arr_end(&j);
			json_uint(&j, "duration_ms", e->duration_ms);
			json_uint(&j, "finished_ns", e->finished_ns);
			json_scripts(&j, e->scripts, e->scripts_count);
			json_obj_end(&j);
		}
		json_obj_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	if (many)
		printf("node %u:\n", node);
	printf("state:    %s%s%s\n", proto_svc_state_name(st->state),
	       st->running && *st->running ? ", running " : "", st->running ? st->running : "");
	printf("events:   %s\n", st->events_dir);
	printf("monitor:  %s", st->healthy ? "passing" : "not passing");
	if (st->monitor_timeouts)
		printf(" (%u timeouts in a row)", st->monitor_timeouts);
	printf("\n");
	if (st->queued)
		printf("queued:   %u events\n", st->queued);
	bool any = false;
	for (size_t i = 0; i < st->events_count; i++) {
		const struct proto_event_result *e = &st->events[i];
		if (only && strcmp(only, e->event) != 0)
			continue;
		char when[64];
		time_text(e->finished_ns, when, sizeof when);
		printf("\n%s", e->event);
		for (size_t a = 0; a < e->args_count; a++)
			printf(" %s", e->args[a]);
		printf(": %s in %.3f s, %s\n", event_word(e->ok, e->scripts, e->scripts_count),
		       e->duration_ms / 1000.0, when);
		print_scripts(e->scripts, e->scripts_count);
		any = true;
	}
	if (only && !any)
		printf("\n%s: has not run\n", only);
	return 0;
}

static int print_scripts_list(struct cli *c, uint32_t node, bool many, const struct proto_svc_scripts *l)
{
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_uint(&j, "node", node);
		json_str(&j, "events_dir", l->events_dir);
		json_arr_begin(&j, "scripts");
		for (size_t i = 0; i < l->scripts_count; i++) {
			json_obj_begin(&j, NULL);
			json_str(&j, "name", l->scripts[i].name);
			json_bool(&j, "enabled", l->scripts[i].enabled);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	if (many)
		printf("node %u: ", node);
	printf("%s:\n", l->events_dir);
	for (size_t i = 0; i < l->scripts_count; i++)
		printf("  %-24s %s\n", l->scripts[i].name, l->scripts[i].enabled ? "enabled" : "disabled");
	if (!l->scripts_count)
		printf("  (no scripts)\n");
	return 0;
}

static int cmd_list(struct cli *c, uint32_t node, bool many)
{
	struct msg_in r;
	call_svcd(c, PROTO_SVC_SCRIPTS_GET, &(struct proto_svc_scripts_get){ .has_node = true, .node = node },
	          "list the scripts", &r);
	return print_scripts_list(c, node, many, r.body);
}

static void check_enable(struct cli *c, const char *cmd, const char *script)
{
	if (strchr(script, '/'))
		cli_fatal(c, EXIT_USAGE, "%s: expected a script name (NN.name), not a path: \"%s\"", cmd, script);
	if (strlen(script) > 63)
		cli_fatal(c, EXIT_USAGE, "%s: script name longer than 63 bytes", cmd);
}

static int cmd_enable(struct cli *c, uint32_t node, bool many, const char *cmd, const char *script, bool enable)
{
	struct msg_in r;
	char what[128];
	snprintf(what, sizeof what, "%s %s", cmd, script);
	struct proto_svc_script_set q = { .script = script, .enable = enable, .has_node = true, .node = node };
	call_svcd(c, PROTO_SVC_SCRIPT_SET, &q, what, &r);
	return print_scripts_list(c, node, many, r.body);
}

static int cmd_hook(struct cli *c, int argc, char **argv)
{
	if (argc > 32)
		cli_fatal(c, EXIT_USAGE, "hook: at most 32 variables");
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (!eq || eq == argv[i] || strlen(argv[i]) > 512)
			cli_fatal(c, EXIT_USAGE, "hook: expected NAME=VALUE (at most 512 bytes), got \"%s\"", argv[i]);
	}
	cli_connect(c);
	struct proto_svc_hook q = { .env = (const char **)argv, .env_count = (size_t)argc };
	struct msg_addr to = { .node = msg_self_node(c->msg), .service = "svcd" };
	if (msg_send(c->msg, &to, PROTO_SVC_HOOK, &q) < 0)
		cli_fatal(c, EXIT_SYSTEM, "unable to send the hook to svcd: %s", strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "svcctl" };
	int cmdi = cli_parse(&c, argc, argv, true, usage);
	const char *node_arg = c.node_arg;
	const char *cmd = argv[cmdi];
	int n = argc - cmdi - 1, rc = 0;
	char **args = argv + cmdi + 1;
	bool own_timeout = c.timeout_ms != 0;
	if (strcmp(cmd, "status") == 0) {
		if (n > 1)
			cli_fatal(&c, EXIT_USAGE, "status: unexpected argument \"%s\" (status [EVENT])", args[1]);
		if (n && event_index(args[0]) < 0 && strcmp(args[0], "hook") != 0)
			cli_fatal(&c, EXIT_USAGE, "status: unknown event \"%s\" (see svcctl --help)", args[0]);
	} else if (strcmp(cmd, "run") == 0) {
		if (n < 1)
			cli_fatal(&c, EXIT_USAGE, "run: expected an event (run EVENT [ARGS...])");
		check_run(&c, n, args);
	} else if (strcmp(cmd, "list") == 0) {
		if (n)
			cli_fatal(&c, EXIT_USAGE, "list: unexpected argument \"%s\"", args[0]);
	} else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0) {
		if (n != 1)
			cli_fatal(&c, EXIT_USAGE, "%s: expected one script name (%s SCRIPT)", cmd, cmd);
		check_enable(&c, cmd, args[0]);
	} else if (strcmp(cmd, "hook") == 0) {
		if (node_arg)
			cli_fatal(&c, EXIT_USAGE, "hook: runs this node's hooks only (no -n)");
		rc = cmd_hook(&c, n, args);
		cli_close(&c);
		return rc;
	} else {
		cli_fatal(&c, EXIT_USAGE, "unknown command \"%s\" (see svcctl --help)", cmd);
	}
	cli_connect(&c);
	uint32_t targets[CONF_MAX_NODES];
	unsigned ntargets = cli_targets(&c, node_arg, targets);
	bool many = node_arg && strcmp(node_arg, "all") == 0;
	if (cmd[0] == 'r' && !own_timeout)
		c.timeout_ms = c.conf.event_timeout_s * 1000 + 5000;
	for (unsigned t = 0; t < ntargets; t++) {
		int r;
		if (cmd[0] == 's')
			r = cmd_status(&c, targets[t], many, n ? args[0] : NULL);
		else if (cmd[0] == 'r')
			r = cmd_run(&c, targets[t], many, n, args);
		else if (cmd[0] == 'l')
			r = cmd_list(&c, targets[t], many);
		else
			r = cmd_enable(&c, targets[t], many, cmd, args[0], cmd[0] == 'e');
		if (r > rc)
			rc = r;
	}
	cli_close(&c);
	return rc;
}
