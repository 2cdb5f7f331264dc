/* SPDX-License-Identifier: MIT */
/*
 * Requests and their replies, beyond node-ipc, in ordinary node-ipc frames so that a Node
 * peer answers with a few lines of JavaScript:
 *
 *   request  {"type":<type>,"data":{"$req":<id>,"data":<payload>}}
 *   reply    {"type":"$reply","data":{"$re":<id>,"data":<answer>}}
 *
 * (the inner "data" is left out when there is none). Ids are per connection, from 1 up, never
 * reused, so a reply that comes after its request timed out finds nobody waiting and is
 * dropped (logged), never given to a later request. A request waits on its connection: when
 * the connection closes, the request ends with UV_ECANCELED. Each pending request has its
 * own timer, closed when it ends; the callback runs exactly once, from the loop.
 */
#include "internal.h"

#include <string.h>

#define REPLY_TYPE "$reply"

struct nipc_request {
    uv_timer_t timer;
    nipc_t *ipc;
    nipc_requests_t *list; /* its connection's, oldest first, while pending; else NULL */
    nipc_request_t *prev;
    nipc_request_t *next;
    int64_t id;
    nipc_reply_cb cb;
    void *arg;
};

static void on_timer_closed(uv_handle_t *h)
{
    nipc_request_t *r = h->data;
    nipc_t *ipc = r->ipc;
    nipc__free(r);
    nipc__handle_closed(ipc);
}

/* Ends r: out of its list, its timer closing, and its callback told once. */
static void end(nipc_request_t *r, int status, json_t *data)
{
    nipc_requests_t *l = r->list;
    *(r->prev != NULL ? &r->prev->next : &l->head) = r->next;
    *(r->next != NULL ? &r->next->prev : &l->tail) = r->prev;
    r->list = NULL;
    uv_timer_stop(&r->timer);
    nipc__close_handle(r->ipc, (uv_handle_t *)&r->timer, on_timer_closed);
    r->ipc->depth++;
    r->cb(status, data, r->arg);
    r->ipc->depth--;
}

static void on_timeout(uv_timer_t *t)
{
    nipc_request_t *r = t->data;
    nipc_log(r->ipc, "request %lld: no reply in time", (long long)r->id);
    end(r, UV_ETIMEDOUT, NULL);
}

int nipc__request_send(nipc_conn_t *c, const char *type, json_t *data, unsigned timeout_ms,
                       nipc_reply_cb cb, void *arg)
{
    if (cb == NULL || type == NULL)
        return UV_EINVAL;
    nipc_request_t *r = nipc__calloc(1, sizeof *r);
    json_t *wrapped = json_object();
    json_int_t id = (json_int_t)(c->requests.last_id + 1);
    int err = UV_ENOMEM;
    if (r != NULL && wrapped != NULL &&
        json_object_set_new(wrapped, "$req", json_integer(id)) == 0 &&
        (data == NULL || json_object_set(wrapped, "data", data) == 0))
        err = nipc__conn_send(c, type, wrapped, false);
    json_decref(wrapped);
    if (err) {
        nipc__free(r);
        return err;
    }
    c->requests.last_id = id;
    r->ipc = c->ipc;
    r->id = id;
    r->cb = cb;
    r->arg = arg;
    /* Appended: replies mostly come in order, and the lookup starts at the oldest. */
    nipc_requests_t *l = &c->requests;
    r->list = l;
    r->prev = l->tail;
    *(l->tail != NULL ? &l->tail->next : &l->head) = r;
    l->tail = r;
    uv_timer_init(c->ipc->loop, &r->timer);
    r->timer.data = r;
    if (timeout_ms > 0)
        uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    return 0;
}

bool nipc__request_reply_slow(nipc_conn_t *c, const char *type, json_t *data)
{
    if (strcmp(type, REPLY_TYPE) != 0)
        return false;
    json_t *re = json_is_object(data) ? json_object_get(data, "$re") : NULL;
    if (!json_is_integer(re)) /* not one of ours: an event like any other */
        return false;
    json_int_t id = json_integer_value(re);
    for (nipc_request_t *r = c->requests.head; r != NULL; r = r->next) {
        if (r->id == id) {
            end(r, 0, json_object_get(data, "data"));
            return true;
        }
    }
    nipc_log(c->ipc, "reply to request %lld, which is not waiting (too late, or unknown)",
             (long long)id);
    return true;
}

json_t *nipc__request_unwrap_slow(json_t *data, int64_t *id)
{
    *id = 0;
    const char *first = json_object_iter_key(json_object_iter(data));
    json_t *req =
        first != NULL && strcmp(first, "$req") == 0 ? json_object_get(data, "$req") : NULL;
    if (!json_is_integer(req) || json_integer_value(req) <= 0)
        return data;
    json_t *inner = json_object_get(data, "data");
    if (json_object_size(data) != (inner != NULL ? 2u : 1u))
        return data; /* other keys: an ordinary object that happens to hold "$req" */
    *id = json_integer_value(req);
    return inner;
}

void nipc__requests_cancel(nipc_conn_t *c)
{
    while (c->requests.head != NULL)
        end(c->requests.head, UV_ECANCELED, NULL);
}

json_t *nipc__reply_payload(int64_t id, json_t *answer)
{
    json_t *reply = json_object();
    if (reply == NULL || json_object_set_new(reply, "$re", json_integer((json_int_t)id)) != 0 ||
        (answer != NULL && json_object_set(reply, "data", answer) != 0)) {
        json_decref(reply);
        return NULL;
    }
    return reply;
}

int nipc__request_answer(nipc_conn_t *c, int64_t id, json_t *answer)
{
    if (id <= 0) /* no request has it */
        return UV_EINVAL;
    json_t *reply = nipc__reply_payload(id, answer);
    int err = reply != NULL ? nipc__conn_send(c, REPLY_TYPE, reply, false) : UV_ENOMEM;
    json_decref(reply);
    return err;
}
