/* SPDX-License-Identifier: MIT */
/*
 * TLS, C to C over real sockets on 127.0.0.1 and ::1 (T1-T6): the handshake before
 * `connect` on both sides, events in order, broadcast, mutual TLS with the peer's subject,
 * each verification failure with its own code and no retry, a server without a key, a
 * handshake that stalls, a peer that closes mid-record, and a graceful close that delivers
 * everything queued. Certificates are made at test time by test/support/certs.sh.
 */
#include "../support/transport.h"

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
 * node-ipc retries every 500 ms for ever). */
static void expect_failure(const char *server_cert, int want, bool client_cert_too)
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

Test(tls, t5_a_client_without_a_certificate_is_refused)
{
    make_certs();
    nipc_config_t scfg, ccfg;
    mtls_server_cfg(&scfg);
    client_cfg(&ccfg);
    side_t srv, cl;
    serve(&srv, &scfg, "127.0.0.1");
    connect_to(&cl, &ccfg, &srv, "127.0.0.1");
    cr_assert(wait_count(&cl.rec, "destroy", 1, 5000), "%s", th_types(&cl.rec));
    int e = th_find(&cl.rec, "error", 0);
    cr_assert_geq(e, 0, "%s", th_types(&cl.rec));
    cr_assert_lt(cl.rec.status[e], 0);
    cr_assert(wait_count(&srv.rec, "error", 1, 5000), "%s", th_types(&srv.rec));
    int se = th_find(&srv.rec, "error", 0);
    cr_assert_eq(srv.rec.status[se], NIPC_ENOPEERCERT, "%s", nipc_err_name(srv.rec.status[se]));
    cr_assert_eq(th_count(&srv.rec, "connect"), 0);
    nipc_free(cl.ipc);
    nipc_free(srv.ipc);
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
    client_cfg(&ccfg);
    ccfg.assured = true;
    ccfg.allowed_events = allowed;
    cr_assert_eq(nipc_new(&ipc, &loop, &ccfg), 0);
    cr_assert_eq(nipc_connect_to_net(ipc, "x", "127.0.0.1", 9, &c), UV_EINVAL, "no certificate");
    nipc_free(ipc);
    ccfg.tls.public_cert = cert("client.pem");
    ccfg.tls.private_key = cert("client.key");
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
