/* Cluster lock `!COMMAND ARGS`: an external helper with CTDB's mutex-helper contract
 * (ctdb/doc/cluster_mutex_helper.txt), so Debian's ctdb_mutex_fcntl_helper, the Ceph RADOS
 * and etcd helpers work unchanged. leaderd runs `sh -c "exec COMMAND ARGS"` for each bid:
 * the helper prints one status character, 0 held, 1 contended, 2 timeout, 3 error, holds
 * the lock while it runs, and is killed (SIGTERM, then SIGKILL) to release it. Its stderr
 * goes to the node's log. It dies with leaderd (PR_SET_PDEATHSIG; the helpers also check
 * their parent). Such a lock never expires: a frozen leader keeps it, as in CTDB. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leaderd.h"
#include "log/log.h"

#define KILL_GRACE_S 1.0

static uint64_t pending_term;

static void stop_io(struct leaderd *ld)
{
	if (ld->helper_fd >= 0) {
		ev_io_stop(ld->d.loop, &ld->helper_io);
		close(ld->helper_fd);
		ld->helper_fd = -1;
	}
}

/* Kills the helper (SIGTERM; SIGKILL after a grace period); it is reaped by on_child. */
static void kill_helper(struct leaderd *ld)
{
	stop_io(ld);
	ev_timer_stop(ld->d.loop, &ld->helper_timer);
	if (ld->helper_pid <= 0)
		return;
	kill(ld->helper_pid, SIGTERM);
	ld->helper_killing = true;
	ev_timer_set(&ld->helper_timer, KILL_GRACE_S, 0.);
	ev_timer_start(ld->d.loop, &ld->helper_timer);
}

static void fail(struct leaderd *ld, const char *why)
{
	log_warning("cluster lock %s: %s", ld->lock_arg, why);
	snprintf(ld->lock_why, sizeof ld->lock_why, "%s", why);
	kill_helper(ld);
	ld->lock = LOCK_FAILED;
	election_lock_lost(ld, why);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct leaderd *ld = t->data;
	if (ld->helper_killing) {
		if (ld->helper_pid > 0) {
			log_warning("lock helper %d ignored SIGTERM: killing it", (int)ld->helper_pid);
			kill(ld->helper_pid, SIGKILL);
		}
		return;
	}
	if (ld->lock == LOCK_CONTENDING)
		fail(ld, "the helper gave no status in time (it hangs?)");
}

static void on_output(struct ev_loop *loop, ev_io *w, int revents)
{
	struct leaderd *ld = w->data;
	char buf[64];
	ssize_t n = read(ld->helper_fd, buf, sizeof buf);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fail(ld, ld->lock == LOCK_HELD ? "the helper exited: lock lost"
		                              : "the helper exited without a status");
		return;
	}
	if (ld->lock == LOCK_HELD)
		return; /* anything after the status is ignored */
	ev_timer_stop(loop, &ld->helper_timer);
	switch (buf[0]) {
	case '0':
		ld->lock = LOCK_HELD;
		ld->lock_why[0] = 0;
		log_notice("cluster lock %s held (helper %d), term %" PRIu64, ld->lock_arg,
		           (int)ld->helper_pid, pending_term);
		election_lock_held(ld, pending_term, now_ns());
		return;
	case '1': fail(ld, "contended: another node holds it"); return;
	case '2': fail(ld, "the helper timed out"); return;
	case '3': fail(ld, "the helper reported an error"); return;
	}
	char why[64];
	snprintf(why, sizeof why, "the helper printed garbage (0x%02x), not a status",
	         (unsigned char)buf[0]);
	fail(ld, why);
}

static void on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct leaderd *ld = w->data;
	ev_child_stop(loop, w);
	if (WIFSIGNALED(w->rstatus))
		log_info("lock helper %d ended by signal %d", w->rpid, WTERMSIG(w->rstatus));
	else
		log_info("lock helper %d exited with status %d", w->rpid, WEXITSTATUS(w->rstatus));
	ld->helper_pid = 0;
	ld->helper_killing = false;
	ev_timer_stop(loop, &ld->helper_timer);
	/* Its stdout may still be open (EOF pending): on_output reports a held lock lost. */
	if (ld->lock == LOCK_HELD || ld->lock == LOCK_CONTENDING)
		fail(ld, ld->lock == LOCK_HELD ? "the helper exited: lock lost"
		                              : "the helper exited without a status");
}

void lockcmd_acquire(struct leaderd *ld, uint64_t term)
{
	static bool init;
	if (!init) {
		ev_timer_init(&ld->helper_timer, on_timer, 1., 0.);
		ld->helper_timer.data = ld;
		init = true;
	}
	if (ld->helper_pid > 0) {
		fail(ld, "the previous helper is still running");
		return;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fail(ld, "unable to create a pipe");
		return;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		fail(ld, "unable to fork");
		return;
	}
	if (pid == 0) {
		char cmd[PATH_MAX + 16];
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(111);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], 1) < 0)
			_exit(111);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		snprintf(cmd, sizeof cmd, "exec %s", ld->lock_arg);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(111);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	pending_term = term;
	ld->helper_pid = pid;
	ld->helper_fd = p[0];
	ld->helper_killing = false;
	ld->lock = LOCK_CONTENDING;
	ev_io_init(&ld->helper_io, on_output, p[0], EV_READ);
	ld->helper_io.data = ld;
	ev_io_start(ld->d.loop, &ld->helper_io);
	ev_child_init(&ld->helper_child, on_child, pid, 0);
	ld->helper_child.data = ld;
	ev_child_start(ld->d.loop, &ld->helper_child);
	/* The status must come before the bid's own deadline. */
	ev_timer_set(&ld->helper_timer, 1.5, 0.);
	ev_timer_start(ld->d.loop, &ld->helper_timer);
	log_info("lock helper %d started: %s", (int)pid, ld->lock_arg);
}

void lockcmd_release(struct leaderd *ld)
{
	if (ld->lock == LOCK_HELD)
		log_notice("releasing cluster lock %s", ld->lock_arg);
	ld->lock = LOCK_IDLE;
	kill_helper(ld);
}
