/* libFuzzer target for the protocol decoder. The first byte picks a message type (modulo the
 * number of types), the rest is decoded as that message and, whole input, as an envelope.
 * Whatever decodes must encode again, and the re-encoding must decode to an equal message
 * and re-encode to the same bytes. Build and run: `make fuzz`, then
 *   build-fuzz/fuzz/proto_decode -max_total_time=60 tests/fuzz/corpus */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static max_align_t arena_mem[2][(64u << 10) / sizeof(max_align_t)];
static uint8_t enc1[1u << 20], enc2[1u << 20];
static union proto_any msg1, msg2;

static unsigned pick_type(uint8_t b)
{
	static unsigned types[PROTO_TYPE_MAX + 1], ntypes;

	if (ntypes == 0) {
		for (unsigned t = 1; t <= PROTO_TYPE_MAX; t++)
			if (proto_type_name(t) != NULL)
				types[ntypes++] = t;
	}
	return types[b % ntypes];
}

static void must(bool ok)
{
	if (!ok)
		abort();
}

static void one_message(unsigned type, const uint8_t *data, size_t size)
{
	struct proto_arena a1, a2;
	size_t len1, len2;

	proto_arena_init(&a1, arena_mem[0], sizeof arena_mem[0]);
	if (proto_decode(type, data, size, &msg1, &a1) < 0) {
		must(errno == EBADMSG || errno == ENOBUFS);
		return;
	}
	must(proto_encode(type, &msg1, enc1, sizeof enc1, &len1) == 0);
	proto_arena_init(&a2, arena_mem[1], sizeof arena_mem[1]);
	must(proto_decode(type, enc1, len1, &msg2, &a2) == 0);
	must(proto_equal(type, &msg1, &msg2));
	must(proto_encode(type, &msg2, enc2, sizeof enc2, &len2) == 0);
	must(len1 == len2 && memcmp(enc1, enc2, len1) == 0);
}

static void one_envelope(const uint8_t *data, size_t size)
{
	struct proto_envelope e1, e2;
	struct proto_arena a1, a2;
	size_t len1, len2;

	proto_arena_init(&a1, arena_mem[0], sizeof arena_mem[0]);
	if (proto_envelope_decode_buf(&e1, data, size, &a1) < 0) {
		must(errno == EBADMSG || errno == ENOBUFS);
		return;
	}
	must(proto_envelope_encode_buf(&e1, enc1, sizeof enc1, &len1) == 0);
	proto_arena_init(&a2, arena_mem[1], sizeof arena_mem[1]);
	must(proto_envelope_decode_buf(&e2, enc1, len1, &a2) == 0);
	must(proto_envelope_equal(&e1, &e2));
	must(proto_envelope_encode_buf(&e2, enc2, sizeof enc2, &len2) == 0);
	must(len1 == len2 && memcmp(enc1, enc2, len1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	one_message(pick_type(data[0]), data + 1, size - 1);
	one_envelope(data, size);
	return 0;
}
