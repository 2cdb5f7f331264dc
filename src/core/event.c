/* SPDX-License-Identifier: MIT */
/*
 * Handler tables (K4, S17). One list in registration order. Publishing walks it twice,
 * wildcard handlers first, then handlers of the event's type, and stops at the entry that
 * was last when the publish began, so a handler added during a publish first runs for the
 * next event. Removal during a publish only marks the entry; the outermost publish unlinks
 * marked entries when it returns, so no handler is ever freed under a running walk.
 */
#include "core.h"

#include <string.h>

struct nipc_handler {
    nipc_handler_t *next;
    nipc_event_cb cb;
    void *arg;
    uint32_t hash; /* of type, so a publish compares strings only on a likely match */
    bool any;      /* the wildcard */
    bool once;
    bool dead;
    char type[]; /* NUL-terminated */
};

/* FNV-1a: short names, one pass, no table. */
static uint32_t hash_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

void nipc__events_init(nipc_events_t *t)
{
    memset(t, 0, sizeof *t);
}

void nipc__events_free(nipc_events_t *t)
{
    nipc_handler_t *h = t->head;
    while (h != NULL) {
        nipc_handler_t *next = h->next;
        nipc__free(h);
        h = next;
    }
    nipc__events_init(t);
}

int nipc__events_on(nipc_events_t *t, const char *type, nipc_event_cb cb, void *arg, bool once)
{
    if (type == NULL || cb == NULL)
        return UV_EINVAL;
    size_t n = strlen(type);
    nipc_handler_t *h = nipc__calloc(1, sizeof *h + n + 1);
    if (h == NULL)
        return UV_ENOMEM;
    h->cb = cb;
    h->arg = arg;
    h->once = once;
    h->hash = hash_of(type);
    h->any = strcmp(type, NIPC_EVENT_ANY) == 0;
    t->nany += h->any;
    memcpy(h->type, type, n + 1);
    if (t->tail != NULL)
        t->tail->next = h;
    else
        t->head = h;
    t->tail = h;
    return 0;
}

static void compact(nipc_events_t *t)
{
    nipc_handler_t **link = &t->head;
    t->tail = NULL;
    while (*link != NULL) {
        nipc_handler_t *h = *link;
        if (h->dead) {
            *link = h->next;
            t->nany -= h->any;
            nipc__free(h);
        } else {
            t->tail = h;
            link = &h->next;
        }
    }
    t->has_dead = false;
}

static void mark_dead(nipc_events_t *t, nipc_handler_t *h)
{
    h->dead = true;
    t->has_dead = true;
}

int nipc__events_off(nipc_events_t *t, const char *type, nipc_event_cb cb, void *arg)
{
    if (type == NULL)
        return UV_EINVAL;
    bool found = false;
    for (nipc_handler_t *h = t->head; h != NULL; h = h->next) {
        if (h->dead || strcmp(h->type, type) != 0)
            continue;
        if (cb != NULL && (h->cb != cb || h->arg != arg))
            continue;
        mark_dead(t, h);
        found = true;
        if (cb != NULL)
            break;
    }
    if (t->depth == 0 && t->has_dead)
        compact(t);
    return found ? 0 : UV_ENOENT;
}

/* Runs the live handlers up to `last` that are wildcards (any) or named `type` (hash). */
static void run(nipc_events_t *t, nipc_handler_t *last, bool any, const char *type, uint32_t hash,
                const nipc_event_t *ev)
{
    for (nipc_handler_t *h = t->head; h != NULL; h = h->next) {
        if (!h->dead && (any ? h->any : !h->any && h->hash == hash && strcmp(h->type, type) == 0)) {
            if (h->once)
                mark_dead(t, h);
            h->cb(ev, h->arg);
        }
        if (h == last)
            break;
    }
}

void nipc__events_publish(nipc_events_t *t, const nipc_event_t *ev)
{
    nipc_handler_t *last = t->tail;
    if (last == NULL)
        return;
    t->depth++;
    if (t->nany > 0)
        run(t, last, true, NULL, 0, ev);
    if (strcmp(ev->type, NIPC_EVENT_ANY) != 0)
        run(t, last, false, ev->type, hash_of(ev->type), ev);
    if (--t->depth == 0 && t->has_dead)
        compact(t);
}

bool nipc__events_has(const nipc_events_t *t, const char *type)
{
    for (const nipc_handler_t *h = t->head; h != NULL; h = h->next)
        if (!h->dead && strcmp(h->type, type) == 0)
            return true;
    return false;
}
