/* SPDX-License-Identifier: MIT */
/*
 * The message decoder as a connection drives it (src/codec/json.c): the frames of a stream,
 * split on the delimiter, decoded one after another through one decode state, the
 * previous event's tree (nipc__msg_decode_into, nipc__msg_admit, nipc__msg_done), so that
 * the reuse of that tree runs, also after a "handler" kept part of it.
 *
 * Input: byte 0 holds the options: bit 0 allow_reserved_events; bits 1-2 the type rules
 * (none, max_event_name, allowed_events, both); bit 3 decodes the unterminated rest too;
 * bits 4-7 when handlers keep a reference (frame i keeps one when bit 4 + i % 4 is set).
 * Byte 1 is max_event_name (0-63). The rest is the stream, split on "\f".
 *
 * Each frame must decode as the general path alone decodes it (nipc__msg_decode_general,
 * jansson's parser): the same accept or refuse, code and error payload, type and data, down
 * to key order and integer or real typing. A value a handler kept must never change. What
 * is accepted must also re-encode (nipc__msg_encode) to a frame that decodes to the same
 * type and an equal value, render for the log, and flag (NIPC_HINT_*) whenever the data is
 * a request's (its first key "$req"), since request.c unwraps only those.
 */
#include "fuzz.h"
#include "hints.h"
#include "json_eq.h"

#include "core/core.h"
#include "internal.h"

#define MAX_KEPT 8

typedef struct kept {
    json_t *v;    /* the reference a handler kept */
    json_t *copy; /* what it held then */
} kept_t;

static const char *outcome(int err)
{
    return err == 0 ? "accepted" : nipc_err_name(err);
}

static void expect_same(const nipc_msg_t *ref, const nipc_msg_t *got, const char *p, size_t n)
{
    FUZZ_CHECK(got->err == ref->err, "%s, the general path %s: %s", outcome(got->err),
               outcome(ref->err), fuzz_show(p, n));
    if (ref->err != 0) {
        FUZZ_CHECK(json_equal(got->decoded, ref->decoded), "another error payload: %s",
                   fuzz_show(p, n));
        return;
    }
    FUZZ_CHECK(got->type_len == ref->type_len && memcmp(got->type, ref->type, ref->type_len) == 0,
               "another type: %s", fuzz_show(p, n));
    FUZZ_CHECK(got->type[got->type_len] == '\0' && strlen(got->type) == got->type_len,
               "the type is not a C string of type_len bytes: %s", fuzz_show(p, n));
    FUZZ_CHECK(th_same_tree(got->data, ref->data), "other data: %s", fuzz_show(p, n));
}

/* What request.c would take as a request: an object whose first key is "$req". */
static void check_accepted(const nipc_msg_t *m, const char *p, size_t n)
{
    FUZZ_CHECK(fuzz_hints_hold(m), "a request or an id not flagged: %s", fuzz_show(p, n));
    int64_t id;
    json_t *inner = nipc__request_unwrap(m->data, m->hints & NIPC_HINT_REQUEST, &id);
    FUZZ_CHECK(id >= 0 && (id == 0) == (inner == m->data), "request id %lld", (long long)id);

    nipc_buf_t b;
    nipc__buf_init(&b);
    for (int depth = 0; depth < 3; depth++)
        FUZZ_CHECK(nipc__log_render(&b, m->data, depth * 3, depth == 1) == 0, "log render");

    /* Whatever was received can be sent back (W13's names aside) and reads the same. */
    nipc__buf_reset(&b);
    int err = nipc__msg_encode(&b, m->type, m->data, false, "\f", 1);
    if (fuzz_crashes_legacy(m->type)) {
        FUZZ_CHECK(err == UV_EINVAL, "%s sent as a type: %s", m->type, outcome(err));
    } else {
        FUZZ_CHECK(err == 0, "re-encoding refused (%s): %s", outcome(err), fuzz_show(p, n));
        FUZZ_CHECK(b.len > 0 && b.data[b.len - 1] == '\f' &&
                       memchr(b.data, '\f', b.len - 1) == NULL,
                   "a delimiter inside the frame");
        nipc_msg_t again;
        nipc__msg_decode(&again, b.data, b.len - 1, true);
        FUZZ_CHECK(again.err == 0, "the re-encoded frame is refused (%s): %s", outcome(again.err),
                   fuzz_show(b.data, b.len));
        FUZZ_CHECK(strcmp(again.type, m->type) == 0, "the type changed");
        FUZZ_CHECK(fuzz_js_equal(again.data, m->data) ||
                       (m->data == NULL && json_is_object(again.data) &&
                        json_object_size(again.data) == 0),
                   "the data changed on its way back: %s", fuzz_show(b.data, b.len));
        nipc__msg_clear(&again);
    }
    nipc__buf_free(&b);
}

static void keep(nipc_msg_t *m, unsigned i, kept_t *kept, unsigned *nkept)
{
    if (*nkept == MAX_KEPT || m->err != 0 || m->data == NULL)
        return;
    json_t *v = m->data;
    if ((i & 1) && json_is_object(v) && json_object_size(v) > 0)
        v = json_object_iter_value(json_object_iter(v)); /* a member rather than the whole */
    kept[*nkept].v = json_incref(v);
    kept[*nkept].copy = json_deep_copy(v);
    FUZZ_CHECK(kept[*nkept].copy != NULL, "json_deep_copy");
    (*nkept)++;
}

static void check_kept(const kept_t *kept, unsigned nkept)
{
    for (unsigned i = 0; i < nkept; i++)
        FUZZ_CHECK(th_same_tree(kept[i].v, kept[i].copy), "a value a handler kept was written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned opts = fuzz_byte(&in);
    unsigned max_name = fuzz_byte(&in) & 63;
    bool allow_reserved = opts & 1;
    bool rest_too = opts & 8;
    unsigned keep_pattern = opts >> 4;

    static const char *const allowed[] = {"message", "a", "t", "h\xc3\xa9llo", "$reply", NULL};
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.max_event_name = (opts & 2) ? max_name : 0;
    cfg.allowed_events = (opts & 4) ? allowed : NULL;
    nipc_type_rules_t rules;
    FUZZ_CHECK(nipc__type_rules_init(&rules, &cfg) == 0, "type rules");

    nipc_frame_t f;
    nipc__frame_init(&f, "\f", 1);
    json_t *shape = NULL;
    kept_t kept[MAX_KEPT];
    unsigned nkept = 0;
    const char *s = (const char *)in.p;
    size_t left = in.n;
    for (unsigned i = 0; left > 0; i++) {
        size_t flen;
        bool whole = nipc__frame_next(&f, s, left, &flen);
        if (!whole && !rest_too)
            break;
        if (!whole)
            flen = left;
        /* An exact copy, so that a read past the frame's end is an ASan error. */
        char *p = fuzz_copy(s, flen);

        nipc_msg_t ref, m;
        nipc__msg_decode_general(&ref, p, flen, allow_reserved);
        nipc__msg_admit(&ref, &rules, p, flen);
        nipc__msg_decode_into(&m, p, flen, allow_reserved, &shape);
        nipc__msg_admit(&m, &rules, p, flen);
        expect_same(&ref, &m, p, flen);
        FUZZ_CHECK(m.err != 0 || m.decoded != NULL || m.data == shape, "a message owned by nobody");
        if (m.err == 0)
            check_accepted(&m, p, flen);
        if ((keep_pattern >> (i % 4)) & 1)
            keep(&m, i, kept, &nkept);
        nipc__msg_done(&m, &shape);
        nipc__msg_clear(&ref);
        check_kept(kept, nkept);
        free(p);

        size_t used = whole ? flen + 1 : flen;
        s += used;
        left -= used;
    }
    json_decref(shape);
    for (unsigned i = 0; i < nkept; i++) {
        json_decref(kept[i].v);
        json_decref(kept[i].copy);
    }
    nipc__type_rules_free(&rules);
    return 0;
}
