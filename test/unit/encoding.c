/* SPDX-License-Identifier: MIT */
/*
 * nipc__encoding_* against Node's Buffer (R2): node-ipc's raw-mode examples by name, then
 * every input test/unit/encoding.js lists, compared with what Node itself makes of it.
 */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nipc_encoding_t all_encodings[] = {
    NIPC__ENC_UTF8,   NIPC__ENC_ASCII,     NIPC__ENC_LATIN1,  NIPC__ENC_HEX,
    NIPC__ENC_BASE64, NIPC__ENC_BASE64URL, NIPC__ENC_UTF16LE,
};
#define ALL_ENCODINGS (sizeof all_encodings / sizeof all_encodings[0])

static nipc_encoding_t parse(const char *name)
{
    nipc_encoding_t e = NIPC__ENC_UTF8;
    int err = nipc__encoding_parse(name, &e);
    cr_assert_eq(err, 0, "%s: %d", name, err);
    return e;
}

/* Bytes as "68 65 6c", for messages. */
static const char *spaced(const void *p, size_t n, char *dst, size_t cap)
{
    const unsigned char *b = p;
    size_t k = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < n && k + 4 < cap; i++)
        k += (size_t)snprintf(dst + k, cap - k, i ? " %02x" : "%02x", b[i]);
    return dst;
}

static void expect_bytes(const nipc_buf_t *b, const void *want, size_t n, const char *what)
{
    char got_s[256], want_s[256];
    const char *got = b->data != NULL ? b->data + b->off : ""; /* NULL + 0 is undefined */
    cr_expect(nipc__buf_size(b) == n && (n == 0 || memcmp(got, want, n) == 0),
              "%s: got [%s], Node gives [%s]", what,
              spaced(got, nipc__buf_size(b), got_s, sizeof got_s),
              spaced(want, n, want_s, sizeof want_s));
}

static void expect_from(const char *enc, const char *text, const void *want, size_t n)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__encoding_from_text(parse(enc), text, strlen(text), &b), 0);
    char what[128];
    snprintf(what, sizeof what, "Buffer.from('%s', '%s')", text, enc);
    expect_bytes(&b, want, n, what);
    nipc__buf_free(&b);
}

static void expect_to(const char *enc, const void *p, size_t n, const char *want, size_t wn)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__encoding_to_text(parse(enc), p, n, &b), 0);
    char what[128], in[64];
    snprintf(what, sizeof what, "[%s].toString('%s')", spaced(p, n, in, sizeof in), enc);
    expect_bytes(&b, want, wn, what);
    nipc__buf_free(&b);
}

/* The text a literal holds, NULs included. */
#define EXPECT_TO(enc, p, n, lit) expect_to(enc, p, n, lit, sizeof(lit) - 1)

/* ---- node-ipc's README and the compat notes' table of raw-mode emits (R2) ----------------- */

Test(encoding, r2_hello_utf8, .timeout = 10)
{
    expect_from("utf8", "hello", "\x68\x65\x6c\x6c\x6f", 5);
}

Test(encoding, r2_accented_utf8, .timeout = 10)
{
    expect_from("utf8", "h\xc3\xa9llo", "\x68\xc3\xa9\x6c\x6c\x6f", 6);
}

Test(encoding, r2_accented_ascii_and_latin1, .timeout = 10)
{
    /* Node writes ascii as it writes latin1: é keeps its bit 7. */
    expect_from("ascii", "h\xc3\xa9llo", "\x68\xe9\x6c\x6c\x6f", 5);
    expect_from("latin1", "h\xc3\xa9llo", "\x68\xe9\x6c\x6c\x6f", 5);
    expect_from("binary", "h\xc3\xa9llo", "\x68\xe9\x6c\x6c\x6f", 5);
}

Test(encoding, r2_hex, .timeout = 10)
{
    expect_from("hex", "0a0b0cff", "\x0a\x0b\x0c\xff", 4);
}

Test(encoding, r2_invalid_hex_is_nothing, .timeout = 10)
{
    expect_from("hex", "zz", "", 0);
}

Test(encoding, r2_base64, .timeout = 10)
{
    expect_from("base64", "AAEC/w==", "\x00\x01\x02\xff", 4);
}

Test(encoding, r2_utf16le, .timeout = 10)
{
    expect_from("utf16le", "hi", "\x68\x00\x69\x00", 4);
    expect_from("ucs2", "hi", "\x68\x00\x69\x00", 4);
}

/*
 * The README's 6-byte buffer: writeUInt16BE(2, 0) then writeUInt32BE(16772812, 2), and the
 * same with writeUInt16LE and writeUInt32LE. Sent as a Buffer its bytes go as they are; with
 * encoding 'hex' a program shows them, and sends them back, as this text.
 */
Test(encoding, r2_readme_uint16_uint32_buffer, .timeout = 10)
{
    static const char be[] = "\x00\x02\x00\xff\xee\xcc";
    static const char le[] = "\x02\x00\xcc\xee\xff\x00";
    EXPECT_TO("hex", be, 6, "000200ffeecc");
    EXPECT_TO("hex", le, 6, "0200cceeff00");
    expect_from("hex", "000200ffeecc", be, 6);
    expect_from("hex", "0200cceeff00", le, 6);
    expect_from("hex", "000200FFEECC", be, 6);
}

Test(encoding, r2_readme_byte_array_as_hex, .timeout = 10)
{
    EXPECT_TO("hex", "\x05\x6d\x5c", 3, "056d5c");
    expect_from("hex", "056d5c", "\x05\x6d\x5c", 3);
}

/* The bytes 00 ff 80 41 c3 a9 0c as each encoding shows them (R4). */
Test(encoding, r4_received_bytes_as_text, .timeout = 10)
{
    static const char in[] = "\x00\xff\x80\x41\xc3\xa9\x0c";
    EXPECT_TO("utf8", in, 7, "\x00\xef\xbf\xbd\xef\xbf\xbd\x41\xc3\xa9\x0c");
    EXPECT_TO("ascii", in, 7, "\x00\x7f\x00\x41\x43\x29\x0c");
    EXPECT_TO("latin1", in, 7, "\x00\xc3\xbf\xc2\x80\x41\xc3\x83\xc2\xa9\x0c");
    EXPECT_TO("hex", in, 7, "00ff8041c3a90c");
    EXPECT_TO("base64", in, 7, "AP+AQcOpDA==");
    EXPECT_TO("base64url", in, 7, "AP-AQcOpDA");
    /* Units ff00 4180 a9c3: the 0c left over is dropped. */
    EXPECT_TO("utf16le", in, 7, "\xef\xbc\x80\xe4\x86\x80\xea\xa7\x83");
}

/* latin1 and hex lose nothing: bytes shown as text and read back are the bytes (R4). */
Test(encoding, r4_latin1_and_hex_round_trip_every_byte, .timeout = 10)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    static const nipc_encoding_t lossless[] = {NIPC__ENC_LATIN1, NIPC__ENC_HEX, NIPC__ENC_BASE64,
                                               NIPC__ENC_BASE64URL};
    for (size_t i = 0; i < sizeof lossless / sizeof lossless[0]; i++) {
        nipc_buf_t t, b;
        nipc__buf_init(&t);
        nipc__buf_init(&b);
        cr_assert_eq(nipc__encoding_to_text(lossless[i], all, sizeof all, &t), 0);
        cr_assert_eq(nipc__encoding_from_text(lossless[i], t.data, t.len, &b), 0);
        expect_bytes(&b, all, sizeof all, nipc__encoding_name(lossless[i]));
        nipc__buf_free(&t);
        nipc__buf_free(&b);
    }
}

Test(encoding, the_utf16_unit_low_byte_is_what_hex_and_base64_read, .timeout = 10)
{
    /* U+0131 is the unit 0131: hex reads '1'. U+D83D, an emoji's first unit, reads '='. */
    expect_from("hex", "\xc4\xb1\x31", "\x11", 1);
    expect_from("base64", "QU\xf0\x9f\x98\x80JD", "\x41", 1);
    expect_from("latin1", "\xe2\x82\xac", "\xac", 1);
    expect_from("ascii", "\xf0\x9f\x98\x80", "\x3d\x00", 2);
}

Test(encoding, appends_after_what_the_buffer_holds, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "ab", 2), 0);
    cr_assert_eq(nipc__encoding_from_text(NIPC__ENC_HEX, "0a0b", 4, &b), 0);
    cr_assert_eq(nipc__encoding_to_text(NIPC__ENC_HEX, "\x0c", 1, &b), 0);
    expect_bytes(&b, "ab\x0a\x0b\x30\x63", 6, "appended");
    nipc__buf_free(&b);
}

Test(encoding, empty_input_appends_nothing, .timeout = 10)
{
    for (size_t i = 0; i < ALL_ENCODINGS; i++) {
        nipc_buf_t b;
        nipc__buf_init(&b);
        cr_expect_eq(nipc__encoding_from_text(all_encodings[i], NULL, 0, &b), 0);
        cr_expect_eq(nipc__encoding_to_text(all_encodings[i], NULL, 0, &b), 0);
        cr_expect_eq(b.len, 0);
        cr_expect_null(b.data, "nothing to write, nothing allocated");
        nipc__buf_free(&b);
    }
}

/* ---- names ------------------------------------------------------------------------------ */

Test(encoding, parses_every_name_of_node, .timeout = 10)
{
    static const struct {
        const char *name;
        nipc_encoding_t enc;
        const char *canonical;
    } names[] = {
        {"utf8", NIPC__ENC_UTF8, "utf8"},
        {"utf-8", NIPC__ENC_UTF8, "utf8"},
        {"UTF8", NIPC__ENC_UTF8, "utf8"},
        {"Utf-8", NIPC__ENC_UTF8, "utf8"},
        {"ascii", NIPC__ENC_ASCII, "ascii"},
        {"ASCII", NIPC__ENC_ASCII, "ascii"},
        {"latin1", NIPC__ENC_LATIN1, "latin1"},
        {"binary", NIPC__ENC_LATIN1, "latin1"},
        {"BINARY", NIPC__ENC_LATIN1, "latin1"},
        {"hex", NIPC__ENC_HEX, "hex"},
        {"HeX", NIPC__ENC_HEX, "hex"},
        {"base64", NIPC__ENC_BASE64, "base64"},
        {"base64url", NIPC__ENC_BASE64URL, "base64url"},
        {"BASE64URL", NIPC__ENC_BASE64URL, "base64url"},
        {"utf16le", NIPC__ENC_UTF16LE, "utf16le"},
        {"utf-16le", NIPC__ENC_UTF16LE, "utf16le"},
        {"UTF-16LE", NIPC__ENC_UTF16LE, "utf16le"},
        {"ucs2", NIPC__ENC_UTF16LE, "utf16le"},
        {"ucs-2", NIPC__ENC_UTF16LE, "utf16le"},
        {"UCS-2", NIPC__ENC_UTF16LE, "utf16le"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        nipc_encoding_t e = (nipc_encoding_t)99;
        cr_expect_eq(nipc__encoding_parse(names[i].name, &e), 0, "%s", names[i].name);
        cr_expect_eq(e, names[i].enc, "%s: %d", names[i].name, (int)e);
        cr_expect_str_eq(nipc__encoding_name(e), names[i].canonical, "%s", names[i].name);
    }
}

Test(encoding, refuses_other_names, .timeout = 10)
{
    static const char *const bad[] = {
        "",      "utf16", "utf-16", "utf",    "utf_8",   " utf8",
        "utf8 ", "ucs",   "ucs4",   "latin",  "latin-1", "base-64",
        "hexa",  "he",    "raw",    "buffer", "utf8\n",  "ba\xc5\xbf\x65\x36\x34"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nipc_encoding_t e = NIPC__ENC_HEX;
        cr_expect_eq(nipc__encoding_parse(bad[i], &e), UV_EINVAL, "'%s'", bad[i]);
        cr_expect_eq(e, NIPC__ENC_HEX, "'%s': *out written", bad[i]);
    }
    nipc_encoding_t e = NIPC__ENC_HEX;
    cr_expect_eq(nipc__encoding_parse(NULL, &e), UV_EINVAL);
    cr_expect_eq(e, NIPC__ENC_HEX);
}

Test(encoding, canonical_names_parse_to_themselves, .timeout = 10)
{
    for (size_t i = 0; i < ALL_ENCODINGS; i++) {
        const char *name = nipc__encoding_name(all_encodings[i]);
        cr_assert_not_null(name);
        cr_expect_eq(parse(name), all_encodings[i], "%s", name);
    }
    cr_expect_null(nipc__encoding_name((nipc_encoding_t)99));
}

/* ---- out of memory ---------------------------------------------------------------------- */

Test(encoding, out_of_memory_leaves_the_buffer_as_it_was, .timeout = 10)
{
    /* 600 bytes: every conversion of them writes more than the 252 bytes of room left. */
    char in[600];
    memset(in, 'A', sizeof in);
    for (size_t i = 0; i < ALL_ENCODINGS; i++) {
        const char *what = nipc__encoding_name(all_encodings[i]);
        for (int to_text = 0; to_text < 2; to_text++) {
            nipc_buf_t b;
            nipc__buf_init(&b);
            cr_assert_eq(nipc__buf_append(&b, "kept", 4), 0);
            cr_assert_eq(b.cap, 256);
            nipc__test_fail_alloc_after(1);
            int err = to_text ? nipc__encoding_to_text(all_encodings[i], in, sizeof in, &b)
                              : nipc__encoding_from_text(all_encodings[i], in, sizeof in, &b);
            nipc__test_fail_alloc_after(0);
            cr_expect_eq(err, UV_ENOMEM, "%s %s: %d", to_text ? "to" : "from", what, err);
            expect_bytes(&b, "kept", 4, what);
            /* Nothing sticks: the same call then succeeds. */
            err = to_text ? nipc__encoding_to_text(all_encodings[i], in, sizeof in, &b)
                          : nipc__encoding_from_text(all_encodings[i], in, sizeof in, &b);
            cr_expect_eq(err, 0, "%s %s again: %d", to_text ? "to" : "from", what, err);
            cr_expect_gt(b.len, 256, "%s", what);
            nipc__buf_free(&b);
        }
    }
}

/* ---- against Node ------------------------------------------------------------------------ */

#define NODE_SEED 20240607u
#define NODE_RANDOM 300 /* random inputs of each of the four kinds */
/* Every input gives one line per encoding; the fixed list alone has more than 100 inputs. */
#define NODE_LINES_AT_LEAST ((100L + 4L * (NODE_RANDOM + 3)) * 7)

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A field of encoding.js's output ('-' is empty) into b, replacing what it held. */
static void field_bytes(const char *f, nipc_buf_t *b, long line)
{
    nipc__buf_reset(b);
    if (strcmp(f, "-") == 0)
        return;
    size_t n = strlen(f);
    cr_assert(n % 2 == 0 && n > 0, "line %ld: odd hex field %s", line, f);
    cr_assert_eq(nipc__buf_reserve(b, n / 2), 0);
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_nibble(f[i]), lo = hex_nibble(f[i + 1]);
        cr_assert(hi >= 0 && lo >= 0, "line %ld: bad hex field %s", line, f);
        b->data[b->len++] = (char)(hi << 4 | lo);
    }
}

static bool same(const nipc_buf_t *a, const nipc_buf_t *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

typedef struct tally {
    long compared;
    long differ;
} tally_t;

static void compare(tally_t *t, const char *what, const char *enc, const char *input,
                    const nipc_buf_t *got, const nipc_buf_t *want)
{
    t->compared++;
    if (same(got, want))
        return;
    if (t->differ++ < 20) {
        char g[256], w[256];
        cr_expect_fail("%s %s of [%.200s]: nipc [%s], Node [%s]", what, enc, input,
                       spaced(got->data, got->len, g, sizeof g),
                       spaced(want->data, want->len, w, sizeof w));
    }
}

Test(encoding, r2_matches_node_buffer, .timeout = 120)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' '%s/test/unit/encoding.js' %u %d", NIPC_NODE_EXECUTABLE,
             NIPC_SOURCE_DIR, NODE_SEED, NODE_RANDOM);
    FILE *node = popen(cmd, "r");
    cr_assert_not_null(node, "popen %s", cmd);

    nipc_buf_t input, want_from, want_to, got;
    nipc__buf_init(&input);
    nipc__buf_init(&want_from);
    nipc__buf_init(&want_to);
    nipc__buf_init(&got);
    tally_t tally = {0, 0};
    long lines = 0, end = -1, names = 0;
    bool seen[ALL_ENCODINGS] = {false};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, node)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        if (strncmp(line, "end ", 4) == 0) {
            end = atol(line + 4);
            break;
        }
        lines++;
        char *save = NULL;
        char *a = strtok_r(line, " ", &save);
        char *b = strtok_r(NULL, " ", &save);
        char *c = strtok_r(NULL, " ", &save);
        cr_assert(a != NULL && b != NULL && c != NULL, "line %ld is short", lines);

        if (strcmp(a, "name") == 0) {
            /* Buffer.isEncoding's answer for a name, against the parser's. */
            field_bytes(b, &input, lines);
            cr_assert_eq(nipc__buf_append(&input, "", 1), 0);
            nipc_encoding_t e;
            int err = nipc__encoding_parse(input.data, &e);
            cr_expect_eq(err == 0, strcmp(c, "1") == 0, "'%s': nipc says %d, Node %s", input.data,
                         err, c);
            names++;
            continue;
        }

        char *d = strtok_r(NULL, " ", &save);
        cr_assert_not_null(d, "line %ld is short", lines);
        nipc_encoding_t e = parse(a);
        seen[e] = true;
        field_bytes(b, &input, lines);
        field_bytes(c, &want_from, lines);
        field_bytes(d, &want_to, lines);

        nipc__buf_reset(&got);
        cr_assert_eq(nipc__encoding_from_text(e, input.data, input.len, &got), 0);
        compare(&tally, "Buffer.from", a, b, &got, &want_from);

        nipc__buf_reset(&got);
        cr_assert_eq(nipc__encoding_to_text(e, input.data, input.len, &got), 0);
        compare(&tally, "toString", a, b, &got, &want_to);
    }
    free(line);
    nipc__buf_free(&input);
    nipc__buf_free(&want_from);
    nipc__buf_free(&want_to);
    nipc__buf_free(&got);
    int status = pclose(node);
    cr_assert_eq(status, 0, "%s exited with status %d", cmd, status);
    cr_assert_eq(end, lines, "node said %ld lines, %ld read", end, lines);
    cr_assert_geq(lines, NODE_LINES_AT_LEAST);
    cr_assert_geq(names, 40, "only %ld names", names);
    for (size_t i = 0; i < ALL_ENCODINGS; i++)
        cr_assert(seen[i], "no line for %s", nipc__encoding_name(all_encodings[i]));
    cr_assert_eq(tally.differ, 0, "%ld of %ld conversions differ from Node", tally.differ,
                 tally.compared);
}
