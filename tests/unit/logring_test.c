/* Unit tests of lib/log/ring.c, the shared-memory log ring: records come back whole and in
 * order across many wraps, a full ring refuses rather than overwrites, the sleep/poke
 * handshake, and a consumer that meets a corrupt ring says so instead of reading out of
 * bounds. Prints a line per failure; exits 1 if any. */
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static void fill(uint8_t *b, size_t len, unsigned seq)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seq * 31 + i);
}

int main(void)
{
	char path[] = "/tmp/logring_test.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return perror("mkstemp"), 2;
	close(fd);
	unlink(path);

	struct log_ring p = { 0 }, c = { 0 };
	CHECK(log_ring_create(&p, path, "unit", getpid()) == 0, "create: %s", strerror(errno));
	CHECK(log_ring_create(&p, path, "unit", getpid()) < 0 && errno == EEXIST, "create twice");
	CHECK(log_ring_open(&c, path) == 0, "open: %s", strerror(errno));
	CHECK(log_ring_pid(&c) == getpid(), "pid");
	CHECK(strcmp(c.h->service, "unit") == 0, "service");

	uint8_t in[LOG_RING_RECORD_MAX], out[LOG_RING_RECORD_MAX];
	size_t len;
	bool poke;
	CHECK(log_ring_get(&c, out, sizeof out, &len) == 0, "empty at first");

	/* The first record pokes (nobody looked yet); later ones do not until logfwd sleeps. */
	fill(in, 10, 0);
	CHECK(log_ring_put(&p, in, 10, &poke) == 0 && poke, "first put pokes");
	CHECK(log_ring_put(&p, in, 10, &poke) == 0 && !poke, "second does not");
	CHECK(!log_ring_sleep(&c), "records wait: no sleep");
	while (log_ring_get(&c, out, sizeof out, &len) == 1)
		;
	CHECK(log_ring_sleep(&c), "empty: sleep");
	CHECK(log_ring_put(&p, in, 10, &poke) == 0 && poke, "after sleep, a put pokes");
	CHECK(log_ring_get(&c, out, sizeof out, &len) == 1 && len == 10, "get");

	/* Many wraps, sizes from 0 to the maximum, produced and consumed in turns. */
	unsigned put = 0, got = 0, refused = 0;
	srand(7);
	for (int round = 0; round < 20000; round++) {
		int burst = rand() % 200;
		for (int k = 0; k < burst; k++) {
			size_t l = (size_t)(rand() % 3 ? rand() % 300 : rand() % (LOG_RING_RECORD_MAX + 1));
			fill(in, l, put);
			in[0] = l ? (uint8_t)put : 0;
			if (log_ring_put(&p, in, l, &poke) < 0) {
				refused++;
				break;
			}
			put++;
		}
		int take = rand() % 250;
		for (int k = 0; k < take && got < put; k++) {
			int rc = log_ring_get(&c, out, sizeof out, &len);
			if (rc != 1) {
				CHECK(0, "get %u: rc %d", got, rc);
				break;
			}
			uint8_t want[LOG_RING_RECORD_MAX];
			fill(want, len, got);
			if (len)
				want[0] = (uint8_t)got;
			if (memcmp(out, want, len) != 0) {
				CHECK(0, "record %u differs (len %zu)", got, len);
				break;
			}
			got++;
		}
	}
	while (log_ring_get(&c, out, sizeof out, &len) == 1)
		got++;
	CHECK(put == got, "put %u, got %u", put, got);
	CHECK(refused > 0, "the ring was never full (test too gentle)");
	CHECK(c.h->head > 10ull * LOG_RING_BYTES, "only %llu bytes went through", (unsigned long long)c.h->head);

	/* Full: refused, and nothing already stored is harmed. */
	fill(in, 1000, 1);
	unsigned n = 0;
	while (log_ring_put(&p, in, 1000, &poke) == 0)
		n++;
	CHECK(n > 200 && n < LOG_RING_BYTES / 1000, "full after %u records of 1000 bytes", n);
	CHECK(log_ring_put(&p, in, LOG_RING_RECORD_MAX + 1, &poke) < 0, "oversized record refused");
	unsigned m = 0;
	while (log_ring_get(&c, out, sizeof out, &len) == 1 && len == 1000 && memcmp(out, in, 1000) == 0)
		m++;
	CHECK(m == n, "stored %u, read back %u", n, m);

	/* Corrupt: a length beyond the area, a head far past the tail. */
	CHECK(log_ring_put(&p, in, 100, &poke) == 0, "put");
	uint32_t bad = LOG_RING_BYTES;
	memcpy(c.data + c.h->tail % LOG_RING_BYTES, &bad, 4);
	CHECK(log_ring_get(&c, out, sizeof out, &len) < 0 && errno == EPROTO, "bad length");
	atomic_store(&c.h->head, c.h->tail + 2ull * LOG_RING_BYTES);
	CHECK(log_ring_get(&c, out, sizeof out, &len) < 0 && errno == EPROTO, "bad head");
	CHECK(log_ring_get(&c, out, 10, &len) < 0, "small buffer");

	log_ring_close(&p);
	log_ring_close(&c);
	/* Not a ring: wrong size. */
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd >= 0)
		close(fd);
	CHECK(log_ring_open(&c, path) < 0 && errno == EINVAL, "a truncated file is no ring");
	unlink(path);

	printf("logring_test: %d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
