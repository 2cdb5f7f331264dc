/* SPDX-License-Identifier: MIT */
/*
 * nipc against the real node-ipc over UDP (compat §3.10): @achrinza/node-ipc 10.1.11 and
 * 9.2.9, run as test/interop/node/peer.js child processes (test/support/peer.h). Every
 * scenario runs once per version and per family (tests named _v10_udp4, _v10_udp6, _v9_udp4,
 * _v9_udp6): udp4 on 127.0.0.1, udp6 on ::1, every socket on port 0.
 *
 * node-ipc has no UDP client: a "client" is a second UDP server that emits to the other's
 * {address, port} (U6), on both sides here.
 *
 *  - node-ipc's UDP test endpoints answered by C (§8.1 test/UDP/client.js with the
 *    UDP4Server.js / UDP6Server.js helpers; §8.4 item 5): a C `udp4Server` / `udp6Server`
 *    replying to the sender, checked by node-ipc's client test (U1, U3, U4);
 *  - a Node udp-server and a C "client": the datagram each way, with what each side reports
 *    of the other: address, port, family, the datagram's size and the id learned from it
 *    (U3, U4, U6);
 *  - a Node udp-client to a C server: the sender as nipc_socket_* report it, and the reply
 *    made with nipc_server_emit() on that sender (U3, U4).
 */
#include "../support/peer.h"

/* ---- fixture --------------------------------------------------------------------------- */

/* A bound, never a measurement: Node needs ~0.3 s to start. */
#define PEER_MS 15000

static uv_loop_t loop;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
    th_peer_close_all();
    th_kept_free();
    th_loop_close(&loop);
}

TestSuite(udp, .init = setup, .fini = teardown, .timeout = 60);

typedef struct fam {
    nipc_net_t net;
    const char *host;      /* the loopback address of the family */
    const char *flag;      /* peer.js's bind option */
    const char *family;    /* as node-ipc's rinfo and nipc_socket_family() name it */
    const char *server_id; /* node-ipc's helper server for the family, and its answer */
    const char *reply;
} fam_t;

static const fam_t UDP4 = {
    .net = NIPC_UDP4,
    .host = "127.0.0.1",
    .flag = "--udp4",
    .family = "IPv4",
    .server_id = "udp4Server",
    .reply = "I am UDP4 server!",
};
static const fam_t UDP6 = {
    .net = NIPC_UDP6,
    .host = "::1",
    .flag = "--udp6",
    .family = "IPv6",
    .server_id = "udp6Server",
    .reply = "I am UDP6 server!",
};

/* One Test per node-ipc version and UDP family, each calling scenario(ver, fam). */
#define EVERY_VERSION_AND_FAMILY(scenario)                                                         \
    Test(udp, scenario##_v10_udp4)                                                                 \
    {                                                                                              \
        scenario("10", &UDP4);                                                                     \
    }                                                                                              \
    Test(udp, scenario##_v10_udp6)                                                                 \
    {                                                                                              \
        scenario("10", &UDP6);                                                                     \
    }                                                                                              \
    Test(udp, scenario##_v9_udp4)                                                                  \
    {                                                                                              \
        scenario("9", &UDP4);                                                                      \
    }                                                                                              \
    Test(udp, scenario##_v9_udp6)                                                                  \
    {                                                                                              \
        scenario("9", &UDP6);                                                                      \
    }

/* ---- helpers --------------------------------------------------------------------------- */

/* A C UDP server on the family's loopback address, port 0, every event recorded. */
typedef struct cudp {
    nipc_t *ipc;
    nipc_server_t *server;
    th_rec_t rec;
    bool started;
    int port;
} cudp_t;

static cudp_t cs; /* static: its recorder is large */

static void cudp_start(const fam_t *f, const char *id)
{
    nipc_config_t cfg;
    th_config(&cfg);
    if (id != NULL)
        cfg.id = id;
    memset(&cs, 0, sizeof cs);
    cr_assert_eq(nipc_new(&cs.ipc, &loop, &cfg), 0);
    th_track(cs.ipc);
    cr_assert_eq(nipc_serve_net(cs.ipc, f->host, 0, f->net, &cs.server), 0);
    nipc_server_on(cs.server, NIPC_EVENT_ANY, th_record, &cs.rec);
    nipc_server_on(cs.server, "start", th_flag, &cs.started);
    int err = nipc_server_start(cs.server);
    cr_assert_eq(err, 0, "start on %s: %s", f->host, nipc_strerror(err));
    cr_assert(th_run_until(&loop, &cs.started, 2000), "no start: %s", th_types(&cs.rec));
    cs.port = nipc_server_port(cs.server);
    cr_assert(cs.port > 0 && cs.port <= 65535, "port %d", cs.port);
    /* U7: start with {address, port}, the real port. */
    int s = th_find(&cs.rec, "start", 0);
    char want[128];
    snprintf(want, sizeof want, "{\"address\":\"%s\",\"port\":%d}", f->host, cs.port);
    json_t *got = json_loads(cs.rec.data[s], 0, NULL);
    th_assert_json(got, want, "start data");
    json_decref(got);
}

/* What a C handler saw of the first datagram's sender, copied while it was valid. */
typedef struct sender {
    int n;
    char address[64];
    int port;
    char family[8];
    size_t size;
    char id[64];
    char data[256];
    int reply_err;
} sender_t;

static void note_sender(sender_t *s, const nipc_event_t *ev)
{
    if (s->n++ > 0)
        return;
    const char *a = nipc_socket_address(ev->socket);
    const char *f = nipc_socket_family(ev->socket);
    const char *id = nipc_socket_id(ev->socket);
    snprintf(s->address, sizeof s->address, "%s", a ? a : "(null)");
    snprintf(s->family, sizeof s->family, "%s", f ? f : "(null)");
    snprintf(s->id, sizeof s->id, "%s", id ? id : "(null)");
    s->port = nipc_socket_port(ev->socket);
    s->size = nipc_socket_size(ev->socket);
    char *d = ev->data ? json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(s->data, sizeof s->data, "%s", d ? d : "(none)");
    free(d);
}

static void record_sender(const nipc_event_t *ev, void *arg)
{
    note_sender(arg, ev);
}

/* The byte length of the frame {"type":<type>,"data":<data JSON>} plus the delimiter. The
 * data's key order does not change it. */
static size_t frame_size(const char *type, const char *data_json)
{
    return strlen("{\"type\":\"\",\"data\":}") + strlen(type) + strlen(data_json) + 1;
}

/* Checks a Node line's `from` (node-ipc's rinfo): address, port, family, size and id. */
static void assert_from(const json_t *line, const fam_t *f, int port, size_t size, const char *id,
                        const th_peer_t *p)
{
    const json_t *from = json_object_get(line, "from");
    cr_assert(json_is_object(from), "no from: %s", th_peer_dump(p));
    th_assert_json(json_object_get(from, "address"),
                   strchr(f->host, ':') ? "\"::1\"" : "\"127.0.0.1\"", "from.address");
    cr_assert_eq(json_integer_value(json_object_get(from, "port")), port, "from.port: %s",
                 th_peer_dump(p));
    cr_assert_str_eq(json_string_value(json_object_get(from, "family")), f->family, "%s",
                     th_peer_dump(p));
    cr_assert_eq(json_integer_value(json_object_get(from, "size")), (json_int_t)size,
                 "from.size, want %zu: %s", size, th_peer_dump(p));
    if (id == NULL)
        cr_assert_null(json_object_get(from, "id"), "%s", th_peer_dump(p));
    else
        cr_assert_str_eq(json_string_value(json_object_get(from, "id")), id, "%s", th_peer_dump(p));
}

/* Checks what a C handler saw of a Node sender. */
static void assert_sender(const sender_t *s, const fam_t *f, int port, size_t size, const char *id)
{
    cr_assert_eq(s->n, 1, "%d datagrams", s->n);
    cr_assert_str_eq(s->address, f->host);
    cr_assert_eq(s->port, port);
    cr_assert_str_eq(s->family, f->family);
    cr_assert_eq(s->size, size, "size %zu, want %zu", s->size, size);
    cr_assert_str_eq(s->id, id);
}

/* ---- 1. node-ipc's UDP test endpoints, answered by C (§8.1, §8.2, §8.4 item 5) --------- */

/*
 * node-ipc's test/UDP/UDP4Server.js and UDP6Server.js helpers: server id udp4Server (or
 * udp6Server) answering every `message` with {id, message: 'I am UDP4 server!'} (or UDP6) to
 * the sender. The endpoints' behaviour is node-ipc's; only the ports are the test suite's
 * (node-ipc's helpers bind 127.0.0.1:8095 and [::1]:8099, its client 8009 and 8007).
 */
typedef struct endpoint_ctx {
    sender_t sender;
    const fam_t *f;
} endpoint_ctx_t;

static void endpoint_reply(const nipc_event_t *ev, void *arg)
{
    endpoint_ctx_t *x = arg;
    note_sender(&x->sender, ev);
    x->sender.reply_err = nipc_server_emitf(ev->server, ev->socket, "message", "{s:s, s:s}", "id",
                                            nipc_config(cs.ipc)->id, "message", x->f->reply);
}

static void node_udp_test_client(const char *ver, const fam_t *f)
{
    cudp_start(f, f->server_id);
    endpoint_ctx_t x = {.f = f};
    nipc_server_on(cs.server, "message", endpoint_reply, &x);

    th_peer_t *p =
        th_peer_spawn(&loop, ver, "udp-test-client", NULL, f->flag, th_hostport(f->host, 0), "--to",
                      th_hostport(f->host, cs.port), NULL);
    /* Exit 0: the reply deep-equals node-ipc's expectation for the family. */
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC: %s", th_peer_dump(p), th_types(&cs.rec));
    int node_port = th_peer_port(p, 0);
    cr_assert_eq(x.sender.reply_err, 0, "%s", nipc_strerror(x.sender.reply_err));
    cr_assert_eq(th_peer_count(p, "mismatch"), 0, "%s", th_peer_dump(p));
    json_t *m = th_peer_line(p, "message", 0);
    cr_assert_not_null(m, "%s", th_peer_dump(p));
    char want[128];
    snprintf(want, sizeof want, "{\"id\":\"%s\",\"message\":\"%s\"}", f->server_id, f->reply);
    th_assert_json(th_line_data(m), want, "node got");
    assert_from(m, f, cs.port, frame_size("message", want), f->server_id, p);

    /* The C side: node-ipc's `message` {} from the Node socket, then its END {}. */
    assert_sender(&x.sender, f, node_port, frame_size("message", "{}"), "(null)");
    cr_assert_str_eq(x.sender.data, "{}");
    cr_assert(th_rec_wait(&loop, &cs.rec, "END", 1, PEER_MS), "%s", th_types(&cs.rec));
    cr_assert_str_eq(cs.rec.data[th_find(&cs.rec, "END", 0)], "{}");
    cr_assert_eq(th_count(&cs.rec, "message"), 1, "%s", th_types(&cs.rec));
    cr_assert_eq(th_count(&cs.rec, "error"), 0, "%s", th_types(&cs.rec));
}
EVERY_VERSION_AND_FAMILY(node_udp_test_client)

/* ---- 2. Node udp-server, C "client" (U3, U4, U6) ---------------------------------------- */

static void node_udp_server_c_client(const char *ver, const fam_t *f)
{
    th_peer_t *p =
        th_peer_spawn(&loop, ver, "udp-server", NULL, f->flag, th_hostport(f->host, 0), NULL);
    int node_port = th_peer_port(p, PEER_MS);

    /* The C "client": a second UDP server, on its own port 0. */
    cudp_start(f, "cpeer");
    sender_t reply = {0};
    bool got_reply = false;
    nipc_server_on(cs.server, "message", record_sender, &reply);
    nipc_server_on(cs.server, "message", th_flag, &got_reply);

    const char *sent = "{\"id\":\"cpeer\",\"message\":\"Hello from C\"}";
    json_t *data = json_loads(sent, 0, NULL);
    cr_assert_not_null(data);
    int err = nipc_server_emit_to_new(cs.server, f->host, node_port, "message", data);
    cr_assert_eq(err, 0, "emit_to: %s", nipc_strerror(err));

    /* node-ipc decoded the datagram and tells where it came from. */
    json_t *m = th_peer_wait(p, "message", 0, PEER_MS);
    cr_assert_not_null(m, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(m), sent, "node got");
    assert_from(m, f, cs.port, frame_size("message", sent), "cpeer", p);

    /* Its answer reached the C server, from the Node server's address and port. */
    cr_assert(th_run_until(&loop, &got_reply, PEER_MS), "no reply: %s\n%s", th_types(&cs.rec),
              th_peer_dump(p));
    char want[128];
    snprintf(want, sizeof want, "{\"id\":\"%s\",\"message\":\"%s\"}", f->server_id, f->reply);
    json_t *got = json_loads(reply.data, 0, NULL);
    th_assert_json(got, want, "C got");
    json_decref(got);
    assert_sender(&reply, f, node_port, frame_size("message", want), f->server_id);

    /* END (no data: sent as {}) stops node-ipc's helper. */
    cr_assert_eq(nipc_server_emit_to(cs.server, f->host, node_port, "END", NULL), 0);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    cr_assert_not_null(th_peer_line(p, "end", 0), "%s", th_peer_dump(p));
    cr_assert_eq(th_peer_count(p, "message"), 1, "%s", th_peer_dump(p));
    cr_assert_eq(th_count(&cs.rec, "error"), 0, "%s", th_types(&cs.rec));
}
EVERY_VERSION_AND_FAMILY(node_udp_server_c_client)

/* ---- 3. Node udp-client, C server replying on the sender's socket (U3, U4) -------------- */

typedef struct answer_ctx {
    sender_t sender;
    bool ended;
} answer_ctx_t;

/* Replies on the sender's socket, which is valid during this handler only. */
static void answer_sender(const nipc_event_t *ev, void *arg)
{
    answer_ctx_t *x = arg;
    note_sender(&x->sender, ev);
    x->sender.reply_err = nipc_server_emitf(ev->server, ev->socket, "message", "{s:s, s:s}", "id",
                                            "cserver", "message", "Hi node");
}

static void node_udp_client_c_server(const char *ver, const fam_t *f)
{
    cudp_start(f, "cserver");
    answer_ctx_t x = {0};
    nipc_server_on(cs.server, "message", answer_sender, &x);
    nipc_server_on(cs.server, "END", th_flag, &x.ended);

    th_peer_t *p = th_peer_spawn(&loop, ver, "udp-client", NULL, f->flag, th_hostport(f->host, 0),
                                 "--to", th_hostport(f->host, cs.port), "--id", "nodeudp", "--text",
                                 "Hi C", "--end", NULL);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC: %s", th_peer_dump(p), th_types(&cs.rec));
    int node_port = th_peer_port(p, 0);
    cr_assert_not_null(th_peer_line(p, "done", 0), "%s", th_peer_dump(p));

    /* The C handler saw the Node socket and the id its datagram carried. */
    const char *sent = "{\"id\":\"nodeudp\",\"message\":\"Hi C\"}";
    cr_assert_eq(x.sender.reply_err, 0, "%s", nipc_strerror(x.sender.reply_err));
    assert_sender(&x.sender, f, node_port, frame_size("message", sent), "nodeudp");
    json_t *got = json_loads(x.sender.data, 0, NULL);
    th_assert_json(got, sent, "C got");
    json_decref(got);

    /* The reply reached the Node client, from the C server's port. */
    const char *reply = "{\"id\":\"cserver\",\"message\":\"Hi node\"}";
    json_t *m = th_peer_line(p, "message", 0);
    cr_assert_not_null(m, "%s", th_peer_dump(p));
    th_assert_json(th_line_data(m), reply, "node got");
    assert_from(m, f, cs.port, frame_size("message", reply), "cserver", p);

    /* And the END it sent before leaving. */
    cr_assert(th_run_until(&loop, &x.ended, PEER_MS), "no END: %s", th_types(&cs.rec));
    cr_assert_eq(th_count(&cs.rec, "message"), 1, "%s", th_types(&cs.rec));
    cr_assert_eq(th_count(&cs.rec, "error"), 0, "%s", th_types(&cs.rec));
}
EVERY_VERSION_AND_FAMILY(node_udp_client_c_server)
