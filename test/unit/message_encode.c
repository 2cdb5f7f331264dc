/* SPDX-License-Identifier: MIT */
/* nipc__msg_encode: exactly JSON.stringify({type, data}) + delimiter (W1-W7, W13, W15). */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bytes as "7b 22 ..." for failure messages, in a static buffer. */
static const char *hexdump(const char *p, size_t n)
{
    static char out[4096];
    size_t w = 0;
    for (size_t i = 0; i < n && w + 4 < sizeof out; i++)
        w += (size_t)snprintf(out + w, sizeof out - w, "%s%02x", i ? " " : "",
                              (unsigned)(unsigned char)p[i]);
    out[w] = '\0';
    return out;
}

static void assert_bytes(const char *got, size_t gn, const char *want, size_t wn)
{
    if (gn == wn && memcmp(got, want, wn) == 0)
        return;
    char g[4096];
    snprintf(g, sizeof g, "%s", hexdump(got, gn));
    cr_assert_fail("got %zu bytes:\n  %s\nwant %zu bytes:\n  %s\n(text: %.*s)", gn, g, wn,
                   hexdump(want, wn), (int)gn, got);
}

/* "7b 22 ..." -> bytes; returns the length. */
static size_t unhex(const char *hex, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ' || *p == '\n') {
            p++;
            continue;
        }
        unsigned v;
        cr_assert_eq(sscanf(p, "%2x", &v), 1);
        cr_assert_lt(n, cap);
        out[n++] = (char)v;
        p += 2;
    }
    return n;
}

/* Encodes with the default delimiter and checks the frame is `want` + "\f". */
static void expect_frame(const char *type, const json_t *data, bool legacy, const char *want)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    int err = nipc__msg_encode(&b, type, data, legacy, "\f", 1);
    cr_assert_eq(err, 0, "encode failed: %s", nipc_err_name(err));
    size_t wn = strlen(want);
    char *w = malloc(wn + 1);
    cr_assert_not_null(w);
    memcpy(w, want, wn);
    w[wn] = '\f';
    assert_bytes(b.data + b.off, nipc__buf_size(&b), w, wn + 1);
    free(w);
    nipc__buf_free(&b);
}

/* Same, taking ownership of `data`. */
static void expect_frame_new(const char *type, json_t *data, bool legacy, const char *want)
{
    cr_assert_not_null(data);
    expect_frame(type, data, legacy, want);
    json_decref(data);
}

/* The data value alone, as it appears after "data": in the frame. */
static void expect_data(const json_t *data, const char *want, size_t wn)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "t", data, false, "\f", 1), 0);
    static const char head[] = "{\"type\":\"t\",\"data\":";
    size_t hn = sizeof head - 1;
    cr_assert_geq(b.len, hn + 2);
    cr_assert_eq(memcmp(b.data, head, hn), 0);
    cr_assert_eq(b.data[b.len - 1], '\f');
    cr_assert_eq(b.data[b.len - 2], '}');
    assert_bytes(b.data + hn, b.len - hn - 2, want, wn);
    nipc__buf_free(&b);
}

/* ---- W1, W2: the frames captured from node-ipc (§11) ---------------------------------- */

Test(encode, w2_exact_56_bytes, .timeout = 10)
{
    static const char hex[] =
        "7b 22 74 79 70 65 22 3a 22 6d 65 73 73 61 67 65 22 2c 22 64 61 74 61 22 3a 7b 22 69 64 22"
        "3a 22 68 65 6c 6c 6f 22 2c 22 6d 65 73 73 61 67 65 22 3a 22 68 69 22 7d 7d 0c";
    char want[64];
    size_t wn = unhex(hex, want, sizeof want);
    cr_assert_eq(wn, 56);

    json_t *data = json_pack("{s:s, s:s}", "id", "hello", "message", "hi");
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "message", data, true, "\f", 1), 0);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), want, wn);
    nipc__buf_free(&b);
    json_decref(data);
}

Test(encode, w1_string_data_31_bytes, .timeout = 10)
{
    static const char hex[] =
        "7b 22 74 79 70 65 22 3a 22 6d 65 73 73 61 67 65 22 2c 22 64 61 74 61 22 3a 22 68 69 22"
        "7d 0c";
    char want[64];
    size_t wn = unhex(hex, want, sizeof want);
    cr_assert_eq(wn, 31);
    json_t *data = json_string("hi");
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "message", data, true, "\f", 1), 0);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), want, wn);
    nipc__buf_free(&b);
    json_decref(data);
}

Test(encode, w1_server_reply_95_bytes, .timeout = 10)
{
    json_t *data = json_pack("{s:s, s:s}", "id", "world", "message",
                             "got {\"id\":\"hello\",\"message\":\"hi\"}");
    const char *want = "{\"type\":\"message\",\"data\":{\"id\":\"world\",\"message\":\"got "
                       "{\\\"id\\\":\\\"hello\\\",\\\"message\\\":\\\"hi\\\"}\"}}";
    cr_assert_eq(strlen(want) + 1, 95);
    expect_frame_new("message", data, true, want);
}

Test(encode, w1_array_data, .timeout = 10)
{
    expect_frame_new("arr", json_pack("[i, s, {s:i}]", 1, "two", "three", 3), true,
                     "{\"type\":\"arr\",\"data\":[1,\"two\",{\"three\":3}]}");
}

/* ---- W3, W4: what data becomes -------------------------------------------------------- */

Test(encode, w3_no_data_is_empty_object, .timeout = 10)
{
    expect_frame("t", NULL, true, "{\"type\":\"t\",\"data\":{}}");
    expect_frame("t", NULL, false, "{\"type\":\"t\",\"data\":{}}");
    expect_frame("noData", NULL, true, "{\"type\":\"noData\",\"data\":{}}");
}

Test(encode, w3_false_and_zero_sent_as_is, .timeout = 10)
{
    for (int legacy = 0; legacy <= 1; legacy++) {
        expect_frame_new("falseData", json_false(), legacy,
                         "{\"type\":\"falseData\",\"data\":false}");
        expect_frame_new("zero", json_integer(0), legacy, "{\"type\":\"zero\",\"data\":0}");
        expect_frame_new("zero", json_real(0.0), legacy, "{\"type\":\"zero\",\"data\":0}");
        expect_frame_new("t", json_true(), legacy, "{\"type\":\"t\",\"data\":true}");
    }
}

Test(encode, w4_legacy_null_and_empty_string_become_empty_object, .timeout = 10)
{
    expect_frame_new("nullData", json_null(), true, "{\"type\":\"nullData\",\"data\":{}}");
    expect_frame_new("emptyStr", json_string(""), true, "{\"type\":\"emptyStr\",\"data\":{}}");
}

Test(encode, w4_non_legacy_keeps_null_and_empty_string, .timeout = 10)
{
    expect_frame_new("t", json_null(), false, "{\"type\":\"t\",\"data\":null}");
    expect_frame_new("t", json_string(""), false, "{\"type\":\"t\",\"data\":\"\"}");
}

Test(encode, w4_legacy_truthy_max_listeners_drops_object, .timeout = 10)
{
    expect_frame_new("maxl", json_pack("{s:i, s:i}", "a", 1, "_maxListeners", 10), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    expect_frame_new("maxl", json_pack("{s:s}", "_maxListeners", "x"), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    expect_frame_new("maxl", json_pack("{s:b}", "_maxListeners", 1), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    expect_frame_new("maxl", json_pack("{s:f}", "_maxListeners", 0.5), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    expect_frame_new("maxl", json_pack("{s:{}}", "_maxListeners"), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    expect_frame_new("maxl", json_pack("{s:[]}", "_maxListeners"), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    /* Seen after members that made the buffer grow: what they wrote goes too. */
    char *big = malloc(20000);
    cr_assert_not_null(big);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    expect_frame_new("maxl", json_pack("{s:s, s:i}", "a", big, "_maxListeners", 10), true,
                     "{\"type\":\"maxl\",\"data\":{}}");
    free(big);
    /* Only data's own member counts, not one deeper. */
    expect_frame_new("maxl", json_pack("{s:{s:i}}", "a", "_maxListeners", 10), true,
                     "{\"type\":\"maxl\",\"data\":{\"a\":{\"_maxListeners\":10}}}");
}

Test(encode, w4_falsy_max_listeners_keeps_object, .timeout = 10)
{
    expect_frame_new("t", json_pack("{s:i, s:i}", "_maxListeners", 0, "a", 1), true,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":0,\"a\":1}}");
    expect_frame_new("t", json_pack("{s:b}", "_maxListeners", 0), true,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":false}}");
    expect_frame_new("t", json_pack("{s:n}", "_maxListeners"), true,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":null}}");
    expect_frame_new("t", json_pack("{s:s}", "_maxListeners", ""), true,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":\"\"}}");
    expect_frame_new("t", json_pack("{s:f}", "_maxListeners", 0.0), true,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":0}}");
}

Test(encode, w4_max_listeners_only_checked_at_top_level, .timeout = 10)
{
    expect_frame_new("t", json_pack("{s:{s:i}}", "inner", "_maxListeners", 10), true,
                     "{\"type\":\"t\",\"data\":{\"inner\":{\"_maxListeners\":10}}}");
}

Test(encode, w4_non_legacy_keeps_max_listeners_object, .timeout = 10)
{
    expect_frame_new("t", json_pack("{s:i}", "_maxListeners", 10), false,
                     "{\"type\":\"t\",\"data\":{\"_maxListeners\":10}}");
}

/* ---- W5: string escaping -------------------------------------------------------------- */

Test(encode, w5_verified_escape_bytes, .timeout = 10)
{
    static const char hex[] = "22 68 c3 a9 6c 6c 6f 20 e2 82 ac f0 9f 98 80 5c 66 5c 6e 5c 22 22";
    char want[64];
    size_t wn = unhex(hex, want, sizeof want);
    json_t *s = json_string("h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80\f\n\"");
    cr_assert_not_null(s);
    expect_data(s, want, wn);
    json_decref(s);
}

Test(encode, w5_every_control_byte_escaped_like_js, .timeout = 10)
{
    /* JSON.stringify(String.fromCharCode(0, 1, ..., 31)), generated with Node 20. */
    static const char want[] =
        "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e"
        "\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a"
        "\\u001b\\u001c\\u001d\\u001e\\u001f\"";
    char all[32];
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
    json_t *s = json_stringn(all, sizeof all);
    cr_assert_not_null(s);
    expect_data(s, want, sizeof want - 1);
    json_decref(s);

    /* Each one alone, between other text. */
    for (int c = 0; c < 32; c++) {
        char in[3] = {'a', (char)c, 'b'};
        char w[16];
        const char *esc = NULL;
        switch (c) {
        case '\b':
            esc = "\\b";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            break;
        }
        int wn = esc ? snprintf(w, sizeof w, "\"a%sb\"", esc)
                     : snprintf(w, sizeof w, "\"a\\u%04xb\"", (unsigned)c);
        json_t *one = json_stringn(in, 3);
        cr_assert_not_null(one);
        expect_data(one, w, (size_t)wn);
        json_decref(one);
    }
}

/* JSON.stringify's escaping, one byte at a time: the reference for the block scanner. */
static size_t escape_slowly(const unsigned char *s, size_t n, char *out)
{
    size_t w = 0;
    out[w++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\t' ? "\\t"
                          : c == '\n' ? "\\n"
                          : c == '\f' ? "\\f"
                          : c == '\r' ? "\\r"
                                      : NULL;
        if (esc != NULL) {
            memcpy(out + w, esc, 2);
            w += 2;
        } else if (c < 0x20) {
            w += (size_t)sprintf(out + w, "\\u%04x", c);
        } else {
            out[w++] = (char)c;
        }
    }
    out[w++] = '"';
    return w;
}

/*
 * The encoder checks and copies strings in blocks: 64 bytes per step with AVX2 from 256
 * bytes on, then 64 and 16 with SSE2, then byte by byte. Every byte that needs escaping, and
 * raw UTF-8, at every offset of strings of every length around those boundaries: before,
 * across and after each block edge, alone and next to a second one.
 */
Test(encode, w5_escapes_at_every_offset_of_long_strings, .timeout = 60)
{
    static const unsigned char specials[] = {'"', '\\', '\n', '\f', 0x00, 0x01, 0x1f, 0x7f};
    static const size_t lengths[][2] = {{0, 140}, {250, 262}, {318, 322}, {510, 514}};
    unsigned char s[514];
    char want[sizeof s * 6 + 2];
    for (size_t r = 0; r < sizeof lengths / sizeof lengths[0]; r++) {
        for (size_t n = lengths[r][0]; n <= lengths[r][1]; n++) {
            for (size_t at = 0; at < n; at++) {
                for (size_t k = 0; k < sizeof specials; k++) {
                    memset(s, 'x', n);
                    s[at] = specials[k];
                    if (at + 17 < n)
                        s[at + 17] = '\\';
                    json_t *j = json_stringn((const char *)s, n);
                    cr_assert_not_null(j);
                    expect_data(j, want, escape_slowly(s, n, want));
                    json_decref(j);
                }
            }
        }
    }
    /* Multi-byte UTF-8 (é, U+20AC) straddling the boundaries goes out as it is. */
    for (size_t at = 0; at + 3 <= sizeof s; at++) {
        memset(s, 'y', sizeof s);
        memcpy(s + at, "\xe2\x82\xac", 3);
        json_t *j = json_stringn((const char *)s, sizeof s);
        cr_assert_not_null(j);
        expect_data(j, want, escape_slowly(s, sizeof s, want));
        json_decref(j);
    }
}

Test(encode, w5_quote_and_backslash_escaped_slash_not, .timeout = 10)
{
    static const char want[] = "\"a\\\"b\\\\c/d</script>\"";
    json_t *s = json_string("a\"b\\c/d</script>");
    expect_data(s, want, sizeof want - 1);
    json_decref(s);
}

Test(encode, w5_del_and_line_separators_raw, .timeout = 10)
{
    /* Node 20: Buffer.from(JSON.stringify("\x7f\u2028\u2029/")) = 22 7f e2 80 a8 e2 80 a9 2f 22 */
    char want[16];
    size_t wn = unhex("22 7f e2 80 a8 e2 80 a9 2f 22", want, sizeof want);
    json_t *s = json_string("\x7f\xe2\x80\xa8\xe2\x80\xa9/");
    cr_assert_not_null(s);
    expect_data(s, want, wn);
    json_decref(s);
}

Test(encode, w5_non_ascii_raw_utf8, .timeout = 10)
{
    /* Two-, three- and four-byte sequences, the highest code point included. */
    static const char text[] =
        "\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbd\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    char want[64];
    int wn = snprintf(want, sizeof want, "\"%s\"", text);
    json_t *s = json_string(text);
    cr_assert_not_null(s);
    expect_data(s, want, (size_t)wn);
    json_decref(s);
}

Test(encode, w5_control_chars_in_keys_escaped, .timeout = 10)
{
    json_t *o = json_object();
    json_object_set_new(o, "a\nb", json_integer(1));
    json_object_set_new(o, "q\"\\", json_integer(2));
    json_object_set_new(o, "\xe2\x82\xac\x1f", json_integer(3));
    static const char want[] = "{\"a\\nb\":1,\"q\\\"\\\\\":2,\"\xe2\x82\xac\\u001f\":3}";
    expect_data(o, want, sizeof want - 1);
    json_decref(o);
}

Test(encode, w5_type_escaped_like_data, .timeout = 10)
{
    expect_frame("a\"b\\c\n\x01\xc3\xa9", NULL, true,
                 "{\"type\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\",\"data\":{}}");
    expect_frame("", NULL, true, "{\"type\":\"\",\"data\":{}}");
    expect_frame("*", NULL, true, "{\"type\":\"*\",\"data\":{}}");
}

/* W5: a literal form feed never appears inside a frame, so the default delimiter is safe. */
Test(encode, w5_form_feed_only_at_the_end, .timeout = 10)
{
    static const char *const pieces[] = {"\f",  "\f\f",     "a\fb",       "\xe2\x82\xac\f",
                                         "\\f", "\x0c\x0d", "\x1f\f\x7f", "\"\f\""};
    uint32_t x = 42;
    for (int round = 0; round < 2000; round++) {
        char s[128];
        size_t n = 0;
        int parts = 1 + round % 6;
        for (int p = 0; p < parts; p++) {
            x = x * 1664525u + 1013904223u;
            const char *piece = pieces[(x >> 16) % (sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(piece);
            memcpy(s + n, piece, pl);
            n += pl;
        }
        s[n] = '\0';
        /* As the string, as a key, and inside an array. */
        json_t *data = json_pack("{s:s%, s:[s%], s%:i}", "v", s, n, "a", s, n, s, n, 1);
        cr_assert_not_null(data);
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_assert_eq(nipc__msg_encode(&b, s, data, true, "\f", 1), 0);
        cr_assert_eq(b.data[b.len - 1], '\f');
        cr_assert_null(memchr(b.data, '\f', b.len - 1), "raw form feed inside: %s",
                       hexdump(b.data, b.len));
        nipc__buf_free(&b);
        json_decref(data);
    }
}

/* ---- W1: structure -------------------------------------------------------------------- */

Test(encode, w1_key_order_is_insertion_order, .timeout = 10)
{
    json_t *o = json_object();
    json_object_set_new(o, "zeta", json_integer(1));
    json_object_set_new(o, "alpha", json_integer(2));
    json_object_set_new(o, "mid", json_integer(3));
    json_object_set_new(o, "b", json_integer(4));
    json_object_set_new(o, "alpha", json_integer(5)); /* replacing keeps the slot, as in JS */
    static const char want[] = "{\"zeta\":1,\"alpha\":5,\"mid\":3,\"b\":4}";
    expect_data(o, want, sizeof want - 1);
    json_decref(o);
}

Test(encode, w1_empty_containers_and_nesting, .timeout = 10)
{
    json_t *v = json_pack("{s:{}, s:[], s:[[], {}, [[i]], {s:{s:[n, b, b]}}]}", "o", "a", "n", 1,
                          "x", "y", 1, 0);
    cr_assert_not_null(v);
    static const char want[] = "{\"o\":{},\"a\":[],\"n\":[[],{},[[1]],{\"x\":{\"y\":[null,true,"
                               "false]}}]}";
    expect_data(v, want, sizeof want - 1);
    json_decref(v);
}

Test(encode, w1_deep_nesting_exact, .timeout = 10)
{
    enum { DEPTH = 200 };
    json_t *v = json_integer(7);
    for (int i = 0; i < DEPTH; i++) {
        json_t *outer = (i % 2) ? json_object() : json_array();
        if (json_is_object(outer))
            json_object_set_new(outer, "k", v);
        else
            json_array_append_new(outer, v);
        v = outer;
    }
    /* Built from the inside out, so the outermost (i = DEPTH - 1) is an object. */
    char *want = malloc(DEPTH * 5 + 2);
    size_t n = 0;
    for (int i = DEPTH - 1; i >= 0; i--) {
        if (i % 2) {
            memcpy(want + n, "{\"k\":", 5);
            n += 5;
        } else {
            want[n++] = '[';
        }
    }
    want[n++] = '7';
    for (int i = 0; i < DEPTH; i++)
        want[n++] = (i % 2) ? '}' : ']';
    expect_data(v, want, n);
    free(want);
    json_decref(v);
}

Test(encode, w1_too_deep_refused_buffer_unchanged, .timeout = 10)
{
    json_t *v = json_array();
    for (int i = 0; i < 5000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "before", 6), 0);
    int err = nipc__msg_encode(&b, "t", v, true, "\f", 1);
    cr_assert_eq(err, UV_EINVAL, "got %s", nipc_err_name(err));
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "before", 6);
    nipc__buf_free(&b);
    json_decref(v);
}

Test(encode, w7_appends_after_what_is_queued, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "a", NULL, true, "\f", 1), 0);
    json_t *one = json_integer(1);
    cr_assert_eq(nipc__msg_encode(&b, "b", one, true, "\f", 1), 0);
    json_decref(one);
    static const char want[] = "{\"type\":\"a\",\"data\":{}}\f{\"type\":\"b\",\"data\":1}\f";
    assert_bytes(b.data + b.off, nipc__buf_size(&b), want, sizeof want - 1);
    nipc__buf_free(&b);
}

/* ---- W15: delimiters ------------------------------------------------------------------ */

Test(encode, w15_custom_delimiters_appended, .timeout = 10)
{
    static const char *const delims[] = {"\r\n", "XYZ", "|", "\n", "\xe2\x82\xac", "\x01\x02"};
    for (size_t i = 0; i < sizeof delims / sizeof delims[0]; i++) {
        const char *d = delims[i];
        size_t dl = strlen(d);
        json_t *data = json_pack("{s:s}", "m", "hi");
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_assert_eq(nipc__msg_encode(&b, "t", data, true, d, dl), 0, "delimiter %s",
                     hexdump(d, dl));
        char want[128];
        int wn = snprintf(want, sizeof want, "{\"type\":\"t\",\"data\":{\"m\":\"hi\"}}%s", d);
        assert_bytes(b.data + b.off, nipc__buf_size(&b), want, (size_t)wn);
        nipc__buf_free(&b);
        json_decref(data);
    }
}

Test(encode, w15_text_holding_the_delimiter_refused, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "keep", 4), 0);
    json_t *data = json_string("aXYZb");
    cr_assert_eq(nipc__msg_encode(&b, "t", data, true, "XYZ", 3), NIPC_EDELIM);
    cr_assert_eq(nipc__msg_encode(&b, "tXYZ", NULL, true, "XYZ", 3), NIPC_EDELIM);
    /* The envelope's own text counts too: "t" holds t". */
    cr_assert_eq(nipc__msg_encode(&b, "t", data, true, "t\"", 2), NIPC_EDELIM);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "keep", 4);
    /* The same text is fine when escaping hides it: controls never appear raw. */
    json_t *ff = json_string("a\fb\r\n");
    cr_assert_eq(nipc__msg_encode(&b, "t", ff, true, "\f", 1), 0);
    cr_assert_eq(nipc__msg_encode(&b, "t", ff, true, "\r\n", 2), 0);
    nipc__buf_free(&b);
    json_decref(data);
    json_decref(ff);
}

/*
 * Whatever the encoder accepts, the receiver's scanner must cut back at exactly the end of
 * the frame text: an accepted frame whose text + delimiter holds an earlier delimiter would
 * be split in two at the receiver. With "}}" and data 1 the wire would read
 * {"type":"t","data":1}}} and the receiver would cut after "...:1".
 */
Test(encode, w15_accepted_frame_splits_back_exactly, .timeout = 10)
{
    static const char *const delims[] = {"\f",  "\r\n", "XYZ", "aab", "}}", "1}1}",
                                         "\"}", "}",    "a}",  "}{",  ":1}"};
    json_t *datas[] = {NULL,
                       json_integer(1),
                       json_string("aXYZb"),
                       json_string("xaa"),
                       json_pack("{s:i}", "a", 1),
                       json_pack("[i]", 1),
                       json_string("}"),
                       json_string("a"),
                       json_true()};
    for (size_t i = 0; i < sizeof delims / sizeof delims[0]; i++) {
        const char *d = delims[i];
        size_t dl = strlen(d);
        for (size_t j = 0; j < sizeof datas / sizeof datas[0]; j++) {
            nipc_buf_t b;
            nipc__buf_init(&b);
            int err = nipc__msg_encode(&b, "t", datas[j], false, d, dl);
            if (err == NIPC_EDELIM) {
                cr_assert_eq(b.len, 0);
                nipc__buf_free(&b);
                continue;
            }
            cr_assert_eq(err, 0, "%s", nipc_err_name(err));
            nipc_frame_t f;
            size_t flen = 0;
            nipc__frame_init(&f, d, dl);
            cr_assert(nipc__frame_next(&f, b.data, b.len, &flen));
            cr_assert_eq(flen, b.len - dl,
                         "delimiter \"%s\": receiver cuts the frame %.*s at %zu, not %zu", d,
                         (int)b.len, b.data, flen, b.len - dl);
            nipc__buf_free(&b);
        }
    }
    for (size_t j = 0; j < sizeof datas / sizeof datas[0]; j++)
        json_decref(datas[j]);
}

/* ---- W13: names that crash legacy receivers ------------------------------------------- */

Test(encode, w13_object_prototype_names_refused_buffer_unchanged, .timeout = 10)
{
    /* Object.getOwnPropertyNames(Object.prototype) in Node 20. */
    static const char *const names[] = {
        "constructor",      "__defineGetter__", "__defineSetter__", "hasOwnProperty",
        "__lookupGetter__", "__lookupSetter__", "isPrototypeOf",    "propertyIsEnumerable",
        "toString",         "valueOf",          "__proto__",        "toLocaleString"};
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "queued", 6), 0);
    json_t *data = json_pack("{s:i}", "a", 1);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int err = nipc__msg_encode(&b, names[i], data, true, "\f", 1);
        cr_assert_eq(err, UV_EINVAL, "type %s: %s", names[i], nipc_err_name(err));
        assert_bytes(b.data + b.off, nipc__buf_size(&b), "queued", 6);
    }
    json_decref(data);
    nipc__buf_free(&b);
}

Test(encode, w13_similar_names_still_allowed, .timeout = 10)
{
    static const char *const names[] = {"Constructor", "constructor ", "toString2", "proto",
                                        "__proto",     "valueof",      "connect",   "error"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char want[96];
        snprintf(want, sizeof want, "{\"type\":\"%s\",\"data\":{}}", names[i]);
        expect_frame(names[i], NULL, true, want);
    }
}

Test(encode, w13_null_type_refused, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "x", 1), 0);
    cr_assert_eq(nipc__msg_encode(&b, NULL, NULL, true, "\f", 1), UV_EINVAL);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "x", 1);
    nipc__buf_free(&b);
}

Test(encode, w13_invalid_utf8_type_refused, .timeout = 10)
{
    static const char *const bad[] = {
        "\xff",
        "a\x80",
        "\xc3", /* truncated */
        "\xe2\x82",
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ok\xf0\x9f\x98",   /* truncated emoji */
    };
    nipc_buf_t b;
    nipc__buf_init(&b);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(nipc__msg_encode(&b, bad[i], NULL, true, "\f", 1), UV_EINVAL, "type %s",
                     hexdump(bad[i], strlen(bad[i])));
        cr_assert_eq(b.len, 0);
    }
    nipc__buf_free(&b);
}

/* ---- nothing a nipc receiver would refuse is sent ------------------------------------- */

/* Encodes `data` after some queued bytes and expects UV_EINVAL with those bytes untouched. */
static void expect_refused(const json_t *data, const char *what)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "queued", 6), 0);
    int err = nipc__msg_encode(&b, "t", data, false, "\f", 1);
    cr_assert_eq(err, UV_EINVAL, "%s: got %s", what, nipc_err_name(err));
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "queued", 6);
    nipc__buf_free(&b);
}

/*
 * jansson keys may hold NUL (json_object_setn), and JSON.stringify({"a\0b": 1}) gives
 * {"a\u0000b":1}, but jansson's parser refuses such a key, so no nipc receiver could read
 * the frame: it is refused, wherever the key is. A NUL in a string value is read back and
 * goes out as \u0000.
 */
Test(encode, key_holding_nul_refused_buffer_unchanged, .timeout = 10)
{
    static const struct {
        const char *key;
        size_t len;
    } keys[] = {{"a\0b", 3}, {"\0", 1}, {"ab\0", 3}, {"\0\0", 2}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *o = json_object();
        cr_assert_eq(json_object_setn_new(o, keys[i].key, keys[i].len, json_integer(1)), 0);
        expect_refused(o, "a key at the top");
        json_t *nested = json_pack("{s:i, s:[i, {s:o}]}", "first", 1, "list", 2, "in", o);
        cr_assert_not_null(nested);
        expect_refused(nested, "a key deep in the data");
        json_decref(nested);
    }
    json_t *v = json_pack("{s:s%}", "k", "a\0b", (size_t)3);
    static const char want[] = "{\"k\":\"a\\u0000b\"}";
    expect_data(v, want, sizeof want - 1);
    json_decref(v);
}

/*
 * jansson lets a caller build strings and keys that are not UTF-8 (json_stringn_nocheck,
 * json_object_setn_nocheck); no receiver reads them back, so they are refused. The bad bytes
 * sit at every offset of the block scans, alone or after valid non-ASCII text (which starts
 * the check of the rest of the string) and with text after them.
 */
Test(encode, invalid_utf8_in_strings_and_keys_refused, .timeout = 30)
{
    static const char *const bad[] = {
        "\x80",
        "\xff",
        "\xc3",
        "\xc3\x28",
        "\xc0\xaf",
        "\xe2\x82",
        "\xe0\x80\xaf",
        "\xed\xa0\x80",
        "\xed\xbf\xbf",
        "\xf0\x9f\x98",
        "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80",
    };
    char s[400];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t bl = strlen(bad[i]);
        for (size_t at = 0; at <= 300; at++) {
            for (int variant = 0; variant < 3; variant++) {
                memset(s, 'x', sizeof s);
                if (variant == 1 && at >= 2)
                    memcpy(s, "\xc3\xa9", 2); /* é first */
                if (variant == 2 && at >= 4)
                    memcpy(s + at - 4, "\xf0\x9f\x98\x80", 4); /* an emoji just before */
                memcpy(s + at, bad[i], bl);
                size_t n = at + bl + (variant == 0 ? 0 : 40);
                json_t *str = json_stringn_nocheck(s, n);
                cr_assert_not_null(str);
                expect_refused(str, hexdump(bad[i], bl));
                json_t *o = json_object();
                cr_assert_eq(json_object_setn_new_nocheck(o, s, n, json_true()), 0);
                expect_refused(o, hexdump(bad[i], bl));
                json_t *arr = json_pack("[i, {s:o}]", 1, "v", str); /* steals str */
                expect_refused(arr, hexdump(bad[i], bl));
                json_decref(arr);
                json_decref(o);
            }
        }
    }
}

/*
 * The other side of the check: valid UTF-8 of every length, then escapes and more text, at
 * every offset, goes out byte for byte, after the scan switched to letting non-ASCII through.
 */
Test(encode, valid_utf8_at_every_offset_sent_as_is, .timeout = 30)
{
    static const char *const good[] = {"\xc3\xa9",     "\xe2\x82\xac",     "\xf0\x9f\x98\x80",
                                       "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\x7f"};
    unsigned char s[400];
    char want[sizeof s * 6 + 2];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t gl = strlen(good[i]);
        for (size_t at = 0; at <= 300; at++) {
            memset(s, 'y', sizeof s);
            memcpy(s + at, good[i], gl);
            s[at + gl + 3] = '\n';
            memcpy(s + at + gl + 20, "\xe4\xb8\xad\"", 4);
            size_t n = at + gl + 90;
            json_t *j = json_stringn((const char *)s, n);
            cr_assert_not_null(j);
            expect_data(j, want, escape_slowly(s, n, want));
            json_decref(j);
        }
    }
}

/* Whether the encoder sends s[0, n) as a string, and whether jansson calls it UTF-8. */
static void expect_utf8_agrees(json_t *str, nipc_buf_t *b, const char *s, size_t n)
{
    cr_assert_eq(json_string_setn_nocheck(str, s, n), 0);
    nipc__buf_reset(b);
    int err = nipc__json_write(b, str);
    json_t *checked = json_stringn(s, n);
    json_decref(checked);
    if ((err == 0) != (checked != NULL))
        cr_assert_fail("%s, jansson %s: %s", err ? nipc_err_name(err) : "sent",
                       checked ? "accepts" : "refuses", hexdump(s, n));
}

/*
 * The encoder's UTF-8 check (32 bytes a step with AVX2, then byte by byte) accepts exactly
 * what jansson accepts. A string starts with é, so the check runs from its first byte; then
 * every pair of bytes, and every lead byte from E0 with every second byte and chosen third
 * and fourth ones, sits at each offset around the 32-byte steps and where the last step cuts
 * the text (100 bytes: steps up to 96; 40 bytes: one step), and in text too short for a step
 * (24 bytes).
 */
Test(encode, utf8_check_agrees_with_jansson, .timeout = 60)
{
    static const struct {
        size_t len, at;
    } places[] = {{100, 2},  {100, 31}, {100, 32}, {100, 33}, {100, 63}, {100, 92},
                  {100, 93}, {100, 94}, {100, 95}, {100, 96}, {40, 29},  {40, 30},
                  {40, 31},  {40, 32},  {40, 36},  {24, 2},   {24, 13},  {24, 20}};
    static const unsigned char tails[] = {0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0};
    char s[100];
    json_t *str = json_string("");
    nipc_buf_t b;
    nipc__buf_init(&b);
    for (size_t o = 0; o < sizeof places / sizeof places[0]; o++) {
        size_t at = places[o].at, len = places[o].len;
        for (unsigned b0 = 0x80; b0 < 0x100; b0++) {
            for (unsigned b1 = 0; b1 < 0x100; b1++) {
                memset(s, 'a', len);
                memcpy(s, "\xc3\xa9", 2);
                s[at] = (char)b0;
                s[at + 1] = (char)b1;
                expect_utf8_agrees(str, &b, s, len);
                if (b0 < 0xe0 || (b1 & 0xc0) != 0x80)
                    continue;
                for (size_t t2 = 0; t2 < sizeof tails; t2++) {
                    s[at + 2] = (char)tails[t2];
                    expect_utf8_agrees(str, &b, s, len);
                    if (b0 < 0xf0 || at + 3 >= len)
                        continue;
                    for (size_t t3 = 0; t3 < sizeof tails; t3++) {
                        s[at + 3] = (char)tails[t3];
                        expect_utf8_agrees(str, &b, s, len);
                    }
                    s[at + 3] = 'a';
                }
            }
        }
    }
    nipc__buf_free(&b);
    json_decref(str);
}

/* And random text, mostly UTF-8, of every length from empty to past several steps. */
Test(encode, utf8_check_agrees_with_jansson_on_random_text, .timeout = 60)
{
    static const unsigned char bytes[] = {'a',  '"',  0x00, 0x7f, 0x80, 0x8f, 0x90,
                                          0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0,
                                          0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    uint64_t x = 88172645463325252ULL;
    char s[300];
    json_t *str = json_string("");
    nipc_buf_t b;
    nipc__buf_init(&b);
    for (int round = 0; round < 100000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t n = (size_t)(x % sizeof s);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* Mostly whole characters, so that errors are rare enough to sit anywhere. */
            unsigned k = (unsigned)(x >> 40) % 64;
            if (k < 40) {
                s[i] = (char)('a' + k % 26);
            } else if (k < 60 && i + 3 < n) {
                static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                                    "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
                const char *c = chars[k % 5];
                memcpy(s + i, c, strlen(c));
                i += strlen(c) - 1;
            } else {
                s[i] = (char)bytes[(x >> 20) % sizeof bytes];
            }
        }
        expect_utf8_agrees(str, &b, s, n);
    }
    nipc__buf_free(&b);
    json_decref(str);
}

/* Nested `levels` deep, data itself the first: arrays around an integer. */
static json_t *nested(int levels)
{
    json_t *v = json_integer(1);
    for (int i = 1; i < levels; i++) {
        json_t *outer = json_array();
        cr_assert_eq(json_array_append_new(outer, v), 0);
        v = outer;
    }
    return v;
}

/*
 * jansson's parser takes 2048 levels, the envelope the first, so a frame's data may nest
 * 2047 deep and no more; a value written alone, 2048.
 */
Test(encode, data_nested_past_the_parser_limit_refused, .timeout = 10)
{
    json_t *ok = nested(2047), *deep = nested(2048), *deeper = nested(2049);
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__msg_encode(&b, "t", ok, false, "\f", 1), 0);
    nipc_msg_t m;
    nipc__msg_decode(&m, b.data, b.len - 1, false);
    cr_assert_eq(m.err, 0, "the deepest frame sent is read back: %s", nipc_err_name(m.err));
    cr_assert(json_equal(m.data, ok));
    nipc__msg_clear(&m);
    expect_refused(deep, "2048 levels of data");

    nipc__buf_reset(&b);
    cr_assert_eq(nipc__json_write(&b, deep), 0);
    json_error_t e;
    json_t *back = json_loadb(b.data, b.len, 0, &e);
    cr_assert_not_null(back, "2048 levels alone are read back: %s", e.text);
    json_decref(back);
    nipc__buf_reset(&b);
    cr_assert_eq(nipc__json_write(&b, deeper), UV_EINVAL);
    cr_assert_eq(b.len, 0);
    nipc__buf_free(&b);
    json_decref(ok);
    json_decref(deep);
    json_decref(deeper);
}

/* ---- failures keep the buffer as it was ----------------------------------------------- */

Test(encode, out_of_memory_leaves_buffer_unchanged, .timeout = 10)
{
    json_t *data = json_object();
    char key[16];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(data, key, json_string("some text to make the frame long"));
    }
    for (unsigned long n = 1;; n++) {
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_assert_eq(nipc__buf_append(&b, "queued", 6), 0);
        nipc__test_fail_alloc_after(n);
        int err = nipc__msg_encode(&b, "t", data, true, "\f", 1);
        nipc__test_fail_alloc_after(0);
        if (err == 0) {
            cr_assert_gt(n, 1, "the frame needs the buffer to grow");
            nipc__buf_free(&b);
            break;
        }
        cr_assert_eq(err, UV_ENOMEM, "allocation %lu: %s", n, nipc_err_name(err));
        assert_bytes(b.data + b.off, nipc__buf_size(&b), "queued", 6);
        nipc__buf_free(&b);
        cr_assert_lt(n, 100);
    }
    json_decref(data);
}

/*
 * nipc_buf_t has a consumed prefix [0, off). Appending may compact it away (reserve moves the
 * live bytes to the front), so an encoder that remembers `len` as its rollback mark restores
 * the wrong length, and its delimiter check looks at the wrong bytes. The contract says the
 * buffer is left as it was on error.
 */
static void consumed_prefix(nipc_buf_t *b)
{
    char fill[250];
    memset(fill, 'P', sizeof fill);
    memcpy(fill + 240, "0123456789", 10);
    nipc__buf_init(b);
    cr_assert_eq(nipc__buf_append(b, fill, sizeof fill), 0);
    cr_assert_eq(b->cap, 256, "test assumes the first allocation is 256 bytes");
    b->off = 240; /* 240 bytes already written out: 10 live bytes, 6 free at the end */
}

Test(encode, error_after_compaction_leaves_live_bytes_unchanged, .timeout = 10)
{
    json_t *v = json_array();
    for (int i = 0; i < 5000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    nipc_buf_t b;
    consumed_prefix(&b);
    cr_assert_eq(nipc__msg_encode(&b, "t", v, true, "\f", 1), UV_EINVAL);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "0123456789", 10);
    nipc__buf_free(&b);
    json_decref(v);
}

Test(encode, delimiter_check_after_compaction, .timeout = 10)
{
    json_t *data = json_string("aXYZb");
    nipc_buf_t b;
    consumed_prefix(&b);
    int err = nipc__msg_encode(&b, "t", data, true, "XYZ", 3);
    cr_assert_eq(err, NIPC_EDELIM, "got %s", nipc_err_name(err));
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "0123456789", 10);
    nipc__buf_free(&b);
    json_decref(data);
}

Test(encode, success_after_compaction_appends_one_frame, .timeout = 10)
{
    nipc_buf_t b;
    consumed_prefix(&b);
    cr_assert_eq(nipc__msg_encode(&b, "t", NULL, true, "XYZ", 3), 0);
    static const char want[] = "0123456789{\"type\":\"t\",\"data\":{}}XYZ";
    assert_bytes(b.data + b.off, nipc__buf_size(&b), want, sizeof want - 1);
    nipc__buf_free(&b);
}

Test(encode, json_write_error_after_compaction_leaves_live_bytes_unchanged, .timeout = 10)
{
    json_t *v = json_array();
    for (int i = 0; i < 5000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    nipc_buf_t b;
    consumed_prefix(&b);
    cr_assert_eq(nipc__json_write(&b, v), UV_EINVAL);
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "0123456789", 10);
    nipc__buf_free(&b);
    json_decref(v);
}

/* ---- the decoder reads back what the encoder writes ----------------------------------- */

Test(encode, round_trip_through_decode, .timeout = 10)
{
    json_t *datas[] = {
        json_pack("{s:s, s:[i, f, n, b]}", "s", "h\xc3\xa9\f\n\"\\", "a", -5, 2.5, 1),
        json_string("\xe2\x80\xa8"),
        json_integer(-9007199254740991LL),
        json_real(0.1),
        json_false(),
        json_stringn("a\0b", 3)};
    for (size_t i = 0; i < sizeof datas / sizeof datas[0]; i++) {
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_assert_eq(nipc__msg_encode(&b, "t\xc3\xa9", datas[i], false, "\f", 1), 0);
        nipc_msg_t m;
        nipc__msg_decode(&m, b.data, b.len - 1, false);
        cr_assert_eq(m.err, 0);
        cr_assert_str_eq(m.type, "t\xc3\xa9");
        cr_assert(json_equal(m.data, datas[i]), "data %zu differs after a round trip", i);
        nipc__msg_clear(&m);
        nipc__buf_free(&b);
        json_decref(datas[i]);
    }
}

/* ---- a `_new` emit's large strings, queued by reference --------------------------------- */

/* A string of n bytes: `fill` repeated, then `tail` (NULL: none) at its end. */
static json_t *long_string(size_t n, char fill, const char *tail)
{
    char *s = malloc(n);
    cr_assert_not_null(s);
    memset(s, fill, n);
    if (tail != NULL)
        memcpy(s + n - strlen(tail), tail, strlen(tail));
    json_t *v = json_stringn(s, n);
    free(s);
    cr_assert_not_null(v, "not UTF-8");
    return v;
}

static size_t span_count(const nipc_buf_t *b)
{
    return b->spans != NULL ? b->spans->n - b->spans->head : 0;
}

/* Both encoders give the same bytes (spans copied in their place), with `spans` of them. */
static void expect_by_reference(const json_t *data, const char *delim, size_t spans)
{
    nipc_buf_t copy, ref, flat;
    nipc__buf_init(&copy);
    nipc__buf_init(&ref);
    nipc__buf_init(&flat);
    size_t dl = strlen(delim);
    cr_assert_eq(nipc__msg_encode(&copy, "big", data, true, delim, dl), 0);
    cr_assert_eq(nipc__msg_encode_new(&ref, "big", data, true, delim, dl), 0);
    cr_assert_eq(span_count(&ref), spans);
    cr_assert_eq(nipc__buf_queued(&ref), nipc__buf_size(&copy));
    cr_assert_eq(nipc__buf_append_queue(&flat, &ref, false), 0);
    cr_assert_eq(nipc__buf_size(&flat), nipc__buf_size(&copy));
    cr_assert(memcmp(flat.data, copy.data, copy.len) == 0, "the bytes differ");
    nipc__buf_free(&copy);
    nipc__buf_free(&ref);
    nipc__buf_free(&flat);
}

Test(encode, a_handed_over_large_string_is_referred_to_and_writes_the_same_bytes, .timeout = 30)
{
    json_t *big = long_string(NIPC__SPAN_MIN, 'x', NULL);
    json_t *utf8 = long_string(NIPC__SPAN_MIN + 5, 'y', "\xc3\xa9\xe2\x82\xac");
    json_t *one_less = long_string(NIPC__SPAN_MIN - 1, 'z', NULL);
    json_t *quote = long_string(NIPC__SPAN_MIN * 2, 'q', "\"");
    json_t *ctl = long_string(NIPC__SPAN_MIN * 2, 'c', "\n");
    json_t *nul = long_string(NIPC__SPAN_MIN, 'n', NULL);
    ((char *)json_string_value(nul))[7] = '\0'; /* json_stringn keeps it: escaped, \u0000 */

    expect_by_reference(big, "\f", 1);
    expect_by_reference(utf8, "\f", 1);
    expect_by_reference(one_less, "\f", 0);
    expect_by_reference(quote, "\f", 0);
    expect_by_reference(ctl, "\f", 0);
    expect_by_reference(nul, "\f", 0);
    json_t *d = json_pack("{s:O, s:i, s:[O,s,O,O], s:{s:O}, s:O}", "a", big, "i", 7, "arr", utf8,
                          "x", quote, big, "o", "deep", one_less, "last", utf8);
    expect_by_reference(d, "\f", 4);
    expect_by_reference(d, "\r\n", 4);
    /* A delimiter that a string could hold: every string is copied, and looked through. */
    expect_by_reference(d, "##", 0);
    /* A key is always copied, whatever its length. */
    json_t *k = json_object();
    json_object_setn_new(k, json_string_value(big), json_string_length(big), json_integer(1));
    expect_by_reference(k, "\f", 0);
    cr_assert_eq(big->refcount, 3, "a reference outlived its buffer");
    json_decref(k);
    json_decref(d);
    cr_assert_eq(big->refcount, 1);
    json_decref(big);
    json_decref(utf8);
    json_decref(one_less);
    json_decref(quote);
    json_decref(ctl);
    json_decref(nul);
}

Test(encode, a_refused_frame_releases_the_strings_it_referred_to, .timeout = 10)
{
    json_t *big = long_string(NIPC__SPAN_MIN, 'x', NULL);
    json_t *d = json_pack("{s:O, s:o}", "a", big, "bad", json_stringn_nocheck("\xff", 1));
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "keep", 4), 0);
    cr_assert_eq(nipc__msg_encode_new(&b, "t", d, true, "\f", 1), UV_EINVAL);
    cr_assert_eq(nipc__buf_queued(&b), 4);
    cr_assert_eq(span_count(&b), 0);
    cr_assert_eq(big->refcount, 2); /* big's own and d's */
    assert_bytes(b.data + b.off, nipc__buf_size(&b), "keep", 4);
    /* Out of memory for the span list (a buffer's first, past its bytes): refused, nothing
     * kept. */
    nipc__buf_free(&b);
    cr_assert_eq(nipc__buf_append(&b, "keep", 4), 0);
    json_decref(d);
    d = json_pack("{s:O}", "a", big);
    nipc__test_fail_alloc_after(1);
    int err = nipc__msg_encode_new(&b, "t", d, true, "\f", 1);
    nipc__test_fail_alloc_after(0);
    cr_assert_eq(err, UV_ENOMEM, "got %s", nipc_err_name(err));
    cr_assert_eq(nipc__buf_queued(&b), 4);
    cr_assert_eq(big->refcount, 2);
    nipc__buf_free(&b);
    json_decref(d);
    json_decref(big);
}
