/* The nodes file: one address per line, numbered from 0 in line order (see conf.h). */
#include "conf/conf.h"
#include "conf/conf_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Node i's line of the canonical file, newline included: what nodes_print writes and the
 * digest covers. */
static int node_line(const struct conf_nodes *n, unsigned i, char *buf, size_t len)
{
	const struct conf_node *nd = &n->node[i];
	return snprintf(buf, len, "%s%s\n", nd->deleted ? "#" : "", nd->address);
}

void nodes_print(const struct conf_nodes *n, FILE *f)
{
	char line[CONF_ADDR_MAX + 2];
	for (unsigned i = 0; i < n->count; i++) {
		node_line(n, i, line, sizeof line);
		fputs(line, f);
	}
}

int nodes_find(const struct conf_nodes *n, const char *addr)
{
	for (unsigned i = 0; i < n->count; i++)
		if (!n->node[i].deleted && strcmp(n->node[i].address, addr) == 0)
			return (int)i;
	return -1;
}

int nodes_compatible(const struct conf_nodes *a, const struct conf_nodes *b, char *why, size_t len)
{
	unsigned n = a->count < b->count ? a->count : b->count;
	for (unsigned i = 0; i < n; i++) {
		const struct conf_node *x = &a->node[i], *y = &b->node[i];
		if (x->deleted || y->deleted) {
			/* A `#` line may keep or drop its address; a live one must be the same node. */
			if (x->deleted && y->deleted)
				continue;
			const struct conf_node *del = x->deleted ? x : y, *live = x->deleted ? y : x;
			if (!del->address[0] || strcmp(del->address, live->address) == 0)
				continue;
		} else if (strcmp(x->address, y->address) == 0) {
			continue;
		}
		snprintf(why, len, "node %u is %s%s in one list and %s%s in the other", i,
		         x->deleted ? "#" : "", x->address, y->deleted ? "#" : "", y->address);
		return -1;
	}
	return 0;
}

int nodes_reload_ok(const struct conf_nodes *cur, const struct conf_nodes *next, char *why,
                    size_t len)
{
	if (next->count < cur->count) {
		snprintf(why, len, "the new list has %u nodes, fewer than the %u running: turn a "
		         "removed node's line into #ADDRESS instead of deleting it", next->count,
		         cur->count);
		return -1;
	}
	for (unsigned i = 0; i < cur->count; i++)
		if (cur->node[i].deleted && !next->node[i].deleted) {
			snprintf(why, len, "node %u was deleted and cannot come back under its number; "
			         "add it at the end instead", i);
			return -1;
		}
	return nodes_compatible(cur, next, why, len);
}

/* One node's line (trimmed, not blank, not a comment) into n->node[n->count]. */
static int parse_node(struct conf_nodes *n, char *s, unsigned *lines, unsigned lineno,
		      const char *name, struct conf_error *err)
{
	struct conf_node *nd = &n->node[n->count];
	char q[64];

	if (n->count == CONF_MAX_NODES) {
		conf_err_set(err, name, lineno, "more than %d nodes", CONF_MAX_NODES);
		return -1;
	}
	lines[n->count] = lineno;
	memset(nd, 0, sizeof *nd);
	if (*s == '#') {
		nd->deleted = true;
		s = conf_trim(s + 1);
		if (*s && conf_parse_address(s, nd->address, sizeof nd->address) < 0) {
			conf_err_set(err, name, lineno,
				     "expected a deleted node (# and an optional IPv4 or IPv6 address), "
				     "got \"#%s\" (comments start with ;)",
				     conf_quote(s, q, sizeof q));
			return -1;
		}
		n->count++;
		return 0;
	}
	if (conf_parse_address(s, nd->address, sizeof nd->address) < 0) {
		conf_err_set(err, name, lineno, "expected an IPv4 or IPv6 address, got \"%s\"",
			     conf_quote(s, q, sizeof q));
		return -1;
	}
	int other = nodes_find(n, nd->address);
	if (other >= 0) {
		conf_err_set(err, name, lineno, "duplicate address %s (node %d, line %u)",
			     nd->address, other, lines[other]);
		return -1;
	}
	n->count++;
	return 0;
}

struct nodes_reader {
	struct conf_nodes *n;
	unsigned *lines;
	const char *name;
	struct conf_error *err;
};

/* `#` is not a comment here: it marks a deleted node. */
static int nodes_line(void *arg, char *s, unsigned lineno)
{
	struct nodes_reader *x = arg;
	if (*s == ';')
		return 0;
	return parse_node(x->n, s, x->lines, lineno, x->name, x->err);
}

int nodes_load_stream(struct conf_nodes *n, FILE *f, const char *name, struct conf_error *err)
{
	unsigned lines[CONF_MAX_NODES]; /* line of each node, for errors */
	struct nodes_reader x = { n, lines, name, err };

	memset(n, 0, sizeof *n);
	if (conf_each_line(f, name, err, nodes_line, &x) < 0)
		return -1;

	unsigned live = 0;
	for (unsigned i = 0; i < n->count; i++)
		live += !n->node[i].deleted;
	if (n->count == 0 || live == 0) {
		conf_err_set(err, name, 0, n->count ? "every node is deleted" : "no nodes listed");
		errno = EINVAL;
		return -1;
	}

	/* crypto_hash_sha256 needs no sodium_init(): it has no CPU dispatch and no randomness. */
	crypto_hash_sha256_state st;
	char buf[CONF_ADDR_MAX + 2];
	crypto_hash_sha256_init(&st);
	for (unsigned i = 0; i < n->count; i++) {
		int l = node_line(n, i, buf, sizeof buf);
		crypto_hash_sha256_update(&st, (const unsigned char *)buf, (unsigned long long)l);
	}
	crypto_hash_sha256_final(&st, n->digest);
	return 0;
}

int nodes_load(struct conf_nodes *n, const char *path, struct conf_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		memset(n, 0, sizeof *n);
		conf_err_set(err, path, 0, "%s", strerror(e));
		errno = e;
		return -1;
	}
	int r = nodes_load_stream(n, f, path, err);
	int e = errno;
	fclose(f);
	errno = e;
	return r;
}
