/* SPDX-License-Identifier: MIT */
/*
 * The delimiter scanner (W8, W9, W15). State: how many bytes after the current frame's start
 * are known to hold no complete delimiter. A delimiter of length d may straddle the end of
 * the scanned region, so a resumed search starts d - 1 bytes before it; every byte is
 * otherwise examined once, whatever the split of the stream.
 */
#include "core.h"

#include <string.h>

void nipc__frame_init(nipc_frame_t *f, const char *delim, size_t dlen)
{
    f->delim = delim;
    f->dlen = dlen;
    f->scanned = 0;
}

bool nipc__frame_next(nipc_frame_t *f, const char *p, size_t n, size_t *frame_len)
{
    const size_t d = f->dlen;
    size_t from = f->scanned;

    if (d == 0) /* config checks refuse it; never read past the buffer anyway */
        return false;

    if (d == 1) {
        const char *hit = from < n ? memchr(p + from, f->delim[0], n - from) : NULL;
        if (hit == NULL) {
            f->scanned = n;
            return false;
        }
        *frame_len = (size_t)(hit - p);
        f->scanned = 0;
        return true;
    }

    from = from >= d - 1 ? from - (d - 1) : 0;
    while (n >= d && from <= n - d) {
        const char *hit = memchr(p + from, f->delim[0], n - d + 1 - from);
        if (hit == NULL)
            break;
        size_t at = (size_t)(hit - p);
        if (memcmp(hit + 1, f->delim + 1, d - 1) == 0) {
            *frame_len = at;
            f->scanned = 0;
            return true;
        }
        from = at + 1;
    }
    f->scanned = n;
    return false;
}
