/* SPDX-License-Identifier: MIT */
/*
 * The fast envelope parser (src/core/envelope.c) against the general path (jansson's
 * parser, src/core/message.c), and the general path against jansson itself, on the same
 * bytes. Input: byte 0 bit 0 is allow_reserved_events; the rest is one frame (no delimiter).
 *
 * Fast against general (nipc__msg_decode_fast, nipc__msg_decode_general): no deviation is
 * allowed. The fast path may give up on any frame (then the general path decodes it, and
 * nipc__msg_decode must give exactly the general path's result, errors and payloads
 * included); what it accepts, the general path must accept with the same type, the same
 * data down to key order and integer or real typing, and the hints (NIPC_HINT_*) on whenever
 * the data is a request's.
 *
 * General against jansson (json_loadb with JSON_DECODE_ANY | JSON_ALLOW_NUL): the same
 * accept or refuse decision and equal data (json_equal, and strictly equal where nothing is
 * rewritten), except the deviations README.md ("Deviations from node-ipc", Text and Hostile
 * frames) and message.c document:
 *  - a lone UTF-16 surrogate escape ("\ud83d") is read as U+FFFD, where jansson refuses
 *    the frame;
 *  - an integer beyond 64 bits is read as a double (JavaScript's reading), where jansson
 *    refuses it (json_error_numeric_overflow);
 *  - a frame that is JSON null is refused (UV_EPROTO, as js-message loses it);
 *  - valid JSON that is not an object with a string "type" free of NUL is NIPC_EBADTYPE;
 *  - a lifecycle name as the type (W14) is NIPC_ERESERVED unless allow_reserved_events.
 * Nothing else may differ: invalid UTF-8, a key holding NUL, nesting past 2048 levels are
 * refused by both.
 */
#include "fuzz.h"
#include "hints.h"
#include "json_eq.h"

#include "core/core.h"
#include "core/envelope.h"

static const char *outcome(int err)
{
    return err == 0 ? "accepted" : nipc_err_name(err);
}

/* Whether the frame holds a \u escape of a surrogate that is not half of a pair. */
static bool has_lone_surrogate(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] != 'u' || i + 6 > n) {
            i++;
            continue;
        }
        char hex[5] = {p[i + 2], p[i + 3], p[i + 4], p[i + 5], 0};
        char *end;
        long cp = strtol(hex, &end, 16);
        if (end != hex + 4 || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ')
            cp = -1;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return true;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            long lo = -1;
            if (i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u') {
                char h2[5] = {p[i + 8], p[i + 9], p[i + 10], p[i + 11], 0};
                lo = strtol(h2, &end, 16);
                if (end != h2 + 4 || h2[0] == '-' || h2[0] == '+' || h2[0] == ' ')
                    lo = -1;
            }
            if (lo < 0xdc00 || lo > 0xdfff)
                return true;
            i += 11;
            continue;
        }
        i += 5;
    }
    return false;
}

static bool reserved(const char *type)
{
    static const char *const names[] = {
        "*",
        "close",
        "connect",
        "data",
        "destroy",
        "disconnect",
        "drain",
        "drop",
        "error",
        "start",
        "socket.disconnected",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(type, names[i]) == 0)
            return true;
    return false;
}

/* The general path's result against what jansson alone makes of the frame. */
static void against_jansson(const nipc_msg_t *g, const char *p, size_t n, bool allow_reserved)
{
    json_error_t e;
    json_t *root = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    bool rewritten = false;
    if (root == NULL && json_error_code(&e) == json_error_numeric_overflow) {
        root = json_loadb(p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
        rewritten = root != NULL;
    }
    if (root == NULL) {
        /* jansson refuses it: so must nipc, unless lone surrogates are the reason. */
        FUZZ_CHECK(g->err != 0 || has_lone_surrogate(p, n),
                   "jansson refuses (%s), nipc accepts: %s", e.text, fuzz_show(p, n));
        if (g->err != 0 && !has_lone_surrogate(p, n))
            FUZZ_CHECK(g->err == UV_EPROTO, "jansson refuses, nipc says %s: %s", outcome(g->err),
                       fuzz_show(p, n));
        return;
    }
    json_t *type = json_is_object(root) ? json_object_get(root, "type") : NULL;
    int want;
    if (json_is_null(root))
        want = UV_EPROTO;
    else if (!json_is_string(type) || strlen(json_string_value(type)) != json_string_length(type))
        want = NIPC_EBADTYPE;
    else if (!allow_reserved && reserved(json_string_value(type)))
        want = NIPC_ERESERVED;
    else
        want = 0;
    /* A lone surrogate decoded as U+FFFD can only be in a frame jansson refuses. */
    FUZZ_CHECK(g->err == want, "nipc %s, jansson's reading %s: %s", outcome(g->err), outcome(want),
               fuzz_show(p, n));
    if (want == 0) {
        FUZZ_CHECK(strcmp(g->type, json_string_value(type)) == 0, "another type: %s",
                   fuzz_show(p, n));
        json_t *data = json_object_get(root, "data");
        if (rewritten)
            FUZZ_CHECK(fuzz_js_equal(g->data, data), "other data: %s", fuzz_show(p, n));
        else
            FUZZ_CHECK(th_same_tree(g->data, data), "other data: %s", fuzz_show(p, n));
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    bool allow_reserved = fuzz_byte(&in) & 1;
    char *p = fuzz_copy(in.p, in.n); /* exact: a read past the end is an ASan error */
    size_t n = in.n;

    nipc_msg_t g, d, f;
    nipc__msg_decode_general(&g, p, n, allow_reserved);
    against_jansson(&g, p, n, allow_reserved);

    /* The entry point: the fast path, else the general path, gives the general path's. */
    nipc__msg_decode(&d, p, n, allow_reserved);
    FUZZ_CHECK(d.err == g.err, "decode %s, the general path %s: %s", outcome(d.err), outcome(g.err),
               fuzz_show(p, n));
    if (g.err != 0) {
        FUZZ_CHECK(json_equal(d.decoded, g.decoded), "another error payload: %s", fuzz_show(p, n));
    } else {
        FUZZ_CHECK(d.type_len == g.type_len && memcmp(d.type, g.type, g.type_len) == 0,
                   "another type: %s", fuzz_show(p, n));
        FUZZ_CHECK(th_same_tree(d.data, g.data), "other data: %s", fuzz_show(p, n));
        FUZZ_CHECK(fuzz_hints_hold(&g), "general: a hint off that should be on");
        FUZZ_CHECK(fuzz_hints_hold(&d), "a request or an id not flagged: %s", fuzz_show(p, n));
    }

    /* The fast parser alone: it gives up, or agrees. */
    memset(&f, 0, sizeof f);
    if (nipc__msg_decode_fast(&f, p, n, allow_reserved, NULL)) {
        FUZZ_CHECK(g.err == 0, "the fast path accepts, the general path says %s: %s",
                   outcome(g.err), fuzz_show(p, n));
        FUZZ_CHECK(f.err == 0 && f.decoded == f.data && f.data != NULL, "fast: ownership");
        FUZZ_CHECK(f.type_len == g.type_len && memcmp(f.type, g.type, g.type_len) == 0 &&
                       f.type[f.type_len] == '\0',
                   "fast: another type: %s", fuzz_show(p, n));
        FUZZ_CHECK(th_same_tree(f.data, g.data), "fast: other data: %s", fuzz_show(p, n));
        FUZZ_CHECK(fuzz_hints_hold(&f), "fast: a request or an id not flagged: %s",
                   fuzz_show(p, n));
        nipc__msg_clear(&f);
    } else {
        FUZZ_CHECK(f.decoded == NULL, "the fast path gave up but left a tree");
    }
    nipc__msg_clear(&d);
    nipc__msg_clear(&g);
    free(p);
    return 0;
}
