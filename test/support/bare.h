/* SPDX-License-Identifier: MIT */
/*
 * The part of Criterion's API that the thread tests use (TestSuite, Test,
 * ParameterizedTestParameters, ParameterizedTest, cr_make_param_array, cr_assert*), and a
 * main() that runs every test once, one after another in this process, each between its
 * suite's init and fini. Only the tsan tree builds with it (NIPC_TEST_BARE, the tsan preset):
 * Criterion cannot start under ThreadSanitizer (Snaipe/Criterion#274: BoxFort maps its
 * shared arena at a random fixed address, where TSan's memory layout refuses a mapping, and
 * the runner aborts with "Could not initialize inheritable arena"). The same test sources
 * build with Criterion everywhere else.
 *
 * A failed assertion prints "Assertion Failed" (the line ctest fails a test on) and ends the
 * process with status 1; a suite's .timeout is an alarm() whose signal ends it too.
 */
#ifndef NIPC_TEST_BARE_H
#define NIPC_TEST_BARE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct criterion_test_params {
    void *params;
    size_t size;
    size_t length;
};

#define cr_make_param_array(type, arr, n)                                                          \
    ((struct criterion_test_params){.params = (arr), .size = sizeof(type), .length = (n)})

typedef struct bare_suite {
    void (*init)(void);
    void (*fini)(void);
    unsigned timeout; /* seconds; 0: none */
} bare_suite_t;

typedef struct bare_test {
    const char *suite;
    const char *name;
    const bare_suite_t *cfg;
    void (*fn)(void);
    void (*pfn)(void *param);
    struct criterion_test_params (*params)(void);
} bare_test_t;

#define BARE_MAX_TESTS 128
static bare_test_t bare_tests_[BARE_MAX_TESTS];
static int bare_count_;
static const bare_test_t *bare_running_;

static __attribute__((unused)) void bare_register_(bare_test_t t)
{
    if (bare_count_ == BARE_MAX_TESTS) {
        fprintf(stderr, "bare.h: more than %d tests\n", BARE_MAX_TESTS);
        exit(2);
    }
    bare_tests_[bare_count_++] = t;
}

#define TestSuite(name, ...) static const bare_suite_t bare_suite_##name = {__VA_ARGS__}

#define Test(suite, name)                                                                          \
    static void bare_fn_##suite##_##name(void);                                                    \
    __attribute__((constructor)) static void bare_reg_##suite##_##name(void)                       \
    {                                                                                              \
        bare_register_((bare_test_t){#suite, #name, &bare_suite_##suite, bare_fn_##suite##_##name, \
                                     NULL, NULL});                                                 \
    }                                                                                              \
    static void bare_fn_##suite##_##name(void)

#define ParameterizedTestParameters(suite, name)                                                   \
    static struct criterion_test_params bare_params_##suite##_##name(void)

#define ParameterizedTest(param, suite, name)                                                      \
    static void bare_pfn_##suite##_##name(param);                                                  \
    static void bare_thunk_##suite##_##name(void *p)                                               \
    {                                                                                              \
        bare_pfn_##suite##_##name(p);                                                              \
    }                                                                                              \
    __attribute__((constructor)) static void bare_reg_##suite##_##name(void)                       \
    {                                                                                              \
        bare_register_((bare_test_t){#suite, #name, &bare_suite_##suite, NULL,                     \
                                     bare_thunk_##suite##_##name, bare_params_##suite##_##name});  \
    }                                                                                              \
    static void bare_pfn_##suite##_##name(param)

/* The message's format comes from the test, through the assertion macros, and ends with an
 * extra "" argument that it never reads (it lets a message be absent). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static __attribute__((unused, noreturn)) void bare_fail_(const char *file, int line,
                                                         const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n[----]   ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n[FAIL] %s::%s\n", bare_running_ ? bare_running_->suite : "?",
            bare_running_ ? bare_running_->name : "?");
    exit(1);
}
#pragma GCC diagnostic pop

#define bare_check_(cond, expr, ...)                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            bare_fail_(__FILE__, __LINE__, expr, __VA_ARGS__);                                     \
    } while (0)
#define bare_cmp_(a, op, b, ...) bare_check_((a)op(b), #a " " #op " " #b, __VA_ARGS__)
#define bare_one_(cond, ...) bare_check_((cond), #cond, __VA_ARGS__)
#define bare_null_(p, ...) bare_check_((p) == NULL, #p " is NULL", __VA_ARGS__)
#define bare_not_null_(p, ...) bare_check_((p) != NULL, #p " is not NULL", __VA_ARGS__)
#define bare_str_eq_(a, b, ...) bare_check_(strcmp((a), (b)) == 0, #a " equals " #b, __VA_ARGS__)

#define cr_assert(...) bare_one_(__VA_ARGS__, "")
#define cr_assert_eq(a, ...) bare_cmp_(a, ==, __VA_ARGS__, "")
#define cr_assert_neq(a, ...) bare_cmp_(a, !=, __VA_ARGS__, "")
#define cr_assert_gt(a, ...) bare_cmp_(a, >, __VA_ARGS__, "")
#define cr_assert_geq(a, ...) bare_cmp_(a, >=, __VA_ARGS__, "")
#define cr_assert_lt(a, ...) bare_cmp_(a, <, __VA_ARGS__, "")
#define cr_assert_leq(a, ...) bare_cmp_(a, <=, __VA_ARGS__, "")
#define cr_assert_null(...) bare_null_(__VA_ARGS__, "")
#define cr_assert_not_null(...) bare_not_null_(__VA_ARGS__, "")
#define cr_assert_str_eq(a, ...) bare_str_eq_(a, __VA_ARGS__, "")

/* Criterion's options (--jobs 1 from ctest) are accepted and ignored. */
int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int n = 0;
    for (int i = 0; i < bare_count_; i++) {
        const bare_test_t *t = &bare_tests_[i];
        struct criterion_test_params ps = {NULL, 0, 1};
        if (t->params != NULL)
            ps = t->params();
        for (size_t k = 0; k < ps.length; k++) {
            bare_running_ = t;
            alarm(t->cfg->timeout);
            if (t->cfg->init != NULL)
                t->cfg->init();
            if (t->pfn != NULL)
                t->pfn((char *)ps.params + k * ps.size);
            else
                t->fn();
            if (t->cfg->fini != NULL)
                t->cfg->fini();
            alarm(0);
            printf("[PASS] %s::%s\n", t->suite, t->name);
            fflush(stdout);
            n++;
        }
    }
    printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: 0 | Crashing: 0\n", n, n);
    return 0;
}

#endif /* NIPC_TEST_BARE_H */
