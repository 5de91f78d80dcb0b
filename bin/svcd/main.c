/* svcd: runs the events.d scripts (init, setup, startup, monitor, shutdown, and the events
 * ipd and admins ask for) and ipd's hooks; it is the node's one script runner. run.c runs
 * one event; this file orders them and reports health to memberd.
 *
 * Lifecycle (svc_state): init -> setup -> startup (retried every STARTUP_RETRY_S until it
 * succeeds) -> first_monitor (a monitor at once) -> running (a monitor every monitor
 * interval) -> stopping (shutdown, on SIGTERM). A failed init or setup ends svcd (111): the
 * supervisor restarts it, and leaves it down if it keeps failing, which makes the node
 * unhealthy.
 *
 * Events run one at a time, in arrival order. A periodic monitor is skipped while another
 * event runs or waits, and a running monitor is cancelled (its process group killed) when
 * another event arrives, as CTDB does: a hung monitor never delays a takeover. Hooks run
 * beside events, at most HOOKS_PARALLEL at a time.
 *
 * Health (only with `health monitor = svcd`): svcd sets the reason "not yet monitored" on
 * this node (member_set to memberd) at its start and after its shutdown event; a failed
 * monitor, or `monitor timeout count` timeouts in a row, sets the reason "monitor"; a passing
 * monitor clears "monitor" and, once startup succeeded, "not yet monitored". Both are sent
 * after every monitor, so a restarted memberd learns them again within an interval. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/log.h"
#include "svcd.h"

#define STARTUP_RETRY_S  2.0
#define HEALTH_RETRY_S   1.0
#define FIRST_RETRY_S    1.0
#define HOOKS_PARALLEL   4
#define HOOKS_QUEUE_MAX  1024
#define REASON_MONITOR     "monitor"
#define REASON_UNMONITORED "not yet monitored"

enum {
	E_INIT, E_SETUP, E_STARTUP, E_SHUTDOWN, E_MONITOR, E_TAKEIP, E_RELEASEIP, E_UPDATEIP,
	E_IPREALLOCATED, E_STARTRECOVERY, E_RECOVERED, E_HOOK, NEVENTS
};
static const char *const event_names[NEVENTS] = {
	"init", "setup", "startup", "shutdown", "monitor", "takeip", "releaseip", "updateip",
	"ipreallocated", "startrecovery", "recovered", "hook",
};
/* CTDB's arguments: takeip IFACE IP BITS, releaseip IFACE IP BITS, updateip OLDIFACE
 * NEWIFACE IP BITS; the others none. */
static const unsigned event_nargs[NEVENTS] = { [E_TAKEIP] = 3, [E_RELEASEIP] = 3, [E_UPDATEIP] = 4 };

struct job {
	struct job *next;
	int event;
	bool internal;            /* svcd's own lifecycle, not a request */
	char args[ARGS_MAX][ARG_LEN];
	size_t nargs;
	char env[ENV_MAX][ENV_LEN];
	size_t nenv;
	bool reply;               /* a requester waits for svc_result */
	struct proto_envelope req;
	char req_service[MSG_SERVICE_MAX];
};

struct hookrun {
	struct run run;
	struct hookrun *next;
};

static struct {
	struct daemon d;
	int state;                /* PROTO_SVC_STATE_* */
	bool fatal;
	struct run main;          /* the event running now (main.active) */
	struct job *cur;          /* its job */
	struct job *head, *tail;  /* waiting events */
	unsigned queued;
	struct job *hooks_head, *hooks_tail;
	unsigned hooks_queued, hooks_running;
	struct hookrun *hooks;    /* running */
	struct run last[NEVENTS]; /* the last finished run of each event (n, res, ...) */
	bool have_last[NEVENTS];
	ev_timer monitor_timer, startup_timer, health_timer;
	unsigned monitor_timeouts;
	bool healthy;
	/* What memberd must hold: -1 nothing to say yet, 0 off, 1 on. */
	int want_monitor;
	int want_unmon;           /* "not yet monitored": on from svcd's start to the first pass */
	bool shutdown_done;
	bool have_first_verdict;  /* a monitor after startup ran to its end */
	uint64_t stat_events, stat_hooks, stat_hooks_dropped, stat_timeouts, stat_cancelled;
} s;

static void pump(void);
static void hooks_pump(void);

static int event_find(const char *name)
{
	for (int i = 0; i < NEVENTS; i++)
		if (strcmp(name, event_names[i]) == 0)
			return i;
	return -1;
}

static void set_state(int state)
{
	if (state == s.state)
		return;
	log_info("state %s -> %s", proto_svc_state_name((unsigned)s.state), proto_svc_state_name((unsigned)state));
	s.state = state;
}

/* --- health, told to the local memberd --- */

static void health_sync(void);

static void on_member_set(struct msg_ctx *m, int status, const struct msg_in *in, void *arg)
{
	if (status == MSG_OK)
		return;
	const char *why = msg_status_str(status);
	if (status == MSG_E_REMOTE && in && in->body && ((const struct proto_error *)in->body)->text)
		why = ((const struct proto_error *)in->body)->text;
	log_info("unable to tell memberd the health of this node: %s; retrying", why);
	if (!ev_is_active(&s.health_timer) && s.state != PROTO_SVC_STATE_STOPPING) {
		ev_timer_set(&s.health_timer, HEALTH_RETRY_S, 0);
		ev_timer_start(s.d.loop, &s.health_timer);
	}
}

static void member_set(unsigned op, const char *reason)
{
	struct proto_member_set q = { .node = msg_self_node(s.d.msg), .op = op, .reason = reason };
	struct msg_addr to = { .node = msg_self_node(s.d.msg), .service = "memberd" };
	if (msg_request(s.d.msg, &to, PROTO_MEMBER_SET, &q, 2000, on_member_set, NULL, NULL) < 0)
		on_member_set(s.d.msg, MSG_E_UNREACHABLE, NULL, NULL);
}

static void health_sync(void)
{
	if (s.d.conf.health_monitor != CONF_HEALTH_SVCD)
		return;
	if (s.want_unmon >= 0)
		member_set(s.want_unmon ? PROTO_MEMBER_OP_HEALTH_ON : PROTO_MEMBER_OP_HEALTH_OFF,
		           REASON_UNMONITORED);
	if (s.want_monitor >= 0)
		member_set(s.want_monitor ? PROTO_MEMBER_OP_HEALTH_ON : PROTO_MEMBER_OP_HEALTH_OFF,
		           REASON_MONITOR);
}

static void on_health_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	health_sync();
}

/* A periodic monitor ended (not cancelled). */
static void monitor_judge(const struct run *r)
{
	bool pass = r->ok, fail = !r->ok;
	if (r->timed_out) {
		s.monitor_timeouts++;
		fail = s.monitor_timeouts >= s.d.conf.monitor_timeout_count;
		log_warning("monitor timed out (%u in a row, %u make a failure)", s.monitor_timeouts,
		            s.d.conf.monitor_timeout_count);
		if (!fail)
			return; /* health unchanged */
	} else {
		s.monitor_timeouts = 0;
	}
	if (pass) {
		if (!s.healthy)
			log_notice("monitor passed");
		s.healthy = true;
		s.want_monitor = 0;
		if (s.state == PROTO_SVC_STATE_FIRST_MONITOR) {
			s.want_unmon = 0;
			set_state(PROTO_SVC_STATE_RUNNING);
		}
	} else if (fail) {
		if (s.healthy || s.want_monitor != 1)
			log_warning("monitor failed: this node is unhealthy (reason \"%s\")", REASON_MONITOR);
		s.healthy = false;
		s.want_monitor = 1;
	}
	health_sync();
}

/* --- the event queue --- */

static struct job *job_new(int event, bool internal)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		log_err("out of memory");
		return NULL;
	}
	j->event = event;
	j->internal = internal;
	return j;
}

static void push(struct job *j)
{
	j->next = NULL;
	if (s.tail)
		s.tail->next = j;
	else
		s.head = j;
	s.tail = j;
	s.queued++;
	/* A monitor gives way to any other event. */
	if (s.cur && s.cur->event == E_MONITOR && j->event != E_MONITOR && s.main.active) {
		log_info("monitor cancelled: %s waits", event_names[j->event]);
		s.stat_cancelled++;
		run_cancel(&s.main);
	}
	pump();
}

static void push_internal(int event)
{
	struct job *j = job_new(event, true);
	if (j)
		push(j);
}

/* Fills a proto_svc_result from a run; the strings stay in r. */
static void result_fill(const struct run *r, struct proto_svc_result *out, struct proto_script_result *sr)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct script_res *x = &r->res[i];
		sr[i] = (struct proto_script_result){
			.name = x->name, .status = (enum proto_script_status)x->status,
			.exit_code = x->exit_code, .duration_ms = x->duration_ms, .output = x->output,
			.finished_ns = x->finished_ns,
		};
	}
	*out = (struct proto_svc_result){ .event = r->event, .ok = r->ok, .scripts = sr,
	                                  .scripts_count = r->n, .duration_ms = r->duration_ms };
}

static void job_reply(struct job *j, const struct run *r)
{
	if (!j->reply)
		return;
	static struct proto_script_result sr[SCRIPTS_MAX];
	struct proto_svc_result res;
	struct msg_in req = { .env = &j->req };
	result_fill(r, &res, sr);
	if (msg_reply(s.d.msg, &req, PROTO_SVC_RESULT, &res) < 0)
		log_warning("unable to answer %u:%s: %s", j->req.src_node, j->req_service, strerror(errno));
}

static void job_fail(struct job *j, unsigned code, const char *why)
{
	if (j->reply) {
		struct msg_in req = { .env = &j->req };
		msg_reply_error(s.d.msg, &req, code, "%s", why);
	}
	free(j);
}

static void on_startup_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	push_internal(E_STARTUP);
}

/* The next monitor: an interval on, but soon while the first one after startup has not run
 * to its end (it was skipped or cancelled for another event): the node hosts nothing until
 * it passes. */
static void monitor_schedule(void)
{
	double in = s.d.conf.monitor_interval_s;
	if (s.state == PROTO_SVC_STATE_FIRST_MONITOR && !s.have_first_verdict && in > FIRST_RETRY_S)
		in = FIRST_RETRY_S;
	ev_timer_stop(s.d.loop, &s.monitor_timer);
	ev_timer_set(&s.monitor_timer, in, 0);
	ev_timer_start(s.d.loop, &s.monitor_timer);
}

static void on_monitor_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	if (s.state == PROTO_SVC_STATE_STOPPING)
		return;
	if (s.cur || s.head) {
		log_info("monitor skipped: %s runs", s.cur ? event_names[s.cur->event] : "an event");
		monitor_schedule();
		return;
	}
	push_internal(E_MONITOR);
}

/* svcd's own sequence: what follows each of its events. */
static void lifecycle(int event, const struct run *r)
{
	switch (event) {
	case E_INIT:
	case E_SETUP:
		if (!r->ok) {
			log_err("fatal: the %s event failed: stopping", event_names[event]);
			s.fatal = true;
			ev_break(s.d.loop, EVBREAK_ALL);
			return;
		}
		set_state(event == E_INIT ? PROTO_SVC_STATE_SETUP : PROTO_SVC_STATE_STARTUP);
		push_internal(event == E_INIT ? E_SETUP : E_STARTUP);
		return;
	case E_STARTUP:
		if (!r->ok) {
			log_warning("startup failed: retrying in %.0f s", STARTUP_RETRY_S);
			ev_timer_set(&s.startup_timer, STARTUP_RETRY_S, 0);
			ev_timer_start(s.d.loop, &s.startup_timer);
			return;
		}
		log_notice("startup succeeded");
		set_state(PROTO_SVC_STATE_FIRST_MONITOR);
		push_internal(E_MONITOR);
		return;
	case E_MONITOR:
		if (!r->cancelled) {
			s.have_first_verdict = true;
			monitor_judge(r);
		}
		monitor_schedule();
		return;
	}
}

static void on_main_done(struct run *r, void *arg)
{
	struct job *j = s.cur;
	s.cur = NULL;
	s.stat_events++;
	if (r->timed_out)
		s.stat_timeouts++;
	if (!r->cancelled) {
		s.last[j->event] = *r;
		s.have_last[j->event] = true;
	}
	/* A periodic monitor that passes is the steady state: one line every 15 s would bury
	 * the log (and wake logfwd); its failures and changes of health are logged anyway. */
	int level = j->internal && j->event == E_MONITOR && r->ok && !r->timed_out && !r->cancelled
	              ? LOGL_DEBUG : LOGL_INFO;
	log_msg(level, "event %s %s in %llu ms", r->event,
	        r->cancelled ? "cancelled" : r->timed_out ? "timed out" : r->ok ? "succeeded" : "failed",
	        (unsigned long long)r->duration_ms);
	job_reply(j, r);
	bool internal = j->internal;
	int event = j->event;
	free(j);
	if (s.state == PROTO_SVC_STATE_STOPPING)
		return;
	if (internal)
		lifecycle(event, r);
	pump();
}

static void run_setup(struct run *r, const char *dir, bool events, int event, const struct job *j,
                      double timeout_s)
{
	snprintf(r->event, sizeof r->event, "%s", event_names[event]);
	snprintf(r->dir, sizeof r->dir, "%s", dir);
	r->events = events;
	r->nargs = j ? j->nargs : 0;
	r->nenv = j ? j->nenv : 0;
	if (j) {
		memcpy(r->args, j->args, sizeof r->args);
		memcpy(r->env, j->env, sizeof r->env);
	}
	r->timeout_s = timeout_s;
}

static void pump(void)
{
	while (!s.cur && s.head && s.state != PROTO_SVC_STATE_STOPPING) {
		struct job *j = s.head;
		s.head = j->next;
		if (!s.head)
			s.tail = NULL;
		s.queued--;
		run_setup(&s.main, s.d.conf.events_dir, true, j->event, j, s.d.conf.event_timeout_s);
		s.main.done = on_main_done;
		s.cur = j;
		if (run_start(&s.main, s.d.loop) == 0) {
			log_debug("event %s started", event_names[j->event]);
			return;
		}
		/* The directory cannot be read: the event fails without a script. */
		char why[PATH_MAX + 64];
		snprintf(why, sizeof why, "unable to read %s: %s", s.d.conf.events_dir, strerror(errno));
		log_err("event %s: %s", event_names[j->event], why);
		s.main.n = 0;
		s.main.ok = s.main.timed_out = s.main.cancelled = false;
		s.main.duration_ms = 0;
		s.cur = NULL;
		bool internal = j->internal;
		int event = j->event;
		job_fail(j, PROTO_ERROR_CODE_FAILED, why);
		if (internal)
			lifecycle(event, &s.main);
	}
}

/* --- hooks --- */

static void on_hook_done(struct run *r, void *arg)
{
	struct hookrun *h = arg, **pp;
	s.last[E_HOOK] = *r;
	s.have_last[E_HOOK] = true;
	s.stat_hooks++;
	for (pp = &s.hooks; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	s.hooks_running--;
	free(h);
	hooks_pump();
}

static void hooks_pump(void)
{
	while (s.hooks_head && s.hooks_running < HOOKS_PARALLEL && s.state != PROTO_SVC_STATE_STOPPING) {
		struct job *j = s.hooks_head;
		s.hooks_head = j->next;
		if (!s.hooks_head)
			s.hooks_tail = NULL;
		s.hooks_queued--;
		struct hookrun *h = calloc(1, sizeof *h);
		if (!h) {
			log_err("hook dropped: out of memory");
			free(j);
			continue;
		}
		run_setup(&h->run, s.d.conf.hook_dir, false, E_HOOK, j, s.d.conf.event_timeout_s);
		free(j);
		h->run.done = on_hook_done;
		h->run.arg = h;
		if (run_start(&h->run, s.d.loop) < 0) {
			log_err("hooks: unable to read %s: %s", s.d.conf.hook_dir, strerror(errno));
			free(h);
			continue;
		}
		h->next = s.hooks;
		s.hooks = h;
		s.hooks_running++;
	}
}

/* --- requests --- */

/* NAME=VALUE with a shell-compatible NAME. */
static bool env_valid(const char *e)
{
	const char *eq = strchr(e, '=');
	if (!eq || eq == e)
		return false;
	for (const char *p = e; p < eq; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (p > e && *p >= '0' && *p <= '9')))
			return false;
	return true;
}

static int take_env(struct job *j, const char *const *env, size_t n, char *why, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (!env_valid(env[i])) {
			snprintf(why, len, "environment entry \"%.64s\" is not NAME=VALUE", env[i]);
			return -1;
		}
		snprintf(j->env[j->nenv++], ENV_LEN, "%s", env[i]);
	}
	return 0;
}

static void keep_requester(struct job *j, const struct msg_in *in)
{
	j->reply = in->env->id != 0;
	j->req = *in->env;
	snprintf(j->req_service, sizeof j->req_service, "%s", in->env->src_service);
	j->req.src_service = j->req_service;
	j->req.dst_service = NULL;
	j->req.body = (struct proto_bytes){ 0 };
}

static void handle_run(const struct msg_in *in)
{
	const struct proto_svc_run *q = in->body;
	char why[256];
	int e = event_find(q->event);
	if (e < 0 || e == E_HOOK) {
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "unknown event \"%.32s\"", q->event);
		return;
	}
	if (q->args_count != event_nargs[e]) {
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "%s takes %u arguments, not %zu%s",
		                event_names[e], event_nargs[e], q->args_count,
		                e == E_UPDATEIP ? " (OLDIFACE NEWIFACE IP BITS)"
		                : event_nargs[e] ? " (IFACE IP BITS)" : "");
		return;
	}
	if (s.state == PROTO_SVC_STATE_STOPPING) {
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_BUSY, "svcd is stopping");
		return;
	}
	struct job *j = job_new(e, false);
	if (!j) {
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_BUSY, "out of memory");
		return;
	}
	for (size_t i = 0; i < q->args_count; i++)
		snprintf(j->args[j->nargs++], ARG_LEN, "%s", q->args[i]);
	if (take_env(j, q->env, q->env_count, why, sizeof why) < 0) {
		free(j);
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "%s", why);
		return;
	}
	keep_requester(j, in);
	log_info("event %s requested by %u:%s", event_names[e], in->env->src_node, in->env->src_service);
	push(j);
}

static void handle_hook(const struct msg_in *in)
{
	const struct proto_svc_hook *q = in->body;
	char why[256];
	if (s.hooks_queued >= HOOKS_QUEUE_MAX || s.state == PROTO_SVC_STATE_STOPPING) {
		s.stat_hooks_dropped++;
		log_warning("hook dropped: %s", s.state == PROTO_SVC_STATE_STOPPING ? "stopping" : "queue full");
		return;
	}
	struct job *j = job_new(E_HOOK, false);
	if (!j)
		return;
	if (take_env(j, q->env, q->env_count, why, sizeof why) < 0) {
		log_warning("hook from %u:%s dropped: %s", in->env->src_node, in->env->src_service, why);
		free(j);
		return;
	}
	if (s.hooks_tail)
		s.hooks_tail->next = j;
	else
		s.hooks_head = j;
	s.hooks_tail = j;
	s.hooks_queued++;
	hooks_pump();
}

static void status_answer(const struct msg_in *in)
{
	static struct proto_event_result ev[NEVENTS];
	static struct proto_script_result sr[NEVENTS][SCRIPTS_MAX];
	static const char *args[NEVENTS][ARGS_MAX];
	size_t n = 0, scripts = 0;
	for (int e = 0; e < NEVENTS; e++) {
		if (!s.have_last[e])
			continue;
		const struct run *r = &s.last[e];
		struct proto_svc_result tmp;
		result_fill(r, &tmp, sr[n]);
		for (size_t a = 0; a < r->nargs; a++)
			args[n][a] = r->args[a];
		ev[n] = (struct proto_event_result){
			.event = event_names[e], .ok = r->ok, .args = args[n], .args_count = r->nargs,
			.scripts = sr[n], .scripts_count = r->n, .duration_ms = r->duration_ms,
			.finished_ns = r->finished_ns,
		};
		scripts += r->n;
		n++;
	}
	/* A datagram holds 256 KiB: with very many scripts, only the newest part of each
	 * output goes (the whole tail is in svc_result). */
	if (scripts * OUTPUT_TAIL > MSG_BODY_MAX / 2)
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; k < ev[i].scripts_count; k++) {
				size_t len = strlen(sr[i][k].output);
				if (len > 100)
					sr[i][k].output += len - 100;
			}
	struct proto_svc_status st = {
		.state = (enum proto_svc_state)s.state,
		.events_dir = s.d.conf.events_dir,
		.events = ev,
		.events_count = n,
		.monitor_timeouts = s.monitor_timeouts,
		.healthy = s.healthy,
		.queued = s.queued,
		.running = s.cur ? event_names[s.cur->event] : "",
	};
	if (msg_reply(s.d.msg, in, PROTO_SVC_STATUS, &st) < 0)
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "unable to answer: %s", strerror(errno));
}

static void scripts_answer(const struct msg_in *in)
{
	struct script_entry list[SCRIPTS_MAX];
	static struct proto_script_info info[SCRIPTS_MAX];
	int n = scripts_list(s.d.conf.events_dir, true, list, SCRIPTS_MAX);
	if (n < 0) {
		msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "unable to read %s: %s",
		                s.d.conf.events_dir, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++)
		info[i] = (struct proto_script_info){ .name = list[i].name, .enabled = list[i].enabled };
	struct proto_svc_scripts r = { .events_dir = s.d.conf.events_dir, .scripts = info,
	                               .scripts_count = (size_t)n };
	msg_reply(s.d.msg, in, PROTO_SVC_SCRIPTS, &r);
}

static void handle_script_set(const struct msg_in *in)
{
	const struct proto_svc_script_set *q = in->body;
	if (script_set_enabled(s.d.conf.events_dir, q->script, q->enable) < 0) {
		if (errno == EINVAL)
			msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED,
			                "\"%.64s\" is not an event script name (NN.name)", q->script);
		else if (errno == ENOENT)
			msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "no script %.64s in %s", q->script,
			                s.d.conf.events_dir);
		else
			msg_reply_error(s.d.msg, in, PROTO_ERROR_CODE_FAILED, "unable to change %s/%.64s: %s",
			                s.d.conf.events_dir, q->script, strerror(errno));
		return;
	}
	log_notice("script %s %s by %u:%s", q->script, q->enable ? "enabled" : "disabled",
	           in->env->src_node, in->env->src_service);
	scripts_answer(in);
}

/* svcctl -n NODE: a request from this node's CLI naming another node goes on to that
 * node's svcd (never further: one that came over a link is answered here). */
static bool relayed(const struct msg_in *in)
{
	bool has = false;
	uint32_t node = 0;
	unsigned timeout = 2500;
	switch (in->type) {
	case PROTO_SVC_RUN: {
		const struct proto_svc_run *q = in->body;
		has = q->has_node, node = q->node;
		timeout = s.d.conf.event_timeout_s * 1000 + 4000;
		break;
	}
	case PROTO_SVC_STATUS_GET:
		has = ((const struct proto_svc_status_get *)in->body)->has_node;
		node = ((const struct proto_svc_status_get *)in->body)->node;
		break;
	case PROTO_SVC_SCRIPT_SET:
		has = ((const struct proto_svc_script_set *)in->body)->has_node;
		node = ((const struct proto_svc_script_set *)in->body)->node;
		break;
	case PROTO_SVC_SCRIPTS_GET:
		has = ((const struct proto_svc_scripts_get *)in->body)->has_node;
		node = ((const struct proto_svc_scripts_get *)in->body)->node;
		break;
	}
	if (!has || node == msg_self_node(s.d.msg) || in->remote)
		return false;
	msg_relay(s.d.msg, in, &s.d.nodes, node, timeout);
	return true;
}

static void on_message(struct msg_ctx *m, const struct msg_in *in, void *arg)
{
	if (relayed(in))
		return;
	switch (in->type) {
	case PROTO_SVC_RUN:
		handle_run(in);
		return;
	case PROTO_SVC_HOOK:
		handle_hook(in);
		return;
	case PROTO_SVC_STATUS_GET:
		status_answer(in);
		return;
	case PROTO_SVC_SCRIPT_SET:
		handle_script_set(in);
		return;
	case PROTO_SVC_SCRIPTS_GET:
		scripts_answer(in);
		return;
	}
	if (in->env->id)
		msg_reply_error(m, in, PROTO_ERROR_CODE_UNKNOWN_TYPE, "svcd does not handle %s",
		                proto_type_name(in->type));
}

/* --- stopping --- */

static void on_shutdown_done(struct run *r, void *arg)
{
	s.last[E_SHUTDOWN] = *r;
	s.have_last[E_SHUTDOWN] = true;
	s.shutdown_done = true;
	log_notice("shutdown %s in %llu ms", r->timed_out ? "timed out" : r->ok ? "succeeded" : "failed",
	           (unsigned long long)r->duration_ms);
}

static void on_stop(struct daemon *d)
{
	int was = s.state;
	set_state(PROTO_SVC_STATE_STOPPING);
	ev_timer_stop(d->loop, &s.monitor_timer);
	ev_timer_stop(d->loop, &s.startup_timer);
	ev_timer_stop(d->loop, &s.health_timer);
	/* Waiting events are refused; the running one and the hooks are killed. */
	while (s.head) {
		struct job *j = s.head;
		s.head = j->next;
		job_fail(j, PROTO_ERROR_CODE_BUSY, "svcd is stopping");
	}
	s.tail = NULL;
	while (s.hooks_head) {
		struct job *j = s.hooks_head;
		s.hooks_head = j->next;
		free(j);
	}
	if (s.main.active)
		run_cancel(&s.main);
	for (struct hookrun *h = s.hooks; h; h = h->next)
		run_cancel(&h->run);
	while (s.main.active || s.hooks)
		ev_run(d->loop, EVRUN_ONCE);
	/* The services were started only if setup went through: only then stop them. */
	if (s.fatal || was < PROTO_SVC_STATE_STARTUP)
		return;
	struct run *r = &s.main;
	memset(r, 0, sizeof *r);
	run_setup(r, d->conf.events_dir, true, E_SHUTDOWN, NULL, d->conf.shutdown_timeout_s);
	r->done = on_shutdown_done;
	log_notice("running the shutdown event (at most %u s)", d->conf.shutdown_timeout_s);
	if (run_start(r, d->loop) < 0) {
		log_err("shutdown: unable to read %s: %s", d->conf.events_dir, strerror(errno));
		return;
	}
	while (!s.shutdown_done)
		ev_run(d->loop, EVRUN_ONCE);
	/* The services are stopped: the node must not host addresses until a new svcd has
	 * started them again (best effort: on `shoal node stop` memberd may be gone). */
	if (d->conf.health_monitor == CONF_HEALTH_SVCD) {
		member_set(PROTO_MEMBER_OP_HEALTH_ON, REASON_UNMONITORED);
		for (int i = 0; i < 10; i++)
			ev_run(d->loop, EVRUN_NOWAIT);
	}
}

/* What every script finds in its environment besides SHOAL_EVENT. */
static void script_environment(void)
{
	char num[16];
	snprintf(num, sizeof num, "%u", msg_self_node(s.d.msg));
	setenv("SHOAL_NODE", num, 1);
	setenv("SHOAL_CONF", s.d.conf.path, 1);
	setenv("SHOAL_RUN_DIR", s.d.conf.run_dir, 1);
	setenv("SHOAL_EVENTS_DIR", s.d.conf.events_dir, 1);
	setenv("SHOAL_PUBLIC_ADDRESSES", s.d.conf.public_addresses, 1);
}

int main(int argc, char **argv)
{
	int rc = daemon_init(&s.d, "svcd", argc, argv, MSG_LISTEN); /* links: svcctl -n */
	if (rc >= 0)
		return rc;
	s.state = PROTO_SVC_STATE_INIT;
	s.want_monitor = -1;
	/* memberd sets "not yet monitored" at its own start; svcd sets it again at its start,
	 * so a restarted svcd (whose services may be in any state) keeps the node from hosting
	 * addresses until its startup succeeded and a monitor passed once more. */
	s.want_unmon = 1;
	s.d.on_stop = on_stop;
	script_environment();
	ev_timer_init(&s.monitor_timer, on_monitor_timer, 0, 0);
	ev_timer_init(&s.startup_timer, on_startup_timer, 0, 0);
	ev_timer_init(&s.health_timer, on_health_timer, 0, 0);
	msg_counter_add(s.d.msg, "events", &s.stat_events);
	msg_counter_add(s.d.msg, "event_timeouts", &s.stat_timeouts);
	msg_counter_add(s.d.msg, "monitors_cancelled", &s.stat_cancelled);
	msg_counter_add(s.d.msg, "hooks", &s.stat_hooks);
	msg_counter_add(s.d.msg, "hooks_dropped", &s.stat_hooks_dropped);
	msg_set_handler(s.d.msg, on_message, NULL);
	daemon_ready(&s.d);
	log_notice("events from %s, hooks from %s; monitor every %u s, events time out after %u s",
	           s.d.conf.events_dir, s.d.conf.hook_dir, s.d.conf.monitor_interval_s,
	           s.d.conf.event_timeout_s);
	push_internal(E_INIT);
	health_sync();
	rc = daemon_run(&s.d);
	return s.fatal ? 111 : rc;
}
