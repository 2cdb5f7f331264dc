/* SPDX-License-Identifier: MIT */
/* nipc__log_render: JSON values in log lines shaped like Node's util.inspect (K3). */
#include "core/core.h"

#include <criterion/criterion.h>

#include <string.h>

/* Renders and compares; expected strings come from Node 20's util.inspect. */
static void expect_render(const json_t *v, int depth, bool color, const char *want)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__log_render(&b, v, depth, color), 0);
    size_t n = nipc__buf_size(&b);
    cr_assert(n == strlen(want) && memcmp(b.data + b.off, want, n) == 0, "got  [%.*s]\nwant [%s]",
              (int)n, b.data + b.off, want);
    nipc__buf_free(&b);
}

static json_t *sample(void)
{
    json_t *v = json_pack("{s:s, s:[i, s, {s:i}], s:n, s:b}", "id", "hello", "list", 1, "two",
                          "three", 3, "n", "t", 1);
    cr_assert_not_null(v);
    return v;
}

Test(log, k3_renders_like_util_inspect, .timeout = 10)
{
    json_t *v = sample();
    expect_render(v, 5, false,
                  "{ id: 'hello', list: [ 1, 'two', { three: 3 } ], n: null, t: true }");
    json_decref(v);
}

Test(log, k3_depth_limits_nesting, .timeout = 10)
{
    json_t *v = sample();
    expect_render(v, 0, false, "{ id: 'hello', list: [Array], n: null, t: true }");
    expect_render(v, 1, false, "{ id: 'hello', list: [ 1, 'two', [Object] ], n: null, t: true }");
    expect_render(v, 2, false,
                  "{ id: 'hello', list: [ 1, 'two', { three: 3 } ], n: null, t: true }");
    json_decref(v);

    json_t *w = json_pack("[{s:i}, [i]]", "a", 1, 2);
    expect_render(w, 0, false, "[ [Object], [Array] ]");
    json_decref(w);
}

Test(log, k3_empty_containers_never_collapsed, .timeout = 10)
{
    json_t *e = json_object();
    expect_render(e, 5, false, "{}");
    json_decref(e);
    e = json_array();
    expect_render(e, 5, false, "[]");
    json_decref(e);
    e = json_pack("{s:{}, s:[]}", "a", "b");
    expect_render(e, 0, false, "{ a: {}, b: [] }");
    json_decref(e);
}

Test(log, k3_colors_like_util_inspect, .timeout = 10)
{
    json_t *v = sample();
    expect_render(
        v, 5, true,
        "{ id: \x1b[32m'hello'\x1b[39m, list: [ \x1b[33m1\x1b[39m, \x1b[32m'two'\x1b[39m, "
        "{ three: \x1b[33m3\x1b[39m } ], n: \x1b[1mnull\x1b[22m, t: "
        "\x1b[33mtrue\x1b[39m }");
    json_decref(v);
    json_t *a = json_pack("[f, f, f, i, b, n]", 1.5, -0.000001, 1e21, 100, 0);
    expect_render(a, 5, true,
                  "[ \x1b[33m1.5\x1b[39m, \x1b[33m-0.000001\x1b[39m, \x1b[33m1e+21\x1b[39m, "
                  "\x1b[33m100\x1b[39m, \x1b[33mfalse\x1b[39m, \x1b[1mnull\x1b[22m ]");
    json_decref(a);
}

Test(log, k3_scalars, .timeout = 10)
{
    json_t *s = json_string("x");
    expect_render(s, 5, false, "'x'");
    json_decref(s);
    s = json_real(100.0);
    expect_render(s, 5, false, "100");
    json_decref(s);
    s = json_integer(-7);
    expect_render(s, 5, false, "-7");
    json_decref(s);
    expect_render(NULL, 5, false, "undefined");
}

Test(log, k3_non_identifier_keys_single_quoted, .timeout = 10)
{
    json_t *o = json_object();
    json_object_set_new(o, "a-b", json_integer(1));
    json_object_set_new(o, "_y", json_integer(3));
    json_object_set_new(o, "1a", json_integer(4));
    json_object_set_new(o, "", json_integer(5));
    json_object_set_new(o, "a b", json_integer(6));
    json_object_set_new(o, "x1", json_integer(7));
    json_object_set_new(o, "\xc3\xa9", json_integer(8));
    expect_render(o, 5, false,
                  "{ 'a-b': 1, _y: 3, '1a': 4, '': 5, 'a b': 6, x1: 7, '\xc3\xa9': 8 }");
    json_decref(o);
}

Test(log, k3_backslash_escaped_in_strings, .timeout = 10)
{
    json_t *s = json_string("b\\c");
    expect_render(s, 5, false, "'b\\\\c'");
    json_decref(s);
}

/* util.inspect's key pattern is /^[a-zA-Z_][a-zA-Z_0-9]*$/: '$' is quoted. */
Test(log, k3_util_inspect_quotes_dollar_keys, .timeout = 10)
{
    json_t *o = json_pack("{s:i, s:i}", "$x", 1, "a$", 2);
    expect_render(o, 5, false, "{ '$x': 1, 'a$': 2 }");
    json_decref(o);
}

/* A string holding a single quote and no double quote is wrapped in double quotes. */
Test(log, k3_util_inspect_quote_choice, .timeout = 10)
{
    json_t *a = json_pack("[s]", "it's");
    expect_render(a, 5, false, "[ \"it's\" ]");
    json_decref(a);
}

/* Control characters are escaped, so one log line stays one line. */
Test(log, k3_util_inspect_escapes_newlines, .timeout = 10)
{
    json_t *a = json_pack("[s]", "a\nb");
    expect_render(a, 5, false, "[ 'a\\nb' ]");
    json_decref(a);
}

Test(log, render_appends_to_existing_text, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "got ", 4), 0);
    json_t *v = json_pack("{s:i}", "a", 1);
    cr_assert_eq(nipc__log_render(&b, v, 5, false), 0);
    cr_assert_eq(b.len, strlen("got { a: 1 }"));
    cr_assert_eq(memcmp(b.data, "got { a: 1 }", b.len), 0);
    json_decref(v);
    nipc__buf_free(&b);
}

Test(log, render_out_of_memory_leaves_buffer_unchanged, .timeout = 10)
{
    json_t *v = json_object();
    char key[16];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "key%d", i);
        json_object_set_new(v, key, json_string("a string long enough to need growth"));
    }
    for (unsigned long n = 1;; n++) {
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_assert_eq(nipc__buf_append(&b, "prefix", 6), 0);
        nipc__test_fail_alloc_after(n);
        int err = nipc__log_render(&b, v, 5, true);
        nipc__test_fail_alloc_after(0);
        if (err == 0) {
            nipc__buf_free(&b);
            break;
        }
        cr_assert_eq(err, UV_ENOMEM);
        cr_assert_eq(nipc__buf_size(&b), 6, "allocation %lu", n);
        cr_assert_eq(memcmp(b.data + b.off, "prefix", 6), 0);
        nipc__buf_free(&b);
        cr_assert_lt(n, 1000);
    }
    json_decref(v);
}
