/* SPDX-License-Identifier: MIT */
/*
 * nipc reads back whatever its encoder writes. Random jansson trees, some holding what the
 * encoder must refuse (text that is not UTF-8, a key holding NUL, nesting past what a
 * receiver parses), are encoded with nipc__msg_encode; a refused tree must give UV_EINVAL
 * with the buffer untouched, any other must decode, on the fast and on the general path, to
 * what was sent. "What was sent" is JavaScript's view, since the wire holds JSON.stringify's
 * text: a real with an integral value may come back as an integer, and an integer as a real
 * when another number of the frame does not fit 64 bits; the value must be the same. A
 * failure prints the seed; NIPC_TEST_SEED=<seed> replays the run.
 */
#include "../support/random.h"
#include "core/core.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <float.h>
#include <math.h>

/* The deepest data a frame may carry, data itself the first level. */
#define DATA_LIMIT 2047

typedef struct gen {
    th_rng_t r;
    bool refuse; /* the tree holds something the encoder must refuse */
    unsigned depth;
} gen_t;

static void put(nipc_buf_t *b, const void *p, size_t n)
{
    cr_assert_eq(nipc__buf_append(b, p, n), 0);
}

/* Text into b: valid UTF-8 of every length, controls, NUL, quote and backslash; with
 * `broken`, one piece that is not UTF-8. */
static void gen_text(th_rng_t *r, nipc_buf_t *b, bool broken)
{
    static const char *const bad[] = {"\x80",
                                      "\xff",
                                      "\xc3",
                                      "\xc0\x80",
                                      "\xe0\x80\x80",
                                      "\xed\xa0\x80",
                                      "\xf4\x90\x80\x80",
                                      "\xf0\x9f\x98",
                                      "\xe2\x28\xa1",
                                      "\xf8\x88\x80\x80\x80"};
    nipc__buf_reset(b);
    unsigned pieces = th_chance(r, 10) ? 0 : 1 + th_below(r, 6);
    unsigned broken_at = broken ? th_below(r, pieces + 1) : UINT32_MAX;
    for (unsigned i = 0; i <= pieces; i++) {
        if (i == broken_at) {
            const char *s = bad[th_below(r, sizeof bad / sizeof bad[0])];
            put(b, s, strlen(s));
        }
        if (i == pieces)
            break;
        unsigned k = th_below(r, 100);
        if (k < 40) {
            for (unsigned n = 1 + th_below(r, 12); n > 0; n--) {
                char c = (char)(0x20 + th_below(r, 0x5f));
                put(b, &c, 1);
            }
        } else if (k < 45) {
            for (unsigned n = 16 + th_below(r, 300); n > 0; n--) { /* the block scans */
                char c = (char)('a' + th_below(r, 26));
                put(b, &c, 1);
            }
        } else if (k < 55) {
            char c = (char)"\"\\/\b\f\n\r\t\x01\x1f\x7f"[th_below(r, 11)];
            put(b, &c, 1);
        } else if (k < 58) {
            put(b, "", 1); /* NUL */
        } else {
            unsigned char u[4];
            put(b, u, th_utf8(th_code_point(r, 1 + th_below(r, 4)), u));
        }
    }
}

/* jansson's own check, the reference for what is UTF-8. */
static bool utf8_ok(const nipc_buf_t *text)
{
    json_t *s = json_stringn(text->data ? text->data : "", text->len);
    json_decref(s);
    return s != NULL;
}

static json_t *gen_string(gen_t *g, nipc_buf_t *text)
{
    gen_text(&g->r, text, th_chance(&g->r, 2));
    g->refuse |= !utf8_ok(text);
    /* The unchecked constructor: the encoder, not jansson, must catch what is not UTF-8. */
    json_t *s = json_stringn_nocheck(text->data ? text->data : "", text->len);
    cr_assert_not_null(s);
    return s;
}

static json_t *gen_integer(th_rng_t *r)
{
    static const json_int_t edges[] = {0,
                                       -1,
                                       9007199254740991LL,
                                       9007199254740993LL,
                                       -9007199254740993LL,
                                       999999999999999999LL,
                                       1000000000000000000LL,
                                       INT64_MAX,
                                       INT64_MIN,
                                       INT64_MIN + 1};
    unsigned k = th_below(r, 100);
    json_int_t v;
    if (k < 50)
        v = (json_int_t)th_below(r, 2000) - 1000;
    else if (k < 70)
        v = edges[th_below(r, sizeof edges / sizeof edges[0])];
    else
        v = (json_int_t)(th_next(r) >> th_below(r, 64)) * (th_chance(r, 50) ? -1 : 1);
    return json_integer(v);
}

static json_t *gen_real(th_rng_t *r)
{
    static const double edges[] = {0.0,
                                   -0.0,
                                   0.1,
                                   1e20,
                                   1e21,
                                   -1e21,
                                   1e-7,
                                   5e-324,
                                   DBL_MAX,
                                   DBL_MIN,
                                   2.5,
                                   100.0,
                                   1e300,
                                   0.5e-6,
                                   9007199254740993.0,
                                   123456789012345680000.0,
                                   1.5e18};
    unsigned k = th_below(r, 100);
    double d;
    if (k < 25) {
        d = edges[th_below(r, sizeof edges / sizeof edges[0])];
    } else if (k < 50) {
        d = (double)((int64_t)th_below(r, 2000000) - 1000000); /* integral */
    } else if (k < 75) {
        d = ldexp((double)(th_next(r) >> 11), (int)th_below(r, 200) - 150);
    } else {
        uint64_t bits = th_next(r); /* any finite double; jansson refuses NaN and infinities */
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            d = 1.0;
    }
    json_t *v = json_real(th_chance(r, 50) ? -d : d);
    cr_assert_not_null(v);
    return v;
}

static json_t *gen_value(gen_t *g, nipc_buf_t *text);

static json_t *gen_object(gen_t *g, nipc_buf_t *text)
{
    json_t *o = json_object();
    cr_assert_not_null(o);
    for (unsigned n = th_chance(&g->r, 15) ? 0 : 1 + th_below(&g->r, 6); n > 0; n--) {
        unsigned k = th_below(&g->r, 100);
        if (k < 60) {
            static const char *const names[] = {"a", "id", "type", "data", "", "x y", "\xc3\xa9"};
            const char *name = names[th_below(&g->r, sizeof names / sizeof names[0])];
            nipc__buf_reset(text);
            put(text, name, strlen(name));
        } else {
            gen_text(&g->r, text, k >= 97);
        }
        bool refuse = g->refuse;
        /* Most keys cut at a NUL, so that not every object is refused. */
        const char *nul = text->len > 0 ? memchr(text->data, '\0', text->len) : NULL;
        if (nul != NULL && th_chance(&g->r, 70))
            text->len = (size_t)(nul - text->data);
        g->refuse |=
            !utf8_ok(text) || (text->len > 0 && memchr(text->data, '\0', text->len) != NULL);
        char *key = nipc__strndup(text->data ? text->data : "", text->len);
        cr_assert_not_null(key);
        size_t klen = text->len;
        g->depth++;
        json_t *v = gen_value(g, text);
        g->depth--;
        if (json_object_getn(o, key, klen) != NULL) {
            /* A key again would replace a value, perhaps one the encoder must refuse. */
            g->refuse = refuse;
            json_decref(v);
        } else {
            cr_assert_eq(json_object_setn_new_nocheck(o, key, klen, v), 0);
        }
        nipc__free(key);
    }
    return o;
}

static json_t *gen_array(gen_t *g, nipc_buf_t *text)
{
    json_t *a = json_array();
    cr_assert_not_null(a);
    for (unsigned n = th_chance(&g->r, 15) ? 0 : 1 + th_below(&g->r, 6); n > 0; n--) {
        g->depth++;
        cr_assert_eq(json_array_append_new(a, gen_value(g, text)), 0);
        g->depth--;
    }
    return a;
}

static json_t *gen_value(gen_t *g, nipc_buf_t *text)
{
    unsigned k = th_below(&g->r, 100);
    if (g->depth < 5 && k < 20)
        return gen_object(g, text);
    if (g->depth < 5 && k < 35)
        return gen_array(g, text);
    if (k < 60)
        return gen_string(g, text);
    if (k < 75)
        return gen_integer(&g->r);
    if (k < 90)
        return gen_real(&g->r);
    return k < 94 ? json_true() : k < 97 ? json_false() : json_null();
}

/* Data nested `levels` deep around a leaf, arrays and objects mixed. */
static json_t *gen_chain(gen_t *g, unsigned levels)
{
    json_t *v = th_chance(&g->r, 50) ? json_integer(7) : json_object();
    for (unsigned i = 1; i < levels; i++) {
        json_t *outer;
        if (th_chance(&g->r, 30)) {
            outer = json_object();
            cr_assert_eq(json_object_set_new(outer, "k", v), 0);
        } else {
            outer = json_array();
            cr_assert_eq(json_array_append_new(outer, v), 0);
        }
        v = outer;
    }
    g->refuse |= levels > DATA_LIMIT;
    return v;
}

/*
 * Leaves as JSON.parse(JSON.stringify(sent)) gives them, held by jansson: numbers compare as
 * the doubles a JavaScript peer sees, exactly when both are integers.
 */
static bool same_for_js(const json_t *sent, const json_t *got)
{
    if (!json_is_number(sent) || !json_is_number(got))
        return th_same_leaf(sent, got);
    if (json_is_integer(sent) && json_is_integer(got))
        return json_integer_value(sent) == json_integer_value(got);
    if (json_is_real(sent) && json_is_integer(got))
        return (double)json_integer_value(got) == json_real_value(sent);
    return json_number_value(sent) == json_number_value(got);
}

static const char *gen_type(th_rng_t *r, nipc_buf_t *text, bool *refuse)
{
    static const char *const names[] = {"message",     "t",        "connect",   "h\xc3\xa9llo", "",
                                        "constructor", "toString", "a\"b\\c\n", "\xff"};
    if (th_chance(r, 70)) {
        const char *t = names[th_below(r, sizeof names / sizeof names[0])];
        *refuse |=
            strcmp(t, "constructor") == 0 || strcmp(t, "toString") == 0 || strcmp(t, "\xff") == 0;
        return t;
    }
    gen_text(r, text, th_chance(r, 3));
    const char *nul = text->len > 0 ? memchr(text->data, '\0', text->len) : NULL;
    if (nul != NULL) /* a C string */
        text->len = (size_t)(nul - text->data);
    *refuse |= !utf8_ok(text);
    put(text, "", 1);
    return text->data;
}

Test(roundtrip, nipc_reads_back_what_it_sends, .timeout = 120)
{
    enum { TREES = 150000, MIN_TREES = 5000 };
    const double budget = 6.0; /* seconds */
    const uint64_t seed = th_seed(0x726f756e64);
    th_rng_t seeds = {seed};
    nipc_buf_t out, text, type_text;
    nipc__buf_init(&out);
    nipc__buf_init(&text);
    nipc__buf_init(&type_text);
    unsigned long trees = 0, refused = 0, fast = 0, deep = 0;
    double t0 = th_now();

    for (; trees < TREES && th_now() - t0 < budget; trees++) {
        gen_t g = {{th_next(&seeds)}, false, 1};
        json_t *data;
        if (th_chance(&g.r, 1)) {
            data = gen_chain(&g, DATA_LIMIT - 1 + th_below(&g.r, 3));
            deep++;
        } else {
            data = gen_value(&g, &text);
        }
        bool refuse = g.refuse;
        const char *type = gen_type(&g.r, &type_text, &refuse);

        nipc__buf_reset(&out);
        put(&out, "queued", 6);
        int err = nipc__msg_encode(&out, type, data, false, "\f", 1);
        if (refuse) {
            cr_assert_eq(err, UV_EINVAL, "seed %#llx, tree %lu: %s, not refused: %s",
                         (unsigned long long)seed, trees, err ? nipc_err_name(err) : "sent",
                         th_show(out.data, out.len));
            cr_assert(out.len == 6 && memcmp(out.data, "queued", 6) == 0,
                      "seed %#llx, tree %lu: the buffer changed", (unsigned long long)seed, trees);
            refused++;
            json_decref(data);
            continue;
        }
        cr_assert_eq(err, 0, "seed %#llx, tree %lu: refused with %s", (unsigned long long)seed,
                     trees, nipc_err_name(err));
        const char *frame = out.data + 6;
        size_t n = out.len - 6 - 1;
        cr_assert_eq(frame[n], '\f');

        nipc_msg_t m, ref;
        nipc__msg_decode(&m, frame, n, true);
        nipc__msg_decode_general(&ref, frame, n, true);
        cr_assert_eq(m.err, 0, "seed %#llx, tree %lu: nipc refuses its own frame (%s): %s",
                     (unsigned long long)seed, trees, nipc_err_name(m.err), th_show(frame, n));
        cr_assert_eq(ref.err, 0, "seed %#llx, tree %lu: the general path refuses (%s): %s",
                     (unsigned long long)seed, trees, nipc_err_name(ref.err), th_show(frame, n));
        cr_assert_str_eq(m.type, type);
        cr_assert_str_eq(ref.type, type);
        cr_assert(th_same_tree(m.data, ref.data), "seed %#llx, tree %lu: the paths differ: %s",
                  (unsigned long long)seed, trees, th_show(frame, n));
        cr_assert(th_match(data, m.data, same_for_js),
                  "seed %#llx, tree %lu: read back otherwise: %s", (unsigned long long)seed, trees,
                  th_show(frame, n));
        fast += m.decoded == m.data;
        nipc__msg_clear(&m);
        nipc__msg_clear(&ref);
        json_decref(data);
    }
    nipc__buf_free(&out);
    nipc__buf_free(&text);
    nipc__buf_free(&type_text);

    cr_log_info("seed %#llx: %lu trees in %.2f s: %lu refused, %lu by the fast path, %lu deep",
                (unsigned long long)seed, trees, th_now() - t0, refused, fast, deep);
    cr_assert_geq(trees, MIN_TREES);
    cr_assert_gt(refused, trees / 20);
    cr_assert_lt(refused, trees / 2);
    cr_assert_gt(fast, trees / 10);
    cr_assert_gt(deep, 0);
}
