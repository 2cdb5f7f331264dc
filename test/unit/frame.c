/* SPDX-License-Identifier: MIT */
/* The delimiter scanner (W8, W9, W15): every split of a stream gives the same frames. */
#include "core/core.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 64

/* A stream made of frames, each followed by the delimiter, then an undelimited tail. */
typedef struct stream {
    const char *delim;
    size_t dlen;
    char *text;
    size_t len;
    size_t count;
    size_t off[MAX_FRAMES]; /* where frame i starts in text */
    size_t flen[MAX_FRAMES];
    size_t tail; /* bytes after the last delimiter (never delivered) */
} stream_t;

/*
 * The caller's side of the protocol in core.h: one receive buffer, the current frame's start,
 * frame_next called with every byte available from that start. Bytes not yet received are
 * filled with copies of the delimiter, so a scanner that reads past `n` finds a false
 * delimiter and the frames come out wrong.
 */
typedef struct feeder {
    const stream_t *s;
    nipc_frame_t f;
    char *buf;
    size_t avail;
    size_t start;
    size_t count;
    size_t off[MAX_FRAMES];
    size_t flen[MAX_FRAMES];
} feeder_t;

static void stream_build(stream_t *s, const char *delim, const char *const *frames, size_t n,
                         const char *tail)
{
    memset(s, 0, sizeof *s);
    s->delim = delim;
    s->dlen = strlen(delim);
    cr_assert_leq(n, MAX_FRAMES);
    size_t total = strlen(tail);
    for (size_t i = 0; i < n; i++)
        total += strlen(frames[i]) + s->dlen;
    s->text = malloc(total + 1);
    cr_assert_not_null(s->text);
    for (size_t i = 0; i < n; i++) {
        size_t fl = strlen(frames[i]);
        /* A frame holding its delimiter would make the expected split wrong. */
        cr_assert_null(memmem(frames[i], fl, delim, s->dlen), "test frame %zu holds the delimiter",
                       i);
        s->off[i] = s->len;
        s->flen[i] = fl;
        memcpy(s->text + s->len, frames[i], fl);
        memcpy(s->text + s->len + fl, delim, s->dlen);
        s->len += fl + s->dlen;
    }
    s->count = n;
    s->tail = strlen(tail);
    memcpy(s->text + s->len, tail, s->tail);
    s->len += s->tail;
    s->text[s->len] = '\0';
    /* The expected frames must be the true first occurrences in the stream. */
    for (size_t i = 0, at = 0; i < n; i++) {
        const char *hit = memmem(s->text + at, s->len - at, delim, s->dlen);
        cr_assert_not_null(hit);
        cr_assert_eq((size_t)(hit - s->text), s->off[i] + s->flen[i],
                     "frame %zu of the test stream is not what a delimiter search gives", i);
        at = (size_t)(hit - s->text) + s->dlen;
    }
}

static void stream_free(stream_t *s)
{
    free(s->text);
    s->text = NULL;
}

static void feeder_init(feeder_t *fd, const stream_t *s)
{
    memset(fd, 0, sizeof *fd);
    fd->s = s;
    nipc__frame_init(&fd->f, s->delim, s->dlen);
    size_t cap = s->len + 2 * s->dlen + 8;
    fd->buf = malloc(cap);
    cr_assert_not_null(fd->buf);
    for (size_t i = 0; i < cap; i++)
        fd->buf[i] = s->delim[i % s->dlen];
}

static void feeder_free(feeder_t *fd)
{
    free(fd->buf);
    fd->buf = NULL;
}

/* Delivers n more bytes and collects every frame they complete. */
static void feed(feeder_t *fd, size_t n)
{
    const stream_t *s = fd->s;
    memcpy(fd->buf + fd->avail, s->text + fd->avail, n);
    fd->avail += n;
    for (;;) {
        size_t before = nipc__frame_pending(&fd->f);
        size_t have = fd->avail - fd->start;
        size_t len = SIZE_MAX;
        if (!nipc__frame_next(&fd->f, fd->buf + fd->start, have, &len)) {
            /* Incremental: what was examined is remembered and only grows while the frame
             * is incomplete; at most the last dlen - 1 bytes may be left for the next call. */
            size_t pending = nipc__frame_pending(&fd->f);
            cr_assert_geq(pending, before, "pending went back from %zu to %zu", before, pending);
            cr_assert_leq(pending, have);
            cr_assert_geq(pending + s->dlen - 1, have, "only %zu of %zu bytes recorded as scanned",
                          pending, have);
            return;
        }
        cr_assert_leq(len, have - (have >= s->dlen ? s->dlen : have),
                      "frame of %zu bytes plus delimiter overruns the %zu available", len, have);
        cr_assert_lt(fd->count, MAX_FRAMES, "more frames than the stream holds");
        cr_assert_eq(memcmp(fd->buf + fd->start + len, s->delim, s->dlen), 0,
                     "frame_len %zu does not end at a delimiter", len);
        cr_assert_eq(nipc__frame_pending(&fd->f), 0,
                     "a hit must reset the scan for the next frame");
        fd->off[fd->count] = fd->start;
        fd->flen[fd->count] = len;
        fd->count++;
        fd->start += len + s->dlen;
    }
}

static void check_frames(const feeder_t *fd, const char *how)
{
    const stream_t *s = fd->s;
    cr_assert_eq(fd->count, s->count, "%s: %zu frames instead of %zu", how, fd->count, s->count);
    for (size_t i = 0; i < s->count; i++) {
        cr_assert_eq(fd->off[i], s->off[i], "%s: frame %zu starts at %zu, not %zu", how, i,
                     fd->off[i], s->off[i]);
        cr_assert_eq(fd->flen[i], s->flen[i], "%s: frame %zu has %zu bytes, not %zu", how, i,
                     fd->flen[i], s->flen[i]);
        cr_assert_eq(memcmp(fd->buf + fd->off[i], s->text + s->off[i], s->flen[i]), 0,
                     "%s: frame %zu bytes differ", how, i);
    }
    cr_assert_eq(fd->avail - fd->start, s->tail, "%s: %zu bytes left over, not %zu", how,
                 fd->avail - fd->start, s->tail);
}

/* Feeds the stream in the pieces ending at cuts[0] < cuts[1] < ... < len. */
static void run_cuts(const stream_t *s, const size_t *cuts, size_t ncuts, const char *how)
{
    feeder_t fd;
    feeder_init(&fd, s);
    size_t at = 0;
    for (size_t i = 0; i < ncuts; i++) {
        feed(&fd, cuts[i] - at);
        at = cuts[i];
    }
    if (at < s->len)
        feed(&fd, s->len - at);
    check_frames(&fd, how);
    feeder_free(&fd);
}

static void all_two_piece(const stream_t *s)
{
    char how[96];
    for (size_t k = 0; k <= s->len; k++) {
        snprintf(how, sizeof how, "delim %zu bytes, split at %zu", s->dlen, k);
        run_cuts(s, &k, 1, how);
    }
}

static void all_three_piece(const stream_t *s)
{
    char how[96];
    for (size_t i = 1; i < s->len; i++) {
        for (size_t j = i + 1; j < s->len; j++) {
            size_t cuts[2] = {i, j};
            snprintf(how, sizeof how, "delim %zu bytes, split at %zu and %zu", s->dlen, i, j);
            run_cuts(s, cuts, 2, how);
        }
    }
}

static void byte_by_byte(const stream_t *s)
{
    feeder_t fd;
    feeder_init(&fd, s);
    for (size_t i = 0; i < s->len; i++)
        feed(&fd, 1);
    check_frames(&fd, "byte by byte");
    feeder_free(&fd);
}

/* Random chunk sizes from a fixed seed, so a failure reproduces. */
static void random_chunks(const stream_t *s, unsigned seed, int rounds)
{
    uint32_t x = seed;
    for (int r = 0; r < rounds; r++) {
        feeder_t fd;
        feeder_init(&fd, s);
        size_t at = 0;
        while (at < s->len) {
            x = x * 1664525u + 1013904223u;
            size_t n = 1 + (x >> 16) % 97;
            if (n > s->len - at)
                n = s->len - at;
            feed(&fd, n);
            at += n;
        }
        check_frames(&fd, "random chunks");
        feeder_free(&fd);
    }
}

/* A frame of n bytes of text with multi-byte characters that never holds `avoid`. */
static char *long_frame(size_t n)
{
    static const char pattern[] = "abc \xe2\x82\xac\xf0\x9f\x98\x80 {\"k\":[1,2]} ";
    char *p = malloc(n + 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = pattern[i % (sizeof pattern - 1)];
    p[n] = '\0';
    return p;
}

/* Frames shared by every delimiter, then the delimiter's own tricky ones. */
static size_t frames_for(const char *delim, const char *lng, const char **out)
{
    size_t n = 0;
    out[n++] = "{\"type\":\"message\",\"data\":{\"id\":\"hello\",\"message\":\"hi\"}}";
    out[n++] = "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80";
    out[n++] = ""; /* two delimiters in a row */
    out[n++] = lng;
    if (strcmp(delim, "\f") == 0) {
        out[n++] = "a\rb\nc";
        out[n++] = "";
    } else if (strcmp(delim, "\r\n") == 0) {
        out[n++] = "x\r";    /* ends with the delimiter's first byte */
        out[n++] = "\n\rz";  /* starts with its last byte */
        out[n++] = "\r\r\r"; /* many partial matches */
        out[n++] = "\n";
    } else if (strcmp(delim, "XYZ") == 0) {
        out[n++] = "XY";
        out[n++] = "fooXYXY";
        out[n++] = "XXYYZZ";
        out[n++] = "YZ";
        out[n++] = "Z";
    } else if (strcmp(delim, "aab") == 0) {
        out[n++] = "xa";  /* "xa" + "aab": the stream holds "aaab" */
        out[n++] = "xaa"; /* "xaaaab" */
        out[n++] = "aaa";
        out[n++] = "a";
        out[n++] = "ab";
        out[n++] = "bab";
        out[n++] = "";
    }
    out[n++] = "{\"type\":\"last\"}";
    return n;
}

static const char *const delimiters[] = {"\f", "\r\n", "XYZ", "aab"};

static void build_for(stream_t *s, const char *delim, size_t long_len)
{
    const char *frames[MAX_FRAMES];
    char *lng = long_frame(long_len);
    size_t n = frames_for(delim, lng, frames);
    /* The tail ends with the delimiter's first bytes: it must still not be delivered. */
    char tail[32];
    snprintf(tail, sizeof tail, "{\"partial\":%.*s", (int)(strlen(delim) - 1), delim);
    stream_build(s, delim, frames, n, tail);
    free(lng);
}

Test(frame, w8_w9_every_two_piece_split, .timeout = 10)
{
    for (size_t d = 0; d < sizeof delimiters / sizeof delimiters[0]; d++) {
        stream_t s;
        build_for(&s, delimiters[d], 1500);
        all_two_piece(&s);
        stream_free(&s);
    }
}

Test(frame, w8_w9_every_three_piece_split, .timeout = 10)
{
    for (size_t d = 0; d < sizeof delimiters / sizeof delimiters[0]; d++) {
        stream_t s;
        build_for(&s, delimiters[d], 40);
        all_three_piece(&s);
        stream_free(&s);
    }
}

Test(frame, w9_byte_by_byte, .timeout = 10)
{
    for (size_t d = 0; d < sizeof delimiters / sizeof delimiters[0]; d++) {
        stream_t s;
        build_for(&s, delimiters[d], 5000);
        byte_by_byte(&s);
        stream_free(&s);
    }
}

Test(frame, w8_w9_random_chunks, .timeout = 10)
{
    for (size_t d = 0; d < sizeof delimiters / sizeof delimiters[0]; d++) {
        stream_t s;
        build_for(&s, delimiters[d], 5000);
        random_chunks(&s, 1234u + (unsigned)d, 50);
        stream_free(&s);
    }
}

Test(frame, w8_whole_stream_in_one_read, .timeout = 10)
{
    for (size_t d = 0; d < sizeof delimiters / sizeof delimiters[0]; d++) {
        stream_t s;
        build_for(&s, delimiters[d], 5000);
        run_cuts(&s, NULL, 0, "one read");
        stream_free(&s);
    }
}

Test(frame, w15_delimiter_straddles_aaab, .timeout = 10)
{
    /* "xa" + "aab": the first 'a' of the stream's "aaab" is frame, the rest delimiter. */
    nipc_frame_t f;
    size_t len = 0;
    nipc__frame_init(&f, "aab", 3);
    cr_assert(nipc__frame_next(&f, "xaaab", 5, &len));
    cr_assert_eq(len, 2);
    nipc__frame_init(&f, "aab", 3);
    cr_assert_not(nipc__frame_next(&f, "xaa", 3, &len));
    cr_assert_not(nipc__frame_next(&f, "xaaa", 4, &len));
    cr_assert(nipc__frame_next(&f, "xaaab", 5, &len));
    cr_assert_eq(len, 2);
}

Test(frame, w15_lone_delimiter_is_an_empty_frame, .timeout = 10)
{
    nipc_frame_t f;
    size_t len = 99;
    nipc__frame_init(&f, "\f", 1);
    cr_assert(nipc__frame_next(&f, "\f", 1, &len));
    cr_assert_eq(len, 0);
    nipc__frame_init(&f, "\r\n", 2);
    len = 99;
    cr_assert(nipc__frame_next(&f, "\r\n", 2, &len));
    cr_assert_eq(len, 0);
}

Test(frame, no_bytes_is_a_miss, .timeout = 10)
{
    nipc_frame_t f;
    size_t len;
    nipc__frame_init(&f, "\f", 1);
    cr_assert_not(nipc__frame_next(&f, "", 0, &len));
    cr_assert_eq(nipc__frame_pending(&f), 0);
    nipc__frame_init(&f, "XYZ", 3);
    cr_assert_not(nipc__frame_next(&f, "XY", 0, &len));
    cr_assert_not(nipc__frame_next(&f, "XY", 2, &len));
}

/*
 * No rescan: once bytes were examined and held no delimiter, they are not looked at again.
 * A delimiter planted afterwards in the examined region must therefore stay unseen (a
 * scanner that restarted from the frame's start would report it).
 */
Test(frame, w8_miss_then_more_bytes_never_rescans_single_byte_delimiter, .timeout = 10)
{
    char buf[16] = "abcdefgh";
    nipc_frame_t f;
    size_t len = 0;
    nipc__frame_init(&f, "\f", 1);
    cr_assert_not(nipc__frame_next(&f, buf, 6, &len));
    cr_assert_eq(nipc__frame_pending(&f), 6);
    buf[2] = '\f';
    cr_assert_not(nipc__frame_next(&f, buf, 8, &len), "bytes 0..5 were examined again");
    cr_assert_eq(nipc__frame_pending(&f), 8);
    buf[8] = '\f';
    cr_assert(nipc__frame_next(&f, buf, 9, &len));
    cr_assert_eq(len, 8);
}

Test(frame, w8_miss_then_more_bytes_never_rescans_long_delimiter, .timeout = 10)
{
    char buf[16] = "abcdefXY";
    nipc_frame_t f;
    size_t len = 0;
    nipc__frame_init(&f, "XYZ", 3);
    cr_assert_not(nipc__frame_next(&f, buf, 8, &len));
    size_t pending = nipc__frame_pending(&f);
    cr_assert_geq(pending, 6);
    /* Bytes 0..5 are known to start no delimiter; plant one there. */
    memcpy(buf, "XYZ", 3);
    buf[8] = 'Z'; /* completes the delimiter straddling the two reads */
    cr_assert(nipc__frame_next(&f, buf, 9, &len));
    cr_assert_eq(len, 6, "found the planted delimiter at %zu: the scan restarted", len);
}

Test(frame, w8_pending_grows_over_a_long_frame, .timeout = 10)
{
    enum { N = 100000 };
    char *buf = malloc(N + 1);
    cr_assert_not_null(buf);
    memset(buf, 'a', N);
    buf[N] = '\f';
    nipc_frame_t f;
    size_t len = 0, last = 0;
    nipc__frame_init(&f, "\f", 1);
    for (size_t n = 1; n <= N; n += 7) {
        cr_assert_not(nipc__frame_next(&f, buf, n, &len));
        cr_assert_eq(nipc__frame_pending(&f), n);
        cr_assert_geq(nipc__frame_pending(&f), last);
        last = nipc__frame_pending(&f);
    }
    cr_assert(nipc__frame_next(&f, buf, N + 1, &len));
    cr_assert_eq(len, N);
    free(buf);
}

Test(frame, w8_scanner_restarts_for_each_frame, .timeout = 10)
{
    /* After a hit the caller advances; the next frame's scan starts from zero. */
    const char *s = "ab\fcd\f";
    nipc_frame_t f;
    size_t len = 0;
    nipc__frame_init(&f, "\f", 1);
    cr_assert_not(nipc__frame_next(&f, s, 2, &len));
    cr_assert(nipc__frame_next(&f, s, 6, &len));
    cr_assert_eq(len, 2);
    cr_assert(nipc__frame_next(&f, s + 3, 3, &len));
    cr_assert_eq(len, 2);
}
