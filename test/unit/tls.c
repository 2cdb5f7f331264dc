/* SPDX-License-Identifier: MIT */
/*
 * The TLS engine with no socket: a client and a server engine pass their ciphertext to
 * each other in memory. Handshakes, data both ways (1 MiB, and fed in every small split),
 * close_notify, the checks made by default, each failure with its code on both sides, the
 * configurations refused and why, and out-of-memory. The keys and certificates are made
 * once per run by test/support/certs.sh into a temporary directory.
 */
#include "transport/tls.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <openssl/err.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the certificates ------------------------------------------------------------------ */

#define CERTS_ENV "NIPC_TEST_TLS_CERTS"

/* In the runner, before any test's process starts: the workers inherit the environment. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    static char dir[] = "/tmp/nipc-tls-XXXXXX";
    char cmd[512];
    if (mkdtemp(dir) == NULL)
        return;
    snprintf(cmd, sizeof cmd, "bash '%s/test/support/certs.sh' '%s'", NIPC_SOURCE_DIR, dir);
    if (system(cmd) == 0)
        setenv(CERTS_ENV, dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *dir = getenv(CERTS_ENV);
    char cmd[512];
    if (dir != NULL && strncmp(dir, "/tmp/nipc-tls-", 14) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
}

/* The path of one of certs.sh's files, valid for the rest of the test (a pool of 32). */
static const char *file(const char *name)
{
    static char pool[32][320];
    static unsigned next;
    const char *dir = getenv(CERTS_ENV);
    cr_assert_not_null(dir, "test/support/certs.sh failed (is the openssl command installed?)");
    char *p = pool[next++ % 32];
    snprintf(p, sizeof pool[0], "%s/%s", dir, name);
    return p;
}

/* A whole file as a string (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *s = calloc(1, 1 << 16);
    size_t n = fread(s, 1, (1 << 16) - 1, f);
    fclose(f);
    cr_assert_gt(n, 0);
    return s;
}

/* ---- configurations -------------------------------------------------------------------- */

/* A server presenting <name>.pem with <name>.key. */
static nipc_tls_opts_t server_opts(const char *name)
{
    char key[64], cert[64];
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(cert, sizeof cert, "%s.pem", name);
    nipc_tls_opts_t o;
    nipc__tls_opts_init(&o);
    o.server = true;
    o.key_file = file(key);
    o.cert_file = file(cert);
    return o;
}

static const char *ca_list[4];

/* A client trusting the test CA only. */
static nipc_tls_opts_t client_opts(void)
{
    nipc_tls_opts_t o;
    nipc__tls_opts_init(&o);
    ca_list[0] = file("ca.pem");
    o.ca_files = ca_list;
    o.n_ca_files = 1;
    return o;
}

/* A server that requires a certificate from the test CA. */
static nipc_tls_opts_t mtls_server_opts(void)
{
    nipc_tls_opts_t o = server_opts("server");
    ca_list[0] = file("ca.pem");
    o.ca_files = ca_list;
    o.n_ca_files = 1;
    o.request_cert = true;
    return o;
}

static void no_openssl_errors(void)
{
    unsigned long e = ERR_peek_error();
    cr_assert_eq(e, 0, "OpenSSL's error queue holds %lu", e);
}

static nipc_tls_ctx_t *ctx_ok(const nipc_tls_opts_t *o)
{
    char why[256] = "(untouched)";
    nipc_tls_ctx_t *ctx = NULL;
    int err = nipc__tls_ctx_new(o, &ctx, why, sizeof why);
    cr_assert_eq(err, 0, "ctx_new: %s: %s", nipc_err_name(err), why);
    cr_assert_not_null(ctx);
    cr_assert_str_empty(why);
    no_openssl_errors();
    return ctx;
}

/* ctx_new must fail with `want`, and say something containing `says`. */
static void ctx_refused(const nipc_tls_opts_t *o, int want, const char *says)
{
    char why[256] = "";
    nipc_tls_ctx_t *ctx = (nipc_tls_ctx_t *)1;
    int err = nipc__tls_ctx_new(o, &ctx, why, sizeof why);
    cr_assert_eq(err, want, "ctx_new: %s (%s), want %s", nipc_err_name(err), why,
                 nipc_err_name(want));
    cr_assert_null(ctx);
    cr_assert_not_null(strstr(why, says), "why \"%s\" does not say \"%s\"", why, says);
    no_openssl_errors();
}

/* ---- two engines talking ----------------------------------------------------------------- */

/* Plaintext received, in memory the library's allocator never sees. */
typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes_t;

static void bytes_add(bytes_t *b, const char *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

typedef struct side {
    nipc_tls_ctx_t *ctx;
    nipc_tls_t *t;
    bytes_t got;
    int err; /* the first failure read */
    bool eof;
} side_t;

typedef struct pair {
    side_t s, c;
    size_t chunk; /* ciphertext moves in pieces of this size */
} pair_t;

/* Reads until more ciphertext is needed, noting a failure or close_notify. */
static void drain(side_t *s)
{
    char buf[16384];
    for (;;) {
        size_t got = 99;
        int err = nipc__tls_read(s->t, buf, sizeof buf, &got);
        no_openssl_errors();
        if (err == 0 && got > 0) {
            bytes_add(&s->got, buf, got);
            continue;
        }
        cr_assert_eq(got, 0);
        if (err == UV_EOF)
            s->eof = true;
        else if (err != 0 && s->err == 0)
            s->err = err;
        return;
    }
}

/* Moves all of from's ciphertext to `to`, chunk by chunk, reading after each feed. */
static bool move(pair_t *p, side_t *from, side_t *to)
{
    static char buf[65536];
    size_t chunk = p->chunk < sizeof buf ? p->chunk : sizeof buf;
    bool moved = false;
    while (nipc__tls_out_size(from->t) > 0) {
        size_t n = nipc__tls_out_take(from->t, buf, chunk);
        cr_assert_gt(n, 0);
        moved = true;
        int err = nipc__tls_feed(to->t, buf, n);
        if (err == 0)
            drain(to);
        else if (to->err == 0)
            to->err = err;
        no_openssl_errors();
    }
    return moved;
}

/* Runs both engines until neither has anything to send. */
static void pump(pair_t *p)
{
    for (int i = 0; i < 100000; i++) {
        bool a = move(p, &p->c, &p->s);
        bool b = move(p, &p->s, &p->c);
        if (!a && !b)
            return;
    }
    cr_assert_fail("the engines never settled");
}

static void pair_open(pair_t *p, const nipc_tls_opts_t *so, const nipc_tls_opts_t *co,
                      const char *servername)
{
    memset(p, 0, sizeof *p);
    p->chunk = SIZE_MAX;
    p->s.ctx = ctx_ok(so);
    p->c.ctx = ctx_ok(co);
    cr_assert_eq(nipc__tls_new(p->s.ctx, NULL, &p->s.t), 0);
    cr_assert_eq(nipc__tls_out_size(p->s.t), 0, "a server speaks second");
    int err = nipc__tls_new(p->c.ctx, servername, &p->c.t);
    cr_assert_eq(err, 0, "tls_new: %s", nipc_err_name(err));
    cr_assert_gt(nipc__tls_out_size(p->c.t), 0, "the ClientHello is queued at once");
    no_openssl_errors();
}

static void side_close(side_t *s)
{
    nipc__tls_free(s->t);
    nipc__tls_ctx_free(s->ctx);
    free(s->got.p);
    memset(s, 0, sizeof *s);
}

static void pair_close(pair_t *p)
{
    side_close(&p->s);
    side_close(&p->c);
    no_openssl_errors();
}

static void expect_up(const pair_t *p)
{
    cr_assert_eq(p->c.err, 0, "client: %s: %s", nipc_err_name(p->c.err),
                 nipc__tls_error_detail(p->c.t));
    cr_assert_eq(p->s.err, 0, "server: %s: %s", nipc_err_name(p->s.err),
                 nipc__tls_error_detail(p->s.t));
    cr_assert(nipc__tls_established(p->c.t));
    cr_assert(nipc__tls_established(p->s.t));
}

/* Connects, and expects both sides up. */
static void pair_up(pair_t *p, const nipc_tls_opts_t *so, const nipc_tls_opts_t *co,
                    const char *servername)
{
    pair_open(p, so, co, servername);
    pump(p);
    expect_up(p);
}

static void connects(const nipc_tls_opts_t *so, const nipc_tls_opts_t *co, const char *servername)
{
    pair_t p;
    pair_up(&p, so, co, servername);
    pair_close(&p);
}

static void write_ok(side_t *s, const void *p, size_t n)
{
    int err = nipc__tls_write(s->t, p, n);
    cr_assert_eq(err, 0, "write: %s", nipc_err_name(err));
    no_openssl_errors();
}

static void expect_got(const side_t *s, const void *want, size_t n)
{
    cr_assert_eq(s->got.n, n, "received %zu bytes, want %zu", s->got.n, n);
    cr_assert_eq(memcmp(s->got.p, want, n), 0);
}

/* Connects, and expects each side's code (0: that side saw no failure). */
static void expect_failure(const nipc_tls_opts_t *so, const nipc_tls_opts_t *co,
                           const char *servername, int want_client, int want_server,
                           const char *client_says)
{
    pair_t p;
    pair_open(&p, so, co, servername);
    pump(&p);
    cr_assert_eq(p.c.err, want_client, "client: %s (%s), want %s", nipc_err_name(p.c.err),
                 nipc__tls_error_detail(p.c.t), nipc_err_name(want_client));
    cr_assert_eq(p.s.err, want_server, "server: %s (%s), want %s", nipc_err_name(p.s.err),
                 nipc__tls_error_detail(p.s.t), nipc_err_name(want_server));
    cr_assert_not(nipc__tls_established(p.c.t));
    cr_assert_not(nipc__tls_established(p.s.t));
    cr_assert_null(nipc__tls_peer_subject(p.c.t));
    const char *detail = nipc__tls_error_detail(p.c.t);
    cr_assert_not_null(strstr(detail, client_says), "client detail \"%s\" lacks \"%s\"", detail,
                       client_says);
    if (want_server != 0)
        cr_assert_str_not_empty(nipc__tls_error_detail(p.s.t));
    /* Sticky: every later call answers with the same code. */
    char buf[8];
    size_t got = 1;
    cr_assert_eq(nipc__tls_read(p.c.t, buf, sizeof buf, &got), want_client);
    cr_assert_eq(got, 0);
    cr_assert_eq(nipc__tls_write(p.c.t, "x", 1), want_client);
    cr_assert_eq(nipc__tls_shutdown(p.c.t), want_client);
    cr_assert_eq(nipc__tls_feed(p.c.t, "x", 1), want_client);
    no_openssl_errors();
    pair_close(&p);
}

/* ---- handshakes and data --------------------------------------------------------------- */

Test(tls, handshake_and_data_both_ways, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    cr_assert_not(nipc__tls_established(p.c.t));
    cr_assert_eq(nipc__tls_version(p.c.t), 0);
    cr_assert_str_empty(nipc__tls_cipher(p.c.t));
    pump(&p);
    expect_up(&p);
    cr_assert_eq(nipc__tls_version(p.c.t), 13);
    cr_assert_eq(nipc__tls_version(p.s.t), 13);
    cr_assert_str_eq(nipc__tls_cipher(p.c.t), nipc__tls_cipher(p.s.t));
    cr_assert_str_eq(nipc__tls_peer_subject(p.c.t), "CN=localhost");
    cr_assert_null(nipc__tls_peer_subject(p.s.t), "no client certificate was asked for");
    cr_assert_str_empty(nipc__tls_error_detail(p.c.t));

    write_ok(&p.c, "{\"type\":\"hello\"}\f", 17);
    write_ok(&p.s, "back", 4);
    write_ok(&p.s, " again", 6);
    pump(&p);
    expect_got(&p.s, "{\"type\":\"hello\"}\f", 17);
    expect_got(&p.c, "back again", 10);
    pair_close(&p);
}

Test(tls, tls12_with_dhparam_and_a_dhe_cipher, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("rsa"), co = client_opts();
    so.dhparam_file = file("dhparam.pem");
    so.max_version = 12;
    co.ciphers = "DHE-RSA-AES128-GCM-SHA256";
    pair_t p;
    pair_up(&p, &so, &co, "localhost");
    cr_assert_eq(nipc__tls_version(p.c.t), 12);
    cr_assert_str_eq(nipc__tls_cipher(p.c.t), "DHE-RSA-AES128-GCM-SHA256");
    write_ok(&p.c, "dhe", 3);
    pump(&p);
    expect_got(&p.s, "dhe", 3);
    pair_close(&p);
}

Test(tls, tls13_suites_come_from_the_same_cipher_list, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    co.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:TLS_CHACHA20_POLY1305_SHA256";
    pair_t p;
    pair_up(&p, &so, &co, "localhost");
    cr_assert_str_eq(nipc__tls_cipher(p.s.t), "TLS_CHACHA20_POLY1305_SHA256");
    pair_close(&p);

    co.max_version = 12;
    pair_up(&p, &so, &co, "localhost");
    cr_assert_str_eq(nipc__tls_cipher(p.s.t), "ECDHE-ECDSA-AES256-GCM-SHA384");
    pair_close(&p);
}

static void fill(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (char)(seed >> 16);
    }
}

Test(tls, one_mib_each_way, .timeout = 60)
{
    enum { N = 1 << 20 };
    char *a = malloc(N), *b = malloc(N);
    fill(a, N, 1);
    fill(b, N, 2);
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_up(&p, &so, &co, "localhost");
    write_ok(&p.c, a, N);
    write_ok(&p.s, b, N);
    cr_assert_gt(nipc__tls_out_size(p.c.t), N, "all of it is encrypted at once");
    p.chunk = 65536;
    pump(&p);
    expect_got(&p.s, a, N);
    expect_got(&p.c, b, N);
    pair_close(&p);
    free(a);
    free(b);
}

/* Every record split at every size up to 13 bytes, and at a few larger ones. */
Test(tls, ciphertext_fed_in_small_pieces, .timeout = 60)
{
    static const size_t chunks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 100, 1000};
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
        pair_t p;
        pair_open(&p, &so, &co, "localhost");
        p.chunk = chunks[k];
        pump(&p);
        expect_up(&p);
        char want[300];
        fill(want, sizeof want, (unsigned)k);
        for (size_t i = 0; i < sizeof want; i++) {
            write_ok(&p.c, want + i, 1); /* one record per byte */
            write_ok(&p.s, want + sizeof want - 1 - i, 1);
        }
        pump(&p);
        expect_got(&p.s, want, sizeof want);
        cr_assert_eq(p.c.got.n, sizeof want);
        for (size_t i = 0; i < sizeof want; i++)
            cr_assert_eq(p.c.got.p[i], want[sizeof want - 1 - i]);
        cr_assert_eq(nipc__tls_shutdown(p.c.t), 0);
        cr_assert_eq(nipc__tls_shutdown(p.s.t), 0);
        pump(&p);
        cr_assert(p.s.eof && p.c.eof, "chunk %zu", chunks[k]);
        pair_close(&p);
    }
}

Test(tls, writes_and_shutdown_before_the_handshake_are_kept, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    size_t hello = nipc__tls_out_size(p.c.t);
    write_ok(&p.c, "early ", 6);
    write_ok(&p.c, "words", 5);
    write_ok(&p.s, "server first", 12);
    cr_assert_eq(nipc__tls_out_size(p.c.t), hello, "nothing is encrypted before the keys exist");
    cr_assert_eq(nipc__tls_shutdown(p.c.t), 0);
    cr_assert_eq(nipc__tls_write(p.c.t, "late", 4), UV_EPIPE);
    pump(&p);
    expect_got(&p.s, "early words", 11);
    expect_got(&p.c, "server first", 12);
    cr_assert(p.s.eof, "the kept close_notify follows the kept bytes");
    cr_assert_not(p.c.eof);
    pair_close(&p);
}

Test(tls, close_notify_gives_eof_and_half_close_works, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    pump(&p);
    write_ok(&p.c, "last words", 10);
    cr_assert_eq(nipc__tls_shutdown(p.c.t), 0);
    cr_assert_eq(nipc__tls_shutdown(p.c.t), 0, "a second shutdown does nothing");
    cr_assert_eq(nipc__tls_write(p.c.t, "more", 4), UV_EPIPE);
    pump(&p);
    expect_got(&p.s, "last words", 10);
    cr_assert(p.s.eof);
    char buf[4];
    size_t got = 7;
    cr_assert_eq(nipc__tls_read(p.s.t, buf, sizeof buf, &got), UV_EOF, "EOF stays");
    cr_assert_eq(got, 0);
    cr_assert_eq(nipc__tls_read(p.s.t, buf, 0, &got), UV_EINVAL);
    /* The server may still answer before it closes its side too. */
    write_ok(&p.s, "reply", 5);
    cr_assert_eq(nipc__tls_shutdown(p.s.t), 0);
    pump(&p);
    expect_got(&p.c, "reply", 5);
    cr_assert(p.c.eof);
    cr_assert_eq(p.c.err, 0);
    cr_assert_eq(p.s.err, 0);
    pair_close(&p);
}

Test(tls, the_queues_can_be_used_without_copies, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    write_ok(&p.c, "zero copy", 9);
    for (int round = 0; round < 10; round++) {
        /* The client's queue is swapped out and read straight into the server's. */
        nipc_buf_t sent;
        nipc__buf_init(&sent);
        nipc__buf_swap(&sent, nipc__tls_out(p.c.t));
        cr_assert_eq(nipc__tls_out_size(p.c.t), 0);
        if (nipc__buf_size(&sent) > 0) {
            nipc_buf_t *in = nipc__tls_in(p.s.t);
            cr_assert_eq(nipc__buf_reserve(in, nipc__buf_size(&sent)), 0);
            memcpy(in->data + in->len, sent.data + sent.off, nipc__buf_size(&sent));
            in->len += nipc__buf_size(&sent);
            drain(&p.s);
        }
        nipc__buf_free(&sent);
        move(&p, &p.s, &p.c);
    }
    expect_up(&p);
    expect_got(&p.s, "zero copy", 9);
    pair_close(&p);
}

Test(tls, a_context_lives_until_its_last_connection, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    nipc__tls_ctx_free(p.s.ctx);
    nipc__tls_ctx_free(p.c.ctx);
    p.s.ctx = p.c.ctx = NULL;
    nipc__tls_ctx_free(NULL);
    pump(&p);
    expect_up(&p);
    write_ok(&p.c, "still here", 10);
    pump(&p);
    expect_got(&p.s, "still here", 10);
    pair_close(&p);
}

/* ---- verification and its failures ------------------------------------------------------- */

/* No CA given: OpenSSL's default paths, which do not hold the test CA. */
Test(tls, a_client_verifies_by_default, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co;
    nipc__tls_opts_init(&co);
    cr_assert(co.reject_unauthorized);
    expect_failure(&so, &co, "localhost", NIPC_ECERTUNTRUSTED, NIPC_ECERTUNTRUSTED,
                   "unable to get local issuer certificate (depth 0: /CN=localhost)");
}

Test(tls, expired_certificate, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("expired"), co = client_opts();
    expect_failure(&so, &co, "localhost", NIPC_ECERTEXPIRED, NIPC_ECERTEXPIRED,
                   "certificate has expired");
}

Test(tls, certificate_not_yet_valid, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("future"), co = client_opts();
    /* OpenSSL answers a not-yet-valid certificate with bad_certificate. */
    expect_failure(&so, &co, "localhost", NIPC_ECERTEXPIRED, NIPC_ECERTINVALID,
                   "certificate is not yet valid");
}

Test(tls, certificate_from_an_unknown_ca, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("other"), co = client_opts();
    expect_failure(&so, &co, "localhost", NIPC_ECERTUNTRUSTED, NIPC_ECERTUNTRUSTED,
                   "unable to get local issuer certificate");
}

Test(tls, certificate_for_another_name, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("wrongname"), co = client_opts();
    expect_failure(&so, &co, "localhost", NIPC_ECERTNAME, NIPC_ECERTINVALID, "hostname mismatch");
    so = server_opts("server");
    expect_failure(&so, &co, "elsewhere.example", NIPC_ECERTNAME, NIPC_ECERTINVALID,
                   "hostname mismatch");
    /* Only whole labels match: no partial or suffix matches. */
    expect_failure(&so, &co, "localhost.example", NIPC_ECERTNAME, NIPC_ECERTINVALID,
                   "hostname mismatch");
}

Test(tls, ip_literals_are_checked_against_ip_sans, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    static const char *const good[] = {"127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "localhost"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        connects(&so, &co, good[i]);
    }
    expect_failure(&so, &co, "127.0.0.2", NIPC_ECERTNAME, NIPC_ECERTINVALID, "IP address mismatch");
    expect_failure(&so, &co, "::2", NIPC_ECERTNAME, NIPC_ECERTINVALID, "IP address mismatch");
    so = server_opts("wrongname");
    expect_failure(&so, &co, "127.0.0.1", NIPC_ECERTNAME, NIPC_ECERTINVALID, "IP address mismatch");
}

Test(tls, reject_unauthorized_false_connects_without_authenticating, .timeout = 20)
{
    static const char *const names[] = {"expired", "other", "wrongname", "future"};
    nipc_tls_opts_t co = client_opts();
    co.reject_unauthorized = false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        nipc_tls_opts_t so = server_opts(names[i]);
        pair_t p;
        pair_up(&p, &so, &co, i % 2 ? NULL : "localhost");
        cr_assert_null(nipc__tls_peer_subject(p.c.t), "%s is not verified", names[i]);
        write_ok(&p.c, "unauthenticated", 15);
        pump(&p);
        expect_got(&p.s, "unauthenticated", 15);
        pair_close(&p);
    }
    /* A certificate that does verify still names its subject. */
    nipc_tls_opts_t so = server_opts("server");
    pair_t p;
    pair_up(&p, &so, &co, "localhost");
    cr_assert_str_eq(nipc__tls_peer_subject(p.c.t), "CN=localhost");
    pair_close(&p);
}

Test(tls, mutual_tls, .timeout = 20)
{
    nipc_tls_opts_t so = mtls_server_opts(), co = client_opts();
    co.key_file = file("client.key");
    co.cert_file = file("client.pem");
    for (int max = 12; max <= 13; max++) {
        co.max_version = max;
        pair_t p;
        pair_up(&p, &so, &co, "localhost");
        cr_assert_str_eq(nipc__tls_peer_subject(p.s.t), "CN=nipc test client,O=nipc");
        cr_assert_str_eq(nipc__tls_peer_subject(p.c.t), "CN=localhost");
        write_ok(&p.s, "mutual", 6);
        pump(&p);
        expect_got(&p.c, "mutual", 6);
        pair_close(&p);
    }
}

Test(tls, mutual_tls_without_a_client_certificate, .timeout = 20)
{
    nipc_tls_opts_t so = mtls_server_opts(), co = client_opts();
    /* TLS 1.3 names the reason in its alert (certificate_required). */
    expect_failure(&so, &co, "localhost", NIPC_ENOPEERCERT, NIPC_ENOPEERCERT,
                   "certificate required");
    /* TLS 1.2 has only handshake_failure to say it with. */
    co.max_version = 12;
    expect_failure(&so, &co, "localhost", NIPC_ETLS, NIPC_ENOPEERCERT, "handshake failure");
}

Test(tls, mutual_tls_with_a_client_certificate_from_an_unknown_ca, .timeout = 20)
{
    nipc_tls_opts_t so = mtls_server_opts(), co = client_opts();
    co.key_file = file("client2.key");
    co.cert_file = file("client2.pem");
    expect_failure(&so, &co, "localhost", NIPC_ECERTUNTRUSTED, NIPC_ECERTUNTRUSTED, "unknown ca");
    co.max_version = 12;
    expect_failure(&so, &co, "localhost", NIPC_ECERTUNTRUSTED, NIPC_ECERTUNTRUSTED, "unknown ca");
}

Test(tls, a_server_certificate_is_no_client_certificate, .timeout = 20)
{
    nipc_tls_opts_t so = mtls_server_opts(), co = client_opts();
    co.key_file = file("server.key");
    co.cert_file = file("server.pem");
    expect_failure(&so, &co, "localhost", NIPC_ECERTINVALID, NIPC_ECERTINVALID,
                   "unsupported certificate");
}

Test(tls, request_cert_alone_asks_but_enforces_nothing, .timeout = 20)
{
    nipc_tls_opts_t so = mtls_server_opts();
    so.reject_unauthorized = false;
    static const char *const clients[] = {NULL, "client2", "server", "client"};
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++) {
        nipc_tls_opts_t co = client_opts();
        char key[32], cert[32];
        if (clients[i] != NULL) {
            snprintf(key, sizeof key, "%s.key", clients[i]);
            snprintf(cert, sizeof cert, "%s.pem", clients[i]);
            co.key_file = file(key);
            co.cert_file = file(cert);
        }
        pair_t p;
        pair_up(&p, &so, &co, "localhost");
        if (i == 3)
            cr_assert_str_eq(nipc__tls_peer_subject(p.s.t), "CN=nipc test client,O=nipc");
        else
            cr_assert_null(nipc__tls_peer_subject(p.s.t), "client %zu", i);
        pair_close(&p);
    }
}

Test(tls, no_protocol_version_in_common, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    so.max_version = 12;
    co.min_version = 13;
    expect_failure(&so, &co, "localhost", NIPC_ETLSVERSION, NIPC_ETLSVERSION, "protocol version");
    so = server_opts("server");
    so.min_version = 13;
    co = client_opts();
    co.max_version = 12;
    expect_failure(&so, &co, "localhost", NIPC_ETLSVERSION, NIPC_ETLSVERSION, "protocol version");
}

Test(tls, the_error_queue_of_one_failure_never_reaches_another_connection, .timeout = 20)
{
    nipc_tls_opts_t bad = server_opts("expired"), so = server_opts("server"), co = client_opts();
    pair_t p, q;
    pair_open(&p, &bad, &co, "localhost");
    pair_open(&q, &so, &co, "localhost");
    /* Interleaved: the failure happens between the other pair's steps. */
    move(&q, &q.c, &q.s);
    pump(&p);
    cr_assert_eq(p.c.err, NIPC_ECERTEXPIRED);
    no_openssl_errors();
    pump(&q);
    expect_up(&q);
    write_ok(&q.c, "fine", 4);
    pump(&q);
    expect_got(&q.s, "fine", 4);
    pair_close(&p);
    pair_close(&q);
}

/* ---- bytes that are not TLS -------------------------------------------------------------- */

static void feed_garbage(side_t *s, const void *p, size_t n)
{
    int err = nipc__tls_feed(s->t, p, n);
    cr_assert_eq(err, 0);
    drain(s);
}

Test(tls, garbage_gives_an_error_not_a_crash, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char noise[4096];
    fill(noise, sizeof noise, 7);

    pair_t p;
    pair_open(&p, &so, &co, "localhost");
    feed_garbage(&p.s, http, sizeof http - 1);
    cr_assert_eq(p.s.err, NIPC_ETLS, "%s", nipc_err_name(p.s.err));
    cr_assert_str_not_empty(nipc__tls_error_detail(p.s.t));
    feed_garbage(&p.c, noise, sizeof noise);
    cr_assert_eq(p.c.err, NIPC_ETLS, "%s", nipc_err_name(p.c.err));
    pair_close(&p);

    /* A JSON frame where a record should be, after the handshake. */
    pair_up(&p, &so, &co, "localhost");
    feed_garbage(&p.c, "{\"type\":\"x\"}\f", 13);
    cr_assert_eq(p.c.err, NIPC_ETLS);
    cr_assert_not(nipc__tls_established(p.c.t));
    cr_assert_eq(nipc__tls_write(p.c.t, "x", 1), NIPC_ETLS);
    /* A record with a valid header and a body of noise. */
    static const char hdr[] = {0x17, 0x03, 0x03, 0x00, 0x40};
    feed_garbage(&p.s, hdr, sizeof hdr);
    cr_assert_eq(p.s.err, 0, "a partial record waits");
    feed_garbage(&p.s, noise, 64);
    cr_assert_eq(p.s.err, NIPC_ETLS);
    pair_close(&p);

    /* Noise of every length into a fresh server fails it or leaves it waiting. */
    side_t s = {.ctx = ctx_ok(&so)};
    for (size_t n = 1; n < 64; n++) {
        cr_assert_eq(nipc__tls_new(s.ctx, NULL, &s.t), 0);
        fill(noise, n, (unsigned)n);
        feed_garbage(&s, noise, n);
        cr_assert(s.err == 0 || s.err == NIPC_ETLS || s.err == NIPC_ETLSVERSION, "%s",
                  nipc_err_name(s.err));
        nipc__tls_free(s.t);
        s.err = 0;
    }
    s.t = NULL;
    side_close(&s);
}

/* ---- configurations refused --------------------------------------------------------------- */

Test(tls, a_server_without_key_and_certificate_is_refused, .timeout = 20)
{
    nipc_tls_opts_t o;
    nipc__tls_opts_init(&o);
    o.server = true;
    ctx_refused(&o, UV_EINVAL, "a TLS server needs a private key and a certificate");
    o.key_file = file("server.key");
    ctx_refused(&o, UV_EINVAL, "a private key given without its certificate");
    o.key_file = NULL;
    o.cert_file = file("server.pem");
    ctx_refused(&o, UV_EINVAL, "a certificate given without its private key");
    /* A client may go without. */
    nipc_tls_opts_t co = client_opts();
    nipc__tls_ctx_free(ctx_ok(&co));
}

Test(tls, a_key_that_does_not_match_its_certificate_is_refused, .timeout = 20)
{
    nipc_tls_opts_t o = server_opts("server");
    o.key_file = file("client.key");
    ctx_refused(&o, UV_EINVAL, "does not match certificate");
    nipc_tls_opts_t co = client_opts();
    co.key_file = file("server.key");
    co.cert_file = file("client.pem");
    ctx_refused(&co, UV_EINVAL, "does not match certificate");
}

Test(tls, files_that_cannot_be_read, .timeout = 20)
{
    nipc_tls_opts_t o = server_opts("server");
    o.key_file = file("missing.key");
    ctx_refused(&o, UV_ENOENT, "missing.key: no such file or directory");
    o = server_opts("server");
    o.cert_file = file("");
    ctx_refused(&o, UV_EISDIR, "illegal operation on a directory");
    nipc_tls_opts_t co = client_opts();
    ca_list[1] = file("missing-ca.pem");
    co.n_ca_files = 2;
    ctx_refused(&co, UV_ENOENT, "trusted CA");
    o = server_opts("server");
    o.dhparam_file = file("missing-dh.pem");
    ctx_refused(&o, UV_ENOENT, "dhparam");
    ca_list[1] = NULL;
    ctx_refused(&co, UV_EINVAL, "trusted CA 2 of 2: no path");
    /* Past 16 MiB a file is not a key or a trust store (a sparse one costs nothing). */
    char big[] = "/tmp/nipc-tls-big-XXXXXX";
    int fd = mkstemp(big);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)17 << 20), 0);
    close(fd);
    co = client_opts();
    co.ca_pem = NULL;
    ca_list[0] = big;
    ctx_refused(&co, UV_EFBIG, "larger than 16 MiB");
    unlink(big);
}

Test(tls, files_that_hold_the_wrong_thing, .timeout = 20)
{
    nipc_tls_opts_t o = server_opts("server");
    o.cert_file = file("dhparam.pem");
    ctx_refused(&o, UV_EINVAL, "holds no certificate");
    o = server_opts("server");
    o.key_file = file("server.pem");
    ctx_refused(&o, UV_EINVAL, "holds no private key");
    o = server_opts("server");
    o.dhparam_file = file("server.pem");
    ctx_refused(&o, UV_EINVAL, "holds no DH parameters");
    nipc_tls_opts_t co = client_opts();
    ca_list[0] = file("server.key");
    ctx_refused(&co, UV_EINVAL, "trusted CA");
    co = client_opts();
    co.ca_pem = "not PEM at all";
    ctx_refused(&co, UV_EINVAL, "holds no certificate");
    co.ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    ctx_refused(&co, UV_EINVAL, "trusted CA (PEM text)");
}

Test(tls, versions_below_tls12_are_refused, .timeout = 20)
{
    nipc_tls_opts_t o = client_opts();
    static const int bad[][2] = {{10, 0}, {11, 0}, {14, 0}, {0, 11}, {0, 14}, {1, 0}, {-1, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.min_version = bad[i][0];
        o.max_version = bad[i][1];
        ctx_refused(&o, UV_EINVAL, "nothing older is spoken");
    }
    o.min_version = 13;
    o.max_version = 12;
    ctx_refused(&o, UV_EINVAL, "below min_version");
}

Test(tls, unknown_ciphers_are_refused, .timeout = 20)
{
    nipc_tls_opts_t o = client_opts();
    o.ciphers = "NO-SUCH-CIPHER";
    ctx_refused(&o, UV_EINVAL, "no TLS 1.2 cipher");
    o.ciphers = "TLS_NO_SUCH_SUITE";
    ctx_refused(&o, UV_EINVAL, "a TLS 1.3 suite is unknown");
    o.ciphers = ":::";
    ctx_refused(&o, UV_EINVAL, "names no cipher");
}

Test(tls, a_server_requiring_client_certificates_needs_cas, .timeout = 20)
{
    nipc_tls_opts_t o = mtls_server_opts();
    o.n_ca_files = 0;
    ctx_refused(&o, UV_EINVAL, "trustedConnections");
    o.reject_unauthorized = false; /* asking without enforcing may use the system store */
    nipc__tls_ctx_free(ctx_ok(&o));
}

Test(tls, servernames, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    nipc_tls_ctx_t *s = ctx_ok(&so), *c = ctx_ok(&co);
    nipc_tls_t *t = (nipc_tls_t *)1;
    cr_assert_eq(nipc__tls_new(c, NULL, &t), UV_EINVAL, "a verifying client needs a name");
    cr_assert_null(t);
    cr_assert_eq(nipc__tls_new(c, "", &t), UV_EINVAL);
    cr_assert_eq(nipc__tls_new(s, "localhost", &t), UV_EINVAL, "a server has no servername");
    no_openssl_errors();
    nipc__tls_ctx_free(s);
    nipc__tls_ctx_free(c);
}

Test(tls, pem_text_in_memory, .timeout = 20)
{
    char *key = slurp(file("server.key")), *cert = slurp(file("server.pem"));
    char *ca = slurp(file("ca.pem")), *dh = slurp(file("dhparam.pem"));
    nipc_tls_opts_t so, co;
    nipc__tls_opts_init(&so);
    so.server = true;
    so.key_pem = key;
    so.cert_pem = cert;
    so.dhparam_pem = dh;
    nipc__tls_opts_init(&co);
    co.ca_pem = ca;
    connects(&so, &co, "localhost");

    so.key_file = file("server.key");
    ctx_refused(&so, UV_EINVAL, "private key: give a file or PEM text, not both");
    free(key);
    free(cert);
    free(ca);
    free(dh);
}

Test(tls, several_ca_files_and_bundles, .timeout = 20)
{
    nipc_tls_opts_t co = client_opts();
    ca_list[0] = file("ca2.pem");
    ca_list[1] = file("ca.pem");
    co.n_ca_files = 2;
    static const char *const servers[] = {"server", "other"};
    for (size_t i = 0; i < 2; i++) {
        nipc_tls_opts_t so = server_opts(servers[i]);
        connects(&so, &co, "localhost");
    }
    /* Both CAs in one PEM text. */
    char *a = slurp(file("ca.pem")), *b = slurp(file("ca2.pem"));
    char *both = malloc(strlen(a) + strlen(b) + 1);
    strcpy(both, b);
    strcat(both, a);
    nipc__tls_opts_init(&co);
    co.ca_pem = both;
    for (size_t i = 0; i < 2; i++) {
        nipc_tls_opts_t so = server_opts(servers[i]);
        connects(&so, &co, "localhost");
    }
    free(a);
    free(b);
    free(both);
}

Test(tls, encrypted_keys, .timeout = 20)
{
    nipc_tls_opts_t so = server_opts("server"), co = client_opts();
    so.key_file = file("server-enc.key");
    ctx_refused(&so, UV_EINVAL, "is encrypted and no passphrase was given");
    so.passphrase = "wrong";
    ctx_refused(&so, UV_EINVAL, "cannot be decrypted with the passphrase given");
    so.passphrase = "secret";
    connects(&so, &co, "localhost");
}

/* ---- out of memory ------------------------------------------------------------------------- */

/* Each of nipc's allocations in a connection's life fails in turn: the side that meets it
 * says UV_ENOMEM (or refuses to start), and nothing crashes or leaks. */
Test(tls, out_of_memory_at_every_allocation, .timeout = 60)
{
    nipc_tls_opts_t so = mtls_server_opts(), co = client_opts();
    co.key_file = file("client.key");
    co.cert_file = file("client.pem");
    char data[40000];
    fill(data, sizeof data, 3);
    for (unsigned long n = 1;; n++) {
        cr_assert_lt(n, 1000, "the sweep never ran out of allocations");
        nipc__test_fail_alloc_after(n);
        nipc_tls_ctx_t *s = NULL, *c = NULL;
        char why[256];
        int es = nipc__tls_ctx_new(&so, &s, why, sizeof why);
        int ec = es == 0 ? nipc__tls_ctx_new(&co, &c, why, sizeof why) : 0;
        no_openssl_errors();
        if (es != 0 || ec != 0) {
            cr_assert_eq(es != 0 ? es : ec, UV_ENOMEM, "%s", why);
            nipc__tls_ctx_free(s);
            continue;
        }
        pair_t p;
        memset(&p, 0, sizeof p);
        p.chunk = SIZE_MAX;
        p.s.ctx = s;
        p.c.ctx = c;
        int e1 = nipc__tls_new(s, NULL, &p.s.t);
        int e2 = e1 == 0 ? nipc__tls_new(c, "localhost", &p.c.t) : 0;
        no_openssl_errors();
        bool failed = e1 != 0 || e2 != 0;
        if (!failed) {
            int w1 = nipc__tls_write(p.c.t, data, sizeof data); /* kept: before the handshake */
            pump(&p);
            int w2 = nipc__tls_write(p.s.t, data, sizeof data);
            pump(&p);
            cr_assert(w1 == 0 || w1 == UV_ENOMEM, "%s", nipc_err_name(w1));
            cr_assert(w2 == 0 || w2 == UV_ENOMEM || w2 == p.s.err, "%s", nipc_err_name(w2));
            failed = w1 != 0 || w2 != 0 || p.s.err != 0 || p.c.err != 0;
            if (failed) {
                /* Whoever failed first said UV_ENOMEM; its peer may hear an error later. */
                cr_assert(p.s.err == UV_ENOMEM || p.c.err == UV_ENOMEM || w1 == UV_ENOMEM ||
                              w2 == UV_ENOMEM,
                          "n %lu: server %s, client %s", n, nipc_err_name(p.s.err),
                          nipc_err_name(p.c.err));
            } else {
                expect_up(&p);
                expect_got(&p.s, data, sizeof data);
                expect_got(&p.c, data, sizeof data);
            }
        } else {
            cr_assert_eq(e1 != 0 ? e1 : e2, UV_ENOMEM);
        }
        nipc__test_fail_alloc_after(0);
        pair_close(&p);
        if (!failed) {
            cr_assert_gt(n, 20, "a connection's life allocates more than that");
            break;
        }
    }
}
