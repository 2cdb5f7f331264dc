/* SPDX-License-Identifier: MIT */
/* Handler tables: on/once/off, wildcard order, and changes made while publishing (K4, S17). */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

/* Every call as "arg:type", in order. Each test runs in its own process. */
static char calls[512][48];
static int ncalls;
static nipc_events_t table;

static void setup(void)
{
    ncalls = 0;
    nipc__events_init(&table);
}

static void teardown(void)
{
    nipc__events_free(&table);
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 10);

static void record(const nipc_event_t *ev, void *arg)
{
    cr_assert_lt(ncalls, 512);
    snprintf(calls[ncalls++], sizeof calls[0], "%s:%s", (const char *)arg, ev->type);
}

static void other(const nipc_event_t *ev, void *arg)
{
    cr_assert_lt(ncalls, 512);
    snprintf(calls[ncalls++], sizeof calls[0], "other-%s:%s", (const char *)arg, ev->type);
}

static void publish(const char *type)
{
    nipc_event_t ev = {.type = type};
    nipc__events_publish(&table, &ev);
}

/* Checks the calls so far against a NULL-terminated list, then forgets them. */
static void expect_calls(const char *const *want)
{
    int n = 0;
    while (want[n] != NULL)
        n++;
    char got[1024] = "";
    for (int i = 0; i < ncalls; i++) {
        strncat(got, calls[i], sizeof got - strlen(got) - 2);
        strcat(got, " ");
    }
    cr_assert_eq(ncalls, n, "%d calls instead of %d: %s", ncalls, n, got);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(calls[i], want[i], "call %d: %s", i, got);
    ncalls = 0;
}

#define EXPECT(...) expect_calls((const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_NONE() expect_calls((const char *const[]){NULL})

Test(events, k4_handlers_run_in_registration_order)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), 0);
    cr_assert_eq(nipc__events_on(&table, "u", record, "x", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "c", false), 0);
    publish("t");
    EXPECT("a:t", "b:t", "c:t");
    publish("u");
    EXPECT("x:u");
    publish("nobody");
    EXPECT_NONE();
}

Test(events, publish_on_empty_table_is_a_no_op)
{
    publish("t");
    EXPECT_NONE();
    cr_assert_not(nipc__events_has(&table, "t"));
}

Test(events, s17_wildcard_runs_first_with_the_type)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "typed", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any1", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any2", false), 0);
    publish("t");
    EXPECT("any1:t", "any2:t", "typed:t");
    publish("error");
    EXPECT("any1:error", "any2:error");
}

Test(events, s17_wildcard_type_event_runs_wildcards_once)
{
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any", false), 0);
    publish(NIPC_EVENT_ANY);
    EXPECT("any:*");
}

static const nipc_event_t *seen_ev;
static void remember_event(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    seen_ev = ev;
}

Test(events, handler_gets_the_published_event)
{
    json_t *data = json_integer(5);
    nipc_event_t ev = {.type = "t", .data = data, .status = -3};
    cr_assert_eq(nipc__events_on(&table, "t", remember_event, NULL, false), 0);
    nipc__events_publish(&table, &ev);
    cr_assert_eq(seen_ev, &ev);
    cr_assert_eq(seen_ev->data, data);
    json_decref(data);
}

Test(events, k4_once_runs_once)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "once", true), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "on", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any-once", true), 0);
    publish("t");
    EXPECT("any-once:t", "once:t", "on:t");
    publish("t");
    EXPECT("on:t");
    cr_assert(nipc__events_has(&table, "t"));
    cr_assert_not(nipc__events_has(&table, NIPC_EVENT_ANY));
    /* A once handler that already ran cannot be removed any more. */
    cr_assert_eq(nipc__events_off(&table, "t", record, "once"), UV_ENOENT);
}

Test(events, k4_once_not_run_for_other_types)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "once", true), 0);
    publish("u");
    EXPECT_NONE();
    publish("t");
    EXPECT("once:t");
    cr_assert_not(nipc__events_has(&table, "t"));
}

Test(events, k4_off_removes_exactly_that_handler)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", other, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "u", record, "a", false), 0);
    cr_assert_eq(nipc__events_off(&table, "t", record, "a"), 0);
    publish("t");
    EXPECT("b:t", "other-a:t");
    publish("u");
    EXPECT("a:u");
    cr_assert_eq(nipc__events_off(&table, "t", record, "a"), UV_ENOENT);
    cr_assert_eq(nipc__events_off(&table, "v", record, "a"), UV_ENOENT);
}

Test(events, k4_off_with_null_cb_removes_every_handler_of_the_type)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", other, "b", true), 0);
    cr_assert_eq(nipc__events_on(&table, "u", record, "c", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any", false), 0);
    cr_assert_eq(nipc__events_off(&table, "t", NULL, NULL), 0);
    cr_assert_not(nipc__events_has(&table, "t"));
    publish("t");
    EXPECT("any:t");
    publish("u");
    EXPECT("any:u", "c:u");
    cr_assert_eq(nipc__events_off(&table, "t", NULL, NULL), UV_ENOENT);
    cr_assert_eq(nipc__events_off(&table, NIPC_EVENT_ANY, NULL, NULL), 0);
    publish("u");
    EXPECT("c:u");
}

Test(events, k4_off_of_nothing_is_enoent)
{
    cr_assert_eq(nipc__events_off(&table, "t", record, "a"), UV_ENOENT);
    cr_assert_eq(nipc__events_off(&table, "t", NULL, NULL), UV_ENOENT);
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert_eq(nipc__events_off(&table, "t", record, "b"), UV_ENOENT);
    cr_assert_eq(nipc__events_off(&table, "t", other, "a"), UV_ENOENT);
    publish("t");
    EXPECT("a:t");
}

Test(events, k4_bad_arguments_are_einval)
{
    cr_assert_eq(nipc__events_on(&table, NULL, record, "a", false), UV_EINVAL);
    cr_assert_eq(nipc__events_on(&table, "t", NULL, "a", false), UV_EINVAL);
    cr_assert_eq(nipc__events_off(&table, NULL, record, "a"), UV_EINVAL);
    cr_assert_not(nipc__events_has(&table, "t"));
}

Test(events, on_out_of_memory_leaves_table_unchanged)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    nipc__test_fail_alloc_after(1);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), UV_ENOMEM);
    nipc__test_fail_alloc_after(0);
    publish("t");
    EXPECT("a:t");
    cr_assert_eq(nipc__events_on(&table, "t", record, "c", false), 0);
    publish("t");
    EXPECT("a:t", "c:t");
}

Test(events, k4_has_follows_on_and_off)
{
    cr_assert_not(nipc__events_has(&table, "t"));
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert(nipc__events_has(&table, "t"));
    cr_assert_not(nipc__events_has(&table, "u"));
    cr_assert_not(nipc__events_has(&table, NIPC_EVENT_ANY));
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any", false), 0);
    cr_assert(nipc__events_has(&table, NIPC_EVENT_ANY));
    cr_assert_eq(nipc__events_off(&table, "t", record, "a"), 0);
    cr_assert_not(nipc__events_has(&table, "t"));
}

/* ---- changes made by handlers while an event is published ----------------------------- */

static void remove_self(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    cr_assert_eq(nipc__events_off(&table, ev->type, remove_self, arg), 0);
    cr_assert_not(nipc__events_has(&table, "self-only"));
}

Test(events, k4_handler_removes_itself)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", remove_self, "self", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "c", false), 0);
    publish("t");
    EXPECT("a:t", "self:t", "c:t");
    publish("t");
    EXPECT("a:t", "c:t");
}

Test(events, k4_last_handler_removes_itself)
{
    cr_assert_eq(nipc__events_on(&table, "self-only", remove_self, "self", false), 0);
    publish("self-only");
    EXPECT("self:self-only");
    publish("self-only");
    EXPECT_NONE();
    /* The table still works after its only entry went away mid-publish. */
    cr_assert_eq(nipc__events_on(&table, "t", record, "a", false), 0);
    publish("t");
    EXPECT("a:t");
}

static void remove_later(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    nipc__events_off(&table, "t", record, "later");
}

Test(events, k4_handler_removes_a_later_handler)
{
    cr_assert_eq(nipc__events_on(&table, "t", remove_later, "remover", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "later", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "d", false), 0);
    publish("t");
    EXPECT("remover:t", "b:t", "d:t");
    publish("t");
    EXPECT("remover:t", "b:t", "d:t");
}

static void remove_earlier(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    nipc__events_off(&table, "t", record, "first");
}

Test(events, k4_removing_an_earlier_handler_skips_no_one)
{
    cr_assert_eq(nipc__events_on(&table, "t", record, "first", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", remove_earlier, "remover", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "next", false), 0);
    publish("t");
    EXPECT("first:t", "remover:t", "next:t");
    publish("t");
    EXPECT("remover:t", "next:t");
}

static void remove_all_of_type(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    nipc__events_off(&table, ev->type, NULL, NULL);
}

Test(events, k4_handler_removes_every_handler_of_its_type)
{
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", remove_all_of_type, "wipe", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), 0);
    publish("t");
    EXPECT("any:t", "wipe:t");
    cr_assert_not(nipc__events_has(&table, "t"));
    publish("t");
    EXPECT("any:t");
}

static void add_handler(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    if (strcmp(ev->type, "t") == 0 && strcmp((const char *)arg, "adder") == 0)
        cr_assert_eq(nipc__events_on(&table, "t", record, "new", false), 0);
}

Test(events, k4_handler_added_during_publish_runs_from_the_next_event)
{
    cr_assert_eq(nipc__events_on(&table, "t", add_handler, "adder", true), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "b", false), 0);
    publish("t");
    EXPECT("adder:t", "b:t");
    publish("t");
    EXPECT("b:t", "new:t");
}

static void wildcard_adds_typed(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    cr_assert_eq(nipc__events_on(&table, ev->type, record, "late-typed", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "late-any", false), 0);
    nipc__events_off(&table, NIPC_EVENT_ANY, wildcard_adds_typed, arg);
}

Test(events, s17_handlers_added_by_a_wildcard_wait_for_the_next_event)
{
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, wildcard_adds_typed, "w", false), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "typed", false), 0);
    publish("t");
    EXPECT("w:t", "typed:t");
    publish("t");
    EXPECT("late-any:t", "typed:t", "late-typed:t");
}

static void swap_tail(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    /* Remove the entry that was last when the publish began, then append a new one. */
    nipc__events_off(&table, "t", record, "tail");
    cr_assert_eq(nipc__events_on(&table, "t", record, "after", false), 0);
}

Test(events, k4_removing_the_last_entry_still_stops_the_walk_there)
{
    cr_assert_eq(nipc__events_on(&table, "t", swap_tail, "swap", true), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "tail", false), 0);
    publish("t");
    EXPECT("swap:t");
    publish("t");
    EXPECT("after:t");
}

static void publish_inner(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    publish("inner");
}

Test(events, k4_nested_publish_runs_inside_the_handler)
{
    cr_assert_eq(nipc__events_on(&table, "outer", record, "a", false), 0);
    cr_assert_eq(nipc__events_on(&table, "outer", publish_inner, "nest", false), 0);
    cr_assert_eq(nipc__events_on(&table, "inner", record, "i", false), 0);
    cr_assert_eq(nipc__events_on(&table, NIPC_EVENT_ANY, record, "any", false), 0);
    cr_assert_eq(nipc__events_on(&table, "outer", record, "b", false), 0);
    publish("outer");
    EXPECT("any:outer", "a:outer", "nest:outer", "any:inner", "i:inner", "b:outer");
}

static void once_republishes(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    publish(ev->type);
}

Test(events, k4_once_handler_not_rerun_by_nested_publish)
{
    cr_assert_eq(nipc__events_on(&table, "t", once_republishes, "once", true), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "p", false), 0);
    publish("t");
    EXPECT("once:t", "p:t", "p:t");
    publish("t");
    EXPECT("p:t");
}

static void inner_removes_outer(const nipc_event_t *ev, void *arg)
{
    record(ev, arg);
    /* Both entries belong to the outer walk, which is still running. */
    cr_assert_eq(nipc__events_off(&table, "outer", publish_inner, "nest"), 0);
    cr_assert_eq(nipc__events_off(&table, "outer", record, "b"), 0);
    cr_assert_eq(nipc__events_off(&table, "inner", inner_removes_outer, arg), 0);
}

Test(events, k4_nested_publish_removing_outer_entries_is_safe)
{
    /* Under ASan, freeing an entry the outer walk still holds would be reported. */
    cr_assert_eq(nipc__events_on(&table, "outer", publish_inner, "nest", false), 0);
    cr_assert_eq(nipc__events_on(&table, "inner", inner_removes_outer, "rm", false), 0);
    cr_assert_eq(nipc__events_on(&table, "outer", record, "b", false), 0);
    cr_assert_eq(nipc__events_on(&table, "outer", record, "c", false), 0);
    publish("outer");
    EXPECT("nest:outer", "rm:inner", "c:outer");
    publish("outer");
    EXPECT("c:outer");
    publish("inner");
    EXPECT_NONE();
}

Test(events, k4_many_handlers_keep_order_after_removals)
{
    static char names[300][8];
    for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "%d", i);
        cr_assert_eq(nipc__events_on(&table, "t", record, names[i], false), 0);
    }
    for (int i = 0; i < 300; i += 2)
        cr_assert_eq(nipc__events_off(&table, "t", record, names[i]), 0);
    publish("t");
    cr_assert_eq(ncalls, 150);
    for (int i = 0; i < 150; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d:t", 2 * i + 1);
        cr_assert_str_eq(calls[i], want);
    }
    ncalls = 0;
    /* Appending after removals at the tail still works. */
    cr_assert_eq(nipc__events_off(&table, "t", record, names[299]), 0);
    cr_assert_eq(nipc__events_on(&table, "t", record, "end", false), 0);
    publish("t");
    cr_assert_eq(ncalls, 150);
    cr_assert_str_eq(calls[149], "end:t");
}

/* Forty types over the eight chains (several share one), interleaved with wildcards: each
 * publish runs the wildcards and exactly its type's handlers, in registration order, and
 * so again after removals have compacted the table and rebuilt the chains. */
Test(events, every_type_runs_only_its_own_handlers_whatever_chain_it_shares)
{
    static char types[40][8], tags[40][3][16];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 40; i++) {
            snprintf(types[i], sizeof types[i], "ev%d", i);
            snprintf(tags[i][round], sizeof tags[i][round], "%d.%d", i, round);
            cr_assert_eq(nipc__events_on(&table, types[i], record, tags[i][round], false), 0);
        }
        cr_assert_eq(nipc__events_on(&table, "*", other, tags[round][round], false), 0);
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 40; i++) {
            publish(types[i]);
            char want[6][32];
            int n = 0;
            for (int r = 0; r < 3; r++) /* the wildcards, registered in rounds 0, 1, 2 */
                snprintf(want[n++], sizeof want[0], "other-%d.%d:%s", r, r, types[i]);
            for (int r = pass; r < 3; r++) /* pass 1: round 0's handlers are gone */
                snprintf(want[n++], sizeof want[0], "%d.%d:%s", i, r, types[i]);
            cr_assert_eq(ncalls, n, "%s: %d calls, want %d", types[i], ncalls, n);
            for (int k = 0; k < n; k++)
                cr_assert_str_eq(calls[k], want[k], "%s, call %d", types[i], k);
            ncalls = 0;
        }
        for (int i = 0; pass == 0 && i < 40; i++)
            cr_assert_eq(nipc__events_off(&table, types[i], record, tags[i][0]), 0);
    }
}
