/* Addresses in canonical form: parsing, printing, the output order and LCP2's distance. */
#include "ipalloc/ipalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

int ipalloc_addr_parse(struct ipalloc_addr *a, const char *s)
{
	unsigned char b[16];

	memset(a, 0, sizeof *a);
	if (!s) { /* an empty text field decodes as NULL */
		errno = EINVAL;
		return -1;
	}
	if (inet_pton(AF_INET, s, b) == 1) {
		a->family = AF_INET;
		a->key[3] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		a->family = AF_INET6;
		for (int i = 0; i < 4; i++)
			a->key[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
			            (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
		return 0;
	}
	errno = EINVAL;
	return -1;
}

const char *ipalloc_addr_format(const struct ipalloc_addr *a, char *buf, size_t len)
{
	unsigned char b[16];

	if (a->family == AF_INET) {
		for (int i = 0; i < 4; i++)
			b[i] = (unsigned char)(a->key[3] >> (24 - 8 * i));
	} else {
		for (int i = 0; i < 16; i++)
			b[i] = (unsigned char)(a->key[i / 4] >> (24 - 8 * (i % 4)));
	}
	if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, b, buf, (socklen_t)len)) {
		if (len > 0)
			buf[0] = '\0';
	}
	return buf;
}

int ipalloc_addr_cmp(const struct ipalloc_addr *a, const struct ipalloc_addr *b)
{
	for (int i = 0; i < 4; i++) {
		if (a->key[i] != b->key[i])
			return a->key[i] > b->key[i] ? -1 : 1;
	}
	if (a->family != b->family)
		return a->family == AF_INET6 ? -1 : 1;
	return 0;
}

unsigned ipalloc_distance(const struct ipalloc_addr *a, const struct ipalloc_addr *b)
{
	unsigned d = 0;

	for (int i = 0; i < 4; i++) {
		uint32_t x = a->key[i] ^ b->key[i];
		d += x ? (unsigned)__builtin_clz(x) : 32;
	}
	return d;
}
