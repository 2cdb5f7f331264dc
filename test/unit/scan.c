/* SPDX-License-Identifier: MIT */
/*
 * The word-at-a-time digit helpers of the fast parser (core/scan.h) against a byte loop: the
 * length of a run of digits in eight bytes, for every length and every byte that can end
 * it, and the value of the run, with whatever follows it.
 */
#include "core/scan.h"

#include <criterion/criterion.h>

#include <string.h>

#ifdef NIPC_EIGHT_DIGITS

static uint64_t word(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Digits from a fixed sequence, so a failure repeats. */
static char digit(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (char)('0' + (*seed >> 16) % 10);
}

Test(scan, a_run_of_digits_and_its_value_in_eight_bytes, .timeout = 10)
{
    unsigned seed = 1;
    for (size_t n = 0; n <= 8; n++) {
        for (unsigned end = 0; end < 256; end++) {
            if (end >= '0' && end <= '9')
                continue;
            for (int round = 0; round < 8; round++) {
                char b[8];
                uint64_t want = 0;
                for (size_t i = 0; i < 8; i++) { /* after the end: anything, digits too */
                    seed = seed * 69069u + 1;
                    b[i] = round & 1 ? digit(&seed) : (char)(seed >> 24);
                }
                for (size_t i = 0; i < n; i++) {
                    b[i] = digit(&seed);
                    want = want * 10 + (uint64_t)(b[i] - '0');
                }
                if (n < 8)
                    b[n] = (char)end;
                uint64_t w = word(b);
                cr_assert_eq(digits_in8(w), n, "n %zu, end byte %u", n, end);
                if (n > 0 && n < 8)
                    cr_assert_eq(digits_value8(w, n), want, "n %zu, end byte %u", n, end);
                if (n == 8)
                    cr_assert_eq(digits8_value(w), want);
            }
        }
    }
}

#else

Test(scan, no_word_helpers_on_this_byte_order)
{
    cr_skip_test("the eight-byte digit helpers are little-endian only");
}

#endif
