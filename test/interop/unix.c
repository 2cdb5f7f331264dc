/* SPDX-License-Identifier: MIT */
/*
 * nipc against the real node-ipc over Unix sockets: @achrinza/node-ipc 10.1.11 and 9.2.9,
 * run as test/interop/node/peer.js child processes (test/support/peer.h). Every scenario
 * runs once per version (tests named _v10 and _v9).
 *
 *  - a Node client round trip to a C server, and a C client to a Node server, with object
 *    and string data (compat §8.4 item 1; W1, S7, S8, S13, C4, C5, C12);
 *  - 100 000 events in order and none lost, Node to C and C to Node, the latter in one burst
 *    (one write of the whole queue) and in batches per loop turn (W8, W9; W10 on the Node
 *    side: a legacy receiver holds data back until a read ends on a delimiter);
 *  - broadcast to three Node clients (§8.4 item 7; S14);
 *  - the id learned from data.id, on both sides (S9, S10);
 *  - maxConnections 1 with two Node clients (§8.4 item 4; S6);
 *  - non-ASCII text and escapes, C to Node to C unchanged (W5, W17).
 */
#include "../support/peer.h"

/* ---- fixture --------------------------------------------------------------------------- */

#define FLOOD_N 100000
/* Bounds, never measurements: Node needs ~0.3 s to start, a flood a few seconds. */
#define PEER_MS 15000
#define FLOOD_MS 60000
#define FLOOD_PEER_TIMEOUT "80000"

static uv_loop_t loop;
static char dir[64];

/* Instances and JSON values the teardown frees, so a failed test still ends clean. */
static nipc_t *instances[8];
static int ninstances;
static json_t *kept;
static uv_idle_t batcher;
static bool batcher_open;

static nipc_t *track(nipc_t *ipc)
{
    cr_assert_lt(ninstances, 8);
    instances[ninstances++] = ipc;
    return ipc;
}

/* Keeps a value alive until teardown; returns it, borrowed. */
static json_t *keep(json_t *v)
{
    cr_assert_not_null(v);
    json_array_append_new(kept, v);
    return v;
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
    kept = json_array();
}

static void teardown(void)
{
    th_peer_close_all();
    if (batcher_open)
        uv_close((uv_handle_t *)&batcher, NULL);
    for (int i = 0; i < ninstances; i++)
        nipc_free(instances[i]);
    ninstances = 0;
    json_decref(kept);
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(interop, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers --------------------------------------------------------------------------- */

/* `s` + " world!", as node-ipc's echo server answers a string. */
static json_t *world(const json_t *s)
{
    size_t n = json_string_length(s);
    char *b = malloc(n + 8);
    cr_assert_not_null(b);
    memcpy(b, json_string_value(s), n);
    memcpy(b + n, " world!", 7);
    json_t *r = json_stringn(b, n + 7);
    free(b);
    return r;
}

static th_server_t srv; /* static: its recorder is large */

static void server_start(const char *path, const nipc_config_t *cfg)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        cfg = &def;
    }
    th_server_start(&srv, &loop, cfg, path);
    track(srv.ipc);
}

/* A C client of a Node server: every event recorded, each `message` data kept in order. */
typedef struct cclient {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool connected;
    bool destroyed;
    json_t *messages; /* the data of each `message` received */
    json_t *result;   /* the data of the first `count.result` */
} cclient_t;

static cclient_t cl; /* static: its recorder is large */

static void cclient_message(const nipc_event_t *ev, void *arg)
{
    cclient_t *c = arg;
    json_array_append(c->messages, ev->data ? ev->data : json_null());
}

static void cclient_result(const nipc_event_t *ev, void *arg)
{
    cclient_t *c = arg;
    if (c->result == NULL)
        c->result = keep(ev->data ? json_incref(ev->data) : json_null());
}

static void cclient_connect(const char *server_id, const char *path)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    memset(&cl, 0, sizeof cl);
    cl.messages = keep(json_array());
    cr_assert_eq(nipc_new(&cl.ipc, &loop, &cfg), 0);
    track(cl.ipc);
    cr_assert_eq(nipc_connect_to(cl.ipc, server_id, path, &cl.c), 0);
    nipc_client_on(cl.c, NIPC_EVENT_ANY, th_record, &cl.rec);
    nipc_client_on(cl.c, "connect", th_flag, &cl.connected);
    nipc_client_on(cl.c, "destroy", th_flag, &cl.destroyed);
    nipc_client_on(cl.c, "message", cclient_message, &cl);
    nipc_client_on(cl.c, "count.result", cclient_result, &cl);
    cr_assert(th_run_until(&loop, &cl.connected, PEER_MS), "the C client did not connect: %s",
              th_types(&cl.rec));
}

static bool messages_reach(void *arg)
{
    return json_array_size(cl.messages) >= (size_t)(intptr_t)arg;
}

/* Starts a Node server-echo on `path` and waits until it listens. */
static th_peer_t *node_server(const char *ver, const char *path, const char *timeout)
{
    th_peer_t *p = th_peer_spawn(&loop, ver, "server-echo", path, "--timeout", timeout, NULL);
    cr_assert_not_null(th_peer_wait(p, "listening", 0, PEER_MS), "%s", th_peer_dump(p));
    return p;
}

static double ms_since(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e6;
}

/* ---- 1. Node client -> C server (§8.4 item 1; W1, S7, S8, S9, S10, S13) ----------------- */

/* Answers `message` as node-ipc's echo peers do, keeping a copy of every reply sent. */
static void answer(const nipc_event_t *ev, void *arg)
{
    json_t *sent = arg;
    json_t *reply =
        json_is_string(ev->data) ? world(ev->data) : json_pack("{s:O?}", "got", ev->data);
    int err = nipc_server_emit(ev->server, ev->socket, "message", reply);
    json_array_append_new(sent, err == 0 ? reply : json_integer(err));
    if (err != 0)
        json_decref(reply);
}

static void node_client_round_trip(const char *ver)
{
    const char *path = th_path(dir, "c.sock");
    server_start(path, NULL);
    json_t *sent = keep(json_array());
    nipc_server_on(srv.server, "message", answer, sent);

    th_peer_t *p = th_peer_spawn(&loop, ver, "client-echo", path, NULL);
    cr_assert_not_null(th_peer_wait(p, "done", 0, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));

    /* The C server got both frames, with their data, from one socket. */
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "message"), 2, "%s", th_types(&srv.rec));
    int c = th_find(&srv.rec, "connect", 0);
    int m0 = th_find(&srv.rec, "message", 0);
    int m1 = th_find(&srv.rec, "message", 1);
    cr_assert_str_eq(srv.rec.data[m0], "{\"id\":\"node\",\"message\":\"hi\"}");
    cr_assert_str_eq(srv.rec.data[m1], "\"hello\"");
    cr_assert_eq(srv.rec.socket[m0], srv.rec.socket[c]);
    cr_assert_eq(srv.rec.socket[m1], srv.rec.socket[c]);

    /* The peer printed exactly what the C server sent, in order. */
    cr_assert_eq(json_array_size(sent), 2, "sent %s", th_json_dump(sent));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    for (size_t k = 0; k < 2; k++) {
        const json_t *got = th_line_data(th_peer_line(p, "message", (int)k));
        cr_assert(json_equal(got, json_array_get(sent, k)), "reply %zu: node got %s, C sent %s", k,
                  th_json_dump(got), th_json_dump(json_array_get(sent, k)));
    }
    th_assert_json(th_line_data(th_peer_line(p, "message", 0)),
                   "{\"got\":{\"id\":\"node\",\"message\":\"hi\"}}", "first reply");
    th_assert_json(th_line_data(th_peer_line(p, "message", 1)), "\"hello world!\"", "second reply");

    /* The peer left: the C server names it by the id it learned (S10). */
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 1, PEER_MS), "%s",
              th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "socket.disconnected", 0)], "\"node\"");
}
TH_BOTH_VERSIONS(interop, node_client_round_trip)

/* ---- 2. C client -> Node server (§8.4 item 1; C1, C4, C5, C12, S9 on the Node side) ----- */

static void c_client_round_trip(const char *ver)
{
    const char *path = th_path(dir, "n.sock");
    th_peer_t *p = node_server(ver, path, "20000");
    cclient_connect("world", path);

    cr_assert_eq(nipc_client_emit_new(cl.c, "message", json_string("hello")), 0);
    cr_assert_eq(nipc_client_emitf(cl.c, "message", "{s:s, s:s}", "id", "c", "message", "hi"), 0);
    cr_assert(th_run_pred(&loop, messages_reach, (void *)(intptr_t)2, PEER_MS), "%s",
              th_peer_dump(p));
    cr_assert_eq(json_array_size(cl.messages), 2, "%s", th_json_dump(cl.messages));
    th_assert_json(json_array_get(cl.messages, 0), "\"hello world!\"", "first reply");
    th_assert_json(json_array_get(cl.messages, 1), "{\"got\":{\"id\":\"c\",\"message\":\"hi\"}}",
                   "second reply");

    /* What node-ipc decoded is what was sent. (It prints a line before it replies, but the
     * reply may be read first: wait for the line.) */
    cr_assert_not_null(th_peer_wait(p, "message", 1, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(th_peer_line(p, "message", 0)), "\"hello\"", "node got");
    th_assert_json(th_line_data(th_peer_line(p, "message", 1)), "{\"id\":\"c\",\"message\":\"hi\"}",
                   "node got");
    cr_assert_eq(th_peer_count(p, "connect"), 1, "%s", th_peer_dump(p));

    /* After disconnect, the Node server reports the id it learned from data.id. */
    cr_assert_eq(nipc_disconnect(cl.ipc, "world"), 0);
    json_t *gone = th_peer_wait(p, "socket.disconnected", 0, PEER_MS);
    cr_assert_not_null(gone, "%s", th_peer_dump(p));
    th_assert_json(json_object_get(gone, "id"), "\"c\"", "socket.disconnected id");
    cr_assert(th_run_until(&loop, &cl.destroyed, PEER_MS), "no destroy after disconnect");
}
TH_BOTH_VERSIONS(interop, c_client_round_trip)

/* ---- 3. 100 000 events, in order, none lost (W8, W9, W10) ------------------------------ */

typedef struct counter {
    long received;  /* `count` events since the last `count.done` */
    bool in_order;  /* each data.i was `received` */
    long first_bad; /* index of the first out-of-order event, or -1 */
    bool done;
    long final_received;
    bool final_in_order;
    int reply_err;
} counter_t;

static void on_count(const nipc_event_t *ev, void *arg)
{
    counter_t *c = arg;
    const json_t *i = json_object_get(ev->data, "i");
    if (!json_is_integer(i) || json_integer_value(i) != c->received) {
        if (c->in_order)
            c->first_bad = c->received;
        c->in_order = false;
    }
    c->received++;
}

/* Replies {received, inOrder} as node-ipc's server-echo does, then starts over. */
static void on_count_done(const nipc_event_t *ev, void *arg)
{
    counter_t *c = arg;
    c->reply_err = nipc_server_emitf(ev->server, ev->socket, "count.result", "{s:I, s:b}",
                                     "received", (json_int_t)c->received, "inOrder", c->in_order);
    c->final_received = c->received;
    c->final_in_order = c->in_order;
    c->received = 0;
    c->in_order = true;
    c->done = true;
}

static double line_ms(const json_t *line)
{
    return json_number_value(json_object_get(line, "ms"));
}

static void node_flood_to_c_server(const char *ver)
{
    const char *path = th_path(dir, "f.sock");
    server_start(path, NULL);
    counter_t c = {.in_order = true, .first_bad = -1};
    nipc_server_on(srv.server, "count", on_count, &c);
    nipc_server_on(srv.server, "count.done", on_count_done, &c);

    uint64_t t0 = uv_hrtime();
    th_peer_t *p = th_peer_spawn(&loop, ver, "client-flood", path, "--count", "100000", "--timing",
                                 "--timeout", FLOOD_PEER_TIMEOUT, NULL);
    json_t *res = th_peer_wait(p, "count.result", 0, FLOOD_MS);
    double total = ms_since(t0);
    cr_assert_not_null(res, "%s\nC side: %ld received so far", th_peer_dump(p), c.received);

    /* The C side saw every event, in order. */
    cr_assert(c.done);
    cr_assert_eq(c.final_received, FLOOD_N);
    cr_assert(c.final_in_order, "first out of order at %ld", c.first_bad);
    cr_assert_eq(c.reply_err, 0, "%s", nipc_strerror(c.reply_err));
    /* And node-ipc decoded our reply. */
    th_assert_json(json_object_get(res, "received"), "100000", "count.result received");
    th_assert_json(json_object_get(res, "inOrder"), "true", "count.result inOrder");
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));

    fprintf(stderr,
            "# flood v%s node client -> C server, %d events: sent %.0f ms, count.result "
            "%.0f ms after the peer's connect; %.0f ms since spawn\n",
            ver, FLOOD_N, line_ms(th_peer_line(p, "sent", 0)), line_ms(res), total);
}
TH_BOTH_VERSIONS(interop, node_flood_to_c_server)

/* Emits events [from, to) as `count` {i}; returns the first error, or 0. */
static int emit_counts(int from, int to)
{
    for (int i = from; i < to; i++) {
        int err = nipc_client_emitf(cl.c, "count", "{s:i}", "i", i);
        if (err != 0)
            return err;
    }
    return 0;
}

typedef struct batch {
    int next;
    int step;
    int err;
} batch_t;

/* Emits the next `step` events per loop turn, then count.done, then stops. */
static void on_batch(uv_idle_t *h)
{
    batch_t *b = h->data;
    int to = b->next + b->step < FLOOD_N ? b->next + b->step : FLOOD_N;
    if (b->err == 0)
        b->err = emit_counts(b->next, to);
    b->next = to;
    if (b->next < FLOOD_N && b->err == 0)
        return;
    if (b->err == 0)
        b->err = nipc_client_emit_new(cl.c, "count.done", json_object());
    uv_idle_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    batcher_open = false;
}

static bool result_seen(void *arg)
{
    (void)arg;
    return cl.result != NULL || cl.destroyed;
}

/*
 * A C client floods a Node server with FLOOD_N `count` events then `count.done`, either in
 * one burst (the library queues everything) or `step` per loop turn; node-ipc answers with
 * count.result. A legacy receiver holds data back until a read ends on a delimiter (W10),
 * which our sender must survive.
 */
static void c_flood_to_node_server(const char *ver, int step)
{
    const char *path = th_path(dir, "g.sock");
    th_peer_t *p = node_server(ver, path, FLOOD_PEER_TIMEOUT);
    cclient_connect("world", path);

    uint64_t t0 = uv_hrtime();
    batch_t b = {0, step, 0};
    if (step == 0) {
        cr_assert_eq(emit_counts(0, FLOOD_N), 0);
        cr_assert_eq(nipc_client_emit_new(cl.c, "count.done", json_object()), 0);
    } else {
        cr_assert_eq(uv_idle_init(&loop, &batcher), 0);
        batcher_open = true;
        batcher.data = &b;
        cr_assert_eq(uv_idle_start(&batcher, on_batch), 0);
    }
    double queued = ms_since(t0);
    cr_assert(th_run_pred(&loop, result_seen, NULL, FLOOD_MS), "no count.result: %s\n%s",
              th_types(&cl.rec), th_peer_dump(p));
    double total = ms_since(t0);
    cr_assert_eq(b.err, 0, "emit: %s", nipc_strerror(b.err));
    cr_assert_not_null(cl.result, "destroyed before count.result: %s", th_types(&cl.rec));
    th_assert_json(json_object_get(cl.result, "received"), "100000", "count.result received");
    th_assert_json(json_object_get(cl.result, "inOrder"), "true", "count.result inOrder");
    /* The peer prints its line after it replied, so it may come after the reply. */
    json_t *line = th_peer_wait(p, "count.result", 0, PEER_MS);
    cr_assert_not_null(line, "%s", th_peer_dump(p));
    th_assert_json(json_object_get(line, "received"), "100000", "node count.result received");
    th_assert_json(json_object_get(line, "inOrder"), "true", "node count.result inOrder");

    if (step == 0)
        fprintf(stderr,
                "# flood v%s C client -> node server, %d events in one burst: emit loop %.0f ms, "
                "count.result after %.0f ms\n",
                ver, FLOOD_N, queued, total);
    else
        fprintf(stderr,
                "# flood v%s C client -> node server, %d events, %d per loop turn: "
                "count.result after %.0f ms\n",
                ver, FLOOD_N, step, total);
}

static void c_flood_burst_to_node_server(const char *ver)
{
    c_flood_to_node_server(ver, 0);
}
TH_BOTH_VERSIONS(interop, c_flood_burst_to_node_server)

static void c_flood_batched_to_node_server(const char *ver)
{
    c_flood_to_node_server(ver, 2000);
}
TH_BOTH_VERSIONS(interop, c_flood_batched_to_node_server)

/* ---- 4. broadcast to several Node clients (§8.4 item 7; S14, S9, S10) ------------------- */

static void broadcast_to_node_clients(const char *ver)
{
    const char *path = th_path(dir, "b.sock");
    server_start(path, NULL);
    static const char *ids[3] = {"p0", "p1", "p2"};
    th_peer_t *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = th_peer_spawn(&loop, ver, "client-recv", path, "--count", "5", "--id", ids[i], NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "connect", 3, PEER_MS), "%s\n%s\n%s\n%s",
              th_types(&srv.rec), th_peer_dump(p[0]), th_peer_dump(p[1]), th_peer_dump(p[2]));
    cr_assert_eq(nipc_server_socket_count(srv.server), 3);

    for (int k = 0; k < 5; k++)
        cr_assert_eq(nipc_server_broadcastf(srv.server, "news", "{s:i}", "i", k), 0);

    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(th_peer_wait(p[i], "done", 0, PEER_MS), "%s", th_peer_dump(p[i]));
        cr_assert_eq(th_peer_count(p[i], "news"), 5, "%s", th_peer_dump(p[i]));
        for (int k = 0; k < 5; k++) {
            char want[32];
            snprintf(want, sizeof want, "{\"i\":%d}", k);
            th_assert_json(th_line_data(th_peer_line(p[i], "news", k)), want, ids[i]);
        }
        cr_assert_eq(th_peer_wait_exit(p[i], PEER_MS), 0, "%s", th_peer_dump(p[i]));
    }

    /* Each peer said hello {id}; the server names each one as it leaves. */
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 3, PEER_MS), "%s",
              th_types(&srv.rec));
    bool seen[3] = {false, false, false};
    for (int k = 0; k < 3; k++) {
        const char *d = srv.rec.data[th_find(&srv.rec, "socket.disconnected", k)];
        for (int i = 0; i < 3; i++) {
            char want[16];
            snprintf(want, sizeof want, "\"%s\"", ids[i]);
            seen[i] |= strcmp(d, want) == 0;
        }
    }
    cr_assert(seen[0] && seen[1] && seen[2], "%s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "connect"), 3, "%s", th_types(&srv.rec));
}
TH_BOTH_VERSIONS(interop, broadcast_to_node_clients)

/* ---- 5. the learned id in socket.disconnected (S9, S10) --------------------------------- */

static char id_while_connected[64];

static void note_id(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    const char *id = nipc_socket_id(ev->socket);
    snprintf(id_while_connected, sizeof id_while_connected, "%s", id ? id : "(null)");
}

static void learned_id_of_node_client(const char *ver)
{
    const char *path = th_path(dir, "i.sock");
    server_start(path, NULL);
    nipc_server_on(srv.server, "message", note_id, NULL);

    th_peer_t *p = th_peer_spawn(&loop, ver, "client-id-bye", path, "--id", "alice", NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 1, PEER_MS), "%s\n%s",
              th_types(&srv.rec), th_peer_dump(p));
    int m = th_find(&srv.rec, "message", 0);
    cr_assert_geq(m, 0, "%s", th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[m], "{\"id\":\"alice\",\"message\":\"bye\"}");
    cr_assert_str_eq(id_while_connected, "alice");
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert_str_eq(srv.rec.data[d], "\"alice\"");
    cr_assert_eq(srv.rec.socket[d], srv.rec.socket[m]);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    cr_assert_not_null(th_peer_line(p, "done", 0), "%s", th_peer_dump(p));
}
TH_BOTH_VERSIONS(interop, learned_id_of_node_client)

/* ---- 6. maxConnections 1 with two Node clients (§8.4 item 4; S6) ------------------------ */

static void max_connections_one(const char *ver)
{
    const char *path = th_path(dir, "m.sock");
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 1;
    server_start(path, &cfg);

    th_peer_t *a = th_peer_spawn(&loop, ver, "client-recv", path, "--id", "first", NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "hello", 1, PEER_MS), "%s\n%s", th_types(&srv.rec),
              th_peer_dump(a));
    int h = th_find(&srv.rec, "hello", 0);
    cr_assert_str_eq(srv.rec.data[h], "{\"id\":\"first\"}");
    nipc_socket_t *first = srv.rec.socket[h];

    /* The second is accepted by the kernel, then closed without a connect event. */
    th_peer_t *b = th_peer_spawn(&loop, ver, "client-recv", path, "--id", "second", NULL);
    cr_assert_not_null(th_peer_wait(b, "destroy", 0, PEER_MS), "%s", th_peer_dump(b));
    cr_assert_not_null(th_peer_line(b, "disconnect", 0), "%s", th_peer_dump(b));
    cr_assert_eq(th_peer_count(b, "news"), 0, "%s", th_peer_dump(b));
    /* Exit 0: it had connected (README: the maxConnections case). */
    cr_assert_eq(th_peer_wait_exit(b, PEER_MS), 0, "%s", th_peer_dump(b));
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "hello"), 1, "%s", th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 1);
    cr_assert_eq(nipc_server_socket_at(srv.server, 0), first);

    /* The first still works. */
    cr_assert_eq(nipc_server_emitf(srv.server, first, "news", "{s:i}", "i", 7), 0);
    cr_assert_not_null(th_peer_wait(a, "done", 0, PEER_MS), "%s", th_peer_dump(a));
    th_assert_json(th_line_data(th_peer_line(a, "news", 0)), "{\"i\":7}", "news to the first");
    cr_assert_eq(th_peer_wait_exit(a, PEER_MS), 0, "%s", th_peer_dump(a));
}
TH_BOTH_VERSIONS(interop, max_connections_one)

/* ---- 7. non-ASCII text and escapes, C -> Node -> C (W5, W17) ----------------------------- */

/* compat §1.2: JSON.stringify gives 22 68 c3 a9 6c 6c 6f 20 e2 82 ac f0 9f 98 80 5c 66 5c 6e
 * 5c 22 22 for this string. */
#define ODD_TEXT "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80\f\n\""

static void unicode_round_trip(const char *ver)
{
    const char *path = th_path(dir, "u.sock");
    th_peer_t *p = node_server(ver, path, "20000");
    cclient_connect("world", path);

    json_t *text = keep(json_string(ODD_TEXT));
    json_t *obj = keep(json_pack("{s:O}", "s", text));
    cr_assert_eq(nipc_client_emit(cl.c, "message", obj), 0);
    cr_assert_eq(nipc_client_emit(cl.c, "message", text), 0);
    cr_assert(th_run_pred(&loop, messages_reach, (void *)(intptr_t)2, PEER_MS), "%s",
              th_peer_dump(p));

    /* node-ipc decoded exactly what we sent... */
    cr_assert_not_null(th_peer_wait(p, "message", 1, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    cr_assert(json_equal(th_line_data(th_peer_line(p, "message", 0)), obj), "%s", th_peer_dump(p));
    cr_assert(json_equal(th_line_data(th_peer_line(p, "message", 1)), text), "%s", th_peer_dump(p));

    /* ...and what it sent back decodes to the same text. */
    json_t *want0 = keep(json_pack("{s:O}", "got", obj));
    json_t *want1 = keep(world(text));
    cr_assert(json_equal(json_array_get(cl.messages, 0), want0), "got %s, want %s",
              th_json_dump(json_array_get(cl.messages, 0)), th_json_dump(want0));
    cr_assert(json_equal(json_array_get(cl.messages, 1), want1), "got %s, want %s",
              th_json_dump(json_array_get(cl.messages, 1)), th_json_dump(want1));
}
TH_BOTH_VERSIONS(interop, unicode_round_trip)
