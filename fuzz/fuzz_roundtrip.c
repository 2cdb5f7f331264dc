/* SPDX-License-Identifier: MIT */
/*
 * The encoder (src/core/json_write.c): any JSON value jansson parses encodes to a frame that
 * holds no delimiter but its last, parses back to an equal value, and refuses only what it
 * documents.
 *
 * Input: byte 0 holds the options: bit 0 legacy_data (W4); bits 1-3 the delimiter (the
 * default form feed, "\n", "\r\n", or ones that can appear inside a frame: "|", "}}", "\"",
 * "a", "1"); bit 4 reads integers as reals (JSON_DECODE_INT_AS_REAL). The rest is JSON
 * text; what jansson does not parse is skipped. A value that is an array of a string and
 * something else is sent as type and data; any other value as the data of "message".
 *
 * nipc__msg_encode must return 0, UV_EINVAL only for a type W13 forbids or data nested past
 * 2047 levels, or NIPC_EDELIM only when the delimiter does occur in the frame's text. A frame
 * sent is {"type":..,"data":..} with the delimiter once, at its end, no raw control byte,
 * and its data bytes are what nipc__json_write writes for the data alone. Decoded (both
 * decoder paths, and jansson where no integer overflows), it gives the type and the data as
 * JavaScript reads them back: reals written without a fraction come back integers, legacy
 * data null, "" and emitter-like objects come back {}.
 */
#include "fuzz.h"
#include "json_eq.h"

#include "core/core.h"

static const char *const delimiters[] = {"\f", "\n", "\r\n", "|", "}}", "\"", "a", "1"};

static const char *outcome(int err)
{
    return err == 0 ? "accepted" : nipc_err_name(err);
}

/* W4: what a legacy sender puts in place of data ({} when NULL is returned). */
static const json_t *legacy_view(const json_t *data)
{
    if (json_is_null(data) || (json_is_string(data) && json_string_length(data) == 0))
        return NULL;
    if (json_is_object(data)) {
        json_t *ml = json_object_get(data, "_maxListeners");
        if (ml != NULL && nipc__js_truthy(ml))
            return NULL;
    }
    return data;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size)
{
    fuzz_in_t in = {bytes, size};
    unsigned opts = fuzz_byte(&in);
    bool legacy = opts & 1;
    const char *delim = delimiters[(opts >> 1) & 7];
    size_t dlen = strlen(delim);
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | ((opts & 16) ? JSON_DECODE_INT_AS_REAL : 0);

    json_t *v = json_loadb((const char *)in.p, in.n, flags, NULL);
    if (v == NULL)
        return 0;
    const char *type = "message";
    json_t *data = v;
    json_t *t = json_is_array(v) && json_array_size(v) == 2 ? json_array_get(v, 0) : NULL;
    if (json_is_string(t)) {
        if (strlen(json_string_value(t)) != json_string_length(t)) {
            json_decref(v); /* a type holding NUL: a C string cannot */
            return 0;
        }
        type = json_string_value(t);
        data = json_array_get(v, 1);
    }
    const json_t *sent = legacy ? legacy_view(data) : data;

    nipc_buf_t out, alone, ff;
    nipc__buf_init(&out);
    nipc__buf_init(&alone);
    nipc__buf_init(&ff);
    int err = nipc__msg_encode(&out, type, data, legacy, delim, dlen);
    size_t depth = sent != NULL ? fuzz_depth(sent) : 1;
    if (err == UV_EINVAL) {
        FUZZ_CHECK(fuzz_crashes_legacy(type) || depth > 2047,
                   "refused: type %s, data %zu levels deep", type, depth);
        FUZZ_CHECK(out.len == 0, "a refusal left bytes");
    } else if (err == NIPC_EDELIM) {
        /* The same frame with the form feed: followed by this delimiter, the delimiter
         * must occur before its end (inside the text, or across the text's end). */
        FUZZ_CHECK(nipc__msg_encode(&ff, type, data, legacy, "\f", 1) == 0, "refused with \\f");
        FUZZ_CHECK((unsigned char)delim[0] >= 0x20, "EDELIM for a control delimiter");
        size_t flen = ff.len - 1;
        ff.len = flen;
        nipc__buf_append(&ff, delim, dlen);
        const char *hit = memmem(ff.data, ff.len, delim, dlen);
        FUZZ_CHECK(hit != NULL && (size_t)(hit - ff.data) < flen,
                   "EDELIM, but the frame does not hold %s", fuzz_show(delim, dlen));
        FUZZ_CHECK(out.len == 0, "a refusal left bytes");
    } else {
        FUZZ_CHECK(err == 0, "%s: %s", outcome(err), fuzz_show(in.p, in.n));
        FUZZ_CHECK(!fuzz_crashes_legacy(type) && depth <= 2047, "sent: type %s, %zu levels", type,
                   depth);
        FUZZ_CHECK(out.len > dlen && memcmp(out.data + out.len - dlen, delim, dlen) == 0,
                   "no delimiter at the end");
        size_t flen = out.len - dlen;
        const char *hit = memmem(out.data, out.len, delim, dlen);
        FUZZ_CHECK(hit == out.data + flen, "a delimiter inside the frame: %s",
                   fuzz_show(out.data, out.len));
        for (size_t i = 0; i < flen; i++)
            FUZZ_CHECK((unsigned char)out.data[i] >= 0x20, "a raw control byte at %zu", i);
        FUZZ_CHECK(flen > 17 && memcmp(out.data, "{\"type\":\"", 9) == 0 &&
                       out.data[flen - 1] == '}',
                   "not an envelope: %s", fuzz_show(out.data, flen));

        /* The data's bytes are what the writer writes for the data alone. */
        if (sent != NULL)
            FUZZ_CHECK(nipc__json_write(&alone, sent) == 0, "nipc__json_write refused the data");
        else
            nipc__buf_append(&alone, "{}", 2);
        FUZZ_CHECK(alone.len + 1 < flen &&
                       memcmp(out.data + flen - 1 - alone.len, alone.data, alone.len) == 0 &&
                       memcmp(out.data + flen - 1 - alone.len - 8, ",\"data\":", 8) == 0,
                   "the frame's data is not nipc__json_write's");

        json_t *empty = json_object();
        const json_t *want = sent != NULL ? sent : empty;
        nipc_msg_t m, g;
        nipc__msg_decode(&m, out.data, flen, true);
        nipc__msg_decode_general(&g, out.data, flen, true);
        FUZZ_CHECK(m.err == 0 && g.err == 0, "the frame is refused (%s, %s): %s", outcome(m.err),
                   outcome(g.err), fuzz_show(out.data, flen));
        FUZZ_CHECK(strcmp(m.type, type) == 0 && strcmp(g.type, type) == 0, "the type changed");
        FUZZ_CHECK(fuzz_js_equal(m.data, want), "the data changed: %s", fuzz_show(out.data, flen));
        FUZZ_CHECK(th_same_tree(m.data, g.data), "the decoder's paths disagree");
        /* jansson itself reads it too, unless an integer is past 64 bits (a large real
         * written as JavaScript writes it, 1e+21 aside: "100000000000000000000"). */
        json_error_t e;
        json_t *j = json_loadb(out.data, flen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        FUZZ_CHECK(j != NULL || json_error_code(&e) == json_error_numeric_overflow,
                   "jansson refuses the frame: %s", e.text);
        if (j != NULL)
            FUZZ_CHECK(fuzz_js_equal(json_object_get(j, "data"), want), "jansson: other data");
        json_decref(j);
        json_decref(empty);
        nipc__msg_clear(&m);
        nipc__msg_clear(&g);
    }

    /* nipc__json_write alone refuses only nesting past 2048 levels. */
    nipc__buf_reset(&alone);
    err = nipc__json_write(&alone, data);
    FUZZ_CHECK(err == 0 || (err == UV_EINVAL && fuzz_depth(data) > 2048), "nipc__json_write: %s",
               outcome(err));
    nipc__buf_free(&out);
    nipc__buf_free(&alone);
    nipc__buf_free(&ff);
    json_decref(v);
    return 0;
}
