/* SPDX-License-Identifier: MIT */
/*
 * Doubles written as JavaScript writes them (Number.prototype.toString, which JSON.stringify
 * uses, W6b): the fewest significant digits that read back as the same double, the closest
 * to it when several decimals of that length do, the even one on a tie; then laid out as
 * ECMA-262's Number::toString says (plain up to 1e21, exponent form below 1e-6).
 *
 * The digits come from the Schubfach method (R. Giulietti, "The Schubfach way to render
 * doubles"). A double v = c * 2^q reads back from every decimal in its rounding interval
 * [vl, vr] (its ends included when c is even, as round-half-even reading goes). With
 * k = floor(log10(vr - vl)), the interval holds at least one multiple of 10^k and at most one
 * of 10^(k+1), so the answer is that multiple of 10^(k+1) when it exists, else whichever of
 * floor(v / 10^k) and the next integer lies inside, the closer when both do. Only the three
 * values vl, v, vr scaled by 4 * 10^-k are computed, each as one 64 x 128-bit product with a
 * power of ten from pow10.h, its fraction folded into the lowest bit (round to odd): that
 * keeps every comparison with an even integer exact, which is all the choice needs.
 *
 * No state; any thread.
 */
#include "core.h"
#include "pow10.h"
#include "pow5.h"

#include <stdint.h>
#include <string.h>

/* The 128-bit product of two 64-bit words. */
static inline void mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    u128 p = (u128)a * b;
    *hi = (uint64_t)(p >> 64);
    *lo = (uint64_t)p;
#else
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    *lo = (mid << 32) | (uint32_t)p00;
#endif
}

/*
 * floor((x * mul - sub) / 2^shift), the form of pow10.h's logarithms. The bias, a multiple of
 * 2^shift larger than any result, keeps the shifted operand non-negative.
 */
static inline int floor_log(int x, int64_t mul, int64_t sub, int shift)
{
    const int64_t bias = 2048;
    return (int)(((int64_t)x * mul - sub + (bias << shift)) >> shift) - (int)bias;
}

/* 5^k for k <= 23, the powers of five below 4 * 2^53. */
static const uint64_t pow5[24] = {
    1ULL,
    5ULL,
    25ULL,
    125ULL,
    625ULL,
    3125ULL,
    15625ULL,
    78125ULL,
    390625ULL,
    1953125ULL,
    9765625ULL,
    48828125ULL,
    244140625ULL,
    1220703125ULL,
    6103515625ULL,
    30517578125ULL,
    152587890625ULL,
    762939453125ULL,
    3814697265625ULL,
    19073486328125ULL,
    95367431640625ULL,
    476837158203125ULL,
    2384185791015625ULL,
    11920928955078125ULL,
};

/*
 * floor(x * g / 2^128), with its lowest bit set when x * g / 2^128 is not an integer. Where
 * the table's g is not exact it is the ceiling, so the product comes out above the exact
 * one by less than x / 2^128 < 2^-68: too little to carry it across an integer (the method's
 * proof bounds how near below an integer these values come), but enough to make an exact
 * integer look inexact. With an inexact g the exact value is (x / 5^k) * 2^(q-k-h), which is
 * an integer only when 1 <= k <= 23 and 5^k divides x; pow5k is 5^k then, else 0.
 */
static inline uint64_t scale_odd(const uint64_t g[2], uint64_t x, uint64_t pow5k)
{
    uint64_t hh, hl, lh, ll;
    mul64(x, g[0], &hh, &hl);
    mul64(x, g[1], &lh, &ll);
    uint64_t mid = hl + lh;
    uint64_t top = hh + (mid < hl);
    uint64_t inexact = (mid | ll) != 0;
    if (pow5k != 0 && x % pow5k == 0)
        inexact = 0;
    return top | inexact;
}

/*
 * The shortest, closest decimal *digits * 10^*exp10 of c * 2^q (c >= 1). `regular` is false
 * when c = 2^52 above the smallest normal exponent, where the double below is half as far
 * as the one above, so the interval reaches only a quarter of a unit down.
 */
static void shortest(uint64_t c, int q, bool regular, uint64_t *digits, int *exp10)
{
    const uint64_t cb = c << 2;
    const uint64_t cbr = cb + 2;
    uint64_t cbl;
    int k;
    if (regular) {
        cbl = cb - 2;
        k = floor_log(q, LOG10_POW2_MUL, LOG10_POW2_SUB, LOG10_POW2_SHIFT);
    } else {
        cbl = cb - 1;
        k = floor_log(q, LOG10_3Q_POW2_MUL, LOG10_3Q_POW2_SUB, LOG10_3Q_POW2_SHIFT);
    }
    /* 10^-k = g * 2^(r - 127) with r = floor(-k * log2(10)); h in [1, 4] (gen_pow10.js). */
    const uint64_t *g = pow10_g[-k - POW10_E_MIN];
    const int h = q + floor_log(-k, LOG2_POW10_MUL, LOG2_POW10_SUB, LOG2_POW10_SHIFT) + 1;
    const uint64_t p5 = k >= 1 && k <= 23 ? pow5[k] : 0;

    /* 4 * vl, 4 * v and 4 * vr over 10^k, rounded to odd. */
    const uint64_t vbl = scale_odd(g, cbl << h, p5);
    const uint64_t vb = scale_odd(g, cb << h, p5);
    const uint64_t vbr = scale_odd(g, cbr << h, p5);
    const uint64_t out = c & 1; /* an odd c leaves the ends out */

    const uint64_t s = vb >> 2; /* floor(v / 10^k) */
    *exp10 = k;

    /* The one multiple of 10^(k+1) that may lie inside: the shorter answer when it does. */
    const uint64_t sp10 = s / 10 * 10;
    const uint64_t tp10 = sp10 + 10;
    const bool upin = vbl + out <= sp10 << 2;
    const bool wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) {
        *digits = upin ? sp10 : tp10;
        return;
    }

    /* At least one of s and s + 1 lies inside. */
    const uint64_t t = s + 1;
    const bool uin = vbl + out <= s << 2;
    const bool win = (t << 2) + out <= vbr;
    if (uin != win) {
        *digits = uin ? s : t;
        return;
    }
    /* Both: the closer, s on a tie when s is even. 4 * v against 4 * (s + 1/2). */
    const uint64_t mid = (s + t) << 1;
    *digits = vb < mid || (vb == mid && (s & 1) == 0) ? s : t;
}

static const char pairs[] = "00010203040506070809"
                            "10111213141516171819"
                            "20212223242526272829"
                            "30313233343536373839"
                            "40414243444546474849"
                            "50515253545556575859"
                            "60616263646566676869"
                            "70717273747576777879"
                            "80818283848586878889"
                            "90919293949596979899";

const uint64_t nipc__pow10_u64[20] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/* The number of decimal digits of d, 1 <= d < 2^64. */
static inline int digit_count(uint64_t d)
{
#if defined(__GNUC__) || defined(__clang__)
    /* floor(log10(2^bits)) by 1233 / 4096, then one comparison settles it. */
    const int bits = 64 - __builtin_clzll(d);
    const int guess = (bits * 1233) >> 12;
    return guess + (d >= nipc__pow10_u64[guess]);
#else
    int n = 1;
    while (n < 20 && d >= nipc__pow10_u64[n])
        n++;
    return n;
#endif
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * The eight decimal digits of v < 10^8, as ASCII in a little-endian word: split in two halves
 * of four digits, then each lane divided at once by 100 and by 10 with multiplications that
 * are exact below 10^4 and 10^2 (n * 10486 >> 20 = n / 100, n * 103 >> 10 = n / 10).
 */
static inline uint64_t eight_digits(uint32_t v)
{
    uint64_t x = (uint64_t)(v / 10000) | (uint64_t)(v % 10000) << 32;
    uint64_t hundreds = ((x * 10486) >> 20) & 0x0000007f0000007fULL;
    x = hundreds | (x - hundreds * 100) << 16;
    uint64_t tens = ((x * 103) >> 10) & 0x000f000f000f000fULL;
    x = tens | (x - tens * 10) << 8;
    return x + 0x3030303030303030ULL;
}
#endif

/* Writes the len decimal digits of d (d < 10^len) at p. */
static inline void write_digits(char *p, uint64_t d, int len)
{
    char *w = p + len;
    while (w - p >= 8) {
        uint32_t v = (uint32_t)(d % 100000000);
        d /= 100000000;
        w -= 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        uint64_t a = eight_digits(v);
        memcpy(w, &a, 8);
#else
        /* In 32-bit arithmetic, which is cheaper than 64-bit division. */
        uint32_t hi = v / 10000, lo = v % 10000;
        memcpy(w, pairs + 2 * (hi / 100), 2);
        memcpy(w + 2, pairs + 2 * (hi % 100), 2);
        memcpy(w + 4, pairs + 2 * (lo / 100), 2);
        memcpy(w + 6, pairs + 2 * (lo % 100), 2);
#endif
    }
    uint32_t v = (uint32_t)d;
    while (w - p >= 2) {
        w -= 2;
        memcpy(w, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (w > p)
        *--w = (char)('0' + v);
}

size_t nipc__js_integer(char *dst, long long v)
{
    /* Negating in unsigned arithmetic keeps the most negative value defined. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    char *w = dst;
    if (v < 0)
        *w++ = '-';
    if (u < 10) {
        *w = (char)('0' + u);
        return (size_t)(w - dst) + 1;
    }
    const int len = digit_count(u);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (len <= 8) {
        /* All eight digits at once, the leading zeros shifted out; the word's last bytes land
         * past the number, within the 20 bytes it may use. */
        uint64_t a = eight_digits((uint32_t)u) >> (8 * (8 - len));
        memcpy(w, &a, 8);
        return (size_t)(w - dst) + (size_t)len;
    }
    if (len <= 16) {
        /* The high digits the same way, then the low eight over what the first word left
         * past them. */
        uint64_t a = eight_digits((uint32_t)(u / 100000000)) >> (8 * (16 - len));
        uint64_t b = eight_digits((uint32_t)(u % 100000000));
        memcpy(w, &a, 8);
        memcpy(w + len - 8, &b, 8);
        return (size_t)(w - dst) + (size_t)len;
    }
#endif
    write_digits(w, u, len);
    return (size_t)(w - dst) + (size_t)len;
}

/* Drops the trailing zeros of d (d > 0), adding their count to *exp10. */
static uint64_t trim_zeros(uint64_t d, int *exp10)
{
    /* At most 16 of the 17 digits are zeros: 16 + 8 + 4 + 2 + 1 covers every count. */
    if (d % 10000000000000000 == 0) {
        d /= 10000000000000000;
        *exp10 += 16;
    }
    if (d % 100000000 == 0) {
        d /= 100000000;
        *exp10 += 8;
    }
    if (d % 10000 == 0) {
        d /= 10000;
        *exp10 += 4;
    }
    if (d % 100 == 0) {
        d /= 100;
        *exp10 += 2;
    }
    if (d % 10 == 0) {
        d /= 10;
        *exp10 += 1;
    }
    return d;
}

/*
 * Lays out digits * 10^exp10 (digits without trailing zeros) as Number::toString does, at w,
 * which has room for 25 bytes; returns the end. The digits are written once, where they go;
 * a decimal point after the first n of them moves those n one place to the left.
 */
static char *layout(char *w, uint64_t digits, int exp10)
{
    const int len = digit_count(digits);
    const int n = len + exp10; /* the decimal point's place, counted from the first digit */

    if (len <= n && n <= 21) {
        write_digits(w, digits, len);
        for (int i = len; i < n; i++)
            w[i] = '0';
        return w + n;
    }
    if (0 < n && n <= 21) {
        write_digits(w + 1, digits, len);
        for (int i = 0; i < n; i++)
            w[i] = w[i + 1];
        w[n] = '.';
        return w + len + 1;
    }
    if (-6 < n && n <= 0) {
        *w++ = '0';
        *w++ = '.';
        for (int i = 0; i < -n; i++)
            *w++ = '0';
        write_digits(w, digits, len);
        return w + len;
    }
    write_digits(w + 1, digits, len);
    w[0] = w[1];
    if (len > 1) {
        w[1] = '.';
        w += len + 1;
    } else {
        w += 1;
    }
    *w++ = 'e';
    int e = n - 1;
    *w++ = e < 0 ? '-' : '+';
    if (e < 0)
        e = -e;
    const int elen = e >= 100 ? 3 : e >= 10 ? 2 : 1;
    write_digits(w, (uint64_t)e, elen);
    return w + elen;
}

size_t nipc__js_number(char *dst, size_t cap, double d)
{
    char tmp[32];
    char *const start = cap >= sizeof tmp ? dst : tmp;
    char *w = start;

    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    const uint64_t m = bits & ((1ULL << 52) - 1);
    const int be = (int)(bits >> 52) & 0x7ff;

    if (be == 0x7ff) {
        memcpy(w, "null", 4);
        w += 4;
    } else if (be == 0 && m == 0) {
        *w++ = '0'; /* -0 too (W6) */
    } else {
        if (bits >> 63)
            *w++ = '-';
        const uint64_t c = be == 0 ? m : m | (1ULL << 52);
        const int q = be == 0 ? -1074 : be - 1075;
        if (-52 <= q && q <= 0 && (c & ((1ULL << -q) - 1)) == 0) {
            /* An integer below 2^53: its own digits are the shortest, and it has no fraction. */
            const uint64_t i = c >> -q;
            const int len = digit_count(i);
            write_digits(w, i, len);
            w += len;
        } else {
            uint64_t digits;
            int exp10;
            shortest(c, q, m != 0 || be <= 1, &digits, &exp10);
            digits = trim_zeros(digits, &exp10);
            w = layout(w, digits, exp10);
        }
    }

    const size_t len = (size_t)(w - start);
    if (start == dst) {
        dst[len] = '\0';
    } else if (cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(dst, tmp, n);
        dst[n] = '\0';
    }
    return len;
}

/* ---- reading --------------------------------------------------------------------------- */

/*
 * The double nearest w * 10^q (ties to even), as a correctly rounded strtod gives it, by the
 * Eisel-Lemire method: w, shifted to fill 64 bits, times the 128-bit truncation of 5^q
 * (pow5.h) gives the significand's top bits; the power of two comes from floor(q * log2(10)).
 * With w of at most 19 digits (below 10^19 < 2^64) the 128-bit product always decides the
 * rounding (Mushtak and Lemire's proof), so there is no slow fallback. Returns false on
 * overflow (an infinity), which the caller refuses, as jansson does.
 */
bool nipc__decimal_to_double(uint64_t w, int q, bool negative, double *out)
{
    uint64_t bits = 0;
    if (w == 0 || q < POW5_Q_MIN)
        goto done; /* zero, or below half the smallest subnormal */
    if (q > POW5_Q_MAX)
        return false;
    int lz = __builtin_clzll(w);
    w <<= lz;
    const uint64_t *t = pow5_128[q - POW5_Q_MIN];
    uint64_t hi, lo;
    mul64(w, t[0], &hi, &lo);
    if ((hi & 0x1ff) == 0x1ff) {
        /* The low 9 bits, below the 55 kept, may carry: take the table's second word too. */
        uint64_t hi2, lo2;
        mul64(w, t[1], &hi2, &lo2);
        lo += hi2;
        hi += lo < hi2;
    }
    const int upper = (int)(hi >> 63);
    const int shift = upper + 9;
    uint64_t mant = hi >> shift;
    int p2 = floor_log(q, LOG2_10_MUL, 0, 16) + 63 + upper - lz + 1023;
    if (p2 <= 0) {
        /* Subnormal: one more bit for rounding, then round half up (no tie is possible this
         * far down, as 5^q is never exact). */
        if (-p2 + 1 >= 64)
            goto done;
        mant >>= -p2 + 1;
        mant += mant & 1;
        mant >>= 1;
        bits = mant; /* a carry into bit 52 makes it the smallest normal */
        goto done;
    }
    if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 && (mant << shift) == hi)
        mant &= ~(uint64_t)1; /* exactly halfway: round to even, down */
    mant += mant & 1;
    mant >>= 1;
    if (mant >= (uint64_t)2 << 52) {
        mant = (uint64_t)1 << 52;
        p2++;
    }
    if (p2 >= 0x7ff)
        return false;
    bits = (mant & (((uint64_t)1 << 52) - 1)) | (uint64_t)p2 << 52;
done:
    bits |= (uint64_t)negative << 63;
    memcpy(out, &bits, sizeof *out);
    return true;
}
