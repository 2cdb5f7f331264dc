/* SPDX-License-Identifier: MIT */
/*
 * Server behaviours, C to C, over every stream transport of the suite (a Unix socket, TCP
 * on 127.0.0.1 and on ::1, see ../support/transport.h): start (S3), a live server never
 * stolen (S4), maxConnections (S6), per-socket events, the peer's address and the learned
 * id (S7-S12), emit and broadcast (S13, S14), stop and restart (S15) and the sockets list.
 * What only a Unix socket has stays Unix-only: the default path (S1), the unlink policy
 * for stale sockets and other files (S4), socket modes (S5) and the path length limit
 * (K5); what only a network server has runs over TCP: a restart on the port it asked for.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(server, 20);

/* A client instance, with every event recorded. */
typedef struct client {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool connected;
} client_t;

/* A new instance for `cl` (cfg NULL: silent, stop_retrying). */
static void client_new(client_t *cl, const nipc_config_t *cfg)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        def.stop_retrying = true;
        cfg = &def;
    }
    memset(cl, 0, sizeof *cl);
    cr_assert_eq(nipc_new(&cl->ipc, &loop, cfg), 0);
}

static void client_watch(client_t *cl)
{
    nipc_client_on(cl->c, NIPC_EVENT_ANY, th_record, &cl->rec);
    nipc_client_on(cl->c, "connect", th_flag, &cl->connected);
}

/* A client of the Unix socket at `path` (NULL: the default path for `id`). */
static void client_open(client_t *cl, const char *id, const char *path, const nipc_config_t *cfg)
{
    client_new(cl, cfg);
    cr_assert_eq(nipc_connect_to(cl->ipc, id, path, &cl->c), 0);
    client_watch(cl);
}

static void client_connect(client_t *cl, const char *id, const char *path)
{
    client_open(cl, id, path, NULL);
    cr_assert(th_run_until(&loop, &cl->connected, 2000), "client %s did not connect", id);
}

/* A client of a started server of transport `t`. */
static void client_open_to(client_t *cl, const th_transport_t *t, const char *id,
                           nipc_server_t *server, const nipc_config_t *cfg)
{
    client_new(cl, cfg);
    int err = th_connect(cl->ipc, t, id, server, &cl->c);
    cr_assert_eq(err, 0, "%s: connect %s: %s", t->name, id, nipc_strerror(err));
    client_watch(cl);
}

/* A client of the endpoint dir/name or loopback:port, whoever listens there (or nobody). */
static void client_open_at(client_t *cl, const th_transport_t *t, const char *id, const char *name,
                           int port, const nipc_config_t *cfg)
{
    client_new(cl, cfg);
    int err = th_connect_raw(cl->ipc, t, id, dir, name, port, &cl->c);
    cr_assert_eq(err, 0, "%s: connect %s: %s", t->name, id, nipc_strerror(err));
    client_watch(cl);
}

static void client_connect_to(client_t *cl, const th_transport_t *t, const char *id,
                              nipc_server_t *server)
{
    client_open_to(cl, t, id, server, NULL);
    cr_assert(th_run_until(&loop, &cl->connected, 2000), "%s: client %s did not connect (%s)",
              t->name, id, th_types(&cl->rec));
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

ParameterizedTestParameters(server, s3_nothing_listens_before_start_and_start_is_published_later)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server,
                  s3_nothing_listens_before_start_and_start_is_published_later)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    const char *path = th_path(dir, "s3.sock");
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_serve(ipc, t, dir, "s3.sock", &s), 0, "%s", t->name);
    cr_assert_eq(nipc_server(ipc), s, "%s", t->name);
    struct stat st;
    if (t->kind == TH_UNIX) {
        cr_assert_str_eq(nipc_server_path(s), path, "%s", t->name);
        cr_assert_null(nipc_server_host(s), "%s: a Unix socket server has no host", t->name);
        cr_assert_neq(stat(path, &st), 0, "%s: serve() alone must not listen", t->name);
    } else {
        cr_assert_str_eq(nipc_server_host(s), th_loopback(t), "%s", t->name);
        cr_assert_eq(nipc_server_port(s), 0, "%s: serve() alone must not listen (port %d)", t->name,
                     nipc_server_port(s));
    }

    th_rec_t rec = {0};
    int starts = 0;
    nipc_server_on(s, NIPC_EVENT_ANY, th_record, &rec);
    nipc_server_on(s, "start", start_seen, &starts);
    cr_assert_eq(nipc_server_start(s), 0, "%s", t->name);
    cr_assert_eq(starts, 0, "%s: start must not be published inside nipc_server_start()", t->name);
    if (t->kind == TH_UNIX) {
        cr_assert_eq(stat(path, &st), 0, "%s", t->name);
        cr_assert(S_ISSOCK(st.st_mode), "%s", t->name);
    } else {
        /* An IP literal is bound inside nipc_server_start(). */
        cr_assert_gt(nipc_server_port(s), 0, "%s: listening without a port", t->name);
    }
    /* It listens: a peer connects before the loop ran, and `start` still comes first. */
    int fd = th_raw_connect_server(t, s);
    th_run_for(&loop, 50);
    cr_assert_eq(starts, 1, "%s", t->name);
    cr_assert_str_eq(th_types(&rec), "start connect", "%s", t->name);
    cr_assert_eq(nipc_server_start(s), UV_EALREADY, "%s", t->name);
    cr_assert_eq(nipc_serve(ipc, path, NULL), UV_EALREADY, "%s: one server per instance", t->name);
    cr_assert_eq(nipc_serve_net(ipc, th_loopback(t), 0, NIPC_TCP, NULL), UV_EALREADY,
                 "%s: one server per instance", t->name);
    close(fd);
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

/* Not only a Unix socket's: a second server where one listens fails, whatever the transport. */
ParameterizedTestParameters(server, s4_a_live_server_is_not_stolen)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s4_a_live_server_is_not_stolen)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t first;
    th_server_start_on(&first, &loop, &cfg, t, dir, "live.sock");
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_serve_at(ipc, t, dir, "live.sock", nipc_server_port(first.server), &s), 0, "%s",
                 t->name);
    int err = nipc_server_start(s);
    cr_assert_eq(err, UV_EADDRINUSE, "%s: %s", t->name, nipc_err_name(err));
    /* The first server still works. */
    client_t cl;
    client_connect_to(&cl, t, "s", first.server);
    cr_assert(count_reaches(&first.rec, "connect", 1, 2000), "%s", t->name);
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

ParameterizedTestParameters(server,
                            s6_connections_past_max_are_accepted_then_closed_without_connect)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server,
                  s6_connections_past_max_are_accepted_then_closed_without_connect)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 1;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "max.sock");

    client_t a, b;
    client_connect_to(&a, t, "a", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000), "%s", t->name);
    client_open_to(&b, t, "b", srv.server, NULL);
    /* b's transport connects, then the server closes it: b sees connect, then disconnect. */
    cr_assert(count_reaches(&b.rec, "destroy", 1, 2000), "%s: b: %s", t->name, th_types(&b.rec));
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s: server: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);

    /* a still works. */
    cr_assert_eq(nipc_client_emitf(a.c, "ping", "{s:i}", "n", 1), 0, "%s", t->name);
    cr_assert(count_reaches(&srv.rec, "ping", 1, 2000), "%s", t->name);

    /* Once a leaves, there is room again. */
    nipc_free(a.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    client_t c;
    client_connect_to(&c, t, "c", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000), "%s", t->name);
    nipc_free(b.ipc);
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s6_a_peer_that_left_gives_its_slot_back_at_once)
{
    TH_TRANSPORT_PARAMS();
}

/* The churn: peers leave and newcomers arrive in the same loop turn. A peer whose
 * end of file was read no longer takes a slot, even before its close callback has run. */
ParameterizedTest(th_transport_t *t, server, s6_a_peer_that_left_gives_its_slot_back_at_once)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 2;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "churn.sock");
    int fds[2];
    fds[0] = th_raw_connect_server(t, srv.server);
    fds[1] = th_raw_connect_server(t, srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000), "%s", t->name);
    for (int i = 0; i < 20; i++) {
        /* One leaves, one arrives, before the loop runs again. */
        close(fds[i % 2]);
        fds[i % 2] = th_raw_connect_server(t, srv.server);
        cr_assert(count_reaches(&srv.rec, "connect", 3 + i, 2000),
                  "%s: newcomer %d refused with fewer than 2 peers connected (%s)", t->name, i,
                  th_types(&srv.rec));
    }
    close(fds[0]);
    close(fds[1]);
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

ParameterizedTestParameters(server, s7_s8_round_trip_with_socket_and_data)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s7_s8_round_trip_with_socket_and_data)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "rt.sock");
    nipc_server_on(srv.server, "message", echo, NULL);

    client_t cl;
    client_connect_to(&cl, t, "s", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000), "%s", t->name);
    int ci = th_find(&srv.rec, "connect", 0);
    cr_assert_not_null(srv.rec.socket[ci], "%s: connect carries the socket (S7)", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    cr_assert_eq(nipc_server_socket_at(srv.server, 0), srv.rec.socket[ci], "%s", t->name);
    cr_assert_null(nipc_server_socket_at(srv.server, 1), "%s", t->name);
    /* The peer's remote end: loopback, a port and a family over TCP; nothing over Unix. */
    th_assert_peer_address(t, srv.rec.socket[ci]);

    cr_assert_eq(nipc_client_emitf(cl.c, "message", "{s:s, s:s}", "id", "hello", "message", "hi"),
                 0, "%s", t->name);
    cr_assert(count_reaches(&cl.rec, "message", 1, 2000), "%s", t->name);
    int si = th_find(&srv.rec, "message", 0);
    cr_assert_str_eq(srv.rec.data[si], "{\"id\":\"hello\",\"message\":\"hi\"}", "%s", t->name);
    cr_assert_eq(srv.rec.socket[si], srv.rec.socket[ci], "%s: S8: data comes with its socket",
                 t->name);
    th_assert_peer_address(t, srv.rec.socket[si]);
    int mi = th_find(&cl.rec, "message", 0);
    cr_assert_str_eq(cl.rec.data[mi], "{\"got\":{\"id\":\"hello\",\"message\":\"hi\"}}", "%s",
                     t->name);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s9_s10_learned_id_is_reported_when_the_socket_leaves)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s9_s10_learned_id_is_reported_when_the_socket_leaves)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "id.sock");

    client_t named, anon;
    client_connect_to(&named, t, "s", srv.server);
    client_connect_to(&anon, t, "s", srv.server);
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "first");
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "");       /* "" is ignored */
    nipc_client_emitf(named.c, "message", "{s:i}", "id", 0);        /* 0 is ignored */
    nipc_client_emitf(named.c, "message", "{s:s}", "id", "second"); /* latest wins */
    nipc_client_emitf(named.c, "message", "{s:b}", "id", 0);        /* false is ignored */
    nipc_client_emitf(anon.c, "message", "{s:s}", "text", "no id here");
    cr_assert(count_reaches(&srv.rec, "message", 6, 2000), "%s", t->name);
    nipc_socket_t *ns = NULL;
    for (int i = 0; i < srv.rec.n; i++)
        if (strcmp(srv.rec.data[i], "{\"id\":\"first\"}") == 0)
            ns = srv.rec.socket[i];
    cr_assert_not_null(ns, "%s", t->name);
    cr_assert_str_eq(nipc_socket_id(ns), "second", "%s", t->name);

    nipc_free(named.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert_str_eq(srv.rec.data[d], "\"second\"", "%s", t->name);
    /* socket.disconnected comes before node-ipc's close event (compat §3.8). */
    cr_assert_eq(strcmp(srv.rec.type[d + 1], "close"), 0, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[d + 1], "false", "%s", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);

    nipc_free(anon.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 2, 2000), "%s", t->name);
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "socket.disconnected", 1)], "false", "%s",
                     t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 0, "%s", t->name);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s9_an_id_that_is_not_a_string_is_reported_as_its_text)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* data.id = 5: socket.disconnected carries 5, and nipc_socket_id() says "5", not NULL. */
ParameterizedTest(th_transport_t *t, server, s9_an_id_that_is_not_a_string_is_reported_as_its_text)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "idn.sock");
    client_t c;
    client_connect_to(&c, t, "s", srv.server);
    nipc_client_emitf(c.c, "message", "{s:i}", "id", 5);
    cr_assert(count_reaches(&srv.rec, "message", 1, 2000), "%s", t->name);
    nipc_socket_t *sock = srv.rec.socket[th_find(&srv.rec, "message", 0)];
    cr_assert_str_eq(nipc_socket_id(sock), "5", "%s", t->name);
    cr_assert(json_is_integer(nipc_socket_id_json(sock)), "%s", t->name);
    cr_assert_eq(json_integer_value(nipc_socket_id_json(sock)), 5, "%s", t->name);
    nipc_client_emitf(c.c, "message", "{s:{s:b}}", "id", "x", 1);
    nipc_client_emitf(c.c, "message", "{s:f}", "id", 1.5);
    cr_assert(count_reaches(&srv.rec, "message", 3, 2000), "%s", t->name);
    cr_assert_str_eq(nipc_socket_id(sock), "1.5", "%s", t->name);
    nipc_client_emitf(c.c, "message", "{s:b}", "id", 1);
    cr_assert(count_reaches(&srv.rec, "message", 4, 2000), "%s", t->name);
    cr_assert_str_eq(nipc_socket_id(sock), "true", "%s", t->name);
    nipc_client_emitf(c.c, "message", "{s:{s:i}}", "id", "a", 1);
    cr_assert(count_reaches(&srv.rec, "message", 5, 2000), "%s", t->name);
    cr_assert_str_eq(nipc_socket_id(sock), "{\"a\":1}", "%s", t->name);
    nipc_client_emitf(c.c, "message", "{s:i}", "id", 5);
    cr_assert(count_reaches(&srv.rec, "message", 6, 2000), "%s", t->name);
    nipc_free(c.ipc);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "socket.disconnected", 0)], "5", "%s", t->name);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s12_socket_errors_reach_error_handlers_and_the_server_goes_on)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server,
                  s12_socket_errors_reach_error_handlers_and_the_server_goes_on)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "err.sock");
    int fd = th_raw_connect_server(t, srv.server);
    th_raw_write(fd, "not json\f", 9);
    cr_assert(count_reaches(&srv.rec, "error", 1, 2000), "%s", t->name);
    int e = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[e], UV_EPROTO, "%s: %s", t->name, nipc_err_name(srv.rec.status[e]));
    cr_assert_not_null(srv.rec.socket[e], "%s", t->name);
    /* The socket names the raw peer's own end. */
    th_assert_peer_address(t, srv.rec.socket[e]);
    cr_assert_eq(nipc_socket_port(srv.rec.socket[e]), th_raw_local_port(fd), "%s", t->name);
    /* The connection stays, and so does the server. */
    th_raw_write(fd, "{\"type\":\"after\",\"data\":1}\f", 26);
    cr_assert(count_reaches(&srv.rec, "after", 1, 2000), "%s", t->name);
    client_t cl;
    client_connect_to(&cl, t, "s", srv.server);
    close(fd);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* ---- S13, S14: emit and broadcast ---------------------------------------------------------------
 */

ParameterizedTestParameters(server, s13_emit_reaches_only_its_socket)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s13_emit_reaches_only_its_socket)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "emit.sock");
    client_t a, b;
    client_connect_to(&a, t, "s", srv.server);
    client_connect_to(&b, t, "s", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000), "%s", t->name);
    nipc_socket_t *sa = nipc_server_socket_at(srv.server, 0);
    cr_assert_eq(nipc_server_emitf(srv.server, sa, "only", "{s:s}", "to", "a"), 0, "%s", t->name);
    cr_assert(count_reaches(&a.rec, "only", 1, 2000), "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&b.rec, "only"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, NULL, "x", NULL), UV_EINVAL, "%s", t->name);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s14_broadcast_reaches_every_socket_once_in_order)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s14_broadcast_reaches_every_socket_once_in_order)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "bc.sock");
    client_t cl[5];
    for (int i = 0; i < 5; i++)
        client_connect_to(&cl[i], t, "s", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 5, 2000), "%s", t->name);
    for (int k = 0; k < 20; k++)
        cr_assert_eq(nipc_server_broadcastf(srv.server, "news", "{s:i}", "k", k), 0, "%s", t->name);
    for (int i = 0; i < 5; i++) {
        cr_assert(count_reaches(&cl[i].rec, "news", 20, 2000), "%s: client %d", t->name, i);
        for (int k = 0; k < 20; k++) {
            char want[32];
            snprintf(want, sizeof want, "{\"k\":%d}", k);
            cr_assert_str_eq(cl[i].rec.data[th_find(&cl[i].rec, "news", k)], want, "%s", t->name);
        }
    }
    th_run_for(&loop, 30);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(th_count(&cl[i].rec, "news"), 20, "%s: client %d", t->name, i);
        nipc_free(cl[i].ipc);
    }
    nipc_free(srv.ipc);
}

/* ---- S15: stop
 * ------------------------------------------------------------------------------------ */

ParameterizedTestParameters(server, s15_stop_closes_the_listener_but_not_the_connections)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s15_stop_closes_the_listener_but_not_the_connections)
{
    const char *path = th_path(dir, "stop.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "stop.sock");
    nipc_server_on(srv.server, "message", echo, NULL);
    client_t a;
    client_connect_to(&a, t, "s", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000), "%s", t->name);
    int port = nipc_server_port(srv.server); /* 0 for a Unix socket */

    int before = srv.rec.n;
    cr_assert_eq(nipc_server_stop(srv.server), 0, "%s", t->name);
    cr_assert_eq(nipc_server_stop(srv.server), UV_EINVAL, "%s", t->name);
    if (t->kind == TH_UNIX) {
        struct stat st;
        cr_assert_neq(stat(path, &st), 0, "%s: the socket file is removed at once", t->name);
    } else {
        cr_assert_eq(nipc_server_port(srv.server), 0, "%s: a stopped server has no port", t->name);
    }
    /* A new connection is refused at once (the listener is closed, not closing). */
    int err = th_raw_connect_error(t, dir, "stop.sock", port);
    cr_assert_eq(err, t->kind == TH_UNIX ? ENOENT : ECONNREFUSED,
                 "%s: a connection right after stop: %s", t->name, strerror(err));
    th_run_for(&loop, 30);
    cr_assert_eq(srv.rec.n, before, "%s: stop publishes no event: %s", t->name, th_types(&srv.rec));

    /* The existing connection still works both ways. */
    nipc_client_emit_new(a.c, "message", json_string("still here"));
    cr_assert(count_reaches(&a.rec, "message", 1, 2000), "%s", t->name);

    /* New connections are refused. */
    client_t b;
    client_open_at(&b, t, "b", "stop.sock", port, NULL);
    cr_assert(count_reaches(&b.rec, "destroy", 1, 2000), "%s: b: %s", t->name, th_types(&b.rec));
    cr_assert_eq(th_count(&b.rec, "connect"), 0, "%s", t->name);

    /* And the server can start again: at the same path, or on the port it asked for (0: the
     * system chooses again, so clients ask nipc_server_port() afresh). */
    srv.started = false;
    cr_assert_eq(nipc_server_start(srv.server), 0, "%s", t->name);
    cr_assert(th_run_until(&loop, &srv.started, 2000), "%s", t->name);
    client_t c;
    client_connect_to(&c, t, "c", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000), "%s", t->name);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, s15_a_network_server_restarts_on_the_port_it_asked_for)
{
    TH_NET_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, s15_a_network_server_restarts_on_the_port_it_asked_for)
{
    nipc_config_t cfg;
    th_config(&cfg);
    int port = th_unused_port(t, dir);
    th_server_t srv;
    th_server_start_at(&srv, &loop, &cfg, t, dir, NULL, port);
    cr_assert_eq(nipc_server_port(srv.server), port, "%s", t->name);
    nipc_server_on(srv.server, "message", echo, NULL);
    client_t a;
    client_connect_to(&a, t, "a", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000), "%s", t->name);

    cr_assert_eq(nipc_server_stop(srv.server), 0, "%s", t->name);
    int err = th_raw_connect_error(t, dir, NULL, port);
    cr_assert_eq(err, ECONNREFUSED, "%s: a connection right after stop: %s", t->name,
                 strerror(err));

    /* a's connection still holds the port; the listener binds it again anyway. */
    srv.started = false;
    err = nipc_server_start(srv.server);
    cr_assert_eq(err, 0, "%s: restart on port %d: %s", t->name, port, nipc_strerror(err));
    cr_assert(th_run_until(&loop, &srv.started, 2000), "%s", t->name);
    cr_assert_eq(nipc_server_port(srv.server), port, "%s", t->name);
    client_t c;
    client_connect_to(&c, t, "c", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 2, 2000), "%s", t->name);
    nipc_client_emit_new(a.c, "message", json_string("still here"));
    nipc_client_emit_new(c.c, "message", json_string("new here"));
    cr_assert(count_reaches(&a.rec, "message", 1, 2000), "%s", t->name);
    cr_assert(count_reaches(&c.rec, "message", 1, 2000), "%s", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 2, "%s", t->name);
    nipc_free(a.ipc);
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(server, socket_close_with_flush_delivers_then_disconnects)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, server, socket_close_with_flush_delivers_then_disconnects)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "sclose.sock");
    client_t a;
    client_connect_to(&a, t, "s", srv.server);
    cr_assert(count_reaches(&srv.rec, "connect", 1, 2000), "%s", t->name);
    nipc_socket_t *s = nipc_server_socket_at(srv.server, 0);
    int x = 42;
    nipc_socket_set_data(s, &x);
    cr_assert_eq(nipc_socket_data(s), &x, "%s", t->name);
    for (int i = 0; i < 100; i++)
        nipc_server_emitf(srv.server, s, "last", "{s:i}", "i", i);
    cr_assert_eq(nipc_socket_close(s, true), 0, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, s, "late", NULL), UV_ENOTCONN, "%s", t->name);
    cr_assert_eq(nipc_socket_close(s, true), UV_EALREADY, "%s", t->name);
    cr_assert(count_reaches(&a.rec, "destroy", 1, 2000), "%s", t->name);
    cr_assert_eq(th_count(&a.rec, "last"), 100, "%s", t->name);
    cr_assert(count_reaches(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    nipc_free(a.ipc);
    nipc_free(srv.ipc);
}
