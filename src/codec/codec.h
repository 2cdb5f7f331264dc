/* SPDX-License-Identifier: MIT */
/*
 * Codecs: how a connection's events become bytes and its bytes become events. conn.c knows
 * a frame only through its codec's table, chosen once per instance from the config:
 *
 *   json    node-ipc's frames, {"type":..,"data":..} and the delimiter (W1-W17)
 *   raw     rawBuffer mode: bytes with no framing, each read one `data` event (R1-R6)
 *   custom  the caller's nipc_codec_t (node-ipc 14's custom parser: encode and read)
 *
 * A codec's receive works on the connection's input buffer c->in: bytes [off, len) are
 * what it has not consumed yet, the newest read at their end. It publishes what is
 * complete through the connection's hooks, advances off past it, and leaves the rest (a
 * partial frame, a custom codec's remainder) for the next read. A handler may close the
 * connection: a codec stops as soon as c->closing is set.
 */
#ifndef NIPC_CODEC_H
#define NIPC_CODEC_H

#include "../internal.h"

/* What a receive found, for conn.c: */
#define NIPC__RX_MESSAGE 1u  /* at least one message was published */
#define NIPC__RX_BOUNDARY 2u /* nothing is pending: the read ended between messages */

struct nipc_codec_ops {
    const char *name;
    /* Frames end in the delimiter, so conn.c finds them in its queues by scanning; other
     * codecs' frames are any bytes, and conn.c keeps their lengths instead. */
    bool delimited;
    /* The checks encode makes on a type first, which need no data and no connection: 0, or
     * the code encode would return. They read only the instance's config, which nothing
     * changes after nipc_new(), so a mailbox makes them on its poster's thread. */
    int (*admit)(const nipc_t *ipc, const char *type);
    /* Appends the bytes of one emit(type, data) to out; on error out is as it was. `refer`:
     * the caller handed its reference to data over (a `_new` emit), so the codec may queue
     * parts of data by reference (out's spans; the JSON codec's large strings). */
    int (*encode)(const nipc_t *ipc, nipc_buf_t *out, const char *type, const json_t *data,
                  bool refer);
    /* Consumes c->in (see above). Returns NIPC__RX_* flags; the connection may then be
     * closing (a frame too large, a codec error, or a handler's close). */
    unsigned (*rx)(nipc_conn_t *c);
};

extern const nipc_codec_ops_t nipc__json_codec;
extern const nipc_codec_ops_t nipc__raw_codec;
extern const nipc_codec_ops_t nipc__custom_codec;

/* The codec a config asks for: custom when it has one, raw with raw_buffer, else JSON. */
const nipc_codec_ops_t *nipc__codec_for(const nipc_config_t *cfg);

/* For codecs: the connection failed on its input (too large, undecodable): `error`, then
 * the close. */
void nipc__conn_fail(nipc_conn_t *c, int err);

#endif /* NIPC_CODEC_H */
