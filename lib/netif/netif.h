/* The kernel side of public addresses: rtnetlink (addresses on interfaces, link changes),
 * announcements (gratuitous ARP over AF_PACKET, unsolicited neighbour advertisements over
 * ICMPv6), and TCP connections through sock_diag (list them, SOCK_DESTROY them) and raw
 * sockets (tickle ACKs).
 *
 * Library rules: nothing here prints or exits; calls return 0 (or a count) or -1 with errno.
 * Every call is bounded: netlink answers come from the kernel at once, sockets are
 * non-blocking where a peer is involved. */
#ifndef SHOAL_NETIF_H
#define SHOAL_NETIF_H

#include <stdbool.h>
#include <stdint.h>

#include "ipalloc/ipalloc.h"

/* A request socket for rtnetlink (blocking, answers are immediate); -1 with errno. */
int netif_nl_open(void);
/* Adds addr/bits on ifindex (IPv6 with IFA_F_NODAD: usable at once, not tentative). An
 * address already there is success. */
int netif_addr_add(int nl, int ifindex, const struct ipalloc_addr *a, unsigned bits);
/* Removes it; an address not there (EADDRNOTAVAIL) is success. */
int netif_addr_del(int nl, int ifindex, const struct ipalloc_addr *a, unsigned bits);

typedef void netif_addr_fn(void *arg, int ifindex, const struct ipalloc_addr *a, unsigned bits);
/* Calls fn for every IPv4 and IPv6 address of every interface. */
int netif_addr_dump(int nl, netif_addr_fn *fn, void *arg);

/* exists/up (IFF_UP and IFF_RUNNING: administratively up, with carrier). */
int netif_link_state(const char *name, bool *exists, bool *up);

/* A non-blocking socket that receives link and address changes (RTMGRP_LINK, IPv4 and IPv6
 * address groups). The caller polls it and calls netif_monitor_drain, which returns how
 * many messages it read (a change happened when > 0). */
int netif_monitor_open(void);
int netif_monitor_drain(int fd);

/* One gratuitous ARP request and reply (IPv4) or one unsolicited neighbour advertisement
 * with the override flag (IPv6) for a on ifindex. */
int netif_announce(int ifindex, const char *ifname, const struct ipalloc_addr *a);

struct netif_conn {
	struct ipalloc_addr local, remote;   /* IPv4-mapped IPv6 sockets are given as IPv4 */
	uint16_t lport, rport;
};
typedef void netif_conn_fn(void *arg, const struct netif_conn *c);
/* Every TCP connection (established or closing, not listening) whose local address
 * satisfies match (NULL: all). */
typedef bool netif_match_fn(void *arg, const struct ipalloc_addr *local);
int netif_tcp_list(netif_match_fn *match, void *marg, netif_conn_fn *fn, void *arg);
/* SOCK_DESTROYs every TCP socket whose local address is a; returns how many, or -1 (errno
 * EOPNOTSUPP when the kernel lacks CONFIG_INET_DIAG_DESTROY). */
int netif_tcp_destroy(const struct ipalloc_addr *a);
/* A tickle ACK (seq 0, ack 0) from c->local:lport to c->remote:rport: the client answers
 * with a correct ACK, which the new owner (no such socket) answers with a reset. */
int netif_tickle(const struct netif_conn *c);

/* Writes 1 to /proc/sys/net/ipv4/conf/IFACE/promote_secondaries, so removing the first
 * address of a subnet does not remove the others with it. */
int netif_promote_secondaries(const char *ifname);

#endif
