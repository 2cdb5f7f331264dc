/* SPDX-License-Identifier: MIT */
/*
 * The frame splitter (src/core/frame.c) against a reference split, however the stream is
 * cut into reads.
 *
 * Input: byte 0 chooses the chunking (bits 0-1: the whole stream in one read, byte by byte,
 * two reads cut at a split point, small reads of 1-16 bytes), the delimiter (bits 2-5: one
 * of fifteen, one to five bytes, some that overlap themselves like "aab", or one of 1-8
 * bytes taken from the input) and whether the caller moves the pending frame to the front
 * of its buffer after each read, as conn.c does (bit 6). Byte 1 is the chunking's parameter.
 * The rest is the stream.
 *
 * The caller's side follows core.h: one buffer, frame_next called with every byte received
 * from the current frame's start. Bytes not received yet are poisoned under ASan, so a
 * scanner that reads past what it was given is an error even inside the buffer. The frames
 * found, and the pending remainder, must be what memmem finds from the start, both for the
 * chosen chunking and for the whole stream in one read.
 */
#include "fuzz.h"

#include "core/core.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

enum { WHOLE, BYTES, SPLIT, CHUNKS };

static const char *const delimiters[] = {
    "\f", "\n",   "\r\n", "||", "\f\f", "ab",         "aab",          "aaa",
    "aa", "abab", "}\f{", "|",  "}{",   "\r\n\r\n\n", "\xe2\x80\xa8",
};

/* Frames as (offset in the stream, length) pairs, and where the pending rest starts. */
typedef struct split {
    size_t *off;
    size_t *len;
    size_t count;
    size_t rest;
} split_t;

static void split_add(split_t *s, size_t off, size_t len)
{
    s->off[s->count] = off;
    s->len[s->count] = len;
    s->count++;
}

static void reference(const char *p, size_t n, const char *d, size_t dlen, split_t *out)
{
    size_t pos = 0;
    for (;;) {
        const char *hit = memmem(p + pos, n - pos, d, dlen);
        if (hit == NULL)
            break;
        split_add(out, pos, (size_t)(hit - p) - pos);
        pos = (size_t)(hit - p) + dlen;
    }
    out->rest = pos;
}

/* The next read's size: 1-16 bytes from a small generator seeded by the parameter. */
static size_t small_chunk(uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return 1 + (*state & 15);
}

static void scan(const char *stream, size_t n, const char *d, size_t dlen, int mode, unsigned param,
                 bool compact, split_t *out)
{
    char *buf = malloc(n ? n : 1);
    if (buf == NULL)
        abort();
    ASAN_POISON_MEMORY_REGION(buf, n);
    nipc_frame_t f;
    nipc__frame_init(&f, d, dlen);
    size_t base = 0;  /* stream offset of buf[0] */
    size_t start = 0; /* the current frame's start in buf */
    size_t avail = 0; /* bytes received in buf */
    size_t sent = 0;  /* bytes of the stream received so far */
    uint32_t state = param * 2654435761u + 1;
    while (sent < n) {
        size_t chunk = mode == WHOLE   ? n
                       : mode == BYTES ? 1
                       : mode == SPLIT ? (sent == 0 ? n * param / 255 : n - sent)
                                       : small_chunk(&state);
        if (chunk == 0)
            chunk = n - sent; /* a split at 0 is one read */
        if (chunk > n - sent)
            chunk = n - sent;
        ASAN_UNPOISON_MEMORY_REGION(buf + avail, chunk);
        memcpy(buf + avail, stream + sent, chunk);
        avail += chunk;
        sent += chunk;

        size_t flen;
        while (nipc__frame_next(&f, buf + start, avail - start, &flen)) {
            FUZZ_CHECK(flen <= avail - start && avail - start - flen >= dlen,
                       "a frame of %zu bytes and its delimiter in %zu bytes", flen, avail - start);
            split_add(out, base + start, flen);
            start += flen + dlen;
        }
        FUZZ_CHECK(nipc__frame_pending(&f) == avail - start, "%zu bytes of the pending %zu scanned",
                   nipc__frame_pending(&f), avail - start);
        if (compact && start > 0) {
            memmove(buf, buf + start, avail - start);
            ASAN_POISON_MEMORY_REGION(buf + avail - start, start);
            avail -= start;
            base += start;
            start = 0;
        }
    }
    out->rest = base + start;
    ASAN_UNPOISON_MEMORY_REGION(buf, n);
    free(buf);
}

static void expect_same(const split_t *want, const split_t *got, const char *how, const char *p,
                        size_t n)
{
    FUZZ_CHECK(got->count == want->count, "%s: %zu frames, the reference %zu, in %s", how,
               got->count, want->count, fuzz_show(p, n));
    for (size_t i = 0; i < want->count; i++)
        FUZZ_CHECK(got->off[i] == want->off[i] && got->len[i] == want->len[i],
                   "%s: frame %zu at %zu+%zu, the reference at %zu+%zu", how, i, got->off[i],
                   got->len[i], want->off[i], want->len[i]);
    FUZZ_CHECK(got->rest == want->rest, "%s: the rest from %zu, the reference from %zu", how,
               got->rest, want->rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned how = fuzz_byte(&in);
    unsigned param = fuzz_byte(&in);
    int mode = (int)(how & 3);
    unsigned which = (how >> 2) & 15;
    bool compact = (how >> 6) & 1;

    char own[9];
    const char *d;
    size_t dlen;
    if (which < sizeof delimiters / sizeof delimiters[0]) {
        d = delimiters[which];
        dlen = strlen(d);
    } else {
        const uint8_t *p = fuzz_take(&in, 1 + param % 8, &dlen);
        if (dlen == 0)
            return 0;
        memcpy(own, p, dlen);
        own[dlen] = '\0';
        d = own;
    }
    const char *stream = (const char *)in.p;
    size_t n = in.n;

    /* At most one frame per delimiter's worth of bytes, plus one. */
    size_t max = n / dlen + 1;
    size_t *mem = malloc(6 * max * sizeof *mem);
    if (mem == NULL)
        abort();
    split_t want = {mem, mem + max, 0, 0};
    split_t whole = {mem + 2 * max, mem + 3 * max, 0, 0};
    split_t chosen = {mem + 4 * max, mem + 5 * max, 0, 0};
    reference(stream, n, d, dlen, &want);
    scan(stream, n, d, dlen, WHOLE, param, false, &whole);
    expect_same(&want, &whole, "one read", stream, n);
    if (mode != WHOLE || compact) {
        static const char *const names[] = {"one read", "byte by byte", "a split", "small reads"};
        scan(stream, n, d, dlen, mode, param, compact, &chosen);
        expect_same(&want, &chosen, names[mode], stream, n);
    }
    free(mem);
    return 0;
}
