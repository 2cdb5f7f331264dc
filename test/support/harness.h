/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the integration and interop tests: a temporary directory per test, a
 * loop runner with a deadline, an event recorder, and raw sockets for speaking bytes to a
 * nipc peer. Everything is static so each test file stays one translation unit.
 */
#ifndef NIPC_TEST_HARNESS_H
#define NIPC_TEST_HARNESS_H

#include <nipc.h>

#ifdef NIPC_TEST_BARE /* the tsan tree's thread tests: Criterion's API without Criterion */
#include "bare.h"
#else
#include <criterion/criterion.h>
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TH_UNUSED __attribute__((unused))

/* ---- temporary directory --------------------------------------------------------------- */

/* A fresh directory under /tmp (short, so socket paths fit in sun_path). */
static TH_UNUSED void th_tmpdir(char out[64])
{
    snprintf(out, 64, "/tmp/nipc-t-XXXXXX");
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

/* Removes dir and what a test put in it, subdirectories too (a test's certificates). */
static TH_UNUSED void th_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno == EISDIR)
            th_rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* dir + "/" + name, in a rotating static buffer. */
static TH_UNUSED const char *th_path(const char *dir, const char *name)
{
    static char bufs[4][256];
    static int i;
    char *b = bufs[i++ % 4];
    snprintf(b, 256, "%s/%s", dir, name);
    return b;
}

/* Under valgrind (test/support/valgrind.sh): a test scales down what only costs time there. */
static TH_UNUSED bool th_valgrind(void)
{
    const char *v = getenv("NIPC_VALGRIND");
    return v != NULL && strcmp(v, "1") == 0;
}

/* A test's interval or bound in ms, ten times longer under valgrind, where everything is
 * 20 to 50 times slower: for the tests whose timing is the point and cannot be dropped. */
static TH_UNUSED unsigned th_ms(unsigned ms)
{
    return th_valgrind() ? 10 * ms : ms;
}

/* Defaults, but silent: tests read events, not logs. */
static TH_UNUSED void th_config(nipc_config_t *cfg)
{
    nipc_config_init(cfg);
    cfg->silent = true;
}

/* A logger that appends each line and a newline to a char[4096] (arg), cut to fit. */
static TH_UNUSED void th_log_to(const char *line, void *arg)
{
    char *log = arg;
    size_t n = strlen(log);
    if (n < 4095)
        snprintf(log + n, 4096 - n, "%s\n", line);
}

/* ---- loop ------------------------------------------------------------------------------ */

/*
 * uv_stop() matters: libuv (1.44) runs due timers at the top of a UV_RUN_ONCE iteration and
 * then polls with no timeout when no timer is left, so a deadline that fires there would
 * leave the loop blocked until some unrelated I/O, for ever if none comes.
 */
static TH_UNUSED void th_on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
    uv_stop(t->loop);
}

/*
 * Runs the loop until *done is true or `ms` pass. Returns *done. A deadline is a bound for a
 * test that would otherwise hang, never a measurement.
 */
static TH_UNUSED bool th_run_until(uv_loop_t *loop, const bool *done, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    /* The loop's clock is the time of its last poll: after the test blocked (a child
     * process, certificates made), the bound would otherwise end early. */
    uv_update_time(loop);
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, th_on_deadline, ms, 0);
    while (!*done && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *done;
}

/* Runs the loop for `ms` milliseconds, whatever happens. */
static TH_UNUSED void th_run_for(uv_loop_t *loop, unsigned ms)
{
    bool never = false;
    th_run_until(loop, &never, ms);
}

/* Runs the loop until *n >= want (a counter the handlers raise), or `ms` passed. */
static TH_UNUSED bool th_run_until_count(uv_loop_t *loop, const int *n, int want, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (*n < want && uv_hrtime() / 1000000 < end)
        th_run_for(loop, 5);
    return *n >= want;
}

static TH_UNUSED void th_count_open(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        ++*(int *)arg;
}

static TH_UNUSED void th_close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/*
 * Finishes the closes still pending and checks the loop closes with nothing left open. A
 * handle left open (a leak, or a test that failed half-way) is closed so the test ends,
 * and reported. Criterion does not fail a test for an assertion in its .fini, so ctest
 * fails it on the "Assertion Failed" line (test/CMakeLists.txt).
 */
static TH_UNUSED void th_loop_close(uv_loop_t *loop)
{
    for (int i = 0; i < 3; i++)
        uv_run(loop, UV_RUN_NOWAIT);
    int open = 0;
    uv_walk(loop, th_count_open, &open);
    if (open > 0)
        uv_walk(loop, th_close_any, NULL);
    /* With no handle left open this returns once requests in flight (a name being
     * resolved on the thread pool) have completed. */
    uv_run(loop, UV_RUN_DEFAULT);
    cr_assert_eq(open, 0, "%d handles were left open", open);
    cr_assert_eq(uv_loop_close(loop), 0, "the loop still has open handles");
}

/*
 * The suite most integration tests share: a fresh loop and temporary directory per test,
 * the loop checked closed and the directory removed after it. Defines `loop` and `dir`.
 */
#define TH_LOOP_SUITE(name, secs)                                                                  \
    static uv_loop_t loop;                                                                         \
    static char dir[64];                                                                           \
    static void th_suite_setup_(void)                                                              \
    {                                                                                              \
        cr_assert_eq(uv_loop_init(&loop), 0);                                                      \
        th_tmpdir(dir);                                                                            \
    }                                                                                              \
    static void th_suite_teardown_(void)                                                           \
    {                                                                                              \
        th_loop_close(&loop);                                                                      \
        th_rmdir(dir);                                                                             \
    }                                                                                              \
    TestSuite(name, .init = th_suite_setup_, .fini = th_suite_teardown_, .timeout = (secs))

/* ---- event recorder -------------------------------------------------------------------- */

#define TH_MAX_EVENTS 4096

typedef struct th_rec {
    int n;
    char type[TH_MAX_EVENTS][48];
    char data[TH_MAX_EVENTS][160]; /* the data, compact JSON, cut to fit */
    int status[TH_MAX_EVENTS];
    nipc_socket_t *socket[TH_MAX_EVENTS];
    uint64_t at[TH_MAX_EVENTS]; /* uv_hrtime() in ms */
} th_rec_t;

static TH_UNUSED void th_record(const nipc_event_t *ev, void *arg)
{
    th_rec_t *r = arg;
    if (r->n >= TH_MAX_EVENTS)
        return;
    snprintf(r->type[r->n], sizeof r->type[0], "%s", ev->type);
    r->data[r->n][0] = '\0';
    if (ev->data != NULL) {
        char *s = json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s != NULL) {
            snprintf(r->data[r->n], sizeof r->data[0], "%s", s);
            free(s);
        }
    }
    r->status[r->n] = ev->status;
    r->socket[r->n] = ev->socket;
    r->at[r->n] = uv_hrtime() / 1000000;
    r->n++;
}

static TH_UNUSED int th_count(const th_rec_t *r, const char *type)
{
    int c = 0;
    for (int i = 0; i < r->n; i++)
        c += strcmp(r->type[i], type) == 0;
    return c;
}

/* Index of the k-th (0-based) event of `type`, or -1. */
static TH_UNUSED int th_find(const th_rec_t *r, const char *type, int k)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->type[i], type) == 0 && k-- == 0)
            return i;
    return -1;
}

/* The recorded types joined with spaces, for readable assertions. */
static TH_UNUSED const char *th_types(const th_rec_t *r)
{
    static char s[8192];
    s[0] = '\0';
    for (int i = 0; i < r->n && strlen(s) < sizeof s - 64; i++) {
        if (i > 0)
            strcat(s, " ");
        strcat(s, r->type[i]);
    }
    return s;
}

/* Sets a flag when an event fires. */
static TH_UNUSED void th_flag(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    *(bool *)arg = true;
}

/* Counts events. */
static TH_UNUSED void th_tally(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
}

/* What `drop` events reported: how many, their frames and bytes summed, the last one's code
 * and socket, and whether it came before any `destroy` that th_on_destroy_drops counted. */
typedef struct th_drops {
    int events;
    json_int_t frames;
    json_int_t bytes;
    char code[32];
    nipc_socket_t *socket;
    int destroys;
    bool before_destroy;
} th_drops_t;

static TH_UNUSED void th_on_drop(const nipc_event_t *ev, void *arg)
{
    th_drops_t *d = arg;
    d->events++;
    d->frames += json_integer_value(json_object_get(ev->data, "frames"));
    d->bytes += json_integer_value(json_object_get(ev->data, "bytes"));
    snprintf(d->code, sizeof d->code, "%s", json_string_value(json_object_get(ev->data, "code")));
    d->socket = ev->socket;
    d->before_destroy = d->destroys == 0;
}

static TH_UNUSED void th_on_destroy_drops(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ((th_drops_t *)arg)->destroys++;
}

/* ---- raw sockets: a peer that speaks bytes --------------------------------------------- */

static TH_UNUSED int th_raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect %s: %s", path,
                 strerror(errno));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static TH_UNUSED int th_raw_listen(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 8), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Accepts one connection on a raw listener, running the loop meanwhile. */
static TH_UNUSED int th_raw_accept(uv_loop_t *loop, int lfd, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (uv_hrtime() / 1000000 < end) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0) {
            fcntl(fd, F_SETFL, O_NONBLOCK);
            return fd;
        }
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    return -1;
}

static TH_UNUSED void th_raw_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            poll(&pfd, 1, 100);
            continue;
        }
        cr_assert(w > 0, "write: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}

/*
 * Reads from a raw socket while running the loop, until `want` bytes arrived, the peer
 * closed, or `ms` passed. Returns the number of bytes read.
 */
static TH_UNUSED size_t th_raw_read(uv_loop_t *loop, int fd, char *buf, size_t want, unsigned ms)
{
    size_t got = 0;
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (got < want && uv_hrtime() / 1000000 < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t r = read(fd, buf + got, want - got);
        if (r == 0)
            break;
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        poll(&pfd, 1, 1);
    }
    return got;
}

/* True when the peer closed the raw socket within `ms` (reading and dropping data). */
static TH_UNUSED bool th_raw_closed(uv_loop_t *loop, int fd, unsigned ms)
{
    char b[4096];
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (uv_hrtime() / 1000000 < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t r = read(fd, b, sizeof b);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return true;
        if (r < 0) {
            struct pollfd pfd = {fd, POLLIN, 0};
            poll(&pfd, 1, 1);
        }
    }
    return false;
}

/*
 * Writes all `n` bytes to a raw socket, running the loop whenever the socket is full, so a
 * nipc peer on the same loop keeps reading (th_raw_write would wait for ever on a frame
 * larger than the socket buffer). Fails the test if the bytes are not out within `ms`.
 */
static TH_UNUSED void th_raw_send(uv_loop_t *loop, int fd, const void *p, size_t n, unsigned ms)
{
    const char *c = p;
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        cr_assert(w < 0 && (errno == EAGAIN || errno == EINTR), "write: %s", strerror(errno));
        cr_assert(uv_hrtime() / 1000000 < end, "%zu bytes still unsent after %u ms", n, ms);
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, 1);
    }
}

/* ---- a server and a client in one loop ------------------------------------------------- */

/* A started server on dir/name with a recorder on every event, and its instance. */
typedef struct th_server {
    nipc_t *ipc;
    nipc_server_t *server;
    th_rec_t rec;
    bool started;
} th_server_t;

static TH_UNUSED void th_server_start(th_server_t *s, uv_loop_t *loop, const nipc_config_t *cfg,
                                      const char *path)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(nipc_new(&s->ipc, loop, cfg), 0);
    cr_assert_eq(nipc_serve(s->ipc, path, &s->server), 0);
    nipc_server_on(s->server, NIPC_EVENT_ANY, th_record, &s->rec);
    nipc_server_on(s->server, "start", th_flag, &s->started);
    int err = nipc_server_start(s->server);
    cr_assert_eq(err, 0, "start: %s", nipc_strerror(err));
    cr_assert(th_run_until(loop, &s->started, 2000), "no start event");
}

#endif /* NIPC_TEST_HARNESS_H */
