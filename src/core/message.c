/* SPDX-License-Identifier: MIT */
/*
 * The JSON envelope. The encoder writes straight into an output buffer what JavaScript's
 * JSON.stringify({type, data}) would write (W1-W6b), because peers compare bytes, not
 * values: jansson's own dump differs on numbers (100.0, 0.10000000000000001). The decoder
 * turns any input into either a message or node-ipc's error payload; it never fails hard.
 */
#include "core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * jansson's parser takes 2048 levels of nesting, each value a level of its own: in a frame the
 * envelope is the first and the data the second. The encoder refuses data that would nest
 * deeper, since no nipc receiver could read the frame.
 */
#define MAX_DEPTH 2048

static const char hex[] = "0123456789abcdef";

/*
 * Eight bytes at a time: strings are copied or checked whole until a byte that needs
 * attention, which keeps large payloads near memory speed. ONES has 0x01 in every byte.
 */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load8(const void *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Nonzero when some byte of w is below n (n <= 128), or equals c. */
static inline uint64_t below(uint64_t w, unsigned n)
{
    return (w - ONES * n) & ~w & HIGHS;
}

static inline uint64_t equals(uint64_t w, unsigned char c)
{
    return below(w ^ (ONES * c), 1);
}

/* A word JSON.stringify copies as is: no control byte, no quote, no backslash. */
static inline bool plain_word(uint64_t w)
{
    return (below(w, 0x20) | equals(w, '"') | equals(w, '\\')) == 0;
}

/*
 * The length of the prefix of p[0, n) made of whole blocks that need no attention: no
 * control byte, quote or backslash, and with `ascii` no byte above 0x7F either. With `dst`,
 * those blocks are copied there in the same pass, so a string is read once to be checked
 * and copied. SSE2 (part of every x86-64) checks 64 bytes per step, then 16; elsewhere the
 * word loop does 8.
 */
#if defined(__SSE2__)
#include <emmintrin.h>

/* The bytes of v that need attention, as 0xFF lanes. */
static inline __m128i special16(__m128i v, bool ascii)
{
    __m128i ctl;
    if (ascii) /* as signed bytes, controls and bytes above 0x7F are both below 0x20 */
        ctl = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
    else /* unsigned v < 0x20, that is v == min(v, 0x1F) */
        ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    __m128i q = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    __m128i b = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    return _mm_or_si128(ctl, _mm_or_si128(q, b));
}

/*
 * AVX2, where the processor has it (chosen at run time: the library is built for any
 * x86-64), takes long strings 64 bytes per step in two registers; the SSE2 loops below
 * finish what it leaves.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(NIPC_NO_AVX2)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1

__attribute__((target("avx2"))) static inline __m256i special32(__m256i v, bool ascii)
{
    __m256i ctl;
    if (ascii)
        ctl = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v);
    else
        ctl = _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
    __m256i q = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('"'));
    __m256i b = _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'));
    return _mm256_or_si256(ctl, _mm256_or_si256(q, b));
}

__attribute__((target("avx2"))) static size_t plain_blocks_avx2(const unsigned char *p, size_t n,
                                                                bool ascii, char *dst)
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i hit = _mm256_or_si256(special32(a, ascii), special32(b, ascii));
        if (!_mm256_testz_si256(hit, hit))
            break;
        if (dst != NULL) {
            _mm256_storeu_si256((__m256i *)(dst + i), a);
            _mm256_storeu_si256((__m256i *)(dst + i + 32), b);
        }
    }
    return i;
}

/*
 * Whether p[0, m) (m a multiple of 32) holds no UTF-8 error, 32 bytes a step; a character
 * cut at the end is the caller's. Every error shows in a pair of bytes, through the two
 * nibbles of the first and the high nibble of the second, except a third or fourth byte
 * that is missing or in excess, which depends on the bytes two and three back. A table per
 * nibble gives the kinds of error that nibble can be part of; a byte is wrong when its three
 * nibbles share a kind. CONT, a continuation byte after one that is not a lead byte, is
 * wrong exactly when the byte is not a third or fourth one.
 */
__attribute__((target("avx2"))) static bool utf8_blocks_avx2(const unsigned char *p, size_t m)
{
    enum {
        SHORT = 0x01, /* a lead byte, then no continuation byte */
        OVER2 = 0x02, /* C0 or C1 */
        OVER3 = 0x04, /* E0, then 80-9F */
        SURR = 0x08,  /* ED, then A0-BF: a surrogate */
        F_8X = 0x10,  /* F0 or F5-FF, then 80-8F */
        LARGE = 0x20, /* F4-FF, then 90-BF: past U+10FFFF */
        CONT = 0x40,
    };
    /* Indexed by a nibble, each table twice: a byte shuffle looks up within its 128-bit lane. */
#define NIBBLES(...) _mm256_setr_epi8(__VA_ARGS__, __VA_ARGS__)
#define ANY (SHORT | CONT) /* what any low nibble of the first byte allows */
    /* clang-format off */
    const __m256i first_high = NIBBLES(
        CONT, CONT, CONT, CONT, CONT, CONT, CONT, CONT,   /* 0-7: ASCII */
        CONT, CONT, CONT, CONT,                           /* 8-B: continuation bytes */
        SHORT | OVER2, SHORT, SHORT | OVER3 | SURR, SHORT | F_8X | LARGE);
    const __m256i first_low = NIBBLES(
        ANY | OVER2 | OVER3 | F_8X, ANY | OVER2, ANY, ANY,
        ANY | LARGE, ANY | F_8X | LARGE, ANY | F_8X | LARGE, ANY | F_8X | LARGE,
        ANY | F_8X | LARGE, ANY | F_8X | LARGE, ANY | F_8X | LARGE, ANY | F_8X | LARGE,
        ANY | F_8X | LARGE, ANY | SURR | F_8X | LARGE, ANY | F_8X | LARGE, ANY | F_8X | LARGE);
    const __m256i second_high = NIBBLES(
        SHORT, SHORT, SHORT, SHORT, SHORT, SHORT, SHORT, SHORT,
        OVER2 | OVER3 | F_8X | CONT, OVER2 | OVER3 | LARGE | CONT,
        OVER2 | SURR | LARGE | CONT, OVER2 | SURR | LARGE | CONT,
        SHORT, SHORT, SHORT, SHORT);
    /* clang-format on */
#undef ANY
#undef NIBBLES
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    __m256i prev = _mm256_setzero_si256(); /* before the text: as if ASCII */
    __m256i err = _mm256_setzero_si256();
    for (size_t i = 0; i < m; i += 32) {
        __m256i cur = _mm256_loadu_si256((const __m256i *)(p + i));
        /* The bytes one, two and three back: the last of prev, then cur's own. */
        __m256i back = _mm256_permute2x128_si256(prev, cur, 0x21);
        __m256i prev1 = _mm256_alignr_epi8(cur, back, 15);
        __m256i prev2 = _mm256_alignr_epi8(cur, back, 14);
        __m256i prev3 = _mm256_alignr_epi8(cur, back, 13);
        __m256i kinds = _mm256_and_si256(
            _mm256_and_si256(_mm256_shuffle_epi8(
                                 first_high, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nibble)),
                             _mm256_shuffle_epi8(first_low, _mm256_and_si256(prev1, nibble))),
            _mm256_shuffle_epi8(second_high, _mm256_and_si256(_mm256_srli_epi16(cur, 4), nibble)));
        /* A third byte follows E0-FF two back, a fourth F0-FF three back. */
        __m256i late = _mm256_or_si256(_mm256_subs_epu8(prev2, _mm256_set1_epi8((char)0xdf)),
                                       _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)0xef)));
        __m256i must = _mm256_and_si256(_mm256_cmpgt_epi8(late, _mm256_setzero_si256()),
                                        _mm256_set1_epi8(CONT));
        err = _mm256_or_si256(err, _mm256_xor_si256(kinds, must));
        prev = cur;
    }
    return _mm256_testz_si256(err, err) != 0;
}
#endif

static inline size_t plain_blocks(const unsigned char *p, size_t n, bool ascii, char *dst)
{
    size_t i = 0;
#if defined(HAVE_AVX2_PATH)
    if (n >= 256 && __builtin_cpu_supports("avx2"))
        i = plain_blocks_avx2(p, n, ascii, dst);
#endif
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(p + i + 48));
        __m128i hit = _mm_or_si128(_mm_or_si128(special16(a, ascii), special16(b, ascii)),
                                   _mm_or_si128(special16(c, ascii), special16(d, ascii)));
        if (_mm_movemask_epi8(hit) != 0)
            break;
        if (dst != NULL) {
            _mm_storeu_si128((__m128i *)(dst + i), a);
            _mm_storeu_si128((__m128i *)(dst + i + 16), b);
            _mm_storeu_si128((__m128i *)(dst + i + 32), c);
            _mm_storeu_si128((__m128i *)(dst + i + 48), d);
        }
    }
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        if (_mm_movemask_epi8(special16(v, ascii)) != 0)
            break;
        if (dst != NULL)
            _mm_storeu_si128((__m128i *)(dst + i), v);
    }
    return i;
}
#else
static inline size_t plain_blocks(const unsigned char *p, size_t n, bool ascii, char *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = load8(p + i);
        if (!plain_word(w) || (ascii && (w & HIGHS) != 0))
            break;
        if (dst != NULL)
            memcpy(dst + i, &w, 8);
    }
    return i;
}
#endif

static size_t plain_prefix(const unsigned char *p, size_t n, bool ascii)
{
    return plain_blocks(p, n, ascii, NULL);
}

/*
 * Length of the valid UTF-8 sequence at p (1-4), or 0 if there is none; then *bad is the
 * length of the maximal subpart to replace with one U+FFFD, the rule of the WHATWG decoder
 * that Node uses (a truncated sequence counts once, a stray byte once).
 */
static size_t utf8_seq(const unsigned char *p, size_t n, size_t *bad)
{
    unsigned c = p[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* bounds of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else {
        *bad = 1;
        return 0;
    }
    if (c == 0xe0)
        lo = 0xa0; /* no overlong forms */
    else if (c == 0xed)
        hi = 0x9f; /* no surrogates */
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f; /* nothing past U+10FFFF */
    for (size_t i = 1; i < len; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

/*
 * Whether s[0, n) is valid UTF-8: what utf8_seq accepts, checked faster, since text that is
 * not ASCII is checked here whole (by the encoder too): with AVX2, 32 bytes a step, and then
 * each sequence with its length's checks inline.
 */
static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
#if defined(HAVE_AVX2_PATH)
    if (n >= 32 && __builtin_cpu_supports("avx2")) {
        size_t m = n & ~(size_t)31;
        if (!utf8_blocks_avx2(p, m))
            return false;
        /* The blocks may end inside a character: go on from its lead byte. */
        p += m;
        for (int k = 0; k < 3 && (p[-1] & 0xc0) == 0x80; k++)
            p--;
        if (p[-1] >= 0xc0)
            p--;
    }
#endif
    while (p < end) {
        if (end - p >= 8 && (load8(p) & HIGHS) == 0) { /* eight ASCII bytes */
            p += 8;
            continue;
        }
        unsigned c = *p;
        if (c < 0x80) { /* ASCII, without a call per byte */
            p++;
            continue;
        }
        /* The code point's high bits from the first two bytes rule out overlong forms,
         * surrogates and what lies past U+10FFFF. */
        if (c < 0xc2 || c > 0xf4 || end - p < 2 || (p[1] & 0xc0) != 0x80)
            return false;
        if (c < 0xe0) {
            p += 2;
            continue;
        }
        if (end - p < 3 || (p[2] & 0xc0) != 0x80)
            return false;
        if (c < 0xf0) {
            unsigned hi = (c & 0x0f) << 12 | (p[1] & 0x3fu) << 6;
            if (hi < 0x800 || (hi >= 0xd800 && hi < 0xe000))
                return false;
            p += 3;
            continue;
        }
        unsigned hi = (c & 0x07) << 18 | (p[1] & 0x3fu) << 12;
        if (end - p < 4 || (p[3] & 0xc0) != 0x80 || hi < 0x10000 || hi > 0x10ffff)
            return false;
        p += 4;
    }
    return true;
}

/*
 * The ASCII bytes JSON.stringify copies as they are: all but controls, quote and backslash
 * (32 a row from 0x00; none above 0x7F).
 */
static const bool copied_as_is[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * A JSON string as JSON.stringify writes it: only ", \\ and controls below 0x20 escaped.
 * Refuses (UV_EINVAL) text that is not valid UTF-8, which jansson lets a caller build
 * (json_stringn_nocheck) but no receiver reads, and with `key` a NUL byte, which jansson's
 * parser refuses in a key. The check costs an ASCII string nothing: the block scan stops at
 * the first byte above 0x7F, the rest of the string is then checked once, and the scan goes
 * on letting such bytes through.
 */
static int write_string(nipc_buf_t *out, const char *s, size_t n, bool key)
{
    /* Worst case every byte becomes \u00XX. */
    if (n > (SIZE_MAX - 2) / 6)
        return UV_ENOMEM;
    int err = nipc__buf_reserve(out, n * 6 + 2);
    if (err)
        return err;
    const unsigned char *u = (const unsigned char *)s;
    char *w = out->data + out->len;
    bool ascii = true; /* no byte above 0x7F so far, so the rest is not yet checked */
    *w++ = '"';
    for (size_t i = 0; i < n;) {
        size_t k = n - i >= 16 ? plain_blocks(u + i, n - i, ascii, w) : 0;
        w += k;
        i += k;
        /* Byte by byte until the end of the block that stopped the copy. While `ascii`
         * holds, every byte before i is ASCII, so a character starts at i. */
        for (size_t stop = i + 16 < n ? i + 16 : n; i < stop; i++) {
            unsigned char c = u[i];
            if (copied_as_is[c]) {
                *w++ = (char)c;
                continue;
            }
            if (c >= 0x80) {
                if (ascii && !utf8_valid(s + i, n - i))
                    return UV_EINVAL;
                ascii = false;
                *w++ = (char)c;
                continue;
            }
            *w++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *w++ = (char)c;
                break;
            case '\b':
                *w++ = 'b';
                break;
            case '\f':
                *w++ = 'f';
                break;
            case '\n':
                *w++ = 'n';
                break;
            case '\r':
                *w++ = 'r';
                break;
            case '\t':
                *w++ = 't';
                break;
            default:
                if (c == 0 && key)
                    return UV_EINVAL;
                *w++ = 'u';
                *w++ = '0';
                *w++ = '0';
                *w++ = hex[c >> 4];
                *w++ = hex[c & 15];
                break;
            }
        }
    }
    *w++ = '"';
    out->len = (size_t)(w - out->data);
    return 0;
}

/* Decimal digits of an integer into buf (at least 21 bytes), without printf's cost. */
static size_t format_integer(char *buf, json_int_t v)
{
    char tmp[24];
    size_t n = 0;
    /* Negating in unsigned arithmetic keeps the most negative value defined. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n > 0)
        buf[len++] = tmp[--n];
    return len;
}

/* `depth` is the number of levels around v: 0 for a value alone, 1 for a frame's data. */
static int write_value(nipc_buf_t *out, const json_t *v, int depth)
{
    char num[64];
    size_t n;
    int err;

    if (depth >= MAX_DEPTH)
        return UV_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        bool first = true;
        if ((err = nipc__buf_append(out, "{", 1)))
            return err;
        /* The iterator gives each key's length, so a key holding NUL (jansson >= 2.13 makes
         * them) is seen, and refused, rather than cut short into another key. */
        for (void *it = json_object_iter((json_t *)v); it != NULL;
             it = json_object_iter_next((json_t *)v, it)) {
            json_t *val = json_object_iter_value(it);
            if (!first && (err = nipc__buf_append(out, ",", 1)))
                return err;
            first = false;
            if ((err = write_string(out, json_object_iter_key(it), json_object_iter_key_len(it),
                                    true)) ||
                (err = nipc__buf_append(out, ":", 1)) || (err = write_value(out, val, depth + 1)))
                return err;
        }
        return nipc__buf_append(out, "}", 1);
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *val;
        if ((err = nipc__buf_append(out, "[", 1)))
            return err;
        json_array_foreach (v, i, val) {
            if (i > 0 && (err = nipc__buf_append(out, ",", 1)))
                return err;
            if ((err = write_value(out, val, depth + 1)))
                return err;
        }
        return nipc__buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return write_string(out, json_string_value(v), json_string_length(v), false);
    case JSON_INTEGER:
        n = format_integer(num, json_integer_value(v));
        return nipc__buf_append(out, num, n);
    case JSON_REAL:
        n = nipc__js_number(num, sizeof num, json_real_value(v));
        return nipc__buf_append(out, num, n);
    case JSON_TRUE:
        return nipc__buf_append(out, "true", 4);
    case JSON_FALSE:
        return nipc__buf_append(out, "false", 5);
    case JSON_NULL:
        return nipc__buf_append(out, "null", 4);
    }
    return UV_EINVAL;
}

int nipc__json_write(nipc_buf_t *out, const json_t *v)
{
    size_t mark = out->len;
    int err = write_value(out, v, 0);
    if (err)
        out->len = mark;
    return err;
}

/* JavaScript truthiness of a JSON value. */
static bool js_truthy(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_FALSE:
    case JSON_NULL:
        return false;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0;
    default:
        return true;
    }
}

/*
 * Names of Object.prototype members: a legacy v10 receiver looks event types up in a plain
 * object and crashes on these (W13), so they are never sent.
 */
static bool crashes_legacy(const char *type)
{
    static const char *const names[] = {
        "constructor",          "__proto__",        "__defineGetter__", "__defineSetter__",
        "__lookupGetter__",     "__lookupSetter__", "hasOwnProperty",   "isPrototypeOf",
        "propertyIsEnumerable", "toLocaleString",   "toString",         "valueOf",
    };
    /* Called for every emit: the first byte rules out most types at once. */
    if (strchr("_chiptv", type[0]) == NULL || type[0] == '\0')
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i][0] == type[0] && strcmp(type, names[i]) == 0)
            return true;
    return false;
}

/*
 * Compact JSON escapes every byte below 0x20, so a delimiter that starts with one (the
 * default form feed, "\r\n") can never occur inside a frame. Any other delimiter could,
 * also across the frame's end ("}}" after `...:1}`), and such a frame would be cut at the
 * wrong place by the receiver: it is refused.
 */
static bool delim_can_appear(const char *delim)
{
    return (unsigned char)delim[0] >= 0x20;
}

int nipc__msg_encode(nipc_buf_t *out, const char *type, const json_t *data, bool legacy,
                     const char *delim, size_t dlen)
{
    /* The type's UTF-8 is checked as it is written, like every string of the data. */
    if (type == NULL || crashes_legacy(type))
        return UV_EINVAL;
    if (data != NULL && legacy) {
        /* W4: node-ipc sends falsy data (null, "") and emitter-like objects as {}. */
        if (json_is_null(data) || (json_is_string(data) && json_string_length(data) == 0))
            data = NULL;
        else if (json_is_object(data)) {
            json_t *ml = json_object_get(data, "_maxListeners");
            if (ml != NULL && js_truthy(ml))
                data = NULL;
        }
    }

    size_t mark = out->len;
    int err;
    if ((err = nipc__buf_append(out, "{\"type\":", 8)) ||
        (err = write_string(out, type, strlen(type), false)) ||
        (err = nipc__buf_append(out, ",\"data\":", 8)) ||
        (err = data ? write_value(out, data, 1) : nipc__buf_append(out, "{}", 2)) ||
        (err = nipc__buf_append(out, "}", 1))) {
        out->len = mark;
        return err;
    }
    size_t frame_len = out->len - mark;
    if ((err = nipc__buf_append(out, delim, dlen))) {
        out->len = mark;
        return err;
    }
    /* The receiver cuts at the first delimiter in frame + delimiter: it must be ours. */
    if (delim_can_appear(delim) &&
        memmem(out->data + mark, frame_len + dlen, delim, dlen) != out->data + mark + frame_len) {
        out->len = mark;
        return NIPC_EDELIM;
    }
    return 0;
}

bool nipc__event_reserved(const char *type)
{
    /* Called for every frame received: the first byte rules out most names at once. */
    static const char *const names[] = {
        "*",
        "close",
        "connect",
        "data",
        "destroy",
        "disconnect",
        "drain",
        "drop",
        "error",
        "start",
        "socket.disconnected",
    };
    if (strchr("*cdes", type[0]) == NULL || type[0] == '\0')
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i][0] == type[0] && strcmp(type, names[i]) == 0)
            return true;
    return false;
}

/* The frame as a JSON string, invalid UTF-8 replaced by U+FFFD as Node's decoder does. */
static json_t *frame_text(const char *p, size_t n)
{
    if (utf8_valid(p, n))
        return json_stringn(p, n);
    nipc_buf_t b;
    nipc__buf_init(&b);
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t bad = 0;
        size_t k = utf8_seq(u + i, n - i, &bad);
        if (nipc__buf_append(&b, k ? p + i : "\xef\xbf\xbd", k ? k : 3)) {
            nipc__buf_free(&b);
            return NULL;
        }
        i += k ? k : bad;
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    nipc__buf_free(&b);
    return s;
}

/* node-ipc's payload for a frame it cannot dispatch: {message, err, response}. */
static void fail(nipc_msg_t *m, int code, const char *message, const char *why, json_t *response)
{
    m->err = code;
    m->type = NULL;
    m->data = NULL;
    /* jansson's error text quotes the input, so it may hold invalid UTF-8 too. */
    m->decoded =
        json_pack("{s:s, s:o*, s:o*}", "message", message, "err", frame_text(why, strlen(why)),
                  "response", response ? response : json_null());
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/*
 * JSON.stringify writes a lone UTF-16 surrogate as an escape ("\ud83d"), which JSON.parse
 * accepts but a UTF-8 string cannot hold. Returns a copy of the frame with each lone
 * surrogate escape replaced by "\ufffd" (the same length), or NULL when there is none.
 */
static char *replace_lone_surrogates(const char *p, size_t n)
{
    char *copy = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] != 'u' || i + 6 > n) {
            i++; /* any other escape: skip its second character */
            continue;
        }
        int cp = hex4(p + i + 2);
        size_t len = 6;
        bool lone = false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            bool pair = i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u';
            int lo = pair ? hex4(p + i + 8) : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff)
                len = 12;
            else
                lone = true;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            lone = true;
        }
        if (lone) {
            if (copy == NULL && (copy = nipc__strndup(p, n)) == NULL)
                return NULL;
            memcpy(copy + i, "\\ufffd", 6);
        }
        i += len - 1;
    }
    return copy;
}

static json_t *load(const char *p, size_t n, json_error_t *e)
{
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *root = json_loadb(p, n, flags, e);
    /* JavaScript reads any integer, however long, as a double; do the same rather than
     * refuse a frame a Node peer considers valid. */
    if (root == NULL && json_error_code(e) == json_error_numeric_overflow)
        root = json_loadb(p, n, flags | JSON_DECODE_INT_AS_REAL, e);
    return root;
}

void nipc__msg_decode_general(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved)
{
    json_error_t e;
    json_t *root = load(p, n, &e);
    if (root == NULL) {
        /* Slow path, taken only by frames that failed: retry without lone surrogates. */
        char *fixed = replace_lone_surrogates(p, n);
        if (fixed != NULL) {
            json_error_t e2;
            root = load(fixed, n, &e2);
            nipc__free(fixed);
        }
    }

    memset(m, 0, sizeof *m);
    if (root == NULL) {
        fail(m, UV_EPROTO, "Invalid JSON response format", e.text, frame_text(p, n));
        return;
    }
    if (json_is_null(root)) {
        /* js-message loses the text of a `null` frame; so does node-ipc's payload. */
        json_decref(root);
        fail(m, UV_EPROTO, "Invalid JSON response format", "message is null", NULL);
        return;
    }
    json_t *type = json_is_object(root) ? json_object_get(root, "type") : NULL;
    if (!json_is_string(type) || strlen(json_string_value(type)) != json_string_length(type)) {
        json_decref(root);
        fail(m, NIPC_EBADTYPE, "Invalid message type", "type is not a string", frame_text(p, n));
        return;
    }
    if (!allow_reserved && nipc__event_reserved(json_string_value(type))) {
        json_decref(root);
        fail(m, NIPC_ERESERVED, "Reserved event name", "type is a lifecycle event name",
             frame_text(p, n));
        return;
    }
    m->decoded = root;
    m->type = json_string_value(type);
    m->type_len = json_string_length(type);
    m->data = json_object_get(root, "data");
}

void nipc__msg_refuse(nipc_msg_t *m, int code, const char *p, size_t n)
{
    json_t *decoded = m->decoded; /* the type may point into it */
    if (code == NIPC_ENAMELEN)
        fail(m, code, "Event name too long", "type is longer than max_event_name",
             frame_text(p, n));
    else
        fail(m, code, "Event not allowed", "type is not in allowed_events", frame_text(p, n));
    m->type_len = 0;
    json_decref(decoded);
}

/* ---- the fast path ----------------------------------------------------------------------- */

/*
 * Frames from node-ipc and nipc all have one shape: {"type":"<name>","data":<value>} with no
 * whitespace. The fast path decodes exactly that shape straight into jansson values, without
 * building the envelope, and gives up (returns false) on anything else or anything it does
 * not handle itself: reals, integers of more than 18 digits, lone surrogates, nesting past
 * FAST_DEPTH, any invalid input. The general path then decodes the frame from the start, so
 * giving up changes nothing but the speed, and every error is the general path's. Whatever
 * the fast path accepts, it must decode exactly as the general path would (the same data,
 * key order and integer or real typing).
 */
#define FAST_DEPTH 64

typedef struct cursor {
    const char *p;
    const char *end;
} cursor_t;

static json_t *fast_value(cursor_t *c, int depth);

static bool unescape(const char *start, size_t n, const char **s, size_t *len, char **owned);

/*
 * A string after its opening quote: *s and *len give its text, either in the frame itself
 * (plain) or in a copy without escapes that *owned holds for the caller to free.
 */
static bool fast_string(cursor_t *c, const char **s, size_t *len, char **owned)
{
    const char *start = c->p;
    bool plain = true;
    const unsigned char *q = (const unsigned char *)c->p;
    const unsigned char *end = (const unsigned char *)c->end;
    size_t bad;
    /* One pass: the end quote, escapes, control bytes and the UTF-8 of plain strings. Byte
     * by byte for 16 bytes, which is all most names and tags need, then whole blocks while
     * nothing needs attention, and so on. */
    for (;;) {
        const unsigned char *stop = end - q > 16 ? q + 16 : end;
        while (q < stop && *q != '"') {
            if (*q == '\\') {
                plain = false;
                q += 2;
            } else if (*q < 0x20) {
                return false;
            } else if (*q >= 0x80) {
                size_t k = utf8_seq(q, (size_t)(end - q), &bad);
                if (k == 0)
                    return false;
                q += k;
            } else {
                q++;
            }
        }
        if (q >= end || *q == '"')
            break;
        q += plain_prefix(q, (size_t)(end - q), true);
    }
    if (q >= end)
        return false;
    size_t n = (size_t)((const char *)q - start);
    c->p = (const char *)q + 1;
    if (!plain)
        return unescape(start, n, s, len, owned);
    *owned = NULL;
    *s = start;
    *len = n;
    return true;
}

/*
 * An object key after its opening quote, as fast_string reads it. jansson's parser refuses
 * a key holding NUL ("a\u0000"), so the fast path must not accept one either; only an
 * unescaped copy can hold one, since a raw NUL byte is a control byte.
 */
static bool fast_key(cursor_t *c, const char **k, size_t *klen, char **owned)
{
    if (!fast_string(c, k, klen, owned))
        return false;
    if (*owned != NULL && memchr(*owned, '\0', *klen) != NULL) {
        nipc__free(*owned);
        return false;
    }
    return true;
}

/*
 * A string with escapes, unescaped into a copy (never longer than the text). Apart from
 * fast_string, so that the common plain string does not pay for this code's registers.
 */
__attribute__((noinline)) static bool unescape(const char *start, size_t n, const char **s,
                                               size_t *len, char **owned)
{
    char *d = nipc__malloc(n + 1);
    if (d == NULL)
        return false;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = start[i];
        if (ch != '\\') {
            d[k++] = ch;
            continue;
        }
        if (++i >= n)
            goto bad;
        switch (start[i]) {
        case '"':
        case '\\':
        case '/':
            d[k++] = start[i];
            break;
        case 'b':
            d[k++] = '\b';
            break;
        case 'f':
            d[k++] = '\f';
            break;
        case 'n':
            d[k++] = '\n';
            break;
        case 'r':
            d[k++] = '\r';
            break;
        case 't':
            d[k++] = '\t';
            break;
        case 'u': {
            int cp = i + 4 < n ? hex4(start + i + 1) : -1;
            if (cp < 0 || (cp >= 0xd800 && cp <= 0xdfff))
                goto bad; /* surrogates, paired or not, are the general path's */
            i += 4;
            if (cp < 0x80) {
                d[k++] = (char)cp;
            } else if (cp < 0x800) {
                d[k++] = (char)(0xc0 | (cp >> 6));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                d[k++] = (char)(0xe0 | (cp >> 12));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            goto bad;
        }
    }
    if (!utf8_valid(d, k))
        goto bad;
    *owned = d;
    *s = d;
    *len = k;
    return true;
bad:
    nipc__free(d);
    return false;
}

/* An integer of at most 18 digits (no overflow); reals and anything else give false. */
static bool fast_integer(cursor_t *c, json_int_t *out)
{
    const char *q = c->p;
    bool neg = q < c->end && *q == '-';
    if (neg)
        q++;
    const char *digits = q;
    long long v = 0;
    while (q < c->end && *q >= '0' && *q <= '9') {
        if (q - digits == 18)
            return false; /* 19 digits may overflow: the general path reads a double */
        v = v * 10 + (*q++ - '0');
    }
    size_t nd = (size_t)(q - digits);
    /* No leading zeros (invalid JSON), no fraction or exponent (a real). */
    if (nd == 0 || (nd > 1 && digits[0] == '0'))
        return false;
    if (q < c->end && (*q == '.' || *q == 'e' || *q == 'E'))
        return false;
    c->p = q;
    *out = neg ? -v : v;
    return true;
}

static json_t *fast_number(cursor_t *c)
{
    json_int_t v;
    return fast_integer(c, &v) ? json_integer(v) : NULL;
}

static bool fast_literal(cursor_t *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return false;
    c->p += n;
    return true;
}

static json_t *fast_value(cursor_t *c, int depth)
{
    if (c->p >= c->end || depth > FAST_DEPTH)
        return NULL;
    switch (*c->p) {
    case '{': {
        json_t *obj = json_object();
        c->p++;
        if (obj == NULL || c->p >= c->end)
            goto bad_obj;
        if (*c->p == '}') {
            c->p++;
            return obj;
        }
        for (;;) {
            const char *k;
            size_t klen;
            char *owned;
            if (c->p >= c->end || *c->p++ != '"' || !fast_key(c, &k, &klen, &owned))
                goto bad_obj;
            json_t *v = NULL;
            if (c->p < c->end && *c->p == ':') {
                c->p++;
                v = fast_value(c, depth + 1);
            }
            int rc = v ? json_object_setn_new_nocheck(obj, k, klen, v) : -1;
            nipc__free(owned);
            if (rc != 0 || c->p >= c->end)
                goto bad_obj;
            if (*c->p == '}') {
                c->p++;
                return obj;
            }
            if (*c->p++ != ',')
                goto bad_obj;
        }
    bad_obj:
        json_decref(obj);
        return NULL;
    }
    case '[': {
        json_t *arr = json_array();
        c->p++;
        if (arr == NULL || c->p >= c->end)
            goto bad_arr;
        if (*c->p == ']') {
            c->p++;
            return arr;
        }
        for (;;) {
            json_t *v = fast_value(c, depth + 1);
            if (v == NULL || json_array_append_new(arr, v) != 0 || c->p >= c->end)
                goto bad_arr;
            if (*c->p == ']') {
                c->p++;
                return arr;
            }
            if (*c->p++ != ',')
                goto bad_arr;
        }
    bad_arr:
        json_decref(arr);
        return NULL;
    }
    case '"': {
        const char *s;
        size_t len;
        char *owned;
        c->p++;
        if (!fast_string(c, &s, &len, &owned))
            return NULL;
        json_t *v = json_stringn_nocheck(s, len);
        nipc__free(owned);
        return v;
    }
    case 't':
        return fast_literal(c, "true", 4) ? json_true() : NULL;
    case 'f':
        return fast_literal(c, "false", 5) ? json_false() : NULL;
    case 'n':
        return fast_literal(c, "null", 4) ? json_null() : NULL;
    default:
        return fast_number(c);
    }
}

/* ---- reuse of the previous event's data ------------------------------------------------ */

/*
 * A stream of events usually repeats one shape ({"i":1,"s":"a"}, {"i":2,"s":"b"}, ...). When
 * the previous event's data tree is held by nobody but the connection, the next frame of the
 * same shape is written into it in place: integers set, strings replaced, nothing else
 * allocated. Every node written must have a reference count of 1, so a value a handler kept
 * (json_incref) is never changed under it. The first difference returns false; the caller
 * then discards the tree, which may be half written, and decodes the frame afresh.
 */
static bool fast_update(cursor_t *c, json_t *into, int depth);

static bool only_ours(const json_t *v)
{
    return v->refcount == 1;
}

static bool fast_update_object(cursor_t *c, json_t *obj, int depth)
{
    void *it = json_object_iter(obj);
    c->p++; /* '{' */
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return it == NULL;
    }
    for (;;) {
        const char *k;
        size_t klen;
        char *owned;
        if (it == NULL || c->p >= c->end || *c->p++ != '"' || !fast_key(c, &k, &klen, &owned))
            return false;
        bool same =
            klen == json_object_iter_key_len(it) && memcmp(k, json_object_iter_key(it), klen) == 0;
        nipc__free(owned);
        if (!same || c->p >= c->end || *c->p++ != ':' ||
            !fast_update(c, json_object_iter_value(it), depth + 1) || c->p >= c->end)
            return false;
        it = json_object_iter_next(obj, it);
        if (*c->p == '}') {
            c->p++;
            return it == NULL;
        }
        if (*c->p++ != ',')
            return false;
    }
}

static bool fast_update(cursor_t *c, json_t *into, int depth)
{
    if (c->p >= c->end || depth > FAST_DEPTH)
        return false;
    switch (*c->p) {
    case '{':
        return json_is_object(into) && only_ours(into) && fast_update_object(c, into, depth);
    case '"': {
        const char *s;
        size_t len;
        char *owned;
        if (!json_is_string(into) || !only_ours(into))
            return false;
        c->p++;
        if (!fast_string(c, &s, &len, &owned))
            return false;
        /* A field that keeps its value (a name, a tag) costs no allocation. */
        bool same = len == json_string_length(into) && memcmp(s, json_string_value(into), len) == 0;
        int rc = same ? 0 : json_string_setn_nocheck(into, s, len);
        nipc__free(owned);
        return rc == 0;
    }
    case 't':
        return json_is_true(into) && fast_literal(c, "true", 4);
    case 'f':
        return json_is_false(into) && fast_literal(c, "false", 5);
    case 'n':
        return json_is_null(into) && fast_literal(c, "null", 4);
    case '[':
        return false;
    default: {
        json_int_t v;
        if (!json_is_integer(into) || !only_ours(into) || !fast_integer(c, &v))
            return false;
        json_integer_set(into, v);
        return true;
    }
    }
}

static bool fast_decode(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved, json_t **shape)
{
    static const char head[] = "{\"type\":\"";
    static const char mid[] = "\",\"data\":";
    const size_t hl = sizeof head - 1, ml = sizeof mid - 1;
    if (n < hl + ml + 2 || memcmp(p, head, hl) != 0 || p[n - 1] != '}')
        return false;
    /* The type: short, plain (no escape, no control byte, NUL included), valid UTF-8; one
     * pass, with the UTF-8 check only for a name that is not ASCII. */
    const char *t = p + hl, *lim = p + n;
    const char *q = t;
    unsigned high = 0;
    for (; q < lim && *q != '"'; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch == '\\' || ch < 0x20 || (size_t)(q - t) == sizeof m->type_buf - 1)
            return false;
        high |= ch;
    }
    size_t tl = (size_t)(q - t);
    if (q == lim || ((high & 0x80) && !utf8_valid(t, tl)))
        return false;
    if ((size_t)(lim - q) < ml + 1 || memcmp(q, mid, ml) != 0)
        return false;
    memcpy(m->type_buf, t, tl);
    m->type_buf[tl] = '\0';
    if (!allow_reserved && nipc__event_reserved(m->type_buf))
        return false; /* the general path reports it */

    cursor_t c = {q + ml, p + n - 1};
    if (shape != NULL && *shape != NULL) {
        if (fast_update(&c, *shape, 1) && c.p == c.end) {
            m->type = m->type_buf;
            m->type_len = tl;
            m->data = *shape;
            m->decoded = NULL; /* the connection owns it */
            m->err = 0;
            return true;
        }
        json_decref(*shape);
        *shape = NULL;
        c.p = q + ml;
    }
    json_t *data = fast_value(&c, 1);
    if (data == NULL || c.p != c.end) {
        json_decref(data);
        return false;
    }
    m->type = m->type_buf;
    m->type_len = tl;
    m->data = data;
    m->decoded = data;
    m->err = 0;
    return true;
}

void nipc__msg_decode_into(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved,
                           json_t **shape)
{
    m->decoded = NULL;
    if (fast_decode(m, p, n, allow_reserved, shape))
        return;
    nipc__msg_decode_general(m, p, n, allow_reserved);
}

void nipc__msg_decode(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved)
{
    nipc__msg_decode_into(m, p, n, allow_reserved, NULL);
}

void nipc__msg_done(nipc_msg_t *m, json_t **shape)
{
    if (shape != NULL && m->err == 0 && json_is_object(m->data)) {
        if (m->decoded == m->data && only_ours(m->data)) {
            *shape = m->decoded; /* kept for the next frame */
            m->decoded = NULL;
        } else if (m->decoded == NULL && !only_ours(m->data)) {
            /* A handler kept the connection's tree: it is theirs now. */
            json_decref(*shape);
            *shape = NULL;
        }
    }
    nipc__msg_clear(m);
}

void nipc__msg_clear(nipc_msg_t *m)
{
    json_decref(m->decoded);
    memset(m, 0, sizeof *m);
}
