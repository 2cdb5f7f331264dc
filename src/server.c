/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's server (S1-S15) over every transport: the stream transports (transport.h)
 * share one path; UDP's datagrams have theirs (U1-U7), over transport/udp.c's socket. State: the
 * listener (NULL when not listening; with it, the handle that sheds a connection nipc has no
 * memory for, so that libuv never stops accepting), the connected stream sockets in connection
 * order (node-ipc's server.sockets) and the handler table. A stream socket leaves the array when
 * its connection has closed, just before socket.disconnected is published, and is freed when
 * that event has returned.
 */
#include "codec/codec.h"
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void nipc__server_publish(nipc_server_t *s, const char *type, json_t *data, nipc_socket_t *sock,
                          int status)
{
    nipc_event_t ev = {.type = type, .data = data, .socket = sock, .server = s, .status = status};
    nipc__publish(s->ipc, &s->events, &ev);
}

#define publish nipc__server_publish

void nipc__server_publish_error(nipc_server_t *s, int err, nipc_socket_t *sock)
{
    json_t *payload = nipc__error_payload(err);
    publish(s, "error", payload, sock, err);
    json_decref(payload);
}

/* A JavaScript-truthy data.id (S9): not false, null, 0 or "". */
static bool names_socket(const json_t *id)
{
    return id != NULL && !json_is_false(id) && !json_is_null(id) &&
           !(json_is_string(id) && json_string_length(id) == 0) &&
           !(json_is_number(id) && json_number_value(id) == 0);
}

void nipc__server_deliver(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data,
                          unsigned hints)
{
    nipc__log_event(s->ipc, "received event of :", NULL, type, data);
    if (!sock->udp && nipc__request_reply(&sock->conn, type, data))
        return;
    nipc_event_t ev = {.type = type, .socket = sock, .server = s};
    data = ev.data = nipc__request_unwrap(data, hints & NIPC_HINT_REQUEST, &ev.request);
    json_t *id =
        (hints & NIPC_HINT_ID) && json_is_object(data) ? json_object_get(data, "id") : NULL;
    if (names_socket(id)) {
        json_decref(sock->id);
        sock->id = json_incref(id);
        nipc__free(sock->id_text);
        sock->id_text = NULL;
    }
    nipc__publish(s->ipc, &s->events, &ev);
}

/* ---- stream sockets ---------------------------------------------------------------------- */

static int add_socket(nipc_server_t *s, nipc_socket_t *sock)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        nipc_socket_t **v = nipc__realloc(s->sockets, cap * sizeof *v);
        if (v == NULL)
            return UV_ENOMEM;
        s->sockets = v;
        s->cap = cap;
    }
    s->sockets[s->count++] = sock;
    return 0;
}

static void remove_socket(nipc_server_t *s, nipc_socket_t *sock)
{
    for (size_t i = 0; i < s->count; i++) {
        if (s->sockets[i] == sock) {
            memmove(s->sockets + i, s->sockets + i + 1, (s->count - i - 1) * sizeof *s->sockets);
            s->count--;
            return;
        }
    }
}

static void free_socket(nipc_socket_t *sock)
{
    nipc__conn_release(&sock->conn);
    json_decref(sock->id);
    nipc__free(sock->id_text);
    nipc__free(sock);
}

static void publish_loss(nipc_server_t *s, nipc_socket_t *sock, nipc_loss_t loss, int reason)
{
    nipc_event_t ev = {.type = "drop", .socket = sock, .server = s};
    nipc__publish_drop(s->ipc, &s->events, &ev, loss, reason);
}

void nipc__server_publish_loss(nipc_server_t *s, nipc_socket_t *sock, nipc_loss_t loss, int reason)
{
    nipc__stats_drop(sock != NULL && !sock->udp ? &sock->conn.stats : &s->stats, loss);
    publish_loss(s, sock, loss, reason);
}

/* What the socket still had queued is discarded and reported. */
static void drop_queue(nipc_socket_t *sock, int reason)
{
    nipc__server_publish_loss(sock->server, sock, nipc__conn_take_loss(&sock->conn, true), reason);
}

void nipc__server_report_losses(nipc_server_t *s)
{
    for (size_t i = 0; i < s->count; i++)
        drop_queue(s->sockets[i], UV_ECANCELED);
    nipc__server_publish_loss(s, NULL, nipc__mailboxes_close(s->ipc, s), UV_ECANCELED);
}

nipc_socket_t *nipc__server_socket_by_serial(const nipc_server_t *s, uint64_t serial)
{
    /* Sockets join the array in accept order, when their serial is given, and leave it
     * keeping the order: it is sorted by serial. */
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at = s->sockets[mid]->serial;
        if (at == serial)
            return s->sockets[mid];
        if (at < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void on_socket_message(nipc_conn_t *c, const char *type, json_t *data, unsigned hints)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    nipc__server_deliver(sock->server, sock, type, data, hints);
}

/* Raw mode (R3): `data` with the bytes of one read, and the socket. */
static void publish_bytes(nipc_server_t *s, nipc_socket_t *sock, const char *p, size_t n)
{
    nipc_event_t ev = {.type = "data", .socket = sock, .server = s, .bytes = p, .size = n};
    if (nipc__log_on(s->ipc))
        nipc_log(s->ipc, "received data : %zu bytes", n);
    nipc__publish(s->ipc, &s->events, &ev);
}

static void on_socket_bytes(nipc_conn_t *c, const char *p, size_t n)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    publish_bytes(sock->server, sock, p, n);
}

static void on_socket_error(nipc_conn_t *c, int err, json_t *payload)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    nipc_log(sock->server->ipc, "socket error: %s", nipc_strerror(err));
    if (payload != NULL)
        publish(sock->server, "error", payload, sock, err);
    else
        nipc__server_publish_error(sock->server, err, sock);
}

/* S7: `connect` once frames can flow (after the handshake, for TLS). */
static void socket_ready(nipc_socket_t *sock)
{
    sock->announced = true;
    sock->server->pending--;
    sock->server->stats.connections++;
    nipc_log(sock->server->ipc, "## socket connection to server detected ##");
    publish(sock->server, "connect", NULL, sock, 0);
}

static void on_socket_ready(nipc_conn_t *c)
{
    socket_ready((nipc_socket_t *)c);
}

static void on_socket_drain(nipc_conn_t *c)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    publish(sock->server, "drain", NULL, sock, 0);
}

/* A closing socket gives its maxConnections slot back at once (S6). */
static void on_socket_closing(nipc_conn_t *c)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    if (sock->server != NULL && !sock->closing_counted) {
        sock->closing_counted = true;
        sock->server->closing++;
    }
}

static void on_socket_close(nipc_conn_t *c, int status)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    nipc_server_t *s = sock->server;
    if (s == NULL) { /* the instance is being freed, or the socket was never announced */
        free_socket(sock);
        return;
    }
    if (sock->closing_counted)
        s->closing--;
    remove_socket(s, sock);
    /* Its counters, its loss counted, join the server's before anything is published, so
     * that a handler that reads the server's totals finds them whole. */
    nipc_loss_t loss = nipc__conn_take_loss(&sock->conn, true);
    nipc__stats_drop(&sock->conn.stats, loss);
    nipc__stats_merge(&s->stats, &sock->conn.stats);
    if (!sock->announced)
        s->stats.connections_refused++; /* a handshake that failed */
    publish_loss(s, sock, loss, status != 0 ? status : UV_ECANCELED);
    if (!sock->announced) {
        /* Its handshake never ended: it never connected, so it does not disconnect either
         * (node-ipc publishes nothing for a failed handshake); its `error` said why. */
        s->pending--;
        free_socket(sock);
        return;
    }
    nipc_log(s->ipc, "## socket disconnected ## %s",
             nipc_socket_id(sock) ? nipc_socket_id(sock) : "");
    /* S10, then node-ipc's internal close event with its had-error boolean (S11): the peer's
     * end of file is no error. */
    publish(s, "socket.disconnected", sock->id ? sock->id : json_false(), sock, 0);
    publish(s, "close", json_boolean(status != 0 && status != UV_EOF), sock, 0);
    free_socket(sock);
}

static const nipc_conn_hooks_t socket_hooks = {
    .on_message = on_socket_message,
    .on_bytes = on_socket_bytes,
    .on_error = on_socket_error,
    .on_drain = on_socket_drain,
    .on_ready = on_socket_ready,
    .on_closing = on_socket_closing,
    .on_close = on_socket_close,
};

/* ---- UDP (U1-U7) -----------------------------------------------------------------------------
 *
 * Every datagram is parsed on its own (U2): each complete frame in it is published with a
 * socket describing the sender (U3), valid during the handlers only; a fragment without its
 * delimiter at the end is reported as an `error` (node-ipc drops the whole datagram
 * silently), and so is a frame longer than max_message_size, which a stream receiver
 * refuses and a nipc sender never sends (there is no connection to close: the datagram's
 * other frames go on). An emit is exactly one datagram holding one frame (U4); a frame that
 * would not fit one datagram is refused, never truncated.
 *
 * Broadcast: node-ipc's UDP broadcast sends nothing (U5). Here it sends the frame to every
 * sender a valid frame came from, most recent max_connections of them, which is what
 * node-ipc's UDP broadcast example expects.
 */

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

void nipc__server_datagram(nipc_server_t *s, const char *p, size_t n, const struct sockaddr *from)
{
    nipc_socket_t sock;
    memset(&sock, 0, sizeof sock);
    sock.udp = true;
    sock.server = s;
    sock.size = n;
    nipc__ip_describe(&sock, from);
    s->stats.bytes_in += n;

    if (s->ipc->codec == &nipc__raw_codec) { /* R3: each datagram is one `data` */
        s->stats.frames_in++;
        remember(s, from);
        publish_bytes(s, &sock, p, n);
        json_decref(sock.id);
        return;
    }
    size_t off = 0, flen;
    nipc_frame_t f;
    nipc__frame_init(&f, s->ipc->cfg.delimiter, s->ipc->dlen);
    bool valid = false;
    /* A handler may stop the server: then the rest of the datagram is not delivered. */
    while (s->listener != NULL && nipc__frame_next(&f, p + off, n - off, &flen)) {
        if (flen > s->ipc->cfg.max_message_size) {
            off += flen + s->ipc->dlen;
            nipc__stats_refuse(&s->stats, UV_EMSGSIZE);
            nipc__server_publish_error(s, UV_EMSGSIZE, &sock);
            continue;
        }
        nipc_msg_t m;
        nipc__msg_decode(&m, p + off, flen, s->ipc->cfg.allow_reserved_events);
        nipc__msg_admit(&m, &s->ipc->rules, p + off, flen);
        off += flen + s->ipc->dlen;
        s->stats.frames_in++;
        if (m.err) {
            nipc__stats_refuse(&s->stats, m.err);
            nipc__server_publish(s, "error", m.decoded, &sock, m.err);
        } else {
            /* Known before its handlers run, so a broadcast from them reaches this sender. */
            if (!valid)
                remember(s, from);
            valid = true;
            nipc__server_deliver(s, &sock, m.type, m.data, m.hints);
        }
        nipc__msg_clear(&m);
    }
    if (s->listener != NULL && off < n) { /* a fragment with no delimiter */
        nipc__stats_refuse(&s->stats, UV_EPROTO);
        nipc__server_publish_error(s, UV_EPROTO, &sock);
    }
    json_decref(sock.id);
}

static int udp_broadcast(nipc_server_t *s, const char *p, size_t n)
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
static void udp_started(nipc_deferred_t *d)
{
    nipc_server_t *s = nipc__container_of(d, nipc_server_t, start_d);
    json_t *where = json_pack("{s:s, s:i}", "address", s->path, "port", s->bound_port);
    nipc__server_publish(s, "start", where, NULL, 0);
    json_decref(where);
    if (s->listener != NULL)
        nipc__server_publish(s, "connect", NULL, &s->self, 0);
}

static int udp_start(nipc_server_t *s, const struct sockaddr *sa)
{
    struct sockaddr_storage got;
    int err = nipc__udp_bind(&s->listener->udp, sa, &got);
    if (err)
        return err;
    json_decref(s->self.id);
    memset(&s->self, 0, sizeof s->self);
    s->self.udp = true;
    s->self.server = s;
    nipc__ip_describe(&s->self, (struct sockaddr *)&got);
    s->bound_port = s->self.port;
    nipc__defer(s->ipc, &s->start_d, udp_started);
    return 0;
}

/* ---- listening --------------------------------------------------------------------------- */

/* One of the listener block's handles has closed: the block goes with the last. */
static void listener_part_closed(nipc_listener_t *l)
{
    nipc_t *ipc = l->ipc;
    if (--l->handles == 0)
        nipc__free(l);
    nipc__handle_closed(ipc);
}

static void on_listener_closed(uv_handle_t *h)
{
    listener_part_closed(nipc__container_of(h, nipc_listener_t, handle));
}

static void on_connection(uv_stream_t *listener, int status);

/* The shed connection is closed: a connection that waited for the handle is tried again. */
static void on_shed_closed(uv_handle_t *h)
{
    nipc_listener_t *l = nipc__container_of(h, nipc_listener_t, shed.handle);
    bool retry = l->stalled && !l->closing;
    l->shed_busy = false;
    l->stalled = false;
    listener_part_closed(l); /* the listener's own handle is open when retry is true */
    if (retry)
        on_connection(&l->stream, 0);
}

/*
 * Takes the connection libuv holds and closes it, allocating nothing: one nipc cannot take
 * (out of memory). Returns false when the shed handle is still closing from the last time:
 * the connection then stays in libuv, which has paused, until on_shed_closed() tries it
 * again, so it is not lost yet.
 */
static bool shed(nipc_server_t *s)
{
    nipc_listener_t *l = s->listener;
    if (l->shed_busy || s->ops->init(s->ipc->loop, &l->shed.handle) != 0) {
        l->stalled = true;
        return false;
    }
    l->shed_busy = true;
    l->handles++;
    uv_accept(&l->stream, &l->shed.stream);
    nipc__close_handle(s->ipc, &l->shed.handle, on_shed_closed);
    return true;
}

static void close_listener(nipc_server_t *s)
{
    nipc__resolve_cancel(s->resolver);
    s->resolver = NULL;
    if (s->listener == NULL)
        return;
    /* S15: the socket file goes at once, and only if it is still ours. */
    if (!s->is_net)
        nipc__pipe_unlink_own(s->path, &s->file);
    s->listener->closing = true;
    nipc__close_handle(s->ipc, &s->listener->handle, on_listener_closed);
    s->listener = NULL;
}

static bool is_udp(const nipc_server_t *s)
{
    return s->is_net && s->net != NIPC_TCP;
}

/* S6: accept the connection, then close it at once, without a connect event. A handle of
 * its own for each, so that any number are refused in one turn; without the memory for
 * one, the listener's shed handle. */
static void refuse(nipc_server_t *s, uv_stream_t *listener)
{
    uv_handle_t *h = nipc__malloc(sizeof(((nipc_conn_t *)0)->u));
    int err = h == NULL ? UV_ENOMEM : s->ops->init(s->ipc->loop, h);
    if (err) {
        nipc__free(h);
        if (shed(s))
            s->stats.connections_refused++;
        return;
    }
    h->data = s->ipc;
    uv_accept(listener, (uv_stream_t *)h);
    s->stats.connections_refused++;
    nipc_log(s->ipc, "max connections reached (%u): connection closed",
             s->ipc->cfg.max_connections);
    nipc__close_handle(s->ipc, h, nipc__free_handle);
}

static void publish_start(nipc_deferred_t *d)
{
    nipc_server_t *s = nipc__container_of(d, nipc_server_t, start_d);
    s->start_pending = false;
    publish(s, "start", NULL, NULL, 0);
}

/* Notes a network socket's remote address (node-ipc's socket.remoteAddress and family). */
static void describe_peer(nipc_socket_t *sock)
{
    struct sockaddr_storage sa;
    if (sock->conn.ops->peer(&sock->conn, &sa) == 0)
        nipc__ip_describe(sock, (struct sockaddr *)&sa);
}

static bool listed(unsigned v, const unsigned *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/*
 * The allow_uids / allow_gids rule, before the peer is announced: 0 when it may talk to us.
 * A peer whose credentials cannot be read is refused too: the rule must not fail open.
 */
static int check_peer(nipc_server_t *s, nipc_socket_t *sock)
{
    const nipc_config_t *cfg = &s->ipc->cfg;
    nipc_cred_t cr;
    if (cfg->n_allow_uids == 0 && cfg->n_allow_gids == 0)
        return 0;
    int err = nipc_socket_peer_cred(sock, &cr);
    if (err == 0 && (listed(cr.uid, cfg->allow_uids, cfg->n_allow_uids) ||
                     listed(cr.gid, cfg->allow_gids, cfg->n_allow_gids)))
        return 0;
    if (err == 0)
        nipc_log(s->ipc, "refused a peer: pid %ld uid %u gid %u is not allowed", cr.pid, cr.uid,
                 cr.gid);
    else
        nipc_log(s->ipc, "refused a peer whose credentials are unknown: %s", nipc_strerror(err));
    return UV_EACCES;
}

/* The instance's spare descriptor (shed_for_descriptors), taken when a stream server listens
 * and again after each use. */
static void hold_spare(nipc_t *ipc)
{
    if (ipc->has_spare)
        return;
    ipc->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ipc->has_spare = ipc->spare_fd >= 0;
}

static void retake_spare(nipc_deferred_t *d)
{
    hold_spare(nipc__container_of(d, nipc_t, spare_d));
}

/*
 * Out of descriptors (EMFILE, ENFILE), libuv first uses a spare descriptor of its own: it
 * closes it, accepts and closes what waits, and takes it back. Only when it has none (it
 * could not open one when a stream was made, or another thread took its slot meanwhile)
 * does the error reach here, and libuv calls accept() again at once, for as long as it
 * fails: Linux's accept() fails with EMFILE whenever no descriptor is free, waiting
 * connection or not, so the loop would never return. Two ways out, so that a descriptor
 * is free when libuv's accept() comes back and it finds nothing waiting:
 *  - nipc's own spare: closed, what waits accepted and closed, and the spare taken back
 *    only after this poll (a deferred job), when libuv has returned to the loop;
 *  - without it (it was used this turn and a new connection took its slot), the newest
 *    connection of this server that is not closing already is given up: its descriptor
 *    is closed at once, and its `drop` and `socket.disconnected` follow as for any lost
 *    connection.
 * A server with neither, and no connection, cannot stop libuv: it waits in accept() until
 * the process frees a descriptor (nipc_server_start's documentation says so).
 */
static void shed_for_descriptors(nipc_server_t *s, uv_stream_t *listener)
{
    nipc_t *ipc = s->ipc;
    uv_os_fd_t lfd;
    if (uv_fileno((uv_handle_t *)listener, &lfd) != 0)
        return;
    if (ipc->has_spare) {
        close(ipc->spare_fd);
        ipc->has_spare = false;
        for (;;) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                s->stats.connections_refused++;
            } else if (errno != EINTR && errno != ECONNABORTED) {
                break;
            }
        }
        nipc__defer(ipc, &ipc->spare_d, retake_spare);
        return;
    }
    for (size_t i = s->count; i-- > 0;) {
        if (!s->sockets[i]->conn.closing) { /* one that is closing has freed nothing yet */
            nipc__conn_abort(&s->sockets[i]->conn);
            return;
        }
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    nipc_server_t *s = listener->data;
    int err = status;
    if (err == UV_EMFILE || err == UV_ENFILE)
        shed_for_descriptors(s, listener);
    /* `start` always comes first (S3), even when a peer connects in the same loop turn. */
    if (s->start_pending) {
        nipc__defer_cancel(s->ipc, &s->start_d);
        publish_start(&s->start_d);
    }
    if (err == 0 && s->count - s->closing >= s->ipc->cfg.max_connections) {
        refuse(s, listener);
        return;
    }
    nipc_socket_t *sock = NULL;
    if (err == 0 && (sock = nipc__calloc(1, sizeof *sock)) == NULL)
        err = UV_ENOMEM;
    if (err == 0) {
        nipc__conn_init(&sock->conn, s->ipc, &socket_hooks, s->ops);
        if ((err = nipc__conn_open(&sock->conn)) != 0) {
            free_socket(sock);
            sock = NULL;
        }
    }
    /* A connection libuv accepted and nipc cannot take must still leave libuv; one that
     * waits there for another try is reported when it is lost, not now. */
    if (status == 0 && sock == NULL && !shed(s))
        return;
    /* Until it is in the array, the socket has no server: its close publishes nothing. */
    if (err == 0)
        sock->serial = ++s->ipc->last_serial; /* as it joins the array's end: sorted */
    if (err == 0 &&
        ((err = s->ops->accept(listener, &sock->conn)) != 0 || (err = add_socket(s, sock)) != 0)) {
        nipc__conn_close(&sock->conn, false, err);
        sock = NULL;
    }
    if (err == 0 && (err = check_peer(s, sock)) != 0) {
        remove_socket(s, sock);
        nipc__conn_close(&sock->conn, false, err);
    }
    if (err == 0) {
        sock->server = s;
        s->pending++; /* until socket_ready */
        describe_peer(sock);
        if ((err = nipc__conn_start(&sock->conn)) < 0) {
            remove_socket(s, sock);
            s->pending--;
            sock->server = NULL;
            nipc__conn_close(&sock->conn, false, err);
        }
    }
    if (err < 0) {
        if (status == 0) /* a connection was taken, and closed */
            s->stats.connections_refused++;
        nipc__server_publish_error(s, err, NULL);
        return;
    }
    nipc__conn_watch_idle(&sock->conn); /* idle_timeout_ms counts from the accept */
    if (err == 0)
        socket_ready(sock);
    /* else a handshake first (S7): on_socket_ready, or an error and the close */
}

/* Opens the listener's handle on the descriptor nipc_serve_fd() was given, or on a socket
 * bound now, and accepts. On error the caller closes the listener, which removes a socket
 * file bound here; a descriptor that was given stays the server's unless the handle took it. */
static int listen_stream(nipc_server_t *s, const struct sockaddr *sa)
{
    int fd = s->fd, err = 0;
    if (fd < 0 && (err = s->ops->bind(s, sa, &fd)) != 0)
        return err;
    if ((err = s->ops->open(s, &s->listener->handle, fd)) != 0) {
        if (fd != s->fd)
            close(fd);
        return err;
    }
    s->fd = -1; /* the handle's now: closing it closes the descriptor */
    hold_spare(s->ipc);
    return uv_listen(&s->listener->stream, NIPC__BACKLOG, on_connection);
}

/* Creates the listener for `sa` (network servers) or the path, and starts it. */
static int listen_on(nipc_server_t *s, const struct sockaddr *sa)
{
    s->listener = nipc__calloc(1, sizeof *s->listener);
    if (s->listener == NULL)
        return UV_ENOMEM;
    /* UDP: the socket is made now, in the address's family, for reuse_port (udp.c). */
    int err = is_udp(s) ? uv_udp_init_ex(s->ipc->loop, &s->listener->udp, sa->sa_family)
                        : s->ops->init(s->ipc->loop, &s->listener->handle);
    if (err) {
        nipc__free(s->listener);
        s->listener = NULL;
        return err;
    }
    s->listener->ipc = s->ipc;
    s->listener->handles = 1;
    s->listener->handle.data = s;
    if (!is_udp(s))
        err = listen_stream(s, sa);
    else
        err = udp_start(s, sa); /* publishes its own start and connect (U7) */
    if (err) {
        close_listener(s);
        return err;
    }
    if (!is_udp(s))
        nipc__defer(s->ipc, &s->start_d, publish_start);
    s->start_pending = !is_udp(s);
    return 0;
}

static void on_host_resolved(void *owner, int status, const struct sockaddr *sa)
{
    nipc_server_t *s = owner;
    s->resolver = NULL;
    if (status == 0)
        status = listen_on(s, sa);
    if (status != 0) {
        nipc_log(s->ipc, "server failed to start on %s:%d: %s", s->path, s->port,
                 nipc_strerror(status));
        nipc__server_publish_error(s, status, NULL);
    }
}

static int create(nipc_t *ipc, char *path, nipc_server_t **out)
{
    if (path == NULL)
        return UV_ENOMEM;
    nipc_server_t *s = nipc__calloc(1, sizeof *s);
    if (s == NULL) {
        nipc__free(path);
        return UV_ENOMEM;
    }
    s->ipc = ipc;
    s->path = path;
    s->fd = -1;
    s->ops = &nipc__pipe_ops; /* nipc_serve_net() changes it */
    nipc__events_init(&s->events);
    nipc__buf_init(&s->scratch);
    ipc->server = s;
    if (out != NULL)
        *out = s;
    return 0;
}

int nipc_serve(nipc_t *ipc, const char *path, nipc_server_t **out)
{
    int err = 0;
    if (out != NULL)
        *out = NULL; /* a call that fails hands nothing out */
    if (ipc == NULL)
        return UV_EINVAL;
    if (ipc->server != NULL)
        return UV_EALREADY;
    /* A Unix socket has no TLS and no port to share: refused rather than ignored, which
     * node-ipc does (its Unix socket server of a tls config is plaintext). */
    if (ipc->cfg.tls.enabled || ipc->cfg.reuse_port)
        return UV_ENOTSUP;
    char *p = path ? nipc__strdup(path)
                   : nipc__config_path(&ipc->cfg, ipc->cfg.id, nipc__max_path(), &err);
    if (err)
        return err;
    if (p != NULL && strlen(p) > nipc__max_path()) {
        nipc__free(p);
        return UV_ENAMETOOLONG;
    }
    return create(ipc, p, out);
}

int nipc_serve_net(nipc_t *ipc, const char *host, int port, nipc_net_t net, nipc_server_t **out)
{
    if (out != NULL)
        *out = NULL; /* a call that fails hands nothing out */
    if (ipc == NULL || port < NIPC_PORT_DEFAULT || port > 65535 ||
        (net != NIPC_TCP && net != NIPC_UDP4 && net != NIPC_UDP6))
        return UV_EINVAL;
    if (ipc->server != NULL)
        return UV_EALREADY;
    /* assured: mutual TLS on the network, and no datagram nobody authenticates. */
    if (!nipc__config_assured_net(&ipc->cfg, true) || (ipc->cfg.assured && net != NIPC_TCP)) {
        nipc_log(ipc, "assured: a network server needs tls with request_cert");
        return UV_EINVAL;
    }
    if (host == NULL || host[0] == '\0')
        host = ipc->cfg.network_host;
    /* U1: udp4 asked to bind "::1" binds 127.0.0.1, as node-ipc does. */
    if (net == NIPC_UDP4 && strcmp(host, "::1") == 0)
        host = "127.0.0.1";
    /* A literal of the other family cannot be bound by that socket type: node's dgram fails
     * there too. (udp6 on the default host 127.0.0.1 would otherwise open IPv4.) */
    struct sockaddr_storage lit;
    if (net != NIPC_TCP && nipc__ip_parse(host, 0, &lit) == 0 &&
        (lit.ss_family == AF_INET6) != (net == NIPC_UDP6))
        return UV_EAFNOSUPPORT;
    /* A caller's codec reads a stream; a datagram has no remainder to keep. UDP has no TLS:
     * refused rather than sent in plaintext, as node-ipc's dgram server would. */
    if (net != NIPC_TCP && (ipc->codec == &nipc__custom_codec || ipc->cfg.tls.enabled))
        return UV_ENOTSUP;
    int err = create(ipc, nipc__strdup(host), out);
    if (err)
        return err;
    ipc->server->is_net = true;
    ipc->server->net = net;
    /* T1: config.tls turns TCP into TLS; UDP is no stream (and refused with tls above). */
    ipc->server->ops = net != NIPC_TCP        ? NULL
                       : ipc->cfg.tls.enabled ? &nipc__tls_ops
                                              : &nipc__tcp_ops;
    ipc->server->port = port == NIPC_PORT_DEFAULT ? ipc->cfg.network_port : port;
    return 0;
}

nipc_server_t *nipc_server(nipc_t *ipc)
{
    return ipc->server;
}

/* ---- several processes on one listening socket -------------------------------------------
 *
 * The parent binds and listens (nipc_server_listen_shared) and keeps the descriptor, and the
 * socket file, without a handle: nothing of it is on the loop, so the parent accepts nothing
 * and its loop is not kept alive by it. Each worker, after fork(), makes its own instance
 * and adopts its copy of the descriptor (nipc_serve_fd), which a libuv handle takes over
 * when it starts. A worker's stop closes its copy only; the socket file is the parent's.
 */

int nipc_server_listen_shared(nipc_server_t *s, int *fd)
{
    if (fd != NULL)
        *fd = -1;
    if (s == NULL || fd == NULL)
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    if (is_udp(s))
        return UV_ENOTSUP;
    if (s->adopted) /* a worker's: its descriptor is the parent's to share */
        return UV_EINVAL;
    if (s->listener != NULL || s->resolver != NULL || s->shared)
        return UV_EALREADY;
    struct sockaddr_storage sa;
    int err = 0;
    /* Now, as the call promises: a host name is resolved here, blocking. */
    if (s->is_net && nipc__ip_parse(s->path, s->port, &sa) != 0)
        err = nipc__resolve_now(s->ipc, s->path, s->port, 0, &sa);
    if (err == 0)
        err = s->ops->bind(s, s->is_net ? (struct sockaddr *)&sa : NULL, &s->fd);
    if (err) {
        s->fd = -1;
        nipc_log(s->ipc, "server failed to listen on %s for other processes: %s", s->path,
                 nipc_strerror(err));
        return err;
    }
    s->shared = true;
    *fd = s->fd;
    nipc_log(s->ipc, "listening on %s for other processes (descriptor %d)", s->path, s->fd);
    return 0;
}

int nipc_serve_fd(nipc_t *ipc, int fd, nipc_server_t **out)
{
    int family, port;
    char *where;
    if (out != NULL)
        *out = NULL;
    if (ipc == NULL)
        return UV_EINVAL;
    if (ipc->server != NULL)
        return UV_EALREADY;
    int err = nipc__listener_describe(fd, &family, &where, &port);
    if (err)
        return err;
    bool net = family != AF_UNIX;
    if (!net && ipc->cfg.tls.enabled) { /* no TLS on a Unix socket, as nipc_serve() */
        nipc__free(where);
        return UV_ENOTSUP;
    }
    if (net && !nipc__config_assured_net(&ipc->cfg, true)) {
        nipc__free(where);
        nipc_log(ipc, "assured: a network server needs tls with request_cert");
        return UV_EINVAL;
    }
    if ((err = create(ipc, where, out)) != 0)
        return err;
    nipc_server_t *s = ipc->server;
    s->fd = fd;
    s->adopted = true;
    if (net) {
        s->is_net = true;
        s->net = NIPC_TCP;
        s->ops = ipc->cfg.tls.enabled ? &nipc__tls_ops : &nipc__tcp_ops; /* T1 */
        s->port = port;
    }
    return 0;
}

/* nipc_serve_fd()'s server accepts on the descriptor it was given, and has no other: once a
 * stop has closed it, UV_EBADF. */
static int start_adopted(nipc_server_t *s)
{
    if (s->fd < 0)
        return UV_EBADF;
    if (s->is_net)
        nipc_log(s->ipc, "starting server on %s:%d (inherited descriptor %d)", s->path, s->port,
                 s->fd);
    else
        nipc_log(s->ipc, "starting server on %s (inherited descriptor %d)", s->path, s->fd);
    int err = listen_on(s, NULL);
    if (err)
        nipc_log(s->ipc, "server failed to start on %s: %s", s->path, nipc_strerror(err));
    return err;
}

/* Closes the descriptor that no handle holds. The shared one takes its socket file along, if
 * the path still holds the socket bound here (S15); an adopted one never does. */
static void release_fd(nipc_server_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->shared && !s->is_net)
        nipc__pipe_unlink_own(s->path, &s->file);
    s->shared = false;
}

int nipc_server_start(nipc_server_t *s)
{
    if (s == NULL)
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    if (s->listener != NULL || s->resolver != NULL || s->shared)
        return UV_EALREADY;
    if (s->adopted)
        return start_adopted(s);
    if (!s->is_net) {
        nipc_log(s->ipc, "starting server on  %s", s->path);
        int err = listen_on(s, NULL);
        if (err)
            nipc_log(s->ipc, "server failed to start on %s: %s", s->path, nipc_strerror(err));
        return err;
    }
    nipc_log(s->ipc, "starting server as %s on %s:%d",
             s->net == NIPC_TCP    ? "TCP"
             : s->net == NIPC_UDP4 ? "udp4"
                                   : "udp6",
             s->path, s->port);
    /* An IP literal is bound now, so its errors are returned; a name is resolved first,
     * and its errors become `error` events. */
    struct sockaddr_storage sa;
    if (nipc__ip_parse(s->path, s->port, &sa) == 0)
        return listen_on(s, (struct sockaddr *)&sa);
    int family = s->net == NIPC_UDP4 ? 4 : s->net == NIPC_UDP6 ? 6 : 0;
    return nipc__resolve(s->ipc, s->path, s->port, family, s, on_host_resolved, &s->resolver);
}

int nipc_server_stop(nipc_server_t *s)
{
    if (s == NULL || (s->listener == NULL && s->resolver == NULL && !s->shared))
        return UV_EINVAL;
    nipc__defer_cancel(s->ipc, &s->start_d);
    s->start_pending = false;
    close_listener(s);
    release_fd(s);
    s->bound_port = 0;
    nipc_log(s->ipc, "server closed");
    return 0;
}

void nipc__server_shutdown(nipc_server_t *s)
{
    if (s->listener != NULL || s->resolver != NULL || s->shared)
        nipc_server_stop(s);
    for (size_t i = 0; i < s->count; i++)
        nipc__conn_close(&s->sockets[i]->conn, true, 0);
}

void nipc__server_teardown(nipc_server_t *s)
{
    nipc__defer_cancel(s->ipc, &s->start_d);
    close_listener(s);
    release_fd(s);
    for (size_t i = 0; i < s->count; i++) {
        nipc_socket_t *sock = s->sockets[i];
        sock->server = NULL;
        nipc__conn_abort(&sock->conn);
    }
    s->ipc->server = NULL;
    json_decref(s->self.id);
    nipc__events_free(&s->events);
    nipc__buf_free(&s->scratch);
    nipc__free(s->peers);
    nipc__free(s->dgram);
    nipc__free(s->sockets);
    nipc__free(s->path);
    nipc__free(s);
}

/* ---- sending ----------------------------------------------------------------------------- */

/* 0 when `sock` is a live socket of `s`; the emit's error otherwise. */
static int check_socket(const nipc_server_t *s, const nipc_socket_t *sock)
{
    if (s == NULL || sock == NULL || sock->server != s)
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    return sock->conn.closing ? UV_ENOTCONN : 0;
}

/* Encodes one frame into buf: the scratch buffer, or a mailbox's for its broadcasts; with
 * `refer` (a stream server's `_new` broadcast) its large strings are referred to. */
static int encode(nipc_server_t *s, nipc_buf_t *buf, const char *type, const json_t *data,
                  bool refer)
{
    nipc__buf_reset(buf);
    return s->ipc->codec->encode(s->ipc, buf, type, data, refer);
}

/* `refer`: the caller handed data over (a `_new` emit). A datagram is copied whole. Inlined
 * into both emits, as the client's. */
static inline __attribute__((always_inline)) int emit(nipc_server_t *s, nipc_socket_t *sock,
                                                      const char *type, json_t *data, bool refer)
{
    int err = check_socket(s, sock);
    if (err)
        return err;
    nipc__log_event(s->ipc, "dispatching event to socket :", NULL, type, data);
    if (!sock->udp)
        return nipc__conn_send(&sock->conn, type, data, refer);
    err = encode(s, &s->scratch, type, data, false);
    return err ? err
               : nipc__udp_send(s, (struct sockaddr *)&sock->sa, s->scratch.data, s->scratch.len);
}

int nipc_server_emit(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data)
{
    return emit(s, sock, type, data, false);
}

int nipc_server_emit_new(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data)
{
    int err = emit(s, sock, type, data, true);
    json_decref(data);
    return err;
}

int nipc_server_emitf(nipc_server_t *s, nipc_socket_t *sock, const char *type, const char *fmt, ...)
{
    json_t *data;
    va_list ap;
    va_start(ap, fmt);
    int err = nipc__vpack(&data, fmt, ap);
    va_end(ap);
    if (err)
        return err;
    return nipc_server_emit_new(s, sock, type, data);
}

int nipc_server_emit_to(nipc_server_t *s, const char *address, int port, const char *type,
                        json_t *data)
{
    struct sockaddr_storage sa;
    if (s == NULL || !is_udp(s) || address == NULL || port <= 0 || port > 65535 ||
        nipc__ip_parse(address, port, &sa) != 0)
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    nipc__log_event(s->ipc, "dispatching event to address :", NULL, type, data);
    int err = encode(s, &s->scratch, type, data, false);
    return err ? err : nipc__udp_send(s, (struct sockaddr *)&sa, s->scratch.data, s->scratch.len);
}

int nipc_server_emit_to_new(nipc_server_t *s, const char *address, int port, const char *type,
                            json_t *data)
{
    int err = nipc_server_emit_to(s, address, port, type, data);
    json_decref(data);
    return err;
}

/* The same bytes to every connected socket, or every UDP sender heard from (S14); `frame`,
 * when not NULL, holds them with its spans (a stream server's encoded frame). The first
 * per-socket error is returned, or with `lost` each is given to it. */
static int broadcast_frame(nipc_server_t *s, const char *p, size_t n, const nipc_buf_t *frame,
                           nipc_lost_cb lost, void *arg)
{
    int first = 0;
    if (is_udp(s)) { /* too large is too large, whether anyone was heard from or not */
        first = n > NIPC_UDP_MAX_FRAME ? UV_EMSGSIZE : udp_broadcast(s, p, n);
        if (first && lost != NULL) {
            lost(arg, NULL, first, n);
            first = 0;
        }
        return first;
    }
    /* By index: lost() may run handlers, which never add or remove sockets synchronously. */
    for (size_t i = 0; i < s->count; i++) {
        nipc_conn_t *c = &s->sockets[i]->conn;
        if (c->closing || !c->established) /* a handshake under way: not connected yet */
            continue;
        int err = frame != NULL ? nipc__conn_send_frame(c, frame) : nipc__conn_send_bytes(c, p, n);
        if (err && lost != NULL)
            lost(arg, s->sockets[i], err, n);
        else if (err && first == 0)
            first = err;
    }
    return first;
}

static int broadcast_bytes(nipc_server_t *s, const char *p, size_t n, nipc_lost_cb lost, void *arg)
{
    return broadcast_frame(s, p, n, NULL, lost, arg);
}

int nipc__server_broadcast_frame(nipc_server_t *s, nipc_buf_t *buf, const char *type,
                                 const json_t *data, bool refer, nipc_lost_cb lost, void *arg)
{
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    int err = encode(s, buf, type, data, refer && !is_udp(s));
    if (err)
        return err;
    nipc__log_event(s->ipc, "broadcasting event to all known sockets :", NULL, type, data);
    err = broadcast_frame(s, buf->data, buf->len, buf, lost, arg);
    nipc__buf_reset(buf); /* each socket holds its own references to the strings */
    return err;
}

int nipc_server_broadcast(nipc_server_t *s, const char *type, json_t *data)
{
    if (s == NULL)
        return UV_EINVAL;
    return nipc__server_broadcast_frame(s, &s->scratch, type, data, false, NULL, NULL);
}

int nipc_server_broadcast_new(nipc_server_t *s, const char *type, json_t *data)
{
    int err = s == NULL
                  ? UV_EINVAL
                  : nipc__server_broadcast_frame(s, &s->scratch, type, data, true, NULL, NULL);
    json_decref(data);
    return err;
}

int nipc_server_broadcastf(nipc_server_t *s, const char *type, const char *fmt, ...)
{
    json_t *data;
    va_list ap;
    va_start(ap, fmt);
    int err = nipc__vpack(&data, fmt, ap);
    va_end(ap);
    if (err)
        return err;
    return nipc_server_broadcast_new(s, type, data);
}

/* ---- requests -------------------------------------------------------------------------------- */

int nipc_server_request(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data,
                        unsigned timeout_ms, nipc_reply_cb cb, void *arg)
{
    int err = check_socket(s, sock);
    if (err)
        return err;
    if (sock->udp) /* a datagram's sender is gone when its handler returns */
        return UV_ENOTSUP;
    if (s->ipc->codec == &nipc__raw_codec)
        return UV_EINVAL;
    return nipc__request_send(&sock->conn, type, data, timeout_ms, cb, arg);
}

int nipc_server_reply(nipc_server_t *s, nipc_socket_t *sock, int64_t request, json_t *answer)
{
    int err = check_socket(s, sock);
    if (err)
        return err;
    if (s->ipc->codec == &nipc__raw_codec || request <= 0)
        return UV_EINVAL;
    if (!sock->udp)
        return nipc__request_answer(&sock->conn, request, answer);
    json_t *reply = nipc__reply_payload(request, answer);
    if (reply == NULL)
        return UV_ENOMEM;
    return nipc_server_emit_new(s, sock, "$reply", reply);
}

int nipc_reply(const nipc_event_t *ev, json_t *answer)
{
    if (ev == NULL || ev->request <= 0)
        return UV_EINVAL;
    if (ev->server != NULL)
        return nipc_server_reply(ev->server, ev->socket, ev->request, answer);
    return nipc_client_reply(ev->client, ev->request, answer);
}

/* ---- raw mode ------------------------------------------------------------------------------ */

/* Bytes as they are need a codec that does not frame them: raw mode's, or the caller's. */
static bool sends_bytes(const nipc_server_t *s)
{
    return s != NULL && s->ipc->codec != &nipc__json_codec;
}

int nipc_server_send(nipc_server_t *s, nipc_socket_t *sock, const void *p, size_t n)
{
    int err = check_socket(s, sock);
    if (err)
        return err;
    if (!sends_bytes(s) || (p == NULL && n > 0))
        return UV_EINVAL;
    if (n > s->ipc->cfg.max_message_size)
        return UV_EMSGSIZE;
    if (nipc__log_on(s->ipc))
        nipc_log(s->ipc, "dispatching %zu bytes to socket", n);
    if (!sock->udp)
        return nipc__conn_send_bytes(&sock->conn, p, n);
    return nipc__udp_send(s, (struct sockaddr *)&sock->sa, p, n);
}

/* Text in the configured encoding (R2), into the scratch buffer. */
static int encode_text(nipc_server_t *s, const char *text)
{
    if (s == NULL || text == NULL || s->ipc->codec != &nipc__raw_codec)
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    return encode(s, &s->scratch, text, NULL, false);
}

int nipc_server_send_text(nipc_server_t *s, nipc_socket_t *sock, const char *text)
{
    int err = check_socket(s, sock);
    if (err == 0)
        err = encode_text(s, text);
    return err ? err : nipc_server_send(s, sock, s->scratch.data, s->scratch.len);
}

int nipc_server_send_to(nipc_server_t *s, const char *address, int port, const void *p, size_t n)
{
    struct sockaddr_storage sa;
    if (s == NULL || !is_udp(s) || !sends_bytes(s) || address == NULL || port <= 0 ||
        port > 65535 || nipc__ip_parse(address, port, &sa) != 0 || (p == NULL && n > 0))
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    return nipc__udp_send(s, (struct sockaddr *)&sa, p, n);
}

int nipc__server_broadcast_raw(nipc_server_t *s, const void *p, size_t n, nipc_lost_cb lost,
                               void *arg)
{
    if (!sends_bytes(s) || (p == NULL && n > 0))
        return UV_EINVAL;
    if (nipc__gone(s->ipc))
        return NIPC_EDESTROYED;
    if (n > s->ipc->cfg.max_message_size)
        return UV_EMSGSIZE;
    return broadcast_bytes(s, p, n, lost, arg);
}

int nipc_server_broadcast_bytes(nipc_server_t *s, const void *p, size_t n)
{
    return nipc__server_broadcast_raw(s, p, n, NULL, NULL);
}

int nipc_server_broadcast_text(nipc_server_t *s, const char *text)
{
    int err = encode_text(s, text);
    return err ? err : broadcast_bytes(s, s->scratch.data, s->scratch.len, NULL, NULL);
}

/* ---- accessors and handlers ---------------------------------------------------------------- */

/* Sockets mid-handshake are not connected yet: counted for maxConnections, not listed. */
size_t nipc_server_socket_count(const nipc_server_t *s)
{
    return s->count - s->pending;
}

nipc_socket_t *nipc_server_socket_at(const nipc_server_t *s, size_t i)
{
    if (s->pending == 0) /* always, but during TLS handshakes */
        return i < s->count ? s->sockets[i] : NULL;
    for (size_t k = 0; k < s->count; k++)
        if (s->sockets[k]->announced && i-- == 0)
            return s->sockets[k];
    return NULL;
}

const char *nipc_server_path(const nipc_server_t *s)
{
    return s->is_net ? NULL : s->path;
}

const char *nipc_server_host(const nipc_server_t *s)
{
    return s->is_net ? s->path : NULL;
}

int nipc_server_port(const nipc_server_t *s)
{
    return s->bound_port;
}

int nipc_server_on(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&s->events, type, cb, arg, false);
}

int nipc_server_once(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&s->events, type, cb, arg, true);
}

int nipc_server_off(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_off(&s->events, type, cb, arg);
}

const char *nipc_socket_id(const nipc_socket_t *sock)
{
    if (sock->id == NULL || json_is_string(sock->id))
        return sock->id ? json_string_value(sock->id) : NULL;
    if (sock->id_text == NULL) {
        /* Made once per learned id; the cast reaches only this cache. */
        nipc_buf_t b;
        nipc__buf_init(&b);
        if (nipc__json_write(&b, sock->id) == 0 && nipc__buf_append(&b, "", 1) == 0)
            ((nipc_socket_t *)sock)->id_text = b.data;
        else
            nipc__buf_free(&b);
    }
    return sock->id_text;
}

int nipc_socket_peer_cred(const nipc_socket_t *sock, nipc_cred_t *out)
{
    nipc_conn_t *c = (nipc_conn_t *)&sock->conn;
    if (sock->udp || c->ops->cred == NULL)
        return UV_ENOTSUP;
    return c->open ? c->ops->cred(c, out) : UV_ENOTCONN;
}

const char *nipc_socket_tls_subject(const nipc_socket_t *sock)
{
    const nipc_conn_t *c = &sock->conn;
    return !sock->udp && c->ops->subject != NULL ? c->ops->subject((nipc_conn_t *)c) : NULL;
}

json_t *nipc_socket_id_json(const nipc_socket_t *sock)
{
    return sock->id;
}

uint64_t nipc_socket_serial(const nipc_socket_t *sock)
{
    return sock->serial;
}

nipc_server_t *nipc_socket_server(const nipc_socket_t *sock)
{
    return sock->server;
}

void nipc_socket_set_data(nipc_socket_t *sock, void *data)
{
    sock->data = data;
}

void *nipc_socket_data(const nipc_socket_t *sock)
{
    return sock->data;
}

/* The text is made on first use: a server that never asks formats no address. */
const char *nipc_socket_address(const nipc_socket_t *sock)
{
    /* The cast reaches only the text cache. */
    return sock->family != NULL ? nipc__ip_text((nipc_socket_t *)sock) : NULL;
}

int nipc_socket_port(const nipc_socket_t *sock)
{
    return sock->port;
}

const char *nipc_socket_family(const nipc_socket_t *sock)
{
    return sock->family;
}

size_t nipc_socket_size(const nipc_socket_t *sock)
{
    return sock->size;
}

int nipc_socket_stats(const nipc_socket_t *sock, nipc_stats_t *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (sock == NULL || out == NULL)
        return UV_EINVAL;
    if (sock->udp)
        return UV_ENOTSUP;
    nipc__conn_stats(&sock->conn, out);
    return 0;
}

int nipc_server_stats(const nipc_server_t *s, nipc_stats_t *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (s == NULL || out == NULL)
        return UV_EINVAL;
    *out = s->stats;
    for (size_t i = 0; i < s->count; i++) {
        nipc_stats_t one;
        nipc__conn_stats(&s->sockets[i]->conn, &one);
        nipc__stats_merge(out, &one);
    }
    return 0;
}

int nipc_socket_close(nipc_socket_t *sock, bool flush)
{
    if (sock == NULL || sock->udp || sock->server == NULL)
        return UV_EINVAL;
    if (sock->conn.closing)
        return UV_EALREADY;
    nipc__conn_close(&sock->conn, flush, 0);
    return 0;
}
