/* SPDX-License-Identifier: MIT */
/*
 * stdin as lines for `nipc emit --stdin` and `nipc serve --stdin`. Bytes accumulate in
 * in->acc; pump() hands out every complete line, and stops when its callback asks to wait
 * (a full output queue: the same line is offered again after lines_resume()). Reading is
 * paused meanwhile, so a fast producer meets the connection's back pressure instead of
 * filling memory. The struct lives in the tool_t, so nothing here is freed but acc.
 */
#include "tool.h"

#include <stdlib.h>
#include <string.h>

static void read_more(lines_t *in);

/* Hands out complete lines until the input runs dry, the callback waits or stops. */
static void pump(lines_t *in)
{
    while (!in->paused && !in->closing) {
        char *start = in->acc + in->pos;
        char *nl = in->len > in->pos ? memchr(start, '\n', in->len - in->pos) : NULL;
        size_t n;
        if (nl != NULL) {
            n = (size_t)(nl - start);
        } else if (in->eof && in->pos < in->len) {
            n = in->len - in->pos; /* the last line had no newline */
        } else {
            break;
        }
        start[n] = '\0'; /* the newline, or the spare byte grow() keeps */
        int r = in->on_line(in->arg, start, n);
        if (in->closing)
            return;
        if (r == 1) {
            start[n] = nl != NULL ? '\n' : '\0';
            in->paused = true;
            return;
        }
        if (r < 0) {
            lines_close(in);
            return;
        }
        in->pos += n + (nl != NULL);
    }
    if (in->paused || in->closing)
        return;
    if (in->eof) {
        if (!in->ended) {
            in->ended = true;
            in->on_end(in->arg, 0);
        }
        return;
    }
    /* Keep only the partial line. */
    if (in->pos > 0) {
        memmove(in->acc, in->acc + in->pos, in->len - in->pos);
        in->len -= in->pos;
        in->pos = 0;
    }
    read_more(in);
}

/* Room for n more bytes and the NUL after them. */
static bool grow(lines_t *in, size_t n)
{
    if (in->len + n + 1 <= in->cap)
        return true;
    size_t cap = in->cap ? in->cap : 4096;
    while (cap < in->len + n + 1)
        cap *= 2;
    char *p = realloc(in->acc, cap);
    if (p == NULL)
        return false;
    in->acc = p;
    in->cap = cap;
    return true;
}

static void got(lines_t *in, const char *p, ssize_t n)
{
    if (n < 0 && n != UV_EOF) {
        in->eof = true;
        in->ended = true;
        lines_close(in);
        in->on_end(in->arg, (int)n);
        return;
    }
    if (n == UV_EOF || n == 0) {
        in->eof = true;
    } else if (!grow(in, (size_t)n)) {
        in->ended = true;
        lines_close(in);
        in->on_end(in->arg, UV_ENOMEM);
        return;
    } else {
        memcpy(in->acc + in->len, p, (size_t)n);
        in->len += (size_t)n;
    }
    pump(in);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    lines_t *in = h->data;
    (void)hint;
    *buf = uv_buf_init(in->rbuf, sizeof(in->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    lines_t *in = s->data;
    if (n == 0)
        return; /* EAGAIN */
    uv_read_stop(s);
    in->busy = false;
    got(in, buf->base, n);
}

static void on_fs_read(uv_fs_t *req)
{
    lines_t *in = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    in->busy = false;
    if (in->closing)
        return;
    got(in, in->rbuf, n == 0 ? UV_EOF : n);
}

static void read_more(lines_t *in)
{
    if (in->busy || in->closing || in->eof)
        return;
    int err;
    in->busy = true;
    if (in->stream) {
        err = uv_read_start(&in->h.stream, on_alloc, on_read);
    } else {
        uv_buf_t b = uv_buf_init(in->rbuf, sizeof(in->rbuf));
        in->req.data = in;
        err = uv_fs_read(in->loop, &in->req, 0, &b, 1, -1, on_fs_read);
    }
    if (err != 0) {
        in->busy = false;
        got(in, NULL, err);
    }
}

int lines_open(lines_t *in, uv_loop_t *loop, lines_cb on_line, lines_end_cb on_end, void *arg)
{
    memset(in, 0, sizeof(*in));
    in->loop = loop;
    in->on_line = on_line;
    in->on_end = on_end;
    in->arg = arg;
    uv_handle_type kind = uv_guess_handle(0);
    int err = 0;
    if (kind == UV_NAMED_PIPE) {
        err = uv_pipe_init(loop, &in->h.pipe, 0);
        if (err == 0 && (err = uv_pipe_open(&in->h.pipe, 0)) != 0)
            uv_close((uv_handle_t *)&in->h.pipe, NULL);
        in->stream = true;
    } else if (kind == UV_TTY) {
        err = uv_tty_init(loop, &in->h.tty, 0, 1);
        in->stream = true;
    }
    if (err != 0)
        return err;
    if (in->stream)
        in->h.stream.data = in;
    in->open = true;
    read_more(in);
    return 0;
}

void lines_resume(lines_t *in)
{
    if (!in->paused || in->closing)
        return;
    in->paused = false;
    pump(in);
}

void lines_close(lines_t *in)
{
    if (!in->open || in->closing)
        return;
    in->closing = true;
    if (in->stream)
        uv_close((uv_handle_t *)&in->h.stream, NULL);
    free(in->acc);
    in->acc = NULL;
}
