/* SPDX-License-Identifier: MIT */
/*
 * Events as JSON lines on stdout, one line each, flushed at once so a script reading the
 * pipe sees every event when it happens:
 *
 *   {"event":T,"data":D,"from":{"address":A,"port":P,"family":F}|null,"id":I|null,
 *    "cred":{"pid":..,"uid":..,"gid":..}}
 *
 * "cred" only where the kernel gives peer credentials (Unix sockets), "request" only for a
 * request (its id), "subject" only for a verified TLS peer. In raw mode a read is
 * {"event":"data","data":S,"size":N}, S the bytes as text in the configured encoding
 * (out_bytes()). Lifecycle events are coloured when stdout is a terminal, never otherwise.
 */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const lifecycle[] = {
    "start", "connect", "disconnect", "destroy",   "error", "socket.disconnected",
    "close", "drain",   "drop",       "listening", NULL,
};

bool out_is_lifecycle(const char *type)
{
    for (int i = 0; lifecycle[i] != NULL; i++)
        if (strcmp(type, lifecycle[i]) == 0)
            return true;
    return false;
}

/* ---- bytes as text --------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void put(sbuf_t *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->failed = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* One code point as UTF-8. */
static void put_cp(sbuf_t *b, unsigned long c)
{
    unsigned char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (unsigned char)(0xC0 | (c >> 6));
        u[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (c >> 12));
        u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | (c >> 18));
        u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    put(b, u, n);
}

/* The length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t len;
    unsigned long c;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2;
        c = p[0] & 0x1F;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3;
        c = p[0] & 0x0F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF))) ||
        (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
        return 0;
    return len;
}

static void put_base64(sbuf_t *b, const unsigned char *p, size_t n, bool url)
{
    const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned long)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        char q[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
        size_t keep = left > 2 ? 4 : left + 1;
        put(b, q, keep);
        if (!url && keep < 4)
            put(b, "==", 4 - keep); /* base64url goes without padding, as Node writes it */
    }
}

/*
 * The bytes as Node's buf.toString(encoding) gives them: utf8 with each invalid byte as
 * U+FFFD, latin1 (binary) byte for byte, ascii the same with the high bit cleared, utf16le
 * (ucs2) by code units (a lone surrogate as U+FFFD, an odd last byte dropped), hex and
 * base64 / base64url as their text. Any other name prints hex. NULL when out of memory.
 */
json_t *out_bytes(const char *enc, const char *bytes, size_t n)
{
    const unsigned char *p = (const unsigned char *)bytes;
    sbuf_t b = {0};
    if (enc == NULL)
        enc = "utf8";
    if (strcmp(enc, "latin1") == 0 || strcmp(enc, "binary") == 0 || strcmp(enc, "ascii") == 0) {
        bool ascii = enc[0] == 'a';
        for (size_t i = 0; i < n; i++)
            put_cp(&b, ascii ? (p[i] & 0x7Fu) : p[i]);
    } else if (strcmp(enc, "utf16le") == 0 || strcmp(enc, "ucs2") == 0 ||
               strcmp(enc, "utf-16le") == 0 || strcmp(enc, "ucs-2") == 0) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            unsigned long u = p[i] | (unsigned long)p[i + 1] << 8;
            if (u >= 0xD800 && u <= 0xDBFF && i + 3 < n) {
                unsigned long lo = p[i + 2] | (unsigned long)p[i + 3] << 8;
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    put_cp(&b, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
                    i += 2;
                    continue;
                }
            }
            put_cp(&b, u >= 0xD800 && u <= 0xDFFF ? 0xFFFD : u);
        }
    } else if (strcmp(enc, "base64") == 0 || strcmp(enc, "base64url") == 0) {
        put_base64(&b, p, n, strcmp(enc, "base64url") == 0);
    } else if (strcmp(enc, "utf8") == 0 || strcmp(enc, "utf-8") == 0) {
        for (size_t i = 0; i < n;) {
            size_t len = utf8_seq(p + i, n - i);
            if (len == 0) {
                put_cp(&b, 0xFFFD);
                i++;
            } else {
                put(&b, p + i, len);
                i += len;
            }
        }
    } else {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
            char h[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
            put(&b, h, 2);
        }
    }
    json_t *s = b.failed ? NULL : json_stringn(b.len ? b.p : "", b.len);
    free(b.p);
    return s;
}

/* ---- event lines ----------------------------------------------------------------------- */

void out_json(tool_t *t, json_t *line)
{
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(line);
    if (text == NULL) {
        fprintf(stderr, "%s: out of memory writing an event\n", t->prog);
        return;
    }
    const char *colour = NULL;
    if (t->color && strncmp(text, "{\"event\":\"", 10) == 0) {
        const char *type = text + 10;
        if (strncmp(type, "error\"", 6) == 0 || strncmp(type, "drop\"", 5) == 0)
            colour = "\033[31m";
        else if (strchr(type, '"') != NULL) {
            char name[32];
            size_t k = (size_t)(strchr(type, '"') - type);
            if (k < sizeof(name)) {
                memcpy(name, type, k);
                name[k] = '\0';
                colour = out_is_lifecycle(name) ? "\033[36m" : NULL;
            }
        }
    }
    if (colour != NULL)
        printf("%s%s\033[0m\n", colour, text);
    else
        printf("%s\n", text);
    fflush(stdout);
    free(text);
}

static json_t *cred_json(const nipc_cred_t *c)
{
    return json_pack("{s:I,s:I,s:I}", "pid", (json_int_t)c->pid, "uid", (json_int_t)c->uid, "gid",
                     (json_int_t)c->gid);
}

void out_event(tool_t *t, const nipc_event_t *ev)
{
    json_t *line = json_object();
    const char *subject = NULL;
    nipc_cred_t cred;
    bool have_cred = false;

    json_object_set_new(line, "event", json_string(ev->type));
    if (ev->bytes != NULL) {
        json_object_set_new(line, "data", out_bytes(t->cfg.encoding, ev->bytes, ev->size));
        json_object_set_new(line, "size", json_integer((json_int_t)ev->size));
    } else {
        json_object_set(line, "data", ev->data != NULL ? ev->data : json_null());
    }
    if (ev->request != 0)
        json_object_set_new(line, "request", json_integer(ev->request));

    json_t *from = json_null(), *id = json_null();
    if (ev->socket != NULL) {
        const char *addr = nipc_socket_address(ev->socket);
        if (addr != NULL)
            from = json_pack("{s:s,s:i,s:s}", "address", addr, "port", nipc_socket_port(ev->socket),
                             "family", nipc_socket_family(ev->socket));
        json_t *learned = nipc_socket_id_json(ev->socket);
        if (learned != NULL)
            id = json_incref(learned);
        have_cred = nipc_socket_peer_cred(ev->socket, &cred) == 0;
        subject = nipc_socket_tls_subject(ev->socket);
    } else if (ev->client != NULL) {
        have_cred = nipc_client_peer_cred(ev->client, &cred) == 0;
        subject = nipc_client_tls_subject(ev->client);
    }
    json_object_set_new(line, "from", from);
    json_object_set_new(line, "id", id);
    if (have_cred)
        json_object_set_new(line, "cred", cred_json(&cred));
    if (subject != NULL)
        json_object_set_new(line, "subject", json_string(subject));
    out_json(t, line);
}
