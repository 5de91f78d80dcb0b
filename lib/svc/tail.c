/* The tail of a script's output: the newest bytes, as printable text. */
#include <string.h>

#include "svc/svc.h"

void tail_append(char *tail, size_t *tail_len, size_t cap, const char *data, size_t len)
{
	if (len >= cap) {
		memcpy(tail, data + len - cap, cap);
		*tail_len = cap;
		return;
	}
	if (*tail_len + len > cap) {
		size_t drop = *tail_len + len - cap;
		memmove(tail, tail + drop, *tail_len - drop);
		*tail_len -= drop;
	}
	memcpy(tail + *tail_len, data, len);
	*tail_len += len;
}

void tail_text(const char *tail, size_t len, char *out, size_t cap)
{
	size_t n = 0;
	if (!cap)
		return;
	/* The newest bytes matter most: skip the oldest if out is short. */
	if (len > cap - 1) {
		tail += len - (cap - 1);
		len = cap - 1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)tail[i];
		out[n++] = (ch == '\n' || ch == '\t' || (ch >= 0x20 && ch < 0x7f)) ? (char)ch : '?';
	}
	while (n > 0 && out[n - 1] == '\n')
		n--;
	out[n] = 0;
}
