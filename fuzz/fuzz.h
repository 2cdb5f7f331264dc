/* SPDX-License-Identifier: MIT */
/*
 * What the harnesses share: the libFuzzer entry point's prototype, a check that aborts with
 * a message (libFuzzer then saves the input as crash-*), a reader that takes bytes off the
 * front of the input, and exact copies that make a read past the end an ASan error.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput. With clang it links with libFuzzer
 * (-fsanitize=fuzzer); otherwise with replay.c, a main that runs each file it is given once.
 * Harnesses keep no state between inputs except what they build once (the TLS harness's
 * certificate), so that an input replays alike in either binary.
 */
#ifndef NIPC_FUZZ_H
#define NIPC_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_UNUSED __attribute__((unused))

/* A failed property: says which, then aborts, so that the input is kept as a crash. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input, consumed from the front. Past its end every byte reads as 0. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;

static inline FUZZ_UNUSED unsigned fuzz_byte(fuzz_in_t *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* Up to n bytes (fewer at the end): sets *len and returns where they start. */
static inline FUZZ_UNUSED const uint8_t *fuzz_take(fuzz_in_t *in, size_t n, size_t *len)
{
    const uint8_t *p = in->p;
    *len = n < in->n ? n : in->n;
    in->p += *len;
    in->n -= *len;
    return p;
}

/*
 * The bytes up to the next NUL (excluded) or the end, as a new NUL-terminated string: the
 * harnesses' way of taking strings from the input. The NUL is consumed. Free with free().
 */
static inline FUZZ_UNUSED char *fuzz_string(fuzz_in_t *in)
{
    const uint8_t *nul = memchr(in->p, 0, in->n);
    size_t len = nul != NULL ? (size_t)(nul - in->p) : in->n;
    char *s = malloc(len + 1);
    if (s == NULL)
        abort();
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len;
    in->n -= len;
    if (nul != NULL) {
        in->p++;
        in->n--;
    }
    return s;
}

/* An exact copy of p[0, n) in a block of its own (1 byte for n == 0). Free with free(). */
static inline FUZZ_UNUSED char *fuzz_copy(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* p[0, n) as printable text for a failure message, in a static buffer. */
static inline FUZZ_UNUSED const char *fuzz_show(const void *p, size_t n)
{
    static char text[4 * 300 + 32];
    const unsigned char *u = p;
    size_t k = 0, max = 300;
    for (size_t i = 0; i < n && i < max; i++) {
        if (u[i] >= 0x20 && u[i] < 0x7f && u[i] != '\\')
            text[k++] = (char)u[i];
        else
            k += (size_t)snprintf(text + k, sizeof text - k, "\\x%02x", u[i]);
    }
    if (n > max)
        k += (size_t)snprintf(text + k, sizeof text - k, "... (%zu bytes)", n);
    text[k] = '\0';
    return text;
}

#endif /* NIPC_FUZZ_H */
