/* The deterministic (section 5) and non-deterministic (section 6) algorithms, which balance
 * by coverage: how many addresses of the list a node holds. */
#include "ipalloc/ipalloc_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct basic {
	struct ipa *s;
	uint32_t *cov; /* [n] coverage */
};

static void set_owner(struct basic *b, uint32_t a, uint32_t k)
{
	uint32_t o = b->s->owner[a];
	if (o != UNK)
		b->cov[o]--;
	if (k != UNK)
		b->cov[k]++;
	b->s->owner[a] = k;
}

static int basic_init(struct basic *b, struct ipa *s)
{
	b->s = s;
	b->cov = calloc(s->n, sizeof *b->cov);
	if (!b->cov)
		return -1;
	for (uint32_t a = 0; a < s->m; a++) {
		if (s->owner[a] != UNK)
			b->cov[s->owner[a]]++;
	}
	return 0;
}

/* least_loaded (CTDB's find_takeover_node): 0, or -1 with the owner unchanged. */
static int least_loaded(struct basic *b, uint32_t a)
{
	struct ipa *s = b->s;
	uint32_t best = UNK, min = 0;
	char t[IPALLOC_ADDRSTRLEN];

	for (uint32_t k = 0; k < s->n; k++) {
		if (!ipa_can_take(s, k, a))
			continue;
		if (best == UNK || b->cov[k] < min) {
			best = k;
			min = b->cov[k];
		}
	}
	if (best == UNK) {
		if (ipa_logging(s, IPALLOC_LOG_WARNING))
			ipa_log(s, IPALLOC_LOG_WARNING,
			        "ipalloc.c:find_takeover_node: "
			        "Could not find node to take over public address '%s'",
			        ipa_str(s, a, t));
		return -1;
	}
	set_owner(b, a, best);
	return 0;
}

static void basic_allocate_unassigned(struct basic *b)
{
	struct ipa *s = b->s;
	char t[IPALLOC_ADDRSTRLEN];

	for (uint32_t a = 0; a < s->m; a++) {
		if (s->owner[a] == UNK && least_loaded(b, a) < 0 &&
		    ipa_logging(s, IPALLOC_LOG_WARNING))
			ipa_log(s, IPALLOC_LOG_WARNING, "Failed to find node to cover ip %s",
			        ipa_str(s, a, t));
	}
}

int ipa_deterministic(struct ipa *s)
{
	const struct ipalloc_input *in = s->in;
	struct basic b;
	char t[IPALLOC_ADDRSTRLEN];

	ipa_log(s, IPALLOC_LOG_NOTICE, "Deterministic IPs enabled. Resetting all ip allocations");
	for (uint32_t a = 0; a < s->m; a++) {
		uint32_t home = in->home ? in->home[s->pos2in[a]] : UNK;
		s->owner[a] = a % s->n;
		if (home == UNK)
			continue;
		if (home < s->n)
			s->owner[a] = home;
		else if (ipa_logging(s, IPALLOC_LOG_WARNING))
			ipa_log(s, IPALLOC_LOG_WARNING, "Home node for ip %s: pnn %u too large",
			        ipa_str(s, a, t), home);
	}
	if (in->tunables.no_ip_failback)
		ipa_log(s, IPALLOC_LOG_WARNING,
		        "WARNING: 'NoIPFailback' set but ignored - "
		        "incompatible with 'Deterministic IPs'");
	ipa_unassign_unsuitable(s);
	if (basic_init(&b, s) < 0)
		return -1;
	basic_allocate_unassigned(&b);
	free(b.cov);
	return 0;
}

/* Addresses eligible on the same nodes give the same verdict within one walk of the basic
 * failback (coverage only changes with a move, which restarts the walk): classes of equal
 * eligibility rows let a walk cost O(m + classes * n) instead of O(m * n). */
struct classes {
	uint32_t *of;  /* [m] class of each position */
	uint32_t count;
};

struct rowkey {
	uint64_t hash;
	uint32_t a;
	const struct ipa *s;
};

static int rowkey_cmp(const void *x, const void *y)
{
	const struct rowkey *p = x, *q = y;
	if (p->hash != q->hash)
		return p->hash < q->hash ? -1 : 1;
	int c = memcmp(p->s->avail + (size_t)p->a * p->s->n, q->s->avail + (size_t)q->a * q->s->n,
	               p->s->n);
	if (c)
		return c;
	return p->a < q->a ? -1 : p->a > q->a;
}

static int classes_build(struct classes *c, const struct ipa *s)
{
	struct rowkey *rk = calloc(s->m, sizeof *rk);

	c->of = calloc(s->m, sizeof *c->of);
	c->count = 0;
	if (!rk || !c->of) {
		free(rk);
		free(c->of);
		return -1;
	}
	for (uint32_t a = 0; a < s->m; a++) {
		const uint8_t *row = s->avail + (size_t)a * s->n;
		uint64_t h = 14695981039346656037ull; /* FNV-1a */
		for (uint32_t k = 0; k < s->n; k++)
			h = (h ^ row[k]) * 1099511628211ull;
		rk[a] = (struct rowkey){ .hash = h, .a = a, .s = s };
	}
	qsort(rk, s->m, sizeof *rk, rowkey_cmp);
	for (uint32_t i = 0; i < s->m; i++) {
		if (i == 0 || rk[i].hash != rk[i - 1].hash ||
		    memcmp(s->avail + (size_t)rk[i].a * s->n, s->avail + (size_t)rk[i - 1].a * s->n,
		           s->n) != 0)
			c->count++;
		c->of[rk[i].a] = c->count - 1;
	}
	free(rk);
	return 0;
}

/* Section 6 step 4 (CTDB's basic_failback). */
static int basic_failback(struct basic *b)
{
	struct ipa *s = b->s;
	struct classes c;
	uint32_t *stamp, retries = 0, walk = 1;
	uint8_t *nomax;
	char t[IPALLOC_ADDRSTRLEN];

	if (classes_build(&c, s) < 0)
		return -1;
	stamp = calloc(c.count, sizeof *stamp);
	nomax = calloc(c.count, 1);
	if (!stamp || !nomax) {
		free(stamp);
		free(nomax);
		free(c.of);
		return -1;
	}
again:
	for (uint32_t a = 0; a < s->m; a++) {
		if (s->owner[a] == UNK)
			continue;
		uint32_t cl = c.of[a];
		if (stamp[cl] != walk) {
			uint32_t maxnode = UNK, minnode = UNK, maxnum = 0, minnum = 0;
			for (uint32_t k = 0; k < s->n; k++) {
				if (!ipa_can_take(s, k, a))
					continue;
				uint32_t num = b->cov[k];
				if (maxnode == UNK || num > maxnum) {
					maxnode = k;
					maxnum = num;
				}
				if (minnode == UNK || num < minnum) {
					minnode = k;
					minnum = num;
				}
			}
			if (maxnode != UNK && maxnum > minnum + 1 && retries < s->m + 5) {
				/* Reassign the first of maxnode's addresses, which may not be a. */
				for (uint32_t x = 0; x < s->m; x++) {
					if (s->owner[x] == maxnode) {
						(void)least_loaded(b, x);
						break;
					}
				}
				retries++;
				walk++;
				goto again;
			}
			stamp[cl] = walk;
			nomax[cl] = maxnode == UNK;
		}
		if (nomax[cl] && ipa_logging(s, IPALLOC_LOG_WARNING))
			ipa_log(s, IPALLOC_LOG_WARNING,
			        "ipalloc.c:basic_failback: "
			        "Could not find maxnode. May not be able to serve ip '%s'",
			        ipa_str(s, a, t));
	}
	free(stamp);
	free(nomax);
	free(c.of);
	return 0;
}

int ipa_nondeterministic(struct ipa *s)
{
	struct basic b;
	int r = 0;

	ipa_unassign_unsuitable(s);
	if (basic_init(&b, s) < 0)
		return -1;
	basic_allocate_unassigned(&b);
	if (!s->in->tunables.no_ip_failback)
		r = basic_failback(&b);
	free(b.cov);
	return r;
}
