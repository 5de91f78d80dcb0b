/* rtnetlink, announcements, sock_diag and tickle ACKs (see netif.h). */
#include "netif/netif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOCK_DESTROY
#define SOCK_DESTROY 21
#endif

/* ---- addresses as the kernel has them ---- */

static void to_raw(const struct ipalloc_addr *a, uint8_t *out)
{
	if (a->family == AF_INET) {
		uint32_t v = htonl(a->key[3]);
		memcpy(out, &v, 4);
	} else {
		for (int i = 0; i < 4; i++) {
			uint32_t v = htonl(a->key[i]);
			memcpy(out + 4 * i, &v, 4);
		}
	}
}

static void from_raw(int family, const void *raw, struct ipalloc_addr *a)
{
	uint32_t w[4];
	memset(a, 0, sizeof *a);
	a->family = family;
	if (family == AF_INET) {
		memcpy(&w[0], raw, 4);
		a->key[3] = ntohl(w[0]);
		return;
	}
	memcpy(w, raw, 16);
	for (int i = 0; i < 4; i++)
		a->key[i] = ntohl(w[i]);
	/* ::ffff:a.b.c.d is an IPv4 peer of a dual-stack socket */
	if (a->key[0] == 0 && a->key[1] == 0 && a->key[2] == 0xffff) {
		a->family = AF_INET;
		a->key[2] = 0;
	}
}

static size_t alen(const struct ipalloc_addr *a) { return a->family == AF_INET ? 4 : 16; }

/* ---- rtnetlink requests ---- */

int netif_nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static uint32_t nl_seq;

static void add_attr(struct nlmsghdr *h, size_t cap, int type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	size_t l = RTA_LENGTH(len);
	if (NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(l) > cap)
		return;
	rta->rta_type = (unsigned short)type;
	rta->rta_len = (unsigned short)l;
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = (uint32_t)(NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(l));
}

/* Sends h and reads the kernel's answers to it: with each, a dump whose every answer goes
 * to each until NLMSG_DONE; without, a request that the kernel's acknowledgement ends.
 * 0, or -1 with the kernel's errno. */
typedef void nl_each_fn(const struct nlmsghdr *r, void *arg);
static int nl_talk(int fd, struct nlmsghdr *h, nl_each_fn *each, void *arg)
{
	h->nlmsg_seq = ++nl_seq;
	h->nlmsg_flags |= each ? NLM_F_REQUEST | NLM_F_DUMP : NLM_F_ACK;
	if (send(fd, h, h->nlmsg_len, 0) < 0)
		return -1;
	/* On the stack: a callback may make a dump of its own. */
	_Alignas(struct nlmsghdr) char buf[32768];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
			if (r->nlmsg_seq != h->nlmsg_seq)
				continue;
			if (r->nlmsg_type == NLMSG_DONE && each)
				return 0;
			if (r->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(r);
				if (e->error == 0)
					return 0;
				errno = -e->error;
				return -1;
			}
			if (each)
				each(r, arg);
		}
	}
}

static int addr_req(int nl, int type, int flags, int ifindex, const struct ipalloc_addr *a, unsigned bits)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg ifa;
		char attrs[128];
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.h.nlmsg_type = (unsigned short)type;
	req.h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
	req.ifa.ifa_family = (unsigned char)a->family;
	req.ifa.ifa_prefixlen = (unsigned char)bits;
	req.ifa.ifa_index = (unsigned)ifindex;
	req.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	if (a->family == AF_INET6 && type == RTM_NEWADDR)
		req.ifa.ifa_flags = IFA_F_NODAD;
	uint8_t raw[16];
	to_raw(a, raw);
	add_attr(&req.h, sizeof req, IFA_LOCAL, raw, alen(a));
	add_attr(&req.h, sizeof req, IFA_ADDRESS, raw, alen(a));
	return nl_talk(nl, &req.h, NULL, NULL);
}

int netif_addr_add(int nl, int ifindex, const struct ipalloc_addr *a, unsigned bits)
{
	if (addr_req(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, a, bits) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int netif_addr_del(int nl, int ifindex, const struct ipalloc_addr *a, unsigned bits)
{
	if (addr_req(nl, RTM_DELADDR, 0, ifindex, a, bits) < 0 && errno != EADDRNOTAVAIL &&
	    errno != ENODEV)
		return -1;
	return 0;
}

struct addr_dump_ctx {
	netif_addr_fn *fn;
	void *arg;
};

static void addr_one(const struct nlmsghdr *r, void *arg)
{
	const struct addr_dump_ctx *x = arg;
	if (r->nlmsg_type != RTM_NEWADDR)
		return;
	struct ifaddrmsg *ifa = NLMSG_DATA(r);
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return;
	int len = (int)IFA_PAYLOAD(r);
	const void *local = NULL, *address = NULL;
	for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == IFA_LOCAL)
			local = RTA_DATA(rta);
		else if (rta->rta_type == IFA_ADDRESS)
			address = RTA_DATA(rta);
	}
	if (!local)
		local = address;
	if (!local)
		return;
	struct ipalloc_addr a;
	from_raw(ifa->ifa_family, local, &a);
	a.family = ifa->ifa_family; /* a configured ::ffff:x stays IPv6 */
	if (a.family == AF_INET6 && a.key[2] == 0 && a.key[0] == 0 && a.key[1] == 0) {
		uint32_t w[4];
		memcpy(w, local, 16);
		a.key[2] = ntohl(w[2]);
	}
	x->fn(x->arg, (int)ifa->ifa_index, &a, ifa->ifa_prefixlen);
}

int netif_addr_dump(int nl, netif_addr_fn *fn, void *arg)
{
	struct {
		struct nlmsghdr h;
		struct ifaddrmsg ifa;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = RTM_GETADDR;
	req.ifa.ifa_family = AF_UNSPEC;
	struct addr_dump_ctx x = { fn, arg };
	return nl_talk(nl, &req.h, addr_one, &x);
}

int netif_link_state(const char *name, bool *exists, bool *up)
{
	struct ifreq ifr;
	*exists = *up = false;
	if (strlen(name) >= IFNAMSIZ) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, name, strlen(name));
	int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
	int e = errno;
	close(fd);
	if (rc < 0) {
		if (e == ENODEV)
			return 0;
		errno = e;
		return -1;
	}
	*exists = true;
	*up = (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
	return 0;
}

int netif_monitor_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
	};
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int netif_monitor_drain(int fd)
{
	char buf[8192];
	int n = 0;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS: we missed some; count it as a change */
			if (errno == ENOBUFS)
				n++;
			return n;
		}
		n++;
	}
}

/* ---- announcements ---- */

static int hwaddr(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
	int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
	int e = errno;
	close(fd);
	if (rc < 0) {
		errno = e;
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static int garp(int ifindex, const uint8_t mac[6], const struct ipalloc_addr *a)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(0x0806));
	if (fd < 0)
		return -1;
	struct sockaddr_ll ll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(0x0806),
		.sll_ifindex = ifindex,
		.sll_halen = 6,
		.sll_addr = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
	};
	uint8_t pkt[28], ip[16]; /* to_raw writes 16 bytes for IPv6: room for both */
	to_raw(a, ip);
	int rc = 0;
	for (int op = 1; op <= 2; op++) {
		/* htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, op 1 request / 2 reply;
		 * sender and target protocol addresses are both the announced address. */
		uint8_t hdr[8] = { 0, 1, 0x08, 0, 6, 4, 0, (uint8_t)op };
		memcpy(pkt, hdr, 8);
		memcpy(pkt + 8, mac, 6);
		memcpy(pkt + 14, ip, 4);
		if (op == 1)
			memset(pkt + 18, 0, 6);
		else
			memcpy(pkt + 18, mac, 6);
		memcpy(pkt + 24, ip, 4);
		if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&ll, sizeof ll) < 0)
			rc = -1;
	}
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int unsolicited_na(int ifindex, const uint8_t mac[6], const struct ipalloc_addr *a)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -1;
	int hops = 255;
	unsigned idx = (unsigned)ifindex;
	setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
	setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops);
	setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
	struct sockaddr_in6 src = { .sin6_family = AF_INET6 };
	to_raw(a, src.sin6_addr.s6_addr);
	if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	/* type 136, code 0, checksum (the kernel's), flags: override; target; option 2
	 * (target link-layer address), length 1 (8 bytes). */
	uint8_t pkt[32] = { 136, 0, 0, 0, 0x20, 0, 0, 0 };
	to_raw(a, pkt + 8);
	pkt[24] = 2;
	pkt[25] = 1;
	memcpy(pkt + 26, mac, 6);
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6, .sin6_scope_id = idx };
	inet_pton(AF_INET6, "ff02::1", &dst.sin6_addr);
	int rc = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&dst, sizeof dst) < 0 ? -1 : 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int netif_announce(int ifindex, const char *ifname, const struct ipalloc_addr *a)
{
	uint8_t mac[6];
	if (hwaddr(ifname, mac) < 0)
		return -1;
	return a->family == AF_INET ? garp(ifindex, mac, a) : unsolicited_na(ifindex, mac, a);
}

/* ---- sock_diag ---- */

#define TCPF_ALL_CONN ((1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 7) | \
                       (1u << 8) | (1u << 9) | (1u << 11) | (1u << 12))
/* ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 CLOSE CLOSE_WAIT LAST_ACK CLOSING
 * NEW_SYN_RECV: everything but LISTEN and TIME_WAIT */

typedef void diag_fn(void *arg, const struct inet_diag_msg *m);

struct diag_dump_ctx {
	diag_fn *fn;
	void *arg;
};

static void diag_one(const struct nlmsghdr *r, void *arg)
{
	const struct diag_dump_ctx *x = arg;
	if (r->nlmsg_type == SOCK_DIAG_BY_FAMILY)
		x->fn(x->arg, NLMSG_DATA(r));
}

static int diag_dump(int family, diag_fn *fn, void *arg)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = TCPF_ALL_CONN;
	struct diag_dump_ctx x = { fn, arg };
	int rc = nl_talk(fd, &req.h, diag_one, &x);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static void diag_conn(const struct inet_diag_msg *m, struct netif_conn *c)
{
	from_raw(m->idiag_family, m->id.idiag_src, &c->local);
	from_raw(m->idiag_family, m->id.idiag_dst, &c->remote);
	c->lport = ntohs(m->id.idiag_sport);
	c->rport = ntohs(m->id.idiag_dport);
}

struct list_ctx {
	netif_match_fn *match;
	void *marg;
	netif_conn_fn *fn;
	void *arg;
};

static void list_one(void *arg, const struct inet_diag_msg *m)
{
	struct list_ctx *x = arg;
	struct netif_conn c;
	diag_conn(m, &c);
	if (!x->match || x->match(x->marg, &c.local))
		x->fn(x->arg, &c);
}

int netif_tcp_list(netif_match_fn *match, void *marg, netif_conn_fn *fn, void *arg)
{
	struct list_ctx x = { match, marg, fn, arg };
	if (diag_dump(AF_INET, list_one, &x) < 0)
		return -1;
	if (diag_dump(AF_INET6, list_one, &x) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

#define DESTROY_MAX 4096

struct destroy_ctx {
	const struct ipalloc_addr *a;
	struct inet_diag_sockid id[DESTROY_MAX];
	uint8_t family[DESTROY_MAX];
	unsigned n;
};

static void destroy_collect(void *arg, const struct inet_diag_msg *m)
{
	struct destroy_ctx *x = arg;
	struct ipalloc_addr local;
	from_raw(m->idiag_family, m->id.idiag_src, &local);
	if (ipalloc_addr_cmp(&local, x->a) != 0 || x->n == DESTROY_MAX)
		return;
	x->id[x->n] = m->id;
	x->family[x->n++] = m->idiag_family;
}

int netif_tcp_destroy(const struct ipalloc_addr *a)
{
	static struct destroy_ctx x;
	x.a = a;
	x.n = 0;
	if (diag_dump(AF_INET, destroy_collect, &x) < 0)
		return -1;
	if (diag_dump(AF_INET6, destroy_collect, &x) < 0)
		return -1;
	if (x.n == 0)
		return 0;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int done = 0, err = 0;
	for (unsigned i = 0; i < x.n; i++) {
		struct {
			struct nlmsghdr h;
			struct inet_diag_req_v2 r;
		} req;
		memset(&req, 0, sizeof req);
		req.h.nlmsg_len = sizeof req;
		req.h.nlmsg_type = SOCK_DESTROY;
		req.h.nlmsg_flags = NLM_F_REQUEST;
		req.r.sdiag_family = x.family[i];
		req.r.sdiag_protocol = IPPROTO_TCP;
		req.r.idiag_states = TCPF_ALL_CONN;
		req.r.id = x.id[i];
		if (nl_talk(fd, &req.h, NULL, NULL) == 0)
			done++;
		else if (errno != ENOENT)
			err = errno;
	}
	close(fd);
	if (!done && err) {
		errno = err;
		return -1;
	}
	return done;
}

/* ---- tickle ACKs ---- */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

int netif_tickle(const struct netif_conn *c)
{
	int family = c->local.family;
	if (c->remote.family != family) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(family, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
	if (fd < 0)
		return -1;
	/* We only send: never queue what arrives. */
	int zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &zero, sizeof zero);
	struct sockaddr_storage src, dst;
	socklen_t slen;
	memset(&src, 0, sizeof src);
	memset(&dst, 0, sizeof dst);
	uint8_t ls[16], rs[16];
	to_raw(&c->local, ls);
	to_raw(&c->remote, rs);
	if (family == AF_INET) {
		struct sockaddr_in *s = (void *)&src, *d = (void *)&dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, ls, 4);
		memcpy(&d->sin_addr, rs, 4);
		slen = sizeof *s;
	} else {
		struct sockaddr_in6 *s = (void *)&src, *d = (void *)&dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, ls, 16);
		memcpy(&d->sin6_addr, rs, 16);
		slen = sizeof *s;
		int off = 16; /* the kernel fills the TCP checksum */
		setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof off);
	}
	if (bind(fd, (struct sockaddr *)&src, slen) < 0)
		goto fail;
	/* A bare ACK with sequence and acknowledgement 0, window 1234 (as CTDB's). */
	uint8_t tcp[20] = { 0 };
	tcp[0] = (uint8_t)(c->lport >> 8);
	tcp[1] = (uint8_t)c->lport;
	tcp[2] = (uint8_t)(c->rport >> 8);
	tcp[3] = (uint8_t)c->rport;
	tcp[12] = 5 << 4;
	tcp[13] = 0x10; /* ACK */
	tcp[14] = 1234 >> 8;
	tcp[15] = 1234 & 0xff;
	if (family == AF_INET) {
		uint8_t pseudo[12];
		memcpy(pseudo, ls, 4);
		memcpy(pseudo + 4, rs, 4);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_TCP;
		pseudo[10] = 0;
		pseudo[11] = sizeof tcp;
		uint16_t sum = csum_fold(csum_add(csum_add(0, pseudo, sizeof pseudo), tcp, sizeof tcp));
		tcp[16] = (uint8_t)(sum >> 8);
		tcp[17] = (uint8_t)sum;
	}
	if (sendto(fd, tcp, sizeof tcp, 0, (struct sockaddr *)&dst, slen) < 0)
		goto fail;
	close(fd);
	return 0;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

int netif_promote_secondaries(const char *ifname)
{
	char path[128];
	snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/promote_secondaries", ifname);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, "1\n", 2);
	int e = errno;
	close(fd);
	if (n != 2) {
		errno = n < 0 ? e : EIO;
		return -1;
	}
	return 0;
}
