/* Links between nodes: one TCP connection to the same service on a peer, opened on demand
 * from this node's address (bound before connect, so the peer's source check means
 * something even on loopback), authenticated by the hellos and frames of wire.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "msg/msg_int.h"

int msg_sockaddr(const char *addr, unsigned port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof *s4;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof *s6;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

static void sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, len);
	else
		snprintf(buf, len, "?");
}

int msg_load_key(struct msg_ctx *m)
{
	struct conf_error e;
	if (m->keylen > 0)
		return 0;
	int n = conf_read_key(m->conf->cluster_key, m->key, sizeof m->key, &e);
	if (n < 0)
		return -1;
	m->keylen = n;
	return 0;
}

static void link_free(struct msg_ctx *m, struct link *l)
{
	for (struct link **p = &m->links; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	ev_io_stop(m->loop, &l->r);
	ev_io_stop(m->loop, &l->w);
	ev_timer_stop(m->loop, &l->hello_timer);
	if (l->fd >= 0)
		close(l->fd);
	m->st.drop_unreachable += l->early.items;
	queue_clear(&l->out);
	queue_clear(&l->early);
	free(l->in);
	sodium_memzero(&l->wire, sizeof l->wire);
	free(l);
}

/* Fails what is pending on the link at once, then forgets it. Unlisted first, so what the
 * callbacks send to that peer opens a new link instead of going down this dead one. */
static void link_close(struct msg_ctx *m, struct link *l)
{

	for (struct link **p = &m->links; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	if (l->state != LINK_UP)
		m->st.links_failed++;
	msg_link_broke(m, l);
	link_free(m, l);
}

static void link_write(struct msg_ctx *m, struct link *l)
{
	while (l->out.head) {
		struct qitem *it = l->out.head;
		ssize_t n = send(l->fd, it->data + l->out.off, it->len - l->out.off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(m->loop, &l->w);
				return;
			}
			/* Closed from the read side, which may be dispatching on this link now. */
			shutdown(l->fd, SHUT_RDWR);
			queue_clear(&l->out);
			ev_io_start(m->loop, &l->r);
			break;
		}
		l->out.off += (size_t)n;
		if (l->out.off == it->len)
			queue_pop(&l->out);
	}
	ev_io_stop(m->loop, &l->w);
}

/* Seals a payload into the output queue; false when the queue is full. */
static bool link_enqueue_sealed(struct link *l, const void *payload, size_t len)
{
	if (!queue_push(&l->out, payload, len, MSG_FRAME_OVERHEAD))
		return false;
	struct qitem *it = l->out.tail;
	memmove(it->data + MSG_FRAME_HDR, it->data, len);
	it->len = msg_wire_seal(&l->wire, it->data + MSG_FRAME_HDR, len, it->data);
	l->out.bytes += MSG_FRAME_OVERHEAD;
	return true;
}

static void link_up(struct msg_ctx *m, struct link *l)
{
	l->state = LINK_UP;
	ev_timer_stop(m->loop, &l->hello_timer);
	/* From now on msg_drain() reads it (a broken link is noticed there too). */
	if (m->flags & MSG_LAZY_LINKS)
		ev_io_stop(m->loop, &l->r);
	while (l->early.head) {
		if (!link_enqueue_sealed(l, l->early.head->data, l->early.head->len))
			m->st.drop_queue++;
		queue_pop(&l->early);
	}
	link_write(m, l);
}

static bool node_address_ok(const struct msg_ctx *m, uint32_t node, const struct sockaddr_storage *ss)
{
	char text[CONF_ADDR_MAX];
	sockaddr_text(ss, text, sizeof text);
	return node < m->nodes->count && !m->nodes->node[node].deleted &&
	       strcmp(m->nodes->node[node].address, text) == 0;
}

/* Handles the peer's hello; inbound links answer with theirs. */
static int link_take_hello(struct msg_ctx *m, struct link *l, const uint8_t *buf)
{
	uint32_t node;
	char service[MSG_SERVICE_MAX];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char from[CONF_ADDR_MAX] = "?";
	if (getpeername(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_text(&ss, from, sizeof from);
	if (msg_wire_take_hello(&l->wire, m->key, (size_t)m->keylen, buf, &node, service) < 0) {
		m->st.drop_mac++;
		msg_event(m, "hello", "link %s %s refused: its hello fails the check (%s): is the "
		          "cluster key the same on both nodes?", l->outbound ? "to" : "from", from,
		          errno == EACCES ? "wrong MAC" : "malformed or unsupported version");
		return -1;
	}
	if (l->outbound) {
		if (node != l->node || strcmp(service, l->service) != 0) {
			m->st.drop_spoofed++;
			msg_event(m, "identity", "link to %s refused: it says it is node %u (%s), we expected "
			          "node %u (%s): are the nodes files the same on both nodes?", from, node,
			          service, l->node, l->service);
			return -1;
		}
	} else {
		if (!node_address_ok(m, node, &ss) || !msg_service_valid(service)) {
			m->st.drop_spoofed++;
			int here = nodes_find(m->nodes, from);
			msg_event(m, "identity", "link from %s refused: it says it is node %u, but here %s "
			          "is node %d: are the nodes files the same on both nodes?", from, node,
			          from, here);
			return -1;
		}
		l->node = node;
		memcpy(l->service, service, sizeof l->service);
		uint8_t hello[MSG_HELLO_LEN];
		msg_wire_hello(&l->wire, m->key, (size_t)m->keylen, m->self, m->service, hello);
		if (!queue_push(&l->out, hello, sizeof hello, 0))
			return -1;
	}
	link_up(m, l);
	return 0;
}

/* Consumes complete frames from the input buffer. Returns -1 when the link must close. */
static int link_parse(struct msg_ctx *m, struct link *l)
{
	size_t off = 0;
	while (l->state != LINK_UP || off + MSG_FRAME_HDR <= l->in_len) {
		if (l->state != LINK_UP) {
			if (l->in_len - off < MSG_HELLO_LEN)
				break;
			if (link_take_hello(m, l, l->in + off) < 0)
				return -1;
			off += MSG_HELLO_LEN;
			continue;
		}
		size_t flen = msg_wire_frame_len(l->in + off);
		if (flen == 0) {
			m->st.drop_malformed++;
			return -1; /* framing lost: nothing after it can be trusted */
		}
		if (l->in_len - off < flen)
			break;
		const uint8_t *payload;
		size_t plen;
		if (msg_wire_open(&l->wire, l->in + off, flen, &payload, &plen) < 0) {
			if (errno == EALREADY)
				m->st.drop_replay++;
			else
				m->st.drop_mac++;
		} else {
			msg_dispatch(m, payload, plen, l, 0, 0);
		}
		off += flen;
		/* The handler may have closed links; ours is still here (we only free in
		 * link_close, which callers of dispatch never reach for this link). */
	}
	memmove(l->in, l->in + off, l->in_len - off);
	l->in_len -= off;
	return 0;
}

/* A lazily read link asks the kernel when its data arrived: SO_TIMESTAMPNS, and TCP_INQ to
 * tell a read that also took the peer's FIN (see link_recv). */
static void link_stamp(struct link *l)
{
	int one = 1;
	setsockopt(l->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
	setsockopt(l->fd, IPPROTO_TCP, TCP_INQ, &one, sizeof one);
	l->stamped = true;
}

/* One recv; sets l->rx_at. A lazily read link asks the kernel when the data arrived (the
 * wall-clock time of the newest segment read), so a failure detector that reads once a
 * tick still measures silence from the arrival, not from its own tick. The wall-clock time
 * is turned into monotonic time here; should the clock have stepped meanwhile, the result
 * is kept between the last time the link was read to the end (it came after that) and now.
 * One segment is not stamped right: a FIN that comes while data waits unread merges into
 * that data, and gives it its own, later time (so a crashed peer's last heartbeat would
 * seem to come at its crash, up to a tick late, and be mourned that much later). A read
 * that drained the data and took the FIN with it leaves TCP_INQ non-zero: its data then
 * counts from the earliest time it can have come, the last time the link was emptied. */
static ssize_t link_recv(struct msg_ctx *m, struct link *l, size_t space, double *read_at)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { l->in + l->in_len, space };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (l->stamped) {
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof cm.buf;
	}
	ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
	double now = msg_mono_now();
	*read_at = l->rx_at = now;
	if (n <= 0)
		return n;
	int inq = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
			memcpy(&inq, CMSG_DATA(c), sizeof inq);
			continue;
		}
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts, real;
		memcpy(&ts, CMSG_DATA(c), sizeof ts);
		clock_gettime(CLOCK_REALTIME, &real);
		double at = now - ((double)(real.tv_sec - ts.tv_sec) + (real.tv_nsec - ts.tv_nsec) / 1e9);
		l->rx_at = at > now ? now : at < l->emptied_at ? l->emptied_at : at;
	}
	if (inq > 0 && (size_t)n < space) /* TCP_INQ is on only where stamped */
		l->rx_at = l->emptied_at;
	return n;
}

static void on_link_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;
	struct msg_ctx *m = l->ctx;
	for (int i = 0; i < 16; i++) {
		if (l->in_cap - l->in_len < 65536) {
			size_t cap = l->in_cap ? l->in_cap * 2 : 131072;
			if (cap > 2 * (MSG_DGRAM_MAX + MSG_FRAME_OVERHEAD) + 65536)
				cap = 2 * (MSG_DGRAM_MAX + MSG_FRAME_OVERHEAD) + 65536;
			if (cap > l->in_cap) {
				uint8_t *p = realloc(l->in, cap);
				if (!p) {
					link_close(m, l);
					return;
				}
				l->in = p;
				l->in_cap = cap;
			}
		}
		double read_at;
		ssize_t n = link_recv(m, l, l->in_cap - l->in_len, &read_at);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			if (l->outbound && l->state == LINK_HELLO && l->node < m->nodes->count)
				msg_event(m, "hello-closed", "link to node %u (%s) closed during the hello: "
				          "the peer refused us; are the cluster key and the nodes file the "
				          "same on both nodes?", l->node, m->nodes->node[l->node].address);
			link_close(m, l);
			return;
		}
		if (n < 0) {
			l->emptied_at = read_at;
			return;
		}
		size_t space = l->in_cap - l->in_len;
		l->in_len += (size_t)n;
		bool emptied = (size_t)n < space;
		if (emptied)
			l->emptied_at = read_at;
		if (link_parse(m, l) < 0) {
			link_close(m, l);
			return;
		}
		/* A short read drained the socket: the loop wakes us if more comes, and one recv
		 * fewer per message is most of an idle node's system calls. */
		if (emptied)
			return;
	}
}

static void on_link_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;
	struct msg_ctx *m = l->ctx;
	if (l->state == LINK_CONNECTING) {
		int err = 0;
		socklen_t sl = sizeof err;
		getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
		if (err) {
			link_close(m, l);
			return;
		}
		l->state = LINK_HELLO;
		m->st.links_opened++;
		ev_io_start(m->loop, &l->r);
	}
	link_write(m, l);
}

static void on_hello_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct link *l = t->data;
	link_close(l->ctx, l);
}

static struct link *link_new(struct msg_ctx *m, int fd, bool outbound)
{
	struct link *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->ctx = m;
	l->fd = fd;
	l->outbound = outbound;
	msg_wire_init(&l->wire, outbound);
	ev_io_init(&l->r, on_link_read, fd, EV_READ);
	ev_io_init(&l->w, on_link_write, fd, EV_WRITE);
	ev_timer_init(&l->hello_timer, on_hello_timeout, HELLO_TIMEOUT, 0);
	l->r.data = l->w.data = l->hello_timer.data = l;
	/* Nothing it reads can have come before it was made. */
	l->emptied_at = msg_mono_now();
	if (m->flags & MSG_LAZY_LINKS)
		link_stamp(l);
	ev_timer_start(m->loop, &l->hello_timer);
	l->next = m->links;
	m->links = l;
	return l;
}

static struct link *link_open(struct msg_ctx *m, uint32_t node, const char *service)
{
	int idx = msg_service_index(service);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (idx < 0 || node >= m->nodes->count || m->nodes->node[node].deleted) {
		errno = EINVAL;
		return NULL;
	}
	if (msg_load_key(m) < 0)
		return NULL;
	if (msg_sockaddr(m->nodes->node[node].address, m->conf->port_base + (unsigned)idx, &ss, &sl) < 0)
		return NULL;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&m->self_sa, m->self_salen) < 0 ||
	    (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)) {
		int e = errno;
		close(fd);
		m->st.links_failed++;
		errno = e;
		return NULL;
	}
	struct link *l = link_new(m, fd, true);
	if (!l) {
		close(fd);
		return NULL;
	}
	l->node = node;
	snprintf(l->service, sizeof l->service, "%s", service);
	l->state = LINK_CONNECTING;
	uint8_t hello[MSG_HELLO_LEN];
	msg_wire_hello(&l->wire, m->key, (size_t)m->keylen, m->self, m->service, hello);
	queue_push(&l->out, hello, sizeof hello, 0);
	ev_io_start(m->loop, &l->w);
	return l;
}

int link_send(struct msg_ctx *m, uint32_t node, const char *service, const void *buf, size_t len,
              struct link **via)
{
	struct link *l, *best = NULL;
	for (l = m->links; l; l = l->next)
		if (l->node == node && strcmp(l->service, service) == 0 &&
		    (l->outbound || l->state == LINK_UP) && (!best || l->state == LINK_UP))
			best = l;
	if (!best && !(best = link_open(m, node, service))) {
		m->st.drop_unreachable++;
		return -1;
	}
	*via = best;
	bool ok = best->state == LINK_UP ? link_enqueue_sealed(best, buf, len)
	                                 : queue_push(&best->early, buf, len, 0);
	if (!ok) {
		m->st.drop_queue++;
		errno = ENOBUFS;
		return -1;
	}
	m->st.tx++;
	if (best->state == LINK_UP)
		link_write(m, best);
	return 0;
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct msg_ctx *m = w->data;
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(m->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		char text[CONF_ADDR_MAX];
		sockaddr_text(&ss, text, sizeof text);
		/* Only addresses of the nodes file may talk to us at all. */
		if (nodes_find(m->nodes, text) < 0 || msg_load_key(m) < 0) {
			m->st.drop_unknown_source++;
			msg_event(m, "source", "connection from %s refused: not an address of the nodes file",
			          text);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct link *l = link_new(m, fd, false);
		if (!l) {
			close(fd);
			continue;
		}
		l->node = UINT32_MAX;
		l->state = LINK_HELLO;
		ev_io_start(m->loop, &l->r);
	}
}

int link_listen(struct msg_ctx *m, char *err, size_t errlen)
{
	int idx = msg_service_index(m->service);
	struct sockaddr_storage ss;
	socklen_t sl;
	if (idx < 0) {
		snprintf(err, errlen, "service %s has no port", m->service);
		return -1;
	}
	unsigned port = m->conf->port_base + (unsigned)idx;
	msg_sockaddr(m->conf->node_address, port, &ss, &sl);
	m->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (m->listen_fd < 0 ||
	    setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(m->listen_fd, (struct sockaddr *)&ss, sl) < 0 || listen(m->listen_fd, 128) < 0) {
		snprintf(err, errlen, "unable to listen on %s port %u: %s", m->conf->node_address, port,
		         strerror(errno));
		if (m->listen_fd >= 0)
			close(m->listen_fd);
		m->listen_fd = -1;
		return -1;
	}
	ev_io_init(&m->accept_w, on_accept, m->listen_fd, EV_READ);
	m->accept_w.data = m;
	ev_io_start(m->loop, &m->accept_w);
	return 0;
}

int link_self_sockaddr(struct msg_ctx *m)
{
	return msg_sockaddr(m->conf->node_address, 0, &m->self_sa, &m->self_salen);
}

void link_drain(struct msg_ctx *m)
{
	struct link *l = m->links, *next;
	for (; l; l = next) {
		next = l->next; /* reading may close (free) l, never another link */
		if (l->state != LINK_CONNECTING)
			on_link_read(m->loop, &l->r, EV_READ);
	}
}

void msg_set_lazy_links(struct msg_ctx *m, bool lazy)
{
	if (lazy == !!(m->flags & MSG_LAZY_LINKS))
		return;
	m->flags ^= MSG_LAZY_LINKS;
	for (struct link *l = m->links; l; l = l->next) {
		if (l->state != LINK_UP)
			continue; /* link_up() sees to it */
		if (lazy && !l->stamped)
			link_stamp(l);
		if (lazy)
			ev_io_stop(m->loop, &l->r);
		else
			ev_io_start(m->loop, &l->r); /* level-triggered: what waits is read at once */
	}
}

void link_close_all(struct msg_ctx *m)
{
	while (m->links)
		link_close(m, m->links);
	if (m->listen_fd >= 0) {
		ev_io_stop(m->loop, &m->accept_w);
		close(m->listen_fd);
		m->listen_fd = -1;
	}
}
