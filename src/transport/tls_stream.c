/* SPDX-License-Identifier: MIT */
/*
 * TLS as a stream transport (T1-T6): a TCP stream whose bytes go through the TLS engine
 * (tls.c, OpenSSL over memory buffers; no OpenSSL here). Listening, accepting and
 * connecting are TCP's; reading feeds the engine and hands the plaintext to the
 * connection; writing encrypts into the engine's out queue, which one TCP write at a time
 * sends.
 *
 * State per connection (tls_conn_t, made at start, freed at close): the engine, the
 * ciphertext write in flight, and the handshake timer. The connection is established when
 * the handshake ends (nipc__conn_ready), so `connect` comes after it on both sides, as in
 * node-ipc 14 (C4, S7). A handshake that has not ended after tls.handshake_timeout_ms fails
 * with UV_ETIMEDOUT.
 *
 * Writes and back-pressure: conn.c's try_write is taken whole only while nothing is waiting
 * to go out; otherwise UV_EAGAIN makes conn.c use write, whose completion comes when all
 * the ciphertext queued so far has been sent. So conn.c's queue bound (max_queued_bytes)
 * holds over TLS too: the engine never holds more than one write's worth.
 */
#include "tls.h"
#include "transport.h"

#include <string.h>

typedef struct tls_conn {
    nipc_tls_t *tls;
    uv_write_t wreq;
    nipc_buf_t sending; /* the ciphertext of the TCP write in flight */
    uv_timer_t *timer;  /* the handshake's bound, until it ends */
    bool writing;       /* wreq is in flight */
    bool owed;          /* conn.c's write completes once the out queue is sent */
    bool shut_owed;     /* conn.c's shutdown: after close_notify is sent */
    bool ready;         /* the handshake ended and conn.c was told */
} tls_conn_t;

static tls_conn_t *state(nipc_conn_t *c)
{
    return c->xport;
}

/* ---- contexts --------------------------------------------------------------------------- */

/* config.tls as the engine's options: the two sides read the same keys (T2, T3). */
static void opts_of(const nipc_config_t *cfg, bool server, nipc_tls_opts_t *o)
{
    nipc__tls_opts_init(o);
    o->server = server;
    o->key_file = cfg->tls.private_key;
    o->key_pem = cfg->tls.key_pem;
    o->cert_file = cfg->tls.public_cert;
    o->cert_pem = cfg->tls.cert_pem;
    o->dhparam_file = server ? cfg->tls.dhparam : NULL;
    o->ca_files = cfg->tls.trusted_connections;
    o->n_ca_files = 0;
    for (const char *const *p = cfg->tls.trusted_connections; p != NULL && *p != NULL; p++)
        o->n_ca_files++;
    o->ca_pem = cfg->tls.ca_pem;
    o->request_cert = server && cfg->tls.request_cert;
    o->reject_unauthorized = cfg->tls.reject_unauthorized;
    o->ciphers = cfg->tls.ciphers;
    o->min_version = cfg->tls.min_version;
}

int nipc__tls_context(nipc_t *ipc, bool server, nipc_tls_ctx_t **out)
{
    nipc_tls_ctx_t **slot = server ? &ipc->tls_server : &ipc->tls_client;
    if (*slot == NULL) {
        nipc_tls_opts_t o;
        char why[256] = "";
        opts_of(&ipc->cfg, server, &o);
        int err = nipc__tls_ctx_new(&o, slot, why, sizeof why);
        if (err) {
            nipc_log(ipc, "TLS %s configuration refused: %s", server ? "server" : "client",
                     why[0] ? why : nipc_strerror(err));
            return err;
        }
    }
    *out = *slot;
    return 0;
}

void nipc__tls_contexts_free(nipc_t *ipc)
{
    nipc__tls_ctx_free(ipc->tls_server);
    nipc__tls_ctx_free(ipc->tls_client);
    ipc->tls_server = ipc->tls_client = NULL;
}

/* ---- sending ---------------------------------------------------------------------------- */

static void send_queue(nipc_conn_t *c);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    nipc__conn_shut(req->data, status);
}

/* Everything queued is out: the debts to conn.c are paid. */
static void sent_all(nipc_conn_t *c)
{
    tls_conn_t *t = state(c);
    if (t->owed) {
        t->owed = false;
        nipc__conn_written(c, 0);
    }
    if (t->shut_owed && !uv_is_closing(&c->u.handle)) {
        t->shut_owed = false;
        c->sreq.data = c;
        int err = uv_shutdown(&c->sreq, &c->u.stream, on_shutdown);
        if (err != 0)
            nipc__conn_shut(c, err);
    }
}

static void on_sent(uv_write_t *req, int status)
{
    nipc_conn_t *c = req->data;
    tls_conn_t *t = state(c);
    t->writing = false;
    nipc__buf_reset(&t->sending);
    if (status < 0) {
        if (status == UV_ECANCELED)
            return; /* closing: it knows why */
        if (t->owed) {
            t->owed = false;
            nipc__conn_written(c, status);
        } else if (c->closing) {
            /* A write of the engine's own (a handshake flight, an alert, close_notify) that
             * failed after the close began, as a reset peer makes it: the connection has
             * reported its error already, and no flush can wait for this one. */
            nipc__conn_shut(c, status);
        } else {
            nipc__conn_rx(c, status); /* the connection fails and closes */
        }
        return;
    }
    send_queue(c);
}

/* Hands the engine's out queue to TCP, one write at a time. */
static void send_queue(nipc_conn_t *c)
{
    tls_conn_t *t = state(c);
    if (t->writing || uv_is_closing(&c->u.handle))
        return;
    nipc_buf_t *out = nipc__tls_out(t->tls);
    if (nipc__buf_size(out) == 0) {
        sent_all(c);
        return;
    }
    nipc__buf_swap(out, &t->sending);
    uv_buf_t b = uv_buf_init(t->sending.data + t->sending.off,
                             (unsigned)nipc__buf_size(&t->sending)); /* < 4 GiB: one write */
    t->wreq.data = c;
    int err = uv_write(&t->wreq, &c->u.stream, &b, 1, on_sent);
    if (err) {
        nipc__buf_reset(&t->sending);
        nipc__conn_rx(c, err);
        return;
    }
    t->writing = true;
}

static int encrypt(tls_conn_t *t, const uv_buf_t *b, unsigned n, size_t *total)
{
    *total = 0;
    for (unsigned i = 0; i < n; i++) {
        int err = nipc__tls_write(t->tls, b[i].base, b[i].len);
        if (err)
            return err;
        *total += b[i].len;
    }
    return 0;
}

static int tls_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n)
{
    tls_conn_t *t = state(c);
    size_t total;
    int err = encrypt(t, b, n, &total);
    if (err)
        return err;
    t->owed = true;
    if (!t->writing)
        send_queue(c);
    return 0;
}

static int tls_try_write(nipc_conn_t *c, const uv_buf_t *b, unsigned n)
{
    tls_conn_t *t = state(c);
    /* Something is still going out: the socket is slow, so conn.c keeps its queue. Past
     * what the int result can count, the write path takes it (with its completion). */
    size_t want = 0;
    for (unsigned i = 0; i < n; i++)
        want += b[i].len;
    if (t->writing || nipc__tls_out_size(t->tls) > 0 || want > INT32_MAX)
        return UV_EAGAIN;
    size_t total;
    int err = encrypt(t, b, n, &total);
    if (err)
        return err;
    /* The common case: the socket takes all the ciphertext now, without a request. */
    nipc_buf_t *out = nipc__tls_out(t->tls);
    uv_buf_t cb = uv_buf_init(out->data + out->off, (unsigned)nipc__buf_size(out));
    int w = uv_try_write(&c->u.stream, &cb, 1);
    if (w > 0)
        out->off += (size_t)w;
    else if (w != UV_EAGAIN)
        return w;
    send_queue(c);
    return (int)total;
}

static int tls_shutdown(nipc_conn_t *c)
{
    tls_conn_t *t = state(c);
    int err = nipc__tls_shutdown(t->tls);
    if (err)
        return err;
    t->shut_owed = true;
    send_queue(c);
    return 0;
}

/* ---- receiving -------------------------------------------------------------------------- */

static void handshake_over(nipc_conn_t *c, int status)
{
    tls_conn_t *t = state(c);
    if (t->timer != NULL) {
        t->timer->data = c->ipc;
        uv_timer_stop(t->timer);
        nipc__close_handle(c->ipc, (uv_handle_t *)t->timer, nipc__free_handle);
        t->timer = NULL;
    }
    if (status < 0)
        nipc_log(c->ipc, "TLS handshake failed: %s (%s)", nipc_strerror(status),
                 nipc__tls_error_detail(t->tls));
    t->ready = true;
    nipc__conn_ready(c, status);
}

static void on_handshake_timeout(uv_timer_t *timer)
{
    nipc_conn_t *c = timer->data;
    send_queue(c);
    handshake_over(c, UV_ETIMEDOUT);
}

/* Decrypts what was fed, into the connection's receive buffer, until the engine needs
 * more; then sends what the engine queued (handshake messages, alerts). */
static void drain(nipc_conn_t *c)
{
    tls_conn_t *t = state(c);
    int err = 0;
    while (!c->closing) {
        uv_buf_t room;
        size_t got = 0;
        nipc__conn_rx_room(c, &room);
        if (room.len == 0) {
            err = UV_ENOMEM;
            break;
        }
        err = nipc__tls_read(t->tls, room.base, room.len, &got);
        if (!t->ready && (err < 0 || nipc__tls_established(t->tls))) {
            send_queue(c); /* the last flight, or the alert that says why */
            handshake_over(c, err < 0 ? err : 0);
            if (err < 0)
                return;
        }
        if (err < 0 || got == 0)
            break;
        nipc__conn_rx(c, (ssize_t)got);
    }
    if (err < 0 && !c->closing)
        nipc__conn_rx(c, err); /* UV_EOF: the peer's close_notify; or the failure */
    else if (!c->closing)
        send_queue(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    nipc_conn_t *c = h->data;
    nipc_buf_t *in = nipc__tls_in(state(c)->tls);
    (void)suggested;
    if (nipc__buf_reserve(in, 64 * 1024) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(in->data + in->len,
                       (unsigned)(in->cap - in->len > UINT32_MAX ? UINT32_MAX : in->cap - in->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    nipc_conn_t *c = s->data;
    tls_conn_t *t = state(c);
    (void)buf;
    if (nread < 0) {
        /* The peer vanished without close_notify (a truncation), or the socket failed. */
        if (!t->ready)
            handshake_over(c, nread == UV_EOF ? NIPC_ETLS : (int)nread);
        else
            nipc__conn_rx(c, nread);
        return;
    }
    nipc__tls_in(t->tls)->len += (size_t)nread;
    if (nread > 0)
        drain(c);
}

/* ---- the entry ---------------------------------------------------------------------------- */

static int tls_start(nipc_conn_t *c)
{
    nipc_tls_ctx_t *ctx;
    bool server = c->servername == NULL;
    int err = nipc__tls_context(c->ipc, server, &ctx);
    if (err)
        return err;
    tls_conn_t *t = nipc__calloc(1, sizeof *t);
    if (t == NULL)
        return UV_ENOMEM;
    nipc__buf_init(&t->sending);
    const char *name = server                               ? NULL
                       : c->ipc->cfg.tls.servername != NULL ? c->ipc->cfg.tls.servername
                                                            : c->servername;
    if ((err = nipc__tls_new(ctx, name, &t->tls)) != 0) {
        nipc__free(t);
        return err;
    }
    c->xport = t;
    uv_tcp_nodelay(&c->u.tcp, 1);
    unsigned ms = c->ipc->cfg.tls.handshake_timeout_ms;
    if (ms > 0 && (t->timer = nipc__malloc(sizeof *t->timer)) != NULL) {
        uv_timer_init(c->ipc->loop, t->timer);
        t->timer->data = c;
        uv_timer_start(t->timer, on_handshake_timeout, ms, 0);
    }
    if ((err = uv_read_start(&c->u.stream, on_alloc, on_read)) != 0)
        return err; /* the close frees t */
    send_queue(c);  /* a client's ClientHello */
    return NIPC__PENDING;
}

static void tls_read_stop(nipc_conn_t *c)
{
    uv_read_stop(&c->u.stream);
}

static void on_closed(uv_handle_t *h)
{
    nipc_conn_t *c = h->data;
    tls_conn_t *t = state(c);
    if (t != NULL) {
        nipc__tls_free(t->tls);
        nipc__buf_free(&t->sending);
        nipc__free(t);
        c->xport = NULL;
    }
    nipc__conn_closed(c);
}

static void tls_close(nipc_conn_t *c)
{
    tls_conn_t *t = state(c);
    if (t != NULL && t->timer != NULL) {
        t->timer->data = c->ipc;
        nipc__close_handle(c->ipc, (uv_handle_t *)t->timer, nipc__free_handle);
        t->timer = NULL;
    }
    nipc__close_handle(c->ipc, &c->u.handle, on_closed);
}

/* A TLS server's socket is a TCP one; what it needs of its own is checked before it accepts,
 * whether this process bound it or inherited it. */
static int tls_open(nipc_server_t *s, uv_handle_t *h, int fd)
{
    nipc_tls_ctx_t *ctx;
    int err = nipc__tls_context(s->ipc, true, &ctx); /* T6: no key, no start */
    return err ? err : nipc__tcp_open(s, h, fd);
}

static const char *tls_subject(nipc_conn_t *c)
{
    return state(c) != NULL ? nipc__tls_peer_subject(state(c)->tls) : NULL;
}

const nipc_stream_ops_t nipc__tls_ops = {
    .name = "tls",
    .init = nipc__tcp_init,
    .bind = nipc__tcp_bind,
    .open = tls_open,
    .accept = nipc__stream_accept,
    .connect = nipc__tcp_connect,
    .start = tls_start,
    .read_stop = tls_read_stop,
    .write = tls_write,
    .try_write = tls_try_write,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .peer = nipc__tcp_peer,
    .subject = tls_subject,
};
