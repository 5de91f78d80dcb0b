/* svcd: the node's one script runner (events.d scripts and ipd's hooks). */
#ifndef SHOAL_SVCD_H
#define SHOAL_SVCD_H

#include <ev.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/daemon.h"
#include "svc/svc.h"

#define SCRIPTS_MAX   64   /* PROTO_SVC_RESULT_SCRIPTS_MAX */
#define OUTPUT_TAIL   1024 /* script_result.output: the last bytes of stdout and stderr */
#define ARGS_MAX      8
#define ARG_LEN       257
#define ENV_MAX       32
#define ENV_LEN       513

/* --- run.c: one event, its scripts one after the other --- */

enum { ST_OK = 1, ST_FAILED, ST_TIMEOUT, ST_DISABLED, ST_NOT_RUN }; /* = proto script_status */

struct script_res {
	char name[NAME_MAX_LEN];
	int status;
	int64_t exit_code;     /* or -SIGNAL if a signal ended it */
	uint64_t duration_ms;
	char output[OUTPUT_TAIL + 1];
	uint64_t finished_ns;
};

struct run;
typedef void run_done_fn(struct run *r, void *arg);

struct run {
	/* Set by the caller before run_start. */
	char event[32];
	char dir[PATH_MAX];
	bool events;           /* events.d (names checked, a failure stops the event) or hooks */
	char args[ARGS_MAX][ARG_LEN];
	size_t nargs;
	char env[ENV_MAX][ENV_LEN];
	size_t nenv;
	double timeout_s;      /* for all scripts together */
	run_done_fn *done;
	void *arg;
	/* Results. */
	struct script_res res[SCRIPTS_MAX];
	size_t n;
	bool ok, timed_out, cancelled;
	uint64_t duration_ms, finished_ns;
	/* Internal. */
	struct ev_loop *loop;
	size_t cur;
	pid_t pid;             /* of the running script, its process group too; 0 if none */
	int outfd;
	ev_child child;
	ev_io io;
	ev_timer timer, later;
	double t0, script_t0;
	char tail[OUTPUT_TAIL];
	size_t tail_len;
	bool active;
};

/* Starts the run; done runs once, always from the loop (never inside run_start). 0, or -1
 * with errno if the directory cannot be read (nothing started, done not called). */
int run_start(struct run *r, struct ev_loop *loop);
/* Kills the running script's process group; done follows with cancelled set. */
void run_cancel(struct run *r);
/* The status name as svcctl prints it. */
const char *run_status_name(int status);

#endif
