/* SPDX-License-Identifier: MIT */
/*
 * Hostile peers and faults (issue 12), through real sockets: nothing a peer sends crashes
 * the server, costs more than the offending connection, or leaves memory behind.
 *
 * Every stream test runs over a Unix socket, TCP on 127.0.0.1 and on ::1, and TLS
 * (TH_NIPC_TRANSPORT_PARAMS). The server has a well-behaved nipc client, the bystander,
 * connected throughout; the attacker is a raw socket of the same transport, for TLS a raw
 * OpenSSL client driven by the test (atk_*). Each test measures the library's live blocks
 * (nipc__test_live_blocks(): nipc's allocations and jansson's, not OpenSSL's) after two
 * warm-up round trips of the bystander, runs the attack, lets the attacker's connection
 * close, makes one more round trip and measures again: the count must be back to its level,
 * exactly. No slack is needed: the bystander's buffers and decode cache are made in the
 * warm-up and kept, the attacker's go with its connection, and a handler a test adds after
 * the warm-up moves the level by its own table entry (server_on).
 *
 * What each test adds to what other files hold:
 *  - garbage: wire.c's w11/w13 send invalid JSON, hostile envelopes and 1 MB of random bytes
 *    in one frame (Unix, TCP); here 64 KiB of random frames, TLS too, memory measured.
 *  - a frame that never ends: limits.c cuts it on Unix and TCP (exact bounds, 3-byte
 *    delimiters); here over TLS too, with memory measured.
 *  - trickled frames: wire.c's w9 feeds every split to a server and one byte per write to a
 *    client (Unix, TCP); here one byte per write, and per TLS record, to a server.
 *  - a million tiny frames: new (tls.c sends 100 000 events client to server), in order, the
 *    live blocks and the read buffer sampled throughout.
 *  - reserved names: wire.c's w14 sends nine of them (Unix, TCP); here every name of
 *    nipc__event_reserved() ("*" and "drop" too) and spoofed `$reply` frames, TLS too.
 *  - invalid UTF-8: wire.c's w13 has two cases; here the classes a UTF-8 validator can get
 *    wrong (overlong forms, surrogates, past U+10FFFF, truncations, in keys), beside the
 *    valid edges that must still pass.
 *  - half-open and mid-frame closes: wire.c's w16 closes mid-frame (Unix, TCP); the half
 *    close is new (what is queued for a half-open peer is delivered or reported, as nipc.h
 *    documents an end of file), and a_half_open_peer_gets_its_whole_answer: all of it is
 *    written before the close, as Node does.
 *  - a slow reader: limits.c holds the exact bound, the refusal and `drain` (Unix, TCP);
 *    loss.c the default bound towards a peer that never reads and the flush timeout. Here a
 *    server towards a raw reader that stops, over TLS too, with the queued bytes and live
 *    blocks sampled and a bystander served meanwhile.
 *  - TLS: tls.c has a plaintext frame instead of a handshake, a silent peer cut by
 *    handshake_timeout_ms, and half a ClientHello record; here binary garbage and malformed
 *    records, a handshake that stalls after its ClientHello, a peer gone in the middle of an
 *    application-data record, TLS 1.2 renegotiation (refused: SSL_OP_NO_RENEGOTIATION),
 *    TLS 1.3 key updates (honoured), and close_notify at the end of every graceful close.
 *  - a flushing close to a peer that resets: loss.c holds a flush that times out towards a
 *    peer that never reads; here the peer resets, and the close must not wait.
 *  - peers that reset at once (before or during the TLS handshake): new.
 *  - a hostile server: wire.c's w11/w14/w16 send a client invalid JSON, four reserved names
 *    and a partial frame (Unix, TCP); here garbage, every reserved name, invalid UTF-8 and
 *    a frame that never ends, TLS too, the client reconnecting and its memory measured.
 *  - UDP: udp.c has fragments across datagrams, a frame and a fragment, garbage, and frames
 *    too large to send; here the largest datagrams of both families, a frame past
 *    max_message_size, senders past max_connections, and every kind of truncation.
 *
 * Loopback only, port 0, a temporary directory per test; every wait is bounded.
 */
#include "../support/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

static uv_loop_t loop;
static char dir[64];

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* ---- an event log that allocates nothing ------------------------------------------------ */

/*
 * th_record() dumps each event's data with jansson, which allocates through nipc's counted
 * allocator and is freed with free(): the live-block count would drift. This log keeps the
 * type, the status, the socket, and integer or boolean data as a number.
 */
#define LOG_MAX 8192

typedef struct evlog {
    int n;
    char type[LOG_MAX][32];
    int status[LOG_MAX];
    nipc_socket_t *socket[LOG_MAX];
    long long num[LOG_MAX]; /* integer data, 1 / 0 for true / false, a drop's frames, else -1 */
} evlog_t;

static evlog_t slog;   /* the server's events, but for the flood's frames (counted apart) */
static evlog_t cl_log; /* the bystander's */

static void note(const nipc_event_t *ev, void *arg)
{
    evlog_t *l = arg;
    if (strcmp(ev->type, "n") == 0 || l->n >= LOG_MAX)
        return;
    snprintf(l->type[l->n], sizeof l->type[0], "%s", ev->type);
    l->status[l->n] = ev->status;
    l->socket[l->n] = ev->socket;
    json_t *frames = strcmp(ev->type, "drop") == 0 ? json_object_get(ev->data, "frames") : NULL;
    l->num[l->n] = frames != NULL              ? (long long)json_integer_value(frames)
                   : json_is_integer(ev->data) ? (long long)json_integer_value(ev->data)
                   : json_is_boolean(ev->data) ? json_is_true(ev->data)
                                               : -1;
    l->n++;
}

/* The index of the first event of `type` on `sock` at or after `from`, or -1. */
static int find_on(const evlog_t *l, const char *type, const nipc_socket_t *sock, int from)
{
    for (int i = from; i < l->n; i++)
        if (strcmp(l->type[i], type) == 0 && (sock == NULL || l->socket[i] == sock))
            return i;
    return -1;
}

static int count_on(const evlog_t *l, const char *type, const nipc_socket_t *sock, int from)
{
    int k = 0;
    for (int i = from; i < l->n; i++)
        k += strcmp(l->type[i], type) == 0 && (sock == NULL || l->socket[i] == sock);
    return k;
}

/* Runs the loop until the log has `n` events of `type` on `sock` since `from`, at most `ms`
 * (ten times that under valgrind). */
static bool wait_on(const evlog_t *l, const char *type, const nipc_socket_t *sock, int from, int n,
                    unsigned ms)
{
    uint64_t end = now_ms() + th_ms(ms);
    while (count_on(l, type, sock, from) < n && now_ms() < end)
        th_run_for(&loop, 1);
    return count_on(l, type, sock, from) >= n;
}

/* The types logged since `from`, for messages. */
static const char *types_since(const evlog_t *l, int from)
{
    static char s[2048];
    s[0] = '\0';
    for (int i = from; i < l->n && strlen(s) < sizeof s - 48; i++) {
        strcat(s, i > from ? " " : "");
        strcat(s, l->type[i]);
    }
    return s;
}

/* ---- the scene: a server and its bystander ------------------------------------------------ */

typedef struct scene {
    const th_transport_t *t;
    nipc_t *sipc, *cipc;
    nipc_server_t *server;
    nipc_client_t *client; /* the bystander */
    nipc_socket_t *bsock;  /* its socket on the server */
    int trips;
    long level; /* live blocks after the warm-up */
} scene_t;

static scene_t sc;

/* The server answers every ping with a pong holding its data, whoever sent it. */
static void echo(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

static long live(void)
{
    return nipc__test_live_blocks();
}

/* Lets closes and deferred work finish, then counts. */
static long settle(void)
{
    th_run_for(&loop, 20);
    return live();
}

/* The bystander sends ping k and gets pong k back. */
static void round_trip(void)
{
    int k = ++sc.trips;
    cr_assert_eq(nipc_client_emit_new(sc.client, "ping", json_integer(k)), 0, "%s", sc.t->name);
    cr_assert(wait_on(&cl_log, "pong", NULL, 0, k, 5000), "%s: the bystander's round trip %d: %s",
              sc.t->name, k, types_since(&cl_log, 0));
    int i = -1;
    for (int j = 0; j < k; j++)
        i = find_on(&cl_log, "pong", NULL, i + 1);
    cr_assert_eq(cl_log.num[i], k, "%s: pong %lld for ping %d", sc.t->name, cl_log.num[i], k);
}

static void scene_open(const th_transport_t *t, const nipc_config_t *cfg)
{
    memset(&sc, 0, sizeof sc);
    memset(&slog, 0, sizeof slog);
    memset(&cl_log, 0, sizeof cl_log);
    sc.t = t;
    cr_assert_eq(nipc_new(&sc.sipc, &loop, cfg), 0, "%s", t->name);
    int err = th_serve(sc.sipc, t, dir, "hostile.sock", &sc.server);
    cr_assert_eq(err, 0, "%s: serve: %s", t->name, nipc_strerror(err));
    nipc_server_on(sc.server, NIPC_EVENT_ANY, note, &slog);
    nipc_server_on(sc.server, "ping", echo, NULL);
    err = nipc_server_start(sc.server);
    cr_assert_eq(err, 0, "%s: start: %s", t->name, nipc_strerror(err));
    cr_assert(wait_on(&slog, "start", NULL, 0, 1, 2000), "%s: no start", t->name);

    nipc_config_t ccfg = *cfg;
    ccfg.stop_retrying = true;
    cr_assert_eq(nipc_new(&sc.cipc, &loop, &ccfg), 0, "%s", t->name);
    err = th_connect(sc.cipc, t, "srv", sc.server, &sc.client);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    nipc_client_on(sc.client, NIPC_EVENT_ANY, note, &cl_log);
    cr_assert(wait_on(&cl_log, "connect", NULL, 0, 1, 5000), "%s: the bystander did not connect",
              t->name);
    cr_assert(wait_on(&slog, "connect", NULL, 0, 1, 5000), "%s", t->name);
    sc.bsock = slog.socket[find_on(&slog, "connect", NULL, 0)];
    round_trip();
    round_trip();
    sc.level = settle();
}

/* A handler added after the warm-up: its table entry is not the attack's. */
static void server_on(nipc_server_t *s, const char *type, nipc_event_cb cb, void *arg, long *level)
{
    long before = live();
    cr_assert_eq(nipc_server_on(s, type, cb, arg), 0);
    *level += live() - before;
}

/* The bystander is still served, and the live blocks are back to their level. */
static void back_to_level(const char *what)
{
    round_trip();
    long now = settle();
    cr_log_info("%s: %s: %ld live blocks before, %ld after", sc.t->name, what, sc.level, now);
    cr_assert_eq(now, sc.level, "%s: %s: %ld live blocks, %ld before the attack", sc.t->name, what,
                 now, sc.level);
    cr_assert_eq(nipc_server_socket_count(sc.server), 1, "%s: %s", sc.t->name, what);
    cr_assert_eq(nipc_server_socket_at(sc.server, 0), sc.bsock, "%s", sc.t->name);
    cr_assert(nipc_client_connected(sc.client), "%s: %s", sc.t->name, what);
}

static void scene_close(void)
{
    if (sc.cipc != NULL)
        nipc_free(sc.cipc);
    if (sc.sipc != NULL)
        nipc_free(sc.sipc);
    sc.cipc = sc.sipc = NULL;
}

/* ---- the attacker: a raw socket, or a raw OpenSSL client ---------------------------------- */

typedef struct atk {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;            /* a TLS session, once atk_tls() made one */
    nipc_socket_t *sock; /* its socket on the server, once `connect` named it */
} atk_t;

#define MAX_ATK 32
static atk_t atks[MAX_ATK];
static int natks;

/* Runs the loop once and waits up to 1 ms for `fd` to be ready. */
static void pump(int fd, short events)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    struct pollfd p = {fd, events, 0};
    poll(&p, 1, 1);
}

/* A connected socket, TCP on 127.0.0.1 for TLS, that has said nothing yet. */
static atk_t *atk_new(const th_transport_t *t)
{
    cr_assert_lt(natks, MAX_ATK);
    atk_t *a = &atks[natks++];
    memset(a, 0, sizeof *a);
    a->fd = th_raw_connect_server(t, sc.server);
    return a;
}

/* A TLS session on the socket, that verifies nothing; max_version 0: OpenSSL's highest. */
static void atk_tls(atk_t *a, int max_version)
{
    a->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(a->ctx);
    SSL_CTX_set_verify(a->ctx, SSL_VERIFY_NONE, NULL);
    if (max_version != 0)
        cr_assert(SSL_CTX_set_max_proto_version(a->ctx, max_version));
    a->ssl = SSL_new(a->ctx);
    cr_assert_not_null(a->ssl);
    cr_assert(SSL_set_fd(a->ssl, a->fd));
    SSL_set_connect_state(a->ssl);
}

/* Drives the handshake, running the loop meanwhile: true once it is done. */
static bool atk_handshake(atk_t *a, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(a->ssl);
        if (r == 1)
            return true;
        int e = SSL_get_error(a->ssl, r);
        ERR_clear_error();
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now_ms() >= end)
            return false;
        pump(a->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
    }
}

/* An attacker that is connected as far as the server is concerned: `connect` published. */
static atk_t *atk_join(const th_transport_t *t, int max_version)
{
    int from = slog.n;
    atk_t *a = atk_new(t);
    if (t->kind == TH_TLS) {
        atk_tls(a, max_version);
        cr_assert(atk_handshake(a, 5000), "%s: the attacker's handshake failed", t->name);
    }
    cr_assert(wait_on(&slog, "connect", NULL, from, 1, 5000), "%s: no connect for the attacker",
              t->name);
    a->sock = slog.socket[find_on(&slog, "connect", NULL, from)];
    return a;
}

/* Sends n bytes, running the loop whenever the socket is full. False when the peer closed or
 * the session failed; the test fails if the bytes are not out within 20 s. */
static bool atk_send(atk_t *a, const void *p, size_t n)
{
    const char *c = p;
    uint64_t end = now_ms() + 20000;
    while (n > 0) {
        ssize_t w = -1;
        short want = POLLOUT;
        if (a->ssl != NULL) {
            /* A write that must be retried is retried with the same arguments. */
            int k = n < 16384 ? (int)n : 16384;
            ERR_clear_error();
            int r = SSL_write(a->ssl, c, k);
            if (r > 0) {
                w = r;
            } else {
                int e = SSL_get_error(a->ssl, r);
                ERR_clear_error();
                if (e == SSL_ERROR_WANT_READ)
                    want = POLLIN;
                else if (e != SSL_ERROR_WANT_WRITE)
                    return false;
            }
        } else {
            w = send(a->fd, c, n, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                return false;
        }
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        cr_assert(now_ms() < end, "%zu bytes still unsent after 20 s", n);
        pump(a->fd, want);
    }
    return true;
}

static bool atk_send_str(atk_t *a, const char *s)
{
    return atk_send(a, s, strlen(s));
}

/* Reads what comes within `ms`, up to `cap` bytes: how many, 0 when the peer closed (or the
 * session failed), -1 when nothing came. */
static ssize_t atk_read(atk_t *a, char *buf, size_t cap, unsigned ms)
{
    uint64_t end = now_ms() + ms;
    for (;;) {
        uv_run(&loop, UV_RUN_NOWAIT);
        if (a->ssl != NULL) {
            ERR_clear_error();
            int r = SSL_read(a->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
            if (r > 0)
                return r;
            int e = SSL_get_error(a->ssl, r);
            ERR_clear_error();
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return 0;
        } else {
            ssize_t r = read(a->fd, buf, cap);
            if (r >= 0)
                return r;
            if (errno != EAGAIN && errno != EINTR)
                return 0;
        }
        if (now_ms() >= end)
            return -1;
        struct pollfd p = {a->fd, POLLIN, 0};
        poll(&p, 1, 1);
    }
}

/* Reads until `want` bytes came, the peer closed, or `ms` passed; returns how many came. */
static size_t atk_read_all(atk_t *a, char *buf, size_t want, unsigned ms)
{
    size_t got = 0;
    uint64_t end = now_ms() + ms;
    while (got < want && now_ms() < end) {
        ssize_t r = atk_read(a, buf + got, want - got, (unsigned)(end - now_ms()));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* True when the server closed the attacker's connection within `ms` (what it sends first is
 * read and dropped). */
static bool atk_closed(atk_t *a, unsigned ms)
{
    static char sink[1 << 16];
    uint64_t end = now_ms() + ms;
    while (now_ms() < end) {
        ssize_t r = atk_read(a, sink, sizeof sink, (unsigned)(end - now_ms()));
        if (r == 0)
            return true;
        if (r < 0)
            return false;
    }
    return false;
}

/* Reads the frame `want` (with its delimiter) from the server. */
static void atk_expect(atk_t *a, const char *want)
{
    char got[256] = {0};
    size_t n = strlen(want);
    cr_assert_lt(n, sizeof got);
    cr_assert_eq(atk_read_all(a, got, n, 5000), n, "%s: the attacker got %s, not %s", sc.t->name,
                 got, want);
    cr_assert_str_eq(got, want, "%s", sc.t->name);
}

/* The attacker's connection is still served: a ping from it gets its pong. */
static void atk_served(atk_t *a, int k)
{
    char frame[64];
    snprintf(frame, sizeof frame, "{\"type\":\"ping\",\"data\":%d}\f", k);
    cr_assert(atk_send_str(a, frame), "%s: the attacker's connection was closed", sc.t->name);
    snprintf(frame, sizeof frame, "{\"type\":\"pong\",\"data\":%d}\f", k);
    atk_expect(a, frame);
}

static void atk_free(atk_t *a)
{
    if (a->ssl != NULL)
        SSL_free(a->ssl);
    if (a->ctx != NULL)
        SSL_CTX_free(a->ctx);
    if (a->fd >= 0)
        close(a->fd);
    memset(a, 0, sizeof *a);
    a->fd = -1;
}

/* The attacker vanishes (no close_notify), and the server sees its connection go. */
static void atk_leave(atk_t *a)
{
    nipc_socket_t *sock = a->sock;
    int from = slog.n;
    atk_free(a);
    if (sock != NULL)
        cr_assert(wait_on(&slog, "close", sock, from, 1, 5000), "%s: the attacker's socket stays",
                  sc.t->name);
}

/* After the server closed the attacker: its socket went, and the test's end of it goes. */
static void atk_gone(atk_t *a, int from)
{
    cr_assert(atk_closed(a, 5000), "%s: the server kept the attacker's connection", sc.t->name);
    if (a->sock != NULL)
        cr_assert(wait_on(&slog, "close", a->sock, from, 1, 5000), "%s: events %s", sc.t->name,
                  types_since(&slog, from));
    atk_free(a);
}

/* ---- the suite ------------------------------------------------------------------------------ */

static void udp_close(void);

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
    natks = 0;
    memset(&sc, 0, sizeof sc);
    nipc__test_count_blocks(true);
}

static void teardown(void)
{
    for (int i = 0; i < natks; i++)
        atk_free(&atks[i]);
    natks = 0;
    scene_close();
    udp_close();
    th_loop_close(&loop);
    th_rmdir(dir);
    nipc__test_count_blocks(false);
}

TestSuite(hostile, .init = setup, .fini = teardown, .timeout = 60);

/* A test run once over each stream transport, TLS included, `t` naming it. */
#define HOSTILE_TEST(name)                                                                         \
    ParameterizedTestParameters(hostile, name)                                                     \
    {                                                                                              \
        TH_NIPC_TRANSPORT_PARAMS();                                                                \
    }                                                                                              \
    ParameterizedTest(th_transport_t *t, hostile, name)

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* ---- garbage ------------------------------------------------------------------------------- */

/* 64 KiB of random bytes cut into frames of 1 to 400 bytes (and some empty ones): each is an
 * `error`, none is dispatched, and the connection stays (W11), usable afterwards. */
HOSTILE_TEST(garbage_is_an_error_per_frame_and_the_connection_stays)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);

    const size_t len = 64 * 1024;
    char *g = malloc(len);
    cr_assert_not_null(g);
    uint32_t seed = 0x2545f491u;
    int frames = 0;
    size_t next = 1 + xorshift(&seed) % 400;
    for (size_t i = 0; i < len; i++) {
        if (i == next || i == len - 1) {
            g[i] = '\f';
            frames++;
            next = i + 1 + xorshift(&seed) % 400 * (xorshift(&seed) % 16 != 0);
            continue;
        }
        g[i] = (char)(xorshift(&seed) & 0xff);
        if (g[i] == '\f')
            g[i] = '\x01';
    }
    int from = slog.n;
    cr_assert(atk_send(a, g, len), "%s", t->name);
    free(g);
    cr_assert(wait_on(&slog, "error", a->sock, from, frames, 10000), "%s: %d errors for %d frames",
              t->name, count_on(&slog, "error", a->sock, from), frames);
    th_run_for(&loop, 20);
    int errors = 0;
    for (int i = from; i < slog.n; i++) {
        if (slog.socket[i] != a->sock)
            continue;
        cr_assert_str_eq(slog.type[i], "error", "%s: garbage was published as %s", t->name,
                         slog.type[i]);
        cr_assert(slog.status[i] == UV_EPROTO || slog.status[i] == NIPC_EBADTYPE, "%s: %s", t->name,
                  nipc_err_name(slog.status[i]));
        errors++;
    }
    cr_assert_eq(errors, frames, "%s", t->name);
    cr_log_info("%s: %d garbage frames, %d errors", t->name, frames, errors);

    atk_served(a, 99);
    round_trip();
    atk_leave(a);
    back_to_level("garbage");
}

/* ---- a frame that never ends ------------------------------------------------------------------
 */

/* 1 MiB with no delimiter against a 64 KiB limit: UV_EMSGSIZE, then the connection closes;
 * the server stops reading it at the limit, so the rest is refused by the kernel. */
HOSTILE_TEST(a_frame_that_never_ends_closes_only_its_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = 64 * 1024;
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    char *f = malloc(1 << 20);
    cr_assert_not_null(f);
    memset(f, 'x', 1 << 20);
    memcpy(f, "{\"type\":\"t\",\"data\":\"", 20);
    atk_send(a, f, 1 << 20); /* refused part-way: the server closed */
    free(f);
    cr_assert(wait_on(&slog, "close", a->sock, from, 1, 5000), "%s: events %s", t->name,
              types_since(&slog, from));
    int e = find_on(&slog, "error", a->sock, from);
    cr_assert_geq(e, 0, "%s: no error: %s", t->name, types_since(&slog, from));
    cr_assert_eq(slog.status[e], UV_EMSGSIZE, "%s: %s", t->name, nipc_err_name(slog.status[e]));
    cr_assert_lt(e, find_on(&slog, "socket.disconnected", a->sock, from), "%s", t->name);
    cr_assert_eq(count_on(&slog, "t", NULL, from), 0, "%s", t->name);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 1, "%s", t->name);
    atk_gone(a, from);
    back_to_level("a frame that never ends");
}

/* ---- a trickle ------------------------------------------------------------------------------ */

#define TRICKLED "h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80"

static void on_slow(const nipc_event_t *ev, void *arg)
{
    int *ok = arg;
    if (json_is_string(ev->data) && strcmp(json_string_value(ev->data), TRICKLED) == 0)
        ++*ok;
    else
        *ok = -1000;
}

/* Two frames, one byte per write (over TLS one byte per record), the loop run between: each
 * delivered once, intact, and nothing else published. */
HOSTILE_TEST(frames_trickled_one_byte_at_a_time_are_delivered_once)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    int ok = 0;
    server_on(sc.server, "slow", on_slow, &ok, &sc.level);
    atk_t *a = atk_join(t, 0);
    static const char two[] = "{\"type\":\"slow\",\"data\":\"" TRICKLED "\"}\f"
                              "{\"type\":\"slow\",\"data\":\"" TRICKLED "\"}\f";
    int from = slog.n;
    for (size_t i = 0; i < sizeof two - 1; i++) {
        cr_assert(atk_send(a, two + i, 1), "%s: closed at byte %zu", t->name, i);
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_run(&loop, UV_RUN_NOWAIT);
        if (i == 40)
            round_trip(); /* the bystander is served while a frame is pending */
    }
    cr_assert(wait_on(&slog, "slow", a->sock, from, 2, 2000), "%s: %s", t->name,
              types_since(&slog, from));
    th_run_for(&loop, 20);
    cr_assert_eq(ok, 2, "%s: delivered %d times, or damaged", t->name, ok);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 0, "%s", t->name);
    atk_served(a, 5);
    atk_leave(a);
    back_to_level("a trickle");
}

/* ---- a million tiny frames ------------------------------------------------------------------- */

#define FLOOD 1000000

typedef struct flood {
    long next;      /* the sequence number expected next */
    long bad;       /* frames out of order, or damaged */
    long max_extra; /* live blocks above the level, at most */
    size_t max_in;  /* the attacker's read buffer, at most */
    nipc_socket_t *sock;
    long level;
} flood_t;

static void on_flood(const nipc_event_t *ev, void *arg)
{
    flood_t *f = arg;
    if (ev->socket != f->sock || !json_is_integer(ev->data) ||
        json_integer_value(ev->data) != f->next)
        f->bad++;
    f->next++;
    if (f->next % 1024 == 0) {
        long extra = live() - f->level;
        if (extra > f->max_extra)
            f->max_extra = extra;
        if (ev->socket->conn.in.cap > f->max_in)
            f->max_in = ev->socket->conn.in.cap;
    }
}

/* 10^6 frames {"type":"n","data":<i>}, sent in writes of 1 MiB: all delivered, in order, while
 * the library's live blocks and the read buffer stay within small bounds. */
HOSTILE_TEST(a_million_tiny_frames_arrive_in_order_in_bounded_memory)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    flood_t f = {.sock = a->sock};
    server_on(sc.server, "n", on_flood, &f, &sc.level);
    f.level = sc.level;

    const size_t cap = 1 << 20;
    char *buf = malloc(cap + 64);
    cr_assert_not_null(buf);
    uint64_t t0 = uv_hrtime();
    size_t n = 0, total = 0;
    for (long i = 0; i < FLOOD; i++) {
        n += (size_t)snprintf(buf + n, 64, "{\"type\":\"n\",\"data\":%ld}\f", i);
        if (n >= cap || i == FLOOD - 1) {
            cr_assert(atk_send(a, buf, n), "%s: closed after %ld frames", t->name, f.next);
            total += n;
            n = 0;
        }
    }
    free(buf);
    uint64_t end = now_ms() + 30000;
    while (f.next < FLOOD && now_ms() < end)
        th_run_for(&loop, 5);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    cr_assert_eq(f.next, FLOOD, "%s: %ld of %d frames", t->name, f.next, FLOOD);
    cr_assert_eq(f.bad, 0, "%s: %ld frames out of order", t->name, f.bad);
    cr_log_info("%s: %d frames (%zu bytes) in %.2f s; live blocks at most %ld above the level, "
                "read buffer at most %zu bytes",
                t->name, FLOOD, total, secs, f.max_extra, f.max_in);
    /* An event's data and its decoding need a few blocks at a time, never one per frame. */
    cr_assert_leq(f.max_extra, 16, "%s: %ld live blocks above the level", t->name, f.max_extra);
    cr_assert_leq(f.max_in, (size_t)2 << 20, "%s: a read buffer of %zu bytes", t->name, f.max_in);
    cr_assert_eq(count_on(&slog, "error", NULL, 0), 0, "%s", t->name);
    atk_served(a, 6);
    atk_leave(a);
    back_to_level("a million tiny frames");
}

/* ---- reserved names ---------------------------------------------------------------------------
 */

/* nipc__event_reserved()'s list: README's "Reserved names from the wire". */
static const char *const reserved[] = {
    "*",
    "close",
    "connect",
    "data",
    "destroy",
    "disconnect",
    "drain",
    "drop",
    "error",
    "start",
    "socket.disconnected",
};
#define N_RESERVED (int)(sizeof reserved / sizeof reserved[0])

/* Each name is an `error` NIPC_ERESERVED and fakes no event: no second connect, no
 * disconnect, no close, the socket still listed and served. A `$reply` to no request is
 * dropped without an event (request.c); one whose `$re` is no id is an ordinary event. */
HOSTILE_TEST(every_reserved_name_is_refused_and_fakes_nothing)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    char frames[2048];
    size_t n = 0;
    for (int i = 0; i < N_RESERVED; i++)
        n += (size_t)snprintf(frames + n, sizeof frames - n,
                              "{\"type\":\"%s\",\"data\":{\"spoof\":%d,\"id\":\"evil\"}}\f",
                              reserved[i], i);
    n += (size_t)snprintf(frames + n, sizeof frames - n,
                          "{\"type\":\"$reply\",\"data\":{\"$re\":1,\"data\":2}}\f"
                          "{\"type\":\"$reply\",\"data\":{\"$re\":\"x\"}}\f"
                          "{\"type\":\"after\",\"data\":7}\f");
    cr_assert(atk_send(a, frames, n), "%s", t->name);
    cr_assert(wait_on(&slog, "after", a->sock, from, 1, 5000), "%s: %s", t->name,
              types_since(&slog, from));
    th_run_for(&loop, 20);
    int i = from;
    for (int k = 0; k < N_RESERVED; k++, i++) {
        cr_assert_str_eq(slog.type[i], "error", "%s: %s was published as %s (%s)", t->name,
                         reserved[k], slog.type[i], types_since(&slog, from));
        cr_assert_eq(slog.status[i], NIPC_ERESERVED, "%s: %s: %s", t->name, reserved[k],
                     nipc_err_name(slog.status[i]));
        cr_assert_eq(slog.socket[i], a->sock, "%s", t->name);
    }
    cr_assert_str_eq(slog.type[i], "$reply", "%s: %s", t->name, types_since(&slog, from));
    cr_assert_str_eq(slog.type[i + 1], "after", "%s: %s", t->name, types_since(&slog, from));
    cr_assert_eq(slog.n, i + 2, "%s: more events: %s", t->name, types_since(&slog, from));
    cr_assert_eq(nipc_server_socket_count(sc.server), 2, "%s", t->name);
    cr_assert_null(nipc_socket_id(a->sock), "%s: a refused frame named the socket", t->name);
    atk_served(a, 8);
    round_trip();
    atk_leave(a);
    back_to_level("reserved names");
}

/* ---- invalid UTF-8 ----------------------------------------------------------------------------
 */

typedef struct utf8_case {
    const char *frame; /* without the delimiter */
    const char *type;  /* dispatched as, or NULL: refused with UV_EPROTO */
} utf8_case_t;

static const utf8_case_t utf8_cases[] = {
    {"{\"type\":\"u\",\"data\":\"\xc0\xaf\"}", NULL},              /* overlong '/' */
    {"{\"type\":\"u\",\"data\":\"\xc0\x80\"}", NULL},              /* overlong NUL */
    {"{\"type\":\"u\",\"data\":\"\xe0\x80\xaf\"}", NULL},          /* overlong, 3 bytes */
    {"{\"type\":\"u\",\"data\":\"\xf0\x80\x80\xaf\"}", NULL},      /* overlong, 4 bytes */
    {"{\"type\":\"u\",\"data\":\"\xed\xa0\x80\"}", NULL},          /* U+D800, a surrogate */
    {"{\"type\":\"u\",\"data\":\"\xed\xbf\xbf\"}", NULL},          /* U+DFFF */
    {"{\"type\":\"u\",\"data\":\"\xf4\x90\x80\x80\"}", NULL},      /* U+110000 */
    {"{\"type\":\"u\",\"data\":\"\xf8\x88\x80\x80\x80\"}", NULL},  /* 5 bytes */
    {"{\"type\":\"u\",\"data\":\"\x80\"}", NULL},                  /* a lone continuation */
    {"{\"type\":\"u\",\"data\":\"\xe2\x82\"}", NULL},              /* cut before its end */
    {"{\"type\":\"u\",\"data\":\"\xfe\xff\"}", NULL},              /* never in UTF-8 */
    {"{\"type\":\"\xc3\",\"data\":1}", NULL},                      /* in the type */
    {"{\"type\":\"u\",\"data\":{\"k\xff\":1}}", NULL},             /* in a key */
    {"{\"type\":\"u\",\"data\":[\"ok\",\"\xf0\x9f\x98\"]}", NULL}, /* cut, in an array */
    {"{\"type\":\"u\",\"\xff\":1,\"data\":1}", NULL},              /* in an envelope key */
    {"{\"type\":\"u\",\"data\":\"\xf4\x8f\xbf\xbf\"}", "u"},       /* U+10FFFF: valid */
    {"{\"type\":\"u\",\"data\":\"\xef\xbf\xbf\"}", "u"},           /* U+FFFF */
    {"{\"type\":\"u\",\"data\":\"\xed\x9f\xbf\"}", "u"},           /* U+D7FF */
    {"{\"type\":\"u\",\"data\":\"\xee\x80\x80\"}", "u"},           /* U+E000 */
    {"{\"type\":\"\xf0\x9f\x98\x80\",\"data\":1}", "\xf0\x9f\x98\x80"},
};
#define N_UTF8 (int)(sizeof utf8_cases / sizeof utf8_cases[0])

/* Every malformed sequence is an `error` UV_EPROTO and the valid edges are dispatched, by the
 * fast envelope parser and jansson's path alike (each frame is tried as itself, and again
 * with an extra key that sends it down the general path). */
HOSTILE_TEST(invalid_utf8_is_refused_and_the_valid_edges_pass)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    for (int pass = 0; pass < 2; pass++) {
        int from = slog.n;
        for (int k = 0; k < N_UTF8; k++) {
            char frame[128];
            const char *f = utf8_cases[k].frame;
            /* The second pass leads with an unknown key, which the fast parser leaves to
             * jansson. */
            snprintf(frame, sizeof frame, "%s%s\f", pass ? "{\"x\":0," : "", f + pass);
            cr_assert(atk_send_str(a, frame), "%s", t->name);
        }
        cr_assert(atk_send_str(a, "{\"type\":\"end\"}\f"), "%s", t->name);
        cr_assert(wait_on(&slog, "end", a->sock, from, 1, 5000), "%s: %s", t->name,
                  types_since(&slog, from));
        for (int k = 0; k < N_UTF8; k++) {
            int i = from + k;
            const char *want = utf8_cases[k].type != NULL ? utf8_cases[k].type : "error";
            cr_assert_str_eq(slog.type[i], want, "%s: pass %d, case %d: %s, want %s (%s)", t->name,
                             pass, k, slog.type[i], want, nipc_err_name(slog.status[i]));
            if (utf8_cases[k].type == NULL)
                cr_assert_eq(slog.status[i], UV_EPROTO, "%s: pass %d, case %d: %s", t->name, pass,
                             k, nipc_err_name(slog.status[i]));
        }
        cr_assert_str_eq(slog.type[from + N_UTF8], "end", "%s", t->name);
    }
    atk_served(a, 9);
    atk_leave(a);
    back_to_level("invalid UTF-8");
}

/* ---- half-open, and gone mid-frame ----------------------------------------------------------- */

/* The attacker shuts its write side (over TLS: close_notify, then the TCP shutdown). */
static void atk_half_close(atk_t *a)
{
    if (a->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(a->ssl);
        ERR_clear_error();
    }
    cr_assert_eq(shutdown(a->fd, SHUT_WR), 0, "%s", sc.t->name);
}

/*
 * The attacker sends a ping and shuts its write side at once. The ping is dispatched once,
 * and the server then closes the connection: the peer's end of file is no error (`close`
 * false). The answer queued meanwhile is written before the close, as Node does (over TLS
 * the close_notify comes in the read of the ping, after which the answer still goes).
 */
HOSTILE_TEST(a_half_open_peer_is_closed_and_its_answer_never_lost_silently)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    cr_assert(atk_send_str(a, "{\"type\":\"ping\",\"data\":77}\f"), "%s", t->name);
    atk_half_close(a);
    static const char pong[] = "{\"type\":\"pong\",\"data\":77}\f";
    char got[sizeof pong] = {0};
    size_t n = atk_read_all(a, got, sizeof pong - 1, 5000);
    cr_assert(n == sizeof pong - 1 && strcmp(got, pong) == 0, "%s: %zu bytes: %s", t->name, n, got);
    cr_assert(wait_on(&slog, "close", a->sock, from, 1, 5000), "%s: events %s", t->name,
              types_since(&slog, from));
    cr_assert_eq(count_on(&slog, "ping", a->sock, from), 1, "%s", t->name);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 0, "%s: %s", t->name,
                 types_since(&slog, from));
    cr_assert_eq(count_on(&slog, "drop", a->sock, from), 0, "%s: events %s", t->name,
                 types_since(&slog, from));
    cr_assert_eq(slog.num[find_on(&slog, "close", a->sock, from)], 0, "%s: close with an error",
                 t->name);
    atk_gone(a, from);
    back_to_level("a half-open peer");
}

#define BIG_ANSWER ((size_t)16 << 20)

/* A "big" request is answered with BIG_ANSWER bytes of data, then a pong. */
static void answer_big(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    char *s = malloc(BIG_ANSWER);
    cr_assert_not_null(s);
    memset(s, 'a', BIG_ANSWER);
    nipc_server_emit_new(ev->server, ev->socket, "answer", json_stringn(s, BIG_ANSWER));
    free(s);
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

/*
 * A peer that half-closes after its request gets the whole answer before the server closes,
 * as node-ipc's peers do (a Node socket whose peer ended is ended after its queued writes,
 * allowHalfOpen false): over TLS the close_notify comes in the read of the request, and over
 * a Unix socket or TCP the answer is larger than what the socket takes at once.
 */
HOSTILE_TEST(a_half_open_peer_gets_its_whole_answer)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    server_on(sc.server, "big", answer_big, NULL, &sc.level);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    cr_assert(atk_send_str(a, "{\"type\":\"big\",\"data\":5}\f"), "%s", t->name);
    atk_half_close(a);
    size_t want = strlen("{\"type\":\"answer\",\"data\":\"\"}\f") + BIG_ANSWER +
                  strlen("{\"type\":\"pong\",\"data\":5}\f");
    char *got = malloc(want + 1);
    cr_assert_not_null(got);
    size_t n = atk_read_all(a, got, want, 10000);
    int d = find_on(&slog, "drop", a->sock, from);
    cr_assert_eq(n, want, "%s: %zu of %zu bytes of the answer arrived; drop %s", t->name, n, want,
                 d >= 0 ? nipc_err_name(slog.status[d]) : "none");
    static const char pong[] = "{\"type\":\"pong\",\"data\":5}\f";
    cr_assert(memcmp(got + want - (sizeof pong - 1), pong, sizeof pong - 1) == 0, "%s", t->name);
    free(got);
    atk_gone(a, from);
    cr_assert_eq(count_on(&slog, "drop", NULL, from), 0, "%s: %s", t->name,
                 types_since(&slog, from));
    back_to_level("a half-open peer's whole answer");
}

/* A "later" request is answered from a timer of 0 ms: in the loop's next turn, before its
 * poll, where the end of file that came with the request is read. */
static struct {
    uv_timer_t timer;
    nipc_server_t *server;
    nipc_socket_t *socket;
    bool answered;
    int status; /* the emit's: refused when the end of file was read in the request's turn */
} later;

static void answer_now(uv_timer_t *h)
{
    (void)h;
    later.answered = true;
    /* The socket may have closed and gone already (a slow run reads the end in the
     * request's turn): it is answered only while the server still has it. */
    for (size_t i = 0; i < nipc_server_socket_count(later.server); i++) {
        if (nipc_server_socket_at(later.server, i) == later.socket) {
            later.status =
                nipc_server_emit_new(later.server, later.socket, "pong", json_integer(78));
            return;
        }
    }
    later.status = UV_ENOTCONN;
}

static void answer_later(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    later.server = ev->server;
    later.socket = ev->socket;
    uv_timer_start(&later.timer, answer_now, 0, 0);
}

/*
 * The attacker sends a request and closes at once, entirely; the answer is queued in the
 * turn whose poll reads the end of file, so it is written after the end of file, into a
 * socket whose peer is gone. Over TCP the kernel takes it and the peer's reset answers:
 * the shutdown that ends the close fails, and the answer is reported by `drop`, not lost
 * silently; over TLS (no close_notify) the end is an error and the answer never goes: one
 * `drop` of one frame. (Over a Unix socket the end of file comes in the request's own
 * turn, and the emit is refused: nothing accepted, nothing to report.) (An answer
 * the kernel took before the end of file was read is TCP's to lose: nobody can tell.)
 */
HOSTILE_TEST(a_peer_gone_after_its_request_has_its_answer_reported)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    cr_assert_eq(uv_timer_init(&loop, &later.timer), 0);
    server_on(sc.server, "later", answer_later, NULL, &sc.level);
    atk_t *a = atk_join(t, 0);
    nipc_socket_t *sock = a->sock;
    int from = slog.n;
    cr_assert(atk_send_str(a, "{\"type\":\"later\",\"data\":78}\f"), "%s", t->name);
    atk_free(a); /* before the server's loop runs again: the ping and the end come together */
    cr_assert(wait_on(&slog, "close", sock, from, 1, 5000), "%s: events %s", t->name,
              types_since(&slog, from));
    cr_assert_eq(count_on(&slog, "later", sock, from), 1, "%s", t->name);
    cr_assert(later.answered, "%s", t->name);
    uv_close((uv_handle_t *)&later.timer, NULL);
    if (later.status != 0) { /* the end came with the request: nothing was accepted */
        cr_assert_eq(later.status, UV_ENOTCONN, "%s: %s", t->name, nipc_err_name(later.status));
        cr_assert_eq(count_on(&slog, "drop", sock, from), 0, "%s", t->name);
        cr_log_info("%s: the end of file came with the request: the answer was refused", t->name);
        back_to_level("a peer gone after its request");
        return;
    }
    int d = find_on(&slog, "drop", sock, from);
    cr_assert(d >= 0, "%s: the answer was lost silently; events %s", t->name,
              types_since(&slog, from));
    cr_assert_eq(count_on(&slog, "drop", sock, from), 1, "%s", t->name);
    cr_assert_eq(slog.num[d], 1, "%s: %lld frames dropped", t->name, slog.num[d]);
    cr_log_info("%s: the answer to a peer gone was dropped with %s", t->name,
                nipc_err_name(slog.status[d]));
    back_to_level("a peer gone after its request");
}

/* Half a frame, then the peer vanishes (no close_notify over TLS): its connection closes
 * without an error, and the half is never dispatched. */
HOSTILE_TEST(a_peer_gone_mid_frame_costs_only_its_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    /* A frame that asks for no answer: unread bytes would make the close a reset. */
    cr_assert(atk_send_str(a, "{\"type\":\"hi\",\"data\":1}\f{\"type\":\"half\",\"da"), "%s",
              t->name);
    cr_assert(wait_on(&slog, "hi", a->sock, from, 1, 2000), "%s", t->name);
    th_run_for(&loop, 10);
    atk_leave(a);
    cr_assert_eq(count_on(&slog, "half", NULL, from), 0, "%s", t->name);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 0, "%s: %s", t->name,
                 types_since(&slog, from));
    back_to_level("a peer gone mid-frame");
}

/* ---- a slow reader ------------------------------------------------------------------------ */

#define Q_FRAME 1024 /* bytes of each queued frame, delimiter included */
#define Q_MAX (64 * 1024)

/* {"type":"q","data":"<6 digits>xxx..."}, Q_FRAME bytes with its delimiter. */
static json_t *q_data(int seq)
{
    char s[Q_FRAME];
    size_t n = Q_FRAME - sizeof "{\"type\":\"q\",\"data\":\"\"}\f" + 1;
    memset(s, 'x', n);
    snprintf(s, 7, "%06d", seq);
    s[6] = 'x';
    return json_stringn(s, n);
}

/* Counts the q frames of a stream and checks their sequence numbers. */
typedef struct q_reader {
    char part[Q_FRAME];
    size_t plen;
    int frames;
    int bad;
} q_reader_t;

static void q_feed(q_reader_t *r, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r->plen < sizeof r->part)
            r->part[r->plen] = p[i];
        r->plen++;
        if (p[i] != '\f')
            continue;
        char want[32];
        snprintf(want, sizeof want, "{\"type\":\"q\",\"data\":\"%06d", r->frames);
        if (r->plen != Q_FRAME || memcmp(r->part, want, strlen(want)) != 0)
            r->bad++;
        r->frames++;
        r->plen = 0;
    }
}

/* The server writes to a peer that stops reading: the queue stops at max_queued_bytes and
 * emits are refused with NIPC_EQUEUEFULL while the bystander is served; once the peer reads,
 * `drain` names its socket once, every accepted frame arrives in order, and emits succeed
 * again. The queue and the live blocks are sampled while full. */
HOSTILE_TEST(a_slow_reader_fills_its_queue_to_the_bound_and_drains)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_queued_bytes = Q_MAX;
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    int accepted = 0, rc = 0;
    size_t max_queued = 0;
    long max_extra = 0;
    while (accepted < 200000) {
        rc = nipc_server_emit_new(sc.server, a->sock, "q", q_data(accepted));
        if (rc != 0)
            break;
        accepted++;
        uv_run(&loop, UV_RUN_NOWAIT); /* the kernel takes what it can, as in a real program */
    }
    cr_assert_eq(rc, NIPC_EQUEUEFULL, "%s: after %d frames: %s", t->name, accepted,
                 nipc_err_name(rc));
    /* Full means full, for 200 ms of refused emits, while the bystander goes on. */
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(nipc_server_emit_new(sc.server, a->sock, "q", q_data(900000 + i)),
                     NIPC_EQUEUEFULL, "%s", t->name);
        size_t q = nipc__conn_queued(&a->sock->conn);
        max_queued = q > max_queued ? q : max_queued;
        long extra = live() - sc.level;
        max_extra = extra > max_extra ? extra : max_extra;
        if (i % 5 == 0)
            round_trip();
        th_run_for(&loop, 10);
    }
    cr_assert_eq(count_on(&slog, "drain", NULL, from), 0, "%s: drain with nothing read", t->name);
    cr_assert_leq(max_queued, (size_t)Q_MAX + Q_FRAME, "%s: %zu bytes queued", t->name, max_queued);
    cr_assert_gt(max_queued, (size_t)Q_MAX - Q_FRAME, "%s: %zu bytes queued", t->name, max_queued);
    /* The queue is one buffer; TLS adds its ciphertext buffers. */
    cr_assert_leq(max_extra, 16, "%s: %ld live blocks above the level", t->name, max_extra);
    cr_log_info("%s: %d frames accepted, then refused; %zu bytes queued at most, "
                "%ld live blocks above the level",
                t->name, accepted, max_queued, max_extra);

    /* The peer reads everything: drain, once, for its socket. */
    q_reader_t r = {0};
    static char buf[1 << 16];
    uint64_t end = now_ms() + 20000;
    while ((r.frames < accepted || count_on(&slog, "drain", a->sock, from) == 0) &&
           now_ms() < end) {
        ssize_t got = atk_read(a, buf, sizeof buf, 100);
        cr_assert_neq(got, 0, "%s: the connection closed", t->name);
        if (got > 0)
            q_feed(&r, buf, (size_t)got);
    }
    cr_assert_eq(r.frames, accepted, "%s: %d of %d frames read", t->name, r.frames, accepted);
    cr_assert_eq(r.bad, 0, "%s: %d frames out of order or damaged", t->name, r.bad);
    cr_assert_eq(count_on(&slog, "drain", NULL, from), 1, "%s: %s", t->name,
                 types_since(&slog, from));
    cr_assert_eq(nipc_server_emit_new(sc.server, a->sock, "q", q_data(accepted)), 0, "%s", t->name);
    end = now_ms() + 5000;
    while (r.frames < accepted + 1 && now_ms() < end) {
        ssize_t got = atk_read(a, buf, sizeof buf, 100);
        if (got > 0)
            q_feed(&r, buf, (size_t)got);
    }
    cr_assert_eq(r.frames, accepted + 1, "%s: the emit after drain was lost", t->name);
    cr_assert_eq(r.bad, 0, "%s", t->name);
    atk_leave(a);
    back_to_level("a slow reader");
}

/* ---- TLS ---------------------------------------------------------------------------------------
 */

static const th_transport_t tls_t = {"tls", TH_TLS};

/* Bytes that are no TLS handshake, each on a connection of its own: every one is closed with
 * an `error`, none is ever announced, and the server goes on. */
Test(hostile, tls_garbage_instead_of_a_handshake_is_refused)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(&tls_t, &cfg);
    static char random_bytes[4096];
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < sizeof random_bytes; i++)
        random_bytes[i] = (char)(xorshift(&seed) & 0xff);
    random_bytes[0] = 0x16; /* a handshake record... */
    static const char huge_record[] = "\x16\x03\x01\xff\xff\x01\x00\xff\xfb\x03\x03";
    static const char alert_first[] = "\x15\x03\x03\x00\x02\x02\x28";
    static const char finished_first[] = "\x16\x03\x03\x00\x10\x14\x00\x00\x0c"
                                         "0123456789ab";
    static const char app_data_first[] = "\x17\x03\x03\x00\x05hello";
    /* Length 43: type, version 2.0, 18 bytes of cipher specs, no session, 16 of challenge. */
    static const char sslv2_hello[] = "\x80\x2b\x01\x00\x02\x00\x12\x00\x00\x00\x10"
                                      "\x07\x00\xc0\x03\x00\x80\x01\x00\x80\x06\x00\x40"
                                      "\x04\x00\x80\x02\x00\x80"
                                      "0123456789abcdef";
    static const char http[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const struct {
        const char *what;
        const char *p;
        size_t n;
    } cases[] = {
        {"random bytes", random_bytes, sizeof random_bytes},
        {"a record longer than TLS allows", huge_record, sizeof huge_record - 1},
        {"an alert first", alert_first, sizeof alert_first - 1},
        {"Finished first", finished_first, sizeof finished_first - 1},
        {"application data first", app_data_first, sizeof app_data_first - 1},
        {"an SSLv2 ClientHello", sslv2_hello, sizeof sslv2_hello - 1},
        {"an HTTP request", http, sizeof http - 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int from = slog.n;
        atk_t *a = atk_new(&tls_t);
        atk_send(a, cases[k].p, cases[k].n);
        cr_assert(atk_closed(a, 5000), "%s: the connection stays", cases[k].what);
        cr_assert(wait_on(&slog, "error", NULL, from, 1, 2000), "%s: no error: %s", cases[k].what,
                  types_since(&slog, from));
        int e = find_on(&slog, "error", NULL, from);
        cr_assert_lt(slog.status[e], 0, "%s", cases[k].what);
        cr_log_info("%s: %s", cases[k].what, nipc_err_name(slog.status[e]));
        cr_assert_eq(count_on(&slog, "connect", NULL, from), 0, "%s", cases[k].what);
        atk_free(a);
        th_run_for(&loop, 10);
        cr_assert_eq(slog.n, from + 1, "%s: more events: %s", cases[k].what,
                     types_since(&slog, from));
    }
    back_to_level("garbage instead of a handshake");
}

/* A ClientHello, then nothing: the handshake is cut by handshake_timeout_ms (UV_ETIMEDOUT),
 * and the bystander is served while it waits. */
Test(hostile, tls_a_handshake_that_stalls_midway_is_cut)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.tls.handshake_timeout_ms = th_ms(300); /* the bystander's handshake must fit */
    scene_open(&tls_t, &cfg);
    int from = slog.n;
    uint64_t t0 = now_ms();
    atk_t *a = atk_new(&tls_t);
    atk_tls(a, 0);
    ERR_clear_error();
    cr_assert_leq(SSL_do_handshake(a->ssl), 0, "a handshake done in one step");
    ERR_clear_error();
    /* The session goes, so that nothing reading the socket can go on with the handshake. */
    SSL_free(a->ssl);
    a->ssl = NULL;
    for (int i = 0; i < 3; i++) {
        th_run_for(&loop, 50);
        round_trip();
    }
    cr_assert(atk_closed(a, th_ms(3000)), "the stalled handshake was kept");
    cr_assert(wait_on(&slog, "error", NULL, from, 1, 2000), "%s", types_since(&slog, from));
    int e = find_on(&slog, "error", NULL, from);
    cr_assert_eq(slog.status[e], UV_ETIMEDOUT, "%s", nipc_err_name(slog.status[e]));
    uint64_t after = now_ms() - t0;
    cr_assert_geq(after, cfg.tls.handshake_timeout_ms - 10, "cut after %llu ms",
                  (unsigned long long)after);
    cr_assert_eq(count_on(&slog, "connect", NULL, from), 0);
    atk_free(a);
    back_to_level("a stalled handshake");
}

/* The TLS records of `frame`, as the attacker's session would send them, without sending. */
static size_t tls_records(atk_t *a, const char *frame, char *out, size_t cap)
{
    BIO *mem = BIO_new(BIO_s_mem());
    cr_assert_not_null(mem);
    BIO *sock_bio = SSL_get_wbio(a->ssl);
    BIO_up_ref(sock_bio);
    SSL_set0_wbio(a->ssl, mem);
    ERR_clear_error();
    cr_assert_eq(SSL_write(a->ssl, frame, (int)strlen(frame)), (int)strlen(frame));
    char *p;
    long n = BIO_get_mem_data(mem, &p);
    cr_assert(n > 0 && (size_t)n <= cap);
    memcpy(out, p, (size_t)n);
    SSL_set0_wbio(a->ssl, sock_bio); /* frees mem */
    return (size_t)n;
}

/* A frame, then half of the next application-data record, then the peer vanishes: the first
 * is dispatched, nothing else, and the connection closes without an error. */
Test(hostile, tls_a_peer_gone_mid_record_costs_only_its_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(&tls_t, &cfg);
    atk_t *a = atk_join(&tls_t, 0);
    int from = slog.n;
    cr_assert(atk_send_str(a, "{\"type\":\"ping\",\"data\":3}\f"));
    atk_expect(a, "{\"type\":\"pong\",\"data\":3}\f");
    char rec[512];
    size_t n = tls_records(a, "{\"type\":\"never\",\"data\":4}\f", rec, sizeof rec);
    cr_assert_gt(n, 10);
    th_raw_write(a->fd, rec, n / 2);
    th_run_for(&loop, 20);
    atk_leave(a);
    cr_assert_eq(count_on(&slog, "never", NULL, from), 0);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 0, "%s", types_since(&slog, from));
    back_to_level("a peer gone mid-record");
}

/* A TLS 1.2 client asks to renegotiate. nipc refuses (SSL_OP_NO_RENEGOTIATION): its
 * no_renegotiation alert makes an OpenSSL client give up with a fatal alert, and the server
 * then fails that connection alone with NIPC_ETLS. What came before was served. */
Test(hostile, tls12_renegotiation_is_refused)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(&tls_t, &cfg);
    atk_t *a = atk_join(&tls_t, TLS1_2_VERSION);
    cr_assert_eq(SSL_version(a->ssl), TLS1_2_VERSION);
    atk_served(a, 1);
    int from = slog.n;
    ERR_clear_error();
    cr_assert_eq(SSL_renegotiate(a->ssl), 1);
    int r = 0, e = SSL_ERROR_WANT_READ;
    uint64_t end = now_ms() + 3000;
    while ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) && now_ms() < end) {
        pump(a->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
        ERR_clear_error();
        r = SSL_do_handshake(a->ssl);
        e = SSL_get_error(a->ssl, r);
    }
    cr_assert_neq(r, 1, "the server renegotiated");
    cr_assert_eq(e, SSL_ERROR_SSL, "the client still waits (%d)", e);
    cr_assert_eq(ERR_GET_REASON(ERR_peek_error()), SSL_R_NO_RENEGOTIATION, "%s",
                 ERR_reason_error_string(ERR_peek_error()));
    ERR_clear_error();
    cr_assert(wait_on(&slog, "close", a->sock, from, 1, 5000), "%s", types_since(&slog, from));
    int k = find_on(&slog, "error", a->sock, from);
    cr_assert_geq(k, 0, "%s", types_since(&slog, from));
    cr_assert_eq(slog.status[k], NIPC_ETLS, "%s", nipc_err_name(slog.status[k]));
    cr_assert_eq(count_on(&slog, "error", NULL, from), 1, "%s", types_since(&slog, from));
    atk_free(a);
    back_to_level("a renegotiation");
}

/* TLS 1.3 key updates, asked of the server each time: honoured, and frames keep flowing
 * both ways under the new keys. */
Test(hostile, tls13_key_updates_keep_the_connection_working)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(&tls_t, &cfg);
    atk_t *a = atk_join(&tls_t, 0);
    cr_assert_eq(SSL_version(a->ssl), TLS1_3_VERSION);
    int from = slog.n;
    for (int k = 1; k <= 5; k++) {
        ERR_clear_error();
        cr_assert_eq(SSL_key_update(a->ssl, SSL_KEY_UPDATE_REQUESTED), 1);
        atk_served(a, k);
    }
    cr_assert_eq(count_on(&slog, "ping", a->sock, from), 5);
    cr_assert_eq(count_on(&slog, "error", NULL, from), 0, "%s", types_since(&slog, from));
    atk_leave(a);
    back_to_level("key updates");
}

/* What a strict peer sees of a graceful close (nipc_socket_close with flush), with frames
 * queued or none: the frames, then close_notify (SSL_ERROR_ZERO_RETURN), as RFC 8446 6.1
 * requires. With nothing queued the socket used to be closed at once, which OpenSSL 3 reads
 * as a truncation ("unexpected eof while reading"). */
Test(hostile, tls_a_graceful_close_ends_with_close_notify)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(&tls_t, &cfg);
    for (int queued = 0; queued < 3; queued++) {
        atk_t *a = atk_join(&tls_t, 0);
        int from = slog.n;
        for (int i = 0; i < queued; i++)
            cr_assert_eq(nipc_server_emit_new(sc.server, a->sock, "bye", json_integer(i)), 0);
        nipc_socket_t *sock = a->sock;
        cr_assert_eq(nipc_socket_close(sock, true), 0);
        static char buf[4096];
        size_t got = 0;
        int e = SSL_ERROR_WANT_READ, r;
        uint64_t end = now_ms() + 5000;
        while (e == SSL_ERROR_WANT_READ && now_ms() < end) {
            pump(a->fd, POLLIN);
            ERR_clear_error();
            r = SSL_read(a->ssl, buf + got, (int)(sizeof buf - got));
            e = r > 0 ? SSL_ERROR_WANT_READ : SSL_get_error(a->ssl, r);
            got += r > 0 ? (size_t)r : 0;
        }
        const char *why = ERR_reason_error_string(ERR_peek_error());
        ERR_clear_error();
        cr_assert_eq(e, SSL_ERROR_ZERO_RETURN, "%d queued: SSL error %d (%s), no close_notify",
                     queued, e, why != NULL ? why : "-");
        cr_assert_eq(got, queued * strlen("{\"type\":\"bye\",\"data\":0}\f"), "%d queued", queued);
        cr_assert(wait_on(&slog, "close", sock, from, 1, 2000), "%s", types_since(&slog, from));
        cr_assert_eq(count_on(&slog, "drop", NULL, from), 0, "%s", types_since(&slog, from));
        atk_free(a);
    }
    back_to_level("graceful closes");
}

/* ---- UDP ------------------------------------------------------------------------------------ */

typedef struct family {
    const char *name;
    nipc_net_t net;
    const char *host;
    int af;
    size_t max_datagram; /* the largest payload loopback carries */
} family_t;

static const family_t udp4 = {"udp4", NIPC_UDP4, "127.0.0.1", AF_INET, 65507};
static const family_t udp6 = {"udp6", NIPC_UDP6, "::1", AF_INET6, 65527};

/* Two UDP servers: A under attack, B its known peer (node-ipc's UDP "client" is a server). */
typedef struct udp_scene {
    const family_t *f;
    nipc_t *aipc, *bipc;
    nipc_server_t *a, *b;
    int trips;
    long level;
} udp_scene_t;

static udp_scene_t us;
static evlog_t udp_blog; /* B's events */

static nipc_server_t *udp_server(nipc_t **ipc, const family_t *f, const nipc_config_t *cfg,
                                 evlog_t *l)
{
    nipc_server_t *s;
    cr_assert_eq(nipc_new(ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_serve_net(*ipc, f->host, 0, f->net, &s), 0, "%s", f->name);
    int from = l->n;
    nipc_server_on(s, NIPC_EVENT_ANY, note, l);
    cr_assert_eq(nipc_server_start(s), 0, "%s", f->name);
    cr_assert(wait_on(l, "start", NULL, from, 1, 2000), "%s", f->name);
    return s;
}

/* B sends A a ping, and A's echo reaches B. */
static void udp_round_trip(void)
{
    int k = ++us.trips;
    cr_assert_eq(
        nipc_server_emit_to_new(us.b, us.f->host, nipc_server_port(us.a), "ping", json_integer(k)),
        0);
    cr_assert(wait_on(&udp_blog, "pong", NULL, 0, k, 2000), "%s: round trip %d: %s", us.f->name, k,
              types_since(&udp_blog, 0));
}

static void udp_open(const family_t *f, const nipc_config_t *cfg)
{
    memset(&us, 0, sizeof us);
    memset(&slog, 0, sizeof slog);
    memset(&udp_blog, 0, sizeof udp_blog);
    us.f = f;
    us.a = udp_server(&us.aipc, f, cfg, &slog);
    nipc_server_on(us.a, "ping", echo, NULL);
    nipc_config_t bcfg;
    th_config(&bcfg);
    us.b = udp_server(&us.bipc, f, &bcfg, &udp_blog);
    udp_round_trip();
    udp_round_trip();
    us.level = settle();
}

static void udp_back_to_level(const char *what)
{
    udp_round_trip();
    long now = settle();
    cr_log_info("%s: %s: %ld live blocks before, %ld after", us.f->name, what, us.level, now);
    cr_assert_eq(now, us.level, "%s: %s: %ld live blocks, %ld before", us.f->name, what, now,
                 us.level);
}

static void udp_close(void)
{
    if (us.bipc != NULL)
        nipc_free(us.bipc);
    if (us.aipc != NULL)
        nipc_free(us.aipc);
    us.aipc = us.bipc = NULL;
}

/* A raw UDP socket on loopback, port 0; *port is its port. */
static int raw_udp(const family_t *f, int *port)
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len = f->af == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    sa.ss_family = (sa_family_t)f->af;
    if (f->af == AF_INET6)
        inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&sa)->sin6_addr);
    else
        inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&sa)->sin_addr);
    int fd = socket(f->af, SOCK_DGRAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
    /* Room for the largest datagrams, several at once. */
    int sz = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(f->af == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                    : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

static void raw_sendto(const family_t *f, int fd, int port, const void *p, size_t n)
{
    struct sockaddr_storage sa;
    socklen_t len = th_loopback_sockaddr(f->af, port, &sa);
    cr_assert_eq(sendto(fd, p, n, 0, (struct sockaddr *)&sa, len), (ssize_t)n, "sendto %zu: %s", n,
                 strerror(errno));
}

typedef struct big_seen {
    int n;
    size_t len;
} big_seen_t;

static void on_big(const nipc_event_t *ev, void *arg)
{
    big_seen_t *b = arg;
    b->n++;
    b->len = json_string_length(ev->data);
}

/* A datagram of `n` bytes holding one frame {"type":"big","data":"yyy..."}. */
static char *big_datagram(size_t n)
{
    static const char head[] = "{\"type\":\"big\",\"data\":\"";
    char *d = malloc(n);
    cr_assert_not_null(d);
    memcpy(d, head, sizeof head - 1);
    memset(d + sizeof head - 1, 'y', n - (sizeof head - 1) - 3);
    memcpy(d + n - 3, "\"}\f", 3);
    return d;
}

/* The largest datagram each family carries (nipc reads up to 64 KiB, more than either): a
 * frame that fills it is delivered whole, and one with no delimiter is a fragment, an
 * `error` UV_EPROTO. */
static void largest(const family_t *f)
{
    nipc_config_t cfg;
    th_config(&cfg);
    udp_open(f, &cfg);
    big_seen_t seen = {0};
    server_on(us.a, "big", on_big, &seen, &us.level);
    int rport;
    int fd = raw_udp(f, &rport);
    int port = nipc_server_port(us.a);
    size_t n = f->max_datagram;
    char *d = big_datagram(n);
    int from = slog.n;
    raw_sendto(f, fd, port, d, n);
    cr_assert(wait_on(&slog, "big", NULL, from, 1, 2000), "%s: %s", f->name,
              types_since(&slog, from));
    cr_assert_eq(seen.len, n - strlen("{\"type\":\"big\",\"data\":\"\"}\f"),
                 "%s: %zu bytes of data", f->name, seen.len);
    d[n - 1] = 'z'; /* no delimiter: a fragment */
    from = slog.n;
    raw_sendto(f, fd, port, d, n);
    cr_assert(wait_on(&slog, "error", NULL, from, 1, 2000), "%s", f->name);
    cr_assert_eq(slog.status[find_on(&slog, "error", NULL, from)], UV_EPROTO, "%s", f->name);
    cr_assert_eq(seen.n, 1, "%s", f->name);
    free(d);
    close(fd);
    udp_back_to_level("the largest datagrams");
    udp_close();
}

Test(hostile, udp4_the_largest_datagrams)
{
    largest(&udp4);
}

Test(hostile, udp6_the_largest_datagrams)
{
    largest(&udp6);
}

/* Against a max_message_size of 1 KiB, a datagram holding a frame of 1 KiB, one of 2000
 * bytes and a small one: the first and last are delivered, the long one is an `error`
 * UV_EMSGSIZE in its place, as a stream receiver refuses it and a nipc sender would not
 * send it (limits.c). It used to be delivered. */
static void past_max(const family_t *f)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_message_size = 1024;
    udp_open(f, &cfg);
    big_seen_t seen = {0};
    server_on(us.a, "big", on_big, &seen, &us.level);
    int rport;
    int fd = raw_udp(f, &rport);
    char *d = malloc(1025 + 2001 + 32);
    cr_assert_not_null(d);
    char *exact = big_datagram(1025), *over = big_datagram(2001);
    static const char ok[] = "{\"type\":\"ok\",\"data\":1}\f";
    memcpy(d, exact, 1025);
    memcpy(d + 1025, over, 2001);
    memcpy(d + 1025 + 2001, ok, sizeof ok - 1);
    int from = slog.n;
    raw_sendto(f, fd, nipc_server_port(us.a), d, 1025 + 2001 + sizeof ok - 1);
    cr_assert(wait_on(&slog, "ok", NULL, from, 1, 2000), "%s: %s", f->name,
              types_since(&slog, from));
    cr_assert_eq(seen.n, 1, "%s: %d frames of big delivered (%s)", f->name, seen.n,
                 types_since(&slog, from));
    cr_assert_eq(seen.len, 1025 - strlen("{\"type\":\"big\",\"data\":\"\"}\f"), "%s", f->name);
    int b = find_on(&slog, "big", NULL, from), e = find_on(&slog, "error", NULL, from);
    cr_assert(b >= 0 && e == b + 1 && find_on(&slog, "ok", NULL, from) == e + 1, "%s: %s", f->name,
              types_since(&slog, from));
    cr_assert_eq(slog.status[e], UV_EMSGSIZE, "%s: %s", f->name, nipc_err_name(slog.status[e]));
    free(exact);
    free(over);
    free(d);
    close(fd);
    udp_back_to_level("a frame past max_message_size");
    udp_close();
}

Test(hostile, udp4_a_frame_past_max_message_size_is_refused)
{
    past_max(&udp4);
}

Test(hostile, udp6_a_frame_past_max_message_size_is_refused)
{
    past_max(&udp6);
}

typedef struct stranger {
    int port;
    int seen; /* frames of A's broadcast it got */
} stranger_t;

/* Senders A never heard of, more than max_connections of them: each frame is published with
 * its own sender, their garbage is an `error`, and broadcast reaches the most recent
 * max_connections senders only; A's memory does not grow with them. */
static void strangers(const family_t *f)
{
    enum { MAXC = 4, N = 12 };
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = MAXC;
    udp_open(f, &cfg);
    int port = nipc_server_port(us.a);
    int fds[N];
    stranger_t s[N];
    int from = slog.n;
    for (int i = 0; i < N; i++) {
        fds[i] = raw_udp(f, &s[i].port);
        char frame[64];
        int len = snprintf(frame, sizeof frame, "{\"type\":\"hi\",\"data\":%d}\f", i);
        raw_sendto(f, fds[i], port, frame, (size_t)len);
        raw_sendto(f, fds[i], port, "\xff\xfe\f", 3);
        cr_assert(wait_on(&slog, "hi", NULL, from, i + 1, 2000), "%s: stranger %d", f->name, i);
    }
    cr_assert(wait_on(&slog, "error", NULL, from, N, 2000), "%s: %s", f->name,
              types_since(&slog, from));
    for (int i = 0; i < N; i++) {
        int k = find_on(&slog, "hi", NULL, from);
        for (int j = 0; j < i; j++)
            k = find_on(&slog, "hi", NULL, k + 1);
        cr_assert_eq(slog.num[k], i, "%s", f->name);
    }
    cr_assert_eq(nipc_server_broadcast(us.a, "news", NULL), 0, "%s", f->name);
    th_run_for(&loop, 50);
    char buf[256];
    for (int i = 0; i < N; i++) {
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        ssize_t r;
        s[i].seen = 0;
        while ((r = recv(fds[i], buf, sizeof buf, 0)) > 0)
            s[i].seen += r == (ssize_t)strlen("{\"type\":\"news\",\"data\":{}}\f");
        cr_assert_eq(s[i].seen, i >= N - MAXC, "%s: stranger %d got %d broadcasts", f->name, i,
                     s[i].seen);
    }
    cr_assert_eq(count_on(&udp_blog, "news", NULL, 0), 0, "%s: B was evicted by newer senders",
                 f->name);
    /* B speaks again: it is among the most recent, and hears the next broadcast. */
    udp_round_trip();
    cr_assert_eq(nipc_server_broadcast(us.a, "news", NULL), 0, "%s", f->name);
    cr_assert(wait_on(&udp_blog, "news", NULL, 0, 1, 2000), "%s", f->name);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    udp_back_to_level("strangers");
    udp_close();
}

Test(hostile, udp4_datagrams_from_unknown_senders)
{
    strangers(&udp4);
}

Test(hostile, udp6_datagrams_from_unknown_senders)
{
    strangers(&udp6);
}

/* Truncations: half a frame, a frame and half of the next, a frame cut inside a UTF-8
 * sequence, a lone delimiter, an empty datagram. Each fragment is one `error` UV_EPROTO, an
 * empty frame an `error` too (W11), whole frames before a cut are delivered, an empty
 * datagram is nothing at all. */
static void truncated(const family_t *f)
{
    nipc_config_t cfg;
    th_config(&cfg);
    udp_open(f, &cfg);
    int rport;
    int fd = raw_udp(f, &rport);
    int port = nipc_server_port(us.a);
    const struct {
        const char *p;
        size_t n;
        int errors;
        int whole;
    } cases[] = {
#define CASE(lit, errors, whole) {lit, sizeof lit - 1, errors, whole}
        CASE("{\"type\":\"whole\",\"da", 1, 0),
        CASE("{\"type\":\"whole\",\"data\":1}\f{\"type\":\"whole\"", 1, 1),
        CASE("{\"type\":\"whole\",\"data\":\"\xe2\x82", 1, 0),
        CASE("{\"type\":\"whole\",\"data\":\"\xe2\x82\f", 1, 0),
        CASE("\f", 1, 0),
        CASE("\f\f{\"type\":\"whole\",\"data\":2}\f", 2, 1),
        CASE("", 0, 0),
#undef CASE
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int from = slog.n;
        raw_sendto(f, fd, port, cases[k].p, cases[k].n);
        udp_round_trip(); /* after the datagram: everything it caused is in the log */
        cr_assert_eq(count_on(&slog, "error", NULL, from), cases[k].errors, "%s: case %zu: %s",
                     f->name, k, types_since(&slog, from));
        cr_assert_eq(count_on(&slog, "whole", NULL, from), cases[k].whole, "%s: case %zu: %s",
                     f->name, k, types_since(&slog, from));
        for (int i = from; i < slog.n; i++)
            if (strcmp(slog.type[i], "error") == 0)
                cr_assert_eq(slog.status[i], UV_EPROTO, "%s: case %zu: %s", f->name, k,
                             nipc_err_name(slog.status[i]));
    }
    close(fd);
    udp_back_to_level("truncated frames");
    udp_close();
}

Test(hostile, udp4_truncated_frames)
{
    truncated(&udp4);
}

Test(hostile, udp6_truncated_frames)
{
    truncated(&udp6);
}

/* ---- a flush that cannot finish ----------------------------------------------------------- */

/*
 * The server closes the attacker's socket with flush while megabytes are queued for it, and
 * the attacker then vanishes without reading (a reset). The write fails, nothing will ever be
 * read: the close completes at once, and `drop` reports what was left with the write's
 * error, not after flush_timeout_ms with UV_ETIMEDOUT.
 */
HOSTILE_TEST(a_flushing_close_to_a_peer_that_resets_ends_at_once)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.flush_timeout_ms = 5000;
    scene_open(t, &cfg);
    atk_t *a = atk_join(t, 0);
    int from = slog.n;
    char *big = malloc(1 << 20);
    cr_assert_not_null(big);
    memset(big, 'r', 1 << 20);
    json_t *s = json_stringn(big, 1 << 20);
    free(big);
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(nipc_server_emit(sc.server, a->sock, "big", s), 0, "%s", t->name);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    json_decref(s);
    cr_assert_gt(nipc__conn_queued(&a->sock->conn), 0, "%s: nothing queued", t->name);
    cr_assert_eq(nipc_socket_close(a->sock, true), 0, "%s", t->name);
    th_run_for(&loop, 20);
    uint64_t t0 = now_ms();
    nipc_socket_t *sock = a->sock;
    /* Unread bytes: the kernel resets the connection. */
    struct linger lg = {1, 0};
    setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    atk_free(a);
    cr_assert(wait_on(&slog, "close", sock, from, 1, 8000), "%s: events %s", t->name,
              types_since(&slog, from));
    uint64_t ms = now_ms() - t0;
    int d = find_on(&slog, "drop", sock, from);
    cr_log_info("%s: closed %llu ms after the reset; drop %s", t->name, (unsigned long long)ms,
                d >= 0 ? nipc_err_name(slog.status[d]) : "none");
    cr_assert_lt(ms, 2000, "%s: the close waited %llu ms for a peer that is gone", t->name,
                 (unsigned long long)ms);
    cr_assert_geq(d, 0, "%s: %s", t->name, types_since(&slog, from));
    cr_assert_neq(slog.status[d], UV_ETIMEDOUT, "%s", t->name);
    back_to_level("a flush that cannot finish");
}

/* ---- peers that reset ------------------------------------------------------------------------ */

/* Twenty peers connect and reset at once (SO_LINGER 0; over TLS some mid-handshake, after
 * their ClientHello): whatever each costs the server (an accept, an `error`), it goes on. */
HOSTILE_TEST(peers_that_reset_at_once_cost_nothing)
{
    nipc_config_t cfg;
    th_config(&cfg);
    scene_open(t, &cfg);
    int from = slog.n;
    for (int i = 0; i < 20; i++) {
        atk_t *a = atk_new(t);
        if (t->kind == TH_TLS && i % 2 == 1) {
            atk_tls(a, 0);
            ERR_clear_error();
            SSL_do_handshake(a->ssl); /* the ClientHello goes */
            ERR_clear_error();
        }
        if (i % 4 == 3)
            th_run_for(&loop, 2); /* some are accepted first */
        struct linger lg = {1, 0};
        setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        atk_free(a);
    }
    th_run_for(&loop, 100);
    for (int i = from; i < slog.n; i++)
        if (strcmp(slog.type[i], "error") == 0)
            cr_assert_lt(slog.status[i], 0, "%s", t->name);
    cr_log_info("%s: twenty resets: %s", t->name, types_since(&slog, from));
    /* One `error` at most for each: a second came when a write of the TLS engine's failed
     * after its connection had begun to close. */
    cr_assert_leq(count_on(&slog, "error", NULL, from), 20, "%s: %s", t->name,
                  types_since(&slog, from));
    cr_assert_eq(count_on(&slog, "connect", NULL, from), count_on(&slog, "close", NULL, from),
                 "%s: a socket announced and never closed: %s", t->name, types_since(&slog, from));
    back_to_level("peers that reset");
}

/* ---- a hostile server ------------------------------------------------------------------------ */

/* The attacker as a server: a raw listener's connection, for TLS with the test server's
 * certificate, which the client trusts (th_tls_enable). */
static atk_t *atk_accept(const th_transport_t *t, int lfd)
{
    cr_assert_lt(natks, MAX_ATK);
    atk_t *a = &atks[natks++];
    memset(a, 0, sizeof *a);
    a->fd = th_raw_accept_any(&loop, t, lfd, 5000);
    cr_assert_geq(a->fd, 0, "%s: the client did not connect", t->name);
    if (t->kind != TH_TLS)
        return a;
    a->ctx = SSL_CTX_new(TLS_server_method());
    cr_assert_not_null(a->ctx);
    char *pem = th_tls_path("server.pem"), *key = th_tls_path("server.key");
    cr_assert_eq(SSL_CTX_use_certificate_chain_file(a->ctx, pem), 1);
    cr_assert_eq(SSL_CTX_use_PrivateKey_file(a->ctx, key, SSL_FILETYPE_PEM), 1);
    free(pem);
    free(key);
    a->ssl = SSL_new(a->ctx);
    cr_assert_not_null(a->ssl);
    cr_assert(SSL_set_fd(a->ssl, a->fd));
    SSL_set_accept_state(a->ssl);
    cr_assert(atk_handshake(a, 5000), "%s: the client's handshake failed", t->name);
    return a;
}

typedef struct victim {
    nipc_t *ipc;
    nipc_client_t *c;
    int trips;
} victim_t;

/* The attacker sends w k, the client gets it; the client sends up k, the attacker reads it. */
static void victim_round_trip(const th_transport_t *t, victim_t *v, atk_t *a)
{
    int k = ++v->trips;
    char frame[64];
    snprintf(frame, sizeof frame, "{\"type\":\"w\",\"data\":%d}\f", k);
    int from = cl_log.n;
    cr_assert(atk_send_str(a, frame), "%s", t->name);
    cr_assert(wait_on(&cl_log, "w", NULL, from, 1, 5000), "%s: %s", t->name,
              types_since(&cl_log, from));
    cr_assert_eq(cl_log.num[find_on(&cl_log, "w", NULL, from)], k, "%s", t->name);
    cr_assert_eq(nipc_client_emit_new(v->c, "up", json_integer(k)), 0, "%s", t->name);
    snprintf(frame, sizeof frame, "{\"type\":\"up\",\"data\":%d}\f", k);
    atk_expect(a, frame);
}

/* A server that sends garbage, every reserved name, invalid UTF-8, then a frame that never
 * ends: the client reports each as an `error` and stays, until the endless frame, which
 * costs it its connection (UV_EMSGSIZE); it reconnects as configured and works again, and its
 * live blocks are back to their level. */
HOSTILE_TEST(a_hostile_server_costs_a_client_its_connection_at_most)
{
    memset(&cl_log, 0, sizeof cl_log);
    sc.t = t; /* for the helpers' messages */
    int port;
    int lfd = th_raw_listen_any(t, dir, "evil.sock", &port);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.max_message_size = 64 * 1024;
    victim_t v = {0};
    cr_assert_eq(nipc_new(&v.ipc, &loop, &cfg), 0);
    sc.cipc = v.ipc; /* freed in teardown if the test fails */
    cr_assert_eq(th_connect_raw(v.ipc, t, "evil", dir, "evil.sock", port, &v.c), 0, "%s", t->name);
    nipc_client_on(v.c, NIPC_EVENT_ANY, note, &cl_log);
    atk_t *a = atk_accept(t, lfd);
    cr_assert(wait_on(&cl_log, "connect", NULL, 0, 1, 5000), "%s", t->name);
    victim_round_trip(t, &v, a);
    victim_round_trip(t, &v, a);
    long level = settle();

    int from = cl_log.n;
    char frames[4096];
    size_t n = 0;
    int expected = 0;
    n += (size_t)snprintf(frames + n, sizeof frames - n, "not json\f\f[1]\f{\"type\":");
    n += (size_t)snprintf(frames + n, sizeof frames - n, "\"\xff\"}\f");
    expected += 4;
    for (int i = 0; i < N_RESERVED; i++, expected++)
        n += (size_t)snprintf(frames + n, sizeof frames - n, "{\"type\":\"%s\",\"data\":%d}\f",
                              reserved[i], i);
    for (int k = 0; k < N_UTF8; k++) {
        if (utf8_cases[k].type != NULL)
            continue;
        n += (size_t)snprintf(frames + n, sizeof frames - n, "%s\f", utf8_cases[k].frame);
        expected++;
    }
    cr_assert(atk_send(a, frames, n), "%s", t->name);
    cr_assert(wait_on(&cl_log, "error", NULL, from, expected, 5000), "%s: %d of %d errors: %s",
              t->name, count_on(&cl_log, "error", NULL, from), expected,
              types_since(&cl_log, from));
    th_run_for(&loop, 20);
    cr_assert_eq(cl_log.n, from + expected, "%s: more than errors: %s", t->name,
                 types_since(&cl_log, from));
    cr_assert(nipc_client_connected(v.c), "%s", t->name);
    victim_round_trip(t, &v, a);

    from = cl_log.n;
    char *endless = malloc(1 << 20);
    cr_assert_not_null(endless);
    memset(endless, 'e', 1 << 20);
    atk_send(a, endless, 1 << 20); /* refused part-way: the client closed */
    free(endless);
    cr_assert(wait_on(&cl_log, "disconnect", NULL, from, 1, 5000), "%s: %s", t->name,
              types_since(&cl_log, from));
    int e = find_on(&cl_log, "error", NULL, from);
    cr_assert(e >= 0 && cl_log.status[e] == UV_EMSGSIZE, "%s: %s", t->name,
              types_since(&cl_log, from));
    atk_free(a);
    atk_t *b = atk_accept(t, lfd);
    cr_assert(wait_on(&cl_log, "connect", NULL, from, 1, 5000), "%s: no reconnect: %s", t->name,
              types_since(&cl_log, from));
    victim_round_trip(t, &v, b);
    long now = settle();
    cr_log_info("%s: a hostile server: the client's live blocks %ld before, %ld after", t->name,
                level, now);
    cr_assert_eq(now, level, "%s: %ld live blocks, %ld before", t->name, now, level);
    atk_free(b);
    close(lfd);
}
