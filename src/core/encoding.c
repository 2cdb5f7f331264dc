/* SPDX-License-Identifier: MIT */
/*
 * Node's Buffer encodings (R2): Buffer.from(text, enc) and buf.toString(enc), byte for byte
 * as Node 20 makes them, for raw-mode emits and for printing what a raw peer sent.
 *
 * C text is UTF-8, JavaScript text is UTF-16. The JavaScript string a C text stands for is
 * the one Node decodes from its bytes: every ill-formed subsequence (its maximal subpart, as
 * the WHATWG decoder and V8 take them) becomes U+FFFD, so that string never holds a lone
 * surrogate. Node's encoders then read that string one UTF-16 code unit at a time, and all
 * but utf8 and utf16le keep only the unit's low byte: latin1 and ascii write it, and hex and
 * base64 decode it, which is why U+0131 reads as the hex digit '1' and U+D83D (the first
 * half of an emoji) as the '=' that ends base64.
 *
 * Every conversion is one function run twice over the input: with a NULL destination it
 * only counts, then it writes into room reserved once. Holds no state; any thread.
 */
#include "core.h"

#include <stdint.h>

typedef struct encoding_name {
    const char *name;
    nipc_encoding_t enc;
} encoding_name_t;

/* Every name Buffer.isEncoding accepts, canonical ones first. */
static const encoding_name_t encoding_names[] = {
    {"utf8", NIPC__ENC_UTF8},       {"ascii", NIPC__ENC_ASCII},
    {"latin1", NIPC__ENC_LATIN1},   {"hex", NIPC__ENC_HEX},
    {"base64", NIPC__ENC_BASE64},   {"base64url", NIPC__ENC_BASE64URL},
    {"utf16le", NIPC__ENC_UTF16LE}, {"utf-8", NIPC__ENC_UTF8},
    {"binary", NIPC__ENC_LATIN1},   {"utf-16le", NIPC__ENC_UTF16LE},
    {"ucs2", NIPC__ENC_UTF16LE},    {"ucs-2", NIPC__ENC_UTF16LE},
};
#define ENCODING_NAMES (sizeof encoding_names / sizeof encoding_names[0])

/*
 * Node lower-cases a name with String.prototype.toLowerCase. Of the non-ASCII characters,
 * only U+212A lowers to ASCII alone ('k', in no name; U+0130 keeps a combining dot after its
 * 'i'), so ASCII folding accepts exactly the names Node does.
 */
static bool name_equal(const char *a, const char *canonical)
{
    for (;; a++, canonical++) {
        unsigned char c = (unsigned char)*a;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c | 0x20);
        if (c != (unsigned char)*canonical)
            return false;
        if (c == '\0')
            return true;
    }
}

int nipc__encoding_parse(const char *name, nipc_encoding_t *out)
{
    if (name == NULL)
        return UV_EINVAL;
    for (size_t i = 0; i < ENCODING_NAMES; i++) {
        if (name_equal(name, encoding_names[i].name)) {
            *out = encoding_names[i].enc;
            return 0;
        }
    }
    return UV_EINVAL;
}

const char *nipc__encoding_name(nipc_encoding_t e)
{
    for (size_t i = 0; i < ENCODING_NAMES; i++)
        if (encoding_names[i].enc == e)
            return encoding_names[i].name;
    return NULL;
}

/* ---- the pieces: one byte out, one code point in and out --------------------------------- */

/* Writes b at dst[*k] unless only counting, and counts it. */
static inline void put(unsigned char *dst, size_t *k, unsigned b)
{
    if (dst != NULL)
        dst[*k] = (unsigned char)b;
    (*k)++;
}

static void put_utf8(unsigned char *dst, size_t *k, uint32_t c)
{
    if (c < 0x80) {
        put(dst, k, c);
    } else if (c < 0x800) {
        put(dst, k, 0xc0 | c >> 6);
        put(dst, k, 0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        put(dst, k, 0xe0 | c >> 12);
        put(dst, k, 0x80 | (c >> 6 & 0x3f));
        put(dst, k, 0x80 | (c & 0x3f));
    } else {
        put(dst, k, 0xf0 | c >> 18);
        put(dst, k, 0x80 | (c >> 12 & 0x3f));
        put(dst, k, 0x80 | (c >> 6 & 0x3f));
        put(dst, k, 0x80 | (c & 0x3f));
    }
}

/*
 * Reads the code point at p[*i] (i < n) and moves past it. An ill-formed subsequence reads as
 * one U+FFFD and ends before the first byte that cannot continue it, which starts the next
 * read (WHATWG's UTF-8 decode, what Node's toString('utf8') does). Surrogates (ED A0..BF)
 * and overlong forms fail at their second byte, as they do there.
 */
static uint32_t utf8_next(const unsigned char *p, size_t n, size_t *i)
{
    size_t k = *i;
    uint32_t c = p[k++];
    unsigned need;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the next continuation byte */

    if (c < 0x80) {
        *i = k;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
        c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
        c &= 0x07;
    } else {
        *i = k;
        return 0xfffd;
    }
    for (; need > 0; need--) {
        if (k == n || p[k] < lo || p[k] > hi) {
            *i = k;
            return 0xfffd;
        }
        c = c << 6 | (p[k++] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }
    *i = k;
    return c;
}

/* The UTF-16 code units of the JavaScript string that UTF-8 text stands for, in order. */
typedef struct units {
    const unsigned char *p;
    size_t n;
    size_t i;
    unsigned low; /* the low surrogate still to give, 0 when none */
} units_t;

static bool units_next(units_t *u, unsigned *unit)
{
    if (u->low != 0) {
        *unit = u->low;
        u->low = 0;
        return true;
    }
    if (u->i == u->n)
        return false;
    uint32_t c = utf8_next(u->p, u->n, &u->i);
    if (c < 0x10000) {
        *unit = c;
        return true;
    }
    *unit = 0xd800 + ((c - 0x10000) >> 10);
    u->low = 0xdc00 + (c & 0x3ff);
    return true;
}

static int hex_value(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* Node decodes base64 and base64url alike, each accepting both alphabets' 62nd and 63rd. */
static int base64_value(unsigned c)
{
    if (c >= 'A' && c <= 'Z')
        return (int)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (int)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (int)(c - '0' + 52);
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* ---- Buffer.from(text, enc) ---------------------------------------------------------------- */

/* utf8 both ways: the text with each ill-formed subsequence replaced by EF BF BD. */
static size_t utf8_clean(unsigned char *dst, const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80)
            put(dst, &k, p[i++]);
        else
            put_utf8(dst, &k, utf8_next(p, n, &i));
    }
    return k;
}

/* latin1, binary and ascii: the low byte of each unit. */
static size_t latin1_from(unsigned char *dst, const unsigned char *p, size_t n)
{
    units_t u = {p, n, 0, 0};
    size_t k = 0;
    unsigned c;
    while (units_next(&u, &c))
        put(dst, &k, c & 0xff);
    return k;
}

static size_t utf16le_from(unsigned char *dst, const unsigned char *p, size_t n)
{
    units_t u = {p, n, 0, 0};
    size_t k = 0;
    unsigned c;
    while (units_next(&u, &c)) {
        put(dst, &k, c & 0xff);
        put(dst, &k, c >> 8);
    }
    return k;
}

/* Pairs of digits up to the first pair that is not two digits; an odd last digit is dropped. */
static size_t hex_from(unsigned char *dst, const unsigned char *p, size_t n)
{
    units_t u = {p, n, 0, 0};
    size_t k = 0;
    unsigned c;
    int high = -1; /* the first digit of the pair being read */
    while (units_next(&u, &c)) {
        int v = hex_value(c & 0xff);
        if (v < 0)
            break;
        if (high < 0) {
            high = v;
        } else {
            put(dst, &k, (unsigned)(high << 4 | v));
            high = -1;
        }
    }
    return k;
}

/*
 * Node's lenient decoder: characters outside both alphabets are skipped wherever they are,
 * the first '=' ends the input, and a last group of 2 or 3 characters gives 1 or 2 bytes
 * (the unused bits are ignored, never checked) while a lone last character gives nothing.
 */
static size_t base64_from(unsigned char *dst, const unsigned char *p, size_t n)
{
    units_t u = {p, n, 0, 0};
    size_t k = 0;
    unsigned c;
    unsigned acc = 0; /* the previous character's value */
    unsigned at = 0;  /* the position of the next character in its group of four */
    while (units_next(&u, &c)) {
        if ((c & 0xff) == '=')
            break;
        int v = base64_value(c & 0xff);
        if (v < 0)
            continue;
        unsigned b = (unsigned)v;
        if (at == 1)
            put(dst, &k, (acc << 2 | b >> 4) & 0xff);
        else if (at == 2)
            put(dst, &k, (acc << 4 | b >> 2) & 0xff);
        else if (at == 3)
            put(dst, &k, (acc << 6 | b) & 0xff);
        acc = b;
        at = (at + 1) & 3;
    }
    return k;
}

/* ---- buf.toString(enc), as UTF-8 ----------------------------------------------------------- */

static size_t ascii_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        put(dst, &k, p[i] & 0x7f);
    return k;
}

static size_t latin1_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        put_utf8(dst, &k, p[i]);
    return k;
}

static size_t hex_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        put(dst, &k, (unsigned char)digits[p[i] >> 4]);
        put(dst, &k, (unsigned char)digits[p[i] & 0xf]);
    }
    return k;
}

static size_t base64_with(unsigned char *dst, const unsigned char *p, size_t n,
                          const char *alphabet, bool pad)
{
    size_t k = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        put(dst, &k, (unsigned char)alphabet[v >> 18]);
        put(dst, &k, (unsigned char)alphabet[v >> 12 & 0x3f]);
        put(dst, &k, (unsigned char)alphabet[v >> 6 & 0x3f]);
        put(dst, &k, (unsigned char)alphabet[v & 0x3f]);
    }
    if (i == n)
        return k;
    uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
    put(dst, &k, (unsigned char)alphabet[v >> 18]);
    put(dst, &k, (unsigned char)alphabet[v >> 12 & 0x3f]);
    if (n - i == 2)
        put(dst, &k, (unsigned char)alphabet[v >> 6 & 0x3f]);
    else if (pad)
        put(dst, &k, '=');
    if (pad)
        put(dst, &k, '=');
    return k;
}

static size_t base64_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    return base64_with(dst, p, n,
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
}

static size_t base64url_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    return base64_with(dst, p, n,
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);
}

/*
 * Little-endian units, an odd last byte dropped. A surrogate pair is one code point; a lone
 * surrogate, which a JavaScript string holds but UTF-8 cannot, is written as U+FFFD (what
 * Buffer.from(string, 'utf8') writes for it in Node).
 */
static size_t utf16le_to(unsigned char *dst, const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t c = p[i] | (uint32_t)p[i + 1] << 8;
        if (c >= 0xd800 && c <= 0xdfff) {
            uint32_t d = i + 3 < n ? p[i + 2] | (uint32_t)p[i + 3] << 8 : 0;
            if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
                i += 2;
            } else {
                c = 0xfffd;
            }
        }
        put_utf8(dst, &k, c);
    }
    return k;
}

/* ---- both directions ----------------------------------------------------------------------- */

typedef size_t convert_fn(unsigned char *dst, const unsigned char *p, size_t n);

static int convert(convert_fn *f, const char *p, size_t n, nipc_buf_t *out)
{
    /* Every conversion writes fewer than 3n + 3 bytes, so with this bound no count wraps. */
    if (n > SIZE_MAX / 4)
        return UV_ENOMEM;
    const unsigned char *s = (const unsigned char *)p;
    size_t len = f(NULL, s, n);
    if (len == 0)
        return 0;
    int err = nipc__buf_reserve(out, len);
    if (err != 0)
        return err;
    out->len += f((unsigned char *)out->data + out->len, s, n);
    return 0;
}

int nipc__encoding_from_text(nipc_encoding_t e, const char *s, size_t n, nipc_buf_t *out)
{
    switch (e) {
    case NIPC__ENC_UTF8:
        return convert(utf8_clean, s, n, out);
    case NIPC__ENC_ASCII: /* Node writes ascii as latin1: bit 7 is kept */
    case NIPC__ENC_LATIN1:
        return convert(latin1_from, s, n, out);
    case NIPC__ENC_HEX:
        return convert(hex_from, s, n, out);
    case NIPC__ENC_BASE64:
    case NIPC__ENC_BASE64URL:
        return convert(base64_from, s, n, out);
    case NIPC__ENC_UTF16LE:
        return convert(utf16le_from, s, n, out);
    }
    return UV_EINVAL;
}

int nipc__encoding_to_text(nipc_encoding_t e, const char *p, size_t n, nipc_buf_t *out)
{
    switch (e) {
    case NIPC__ENC_UTF8:
        return convert(utf8_clean, p, n, out);
    case NIPC__ENC_ASCII:
        return convert(ascii_to, p, n, out);
    case NIPC__ENC_LATIN1:
        return convert(latin1_to, p, n, out);
    case NIPC__ENC_HEX:
        return convert(hex_to, p, n, out);
    case NIPC__ENC_BASE64:
        return convert(base64_to, p, n, out);
    case NIPC__ENC_BASE64URL:
        return convert(base64url_to, p, n, out);
    case NIPC__ENC_UTF16LE:
        return convert(utf16le_to, p, n, out);
    }
    return UV_EINVAL;
}
