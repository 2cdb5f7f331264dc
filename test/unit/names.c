/* SPDX-License-Identifier: MIT */
/*
 * The rules an event type follows both ways (names.c): lengths counted as JavaScript counts
 * them, the allowed_events set, nipc__type_check(), and a decoded frame turned into its
 * refusal (nipc__msg_admit), the carried tree of nipc__msg_decode_into() included.
 */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- lengths ------------------------------------------------------------------------------ */

static size_t js_len(const char *s)
{
    return nipc__js_length(s, strlen(s));
}

Test(names, lengths_are_utf16_code_units, .timeout = 10)
{
    cr_assert_eq(js_len(""), 0);
    cr_assert_eq(js_len("ping"), 4);
    cr_assert_eq(js_len("\xc3\xa9"), 1, "U+00E9: two bytes, one unit");
    cr_assert_eq(js_len("\xe2\x82\xac"), 1, "U+20AC: three bytes, one unit");
    cr_assert_eq(js_len("\xf0\x9f\x98\x80"), 2, "U+1F600: four bytes, a surrogate pair");
    cr_assert_eq(js_len("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"), 6);
    /* Only the bytes given count. */
    cr_assert_eq(nipc__js_length("abc", 2), 2);
}

/* ---- the set ------------------------------------------------------------------------------ */

Test(names, an_empty_set_holds_nothing, .timeout = 10)
{
    nipc_nameset_t s;
    cr_assert_eq(nipc__nameset_build(&s, NULL), 0);
    cr_assert_eq(s.count, 0);
    cr_assert_null(s.slots, "the empty set allocates nothing");
    cr_assert_not(nipc__nameset_has(&s, "a", 1));
    cr_assert_not(nipc__nameset_has(&s, "", 0));
    static const char *const none[] = {NULL};
    cr_assert_eq(nipc__nameset_build(&s, none), 0);
    cr_assert_eq(s.count, 0);
    nipc__nameset_free(&s);
}

Test(names, the_set_holds_its_names_and_nothing_else, .timeout = 10)
{
    static const char *const names[] = {"hello", "", "bye", "hello", "h\xc3\xa9llo", NULL};
    nipc_nameset_t s;
    cr_assert_eq(nipc__nameset_build(&s, names), 0);
    cr_assert_eq(s.count, 4, "a name listed twice counts once");
    for (size_t i = 0; names[i] != NULL; i++)
        cr_assert(nipc__nameset_has(&s, names[i], strlen(names[i])), "%s", names[i]);
    static const char *const others[] = {"hell", "hello!", "Hello", "by", "bye ", "x", "h"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        cr_assert_not(nipc__nameset_has(&s, others[i], strlen(others[i])), "%s", others[i]);
    /* The length decides, not a NUL: "hello" cut to four bytes is "hell". */
    cr_assert_not(nipc__nameset_has(&s, "hello", 4));
    cr_assert(nipc__nameset_has(&s, "byeXYZ", 3));
    nipc__nameset_free(&s);
    cr_assert_null(s.slots);
    cr_assert_eq(s.count, 0);
}

Test(names, a_long_list_finds_every_name, .timeout = 10)
{
    enum { N = 1000 };
    static char text[N][16];
    static const char *names[N + 1];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "event.%d", i);
        names[i] = text[i];
    }
    names[N] = NULL;
    nipc_nameset_t s;
    cr_assert_eq(nipc__nameset_build(&s, names), 0);
    cr_assert_eq(s.count, N);
    cr_assert_geq(s.mask + 1, 2 * N, "at most half the slots are used");
    for (int i = 0; i < N; i++)
        cr_assert(nipc__nameset_has(&s, text[i], strlen(text[i])), "%s", text[i]);
    char other[16];
    for (int i = N; i < 3 * N; i++) {
        snprintf(other, sizeof other, "event.%d", i);
        cr_assert_not(nipc__nameset_has(&s, other, strlen(other)), "%s", other);
    }
    nipc__nameset_free(&s);
}

Test(names, building_out_of_memory_leaves_the_set_empty, .timeout = 10)
{
    static const char *const names[] = {"a", "b", NULL};
    nipc_nameset_t s;
    nipc__test_fail_alloc_after(1);
    int err = nipc__nameset_build(&s, names);
    nipc__test_fail_alloc_after(0);
    cr_assert_eq(err, UV_ENOMEM);
    cr_assert_eq(s.count, 0);
    cr_assert_null(s.slots);
    cr_assert_not(nipc__nameset_has(&s, "a", 1));
    nipc__nameset_free(&s);
}

/* ---- nipc__type_check ---------------------------------------------------------------------- */

static int check(const nipc_type_rules_t *r, const char *type)
{
    return nipc__type_check(r, type, strlen(type));
}

static nipc_type_rules_t rules(size_t max_event_name, const char *const *allowed)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.max_event_name = max_event_name;
    cfg.allowed_events = allowed;
    nipc_type_rules_t r;
    cr_assert_eq(nipc__type_rules_init(&r, &cfg), 0);
    return r;
}

Test(names, max_event_name_counts_as_node_ipc_14, .timeout = 10)
{
    nipc_type_rules_t r = rules(8, NULL);
    cr_assert_eq(check(&r, "12345678"), 0);
    cr_assert_eq(check(&r, "123456789"), NIPC_ENAMELEN);
    cr_assert_eq(check(&r, ""), 0);
    /* Eight two-byte characters are sixteen bytes and eight units. */
    cr_assert_eq(check(&r, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 0);
    cr_assert_eq(check(&r, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9z"),
                 NIPC_ENAMELEN);
    /* Characters past U+FFFF count twice, as String.length counts them. */
    cr_assert_eq(check(&r, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"), 0);
    cr_assert_eq(check(&r, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80z"),
                 NIPC_ENAMELEN);
    nipc__type_rules_free(&r);

    r = rules(0, NULL);
    char big[4097];
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(check(&r, big), 0, "0 is no limit");
    nipc__type_rules_free(&r);

    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cr_assert_eq(cfg.max_event_name, 256, "node-ipc 14's maxEventNameLength");
    cr_assert_eq(nipc__type_rules_init(&r, &cfg), 0);
    big[256] = '\0';
    cr_assert_eq(check(&r, big), 0);
    big[256] = 'n';
    big[257] = '\0';
    cr_assert_eq(check(&r, big), NIPC_ENAMELEN);
    nipc__type_rules_free(&r);
}

Test(names, allowed_events_refuses_every_other_type, .timeout = 10)
{
    static const char *const allowed[] = {"hello", "bye", NULL};
    nipc_type_rules_t r = rules(4, allowed);
    cr_assert_eq(check(&r, "hello"), NIPC_ENAMELEN, "the length is checked first");
    cr_assert_eq(check(&r, "bye"), 0);
    cr_assert_eq(check(&r, "hi"), NIPC_ENOTALLOWED);
    cr_assert_eq(check(&r, ""), NIPC_ENOTALLOWED);
    nipc__type_rules_free(&r);
    cr_assert_eq(r.allowed.count, 0);
}

/* ---- refusing a decoded frame -------------------------------------------------------------- */

/* Decodes the frame with the reuse of nipc__msg_decode_into(), admits it, and returns the
 * error (0: delivered with `want` as its data's JSON). */
static int take(const nipc_type_rules_t *r, json_t **shape, const char *frame, const char *want)
{
    nipc_msg_t m;
    size_t n = strlen(frame);
    nipc__msg_decode_into(&m, frame, n, false, shape);
    nipc__msg_admit(&m, r, frame, n);
    int err = m.err;
    if (err != 0) {
        cr_assert_null(m.type, "%s", frame);
        cr_assert_null(m.data, "%s", frame);
        cr_assert_not_null(m.decoded, "%s: a refusal has node-ipc's payload", frame);
        const char *message = json_string_value(json_object_get(m.decoded, "message"));
        if (err == NIPC_ENAMELEN || err == NIPC_ENOTALLOWED)
            cr_assert_str_eq(message,
                             err == NIPC_ENAMELEN ? "Event name too long" : "Event not allowed",
                             "%s", frame);
        cr_assert_str_eq(json_string_value(json_object_get(m.decoded, "response")), frame,
                         "the payload quotes the frame");
        cr_assert_not_null(json_string_value(json_object_get(m.decoded, "err")));
    } else {
        cr_assert_eq(m.type_len, strlen(m.type));
        char *got = json_dumps(m.data, JSON_COMPACT | JSON_ENCODE_ANY);
        cr_assert_str_eq(got, want, "%s", frame);
        free(got);
    }
    nipc__msg_done(&m, shape);
    return err;
}

Test(names, a_refused_frame_is_an_error_and_the_carried_tree_goes_on, .timeout = 10)
{
    static const char *const allowed[] = {"ok", "no.too.long", NULL};
    nipc_type_rules_t r = rules(8, allowed);
    json_t *shape = NULL;
    cr_assert_eq(take(&r, &shape, "{\"type\":\"ok\",\"data\":{\"i\":1,\"s\":\"a\"}}",
                      "{\"i\":1,\"s\":\"a\"}"),
                 0);
    cr_assert_not_null(shape, "the tree is carried");
    /* The same shape, refused: the tree it was written into stays the connection's. */
    cr_assert_eq(take(&r, &shape, "{\"type\":\"nope\",\"data\":{\"i\":2,\"s\":\"b\"}}", NULL),
                 NIPC_ENOTALLOWED);
    cr_assert_eq(
        take(&r, &shape, "{\"type\":\"no.too.long\",\"data\":{\"i\":3,\"s\":\"c\"}}", NULL),
        NIPC_ENAMELEN);
    cr_assert_eq(take(&r, &shape, "{\"type\":\"ok\",\"data\":{\"i\":4,\"s\":\"d\"}}",
                      "{\"i\":4,\"s\":\"d\"}"),
                 0);
    /* Through the general path too (whitespace), and with a fresh tree (another shape). */
    cr_assert_eq(take(&r, &shape, "{ \"type\":\"nope\",\"data\":[1]}", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(take(&r, &shape, "{\"type\":\"nope\",\"data\":[1,2]}", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(take(&r, &shape, "{ \"type\":\"ok\",\"data\":[1]}", "[1]"), 0);
    /* A frame the decoder refuses keeps the decoder's error. */
    cr_assert_eq(take(&r, &shape, "{\"type\":\"error\",\"data\":1}", NULL), NIPC_ERESERVED);
    json_decref(shape);
    nipc__type_rules_free(&r);
}
