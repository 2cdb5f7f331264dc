/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's frames: JSON envelopes split on the delimiter. The scanner resumes where it
 * stopped; every complete frame of a read is decoded in place and published in that read
 * (W8, no hold-back as in legacy W10); the partial frame stays. A pending frame longer
 * than max_message_size closes this connection only.
 */
#include "codec.h"

static void dispatch(nipc_conn_t *c, const char *p, size_t n)
{
    nipc_msg_t m;
    nipc__msg_decode_into(&m, p, n, c->ipc->cfg.allow_reserved_events, &c->shape);
    nipc__msg_admit(&m, &c->ipc->rules, p, n);
    c->stats.frames_in++;
    if (m.err) {
        nipc__stats_refuse(&c->stats, m.err);
        c->hooks->on_error(c, m.err, m.decoded);
    } else
        c->hooks->on_message(c, m.type, m.data, m.hints);
    nipc__msg_done(&m, &c->shape);
}

static unsigned rx(nipc_conn_t *c)
{
    const size_t max = c->ipc->cfg.max_message_size;
    const size_t dlen = c->ipc->dlen;
    size_t flen;
    unsigned found = 0;
    while (!c->closing &&
           nipc__frame_next(&c->frame, c->in.data + c->in.off, nipc__buf_size(&c->in), &flen)) {
        if (flen > max) {
            nipc__stats_refuse(&c->stats, UV_EMSGSIZE);
            nipc__conn_fail(c, UV_EMSGSIZE);
            return found;
        }
        const char *p = c->in.data + c->in.off;
        c->in.off += flen + dlen;
        found = NIPC__RX_MESSAGE;
        dispatch(c, p, flen);
    }
    if (c->closing)
        return found;
    /* The partial frame may still end in a delimiter's first dlen - 1 bytes (written so
     * that max_message_size = SIZE_MAX cannot overflow). */
    size_t pending = nipc__buf_size(&c->in);
    if (pending > max && pending - max > dlen - 1) {
        nipc__stats_refuse(&c->stats, UV_EMSGSIZE);
        nipc__conn_fail(c, UV_EMSGSIZE);
        return found;
    }
    return pending == 0 ? found | NIPC__RX_BOUNDARY : found;
}

const nipc_codec_ops_t nipc__json_codec = {
    .name = "json",
    .delimited = true,
    .admit = nipc__admit,
    .encode = nipc__encode,
    .rx = rx,
};
