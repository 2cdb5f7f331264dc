/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffers: the input and output queues of every connection. An output queue's
 * spans (large strings queued by reference) are owned here: every reference a span holds is
 * released by the call that ends the span (reset, free, truncate, drop), and by no other.
 */
#include "core.h"

#include <string.h>

void nipc__buf_init(nipc_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

/* Releases spans v[from, n). */
static void release_from(nipc_spans_t *s, size_t from)
{
    for (size_t i = from; i < s->n; i++) {
        s->bytes -= s->v[i].n;
        json_decref(s->v[i].str);
    }
    s->n = from;
    if (s->head >= s->n)
        s->head = s->n = 0;
}

void nipc__buf_free(nipc_buf_t *b)
{
    if (b->spans != NULL)
        release_from(b->spans, b->spans->head);
    nipc__free(b->spans);
    nipc__free(b->data);
    nipc__buf_init(b);
}

void nipc__buf_reset(nipc_buf_t *b)
{
    b->off = 0;
    b->len = 0;
    if (b->spans != NULL)
        release_from(b->spans, b->spans->head);
}

int nipc__buf_reserve(nipc_buf_t *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return UV_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = nipc__realloc(b->data, cap);
    if (p == NULL)
        return UV_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int nipc__buf_append_slow(nipc_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int err = nipc__buf_reserve(b, n);
    if (err)
        return err;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void nipc__buf_compact(nipc_buf_t *b)
{
    if (b->off == 0)
        return;
    size_t n = b->len - b->off;
    if (n > 0)
        memmove(b->data, b->data + b->off, n);
    if (b->spans != NULL)
        for (size_t i = b->spans->head; i < b->spans->n; i++)
            b->spans->v[i].at -= b->off;
    b->off = 0;
    b->len = n;
}

int nipc__buf_refer(nipc_buf_t *b, json_t *str, const char *p, size_t n)
{
    nipc_spans_t *s = b->spans;
    if (s == NULL || s->n == s->cap) {
        size_t cap = s != NULL ? s->cap * 2 : 4;
        s = nipc__realloc(s, sizeof *s + cap * sizeof s->v[0]);
        if (s == NULL)
            return UV_ENOMEM;
        if (b->spans == NULL)
            s->head = s->n = s->bytes = 0;
        s->cap = cap;
        b->spans = s;
    }
    s->v[s->n++] = (nipc_span_t){b->len, json_incref(str), p, n};
    s->bytes += n;
    return 0;
}

void nipc__buf_truncate(nipc_buf_t *b, size_t mark)
{
    b->len = mark;
    nipc_spans_t *s = b->spans;
    if (s == NULL)
        return;
    size_t i = s->n;
    while (i > s->head && s->v[i - 1].at >= mark)
        i--;
    release_from(s, i);
}

void nipc__buf_drop(nipc_buf_t *b, size_t n)
{
    nipc_spans_t *s = b->spans;
    while (n > 0) {
        nipc_span_t *sp = s != NULL && s->head < s->n ? &s->v[s->head] : NULL;
        size_t own = (sp != NULL ? sp->at : b->len) - b->off;
        size_t k = n < own ? n : own;
        b->off += k;
        n -= k;
        if (n == 0 || sp == NULL)
            break;
        k = n < sp->n ? n : sp->n;
        sp->p += k;
        sp->n -= k;
        s->bytes -= k;
        n -= k;
        if (sp->n == 0) {
            json_decref(sp->str);
            if (++s->head == s->n)
                s->head = s->n = 0;
        }
    }
}

int nipc__buf_append_queue(nipc_buf_t *b, const nipc_buf_t *src, bool refer)
{
    size_t mark = b->len, pos = src->off;
    const nipc_spans_t *s = src->spans;
    for (size_t i = s != NULL ? s->head : 0; s != NULL && i < s->n; i++) {
        const nipc_span_t *sp = &s->v[i];
        if (nipc__buf_append(b, src->data + pos, sp->at - pos) != 0 ||
            (refer ? nipc__buf_refer(b, sp->str, sp->p, sp->n)
                   : nipc__buf_append(b, sp->p, sp->n)) != 0) {
            nipc__buf_truncate(b, mark);
            return UV_ENOMEM;
        }
        pos = sp->at;
    }
    if (nipc__buf_append(b, src->data + pos, src->len - pos) != 0) {
        nipc__buf_truncate(b, mark);
        return UV_ENOMEM;
    }
    return 0;
}
