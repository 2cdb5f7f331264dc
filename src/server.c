/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's server (S1-S15) over any stream transport. State: the listener (NULL when not
 * listening), the connected sockets in connection order (node-ipc's server.sockets) and the
 * handler table. A socket is removed from the array when its connection has closed, just
 * before socket.disconnected is published, and freed when that event has returned.
 */
#include "transport/transport.h"

#include <string.h>

struct nipc_socket_s {
    nipc_conn_t conn; /* first: the conn hooks cast back to the socket */
    nipc_server_t *server;
    json_t *id; /* learned from data.id (S9), or NULL */
    void *data;
};

struct nipc_server_s {
    nipc_t *ipc;
    char *path;
    nipc_events_t events;
    uv_pipe_t *listener;
    nipc_socket_t **sockets;
    size_t count;
    size_t cap;
    nipc_buf_t scratch; /* broadcast encodes its frame here once */
    bool start_pending; /* listening, `start` not yet published */
};

static void publish(nipc_server_t *s, const char *type, json_t *data, nipc_socket_t *sock,
                    int status)
{
    nipc_event_t ev = {type, data, sock, s, NULL, status};
    nipc__events_publish(&s->events, &ev);
}

/* ---- sockets --------------------------------------------------------------------------- */

static int add_socket(nipc_server_t *s, nipc_socket_t *sock)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        nipc_socket_t **v = nipc__realloc(s->sockets, cap * sizeof *v);
        if (v == NULL)
            return UV_ENOMEM;
        s->sockets = v;
        s->cap = cap;
    }
    s->sockets[s->count++] = sock;
    return 0;
}

static void remove_socket(nipc_server_t *s, nipc_socket_t *sock)
{
    for (size_t i = 0; i < s->count; i++) {
        if (s->sockets[i] == sock) {
            memmove(s->sockets + i, s->sockets + i + 1, (s->count - i - 1) * sizeof *s->sockets);
            s->count--;
            return;
        }
    }
}

static void free_socket(nipc_socket_t *sock)
{
    nipc__conn_release(&sock->conn);
    json_decref(sock->id);
    nipc__free(sock);
}

static void on_socket_message(nipc_conn_t *c, const char *type, json_t *data)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    nipc_server_t *s = sock->server;
    /* S9: a truthy data.id names the socket; the latest one wins. */
    json_t *id = json_is_object(data) ? json_object_get(data, "id") : NULL;
    if (id != NULL && !json_is_false(id) && !json_is_null(id) &&
        !(json_is_string(id) && json_string_length(id) == 0) &&
        !(json_is_number(id) && json_number_value(id) == 0)) {
        json_decref(sock->id);
        sock->id = json_incref(id);
    }
    if (nipc__log_on(s->ipc)) {
        nipc_log(s->ipc, "received event of : %s", type);
        nipc__log_json(s->ipc, "  data:", data);
    }
    publish(s, type, data, sock, 0);
}

static void on_socket_error(nipc_conn_t *c, int err, json_t *payload)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    json_t *made = payload ? NULL : nipc__error_payload(err);
    nipc_log(sock->server->ipc, "socket error: %s", nipc_strerror(err));
    publish(sock->server, "error", payload ? payload : made, sock, err);
    json_decref(made);
}

static void on_socket_drain(nipc_conn_t *c)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    publish(sock->server, "drain", NULL, sock, 0);
}

static void on_socket_close(nipc_conn_t *c, int status)
{
    nipc_socket_t *sock = (nipc_socket_t *)c;
    nipc_server_t *s = sock->server;
    if (s == NULL) { /* the instance is being freed: no more events */
        free_socket(sock);
        return;
    }
    remove_socket(s, sock);
    nipc_log(s->ipc, "## socket disconnected ## %s",
             json_is_string(sock->id) ? json_string_value(sock->id) : "");
    /* S10, then node-ipc's internal close event with its had-error boolean (S11). */
    publish(s, "socket.disconnected", sock->id ? sock->id : json_false(), sock, 0);
    publish(s, "close", json_boolean(status != 0), sock, 0);
    free_socket(sock);
}

static const nipc_conn_hooks_t socket_hooks = {
    on_socket_message,
    on_socket_error,
    on_socket_drain,
    on_socket_close,
};

/* ---- listening ------------------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
    nipc_t *ipc = h->data;
    nipc__free(h);
    nipc__handle_closed(ipc);
}

static void close_listener(nipc_server_t *s)
{
    if (s->listener == NULL)
        return;
    s->listener->data = s->ipc;
    /* libuv removes the socket file here (S15). */
    nipc__close_handle(s->ipc, (uv_handle_t *)s->listener, on_listener_closed);
    s->listener = NULL;
}

static void on_excess_closed(uv_handle_t *h)
{
    nipc_t *ipc = h->data;
    nipc__free(h);
    nipc__handle_closed(ipc);
}

/* S6: accept the connection, then close it at once, without a connect event. */
static void refuse(nipc_server_t *s, uv_stream_t *listener)
{
    uv_pipe_t *p = nipc__malloc(sizeof *p);
    if (p == NULL || uv_pipe_init(s->ipc->loop, p, 0) != 0) {
        nipc__free(p);
        return;
    }
    p->data = s->ipc;
    uv_accept(listener, (uv_stream_t *)p);
    nipc_log(s->ipc, "max connections reached (%u): connection closed",
             s->ipc->cfg.max_connections);
    nipc__close_handle(s->ipc, (uv_handle_t *)p, on_excess_closed);
}

static void publish_start(void *arg);

static void on_connection(uv_stream_t *listener, int status)
{
    nipc_server_t *s = listener->data;
    int err = status;
    /* `start` always comes first (S3), even when a peer connects in the same loop turn. */
    if (s->start_pending) {
        nipc__defer_cancel(s->ipc, s);
        publish_start(s);
    }
    if (err == 0 && s->count >= s->ipc->cfg.max_connections) {
        refuse(s, listener);
        return;
    }
    nipc_socket_t *sock = NULL;
    if (err == 0 && (sock = nipc__calloc(1, sizeof *sock)) == NULL)
        err = UV_ENOMEM;
    if (err == 0) {
        sock->server = s;
        nipc__conn_init(&sock->conn, s->ipc, &socket_hooks);
        if ((err = nipc__conn_open(&sock->conn, NIPC_TRANSPORT_PIPE)) != 0) {
            free_socket(sock);
            sock = NULL;
        }
    }
    if (err == 0 && ((err = uv_accept(listener, &sock->conn.u.stream)) != 0 ||
                     (err = add_socket(s, sock)) != 0)) {
        sock->server = NULL; /* closed before it was ever announced */
        nipc__conn_close(&sock->conn, false, err);
        sock = NULL;
    }
    if (err == 0 && (err = nipc__conn_start(&sock->conn)) != 0) {
        remove_socket(s, sock);
        sock->server = NULL;
        nipc__conn_close(&sock->conn, false, err);
    }
    if (err != 0) {
        json_t *payload = nipc__error_payload(err);
        publish(s, "error", payload, NULL, err);
        json_decref(payload);
        return;
    }
    nipc_log(s->ipc, "## socket connection to server detected ##");
    publish(s, "connect", NULL, sock, 0);
}

static void publish_start(void *arg)
{
    nipc_server_t *s = arg;
    s->start_pending = false;
    publish(s, "start", NULL, NULL, 0);
}

int nipc_serve(nipc_t *ipc, const char *path, nipc_server_t **out)
{
    int err = 0;
    if (ipc == NULL)
        return UV_EINVAL;
    if (ipc->server != NULL)
        return UV_EALREADY;
    char *p = path ? nipc__strdup(path)
                   : nipc__config_path(&ipc->cfg, ipc->cfg.id, nipc__max_path(), &err);
    if (p == NULL)
        return err ? err : UV_ENOMEM;
    if (strlen(p) > nipc__max_path()) {
        nipc__free(p);
        return UV_ENAMETOOLONG;
    }
    nipc_server_t *s = nipc__calloc(1, sizeof *s);
    if (s == NULL) {
        nipc__free(p);
        return UV_ENOMEM;
    }
    s->ipc = ipc;
    s->path = p;
    nipc__events_init(&s->events);
    nipc__buf_init(&s->scratch);
    ipc->server = s;
    if (out != NULL)
        *out = s;
    return 0;
}

nipc_server_t *nipc_server(nipc_t *ipc)
{
    return ipc->server;
}

int nipc_server_start(nipc_server_t *s)
{
    if (s->listener != NULL)
        return UV_EALREADY;
    uv_pipe_t *l = nipc__malloc(sizeof *l);
    if (l == NULL)
        return UV_ENOMEM;
    int err = uv_pipe_init(s->ipc->loop, l, 0);
    if (err) {
        nipc__free(l);
        return err;
    }
    s->listener = l;
    l->data = s;
    nipc_log(s->ipc, "starting server on  %s", s->path);
    if ((err = nipc__pipe_listen(l, s->path, &s->ipc->cfg, on_connection)) != 0 ||
        (err = nipc__defer(s->ipc, publish_start, s)) != 0) {
        nipc_log(s->ipc, "server failed to start on %s: %s", s->path, nipc_strerror(err));
        close_listener(s);
        return err;
    }
    s->start_pending = true;
    return 0;
}

int nipc_server_stop(nipc_server_t *s)
{
    if (s->listener == NULL)
        return UV_EINVAL;
    nipc__defer_cancel(s->ipc, s);
    s->start_pending = false;
    close_listener(s);
    nipc_log(s->ipc, "server closed");
    return 0;
}

void nipc__server_teardown(nipc_server_t *s)
{
    close_listener(s);
    for (size_t i = 0; i < s->count; i++) {
        nipc_socket_t *sock = s->sockets[i];
        sock->server = NULL;
        nipc__conn_abort(&sock->conn);
    }
    s->ipc->server = NULL;
    nipc__events_free(&s->events);
    nipc__buf_free(&s->scratch);
    nipc__free(s->sockets);
    nipc__free(s->path);
    nipc__free(s);
}

/* ---- sending --------------------------------------------------------------------------- */

static bool owns(const nipc_server_t *s, const nipc_socket_t *sock)
{
    return sock != NULL && sock->server == s && !sock->conn.closing;
}

static void log_emit(nipc_server_t *s, const char *what, const char *type, const json_t *data)
{
    if (!nipc__log_on(s->ipc))
        return;
    nipc_log(s->ipc, "%s : %s", what, type ? type : "(null)");
    nipc__log_json(s->ipc, "  data:", data);
}

int nipc_server_emit(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data)
{
    if (s == NULL || !owns(s, sock))
        return UV_EINVAL;
    log_emit(s, "dispatching event to socket", type, data);
    return nipc__conn_send(&sock->conn, type, data);
}

int nipc_server_emit_new(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data)
{
    int err = nipc_server_emit(s, sock, type, data);
    json_decref(data);
    return err;
}

int nipc_server_emitf(nipc_server_t *s, nipc_socket_t *sock, const char *type, const char *fmt, ...)
{
    json_error_t e;
    va_list ap;
    va_start(ap, fmt);
    json_t *data = json_vpack_ex(&e, 0, fmt, ap);
    va_end(ap);
    if (data == NULL)
        return UV_EINVAL;
    return nipc_server_emit_new(s, sock, type, data);
}

int nipc_server_broadcast(nipc_server_t *s, const char *type, json_t *data)
{
    if (s == NULL)
        return UV_EINVAL;
    nipc__buf_reset(&s->scratch);
    int err = nipc__msg_encode(&s->scratch, type, data, s->ipc->cfg.legacy_data,
                               s->ipc->cfg.delimiter, s->ipc->dlen);
    if (err)
        return err;
    log_emit(s, "broadcasting event to all known sockets", type, data);
    int first = 0;
    for (size_t i = 0; i < s->count; i++) {
        nipc_conn_t *c = &s->sockets[i]->conn;
        if (c->closing)
            continue;
        err = nipc__conn_send_bytes(c, s->scratch.data, s->scratch.len);
        if (err && first == 0)
            first = err;
    }
    return first;
}

int nipc_server_broadcast_new(nipc_server_t *s, const char *type, json_t *data)
{
    int err = nipc_server_broadcast(s, type, data);
    json_decref(data);
    return err;
}

int nipc_server_broadcastf(nipc_server_t *s, const char *type, const char *fmt, ...)
{
    json_error_t e;
    va_list ap;
    va_start(ap, fmt);
    json_t *data = json_vpack_ex(&e, 0, fmt, ap);
    va_end(ap);
    if (data == NULL)
        return UV_EINVAL;
    return nipc_server_broadcast_new(s, type, data);
}

/* ---- accessors and handlers -------------------------------------------------------------- */

size_t nipc_server_socket_count(const nipc_server_t *s)
{
    return s->count;
}

nipc_socket_t *nipc_server_socket_at(const nipc_server_t *s, size_t i)
{
    return i < s->count ? s->sockets[i] : NULL;
}

const char *nipc_server_path(const nipc_server_t *s)
{
    return s->path;
}

int nipc_server_on(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&s->events, type, cb, arg, false);
}

int nipc_server_once(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&s->events, type, cb, arg, true);
}

int nipc_server_off(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_off(&s->events, type, cb, arg);
}

const char *nipc_socket_id(const nipc_socket_t *sock)
{
    return json_is_string(sock->id) ? json_string_value(sock->id) : NULL;
}

nipc_server_t *nipc_socket_server(const nipc_socket_t *sock)
{
    return sock->server;
}

void nipc_socket_set_data(nipc_socket_t *sock, void *data)
{
    sock->data = data;
}

void *nipc_socket_data(const nipc_socket_t *sock)
{
    return sock->data;
}

int nipc_socket_close(nipc_socket_t *sock, bool flush)
{
    if (sock == NULL || sock->conn.closing)
        return UV_EINVAL;
    nipc__conn_close(&sock->conn, flush, 0);
    return 0;
}
