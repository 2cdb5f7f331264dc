/* SPDX-License-Identifier: MIT */
/*
 * The decoder's two paths agree on every input. The fast path reads the exact frames
 * node-ipc and nipc send ({"type":"..","data":..}, no whitespace) straight into jansson
 * values, and writes a frame of the previous event's shape into that event's tree; the
 * general path is jansson's parser. Whatever the fast path decides must be what the
 * general path decides: the same accept or refuse, error code and payload, type, and data
 * equal down to key order, string bytes and integer-versus-real typing.
 *
 * Frames come from a seeded generator: envelopes around random data, near-misses of the
 * envelope, and mutations of both. Each is decoded three ways: by nipc__msg_decode, by
 * nipc__msg_decode_into with a tree carried along a sequence of frames of one shape (so the
 * reuse runs, also after a handler kept part of the tree), and by nipc__msg_decode_general,
 * the reference. A failure prints the seed and the frame; NIPC_TEST_SEED=<seed> replays it.
 */
#include "../support/random.h"
#include "core/core.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

/* The parsers' nesting limits as depths of the data (data itself at 1): the fast path's
 * FAST_DEPTH, and jansson's 2048 levels, the envelope being the first. */
#define FAST_LIMIT 64
#define PARSER_LIMIT 2047

/*
 * Two streams drive the generator: `shape` decides what the data is (kinds, keys, sizes,
 * the envelope) and restarts from the same state for every frame of a sequence, so those
 * frames share a shape; `val` decides leaf contents, whitespace and mutations, and goes on.
 */
typedef struct gen {
    th_rng_t shape;
    th_rng_t val;
    nipc_buf_t *out;
    bool ws;        /* whitespace between tokens */
    bool tame;      /* only what the fast path and the reuse of a tree take */
    unsigned chain; /* the depth of a deep chain in the data, else 0 */
} gen_t;

static void put(gen_t *g, const void *p, size_t n)
{
    cr_assert_eq(nipc__buf_append(g->out, p, n), 0);
}

static void put_str(gen_t *g, const char *s)
{
    put(g, s, strlen(s));
}

static void put_byte(gen_t *g, unsigned c)
{
    char ch = (char)c;
    put(g, &ch, 1);
}

static const char *pick(th_rng_t *r, const char *const *list, size_t n)
{
    return list[th_below(r, (unsigned)n)];
}
#define PICK(r, list) pick((r), (list), sizeof(list) / sizeof((list)[0]))

/* JSON's four whitespace bytes, and now and then one JSON does not allow. */
static void ws(gen_t *g)
{
    if (!g->ws || !th_chance(&g->val, 30))
        return;
    static const char *const json[] = {" ", "\t", "\n", "\r"};
    static const char *const other[] = {"\f", "\v", "\xc2\xa0", "\xe2\x80\xa8"};
    for (unsigned k = 1 + th_below(&g->val, 3); k > 0; k--)
        put_str(g, th_chance(&g->val, 3) ? PICK(&g->val, other) : PICK(&g->val, json));
}

static void put_utf8(gen_t *g, unsigned cp)
{
    unsigned char b[4];
    put(g, b, th_utf8(cp, b));
}

static void put_escape_u(gen_t *g, th_rng_t *r, unsigned cp)
{
    char t[8];
    snprintf(t, sizeof t, th_chance(r, 50) ? "\\u%04x" : "\\u%04X", cp);
    put_str(g, t);
}

static void plain_run(gen_t *g, th_rng_t *r, unsigned n)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                " !#$%&'()*+,-./:;<=>?@[]^_`{|}~";
    for (unsigned i = 0; i < n; i++)
        put_byte(g, (unsigned char)chars[th_below(r, sizeof chars - 1)]);
}

/* A string literal: plain text, every kind of escape, raw UTF-8, and some invalid pieces. */
static void gen_string(gen_t *g, th_rng_t *r)
{
    static const char *const shorts[] = {"\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t"};
    static const char *const bad_utf8[] = {
        "\x80",
        "\xbf",
        "\xc0\x80",
        "\xc1\xbf",
        "\xe0\x80\x80",
        "\xe0\x9f\xbf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf",
        "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80",
        "\xff",
        "\xfe",
        "\xe2\x82",
        "\xc3",
        "\xf0\x9f\x98",
        "\xc3\x28",
        "\xe2\x28\xa1",
    };
    static const char *const bad_escapes[] = {"\\x41", "\\u12", "\\u12G4", "\\U0041", "\\'",
                                              "\\",    "\\0",   "\\a",     "\\u{41}"};
    static const unsigned edges[] = {0x7f,   0x80,   0x7ff,   0x800,    0xfeff, 0xfffd, 0xffff,
                                     0x2028, 0x2029, 0x10000, 0x10ffff, 0xd7ff, 0xe000};
    put_byte(g, '"');
    unsigned pieces = th_chance(r, 10) ? 0 : 1 + th_below(r, 5);
    /* Mostly strings the general path takes, so that frames are not nearly all refused;
     * a tame one has no surrogate escape either, which only the general path reads. */
    bool clean = g->tame || th_chance(r, 85);
    for (unsigned i = 0; i < pieces; i++) {
        unsigned k = th_below(r, 100);
        if ((clean && k >= 77 && k < 82) || (g->tame && k >= 56 && k < 65))
            k = th_below(r, 30);
        if (k < 30) {
            plain_run(g, r, 1 + th_below(r, 12));
        } else if (k < 33) {
            plain_run(g, r, 16 + th_below(r, 300)); /* long enough for the block scans */
        } else if (k < 43) {
            put_str(g, PICK(r, shorts));
        } else if (k < 50) {
            unsigned cp = th_below(r, 0x10000 - 0x800);
            put_escape_u(g, r, cp >= 0xd800 ? cp + 0x800 : cp);
        } else if (k < 53) {
            put_str(g, "\\u0000");
        } else if (k < 56) {
            put_escape_u(g, r, th_chance(r, 90) ? th_below(r, 0x20) : 0x7f);
        } else if (k < 60) {
            unsigned cp = th_code_point(r, 4) - 0x10000;
            put_escape_u(g, r, 0xd800 + (cp >> 10));
            put_escape_u(g, r, 0xdc00 + (cp & 0x3ff));
        } else if (k < 62) {
            put_escape_u(g, r, 0xd800 + th_below(r, 0x400)); /* a lone high surrogate */
        } else if (k < 64) {
            put_escape_u(g, r, 0xdc00 + th_below(r, 0x400)); /* a lone low one */
        } else if (k < 65) {
            put_escape_u(g, r, 0xd800 + th_below(r, 0x400)); /* high, then not a low */
            put_escape_u(g, r, th_chance(r, 50) ? 0x41 : 0xd800 + th_below(r, 0x400));
        } else if (k < 77) {
            put_utf8(g, th_code_point(r, 2 + th_below(r, 3)));
        } else if (k < 80) {
            put_str(g, PICK(r, bad_utf8));
        } else if (k < 81) {
            put_byte(g, th_below(r, 0x20)); /* a raw control byte, NUL included */
        } else if (k < 82) {
            put_str(g, PICK(r, bad_escapes));
        } else if (k < 90) {
            put_utf8(g, edges[th_below(r, sizeof edges / sizeof edges[0])]);
        } else {
            put_utf8(g, th_code_point(r, 1 + th_below(r, 4)));
        }
    }
    put_byte(g, '"');
}

/* Most keys are short names, so that objects often repeat one (duplicate keys). */
static void gen_key(gen_t *g)
{
    static const char *const names[] = {
        "\"a\"",    "\"b\"",    "\"id\"",      "\"name\"",
        "\"type\"", "\"data\"", "\"k\"",       "\"value\"",
        "\"\"",     "\"x_1\"",  "\"\\u0061\"", "\"a key longer than sixteen bytes\""};
    if (th_chance(&g->shape, 75))
        put_str(g, PICK(&g->shape, names));
    else
        gen_string(g, &g->shape);
}

static void put_digits(gen_t *g, th_rng_t *r, unsigned n, bool nonzero_first)
{
    for (unsigned i = 0; i < n; i++)
        put_byte(g, '0' + (i == 0 && nonzero_first ? 1 + th_below(r, 9) : th_below(r, 10)));
}

/* 1 to 25 digits, mostly few, often around the 18-19 digits where 64 bits run out. */
static unsigned digit_count(th_rng_t *r)
{
    unsigned k = th_below(r, 100);
    return k < 55   ? 1 + th_below(r, 3)
           : k < 75 ? 4 + th_below(r, 13)
           : k < 92 ? 17 + th_below(r, 4)
                    : 21 + th_below(r, 5);
}

static void gen_integer(gen_t *g, th_rng_t *r)
{
    if (th_chance(r, 40))
        put_byte(g, '-');
    unsigned n = digit_count(r);
    put_digits(g, r, n, n > 1);
}

static void gen_real(gen_t *g, th_rng_t *r)
{
    static const char *const fixed[] = {
        "1e5",
        "1E-5",
        "1.0",
        "-0.0",
        "0.0",
        "0e0",
        "-0E+0",
        "1e400",
        "-1e400",
        "1e-400",
        "5e-324",
        "2.5",
        "0.1",
        "1E+2",
        "1e21",
        "1e-7",
        "123456789012345678901234.5",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "9007199254740993.0",
        "4.9e-324",
        "1e0000000000000000000001",
        "0.000001",
    };
    if (th_chance(r, 20)) {
        put_str(g, PICK(r, fixed));
        return;
    }
    if (th_chance(r, 40))
        put_byte(g, '-');
    if (th_chance(r, 30)) {
        put_byte(g, '0');
    } else {
        unsigned n = digit_count(r);
        put_digits(g, r, n, true);
    }
    unsigned form = th_below(r, 3); /* a fraction, an exponent, or both */
    if (form != 1) {
        put_byte(g, '.');
        put_digits(g, r, 1 + th_below(r, 20), false);
    }
    if (form != 0) {
        put_byte(g, th_chance(r, 50) ? 'e' : 'E');
        if (th_chance(r, 60))
            put_byte(g, th_chance(r, 50) ? '+' : '-');
        put_digits(g, r, 1 + th_below(r, 3), false);
    }
}

static void gen_number(gen_t *g)
{
    static const char *const bad[] = {"01",  "-",    "1.",   ".5",   "1e",       "1e+",
                                      "+1",  "-01",  "1.e5", "0x10", "Infinity", "NaN",
                                      "--1", "1ee2", "00",   "-.5"};
    /* The shape says integer or real; now and then the value says otherwise. */
    bool real = !g->tame && th_chance(&g->shape, 25);
    unsigned k = g->tame ? 99 : th_below(&g->val, 100);
    if (k < 1)
        put_str(g, PICK(&g->val, bad));
    else if ((k < 5) != real)
        gen_real(g, &g->val);
    else
        gen_integer(g, &g->val);
}

static void gen_literal(gen_t *g)
{
    static const char *const words[] = {"true", "false", "null"};
    static const char *const bad[] = {"tru", "nul", "True", "falsey", "nulll", "t", "undefined"};
    const char *w = PICK(&g->shape, words);
    put_str(g, !g->tame && th_chance(&g->val, 1) ? PICK(&g->val, bad) : w);
}

static void gen_value(gen_t *g, unsigned depth, unsigned max_depth);

static void gen_object(gen_t *g, unsigned depth, unsigned max_depth)
{
    size_t starts[8], lens[8];
    unsigned n = th_chance(&g->shape, 15) ? 0 : 1 + th_below(&g->shape, 6);
    put_byte(g, '{');
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            put_byte(g, ',');
        ws(g);
        starts[i] = g->out->len;
        if (i > 0 && th_chance(&g->shape, 8)) { /* a key this object already has */
            unsigned j = th_below(&g->shape, i);
            cr_assert_eq(nipc__buf_reserve(g->out, lens[j]), 0);
            put(g, g->out->data + starts[j], lens[j]);
        } else {
            gen_key(g);
        }
        lens[i] = g->out->len - starts[i];
        ws(g);
        put_byte(g, ':');
        gen_value(g, depth + 1, max_depth);
    }
    ws(g);
    put_byte(g, '}');
}

static void gen_array(gen_t *g, unsigned depth, unsigned max_depth)
{
    unsigned n = th_chance(&g->shape, 15) ? 0 : 1 + th_below(&g->shape, 6);
    put_byte(g, '[');
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            put_byte(g, ',');
        gen_value(g, depth + 1, max_depth);
    }
    ws(g);
    put_byte(g, ']');
}

/* A value at `depth` (data is at 1), with containers only above max_depth. */
static void gen_value(gen_t *g, unsigned depth, unsigned max_depth)
{
    ws(g);
    unsigned k = th_below(&g->shape, 100);
    if (depth < max_depth && k < 22)
        gen_object(g, depth, max_depth);
    else if (depth < max_depth && k < 36 && !g->tame)
        gen_array(g, depth, max_depth);
    else if (k < 60)
        gen_string(g, &g->val);
    else if (k < 85)
        gen_number(g);
    else
        gen_literal(g);
    ws(g);
}

/*
 * Data nested exactly `levels` deep (data itself the first), a container on each level and
 * a scalar or an empty container at the bottom, some levels with a sibling beside the path.
 */
static void gen_chain(gen_t *g, unsigned levels)
{
    char *closers = malloc(levels);
    cr_assert_not_null(closers);
    g->chain = levels;
    for (unsigned i = 0; i + 1 < levels; i++) {
        bool obj = th_chance(&g->shape, 30);
        put_str(g, obj ? "{\"k\":" : "[");
        if (th_chance(&g->shape, 3)) {
            put_str(g, obj ? "1,\"s\":" : "1,");
        }
        closers[i] = obj ? '}' : ']';
    }
    static const char *const leaves[] = {"1", "\"s\"", "[]", "{}", "null", "2.5"};
    put_str(g, PICK(&g->shape, leaves));
    for (unsigned i = levels - 1; i > 0; i--)
        put_byte(g, (unsigned char)closers[i - 1]);
    free(closers);
}

static void gen_data(gen_t *g)
{
    if (th_chance(&g->shape, 1)) {
        unsigned base = th_chance(&g->shape, 50) ? FAST_LIMIT : PARSER_LIMIT;
        gen_chain(g, base - 2 + th_below(&g->shape, 5));
        return;
    }
    if (g->tame) /* only an object's tree is kept for the next frame */
        gen_object(g, 1, 1 + th_below(&g->shape, 4));
    else
        gen_value(g, 1, 1 + th_below(&g->shape, 6));
}

static void gen_type(gen_t *g)
{
    static const char *const names[] = {
        "\"message\"",
        "\"t\"",
        "\"app.update\"",
        "\"h\xc3\xa9llo\"",
        "\"\xf0\x9f\x98\x80\"",
        "\"ping-pong\"",
        "\"\"",
        "\"constructor\"",
        "\"toString\"",
        "\"a b\"",
        "\"\x7f\"",
        "\"connect\"",
        "\"error\"",
        "\"data\"",
        "\"close\"",
        "\"*\"",
        "\"socket.disconnected\"",
        "\"disconnect\"",
        "\"destroy\"",
        "\"drain\"",
        "\"start\"",
        "\"connecT\"",
        "\"errors\"",
    };
    unsigned k = th_below(&g->shape, 100);
    if (k < 60) {
        put_str(g, PICK(&g->shape, names));
    } else if (k < 70) { /* around the fast path's 63-byte copy of the type */
        put_byte(g, '"');
        plain_run(g, &g->shape, 61 + th_below(&g->shape, 5));
        put_byte(g, '"');
    } else {
        gen_string(g, &g->shape);
    }
}

static void gen_bad_type(gen_t *g)
{
    static const char *const values[] = {"7",   "null", "true",          "{}",    "[\"t\"]",
                                         "1.5", "[]",   "{\"a\":\"t\"}", "false", "-0"};
    put_str(g, PICK(&g->shape, values));
}

/* "key":value, for the envelope's members. */
static void member(gen_t *g, const char *key, void (*value)(gen_t *))
{
    ws(g);
    put_str(g, key);
    ws(g);
    put_byte(g, ':');
    ws(g);
    value(g);
    ws(g);
}

static void gen_extra(gen_t *g)
{
    gen_value(g, 1, 3);
}

/* A whole frame: mostly node-ipc's envelope, else one of its near misses. */
static void gen_frame(gen_t *g)
{
    g->tame = th_chance(&g->shape, 25);
    unsigned k = g->tame ? 0 : th_below(&g->shape, 100);
    g->ws = k >= 94;
    put_byte(g, '{');
    if (k < 76 || k >= 94) {
        member(g, "\"type\"", gen_type);
        put_byte(g, ',');
        member(g, "\"data\"", gen_data);
    } else if (k < 79) { /* no data */
        member(g, "\"type\"", gen_type);
    } else if (k < 82) { /* a key more, before, between or after */
        unsigned at = th_below(&g->shape, 3);
        if (at == 0) {
            member(g, "\"x\"", gen_extra);
            put_byte(g, ',');
        }
        member(g, "\"type\"", gen_type);
        put_byte(g, ',');
        if (at == 1) {
            member(g, "\"x\"", gen_extra);
            put_byte(g, ',');
        }
        member(g, "\"data\"", gen_data);
        if (at == 2) {
            put_byte(g, ',');
            member(g, "\"x\"", gen_extra);
        }
    } else if (k < 85) { /* data first */
        member(g, "\"data\"", gen_data);
        put_byte(g, ',');
        member(g, "\"type\"", gen_type);
    } else if (k < 88) { /* type or data twice */
        bool twice_type = th_chance(&g->shape, 50);
        member(g, "\"type\"", gen_type);
        put_byte(g, ',');
        member(g, "\"data\"", gen_data);
        put_byte(g, ',');
        member(g, twice_type ? "\"type\"" : "\"data\"", twice_type ? gen_type : gen_data);
    } else if (k < 91) { /* type not a string, or no type */
        if (th_chance(&g->shape, 75)) {
            member(g, "\"type\"", gen_bad_type);
            put_byte(g, ',');
        }
        member(g, "\"data\"", gen_data);
    } else { /* not an object at all */
        g->out->len = 0;
        static const char *const tops[] = {"", "null", "[]", "\"type\"", "7", " ", "{", "}"};
        if (th_chance(&g->shape, 50))
            put_str(g, PICK(&g->shape, tops));
        else
            gen_data(g);
        return;
    }
    put_byte(g, '}');
}

/* Usually nothing; else a cut, a changed, inserted, removed or repeated byte or slice. */
static void mutate(th_rng_t *r, nipc_buf_t *b)
{
    static const char specials[] = "\"\\,:{}[] \t0-e.\x80\xc3";
    unsigned k = th_below(r, 100);
    if (k < 80 || b->len == 0)
        return;
    size_t at = th_below(r, (unsigned)b->len);
    cr_assert_eq(nipc__buf_reserve(b, b->len + 1), 0);
    if (k < 84) {
        b->len = at;
    } else if (k < 88) {
        b->data[at] =
            th_chance(r, 50) ? (char)(b->data[at] ^ (1 << th_below(r, 8))) : (char)th_below(r, 256);
    } else if (k < 95) {
        char c = k < 91 ? " \t\n\r"[th_below(r, 4)] : specials[th_below(r, sizeof specials)];
        memmove(b->data + at + 1, b->data + at, b->len - at);
        b->data[at] = c;
        b->len++;
    } else if (k < 98) {
        memmove(b->data + at, b->data + at + 1, b->len - at - 1);
        b->len--;
    } else {
        size_t n = th_below(r, (unsigned)(b->len - at)) + 1;
        cr_assert_eq(nipc__buf_reserve(b, n), 0);
        memmove(b->data + at + n, b->data + at, b->len - at);
        b->len += n;
    }
}

/* ---- the comparison ------------------------------------------------------------------- */

typedef struct stats {
    unsigned long frames;
    unsigned long fast;    /* accepted by the fast path, fresh */
    unsigned long general; /* accepted by the general path */
    unsigned long refused;
    unsigned long reused; /* accepted into the carried tree */
    unsigned long kept;   /* parts of a tree a "handler" kept */
    unsigned long deep;   /* frames nested past the fast path's depth */
} stats_t;

static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

static const char *outcome(int err)
{
    return err == 0 ? "accepted" : nipc_err_name(err);
}

static void expect_same(const nipc_msg_t *ref, const nipc_msg_t *got, const char *how,
                        uint64_t seed, const char *p, size_t n)
{
    cr_assert_eq(got->err, ref->err, "seed %#llx, %s: %s, the general path %s, frame %s",
                 (unsigned long long)seed, how, outcome(got->err), outcome(ref->err),
                 th_show(p, n));
    if (ref->err != 0) {
        cr_assert(json_equal(got->decoded, ref->decoded),
                  "seed %#llx, %s: another error payload, frame %s", (unsigned long long)seed, how,
                  th_show(p, n));
        return;
    }
    cr_assert_str_eq(got->type, ref->type, "seed %#llx, %s: frame %s", (unsigned long long)seed,
                     how, th_show(p, n));
    cr_assert_eq(got->type_len, ref->type_len, "seed %#llx, %s: type length, frame %s",
                 (unsigned long long)seed, how, th_show(p, n));
    cr_assert_eq(ref->type_len, strlen(ref->type), "seed %#llx: type length, frame %s",
                 (unsigned long long)seed, th_show(p, n));
    if (!th_same_tree(got->data, ref->data)) {
        char *a = dump(got->data), *b = dump(ref->data);
        cr_assert_fail("seed %#llx, %s: data %s, the general path's %s, frame %s",
                       (unsigned long long)seed, how, a ? a : "(none)", b ? b : "(none)",
                       th_show(p, n));
    }
}

typedef struct kept {
    json_t *v;    /* a reference a handler kept */
    json_t *copy; /* what it held then */
} kept_t;

/* Now and then a handler keeps the data or one of its members, which must then stay as it
 * was whatever the following frames decode into. */
static void maybe_keep(th_rng_t *r, const nipc_msg_t *m, kept_t *kept, unsigned *nkept, stats_t *st)
{
    if (*nkept == 4 || m->err != 0 || !json_is_object(m->data) || !th_chance(r, 4))
        return;
    json_t *v = m->data;
    size_t size = json_object_size(v);
    if (size > 0 && th_chance(r, 60)) {
        void *it = json_object_iter(v);
        for (unsigned i = th_below(r, (unsigned)size); i > 0; i--)
            it = json_object_iter_next(v, it);
        v = json_object_iter_value(it);
    }
    kept[*nkept].v = json_incref(v);
    kept[*nkept].copy = json_deep_copy(v);
    cr_assert_not_null(kept[*nkept].copy);
    (*nkept)++;
    st->kept++;
}

static void check_frame(const char *p, size_t n, bool allow_reserved, json_t **shape, th_rng_t *r,
                        kept_t *kept, unsigned *nkept, stats_t *st, uint64_t seed)
{
    nipc_msg_t ref, fast, into;
    nipc__msg_decode_general(&ref, p, n, allow_reserved);
    nipc__msg_decode(&fast, p, n, allow_reserved);
    expect_same(&ref, &fast, "nipc__msg_decode", seed, p, n);

    json_t *before = *shape;
    nipc__msg_decode_into(&into, p, n, allow_reserved, shape);
    expect_same(&ref, &into,
                before ? "nipc__msg_decode_into, a tree carried" : "nipc__msg_decode_into", seed, p,
                n);
    if (into.err == 0 && into.decoded == NULL) {
        cr_assert_eq(into.data, *shape, "a reused tree is the carried one");
        st->reused++;
    }
    maybe_keep(r, &into, kept, nkept, st);
    nipc__msg_done(&into, shape);

    st->frames++;
    if (ref.err != 0)
        st->refused++;
    else if (fast.decoded == fast.data)
        st->fast++;
    else
        st->general++;
    nipc__msg_clear(&fast);
    nipc__msg_clear(&ref);
}

Test(paths, every_frame_decodes_alike_on_every_path, .timeout = 120)
{
    enum { FRAMES = 300000, MIN_FRAMES = 20000 };
    const double budget = 6.0; /* seconds: a sanitizer build stops here, short of FRAMES */
    /* Valgrind (test/support/valgrind.sh) gets a tenth as far in that time. */
    const char *vg = getenv("NIPC_VALGRIND");
    const unsigned long min_frames =
        vg != NULL && strcmp(vg, "1") == 0 ? MIN_FRAMES / 10 : MIN_FRAMES;
    const uint64_t seed = th_seed(0x6e697063);
    th_rng_t seqs = {seed};
    nipc_buf_t b;
    nipc__buf_init(&b);
    stats_t st = {0};
    double t0 = th_now();

    while (st.frames < FRAMES && th_now() - t0 < budget) {
        th_rng_t shape0 = {th_next(&seqs)};
        th_rng_t val = {th_next(&seqs)};
        bool allow_reserved = th_chance(&val, 30);
        unsigned frames = 1 + th_below(&val, 8);
        json_t *shape = NULL;
        kept_t kept[4];
        unsigned nkept = 0;
        for (unsigned f = 0; f < frames; f++) {
            gen_t g = {shape0, val, &b, false, false, 0};
            nipc__buf_reset(&b);
            gen_frame(&g);
            val = g.val;
            mutate(&val, &b);
            /* An exact copy, so that a read past the frame's end is an ASan error. */
            char *p = malloc(b.len ? b.len : 1);
            cr_assert_not_null(p);
            memcpy(p, b.data, b.len);
            st.deep += g.chain > FAST_LIMIT;
            check_frame(p, b.len, allow_reserved, &shape, &val, kept, &nkept, &st, seed);
            free(p);
        }
        for (unsigned i = 0; i < nkept; i++) {
            cr_assert(th_same_tree(kept[i].v, kept[i].copy),
                      "seed %#llx: a value a handler kept was written", (unsigned long long)seed);
            json_decref(kept[i].v);
            json_decref(kept[i].copy);
        }
        json_decref(shape);
    }
    nipc__buf_free(&b);

    cr_log_info("seed %#llx: %lu frames in %.2f s: %lu fast, %lu general, %lu refused, %lu "
                "reused, %lu kept, %lu deep",
                (unsigned long long)seed, st.frames, th_now() - t0, st.fast, st.general, st.refused,
                st.reused, st.kept, st.deep);
    /* The run must have exercised every outcome, or it proves little. */
    cr_assert_geq(st.frames, min_frames);
    cr_assert_gt(st.fast, st.frames / 10);
    cr_assert_gt(st.general, st.frames / 20);
    cr_assert_gt(st.refused, st.frames / 20);
    cr_assert_gt(st.reused, st.frames / 50);
    cr_assert_gt(st.kept, 0);
    cr_assert_gt(st.deep, 0);
}

/*
 * A lone surrogate escape, which JSON.stringify writes for half a surrogate pair ("\ud83d"),
 * becomes U+FFFD, bytes EF BF BD, as Node's UTF-8 encoder writes it (README, "Text"): on
 * every path, the fast envelope path's entry (nipc__msg_decode, which hands surrogates on),
 * a carried tree (nipc__msg_decode_into) and jansson's general path, in data, in a key and in
 * the type. A surrogate pair stays one character.
 */
Test(paths, a_lone_surrogate_escape_becomes_u_fffd_on_every_path)
{
#define FFFD "\xef\xbf\xbd"
    static const struct {
        const char *frame, *type, *key, *want; /* key NULL: data is the string */
    } cases[] = {
        {"{\"type\":\"t\",\"data\":\"\\ud83d\"}", "t", NULL, FFFD},
        {"{\"type\":\"t\",\"data\":\"a\\udc00b\"}", "t", NULL, "a" FFFD "b"},
        {"{\"type\":\"t\",\"data\":\"\\ud83d\\ud83d\"}", "t", NULL, FFFD FFFD},
        {"{\"type\":\"t\",\"data\":\"\\ude00\\ud83d\"}", "t", NULL, FFFD FFFD},
        {"{\"type\":\"t\",\"data\":\"\\ud83dx\"}", "t", NULL, FFFD "x"},
        {"{\"type\":\"t\",\"data\":\"\\ud83d\\ude00\"}", "t", NULL, "\xf0\x9f\x98\x80"},
        {"{\"type\":\"t\", \"data\":\"\\udbff\"}", "t", NULL, FFFD}, /* whitespace: general */
        {"{\"type\":\"t\",\"data\":{\"k\":\"\\udfff\"}}", "t", "k", FFFD},
        {"{\"type\":\"t\",\"data\":{\"\\ud83d\":\"v\"}}", "t", FFFD, "v"},
        {"{\"type\":\"\\ud83d\",\"data\":\"v\"}", FFFD, NULL, "v"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = cases[i].frame;
        size_t n = strlen(p);
        nipc_msg_t m[3];
        json_t *shape = NULL;
        nipc__msg_decode(&m[0], p, n, false);
        nipc__msg_decode_into(&m[1], p, n, false, &shape);
        nipc__msg_decode_general(&m[2], p, n, false);
        static const char *const how[] = {"nipc__msg_decode", "nipc__msg_decode_into",
                                          "nipc__msg_decode_general"};
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(m[k].err, 0, "%s: %s refused %s", how[k], outcome(m[k].err), p);
            cr_assert_str_eq(m[k].type, cases[i].type, "%s: the type of %s", how[k], p);
            const json_t *s = cases[i].key ? json_object_get(m[k].data, cases[i].key) : m[k].data;
            cr_assert(json_is_string(s), "%s: no string in %s", how[k], p);
            size_t len = strlen(cases[i].want);
            cr_assert(json_string_length(s) == len &&
                          memcmp(json_string_value(s), cases[i].want, len) == 0,
                      "%s: case %zu, %s, gave %s", how[k], i, p,
                      th_show(json_string_value(s), json_string_length(s)));
        }
        nipc__msg_done(&m[1], &shape);
        json_decref(shape);
        nipc__msg_clear(&m[0]);
        nipc__msg_clear(&m[2]);
    }
#undef FFFD
}
