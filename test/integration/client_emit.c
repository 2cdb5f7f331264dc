/* SPDX-License-Identifier: MIT */
/*
 * What happens to a client's emits, over every stream transport of the suite (a Unix
 * socket, TCP on 127.0.0.1 and on ::1, see ../support/transport.h): queued before the first
 * connect and delivered after it (C13), refused with a code between attempts and after
 * destroy (never a silent loss), written before the socket closes on disconnect (C12, C14),
 * and discarded by destroy.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(emit, 30);

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
    cfg.retry = th_ms(30);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    return ipc;
}

/* Checks the server got `type` events with data {"i":0..n-1}, in order. */
static void assert_sequence(const th_transport_t *t, const th_rec_t *r, const char *type, int n)
{
    cr_assert_eq(th_count(r, type), n, "%s: %d %s events", t->name, th_count(r, type), type);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"i\":%d}", i);
        cr_assert_str_eq(r->data[th_find(r, type, i)], want, "%s: %s %d", t->name, type, i);
    }
}

/* A started server of `t` at a fresh endpoint. */
static void server_up(th_server_t *srv, const th_transport_t *t, const char *name)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_start_on(srv, &loop, &cfg, t, dir, name);
}

ParameterizedTestParameters(emit, c13_emits_before_connect_are_delivered_after_it)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, c13_emits_before_connect_are_delivered_after_it)
{
    th_server_t srv;
    server_up(&srv, t, "early.sock");

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "world", srv.server, &c), 0, "%s", t->name);
    cr_assert(!nipc_client_connected(c), "%s", t->name);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(nipc_client_emitf(c, "early", "{s:i}", "i", i), 0, "%s", t->name);
    cr_assert(wait_count(&srv.rec, "early", 10, 2000), "%s: %s", t->name, th_types(&srv.rec));
    assert_sequence(t, &srv.rec, "early", 10);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(emit, c13_emits_while_connecting_survive_failed_attempts)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, c13_emits_while_connecting_survive_failed_attempts)
{
    const char *name = "late.sock";
    int port = th_unused_port(t, dir);
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    th_rec_t rec = {0};
    cr_assert_eq(th_connect_raw(ipc, t, "world", dir, name, port, &c), 0, "%s", t->name);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &rec);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nipc_client_emitf(c, "queued", "{s:i}", "i", i), 0, "%s", t->name);
    /* Two attempts fail; meanwhile emits are refused, the early ones are kept. */
    cr_assert(wait_count(&rec, "error", 2, 2000), "%s: %s", t->name, th_types(&rec));
    bool refused = false;
    for (int k = 0; k < 200 && !refused; k++) {
        refused = nipc_client_emit(c, "between", NULL) == UV_ENOTCONN;
        if (!refused)
            th_run_for(&loop, 2);
    }
    cr_assert(refused, "%s: an emit between attempts returns UV_ENOTCONN", t->name);

    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_at(&srv, &loop, &cfg, t, dir, name, port);
    cr_assert(wait_count(&srv.rec, "queued", 3, 3000), "%s: %s", t->name, th_types(&srv.rec));
    assert_sequence(t, &srv.rec, "queued", 3);
    th_run_for(&loop, 30);
    cr_assert_eq(th_count(&srv.rec, "between"), 0, "%s", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(emit, c14_disconnect_right_after_emit_loses_nothing)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, c14_disconnect_right_after_emit_loses_nothing)
{
    th_server_t srv;
    server_up(&srv, t, "flush.sock");

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    bool connected = false;
    cr_assert_eq(th_connect(ipc, t, "world", srv.server, &c), 0, "%s", t->name);
    nipc_client_on(c, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
    /* Enough to need several writes. */
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(nipc_client_emitf(c, "bulk", "{s:i}", "i", i), 0, "%s", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0, "%s", t->name);
    cr_assert_null(nipc_of(ipc, "world"), "%s: of[id] is removed at once (C12)", t->name);
    cr_assert(wait_count(&srv.rec, "socket.disconnected", 1, 3000), "%s", t->name);
    assert_sequence(t, &srv.rec, "bulk", 2000);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(emit, c14_disconnect_while_connecting_still_delivers)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, c14_disconnect_while_connecting_still_delivers)
{
    th_server_t srv;
    server_up(&srv, t, "flush2.sock");
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "world", srv.server, &c), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emitf(c, "bulk", "{s:i}", "i", 0), 0, "%s", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0, "%s", t->name);
    cr_assert(wait_count(&srv.rec, "socket.disconnected", 1, 3000), "%s: %s", t->name,
              th_types(&srv.rec));
    assert_sequence(t, &srv.rec, "bulk", 1);
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

ParameterizedTestParameters(emit, c12_disconnect_drops_wildcards_and_fires_typed_handlers_once)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit,
                  c12_disconnect_drops_wildcards_and_fires_typed_handlers_once)
{
    th_server_t srv;
    server_up(&srv, t, "c12.sock");

    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    tally_t n = {0};
    bool connected = false;
    cr_assert_eq(th_connect(ipc, t, "world", srv.server, &c), 0, "%s", t->name);
    nipc_client_on(c, "connect", th_flag, &connected);
    nipc_client_on(c, NIPC_EVENT_ANY, on_any, &n);
    nipc_client_on(c, "disconnect", on_disconnect, &n);
    nipc_client_on(c, "destroy", on_destroy, &n);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
    int wildcard_before = n.wildcard;
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0, "%s", t->name);
    cr_assert_eq(n.disconnect, 0, "%s: handlers run later, not inside nipc_disconnect()", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "world"), UV_ENOENT, "%s", t->name);
    th_run_for(&loop, 100);
    cr_assert_eq(n.disconnect, 1, "%s", t->name);
    cr_assert_eq(n.destroy, 1, "%s", t->name);
    cr_assert_eq(n.wildcard, wildcard_before, "%s: wildcard handlers were dropped", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(emit, c12_disconnect_between_attempts_ends_with_destroy)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, c12_disconnect_between_attempts_ends_with_destroy)
{
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    th_rec_t rec = {0};
    cr_assert_eq(th_connect_nowhere(ipc, t, "world", dir, &c), 0, "%s", t->name);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &rec);
    tally_t n = {0};
    nipc_client_on(c, "destroy", on_destroy, &n);
    cr_assert(wait_count(&rec, "disconnect", 1, 2000), "%s: %s", t->name, th_types(&rec));
    cr_assert_eq(rec.status[th_find(&rec, "error", 0)], th_nowhere_error(t), "%s", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "world"), 0, "%s", t->name);
    th_run_for(&loop, th_ms(150)); /* longer than `retry`: no attempt may follow */
    cr_assert_eq(n.destroy, 1, "%s", t->name);
    cr_assert_eq(th_count(&rec, "error"), 1, "%s: %s", t->name, th_types(&rec));
    nipc_free(ipc);
}

ParameterizedTestParameters(emit, destroy_discards_what_is_queued)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, destroy_discards_what_is_queued)
{
    th_server_t srv;
    server_up(&srv, t, "destroy.sock");
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    bool destroyed = false;
    cr_assert_eq(th_connect(ipc, t, "world", srv.server, &c), 0, "%s", t->name);
    nipc_client_on(c, "destroy", th_flag, &destroyed);
    cr_assert_eq(nipc_client_emitf(c, "never", "{s:i}", "i", 0), 0, "%s", t->name);
    cr_assert_eq(nipc_client_close(c, false), 0, "%s", t->name);
    cr_assert(th_run_until(&loop, &destroyed, 2000), "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&srv.rec, "never"), 0, "%s", t->name);
    cr_assert_null(nipc_of(ipc, "world"), "%s", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(emit, bad_arguments_are_refused)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, emit, bad_arguments_are_refused)
{
    nipc_t *ipc = client_ipc();
    nipc_client_t *c;
    int port = th_unused_port(t, dir);
    cr_assert_eq(th_connect_raw(ipc, t, NULL, dir, "x.sock", port, &c), UV_EINVAL, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "", dir, "x.sock", port, &c), UV_EINVAL, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "world", dir, "x.sock", port, &c), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(c, NULL, NULL), UV_EINVAL, "%s", t->name);
    cr_assert_eq(nipc_client_emit(c, "constructor", NULL), UV_EINVAL, "%s: W13", t->name);
    cr_assert_eq(nipc_client_emitf(c, "x", "{s:", "broken"), UV_EINVAL, "%s", t->name);
    cr_assert_eq(nipc_client_emit(NULL, "x", NULL), UV_EINVAL, "%s", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "nobody"), UV_ENOENT, "%s", t->name);
    nipc_free(ipc);
}
