/* shoal node: start, stop and show this node's supervision tree.
 *
 * A node is one s6-svscan on <run dir>/scan/, which holds a copy of svc/<daemon>/ for every
 * daemon in svc/ plus what the copy needs from the configuration (env/, timeout-finish).
 * `start` lays the scan directory out, starts s6-svscan in its own session (stdio to
 * <run dir>/node.log, pid in <run dir>/svscan.pid) and waits until every service is up and
 * ready. `stop` records every process of the tree (pid and start time, so a reused pid is
 * never hit), asks s6-svscan to bring everything down, waits with a deadline, then SIGKILLs
 * by pid whatever is left. Processes are only ever found by pid: the recorded s6-svscan and
 * the descendants of a recorded process, or, when s6-svscan itself was killed, processes
 * working inside the scan directory (s6-supervise and its children run there); never by
 * name. */
#include "shoal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fs/fs.h"

extern char **environ;

#define START_TIMEOUT_S 10
#define STOP_TIMEOUT_S  10 /* plus `restart backoff max`: a finish script may be sleeping */
#define MAX_SERVICES    32
#define MAX_PROCS       256

/* Big (the nodes table): not on the stack. */
static struct conf conf;
static struct conf_nodes nodes;

static struct paths {
	char run[PATH_MAX];
	char scan[PATH_MAX + 16];
	char pidfile[PATH_MAX + 16];
	char log[PATH_MAX + 16];
	char lock[PATH_MAX + 16];
	char failed[PATH_MAX + 16];
} p;

static void node_usage(FILE *f)
{
	fputs("Usage: shoal node start [-c FILE] [-t SECONDS]\n"
	      "       shoal node stop [-c FILE] [-t SECONDS]\n"
	      "       shoal node status [-c FILE] [--json]\n"
	      "\n"
	      "start   checks the configuration, lays out <run dir>/scan/ (a copy of svc/<daemon>\n"
	      "        for every daemon), starts the supervisor (s6-svscan) in the background and\n"
	      "        waits until every daemon is up and ready (default 10 s). Supervisor and\n"
	      "        daemons log to <run dir>/node.log. Starting a running node is an error.\n"
	      "stop    first has ipd hand the node's public addresses over to the other nodes\n"
	      "        (at most `shutdown failover timeout`, [ip]), then\n"
	      "        brings every daemon and the supervisor down and waits for them (default\n"
	      "        10 s plus `restart backoff max`), then kills what is left, by pid. Stopping\n"
	      "        a node that is not running is not an error.\n"
	      "status  whether the supervisor runs, and each daemon's state: up or down, pid,\n"
	      "        for how long, and whether it failed permanently (it died `permanent failure\n"
	      "        count` times within `permanent failure seconds`, see <run dir>/failed/).\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE     the configuration file (as `shoal -c FILE node ...`)\n"
	      "  -t, --timeout SECONDS how long start or stop may wait\n"
	      "  -j, --json            status: print JSON\n"
	      "  -h, --help            print this help and exit\n"
	      "\n"
	      "Environment:\n"
	      "  SHOAL_SVC_DIR      the service directory templates (default: svc/ of the source\n"
	      "                     tree when run from a build, else <prefix>/share/shoal/svc)\n"
	      "  SHOAL_LIBEXEC_DIR  where the daemons are (default: beside shoal in a build, else\n"
	      "                     <prefix>/libexec/shoal)\n"
	      "The daemons inherit shoal's environment.\n"
	      "\n"
	      "Exit status: 0 success, 100 usage error, bad configuration or node already\n"
	      "running, 111 system failure or a daemon not ready in time.\n", f);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void load(int full)
{
	struct conf_error err;
	if (conf_load(&conf, shoal_conf_path, &err) < 0)
		shoal_die_conf(&err);
	if (full && (nodes_load(&nodes, conf.nodes_file, &err) < 0 || conf_check(&conf, &nodes, &err) < 0))
		shoal_die_conf(&err);
	snprintf(p.run, sizeof p.run, "%s", conf.run_dir);
	snprintf(p.scan, sizeof p.scan, "%s/scan", p.run);
	snprintf(p.pidfile, sizeof p.pidfile, "%s/svscan.pid", p.run);
	snprintf(p.log, sizeof p.log, "%s/node.log", p.run);
	snprintf(p.lock, sizeof p.lock, "%s/node.lock", p.run);
	snprintf(p.failed, sizeof p.failed, "%s/failed", p.run);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path)
{
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One start or stop at a time on a node. The lock goes with the process. */
static void lock_node(void)
{
	if (mkdir_p(p.run, 0755) < 0)
		shoal_die(EXIT_TEMP, "unable to create %s: %s", p.run, strerror(errno));
	int fd = open(p.lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		shoal_die(EXIT_TEMP, "unable to open %s: %s", p.lock, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		shoal_die(EXIT_TEMP, "unable to lock %s: %s", p.lock,
		          errno == EWOULDBLOCK ? "another shoal node start or stop runs on this node"
		                               : strerror(errno));
}

/* --- processes, by pid ------------------------------------------------------------------ */

struct proc {
	pid_t pid;
	unsigned long long start; /* /proc/<pid>/stat field 22: tells a reused pid apart */
};

/* State, parent and start time of pid; -1 if it does not exist. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* The command name may hold anything, ')' included: fields resume after the last ')'. */
	char *s = strrchr(buf, ')');
	if (!s)
		return -1;
	char st;
	int pp;
	unsigned long long t;
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads itrealvalue starttime */
	if (sscanf(s + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
	           &st, &pp, &t) != 3)
		return -1;
	if (state)
		*state = st;
	if (ppid)
		*ppid = pp;
	if (start)
		*start = t;
	return 0;
}

/* The same process still runs (a zombie has ended: only its parent has not looked yet). */
static int proc_alive(const struct proc *pr)
{
	char st;
	unsigned long long start;
	return proc_stat(pr->pid, &st, NULL, &start) == 0 && start == pr->start && st != 'Z' && st != 'X';
}

struct procset {
	size_t n;
	struct proc p[MAX_PROCS];
};

static int procset_has(const struct procset *s, pid_t pid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i].pid == pid)
			return 1;
	return 0;
}

static void procset_add(struct procset *s, pid_t pid, unsigned long long start)
{
	if (pid > 1 && s->n < MAX_PROCS && !procset_has(s, pid))
		s->p[s->n++] = (struct proc){ pid, start };
}

/* Is dir (a directory's real path) the working directory of pid, or below it? */
static int cwd_inside(pid_t pid, const char *dir)
{
	char link[64], cwd[PATH_MAX];
	snprintf(link, sizeof link, "/proc/%d/cwd", (int)pid);
	ssize_t n = readlink(link, cwd, sizeof cwd - 1);
	if (n < 0)
		return 0;
	cwd[n] = 0;
	size_t len = strlen(dir);
	return strncmp(cwd, dir, len) == 0 && (cwd[len] == 0 || cwd[len] == '/');
}

/* Adds to s every living descendant of a living member of s until nothing new turns up; with
 * by_cwd, also every process working inside the scan directory (s6-supervise, run, finish
 * and the daemons start there): the way to find what a killed s6-svscan left behind. */
static void procset_grow(struct procset *s, int by_cwd)
{
	char scan[PATH_MAX];
	int have_scan = by_cwd && realpath(p.scan, scan) != NULL;
	size_t before;
	do {
		before = s->n;
		DIR *d = opendir("/proc");
		if (!d)
			return;
		struct dirent *e;
		while ((e = readdir(d))) {
			char *end;
			long pid = strtol(e->d_name, &end, 10);
			if (*end || pid <= 1 || pid == getpid() || procset_has(s, (pid_t)pid))
				continue;
			char st;
			pid_t ppid;
			unsigned long long start;
			if (proc_stat((pid_t)pid, &st, &ppid, &start) < 0 || st == 'Z')
				continue;
			int in = have_scan && cwd_inside((pid_t)pid, scan);
			for (size_t i = 0; !in && i < s->n; i++)
				in = s->p[i].pid == ppid && proc_alive(&s->p[i]);
			if (in)
				procset_add(s, (pid_t)pid, start);
		}
		closedir(d);
	} while (s->n != before);
}

static size_t procset_alive(const struct procset *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += proc_alive(&s->p[i]) != 0;
	return n;
}

/* The running s6-svscan of this node: the pid in svscan.pid, alive, working in the scan
 * directory (s6-svscan changes to it). 0 if none. */
static pid_t svscan_pid(struct proc *out)
{
	char buf[32], scan[PATH_MAX];
	int fd = open(p.pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	long pid = strtol(buf, NULL, 10);
	struct proc pr = { (pid_t)pid, 0 };
	char st;
	if (pid <= 1 || proc_stat(pr.pid, &st, NULL, &pr.start) < 0 || st == 'Z' ||
	    !realpath(p.scan, scan) || !cwd_inside(pr.pid, scan))
		return 0;
	if (out)
		*out = pr;
	return pr.pid;
}

/* --- s6 tools ----------------------------------------------------------------------------- */

/* Runs argv (found on PATH) with stdout into out (if given); its exit status, or -1. */
static int run_tool(char *const argv[], char *out, size_t outlen)
{
	int pfd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	if (out && pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (out)
		close(pfd[1]);
	if (rc != 0) {
		if (out)
			close(pfd[0]);
		errno = rc;
		return -1;
	}
	if (out) {
		size_t off = 0;
		ssize_t n;
		while ((n = read(pfd[0], out + off, outlen - 1 - off)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			off += (size_t)n;
			if (off == outlen - 1)
				break;
		}
		out[off] = 0;
		close(pfd[0]);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Is an s6-supervise running on dir? */
static int supervised(const char *dir)
{
	char *argv[] = { "s6-svok", (char *)dir, NULL };
	return run_tool(argv, NULL, 0) == 0;
}

/* Supervised, and s6-supervise has written its status file: s6-svwait fails ("unable to
 * s6_svstatus_read") on a directory whose supervisor has taken its lock but not yet written
 * supervise/status, a window a loaded machine makes wide. */
static int supervised_with_status(const char *dir)
{
	char status[PATH_MAX + 96];
	snprintf(status, sizeof status, "%s/supervise/status", dir);
	return supervised(dir) && access(status, F_OK) == 0;
}

struct svstate {
	int known;    /* s6-svstat answered */
	int up, wantedup, ready;
	long pid;
	long for_s;   /* seconds up, or down */
	int exitcode; /* of the last death; -1 if a signal */
	char signal[16];
	int failed;   /* <run dir>/failed/<name> exists */
};

static void svstat(const char *name, struct svstate *s)
{
	char dir[PATH_MAX + 64], out[256], up[8], want[8], ready[8];
	memset(s, 0, sizeof *s);
	snprintf(dir, sizeof dir, "%s/%s", p.scan, name);
	char *argv[] = { "s6-svstat", "-o", "up,wantedup,ready,pid,updownfor,exitcode,signal", dir, NULL };
	if (run_tool(argv, out, sizeof out) == 0 &&
	    sscanf(out, "%7s %7s %7s %ld %ld %d %15s", up, want, ready, &s->pid, &s->for_s, &s->exitcode,
	           s->signal) == 7) {
		s->known = 1;
		s->up = strcmp(up, "true") == 0;
		s->wantedup = strcmp(want, "true") == 0;
		s->ready = strcmp(ready, "true") == 0;
	}
	snprintf(dir, sizeof dir, "%s/%s", p.failed, name);
	s->failed = access(dir, F_OK) == 0;
}

/* The services of the scan directory (or of the svc templates): its subdirectories not
 * starting with '.'. */
static size_t list_services(const char *dir, char names[][64])
{
	size_t n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < MAX_SERVICES) {
		struct stat st;
		char path[PATH_MAX + 300];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || strlen(e->d_name) >= 64 || stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(names[n++], 64, "%s", e->d_name);
	}
	closedir(d);
	/* readdir order is arbitrary: sort for stable output. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char t[64];
			memcpy(t, names[j], 64);
			memcpy(names[j], names[j - 1], 64);
			memcpy(names[j - 1], t, 64);
		}
	return n;
}

/* --- start -------------------------------------------------------------------------------- */

static int exe_dir(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0)
		return -1;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(out, len, "%s", exe);
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where svc/ is: $SHOAL_SVC_DIR; a build's <top>/svc (the binary in <top>/<build>/bin); an
 * installation's <prefix>/share/shoal/svc (the binary in <prefix>/bin). */
static void find_dirs(char *svc, char *libexec)
{
	char dir[PATH_MAX], try[PATH_MAX + 32];
	const char *env = getenv("SHOAL_SVC_DIR");
	if (exe_dir(dir, sizeof dir) < 0)
		shoal_die(EXIT_TEMP, "unable to read /proc/self/exe: %s", strerror(errno));
	if (env && *env) {
		snprintf(try, sizeof try, "%s", env);
	} else {
		snprintf(try, sizeof try, "%s/../../svc", dir);
		if (!is_dir(try))
			snprintf(try, sizeof try, "%s/../share/shoal/svc", dir);
	}
	if (!realpath(try, svc) || !is_dir(svc))
		shoal_die(EXIT_USAGE, "unable to find the service directories: %s: %s (set SHOAL_SVC_DIR)", try,
		          errno ? strerror(errno) : "not a directory");
	env = getenv("SHOAL_LIBEXEC_DIR");
	if (env && *env) {
		snprintf(try, sizeof try, "%s", env);
	} else {
		snprintf(try, sizeof try, "%s/../libexec/shoal", dir);
		if (!is_dir(try))
			snprintf(try, sizeof try, "%s", dir);
	}
	if (!realpath(try, libexec))
		shoal_die(EXIT_USAGE, "unable to find the daemons: %s: %s (set SHOAL_LIBEXEC_DIR)", try,
		          strerror(errno));
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[8192];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	if (out < 0) {
		close(in);
		return -1;
	}
	ssize_t n;
	int rc = 0;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0)
		rc = -1;
	close(in);
	if (close(out) < 0)
		rc = -1;
	return rc;
}

/* Copies a template directory (regular files and subdirectories, modes kept); leaves out
 * what s6-supervise makes (supervise/, event/) should a template ever have been run. */
static int copy_tree(const char *from, const char *to)
{
	if (mkdir(to, 0755) < 0 && errno != EEXIST)
		return -1;
	DIR *d = opendir(from);
	if (!d)
		return -1;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		char src[PATH_MAX + 300], dst[PATH_MAX + 300];
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "supervise") ||
		    !strcmp(e->d_name, "event"))
			continue;
		snprintf(src, sizeof src, "%s/%s", from, e->d_name);
		snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
		if (stat(src, &st) < 0)
			rc = -1;
		else if (S_ISDIR(st.st_mode))
			rc = copy_tree(src, dst);
		else if (S_ISREG(st.st_mode))
			rc = copy_file(src, dst, st.st_mode);
	}
	closedir(d);
	return rc;
}

static void write_value(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void write_value(const char *dir, const char *name, const char *fmt, ...)
{
	char path[PATH_MAX + 128], val[PATH_MAX + 2];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(val, sizeof val - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof val - 1)
		shoal_die(EXIT_USAGE, "value of %s too long", name);
	val[n++] = '\n';
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (write_file_atomic(path, val, (size_t)n) < 0 || chmod(path, 0644) < 0)
		shoal_die(EXIT_TEMP, "unable to write %s: %s", path, strerror(errno));
}

/* scan/<name>: the template, env/ for run and finish, timeout-finish above the back-off cap. */
static void lay_out_service(const char *svc, const char *libexec, const char *name)
{
	char from[PATH_MAX + 128], to[PATH_MAX + 128], env[PATH_MAX + 160], conf_abs[PATH_MAX];
	snprintf(from, sizeof from, "%s/%s", svc, name);
	snprintf(to, sizeof to, "%s/%s", p.scan, name);
	snprintf(env, sizeof env, "%s/%s", libexec, name);
	if (access(env, X_OK) < 0)
		shoal_die(EXIT_USAGE, "no daemon for service %s: %s: %s", from, env, strerror(errno));
	if (copy_tree(from, to) < 0)
		shoal_die(EXIT_TEMP, "unable to copy %s to %s: %s", from, to, strerror(errno));
	if (!realpath(shoal_conf_path, conf_abs))
		shoal_die(EXIT_TEMP, "unable to resolve %s: %s", shoal_conf_path, strerror(errno));
	snprintf(env, sizeof env, "%s/env", to);
	if (mkdir(env, 0755) < 0 && errno != EEXIST)
		shoal_die(EXIT_TEMP, "unable to create %s: %s", env, strerror(errno));
	write_value(env, "SHOAL_CONF", "%s", conf_abs);
	write_value(env, "SHOAL_LIBEXEC", "%s", libexec);
	write_value(env, "SHOAL_RUN_DIR", "%s", conf.run_dir);
	write_value(env, "SHOAL_RESTART_BACKOFF_MAX_MS", "%u", conf.restart_backoff_max_ms);
	write_value(env, "SHOAL_PERMAFAIL_COUNT", "%u", conf.permafail_count);
	write_value(env, "SHOAL_PERMAFAIL_SECONDS", "%u", conf.permafail_seconds);
	/* s6-supervise kills a finish script after timeout-finish ms (default 5000). */
	write_value(to, "timeout-finish", "%u", conf.restart_backoff_max_ms + 5000);
}

/* s6-svscan in its own session, stdio on node.log; returns its pid once exec succeeded. */
static pid_t spawn_svscan(void)
{
	int logfd = open(p.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (logfd < 0)
		shoal_die(EXIT_TEMP, "unable to open %s: %s", p.log, strerror(errno));
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0)
		shoal_die(EXIT_TEMP, "unable to open /dev/null: %s", strerror(errno));
	int errp[2];
	if (pipe2(errp, O_CLOEXEC) < 0)
		shoal_die(EXIT_TEMP, "unable to create a pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		shoal_die(EXIT_TEMP, "unable to fork: %s", strerror(errno));
	if (pid == 0) {
		setsid();
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		signal(SIGPIPE, SIG_DFL);
		execlp("s6-svscan", "s6-svscan", p.scan, (char *)NULL);
		int e = errno;
		/* exec failed: tell the parent why through the pipe (closed on a good exec). */
		if (write(errp[1], &e, sizeof e) < 0)
			_exit(111);
		_exit(111);
	}
	close(errp[1]);
	close(logfd);
	close(nullfd);
	int e;
	ssize_t n;
	while ((n = read(errp[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (n == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		shoal_die(EXIT_TEMP, "unable to run s6-svscan: %s (is s6 installed?)", strerror(e));
	}
	return pid;
}

static int stop_tree(pid_t pid, unsigned timeout_s, int quiet);

static _Noreturn void start_failed(pid_t pid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void start_failed(pid_t pid, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("shoal: fatal: ", stderr);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see %s); stopping the node\n", p.log);
	va_end(ap);
	if (pid > 0)
		stop_tree(pid, STOP_TIMEOUT_S + conf.restart_backoff_max_ms / 1000, 1);
	rm_rf(p.scan);
	unlink(p.pidfile);
	exit(EXIT_TEMP);
}

static int node_start(unsigned timeout_s)
{
	char svc[PATH_MAX], libexec[PATH_MAX], names[MAX_SERVICES][64], dir[PATH_MAX + 64];
	struct proc old;
	load(1);
	find_dirs(svc, libexec); /* both PATH_MAX */
	size_t n = list_services(svc, names);
	if (n == 0)
		shoal_die(EXIT_USAGE, "no service directories in %s", svc);
	lock_node();
	if (svscan_pid(&old))
		shoal_die(EXIT_USAGE, "node already running (s6-svscan pid %d on %s)", (int)old.pid, p.scan);

	/* A scan directory left by a node that was killed: nothing may still supervise it. */
	char stale[MAX_SERVICES][64];
	size_t ns = list_services(p.scan, stale);
	for (size_t i = 0; i < ns; i++) {
		snprintf(dir, sizeof dir, "%s/%s", p.scan, stale[i]);
		if (supervised(dir))
			shoal_die(EXIT_TEMP, "%s is still supervised by a process of an earlier run; "
			          "run shoal node stop first", dir);
	}
	if (rm_rf(p.scan) < 0 || rm_rf(p.failed) < 0)
		shoal_die(EXIT_TEMP, "unable to clear %s: %s", p.scan, strerror(errno));
	unlink(p.pidfile);
	if (mkdir(p.scan, 0755) < 0)
		shoal_die(EXIT_TEMP, "unable to create %s: %s", p.scan, strerror(errno));
	for (size_t i = 0; i < n; i++)
		lay_out_service(svc, libexec, names[i]);

	double t0 = now_s(), deadline = t0 + timeout_s;
	pid_t pid = spawn_svscan();
	char pidbuf[32];
	int len = snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)pid);
	if (write_file_atomic(p.pidfile, pidbuf, (size_t)len) < 0)
		start_failed(pid, "unable to write %s: %s", p.pidfile, strerror(errno));

	/* s6-svwait needs a supervisor on each directory first. */
	for (size_t i = 0; i < n; i++) {
		snprintf(dir, sizeof dir, "%s/%s", p.scan, names[i]);
		while (!supervised_with_status(dir)) {
			int status;
			if (waitpid(pid, &status, WNOHANG) == pid)
				start_failed(0, "s6-svscan exited at once");
			if (now_s() > deadline)
				start_failed(pid, "%s not supervised within %u s", names[i], timeout_s);
			sleep_ms(10);
		}
	}
	double left = deadline - now_s();
	char tbuf[32];
	snprintf(tbuf, sizeof tbuf, "%ld", left > 0.001 ? (long)(left * 1000) : 1L);
	char *argv[MAX_SERVICES + 6] = { "s6-svwait", "-U", "-a", "-t", tbuf };
	static char dirs[MAX_SERVICES][PATH_MAX + 64];
	for (size_t i = 0; i < n; i++) {
		snprintf(dirs[i], sizeof dirs[i], "%s/%s", p.scan, names[i]);
		argv[5 + i] = dirs[i];
	}
	argv[5 + n] = NULL;
	int rc = run_tool(argv, NULL, 0);
	if (rc != 0) {
		char what[512] = "";
		for (size_t i = 0; i < n; i++) {
			struct svstate s;
			svstat(names[i], &s);
			if (s.up && s.ready)
				continue;
			size_t off = strlen(what);
			snprintf(what + off, sizeof what - off, "%s%s %s", off ? ", " : "", names[i],
			         s.failed ? "failed permanently" : s.up ? "up but not ready" : "down");
		}
		start_failed(pid, "not ready within %u s: %s", timeout_s, what[0] ? what : "s6-svwait failed");
	}

	printf("node %d (%s) started in %.0f ms: s6-svscan pid %d;", nodes_find(&nodes, conf.node_address),
	       conf.node_address, (now_s() - t0) * 1000, (int)pid);
	for (size_t i = 0; i < n; i++) {
		struct svstate s;
		svstat(names[i], &s);
		printf(" %s pid %ld%s", names[i], s.pid, i + 1 < n ? "," : "\n");
	}
	return shoal_flush_stdout();
}

/* --- stop --------------------------------------------------------------------------------- */

/* Brings the tree of s6-svscan pid down (pid 0: only leftovers working in the scan
 * directory); 0 if everything ended by itself, else the number of processes killed. */
static int stop_tree(pid_t pid, unsigned timeout_s, int quiet)
{
	static struct procset s;
	s.n = 0;
	if (pid > 0) {
		struct proc root = { pid, 0 };
		if (proc_stat(pid, NULL, NULL, &root.start) == 0)
			procset_add(&s, pid, root.start);
	}
	procset_grow(&s, pid <= 0);
	/* s6-svscan takes SIGTERM as `s6-svscanctl -t`: SIGTERM to each s6-supervise, which
	 * brings its daemon down (SIGTERM, SIGCONT), runs finish and exits. Leftovers without a
	 * s6-svscan get the SIGTERM themselves. */
	for (size_t i = 0; i < s.n; i++)
		if ((pid > 0 ? s.p[i].pid == pid : 1) && proc_alive(&s.p[i]))
			kill(s.p[i].pid, SIGTERM);
	double deadline = now_s() + timeout_s;
	/* Whether they ended is cheap to ask every 20 ms; a scan of /proc for new members of
	 * the tree reads every process's stat, so it runs every 100 ms (on the CI machine the
	 * scans were most of a stop's CPU). */
	for (unsigned round = 1; now_s() < deadline; round++) {
		if (!procset_alive(&s)) {
			procset_grow(&s, pid <= 0); /* one last look: nothing new started meanwhile */
			if (!procset_alive(&s))
				break;
		}
		sleep_ms(20);
		if (round % 5 == 0)
			procset_grow(&s, pid <= 0);
	}
	int killed = 0;
	for (size_t i = 0; i < s.n; i++)
		if (proc_alive(&s.p[i]) && kill(s.p[i].pid, SIGKILL) == 0)
			killed++;
	if (killed) {
		if (!quiet)
			fprintf(stderr, "shoal: warning: %d processes still ran after %u s: killed\n", killed,
			        timeout_s);
		deadline = now_s() + 5;
		while (procset_alive(&s) && now_s() < deadline)
			sleep_ms(20);
	}
	return killed;
}

/* Shutdown failover (CTDB's MR !4054): before the tree stops, ipd hands this node's public
 * addresses over to the others, for at most `shutdown failover timeout` seconds; clients
 * then never wait for a failure to be detected. Skipped when ipd is not up. */
static void shutdown_failover(void)
{
	struct svstate st;
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof dir, "%s/ipd", p.scan);
	if (access(dir, F_OK) < 0 || conf.shutdown_failover_timeout_s == 0)
		return;
	svstat("ipd", &st);
	if (!st.up)
		return;
	struct cli c = { .prog = "shoal", .conf_path = shoal_conf_path };
	cli_connect(&c);
	unsigned ms = conf.shutdown_failover_timeout_s * 1000;
	struct msg_in r;
	struct msg_addr to = { .node = msg_self_node(c.msg), .service = "ipd" };
	double t0 = now_s();
	int rc = msg_call(c.msg, &to, PROTO_IP_SHUTDOWN, &(struct proto_ip_shutdown){ .timeout_ms = ms },
	                  ms + 1000, &r);
	if (rc == MSG_OK && r.type == PROTO_IP_DONE) {
		const struct proto_ip_done *d = r.body;
		printf("shutdown failover: %s in %.0f ms\n", d->text ? d->text : "done", (now_s() - t0) * 1000);
	} else {
		fprintf(stderr, "shoal: warning: shutdown failover: ipd: %s\n", msg_status_str(rc));
	}
	cli_close(&c);
}

static int node_stop(unsigned timeout_s)
{
	struct proc sv = { 0, 0 };
	load(0);
	if (!timeout_s)
		timeout_s = STOP_TIMEOUT_S + conf.restart_backoff_max_ms / 1000;
	if (access(p.run, F_OK) < 0) {
		printf("node is not running (no %s)\n", p.run);
		return shoal_flush_stdout();
	}
	lock_node();
	if (!svscan_pid(&sv)) {
		/* Maybe killed, its supervisors left behind: end those by pid. */
		int n = access(p.scan, F_OK) == 0 ? stop_tree(0, timeout_s, 1) : 0;
		rm_rf(p.scan);
		unlink(p.pidfile);
		if (n)
			printf("node was not running; ended %d leftover processes\n", n);
		else
			printf("node is not running\n");
		return shoal_flush_stdout();
	}
	shutdown_failover();
	int killed = stop_tree(sv.pid, timeout_s, 0);
	if (rm_rf(p.scan) < 0)
		shoal_die(EXIT_TEMP, "unable to remove %s: %s", p.scan, strerror(errno));
	unlink(p.pidfile);
	printf("node stopped (s6-svscan pid %d%s)\n", (int)sv.pid, killed ? ", some processes killed" : "");
	return shoal_flush_stdout();
}

/* --- status ------------------------------------------------------------------------------- */

static int node_status(int json)
{
	char names[MAX_SERVICES][64];
	struct svstate st[MAX_SERVICES];
	load(0);
	/* The node's number, if the nodes file can tell. */
	struct conf_error err;
	int self = nodes_load(&nodes, conf.nodes_file, &err) == 0 ? nodes_find(&nodes, conf.node_address) : -1;
	pid_t pid = svscan_pid(NULL);
	size_t n = pid ? list_services(p.scan, names) : 0;
	for (size_t i = 0; i < n; i++)
		svstat(names[i], &st[i]);
	if (json) {
		struct json j;
		json_init(&j, stdout);
		json_obj_begin(&j, NULL);
		if (self >= 0)
			json_uint(&j, "node", (unsigned)self);
		json_str(&j, "address", conf.node_address);
		json_str(&j, "run_dir", conf.run_dir);
		json_bool(&j, "running", pid != 0);
		if (pid)
			json_uint(&j, "pid", (unsigned)pid);
		json_arr_begin(&j, "services");
		for (size_t i = 0; i < n; i++) {
			json_obj_begin(&j, NULL);
			json_str(&j, "name", names[i]);
			json_str(&j, "state", !st[i].known ? "unknown" : st[i].up ? "up"
			                      : st[i].failed ? "failed" : "down");
			json_bool(&j, "up", st[i].up);
			json_bool(&j, "ready", st[i].ready);
			json_bool(&j, "wanted_up", st[i].wantedup);
			if (st[i].up && st[i].pid > 0)
				json_uint(&j, "pid", (uint64_t)st[i].pid);
			json_uint(&j, st[i].up ? "uptime_s" : "downtime_s", st[i].for_s > 0 ? (uint64_t)st[i].for_s : 0);
			if (!st[i].up && st[i].exitcode >= 0)
				json_uint(&j, "exitcode", (uint64_t)st[i].exitcode);
			if (!st[i].up && strcmp(st[i].signal, "NA") != 0)
				json_str(&j, "signal", st[i].signal);
			json_bool(&j, "permanently_failed", st[i].failed);
			json_obj_end(&j);
		}
		json_arr_end(&j);
		json_obj_end(&j);
		json_end(&j);
		return shoal_flush_stdout();
	}
	if (self >= 0)
		printf("node %d (%s): ", self, conf.node_address);
	else
		printf("node %s: ", conf.node_address);
	if (!pid) {
		printf("not running\n");
		return shoal_flush_stdout();
	}
	printf("running, s6-svscan pid %d, %s\n", (int)pid, p.scan);
	for (size_t i = 0; i < n; i++) {
		const struct svstate *s = &st[i];
		printf("  %-10s ", names[i]);
		if (!s->known)
			printf("unknown (not supervised)\n");
		else if (s->up)
			printf("up %ld s, pid %ld%s\n", s->for_s, s->pid, s->ready ? ", ready" : ", not ready");
		else {
			printf("down %ld s", s->for_s);
			if (s->exitcode >= 0)
				printf(", exit %d", s->exitcode);
			else if (strcmp(s->signal, "NA") != 0)
				printf(", %s", s->signal);
			printf("%s\n", s->failed ? ", failed permanently (left down)" : s->wantedup ? ", restarting" : "");
		}
	}
	return shoal_flush_stdout();
}

int cmd_node(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	if (argc < 2) {
		node_usage(stderr);
		return EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		node_usage(stdout);
		return shoal_flush_stdout();
	}
	argc--, argv++;
	opterr = 0;
	int c, json = 0;
	unsigned timeout_s = 0;
	while ((c = getopt_long(argc, argv, ":c:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			shoal_conf_path = optarg;
			break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 86400)
				shoal_die_usage("node", "--timeout: expected seconds from 1 to 86400, got \"%s\"", optarg);
			timeout_s = (unsigned)v;
			break;
		}
		case 'j':
			json = 1;
			break;
		case 'h':
			node_usage(stdout);
			return shoal_flush_stdout();
		case ':':
			shoal_die_usage("node", "option %s needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				shoal_die_usage("node", "unknown option \"-%c\"", optopt);
			shoal_die_usage("node", "unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind != argc)
		shoal_die_usage("node", "unexpected argument \"%s\"", argv[optind]);
	if (strcmp(verb, "start") == 0)
		return node_start(timeout_s ? timeout_s : START_TIMEOUT_S);
	if (strcmp(verb, "stop") == 0)
		return node_stop(timeout_s);
	if (strcmp(verb, "status") == 0)
		return node_status(json);
	shoal_die_usage("node", "unknown node command \"%s\"", verb);
}
