/* One run of an event: the scripts of a directory, one after the other, each as
 * `SCRIPT EVENT ARGS...` in a process group of its own, stdin /dev/null, stdout and stderr
 * on one pipe whose tail is kept. Nothing here blocks: a child watcher learns of each exit,
 * an io watcher drains the pipe, one timer bounds the whole event. On timeout the running
 * script's whole process group gets SIGKILL. For events a failure stops the run (the rest
 * are not_run), as CTDB does; hooks all run. Disabled (non-executable) scripts are listed
 * but skipped. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "svcd.h"

static const char *const status_names[] = {
	[ST_OK] = "OK", [ST_FAILED] = "FAILED", [ST_TIMEOUT] = "TIMEDOUT",
	[ST_DISABLED] = "DISABLED", [ST_NOT_RUN] = "NOT_RUN",
};

const char *run_status_name(int status)
{
	return status >= ST_OK && status <= ST_NOT_RUN ? status_names[status] : "?";
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void next_script(struct run *r);

static void finish(struct run *r)
{
	ev_timer_stop(r->loop, &r->timer);
	ev_timer_stop(r->loop, &r->later);
	r->ok = !r->timed_out && !r->cancelled;
	for (size_t i = 0; i < r->n; i++)
		if (r->res[i].status == ST_FAILED || r->res[i].status == ST_TIMEOUT)
			r->ok = false;
	r->duration_ms = (uint64_t)((mono() - r->t0) * 1000 + 0.5);
	r->finished_ns = real_ns();
	r->active = false;
	r->done(r, r->arg);
}

static void on_later(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct run *r = t->data;
	next_script(r);
}

static void drain(struct run *r)
{
	char buf[4096];
	ssize_t n;
	while ((n = read(r->outfd, buf, sizeof buf)) > 0)
		tail_append(r->tail, &r->tail_len, sizeof r->tail, buf, (size_t)n);
	if (n == 0) { /* EOF: every writer is gone */
		ev_io_stop(r->loop, &r->io);
		close(r->outfd);
		r->outfd = -1;
	}
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	drain(w->data);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct run *r = w->data;
	struct script_res *s = &r->res[r->cur];
	ev_child_stop(loop, w);
	/* What is already in the pipe belongs to this script; a background process that keeps
	 * the pipe open is not waited for. */
	if (r->outfd >= 0) {
		drain(r);
		if (r->outfd >= 0) {
			ev_io_stop(loop, &r->io);
			close(r->outfd);
			r->outfd = -1;
		}
	}
	int st = w->rstatus;
	if (r->timed_out || r->cancelled) {
		s->status = r->timed_out ? ST_TIMEOUT : ST_NOT_RUN;
		s->exit_code = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
	} else if (WIFEXITED(st)) {
		s->exit_code = WEXITSTATUS(st);
		s->status = s->exit_code == 0 ? ST_OK : ST_FAILED;
	} else {
		s->exit_code = -(int64_t)WTERMSIG(st);
		s->status = ST_FAILED;
	}
	s->duration_ms = (uint64_t)((mono() - r->script_t0) * 1000 + 0.5);
	s->finished_ns = real_ns();
	tail_text(r->tail, r->tail_len, s->output, sizeof s->output);
	r->pid = 0;
	if (s->status == ST_TIMEOUT)
		log_warning("%s %s: timed out after %.1f s: process group %d killed", r->event, s->name,
		            r->timeout_s, w->rpid);
	else if (s->status == ST_FAILED)
		log_notice("%s %s: failed (%s %lld)", r->event, s->name,
		           s->exit_code < 0 ? "signal" : "exit", (long long)llabs(s->exit_code));
	r->cur++;
	if (r->timed_out || r->cancelled || (r->events && s->status != ST_OK))
		r->cur = r->n; /* the rest stay not_run */
	next_script(r);
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct run *r = t->data;
	r->timed_out = true;
	/* Between scripts (pid 0) the pending start sees timed_out and finishes the run. */
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
}

void run_cancel(struct run *r)
{
	if (!r->active || r->cancelled)
		return;
	r->cancelled = true;
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
}

/* In the child: only async-signal-safe work between fork and exec. */
static _Noreturn void child_exec(struct run *r, const char *path, int outfd)
{
	setpgid(0, 0);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	dup2(outfd, 1);
	dup2(outfd, 2);
	close_range(3, ~0U, 0);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* svcd ignores SIGPIPE; a script must not inherit that */
	char *argv[ARGS_MAX + 3];
	size_t a = 0;
	argv[a++] = (char *)path;
	argv[a++] = r->event;
	for (size_t i = 0; i < r->nargs; i++)
		argv[a++] = r->args[i];
	argv[a] = NULL;
	for (size_t i = 0; i < r->nenv; i++)
		putenv(r->env[i]);
	setenv("SHOAL_EVENT", r->event, 1);
	execv(path, argv);
	dprintf(2, "svcd: unable to run %s: %s\n", path, strerror(errno));
	_exit(127);
}

static int spawn(struct run *r, struct script_res *s)
{
	char path[PATH_MAX + NAME_MAX_LEN + 2];
	int p[2];
	snprintf(path, sizeof path, "%s/%s", r->dir, s->name);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(r, path, p[1]);
	setpgid(pid, pid); /* also here: no race with a kill of the group */
	close(p[1]);
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	r->pid = pid;
	r->outfd = p[0];
	r->tail_len = 0;
	r->script_t0 = mono();
	ev_child_init(&r->child, on_child, pid, 0);
	r->child.data = r;
	ev_child_start(r->loop, &r->child);
	ev_io_init(&r->io, on_output, p[0], EV_READ);
	r->io.data = r;
	ev_io_start(r->loop, &r->io);
	log_debug("%s %s: started, pid %d", r->event, s->name, (int)pid);
	return 0;
}

static void next_script(struct run *r)
{
	if (r->timed_out || r->cancelled)
		r->cur = r->n;
	while (r->cur < r->n) {
		struct script_res *s = &r->res[r->cur];
		if (s->status == ST_DISABLED) {
			r->cur++;
			continue;
		}
		if (spawn(r, s) == 0)
			return;
		s->status = ST_FAILED;
		s->exit_code = 127;
		snprintf(s->output, sizeof s->output, "svcd: unable to start: %s", strerror(errno));
		log_err("%s %s: unable to start: %s", r->event, s->name, strerror(errno));
		r->cur = r->events ? r->n : r->cur + 1;
	}
	finish(r);
}

int run_start(struct run *r, struct ev_loop *loop)
{
	struct script_entry list[SCRIPTS_MAX];
	int n = scripts_list(r->dir, r->events, list, SCRIPTS_MAX);
	if (n < 0)
		return -1;
	r->loop = loop;
	r->n = (size_t)n;
	r->cur = 0;
	r->pid = 0;
	r->outfd = -1;
	r->ok = r->timed_out = r->cancelled = false;
	r->active = true;
	for (size_t i = 0; i < r->n; i++) {
		struct script_res *s = &r->res[i];
		memset(s, 0, sizeof *s);
		memcpy(s->name, list[i].name, sizeof s->name); /* both NAME_MAX_LEN, NUL-terminated */
		s->status = list[i].enabled ? ST_NOT_RUN : ST_DISABLED;
	}
	r->t0 = mono();
	ev_timer_init(&r->timer, on_timeout, r->timeout_s, 0);
	r->timer.data = r;
	ev_timer_start(loop, &r->timer);
	/* The first script starts from the loop, so done never runs inside run_start. */
	ev_timer_init(&r->later, on_later, 0, 0);
	r->later.data = r;
	ev_timer_start(loop, &r->later);
	return 0;
}
