/* SPDX-License-Identifier: MIT */
/*
 * ns per double for nipc's number writer (nipc__js_number, JavaScript's Number::toString) on
 * two sets of a million values: random finite bit patterns, and short decimals (1-6 digits
 * over 10^1-10^4, as 3.14 or 0.25). Best of 5 passes. With a directory argument it also
 * writes the values there (random.bin, short.bin, native doubles) for
 * bench/node/bench_number.js, which times Node's JSON.stringify on the same values:
 *
 *   build/bench/bench_number /tmp/nb && node bench/node/bench_number.js /tmp/nb
 *
 * Links the static library for the internal function; not part of the ctest suite.
 */
#include "core/core.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COUNT 1000000

static uint64_t state = 0x9e3779b97f4a7c15u;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void save(const char *dir, const char *name, const double *v)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(v, sizeof *v, COUNT, f) != COUNT) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void time_set(const char *name, const double *v)
{
    char out[64];
    size_t sink = 0;
    double best = INFINITY;
    for (int pass = 0; pass < 5; pass++) {
        double t0 = now_ns();
        for (size_t i = 0; i < COUNT; i++)
            sink += nipc__js_number(out, sizeof out, v[i]);
        double ns = (now_ns() - t0) / COUNT;
        best = ns < best ? ns : best;
    }
    printf("%-7s nipc__js_number %6.1f ns per double (%zu bytes written)\n", name, best, sink / 5);
}

int main(int argc, char **argv)
{
    double *random = malloc(COUNT * sizeof *random), *decimal = malloc(COUNT * sizeof *decimal);
    if (random == NULL || decimal == NULL)
        return 1;
    for (size_t i = 0; i < COUNT; i++) {
        uint64_t b;
        do
            b = next();
        while (((b >> 52) & 0x7ff) == 0x7ff); /* finite only */
        memcpy(&random[i], &b, sizeof b);
        static const double scale[] = {10, 100, 1000, 10000};
        uint64_t digits = 1 + next() % 999999;
        decimal[i] = (double)digits / scale[next() % 4];
    }
    if (argc > 1) {
        save(argv[1], "random.bin", random);
        save(argv[1], "short.bin", decimal);
    }
    time_set("random", random);
    time_set("short", decimal);
    free(random);
    free(decimal);
    return 0;
}
