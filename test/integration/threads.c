/* SPDX-License-Identifier: MIT */
/*
 * Emitting from other threads (nipc.h, "emitting from other threads"): mailboxes posted to
 * by several threads at once, over a Unix socket and TCP, every event checked to arrive
 * exactly once and in its thread's order; a server's mailbox broadcasting and emitting to a
 * socket by its serial; the queue bound, met exactly while the loop is held; posts after the
 * target went, and what a mailbox held then reported by `drop`; a client's full queue that
 * holds the mailbox back instead of losing; nipc_free() while a thread keeps posting.
 *
 * The loop runs on the test's thread, the posters on threads of their own (uv_thread_t).
 * Posters assert nothing (Criterion's assertions belong to the test's thread): they record
 * what their calls returned, and the test checks it after joining them. ctest label
 * `threads`; `make test-tsan` runs these under ThreadSanitizer.
 */
#include "../support/transport.h"
#include "internal.h"

#include <sched.h>

TH_LOOP_SUITE(threads, 120);

#define POSTERS 4
/* Events per poster in the ordering tests: 80 000 per run, a tenth under valgrind. */
static int per_poster(void)
{
    return th_valgrind() ? 2000 : 20000;
}

ParameterizedTestParameters(threads, client_mailbox_keeps_each_threads_order)
{
    static th_transport_t params[] = {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}};
    return cr_make_param_array(th_transport_t, params, 2);
}

ParameterizedTestParameters(threads, server_mailbox_broadcasts_to_every_client_in_order)
{
    static th_transport_t params[] = {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}};
    return cr_make_param_array(th_transport_t, params, 2);
}

/* ---- what a receiver checks: every (t, i) once, in i order per poster t ------------------ */

typedef struct order {
    int next[POSTERS];
    int got;
    int bad;
    char why[160];
} order_t;

static void on_seq(const nipc_event_t *ev, void *arg)
{
    order_t *o = arg;
    json_int_t t = -1, i = -1;
    if (json_unpack(ev->data, "{s:I, s:I}", "t", &t, "i", &i) != 0 || t < 0 || t >= POSTERS) {
        o->bad++;
        return;
    }
    if (i != o->next[t] && o->bad++ == 0)
        snprintf(o->why, sizeof o->why, "poster %d: event %d after %d", (int)t, (int)i,
                 o->next[t] - 1);
    o->next[t] = (int)i + 1;
    o->got++;
}

/* Every poster in [from, to) delivered 0 .. n-1, once each and in order. */
static void check_order(const order_t *o, int from, int to, int n, const char *who)
{
    cr_assert_eq(o->bad, 0, "%s: %d events out of order (%s)", who, o->bad, o->why);
    for (int t = from; t < to; t++)
        cr_assert_eq(o->next[t], n, "%s: poster %d delivered %d of %d", who, t, o->next[t], n);
    cr_assert_eq(o->got, (to - from) * n, "%s: %d events, %d expected", who, o->got,
                 (to - from) * n);
}

/* ---- posters ------------------------------------------------------------------------------ */

typedef enum post_how { POST_EMIT, POST_EMIT_TO, POST_UNTIL_GONE } post_how_t;

typedef struct poster {
    uv_thread_t tid;
    nipc_mailbox_t *mb; /* its own reference, released when it ends */
    post_how_t how;
    uint64_t serial;
    int t;
    int n;        /* events to post (POST_UNTIL_GONE: posts until NIPC_EDESTROYED) */
    int accepted; /* posts that returned 0 */
    long full;    /* NIPC_EQUEUEFULL met, and posted again */
    int last_err; /* the post that ended it: 0 when all went */
} poster_t;

static void post_all(void *arg)
{
    poster_t *p = arg;
    for (int i = 0; p->how == POST_UNTIL_GONE || i < p->n;) {
        json_t *data = json_pack("{s:i, s:i}", "t", p->t, "i", i);
        int err = p->how == POST_EMIT_TO ? nipc_mailbox_emit_to(p->mb, p->serial, "seq", data)
                                         : nipc_mailbox_emit(p->mb, "seq", data);
        if (err == NIPC_EQUEUEFULL) { /* nothing was queued, and data is gone: build again */
            p->full++;
            sched_yield();
            continue;
        }
        if (err != 0) {
            p->last_err = err;
            break;
        }
        p->accepted++;
        i++;
    }
    nipc_mailbox_release(p->mb);
}

/* Starts a poster with a reference of its own to mb. */
static void start_poster(poster_t *p, nipc_mailbox_t *mb, post_how_t how, int t, int n)
{
    p->mb = mb;
    p->how = how;
    p->t = t;
    p->n = n;
    p->accepted = 0;
    p->full = 0;
    p->last_err = 0;
    nipc_mailbox_retain(mb);
    cr_assert_eq(uv_thread_create(&p->tid, post_all, p), 0);
}

static void join_poster(poster_t *p)
{
    cr_assert_eq(uv_thread_join(&p->tid), 0);
}

/* ---- a server and its clients on the test's loop ----------------------------------------- */

typedef struct side {
    nipc_t *ipc;
    nipc_server_t *server;
    nipc_client_t *client;
    order_t order;
    th_drops_t drops;
    int connects;
    nipc_socket_t *last_socket;
    bool started;
} side_t;

static void on_connect(const nipc_event_t *ev, void *arg)
{
    side_t *s = arg;
    s->connects++;
    s->last_socket = ev->socket;
}

static void serve(side_t *s, const th_transport_t *t, const nipc_config_t *cfg, const char *name)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(nipc_new(&s->ipc, &loop, cfg), 0);
    cr_assert_eq(th_serve(s->ipc, t, dir, name, &s->server), 0);
    nipc_server_on(s->server, "start", th_flag, &s->started);
    nipc_server_on(s->server, "connect", on_connect, s);
    nipc_server_on(s->server, "seq", on_seq, &s->order);
    nipc_server_on(s->server, "drop", th_on_drop, &s->drops);
    cr_assert_eq(nipc_server_start(s->server), 0);
    cr_assert(th_run_until(&loop, &s->started, 2000), "%s: no start", t->name);
}

/* A client instance connected to srv; waits until the server has seen it. */
static void connect_one(side_t *c, side_t *srv, const th_transport_t *t, const nipc_config_t *cfg,
                        const char *id)
{
    memset(c, 0, sizeof *c);
    cr_assert_eq(nipc_new(&c->ipc, &loop, cfg), 0);
    int want = srv->connects + 1;
    cr_assert_eq(th_connect(c->ipc, t, id, srv->server, &c->client), 0);
    nipc_client_on(c->client, "connect", on_connect, c);
    nipc_client_on(c->client, "seq", on_seq, &c->order);
    nipc_client_on(c->client, "drop", th_on_drop, &c->drops);
    nipc_client_on(c->client, "destroy", th_on_destroy_drops, &c->drops);
    cr_assert(th_run_until_count(&loop, &srv->connects, want, 3000), "%s: no connect", t->name);
    cr_assert(th_run_until_count(&loop, &c->connects, 1, 3000), "%s: no client connect", t->name);
}

static const th_transport_t unix_t = {"unix", TH_UNIX};

/* A server on dir/<name>.sock and a client instance connected to it. */
static void unix_pair(side_t *srv, side_t *cli, const nipc_config_t *cfg, const char *name)
{
    char sock[32];
    snprintf(sock, sizeof sock, "%s.sock", name);
    serve(srv, &unix_t, cfg, sock);
    connect_one(cli, srv, &unix_t, cfg, name);
}

/* Posts n events from a thread while the loop is held: the test's thread waits for it. */
static poster_t post_held(nipc_mailbox_t *mb, int n)
{
    poster_t p = {.serial = 0};
    start_poster(&p, mb, POST_EMIT, 0, n);
    join_poster(&p);
    return p;
}

/* Starts POSTERS posters of n events each on mb, poster i emitting to serials[i] (NULL:
 * emits), and hands the caller's reference to them. */
static void start_posters(poster_t *p, nipc_mailbox_t *mb, const uint64_t *serials, int n)
{
    for (int i = 0; i < POSTERS; i++) {
        p[i].serial = serials != NULL ? serials[i] : 0;
        start_poster(&p[i], mb, serials != NULL ? POST_EMIT_TO : POST_EMIT, i, n);
    }
    nipc_mailbox_release(mb);
}

/* Joins them, each having posted all it had to; returns how often they met a full mailbox. */
static long join_posters(poster_t *p, const char *who)
{
    long full = 0;
    for (int i = 0; i < POSTERS; i++) {
        join_poster(&p[i]);
        cr_assert_eq(p[i].last_err, 0, "%s: poster %d: %s", who, i, nipc_err_name(p[i].last_err));
        full += p[i].full;
    }
    return full;
}

static double ms_since(uint64_t start)
{
    return (double)(uv_hrtime() - start) / 1e6;
}

/* ---- the ordering tests ------------------------------------------------------------------- */

/* The case: four threads post through one client mailbox at once; the server gets
 * every event once, in each thread's order, and nothing is dropped. */
ParameterizedTest(th_transport_t *t, threads, client_mailbox_keeps_each_threads_order)
{
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, cli;
    serve(&srv, t, &cfg, "order.sock");
    connect_one(&cli, &srv, t, &cfg, "order");

    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(cli.client, 0, &mb), 0);
    int n = per_poster();
    poster_t p[POSTERS];
    uint64_t start = uv_hrtime();
    start_posters(p, mb, NULL, n); /* the posters and the client hold mb now */
    cr_assert(th_run_until_count(&loop, &srv.order.got, POSTERS * n, 60000),
              "%s: %d of %d events arrived", t->name, srv.order.got, POSTERS * n);
    double ms = ms_since(start);
    long full = join_posters(p, t->name);
    check_order(&srv.order, 0, POSTERS, n, t->name);
    cr_assert_eq(cli.drops.events, 0, "%s: %lld frames dropped (%s)", t->name,
                 (long long)cli.drops.frames, cli.drops.code);
    fprintf(stderr,
            "threads: %s: %d events from %d threads in %.0f ms (%.0f events/s), "
            "%ld posts met a full mailbox\n",
            t->name, POSTERS * n, POSTERS, ms, POSTERS * n / (ms / 1000), full);
    nipc_free(cli.ipc);
    nipc_free(srv.ipc);
}

/* The server's mailbox broadcasts: both clients get every thread's events in its order. */
ParameterizedTest(th_transport_t *t, threads, server_mailbox_broadcasts_to_every_client_in_order)
{
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, a, b;
    serve(&srv, t, &cfg, "bcast.sock");
    connect_one(&a, &srv, t, &cfg, "a");
    connect_one(&b, &srv, t, &cfg, "b");

    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_server_mailbox(srv.server, 0, &mb), 0);
    int n = per_poster();
    poster_t p[POSTERS];
    uint64_t start = uv_hrtime();
    start_posters(p, mb, NULL, n);
    cr_assert(th_run_until_count(&loop, &a.order.got, POSTERS * n, 60000), "%s: a got %d of %d",
              t->name, a.order.got, POSTERS * n);
    cr_assert(th_run_until_count(&loop, &b.order.got, POSTERS * n, 60000), "%s: b got %d of %d",
              t->name, b.order.got, POSTERS * n);
    double ms = ms_since(start);
    join_posters(p, t->name);
    check_order(&a.order, 0, POSTERS, n, "a");
    check_order(&b.order, 0, POSTERS, n, "b");
    cr_assert_eq(srv.drops.events, 0, "%s: the server dropped %lld frames (%s)", t->name,
                 (long long)srv.drops.frames, srv.drops.code);
    fprintf(stderr, "threads: %s: %d broadcasts to 2 clients from %d threads in %.0f ms\n", t->name,
            POSTERS * n, POSTERS, ms);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(srv.ipc);
}

static void on_close_count(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
}

/* emit_to by serial: each client gets its own threads' events only; a serial whose socket
 * has gone, and one that never named a socket, are reported by `drop`, socket NULL. */
Test(threads, server_mailbox_emits_to_a_socket_by_its_serial)
{
    const th_transport_t *t = &unix_t;
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, a, b;
    serve(&srv, t, &cfg, "to.sock");
    int closes = 0;
    nipc_server_on(srv.server, "close", on_close_count, &closes);
    connect_one(&a, &srv, t, &cfg, "a");
    uint64_t serial_a = nipc_socket_serial(srv.last_socket);
    connect_one(&b, &srv, t, &cfg, "b");
    uint64_t serial_b = nipc_socket_serial(srv.last_socket);
    cr_assert(serial_a > 0 && serial_b > serial_a, "serials %llu, %llu",
              (unsigned long long)serial_a, (unsigned long long)serial_b);

    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_server_mailbox(srv.server, 0, &mb), 0);
    int n = per_poster() / 2;
    poster_t p[POSTERS];
    uint64_t serials[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        serials[i] = i < POSTERS / 2 ? serial_a : serial_b;
    nipc_mailbox_retain(mb); /* kept for the posts below */
    start_posters(p, mb, serials, n);
    int half = POSTERS / 2 * n;
    cr_assert(th_run_until_count(&loop, &a.order.got, half, 60000), "a got %d", a.order.got);
    cr_assert(th_run_until_count(&loop, &b.order.got, half, 60000), "b got %d", b.order.got);
    join_posters(p, "emit_to");
    check_order(&a.order, 0, POSTERS / 2, n, "a");
    check_order(&b.order, POSTERS / 2, POSTERS, n, "b");
    cr_assert_eq(srv.drops.events, 0);

    /* a goes; its serial names nothing any more, and never will again. */
    cr_assert_eq(nipc_client_close(a.client, true), 0);
    cr_assert(th_run_until_count(&loop, &closes, 1, 3000), "a's socket did not close");
    cr_assert_eq(nipc_mailbox_emit_to(mb, serial_a, "seq", json_pack("{s:i,s:i}", "t", 0, "i", n)),
                 0);
    cr_assert_eq(nipc_mailbox_emit_to(mb, serial_b + 1000, "seq", NULL), 0);
    cr_assert(th_run_until_count(&loop, &srv.drops.events, 1, 2000), "no drop");
    th_run_for(&loop, 50);
    cr_assert_eq(srv.drops.events, 1, "the two losses are one kind: one drop");
    cr_assert_eq(srv.drops.frames, 2);
    cr_assert_eq(srv.drops.bytes, 0, "never encoded");
    cr_assert_str_eq(srv.drops.code, "ENOTCONN");
    cr_assert_null(srv.drops.socket);
    cr_assert_eq(a.order.got, half, "nothing reached a after its close");
    cr_assert_eq(b.order.got, half);

    /* emit_to is the server's: UV_EINVAL on a client's mailbox, and for serial 0. */
    nipc_mailbox_t *cmb;
    cr_assert_eq(nipc_client_mailbox(b.client, 0, &cmb), 0);
    cr_assert_eq(nipc_mailbox_emit_to(cmb, serial_b, "seq", NULL), UV_EINVAL);
    cr_assert_eq(nipc_mailbox_emit_to(mb, 0, "seq", NULL), UV_EINVAL);
    nipc_mailbox_release(cmb);
    nipc_mailbox_release(mb);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(srv.ipc);
}

/* ---- the bound and the ends ------------------------------------------------------------- */

/* While the loop is held (the test's thread waits for the poster), a mailbox takes exactly
 * max_queued emits and refuses the next with NIPC_EQUEUEFULL; then all of them arrive. */
Test(threads, a_held_loop_fills_the_mailbox_to_exactly_max_queued)
{
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, cli;
    unix_pair(&srv, &cli, &cfg, "bound");
    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(cli.client, 100, &mb), 0);

    poster_t p = post_held(mb, 100);
    cr_assert_eq(p.accepted, 100);
    cr_assert_eq(p.full, 0, "%ld posts met a full mailbox below max_queued", p.full);
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", json_pack("{s:i,s:i}", "t", 0, "i", 100)),
                 NIPC_EQUEUEFULL);
    cr_assert_eq(nipc_mailbox_send(mb, "x", 1), UV_EINVAL, "JSON mode: checked first");

    cr_assert(th_run_until_count(&loop, &srv.order.got, 100, 5000), "%d arrived", srv.order.got);
    th_run_for(&loop, 20);
    check_order(&srv.order, 0, 1, 100, "server");
    cr_assert_eq(cli.drops.events, 0);
    /* Performed: room again. */
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", json_pack("{s:i,s:i}", "t", 0, "i", 100)), 0);
    cr_assert(th_run_until_count(&loop, &srv.order.got, 101, 2000));
    nipc_mailbox_release(mb);
    nipc_free(cli.ipc);
    nipc_free(srv.ipc);
}

/* Posted and not drained when the client closes: refused from the close on, and what the
 * mailbox held is reported by `drop` (NIPC_EDESTROYED) before `destroy`. */
Test(threads, what_a_closed_clients_mailbox_held_is_dropped_before_destroy)
{
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, cli;
    unix_pair(&srv, &cli, &cfg, "closed");
    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(cli.client, 0, &mb), 0);

    poster_t p = post_held(mb, 50); /* none performed yet */
    cr_assert_eq(p.accepted, 50);
    cr_assert_eq(nipc_client_close(cli.client, true), 0);
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", NULL), NIPC_EDESTROYED);
    p = post_held(mb, 1); /* from another thread too */
    cr_assert_eq(p.last_err, NIPC_EDESTROYED);
    cr_assert_eq(nipc_mailbox_send(mb, "x", 1), NIPC_EDESTROYED);

    cr_assert(th_run_until_count(&loop, &cli.drops.destroys, 1, 3000), "no destroy");
    cr_assert_eq(cli.drops.events, 1);
    cr_assert_eq(cli.drops.frames, 50);
    cr_assert_str_eq(cli.drops.code, "NIPC_EDESTROYED");
    cr_assert(cli.drops.before_destroy);
    th_run_for(&loop, 20);
    cr_assert_eq(srv.order.got, 0, "%d of the held emits were performed", srv.order.got);
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", NULL), NIPC_EDESTROYED, "the client is gone");
    nipc_mailbox_release(mb); /* the last reference: freed here */
    nipc_free(cli.ipc);
    nipc_free(srv.ipc);
}

/* nipc_free() while a thread keeps posting: its posts turn to NIPC_EDESTROYED, what was
 * accepted arrived or was reported, and the thread's release frees the mailbox (ASan: no
 * leak; TSan: no race). */
Test(threads, nipc_free_while_a_thread_keeps_posting)
{
    nipc_config_t cfg;
    th_config(&cfg);
    side_t srv, cli;
    unix_pair(&srv, &cli, &cfg, "free");
    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(cli.client, 1000, &mb), 0);
    poster_t p = {.serial = 0};
    start_poster(&p, mb, POST_UNTIL_GONE, 0, 0);
    nipc_mailbox_release(mb); /* the poster's is the last */
    cr_assert(th_run_until_count(&loop, &srv.order.got, 2000, 10000), "only %d arrived",
              srv.order.got);
    nipc_free(cli.ipc); /* the poster is still posting */
    join_poster(&p);
    cr_assert_eq(p.last_err, NIPC_EDESTROYED, "the poster ended with %s",
                 nipc_err_name(p.last_err));
    int before = -1;
    while (before != srv.order.got) { /* what was written arrives */
        before = srv.order.got;
        th_run_for(&loop, 50);
    }
    cr_assert_eq(srv.order.bad, 0, "%s", srv.order.why);
    cr_assert_leq(srv.order.got, p.accepted);
    cr_assert_geq(srv.order.got + cli.drops.frames, p.accepted,
                  "%d accepted, %d arrived, %lld reported", p.accepted, srv.order.got,
                  (long long)cli.drops.frames);
    nipc_free(srv.ipc);
}

/* ---- a client's full queue holds the mailbox back ---------------------------------------- */

/* A peer that does not read: the client's queue fills (max_queued_bytes), the mailbox keeps
 * what it cannot give, posters meet max_queued, and once the peer reads everything arrives
 * in order with nothing dropped. */
Test(threads, a_full_client_queue_stalls_the_mailbox_instead_of_dropping)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 16 * 1024;
    cfg.unix_send_buffer = 16 * 1024;
    int lfd = th_raw_listen(th_path(dir, "stall.sock"));
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, "stall", th_path(dir, "stall.sock"), &c), 0);
    th_drops_t drops;
    memset(&drops, 0, sizeof drops);
    nipc_client_on(c, "drop", th_on_drop, &drops);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    int fd = th_raw_accept(&loop, lfd, 2000);
    cr_assert(fd >= 0);
    cr_assert(th_run_until(&loop, &up, 2000), "no connect");

    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(c, 64, &mb), 0);
    /* About 800 KiB of frames: far past the socket's buffers, the queue and the mailbox. */
    const int total = 20000;
    poster_t p = {.serial = 0};
    start_poster(&p, mb, POST_EMIT, 0, total);
    nipc_mailbox_release(mb);
    th_run_for(&loop, 300); /* the peer reads nothing */
    cr_assert_eq(drops.events, 0, "%lld frames dropped (%s)", (long long)drops.frames, drops.code);

    /* Now it reads: every frame, in order. The frames have no padding to keep the test
     * short, so the count matters, not the bytes: {"type":"seq","data":{"t":0,"i":N}}\f. */
    static char buf[1 << 20];
    int frames = 0, next = 0, bad = 0;
    uint64_t end = uv_hrtime() / 1000000 + 30000;
    size_t have = 0;
    while (frames < total && uv_hrtime() / 1000000 < end) {
        size_t got = th_raw_read(&loop, fd, buf + have, sizeof buf - have - 1, 20);
        have += got;
        buf[have] = '\0';
        char *s = buf, *f;
        while ((f = memchr(s, '\f', have - (size_t)(s - buf))) != NULL) {
            *f = '\0';
            const char *at = strstr(s, "\"i\":");
            if (at == NULL || atoi(at + 4) != next)
                bad++;
            next++;
            frames++;
            s = f + 1;
        }
        have -= (size_t)(s - buf);
        memmove(buf, s, have);
    }
    join_poster(&p);
    cr_assert_eq(p.last_err, 0, "%s", nipc_err_name(p.last_err));
    cr_assert_gt(p.full, 0, "the mailbox never filled: the test did not stall it");
    cr_assert_eq(frames, total, "%d of %d frames arrived", frames, total);
    cr_assert_eq(bad, 0, "%d frames out of order", bad);
    cr_assert_eq(drops.events, 0, "%lld frames dropped (%s)", (long long)drops.frames, drops.code);
    close(fd);
    close(lfd);
    nipc_free(ipc);
}

/* ---- what a post checks at once, and what only the loop can --------------------------- */

Test(threads, a_post_checks_what_needs_no_loop_and_the_loop_reports_the_rest)
{
    static const char *const allowed[] = {"seq", "toString", NULL};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.allowed_events = allowed;
    cfg.max_event_name = 8;
    side_t srv, cli;
    unix_pair(&srv, &cli, &cfg, "checks");
    nipc_mailbox_t *mb;
    cr_assert_eq(nipc_client_mailbox(NULL, 0, &mb), UV_EINVAL);
    cr_assert_null(mb);
    cr_assert_eq(nipc_client_mailbox(cli.client, 0, NULL), UV_EINVAL);
    cr_assert_eq(nipc_server_mailbox(NULL, 0, &mb), UV_EINVAL);
    cr_assert_eq(nipc_client_mailbox(cli.client, 0, &mb), 0);

    /* Stolen even on error. */
    json_t *kept = json_object();
    json_incref(kept);
    cr_assert_eq(nipc_mailbox_emit(NULL, "seq", kept), UV_EINVAL);
    cr_assert_eq(kept->refcount, 1);
    json_incref(kept);
    cr_assert_eq(nipc_mailbox_emit(mb, NULL, kept), UV_EINVAL);
    cr_assert_eq(kept->refcount, 1);
    json_decref(kept);
    cr_assert_eq(nipc_mailbox_emit(mb, "connect", NULL), NIPC_ERESERVED);
    cr_assert_eq(nipc_mailbox_emit(mb, "seqseqseq", NULL), NIPC_ENAMELEN);
    cr_assert_eq(nipc_mailbox_emit(mb, "other", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(nipc_mailbox_emit(mb, "toString", NULL), UV_EINVAL, "W13");
    cr_assert_eq(nipc_mailbox_send(mb, "x", 1), UV_EINVAL, "no raw send in JSON mode");
    cr_assert_eq(nipc_mailbox_send(NULL, "x", 1), UV_EINVAL);

    /* Data the encoder refuses is known at the loop only: posted, then dropped. */
    json_t *bad = json_pack("{s:o}", "s", json_stringn_nocheck("\xff", 1));
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", bad), 0);
    cr_assert_eq(nipc_mailbox_emit(mb, "seq", json_pack("{s:i,s:i}", "t", 0, "i", 0)), 0);
    cr_assert(th_run_until_count(&loop, &srv.order.got, 1, 2000));
    cr_assert_eq(cli.drops.events, 1);
    cr_assert_eq(cli.drops.frames, 1);
    cr_assert_str_eq(cli.drops.code, "EINVAL");
    cr_assert_eq(srv.order.bad, 0);
    nipc_mailbox_release(mb);
    nipc_mailbox_release(NULL);
    nipc_free(cli.ipc);
    nipc_free(srv.ipc);
}

/* A client destroyed by its retry rule refuses posts (its mailbox stays), and takes them
 * again once nipc_connect_to() starts it again. */
Test(threads, a_destroyed_client_refuses_posts_until_it_starts_again)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 0;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    const char *nowhere = th_path(dir, "nobody.sock");
    cr_assert_eq(nipc_connect_to(ipc, "gone", nowhere, &c), 0);
    th_drops_t d;
    memset(&d, 0, sizeof d);
    nipc_client_on(c, "destroy", th_on_destroy_drops, &d);
    nipc_client_on(c, "drop", th_on_drop, &d);
    nipc_mailbox_t *before, *after;
    cr_assert_eq(nipc_client_mailbox(c, 0, &before), 0);
    cr_assert(th_run_until_count(&loop, &d.destroys, 1, 2000), "no destroy");
    cr_assert_eq(nipc_client_mailbox(c, 0, &after), 0, "a destroyed client is not closed");
    cr_assert_eq(nipc_mailbox_emit(before, "seq", NULL), NIPC_EDESTROYED);
    cr_assert_eq(nipc_mailbox_emit(after, "seq", NULL), NIPC_EDESTROYED);

    cr_assert_eq(nipc_connect_to(ipc, "gone", NULL, &c), 0); /* starts again, nowhere */
    cr_assert_eq(nipc_mailbox_emit(after, "seq", NULL), 0);
    /* Lost, and reported, whichever came first: the loop performing it (it waits in the
     * connection's queue, which retrying's end drops with ENOENT) or the failed connect
     * (the emit meets a closing connection, ENOTCONN, or a destroyed client). */
    cr_assert(th_run_until_count(&loop, &d.destroys, 2, 2000), "no second destroy");
    th_run_for(&loop, 20);
    cr_assert_eq(d.frames, 1, "%lld frames reported (%s)", (long long)d.frames, d.code);
    cr_assert_eq(nipc_client_close(c, false), 0);
    cr_assert_eq(nipc_mailbox_emit(before, "seq", NULL), NIPC_EDESTROYED);
    nipc_mailbox_t *none;
    cr_assert_eq(nipc_client_mailbox(c, 0, &none), NIPC_EDESTROYED, "closed");
    cr_assert_null(none);
    nipc_mailbox_release(before);
    nipc_mailbox_release(after);
    th_run_for(&loop, 20);
    nipc_free(ipc);
}

/* ---- raw mode -------------------------------------------------------------------------------- */

static void count_bytes(const nipc_event_t *ev, void *arg)
{
    size_t *n = arg;
    *n += ev->size;
}

typedef struct sender {
    uv_thread_t tid;
    nipc_mailbox_t *mb;
    int n;
    int err;
} sender_t;

static void send_all(void *arg)
{
    sender_t *s = arg;
    for (int i = 0; i < s->n;) {
        int err = nipc_mailbox_send(s->mb, "abc", 3);
        if (err == NIPC_EQUEUEFULL) {
            sched_yield();
            continue;
        }
        if (err) {
            s->err = err;
            return;
        }
        i++;
    }
}

/* Raw sends copy their bytes, both ways: a client's mailbox sends, the server's broadcasts. */
Test(threads, raw_sends_from_a_thread_both_ways)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.raw_buffer = true;
    side_t srv, cli;
    unix_pair(&srv, &cli, &cfg, "raw");
    size_t at_server = 0, at_client = 0;
    nipc_server_on(srv.server, "data", count_bytes, &at_server);
    nipc_client_on(cli.client, "data", count_bytes, &at_client);
    sender_t up = {.n = 5000}, down = {.n = 5000};
    cr_assert_eq(nipc_client_mailbox(cli.client, 0, &up.mb), 0);
    cr_assert_eq(nipc_server_mailbox(srv.server, 0, &down.mb), 0);
    cr_assert_eq(uv_thread_create(&up.tid, send_all, &up), 0);
    cr_assert_eq(uv_thread_create(&down.tid, send_all, &down), 0);
    cr_assert_eq(nipc_mailbox_emit(up.mb, "xyz", NULL), 0, "raw mode: the type as text");
    cr_assert_eq(nipc_mailbox_emit_to(down.mb, nipc_socket_serial(srv.last_socket), "xyz", NULL),
                 0);
    uint64_t end = uv_hrtime() / 1000000 + 10000;
    while ((at_server < 15003 || at_client < 15003) && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    cr_assert_eq(uv_thread_join(&up.tid), 0);
    cr_assert_eq(uv_thread_join(&down.tid), 0);
    cr_assert_eq(up.err, 0, "%s", nipc_err_name(up.err));
    cr_assert_eq(down.err, 0, "%s", nipc_err_name(down.err));
    cr_assert_eq(at_server, 15003);
    cr_assert_eq(at_client, 15003);
    nipc_mailbox_release(up.mb);
    nipc_mailbox_release(down.mb);
    nipc_free(cli.ipc);
    nipc_free(srv.ipc);
}
