/* SPDX-License-Identifier: MIT */
/*
 * The client's retry semantics, node-ipc's exactly (C6-C11), over every stream transport of
 * the suite (a Unix socket, TCP on 127.0.0.1 and on ::1, see ../support/transport.h): error
 * then disconnect per failed attempt, a fixed `retry` interval, maxRetries N giving N+1
 * errors and one destroy, stopRetrying, the reset of retriesRemaining on connect, and a
 * client object that survives reconnects and destroy. A stale socket file (ECONNREFUSED
 * where ENOENT would be) is Unix-only.
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
    if (t->kind == TH_UNIX)
        cr_assert_eq(nipc_connect_to(r.ipc, "world", NULL, &again), 0, "%s", t->name);
    else
        cr_assert_eq(nipc_connect_to_net(r.ipc, "world", NULL, NIPC_PORT_DEFAULT, &again), 0, "%s",
                     t->name);
    cr_assert_eq(again, r.c, "%s: the same object starts again, handlers kept", t->name);
    cr_assert(wait_count(&r.rec, "connect", 1, 2000), "%s: %s", t->name, th_types(&r.rec));
    nipc_client_t *dup;
    if (t->kind == TH_UNIX)
        cr_assert_eq(nipc_connect_to(r.ipc, "world", NULL, &dup), UV_EALREADY, "%s", t->name);
    else
        cr_assert_eq(nipc_connect_to_net(r.ipc, "world", NULL, NIPC_PORT_DEFAULT, &dup),
                     UV_EALREADY, "%s", t->name);
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
