/* svcd: the node's one script runner (events.d scripts and ipd's hooks). */
#ifndef SHOAL_SVCD_H
#define SHOAL_SVCD_H

#include <ev.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/daemon.h"

#define SCRIPTS_MAX   64   /* PROTO_SVC_RESULT_SCRIPTS_MAX */
#define NAME_MAX_LEN  64   /* script_result.name, with the NUL */
#define OUTPUT_TAIL   1024 /* script_result.output: the last bytes of stdout and stderr */
#define ARGS_MAX      8
#define ARG_LEN       257
#define ENV_MAX       32
#define ENV_LEN       513

/* --- scripts.c: the scripts of a directory --- */

struct script_entry {
	char name[NAME_MAX_LEN];
	bool enabled;      /* executable (the owner's execute bit) */
};

/* Whether name is an event script's name as CTDB takes it: two digits, a dot, then
 * letters, digits, '_' or '-' (so `50.samba~` and `50.samba.orig` are ignored). */
bool script_name_valid(const char *name);
/* The regular files of dir (symbolic links followed) in name order. events: only valid
 * event script names; otherwise (hooks) any name not starting with '.' nor ending with '~'.
 * A missing directory has no scripts. Returns the count (at most max), or -1 with errno. */
int scripts_list(const char *dir, bool events, struct script_entry *out, size_t max);
/* Sets (enable) or clears the execute bits of dir/name. 0, or -1 with errno (ENOENT: no
 * such script, EINVAL: not a valid script name). */
int script_set_enabled(const char *dir, const char *name, bool enable);

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
/* Keeps the last OUTPUT_TAIL bytes of a stream: appends data to tail (len in *tail_len). */
void tail_append(char *tail, size_t *tail_len, size_t cap, const char *data, size_t len);
/* Printable text of a tail: controls but \n and \t, and non-ASCII, become '?'; the
 * trailing newlines go. out holds cap bytes. */
void tail_text(const char *tail, size_t len, char *out, size_t cap);

#endif
