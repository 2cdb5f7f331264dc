/* SPDX-License-Identifier: MIT */
/*
 * What every uv_stream_t transport does the same way: reading straight into the
 * connection's receive buffer, one write request per connection, shutdown and close. The
 * pipe and tcp entries use these as they are; their own code is only listening,
 * connecting and socket options.
 */
#include "transport.h"

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    nipc__conn_rx_room(h->data, buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf; /* the room nipc__conn_rx_room gave */
    nipc__conn_rx(s->data, nread);
}

int nipc__stream_accept(uv_stream_t *listener, nipc_conn_t *c)
{
    return uv_accept(listener, &c->u.stream);
}

int nipc__stream_read_start(nipc_conn_t *c)
{
    return uv_read_start(&c->u.stream, on_alloc, on_read);
}

void nipc__stream_read_stop(nipc_conn_t *c)
{
    uv_read_stop(&c->u.stream);
}

static void on_written(uv_write_t *req, int status)
{
    nipc__conn_written(req->data, status);
}

int nipc__stream_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n)
{
    c->wreq.data = c;
    return uv_write(&c->wreq, &c->u.stream, b, n, on_written); /* libuv copies b */
}

int nipc__stream_try_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n)
{
    return uv_try_write(&c->u.stream, b, n);
}

/* libuv's queue holds only the write in flight (conn.c starts one at a time): what it has
 * not written yet is what is left of that write. */
size_t nipc__stream_unsent(const nipc_conn_t *c)
{
    return uv_stream_get_write_queue_size(&c->u.stream);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status; /* the close that follows says all there is */
    nipc__conn_shut(req->data);
}

int nipc__stream_shutdown(nipc_conn_t *c)
{
    c->sreq.data = c;
    return uv_shutdown(&c->sreq, &c->u.stream, on_shutdown);
}

static void on_closed(uv_handle_t *h)
{
    nipc__conn_closed(h->data);
}

void nipc__stream_close(nipc_conn_t *c)
{
    nipc__close_handle(c->ipc, &c->u.handle, on_closed);
}

void nipc__stream_connected(uv_connect_t *req, int status)
{
    nipc_conn_t *c = req->data;
    c->on_connected(c, status);
}
