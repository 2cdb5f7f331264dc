/* SPDX-License-Identifier: MIT */
/*
 * The payload of the `doubles` test (bench/README.md): event i carries {"i":i,"d":D} with D
 * the (i mod DOUBLES_EVENTS)-th row of a fixed pool of eight doubles each, all in [0.5, 1),
 * as Math.random() makes them (53 random bits), so most need 16 digits. Every program
 * builds the same pool from the same xorshift32 generator (bench/node/bench_nodeipc.js has
 * it in JavaScript), so every implementation carries the same bytes.
 */
#ifndef NIPC_BENCH_DOUBLES_H
#define NIPC_BENCH_DOUBLES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOUBLES_EVENTS 1024 /* rows in the pool */
#define DOUBLES_PER_EVENT 8
#define DOUBLES_SEED 2463534242u

/* pool[k * DOUBLES_PER_EVENT + j]: double j of row k. */
static inline void doubles_pool(double pool[DOUBLES_EVENTS * DOUBLES_PER_EVENT])
{
    uint32_t s = DOUBLES_SEED;
    for (int k = 0; k < DOUBLES_EVENTS * DOUBLES_PER_EVENT; k++) {
        uint32_t w[2];
        for (int h = 0; h < 2; h++) {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            w[h] = s;
        }
        /* (2^52 + 52 random bits) / 2^53, exact in a double. */
        uint64_t m = (uint64_t)1 << 52 | (uint64_t)(w[0] >> 12) << 32 | w[1];
        pool[k] = (double)m / 9007199254740992.0;
    }
}

/*
 * Row k of the pool as JavaScript writes it, "[0.d...,...]", for the programs that send
 * prebuilt text (raw, zmq); returns its length (at most 200 bytes). Found once, before the
 * measured part, the slow way: the fewest digits printf rounds to that read back. That is
 * JavaScript's choice for these values, whose rounding intervals are symmetric (no power of
 * two among them but 0.5, which one digit names), so the nearest decimal of a length is
 * the one that reads back if any does.
 */
static inline size_t doubles_row_text(char *dst, const double *row)
{
    char *w = dst;
    *w++ = '[';
    for (int j = 0; j < DOUBLES_PER_EVENT; j++) {
        char e[32];
        for (int p = 1; p <= 17; p++) {
            snprintf(e, sizeof e, "%.*e", p - 1, row[j]);
            if (strtod(e, NULL) == row[j])
                break;
        }
        const char *x = strchr(e, 'e');
        if (x == NULL || strcmp(x, "e-01") != 0)
            abort(); /* not in [0.5, 1): doubles_pool() changed without this */
        if (j > 0)
            *w++ = ',';
        *w++ = '0';
        *w++ = '.';
        for (const char *q = e; q < x; q++)
            if (*q != '.')
                *w++ = *q;
    }
    *w++ = ']';
    return (size_t)(w - dst);
}

/*
 * The text after "{\"type\":\"m\",\"data\":{\"i\":N" of every row's event, for the programs
 * that send prebuilt text: ",\"d\":[...]" then `end` (the frame's closing bytes), row k at
 * text + k * DOUBLES_TAIL, its length in len[k]. text holds DOUBLES_EVENTS * DOUBLES_TAIL.
 */
#define DOUBLES_TAIL 256
static inline void doubles_tails(char *text, size_t len[DOUBLES_EVENTS], const char *end)
{
    double *pool = malloc(sizeof(double) * DOUBLES_EVENTS * DOUBLES_PER_EVENT);
    if (pool == NULL)
        abort();
    doubles_pool(pool);
    for (int k = 0; k < DOUBLES_EVENTS; k++) {
        char *w = text + (size_t)k * DOUBLES_TAIL;
        size_t n = 0;
        memcpy(w, ",\"d\":", 5);
        n += 5;
        n += doubles_row_text(w + n, pool + k * DOUBLES_PER_EVENT);
        memcpy(w + n, end, strlen(end));
        len[k] = n + strlen(end);
    }
    free(pool);
}

#endif
