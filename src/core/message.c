/* SPDX-License-Identifier: MIT */
/*
 * The decoder's entry points and its general path. A frame goes to the fast envelope parser
 * (envelope.c) first and, when that gives up, to jansson's parser here. Either way any input
 * turns into either a message or node-ipc's error payload; it never fails hard. Here too
 * are the refusals of a decoded message and its release. The writer is json_write.c.
 */
#include "core.h"
#include "envelope.h"
#include "scan.h"

#include <string.h>

bool nipc__event_reserved(const char *type)
{
    /* Called for every frame received and every emit: the first byte leaves one or a few
     * names to compare. */
    switch (type[0]) {
    case '*':
        return type[1] == '\0';
    case 'c':
        return strcmp(type, "close") == 0 || strcmp(type, "connect") == 0;
    case 'd':
        return strcmp(type, "data") == 0 || strcmp(type, "destroy") == 0 ||
               strcmp(type, "disconnect") == 0 || strcmp(type, "drain") == 0 ||
               strcmp(type, "drop") == 0;
    case 'e':
        return strcmp(type, "error") == 0;
    case 's':
        return strcmp(type, "start") == 0 || strcmp(type, "socket.disconnected") == 0;
    default:
        return false;
    }
}

/* The frame as a JSON string, invalid UTF-8 replaced by U+FFFD as Node's decoder does. */
static json_t *frame_text(const char *p, size_t n)
{
    if (utf8_valid(p, n))
        return json_stringn(p, n);
    nipc_buf_t b;
    nipc__buf_init(&b);
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t bad = 0;
        size_t k = utf8_seq(u + i, n - i, &bad);
        if (nipc__buf_append(&b, k ? p + i : "\xef\xbf\xbd", k ? k : 3)) {
            nipc__buf_free(&b);
            return NULL;
        }
        i += k ? k : bad;
    }
    json_t *s = json_stringn(b.data ? b.data : "", b.len);
    nipc__buf_free(&b);
    return s;
}

/* node-ipc's payload for a frame it cannot dispatch: {message, err, response}. */
static void fail(nipc_msg_t *m, int code, const char *message, const char *why, json_t *response)
{
    m->err = code;
    m->type = NULL;
    m->data = NULL;
    /* jansson's error text quotes the input, so it may hold invalid UTF-8 too. */
    m->decoded =
        json_pack("{s:s, s:o*, s:o*}", "message", message, "err", frame_text(why, strlen(why)),
                  "response", response ? response : json_null());
}

/*
 * JSON.stringify writes a lone UTF-16 surrogate as an escape ("\ud83d"), which JSON.parse
 * accepts but a UTF-8 string cannot hold. Returns a copy of the frame with each lone
 * surrogate escape replaced by "\ufffd" (the same length), or NULL when there is none.
 */
static char *replace_lone_surrogates(const char *p, size_t n)
{
    char *copy = NULL;
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] != '\\')
            continue;
        if (p[i + 1] != 'u' || i + 6 > n) {
            i++; /* any other escape: skip its second character */
            continue;
        }
        int cp = hex4(p + i + 2);
        size_t len = 6;
        bool lone = false;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            bool pair = i + 12 <= n && p[i + 6] == '\\' && p[i + 7] == 'u';
            int lo = pair ? hex4(p + i + 8) : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff)
                len = 12;
            else
                lone = true;
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            lone = true;
        }
        if (lone) {
            if (copy == NULL && (copy = nipc__strndup(p, n)) == NULL)
                return NULL;
            memcpy(copy + i, "\\ufffd", 6);
        }
        i += len - 1;
    }
    return copy;
}

static json_t *load(const char *p, size_t n, json_error_t *e)
{
    const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *root = json_loadb(p, n, flags, e);
    /* JavaScript reads any integer, however long, as a double; do the same rather than
     * refuse a frame a Node peer considers valid. */
    if (root == NULL && json_error_code(e) == json_error_numeric_overflow)
        root = json_loadb(p, n, flags | JSON_DECODE_INT_AS_REAL, e);
    return root;
}

void nipc__msg_decode_general(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved)
{
    json_error_t e;
    json_t *root = load(p, n, &e);
    if (root == NULL) {
        /* Slow path, taken only by frames that failed: retry without lone surrogates. */
        char *fixed = replace_lone_surrogates(p, n);
        if (fixed != NULL) {
            json_error_t e2;
            root = load(fixed, n, &e2);
            nipc__free(fixed);
        }
    }

    memset(m, 0, sizeof *m);
    if (root == NULL) {
        fail(m, UV_EPROTO, "Invalid JSON response format", e.text, frame_text(p, n));
        return;
    }
    if (json_is_null(root)) {
        /* js-message loses the text of a `null` frame; so does node-ipc's payload. */
        json_decref(root);
        fail(m, UV_EPROTO, "Invalid JSON response format", "message is null", NULL);
        return;
    }
    json_t *type = json_is_object(root) ? json_object_get(root, "type") : NULL;
    if (!json_is_string(type) || strlen(json_string_value(type)) != json_string_length(type)) {
        json_decref(root);
        fail(m, NIPC_EBADTYPE, "Invalid message type", "type is not a string", frame_text(p, n));
        return;
    }
    if (!allow_reserved && nipc__event_reserved(json_string_value(type))) {
        json_decref(root);
        fail(m, NIPC_ERESERVED, "Reserved event name", "type is a lifecycle event name",
             frame_text(p, n));
        return;
    }
    m->decoded = root;
    m->type = json_string_value(type);
    m->type_len = json_string_length(type);
    m->data = json_object_get(root, "data");
    m->hints = json_is_object(m->data) ? NIPC_HINT_ALL : 0;
}

void nipc__msg_refuse(nipc_msg_t *m, int code, const char *p, size_t n)
{
    json_t *decoded = m->decoded; /* the type may point into it */
    if (code == NIPC_ENAMELEN)
        fail(m, code, "Event name too long", "type is longer than max_event_name",
             frame_text(p, n));
    else
        fail(m, code, "Event not allowed", "type is not in allowed_events", frame_text(p, n));
    m->type_len = 0;
    json_decref(decoded);
}

void nipc__msg_decode_into(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved,
                           json_t **shape)
{
    m->decoded = NULL;
    if (nipc__msg_decode_fast(m, p, n, allow_reserved, shape))
        return;
    nipc__msg_decode_general(m, p, n, allow_reserved);
}

void nipc__msg_decode(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved)
{
    nipc__msg_decode_into(m, p, n, allow_reserved, NULL);
}

void nipc__msg_done(nipc_msg_t *m, json_t **shape)
{
    if (shape != NULL && m->err == 0 && json_is_object(m->data)) {
        if (m->decoded == m->data && only_ours(m->data)) {
            *shape = m->decoded; /* kept for the next frame */
            m->decoded = NULL;
        } else if (m->decoded == NULL && !only_ours(m->data)) {
            /* A handler kept the connection's tree: it is theirs now. */
            json_decref(*shape);
            *shape = NULL;
        }
    }
    nipc__msg_clear(m);
}

void nipc__msg_clear(nipc_msg_t *m)
{
    json_decref(m->decoded);
    /* Every field but the type's copy, which nothing reads once type is NULL. */
    m->type = NULL;
    m->data = NULL;
    m->decoded = NULL;
    m->type_len = 0;
    m->err = 0;
    m->hints = 0;
}
