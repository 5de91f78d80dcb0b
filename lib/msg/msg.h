/* shoal messaging: any process sends to `node:service` anywhere in the cluster.
 *
 * Local delivery: every process binds one Unix datagram socket, <run dir>/sock/<service>
 * (a short-lived client binds c.PID.N), mode 0600, SO_PASSCRED. Senders use one connected
 * socket per local destination with a bounded queue of their own, so a receiver that stops
 * reading costs its senders only that queue: what overflows is dropped and counted.
 *
 * Remote delivery: a TCP link to the same service on the peer (port base + the service's
 * index), opened on demand from this node's own address. Each link starts with a hello in
 * both directions (node, service, a fresh 32-byte nonce, HMAC-SHA-256 under the cluster
 * key); frames then carry a sequence number and an HMAC under a per-link session key (HMAC
 * of both nonces), checked in constant time. Failed MACs, replays and sources that are not
 * in the nodes file are dropped and counted.
 *
 * Every message is an envelope (lib/proto) with a body. Requests carry an id and a deadline;
 * a reply after its deadline is dropped and counted; a link that breaks fails its pending
 * requests at once with MSG_E_LINK. Delivery is at most once. Bodies larger than one
 * datagram travel as streams of chunks with a window of unacknowledged bytes.
 *
 * Library rules: nothing here prints or exits; calls return 0 or -1 with errno.
 */
#ifndef SHOAL_MSG_H
#define SHOAL_MSG_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sodium/crypto_auth_hmacsha256.h>

#include "conf/conf.h"
#include "proto/proto.h"

#define MSG_SERVICE_MAX 32            /* with the NUL */
#define MSG_NODE_ALL    UINT32_MAX    /* `*` */
#define MSG_BODY_MAX    (256 * 1024)  /* largest body in one datagram or frame */
#define MSG_DGRAM_MAX   (MSG_BODY_MAX + 1024)

struct msg_addr {
	uint32_t node;
	char service[MSG_SERVICE_MAX];
};

/* "2:ipd", "*:memberd". 0, or -1 with errno EINVAL. */
int msg_addr_parse(const char *s, struct msg_addr *a);
/* The port offset of a daemon's service (memberd 0, leaderd 1, ...), or -1. */
int msg_service_index(const char *service);
bool msg_service_valid(const char *service);

/* A socket address for a textual IPv4 or IPv6 address and a port. -1, EINVAL if neither. */
struct sockaddr_storage;
int msg_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len);

enum msg_status {
	MSG_OK = 0,
	MSG_E_TIMEOUT,     /* no reply before the deadline */
	MSG_E_LINK,        /* the link carrying the request broke */
	MSG_E_UNREACHABLE, /* no such local socket, or no way to reach the node (no link came up) */
	MSG_E_QUEUE,       /* the destination's queue was full: dropped */
	MSG_E_REMOTE,      /* the destination answered with an error message */
	MSG_E_BADREPLY,    /* the reply failed to decode */
};
const char *msg_status_str(int status);

struct msg_in {
	const struct proto_envelope *env; /* src_node, src_service, id, reply_to, type */
	unsigned type;
	const void *body;                 /* the decoded struct proto_<type> */
	bool remote;                      /* arrived over a node link */
	/* CLOCK_MONOTONIC seconds at which it arrived: on a link read lazily (MSG_LAZY_LINKS)
	 * the kernel's receive time, which may be a tick before it was read; else now. */
	double arrived;
	pid_t pid;                        /* local sender's credentials */
	uid_t uid;
};

struct msg_ctx;

typedef void msg_handler_fn(struct msg_ctx *m, const struct msg_in *in, void *arg);
/* status MSG_OK with the reply (which may be an error message: status MSG_E_REMOTE), or a
 * failure with in NULL. */
typedef void msg_reply_fn(struct msg_ctx *m, int status, const struct msg_in *in, void *arg);

enum {
	MSG_LISTEN = 1 << 0, /* accept links from peers (daemons) */
	/* Links that are up are read only by msg_drain(), not when data arrives: a daemon that
	 * reads its peers on a periodic tick of its own (memberd) then wakes once a tick, not
	 * once per arrival. Connecting, hellos and the local socket still wake it at once. */
	MSG_LAZY_LINKS = 1 << 1,
	/* The local socket too is read only by msg_drain_local(): for a second endpoint whose
	 * answers may wait for the owner's next tick (memberd's liveness pings). */
	MSG_LAZY_LOCAL = 1 << 2,
};

/* Opens this process's endpoint. service NULL: a client, named c.PID.N. The cluster key is
 * read only when remote links are used. On failure returns NULL with errno set and a reason
 * in err. */
struct msg_ctx *msg_open(struct ev_loop *loop, const struct conf *c, const struct conf_nodes *n,
                         const char *service, unsigned flags, char *err, size_t errlen);
void msg_close(struct msg_ctx *m);

const char *msg_self_service(const struct msg_ctx *m);
uint32_t msg_self_node(const struct msg_ctx *m);
struct ev_loop *msg_loop(const struct msg_ctx *m);

/* Messages lib/msg does not answer itself (ping, stats, streams, replies) go here; without a
 * handler every request is answered with error unknown_type. */
void msg_set_handler(struct msg_ctx *m, msg_handler_fn *fn, void *arg);

/* Notable events the library cannot act on but an admin must hear of (a link refused
 * because the peer's key or nodes file differs). The daemon logs them; nothing here prints. */
typedef void msg_event_fn(struct msg_ctx *m, const char *what, void *arg);
void msg_set_event_handler(struct msg_ctx *m, msg_event_fn *fn, void *arg);

/* One-way message. `*` sends to every node of the nodes file that is not deleted (this one
 * included). */
int msg_send(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body);
int msg_reply(struct msg_ctx *m, const struct msg_in *req, unsigned type, const void *body);
int msg_reply_error(struct msg_ctx *m, const struct msg_in *req, unsigned code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Request with a deadline; cb runs exactly once. *id (optional) names it for msg_cancel. */
int msg_request(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
                unsigned timeout_ms, msg_reply_fn *cb, void *arg, uint64_t *id);
/* Sends type and body as a request to `to` and answers the asker of in with what comes back
 * (the reply, or the error it got: unreachable, the deadline), whenever it comes: for a
 * request only another node can answer. 0, or what an error reply returned. */
int msg_forward(struct msg_ctx *m, const struct msg_in *in, const struct msg_addr *to, unsigned type,
                const void *body, unsigned timeout_ms);
/* msg_forward of the request itself to this service on node (or an error: no such node):
 * for a CLI's `-n NODE`, which reaches other nodes only through its own node's daemon. */
int msg_relay(struct msg_ctx *m, const struct msg_in *in, const struct conf_nodes *nodes, uint32_t node,
              unsigned timeout_ms);
/* Drops a pending request without calling its callback. */
void msg_cancel(struct msg_ctx *m, uint64_t id);

/* For clients: sends a request and runs the loop until its reply or deadline. Returns the
 * status; on MSG_OK / MSG_E_REMOTE, *reply holds the reply, valid until the next call. */
int msg_call(struct msg_ctx *m, const struct msg_addr *dst, unsigned type, const void *body,
             unsigned timeout_ms, struct msg_in *reply);

/* Streams: the sender's data must stay valid until done runs (status MSG_OK once the
 * receiver has acknowledged everything). The receiver's handler sees every chunk in order;
 * the stream is complete when offset + data.len == total. */
typedef void msg_stream_fn(struct msg_ctx *m, const struct msg_in *in,
                           const struct proto_stream_chunk *chunk, void *arg);
void msg_set_stream_handler(struct msg_ctx *m, msg_stream_fn *fn, void *arg);
int msg_stream_send(struct msg_ctx *m, const struct msg_addr *dst, uint32_t kind, const void *data,
                    size_t len, unsigned idle_timeout_ms, msg_reply_fn *done, void *arg);

/* Reads and dispatches, without blocking, everything already waiting on this endpoint's
 * sockets: a failure detector calls it before it blames a silent peer. */
void msg_drain(struct msg_ctx *m);
/* The same for the links to other nodes only: a daemon with MSG_LAZY_LINKS calls it on
 * its tick (its local socket wakes it anyway, so reading that too would be a wasted call). */
void msg_drain_links(struct msg_ctx *m);
/* The same for the local socket only (MSG_LAZY_LOCAL). */
void msg_drain_local(struct msg_ctx *m);

/* Turns MSG_LAZY_LINKS on or off at run time, for a daemon that reads its links on a
 * timer of its own only in some states (leaderd while it leads). */
void msg_set_lazy_links(struct msg_ctx *m, bool lazy);

/* Counters, reported by the stats message; a daemon may add its own. */
void msg_counter_add(struct msg_ctx *m, const char *name, const uint64_t *value);
uint64_t msg_counter_get(const struct msg_ctx *m, const char *name);

/* --- the wire between nodes, exposed for tests that forge frames --- */

#define MSG_NONCE_LEN  32
#define MSG_MAC_LEN    32
#define MSG_HELLO_LEN  (4 + 1 + 4 + MSG_SERVICE_MAX + MSG_NONCE_LEN + MSG_MAC_LEN)
#define MSG_FRAME_HDR  12 /* length (u32) and sequence number (u64), big-endian */
#define MSG_FRAME_OVERHEAD (MSG_FRAME_HDR + MSG_MAC_LEN)

struct msg_wire {
	bool client;
	uint8_t nonce_local[MSG_NONCE_LEN];
	uint8_t nonce_peer[MSG_NONCE_LEN];
	uint8_t session[32];
	/* HMAC under the session key, before any data: each frame's MAC starts from a copy,
	 * which saves the two key blocks' hashing per frame (heartbeats are most frames). */
	crypto_auth_hmacsha256_state keyed;
	uint64_t tx_seq;
	uint64_t rx_seq;
};

void msg_wire_init(struct msg_wire *w, bool client);
void msg_wire_hello(const struct msg_wire *w, const uint8_t *key, size_t keylen, uint32_t node,
                    const char *service, uint8_t out[MSG_HELLO_LEN]);
/* Checks the peer's hello (a server's must answer our nonce) and derives the session key.
 * -1 with errno EBADMSG (form) or EACCES (MAC). */
int msg_wire_take_hello(struct msg_wire *w, const uint8_t *key, size_t keylen,
                        const uint8_t in[MSG_HELLO_LEN], uint32_t *node, char service[MSG_SERVICE_MAX]);
/* Writes the frame (len + MSG_FRAME_OVERHEAD bytes) to out. */
size_t msg_wire_seal(struct msg_wire *w, const void *payload, size_t len, uint8_t *out);
/* The whole frame's length from its header, or 0 if the header announces too much. */
size_t msg_wire_frame_len(const uint8_t hdr[MSG_FRAME_HDR]);
/* Checks a whole frame. -1 with errno EACCES (MAC) or EALREADY (replayed or out of order). */
int msg_wire_open(struct msg_wire *w, const uint8_t *frame, size_t len, const uint8_t **payload,
                  size_t *plen);

#endif
