/* SPDX-License-Identifier: MIT */
/*
 * The client's retry semantics, node-ipc's exactly (C6-C11): error then disconnect per
 * failed attempt, a fixed `retry` interval, maxRetries N giving N+1 errors and one destroy,
 * stopRetrying, the reset of retriesRemaining on connect, and a client object that survives
 * reconnects and destroy.
 */
#include "../support/harness.h"

static uv_loop_t loop;
static char dir[64];

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(retry, .init = setup, .fini = teardown, .timeout = 30);

typedef struct run {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool destroyed;
} run_t;

static void start_client(run_t *r, const nipc_config_t *cfg, const char *path)
{
    memset(r, 0, sizeof *r);
    cr_assert_eq(nipc_new(&r->ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_connect_to(r->ipc, "world", path, &r->c), 0);
    nipc_client_on(r->c, NIPC_EVENT_ANY, th_record, &r->rec);
    nipc_client_on(r->c, "destroy", th_flag, &r->destroyed);
}

Test(retry, c9_max_retries_n_without_server_gives_n_plus_1_errors_and_one_destroy)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 60;
    cfg.max_retries = 3;
    run_t r;
    start_client(&r, &cfg, th_path(dir, "nobody.sock"));
    cr_assert_eq(nipc_client_retries_remaining(r.c), 3);
    cr_assert(th_run_until(&loop, &r.destroyed, 5000), "%s", th_types(&r.rec));
    th_run_for(&loop, 200); /* nothing more may follow */

    cr_assert_eq(th_count(&r.rec, "error"), 4, "%s", th_types(&r.rec));
    cr_assert_eq(th_count(&r.rec, "destroy"), 1);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect error disconnect error disconnect "
                                       "error disconnect destroy");
    /* No socket file: ENOENT, as node-ipc reports it (compat §4.5). */
    cr_assert_eq(r.rec.status[0], UV_ENOENT);
    /* Attempts are `retry` ms apart, measured from each disconnect. */
    for (int k = 0; k < 3; k++) {
        int d = th_find(&r.rec, "disconnect", k), e = th_find(&r.rec, "error", k + 1);
        cr_assert_geq(r.rec.at[e] - r.rec.at[d], 55, "attempt %d came too early", k + 1);
    }
    cr_assert_eq(nipc_client_retries_remaining(r.c), 0);
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

Test(retry, c10_stop_retrying_means_one_attempt)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.stop_retrying = true;
    run_t r;
    start_client(&r, &cfg, th_path(dir, "nobody.sock"));
    cr_assert(th_run_until(&loop, &r.destroyed, 2000));
    th_run_for(&loop, 100);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy");
    /* node-ipc leaves retriesRemaining untouched when it stops retrying. */
    cr_assert_eq(nipc_client_retries_remaining(r.c), NIPC_RETRY_FOREVER);
    nipc_free(r.ipc);
}

Test(retry, c8_max_retries_zero_means_no_retry)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.max_retries = 0;
    run_t r;
    start_client(&r, &cfg, th_path(dir, "nobody.sock"));
    cr_assert(th_run_until(&loop, &r.destroyed, 2000));
    th_run_for(&loop, 100);
    cr_assert_str_eq(th_types(&r.rec), "error disconnect destroy");
    nipc_free(r.ipc);
}

Test(retry, c7_forever_keeps_retrying_at_the_interval)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 25;
    run_t r;
    start_client(&r, &cfg, th_path(dir, "nobody.sock"));
    th_run_for(&loop, 300);
    int errors = th_count(&r.rec, "error");
    cr_assert_geq(errors, 4, "%s", th_types(&r.rec));
    cr_assert_eq(th_count(&r.rec, "destroy"), 0);
    cr_assert_eq(nipc_client_retries_remaining(r.c), NIPC_RETRY_FOREVER);
    nipc_free(r.ipc);
}

/* A server that comes and goes. */
typedef struct srv {
    nipc_t *ipc;
    nipc_server_t *s;
    bool started;
    int connects;
} srv_t;

static void srv_up(srv_t *v, const char *path)
{
    nipc_config_t cfg;
    th_config(&cfg);
    memset(v, 0, sizeof *v);
    cr_assert_eq(nipc_new(&v->ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(v->ipc, path, &v->s), 0);
    nipc_server_on(v->s, "start", th_flag, &v->started);
    nipc_server_on(v->s, "connect", th_tally, &v->connects);
    cr_assert_eq(nipc_server_start(v->s), 0);
    cr_assert(th_run_until(&loop, &v->started, 2000));
}

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

Test(retry, c8_c11_reconnects_after_the_server_returns_and_resets_retries)
{
    const char *path = th_path(dir, "comeback.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 40;
    cfg.max_retries = 5;
    srv_t v;
    srv_up(&v, path);
    run_t r;
    start_client(&r, &cfg, path);
    nipc_client_t *same = r.c;
    cr_assert(wait_count(&r.rec, "connect", 1, 2000));
    cr_assert(nipc_client_connected(r.c));

    /* The server goes away: disconnect, failed attempts spend retries. */
    nipc_free(v.ipc);
    cr_assert(wait_count(&r.rec, "error", 2, 3000), "%s", th_types(&r.rec));
    cr_assert(!nipc_client_connected(r.c));
    cr_assert_lt(nipc_client_retries_remaining(r.c), 5);

    /* It returns: the same client object reconnects, handlers intact (C11). */
    srv_up(&v, path);
    cr_assert(wait_count(&r.rec, "connect", 2, 3000), "%s", th_types(&r.rec));
    cr_assert_eq(nipc_of(r.ipc, "world"), same);
    cr_assert_eq(nipc_client_retries_remaining(r.c), 5, "reset on connect (C8)");
    cr_assert_eq(th_count(&r.rec, "destroy"), 0);
    nipc_client_emit_new(r.c, "hello", json_string("again"));
    th_run_for(&loop, 50);
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

Test(retry, c11_destroyed_client_stays_in_of_and_can_start_again)
{
    const char *path = th_path(dir, "later.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 0;
    run_t r;
    start_client(&r, &cfg, path);
    cr_assert(th_run_until(&loop, &r.destroyed, 2000));
    cr_assert_eq(nipc_of(r.ipc, "world"), r.c);
    cr_assert_eq(nipc_client_emit(r.c, "x", NULL), NIPC_EDESTROYED);

    srv_t v;
    srv_up(&v, path);
    nipc_client_t *again;
    cr_assert_eq(nipc_connect_to(r.ipc, "world", NULL, &again), 0);
    cr_assert_eq(again, r.c, "the same object starts again, handlers kept");
    cr_assert(wait_count(&r.rec, "connect", 1, 2000));
    nipc_client_t *dup;
    cr_assert_eq(nipc_connect_to(r.ipc, "world", NULL, &dup), UV_EALREADY);
    cr_assert_eq(dup, r.c);
    nipc_free(r.ipc);
    nipc_free(v.ipc);
}

Test(retry, c6_a_lost_connection_publishes_disconnect_then_retries)
{
    const char *path = th_path(dir, "lost.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 30;
    cfg.max_retries = 1;
    srv_t v;
    srv_up(&v, path);
    run_t r;
    start_client(&r, &cfg, path);
    cr_assert(wait_count(&r.rec, "connect", 1, 2000));
    nipc_free(v.ipc);
    cr_assert(th_run_until(&loop, &r.destroyed, 3000), "%s", th_types(&r.rec));
    /* Lost (disconnect), one retry that fails (error, disconnect), then destroy. */
    cr_assert_str_eq(th_types(&r.rec), "connect disconnect error disconnect destroy");
    nipc_free(r.ipc);
}
