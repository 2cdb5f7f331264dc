/* SPDX-License-Identifier: MIT */
/*
 * The wire, byte for byte, over every stream transport of the suite (a Unix socket, TCP on
 * 127.0.0.1 and on ::1, see ../support/transport.h): a nipc server or client on one side, a
 * raw socket of the same transport on the other. What nipc writes (W1-W3, W7, S13); how it
 * cuts what it reads into frames (W8, W9, W15, W16); and what it does with frames it cannot
 * dispatch (W11-W14): an `error` event, the connection kept open, every other connection
 * untouched. A TCP read may return less than was written: every byte comparison reads until
 * it has all it expects.
 */
#include "../support/transport.h"

static uv_loop_t loop;
static char dir[64];

/* ---- every event kept whole (th_rec_t cuts the data to fit) ---------------------------- */

#define MAX_KEPT 1024

typedef struct kept {
    int n;
    char type[MAX_KEPT][64];
    json_t *data[MAX_KEPT]; /* a reference, or NULL when the event had none */
    int status[MAX_KEPT];
    nipc_socket_t *socket[MAX_KEPT];
} kept_t;

static void keep(const nipc_event_t *ev, void *arg)
{
    kept_t *k = arg;
    if (k->n >= MAX_KEPT)
        return;
    snprintf(k->type[k->n], sizeof k->type[0], "%s", ev->type);
    k->data[k->n] = ev->data != NULL ? json_incref(ev->data) : NULL;
    k->status[k->n] = ev->status;
    k->socket[k->n] = ev->socket;
    k->n++;
}

static int kept_count(const kept_t *k, const char *type)
{
    int c = 0;
    for (int i = 0; i < k->n; i++)
        c += strcmp(k->type[i], type) == 0;
    return c;
}

static void kept_free(kept_t *k)
{
    for (int i = 0; i < k->n; i++)
        json_decref(k->data[i]);
    k->n = 0;
}

/* Big, so kept out of the stack. */
static kept_t slog;   /* the server's events */
static kept_t cl_log; /* the client's events */
static th_server_t srv, srv2;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
    memset(&slog, 0, sizeof slog);
    memset(&cl_log, 0, sizeof cl_log);
}

static void teardown(void)
{
    kept_free(&slog);
    kept_free(&cl_log);
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(wire, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ---------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Runs the loop until *v >= want or `ms` pass. */
static bool wait_int(const int *v, int want, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (*v < want && now_ms() < end)
        th_run_for(&loop, 1);
    return *v >= want;
}

static bool wait_kept(const kept_t *k, const char *type, int n, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    while (kept_count(k, type) < n && now_ms() < end)
        th_run_for(&loop, 1);
    return kept_count(k, type) >= n;
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
    th_raw_send(&loop, fd, p, n, 5000);
}

static void send_str(int fd, const char *s)
{
    send_bytes(fd, s, strlen(s));
}

/* "7b 22 ..." for readable byte comparisons. */
static char *hex(const char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(n * 3 + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++) {
        s[i * 3] = digits[(unsigned char)p[i] >> 4];
        s[i * 3 + 1] = digits[(unsigned char)p[i] & 15];
        s[i * 3 + 2] = ' ';
    }
    s[n > 0 ? n * 3 - 1 : 0] = '\0';
    return s;
}

/* Reads exactly `n` bytes from a raw socket and compares them with `want`. */
static void expect_bytes(const th_transport_t *t, int fd, const char *want, size_t n)
{
    char *got = malloc(n + 1);
    cr_assert_not_null(got, "%s", t->name);
    size_t k = th_raw_read(&loop, fd, got, n, 2000);
    char *hg = hex(got, k);
    char *hw = hex(want, n);
    cr_assert_eq(k, n, "%s: read %zu of %zu bytes: %s", t->name, k, n, hg);
    cr_assert_str_eq(hg, hw, "%s", t->name);
    free(hg);
    free(hw);
    free(got);
}

static void expect_str(const th_transport_t *t, int fd, const char *want)
{
    expect_bytes(t, fd, want, strlen(want));
}

/* Nothing arrives on the raw socket for `ms` (and it is not closed: see its callers). */
static void expect_silence(const th_transport_t *t, int fd, unsigned ms)
{
    char c;
    cr_assert_eq(th_raw_read(&loop, fd, &c, 1, ms), 0, "%s: unexpected byte 0x%02x", t->name,
                 (unsigned char)c);
}

/* A started server at dir/name, every event kept in slog. */
static void server_open(th_server_t *s, const th_transport_t *t, const nipc_config_t *cfg,
                        const char *name)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        cfg = &def;
    }
    th_server_start_on(s, &loop, cfg, t, dir, name);
    nipc_server_on(s->server, NIPC_EVENT_ANY, keep, &slog);
}

/* Connects a raw client to `s` and waits for its connect; *sock is the server's peer. */
static int raw_client(const th_transport_t *t, th_server_t *s, nipc_socket_t **sock)
{
    int before = th_count(&s->rec, "connect");
    int fd = th_raw_connect_server(t, s->server);
    cr_assert(wait_type(&s->rec, "connect", before + 1, 2000), "%s: the server saw no connect",
              t->name);
    if (sock != NULL)
        *sock = s->rec.socket[th_find(&s->rec, "connect", before)];
    return fd;
}

/* A nipc client connected to a raw listening socket, every event kept in cl_log. */
typedef struct raw_server {
    int lfd; /* the raw listener */
    int fd;  /* the raw side of the accepted connection */
    nipc_t *ipc;
    nipc_client_t *c;
    bool connected;
} raw_server_t;

static void client_to_raw(raw_server_t *p, const th_transport_t *t, const nipc_config_t *cfg,
                          const char *name)
{
    nipc_config_t def;
    if (cfg == NULL) {
        th_config(&def);
        def.stop_retrying = true;
        cfg = &def;
    }
    memset(p, 0, sizeof *p);
    int port;
    p->lfd = th_raw_listen_any(t, dir, name, &port);
    cr_assert_eq(nipc_new(&p->ipc, &loop, cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(p->ipc, t, "raw", dir, name, port, &p->c), 0, "%s", t->name);
    nipc_client_on(p->c, NIPC_EVENT_ANY, keep, &cl_log);
    nipc_client_on(p->c, "connect", th_flag, &p->connected);
    cr_assert(th_run_until(&loop, &p->connected, 2000), "%s: the client did not connect", t->name);
    p->fd = th_raw_accept_any(&loop, t, p->lfd, 2000);
    cr_assert(p->fd >= 0, "%s: nothing to accept", t->name);
}

static void raw_server_close(raw_server_t *p)
{
    nipc_free(p->ipc);
    close(p->fd);
    close(p->lfd);
}

/* ---- checks of what the receiving side published ------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Event i of `k` is the error for a frame that could not be dispatched (W11): the code,
 * the peer, and node-ipc's payload {message, err, response}. `response` NULL means the
 * payload's response is null (a `null` frame); otherwise it is the frame text, rlen bytes.
 */
static void assert_bad_frame(const th_transport_t *t, const kept_t *k, int i, int status,
                             nipc_socket_t *sock, const char *response, size_t rlen)
{
    cr_assert_lt(i, k->n, "%s: no event %d", t->name, i);
    cr_assert_str_eq(k->type[i], "error", "%s: event %d is %s, not error", t->name, i, k->type[i]);
    cr_assert_eq(k->status[i], status, "%s: status %s, want %s", t->name,
                 nipc_err_name(k->status[i]), nipc_err_name(status));
    cr_assert_eq(k->socket[i], sock, "%s", t->name);
    const json_t *d = k->data[i];
    cr_assert(json_is_object(d), "%s: the payload is not an object", t->name);
    cr_assert_not_null(str_of(d, "message"), "%s", t->name);
    if (status == UV_EPROTO)
        cr_assert_str_eq(str_of(d, "message"), "Invalid JSON response format", "%s", t->name);
    cr_assert(str_of(d, "err") != NULL && str_of(d, "err")[0] != '\0', "%s: err is not a string",
              t->name);
    const json_t *r = json_object_get(d, "response");
    if (response == NULL) {
        cr_assert(json_is_null(r), "%s: response should be null", t->name);
        return;
    }
    cr_assert(json_is_string(r), "%s: response is not a string", t->name);
    cr_assert_eq(json_string_length(r), rlen, "%s: response is %zu bytes, want %zu", t->name,
                 json_string_length(r), rlen);
    cr_assert(memcmp(json_string_value(r), response, rlen) == 0, "%s: response differs: %s",
              t->name, json_string_value(r));
}

/* Event i of `k` is the refusal of a frame named like a lifecycle event (W14). */
static void assert_refused(const th_transport_t *t, const kept_t *k, int i, nipc_socket_t *sock,
                           const char *frame)
{
    assert_bad_frame(t, k, i, NIPC_ERESERVED, sock, frame, strlen(frame));
}

/* Event i of `k` is a dispatched `type` whose data equals `data` (NULL: no data at all). */
static void assert_dispatch(const th_transport_t *t, const kept_t *k, int i, const char *type,
                            const json_t *data, nipc_socket_t *sock)
{
    cr_assert_lt(i, k->n, "%s: no event %d", t->name, i);
    cr_assert_str_eq(k->type[i], type, "%s", t->name);
    cr_assert_eq(k->status[i], 0, "%s", t->name);
    cr_assert_eq(k->socket[i], sock, "%s", t->name);
    if (data == NULL) {
        cr_assert_null(k->data[i], "%s: data should be absent", t->name);
        return;
    }
    char *got = json_dumps(k->data[i], JSON_COMPACT | JSON_ENCODE_ANY);
    char *want = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert(json_equal(k->data[i], (json_t *)data), "%s: data %s, want %s", t->name, got, want);
    free(got);
    free(want);
}

/* ---- W1, W2, W3: the bytes of a frame ----------------------------------------------------- */

/* The two client -> server frames of §11, as the spec prints them. */
static const char W2_HEX_56[] =
    "7b 22 74 79 70 65 22 3a 22 6d 65 73 73 61 67 65 22 2c 22 64 61 74 61 22 3a 7b 22 69 64 22 "
    "3a 22 68 65 6c 6c 6f 22 2c 22 6d 65 73 73 61 67 65 22 3a 22 68 69 22 7d 7d 0c";
static const char W2_HEX_31[] = "7b 22 74 79 70 65 22 3a 22 6d 65 73 73 61 67 65 22 2c 22 64 61 74 "
                                "61 22 3a 22 68 69 22 7d 0c";

/* The spec's hex as bytes. */
static size_t unhex(const char *h, char *out)
{
    size_t n = 0;
    for (const char *p = h; *p != '\0';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        cr_assert_eq(sscanf(p, "%2x", &v), 1);
        out[n++] = (char)v;
        p += 2;
    }
    return n;
}

static void expect_hex(const th_transport_t *t, int fd, const char *h)
{
    char want[256];
    size_t n = unhex(h, want);
    expect_bytes(t, fd, want, n);
}

ParameterizedTestParameters(wire, w1_w2_w3_client_frames_are_the_bytes_node_ipc_writes)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w1_w2_w3_client_frames_are_the_bytes_node_ipc_writes)
{
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w2c.sock");

    cr_assert_eq(nipc_client_emit_new(p.c, "message",
                                      json_pack("{s:s, s:s}", "id", "hello", "message", "hi")),
                 0, "%s", t->name);
    expect_hex(t, p.fd, W2_HEX_56);
    cr_assert_eq(nipc_client_emit_new(p.c, "message", json_string("hi")), 0, "%s", t->name);
    expect_hex(t, p.fd, W2_HEX_31);

    /* W3: no data is {}; false and 0 are sent as they are. */
    cr_assert_eq(nipc_client_emit(p.c, "x", NULL), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"x\",\"data\":{}}\f");
    cr_assert_eq(nipc_client_emit(p.c, "x", json_false()), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"x\",\"data\":false}\f");
    cr_assert_eq(nipc_client_emit_new(p.c, "x", json_integer(0)), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"x\",\"data\":0}\f");
    expect_silence(t, p.fd, 50);
    raw_server_close(&p);
}

ParameterizedTestParameters(wire, w1_w2_w3_s13_server_frames_are_the_bytes_node_ipc_writes)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w1_w2_w3_s13_server_frames_are_the_bytes_node_ipc_writes)
{
    server_open(&srv, t, NULL, "w2s.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);

    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "message",
                                      json_pack("{s:s, s:s}", "id", "hello", "message", "hi")),
                 0, "%s", t->name);
    expect_hex(t, fd, W2_HEX_56);
    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "message", json_string("hi")), 0, "%s",
                 t->name);
    expect_hex(t, fd, W2_HEX_31);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "x", NULL), 0, "%s", t->name);
    expect_str(t, fd, "{\"type\":\"x\",\"data\":{}}\f");

    /* Broadcast writes the same bytes (S14). */
    cr_assert_eq(nipc_server_broadcast_new(srv.server, "message", json_string("hi")), 0, "%s",
                 t->name);
    expect_hex(t, fd, W2_HEX_31);
    expect_silence(t, fd, 50);
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- W7: nothing is sent on connect ------------------------------------------------------ */

ParameterizedTestParameters(wire, w7_a_client_sends_nothing_when_it_connects)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w7_a_client_sends_nothing_when_it_connects)
{
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w7c.sock");
    expect_silence(t, p.fd, 200);
    /* Still connected: the first byte that arrives is the first emit's. */
    cr_assert(nipc_client_connected(p.c), "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "first", NULL), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"first\",\"data\":{}}\f");
    raw_server_close(&p);
}

ParameterizedTestParameters(wire, w7_a_server_sends_nothing_when_it_accepts)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w7_a_server_sends_nothing_when_it_accepts)
{
    server_open(&srv, t, NULL, "w7s.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    expect_silence(t, fd, 200);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "first", NULL), 0, "%s", t->name);
    expect_str(t, fd, "{\"type\":\"first\",\"data\":{}}\f");
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- W8: every complete frame of a read, at once -------------------------------------- */

static unsigned loop_turns;

static void count_turn(uv_check_t *h)
{
    (void)h;
    loop_turns++;
}

typedef struct w8 {
    int n;
    int out_of_order;
    unsigned turn[64];
} w8_t;

static void w8_frame(const nipc_event_t *ev, void *arg)
{
    w8_t *w = arg;
    if (w->n >= 64)
        return;
    if (!json_is_integer(ev->data) || json_integer_value(ev->data) != w->n)
        w->out_of_order++;
    w->turn[w->n++] = loop_turns;
}

ParameterizedTestParameters(wire, w8_fifty_frames_in_one_write_are_published_in_one_loop_turn)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w8_fifty_frames_in_one_write_are_published_in_one_loop_turn)
{
    server_open(&srv, t, NULL, "w8.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);

    uv_check_t turn;
    uv_check_init(&loop, &turn);
    uv_check_start(&turn, count_turn);
    uv_unref((uv_handle_t *)&turn);

    w8_t w = {0};
    nipc_server_on(srv.server, "n", w8_frame, &w);
    char buf[2048];
    size_t len = 0;
    for (int i = 0; i < 50; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "{\"type\":\"n\",\"data\":%d}\f", i);
    cr_assert_lt(len, sizeof buf, "%s", t->name);
    send_bytes(fd, buf, len); /* one write(); nothing else is sent */

    cr_assert(wait_int(&w.n, 50, 2000), "%s: only %d of 50 frames", t->name, w.n);
    th_run_for(&loop, 20);
    cr_assert_eq(w.n, 50, "%s", t->name);
    cr_assert_eq(w.out_of_order, 0, "%s: %d frames out of order", t->name, w.out_of_order);
    for (int i = 1; i < 50; i++)
        cr_assert_eq(w.turn[i], w.turn[0], "%s: frame %d came %u loop turns after frame 0", t->name,
                     i, w.turn[i] - w.turn[0]);
    cr_assert_eq(kept_count(&slog, "error"), 0, "%s", t->name);

    uv_close((uv_handle_t *)&turn, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* `turn` lives on this stack */
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- W9, W15: frames split at every byte -------------------------------------------------- */

/* Checks each published frame against a cycle of expected (type, data). */
typedef struct expect_seq {
    int n;   /* frames seen */
    int bad; /* frames that were not the expected one */
    char first_bad[256];
    const char *types[4];
    json_t *datas[4];
    int period;
} expect_seq_t;

static void check_seq(const nipc_event_t *ev, void *arg)
{
    expect_seq_t *x = arg;
    if (strcmp(ev->type, "connect") == 0 || strcmp(ev->type, "start") == 0)
        return;
    int k = x->n++ % x->period;
    if (strcmp(ev->type, x->types[k]) == 0 && ev->data != NULL && json_equal(ev->data, x->datas[k]))
        return;
    if (x->bad++ == 0) {
        char *s = ev->data ? json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        snprintf(x->first_bad, sizeof x->first_bad, "frame %d: %s %s (status %s), want %s",
                 x->n - 1, ev->type, s ? s : "(no data)", nipc_err_name(ev->status), x->types[k]);
        free(s);
    }
}

static void expect_seq_free(expect_seq_t *x)
{
    for (int i = 0; i < x->period; i++)
        json_decref(x->datas[i]);
}

/* How many whole delimiters the first `n` bytes of `p` hold. */
static int delimiters_in(const char *p, size_t n, const char *delim)
{
    size_t d = strlen(delim);
    int c = 0;
    for (size_t i = 0; i + d <= n;) {
        if (memcmp(p + i, delim, d) == 0) {
            c++;
            i += d;
        } else {
            i++;
        }
    }
    return c;
}

/*
 * Sends `in` as two writes split at every offset, running the loop between them. The frames
 * complete in the first piece must be published before the second is sent (no hold-back,
 * unlike legacy W10), and all of them, intact and in order, once it is.
 */
static void feed_every_split(const th_transport_t *t, int fd, const char *in, size_t len,
                             const char *delim, expect_seq_t *x)
{
    int frames = delimiters_in(in, len, delim);
    for (size_t at = 1; at < len; at++) {
        int base = x->n;
        int whole = delimiters_in(in, at, delim);
        send_bytes(fd, in, at);
        cr_assert(wait_int(&x->n, base + whole, 2000), "%s: split at %zu: %d of %d frames", t->name,
                  at, x->n - base, whole);
        for (int i = 0; i < 3; i++)
            uv_run(&loop, UV_RUN_NOWAIT);
        cr_assert_eq(x->n, base + whole, "%s: split at %zu: a frame was published early", t->name,
                     at);
        send_bytes(fd, in + at, len - at);
        cr_assert(wait_int(&x->n, base + frames, 2000), "%s: split at %zu: %d of %d frames",
                  t->name, at, x->n - base, frames);
        cr_assert_eq(x->bad, 0, "%s: split at %zu: %s", t->name, at, x->first_bad);
    }
}

/* é (2 bytes), € (3 bytes) and 😀 (4 bytes) in every frame; the last frame is one 😀. */
#define E_ACUTE "\xc3\xa9"
#define EURO "\xe2\x82\xac"
#define GRIN "\xf0\x9f\x98\x80"
static const char W9_IN[] =
    "{\"type\":\"a\",\"data\":\"h" E_ACUTE "llo " EURO GRIN "\"}\f"
    "{\"type\":\"b\",\"data\":{\"s\":\"" GRIN EURO E_ACUTE "\",\"n\":[1,2]}}\f"
    "{\"type\":\"c\",\"data\":\"" GRIN "\"}\f";

static void w9_expect(expect_seq_t *x)
{
    memset(x, 0, sizeof *x);
    x->period = 3;
    x->types[0] = "a";
    x->types[1] = "b";
    x->types[2] = "c";
    x->datas[0] = json_string("h" E_ACUTE "llo " EURO GRIN);
    x->datas[1] = json_pack("{s:s, s:[i,i]}", "s", GRIN EURO E_ACUTE, "n", 1, 2);
    x->datas[2] = json_string(GRIN);
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(x->datas[i]);
}

ParameterizedTestParameters(wire, w9_frames_and_utf8_split_at_every_byte_reach_a_server_intact)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w9_frames_and_utf8_split_at_every_byte_reach_a_server_intact)
{
    server_open(&srv, t, NULL, "w9s.sock");
    int fd = raw_client(t, &srv, NULL);
    expect_seq_t x;
    w9_expect(&x);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, check_seq, &x);

    /* The splits include every byte inside each 2-, 3- and 4-byte sequence. */
    const size_t len = sizeof W9_IN - 1;
    cr_assert_not_null(memmem(W9_IN, len, GRIN "\"}\f", 7), "%s", t->name);
    feed_every_split(t, fd, W9_IN, len, "\f", &x);
    cr_assert_eq(x.n, 3 * (int)(len - 1), "%s", t->name);
    cr_assert_eq(kept_count(&slog, "error"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);

    expect_seq_free(&x);
    nipc_free(srv.ipc);
    close(fd);
}

ParameterizedTestParameters(wire, w9_frames_fed_one_byte_at_a_time_reach_a_client_intact)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w9_frames_fed_one_byte_at_a_time_reach_a_client_intact)
{
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w9c.sock");
    expect_seq_t x;
    w9_expect(&x);
    nipc_client_on(p.c, NIPC_EVENT_ANY, check_seq, &x);

    /* Every byte its own write, the loop run after each: a 4-byte sequence arrives in four
     * reads. */
    const size_t len = sizeof W9_IN - 1;
    for (size_t i = 0; i < len; i++) {
        send_bytes(p.fd, W9_IN + i, 1);
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    cr_assert(wait_int(&x.n, 3, 2000), "%s: %d of 3 frames", t->name, x.n);
    th_run_for(&loop, 20);
    cr_assert_eq(x.n, 3, "%s", t->name);
    cr_assert_eq(x.bad, 0, "%s: %s", t->name, x.first_bad);

    expect_seq_free(&x);
    raw_server_close(&p);
}

/* ---- W11: a frame that is not JSON ---------------------------------------------------------- */

ParameterizedTestParameters(wire,
                            w11_invalid_json_is_an_error_event_and_the_server_keeps_the_connection)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w11_invalid_json_is_an_error_event_and_the_server_keeps_the_connection)
{
    server_open(&srv, t, NULL, "w11s.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    int base = slog.n;

    send_str(fd, "{\"type\":\"a\",\f");
    cr_assert(wait_int(&slog.n, base + 1, 2000), "%s", t->name);
    assert_bad_frame(t, &slog, base, UV_EPROTO, sock, "{\"type\":\"a\",", 12);

    /* Still open both ways. */
    send_str(fd, "{\"type\":\"ok\",\"data\":1}\f");
    cr_assert(wait_int(&slog.n, base + 2, 2000), "%s", t->name);
    json_t *one = json_integer(1);
    assert_dispatch(t, &slog, base + 1, "ok", one, sock);
    cr_assert_eq(nipc_server_emit_new(srv.server, sock, "reply", json_integer(7)), 0, "%s",
                 t->name);
    expect_str(t, fd, "{\"type\":\"reply\",\"data\":7}\f");

    /* Empty frames: a lone delimiter, and two delimiters in a row between good frames. */
    send_str(fd, "\f");
    cr_assert(wait_int(&slog.n, base + 3, 2000), "%s", t->name);
    assert_bad_frame(t, &slog, base + 2, UV_EPROTO, sock, "", 0);
    send_str(fd, "{\"type\":\"ok\",\"data\":2}\f\f{\"type\":\"ok\",\"data\":3}\f");
    cr_assert(wait_int(&slog.n, base + 6, 2000), "%s", t->name);
    json_t *two = json_integer(2), *three = json_integer(3);
    assert_dispatch(t, &slog, base + 3, "ok", two, sock);
    assert_bad_frame(t, &slog, base + 4, UV_EPROTO, sock, "", 0);
    assert_dispatch(t, &slog, base + 5, "ok", three, sock);

    th_run_for(&loop, 20);
    cr_assert_eq(slog.n, base + 6, "%s: unexpected events: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "still", NULL), 0, "%s", t->name);
    expect_str(t, fd, "{\"type\":\"still\",\"data\":{}}\f");

    json_decref(one);
    json_decref(two);
    json_decref(three);
    nipc_free(srv.ipc);
    close(fd);
}

ParameterizedTestParameters(wire, w11_invalid_json_is_an_error_event_and_the_client_stays_connected)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w11_invalid_json_is_an_error_event_and_the_client_stays_connected)
{
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w11c.sock");
    int base = cl_log.n;

    send_str(p.fd, "not json\f{\"type\":\"ok\",\"data\":1}\f\f");
    cr_assert(wait_int(&cl_log.n, base + 3, 2000), "%s: %d events", t->name, cl_log.n - base);
    assert_bad_frame(t, &cl_log, base, UV_EPROTO, NULL, "not json", 8);
    json_t *one = json_integer(1);
    assert_dispatch(t, &cl_log, base + 1, "ok", one, NULL);
    assert_bad_frame(t, &cl_log, base + 2, UV_EPROTO, NULL, "", 0);
    json_decref(one);

    th_run_for(&loop, 20);
    cr_assert_eq(cl_log.n, base + 3, "%s", t->name);
    cr_assert(nipc_client_connected(p.c), "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "back", NULL), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"back\",\"data\":{}}\f");
    raw_server_close(&p);
}

/* ---- W12: a frame without data ------------------------------------------------------------ */

ParameterizedTestParameters(wire, w12_a_frame_without_data_is_published_with_null_data)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w12_a_frame_without_data_is_published_with_null_data)
{
    server_open(&srv, t, NULL, "w12s.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    int base = slog.n;

    /* No data; unknown keys; keys in another order; whitespace around everything. */
    send_str(fd, "{\"type\":\"nodata\"}\f"
                 "{\"type\":\"extra\",\"data\":5,\"junk\":[1]}\f"
                 "{\"data\":\"x\",\"type\":\"swapped\"}\f"
                 " { \"type\" : \"spaced\" , \"data\" : null } \f");
    cr_assert(wait_int(&slog.n, base + 4, 2000), "%s: %d events", t->name, slog.n - base);
    json_t *five = json_integer(5), *x = json_string("x");
    assert_dispatch(t, &slog, base, "nodata", NULL, sock);
    assert_dispatch(t, &slog, base + 1, "extra", five, sock);
    assert_dispatch(t, &slog, base + 2, "swapped", x, sock);
    assert_dispatch(t, &slog, base + 3, "spaced", json_null(), sock);
    json_decref(five);
    json_decref(x);

    /* The client side too. */
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w12c.sock");
    int cbase = cl_log.n;
    send_str(p.fd, "{\"type\":\"nodata\"}\f");
    cr_assert(wait_int(&cl_log.n, cbase + 1, 2000), "%s", t->name);
    assert_dispatch(t, &cl_log, cbase, "nodata", NULL, NULL);

    raw_server_close(&p);
    nipc_free(srv.ipc);
    close(fd);
}

/*
 * W5 says Node writes a lone surrogate as a \uXXXX escape: JSON.stringify("😀".slice(0, 1))
 * is "\ud83d" (Node 20), and a node-ipc receiver's JSON.parse accepts it. Such a frame is
 * valid on the wire, so nipc must dispatch it, not refuse it; the string it cannot hold in
 * UTF-8 becomes U+FFFD, as Node's own UTF-8 encoder does (README, "Text").
 */
ParameterizedTestParameters(wire, w5_w12_a_lone_surrogate_escape_written_by_node_is_dispatched)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w5_w12_a_lone_surrogate_escape_written_by_node_is_dispatched)
{
    server_open(&srv, t, NULL, "w5.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    int base = slog.n;

    /* A surrogate pair is one character: the control case. */
    send_str(fd, "{\"type\":\"pair\",\"data\":\"\\ud83d\\ude00\"}\f");
    cr_assert(wait_int(&slog.n, base + 1, 2000), "%s", t->name);
    json_t *grin = json_string(GRIN);
    assert_dispatch(t, &slog, base, "pair", grin, sock);
    json_decref(grin);

    /* Each as the compact frame Node writes and with a space, which only jansson's general
     * path reads: the surrogate becomes U+FFFD (EF BF BD) either way. */
    send_str(fd, "{\"type\":\"lone\",\"data\":\"\\ud83d\"}\f"
                 "{\"type\":\"lone\",\"data\":\"a\\udc00b\"}\f"
                 "{\"type\":\"lone\", \"data\":\"\\ud83d\"}\f"
                 "{\"type\":\"lone\", \"data\":\"a\\udc00b\"}\f");
    static const char *const want[] = {"\xef\xbf\xbd", "a\xef\xbf\xbd"
                                                       "b"};
    cr_assert(wait_int(&slog.n, base + 5, 2000), "%s", t->name);
    for (int i = base + 1; i < base + 5; i++) {
        char *d = slog.data[i] ? json_dumps(slog.data[i], JSON_ENCODE_ANY) : NULL;
        cr_expect_str_eq(slog.type[i], "lone", "%s: a frame Node wrote was refused: %s %s (%s)",
                         t->name, slog.type[i], d ? d : "", nipc_err_name(slog.status[i]));
        cr_assert(json_is_string(slog.data[i]), "%s: data is not a string", t->name);
        const char *w = want[(i - base - 1) % 2];
        cr_assert(json_string_length(slog.data[i]) == strlen(w) &&
                      memcmp(json_string_value(slog.data[i]), w, strlen(w)) == 0,
                  "%s: frame %d gave %s, not U+FFFD", t->name, i - base, d ? d : "");
        free(d);
    }
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- W13: hostile frames ------------------------------------------------------------------ */

typedef struct hostile {
    const char *what;
    char *frame;
    size_t len;
    int status;       /* the error code, or 0 when the frame is dispatched */
    const char *type; /* when dispatched */
} hostile_t;

static int add_hostile(hostile_t *h, int n, const char *what, const char *p, size_t len, int status,
                       const char *type)
{
    h[n].what = what;
    h[n].frame = malloc(len + 1);
    cr_assert_not_null(h[n].frame);
    memcpy(h[n].frame, p, len);
    h[n].frame[len] = '\0';
    h[n].len = len;
    h[n].status = status;
    h[n].type = type;
    return n + 1;
}

#define ADD_STR(what, s, status, type) n = add_hostile(h, n, what, s, sizeof s - 1, status, type)

static bool valid_utf8(const char *p, size_t n)
{
    json_t *s = json_stringn(p, n);
    json_decref(s);
    return s != NULL;
}

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

ParameterizedTestParameters(wire, w13_hostile_frames_neither_crash_nor_close_any_connection)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w13_hostile_frames_neither_crash_nor_close_any_connection, .timeout = 60)
{
    server_open(&srv, t, NULL, "w13.sock");
    nipc_socket_t *sa, *sb;
    int a = raw_client(t, &srv, &sa);
    int b = raw_client(t, &srv, &sb);
    json_t *one = json_integer(1);
    int first = slog.n;
    send_str(b, "{\"type\":\"fromb\",\"data\":1}\f");
    cr_assert(wait_int(&slog.n, first + 1, 2000), "%s", t->name);
    assert_dispatch(t, &slog, first, "fromb", one, sb);

    hostile_t h[32];
    int n = 0;
    ADD_STR("type missing", "{\"data\":1}", NIPC_EBADTYPE, NULL);
    ADD_STR("type a number", "{\"type\":7,\"data\":1}", NIPC_EBADTYPE, NULL);
    ADD_STR("type an object", "{\"type\":{\"a\":1}}", NIPC_EBADTYPE, NULL);
    ADD_STR("type an array", "{\"type\":[\"a\"]}", NIPC_EBADTYPE, NULL);
    ADD_STR("type null", "{\"type\":null}", NIPC_EBADTYPE, NULL);
    ADD_STR("top-level array", "[1,2,3]", NIPC_EBADTYPE, NULL);
    ADD_STR("top-level number", "42", NIPC_EBADTYPE, NULL);
    ADD_STR("top-level string", "\"str\"", NIPC_EBADTYPE, NULL);
    ADD_STR("top-level true", "true", NIPC_EBADTYPE, NULL);
    ADD_STR("top-level null", "null", UV_EPROTO, NULL);
    /* Received prototype names are legal strings: only sending them is refused (W13). */
    ADD_STR("constructor", "{\"type\":\"constructor\",\"data\":1}", 0, "constructor");
    ADD_STR("__proto__", "{\"type\":\"__proto__\",\"data\":1}", 0, "__proto__");
    ADD_STR("toString", "{\"type\":\"toString\",\"data\":1}", 0, "toString");
    ADD_STR("hasOwnProperty", "{\"type\":\"hasOwnProperty\",\"data\":1}", 0, "hasOwnProperty");
    ADD_STR("invalid UTF-8 in type", "{\"type\":\"\xff\xfe\"}", UV_EPROTO, NULL);
    ADD_STR("truncated UTF-8 in data", "{\"type\":\"t\",\"data\":\"\xc3(\"}", UV_EPROTO, NULL);
    ADD_STR("escaped NUL in type", "{\"type\":\"a\\u0000b\"}", NIPC_EBADTYPE, NULL);
    ADD_STR("raw NUL in type", "{\"type\":\"a\0b\"}", UV_EPROTO, NULL);
    ADD_STR("huge integer", "{\"type\":\"big\",\"data\":123456789012345678901234567890}", 0, "big");
    ADD_STR("unterminated string", "{\"type\":\"t", UV_EPROTO, NULL);

    /* 100000 '[': deeper than any parser stack should go. */
    size_t deep = 100000;
    char *p = malloc(deep);
    cr_assert_not_null(p, "%s", t->name);
    memset(p, '[', deep);
    n = add_hostile(h, n, "100000 nested arrays", p, deep, UV_EPROTO, NULL);
    free(p);

    /* 1 MB of random bytes (never the delimiter), far below max_message_size. */
    size_t big = 1 << 20;
    p = malloc(big);
    cr_assert_not_null(p, "%s", t->name);
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < big; i++) {
        p[i] = (char)(xorshift(&seed) & 0xff);
        if (p[i] == '\f')
            p[i] = 'f';
    }
    n = add_hostile(h, n, "1 MB of random bytes", p, big, UV_EPROTO, NULL);
    free(p);

    for (int i = 0; i < n; i++) {
        int base = slog.n;
        send_bytes(a, h[i].frame, h[i].len);
        send_bytes(a, "\f", 1);
        cr_assert(wait_int(&slog.n, base + 1, 5000), "%s: %s: no event", t->name, h[i].what);
        if (h[i].status == 0) {
            cr_assert_str_eq(slog.type[base], h[i].type, "%s: %s: published %s (%s)", t->name,
                             h[i].what, slog.type[base], nipc_err_name(slog.status[base]));
            cr_assert_eq(slog.status[base], 0, "%s: %s", t->name, h[i].what);
            cr_assert_eq(slog.socket[base], sa, "%s: %s", t->name, h[i].what);
            continue;
        }
        cr_assert_str_eq(slog.type[base], "error", "%s: %s: published %s", t->name, h[i].what,
                         slog.type[base]);
        cr_assert_eq(slog.status[base], h[i].status, "%s: %s: %s, want %s", t->name, h[i].what,
                     nipc_err_name(slog.status[base]), nipc_err_name(h[i].status));
        bool valid_text = valid_utf8(h[i].frame, h[i].len);
        if (strcmp(h[i].what, "top-level null") == 0)
            assert_bad_frame(t, &slog, base, h[i].status, sa, NULL, 0);
        else if (valid_text)
            assert_bad_frame(t, &slog, base, h[i].status, sa, h[i].frame, h[i].len);
        else
            cr_assert(json_is_string(json_object_get(slog.data[base], "response")),
                      "%s: %s: response is not a string", t->name, h[i].what);
    }

    /* Invalid UTF-8 is replaced by U+FFFD in the response, as Node's decoder does. */
    int bad_utf8 = -1;
    for (int i = 0; i < slog.n; i++) {
        const char *r = slog.status[i] == UV_EPROTO ? str_of(slog.data[i], "response") : NULL;
        if (r != NULL && strcmp(r, "{\"type\":\"\xef\xbf\xbd\xef\xbf\xbd\"}") == 0)
            bad_utf8 = i;
    }
    cr_assert_geq(bad_utf8, 0, "%s: no response with U+FFFD for the invalid UTF-8 frame", t->name);

    /* The huge integer is read as JavaScript reads it: a double. */
    int bigi = -1;
    for (int i = 0; i < slog.n; i++)
        if (strcmp(slog.type[i], "big") == 0)
            bigi = i;
    cr_assert_geq(bigi, 0, "%s", t->name);
    cr_assert(json_is_real(slog.data[bigi]), "%s: huge integer not read as a double", t->name);
    cr_assert_eq(json_real_value(slog.data[bigi]), strtod("123456789012345678901234567890", NULL),
                 "%s", t->name);

    /* After all of it: both connections are open and work both ways. */
    int base = slog.n;
    send_str(a, "{\"type\":\"after\",\"data\":1}\f");
    send_str(b, "{\"type\":\"fromb\",\"data\":1}\f");
    cr_assert(wait_int(&slog.n, base + 2, 2000), "%s", t->name);
    assert_dispatch(t, &slog, base, "after", one, sa);
    assert_dispatch(t, &slog, base + 1, "fromb", one, sb);
    th_run_for(&loop, 20);
    cr_assert_eq(slog.n, base + 2, "%s: unexpected events: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(kept_count(&slog, "socket.disconnected"), 0, "%s", t->name);
    cr_assert_eq(nipc_server_socket_count(srv.server), 2, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, sa, "to", NULL), 0, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, sb, "to", NULL), 0, "%s", t->name);
    expect_str(t, a, "{\"type\":\"to\",\"data\":{}}\f");
    expect_str(t, b, "{\"type\":\"to\",\"data\":{}}\f");

    for (int i = 0; i < n; i++)
        free(h[i].frame);
    json_decref(one);
    nipc_free(srv.ipc);
    close(a);
    close(b);
}

/* ---- W14: lifecycle names from the wire ----------------------------------------------------- */

static const char *const reserved[] = {
    "connect", "error", "disconnect", "socket.disconnected", "data", "close",
    "destroy", "drain", "start",
};
#define N_RESERVED (int)(sizeof reserved / sizeof reserved[0])

ParameterizedTestParameters(wire, w14_reserved_names_from_the_wire_are_refused_by_default)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w14_reserved_names_from_the_wire_are_refused_by_default)
{
    server_open(&srv, t, NULL, "w14.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    int connects = th_count(&srv.rec, "connect");
    int starts = th_count(&srv.rec, "start");
    cr_assert_eq(connects, 1, "%s", t->name);
    int first = slog.n;

    for (int i = 0; i < N_RESERVED; i++) {
        char frame[128];
        int len = snprintf(frame, sizeof frame, "{\"type\":\"%s\",\"data\":{\"spoof\":%d}}",
                           reserved[i], i);
        int base = slog.n;
        send_bytes(fd, frame, (size_t)len);
        send_bytes(fd, "\f", 1);
        cr_assert(wait_int(&slog.n, base + 1, 2000), "%s: %s: no event", t->name, reserved[i]);
        assert_bad_frame(t, &slog, base, NIPC_ERESERVED, sock, frame, (size_t)len);
    }
    th_run_for(&loop, 20);
    cr_assert_eq(slog.n, first + N_RESERVED, "%s: unexpected events: %s", t->name,
                 th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "connect"), connects, "%s: a spoofed connect was published",
                 t->name);
    cr_assert_eq(th_count(&srv.rec, "start"), starts, "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "socket.disconnected"), 0, "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "close"), 0, "%s", t->name);

    /* The connection is still there. */
    send_str(fd, "{\"type\":\"real\"}\f");
    cr_assert(wait_int(&slog.n, first + N_RESERVED + 1, 2000), "%s", t->name);
    assert_dispatch(t, &slog, first + N_RESERVED, "real", NULL, sock);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    nipc_free(srv.ipc);
    close(fd);
}

ParameterizedTestParameters(wire, w14_reserved_names_are_dispatched_with_allow_reserved_events)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w14_reserved_names_are_dispatched_with_allow_reserved_events)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.allow_reserved_events = true;
    server_open(&srv, t, &cfg, "w14a.sock");
    nipc_socket_t *sock;
    int fd = raw_client(t, &srv, &sock);
    int first = slog.n;

    for (int i = 0; i < N_RESERVED; i++) {
        char frame[128];
        snprintf(frame, sizeof frame, "{\"type\":\"%s\",\"data\":{\"spoof\":%d}}\f", reserved[i],
                 i);
        int base = slog.n;
        send_str(fd, frame);
        cr_assert(wait_int(&slog.n, base + 1, 2000), "%s: %s: no event", t->name, reserved[i]);
        json_t *want = json_pack("{s:i}", "spoof", i);
        assert_dispatch(t, &slog, base, reserved[i], want, sock);
        json_decref(want);
    }
    th_run_for(&loop, 20);
    cr_assert_eq(slog.n, first + N_RESERVED, "%s: unexpected events: %s", t->name,
                 th_types(&srv.rec));
    /* A dispatched name is only an event: the socket is still connected. */
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "still", NULL), 0, "%s", t->name);
    expect_str(t, fd, "{\"type\":\"still\",\"data\":{}}\f");
    nipc_free(srv.ipc);
    close(fd);
}

ParameterizedTestParameters(wire, w14_reserved_names_reaching_a_client)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w14_reserved_names_reaching_a_client)
{
    /* Refused by default: no second connect, no disconnect, still connected. */
    raw_server_t p;
    client_to_raw(&p, t, NULL, "w14c.sock");
    cr_assert_eq(kept_count(&cl_log, "connect"), 1, "%s", t->name);
    int base = cl_log.n;
    send_str(p.fd, "{\"type\":\"connect\",\"data\":1}\f{\"type\":\"disconnect\"}\f"
                   "{\"type\":\"destroy\"}\f{\"type\":\"error\",\"data\":{}}\f");
    cr_assert(wait_int(&cl_log.n, base + 4, 2000), "%s", t->name);
    assert_refused(t, &cl_log, base, NULL, "{\"type\":\"connect\",\"data\":1}");
    assert_refused(t, &cl_log, base + 1, NULL, "{\"type\":\"disconnect\"}");
    assert_refused(t, &cl_log, base + 2, NULL, "{\"type\":\"destroy\"}");
    assert_refused(t, &cl_log, base + 3, NULL, "{\"type\":\"error\",\"data\":{}}");
    th_run_for(&loop, 20);
    cr_assert_eq(cl_log.n, base + 4, "%s", t->name);
    cr_assert_eq(kept_count(&cl_log, "connect"), 1, "%s", t->name);
    cr_assert(nipc_client_connected(p.c), "%s", t->name);
    raw_server_close(&p);
    kept_free(&cl_log);

    /* Allowed: dispatched as the events, with the frame's data, and nothing else changes. */
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    cfg.allow_reserved_events = true;
    client_to_raw(&p, t, &cfg, "w14d.sock");
    base = cl_log.n;
    send_str(p.fd, "{\"type\":\"connect\",\"data\":1}\f{\"type\":\"disconnect\"}\f");
    cr_assert(wait_int(&cl_log.n, base + 2, 2000), "%s", t->name);
    json_t *one = json_integer(1);
    assert_dispatch(t, &cl_log, base, "connect", one, NULL);
    assert_dispatch(t, &cl_log, base + 1, "disconnect", NULL, NULL);
    json_decref(one);
    cr_assert(nipc_client_connected(p.c), "%s", t->name);
    cr_assert_eq(nipc_client_emit(p.c, "still", NULL), 0, "%s", t->name);
    expect_str(t, p.fd, "{\"type\":\"still\",\"data\":{}}\f");
    raw_server_close(&p);
}

/* ---- W15: delimiters of more than one byte ---------------------------------------------- */

static void echo_ping(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

typedef struct w15_client {
    nipc_t *ipc;
    nipc_client_t *c;
    bool connected;
    kept_t *log;
} w15_client_t;

static void w15_pair(const th_transport_t *t, th_server_t *s, w15_client_t *cl, const char *delim,
                     const char *name)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.delimiter = delim;
    cfg.stop_retrying = true;
    th_server_start_on(s, &loop, &cfg, t, dir, name);
    nipc_server_on(s->server, "ping", echo_ping, NULL);
    cr_assert_eq(nipc_new(&cl->ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect(cl->ipc, t, "peer", s->server, &cl->c), 0, "%s", t->name);
    nipc_client_on(cl->c, NIPC_EVENT_ANY, keep, cl->log);
    nipc_client_on(cl->c, "connect", th_flag, &cl->connected);
    cr_assert(th_run_until(&loop, &cl->connected, 2000), "%s: no connect over %s", t->name, name);
}

static int pongs(const kept_t *k)
{
    return kept_count(k, "pong");
}

ParameterizedTestParameters(wire, w15_two_delimiters_in_one_process_round_trip_both_ways)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w15_two_delimiters_in_one_process_round_trip_both_ways)
{
    static kept_t crlf_log, xyz_log;
    memset(&crlf_log, 0, sizeof crlf_log);
    memset(&xyz_log, 0, sizeof xyz_log);
    w15_client_t crlf = {.log = &crlf_log}, xyz = {.log = &xyz_log};
    w15_pair(t, &srv, &crlf, "\r\n", "crlf.sock");
    w15_pair(t, &srv2, &xyz, "XYZ", "xyz.sock");

    /* Text holding pieces of each delimiter, and the whole of the other one. */
    json_t *d1 = json_pack("{s:s, s:i}", "s", "a\r\nb\rc\nXYZ", "n", 1);
    json_t *d2 = json_pack("{s:s, s:i}", "s", "X XY YZ XXY\r\n", "n", 2);
    cr_assert_eq(nipc_client_emit(crlf.c, "ping", d1), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(xyz.c, "ping", d2), 0, "%s", t->name);
    cr_assert_eq(nipc_client_emit(crlf.c, "ping", d2), 0, "%s", t->name);
    cr_assert(wait_int(&crlf_log.n, 3, 2000) && pongs(&crlf_log) == 2, "%s: crlf: %d pongs",
              t->name, pongs(&crlf_log));
    cr_assert(wait_int(&xyz_log.n, 2, 2000) && pongs(&xyz_log) == 1, "%s: xyz: %d pongs", t->name,
              pongs(&xyz_log));
    assert_dispatch(t, &crlf_log, 1, "pong", d1, NULL);
    assert_dispatch(t, &crlf_log, 2, "pong", d2, NULL);
    assert_dispatch(t, &xyz_log, 1, "pong", d2, NULL);

    /* A frame whose text would hold the delimiter is refused, not cut in two at the peer. */
    cr_assert_eq(nipc_client_emit(xyz.c, "ping", d1), NIPC_EDELIM, "%s", t->name);
    cr_assert_eq(nipc_client_emitf(xyz.c, "pingXYZ", "i", 1), NIPC_EDELIM, "%s", t->name);
    nipc_socket_t *sock = nipc_server_socket_at(srv2.server, 0);
    cr_assert_not_null(sock, "%s", t->name);
    cr_assert_eq(nipc_server_emit(srv2.server, sock, "pong", d1), NIPC_EDELIM, "%s", t->name);
    th_run_for(&loop, 20);
    cr_assert_eq(xyz_log.n, 2, "%s: a refused frame was sent", t->name);
    cr_assert_eq(kept_count(&crlf_log, "error") + kept_count(&xyz_log, "error"), 0, "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "error") + th_count(&srv2.rec, "error"), 0, "%s", t->name);

    json_decref(d1);
    json_decref(d2);
    nipc_free(crlf.ipc);
    nipc_free(xyz.ipc);
    nipc_free(srv.ipc);
    nipc_free(srv2.ipc);
    kept_free(&crlf_log);
    kept_free(&xyz_log);
}

/* Three frames per delimiter, with pieces of the delimiter inside them (JSON whitespace for
 * "\r\n", string text for "XYZ"). */
static const char CRLF_IN[] = "{\"type\":\"a\",\r\"data\":1}\r\n"
                              "{\"type\":\"b\",\n\"data\":2}\r\n"
                              "{\"type\":\"c\",\"data\":\"\\r\\n\"}\r\n";
static const char XYZ_IN[] = "{\"type\":\"a\",\"data\":\"X\"}XYZ"
                             "{\"type\":\"b\",\"data\":\"XY YZ XXY\"}XYZ"
                             "{\"type\":\"c\",\"data\":\"YZX\"}XYZ";

static void w15_expect(expect_seq_t *x, bool crlf)
{
    memset(x, 0, sizeof *x);
    x->period = 3;
    x->types[0] = "a";
    x->types[1] = "b";
    x->types[2] = "c";
    x->datas[0] = crlf ? json_integer(1) : json_string("X");
    x->datas[1] = crlf ? json_integer(2) : json_string("XY YZ XXY");
    x->datas[2] = json_string(crlf ? "\r\n" : "YZX");
}

ParameterizedTestParameters(wire, w15_frames_split_inside_the_delimiter_reach_a_server)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w15_frames_split_inside_the_delimiter_reach_a_server)
{
    const char *delims[] = {"\r\n", "XYZ"};
    const char *inputs[] = {CRLF_IN, XYZ_IN};
    for (int d = 0; d < 2; d++) {
        nipc_config_t cfg;
        th_config(&cfg);
        cfg.delimiter = delims[d];
        server_open(&srv, t, &cfg, d == 0 ? "crlf.sock" : "xyz.sock");
        int fd = raw_client(t, &srv, NULL);
        expect_seq_t x;
        w15_expect(&x, d == 0);
        nipc_server_on(srv.server, NIPC_EVENT_ANY, check_seq, &x);
        feed_every_split(t, fd, inputs[d], strlen(inputs[d]), delims[d], &x);
        cr_assert_eq(kept_count(&slog, "error"), 0, "%s: delimiter %d", t->name, d);
        expect_seq_free(&x);
        nipc_free(srv.ipc);
        close(fd);
        th_run_for(&loop, 5);
        kept_free(&slog);
    }
}

ParameterizedTestParameters(wire, w15_frames_split_inside_the_delimiter_reach_a_client)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire, w15_frames_split_inside_the_delimiter_reach_a_client)
{
    const char *delims[] = {"\r\n", "XYZ"};
    const char *inputs[] = {CRLF_IN, XYZ_IN};
    for (int d = 0; d < 2; d++) {
        nipc_config_t cfg;
        th_config(&cfg);
        cfg.delimiter = delims[d];
        cfg.stop_retrying = true;
        raw_server_t p;
        client_to_raw(&p, t, &cfg, d == 0 ? "crlfc.sock" : "xyzc.sock");
        expect_seq_t x;
        w15_expect(&x, d == 0);
        nipc_client_on(p.c, NIPC_EVENT_ANY, check_seq, &x);
        feed_every_split(t, p.fd, inputs[d], strlen(inputs[d]), delims[d], &x);

        /* And the client writes the delimiter it was given. */
        cr_assert_eq(nipc_client_emit(p.c, "out", NULL), 0, "%s", t->name);
        char want[64];
        snprintf(want, sizeof want, "{\"type\":\"out\",\"data\":{}}%s", delims[d]);
        expect_str(t, p.fd, want);
        expect_seq_free(&x);
        raw_server_close(&p);
        th_run_for(&loop, 5);
    }
}

/* ---- W16: a connection's leftovers die with it ------------------------------------------- */

ParameterizedTestParameters(wire, w16_a_partial_frame_is_discarded_with_its_server_connection)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w16_a_partial_frame_is_discarded_with_its_server_connection)
{
    server_open(&srv, t, NULL, "w16s.sock");
    int a = raw_client(t, &srv, NULL);
    send_str(a, "{\"type\":\"a\",\"da");
    for (int i = 0; i < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    close(a);
    cr_assert(wait_type(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);

    nipc_socket_t *sb;
    int b = raw_client(t, &srv, &sb);
    int base = slog.n;
    send_str(b, "{\"type\":\"b\",\"data\":2}\f");
    cr_assert(wait_int(&slog.n, base + 1, 2000), "%s", t->name);
    th_run_for(&loop, 20);
    json_t *two = json_integer(2);
    assert_dispatch(t, &slog, base, "b", two, sb);
    json_decref(two);
    cr_assert_eq(slog.n, base + 1, "%s: unexpected events: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(kept_count(&slog, "error"), 0, "%s", t->name);
    cr_assert_eq(kept_count(&slog, "a"), 0, "%s", t->name);
    nipc_free(srv.ipc);
    close(b);
}

/* A client reuses its connection object across reconnects: its buffer must start empty. */
static void w16_client(const th_transport_t *t, const char *delim, const char *partial,
                       const char *whole, const char *name)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.delimiter = delim;
    cfg.retry = 20;
    int port;
    int lfd = th_raw_listen_any(t, dir, name, &port);
    nipc_t *ipc;
    nipc_client_t *c;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "raw", dir, name, port, &c), 0, "%s", t->name);
    nipc_client_on(c, NIPC_EVENT_ANY, keep, &cl_log);
    int a = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(a >= 0, "%s", t->name);
    cr_assert(wait_int(&cl_log.n, 1, 2000), "%s", t->name);
    send_str(a, partial);
    for (int i = 0; i < 3; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    close(a);

    /* The client retries and connects again. */
    int b = th_raw_accept_any(&loop, t, lfd, 3000);
    cr_assert(b >= 0, "%s: the client did not reconnect", t->name);
    cr_assert(wait_kept(&cl_log, "connect", 2, 2000), "%s: no second connect", t->name);
    int base = cl_log.n;
    send_str(b, whole);
    cr_assert(wait_int(&cl_log.n, base + 1, 2000), "%s", t->name);
    th_run_for(&loop, 20);
    json_t *two = json_integer(2);
    assert_dispatch(t, &cl_log, base, "b", two, NULL);
    json_decref(two);
    cr_assert_eq(cl_log.n, base + 1, "%s", t->name);
    cr_assert_eq(kept_count(&cl_log, "error"), 0, "%s", t->name);
    cr_assert_eq(kept_count(&cl_log, "a"), 0, "%s", t->name);
    nipc_free(ipc);
    close(b);
    close(lfd);
    kept_free(&cl_log);
}

ParameterizedTestParameters(wire, w16_a_partial_frame_is_discarded_when_a_client_reconnects)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, wire,
                  w16_a_partial_frame_is_discarded_when_a_client_reconnects)
{
    w16_client(t, "\f", "{\"type\":\"a\",\"da", "{\"type\":\"b\",\"data\":2}\f", "w16c.sock");
    /* A whole frame and part of the delimiter: none of it may reach the next connection. */
    w16_client(t, "XYZ", "{\"type\":\"a\",\"data\":1}XY", "{\"type\":\"b\",\"data\":2}XYZ",
               "w16d.sock");
}
