/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the randomised unit tests of the message codec: a seeded generator, a strict
 * comparison of jansson trees and a printable form of a frame for failure messages.
 *
 * The generator is splitmix64: tiny, fast, and the same sequence on every platform. A test
 * takes its seed from th_seed(), which reads NIPC_TEST_SEED when it is set, so a failure
 * printed with its seed replays exactly. Everything is static, like harness.h.
 */
#ifndef NIPC_TEST_RANDOM_H
#define NIPC_TEST_RANDOM_H

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct th_rng {
    uint64_t s;
} th_rng_t;

static inline uint64_t th_next(th_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A number in [0, n), n > 0. The modulo bias is far below what these tests could notice. */
static inline unsigned th_below(th_rng_t *r, unsigned n)
{
    return (unsigned)(th_next(r) % n);
}

/* True with probability pct percent. */
static inline bool th_chance(th_rng_t *r, unsigned pct)
{
    return th_below(r, 100) < pct;
}

/* NIPC_TEST_SEED when set (decimal or 0x hex), else `fallback`. */
static inline uint64_t th_seed(uint64_t fallback)
{
    const char *s = getenv("NIPC_TEST_SEED");
    return s != NULL && *s != '\0' ? strtoull(s, NULL, 0) : fallback;
}

static inline double th_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes code point cp (below 0x110000) as UTF-8 into b; returns the length (1-4). */
static inline size_t th_utf8(unsigned cp, unsigned char b[4])
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A random code point that takes `bytes` bytes of UTF-8 (1-4; 1 gives 0x20-0x7F), never a
 * surrogate. */
static inline unsigned th_code_point(th_rng_t *r, unsigned bytes)
{
    switch (bytes) {
    case 1:
        return 0x20 + th_below(r, 0x60);
    case 2:
        return 0x80 + th_below(r, 0x800 - 0x80);
    case 3: {
        unsigned cp = 0x800 + th_below(r, 0x10000 - 0x800 - 0x800);
        return cp >= 0xd800 ? cp + 0x800 : cp;
    }
    default:
        return 0x10000 + th_below(r, 0x110000 - 0x10000);
    }
}

/* Whether two values that are not both objects or both arrays are equal. */
typedef bool th_leaf_eq(const json_t *a, const json_t *b);

/* Objects with the same keys in the same order, arrays of the same length, and leaves that
 * `leaf` calls equal, all the way down. */
static inline bool th_match(const json_t *a, const json_t *b, th_leaf_eq *leaf)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia != NULL && ib != NULL; ia = json_object_iter_next((json_t *)a, ia),
                                         ib = json_object_iter_next((json_t *)b, ib)) {
            size_t n = json_object_iter_key_len(ia);
            if (n != json_object_iter_key_len(ib) ||
                memcmp(json_object_iter_key(ia), json_object_iter_key(ib), n) != 0 ||
                !th_match(json_object_iter_value(ia), json_object_iter_value(ib), leaf))
                return false;
        }
        return ia == NULL && ib == NULL;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!th_match(json_array_get(a, i), json_array_get(b, i), leaf))
                return false;
        return true;
    }
    return leaf(a, b);
}

/* The same type (an integer is not a real) and value: string bytes, NUL included, and reals
 * bit for bit (-0.0 is not 0.0). */
static inline bool th_same_leaf(const json_t *a, const json_t *b)
{
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    case JSON_REAL: {
        double x = json_real_value(a), y = json_real_value(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    case JSON_OBJECT:
    case JSON_ARRAY:
        return false; /* an object and an array */
    default:          /* true, false, null */
        return true;
    }
}

/*
 * Equal as values and as bytes on the wire: types, key order, string bytes and reals. json_equal()
 * ignores key order and the sign of zero, so it is not enough here.
 */
static inline bool th_same_tree(const json_t *a, const json_t *b)
{
    return th_match(a, b, th_same_leaf);
}

/*
 * The first `max` bytes of p as printable text, other bytes as \xHH, in a static buffer: for
 * failure messages only (one per message).
 */
static inline const char *th_show(const char *p, size_t n)
{
    static char text[4 * 400 + 32];
    size_t max = 400, k = 0;
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            text[k++] = (char)c;
        else
            k += (size_t)snprintf(text + k, sizeof text - k, "\\x%02x", c);
    }
    if (n > max)
        k += (size_t)snprintf(text + k, sizeof text - k, "... (%zu bytes)", n);
    text[k] = '\0';
    return text;
}

#endif /* NIPC_TEST_RANDOM_H */
