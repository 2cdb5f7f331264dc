/* SPDX-License-Identifier: MIT */
/*
 * Server behaviours over Unix sockets, C to C: serve and start (S1, S3), the unlink policy
 * (S4), socket modes (S5), maxConnections (S6), per-socket events and the learned id
 * (S7-S12), emit and broadcast (S13, S14), stop (S15) and the sockets list.
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

TestSuite(server, .init = setup, .fini = teardown, .timeout = 20);

/* A client instance connected to `path`, with every event recorded. */
typedef struct client {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool connected;
} client_t;

static void client_open(client_t *cl, const char *id, const char *path, const nipc_config_t *cfg)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        def.stop_retrying = true;
        cfg = &def;
    }
    memset(cl, 0, sizeof *cl);
    cr_assert_eq(nipc_new(&cl->ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_connect_to(cl->ipc, id, path, &cl->c), 0);
    nipc_client_on(cl->c, NIPC_EVENT_ANY, th_record, &cl->rec);
    nipc_client_on(cl->c, "connect", th_flag, &cl->connected);
}

static void client_connect(client_t *cl, const char *id, const char *path)
{
    client_open(cl, id, path, NULL);
    cr_assert(th_run_until(&loop, &cl->connected, 2000), "client %s did not connect", id);
}

static bool count_reaches(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

/* ---- S1, S3: serve and start ------------------------------------------------------------ */

static void start_seen(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
}

Test(server, s3_nothing_listens_before_start_and_start_is_published_later)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    const char *path = th_path(dir, "s3.sock");
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server(ipc), s);
    cr_assert_str_eq(nipc_server_path(s), path);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "serve() alone must not listen");

    int starts = 0;
    nipc_server_on(s, "start", start_seen, &starts);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_eq(starts, 0, "start must not be published inside nipc_server_start()");
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    th_run_for(&loop, 50);
    cr_assert_eq(starts, 1);
    cr_assert_eq(nipc_server_start(s), UV_EALREADY);
    cr_assert_eq(nipc_serve(ipc, path, NULL), UV_EALREADY, "one server per instance");
    nipc_free(ipc);
}

Test(server, s1_c1_default_path_is_socket_root_appspace_id)
{
    char root[80];
    snprintf(root, sizeof root, "%s/", dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.socket_root = root;
    cfg.appspace = "app.";
    cfg.id = "world";
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, NULL);
    cr_assert_str_eq(nipc_server_path(srv.server), th_path(dir, "app.world"));

    /* A client of another instance finds it by id alone (C1). */
    cfg.id = "hello";
    cfg.stop_retrying = true;
    client_t cl;
    client_open(&cl, "world", NULL, &cfg);
    cr_assert_str_eq(nipc_client_path(cl.c), th_path(dir, "app.world"));
    cr_assert(th_run_until(&loop, &cl.connected, 2000));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(server, k5_paths_past_the_os_limit_are_refused_not_truncated)
{
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, longp, NULL), UV_ENAMETOOLONG);
    cr_assert_eq(nipc_connect_to(ipc, "x", longp, NULL), UV_ENAMETOOLONG);
    cr_assert_null(nipc_of(ipc, "x"));
    nipc_free(ipc);
}

/* ---- S4: unlink policy ------------------------------------------------------------------- */

/* Leaves a socket file nobody listens on, as a crashed server would. */
static void make_stale_socket(const char *path)
{
    int fd = th_raw_listen(path);
    close(fd);
}

Test(server, s4_stale_socket_is_removed_before_listening)
{
    const char *path = th_path(dir, "stale.sock");
    make_stale_socket(path);
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    client_t cl;
    client_connect(&cl, "s", path);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(server, s4_without_unlink_a_stale_socket_makes_start_fail)
{
    const char *path = th_path(dir, "stale.sock");
    make_stale_socket(path);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.unlink = false;
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EADDRINUSE);
    nipc_free(ipc);
}

Test(server, s4_a_regular_file_is_never_removed)
{
    const char *path = th_path(dir, "precious.txt");
    FILE *f = fopen(path, "w");
    fputs("keep me", f);
    fclose(f);
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    int started = 0;
    nipc_server_on(s, "start", start_seen, &started);
    cr_assert_eq(nipc_server_start(s), UV_EEXIST);
    th_run_for(&loop, 30);
    cr_assert_eq(started, 0, "a failed start publishes nothing");
    char buf[16] = {0};
    f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof buf, f));
    fclose(f);
    cr_assert_str_eq(buf, "keep me");
    nipc_free(ipc);
}

Test(server, s4_a_live_server_is_not_stolen)
{
    const char *path = th_path(dir, "live.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t first;
    th_server_start(&first, &loop, &cfg, path);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EADDRINUSE);
    /* The first server still works. */
    client_t cl;
    client_connect(&cl, "s", path);
    nipc_free(cl.ipc);
    nipc_free(ipc);
    nipc_free(first.ipc);
}

/* ---- S5: socket file modes ----------------------------------------------------------------- */

static unsigned mode_with(bool readable, bool writable)
{
    const char *path = th_path(dir, "mode.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.readable_all = readable;
    cfg.writable_all = writable;
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    nipc_free(srv.ipc);
    th_run_for(&loop, 10);
    return st.st_mode & 0777;
}

Test(server, s5_readable_all_and_writable_all_widen_the_mode)
{
    mode_t old = umask(077);
    unsigned none = mode_with(false, false);
    unsigned r = mode_with(true, false);
    unsigned w = mode_with(false, true);
    unsigned rw = mode_with(true, true);
    umask(old);
    /* The values node-ipc gives under umask 077 (compat §3.3). */
    cr_assert_eq(none, 0700, "%o", none);
    cr_assert_eq(r, 0744, "%o", r);
    cr_assert_eq(w, 0722, "%o", w);
    cr_assert_eq(rw, 0766, "%o", rw);
}

/* ---- S6: maxConnections --------------------------------------------------------------------- */

Test(server, s6_connections_past_max_are_accepted_then_closed_without_connect)
{
    const char *path = th_path(dir, "max.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 1;
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);

    client_t a, b;
    client_connect(&a, "a", path);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000));
    client_open(&b, "b", path, NULL);
    /* b's transport connects, then the server closes it: b sees connect, then disconnect. */
    cr_assert(count_reaches(&b.rec, "destroy", 1, 2000), "b: %s", th_types(&b.rec));
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "server: %s", th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 1);

    /* a still works. */
    cr_assert_eq(nipc_client_emitf(a.c, "ping", "{s:i}", "n", 1), 0);
    cr_assert(count_reaches(&srv.rec, "ping", 1, 2000));

    /* Once a leaves, there is room again. */
    nipc_free(a.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000));
    client_t c;
    client_connect(&c, "c", path);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000));
    nipc_free(b.ipc);
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

/* ---- S7-S12: per-socket events ----------------------------------------------------------------
 */

static void echo(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_not_null(ev->socket);
    cr_assert_eq(nipc_socket_server(ev->socket), ev->server);
    nipc_server_emitf(ev->server, ev->socket, "message", "{s:O?}", "got", ev->data);
}

Test(server, s7_s8_round_trip_with_socket_and_data)
{
    const char *path = th_path(dir, "rt.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    nipc_server_on(srv.server, "message", echo, NULL);

    client_t cl;
    client_connect(&cl, "s", path);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000));
    int ci = th_find(&srv.rec, "connect", 0);
    cr_assert_not_null(srv.rec.socket[ci], "connect carries the socket (S7)");
    cr_assert_eq(nipc_server_socket_count(srv.server), 1);
    cr_assert_eq(nipc_server_socket_at(srv.server, 0), srv.rec.socket[ci]);
    cr_assert_null(nipc_server_socket_at(srv.server, 1));

    cr_assert_eq(nipc_client_emitf(cl.c, "message", "{s:s, s:s}", "id", "hello", "message", "hi"),
                 0);
    cr_assert(count_reaches(&cl.rec, "message", 1, 2000));
    int si = th_find(&srv.rec, "message", 0);
    cr_assert_str_eq(srv.rec.data[si], "{\"id\":\"hello\",\"message\":\"hi\"}");
    cr_assert_eq(srv.rec.socket[si], srv.rec.socket[ci], "S8: data comes with its socket");
    int mi = th_find(&cl.rec, "message", 0);
    cr_assert_str_eq(cl.rec.data[mi], "{\"got\":{\"id\":\"hello\",\"message\":\"hi\"}}");
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(server, s9_s10_learned_id_is_reported_when_the_socket_leaves)
{
    const char *path = th_path(dir, "id.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);

    client_t named, anon;
    client_connect(&named, "s", path);
    client_connect(&anon, "s", path);
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "first");
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "");       /* "" is ignored */
    nipc_client_emitf(named.c, "message", "{s:i}", "id", 0);        /* 0 is ignored */
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "second"); /* latest wins */
    nipc_client_emitf(named.c, "message", "{s:b}", "id", 0);        /* false is ignored */
    nipc_client_emitf(anon.c, "message", "{s:s}", "text", "no id here");
    cr_assert(count_reaches(&srv.rec, "message", 6, 2000));
    nipc_socket_t *ns = NULL;
    for (int i = 0; i < srv.rec.n; i++)
        if (strcmp(srv.rec.data[i], "{\"id\":\"first\"}") == 0)
            ns = srv.rec.socket[i];
    cr_assert_not_null(ns);
    cr_assert_str_eq(nipc_socket_id(ns), "second");

    nipc_free(named.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000));
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert_str_eq(srv.rec.data[d], "\"second\"");
    /* socket.disconnected comes before node-ipc's close event (compat §3.8). */
    cr_assert_eq(strcmp(srv.rec.type[d + 1], "close"), 0, "%s", th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[d + 1], "false");
    cr_assert_eq(nipc_server_socket_count(srv.server), 1);

    nipc_free(anon.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 2, 2000));
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "socket.disconnected", 1)], "false");
    cr_assert_eq(nipc_server_socket_count(srv.server), 0);
    nipc_free(srv.ipc);
}

Test(server, s12_socket_errors_reach_error_handlers_and_the_server_goes_on)
{
    const char *path = th_path(dir, "err.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    int fd = th_raw_connect(path);
    th_raw_write(fd, "not json\f", 9);
    cr_assert(count_reaches(&srv.rec, "error", 1, 2000));
    int e = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[e], NIPC_EPROTO);
    cr_assert_not_null(srv.rec.socket[e]);
    /* The connection stays, and so does the server. */
    th_raw_write(fd, "{\"type\":\"after\",\"data\":1}\f", 26);
    cr_assert(count_reaches(&srv.rec, "after", 1, 2000));
    client_t cl;
    client_connect(&cl, "s", path);
    close(fd);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* ---- S13, S14: emit and broadcast ---------------------------------------------------------------
 */

Test(server, s13_emit_reaches_only_its_socket)
{
    const char *path = th_path(dir, "emit.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    client_t a, b;
    client_connect(&a, "s", path);
    client_connect(&b, "s", path);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000));
    nipc_socket_t *sa = nipc_server_socket_at(srv.server, 0);
    cr_assert_eq(nipc_server_emitf(srv.server, sa, "only", "{s:s}", "to", "a"), 0);
    cr_assert(count_reaches(&a.rec, "only", 1, 2000));
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&b.rec, "only"), 0);
    cr_assert_eq(nipc_server_emit(srv.server, NULL, "x", NULL), UV_EINVAL);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(srv.ipc);
}

Test(server, s14_broadcast_reaches_every_socket_once_in_order)
{
    const char *path = th_path(dir, "bc.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    client_t cl[5];
    for (int i = 0; i < 5; i++)
        client_connect(&cl[i], "s", path);
    cr_assert(count_reaches(&srv.rec, "connect", 5, 2000));
    for (int k = 0; k < 20; k++)
        cr_assert_eq(nipc_server_broadcastf(srv.server, "news", "{s:i}", "k", k), 0);
    for (int i = 0; i < 5; i++) {
        cr_assert(count_reaches(&cl[i].rec, "news", 20, 2000));
        for (int k = 0; k < 20; k++) {
            char want[32];
            snprintf(want, sizeof want, "{\"k\":%d}", k);
            cr_assert_str_eq(cl[i].rec.data[th_find(&cl[i].rec, "news", k)], want);
        }
    }
    th_run_for(&loop, 30);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(th_count(&cl[i].rec, "news"), 20);
        nipc_free(cl[i].ipc);
    }
    nipc_free(srv.ipc);
}

/* ---- S15: stop
 * ------------------------------------------------------------------------------------ */

Test(server, s15_stop_closes_the_listener_but_not_the_connections)
{
    const char *path = th_path(dir, "stop.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    nipc_server_on(srv.server, "message", echo, NULL);
    client_t a;
    client_connect(&a, "s", path);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000));

    int before = srv.rec.n;
    cr_assert_eq(nipc_server_stop(srv.server), 0);
    cr_assert_eq(nipc_server_stop(srv.server), UV_EINVAL);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "the socket file is removed at once");
    th_run_for(&loop, 30);
    cr_assert_eq(srv.rec.n, before, "stop publishes no event");

    /* The existing connection still works both ways. */
    nipc_client_emit_new(a.c, "message", json_string("still here"));
    cr_assert(count_reaches(&a.rec, "message", 1, 2000));

    /* New connections are refused. */
    client_t b;
    client_open(&b, "b", path, NULL);
    cr_assert(count_reaches(&b.rec, "destroy", 1, 2000));
    cr_assert_eq(th_count(&b.rec, "connect"), 0);

    /* And the server can start again. */
    srv.started = false;
    cr_assert_eq(nipc_server_start(srv.server), 0);
    cr_assert(th_run_until(&loop, &srv.started, 2000));
    client_t c;
    client_connect(&c, "c", path);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

Test(server, socket_close_with_flush_delivers_then_disconnects)
{
    const char *path = th_path(dir, "sclose.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    client_t a;
    client_connect(&a, "s", path);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000));
    nipc_socket_t *s = nipc_server_socket_at(srv.server, 0);
    int x = 42;
    nipc_socket_set_data(s, &x);
    cr_assert_eq(nipc_socket_data(s), &x);
    for (int i = 0; i < 100; i++)
        nipc_server_emitf(srv.server, s, "last", "{s:i}", "i", i);
    cr_assert_eq(nipc_socket_close(s, true), 0);
    cr_assert_eq(nipc_server_emit(srv.server, s, "late", NULL), UV_EINVAL);
    cr_assert(count_reaches(&a.rec, "destroy", 1, 2000));
    cr_assert_eq(th_count(&a.rec, "last"), 100);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000));
    nipc_free(a.ipc);
    nipc_free(srv.ipc);
}
