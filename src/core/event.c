/* SPDX-License-Identifier: MIT */
/*
 * Handler tables (K4, S17). One list in registration order, and each handler on one chain
 * in the same order: the wildcards', or one of eight picked by its type's hash. Publishing
 * walks the wildcards' chain, then the chain of the event's type, each up to the entry that
 * was its last when the publish began, so a handler added during a publish first runs for
 * the next event. Removal during a publish only marks the entry; the outermost publish
 * unlinks marked entries when it returns, and rebuilds the chains, so no handler is ever
 * freed under a running walk.
 */
#include "core.h"

#include <string.h>

struct nipc_handler {
    nipc_handler_t *next;
    nipc_handler_t *chain_next;
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

#define ANY_CHAIN (NIPC_EVENTS_CHAINS - 1)

static unsigned chain_of(bool any, uint32_t hash)
{
    return any ? ANY_CHAIN : hash % ANY_CHAIN;
}

static void chain_append(nipc_events_t *t, nipc_handler_t *h)
{
    unsigned k = chain_of(h->any, h->hash);
    h->chain_next = NULL;
    if (t->chain_tail[k] != NULL)
        t->chain_tail[k]->chain_next = h;
    else
        t->chain_head[k] = h;
    t->chain_tail[k] = h;
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
    memcpy(h->type, type, n + 1);
    if (t->tail != NULL)
        t->tail->next = h;
    else
        t->head = h;
    t->tail = h;
    chain_append(t, h);
    return 0;
}

static void compact(nipc_events_t *t)
{
    nipc_handler_t **link = &t->head;
    t->tail = NULL;
    memset(t->chain_head, 0, sizeof t->chain_head);
    memset(t->chain_tail, 0, sizeof t->chain_tail);
    while (*link != NULL) {
        nipc_handler_t *h = *link;
        if (h->dead) {
            *link = h->next;
            nipc__free(h);
        } else {
            t->tail = h;
            chain_append(t, h);
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

/* Runs the live handlers of a chain from h up to `last` that are wildcards (type NULL) or
 * named `type`. */
static void run(nipc_events_t *t, nipc_handler_t *h, const nipc_handler_t *last, const char *type,
                uint32_t hash, const nipc_event_t *ev)
{
    for (; h != NULL; h = h->chain_next) {
        if (!h->dead && (type == NULL || (h->hash == hash && strcmp(h->type, type) == 0))) {
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
    if (t->tail == NULL)
        return;
    /* "*" itself is published to the wildcards only. */
    bool typed = !(ev->type[0] == '*' && ev->type[1] == '\0');
    uint32_t hash = typed ? hash_of(ev->type) : 0;
    unsigned k = chain_of(false, hash);
    /* The chains' ends as the publish begins, before a handler can add to them. */
    nipc_handler_t *any_head = t->chain_head[ANY_CHAIN], *any_last = t->chain_tail[ANY_CHAIN];
    nipc_handler_t *head = t->chain_head[k], *last = t->chain_tail[k];
    t->depth++;
    run(t, any_head, any_last, NULL, 0, ev);
    if (typed)
        run(t, head, last, ev->type, hash, ev);
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
