/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's README cluster example, in C, as "cluster" (`cluster --help` for the options).
 *
 * node-ipc's version runs Node's cluster module: the primary forks one worker per core and
 * every worker serves /tmp/ipc.sock, with config.unlink false so that no worker removes the
 * socket of another. Here the parent binds the socket itself (nipc_server_listen_shared),
 * removing a stale one first as node-ipc's primary does, and forks the workers, which each
 * serve their inherited copy of it (nipc_serve_fd). The kernel gives each new connection to
 * one of the workers (Node's primary hands connections out itself). With --tcp PORT there
 * is no shared socket: every worker binds 127.0.0.1 PORT with config.reuse_port, and the
 * kernel spreads the connections among them.
 *
 * A worker prints one line for each `currentDate` event, with its pid and the event's data
 * as JSON, and answers `served` {"pid", "worker"} so that the client knows who served it
 * (node-ipc's README client leaves at once and never reads it; nipc does not mind).
 *
 * The parent replaces a worker that dies, at most as many at once as there are workers and
 * then one a second, so a worker that dies at once cannot make it fork without end. On
 * SIGINT or SIGTERM it stops the workers (SIGTERM; SIGKILL for any still there after 5 s),
 * then frees its instance, which removes the socket file. A worker that finds its parent
 * gone stops by itself.
 *
 * The rules of fork() that nipc.h gives are followed here: the parent's loop is static and
 * its instance is reached from static storage, so a worker's LeakSanitizer sees them as
 * reachable; a worker first calls uv_loop_fork() on that loop, so that the parent's signal
 * handling stays the parent's; it never touches the parent's instance, makes its own with
 * its own loop, and ends with exit() after freeing it. stdout is line-buffered, so lines
 * of several processes never mix, and flushed before each fork.
 */
#include "cli.h"

#include <nipc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char help[] =
    "usage: cluster [--workers N] [--path PATH | --tcp [PORT]]\n"
    "       cluster -h | --help\n"
    "\n"
    "node-ipc's cluster example. Forks N worker processes that all serve one socket; each\n"
    "prints a line for every `currentDate` event it receives,\n"
    "  worker PID: currentDate DATA\n"
    "and answers `served` {\"pid\":PID,\"worker\":I}. A worker that dies is replaced.\n"
    "\n"
    "  (no option)    serve a Unix socket at /tmp/ipc.sock, node-ipc's example's path\n"
    "  --path PATH    serve a Unix socket at PATH\n"
    "  --tcp [PORT]   serve TCP on 127.0.0.1 port PORT (default 8000): every worker binds\n"
    "                 the port with reuse_port, and the kernel spreads the connections\n"
    "  --workers N    how many workers (1-256; default: one per core)\n"
    "  -h, --help     print this help and exit\n"
    "\n"
    "A stale socket at PATH is removed first; a live one is refused. On SIGINT or SIGTERM\n"
    "the workers are stopped, and the socket file removed.\n"
    "\n"
    "Exit status: 0 once stopped, 1 when it cannot serve (PATH or PORT in use, a worker\n"
    "that cannot listen), 2 for a bad command line.\n";

#define DEFAULT_PATH "/tmp/ipc.sock"
#define STOP_GRACE_MS 5000
/* A worker that cannot serve ends with this status: another would fail the same way. */
#define EXIT_CANNOT_SERVE 3

/* ---- the worker -------------------------------------------------------------------------- */

static struct {
    nipc_t *ipc;
    unsigned n;   /* its number, 1 to --workers */
    pid_t parent; /* who forked it: when that changes, the parent is gone */
    uv_signal_t term;
    uv_timer_t orphan;
} worker;

static void worker_end(void)
{
    uv_close((uv_handle_t *)&worker.term, NULL);
    uv_close((uv_handle_t *)&worker.orphan, NULL);
    nipc_stop(worker.ipc);
}

static void on_worker_term(uv_signal_t *sig, int signum)
{
    (void)sig;
    (void)signum;
    worker_end();
}

static void on_orphan_check(uv_timer_t *t)
{
    (void)t;
    if (getppid() != worker.parent) {
        printf("worker %ld: the cluster is gone, stopping\n", (long)getpid());
        worker_end();
    }
}

static void on_start(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (nipc_server_path(ev->server) != NULL)
        printf("worker %ld: listening on %s\n", (long)getpid(), nipc_server_path(ev->server));
    else
        printf("worker %ld: listening on %s port %d\n", (long)getpid(),
               nipc_server_host(ev->server), nipc_server_port(ev->server));
}

static void on_current_date(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    char *text = ev->data != NULL ? json_dumps(ev->data, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    printf("worker %ld: currentDate %s\n", (long)getpid(), text != NULL ? text : "undefined");
    free(text);
    /* node-ipc's client has often left already: the error is then the socket's, and nobody
     * needs to hear about it. */
    nipc_server_emitf(ev->server, ev->socket, "served", "{s:I, s:I}", "pid", (json_int_t)getpid(),
                      "worker", (json_int_t)worker.n);
}

/* Serves the shared descriptor fd, or with fd -1 binds 127.0.0.1 port with reuse_port. */
static int worker_serve(int fd, int port)
{
    nipc_config_t cfg;
    nipc_server_t *server;
    nipc_config_init(&cfg);
    cfg.silent = true; /* the lines above are the output */
    cfg.reuse_port = true;
    int err = nipc_new(&worker.ipc, NULL, &cfg);
    if (err == 0)
        err = fd >= 0 ? nipc_serve_fd(worker.ipc, fd, &server)
                      : nipc_serve_net(worker.ipc, NULL, port, NIPC_TCP, &server);
    if (err == 0) {
        nipc_server_on(server, "start", on_start, NULL);
        nipc_server_on(server, "currentDate", on_current_date, NULL);
        err = nipc_server_start(server);
    }
    if (err != 0) {
        fprintf(stderr, "worker %ld: cannot serve: %s (%s)\n", (long)getpid(), nipc_strerror(err),
                nipc_err_name(err));
        nipc_free(worker.ipc);
        return EXIT_CANNOT_SERVE;
    }
    uv_signal_init(nipc_loop(worker.ipc), &worker.term);
    uv_signal_start(&worker.term, on_worker_term, SIGTERM);
    uv_timer_init(nipc_loop(worker.ipc), &worker.orphan);
    uv_timer_start(&worker.orphan, on_orphan_check, 500, 500);
    uv_unref((uv_handle_t *)&worker.orphan);
    nipc_run(worker.ipc);
    nipc_free(worker.ipc);
    return 0;
}

/* ---- the parent -------------------------------------------------------------------------- */

typedef struct slot {
    unsigned n;
    pid_t pid;    /* 0 while it has no process */
    bool waiting; /* to be started again once the rate allows */
} slot_t;

/* Static, and the instance reached from here: what a worker inherits stays reachable. */
static struct {
    uv_loop_t loop;
    nipc_t *ipc; /* the shared socket's instance (Unix socket), or NULL (--tcp) */
    int fd;      /* the shared descriptor, or -1 */
    int port;    /* --tcp */
    slot_t *slots;
    unsigned nslots;
    unsigned alive;
    uv_signal_t sigint, sigterm, sigchld;
    uv_timer_t respawn; /* starts the waiting slots when the rate allows */
    uv_timer_t grace;   /* SIGKILL for the workers still there STOP_GRACE_MS after SIGTERM */
    double tokens;      /* starts allowed now: up to nslots, one more each second */
    uint64_t tokens_at; /* uv_now() when tokens was counted */
    bool stopping;
    int status;
} cluster;

static void stop_cluster(int status);

/* Forks the worker of slot s. The child never returns from here. */
static void spawn(slot_t *s)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("cluster: fork");
        stop_cluster(1);
        return;
    }
    if (pid == 0) {
        /* The parent's loop gets kernel objects of its own in this process; it is never run
         * here. Ctrl-C reaches every process of the group: the parent stops the workers. */
        uv_loop_fork(&cluster.loop);
        signal(SIGINT, SIG_IGN);
        worker.n = s->n;
        worker.parent = getppid();
        exit(worker_serve(cluster.fd, cluster.port));
    }
    s->pid = pid;
    s->waiting = false;
    cluster.alive++;
    printf("cluster: worker %u is pid %ld\n", s->n, (long)pid);
}

/* One start allowed by the rate, if there is one: true when it was taken. */
static bool take_token(void)
{
    uint64_t now = uv_now(&cluster.loop);
    cluster.tokens += (double)(now - cluster.tokens_at) / 1000.0;
    cluster.tokens_at = now;
    if (cluster.tokens > cluster.nslots)
        cluster.tokens = cluster.nslots;
    if (cluster.tokens < 1.0)
        return false;
    cluster.tokens -= 1.0;
    return true;
}

static void on_respawn(uv_timer_t *t)
{
    (void)t;
    bool more = false;
    for (unsigned i = 0; i < cluster.nslots && !cluster.stopping; i++) {
        slot_t *s = &cluster.slots[i];
        if (s->waiting && take_token())
            spawn(s);
        more = more || s->waiting;
    }
    if (more && !cluster.stopping)
        uv_timer_start(&cluster.respawn, on_respawn, 1000, 0);
}

static void respawn(slot_t *s)
{
    if (take_token()) {
        spawn(s);
        return;
    }
    s->waiting = true;
    printf("cluster: workers die too often: worker %u starts again within a second\n", s->n);
    if (!uv_is_active((uv_handle_t *)&cluster.respawn))
        uv_timer_start(&cluster.respawn, on_respawn, 1000, 0);
}

/* How a worker ended, for the log. */
static void describe(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
}

static void close_all(void)
{
    uv_close((uv_handle_t *)&cluster.sigint, NULL);
    uv_close((uv_handle_t *)&cluster.sigterm, NULL);
    uv_close((uv_handle_t *)&cluster.sigchld, NULL);
    uv_close((uv_handle_t *)&cluster.respawn, NULL);
    uv_close((uv_handle_t *)&cluster.grace, NULL);
}

static void on_sigchld(uv_signal_t *sig, int signum)
{
    (void)sig;
    (void)signum;
    int status;
    pid_t pid;
    char how[96];
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        slot_t *s = NULL;
        for (unsigned i = 0; i < cluster.nslots && s == NULL; i++)
            if (cluster.slots[i].pid == pid)
                s = &cluster.slots[i];
        if (s == NULL)
            continue;
        s->pid = 0;
        cluster.alive--;
        describe(status, how, sizeof how);
        if (cluster.stopping) {
            printf("cluster: worker %u (pid %ld) %s\n", s->n, (long)pid, how);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_CANNOT_SERVE) {
            printf("cluster: worker %u (pid %ld) cannot serve; stopping\n", s->n, (long)pid);
            stop_cluster(1);
        } else {
            printf("cluster: worker %u (pid %ld) %s; starting another\n", s->n, (long)pid, how);
            respawn(s);
        }
    }
    if (cluster.stopping && cluster.alive == 0) {
        printf("cluster: stopped\n");
        close_all();
    }
}

static void on_grace_over(uv_timer_t *t)
{
    (void)t;
    for (unsigned i = 0; i < cluster.nslots; i++) {
        if (cluster.slots[i].pid > 0) {
            printf("cluster: worker %u (pid %ld) still runs: SIGKILL\n", cluster.slots[i].n,
                   (long)cluster.slots[i].pid);
            kill(cluster.slots[i].pid, SIGKILL);
        }
    }
}

static void stop_cluster(int status)
{
    if (status != 0)
        cluster.status = status;
    if (cluster.stopping)
        return;
    cluster.stopping = true;
    uv_timer_stop(&cluster.respawn);
    printf("cluster: stopping %u workers\n", cluster.alive);
    for (unsigned i = 0; i < cluster.nslots; i++) {
        cluster.slots[i].waiting = false;
        if (cluster.slots[i].pid > 0)
            kill(cluster.slots[i].pid, SIGTERM);
    }
    if (cluster.alive == 0) {
        printf("cluster: stopped\n");
        close_all();
        return;
    }
    uv_timer_start(&cluster.grace, on_grace_over, STOP_GRACE_MS, 0);
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
    (void)sig;
    printf("cluster: %s\n", strsignal(signum));
    stop_cluster(0);
}

/* The Unix socket, bound here for the workers to share. */
static int listen_shared(const char *path)
{
    nipc_config_t cfg;
    nipc_server_t *server;
    nipc_config_init(&cfg);
    cfg.silent = true;
    /* node-ipc's example sets unlink false for its workers and removes the path in its
     * primary; nipc's unlink, here, removes a stale socket only, and a worker never removes
     * anything. */
    int err = nipc_new(&cluster.ipc, &cluster.loop, &cfg);
    if (err == 0)
        err = nipc_serve(cluster.ipc, path, &server);
    if (err == 0)
        err = nipc_server_listen_shared(server, &cluster.fd);
    if (err != 0) {
        fprintf(stderr, "cluster: cannot listen on %s: %s (%s)\n", path, nipc_strerror(err),
                nipc_err_name(err));
        return 1;
    }
    return 0;
}

static void start_signal(uv_signal_t *sig, uv_signal_cb cb, int signum)
{
    uv_signal_init(&cluster.loop, sig);
    uv_signal_start(sig, cb, signum);
}

int main(int argc, char **argv)
{
    /* One write per line: the lines of several processes never mix. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_t cli = {.prog = "cluster",
                 .help = help,
                 .cluster = true,
                 .port = 8000,
                 .workers = uv_available_parallelism()};
    if (cli.workers > CLI_WORKERS_MAX)
        cli.workers = CLI_WORKERS_MAX;
    int status = cli_parse(&cli, argc, argv);
    if (status >= 0)
        return status;
    const char *path = cli.path != NULL ? cli.path : DEFAULT_PATH;

    cluster.fd = -1;
    cluster.port = cli.port;
    cluster.nslots = cli.workers;
    cluster.tokens = cli.workers;
    cluster.slots = calloc(cli.workers, sizeof *cluster.slots);
    if (cluster.slots == NULL || uv_loop_init(&cluster.loop) != 0) {
        fprintf(stderr, "cluster: out of memory\n");
        return 1;
    }
    cluster.tokens_at = uv_now(&cluster.loop);
    for (unsigned i = 0; i < cluster.nslots; i++)
        cluster.slots[i].n = i + 1;
    if (cli.transport == CLI_UNIX && listen_shared(path) != 0)
        status = 1;
    if (status < 0) {
        if (cli.transport == CLI_UNIX)
            printf("cluster %ld: %u workers on %s\n", (long)getpid(), cli.workers, path);
        else
            printf("cluster %ld: %u workers on 127.0.0.1 port %d (reuse_port)\n", (long)getpid(),
                   cli.workers, cli.port);
        start_signal(&cluster.sigint, on_stop_signal, SIGINT);
        start_signal(&cluster.sigterm, on_stop_signal, SIGTERM);
        start_signal(&cluster.sigchld, on_sigchld, SIGCHLD);
        uv_timer_init(&cluster.loop, &cluster.respawn);
        uv_timer_init(&cluster.loop, &cluster.grace);
        for (unsigned i = 0; i < cluster.nslots && !cluster.stopping; i++)
            spawn(&cluster.slots[i]);
        uv_run(&cluster.loop, UV_RUN_DEFAULT);
        status = cluster.status;
    }
    /* The workers are gone: the socket file goes with the instance. */
    nipc_free(cluster.ipc);
    uv_run(&cluster.loop, UV_RUN_DEFAULT);
    uv_loop_close(&cluster.loop);
    free(cluster.slots);
    return status;
}
