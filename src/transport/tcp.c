/* SPDX-License-Identifier: MIT */
/* TCP (S2, C2, C16): the stream entry for IPv4 and IPv6, its listening socket (reuse_port), and
 * a client's local binding. */
#include "transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

/* SO_REUSEPORT (reuse_port): several sockets, in this process or others, may listen on the
 * port (TCP) or be bound to it (UDP), and the kernel spreads the connections, or the
 * datagrams, among them. */
int nipc__reuse_port(int fd)
{
#if defined(SO_REUSEPORT)
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0 ? 0 : -errno;
#else
    (void)fd;
    return UV_ENOTSUP;
#endif
}

/* The port a listening socket got (the system's choice when 0 was asked). */
static void note_port(nipc_server_t *s, int fd)
{
    struct sockaddr_storage got;
    socklen_t len = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &len) == 0)
        s->bound_port = nipc__ip_port((struct sockaddr *)&got);
}

/*
 * The socket is made here rather than by uv_tcp_bind, for the options libuv 1.44 has no
 * flag for (SO_REUSEPORT) and so that it can be bound for other processes to inherit
 * (nipc_server_listen_shared). The other options are libuv's own: SO_REUSEADDR, so a
 * restarted server gets its port back while old connections linger in TIME_WAIT, and
 * IPV6_V6ONLY, so an IPv6 socket listens on IPv6 only, as node's do given an IPv6 host.
 */
int nipc__tcp_bind(nipc_server_t *s, const struct sockaddr *sa, int *out)
{
    int one = 1, err = 0;
    bool v6 = sa->sa_family == AF_INET6;
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0))
        err = -errno;
    if (err == 0 && s->ipc->cfg.reuse_port)
        err = nipc__reuse_port(fd);
    if (err == 0 && (bind(fd, sa, len) != 0 || listen(fd, NIPC__BACKLOG) != 0))
        err = -errno;
    if (err) {
        close(fd);
        return err;
    }
    note_port(s, fd);
    *out = fd;
    return 0;
}

int nipc__tcp_open(nipc_server_t *s, uv_handle_t *h, int fd)
{
    note_port(s, fd);
    return uv_tcp_open((uv_tcp_t *)h, fd);
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
    .bind = nipc__tcp_bind,
    .open = nipc__tcp_open,
    .accept = nipc__stream_accept,
    .connect = nipc__tcp_connect,
    .start = start,
    .read_stop = nipc__stream_read_stop,
    .write = nipc__stream_write,
    .try_write = nipc__stream_try_write,
    .unsent = nipc__stream_unsent,
    .shutdown = nipc__stream_shutdown,
    .close = nipc__stream_close,
    .peer = nipc__tcp_peer,
};
