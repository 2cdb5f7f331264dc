/* SPDX-License-Identifier: MIT */
/*
 * The counters (nipc.h, nipc_stats_t): each field checked against traffic whose every frame
 * and byte the test knows, through real sockets: frames and bytes both ways on a socket, its
 * client and its server (whose totals keep a closed socket's), a frame refused for each
 * reason, queue_full and the queue's peak towards a peer that never reads, the `drop` of a
 * close without flush, reconnects to a server that comes back, a server's connections and
 * refusals, and UDP's datagrams.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(stats, 30);

/* The frame of an emitf(.., "q", "{s:i}", "i", i) for a one-digit i. */
#define Q_FRAME_LEN (sizeof "{\"type\":\"q\",\"data\":{\"i\":0}}\f" - 1)

static nipc_stats_t client_stats(nipc_client_t *c)
{
    nipc_stats_t st;
    cr_assert_eq(nipc_client_stats(c, &st), 0);
    return st;
}

static nipc_stats_t socket_stats(nipc_socket_t *sock)
{
    nipc_stats_t st;
    cr_assert_eq(nipc_socket_stats(sock, &st), 0);
    return st;
}

static nipc_stats_t server_stats(nipc_server_t *s)
{
    nipc_stats_t st;
    cr_assert_eq(nipc_server_stats(s, &st), 0);
    return st;
}

static uint64_t refused_total(const nipc_stats_t *st)
{
    uint64_t n = 0;
    for (int i = 0; i < NIPC_REFUSED_COUNT; i++)
        n += st->refused[i];
    return n;
}

/* Every field of `got` is `want`'s, named in the message. */
static void assert_stats(const th_transport_t *t, const char *who, const nipc_stats_t *got,
                         const nipc_stats_t *want)
{
#define EQ(f)                                                                                      \
    cr_assert_eq(got->f, want->f, "%s: %s: " #f " %llu, want %llu", t->name, who,                  \
                 (unsigned long long)got->f, (unsigned long long)want->f)
    EQ(frames_in);
    EQ(bytes_in);
    EQ(frames_out);
    EQ(bytes_out);
    EQ(queued_bytes);
    EQ(queued_peak);
    EQ(dropped_frames);
    EQ(dropped_bytes);
    for (int i = 0; i < NIPC_REFUSED_COUNT; i++)
        EQ(refused[i]);
    EQ(queue_full);
    EQ(reconnects);
    EQ(connections);
    EQ(connections_refused);
#undef EQ
}

static bool wait_for(const int *n, int want, unsigned ms)
{
    return th_run_until_count(&loop, n, want, ms);
}

/* A connected client and its server socket. */
typedef struct pair {
    th_server_t srv;
    nipc_t *ipc;
    nipc_client_t *c;
    nipc_socket_t *sock;
    int client_q; /* "q" frames the client received */
} pair_t;

static void on_q(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (*(int *)arg)++;
}

static void pair_open(pair_t *p, const th_transport_t *t, const nipc_config_t *cfg)
{
    memset(p, 0, sizeof *p);
    th_server_start_on(&p->srv, &loop, cfg, t, dir, "pair.sock");
    cr_assert_eq(nipc_new(&p->ipc, &loop, cfg), 0);
    cr_assert_eq(th_connect(p->ipc, t, "s", p->srv.server, &p->c), 0);
    nipc_client_on(p->c, "q", on_q, &p->client_q);
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
    if (p->ipc != NULL)
        nipc_free(p->ipc);
    nipc_free(p->srv.ipc);
    th_run_for(&loop, 10);
}

Test(stats, null_arguments_are_refused_and_zero_the_output)
{
    nipc_stats_t st;
    memset(&st, 0xff, sizeof st);
    cr_assert_eq(nipc_socket_stats(NULL, &st), UV_EINVAL);
    cr_assert_eq(st.frames_in, 0);
    memset(&st, 0xff, sizeof st);
    cr_assert_eq(nipc_client_stats(NULL, &st), UV_EINVAL);
    cr_assert_eq(st.reconnects, 0);
    memset(&st, 0xff, sizeof st);
    cr_assert_eq(nipc_server_stats(NULL, &st), UV_EINVAL);
    cr_assert_eq(st.connections, 0);
    cr_assert_eq(nipc_server_stats(NULL, NULL), UV_EINVAL);
}

ParameterizedTestParameters(stats, frames_and_bytes_both_ways)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * 10 frames from the client and 7 back, each emitted in one turn so that each side's queue
 * peaks at all of them; the server keeps the socket's counts once it has closed.
 */
ParameterizedTest(th_transport_t *t, stats, frames_and_bytes_both_ways)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    pair_t p;
    pair_open(&p, t, &cfg);
    const uint64_t L = Q_FRAME_LEN;

    nipc_stats_t want = {0};
    nipc_stats_t st = client_stats(p.c);
    assert_stats(t, "client before", &st, &want);

    for (int i = 0; i < 10; i++)
        cr_assert_eq(nipc_client_emitf(p.c, "q", "{s:i}", "i", i), 0);
    st = client_stats(p.c);
    cr_assert_eq(st.queued_bytes, 10 * L, "%s: queued before the turn ends", t->name);
    for (int i = 0; i < 400 && th_count(&p.srv.rec, "q") < 10; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(th_count(&p.srv.rec, "q"), 10, "%s: %s", t->name, th_types(&p.srv.rec));
    for (int i = 0; i < 7; i++)
        cr_assert_eq(nipc_server_emitf(p.srv.server, p.sock, "q", "{s:i}", "i", i), 0);
    cr_assert(wait_for(&p.client_q, 7, 2000), "%s: %d frames back", t->name, p.client_q);

    want = (nipc_stats_t){.frames_out = 10,
                          .bytes_out = 10 * L,
                          .queued_peak = 10 * L,
                          .frames_in = 7,
                          .bytes_in = 7 * L};
    st = client_stats(p.c);
    assert_stats(t, "client", &st, &want);
    want = (nipc_stats_t){.frames_in = 10,
                          .bytes_in = 10 * L,
                          .frames_out = 7,
                          .bytes_out = 7 * L,
                          .queued_peak = 7 * L};
    st = socket_stats(p.sock);
    assert_stats(t, "socket", &st, &want);
    want.connections = 1;
    st = server_stats(p.srv.server);
    assert_stats(t, "server", &st, &want);

    /* The client goes: the server's totals keep what its socket counted. */
    cr_assert_eq(nipc_client_close(p.c, true), 0);
    p.c = NULL;
    for (int i = 0; i < 400 && th_count(&p.srv.rec, "close") == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(th_count(&p.srv.rec, "close"), 1, "%s: %s", t->name, th_types(&p.srv.rec));
    cr_assert_eq(nipc_server_socket_count(p.srv.server), 0);
    st = server_stats(p.srv.server);
    assert_stats(t, "server after the close", &st, &want);
    pair_free(&p);
}

/* ---- refused frames ------------------------------------------------------------------- */

typedef struct refusals {
    int errors;
    int closes;
    nipc_stats_t at_close; /* the socket's, in its `close` handler */
} refusals_t;

static void on_error(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((refusals_t *)arg)->errors++;
}

static void on_close(const nipc_event_t *ev, void *arg)
{
    refusals_t *r = arg;
    cr_assert_eq(nipc_socket_stats(ev->socket, &r->at_close), 0);
    r->closes++;
}

ParameterizedTestParameters(stats, each_refusal_is_counted_by_its_reason)
{
    TH_TRANSPORT_PARAMS();
}

/* A raw peer sends one frame of each kind that is refused with the connection kept, one
 * accepted, then one over max_message_size, which closes it. */
ParameterizedTest(th_transport_t *t, stats, each_refusal_is_counted_by_its_reason)
{
    static const char *const allowed[] = {"ok", "abcdefgh", NULL};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_event_name = 4;
    cfg.allowed_events = allowed;
    cfg.max_message_size = 64;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "refuse.sock");
    refusals_t r = {0};
    nipc_server_on(srv.server, "error", on_error, &r);
    nipc_server_on(srv.server, "close", on_close, &r);
    int fd = th_raw_connect_server(t, srv.server);

    static const char kept[] = "not json\f"
                               "null\f"
                               "{\"type\":5}\f"
                               "{\"type\":\"connect\",\"data\":{}}\f"
                               "{\"type\":\"abcdefgh\",\"data\":{}}\f"
                               "{\"type\":\"nope\",\"data\":{}}\f"
                               "{\"type\":\"ok\",\"data\":{}}\f";
    th_raw_send(&loop, fd, kept, sizeof kept - 1, 2000);
    cr_assert(wait_for(&r.errors, 6, 2000), "%s: %d errors", t->name, r.errors);
    for (int i = 0; i < 400 && th_count(&srv.rec, "ok") == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(th_count(&srv.rec, "ok"), 1, "%s", t->name);

    nipc_stats_t want = {.frames_in = 7, .bytes_in = sizeof kept - 1};
    want.refused[NIPC_REFUSED_MALFORMED] = 2;
    want.refused[NIPC_REFUSED_BAD_TYPE] = 1;
    want.refused[NIPC_REFUSED_RESERVED] = 1;
    want.refused[NIPC_REFUSED_NAME_LENGTH] = 1;
    want.refused[NIPC_REFUSED_NOT_ALLOWED] = 1;
    nipc_stats_t st = socket_stats(nipc_server_socket_at(srv.server, 0));
    assert_stats(t, "socket", &st, &want);

    char big[100];
    memset(big, 'x', sizeof big);
    big[sizeof big - 1] = '\f';
    th_raw_send(&loop, fd, big, sizeof big, 2000);
    cr_assert(wait_for(&r.closes, 1, 2000), "%s: not closed", t->name);
    want.bytes_in += sizeof big;
    want.refused[NIPC_REFUSED_TOO_LARGE] = 1;
    assert_stats(t, "socket at its close", &r.at_close, &want);
    want.connections = 1;
    st = server_stats(srv.server);
    assert_stats(t, "server", &st, &want);
    close(fd);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(stats, a_frame_that_times_out_is_counted)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, stats, a_frame_that_times_out_is_counted)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.message_timeout_ms = 50;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "slow.sock");
    refusals_t r = {0};
    nipc_server_on(srv.server, "close", on_close, &r);
    int fd = th_raw_connect_server(t, srv.server);
    static const char part[] = "{\"type\":\"sl";
    th_raw_send(&loop, fd, part, sizeof part - 1, 2000);
    cr_assert(wait_for(&r.closes, 1, 2000), "%s: not closed", t->name);
    nipc_stats_t want = {.bytes_in = sizeof part - 1};
    want.refused[NIPC_REFUSED_TIMED_OUT] = 1;
    assert_stats(t, "socket", &r.at_close, &want);
    close(fd);
    nipc_free(srv.ipc);
}

/* ---- the queue, its bound, and what a close drops ------------------------------------- */

typedef struct watch {
    int drops;
    int destroys;
    json_int_t frames, bytes;  /* the drop events' */
    nipc_stats_t at_drop;      /* the client's, in its drop handler */
    nipc_stats_t at_destroy;   /* in its destroy handler */
    nipc_stats_t sock_at_drop; /* a socket's, in the server's drop handler */
} watch_t;

static void on_client_drop(const nipc_event_t *ev, void *arg)
{
    watch_t *w = arg;
    w->drops++;
    w->frames += json_integer_value(json_object_get(ev->data, "frames"));
    w->bytes += json_integer_value(json_object_get(ev->data, "bytes"));
    cr_assert_eq(nipc_client_stats(ev->client, &w->at_drop), 0);
}

static void on_client_destroy(const nipc_event_t *ev, void *arg)
{
    watch_t *w = arg;
    w->destroys++;
    cr_assert_eq(nipc_client_stats(ev->client, &w->at_destroy), 0);
}

static void on_server_drop(const nipc_event_t *ev, void *arg)
{
    watch_t *w = arg;
    w->drops++;
    w->frames += json_integer_value(json_object_get(ev->data, "frames"));
    w->bytes += json_integer_value(json_object_get(ev->data, "bytes"));
    cr_assert_eq(nipc_socket_stats(ev->socket, &w->sock_at_drop), 0);
}

ParameterizedTestParameters(stats, the_queue_peak_and_queue_full_against_a_peer_that_never_reads)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * Frames of 1000 bytes to a raw peer that never reads, until max_queued_bytes refuses one:
 * the peak is the most the queue held as a frame joined it (read before each emit, plus the
 * frame), what was accepted is what was written plus what is queued, and the close without
 * flush drops exactly what was queued.
 */
ParameterizedTest(th_transport_t *t, stats,
                  the_queue_peak_and_queue_full_against_a_peer_that_never_reads)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 256 * 1024;
    cfg.stop_retrying = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    int port;
    int lfd = th_raw_listen_any(t, dir, "deaf.sock", &port);
    nipc_client_t *c;
    cr_assert_eq(th_connect_raw(ipc, t, "deaf", dir, "deaf.sock", port, &c), 0);
    int fd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(fd >= 0, "%s: no connection", t->name);
    watch_t w = {0};
    nipc_client_on(c, "drop", on_client_drop, &w);
    nipc_client_on(c, "destroy", on_client_destroy, &w);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000), "%s", t->name);

    /* {"type":"b","data":"xxx..."}\f of exactly 1000 bytes. */
    const size_t frame = 1000, overhead = sizeof "{\"type\":\"b\",\"data\":\"\"}\f" - 1;
    char *text = malloc(frame - overhead + 1);
    memset(text, 'x', frame - overhead);
    text[frame - overhead] = '\0';
    json_t *s = json_string(text);
    free(text);

    uint64_t accepted = 0, peak = 0;
    int err = 0;
    for (int i = 0; i < 100000 && err == 0; i++) {
        uint64_t before = client_stats(c).queued_bytes;
        err = nipc_client_emit(c, "b", s);
        if (err == 0) {
            accepted++;
            if (before + frame > peak)
                peak = before + frame;
        }
        if (i % 16 == 15)
            th_run_for(&loop, 1); /* the writes go as far as the peer's buffers take them */
    }
    json_decref(s);
    cr_assert_eq(err, NIPC_EQUEUEFULL, "%s: %s", t->name, nipc_strerror(err));
    nipc_stats_t st = client_stats(c);
    cr_assert_eq(st.queue_full, 1, "%s", t->name);
    cr_assert_eq(st.queued_peak, peak, "%s: peak %llu, want %llu", t->name,
                 (unsigned long long)st.queued_peak, (unsigned long long)peak);
    cr_assert_gt(st.queued_bytes + frame, cfg.max_queued_bytes, "%s", t->name);
    cr_assert_leq(st.queued_peak, cfg.max_queued_bytes + frame, "%s", t->name);
    cr_assert_eq(st.bytes_out + st.queued_bytes, accepted * frame, "%s", t->name);
    cr_assert_eq(st.frames_out, st.bytes_out / frame, "%s: whole frames only", t->name);
    cr_assert_eq(st.frames_in + st.bytes_in + st.dropped_frames + st.reconnects, 0, "%s", t->name);
    uint64_t queued = st.queued_bytes;

    cr_assert_eq(nipc_client_close(c, false), 0);
    cr_assert(wait_for(&w.destroys, 1, 2000), "%s: no destroy", t->name);
    /* The system may have taken part of the write in progress since `queued` was read: the
     * close counts that part written, and drops the rest. */
    cr_assert_eq(w.drops, 1, "%s", t->name);
    cr_assert_eq(w.at_drop.dropped_bytes, (uint64_t)w.bytes, "%s: counted when published", t->name);
    st = w.at_destroy;
    cr_assert_eq(st.dropped_frames, (uint64_t)w.frames, "%s", t->name);
    cr_assert_eq(st.dropped_bytes, (uint64_t)w.bytes, "%s", t->name);
    cr_assert(st.dropped_bytes > 0 && st.dropped_bytes <= queued, "%s", t->name);
    cr_assert_eq(st.queued_bytes, 0, "%s", t->name);
    cr_assert_eq(st.frames_out + st.dropped_frames, accepted, "%s", t->name);
    cr_assert_eq(st.bytes_out + st.dropped_bytes, accepted * frame, "%s", t->name);
    close(fd);
    close(lfd);
    nipc_free(ipc);
}

ParameterizedTestParameters(stats, a_close_without_flush_counts_the_drop_on_both_sides)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, stats, a_close_without_flush_counts_the_drop_on_both_sides)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    pair_t p;
    pair_open(&p, t, &cfg);
    const uint64_t L = Q_FRAME_LEN;
    watch_t cw = {0}, sw = {0};
    nipc_client_on(p.c, "drop", on_client_drop, &cw);
    nipc_client_on(p.c, "destroy", on_client_destroy, &cw);
    nipc_server_on(p.srv.server, "drop", on_server_drop, &sw);

    for (int i = 0; i < 7; i++)
        cr_assert_eq(nipc_server_emitf(p.srv.server, p.sock, "q", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_socket_close(p.sock, false), 0);
    cr_assert(wait_for(&sw.drops, 1, 2000), "%s: no drop", t->name);
    nipc_stats_t want = {.queued_peak = 7 * L, .dropped_frames = 7, .dropped_bytes = 7 * L};
    assert_stats(t, "socket in its drop", &sw.sock_at_drop, &want);
    want.connections = 1;
    nipc_stats_t st = server_stats(p.srv.server);
    assert_stats(t, "server", &st, &want);
    cr_assert(wait_for(&cw.destroys, 1, 2000), "%s: the client was not destroyed", t->name);
    p.c = NULL;

    /* The client's side: emits queued, then closed without flush in the same turn. */
    th_config(&cfg);
    cfg.stop_retrying = true;
    pair_free(&p);
    pair_open(&p, t, &cfg);
    memset(&cw, 0, sizeof cw);
    nipc_client_on(p.c, "drop", on_client_drop, &cw);
    nipc_client_on(p.c, "destroy", on_client_destroy, &cw);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(nipc_client_emitf(p.c, "q", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_client_close(p.c, false), 0);
    p.c = NULL;
    cr_assert(wait_for(&cw.destroys, 1, 2000), "%s: no destroy", t->name);
    want = (nipc_stats_t){.queued_peak = 5 * L, .dropped_frames = 5, .dropped_bytes = 5 * L};
    assert_stats(t, "client in its destroy", &cw.at_destroy, &want);
    pair_free(&p);
}

/* ---- reconnects, connections ---------------------------------------------------------- */

ParameterizedTestParameters(stats, reconnects_count_the_connections_after_the_first)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, stats, reconnects_count_the_connections_after_the_first)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    int port = th_unused_port(t, dir);
    th_server_t srv;
    th_server_start_at(&srv, &loop, &cfg, t, dir, "back.sock", port);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "back", srv.server, &c), 0);
    int connects = 0;
    nipc_client_on(c, "connect", th_tally, &connects);
    cr_assert(wait_for(&connects, 1, 2000), "%s: no connect", t->name);
    cr_assert_eq(client_stats(c).reconnects, 0, "%s", t->name);
    for (int k = 1; k <= 2; k++) {
        nipc_free(srv.ipc);
        th_run_for(&loop, 30); /* the client sees the close and retries in vain */
        th_server_start_at(&srv, &loop, &cfg, t, dir, "back.sock", port);
        cr_assert(wait_for(&connects, 1 + k, 3000), "%s: no reconnect %d", t->name, k);
        cr_assert_eq(client_stats(c).reconnects, (uint64_t)k, "%s", t->name);
    }
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(stats, a_server_counts_connections_and_refusals)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* max_connections 1: the second client is accepted and closed before `connect`. */
ParameterizedTest(th_transport_t *t, stats, a_server_counts_connections_and_refusals)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 1;
    cfg.stop_retrying = true;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "full.sock");
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *a, *b;
    cr_assert_eq(th_connect(ipc, t, "a", srv.server, &a), 0);
    int up = 0, gone = 0;
    nipc_client_on(a, "connect", th_tally, &up);
    cr_assert(wait_for(&up, 1, 2000), "%s", t->name);
    cr_assert_eq(th_connect(ipc, t, "b", srv.server, &b), 0);
    nipc_client_on(b, "destroy", th_tally, &gone);
    cr_assert(wait_for(&gone, 1, 3000), "%s: the second client stayed", t->name);
    nipc_stats_t st = server_stats(srv.server);
    cr_assert_eq(st.connections, 1, "%s", t->name);
    cr_assert_eq(st.connections_refused, 1, "%s", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

/* ---- UDP ------------------------------------------------------------------------------ */

static void on_udp_q(const nipc_event_t *ev, void *arg)
{
    (*(int *)arg)++;
    nipc_stats_t st;
    cr_assert_eq(nipc_socket_stats(ev->socket, &st), UV_ENOTSUP);
    cr_assert_eq(nipc_server_emitf(ev->server, ev->socket, "q", "{s:i}", "i", 1), 0);
}

/* Datagrams are the server's frames: 3 frames in 2 datagrams and a fragment, each frame
 * answered with one datagram. */
Test(stats, udp_datagrams_are_the_servers)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_server_t *s;
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), 0);
    int qs = 0, errors = 0;
    nipc_server_on(s, "q", on_udp_q, &qs);
    nipc_server_on(s, "error", th_tally, &errors);
    cr_assert_eq(nipc_server_start(s), 0);
    th_run_for(&loop, 10);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_storage sa;
    socklen_t len = th_loopback_sockaddr(AF_INET, nipc_server_port(s), &sa);
    static const char one[] = "{\"type\":\"q\",\"data\":{\"i\":0}}\f";
    static const char two[] = "{\"type\":\"q\",\"data\":{\"i\":1}}\f"
                              "{\"type\":\"q\",\"data\":{\"i\":2}}\f"
                              "{\"type\":\"q\"";
    cr_assert_eq(sendto(fd, one, sizeof one - 1, 0, (struct sockaddr *)&sa, len),
                 (ssize_t)(sizeof one - 1));
    cr_assert_eq(sendto(fd, two, sizeof two - 1, 0, (struct sockaddr *)&sa, len),
                 (ssize_t)(sizeof two - 1));
    cr_assert(wait_for(&qs, 3, 2000), "%d frames", qs);
    cr_assert(wait_for(&errors, 1, 2000));
    th_run_for(&loop, 20); /* the answers' datagrams go */
    nipc_stats_t want = {.frames_in = 3,
                         .bytes_in = sizeof one - 1 + sizeof two - 1,
                         .frames_out = 3,
                         .bytes_out = 3 * Q_FRAME_LEN};
    want.refused[NIPC_REFUSED_MALFORMED] = 1;
    nipc_stats_t st = server_stats(s);
    th_transport_t udp = {"udp4", TH_TCP4};
    assert_stats(&udp, "server", &st, &want);
    cr_assert_eq(refused_total(&st), 1);
    close(fd);
    nipc_free(ipc);
}
