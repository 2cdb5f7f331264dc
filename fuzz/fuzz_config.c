/* SPDX-License-Identifier: MIT */
/*
 * Config and path building (src/core/config.c, names.c, encoding names), with every string
 * a user gives: nipc__config_check, nipc__config_copy, nipc__config_path (socket_root +
 * appspace + id, S1), the type rules of max_event_name and allowed_events, and nipc_new
 * and nipc_free on the config when it passes its check (which also reads tls.ca_pem and
 * tls.ciphers through OpenSSL when TLS is on).
 *
 * Input: bytes 0-1 (little-endian) say which of the ten strings are NULL (bits 0-9),
 * whether encoding and delimiter keep their defaults (bit 10), how many allowed_events
 * follow (bits 12-14) and message_timeout_ms 0 (bit 15); byte 2 sets raw_buffer, assured,
 * tls.enabled, tls.reject_unauthorized, secure_socket_root, allow_reserved_events, a uid
 * count and the uid list (bits 0-7); byte 3 max_message_size (0, 1, 64 or 65536),
 * max_retries (-2 to 1), tls.min_version (0, 12, 13 or 11) and max_event_name (256, 0 or
 * 3). Then NUL-separated strings: appspace, socket_root, id, delimiter, encoding,
 * network_host, iface.local_address, tls.ciphers, tls.servername, tls.ca_pem, the
 * allowed_events, then up to four event types to check against the rules.
 *
 * Properties: the check refuses exactly what its rules say (an empty delimiter, a NULL
 * appspace, socket_root or id, max_message_size 0, max_retries below NIPC_RETRY_FOREVER, an
 * unknown encoding, another encoding than utf8 in JSON mode, an empty allowed_events, a
 * TLS version other than 12 or 13, assured without its limits, a count of uids without the
 * list), always with a reason; the copy holds equal strings in blocks of its own; the path
 * is the concatenation, or UV_ENAMETOOLONG past the bound, never cut; a type is refused
 * for its length exactly when it is longer than max_event_name in UTF-16 units, and for its
 * name exactly when allowed_events does not list it.
 */
#include "fuzz.h"

#include "core/core.h"
#include "internal.h"

#include <strings.h>

#define NSTR 10

static bool str_eq(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && a != b && strcmp(a, b) == 0;
}

/* UTF-16 units of valid UTF-8 text, -1 for invalid text. */
static long js_units(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n); /* jansson refuses invalid UTF-8 */
    if (j == NULL)
        return -1;
    json_decref(j);
    long units = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 || c >= 0xc0)
            units += c >= 0xf0 ? 2 : 1;
    }
    return units;
}

static bool encoding_known(const char *e)
{
    static const char *const all[] = {"utf8",    "utf-8",    "ascii",  "latin1",
                                      "binary",  "hex",      "base64", "base64url",
                                      "utf16le", "utf-16le", "ucs2",   "ucs-2"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcasecmp(e, all[i]) == 0)
            return true;
    return false;
}

/* The refusal nipc__config_check must give, by its documented rules: 0 or 1 (refused). */
static bool must_refuse(const nipc_config_t *c)
{
    if (c->delimiter == NULL || c->delimiter[0] == '\0' || c->appspace == NULL ||
        c->socket_root == NULL || c->id == NULL || c->max_message_size == 0 ||
        c->max_retries < NIPC_RETRY_FOREVER)
        return true;
    if (c->assured &&
        (c->allowed_events == NULL || c->max_event_name == 0 || c->message_timeout_ms == 0))
        return true;
    if (c->allowed_events != NULL && c->allowed_events[0] == NULL)
        return true;
    if (c->encoding != NULL && !encoding_known(c->encoding))
        return true;
    if (c->encoding != NULL && !c->raw_buffer && c->codec == NULL &&
        strcasecmp(c->encoding, "utf8") != 0 && strcasecmp(c->encoding, "utf-8") != 0)
        return true;
    if ((c->n_allow_uids > 0 && c->allow_uids == NULL) ||
        (c->n_allow_gids > 0 && c->allow_gids == NULL))
        return true;
    return c->tls.min_version != 0 && c->tls.min_version != 12 && c->tls.min_version != 13;
}

static void check_path(const nipc_config_t *c, const char *id)
{
    size_t a = strlen(c->socket_root), b = strlen(c->appspace), n = strlen(id);
    size_t total = a + b + n;
    const size_t bounds[] = {0,         total ? total - 1 : 0, total,
                             total + 1, nipc__max_path(),      SIZE_MAX};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        int err = 1;
        char *p = nipc__config_path(c, id, bounds[i], &err);
        if (total > bounds[i]) {
            FUZZ_CHECK(p == NULL && err == UV_ENAMETOOLONG, "%zu bytes within %zu", total,
                       bounds[i]);
            continue;
        }
        FUZZ_CHECK(p != NULL && err == 0, "no path: %s", nipc_err_name(err));
        FUZZ_CHECK(strlen(p) == total && memcmp(p, c->socket_root, a) == 0 &&
                       memcmp(p + a, c->appspace, b) == 0 && strcmp(p + a + b, id) == 0,
                   "the path is not socket_root + appspace + id: %s", p);
        nipc__free(p);
    }
}

static void check_copy(const nipc_config_t *c)
{
    nipc_config_t d;
    FUZZ_CHECK(nipc__config_copy(&d, c) == 0, "copy");
    FUZZ_CHECK(str_eq(c->appspace, d.appspace) && str_eq(c->socket_root, d.socket_root) &&
                   str_eq(c->id, d.id) && str_eq(c->delimiter, d.delimiter) &&
                   str_eq(c->encoding, d.encoding) && str_eq(c->network_host, d.network_host) &&
                   str_eq(c->iface.local_address, d.iface.local_address) &&
                   str_eq(c->tls.ciphers, d.tls.ciphers) &&
                   str_eq(c->tls.servername, d.tls.servername) &&
                   str_eq(c->tls.ca_pem, d.tls.ca_pem),
               "a string of the copy differs");
    FUZZ_CHECK((c->allowed_events == NULL) == (d.allowed_events == NULL), "allowed_events");
    for (size_t i = 0; c->allowed_events != NULL && c->allowed_events[i] != NULL; i++)
        FUZZ_CHECK(str_eq(c->allowed_events[i], d.allowed_events[i]) &&
                       (c->allowed_events[i + 1] == NULL) == (d.allowed_events[i + 1] == NULL),
                   "allowed_events[%zu]", i);
    FUZZ_CHECK(d.n_allow_uids == c->n_allow_uids &&
                   (c->allow_uids == NULL || c->n_allow_uids == 0 ||
                    memcmp(d.allow_uids, c->allow_uids, c->n_allow_uids * sizeof(unsigned)) == 0),
               "allow_uids");
    FUZZ_CHECK(d.max_message_size == c->max_message_size && d.max_retries == c->max_retries &&
                   d.tls.min_version == c->tls.min_version,
               "a number of the copy differs");
    nipc__config_free(&d);
    FUZZ_CHECK(d.appspace == NULL && d.allowed_events == NULL, "a freed config keeps pointers");
}

static void check_types(const nipc_config_t *c, fuzz_in_t *in)
{
    nipc_type_rules_t r;
    FUZZ_CHECK(nipc__type_rules_init(&r, c) == 0, "type rules");
    for (int k = 0; k < 4 && in->n > 0; k++) {
        char *t = fuzz_string(in);
        size_t n = strlen(t);
        long units = js_units(t, n);
        bool listed = c->allowed_events == NULL;
        for (size_t i = 0; !listed && c->allowed_events[i] != NULL; i++)
            listed = strcmp(c->allowed_events[i], t) == 0;
        int err = nipc__type_check(&r, t, n);
        if (units >= 0 && c->max_event_name != 0 && (size_t)units > c->max_event_name)
            FUZZ_CHECK(err == NIPC_ENAMELEN, "%ld units past %zu: %s", units, c->max_event_name,
                       nipc_err_name(err));
        else if (units >= 0 && !listed)
            FUZZ_CHECK(err == NIPC_ENOTALLOWED, "\"%s\" is not listed: %s", t, nipc_err_name(err));
        else if (units >= 0)
            FUZZ_CHECK(err == 0, "\"%s\": %s", t, nipc_err_name(err));
        free(t);
    }
    nipc__type_rules_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in_t in = {data, size};
    unsigned nulls = fuzz_byte(&in); /* bit i: string i is NULL */
    nulls |= fuzz_byte(&in) << 8;
    unsigned flags = fuzz_byte(&in);
    unsigned nums = fuzz_byte(&in);

    char *s[NSTR];
    for (int i = 0; i < NSTR; i++)
        s[i] = fuzz_string(&in);
    char *events[5] = {NULL};
    unsigned nevents = (nulls >> 12) & 7;
    for (unsigned i = 0; i < nevents && i < 4; i++)
        events[i] = fuzz_string(&in);

    nipc_config_t c;
    nipc_config_init(&c);
    c.silent = true;
    const char **fields[NSTR] = {
        &c.appspace,     &c.socket_root,         &c.id,          &c.delimiter,      &c.encoding,
        &c.network_host, &c.iface.local_address, &c.tls.ciphers, &c.tls.servername, &c.tls.ca_pem};
    for (int i = 0; i < NSTR; i++)
        *fields[i] = (nulls >> i) & 1 ? NULL : s[i];
    /* Most configs keep node-ipc's defaults for what they do not fuzz. */
    if ((nulls >> 10) & 1) {
        c.encoding = "utf8";
        c.delimiter = "\f";
    }
    c.allowed_events = nevents == 0 ? NULL : (const char *const *)events;
    c.raw_buffer = flags & 1;
    c.assured = flags & 2;
    c.tls.enabled = flags & 4;
    c.tls.reject_unauthorized = flags & 8;
    c.secure_socket_root = flags & 16;
    c.allow_reserved_events = flags & 32;
    static const unsigned uids[] = {0, 1000};
    c.n_allow_uids = (flags >> 6) & 1;
    c.allow_uids = (flags >> 7) & 1 ? uids : NULL;
    static const size_t sizes[] = {0, 1, 64, 65536};
    c.max_message_size = sizes[nums & 3];
    c.max_retries = (long)((nums >> 2) & 3) - 2; /* -2 (refused), forever, 0, 1 */
    static const int versions[] = {0, 12, 13, 11};
    c.tls.min_version = versions[(nums >> 4) & 3];
    c.max_event_name = (nums >> 6) & 1 ? 0 : (nums >> 7) ? 3 : 256;
    c.message_timeout_ms = (nulls >> 15) & 1 ? 0 : 30000;

    const char *why = NULL;
    int err = nipc__config_check(&c, &why);
    bool refuse = must_refuse(&c);
    FUZZ_CHECK((err != 0) == refuse, "the check says %s, its rules say %s",
               err == 0 ? "accepted" : nipc_err_name(err), refuse ? "refused" : "accepted");
    FUZZ_CHECK(err == 0 || ((err == UV_EINVAL || err == UV_ENOTSUP) && why != NULL && *why),
               "%s without a reason", nipc_err_name(err));

    check_copy(&c);
    if (c.socket_root != NULL && c.appspace != NULL && c.id != NULL)
        check_path(&c, c.id);
    check_types(&c, &in);

    if (err == 0) {
        nipc_t *ipc = NULL;
        int e = nipc_new(&ipc, NULL, &c);
        /* Only TLS can still refuse: the CA text or the cipher list. */
        FUZZ_CHECK(e == 0 || (c.tls.enabled && e != UV_ENOMEM), "nipc_new: %s", nipc_err_name(e));
        FUZZ_CHECK((e == 0) == (ipc != NULL), "nipc_new's result");
        if (ipc != NULL)
            nipc_free(ipc);
    }

    for (int i = 0; i < NSTR; i++)
        free(s[i]);
    for (unsigned i = 0; i < 4; i++)
        free(events[i]);
    return 0;
}
