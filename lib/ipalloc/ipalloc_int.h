/* Internal state of one ipalloc_run(): the merged list (section 2.3) and the primitives of
 * section 3 shared by the algorithms. Positions 0..m-1 are list order (descending key). */
#ifndef SHOAL_IPALLOC_INT_H
#define SHOAL_IPALLOC_INT_H

#include "ipalloc/ipalloc.h"

#define UNK IPALLOC_UNASSIGNED

struct ipa {
	const struct ipalloc_input *in;
	uint32_t n;                 /* nodes */
	uint32_t m;                 /* addresses in the merged list */
	uint32_t *pos2in;           /* [m] position -> index into in->addrs */
	struct ipalloc_addr *addr;  /* [m] the addresses, in list order */
	uint32_t *owner;            /* [m] */
	uint8_t *avail;             /* [m * n] can_host(k, a) = avail[a * n + k] */
	bool no_takeover;
};

static inline bool ipa_can_host(const struct ipa *s, uint32_t k, uint32_t a)
{
	return s->avail[(size_t)a * s->n + k] != 0;
}

static inline bool ipa_can_take(const struct ipa *s, uint32_t k, uint32_t a)
{
	return !s->no_takeover && ipa_can_host(s, k, a);
}

/* dist(a, b)^2 of positions a and b. */
static inline uint32_t ipa_dist2(const struct ipa *s, uint32_t a, uint32_t b)
{
	const uint32_t *x = s->addr[a].key, *y = s->addr[b].key;
	uint32_t d = 0;

	/* ipalloc_distance(), inlined: it is the inner loop of every dsum update. */
	for (int i = 0; i < 4; i++) {
		uint32_t v = x[i] ^ y[i];
		d += v ? (uint32_t)__builtin_clz(v) : 32;
	}
	return d * d;
}

bool ipa_logging(const struct ipa *s, enum ipalloc_log_level level);
void ipa_log(const struct ipa *s, enum ipalloc_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The text of position a, for log messages. */
const char *ipa_str(const struct ipa *s, uint32_t a, char buf[IPALLOC_ADDRSTRLEN]);

void ipa_unassign_unsuitable(struct ipa *s);

int ipa_lcp2(struct ipa *s);
int ipa_deterministic(struct ipa *s);
int ipa_nondeterministic(struct ipa *s);

#endif
