/* SPDX-License-Identifier: MIT */
/*
 * The client's retry semantics, node-ipc's exactly (C6-C11), over every stream transport of
 * the suite (a Unix socket, TCP on 127.0.0.1 and on ::1, see ../support/transport.h): error
 * then disconnect per failed attempt, a fixed `retry` interval, maxRetries N giving N+1
 * errors and one destroy, stopRetrying, the reset of retriesRemaining on connect, and a
 * client object that survives reconnects and destroy. A stale socket file (ECONNREFUSED
 * where ENOENT would be) is Unix-only. Then stopRetrying set "in real time"
 * (nipc_client_stop_retrying / _resume_retrying) against a server that comes and goes, in
 * each state of the client, and beyond node-ipc the backoff, cap and jitter.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(retry, 30);

typedef struct run {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool destroyed;
} run_t;

static void run_new(run_t *r, const nipc_config_t *cfg)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(nipc_new(&r->ipc, &loop, cfg), 0);
}

static void run_watch(run_t *r)
{
    nipc_client_on(r->c, NIPC_EVENT_ANY, th_record, &r->rec);
    nipc_client_on(r->c, "destroy", th_flag, &r->destroyed);
}

/* A client "world" of the Unix socket at `path`. */
static void start_client(run_t *r, const nipc_config_t *cfg, const char *path)
{
    run_new(r, cfg);
    cr_assert_eq(nipc_connect_to(r->ipc, "world", path, &r->c), 0);
    run_watch(r);
}

/* A client "world" of an endpoint of `t` where nobody listens. */
static void start_client_nowhere(run_t *r, const nipc_config_t *cfg, const th_transport_t *t)
{
    run_new(r, cfg);
    int err = th_connect_nowhere(r->ipc, t, "world", dir, &r->c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    run_watch(r);
}

/* A client "world" of the endpoint dir/name or loopback:port. */
static void start_client_at(run_t *r, const nipc_config_t *cfg, const th_transport_t *t,
                            const char *name, int port)
{
    run_new(r, cfg);
    int err = th_connect_raw(r->ipc, t, "world", dir, name, port, &r->c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    run_watch(r);
}

/* An `error` handler that takes 80 ms, as a handler that logs to a slow disk may. */
static void slow_handler(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    uint64_t end = uv_hrtime() + 80 * 1000000ull;
    while (uv_hrtime() < end)
        ;
}

ParameterizedTestParameters(retry, c9_the_interval_counts_from_the_disconnect_after_a_slow_handler)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* The retry interval runs from the disconnect, not from the start of the loop turn in which
 * it came: a handler that took longer than `retry` before it does not bring the next attempt
 * forward. */
ParameterizedTest(th_transport_t *t, retry,
                  c9_the_interval_counts_from_the_disconnect_after_a_slow_handler)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 60;
    cfg.max_retries = 1;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    nipc_client_once(r.c, "error", slow_handler, NULL);
    cr_assert(th_run_until(&loop, &r.destroyed, 5000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect error disconnect destroy", "%s", t->name);
    int d = th_find(&r.rec, "disconnect", 0), e = th_find(&r.rec, "error", 1);
    cr_assert_geq(r.rec.at[e] - r.rec.at[d], 55,
                  "%s: the attempt came %llu ms after the disconnect", t->name,
                  (unsigned long long)(r.rec.at[e] - r.rec.at[d]));
    nipc_free(r.ipc);
}

ParameterizedTestParameters(retry,
                            c9_max_retries_n_without_server_gives_n_plus_1_errors_and_one_destroy)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry,
                  c9_max_retries_n_without_server_gives_n_plus_1_errors_and_one_destroy)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 60;
    cfg.max_retries = 3;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    cr_assert_eq(nipc_client_retries_remaining(r.c), 3, "%s", t->name);
    cr_assert(th_run_until(&loop, &r.destroyed, 5000), "%s: %s", t->name, th_types(&r.rec));
    th_run_for(&loop, 200); /* nothing more may follow */

    cr_assert_eq(th_count(&r.rec, "error"), 4, "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(th_count(&r.rec, "destroy"), 1, "%s", t->name);
    cr_assert_str_eq(th_types(&r.rec),
                     "error disconnect error disconnect error disconnect "
                     "error disconnect destroy",
                     "%s", t->name);
    /* No socket file: ENOENT, as node-ipc reports it (compat §4.5); no listener on the
     * port: ECONNREFUSED. */
    cr_assert_eq(r.rec.status[0], th_nowhere_error(t), "%s: %s", t->name,
                 nipc_err_name(r.rec.status[0]));
    /* Attempts are `retry` ms apart, measured from each disconnect. */
    for (int k = 0; k < 3; k++) {
        int d = th_find(&r.rec, "disconnect", k), e = th_find(&r.rec, "error", k + 1);
        cr_assert_eq(r.rec.status[e], th_nowhere_error(t), "%s: attempt %d: %s", t->name, k + 1,
                     nipc_err_name(r.rec.status[e]));
        cr_assert_geq(r.rec.at[e] - r.rec.at[d], 55, "%s: attempt %d came too early", t->name,
                      k + 1);
    }
    cr_assert_eq(nipc_client_retries_remaining(r.c), 0, "%s", t->name);
    nipc_free(r.ipc);
}

Test(retry, c9_stale_socket_reports_econnrefused)
{
    const char *path = th_path(dir, "stale.sock");
    close(th_raw_listen(path));
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 0;
    run_t r;
    start_client(&r, &cfg, path);
    cr_assert(th_run_until(&loop, &r.destroyed, 2000));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy");
    cr_assert_eq(r.rec.status[0], UV_ECONNREFUSED);
    cr_assert_str_eq(r.rec.data[0], "{\"code\":\"ECONNREFUSED\",\"message\":\"connection "
                                    "refused\",\"errno\":-111}");
    nipc_free(r.ipc);
}

ParameterizedTestParameters(retry, c10_stop_retrying_means_one_attempt)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry, c10_stop_retrying_means_one_attempt)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.stop_retrying = true;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    cr_assert(th_run_until(&loop, &r.destroyed, 2000), "%s: %s", t->name, th_types(&r.rec));
    th_run_for(&loop, 100);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy", "%s", t->name);
    /* node-ipc leaves retriesRemaining untouched when it stops retrying. */
    cr_assert_eq(nipc_client_retries_remaining(r.c), NIPC_RETRY_FOREVER, "%s", t->name);
    nipc_free(r.ipc);
}

/* node-ipc logs maxRetries: Infinity as "Infinity", not as -1 or any number. */
Test(retry, c7_the_retry_log_says_infinity)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.silent = false;
    cfg.retry = 10;
    char log[4096] = "";
    cfg.logger = th_log_to;
    cfg.logger_arg = log;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, "x", th_path(dir, "nobody.sock"), &c), 0);
    th_run_for(&loop, 100);
    cr_assert_not_null(strstr(log, "retrying x: Infinity retries remaining"), "%s", log);
    cr_assert_null(strstr(log, "-1 retries"), "%s", log);
    nipc_free(ipc);

    cfg.max_retries = 3;
    log[0] = '\0';
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_connect_to(ipc, "x", th_path(dir, "nobody.sock"), &c), 0);
    th_run_for(&loop, 100);
    cr_assert_not_null(strstr(log, "retrying x: 2 retries remaining"), "%s", log);
    nipc_free(ipc);
}

ParameterizedTestParameters(retry, c8_max_retries_zero_means_no_retry)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry, c8_max_retries_zero_means_no_retry)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.max_retries = 0;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    cr_assert(th_run_until(&loop, &r.destroyed, 2000), "%s: %s", t->name, th_types(&r.rec));
    th_run_for(&loop, 100);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy", "%s", t->name);
    nipc_free(r.ipc);
}

ParameterizedTestParameters(retry, c7_forever_keeps_retrying_at_the_interval)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry, c7_forever_keeps_retrying_at_the_interval)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 25;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    th_run_for(&loop, 300);
    int errors = th_count(&r.rec, "error");
    cr_assert_geq(errors, 4, "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(th_count(&r.rec, "destroy"), 0, "%s", t->name);
    cr_assert_eq(nipc_client_retries_remaining(r.c), NIPC_RETRY_FOREVER, "%s", t->name);
    nipc_free(r.ipc);
}

/* A server that comes and goes, always at the same place: dir/name, or loopback:port. */
typedef struct srv {
    nipc_t *ipc;
    nipc_server_t *s;
    bool started;
    int connects;
} srv_t;

static void srv_up(srv_t *v, const th_transport_t *t, const char *name, int port)
{
    nipc_config_t cfg;
    th_config(&cfg);
    memset(v, 0, sizeof *v);
    cr_assert_eq(nipc_new(&v->ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_serve_at(v->ipc, t, dir, name, port, &v->s), 0, "%s", t->name);
    nipc_server_on(v->s, "start", th_flag, &v->started);
    nipc_server_on(v->s, "connect", th_tally, &v->connects);
    int err = nipc_server_start(v->s);
    cr_assert_eq(err, 0, "%s: start: %s", t->name, nipc_strerror(err));
    cr_assert(th_run_until(&loop, &v->started, 2000), "%s", t->name);
    if (t->kind != TH_UNIX)
        cr_assert_eq(nipc_server_port(v->s), port, "%s", t->name);
}

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

/* Starts of["world"] again by its id, as the transport connects: nipc_connect_to(), or
 * nipc_connect_to_net() with the host and port it was made with. */
static int connect_again(run_t *r, const th_transport_t *t, nipc_client_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_connect_to(r->ipc, "world", NULL, out);
    return nipc_connect_to_net(r->ipc, "world", NULL, NIPC_PORT_DEFAULT, out);
}

/* Waits until server v holds n connections: under TLS 1.3 the client is connected first, and
 * a server freed before it has read the client's Finished resets the connection. */
static void srv_wait_connects(srv_t *v, const th_transport_t *t, int n)
{
    for (int i = 0; i < 400 && v->connects < n; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(v->connects, n, "%s", t->name);
}

/* Server v at dir/name or loopback:port, and client r of it with `cfg`, connected. */
static void up_and_connected(srv_t *v, run_t *r, const th_transport_t *t, const nipc_config_t *cfg,
                             const char *name, int port)
{
    srv_up(v, t, name, port);
    start_client_at(r, cfg, t, name, port);
    cr_assert(wait_count(&r->rec, "connect", 1, 2000), "%s: %s", t->name, th_types(&r->rec));
    srv_wait_connects(v, t, 1);
}

/* Runs the loop until r's client publishes `destroy` (a test fails without it). */
static void wait_destroyed(run_t *r, const th_transport_t *t)
{
    r->destroyed = false;
    cr_assert(th_run_until(&loop, &r->destroyed, th_ms(3000)), "%s: %s", t->name,
              th_types(&r->rec));
}

ParameterizedTestParameters(retry, c8_c11_reconnects_after_the_server_returns_and_resets_retries)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry,
                  c8_c11_reconnects_after_the_server_returns_and_resets_retries)
{
    const char *name = "comeback.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 40;
    cfg.max_retries = 5;
    srv_t v;
    srv_up(&v, t, name, port);
    run_t r;
    start_client_at(&r, &cfg, t, name, port);
    nipc_client_t *same = r.c;
    cr_assert(wait_count(&r.rec, "connect", 1, 2000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert(nipc_client_connected(r.c), "%s", t->name);

    /* The server goes away: disconnect, failed attempts spend retries. */
    nipc_free(v.ipc);
    cr_assert(wait_count(&r.rec, "error", 2, 3000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert(!nipc_client_connected(r.c), "%s", t->name);
    cr_assert_lt(nipc_client_retries_remaining(r.c), 5, "%s", t->name);

    /* It returns: the same client object reconnects, handlers intact (C11). */
    srv_up(&v, t, name, port);
    cr_assert(wait_count(&r.rec, "connect", 2, 3000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(nipc_of(r.ipc, "world"), same, "%s", t->name);
    cr_assert_eq(nipc_client_retries_remaining(r.c), 5, "%s: reset on connect (C8)", t->name);
    cr_assert_eq(th_count(&r.rec, "destroy"), 0, "%s", t->name);
    nipc_client_emit_new(r.c, "hello", json_string("again"));
    th_run_for(&loop, 50);
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

ParameterizedTestParameters(retry, c11_destroyed_client_stays_in_of_and_can_start_again)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry, c11_destroyed_client_stays_in_of_and_can_start_again)
{
    const char *name = "later.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 0;
    run_t r;
    start_client_at(&r, &cfg, t, name, port);
    cr_assert(th_run_until(&loop, &r.destroyed, 2000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(nipc_of(r.ipc, "world"), r.c, "%s", t->name);
    cr_assert_eq(nipc_client_emit(r.c, "x", NULL), NIPC_EDESTROYED, "%s", t->name);

    srv_t v;
    srv_up(&v, t, name, port);
    nipc_client_t *again;
    cr_assert_eq(connect_again(&r, t, &again), 0, "%s", t->name);
    cr_assert_eq(again, r.c, "%s: the same object starts again, handlers kept", t->name);
    cr_assert(wait_count(&r.rec, "connect", 1, 2000), "%s: %s", t->name, th_types(&r.rec));
    nipc_client_t *dup;
    cr_assert_eq(connect_again(&r, t, &dup), UV_EALREADY, "%s", t->name);
    cr_assert_null(dup, "%s: a call that fails hands nothing out", t->name);
    cr_assert_eq(nipc_of(r.ipc, "world"), r.c, "%s", t->name);
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

ParameterizedTestParameters(retry, c6_a_lost_connection_publishes_disconnect_then_retries)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, retry, c6_a_lost_connection_publishes_disconnect_then_retries)
{
    const char *name = "lost.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 30;
    cfg.max_retries = 1;
    srv_t v;
    srv_up(&v, t, name, port);
    run_t r;
    start_client_at(&r, &cfg, t, name, port);
    cr_assert(wait_count(&r.rec, "connect", 1, 2000), "%s: %s", t->name, th_types(&r.rec));
    /* Under TLS 1.3 the client is connected before the server has read its Finished; a
     * server freed with that unread resets the connection (ECONNRESET: error, then
     * disconnect, as in node-ipc). This test is about a clean loss, so the server must
     * hold the connection first. */
    for (int i = 0; i < 400 && v.connects < 1; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(v.connects, 1, "%s", t->name);
    nipc_free(v.ipc);
    cr_assert(th_run_until(&loop, &r.destroyed, 3000), "%s: %s", t->name, th_types(&r.rec));
    /* Lost (disconnect), one retry that fails (error, disconnect), then destroy. */
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect error disconnect destroy", "%s: %s",
                     t->name, th_types(&r.rec));
    nipc_free(r.ipc);
}

/* ---- beyond node-ipc: backoff, cap and jitter ------------------------------------------- */

/* The waits of a client with no server: from each `disconnect` to the next attempt's
 * `error`, ms. Returns how many there are. */
static int waits_of(const th_rec_t *rec, int64_t *waits, int max)
{
    int n = 0;
    for (; n < max; n++) {
        int d = th_find(rec, "disconnect", n), e = th_find(rec, "error", n + 1);
        if (d < 0 || e < 0)
            break;
        waits[n] = (int64_t)(rec->at[e] - rec->at[d]);
    }
    return n;
}

ParameterizedTestParameters(retry, backoff_waits_grow_by_the_factor_and_stop_at_the_cap)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* retry 20, backoff 2, cap 160: waits of 20, 40, 80, then 160 for ever (not 320, 640). */
ParameterizedTest(th_transport_t *t, retry, backoff_waits_grow_by_the_factor_and_stop_at_the_cap)
{
    static const int64_t want[] = {20, 40, 80, 160, 160, 160};
    enum { N = sizeof want / sizeof want[0] };
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.retry_backoff = 2;
    cfg.retry_max_ms = 160;
    cfg.max_retries = N;
    run_t r;
    start_client_nowhere(&r, &cfg, t);
    cr_assert(th_run_until(&loop, &r.destroyed, 5000), "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(th_count(&r.rec, "error"), N + 1, "%s: %s", t->name, th_types(&r.rec));

    int64_t got[N];
    cr_assert_eq(waits_of(&r.rec, got, N), N, "%s", t->name);
    cr_log_info("%s: waits %lld %lld %lld %lld %lld %lld ms (want 20 40 80 160 160 160)", t->name,
                (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3],
                (long long)got[4], (long long)got[5]);
    for (int k = 0; k < N; k++) {
        /* The loop's clock may lag the recorder's by a few ms, so a timer can seem early;
         * late is load. Each bound is far from the wait before and the one after. */
        cr_assert_geq(got[k], want[k] - 5, "%s: wait %d was %lld ms, want %lld", t->name, k,
                      (long long)got[k], (long long)want[k]);
        cr_assert_lt(got[k], want[k] + want[k] / 2 + 30, "%s: wait %d was %lld ms, want %lld",
                     t->name, k, (long long)got[k], (long long)want[k]);
    }
    nipc_free(r.ipc);
}

/* A client's first wait after losing the server, and the attempt that follows it. */
typedef struct herd_client {
    uint64_t lost;    /* ms: the `disconnect` of the lost connection */
    uint64_t attempt; /* ms: the `error` of the first attempt after it */
    bool connected;
} herd_client_t;

static void herd_on_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((herd_client_t *)arg)->connected = true;
}

static void herd_on_disconnect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    herd_client_t *h = arg;
    if (h->connected && h->lost == 0)
        h->lost = uv_hrtime() / 1000000;
}

static void herd_on_error(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    herd_client_t *h = arg;
    if (h->lost != 0 && h->attempt == 0)
        h->attempt = uv_hrtime() / 1000000;
}

#define HERD 20
#define HERD_INSTANCES 4 /* five clients each: one generator's draws, and several generators */

typedef struct herd {
    nipc_t *ipc[HERD_INSTANCES];
    herd_client_t c[HERD];
    int64_t min_wait, max_wait; /* from each client's loss to its first attempt */
    int64_t spread;             /* between the earliest and the latest first attempt */
} herd_t;

static bool herd_all(const herd_t *h, bool attempted)
{
    for (int i = 0; i < HERD; i++)
        if (attempted ? h->c[i].attempt == 0 : !h->c[i].connected)
            return false;
    return true;
}

/* HERD clients of one server, which goes away; each client's first retry is timed. */
static void herd_run(herd_t *h, const th_transport_t *t, double jitter)
{
    memset(h, 0, sizeof *h);
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "herd.sock");
    cfg.retry = 200;
    cfg.retry_jitter = jitter;
    cfg.max_retries = 1;
    for (int k = 0; k < HERD_INSTANCES; k++)
        cr_assert_eq(nipc_new(&h->ipc[k], &loop, &cfg), 0);
    for (int i = 0; i < HERD; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        nipc_client_t *c;
        int err = th_connect(h->ipc[i % HERD_INSTANCES], t, id, srv.server, &c);
        cr_assert_eq(err, 0, "%s: connect %s: %s", t->name, id, nipc_strerror(err));
        nipc_client_on(c, "connect", herd_on_connect, &h->c[i]);
        nipc_client_on(c, "disconnect", herd_on_disconnect, &h->c[i]);
        nipc_client_on(c, "error", herd_on_error, &h->c[i]);
    }
    for (int k = 0; k < 400 && !herd_all(h, false); k++)
        th_run_for(&loop, 5);
    cr_assert(herd_all(h, false), "%s: not every client connected", t->name);
    th_run_for(&loop, 50); /* TLS 1.3: the server has read every client's Finished */
    nipc_free(srv.ipc);
    for (int k = 0; k < 400 && !herd_all(h, true); k++)
        th_run_for(&loop, 5);
    cr_assert(herd_all(h, true), "%s: not every client tried again", t->name);

    uint64_t first = UINT64_MAX, last = 0;
    h->min_wait = INT64_MAX;
    h->max_wait = 0;
    for (int i = 0; i < HERD; i++) {
        int64_t w = (int64_t)(h->c[i].attempt - h->c[i].lost);
        h->min_wait = w < h->min_wait ? w : h->min_wait;
        h->max_wait = w > h->max_wait ? w : h->max_wait;
        first = h->c[i].attempt < first ? h->c[i].attempt : first;
        last = h->c[i].attempt > last ? h->c[i].attempt : last;
    }
    h->spread = (int64_t)(last - first);
    for (int k = 0; k < HERD_INSTANCES; k++)
        nipc_free(h->ipc[k]);
}

ParameterizedTestParameters(retry, jitter_spreads_clients_that_lost_one_server)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * Twenty clients lose their server at once. Without jitter (node-ipc) they all try again
 * `retry` ms later, together; with jitter 0.5, each first wait is drawn from [100, 200] ms,
 * so the attempts spread over most of 100 ms (the expected range of 20 draws is 90 ms).
 */
ParameterizedTest(th_transport_t *t, retry, jitter_spreads_clients_that_lost_one_server,
                  .timeout = 60)
{
    herd_t lockstep, jittered;
    herd_run(&lockstep, t, 0);
    herd_run(&jittered, t, 0.5);
    cr_log_info("%s: first attempts of %d clients spread over %lld ms without jitter (waits "
                "%lld-%lld), %lld ms with jitter 0.5 (waits %lld-%lld)",
                t->name, HERD, (long long)lockstep.spread, (long long)lockstep.min_wait,
                (long long)lockstep.max_wait, (long long)jittered.spread,
                (long long)jittered.min_wait, (long long)jittered.max_wait);
    cr_assert_lt(lockstep.spread, 25, "%s: node-ipc's clients retry together", t->name);
    cr_assert_geq(lockstep.min_wait, 195, "%s", t->name);
    cr_assert_gt(jittered.spread, 45, "%s: jittered clients still retry in lockstep", t->name);
    /* Jitter only shortens a wait, by at most half here. */
    cr_assert_geq(jittered.min_wait, 95, "%s", t->name);
    cr_assert_lt(jittered.max_wait, 200 + 60, "%s", t->name);
}

ParameterizedTestParameters(retry, backoff_starts_again_at_retry_after_a_connection)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * The waits grow while no server answers (20, 40, 80, 160, ...); one comes, the client
 * connects, the server goes: the wait is 20 again, then 40.
 */
ParameterizedTest(th_transport_t *t, retry, backoff_starts_again_at_retry_after_a_connection)
{
    const char *name = "reset.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.retry_backoff = 2;
    cfg.retry_max_ms = 5000;
    run_t r;
    start_client_at(&r, &cfg, t, name, port);
    cr_assert(wait_count(&r.rec, "error", 4, 3000), "%s: %s", t->name, th_types(&r.rec));
    int64_t before[3];
    cr_assert_eq(waits_of(&r.rec, before, 3), 3, "%s", t->name);

    srv_t v;
    srv_up(&v, t, name, port);
    cr_assert(wait_count(&r.rec, "connect", 1, 3000), "%s: %s", t->name, th_types(&r.rec));
    for (int i = 0; i < 400 && v.connects < 1; i++)
        th_run_for(&loop, 5);
    int errors = th_count(&r.rec, "error");
    nipc_free(v.ipc);
    cr_assert(wait_count(&r.rec, "error", errors + 2, 3000), "%s: %s", t->name, th_types(&r.rec));

    /* From the disconnect of the lost connection to the attempt after it, and the next. */
    int c = th_find(&r.rec, "connect", 0);
    int d1 = -1, e1 = -1, d2 = -1, e2 = -1;
    for (int i = c + 1; i < r.rec.n; i++) {
        if (strcmp(r.rec.type[i], "disconnect") == 0 && d1 < 0)
            d1 = i;
        else if (strcmp(r.rec.type[i], "error") == 0 && d1 >= 0 && e1 < 0)
            e1 = i;
        else if (strcmp(r.rec.type[i], "disconnect") == 0 && e1 >= 0 && d2 < 0)
            d2 = i;
        else if (strcmp(r.rec.type[i], "error") == 0 && d2 >= 0 && e2 < 0)
            e2 = i;
    }
    cr_assert(e2 > 0, "%s: %s", t->name, th_types(&r.rec));
    int64_t after1 = (int64_t)(r.rec.at[e1] - r.rec.at[d1]);
    int64_t after2 = (int64_t)(r.rec.at[e2] - r.rec.at[d2]);
    cr_log_info("%s: waits %lld %lld %lld ms, connected, then %lld %lld ms", t->name,
                (long long)before[0], (long long)before[1], (long long)before[2], (long long)after1,
                (long long)after2);
    cr_assert_geq(before[2], 75, "%s: the waits grew before the connection", t->name);
    cr_assert_geq(after1, 15, "%s", t->name);
    cr_assert_lt(after1, 60, "%s: the wait after a connection is `retry` again", t->name);
    cr_assert_geq(after2, 35, "%s: and grows again from there", t->name);
    nipc_free(r.ipc);
}

/* ---- at run time: node-ipc's stopRetrying "in real time" --------------------------------- */

static const th_transport_t unix_transport = {"unix", TH_UNIX};

/* What the handlers of a run do to its client, and what they saw. */
typedef struct control {
    run_t *r;
    int disconnects;
    int stop_at;              /* stop from the handler of this `disconnect` (1: the first) */
    bool resume_too;          /* ... and resume in the same handler */
    bool close_too;           /* ... and close the client in the same handler */
    bool emit_on_retry_error; /* emit from the `error` of the first attempt after a loss */
    int stop_rc, resume_rc, close_rc, emit_rc;
    bool emitted;
    int inside;   /* events recorded during the calls: none may be */
    int destroys; /* counted by a typed handler, which a close keeps (C12) */
} control_t;

static void control_on_disconnect(const nipc_event_t *ev, void *arg)
{
    control_t *k = arg;
    if (++k->disconnects != k->stop_at)
        return;
    int n = k->r->rec.n;
    k->stop_rc = nipc_client_stop_retrying(ev->client);
    if (k->resume_too)
        k->resume_rc = nipc_client_resume_retrying(ev->client);
    if (k->close_too)
        k->close_rc = nipc_client_close(ev->client, false);
    k->inside += k->r->rec.n - n;
}

/* Connecting (a retry under way): the frame is accepted and queued until a connection. */
static void control_on_error(const nipc_event_t *ev, void *arg)
{
    control_t *k = arg;
    if (!k->emit_on_retry_error || k->emitted || k->disconnects < 1)
        return;
    k->emitted = true;
    k->emit_rc = nipc_client_emitf(ev->client, "queued", "{s:i}", "n", 1);
}

static void control_watch(control_t *k, run_t *r)
{
    k->r = r;
    nipc_client_on(r->c, "disconnect", control_on_disconnect, k);
    nipc_client_on(r->c, "error", control_on_error, k);
    nipc_client_on(r->c, "destroy", th_tally, &k->destroys);
}

/* The loop runs `ms`: server v gets no connection and client r publishes nothing. */
static void assert_stays_away(srv_t *v, run_t *r, const th_transport_t *t, unsigned ms)
{
    int events = r->rec.n;
    th_run_for(&loop, ms);
    cr_assert_eq(v->connects, 0, "%s: the client came back", t->name);
    cr_assert_eq(r->rec.n, events, "%s: %s", t->name, th_types(&r->rec));
}

ParameterizedTestParameters(retry, stop_between_attempts_ends_the_client_without_another_attempt)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * The server goes; the client's first retry fails, with a frame emitted while it connected
 * (queued); stopped in the `disconnect` after it, between attempts: no attempt follows, the
 * queued frame is reported by `drop` with the attempt's error, then `destroy`. The client
 * stays in of[], its emits refused; the server comes back and is not connected to.
 */
ParameterizedTest(th_transport_t *t, retry,
                  stop_between_attempts_ends_the_client_without_another_attempt)
{
    const char *name = "stopwait.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(60);
    srv_t v;
    run_t r;
    up_and_connected(&v, &r, t, &cfg, name, port);
    control_t k = {.stop_at = 2, .emit_on_retry_error = true};
    control_watch(&k, &r);
    cr_assert(nipc_client_retrying(r.c), "%s", t->name);

    nipc_free(v.ipc);
    wait_destroyed(&r, t);
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect error disconnect drop destroy", "%s",
                     t->name);
    cr_assert_eq(k.emit_rc, 0, "%s: %s", t->name, nipc_err_name(k.emit_rc));
    cr_assert_eq(k.stop_rc, 0, "%s: %s", t->name, nipc_err_name(k.stop_rc));
    cr_assert_eq(k.inside, 0, "%s: an event came inside the call", t->name);
    int e = th_find(&r.rec, "error", 0), d = th_find(&r.rec, "drop", 0);
    cr_assert_eq(r.rec.status[e], th_nowhere_error(t), "%s: %s", t->name,
                 nipc_err_name(r.rec.status[e]));
    cr_assert_eq(r.rec.status[d], r.rec.status[e], "%s: the drop says %s", t->name,
                 nipc_err_name(r.rec.status[d]));
    cr_assert_not_null(strstr(r.rec.data[d], "\"frames\":1,"), "%s: %s", t->name, r.rec.data[d]);

    /* Destroyed, not closed: in of[], emits refused, not retrying. */
    cr_assert_eq(nipc_of(r.ipc, "world"), r.c, "%s", t->name);
    cr_assert_eq(nipc_client_emit(r.c, "x", NULL), NIPC_EDESTROYED, "%s", t->name);
    cr_assert(!nipc_client_retrying(r.c), "%s", t->name);

    /* The attempt the timer had armed never comes: the server returns, nobody connects. */
    srv_up(&v, t, name, port);
    assert_stays_away(&v, &r, t, th_ms(300)); /* five intervals */
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

ParameterizedTestParameters(retry, stop_while_connected_means_no_retry_when_the_server_goes)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * Stopped while connected: nothing changes until the connection is lost, then `disconnect`
 * and `destroy`, as node-ipc's close handler does with stopRetrying set. nipc_connect_to()
 * starts the destroyed client again, for one attempt: the stop stays, as node-ipc's flag
 * stays in its config, so the next loss ends it again.
 */
ParameterizedTest(th_transport_t *t, retry,
                  stop_while_connected_means_no_retry_when_the_server_goes)
{
    const char *name = "stopconn.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(40);
    cfg.max_retries = 5;
    srv_t v;
    run_t r;
    up_and_connected(&v, &r, t, &cfg, name, port);

    int events = r.rec.n;
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0, "%s", t->name);
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0, "%s: a second stop is no error", t->name);
    cr_assert(!nipc_client_retrying(r.c), "%s", t->name);
    cr_assert_eq(nipc_client_emit_new(r.c, "still", json_true()), 0, "%s", t->name);
    th_run_for(&loop, th_ms(50));
    cr_assert_eq(r.rec.n, events, "%s: %s", t->name, th_types(&r.rec));
    cr_assert(nipc_client_connected(r.c), "%s: the connection stays", t->name);

    nipc_free(v.ipc);
    wait_destroyed(&r, t);
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect destroy", "%s", t->name);
    cr_assert_eq(nipc_client_retries_remaining(r.c), 5, "%s: untouched, as node-ipc's", t->name);
    cr_assert_eq(nipc_client_emit(r.c, "x", NULL), NIPC_EDESTROYED, "%s", t->name);
    srv_up(&v, t, name, port);
    assert_stays_away(&v, &r, t, th_ms(200)); /* five intervals */

    /* Started again by its id: the same object connects; the stop still holds. */
    nipc_client_t *again;
    cr_assert_eq(connect_again(&r, t, &again), 0, "%s", t->name);
    cr_assert_eq(again, r.c, "%s", t->name);
    cr_assert(!nipc_client_retrying(r.c), "%s", t->name);
    cr_assert(wait_count(&r.rec, "connect", 2, 2000), "%s: %s", t->name, th_types(&r.rec));
    srv_wait_connects(&v, t, 1);
    nipc_free(v.ipc);
    wait_destroyed(&r, t);
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect destroy connect disconnect destroy",
                     "%s", t->name);
    nipc_free(r.ipc);
}

ParameterizedTestParameters(retry, stop_then_resume_before_the_loss_retries_as_configured)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* Stopped and resumed while connected: the config's rule again, with the count as it stood;
 * the server goes, attempts fail and spend retries, it comes back, the client reconnects. */
ParameterizedTest(th_transport_t *t, retry, stop_then_resume_before_the_loss_retries_as_configured)
{
    const char *name = "resume.sock";
    int port = th_unused_port(t, dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(40);
    cfg.max_retries = 5;
    srv_t v;
    run_t r;
    up_and_connected(&v, &r, t, &cfg, name, port);

    cr_assert_eq(nipc_client_stop_retrying(r.c), 0, "%s", t->name);
    th_run_for(&loop, th_ms(20));
    cr_assert_eq(nipc_client_resume_retrying(r.c), 0, "%s", t->name);
    cr_assert_eq(nipc_client_resume_retrying(r.c), 0, "%s: a second resume is no error", t->name);
    cr_assert(nipc_client_retrying(r.c), "%s", t->name);
    cr_assert_eq(nipc_client_retries_remaining(r.c), 5, "%s", t->name);

    nipc_free(v.ipc);
    cr_assert(wait_count(&r.rec, "error", 2, th_ms(3000)), "%s: %s", t->name, th_types(&r.rec));
    cr_assert_lt(nipc_client_retries_remaining(r.c), 5, "%s", t->name);
    srv_up(&v, t, name, port);
    cr_assert(wait_count(&r.rec, "connect", 2, th_ms(3000)), "%s: %s", t->name, th_types(&r.rec));
    srv_wait_connects(&v, t, 1);
    cr_assert_eq(th_count(&r.rec, "destroy"), 0, "%s: %s", t->name, th_types(&r.rec));
    cr_assert_eq(nipc_client_retries_remaining(r.c), 5, "%s", t->name);
    cr_assert_eq(nipc_client_emit_new(r.c, "back", json_true()), 0, "%s", t->name);
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

/* A client of nobody, with `k` on its handlers; runs until its `destroy`. */
static void run_nowhere(run_t *r, const nipc_config_t *cfg, control_t *k)
{
    start_client_nowhere(r, cfg, &unix_transport);
    control_watch(k, r);
    wait_destroyed(r, &unix_transport);
    cr_assert_eq(k->stop_rc, 0, "%s", nipc_err_name(k->stop_rc));
    cr_assert_eq(k->inside, 0, "an event came inside the calls");
}

/*
 * Stopped and resumed in one `disconnect` handler, before the `destroy` the stop would lead
 * to: undone, the wait goes on, and the retries run as if nothing had happened.
 */
Test(retry, stop_then_resume_between_attempts_keeps_the_wait)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(60);
    cfg.max_retries = 2;
    run_t r;
    control_t k = {.stop_at = 1, .resume_too = true};
    run_nowhere(&r, &cfg, &k);
    cr_assert_eq(k.resume_rc, 0);
    cr_assert_str_eq(th_types(&r.rec),
                     "error disconnect error disconnect error disconnect destroy");
    int d = th_find(&r.rec, "disconnect", 0), e = th_find(&r.rec, "error", 1);
    cr_assert_geq(r.rec.at[e] - r.rec.at[d], cfg.retry - 5, "the attempt came after %llu ms",
                  (unsigned long long)(r.rec.at[e] - r.rec.at[d]));
    nipc_free(r.ipc);
}

/*
 * Retrying for ever every 10 ms; stopped from the fifth `disconnect`, with the next attempt
 * armed: the attempts stop at five. A timer left running (node-ipc's: it checks stopRetrying
 * at the next close only) would make a sixth.
 */
Test(retry, stop_with_unbounded_retries_stops_the_attempts_at_once)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(10);
    run_t r;
    control_t k = {.stop_at = 5};
    run_nowhere(&r, &cfg, &k);
    th_run_for(&loop, th_ms(200)); /* twenty intervals */
    cr_assert_eq(th_count(&r.rec, "error"), 5, "%s", th_types(&r.rec));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect error disconnect error disconnect "
                                       "error disconnect error disconnect destroy");
    cr_assert_eq(nipc_client_retries_remaining(r.c), NIPC_RETRY_FOREVER);
    nipc_free(r.ipc);
}

/*
 * Stopped while connecting: the attempt goes on. Nobody there: it fails, and the frame queued
 * while connecting is reported, no retry. A server there: it connects, and the loss of that
 * connection is the end.
 */
Test(retry, stop_while_connecting_lets_the_attempt_finish_without_a_retry)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(20);
    run_t r;
    start_client_nowhere(&r, &cfg, &unix_transport);
    cr_assert_eq(nipc_client_emit_new(r.c, "queued", json_true()), 0);
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0);
    wait_destroyed(&r, &unix_transport);
    th_run_for(&loop, th_ms(100));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect drop destroy");
    nipc_free(r.ipc);

    srv_t v;
    srv_up(&v, &unix_transport, "there.sock", 0);
    start_client_at(&r, &cfg, &unix_transport, "there.sock", 0);
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0);
    cr_assert(wait_count(&r.rec, "connect", 1, 2000), "%s", th_types(&r.rec));
    srv_wait_connects(&v, &unix_transport, 1);
    nipc_free(v.ipc);
    wait_destroyed(&r, &unix_transport);
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect destroy");
    nipc_free(r.ipc);
}

/* A stop and a close in one handler, between attempts: one `destroy`, then the client is
 * freed (under ASan, a use after free or a leak would show). */
Test(retry, stop_then_close_between_attempts_gives_one_destroy)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(60);
    run_t r;
    control_t k = {.stop_at = 1, .close_too = true};
    run_nowhere(&r, &cfg, &k);
    cr_assert_eq(k.close_rc, 0);
    th_run_for(&loop, th_ms(150));
    cr_assert_eq(k.destroys, 1);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect"); /* the close dropped the recorder */
    cr_assert_null(nipc_of(r.ipc, "world"));
    nipc_free(r.ipc);
}

/* The codes: NULL, closed, already stopped, not stopped, destroyed (and not revived). */
Test(retry, stop_and_resume_codes)
{
    cr_assert_eq(nipc_client_stop_retrying(NULL), UV_EINVAL);
    cr_assert_eq(nipc_client_resume_retrying(NULL), UV_EINVAL);

    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(20);
    cfg.max_retries = 0;
    run_t r;
    start_client_nowhere(&r, &cfg, &unix_transport);
    cr_assert(!nipc_client_retrying(r.c), "max_retries 0: no retry");
    wait_destroyed(&r, &unix_transport);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy");
    /* Destroyed: both are no errors, nothing comes of them, it is not started again. */
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0);
    cr_assert_eq(nipc_client_stop_retrying(r.c), 0);
    cr_assert_eq(nipc_client_resume_retrying(r.c), 0);
    cr_assert_eq(nipc_client_resume_retrying(r.c), 0);
    cr_assert(!nipc_client_retrying(r.c));
    th_run_for(&loop, th_ms(100));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy");

    /* Closed: NIPC_EDESTROYED until the `destroy` (after which the client is freed). */
    cr_assert_eq(nipc_client_close(r.c, false), 0);
    cr_assert_eq(nipc_client_stop_retrying(r.c), NIPC_EDESTROYED);
    cr_assert_eq(nipc_client_resume_retrying(r.c), NIPC_EDESTROYED);
    cr_assert(!nipc_client_retrying(r.c));
    wait_destroyed(&r, &unix_transport);

    /* nipc_disconnect closes too; the client is connecting. */
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(r.ipc, "other", th_path(dir, "nobody.sock"), &c), 0);
    bool gone = false;
    nipc_client_on(c, "destroy", th_flag, &gone);
    cr_assert_eq(nipc_disconnect(r.ipc, "other"), 0);
    cr_assert_eq(nipc_client_stop_retrying(c), NIPC_EDESTROYED);
    cr_assert_eq(nipc_client_resume_retrying(c), NIPC_EDESTROYED);
    cr_assert(th_run_until(&loop, &gone, th_ms(2000)));
    nipc_free(r.ipc);
}

/* The config's stop_retrying is each client's starting value: resumed, the client retries
 * by the config's rule (max_retries 1: one retry). */
Test(retry, resume_clears_the_config_stop_retrying)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = th_ms(20);
    cfg.max_retries = 1;
    cfg.stop_retrying = true;
    run_t r;
    start_client_nowhere(&r, &cfg, &unix_transport);
    cr_assert(!nipc_client_retrying(r.c));
    cr_assert_eq(nipc_client_resume_retrying(r.c), 0);
    cr_assert(nipc_client_retrying(r.c));
    wait_destroyed(&r, &unix_transport);
    th_run_for(&loop, th_ms(100));
    cr_assert_str_eq(th_types(&r.rec), "error disconnect error disconnect destroy");
    nipc_free(r.ipc);
}
