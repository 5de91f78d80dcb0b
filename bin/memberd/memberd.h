/* memberd: who is connected, and each node's admin flags and health. State shared by its
 * files: heartbeat.c (peers, failure detection), state.c (this node's own flags and
 * health, kept on disk), view.c (views, subscribers, status, member_set). */
#ifndef MEMBERD_H
#define MEMBERD_H

#include "daemon/daemon.h"
#include "member/member.h"

#define SUBSCRIBERS_MAX 64
#define REASONS_MAX     16
#define REASON_LEN      64

#define DAEMONS_MAX     16
#define CHORES_S        1.0 /* seconds between liveness pings and housekeeping */
/* The health reason of a daemon the supervisor left down (<run dir>/failed/NAME). */
#define REASON_FAILED_FMT "daemon %.30s permanently down"

struct daemon_entry {
	char name[MSG_SERVICE_MAX];
	unsigned state;         /* PROTO_DAEMON_STATE_* */
	bool pending;           /* a ping is out */
	bool lazy;              /* ... from the endpoint read once a round (daemons.c) */
	uint64_t ping_id;       /* our tag for it */
	uint64_t req_id;        /* lib/msg's, to cancel it */
};

struct daemons {
	unsigned n;
	struct daemon_entry d[DAEMONS_MAX];
};

struct reasons {
	unsigned n;
	char r[REASONS_MAX][REASON_LEN];
};

/* How the peer's nodes file compares with ours. */
enum nodes_compat { NODES_SAME, NODES_UNKNOWN, NODES_CHECKING, NODES_RELOAD, NODES_REFUSED };

struct peer {
	enum nodes_compat compat;
	uint8_t digest[32];     /* of its nodes file, as its last heartbeat said */
	double compat_at;       /* when we last asked or warned */
	bool connected;
	bool left;              /* said goodbye: not a flap when it comes back */
	uint64_t incarnation;   /* the peer's, from its heartbeats */
	double last_heard;      /* monotonic: when its last heartbeat arrived */
	uint64_t last_seq;
	uint32_t flags;         /* its own admin flags, as it last told us */
	double ban_until;       /* monotonic, on our clock */
	struct reasons health;
	uint32_t flaps;         /* disconnected, then back with the same incarnation */
	struct daemons daemons; /* its local daemons, as its memberd told us */
};

/* leaderd's lease, carried by the heartbeats (lease.c). */
#define LEASE_RING 32
struct lease_claim { uint64_t seq, sent; };
struct lease {
	unsigned role;          /* PROTO_LEASE_ROLE_*; 0: no leaderd attached */
	uint64_t gen, term;
	uint32_t leader;
	uint64_t lease_ns;
	uint64_t deadline;      /* CLOCK_MONOTONIC ns: where leaderd's timer was last set */
	int tfd, pidfd;         /* leaderd's timer; leaderd itself, to notice its exit */
	int statfd;             /* its /proc/PID/stat, to notice it stopped */
	unsigned ticks;
	pid_t pid;
	int fdno;
	ev_io exit_w;
	uint64_t heard_seq;     /* following: the newest claim of the leader heard */
	uint64_t leader_incarnation; /* ... from this memberd of the leader */
	struct lease_claim ring[LEASE_RING];     /* leading: our newest claims */
	uint64_t acked[CONF_MAX_NODES];          /* leading: each peer's newest acknowledged */
	uint64_t told_term[CONF_MAX_NODES];      /* what lease_heard last passed on, per sender */
	uint32_t told_leader[CONF_MAX_NODES];
	struct lease_seen { uint64_t term, seq, inc, at; } seen[CONF_MAX_NODES]; /* newest claims */
	int trace_fd;
};

struct memberd {
	struct daemon d;
	uint32_t self;
	uint64_t incarnation;
	uint64_t view;
	uint64_t hb_seq;
	double interval;        /* seconds */
	double silence_limit;   /* seconds of silence before a peer is disconnected */
	double last_tick;       /* monotonic */
	double chores_at;       /* monotonic: next liveness pings and housekeeping */
	unsigned chores_round;  /* how many chores rounds ran before this one */
	ev_periodic tick;       /* everything periodic, once an interval (heartbeat.c) */
	double phase;           /* seconds after the wall clock's interval boundaries */
	ev_timer silence;       /* the earliest peer's silence limit */
	struct peer peer[CONF_MAX_NODES];
	/* this node's own state */
	bool disabled, stopped;
	double ban_until;       /* monotonic; 0: not banned */
	struct reasons health;
	struct daemons daemons; /* this node's other daemons: up, hung, down, failed */
	char subscriber[SUBSCRIBERS_MAX][MSG_SERVICE_MAX];
	unsigned nsubscribers;
	struct lease lease;
	/* memberd.state and memberd.subscribers: written off the loop (state.c, view.c) */
	struct file_writer *state_file, *subscribers_file;
	uint64_t stat_view_changes, stat_heartbeats_rx, stat_heartbeats_bad, stat_stalls, stat_flaps;
	uint32_t stall_ms;      /* the latest stall's length: views carry it to subscribers */
};

double mono_now(void);

/* heartbeat.c */
void heartbeat_start(struct memberd *md);
void heartbeat_send_all(struct memberd *md, bool leaving);
void heartbeat_received(struct memberd *md, const struct msg_in *in);
void heartbeat_phase(struct memberd *md, bool lead); /* lease.c: tick first when leading */

/* state.c */
int state_load(struct memberd *md); /* -1: unable to start its file writer (logged) */
void state_save(struct memberd *md);
uint32_t state_flags(const struct memberd *md, double now);
uint64_t state_ban_remaining_ms(double until, double now);
bool reasons_set(struct reasons *r, const char *reason, bool on);
int state_apply(struct memberd *md, const struct proto_member_set *op, char *why, size_t len);
void state_housekeeping(struct memberd *md); /* every CHORES_S, from the tick */

/* daemons.c */
void daemons_start(struct memberd *md);
void daemons_stop(struct memberd *md);
void daemons_ping(struct memberd *md); /* every CHORES_S, from the tick, after housekeeping */
/* Fills infos from d (names point into d); returns the count. */
size_t daemons_fill(const struct daemons *d, struct proto_daemon_info *infos);
/* Takes a peer's list from its heartbeat; true if it changed. */
bool daemons_take(struct daemons *d, const struct proto_daemon_info *infos, size_t n);

/* nodes.c */
bool nodes_accept(struct memberd *md, uint32_t from, const struct proto_heartbeat *hb);
void nodes_answer(struct memberd *md, const struct msg_in *in);
void nodes_reload(struct memberd *md, const struct msg_in *in);
void peer_disconnect(struct memberd *md, uint32_t i, const char *why);

/* lease.c */
void lease_init(struct memberd *md);
void lease_set(struct memberd *md, const struct msg_in *in);
bool lease_carried(const struct memberd *md);   /* leading or following: read links every tick */
void lease_fill(struct memberd *md, struct proto_heartbeat *hb);
void lease_heard(struct memberd *md, uint32_t from, const struct proto_heartbeat *hb, double arrived);
void lease_chores(struct memberd *md);         /* every CHORES_S */
void lease_tick(struct memberd *md);           /* every tick */
void lease_drop(struct memberd *md, const char *why); /* leaderd hung or down */

/* view.c */
void view_changed(struct memberd *md, const char *why);
int view_load_subscribers(struct memberd *md); /* -1: as state_load */
void view_subscribe(struct memberd *md, const struct msg_in *in);
void view_answer(struct memberd *md, const struct msg_in *in);
void status_answer(struct memberd *md, const struct msg_in *in);
void member_set(struct memberd *md, const struct msg_in *in);

#endif
