/* SPDX-License-Identifier: MIT */
/*
 * nipc's two limits, over real sockets. max_message_size: a frame longer than it, finished
 * or not, closes its own connection with UV_EMSGSIZE and no other; a frame of exactly
 * the limit is delivered; the 64 MiB default carries a 10 MiB frame. max_queued_bytes: an
 * emit that would take the output queue past it is refused with NIPC_EQUEUEFULL and not
 * queued; `drain` follows once the queue is written, and then emits succeed again; every
 * accepted frame arrives once, in order, and no refused one ever does. Every test runs over
 * every stream transport of the suite (a Unix socket, TCP on 127.0.0.1 and on ::1, see
 * ../support/transport.h), with a raw socket of the same transport as the peer.
 * unix_send_buffer: the kernel send buffer of both ends of a Unix socket connection.
 */
#include "../support/transport.h"

static uv_loop_t loop;
static char dir[64];
static th_server_t srv;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static bool wait_type(const th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (th_count(r, type) < n && now_ms() < end)
        th_run_for(&loop, 1);
    return th_count(r, type) >= n;
}

static void send_bytes(int fd, const char *p, size_t n)
{
    th_raw_send(&loop, fd, p, n, 20000);
}

static void send_str(int fd, const char *s)
{
    send_bytes(fd, s, strlen(s));
}

/* Connects a raw client to srv and waits for its connect; *sock is the server's peer. */
static int raw_client(const th_transport_t *t, nipc_socket_t **sock)
{
    int before = th_count(&srv.rec, "connect");
    int fd = th_raw_connect_server(t, srv.server);
    cr_assert(wait_type(&srv.rec, "connect", before + 1, 2000), "%s: the server saw no connect",
              t->name);
    if (sock != NULL)
        *sock = srv.rec.socket[th_find(&srv.rec, "connect", before)];
    return fd;
}

static void start_server(const th_transport_t *t, const nipc_config_t *cfg, const char *name)
{
    th_server_start_on(&srv, &loop, cfg, t, dir, name);
}

/* The text of {"type":"t","data":"xxx..."}, exactly `len` bytes (delimiter not included). */
static char *frame_of(size_t len)
{
    static const char head[] = "{\"type\":\"t\",\"data\":\"";
    cr_assert_geq(len, sizeof head + 1);
    char *f = malloc(len + 1);
    cr_assert_not_null(f);
    memcpy(f, head, sizeof head - 1);
    memset(f + sizeof head - 1, 'x', len - (sizeof head - 1) - 2);
    memcpy(f + len - 2, "\"}", 3);
    cr_assert_eq(strlen(f), len);
    return f;
}

/* Event i of srv.rec is `type` on `sock`. */
static void assert_event(const th_transport_t *t, int i, const char *type, nipc_socket_t *sock)
{
    th_assert_event(t, &srv.rec, i, type, sock);
}

/* B, an innocent bystander, sends one frame and gets one back. */
static void bystander_round_trip(const th_transport_t *t, int fd, nipc_socket_t *sock, int n)
{
    int before = th_count(&srv.rec, "b");
    char frame[64];
    snprintf(frame, sizeof frame, "{\"type\":\"b\",\"data\":%d}\f", n);
    send_str(fd, frame);
    cr_assert(wait_type(&srv.rec, "b", before + 1, 2000), "%s: the bystander's frame was lost",
              t->name);
    int i = th_find(&srv.rec, "b", before);
    assert_event(t, i, "b", sock);
    char want[16];
    snprintf(want, sizeof want, "%d", n);
    cr_assert_str_eq(srv.rec.data[i], want, "%s", t->name);

    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "back", json_integer(n)), 0, "%s", t->name);
    char got[64] = {0};
    snprintf(frame, sizeof frame, "{\"type\":\"back\",\"data\":%d}\f", n);
    cr_assert_eq(th_raw_read(&loop, fd, got, strlen(frame), 2000), strlen(frame), "%s", t->name);
    cr_assert_str_eq(got, frame, "%s", t->name);
}

/* ---- max_message_size ---------------------------------------------------------------------- */

ParameterizedTestParameters(limits, a_frame_past_max_message_size_closes_only_its_connection)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits,
                  a_frame_past_max_message_size_closes_only_its_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = 1024;
    start_server(t, &cfg, "max.sock");
    nipc_socket_t *sa, *sb;
    int a = raw_client(t, &sa);
    int b = raw_client(t, &sb);
    bystander_round_trip(t, b, sb, 1);

    /* Exactly the limit: delivered. */
    char *ok = frame_of(1024);
    send_bytes(a, ok, 1024);
    send_str(a, "\f");
    cr_assert(wait_type(&srv.rec, "t", 1, 2000), "%s: a frame of exactly the limit was refused",
              t->name);
    assert_event(t, th_find(&srv.rec, "t", 0), "t", sa);
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s", t->name);

    /* One byte more: the connection is closed, with an error first. */
    char *big = frame_of(1025);
    int from = srv.rec.n;
    send_bytes(a, big, 1025);
    send_str(a, "\f");
    cr_assert(th_raw_closed(&loop, a, 2000),
              "%s: the connection with the oversized frame stays open", t->name);
    cr_assert(wait_type(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    int e = th_find(&srv.rec, "error", 0);
    int d = th_find(&srv.rec, "socket.disconnected", 0);
    cr_assert(e >= from && e < d, "%s: error must come before socket.disconnected: %s", t->name,
              th_types(&srv.rec));
    assert_event(t, e, "error", sa);
    cr_assert_eq(srv.rec.status[e], UV_EMSGSIZE, "%s: status %s", t->name,
                 nipc_err_name(srv.rec.status[e]));
    assert_event(t, d, "socket.disconnected", sa);
    cr_assert_eq(th_count(&srv.rec, "t"), 1, "%s: the oversized frame was delivered", t->name);

    /* The bystander never noticed. */
    bystander_round_trip(t, b, sb, 2);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    cr_assert_eq(nipc_server_socket_at(srv.server, 0), sb, "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "error"), 1, "%s", t->name);

    free(ok);
    free(big);
    nipc_free(srv.ipc);
    close(a);
    close(b);
}

ParameterizedTestParameters(limits, a_frame_that_never_ends_is_cut_once_past_the_limit)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits, a_frame_that_never_ends_is_cut_once_past_the_limit)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = 1024;
    start_server(t, &cfg, "endless.sock");
    nipc_socket_t *sa, *sb;
    int a = raw_client(t, &sa);
    int b = raw_client(t, &sb);
    bystander_round_trip(t, b, sb, 1);

    /* 1024 bytes with no delimiter may still become a frame of exactly the limit. */
    char *f = frame_of(2000);
    send_bytes(a, f, 1024);
    cr_assert_not(th_raw_closed(&loop, a, 100), "%s: closed at exactly the limit", t->name);
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s", t->name);

    /* Past it, the frame can only be too long. */
    send_bytes(a, f + 1024, 2000 - 1024);
    cr_assert(th_raw_closed(&loop, a, 2000), "%s: a frame with no end keeps its connection",
              t->name);
    cr_assert(wait_type(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
    int e = th_find(&srv.rec, "error", 0);
    assert_event(t, e, "error", sa);
    cr_assert_eq(srv.rec.status[e], UV_EMSGSIZE, "%s: status %s", t->name,
                 nipc_err_name(srv.rec.status[e]));
    cr_assert_lt(e, th_find(&srv.rec, "socket.disconnected", 0), "%s", t->name);
    assert_event(t, th_find(&srv.rec, "socket.disconnected", 0), "socket.disconnected", sa);

    bystander_round_trip(t, b, sb, 2);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    free(f);
    nipc_free(srv.ipc);
    close(a);
    close(b);
}

ParameterizedTestParameters(limits, a_pending_frame_of_exactly_the_limit_waits_for_its_delimiter)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits,
                  a_pending_frame_of_exactly_the_limit_waits_for_its_delimiter)
{
    /* With a 3-byte delimiter, 1024 bytes of frame and 2 of delimiter may be pending. */
    const char *delims[] = {"\f", "XYZ"};
    for (int k = 0; k < 2; k++) {
        nipc_config_t cfg;
        th_config(&cfg);
        cfg.max_message_size = 1024;
        cfg.delimiter = delims[k];
        start_server(t, &cfg, k == 0 ? "exact1.sock" : "exact3.sock");
        int a = raw_client(t, NULL);
        size_t dlen = strlen(delims[k]);
        char *f = frame_of(1024);
        send_bytes(a, f, 600);
        th_run_for(&loop, 5);
        send_bytes(a, f + 600, 1024 - 600);
        send_bytes(a, delims[k], dlen - 1);
        cr_assert_not(th_raw_closed(&loop, a, 100),
                      "%s: delimiter %d: closed before the frame ended", t->name, k);
        send_bytes(a, delims[k] + dlen - 1, 1);
        cr_assert(wait_type(&srv.rec, "t", 1, 2000), "%s: delimiter %d: not delivered (events: %s)",
                  t->name, k, th_types(&srv.rec));
        cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s", t->name);
        cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
        free(f);
        nipc_free(srv.ipc);
        close(a);
        th_run_for(&loop, 5);
    }
}

/* ---- the default limit carries 10 MiB ------------------------------------------------------ */

#define BIG ((size_t)10 << 20)

static char big_char(size_t i)
{
    return (char)('a' + (i * 7 + i / 26) % 26);
}

typedef struct big_seen {
    int n;
    size_t len;
    bool intact;
} big_seen_t;

static void on_big(const nipc_event_t *ev, void *arg)
{
    big_seen_t *b = arg;
    b->n++;
    b->intact = false;
    if (!json_is_string(ev->data))
        return;
    const char *s = json_string_value(ev->data);
    b->len = json_string_length(ev->data);
    if (b->len != BIG)
        return;
    for (size_t i = 0; i < BIG; i++)
        if (s[i] != big_char(i))
            return;
    b->intact = true;
}

static char *big_string(void)
{
    char *s = malloc(BIG + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < BIG; i++)
        s[i] = big_char(i);
    s[BIG] = '\0';
    return s;
}

ParameterizedTestParameters(limits, the_default_limit_delivers_a_10_mib_frame_to_a_server)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits, the_default_limit_delivers_a_10_mib_frame_to_a_server)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cr_assert_eq(cfg.max_message_size, (size_t)64 << 20, "%s: the default is 64 MiB", t->name);
    start_server(t, &cfg, "big.sock");
    big_seen_t seen = {0};
    nipc_server_on(srv.server, "big", on_big, &seen);
    int a = raw_client(t, NULL);

    char *s = big_string();
    send_str(a, "{\"type\":\"big\",\"data\":\"");
    send_bytes(a, s, BIG);
    send_str(a, "\"}\f");
    uint64_t end = now_ms() + 20000;
    while (seen.n == 0 && now_ms() < end)
        th_run_for(&loop, 5);
    cr_assert_eq(seen.n, 1, "%s: the 10 MiB frame did not arrive (events: %s)", t->name,
                 th_types(&srv.rec));
    cr_assert_eq(seen.len, BIG, "%s", t->name);
    cr_assert(seen.intact, "%s: the 10 MiB frame arrived damaged", t->name);
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s", t->name);
    free(s);
    nipc_free(srv.ipc);
    close(a);
}

typedef struct big_send {
    const char *s;
    int rc;
    bool sent;
} big_send_t;

static void send_big_on_connect(const nipc_event_t *ev, void *arg)
{
    big_send_t *b = arg;
    b->rc = nipc_server_emit_new(ev->server, ev->socket, "big", json_stringn(b->s, BIG));
    b->sent = true;
}

ParameterizedTestParameters(limits, the_default_limit_delivers_a_10_mib_frame_to_a_client)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits, the_default_limit_delivers_a_10_mib_frame_to_a_client)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    start_server(t, &cfg, "bigc.sock");
    char *s = big_string();
    big_send_t send = {.s = s};
    nipc_server_on(srv.server, "connect", send_big_on_connect, &send);

    nipc_t *ipc;
    nipc_client_t *c;
    big_seen_t seen = {0};
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect(ipc, t, "srv", srv.server, &c), 0, "%s", t->name);
    nipc_client_on(c, "big", on_big, &seen);
    uint64_t end = now_ms() + 20000;
    while (seen.n == 0 && now_ms() < end)
        th_run_for(&loop, 5);
    cr_assert(send.sent, "%s: the server saw no connect", t->name);
    cr_assert_eq(send.rc, 0, "%s: emit of 10 MiB: %s", t->name, nipc_err_name(send.rc));
    cr_assert_eq(seen.n, 1, "%s: the 10 MiB frame did not arrive", t->name);
    cr_assert_eq(seen.len, BIG, "%s", t->name);
    cr_assert(seen.intact, "%s: the 10 MiB frame arrived damaged", t->name);
    free(s);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

/* ---- max_queued_bytes ----------------------------------------------------------------------- */

/* Sequence numbers of refused frames start here, so one arriving can never pass unnoticed. */
#define REFUSED 900000

/* {"type":"q","data":"<6-digit seq>xxx..."}\f, exactly `size` bytes with the delimiter. */
static json_t *seq_data(int seq, size_t size)
{
    size_t n = size - 23; /* {"type":"q","data":""}\f */
    char *s = malloc(n + 1);
    cr_assert_not_null(s);
    memset(s, 'x', n);
    char num[8];
    snprintf(num, sizeof num, "%06d", seq);
    memcpy(s, num, 6);
    s[n] = '\0';
    json_t *d = json_stringn(s, n);
    free(s);
    return d;
}

static int client_emit_seq(nipc_client_t *c, int seq, size_t size)
{
    return nipc_client_emit_new(c, "q", seq_data(seq, size));
}

/* The raw reader: bytes in, the sequence numbers of the frames seen, in order. */
typedef struct reader {
    char *buf;
    size_t len, cap;
    int *seqs;
    int n, cap_seqs;
    int bad; /* frames that were not {"type":"q","data":"<seq>..."} */
} reader_t;

static void reader_parse(reader_t *r)
{
    char *start = r->buf;
    char *end = r->buf + r->len;
    char *d;
    while ((d = memchr(start, '\f', (size_t)(end - start))) != NULL) {
        json_t *m = json_loadb(start, (size_t)(d - start), 0, NULL);
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *data = json_string_value(json_object_get(m, "data"));
        if (type == NULL || strcmp(type, "q") != 0 || data == NULL || strlen(data) < 6) {
            r->bad++;
        } else {
            if (r->n == r->cap_seqs) {
                r->cap_seqs = r->cap_seqs ? r->cap_seqs * 2 : 1024;
                r->seqs = realloc(r->seqs, (size_t)r->cap_seqs * sizeof *r->seqs);
                cr_assert_not_null(r->seqs);
            }
            r->seqs[r->n++] = atoi(data);
        }
        json_decref(m);
        start = d + 1;
    }
    r->len = (size_t)(end - start);
    memmove(r->buf, start, r->len);
}

/* Reads what is there, without waiting. */
static void reader_pump(reader_t *r, int fd)
{
    for (;;) {
        if (r->cap - r->len < 65536) {
            r->cap = r->cap ? r->cap * 2 : 1 << 20;
            r->buf = realloc(r->buf, r->cap);
            cr_assert_not_null(r->buf);
        }
        ssize_t k = read(fd, r->buf + r->len, r->cap - r->len);
        if (k <= 0)
            break;
        r->len += (size_t)k;
    }
    reader_parse(r);
}

/* Runs the loop and reads until `n` frames were seen and *flag is set, or `ms` pass. */
static bool read_until(reader_t *r, int fd, int n, const int *flag, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while ((r->n < n || *flag == 0) && now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        reader_pump(r, fd);
        struct pollfd pfd = {fd, POLLIN, 0};
        poll(&pfd, 1, 1);
    }
    return r->n >= n && *flag != 0;
}

static void reader_free(reader_t *r)
{
    free(r->buf);
    free(r->seqs);
}

/* Frames 0..n-1, each once, in order, and nothing else. */
static void assert_seqs(const th_transport_t *t, const reader_t *r, int n)
{
    cr_assert_eq(r->bad, 0, "%s: %d frames were not ours", t->name, r->bad);
    for (int i = 0; i < r->n && i < n; i++)
        cr_assert_eq(r->seqs[i], i, "%s: frame %d is seq %d%s", t->name, i, r->seqs[i],
                     r->seqs[i] >= REFUSED ? ", a refused frame" : "");
    cr_assert_eq(r->n, n, "%s: %d frames arrived, %d were accepted", t->name, r->n, n);
}

typedef struct raw_server {
    int lfd, fd;
    nipc_t *ipc;
    nipc_client_t *c;
    bool connected;
    int drains;
} raw_server_t;

static void client_to_raw(raw_server_t *p, const th_transport_t *t, size_t max_queued,
                          const char *name)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    cfg.max_queued_bytes = max_queued;
    memset(p, 0, sizeof *p);
    int port;
    p->lfd = th_raw_listen_any(t, dir, name, &port);
    cr_assert_eq(nipc_new(&p->ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(p->ipc, t, "raw", dir, name, port, &p->c), 0, "%s", t->name);
    nipc_client_on(p->c, "connect", th_flag, &p->connected);
    nipc_client_on(p->c, "drain", th_tally, &p->drains);
    cr_assert(th_run_until(&loop, &p->connected, 2000), "%s", t->name);
    p->fd = th_raw_accept_any(&loop, t, p->lfd, 2000);
    cr_assert(p->fd >= 0, "%s", t->name);
}

static void raw_server_close(raw_server_t *p)
{
    nipc_free(p->ipc);
    close(p->fd);
    close(p->lfd);
}

ParameterizedTestParameters(limits, a_peer_that_does_not_read_fills_the_queue_then_drain_reopens_it)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits,
                  a_peer_that_does_not_read_fills_the_queue_then_drain_reopens_it)
{
    raw_server_t p;
    client_to_raw(&p, t, 4096, "q.sock");
    const size_t F = 1000;

    /* The raw side reads nothing: the kernel's buffer fills, then nipc's queue. The loop
     * runs after each emit, so every accepted frame is handed to the kernel if it can be. */
    int accepted = 0, rc = 0;
    while (accepted < 1000000) {
        rc = client_emit_seq(p.c, accepted, F);
        if (rc != 0)
            break;
        accepted++;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert_eq(rc, NIPC_EQUEUEFULL, "%s: after %d frames: %s", t->name, accepted,
                 nipc_err_name(rc));
    cr_assert_gt(accepted, 4, "%s", t->name);

    /* Full means full: nothing is written while the peer reads nothing. */
    cr_assert_eq(client_emit_seq(p.c, REFUSED, F), NIPC_EQUEUEFULL, "%s", t->name);
    th_run_for(&loop, 50);
    cr_assert_eq(p.drains, 0, "%s: drain before anything was read", t->name);
    cr_assert_eq(client_emit_seq(p.c, REFUSED + 1, F), NIPC_EQUEUEFULL, "%s", t->name);
    cr_assert(nipc_client_connected(p.c), "%s", t->name);

    /* The peer reads everything: drain, once. */
    reader_t r = {0};
    cr_assert(read_until(&r, p.fd, accepted, &p.drains, 10000), "%s: %d of %d frames, %d drains",
              t->name, r.n, accepted, p.drains);
    cr_assert_eq(p.drains, 1, "%s", t->name);

    /* And emits succeed again. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(client_emit_seq(p.c, accepted + i, F), 0, "%s: emit after drain", t->name);
    int one = 1;
    cr_assert(read_until(&r, p.fd, accepted + 3, &one, 2000), "%s", t->name);
    th_run_for(&loop, 20);
    reader_pump(&r, p.fd);
    assert_seqs(t, &r, accepted + 3);
    cr_assert_eq(p.drains, 1, "%s: drain without a refusal", t->name);

    reader_free(&r);
    raw_server_close(&p);
}

/* Emits from one callback, with nothing in flight: the bound is exact. */
typedef struct exact {
    nipc_client_t *c;
    nipc_server_t *s;
    nipc_socket_t *sock;
    int rc[6];
    int broadcast_rc;
    bool fired;
} exact_t;

static int exact_emit(exact_t *x, int seq)
{
    json_t *d = seq_data(seq, 1024);
    return x->c ? nipc_client_emit_new(x->c, "q", d) : nipc_server_emit_new(x->s, x->sock, "q", d);
}

static void on_exact(uv_timer_t *t)
{
    exact_t *x = t->data;
    /* 4 x 1024 bytes = 4096: exactly the bound, accepted; the 5th would pass it. */
    for (int i = 0; i < 4; i++)
        x->rc[i] = exact_emit(x, i);
    x->rc[4] = exact_emit(x, REFUSED);
    x->rc[5] = exact_emit(x, REFUSED + 1);
    if (x->s != NULL)
        x->broadcast_rc = nipc_server_broadcast_new(x->s, "q", seq_data(REFUSED + 2, 1024));
    x->fired = true;
}

static void fire_exact(const th_transport_t *t, exact_t *x)
{
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = x;
    uv_timer_start(&timer, on_exact, 1, 0);
    th_run_until(&loop, &x->fired, 2000);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert(x->fired, "%s", t->name);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(x->rc[i], 0, "%s: frame %d: %s", t->name, i, nipc_err_name(x->rc[i]));
    cr_assert_eq(x->rc[4], NIPC_EQUEUEFULL, "%s: 4097..5120 bytes: %s", t->name,
                 nipc_err_name(x->rc[4]));
    cr_assert_eq(x->rc[5], NIPC_EQUEUEFULL, "%s: %s", t->name, nipc_err_name(x->rc[5]));
}

ParameterizedTestParameters(limits, a_client_queue_bound_is_exact_and_drain_follows_a_refusal)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits,
                  a_client_queue_bound_is_exact_and_drain_follows_a_refusal)
{
    raw_server_t p;
    client_to_raw(&p, t, 4096, "qx.sock");
    exact_t x = {.c = p.c};
    fire_exact(t, &x);

    reader_t r = {0};
    cr_assert(read_until(&r, p.fd, 4, &p.drains, 2000), "%s: %d frames, %d drains", t->name, r.n,
              p.drains);
    cr_assert_eq(client_emit_seq(p.c, 4, 1024), 0, "%s", t->name);
    int one = 1;
    cr_assert(read_until(&r, p.fd, 5, &one, 2000), "%s", t->name);
    th_run_for(&loop, 20);
    reader_pump(&r, p.fd);
    assert_seqs(t, &r, 5);
    cr_assert_eq(p.drains, 1, "%s", t->name);
    reader_free(&r);
    raw_server_close(&p);
}

ParameterizedTestParameters(limits, a_server_queue_bound_is_exact_and_drain_names_the_socket)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, limits,
                  a_server_queue_bound_is_exact_and_drain_names_the_socket)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 4096;
    start_server(t, &cfg, "qs.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &sock);
    exact_t x = {.s = srv.server, .sock = sock};
    fire_exact(t, &x);
    cr_assert_eq(x.broadcast_rc, NIPC_EQUEUEFULL, "%s: broadcast to a full socket: %s", t->name,
                 nipc_err_name(x.broadcast_rc));

    reader_t r = {0};
    int drains = 0;
    uint64_t end = now_ms() + 2000;
    while ((drains = th_count(&srv.rec, "drain")) == 0 && now_ms() < end)
        th_run_for(&loop, 1);
    cr_assert_eq(drains, 1, "%s: no drain (events: %s)", t->name, th_types(&srv.rec));
    int d = th_find(&srv.rec, "drain", 0);
    cr_assert_eq(srv.rec.socket[d], sock, "%s: drain names another socket", t->name);
    cr_assert(read_until(&r, fd, 4, &drains, 2000), "%s", t->name);
    cr_assert_eq(exact_emit(&x, 4), 0, "%s", t->name);
    cr_assert(read_until(&r, fd, 5, &drains, 2000), "%s", t->name);
    th_run_for(&loop, 20);
    reader_pump(&r, fd);
    assert_seqs(t, &r, 5);
    cr_assert_eq(th_count(&srv.rec, "drain"), 1, "%s", t->name);
    reader_free(&r);
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- unix_send_buffer -------------------------------------------------------------------- */

static long read_sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* How many Unix stream sockets of this process have SO_SNDBUF == `want`. */
static int unix_streams_with_sndbuf(int want)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        int domain, type, sndbuf;
        socklen_t len = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_UNIX)
            continue;
        len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
            continue;
        len = sizeof sndbuf;
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 && sndbuf == want)
            n++;
    }
    return n;
}

/*
 * Connects a nipc client and server of one config over a Unix socket, and returns how many
 * more Unix stream sockets have SO_SNDBUF == `want` than before the client connected (the
 * listening socket is not a connection).
 */
static int connect_pair(const nipc_config_t *cfg, int want)
{
    static const th_transport_t unix_t = {"unix", TH_UNIX};
    start_server(&unix_t, cfg, "sndbuf.sock");
    int before = unix_streams_with_sndbuf(want);
    nipc_t *cipc;
    nipc_client_t *c;
    th_rec_t *crec = calloc(1, sizeof *crec);
    cr_assert_not_null(crec);
    cr_assert_eq(nipc_new(&cipc, &loop, cfg), 0);
    cr_assert_eq(th_connect(cipc, &unix_t, "s", srv.server, &c), 0);
    nipc_client_on(c, NIPC_EVENT_ANY, th_record, crec);
    uint64_t end = now_ms() + 2000;
    while ((th_count(crec, "connect") == 0 || th_count(&srv.rec, "connect") == 0) && now_ms() < end)
        th_run_for(&loop, 1);
    cr_assert_eq(th_count(crec, "connect"), 1, "client events: %s", th_types(crec));
    cr_assert_eq(th_count(&srv.rec, "connect"), 1, "server events: %s", th_types(&srv.rec));
    int added = unix_streams_with_sndbuf(want) - before;
    free(crec);
    nipc_free(cipc);
    nipc_free(srv.ipc);
    return added;
}

Test(limits, unix_send_buffer_sizes_both_ends_of_a_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cr_assert_eq(cfg.unix_send_buffer, (size_t)256 * 1024, "the default is 256 KiB");
    long wmem_max = read_sysctl("/proc/sys/net/core/wmem_max");
    cr_assert_gt(wmem_max, 0, "cannot read net.core.wmem_max");
    /* Linux doubles what is asked, after capping it at wmem_max. */
    long asked = 100000;
    cfg.unix_send_buffer = (size_t)asked;
    int want = (int)(2 * (asked < wmem_max ? asked : wmem_max));
    cr_assert_eq(connect_pair(&cfg, want), 2,
                 "the client's socket and the server's accepted one ask for %ld bytes", asked);
}

Test(limits, unix_send_buffer_zero_keeps_the_system_default)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.unix_send_buffer = 0;
    long wmem_default = read_sysctl("/proc/sys/net/core/wmem_default");
    cr_assert_gt(wmem_default, 0, "cannot read net.core.wmem_default");
    cr_assert_eq(connect_pair(&cfg, (int)wmem_default), 2, "both ends keep net.core.wmem_default");
}

/* ---- max_message_size = SIZE_MAX, send-side rules ------------------------------------------ */

ParameterizedTestParameters(limits, an_unbounded_size_with_a_long_delimiter_keeps_split_frames)
{
    TH_TRANSPORT_PARAMS();
}

/* SIZE_MAX + dlen - 1 wrapped round: every frame split across two reads closed its
 * connection with UV_EMSGSIZE. */
ParameterizedTest(th_transport_t *t, limits,
                  an_unbounded_size_with_a_long_delimiter_keeps_split_frames)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = SIZE_MAX;
    cfg.delimiter = "\r\n";
    start_server(t, &cfg, "unbounded.sock");
    int fd = raw_client(t, NULL);
    for (int i = 0; i < 5; i++) {
        send_str(fd, "{\"type\":\"t\",\"da");
        th_run_for(&loop, 10); /* the first half is read alone */
        send_str(fd, "ta\":1}\r\n");
        cr_assert(wait_type(&srv.rec, "t", i + 1, 2000), "%s: frame %d lost (%s)", t->name, i,
                  th_types(&srv.rec));
    }
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s: %s", t->name, th_types(&srv.rec));
    close(fd);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(limits, the_sender_refuses_what_a_nipc_receiver_would_refuse)
{
    TH_TRANSPORT_PARAMS();
}

/* One rule each way: a frame past max_message_size and a reserved name are refused at send,
 * as a nipc receiver with the same config would refuse them (it used to show the sender only
 * ECONNRESET, or an `error` on the other side). */
ParameterizedTest(th_transport_t *t, limits, the_sender_refuses_what_a_nipc_receiver_would_refuse)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = 100;
    start_server(t, &cfg, "send.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &sock);
    char big[128];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "t", json_string(big)), UV_EMSGSIZE);
    /* {"type":"t","data":"..."} of exactly 100 bytes is still accepted. */
    big[100 - 22] = '\0';
    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "t", json_string(big)), 0, "%s", t->name);
    static const char *const reserved[] = {"connect", "error", "*",
                                           "destroy", "drop",  "socket.disconnected"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        cr_assert_eq(nipc_server_emit(srv.server, sock, reserved[i], NULL), NIPC_ERESERVED, "%s",
                     reserved[i]);
        cr_assert_eq(nipc_server_broadcast(srv.server, reserved[i], NULL), NIPC_ERESERVED, "%s",
                     reserved[i]);
    }
    char got[128] = {0};
    size_t want = 100 + 1;
    cr_assert_eq(th_raw_read(&loop, fd, got, want, 2000), want, "%s", t->name);
    cr_assert_eq(got[100], '\f', "%s", t->name);
    cr_assert_eq(th_raw_read(&loop, fd, got, 1, 100), 0, "%s: more was sent", t->name);
    close(fd);
    nipc_free(srv.ipc);

    /* With allow_reserved_events both ends agree again: it is sent. */
    th_config(&cfg);
    cfg.allow_reserved_events = true;
    start_server(t, &cfg, "send2.sock");
    fd = raw_client(t, &sock);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "connect", NULL), 0, "%s", t->name);
    static const char frame[] = "{\"type\":\"connect\",\"data\":{}}\f";
    cr_assert_eq(th_raw_read(&loop, fd, got, sizeof frame - 1, 2000), sizeof frame - 1);
    close(fd);
    nipc_free(srv.ipc);
}

/* ---- writes past 4 GiB ----------------------------------------------------------------------- */

/* MemAvailable in GiB, from /proc/meminfo (0 when unknown). */
static unsigned long mem_available_gib(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    unsigned long kib = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "MemAvailable: %lu kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib / (1024 * 1024);
}

/*
 * One write of more than 4 GiB: a uv_buf_t holds an unsigned length, and the queue was
 * handed to libuv in one buffer cast to it, so everything past 4 GiB was lost. Four frames
 * of 1.1 GiB emitted while the client connects make one queue of 4.4 GiB, written when the
 * connection comes up; a raw peer counts every byte and every frame.
 */
Test(limits, a_queue_past_4_gib_is_written_whole, .timeout = 300)
{
    /* The string, the queue with its growth, and the sanitizers' copies. */
    if (mem_available_gib() < 14)
        cr_skip_test("needs 14 GiB of free memory, %lu GiB available", mem_available_gib());
    if (th_valgrind())
        cr_skip_test("4.6 GB through valgrind takes hours");
    const th_transport_t unix_t = {"unix", TH_UNIX};
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = 0;
    cfg.max_message_size = SIZE_MAX;
    cfg.stop_retrying = true;
    int port;
    int lfd = th_raw_listen_any(&unix_t, dir, "huge.sock", &port);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(nipc_connect_to(ipc, "huge", th_path(dir, "huge.sock"), &c), 0);
    const size_t len = (size_t)1100 << 20;
    char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    memset(bytes, 'z', len);
    json_t *s = json_stringn_nocheck(bytes, len);
    free(bytes);
    cr_assert_not_null(s);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(nipc_client_emit(c, "huge", s), 0);
    json_decref(s);
    const size_t frame = len + sizeof "{\"type\":\"huge\",\"data\":\"\"}\f" - 1;
    cr_assert_gt(4 * frame, (size_t)UINT32_MAX);

    int fd = th_raw_accept(&loop, lfd, 5000);
    cr_assert(fd >= 0);
    static char buf[1 << 20];
    size_t got = 0, frames = 0;
    uint64_t end = uv_hrtime() / 1000000 + 240000;
    while (got < 4 * frame && uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            poll(&pfd, 1, 1);
            continue;
        }
        got += (size_t)r;
        for (const char *p = buf; (p = memchr(p, '\f', (size_t)(buf + r - p))) != NULL; p++)
            frames++;
    }
    cr_assert_eq(got, 4 * frame, "%zu of %zu bytes arrived", got, 4 * frame);
    cr_assert_eq(frames, 4);
    close(fd);
    close(lfd);
    nipc_free(ipc);
}
