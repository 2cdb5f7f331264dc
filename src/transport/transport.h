/* SPDX-License-Identifier: MIT */
/*
 * Stream transports: one ops table per kind of stream (Unix sockets, TCP; TLS joins as one
 * more entry). conn.c drives every connection through its table and knows no transport;
 * server.c and client.c pick a table once, when the server or client is made.
 *
 * A transport calls back into conn.c (nipc__conn_rx_room, nipc__conn_rx, nipc__conn_written,
 * nipc__conn_shut, nipc__conn_closed) when its reads, writes, shutdown and close complete,
 * always from the loop. The plain uv_stream_t implementations of reading, writing, shutting
 * down and closing are shared (stream.c); an entry sets what differs.
 */
#ifndef NIPC_TRANSPORT_H
#define NIPC_TRANSPORT_H

#include "../internal.h"

struct nipc_stream_ops {
    const char *name;
    /* Initialises the handle of a listener or of a connection on `loop`. */
    int (*init)(uv_loop_t *loop, uv_handle_t *h);
    /* Makes the server's listening socket: binds it to the server's path or to `sa`, with
     * the config's options, and listens (NIPC__BACKLOG). *fd is close-on-exec and
     * non-blocking, and no handle holds it yet. On error nothing is left bound. */
    int (*bind)(nipc_server_t *s, const struct sockaddr *sa, int *fd);
    /* Opens `h` (made by init) on a listening descriptor, bound by `bind` or inherited from
     * another process (nipc_serve_fd); the server then uv_listen()s on it. From success on
     * the handle owns the descriptor; on error the caller still does. */
    int (*open)(nipc_server_t *s, uv_handle_t *h, int fd);
    /* Accepts the pending connection of `listener` into c, whose handle is initialised. */
    int (*accept)(uv_stream_t *listener, nipc_conn_t *c);
    /* Starts connecting c to `path` (Unix sockets) or `sa` (network); c->on_connected(c,
     * status) follows from the loop unless this returns an error. */
    int (*connect)(nipc_conn_t *c, const char *path, const struct sockaddr *sa);
    /* The peer is connected: sets the transport's options and starts reading. 0 when frames
     * can flow now; NIPC__PENDING when nipc__conn_ready(c, status) will say so later. */
    int (*start)(nipc_conn_t *c);
    void (*read_stop)(nipc_conn_t *c);
    /* Writes n buffers; nipc__conn_written(c, status) follows unless this returns an error. */
    int (*write)(nipc_conn_t *c, const uv_buf_t *b, unsigned n);
    /* Writes what the transport takes now: the byte count, or UV_EAGAIN, or an error. */
    int (*try_write)(nipc_conn_t *c, const uv_buf_t *b, unsigned n);
    /* Of the write in progress, the bytes the system has not taken yet, exact until the
     * close begins: what a close loses of it. NULL entry: all of it counts as lost (TLS:
     * ciphertext the system took cannot be mapped back to the frames it carries). */
    size_t (*unsent)(nipc_conn_t *c);
    /* Ends the sending side; nipc__conn_shut(c, status) follows unless this returns an
     * error; status < 0 when the peer reset the connection before it. */
    int (*shutdown)(nipc_conn_t *c);
    /* Closes; nipc__conn_closed(c) follows, always. */
    void (*close)(nipc_conn_t *c);
    /* The remote address, or UV_ENOTSUP where there is none (Unix sockets). */
    int (*peer)(nipc_conn_t *c, struct sockaddr_storage *sa);
    /* The peer's verified certificate subject (TLS), or NULL; NULL entry: never any. */
    const char *(*subject)(nipc_conn_t *c);
    /* The peer process's credentials (Unix sockets); NULL entry: UV_ENOTSUP. */
    int (*cred)(nipc_conn_t *c, nipc_cred_t *out);
};

/* node's default backlog; maxConnections is enforced per accept (S6). */
#define NIPC__BACKLOG 511

extern const nipc_stream_ops_t nipc__pipe_ops;
extern const nipc_stream_ops_t nipc__tcp_ops;
extern const nipc_stream_ops_t nipc__tls_ops;

/* ---- tcp.c: what TLS, a TCP stream underneath, shares with TCP -------------------------- */

int nipc__reuse_port(int fd);
int nipc__tcp_init(uv_loop_t *loop, uv_handle_t *h);
int nipc__tcp_bind(nipc_server_t *s, const struct sockaddr *sa, int *fd);
int nipc__tcp_open(nipc_server_t *s, uv_handle_t *h, int fd);
int nipc__tcp_connect(nipc_conn_t *c, const char *path, const struct sockaddr *sa);
int nipc__tcp_peer(nipc_conn_t *c, struct sockaddr_storage *sa);

/* ---- stream.c: the uv_stream_t implementations the entries share ----------------------- */

int nipc__stream_accept(uv_stream_t *listener, nipc_conn_t *c);
int nipc__stream_read_start(nipc_conn_t *c);
void nipc__stream_read_stop(nipc_conn_t *c);
int nipc__stream_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n);
int nipc__stream_try_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n);
size_t nipc__stream_unsent(nipc_conn_t *c);
int nipc__stream_shutdown(nipc_conn_t *c);
void nipc__stream_close(nipc_conn_t *c);
/* The uv_connect_cb that ends an entry's connect: calls c->on_connected. */
void nipc__stream_connected(uv_connect_t *req, int status);

/* ---- conn.c: what a transport reports ------------------------------------------------- */

/* Room in the receive buffer for the next read. */
void nipc__conn_rx_room(nipc_conn_t *c, uv_buf_t *buf);
/* nread bytes arrived in that room (0: nothing; < 0: end of file or an error). */
void nipc__conn_rx(nipc_conn_t *c, ssize_t nread);
void nipc__conn_written(nipc_conn_t *c, int status);
void nipc__conn_shut(nipc_conn_t *c, int status);
void nipc__conn_closed(nipc_conn_t *c);
/* A pending start ended: 0, or why it failed (the conn then closes with that status). */
void nipc__conn_ready(nipc_conn_t *c, int status);

/* ---- pipe.c ----------------------------------------------------------------------------- */

/* Removes `path` only if it is a socket nobody listens on (see pipe.c). */
int nipc__pipe_clear_stale(const char *path);
/* Removes `path` if it is still the socket recorded in *bound; true when it was removed. */
bool nipc__pipe_unlink_own(const char *path, nipc_sockfile_t *bound);

#endif /* NIPC_TRANSPORT_H */
