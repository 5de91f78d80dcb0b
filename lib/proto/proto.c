/* shoal wire protocol runtime: arena, CBOR writer and pull reader, and the small helpers the
 * generated code (proto_gen.c) is built from. See proto.h for the encoding rules. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <cbor.h>

#include "proto/proto.h"

/* ---------------------------------------------------------------- arena */

void proto_arena_init(struct proto_arena *a, void *mem, size_t cap)
{
	a->base = mem;
	a->cap = mem ? cap : 0;
	a->used = 0;
}

/* align must be a power of two. Alignment is of the address, not of the offset, so any
 * caller memory works. */
void *proto_arena_alloc(struct proto_arena *a, size_t size, size_t align)
{
	uintptr_t at;
	size_t pad, left;

	if (a->base == NULL || a->used > a->cap) {
		errno = ENOBUFS;
		return NULL;
	}
	at = (uintptr_t)a->base + a->used;
	pad = (size_t)(-at & (uintptr_t)(align - 1));
	left = a->cap - a->used;
	if (pad > left || size > left - pad) {
		errno = ENOBUFS;
		return NULL;
	}
	a->used += pad;
	void *p = a->base + a->used;
	a->used += size;
	return p;
}

void *proto_arena_array(struct proto_arena *a, uint64_t n, size_t size, size_t align)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size) {
		errno = ENOBUFS;
		return NULL;
	}
	p = proto_arena_alloc(a, (size_t)n * size, align);
	if (p != NULL)
		memset(p, 0, (size_t)n * size);
	return p;
}

/* ---------------------------------------------------------------- writer */

void proto_writer_init(struct proto_writer *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->err = 0;
}

/* EINVAL replaces EMSGSIZE: a bad value is reported however small the buffer. */
void proto_writer_fail(struct proto_writer *w, int err)
{
	if (w->err == 0 || (err == EINVAL && w->err == EMSGSIZE))
		w->err = err;
}

int proto_writer_status(const struct proto_writer *w)
{
	if (w->err) {
		errno = w->err;
		return -1;
	}
	return 0;
}

/* Room for at least one head byte, else EMSGSIZE; keeps cbor_encode_* off a NULL buffer. */
static bool room(struct proto_writer *w)
{
	if (w->err)
		return false;
	if (w->buf == NULL || w->len >= w->cap) {
		proto_writer_fail(w, EMSGSIZE);
		return false;
	}
	return true;
}

/* n is what a cbor_encode_* call returned: 0 means it did not fit. */
static void advance(struct proto_writer *w, size_t n)
{
	if (n == 0)
		proto_writer_fail(w, EMSGSIZE);
	else
		w->len += n;
}

void proto_put_uint(struct proto_writer *w, uint64_t v)
{
	if (room(w))
		advance(w, cbor_encode_uint(v, w->buf + w->len, w->cap - w->len));
}

void proto_put_int(struct proto_writer *w, int64_t v)
{
	if (!room(w))
		return;
	if (v >= 0)
		advance(w, cbor_encode_uint((uint64_t)v, w->buf + w->len, w->cap - w->len));
	else /* -1 - n == v, computed without overflow for INT64_MIN */
		advance(w, cbor_encode_negint((uint64_t)(-(v + 1)), w->buf + w->len,
					      w->cap - w->len));
}

void proto_put_bool(struct proto_writer *w, bool v)
{
	if (room(w))
		advance(w, cbor_encode_bool(v, w->buf + w->len, w->cap - w->len));
}

static void put_data(struct proto_writer *w, const void *p, size_t len)
{
	if (w->err || len == 0)
		return;
	if (w->cap - w->len < len) {
		proto_writer_fail(w, EMSGSIZE);
		return;
	}
	memcpy(w->buf + w->len, p, len);
	w->len += len;
}

void proto_put_text(struct proto_writer *w, const char *s, size_t len)
{
	if (!room(w))
		return;
	advance(w, cbor_encode_string_start(len, w->buf + w->len, w->cap - w->len));
	put_data(w, s, len);
}

void proto_put_bytes(struct proto_writer *w, const void *p, size_t len)
{
	if (!room(w))
		return;
	advance(w, cbor_encode_bytestring_start(len, w->buf + w->len, w->cap - w->len));
	put_data(w, p, len);
}

void proto_put_map(struct proto_writer *w, size_t pairs)
{
	if (room(w))
		advance(w, cbor_encode_map_start(pairs, w->buf + w->len, w->cap - w->len));
}

void proto_put_array(struct proto_writer *w, size_t items)
{
	if (room(w))
		advance(w, cbor_encode_array_start(items, w->buf + w->len, w->cap - w->len));
}

void proto_put_text_max(struct proto_writer *w, const char *s, size_t max)
{
	size_t len = s ? strlen(s) : 0;

	if (len > max) {
		proto_writer_fail(w, EINVAL);
		return;
	}
	proto_put_text(w, s, len);
}

void proto_put_bytes_max(struct proto_writer *w, const struct proto_bytes *b, size_t max)
{
	if (b->len > max || (b->len != 0 && b->data == NULL)) {
		proto_writer_fail(w, EINVAL);
		return;
	}
	proto_put_bytes(w, b->data, b->len);
}

/* ---------------------------------------------------------------- reader */

int proto_bad(void)
{
	errno = EBADMSG;
	return -1;
}

void proto_reader_init(struct proto_reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->off = 0;
}

/* cbor_stream_decode calls exactly one callback per item head; it fills the token. An
 * indefinite-length start or a stray break sets bad. */
struct tok_ctx {
	struct proto_token *t;
	bool set;
	bool bad;
};

static void tok_set(void *ctx, enum proto_tok type, uint64_t value)
{
	struct tok_ctx *c = ctx;

	c->t->type = type;
	c->t->value = value;
	c->t->data = NULL;
	c->t->len = 0;
	c->set = true;
}

static void cb_uint8(void *ctx, uint8_t v) { tok_set(ctx, PROTO_TOK_UINT, v); }
static void cb_uint16(void *ctx, uint16_t v) { tok_set(ctx, PROTO_TOK_UINT, v); }
static void cb_uint32(void *ctx, uint32_t v) { tok_set(ctx, PROTO_TOK_UINT, v); }
static void cb_uint64(void *ctx, uint64_t v) { tok_set(ctx, PROTO_TOK_UINT, v); }
static void cb_negint8(void *ctx, uint8_t v) { tok_set(ctx, PROTO_TOK_NEGINT, v); }
static void cb_negint16(void *ctx, uint16_t v) { tok_set(ctx, PROTO_TOK_NEGINT, v); }
static void cb_negint32(void *ctx, uint32_t v) { tok_set(ctx, PROTO_TOK_NEGINT, v); }
static void cb_negint64(void *ctx, uint64_t v) { tok_set(ctx, PROTO_TOK_NEGINT, v); }

static void cb_string(void *ctx, cbor_data data, size_t len, enum proto_tok type)
{
	struct tok_ctx *c = ctx;

	tok_set(ctx, type, len);
	c->t->data = data;
	c->t->len = len;
}

static void cb_bytes(void *ctx, cbor_data data, size_t len)
{
	cb_string(ctx, data, len, PROTO_TOK_BYTES);
}

static void cb_text(void *ctx, cbor_data data, size_t len)
{
	cb_string(ctx, data, len, PROTO_TOK_TEXT);
}

static void cb_array(void *ctx, size_t n) { tok_set(ctx, PROTO_TOK_ARRAY, n); }
static void cb_map(void *ctx, size_t n) { tok_set(ctx, PROTO_TOK_MAP, n); }

static void cb_indefinite(void *ctx)
{
	struct tok_ctx *c = ctx;

	c->set = true;
	c->bad = true;
}

static void cb_tag(void *ctx, uint64_t v)
{
	struct tok_ctx *c = ctx;

	tok_set(ctx, PROTO_TOK_OTHER, v);
	c->t->len = 1;
}

static void cb_float(void *ctx, float v) { (void)v; tok_set(ctx, PROTO_TOK_OTHER, 0); }
static void cb_double(void *ctx, double v) { (void)v; tok_set(ctx, PROTO_TOK_OTHER, 0); }
static void cb_undefined(void *ctx) { tok_set(ctx, PROTO_TOK_OTHER, 0); }
static void cb_null(void *ctx) { tok_set(ctx, PROTO_TOK_NULL, 0); }
static void cb_bool(void *ctx, bool v) { tok_set(ctx, PROTO_TOK_BOOL, v); }

static const struct cbor_callbacks tok_callbacks = {
	.uint8 = cb_uint8,
	.uint16 = cb_uint16,
	.uint32 = cb_uint32,
	.uint64 = cb_uint64,
	.negint8 = cb_negint8,
	.negint16 = cb_negint16,
	.negint32 = cb_negint32,
	.negint64 = cb_negint64,
	.byte_string = cb_bytes,
	.byte_string_start = cb_indefinite,
	.string = cb_text,
	.string_start = cb_indefinite,
	.array_start = cb_array,
	.indef_array_start = cb_indefinite,
	.map_start = cb_map,
	.indef_map_start = cb_indefinite,
	.tag = cb_tag,
	.float2 = cb_float,
	.float4 = cb_float,
	.float8 = cb_double,
	.undefined = cb_undefined,
	.null = cb_null,
	.boolean = cb_bool,
	.indef_break = cb_indefinite,
};

int proto_next(struct proto_reader *r, struct proto_token *t)
{
	struct tok_ctx c = { .t = t };
	struct cbor_decoder_result res;
	size_t left;

	if (r->off >= r->len)
		return proto_bad();
	left = r->len - r->off;
	res = cbor_stream_decode(r->buf + r->off, left, &tok_callbacks, &c);
	/* NEDATA is a truncated item, ERROR a reserved or unassigned head. A definite string
	 * is only reported once all its bytes are in the buffer. */
	if (res.status != CBOR_DECODER_FINISHED || !c.set || c.bad || res.read == 0 ||
	    res.read > left)
		return proto_bad();
	r->off += res.read;
	return 0;
}

int proto_skip(struct proto_reader *r, const struct proto_token *t, int depth)
{
	struct proto_token c;
	uint64_t items;

	switch (t->type) {
	case PROTO_TOK_ARRAY:
		items = t->value;
		break;
	case PROTO_TOK_MAP:
		items = t->value; /* pairs: counted twice below */
		break;
	case PROTO_TOK_OTHER:
		if (t->len != 1)
			return 0;
		items = 1; /* a tag: the tagged item follows */
		break;
	default:
		return 0;
	}
	if (depth > PROTO_MAX_DEPTH)
		return proto_bad();
	/* Each item takes at least one byte, so a huge count fails at the buffer's end. */
	for (uint64_t i = 0; i < items; i++) {
		for (int k = 0; k < (t->type == PROTO_TOK_MAP ? 2 : 1); k++) {
			if (proto_next(r, &c) < 0 || proto_skip(r, &c, depth + 1) < 0)
				return -1;
		}
	}
	return 0;
}

int proto_check_map(const struct proto_token *t, int depth)
{
	if (t->type != PROTO_TOK_MAP || depth > PROTO_MAX_DEPTH)
		return proto_bad();
	return 0;
}

int proto_check_array(const struct proto_token *t, size_t max, int depth)
{
	if (t->type != PROTO_TOK_ARRAY || t->value > max || depth > PROTO_MAX_DEPTH)
		return proto_bad();
	return 0;
}

int proto_next_field(struct proto_reader *r, uint64_t *seen, uint64_t *key,
	struct proto_token *v)
{
	struct proto_token k;

	if (proto_next(r, &k) < 0)
		return -1;
	if (k.type != PROTO_TOK_UINT)
		return proto_bad();
	/* Field numbers are 1..63; duplicates of larger (unknown) keys go unnoticed, harmless
	 * since they are skipped. */
	if (k.value < 64) {
		if (*seen & (UINT64_C(1) << k.value))
			return proto_bad();
		*seen |= UINT64_C(1) << k.value;
	}
	*key = k.value;
	return proto_next(r, v);
}

int proto_get_uint(const struct proto_token *t, uint64_t max, uint64_t *v)
{
	if (t->type != PROTO_TOK_UINT || t->value > max)
		return proto_bad();
	*v = t->value;
	return 0;
}

int proto_get_int(const struct proto_token *t, int64_t *v)
{
	if ((t->type != PROTO_TOK_UINT && t->type != PROTO_TOK_NEGINT) || t->value > INT64_MAX)
		return proto_bad();
	/* NEGINT n means -1 - n, which for n <= INT64_MAX fits. */
	*v = t->type == PROTO_TOK_UINT ? (int64_t)t->value : -1 - (int64_t)t->value;
	return 0;
}

int proto_get_bool(const struct proto_token *t, bool *v)
{
	if (t->type != PROTO_TOK_BOOL)
		return proto_bad();
	*v = t->value != 0;
	return 0;
}

int proto_get_text(const struct proto_token *t, size_t max, struct proto_arena *a,
	const char **s)
{
	char *p;

	if (t->type != PROTO_TOK_TEXT || t->len > max ||
	    (t->len != 0 && memchr(t->data, 0, t->len) != NULL))
		return proto_bad();
	if (t->len == 0) {
		*s = NULL;
		return 0;
	}
	p = proto_arena_alloc(a, t->len + 1, 1);
	if (p == NULL)
		return -1;
	memcpy(p, t->data, t->len);
	p[t->len] = '\0';
	*s = p;
	return 0;
}

int proto_get_bytes(const struct proto_token *t, size_t max, struct proto_bytes *b)
{
	if (t->type != PROTO_TOK_BYTES || t->len > max)
		return proto_bad();
	b->data = t->len ? t->data : NULL;
	b->len = t->len;
	return 0;
}

/* ---------------------------------------------------------------- test support */

/* splitmix64 (Steele, Lea, Flood): any seed, zero included, gives a full-period stream. */
uint64_t proto_rng_next(struct proto_rng *g)
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

uint64_t proto_rng_varied(struct proto_rng *g)
{
	uint64_t v = proto_rng_next(g);

	return v >> (proto_rng_next(g) % 64);
}

int64_t proto_rng_i64(struct proto_rng *g)
{
	uint64_t u = proto_rng_varied(g);
	int64_t v;

	if (proto_rng_next(g) & 1)
		u = ~u; /* the negative half, INT64_MIN included */
	memcpy(&v, &u, sizeof v);
	return v;
}

int proto_random_text(struct proto_rng *g, struct proto_arena *a, size_t max, const char **s)
{
	size_t len = (size_t)(proto_rng_next(g) % (max + 1));
	char *p;

	p = proto_arena_alloc(a, len + 1, 1);
	if (p == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(0x20 + proto_rng_next(g) % 95); /* printable ASCII */
	p[len] = '\0';
	*s = p;
	return 0;
}

int proto_random_bytes(struct proto_rng *g, struct proto_arena *a, size_t max,
	struct proto_bytes *b)
{
	size_t len = (size_t)(proto_rng_next(g) % (max + 1));
	uint8_t *p;

	b->data = NULL;
	b->len = 0;
	if (len == 0)
		return 0;
	p = proto_arena_alloc(a, len, 1);
	if (p == NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)proto_rng_next(g);
	b->data = p;
	b->len = len;
	return 0;
}

bool proto_text_equal(const char *x, const char *y)
{
	return strcmp(x ? x : "", y ? y : "") == 0;
}

bool proto_bytes_equal(const struct proto_bytes *x, const struct proto_bytes *y)
{
	return x->len == y->len && (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
}
