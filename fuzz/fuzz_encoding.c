/* SPDX-License-Identifier: MIT */
/*
 * Raw mode's Node Buffer encodings (src/core/encoding.c) against a small reference written
 * here from Node's and WHATWG's rules, in both directions, for every encoding.
 *
 * Input: byte 0 bit 0 starts the output buffer with bytes already in it (the functions
 * append); the rest is taken both as bytes (buf.toString(enc)) and as UTF-8 text, possibly
 * ill-formed (Buffer.from(text, enc)), and its first NUL-terminated piece as an encoding
 * name (Buffer.isEncoding).
 *
 * The reference: text reads as the WHATWG UTF-8 decoder reads it (each maximal ill-formed
 * subsequence one U+FFFD), as UTF-16 code units; latin1 and ascii write each unit's low
 * byte, utf16le the units, utf8 the text cleaned; hex reads pairs of digits (low bytes)
 * until one is not, base64 and base64url skip what is in neither alphabet and stop at '='.
 * Bytes go to text as lower-case hex, padded base64, unpadded base64url, latin1 code
 * points, ascii with bit 7 cleared, utf8 cleaned, and utf16le with lone surrogates as
 * U+FFFD. Then exact lengths, and round trips where Node's encodings round-trip: bytes to
 * hex, base64, base64url, latin1 and back; utf16le without lone surrogates; ascii below
 * 0x80; utf8 that is well-formed.
 */
#include "fuzz.h"

#include "core/core.h"

#include <strings.h>

#define NENC 7

typedef struct vec {
    unsigned char *p;
    size_t n, cap;
} vec_t;

static void put(vec_t *v, unsigned b)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        if ((v->p = realloc(v->p, v->cap)) == NULL)
            abort();
    }
    v->p[v->n++] = (unsigned char)b;
}

static void put_cp(vec_t *v, uint32_t c)
{
    if (c < 0x80) {
        put(v, c);
    } else if (c < 0x800) {
        put(v, 0xc0 | c >> 6);
        put(v, 0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        put(v, 0xe0 | c >> 12);
        put(v, 0x80 | (c >> 6 & 0x3f));
        put(v, 0x80 | (c & 0x3f));
    } else {
        put(v, 0xf0 | c >> 18);
        put(v, 0x80 | (c >> 12 & 0x3f));
        put(v, 0x80 | (c >> 6 & 0x3f));
        put(v, 0x80 | (c & 0x3f));
    }
}

/* The WHATWG UTF-8 decoder, step by step as the Encoding Standard writes it: code points. */
static size_t whatwg_decode(const unsigned char *p, size_t n, uint32_t *out)
{
    size_t k = 0;
    uint32_t cp = 0;
    unsigned needed = 0, seen = 0, lower = 0x80, upper = 0xbf;
    for (size_t i = 0; i <= n;) {
        if (i == n) {
            if (needed != 0)
                out[k++] = 0xfffd;
            break;
        }
        unsigned b = p[i];
        if (needed == 0) {
            i++;
            if (b <= 0x7f) {
                out[k++] = b;
            } else if (b >= 0xc2 && b <= 0xdf) {
                needed = 1;
                cp = b & 0x1f;
            } else if (b >= 0xe0 && b <= 0xef) {
                lower = b == 0xe0 ? 0xa0 : 0x80;
                upper = b == 0xed ? 0x9f : 0xbf;
                needed = 2;
                cp = b & 0xf;
            } else if (b >= 0xf0 && b <= 0xf4) {
                lower = b == 0xf0 ? 0x90 : 0x80;
                upper = b == 0xf4 ? 0x8f : 0xbf;
                needed = 3;
                cp = b & 0x7;
            } else {
                out[k++] = 0xfffd;
            }
            continue;
        }
        if (b < lower || b > upper) {
            /* The sequence ends before b, which is read again as a fresh start. */
            cp = needed = seen = 0;
            lower = 0x80;
            upper = 0xbf;
            out[k++] = 0xfffd;
            continue;
        }
        i++;
        lower = 0x80;
        upper = 0xbf;
        cp = cp << 6 | (b & 0x3f);
        if (++seen == needed) {
            out[k++] = cp;
            cp = needed = seen = 0;
        }
    }
    return k;
}

/* The JavaScript string UTF-8 text stands for, as UTF-16 code units. */
static size_t units_of(const unsigned char *p, size_t n, uint16_t *units)
{
    uint32_t *cps = malloc((n + 1) * sizeof *cps);
    if (cps == NULL)
        abort();
    size_t ncp = whatwg_decode(p, n, cps), k = 0;
    for (size_t i = 0; i < ncp; i++) {
        if (cps[i] < 0x10000) {
            units[k++] = (uint16_t)cps[i];
        } else {
            units[k++] = (uint16_t)(0xd800 + ((cps[i] - 0x10000) >> 10));
            units[k++] = (uint16_t)(0xdc00 + (cps[i] & 0x3ff));
        }
    }
    free(cps);
    return k;
}

/* UTF-16 units as UTF-8, a lone surrogate as U+FFFD. */
static void utf8_of_units(vec_t *v, const uint16_t *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00u);
            i++;
        } else if (c >= 0xd800 && c <= 0xdfff) {
            c = 0xfffd;
        }
        put_cp(v, c);
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_digit(unsigned c)
{
    if (c == 0)
        return -1;
    const char *a = strchr(b64, (int)c), *u = strchr(b64url, (int)c);
    return a != NULL ? (int)(a - b64) : u != NULL ? (int)(u - b64url) : -1;
}

/* Buffer.from(text, enc), by the reference. */
static void ref_from(nipc_encoding_t e, const unsigned char *p, size_t n, vec_t *out)
{
    uint16_t *u = malloc((2 * n + 1) * sizeof *u);
    if (u == NULL)
        abort();
    size_t nu = units_of(p, n, u);
    switch (e) {
    case NIPC__ENC_UTF8:
        utf8_of_units(out, u, nu);
        break;
    case NIPC__ENC_ASCII:
    case NIPC__ENC_LATIN1:
        for (size_t i = 0; i < nu; i++)
            put(out, u[i] & 0xff);
        break;
    case NIPC__ENC_UTF16LE:
        for (size_t i = 0; i < nu; i++) {
            put(out, u[i] & 0xff);
            put(out, u[i] >> 8);
        }
        break;
    case NIPC__ENC_HEX: {
        static const char digits[] = "0123456789abcdef0123456789ABCDEF";
        for (size_t i = 0; i + 1 < nu; i += 2) {
            const char *h = (u[i] & 0xff) ? strchr(digits, u[i] & 0xff) : NULL;
            const char *l = (u[i + 1] & 0xff) ? strchr(digits, u[i + 1] & 0xff) : NULL;
            if (h == NULL || l == NULL)
                break;
            put(out, (unsigned)((h - digits) % 16 * 16 + (l - digits) % 16));
        }
        break;
    }
    case NIPC__ENC_BASE64:
    case NIPC__ENC_BASE64URL: {
        unsigned char *sext = malloc(nu + 1);
        size_t ns = 0;
        if (sext == NULL)
            abort();
        for (size_t i = 0; i < nu && (u[i] & 0xff) != '='; i++) {
            int d = b64_digit(u[i] & 0xff);
            if (d >= 0)
                sext[ns++] = (unsigned char)d;
        }
        size_t i = 0;
        for (; ns - i >= 4; i += 4) {
            uint32_t w = (uint32_t)sext[i] << 18 | (uint32_t)sext[i + 1] << 12 |
                         (uint32_t)sext[i + 2] << 6 | sext[i + 3];
            put(out, w >> 16);
            put(out, w >> 8 & 0xff);
            put(out, w & 0xff);
        }
        if (ns - i >= 2) {
            uint32_t w = (uint32_t)sext[i] << 18 | (uint32_t)sext[i + 1] << 12 |
                         (ns - i == 3 ? (uint32_t)sext[i + 2] << 6 : 0);
            put(out, w >> 16);
            if (ns - i == 3)
                put(out, w >> 8 & 0xff);
        }
        free(sext);
        break;
    }
    }
    free(u);
}

/* buf.toString(enc), by the reference. */
static void ref_to(nipc_encoding_t e, const unsigned char *p, size_t n, vec_t *out)
{
    switch (e) {
    case NIPC__ENC_UTF8:
        ref_from(NIPC__ENC_UTF8, p, n, out);
        break;
    case NIPC__ENC_ASCII:
        for (size_t i = 0; i < n; i++)
            put(out, p[i] & 0x7f);
        break;
    case NIPC__ENC_LATIN1:
        for (size_t i = 0; i < n; i++)
            put_cp(out, p[i]);
        break;
    case NIPC__ENC_HEX:
        for (size_t i = 0; i < n; i++) {
            char two[3];
            snprintf(two, sizeof two, "%02x", p[i]);
            put(out, (unsigned char)two[0]);
            put(out, (unsigned char)two[1]);
        }
        break;
    case NIPC__ENC_BASE64:
    case NIPC__ENC_BASE64URL: {
        const char *a = e == NIPC__ENC_BASE64 ? b64 : b64url;
        for (size_t i = 0; i < n; i += 3) {
            size_t left = n - i;
            uint32_t w = (uint32_t)p[i] << 16 | (left > 1 ? (uint32_t)p[i + 1] << 8 : 0) |
                         (left > 2 ? p[i + 2] : 0);
            put(out, (unsigned char)a[w >> 18]);
            put(out, (unsigned char)a[w >> 12 & 63]);
            if (left > 1)
                put(out, (unsigned char)a[w >> 6 & 63]);
            else if (e == NIPC__ENC_BASE64)
                put(out, '=');
            if (left > 2)
                put(out, (unsigned char)a[w & 63]);
            else if (e == NIPC__ENC_BASE64)
                put(out, '=');
        }
        break;
    }
    case NIPC__ENC_UTF16LE: {
        uint16_t *u = malloc((n / 2 + 1) * sizeof *u);
        if (u == NULL)
            abort();
        for (size_t i = 0; i + 1 < n; i += 2)
            u[i / 2] = (uint16_t)(p[i] | p[i + 1] << 8);
        utf8_of_units(out, u, n / 2);
        free(u);
        break;
    }
    }
}

static const char *const enc_names[NENC] = {"utf8",   "ascii",     "latin1", "hex",
                                            "base64", "base64url", "utf16le"};

/* One conversion into a buffer that may already hold bytes: those must stay. */
static void convert(bool to_text, nipc_encoding_t e, const void *p, size_t n, bool prefill,
                    vec_t *out)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    static const char pre[] = "prefix";
    if (prefill)
        FUZZ_CHECK(nipc__buf_append(&b, pre, 6) == 0, "append");
    int err = to_text ? nipc__encoding_to_text(e, p, n, &b) : nipc__encoding_from_text(e, p, n, &b);
    FUZZ_CHECK(err == 0, "%s %s: %s", to_text ? "to_text" : "from_text", enc_names[e],
               nipc_err_name(err));
    size_t skip = prefill ? 6 : 0;
    FUZZ_CHECK(b.len >= skip && (skip == 0 || memcmp(b.data, pre, 6) == 0),
               "the bytes already there changed");
    out->n = 0;
    for (size_t i = skip; i < b.len; i++)
        put(out, (unsigned char)b.data[i]);
    nipc__buf_free(&b);
}

static void expect_equal(const vec_t *got, const vec_t *want, const char *what, nipc_encoding_t e,
                         const uint8_t *in, size_t n)
{
    FUZZ_CHECK(got->n == want->n && (want->n == 0 || memcmp(got->p, want->p, want->n) == 0),
               "%s %s: %zu bytes, the reference %zu, for %s", what, enc_names[e], got->n, want->n,
               fuzz_show(in, n));
}

static bool well_formed_utf8(const unsigned char *p, size_t n)
{
    vec_t v = {0};
    ref_from(NIPC__ENC_UTF8, p, n, &v);
    bool same = v.n == n && (n == 0 || memcmp(v.p, p, n) == 0);
    free(v.p);
    return same;
}

static bool has_lone_surrogate(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned c = p[i] | p[i + 1] << 8;
        if (c >= 0xdc00 && c <= 0xdfff)
            return true;
        if (c >= 0xd800 && c <= 0xdbff) {
            unsigned d = i + 3 < n ? (unsigned)(p[i + 2] | p[i + 3] << 8) : 0;
            if (d < 0xdc00 || d > 0xdfff)
                return true;
            i += 2;
        }
    }
    return false;
}

static void check_names(const char *name)
{
    static const char *const all[] = {"utf8",    "utf-8",    "ascii",  "latin1",
                                      "binary",  "hex",      "base64", "base64url",
                                      "utf16le", "utf-16le", "ucs2",   "ucs-2"};
    bool known = false;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        known |= strcasecmp(name, all[i]) == 0;
    nipc_encoding_t e = (nipc_encoding_t)99;
    int err = nipc__encoding_parse(name, &e);
    FUZZ_CHECK((err == 0) == known, "\"%s\": %s", fuzz_show(name, strlen(name)),
               err == 0 ? "accepted" : "refused");
    if (err == 0)
        FUZZ_CHECK(e >= NIPC__ENC_UTF8 && e <= NIPC__ENC_UTF16LE, "parsed to %d", (int)e);
    else
        FUZZ_CHECK(e == (nipc_encoding_t)99, "a refusal wrote *out");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    bool prefill = fuzz_byte(&in) & 1;
    const unsigned char *p = in.p;
    size_t n = in.n;
    char *bytes = fuzz_copy(p, n); /* exact: a read past the end is an ASan error */

    fuzz_in_t names = in;
    char *name = fuzz_string(&names);
    check_names(name);
    free(name);
    FUZZ_CHECK(nipc__encoding_parse(NULL, &(nipc_encoding_t){0}) != 0, "NULL is a name");

    vec_t got = {0}, want = {0}, back = {0};
    for (int k = 0; k < NENC; k++) {
        nipc_encoding_t e = (nipc_encoding_t)k;
        nipc_encoding_t again;
        FUZZ_CHECK(nipc__encoding_parse(nipc__encoding_name(e), &again) == 0 && again == e,
                   "the name of %d", k);

        /* bytes -> text */
        convert(true, e, bytes, n, prefill, &got);
        want.n = 0;
        ref_to(e, p, n, &want);
        expect_equal(&got, &want, "to_text", e, p, n);
        FUZZ_CHECK(well_formed_utf8(got.p, got.n), "to_text %s: not UTF-8", enc_names[k]);
        size_t high = 0;
        for (size_t i = 0; i < n; i++)
            high += p[i] >= 0x80;
        size_t len = e == NIPC__ENC_HEX         ? 2 * n
                     : e == NIPC__ENC_BASE64    ? (n + 2) / 3 * 4
                     : e == NIPC__ENC_BASE64URL ? (4 * n + 2) / 3
                     : e == NIPC__ENC_LATIN1    ? n + high
                     : e == NIPC__ENC_ASCII     ? n
                                                : got.n;
        FUZZ_CHECK(got.n == len, "to_text %s: %zu bytes for %zu, want %zu", enc_names[k], got.n, n,
                   len);

        /* ... and back, where Node's encodings round-trip */
        convert(false, e, got.p, got.n, prefill, &back);
        bool round = e == NIPC__ENC_HEX || e == NIPC__ENC_BASE64 || e == NIPC__ENC_BASE64URL ||
                     e == NIPC__ENC_LATIN1 || (e == NIPC__ENC_ASCII && high == 0) ||
                     (e == NIPC__ENC_UTF8 && well_formed_utf8(p, n)) ||
                     (e == NIPC__ENC_UTF16LE && !has_lone_surrogate(p, n));
        size_t keep = e == NIPC__ENC_UTF16LE ? n & ~(size_t)1 : n;
        if (round)
            FUZZ_CHECK(back.n == keep && (keep == 0 || memcmp(back.p, p, keep) == 0),
                       "%s does not round-trip %s", enc_names[k], fuzz_show(p, n));

        /* text -> bytes */
        convert(false, e, bytes, n, prefill, &got);
        want.n = 0;
        ref_from(e, p, n, &want);
        expect_equal(&got, &want, "from_text", e, p, n);
        if (e == NIPC__ENC_UTF16LE || e == NIPC__ENC_UTF8) {
            /* Back to text: the text as Node holds it, ill-formed pieces as U+FFFD. */
            convert(true, e, got.p, got.n, prefill, &back);
            want.n = 0;
            ref_from(NIPC__ENC_UTF8, p, n, &want);
            expect_equal(&back, &want, "from_text and to_text", e, p, n);
        }
    }
    free(got.p);
    free(want.p);
    free(back.p);
    free(bytes);
    return 0;
}
