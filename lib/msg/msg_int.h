/* Internals shared by the files of lib/msg; not for use outside it. */
#ifndef SHOAL_MSG_INT_H
#define SHOAL_MSG_INT_H

#include <sys/socket.h>

#include "msg/msg.h"

#define QUEUE_MAX_ITEMS 1024              /* per local destination or link */
#define QUEUE_MAX_BYTES (16 * 1024 * 1024)
#define LOCAL_DEST_MAX  64                /* connected sockets kept to local destinations */
#define HELLO_TIMEOUT   1.0               /* seconds to connect and exchange hellos */
#define ARENA_SIZE      (1024 * 1024)
#define COUNTERS_MAX    64

/* One datagram, or one frame, waiting to be written. */
struct qitem {
	struct qitem *next;
	size_t len;
	uint8_t data[];
};

struct queue {
	struct qitem *head, *tail;
	size_t items, bytes;
	size_t off;                           /* bytes of head already written (streams) */
};

bool queue_push(struct queue *q, const void *data, size_t len, size_t reserve);
void queue_pop(struct queue *q);
void queue_clear(struct queue *q);

struct local_dest {
	struct local_dest *next;
	struct msg_ctx *ctx;
	char service[MSG_SERVICE_MAX];
	int fd;
	ev_io w;
	struct queue q;
	ev_tstamp used;
};

enum link_state { LINK_CONNECTING, LINK_HELLO, LINK_UP };

struct link {
	struct link *next;
	struct msg_ctx *ctx;
	uint32_t node;                        /* peer identity (from the hello when inbound) */
	char service[MSG_SERVICE_MAX];
	bool outbound;
	bool stamped;                         /* SO_TIMESTAMPNS is on */
	enum link_state state;
	int fd;
	ev_io r, w;
	ev_timer hello_timer;
	struct msg_wire wire;
	double rx_at;                         /* CLOCK_MONOTONIC: its newest input arrived */
	double emptied_at;                    /* ... and was last read to the end */
	uint8_t *in;                          /* partial input */
	size_t in_len, in_cap;
	struct queue out;                     /* sealed frames */
	struct queue early;                   /* payloads waiting for the hello */
};

struct pending {
	struct pending *next;
	struct msg_ctx *ctx;
	uint64_t id;
	ev_timer t;
	msg_reply_fn *cb;
	void *arg;
	struct link *link;                    /* remote requests: the link they went out on */
};

struct stream_tx {
	struct stream_tx *next;
	struct msg_ctx *ctx;
	uint64_t id;
	struct msg_addr dst;
	uint32_t kind;
	const uint8_t *data;
	size_t len, sent, acked;
	ev_timer idle;
	double idle_s;
	msg_reply_fn *done;
	void *arg;
};

struct stream_rx {
	struct stream_rx *next;
	uint32_t node;
	char service[MSG_SERVICE_MAX];
	uint64_t id;
	uint64_t next_off, acked;
	ev_tstamp used;
};

struct counter {
	char name[40];
	const uint64_t *value;
};

struct msg_stats {
	uint64_t rx, tx;
	uint64_t drop_queue;      /* a destination's queue was full */
	uint64_t drop_unreachable;
	uint64_t drop_malformed;
	uint64_t drop_not_permitted;
	uint64_t drop_foreign_uid;
	uint64_t drop_spoofed;    /* envelope source does not match the socket or link */
	uint64_t drop_mac;        /* frame or hello failed its MAC */
	uint64_t drop_replay;
	uint64_t drop_unknown_source;
	uint64_t late_replies;
	uint64_t links_opened, links_failed;
};

struct msg_ctx {
	struct ev_loop *loop;
	const struct conf *conf;
	const struct conf_nodes *nodes;
	uint32_t self;
	unsigned flags;           /* MSG_LISTEN, MSG_LAZY_LINKS, MSG_LAZY_LOCAL */
	char service[MSG_SERVICE_MAX];
	char sock_dir[PATH_MAX + 8];
	char sock_path[CONF_SUN_PATH_MAX];
	int fd;                   /* our datagram socket */
	ev_io rx;
	int listen_fd;
	ev_io accept_w;
	uint8_t key[1024];
	int keylen;               /* -1: not read yet */
	struct sockaddr_storage self_sa;
	socklen_t self_salen;

	msg_handler_fn *handler;
	void *handler_arg;
	msg_event_fn *event_fn;
	void *event_arg;
	struct { char kind[16]; ev_tstamp at; } events[8];
	msg_stream_fn *stream_fn;
	void *stream_arg;

	struct local_dest *dests;
	unsigned ndests;
	struct link *links;
	struct pending *pending;
	struct stream_tx *stx;
	struct stream_rx *srx;
	uint64_t next_id;

	struct msg_stats st;
	struct counter counters[COUNTERS_MAX];
	unsigned ncounters;

	/* msg_call's result */
	bool call_done;
	int call_status;
	uint8_t *call_buf;
	size_t call_len;
	struct msg_in *call_out;

	uint8_t *rxbuf;           /* one datagram */
	uint8_t *body;            /* encoding scratch */
	uint8_t *txbuf;
	uint8_t *arena_mem;
	struct proto_arena arena;
	struct proto_envelope env;
	union proto_any in_body;
};

/* msg.c */
double msg_mono_now(void);                /* CLOCK_MONOTONIC seconds */
/* Reports a notable event (a refused link) to the daemon's event handler, at most once per
 * kind every EVENT_QUIET seconds. */
void msg_event(struct msg_ctx *m, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int msg_encode(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
               uint64_t id, uint64_t reply_to, size_t *len);
void msg_dispatch(struct msg_ctx *m, const uint8_t *buf, size_t len, struct link *l, pid_t pid,
                  uid_t uid);
void msg_link_broke(struct msg_ctx *m, struct link *l);
int msg_deliver(struct msg_ctx *m, const struct msg_addr *dst, size_t len, struct link **via);

/* local.c */
int local_bind(struct msg_ctx *m, char *err, size_t errlen);
int local_send(struct msg_ctx *m, const char *service, const void *buf, size_t len);
void local_close_all(struct msg_ctx *m);
void local_drain(struct msg_ctx *m);

/* link.c */
int link_listen(struct msg_ctx *m, char *err, size_t errlen);
int link_send(struct msg_ctx *m, uint32_t node, const char *service, const void *buf, size_t len,
              struct link **via);
void link_close_all(struct msg_ctx *m);
void link_drain(struct msg_ctx *m);
int msg_load_key(struct msg_ctx *m);
int link_self_sockaddr(struct msg_ctx *m);

/* stream.c */
void stream_on_chunk(struct msg_ctx *m, const struct msg_in *in);
void stream_on_ack(struct msg_ctx *m, const struct msg_in *in);
void stream_link_broke(struct msg_ctx *m, uint32_t node, const char *service);
void stream_close_all(struct msg_ctx *m);

#endif
