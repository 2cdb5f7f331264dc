/* SPDX-License-Identifier: MIT */
/*
 * Rendering of JSON values in log lines, shaped like Node's util.inspect (K3):
 * { id: 'hello', list: [ 1, 'two' ] }, nesting deeper than log_depth shown as [Object] or
 * [Array], and ANSI colours (strings green, numbers and booleans yellow, null bold) when
 * log_in_color is on.
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

static bool identifier(const char *k)
{
    if (!(isalpha((unsigned char)*k) || *k == '_' || *k == '$'))
        return false;
    for (k++; *k; k++)
        if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '$'))
            return false;
    return true;
}

static int quoted(nipc_buf_t *out, const char *s, size_t n)
{
    int err = nipc__buf_append(out, "'", 1);
    for (size_t i = 0; !err && i < n; i++) {
        if (s[i] == '\'' || s[i] == '\\')
            err = nipc__buf_append(out, "\\", 1);
        if (!err)
            err = nipc__buf_append(out, s + i, 1);
    }
    return err ? err : nipc__buf_append(out, "'", 1);
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
            const char *key;
            json_t *val;
            bool first = true;
            json_object_foreach((json_t *)v, key, val)
            {
                if (!first && (err = put(out, ", ")))
                    return err;
                first = false;
                err = identifier(key) ? put(out, key) : quoted(out, key, strlen(key));
                if (err || (err = put(out, ": ")) || (err = render(out, val, depth - 1, color)))
                    return err;
            }
        } else {
            size_t i;
            json_t *val;
            json_array_foreach(v, i, val)
            {
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

int nipc__log_render(nipc_buf_t *out, const json_t *v, int depth, bool color)
{
    size_t mark = out->len;
    int err = v == NULL ? put(out, "undefined") : render(out, v, depth, color);
    if (err)
        out->len = mark;
    return err;
}
