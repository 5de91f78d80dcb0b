/* public_addresses: the addresses a node may host, as CTDB's file has them.
 *
 *     # comment
 *     10.0.0.101/24 eth1
 *     fd00::101/64 eth1,eth2
 *
 * One `ADDRESS/PREFIX IFACE[,IFACE...]` per line; blank lines and `#` comments are ignored.
 * Addresses are IPv4 or IPv6 and compared in canonical form (fd00:0::101 is fd00::101). A
 * prefix is 1..32 (IPv4) or 1..128 (IPv6). An address listed twice is an error, whatever
 * its spelling. Interfaces are names of at most 15 characters; whether they exist is the
 * daemon's business (pubaddr_check_ifaces). Errors name the file, the line and what was
 * expected (struct conf_error).
 *
 * Library rules: nothing here prints or exits. */
#ifndef SHOAL_PUBADDR_H
#define SHOAL_PUBADDR_H

#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>

#include "conf/conf.h"
#include "ipalloc/ipalloc.h"

#define PUBADDR_MAX        1024
#define PUBADDR_IFACES_MAX 4

struct pubaddr {
	struct ipalloc_addr addr;
	char text[IPALLOC_ADDRSTRLEN];    /* canonical */
	unsigned bits;
	unsigned nifaces;
	char iface[PUBADDR_IFACES_MAX][IF_NAMESIZE];
	unsigned line;
};

struct pubaddr_list {
	unsigned count;
	struct pubaddr a[PUBADDR_MAX];
};

/* 0, or -1 with *err filled. A missing file is an empty list when missing_ok. */
int pubaddr_load(struct pubaddr_list *l, const char *path, bool missing_ok, struct conf_error *err);
int pubaddr_load_stream(struct pubaddr_list *l, FILE *f, const char *name, struct conf_error *err);
/* Parses one "ADDRESS/PREFIX" (prefix required) into e; -1 with the reason in what. */
int pubaddr_parse_prefix(const char *s, struct pubaddr *e, char *what, size_t wlen);
/* The index of the address (any spelling), or -1. */
int pubaddr_find(const struct pubaddr_list *l, const char *addr);
int pubaddr_find_addr(const struct pubaddr_list *l, const struct ipalloc_addr *a);
/* Adds e (ADDRESS/PREFIX and interfaces filled); -1 with EEXIST if listed, ENOSPC if full. */
int pubaddr_add(struct pubaddr_list *l, const struct pubaddr *e);
int pubaddr_remove(struct pubaddr_list *l, const char *addr);
/* Writes the canonical form (one line per address, in list order). */
void pubaddr_print(const struct pubaddr_list *l, FILE *f);
/* Every interface named exists (if_nametoindex); else -1 with the first unknown one in
 * *err (the file's line). */
int pubaddr_check_ifaces(const struct pubaddr_list *l, const char *name, struct conf_error *err);

#endif
