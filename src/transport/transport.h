/* SPDX-License-Identifier: MIT */
/*
 * Stream transports. Each one knows how to listen and how to connect; once connected every
 * transport is a uv_stream_t driven by conn.c. TCP joins here with the same two functions.
 */
#ifndef NIPC_TRANSPORT_H
#define NIPC_TRANSPORT_H

#include "../internal.h"

/* Removes `path` only if it is a socket nobody listens on (see pipe.c). */
int nipc__pipe_clear_stale(const char *path);
/* Binds, applies readable_all / writable_all (S5) and listens; *bound identifies the
 * socket file made. On error nothing is left at the path that was not there before. */
int nipc__pipe_listen(uv_pipe_t *h, const char *path, const nipc_config_t *cfg,
                      uv_connection_cb on_connection, nipc_sockfile_t *bound);
/* Removes `path` if it is still the socket recorded in *bound; true when it was removed. */
bool nipc__pipe_unlink_own(const char *path, nipc_sockfile_t *bound);
/* Starts connecting; errors from the attempt reach cb. */
int nipc__pipe_connect(uv_connect_t *req, uv_pipe_t *h, const char *path, uv_connect_cb cb);

/* Binds and listens; *bound_port receives the port the system gave (S2). */
int nipc__tcp_listen(uv_tcp_t *h, const struct sockaddr *sa, uv_connection_cb on_connection,
                     int *bound_port);
/* Binds a client's local end from config.iface (C16), when anything there is set. */
int nipc__tcp_bind_local(uv_tcp_t *h, const nipc_config_t *cfg, int target_family);

#endif /* NIPC_TRANSPORT_H */
