/* SPDX-License-Identifier: MIT */
/*
 * The instance's log (K3): node-ipc's ipc.log, at the cost of a copy per line.
 *
 * A line is made in the instance's line buffer, from its pieces or by one vsnprintf(), and
 * nothing is formatted when `silent` is set or when a piece will not be written (an event's
 * data without log_payloads). A custom logger is given each line as it is made. A line for
 * stdout is put in stdio's buffer with one fwrite() and no fflush(): the lines and whatever
 * else the program writes to stdout keep their order, and stdio writes them together, a
 * buffer at a time (a terminal, line-buffered, gets a line at a time). nipc flushes stdout
 * when it wrote since the last flush: before the loop next waits (a prepare handle, so no
 * line waits while the loop is idle), when nipc_run() returns, at nipc_free() and by
 * nipc_log_flush(); exit() flushes stdio itself. A process killed by a signal loses at most
 * the lines of the loop turn it was in.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line buffer grown past this by a long line is given back after it. */
#define LINE_KEEP (64 * 1024)

static void flush(nipc_t *ipc)
{
    if (!ipc->log_unflushed)
        return;
    ipc->log_unflushed = false;
    /* A line that cannot be written (stdout closed, a full disk) is lost: a log has nowhere
     * else to say so. */
    fflush(stdout);
}

static void on_prepare(uv_prepare_t *h)
{
    flush(h->data);
}

void nipc__log_init(nipc_t *ipc)
{
    uv_prepare_init(ipc->loop, &ipc->log_prepare);
    ipc->log_prepare.data = ipc;
    if (!ipc->cfg.silent && ipc->cfg.logger == NULL)
        uv_prepare_start(&ipc->log_prepare, on_prepare);
    uv_unref((uv_handle_t *)&ipc->log_prepare);
}

uv_handle_t *nipc__log_handle(nipc_t *ipc)
{
    return (uv_handle_t *)&ipc->log_prepare;
}

void nipc__log_free(nipc_t *ipc)
{
    flush(ipc);
    nipc__buf_free(&ipc->log_buf);
}

void nipc_log_flush(nipc_t *ipc)
{
    if (ipc != NULL)
        flush(ipc);
}

bool nipc__log_on(const nipc_t *ipc)
{
    return !ipc->cfg.silent;
}

/* Where a line starts in the line buffer, or SIZE_MAX when it is not to be made: `silent`,
 * or a line logged by the logger itself, which would be made inside the one it is given. */
static size_t line_begin(nipc_t *ipc)
{
    if (ipc->cfg.silent || ipc->in_logger)
        return SIZE_MAX;
    return ipc->log_buf.len; /* 0: the buffer holds no line between calls */
}

/* Ends the line begun at `mark`: dropped after an error (out of memory), else given to the
 * logger or to stdio. */
static void line_end(nipc_t *ipc, size_t mark, int err)
{
    nipc_buf_t *b = &ipc->log_buf;
    if (!err && ipc->cfg.logger != NULL) {
        if (nipc__buf_append(b, "", 1) == 0) {
            ipc->in_logger = true;
            ipc->cfg.logger(b->data + mark, ipc->cfg.logger_arg);
            ipc->in_logger = false;
        }
    } else if (!err && nipc__buf_append(b, "\n", 1) == 0) {
        fwrite(b->data + mark, 1, b->len - mark, stdout);
        ipc->log_unflushed = true;
    }
    b->len = mark;
    if (b->cap > LINE_KEEP)
        nipc__buf_free(b);
}

static int put(nipc_buf_t *b, const char *s)
{
    return nipc__buf_append(b, s, strlen(s));
}

/* printf() into the buffer's free space, growing it once when the text does not fit. */
NIPC_PRINTF(2, 0) static int vformat(nipc_buf_t *b, const char *fmt, va_list ap)
{
    if (strchr(fmt, '%') == NULL) /* text alone, as most lines are: no formatting */
        return put(b, fmt);
    va_list again;
    va_copy(again, ap);
    int err = nipc__buf_reserve(b, 256);
    int n = err ? -1 : vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n >= 0 && (size_t)n >= b->cap - b->len) {
        if ((err = nipc__buf_reserve(b, (size_t)n + 1)) == 0)
            n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
    }
    va_end(again);
    if (err)
        return err;
    if (n < 0)
        return UV_EINVAL;
    b->len += (size_t)n;
    return 0;
}

/* One formatted line; with_value: then a space and `value` as ipc.log renders it. */
NIPC_PRINTF(4, 0)
static void vlog(nipc_t *ipc, bool with_value, const json_t *value, const char *fmt, va_list ap)
{
    size_t mark = ipc != NULL && fmt != NULL ? line_begin(ipc) : SIZE_MAX;
    if (mark == SIZE_MAX)
        return;
    nipc_buf_t *b = &ipc->log_buf;
    int err = vformat(b, fmt, ap);
    if (!err && with_value && (err = put(b, " ")) == 0)
        err = nipc__log_arg(b, value, ipc->cfg.log_depth, ipc->log_color);
    line_end(ipc, mark, err);
}

void nipc_log(nipc_t *ipc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(ipc, false, NULL, fmt, ap);
    va_end(ap);
}

void nipc_log_json(nipc_t *ipc, const json_t *value, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(ipc, true, value, fmt, ap);
    va_end(ap);
}

void nipc__log_event(nipc_t *ipc, const char *what, const char *who, const char *type,
                     const json_t *data)
{
    size_t mark = line_begin(ipc);
    if (mark == SIZE_MAX)
        return;
    nipc_buf_t *b = &ipc->log_buf;
    if (type == NULL)
        type = "(null)";
    /* One reservation, then the pieces copied in: "<what>[ <who> :] <type>". */
    size_t wl = strlen(what), hl = who != NULL ? strlen(who) : 0, tl = strlen(type);
    int err = nipc__buf_reserve(b, wl + hl + tl + 5);
    if (!err) {
        char *p = b->data + b->len;
        memcpy(p, what, wl);
        p += wl;
        if (who != NULL) {
            *p++ = ' ';
            memcpy(p, who, hl);
            p += hl;
            *p++ = ' ';
            *p++ = ':';
        }
        *p++ = ' ';
        memcpy(p, type, tl);
        b->len = (size_t)(p + tl - b->data);
    }
    if (!err && ipc->cfg.log_payloads && (err = put(b, " ")) == 0)
        err = nipc__log_arg(b, data, ipc->cfg.log_depth, ipc->log_color);
    line_end(ipc, mark, err);
}
