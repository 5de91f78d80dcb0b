#!/usr/bin/env python3
"""Generates shoal's protocol code from lib/proto/shoal.schema.

Usage: gen.py SCHEMA PREFIX   writes PREFIX.h and PREFIX.c

The schema syntax is documented at the top of shoal.schema. Errors read
`SCHEMA:LINE: error: WHAT` and exit with status 1; nothing is written then.
Python 3 standard library only.
"""

import os
import re
import sys

SCALARS = {
    # name: (C type, largest value, proto_put function)
    'u8': ('uint8_t', 'UINT8_MAX', 'uint'),
    'u16': ('uint16_t', 'UINT16_MAX', 'uint'),
    'u32': ('uint32_t', 'UINT32_MAX', 'uint'),
    'u64': ('uint64_t', 'UINT64_MAX', 'uint'),
    'i64': ('int64_t', None, 'int'),
    'bool': ('bool', None, 'bool'),
}
# Lengths and counts must fit in every size_t and uint32_t the runtime uses.
MAX_BOUND = 1 << 30
# Type numbers travel in the envelope's u16 `type`.
MAX_MESSAGE = 65535
RANDOM_MAX = 64
C_KEYWORDS = set('''auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex
_Generic _Imaginary _Noreturn _Static_assert _Thread_local bool true false'''.split())
# Names the runtime (proto.h) already uses as struct proto_X / proto_X_*.
RESERVED = {'any', 'arena', 'writer', 'reader', 'token', 'tok', 'rng', 'bytes', 'type',
            'put', 'get', 'next', 'skip', 'encode', 'decode', 'random', 'equal', 'sender'}
IDENT = re.compile(r'[a-z][a-z0-9_]*$')
NUMBER = re.compile(r'[0-9]+$')


class SchemaError(Exception):
    def __init__(self, line, msg):
        super().__init__(msg)
        self.line = line
        self.msg = msg


class Type:
    """kind: scalar name, 'text', 'bytes', 'enum', 'struct' or 'array'."""

    def __init__(self, kind, bound=None, ref=None, elem=None):
        self.kind = kind
        self.bound = bound
        self.ref = ref      # enum or struct name
        self.elem = elem    # array item Type


class Field:
    def __init__(self, line, num, name, typ):
        self.line, self.num, self.name, self.type = line, num, name, typ


class Struct:
    def __init__(self, line, name, number=None, senders=None):
        self.line, self.name = line, name
        self.number = number        # messages only
        self.senders = senders      # messages only
        self.fields = []


class Enum:
    def __init__(self, line, name):
        self.line, self.name = line, name
        self.members = []           # (line, name, value)


def tokenize(text):
    toks = []
    for lineno, line in enumerate(text.split('\n'), 1):
        line = line.split('#', 1)[0]
        for m in re.finditer(r'[{}=,]|[^\s{}=,]+', line):
            toks.append((lineno, m.group(0)))
    return toks


class Parser:
    def __init__(self, text):
        self.toks = tokenize(text)
        self.pos = 0
        # End-of-file errors point at the last line holding a token.
        self.last_line = self.toks[-1][0] if self.toks else 1
        self.enums = {}
        self.structs = {}       # structs and messages, by name: one C namespace
        self.order = []         # Enum and Struct in definition order
        self.messages = {}      # number -> Struct

    def peek(self):
        return self.toks[self.pos][1] if self.pos < len(self.toks) else None

    def line(self):
        if self.pos < len(self.toks):
            return self.toks[self.pos][0]
        return self.last_line

    def take(self, what):
        if self.pos >= len(self.toks):
            raise SchemaError(self.last_line, 'unexpected end of file, expected %s' % what)
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, word):
        line, tok = self.take("'%s'" % word)
        if tok != word:
            raise SchemaError(line, "expected '%s', found '%s'" % (word, tok))
        return line

    def ident(self, what):
        line, tok = self.take(what)
        if not IDENT.match(tok):
            raise SchemaError(line, "expected %s (lower-case name), found '%s'" % (what, tok))
        return line, tok

    def number(self, what, lo, hi):
        line, tok = self.take(what)
        if not NUMBER.match(tok):
            raise SchemaError(line, "expected %s (a number), found '%s'" % (what, tok))
        v = int(tok)
        if v < lo or v > hi:
            raise SchemaError(line, '%s %d out of range %d..%d' % (what, v, lo, hi))
        return line, v

    def parse(self):
        while self.peek() is not None:
            line, kw = self.take('a definition')
            if kw == 'enum':
                self.parse_enum(line)
            elif kw == 'struct':
                self.parse_struct(line, False)
            elif kw == 'message':
                self.parse_struct(line, True)
            else:
                raise SchemaError(line, "expected 'enum', 'struct' or 'message', found '%s'" % kw)
        if not self.messages:
            raise SchemaError(self.last_line, 'the schema defines no message')
        self.check_constants()

    def define_name(self, line, name):
        if name in RESERVED:
            raise SchemaError(line, "name '%s' is reserved by the runtime" % name)
        if name in self.enums or name in self.structs:
            raise SchemaError(line, "'%s' is already defined" % name)

    def parse_enum(self, line):
        nline, name = self.ident('enum name')
        self.define_name(nline, name)
        e = Enum(line, name)
        self.expect('{')
        names, values = set(), set()
        while self.peek() != '}':
            mline, mname = self.ident('enum member name')
            self.expect('=')
            vline, v = self.number('enum value', 1, 0xffffffff)
            if mname in names:
                raise SchemaError(mline, "duplicate enum member '%s' in enum %s" % (mname, name))
            if v in values:
                raise SchemaError(vline, 'duplicate enum value %d in enum %s' % (v, name))
            names.add(mname)
            values.add(v)
            e.members.append((mline, mname, v))
        self.expect('}')
        if not e.members:
            raise SchemaError(line, 'enum %s has no member' % name)
        self.enums[name] = e
        self.order.append(e)

    def parse_struct(self, line, is_message):
        number = senders = None
        if is_message:
            numline, number = self.number('message number', 1, MAX_MESSAGE)
            if number in self.messages:
                raise SchemaError(numline, 'duplicate message number %d (message %s)'
                                  % (number, self.messages[number].name))
        nline, name = self.ident('message name' if is_message else 'struct name')
        self.define_name(nline, name)
        if is_message:
            self.expect('from')
            senders = []
            while True:
                sline, s = self.ident('sender service name')
                if s in senders:
                    raise SchemaError(sline, "sender '%s' listed twice" % s)
                senders.append(s)
                if self.peek() != ',':
                    break
                self.take(',')
            if 'any' in senders and len(senders) > 1:
                raise SchemaError(line, "'any' must be the only sender")
        s = Struct(line, name, number, senders)
        self.expect('{')
        nums, names = {}, set()
        while self.peek() != '}':
            fline, fnum = self.number('field number', 1, 63)
            _, fname = self.ident('field name')
            if fnum in nums:
                raise SchemaError(fline, 'duplicate field number %d in %s (field %s)'
                                  % (fnum, name, nums[fnum]))
            if fname in names:
                raise SchemaError(fline, "duplicate field name '%s' in %s" % (fname, name))
            if fname in C_KEYWORDS or fname == 'unused_':
                raise SchemaError(fline, "field name '%s' is a C keyword" % fname)
            if fname.endswith('_count'):
                raise SchemaError(fline, "field name '%s' clashes with array counts" % fname)
            typ = self.parse_type(name, in_array=False)
            nums[fnum] = fname
            names.add(fname)
            s.fields.append(Field(fline, fnum, fname, typ))
        self.expect('}')
        s.fields.sort(key=lambda f: f.num)
        self.structs[name] = s
        if is_message:
            self.messages[number] = s
        self.order.append(s)

    def parse_type(self, owner, in_array):
        line, t = self.take('a type')
        if t in SCALARS:
            return Type(t)
        if t in ('text', 'bytes'):
            _, bound = self.number('%s bound' % t, 1, MAX_BOUND)
            return Type(t, bound=bound)
        if t == 'enum':
            rline, ref = self.ident('enum name')
            if ref not in self.enums:
                raise SchemaError(rline, "unknown enum '%s' (enums are defined before use)" % ref)
            return Type('enum', ref=ref)
        if t == 'struct':
            rline, ref = self.ident('struct name')
            if ref not in self.structs or self.structs[ref].number is not None:
                raise SchemaError(rline, "unknown struct '%s' (structs are defined before use)"
                                  % ref)
            return Type('struct', ref=ref)
        if t == 'array':
            if in_array:
                raise SchemaError(line, 'arrays of arrays are not supported (wrap it in a struct)')
            _, bound = self.number('array bound', 1, MAX_BOUND)
            elem = self.parse_type(owner, in_array=True)
            return Type('array', bound=bound, elem=elem)
        raise SchemaError(line, "unknown type '%s'" % t)

    def check_constants(self):
        # Enum constants share one C namespace with the message type constants.
        seen = {}
        for m in self.messages.values():
            seen['PROTO_' + m.name.upper()] = m.line
        for e in self.enums.values():
            for line, name, _ in e.members:
                c = 'PROTO_%s_%s' % (e.name.upper(), name.upper())
                if c in seen:
                    raise SchemaError(line, 'constant %s is generated twice' % c)
                seen[c] = line
        for s in self.structs.values():
            for f in s.fields:
                if f.type.kind in ('text', 'bytes', 'array'):
                    c = 'PROTO_%s_%s_MAX' % (s.name.upper(), f.name.upper())
                    if c in seen:
                        raise SchemaError(f.line, 'constant %s is generated twice' % c)
                    seen[c] = f.line


# ---------------------------------------------------------------- C generation

def ctype(t):
    if t.kind in SCALARS:
        return SCALARS[t.kind][0]
    if t.kind == 'text':
        return 'const char *'
    if t.kind == 'bytes':
        return 'struct proto_bytes'
    if t.kind == 'enum':
        return 'enum proto_%s' % t.ref
    if t.kind == 'struct':
        return 'struct proto_%s' % t.ref
    raise AssertionError(t.kind)


def decl(t, name):
    c = ctype(t)
    return c + name if c.endswith('*') else '%s %s' % (c, name)


class Out:
    def __init__(self):
        self.lines = []

    def __call__(self, s='', *args):
        self.lines.append((s % args) if args else s)

    def text(self):
        return '\n'.join(self.lines) + '\n'


def banner(schema_name):
    return ['/* generated by lib/proto/gen.py from %s; do not edit */' % schema_name]


def gen_header(p, schema_name, guard):
    o = Out()
    for l in banner(schema_name):
        o(l)
    o('#ifndef %s', guard)
    o('#define %s', guard)
    o()
    o('#include "proto/proto.h"')
    o()
    o('''/* Field types: u8..u64, i64, bool as the C integer types; text as a NUL-terminated const
 * char * (NULL when absent; decoded into the arena; "" is sent as absent and decodes as NULL);
 * bytes as struct proto_bytes pointing into the decoded buffer; enum as its C enum (0 means
 * absent); struct embedded (always encoded, as a map); array as NAME and NAME_count, items in
 * the arena. Encoders omit zero values, write keys in increasing order, and check bounds
 * (PROTO_<STRUCT>_<FIELD>_MAX). proto_X_decode zeroes *m and reads one map at the reader's
 * position; the *_buf functions take a whole buffer and reject trailing bytes. */''')
    o()
    o('/* Message types: the envelope\'s `type`. */')
    o('enum proto_type {')
    for num in sorted(p.messages):
        o('\tPROTO_%s = %d,', p.messages[num].name.upper(), num)
    o('};')
    o('#define PROTO_TYPE_MAX %d', max(p.messages))
    o()
    for item in p.order:
        if isinstance(item, Enum):
            o('enum proto_%s {', item.name)
            for _, name, v in item.members:
                o('\tPROTO_%s_%s = %d,', item.name.upper(), name.upper(), v)
            o('};')
            o('/* The member\'s schema name, or NULL if v is not a member. */')
            o('const char *proto_%s_name(unsigned v);', item.name)
            o()
            continue
        s = item
        if s.number is not None:
            o('/* message %d %s from %s */', s.number, s.name, ', '.join(s.senders))
        for f in s.fields:
            if f.type.kind in ('text', 'bytes', 'array'):
                o('#define PROTO_%s_%s_MAX %d', s.name.upper(), f.name.upper(), f.type.bound)
        o('struct proto_%s {', s.name)
        if not s.fields:
            o('\tuint8_t unused_; /* C has no empty structs */')
        for f in s.fields:
            if f.type.kind == 'array':
                o('\t%s;', decl(f.type.elem, '*' + f.name))
                o('\tsize_t %s_count;', f.name)
            else:
                o('\t%s;', decl(f.type, f.name))
        o('};')
        n = s.name
        o('int proto_%s_encode(const struct proto_%s *m, struct proto_writer *w);', n, n)
        o('int proto_%s_decode(struct proto_%s *m, struct proto_reader *r, '
          'struct proto_arena *a);', n, n)
        o('int proto_%s_encode_buf(const struct proto_%s *m, void *buf, size_t cap, '
          'size_t *len);', n, n)
        o('int proto_%s_decode_buf(struct proto_%s *m, const void *buf, size_t len,', n, n)
        o('\tstruct proto_arena *a);')
        o('int proto_%s_random(struct proto_%s *m, struct proto_rng *g, struct proto_arena *a);',
          n, n)
        o('bool proto_%s_equal(const struct proto_%s *x, const struct proto_%s *y);', n, n, n)
        o()
    o('/* A receive buffer big enough for any message. */')
    o('union proto_any {')
    for num in sorted(p.messages):
        o('\tstruct proto_%s %s;', p.messages[num].name, p.messages[num].name)
    o('};')
    o()
    o('''/* By message type. proto_encode: 0, or -1 with errno EMSGSIZE (cap too small), EINVAL (a
 * value breaks its bound), ENOMSG (unknown type). proto_decode zeroes msg, then: 0, or -1 with
 * errno EBADMSG (malformed, trailing bytes included), ENOMSG, ENOBUFS (arena exhausted). */
int proto_encode(unsigned type, const void *msg, void *buf, size_t cap, size_t *len);
int proto_decode(unsigned type, const void *buf, size_t len, void *msg, struct proto_arena *a);
const char *proto_type_name(unsigned type);
size_t proto_type_size(unsigned type);
/* Whether the schema's `from` list lets service send this type. */
bool proto_sender_ok(unsigned type, const char *service);

/* Test support. proto_random fills msg (zeroed first) with random in-bound values, text and
 * bytes and arrays from the arena; -1 with errno ENOBUFS or ENOMSG. proto_equal compares
 * deeply; NULL text equals "", and empty bytes are equal whatever their pointers. */
int proto_random(unsigned type, void *msg, struct proto_rng *g, struct proto_arena *a);
bool proto_equal(unsigned type, const void *a, const void *b);
''')
    o('#endif')
    return o.text()


def uint_max(t):
    return SCALARS[t.kind][1]


def enc_value(o, ind, t, e):
    """Writes value expression e of type t (never omitted)."""
    k = t.kind
    if k in SCALARS:
        o('%sproto_put_%s(w, %s);', ind, SCALARS[k][2], e)
    elif k == 'text':
        o('%sproto_put_text_max(w, %s, %d);', ind, e, t.bound)
    elif k == 'bytes':
        o('%sproto_put_bytes_max(w, &%s, %d);', ind, e, t.bound)
    elif k == 'enum':
        o('%sif (%s != 0 && !proto_%s_name((unsigned)%s))', ind, e, t.ref, e)
        o('%s\tproto_writer_fail(w, EINVAL);', ind)
        o('%sproto_put_uint(w, (uint64_t)%s);', ind, e)
    elif k == 'struct':
        o('%sproto_%s_encode(&%s, w);', ind, t.ref, e)
    else:
        raise AssertionError(k)


def present(f):
    """C condition under which field f is written (absent == zero)."""
    e = 'm->' + f.name
    k = f.type.kind
    if k == 'text':
        return '%s != NULL && %s[0] != \'\\0\'' % (e, e)
    if k == 'bytes':
        return '%s.len != 0' % e
    if k == 'array':
        return '%s_count != 0' % e
    if k == 'struct':
        return None     # always written, as a (maybe empty) map
    if k == 'bool':
        return e
    return '%s != 0' % e


def gen_encode(o, s):
    n = s.name
    o('int proto_%s_encode(const struct proto_%s *m, struct proto_writer *w)', n, n)
    o('{')
    if not s.fields:
        o('\t(void)m;')
        o('\tproto_put_map(w, 0);')
        o('\treturn proto_writer_status(w);')
        o('}')
        return
    o('\tsize_t pairs = 0;')
    o()
    for f in s.fields:
        c = present(f)
        o('\tpairs += %s;' % ('1' if c is None else '(%s)' % c))
    o('\tproto_put_map(w, pairs);')
    for f in s.fields:
        c = present(f)
        ind = '\t'
        if c is not None:
            o('\tif (%s) {', c)
            ind = '\t\t'
        o('%sproto_put_uint(w, %d);', ind, f.num)
        if f.type.kind == 'array':
            o('%sif (m->%s_count > %d || m->%s == NULL)', ind, f.name, f.type.bound, f.name)
            o('%s\tproto_writer_fail(w, EINVAL);', ind)
            o('%sproto_put_array(w, m->%s_count);', ind, f.name)
            # Items are still validated after an EMSGSIZE; EINVAL (a NULL array too) stops.
            o('%sfor (size_t i = 0; i < m->%s_count && w->err != EINVAL; i++) {', ind, f.name)
            enc_value(o, ind + '\t', f.type.elem, 'm->%s[i]' % f.name)
            o('%s}', ind)
        else:
            enc_value(o, ind, f.type, 'm->' + f.name)
        if c is not None:
            o('\t}')
    o('\treturn proto_writer_status(w);')
    o('}')


def dec_value(o, ind, t, e, tok, depth):
    """Decodes the value whose head is token tok into lvalue e."""
    k = t.kind
    if k in SCALARS and k != 'i64' and k != 'bool':
        o('%s{', ind)
        o('%s\tuint64_t u;', ind)
        o('%s\tif (proto_get_uint(%s, %s, &u) < 0)', ind, tok, uint_max(t))
        o('%s\t\treturn -1;', ind)
        o('%s\t%s = (%s)u;', ind, e, ctype(t))
        o('%s}', ind)
    elif k == 'i64':
        o('%sif (proto_get_int(%s, &%s) < 0)', ind, tok, e)
        o('%s\treturn -1;', ind)
    elif k == 'bool':
        o('%sif (proto_get_bool(%s, &%s) < 0)', ind, tok, e)
        o('%s\treturn -1;', ind)
    elif k == 'text':
        o('%sif (proto_get_text(%s, %d, a, &%s) < 0)', ind, tok, t.bound, e)
        o('%s\treturn -1;', ind)
    elif k == 'bytes':
        o('%sif (proto_get_bytes(%s, %d, &%s) < 0)', ind, tok, t.bound, e)
        o('%s\treturn -1;', ind)
    elif k == 'enum':
        o('%s{', ind)
        o('%s\tuint64_t u;', ind)
        o('%s\tif (proto_get_uint(%s, UINT32_MAX, &u) < 0)', ind, tok)
        o('%s\t\treturn -1;', ind)
        # 0 is the absent value, accepted as such.
        o('%s\tif (u != 0 && !proto_%s_name((unsigned)u))', ind, t.ref)
        o('%s\t\treturn proto_bad();', ind)
        o('%s\t%s = (enum proto_%s)u;', ind, e, t.ref)
        o('%s}', ind)
    elif k == 'struct':
        o('%sif (dec_%s(&%s, r, a, %s, %s) < 0)', ind, t.ref, e, tok, depth)
        o('%s\treturn -1;', ind)
    else:
        raise AssertionError(k)


def gen_decode(o, s):
    n = s.name
    o('static int dec_%s(struct proto_%s *m, struct proto_reader *r, struct proto_arena *a,', n, n)
    o('\tconst struct proto_token *t, int depth)')
    o('{')
    o('\tuint64_t seen = 0, key;')
    o('\tstruct proto_token v;')
    o()
    o('\t(void)a; /* unused when no field needs the arena */')
    o('\tmemset(m, 0, sizeof *m);')
    o('\tif (proto_check_map(t, depth) < 0)')
    o('\t\treturn -1;')
    o('\tfor (uint64_t n = 0; n < t->value; n++) {')
    o('\t\tif (proto_next_field(r, &seen, &key, &v) < 0)')
    o('\t\t\treturn -1;')
    o('\t\tswitch (key) {')
    for f in s.fields:
        o('\t\tcase %d:', f.num)
        if f.type.kind == 'array':
            et = f.type.elem
            o('\t\t\tif (proto_check_array(&v, %d, depth + 1) < 0)', f.type.bound)
            o('\t\t\t\treturn -1;')
            o('\t\t\tif (v.value != 0) {')
            o('\t\t\t\t%s;', decl(et, '*p'))
            o('\t\t\t\tstruct proto_token it;')
            o()
            o('\t\t\t\tp = proto_arena_array(a, v.value, sizeof *p, _Alignof(%s));', ctype(et))
            o('\t\t\t\tif (p == NULL)')
            o('\t\t\t\t\treturn -1;')
            o('\t\t\t\tm->%s = p;', f.name)
            o('\t\t\t\tm->%s_count = v.value;', f.name)
            o('\t\t\t\tfor (size_t i = 0; i < v.value; i++) {')
            o('\t\t\t\t\tif (proto_next(r, &it) < 0)')
            o('\t\t\t\t\t\treturn -1;')
            dec_value(o, '\t\t\t\t\t', et, 'p[i]', '&it', 'depth + 2')
            o('\t\t\t\t}')
            o('\t\t\t}')
        else:
            dec_value(o, '\t\t\t', f.type, 'm->' + f.name, '&v', 'depth + 1')
        o('\t\t\tbreak;')
    o('\t\tdefault:')
    o('\t\t\tif (proto_skip(r, &v, depth + 1) < 0)')
    o('\t\t\t\treturn -1;')
    o('\t\t}')
    o('\t}')
    o('\treturn 0;')
    o('}')
    o()
    o('int proto_%s_decode(struct proto_%s *m, struct proto_reader *r, struct proto_arena *a)',
      n, n)
    o('{')
    o('\tstruct proto_token t;')
    o()
    o('\tif (proto_next(r, &t) < 0)')
    o('\t\treturn -1;')
    o('\treturn dec_%s(m, r, a, &t, 1);', n)
    o('}')
    o()
    o('int proto_%s_encode_buf(const struct proto_%s *m, void *buf, size_t cap, size_t *len)',
      n, n)
    o('{')
    o('\tstruct proto_writer w;')
    o()
    o('\tproto_writer_init(&w, buf, cap);')
    o('\tif (proto_%s_encode(m, &w) < 0)', n)
    o('\t\treturn -1;')
    o('\t*len = w.len;')
    o('\treturn 0;')
    o('}')
    o()
    o('int proto_%s_decode_buf(struct proto_%s *m, const void *buf, size_t len,', n, n)
    o('\tstruct proto_arena *a)')
    o('{')
    o('\tstruct proto_reader r;')
    o()
    o('\tproto_reader_init(&r, buf, len);')
    o('\tif (proto_%s_decode(m, &r, a) < 0)', n)
    o('\t\treturn -1;')
    o('\tif (r.off != r.len)')
    o('\t\treturn proto_bad();')
    o('\treturn 0;')
    o('}')


def rnd_value(o, ind, t, e):
    k = t.kind
    if k in SCALARS and k not in ('i64', 'bool'):
        o('%s%s = (%s)proto_rng_varied(g);', ind, e, ctype(t))
    elif k == 'i64':
        o('%s%s = proto_rng_i64(g);', ind, e)
    elif k == 'bool':
        o('%s%s = proto_rng_next(g) & 1;', ind, e)
    elif k == 'text':
        o('%sif (proto_random_text(g, a, %d, &%s) < 0)', ind, min(t.bound, RANDOM_MAX), e)
        o('%s\treturn -1;', ind)
    elif k == 'bytes':
        o('%sif (proto_random_bytes(g, a, %d, &%s) < 0)', ind, min(t.bound, RANDOM_MAX), e)
        o('%s\treturn -1;', ind)
    elif k == 'enum':
        # Members and the absent 0: see enum_NAME_values.
        o('%s%s = enum_%s_values[proto_rng_next(g) %% %d];', ind, e, t.ref,
          len(PARSED.enums[t.ref].members) + 1)
    elif k == 'struct':
        o('%sif (proto_%s_random(&%s, g, a) < 0)', ind, t.ref, e)
        o('%s\treturn -1;', ind)
    else:
        raise AssertionError(k)


def gen_random(o, s):
    n = s.name
    o('int proto_%s_random(struct proto_%s *m, struct proto_rng *g, struct proto_arena *a)', n, n)
    o('{')
    o('\t(void)g; /* unused when there are no fields, or no field needs them */')
    o('\t(void)a;')
    o('\tmemset(m, 0, sizeof *m);')
    for f in s.fields:
        # A quarter of the fields stay absent, to exercise omission.
        o('\tif (proto_rng_next(g) % 4 != 0) {')
        if f.type.kind == 'array':
            et = f.type.elem
            o('\t\tsize_t count = proto_rng_next(g) %% %d;', min(f.type.bound, RANDOM_MAX) + 1)
            o()
            o('\t\tif (count != 0) {')
            o('\t\t\t%s;', decl(et, '*p'))
            o()
            o('\t\t\tp = proto_arena_array(a, count, sizeof *p, _Alignof(%s));', ctype(et))
            o('\t\t\tif (p == NULL)')
            o('\t\t\t\treturn -1;')
            o('\t\t\tfor (size_t i = 0; i < count; i++) {')
            rnd_value(o, '\t\t\t\t', et, 'p[i]')
            o('\t\t\t}')
            o('\t\t\tm->%s = p;', f.name)
            o('\t\t\tm->%s_count = count;', f.name)
            o('\t\t}')
        else:
            rnd_value(o, '\t\t', f.type, 'm->' + f.name)
        o('\t}')
    o('\treturn 0;')
    o('}')


def eq_value(o, ind, t, x, y):
    k = t.kind
    if k == 'text':
        cond = '!proto_text_equal(%s, %s)' % (x, y)
    elif k == 'bytes':
        cond = '!proto_bytes_equal(&%s, &%s)' % (x, y)
    elif k == 'struct':
        cond = '!proto_%s_equal(&%s, &%s)' % (t.ref, x, y)
    else:
        cond = '%s != %s' % (x, y)
    o('%sif (%s)', ind, cond)
    o('%s\treturn false;', ind)


def gen_equal(o, s):
    n = s.name
    o('bool proto_%s_equal(const struct proto_%s *x, const struct proto_%s *y)', n, n, n)
    o('{')
    if not s.fields:
        o('\t(void)x;')
        o('\t(void)y;')
    for f in s.fields:
        if f.type.kind == 'array':
            o('\tif (x->%s_count != y->%s_count)', f.name, f.name)
            o('\t\treturn false;')
            o('\tfor (size_t i = 0; i < x->%s_count; i++) {', f.name)
            eq_value(o, '\t\t', f.type.elem, 'x->%s[i]' % f.name, 'y->%s[i]' % f.name)
            o('\t}')
        else:
            eq_value(o, '\t', f.type, 'x->' + f.name, 'y->' + f.name)
    o('\treturn true;')
    o('}')


def gen_source(p, schema_name, header_name):
    o = Out()
    for l in banner(schema_name):
        o(l)
    o('#include <errno.h>')
    o('#include <stdalign.h>')
    o('#include <string.h>')
    o()
    o('#include "%s"', header_name)
    o()
    structs = [x for x in p.order if isinstance(x, Struct)]
    for s in structs:
        o('static int dec_%s(struct proto_%s *m, struct proto_reader *r, struct proto_arena *a,',
          s.name, s.name)
        o('\tconst struct proto_token *t, int depth);')
    o()
    for e in [x for x in p.order if isinstance(x, Enum)]:
        o('const char *proto_%s_name(unsigned v)', e.name)
        o('{')
        o('\tswitch (v) {')
        for _, name, v in e.members:
            o('\tcase %d: return "%s";', v, name)
        o('\t}')
        o('\treturn NULL;')
        o('}')
        o()
        o('static const unsigned enum_%s_values[] = {', e.name)
        # 0 (absent) is a value a field may hold too.
        o('\t0, %s', ', '.join(str(v) for _, _, v in e.members))
        o('};')
        o()
    for s in structs:
        gen_encode(o, s)
        o()
        gen_decode(o, s)
        o()
        gen_random(o, s)
        o()
        gen_equal(o, s)
        o()
    # The table by message type, through void * wrappers (no function pointer casts).
    for num in sorted(p.messages):
        s = p.messages[num]
        n = s.name
        o('static int any_enc_%s(const void *m, struct proto_writer *w)', n)
        o('{')
        o('\treturn proto_%s_encode(m, w);', n)
        o('}')
        o()
        o('static int any_dec_%s(void *m, struct proto_reader *r, struct proto_arena *a)', n)
        o('{')
        o('\treturn proto_%s_decode(m, r, a);', n)
        o('}')
        o()
        o('static int any_rnd_%s(void *m, struct proto_rng *g, struct proto_arena *a)', n)
        o('{')
        o('\treturn proto_%s_random(m, g, a);', n)
        o('}')
        o()
        o('static bool any_eq_%s(const void *x, const void *y)', n)
        o('{')
        o('\treturn proto_%s_equal(x, y);', n)
        o('}')
        o()
        o('static const char *const from_%s[] = { %s, NULL };', n,
          ', '.join('"%s"' % x for x in s.senders))
        o()
    o('''struct desc {
	const char *name;
	size_t size;
	int (*enc)(const void *m, struct proto_writer *w);
	int (*dec)(void *m, struct proto_reader *r, struct proto_arena *a);
	int (*rnd)(void *m, struct proto_rng *g, struct proto_arena *a);
	bool (*eq)(const void *x, const void *y);
	const char *const *from;
};
''')
    for num in sorted(p.messages):
        n = p.messages[num].name
        o('static const struct desc desc_%s = {', n)
        o('\t"%s", sizeof(struct proto_%s), any_enc_%s, any_dec_%s, any_rnd_%s, any_eq_%s, '
          'from_%s,', n, n, n, n, n, n, n)
        o('};')
    o()
    o('static const struct desc *desc(unsigned type)')
    o('{')
    o('\tswitch (type) {')
    for num in sorted(p.messages):
        o('\tcase %d: return &desc_%s;', num, p.messages[num].name)
    o('\t}')
    o('\treturn NULL;')
    o('}')
    o('''
int proto_encode(unsigned type, const void *msg, void *buf, size_t cap, size_t *len)
{
	const struct desc *d = desc(type);
	struct proto_writer w;

	if (d == NULL) {
		errno = ENOMSG;
		return -1;
	}
	proto_writer_init(&w, buf, cap);
	if (d->enc(msg, &w) < 0)
		return -1;
	*len = w.len;
	return 0;
}

int proto_decode(unsigned type, const void *buf, size_t len, void *msg, struct proto_arena *a)
{
	const struct desc *d = desc(type);
	struct proto_reader r;

	if (d == NULL) {
		errno = ENOMSG;
		return -1;
	}
	memset(msg, 0, d->size);
	proto_reader_init(&r, buf, len);
	if (d->dec(msg, &r, a) < 0)
		return -1;
	if (r.off != r.len)
		return proto_bad();
	return 0;
}

const char *proto_type_name(unsigned type)
{
	const struct desc *d = desc(type);

	return d ? d->name : NULL;
}

size_t proto_type_size(unsigned type)
{
	const struct desc *d = desc(type);

	return d ? d->size : 0;
}

bool proto_sender_ok(unsigned type, const char *service)
{
	const struct desc *d = desc(type);

	if (d == NULL || service == NULL)
		return false;
	for (const char *const *f = d->from; *f; f++) {
		if (strcmp(*f, "any") == 0)
			return true;
		if (strcmp(*f, "cli") == 0 ? strncmp(service, "c.", 2) == 0
		    : strcmp(*f, service) == 0)
			return true;
	}
	return false;
}

int proto_random(unsigned type, void *msg, struct proto_rng *g, struct proto_arena *a)
{
	const struct desc *d = desc(type);

	if (d == NULL) {
		errno = ENOMSG;
		return -1;
	}
	return d->rnd(msg, g, a);
}

bool proto_equal(unsigned type, const void *a, const void *b)
{
	const struct desc *d = desc(type);

	return d != NULL && d->eq(a, b);
}''')
    return o.text()


PARSED = None


def main(argv):
    global PARSED
    if len(argv) != 3:
        sys.stderr.write('usage: gen.py SCHEMA PREFIX\n')
        return 2
    path, prefix = argv[1], argv[2]
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        sys.stderr.write('gen.py: fatal: unable to read %s: %s\n' % (path, e))
        return 1
    p = Parser(text)
    try:
        p.parse()
    except SchemaError as e:
        sys.stderr.write('%s:%d: error: %s\n' % (path, e.line, e.msg))
        return 1
    PARSED = p
    schema_name = os.path.basename(path)
    base = os.path.basename(prefix)
    guard = 'SHOAL_%s_H' % re.sub(r'[^A-Za-z0-9]', '_', base).upper()
    outputs = {
        prefix + '.h': gen_header(p, schema_name, guard),
        prefix + '.c': gen_source(p, schema_name, base + '.h'),
    }
    # Write to temporaries, then rename: a failed run never leaves half a file for make.
    for name, content in outputs.items():
        tmp = name + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(content)
        os.replace(tmp, name)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
