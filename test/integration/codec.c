/* SPDX-License-Identifier: MIT */
/*
 * A caller's codec (nipc_codec_t, node-ipc 14's custom parser) through real sockets, over
 * every stream transport (a Unix socket, TCP on 127.0.0.1 and ::1, TLS): events both ways,
 * messages cut across many reads and many messages in one read, the remainder given again
 * with the next read, the type rules on both ends, and each way a codec can fail (encode's
 * error, read's error, a remainder too large, a read that consumes more than it was given),
 * a handler that closes or frees from inside a deliver, and the config rules (UDP refuses a
 * codec, a codec needs both functions, the config's codec is copied).
 *
 * The test's wire format, "lp": a 4-byte big-endian length, then that many bytes: the type,
 * a NUL, and the data as compact JSON text (nothing for no data).
 */
#include "../support/transport.h"

TH_LOOP_SUITE(codec, 30);

/* ---- the codec ------------------------------------------------------------------------- */

#define LP_READS 4096
#define LP_MSGS 64

/* One instance's codec: what it was asked to do wrong, and what it saw. Every connection of
 * the instance shares it (the codec itself keeps no state between reads). */
typedef struct lp {
    int encode_err; /* nonzero: encode writes half a frame, then returns this */
    /* A message of type bad_type makes read return bad_return, or n + 1 with greedy. */
    const char *bad_type;
    ssize_t bad_return;
    bool greedy;
    nipc_t *free_in_read; /* a message "free" makes read call nipc_free() on it first */

    int encodes;
    int reads;
    size_t n[LP_READS];      /* each read's n */
    char head[LP_READS][8];  /* and its first bytes */
    int delivered[LP_READS]; /* how many messages it delivered */
    int msgs;                /* nipc_codec_deliver calls, each with: */
    char type[LP_MSGS][32];  /* the type */
    int result[LP_MSGS];     /* what nipc_codec_deliver returned */
} lp_t;

static void be32(unsigned char h[4], size_t len)
{
    h[0] = (unsigned char)(len >> 24);
    h[1] = (unsigned char)(len >> 16);
    h[2] = (unsigned char)(len >> 8);
    h[3] = (unsigned char)len;
}

static int lp_encode(void *arg, const char *type, const json_t *data, nipc_codec_out_t *out)
{
    lp_t *k = arg;
    k->encodes++;
    char *text = data != NULL ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (data != NULL && text == NULL)
        return UV_ENOMEM;
    size_t tlen = strlen(type) + 1, dlen = text != NULL ? strlen(text) : 0;
    unsigned char h[4];
    be32(h, tlen + dlen);
    int err = nipc_codec_write(out, h, 4);
    if (err == 0)
        err = nipc_codec_write(out, type, tlen);
    if (err == 0)
        err = k->encode_err; /* half a frame is written: nipc must discard it */
    if (err == 0)
        err = nipc_codec_write(out, text, dlen);
    free(text);
    return err;
}

static ssize_t lp_read(void *arg, nipc_codec_in_t *in, const char *p, size_t n)
{
    lp_t *k = arg;
    int r = k->reads < LP_READS ? k->reads : LP_READS - 1;
    k->reads++;
    k->n[r] = n;
    memset(k->head[r], 0, sizeof k->head[r]);
    memcpy(k->head[r], p, n < sizeof k->head[r] ? n : sizeof k->head[r]);
    k->delivered[r] = 0;
    size_t used = 0;
    while (n - used >= 4) {
        const unsigned char *h = (const unsigned char *)p + used;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (n - used - 4 < len)
            break;
        const char *type = p + used + 4;
        const char *nul = memchr(type, '\0', len);
        if (nul == NULL)
            return UV_EPROTO;
        if (k->bad_type != NULL && strcmp(type, k->bad_type) == 0)
            return k->greedy ? (ssize_t)n + 1 : k->bad_return;
        size_t dlen = len - (size_t)(nul + 1 - type);
        json_t *data = NULL;
        if (dlen > 0 && (data = json_loadb(nul + 1, dlen, JSON_DECODE_ANY, NULL)) == NULL)
            return UV_EPROTO;
        if (k->free_in_read != NULL && strcmp(type, "free") == 0)
            nipc_free(k->free_in_read);
        /* However deliver answers, the codec goes on: nipc must publish nothing it should
         * not, whatever a codec does. */
        int res = nipc_codec_deliver(in, type, data);
        json_decref(data);
        if (k->msgs < LP_MSGS) {
            snprintf(k->type[k->msgs], sizeof k->type[0], "%s", type);
            k->result[k->msgs] = res;
        }
        k->msgs++;
        k->delivered[r]++;
        used += 4 + len;
    }
    return (ssize_t)used;
}

/* A config with the lp codec on `k`, silent. */
static void lp_config(nipc_config_t *cfg, nipc_codec_t *codec, lp_t *k)
{
    th_config(cfg);
    codec->encode = lp_encode;
    codec->read = lp_read;
    codec->arg = k;
    cfg->codec = codec;
}

/* The lp bytes of one message, for raw peers: malloc'd, its length in *len. */
static char *lp_frame(const char *type, const char *json, size_t *len)
{
    size_t tlen = strlen(type) + 1, dlen = json != NULL ? strlen(json) : 0;
    *len = 4 + tlen + dlen;
    char *f = malloc(*len);
    cr_assert_not_null(f);
    be32((unsigned char *)f, tlen + dlen);
    memcpy(f + 4, type, tlen);
    if (dlen > 0)
        memcpy(f + 4 + tlen, json, dlen);
    return f;
}

/* The k-th message that read delivered was `type` and deliver returned `res`. */
static void assert_delivered(const lp_t *k, int i, const char *type, int res, const char *where)
{
    cr_assert_gt(k->msgs, i, "%s: only %d messages went to deliver", where, k->msgs);
    cr_assert_str_eq(k->type[i], type, "%s: message %d", where, i);
    cr_assert_eq(k->result[i], res, "%s: deliver of %s returned %s, not %s", where, type,
                 nipc_err_name(k->result[i]), nipc_err_name(res));
}

/* ---- a server and clients with codecs -------------------------------------------------- */

typedef struct pair {
    th_server_t srv;
    nipc_codec_t scodec, ccodec;
    lp_t sk, ck;
    nipc_t *cipc;
    nipc_client_t *c;
    th_rec_t crec;
    bool connected;
} pair_t;

/* Waits until the server lists `n` sockets (after TLS's handshake, a socket is announced
 * once its end is up too). */
static void wait_sockets(nipc_server_t *s, size_t n, const char *where)
{
    for (int i = 0; i < 400 && nipc_server_socket_count(s) < n; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_server_socket_count(s), n, "%s", where);
}

/* Zeroes p and fills both configs with the lp codec, on sk and on ck; the client does not
 * retry (a test that closes it wants it gone). */
static void pair_configs(pair_t *p, nipc_config_t *s, nipc_config_t *c)
{
    memset(p, 0, sizeof *p);
    lp_config(s, &p->scodec, &p->sk);
    lp_config(c, &p->ccodec, &p->ck);
    c->stop_retrying = true;
}

/* A client of the pair's server on its own instance, connected, every event in `rec`. */
static nipc_client_t *client_up(pair_t *p, const th_transport_t *t, nipc_t **ipc,
                                const nipc_config_t *cfg, th_rec_t *rec)
{
    cr_assert_eq(nipc_new(ipc, &loop, cfg), 0, "%s", t->name);
    nipc_client_t *c;
    int err = th_connect(*ipc, t, "world", p->srv.server, &c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    bool connected = false;
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, rec);
    nipc_client_once(c, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 3000), "%s: no connect", t->name);
    return c;
}

/* The server and one client of pair_configs(), as the test changed the configs. */
static void pair_up(pair_t *p, const th_transport_t *t, const nipc_config_t *s,
                    const nipc_config_t *c)
{
    th_server_start_on(&p->srv, &loop, s, t, dir, "codec.sock");
    p->c = client_up(p, t, &p->cipc, c, &p->crec);
    wait_sockets(p->srv.server, 1, t->name);
}

/* pair_up() with the configs unchanged. */
static void pair_default(pair_t *p, const th_transport_t *t, nipc_config_t *c)
{
    nipc_config_t s;
    pair_configs(p, &s, c);
    pair_up(p, t, &s, c);
}

static void pair_down(pair_t *p)
{
    nipc_free(p->cipc);
    nipc_free(p->srv.ipc);
}

static bool wait_type(const th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

/* The data of the k-th event of `type`, as compact JSON ("" for none). */
static const char *data_of(const th_rec_t *r, const char *type, int k)
{
    int i = th_find(r, type, k);
    cr_assert_geq(i, 0, "no %s event %d (events: %s)", type, k, th_types(r));
    return r->data[i];
}

/* ---- events both ways ------------------------------------------------------------------ */

ParameterizedTestParameters(codec, events_both_ways)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* Emits become lp frames and lp frames become events, data equal, NULL data kept NULL;
 * broadcast encodes once for every socket; bytes sent as they are go through the receiver's
 * codec like any others. */
ParameterizedTest(th_transport_t *t, codec, events_both_ways)
{
    pair_t p;
    nipc_config_t c;
    pair_default(&p, t, &c);
    cr_assert_eq(
        nipc_client_emitf(p.c, "hello", "{s:i, s:s, s:[b,n]}", "n", 1, "s", "\xc3\xa9\f", "a", 1),
        0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "bare", NULL), 0, "%s", t->name);
    size_t flen;
    char *f = lp_frame("sent", "[1,2]", &flen);
    cr_assert_eq(nipc_client_send(p.c, f, flen), 0, "%s: bytes as they are", t->name);
    free(f);
    cr_assert(wait_type(&p.srv.rec, "sent", 1, 3000), "%s: %s", t->name, th_types(&p.srv.rec));
    cr_assert_str_eq(data_of(&p.srv.rec, "hello", 0),
                     "{\"n\":1,\"s\":\"\xc3\xa9\\f\",\"a\":[true,null]}");
    cr_assert_str_eq(data_of(&p.srv.rec, "bare", 0), "", "%s: no data stays no data", t->name);
    cr_assert_str_eq(data_of(&p.srv.rec, "sent", 0), "[1,2]", "%s", t->name);
    cr_assert_eq(p.ck.encodes, 2, "%s: a send is not encoded", t->name);
    nipc_socket_t *sock = p.srv.rec.socket[th_find(&p.srv.rec, "hello", 0)];
    cr_assert_not_null(sock, "%s", t->name);
    cr_assert_eq(p.sk.msgs, 3, "%s", t->name);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(p.sk.result[i], 0, "%s: deliver %d", t->name, i);

    /* A second client: the server's broadcast reaches both, encoded once. */
    nipc_t *ipc2;
    th_rec_t *rec2 = calloc(1, sizeof *rec2);
    cr_assert_not_null(rec2);
    client_up(&p, t, &ipc2, &c, rec2);
    wait_sockets(p.srv.server, 2, t->name);
    int before = p.sk.encodes;
    cr_assert_eq(nipc_server_emitf(p.srv.server, sock, "reply", "{s:s}", "to", "one"), 0);
    cr_assert_eq(nipc_server_broadcastf(p.srv.server, "news", "[s]", "all"), 0, "%s", t->name);
    cr_assert_eq(p.sk.encodes, before + 2, "%s: broadcast encodes once", t->name);
    cr_assert(wait_type(&p.crec, "news", 1, 3000), "%s: %s", t->name, th_types(&p.crec));
    cr_assert(wait_type(rec2, "news", 1, 3000), "%s: %s", t->name, th_types(rec2));
    cr_assert_str_eq(data_of(&p.crec, "reply", 0), "{\"to\":\"one\"}", "%s", t->name);
    cr_assert_str_eq(data_of(&p.crec, "news", 0), "[\"all\"]", "%s", t->name);
    cr_assert_str_eq(data_of(rec2, "news", 0), "[\"all\"]", "%s", t->name);
    th_run_for(&loop, 30);
    cr_assert_eq(th_count(rec2, "reply"), 0, "%s: the reply went to one socket", t->name);
    cr_assert_eq(th_count(&p.crec, "news") + th_count(rec2, "news"), 2, "%s", t->name);
    nipc_free(ipc2);
    free(rec2);
    pair_down(&p);
}

/* ---- messages and reads ---------------------------------------------------------------- */

#define BIG (300 * 1024)

typedef struct big {
    char *text;
    int matched;
} big_t;

static void on_big(const nipc_event_t *ev, void *arg)
{
    big_t *b = arg;
    cr_assert(json_is_string(ev->data), "the big message's data is a string");
    cr_assert_eq(json_string_length(ev->data), BIG);
    cr_assert(memcmp(json_string_value(ev->data), b->text, BIG) == 0, "the big data differs");
    b->matched++;
}

/* Every read before the one that completed the single big message delivered nothing, and
 * each read was given what the one before left, followed by more. */
static void assert_one_message_in_reads(const lp_t *k, const th_transport_t *t, const char *side)
{
    cr_assert_gt(k->reads, 1, "%s: %s: 300 KiB in one read?", t->name, side);
    cr_assert_lt(k->reads, LP_READS, "%s", t->name);
    for (int i = 0; i < k->reads; i++) {
        cr_assert_eq(k->delivered[i], i == k->reads - 1, "%s: %s: read %d of %d delivered %d",
                     t->name, side, i, k->reads, k->delivered[i]);
        if (i > 0)
            cr_assert_gt(k->n[i], k->n[i - 1], "%s: %s: read %d was not given the remainder",
                         t->name, side, i);
    }
}

ParameterizedTestParameters(codec, a_message_split_across_many_reads)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* A 300 KiB message arrives in many reads: the codec consumes nothing until it is whole,
 * and then gets it whole, on both sides. */
ParameterizedTest(th_transport_t *t, codec, a_message_split_across_many_reads)
{
    pair_t p;
    nipc_config_t c;
    pair_default(&p, t, &c);
    big_t b = {malloc(BIG + 1), 0};
    cr_assert_not_null(b.text);
    for (size_t i = 0; i < BIG; i++)
        b.text[i] = (char)('a' + i % 26);
    b.text[BIG] = '\0';
    nipc_server_on(p.srv.server, "big", on_big, &b);
    nipc_client_on(p.c, "big", on_big, &b);
    cr_assert_eq(nipc_client_emit_new(p.c, "big", json_string(b.text)), 0, "%s", t->name);
    cr_assert(th_run_until_count(&loop, &b.matched, 1, 5000), "%s: %s", t->name,
              th_types(&p.srv.rec));
    assert_one_message_in_reads(&p.sk, t, "server");
    cr_assert_eq(p.sk.n[p.sk.reads - 1], 4 + strlen("big") + 1 + BIG + 2, "%s", t->name);

    nipc_socket_t *sock = nipc_server_socket_at(p.srv.server, 0);
    cr_assert_eq(nipc_server_emit_new(p.srv.server, sock, "big", json_string(b.text)), 0);
    cr_assert(th_run_until_count(&loop, &b.matched, 2, 5000), "%s: %s", t->name, th_types(&p.crec));
    assert_one_message_in_reads(&p.ck, t, "client");
    th_run_for(&loop, 30);
    cr_assert_eq(b.matched, 2, "%s", t->name);
    free(b.text);
    pair_down(&p);
}

/* A server with the lp codec, and a raw socket connected to it. */
typedef struct lone {
    nipc_codec_t codec;
    lp_t k;
    th_server_t srv;
    int fd;
} lone_t;

/* max_message_size 0: the default. */
static void lone_up(lone_t *l, const th_transport_t *t, size_t max_message_size)
{
    nipc_config_t cfg;
    memset(l, 0, sizeof *l);
    lp_config(&cfg, &l->codec, &l->k);
    if (max_message_size > 0)
        cfg.max_message_size = max_message_size;
    th_server_start_on(&l->srv, &loop, &cfg, t, dir, "codec.sock");
    l->fd = th_raw_connect_server(t, l->srv.server);
    cr_assert(wait_type(&l->srv.rec, "connect", 1, 2000), "%s: no connect", t->name);
}

static void lone_down(lone_t *l)
{
    close(l->fd);
    nipc_free(l->srv.ipc);
}

ParameterizedTestParameters(codec, a_stream_sent_byte_by_byte)
{
    TH_TRANSPORT_PARAMS();
}

/* Three messages, each byte its own read: every read is given the remainder and one byte
 * more, and each message is delivered by the read of its last byte. */
ParameterizedTest(th_transport_t *t, codec, a_stream_sent_byte_by_byte)
{
    lone_t l;
    lone_up(&l, t, 0);
    const char *types[] = {"one", "two", "three"};
    const char *data[] = {"{\"a\":1}", NULL, "[\"x\\fy\"]"};
    size_t since = 0; /* bytes of the message under way */
    for (int m = 0; m < 3; m++) {
        size_t len;
        char *f = lp_frame(types[m], data[m], &len);
        for (size_t i = 0; i < len; i++) {
            int before = l.k.reads;
            th_raw_write(l.fd, f + i, 1);
            cr_assert(th_run_until_count(&loop, &l.k.reads, before + 1, 2000),
                      "%s: byte %zu of %s never read", t->name, i, types[m]);
            th_run_for(&loop, 1);
            cr_assert_eq(l.k.reads, before + 1, "%s: one byte, one read", t->name);
            since++;
            cr_assert_eq(l.k.n[before], since, "%s: %s byte %zu: the remainder and one byte",
                         t->name, types[m], i);
            cr_assert_eq(l.k.delivered[before], i == len - 1, "%s: %s byte %zu", t->name, types[m],
                         i);
        }
        since = 0;
        free(f);
    }
    cr_assert_str_eq(data_of(&l.srv.rec, "one", 0), "{\"a\":1}", "%s", t->name);
    cr_assert_str_eq(data_of(&l.srv.rec, "two", 0), "", "%s", t->name);
    cr_assert_str_eq(data_of(&l.srv.rec, "three", 0), "[\"x\\fy\"]", "%s", t->name);
    cr_assert_lt(th_find(&l.srv.rec, "one", 0), th_find(&l.srv.rec, "two", 0), "%s", t->name);
    cr_assert_lt(th_find(&l.srv.rec, "two", 0), th_find(&l.srv.rec, "three", 0), "%s", t->name);
    lone_down(&l);
}

ParameterizedTestParameters(codec, several_messages_in_one_read_and_the_remainder_carried)
{
    TH_TRANSPORT_PARAMS();
}

/* Five messages and the start of a sixth in one write: one read delivers the five and
 * leaves the start; the next read begins with it, and delivers the sixth. */
ParameterizedTest(th_transport_t *t, codec, several_messages_in_one_read_and_the_remainder_carried)
{
    lone_t l;
    lone_up(&l, t, 0);
    char buf[512];
    size_t n = 0, len;
    for (int i = 0; i < 5; i++) {
        char type[8], json[16];
        snprintf(type, sizeof type, "m%d", i);
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        char *f = lp_frame(type, json, &len);
        memcpy(buf + n, f, len);
        n += len;
        free(f);
    }
    char *sixth = lp_frame("sixth", "\"the rest\"", &len);
    memcpy(buf + n, sixth, 7);
    th_raw_write(l.fd, buf, n + 7);
    cr_assert(wait_type(&l.srv.rec, "m4", 1, 2000), "%s: %s", t->name, th_types(&l.srv.rec));
    th_run_for(&loop, 20);
    cr_assert_eq(l.k.reads, 1, "%s: one write on loopback, one read", t->name);
    cr_assert_eq(l.k.n[0], n + 7, "%s", t->name);
    cr_assert_eq(l.k.delivered[0], 5, "%s: five messages in one read", t->name);
    for (int i = 0; i < 5; i++) {
        char type[8], json[16];
        snprintf(type, sizeof type, "m%d", i);
        snprintf(json, sizeof json, "{\"i\":%d}", i);
        cr_assert_str_eq(data_of(&l.srv.rec, type, 0), json, "%s", t->name);
        assert_delivered(&l.k, i, type, 0, t->name);
    }
    cr_assert_eq(th_count(&l.srv.rec, "sixth"), 0, "%s", t->name);

    th_raw_write(l.fd, sixth + 7, len - 7);
    cr_assert(wait_type(&l.srv.rec, "sixth", 1, 2000), "%s: %s", t->name, th_types(&l.srv.rec));
    cr_assert_eq(l.k.reads, 2, "%s", t->name);
    cr_assert_eq(l.k.n[1], len, "%s: the remainder and the new bytes", t->name);
    cr_assert(memcmp(l.k.head[1], sixth, 7) == 0, "%s: the remainder comes first", t->name);
    cr_assert_str_eq(data_of(&l.srv.rec, "sixth", 0), "\"the rest\"", "%s", t->name);
    free(sixth);
    lone_down(&l);
}

/* ---- the type rules -------------------------------------------------------------------- */

static const char *const allowed[] = {"ok", "a_long_name", NULL};

ParameterizedTestParameters(codec, the_type_rules_hold_both_ways)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * Received: a reserved name, a type outside allowed_events and one longer than
 * max_event_name, delivered by the codec, are `error` events with the rule's code, which
 * deliver returns, and the connection is kept. Sent: the emit returns the code, encode is
 * never called and nothing goes out.
 */
ParameterizedTest(th_transport_t *t, codec, the_type_rules_hold_both_ways)
{
    nipc_config_t s, c;
    pair_t p;
    pair_configs(&p, &s, &c);
    s.allowed_events = allowed;
    s.max_event_name = 8;
    c.allow_reserved_events = true; /* so the client sends what the server refuses */
    pair_up(&p, t, &s, &c);
    cr_assert_eq(nipc_client_emit_new(p.c, "connect", json_integer(1)), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "other", NULL), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "a_long_name", NULL), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit_new(p.c, "ok", json_integer(2)), 0, "%s", t->name);
    cr_assert(wait_type(&p.srv.rec, "ok", 1, 3000), "%s: %s", t->name, th_types(&p.srv.rec));
    assert_delivered(&p.sk, 0, "connect", NIPC_ERESERVED, t->name);
    assert_delivered(&p.sk, 1, "other", NIPC_ENOTALLOWED, t->name);
    assert_delivered(&p.sk, 2, "a_long_name", NIPC_ENAMELEN, t->name);
    assert_delivered(&p.sk, 3, "ok", 0, t->name);
    const int codes[] = {NIPC_ERESERVED, NIPC_ENOTALLOWED, NIPC_ENAMELEN};
    for (int i = 0; i < 3; i++) {
        int e = th_find(&p.srv.rec, "error", i);
        cr_assert_geq(e, 0, "%s: error %d (events: %s)", t->name, i, th_types(&p.srv.rec));
        cr_assert_eq(p.srv.rec.status[e], codes[i], "%s: error %d is %s", t->name, i,
                     nipc_err_name(p.srv.rec.status[e]));
        cr_assert_not_null(p.srv.rec.socket[e], "%s: the error names the socket", t->name);
    }
    cr_assert_eq(th_count(&p.srv.rec, "error"), 3, "%s: %s", t->name, th_types(&p.srv.rec));
    cr_assert_eq(th_count(&p.srv.rec, "connect"), 1, "%s: the frame named connect was no event",
                 t->name);
    cr_assert_eq(th_count(&p.srv.rec, "other") + th_count(&p.srv.rec, "a_long_name"), 0);
    cr_assert_str_eq(data_of(&p.srv.rec, "ok", 0), "2", "%s: the connection was kept", t->name);

    /* Sent by the server: refused before encode, nothing written. */
    nipc_socket_t *sock = nipc_server_socket_at(p.srv.server, 0);
    int before = p.sk.encodes;
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "connect", NULL), NIPC_ERESERVED);
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "other", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(nipc_server_broadcast(p.srv.server, "other", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "a_long_name", NULL), NIPC_ENAMELEN);
    cr_assert_eq(p.sk.encodes, before, "%s: a refused type is never encoded", t->name);
    cr_assert_eq(nipc_server_emit_new(p.srv.server, sock, "ok", json_integer(3)), 0);
    cr_assert(wait_type(&p.crec, "ok", 1, 3000), "%s: %s", t->name, th_types(&p.crec));
    cr_assert_eq(p.ck.msgs, 1, "%s: only ok was sent", t->name);
    cr_assert_eq(p.ck.n[0], 4 + 3 + 1, "%s: nothing else was written", t->name);
    cr_assert_str_eq(data_of(&p.crec, "ok", 0), "3");
    pair_down(&p);
}

/* A client with allowed_events refuses to send a type outside it, and a reserved name. */
Test(codec, the_type_rules_bind_a_clients_emits)
{
    th_transport_t t = {"unix", TH_UNIX};
    nipc_config_t s, c;
    pair_t p;
    pair_configs(&p, &s, &c);
    c.allowed_events = allowed;
    pair_up(&p, &t, &s, &c);
    cr_assert_eq(nipc_client_emit(p.c, "other", NULL), NIPC_ENOTALLOWED);
    cr_assert_eq(nipc_client_emit(p.c, "error", NULL), NIPC_ERESERVED);
    cr_assert_eq(p.ck.encodes, 0, "a refused type is never encoded");
    cr_assert_eq(nipc_client_emit(p.c, "ok", NULL), 0);
    cr_assert(wait_type(&p.srv.rec, "ok", 1, 3000), "%s", th_types(&p.srv.rec));
    th_run_for(&loop, 30);
    cr_assert_eq(p.sk.msgs, 1, "only ok was sent");
    cr_assert_eq(p.sk.n[0], 4 + 3, "nothing else was written");
    pair_down(&p);
}

/* ---- a codec's failures ---------------------------------------------------------------- */

ParameterizedTestParameters(codec, an_encode_error_is_the_emits_and_nothing_is_sent)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* encode fails after writing half a frame: the emit (or broadcast) returns its code, and the
 * half is never sent: the next frame the peer reads is the next good one, whole. */
ParameterizedTest(th_transport_t *t, codec, an_encode_error_is_the_emits_and_nothing_is_sent)
{
    pair_t p;
    nipc_config_t c;
    pair_default(&p, t, &c);
    p.ck.encode_err = UV_EILSEQ;
    cr_assert_eq(nipc_client_emit_new(p.c, "lost", json_integer(1)), UV_EILSEQ, "%s", t->name);
    p.ck.encode_err = 0;
    cr_assert_eq(nipc_client_emit(p.c, "after", NULL), 0, "%s", t->name);
    cr_assert(wait_type(&p.srv.rec, "after", 1, 3000), "%s: %s", t->name, th_types(&p.srv.rec));
    th_run_for(&loop, 30);
    cr_assert_eq(p.sk.msgs, 1, "%s", t->name);
    cr_assert_eq(p.sk.n[0], 4 + strlen("after") + 1, "%s: only the good frame was written",
                 t->name);
    cr_assert_eq(th_count(&p.srv.rec, "error"), 0, "%s: %s", t->name, th_types(&p.srv.rec));

    nipc_socket_t *sock = nipc_server_socket_at(p.srv.server, 0);
    p.sk.encode_err = UV_E2BIG;
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "lost", NULL), UV_E2BIG, "%s", t->name);
    cr_assert_eq(nipc_server_broadcast(p.srv.server, "lost", NULL), UV_E2BIG, "%s", t->name);
    p.sk.encode_err = 0;
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "after", json_true()), 0, "%s", t->name);
    cr_assert(wait_type(&p.crec, "after", 1, 3000), "%s: %s", t->name, th_types(&p.crec));
    th_run_for(&loop, 30);
    cr_assert_eq(p.ck.msgs, 1, "%s", t->name);
    cr_assert_eq(p.ck.n[0], 4 + strlen("after") + 1 + 4, "%s: only the good frame was written",
                 t->name);
    cr_assert_str_eq(data_of(&p.crec, "after", 0), "true", "%s", t->name);
    cr_assert_eq(th_count(&p.crec, "error"), 0, "%s: %s", t->name, th_types(&p.crec));
    pair_down(&p);
}

/* The socket of the server's k-th event of `type`, which must exist. */
static nipc_socket_t *socket_of(const th_rec_t *r, const char *type, int k)
{
    int i = th_find(r, type, k);
    cr_assert_geq(i, 0, "no %s event %d (events: %s)", type, k, th_types(r));
    return r->socket[i];
}

/*
 * The server's socket `sock` failed with `err`: an `error` with that code on it, then
 * socket.disconnected and close(true), in that order, and the client was disconnected.
 */
static void assert_failed(const th_transport_t *t, pair_t *p, nipc_socket_t *sock, int err)
{
    cr_assert(wait_type(&p->srv.rec, "close", 1, 3000), "%s: %s", t->name, th_types(&p->srv.rec));
    cr_assert(wait_type(&p->crec, "disconnect", 1, 3000), "%s: %s", t->name, th_types(&p->crec));
    int e = th_find(&p->srv.rec, "error", 0);
    th_assert_event(t, &p->srv.rec, e, "error", sock);
    cr_assert_eq(p->srv.rec.status[e], err, "%s: error %s, not %s", t->name,
                 nipc_err_name(p->srv.rec.status[e]), nipc_err_name(err));
    cr_assert_eq(th_count(&p->srv.rec, "error"), 1, "%s: %s", t->name, th_types(&p->srv.rec));
    int d = th_find(&p->srv.rec, "socket.disconnected", 0);
    th_assert_event(t, &p->srv.rec, d, "socket.disconnected", sock);
    cr_assert_gt(d, e, "%s: %s", t->name, th_types(&p->srv.rec));
    int c = th_find(&p->srv.rec, "close", 0);
    th_assert_event(t, &p->srv.rec, c, "close", sock);
    cr_assert_str_eq(p->srv.rec.data[c], "true", "%s: closed after an error", t->name);
}

/* A second client of the pair's server gets through: the server went on. */
static void assert_server_goes_on(const th_transport_t *t, pair_t *p, const nipc_config_t *c)
{
    nipc_t *ipc2;
    th_rec_t *rec2 = calloc(1, sizeof *rec2);
    cr_assert_not_null(rec2);
    nipc_client_t *c2 = client_up(p, t, &ipc2, c, rec2);
    cr_assert_eq(nipc_client_emit_new(c2, "still", json_integer(7)), 0, "%s", t->name);
    cr_assert(wait_type(&p->srv.rec, "still", 1, 3000), "%s: %s", t->name, th_types(&p->srv.rec));
    cr_assert_str_eq(data_of(&p->srv.rec, "still", 0), "7", "%s", t->name);
    nipc_free(ipc2);
    free(rec2);
}

/* The client's "fine" reaches the server: returns the server's socket for it. */
static nipc_socket_t *say_fine(pair_t *p, const th_transport_t *t)
{
    cr_assert_eq(nipc_client_emit(p->c, "fine", NULL), 0, "%s", t->name);
    cr_assert(wait_type(&p->srv.rec, "fine", 1, 3000), "%s: %s", t->name, th_types(&p->srv.rec));
    return socket_of(&p->srv.rec, "fine", 0);
}

/* The server's read fails on a message "bad", returning bad_return (or n + 1 with greedy):
 * the connection closes with `err`, the message after it is never delivered, and the
 * server goes on. */
static void read_fails(const th_transport_t *t, ssize_t bad_return, bool greedy, int err)
{
    pair_t p;
    nipc_config_t c;
    pair_default(&p, t, &c);
    p.sk.bad_type = "bad";
    p.sk.bad_return = bad_return;
    p.sk.greedy = greedy;
    nipc_socket_t *sock = say_fine(&p, t);
    cr_assert_eq(nipc_client_emit(p.c, "bad", NULL), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "never", NULL), 0, "%s", t->name);
    assert_failed(t, &p, sock, err);
    cr_assert_eq(th_count(&p.srv.rec, "never"), 0, "%s: %s", t->name, th_types(&p.srv.rec));
    assert_server_goes_on(t, &p, &c);
    pair_down(&p);
}

ParameterizedTestParameters(codec, a_read_error_closes_the_connection_and_the_server_goes_on)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, codec,
                  a_read_error_closes_the_connection_and_the_server_goes_on)
{
    read_fails(t, UV_EILSEQ, false, UV_EILSEQ);
}

ParameterizedTestParameters(codec, a_read_consuming_more_than_it_was_given_closes)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, codec, a_read_consuming_more_than_it_was_given_closes)
{
    read_fails(t, 0, true, UV_EINVAL);
}

ParameterizedTestParameters(codec, a_remainder_beyond_max_message_size_closes)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* A 300 KiB message to a server whose max_message_size is 1000: the first read's remainder
 * is already longer, so the connection closes with UV_EMSGSIZE, and nothing is delivered. */
ParameterizedTest(th_transport_t *t, codec, a_remainder_beyond_max_message_size_closes)
{
    nipc_config_t s, c;
    pair_t p;
    pair_configs(&p, &s, &c);
    s.max_message_size = 1000;
    pair_up(&p, t, &s, &c);
    char *text = malloc(BIG + 1);
    cr_assert_not_null(text);
    memset(text, 'z', BIG);
    text[BIG] = '\0';
    nipc_socket_t *sock = say_fine(&p, t);
    cr_assert_eq(nipc_client_emit_new(p.c, "big", json_string(text)), 0, "%s", t->name);
    assert_failed(t, &p, sock, UV_EMSGSIZE);
    cr_assert_eq(th_count(&p.srv.rec, "big"), 0, "%s", t->name);
    cr_assert_eq(p.sk.msgs, 1, "%s", t->name);
    free(text);
    pair_down(&p);
}

ParameterizedTestParameters(codec, the_remainder_may_reach_max_message_size_and_no_further)
{
    TH_TRANSPORT_PARAMS();
}

/* The bound is on what read leaves: exactly max_message_size is kept (and completed later),
 * one byte more closes the connection. */
ParameterizedTest(th_transport_t *t, codec, the_remainder_may_reach_max_message_size_and_no_further)
{
    lone_t l;
    lone_up(&l, t, 1000);
    char json[1600];
    memset(json, 'q', sizeof json);
    json[0] = json[sizeof json - 2] = '"';
    json[sizeof json - 1] = '\0';
    size_t len;
    char *f = lp_frame("long", json, &len);
    th_raw_write(l.fd, f, 1000);
    cr_assert(th_run_until_count(&loop, &l.k.reads, 1, 2000), "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(th_count(&l.srv.rec, "error"), 0, "%s: %s", t->name, th_types(&l.srv.rec));
    th_raw_write(l.fd, f + 1000, len - 1000);
    cr_assert(wait_type(&l.srv.rec, "long", 1, 2000), "%s: %s", t->name, th_types(&l.srv.rec));
    cr_assert_eq(l.k.n[l.k.reads - 1], len, "%s: the 1000 bytes left were kept", t->name);
    cr_assert_eq(l.k.msgs, 1, "%s", t->name);

    th_raw_write(l.fd, f, 1001);
    cr_assert(wait_type(&l.srv.rec, "error", 1, 2000), "%s: %s", t->name, th_types(&l.srv.rec));
    cr_assert_eq(l.srv.rec.status[th_find(&l.srv.rec, "error", 0)], UV_EMSGSIZE, "%s", t->name);
    cr_assert(th_raw_closed(&loop, l.fd, 2000), "%s: the connection stays open", t->name);
    cr_assert_eq(th_count(&l.srv.rec, "long"), 1, "%s", t->name);
    free(f);
    lone_down(&l);
}

/* ---- closing and freeing from inside a deliver ------------------------------------------- */

static void close_socket(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_eq(nipc_socket_close(ev->socket, false), 0);
}

static void close_client(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_eq(nipc_client_close(ev->client, false), 0);
}

static void free_instance(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    nipc_free(arg);
}

/* Four lp messages in one buffer: a, then `type`, then b and c. */
static size_t four_messages(char *buf, const char *type)
{
    const char *types[] = {"a", type, "b", "c"};
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        size_t len;
        char *f = lp_frame(types[i], "1", &len);
        memcpy(buf + n, f, len);
        n += len;
        free(f);
    }
    return n;
}

/* The codec was refused the two messages after `type`, and was told so: ECANCELED. */
static void assert_cancelled_after(const lp_t *k, const char *type, const th_transport_t *t)
{
    cr_assert_eq(k->reads, 1, "%s: one read held the four messages", t->name);
    cr_assert_eq(k->msgs, 4, "%s", t->name);
    assert_delivered(k, 0, "a", 0, t->name);
    assert_delivered(k, 1, type, 0, t->name);
    assert_delivered(k, 2, "b", UV_ECANCELED, t->name);
    assert_delivered(k, 3, "c", UV_ECANCELED, t->name);
}

ParameterizedTestParameters(codec, a_handler_closing_inside_a_deliver_cancels_the_rest)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * A read holds four messages, and the handler of the second closes the connection: deliver
 * returns UV_ECANCELED for the other two, and nothing more is published but the close, on a
 * server's socket (nipc_socket_close) and on a client (nipc_client_close).
 */
ParameterizedTest(th_transport_t *t, codec, a_handler_closing_inside_a_deliver_cancels_the_rest)
{
    lone_t l;
    lone_up(&l, t, 0);
    nipc_server_on(l.srv.server, "close-me", close_socket, NULL);
    char buf[256];
    th_raw_write(l.fd, buf, four_messages(buf, "close-me"));
    cr_assert(wait_type(&l.srv.rec, "close", 1, 2000), "%s: %s", t->name, th_types(&l.srv.rec));
    cr_assert(th_raw_closed(&loop, l.fd, 2000), "%s", t->name);
    assert_cancelled_after(&l.k, "close-me", t);
    cr_assert_str_eq(th_types(&l.srv.rec), "start connect a close-me socket.disconnected close",
                     "%s", t->name);
    lone_down(&l);

    /* A client, of a raw server. */
    int port;
    int lfd = th_raw_listen_any(t, dir, "peer.sock", &port);
    nipc_config_t cfg;
    lp_t ck = {0};
    lp_config(&cfg, &l.codec, &ck);
    cfg.stop_retrying = true;
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t *rec = calloc(1, sizeof *rec);
    cr_assert_not_null(rec);
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(th_connect_raw(ipc, t, "peer", dir, "peer.sock", port, &c), 0);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, rec);
    nipc_client_on(c, "close-me", close_client, NULL);
    int fd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(fd >= 0, "%s: no connection", t->name);
    cr_assert(wait_type(rec, "connect", 1, 2000), "%s", t->name);
    th_raw_write(fd, buf, four_messages(buf, "close-me"));
    cr_assert(wait_type(rec, "close-me", 1, 2000), "%s: %s", t->name, th_types(rec));
    cr_assert(th_raw_closed(&loop, fd, 2000), "%s", t->name);
    th_run_for(&loop, 30);
    assert_cancelled_after(&ck, "close-me", t);
    cr_assert_eq(th_count(rec, "b") + th_count(rec, "c"), 0, "%s: %s", t->name, th_types(rec));
    close(fd);
    close(lfd);
    nipc_free(ipc);
    free(rec);
}

/* nipc_free() from a handler inside a deliver, and from the codec's read itself ("anything
 * nipc calls"): the rest is cancelled, nothing more is published, nothing is used after
 * it is freed. */
Test(codec, a_free_inside_a_read_cancels_the_rest)
{
    th_transport_t t = {"unix", TH_UNIX};
    const char *how[] = {"from a handler", "from read"};
    for (int i = 0; i < 2; i++) {
        lone_t l;
        lone_up(&l, &t, 0);
        if (i == 0)
            nipc_server_on(l.srv.server, "free", free_instance, l.srv.ipc);
        else
            l.k.free_in_read = l.srv.ipc;
        char buf[256];
        th_raw_write(l.fd, buf, four_messages(buf, "free"));
        cr_assert(th_raw_closed(&loop, l.fd, 2000), "%s", how[i]);
        cr_assert_eq(l.k.reads, 1, "%s", how[i]);
        cr_assert_eq(l.k.msgs, 4, "%s", how[i]);
        assert_delivered(&l.k, 0, "a", 0, how[i]);
        assert_delivered(&l.k, 1, "free", i == 0 ? 0 : UV_ECANCELED, how[i]);
        assert_delivered(&l.k, 2, "b", UV_ECANCELED, how[i]);
        assert_delivered(&l.k, 3, "c", UV_ECANCELED, how[i]);
        cr_assert_eq(th_count(&l.srv.rec, "b") + th_count(&l.srv.rec, "c"), 0, "%s: %s", how[i],
                     th_types(&l.srv.rec));
        cr_assert_eq(th_count(&l.srv.rec, "free"), i == 0, "%s: %s", how[i], th_types(&l.srv.rec));
        close(l.fd); /* the instance is freed already */
    }
}

/* ---- config ---------------------------------------------------------------------------- */

/* A datagram has no remainder to keep: a UDP server refuses a codec, and makes nothing. */
Test(codec, udp_refuses_a_codec)
{
    nipc_config_t cfg;
    nipc_codec_t codec;
    lp_t k = {0};
    lp_config(&cfg, &codec, &k);
    nipc_t *ipc;
    nipc_server_t *s = (nipc_server_t *)1;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), UV_ENOTSUP);
    cr_assert_eq(nipc_serve_net(ipc, "::1", 0, NIPC_UDP6, &s), UV_ENOTSUP);
    cr_assert_null(nipc_server(ipc), "a refused serve made a server");
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), 0, "TCP takes a codec");
    nipc_free(ipc);
}

Test(codec, a_codec_needs_encode_and_read)
{
    nipc_config_t cfg;
    nipc_codec_t codec;
    lp_t k = {0};
    lp_config(&cfg, &codec, &k);
    nipc_t *ipc = (nipc_t *)1;
    codec.read = NULL;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL);
    cr_assert_null(ipc, "a failed nipc_new hands nothing out");
    codec.read = lp_read;
    codec.encode = NULL;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL);
    codec.encode = lp_encode;
    cfg.raw_buffer = true;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), UV_EINVAL, "raw mode is a codec already");
    cfg.raw_buffer = false;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_free(ipc);
}

static int poisoned_encode(void *arg, const char *type, const json_t *data, nipc_codec_out_t *out)
{
    (void)arg, (void)type, (void)data, (void)out;
    cr_assert_fail("nipc called the caller's codec struct after nipc_new");
    return UV_EINVAL;
}

static ssize_t poisoned_read(void *arg, nipc_codec_in_t *in, const char *p, size_t n)
{
    (void)arg, (void)in, (void)p, (void)n;
    cr_assert_fail("nipc called the caller's codec struct after nipc_new");
    return UV_EINVAL;
}

/* nipc_new() copies the codec struct: the server's is changed after it, the client's freed,
 * and both keep working with what they were given. */
Test(codec, the_configs_codec_is_copied)
{
    th_transport_t t = {"unix", TH_UNIX};
    nipc_config_t s, c;
    pair_t p;
    pair_configs(&p, &s, &c);
    nipc_codec_t *heap = malloc(sizeof *heap);
    cr_assert_not_null(heap);
    *heap = p.ccodec;
    c.codec = heap;
    pair_up(&p, &t, &s, &c);
    p.scodec.encode = poisoned_encode;
    p.scodec.read = poisoned_read;
    p.scodec.arg = NULL;
    memset(heap, 0xa5, sizeof *heap);
    free(heap);
    cr_assert_eq(nipc_client_emit_new(p.c, "ping", json_integer(1)), 0);
    cr_assert(wait_type(&p.srv.rec, "ping", 1, 2000), "%s", th_types(&p.srv.rec));
    cr_assert_eq(nipc_server_broadcast_new(p.srv.server, "pong", json_integer(2)), 0);
    cr_assert(wait_type(&p.crec, "pong", 1, 2000), "%s", th_types(&p.crec));
    cr_assert_eq(p.sk.msgs, 1);
    cr_assert_eq(p.ck.msgs, 1);
    cr_assert_eq(p.sk.encodes, 1);
    cr_assert_eq(p.ck.encodes, 1);
    pair_down(&p);
}
