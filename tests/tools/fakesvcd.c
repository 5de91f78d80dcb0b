/* fakesvcd -c CONF LOG [FAIL_ADDR]: stands in for svcd in ipd's tests. It binds the node's
 * svcd socket, appends one line per svc_run (`run EVENT ARGS...`) and svc_hook (`hook
 * ENV...`) to LOG, and answers every svc_run with success, except a takeip of FAIL_ADDR,
 * which fails as a failing script would. Runs until SIGTERM/SIGKILL. */
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static FILE *out;
static const char *fail_addr;

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	if (in->type == PROTO_SVC_RUN) {
		const struct proto_svc_run *q = in->body;
		bool ok = true;
		fprintf(out, "run %s", q->event ? q->event : "");
		for (size_t i = 0; i < q->args_count; i++)
			fprintf(out, " %s", q->args[i] ? q->args[i] : "");
		fputc('\n', out);
		fflush(out);
		if (fail_addr && q->event && strcmp(q->event, "takeip") == 0 && q->args_count >= 2 && q->args[1] &&
		    strcmp(q->args[1], fail_addr) == 0)
			ok = false;
		struct proto_svc_result r = { .event = q->event, .ok = ok };
		msg_reply(m, in, PROTO_SVC_RESULT, &r);
	} else if (in->type == PROTO_SVC_HOOK) {
		const struct proto_svc_hook *q = in->body;
		fprintf(out, "hook");
		for (size_t i = 0; i < q->env_count; i++)
			fprintf(out, " %s", q->env[i] ? q->env[i] : "");
		fputc('\n', out);
		fflush(out);
	} else if (in->env->id) {
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "fakesvcd: no");
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: fakesvcd -c CONF LOG [FAIL_ADDR]\n");
		return 100;
	}
	struct cli c = { .prog = "fakesvcd", .conf_path = argv[2] };
	cli_load(&c);
	out = fopen(argv[3], "a");
	if (!out) {
		perror("fakesvcd: fatal: unable to open the log");
		return 111;
	}
	fail_addr = argc > 4 ? argv[4] : NULL;
	char err[256];
	struct ev_loop *loop = ev_default_loop(0);
	struct msg_ctx *m = msg_open(loop, &c.conf, &c.nodes, "svcd", 0, err, sizeof err);
	if (!m) {
		fprintf(stderr, "fakesvcd: fatal: %s\n", err);
		return 111;
	}
	msg_set_handler(m, on_message, NULL);
	ev_run(loop, 0);
	return 0;
}
