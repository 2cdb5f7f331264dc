/* SPDX-License-Identifier: MIT */
/* node-ipc's config defaults, deep copies, checks and the default socket path (K1, K2, S1, C1). */
#include "core/core.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(config, k1_node_ipc_defaults, .timeout = 10)
{
    nipc_config_t c;
    memset(&c, 0x5a, sizeof c); /* init must set every field, not rely on zeroed memory */
    nipc_config_init(&c);

    char host[256] = "";
    cr_assert_eq(gethostname(host, sizeof host - 1), 0);
    cr_assert_str_eq(c.appspace, "app.");
    cr_assert_str_eq(c.socket_root, "/tmp/");
    cr_assert_str_eq(c.id, host[0] ? host : "localhost", "id is os.hostname()");
    cr_assert_str_eq(c.network_host, "127.0.0.1");
    cr_assert_eq(c.network_port, 8000);
    cr_assert_str_eq(c.encoding, "utf8");
    cr_assert_eq(c.raw_buffer, false);
    cr_assert_str_eq(c.delimiter, "\f");
    cr_assert_eq(c.sync, false);
    cr_assert_eq(c.unlink, true);
    cr_assert_eq(c.silent, false);
    cr_assert_eq(c.log_in_color, true);
    cr_assert_eq(c.log_depth, 5);
    cr_assert_null(c.logger, "logger NULL means stdout, like console.log");
    cr_assert_null(c.logger_arg);
    cr_assert_eq(c.max_connections, 100);
    cr_assert_eq(c.retry, 500);
    cr_assert_eq(c.max_retries, NIPC_RETRY_FOREVER);
    cr_assert_eq(c.stop_retrying, false);
    cr_assert_eq(c.readable_all, false);
    cr_assert_eq(c.writable_all, false);
    cr_assert_null(c.iface.local_address);
    cr_assert_eq(c.iface.local_port, 0);
    cr_assert_eq(c.iface.family, 0);
    cr_assert_eq(c.tls.enabled, false);
    cr_assert_null(c.tls.private_key);
    cr_assert_null(c.tls.public_cert);
    cr_assert_null(c.tls.dhparam);
    cr_assert_null(c.tls.trusted_connections);
    cr_assert_eq(c.tls.request_cert, false);
    cr_assert_eq(c.tls.reject_unauthorized, true, "T4: verification is on by default");
}

Test(config, nipc_own_defaults, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    cr_assert_eq(c.max_message_size, (size_t)64 * 1024 * 1024);
    cr_assert_eq(c.max_queued_bytes, (size_t)64 * 1024 * 1024);
    cr_assert_eq(c.flush_timeout_ms, 10000);
    cr_assert_eq(c.allow_reserved_events, false);
    cr_assert_eq(c.legacy_data, true);
}

Test(config, defaults_pass_the_check, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    const char *why = NULL;
    cr_assert_eq(nipc__config_check(&c, &why), 0, "%s", why ? why : "");
}

/* ---- copies --------------------------------------------------------------------------- */

/* A list the test owns, in heap strings, as a caller might build it. */
static char **make_list(void)
{
    char **list = calloc(4, sizeof *list);
    cr_assert_not_null(list);
    list[0] = strdup("hello");
    list[1] = strdup("");
    list[2] = strdup("h\xc3\xa9llo.bye");
    return list;
}

static void free_list(char **list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        free(list[i]);
    free(list);
}

/* Every string field, and allowed_events, set to heap strings the test owns. */
static void fill_strings(nipc_config_t *c)
{
    nipc_config_init(c);
    c->appspace = strdup("space.");
    c->socket_root = strdup("/run/x/");
    c->id = strdup("world");
    c->network_host = strdup("::1");
    c->encoding = strdup("utf8");
    c->delimiter = strdup("\r\n");
    c->iface.local_address = strdup("127.0.0.2");
    c->tls.private_key = strdup("/k.pem");
    c->tls.public_cert = strdup("/c.pem");
    c->tls.dhparam = strdup("/dh.pem");
    static const char *const cas[] = {"/ca.pem", "/ca2.pem", NULL};
    c->tls.trusted_connections = cas;
    c->tls.key_pem = strdup("KEY");
    c->tls.cert_pem = strdup("CERT");
    c->tls.ca_pem = strdup("CA");
    c->tls.ciphers = strdup("HIGH");
    c->tls.servername = strdup("example");
    c->allowed_events = (const char *const *)make_list();
    c->network_port = 1234;
    c->retry = 7;
    c->max_message_size = 99;
    c->tls.enabled = true;
}

#define STRING_FIELDS(X)                                                                           \
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

static void free_strings(nipc_config_t *c)
{
#define FREE_FIELD(f) free((char *)c->f);
    STRING_FIELDS(FREE_FIELD)
#undef FREE_FIELD
    free_list((char **)c->allowed_events);
}

Test(config, k2_copy_is_deep, .timeout = 10)
{
    nipc_config_t src, dst;
    fill_strings(&src);
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);

#define CHECK_FIELD(f)                                                                             \
    cr_assert_neq(dst.f, src.f, #f " shares the caller's pointer");                                \
    cr_assert_str_eq(dst.f, src.f, #f);
    STRING_FIELDS(CHECK_FIELD)
#undef CHECK_FIELD
    cr_assert_eq(dst.network_port, 1234);
    cr_assert_eq(dst.retry, 7);
    cr_assert_eq(dst.max_message_size, 99);
    cr_assert_eq(dst.tls.enabled, true);

    /* Scribble over the caller's strings, then free them: the copy is unaffected. */
#define SCRIBBLE(f) memset((char *)src.f, '#', strlen(src.f));
    STRING_FIELDS(SCRIBBLE)
#undef SCRIBBLE
    free_strings(&src);
    cr_assert_str_eq(dst.appspace, "space.");
    cr_assert_str_eq(dst.socket_root, "/run/x/");
    cr_assert_str_eq(dst.id, "world");
    cr_assert_str_eq(dst.network_host, "::1");
    cr_assert_str_eq(dst.encoding, "utf8");
    cr_assert_str_eq(dst.delimiter, "\r\n");
    cr_assert_str_eq(dst.iface.local_address, "127.0.0.2");
    cr_assert_str_eq(dst.tls.private_key, "/k.pem");
    cr_assert_str_eq(dst.tls.public_cert, "/c.pem");
    cr_assert_str_eq(dst.tls.dhparam, "/dh.pem");
    cr_assert_neq(dst.tls.trusted_connections, src.tls.trusted_connections);
    cr_assert_str_eq(dst.tls.trusted_connections[0], "/ca.pem");
    cr_assert_str_eq(dst.tls.trusted_connections[1], "/ca2.pem");
    cr_assert_null(dst.tls.trusted_connections[2]);
    cr_assert_str_eq(dst.tls.ciphers, "HIGH");
    cr_assert_str_eq(dst.tls.servername, "example");
    nipc__config_free(&dst);
}

Test(config, k2_copy_of_defaults_keeps_null_strings, .timeout = 10)
{
    nipc_config_t src, dst;
    nipc_config_init(&src);
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);
    cr_assert_neq(dst.id, src.id);
    cr_assert_str_eq(dst.id, src.id);
    cr_assert_null(dst.tls.private_key);
    cr_assert_null(dst.iface.local_address);
    cr_assert_eq(dst.log_depth, 5);
    nipc__config_free(&dst);
}

Test(config, k2_copy_out_of_memory_at_every_allocation, .timeout = 10)
{
    nipc_config_t src;
    fill_strings(&src);
    unsigned long n;
    for (n = 1;; n++) {
        nipc_config_t dst;
        memset(&dst, 0x5a, sizeof dst);
        nipc__test_fail_alloc_after(n);
        int err = nipc__config_copy(&dst, &src);
        nipc__test_fail_alloc_after(0);
        if (err == 0) {
            cr_assert_str_eq(dst.tls.trusted_connections[1], "/ca2.pem");
            cr_assert_str_eq(dst.allowed_events[2], "h\xc3\xa9llo.bye");
            nipc__config_free(&dst);
            break;
        }
        cr_assert_eq(err, UV_ENOMEM, "allocation %lu: %s", n, nipc_err_name(err));
        /* "dst then holds nothing": no string or list to free, no pointer into src. */
#define CHECK_EMPTY(f) cr_assert_null(dst.f, "allocation %lu: " #f " left set", n);
        STRING_FIELDS(CHECK_EMPTY)
        CHECK_EMPTY(tls.trusted_connections)
#undef CHECK_EMPTY
        cr_assert_null(dst.allowed_events, "allocation %lu: allowed_events left set", n);
        nipc__config_free(&dst); /* harmless on an emptied config */
        cr_assert_lt(n, 100);
    }
    cr_assert_gt(n, 1, "the copy allocates, so the first allocation's failure must show");
    /* Each string and the list take one allocation: the list's failure was among them. */
    cr_assert_gt(n, 12, "allocation %lu succeeded before allowed_events was copied", n);
    free_strings(&src);
}

Test(config, free_twice_is_harmless, .timeout = 10)
{
    nipc_config_t src, dst;
    nipc_config_init(&src);
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);
    nipc__config_free(&dst);
    nipc__config_free(&dst);
    cr_assert_null(dst.id);
}

/* ---- allowed_events: a list copied whole ------------------------------------------------- */

Test(config, allowed_events_copy_is_deep, .timeout = 10)
{
    char **list = make_list();
    nipc_config_t src, dst;
    nipc_config_init(&src);
    src.allowed_events = (const char *const *)list;
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);
    cr_assert_not_null(dst.allowed_events);
    cr_assert_neq(dst.allowed_events, src.allowed_events, "the list is the caller's");
    for (size_t i = 0; i < 3; i++) {
        cr_assert_neq(dst.allowed_events[i], list[i], "name %zu is the caller's", i);
        cr_assert_str_eq(dst.allowed_events[i], list[i]);
    }
    cr_assert_null(dst.allowed_events[3], "the copy ends where the list ends");

    /* Scribble over the caller's list, then free it: the copy is unaffected. */
    for (size_t i = 0; list[i] != NULL; i++)
        memset(list[i], '#', strlen(list[i]));
    free_list(list);
    cr_assert_str_eq(dst.allowed_events[0], "hello");
    cr_assert_str_eq(dst.allowed_events[1], "");
    cr_assert_str_eq(dst.allowed_events[2], "h\xc3\xa9llo.bye");
    nipc__config_free(&dst);
    cr_assert_null(dst.allowed_events);
}

Test(config, no_allowed_events_copies_as_none, .timeout = 10)
{
    nipc_config_t src, dst;
    nipc_config_init(&src);
    cr_assert_null(src.allowed_events, "any type, by default");
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);
    cr_assert_null(dst.allowed_events);
    nipc__config_free(&dst);
}

Test(config, guard_defaults_change_nothing_a_node_ipc_peer_sends, .timeout = 10)
{
    nipc_config_t c;
    memset(&c, 0x5a, sizeof c);
    nipc_config_init(&c);
    cr_assert_eq(c.max_event_name, 256, "node-ipc 14's maxEventNameLength");
    cr_assert_eq(c.message_timeout_ms, 30000, "node-ipc 14's messageTimeout");
    cr_assert_eq(c.idle_timeout_ms, 0, "off, as node-ipc has no such bound");
    cr_assert_null(c.allowed_events);
}

/* ---- checks --------------------------------------------------------------------------- */

static int check(const nipc_config_t *c)
{
    const char *why = NULL;
    int err = nipc__config_check(c, &why);
    if (err != 0) {
        cr_assert_not_null(why, "a refusal says why");
        cr_assert_gt(strlen(why), 0);
    }
    return err;
}

Test(config, w15_empty_delimiter_refused, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    c.delimiter = "";
    cr_assert_eq(check(&c), UV_EINVAL);
    c.delimiter = NULL;
    cr_assert_eq(check(&c), UV_EINVAL);
    c.delimiter = "\r\n";
    cr_assert_eq(check(&c), 0);
    c.delimiter = "XYZ";
    cr_assert_eq(check(&c), 0);
}

/* W17 and R2: JSON frames are UTF-8; raw mode takes any of Node's encodings, and a name
 * Node does not know is refused, never ignored. */
Test(config, encodings_by_mode, .timeout = 10)
{
    nipc_config_t c;
    static const char *const node[] = {"latin1",  "binary", "ascii",     "hex",     "base64",
                                       "utf16le", "ucs2",   "base64url", "UTF-16LE"};
    for (size_t i = 0; i < sizeof node / sizeof node[0]; i++) {
        nipc_config_init(&c);
        c.encoding = node[i];
        cr_assert_eq(check(&c), UV_ENOTSUP, "W17: encoding %s in JSON mode", node[i]);
        c.raw_buffer = true;
        cr_assert_eq(check(&c), 0, "R2: encoding %s in raw mode", node[i]);
    }
    static const char *const unknown[] = {"utf16", "", "latin-1", "iso-8859-1"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        nipc_config_init(&c);
        c.raw_buffer = true;
        c.encoding = unknown[i];
        cr_assert_eq(check(&c), UV_EINVAL, "encoding \"%s\"", unknown[i]);
    }
    nipc_config_init(&c);
    c.encoding = "utf-8";
    cr_assert_eq(check(&c), 0);
    c.sync = true;
    cr_assert_eq(check(&c), 0, "C15: sync is a mode like any other");
}

static int no_encode(void *arg, const char *type, const json_t *data, nipc_codec_out_t *out)
{
    (void)arg, (void)type, (void)data, (void)out;
    return 0;
}

/* A codec needs both functions, and raw mode is a codec of its own. */
Test(config, a_codec_is_checked, .timeout = 10)
{
    nipc_config_t c;
    nipc_codec_t half = {.encode = no_encode};
    nipc_config_init(&c);
    c.codec = &half;
    cr_assert_eq(check(&c), UV_EINVAL);
}

/* Only TLS 1.2 and newer are spoken: a lower floor is refused, never quietly raised. */
Test(config, t3_a_tls_version_below_1_2_is_refused, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    cr_assert_eq(c.tls.min_version, 12);
    cr_assert_eq(c.tls.handshake_timeout_ms, 10000);
    cr_assert(c.tls.reject_unauthorized, "T4: verification on by default");
    c.tls.min_version = 11;
    cr_assert_eq(check(&c), UV_EINVAL);
    c.tls.min_version = 13;
    cr_assert_eq(check(&c), 0);
}

/* The default id is one string read once, whatever the number of configs. */
Test(config, k1_the_host_name_is_one_string_read_once, .timeout = 10)
{
    nipc_config_t a, b;
    nipc_config_init(&a);
    nipc_config_init(&b);
    cr_assert_eq(a.id, b.id);
    cr_assert_gt(strlen(a.id), 0);
}

Test(config, other_invalid_values_are_einval, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    c.appspace = NULL;
    cr_assert_eq(check(&c), UV_EINVAL);
    nipc_config_init(&c);
    c.socket_root = NULL;
    cr_assert_eq(check(&c), UV_EINVAL);
    nipc_config_init(&c);
    c.id = NULL;
    cr_assert_eq(check(&c), UV_EINVAL);
    nipc_config_init(&c);
    c.max_message_size = 0;
    cr_assert_eq(check(&c), UV_EINVAL);
    nipc_config_init(&c);
    c.max_retries = -2;
    cr_assert_eq(check(&c), UV_EINVAL);
    c.max_retries = 0;
    cr_assert_eq(check(&c), 0, "C8: 0 means no retry");
}

/* Backoff and jitter are off by default: every wait is node-ipc's `retry` (C7). */
Test(config, c7_retry_backoff_defaults_keep_node_ipc_s_fixed_interval, .timeout = 10)
{
    nipc_config_t c;
    memset(&c, 0x5a, sizeof c);
    nipc_config_init(&c);
    cr_assert_eq(c.retry, 500);
    cr_assert(c.retry_backoff == 1, "a fixed interval");
    cr_assert_eq(c.retry_max_ms, 0, "no cap");
    cr_assert(c.retry_jitter == 0, "no jitter");
    cr_assert_eq(check(&c), 0);
}

Test(config, retry_backoff_jitter_and_cap_are_checked, .timeout = 10)
{
    static const double bad_backoff[] = {0, 0.5, 0.999, -1, NAN, INFINITY, -INFINITY};
    static const double bad_jitter[] = {-0.01, 1.01, 2, NAN, INFINITY, -INFINITY};
    nipc_config_t c;
    for (size_t i = 0; i < sizeof bad_backoff / sizeof bad_backoff[0]; i++) {
        nipc_config_init(&c);
        c.retry_backoff = bad_backoff[i];
        cr_assert_eq(check(&c), UV_EINVAL, "retry_backoff %g", bad_backoff[i]);
    }
    for (size_t i = 0; i < sizeof bad_jitter / sizeof bad_jitter[0]; i++) {
        nipc_config_init(&c);
        c.retry_jitter = bad_jitter[i];
        cr_assert_eq(check(&c), UV_EINVAL, "retry_jitter %g", bad_jitter[i]);
    }
    nipc_config_init(&c);
    c.retry = 100;
    c.retry_max_ms = 99;
    cr_assert_eq(check(&c), UV_EINVAL, "a cap below the first wait");
    c.retry_max_ms = 100;
    cr_assert_eq(check(&c), 0, "a cap at the first wait: a fixed interval");
    c.retry_max_ms = 0;
    c.retry_backoff = 1e6;
    c.retry_jitter = 1;
    cr_assert_eq(check(&c), 0, "no cap, any finite growth, the whole range of jitter");
    c.retry_backoff = 1.5;
    c.retry_jitter = 0.25;
    c.retry_max_ms = 30000;
    cr_assert_eq(check(&c), 0);
}

Test(config, an_empty_allowed_events_is_einval, .timeout = 10)
{
    static const char *const none[] = {NULL};
    static const char *const one[] = {"hello", NULL};
    nipc_config_t c;
    nipc_config_init(&c);
    c.allowed_events = none;
    cr_assert_eq(check(&c), UV_EINVAL, "a list that allows nothing is refused, as in node-ipc 14");
    c.allowed_events = one;
    cr_assert_eq(check(&c), 0);
    c.allowed_events = NULL;
    cr_assert_eq(check(&c), 0);
}

/* ---- the default path ----------------------------------------------------------------- */

Test(config, s1_c1_default_path, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    int err = -1;
    char *p = nipc__config_path(&c, "world", 107, &err);
    cr_assert_not_null(p);
    cr_assert_eq(err, 0);
    cr_assert_str_eq(p, "/tmp/app.world");
    nipc__free(p);

    c.socket_root = "/run/me/";
    c.appspace = "";
    p = nipc__config_path(&c, "x", 107, &err);
    cr_assert_str_eq(p, "/run/me/x");
    nipc__free(p);
}

Test(config, s1_path_length_limit, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    int err = 0;
    /* "/tmp/app.world" is 14 bytes. */
    char *p = nipc__config_path(&c, "world", 14, &err);
    cr_assert_not_null(p, "exactly max bytes fits");
    nipc__free(p);
    err = 0;
    p = nipc__config_path(&c, "world", 13, &err);
    cr_assert_null(p);
    cr_assert_eq(err, UV_ENAMETOOLONG);

    char id[200];
    memset(id, 'a', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    err = 0;
    cr_assert_null(nipc__config_path(&c, id, 107, &err));
    cr_assert_eq(err, UV_ENAMETOOLONG);
}

Test(config, s1_path_out_of_memory, .timeout = 10)
{
    nipc_config_t c;
    nipc_config_init(&c);
    int err = 0;
    nipc__test_fail_alloc_after(1);
    char *p = nipc__config_path(&c, "world", 107, &err);
    nipc__test_fail_alloc_after(0);
    cr_assert_null(p);
    cr_assert_eq(err, UV_ENOMEM);
}

/* The uid and gid rules are copied with the config (K2): the caller's arrays may go. */
Test(config, k2_allow_lists_are_copied, .timeout = 10)
{
    nipc_config_t src, dst;
    nipc_config_init(&src);
    unsigned uids[] = {1000, 1001}, gids[] = {50};
    src.allow_uids = uids;
    src.n_allow_uids = 2;
    src.allow_gids = gids;
    src.n_allow_gids = 1;
    cr_assert_eq(nipc__config_copy(&dst, &src), 0);
    uids[0] = gids[0] = 0;
    cr_assert_neq(dst.allow_uids, uids);
    cr_assert_eq(dst.allow_uids[0], 1000);
    cr_assert_eq(dst.allow_uids[1], 1001);
    cr_assert_eq(dst.allow_gids[0], 50);
    nipc__config_free(&dst);
    for (unsigned long n = 1; n < 20; n++) {
        nipc__test_fail_alloc_after(n);
        int err = nipc__config_copy(&dst, &src);
        nipc__test_fail_alloc_after(0);
        cr_assert(err == 0 || err == UV_ENOMEM);
        nipc__config_free(&dst);
        if (err == 0)
            break;
    }
    src.allow_uids = NULL;
    cr_assert_eq(check(&src), UV_EINVAL, "a count without its list");
}
