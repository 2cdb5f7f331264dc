/* SPDX-License-Identifier: MIT */
/*
 * Several processes serving one socket, node-ipc's cluster example: a parent binds with
 * nipc_server_listen_shared() and forks, and each worker serves its copy of the descriptor
 * with nipc_serve_fd(), over a Unix socket, TCP on 127.0.0.1 and ::1, and TLS.
 *
 *  - two forked workers both accept: the one that served the first client stops listening
 *    (its own copy), so the second client can only be the other's; the socket file stays
 *    through the workers' stops and exits and goes with the parent's free; the parent
 *    publishes nothing, ever; a SIGTERM sent to a worker does not reach the parent's own
 *    uv_signal_t (the uv_loop_fork() rule of nipc.h);
 *  - the same in one process, with a dup() of the descriptor: what listen_shared and
 *    serve_fd return, accept and remove, start and stop on each side;
 *  - nipc_serve_fd() refuses (UV_EINVAL, the descriptor left open) what is not a listening
 *    stream socket: no descriptor, a file, a pipe, UDP, sockets that do not listen, an
 *    abstract Unix socket;
 *  - reuse_port: two servers listen on one TCP port and both get connections; without it on
 *    either side the second is UV_EADDRINUSE;
 *  - unlink false (S4): a stale socket is left where it is and listening there is
 *    UV_EADDRINUSE, for start and listen_shared alike.
 *
 * A worker is a forked child of the test process: it must not use Criterion (an assertion
 * there would report to the runner as if from the test), so it says what went wrong with
 * its exit status, and ends with _exit() so that the test process's atexit handlers do not
 * run twice. Under AddressSanitizer it runs LeakSanitizer on itself before that.
 */
#include "../support/transport.h"

#include <signal.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define PREFORK_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PREFORK_LSAN 1
#endif
#endif
#if defined(PREFORK_LSAN)
#include <sanitizer/lsan_interface.h>
#endif

/* ---- fixture --------------------------------------------------------------------------- */

#define MAX_WORKERS 4
#define WORKER_BOUND_MS 15000 /* a worker never outlives this, whatever the test does */

/* Static, so that what a worker inherits stays reachable there (see nipc.h's fork rules). */
static uv_loop_t loop;
static char dir[64];
static nipc_t *instances[8];
static int ninstances;
static pid_t workers[MAX_WORKERS];
static int nworkers;
static uv_signal_t parent_term;
static bool parent_term_open;
static int raw_fds[64];
static int nraw;

/* An instance on the test's loop, freed by the teardown unless the test frees it first. */
static nipc_t *instance(const nipc_config_t *cfg)
{
    cr_assert_lt(ninstances, 8);
    cr_assert_eq(nipc_new(&instances[ninstances], &loop, cfg), 0);
    return instances[ninstances++];
}

static void free_instance(nipc_t *ipc)
{
    for (int i = 0; i < ninstances; i++)
        if (instances[i] == ipc)
            instances[i] = NULL;
    nipc_free(ipc);
}

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    for (int i = 0; i < nworkers; i++) {
        if (workers[i] > 0) {
            kill(workers[i], SIGKILL);
            waitpid(workers[i], NULL, 0);
        }
    }
    for (int i = 0; i < nraw; i++)
        close(raw_fds[i]);
    if (parent_term_open)
        uv_close((uv_handle_t *)&parent_term, NULL);
    for (int i = 0; i < ninstances; i++)
        if (instances[i] != NULL)
            nipc_free(instances[i]);
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(prefork, .init = setup, .fini = teardown, .timeout = 40);

static int raw(int fd)
{
    cr_assert_lt(nraw, 64);
    raw_fds[nraw++] = fd;
    return fd;
}

static bool is_socket(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_ino;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* ---- a worker (the child side) ------------------------------------------------------------ */

/* A worker's exit status: what went wrong first. */
enum {
    WK_OK,
    WK_LOOP_FORK,
    WK_NEW,
    WK_SERVE,
    WK_WHERE,
    WK_START,
    WK_ANSWER,
    WK_BOUND,
    WK_LEAKED,
};

static const char *w_status_name(int st)
{
    static const char *names[] = {"ok",
                                  "uv_loop_fork failed",
                                  "nipc_new failed",
                                  "nipc_serve_fd failed",
                                  "the server is not where the parent listens",
                                  "nipc_server_start failed",
                                  "the answer was refused",
                                  "still running at its time bound",
                                  "LeakSanitizer found leaks"};
    return st >= 0 && st < (int)(sizeof names / sizeof names[0]) ? names[st] : "?";
}

static struct {
    nipc_t *ipc;
    uv_signal_t term;
    uv_timer_t bound;
    bool ending;
    int status;
} w;

static void w_end(int status)
{
    if (w.ending)
        return;
    w.ending = true;
    if (w.status == WK_OK)
        w.status = status;
    uv_close((uv_handle_t *)&w.term, NULL);
    uv_close((uv_handle_t *)&w.bound, NULL);
    nipc_stop(w.ipc);
}

static void w_on_term(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    w_end(WK_OK);
}

static void w_on_bound(uv_timer_t *t)
{
    (void)t;
    w_end(WK_BOUND);
}

/* Stops listening, then says who served: from now on only another worker accepts. */
static void w_on_hello(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_stop(ev->server);
    if (nipc_server_emitf(ev->server, ev->socket, "served", "{s:I}", "pid", (json_int_t)getpid()) !=
        0)
        w.status = WK_ANSWER;
}

/* The server on the inherited descriptor is where the parent's is. */
static bool w_where(const th_transport_t *t, nipc_server_t *s, const char *path, int port)
{
    if (t->kind == TH_UNIX)
        return nipc_server_path(s) != NULL && strcmp(nipc_server_path(s), path) == 0;
    return nipc_server_path(s) == NULL && strcmp(nipc_server_host(s), th_loopback(t)) == 0 &&
           nipc_server_port(s) == port;
}

static int w_serve(const th_transport_t *t, int fd, const char *path, int port)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    th_config(&cfg);
    if (nipc_new(&w.ipc, NULL, &cfg) != 0)
        return WK_NEW;
    if (t->kind == TH_TLS)
        th_tls_enable(w.ipc); /* the certificates the parent made before it forked */
    int st = nipc_serve_fd(w.ipc, fd, &s) != 0 ? WK_SERVE : WK_OK;
    if (st == WK_OK) {
        nipc_server_on(s, "hello", w_on_hello, NULL);
        st = nipc_server_start(s) != 0 ? WK_START : !w_where(t, s, path, port) ? WK_WHERE : WK_OK;
    }
    if (st == WK_OK) {
        uv_signal_init(nipc_loop(w.ipc), &w.term);
        uv_signal_start(&w.term, w_on_term, SIGTERM);
        uv_timer_init(nipc_loop(w.ipc), &w.bound);
        uv_timer_start(&w.bound, w_on_bound, WORKER_BOUND_MS, 0);
        nipc_run(w.ipc);
        st = w.status;
    }
    nipc_free(w.ipc);
    return st;
}

/* Forks a worker serving `fd`; in the child, never returns. */
static pid_t fork_worker(const th_transport_t *t, int fd, const char *path, int port)
{
    cr_assert_lt(nworkers, MAX_WORKERS);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid > 0) {
        workers[nworkers++] = pid;
        return pid;
    }
    /* The parent's loop, inherited, is never run here; this gives it kernel objects of its
     * own (its signal pipe above all), so that nothing done here reaches the parent. */
    int st = uv_loop_fork(&loop) != 0 ? WK_LOOP_FORK : w_serve(t, fd, path, port);
#if defined(PREFORK_LSAN)
    if (st == WK_OK && __lsan_do_recoverable_leak_check() != 0)
        st = WK_LEAKED;
#endif
    _exit(st);
}

/* SIGTERM to each worker, then each must end, by itself, with WK_OK. */
static void stop_workers(void)
{
    for (int i = 0; i < nworkers; i++)
        kill(workers[i], SIGTERM);
    for (int i = 0; i < nworkers; i++) {
        int status = 0;
        pid_t got = 0;
        for (int tries = 0; tries < 1000 && got == 0; tries++) {
            got = waitpid(workers[i], &status, WNOHANG);
            if (got == 0)
                usleep(5000);
        }
        cr_assert_eq(got, workers[i], "worker %ld did not end within 5 s", (long)workers[i]);
        workers[i] = 0;
        cr_assert(WIFEXITED(status), "worker %ld was killed by signal %d", (long)got,
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        cr_assert_eq(WEXITSTATUS(status), WK_OK, "worker %ld: %s", (long)got,
                     w_status_name(WEXITSTATUS(status)));
    }
}

/* ---- the parent's clients ----------------------------------------------------------------- */

typedef struct served {
    long pid;
    bool done;
} served_t;

static void on_client_connect(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_client_emitf(ev->client, "hello", "{s:s}", "id", nipc_client_id(ev->client));
}

static void on_served(const nipc_event_t *ev, void *arg)
{
    served_t *s = arg;
    s->pid = (long)json_integer_value(json_object_get(ev->data, "pid"));
    s->done = true;
}

/* A client of `clients` says hello to the shared server; returns the pid that answered. The
 * connection stays open. */
static long served_by(nipc_t *clients, const th_transport_t *t, nipc_server_t *shared,
                      const char *id)
{
    nipc_client_t *c;
    served_t s = {0, false};
    int err = th_connect(clients, t, id, shared, &c);
    cr_assert_eq(err, 0, "%s: connect %s: %s", t->name, id, nipc_strerror(err));
    nipc_client_on(c, "connect", on_client_connect, NULL);
    nipc_client_on(c, "served", on_served, &s);
    cr_assert(th_run_until(&loop, &s.done, 5000), "%s: client %s was not served", t->name, id);
    nipc_client_off(c, "served", on_served, &s);
    return s.pid;
}

static void on_parent_term(uv_signal_t *h, int signum)
{
    (void)signum;
    *(bool *)h->data = true;
}

/* ---- two forked workers ------------------------------------------------------------------- */

ParameterizedTestParameters(prefork, two_forked_workers_both_accept)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, prefork, two_forked_workers_both_accept)
{
    nipc_config_t cfg;
    nipc_server_t *shared;
    th_rec_t rec = {0};
    bool parent_termed = false;
    int fd = -2;
    th_config(&cfg);
    cfg.stop_retrying = true;
    nipc_t *parent = instance(&cfg);
    int err = th_serve(parent, t, dir, "shared.sock", &shared);
    cr_assert_eq(err, 0, "%s: serve: %s", t->name, nipc_strerror(err));
    nipc_server_on(shared, NIPC_EVENT_ANY, th_record, &rec);
    err = nipc_server_listen_shared(shared, &fd);
    cr_assert_eq(err, 0, "%s: listen_shared: %s", t->name, nipc_strerror(err));
    cr_assert_geq(fd, 0, "%s: no descriptor", t->name);
    const char *path = nipc_server_path(shared);
    int port = nipc_server_port(shared);
    if (t->kind == TH_UNIX)
        cr_assert(is_socket(path), "%s: no socket file after listen_shared", t->name);
    else
        cr_assert_gt(port, 0, "%s: no port after listen_shared", t->name);

    /* The parent has a signal handler of its own, as the cluster example does. */
    uv_signal_init(&loop, &parent_term);
    parent_term_open = true;
    parent_term.data = &parent_termed;
    uv_signal_start(&parent_term, on_parent_term, SIGTERM);

    pid_t a = fork_worker(t, fd, path, port);
    pid_t b = fork_worker(t, fd, path, port);

    nipc_t *clients = instance(&cfg);
    long first = served_by(clients, t, shared, "first");
    cr_assert(first == a || first == b, "%s: served by %ld, not a worker (%ld, %ld)", t->name,
              first, (long)a, (long)b);
    if (t->kind == TH_UNIX)
        cr_assert(is_socket(path), "%s: a worker's stop removed the socket file", t->name);
    long second = served_by(clients, t, shared, "second");
    cr_assert(second == a || second == b, "%s: served by %ld, not a worker", t->name, second);
    cr_assert_neq(second, first, "%s: worker %ld served both, after it stopped listening", t->name,
                  first);
    free_instance(clients);
    th_run_for(&loop, 20);

    stop_workers();
    th_run_for(&loop, 50);
    cr_assert_not(parent_termed, "%s: the workers' SIGTERM reached the parent's handler", t->name);
    uv_close((uv_handle_t *)&parent_term, NULL);
    parent_term_open = false;
    cr_assert_eq(rec.n, 0, "%s: the parent published: %s", t->name, th_types(&rec));
    if (t->kind == TH_UNIX)
        cr_assert(is_socket(path), "%s: the workers removed the socket file", t->name);
    char kept[256];
    snprintf(kept, sizeof kept, "%s", path != NULL ? path : "");
    free_instance(parent);
    th_run_for(&loop, 20);
    if (t->kind == TH_UNIX)
        cr_assert_not(is_socket(kept), "%s: the parent's free left the socket file", t->name);
    else
        cr_assert_neq(th_raw_connect_error(t, dir, "", port), 0,
                      "%s: port %d still listens after the parent's free", t->name, port);
}

/* ---- both sides in one process ------------------------------------------------------------ */

/* The parent's side alone: bound and listening, the descriptor handed out, nothing published
 * and nothing accepted; start is UV_EALREADY, and so is a second listen_shared. */
Test(prefork, listen_shared_publishes_nothing_and_accepts_nothing)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    th_rec_t rec = {0};
    int fd = -2, again = -2;
    th_config(&cfg);
    nipc_t *ipc = instance(&cfg);
    const char *path = th_path(dir, "alone.sock");
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    nipc_server_on(s, NIPC_EVENT_ANY, th_record, &rec);
    cr_assert_eq(nipc_server_listen_shared(s, &fd), 0);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "the descriptor is not close-on-exec");
    cr_assert_eq(nipc_server_listen_shared(s, &again), UV_EALREADY);
    cr_assert_eq(again, -1, "a failed call handed out a descriptor");
    cr_assert_eq(nipc_server_start(s), UV_EALREADY);
    /* The kernel takes the connection into the backlog; nobody here accepts it. */
    raw(th_raw_connect(path));
    th_run_for(&loop, 100);
    cr_assert_eq(rec.n, 0, "published: %s", th_types(&rec));
    /* Nothing of it is on the loop, so the loop has nothing to wait for. */
    cr_assert_eq(uv_run(&loop, UV_RUN_NOWAIT), 0, "the shared descriptor keeps the loop alive");

    /* A stop closes it and removes the file; then the server starts as any other. */
    cr_assert_eq(nipc_server_stop(s), 0);
    cr_assert_not(is_socket(path), "stop left the socket file");
    cr_assert_not(fd_open(fd), "stop left the descriptor open");
    cr_assert_eq(nipc_server_stop(s), UV_EINVAL);
    bool started = false;
    nipc_server_on(s, "start", th_flag, &started);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert(th_run_until(&loop, &started, 2000), "no start after the shared listener stopped");
    cr_assert(is_socket(path));
    free_instance(ipc);
}

/* A worker in the parent's own process, on a dup() of the descriptor: serve_fd knows where
 * it is, accepts once started, and its stop and free leave the file, which goes with the
 * parent's free. */
ParameterizedTestParameters(prefork, a_worker_stop_keeps_the_file_the_parent_free_removes_it)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, prefork,
                  a_worker_stop_keeps_the_file_the_parent_free_removes_it)
{
    nipc_config_t cfg;
    nipc_server_t *shared, *ws, *other;
    int fd, again, connects = 0;
    bool started = false;
    th_config(&cfg);
    cfg.stop_retrying = true;
    nipc_t *parent = instance(&cfg);
    cr_assert_eq(th_serve(parent, t, dir, "dup.sock", &shared), 0);
    cr_assert_eq(nipc_server_listen_shared(shared, &fd), 0, "%s: listen_shared", t->name);
    char path[256];
    snprintf(path, sizeof path, "%s", th_path(dir, "dup.sock"));
    int port = nipc_server_port(shared);

    nipc_t *worker = instance(&cfg);
    if (t->kind == TH_TLS)
        th_tls_enable(worker);
    int copy = dup(fd);
    cr_assert_geq(copy, 0);
    nipc_server_t *none = (nipc_server_t *)&none;
    cr_assert_eq(nipc_serve_fd(NULL, copy, &none), UV_EINVAL);
    cr_assert_null(none, "a failed call handed out a server");
    cr_assert_eq(nipc_serve_fd(worker, copy, &ws), 0, "%s: serve_fd", t->name);
    cr_assert_eq(nipc_server(worker), ws);
    cr_assert_eq(nipc_serve_fd(worker, copy, &other), UV_EALREADY);
    cr_assert_null(other);
    cr_assert_eq(nipc_server_listen_shared(ws, &again), UV_EINVAL, "%s: a worker re-shares",
                 t->name);
    if (t->kind == TH_UNIX) {
        cr_assert_str_eq(nipc_server_path(ws), path);
        cr_assert_null(nipc_server_host(ws));
    } else {
        cr_assert_null(nipc_server_path(ws));
        cr_assert_str_eq(nipc_server_host(ws), th_loopback(t));
        cr_assert_eq(nipc_server_port(ws), 0, "%s: a port before start", t->name);
    }
    cr_assert_eq(nipc_server_stop(ws), UV_EINVAL, "%s: stop before start", t->name);
    nipc_server_on(ws, "start", th_flag, &started);
    nipc_server_on(ws, "connect", th_tally, &connects);
    cr_assert_eq(nipc_server_start(ws), 0, "%s: start", t->name);
    cr_assert_not(started, "%s: `start` inside the call", t->name);
    cr_assert(th_run_until(&loop, &started, 2000), "%s: no start", t->name);
    if (t->kind != TH_UNIX)
        cr_assert_eq(nipc_server_port(ws), port, "%s: worker port %d, parent's %d", t->name,
                     nipc_server_port(ws), port);

    nipc_t *clients = instance(&cfg);
    nipc_client_t *c;
    cr_assert_eq(th_connect(clients, t, "c", shared, &c), 0);
    for (int i = 0; i < 400 && connects == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(connects, 1, "%s: the worker did not accept", t->name);

    /* The worker's stop closes its copy only: the parent's socket still listens. */
    cr_assert_eq(nipc_server_stop(ws), 0);
    cr_assert(fd_open(fd), "%s: the worker's stop closed the parent's descriptor", t->name);
    if (t->kind == TH_UNIX)
        cr_assert(is_socket(path), "%s: the worker's stop removed the socket file", t->name);
    cr_assert_eq(th_raw_connect_error(t, dir, "dup.sock", port), 0,
                 "%s: the socket no longer listens after the worker's stop", t->name);
    cr_assert_eq(nipc_server_start(ws), UV_EBADF, "%s: a stopped worker restarts", t->name);
    free_instance(clients);
    free_instance(worker);
    th_run_for(&loop, 20);
    if (t->kind == TH_UNIX)
        cr_assert(is_socket(path), "%s: the worker's free removed the socket file", t->name);

    free_instance(parent);
    th_run_for(&loop, 20);
    cr_assert_not(fd_open(fd), "%s: the parent's free left its descriptor open", t->name);
    cr_assert_neq(th_raw_connect_error(t, dir, "dup.sock", port), 0,
                  "%s: still listening after the parent's free", t->name);
    if (t->kind == TH_UNIX)
        cr_assert_not(is_socket(path), "%s: the parent's free left the socket file", t->name);
}

/* A worker's server that was never started goes with its free, descriptor and all. */
Test(prefork, free_closes_a_descriptor_never_started)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    th_config(&cfg);
    int fd = th_raw_listen(th_path(dir, "never.sock"));
    nipc_t *ipc = instance(&cfg);
    cr_assert_eq(nipc_serve_fd(ipc, fd, &s), 0);
    free_instance(ipc);
    th_run_for(&loop, 20);
    cr_assert_not(fd_open(fd), "nipc_free left the adopted descriptor open");
    cr_assert(is_socket(th_path(dir, "never.sock")), "a worker's free removed a socket file");
}

/* UDP has no listening socket to share. */
Test(prefork, listen_shared_of_udp_is_enotsup)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    int fd = -2;
    th_config(&cfg);
    nipc_t *ipc = instance(&cfg);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP4, &s), 0);
    cr_assert_eq(nipc_server_listen_shared(s, &fd), UV_ENOTSUP);
    cr_assert_eq(fd, -1);
    cr_assert_eq(nipc_server_listen_shared(NULL, &fd), UV_EINVAL);
    cr_assert_eq(nipc_server_listen_shared(s, NULL), UV_EINVAL);
    free_instance(ipc);
}

/* A host name is resolved by the call itself, which then has its port. */
Test(prefork, listen_shared_resolves_a_host_name_now)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    int fd;
    th_config(&cfg);
    nipc_t *ipc = instance(&cfg);
    cr_assert_eq(nipc_serve_net(ipc, "localhost", 0, NIPC_TCP, &s), 0);
    int err = nipc_server_listen_shared(s, &fd);
    cr_assert_eq(err, 0, "listen_shared on localhost: %s", nipc_strerror(err));
    cr_assert_gt(nipc_server_port(s), 0);
    free_instance(ipc);
}

/* ---- what serve_fd refuses -------------------------------------------------------------- */

static int unix_socket(const char *name, bool bound, bool abstract)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    if (bound) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path + abstract, sizeof sa.sun_path - 1, "%s", th_path(dir, name));
        socklen_t len =
            abstract
                ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sa.sun_path + 1))
                : (socklen_t)sizeof sa;
        cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0, "bind: %s", strerror(errno));
        if (abstract)
            cr_assert_eq(listen(fd, 1), 0);
    }
    return raw(fd);
}

Test(prefork, serve_fd_refuses_what_is_not_a_listening_stream_socket)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc = instance(&cfg);
    int pipefd[2], pair[2];
    cr_assert_eq(pipe(pipefd), 0);
    raw(pipefd[0]);
    raw(pipefd[1]);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    raw(pair[0]);
    raw(pair[1]);
    int closed = dup(pipefd[0]);
    close(closed);
    char file[256];
    snprintf(file, sizeof file, "%s", th_path(dir, "file"));
    int filefd = raw(open(file, O_CREAT | O_RDWR, 0600));
    int udp = raw(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(udp, (struct sockaddr *)&lo, sizeof lo), 0);
    int tcp = raw(socket(AF_INET, SOCK_STREAM, 0));
    cr_assert_eq(bind(tcp, (struct sockaddr *)&lo, sizeof lo), 0); /* bound, not listening */
    struct {
        const char *what;
        int fd;
    } cases[] = {
        {"-1", -1},
        {"a closed descriptor", closed},
        {"a regular file", filefd},
        {"a pipe", pipefd[0]},
        {"a UDP socket", udp},
        {"a TCP socket that does not listen", tcp},
        {"an unbound Unix stream socket", unix_socket("x", false, false)},
        {"a bound Unix socket that does not listen", unix_socket("bound.sock", true, false)},
        {"a connected Unix socket", pair[0]},
        {"an abstract Unix socket", unix_socket("abstract", true, true)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nipc_server_t *s = (nipc_server_t *)&s;
        int err = nipc_serve_fd(ipc, cases[i].fd, &s);
        cr_assert_eq(err, UV_EINVAL, "%s: %s", cases[i].what, nipc_strerror(err));
        cr_assert_null(s, "%s: a failed call handed out a server", cases[i].what);
        cr_assert_null(nipc_server(ipc), "%s: the instance has a server", cases[i].what);
        if (cases[i].fd >= 0 && cases[i].fd != closed)
            cr_assert(fd_open(cases[i].fd), "%s: the refused descriptor was closed", cases[i].what);
    }
    /* And it takes one that listens. */
    nipc_server_t *s;
    int good = th_raw_listen(th_path(dir, "good.sock"));
    cr_assert_eq(nipc_serve_fd(ipc, good, &s), 0);
    free_instance(ipc);
}

/* ---- reuse_port ------------------------------------------------------------------------- */

ParameterizedTestParameters(prefork, reuse_port_lets_two_servers_share_a_port)
{
    TH_NET_TRANSPORT_PARAMS();
}

/* Both listen, and the kernel gives each a share of 32 connections: with two sockets, all 32
 * to one of them has odds of 2^-31. */
ParameterizedTest(th_transport_t *t, prefork, reuse_port_lets_two_servers_share_a_port)
{
    nipc_config_t cfg;
    th_server_t a, b;
    int ca = 0, cb = 0;
    th_config(&cfg);
    cfg.reuse_port = true;
    th_server_start_on(&a, &loop, &cfg, t, dir, "a");
    instances[ninstances++] = a.ipc;
    int port = nipc_server_port(a.server);
    th_server_start_at(&b, &loop, &cfg, t, dir, "b", port);
    instances[ninstances++] = b.ipc;
    cr_assert_eq(nipc_server_port(b.server), port);
    nipc_server_on(a.server, "connect", th_tally, &ca);
    nipc_server_on(b.server, "connect", th_tally, &cb);
    for (int i = 0; i < 32; i++)
        raw(th_raw_connect_server(t, a.server));
    for (int i = 0; i < 400 && ca + cb < 32; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(ca + cb, 32, "%s: %d + %d connections accepted", t->name, ca, cb);
    cr_assert(ca > 0 && cb > 0, "%s: one server got every connection (%d, %d)", t->name, ca, cb);
}

ParameterizedTestParameters(prefork, without_reuse_port_the_second_server_is_eaddrinuse)
{
    TH_NET_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, prefork, without_reuse_port_the_second_server_is_eaddrinuse)
{
    /* first's reuse_port, second's: only both set shares the port. */
    static const bool pairs[][2] = {{false, false}, {true, false}, {false, true}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        nipc_config_t cfg;
        th_server_t a;
        nipc_server_t *s;
        int fd;
        th_config(&cfg);
        cfg.reuse_port = pairs[i][0];
        th_server_start_on(&a, &loop, &cfg, t, dir, "a");
        instances[ninstances++] = a.ipc;
        cfg.reuse_port = pairs[i][1];
        nipc_t *second = instance(&cfg);
        cr_assert_eq(
            nipc_serve_net(second, th_loopback(t), nipc_server_port(a.server), NIPC_TCP, &s), 0);
        int err = nipc_server_start(s);
        cr_assert_eq(err, UV_EADDRINUSE, "%s: reuse_port %d then %d: %s", t->name, pairs[i][0],
                     pairs[i][1], nipc_strerror(err));
        err = nipc_server_listen_shared(s, &fd);
        cr_assert_eq(err, UV_EADDRINUSE, "%s: listen_shared, reuse_port %d then %d: %s", t->name,
                     pairs[i][0], pairs[i][1], nipc_strerror(err));
        free_instance(second);
        free_instance(a.ipc);
    }
}

/* A Unix socket has no port to share: reuse_port there is refused, not ignored (several
 * processes share one Unix socket through nipc_server_listen_shared()). */
Test(prefork, reuse_port_on_a_unix_socket_is_refused)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.reuse_port = true;
    nipc_t *ipc = instance(&cfg);
    nipc_server_t *s = (nipc_server_t *)1;
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "reuse.sock"), &s), UV_ENOTSUP);
    cr_assert_null(s);
    cr_assert_null(nipc_server(ipc));
    free_instance(ipc);
}

/* ---- unlink false ----------------------------------------------------------------------- */

/* S4 with `unlink` false, as node-ipc's cluster example sets it: nothing removes a stale
 * socket, and listening where it is fails, for a server of its own and a shared one. */
Test(prefork, s4_unlink_false_leaves_a_stale_socket_and_is_eaddrinuse)
{
    const char *p = th_path(dir, "stale.sock");
    char path[256];
    snprintf(path, sizeof path, "%s", p);
    close(th_raw_listen(path)); /* bound, closed, never unlinked: stale */
    ino_t ino = inode_of(path);
    nipc_config_t cfg;
    nipc_server_t *s;
    int fd = -2;
    th_config(&cfg);
    cfg.unlink = false;
    nipc_t *ipc = instance(&cfg);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EADDRINUSE);
    cr_assert(is_socket(path) && inode_of(path) == ino, "start replaced the stale socket");
    cr_assert_eq(nipc_server_listen_shared(s, &fd), UV_EADDRINUSE);
    cr_assert_eq(fd, -1);
    cr_assert(is_socket(path) && inode_of(path) == ino, "listen_shared replaced the stale socket");
    free_instance(ipc);
    th_run_for(&loop, 20);
    cr_assert(is_socket(path) && inode_of(path) == ino, "nipc_free removed the stale socket");

    /* With unlink, the same stale socket is replaced by the shared listener's. */
    cfg.unlink = true;
    ipc = instance(&cfg);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server_listen_shared(s, &fd), 0);
    cr_assert(is_socket(path));
    free_instance(ipc);
}
