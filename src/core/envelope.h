/* SPDX-License-Identifier: MIT */
/*
 * The fast envelope parser (envelope.c), as message.c sees it. Private to src/core.
 */
#ifndef NIPC_CORE_ENVELOPE_H
#define NIPC_CORE_ENVELOPE_H

#include "core.h"

/*
 * Decodes a frame of the common shape {"type":"<name>","data":<value>} into m, reusing
 * *shape (may be NULL) as nipc__msg_decode_into() describes. Returns false, with nothing for
 * the caller to release, when the frame is not one it takes; the general path then decodes
 * it from the start. May discard *shape (decref, NULL) when the frame does not fit it.
 */
bool nipc__msg_decode_fast(nipc_msg_t *m, const char *p, size_t n, bool allow_reserved,
                           json_t **shape);

/* A value nobody but the connection holds: the only kind reuse may write into. */
static inline bool only_ours(const json_t *v)
{
    return v->refcount == 1;
}

#endif /* NIPC_CORE_ENVELOPE_H */
