/* The daemon skeleton (see daemon.h). This is top-level code shared by every daemon's
 * main(), so unlike the rest of lib/ it reports fatal errors on stderr itself. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "log/log.h"

static void usage(FILE *f, const char *name)
{
	fprintf(f,
	        "usage: %s [-c FILE] [-d FD] [-n]\n"
	        "\n"
	        "shoal's %s daemon. It is run by the supervisor from its service directory\n"
	        "(svc/%s), not by hand; it never daemonizes and writes no pid file.\n"
	        "\n"
	        "  -c, --config FILE   configuration (default $SHOAL_CONF, else %s)\n"
	        "  -d, --notify-fd FD  write one line to FD once ready (s6 notification-fd)\n"
	        "  -n, --check         check the configuration, print it canonically, exit\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 stopped on SIGTERM, 100 bad usage or configuration,\n"
	        "111 system failure (unable to bind, out of memory).\n",
	        name, name, name, CONF_DEFAULT_PATH);
}

static void on_msg_event(struct msg_ctx *m, const char *what, void *arg)
{
	log_warning("%s", what);
}

static void on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

int daemon_init(struct daemon *d, const char *name, int argc, char **argv, unsigned msg_flags)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "notify-fd", required_argument, NULL, 'd' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *path = getenv("SHOAL_CONF");
	bool check = false;
	struct conf_error e;
	char ebuf[PATH_MAX + 300];
	int c;

	memset(d, 0, sizeof *d);
	d->name = name;
	d->notify_fd = -1;
	if (!path || !*path)
		path = CONF_DEFAULT_PATH;
	while ((c = getopt_long(argc, argv, "c:d:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'd': {
			char *end;
			long fd = strtol(optarg, &end, 10);
			if (*end || fd < 3 || fd > 1023) {
				fprintf(stderr, "%s: fatal: -d: expected a file descriptor number from 3, got \"%s\"\n",
				        name, optarg);
				return 100;
			}
			d->notify_fd = (int)fd;
			break;
		}
		case 'n': check = true; break;
		case 'h': usage(stdout, name); return 0;
		default: usage(stderr, name); return 100;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: fatal: unexpected argument \"%s\"\n", name, argv[optind]);
		return 100;
	}
	if (conf_load(&d->conf, path, &e) < 0 || nodes_load(&d->nodes, d->conf.nodes_file, &e) < 0 ||
	    conf_check(&d->conf, &d->nodes, &e) < 0) {
		fprintf(stderr, "%s: fatal: %s\n", name, conf_error_str(&e, ebuf, sizeof ebuf));
		return 100;
	}
	if (check) {
		conf_print(&d->conf, stdout);
		return 0;
	}
	if (mkdir_p(d->conf.run_dir, 0755) < 0 || mkdir_p(d->conf.db_dir, 0700) < 0) {
		fprintf(stderr, "%s: fatal: unable to create %s or %s: %s\n", name, d->conf.run_dir,
		        d->conf.db_dir, strerror(errno));
		return 111;
	}
	signal(SIGPIPE, SIG_IGN);
	log_init(name, nodes_find(&d->nodes, d->conf.node_address), d->conf.log_level);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	if (!d->loop) {
		fprintf(stderr, "%s: fatal: unable to create the event loop\n", name);
		return 111;
	}
	d->msg = msg_open(d->loop, &d->conf, &d->nodes, name, msg_flags, ebuf, sizeof ebuf);
	if (!d->msg) {
		fprintf(stderr, "%s: fatal: %s\n", name, ebuf);
		return errno == EINVAL ? 100 : 111;
	}
	/* From here on records go to logfwd (stderr until it is up). */
	if (log_attach(d->msg, &d->conf) < 0)
		log_warning("unable to attach to logfwd: %s", strerror(errno));
	msg_set_event_handler(d->msg, on_msg_event, NULL);
	ev_signal_init(&d->sigterm, on_stop_signal, SIGTERM);
	ev_signal_init(&d->sigint, on_stop_signal, SIGINT);
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	ev_unref(d->loop);
	ev_unref(d->loop);
	return -1;
}

void daemon_ready(struct daemon *d)
{
	if (d->notify_fd >= 0) {
		if (write(d->notify_fd, "\n", 1) < 0)
			log_warning("unable to notify readiness on fd %d: %s", d->notify_fd, strerror(errno));
		close(d->notify_fd);
		d->notify_fd = -1;
	}
	log_notice("ready: node %u, %s", msg_self_node(d->msg), d->conf.node_address);
}

int daemon_run(struct daemon *d)
{
	ev_run(d->loop, 0);
	log_notice("stopping");
	if (d->on_stop)
		d->on_stop(d);
	daemon_fini(d);
	return 0;
}

void daemon_fini(struct daemon *d)
{
	log_detach();
	msg_close(d->msg);
	d->msg = NULL;
}
