/* SPDX-License-Identifier: MIT */
/*
 * TLS, C to C over real sockets on 127.0.0.1 and ::1 (T1-T6): the handshake before
 * `connect` on both sides, events in order, broadcast, mutual TLS with the peer's subject,
 * each verification failure with its own code and no retry (tls.retry_unverified: retried
 * as max_retries says, until a certificate verifies), tls.servername verified in place of
 * the host, a server without a key, a handshake that stalls, a peer that closes mid-record,
 * and a graceful close that delivers everything queued. Certificates are made at test time
 * by test/support/certs.sh.
 *
 * Where nipc's configuration cannot make a nipc peer do what a case needs, the peer is raw
 * OpenSSL (raw_tls_*): one limited to TLS 1.2, against a nipc side whose min_version is 13
 * (no version in common, both ways), and on both sides of mutual TLS without a client
 * certificate, where TLS 1.2 tells the client less than TLS 1.3 does; and a server that
 * reports the name a client sent (SNI, tls.servername).
 */
#include "../support/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

TH_LOOP_SUITE(tls, 30);

static char certs[96];

static void make_certs(void)
{
    snprintf(certs, sizeof certs, "%s/certs", dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash '%s/test/support/certs.sh' '%s' >/dev/null 2>&1",
             NIPC_SOURCE_DIR, certs);
    cr_assert_eq(system(cmd), 0, "certs.sh failed");
}

static const char *cert(const char *name)
{
    static char bufs[8][160];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 160, "%s/%s", certs, name);
    return b;
}

/* A TLS server config: the test server's key and certificate. */
static void server_cfg(nipc_config_t *cfg, const char *name)
{
    th_config(cfg);
    cfg->tls.enabled = true;
    char key[64];
    snprintf(key, sizeof key, "%.*s.key", (int)(strlen(name) - 4), name);
    cfg->tls.public_cert = cert(name);
    cfg->tls.private_key = cert(key);
}

/* A server that requires client certificates from the test CA (T5). */
static void mtls_server_cfg(nipc_config_t *cfg)
{
    static const char *scas[2];
    server_cfg(cfg, "server.pem");
    scas[0] = cert("ca.pem");
    cfg->tls.trusted_connections = scas;
    cfg->tls.request_cert = true;
}

/* A TLS client config trusting the test CA. */
static const char *cas[2];
static void client_cfg(nipc_config_t *cfg)
{
    th_config(cfg);
    cfg->tls.enabled = true;
    cas[0] = cert("ca.pem");
    cas[1] = NULL;
    cfg->tls.trusted_connections = cas;
    cfg->stop_retrying = true;
}

typedef struct side {
    nipc_t *ipc;
    nipc_server_t *server;
    nipc_client_t *client;
    th_rec_t rec;
    bool up;
} side_t;

static void serve(side_t *s, const nipc_config_t *cfg, const char *host)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(nipc_new(&s->ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_serve_net(s->ipc, host, 0, NIPC_TCP, &s->server), 0);
    nipc_server_on(s->server, NIPC_EVENT_ANY, th_record, &s->rec);
    int err = nipc_server_start(s->server);
    cr_assert_eq(err, 0, "start: %s", nipc_strerror(err));
}

static void connect_to(side_t *c, const nipc_config_t *cfg, const side_t *srv, const char *host)
{
    memset(c, 0, sizeof *c);
    cr_assert_eq(nipc_new(&c->ipc, &loop, cfg), 0);
    int err = nipc_connect_to_net(c->ipc, "s", host, nipc_server_port(srv->server), &c->client);
    cr_assert_eq(err, 0, "connect: %s", nipc_strerror(err));
    nipc_client_on(c->client, NIPC_EVENT_ANY, th_record, &c->rec);
    nipc_client_on(c->client, "destroy", th_record, &c->rec);
    nipc_client_on(c->client, "connect", th_flag, &c->up);
}

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

/* ---- a raw OpenSSL peer --------------------------------------------------------------------
 *
 * For what nipc's configuration cannot make a nipc peer do: speak TLS 1.2 at most, or report
 * the name its client sent (SNI). It verifies nothing unless told; its socket is
 * non-blocking, and its handshake runs the loop while it waits, so the nipc side goes on.
 */
typedef struct raw_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    unsigned long err; /* OpenSSL's first error of a failed handshake; 0: it timed out */
} raw_tls_t;

/* max_version: TLS1_2_VERSION, or 0 for OpenSSL's highest. */
static void raw_tls_init(raw_tls_t *r, bool server, int max_version)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    r->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    cr_assert_not_null(r->ctx);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_NONE, NULL);
    if (max_version != 0)
        cr_assert(SSL_CTX_set_max_proto_version(r->ctx, max_version));
}

/* The key and certificate of certs.sh's `name` (e.g. "server"). */
static void raw_tls_use(raw_tls_t *r, const char *name)
{
    char pem[32], key[32];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(r->ctx, cert(pem)), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(r->ctx, cert(key), SSL_FILETYPE_PEM), 1);
}

/* A server that requires a client certificate from the test CA, as nipc's mutual TLS does. */
static void raw_tls_require_client_cert(raw_tls_t *r)
{
    cr_assert_eq(SSL_CTX_load_verify_locations(r->ctx, cert("ca.pem"), NULL), 1);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
}

/* A session on the connected socket fd, which the peer owns from now on. */
static void raw_tls_start(raw_tls_t *r, int fd, bool server)
{
    r->fd = fd;
    r->ssl = SSL_new(r->ctx);
    cr_assert_not_null(r->ssl);
    cr_assert(SSL_set_fd(r->ssl, fd));
    if (server)
        SSL_set_accept_state(r->ssl);
    else
        SSL_set_connect_state(r->ssl);
}

/* Drives the handshake for up to ms, running the loop meanwhile: true once it is done;
 * false with r->err set when it failed (its alert is sent by then). */
static bool raw_tls_handshake(raw_tls_t *r, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    for (;;) {
        ERR_clear_error();
        int rc = SSL_do_handshake(r->ssl);
        if (rc == 1)
            return true;
        int e = SSL_get_error(r->ssl, rc);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            r->err = ERR_peek_error();
            ERR_clear_error();
            return false;
        }
        ERR_clear_error();
        if (uv_hrtime() / 1000000 >= end) {
            r->err = 0;
            return false;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        struct pollfd p = {r->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0};
        poll(&p, 1, 1);
    }
}

/* The reason of the failed handshake, for assertions and their messages. */
static int raw_tls_reason(const raw_tls_t *r)
{
    return ERR_GET_REASON(r->err);
}

static const char *raw_tls_why(const raw_tls_t *r)
{
    static char s[256];
    if (r->err == 0)
        return "timed out";
    ERR_error_string_n(r->err, s, sizeof s);
    return s;
}

/* Ends the session and closes the socket; the context stays for another. */
static void raw_tls_end(raw_tls_t *r)
{
    if (r->ssl != NULL)
        SSL_free(r->ssl);
    r->ssl = NULL;
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static void raw_tls_free(raw_tls_t *r)
{
    raw_tls_end(r);
    SSL_CTX_free(r->ctx);
    r->ctx = NULL;
}

/* A raw TLS listener on 127.0.0.1, port 0: its fd, and *port. */
static int raw_listen(int *port)
{
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    return th_raw_listen_any(&tcp4, dir, "unused", port);
}

/* A nipc client of ccfg to the raw listener on port. */
static void connect_raw(side_t *c, const nipc_config_t *cfg, int port)
{
    memset(c, 0, sizeof *c);
    cr_assert_eq(nipc_new(&c->ipc, &loop, cfg), 0);
    int err = nipc_connect_to_net(c->ipc, "s", "127.0.0.1", port, &c->client);
    cr_assert_eq(err, 0, "connect: %s", nipc_strerror(err));
    nipc_client_on(c->client, NIPC_EVENT_ANY, th_record, &c->rec);
    nipc_client_on(c->client, "destroy", th_record, &c->rec);
    nipc_client_on(c->client, "connect", th_flag, &c->up);
}

/* The raw server's next connection, accepted within 5 s, as a session of r. */
static void raw_accept(raw_tls_t *r, int lfd)
{
    int fd = th_raw_accept(&loop, lfd, 5000);
    cr_assert_geq(fd, 0, "the nipc client did not connect");
    raw_tls_start(r, fd, true);
}

static void echo(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "echo", ev->data);
}

static void round_trip(const char *host)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    client_cfg(&ccfg);
    side_t srv, cl;
    serve(&srv, &scfg, host);
    nipc_server_on(srv.server, "ping", echo, NULL);
    connect_to(&cl, &ccfg, &srv, host);
    /* Emitted before the handshake: kept, sent once it is done. */
    cr_assert_eq(nipc_client_emitf(cl.client, "ping", "{s:s}", "x", "early"), 0);
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s: no connect (%s)", host, th_types(&cl.rec));
    cr_assert(wait_count(&cl.rec, "echo", 1, 5000), "%s: %s", host, th_types(&cl.rec));
    cr_assert_str_eq(cl.rec.data[th_find(&cl.rec, "echo", 0)], "{\"x\":\"early\"}");
    cr_assert_eq(th_count(&srv.rec, "connect"), 1);
    nipc_socket_t *sock = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    cr_assert_null(nipc_socket_tls_subject(sock), "no client certificate was sent");
    cr_assert_str_eq(nipc_client_tls_subject(cl.client), "CN=localhost");
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(tls, t1_t4_round_trip_verified_over_ipv4)
{
    round_trip("127.0.0.1");
}

Test(tls, t1_t4_round_trip_verified_over_ipv6)
{
    round_trip("::1");
}

static void count_in_order(const nipc_event_t *ev, void *arg)
{
    int *next = arg;
    if (json_integer_value(json_object_get(ev->data, "i")) == *next)
        ++*next;
}

Test(tls, a_hundred_thousand_events_arrive_once_and_in_order)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    client_cfg(&ccfg);
    ccfg.max_queued_bytes = 0;
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    int next = 0;
    nipc_server_on(srv.server, "n", count_in_order, &next);
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000));
    for (int i = 0; i < 100000; i++)
        cr_assert_eq(nipc_client_emitf(cl.client, "n", "{s:i}", "i", i), 0);
    uint64_t end = uv_hrtime() / 1000000 + 20000;
    while (next < 100000 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    cr_assert_eq(next, 100000, "%d events in order", next);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(tls, s14_broadcast_reaches_every_tls_client)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    client_cfg(&ccfg);
    side_t srv, c[3];
    serve(&srv, &scfg, "127.0.0.1");
    for (int i = 0; i < 3; i++) {
        connect_to(&c[i], &ccfg, &srv, "127.0.0.1");
        cr_assert(th_run_until(&loop, &c[i].up, 5000));
    }
    cr_assert(wait_count(&srv.rec, "connect", 3, 5000));
    cr_assert_eq(nipc_server_broadcastf(srv.server, "news", "{s:i}", "n", 7), 0);
    for (int i = 0; i < 3; i++)
        cr_assert(wait_count(&c[i].rec, "news", 1, 5000), "client %d", i);
    for (int i = 0; i < 3; i++)
        nipc_free(c[i].ipc);
    nipc_free(srv.ipc);
}

Test(tls, t5_mutual_tls_gives_the_server_the_client_subject)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    mtls_server_cfg(&scfg);
    client_cfg(&ccfg);
    ccfg.tls.public_cert = cert("client.pem");
    ccfg.tls.private_key = cert("client.key");
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s", th_types(&cl.rec));
    cr_assert(wait_count(&srv.rec, "connect", 1, 5000), "%s", th_types(&srv.rec));
    nipc_socket_t *sock = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    cr_assert_str_eq(nipc_socket_tls_subject(sock), "CN=nipc test client,O=nipc");
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* A failure the client must report by its code, then destroy without a retry (by default;
 * node-ipc retries every 500 ms for ever). servername: the client's tls.servername. */
static void expect_failure_named(const char *server_cert, const char *servername, int want,
                                 bool client_cert_too)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, server_cert);
    static const char *scas[2];
    if (client_cert_too) {
        scas[0] = cert("ca.pem");
        scfg.tls.trusted_connections = scas;
        scfg.tls.request_cert = true;
    }
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    ccfg.tls.servername = servername;
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s: %s", server_cert, th_types(&cl.rec));
    int e = th_find(&cl.rec, "error", 0);
    cr_assert_geq(e, 0, "%s: %s", server_cert, th_types(&cl.rec));
    cr_assert_eq(cl.rec.status[e], want, "%s: %s, want %s", server_cert,
                 nipc_err_name(cl.rec.status[e]), nipc_err_name(want));
    cr_assert_eq(th_count(&cl.rec, "error"), 1, "%s: retried (%s)", server_cert, th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "connect"), 0, "%s", server_cert);
    cr_assert_eq(th_count(&srv.rec, "connect"), 0, "%s", server_cert);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

static void expect_failure(const char *server_cert, int want, bool client_cert_too)
{
    expect_failure_named(server_cert, NULL, want, client_cert_too);
}

Test(tls, t4_an_expired_certificate_is_necertexpired)
{
    expect_failure("expired.pem", NIPC_ECERTEXPIRED, false);
}

Test(tls, t4_an_unknown_ca_is_necertuntrusted)
{
    expect_failure("other.pem", NIPC_ECERTUNTRUSTED, false);
}

Test(tls, t4_a_wrong_name_is_necertname)
{
    expect_failure("wrongname.pem", NIPC_ECERTNAME, false);
}

/*
 * tls.servername is the name a client verifies instead of the host it connects to (T4):
 * server.pem names localhost, 127.0.0.1 and ::1, wrongname.pem only elsewhere.example.
 * Connecting to 127.0.0.1, servername elsewhere.example verifies wrongname.pem (which the
 * host alone does not: t4_a_wrong_name_is_necertname) and fails server.pem (which the host
 * alone verifies).
 */
Test(tls, t4_servername_is_verified_in_place_of_the_host)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "wrongname.pem");
    client_cfg(&ccfg);
    ccfg.tls.servername = "elsewhere.example";
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s", th_types(&cl.rec));
    cr_assert_str_eq(nipc_client_tls_subject(cl.client), "CN=elsewhere.example");
    cr_assert(wait_count(&srv.rec, "connect", 1, 5000), "%s", th_types(&srv.rec));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(tls, t4_a_servername_the_certificate_does_not_hold_is_necertname)
{
    expect_failure_named("server.pem", "elsewhere.example", NIPC_ECERTNAME, false);
}

/* The server sees tls.servername as SNI; with none, the host, an IP literal here, is not
 * sent (RFC 6066 section 3 allows host names only). nipc's API does not show a server the
 * SNI, so the server is raw OpenSSL. */
Test(tls, servername_is_sent_as_sni_and_an_ip_host_is_not)
{
    make_certs();
    int port;
    int lfd = raw_listen(&port);
    static const char *const names[] = {"elsewhere.example", NULL};
    static const char *const certs_of[] = {"wrongname", "server"};
    for (int i = 0; i < 2; i++) {
        raw_tls_t r;
        raw_tls_init(&r, true, 0);
        raw_tls_use(&r, certs_of[i]);
        nipc_config_t ccfg;
        client_cfg(&ccfg);
        ccfg.tls.servername = names[i];
        side_t cl;
        connect_raw(&cl, &ccfg, port);
        raw_accept(&r, lfd);
        cr_assert(raw_tls_handshake(&r, 5000), "%s: %s", certs_of[i], raw_tls_why(&r));
        const char *sni = SSL_get_servername(r.ssl, TLSEXT_NAMETYPE_host_name);
        if (names[i] != NULL) {
            cr_assert_not_null(sni, "no SNI sent");
            cr_assert_str_eq(sni, names[i]);
        } else {
            cr_assert_null(sni, "the IP literal was sent as SNI: %s", sni);
        }
        cr_assert(th_run_until(&loop, &cl.up, 5000), "%s: %s", certs_of[i], th_types(&cl.rec));
        nipc_free(cl.ipc);
        raw_tls_free(&r);
    }
    close(lfd);
}

/*
 * No TLS version in common, through sockets (the engine's no_protocol_version_in_common
 * holds both directions in memory). nipc's configuration has a floor (min_version) and no
 * ceiling, so the peer that speaks TLS 1.2 at most is a raw OpenSSL one. Either way the
 * nipc side's `error` is NIPC_ETLSVERSION, and the peer is told by a protocol_version
 * alert; the client does not retry.
 */
Test(tls, a_tls12_client_to_a_min_version_13_server_is_netlsversion)
{
    make_certs();
    nipc_config_t scfg;
    server_cfg(&scfg, "server.pem");
    scfg.tls.min_version = 13;
    side_t srv;
    serve(&srv, &scfg, "127.0.0.1");
    raw_tls_t r;
    raw_tls_init(&r, false, TLS1_2_VERSION);
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    raw_tls_start(&r, th_raw_connect_server(&tcp4, srv.server), false);
    cr_assert_not(raw_tls_handshake(&r, 5000), "a TLS 1.2 client got through");
    cr_assert_eq(raw_tls_reason(&r), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, "the client: %s",
                 raw_tls_why(&r));
    cr_assert(wait_count(&srv.rec, "error", 1, 5000), "%s", th_types(&srv.rec));
    int e = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[e], NIPC_ETLSVERSION, "%s", nipc_err_name(srv.rec.status[e]));
    cr_assert_not_null(srv.rec.socket[e], "the error names no socket");
    cr_assert_eq(th_count(&srv.rec, "connect"), 0, "%s", th_types(&srv.rec));
    raw_tls_free(&r);
    nipc_free(srv.ipc);
}

Test(tls, a_min_version_13_client_to_a_tls12_server_is_netlsversion)
{
    make_certs();
    int port;
    int lfd = raw_listen(&port);
    raw_tls_t r;
    raw_tls_init(&r, true, TLS1_2_VERSION);
    raw_tls_use(&r, "server");
    nipc_config_t ccfg;
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    ccfg.tls.min_version = 13;
    side_t cl;
    connect_raw(&cl, &ccfg, port);
    raw_accept(&r, lfd);
    cr_assert_not(raw_tls_handshake(&r, 5000), "a TLS 1.3 client got through");
    cr_assert_eq(raw_tls_reason(&r), SSL_R_UNSUPPORTED_PROTOCOL, "the server: %s", raw_tls_why(&r));
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    int e = th_find(&cl.rec, "error", 0);
    cr_assert_geq(e, 0, "%s", th_types(&cl.rec));
    cr_assert_eq(cl.rec.status[e], NIPC_ETLSVERSION, "%s", nipc_err_name(cl.rec.status[e]));
    cr_assert_eq(th_count(&cl.rec, "error"), 1, "retried: %s", th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "connect"), 0, "%s", th_types(&cl.rec));
    raw_tls_free(&r);
    close(lfd);
    nipc_free(cl.ipc);
}

/*
 * No client certificate where the server requires one (T5). Two nipc peers speak TLS 1.3
 * (OpenSSL 3's highest), whose certificate_required alert names the cause: both sides say
 * NIPC_ENOPEERCERT. The client's handshake is over before the server has judged it, so the
 * client sees `connect` first, then the error, and does not retry (ENOPEERCERT is final).
 */
Test(tls, t5_a_client_without_a_certificate_is_refused)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    mtls_server_cfg(&scfg);
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    int e = th_find(&cl.rec, "error", 0);
    cr_assert_geq(e, 0, "%s", th_types(&cl.rec));
    cr_assert_eq(cl.rec.status[e], NIPC_ENOPEERCERT, "%s", nipc_err_name(cl.rec.status[e]));
    cr_assert_eq(th_count(&cl.rec, "error"), 1, "retried: %s", th_types(&cl.rec));
    int c = th_find(&cl.rec, "connect", 0);
    cr_assert(c >= 0 && c < e, "TLS 1.3: `connect`, then the error: %s", th_types(&cl.rec));
    cr_assert(wait_count(&srv.rec, "error", 1, 5000), "%s", th_types(&srv.rec));
    int se = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[se], NIPC_ENOPEERCERT, "%s", nipc_err_name(srv.rec.status[se]));
    cr_assert_eq(th_count(&srv.rec, "connect"), 0);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/*
 * The same over TLS 1.2, whose only alert for it is handshake_failure, with raw OpenSSL
 * peers limited to 1.2. The server knows what it missed: NIPC_ENOPEERCERT. The client only
 * hears handshake_failure: NIPC_ETLS, with no `connect` (1.2 ends the client's handshake
 * after the server's Finished, which never comes), and NIPC_ETLS is not among the final
 * codes, so the client retries it as any failed attempt (here max_retries 1: two attempts).
 */
Test(tls, t5_over_tls12_only_the_server_can_name_the_missing_certificate)
{
    make_certs();
    nipc_config_t scfg;
    mtls_server_cfg(&scfg);
    side_t srv;
    serve(&srv, &scfg, "127.0.0.1");
    raw_tls_t r;
    raw_tls_init(&r, false, TLS1_2_VERSION);
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    raw_tls_start(&r, th_raw_connect_server(&tcp4, srv.server), false);
    cr_assert_not(raw_tls_handshake(&r, 5000), "a client without a certificate got through");
    cr_assert_eq(raw_tls_reason(&r), SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE, "the client: %s",
                 raw_tls_why(&r));
    cr_assert(wait_count(&srv.rec, "error", 1, 5000), "%s", th_types(&srv.rec));
    int se = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[se], NIPC_ENOPEERCERT, "%s", nipc_err_name(srv.rec.status[se]));
    cr_assert_eq(th_count(&srv.rec, "connect"), 0);
    raw_tls_free(&r);
    nipc_free(srv.ipc);

    int port;
    int lfd = raw_listen(&port);
    raw_tls_init(&r, true, TLS1_2_VERSION);
    raw_tls_use(&r, "server");
    raw_tls_require_client_cert(&r);
    nipc_config_t ccfg;
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    ccfg.max_retries = 1;
    side_t cl;
    connect_raw(&cl, &ccfg, port);
    for (int attempt = 1; attempt <= 2; attempt++) {
        raw_accept(&r, lfd);
        cr_assert_not(raw_tls_handshake(&r, 5000), "attempt %d: no certificate got through",
                      attempt);
        cr_assert_eq(raw_tls_reason(&r), SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE,
                     "the server, attempt %d: %s", attempt, raw_tls_why(&r));
        cr_assert(wait_count(&cl.rec, "error", attempt, 5000), "%s", th_types(&cl.rec));
        raw_tls_end(&r);
    }
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    for (int k = 0; k < 2; k++) {
        int e = th_find(&cl.rec, "error", k);
        cr_assert_eq(cl.rec.status[e], NIPC_ETLS, "attempt %d: %s", k + 1,
                     nipc_err_name(cl.rec.status[e]));
    }
    cr_assert_eq(th_count(&cl.rec, "error"), 2, "%s", th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "connect"), 0, "%s", th_types(&cl.rec));
    raw_tls_free(&r);
    close(lfd);
    nipc_free(cl.ipc);
}

Test(tls, t6_a_server_without_key_and_certificate_fails_at_start)
{
    make_certs();
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.tls.enabled = true;
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EINVAL);
    nipc_free(ipc);
}

/* tls.enabled where nipc has no TLS (a Unix socket, UDP) is refused by the call that would
 * otherwise talk plaintext, never ignored: node-ipc's Unix socket client of a tls config is
 * plaintext. A plaintext server on the path hears nothing from such a client. */
Test(tls, tls_on_a_unix_socket_or_udp_is_refused_never_plaintext)
{
    nipc_config_t plain, cfg;
    th_config(&plain);
    nipc_t *pipc;
    nipc_server_t *ps;
    th_rec_t prec = {0};
    cr_assert_eq(nipc_new(&pipc, &loop, &plain), 0);
    cr_assert_eq(nipc_serve(pipc, th_path(dir, "plain.sock"), &ps), 0);
    nipc_server_on(ps, NIPC_EVENT_ANY, th_record, &prec);
    cr_assert_eq(nipc_server_start(ps), 0);

    th_config(&cfg);
    cfg.tls.enabled = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c = (nipc_client_t *)1;
    cr_assert_eq(nipc_connect_to(ipc, "plain", th_path(dir, "plain.sock"), &c), UV_ENOTSUP);
    cr_assert_null(c);
    cr_assert_null(nipc_of(ipc, "plain"));
    nipc_server_t *s = (nipc_server_t *)1;
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "tls.sock"), &s), UV_ENOTSUP);
    cr_assert_null(s);
    s = (nipc_server_t *)1;
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), UV_ENOTSUP);
    cr_assert_null(s);
    cr_assert_eq(nipc_serve_net(ipc, "::1", 0, NIPC_UDP6, &s), UV_ENOTSUP);
    /* An inherited Unix socket likewise; the descriptor stays the caller's. */
    int fd = th_raw_listen(th_path(dir, "fd.sock"));
    cr_assert_eq(nipc_serve_fd(ipc, fd, &s), UV_ENOTSUP);
    cr_assert_null(s);
    cr_assert_neq(fcntl(fd, F_GETFD), -1, "the refused descriptor was closed");
    close(fd);
    cr_assert_null(nipc_server(ipc));
    /* TCP is where tls applies. */
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), 0);

    th_run_for(&loop, 50);
    cr_assert_str_eq(th_types(&prec), "start", "the plaintext server heard: %s", th_types(&prec));
    nipc_free(ipc);
    nipc_free(pipc);
}

/* A peer that connects and never speaks is dropped after handshake_timeout_ms; one that
 * sends half a record and vanishes costs only its own connection. */
Test(tls, a_stalled_handshake_and_a_peer_gone_mid_record_are_dropped)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    /* Longer than the client's handshake, which takes a second under valgrind. */
    scfg.tls.handshake_timeout_ms = th_ms(200);
    client_cfg(&ccfg);
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    int silent = th_raw_connect_server(&tcp4, srv.server);
    cr_assert(th_raw_closed(&loop, silent, th_ms(3000)), "the silent peer was kept");
    close(silent);
    int half = th_raw_connect_server(&tcp4, srv.server);
    static const char record_start[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    th_raw_write(half, record_start, sizeof record_start - 1);
    th_run_for(&loop, 20);
    close(half);
    th_run_for(&loop, 20);
    /* The server goes on. */
    nipc_server_on(srv.server, "ping", echo, NULL);
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s", th_types(&cl.rec));
    cr_assert_eq(nipc_client_emit(cl.client, "ping", NULL), 0);
    cr_assert(wait_count(&cl.rec, "echo", 1, 5000));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

static void reply_and_close(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        nipc_server_emitf(ev->server, ev->socket, "r", "{s:i}", "i", i);
    cr_assert_eq(nipc_socket_close(ev->socket, true), 0);
}

Test(tls, a_graceful_close_delivers_everything_queued)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    client_cfg(&ccfg);
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    nipc_server_on(srv.server, "go", reply_and_close, NULL);
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000));
    cr_assert_eq(nipc_client_emit(cl.client, "go", NULL), 0);
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "r"), 1000, "%d of 1000", th_count(&cl.rec, "r"));
    cr_assert_eq(th_count(&srv.rec, "drop"), 0);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* A plaintext node-ipc frame to a TLS server is no handshake: the connection fails with
 * NIPC_ETLS and nothing is dispatched (a TLS setting never falls back to plaintext). */
Test(tls, t1_plaintext_to_a_tls_server_is_refused)
{
    make_certs();
    nipc_config_t scfg;
    server_cfg(&scfg, "server.pem");
    side_t srv;
    serve(&srv, &scfg, "127.0.0.1");
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    int fd = th_raw_connect_server(&tcp4, srv.server);
    static const char frame[] = "{\"type\":\"ping\",\"data\":{}}\f";
    th_raw_write(fd, frame, sizeof frame - 1);
    cr_assert(th_raw_closed(&loop, fd, 3000), "the plaintext peer was kept");
    close(fd);
    cr_assert(wait_count(&srv.rec, "error", 1, 2000), "%s", th_types(&srv.rec));
    cr_assert_eq(srv.rec.status[th_find(&srv.rec, "error", 0)], NIPC_ETLS);
    cr_assert_eq(th_count(&srv.rec, "ping"), 0);
    cr_assert_eq(th_count(&srv.rec, "connect"), 0);
    nipc_free(srv.ipc);
}

/* node-ipc 14's assured mode as one checked switch: the allowlist and limits always, mutual
 * TLS on the network, no UDP; a Unix socket needs no TLS. */
Test(tls, assured_requires_the_allowlist_the_limits_and_mutual_tls)
{
    make_certs();
    static const char *const allowed[] = {"ping", "echo", NULL};
    nipc_config_t cfg;
    nipc_t *ipc = NULL;
    th_config(&cfg);
    cfg.assured = true;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL, "no allowlist");
    cfg.allowed_events = allowed;
    cfg.max_event_name = 0;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL, "no event-name limit");
    cfg.max_event_name = 256;
    cfg.message_timeout_ms = 0;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL, "no partial-frame timeout");
    cfg.message_timeout_ms = 30000;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_server_t *s;
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), UV_EINVAL, "plain TCP");
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), UV_EINVAL, "UDP");
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to_net(ipc, "x", "127.0.0.1", 9, &c), UV_EINVAL, "plain TCP");
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "assured.sock"), &s), 0, "a Unix socket");
    nipc_free(ipc);

    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "server.pem");
    static const char *scas[2];
    scas[0] = cert("ca.pem");
    scfg.tls.trusted_connections = scas;
    scfg.assured = true;
    scfg.allowed_events = allowed;
    cr_assert_eq(nipc_new(&ipc, &loop, &scfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), UV_EINVAL, "no request_cert");
    nipc_free(ipc);
    scfg.tls.request_cert = true;
    scfg.tls.reject_unauthorized = false; /* asks for client certificates, enforces nothing */
    cr_assert_eq(nipc_new(&ipc, &loop, &scfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), UV_EINVAL,
                 "a server with reject_unauthorized off");
    nipc_free(ipc);
    scfg.tls.reject_unauthorized = true;
    client_cfg(&ccfg);
    ccfg.assured = true;
    ccfg.allowed_events = allowed;
    cr_assert_eq(nipc_new(&ipc, &loop, &ccfg), 0);
    cr_assert_eq(nipc_connect_to_net(ipc, "x", "127.0.0.1", 9, &c), UV_EINVAL, "no certificate");
    nipc_free(ipc);
    ccfg.tls.public_cert = cert("client.pem");
    ccfg.tls.private_key = cert("client.key");
    ccfg.tls.reject_unauthorized = false; /* a certificate of its own, but trusts any server */
    cr_assert_eq(nipc_new(&ipc, &loop, &ccfg), 0);
    cr_assert_eq(nipc_connect_to_net(ipc, "x", "127.0.0.1", 9, &c), UV_EINVAL,
                 "a client with reject_unauthorized off");
    nipc_free(ipc);
    ccfg.tls.reject_unauthorized = true;
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    nipc_server_on(srv.server, "ping", echo, NULL);
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s", th_types(&cl.rec));
    cr_assert_eq(nipc_client_emit(cl.client, "ping", NULL), 0);
    cr_assert_eq(nipc_client_emit(cl.client, "other", NULL), NIPC_ENOTALLOWED);
    cr_assert(wait_count(&cl.rec, "echo", 1, 5000), "%s", th_types(&cl.rec));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* TLS 1.3 judges a client's certificate after the client's handshake has ended: the refusal
 * comes after `connect`, and is final all the same (it used to be retried for ever). */
Test(tls, t5_a_refused_client_certificate_is_not_retried)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    mtls_server_cfg(&scfg);
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    ccfg.tls.public_cert = cert("client2.pem"); /* from the CA the server does not trust */
    ccfg.tls.private_key = cert("client2.key");
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    int errors = th_count(&cl.rec, "error");
    th_run_for(&loop, 200); /* ten retry intervals: none may come */
    cr_assert_eq(th_count(&srv.rec, "error"), 1, "retried: %s", th_types(&srv.rec));
    cr_assert_eq(th_count(&cl.rec, "error"), errors, "retried: %s", th_types(&cl.rec));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/*
 * tls.retry_unverified (T4). Off, the default, a certificate that fails verification ends
 * the client's retrying at its first `error`, whatever max_retries says. On, the client
 * retries as node-ipc does: max_retries more attempts, each the server's failed handshake
 * too, or, retrying for ever, until the server presents a certificate that verifies.
 */
static void untrusted_server(side_t *srv, side_t *cl, bool retry_unverified, long max_retries)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    server_cfg(&scfg, "other.pem"); /* from the CA the client does not trust */
    client_cfg(&ccfg);
    ccfg.stop_retrying = false;
    ccfg.retry = 20;
    ccfg.max_retries = max_retries;
    ccfg.tls.retry_unverified = retry_unverified;
    serve(srv, &scfg, "127.0.0.1");
    connect_to(cl, &ccfg, srv, "127.0.0.1");
}

static void all_untrusted(const th_rec_t *r, const char *who)
{
    for (int k = 0; k < th_count(r, "error"); k++) {
        int e = th_find(r, "error", k);
        cr_assert_eq(r->status[e], NIPC_ECERTUNTRUSTED, "%s, error %d: %s", who, k,
                     nipc_err_name(r->status[e]));
    }
}

Test(tls, t4_without_retry_unverified_a_failed_verification_ends_retrying)
{
    side_t srv, cl;
    untrusted_server(&srv, &cl, false, NIPC_RETRY_FOREVER);
    cr_assert(wait_count(&cl.rec, "destroy", 1, th_ms(5000)), "%s", th_types(&cl.rec));
    th_run_for(&loop, 200); /* ten retry intervals: no attempt may come */
    cr_assert_eq(th_count(&cl.rec, "error"), 1, "retried: %s", th_types(&cl.rec));
    cr_assert_eq(th_count(&srv.rec, "error"), 1, "retried: %s", th_types(&srv.rec));
    all_untrusted(&cl.rec, "client");
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(tls, t4_retry_unverified_retries_max_retries_times)
{
    side_t srv, cl;
    untrusted_server(&srv, &cl, true, 3);
    cr_assert(wait_count(&cl.rec, "destroy", 1, th_ms(5000)), "%s", th_types(&cl.rec));
    th_run_for(&loop, 100);
    cr_assert_eq(th_count(&cl.rec, "error"), 4, "1 + max_retries attempts: %s", th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "disconnect"), 4, "%s", th_types(&cl.rec));
    cr_assert_eq(th_count(&cl.rec, "connect"), 0, "%s", th_types(&cl.rec));
    cr_assert_eq(th_count(&srv.rec, "error"), 4, "handshakes: %s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "connect"), 0, "%s", th_types(&srv.rec));
    all_untrusted(&cl.rec, "client");
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

Test(tls, t4_retry_unverified_connects_once_the_certificate_verifies)
{
    side_t srv, cl;
    untrusted_server(&srv, &cl, true, NIPC_RETRY_FOREVER);
    cr_assert(wait_count(&cl.rec, "error", 3, th_ms(5000)), "%s", th_types(&cl.rec));
    all_untrusted(&cl.rec, "client");
    int port = nipc_server_port(srv.server);
    nipc_free(srv.ipc);
    /* The same port, now with a certificate from the CA the client trusts. */
    nipc_config_t scfg;
    server_cfg(&scfg, "server.pem");
    memset(&srv, 0, sizeof srv);
    cr_assert_eq(nipc_new(&srv.ipc, &loop, &scfg), 0);
    cr_assert_eq(nipc_serve_net(srv.ipc, "127.0.0.1", port, NIPC_TCP, &srv.server), 0);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, th_record, &srv.rec);
    int err = nipc_server_start(srv.server);
    cr_assert_eq(err, 0, "start on port %d: %s", port, nipc_strerror(err));
    cr_assert(th_run_until(&loop, &cl.up, 5000), "%s", th_types(&cl.rec));
    cr_assert_str_eq(nipc_client_tls_subject(cl.client), "CN=localhost");
    cr_assert_eq(th_count(&cl.rec, "destroy"), 0, "%s", th_types(&cl.rec));
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
}

/* A client configuration that cannot work is refused once, at nipc_new, not at every
 * attempt. */
Test(tls, a_bad_client_configuration_fails_nipc_new)
{
    nipc_config_t cfg;
    client_cfg(&cfg);
    cas[0] = th_path(dir, "no-such-ca.pem");
    nipc_t *ipc = (nipc_t *)1;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_ENOENT);
    cr_assert_null(ipc);
}
