/* SPDX-License-Identifier: MIT */
/*
 * Comparisons of jansson trees for the codec harnesses. Strict: what the two decoder paths
 * must agree on (test/support/random.h's th_same_tree: types, key order, string bytes, reals
 * bit for bit). As JavaScript values: what survives an encode and a decode, where a real
 * written without a fraction comes back an integer (100.0 is sent as 100) and -0 as 0.
 */
#ifndef NIPC_FUZZ_JSON_EQ_H
#define NIPC_FUZZ_JSON_EQ_H

#include "../test/support/random.h"

/* Numbers equal as JavaScript numbers, and the same integer when both are integers. */
static inline bool fuzz_js_leaf(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        if (json_is_real(a) && json_is_real(b)) /* -0 is written "0", as JavaScript does */
            return json_real_value(a) == json_real_value(b);
        /* A real written as digits alone comes back an integer: the same number for
         * JavaScript, whose reading of those digits is the real (1e17 + 4 is written
         * "100000000000000000" and read by nipc as that integer, exact to 64 bits). */
        const json_t *i = json_is_integer(a) ? a : b, *r = json_is_integer(a) ? b : a;
        return (double)json_integer_value(i) == json_real_value(r);
    }
    return th_same_leaf(a, b);
}

static inline bool fuzz_js_equal(const json_t *a, const json_t *b)
{
    return th_match(a, b, fuzz_js_leaf);
}

/* Nesting levels of v: 1 for a scalar or an empty container. */
static inline size_t fuzz_depth(const json_t *v)
{
    size_t max = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach ((json_t *)v, k, x) {
            size_t d = fuzz_depth(x);
            max = d > max ? d : max;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x) {
            size_t d = fuzz_depth(x);
            max = d > max ? d : max;
        }
    }
    return max + 1;
}

/* The names nipc__msg_encode refuses to send (W13): Object.prototype's members. */
static inline bool fuzz_crashes_legacy(const char *type)
{
    static const char *const names[] = {
        "constructor",          "__proto__",        "__defineGetter__", "__defineSetter__",
        "__lookupGetter__",     "__lookupSetter__", "hasOwnProperty",   "isPrototypeOf",
        "propertyIsEnumerable", "toLocaleString",   "toString",         "valueOf",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(type, names[i]) == 0)
            return true;
    return false;
}

#endif /* NIPC_FUZZ_JSON_EQ_H */
