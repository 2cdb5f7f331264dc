/* SPDX-License-Identifier: MIT */
/*
 * The byte scanners of the message codec, shared by the writer (json_write.c), the fast
 * envelope parser (envelope.c) and the general decoder (message.c): the blocks of a string
 * that need no attention, UTF-8 checks and sequences, hex digits. They own no state and
 * allocate nothing; each reads p[0, n) and never past it (a block of 8, 16, 32 or 64 bytes
 * is loaded only where that many remain). They are static inline so that the compiler sees
 * them in every loop that calls them, as when they lived in one file with their callers;
 * plain_blocks and utf8_valid, which the compiler kept out of line there, stay out of line.
 */
#ifndef NIPC_CORE_SCAN_H
#define NIPC_CORE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
 * The bytes of w that need attention in a string (controls, quote, backslash, and with
 * `ascii` any byte above 0x7F), as a mask whose lowest set bit is in the first of them: the
 * borrow of below() can mark bytes after a marked one, never before.
 */
static inline uint64_t special_bytes(uint64_t w, bool ascii)
{
    return below(w, 0x20) | equals(w, '"') | equals(w, '\\') | (ascii ? w & HIGHS : 0);
}

/* The index in its word of the first byte special_bytes() marked (m != 0). */
static inline size_t first_special(uint64_t w, uint64_t m, bool ascii)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)w;
    (void)ascii;
    return (size_t)__builtin_ctzll(m) >> 3;
#else
    /* Byte order aside, find it by value: the first byte special on its own. */
    unsigned char b[8];
    memcpy(b, &w, 8);
    (void)m;
    size_t i = 0;
    while (i < 7 && b[i] >= 0x20 && b[i] != '"' && b[i] != '\\' && !(ascii && b[i] >= 0x80))
        i++;
    return i;
#endif
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

__attribute__((target("avx2"))) static inline size_t
plain_blocks_avx2(const unsigned char *p, size_t n, bool ascii, char *dst)
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

/* plain_same_blocks() 64 bytes a step; *high gathers the blocks' bytes above 0x7F. */
__attribute__((target("avx2"))) static inline size_t
plain_same_blocks_avx2(const unsigned char *p, const unsigned char *q, size_t n, bool *high)
{
    size_t i = 0;
    __m256i hi = _mm256_setzero_si256();
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i diff =
            _mm256_or_si256(_mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(q + i))),
                            _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *)(q + i + 32))));
        __m256i hit = _mm256_or_si256(special32(a, false), special32(b, false));
        if (!_mm256_testz_si256(_mm256_or_si256(hit, diff), _mm256_or_si256(hit, diff)))
            break;
        hi = _mm256_or_si256(hi, _mm256_or_si256(a, b));
    }
    *high = _mm256_movemask_epi8(hi) != 0;
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
__attribute__((target("avx2"))) static inline bool utf8_blocks_avx2(const unsigned char *p,
                                                                    size_t m)
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

/* The body of plain_blocks and plain_prefix. */
static inline __attribute__((always_inline)) size_t plain_run(const unsigned char *p, size_t n,
                                                              bool ascii, char *dst)
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

/*
 * Out of line, as it was when the scanners shared a file with their callers: inlined into
 * its one caller per file, it made the short strings of write_string and fast_string pay
 * for the block loops' registers (about 4% on a small frame, encoded or decoded).
 */
__attribute__((noinline, unused)) static size_t plain_blocks(const unsigned char *p, size_t n,
                                                             bool ascii, char *dst)
{
    return plain_run(p, n, ascii, dst);
}

/*
 * plain_blocks without the copy, an instance of its own: in a file that also copies, a shared
 * one would test dst in every step of the copy's loop (the compiler makes a copy-free
 * instance by itself only when every call of the file passes NULL).
 */
__attribute__((noinline, unused)) static size_t plain_prefix(const unsigned char *p, size_t n,
                                                             bool ascii)
{
    return plain_run(p, n, ascii, NULL);
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

static inline size_t plain_prefix(const unsigned char *p, size_t n, bool ascii)
{
    return plain_blocks(p, n, ascii, NULL);
}
#endif

/*
 * The length of the prefix of p[0, n) made of whole blocks that need no attention (as
 * plain_blocks finds them, bytes above 0x7F let through) and are equal to q's: a string that
 * repeats q is checked and compared in one pass. *high says whether those blocks hold a byte
 * above 0x7F (whose UTF-8 is then the caller's to check). Out of line, as plain_blocks.
 */
__attribute__((noinline, unused)) static size_t
plain_same_blocks(const unsigned char *p, const unsigned char *q, size_t n, bool *high)
{
    size_t i = 0;
    bool h = false;
#if defined(__SSE2__)
#if defined(HAVE_AVX2_PATH)
    if (n >= 256 && __builtin_cpu_supports("avx2"))
        i = plain_same_blocks_avx2(p, q, n, &h);
#endif
    __m128i hi = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i diff = _mm_cmpeq_epi8(v, _mm_loadu_si128((const __m128i *)(q + i)));
        if (_mm_movemask_epi8(special16(v, false)) != 0 || _mm_movemask_epi8(diff) != 0xffff)
            break;
        hi = _mm_or_si128(hi, v);
    }
    h = h || _mm_movemask_epi8(hi) != 0;
#else
    for (; i + 8 <= n; i += 8) {
        uint64_t w = load8(p + i);
        if (!plain_word(w) || w != load8(q + i))
            break;
        h = h || (w & HIGHS) != 0;
    }
#endif
    *high = h;
    return i;
}

/* Whether the eight bytes of w are all ASCII digits. */
static inline bool digits8(uint64_t w)
{
    return ((w & 0xf0f0f0f0f0f0f0f0ULL) |
            (((w + 0x0606060606060606ULL) & 0xf0f0f0f0f0f0f0f0ULL) >> 4)) == 0x3333333333333333ULL;
}

/* The length of the run of ASCII digits at p[0, n): byte by byte for the short numbers most
 * are, then eight a step while they last. */
static inline size_t digit_run(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && i < 8 && (unsigned char)(p[i] - '0') < 10)
        i++;
    if (i < 8)
        return i;
    while (n - i >= 8 && digits8(load8(p + i)))
        i += 8;
    while (i < n && (unsigned char)(p[i] - '0') < 10)
        i++;
    return i;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NIPC_EIGHT_DIGITS 1
/* The value of eight ASCII digits loaded as a little-endian word (digits8() holds): pairs of
 * digits in each byte, then the four pairs in one multiply. */
static inline uint64_t digits8_value(uint64_t w)
{
    w -= 0x3030303030303030ULL;
    w = w * 10 + (w >> 8);
    return ((w & 0x000000ff000000ffULL) * (100 + (1000000ULL << 32)) +
            ((w >> 16) & 0x000000ff000000ffULL) * (1 + (10000ULL << 32))) >>
           32;
}

/* How many of the eight bytes of w, loaded little-endian, are ASCII digits before the first
 * that is not (8: all are). Each byte's x = b ^ '0' is below 10 for a digit; x + 0x76 sets
 * the top bit of any x from 10 to 0x89, and x's own top bit flags the rest. A carry out of
 * a byte only reaches the bytes after the first non-digit, which are not counted. */
static inline size_t digits_in8(uint64_t w)
{
    uint64_t x = w ^ 0x3030303030303030ULL;
    uint64_t m = ((x + 0x7676767676767676ULL) | x) & 0x8080808080808080ULL;
    return m == 0 ? 8 : (size_t)__builtin_ctzll(m) >> 3;
}

/* The value of the first n (1 to 7) bytes of w, ASCII digits: moved to the top of the word
 * with '0's below them, the leading zeros of an eight-digit number. */
static inline uint64_t digits_value8(uint64_t w, size_t n)
{
    return digits8_value((w << (64 - 8 * n)) | (0x3030303030303030ULL >> (8 * n)));
}
#endif

/* The value of the n <= 19 ASCII digits at p (below 10^19, so it fits). */
static inline uint64_t digits_value(const char *p, size_t n)
{
    uint64_t v = 0;
#ifdef NIPC_EIGHT_DIGITS
    for (; n >= 8; n -= 8, p += 8)
        v = v * 100000000 + digits8_value(load8(p));
#endif
    for (; n > 0; n--)
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/*
 * Length of the valid UTF-8 sequence at p (1-4), or 0 if there is none; then *bad is the
 * length of the maximal subpart to replace with one U+FFFD, the rule of the WHATWG decoder
 * that Node uses (a truncated sequence counts once, a stray byte once).
 */
static inline size_t utf8_seq(const unsigned char *p, size_t n, size_t *bad)
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
 * each sequence with its length's checks inline. Out of line, like plain_blocks and for the
 * same reason.
 */
__attribute__((noinline, unused)) static bool utf8_valid(const char *s, size_t n)
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

/* Four hex digits at p (the caller has them) as a value, or -1. */
static inline int hex4(const char *p)
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

#endif /* NIPC_CORE_SCAN_H */
