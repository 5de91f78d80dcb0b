/* ipalloc_run(): checks the input, builds the merged list (section 2.3), runs the algorithm
 * and maps the owners back to the caller's order. Logging goes to the caller's callback. */
#include "ipalloc/ipalloc_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

bool ipa_logging(const struct ipa *s, enum ipalloc_log_level level)
{
	return s->in->log && level <= s->in->log_level;
}

void ipa_log(const struct ipa *s, enum ipalloc_log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!ipa_logging(s, level))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->in->log(s->in->log_arg, level, msg);
}

const char *ipa_str(const struct ipa *s, uint32_t a, char buf[IPALLOC_ADDRSTRLEN])
{
	return ipalloc_addr_format(&s->addr[a], buf, IPALLOC_ADDRSTRLEN);
}

void ipa_unassign_unsuitable(struct ipa *s)
{
	char b[IPALLOC_ADDRSTRLEN];

	for (uint32_t a = 0; a < s->m; a++) {
		uint32_t o = s->owner[a];
		if (o == UNK || ipa_can_host(s, o, a))
			continue;
		if (ipa_logging(s, IPALLOC_LOG_DEBUG))
			ipa_log(s, IPALLOC_LOG_DEBUG, "Unassign IP: %s from %d", ipa_str(s, a, b),
			        (int)o);
		s->owner[a] = UNK;
	}
}

struct sortent {
	struct ipalloc_addr addr;
	uint32_t idx;
};

static int sortent_cmp(const void *x, const void *y)
{
	const struct sortent *a = x, *b = y;
	int c = ipalloc_addr_cmp(&a->addr, &b->addr);
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int check_input(const struct ipalloc_input *in)
{
	if (in->num_nodes == 0 || !in->node_flags ||
	    (in->num_addrs > 0 && (!in->addrs || !in->current || !in->known)) ||
	    (in->num_force_rebalance > 0 && !in->force_rebalance)) {
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)in->num_addrs * in->num_nodes > IPALLOC_MAX_PAIRS) {
		errno = E2BIG;
		return -1;
	}
	for (uint32_t a = 0; a < in->num_addrs; a++) {
		if (in->addrs[a].family != AF_INET && in->addrs[a].family != AF_INET6) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

/* Sorts, drops addresses no node knows, and fills in the trusted owners and eligibility. */
static int build_list(struct ipa *s, struct sortent *ent)
{
	const struct ipalloc_input *in = s->in;
	uint32_t n = s->n;
	bool *eligible = calloc(n, sizeof *eligible);

	if (!eligible)
		return -1;
	for (uint32_t k = 0; k < n; k++)
		eligible[k] = (in->node_flags[k] & IPALLOC_INELIGIBLE) == 0 &&
		              (!in->runstate || in->runstate[k] == IPALLOC_RS_RUNNING);

	for (uint32_t a = 0; a < in->num_addrs; a++) {
		ent[a].addr = in->addrs[a];
		ent[a].idx = a;
	}
	qsort(ent, in->num_addrs, sizeof *ent, sortent_cmp);

	s->m = 0;
	for (uint32_t i = 0; i < in->num_addrs; i++) {
		if (i > 0 && ipalloc_addr_cmp(&ent[i - 1].addr, &ent[i].addr) == 0) {
			free(eligible);
			errno = EINVAL;
			return -1;
		}
		uint32_t ia = ent[i].idx;
		const uint8_t *known = in->known + (size_t)ia * n;
		bool any = false;
		for (uint32_t k = 0; k < n && !any; k++)
			any = known[k] != 0;
		if (!any)
			continue; /* no node lists it: not in CTDB's list either */
		uint32_t p = s->m++;
		uint8_t *avail = s->avail + (size_t)p * n;
		s->pos2in[p] = ia;
		s->addr[p] = ent[i].addr;
		for (uint32_t k = 0; k < n; k++)
			avail[k] = known[k] && eligible[k];
		uint32_t cur = in->current[ia];
		s->owner[p] = cur < n && known[cur] ? cur : UNK;
	}
	free(eligible);
	return 0;
}

int ipalloc_run(const struct ipalloc_input *in, uint32_t *owner)
{
	struct ipa s = { .in = in, .n = in->num_nodes, .no_takeover = in->tunables.no_ip_takeover };
	struct sortent *ent = NULL;
	uint32_t na = in->num_addrs;
	int r = -1, saved;

	if (check_input(in) < 0)
		return -1;
	for (uint32_t a = 0; a < na; a++)
		owner[a] = UNK;
	if (na == 0)
		return 0;

	ent = calloc(na, sizeof *ent);
	s.pos2in = calloc(na, sizeof *s.pos2in);
	s.addr = calloc(na, sizeof *s.addr);
	s.owner = calloc(na, sizeof *s.owner);
	s.avail = calloc((size_t)na * s.n, 1);
	if (!ent || !s.pos2in || !s.addr || !s.owner || !s.avail)
		goto out;
	if (build_list(&s, ent) < 0)
		goto out;

	if (in->tunables.disable_ip_failover) {
		/* CTDB_DISABLE_IP_FAILOVER: the takeover run is skipped, nothing moves. */
		r = 0;
	} else {
		switch (in->algorithm) {
		case IPALLOC_DETERMINISTIC:
			r = ipa_deterministic(&s);
			break;
		case IPALLOC_NONDETERMINISTIC:
			r = ipa_nondeterministic(&s);
			break;
		case IPALLOC_LCP2:
		default:
			r = ipa_lcp2(&s);
			break;
		}
	}
	if (r == 0) {
		for (uint32_t p = 0; p < s.m; p++)
			owner[s.pos2in[p]] = s.owner[p];
	}
out:
	saved = errno;
	free(ent);
	free(s.pos2in);
	free(s.addr);
	free(s.owner);
	free(s.avail);
	errno = saved;
	return r;
}
