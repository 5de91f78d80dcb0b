/* shoal wire protocol: CBOR bodies generated from lib/proto/shoal.schema.
 *
 * Encoding (version 1): every struct and message body is a definite-length CBOR map whose
 * keys are the schema's field numbers (unsigned integers) in increasing order. Absent fields
 * decode as zero / NULL / empty. Decoders skip unknown keys (forward compatibility) and
 * reject: a non-map top level, non-uint or duplicate keys, wrong value types, integers out of
 * the field's range, unknown enum values, text or bytes longer than the schema's bound, text
 * holding a NUL, arrays longer than their bound, indefinite-length items, nesting deeper than
 * PROTO_MAX_DEPTH and trailing bytes. A decoder never allocates: text and arrays go to a
 * caller-supplied arena, bytes point into the input buffer.
 *
 * The generated half of this API lives in proto_gen.h (made by lib/proto/gen.py).
 */
#ifndef SHOAL_PROTO_H
#define SHOAL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION   1
/* The oldest version this build still speaks: peers within [MIN, VERSION] are accepted, so
 * a rolling upgrade can run old and new nodes side by side. */
#define PROTO_VERSION_MIN 1
#define PROTO_MAX_DEPTH 16

/* Bump allocator over caller memory; decoders take text and arrays from it. */
struct proto_arena {
	uint8_t *base;
	size_t cap;
	size_t used;
};

void proto_arena_init(struct proto_arena *a, void *mem, size_t cap);
void *proto_arena_alloc(struct proto_arena *a, size_t size, size_t align);
/* n zeroed items of size bytes; NULL with errno ENOBUFS if they do not fit (or overflow). */
void *proto_arena_array(struct proto_arena *a, uint64_t n, size_t size, size_t align);

/* Appends CBOR to a fixed buffer. The first failure sticks in err (EMSGSIZE, EINVAL), so an
 * encoder can write a whole struct and check once; an EINVAL (a value out of its bound)
 * replaces an EMSGSIZE, so a bad value is reported however small the buffer. */
struct proto_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

void proto_writer_init(struct proto_writer *w, void *buf, size_t cap);
void proto_put_uint(struct proto_writer *w, uint64_t v);
void proto_put_int(struct proto_writer *w, int64_t v);
void proto_put_bool(struct proto_writer *w, bool v);
void proto_put_text(struct proto_writer *w, const char *s, size_t len);
void proto_put_bytes(struct proto_writer *w, const void *p, size_t len);
void proto_put_map(struct proto_writer *w, size_t pairs);
void proto_put_array(struct proto_writer *w, size_t items);

/* Pull reader over cbor_stream_decode: one token (item head) at a time. */
enum proto_tok {
	PROTO_TOK_UINT = 1,
	PROTO_TOK_NEGINT,   /* value holds the CBOR argument n, meaning -1 - n */
	PROTO_TOK_BYTES,
	PROTO_TOK_TEXT,
	PROTO_TOK_ARRAY,    /* value holds the item count */
	PROTO_TOK_MAP,      /* value holds the pair count */
	PROTO_TOK_BOOL,
	PROTO_TOK_NULL,
	PROTO_TOK_OTHER,    /* tags, floats, undefined: valid CBOR that shoal never sends;
	                     * len is 1 for a tag (its tagged item is the next token), else 0 */
};

struct proto_token {
	enum proto_tok type;
	uint64_t value;
	const uint8_t *data; /* BYTES, TEXT: points into the input */
	size_t len;
};

struct proto_reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

void proto_reader_init(struct proto_reader *r, const void *buf, size_t len);
/* 0 and a token, or -1 with errno EBADMSG (truncated, malformed, indefinite length). */
int proto_next(struct proto_reader *r, struct proto_token *t);
/* Skips the value whose head is t (already read), nested items included. depth is t's
 * nesting level (a body's top-level map is 1); containers deeper than PROTO_MAX_DEPTH are
 * rejected with EBADMSG. */
int proto_skip(struct proto_reader *r, const struct proto_token *t, int depth);

/* Deterministic generator for the generated random-message test support. */
struct proto_rng {
	uint64_t s;
};
uint64_t proto_rng_next(struct proto_rng *g);

/* A `bytes` field: points into the decoded buffer (no copy); len 0 means absent. */
struct proto_bytes {
	const uint8_t *data;
	size_t len;
};

/* Helpers for the generated code (proto_gen.c); each failing one sets errno and returns -1. */
int proto_bad(void);                                   /* errno = EBADMSG, returns -1 */
void proto_writer_fail(struct proto_writer *w, int err); /* keeps the first error */
int proto_writer_status(const struct proto_writer *w);  /* 0, or -1 with errno = w->err */
/* Text or bytes, EINVAL in w if longer than max (s may be NULL: written as ""). */
void proto_put_text_max(struct proto_writer *w, const char *s, size_t max);
void proto_put_bytes_max(struct proto_writer *w, const struct proto_bytes *b, size_t max);
/* A map head at nesting depth (the top level is 1), an array head holding at most max. */
int proto_check_map(const struct proto_token *t, int depth);
int proto_check_array(const struct proto_token *t, size_t max, int depth);
/* Reads a map key (a uint, not seen before) and the head of its value. */
int proto_next_field(struct proto_reader *r, uint64_t *seen, uint64_t *key,
	struct proto_token *v);
int proto_get_uint(const struct proto_token *t, uint64_t max, uint64_t *v);
int proto_get_int(const struct proto_token *t, int64_t *v);
int proto_get_bool(const struct proto_token *t, bool *v);
/* Text is copied into the arena with a NUL; zero length decodes as NULL. */
int proto_get_text(const struct proto_token *t, size_t max, struct proto_arena *a,
	const char **s);
int proto_get_bytes(const struct proto_token *t, size_t max, struct proto_bytes *b);
/* Random values: magnitudes spread over all widths; text/bytes of 0..max from the arena. */
uint64_t proto_rng_varied(struct proto_rng *g);
int64_t proto_rng_i64(struct proto_rng *g);
int proto_random_text(struct proto_rng *g, struct proto_arena *a, size_t max, const char **s);
int proto_random_bytes(struct proto_rng *g, struct proto_arena *a, size_t max,
	struct proto_bytes *b);
/* NULL text equals ""; empty bytes are equal whatever their pointers. */
bool proto_text_equal(const char *x, const char *y);
bool proto_bytes_equal(const struct proto_bytes *x, const struct proto_bytes *y);

#include "proto_gen.h"

#endif
