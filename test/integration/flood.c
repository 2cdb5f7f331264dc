/* SPDX-License-Identifier: MIT */
/*
 * Connection floods, over a Unix socket and TCP on 127.0.0.1 and ::1: the server sheds what
 * it cannot take, keeps serving the connections it has, takes new ones once the flood is
 * over, and never spins (its process's CPU time while flooded is measured).
 *
 *  - past max_connections (S6): 200 connections to a server with room for 5, two of them
 *    held by clients that keep exchanging events; the extra are accepted and closed, the
 *    others are served, and after the flood new clients are accepted again;
 *  - past the process's descriptors (EMFILE): RLIMIT_NOFILE lowered so that only a few
 *    connections fit; libuv's reserve descriptor (its "EMFILE trick") accepts and closes
 *    the rest; the clients already connected go on; once the flood's connections close,
 *    the server accepts again;
 *  - past its memory: a connection whose state cannot be allocated is closed (an `error`
 *    UV_ENOMEM), or refused at the limit, and the server goes on accepting; during a
 *    longer shortage every waiting connection is closed in turn.
 *
 * The flood comes from a forked child with plain sockets (no nipc, no libuv, no Criterion:
 * it reports on a pipe and with its exit status), forked before anything else, so that it
 * holds none of the server's descriptors and its CPU time is not the server's
 * (RUSAGE_SELF counts this process only). Criterion runs each test in its own process, so a
 * lowered limit ends with the test.
 */
#include "../support/transport.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- fixture --------------------------------------------------------------------------- */

static uv_loop_t loop;
static char dir[64];
static pid_t flooder;
static int to_flooder = -1, from_flooder = -1;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    if (flooder > 0) {
        kill(flooder, SIGKILL);
        waitpid(flooder, NULL, 0);
    }
    if (to_flooder >= 0)
        close(to_flooder);
    if (from_flooder >= 0)
        close(from_flooder);
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(flood, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the flooding process -------------------------------------------------------------- */

#define FLOOD_MAX 256

/* What the parent sends: where to connect and how many times, then when to report. */
typedef struct flood_order {
    int port; /* 0 for the Unix socket */
    int count;
} flood_order_t;

/* What the flooder reports: once connected, and at the end. */
typedef struct flood_report {
    int connected; /* connect() succeeded */
    int failed;    /* connect() failed (refused, timed out) */
    int closed;    /* of the connected: closed by the server (EOF or reset) */
    int open;      /* of the connected: still open */
} flood_report_t;

static bool read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c += r;
        n -= (size_t)r;
    }
    return true;
}

static bool write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* One blocking connect (bounded by SO_SNDTIMEO); the descriptor, or -1. */
static int flood_connect(const th_transport_t *t, const char *path, int port)
{
    struct sockaddr_storage sa;
    socklen_t len = th_raw_sockaddr(t, path, port, &sa);
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Closed by the server: EOF or an error, without waiting. */
static bool flood_closed(int fd)
{
    char b;
    ssize_t r = recv(fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int flood_run(const th_transport_t *t, const char *path, int in, int out)
{
    flood_order_t order;
    flood_report_t rep = {0};
    static int fds[FLOOD_MAX];
    alarm(50); /* never outlives the test */
    if (!read_full(in, &order, sizeof order) || order.count > FLOOD_MAX)
        return 1;
    for (int i = 0; i < order.count; i++) {
        int fd = flood_connect(t, path, order.port);
        if (fd < 0)
            rep.failed++;
        else
            fds[rep.connected++] = fd;
    }
    if (!write_full(out, &rep, sizeof rep))
        return 2;
    char go;
    if (!read_full(in, &go, 1)) /* the parent's word to report and end */
        return 3;
    for (int i = 0; i < rep.connected; i++) {
        if (flood_closed(fds[i]))
            rep.closed++;
        else
            rep.open++;
        close(fds[i]);
    }
    return write_full(out, &rep, sizeof rep) ? 0 : 4;
}

/* Forks the flooder, which waits for its order. Before anything else of the test, so that
 * it inherits no descriptor of the server's. */
static void fork_flooder(const th_transport_t *t, const char *path)
{
    int down[2], up[2];
    cr_assert_eq(pipe2(down, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(up, O_CLOEXEC), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        _exit(flood_run(t, path, down[0], up[1]));
    }
    close(down[0]);
    close(up[1]);
    flooder = pid;
    to_flooder = down[1];
    from_flooder = up[0];
    fcntl(from_flooder, F_SETFL, O_NONBLOCK);
}

static void flood_start(int port, int count)
{
    flood_order_t order = {port, count};
    cr_assert(write_full(to_flooder, &order, sizeof order));
}

/* A report from the flooder, running the loop until it comes. */
static flood_report_t flood_wait_report(unsigned ms)
{
    flood_report_t rep;
    char *p = (char *)&rep;
    size_t got = 0;
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (got < sizeof rep && uv_hrtime() / 1000000 < end) {
        ssize_t r = read(from_flooder, p + got, sizeof rep - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            break;
        else
            th_run_for(&loop, 5);
    }
    cr_assert_eq(got, sizeof rep, "the flooder did not report within %u ms", ms);
    return rep;
}

/* Asks for the final report, and the flooder's clean exit. */
static flood_report_t flood_end(void)
{
    cr_assert(write_full(to_flooder, "r", 1));
    flood_report_t rep = flood_wait_report(10000);
    int status = 0;
    pid_t got = 0;
    for (int i = 0; i < 1000 && got == 0; i++) {
        got = waitpid(flooder, &status, WNOHANG);
        if (got == 0)
            th_run_for(&loop, 5);
    }
    cr_assert_eq(got, flooder, "the flooder did not end");
    flooder = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the flooder failed: status %d",
              status);
    return rep;
}

/* ---- the server and its well-behaved clients ------------------------------------------- */

#define REGULARS 2

static void on_ping(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

typedef struct regular {
    nipc_client_t *c;
    int connects, pongs;
    uv_timer_t ping;
    bool closed;
} regular_t;

static void on_regular_event(const nipc_event_t *ev, void *arg)
{
    regular_t *r = arg;
    if (strcmp(ev->type, "connect") == 0)
        r->connects++;
    else if (strcmp(ev->type, "pong") == 0)
        r->pongs++;
}

static void on_ping_timer(uv_timer_t *h)
{
    regular_t *r = h->data;
    if (nipc_client_connected(r->c))
        nipc_client_emitf(r->c, "ping", "{s:i}", "n", r->pongs);
}

/* A client of the server that pings every 10 ms once connected. */
static void regular_start(regular_t *r, nipc_t *ipc, const th_transport_t *t, nipc_server_t *s,
                          const char *id)
{
    memset(r, 0, sizeof *r);
    int err = th_connect(ipc, t, id, s, &r->c);
    cr_assert_eq(err, 0, "%s: connect %s: %s", t->name, id, nipc_strerror(err));
    nipc_client_on(r->c, "connect", on_regular_event, r);
    nipc_client_on(r->c, "pong", on_regular_event, r);
    uv_timer_init(&loop, &r->ping);
    r->ping.data = r;
    uv_timer_start(&r->ping, on_ping_timer, 10, 10);
}

static void on_ping_closed(uv_handle_t *h)
{
    ((regular_t *)h->data)->closed = true;
}

/* Closes the timer and waits for its close: a regular_t lives on the test's stack. */
static void regular_stop(regular_t *r)
{
    uv_close((uv_handle_t *)&r->ping, on_ping_closed);
    for (int i = 0; i < 1000 && !r->closed; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert(r->closed, "the ping timer did not close");
}

static bool all_connected(regular_t *r, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    for (;;) {
        int ok = 0;
        for (int i = 0; i < n; i++)
            ok += r[i].connects > 0 && r[i].pongs > 0;
        if (ok == n)
            return true;
        if (uv_hrtime() / 1000000 >= end)
            return false;
        th_run_for(&loop, 5);
    }
}

/* This process's CPU time (user + system), in ms. */
static double cpu_ms(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* The loop run for `ms` while flooded: the CPU time it took, as a share of the wall time. */
static double busy_share(unsigned ms)
{
    double c0 = cpu_ms();
    uint64_t w0 = uv_hrtime();
    th_run_for(&loop, ms);
    double wall = (double)(uv_hrtime() - w0) / 1e6;
    return (cpu_ms() - c0) / wall;
}

static void server_up(th_server_t *srv, const th_transport_t *t, unsigned max_connections)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_connections = max_connections;
    th_server_start_on(srv, &loop, &cfg, t, dir, "flood.sock");
    nipc_server_on(srv->server, "ping", on_ping, NULL);
}

static int pongs_of(const regular_t *r, int n)
{
    int p = 0;
    for (int i = 0; i < n; i++)
        p += r[i].pongs;
    return p;
}

/* ---- past max_connections (S6) --------------------------------------------------------- */

#define MAX_CONN 5
#define FLOOD 200
#define HOLD_MS 1000 /* the flood is held this long while the CPU time is measured */

ParameterizedTestParameters(flood, s6_past_max_connections_the_extra_are_closed_and_it_recovers)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, flood,
                  s6_past_max_connections_the_extra_are_closed_and_it_recovers)
{
    fork_flooder(t, th_path(dir, "flood.sock"));
    th_server_t srv;
    server_up(&srv, t, MAX_CONN);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 50;
    nipc_t *clients;
    cr_assert_eq(nipc_new(&clients, &loop, &cfg), 0);
    regular_t reg[REGULARS];
    regular_start(&reg[0], clients, t, srv.server, "a");
    regular_start(&reg[1], clients, t, srv.server, "b");
    cr_assert(all_connected(reg, REGULARS, 3000), "%s: the regulars were not served", t->name);

    /* The flood: once connected, held while the server is measured. */
    double c0 = cpu_ms();
    uint64_t w0 = uv_hrtime();
    flood_start(nipc_server_port(srv.server), FLOOD);
    flood_report_t in = flood_wait_report(20000);
    int pongs = pongs_of(reg, REGULARS);
    double held = busy_share(HOLD_MS);
    double all = (cpu_ms() - c0) / ((double)(uv_hrtime() - w0) / 1e6);
    int pongs_flooded = pongs_of(reg, REGULARS) - pongs;
    flood_report_t out = flood_end();
    cr_log_info("%s: %d connections (%d failed) past max_connections %d: %d closed by the server, "
                "%d kept; CPU %.1f%% of the wall time over the flood, %.1f%% while it was held; "
                "%d pongs to the regulars meanwhile",
                t->name, in.connected, in.failed, MAX_CONN, out.closed, out.open, all * 100,
                held * 100, pongs_flooded);

    cr_assert_eq(in.connected, FLOOD, "%s: %d connects failed", t->name, in.failed);
    cr_assert_eq(out.open, MAX_CONN - REGULARS, "%s: %d flood connections kept", t->name, out.open);
    cr_assert_eq(out.closed, FLOOD - (MAX_CONN - REGULARS), "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "connect"), MAX_CONN, "%s: %d connect events", t->name,
                 th_count(&srv.rec, "connect"));
    cr_assert_eq(th_count(&srv.rec, "error"), 0, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_gt(pongs_flooded, HOLD_MS / 10 / 2,
                 "%s: the regulars were not served while "
                 "flooded",
                 t->name);
    cr_assert_lt(held, 0.5, "%s: %.0f%% of a core while flooded", t->name, held * 100);
    cr_assert_lt(all, 0.5, "%s: %.0f%% of a core over the flood", t->name, all * 100);

    /* The flood's kept connections closed with it: their slots are free again. */
    for (int i = 0; i < 400 && nipc_server_socket_count(srv.server) != REGULARS; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_server_socket_count(srv.server), REGULARS, "%s", t->name);
    regular_t more[MAX_CONN - REGULARS];
    for (int i = 0; i < MAX_CONN - REGULARS; i++) {
        char id[8];
        snprintf(id, sizeof id, "n%d", i);
        regular_start(&more[i], clients, t, srv.server, id);
    }
    cr_assert(all_connected(more, MAX_CONN - REGULARS, 3000),
              "%s: no new client was served after "
              "the flood",
              t->name);
    pongs = pongs_of(reg, REGULARS);
    th_run_for(&loop, 100);
    cr_assert_gt(pongs_of(reg, REGULARS), pongs, "%s: the regulars are no longer served", t->name);
    for (int i = 0; i < MAX_CONN - REGULARS; i++)
        regular_stop(&more[i]);
    for (int i = 0; i < REGULARS; i++)
        regular_stop(&reg[i]);
    nipc_free(clients);
    nipc_free(srv.ipc);
}

/* ---- past the process's descriptors (EMFILE) ------------------------------------------- */

#define HEADROOM 4 /* descriptors left free above the highest one open */
#define FD_FLOOD 50

/* The descriptors open in this process, and the highest. */
static int open_fds(int *highest)
{
    int n = 0, dfd;
    *highest = -1;
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d, "/proc/self/fd: %s", strerror(errno));
    dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == dfd)
            continue;
        n++;
        *highest = fd > *highest ? fd : *highest;
    }
    closedir(d);
    return n;
}

static struct rlimit saved_limit;

/* Lowers the soft RLIMIT_NOFILE so that exactly `free` more descriptors can be opened. */
static int limit_descriptors(int headroom)
{
    int highest, n = open_fds(&highest);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved_limit), 0);
    struct rlimit low = saved_limit;
    low.rlim_cur = (rlim_t)highest + 1 + (rlim_t)headroom;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0, "setrlimit: %s", strerror(errno));
    return (int)low.rlim_cur - n; /* the holes below the highest, and the headroom */
}

static void restore_descriptors(void)
{
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved_limit), 0);
}

/*
 * The flood, with libuv's spare descriptor (its EMFILE trick) or without it: libuv has none
 * when it could not open one as the loop's first stream was made, and then the error
 * reaches nipc, whose own spare must do the same, or libuv calls again for ever.
 */
static void emfile_flood(const th_transport_t *t, bool libuv_spare)
{
    /* valgrind keeps descriptors of its own at the top of the range and refuses the lowered
     * RLIMIT_NOFILE (EINVAL): the shortage cannot be made there. */
    if (th_valgrind())
        cr_skip_test("%s: RLIMIT_NOFILE cannot be lowered under valgrind", t->name);
    fork_flooder(t, th_path(dir, "flood.sock"));
    th_server_t srv;
    server_up(&srv, t, 1000); /* max_connections out of the way */
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 50;
    nipc_t *clients;
    cr_assert_eq(nipc_new(&clients, &loop, &cfg), 0);
    regular_t reg[REGULARS];
    regular_start(&reg[0], clients, t, srv.server, "a");
    regular_start(&reg[1], clients, t, srv.server, "b");
    cr_assert(all_connected(reg, REGULARS, 3000), "%s: the regulars were not served", t->name);

    int room = limit_descriptors(HEADROOM), nfill = 0;
    int *fill = calloc((size_t)room + 8, sizeof *fill); /* room is at least what opens */
    cr_assert_not_null(fill);
    if (!libuv_spare) {
        /* Every descriptor taken, then libuv's spare too: its slot goes to one more filler,
         * so libuv cannot take it back (it reopens its spare as a stream is made). */
        while (nfill < room + 6 && (fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
            nfill++;
        cr_assert_eq(errno, EMFILE, "%s: %d fillers for %d: %s", t->name, nfill, room,
                     strerror(errno));
        cr_assert_geq(loop.emfile_fd, 0, "libuv holds a spare descriptor");
        close(loop.emfile_fd);
        loop.emfile_fd = -1;
        cr_assert((fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
        nfill++;
        room = 0;
    }
    double c0 = cpu_ms();
    uint64_t w0 = uv_hrtime();
    flood_start(nipc_server_port(srv.server), FD_FLOOD);
    flood_report_t in = flood_wait_report(20000);
    int pongs = pongs_of(reg, REGULARS);
    double held = busy_share(HOLD_MS);
    double all = (cpu_ms() - c0) / ((double)(uv_hrtime() - w0) / 1e6);
    int pongs_flooded = pongs_of(reg, REGULARS) - pongs;
    int taken = th_count(&srv.rec, "connect") - REGULARS;
    int errors = th_count(&srv.rec, "error");
    flood_report_t out = flood_end();
    cr_log_info("%s: %d connections (%d failed) with room for %d descriptors: %d taken, %d closed "
                "by the server, %d kept, %d server errors; CPU %.1f%% of the wall time over the "
                "flood, %.1f%% while it was held; %d pongs to the regulars meanwhile",
                t->name, in.connected, in.failed, room, taken, out.closed, out.open, errors,
                all * 100, held * 100, pongs_flooded);

    cr_assert_eq(in.connected, FD_FLOOD, "%s: %d connects failed", t->name, in.failed);
    if (libuv_spare) {
        cr_assert_gt(taken, 0, "%s: no connection was taken", t->name);
        cr_assert_leq(taken, room, "%s: %d taken with room for %d", t->name, taken, room);
        cr_assert_eq(out.open, taken, "%s", t->name);
        cr_assert_eq(out.closed, FD_FLOOD - taken, "%s: the ones not taken were not closed",
                     t->name);
        cr_assert_eq(errors, 0, "%s: libuv shed them, unseen", t->name);
    } else {
        /* No descriptor to spare: every one is shed, by nipc's spare, or taken in the instant
         * its slot was free and then given up; each shedding is an `error`. */
        cr_assert_eq(out.open, 0, "%s: %d kept with no descriptor free", t->name, out.open);
        cr_assert_eq(out.closed, FD_FLOOD, "%s", t->name);
        cr_assert_gt(errors, 0, "%s: no error for the shedding", t->name);
        cr_assert_eq(th_count(&srv.rec, "socket.disconnected"), taken,
                     "%s: every one taken was given up", t->name);
    }
    cr_assert_gt(pongs_flooded, HOLD_MS / 10 / 2,
                 "%s: the regulars were not served while "
                 "flooded",
                 t->name);
    cr_assert_lt(held, 0.5, "%s: %.0f%% of a core while flooded", t->name, held * 100);
    cr_assert_lt(all, 0.5, "%s: %.0f%% of a core over the flood", t->name, all * 100);

    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    free(fill);
    /* The flood's connections closed with it: descriptors are free, new clients come in. */
    for (int i = 0; i < 400 && nipc_server_socket_count(srv.server) != REGULARS; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_server_socket_count(srv.server), REGULARS, "%s", t->name);
    regular_t late;
    regular_start(&late, clients, t, srv.server, "late");
    cr_assert(all_connected(&late, 1, 3000), "%s: no client was served after the flood", t->name);
    restore_descriptors();
    regular_stop(&late);
    for (int i = 0; i < REGULARS; i++)
        regular_stop(&reg[i]);
    nipc_free(clients);
    nipc_free(srv.ipc);
}

ParameterizedTestParameters(flood, emfile_the_server_sheds_then_accepts_again_without_spinning)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, flood,
                  emfile_the_server_sheds_then_accepts_again_without_spinning)
{
    emfile_flood(t, true);
}

ParameterizedTestParameters(flood, emfile_without_libuvs_spare_nipcs_own_sheds_them)
{
    TH_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, flood, emfile_without_libuvs_spare_nipcs_own_sheds_them)
{
    emfile_flood(t, false);
}

/* ---- out of memory at an accept -------------------------------------------------------- */

static bool rec_wait(const th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

ParameterizedTestParameters(flood, an_accept_without_memory_does_not_stop_the_server_accepting)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * The allocation of a new socket's state fails: that connection is lost (an `error`
 * UV_ENOMEM, NULL socket), the next ones are served. And the same at the limit (S6),
 * where the refusal's own handle cannot be allocated.
 */
ParameterizedTest(th_transport_t *t, flood,
                  an_accept_without_memory_does_not_stop_the_server_accepting)
{
    for (int at_limit = 0; at_limit < 2; at_limit++) {
        th_server_t srv;
        server_up(&srv, t, at_limit ? 1 : 100);
        int fill = at_limit ? th_raw_connect_server(t, srv.server) : -1;
        if (at_limit)
            cr_assert(rec_wait(&srv.rec, "connect", 1, 2000), "%s", t->name);
        nipc__test_fail_alloc_after(1);
        int a = th_raw_connect_server(t, srv.server);
        th_run_for(&loop, 100); /* the next allocation is the accept's */
        nipc__test_fail_alloc_after(0);
        int connects = th_count(&srv.rec, "connect");
        if (at_limit) {
            close(fill);
            cr_assert(rec_wait(&srv.rec, "socket.disconnected", 1, 2000), "%s", t->name);
        }
        int b = th_raw_connect_server(t, srv.server);
        bool served = rec_wait(&srv.rec, "connect", connects + 1, 2000);
        cr_log_info("%s%s: %s", t->name, at_limit ? " at the limit" : "", th_types(&srv.rec));
        cr_assert(served, "%s%s: no connection accepted after an allocation failed: %s", t->name,
                  at_limit ? " at the limit" : "", th_types(&srv.rec));
        close(a);
        close(b);
        nipc_free(srv.ipc);
        th_run_for(&loop, 20);
    }
}

ParameterizedTestParameters(flood, a_shortage_of_memory_sheds_every_waiting_connection)
{
    TH_TRANSPORT_PARAMS();
}

/*
 * A longer shortage: three connections wait together while every allocation fails. Each is
 * taken and closed in turn (the second waits in libuv, paused, until the handle that closed
 * the first is free), none is left there, and once memory is back the server accepts.
 */
ParameterizedTest(th_transport_t *t, flood, a_shortage_of_memory_sheds_every_waiting_connection)
{
    th_server_t srv;
    server_up(&srv, t, 100);
    int waiting[3];
    for (int i = 0; i < 3; i++)
        waiting[i] = th_raw_connect_server(t, srv.server);
    nipc__test_fail_allocs(1, 1000000000);
    int closed = 0;
    for (int i = 0; i < 3; i++)
        closed += th_raw_closed(&loop, waiting[i], 2000);
    nipc__test_fail_alloc_after(0);
    cr_assert_eq(closed, 3, "%s: %d of the 3 connections were closed", t->name, closed);
    cr_assert_eq(th_count(&srv.rec, "connect"), 0, "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "error"), 3, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(srv.rec.status[th_find(&srv.rec, "error", 0)], UV_ENOMEM, "%s", t->name);
    int b = th_raw_connect_server(t, srv.server);
    cr_assert(rec_wait(&srv.rec, "connect", 1, 2000),
              "%s: nothing accepted once memory was "
              "back: %s",
              t->name, th_types(&srv.rec));
    for (int i = 0; i < 3; i++)
        close(waiting[i]);
    close(b);
    nipc_free(srv.ipc);
}
