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

/* A string value of a `_new` emit: by reference when it is long and needs no escape. Out of
 * line, so that the copying emits' encoder keeps its shape. */
__attribute__((noinline)) static int write_string_refer(nipc_buf_t *out, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < NIPC__SPAN_MIN || !needs_no_escape(s, n))
        return write_string(out, s, n, false);
    int err;
    if ((err = nipc__buf_append(out, "\"", 1)) || (err = nipc__buf_refer(out, (json_t *)v, s, n)) ||
        (err = nipc__buf_append(out, "\"", 1)))
        return err;
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

/* `depth` is the number of levels around v: 0 for a value alone, 1 for a frame's data. With
 * `refer`, large strings may be queued by reference (write_string_refer). */
static int write_value(nipc_buf_t *out, const json_t *v, int depth, bool refer)
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
                (err = nipc__buf_append(out, ":", 1)) ||
                (err = write_value(out, val, depth + 1, refer)))
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
            if ((err = write_value(out, val, depth + 1, refer)))
                return err;
        }
        return nipc__buf_append(out, "]", 1);
    }
    case JSON_STRING:
        if (refer)
            return write_string_refer(out, v);
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
    int err = write_value(out, v, 0, false);
    if (err)
        nipc__buf_truncate(out, mark);
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

int nipc__msg_encode_ref(nipc_buf_t *out, const char *type, const json_t *data, bool legacy,
                         const char *delim, size_t dlen, bool refer)
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

    /* A delimiter that a string could hold is looked for in the frame's own bytes below, so
     * with one every string is copied. */
    refer = refer && !delim_can_appear(delim);
    size_t mark = out->len;
    int err;
    if ((err = nipc__buf_append(out, "{\"type\":", 8)) ||
        (err = write_string(out, type, strlen(type), false)) ||
        (err = nipc__buf_append(out, ",\"data\":", 8)) ||
        (err = data ? write_value(out, data, 1, refer) : nipc__buf_append(out, "{}", 2)) ||
        (err = nipc__buf_append(out, "}", 1))) {
        nipc__buf_truncate(out, mark);
        return err;
    }
    size_t frame_len = out->len - mark;
    if ((err = nipc__buf_append(out, delim, dlen))) {
        nipc__buf_truncate(out, mark);
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
