/* SPDX-License-Identifier: MIT */
/*
 * The rules an event type follows in both directions, node-ipc 14's guarded and assured
 * checks: max_event_name, a length counted as JavaScript counts it, and allowed_events, a
 * set of names built once by nipc_new().
 *
 * The set is an open-addressed table of at least twice as many slots as names, so a lookup
 * hashes the type once and nearly always compares one slot; it never allocates. Its names
 * are borrowed from the instance's config copy, which outlives it. Peers choose the types
 * looked up but not the names in the table, so no input can lengthen a probe beyond the
 * table's own clusters.
 */
#include "core.h"

#include <stdint.h>
#include <string.h>

struct nipc_name_slot {
    const char *name; /* NULL: an empty slot */
    size_t len;
    uint32_t hash;
};

/* FNV-1a: names are short, and a strong hash buys nothing for a table no peer fills. */
static uint32_t hash_name(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static nipc_name_slot_t *find_slot(const nipc_nameset_t *s, const char *name, size_t len,
                                   uint32_t h)
{
    /* At most half the slots are used, so the probe always ends on an empty one. */
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        nipc_name_slot_t *slot = &s->slots[i];
        if (slot->name == NULL ||
            (slot->hash == h && slot->len == len && memcmp(slot->name, name, len) == 0))
            return slot;
    }
}

int nipc__nameset_build(nipc_nameset_t *s, const char *const *names)
{
    memset(s, 0, sizeof *s);
    size_t n = 0;
    while (names != NULL && names[n] != NULL)
        n++;
    if (n == 0)
        return 0;
    size_t cap = 4;
    while (cap < 2 * n) {
        if (cap > SIZE_MAX / 4)
            return UV_ENOMEM;
        cap *= 2;
    }
    s->slots = nipc__calloc(cap, sizeof *s->slots);
    if (s->slots == NULL)
        return UV_ENOMEM;
    s->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        uint32_t h = hash_name(names[i], len);
        nipc_name_slot_t *slot = find_slot(s, names[i], len, h);
        if (slot->name != NULL)
            continue; /* listed twice */
        slot->name = names[i];
        slot->len = len;
        slot->hash = h;
        s->count++;
    }
    return 0;
}

void nipc__nameset_free(nipc_nameset_t *s)
{
    nipc__free(s->slots);
    memset(s, 0, sizeof *s);
}

bool nipc__nameset_has(const nipc_nameset_t *s, const char *name, size_t len)
{
    if (s->count == 0)
        return false;
    return find_slot(s, name, len, hash_name(name, len))->name != NULL;
}

size_t nipc__js_length(const char *s, size_t n)
{
    /* One unit per character, two for a character past U+FFFF (a surrogate pair): every
     * byte but a continuation byte starts one, and a four-byte lead adds its second. */
    size_t units = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        units += (c & 0xc0) != 0x80;
        units += c >= 0xf0;
    }
    return units;
}

int nipc__type_rules_init(nipc_type_rules_t *r, const nipc_config_t *cfg)
{
    r->max_len = cfg->max_event_name;
    return nipc__nameset_build(&r->allowed, cfg->allowed_events);
}

void nipc__type_rules_free(nipc_type_rules_t *r)
{
    nipc__nameset_free(&r->allowed);
    r->max_len = 0;
}
