/* SPDX-License-Identifier: MIT */
/*
 * nipc against the real node-ipc over every stream transport of the suite (a Unix socket,
 * TCP on 127.0.0.1, TCP on ::1 and TLS on 127.0.0.1: TH_NIPC_TRANSPORT_LIST in
 * ../support/transport.h, through th_transport_params() in ../support/peer.h), with
 * @achrinza/node-ipc 10.1.11 and 9.2.9 run as test/interop/node/peer.js child processes
 * (../support/peer.h), each told the transport by name. Every scenario of the suite `stream`
 * runs once per version (tests named _v10 and _v9) and per transport (Criterion parameters;
 * the messages name the transport, as Criterion reports every run under the same name). A
 * network listener, C or Node, always asks for port 0.
 *
 *  - a Node client round trip to a C server, and a C client to a Node server, with object
 *    and string data (compat §8.4 items 1 and 6; W1, S2, S7, S8, S9, S10, S13, C1, C2, C4,
 *    C5, C12), with the peer's address as nipc_socket_address/port/family report it;
 *  - 100 000 events in order and none lost, Node to C and C to Node, the latter in one burst
 *    (one write of the whole queue) and in batches per loop turn (W8, W9; W10 on the Node
 *    side: a legacy receiver holds data back until a read ends on a delimiter); C to Node
 *    over a Unix socket and TCP on 127.0.0.1 only, whose seconds would be node-ipc's
 *    (flood_params());
 *  - broadcast to three Node clients (§8.4 item 7; S14);
 *  - the id learned from data.id, on both sides (S9, S10);
 *  - maxConnections 1 with two Node clients (§8.4 item 4; S6);
 *  - non-ASCII text and escapes, C to Node to C unchanged (W5, W17);
 *  - a 1 MiB string handed over (nipc_client_emit_new, written from where it is), C to Node
 *    to C unchanged.
 *
 * The suite `tcp` holds what is node-ipc's own TCP test suite, run over 127.0.0.1 only, as
 * node-ipc runs it:
 *
 *  - node-ipc's TCP test endpoints answered by C (§8.1, §8.2): the `tcpServer` helper
 *    checked by node-ipc's client test, and the `tcpClient` helper seen by a Node server;
 *  - node-ipc's client retry test done by a C client (§8.4 item 3; C6, C8, C9, C10): retry
 *    60, maxRetries 3, nobody listening => 4 errors and one destroy; stopRetrying => 1 error.
 *    The same scenario is run by a Node client of each version, and its event sequence is
 *    the reference the C client's is compared with.
 */
#include "../support/peer.h"

/* ---- fixture --------------------------------------------------------------------------- */

#define FLOOD_N 100000
/* Bounds, never measurements: Node needs ~0.3 s to start, a flood a few seconds. */
#define PEER_MS 15000
#define FLOOD_MS 60000
#define FLOOD_PEER_TIMEOUT "80000"

static uv_loop_t loop;
static char dir[64]; /* the Unix sockets' directory */

/* Sockets the teardown closes, so a failed test still ends clean (instances and JSON
 * values: th_track() and th_keep()). */
static uv_idle_t batcher;
static bool batcher_open;
static int refusing_fd = -1;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_peer_close_all();
    if (batcher_open)
        uv_close((uv_handle_t *)&batcher, NULL);
    th_kept_free();
    if (refusing_fd >= 0)
        close(refusing_fd);
    refusing_fd = -1;
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(stream, .init = setup, .fini = teardown, .timeout = 90);
TestSuite(tcp, .init = setup, .fini = teardown, .timeout = 90);

/* The transport of the suite `tcp`: node-ipc's TCP tests use 127.0.0.1. */
static const th_transport_t TCP4 = {"tcp4", TH_TCP4};

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

/* "NAME: what", a message naming the transport, in one of four rotating static buffers. */
static const char *on(const th_transport_t *t, const char *what)
{
    static char bufs[4][64];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, sizeof bufs[0], "%s: %s", t->name, what);
    return b;
}

static double ms_since(uint64_t t0)
{
    return (double)(uv_hrtime() - t0) / 1e6;
}

static th_server_t srv; /* static: its recorder is large */

/*
 * Starts the C server over `t` (cfg NULL: th_config's defaults) and waits for `start`: on the
 * socket dir/name, or on the transport's loopback address with port 0.
 */
static void server_start(const th_transport_t *t, const char *name, const nipc_config_t *cfg)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        cfg = &def;
    }
    th_server_start_on(&srv, &loop, cfg, t, dir, name);
    th_track(srv.ipc);
    if (t->kind == TH_UNIX) {
        cr_assert_str_eq(nipc_server_path(srv.server), th_path(dir, name), "%s: got %s", t->name,
                         nipc_server_path(srv.server));
        return;
    }
    int port = nipc_server_port(srv.server);
    cr_assert(port > 0 && port <= 65535, "%s: port %d", t->name, port);
    cr_assert_str_eq(nipc_server_host(srv.server), th_loopback(t), "%s: got %s", t->name,
                     nipc_server_host(srv.server));
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
        c->result = th_keep(ev->data ? json_incref(ev->data) : json_null());
}

/*
 * Creates the C client (config id `my_id`, or the default) and starts connecting to a Node
 * server of `t` at the socket dir/name or loopback:port, see node_server().
 */
static void cclient_start(const th_transport_t *t, const char *my_id, const char *server_id,
                          const char *name, int port)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    if (my_id != NULL)
        cfg.id = my_id;
    memset(&cl, 0, sizeof cl);
    cl.messages = th_keep(json_array());
    cr_assert_eq(nipc_new(&cl.ipc, &loop, &cfg), 0, "%s", t->name);
    th_track(cl.ipc);
    int err = th_connect_raw(cl.ipc, t, server_id, dir, name, port, &cl.c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    nipc_client_on(cl.c, NIPC_EVENT_ANY, th_record, &cl.rec);
    nipc_client_on(cl.c, "connect", th_flag, &cl.connected);
    nipc_client_on(cl.c, "destroy", th_flag, &cl.destroyed);
    nipc_client_on(cl.c, "message", cclient_message, &cl);
    nipc_client_on(cl.c, "count.result", cclient_result, &cl);
}

static void cclient_connect(const th_transport_t *t, const char *server_id, const char *name,
                            int port)
{
    cclient_start(t, NULL, server_id, name, port);
    cr_assert(th_run_until(&loop, &cl.connected, PEER_MS), "%s: the C client did not connect: %s",
              t->name, th_types(&cl.rec));
}

static bool messages_reach(void *arg)
{
    return json_array_size(cl.messages) >= (size_t)(intptr_t)arg;
}

/*
 * Starts a Node server-echo over `t`, on the socket dir/name or loopback port 0, and waits
 * until it listens; sets *port to the port it got (0 on a Unix socket).
 */
static th_peer_t *node_server(const th_transport_t *t, const char *ver, const char *name,
                              const char *timeout, int *port)
{
    th_peer_t *p =
        th_peer_spawn_on(&loop, t, ver, "server-echo", th_peer_at(t, th_path(dir, name), 0),
                         "--timeout", timeout, NULL);
    *port = th_peer_listening(p, t, PEER_MS);
    return p;
}

/* What a C server learns of a peer at connect: nipc_socket_address/port/family/size. */
typedef struct remote {
    int n;
    char address[64];
    int port;
    char family[8];
    size_t size;
} remote_t;

static void note_remote(const nipc_event_t *ev, void *arg)
{
    remote_t *r = arg;
    if (r->n++ > 0)
        return;
    const char *a = nipc_socket_address(ev->socket);
    const char *f = nipc_socket_family(ev->socket);
    snprintf(r->address, sizeof r->address, "%s", a ? a : "(null)");
    snprintf(r->family, sizeof r->family, "%s", f ? f : "(null)");
    r->port = nipc_socket_port(ev->socket);
    r->size = nipc_socket_size(ev->socket);
}

/*
 * The peer's end, as node-ipc's socket.remoteAddress / remotePort / remoteFamily: over a
 * network transport its loopback address, family and a port of its own; a Unix socket has
 * none of them.
 */
static void assert_remote(const th_transport_t *t, const remote_t *r)
{
    cr_assert_eq(r->n, 1, "%s: %d connects", t->name, r->n);
    cr_assert_eq(r->size, 0, "%s: a stream socket has no datagram size", t->name);
    if (t->kind == TH_UNIX) {
        cr_assert_str_eq(r->address, "(null)", "%s: got %s", t->name, r->address);
        cr_assert_str_eq(r->family, "(null)", "%s: got %s", t->name, r->family);
        cr_assert_eq(r->port, 0, "%s: remote port %d", t->name, r->port);
        return;
    }
    const char *host = th_loopback(t);
    cr_assert_str_eq(r->address, host, "%s: got %s", t->name, r->address);
    cr_assert_str_eq(r->family, strchr(host, ':') != NULL ? "IPv6" : "IPv4", "%s: got %s", t->name,
                     r->family);
    int port = nipc_server_port(srv.server);
    cr_assert(r->port > 0 && r->port <= 65535 && r->port != port, "%s: remote port %d", t->name,
              r->port);
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

static void node_client_round_trip(const th_transport_t *t, const char *ver)
{
    server_start(t, "c.sock", NULL);
    json_t *sent = th_keep(json_array());
    remote_t r = {0};
    nipc_server_on(srv.server, "message", answer, sent);
    nipc_server_on(srv.server, "connect", note_remote, &r);

    th_peer_t *p =
        th_peer_spawn_on(&loop, t, ver, "client-echo", th_peer_at_server(t, srv.server), NULL);
    cr_assert_not_null(th_peer_wait(p, "done", 0, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));

    /* The C server got both frames, with their data, from one socket. */
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "message"), 2, "%s: %s", t->name, th_types(&srv.rec));
    int c = th_find(&srv.rec, "connect", 0);
    int m0 = th_find(&srv.rec, "message", 0);
    int m1 = th_find(&srv.rec, "message", 1);
    cr_assert_str_eq(srv.rec.data[m0], "{\"id\":\"node\",\"message\":\"hi\"}", "%s: got %s",
                     t->name, srv.rec.data[m0]);
    cr_assert_str_eq(srv.rec.data[m1], "\"hello\"", "%s: got %s", t->name, srv.rec.data[m1]);
    cr_assert_eq(srv.rec.socket[m0], srv.rec.socket[c], "%s", t->name);
    cr_assert_eq(srv.rec.socket[m1], srv.rec.socket[c], "%s", t->name);

    assert_remote(t, &r);

    /* The peer printed exactly what the C server sent, in order. */
    cr_assert_eq(json_array_size(sent), 2, "%s: sent %s", t->name, th_json_dump(sent));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    for (size_t k = 0; k < 2; k++) {
        const json_t *got = th_line_data(th_peer_line(p, "message", (int)k));
        cr_assert(json_equal(got, json_array_get(sent, k)), "%s: reply %zu: node got %s, C sent %s",
                  t->name, k, th_json_dump(got), th_json_dump(json_array_get(sent, k)));
    }
    th_assert_json(th_line_data(th_peer_line(p, "message", 0)),
                   "{\"got\":{\"id\":\"node\",\"message\":\"hi\"}}", on(t, "first reply"));
    th_assert_json(th_line_data(th_peer_line(p, "message", 1)), "\"hello world!\"",
                   on(t, "second reply"));

    /* The peer left: the C server names it by the id it learned (S10). */
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 1, PEER_MS), "%s: %s", t->name,
              th_types(&srv.rec));
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert_str_eq(srv.rec.data[d], "\"node\"", "%s: got %s", t->name, srv.rec.data[d]);
    cr_assert_eq(nipc_server_socket_count(srv.server), 0, "%s: %zu sockets", t->name,
                 nipc_server_socket_count(srv.server));
}
TH_STREAM_BOTH_VERSIONS(stream, node_client_round_trip)

/* ---- 2. C client -> Node server (§8.4 item 1; C1, C2, C4, C5, C12, S9 on the Node side) - */

static void c_client_round_trip(const th_transport_t *t, const char *ver)
{
    int port;
    th_peer_t *p = node_server(t, ver, "n.sock", "20000", &port);
    cclient_connect(t, "world", "n.sock", port);
    cr_assert(nipc_client_connected(cl.c), "%s: not connected", t->name);

    cr_assert_eq(nipc_client_emit_new(cl.c, "message", json_string("hello")), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emitf(cl.c, "message", "{s:s, s:s}", "id", "c", "message", "hi"), 0,
                 "%s", t->name);
    cr_assert(th_run_pred(&loop, messages_reach, (void *)(intptr_t)2, PEER_MS), "%s\n%s",
              th_types(&cl.rec), th_peer_dump(p));
    cr_assert_eq(json_array_size(cl.messages), 2, "%s: %s", t->name, th_json_dump(cl.messages));
    th_assert_json(json_array_get(cl.messages, 0), "\"hello world!\"", on(t, "first reply"));
    th_assert_json(json_array_get(cl.messages, 1), "{\"got\":{\"id\":\"c\",\"message\":\"hi\"}}",
                   on(t, "second reply"));

    /* What node-ipc decoded is what was sent. (It prints a line before it replies, but the
     * reply may be read first: wait for the line.) */
    cr_assert_not_null(th_peer_wait(p, "message", 1, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(th_peer_line(p, "message", 0)), "\"hello\"", on(t, "node got"));
    th_assert_json(th_line_data(th_peer_line(p, "message", 1)), "{\"id\":\"c\",\"message\":\"hi\"}",
                   on(t, "node got"));
    cr_assert_eq(th_peer_count(p, "connect"), 1, "%s", th_peer_dump(p));

    /* After disconnect, the Node server reports the id it learned from data.id. */
    cr_assert_eq(nipc_disconnect(cl.ipc, "world"), 0, "%s", t->name);
    json_t *gone = th_peer_wait(p, "socket.disconnected", 0, PEER_MS);
    cr_assert_not_null(gone, "%s", th_peer_dump(p));
    th_assert_json(json_object_get(gone, "id"), "\"c\"", on(t, "socket.disconnected id"));
    cr_assert(th_run_until(&loop, &cl.destroyed, PEER_MS), "%s: no destroy after disconnect: %s",
              t->name, th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "error"), 0, "%s: %s", t->name, th_types(&cl.rec));
}
TH_STREAM_BOTH_VERSIONS(stream, c_client_round_trip)

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

static void node_flood_to_c_server(const th_transport_t *t, const char *ver)
{
    server_start(t, "f.sock", NULL);
    counter_t c = {.in_order = true, .first_bad = -1};
    nipc_server_on(srv.server, "count", on_count, &c);
    nipc_server_on(srv.server, "count.done", on_count_done, &c);

    uint64_t t0 = uv_hrtime();
    th_peer_t *p =
        th_peer_spawn_on(&loop, t, ver, "client-flood", th_peer_at_server(t, srv.server), "--count",
                         "100000", "--timing", "--timeout", FLOOD_PEER_TIMEOUT, NULL);
    json_t *res = th_peer_wait(p, "count.result", 0, FLOOD_MS);
    double total = ms_since(t0);
    cr_assert_not_null(res, "%s\nC side: %ld received so far", th_peer_dump(p), c.received);

    /* The C side saw every event, in order. */
    cr_assert(c.done, "%s: no count.done", t->name);
    cr_assert_eq(c.final_received, FLOOD_N, "%s: %ld received", t->name, c.final_received);
    cr_assert(c.final_in_order, "%s: first out of order at %ld", t->name, c.first_bad);
    cr_assert_eq(c.reply_err, 0, "%s: %s", t->name, nipc_strerror(c.reply_err));
    /* And node-ipc decoded our reply. */
    th_assert_json(json_object_get(res, "received"), "100000", on(t, "count.result received"));
    th_assert_json(json_object_get(res, "inOrder"), "true", on(t, "count.result inOrder"));
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));

    fprintf(stderr,
            "# flood %s v%s node client -> C server, %d events: sent %.0f ms, count.result "
            "%.0f ms after the peer's connect; %.0f ms since spawn\n",
            t->name, ver, FLOOD_N, line_ms(th_peer_line(p, "sent", 0)), line_ms(res), total);
}
TH_STREAM_BOTH_VERSIONS(stream, node_flood_to_c_server)

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
 * The transports of the C-to-Node floods: TH_TRANSPORT_LIST (no TLS) but tcp6. Their
 * seconds are node-ipc's, not nipc's: a read that does not end on a delimiter is held back
 * (W10), so a burst is mostly parsed as one array of up to FLOOD_N frames, which node-ipc
 * empties with shift(), quadratic in V8 for an array that large (~3.5 s a run, against
 * ~0.8 s when the reads happen to end on delimiters). IPv6 changes nothing in the bytes nipc
 * writes, so they run over TCP once, on 127.0.0.1; every other scenario runs over ::1 too.
 */
static struct criterion_test_params flood_params(void)
{
    static th_transport_t all[] = TH_TRANSPORT_LIST;
    static th_transport_t some[TH_TRANSPORT_COUNT];
    size_t n = 0;
    for (size_t i = 0; i < TH_TRANSPORT_COUNT; i++)
        if (all[i].kind != TH_TCP6)
            some[n++] = all[i];
    return cr_make_param_array(th_transport_t, some, n);
}

/*
 * A C client floods a Node server with FLOOD_N `count` events then `count.done`, either in
 * one burst (the library queues everything) or `step` per loop turn; node-ipc answers with
 * count.result. A legacy receiver holds data back until a read ends on a delimiter (W10),
 * which our sender must survive.
 */
static void c_flood_to_node_server(const th_transport_t *t, const char *ver, int step)
{
    int port;
    th_peer_t *p = node_server(t, ver, "g.sock", FLOOD_PEER_TIMEOUT, &port);
    cclient_connect(t, "world", "g.sock", port);

    uint64_t t0 = uv_hrtime();
    batch_t b = {0, step, 0};
    if (step == 0) {
        cr_assert_eq(emit_counts(0, FLOOD_N), 0, "%s", t->name);
        cr_assert_eq(nipc_client_emit_new(cl.c, "count.done", json_object()), 0, "%s", t->name);
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
    cr_assert_eq(b.err, 0, "%s: emit: %s", t->name, nipc_strerror(b.err));
    cr_assert_not_null(cl.result, "%s: destroyed before count.result: %s", t->name,
                       th_types(&cl.rec));
    th_assert_json(json_object_get(cl.result, "received"), "100000",
                   on(t, "count.result received"));
    th_assert_json(json_object_get(cl.result, "inOrder"), "true", on(t, "count.result inOrder"));
    /* The peer prints its line after it replied, so it may come after the reply. */
    json_t *line = th_peer_wait(p, "count.result", 0, PEER_MS);
    cr_assert_not_null(line, "%s", th_peer_dump(p));
    th_assert_json(json_object_get(line, "received"), "100000",
                   on(t, "node count.result received"));
    th_assert_json(json_object_get(line, "inOrder"), "true", on(t, "node count.result inOrder"));

    if (step == 0)
        fprintf(stderr,
                "# flood %s v%s C client -> node server, %d events in one burst: emit loop "
                "%.0f ms, count.result after %.0f ms\n",
                t->name, ver, FLOOD_N, queued, total);
    else
        fprintf(stderr,
                "# flood %s v%s C client -> node server, %d events, %d per loop turn: "
                "count.result after %.0f ms\n",
                t->name, ver, FLOOD_N, step, total);
}

static void c_flood_burst_to_node_server(const th_transport_t *t, const char *ver)
{
    c_flood_to_node_server(t, ver, 0);
}
TH_STREAM_BOTH_VERSIONS_OVER(stream, c_flood_burst_to_node_server, flood_params)

static void c_flood_batched_to_node_server(const th_transport_t *t, const char *ver)
{
    c_flood_to_node_server(t, ver, 2000);
}
TH_STREAM_BOTH_VERSIONS_OVER(stream, c_flood_batched_to_node_server, flood_params)

/* ---- 4. broadcast to several Node clients (§8.4 item 7; S14, S9, S10) ------------------- */

static void broadcast_to_node_clients(const th_transport_t *t, const char *ver)
{
    server_start(t, "b.sock", NULL);
    const char *at = th_peer_at_server(t, srv.server);
    static const char *ids[3] = {"p0", "p1", "p2"};
    th_peer_t *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = th_peer_spawn_on(&loop, t, ver, "client-recv", at, "--count", "5", "--id", ids[i],
                                NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "connect", 3, PEER_MS), "%s\n%s\n%s\n%s",
              th_types(&srv.rec), th_peer_dump(p[0]), th_peer_dump(p[1]), th_peer_dump(p[2]));
    /* Each says hello {id} on connect: once all three did, all three are known by id. */
    cr_assert(th_rec_wait(&loop, &srv.rec, "hello", 3, PEER_MS), "%s\n%s\n%s\n%s",
              th_types(&srv.rec), th_peer_dump(p[0]), th_peer_dump(p[1]), th_peer_dump(p[2]));
    cr_assert_eq(nipc_server_socket_count(srv.server), 3, "%s: %zu sockets", t->name,
                 nipc_server_socket_count(srv.server));

    for (int k = 0; k < 5; k++)
        cr_assert_eq(nipc_server_broadcastf(srv.server, "news", "{s:i}", "i", k), 0, "%s", t->name);

    for (int i = 0; i < 3; i++) {
        cr_assert_not_null(th_peer_wait(p[i], "done", 0, PEER_MS), "%s", th_peer_dump(p[i]));
        cr_assert_eq(th_peer_count(p[i], "news"), 5, "%s", th_peer_dump(p[i]));
        for (int k = 0; k < 5; k++) {
            char want[32];
            snprintf(want, sizeof want, "{\"i\":%d}", k);
            th_assert_json(th_line_data(th_peer_line(p[i], "news", k)), want, on(t, ids[i]));
        }
        cr_assert_eq(th_peer_wait_exit(p[i], PEER_MS), 0, "%s", th_peer_dump(p[i]));
    }

    /* The server names each one as it leaves. */
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 3, PEER_MS), "%s: %s", t->name,
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
    cr_assert(seen[0] && seen[1] && seen[2], "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "connect"), 3, "%s: %s", t->name, th_types(&srv.rec));
}
TH_STREAM_BOTH_VERSIONS(stream, broadcast_to_node_clients)

/* ---- 5. the learned id in socket.disconnected (S9, S10) --------------------------------- */

static char id_while_connected[64];

static void note_id(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    const char *id = nipc_socket_id(ev->socket);
    snprintf(id_while_connected, sizeof id_while_connected, "%s", id ? id : "(null)");
}

static void learned_id_of_node_client(const th_transport_t *t, const char *ver)
{
    server_start(t, "i.sock", NULL);
    nipc_server_on(srv.server, "message", note_id, NULL);

    th_peer_t *p = th_peer_spawn_on(&loop, t, ver, "client-id-bye",
                                    th_peer_at_server(t, srv.server), "--id", "alice", NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "socket.disconnected", 1, PEER_MS), "%s\n%s",
              th_types(&srv.rec), th_peer_dump(p));
    int m = th_find(&srv.rec, "message", 0);
    cr_assert_geq(m, 0, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[m], "{\"id\":\"alice\",\"message\":\"bye\"}", "%s: got %s",
                     t->name, srv.rec.data[m]);
    cr_assert_str_eq(id_while_connected, "alice", "%s: got %s", t->name, id_while_connected);
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert_str_eq(srv.rec.data[d], "\"alice\"", "%s: got %s", t->name, srv.rec.data[d]);
    cr_assert_eq(srv.rec.socket[d], srv.rec.socket[m], "%s", t->name);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    cr_assert_not_null(th_peer_line(p, "done", 0), "%s", th_peer_dump(p));
}
TH_STREAM_BOTH_VERSIONS(stream, learned_id_of_node_client)

/* ---- 6. maxConnections 1 with two Node clients (§8.4 item 4; S6) ------------------------ */

static void max_connections_one(const th_transport_t *t, const char *ver)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = 1;
    server_start(t, "m.sock", &cfg);
    const char *at = th_peer_at_server(t, srv.server);

    th_peer_t *a = th_peer_spawn_on(&loop, t, ver, "client-recv", at, "--id", "first", NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "hello", 1, PEER_MS), "%s\n%s", th_types(&srv.rec),
              th_peer_dump(a));
    int h = th_find(&srv.rec, "hello", 0);
    cr_assert_str_eq(srv.rec.data[h], "{\"id\":\"first\"}", "%s: got %s", t->name, srv.rec.data[h]);
    nipc_socket_t *first = srv.rec.socket[h];

    /* The second is accepted by the kernel, then closed without a connect event. */
    th_peer_t *b = th_peer_spawn_on(&loop, t, ver, "client-recv", at, "--id", "second", NULL);
    cr_assert_not_null(th_peer_wait(b, "destroy", 0, PEER_MS), "%s", th_peer_dump(b));
    cr_assert_not_null(th_peer_line(b, "disconnect", 0), "%s", th_peer_dump(b));
    cr_assert_eq(th_peer_count(b, "news"), 0, "%s", th_peer_dump(b));
    /* Exit 0: it had connected (README: the maxConnections case). */
    cr_assert_eq(th_peer_wait_exit(b, PEER_MS), 0, "%s", th_peer_dump(b));
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "hello"), 1, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s: %zu sockets", t->name,
                 nipc_server_socket_count(srv.server));
    cr_assert_eq(nipc_server_socket_at(srv.server, 0), first, "%s", t->name);

    /* The first still works. */
    cr_assert_eq(nipc_server_emitf(srv.server, first, "news", "{s:i}", "i", 7), 0, "%s", t->name);
    cr_assert_not_null(th_peer_wait(a, "done", 0, PEER_MS), "%s", th_peer_dump(a));
    th_assert_json(th_line_data(th_peer_line(a, "news", 0)), "{\"i\":7}",
                   on(t, "news to the first"));
    cr_assert_eq(th_peer_wait_exit(a, PEER_MS), 0, "%s", th_peer_dump(a));
}
TH_STREAM_BOTH_VERSIONS(stream, max_connections_one)

/* ---- 7. non-ASCII text and escapes, C -> Node -> C (W5, W17) ----------------------------- */

/* compat §1.2: JSON.stringify gives 22 68 c3 a9 6c 6c 6f 20 e2 82 ac f0 9f 98 80 5c 66 5c 6e
 * 5c 22 22 for this string. */
#define ODD_TEXT "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80\f\n\""

/* `text` in an object and alone, C -> Node -> C; with `handed_over`, by the `_new` emits. */
static void text_round_trip(const th_transport_t *t, const char *ver, json_t *text,
                            bool handed_over)
{
    int port;
    th_peer_t *p = node_server(t, ver, "u.sock", "20000", &port);
    cclient_connect(t, "world", "u.sock", port);

    json_t *obj = th_keep(json_pack("{s:O}", "s", text));
    int (*emit)(nipc_client_t *, const char *, json_t *) =
        handed_over ? nipc_client_emit_new : nipc_client_emit;
    cr_assert_eq(emit(cl.c, "message", handed_over ? json_incref(obj) : obj), 0, "%s", t->name);
    cr_assert_eq(emit(cl.c, "message", handed_over ? json_incref(text) : text), 0, "%s", t->name);
    cr_assert(th_run_pred(&loop, messages_reach, (void *)(intptr_t)2, PEER_MS), "%s",
              th_peer_dump(p));

    /* node-ipc decoded exactly what we sent... */
    cr_assert_not_null(th_peer_wait(p, "message", 1, PEER_MS), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "message"), 2, "%s", th_peer_dump(p));
    cr_assert(json_equal(th_line_data(th_peer_line(p, "message", 0)), obj), "%s", th_peer_dump(p));
    cr_assert(json_equal(th_line_data(th_peer_line(p, "message", 1)), text), "%s", th_peer_dump(p));

    /* ...and what it sent back decodes to the same text. */
    json_t *want0 = th_keep(json_pack("{s:O}", "got", obj));
    json_t *want1 = th_keep(world(text));
    cr_assert(json_equal(json_array_get(cl.messages, 0), want0), "%s: got %s, want %s", t->name,
              th_json_dump(json_array_get(cl.messages, 0)), th_json_dump(want0));
    cr_assert(json_equal(json_array_get(cl.messages, 1), want1), "%s: got %s, want %s", t->name,
              th_json_dump(json_array_get(cl.messages, 1)), th_json_dump(want1));
}

static void unicode_round_trip(const th_transport_t *t, const char *ver)
{
    text_round_trip(t, ver, th_keep(json_string(ODD_TEXT)), false);
}
TH_STREAM_BOTH_VERSIONS(stream, unicode_round_trip)

/* ---- 8. a large string handed over, C -> Node -> C ------------------------------------- */

/*
 * 1 MiB of text with nothing to escape, non-ASCII included, by nipc_client_emit_new(): nipc
 * writes it from where it is (nipc.h), and node-ipc decodes exactly the string, as its answers
 * show.
 */
static void large_string_round_trip(const th_transport_t *t, const char *ver)
{
    size_t n = (size_t)1 << 20;
    char *b = malloc(n);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + i % 26);
    memcpy(b + n / 2, "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80", 14);
    json_t *text = th_keep(json_stringn(b, n));
    free(b);
    cr_assert_not_null(text);
    text_round_trip(t, ver, text, true);
}
TH_STREAM_BOTH_VERSIONS(stream, large_string_round_trip)

/* ---- TCP only: node-ipc's own TCP test endpoints, answered by C (§8.1, §8.2, §8.4 item 6) */

/*
 * node-ipc's test/TCP/TCPServer.js helper: server id `tcpServer`, answering every `message`
 * with {id: 'tcpServer', message: 'I am TCP server!'}. The endpoint's behaviour is node-ipc's;
 * only the port is the test suite's (node-ipc's helpers listen on 8300, here port 0).
 */
static void tcp_server_reply(const nipc_event_t *ev, void *arg)
{
    int *err = arg;
    *err = nipc_server_emitf(ev->server, ev->socket, "message", "{s:s, s:s}", "id",
                             nipc_config(srv.ipc)->id, "message", "I am TCP server!");
}

/* node-ipc's test/TCP/client.js, third case (v9: spec/TCP/tcpSocketClient.spec.js), run by
 * the peer's tcp-test-client against a C `tcpServer`; it says END afterwards, as node-ipc's
 * test does. */
static void node_tcp_test_client(const char *ver)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.id = "tcpServer";
    server_start(&TCP4, "t.sock", &cfg);
    int reply_err = 1;
    nipc_server_on(srv.server, "message", tcp_server_reply, &reply_err);

    th_peer_t *p = th_peer_spawn_on(&loop, &TCP4, ver, "tcp-test-client",
                                    th_peer_at_server(&TCP4, srv.server), "--end", NULL);
    /* Exit 0: the reply deep-equals {id: 'tcpServer', message: 'I am TCP server!'}. */
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "mismatch"), 0, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(th_peer_line(p, "message", 0)),
                   "{\"id\":\"tcpServer\",\"message\":\"I am TCP server!\"}", "node got");
    cr_assert_eq(reply_err, 0, "%s", nipc_strerror(reply_err));

    /* The C side saw node-ipc's "hello", then END. */
    cr_assert(th_rec_wait(&loop, &srv.rec, "END", 1, PEER_MS), "%s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "message"), 1, "%s", th_types(&srv.rec));
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "message", 0)], "\"hello\"");
    cr_assert_str_eq(srv.rec.data[th_find(&srv.rec, "END", 0)], "{}");
    cr_assert_lt(th_find(&srv.rec, "message", 0), th_find(&srv.rec, "END", 0));
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s", th_types(&srv.rec));
}
TH_BOTH_VERSIONS(tcp, node_tcp_test_client)

/*
 * node-ipc's test/TCP/TCPClient.js helper (id `tcpClient`, `message` 'hello' once connected)
 * done by a C client, against a node-ipc server that counts connect + message as node-ipc's
 * test/TCP/server.js does (v9: spec/TCP/tcpSocketServer.spec.js). Same caveat: node-ipc's
 * helper goes to port 8500, here to the Node server's port 0.
 */
static void c_tcp_test_client(const char *ver)
{
    int port;
    th_peer_t *p = node_server(&TCP4, ver, "t.sock", "20000", &port);
    cclient_start(&TCP4, "tcpClient", "tcpServer", "t.sock", port);
    /* Emitted before the connect: delivered once connected (C13). */
    cr_assert_eq(nipc_client_emit_new(cl.c, "message", json_string("hello")), 0);
    cr_assert(th_run_pred(&loop, messages_reach, (void *)(intptr_t)1, PEER_MS), "%s\n%s",
              th_types(&cl.rec), th_peer_dump(p));
    th_assert_json(json_array_get(cl.messages, 0), "\"hello world!\"", "reply");
    cr_assert_str_eq(nipc_config(cl.ipc)->id, "tcpClient");

    json_t *m = th_peer_wait(p, "message", 0, PEER_MS);
    cr_assert_not_null(m, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(m), "\"hello\"", "node got");
    cr_assert_eq(th_peer_count(p, "connect") + th_peer_count(p, "message"), 2, "%s",
                 th_peer_dump(p));

    cr_assert_eq(nipc_disconnect(cl.ipc, "tcpServer"), 0);
    json_t *gone = th_peer_wait(p, "socket.disconnected", 0, PEER_MS);
    cr_assert_not_null(gone, "%s", th_peer_dump(p));
    /* "hello" carries no id: node-ipc learned none. */
    th_assert_json(json_object_get(gone, "id"), "false", "socket.disconnected id");
    cr_assert(th_run_until(&loop, &cl.destroyed, PEER_MS), "%s", th_types(&cl.rec));
}
TH_BOTH_VERSIONS(tcp, c_tcp_test_client)

/* ---- TCP only: node-ipc's client retry test, by a C client (§8.4 item 3; C6, C8-C10) --- */

/* Adds `type` to the space-separated list in s[512] if it is error, disconnect or destroy. */
static void lifecycle_add(char *s, const char *type)
{
    if (strcmp(type, "error") != 0 && strcmp(type, "disconnect") != 0 &&
        strcmp(type, "destroy") != 0)
        return;
    size_t n = strlen(s);
    if (n + strlen(type) + 2 < 512)
        snprintf(s + n, 512 - n, "%s%s", n > 0 ? " " : "", type);
}

/* The lifecycle events among what a C client recorded, space-separated, in order. */
static const char *c_lifecycle(const th_rec_t *r)
{
    static char s[512];
    s[0] = '\0';
    for (int i = 0; i < r->n; i++)
        lifecycle_add(s, r->type[i]);
    return s;
}

/* The same from a Node client's lines. */
static const char *node_lifecycle(const th_peer_t *p)
{
    static char s[512];
    s[0] = '\0';
    for (size_t i = 0; i < json_array_size(p->lines); i++)
        lifecycle_add(s, th_line_ev(json_array_get(p->lines, i)));
    return s;
}

static th_rec_t rrec; /* static: large */

/*
 * node-ipc's test/TCP/client.js, first and second cases: a client of `tcpFakeServer` with
 * retry 60 and maxRetries 3, nobody listening. Retrying: every attempt fails with
 * ECONNREFUSED, so 1 + maxRetries errors (node-ipc's test counts from -1 and expects
 * maxRetries), then destroy. stopRetrying: one error, then destroy, and retriesRemaining is
 * left at maxRetries. node-ipc's helpers use port 8002; here a loopback port held bound (so
 * nothing can take it) but never listening. A Node client of the same version does the same
 * beside it: its lines are the reference sequence.
 */
static void retry_scenario(const char *ver, bool stop_retrying)
{
    int port;
    refusing_fd = th_refusing_port(th_loopback(&TCP4), &port);
    const char *where = th_peer_at(&TCP4, NULL, port);
    th_peer_t *p = stop_retrying ? th_peer_spawn_on(&loop, &TCP4, ver, "client-echo", where, NULL)
                                 : th_peer_spawn_on(&loop, &TCP4, ver, "client-echo", where,
                                                    "--retry", "60", "--max-retries", "3", NULL);

    nipc_config_t cfg;
    th_config(&cfg);
    cfg.id = "testClient";
    cfg.retry = 60;
    cfg.max_retries = 3;
    cfg.stop_retrying = stop_retrying;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    th_track(ipc);
    memset(&rrec, 0, sizeof rrec);
    nipc_client_t *c;
    bool destroyed = false;
    cr_assert_eq(nipc_connect_to_net(ipc, "tcpFakeServer", th_loopback(&TCP4), port, &c), 0);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &rrec);
    nipc_client_on(c, "destroy", th_flag, &destroyed);
    cr_assert(th_run_until(&loop, &destroyed, PEER_MS), "no destroy: %s", th_types(&rrec));

    int want_errors = stop_retrying ? 1 : 4;
    const char *want = stop_retrying ? "error disconnect destroy"
                                     : "error disconnect error disconnect error disconnect "
                                       "error disconnect destroy";
    cr_assert_eq(th_count(&rrec, "error"), want_errors, "%s", th_types(&rrec));
    cr_assert_eq(th_count(&rrec, "destroy"), 1, "%s", th_types(&rrec));
    cr_assert_eq(th_count(&rrec, "connect"), 0, "%s", th_types(&rrec));
    cr_assert_str_eq(c_lifecycle(&rrec), want);
    for (int k = 0; k < want_errors; k++) {
        int e = th_find(&rrec, "error", k);
        cr_assert_eq(rrec.status[e], UV_ECONNREFUSED, "error %d: %s", k,
                     nipc_err_name(rrec.status[e]));
        cr_assert(strstr(rrec.data[e], "\"code\":\"ECONNREFUSED\"") != NULL, "error %d: %s", k,
                  rrec.data[e]);
    }
    /* The client stays in of[] after destroy (C11), retries spent or, stopRetrying, untouched. */
    cr_assert_eq(nipc_of(ipc, "tcpFakeServer"), c);
    cr_assert(!nipc_client_connected(c));
    cr_assert_eq(nipc_client_retries_remaining(c), stop_retrying ? 3 : 0);

    /* node-ipc, same version, same scenario: the same sequence, the same code. */
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 1, "%s", th_peer_dump(p));
    cr_assert_str_eq(node_lifecycle(p), want, "%s", th_peer_dump(p));
    for (int k = 0; k < want_errors; k++)
        th_assert_json(json_object_get(th_peer_line(p, "error", k), "code"), "\"ECONNREFUSED\"",
                       "node error code");
}

static void retry_count(const char *ver)
{
    retry_scenario(ver, false);
}
TH_BOTH_VERSIONS(tcp, retry_count)

static void retry_stop_retrying(const char *ver)
{
    retry_scenario(ver, true);
}
TH_BOTH_VERSIONS(tcp, retry_stop_retrying)
