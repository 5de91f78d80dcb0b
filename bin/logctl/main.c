/* logctl: the thin client of logfwd. Parse, one request with a deadline, print. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: logctl [-c FILE] [--json] [-t MS] COMMAND\n"
	        "\n"
	        "Talks to this node's logfwd, which takes every daemon's log records and writes\n"
	        "them to the configured target ([logging] location).\n"
	        "\n"
	        "Commands:\n"
	        "  status                 the target, records written, dropped and failed, and\n"
	        "                         per source: records received and dropped\n"
	        "  level                  every daemon's log level\n"
	        "  level LEVEL            set every daemon's level (per-daemon levels are removed)\n"
	        "  level DAEMON LEVEL     set one daemon's level\n"
	        "\n"
	        "LEVEL is err, warning, notice, info or debug. Levels apply at once and are kept\n"
	        "across restarts in <run dir>/log-levels.\n"
	        "\n"
	        "Options:\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -j, --json          print JSON instead of text\n"
	        "  -t, --timeout MS    deadline for logfwd's answer (default %d)\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 success, 100 bad usage or configuration, 111 logfwd did not answer.\n",
	        CONF_DEFAULT_PATH, CLI_TIMEOUT_MS);
}

static int print_levels(struct cli *c, const struct proto_log_levels *l)
{
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "default", log_level_name(l->default_level));
		json_obj_begin(&j, "daemons");
		for (size_t i = 0; i < l->levels_count; i++)
			json_str(&j, l->levels[i].service, log_level_name(l->levels[i].level));
		json_obj_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	printf("%-24s %s\n", "*", log_level_name(l->default_level));
	for (size_t i = 0; i < l->levels_count; i++)
		printf("%-24s %s\n", l->levels[i].service, log_level_name(l->levels[i].level));
	return 0;
}

static int cmd_level(struct cli *c, int argc, char **argv)
{
	struct msg_in r;
	if (argc == 0) {
		cli_call(c, msg_self_node(c->msg), "logfwd", PROTO_LOG_LEVEL_GET,
		         &(struct proto_log_level_get){ 0 }, "ask logfwd for the log levels", &r);
		return print_levels(c, r.body);
	}
	const char *daemon = argc == 2 ? argv[0] : NULL, *name = argv[argc - 1];
	int level = log_level_parse(name);
	if (level < 0)
		cli_fatal(c, EXIT_USAGE, "level: expected err, warning, notice, info or debug, got \"%s\"", name);
	if (daemon && !msg_service_valid(daemon))
		cli_fatal(c, EXIT_USAGE, "level: \"%s\" is not a daemon name", daemon);
	struct proto_log_level_set q = { .service = daemon, .level = (uint8_t)level };
	cli_call(c, msg_self_node(c->msg), "logfwd", PROTO_LOG_LEVEL_SET, &q, "set the log level", &r);
	return print_levels(c, r.body);
}

static int cmd_status(struct cli *c)
{
	struct msg_in r;
	cli_call(c, msg_self_node(c->msg), "logfwd", PROTO_LOG_STATUS_GET,
	         &(struct proto_log_status_get){ 0 }, "ask logfwd for its status", &r);
	const struct proto_log_status *s = r.body;
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		json_str(&j, "target", s->target);
		json_uint(&j, "written", s->written);
		json_uint(&j, "dropped", s->dropped_queue);
		json_uint(&j, "failed", s->failed);
		json_uint(&j, "queued", s->queued);
		json_uint(&j, "queue_max", s->queue_max);
		json_uint(&j, "blocked_ms", s->blocked_ms);
		json_str(&j, "error", s->error ? s->error : "");
		json_str(&j, "default_level", log_level_name(s->default_level));
		json_arr_begin(&j, "sources");
		for (size_t i = 0; i < s->sources_count; i++) {
			const struct proto_log_source *x = &s->sources[i];
			json_obj_begin(&j, NULL);
			json_str(&j, "service", x->service);
			json_uint(&j, "pid", x->pid);
			json_str(&j, "level", log_level_name(x->level));
			json_uint(&j, "received", x->received);
			json_uint(&j, "dropped_sender", x->dropped_sender);
			json_uint(&j, "dropped_logfwd", x->dropped_queue);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return 0;
	}
	printf("target:   %s\n", s->target);
	printf("written:  %llu\n", (unsigned long long)s->written);
	printf("dropped:  %llu (queue full)\n", (unsigned long long)s->dropped_queue);
	printf("failed:   %llu (refused by the target)\n", (unsigned long long)s->failed);
	printf("queued:   %u of %u\n", s->queued, s->queue_max);
	if (s->blocked_ms)
		printf("blocked:  %llu ms in one write\n", (unsigned long long)s->blocked_ms);
	if (s->error && *s->error)
		printf("error:    %s\n", s->error);
	printf("level:    %s\n", log_level_name(s->default_level));
	printf("\n%-20s %8s %-8s %10s %10s %10s\n", "SOURCE", "PID", "LEVEL", "RECEIVED", "DROP-SEND",
	       "DROP-LOGFWD");
	for (size_t i = 0; i < s->sources_count; i++) {
		const struct proto_log_source *x = &s->sources[i];
		printf("%-20s %8u %-8s %10llu %10llu %10llu\n", x->service, x->pid, log_level_name(x->level),
		       (unsigned long long)x->received, (unsigned long long)x->dropped_sender,
		       (unsigned long long)x->dropped_queue);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .prog = "logctl" };
	int cmdi = cli_parse(&c, argc, argv, false, usage);
	const char *cmd = argv[cmdi];
	int nargs = argc - cmdi - 1, rc;
	if (strcmp(cmd, "status") == 0) {
		if (nargs)
			cli_fatal(&c, EXIT_USAGE, "status: unexpected argument \"%s\"", argv[cmdi + 1]);
		cli_connect(&c);
		rc = cmd_status(&c);
	} else if (strcmp(cmd, "level") == 0) {
		if (nargs > 2)
			cli_fatal(&c, EXIT_USAGE, "level: unexpected argument \"%s\" (level [DAEMON] LEVEL)",
			          argv[cmdi + 3]);
		cli_connect(&c);
		rc = cmd_level(&c, nargs, argv + cmdi + 1);
	} else {
		cli_fatal(&c, EXIT_USAGE, "unknown command \"%s\" (see logctl --help)", cmd);
	}
	cli_close(&c);
	return rc;
}
