/* SPDX-License-Identifier: MIT */
/* node-ipc's defaults (K1), per-instance copies (K2) and the default socket path (S1, C1). */
#include "core.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1024 * 1024)

/* node-ipc's id default is os.hostname(). Read once per process, so every config points at
 * the same string and no call rewrites it under another thread's feet. */
static char hostname[256];
static pthread_once_t hostname_once = PTHREAD_ONCE_INIT;

static void read_hostname(void)
{
    if (gethostname(hostname, sizeof hostname - 1) != 0 || hostname[0] == '\0')
        strcpy(hostname, "localhost");
}

void nipc_config_init(nipc_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    pthread_once(&hostname_once, read_hostname);
    cfg->appspace = "app.";
    cfg->socket_root = "/tmp/";
    cfg->id = hostname;
    cfg->network_host = "127.0.0.1";
    cfg->network_port = 8000;
    cfg->encoding = "utf8";
    cfg->delimiter = "\f";
    cfg->unlink = true;
    cfg->log_in_color = true;
    cfg->log_depth = 5;
    cfg->max_connections = 100;
    cfg->retry = 500;
    cfg->max_retries = NIPC_RETRY_FOREVER;
    cfg->retry_backoff = 1; /* node-ipc's fixed interval; no cap, no jitter */
    cfg->tls.reject_unauthorized = true;
    cfg->tls.min_version = 12;
    cfg->tls.handshake_timeout_ms = 10000;
    cfg->max_message_size = 64 * MIB;
    cfg->max_queued_bytes = 64 * MIB;
    cfg->flush_timeout_ms = 10000;
    cfg->unix_send_buffer = 256 * 1024;
    cfg->legacy_data = true;
    cfg->max_event_name = 256;
    cfg->message_timeout_ms = 30000;
}

/* Every string field, so copy and free cannot drift apart. */
#define CONFIG_STRINGS(X)                                                                          \
    X(appspace)                                                                                    \
    X(socket_root)                                                                                 \
    X(id)                                                                                          \
    X(network_host)                                                                                \
    X(encoding)                                                                                    \
    X(delimiter)                                                                                   \
    X(iface.local_address)                                                                         \
    X(tls.private_key)                                                                             \
    X(tls.public_cert)                                                                             \
    X(tls.dhparam)                                                                                 \
    X(tls.key_pem)                                                                                 \
    X(tls.cert_pem)                                                                                \
    X(tls.ca_pem)                                                                                  \
    X(tls.ciphers)                                                                                 \
    X(tls.servername)

/* A copy of n ids (NULL for none). */
static const unsigned *copy_ids(const unsigned *src, size_t n, bool *nomem)
{
    if (src == NULL || n == 0)
        return NULL;
    unsigned *dst = nipc__calloc(n, sizeof *dst);
    if (dst == NULL)
        *nomem = true;
    else
        memcpy(dst, src, n * sizeof *dst);
    return dst;
}

/*
 * A NULL-terminated list of strings in one allocation: the pointers, then the bytes they
 * point at. One block is freed at once and leaves no half-copied list behind.
 */
static const char *const *copy_list(const char *const *src, bool *failed)
{
    if (src == NULL)
        return NULL;
    size_t n = 0, bytes = 0;
    for (; src[n] != NULL; n++) {
        size_t len = strlen(src[n]) + 1;
        if (len > SIZE_MAX - bytes) {
            *failed = true;
            return NULL;
        }
        bytes += len;
    }
    size_t ptrs = (n + 1) * sizeof(char *);
    char *block = bytes <= SIZE_MAX - ptrs ? nipc__malloc(ptrs + bytes) : NULL;
    if (block == NULL) {
        *failed = true;
        return NULL;
    }
    const char **list = (const char **)(void *)block;
    char *text = block + ptrs;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(src[i]) + 1;
        memcpy(text, src[i], len);
        list[i] = text;
        text += len;
    }
    list[n] = NULL;
    return list;
}

void nipc__config_free(nipc_config_t *cfg)
{
#define FREE_STRING(f) nipc__free((char *)cfg->f);
    CONFIG_STRINGS(FREE_STRING)
#undef FREE_STRING
    nipc__free((void *)cfg->tls.trusted_connections);
    nipc__free((void *)cfg->allow_uids);
    nipc__free((void *)cfg->allow_gids);
    nipc__free((void *)cfg->allowed_events);
    memset(cfg, 0, sizeof *cfg);
}

int nipc__config_copy(nipc_config_t *dst, const nipc_config_t *src)
{
    *dst = *src;
#define NULL_STRING(f) dst->f = NULL;
    CONFIG_STRINGS(NULL_STRING)
#undef NULL_STRING
    dst->tls.trusted_connections = NULL;
    dst->allow_uids = dst->allow_gids = NULL;
    dst->allowed_events = NULL;
#define COPY_STRING(f)                                                                             \
    if (src->f != NULL && (dst->f = nipc__strdup(src->f)) == NULL)                                 \
        goto nomem;
    CONFIG_STRINGS(COPY_STRING)
#undef COPY_STRING
    bool nomem = false;
    dst->tls.trusted_connections = copy_list(src->tls.trusted_connections, &nomem);
    dst->allowed_events = copy_list(src->allowed_events, &nomem);
    dst->allow_uids = copy_ids(src->allow_uids, src->n_allow_uids, &nomem);
    dst->allow_gids = copy_ids(src->allow_gids, src->n_allow_gids, &nomem);
    if (nomem)
        goto nomem;
    return 0;
nomem:
    nipc__config_free(dst);
    return UV_ENOMEM;
}

bool nipc__config_assured_net(const nipc_config_t *cfg, bool server)
{
    if (!cfg->assured)
        return true;
    if (!cfg->tls.enabled || !cfg->tls.reject_unauthorized)
        return false;
    if (server)
        return cfg->tls.request_cert;
    return (cfg->tls.public_cert != NULL || cfg->tls.cert_pem != NULL) &&
           (cfg->tls.private_key != NULL || cfg->tls.key_pem != NULL);
}

int nipc__config_check(const nipc_config_t *cfg, const char **why)
{
    if (cfg->delimiter == NULL || cfg->delimiter[0] == '\0') {
        *why = "delimiter must be a non-empty string";
        return UV_EINVAL;
    }
    if (cfg->appspace == NULL || cfg->socket_root == NULL || cfg->id == NULL) {
        *why = "appspace, socket_root and id must be set";
        return UV_EINVAL;
    }
    if (cfg->max_message_size == 0) {
        *why = "max_message_size must be positive";
        return UV_EINVAL;
    }
    if (cfg->max_retries < NIPC_RETRY_FOREVER) {
        *why = "max_retries must be NIPC_RETRY_FOREVER or >= 0";
        return UV_EINVAL;
    }
    /* isfinite() and the comparisons refuse NaN as well: NaN >= 1 is false. */
    if (!(isfinite(cfg->retry_backoff) && cfg->retry_backoff >= 1)) {
        *why = "retry_backoff must be a finite number >= 1 (1: node-ipc's fixed interval)";
        return UV_EINVAL;
    }
    if (!(cfg->retry_jitter >= 0 && cfg->retry_jitter <= 1)) {
        *why = "retry_jitter must be from 0 to 1";
        return UV_EINVAL;
    }
    if (cfg->retry_max_ms != 0 && cfg->retry_max_ms < cfg->retry) {
        *why = "retry_max_ms must be 0 (no cap) or at least retry";
        return UV_EINVAL;
    }
    /* As node-ipc 14 refuses an empty allowedEvents: a list that allows nothing is a mistake,
     * and NULL already means "any type". */
    if (cfg->assured &&
        (cfg->allowed_events == NULL || cfg->max_event_name == 0 || cfg->message_timeout_ms == 0)) {
        *why = "assured needs allowed_events, max_event_name and message_timeout_ms";
        return UV_EINVAL;
    }
    if (cfg->allowed_events != NULL && cfg->allowed_events[0] == NULL) {
        *why = "allowed_events must list at least one event type, or be NULL";
        return UV_EINVAL;
    }
    nipc_encoding_t enc = NIPC__ENC_UTF8;
    if (cfg->encoding != NULL && nipc__encoding_parse(cfg->encoding, &enc) != 0) {
        *why = "encoding must be one of Node's: utf8, ascii, latin1 (binary), hex, base64, "
               "base64url, utf16le (ucs2)";
        return UV_EINVAL;
    }
    /* W17: a frame is JSON text, UTF-8 on the wire both ways; other encodings are raw
     * mode's (a caller's codec makes its own bytes). */
    if (enc != NIPC__ENC_UTF8 && !cfg->raw_buffer && cfg->codec == NULL) {
        *why = "JSON mode is UTF-8 only: encoding must be \"utf8\" unless raw_buffer is set";
        return UV_ENOTSUP;
    }
    if (cfg->codec != NULL && (cfg->codec->encode == NULL || cfg->codec->read == NULL)) {
        *why = "a codec needs both encode and read";
        return UV_EINVAL;
    }
    if (cfg->codec != NULL && cfg->raw_buffer) {
        *why = "raw_buffer and a codec exclude each other: raw mode is a codec";
        return UV_EINVAL;
    }
    if ((cfg->n_allow_uids > 0 && cfg->allow_uids == NULL) ||
        (cfg->n_allow_gids > 0 && cfg->allow_gids == NULL)) {
        *why = "allow_uids and allow_gids must be set when their counts are";
        return UV_EINVAL;
    }
    if (cfg->tls.min_version != 0 && cfg->tls.min_version != 12 && cfg->tls.min_version != 13) {
        *why = "tls.min_version must be 12 (TLS 1.2) or 13 (TLS 1.3)";
        return UV_EINVAL;
    }
    return 0;
}

char *nipc__config_path(const nipc_config_t *cfg, const char *id, size_t max, int *err)
{
    size_t a = strlen(cfg->socket_root), b = strlen(cfg->appspace), c = strlen(id);
    if (a + b + c > max) {
        *err = UV_ENAMETOOLONG;
        return NULL;
    }
    char *p = nipc__malloc(a + b + c + 1);
    if (p == NULL) {
        *err = UV_ENOMEM;
        return NULL;
    }
    memcpy(p, cfg->socket_root, a);
    memcpy(p + a, cfg->appspace, b);
    memcpy(p + a + b, id, c + 1);
    *err = 0;
    return p;
}
