/* SPDX-License-Identifier: MIT */
/* Byte buffers: append, reserve, growth, the consumed prefix, compaction and out-of-memory. */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

static void expect_content(const nipc_buf_t *b, const char *want, size_t n)
{
    cr_assert_eq(nipc__buf_size(b), n, "size %zu, want %zu", nipc__buf_size(b), n);
    cr_assert_leq(b->off, b->len);
    cr_assert_leq(b->len, b->cap);
    if (n > 0)
        cr_assert_eq(memcmp(b->data + b->off, want, n), 0);
}

Test(buf, init_is_empty, .timeout = 10)
{
    nipc_buf_t b;
    memset(&b, 0x5a, sizeof b);
    nipc__buf_init(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(nipc__buf_size(&b), 0);
    nipc__buf_free(&b); /* freeing an empty buffer is fine */
}

Test(buf, append_keeps_bytes_in_order, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "abc", 3), 0);
    cr_assert_eq(nipc__buf_append(&b, "", 0), 0);
    cr_assert_eq(nipc__buf_append(&b, "d\0e", 3), 0);
    expect_content(&b, "abcd\0e", 6);
    nipc__buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.cap, 0);
}

Test(buf, append_nothing_allocates_nothing, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, NULL, 0), 0);
    cr_assert_null(b.data);
    nipc__buf_free(&b);
}

Test(buf, grows_across_many_appends, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    char chunk[97];
    size_t total = 0;
    for (int i = 0; i < 2000; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        cr_assert_eq(nipc__buf_append(&b, chunk, sizeof chunk), 0);
        total += sizeof chunk;
        cr_assert_eq(nipc__buf_size(&b), total);
        cr_assert_geq(b.cap, b.len);
    }
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(b.data[i * 97 + 50], 'a' + i % 26, "chunk %d", i);
    /* Geometric growth: far fewer distinct capacities than appends. */
    cr_assert_lt(b.cap, 2 * total + 256);
    nipc__buf_free(&b);
}

Test(buf, reserve_makes_room_without_changing_content, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "xyz", 3), 0);
    cr_assert_eq(nipc__buf_reserve(&b, 10000), 0);
    cr_assert_geq(b.cap - b.len, 10000);
    expect_content(&b, "xyz", 3);
    char *before = b.data;
    size_t cap = b.cap;
    /* Room already there: no reallocation. */
    cr_assert_eq(nipc__buf_reserve(&b, 100), 0);
    cr_assert_eq(b.data, before);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(nipc__buf_reserve(&b, 0), 0);
    nipc__buf_free(&b);
}

Test(buf, reserve_refuses_impossible_sizes, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "abc", 3), 0);
    cr_assert_eq(nipc__buf_reserve(&b, SIZE_MAX), UV_ENOMEM);
    cr_assert_eq(nipc__buf_reserve(&b, SIZE_MAX - 2), UV_ENOMEM);
    expect_content(&b, "abc", 3);
    nipc__buf_free(&b);
}

Test(buf, reset_empties_and_keeps_memory, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "hello", 5), 0);
    b.off = 2;
    char *data = b.data;
    size_t cap = b.cap;
    nipc__buf_reset(&b);
    cr_assert_eq(nipc__buf_size(&b), 0);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.data, data);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(nipc__buf_append(&b, "x", 1), 0);
    expect_content(&b, "x", 1);
    nipc__buf_free(&b);
}

Test(buf, compact_moves_live_bytes_to_the_front, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "consumed|live", 13), 0);
    b.off = 9;
    nipc__buf_compact(&b);
    cr_assert_eq(b.off, 0);
    expect_content(&b, "live", 4);
    /* Compacting a fully consumed buffer leaves it empty. */
    b.off = b.len;
    nipc__buf_compact(&b);
    cr_assert_eq(b.off, 0);
    cr_assert_eq(b.len, 0);
    /* Nothing consumed: nothing moves. */
    cr_assert_eq(nipc__buf_append(&b, "ab", 2), 0);
    nipc__buf_compact(&b);
    expect_content(&b, "ab", 2);
    nipc__buf_free(&b);
}

/*
 * Offsets stay valid across a reserve: live bytes never move (callers such as the encoder
 * keep a mark into the buffer). The consumed prefix is reclaimed only by an explicit
 * compact, after which a reserve that fits the reclaimed room does not grow.
 */
Test(buf, reserve_never_moves_bytes_compact_reclaims_the_prefix, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    char fill[200];
    memset(fill, 'p', sizeof fill);
    memcpy(fill + 190, "0123456789", 10);
    cr_assert_eq(nipc__buf_append(&b, fill, sizeof fill), 0);
    size_t cap = b.cap;
    b.off = 190;                     /* 190 bytes consumed, 10 live */
    size_t want = cap - b.len + 100; /* more than the free tail, less than tail + prefix */

    nipc_buf_t moved = b;
    moved.data = malloc(cap);
    memcpy(moved.data, b.data, cap);
    cr_assert_eq(nipc__buf_reserve(&moved, want), 0);
    cr_assert_eq(moved.off, 190, "reserve must not move live bytes");
    cr_assert_eq(memcmp(moved.data + 190, "0123456789", 10), 0);
    free(moved.data);

    nipc__buf_compact(&b);
    char *data = b.data;
    cr_assert_eq(nipc__buf_reserve(&b, want), 0);
    cr_assert_eq(b.cap, cap, "grew to %zu although the consumed prefix had room", b.cap);
    cr_assert_eq(b.data, data);
    cr_assert_geq(b.cap - b.len, want);
    expect_content(&b, "0123456789", 10);
    nipc__buf_free(&b);
}

Test(buf, append_after_consuming_keeps_order, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    char big[300];
    memset(big, 'z', sizeof big);
    cr_assert_eq(nipc__buf_append(&b, "old|", 4), 0);
    b.off = 4;
    cr_assert_eq(nipc__buf_append(&b, "new", 3), 0);
    cr_assert_eq(nipc__buf_append(&b, big, sizeof big), 0); /* forces a reserve */
    cr_assert_eq(nipc__buf_size(&b), 303);
    cr_assert_eq(memcmp(b.data + b.off, "new", 3), 0);
    cr_assert_eq(b.data[b.off + 302], 'z');
    nipc__buf_free(&b);
}

Test(buf, swap_exchanges_everything, .timeout = 10)
{
    nipc_buf_t a, b;
    nipc__buf_init(&a);
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&a, "first", 5), 0);
    a.off = 1;
    nipc__buf_swap(&a, &b);
    cr_assert_null(a.data);
    cr_assert_eq(nipc__buf_size(&a), 0);
    expect_content(&b, "irst", 4);
    cr_assert_eq(nipc__buf_append(&a, "second", 6), 0);
    nipc__buf_swap(&a, &b);
    expect_content(&a, "irst", 4);
    expect_content(&b, "second", 6);
    nipc__buf_free(&a);
    nipc__buf_free(&b);
}

Test(buf, failed_growth_leaves_buffer_intact, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    cr_assert_eq(nipc__buf_append(&b, "keep me", 7), 0);
    char *data = b.data;
    size_t cap = b.cap;
    char big[1000];
    memset(big, 'q', sizeof big);

    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__buf_append(&b, big, sizeof big), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    cr_assert_eq(b.data, data);
    cr_assert_eq(b.cap, cap);
    expect_content(&b, "keep me", 7);

    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__buf_reserve(&b, 5000), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    expect_content(&b, "keep me", 7);

    /* It works again once memory is back. */
    cr_assert_eq(nipc__buf_append(&b, big, sizeof big), 0);
    cr_assert_eq(nipc__buf_size(&b), 1007);
    cr_assert_eq(memcmp(b.data, "keep me", 7), 0);
    nipc__buf_free(&b);
}

Test(buf, failed_first_allocation_leaves_buffer_empty, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__buf_append(&b, "x", 1), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    cr_assert_null(b.data);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(nipc__buf_size(&b), 0);
    nipc__buf_free(&b);
}

Test(buf, failed_growth_after_compaction_keeps_live_bytes, .timeout = 10)
{
    nipc_buf_t b;
    nipc__buf_init(&b);
    char fill[250];
    memset(fill, 'p', sizeof fill);
    memcpy(fill + 240, "0123456789", 10);
    cr_assert_eq(nipc__buf_append(&b, fill, sizeof fill), 0);
    b.off = 240;
    char big[600];
    memset(big, 'q', sizeof big);
    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__buf_append(&b, big, sizeof big), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    expect_content(&b, "0123456789", 10);
    nipc__buf_free(&b);
}

/* ---- spans: strings queued by reference between a buffer's own bytes -------------------- */

/* Everything queued in b, spans copied in their place. */
static void expect_queue(const nipc_buf_t *b, const char *want)
{
    nipc_buf_t flat;
    nipc__buf_init(&flat);
    cr_assert_eq(nipc__buf_append_queue(&flat, b, false), 0);
    cr_assert_eq(nipc__buf_queued(b), strlen(want));
    cr_assert_eq(nipc__buf_size(&flat), strlen(want), "flat %zu bytes, want %zu",
                 nipc__buf_size(&flat), strlen(want));
    if (flat.data != NULL)
        cr_assert_eq(memcmp(flat.data + flat.off, want, strlen(want)), 0);
    cr_assert_not(nipc__buf_has_spans(&flat));
    nipc__buf_free(&flat);
}

static void refer(nipc_buf_t *b, json_t *s)
{
    cr_assert_eq(nipc__buf_refer(b, s, json_string_value(s), json_string_length(s)), 0);
}

/* Appends `spec` to b: 'X' refers to x, 'W' to w, any other byte is b's own. */
static void queue(nipc_buf_t *b, const char *spec, json_t *x, json_t *w)
{
    for (const char *c = spec; *c != '\0'; c++) {
        if (*c == 'X' || *c == 'W')
            refer(b, *c == 'X' ? x : w);
        else
            cr_assert_eq(nipc__buf_append(b, c, 1), 0);
    }
}

Test(buf, spans_sit_between_own_bytes_and_hold_a_reference, .timeout = 10)
{
    json_t *x = json_string("xyz"), *w = json_string("WW");
    nipc_buf_t b;
    nipc__buf_init(&b);
    queue(&b, "abXcdWXe", x, w); /* two in a row, the same string twice */
    cr_assert_eq(nipc__buf_size(&b), 5);
    cr_assert(nipc__buf_has_spans(&b));
    cr_assert_eq(x->refcount, 3);
    cr_assert_eq(w->refcount, 2);
    expect_queue(&b, "abxyzcdWWxyze");
    nipc__buf_reset(&b);
    cr_assert_eq(nipc__buf_queued(&b), 0);
    cr_assert_not(nipc__buf_has_spans(&b));
    cr_assert_eq(x->refcount, 1);
    cr_assert_eq(w->refcount, 1);
    /* Reused after a reset, and freed with spans in it. */
    queue(&b, "W!", x, w);
    expect_queue(&b, "WW!");
    nipc__buf_free(&b);
    cr_assert_eq(w->refcount, 1);
    cr_assert_null(b.spans);
    json_decref(x);
    json_decref(w);
}

Test(buf, drop_takes_own_bytes_and_spans_in_order_in_any_cut, .timeout = 10)
{
    static const char want[] = "abxyzcdWWe";
    for (size_t first = 0; first <= sizeof want - 1; first++) {
        json_t *x = json_string("xyz"), *w = json_string("WW");
        nipc_buf_t b;
        nipc__buf_init(&b);
        queue(&b, "abXcdWe", x, w);
        nipc__buf_drop(&b, first);
        expect_queue(&b, want + first);
        /* A span written whole is released at once; one written in part is kept. */
        cr_assert_eq(x->refcount, first >= 5 ? 1 : 2, "cut at %zu", first);
        cr_assert_eq(w->refcount, first >= 9 ? 1 : 2, "cut at %zu", first);
        size_t more = first < sizeof want - 1; /* and one more byte, where one is left */
        nipc__buf_drop(&b, more);
        expect_queue(&b, want + first + more);
        nipc__buf_free(&b);
        cr_assert_eq(x->refcount, 1);
        cr_assert_eq(w->refcount, 1);
        json_decref(x);
        json_decref(w);
    }
}

Test(buf, truncate_releases_the_spans_after_the_mark, .timeout = 10)
{
    json_t *x = json_string("xyz"), *w = json_string("WW");
    nipc_buf_t b;
    nipc__buf_init(&b);
    queue(&b, "aXb", x, w);
    size_t mark = b.len;
    queue(&b, "cWX", x, w);
    nipc__buf_truncate(&b, mark);
    expect_queue(&b, "axyzb");
    cr_assert_eq(x->refcount, 2);
    cr_assert_eq(w->refcount, 1);
    nipc__buf_truncate(&b, 0);
    expect_queue(&b, "");
    cr_assert_eq(x->refcount, 1);
    nipc__buf_free(&b);
    json_decref(x);
    json_decref(w);
}

Test(buf, append_queue_refers_again_or_copies, .timeout = 10)
{
    json_t *x = json_string("xyz");
    nipc_buf_t src, dst;
    nipc__buf_init(&src);
    nipc__buf_init(&dst);
    queue(&src, "0123X4", x, NULL);
    src.off = 1;
    cr_assert_eq(nipc__buf_append(&dst, "<", 1), 0);
    cr_assert_eq(nipc__buf_append_queue(&dst, &src, true), 0);
    cr_assert_eq(x->refcount, 3);
    cr_assert_eq(nipc__buf_append_queue(&dst, &src, false), 0);
    cr_assert_eq(x->refcount, 3);
    expect_queue(&dst, "<123xyz4123xyz4");
    cr_assert_eq(nipc__buf_size(&dst), 1 + 4 + 7);
    /* A failed allocation leaves the destination as it was. */
    nipc__buf_free(&dst);
    cr_assert_eq(x->refcount, 2);
    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__buf_append_queue(&dst, &src, true), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    cr_assert_eq(nipc__buf_queued(&dst), 0);
    cr_assert_eq(x->refcount, 2);
    cr_assert_eq(nipc__buf_append(&dst, "-", 1), 0);
    nipc__test_fail_alloc_after(1); /* the span list's first allocation */
    cr_assert_eq(nipc__buf_append_queue(&dst, &src, true), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    expect_queue(&dst, "-");
    cr_assert_eq(x->refcount, 2);
    nipc__buf_free(&dst);
    nipc__buf_free(&src);
    cr_assert_eq(x->refcount, 1);
    json_decref(x);
}

Test(buf, compact_keeps_spans_in_their_place, .timeout = 10)
{
    json_t *x = json_string("xyz");
    nipc_buf_t b;
    nipc__buf_init(&b);
    queue(&b, "skipabXc", x, NULL);
    b.off = 4;
    nipc__buf_compact(&b);
    cr_assert_eq(b.off, 0);
    expect_queue(&b, "abxyzc");
    nipc__buf_free(&b);
    json_decref(x);
}
