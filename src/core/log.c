/* SPDX-License-Identifier: MIT */
/*
 * Rendering of JSON values in log lines, shaped like Node's util.inspect (K3):
 * { id: 'hello', list: [ 1, 'two' ] }, nesting deeper than log_depth shown as [Object] or
 * [Array], and ANSI colours (strings green, numbers and booleans yellow, null bold) when
 * log_in_color is on. And the arguments of ipc.log(), which inspects only objects: a string
 * is its text, a number and a boolean as String() writes them, null and what is not given
 * (undefined) as util.inspect shows them.
 */
#include "core.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define GREEN "\x1b[32m"
#define YELLOW "\x1b[33m"
#define BOLD "\x1b[1m"
#define RESET "\x1b[39m"
#define RESET_BOLD "\x1b[22m"

static int put(nipc_buf_t *out, const char *s)
{
    return nipc__buf_append(out, s, strlen(s));
}

static int colored(nipc_buf_t *out, bool color, const char *on, const char *text, size_t n,
                   const char *off)
{
    int err = 0;
    if (color)
        err = put(out, on);
    if (!err)
        err = nipc__buf_append(out, text, n);
    if (!err && color)
        err = put(out, off);
    return err;
}

/* util.inspect prints a key bare only when it matches /^[a-zA-Z_][a-zA-Z_0-9]*$/. */
static bool identifier(const char *k, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)k[0]) || k[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)k[i]) || k[i] == '_'))
            return false;
    return true;
}

/*
 * A string as util.inspect quotes it: single quotes, or double quotes when the text holds a
 * single quote and no double quote, or backticks when it holds both and no backtick.
 * Backslash, the chosen quote and control characters are escaped, so a line stays one line.
 */
static int quoted(nipc_buf_t *out, const char *s, size_t n)
{
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = !sq ? '\'' : !dq ? '"' : memchr(s, '`', n) == NULL ? '`' : '\'';
    char esc[8];
    int err = nipc__buf_append(out, &q, 1);
    for (size_t i = 0; !err && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *e = NULL;
        switch (c) {
        case '\b':
            e = "\\b";
            break;
        case '\t':
            e = "\\t";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\f':
            e = "\\f";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\\':
            e = "\\\\";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02X", c);
                e = esc;
            } else if (c == (unsigned char)q) {
                esc[0] = '\\';
                esc[1] = (char)c;
                esc[2] = '\0';
                e = esc;
            }
        }
        err = e ? put(out, e) : nipc__buf_append(out, s + i, 1);
    }
    return err ? err : nipc__buf_append(out, &q, 1);
}

static int render(nipc_buf_t *out, const json_t *v, int depth, bool color)
{
    char num[64];
    int err;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        bool obj = json_is_object(v);
        size_t n = obj ? json_object_size(v) : json_array_size(v);
        if (n == 0)
            return put(out, obj ? "{}" : "[]");
        if (depth < 0)
            return put(out, obj ? "[Object]" : "[Array]");
        if ((err = put(out, obj ? "{ " : "[ ")))
            return err;
        if (obj) {
            bool first = true;
            for (void *it = json_object_iter((json_t *)v); it != NULL;
                 it = json_object_iter_next((json_t *)v, it)) {
                const char *key = json_object_iter_key(it);
                size_t klen = json_object_iter_key_len(it);
                json_t *val = json_object_iter_value(it);
                if (!first && (err = put(out, ", ")))
                    return err;
                first = false;
                err = identifier(key, klen) ? nipc__buf_append(out, key, klen)
                                            : quoted(out, key, klen);
                if (err || (err = put(out, ": ")) || (err = render(out, val, depth - 1, color)))
                    return err;
            }
        } else {
            size_t i;
            json_t *val;
            json_array_foreach (v, i, val) {
                if ((i > 0 && (err = put(out, ", "))) || (err = render(out, val, depth - 1, color)))
                    return err;
            }
        }
        return put(out, obj ? " }" : " ]");
    }
    case JSON_STRING: {
        nipc_buf_t q;
        nipc__buf_init(&q);
        err = quoted(&q, json_string_value(v), json_string_length(v));
        if (!err)
            err = colored(out, color, GREEN, q.data, q.len, RESET);
        nipc__buf_free(&q);
        return err;
    }
    case JSON_INTEGER:
    case JSON_REAL: {
        size_t n = json_is_integer(v) ? (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                                         json_integer_value(v))
                                      : nipc__js_number(num, sizeof num, json_real_value(v));
        return colored(out, color, YELLOW, num, n, RESET);
    }
    case JSON_TRUE:
        return colored(out, color, YELLOW, "true", 4, RESET);
    case JSON_FALSE:
        return colored(out, color, YELLOW, "false", 5, RESET);
    case JSON_NULL:
        return colored(out, color, BOLD, "null", 4, RESET_BOLD);
    }
    return UV_EINVAL;
}

int nipc__log_arg(nipc_buf_t *out, const json_t *v, int depth, bool color)
{
    char num[64];
    size_t n;
    switch (v == NULL ? JSON_NULL : json_typeof(v)) {
    case JSON_STRING:
        return nipc__buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        n = nipc__js_integer(num, json_integer_value(v));
        return nipc__buf_append(out, num, n);
    case JSON_REAL:
        n = nipc__js_number(num, sizeof num, json_real_value(v));
        return nipc__buf_append(out, num, n);
    case JSON_TRUE:
        return put(out, "true");
    case JSON_FALSE:
        return put(out, "false");
    default:
        return nipc__log_render(out, v, depth, color);
    }
}

int nipc__log_render(nipc_buf_t *out, const json_t *v, int depth, bool color)
{
    size_t mark = out->len;
    int err = v == NULL ? put(out, "undefined") : render(out, v, depth, color);
    if (err)
        out->len = mark;
    return err;
}
