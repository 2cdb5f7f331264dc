/* SPDX-License-Identifier: MIT */
/*
 * rawBuffer mode (R1-R6): no framing and no delimiter. An emit(type, data) writes the bytes
 * of `type` in the configured encoding, as Buffer.from(type, encoding) does, and ignores
 * data (R1, R2); nipc_*_send() write bytes as they are. Each read is published whole, as one
 * `data` event with its bytes (R3): nothing is decoded, so nothing is lost (node-ipc's
 * lossy round trip through a string, R4, is not copied).
 */
#include "codec.h"

/* Raw mode's types are text to send: no event rule applies to them. */
static int admit(const nipc_t *ipc, const char *type)
{
    (void)ipc;
    return type == NULL ? UV_EINVAL : 0;
}

static int encode(const nipc_t *ipc, nipc_buf_t *out, const char *type, const json_t *data,
                  bool refer)
{
    (void)data;
    (void)refer;
    if (admit(ipc, type) != 0)
        return UV_EINVAL;
    size_t mark = out->len;
    int err = nipc__encoding_from_text(ipc->encoding, type, strlen(type), out);
    if (err == 0 && out->len - mark > ipc->cfg.max_message_size) {
        out->len = mark;
        return UV_EMSGSIZE;
    }
    return err;
}

static unsigned rx(nipc_conn_t *c)
{
    size_t n = nipc__buf_size(&c->in);
    if (n == 0)
        return 0;
    const char *p = c->in.data + c->in.off;
    c->in.off = c->in.len;
    c->stats.frames_in++;
    c->hooks->on_bytes(c, p, n);
    return NIPC__RX_MESSAGE | NIPC__RX_BOUNDARY;
}

const nipc_codec_ops_t nipc__raw_codec = {
    .name = "raw",
    .delimited = false,
    .admit = admit,
    .encode = encode,
    .rx = rx,
};
