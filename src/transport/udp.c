/* SPDX-License-Identifier: MIT */
/*
 * UDP sockets (U1, U4): binding, receiving one datagram at a time into the server's buffer,
 * and sending one datagram per frame, at once when the socket takes it, else queued as a
 * copy. What a datagram means to a server (its frames, its sender) is the server's
 * (nipc__server_datagram, server.c).
 */
#include "transport.h"

#include <string.h>

#define DGRAM_MAX 65536

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    nipc_server_t *s = h->data;
    (void)suggested;
    if (s->dgram == NULL)
        s->dgram = nipc__malloc(DGRAM_MAX);
    *buf = uv_buf_init(s->dgram, s->dgram ? DGRAM_MAX : 0);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    nipc_server_t *s = h->data;
    (void)flags;
    if (nread < 0)
        nipc__server_publish_error(s, (int)nread, NULL);
    else if (from != NULL) /* NULL: nothing more to read this time */
        nipc__server_datagram(s, buf->base, (size_t)nread, from);
}

typedef struct send_req {
    uv_udp_send_t req;
    size_t n;
    char bytes[];
} send_req_t;

/* A datagram the system took: the server's counters (nipc_server_stats). */
static void count_sent(nipc_server_t *s, size_t n)
{
    s->stats.frames_out++;
    s->stats.bytes_out += n;
}

static void on_sent(uv_udp_send_t *req, int status)
{
    /* A failure has no one to tell; a later emit reports a broken socket. A closing
     * listener's server may be gone already (nipc_free). */
    send_req_t *q = (send_req_t *)req;
    nipc_listener_t *l = nipc__container_of(req->handle, nipc_listener_t, udp);
    if (status == 0 && !l->closing)
        count_sent(l->handle.data, q->n);
    nipc__free(q);
}

int nipc__udp_send(nipc_server_t *s, const struct sockaddr *to, const char *p, size_t n)
{
    if (s->listener == NULL)
        return UV_EINVAL;
    if (n > NIPC_UDP_MAX_FRAME)
        return UV_EMSGSIZE;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_udp_try_send(&s->listener->udp, &b, 1, to);
    if (r >= 0) {
        count_sent(s, n);
        return 0;
    }
    if (r != UV_EAGAIN)
        return r;
    /* The socket is busy: queue a copy. */
    send_req_t *q = nipc__malloc(sizeof *q + n);
    if (q == NULL)
        return UV_ENOMEM;
    memcpy(q->bytes, p, n);
    q->n = n;
    b = uv_buf_init(q->bytes, (unsigned)n);
    r = uv_udp_send(&q->req, &s->listener->udp, &b, 1, to, on_sent);
    if (r)
        nipc__free(q);
    return r;
}

/* The handle's socket exists already (uv_udp_init_ex with its family, server.c), so that
 * reuse_port's SO_REUSEPORT, which libuv 1.44 has no flag for, is set before the bind. */
int nipc__udp_bind(uv_udp_t *h, const struct sockaddr *sa, struct sockaddr_storage *bound)
{
    const nipc_server_t *s = h->data;
    int err = 0;
    if (s->ipc->cfg.reuse_port) {
        uv_os_fd_t fd;
        if ((err = uv_fileno((uv_handle_t *)h, &fd)) == 0)
            err = nipc__reuse_port(fd);
    }
    if (err == 0)
        err = uv_udp_bind(h, sa, sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    int len = sizeof *bound;
    if (err == 0)
        err = uv_udp_getsockname(h, (struct sockaddr *)bound, &len);
    return err ? err : uv_udp_recv_start(h, on_alloc, on_recv);
}
