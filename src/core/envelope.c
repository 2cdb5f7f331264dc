/* SPDX-License-Identifier: MIT */
/*
 * The fast envelope parser.
 *
 * Frames from node-ipc and nipc all have one shape: {"type":"<name>","data":<value>} with no
 * whitespace. The fast path decodes exactly that shape straight into jansson values, without
 * building the envelope, and gives up (returns false) on anything else or anything it does
 * not handle itself: integers of more than 18 digits, reals of more than 19 significant
 * digits, lone surrogates, nesting past FAST_DEPTH, any invalid input. The general path then
 * decodes the frame from the start, so giving up changes nothing but the speed, and every error is
 * the general path's. Whatever the fast path accepts, it must decode exactly as the general path
 * would (the same data, key order and integer or real typing).
 *
 * It owns no state of its own; the previous event's tree it writes into is the caller's.
 */
#include "envelope.h"
#include "scan.h"

#include <string.h>

#define FAST_DEPTH 64

typedef struct cursor {
    const char *p;
    const char *end;
    bool id; /* data has a member "id" (NIPC_HINT_ID) */
} cursor_t;

/* A member of data itself (depth 1) named "id". */
static inline void note_key(cursor_t *c, int depth, const char *k, size_t klen)
{
    if (depth == 1 && klen == 2 && k[0] == 'i' && k[1] == 'd')
        c->id = true;
}

static json_t *fast_value(cursor_t *c, int depth);

static bool unescape(const char *start, size_t n, const char **s, size_t *len, char **owned);

/* The ASCII bytes a string holds as they are: all but controls, quote and backslash. */
static const bool plain_ascii[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * Whether the text at c->p, just after an opening quote, is the string `old` (n bytes) written
 * plain, followed by its closing quote: then c->p moves past that quote. Byte by byte, for the
 * short keys and tags that repeat from one event to the next, and only through bytes a plain
 * string holds as they are, so a match is exactly what fast_string would have read.
 */
static inline bool same_plain(cursor_t *c, const char *old, size_t n)
{
    if ((size_t)(c->end - c->p) <= n)
        return false;
    const unsigned char *q = (const unsigned char *)c->p;
    for (size_t i = 0; i < n; i++)
        if (q[i] != (unsigned char)old[i] || !plain_ascii[q[i]])
            return false;
    if (q[n] != '"')
        return false;
    c->p += n + 1;
    return true;
}

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
    /* One pass: the end quote, escapes, control bytes and the UTF-8 of plain strings. Names
     * and tags are short, so the first bytes go one by one; then a word at a time (and whole
     * blocks for long runs) to the next byte that needs attention. */
    const unsigned char *first = end - q > 8 ? q + 8 : end;
    while (q < first && plain_ascii[*q])
        q++;
    bool stopped = q < first; /* at such a byte already, or at the end */
    for (;;) {
        if (stopped) {
            stopped = false;
            if (q == end)
                return false; /* no end quote */
        } else if (end - q >= 8) {
            uint64_t w = load8(q);
            uint64_t m = special_bytes(w, true);
            if (m == 0) {
                q += 8;
                if (end - q >= 64)
                    q += plain_prefix(q, (size_t)(end - q), true);
                continue;
            }
            q += first_special(w, m, true);
        } else {
            while (q < end && plain_ascii[*q])
                q++;
            if (q == end)
                return false; /* no end quote */
        }
        if (*q == '"')
            break;
        if (*q == '\\') {
            if (end - q < 2)
                return false;
            plain = false;
            q += 2;
        } else if (*q < 0x20) {
            return false;
        } else {
            size_t k = utf8_seq(q, (size_t)(end - q), &bad);
            if (k == 0)
                return false;
            q += k;
        }
    }
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

/*
 * A number, as jansson would read it: without a fraction or an exponent an integer, which the
 * fast path takes up to 18 digits (19 may overflow json_int_t, and jansson then reads every
 * integer of the frame as a real); with one, a real of at most 19 significant digits, read
 * exactly (nipc__decimal_to_double). Anything else, an invalid number included, gives false.
 */
typedef struct fast_num {
    bool real;
    json_int_t i;
    double d;
} fast_num_t;

static bool fast_scan_number(cursor_t *c, fast_num_t *out)
{
    const char *q = c->p, *end = c->end;
    bool neg = q < end && *q == '-';
    if (neg)
        q++;
    const char *ip = q; /* the integer part */
    /* Its value as it is scanned, for the integers most numbers are: up to 18 digits. */
    uint64_t iv = 0;
    size_t ni;
#ifdef NIPC_EIGHT_DIGITS
    if (end - q >= 8 && (ni = digits_in8(load8(q))) < 8) {
        /* The run ends within these eight bytes: its length and value at once. */
        iv = ni > 0 ? digits_value8(load8(q), ni) : 0;
        q += ni;
    } else {
        if (end - q >= 8) { /* eight digits, and maybe more */
            iv = digits8_value(load8(q));
            q += 8;
        }
#endif
        while (q < end && q - ip < 18 && (unsigned char)(*q - '0') < 10)
            iv = iv * 10 + (uint64_t)(*q++ - '0');
        ni = (size_t)(q - ip) + digit_run(q, (size_t)(end - q));
        q = ip + ni;
#ifdef NIPC_EIGHT_DIGITS
    }
#endif
    if (ni == 0 || (ni > 1 && ip[0] == '0'))
        return false; /* no digit, or a leading zero: invalid JSON */
    if (q == end || (*q != '.' && *q != 'e' && *q != 'E')) {
        if (ni > 18)
            return false;
        out->real = false;
        out->i = neg ? -(json_int_t)iv : (json_int_t)iv;
        c->p = q;
        return true;
    }
    const char *fp = q; /* the fraction's digits, if any */
    size_t nf = 0;
    if (*q == '.') {
        fp = ++q;
        nf = digit_run(q, (size_t)(end - q));
        if (nf == 0)
            return false;
        q += nf;
    }
    int exp10 = 0;
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        bool eneg = q < end && *q == '-';
        if (q < end && (*q == '-' || *q == '+'))
            q++;
        const char *ed = q;
        int e = 0;
        while (q < end && (unsigned char)(*q - '0') < 10) {
            if (e < 100000) /* far past any double's range, either way */
                e = e * 10 + (*q - '0');
            q++;
        }
        if (q == ed)
            return false;
        exp10 = eneg ? -e : e;
    }
    /* The significant digits, leading zeros left out ("0.00123"), at most 19. */
    uint64_t w;
    if (ni == 1 && ip[0] == '0') {
        size_t z = 0;
        while (z < nf && fp[z] == '0')
            z++;
        if (nf - z > 19)
            return false;
        w = digits_value(fp + z, nf - z);
    } else {
        if (ni + nf > 19)
            return false;
        w = digits_value(ip, ni) * nipc__pow10_u64[nf] + digits_value(fp, nf);
    }
    if (!nipc__decimal_to_double(w, exp10 - (int)nf, neg, &out->d))
        return false; /* an overflow, which jansson refuses */
    out->real = true;
    c->p = q;
    return true;
}

static json_t *fast_number(cursor_t *c)
{
    fast_num_t v;
    if (!fast_scan_number(c, &v))
        return NULL;
    return v.real ? json_real(v.d) : json_integer(v.i);
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
            note_key(c, depth, k, klen);
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

/* From this length on, a string that may repeat the value it replaces is compared while it
 * is checked (same_string), rather than checked and then compared. */
#define SAME_MIN 1024

/*
 * After a string's opening quote: whether the frame's string is exactly `old`'s value,
 * written with nothing escaped, read in one pass over the frame and the old value together
 * (fast_string then memcmp would read the frame twice, and a large payload that repeats
 * pays for both). Then true, the cursor past the closing quote; false leaves the cursor as
 * it was, and fast_string reads the string as ever. What is accepted is what fast_string
 * accepts: no escape, no control byte, valid UTF-8 (checked on the frame's bytes).
 */
static bool same_string(cursor_t *c, const json_t *old)
{
    size_t n = json_string_length(old);
    const unsigned char *p = (const unsigned char *)c->p;
    const unsigned char *q = (const unsigned char *)json_string_value(old);
    if ((size_t)(c->end - c->p) <= n || p[n] != '"')
        return false;
    bool high;
    size_t i = plain_same_blocks(p, q, n, &high);
    for (; i < n; i++) {
        if (p[i] != q[i] || p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
            return false;
        high = high || p[i] >= 0x80;
    }
    if (high && !utf8_valid(c->p, n))
        return false;
    c->p += n + 1;
    return true;
}

/*
 * Updates the value at *c in place when it has the shape of `old`, else decodes it afresh
 * from the same place. Returns the fresh value for the caller to put where `old` was, `old`
 * itself when updated, or NULL when the fast path cannot decode it at all.
 */
static json_t *fast_update_or_new(cursor_t *c, json_t *old, int depth)
{
    const char *start = c->p;
    if (fast_update(c, old, depth))
        return old;
    c->p = start;
    return fast_value(c, depth);
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
        if (it == NULL || c->p >= c->end || *c->p++ != '"')
            return false;
        const char *ok = json_object_iter_key(it);
        size_t olen = json_object_iter_key_len(it);
        if (!(olen <= 16 && same_plain(c, ok, olen))) {
            const char *k;
            size_t klen;
            char *owned;
            if (!fast_key(c, &k, &klen, &owned))
                return false;
            bool same = klen == olen && memcmp(k, ok, klen) == 0;
            nipc__free(owned);
            if (!same)
                return false;
        }
        note_key(c, depth, ok, olen);
        if (c->p >= c->end || *c->p++ != ':')
            return false;
        json_t *old = json_object_iter_value(it);
        json_t *v = fast_update_or_new(c, old, depth + 1);
        if (v == NULL || (v != old && json_object_iter_set_new(obj, it, v) != 0) || c->p >= c->end)
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

/* An array: its elements updated in place (or replaced), then grown or cut to the new size. */
static bool fast_update_array(cursor_t *c, json_t *arr, int depth)
{
    size_t n = json_array_size(arr), i = 0;
    c->p++; /* '[' */
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return json_array_clear(arr) == 0;
    }
    for (;;) {
        json_t *old = i < n ? json_array_get(arr, i) : NULL;
        json_t *v = old != NULL ? fast_update_or_new(c, old, depth + 1) : fast_value(c, depth + 1);
        if (v == NULL)
            return false;
        int rc = v == old      ? 0
                 : old != NULL ? json_array_set_new(arr, i, v)
                               : json_array_append_new(arr, v);
        if (rc != 0 || c->p >= c->end)
            return false;
        i++;
        if (*c->p == ']') {
            c->p++;
            break;
        }
        if (*c->p++ != ',')
            return false;
    }
    while (n > i)
        if (json_array_remove(arr, --n) != 0)
            return false;
    return true;
}

static bool fast_update(cursor_t *c, json_t *into, int depth)
{
    if (c->p >= c->end || depth > FAST_DEPTH)
        return false;
    switch (*c->p) {
    case '{':
        return json_is_object(into) && only_ours(into) && fast_update_object(c, into, depth);
    case '[':
        return json_is_array(into) && only_ours(into) && fast_update_array(c, into, depth);
    case '"': {
        const char *s;
        size_t len;
        char *owned;
        if (!json_is_string(into) || !only_ours(into))
            return false;
        c->p++;
        /* A short string that keeps its value (a name, a tag) is only compared; a long one
         * that repeats is compared as it is checked (same_string). */
        size_t old_n = json_string_length(into);
        if (old_n <= 16 ? same_plain(c, json_string_value(into), old_n)
                        : old_n >= SAME_MIN && same_string(c, into))
            return true;
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
    default: {
        fast_num_t v;
        if (!json_is_number(into) || !only_ours(into) || !fast_scan_number(c, &v) ||
            v.real != json_is_real(into))
            return false;
        return v.real ? json_real_set(into, v.d) == 0 : json_integer_set(into, v.i) == 0;
    }
    }
}

/*
 * Whether data, decoded from the text p[0, end), may be a request's (request.c): an object
 * whose first key is "$req". The first bytes tell nearly always. But the key may be written
 * with escapes ("\u0024req", "$r\u0065q"), which JSON.parse and the general path read as
 * "$req" too: when the first key starts with '$' or an escape, the tree tells.
 */
static bool maybe_request(const char *p, const char *end, const json_t *data)
{
    static const char req[] = "{\"$req\":";
    size_t n = (size_t)(end - p);
    if (n > sizeof req - 1 && memcmp(p, req, sizeof req - 1) == 0)
        return true;
    if (n < 3 || p[0] != '{' || p[1] != '"' || (p[2] != '$' && p[2] != '\\'))
        return false;
    void *it = json_object_iter((json_t *)data);
    return it != NULL && json_object_iter_key_len(it) == 4 &&
           memcmp(json_object_iter_key(it), "$req", 4) == 0;
}

/* Whether the 9 bytes at p are those of `lit` (the envelope's two pieces): one word and a byte,
 * where memcmp would be a call. */
static inline bool same9(const char *p, const char *lit)
{
    return load8(p) == load8(lit) && p[8] == lit[8];
}

/* The hints (NIPC_HINT_*) of data decoded from p[0, c->end). */
static unsigned hints(const cursor_t *c, const char *p, const json_t *data)
{
    if (maybe_request(p, c->end, data))
        return NIPC_HINT_ALL; /* the payload's "id" is one level down: maybe */
    return c->id ? NIPC_HINT_ID : 0;
}

bool nipc__msg_decode_fast(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved,
                           json_t **shape)
{
    static const char head[] = "{\"type\":\"";
    static const char mid[] = "\",\"data\":";
    const size_t hl = sizeof head - 1, ml = sizeof mid - 1;
    if (n < hl + ml + 2 || !same9(p, head) || p[n - 1] != '}')
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
    if ((size_t)(lim - q) < ml + 1 || !same9(q, mid))
        return false;
    memcpy(m->type_buf, t, tl);
    m->type_buf[tl] = '\0';
    if (!allow_reserved && nipc__event_reserved(m->type_buf))
        return false; /* the general path reports it */

    cursor_t c = {q + ml, p + n - 1, false};
    if (shape != NULL && *shape != NULL) {
        if (fast_update(&c, *shape, 1) && c.p == c.end) {
            m->type = m->type_buf;
            m->type_len = tl;
            m->data = *shape;
            m->decoded = NULL; /* the connection owns it */
            m->err = 0;
            m->hints = hints(&c, q + ml, *shape);
            return true;
        }
        json_decref(*shape);
        *shape = NULL;
        c.p = q + ml;
        c.id = false;
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
    m->hints = hints(&c, q + ml, data);
    return true;
}
