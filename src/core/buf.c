/* SPDX-License-Identifier: MIT */
/* Growable byte buffers: the input and output queues of every connection. */
#include "core.h"

#include <string.h>

void nipc__buf_init(nipc_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void nipc__buf_free(nipc_buf_t *b)
{
    nipc__free(b->data);
    nipc__buf_init(b);
}

void nipc__buf_reset(nipc_buf_t *b)
{
    b->off = 0;
    b->len = 0;
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
    b->off = 0;
    b->len = n;
}
