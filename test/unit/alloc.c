/* SPDX-License-Identifier: MIT */
/* The library's allocator: the failure countdown and the live-block count the hostile-peer
 * tests use to show that memory returns to its level. */
#include "core/core.h"

#include <criterion/criterion.h>

Test(alloc, live_blocks_count_what_is_allocated_and_not_freed)
{
    nipc__test_count_blocks(true);
    void *a = nipc__malloc(10), *b = nipc__calloc(3, 4), *c = nipc__realloc(NULL, 5);
    cr_assert_eq(nipc__test_live_blocks(), 3);
    c = nipc__realloc(c, 500); /* moving a block is not a new one */
    cr_assert_eq(nipc__test_live_blocks(), 3);
    char *d = nipc__strdup("x");
    cr_assert_eq(nipc__test_live_blocks(), 4);
    nipc__free(NULL);
    nipc__free(a);
    nipc__free(b);
    nipc__free(c);
    nipc__free(d);
    cr_assert_eq(nipc__test_live_blocks(), 0);
    nipc__test_count_blocks(false);
    a = nipc__malloc(1);
    nipc__free(a);
    cr_assert_eq(nipc__test_live_blocks(), 0, "not counted while off");
}

Test(alloc, a_failed_allocation_is_not_counted)
{
    nipc__test_count_blocks(true);
    nipc__test_fail_alloc_after(1);
    cr_assert_null(nipc__malloc(8));
    cr_assert_eq(nipc__test_live_blocks(), 0);
    void *p = nipc__malloc(8);
    cr_assert_not_null(p, "only the n-th fails");
    nipc__free(p);
    nipc__test_count_blocks(false);
}

/* Threads allocate too (a mailbox's poster, jansson anywhere): until a test uses a hook, an
 * allocation touches no counter, so nothing is counted before the first hook. */
Test(alloc, nothing_is_counted_before_a_hook_is_used)
{
    for (int i = 0; i < 10; i++)
        nipc__free(nipc__malloc(16));
    cr_assert_eq(nipc__test_allocs(), 0);
    nipc__free(nipc__malloc(16));
    cr_assert_eq(nipc__test_allocs(), 1, "counted from the first hook on");
}
