/* SPDX-License-Identifier: MIT */
/*
 * The bytes of the `raw` test (bench/README.md): the client writes --count writes of --size
 * bytes each, and the stream they make has at offset k the byte PATTERN_BASE + k mod
 * PATTERN_PERIOD, all printable ASCII, so that node-ipc's round trip through a utf8 string
 * keeps them. A sender takes write i from one buffer of size + PATTERN_PERIOD bytes, at
 * offset i * size mod PATTERN_PERIOD. The receiver, which sees reads and not writes, checks
 * the first byte of every write and the last byte of every read: as the period (a prime)
 * divides none of the sizes measured, a lost, repeated or swapped write shifts a byte it
 * checks, and a read longer than the stream fails too. Phases advance by an add and a
 * compare, not a division, so the check costs all three programs (bench_nipc, bench_raw,
 * bench/node/bench_nodeipc.js, which has its twin in JavaScript) a few cycles per write.
 */
#ifndef NIPC_BENCH_PATTERN_H
#define NIPC_BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define PATTERN_PERIOD 89u
#define PATTERN_BASE '!'

/* (phase + step) mod PATTERN_PERIOD, both below it. */
static inline unsigned pattern_advance(unsigned phase, unsigned step)
{
    phase += step;
    return phase >= PATTERN_PERIOD ? phase - PATTERN_PERIOD : phase;
}

/* The stream from offset 0: n bytes at p. A sender allocates size + PATTERN_PERIOD. */
static inline void pattern_fill(char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        p[k] = (char)(PATTERN_BASE + k % PATTERN_PERIOD);
}

/* The receiver's position in the stream of `total` bytes, written `size` bytes at a time. */
typedef struct pattern_rx {
    uint64_t size, total;
    uint64_t off;   /* bytes received */
    uint64_t next;  /* offset of the next write's first byte */
    unsigned phase; /* next mod PATTERN_PERIOD */
    unsigned step;  /* size mod PATTERN_PERIOD */
} pattern_rx_t;

static inline void pattern_rx_init(pattern_rx_t *rx, uint64_t size, uint64_t count)
{
    *rx = (pattern_rx_t){.size = size, .total = size * count};
    rx->step = (unsigned)(size % PATTERN_PERIOD);
}

/* The next n bytes of the stream, at p: 0, or -1 when a byte is out of place or the stream
 * is longer than total. */
static inline int pattern_check(pattern_rx_t *rx, const char *p, size_t n)
{
    uint64_t end = rx->off + n;
    if (end > rx->total)
        return -1;
    for (; rx->next < end; rx->next += rx->size) {
        if (p[rx->next - rx->off] != (char)(PATTERN_BASE + rx->phase))
            return -1;
        rx->phase = pattern_advance(rx->phase, rx->step);
    }
    if (n > 0 && p[n - 1] != (char)(PATTERN_BASE + (end - 1) % PATTERN_PERIOD))
        return -1;
    rx->off = end;
    return 0;
}

#endif
