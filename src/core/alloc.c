/* SPDX-License-Identifier: MIT */
/*
 * The library's one allocator (jansson's too, see nipc_new). Tests make the n-th allocation
 * fail through nipc__test_fail_alloc_after() to walk the out-of-memory paths; it is not part
 * of the public ABI (the tests link the static library). A test routes another allocator
 * (OpenSSL's) through the same countdown with nipc__test_alloc_should_fail(), so the n-th
 * allocation of either fails; the library itself never takes over a host's OpenSSL
 * allocator.
 *
 * Threads: nipc allocates on other threads than the loop's too (a mailbox's poster, and
 * jansson, whose allocator this is, wherever the application builds JSON). Until a test
 * uses one of the hooks below, an allocation reads one atomic flag and touches nothing
 * else, so threads never race here; the counters behind the hooks are plain globals, for
 * tests that allocate from one thread while they count.
 */
#include "core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_bool hooked; /* a test hook was used in this process: count every allocation */
static unsigned long fail_countdown;
static unsigned long fail_run; /* allocations still to fail once the countdown is out */
static unsigned long allocs;   /* every allocation counted down, failed or not */
static bool failed;            /* the countdown reached its allocation since it was last set */
static bool counting;          /* off unless a test turns it on: no cost but a branch */
static long live_blocks;       /* malloc/calloc/realloc(NULL) less free(non-NULL), while counting */

static void hook(void)
{
    atomic_store_explicit(&hooked, true, memory_order_relaxed);
}

static bool is_hooked(void)
{
    return atomic_load_explicit(&hooked, memory_order_relaxed);
}

void nipc__test_count_blocks(bool on)
{
    hook();
    counting = on;
    live_blocks = 0;
}

long nipc__test_live_blocks(void)
{
    return live_blocks;
}

static void *counted(void *p)
{
    if (p != NULL && is_hooked() && counting)
        live_blocks++;
    return p;
}

void nipc__test_fail_allocs(unsigned long n, unsigned long count)
{
    hook();
    fail_countdown = n;
    fail_run = n != 0 && count > 0 ? count - 1 : 0;
    failed = false;
}

void nipc__test_fail_alloc_after(unsigned long n)
{
    nipc__test_fail_allocs(n, 1);
}

bool nipc__test_alloc_failed(void)
{
    return failed;
}

unsigned long nipc__test_allocs(void)
{
    hook();
    return allocs;
}

bool nipc__test_alloc_should_fail(void)
{
    hook();
    allocs++;
    if (fail_countdown == 0 || --fail_countdown > 0)
        return false;
    if (fail_run > 0) {
        fail_run--;
        fail_countdown = 1; /* the next one fails too */
    }
    failed = true;
    return true;
}

static bool should_fail(void)
{
    return is_hooked() && nipc__test_alloc_should_fail();
}

void *nipc__malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return counted(malloc(n ? n : 1));
}

void *nipc__calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return counted(calloc(count ? count : 1, size ? size : 1));
}

void *nipc__realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    void *q = realloc(p, n ? n : 1);
    return p == NULL ? counted(q) : q;
}

void nipc__free(void *p)
{
    if (p != NULL && is_hooked() && counting)
        live_blocks--;
    free(p);
}

char *nipc__strndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *d = nipc__malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *nipc__strdup(const char *s)
{
    return s == NULL ? NULL : nipc__strndup(s, strlen(s));
}
