/* SPDX-License-Identifier: MIT */
/*
 * Never a silent loss (nipc.h, `drop`): every frame an emit accepted and nipc then discards
 * is reported, with how many frames and bytes and why: emits queued before a first connect
 * when retrying ends (C13), a close without flush on either side, nipc_free(), a flush that
 * times out (flush_timeout_ms) towards a peer that never reads, a connection lost with a
 * queue. The queue towards such a peer is bounded by default (max_queued_bytes). A write
 * that fails inside the emit that started it is reported after the emit has returned.
 */
#include "../support/transport.h"
#include "internal.h"

TH_LOOP_SUITE(loss, 30);

typedef struct drops {
    int events;
    json_int_t frames;
    json_int_t bytes;
    char code[32];
    int status;
    bool before_destroy; /* the last drop came before any destroy */
    int destroys;
    int emit_in_drop; /* what an emit from the drop handler returned */
} drops_t;

static void on_drop(const nipc_event_t *ev, void *arg)
{
    drops_t *d = arg;
    d->events++;
    /* Whatever frees or closes, nothing emitted from a drop handler is accepted silently. */
    d->emit_in_drop = ev->client != NULL ? nipc_client_emit(ev->client, "again", NULL)
                                         : nipc_server_emit(ev->server, ev->socket, "again", NULL);
    d->frames += json_integer_value(json_object_get(ev->data, "frames"));
    d->bytes += json_integer_value(json_object_get(ev->data, "bytes"));
    snprintf(d->code, sizeof d->code, "%s", json_string_value(json_object_get(ev->data, "code")));
    d->status = ev->status;
    d->before_destroy = d->destroys == 0;
    cr_assert_not_null(json_object_get(ev->data, "message"));
}

static void on_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((drops_t *)arg)->destroys++;
}

static void watch_client(nipc_client_t *c, drops_t *d)
{
    memset(d, 0, sizeof *d);
    nipc_client_on(c, "drop", on_drop, d);
    nipc_client_on(c, "destroy", on_destroy, d);
}

static bool wait_for(const int *n, int want, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (*n < want && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return *n >= want;
}

/* The frame of nipc_client_emitf(c, "q", "{s:i}", "i", i) for a one-digit i. */
#define Q_FRAME_LEN (sizeof "{\"type\":\"q\",\"data\":{\"i\":0}}\f" - 1)

ParameterizedTestParameters(loss, c13_emits_before_a_first_connect_are_reported_when_retrying_ends)
{
    TH_TRANSPORT_PARAMS();
}

/* The case: emits accepted before the first connect, then no server, ever. */
ParameterizedTest(th_transport_t *t, loss,
                  c13_emits_before_a_first_connect_are_reported_when_retrying_ends)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 1;
    cfg.retry = 20;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(th_connect_nowhere(ipc, t, "x", dir, &c), 0);
    drops_t d;
    watch_client(c, &d);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nipc_client_emitf(c, "q", "{s:i}", "i", i), 0, "%s", t->name);
    cr_assert(wait_for(&d.destroys, 1, 3000), "%s: no destroy", t->name);
    cr_assert_eq(d.events, 1, "%s", t->name);
    cr_assert(d.before_destroy, "%s: drop after destroy", t->name);
    cr_assert_eq(d.frames, 3, "%s", t->name);
    cr_assert_eq(d.bytes, 3 * (json_int_t)Q_FRAME_LEN, "%s", t->name);
    cr_assert_eq(d.status, th_nowhere_error(t), "%s: %s", t->name, d.code);
    cr_assert_str_eq(d.code, nipc_err_name(th_nowhere_error(t)));
    nipc_free(ipc);
}

/* A connected client and a server socket, each side with frames queued for the other. */
typedef struct pair {
    th_server_t srv;
    nipc_t *ipc;
    nipc_client_t *c;
    nipc_socket_t *sock;
    drops_t cd, sd;
} pair_t;

static void pair_open(pair_t *p, const th_transport_t *t, const nipc_config_t *cfg)
{
    th_server_start_on(&p->srv, &loop, cfg, t, dir, "pair.sock");
    memset(&p->sd, 0, sizeof p->sd);
    nipc_server_on(p->srv.server, "drop", on_drop, &p->sd);
    cr_assert_eq(nipc_new(&p->ipc, &loop, cfg), 0);
    cr_assert_eq(th_connect(p->ipc, t, "s", p->srv.server, &p->c), 0);
    watch_client(p->c, &p->cd);
    bool up = false;
    nipc_client_on(p->c, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000), "%s: no connect", t->name);
    for (int i = 0; i < 400 && nipc_server_socket_count(p->srv.server) == 0; i++)
        th_run_for(&loop, 5);
    p->sock = nipc_server_socket_at(p->srv.server, 0);
    cr_assert_not_null(p->sock);
}

static void pair_free(pair_t *p)
{
    nipc_free(p->ipc);
    nipc_free(p->srv.ipc);
}

ParameterizedTestParameters(loss, a_close_without_flush_reports_the_queue_on_both_sides)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, loss, a_close_without_flush_reports_the_queue_on_both_sides)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    pair_t p;
    pair_open(&p, t, &cfg);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(nipc_client_emitf(p.c, "q", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_client_close(p.c, false), 0);
    cr_assert_eq(p.cd.events, 0, "%s: drop inside the call", t->name);
    cr_assert(wait_for(&p.cd.destroys, 1, 2000), "%s", t->name);
    cr_assert_eq(p.cd.frames, 5, "%s", t->name);
    cr_assert_eq(p.cd.bytes, 5 * (json_int_t)Q_FRAME_LEN, "%s", t->name);
    cr_assert_str_eq(p.cd.code, "ECANCELED", "%s", t->name);
    cr_assert(p.cd.before_destroy, "%s", t->name);
    cr_assert_eq(th_count(&p.srv.rec, "q"), 0, "%s", t->name);
    pair_free(&p);

    th_config(&cfg);
    cfg.stop_retrying = true;
    pair_open(&p, t, &cfg);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(nipc_server_emitf(p.srv.server, p.sock, "q", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_socket_close(p.sock, false), 0);
    cr_assert(wait_for(&p.sd.events, 1, 2000), "%s: no drop", t->name);
    cr_assert_eq(p.sd.frames, 7, "%s", t->name);
    cr_assert_eq(p.sd.bytes, 7 * (json_int_t)Q_FRAME_LEN, "%s", t->name);
    cr_assert_str_eq(p.sd.code, "ECANCELED", "%s", t->name);
    int d = th_find(&p.srv.rec, "drop", 0), sd = th_find(&p.srv.rec, "socket.disconnected", 0);
    cr_assert(d >= 0 && sd > d, "%s: %s", t->name, th_types(&p.srv.rec));
    cr_assert_eq(p.srv.rec.socket[d], p.sock, "%s: the drop names its socket", t->name);
    pair_free(&p);
}

ParameterizedTestParameters(loss, nipc_free_reports_what_was_queued)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, loss, nipc_free_reports_what_was_queued)
{
    nipc_config_t cfg;
    th_config(&cfg);
    pair_t p;
    pair_open(&p, t, &cfg);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(nipc_client_emitf(p.c, "q", "{s:i}", "i", i), 0);
        cr_assert_eq(nipc_server_emitf(p.srv.server, p.sock, "q", "{s:i}", "i", i), 0);
    }
    nipc_free(p.ipc);
    cr_assert_eq(p.cd.events, 1, "%s: the client's drop", t->name);
    cr_assert_eq(p.cd.frames, 4, "%s", t->name);
    cr_assert_eq(p.cd.emit_in_drop, NIPC_EDESTROYED, "%s", t->name);
    nipc_free(p.srv.ipc);
    cr_assert_eq(p.sd.events, 1, "%s: the server's drop", t->name);
    cr_assert_eq(p.sd.frames, 4, "%s", t->name);
    cr_assert_str_eq(p.sd.code, "ECANCELED", "%s", t->name);
    cr_assert_eq(p.sd.emit_in_drop, NIPC_EDESTROYED, "%s", t->name);
    th_run_for(&loop, 20);
}

/* A peer that accepts and never reads. */
typedef struct deaf {
    int lfd, fd, port;
} deaf_t;

static void deaf_client(deaf_t *d, const th_transport_t *t, nipc_t *ipc, nipc_client_t **c)
{
    d->lfd = th_raw_listen_any(t, dir, "deaf.sock", &d->port);
    cr_assert_eq(th_connect_raw(ipc, t, "deaf", dir, "deaf.sock", d->port, c), 0);
    d->fd = th_raw_accept_any(&loop, t, d->lfd, 2000);
    cr_assert(d->fd >= 0, "%s: no connection", t->name);
}

/* Reads all that is left on the raw socket and counts the complete frames. */
static size_t drain_frames(int fd)
{
    static char buf[1 << 16];
    size_t frames = 0;
    fcntl(fd, F_SETFL, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < r; i++)
            frames += buf[i] == '\f';
    return frames;
}

ParameterizedTestParameters(loss, a_peer_that_never_reads_bounds_the_queue_and_the_flush)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * 100 emits of 1 MiB to a peer that never reads: the default max_queued_bytes stops the
 * queue near 64 MiB (the issue saw 104 MB and every emit return 0), and a disconnect ends
 * after flush_timeout_ms with the rest reported; what the peer then reads and what was
 * reported add up to at least what was accepted.
 */
ParameterizedTest(th_transport_t *t, loss, a_peer_that_never_reads_bounds_the_queue_and_the_flush)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.flush_timeout_ms = 300;
    cfg.stop_retrying = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    deaf_t deaf;
    deaf_client(&deaf, t, ipc, &c);
    drops_t d;
    watch_client(c, &d);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000), "%s", t->name);

    char *big = malloc(1 << 20);
    memset(big, 'x', 1 << 20);
    json_t *s = json_stringn(big, 1 << 20);
    free(big);
    int accepted = 0, full = 0;
    for (int i = 0; i < 100; i++) {
        int err = nipc_client_emit(c, "big", s);
        if (err == 0)
            accepted++;
        else
            full += err == NIPC_EQUEUEFULL;
        th_run_for(&loop, 1); /* let writes fill the socket as a real program would */
    }
    json_decref(s);
    cr_assert_gt(full, 0, "%s: every emit was accepted", t->name);
    cr_assert_lt(accepted, 80, "%s: %d accepted", t->name, accepted);
    cr_assert_eq(accepted + full, 100, "%s", t->name);

    uint64_t t0 = uv_hrtime();
    cr_assert_eq(nipc_disconnect(ipc, "deaf"), 0);
    cr_assert(wait_for(&d.destroys, 1, 5000), "%s: the disconnect never finished", t->name);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    cr_assert_geq(ms, 250, "%s: closed after %llu ms", t->name, (unsigned long long)ms);
    cr_assert_eq(d.events, 1, "%s", t->name);
    cr_assert_str_eq(d.code, "ETIMEDOUT", "%s", t->name);
    cr_assert(d.frames >= 1 && d.bytes > 0, "%s", t->name);
    size_t got = drain_frames(deaf.fd);
    cr_assert_leq(got, (size_t)accepted, "%s", t->name);
    cr_assert_geq(got + (size_t)d.frames, (size_t)accepted, "%s: %zu read + %lld reported < %d",
                  t->name, got, (long long)d.frames, accepted);
    close(deaf.fd);
    close(deaf.lfd);
    nipc_free(ipc);
}

ParameterizedTestParameters(loss, a_connection_lost_with_a_queue_reports_it)
{
    TH_TRANSPORT_PARAMS();
}

/* The peer closes while the server has megabytes queued for it. */
ParameterizedTest(th_transport_t *t, loss, a_connection_lost_with_a_queue_reports_it)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "lost.sock");
    drops_t d = {0};
    nipc_server_on(srv.server, "drop", on_drop, &d);
    int fd = th_raw_connect_server(t, srv.server);
    for (int i = 0; i < 400 && nipc_server_socket_count(srv.server) == 0; i++)
        th_run_for(&loop, 5);
    nipc_socket_t *sock = nipc_server_socket_at(srv.server, 0);
    cr_assert_not_null(sock);
    char *bytes = malloc(1 << 18);
    memset(bytes, 'y', 1 << 18);
    json_t *s = json_stringn(bytes, 1 << 18);
    free(bytes);
    for (int i = 0; i < 64; i++) {
        nipc_server_emit(srv.server, sock, "big", s);
        th_run_for(&loop, 1);
    }
    json_decref(s);
    cr_assert_gt(nipc__conn_queued(&sock->conn), 0, "%s: nothing queued", t->name);
    /* Closed with unread data: the kernel resets the connection. */
    close(fd);
    cr_assert(wait_for(&d.events, 1, 3000), "%s: no drop (%s)", t->name, th_types(&srv.rec));
    cr_assert_geq(d.frames, 1, "%s", t->name);
    cr_assert_lt(d.status, 0, "%s", t->name);
    nipc_free(srv.ipc);
}

/* flush_timeout_ms = 0: a flushing close waits for the peer as long as it takes (here: still
 * waiting after ten times the usual test bound), and loses nothing while it waits. */
Test(loss, a_flush_without_timeout_waits_for_the_peer)
{
    const th_transport_t unix_t = {"unix", TH_UNIX};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.flush_timeout_ms = 0;
    cfg.stop_retrying = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    deaf_t deaf;
    deaf_client(&deaf, &unix_t, ipc, &c);
    drops_t d;
    watch_client(c, &d);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000));
    char *big = malloc(4 << 20);
    memset(big, 'w', 4 << 20);
    json_t *s = json_stringn(big, 4 << 20);
    free(big);
    cr_assert_eq(nipc_client_emit_new(c, "big", s), 0);
    th_run_for(&loop, 20);
    cr_assert_eq(nipc_disconnect(ipc, "deaf"), 0);
    th_run_for(&loop, 3000);
    cr_assert_eq(d.destroys, 0, "the flush gave up");
    cr_assert_eq(d.events, 0, "a drop while waiting");
    /* The peer reads at last (while the loop runs): everything arrives, and the close
     * completes. */
    static char buf[1 << 16];
    size_t got = 0, frames = 0;
    uint64_t end = uv_hrtime() / 1000000 + 5000;
    while (uv_hrtime() / 1000000 < end) { /* until the end of file, after the close */
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = read(deaf.fd, buf, sizeof buf);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            frames += buf[i] == '\f';
        got += r > 0 ? (size_t)r : 0;
        if (r < 0)
            usleep(1000);
    }
    cr_assert_eq(frames, 1, "%zu bytes read", got);
    cr_assert_eq(d.destroys, 1);
    cr_assert_eq(d.events, 0);
    close(deaf.fd);
    close(deaf.lfd);
    nipc_free(ipc);
}

/* ---- a write that fails inside an emit ---------------------------------------------------- */

/*
 * nipc.h: no event is published inside the call that caused it. An emit that takes the
 * queue past the early-write threshold (16 KiB, conn.c) writes at once, inside the call; to
 * a peer that is gone that write fails there. Its `error` and `drop` (and the close's
 * events) must wait for the loop, after the emit has returned.
 */
typedef struct in_call {
    bool inside; /* set around the emit */
    int during;  /* handlers that ran while it was set */
    int errors, drops, after;
} in_call_t;

static void note_in_call(const nipc_event_t *ev, void *arg)
{
    in_call_t *w = arg;
    if (w->inside)
        w->during++;
    else
        w->after++;
    if (strcmp(ev->type, "error") == 0)
        w->errors++;
    if (strcmp(ev->type, "drop") == 0)
        w->drops++;
}

/* Closes a raw peer so that writing to it fails: a TCP reset (SO_LINGER 0), a Unix socket's
 * EPIPE. The loop does not run, so nipc has not read the close when it writes. */
static void vanish(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
    usleep(20 * 1000); /* loopback delivers the reset at once; a margin all the same */
}

/* Data that takes one frame past the threshold by itself. */
static json_t *past_threshold(void)
{
    static char bytes[20 * 1024];
    memset(bytes, 'z', sizeof bytes);
    return json_stringn(bytes, sizeof bytes);
}

ParameterizedTestParameters(loss, a_write_that_fails_inside_an_emit_is_published_after_it)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, loss, a_write_that_fails_inside_an_emit_is_published_after_it)
{
    static const char *const watched[] = {"error", "drop",       "socket.disconnected",
                                          "close", "disconnect", "destroy"};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    json_t *big = past_threshold();

    /* The server's emit, to a client that vanished. */
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "inside.sock");
    int fd = th_raw_connect_server(t, srv.server);
    for (int i = 0; i < 400 && nipc_server_socket_count(srv.server) == 0; i++)
        th_run_for(&loop, 5);
    nipc_socket_t *sock = nipc_server_socket_at(srv.server, 0);
    cr_assert_not_null(sock, "%s: no socket", t->name);
    in_call_t sw = {0};
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++)
        nipc_server_on(srv.server, watched[i], note_in_call, &sw);
    vanish(fd);
    sw.inside = true;
    int err = nipc_server_emit(srv.server, sock, "big", big);
    sw.inside = false;
    cr_assert_eq(err, 0, "%s: the emit was accepted: %s", t->name, nipc_err_name(err));
    cr_assert_lt(sock->conn.fail_err, 0, "%s: the write did not fail inside the emit", t->name);
    cr_assert_eq(sw.during, 0, "%s: %d events inside nipc_server_emit", t->name, sw.during);
    cr_assert_eq(sw.after, 0, "%s: events before the loop ran", t->name);
    cr_assert(wait_for(&sw.drops, 1, 3000), "%s: no server drop (%s)", t->name, th_types(&srv.rec));
    cr_assert_geq(sw.errors, 1, "%s: no server error (%s)", t->name, th_types(&srv.rec));

    /* The client's emit, to a server that vanished. */
    int port;
    int lfd = th_raw_listen_any(t, dir, "gone.sock", &port);
    nipc_t *ipc;
    nipc_client_t *c;
    bool up = false;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(th_connect_raw(ipc, t, "gone", dir, "gone.sock", port, &c), 0);
    nipc_client_on(c, "connect", th_flag, &up);
    in_call_t cw = {0};
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++)
        nipc_client_on(c, watched[i], note_in_call, &cw);
    int afd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(afd >= 0, "%s: no connection", t->name);
    cr_assert(th_run_until(&loop, &up, 2000), "%s: no connect", t->name);
    vanish(afd);
    cw.inside = true;
    err = nipc_client_emit(c, "big", big);
    cw.inside = false;
    cr_assert_eq(err, 0, "%s: the emit was accepted: %s", t->name, nipc_err_name(err));
    /* A client whose write failed is closing: no longer connected. */
    cr_assert(!nipc_client_connected(c), "%s: the write did not fail inside the emit", t->name);
    cr_assert_eq(cw.during, 0, "%s: %d events inside nipc_client_emit", t->name, cw.during);
    cr_assert_eq(cw.after, 0, "%s: events before the loop ran", t->name);
    cr_assert(wait_for(&cw.drops, 1, 3000), "%s: no client drop", t->name);
    cr_assert_geq(cw.errors, 1, "%s: no client error", t->name);

    json_decref(big);
    close(lfd);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}
