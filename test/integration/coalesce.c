/* SPDX-License-Identifier: MIT */
/*
 * Writes are coalesced: the emits one callback makes leave in one write() per connection,
 * not one write() each (a burst of 1000 small frames, 25 KB, may take two: past 16 KiB the
 * queue goes at once, see the last test). The count is Linux's per-thread `syscw`
 * (/proc/thread-self/io), the number of write-family system calls the calling thread made; the
 * peers are raw sockets that only read, so every write in the measured window is nipc's. Checked
 * for a client's emits, a server's emits and a broadcast to three sockets. And an emit made from a
 * timer is written at once, without waiting for unrelated I/O: the loop must not block in its poll
 * while bytes are queued. Every test runs over every stream transport of the suite (a Unix
 * socket, TCP on 127.0.0.1 and on ::1, see ../support/transport.h): over TCP nipc turns
 * Nagle off, so a coalesced write is not delayed either, and the raw peers set TCP_NODELAY
 * too; the count stays nipc's alone, as the peers still only read. Past 16 KiB queued, the
 * write does not wait for the end of the turn: it starts inside the emit that crossed it.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(coalesce, 30);

#define BURST 1000

/* Write-family system calls made so far by this thread, or -1. Reads only. */
static long long syscw(void)
{
    char b[1024];
    int fd = open("/proc/thread-self/io", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0)
        return -1;
    b[n] = '\0';
    const char *p = strstr(b, "syscw:");
    return p != NULL ? atoll(p + 6) : -1;
}

static void need_syscw(void)
{
    if (syscw() < 0)
        cr_skip_test("no /proc/thread-self/io on this system");
    if (th_valgrind())
        cr_skip_test("valgrind's own writes (its scheduler's pipe) count in syscw");
}

/* The bytes of BURST frames {"type":"n","data":i}\f, i = 0..BURST-1. */
static char *burst_bytes(size_t *len)
{
    size_t cap = (size_t)BURST * 32, n = 0;
    char *b = malloc(cap);
    cr_assert_not_null(b);
    for (int i = 0; i < BURST; i++)
        n += (size_t)snprintf(b + n, cap - n, "{\"type\":\"n\",\"data\":%d}\f", i);
    cr_assert_lt(n, cap);
    *len = n;
    return b;
}

/* One timer callback makes every emit; nothing in it may write but nipc. */
typedef struct burst {
    nipc_client_t *client; /* client emits, or */
    nipc_server_t *server; /* server emits to `socket`, or broadcasts when it is NULL */
    nipc_socket_t *socket;
    long long before; /* syscw when the callback began */
    int failed;       /* emits that did not return 0 */
    int first_err;
    bool fired;
} burst_t;

static void on_burst(uv_timer_t *t)
{
    burst_t *b = t->data;
    b->before = syscw();
    for (int i = 0; i < BURST; i++) {
        json_t *d = json_integer(i);
        int rc;
        if (b->client != NULL)
            rc = nipc_client_emit(b->client, "n", d);
        else if (b->socket != NULL)
            rc = nipc_server_emit(b->server, b->socket, "n", d);
        else
            rc = nipc_server_broadcast(b->server, "n", d);
        json_decref(d);
        if (rc != 0 && b->failed++ == 0)
            b->first_err = rc;
    }
    b->fired = true;
}

/*
 * Fires the burst, then reads every raw socket until it has the BURST frames, and returns
 * the number of write calls made meanwhile. Nothing here asserts until the count is taken.
 */
static long long run_burst(const th_transport_t *t, burst_t *b, const int *fds, int nfds,
                           char **got, size_t len)
{
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = b;
    uv_timer_start(&timer, on_burst, 1, 0);
    th_run_until(&loop, &b->fired, 2000);
    size_t n[8] = {0};
    for (int i = 0; i < nfds; i++)
        n[i] = th_raw_read(&loop, fds[i], got[i], len, 5000);
    long long after = syscw();
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT); /* `timer` lives on this stack */

    cr_assert(b->fired, "%s: the burst timer did not fire", t->name);
    cr_assert_eq(b->failed, 0, "%s: %d emits failed, the first with %s", t->name, b->failed,
                 nipc_err_name(b->first_err));
    for (int i = 0; i < nfds; i++)
        cr_assert_eq(n[i], len, "%s: socket %d: read %zu of %zu bytes", t->name, i, n[i], len);
    cr_assert(b->before >= 0 && after >= 0, "%s", t->name);
    return after - b->before;
}

/* Every frame, once, in order: the bytes equal what BURST emits encode to. */
static void assert_frames(const th_transport_t *t, const char *got, const char *want, size_t len,
                          int sock)
{
    for (size_t i = 0; i < len; i++) {
        if (got[i] == want[i])
            continue;
        size_t from = i > 20 ? i - 20 : 0;
        int n = (int)(len - from < 40 ? len - from : 40);
        cr_assert_fail("%s: socket %d: byte %zu differs: ...%.*s, want ...%.*s", t->name, sock, i,
                       n, got + from, n, want + from);
    }
}

ParameterizedTestParameters(coalesce, a_thousand_client_emits_in_one_callback_take_one_write)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, coalesce,
                  a_thousand_client_emits_in_one_callback_take_one_write)
{
    need_syscw();
    int port;
    int lfd = th_raw_listen_any(t, dir, "c.sock", &port);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    nipc_t *ipc;
    nipc_client_t *c;
    bool connected = false;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "raw", dir, "c.sock", port, &c), 0, "%s", t->name);
    nipc_client_on(c, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
    int fd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(fd >= 0, "%s", t->name);

    size_t len;
    char *want = burst_bytes(&len);
    char *got = malloc(len);
    cr_assert_not_null(got, "%s", t->name);
    burst_t b = {.client = c};
    long long writes = run_burst(t, &b, &fd, 1, &got, len);
    assert_frames(t, got, want, len, 0);
    cr_assert(writes >= 1 && writes <= 2, "%s: %d emits took %lld write calls", t->name, BURST,
              writes);

    free(want);
    free(got);
    nipc_free(ipc);
    close(fd);
    close(lfd);
}

ParameterizedTestParameters(coalesce, a_thousand_server_emits_in_one_callback_take_one_write)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, coalesce,
                  a_thousand_server_emits_in_one_callback_take_one_write)
{
    need_syscw();
    nipc_config_t cfg;
    th_config(&cfg);
    static th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "s.sock");
    int fd = th_raw_connect_server(t, srv.server);
    uint64_t end = uv_hrtime() / 1000000 + 2000;
    while (nipc_server_socket_count(srv.server) < 1 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 1);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);

    size_t len;
    char *want = burst_bytes(&len);
    char *got = malloc(len);
    cr_assert_not_null(got, "%s", t->name);
    burst_t b = {.server = srv.server, .socket = nipc_server_socket_at(srv.server, 0)};
    long long writes = run_burst(t, &b, &fd, 1, &got, len);
    assert_frames(t, got, want, len, 0);
    cr_assert(writes >= 1 && writes <= 2, "%s: %d emits took %lld write calls", t->name, BURST,
              writes);

    free(want);
    free(got);
    nipc_free(srv.ipc);
    close(fd);
}

ParameterizedTestParameters(coalesce, a_thousand_broadcasts_take_one_write_per_socket)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, coalesce, a_thousand_broadcasts_take_one_write_per_socket)
{
    need_syscw();
    nipc_config_t cfg;
    th_config(&cfg);
    static th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "b.sock");
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = th_raw_connect_server(t, srv.server);
    uint64_t end = uv_hrtime() / 1000000 + 2000;
    while (nipc_server_socket_count(srv.server) < 3 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 1);
    cr_assert_eq(nipc_server_socket_count(srv.server), 3, "%s", t->name);

    size_t len;
    char *want = burst_bytes(&len);
    char *got[3];
    for (int i = 0; i < 3; i++) {
        got[i] = malloc(len);
        cr_assert_not_null(got[i], "%s", t->name);
    }
    burst_t b = {.server = srv.server};
    long long writes = run_burst(t, &b, fds, 3, got, len);
    for (int i = 0; i < 3; i++)
        assert_frames(t, got[i], want, len, i);
    cr_assert(writes >= 3 && writes <= 6, "%s: %d broadcasts to 3 sockets took %lld write calls",
              t->name, BURST, writes);

    free(want);
    for (int i = 0; i < 3; i++) {
        free(got[i]);
        close(fds[i]);
    }
    nipc_free(srv.ipc);
}

/* ---- an emit from a timer does not wait for other I/O -------------------------------------- */

typedef struct late {
    nipc_client_t *client; /* the emitter: a client, or */
    nipc_server_t *server; /* a server emitting to `socket` */
    nipc_socket_t *socket;
    int fd; /* the raw peer */
    int rc;
    uint64_t fired; /* uv_hrtime() when the timer ran */
    uint64_t arrived;
    char buf[64];
    size_t got;
    bool done;
} late_t;

static void on_emit_timer(uv_timer_t *t)
{
    late_t *l = t->data;
    l->fired = uv_hrtime();
    l->rc = l->client ? nipc_client_emit(l->client, "tick", NULL)
                      : nipc_server_emit(l->server, l->socket, "tick", NULL);
}

static void on_raw_readable(uv_poll_t *p, int status, int events)
{
    late_t *l = p->data;
    (void)events;
    if (status < 0)
        return;
    ssize_t r = read(l->fd, l->buf + l->got, sizeof l->buf - 1 - l->got);
    if (r <= 0)
        return;
    if (l->got == 0)
        l->arrived = uv_hrtime();
    l->got += (size_t)r;
    l->buf[l->got] = '\0';
    l->done = strchr(l->buf, '\f') != NULL;
}

/*
 * Arms a 20 ms timer that emits once, and watches the raw socket from the loop itself
 * (uv_poll), so the loop runs as an application's would: blocking in its poll when it has
 * nothing to do. The only other timer is the 5 s deadline, so a frame left queued until the
 * poll wakes up would arrive about 5 s late.
 */
static void assert_written_at_once(const th_transport_t *t, late_t *l)
{
    uv_poll_t watch;
    cr_assert_eq(uv_poll_init(&loop, &watch, l->fd), 0, "%s", t->name);
    watch.data = l;
    uv_poll_start(&watch, UV_READABLE, on_raw_readable);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    timer.data = l;
    uv_timer_start(&timer, on_emit_timer, 20, 0);

    th_run_until(&loop, &l->done, 5000);
    uv_close((uv_handle_t *)&watch, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);

    cr_assert_neq(l->fired, 0, "%s: the timer did not fire", t->name);
    cr_assert_eq(l->rc, 0, "%s: emit: %s", t->name, nipc_err_name(l->rc));
    cr_assert(l->done, "%s: the frame never arrived", t->name);
    cr_assert_str_eq(l->buf, "{\"type\":\"tick\",\"data\":{}}\f", "%s", t->name);
    uint64_t ms = (l->arrived - l->fired) / 1000000;
    cr_assert_lt(ms, 1000, "%s: the frame arrived %llu ms after the emit", t->name,
                 (unsigned long long)ms);
}

ParameterizedTestParameters(coalesce, a_client_emit_from_a_timer_is_written_without_other_io)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, coalesce,
                  a_client_emit_from_a_timer_is_written_without_other_io)
{
    int port;
    int lfd = th_raw_listen_any(t, dir, "t.sock", &port);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    nipc_t *ipc;
    nipc_client_t *c;
    bool connected = false;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "raw", dir, "t.sock", port, &c), 0, "%s", t->name);
    nipc_client_on(c, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
    int fd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(fd >= 0, "%s", t->name);
    /* Let the connect settle: no work is left queued in the loop. */
    th_run_for(&loop, 20);

    late_t l = {.client = c, .fd = fd};
    assert_written_at_once(t, &l);
    nipc_free(ipc);
    close(fd);
    close(lfd);
}

ParameterizedTestParameters(coalesce, a_server_emit_from_a_timer_is_written_without_other_io)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, coalesce,
                  a_server_emit_from_a_timer_is_written_without_other_io)
{
    nipc_config_t cfg;
    th_config(&cfg);
    static th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "ts.sock");
    int fd = th_raw_connect_server(t, srv.server);
    uint64_t end = uv_hrtime() / 1000000 + 2000;
    while (nipc_server_socket_count(srv.server) < 1 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 1);
    cr_assert_eq(nipc_server_socket_count(srv.server), 1, "%s", t->name);
    th_run_for(&loop, 20);

    late_t l = {.server = srv.server, .socket = nipc_server_socket_at(srv.server, 0), .fd = fd};
    assert_written_at_once(t, &l);
    nipc_free(srv.ipc);
    close(fd);
}

/* ---- past 16 KiB queued, the write starts inside the callback ------------------------------ */

#define EARLY_FRAMES 12
#define EARLY_SIZE (8 * 1024) /* 12 frames of 8 KiB: the 2nd crosses 16 KiB */

typedef struct early {
    nipc_client_t *client;
    long long inside; /* write calls made before the callback returned */
    int failed;
    int events; /* published while the callback ran */
    bool fired;
} early_t;

static early_t early;

static void count_event(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (!early.fired)
        early.events++;
}

static void on_early(uv_timer_t *t)
{
    (void)t;
    char *big = malloc(EARLY_SIZE + 1);
    memset(big, 'x', EARLY_SIZE);
    big[EARLY_SIZE] = '\0';
    json_t *d = json_string(big);
    free(big);
    long long before = syscw();
    for (int i = 0; i < EARLY_FRAMES; i++)
        early.failed += nipc_client_emit(early.client, "n", d) != 0;
    early.inside = syscw() - before;
    json_decref(d);
    early.fired = true;
}

ParameterizedTestParameters(coalesce, past_16_kib_queued_a_callback_writes_before_it_returns)
{
    TH_TRANSPORT_PARAMS();
}

/* A peer answering a batch of requests in one callback gets the first answers while it makes
 * the rest: past 16 KiB the queue is written at once, inside the emit, and still no event is
 * published inside the call. */
ParameterizedTest(th_transport_t *t, coalesce,
                  past_16_kib_queued_a_callback_writes_before_it_returns)
{
    need_syscw();
    int port;
    int lfd = th_raw_listen_any(t, dir, "e.sock", &port);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    nipc_t *ipc;
    bool connected = false;
    memset(&early, 0, sizeof early);
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0, "%s", t->name);
    cr_assert_eq(th_connect_raw(ipc, t, "raw", dir, "e.sock", port, &early.client), 0, "%s",
                 t->name);
    nipc_client_on(early.client, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, 2000), "%s", t->name);
    nipc_client_on(early.client, NIPC_EVENT_ANY, count_event, NULL);
    int fd = th_raw_accept_any(&loop, t, lfd, 2000);
    cr_assert(fd >= 0, "%s", t->name);

    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, on_early, 1, 0);
    th_run_until(&loop, &early.fired, 2000);
    size_t frame = EARLY_SIZE + sizeof "{\"type\":\"n\",\"data\":\"\"}\f" - 1;
    size_t len = frame * EARLY_FRAMES;
    char *got = malloc(len);
    cr_assert_not_null(got);
    size_t n = th_raw_read(&loop, fd, got, len, 5000);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);

    cr_assert(early.fired, "%s", t->name);
    cr_assert_eq(early.failed, 0, "%s", t->name);
    cr_assert_geq(early.inside, 1,
                  "%s: %d KiB queued, and nothing written before the end of "
                  "the turn",
                  t->name, EARLY_SIZE * EARLY_FRAMES / 1024);
    cr_assert_eq(early.events, 0, "%s: an event inside the emits", t->name);
    cr_assert_eq(n, len, "%s: read %zu of %zu bytes", t->name, n, len);
    for (int i = 0; i < EARLY_FRAMES; i++)
        cr_assert_eq(memcmp(got + (size_t)i * frame, "{\"type\":\"n\",\"data\":\"xx", 22), 0,
                     "%s: frame %d", t->name, i);
    free(got);
    nipc_free(ipc);
    close(fd);
    close(lfd);
}
