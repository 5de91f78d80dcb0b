/* Seeded round trip of every message type:
 *   proto_random -> proto_encode -> proto_decode -> proto_equal, and re-encoding the decoded
 *   message yields the same bytes (the encoding is deterministic).
 * Usage: proto_roundtrip [SEED [COUNT]]; prints one line per type and a summary, exits 1 on any
 * failure. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define BUF_SIZE   (1u << 20)
#define ARENA_SIZE (1u << 20)

static uint8_t buf1[BUF_SIZE], buf2[BUF_SIZE];
static max_align_t arena_mem1[ARENA_SIZE / sizeof(max_align_t)];
static max_align_t arena_mem2[ARENA_SIZE / sizeof(max_align_t)];
static union proto_any msg1, msg2, msg3;

static int one(unsigned type, struct proto_rng *g, unsigned long i)
{
	struct proto_arena a1, a2;
	size_t len1, len2;
	const char *name = proto_type_name(type);

	proto_arena_init(&a1, arena_mem1, sizeof arena_mem1);
	proto_arena_init(&a2, arena_mem2, sizeof arena_mem2);
	if (proto_random(type, &msg1, g, &a1) < 0) {
		printf("%s #%lu: random: %s\n", name, i, strerror(errno));
		return -1;
	}
	if (proto_encode(type, &msg1, buf1, sizeof buf1, &len1) < 0) {
		printf("%s #%lu: encode: %s\n", name, i, strerror(errno));
		return -1;
	}
	memset(&msg2, 0xa5, sizeof msg2); /* proto_decode must zero it */
	if (proto_decode(type, buf1, len1, &msg2, &a2) < 0) {
		printf("%s #%lu: decode of %zu bytes: %s\n", name, i, len1, strerror(errno));
		return -1;
	}
	if (!proto_equal(type, &msg1, &msg2) || !proto_equal(type, &msg2, &msg1)) {
		printf("%s #%lu: decoded message differs\n", name, i);
		return -1;
	}
	if (proto_encode(type, &msg2, buf2, sizeof buf2, &len2) < 0) {
		printf("%s #%lu: re-encode: %s\n", name, i, strerror(errno));
		return -1;
	}
	if (len1 != len2 || memcmp(buf1, buf2, len1) != 0) {
		printf("%s #%lu: re-encoding differs (%zu vs %zu bytes)\n", name, i, len1, len2);
		return -1;
	}
	/* Exactly len1 bytes fit; one fewer must not. */
	if (proto_encode(type, &msg1, buf2, len1, &len2) < 0 || len2 != len1) {
		printf("%s #%lu: encode into exactly %zu bytes failed\n", name, i, len1);
		return -1;
	}
	if (proto_encode(type, &msg1, buf2, len1 - 1, &len2) == 0 || errno != EMSGSIZE) {
		printf("%s #%lu: encode into %zu bytes did not fail with EMSGSIZE\n", name, i,
		       len1 - 1);
		return -1;
	}
	/* A trailing byte is rejected. */
	buf1[len1] = 0;
	if (proto_decode(type, buf1, len1 + 1, &msg3, &a2) == 0 || errno != EBADMSG) {
		printf("%s #%lu: trailing byte accepted\n", name, i);
		return -1;
	}
	return 0;
}

/* The envelope is a struct, not a message: it has its own *_buf functions. */
static int envelopes(struct proto_rng *g, unsigned long count)
{
	struct proto_envelope e1, e2;
	struct proto_arena a1, a2;
	size_t len1, len2;
	unsigned long i;

	for (i = 0; i < count; i++) {
		proto_arena_init(&a1, arena_mem1, sizeof arena_mem1);
		proto_arena_init(&a2, arena_mem2, sizeof arena_mem2);
		if (proto_envelope_random(&e1, g, &a1) < 0 ||
		    proto_envelope_encode_buf(&e1, buf1, sizeof buf1, &len1) < 0 ||
		    proto_envelope_decode_buf(&e2, buf1, len1, &a2) < 0 ||
		    !proto_envelope_equal(&e1, &e2) ||
		    proto_envelope_encode_buf(&e2, buf2, sizeof buf2, &len2) < 0 ||
		    len1 != len2 || memcmp(buf1, buf2, len1) != 0)
			break;
	}
	printf("    %-20s %s (%lu envelopes)\n", "struct envelope", i < count ? "FAIL" : "ok",
	       count);
	return i < count ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	unsigned long count = argc > 2 ? strtoul(argv[2], NULL, 0) : 2000;
	struct proto_rng g = { seed };
	unsigned types = 0, failed = 0;

	if (argc > 3) {
		fprintf(stderr, "usage: proto_roundtrip [SEED [COUNT]]\n");
		return 100;
	}
	for (unsigned type = 0; type <= PROTO_TYPE_MAX + 1; type++) {
		const char *name = proto_type_name(type);
		unsigned long bad = 0;

		if (name == NULL)
			continue;
		if (proto_type_size(type) > sizeof(union proto_any)) {
			printf("%s: size %zu exceeds union proto_any\n", name, proto_type_size(type));
			bad++;
		}
		for (unsigned long i = 0; i < count; i++) {
			if (one(type, &g, i) < 0 && ++bad >= 10)
				break;
		}
		printf("%-3u %-20s %s (%lu messages)\n", type, name, bad ? "FAIL" : "ok", count);
		types++;
		failed += bad != 0;
	}
	if (envelopes(&g, count) < 0)
		failed++;
	printf("proto_roundtrip: seed %" PRIu64 ": %u types, %u failed\n", seed, types, failed);
	return failed || types == 0 ? 1 : 0;
}
