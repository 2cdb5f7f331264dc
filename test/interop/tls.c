/* SPDX-License-Identifier: MIT */
/*
 * nipc's TLS against the real node-ipc's (T7): @achrinza/node-ipc 10.1.11 and 9.2.9 run as
 * test/interop/node/tls_peer.js, a TLS server or client driven by JSON lines on its stdin
 * and reporting on its stdout. Every test runs once per node-ipc version (Criterion
 * parameters), on 127.0.0.1 with port 0, with certificates made for the run by
 * test/support/certs.sh (a CA, a server certificate for localhost and 127.0.0.1, a client
 * certificate, and wrong ones).
 *
 *  - a Node client verifying a C server (trustedConnections = the test CA): an event each
 *    way, and a broadcast to two Node clients;
 *  - a C client verifying a Node server: an event each way;
 *  - mutual TLS both ways, node-ipc's basic-most-secure set-up (the server has requestCert,
 *    rejectUnauthorized and trustedConnections, the client its own certificate), each side
 *    seeing the other's subject;
 *  - failures: a C client refuses a Node server whose certificate names another host or
 *    comes from an unknown CA (its own code, no connect, no retry); a Node client that does
 *    not trust the C server's CA fails, and the C server, which sees no `connect`, goes on
 *    serving a good client; node-ipc retries such a failed handshake past its maxRetries;
 *  - node-ipc's weaker set-ups: a client with rejectUnauthorized false takes any certificate
 *    of a C server (T7), and a server given no key and certificate (T6: v9 serves its bundled
 *    expired one, v10 throws);
 *  - a failed handshake on the C server is an `error` only: no socket.disconnected.
 *
 * Connect timing, as observed and asserted: node-ipc's legacy client publishes `connect` on
 * the TLS socket's TCP `connect`, before the handshake (the socket is not yet authorized,
 * and a client that will reject the certificate still says `connect` first); node-ipc's
 * server publishes it after the handshake (`secureConnection`). nipc publishes `connect`
 * after the handshake on both sides, with the peer's subject already known.
 */
#include "../support/peer.h"

#include <criterion/hooks.h>
#include <criterion/parameterized.h>

#define PEER_MS 10000 /* a bound for anything a Node peer does, never a measurement */
#define HOST "127.0.0.1"

static uv_loop_t loop;
static char dir[64]; /* the certificates */

/* ---- the Node peer: a child process with a pipe each way ------------------------------- */

typedef struct tpeer {
    uv_process_t proc;
    uv_pipe_t in;  /* its stdin: our commands */
    uv_pipe_t out; /* its stdout: its JSON lines */
    char name[48]; /* "v10 server", for messages */
    char part[16384];
    size_t plen;   /* bytes of an unfinished line in part */
    json_t *lines; /* every line, parsed, in order */
    bool eof, exited, stdin_closed;
    int64_t status;
    int signal;
    int open; /* handles not yet closed */
} tpeer_t;

#define TPEER_MAX 6
static tpeer_t *tpeers[TPEER_MAX];
static int ntpeers;

static void tpeer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tpeer_t *p = h->data;
    (void)suggested;
    *buf = uv_buf_init(p->part + p->plen, (unsigned)(sizeof p->part - p->plen));
}

/* Keeps one line; a line that is no JSON object is kept as {"ev":"?","text":...}. */
static void tpeer_keep(tpeer_t *p, const char *s, size_t n)
{
    json_t *v = json_loadb(s, n, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_pack("{s:s, s:s%}", "ev", "?", "text", s, n);
    }
    json_array_append_new(p->lines, v);
}

static void tpeer_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tpeer_t *p = s->data;
    (void)buf;
    if (nread < 0) {
        p->eof = true;
        uv_read_stop(s);
        return;
    }
    p->plen += (size_t)nread;
    char *nl;
    while ((nl = memchr(p->part, '\n', p->plen)) != NULL) {
        size_t n = (size_t)(nl - p->part);
        tpeer_keep(p, p->part, n);
        p->plen -= n + 1;
        memmove(p->part, nl + 1, p->plen);
    }
    if (p->plen == sizeof p->part) { /* a line longer than the buffer: keep it cut */
        tpeer_keep(p, p->part, p->plen);
        p->plen = 0;
    }
}

static void tpeer_exited(uv_process_t *proc, int64_t status, int sig)
{
    tpeer_t *p = proc->data;
    p->exited = true;
    p->status = status;
    p->signal = sig;
}

/* Starts `node tls_peer.js --ver VER --role ROLE ARGS...` (ARGS ended by NULL). */
static __attribute__((sentinel)) tpeer_t *tpeer_start(const char *ver, const char *role, ...)
{
    cr_assert_lt(ntpeers, TPEER_MAX, "too many Node peers");
    tpeer_t *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    tpeers[ntpeers++] = p;
    p->lines = json_array();
    snprintf(p->name, sizeof p->name, "v%s %s", ver, role);

    char script[512];
    snprintf(script, sizeof script, "%s/test/interop/node/tls_peer.js", NIPC_SOURCE_DIR);
    const char *argv[40] = {NIPC_NODE_EXECUTABLE, script, "--ver", ver, "--role", role};
    int argc = 6;
    va_list ap;
    va_start(ap, role);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        cr_assert_lt(argc, 38, "too many arguments for %s", p->name);
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;

    cr_assert_eq(uv_pipe_init(&loop, &p->in, 0), 0);
    cr_assert_eq(uv_pipe_init(&loop, &p->out, 0), 0);
    p->in.data = p->out.data = p->proc.data = p;
    p->open = 2;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&p->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO},
    };
    uv_process_options_t opt = {
        .file = NIPC_NODE_EXECUTABLE,
        .args = (char **)argv,
        .stdio = stdio,
        .stdio_count = 3,
        .exit_cb = tpeer_exited,
    };
    int err = uv_spawn(&loop, &p->proc, &opt);
    p->open++; /* a process handle must be closed even when uv_spawn failed */
    if (err != 0)
        p->exited = p->eof = true;
    cr_assert_eq(err, 0, "spawning %s: %s", p->name, uv_strerror(err));
    cr_assert_eq(uv_read_start((uv_stream_t *)&p->out, tpeer_alloc, tpeer_read), 0);
    return p;
}

typedef struct tpeer_write {
    uv_write_t req;
    char text[];
} tpeer_write_t;

static void tpeer_written(uv_write_t *req, int status)
{
    (void)status; /* a peer that is gone shows in its lines and exit */
    free(req);
}

/* Sends the peer one command: a JSON object packed from fmt (json_pack), and a newline. */
static void tpeer_send(tpeer_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *cmd = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert_not_null(cmd, "bad command format %s", fmt);
    char *s = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    cr_assert_not_null(s);
    size_t n = strlen(s);
    tpeer_write_t *w = malloc(sizeof *w + n + 1);
    cr_assert_not_null(w);
    memcpy(w->text, s, n);
    w->text[n] = '\n';
    free(s);
    uv_buf_t b = uv_buf_init(w->text, (unsigned)(n + 1));
    int err = uv_write(&w->req, (uv_stream_t *)&p->in, &b, 1, tpeer_written);
    if (err != 0)
        free(w);
    cr_assert_eq(err, 0, "%s: writing a command: %s", p->name, uv_strerror(err));
}

/* The k-th (0-based) line whose ev is `ev` (borrowed), its index in *at; NULL if none. */
static json_t *tpeer_find(const tpeer_t *p, const char *ev, int k, int *at)
{
    for (size_t i = 0; i < json_array_size(p->lines); i++) {
        json_t *line = json_array_get(p->lines, i);
        if (strcmp(th_line_ev(line), ev) == 0 && k-- == 0) {
            if (at != NULL)
                *at = (int)i;
            return line;
        }
    }
    return NULL;
}

static int tpeer_count(const tpeer_t *p, const char *ev)
{
    int n = 0;
    while (tpeer_find(p, ev, n, NULL) != NULL)
        n++;
    return n;
}

typedef struct tpeer_want {
    const tpeer_t *p;
    const char *ev;
    int k;
} tpeer_want_t;

static bool tpeer_has(void *arg)
{
    const tpeer_want_t *w = arg;
    return w->p->eof || tpeer_find(w->p, w->ev, w->k, NULL) != NULL;
}

/* Runs the loop until the peer's k-th `ev` line (returned, borrowed), its stdout's end, or ms. */
static json_t *tpeer_wait(tpeer_t *p, const char *ev, int k, unsigned ms)
{
    tpeer_want_t w = {p, ev, k};
    th_run_pred(&loop, tpeer_has, &w, ms);
    return tpeer_find(p, ev, k, NULL);
}

static bool tpeer_over(void *arg)
{
    const tpeer_t *p = arg;
    return p->exited && p->eof;
}

/* Runs the loop until the peer has exited and its lines are all read; its exit status, or -1. */
static int tpeer_wait_exit(tpeer_t *p, unsigned ms)
{
    th_run_pred(&loop, tpeer_over, p, ms);
    return p->exited && p->signal == 0 ? (int)p->status : -1;
}

/* The peer's name and lines, for failure messages. */
static const char *tpeer_text(const tpeer_t *p)
{
    static char bufs[2][2300];
    static int i;
    char *b = bufs[i++ % 2];
    snprintf(b, sizeof bufs[0], "%s: %s", p->name, th_json_dump(p->lines));
    return b;
}

/* The port a server peer printed in its `listening` line. */
static int tpeer_port(tpeer_t *p)
{
    json_t *line = tpeer_wait(p, "listening", 0, PEER_MS);
    cr_assert_not_null(line, "no listening line: %s", tpeer_text(p));
    json_int_t port = json_integer_value(json_object_get(line, "port"));
    cr_assert(port > 0 && port <= 65535, "%s", tpeer_text(p));
    return (int)port;
}

static void tpeer_closed(uv_handle_t *h)
{
    ((tpeer_t *)h->data)->open--;
}

static bool tpeer_handles_closed(void *arg)
{
    return ((tpeer_t *)arg)->open == 0;
}

static void tpeer_close_stdin(tpeer_t *p)
{
    if (!p->stdin_closed) {
        p->stdin_closed = true;
        uv_close((uv_handle_t *)&p->in, tpeer_closed);
    }
}

/*
 * Ends every peer: its stdin closed (a peer leaves at once when it ends), SIGKILL for one
 * still there after 3 s, every handle closed and the peer freed. For teardown, so any path
 * out of a test reaps its children.
 */
static void tpeer_end_all(void)
{
    for (int i = 0; i < ntpeers; i++)
        tpeer_close_stdin(tpeers[i]);
    for (int i = 0; i < ntpeers; i++) {
        tpeer_t *p = tpeers[i];
        if (tpeer_wait_exit(p, 3000) < 0 && !p->exited) {
            fprintf(stderr, "%s: still running, killing it\n", p->name);
            uv_process_kill(&p->proc, SIGKILL);
            th_run_pred(&loop, tpeer_over, p, 5000);
        }
        uv_close((uv_handle_t *)&p->out, tpeer_closed);
        uv_close((uv_handle_t *)&p->proc, tpeer_closed);
        th_run_pred(&loop, tpeer_handles_closed, p, 2000);
        json_decref(p->lines);
        free(p);
        tpeers[i] = NULL;
    }
    ntpeers = 0;
}

/* ---- fixture ----------------------------------------------------------------------------- */

/* A file made by certs.sh, in one of eight rotating buffers. */
static const char *cert(const char *name)
{
    static char bufs[8][128];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/*
 * The certificates, made once per run: certs.sh runs in the runner before any test, into a
 * directory the test processes learn from the environment they inherit. Fresh for every run,
 * and not made again for each test (that would cost 0.3 s a test).
 */
#define CERTS_DIR_ENV "NIPC_TEST_INTEROP_TLS_CERTS"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    static char made[] = "/tmp/nipc-tlsi-XXXXXX";
    char cmd[256];
    if (mkdtemp(made) == NULL) {
        perror("mkdtemp");
        return;
    }
    snprintf(cmd, sizeof cmd, "bash '%s/test/support/certs.sh' '%s' >/dev/null", NIPC_SOURCE_DIR,
             made);
    if (system(cmd) != 0)
        fprintf(stderr, "test/support/certs.sh %s failed\n", made);
    setenv(CERTS_DIR_ENV, made, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *made = getenv(CERTS_DIR_ENV);
    if (made != NULL)
        th_rmdir(made); /* certs.sh writes files only, no subdirectory */
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* a command written to a peer that has gone is an error, no more */
    cr_assert_eq(uv_loop_init(&loop), 0);
    const char *made = getenv(CERTS_DIR_ENV);
    cr_assert_not_null(made, "no certificates (see the PRE_ALL hook's message)");
    snprintf(dir, sizeof dir, "%s", made);
    struct stat st;
    cr_assert_eq(stat(cert("dhparam.pem"), &st), 0, "certs.sh made no certificates in %s", dir);
}

static void teardown(void)
{
    tpeer_end_all();
    th_kept_free();
    th_loop_close(&loop);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 30);

/* The node-ipc version, held in the struct: Criterion copies parameters into a worker. */
typedef struct version {
    char ver[4];
} version_t;

/* A test run once per node-ipc version, `v` its version_t *. */
#define EACH_VERSION(name)                                                                         \
    ParameterizedTestParameters(tls, name)                                                         \
    {                                                                                              \
        static version_t versions[] = {{"10"}, {"9"}};                                             \
        return cr_make_param_array(version_t, versions, 2);                                        \
    }                                                                                              \
    ParameterizedTest(version_t *v, tls, name)

/* ---- the C side ------------------------------------------------------------------------- */

static const char *ca_list[2];

/*
 * A TLS config with the key and certificate certs.sh wrote as NAME.key and NAME.pem (NULL:
 * none), trusting the test CA if `trust`. A server trusting the CA also sends it after its
 * certificate (OpenSSL builds the chain from the trusted store, as Node does), which changes
 * what a client trusting another CA reports, so servers trust it only for mutual TLS.
 */
static void tls_config(nipc_config_t *cfg, const char *name, bool trust)
{
    th_config(cfg);
    cfg->tls.enabled = true;
    if (name != NULL) {
        char file[32];
        snprintf(file, sizeof file, "%s.pem", name);
        cfg->tls.public_cert = cert(file);
        snprintf(file, sizeof file, "%s.key", name);
        cfg->tls.private_key = cert(file);
    }
    if (trust) {
        ca_list[0] = cert("ca.pem");
        ca_list[1] = NULL;
        cfg->tls.trusted_connections = ca_list;
    }
}

static nipc_server_t *cserver; /* the C server, once started */
static th_rec_t srec;          /* its events (static: a recorder is large) */
static th_rec_t crec;          /* the C client's */

/* What the C side saw in its `connect` handler: the peer's subject, if it was known then. */
static char connect_subject[256];

static void note_subject(const char *subject)
{
    snprintf(connect_subject, sizeof connect_subject, "%s", subject ? subject : "(none)");
}

static void server_connected(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    note_subject(nipc_socket_tls_subject(ev->socket));
}

static void client_connected(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    note_subject(nipc_client_tls_subject(ev->client));
}

/* The C server's answer to `ping`: `pong` {"got": data} to that socket. */
static void pong(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    json_t *reply = json_pack("{s:O?}", "got", ev->data);
    cr_assert_eq(nipc_server_emit_new(ev->server, ev->socket, "pong", reply), 0);
}

/* Starts a C TLS server on 127.0.0.1:0 with cfg, recording its events in srec. */
static nipc_server_t *c_server(const nipc_config_t *cfg)
{
    nipc_server_t *s;
    cr_assert_eq(nipc_serve_net(th_instance(&loop, cfg), HOST, 0, NIPC_TCP, &s), 0);
    nipc_server_on(s, NIPC_EVENT_ANY, th_record, &srec);
    nipc_server_on(s, "connect", server_connected, NULL);
    nipc_server_on(s, "ping", pong, NULL);
    int err = nipc_server_start(s);
    cr_assert_eq(err, 0, "start: %s", nipc_strerror(err));
    cr_assert(th_rec_wait(&loop, &srec, "start", 1, 2000), "no start: %s", th_types(&srec));
    cr_assert_gt(nipc_server_port(s), 0);
    return cserver = s;
}

/* Starts a C TLS client of 127.0.0.1:port with cfg, recording its events in crec. */
static nipc_client_t *c_client(const nipc_config_t *cfg, int port)
{
    nipc_client_t *c;
    int err = nipc_connect_to_net(th_instance(&loop, cfg), "node", HOST, port, &c);
    cr_assert_eq(err, 0, "connect: %s", nipc_strerror(err));
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, &crec);
    nipc_client_on(c, "connect", client_connected, NULL);
    return c;
}

static const char *port_text(int port)
{
    static char b[2][8];
    static int i;
    char *s = b[i++ % 2];
    snprintf(s, sizeof b[0], "%d", port);
    return s;
}

/* A C server with the test server certificate and no client certificates asked for, the
 * usual node-ipc set-up; returns its port as text, for a Node client's --port. */
static const char *plain_c_server(void)
{
    nipc_config_t cfg;
    tls_config(&cfg, "server", false);
    return port_text(nipc_server_port(c_server(&cfg)));
}

/* The recorded data of the k-th event of `type` as JSON text; fails if there is none. */
static const char *rec_data(const th_rec_t *r, const char *type, int k)
{
    int i = th_find(r, type, k);
    cr_assert_geq(i, 0, "no %s #%d in: %s", type, k, th_types(r));
    return r->data[i];
}

/* The event line of `type` a peer printed (its k-th), waited for. */
static json_t *peer_event(tpeer_t *p, const char *type, int k)
{
    uint64_t end = uv_hrtime() / 1000000 + PEER_MS;
    for (;;) {
        int seen = 0;
        for (int i = 0;; i++) {
            json_t *line = tpeer_find(p, "event", i, NULL);
            if (line == NULL)
                break;
            if (strcmp(json_string_value(json_object_get(line, "type")), type) == 0 && seen++ == k)
                return line;
        }
        if (p->eof || uv_hrtime() / 1000000 >= end)
            cr_assert_fail("no %s event #%d: %s", type, k, tpeer_text(p));
        tpeer_wait(p, "event", tpeer_count(p, "event"), 50);
    }
}

/*
 * A Node client's legacy connect, checked: node-ipc's `connect` came first, while the TLS
 * socket was not authorized yet, and the handshake (`secure`) after it, verified, with the
 * server's subject.
 */
static void assert_legacy_connect(tpeer_t *p, const char *server_subject)
{
    json_t *secure = tpeer_wait(p, "secure", 0, PEER_MS);
    cr_assert_not_null(secure, "no handshake: %s", tpeer_text(p));
    int c_at = -1, s_at = -1;
    json_t *conn = tpeer_find(p, "connect", 0, &c_at);
    tpeer_find(p, "secure", 0, &s_at);
    cr_assert_not_null(conn, "%s", tpeer_text(p));
    cr_assert_lt(c_at, s_at, "node-ipc's connect after the handshake: %s", tpeer_text(p));
    cr_assert(json_is_false(json_object_get(conn, "authorized")), "%s", tpeer_text(p));
    cr_assert(json_is_true(json_object_get(secure, "authorized")), "%s", tpeer_text(p));
    cr_assert_str_eq(json_string_value(json_object_get(secure, "subject")), server_subject, "%s",
                     tpeer_text(p));
    cr_assert_eq(tpeer_count(p, "error"), 0, "%s", tpeer_text(p));
}

/* ---- (1) a Node client verifies the C server -------------------------------------------- */

EACH_VERSION(node_client_verifies_the_c_server_events_both_ways_and_broadcast)
{
    const char *port = plain_c_server();
    tpeer_t *a = tpeer_start(v->ver, "client", "--port", port, "--ca", cert("ca.pem"), NULL);
    tpeer_t *b = tpeer_start(v->ver, "client", "--port", port, "--ca", cert("ca.pem"), NULL);
    tpeer_t *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        /* Emitted on node-ipc's connect, so before the handshake: Node holds it until then. */
        cr_assert_not_null(tpeer_wait(both[i], "connect", 0, PEER_MS), "%s", tpeer_text(both[i]));
        tpeer_send(both[i], "{s:s, s:s, s:{s:i}}", "cmd", "emit", "type", "ping", "data", "n", i);
    }
    for (int i = 0; i < 2; i++) {
        json_t *got = peer_event(both[i], "pong", 0);
        char want[32];
        snprintf(want, sizeof want, "{\"got\":{\"n\":%d}}", i);
        th_assert_json(th_line_data(got), want, "pong");
        assert_legacy_connect(both[i], "CN=localhost");
    }
    cr_assert_eq(th_count(&srec, "connect"), 2, "%s", th_types(&srec));
    cr_assert_eq(th_count(&srec, "ping"), 2, "%s", th_types(&srec));
    cr_assert_str_eq(connect_subject, "(none)", "no client certificate was asked for");
    cr_assert_eq(th_count(&srec, "error"), 0, "%s", th_types(&srec));

    cr_assert_eq(nipc_server_broadcastf(cserver, "news", "{s:s}", "to", "all"), 0);
    for (int i = 0; i < 2; i++)
        th_assert_json(th_line_data(peer_event(both[i], "news", 0)), "{\"to\":\"all\"}", "news");
}

/* ---- (2) a C client verifies a Node server ---------------------------------------------- */

EACH_VERSION(c_client_verifies_a_node_server_events_both_ways)
{
    tpeer_t *p = tpeer_start(v->ver, "server", "--public", cert("server.pem"), "--private",
                             cert("server.key"), NULL);
    int port = tpeer_port(p);
    nipc_config_t cfg;
    tls_config(&cfg, NULL, true);
    cfg.stop_retrying = true;
    nipc_client_t *c = c_client(&cfg, port);
    cr_assert_eq(nipc_client_emitf(c, "ping", "{s:s}", "from", "c"), 0);
    cr_assert(th_rec_wait(&loop, &crec, "connect", 1, PEER_MS), "%s", th_types(&crec));
    /* nipc's connect comes after the handshake: the subject was known in its handler. */
    cr_assert_str_eq(connect_subject, "CN=localhost");
    cr_assert_str_eq(nipc_client_tls_subject(c), "CN=localhost");

    th_assert_json(th_line_data(peer_event(p, "ping", 0)), "{\"from\":\"c\"}", "ping");
    json_t *conn = tpeer_find(p, "connect", 0, NULL);
    cr_assert_not_null(conn, "%s", tpeer_text(p));
    th_assert_json(json_object_get(conn, "subject"), "null", "no client certificate");
    tpeer_send(p, "{s:s, s:s, s:[i,s]}", "cmd", "emit", "type", "pong", "data", 1, "node");
    cr_assert(th_rec_wait(&loop, &crec, "pong", 1, PEER_MS), "%s", th_types(&crec));
    cr_assert_str_eq(rec_data(&crec, "pong", 0), "[1,\"node\"]");
    cr_assert_eq(th_count(&crec, "error"), 0, "%s", th_types(&crec));
    cr_assert_eq(tpeer_count(p, "tlsClientError"), 0, "%s", tpeer_text(p));
}

/* ---- (3) mutual TLS, node-ipc's basic-most-secure set-up, both ways ---------------------- */

EACH_VERSION(mutual_tls_node_client_of_a_c_server_gives_its_subject)
{
    nipc_config_t cfg;
    tls_config(&cfg, "server", true);
    cfg.tls.request_cert = true; /* reject_unauthorized stays true */
    nipc_server_t *s = c_server(&cfg);
    /* basic-most-secure names the server "localhost": the name is verified, not the IP. */
    tpeer_t *p = tpeer_start(v->ver, "client", "--port", port_text(nipc_server_port(s)), "--ca",
                             cert("ca.pem"), "--public", cert("client.pem"), "--private",
                             cert("client.key"), "--servername", "localhost", NULL);
    cr_assert_not_null(tpeer_wait(p, "connect", 0, PEER_MS), "%s", tpeer_text(p));
    tpeer_send(p, "{s:s, s:s, s:s}", "cmd", "emit", "type", "ping", "data", "mutual");
    th_assert_json(th_line_data(peer_event(p, "pong", 0)), "{\"got\":\"mutual\"}", "pong");
    assert_legacy_connect(p, "CN=localhost");
    cr_assert_eq(th_count(&srec, "connect"), 1, "%s", th_types(&srec));
    cr_assert_str_eq(connect_subject, "CN=nipc test client,O=nipc");
    nipc_socket_t *sock = srec.socket[th_find(&srec, "connect", 0)];
    cr_assert_str_eq(nipc_socket_tls_subject(sock), "CN=nipc test client,O=nipc");
}

EACH_VERSION(mutual_tls_c_client_of_a_node_server_is_authorized)
{
    tpeer_t *p = tpeer_start(v->ver, "server", "--public", cert("server.pem"), "--private",
                             cert("server.key"), "--ca", cert("ca.pem"), "--request-cert",
                             "--dhparam", cert("dhparam.pem"), NULL);
    int port = tpeer_port(p);
    nipc_config_t cfg;
    tls_config(&cfg, "client", true);
    cfg.stop_retrying = true;
    nipc_client_t *c = c_client(&cfg, port);
    cr_assert(th_rec_wait(&loop, &crec, "connect", 1, PEER_MS), "%s", th_types(&crec));
    cr_assert_str_eq(connect_subject, "CN=localhost");
    cr_assert_eq(nipc_client_emitf(c, "ping", "{s:b}", "mutual", 1), 0);
    th_assert_json(th_line_data(peer_event(p, "ping", 0)), "{\"mutual\":true}", "ping");
    /* The Node server's connect comes after its handshake, with the client verified. */
    json_t *conn = tpeer_find(p, "connect", 0, NULL);
    cr_assert_not_null(conn, "%s", tpeer_text(p));
    cr_assert(json_is_true(json_object_get(conn, "authorized")), "%s", tpeer_text(p));
    th_assert_json(json_object_get(conn, "subject"), "\"O=nipc,CN=nipc test client\"", "subject");
    tpeer_send(p, "{s:s, s:s, s:s}", "cmd", "emit", "type", "pong", "data", "ok");
    cr_assert(th_rec_wait(&loop, &crec, "pong", 1, PEER_MS), "%s", th_types(&crec));
    cr_assert_str_eq(rec_data(&crec, "pong", 0), "\"ok\"");
}

/* ---- (4) failures ------------------------------------------------------------------------ */

/*
 * A C client, retrying every 20 ms, refuses a Node server presenting `name`.pem: one error
 * with code `want`, then destroy; no connect on either side and no second attempt.
 */
static void c_client_refuses(const char *ver, const char *name, int want)
{
    char pem[32], key[32];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    tpeer_t *p = tpeer_start(ver, "server", "--public", cert(pem), "--private", cert(key), NULL);
    int port = tpeer_port(p);
    nipc_config_t cfg;
    tls_config(&cfg, NULL, true);
    cfg.retry = 20;
    c_client(&cfg, port);
    cr_assert(th_rec_wait(&loop, &crec, "destroy", 1, PEER_MS), "%s: %s", name, th_types(&crec));
    th_run_for(&loop, 200); /* time for retries, were there any */
    int e = th_find(&crec, "error", 0);
    cr_assert_geq(e, 0, "%s: %s", name, th_types(&crec));
    cr_assert_eq(crec.status[e], want, "%s: %s, want %s", name, nipc_err_name(crec.status[e]),
                 nipc_err_name(want));
    cr_assert_eq(th_count(&crec, "error"), 1, "%s: retried: %s", name, th_types(&crec));
    cr_assert_eq(th_count(&crec, "connect"), 0, "%s: %s", name, th_types(&crec));
    /* node-ipc's server publishes nothing for a failed handshake (only Node's own
     * tlsClientError, which it does not listen for, knows of it). */
    cr_assert_eq(tpeer_count(p, "connect"), 0, "%s", tpeer_text(p));
    cr_assert_eq(tpeer_count(p, "socket.disconnected"), 0, "%s", tpeer_text(p));
    cr_assert_eq(tpeer_count(p, "error"), 0, "%s", tpeer_text(p));
    /* The Node server is still there. */
    cr_assert(!p->exited, "%s", tpeer_text(p));
}

EACH_VERSION(c_client_refuses_a_node_server_with_a_wrong_name)
{
    c_client_refuses(v->ver, "wrongname", NIPC_ECERTNAME);
}

EACH_VERSION(c_client_refuses_a_node_server_from_an_unknown_ca)
{
    c_client_refuses(v->ver, "other", NIPC_ECERTUNTRUSTED);
}

/*
 * A Node client trusting only another CA: node-ipc says `connect` (TCP is up), then `error`
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, `disconnect`, `destroy`. The C server sees no `connect`
 * and serves the next, good, client.
 */
EACH_VERSION(node_client_not_trusting_the_c_server_fails_and_the_server_goes_on)
{
    const char *port = plain_c_server();
    tpeer_t *bad = tpeer_start(v->ver, "client", "--port", port, "--ca", cert("ca2.pem"), NULL);
    cr_assert_eq(tpeer_wait_exit(bad, PEER_MS), 1, "%s", tpeer_text(bad));
    json_t *err = tpeer_find(bad, "error", 0, NULL);
    cr_assert_not_null(err, "%s", tpeer_text(bad));
    cr_assert_str_eq(json_string_value(json_object_get(err, "code")),
                     "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "%s", tpeer_text(bad));
    int c_at = -1, e_at = -1;
    cr_assert_not_null(tpeer_find(bad, "connect", 0, &c_at), "%s", tpeer_text(bad));
    tpeer_find(bad, "error", 0, &e_at);
    cr_assert_lt(c_at, e_at, "%s", tpeer_text(bad));
    cr_assert_eq(tpeer_count(bad, "secure"), 0, "%s", tpeer_text(bad));
    cr_assert_not_null(tpeer_find(bad, "destroy", 0, NULL), "%s", tpeer_text(bad));

    /* The C server says why the handshake failed (NIPC_ETLS when observed: Node hangs up
     * without an alert), and never says `connect`. */
    cr_assert(th_rec_wait(&loop, &srec, "error", 1, 2000), "%s", th_types(&srec));
    cr_assert_lt(srec.status[th_find(&srec, "error", 0)], 0);
    cr_assert_eq(th_count(&srec, "connect"), 0, "%s", th_types(&srec));

    tpeer_t *good = tpeer_start(v->ver, "client", "--port", port, "--ca", cert("ca.pem"), NULL);
    cr_assert_not_null(tpeer_wait(good, "connect", 0, PEER_MS), "%s", tpeer_text(good));
    tpeer_send(good, "{s:s, s:s, s:s}", "cmd", "emit", "type", "ping", "data", "again");
    th_assert_json(th_line_data(peer_event(good, "pong", 0)), "{\"got\":\"again\"}", "pong");
    assert_legacy_connect(good, "CN=localhost");
    cr_assert_eq(th_count(&srec, "connect"), 1, "%s", th_types(&srec));
}

/*
 * node-ipc retries a failed handshake for ever, whatever maxRetries says: its `connect`
 * handler, run on every TCP connect, resets retriesRemaining to maxRetries before the
 * handshake fails. With maxRetries 1 a client makes many more than two attempts.
 */
EACH_VERSION(node_client_retries_a_failed_handshake_past_max_retries)
{
    tpeer_t *p = tpeer_start(v->ver, "client", "--port", plain_c_server(), "--ca", cert("ca2.pem"),
                             "--retry", "30", "--max-retries", "1", NULL);
    cr_assert_not_null(tpeer_wait(p, "error", 4, PEER_MS), "%s", tpeer_text(p));
    cr_assert_eq(tpeer_count(p, "destroy"), 0, "%s", tpeer_text(p));
    cr_assert_geq(tpeer_count(p, "connect"), 5, "%s", tpeer_text(p));
    cr_assert_eq(tpeer_count(p, "secure"), 0, "%s", tpeer_text(p));
    cr_assert_eq(th_count(&srec, "connect"), 0, "%s", th_types(&srec));
}

/* ---- node-ipc's weaker set-ups: no verification, and v9's bundled certificate ------------ */

/* T7: a node-ipc client with rejectUnauthorized false (node-ipc's `basic` example) takes a C
 * server's certificate from a CA it does not know, and the events flow. */
EACH_VERSION(unverifying_node_client_reaches_a_c_server_with_any_certificate)
{
    nipc_config_t cfg;
    tls_config(&cfg, "other", false);
    nipc_server_t *s = c_server(&cfg);
    tpeer_t *p = tpeer_start(v->ver, "client", "--port", port_text(nipc_server_port(s)),
                             "--no-reject", NULL);
    json_t *secure = tpeer_wait(p, "secure", 0, PEER_MS);
    cr_assert_not_null(secure, "%s", tpeer_text(p));
    cr_assert(json_is_false(json_object_get(secure, "authorized")), "%s", tpeer_text(p));
    tpeer_send(p, "{s:s, s:s, s:s}", "cmd", "emit", "type", "ping", "data", "anyway");
    th_assert_json(th_line_data(peer_event(p, "pong", 0)), "{\"got\":\"anyway\"}", "pong");
    cr_assert_eq(th_count(&srec, "connect"), 1, "%s", th_types(&srec));
}

/*
 * T6, the legacy quirk, seen from a C client: a node-ipc server given no key and certificate.
 * v9 falls back to its bundled certificate (self-signed, CN DigiNow, expired 2017): a
 * verifying C client refuses it, one with reject_unauthorized false connects. v10 looks for
 * the bundled files outside its package and throws ENOENT from start().
 */
EACH_VERSION(node_server_without_key_and_certificate)
{
    tpeer_t *p = tpeer_start(v->ver, "server", NULL);
    if (strcmp(v->ver, "10") == 0) {
        cr_assert_eq(tpeer_wait_exit(p, PEER_MS), 3, "%s", tpeer_text(p));
        json_t *ex = tpeer_find(p, "exception", 0, NULL);
        cr_assert_not_null(ex, "%s", tpeer_text(p));
        const char *msg = json_string_value(json_object_get(ex, "message"));
        cr_assert(msg != NULL && strstr(msg, "ENOENT") != NULL, "%s", tpeer_text(p));
        cr_assert_eq(tpeer_count(p, "listening"), 0, "%s", tpeer_text(p));
        return;
    }
    int port = tpeer_port(p);
    nipc_config_t cfg;
    tls_config(&cfg, NULL, true);
    cfg.stop_retrying = true;
    c_client(&cfg, port);
    cr_assert(th_rec_wait(&loop, &crec, "destroy", 1, PEER_MS), "%s", th_types(&crec));
    int e = th_find(&crec, "error", 0);
    cr_assert_geq(e, 0, "%s", th_types(&crec));
    /* Self-signed and expired: the chain, checked first, ends at no trusted CA. */
    cr_assert_eq(crec.status[e], NIPC_ECERTUNTRUSTED, "%s", nipc_err_name(crec.status[e]));

    memset(&crec, 0, sizeof crec);
    cfg.tls.reject_unauthorized = false;
    nipc_client_t *c = c_client(&cfg, port);
    cr_assert(th_rec_wait(&loop, &crec, "connect", 1, PEER_MS), "%s", th_types(&crec));
    cr_assert_eq(nipc_client_emitf(c, "ping", "{s:s}", "cert", "bundled"), 0);
    th_assert_json(th_line_data(peer_event(p, "ping", 0)), "{\"cert\":\"bundled\"}", "ping");
    cr_assert_null(nipc_client_tls_subject(c), "an unverified certificate has no subject");
}

/* ---- a failed handshake ---------------------------------------------------------------- */

/*
 * A TLS connection whose handshake fails never connected: the C server publishes its
 * `error` (NIPC_ETLS) and nothing else, no `socket.disconnected` and no `close`, as
 * node-ipc's TLS server (whose socket exists from `secureConnection` on) publishes nothing
 * for it; and it is not counted in nipc_server_socket_count. Found by this suite.
 */
EACH_VERSION(a_failed_handshake_is_not_a_socket_disconnected)
{
    tpeer_t *bad =
        tpeer_start(v->ver, "client", "--port", plain_c_server(), "--ca", cert("ca2.pem"), NULL);
    cr_assert_eq(tpeer_wait_exit(bad, PEER_MS), 1, "%s", tpeer_text(bad));
    th_rec_wait(&loop, &srec, "error", 1, 2000);
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&srec, "connect"), 0, "%s", th_types(&srec));
    cr_assert_eq(th_count(&srec, "socket.disconnected"), 0,
                 "socket.disconnected without connect: %s", th_types(&srec));
    cr_assert_eq(th_count(&srec, "close"), 0, "close without connect: %s", th_types(&srec));
}
