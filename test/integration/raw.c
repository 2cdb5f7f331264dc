/* SPDX-License-Identifier: MIT */
/*
 * rawBuffer mode (R1-R6) and sync mode (C15) through real sockets, over every stream
 * transport (a Unix socket, TCP on 127.0.0.1 and ::1, TLS): bytes both ways with no framing
 * and nothing decoded, each read one `data` event, text in Node's encodings, reads as large
 * as max_message_size and never larger, the loss of raw frames counted exactly, and sync's
 * one frame per answer.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(raw, 30);

/* Every byte a side received in `data` events, in order, and how the reads were cut. */
typedef struct sink {
    char *bytes;
    size_t len;
    size_t cap;
    int events;
    size_t largest;
    nipc_socket_t *socket; /* the server side's: the last sender */
    bool data_null;        /* every event had data NULL */
} sink_t;

static void on_data(const nipc_event_t *ev, void *arg)
{
    sink_t *s = arg;
    cr_assert_not_null(ev->bytes, "R3: a data event carries its bytes");
    if (s->len + ev->size > s->cap) {
        s->cap = (s->len + ev->size) * 2;
        s->bytes = realloc(s->bytes, s->cap);
        cr_assert_not_null(s->bytes);
    }
    memcpy(s->bytes + s->len, ev->bytes, ev->size);
    s->len += ev->size;
    s->events++;
    if (ev->size > s->largest)
        s->largest = ev->size;
    s->socket = ev->socket;
    s->data_null = s->events == 1 ? ev->data == NULL : s->data_null && ev->data == NULL;
}

static bool wait_len(const sink_t *s, size_t want, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (s->len < want && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return s->len >= want;
}

typedef struct pair {
    th_server_t srv;
    nipc_t *cipc;
    nipc_client_t *c;
    sink_t at_server;
    sink_t at_client;
    bool connected;
} pair_t;

/* A raw server and a raw client of it, connected; both cfgs NULL mean raw with defaults. */
static void pair_up(pair_t *p, const th_transport_t *t, nipc_config_t *scfg, nipc_config_t *ccfg)
{
    nipc_config_t def_s, def_c;
    memset(p, 0, sizeof *p);
    if (scfg == NULL) {
        th_config(&def_s);
        def_s.raw_buffer = true;
        scfg = &def_s;
    }
    if (ccfg == NULL) {
        th_config(&def_c);
        def_c.raw_buffer = true;
        ccfg = &def_c;
    }
    th_server_start_on(&p->srv, &loop, scfg, t, dir, "raw.sock");
    nipc_server_on(p->srv.server, "data", on_data, &p->at_server);
    cr_assert_eq(nipc_new(&p->cipc, &loop, ccfg), 0);
    int err = th_connect(p->cipc, t, "world", p->srv.server, &p->c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    nipc_client_on(p->c, "data", on_data, &p->at_client);
    nipc_client_on(p->c, "connect", th_flag, &p->connected);
    cr_assert(th_run_until(&loop, &p->connected, 3000), "%s: no connect", t->name);
    /* The server side's socket is announced once its end is up (after TLS's handshake). */
    for (int i = 0; i < 400 && nipc_server_socket_count(p->srv.server) == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_server_socket_count(p->srv.server), 1, "%s", t->name);
}

static void pair_down(pair_t *p)
{
    nipc_free(p->cipc);
    nipc_free(p->srv.ipc);
    free(p->at_server.bytes);
    free(p->at_client.bytes);
}

ParameterizedTestParameters(raw, r1_r3_every_byte_value_both_ways_unframed)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* All 256 byte values (the delimiter 0x0c and invalid UTF-8 among them) arrive as sent, with
 * nothing added: what each side receives is exactly the concatenation of what was sent. */
ParameterizedTest(th_transport_t *t, raw, r1_r3_every_byte_value_both_ways_unframed)
{
    pair_t p;
    pair_up(&p, t, NULL, NULL);
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    cr_assert_eq(nipc_client_send(p.c, all, sizeof all), 0, "%s", t->name);
    cr_assert_eq(nipc_client_send_text(p.c, "héllo"), 0, "%s", t->name); /* utf8 */
    cr_assert_eq(nipc_client_emit_new(p.c, "bye", json_integer(5)), 0, "R1: the type is the text");
    cr_assert(wait_len(&p.at_server, 256 + 6 + 3, 3000), "%s: %zu bytes", t->name, p.at_server.len);
    th_run_for(&loop, 50); /* nothing more may come */
    cr_assert_eq(p.at_server.len, 256 + 6 + 3, "%s: no delimiter, no framing", t->name);
    cr_assert(memcmp(p.at_server.bytes, all, 256) == 0, "%s", t->name);
    cr_assert(memcmp(p.at_server.bytes + 256, "h\xc3\xa9llobye", 9) == 0, "%s", t->name);
    cr_assert(p.at_server.data_null, "%s: raw data events have no JSON data", t->name);

    nipc_socket_t *sock = p.at_server.socket;
    cr_assert_not_null(sock, "%s: R3: the server's data event names the socket", t->name);
    cr_assert_eq(nipc_server_send(p.srv.server, sock, all + 128, 128), 0, "%s", t->name);
    cr_assert_eq(nipc_server_send_text(p.srv.server, sock, "-"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_broadcast_bytes(p.srv.server, "\f\f", 2), 0, "%s", t->name);
    cr_assert_eq(nipc_server_broadcast_text(p.srv.server, "end"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "!", NULL), 0, "%s", t->name);
    cr_assert_eq(nipc_server_send(p.srv.server, sock, "", 0), 0, "an empty send is nothing");
    cr_assert(wait_len(&p.at_client, 128 + 1 + 2 + 3 + 1, 3000), "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(p.at_client.len, 135, "%s", t->name);
    cr_assert(memcmp(p.at_client.bytes, all + 128, 128) == 0, "%s", t->name);
    cr_assert(memcmp(p.at_client.bytes + 128, "-\f\fend!", 7) == 0, "%s", t->name);
    pair_down(&p);
}

ParameterizedTestParameters(raw, r2_text_in_the_configured_encoding)
{
    TH_TRANSPORT_PARAMS();
}

/* node-ipc's README examples: hex text is bytes, and the emit's type is that text (R1, R2). */
ParameterizedTest(th_transport_t *t, raw, r2_text_in_the_configured_encoding)
{
    nipc_config_t s, c;
    th_config(&s);
    s.raw_buffer = true;
    s.encoding = "hex";
    th_config(&c);
    c.raw_buffer = true;
    c.encoding = "base64";
    pair_t p;
    pair_up(&p, t, &s, &c);
    cr_assert_eq(nipc_client_send_text(p.c, "AAEC/w=="), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "AQ==", NULL), 0, "%s", t->name);
    cr_assert(wait_len(&p.at_server, 5, 3000), "%s", t->name);
    cr_assert(memcmp(p.at_server.bytes, "\x00\x01\x02\xff\x01", 5) == 0, "%s", t->name);
    nipc_socket_t *sock = p.at_server.socket;
    cr_assert_eq(nipc_server_send_text(p.srv.server, sock, "0a141e"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_send_text(p.srv.server, sock, "zz"), 0, "invalid hex: nothing");
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "ff01", NULL), 0, "%s", t->name);
    cr_assert(wait_len(&p.at_client, 5, 3000), "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(p.at_client.len, 5, "%s", t->name);
    cr_assert(memcmp(p.at_client.bytes, "\x0a\x14\x1e\xff\x01", 5) == 0, "%s", t->name);
    pair_down(&p);
}

ParameterizedTestParameters(raw, r3_reads_grow_to_max_message_size_and_no_further)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* A large send arrives whole in bytes, in reads no larger than max_message_size; a send
 * larger than the sender's max_message_size is refused. */
ParameterizedTest(th_transport_t *t, raw, r3_reads_grow_to_max_message_size_and_no_further)
{
    nipc_config_t s;
    th_config(&s);
    s.raw_buffer = true;
    s.max_message_size = 5000;
    pair_t p;
    pair_up(&p, t, &s, NULL);
    size_t n = 3 << 20;
    char *big = malloc(n);
    cr_assert_not_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 + (i >> 12));
    cr_assert_eq(nipc_client_send(p.c, big, n), 0, "%s: the client's max is 64 MiB", t->name);
    cr_assert(wait_len(&p.at_server, n, 10000), "%s: %zu of %zu", t->name, p.at_server.len, n);
    cr_assert(memcmp(p.at_server.bytes, big, n) == 0, "%s", t->name);
    cr_assert_leq(p.at_server.largest, 5000, "%s: a read larger than max_message_size", t->name);
    cr_assert_eq(nipc_server_send(p.srv.server, p.at_server.socket, big, 5001), UV_EMSGSIZE, "%s",
                 t->name);
    cr_assert_eq(nipc_server_send(p.srv.server, p.at_server.socket, big, n / 3 + 1), UV_EMSGSIZE,
                 "%s", t->name);

    cr_assert_eq(nipc_server_broadcast_bytes(p.srv.server, big, 5000), 0, "%s", t->name);
    cr_assert_eq(nipc_client_send(p.c, big, 0), 0, "%s", t->name);
    cr_assert(wait_len(&p.at_client, 5000, 3000), "%s", t->name);
    pair_down(&p);
    free(big);
}

/* In JSON mode bytes would break the framing: the byte calls are refused. */
Test(raw, json_mode_refuses_bytes)
{
    th_transport_t t = {"unix", TH_UNIX};
    nipc_config_t json;
    th_config(&json);
    pair_t p;
    th_server_start_on(&p.srv, &loop, &json, &t, dir, "json.sock");
    cr_assert_eq(nipc_new(&p.cipc, &loop, &json), 0);
    cr_assert_eq(th_connect(p.cipc, &t, "world", p.srv.server, &p.c), 0);
    cr_assert_eq(nipc_client_send(p.c, "x", 1), UV_EINVAL);
    cr_assert_eq(nipc_client_send_text(p.c, "x"), UV_EINVAL);
    cr_assert_eq(nipc_server_broadcast_bytes(p.srv.server, "x", 1), UV_EINVAL);
    cr_assert_eq(nipc_server_broadcast_text(p.srv.server, "x"), UV_EINVAL);
    cr_assert_eq(nipc_client_send(NULL, "x", 1), UV_EINVAL);
    nipc_free(p.cipc);
    nipc_free(p.srv.ipc);
}

/* ---- loss --------------------------------------------------------------------------------- */

/* A raw client of a raw peer that does not read (until deaf_close drains it), its drops
 * counted. */
typedef struct deaf {
    int lfd;
    int fd;
    nipc_t *ipc;
    nipc_client_t *c;
    th_drops_t d;
} deaf_t;

#define KEEP_DEFAULT_QUEUE ((size_t)-1) /* deaf_up(): keep max_queued_bytes' default */

static void deaf_up(deaf_t *k, const th_transport_t *t, size_t max_queued)
{
    int port;
    bool connected = false;
    nipc_config_t cfg;
    memset(k, 0, sizeof *k);
    k->lfd = th_raw_listen_any(t, dir, "sink.sock", &port);
    th_config(&cfg);
    cfg.raw_buffer = true;
    if (max_queued != KEEP_DEFAULT_QUEUE)
        cfg.max_queued_bytes = max_queued;
    cr_assert_eq(nipc_new(&k->ipc, &loop, &cfg), 0);
    cr_assert_eq(th_connect_raw(k->ipc, t, "sink", dir, "sink.sock", port, &k->c), 0);
    nipc_client_on(k->c, "connect", th_flag, &connected);
    nipc_client_on(k->c, "drop", th_on_drop, &k->d);
    k->fd = th_raw_accept_any(&loop, t, k->lfd, 2000);
    cr_assert(k->fd >= 0, "%s: no connection", t->name);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
}

/* Closes the client without flush (with `freeing`: frees its instance instead), checks one
 * drop, and returns what the peer then reads. */
static size_t deaf_close_by(deaf_t *k, const th_transport_t *t, bool freeing)
{
    if (freeing) {
        nipc_free(k->ipc);
        k->ipc = NULL;
    } else {
        cr_assert_eq(nipc_client_close(k->c, false), 0);
    }
    th_run_for(&loop, 50);
    cr_assert_eq(k->d.events, 1, "%s: one drop", t->name);
    size_t got = 0, r;
    char buf[65536];
    while ((r = th_raw_read(&loop, k->fd, buf, sizeof buf, 300)) > 0)
        got += r;
    return got;
}

static size_t deaf_close(deaf_t *k, const th_transport_t *t)
{
    return deaf_close_by(k, t, false);
}

static void deaf_down(deaf_t *k)
{
    close(k->fd);
    close(k->lfd);
    nipc_free(k->ipc);
}

ParameterizedTestParameters(raw, raw_frames_lost_are_counted_exactly)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * Raw frames have no delimiter to count them by: the lengths are kept. Towards a peer that
 * does not read, 1280 sends of 16 KiB fill the socket and the queue; a close without flush
 * drops the rest (20 MiB is more than loopback TCP buffers), and what the peer then reads plus what
 * `drop` reports is everything, in bytes and in whole frames, however the writes were cut.
 */
ParameterizedTest(th_transport_t *t, raw, raw_frames_lost_are_counted_exactly)
{
    deaf_t k;
    deaf_up(&k, t, 0);
    nipc_client_t *c = k.c;
    /* Several frames per turn, so that a write the socket takes in part ends inside one of
     * them with whole ones before it. */
    const size_t frame = 16 * 1024 + 1, frames = 1280;
    char *chunk = malloc(frame);
    cr_assert_not_null(chunk);
    memset(chunk, 'r', frame);
    for (size_t i = 0; i < frames; i++) {
        cr_assert_eq(nipc_client_send(c, chunk, frame), 0, "%s", t->name);
        if (i % 5 == 4)
            th_run_for(&loop, 1); /* writes go out, partly, turn by turn */
    }
    size_t got = deaf_close(&k, t);
    th_drops_t d = k.d;
    cr_assert_eq(got + (size_t)d.bytes, frames * frame, "%s: read %zu, dropped %lld bytes", t->name,
                 got, (long long)d.bytes);
    cr_assert_gt(d.bytes, 0, "%s: the test needs a loss", t->name);
    cr_assert_eq((size_t)d.frames, frames - got / frame,
                 "%s: read %zu bytes (%zu whole frames), dropped %lld frames", t->name, got,
                 got / frame, (long long)d.frames);
    free(chunk);
    deaf_down(&k);
}

/* ---- sync mode (C15, R6) ------------------------------------------------------------------- */

typedef struct asked {
    int n;
    uint64_t at[16];
} asked_t;

static void on_ask(const nipc_event_t *ev, void *arg)
{
    asked_t *a = arg;
    (void)ev;
    if (a->n < 16)
        a->at[a->n] = uv_hrtime() / 1000000;
    a->n++;
}

ParameterizedTestParameters(raw, c15_sync_sends_one_frame_per_answer)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * Four emits at once: the first goes, and each later one only after an answer has arrived.
 * A server message that is no answer releases one too, as in node-ipc (any message does).
 */
ParameterizedTest(th_transport_t *t, raw, c15_sync_sends_one_frame_per_answer)
{
    nipc_config_t s, c;
    th_config(&s);
    th_config(&c);
    c.sync = true;
    pair_t p;
    pair_up(&p, t, &s, &c);
    asked_t a = {0};
    nipc_server_on(p.srv.server, "ask", on_ask, &a);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(nipc_client_emitf(p.c, "ask", "{s:i}", "i", i), 0, "%s", t->name);
    cr_assert(th_run_until_count(&loop, &a.n, 1, 2000), "%s", t->name);
    th_run_for(&loop, 150);
    cr_assert_eq(a.n, 1, "%s: C15: the others wait for an answer", t->name);
    nipc_socket_t *sock = nipc_server_socket_at(p.srv.server, 0);
    for (int k = 2; k <= 4; k++) {
        cr_assert_eq(nipc_server_emit(p.srv.server, sock, "answer", NULL), 0);
        cr_assert(th_run_until_count(&loop, &a.n, k, 2000), "%s: answer %d released nothing",
                  t->name, k - 1);
        th_run_for(&loop, 80);
        cr_assert_eq(a.n, k, "%s: one answer released more than one frame", t->name);
    }
    /* Nothing waits now: the next emit goes at once, and so does one after the answer. */
    cr_assert_eq(nipc_server_emit(p.srv.server, sock, "answer", NULL), 0);
    th_run_for(&loop, 80);
    cr_assert_eq(nipc_client_emit(p.c, "ask", NULL), 0);
    cr_assert(th_run_until_count(&loop, &a.n, 5, 2000), "%s", t->name);
    pair_down(&p);
}

ParameterizedTestParameters(raw, r6_raw_sync_releases_one_send_per_read)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, raw, r6_raw_sync_releases_one_send_per_read)
{
    nipc_config_t c;
    th_config(&c);
    c.raw_buffer = true;
    c.sync = true;
    pair_t p;
    pair_up(&p, t, NULL, &c);
    cr_assert_eq(nipc_client_send(p.c, "a", 1), 0);
    cr_assert_eq(nipc_client_send(p.c, "b", 1), 0);
    cr_assert_eq(nipc_client_send_text(p.c, "c"), 0);
    cr_assert(wait_len(&p.at_server, 1, 2000), "%s", t->name);
    th_run_for(&loop, 100);
    cr_assert_eq(p.at_server.len, 1, "%s: R6", t->name);
    cr_assert_eq(nipc_server_send(p.srv.server, p.at_server.socket, "k", 1), 0);
    cr_assert(wait_len(&p.at_server, 2, 2000), "%s", t->name);
    th_run_for(&loop, 100);
    cr_assert_eq(p.at_server.len, 2, "%s: R6", t->name);
    cr_assert(memcmp(p.at_server.bytes, "ab", 2) == 0, "%s", t->name);
    pair_down(&p);
}

/* Frames still waiting for their turn when the client closes are reported, never lost
 * silently; the one that went is not among them. */
Test(raw, c15_sync_frames_waiting_at_close_are_dropped_and_reported)
{
    th_transport_t t = {"unix", TH_UNIX};
    nipc_config_t s, c;
    th_config(&s);
    th_config(&c);
    c.sync = true;
    pair_t p;
    pair_up(&p, &t, &s, &c);
    asked_t a = {0};
    th_drops_t d = {0};
    nipc_server_on(p.srv.server, "ask", on_ask, &a);
    nipc_client_on(p.c, "drop", th_on_drop, &d);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nipc_client_emit(p.c, "ask", NULL), 0);
    cr_assert(th_run_until_count(&loop, &a.n, 1, 2000));
    cr_assert_eq(nipc_client_close(p.c, true), 0);
    cr_assert(th_run_until_count(&loop, &d.events, 1, 2000));
    cr_assert_eq(d.frames, 2);
    cr_assert_eq(d.bytes, 2 * (json_int_t)strlen("{\"type\":\"ask\",\"data\":{}}\f"));
    th_run_for(&loop, 50);
    cr_assert_eq(a.n, 1);
    nipc_free(p.cipc);
    nipc_free(p.srv.ipc);
    free(p.at_server.bytes);
    free(p.at_client.bytes);
}

ParameterizedTestParameters(raw, large_sends_written_in_place_keep_their_order_and_count)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * A large send with nothing queued before it is written from the caller's memory, and only
 * what the socket does not take is queued: large and small sends, one after the other,
 * still arrive in order, byte for byte.
 */
ParameterizedTest(th_transport_t *t, raw, large_sends_written_in_place_keep_their_order_and_count)
{
    pair_t p;
    pair_up(&p, t, NULL, NULL);
    const size_t big = 300 * 1024, rounds = 12;
    char *buf = malloc(big);
    cr_assert_not_null(buf);
    size_t total = 0;
    char *want = malloc(rounds * (big + 7));
    cr_assert_not_null(want);
    for (size_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < big; i++)
            buf[i] = (char)(i * 31 + r);
        cr_assert_eq(nipc_client_send(p.c, buf, big), 0, "%s", t->name);
        memcpy(want + total, buf, big);
        total += big;
        cr_assert_eq(nipc_client_send(p.c, "<small>", 7), 0, "%s", t->name);
        memcpy(want + total, "<small>", 7);
        total += 7;
        if (r % 3 == 2)
            th_run_for(&loop, 2); /* some rounds find the queue empty again */
    }
    cr_assert(wait_len(&p.at_server, total, 10000), "%s: %zu of %zu", t->name, p.at_server.len,
              total);
    cr_assert_eq(p.at_server.len, total, "%s", t->name);
    cr_assert(memcmp(p.at_server.bytes, want, total) == 0, "%s: the stream is out of order",
              t->name);
    free(buf);
    free(want);
    pair_down(&p);
}

ParameterizedTestParameters(raw, a_large_send_written_in_part_then_dropped_is_counted)
{
    TH_TRANSPORT_PARAMS();
}

/* One 24 MiB send towards a peer that does not read: the socket takes part at once, the
 * rest is queued; a close without flush reports the rest as one frame, to the byte. */
ParameterizedTest(th_transport_t *t, raw, a_large_send_written_in_part_then_dropped_is_counted)
{
    deaf_t k;
    deaf_up(&k, t, KEEP_DEFAULT_QUEUE);
    nipc_client_t *c = k.c;
    const size_t n = 24 << 20;
    char *big = calloc(1, n);
    cr_assert_not_null(big);
    cr_assert_eq(nipc_client_send(c, big, n), 0, "%s", t->name);
    free(big); /* the call copied what it did not write */
    size_t got = deaf_close(&k, t);
    th_drops_t d = k.d;
    cr_assert_eq(d.frames, 1, "%s", t->name);
    cr_assert_gt(got, 0, "%s: part was written at once", t->name);
    cr_assert_eq(got + (size_t)d.bytes, n, "%s: read %zu, dropped %lld", t->name, got,
                 (long long)d.bytes);
    deaf_down(&k);
}

ParameterizedTestParameters(raw, a_write_taken_in_part_before_the_close_is_not_counted_lost)
{
    TH_TRANSPORT_PARAMS();
}

/* The same send, but the peer reads some of it first, so that libuv writes more of the queued
 * rest while it is in flight: the close cancels that write, and only what the system never
 * took is reported. Before, the whole write was, and the peer's bytes plus `drop`'s exceeded
 * what was sent. The same when nipc_free() discards it, which asks while the write is still
 * in progress. */
ParameterizedTest(th_transport_t *t, raw,
                  a_write_taken_in_part_before_the_close_is_not_counted_lost)
{
    for (int freeing = 0; freeing < 2; freeing++) {
        deaf_t k;
        deaf_up(&k, t, KEEP_DEFAULT_QUEUE);
        const size_t n = 24 << 20;
        char *big = calloc(1, n);
        cr_assert_not_null(big);
        cr_assert_eq(nipc_client_send(k.c, big, n), 0, "%s", t->name);
        free(big);
        size_t early = 0, r;
        char buf[65536];
        while (early < (4u << 20) && (r = th_raw_read(&loop, k.fd, buf, sizeof buf, 300)) > 0) {
            early += r; /* th_raw_read runs the loop: libuv refills the socket from the write */
        }
        cr_assert_geq(early, 4u << 20, "%s: read %zu", t->name, early);
        th_run_for(&loop, 20);
        size_t got = early + deaf_close_by(&k, t, freeing);
        cr_assert_eq(k.d.frames, 1, "%s", t->name);
        cr_assert_eq(got + (size_t)k.d.bytes, n, "%s%s: read %zu, dropped %lld", t->name,
                     freeing ? " (nipc_free)" : "", got, (long long)k.d.bytes);
        deaf_down(&k);
        unlink(th_path(dir, "sink.sock")); /* for the next round's listener */
    }
}

typedef struct asked_i {
    int n;
    json_int_t i[8];
    nipc_socket_t *socket;
} asked_i_t;

static void on_ask_i(const nipc_event_t *ev, void *arg)
{
    asked_i_t *a = arg;
    if (a->n < 8)
        a->i[a->n] = json_integer_value(json_object_get(ev->data, "i"));
    a->n++;
    a->socket = ev->socket;
}

/* A lost connection takes the frame that awaited its answer; the waiting ones survive, and
 * the next goes once a new connection is up (node-ipc would wait for ever). */
Test(raw, c15_sync_a_reconnect_lets_the_next_waiting_frame_go)
{
    th_transport_t t = {"unix", TH_UNIX};
    nipc_config_t s, c;
    th_config(&s);
    th_config(&c);
    c.sync = true;
    c.retry = 30;
    pair_t p;
    pair_up(&p, &t, &s, &c);
    asked_i_t a = {0};
    th_drops_t d = {0};
    nipc_server_on(p.srv.server, "ask", on_ask_i, &a);
    nipc_client_on(p.c, "drop", th_on_drop, &d);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(nipc_client_emitf(p.c, "ask", "{s:i}", "i", i), 0);
    cr_assert(th_run_until_count(&loop, &a.n, 1, 2000));
    p.connected = false;
    cr_assert_eq(nipc_socket_close(a.socket, false), 0);
    cr_assert(th_run_until(&loop, &p.connected, 3000), "no reconnect");
    cr_assert(th_run_until_count(&loop, &a.n, 2, 2000), "the next frame did not go");
    th_run_for(&loop, 100);
    cr_assert_eq(a.n, 2, "one frame per turn after the reconnect too");
    cr_assert_eq(a.i[1], 1);
    cr_assert_eq(d.events, 0, "nothing was lost: the first frame had been written");
    cr_assert_eq(nipc_server_emit(p.srv.server, a.socket, "answer", NULL), 0);
    cr_assert(th_run_until_count(&loop, &a.n, 3, 2000));
    cr_assert_eq(a.i[2], 2);
    pair_down(&p);
}
