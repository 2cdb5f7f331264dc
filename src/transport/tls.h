/* SPDX-License-Identifier: MIT */
/*
 * The TLS engine: OpenSSL over memory buffers, with no socket and no loop. The stream glue
 * feeds it the ciphertext a socket read, sends what it queues, and reads and writes
 * plaintext through it; nothing here blocks or performs I/O. OpenSSL appears only in
 * tls.c: both types are opaque.
 *
 * Driving one connection:
 *  - after nipc__tls_new, after every feed and after every read, write or shutdown, send
 *    what the out queue holds (nipc__tls_out_size / _take, or nipc__tls_out);
 *  - after each feed, call nipc__tls_read until it returns an error or *got == 0: it
 *    advances the handshake, and one call returns at most cap bytes of what is decrypted;
 *  - on an error, send the out queue still (it may hold the alert that tells the peer
 *    why), then close the socket. Errors are sticky: every later call returns the same
 *    code, and nipc__tls_error_detail says why.
 * TLS 1.3 ends the client's handshake one flight before the server's: a client is
 * established before the server has checked its certificate, so the server's refusal
 * reaches the client as an error of a later read.
 *
 * Thread: a context and every connection made from it belong to one thread (the loop's):
 * they share a reference count that is not atomic.
 */
#ifndef NIPC_TRANSPORT_TLS_H
#define NIPC_TRANSPORT_TLS_H

#include "../core/core.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct nipc_tls_ctx nipc_tls_ctx_t; /* one configuration (server or client) */
typedef struct nipc_tls nipc_tls_t;         /* one connection */

/*
 * A configuration, node-ipc's config.tls (T2, T3) in C. Zero it, set `reject_unauthorized`
 * (nipc__tls_opts_init does both), then what is wanted. Each key, certificate, CA and
 * dhparam is given as a file path or as PEM text in memory, never both. Strings are read
 * during nipc__tls_ctx_new only.
 */
typedef struct nipc_tls_opts {
    bool server;
    const char *key_file;     /* private key (node-ipc's `private`), PEM; a client's is optional */
    const char *key_pem;      /* or the key as PEM text */
    const char *passphrase;   /* for an encrypted key; NULL: an encrypted key is refused */
    const char *cert_file;    /* certificate (node-ipc's `public`), PEM, then any chain */
    const char *cert_pem;     /* or the same as PEM text */
    const char *dhparam_file; /* server: DH parameters for TLS 1.2 DHE suites (node-ipc's */
    const char *dhparam_pem;  /* `dhparam`); without, OpenSSL picks a group by key size */
    const char *const *ca_files; /* the CAs to trust (node-ipc's trustedConnections), */
    size_t n_ca_files;           /* each file holding one or several certificates */
    const char *ca_pem;          /* and/or CAs as PEM text (one or several) */
    bool request_cert;           /* server: ask the client for a certificate (T5) */
    /*
     * true (the default): a client refuses a server whose chain or name does not verify
     * (T4); a server with request_cert refuses a client without a verified certificate.
     * false: the handshake goes on, unauthenticated, and nipc__tls_peer_subject is NULL.
     */
    bool reject_unauthorized;
    /*
     * Node's `ciphers`: an OpenSSL cipher list for TLS 1.2, in which names starting with
     * "TLS_" set the TLS 1.3 suites instead. NULL: OpenSSL's defaults. Either half left
     * empty keeps its defaults.
     */
    const char *ciphers;
    int min_version; /* 0 or 12: TLS 1.2, 13: TLS 1.3; nothing older is ever spoken */
    int max_version; /* 0: the newest OpenSSL has, 12 or 13 */
} nipc_tls_opts_t;

/* Zeroes *o and sets reject_unauthorized: a client that verifies its server. */
void nipc__tls_opts_init(nipc_tls_opts_t *o);

/*
 * Makes a context from *o. Trust: the CAs given, and when none is given, OpenSSL's default
 * verify paths (the system store); nipc bundles no certificate. A server that requires
 * client certificates (request_cert with reject_unauthorized) must be given its CAs: it
 * would trust every public CA's client otherwise.
 * Returns 0 and sets *out, or, with a sentence in why (why may be NULL if why_len is 0):
 *   UV_EINVAL  a server without key or certificate (T6), a key without certificate or the
 *              reverse, a key that does not match the certificate, text that holds no
 *              key, certificate or parameters, an encrypted key and no or a wrong
 *              passphrase, both a file and PEM text for one item, an unknown cipher,
 *              a version outside 12..13 or max below min, a server requiring client
 *              certificates with no CA;
 *   UV_ENOENT, UV_EACCES, ... a file that cannot be read (the system's code);
 *   UV_EFBIG   a file above 16 MiB;
 *   UV_ENOMEM.
 * On error *out is NULL.
 */
int nipc__tls_ctx_new(const nipc_tls_opts_t *o, nipc_tls_ctx_t **out, char *why, size_t why_len);
/*
 * Drops the caller's reference: the context is freed when its last connection is, so a
 * server may free it while connections made from it are still up. NULL is ignored.
 */
void nipc__tls_ctx_free(nipc_tls_ctx_t *ctx);

/*
 * A connection of ctx. servername, for a client: the name connected to, host name or IP
 * literal. It is verified against the certificate (an IP literal against its IP address
 * SANs) and a host name is sent as SNI; it is required when the client verifies its
 * server. NULL on servers. A client's ClientHello is in the out queue on return.
 * Returns 0 and sets *out, or UV_EINVAL (a verifying client without servername, a server
 * given one, an empty name), a TLS code (OpenSSL could not write a ClientHello, e.g. no
 * cipher left for the versions allowed) or UV_ENOMEM; on error *out is NULL.
 */
int nipc__tls_new(nipc_tls_ctx_t *ctx, const char *servername, nipc_tls_t **out);
/* Frees the connection and its queues (no close_notify: call nipc__tls_shutdown first). */
void nipc__tls_free(nipc_tls_t *t);

/*
 * Takes n bytes of ciphertext from the socket (copied). 0, UV_ENOMEM (sticky: the stream
 * lost bytes) or the sticky error. Decryption waits for nipc__tls_read.
 */
int nipc__tls_feed(nipc_tls_t *t, const void *cipher, size_t n);
/*
 * The ciphertext input queue, for a glue that reads the socket straight into it instead
 * of calling feed: reserve, read into data + len, add to len, all before the next engine
 * call on t (its bytes may move then). Never consume from it.
 */
nipc_buf_t *nipc__tls_in(nipc_tls_t *t);

/*
 * Advances the handshake, then decrypts up to cap (> 0) bytes into plain; *got says how
 * many. Returns:
 *   0 with *got > 0  plaintext; call again, more may be ready without a feed;
 *   0 with *got == 0 more ciphertext is needed (a partial record, or the handshake waits);
 *   UV_EOF           the peer sent close_notify (every later read says so too; writes are
 *                    still possible, and nipc__tls_shutdown answers in kind);
 *   UV_EINVAL        cap == 0;
 *   a failure: NIPC_ETLS, NIPC_ECERTEXPIRED, NIPC_ECERTUNTRUSTED, NIPC_ECERTNAME,
 *   NIPC_ECERTINVALID, NIPC_ETLSVERSION, NIPC_ENOPEERCERT or UV_ENOMEM, sticky.
 * A failure met after some plaintext in the same call is returned by the next call.
 */
int nipc__tls_read(nipc_tls_t *t, void *plain, size_t cap, size_t *got);
/*
 * Encrypts all n bytes into the out queue. Before the handshake ends the bytes are kept
 * (copied) and encrypted as soon as it does, in order. 0, UV_EPIPE after
 * nipc__tls_shutdown, UV_ENOMEM, or the sticky error.
 */
int nipc__tls_write(nipc_tls_t *t, const void *plain, size_t n);
/*
 * Queues close_notify after everything written; before the handshake ends it is sent
 * once the handshake and the kept plaintext are. Reads go on until the peer's
 * close_notify (UV_EOF). A second call does nothing. 0, UV_ENOMEM or the sticky error.
 */
int nipc__tls_shutdown(nipc_tls_t *t);

/* Bytes of ciphertext queued to be sent. */
size_t nipc__tls_out_size(const nipc_tls_t *t);
/* Moves up to cap bytes of queued ciphertext to dst; returns how many. */
size_t nipc__tls_out_take(nipc_tls_t *t, void *dst, size_t cap);
/*
 * The ciphertext output queue itself, to send without a copy: swap it for an empty buffer
 * (nipc__buf_swap), send what was taken and free it once written. Its bytes may move at
 * the next engine call on t, so a pointer into it is good until then only; never append.
 */
nipc_buf_t *nipc__tls_out(nipc_tls_t *t);

/* True once the handshake is done and no failure came after it. */
bool nipc__tls_established(const nipc_tls_t *t);
/*
 * The peer certificate's subject in RFC 2253 text ("CN=nipc test client,O=nipc"), when
 * the peer sent one and it verified; NULL otherwise (no certificate, reject_unauthorized
 * false and a failed check, handshake not done, a failure since). Valid until
 * nipc__tls_free.
 */
const char *nipc__tls_peer_subject(const nipc_tls_t *t);
/* The negotiated version: 12 or 13, 0 before the handshake ends. */
int nipc__tls_version(const nipc_tls_t *t);
/* The negotiated cipher suite's OpenSSL name, "" before the handshake ends. Static. */
const char *nipc__tls_cipher(const nipc_tls_t *t);
/*
 * Why the connection failed, for logs: the verification error with the depth and subject
 * of the certificate refused ("certificate verify failed: certificate has expired (depth
 * 0: /CN=localhost)"), the alert the peer sent ("the peer sent alert 48 (tlsv1 alert
 * unknown ca)"), or OpenSSL's reason; "" while nothing failed. Valid until nipc__tls_free.
 */
const char *nipc__tls_error_detail(const nipc_tls_t *t);

#endif /* NIPC_TRANSPORT_TLS_H */
