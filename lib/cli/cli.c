#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_fatal(const struct cli *c, int status, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: fatal: ", c->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static bool node_parse(const struct cli *c, const char *s, uint32_t *n)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || !*s || *s == '-' || errno || v >= c->nodes.count)
		return false;
	*n = (uint32_t)v;
	return true;
}

uint32_t cli_node(const struct cli *c, const char *s, const char *what)
{
	uint32_t n;
	if (!node_parse(c, s, &n))
		cli_fatal(c, EXIT_USAGE, "%s: expected a node number below %u, got \"%s\"", what, c->nodes.count, s);
	return n;
}

unsigned cli_targets(const struct cli *c, const char *node_arg, uint32_t *targets)
{
	unsigned n = 0;
	if (!node_arg) {
		targets[n++] = msg_self_node(c->msg);
	} else if (strcmp(node_arg, "all") == 0) {
		for (uint32_t i = 0; i < c->nodes.count && i < CONF_MAX_NODES; i++)
			if (!c->nodes.node[i].deleted)
				targets[n++] = i;
	} else if (node_parse(c, node_arg, &targets[n])) {
		n++;
	} else {
		cli_fatal(c, EXIT_USAGE, "-n: expected a node number below %u or all, got \"%s\"", c->nodes.count,
		          node_arg);
	}
	return n;
}

int cli_parse(struct cli *c, int argc, char **argv, bool with_node, void (*usage)(FILE *f))
{
	static const struct option plain[] = { CLI_LONG_OPTS, { 0 } };
	static const struct option node[] = { CLI_LONG_OPTS, { "node", required_argument, NULL, 'n' }, { 0 } };
	int o;
	while ((o = getopt_long(argc, argv, with_node ? CLI_SHORT_OPTS "n:" : CLI_SHORT_OPTS,
	                        with_node ? node : plain, NULL)) != -1) {
		if (cli_option(c, o, optarg))
			continue;
		if (o == 'n' && with_node) {
			c->node_arg = optarg;
		} else if (o == 'h') {
			usage(stdout);
			exit(0);
		} else {
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		exit(EXIT_USAGE);
	}
	return optind;
}

bool cli_option(struct cli *c, int opt, const char *arg)
{
	switch (opt) {
	case 'c':
		c->conf_path = arg;
		return true;
	case 'j':
		c->json = true;
		return true;
	case 't': {
		char *end;
		long v = strtol(arg, &end, 10);
		if (!*arg || *end || v < 1 || v > 600000)
			cli_fatal(c, EXIT_USAGE, "--timeout: expected milliseconds from 1 to 600000, got \"%s\"",
			          arg);
		c->timeout_ms = (unsigned)v;
		return true;
	}
	}
	return false;
}

void cli_load(struct cli *c)
{
	struct conf_error e;
	char buf[PATH_MAX + 300];
	if (!c->conf_path || !*c->conf_path)
		c->conf_path = getenv("SHOAL_CONF");
	if (!c->conf_path || !*c->conf_path)
		c->conf_path = CONF_DEFAULT_PATH;
	if (!c->timeout_ms)
		c->timeout_ms = CLI_TIMEOUT_MS;
	if (conf_load(&c->conf, c->conf_path, &e) < 0 || nodes_load(&c->nodes, c->conf.nodes_file, &e) < 0)
		cli_fatal(c, EXIT_USAGE, "%s", conf_error_str(&e, buf, sizeof buf));
	if (nodes_find(&c->nodes, c->conf.node_address) < 0)
		cli_fatal(c, EXIT_USAGE, "%s: node address %s is not in the nodes file %s", c->conf_path,
		          c->conf.node_address, c->conf.nodes_file);
}

void cli_connect(struct cli *c)
{
	char err[512];
	cli_load(c);
	c->loop = ev_default_loop(EVFLAG_AUTO);
	c->msg = msg_open(c->loop, &c->conf, &c->nodes, NULL, 0, err, sizeof err);
	if (!c->msg)
		cli_fatal(c, EXIT_SYSTEM, "%s", err);
}

void cli_close(struct cli *c)
{
	msg_close(c->msg);
	c->msg = NULL;
}

void cli_call(struct cli *c, uint32_t node, const char *service, unsigned type, const void *body,
              const char *what, struct msg_in *reply)
{
	struct msg_addr to = { .node = node };
	snprintf(to.service, sizeof to.service, "%s", service);
	int st = msg_call(c->msg, &to, type, body, c->timeout_ms, reply);
	if (st == MSG_OK)
		return;
	bool local = node == msg_self_node(c->msg);
	if (st == MSG_E_REMOTE) {
		/* busy says "try again" (no leader yet, a daemon stopping): temporary, as 111 is
		 * for a script; every other refusal stands until something changes. */
		const struct proto_error *e = reply->body;
		cli_close(c);
		cli_fatal(c, e->code == PROTO_ERROR_CODE_BUSY ? EXIT_SYSTEM : EXIT_USAGE, "unable to %s: %s",
		          what, e->text ? e->text : "error");
	}
	cli_close(c);
	if (st == MSG_E_UNREACHABLE && local)
		cli_fatal(c, EXIT_SYSTEM, "unable to %s: %s is not running on this node (no socket in "
		          "%s/sock)", what, service, c->conf.run_dir);
	cli_fatal(c, EXIT_SYSTEM, "unable to %s: %u:%s: %s", what, node, service, msg_status_str(st));
}

void cli_stats(struct cli *c, uint32_t node, const char *service)
{
	struct msg_in r;
	char what[64];
	snprintf(what, sizeof what, "ask %s for its counters", service);
	cli_call(c, node, service, PROTO_STATS_GET, &(struct proto_stats_get){ 0 }, what, &r);
	const struct proto_stats *s = r.body;
	if (c->json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		for (size_t i = 0; i < s->counters_count; i++)
			json_uint(&j, s->counters[i].name, s->counters[i].value);
		json_obj_end(&j);
		json_end(&j);
		return;
	}
	for (size_t i = 0; i < s->counters_count; i++)
		printf("%-24s %llu\n", s->counters[i].name, (unsigned long long)s->counters[i].value);
}

static void put_string(FILE *f, const char *v)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Comma before every value but the first of its object or array; then the key, if any. */
static void json_sep(struct json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		put_string(j->f, key);
		fputc(':', j->f);
	}
}

void json_init(struct json *j, FILE *f)
{
	memset(j, 0, sizeof *j);
	j->f = f;
	j->first[0] = true;
}

static void open_(struct json *j, const char *key, char ch)
{
	json_sep(j, key);
	fputc(ch, j->f);
	j->first[++j->depth] = true;
}

void json_obj_begin(struct json *j, const char *key) { open_(j, key, '{'); }
void json_arr_begin(struct json *j, const char *key) { open_(j, key, '['); }
void json_obj_end(struct json *j) { j->depth--; fputc('}', j->f); }
void json_arr_end(struct json *j) { j->depth--; fputc(']', j->f); }

void json_str(struct json *j, const char *key, const char *v)
{
	json_sep(j, key);
	put_string(j->f, v);
}

void json_uint(struct json *j, const char *key, uint64_t v)
{
	json_sep(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_sep(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	json_sep(j, key);
	fputs("null", j->f);
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
}
