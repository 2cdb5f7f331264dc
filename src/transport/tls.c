/* SPDX-License-Identifier: MIT */
/*
 * The TLS engine over OpenSSL; tls.h says how the stream glue drives it.
 *
 * State: a context owns an SSL_CTX and the BIO method its connections use, and counts its
 * references (the caller's and one per connection). A connection owns an SSL whose one BIO
 * reads ciphertext from `in` and appends ciphertext to `out`: nipc buffers rather than
 * OpenSSL's memory BIOs, so the glue may read the socket into one and send the other
 * without a copy. `early` keeps the plaintext written before the handshake ends.
 * Invariants: `err`, once set, never changes, and everything but nipc__tls_free answers
 * with it. OpenSSL's error queue (one per thread) is empty whenever a call returns, so one
 * connection's failure never shows in another's, nor in the application's own OpenSSL use.
 * Thread: the loop's; a context and its connections share the reference count.
 */
#include "tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Larger than any key, chain or CA bundle; a bigger file is a mistake, not a trust store. */
#define NIPC_TLS_MAX_FILE ((size_t)16 << 20)

struct nipc_tls_ctx {
    SSL_CTX *ssl;
    BIO_METHOD *bio_method;
    unsigned long refs;
    bool server;
    bool verify;            /* a client that refuses an unverified server */
    bool accept_unverified; /* a server that asks for a certificate but enforces nothing */
};

struct nipc_tls {
    nipc_tls_ctx_t *ctx;
    SSL *ssl;
    nipc_buf_t in;    /* ciphertext from the peer not yet read by OpenSSL */
    nipc_buf_t out;   /* ciphertext for the peer */
    nipc_buf_t early; /* plaintext written before the handshake ended */
    char *peer_subject;
    int err;
    bool established;
    bool eof;              /* the peer's close_notify was read */
    bool shut;             /* nipc__tls_shutdown was called */
    bool oom;              /* an append to `out` failed inside OpenSSL */
    char verify_note[160]; /* the first certificate that failed verification */
    char detail[320];
};

/* ---- messages ------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static int say(char *why, size_t why_len, int err,
                                                     const char *fmt, ...)
{
    if (why_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return err;
}

/*
 * OpenSSL's reason for the oldest error queued, or NULL, and in *oom whether any error queued
 * says that OpenSSL ran out of memory: then the failure is that, whatever the other errors
 * say (a decoder that could not allocate queues its own complaints around the malloc
 * failure). The queue is empty afterwards.
 */
static const char *drain_queue(bool *oom)
{
    unsigned long e, first = 0;
    *oom = false;
    while ((e = ERR_get_error()) != 0) {
        if (first == 0)
            first = e;
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            *oom = true;
    }
    return first != 0 ? ERR_reason_error_string(first) : NULL;
}

/* `err`, or UV_ENOMEM if OpenSSL ran out of memory, with why = "what: reason". */
static int refused(char *why, size_t why_len, int err, const char *what)
{
    bool oom;
    const char *r = drain_queue(&oom);
    return say(why, why_len, oom ? UV_ENOMEM : err, "%s: %s", what,
               oom         ? "out of memory"
               : r != NULL ? r
                           : "no reason given by OpenSSL");
}

/* ---- the BIO between OpenSSL and the two queues ------------------------------------------ */

static int bio_write(BIO *b, const char *p, size_t n, size_t *written)
{
    nipc_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *written = 0;
    /* Bytes move only here and in out_take, never while the glue holds a pointer. */
    if (t->out.off > 0 && t->out.off >= nipc__buf_size(&t->out))
        nipc__buf_compact(&t->out);
    if (nipc__buf_append(&t->out, p, n) != 0) {
        t->oom = true;
        return 0;
    }
    *written = n;
    return 1;
}

static int bio_read(BIO *b, char *p, size_t n, size_t *got)
{
    nipc_tls_t *t = BIO_get_data(b);
    size_t have = nipc__buf_size(&t->in);
    BIO_clear_retry_flags(b);
    *got = 0;
    if (have == 0) {
        BIO_set_retry_read(b); /* not the end of the stream: more bytes will be fed */
        return 0;
    }
    if (n > have)
        n = have;
    memcpy(p, t->in.data + t->in.off, n);
    t->in.off += n;
    if (t->in.off == t->in.len)
        nipc__buf_reset(&t->in);
    *got = n;
    return 1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    nipc_tls_t *t = BIO_get_data(b);
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* the glue sends the out queue; nothing waits in here */
    case BIO_CTRL_PENDING:
        return t != NULL ? (long)nipc__buf_size(&t->in) : 0;
    case BIO_CTRL_WPENDING:
        return t != NULL ? (long)nipc__buf_size(&t->out) : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *bio_method_new(void)
{
    int type = BIO_get_new_index();
    BIO_METHOD *m = type != -1 ? BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "nipc queues") : NULL;
    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write_ex(m, bio_write) || !BIO_meth_set_read_ex(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ---- loading keys, certificates and parameters ----------------------------------------- */

/* One item of the configuration, opened as a memory BIO over its PEM text. */
typedef struct item {
    const char *what;  /* "private key", ... */
    const char *where; /* its path, or "(PEM text)" */
    BIO *bio;          /* NULL when the item is not given */
    nipc_buf_t text;   /* a file's contents */
    bool oom;          /* OpenSSL ran out of memory reading it */
} item_t;

static int read_file(item_t *it, const char *path, char *why, size_t why_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int err = uv_translate_sys_error(errno);
        return say(why, why_len, err, "%s %s: %s", it->what, path, uv_strerror(err));
    }
    int err = 0;
    for (;;) {
        if (nipc__buf_reserve(&it->text, 4096) != 0) {
            err = say(why, why_len, UV_ENOMEM, "%s %s: out of memory", it->what, path);
            break;
        }
        size_t n = fread(it->text.data + it->text.len, 1, it->text.cap - it->text.len, f);
        it->text.len += n;
        if (it->text.len > NIPC_TLS_MAX_FILE) {
            err = say(why, why_len, UV_EFBIG, "%s %s: larger than 16 MiB", it->what, path);
            break;
        }
        if (n == 0) {
            if (ferror(f)) {
                err = uv_translate_sys_error(errno);
                say(why, why_len, err, "%s %s: %s", it->what, path, uv_strerror(err));
            }
            break;
        }
    }
    fclose(f);
    return err;
}

static int item_open(item_t *it, const char *what, const char *path, const char *pem, char *why,
                     size_t why_len)
{
    memset(it, 0, sizeof *it);
    it->what = what;
    it->where = path != NULL ? path : "(PEM text)";
    nipc__buf_init(&it->text);
    if (path != NULL && pem != NULL)
        return say(why, why_len, UV_EINVAL, "%s: give a file or PEM text, not both", what);
    if (path == NULL && pem == NULL)
        return 0;
    size_t n;
    if (path != NULL) {
        int err = read_file(it, path, why, why_len);
        if (err != 0)
            return err;
        pem = it->text.data;
        n = it->text.len;
    } else {
        n = strlen(pem);
        if (n > NIPC_TLS_MAX_FILE)
            return say(why, why_len, UV_EFBIG, "%s: PEM text larger than 16 MiB", what);
    }
    it->bio = BIO_new_mem_buf(pem, (int)n);
    if (it->bio == NULL)
        return say(why, why_len, UV_ENOMEM, "%s: out of memory", what);
    return 0;
}

static void item_close(item_t *it)
{
    BIO_free(it->bio);
    nipc__buf_free(&it->text);
}

/* The refusal of an item OpenSSL could not use, with OpenSSL's reason when it gave one; an
 * item OpenSSL had no memory to read is not refused but UV_ENOMEM. */
static int refuse(const item_t *it, const char *problem, char *why, size_t why_len)
{
    bool oom;
    const char *reason = drain_queue(&oom);
    if (oom || it->oom)
        return say(why, why_len, UV_ENOMEM, "%s %s: out of memory", it->what, it->where);
    return say(why, why_len, UV_EINVAL, "%s %s: %s%s%s%s", it->what, it->where, problem,
               reason != NULL ? " (" : "", reason != NULL ? reason : "", reason != NULL ? ")" : "");
}

/* A passphrase callback that never prompts, and notes that it was asked. */
typedef struct pass {
    const char *text;
    bool asked;
} pass_t;

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    pass_t *p = u;
    (void)rwflag;
    p->asked = true;
    size_t n = p->text != NULL ? strlen(p->text) : 0;
    if (p->text == NULL || size < 0 || n > (size_t)size)
        return -1;
    memcpy(buf, p->text, n);
    return (int)n;
}

/*
 * The next certificate of a PEM text: 1 and *x, 0 at the end, -1 if what follows is bad.
 * A PEM reader that could not allocate goes on to find no more PEM text and says so last:
 * that end is -1 too, with it->oom set.
 */
static int next_cert(item_t *it, X509 **x)
{
    pass_t none = {NULL, false};
    *x = PEM_read_bio_X509_AUX(it->bio, NULL, pass_cb, &none);
    if (*x != NULL)
        return 1;
    unsigned long e = ERR_peek_last_error();
    if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
        drain_queue(&it->oom);
        return it->oom ? -1 : 0;
    }
    return -1;
}

/* The certificate, then its chain, from one PEM text (like a certificate chain file). */
static int load_cert(SSL_CTX *c, item_t *it, char *why, size_t why_len)
{
    X509 *x;
    if (next_cert(it, &x) != 1)
        return refuse(it, "holds no certificate", why, why_len);
    int ok = SSL_CTX_use_certificate(c, x);
    X509_free(x);
    if (!ok)
        return refuse(it, "certificate refused", why, why_len);
    int more;
    while ((more = next_cert(it, &x)) == 1) {
        if (!SSL_CTX_add0_chain_cert(c, x)) {
            X509_free(x);
            return refuse(it, "chain certificate refused", why, why_len);
        }
    }
    return more == 0 ? 0 : refuse(it, "malformed chain certificate", why, why_len);
}

static int load_key(SSL_CTX *c, item_t *it, const item_t *cert, const char *passphrase, char *why,
                    size_t why_len)
{
    pass_t pass = {passphrase, false};
    EVP_PKEY *k = PEM_read_bio_PrivateKey(it->bio, NULL, pass_cb, &pass);
    if (k == NULL) {
        if (pass.asked && passphrase == NULL) {
            ERR_clear_error(); /* OpenSSL's reason would only be our callback's refusal */
            return refuse(it, "is encrypted and no passphrase was given", why, why_len);
        }
        return refuse(it,
                      pass.asked ? "cannot be decrypted with the passphrase given"
                                 : "holds no private key",
                      why, why_len);
    }
    int ok = SSL_CTX_use_PrivateKey(c, k);
    EVP_PKEY_free(k);
    if (ok)
        return 0;
    if (ERR_GET_REASON(ERR_peek_error()) == X509_R_KEY_VALUES_MISMATCH) {
        ERR_clear_error();
        return say(why, why_len, UV_EINVAL, "private key %s does not match certificate %s",
                   it->where, cert->where);
    }
    return refuse(it, "key refused", why, why_len);
}

/* The key and certificate of the side that presents one (always a server, T6). */
static int load_identity(SSL_CTX *c, const nipc_tls_opts_t *o, char *why, size_t why_len)
{
    item_t key, cert;
    int err = item_open(&key, "private key", o->key_file, o->key_pem, why, why_len);
    if (err == 0)
        err = item_open(&cert, "certificate", o->cert_file, o->cert_pem, why, why_len);
    else
        memset(&cert, 0, sizeof cert);
    if (err != 0)
        goto done;
    if (key.bio == NULL && cert.bio == NULL) {
        if (o->server)
            err = say(why, why_len, UV_EINVAL,
                      "a TLS server needs a private key and a certificate (node-ipc's "
                      "tls.private and tls.public); nipc bundles none");
        goto done;
    }
    if (key.bio == NULL || cert.bio == NULL) {
        err = say(why, why_len, UV_EINVAL, "%s given without %s",
                  key.bio != NULL ? "a private key" : "a certificate",
                  key.bio != NULL ? "its certificate" : "its private key");
        goto done;
    }
    /* The certificate first: OpenSSL checks the key against it as the key is set. */
    err = load_cert(c, &cert, why, why_len);
    if (err == 0)
        err = load_key(c, &key, &cert, o->passphrase, why, why_len);
done:
    item_close(&key);
    item_close(&cert);
    return err;
}

/* Every certificate of one CA item into the trust store (and, on a server, the names of
 * the CAs its certificate request lists). */
static int load_ca(SSL_CTX *c, bool server, const char *path, const char *pem, char *why,
                   size_t why_len)
{
    item_t it;
    int err = item_open(&it, "trusted CA", path, pem, why, why_len);
    X509_STORE *store = SSL_CTX_get_cert_store(c);
    unsigned n = 0;
    X509 *x;
    int more = 0;
    while (err == 0 && (more = next_cert(&it, &x)) == 1) {
        int ok = X509_STORE_add_cert(store, x) && (!server || SSL_CTX_add_client_CA(c, x));
        X509_free(x);
        if (!ok)
            err = refuse(&it, "certificate refused", why, why_len);
        n++;
    }
    if (err == 0 && (more != 0 || n == 0))
        err =
            refuse(&it, more != 0 ? "malformed certificate" : "holds no certificate", why, why_len);
    item_close(&it);
    return err;
}

static int load_trust(nipc_tls_ctx_t *ctx, const nipc_tls_opts_t *o, char *why, size_t why_len)
{
    for (size_t i = 0; i < o->n_ca_files; i++) {
        if (o->ca_files[i] == NULL)
            return say(why, why_len, UV_EINVAL, "trusted CA %zu of %zu: no path", i + 1,
                       o->n_ca_files);
        int err = load_ca(ctx->ssl, o->server, o->ca_files[i], NULL, why, why_len);
        if (err != 0)
            return err;
    }
    if (o->ca_pem != NULL)
        return load_ca(ctx->ssl, o->server, NULL, o->ca_pem, why, why_len);
    /* A server that checks no certificate needs no store: loading the system's costs
     * milliseconds. */
    if (o->n_ca_files > 0 || (o->server && !o->request_cert))
        return 0;
    if (o->server && o->reject_unauthorized)
        return say(why, why_len, UV_EINVAL,
                   "a TLS server that requires client certificates needs the CAs to trust "
                   "(node-ipc's tls.trustedConnections)");
    if (!SSL_CTX_set_default_verify_paths(ctx->ssl))
        return refused(why, why_len, UV_ENOMEM, "system CA store");
    return 0;
}

static int load_dh(SSL_CTX *c, const nipc_tls_opts_t *o, char *why, size_t why_len)
{
    item_t it;
    int err = item_open(&it, "dhparam", o->dhparam_file, o->dhparam_pem, why, why_len);
    if (err == 0 && it.bio == NULL) {
        /* No parameters: OpenSSL picks a group as strong as the certificate's key. */
        SSL_CTX_set_dh_auto(c, 1);
    } else if (err == 0) {
        EVP_PKEY *dh = PEM_read_bio_Parameters(it.bio, NULL);
        if (dh == NULL || !(EVP_PKEY_is_a(dh, "DH") || EVP_PKEY_is_a(dh, "DHX")))
            err = refuse(&it, "holds no DH parameters", why, why_len);
        else if (SSL_CTX_set0_tmp_dh_pkey(c, dh))
            dh = NULL; /* the context owns them now */
        else
            err = refuse(&it, "DH parameters refused", why, why_len);
        EVP_PKEY_free(dh);
    }
    item_close(&it);
    return err;
}

/* Node's `ciphers`: TLS_* names are TLS 1.3 suites, the rest a TLS 1.2 cipher list. */
static int set_ciphers(SSL_CTX *c, const char *list, char *why, size_t why_len)
{
    size_t n = strlen(list);
    char *v12 = nipc__calloc(2, n + 1);
    if (v12 == NULL)
        return say(why, why_len, UV_ENOMEM, "ciphers: out of memory");
    char *v13 = v12 + n + 1;
    size_t l12 = 0, l13 = 0;
    for (const char *p = list; *p != '\0';) {
        size_t k = strcspn(p, ":");
        bool is13 = strncmp(p, "TLS_", 4) == 0;
        char *dst = is13 ? v13 : v12;
        size_t *len = is13 ? &l13 : &l12;
        if (k > 0) {
            if (*len > 0)
                dst[(*len)++] = ':';
            memcpy(dst + *len, p, k);
            *len += k;
        }
        p += k + (p[k] == ':');
    }
    int err = 0;
    bool oom = false;
    const char *problem = NULL;
    if (l12 > 0 && !SSL_CTX_set_cipher_list(c, v12))
        problem = "no TLS 1.2 cipher in it";
    else if (l13 > 0 && !SSL_CTX_set_ciphersuites(c, v13))
        problem = "a TLS 1.3 suite is unknown";
    if (problem != NULL) {
        const char *r = drain_queue(&oom);
        err = say(why, why_len, oom ? UV_ENOMEM : UV_EINVAL, "ciphers \"%s\": %s (%s)", list,
                  oom ? "out of memory" : problem, r != NULL ? r : "no reason given by OpenSSL");
    } else if (l12 == 0 && l13 == 0)
        err = say(why, why_len, UV_EINVAL, "ciphers \"%s\": names no cipher", list);
    nipc__free(v12);
    return err;
}

static int versions(const nipc_tls_opts_t *o, int *min, int *max, char *why, size_t why_len)
{
    int lo = o->min_version != 0 ? o->min_version : 12;
    int hi = o->max_version != 0 ? o->max_version : 13;
    if (lo < 12 || lo > 13 || hi < 12 || hi > 13)
        return say(why, why_len, UV_EINVAL,
                   "TLS min_version %d, max_version %d: 0, 12 (TLS 1.2) or 13 (TLS 1.3); "
                   "nothing older is spoken",
                   o->min_version, o->max_version);
    if (hi < lo)
        return say(why, why_len, UV_EINVAL, "TLS max_version %d is below min_version %d", hi, lo);
    *min = lo == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    *max = o->max_version == 0 ? 0 : hi == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    return 0;
}

/* Notes the first certificate that failed, for the detail string; see accept_unverified. */
static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    nipc_tls_t *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (t == NULL)
        return ok;
    if (!ok && t->verify_note[0] == '\0') {
        char name[128] = "";
        X509 *x = X509_STORE_CTX_get_current_cert(xs);
        if (x != NULL)
            X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
        snprintf(t->verify_note, sizeof t->verify_note, " (depth %d: %s)",
                 X509_STORE_CTX_get_error_depth(xs), name);
    }
    return t->ctx->accept_unverified ? 1 : ok;
}

static int setup(nipc_tls_ctx_t *ctx, const nipc_tls_opts_t *o, char *why, size_t why_len)
{
    int min = TLS1_2_VERSION, max = 0;
    int err = versions(o, &min, &max, why, why_len);
    if (err != 0)
        return err;
    ctx->ssl = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
    ctx->bio_method = bio_method_new();
    if (ctx->ssl == NULL || ctx->bio_method == NULL)
        return refused(why, why_len, UV_ENOMEM, "OpenSSL");
    SSL_CTX *c = ctx->ssl;
    if (!SSL_CTX_set_min_proto_version(c, min) || !SSL_CTX_set_max_proto_version(c, max))
        return refused(why, why_len, UV_EINVAL, "TLS versions");
    /* Renegotiation only helps an attacker here; with no session cache on either side,
     * a server's tickets would be bytes nobody uses. */
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    if (o->server) {
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(c, 0);
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    }
    if ((err = load_identity(c, o, why, why_len)) != 0 || (err = load_trust(ctx, o, why, why_len)))
        return err;
    if (o->server && (err = load_dh(c, o, why, why_len)) != 0)
        return err;
    if (o->ciphers != NULL && (err = set_ciphers(c, o->ciphers, why, why_len)) != 0)
        return err;
    int mode = SSL_VERIFY_NONE;
    if (!o->server && o->reject_unauthorized)
        mode = SSL_VERIFY_PEER;
    else if (o->server && o->request_cert)
        mode = SSL_VERIFY_PEER | (o->reject_unauthorized ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(c, mode, verify_cb);
    return 0;
}

void nipc__tls_opts_init(nipc_tls_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->reject_unauthorized = true;
}

int nipc__tls_ctx_new(const nipc_tls_opts_t *o, nipc_tls_ctx_t **out, char *why, size_t why_len)
{
    *out = NULL;
    if (why_len > 0)
        why[0] = '\0';
    nipc_tls_ctx_t *ctx = nipc__calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return say(why, why_len, UV_ENOMEM, "out of memory");
    ctx->refs = 1;
    ctx->server = o->server;
    ctx->verify = !o->server && o->reject_unauthorized;
    ctx->accept_unverified = o->server && o->request_cert && !o->reject_unauthorized;
    ERR_clear_error();
    int err = setup(ctx, o, why, why_len);
    ERR_clear_error();
    if (err != 0) {
        nipc__tls_ctx_free(ctx);
        return err;
    }
    *out = ctx;
    return 0;
}

void nipc__tls_ctx_free(nipc_tls_ctx_t *ctx)
{
    if (ctx == NULL || --ctx->refs > 0)
        return;
    SSL_CTX_free(ctx->ssl);
    BIO_meth_free(ctx->bio_method);
    nipc__free(ctx);
}

/* ---- failures ---------------------------------------------------------------------------- */

static int verify_code(long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return NIPC_ECERTEXPIRED;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
        return NIPC_ECERTUNTRUSTED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return NIPC_ECERTNAME;
    case X509_V_ERR_OUT_OF_MEM:
        return UV_ENOMEM;
    default:
        return NIPC_ECERTINVALID;
    }
}

/* What an alert from the peer says about our side (RFC 8446 6.2, and OpenSSL's choice of
 * alert for each verification error). */
static int alert_code(int alert)
{
    switch (alert) {
    case SSL_AD_CERTIFICATE_EXPIRED:
        return NIPC_ECERTEXPIRED;
    case SSL_AD_UNKNOWN_CA:
        return NIPC_ECERTUNTRUSTED;
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
        return NIPC_ECERTINVALID;
    case SSL_AD_CERTIFICATE_REQUIRED:
        return NIPC_ENOPEERCERT;
    case SSL_AD_PROTOCOL_VERSION:
        return NIPC_ETLSVERSION;
    default:
        return NIPC_ETLS;
    }
}

/* The code and detail of an SSL_ERROR_SSL, from the error queue (emptied). */
static int classify(nipc_tls_t *t)
{
    unsigned long e, first = 0, ssl = 0;
    bool oom = false;
    while ((e = ERR_get_error()) != 0) {
        if (first == 0)
            first = e;
        if (ssl == 0 && ERR_GET_LIB(e) == ERR_LIB_SSL)
            ssl = e;
        oom = oom || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    }
    /* Whatever else went wrong then, OpenSSL was out of memory: an error the peer never saw. */
    if (oom) {
        snprintf(t->detail, sizeof t->detail, "OpenSSL is out of memory");
        return UV_ENOMEM;
    }
    e = ssl != 0 ? ssl : first;
    int reason = ERR_GET_REASON(e);
    if (ssl != 0 && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        long v = SSL_get_verify_result(t->ssl);
        snprintf(t->detail, sizeof t->detail, "certificate verify failed: %s%s",
                 X509_verify_cert_error_string(v), t->verify_note);
        return verify_code(v);
    }
    if (ssl != 0 && reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        int alert = reason - SSL_AD_REASON_OFFSET;
        const char *text = ERR_reason_error_string(e); /* knows TLS 1.3's alerts too */
        snprintf(t->detail, sizeof t->detail, "the peer sent alert %d (%s)", alert,
                 text != NULL ? text : SSL_alert_desc_string_long(alert));
        return alert_code(alert);
    }
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(t->detail, sizeof t->detail, "%s", r != NULL ? r : "no reason given by OpenSSL");
    if (ssl == 0)
        return NIPC_ETLS;
    switch (reason) {
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return NIPC_ENOPEERCERT;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
        return NIPC_ETLSVERSION;
    default:
        return NIPC_ETLS;
    }
}

/* Makes the connection failed (sticky) after an OpenSSL call returned r; returns the code. */
static int fail(nipc_tls_t *t, int r)
{
    int e = SSL_get_error(t->ssl, r);
    int code = NIPC_ETLS;
    if (t->oom) {
        code = UV_ENOMEM;
        snprintf(t->detail, sizeof t->detail, "out of memory for the ciphertext queue");
    } else if (e == SSL_ERROR_SSL) {
        code = classify(t);
    } else {
        bool oom;
        const char *reason = drain_queue(&oom);
        code = oom ? UV_ENOMEM : code;
        snprintf(t->detail, sizeof t->detail, "OpenSSL error %d: %s", e,
                 reason != NULL ? reason : "no reason given by OpenSSL");
    }
    ERR_clear_error();
    t->err = code;
    return code;
}

/* ---- one connection ------------------------------------------------------------------------ */

static int encrypt(nipc_tls_t *t, const void *p, size_t n)
{
    size_t done;
    ERR_clear_error();
    int r = SSL_write_ex(t->ssl, p, n, &done);
    return r == 1 ? 0 : fail(t, r);
}

static int close_notify(nipc_tls_t *t)
{
    ERR_clear_error();
    int r = SSL_shutdown(t->ssl);
    return r >= 0 ? 0 : fail(t, r);
}

static int note_peer(nipc_tls_t *t)
{
    X509 *peer = SSL_get0_peer_certificate(t->ssl);
    if (peer == NULL || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return 0;
    BIO *m = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = -1;
    /* RFC 2253 text, with UTF-8 left as UTF-8 rather than escaped. */
    if (m != NULL && X509_NAME_print_ex(m, X509_get_subject_name(peer), 0,
                                        XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
        n = BIO_get_mem_data(m, &p);
    if (n >= 0)
        t->peer_subject = nipc__strndup(p != NULL ? p : "", (size_t)n);
    BIO_free(m);
    ERR_clear_error();
    if (t->peer_subject == NULL) {
        snprintf(t->detail, sizeof t->detail, "out of memory for the peer's subject");
        return t->err = UV_ENOMEM;
    }
    return 0;
}

static int on_established(nipc_tls_t *t)
{
    t->established = true;
    int err = note_peer(t);
    if (err == 0 && nipc__buf_size(&t->early) > 0)
        err = encrypt(t, t->early.data + t->early.off, nipc__buf_size(&t->early));
    nipc__buf_free(&t->early);
    if (err == 0 && t->shut)
        err = close_notify(t);
    return err;
}

/* Advances the handshake as far as the bytes fed allow. */
static int handshake(nipc_tls_t *t)
{
    if (t->established)
        return 0;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return on_established(t);
    if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ && !t->oom) {
        ERR_clear_error();
        return 0;
    }
    return fail(t, r);
}

static int set_peer_name(nipc_tls_t *t, const char *name)
{
    if (name == NULL)
        return 0;
    if (name[0] == '\0')
        return UV_EINVAL;
    /* An IP literal is checked against the IP address SANs and never sent as SNI (RFC
     * 6066 3); anything else is a host name. */
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) == 1)
        return 0;
    ERR_clear_error();
    SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!SSL_set1_host(t->ssl, name) || !SSL_set_tlsext_host_name(t->ssl, name))
        return UV_EINVAL;
    return 0;
}

int nipc__tls_new(nipc_tls_ctx_t *ctx, const char *servername, nipc_tls_t **out)
{
    *out = NULL;
    if (ctx->server ? servername != NULL : servername == NULL && ctx->verify)
        return UV_EINVAL;
    nipc_tls_t *t = nipc__calloc(1, sizeof *t);
    if (t == NULL)
        return UV_ENOMEM;
    nipc__buf_init(&t->in);
    nipc__buf_init(&t->out);
    nipc__buf_init(&t->early);
    t->ctx = ctx;
    ctx->refs++;
    ERR_clear_error();
    int err = UV_ENOMEM;
    t->ssl = SSL_new(ctx->ssl);
    BIO *bio = t->ssl != NULL ? BIO_new(ctx->bio_method) : NULL;
    if (bio == NULL)
        goto fail;
    BIO_set_data(bio, t);
    SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: the SSL owns it */
    if (!SSL_set_app_data(t->ssl, t))
        goto fail;
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
    } else {
        if ((err = set_peer_name(t, servername)) != 0)
            goto fail;
        SSL_set_connect_state(t->ssl);
        if ((err = handshake(t)) != 0) /* the ClientHello */
            goto fail;
    }
    *out = t;
    return 0;
fail:
    ERR_clear_error();
    nipc__tls_free(t);
    return err;
}

void nipc__tls_free(nipc_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl);
    nipc__buf_free(&t->in);
    nipc__buf_free(&t->out);
    nipc__buf_free(&t->early);
    nipc__free(t->peer_subject);
    nipc__tls_ctx_free(t->ctx);
    nipc__free(t);
}

/* Keeps what is unread at the front once it is no longer than what was read before it. */
static void compact_in(nipc_tls_t *t)
{
    if (t->in.off > 0 && t->in.off >= nipc__buf_size(&t->in))
        nipc__buf_compact(&t->in);
}

int nipc__tls_feed(nipc_tls_t *t, const void *cipher, size_t n)
{
    if (t->err != 0)
        return t->err;
    compact_in(t);
    if (nipc__buf_append(&t->in, cipher, n) != 0) {
        snprintf(t->detail, sizeof t->detail, "out of memory for the ciphertext received");
        return t->err = UV_ENOMEM;
    }
    return 0;
}

nipc_buf_t *nipc__tls_in(nipc_tls_t *t)
{
    compact_in(t);
    return &t->in;
}

int nipc__tls_read(nipc_tls_t *t, void *plain, size_t cap, size_t *got)
{
    *got = 0;
    if (cap == 0)
        return UV_EINVAL;
    if (t->err != 0)
        return t->err;
    int err = handshake(t);
    if (err != 0 || !t->established)
        return err;
    while (*got < cap && !t->eof && t->err == 0) {
        size_t n = 0;
        ERR_clear_error();
        int r = SSL_read_ex(t->ssl, (char *)plain + *got, cap - *got, &n);
        if (r == 1) {
            *got += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            t->eof = true;
        else if (e != SSL_ERROR_WANT_READ || t->oom)
            fail(t, r);
        ERR_clear_error();
        break;
    }
    if (*got > 0)
        return 0;
    return t->err != 0 ? t->err : t->eof ? UV_EOF : 0;
}

int nipc__tls_write(nipc_tls_t *t, const void *plain, size_t n)
{
    if (t->err != 0)
        return t->err;
    if (t->shut)
        return UV_EPIPE;
    if (n == 0)
        return 0;
    if (!t->established)
        return nipc__buf_append(&t->early, plain, n);
    return encrypt(t, plain, n);
}

int nipc__tls_shutdown(nipc_tls_t *t)
{
    if (t->err != 0)
        return t->err;
    if (t->shut)
        return 0;
    t->shut = true;
    return t->established ? close_notify(t) : 0;
}

size_t nipc__tls_out_size(const nipc_tls_t *t)
{
    return nipc__buf_size(&t->out);
}

size_t nipc__tls_out_take(nipc_tls_t *t, void *dst, size_t cap)
{
    size_t n = nipc__buf_size(&t->out);
    if (n > cap)
        n = cap;
    if (n > 0)
        memcpy(dst, t->out.data + t->out.off, n);
    t->out.off += n;
    if (t->out.off == t->out.len)
        nipc__buf_reset(&t->out);
    return n;
}

nipc_buf_t *nipc__tls_out(nipc_tls_t *t)
{
    return &t->out;
}

bool nipc__tls_established(const nipc_tls_t *t)
{
    return t->established && t->err == 0;
}

const char *nipc__tls_peer_subject(const nipc_tls_t *t)
{
    return t->established && t->err == 0 ? t->peer_subject : NULL;
}

int nipc__tls_version(const nipc_tls_t *t)
{
    if (!t->established)
        return 0;
    switch (SSL_version(t->ssl)) {
    case TLS1_2_VERSION:
        return 12;
    case TLS1_3_VERSION:
        return 13;
    default:
        return 0;
    }
}

const char *nipc__tls_cipher(const nipc_tls_t *t)
{
    const SSL_CIPHER *c = t->established ? SSL_get_current_cipher(t->ssl) : NULL;
    return c != NULL ? SSL_CIPHER_get_name(c) : "";
}

const char *nipc__tls_error_detail(const nipc_tls_t *t)
{
    return t->err != 0 ? t->detail : "";
}
