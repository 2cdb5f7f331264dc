/* SPDX-License-Identifier: MIT */
/*
 * The writer. It writes straight into an output buffer what JavaScript's
 * JSON.stringify({type, data}) would write (W1-W6b), because peers compare bytes, not
 * values: jansson's own dump differs on numbers (100.0, 0.10000000000000001). It owns no
 * state. On error the buffer is left as it was, and it never writes a frame a nipc receiver
 * would refuse: invalid UTF-8, a key holding NUL, nesting past MAX_DEPTH, a delimiter inside
 * the frame, a type that crashes legacy receivers (W13).
 */
#include "core.h"
#include "scan.h"

#include <stdint.h>
#include <string.h>

/*
 * jansson's parser takes 2048 levels of nesting, each value a level of its own: in a frame the
 * envelope is the first and the data the second. The encoder refuses data that would nest
 * deeper, since no nipc receiver could read the frame.
 */
#define MAX_DEPTH 2048

static const char hex[] = "0123456789abcdef";

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
 * Where the writer is in its output: bytes go to w, and [w, end) is room already reserved, so
 * that each value checks its room once (room()) instead of every byte. out->len is brought up
 * to date when the room grows and when the writer is done (writer_done()).
 */
typedef struct writer {
    nipc_buf_t *out;
    char *w;
    char *end;
    bool legacy; /* a frame's data with legacy_data: an emitter-like object is sent as {} */
    bool refer;  /* a `_new` emit's data: large strings are queued by reference */
} writer_t;

bool nipc__js_truthy(const json_t *v)
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

/* write_container's answer for an emitter-like data object under `legacy` (W4). */
#define EMITTER_LIKE 1

__attribute__((noinline)) static int grow(writer_t *x, size_t k)
{
    if (x->out->data != NULL)
        x->out->len = (size_t)(x->w - x->out->data);
    int err = nipc__buf_reserve(x->out, k > 4096 ? k : 4096);
    if (err)
        return err;
    x->w = x->out->data + x->out->len;
    x->end = x->out->data + x->out->cap;
    return 0;
}

static inline int room(writer_t *x, size_t k)
{
    return (size_t)(x->end - x->w) >= k ? 0 : grow(x, k);
}

static int writer_init(writer_t *x, nipc_buf_t *out)
{
    x->out = out;
    x->w = x->end = NULL;
    x->legacy = false;
    x->refer = false;
    if (out->data == NULL)
        return grow(x, 0);
    x->w = out->data + out->len;
    x->end = out->data + out->cap;
    return 0;
}

static void writer_done(writer_t *x)
{
    x->out->len = (size_t)(x->w - x->out->data);
}

/* Up to 8 bytes known to fit the room. */
static inline void put(writer_t *x, const char *p, size_t n)
{
    memcpy(x->w, p, n);
    x->w += n;
}

/*
 * A whole string of 0 < n < 8 bytes at once, as keys and tags mostly are: the bytes are read
 * in two overlapping halves (a string's memory ends where it does, so nothing past it is
 * read) and, when none needs attention, written to w the same way. Returns whether it did.
 */
static inline bool short_plain(const unsigned char *u, size_t n, char *w)
{
    uint64_t v;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, u, 4);
        memcpy(&b, u + n - 4, 4);
        v = a | (uint64_t)b << 32;
        if (special_bytes(v, true) != 0)
            return false;
        memcpy(w, &a, 4);
        memcpy(w + n - 4, &b, 4);
        return true;
    }
    /* 1 to 3 bytes: the first, the middle and the last, in a word padded with spaces. */
    v = (uint64_t)u[0] | (uint64_t)u[n >> 1] << 8 | (uint64_t)u[n - 1] << 16 |
        0x2020202020000000ULL;
    if (special_bytes(v, true) != 0)
        return false;
    w[0] = (char)u[0];
    w[n >> 1] = (char)u[n >> 1];
    w[n - 1] = (char)u[n - 1];
    return true;
}

/*
 * The last n - i < 8 bytes of a string of n >= 8 at once, when none needs attention: the
 * word that ends the string is read, the bytes before i shifted out, and the rest written at
 * w (the room holds a whole word there, as it holds 6 bytes for each byte left).
 */
static inline bool tail_plain(const unsigned char *u, size_t i, size_t n, char *w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Byte i in the lowest lane, and spaces (plain) in the lanes shifted in; 0 < i - (n - 8) < 8.
     */
    const unsigned sh = 8 * (unsigned)(i - (n - 8));
    uint64_t v = load8(u + n - 8) >> sh | 0x2020202020202020ULL << (64 - sh);
    if (special_bytes(v, true) != 0)
        return false;
    memcpy(w, &v, 8);
    return true;
#else
    (void)u, (void)i, (void)n, (void)w;
    return false;
#endif
}

/*
 * A JSON string as JSON.stringify writes it: only ", \\ and controls below 0x20 escaped.
 * Refuses (UV_EINVAL) text that is not valid UTF-8, which jansson lets a caller build
 * (json_stringn_nocheck) but no receiver reads, and with `key` a NUL byte, which jansson's
 * parser refuses in a key. The check costs an ASCII string nothing: the scan, eight bytes a
 * step and whole blocks for long runs, stops at the first byte above 0x7F, the rest of the
 * string is then checked once, and the scan goes on letting such bytes through.
 */
__attribute__((noinline)) static int write_string(writer_t *x, const char *s, size_t n, bool key)
{
    /* Worst case every byte becomes \u00XX; then the quotes, and one byte to spare for the
     * punctuation after the string. */
    if (n > (SIZE_MAX - 3) / 6)
        return UV_ENOMEM;
    int err = room(x, n * 6 + 3);
    if (err)
        return err;
    const unsigned char *u = (const unsigned char *)s;
    char *w = x->w;
    bool ascii = true; /* no byte above 0x7F so far, so the rest is not yet checked */
    *w++ = '"';
    for (size_t i = 0; i < n;) {
        /* A word at a time (whole blocks for long runs) to the next byte that needs attention:
         * the word is copied whole, since the room holds it, and the write goes on from that
         * byte. The last few bytes go one by one. While `ascii` holds, every byte before i is
         * ASCII, so a character starts at i. */
        unsigned char c;
        if (n - i >= 8) {
            uint64_t v = load8(u + i);
            uint64_t m = special_bytes(v, ascii);
            memcpy(w, &v, 8);
            if (m == 0) {
                size_t k = n - i >= 72 ? plain_blocks(u + i + 8, n - i - 8, ascii, w + 8) : 0;
                w += 8 + k;
                i += 8 + k;
                continue;
            }
            size_t k = first_special(v, m, ascii);
            w += k;
            i += k;
            c = u[i++];
        } else {
            /* Fewer than 8 left: when all are plain, copy them at once (the tail's word ends
             * the string, so it needs 8 bytes of string before its end). */
            if (i == 0 ? short_plain(u, n, w) : n >= 8 && tail_plain(u, i, n, w)) {
                w += n - i;
                break;
            }
            while (i < n && copied_as_is[u[i]])
                *w++ = (char)u[i++];
            if (i == n)
                break;
            c = u[i++];
        }
        if (c >= 0x80) {
            if (ascii && !utf8_valid(s + i - 1, n - i + 1))
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
    *w++ = '"';
    x->w = w;
    return 0;
}

/*
 * Whether write_string would copy s[0, n) as it is: nothing to escape, valid UTF-8. The same
 * scan without the copy, for a string that may be sent from where it is.
 */
static bool needs_no_escape(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    bool ascii = true;
    for (size_t i = 0; i < n;) {
        i += n - i >= 16 ? plain_prefix(u + i, n - i, ascii) : 0;
        for (size_t stop = i + 16 < n ? i + 16 : n; i < stop; i++) {
            if (u[i] >= 0x80) {
                if (ascii && !utf8_valid(s + i, n - i))
                    return false;
                ascii = false;
            } else if (!copied_as_is[u[i]]) {
                return false;
            }
        }
    }
    return true;
}

/* A long string value of a `_new` emit: by reference when it needs no escape, its quotes in
 * the buffer's own bytes (and room for one byte after it, as every value leaves). */
__attribute__((noinline)) static int write_string_refer(writer_t *x, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!needs_no_escape(s, n))
        return write_string(x, s, n, false);
    int err = room(x, 3);
    if (err)
        return err;
    *x->w++ = '"';
    writer_done(x); /* the string goes before byte out->len */
    if ((err = nipc__buf_refer(x->out, (json_t *)v, s, n)))
        return err;
    *x->w++ = '"';
    return 0;
}

/*
 * A string, inline in its caller when it is short and plain (a key, a tag), through
 * write_string otherwise. Leaves room for one byte after it.
 */
static inline int put_string(writer_t *x, const char *s, size_t n, bool key)
{
    if (n - 1 < 7 && (size_t)(x->end - x->w) >= 16) {
        char *w = x->w;
        if (short_plain((const unsigned char *)s, n, w + 1)) {
            w[0] = '"';
            w[n + 1] = '"';
            x->w = w + n + 2;
            return 0;
        }
    }
    return write_string(x, s, n, key);
}

static int write_container(writer_t *x, const json_t *v, int depth);

/*
 * `depth` is the number of levels around v: 0 for a value alone, 1 for a frame's data. Every
 * value leaves room for one more byte after it, the punctuation that follows. Scalars are
 * written here, inline in the loops of write_container; objects and arrays there.
 */
static inline int write_value(writer_t *x, const json_t *v, int depth)
{
    int err;
    if (depth >= MAX_DEPTH)
        return UV_EINVAL;
    /* Room for any scalar but a string, and for the punctuation after it. */
    if ((err = room(x, 32)))
        return err;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        return write_container(x, v, depth);
    case JSON_STRING:
        if (x->refer && json_string_length(v) >= NIPC__SPAN_MIN)
            return write_string_refer(x, v);
        return put_string(x, json_string_value(v), json_string_length(v), false);
    case JSON_INTEGER:
        x->w += nipc__js_integer(x->w, json_integer_value(v));
        return 0;
    case JSON_REAL:
        x->w += nipc__js_number(x->w, 32, json_real_value(v));
        return 0;
    case JSON_TRUE:
        put(x, "true", 4);
        return 0;
    case JSON_FALSE:
        put(x, "false", 5);
        return 0;
    case JSON_NULL:
        put(x, "null", 4);
        return 0;
    }
    return UV_EINVAL;
}

/* An object or an array, with room for 32 bytes at the start. */
__attribute__((noinline)) static int write_container(writer_t *x, const json_t *v, int depth)
{
    int err;
    if (json_is_object(v)) {
        *x->w++ = '{';
        /* The iterator gives each key's length, so a key holding NUL (jansson >= 2.13 makes
         * them) is seen, and refused, rather than cut short into another key. */
        for (void *it = json_object_iter((json_t *)v); it != NULL;) {
            const char *k = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            /* W4: node-ipc sends an emitter-like object (a truthy _maxListeners) as {}. Seen
             * here, as the keys are written, rather than looked up before every emit. */
            if (depth == 1 && x->legacy && klen == 13 && memcmp(k, "_maxListeners", 13) == 0 &&
                nipc__js_truthy(json_object_iter_value(it)))
                return EMITTER_LIKE;
            if ((err = put_string(x, k, klen, true)))
                return err;
            *x->w++ = ':'; /* a string leaves room for one byte */
            if ((err = write_value(x, json_object_iter_value(it), depth + 1)))
                return err;
            it = json_object_iter_next((json_t *)v, it);
            if (it != NULL)
                *x->w++ = ','; /* every value leaves room for one byte */
        }
        if ((err = room(x, 2)))
            return err;
        *x->w++ = '}';
        return 0;
    }
    size_t n = json_array_size(v);
    *x->w++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *x->w++ = ',';
        if ((err = write_value(x, json_array_get(v, i), depth + 1)))
            return err;
    }
    if ((err = room(x, 2)))
        return err;
    *x->w++ = ']';
    return 0;
}

int nipc__json_write(nipc_buf_t *out, const json_t *v)
{
    size_t mark = out->len;
    writer_t x;
    int err = writer_init(&x, out);
    if (err == 0 && (err = write_value(&x, v, 0)) == 0)
        writer_done(&x);
    if (err)
        nipc__buf_truncate(out, mark);
    return err;
}

/*
 * Names of Object.prototype members: a legacy v10 receiver looks event types up in a plain
 * object and crashes on these (W13), so they are never sent.
 */
bool nipc__type_crashes_legacy(const char *type)
{
    static const char *const names[] = {
        "constructor",          "__proto__",        "__defineGetter__", "__defineSetter__",
        "__lookupGetter__",     "__lookupSetter__", "hasOwnProperty",   "isPrototypeOf",
        "propertyIsEnumerable", "toLocaleString",   "toString",         "valueOf",
    };
    /* Called for every emit: the first byte rules out most types at once. */
    switch (type[0]) {
    case '_':
    case 'c':
    case 'h':
    case 'i':
    case 'p':
    case 't':
    case 'v':
        break;
    default:
        return false;
    }
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

int nipc__msg_encode_ref(nipc_buf_t *out, const char *type, const json_t *data, bool legacy,
                         const char *delim, size_t dlen, bool refer)
{
    /* The type's UTF-8 is checked as it is written, like every string of the data. */
    if (type == NULL || nipc__type_crashes_legacy(type))
        return UV_EINVAL;
    /* W4: node-ipc sends falsy data (null, "") as {}, and emitter-like objects too, which
     * write_container tells as it writes them. */
    if (data != NULL && legacy &&
        (json_is_null(data) || (json_is_string(data) && json_string_length(data) == 0)))
        data = NULL;

    size_t mark = out->len;
    writer_t x;
    int err;
    if ((err = writer_init(&x, out)) || (err = room(&x, 8)))
        return err;
    x.legacy = legacy;
    /* A delimiter that a string could hold is looked for in the frame's own bytes below, so
     * with one every string is copied. */
    x.refer = refer && !delim_can_appear(delim);
    put(&x, "{\"type\":", 8);
    if ((err = put_string(&x, type, strlen(type), false)) || (err = room(&x, 8)))
        goto fail;
    put(&x, ",\"data\":", 8);
    if (data != NULL && (err = write_value(&x, data, 1)) == EMITTER_LIKE) {
        nipc__buf_truncate(out, mark); /* again, with {} for data */
        return nipc__msg_encode(out, type, NULL, false, delim, dlen);
    }
    if (err)
        goto fail;
    if (data == NULL) {
        if ((err = room(&x, 2)))
            goto fail;
        put(&x, "{}", 2);
    }
    if ((err = room(&x, 1 + dlen)))
        goto fail;
    *x.w++ = '}';
    size_t frame_len = (size_t)(x.w - x.out->data) - mark;
    memcpy(x.w, delim, dlen);
    x.w += dlen;
    writer_done(&x);
    /* The receiver cuts at the first delimiter in frame + delimiter: it must be ours. */
    if (delim_can_appear(delim) &&
        memmem(out->data + mark, frame_len + dlen, delim, dlen) != out->data + mark + frame_len) {
        out->len = mark;
        return NIPC_EDELIM;
    }
    return 0;
fail:
    nipc__buf_truncate(out, mark);
    return err;
}
