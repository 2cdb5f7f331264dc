/* SPDX-License-Identifier: MIT */
/*
 * What happens to a client's emits: queued before the first connect and delivered after it
 * (C13), refused with a code between attempts and after destroy (never a silent loss),
 * written before the socket closes on disconnect (C12, C14), and discarded by destroy.
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

TestSuite(emit, .init = setup, .fini = teardown, .timeout = 30);

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

static nipc_t *client_ipc(void)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 30;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    return ipc;
}

/* Checks the server got `type` events with data {"i":0..n-1}, in order. */
static void assert_sequence(const th_rec_t *r, const char *type, int n)
{
    cr_assert_eq(th_count(r, type), n, "%d %s events", th_count(r, type), type);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"i\":%d}", i);
        cr_assert_str_eq(r->data[th_find(r, type, i)], want);
    }
}

Test(emit, c13_emits_before_connect_are_delivered_after_it)
{
    const char *path = th_path(dir, "early.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    cr_assert(!nipc_client_connected(c));
    for (int i = 0; i < 10; i++)
        cr_assert_eq(nipc_client_emitf(c, "early", "{s:i}", "i", i), 0);
    cr_assert(wait_count(&srv.rec, "early", 10, 2000));
    assert_sequence(&srv.rec, "early", 10);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

Test(emit, c13_emits_while_connecting_survive_failed_attempts)
{
    const char *path = th_path(dir, "late.sock");
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    th_rec_t rec = {0};
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &rec);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nipc_client_emitf(c, "queued", "{s:i}", "i", i), 0);
    /* Two attempts fail; meanwhile emits are refused, the early ones are kept. */
    cr_assert(wait_count(&rec, "error", 2, 2000));
    bool refused = false;
    for (int k = 0; k < 200 && !refused; k++) {
        refused = nipc_client_emit(c, "between", NULL) == NIPC_ENOTCONN;
        if (!refused)
            th_run_for(&loop, 2);
    }
    cr_assert(refused, "an emit between attempts returns NIPC_ENOTCONN");

    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    cr_assert(wait_count(&srv.rec, "queued", 3, 3000), "%s", th_types(&srv.rec));
    assert_sequence(&srv.rec, "queued", 3);
    th_run_for(&loop, 30);
    cr_assert_eq(th_count(&srv.rec, "between"), 0);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

Test(emit, c14_disconnect_right_after_emit_loses_nothing)
{
    const char *path = th_path(dir, "flush.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    bool connected = false;
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    nipc_client_on(c, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 2000));
    /* Enough to need several writes. */
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(nipc_client_emitf(c, "bulk", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0);
    cr_assert_null(nipc_of(ipc, "world"), "of[id] is removed at once (C12)");
    cr_assert(wait_count(&srv.rec, "socket.disconnected", 1, 3000));
    assert_sequence(&srv.rec, "bulk", 2000);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

Test(emit, c14_disconnect_while_connecting_still_delivers)
{
    const char *path = th_path(dir, "flush2.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    cr_assert_eq(nipc_client_emitf(c, "bulk", "{s:i}", "i", 0), 0);
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0);
    cr_assert(wait_count(&srv.rec, "socket.disconnected", 1, 3000));
    assert_sequence(&srv.rec, "bulk", 1);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

typedef struct tally {
    int wildcard, disconnect, destroy;
} tally_t;

static void on_any(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((tally_t *)arg)->wildcard++;
}

static void on_disconnect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((tally_t *)arg)->disconnect++;
}

static void on_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((tally_t *)arg)->destroy++;
}

Test(emit, c12_disconnect_drops_wildcards_and_fires_typed_handlers_once)
{
    const char *path = th_path(dir, "c12.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    tally_t t = {0};
    bool connected = false;
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    nipc_client_on(c, "connect", th_flag, &connected);
    nipc_client_on(c, NIPC_EVENT_ANY, on_any, &t);
    nipc_client_on(c, "disconnect", on_disconnect, &t);
    nipc_client_on(c, "destroy", on_destroy, &t);
    cr_assert(th_run_until(&loop, &connected, 2000));
    int wildcard_before = t.wildcard;
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0);
    cr_assert_eq(t.disconnect, 0, "handlers run later, not inside nipc_disconnect()");
    cr_assert_eq(nipc_disconnect(ipc, "world"), UV_ENOENT);
    th_run_for(&loop, 100);
    cr_assert_eq(t.disconnect, 1);
    cr_assert_eq(t.destroy, 1);
    cr_assert_eq(t.wildcard, wildcard_before, "wildcard handlers were dropped");
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

Test(emit, c12_disconnect_between_attempts_ends_with_destroy)
{
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    th_rec_t rec = {0};
    cr_assert_eq(nipc_connect_to(ipc, "world", th_path(dir, "none.sock"), &c), 0);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &rec);
    tally_t t = {0};
    nipc_client_on(c, "destroy", on_destroy, &t);
    cr_assert(wait_count(&rec, "disconnect", 1, 2000));
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0);
    th_run_for(&loop, 150); /* longer than `retry`: no attempt may follow */
    cr_assert_eq(t.destroy, 1);
    cr_assert_eq(th_count(&rec, "error"), 1, "%s", th_types(&rec));
    nipc_free(ipc);
}

Test(emit, destroy_discards_what_is_queued)
{
    const char *path = th_path(dir, "destroy.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    bool destroyed = false;
    cr_assert_eq(nipc_connect_to(ipc, "world", path, &c), 0);
    nipc_client_on(c, "destroy", th_flag, &destroyed);
    cr_assert_eq(nipc_client_emitf(c, "never", "{s:i}", "i", 0), 0);
    cr_assert_eq(nipc_client_destroy(c), 0);
    cr_assert(th_run_until(&loop, &destroyed, 2000));
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&srv.rec, "never"), 0);
    cr_assert_null(nipc_of(ipc, "world"));
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

Test(emit, bad_arguments_are_refused)
{
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, NULL, NULL, &c), UV_EINVAL);
    cr_assert_eq(nipc_connect_to(ipc, "", NULL, &c), UV_EINVAL);
    cr_assert_eq(nipc_connect_to(ipc, "world", th_path(dir, "x.sock"), &c), 0);
    cr_assert_eq(nipc_client_emit(c, NULL, NULL), UV_EINVAL);
    cr_assert_eq(nipc_client_emit(c, "constructor", NULL), UV_EINVAL, "W13");
    cr_assert_eq(nipc_client_emitf(c, "x", "{s:", "broken"), UV_EINVAL);
    cr_assert_eq(nipc_client_emit(NULL, "x", NULL), UV_EINVAL);
    cr_assert_eq(nipc_disconnect(ipc, "nobody"), UV_ENOENT);
    nipc_free(ipc);
}
