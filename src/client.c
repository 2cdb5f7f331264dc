/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's client, ipc.of[id] (C1-C14). One object per id lives across reconnects and
 * `destroy` (C11); its connection and retry timer are re-armed in place.
 *
 * States:
 *   CONNECTING  an attempt is under way; emits are queued and written once connected (C13)
 *   CONNECTED   emits go out at the end of the loop turn
 *   WAITING     between attempts: emits are refused with UV_ENOTCONN
 *   DESTROYED   retrying has ended: emits are refused with NIPC_EDESTROYED
 *
 * Retry (C7-C10), exactly node-ipc's: on every close, if stop_retrying, an explicit
 * disconnect, or no retries remain: `disconnect` then `destroy`. Otherwise arm the timer
 * (`retry` ms) and publish `disconnect`; when it fires, spend one retry and connect again.
 * retries_remaining is reset to max_retries after each `connect` is published (C8).
 * stop_retrying starts as the config's and is the client's own from then on: node-ipc's
 * stopRetrying set "in real time" (nipc_client_stop_retrying / _resume_retrying). A stop
 * between attempts also calls the armed attempt off, which node-ipc's timer does not, and
 * ends the client from the loop (final_d) as a client whose retries ran out; a resume
 * before that end has come re-arms the timer with the time that was left (paused_ms).
 * Beyond node-ipc, the wait may grow (retry_backoff, up to retry_max_ms) and be drawn
 * shorter (retry_jitter); `wait` holds the next one before jitter and goes back to `retry`
 * wherever retries_remaining is reset. The defaults make every wait `retry` ms exactly.
 *
 * Bytes queued while connecting survive failed attempts; bytes queued on a connection that
 * is lost are discarded with it (a partially written frame cannot be resumed elsewhere),
 * and so are those still queued when retrying ends: each discard is published as `drop`.
 *
 * Lifetime: a client stays valid, in of[] or destroyed, until it is closed
 * (nipc_client_close, nipc_disconnect) or its instance is freed. A close always ends with
 * one `destroy`, published from the loop; the memory is freed after its handlers return,
 * once both handles (the connection and the timer) have closed.
 */
#include "codec/codec.h"
#include "transport/transport.h"

#include <limits.h>
#include <string.h>

enum client_state { CONNECTING, CONNECTED, WAITING, DESTROYED };

struct nipc_client_s {
    nipc_conn_t conn; /* first: the conn hooks cast back to the client */
    nipc_t *ipc;
    nipc_client_t *next; /* in the instance's of[] list, while in_table */
    char *id;
    char *path; /* the socket path, or the host of a network client */
    bool net;   /* TCP to path:port, else a Unix socket at path */
    int port;
    nipc_resolver_t *resolver; /* the host name being resolved for this attempt */
    int attempt_err;           /* an attempt that failed before it began, reported later */
    int last_err;              /* the last attempt's error: why a queue never left */
    nipc_deferred_t attempt_d; /* reports attempt_err */
    nipc_deferred_t final_d;   /* a close or a stop between attempts: `destroy` from the loop */
    nipc_events_t events;
    uv_timer_t timer;
    enum client_state state;
    long retries_remaining;
    double wait; /* the next wait between attempts before jitter, from `retry` up (backoff) */
    uint64_t paused_ms; /* what was left of the wait a stop between attempts called off */
    bool in_table;
    bool explicit_disconnect;
    bool stop_retrying; /* no reconnect: the config's stop_retrying, or a stop at run time */
    bool discard;       /* closed without flush: what is queued is dropped (UV_ECANCELED) */
    bool finalizing;    /* its handles are closing; freed when both are closed */
    bool timer_closed;
    bool was_connected;    /* a `connect` was published: the next counts as a reconnect */
    nipc_loss_t mail_loss; /* what its mailboxes held when it was closed: `drop` before destroy */
};

static void publish(nipc_client_t *cl, const char *type, json_t *data, int status)
{
    nipc_event_t ev = {.type = type, .data = data, .client = cl, .status = status};
    nipc__publish(cl->ipc, &cl->events, &ev);
}

void nipc__client_publish_loss(nipc_client_t *cl, nipc_loss_t loss, int reason)
{
    nipc_event_t ev = {.type = "drop", .client = cl};
    nipc__stats_drop(&cl->conn.stats, loss);
    nipc__publish_drop(cl->ipc, &cl->events, &ev, loss, reason);
}

/* What the queue still holds is discarded and reported; with `held`, sync mode's frames
 * waiting for their turn too. */
static void drop_queue(nipc_client_t *cl, int reason, bool held)
{
    nipc__client_publish_loss(cl, nipc__conn_take_loss(&cl->conn, held), reason);
}

/* What its mailboxes held when it was closed: emits that would have met NIPC_EDESTROYED. */
static void drop_mail(nipc_client_t *cl)
{
    nipc_loss_t loss = cl->mail_loss;
    cl->mail_loss = (nipc_loss_t){0, 0};
    nipc__client_publish_loss(cl, loss, NIPC_EDESTROYED);
}

void nipc__client_report_loss(nipc_client_t *cl)
{
    drop_queue(cl, UV_ECANCELED, true);
    drop_mail(cl);
    nipc__client_publish_loss(cl, nipc__mailboxes_close(cl->ipc, cl), UV_ECANCELED);
}

nipc_client_t *nipc__client_next(const nipc_client_t *cl)
{
    return cl->next;
}

nipc_t *nipc__client_ipc(const nipc_client_t *cl)
{
    return cl->ipc;
}

bool nipc__client_closed(const nipc_client_t *cl)
{
    return cl->explicit_disconnect;
}

bool nipc__client_destroyed(const nipc_client_t *cl)
{
    return cl->state == DESTROYED;
}

static void publish_error(nipc_client_t *cl, int err, json_t *payload)
{
    json_t *made = payload ? NULL : nipc__error_payload(err);
    publish(cl, "error", payload ? payload : made, err);
    json_decref(made);
}

/* ---- of[] -------------------------------------------------------------------------------- */

static void table_remove(nipc_client_t *cl)
{
    if (!cl->in_table)
        return;
    for (nipc_client_t **link = &cl->ipc->clients; *link != NULL; link = &(*link)->next) {
        if (*link == cl) {
            *link = cl->next;
            break;
        }
    }
    cl->in_table = false;
    cl->next = NULL;
}

nipc_client_t *nipc_of(nipc_t *ipc, const char *id)
{
    if (ipc == NULL || id == NULL)
        return NULL;
    for (nipc_client_t *cl = ipc->clients; cl != NULL; cl = cl->next)
        if (strcmp(cl->id, id) == 0)
            return cl;
    return NULL;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void maybe_free(nipc_client_t *cl)
{
    if (!cl->finalizing || !cl->timer_closed || cl->conn.open)
        return;
    nipc_t *ipc = cl->ipc;
    nipc__defer_cancel(ipc, &cl->attempt_d);
    nipc__defer_cancel(ipc, &cl->final_d);
    nipc__conn_release(&cl->conn);
    nipc__events_free(&cl->events);
    nipc__free(cl->id);
    nipc__free(cl->path);
    nipc__free(cl);
}

static void on_timer_closed(uv_handle_t *h)
{
    nipc_client_t *cl = h->data;
    nipc_t *ipc = cl->ipc;
    cl->timer_closed = true;
    maybe_free(cl);
    nipc__handle_closed(ipc);
}

/* Out of of[] already: close what is open and free the client when it is all closed. */
static void finalize(nipc_client_t *cl)
{
    if (cl->finalizing)
        return;
    cl->finalizing = true;
    nipc__defer_cancel(cl->ipc, &cl->attempt_d);
    nipc__defer_cancel(cl->ipc, &cl->final_d);
    nipc__resolve_cancel(cl->resolver);
    cl->resolver = NULL;
    uv_timer_stop(&cl->timer);
    nipc__close_handle(cl->ipc, (uv_handle_t *)&cl->timer, on_timer_closed);
    nipc__conn_abort(&cl->conn);
}

void nipc__client_teardown(nipc_client_t *cl)
{
    table_remove(cl);
    finalize(cl);
}

/* ---- connecting and retrying ------------------------------------------------------------- */

static int connect_now(nipc_client_t *cl);
static void after_close(nipc_client_t *cl);

/* Why frames queued before a connection could never be written. */
static int never_sent_reason(const nipc_client_t *cl)
{
    if (cl->discard)
        return UV_ECANCELED;
    return cl->last_err != 0 ? cl->last_err : NIPC_EDESTROYED;
}

static void destroyed(nipc_client_t *cl)
{
    cl->state = DESTROYED;
    drop_queue(cl, never_sent_reason(cl), true);
    drop_mail(cl);
    /* Closed, its mailboxes are closed already; else they refuse posts until a restart. */
    nipc__mailboxes_refuse(cl->ipc, cl, NIPC_EDESTROYED);
    publish(cl, "destroy", NULL, 0);
    if (cl->explicit_disconnect)
        finalize(cl);
}

static void on_retry_timer(uv_timer_t *t)
{
    nipc_client_t *cl = t->data;
    if (cl->explicit_disconnect)
        return;
    if (cl->retries_remaining != NIPC_RETRY_FOREVER)
        cl->retries_remaining--;
    if (cl->retries_remaining == NIPC_RETRY_FOREVER) /* node-ipc writes maxRetries: Infinity */
        nipc_log(cl->ipc, "retrying %s: Infinity retries remaining", cl->id);
    else
        nipc_log(cl->ipc, "retrying %s: %ld retries remaining", cl->id, cl->retries_remaining);
    int err = connect_now(cl);
    if (err != 0) { /* as a failed attempt: error, then the retry decision */
        cl->last_err = err;
        publish_error(cl, err, NULL);
        cl->state = WAITING;
        after_close(cl);
    }
}

/* A peer whose certificate did not verify will not verify on the next attempt either. */
static bool verification_failed(int err)
{
    return err == NIPC_ECERTEXPIRED || err == NIPC_ECERTUNTRUSTED || err == NIPC_ECERTNAME ||
           err == NIPC_ECERTINVALID || err == NIPC_ETLSVERSION || err == NIPC_ENOPEERCERT;
}

/* The time to wait before the next attempt, and the one after it grown by the backoff. */
static uint64_t next_wait(nipc_client_t *cl)
{
    const nipc_config_t *cfg = &cl->ipc->cfg;
    double w = cl->wait;
    double cap = cfg->retry_max_ms != 0 ? (double)cfg->retry_max_ms : (double)UINT_MAX;
    cl->wait = w * cfg->retry_backoff < cap ? w * cfg->retry_backoff : cap;
    /* Only shorter, never longer: uniform in [w * (1 - jitter), w]. */
    if (cfg->retry_jitter > 0)
        w -= w * cfg->retry_jitter * nipc__random(cl->ipc);
    uint64_t ms = (uint64_t)(w + 0.5);
    if (cfg->retry_backoff != 1 || cfg->retry_jitter > 0)
        nipc_log(cl->ipc, "%s: next attempt in %llu ms", cl->id, (unsigned long long)ms);
    return ms;
}

/* What node-ipc does on every socket close (C7-C10, C12); and, unlike node-ipc, no retry
 * after a failed verification unless tls.retry_unverified. */
static void after_close(nipc_client_t *cl)
{
    const nipc_config_t *cfg = &cl->ipc->cfg;
    if (cl->explicit_disconnect || cl->stop_retrying ||
        (verification_failed(cl->last_err) && !cfg->tls.retry_unverified) ||
        (cl->retries_remaining != NIPC_RETRY_FOREVER && cl->retries_remaining < 1)) {
        nipc_log(cl->ipc, "%s: connection closed, not retrying", cl->id);
        publish(cl, "disconnect", NULL, 0);
        destroyed(cl);
        return;
    }
    /* From now, not from the start of this loop turn: the handlers that ran in it (the
     * attempt's `error`) may have taken longer than the wait. */
    uv_update_time(cl->ipc->loop);
    uv_timer_start(&cl->timer, on_retry_timer, next_wait(cl), 0);
    publish(cl, "disconnect", NULL, 0);
}

static void connected(nipc_client_t *cl);
static bool verification_failed(int err);

static void on_client_close(nipc_conn_t *c, int status)
{
    nipc_client_t *cl = (nipc_client_t *)c;
    if (cl->finalizing) {
        maybe_free(cl);
        return;
    }
    /* A mailbox that waited for the queue to drain goes on: its emits meet the new state. */
    nipc__mailboxes_resume(cl->ipc, cl);
    /* A lost connection takes its unwritten frames with it; a failed attempt does not. */
    if (cl->state == CONNECTED)
        drop_queue(cl, status != 0 ? status : UV_ECANCELED, cl->explicit_disconnect);
    /* A connection the server refused once up (TLS 1.3 checks a client's certificate after
     * the client's handshake has ended) counts like a failed attempt for the retry rule. */
    if (status != 0 && (cl->state != CONNECTED || verification_failed(status)))
        cl->last_err = status;
    cl->state = WAITING;
    after_close(cl);
}

static void on_connect(nipc_conn_t *c, int status)
{
    nipc_client_t *cl = (nipc_client_t *)c;
    if (cl->finalizing || cl->conn.closing)
        return;
    if (status == 0)
        status = nipc__conn_start(&cl->conn);
    if (status < 0) {
        nipc_log(cl->ipc, "%s: connection failed: %s", cl->id, nipc_strerror(status));
        publish_error(cl, status, NULL);
        nipc__conn_close(&cl->conn, false, status);
        return;
    }
    if (status == 0)
        connected(cl);
    /* else a handshake first: on_client_ready, or an error and the close */
}

/* The connection is established (after its handshake, for TLS: as node-ipc 14, C4). */
static void connected(nipc_client_t *cl)
{
    cl->state = CONNECTED;
    if (cl->explicit_disconnect) {
        /* Disconnected while connecting with emits queued: deliver them, then close. */
        nipc__conn_close(&cl->conn, true, 0);
        return;
    }
    if (cl->was_connected)
        cl->conn.stats.reconnects++;
    cl->was_connected = true;
    nipc_log(cl->ipc, "connected to %s at %s", cl->id, cl->path);
    publish(cl, "connect", NULL, 0);
    cl->retries_remaining = cl->ipc->cfg.max_retries;
    cl->wait = cl->ipc->cfg.retry;
}

/* An attempt failed before it began: report it from the loop, as a failed connect would
 * be, with an error followed by the close that leads to the retry decision. */
static void attempt_failed(nipc_deferred_t *d)
{
    nipc_client_t *cl = nipc__container_of(d, nipc_client_t, attempt_d);
    int err = cl->attempt_err;
    nipc_log(cl->ipc, "%s: connection failed: %s", cl->id, nipc_strerror(err));
    publish_error(cl, err, NULL);
    nipc__conn_close(&cl->conn, false, err);
}

static void fail_attempt(nipc_client_t *cl, int err)
{
    cl->attempt_err = err;
    nipc__defer(cl->ipc, &cl->attempt_d, attempt_failed);
}

static void net_connect(nipc_client_t *cl, const struct sockaddr *sa)
{
    int err = cl->conn.ops->connect(&cl->conn, NULL, sa);
    if (err)
        fail_attempt(cl, err);
}

static void on_host_resolved(void *owner, int status, const struct sockaddr *sa)
{
    nipc_client_t *cl = owner;
    cl->resolver = NULL;
    if (status)
        fail_attempt(cl, status);
    else
        net_connect(cl, sa);
}

/* Starts an attempt. A failure to set up the handle is returned (nothing is published);
 * any later failure reaches on_connect or attempt_failed from the loop. */
static int connect_now(nipc_client_t *cl)
{
    int err = nipc__conn_open(&cl->conn);
    if (err)
        return err;
    cl->state = CONNECTING;
    cl->conn.on_connected = on_connect;
    if (!cl->net) {
        err = cl->conn.ops->connect(&cl->conn, cl->path, NULL);
    } else {
        struct sockaddr_storage sa;
        if (nipc__ip_parse(cl->path, cl->port, &sa) == 0) {
            net_connect(cl, (struct sockaddr *)&sa);
            return 0;
        }
        err = nipc__resolve(cl->ipc, cl->path, cl->port, cl->ipc->cfg.iface.family, cl,
                            on_host_resolved, &cl->resolver);
    }
    if (err)
        fail_attempt(cl, err);
    return 0;
}

static void on_client_message(nipc_conn_t *c, const char *type, json_t *data, unsigned hints)
{
    nipc_client_t *cl = (nipc_client_t *)c;
    nipc__log_event(cl->ipc, "## received events ##", NULL, type, data);
    if (nipc__request_reply(c, type, data))
        return;
    nipc_event_t ev = {.type = type, .client = cl};
    ev.data = nipc__request_unwrap(data, hints & NIPC_HINT_REQUEST, &ev.request);
    nipc__publish(cl->ipc, &cl->events, &ev);
}

/* Raw mode (R3, C5): `data` with the bytes of one read. */
static void on_client_bytes(nipc_conn_t *c, const char *p, size_t n)
{
    nipc_client_t *cl = (nipc_client_t *)c;
    nipc_event_t ev = {.type = "data", .client = cl, .bytes = p, .size = n};
    if (nipc__log_on(cl->ipc))
        nipc_log(cl->ipc, "## received events ## data : %zu bytes", n);
    nipc__publish(cl->ipc, &cl->events, &ev);
}

static void on_client_error(nipc_conn_t *c, int err, json_t *payload)
{
    publish_error((nipc_client_t *)c, err, payload);
}

static void on_client_drain(nipc_conn_t *c)
{
    nipc_client_t *cl = (nipc_client_t *)c;
    nipc__mailboxes_resume(cl->ipc, cl);
    publish(cl, "drain", NULL, 0);
}

static void on_client_ready(nipc_conn_t *c)
{
    connected((nipc_client_t *)c);
}

static const nipc_conn_hooks_t client_hooks = {
    .on_message = on_client_message,
    .on_bytes = on_client_bytes,
    .on_error = on_client_error,
    .on_drain = on_client_drain,
    .on_ready = on_client_ready,
    .on_close = on_client_close,
};

/*
 * C1, C2, C3: of[id] if it exists (restarted when destroyed), else a new client for
 * `where` (a path, or a host with `port`). Takes ownership of `where`.
 */
static int open_client(nipc_t *ipc, const char *id, char *where, bool net, int port,
                       nipc_client_t **out)
{
    nipc_client_t *cl = nipc_of(ipc, id);
    int err;
    if (cl != NULL) {
        nipc__free(where);
        if (cl->state != DESTROYED) {
            nipc_log(ipc, "Already Connected to %s", id);
            return UV_EALREADY; /* nipc_of(ipc, id) is that client */
        }
        nipc_log(ipc, "requested connection to  %s %s", id, cl->path);
        if ((err = connect_now(cl)) != 0)
            return err;
        nipc__mailboxes_refuse(ipc, cl, 0);
        cl->retries_remaining = ipc->cfg.max_retries;
        cl->wait = ipc->cfg.retry;
        cl->last_err = 0;
        if (out != NULL)
            *out = cl;
        return 0;
    }
    if (where == NULL)
        return UV_ENOMEM;
    cl = nipc__calloc(1, sizeof *cl);
    char *idc = nipc__strdup(id);
    if (cl == NULL || idc == NULL) {
        nipc__free(cl);
        nipc__free(idc);
        nipc__free(where);
        return UV_ENOMEM;
    }
    cl->ipc = ipc;
    cl->id = idc;
    cl->path = where;
    cl->net = net;
    cl->port = port;
    cl->retries_remaining = ipc->cfg.max_retries;
    cl->wait = ipc->cfg.retry;
    cl->stop_retrying = ipc->cfg.stop_retrying;
    nipc__events_init(&cl->events);
    /* T1: config.tls turns TCP into TLS (nipc_connect_to() refuses it for a Unix socket). */
    nipc__conn_init(&cl->conn, ipc, &client_hooks,
                    !net                   ? &nipc__pipe_ops
                    : ipc->cfg.tls.enabled ? &nipc__tls_ops
                                           : &nipc__tcp_ops);
    cl->conn.servername = net ? where : NULL; /* the name TLS verifies */
    cl->conn.sync = ipc->cfg.sync;
    uv_timer_init(ipc->loop, &cl->timer);
    cl->timer.data = cl;

    /* Appended, so of[] keeps creation order. */
    nipc_client_t **link = &ipc->clients;
    while (*link != NULL)
        link = &(*link)->next;
    *link = cl;
    cl->in_table = true;

    if (net)
        nipc_log(ipc, "requested connection to  %s %s:%d", id, where, port);
    else
        nipc_log(ipc, "requested connection to  %s %s", id, where);
    if ((err = connect_now(cl)) != 0) {
        nipc__client_teardown(cl); /* freed once its timer has closed */
        return err;
    }
    if (out != NULL)
        *out = cl;
    return 0;
}

int nipc_connect_to(nipc_t *ipc, const char *id, const char *path, nipc_client_t **out)
{
    int err = 0;
    if (out != NULL)
        *out = NULL;
    if (ipc == NULL || id == NULL || id[0] == '\0')
        return UV_EINVAL;
    if (nipc__gone(ipc))
        return NIPC_EDESTROYED;
    /* No TLS on a Unix socket: refused rather than connecting in plaintext, as node-ipc
     * would. */
    if (ipc->cfg.tls.enabled)
        return UV_ENOTSUP;
    char *p = NULL;
    if (nipc_of(ipc, id) == NULL) {
        p = path ? nipc__strdup(path) : nipc__config_path(&ipc->cfg, id, nipc__max_path(), &err);
        if (err)
            return err;
        if (p != NULL && strlen(p) > nipc__max_path()) {
            nipc__free(p);
            return UV_ENAMETOOLONG;
        }
    }
    return open_client(ipc, id, p, false, 0, out);
}

int nipc_connect_to_net(nipc_t *ipc, const char *id, const char *host, int port,
                        nipc_client_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (ipc == NULL || id == NULL || id[0] == '\0' || port < NIPC_PORT_DEFAULT || port == 0 ||
        port > 65535)
        return UV_EINVAL;
    if (nipc__gone(ipc))
        return NIPC_EDESTROYED;
    if (!nipc__config_assured_net(&ipc->cfg, false)) {
        nipc_log(ipc, "assured: a network client needs tls with a certificate of its own");
        return UV_EINVAL;
    }
    if (host == NULL || host[0] == '\0')
        host = ipc->cfg.network_host;
    if (port == NIPC_PORT_DEFAULT)
        port = ipc->cfg.network_port;
    char *h = nipc_of(ipc, id) == NULL ? nipc__strdup(host) : NULL;
    return open_client(ipc, id, h, true, port, out);
}

/* Closed between attempts or after retrying ended, or retrying stopped between attempts:
 * `disconnect` was published at the close already; the queue is reported and `destroy`
 * ends the client. */
static void publish_final(nipc_deferred_t *d)
{
    destroyed(nipc__container_of(d, nipc_client_t, final_d));
}

int nipc_client_close(nipc_client_t *cl, bool flush)
{
    if (cl == NULL)
        return UV_EINVAL;
    if (cl->explicit_disconnect)
        return UV_EALREADY;
    if (cl->ipc->freeing)
        return NIPC_EDESTROYED;
    cl->explicit_disconnect = true;
    cl->discard = !flush;
    table_remove(cl);
    /* Posts are refused from now on; what waits in the mailboxes is reported before
     * `destroy`, as emits made now would fail. */
    nipc_loss_t mail = nipc__mailboxes_close(cl->ipc, cl);
    cl->mail_loss.frames += mail.frames;
    cl->mail_loss.bytes += mail.bytes;
    /* C12: the wildcard handlers go; typed disconnect / destroy handlers still run. */
    nipc__events_off(&cl->events, NIPC_EVENT_ANY, NULL, NULL);
    switch (cl->state) {
    case CONNECTED:
        nipc__conn_close(&cl->conn, flush, 0);
        break;
    case CONNECTING:
        /* With emits queued and flush asked for, on_connect delivers them first. */
        if (!flush || nipc__buf_queued(&cl->conn.out) == 0)
            nipc__conn_close(&cl->conn, false, 0);
        break;
    case WAITING:
    case DESTROYED:
        uv_timer_stop(&cl->timer);
        nipc__defer(cl->ipc, &cl->final_d, publish_final);
        break;
    }
    return 0;
}

/* ---- retrying at run time ----------------------------------------------------------------- */

/* Sets stop_retrying to `stop`: node-ipc's stopRetrying written at run time. */
static int set_stop_retrying(nipc_client_t *cl, bool stop)
{
    if (cl == NULL)
        return UV_EINVAL;
    if (cl->explicit_disconnect || nipc__gone(cl->ipc))
        return NIPC_EDESTROYED;
    if (cl->stop_retrying == stop)
        return 0;
    cl->stop_retrying = stop;
    nipc_log(cl->ipc, "%s: retrying %s", cl->id, stop ? "stopped" : "resumed");
    /* Connecting or connected, the next close decides (after_close); destroyed, nothing
     * happens until nipc_connect_to(). */
    if (cl->state != WAITING)
        return 0;
    if (stop) {
        /* The armed attempt is called off, and the client ends as one whose retries ran
         * out: its `disconnect` came at the close, `drop` and `destroy` follow from the
         * loop. */
        cl->paused_ms = uv_timer_get_due_in(&cl->timer);
        uv_timer_stop(&cl->timer);
        nipc__defer(cl->ipc, &cl->final_d, publish_final);
    } else if (cl->final_d.queued) {
        /* Stopped between attempts, and the end that stop decided has not come yet: undone,
         * the wait goes on with what was left of it. */
        nipc__defer_cancel(cl->ipc, &cl->final_d);
        uv_timer_start(&cl->timer, on_retry_timer, cl->paused_ms, 0);
    }
    return 0;
}

int nipc_client_stop_retrying(nipc_client_t *cl)
{
    return set_stop_retrying(cl, true);
}

int nipc_client_resume_retrying(nipc_client_t *cl)
{
    return set_stop_retrying(cl, false);
}

bool nipc_client_retrying(const nipc_client_t *cl)
{
    if (cl->explicit_disconnect || cl->stop_retrying || cl->state == DESTROYED ||
        nipc__gone(cl->ipc))
        return false;
    /* Between attempts the next one is armed, its retry already granted. */
    return cl->state == WAITING || cl->retries_remaining == NIPC_RETRY_FOREVER ||
           cl->retries_remaining >= 1;
}

int nipc_disconnect(nipc_t *ipc, const char *id)
{
    nipc_client_t *cl = nipc_of(ipc, id);
    if (cl == NULL)
        return UV_ENOENT;
    nipc_log(ipc, "disconnecting from %s", id);
    return nipc_client_close(cl, true);
}

/* ---- emitting ---------------------------------------------------------------------------- */

/* 0 when an emit may be queued now; why not otherwise. */
static int can_emit(const nipc_client_t *cl)
{
    if (cl->explicit_disconnect || cl->state == DESTROYED || nipc__gone(cl->ipc))
        return NIPC_EDESTROYED;
    if (cl->state == WAITING || cl->conn.closing)
        return UV_ENOTCONN;
    return 0;
}

int nipc_client_send(nipc_client_t *cl, const void *p, size_t n)
{
    if (cl == NULL || cl->conn.codec == &nipc__json_codec || (p == NULL && n > 0))
        return UV_EINVAL;
    int err = can_emit(cl);
    if (err)
        return err;
    if (n > cl->ipc->cfg.max_message_size)
        return UV_EMSGSIZE;
    if (nipc__log_on(cl->ipc))
        nipc_log(cl->ipc, "dispatching %zu bytes to %s", n, cl->id);
    return nipc__conn_send_bytes(&cl->conn, p, n);
}

int nipc_client_send_text(nipc_client_t *cl, const char *text)
{
    if (cl == NULL || cl->conn.codec != &nipc__raw_codec || text == NULL)
        return UV_EINVAL;
    return nipc_client_emit(cl, text, NULL);
}

/* `refer`: the caller handed data over (a `_new` emit). Inlined into both emits, so that the
 * copying one costs no more for the other. */
static inline __attribute__((always_inline)) int emit(nipc_client_t *cl, const char *type,
                                                      json_t *data, bool refer)
{
    if (cl == NULL)
        return UV_EINVAL;
    int err = can_emit(cl);
    if (err)
        return err;
    nipc__log_event(cl->ipc, "dispatching event to", cl->id, type, data);
    return nipc__conn_send(&cl->conn, type, data, refer);
}

int nipc_client_emit(nipc_client_t *cl, const char *type, json_t *data)
{
    return emit(cl, type, data, false);
}

int nipc_client_emit_new(nipc_client_t *cl, const char *type, json_t *data)
{
    int err = emit(cl, type, data, true);
    json_decref(data);
    return err;
}

int nipc_client_emitf(nipc_client_t *cl, const char *type, const char *fmt, ...)
{
    json_t *data;
    va_list ap;
    va_start(ap, fmt);
    int err = nipc__vpack(&data, fmt, ap);
    va_end(ap);
    if (err)
        return err;
    return nipc_client_emit_new(cl, type, data);
}

/* ---- requests ---------------------------------------------------------------------------- */

int nipc_client_request(nipc_client_t *cl, const char *type, json_t *data, unsigned timeout_ms,
                        nipc_reply_cb cb, void *arg)
{
    if (cl == NULL || cl->conn.codec == &nipc__raw_codec)
        return UV_EINVAL;
    int err = can_emit(cl);
    return err ? err : nipc__request_send(&cl->conn, type, data, timeout_ms, cb, arg);
}

int nipc_client_reply(nipc_client_t *cl, int64_t request, json_t *answer)
{
    if (cl == NULL || cl->conn.codec == &nipc__raw_codec)
        return UV_EINVAL;
    int err = can_emit(cl);
    return err ? err : nipc__request_answer(&cl->conn, request, answer);
}

/* ---- accessors and handlers -------------------------------------------------------------- */

const char *nipc_client_id(const nipc_client_t *cl)
{
    return cl->id;
}

const char *nipc_client_path(const nipc_client_t *cl)
{
    return cl->path;
}

bool nipc_client_connected(const nipc_client_t *cl)
{
    return cl->state == CONNECTED && !cl->conn.closing;
}

int nipc_client_peer_cred(const nipc_client_t *cl, nipc_cred_t *out)
{
    nipc_conn_t *c = (nipc_conn_t *)&cl->conn;
    if (c->ops->cred == NULL)
        return UV_ENOTSUP;
    return nipc_client_connected(cl) ? c->ops->cred(c, out) : UV_ENOTCONN;
}

const char *nipc_client_tls_subject(const nipc_client_t *cl)
{
    const nipc_conn_t *c = &cl->conn;
    return c->ops->subject != NULL && c->open ? c->ops->subject((nipc_conn_t *)c) : NULL;
}

int nipc_client_stats(const nipc_client_t *cl, nipc_stats_t *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (cl == NULL || out == NULL)
        return UV_EINVAL;
    nipc__conn_stats(&cl->conn, out);
    return 0;
}

long nipc_client_retries_remaining(const nipc_client_t *cl)
{
    return cl->retries_remaining;
}

int nipc_client_on(nipc_client_t *cl, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&cl->events, type, cb, arg, false);
}

int nipc_client_once(nipc_client_t *cl, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_on(&cl->events, type, cb, arg, true);
}

int nipc_client_off(nipc_client_t *cl, const char *type, nipc_event_cb cb, void *arg)
{
    return nipc__events_off(&cl->events, type, cb, arg);
}
