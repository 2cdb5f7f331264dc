/* SPDX-License-Identifier: MIT */
/* TCP (S2, C2, C16): the stream entry for IPv4 and IPv6, and a client's local binding. */
#include "transport.h"

static int tcp_listen(uv_tcp_t *h, const struct sockaddr *sa, uv_connection_cb on_connection,
                      int *bound_port)
{
    /* IPv6 sockets listen on IPv6 only, as node's do when given an IPv6 host. */
    int err = uv_tcp_bind(h, sa, sa->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
    if (err == 0)
        err = uv_listen((uv_stream_t *)h, 511, on_connection);
    if (err)
        return err;
    struct sockaddr_storage got;
    int len = sizeof got;
    if (uv_tcp_getsockname(h, (struct sockaddr *)&got, &len) == 0)
        *bound_port = nipc__ip_port((struct sockaddr *)&got);
    return 0;
}

/* Binds a client's local end from config.iface (C16), when anything there is set. */
static int bind_local(uv_tcp_t *h, const nipc_config_t *cfg, int target_family)
{
    const char *local = cfg->iface.local_address;
    if ((local == NULL || local[0] == '\0') && cfg->iface.local_port == 0)
        return 0;
    if (local == NULL || local[0] == '\0')
        local = target_family == AF_INET6 ? "::" : "0.0.0.0";
    struct sockaddr_storage sa;
    int err = nipc__ip_parse(local, cfg->iface.local_port, &sa);
    return err ? err : uv_tcp_bind(h, (struct sockaddr *)&sa, 0);
}

/* ---- the entry ---------------------------------------------------------------------------- */

int nipc__tcp_init(uv_loop_t *loop, uv_handle_t *h)
{
    return uv_tcp_init(loop, (uv_tcp_t *)h);
}

int nipc__tcp_listen(nipc_server_t *s, uv_stream_t *h, const struct sockaddr *sa,
                     uv_connection_cb cb)
{
    return tcp_listen((uv_tcp_t *)h, sa, cb, &s->bound_port);
}

int nipc__tcp_connect(nipc_conn_t *c, const char *path, const struct sockaddr *sa)
{
    (void)path;
    int err = bind_local(&c->u.tcp, &c->ipc->cfg, sa->sa_family);
    c->creq.data = c;
    return err ? err : uv_tcp_connect(&c->creq, &c->u.tcp, sa, nipc__stream_connected);
}

static int start(nipc_conn_t *c)
{
    /* Writes are already coalesced per loop turn: Nagle would only add latency. */
    uv_tcp_nodelay(&c->u.tcp, 1);
    return nipc__stream_read_start(c);
}

int nipc__tcp_peer(nipc_conn_t *c, struct sockaddr_storage *sa)
{
    int len = sizeof *sa;
    return uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)sa, &len);
}

const nipc_stream_ops_t nipc__tcp_ops = {
    .name = "tcp",
    .init = nipc__tcp_init,
    .listen = nipc__tcp_listen,
    .accept = nipc__stream_accept,
    .connect = nipc__tcp_connect,
    .start = start,
    .read_stop = nipc__stream_read_stop,
    .write = nipc__stream_write,
    .try_write = nipc__stream_try_write,
    .shutdown = nipc__stream_shutdown,
    .close = nipc__stream_close,
    .peer = nipc__tcp_peer,
};
