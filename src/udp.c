/* SPDX-License-Identifier: MIT */
/*
 * UDP servers (U1-U7). Every datagram is parsed on its own (U2): each complete frame in it
 * is published with a socket describing the sender (U3), valid during the handlers only; a
 * fragment without its delimiter at the end is reported as an `error` (node-ipc drops the
 * whole datagram silently). An emit is exactly one datagram holding one frame (U4); a
 * frame that would not fit one datagram is refused, never truncated.
 *
 * Broadcast: node-ipc's UDP broadcast sends nothing (U5). Here it sends the frame to every
 * sender a valid frame came from, most recent max_connections of them, which is what
 * node-ipc's UDP broadcast example expects.
 */
#include "transport/transport.h"

#include <string.h>

#define DGRAM_MAX 65536

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* Keeps the most recent senders, for broadcast: a new one beyond the bound evicts the oldest. */
static void remember(nipc_server_t *s, const struct sockaddr *sa)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (same_peer(&s->peers[i], sa))
            return;
    size_t max = s->ipc->cfg.max_connections;
    if (max == 0)
        return;
    if (s->peers == NULL && (s->peers = nipc__calloc(max, sizeof *s->peers)) == NULL)
        return;
    if (s->npeers == max) {
        memmove(s->peers, s->peers + 1, (max - 1) * sizeof *s->peers);
        s->npeers--;
    }
    memset(&s->peers[s->npeers], 0, sizeof s->peers[0]);
    memcpy(&s->peers[s->npeers++], sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
}

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
    if (nread < 0) {
        nipc__server_publish_error(s, (int)nread, NULL);
        return;
    }
    if (from == NULL) /* nothing more to read this time */
        return;

    nipc_socket_t sock;
    memset(&sock, 0, sizeof sock);
    sock.udp = true;
    sock.server = s;
    sock.size = (size_t)nread;
    nipc__ip_describe(&sock, from);

    const char *p = buf->base;
    size_t n = (size_t)nread, off = 0, flen;
    nipc_frame_t f;
    nipc__frame_init(&f, s->ipc->cfg.delimiter, s->ipc->dlen);
    bool valid = false;
    /* A handler may stop the server: then the rest of the datagram is not delivered. */
    while (s->listener != NULL && nipc__frame_next(&f, p + off, n - off, &flen)) {
        nipc_msg_t m;
        nipc__msg_decode(&m, p + off, flen, s->ipc->cfg.allow_reserved_events);
        off += flen + s->ipc->dlen;
        if (m.err) {
            nipc__server_publish(s, "error", m.decoded, &sock, m.err);
        } else {
            valid = true;
            nipc__server_deliver(s, &sock, m.type, m.data);
        }
        nipc__msg_clear(&m);
    }
    if (s->listener != NULL && off < n)
        nipc__server_publish_error(s, UV_EPROTO, &sock); /* a fragment with no delimiter */
    if (valid)
        remember(s, from);
    json_decref(sock.id);
}

typedef struct send_req {
    uv_udp_send_t req;
    char bytes[];
} send_req_t;

static void on_sent(uv_udp_send_t *req, int status)
{
    (void)status; /* a datagram has no one to tell; a later emit reports a broken socket */
    nipc__free(req);
}

int nipc__udp_send(nipc_server_t *s, const struct sockaddr *to, const char *p, size_t n)
{
    if (s->listener == NULL)
        return UV_EINVAL;
    if (n > NIPC_UDP_MAX_FRAME)
        return UV_EMSGSIZE;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int r = uv_udp_try_send(&s->listener->udp, &b, 1, to);
    if (r >= 0)
        return 0;
    if (r != UV_EAGAIN)
        return r;
    /* The socket is busy: queue a copy. */
    send_req_t *q = nipc__malloc(sizeof *q + n);
    if (q == NULL)
        return UV_ENOMEM;
    memcpy(q->bytes, p, n);
    b = uv_buf_init(q->bytes, (unsigned)n);
    r = uv_udp_send(&q->req, &s->listener->udp, &b, 1, to, on_sent);
    if (r)
        nipc__free(q);
    return r;
}

int nipc__udp_broadcast(nipc_server_t *s, const char *p, size_t n)
{
    int first = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        int err = nipc__udp_send(s, (struct sockaddr *)&s->peers[i], p, n);
        if (err && first == 0)
            first = err;
    }
    return first;
}

/* U7: `start` with {address, port}, then `connect` once with the bound socket. */
static void started(nipc_deferred_t *d)
{
    nipc_server_t *s = nipc__container_of(d, nipc_server_t, start_d);
    json_t *where = json_pack("{s:s, s:i}", "address", s->path, "port", s->bound_port);
    nipc__server_publish(s, "start", where, NULL, 0);
    json_decref(where);
    if (s->listener != NULL)
        nipc__server_publish(s, "connect", NULL, &s->self, 0);
}

int nipc__udp_start(nipc_server_t *s, const struct sockaddr *sa)
{
    uv_udp_t *h = &s->listener->udp;
    int err = uv_udp_bind(h, sa, sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
    if (err)
        return err;
    struct sockaddr_storage got;
    int len = sizeof got;
    if ((err = uv_udp_getsockname(h, (struct sockaddr *)&got, &len)) != 0)
        return err;
    json_decref(s->self.id);
    memset(&s->self, 0, sizeof s->self);
    s->self.udp = true;
    s->self.server = s;
    nipc__ip_describe(&s->self, (struct sockaddr *)&got);
    s->bound_port = s->self.port;
    if ((err = uv_udp_recv_start(h, on_alloc, on_recv)) != 0)
        return err;
    nipc__defer(s->ipc, &s->start_d, started);
    return 0;
}
