/* SPDX-License-Identifier: MIT */
/*
 * A `_new` emit hands its data over, so a large string of it (NIPC__SPAN_MIN bytes or more,
 * nothing to escape) is written from where it is instead of being copied into the queue
 * (nipc.h, at nipc_client_emit_new). Through real sockets, over every stream transport of
 * the suite: the bytes are the ones the copying emit writes, whole or taken by the socket a
 * part at a time; `drop` counts such strings' bytes exactly when a close discards them; the
 * queue bound counts them; a broadcast refers every socket's queue to the one string; sync
 * mode holds a copy; nipc peers over TLS too. Each test ends with the strings held by the
 * test alone: no reference is kept by nipc once its write is done or dropped (and
 * LeakSanitizer sees every block).
 */
#include "../support/transport.h"

TH_LOOP_SUITE(by_reference, 60);

#define MIB ((size_t)1 << 20)

/* A string of n bytes, byte i being 'a' + (i * 7 + seed) % 26, ending with é when `utf8`. */
static json_t *text(size_t n, unsigned seed, bool utf8)
{
    char *s = malloc(n);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + (i * 7 + seed) % 26);
    if (utf8)
        memcpy(s + n - 2, "\xc3\xa9", 2);
    json_t *v = json_stringn(s, n);
    free(s);
    cr_assert_not_null(v);
    return v;
}

/* {"i":i,"s":s} as an emit writes it, appended to b (the frames a test expects). */
static void put_frame(nipc_buf_t *b, int i, const json_t *s)
{
    char head[64];
    int hn = snprintf(head, sizeof head, "{\"type\":\"big\",\"data\":{\"i\":%d,\"s\":\"", i);
    cr_assert(nipc__buf_append(b, head, (size_t)hn) == 0 &&
              nipc__buf_append(b, json_string_value(s), json_string_length(s)) == 0 &&
              nipc__buf_append(b, "\"}}\f", 4) == 0);
}

static json_t *payload(int i, json_t *s)
{
    json_t *d = json_pack("{s:i,s:O}", "i", i, "s", s);
    cr_assert_not_null(d);
    return d;
}

/* The frames of a test: `count` frames, i from 0, frame i carrying s[i % ns]. */
typedef struct stream {
    json_t *s[3];
    int ns;
    int count;
    nipc_buf_t want;
} stream_t;

static void stream_init(stream_t *st, int count)
{
    memset(st, 0, sizeof *st);
    st->s[0] = text(MIB + 3, 0, false);
    st->s[1] = text(NIPC__SPAN_MIN, 5, true);
    st->s[2] = json_string("small"); /* copied, between the others */
    st->ns = 3;
    st->count = count;
    for (int i = 0; i < count; i++)
        put_frame(&st->want, i, st->s[i % st->ns]);
}

/* Every reference nipc took is back once the closes are done: only the stream holds its
 * strings. */
static void stream_free(stream_t *st)
{
    th_run_for(&loop, 20);
    for (int k = 0; k < st->ns; k++) {
        cr_assert_eq(st->s[k]->refcount, 1, "string %d: %zu references left", k,
                     (size_t)st->s[k]->refcount);
        json_decref(st->s[k]);
    }
    nipc__buf_free(&st->want);
}

/* Frame i of the stream, handed over. */
static json_t *frame_data(const stream_t *st, int i)
{
    return payload(i, st->s[i % st->ns]);
}

/* Reads n bytes from fd (running the loop) and checks they are `want`. */
static void expect_read(const th_transport_t *t, int fd, const char *want, size_t n)
{
    char *got = malloc(n);
    cr_assert_not_null(got);
    size_t k = th_raw_read(&loop, fd, got, n, 10000);
    cr_assert_eq(k, n, "%s: read %zu of %zu bytes", t->name, k, n);
    cr_assert(memcmp(got, want, n) == 0, "%s: the bytes differ", t->name);
    free(got);
}

static size_t frames_in(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\f';
    return k;
}

/* What `drop` events reported. */
typedef struct drops {
    int events;
    json_int_t frames, bytes;
} drops_t;

static void on_drop(const nipc_event_t *ev, void *arg)
{
    drops_t *d = arg;
    d->events++;
    d->frames += json_integer_value(json_object_get(ev->data, "frames"));
    d->bytes += json_integer_value(json_object_get(ev->data, "bytes"));
}

/* A nipc client on a raw listening socket of the transport. */
typedef struct raw_peer {
    int lfd, fd;
    nipc_t *ipc;
    nipc_client_t *c;
    drops_t d;
} raw_peer_t;

static void peer_up(raw_peer_t *p, const th_transport_t *t, const nipc_config_t *cfg)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        cfg = &def;
    }
    memset(p, 0, sizeof *p);
    int port;
    bool up = false;
    p->lfd = th_raw_listen_any(t, dir, "raw.sock", &port);
    cr_assert_eq(nipc_new(&p->ipc, &loop, cfg), 0);
    cr_assert_eq(th_connect_raw(p->ipc, t, "raw", dir, "raw.sock", port, &p->c), 0);
    nipc_client_on(p->c, "connect", th_flag, &up);
    nipc_client_on(p->c, "drop", on_drop, &p->d);
    p->fd = th_raw_accept_any(&loop, t, p->lfd, 2000);
    cr_assert(p->fd >= 0, "%s: no connection", t->name);
    cr_assert(th_run_until(&loop, &up, 2000), "%s: no connect", t->name);
}

static void peer_down(raw_peer_t *p)
{
    nipc_free(p->ipc);
    close(p->fd);
    close(p->lfd);
    unlink(th_path(dir, "raw.sock")); /* for the next peer_up() */
}

ParameterizedTestParameters(by_reference,
                            a_string_handed_over_arrives_as_the_copying_emit_writes_it)
{
    TH_TRANSPORT_PARAMS();
}

/* Each frame goes twice, borrowed and handed over, from a client and from a server. */
ParameterizedTest(th_transport_t *t, by_reference,
                  a_string_handed_over_arrives_as_the_copying_emit_writes_it)
{
    stream_t st;
    stream_init(&st, 6);
    raw_peer_t p;
    peer_up(&p, t, NULL);
    size_t at = 0;
    for (int i = 0; i < st.count; i++) {
        json_t *d = frame_data(&st, i);
        cr_assert_eq(nipc_client_emit(p.c, "big", d), 0, "%s", t->name);
        cr_assert_eq(nipc_client_emit_new(p.c, "big", d), 0, "%s", t->name);
        size_t n = strchr(st.want.data + at, '\f') + 1 - (st.want.data + at);
        expect_read(t, p.fd, st.want.data + at, n);
        expect_read(t, p.fd, st.want.data + at, n);
        at += n;
    }
    peer_down(&p);

    th_server_t srv;
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_start_on(&srv, &loop, &cfg, t, dir, "srv.sock");
    int fd = th_raw_connect_server(t, srv.server);
    for (int k = 0; k < 400 && nipc_server_socket_count(srv.server) == 0; k++)
        th_run_for(&loop, 5);
    nipc_socket_t *sock = nipc_server_socket_at(srv.server, 0);
    cr_assert_not_null(sock);
    for (int i = 0; i < st.count; i++)
        cr_assert_eq(nipc_server_emit_new(srv.server, sock, "big", frame_data(&st, i)), 0);
    expect_read(t, fd, st.want.data, st.want.len);
    nipc_free(srv.ipc);
    close(fd);
    stream_free(&st);
}

ParameterizedTestParameters(by_reference, a_slow_reader_takes_the_strings_a_part_at_a_time)
{
    TH_TRANSPORT_PARAMS();
}

/* 40 frames (about 14 MiB) towards a peer that reads 64 KiB at a time: writes end inside
 * the strings, and go on from there. */
ParameterizedTest(th_transport_t *t, by_reference, a_slow_reader_takes_the_strings_a_part_at_a_time)
{
    stream_t st;
    stream_init(&st, 40);
    raw_peer_t p;
    peer_up(&p, t, NULL);
    for (int i = 0; i < st.count; i++) {
        cr_assert_eq(nipc_client_emit_new(p.c, "big", frame_data(&st, i)), 0, "%s", t->name);
        if (i % 4 == 3)
            th_run_for(&loop, 1);
    }
    char *got = malloc(st.want.len);
    cr_assert_not_null(got);
    size_t n = 0, r;
    while (n < st.want.len &&
           (r = th_raw_read(&loop, p.fd, got + n, st.want.len - n < 65536 ? st.want.len - n : 65536,
                            5000)) > 0) {
        n += r;
        usleep(200);
    }
    cr_assert_eq(n, st.want.len, "%s: read %zu of %zu", t->name, n, st.want.len);
    cr_assert(memcmp(got, st.want.data, n) == 0, "%s: the stream differs", t->name);
    free(got);
    th_run_for(&loop, 20); /* the last write completes */
    cr_assert_eq(p.d.events, 0, "%s", t->name);
    peer_down(&p);
    stream_free(&st);
}

ParameterizedTestParameters(by_reference, a_close_without_flush_counts_the_strings_exactly)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * 24 frames, 16 of them with strings, towards a peer that reads 2 MiB and stops: the close
 * without flush drops the rest, and what the peer then reads plus `drop` is everything, in
 * bytes and in whole frames, wherever the writes ended. Then the same with nipc_free().
 */
ParameterizedTest(th_transport_t *t, by_reference, a_close_without_flush_counts_the_strings_exactly)
{
    stream_t st;
    stream_init(&st, 24);
    for (int round = 0; round < 2; round++) {
        raw_peer_t p;
        nipc_config_t cfg;
        th_config(&cfg);
        cfg.max_queued_bytes = 0;
        peer_up(&p, t, &cfg);
        for (int i = 0; i < st.count; i++)
            cr_assert_eq(nipc_client_emit_new(p.c, "big", frame_data(&st, i)), 0);
        char *got = malloc(st.want.len);
        cr_assert_not_null(got);
        size_t n = th_raw_read(&loop, p.fd, got, 2 * MIB, 5000);
        cr_assert_eq(n, 2 * MIB, "%s", t->name);
        th_run_for(&loop, 20); /* the write in flight goes on into the room that leaves */
        if (round == 0) {
            cr_assert_eq(nipc_client_close(p.c, false), 0);
            th_run_for(&loop, 50);
        } else {
            nipc_free(p.ipc);
            p.ipc = NULL;
        }
        cr_assert_eq(p.d.events, 1, "%s: round %d", t->name, round);
        size_t r;
        while ((r = th_raw_read(&loop, p.fd, got + n, st.want.len - n, 300)) > 0)
            n += r;
        cr_assert(memcmp(got, st.want.data, n) == 0, "%s: the bytes read differ", t->name);
        cr_assert_gt(p.d.bytes, 0, "%s: the test needs a loss", t->name);
        cr_assert_eq(n + (size_t)p.d.bytes, st.want.len, "%s: round %d: read %zu, dropped %lld",
                     t->name, round, n, (long long)p.d.bytes);
        cr_assert_eq(frames_in(got, n) + (size_t)p.d.frames, (size_t)st.count,
                     "%s: round %d: %zu whole frames read, %lld dropped", t->name, round,
                     frames_in(got, n), (long long)p.d.frames);
        free(got);
        peer_down(&p);
    }
    stream_free(&st);
}

ParameterizedTestParameters(by_reference, the_queue_bound_counts_the_strings)
{
    TH_TRANSPORT_PARAMS();
}

/* Towards a client that never reads, 1 MiB strings fill a 4 MiB bound as copies would. */
ParameterizedTest(th_transport_t *t, by_reference, the_queue_bound_counts_the_strings)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 4 * MIB;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "bound.sock");
    int fd = th_raw_connect_server(t, srv.server);
    for (int k = 0; k < 400 && nipc_server_socket_count(srv.server) == 0; k++)
        th_run_for(&loop, 5);
    nipc_socket_t *sock = nipc_server_socket_at(srv.server, 0);
    cr_assert_not_null(sock);
    json_t *s = text(MIB, 1, false);
    int accepted = 0, full = 0;
    for (int i = 0; i < 100; i++) {
        int err = nipc_server_emit_new(srv.server, sock, "big", payload(i, s));
        accepted += err == 0;
        full += err == NIPC_EQUEUEFULL;
        cr_assert_leq(nipc__conn_queued(&sock->conn), 5 * MIB + 64, "%s", t->name);
        th_run_for(&loop, 1);
    }
    cr_assert_gt(full, 0, "%s: every emit was accepted", t->name);
    cr_assert_lt(accepted, 40, "%s: %d accepted", t->name, accepted);
    nipc_free(srv.ipc);
    close(fd);
    th_run_for(&loop, 20);
    cr_assert_eq(s->refcount, 1, "%s", t->name);
    json_decref(s);
}

/* A frame past max_message_size is refused whole, its strings released within the call. */
Test(by_reference, a_frame_too_large_is_refused_with_its_strings)
{
    const th_transport_t unix_t = {"unix", TH_UNIX};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = MIB;
    raw_peer_t p;
    peer_up(&p, &unix_t, &cfg);
    json_t *s = text(MIB / 2, 3, false);
    json_t *d = json_pack("{s:O,s:O}", "a", s, "b", s);
    cr_assert_eq(nipc_client_emit_new(p.c, "big", d), UV_EMSGSIZE);
    cr_assert_eq(s->refcount, 1, "a reference outlived the refusal");
    /* One of them fits, and goes. */
    nipc_buf_t want;
    nipc__buf_init(&want);
    put_frame(&want, 0, s);
    cr_assert_eq(nipc_client_emit_new(p.c, "big", payload(0, s)), 0);
    expect_read(&unix_t, p.fd, want.data, want.len);
    nipc__buf_free(&want);
    peer_down(&p);
    th_run_for(&loop, 20);
    cr_assert_eq(s->refcount, 1);
    json_decref(s);
}

ParameterizedTestParameters(by_reference, a_broadcast_refers_every_socket_to_the_one_string)
{
    TH_TRANSPORT_PARAMS();
}

/* Three readers get every byte; a fourth that never reads is closed, its loss its own. */
ParameterizedTest(th_transport_t *t, by_reference,
                  a_broadcast_refers_every_socket_to_the_one_string)
{
    enum { READERS = 3, ALL = READERS + 1 };
    stream_t st;
    stream_init(&st, 36); /* about 13 MiB: more than TCP buffers hold for the deaf one */
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 0;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "bc.sock");
    drops_t drops = {0};
    nipc_server_on(srv.server, "drop", on_drop, &drops);
    int fd[ALL];
    for (int k = 0; k < ALL; k++) {
        fd[k] = th_raw_connect_server(t, srv.server);
        for (int w = 0; w < 400 && nipc_server_socket_count(srv.server) <= (size_t)k; w++)
            th_run_for(&loop, 5);
    }
    cr_assert_eq(nipc_server_socket_count(srv.server), ALL, "%s", t->name);
    for (int i = 0; i < st.count; i++)
        cr_assert_eq(nipc_server_broadcast_new(srv.server, "big", frame_data(&st, i)), 0);
    for (int k = 0; k < READERS; k++)
        expect_read(t, fd[k], st.want.data, st.want.len);
    /* The deaf socket is the last connected; the server's array keeps connection order. */
    nipc_socket_t *deaf = nipc_server_socket_at(srv.server, READERS);
    cr_assert_eq(nipc_socket_close(deaf, false), 0);
    th_run_for(&loop, 50);
    cr_assert_eq(drops.events, 1, "%s", t->name);
    char *got = malloc(st.want.len);
    cr_assert_not_null(got);
    size_t n = 0, r;
    while ((r = th_raw_read(&loop, fd[READERS], got + n, st.want.len - n, 300)) > 0)
        n += r;
    cr_assert(memcmp(got, st.want.data, n) == 0, "%s", t->name);
    cr_assert_eq(n + (size_t)drops.bytes, st.want.len, "%s: read %zu, dropped %lld", t->name, n,
                 (long long)drops.bytes);
    cr_assert_eq(frames_in(got, n) + (size_t)drops.frames, (size_t)st.count, "%s", t->name);
    free(got);
    nipc_free(srv.ipc);
    for (int k = 0; k < ALL; k++)
        close(fd[k]);
    stream_free(&st);
}

ParameterizedTestParameters(by_reference, sync_mode_holds_a_copy_of_each_waiting_frame)
{
    TH_TRANSPORT_PARAMS();
}

/* C15: the first frame goes; the others wait for an answer each, holding their own bytes. */
ParameterizedTest(th_transport_t *t, by_reference, sync_mode_holds_a_copy_of_each_waiting_frame)
{
    stream_t st;
    stream_init(&st, 3);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.sync = true;
    raw_peer_t p;
    peer_up(&p, t, &cfg);
    for (int i = 0; i < st.count; i++)
        cr_assert_eq(nipc_client_emit_new(p.c, "big", frame_data(&st, i)), 0, "%s", t->name);
    size_t at = 0;
    for (int i = 0; i < st.count; i++) {
        size_t n = strchr(st.want.data + at, '\f') + 1 - (st.want.data + at);
        expect_read(t, p.fd, st.want.data + at, n);
        at += n;
        th_run_for(&loop, 10); /* its write completes */
        /* What waits is copied: only a frame on its way refers to a string. */
        for (int k = 0; k < st.ns; k++)
            cr_assert_eq(st.s[k]->refcount, 1, "%s: frame %d, string %d", t->name, i, k);
        char c;
        cr_assert_eq(th_raw_read(&loop, p.fd, &c, 1, 30), 0, "%s: sent before its turn", t->name);
        th_raw_send(&loop, p.fd, "{\"type\":\"ok\",\"data\":{}}\f", 24, 2000);
    }
    peer_down(&p);
    stream_free(&st);
}

/* ---- nipc on both sides, TLS included ---------------------------------------------------- */

typedef struct got {
    int n;
    int bad; /* frames that were not the stream's next */
    const stream_t *st;
} got_t;

static void on_big(const nipc_event_t *ev, void *arg)
{
    got_t *g = arg;
    json_t *want = payload(g->n, g->st->s[g->n % g->st->ns]);
    g->bad += !json_equal(ev->data, want);
    json_decref(want);
    g->n++;
}

ParameterizedTestParameters(by_reference, nipc_peers_exchange_strings_handed_over)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* Client to server, server to client, and a broadcast, over TLS as well; then a close without
 * flush with strings queued, which releases them. */
ParameterizedTest(th_transport_t *t, by_reference, nipc_peers_exchange_strings_handed_over)
{
    stream_t st;
    stream_init(&st, 12);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 0;
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "peers.sock");
    got_t at_server = {0, 0, &st}, at_client = {0, 0, &st};
    nipc_server_on(srv.server, "big", on_big, &at_server);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "peer", srv.server, &c), 0);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    nipc_client_on(c, "big", on_big, &at_client);
    cr_assert(th_run_until(&loop, &up, 5000), "%s: no connect", t->name);
    for (int i = 0; i < st.count; i++)
        cr_assert_eq(nipc_client_emit_new(c, "big", frame_data(&st, i)), 0, "%s", t->name);
    cr_assert(th_run_until_count(&loop, &at_server.n, st.count, 20000), "%s: %d of %d", t->name,
              at_server.n, st.count);
    nipc_socket_t *sock = nipc_server_socket_at(srv.server, 0);
    for (int i = 0; i < st.count; i++) {
        json_t *d = frame_data(&st, i);
        cr_assert_eq(i % 2 ? nipc_server_broadcast_new(srv.server, "big", d)
                           : nipc_server_emit_new(srv.server, sock, "big", d),
                     0, "%s", t->name);
    }
    cr_assert(th_run_until_count(&loop, &at_client.n, st.count, 20000), "%s: %d of %d", t->name,
              at_client.n, st.count);
    cr_assert_eq(at_server.bad + at_client.bad, 0, "%s", t->name);

    drops_t drops = {0};
    nipc_client_on(c, "drop", on_drop, &drops);
    for (int i = 0; i < st.count; i++)
        cr_assert_eq(nipc_client_emit_new(c, "big", frame_data(&st, i)), 0, "%s", t->name);
    cr_assert_eq(nipc_client_close(c, false), 0);
    th_run_for(&loop, 50);
    cr_assert_eq(drops.events, 1, "%s", t->name);
    cr_assert_geq(drops.frames, 1, "%s", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
    stream_free(&st);
}
