/* SPDX-License-Identifier: MIT */
/*
 * The codec's share of an echo, in process, for each payload shape: what one side of the echo
 * benchmark does per event without the sockets. Event N of a shape is its value with "i" set
 * to N, encoded as a frame (the sender's work), decoded through one decode state that keeps
 * the previous event's tree as a connection does, and its data encoded again (the echo).
 *
 *   build/bench/bench_codec bench/shapes.json [--count N] [--only NAME]
 *
 * prints, per shape, ns per event for encoding, decoding and the two together, best of 5
 * passes (decode+enc: the decode and the echo's encode). Under `valgrind --tool=callgrind` (with
 * --count small) it gives instructions per event without the noise of a shared machine. Every
 * decoded event is checked against what was sent (json_equal), outside the timed part. Links the
 * static library for the internal codec; not part of the ctest suite.
 */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUES 16

typedef struct shape {
    const char *name;
    json_t *values[MAX_VALUES]; /* event N carries values[N mod n], "i" set to N */
    size_t n;
} shape_t;

static void die(const char *what)
{
    fprintf(stderr, "bench_codec: %s\n", what);
    exit(1);
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* A shape is {"name": ..., "value": v} or {"name": ..., "values": [v, ...]}. */
static void load_shape(shape_t *s, json_t *def)
{
    json_t *one = json_object_get(def, "value"), *many = json_object_get(def, "values");
    s->name = json_string_value(json_object_get(def, "name"));
    if (s->name == NULL || (one == NULL) == (many == NULL))
        die("a shape needs a name and a value or values");
    if (one != NULL) {
        s->values[s->n++] = json_deep_copy(one);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach (many, i, v) {
        if (s->n == MAX_VALUES)
            die("too many values in a shape");
        s->values[s->n++] = json_deep_copy(v);
    }
}

/*
 * One pass of `count` events: ns for the whole pass; with `decode`, each frame is also decoded
 * and its data encoded again (the echo), else only encoded. The decode's cost is the
 * difference of the two, so the clock is read twice a pass, not per event.
 */
static double pass(const shape_t *s, long count, bool decode, bool check)
{
    nipc_buf_t frame, echo;
    nipc__buf_init(&frame);
    nipc__buf_init(&echo);
    json_t *tree = NULL; /* the decode state's reused tree */
    double t0 = now_ns();
    for (long i = 0; i < count; i++) {
        json_t *v = s->values[(size_t)i % s->n];
        json_integer_set(json_object_get(v, "i"), i);
        nipc__buf_reset(&frame);
        if (nipc__msg_encode(&frame, "e", v, false, "\f", 1) != 0)
            die("encode failed");
        if (!decode)
            continue;
        nipc_msg_t m;
        nipc__msg_decode_into(&m, frame.data + frame.off, nipc__buf_size(&frame) - 1, false, &tree);
        if (m.err != 0 || m.data == NULL)
            die("decode failed");
        nipc__buf_reset(&echo);
        if (nipc__msg_encode(&echo, "e", m.data, false, "\f", 1) != 0)
            die("echo encode failed");
        if (check && !json_equal(m.data, v))
            die("decoded data differs from what was sent");
        nipc__msg_done(&m, &tree);
    }
    double t = now_ns() - t0;
    json_decref(tree);
    nipc__buf_free(&frame);
    nipc__buf_free(&echo);
    return t;
}

static double best_of(const shape_t *s, long count, bool decode)
{
    double best = INFINITY;
    for (int p = 0; p < 5; p++) {
        double t = pass(s, count, decode, false);
        best = t < best ? t : best;
    }
    return best / (double)count;
}

int main(int argc, char **argv)
{
    long count = 200000;
    const char *only = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (file == NULL)
            file = argv[i];
        else
            die("usage: bench_codec SHAPES.json [--count N] [--only NAME]");
    }
    if (file == NULL || count <= 0)
        die("usage: bench_codec SHAPES.json [--count N] [--only NAME]");
    json_error_t e;
    json_t *defs = json_load_file(file, 0, &e);
    if (!json_is_array(defs))
        die(defs ? "the shapes file is not an array" : e.text);
    printf("%-12s %10s %10s %10s %10s\n", "shape", "bytes", "encode ns", "decode+enc", "total ns");
    size_t k;
    json_t *def;
    json_array_foreach (defs, k, def) {
        shape_t s = {0};
        load_shape(&s, def);
        if (only != NULL && strcmp(only, s.name) != 0)
            continue;
        nipc_buf_t b;
        nipc__buf_init(&b);
        if (nipc__msg_encode(&b, "e", s.values[0], false, "\f", 1) != 0)
            die("encode failed");
        size_t bytes = nipc__buf_size(&b);
        nipc__buf_free(&b);
        pass(&s, count, true, true); /* every event checked once, and warm */
        double enc = best_of(&s, count, false), all = best_of(&s, count, true);
        printf("%-12s %10zu %10.0f %10.0f %10.0f\n", s.name, bytes, enc, all - enc, all);
        for (size_t i = 0; i < s.n; i++)
            json_decref(s.values[i]);
    }
    json_decref(defs);
    return 0;
}
