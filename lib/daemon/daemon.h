/* The one daemon skeleton: arguments and configuration, the event loop, the endpoint,
 * readiness for the supervisor, and a clean stop on SIGTERM. A daemon's main():
 *
 *     struct daemon d;
 *     int rc = daemon_init(&d, "memberd", argc, argv, MSG_LISTEN);
 *     if (rc >= 0) return rc;          // -n, --help, or a fatal error already reported
 *     ... load state, msg_set_handler(d.msg, ...) ...
 *     daemon_ready(&d);                // socket bound and state loaded
 *     return daemon_run(&d);
 */
#ifndef SHOAL_DAEMON_H
#define SHOAL_DAEMON_H

#include <ev.h>

#include "conf/conf.h"
#include "fs/fs.h"
#include "msg/msg.h"

struct daemon {
	const char *name;
	struct conf conf;
	struct conf_nodes nodes;
	struct ev_loop *loop;
	struct msg_ctx *msg;
	int notify_fd;            /* -d FD: s6's notification-fd, -1 if none */
	ev_signal sigterm, sigint;
	/* Runs once the loop has stopped (SIGTERM), before the endpoint closes: a daemon says
	 * goodbye here. */
	void (*on_stop)(struct daemon *d);
};

/* Returns -1 to go on, or the exit status the daemon must return now (0 after -n or
 * --help; 100 or 111 after an error, which it has reported on stderr). */
int daemon_init(struct daemon *d, const char *name, int argc, char **argv, unsigned msg_flags);
/* Tells the supervisor we are ready (one line on the notification fd). */
void daemon_ready(struct daemon *d);
/* Runs the loop until SIGTERM/SIGINT; returns the exit status. */
int daemon_run(struct daemon *d);
void daemon_fini(struct daemon *d);

#endif
