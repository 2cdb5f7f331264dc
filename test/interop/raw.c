/* SPDX-License-Identifier: MIT */
/*
 * rawBuffer mode (compat §2; R1-R6) and sync mode (§4.7; C15) against the real node-ipc:
 * @achrinza/node-ipc 10.1.11 and 9.2.9 run as test/interop/node/peer.js child processes
 * (../support/peer.h), its roles server-raw, client-raw, udp-raw, server-slow and
 * client-sync. Every test runs once per version; the stream ones over a Unix socket and TCP
 * on 127.0.0.1 (raw_params()), with port 0 for every listener.
 *
 *  - raw both ways in `hex` and in `ascii`, a Node client with a C server and a C client with
 *    a Node server, each side sending to the other: text, bytes, an emit's type, and the
 *    values of node-ipc's README rawBuffer section. What C receives is exactly what node-ipc
 *    writes (Buffer.from(value, encoding); R1, R2), bytes that node-ipc's own receive would
 *    damage included. What node-ipc hands to its `data` handler is what it makes of C's
 *    bytes: hex is lossless, ascii strips bit 7 (R4);
 *  - node-ipc's example rawBuffer-only-works-with-most-secure, both ways: ascii over mutual
 *    TLS, the server greeting each client with "hello" and answering its data with
 *    "goodbye";
 *  - raw over UDP (udp4), a C raw UDP server and a Node one exchanging datagrams: C gets each
 *    datagram's bytes as sent, node-ipc first decodes a datagram as UTF-8 whatever its
 *    encoding (R5: hex gets nothing of bytes that are not hex digits, ascii gets U+FFFD's
 *    low byte);
 *  - sync mode both ways against a peer that answers each request 100 ms later and counts
 *    the requests it holds unanswered when another arrives, which must be none: a C sync
 *    client with a Node server (C15), a Node sync client (config.sync) with a C server, and
 *    a C raw sync client whose every send waits for a read (R6).
 */
#include "../support/peer.h"

/* ---- fixture --------------------------------------------------------------------------- */

/* A bound, never a measurement: Node needs ~0.3 s to start. */
#define PEER_MS 15000
/* How long the sync peers hold each answer, and the least gap the tests accept between two
 * answers (a little less, for the clocks' rounding). */
#define ANSWER_MS 100
#define ANSWER_GAP_MS 90
#define ASKS 4
#define STR_(x) #x
#define STR(x) STR_(x)

static uv_loop_t loop;
static char dir[64]; /* the Unix sockets' directory */

/* The C server's delayed answers (sync tests): one timer per request. */
static uv_timer_t later[8];
static int nlater;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_peer_close_all();
    for (int i = 0; i < nlater; i++)
        uv_close((uv_handle_t *)&later[i], NULL);
    nlater = 0;
    th_kept_free();
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(raw, .init = setup, .fini = teardown, .timeout = 60);

/* The stream transports of these tests: a Unix socket and TCP on 127.0.0.1. */
static struct criterion_test_params raw_params(void)
{
    static th_transport_t params[] = {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}};
    return cr_make_param_array(th_transport_t, params, 2);
}

static const th_transport_t TLS = {"tls", TH_TLS};

/* ---- bytes and their hex --------------------------------------------------------------- */

/* The hex of n bytes, as a new JSON string. */
static json_t *hex_of(const char *p, size_t n)
{
    char *s = malloc(2 * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", (unsigned char)p[i]);
    s[2 * n] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

/* The bytes of a hex string into out (of cap bytes); returns how many. */
static size_t unhex(const char *hex, char *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    cr_assert_leq(n, cap, "hex too long: %s", hex);
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &b), 1, "not hex: %s", hex);
        out[i] = (char)b;
    }
    return n;
}

/* The strings of `reads` joined by `sep`, in one of four rotating static buffers. */
static const char *joined(const json_t *reads, const char *sep)
{
    static char bufs[4][2048];
    static int k;
    char *b = bufs[k++ % 4];
    size_t len = 0;
    b[0] = '\0';
    for (size_t i = 0; i < json_array_size(reads); i++)
        len += (size_t)snprintf(b + len, sizeof bufs[0] - len, "%s%s", i > 0 ? sep : "",
                                json_string_value(json_array_get(reads, i)));
    cr_assert_lt(len, sizeof bufs[0], "too many bytes to show");
    return b;
}

/* The hex of every raw `data` line a peer printed, in order (a new array, kept). */
static json_t *node_reads(const th_peer_t *p)
{
    json_t *reads = th_keep(json_array());
    json_t *line;
    for (int k = 0; (line = th_peer_line(p, "data", k)) != NULL; k++)
        json_array_append(reads, json_object_get(line, "hex"));
    return reads;
}

typedef struct bytes_want {
    const th_peer_t *p;
    size_t n;
} bytes_want_t;

static bool node_has_bytes(void *arg)
{
    const bytes_want_t *w = arg;
    size_t n = 0;
    json_t *line;
    for (int k = 0; (line = th_peer_line(w->p, "data", k)) != NULL; k++)
        n += json_string_length(json_object_get(line, "hex")) / 2;
    return w->p->eof || n >= w->n;
}

/* ---- the C side's reads ---------------------------------------------------------------- */

/* What one C side received in `data` events: each read's hex, and the last sender. */
typedef struct sink {
    json_t *reads;
    size_t len;
    char address[64]; /* UDP: the last datagram's sender */
    int port;
} sink_t;

static void sink_init(sink_t *s)
{
    memset(s, 0, sizeof *s);
    s->reads = th_keep(json_array());
}

static void on_data(const nipc_event_t *ev, void *arg)
{
    sink_t *s = arg;
    cr_assert_not_null(ev->bytes, "R3: a raw data event carries its bytes");
    cr_assert_null(ev->data, "raw mode decodes nothing");
    json_array_append_new(s->reads, hex_of(ev->bytes, ev->size));
    s->len += ev->size;
    if (ev->socket != NULL && nipc_socket_address(ev->socket) != NULL) {
        snprintf(s->address, sizeof s->address, "%s", nipc_socket_address(ev->socket));
        s->port = nipc_socket_port(ev->socket);
    }
}

static bool sink_full(const sink_t *s, size_t n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (s->len < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return s->len >= n;
}

/*
 * A C client with `cfg`, connecting to a Node server over `t` at the socket dir/n.sock or on
 * loopback:port (th_peer_listening()'s); the data of its reads go to `at_c` (or nowhere).
 */
static nipc_client_t *c_client_of_node(const th_transport_t *t, const nipc_config_t *cfg, int port,
                                       sink_t *at_c)
{
    nipc_client_t *c;
    int err = th_connect_raw(th_instance(&loop, cfg), t, "world", dir, "n.sock", port, &c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    if (at_c != NULL) {
        sink_init(at_c);
        nipc_client_on(c, "data", on_data, at_c);
    }
    return c;
}

/* ---- what each side sends -------------------------------------------------------------- */

/* One send of the C side: bytes (given in hex), text in the encoding, or an emit's type. */
typedef enum how { BYTES, TEXT, EMIT } how_t;

typedef struct c_send {
    how_t how;
    const char *what;
} c_send_t;

/*
 * One encoding's exchange. Node sends node_sends (each --send, then the README's values) and
 * C must receive node_wrote, the bytes of Buffer.from(value, encoding); C sends c_sends and
 * node-ipc must hand over node_got. Both in hex.
 */
typedef struct raw_case {
    const char *encoding;
    const char *node_sends[4];
    const char *node_wrote;
    c_send_t c_sends[4];
    const char *node_got;
} raw_case_t;

/* compat §2.2's probe: NUL, two bytes that are no UTF-8, 'A', é in UTF-8, the delimiter. */
#define PROBE "00ff8041c3a90c"
/* The README's values: [10, 20, 30], [0x05, 0x6d, 0x5c], and its 6-byte buffer (UInt16BE 2
 * at 0, UInt32BE 16772812 at 2). */
#define README_VALUES                                                                              \
    "0a141e"                                                                                       \
    "056d5c"                                                                                       \
    "000200ffeecc"

/* hex: invalid hex text is nothing ("zz", and the README's string example "hello"), upper
 * case is fine; every byte comes through both ways. C sends the README's values as text, as
 * an emit's type and as bytes. */
static const raw_case_t HEX = {
    .encoding = "hex",
    .node_sends = {"0a0b0cff", "zz", "hello", "C0FFEE"},
    .node_wrote = "0a0b0cff"
                  "c0ffee" README_VALUES,
    .c_sends = {{BYTES, PROBE}, {TEXT, "0a141e"}, {EMIT, "056d5c"}, {BYTES, "000200ffeecc"}},
    .node_got = PROBE README_VALUES,
};

/* ascii: node-ipc writes each UTF-16 unit's low byte (latin1: é is e9, € is ac, U+0080 is
 * 80), which C gets as is; its receive strips bit 7 of C's bytes. */
static const raw_case_t ASCII = {
    .encoding = "ascii",
    .node_sends = {"hello", "h\xc3\xa9llo", "\xe2\x82\xac",
                   "\xc3\xbf\xc2\x80"
                   "A"},
    .node_wrote = "68656c6c6f"
                  "68e96c6c6f"
                  "ac"
                  "ff8041" README_VALUES,
    .c_sends = {{BYTES, PROBE}, {TEXT, "h\xc3\xa9llo"}, {EMIT, "goodbye"}, {BYTES, "000200ffeecc"}},
    .node_got = "007f004143290c" /* the probe, bit 7 gone */
                "68696c6c6f"     /* "héllo" as 68 e9 6c 6c 6f: "hillo" */
                "676f6f64627965" /* goodbye */
                "0002007f6e4c",  /* the README's buffer */
};

/* Sends the case's c_sends from a C server's socket, or from a client (socket NULL). */
static void c_send_all(const raw_case_t *rc, nipc_server_t *server, nipc_socket_t *sock,
                       nipc_client_t *c)
{
    for (size_t i = 0; i < sizeof rc->c_sends / sizeof rc->c_sends[0]; i++) {
        const c_send_t *s = &rc->c_sends[i];
        char b[64];
        size_t n = s->how == BYTES ? unhex(s->what, b, sizeof b) : 0;
        int err;
        if (s->how == BYTES)
            err = c ? nipc_client_send(c, b, n) : nipc_server_send(server, sock, b, n);
        else if (s->how == TEXT)
            err = c ? nipc_client_send_text(c, s->what)
                    : nipc_server_send_text(server, sock, s->what);
        else
            err = c ? nipc_client_emit(c, s->what, NULL)
                    : nipc_server_emit(server, sock, s->what, NULL);
        cr_assert_eq(err, 0, "%s send %zu: %s", rc->encoding, i, nipc_strerror(err));
    }
}

static void server_sends_case(const nipc_event_t *ev, void *arg)
{
    c_send_all(arg, ev->server, ev->socket, NULL);
}

static void client_sends_case(const nipc_event_t *ev, void *arg)
{
    c_send_all(arg, NULL, NULL, ev->client);
}

/* The config of a raw C side in `encoding`. */
static void raw_config(nipc_config_t *cfg, const char *encoding)
{
    th_config(cfg);
    cfg->raw_buffer = true;
    cfg->encoding = encoding;
    cfg->stop_retrying = true;
}

/* Checks both directions of a finished exchange: what C got, and what node-ipc handed over. */
static void assert_exchange(const th_transport_t *t, const raw_case_t *rc, const sink_t *at_c,
                            th_peer_t *p)
{
    size_t want = strlen(rc->node_wrote) / 2;
    cr_assert(sink_full(at_c, want, PEER_MS), "%s %s: C got %zu of %zu bytes: %s", t->name,
              rc->encoding, at_c->len, want, joined(at_c->reads, " "));
    th_run_for(&loop, 30); /* nothing more may come */
    cr_assert_str_eq(joined(at_c->reads, ""), rc->node_wrote, "%s %s: what C got (R1, R2)", t->name,
                     rc->encoding);
    cr_assert_str_eq(joined(node_reads(p), ""), rc->node_got, "%s %s: what node-ipc got (R4)\n%s",
                     t->name, rc->encoding, th_peer_dump(p));
}

/* ---- 1. raw, hex and ascii, both ways (R1-R4) ------------------------------------------- */

static th_server_t srv; /* static: its recorder is large */

static void node_client_c_server(const th_transport_t *t, const char *ver, const raw_case_t *rc)
{
    nipc_config_t cfg;
    raw_config(&cfg, rc->encoding);
    th_server_start_on(&srv, &loop, &cfg, t, dir, "c.sock");
    th_track(srv.ipc);
    sink_t at_c;
    sink_init(&at_c);
    nipc_server_on(srv.server, "data", on_data, &at_c);
    nipc_server_on(srv.server, "connect", server_sends_case, (void *)rc);

    char bytes[24];
    snprintf(bytes, sizeof bytes, "%zu", strlen(rc->node_got) / 2);
    th_peer_t *p = th_peer_spawn_on(
        &loop, t, ver, "client-raw", th_peer_at_server(t, srv.server), "--encoding", rc->encoding,
        "--send", rc->node_sends[0], "--send", rc->node_sends[1], "--send", rc->node_sends[2],
        "--send", rc->node_sends[3], "--readme", "--bytes", bytes, NULL);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC: %s", th_peer_dump(p),
                 th_types(&srv.rec));
    assert_exchange(t, rc, &at_c, p);
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s: %s", t->name, th_types(&srv.rec));
}

static void c_client_node_server(const th_transport_t *t, const char *ver, const raw_case_t *rc)
{
    th_peer_t *p = th_peer_spawn_on(
        &loop, t, ver, "server-raw", th_peer_at(t, th_path(dir, "n.sock"), 0), "--encoding",
        rc->encoding, "--send", rc->node_sends[0], "--send", rc->node_sends[1], "--send",
        rc->node_sends[2], "--send", rc->node_sends[3], "--readme", "--clients", "1", NULL);
    int port = th_peer_listening(p, t, PEER_MS);

    nipc_config_t cfg;
    raw_config(&cfg, rc->encoding);
    sink_t at_c;
    nipc_client_t *c = c_client_of_node(t, &cfg, port, &at_c);
    nipc_client_on(c, "connect", client_sends_case, (void *)rc);

    bytes_want_t w = {p, strlen(rc->node_got) / 2};
    cr_assert(th_run_pred(&loop, node_has_bytes, &w, PEER_MS), "%s", th_peer_dump(p));
    cr_assert(sink_full(&at_c, strlen(rc->node_wrote) / 2, PEER_MS), "%s %s: C got %s", t->name,
              rc->encoding, joined(at_c.reads, " "));
    /* Leaving ends the Node server (--clients 1). */
    cr_assert_eq(nipc_client_close(c, true), 0);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    assert_exchange(t, rc, &at_c, p);
    cr_assert_eq(th_peer_count(p, "connect"), 1, "%s", th_peer_dump(p));
}

/* A scenario of this section for one case, as a test per version and transport. */
#define RAW_CASE_TESTS(name, scenario, rc)                                                         \
    static void name(const th_transport_t *t, const char *ver)                                     \
    {                                                                                              \
        scenario(t, ver, rc);                                                                      \
    }                                                                                              \
    TH_STREAM_BOTH_VERSIONS_OVER(raw, name, raw_params)

RAW_CASE_TESTS(r1_r4_hex_node_client_c_server, node_client_c_server, &HEX)
RAW_CASE_TESTS(r1_r4_ascii_node_client_c_server, node_client_c_server, &ASCII)
RAW_CASE_TESTS(r1_r4_hex_c_client_node_server, c_client_node_server, &HEX)
RAW_CASE_TESTS(r1_r4_ascii_c_client_node_server, c_client_node_server, &ASCII)

/* ---- 2. node-ipc's rawBuffer-only-works-with-most-secure: ascii over mutual TLS -------- */

/* A file of certs.sh's (made once per test process), in one of eight rotating buffers. */
static const char *tls_file(const char *name)
{
    static char bufs[8][128];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", th_tls_dir(), name);
    return b;
}

/*
 * The example's TLS: each side has its own key and certificate (NAME.pem, NAME.key) and
 * trusts the test CA, and the server asks for the client's certificate, verifies it and has
 * DH parameters. `ca` holds the CA list; nipc_new() copies everything.
 */
static void most_secure_config(nipc_config_t *cfg, const char *name, const char *ca[2])
{
    raw_config(cfg, "ascii");
    char pem[32], key[32];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    cfg->tls.enabled = true;
    cfg->tls.public_cert = tls_file(pem);
    cfg->tls.private_key = tls_file(key);
    ca[0] = tls_file("ca.pem");
    ca[1] = NULL;
    cfg->tls.trusted_connections = ca;
    if (strcmp(name, "server") == 0) {
        cfg->tls.request_cert = true;
        cfg->tls.dhparam = tls_file("dhparam.pem");
    }
}

static char client_subject[128];

/* The example's world server: "hello" to each client that connects, "goodbye" to its data. */
static void world_greets(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    const char *subject = nipc_socket_tls_subject(ev->socket);
    snprintf(client_subject, sizeof client_subject, "%s", subject ? subject : "(none)");
    cr_assert_eq(nipc_server_emit(ev->server, ev->socket, "hello", NULL), 0);
}

static void world_answers(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_eq(nipc_server_emit(ev->server, ev->socket, "goodbye", NULL), 0);
}

/* The example's hello client: "hello" once connected. */
static void hello_says_hello(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_eq(nipc_client_emit(ev->client, "hello", NULL), 0);
}

/* What the hello client gets: the greeting and the answer, however the reads were cut. */
#define HELLO_GOODBYE "68656c6c6f676f6f64627965"

static void most_secure_node_client_c_server(const char *ver)
{
    nipc_config_t cfg;
    const char *ca[2];
    most_secure_config(&cfg, "server", ca);
    th_server_start_on(&srv, &loop, &cfg, &TLS, dir, NULL);
    th_track(srv.ipc);
    sink_t at_c;
    sink_init(&at_c);
    nipc_server_on(srv.server, "connect", world_greets, NULL);
    nipc_server_on(srv.server, "data", on_data, &at_c);
    nipc_server_on(srv.server, "data", world_answers, NULL);

    th_peer_t *p = th_peer_spawn_on(&loop, &TLS, ver, "client-raw",
                                    th_peer_at_server(&TLS, srv.server), "--mutual", "--encoding",
                                    "ascii", "--send", "hello", "--bytes", "12", NULL);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC: %s", th_peer_dump(p),
                 th_types(&srv.rec));
    cr_assert_str_eq(joined(node_reads(p), ""), HELLO_GOODBYE, "%s", th_peer_dump(p));
    cr_assert(sink_full(&at_c, 5, PEER_MS), "C got %s", joined(at_c.reads, " "));
    cr_assert_str_eq(joined(at_c.reads, ""), "68656c6c6f");
    cr_assert_str_eq(client_subject, "CN=nipc test client,O=nipc", "the client's certificate");
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s", th_types(&srv.rec));
}
TH_BOTH_VERSIONS(raw, most_secure_node_client_c_server)

static void most_secure_c_client_node_server(const char *ver)
{
    th_peer_t *p = th_peer_spawn_on(&loop, &TLS, ver, "server-raw", th_peer_at(&TLS, NULL, 0),
                                    "--mutual", "--encoding", "ascii", "--send", "hello",
                                    "--answer", "goodbye", "--delay", "0", "--clients", "1", NULL);
    int port = th_peer_listening(p, &TLS, PEER_MS);
    nipc_config_t cfg;
    const char *ca[2];
    most_secure_config(&cfg, "client", ca);
    nipc_client_t *c;
    int err = nipc_connect_to_net(th_instance(&loop, &cfg), "world", "127.0.0.1", port, &c);
    cr_assert_eq(err, 0, "connect: %s", nipc_strerror(err));
    sink_t at_c;
    sink_init(&at_c);
    nipc_client_on(c, "connect", hello_says_hello, NULL);
    nipc_client_on(c, "data", on_data, &at_c);

    cr_assert(sink_full(&at_c, 12, PEER_MS), "C got %s\n%s", joined(at_c.reads, " "),
              th_peer_dump(p));
    th_run_for(&loop, 30);
    cr_assert_str_eq(joined(at_c.reads, ""), HELLO_GOODBYE);
    cr_assert_str_eq(nipc_client_tls_subject(c), "CN=localhost");
    cr_assert_eq(nipc_client_close(c, true), 0);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    cr_assert_str_eq(joined(node_reads(p), ""), "68656c6c6f", "%s", th_peer_dump(p));
}
TH_BOTH_VERSIONS(raw, most_secure_c_client_node_server)

/* ---- 3. raw over UDP (R5) ---------------------------------------------------------------- */

/* Node sends the three node_sends, one datagram each, and C must get node_wrote, one read
 * each; C answers the first with the two c_sends, and node-ipc must hand over node_got.
 * Bytes in hex, the datagrams' joined by commas. */
typedef struct udp_case {
    const char *encoding;
    const char *node_sends[3];
    const char *node_wrote;
    const char *c_sends[2];
    const char *node_got;
} udp_case_t;

/* node-ipc sends invalid hex as an empty datagram, a read of nothing for C. It makes text of
 * the probe by UTF-8 (U+FFFD for ff and 80), in which hex finds no digit: nothing. The text
 * "c0ffee" it reads as hex. */
static const udp_case_t UDP_HEX = {
    .encoding = "hex",
    .node_sends = {"0a0b0cff", "zz", "C0FFEE"},
    .node_wrote = "0a0b0cff,,c0ffee",
    .c_sends = {PROBE, "633066666565" /* the text "c0ffee" */},
    .node_got = ",c0ffee",
};

/* ascii after UTF-8: U+FFFD becomes fd, é e9, and no bit 7 is stripped (a stream's ascii
 * receive gives 007f004143290c for the probe). */
static const udp_case_t UDP_ASCII = {
    .encoding = "ascii",
    .node_sends = {"h\xc3\xa9llo",
                   "\xc3\xbf\xc2\x80"
                   "A",
                   "hello"},
    .node_wrote = "68e96c6c6f,ff8041,68656c6c6f",
    .c_sends = {PROBE, "68c3a96c6c6f" /* "héllo" in UTF-8 */},
    .node_got = "00fdfd41e90c,68e96c6c6f",
};

typedef struct udp_ctx {
    const udp_case_t *uc;
    sink_t at_c;
    int replies[2]; /* the codes of the two answers */
} udp_ctx_t;

/* On the first datagram: one answer on the sender's socket, one to its address and port. */
static void udp_answer(const nipc_event_t *ev, void *arg)
{
    udp_ctx_t *x = arg;
    if (json_array_size(x->at_c.reads) != 1)
        return;
    char b[64];
    size_t n = unhex(x->uc->c_sends[0], b, sizeof b);
    x->replies[0] = nipc_server_send(ev->server, ev->socket, b, n);
    n = unhex(x->uc->c_sends[1], b, sizeof b);
    x->replies[1] = nipc_server_send_to(ev->server, nipc_socket_address(ev->socket),
                                        nipc_socket_port(ev->socket), b, n);
}

static void udp_exchange(const char *ver, const udp_case_t *uc)
{
    nipc_config_t cfg;
    raw_config(&cfg, uc->encoding);
    nipc_t *ipc = th_instance(&loop, &cfg);
    nipc_server_t *s;
    bool started = false;
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), 0);
    nipc_server_on(s, "start", th_flag, &started);
    udp_ctx_t x = {.uc = uc};
    sink_init(&x.at_c);
    nipc_server_on(s, "data", on_data, &x.at_c);
    nipc_server_on(s, "data", udp_answer, &x);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert(th_run_until(&loop, &started, 2000));
    int cport = nipc_server_port(s);

    th_peer_t *p = th_peer_spawn(
        &loop, ver, "udp-raw", NULL, "--udp4", th_hostport("127.0.0.1", 0), "--to",
        th_hostport("127.0.0.1", cport), "--encoding", uc->encoding, "--send", uc->node_sends[0],
        "--send", uc->node_sends[1], "--send", uc->node_sends[2], "--count", "2", NULL);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC got %s", th_peer_dump(p),
                 joined(x.at_c.reads, " "));
    int node_port = th_peer_port(p, 0);
    cr_assert_eq(x.replies[0], 0, "%s", nipc_strerror(x.replies[0]));
    cr_assert_eq(x.replies[1], 0, "%s", nipc_strerror(x.replies[1]));

    /* C: one read per datagram, each the bytes node-ipc sent, from the Node socket. */
    cr_assert_str_eq(joined(x.at_c.reads, ","), uc->node_wrote, "%s: what C got", uc->encoding);
    cr_assert_str_eq(x.at_c.address, "127.0.0.1");
    cr_assert_eq(x.at_c.port, node_port);

    /* node-ipc: its UTF-8-first reading of each of C's datagrams, each from the C server. */
    cr_assert_str_eq(joined(node_reads(p), ","), uc->node_got, "%s: what node-ipc got (R5)\n%s",
                     uc->encoding, th_peer_dump(p));
    for (int k = 0; k < 2; k++) {
        const json_t *from = json_object_get(th_peer_line(p, "data", k), "from");
        cr_assert_eq(json_integer_value(json_object_get(from, "port")), cport, "%s",
                     th_peer_dump(p));
        cr_assert_eq(json_integer_value(json_object_get(from, "size")),
                     (json_int_t)strlen(uc->c_sends[k]) / 2, "datagram %d: %s", k, th_peer_dump(p));
    }
}

/* A UDP case as a test per version. */
#define UDP_CASE_TESTS(name, uc)                                                                   \
    static void name(const char *ver)                                                              \
    {                                                                                              \
        udp_exchange(ver, uc);                                                                     \
    }                                                                                              \
    TH_BOTH_VERSIONS(raw, name)

UDP_CASE_TESTS(r5_udp4_hex, &UDP_HEX)
UDP_CASE_TESTS(r5_udp4_ascii, &UDP_ASCII)

/* ---- 4. sync mode: never two requests outstanding (C15, R6) ------------------------------ */

static th_rec_t answers; /* static: large */

/* Node's ask lines: ASKS of them, {i: k} in order, none arriving while another waited. */
static void assert_node_asks(const th_transport_t *t, th_peer_t *p)
{
    cr_assert_eq(th_peer_count(p, "ask"), ASKS, "%s: %s", t->name, th_peer_dump(p));
    for (int k = 0; k < ASKS; k++) {
        const json_t *line = th_peer_line(p, "ask", k);
        cr_assert_eq(json_integer_value(json_object_get(th_line_data(line), "i")), k, "%s: %s",
                     t->name, th_peer_dump(p));
        cr_assert_eq(json_integer_value(json_object_get(line, "outstanding")), 0,
                     "%s: C15: ask %d came while another waited for its answer: %s", t->name, k,
                     th_peer_dump(p));
    }
}

/* Times (ms) of `n` events, each at least ANSWER_GAP_MS after the one before; under valgrind,
 * where the first of two may be recorded tens of ms late (39 ms seen), 60 ms less: a gap of a
 * third of the answer's delay still shows the wait, and the overlap counts prove C15 anyway. */
static void assert_spaced(const th_transport_t *t, const uint64_t *at, int n, const char *what)
{
    uint64_t gap = ANSWER_GAP_MS - (th_valgrind() ? 60 : 0);
    for (int k = 1; k < n; k++)
        cr_assert_geq(at[k] - at[k - 1], gap, "%s: %s %d came %llu ms after %d", t->name, what, k,
                      (unsigned long long)(at[k] - at[k - 1]), k - 1);
}

/* A C sync client emits ASKS asks and END at once to a Node server that answers each 100 ms
 * later: each goes only after the answer to the one before. */
static void c15_c_sync_client_node_server(const th_transport_t *t, const char *ver)
{
    th_peer_t *p =
        th_peer_spawn_on(&loop, t, ver, "server-slow", th_peer_at(t, th_path(dir, "n.sock"), 0),
                         "--delay", STR(ANSWER_MS), NULL);
    int port = th_peer_listening(p, t, PEER_MS);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.sync = true;
    cfg.stop_retrying = true;
    nipc_client_t *c = c_client_of_node(t, &cfg, port, NULL);
    memset(&answers, 0, sizeof answers);
    nipc_client_on(c, "answer", th_record, &answers);
    for (int k = 0; k < ASKS; k++)
        cr_assert_eq(nipc_client_emitf(c, "ask", "{s:i}", "i", k), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(c, "END", NULL), 0, "%s", t->name);

    cr_assert(th_rec_wait(&loop, &answers, "answer", ASKS, PEER_MS), "%s: %s", t->name,
              th_peer_dump(p));
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));
    assert_node_asks(t, p);
    const json_t *end = th_peer_line(p, "END", 0);
    cr_assert_not_null(end, "%s", th_peer_dump(p));
    cr_assert_eq(json_integer_value(json_object_get(end, "outstanding")), 0,
                 "%s: END went before the last answer: %s", t->name, th_peer_dump(p));
    for (int k = 0; k < ASKS; k++) {
        char want[16];
        snprintf(want, sizeof want, "{\"i\":%d}", k);
        cr_assert_str_eq(answers.data[k], want, "%s", t->name);
    }
    assert_spaced(t, answers.at, ASKS, "answer");
}
TH_STREAM_BOTH_VERSIONS_OVER(raw, c15_c_sync_client_node_server, raw_params)

/* The C server's side of the Node sync client: each ask answered ANSWER_MS later. */
typedef struct asks {
    nipc_server_t *server;
    int n;
    int outstanding;
    int overlaps; /* asks that came while another waited */
    char data[ASKS * 2][32];
    uint64_t at[ASKS * 2];
} asks_t;

static asks_t asks;

static void answer_now(uv_timer_t *timer)
{
    int k = (int)(intptr_t)timer->data;
    asks.outstanding--;
    if (nipc_server_socket_count(asks.server) == 0)
        return; /* the client left without waiting: the counts tell */
    json_t *data = json_loads(asks.data[k], 0, NULL);
    cr_assert_eq(
        nipc_server_emit_new(asks.server, nipc_server_socket_at(asks.server, 0), "answer", data),
        0);
}

static void on_ask(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_lt(asks.n, ASKS * 2, "too many asks");
    cr_assert_lt(nlater, (int)(sizeof later / sizeof later[0]));
    if (asks.outstanding > 0)
        asks.overlaps++;
    asks.outstanding++;
    char *d = json_dumps(ev->data, JSON_COMPACT);
    snprintf(asks.data[asks.n], sizeof asks.data[0], "%s", d ? d : "?");
    free(d);
    asks.at[asks.n] = uv_hrtime() / 1000000;
    uv_timer_t *timer = &later[nlater++];
    uv_timer_init(&loop, timer);
    timer->data = (void *)(intptr_t)asks.n++;
    uv_timer_start(timer, answer_now, ANSWER_MS, 0);
}

/* node-ipc's sync client (config.sync) emits ASKS asks at once to a C server that answers
 * each 100 ms later: the server never holds two. */
static void c15_node_sync_client_c_server(const th_transport_t *t, const char *ver)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_start_on(&srv, &loop, &cfg, t, dir, "c.sock");
    th_track(srv.ipc);
    memset(&asks, 0, sizeof asks);
    asks.server = srv.server;
    nipc_server_on(srv.server, "ask", on_ask, NULL);

    th_peer_t *p = th_peer_spawn_on(&loop, t, ver, "client-sync", th_peer_at_server(t, srv.server),
                                    "--count", STR(ASKS), NULL);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s\nC: %s", th_peer_dump(p),
                 th_types(&srv.rec));
    cr_assert_eq(asks.n, ASKS, "%s: %d asks", t->name, asks.n);
    cr_assert_eq(asks.overlaps, 0, "%s: C15: %d asks came while another waited", t->name,
                 asks.overlaps);
    for (int k = 0; k < ASKS; k++) {
        char want[16];
        snprintf(want, sizeof want, "{\"i\":%d}", k);
        cr_assert_str_eq(asks.data[k], want, "%s", t->name);
        th_assert_json(th_line_data(th_peer_line(p, "answer", k)), want, t->name);
    }
    assert_spaced(t, asks.at, ASKS, "ask");
}
TH_STREAM_BOTH_VERSIONS_OVER(raw, c15_node_sync_client_c_server, raw_params)

/* A C raw sync client sends ASKS requests at once to a Node raw server that answers each
 * read 100 ms later: one send per read received, so each request is a read of its own that
 * came with none unanswered (R6). */
static void r6_c_raw_sync_client_node_server(const th_transport_t *t, const char *ver)
{
    th_peer_t *p =
        th_peer_spawn_on(&loop, t, ver, "server-raw", th_peer_at(t, th_path(dir, "n.sock"), 0),
                         "--answer", "ok", "--delay", STR(ANSWER_MS), "--clients", "1", NULL);
    int port = th_peer_listening(p, t, PEER_MS);
    nipc_config_t cfg;
    raw_config(&cfg, "utf8");
    cfg.sync = true;
    sink_t at_c;
    nipc_client_t *c = c_client_of_node(t, &cfg, port, &at_c);
    for (int k = 0; k < ASKS; k++) {
        char q[8];
        snprintf(q, sizeof q, "q%d", k);
        cr_assert_eq(nipc_client_send_text(c, q), 0, "%s", t->name);
    }
    cr_assert(sink_full(&at_c, 2 * ASKS, PEER_MS), "%s: C got %s\n%s", t->name,
              joined(at_c.reads, " "), th_peer_dump(p));
    cr_assert_eq(nipc_client_close(c, true), 0);
    cr_assert_eq(th_peer_wait_exit(p, PEER_MS), 0, "%s", th_peer_dump(p));

    cr_assert_eq(th_peer_count(p, "data"), ASKS, "%s: R6: one read per send: %s", t->name,
                 th_peer_dump(p));
    for (int k = 0; k < ASKS; k++) {
        const json_t *line = th_peer_line(p, "data", k);
        char want[8];
        snprintf(want, sizeof want, "71%02x", '0' + k); /* "q0", "q1", ... */
        cr_assert_str_eq(json_string_value(json_object_get(line, "hex")), want, "%s: %s", t->name,
                         th_peer_dump(p));
        cr_assert_eq(json_integer_value(json_object_get(line, "outstanding")), 0,
                     "%s: R6: request %d came while another waited: %s", t->name, k,
                     th_peer_dump(p));
    }
    cr_assert_str_eq(joined(at_c.reads, ""), "6f6b6f6b6f6b6f6b", "%s", t->name);
}
TH_STREAM_BOTH_VERSIONS_OVER(raw, r6_c_raw_sync_client_node_server, raw_params)
