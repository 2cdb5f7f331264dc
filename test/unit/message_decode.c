/* SPDX-License-Identifier: MIT */
/* nipc__msg_decode: any frame gives a message or node-ipc's error payload (W11-W14). */
#include "core/core.h"
#include "internal.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void decode(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved)
{
    memset(m, 0xa5, sizeof *m); /* decode must not rely on the caller clearing it */
    nipc__msg_decode(m, p, n, allow_reserved);
}

/* Decodes a C string and expects a message of `type` with data equal to `data_json`. */
static void expect_message(const char *frame, const char *type, const char *data_json)
{
    nipc_msg_t m;
    decode(&m, frame, strlen(frame), false);
    cr_assert_eq(m.err, 0, "%s: %s", frame, nipc_err_name(m.err));
    cr_assert_not_null(m.decoded);
    cr_assert_str_eq(m.type, type);
    if (data_json == NULL) {
        cr_assert_null(m.data, "%s: data should be absent", frame);
    } else {
        json_t *want = json_loads(data_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert_not_null(want, "bad test JSON %s", data_json);
        cr_assert_not_null(m.data, "%s: data missing", frame);
        cr_assert(json_equal(m.data, want), "%s: data differs", frame);
        json_decref(want);
    }
    nipc__msg_clear(&m);
    cr_assert_null(m.decoded);
    cr_assert_null(m.type);
}

static bool valid_utf8(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n); /* jansson refuses invalid UTF-8 */
    json_decref(j);
    return j != NULL;
}

/*
 * Checks the error payload {message, err, response} and nothing else. `response` NULL means
 * the payload's response is JSON null; otherwise it must equal those bytes.
 */
static void expect_error_n(const char *p, size_t n, int code, const char *message,
                           const char *response, size_t rn)
{
    nipc_msg_t m;
    decode(&m, p, n, false);
    cr_assert_eq(m.err, code, "%.*s: got %s, want %s", (int)n, p, nipc_err_name(m.err),
                 nipc_err_name(code));
    cr_assert_null(m.type);
    cr_assert_null(m.data);
    cr_assert(json_is_object(m.decoded), "%.*s: no error payload", (int)n, p);
    cr_assert_eq(json_object_size(m.decoded), 3);
    json_t *msg = json_object_get(m.decoded, "message");
    cr_assert(json_is_string(msg));
    if (message != NULL)
        cr_assert_str_eq(json_string_value(msg), message);
    json_t *err = json_object_get(m.decoded, "err");
    cr_assert(json_is_string(err), "err must describe the failure");
    cr_assert_gt(json_string_length(err), 0);
    json_t *resp = json_object_get(m.decoded, "response");
    cr_assert_not_null(resp, "response key missing");
    if (response == NULL) {
        cr_assert(json_is_null(resp), "response should be null");
    } else {
        cr_assert(json_is_string(resp), "response should be the frame text");
        cr_assert_eq(json_string_length(resp), rn, "response has %zu bytes, want %zu",
                     json_string_length(resp), rn);
        cr_assert_eq(memcmp(json_string_value(resp), response, rn), 0, "response %s",
                     json_string_value(resp));
    }
    nipc__msg_clear(&m);
}

static void expect_error(const char *frame, int code, const char *message)
{
    expect_error_n(frame, strlen(frame), code, message, frame, strlen(frame));
}

/* ---- W12: valid frames ---------------------------------------------------------------- */

Test(decode, w12_valid_frame_gives_type_and_data, .timeout = 10)
{
    expect_message("{\"type\":\"message\",\"data\":{\"id\":\"hello\",\"message\":\"hi\"}}",
                   "message", "{\"id\":\"hello\",\"message\":\"hi\"}");
    expect_message("{\"type\":\"t\",\"data\":\"hi\"}", "t", "\"hi\"");
    expect_message("{\"type\":\"t\",\"data\":[1,\"two\",{\"three\":3}]}", "t",
                   "[1,\"two\",{\"three\":3}]");
    expect_message("{\"type\":\"t\",\"data\":false}", "t", "false");
    expect_message("{\"type\":\"t\",\"data\":0}", "t", "0");
    expect_message("{\"type\":\"h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80\",\"data\":1}",
                   "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80", "1");
    expect_message("{\"type\":\"\\u0068\\u00e9\",\"data\":1}", "h\xc3\xa9", "1");
    expect_message("{\"type\":\"\",\"data\":1}", "", "1");
}

Test(decode, w12_null_data_is_json_null_not_absent, .timeout = 10)
{
    nipc_msg_t m;
    const char *f = "{\"type\":\"t\",\"data\":null}";
    decode(&m, f, strlen(f), false);
    cr_assert_eq(m.err, 0);
    cr_assert(json_is_null(m.data));
    nipc__msg_clear(&m);
}

Test(decode, w12_frame_without_data_gives_null_data, .timeout = 10)
{
    expect_message("{\"type\":\"t\"}", "t", NULL);
    expect_message("{\"type\":\"t\",\"Data\":1}", "t", NULL);
}

Test(decode, w12_extra_keys_ignored, .timeout = 10)
{
    expect_message("{\"type\":\"t\",\"data\":1,\"extra\":{\"a\":[1]},\"id\":\"x\"}", "t", "1");
    expect_message("{\"x\":null,\"type\":\"t\"}", "t", NULL);
}

Test(decode, w12_key_order_and_whitespace_irrelevant, .timeout = 10)
{
    expect_message("{\"data\":1,\"type\":\"t\"}", "t", "1");
    expect_message(" {\"type\" : \"t\"} ", "t", NULL);
    expect_message("\t\r\n{ \"data\" :\n[ 1 , 2 ] ,\r\n\"type\":\"t\" }\n", "t", "[1,2]");
}

Test(decode, w12_duplicate_key_last_wins_like_json_parse, .timeout = 10)
{
    expect_message("{\"type\":\"a\",\"type\":\"b\",\"data\":1,\"data\":2}", "b", "2");
}

Test(decode, w12_nul_inside_data_string_kept, .timeout = 10)
{
    nipc_msg_t m;
    const char *f = "{\"type\":\"t\",\"data\":\"a\\u0000b\"}";
    decode(&m, f, strlen(f), false);
    cr_assert_eq(m.err, 0);
    cr_assert_eq(json_string_length(m.data), 3);
    cr_assert_eq(memcmp(json_string_value(m.data), "a\0b", 3), 0);
    nipc__msg_clear(&m);
}

Test(decode, frame_is_not_read_past_its_length, .timeout = 10)
{
    /* The frame is the first n bytes of a larger buffer, as in a receive buffer. */
    const char *buf = "{\"type\":\"a\"}\f{\"type\":\"b\"}\f";
    nipc_msg_t m;
    decode(&m, buf, 12, false);
    cr_assert_eq(m.err, 0);
    cr_assert_str_eq(m.type, "a");
    nipc__msg_clear(&m);
    /* Exactly sized heap copy: ASan flags any read past the end. */
    char *exact = malloc(12);
    memcpy(exact, buf, 12);
    decode(&m, exact, 12, false);
    cr_assert_eq(m.err, 0);
    nipc__msg_clear(&m);
    free(exact);
}

/*
 * The decoder scans strings in blocks: 64 bytes per step with AVX2 from 256 bytes on, then
 * 64 and 16 with SSE2, then byte by byte. An escape, raw UTF-8, a raw control byte (invalid
 * JSON) and a byte that is not UTF-8 at every offset of strings of every length around those
 * boundaries, each frame in an exactly sized heap copy so that ASan sees any read past its
 * end. Valid frames must give what jansson gives; invalid ones an error.
 */
Test(decode, strings_with_specials_at_every_offset, .timeout = 60)
{
    static const struct {
        const char *text;
        bool valid;
    } inserts[] = {
        {"\\n", true},          {"\\\"", true},  {"\\u00e9", true}, {"\xc3\xa9", true},
        {"\xe2\x82\xac", true}, {"\x01", false}, {"\x1f", false},   {"\xff", false},
    };
    static const size_t lengths[][2] = {{0, 140}, {250, 262}, {318, 322}, {510, 514}};
    static const char head[] = "{\"type\":\"t\",\"data\":{\"s\":\"";
    static const char tail[] = "\"}}";
    char frame[sizeof head + 514 + 8 + sizeof tail];
    for (size_t r = 0; r < sizeof lengths / sizeof lengths[0]; r++) {
        for (size_t n = lengths[r][0]; n <= lengths[r][1]; n++) {
            for (size_t at = 0; at <= n; at++) {
                for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
                    size_t il = strlen(inserts[k].text), w = 0;
                    memcpy(frame + w, head, sizeof head - 1);
                    w += sizeof head - 1;
                    memset(frame + w, 'x', at);
                    w += at;
                    memcpy(frame + w, inserts[k].text, il);
                    w += il;
                    memset(frame + w, 'z', n - at);
                    w += n - at;
                    memcpy(frame + w, tail, sizeof tail - 1);
                    w += sizeof tail - 1;
                    char *exact = malloc(w);
                    cr_assert_not_null(exact);
                    memcpy(exact, frame, w);
                    nipc_msg_t m;
                    decode(&m, exact, w, false);
                    if (inserts[k].valid) {
                        json_t *want = json_loadb(exact + 19, w - 20, 0, NULL);
                        cr_assert_not_null(want, "bad test frame %.*s", (int)w, exact);
                        cr_assert_eq(m.err, 0, "%.*s: %s", (int)w, exact, nipc_err_name(m.err));
                        cr_assert(json_equal(m.data, want), "%.*s: data differs", (int)w, exact);
                        json_decref(want);
                    } else {
                        cr_assert_neq(m.err, 0, "%.*s: accepted", (int)w, exact);
                    }
                    nipc__msg_clear(&m);
                    free(exact);
                }
            }
        }
    }
}

/* ---- W11: invalid JSON ---------------------------------------------------------------- */

Test(decode, w11_invalid_json_gives_error_payload, .timeout = 10)
{
    static const char *const bad[] = {
        "{",
        "not json",
        "{\"type\":\"t\",}",
        "{'type':'t'}",
        "{\"type\":\"t\"} x",
        "{\"type\":\"t\"}{\"type\":\"u\"}",
        "{\"type\":\"t\",\"data\":NaN}",
        "{\"type\":\"t\",\"data\":01}",
        "{\"type\":\"t\",\"data\":\"\x01\"}", /* raw control character in a string */
        "\"unterminated",
        "}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], UV_EPROTO, "Invalid JSON response format");
}

/*
 * jansson's parser refuses an object key holding NUL, so such a frame is refused whichever
 * path reads it: the exact envelope (the fast path's), the same with a space or a real in it
 * (the general path's), and a frame read into the tree an earlier frame left.
 */
Test(decode, w11_nul_in_a_key_refused_on_every_path, .timeout = 10)
{
    static const char *const frames[] = {
        "{\"type\":\"t\",\"data\":{\"a\\u0000\":1}}",
        "{\"type\":\"t\", \"data\":{\"a\\u0000\":1}}",
        "{\"type\":\"t\",\"data\":{\"a\\u0000\":1,\"r\":1.5}}",
        "{\"type\":\"t\",\"data\":[{\"\\u0000b\":\"s\"}]}",
        "{\"type\":\"t\",\"data\":{\"x\":{\"\\u0000\":true}}}",
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++)
        expect_error(frames[i], UV_EPROTO, "Invalid JSON response format");

    json_t *shape = NULL;
    nipc_msg_t m;
    static const char first[] = "{\"type\":\"t\",\"data\":{\"x\":{\"k\":true}}}";
    nipc__msg_decode_into(&m, first, sizeof first - 1, false, &shape);
    cr_assert_eq(m.err, 0);
    nipc__msg_done(&m, &shape);
    cr_assert_not_null(shape, "the tree is kept for the next frame");
    const char *f = frames[4];
    nipc__msg_decode_into(&m, f, strlen(f), false, &shape);
    cr_assert_eq(m.err, UV_EPROTO, "got %s", nipc_err_name(m.err));
    nipc__msg_done(&m, &shape);
    json_decref(shape);
}

Test(decode, w11_empty_frame_is_invalid_json, .timeout = 10)
{
    expect_error_n("", 0, UV_EPROTO, "Invalid JSON response format", "", 0);
    expect_error_n("   ", 3, UV_EPROTO, "Invalid JSON response format", "   ", 3);
}

Test(decode, w11_json_null_gives_null_response, .timeout = 10)
{
    expect_error_n("null", 4, UV_EPROTO, "Invalid JSON response format", NULL, 0);
    expect_error_n(" null\n", 6, UV_EPROTO, "Invalid JSON response format", NULL, 0);
}

Test(decode, w11_invalid_utf8_gives_error_with_valid_utf8_response, .timeout = 10)
{
    static const char *const bad[] = {
        "{\"type\":\"t\",\"data\":\"a\xffz\"}",       "{\"type\":\"t\xc3\",\"data\":1}",
        "{\"type\":\"t\",\"data\":\"\xed\xa0\x80\"}", "{\"type\":\"t\",\"data\":\"\xc0\xaf\"}",
        "{\"type\":\"t\",\"data\":\"\xe2\x82\"}",     "{\"type\":\"t\",\"data\":1}\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nipc_msg_t m;
        decode(&m, bad[i], strlen(bad[i]), false);
        cr_assert_lt(m.err, 0, "frame %zu accepted", i);
        cr_assert_null(m.type);
        json_t *resp = json_object_get(m.decoded, "response");
        cr_assert(json_is_string(resp), "frame %zu: response is not a string", i);
        const char *r = json_string_value(resp);
        size_t rn = json_string_length(resp);
        cr_assert(valid_utf8(r, rn));
        cr_assert_not_null(memmem(r, rn, "\xef\xbf\xbd", 3), "frame %zu: no U+FFFD in %s", i, r);
        cr_assert(valid_utf8(json_string_value(json_object_get(m.decoded, "err")),
                             json_string_length(json_object_get(m.decoded, "err"))));
        nipc__msg_clear(&m);
    }
}

Test(decode, w11_invalid_utf8_one_replacement_per_bad_byte, .timeout = 10)
{
    const char f[] = "{\"type\":\"t\",\"data\":\"a\xffz\"}";
    const char r[] = "{\"type\":\"t\",\"data\":\"a\xef\xbf\xbdz\"}";
    expect_error_n(f, sizeof f - 1, UV_EPROTO, "Invalid JSON response format", r, sizeof r - 1);
}

/*
 * The response is the frame as Node's UTF-8 decoder turns it into text, which replaces each
 * maximal ill-formed subsequence by one U+FFFD (WHATWG). Pairs generated with Node 20:
 * Buffer.from(Buffer.from(bytes).toString()); the ASCII byte after a bad sequence is kept.
 */
Test(decode, w11_invalid_utf8_replaced_like_node, .timeout = 10)
{
    static const struct {
        const char *in;
        const char *node;
    } cases[] = {
        {"\xff", "\xef\xbf\xbd"},
        {"\x80", "\xef\xbf\xbd"},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"\xe2\x82", "\xef\xbf\xbd"},     /* truncated: one replacement */
        {"\xe2\x82Z", "\xef\xbf\xbdZ"},   /* truncated before ASCII */
        {"\xf0\x9f\x98", "\xef\xbf\xbd"}, /* truncated emoji */
        {"\xf0\x9f\x98Z", "\xef\xbf\xbdZ"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char f[64], r[64];
        int fn = snprintf(f, sizeof f, "{\"data\":\"%s\"}", cases[i].in);
        int rn = snprintf(r, sizeof r, "{\"data\":\"%s\"}", cases[i].node);
        nipc_msg_t m;
        decode(&m, f, (size_t)fn, false);
        cr_assert_lt(m.err, 0);
        json_t *resp = json_object_get(m.decoded, "response");
        cr_assert(json_is_string(resp));
        cr_expect(json_string_length(resp) == (size_t)rn &&
                      memcmp(json_string_value(resp), r, (size_t)rn) == 0,
                  "case %zu: response %s, Node's text %s", i, json_string_value(resp), r);
        nipc__msg_clear(&m);
    }
}

Test(decode, w11_deep_nesting_is_an_error_not_a_crash, .timeout = 10)
{
    enum { N = 100000 };
    char *p = malloc(N * 5);
    cr_assert_not_null(p);
    memset(p, '[', N);
    nipc_msg_t m;
    decode(&m, p, N, false);
    cr_assert_lt(m.err, 0);
    cr_assert_not_null(m.decoded);
    nipc__msg_clear(&m);

    /* Balanced, so only the depth is wrong. */
    memset(p + N, ']', N);
    decode(&m, p, 2 * N, false);
    cr_assert_lt(m.err, 0);
    cr_assert_not_null(m.decoded);
    nipc__msg_clear(&m);

    size_t n = 0;
    for (int i = 0; i < N / 2; i++) {
        memcpy(p + n, "{\"a\":", 5);
        n += 5;
    }
    decode(&m, p, n, false);
    cr_assert_lt(m.err, 0);
    cr_assert_not_null(m.decoded);
    nipc__msg_clear(&m);
    free(p);
}

/* ---- W13: valid JSON that is not a message -------------------------------------------- */

Test(decode, w13_non_string_type_is_ebadtype, .timeout = 10)
{
    static const char *const bad[] = {
        "{}",
        "{\"data\":1}",
        "{\"type\":7,\"data\":1}",
        "{\"type\":7.5}",
        "{\"type\":{\"a\":1}}",
        "{\"type\":[\"t\"]}",
        "{\"type\":null}",
        "{\"type\":true}",
        "{\"Type\":\"t\"}",
        "7",
        "\"t\"",
        "[\"type\",\"t\"]",
        "[{\"type\":\"t\"}]",
        "true",
        "false",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i], NIPC_EBADTYPE, NULL);
}

Test(decode, w13_type_with_nul_is_ebadtype, .timeout = 10)
{
    expect_error("{\"type\":\"a\\u0000b\",\"data\":1}", NIPC_EBADTYPE, NULL);
    expect_error("{\"type\":\"\\u0000\"}", NIPC_EBADTYPE, NULL);
}

Test(decode, w13_prototype_names_decode_without_crash, .timeout = 10)
{
    /* A C receiver has no prototype chain: these are ordinary names here. */
    expect_message("{\"type\":\"constructor\",\"data\":1}", "constructor", "1");
    expect_message("{\"type\":\"__proto__\",\"data\":1}", "__proto__", "1");
}

Test(decode, w11_huge_integers_read_as_doubles, .timeout = 10)
{
    nipc_msg_t m;
    const char *f = "{\"type\":\"t\",\"data\":[123456789012345678901234567890,"
                    "-123456789012345678901234567890,1]}";
    decode(&m, f, strlen(f), false);
    cr_assert_eq(m.err, 0, "%s", nipc_err_name(m.err));
    json_t *big = json_array_get(m.data, 0);
    cr_assert(json_is_real(big), "JavaScript reads it as a double");
    cr_assert_eq(json_real_value(big), 123456789012345678901234567890.0);
    cr_assert_eq(json_number_value(json_array_get(m.data, 1)), -123456789012345678901234567890.0);
    cr_assert_eq(json_number_value(json_array_get(m.data, 2)), 1.0);
    nipc__msg_clear(&m);

    const char *g = "{\"type\":\"t\",\"data\":9223372036854775808}";
    decode(&m, g, strlen(g), false);
    cr_assert_eq(m.err, 0);
    cr_assert_eq(json_number_value(m.data), 9223372036854775808.0);
    nipc__msg_clear(&m);
}

/* ---- W14: reserved names -------------------------------------------------------------- */

/* `drop` is nipc's own (losses): a peer must not be able to fake one either. */
static const char *const reserved[] = {
    "connect", "disconnect",          "destroy", "error", "data", "close",
    "start",   "socket.disconnected", "drain",   "drop",  "*",
};

Test(decode, w14_reserved_names_refused_by_default, .timeout = 10)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char f[96];
        snprintf(f, sizeof f, "{\"type\":\"%s\",\"data\":{\"a\":1}}", reserved[i]);
        expect_error(f, NIPC_ERESERVED, NULL);
        cr_assert(nipc__event_reserved(reserved[i]), "%s", reserved[i]);
    }
}

Test(decode, w14_reserved_names_allowed_when_asked, .timeout = 10)
{
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char f[96];
        snprintf(f, sizeof f, "{\"type\":\"%s\",\"data\":{\"a\":1}}", reserved[i]);
        nipc_msg_t m;
        decode(&m, f, strlen(f), true);
        cr_assert_eq(m.err, 0, "%s: %s", reserved[i], nipc_err_name(m.err));
        cr_assert_str_eq(m.type, reserved[i]);
        cr_assert_eq(json_integer_value(json_object_get(m.data, "a")), 1);
        nipc__msg_clear(&m);
    }
}

Test(decode, w14_similar_names_not_reserved, .timeout = 10)
{
    static const char *const names[] = {"Connect", "connect ", "errors",
                                        "**",      "socket",   "socket.connected",
                                        "",        "message",  "disconnected"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char f[96];
        snprintf(f, sizeof f, "{\"type\":\"%s\"}", names[i]);
        expect_message(f, names[i], NULL);
        cr_assert_not(nipc__event_reserved(names[i]), "%s", names[i]);
    }
}

Test(decode, w14_allow_reserved_does_not_accept_bad_frames, .timeout = 10)
{
    nipc_msg_t m;
    decode(&m, "{", 1, true);
    cr_assert_eq(m.err, UV_EPROTO);
    nipc__msg_clear(&m);
    decode(&m, "{\"type\":1}", 10, true);
    cr_assert_eq(m.err, NIPC_EBADTYPE);
    nipc__msg_clear(&m);
}

/* ---- never fails hard ----------------------------------------------------------------- */

static void check_outcome(const char *p, size_t n, bool allow_reserved)
{
    nipc_msg_t m;
    decode(&m, p, n, allow_reserved);
    if (m.err == 0 && m.type == m.type_buf) {
        /* The fast path: the data alone, the type copied. */
        cr_assert_not_null(m.data);
        cr_assert_eq(m.decoded, m.data);
        cr_assert_eq(strlen(m.type), m.type_len);
    } else if (m.err == 0) {
        cr_assert_not_null(m.type);
        cr_assert_not_null(m.decoded);
        cr_assert(json_is_object(m.decoded));
        cr_assert_eq(json_string_value(json_object_get(m.decoded, "type")), m.type,
                     "type must point into decoded");
        cr_assert_eq(json_object_get(m.decoded, "data"), m.data);
    } else {
        cr_assert(m.err == UV_EPROTO || m.err == NIPC_EBADTYPE || m.err == NIPC_ERESERVED,
                  "unexpected code %d", m.err);
        cr_assert_null(m.type);
        cr_assert_null(m.data);
        cr_assert_not_null(m.decoded);
        json_t *resp = json_object_get(m.decoded, "response");
        cr_assert(json_is_string(resp) || json_is_null(resp));
        if (json_is_string(resp))
            cr_assert(valid_utf8(json_string_value(resp), json_string_length(resp)));
    }
    nipc__msg_clear(&m);
    nipc__msg_clear(&m); /* clearing twice is harmless */
}

Test(decode, random_bytes_never_crash, .timeout = 10)
{
    uint32_t x = 20240601u;
    char buf[96];
    for (int round = 0; round < 4000; round++) {
        x = x * 1664525u + 1013904223u;
        size_t n = (x >> 8) % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (char)(x >> 24);
        }
        check_outcome(buf, n, round & 1);
    }
}

Test(decode, random_json_like_bytes_never_crash, .timeout = 10)
{
    static const char alphabet[] =
        "{}[]\":,tyepdaTU0123456789.-+eE \\u\x00\xc3\xa9\xff\xe2\x82\xac";
    static const char *const seeds[] = {"{\"type\":\"t\",\"data\":{\"a\":[1,2.5,\"x\"]}}",
                                        "{\"type\":\"connect\"}", "{\"data\":null,\"type\":\"\"}"};
    uint32_t x = 7u;
    char buf[128];
    for (int round = 0; round < 4000; round++) {
        x = x * 1664525u + 1013904223u;
        size_t n;
        if (round % 2 == 0) {
            /* Random text over JSON's own characters. */
            n = (x >> 8) % 64;
            for (size_t i = 0; i < n; i++) {
                x = x * 1664525u + 1013904223u;
                buf[i] = alphabet[(x >> 16) % (sizeof alphabet - 1)];
            }
        } else {
            /* A valid frame with a few bytes changed. */
            const char *s = seeds[(x >> 16) % 3];
            n = strlen(s);
            memcpy(buf, s, n);
            for (int k = 0; k < 3; k++) {
                x = x * 1664525u + 1013904223u;
                buf[(x >> 8) % n] = alphabet[(x >> 20) % (sizeof alphabet - 1)];
            }
        }
        check_outcome(buf, n, round % 3 == 0);
    }
}

/* ---- reuse of the previous event's tree (nipc__msg_decode_into / nipc__msg_done) -------- */

static void decode_shape(nipc_msg_t *m, const char *frame, json_t **shape)
{
    nipc__msg_decode_into(m, frame, strlen(frame), false, shape);
    cr_assert_eq(m->err, 0, "%s", frame);
}

static void assert_data(const nipc_msg_t *m, const char *want)
{
    char *got = json_dumps(m->data, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(reuse, same_shape_frames_reuse_one_tree_with_new_values, .timeout = 10)
{
    json_t *shape = NULL;
    nipc_msg_t m;
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":1,\"s\":\"a\",\"o\":{\"t\":true}}}", &shape);
    json_t *first = m.data;
    nipc__msg_done(&m, &shape);
    cr_assert_eq(shape, first, "an unshared tree is kept");
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":2,\"s\":\"bb\",\"o\":{\"t\":true}}}", &shape);
    cr_assert_eq(m.data, first, "the same shape reuses the tree");
    cr_assert_str_eq(m.type, "m");
    assert_data(&m, "{\"i\":2,\"s\":\"bb\",\"o\":{\"t\":true}}");
    nipc__msg_done(&m, &shape);
    json_decref(shape);
}

Test(reuse, a_kept_tree_is_never_written, .timeout = 10)
{
    json_t *shape = NULL;
    nipc_msg_t m;
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":1}}", &shape);
    nipc__msg_done(&m, &shape);
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":2}}", &shape);
    json_t *kept = json_incref(m.data); /* a handler keeps it */
    nipc__msg_done(&m, &shape);
    cr_assert_null(shape, "the tree now belongs to the handler");
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":3}}", &shape);
    cr_assert_neq(m.data, kept);
    cr_assert_eq(json_integer_value(json_object_get(kept, "i")), 2, "kept value unchanged");
    assert_data(&m, "{\"i\":3}");
    nipc__msg_done(&m, &shape);
    json_decref(kept);
    json_decref(shape);
}

Test(reuse, a_kept_nested_value_is_never_written, .timeout = 10)
{
    json_t *shape = NULL;
    nipc_msg_t m;
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"a\":1,\"s\":\"x\",\"n\":{\"v\":5}}}", &shape);
    json_t *s = json_incref(json_object_get(m.data, "s"));
    json_t *n = json_incref(json_object_get(m.data, "n"));
    nipc__msg_done(&m, &shape);
    cr_assert_not_null(shape);
    /* The top is the connection's alone, but two of its members are shared: the update must
     * not write them; the frame is decoded afresh instead, correctly. */
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"a\":2,\"s\":\"y\",\"n\":{\"v\":6}}}", &shape);
    assert_data(&m, "{\"a\":2,\"s\":\"y\",\"n\":{\"v\":6}}");
    cr_assert_str_eq(json_string_value(s), "x");
    cr_assert_eq(json_integer_value(json_object_get(n, "v")), 5);
    nipc__msg_done(&m, &shape);
    json_decref(s);
    json_decref(n);
    json_decref(shape);
}

Test(reuse, any_difference_in_shape_decodes_afresh, .timeout = 10)
{
    static const char *const frames[] = {
        "{\"type\":\"m\",\"data\":{\"i\":1,\"s\":\"a\"}}",
        "{\"type\":\"m\",\"data\":{\"i\":2,\"s\":\"b\",\"x\":0}}",   /* a key more */
        "{\"type\":\"m\",\"data\":{\"i\":3}}",                       /* a key less */
        "{\"type\":\"m\",\"data\":{\"s\":\"c\",\"i\":4}}",           /* other order */
        "{\"type\":\"m\",\"data\":{\"s\":5,\"i\":\"d\"}}",           /* other types */
        "{\"type\":\"m\",\"data\":{\"s\":null,\"i\":false}}",        /* literals */
        "{\"type\":\"m\",\"data\":{\"s\":true,\"i\":[1]}}",          /* array */
        "{\"type\":\"m\",\"data\":{\"s\":1.5,\"i\":1e3}}",           /* reals: general path */
        "{\"type\":\"m\",\"data\":{\"s\":\"\\u00e9\\n\",\"i\":-7}}", /* escapes */
        "{\"type\":\"m\",\"data\":[1,2]}",                           /* not an object */
        "{\"type\":\"m\",\"data\":{\"s\":\"\\u00e9\\n\",\"i\":-8}}",
        "{\"type\":\"m\",\"data\":{\"s\":\"\\u00e9\\n\",\"i\":-9}}",
    };
    json_t *shape = NULL;
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++) {
        nipc_msg_t m, ref;
        decode_shape(&m, frames[k], &shape);
        /* The result equals a decode with no reuse at all. */
        nipc__msg_decode(&ref, frames[k], strlen(frames[k]), false);
        cr_assert_eq(ref.err, 0);
        cr_assert(json_equal(m.data, ref.data), "%s", frames[k]);
        nipc__msg_clear(&ref);
        nipc__msg_done(&m, &shape);
    }
    json_decref(shape);
}

Test(reuse, a_half_written_tree_is_dropped_not_delivered, .timeout = 10)
{
    json_t *shape = NULL;
    nipc_msg_t m;
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":1,\"j\":2}}", &shape);
    nipc__msg_done(&m, &shape);
    /* "i" is written in place, then "k" differs: the frame must come out whole and right. */
    decode_shape(&m, "{\"type\":\"m\",\"data\":{\"i\":9,\"k\":3}}", &shape);
    assert_data(&m, "{\"i\":9,\"k\":3}");
    nipc__msg_done(&m, &shape);
    /* An invalid frame after a reuse: the general path's error, and no leak. */
    const char bad[] = "{\"type\":\"m\",\"data\":{\"i\":}";
    nipc__msg_decode_into(&m, bad, sizeof bad - 1, false, &shape);
    cr_assert_eq(m.err, UV_EPROTO);
    nipc__msg_done(&m, &shape);
    json_decref(shape);
}

Test(reuse, integers_at_the_edge_of_the_fast_path, .timeout = 10)
{
    static const char *const frames[] = {
        "{\"type\":\"m\",\"data\":{\"i\":999999999999999999}}", /* 18 digits: fast */
        "{\"type\":\"m\",\"data\":{\"i\":-999999999999999999}}",
        "{\"type\":\"m\",\"data\":{\"i\":9223372036854775807}}",     /* 19: general */
        "{\"type\":\"m\",\"data\":{\"i\":99999999999999999999999}}", /* past 64 bits */
        "{\"type\":\"m\",\"data\":{\"i\":1234567890123456789012345}}",
    };
    json_t *shape = NULL;
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++) {
        nipc_msg_t m, ref;
        decode_shape(&m, frames[k], &shape);
        nipc__msg_decode(&ref, frames[k], strlen(frames[k]), false);
        cr_assert(json_equal(m.data, ref.data), "%s", frames[k]);
        nipc__msg_clear(&ref);
        nipc__msg_done(&m, &shape);
    }
    json_decref(shape);
}

/* f holds the frame `head`, s[0, n), then "}} (the string's closing quote and the frame's). */
static void long_frame(nipc_buf_t *f, const char *head, const char *s, size_t n)
{
    nipc__buf_reset(f);
    cr_assert(nipc__buf_append(f, head, strlen(head)) == 0 && nipc__buf_append(f, s, n) == 0 &&
              nipc__buf_append(f, "\"}}", 3) == 0);
}

/*
 * A long string that repeats the value it replaces is compared as it is checked, in one pass
 * (envelope.c's same_string, from 1 KiB): exactly what the general path reads, whatever
 * differs and wherever. `base` is a string of n bytes; each variant is decoded after `base`
 * built the tree.
 */
static void expect_like_general(const char *base, size_t bn, const char *var, size_t vn)
{
    nipc_buf_t f;
    nipc__buf_init(&f);
    json_t *shape = NULL;
    for (int k = 0; k < 2; k++) {
        const char *s = k == 0 ? base : var;
        size_t n = k == 0 ? bn : vn;
        long_frame(&f, "{\"type\":\"m\",\"data\":{\"i\":1,\"s\":\"", s, n);
        nipc_msg_t m, ref;
        nipc__msg_decode_into(&m, f.data, f.len, false, &shape);
        nipc__msg_decode_general(&ref, f.data, f.len, false);
        cr_assert_eq(m.err, ref.err, "variant %d: %s, the general path %s", k, nipc_err_name(m.err),
                     nipc_err_name(ref.err));
        cr_assert(ref.err != 0 || json_equal(m.data, ref.data), "variant %d differs", k);
        nipc__msg_clear(&ref);
        nipc__msg_done(&m, &shape);
    }
    json_decref(shape);
    nipc__buf_free(&f);
}

Test(reuse, a_long_repeated_string_reads_as_the_general_path_reads_it, .timeout = 60)
{
    enum { N = 1500 };
    char base[N + 8], var[N + 8];
    for (size_t i = 0; i < N; i++)
        base[i] = (char)('a' + i % 26);
    memcpy(base + 700, "\xc3\xa9\xe2\x82\xac", 5); /* non-ASCII, across a 64-byte block */
    /* The same string: the tree's string is kept as it is, not copied again. */
    json_t *shape = NULL;
    nipc_buf_t f;
    nipc__buf_init(&f);
    long_frame(&f, "{\"type\":\"m\",\"data\":{\"s\":\"", base, N);
    nipc_msg_t m;
    nipc__msg_decode_into(&m, f.data, f.len, false, &shape);
    nipc__msg_done(&m, &shape);
    const char *value = json_string_value(json_object_get(shape, "s"));
    nipc__msg_decode_into(&m, f.data, f.len, false, &shape);
    cr_assert_eq(m.err, 0);
    cr_assert_eq(m.data, shape);
    cr_assert_eq(json_string_value(json_object_get(m.data, "s")), value, "copied again");
    cr_assert_eq(json_string_length(json_object_get(m.data, "s")), N);
    nipc__msg_done(&m, &shape);
    json_decref(shape);
    nipc__buf_free(&f);

    expect_like_general(base, N, base, N);
    /* Every byte in turn changed to one that differs, ends the string, escapes, is a
     * control byte, or breaks the UTF-8. */
    static const char subst[] = {'Z', '"', '\\', '\x01', '\xff', '\x80'};
    for (size_t i = 0; i < N; i += (i < 80 || i > N - 80 || (i > 660 && i < 720)) ? 1 : 7) {
        for (size_t k = 0; k < sizeof subst; k++) {
            memcpy(var, base, N);
            var[i] = subst[k];
            expect_like_general(base, N, var, N);
        }
    }
    /* One byte shorter or longer; an escape that decodes to the same value. */
    expect_like_general(base, N, base, N - 1);
    memcpy(var, base, N);
    var[N] = 'q';
    expect_like_general(base, N, var, N + 1);
    memcpy(var, "\\u0061", 6); /* 'a' */
    memcpy(var + 6, base + 1, N - 1);
    expect_like_general(base, N, var, N + 5);
    /* The old value holds what a frame must escape (decoded from escapes): the same bytes
     * unescaped in the next frame are another frame, refused or read otherwise. */
    static const char *const escaped[] = {"\\\"", "\\\\", "\\u0001", "\\n"};
    static const char raw[] = {'"', '\\', '\x01', '\n'};
    for (size_t k = 0; k < sizeof raw; k++) {
        size_t el = strlen(escaped[k]);
        memcpy(var, base, 900);
        memcpy(var + 900, escaped[k], el);
        memcpy(var + 900 + el, base + 901, N - 901);
        char unesc[N + 8];
        memcpy(unesc, base, N);
        unesc[900] = raw[k];
        expect_like_general(var, N - 1 + el, unesc, N);
    }
}

Test(reuse, a_tree_changed_to_invalid_text_does_not_vouch_for_a_frame, .timeout = 10)
{
    /* A handler broke the rule and set the tree's string to bytes that are not UTF-8; a frame
     * holding the same bytes is still refused, as the general path refuses it. */
    enum { N = 1500 };
    char bad[N];
    memset(bad, 'b', N);
    bad[1000] = '\xff';
    json_t *shape = json_pack("{s:o}", "s", json_stringn_nocheck(bad, N));
    nipc_buf_t f;
    nipc__buf_init(&f);
    long_frame(&f, "{\"type\":\"m\",\"data\":{\"s\":\"", bad, N);
    nipc_msg_t m;
    nipc__msg_decode_into(&m, f.data, f.len, false, &shape);
    cr_assert_eq(m.err, UV_EPROTO, "got %s", nipc_err_name(m.err));
    nipc__msg_done(&m, &shape);
    json_decref(shape);
    nipc__buf_free(&f);
}

/* ---- the general path alone (the reference of test/unit/message_paths.c) ---------------- */

Test(decode, general_path_alone_gives_the_same_message, .timeout = 10)
{
    static const char f[] = "{\"type\":\"t\",\"data\":{\"a\":[1,\"x\"],\"b\":{\"c\":null}}}";
    nipc_msg_t fast, general;
    nipc__msg_decode(&fast, f, sizeof f - 1, false);
    nipc__msg_decode_general(&general, f, sizeof f - 1, false);
    cr_assert_eq(fast.err, 0);
    cr_assert_eq(general.err, 0);
    /* The fast path owns the data alone; the general path owns the whole envelope. */
    cr_assert_eq(fast.decoded, fast.data);
    cr_assert_neq(general.decoded, general.data);
    cr_assert(json_is_object(general.decoded));
    cr_assert_str_eq(general.type, "t");
    cr_assert(json_equal(general.data, fast.data));
    nipc__msg_clear(&fast);
    nipc__msg_clear(&general);

    /* Its errors are the entry's: the fast path has none of its own. */
    static const char bad[] = "{\"type\":\"t\",\"data\":}";
    nipc__msg_decode(&fast, bad, sizeof bad - 1, false);
    nipc__msg_decode_general(&general, bad, sizeof bad - 1, false);
    cr_assert_eq(general.err, UV_EPROTO);
    cr_assert_eq(fast.err, general.err);
    cr_assert(json_equal(fast.decoded, general.decoded));
    nipc__msg_clear(&fast);
    nipc__msg_clear(&general);
}

/* ---- hints: a request or an id is never hidden (request.c and S9 look only when told) --- */

/* A request's data is an object whose first key is "$req", however the frame writes it. */
static void expect_request(const char *frame, json_t **shape)
{
    nipc_msg_t m;
    if (shape != NULL)
        nipc__msg_decode_into(&m, frame, strlen(frame), false, shape);
    else
        nipc__msg_decode(&m, frame, strlen(frame), false);
    cr_assert_eq(m.err, 0, "%s", frame);
    cr_assert(m.hints & NIPC_HINT_REQUEST, "%s: a request's data, not flagged", frame);
    int64_t id;
    json_t *inner = nipc__request_unwrap_slow(m.data, &id);
    cr_assert_eq(id, 7, "%s", frame);
    cr_assert_eq(json_integer_value(inner), 2, "%s", frame);
    nipc__msg_done(&m, shape);
}

Test(decode, a_request_key_written_with_escapes_is_flagged, .timeout = 10)
{
    /* JSON.parse reads "\u0024req" as "$req", and so does the general path (the frame with
     * a space), so the fast path must flag it too (found by fuzz/fuzz_decode). */
    static const char *const frames[] = {
        "{\"type\":\"x\",\"data\":{\"$req\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{\"\\u0024req\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{\"$r\\u0065q\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{\"$re\\u0071\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{ \"\\u0024req\":7,\"data\":2}}",
        "{\"type\":\"x\", \"data\":{\"\\u0024req\":7,\"data\":2}}",
    };
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++)
        expect_request(frames[k], NULL);
    /* Through a reused tree too: the second frame is written into the first's. */
    json_t *shape = NULL;
    for (size_t k = 0; k < 3; k++)
        expect_request(frames[k], &shape);
    json_decref(shape);
}

Test(decode, other_first_keys_are_not_requests, .timeout = 10)
{
    static const char *const frames[] = {
        "{\"type\":\"x\",\"data\":{\"$re\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{\"\\u0024reqs\":7,\"data\":2}}",
        "{\"type\":\"x\",\"data\":{\"a\":1,\"$req\":7}}",
        "{\"type\":\"x\",\"data\":[\"$req\",7]}",
    };
    for (size_t k = 0; k < sizeof frames / sizeof frames[0]; k++) {
        nipc_msg_t m;
        nipc__msg_decode(&m, frames[k], strlen(frames[k]), false);
        cr_assert_eq(m.err, 0, "%s", frames[k]);
        int64_t id;
        json_t *inner = nipc__request_unwrap(m.data, m.hints & NIPC_HINT_REQUEST, &id);
        cr_assert_eq(id, 0, "%s", frames[k]);
        cr_assert_eq(inner, m.data, "%s", frames[k]);
        nipc__msg_clear(&m);
    }
}

/* S9 looks up data.id only when NIPC_HINT_ID says it may be there: every way a frame can
 * hold one must say so, a fresh tree and a reused one alike, and its absence is what lets a
 * server skip the lookup. */
Test(decode, an_id_member_is_hinted, .timeout = 10)
{
    static const char *const with[] = {
        "{\"type\":\"x\",\"data\":{\"id\":5}}",
        "{\"type\":\"x\",\"data\":{\"a\":1,\"id\":\"w\"}}",
        "{\"type\":\"x\",\"data\":{\"\\u0069d\":5}}",                 /* escaped: the fast path */
        "{\"type\":\"x\",\"data\":{\"i\\u0064\":1.5}}",               /* reads it as "id" too */
        "{\"type\":\"x\",\"data\":{ \"id\":5}}",                      /* the general path */
        "{\"type\":\"x\",\"data\":{\"$req\":1,\"data\":{\"id\":2}}}", /* a request's */
    };
    static const char *const without[] = {
        "{\"type\":\"x\",\"data\":{\"i\":5}}",
        "{\"type\":\"x\",\"data\":{\"a\":{\"id\":5}}}", /* one level down: not data's */
        "{\"type\":\"x\",\"data\":[\"id\",5]}",
        "{\"type\":\"x\",\"data\":{\"idx\":5,\"d\":\"id\"}}",
    };
    json_t *shape = NULL;
    for (int reuse = 0; reuse < 2; reuse++) {
        for (size_t k = 0; k < sizeof with / sizeof with[0]; k++) {
            nipc_msg_t m;
            for (int twice = 0; twice < 2; twice++) { /* the second into the first's tree */
                nipc__msg_decode_into(&m, with[k], strlen(with[k]), false, reuse ? &shape : NULL);
                cr_assert_eq(m.err, 0, "%s", with[k]);
                cr_assert(m.hints & NIPC_HINT_ID, "%s: an id, not hinted", with[k]);
                nipc__msg_done(&m, reuse ? &shape : NULL);
            }
        }
        for (size_t k = 0; k < sizeof without / sizeof without[0]; k++) {
            nipc_msg_t m;
            for (int twice = 0; twice < 2; twice++) {
                nipc__msg_decode_into(&m, without[k], strlen(without[k]), false,
                                      reuse ? &shape : NULL);
                cr_assert_eq(m.err, 0, "%s", without[k]);
                cr_assert_not(m.hints & NIPC_HINT_ID, "%s: hinted, yet no id", without[k]);
                nipc__msg_done(&m, reuse ? &shape : NULL);
            }
        }
    }
    json_decref(shape);
}
