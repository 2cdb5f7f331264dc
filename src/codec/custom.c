/* SPDX-License-Identifier: MIT */
/*
 * The caller's codec (nipc_codec_t), node-ipc 14's custom parser: encode(type, data) gives
 * an emit's bytes; read(remainder and chunk) publishes each complete message with
 * nipc_codec_deliver() and says how much it consumed. What it leaves is its remainder, given
 * again with the next read's bytes after it, and bounded by max_message_size. The event
 * type rules (reserved names, max_event_name, allowed_events) hold for its messages as for
 * JSON frames, both ways.
 */
#include "codec.h"

#include <string.h>

static int admit(const nipc_t *ipc, const char *type)
{
    return type == NULL ? UV_EINVAL : nipc__type_rules_apply(ipc, type);
}

static int encode(const nipc_t *ipc, nipc_buf_t *out, const char *type, const json_t *data,
                  bool refer)
{
    (void)refer;
    int err = admit(ipc, type);
    if (err)
        return err;
    size_t mark = out->len;
    const nipc_codec_t *k = ipc->cfg.codec;
    err = k->encode(k->arg, type, data, (nipc_codec_out_t *)out);
    if (err == 0 && out->len - mark > ipc->cfg.max_message_size)
        err = UV_EMSGSIZE;
    if (err)
        out->len = mark;
    return err > 0 ? UV_EINVAL : err;
}

int nipc_codec_write(nipc_codec_out_t *out, const void *p, size_t n)
{
    if (out == NULL || (p == NULL && n > 0))
        return UV_EINVAL;
    return nipc__buf_append((nipc_buf_t *)out, p, n);
}

int nipc_codec_deliver(nipc_codec_in_t *in, const char *type, json_t *data)
{
    nipc_conn_t *c = (nipc_conn_t *)in;
    if (c == NULL || type == NULL)
        return UV_EINVAL;
    if (c->closing || nipc__gone(c->ipc))
        return UV_ECANCELED;
    int err = nipc__type_rules_apply(c->ipc, type);
    c->rx_messages++;
    c->stats.frames_in++;
    if (err) {
        nipc__stats_refuse(&c->stats, err);
        json_t *why = nipc__error_payload(err);
        c->hooks->on_error(c, err, why);
        json_decref(why);
        return err;
    }
    c->hooks->on_message(c, type, data, NIPC_HINT_ALL);
    return 0;
}

static unsigned rx(nipc_conn_t *c)
{
    const nipc_codec_t *k = c->ipc->cfg.codec;
    size_t n = nipc__buf_size(&c->in);
    c->rx_messages = 0;
    ssize_t used = k->read(k->arg, (nipc_codec_in_t *)c, c->in.data + c->in.off, n);
    unsigned found = c->rx_messages > 0 ? NIPC__RX_MESSAGE : 0;
    if (c->closing)
        return found;
    if (used < 0 || (size_t)used > n) {
        nipc__stats_refuse(&c->stats, used < 0 ? (int)used : UV_EINVAL);
        nipc__conn_fail(c, used < 0 ? (int)used : UV_EINVAL);
        return found;
    }
    c->in.off += (size_t)used;
    if (nipc__buf_size(&c->in) > c->ipc->cfg.max_message_size) {
        nipc__stats_refuse(&c->stats, UV_EMSGSIZE);
        nipc__conn_fail(c, UV_EMSGSIZE);
        return found;
    }
    return nipc__buf_size(&c->in) == 0 ? found | NIPC__RX_BOUNDARY : found;
}

const nipc_codec_ops_t nipc__custom_codec = {
    .name = "custom",
    .delimited = false,
    .admit = admit,
    .encode = encode,
    .rx = rx,
};
