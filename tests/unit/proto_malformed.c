/* Malformed and hostile inputs to the protocol decoder: each is rejected with the right errno,
 * without a crash. Then a seeded mutation loop over valid encodings that only asks for a clean
 * 0 or -1 (run under ASan, it shows that no input makes the decoder read out of bounds).
 * Usage: proto_malformed [SEED [ITERATIONS]]; exits 1 on any failure. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static unsigned failures, checks;
static max_align_t arena_mem[(1u << 20) / sizeof(max_align_t)];
static union proto_any msg;
static struct proto_arena arena;

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

static void check(bool ok, int line, const char *fmt, ...)
{
	va_list ap;

	checks++;
	if (ok)
		return;
	failures++;
	printf("FAIL line %d: ", line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---------------------------------------------------------------- building inputs */

/* Inputs are built with the runtime's own writer, which happily writes what a decoder must
 * refuse (duplicate keys, wrong types), plus raw bytes for what it cannot write. */
static uint8_t in[1 << 20];
static struct proto_writer w;

static void start(void)
{
	proto_writer_init(&w, in, sizeof in);
}

static void raw(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		in[w.len++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}

static void u(uint64_t v) { proto_put_uint(&w, v); }
static void text(const char *s) { proto_put_text(&w, s, strlen(s)); }
static void map(size_t n) { proto_put_map(&w, n); }
static void array(size_t n) { proto_put_array(&w, n); }

/* Decodes the input built so far (from a heap copy of exactly its size, so ASan sees any
 * over-read) and checks the result: want 0 for success, else the errno. */
static int decode_copy(unsigned type, const uint8_t *p, size_t len, struct proto_arena *a)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	if (copy == NULL)
		abort();
	memcpy(copy, p, len);
	rc = proto_decode(type, copy, len, &msg, a);
	free(copy);
	return rc;
}

static void expect(unsigned type, int want, int line, const char *what)
{
	int rc;

	proto_arena_init(&arena, arena_mem, sizeof arena_mem);
	errno = 0;
	rc = decode_copy(type, in, w.len, &arena);
	checks++;
	if (want == 0 ? rc == 0 : rc == -1 && errno == want)
		return;
	failures++;
	printf("FAIL line %d: %s: got %d (%s), want %s\n", line, what, rc,
	       rc ? strerror(errno) : "ok", want ? strerror(want) : "ok");
}

#define EXPECT(type, want, what) expect((type), (want), __LINE__, (what))

/* ---------------------------------------------------------------- the cases */

static void truncation(void)
{
	struct proto_rng g = { 42 };
	uint8_t enc[1 << 16];
	size_t len;

	/* Every strict prefix of a valid encoding is truncated. */
	for (unsigned type = 1; type <= PROTO_TYPE_MAX; type++) {
		if (proto_type_name(type) == NULL)
			continue;
		for (int n = 0; n < 5; n++) {
			proto_arena_init(&arena, arena_mem, sizeof arena_mem);
			CHECK(proto_random(type, &msg, &g, &arena) == 0, "random");
			CHECK(proto_encode(type, &msg, enc, sizeof enc, &len) == 0, "encode");
			for (size_t cut = 0; cut < len; cut++) {
				struct proto_arena a;
				int rc;

				proto_arena_init(&a, arena_mem, sizeof arena_mem);
				rc = decode_copy(type, enc, cut, &a);
				CHECK(rc == -1 && errno == EBADMSG, "%s cut at %zu of %zu: %d",
				      proto_type_name(type), cut, len, rc);
			}
		}
	}
	/* A NULL buffer is empty. */
	proto_arena_init(&arena, arena_mem, sizeof arena_mem);
	CHECK(proto_decode(PROTO_PING, NULL, 0, &msg, &arena) == -1 && errno == EBADMSG,
	      "NULL buffer");
}

static void structure(void)
{
	start(); map(1); u(1); u(5); raw(1, 0x00);
	EXPECT(PROTO_PING, EBADMSG, "trailing byte");
	start(); map(1); u(1); u(5);
	EXPECT(PROTO_PING, 0, "the same without it");
	CHECK(msg.ping.seq == 5, "seq %" PRIu64, msg.ping.seq);

	start(); array(2); u(1); u(5);
	EXPECT(PROTO_PING, EBADMSG, "top-level array");
	start(); u(7);
	EXPECT(PROTO_PING, EBADMSG, "top-level uint");
	start(); map(1); u(1); u(1); u(2); u(2);
	EXPECT(PROTO_PING, EBADMSG, "top-level map followed by more");
	start(); map(2); u(1); u(1); u(1); u(2);
	EXPECT(PROTO_PING, EBADMSG, "duplicate key");
	start(); map(2); u(50); u(1); u(50); u(2);
	EXPECT(PROTO_PING, EBADMSG, "duplicate unknown key");
	start(); map(1); text("seq"); u(1);
	EXPECT(PROTO_PING, EBADMSG, "text key");
	start(); map(1); raw(1, 0x20); u(1);
	EXPECT(PROTO_PING, EBADMSG, "negative key");
	start(); map(UINT64_MAX >> 1); u(1); u(1);
	EXPECT(PROTO_PING, EBADMSG, "map claiming 2^63 pairs");
	start(); raw(9, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "map claiming 2^64-1 pairs");
	start(); raw(1, 0x1c);
	EXPECT(PROTO_PING, EBADMSG, "reserved head 0x1c");
	start(); map(1); u(1); raw(1, 0xe0);
	EXPECT(PROTO_PING, EBADMSG, "simple value 0");
	start(); map(1); u(1); raw(1, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "stray break");
	start(); map(1); u(1); raw(2, 0xf8, 0x20);
	EXPECT(PROTO_PING, EBADMSG, "one-byte simple value");

	/* Empty message bodies are empty maps. */
	start(); map(0);
	EXPECT(PROTO_STATS_GET, 0, "empty map");
	start(); map(1); u(9); text("future");
	EXPECT(PROTO_STATS_GET, 0, "empty message with an unknown field");
	start();
	EXPECT(PROTO_STATS_GET, EBADMSG, "empty input");
}

static void wrong_types(void)
{
	/* u64 field (ping.seq) */
	start(); map(1); u(1); text("1");
	EXPECT(PROTO_PING, EBADMSG, "text for u64");
	start(); map(1); u(1); proto_put_bool(&w, true);
	EXPECT(PROTO_PING, EBADMSG, "bool for u64");
	start(); map(1); u(1); raw(1, 0xf6);
	EXPECT(PROTO_PING, EBADMSG, "null for u64");
	start(); map(1); u(1); raw(3, 0xf9, 0x3c, 0x00);
	EXPECT(PROTO_PING, EBADMSG, "half float for u64");
	start(); map(1); u(1); raw(2, 0xc1, 0x01);
	EXPECT(PROTO_PING, EBADMSG, "tagged uint for u64");
	start(); map(1); u(1); array(0);
	EXPECT(PROTO_PING, EBADMSG, "array for u64");
	/* bytes field (ping.payload) */
	start(); map(1); u(2); text("abc");
	EXPECT(PROTO_PING, EBADMSG, "text for bytes");
	start(); map(1); u(2); u(3);
	EXPECT(PROTO_PING, EBADMSG, "uint for bytes");
	/* text field (error.text) */
	start(); map(1); u(2); proto_put_bytes(&w, "abc", 3);
	EXPECT(PROTO_ERROR, EBADMSG, "bytes for text");
	start(); map(1); u(2); map(0);
	EXPECT(PROTO_ERROR, EBADMSG, "map for text");
	/* enum field (error.code) */
	start(); map(1); u(1); text("busy");
	EXPECT(PROTO_ERROR, EBADMSG, "text for enum");
	/* bool field (view.nodes[].connected) */
	start(); map(1); u(4); array(1); map(1); u(3); u(1);
	EXPECT(PROTO_VIEW, EBADMSG, "uint for bool");
	start(); map(1); u(4); array(1); map(1); u(3); proto_put_bool(&w, true);
	EXPECT(PROTO_VIEW, 0, "bool for bool");
	CHECK(msg.view.nodes_count == 1 && msg.view.nodes[0].connected, "connected");
	/* array field (stats.counters) and its struct items */
	start(); map(1); u(2); map(0);
	EXPECT(PROTO_STATS, EBADMSG, "map for array");
	start(); map(1); u(2); array(1); u(1);
	EXPECT(PROTO_STATS, EBADMSG, "uint for struct item");
	start(); map(1); u(2); array(1); array(0);
	EXPECT(PROTO_STATS, EBADMSG, "array for struct item");
	start(); map(1); u(2); array(1); map(1); u(1); u(1);
	EXPECT(PROTO_STATS, EBADMSG, "uint for text inside a struct item");
}

static void ranges(void)
{
	struct proto_envelope e;

	start(); map(1); u(1); raw(1, 0x20);
	EXPECT(PROTO_PING, EBADMSG, "-1 for u64");
	start(); map(1); u(1); raw(9, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "-2^64 for u64");
	start(); map(1); u(1); u(UINT64_MAX);
	EXPECT(PROTO_PING, 0, "2^64-1 for u64");
	CHECK(msg.ping.seq == UINT64_MAX, "seq");
	start(); map(1); u(2); u(UINT32_MAX);
	EXPECT(PROTO_HEARTBEAT, 0, "2^32-1 for u32");
	start(); map(1); u(2); u((uint64_t)UINT32_MAX + 1);
	EXPECT(PROTO_HEARTBEAT, EBADMSG, "2^32 for u32");
	start(); map(1); u(0); u(0);
	EXPECT(PROTO_HEARTBEAT, 0, "key 0 is unknown, skipped");

	/* u16: the envelope's type, through the buffer-level envelope functions. */
	start(); map(1); u(8); u(65535);
	proto_arena_init(&arena, arena_mem, sizeof arena_mem);
	CHECK(proto_envelope_decode_buf(&e, in, w.len, &arena) == 0 && e.type == 65535,
	      "u16 65535");
	start(); map(1); u(8); u(65536);
	CHECK(proto_envelope_decode_buf(&e, in, w.len, &arena) == -1 && errno == EBADMSG,
	      "u16 overflow");
	start(); map(1); u(8); raw(1, 0x20);
	CHECK(proto_envelope_decode_buf(&e, in, w.len, &arena) == -1 && errno == EBADMSG,
	      "u16 negative");
	start(); map(1); u(8); u(1); raw(1, 0);
	CHECK(proto_envelope_decode_buf(&e, in, w.len, &arena) == -1 && errno == EBADMSG,
	      "envelope trailing byte");

	/* enum */
	start(); map(1); u(1); u(PROTO_ERROR_CODE_UNREACHABLE);
	EXPECT(PROTO_ERROR, 0, "known enum value");
	CHECK(msg.error.code == PROTO_ERROR_CODE_UNREACHABLE, "code");
	start(); map(1); u(1); u(8);
	EXPECT(PROTO_ERROR, EBADMSG, "unknown enum value");
	start(); map(1); u(1); u(0);
	EXPECT(PROTO_ERROR, 0, "enum 0 means absent");
	start(); map(1); u(1); u((uint64_t)1 << 32 | 1);
	EXPECT(PROTO_ERROR, EBADMSG, "enum value 2^32+1");
	start(); map(1); u(1); raw(1, 0x20);
	EXPECT(PROTO_ERROR, EBADMSG, "negative enum value");
}

/* i64: no message has one yet; the decoding helper is checked directly. */
static void i64(void)
{
	struct proto_token t = { .type = PROTO_TOK_UINT };
	int64_t v;

	t.value = INT64_MAX;
	CHECK(proto_get_int(&t, &v) == 0 && v == INT64_MAX, "i64 max");
	t.value = (uint64_t)INT64_MAX + 1;
	CHECK(proto_get_int(&t, &v) == -1 && errno == EBADMSG, "i64 overflow");
	t.type = PROTO_TOK_NEGINT;
	t.value = (uint64_t)INT64_MAX;
	CHECK(proto_get_int(&t, &v) == 0 && v == INT64_MIN, "i64 min");
	t.value = (uint64_t)INT64_MAX + 1;
	CHECK(proto_get_int(&t, &v) == -1 && errno == EBADMSG, "i64 underflow");
	t.value = 0;
	CHECK(proto_get_int(&t, &v) == 0 && v == -1, "i64 -1");
	t.type = PROTO_TOK_TEXT;
	CHECK(proto_get_int(&t, &v) == -1 && errno == EBADMSG, "i64 text");
	/* And through the writer: INT64_MIN and friends come back. */
	int64_t vals[] = { 0, 1, -1, 23, -24, -25, INT64_MAX, INT64_MIN };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		struct proto_reader r;

		start();
		proto_put_int(&w, vals[i]);
		proto_reader_init(&r, in, w.len);
		CHECK(proto_next(&r, &t) == 0 && proto_get_int(&t, &v) == 0 && v == vals[i] &&
		      r.off == w.len, "i64 %" PRId64, vals[i]);
	}
}

static void bounds(void)
{
	static char big[70000];

	memset(big, 'x', sizeof big - 1);
	big[257] = '\0';
	start(); map(1); u(2); text(big);
	EXPECT(PROTO_ERROR, EBADMSG, "text of 257 bytes, bound 256");
	big[257] = 'x';
	big[256] = '\0';
	start(); map(1); u(2); text(big);
	EXPECT(PROTO_ERROR, 0, "text of 256 bytes");
	CHECK(msg.error.text && strlen(msg.error.text) == 256, "text length");
	big[256] = 'x';

	start(); map(1); u(4); proto_put_bytes(&w, big, 33);
	EXPECT(PROTO_HEARTBEAT, EBADMSG, "bytes of 33, bound 32");
	start(); map(1); u(4); proto_put_bytes(&w, big, 32);
	EXPECT(PROTO_HEARTBEAT, 0, "bytes of 32");
	CHECK(msg.heartbeat.nodes_digest.len == 32 &&
	      msg.heartbeat.nodes_digest.data != NULL, "bytes");
	start(); map(1); u(2); proto_put_bytes(&w, big, 65537);
	EXPECT(PROTO_PING, EBADMSG, "bytes of 65537, bound 65536");

	start(); map(1); u(2); array(65);
	for (int i = 0; i < 65; i++)
		map(0);
	EXPECT(PROTO_STATS, EBADMSG, "array of 65, bound 64");
	start(); map(1); u(2); array(64);
	for (int i = 0; i < 64; i++)
		map(0);
	EXPECT(PROTO_STATS, 0, "array of 64");
	start(); map(1); u(2); array(SIZE_MAX);
	EXPECT(PROTO_STATS, EBADMSG, "array claiming 2^64-1 items");
	start(); map(1); u(2); array(10); map(0);
	EXPECT(PROTO_STATS, EBADMSG, "array with fewer items than claimed");

	start(); map(1); u(2); proto_put_text(&w, "a\0b", 3);
	EXPECT(PROTO_ERROR, EBADMSG, "text holding a NUL");
	start(); map(1); u(2); proto_put_text(&w, "", 0);
	EXPECT(PROTO_ERROR, 0, "empty text");
	CHECK(msg.error.text == NULL, "empty text decodes as NULL");
	start(); map(1); u(2); raw(2, 0x79, 0xff);
	EXPECT(PROTO_ERROR, EBADMSG, "text longer than the input");
}

static void indefinite(void)
{
	start(); raw(1, 0xbf); u(1); u(1); raw(1, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "indefinite map");
	start(); map(1); u(2); raw(1, 0x9f); map(0); raw(1, 0xff);
	EXPECT(PROTO_STATS, EBADMSG, "indefinite array");
	start(); map(1); u(2); raw(1, 0x7f); text("ab"); raw(1, 0xff);
	EXPECT(PROTO_ERROR, EBADMSG, "indefinite text");
	start(); map(1); u(2); raw(1, 0x5f); proto_put_bytes(&w, "ab", 2); raw(1, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "indefinite bytes");
	start(); map(1); u(50); raw(1, 0xbf); raw(1, 0xff);
	EXPECT(PROTO_PING, EBADMSG, "indefinite map in an unknown field");
}

static void nesting(void)
{
	/* Unknown fields are skipped, whatever they hold. */
	start(); map(3); u(1); u(5);
	u(50); map(2); u(1); array(3); u(1); u(2); map(1); u(3); text("x");
	u(2); proto_put_bytes(&w, "\0", 1);
	u(51); raw(2, 0xc1, 0x05); /* tag 1 (epoch time) around 5 */
	EXPECT(PROTO_PING, 0, "unknown fields skipped");
	CHECK(msg.ping.seq == 5, "seq after unknown fields");
	start(); map(2); u(50); raw(9, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0); u(1); u(6);
	EXPECT(PROTO_PING, 0, "unknown double skipped");
	CHECK(msg.ping.seq == 6, "seq after a double");

	/* Depth: the top-level map is 1; an unknown value at depth 2 may nest to 16. */
	start(); map(1); u(50);
	for (int i = 2; i <= PROTO_MAX_DEPTH; i++)
		array(1);
	u(0);
	EXPECT(PROTO_PING, 0, "nesting to PROTO_MAX_DEPTH");
	start(); map(1); u(50);
	for (int i = 2; i <= PROTO_MAX_DEPTH + 1; i++)
		array(1);
	u(0);
	EXPECT(PROTO_PING, EBADMSG, "nesting to PROTO_MAX_DEPTH + 1");
	start(); map(1); u(50);
	for (int i = 0; i < 1000; i++)
		array(1);
	u(0);
	EXPECT(PROTO_PING, EBADMSG, "arrays 1000 deep in an unknown field");
	start(); map(1); u(50);
	for (int i = 0; i < 1000; i++) {
		map(1);
		u(1);
	}
	u(0);
	EXPECT(PROTO_PING, EBADMSG, "maps 1000 deep in an unknown field");
	start(); map(1); u(50);
	for (int i = 0; i < 1000; i++)
		raw(1, 0xc1);
	u(0);
	EXPECT(PROTO_PING, EBADMSG, "tags 1000 deep in an unknown field");
	start(); map(1); u(50);
	for (int i = 0; i < 100000; i++)
		raw(1, 0x81);
	EXPECT(PROTO_PING, EBADMSG, "arrays 100000 deep, truncated");
}

static void errors(void)
{
	uint8_t out[64];
	size_t len;
	struct proto_arena small;
	uint8_t small_mem[4];

	/* Unknown types. */
	start(); map(0);
	EXPECT(0, ENOMSG, "type 0");
	EXPECT(PROTO_TYPE_MAX + 1, ENOMSG, "type max + 1");
	EXPECT(19, ENOMSG, "type 19 (unused number)");
	CHECK(proto_type_name(19) == NULL && proto_type_size(19) == 0, "no type 19");
	CHECK(proto_encode(19, &msg, out, sizeof out, &len) == -1 && errno == ENOMSG,
	      "encode type 19");
	CHECK(proto_random(19, &msg, NULL, NULL) == -1 && errno == ENOMSG, "random type 19");
	CHECK(!proto_equal(19, &msg, &msg), "equal type 19");

	/* The arena runs out: text needs len + 1 bytes. */
	start(); map(1); u(2); text("hello");
	proto_arena_init(&small, small_mem, sizeof small_mem);
	CHECK(decode_copy(PROTO_ERROR, in, w.len, &small) == -1 && errno == ENOBUFS,
	      "arena of 4 for 6 bytes");
	proto_arena_init(&small, NULL, 0);
	CHECK(decode_copy(PROTO_ERROR, in, w.len, &small) == -1 && errno == ENOBUFS,
	      "no arena");
	start(); map(1); u(2); array(2); map(0); map(0);
	proto_arena_init(&small, small_mem, sizeof small_mem);
	CHECK(decode_copy(PROTO_STATS, in, w.len, &small) == -1 && errno == ENOBUFS,
	      "arena too small for an array");
	start(); map(1); u(2); proto_put_bytes(&w, "hello", 5);
	CHECK(decode_copy(PROTO_PING, in, w.len, &small) == 0 && msg.ping.payload.len == 5,
	      "bytes need no arena");

	/* Encoding: values out of bounds are EINVAL, a short buffer EMSGSIZE. */
	static char big[300];
	memset(big, 'y', sizeof big - 1);
	struct proto_error e = { .code = PROTO_ERROR_CODE_BUSY, .text = big };
	uint8_t wide[1024];
	CHECK(proto_encode(PROTO_ERROR, &e, wide, sizeof wide, &len) == -1 && errno == EINVAL,
	      "encode text of 299, bound 256");
	e.text = "short";
	e.code = 99;
	CHECK(proto_encode(PROTO_ERROR, &e, wide, sizeof wide, &len) == -1 && errno == EINVAL,
	      "encode enum 99");
	e.code = PROTO_ERROR_CODE_BUSY;
	CHECK(proto_encode(PROTO_ERROR, &e, wide, sizeof wide, &len) == 0 && len == 10,
	      "encode error: %zu", len);
	CHECK(proto_encode(PROTO_ERROR, &e, wide, 9, &len) == -1 && errno == EMSGSIZE,
	      "encode into 9 bytes");
	CHECK(proto_encode(PROTO_ERROR, &e, NULL, 0, &len) == -1 && errno == EMSGSIZE,
	      "encode into NULL");
	CHECK(proto_encode(PROTO_ERROR, &e, big, 0, &len) == -1 && errno == EMSGSIZE,
	      "encode into 0 bytes");
	/* A bad value is EINVAL however small the buffer. */
	e.text = big;
	CHECK(proto_encode(PROTO_ERROR, &e, wide, 3, &len) == -1 && errno == EINVAL,
	      "first error sticks");

	struct proto_counter counters[65] = { { "a", 1 } };
	struct proto_stats st = { .service = "x", .counters = counters, .counters_count = 65 };
	CHECK(proto_encode(PROTO_STATS, &st, wide, sizeof wide, &len) == -1 && errno == EINVAL,
	      "encode array of 65, bound 64");
	st.counters_count = 1;
	st.counters = NULL;
	CHECK(proto_encode(PROTO_STATS, &st, wide, sizeof wide, &len) == -1 && errno == EINVAL,
	      "encode array with NULL items");
	struct proto_heartbeat hb = { .nodes_digest = { (const uint8_t *)big, 33 } };
	CHECK(proto_encode(PROTO_HEARTBEAT, &hb, wide, sizeof wide, &len) == -1 &&
	      errno == EINVAL, "encode bytes of 33, bound 32");
	hb.nodes_digest.data = NULL;
	hb.nodes_digest.len = 1;
	CHECK(proto_encode(PROTO_HEARTBEAT, &hb, wide, sizeof wide, &len) == -1 &&
	      errno == EINVAL, "encode bytes with NULL data");

	/* Absent is zero: an all-zero message is the empty map. */
	memset(&hb, 0, sizeof hb);
	CHECK(proto_encode(PROTO_HEARTBEAT, &hb, wide, sizeof wide, &len) == 0 && len == 1 &&
	      wide[0] == 0xa0, "zero message is a0");
}

static void names(void)
{
	CHECK(strcmp(proto_type_name(PROTO_PING), "ping") == 0, "type name");
	CHECK(proto_type_size(PROTO_VIEW) == sizeof(struct proto_view), "type size");
	CHECK(strcmp(proto_error_code_name(PROTO_ERROR_CODE_NO_SUCH_NODE), "no_such_node") == 0,
	      "enum name");
	CHECK(proto_error_code_name(0) == NULL && proto_error_code_name(8) == NULL,
	      "unknown enum names");
	CHECK(proto_sender_ok(PROTO_PING, "c.123.1"), "any: cli");
	CHECK(proto_sender_ok(PROTO_PING, "ipd"), "any: ipd");
	CHECK(proto_sender_ok(PROTO_HEARTBEAT, "memberd"), "memberd");
	CHECK(!proto_sender_ok(PROTO_HEARTBEAT, "ipd"), "not ipd");
	CHECK(!proto_sender_ok(PROTO_HEARTBEAT, "c.1.1"), "not cli");
	CHECK(!proto_sender_ok(PROTO_HEARTBEAT, NULL), "not NULL");
	CHECK(!proto_sender_ok(19, "memberd"), "unknown type");
}

/* ---------------------------------------------------------------- mutations */

static void mutations(uint64_t seed, unsigned long iterations)
{
	static uint8_t enc[1 << 16], out[1 << 18];
	static union proto_any orig;
	struct proto_rng g = { seed };
	unsigned long accepted = 0;

	for (unsigned long i = 0; i < iterations; i++) {
		unsigned type = 1 + (unsigned)(proto_rng_next(&g) % PROTO_TYPE_MAX);
		size_t len, n;
		int rc;

		if (proto_type_name(type) == NULL)
			continue;
		proto_arena_init(&arena, arena_mem, sizeof arena_mem / 2);
		if (proto_random(type, &orig, &g, &arena) < 0 ||
		    proto_encode(type, &orig, enc, sizeof enc, &len) < 0) {
			CHECK(0, "random/encode %s", proto_type_name(type));
			continue;
		}
		/* Flip bits, overwrite bytes, drop or append a few. */
		for (int k = 1 + (int)(proto_rng_next(&g) % 4); k > 0; k--) {
			uint64_t x = proto_rng_next(&g);
			size_t at = len ? (size_t)(x >> 8) % len : 0;

			switch (x % 4) {
			case 0:
				if (len)
					enc[at] ^= (uint8_t)(1u << (x >> 3) % 8);
				break;
			case 1:
				if (len)
					enc[at] = (uint8_t)(x >> 40);
				break;
			case 2:
				len -= len ? 1 + (x >> 16) % len / 8 : 0;
				break;
			case 3:
				if (len < sizeof enc)
					enc[len++] = (uint8_t)(x >> 40);
				break;
			}
		}
		struct proto_arena a;
		/* Half the time a small arena, to reach ENOBUFS paths too. */
		proto_arena_init(&a, (uint8_t *)arena_mem + sizeof arena_mem / 2,
				 proto_rng_next(&g) & 1 ? 64 : sizeof arena_mem / 2);
		/* Decode from a heap copy of exactly len bytes, so ASan sees any over-read; it
		 * stays alive while the decoded bytes fields point into it. */
		uint8_t *copy = malloc(len ? len : 1);
		struct proto_envelope e;

		if (copy == NULL)
			abort();
		memcpy(copy, enc, len);
		errno = 0;
		rc = proto_decode(type, copy, len, &msg, &a);
		CHECK(rc == 0 || (rc == -1 && (errno == EBADMSG || errno == ENOBUFS)),
		      "mutation %lu of %s: rc %d errno %d", i, proto_type_name(type), rc, errno);
		if (rc == 0) {
			/* Whatever decodes is in bounds, so it encodes again. */
			accepted++;
			CHECK(proto_encode(type, &msg, out, sizeof out, &n) == 0,
			      "mutation %lu: re-encode: %s", i, strerror(errno));
		}
		/* The same bytes as an envelope. */
		rc = proto_envelope_decode_buf(&e, copy, len, &a);
		CHECK(rc == 0 || (rc == -1 && (errno == EBADMSG || errno == ENOBUFS)),
		      "mutation %lu as envelope: rc %d errno %d", i, rc, errno);
		free(copy);
	}
	printf("mutations: %lu iterations, %lu still decoded\n", iterations, accepted);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 1;
	unsigned long iterations = argc > 2 ? strtoul(argv[2], NULL, 0) : 100000;

	truncation();
	structure();
	wrong_types();
	ranges();
	i64();
	bounds();
	indefinite();
	nesting();
	errors();
	names();
	mutations(seed, iterations);
	printf("proto_malformed: seed %" PRIu64 ": %u checks, %u failed\n", seed, checks,
	       failures);
	return failures ? 1 : 0;
}
