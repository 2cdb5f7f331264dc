/* SPDX-License-Identifier: MIT */
/*
 * The payloads of the echo test (bench/README.md), read from bench/shapes.json with jansson by
 * bench_nipc and bench_zmq (bench/node/shapes.js is the twin for Node). The file is one shape a
 * line, each line exactly as JSON.stringify writes it, {"name":N,"value":V} or
 * {"name":N,"values":[V,...]}, and every value is an object whose first member is "i":0; the
 * driver checks that layout before any run. Event N carries value N mod n with "i" = N.
 *
 * A program loads one shape by name: each value parsed (to emit it, and to compare an echo
 * with it) and its text as the file has it, which is JSON.stringify's, so that a program can
 * send the very bytes nipc and node-ipc write by splicing N in after {"i":.
 */
#ifndef NIPC_BENCH_SHAPES_H
#define NIPC_BENCH_SHAPES_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_WINDOW 128     /* events in flight, sent minus echoed, in every program */
#define ECHO_CHECK_EVERY 64 /* the echo of event N with N % 64 == 0 is compared whole */
#define SHAPE_MAX_VALUES 16
#define SHAPE_HEAD "{\"i\":0"
#define SHAPE_HEAD_LEN (sizeof SHAPE_HEAD - 1)

typedef struct shape {
    size_t n;                           /* values: 1, or more for a shape like rotate */
    json_t *value[SHAPE_MAX_VALUES];    /* parsed; "i" is its first member */
    const char *tail[SHAPE_MAX_VALUES]; /* its text after {"i":0, in `text` */
    size_t tail_len[SHAPE_MAX_VALUES];  /* how long, up to its closing brace included */
    char *text;                         /* the whole file, NUL-terminated */
} shape_t;

/* Loads shape `name` of `file` into s; NULL, or what is wrong. */
static inline const char *shape_load(shape_t *s, const char *file, const char *name)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return "cannot open the shapes file";
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s->text = malloc((size_t)len + 1)) != NULL &&
        fread(s->text, 1, (size_t)len, f) == (size_t)len)
        s->text[len] = '\0';
    else
        len = -1;
    fclose(f);
    if (len < 0)
        return "cannot read the shapes file";

    /* The line of the shape, then its value, or its list of values. */
    char key[128];
    snprintf(key, sizeof key, "\n{\"name\":\"%s\",\"value", name);
    const char *p = strstr(s->text, key);
    if (p == NULL)
        return "no such shape in the shapes file";
    p += strlen(key);
    int list = *p == 's';
    p += list;
    if (strncmp(p, list ? "\":[" : "\":", list ? 3 : 2) != 0)
        return "a shape not written as JSON.stringify writes it";
    p += list ? 3 : 2;
    for (;;) {
        json_error_t e;
        /* Without the EOF check jansson stops at the value's closing brace and says where. */
        json_t *v = json_loadb(p, strlen(p), JSON_DISABLE_EOF_CHECK, &e);
        if (v == NULL)
            return "a value of the shape is not JSON";
        if (s->n == SHAPE_MAX_VALUES) {
            json_decref(v);
            return "a shape with too many values";
        }
        s->value[s->n] = v;
        if (!json_is_object(v) || strncmp(p, SHAPE_HEAD, SHAPE_HEAD_LEN) != 0 ||
            (p[SHAPE_HEAD_LEN] != ',' && p[SHAPE_HEAD_LEN] != '}'))
            return "a value whose first member is not i = 0";
        s->tail[s->n] = p + SHAPE_HEAD_LEN;
        s->tail_len[s->n] = (size_t)e.position - SHAPE_HEAD_LEN;
        s->n++;
        p += e.position;
        if (!list || *p != ',')
            break;
        p++;
    }
    if (strncmp(p, list ? "]}" : "}", list ? 2 : 1) != 0)
        return "a shape not written as JSON.stringify writes it";
    return NULL;
}

/*
 * The bytes of frames 0 .. count - 1 as node-ipc writes them, {"type":"e","data":V}\f, V the
 * value of event N with "i" = N: what the echo test's result calls bytes (frameBytes() in
 * bench/node/shapes.js). A frame is 26 bytes around the value's tail and the digits of N.
 */
static inline uint64_t shape_bytes(const shape_t *s, uint64_t count)
{
    uint64_t b = count; /* a digit each */
    for (uint64_t p = 10; p < count; p *= 10)
        b += count - p; /* and one more from p on */
    for (size_t k = 0; k < s->n && k < count; k++)
        b += (count - k + s->n - 1) / s->n * (s->tail_len[k] + 26);
    return b;
}

#endif
