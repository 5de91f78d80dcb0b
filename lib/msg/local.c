/* Local delivery over Unix datagram sockets in <run dir>/sock/.
 *
 * On Linux a datagram waiting in a stuck receiver's queue is charged to the sending socket,
 * and poll() on an unconnected socket reports "writable" while the receiver's queue is
 * full. So each destination gets its own connected socket (whose poll() does reflect the
 * receiver's queue) and a bounded queue; a stuck receiver fills only its own queue.
 * Those sockets are unbound, so the envelope names the sender; only root and our own user
 * may send at all (the directory's mode, and SCM_CREDENTIALS on every datagram). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs/fs.h"
#include "msg/msg_int.h"

#define SNDBUF (2 * 1024 * 1024)

static int sun_for(const struct msg_ctx *m, const char *service, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", m->sock_dir, service);
	if (n < 0 || (size_t)n >= sizeof sa->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Reads up to max datagrams; returns how many. */
static int read_batch(struct msg_ctx *m, int max)
{
	int i;
	for (i = 0; i < max; i++) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(struct ucred))];
		} cm;
		struct iovec iov = { m->rxbuf, MSG_DGRAM_MAX };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cm.buf, .msg_controllen = sizeof cm.buf,
		};
		ssize_t n = recvmsg(m->fd, &mh, MSG_DONTWAIT);
		if (n < 0)
			break; /* EAGAIN, or nothing we can act on */
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(c), sizeof cred);
		/* Only root and our own user may talk to us (the socket's mode says the same). */
		if (cred.uid != 0 && cred.uid != geteuid()) {
			m->st.drop_foreign_uid++;
			continue;
		}
		msg_dispatch(m, m->rxbuf, (size_t)n, NULL, cred.pid, cred.uid);
	}
	return i;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	/* Bounded batch, so one busy sender cannot starve the loop's timers. */
	read_batch(w->data, 64);
}

void local_drain(struct msg_ctx *m)
{
	/* Bounded too: a flood must not keep a caller from its own deadline. */
	for (int rounds = 0; rounds < 16 && m->fd >= 0; rounds++)
		if (read_batch(m, 64) < 64)
			return;
}

int local_bind(struct msg_ctx *m, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int one = 1, sz = 4 * 1024 * 1024;

	snprintf(m->sock_dir, sizeof m->sock_dir, "%s/sock", m->conf->run_dir);
	if (mkdir_p(m->sock_dir, 0700) < 0) {
		snprintf(err, errlen, "unable to create %s: %s", m->sock_dir, strerror(errno));
		return -1;
	}
	if (sun_for(m, m->service, &sa) < 0) {
		snprintf(err, errlen, "socket path %s/%s is longer than %zu bytes", m->sock_dir,
		         m->service, sizeof sa.sun_path - 1);
		return -1;
	}
	m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->fd < 0) {
		snprintf(err, errlen, "unable to create a socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(m->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	setsockopt(m->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	/* A daemon's previous incarnation leaves its socket behind; s6 runs one instance. */
	unlink(sa.sun_path);
	mode_t old = umask(0177);
	int rc = bind(m->fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "unable to bind %s: %s", sa.sun_path, strerror(errno));
		close(m->fd);
		m->fd = -1;
		return -1;
	}
	snprintf(m->sock_path, sizeof m->sock_path, "%s", sa.sun_path);
	ev_io_init(&m->rx, on_readable, m->fd, EV_READ);
	m->rx.data = m;
	if (!(m->flags & MSG_LAZY_LOCAL))
		ev_io_start(m->loop, &m->rx);
	return 0;
}

static void dest_free(struct msg_ctx *m, struct local_dest *d)
{
	for (struct local_dest **p = &m->dests; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	ev_io_stop(m->loop, &d->w);
	if (d->fd >= 0)
		close(d->fd);
	m->st.drop_queue += d->q.items;
	queue_clear(&d->q);
	m->ndests--;
	free(d);
}

static int dest_connect(struct msg_ctx *m, struct local_dest *d)
{
	struct sockaddr_un sa;
	int sz = SNDBUF;

	if (sun_for(m, d->service, &sa) < 0)
		return -1;
	d->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->fd < 0)
		return -1;
	setsockopt(d->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(d->fd);
		d->fd = -1;
		errno = e;
		return -1;
	}
	ev_io_set(&d->w, d->fd, EV_WRITE);
	return 0;
}

static void dest_flush(struct msg_ctx *m, struct local_dest *d);

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct local_dest *d = w->data;
	dest_flush(d->ctx, d);
}

/* Writes what the receiver will take; a refused destination (it went away) drops its queue. */
static void dest_flush(struct msg_ctx *m, struct local_dest *d)
{
	while (d->q.head) {
		ssize_t n = send(d->fd, d->q.head->data, d->q.head->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				ev_io_start(m->loop, &d->w);
				return;
			}
			m->st.drop_unreachable += d->q.items;
			queue_clear(&d->q);
			break;
		}
		m->st.tx++;
		queue_pop(&d->q);
	}
	ev_io_stop(m->loop, &d->w);
}

static struct local_dest *dest_get(struct msg_ctx *m, const char *service)
{
	struct local_dest *d, *oldest = NULL;
	for (d = m->dests; d; d = d->next) {
		if (strcmp(d->service, service) == 0)
			return d;
		if (!d->q.head && (!oldest || d->used < oldest->used))
			oldest = d;
	}
	/* Clients come and go: keep a bounded number of idle connected sockets. */
	if (m->ndests >= LOCAL_DEST_MAX && oldest)
		dest_free(m, oldest);
	d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->ctx = m;
	d->fd = -1;
	snprintf(d->service, sizeof d->service, "%s", service);
	ev_init(&d->w, on_writable);
	d->w.data = d;
	if (dest_connect(m, d) < 0) {
		free(d);
		return NULL;
	}
	d->next = m->dests;
	m->dests = d;
	m->ndests++;
	return d;
}

int local_send(struct msg_ctx *m, const char *service, const void *buf, size_t len)
{
	struct local_dest *d = dest_get(m, service);
	if (!d) {
		m->st.drop_unreachable++;
		return -1;
	}
	d->used = ev_now(m->loop);
	if (!d->q.head) {
		ssize_t n = send(d->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			m->st.tx++;
			return 0;
		}
		if (errno == ECONNREFUSED || errno == ENOTCONN || errno == EPIPE) {
			/* The receiver restarted and bound a new socket: connect afresh, once. */
			close(d->fd);
			if (dest_connect(m, d) < 0) {
				dest_free(m, d);
				m->st.drop_unreachable++;
				errno = ECONNREFUSED;
				return -1;
			}
			n = send(d->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n >= 0) {
				m->st.tx++;
				return 0;
			}
		}
		if (errno != EAGAIN) {
			int e = errno;
			m->st.drop_unreachable++;
			errno = e;
			return -1;
		}
	}
	if (!queue_push(&d->q, buf, len, 0)) {
		m->st.drop_queue++;
		errno = ENOBUFS;
		return -1;
	}
	ev_io_start(m->loop, &d->w);
	return 0;
}

void local_close_all(struct msg_ctx *m)
{
	while (m->dests)
		dest_free(m, m->dests);
	if (m->fd >= 0) {
		ev_io_stop(m->loop, &m->rx);
		close(m->fd);
		unlink(m->sock_path);
		m->fd = -1;
	}
}

bool queue_push(struct queue *q, const void *data, size_t len, size_t reserve)
{
	if (q->items >= QUEUE_MAX_ITEMS || q->bytes + len > QUEUE_MAX_BYTES)
		return false;
	struct qitem *it = malloc(sizeof *it + len + reserve);
	if (!it)
		return false;
	it->next = NULL;
	it->len = len;
	memcpy(it->data, data, len);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->items++;
	q->bytes += len;
	return true;
}

void queue_pop(struct queue *q)
{
	struct qitem *it = q->head;
	if (!it)
		return;
	q->head = it->next;
	if (!q->head)
		q->tail = NULL;
	q->items--;
	q->bytes -= it->len;
	q->off = 0;
	free(it);
}

void queue_clear(struct queue *q)
{
	while (q->head)
		queue_pop(q);
}
