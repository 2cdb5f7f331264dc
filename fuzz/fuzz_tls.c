/* SPDX-License-Identifier: MIT */
/*
 * The TLS record path over memory buffers (src/transport/tls.c, the engine the stream glue
 * tls_stream.c drives): fuzz bytes as what a peer sent to a server-side or a client-side
 * session, before and after a real handshake, and as plaintext carried both ways.
 *
 * Input: byte 0 holds the options: bits 0-1 the mode (below); bit 2 the other side; bit 3
 * TLS 1.2 instead of 1.3; bit 4 mutual TLS; bit 5 (without bit 4) a client that does not
 * verify. Byte 1 is
 * the size of the pieces the bytes are fed in (0: all at once); in mode 3, byte 2 times 7
 * is the ciphertext byte (counted from 1, after the handshake) that is corrupted on its
 * way (0: none). The rest is the payload.
 *   0  a fresh server session is fed the payload as a client's records
 *   1  a fresh client session (its ClientHello sent) is fed it as a server's records
 *   2  a client and a server shake hands in memory, then one is fed the payload
 *   3  the two shake hands, one writes the payload as plaintext in pieces, the other reads
 *      it, then close_notify; with a corrupted ciphertext byte, the reader must fail, or
 *      wait for more (a record length made longer), never read close_notify
 *
 * Properties: no crash and no leak, whatever arrives; a read gives at most cap bytes;
 * errors are sticky (the next read, feed and write give the same code) and come with a
 * detail; garbage after a handshake never decrypts to plaintext; plaintext arrives exactly
 * as written, or not at all after a corruption (only an intact prefix); close_notify is
 * UV_EOF; and OpenSSL's error queue is left empty.
 *
 * The key and certificate (ECDSA P-256, self-signed, CN and SAN localhost) are made once,
 * in memory, with the contexts that use them.
 */
#include "fuzz.h"

#include "transport/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

enum { SERVER_RAW, CLIENT_RAW, AFTER_HANDSHAKE, DATA };

/* The clients by TLS version (1.3 and 1.2 at most) and kind. */
enum { VERIFY, MUTUAL, NO_VERIFY };

static struct {
    nipc_tls_ctx_t *server, *server_mtls;
    nipc_tls_ctx_t *client[2][3];
} g;

static char *pem_of(int (*write)(BIO *, const void *), const void *obj)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *s;
    if (b == NULL || !write(b, obj))
        abort();
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
        abort();
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static int write_key(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, const void *x)
{
    return PEM_write_bio_X509(b, (X509 *)x);
}

static nipc_tls_ctx_t *context(const nipc_tls_opts_t *o)
{
    nipc_tls_ctx_t *ctx = NULL;
    char why[256] = "";
    int err = nipc__tls_ctx_new(o, &ctx, why, sizeof why);
    FUZZ_CHECK(err == 0, "context: %s: %s", nipc_err_name(err), why);
    return ctx;
}

static void init_once(void)
{
    if (g.server != NULL)
        return;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (key == NULL || x == NULL || name == NULL ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                    -1, -1, 0) ||
        !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -86400) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) || !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key))
        abort();
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
    if (san == NULL || !X509_add_ext(x, san, -1) || !X509_sign(x, key, EVP_sha256()))
        abort();
    X509_EXTENSION_free(san);
    char *key_pem = pem_of(write_key, key), *cert_pem = pem_of(write_cert, x);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);

    nipc_tls_opts_t o;
    nipc__tls_opts_init(&o);
    o.server = true;
    o.key_pem = key_pem;
    o.cert_pem = cert_pem;
    g.server = context(&o);
    o.request_cert = true;
    o.ca_pem = cert_pem;
    g.server_mtls = context(&o);

    for (int v = 0; v < 2; v++) {
        nipc__tls_opts_init(&o);
        o.max_version = v ? 12 : 0;
        o.ca_pem = cert_pem;
        g.client[v][VERIFY] = context(&o);
        o.key_pem = key_pem;
        o.cert_pem = cert_pem;
        g.client[v][MUTUAL] = context(&o);
        nipc__tls_opts_init(&o);
        o.max_version = v ? 12 : 0;
        o.reject_unauthorized = false;
        g.client[v][NO_VERIFY] = context(&o);
    }
    free(key_pem);
    free(cert_pem);
    ERR_clear_error();
}

typedef struct side {
    nipc_tls_t *t;
    unsigned char *got; /* plaintext read */
    size_t ngot, cap;
    int err; /* the first failure */
    bool eof;
} side_t;

static void no_openssl_errors(void)
{
    unsigned long e = ERR_peek_error();
    FUZZ_CHECK(e == 0, "OpenSSL's error queue holds %s", ERR_error_string(e, NULL));
}

/* A failure is sticky: every later call gives it again, and the detail says why. */
static void expect_sticky(side_t *s)
{
    char buf[16];
    size_t got = 7;
    FUZZ_CHECK(nipc__tls_read(s->t, buf, sizeof buf, &got) == s->err && got == 0,
               "a second read after %s", nipc_err_name(s->err));
    if (s->err != UV_ENOMEM) {
        FUZZ_CHECK(nipc__tls_feed(s->t, "x", 1) == s->err, "a feed after %s",
                   nipc_err_name(s->err));
        FUZZ_CHECK(nipc__tls_write(s->t, "x", 1) == s->err, "a write after %s",
                   nipc_err_name(s->err));
    }
    FUZZ_CHECK(!nipc__tls_established(s->t), "established after %s", nipc_err_name(s->err));
    FUZZ_CHECK(nipc__tls_peer_subject(s->t) == NULL, "a subject after a failure");
    const char *why = nipc__tls_error_detail(s->t);
    FUZZ_CHECK(why != NULL && why[0] != '\0', "%s without a detail", nipc_err_name(s->err));
}

/* Reads until more ciphertext is needed, a failure or close_notify. */
static void drain(side_t *s, bool plaintext_allowed)
{
    unsigned char buf[4096];
    for (;;) {
        size_t cap = 1 + (s->ngot % sizeof buf); /* caps of every size */
        size_t got = 12345;
        int err = nipc__tls_read(s->t, buf, cap, &got);
        no_openssl_errors();
        if (err == 0 && got > 0) {
            FUZZ_CHECK(got <= cap, "%zu bytes read into %zu", got, cap);
            FUZZ_CHECK(plaintext_allowed, "%zu bytes of plaintext from garbage", got);
            if (s->ngot + got > s->cap) {
                s->cap = (s->ngot + got) * 2;
                if ((s->got = realloc(s->got, s->cap)) == NULL)
                    abort();
            }
            memcpy(s->got + s->ngot, buf, got);
            s->ngot += got;
            continue;
        }
        FUZZ_CHECK(got == 0, "%zu bytes with %s", got, nipc_err_name(err));
        if (err == UV_EOF) {
            s->eof = true;
        } else if (err != 0 && s->err == 0) {
            s->err = err;
            expect_sticky(s);
        }
        return;
    }
}

/* Feeds p[0, n) to s in pieces of `piece` bytes (0: at once), reading after each. */
static void feed(side_t *s, const void *p, size_t n, size_t piece, bool plaintext_allowed)
{
    const char *c = p;
    while (n > 0 && s->err == 0) {
        size_t k = piece == 0 || piece > n ? n : piece;
        int err = nipc__tls_feed(s->t, c, k);
        FUZZ_CHECK(err == 0 || err == UV_ENOMEM, "feed: %s", nipc_err_name(err));
        drain(s, plaintext_allowed);
        nipc_buf_t *out = nipc__tls_out(s->t);
        nipc__buf_reset(out); /* what it answers goes nowhere */
        c += k;
        n -= k;
    }
}

/* Moves a's ciphertext to b, in pieces, corrupting stream byte *corrupt (1-based) if set. */
static bool move(side_t *a, side_t *b, size_t piece, size_t *corrupt, size_t *moved)
{
    bool any = false;
    unsigned char buf[2048];
    while (nipc__tls_out_size(a->t) > 0 && b->err == 0) {
        size_t cap = piece == 0 || piece > sizeof buf ? sizeof buf : piece;
        size_t n = nipc__tls_out_take(a->t, buf, cap);
        FUZZ_CHECK(n > 0 && n <= cap, "out_take gave %zu of %zu", n, cap);
        if (*corrupt > *moved && *corrupt <= *moved + n) {
            buf[*corrupt - *moved - 1] ^= 0x5a;
            *corrupt = SIZE_MAX; /* done */
        }
        *moved += n;
        any = true;
        int err = nipc__tls_feed(b->t, buf, n);
        FUZZ_CHECK(err == 0, "feed: %s", nipc_err_name(err));
        drain(b, true);
    }
    return any;
}

static void pump(side_t *c, side_t *s, size_t piece, size_t *corrupt, size_t *moved)
{
    for (int i = 0; i < 10000; i++) {
        bool a = move(c, s, piece, corrupt, moved);
        bool b = move(s, c, piece, corrupt, moved);
        if (!a && !b)
            return;
    }
    FUZZ_CHECK(false, "the engines never settled");
}

static void handshake(side_t *c, side_t *s, unsigned opts)
{
    size_t none = 0, moved = 0;
    pump(c, s, 0, &none, &moved);
    FUZZ_CHECK(c->err == 0 && s->err == 0 && nipc__tls_established(c->t) &&
                   nipc__tls_established(s->t),
               "the handshake failed: client %s (%s), server %s (%s)", nipc_err_name(c->err),
               nipc__tls_error_detail(c->t), nipc_err_name(s->err), nipc__tls_error_detail(s->t));
    int v = nipc__tls_version(c->t);
    FUZZ_CHECK(v == ((opts & 8) ? 12 : 13) && v == nipc__tls_version(s->t), "version %d", v);
    FUZZ_CHECK(nipc__tls_cipher(c->t)[0] != '\0', "no cipher");
    FUZZ_CHECK(!(opts & 16) || nipc__tls_peer_subject(s->t) != NULL,
               "mutual TLS without the client's subject");
    bool verified = !(opts & 32) || (opts & 16);
    FUZZ_CHECK(verified == (nipc__tls_peer_subject(c->t) != NULL),
               "the server's subject %s, although %s", nipc__tls_peer_subject(c->t),
               verified ? "verified" : "not verified");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    fuzz_in_t in = {data, size};
    unsigned opts = fuzz_byte(&in);
    size_t piece = fuzz_byte(&in);
    size_t corrupt = fuzz_byte(&in);
    int mode = (int)(opts & 3);
    bool mtls = opts & 16;
    nipc_tls_ctx_t *sctx = mtls ? g.server_mtls : g.server;
    int kind = mtls ? MUTUAL : (opts & 32) ? NO_VERIFY : VERIFY;
    nipc_tls_ctx_t *cctx = g.client[(opts >> 3) & 1][kind];
    side_t s = {0}, c = {0};
    FUZZ_CHECK(nipc__tls_new(sctx, NULL, &s.t) == 0, "server session");
    FUZZ_CHECK(nipc__tls_new(cctx, "localhost", &c.t) == 0, "client session");

    switch (mode) {
    case SERVER_RAW:
        feed(&s, in.p, in.n, piece, false);
        break;
    case CLIENT_RAW:
        nipc__buf_reset(nipc__tls_out(c.t)); /* the ClientHello, sent to nobody */
        feed(&c, in.p, in.n, piece, false);
        break;
    case AFTER_HANDSHAKE:
        handshake(&c, &s, opts);
        feed((opts & 4) ? &c : &s, in.p, in.n, piece, false);
        break;
    case DATA: {
        handshake(&c, &s, opts);
        side_t *w = (opts & 4) ? &s : &c, *r = (opts & 4) ? &c : &s;
        size_t moved = 0, at = corrupt == 0 ? 0 : corrupt * 7;
        /* The payload, written in pieces whose sizes come from its own bytes. */
        for (size_t i = 0; i < in.n;) {
            size_t k = 1 + (size_t)in.p[i] * 3;
            k = k > in.n - i ? in.n - i : k;
            /* After a corruption the reader's alert may have failed the writer too. */
            int err = nipc__tls_write(w->t, in.p + i, k);
            FUZZ_CHECK(err == w->err, "write: %s", nipc_err_name(err));
            i += k;
            if (in.p[i - 1] & 1)
                pump(&c, &s, piece, &at, &moved);
        }
        FUZZ_CHECK(nipc__tls_shutdown(w->t) == w->err, "shutdown");
        FUZZ_CHECK(nipc__tls_shutdown(w->t) == w->err, "a second shutdown");
        FUZZ_CHECK(nipc__tls_write(w->t, "x", 1) == (w->err ? w->err : UV_EPIPE),
                   "a write after shutdown");
        pump(&c, &s, piece, &at, &moved);
        FUZZ_CHECK(r->ngot <= in.n && (r->ngot == 0 || memcmp(r->got, in.p, r->ngot) == 0),
                   "other plaintext than was written");
        if (at != SIZE_MAX) { /* nothing corrupted: everything and close_notify arrive */
            FUZZ_CHECK(r->err == 0 && r->ngot == in.n && r->eof, "%zu of %zu bytes, %s, eof %d",
                       r->ngot, in.n, nipc_err_name(r->err), r->eof);
        } else {
            /* A failure, or (a record length grown) the reader waits for the rest: never
             * close_notify read as if all were well. */
            FUZZ_CHECK(r->err != 0 || w->err != 0 || !r->eof, "a corrupted record went unnoticed");
        }
        break;
    }
    }
    no_openssl_errors();
    nipc__tls_free(s.t);
    nipc__tls_free(c.t);
    free(s.got);
    free(c.got);
    return 0;
}
