/* SPDX-License-Identifier: MIT */
/*
 * The promise of a decoded message's hints (NIPC_HINT_*, core.h): a hint that is off is
 * certain. Shared by the decode and differential harnesses.
 */
#ifndef NIPC_FUZZ_HINTS_H
#define NIPC_FUZZ_HINTS_H

#include "core/core.h"

#include <stdbool.h>
#include <string.h>

/* Whether data's first member is named `name` (a request's is "$req"). */
static inline bool fuzz_first_key_is(const json_t *data, const char *name)
{
    void *it = json_is_object(data) ? json_object_iter((json_t *)data) : NULL;
    return it != NULL && json_object_iter_key_len(it) == strlen(name) &&
           memcmp(json_object_iter_key(it), name, strlen(name)) == 0;
}

/* A request is flagged, and so is data with an "id" member (a request's payload has its own,
 * one level down, which NIPC_HINT_REQUEST covers). */
static inline bool fuzz_hints_hold(const nipc_msg_t *m)
{
    if (fuzz_first_key_is(m->data, "$req") && !(m->hints & NIPC_HINT_REQUEST))
        return false;
    if (json_is_object(m->data) && json_object_getn(m->data, "id", 2) != NULL &&
        !(m->hints & NIPC_HINT_ID))
        return false;
    return true;
}

#endif
