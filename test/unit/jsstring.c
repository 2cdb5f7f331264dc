/* SPDX-License-Identifier: MIT */
/*
 * nipc_js_string against JavaScript's String(v). Every expectation was taken from Node 20:
 *   node -e 'console.log(JSON.stringify(String(JSON.parse(TEXT))))'
 * for the same JSON text.
 */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

typedef struct sample {
    const char *json; /* the value, as JSON text */
    const char *js;   /* String(JSON.parse(json)) in Node */
} sample_t;

static void expect_value(const json_t *v, const char *what, const char *want)
{
    char *got = nipc_js_string(v);
    cr_assert_not_null(got, "%s: NULL", what);
    cr_expect_str_eq(got, want, "%s: got \"%s\", JavaScript writes \"%s\"", what, got, want);
    free(got);
}

static void expect_samples(const sample_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_error_t e;
        json_t *v = json_loads(s[i].json, JSON_DECODE_ANY, &e);
        cr_assert_not_null(v, "%s: %s", s[i].json, e.text);
        expect_value(v, s[i].json, s[i].js);
        json_decref(v);
    }
}

#define SAMPLES(...)                                                                               \
    do {                                                                                           \
        static const sample_t s_[] = {__VA_ARGS__};                                                \
        expect_samples(s_, sizeof s_ / sizeof s_[0]);                                              \
    } while (0)

Test(jsstring, strings_are_themselves, .timeout = 10)
{
    SAMPLES({"\"hello\"", "hello"}, {"\"\"", ""}, {"\"a,b\"", "a,b"},
            {"\"h\\u00e9llo w\\u00f6rld \\u2713 \\ud83d\\ude00\"",
             "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80"});
}

Test(jsstring, integers_are_javascript_numbers, .timeout = 10)
{
    SAMPLES({"0", "0"}, {"5", "5"}, {"-42", "-42"},
            /* Past 2^53 the value rounds to a double, as JSON.parse does. */
            {"9007199254740993", "9007199254740992"},
            {"9223372036854775807", "9223372036854776000"},
            {"-9223372036854775808", "-9223372036854776000"});
}

Test(jsstring, reals_as_number_to_string, .timeout = 10)
{
    SAMPLES({"0.1", "0.1"}, {"1e21", "1e+21"}, {"1.5e-7", "1.5e-7"}, {"-0.0", "0"}, {"1.5", "1.5"},
            {"123456789.125", "123456789.125"}, {"1e-7", "1e-7"}, {"0.000001", "0.000001"},
            {"1e300", "1e+300"}, {"5e-324", "5e-324"}, {"-2.5e-300", "-2.5e-300"},
            {"100.0", "100"});
}

Test(jsstring, negative_zero_built_in_c, .timeout = 10)
{
    json_t *v = json_real(-0.0);
    expect_value(v, "json_real(-0.0)", "0");
    json_decref(v);
}

Test(jsstring, arrays_join_with_commas, .timeout = 10)
{
    SAMPLES({"[]", ""}, {"[1,2]", "1,2"}, {"[null]", ""}, {"[null,null]", ","},
            {"[1,[2,[3,null]],null,\"a\"]", "1,2,3,,,a"}, {"[{}]", "[object Object]"},
            {"[true,false]", "true,false"}, {"[[]]", ""}, {"[[],[[]]]", ","},
            {"[0.1,-0.0,1e21]", "0.1,0,1e+21"});
}

Test(jsstring, objects_and_literals, .timeout = 10)
{
    SAMPLES({"{}", "[object Object]"}, {"{\"a\":1}", "[object Object]"}, {"true", "true"},
            {"false", "false"}, {"null", "null"});
}

Test(jsstring, null_pointer_is_undefined, .timeout = 10)
{
    expect_value(NULL, "NULL", "undefined");
}

/* node -e 'const a=[1]; const b=[a,2]; a.push(b); console.log(String(a))' prints 1,,2:
 * join writes an array it is already joining as "". */
Test(jsstring, a_cycle_is_joined_as_javascript_does, .timeout = 10)
{
    json_t *a = json_pack("[i]", 1);
    json_t *b = json_pack("[Oi]", a, 2);
    json_array_append(a, b);
    expect_value(a, "a = [1, b], b = [a, 2]", "1,,2");
    expect_value(b, "b", "1,,2");
    json_array_clear(a); /* breaks the cycle, so both are freed */
    json_decref(b);
    json_decref(a);
}

/* Deeper than the join stack's first allocation, so it grows; not taken from Node, whose
 * recursive join throws a RangeError long before jansson's depth limits. */
Test(jsstring, deep_nesting_grows_the_stack, .timeout = 10)
{
    json_t *v = json_pack("[i,n]", 7);
    for (int i = 0; i < 2000; i++)
        v = json_pack("[o,i]", v, i % 10);
    char *got = nipc_js_string(v);
    cr_assert_not_null(got);
    cr_expect_eq(strncmp(got, "7,,0,1,2,3", 10), 0, "%.20s", got);
    cr_expect_eq(strlen(got), 2 + 2000 * 2, "%zu", strlen(got));
    free(got);
    json_decref(v);
}

Test(jsstring, a_nul_byte_ends_the_c_string, .timeout = 10)
{
    json_t *v = json_stringn("a\0b", 3);
    expect_value(v, "\"a\\u0000b\"", "a");
    json_decref(v);
}

/* Each allocation in turn fails: NULL, nothing leaked (ASan), then the right text. */
Test(jsstring, out_of_memory_is_null, .timeout = 10)
{
    json_t *v = json_loads("[1,[2,[3,[4,[5,[6,[7,[8,[9,[10,\"x\"]]]]]]]]]]", 0, NULL);
    cr_assert_not_null(v);
    char *got = NULL;
    unsigned long n;
    for (n = 1; n < 100 && got == NULL; n++) {
        nipc__test_fail_alloc_after(n);
        got = nipc_js_string(v);
    }
    nipc__test_fail_alloc_after(0);
    cr_expect_gt(n, 2, "the first allocation's failure was not reported");
    cr_assert_not_null(got);
    cr_expect_str_eq(got, "1,2,3,4,5,6,7,8,9,10,x");
    free(got);
    json_decref(v);
}
