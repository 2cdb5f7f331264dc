/* SPDX-License-Identifier: MIT */
/*
 * The codec's share of an echo, in process, for each payload shape: what one side of the echo
 * benchmark does per event without the sockets. Event N of a shape is its value with "i" set
 * to N, encoded as a frame (the sender's work), decoded through one decode state that keeps
 * the previous event's tree as a connection does, and its data encoded again (the echo).
 *
 *   build/bench/bench_codec bench/shapes.json [--count N] [--only NAME]
 *
 * (bench/shapes.json as bench/shapes.h reads it)
 *
 * prints, per shape, ns per event for encoding, decoding and the two together (decode+enc:
 * the decode and the echo's encode), best of 5 passes (--passes K). Every decoded event is
 * checked against what was sent (json_equal) in a first pass that is not timed.
 *
 * With --pass enc or --pass full it makes one pass of that kind and nothing else (no check, no
 * output), for bench/codec_ir.sh, which runs it under callgrind to count instructions per event
 * without the noise of a shared machine. Links the static library for the internal codec; not
 * part of the ctest suite.
 */
#include "core/core.h"
#include "shapes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        json_t *v = s->value[(size_t)i % s->n];
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

static int passes = 5;

#define USAGE                                                                                      \
    "usage: bench_codec SHAPES.json [--count N] [--only NAME] [--passes K] [--pass enc|full]"      \
    " (--pass needs --only)"

static double best_of(const shape_t *s, long count, bool decode)
{
    double best = INFINITY;
    for (int p = 0; p < passes; p++) {
        double t = pass(s, count, decode, false);
        best = t < best ? t : best;
    }
    return best / (double)count;
}

int main(int argc, char **argv)
{
    long count = 200000;
    const char *only = NULL, *file = NULL, *one = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
            passes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pass") && i + 1 < argc)
            one = argv[++i];
        else if (file == NULL)
            file = argv[i];
        else
            die(USAGE);
    }
    if (file == NULL || count <= 0 || passes <= 0 ||
        (one != NULL && ((strcmp(one, "enc") && strcmp(one, "full")) || only == NULL)))
        die(USAGE);
    json_error_t e;
    json_t *defs = json_load_file(file, 0, &e);
    json_t *list = json_object_get(defs, "shapes");
    if (!json_is_array(list))
        die(defs ? "the shapes file has no \"shapes\" list" : e.text);
    printf("%-12s %10s %10s %10s %10s\n", "shape", "bytes", "encode ns", "decode+enc", "total ns");
    size_t k;
    json_t *def;
    json_array_foreach (list, k, def) {
        const char *name = json_string_value(json_object_get(def, "name"));
        if (name == NULL)
            die("a shape without a name");
        if (only != NULL && strcmp(only, name) != 0)
            continue;
        shape_t s;
        const char *why = shape_load(&s, file, name);
        if (why != NULL)
            die(why);
        nipc_buf_t b;
        nipc__buf_init(&b);
        if (nipc__msg_encode(&b, "e", s.value[0], false, "\f", 1) != 0)
            die("encode failed");
        size_t bytes = nipc__buf_size(&b);
        nipc__buf_free(&b);
        if (one != NULL) {
            pass(&s, count, !strcmp(one, "full"), false);
            continue;
        }
        pass(&s, count, true, true); /* every event checked once, and warm */
        double enc = best_of(&s, count, false), all = best_of(&s, count, true);
        printf("%-12s %10zu %10.0f %10.0f %10.0f\n", name, bytes, enc, all - enc, all);
        for (size_t i = 0; i < s.n; i++)
            json_decref(s.value[i]);
        free(s.text);
    }
    json_decref(defs);
    return 0;
}
