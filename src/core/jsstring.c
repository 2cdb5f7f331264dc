/* SPDX-License-Identifier: MIT */
/*
 * JavaScript's String(v) for a JSON value: what a node-ipc program gets from `data + ""`.
 *
 * Scalars are written directly; arrays are joined as Array.prototype.join does, with an
 * explicit stack instead of recursion, so a deep array cannot exhaust the C stack. The
 * stack also holds the arrays being joined, which is how JavaScript breaks a cycle: an array
 * met again inside itself is written as "". Owns nothing beyond the call.
 */
#include "core.h"

#include <stdint.h>

typedef struct join_frame {
    const json_t *array;
    size_t next; /* the index of the next element to write */
} join_frame_t;

/* A value that is not an array: its text as JavaScript's ToString writes it. */
static int write_scalar(nipc_buf_t *out, const json_t *v)
{
    char num[64];
    size_t n;

    switch (json_typeof(v)) {
    case JSON_STRING:
        return nipc__buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        /* A JSON number is a double in JavaScript: past 2^53 an integer rounds, as there. */
        n = nipc__js_number(num, sizeof num, (double)json_integer_value(v));
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
    case JSON_OBJECT:
        return nipc__buf_append(out, "[object Object]", 15);
    case JSON_ARRAY: /* write_array() joins arrays: not reached */
        break;
    }
    return UV_EINVAL;
}

static bool joining(const join_frame_t *stack, size_t depth, const json_t *array)
{
    for (size_t i = 0; i < depth; i++)
        if (stack[i].array == array)
            return true;
    return false;
}

static int push(join_frame_t **stack, size_t *depth, size_t *cap, const json_t *array)
{
    if (*depth == *cap) {
        size_t n = *cap ? *cap * 2 : 8;
        if (n > SIZE_MAX / sizeof **stack)
            return UV_ENOMEM;
        join_frame_t *s = nipc__realloc(*stack, n * sizeof **stack);
        if (s == NULL)
            return UV_ENOMEM;
        *stack = s;
        *cap = n;
    }
    (*stack)[(*depth)++] = (join_frame_t){array, 0};
    return 0;
}

/* Array.prototype.join(","): null elements are "", nested arrays are joined in place. */
static int write_array(nipc_buf_t *out, const json_t *array)
{
    join_frame_t *stack = NULL;
    size_t depth = 0, cap = 0;
    int err = push(&stack, &depth, &cap, array);

    while (err == 0 && depth > 0) {
        join_frame_t *top = &stack[depth - 1];
        if (top->next == json_array_size(top->array)) {
            depth--;
            continue;
        }
        if (top->next > 0 && (err = nipc__buf_append(out, ",", 1)))
            break;
        const json_t *v = json_array_get(top->array, top->next++);
        if (json_is_array(v)) {
            if (!joining(stack, depth, v))
                err = push(&stack, &depth, &cap, v);
        } else if (!json_is_null(v)) {
            err = write_scalar(out, v);
        }
    }
    nipc__free(stack);
    return err;
}

char *nipc_js_string(const json_t *v)
{
    nipc_buf_t out;
    nipc__buf_init(&out);
    int err = v == NULL          ? nipc__buf_append(&out, "undefined", 9)
              : json_is_array(v) ? write_array(&out, v)
                                 : write_scalar(&out, v);
    if (err == 0)
        err = nipc__buf_append(&out, "", 1);
    if (err) {
        nipc__buf_free(&out);
        return NULL;
    }
    return out.data;
}
