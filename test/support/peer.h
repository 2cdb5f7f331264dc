/* SPDX-License-Identifier: MIT */
/*
 * A node-ipc peer for the interop tests: test/interop/node/peer.js run by Node as a child
 * process on the test's own loop.
 *
 *   th_peer_t *p = th_peer_spawn(&loop, "10", "client-echo", path, "--id", "x", NULL);
 *   json_t *line = th_peer_wait(p, "done", 0, 10000);
 *
 * or, over any stream transport of the suite (transport.h), th_peer_spawn_on(&loop, t, "10",
 * "client-echo", th_peer_at_server(t, server), NULL).
 *
 * The peer's stdout is read through a pipe and split into lines; each line is parsed with
 * jansson and kept, in order, in p->lines (a line that is not a JSON object is kept as
 * {"ev":"<unparsed>","line":...}). Its stderr is the test's stderr. Its exit status is
 * recorded by the exit callback.
 *
 * Every peer is heap-allocated and registered in a per-process list, so th_peer_close_all()
 * in a test's teardown ends every peer (SIGTERM, then SIGKILL), closes its handles and frees
 * it, even when the test failed half-way. Criterion runs each test in its own process, so
 * the list never mixes tests. Everything is static, like harness.h.
 */
#ifndef NIPC_TEST_PEER_H
#define NIPC_TEST_PEER_H

#include "harness.h"
#include "transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>

#ifndef NIPC_NODE_EXECUTABLE
#define NIPC_NODE_EXECUTABLE "node"
#endif

#define TH_PEER_MAX 16
#define TH_PEER_MAX_ARGS 40

typedef struct th_peer {
    uv_loop_t *loop;
    uv_process_t proc;
    uv_pipe_t out; /* the peer's stdout */
    char name[64]; /* "v10 client-echo", for messages */
    char *partial; /* bytes of a line not yet ended by '\n' */
    size_t plen, pcap;
    json_t *lines; /* array of the parsed lines, in order */
    bool spawned;  /* uv_spawn succeeded */
    bool eof;      /* stdout is closed: no more lines will come */
    bool exited;
    int64_t exit_status;
    int term_signal;
    bool out_init;    /* the pipe handle is initialised (and must be closed) */
    bool proc_init;   /* uv_spawn ran, so the process handle must be closed */
    int open_handles; /* handles initialised and not yet closed */
} th_peer_t;

static th_peer_t *th_peers[TH_PEER_MAX] __attribute__((unused));
static int th_npeers __attribute__((unused));

/* ---- running the loop until a condition holds ------------------------------------------ */

typedef bool (*th_pred_fn)(void *arg);

/*
 * Runs the loop until pred(arg) holds or `ms` pass; returns pred(arg). Like th_run_until but
 * for conditions that are not a single flag.
 */
static TH_UNUSED bool th_run_pred(uv_loop_t *loop, th_pred_fn pred, void *arg, unsigned ms)
{
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, th_on_deadline, ms, 0);
    while (!pred(arg) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return pred(arg);
}

typedef struct th_rec_want {
    const th_rec_t *rec;
    const char *type;
    int n;
} th_rec_want_t;

static TH_UNUSED bool th_rec_has(void *arg)
{
    const th_rec_want_t *w = arg;
    return th_count(w->rec, w->type) >= w->n;
}

/* Runs the loop until `rec` holds `n` events of `type`, or `ms` pass. */
static TH_UNUSED bool th_rec_wait(uv_loop_t *loop, const th_rec_t *rec, const char *type, int n,
                                  unsigned ms)
{
    th_rec_want_t w = {rec, type, n};
    return th_run_pred(loop, th_rec_has, &w, ms);
}

/* ---- lines ----------------------------------------------------------------------------- */

static TH_UNUSED const char *th_line_ev(const json_t *line)
{
    const char *ev = json_string_value(json_object_get(line, "ev"));
    return ev ? ev : "";
}

/* The k-th (0-based) line whose ev is `ev`, borrowed; NULL if there is none (yet). */
static TH_UNUSED json_t *th_peer_line(const th_peer_t *p, const char *ev, int k)
{
    for (size_t i = 0; i < json_array_size(p->lines); i++) {
        json_t *line = json_array_get(p->lines, i);
        if (strcmp(th_line_ev(line), ev) == 0 && k-- == 0)
            return line;
    }
    return NULL;
}

static TH_UNUSED int th_peer_count(const th_peer_t *p, const char *ev)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(p->lines); i++)
        n += strcmp(th_line_ev(json_array_get(p->lines, i)), ev) == 0;
    return n;
}

/* Everything the peer printed, one compact line each, for failure messages (in one of four
 * rotating static buffers, so a message may show several peers). */
static TH_UNUSED const char *th_peer_dump(const th_peer_t *p)
{
    static char bufs[4][8192];
    static int next;
    char *s = bufs[next++ % 4];
    const size_t cap = sizeof bufs[0];
    size_t len = (size_t)snprintf(s, cap, "[%s, %zu lines%s%s]", p->name, json_array_size(p->lines),
                                  p->exited ? ", exited" : "", p->eof ? ", eof" : "");
    for (size_t i = 0; i < json_array_size(p->lines); i++) {
        const json_t *line = json_array_get(p->lines, i);
        if (len >= cap - 64) {
            snprintf(s + len, cap - len, " ...");
            break;
        }
        char *t = json_dumps(line, JSON_COMPACT | JSON_ENCODE_ANY);
        len += (size_t)snprintf(s + len, cap - len, "\n  %s", t ? t : "?");
        free(t);
        if (len >= cap)
            len = cap - 1;
    }
    return s;
}

static void th_peer_add_line(th_peer_t *p, const char *text, size_t n)
{
    json_error_t err;
    json_t *v = json_loadb(text, n, 0, &err);
    if (!json_is_object(v)) {
        json_decref(v);
        v = json_pack("{s:s, s:s%}", "ev", "<unparsed>", "line", text, n);
        if (v == NULL) /* not even UTF-8 */
            v = json_pack("{s:s}", "ev", "<unparsed>");
        fprintf(stderr, "%s: not a JSON object line: %.*s\n", p->name, (int)n, text);
    }
    json_array_append_new(p->lines, v);
}

/* ---- the process ----------------------------------------------------------------------- */

static void th_peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    th_peer_t *p = h->data;
    if (p->pcap - p->plen < suggested) {
        size_t cap = p->plen + suggested;
        char *b = realloc(p->partial, cap);
        if (b == NULL) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        p->partial = b;
        p->pcap = cap;
    }
    *buf = uv_buf_init(p->partial + p->plen, (unsigned)(p->pcap - p->plen));
}

static void th_peer_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    th_peer_t *p = s->data;
    (void)buf;
    if (nread < 0) {
        if (p->plen > 0) { /* a last line without its newline */
            th_peer_add_line(p, p->partial, p->plen);
            p->plen = 0;
        }
        p->eof = true;
        uv_read_stop(s);
        return;
    }
    p->plen += (size_t)nread;
    size_t start = 0;
    for (size_t i = 0; i < p->plen; i++) {
        if (p->partial[i] != '\n')
            continue;
        if (i > start)
            th_peer_add_line(p, p->partial + start, i - start);
        start = i + 1;
    }
    memmove(p->partial, p->partial + start, p->plen - start);
    p->plen -= start;
}

static void th_peer_exit(uv_process_t *proc, int64_t status, int sig)
{
    th_peer_t *p = proc->data;
    p->exited = true;
    p->exit_status = status;
    p->term_signal = sig;
}

/*
 * The spawner of th_peer_spawn() and th_peer_spawn_on(): `node SCRIPT --ver VER --role ROLE`,
 * SCRIPT being a file of test/interop/node (peer.js, or another peer taking its arguments),
 * then the NULL-ended `lead` arguments, then the NULL-ended ones of `ap`. `tag` (or NULL)
 * ends the peer's name in messages.
 */
static TH_UNUSED th_peer_t *th_peer_vspawn(uv_loop_t *loop, const char *file, const char *ver,
                                           const char *role, const char *tag,
                                           const char *const *lead, va_list ap)
{
    cr_assert_lt(th_npeers, TH_PEER_MAX, "too many peers");
    th_peer_t *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->loop = loop;
    p->lines = json_array();
    snprintf(p->name, sizeof p->name, "v%s %s%s%s", ver, role, tag ? " " : "", tag ? tag : "");
    th_peers[th_npeers++] = p;

    char script[512];
    snprintf(script, sizeof script, "%s/test/interop/node/%s", NIPC_SOURCE_DIR, file);
    const char *args[TH_PEER_MAX_ARGS];
    int n = 0;
    args[n++] = NIPC_NODE_EXECUTABLE;
    args[n++] = script;
    args[n++] = "--ver";
    args[n++] = ver;
    args[n++] = "--role";
    args[n++] = role;
    for (; *lead != NULL; lead++)
        args[n++] = *lead;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, TH_PEER_MAX_ARGS - 1, "too many peer arguments");
        args[n++] = a;
    }
    args[n] = NULL;

    cr_assert_eq(uv_pipe_init(loop, &p->out, 0), 0);
    p->out.data = p;
    p->out_init = true;
    p->proc.data = p;

    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&p->out;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = STDERR_FILENO;
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = NIPC_NODE_EXECUTABLE;
    opt.args = (char **)args;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    opt.exit_cb = th_peer_exit;
    int err = uv_spawn(loop, &p->proc, &opt);
    /* Even a failed uv_spawn leaves a handle that must be closed: th_peer_close_all does. */
    p->proc_init = true;
    cr_assert_eq(err, 0, "spawning %s %s: %s", NIPC_NODE_EXECUTABLE, script, uv_strerror(err));
    p->spawned = true;
    cr_assert_eq(uv_read_start((uv_stream_t *)&p->out, th_peer_alloc, th_peer_read), 0);
    return p;
}

/*
 * Spawns `node peer.js --ver VER --role ROLE --path PATH ...` on `loop` (path NULL: no
 * --path); the extra arguments are strings ended by NULL. Fails the test if Node cannot be
 * started. The peer belongs to the list that th_peer_close_all() ends.
 */
static TH_UNUSED __attribute__((sentinel)) th_peer_t *
th_peer_spawn(uv_loop_t *loop, const char *ver, const char *role, const char *path, ...)
{
    const char *lead[] = {"--path", path, NULL};
    va_list ap;
    va_start(ap, path);
    th_peer_t *p =
        th_peer_vspawn(loop, "peer.js", ver, role, NULL, path != NULL ? lead : lead + 2, ap);
    va_end(ap);
    return p;
}

typedef struct th_peer_want {
    th_peer_t *p;
    const char *ev;
    int k;
} th_peer_want_t;

static TH_UNUSED bool th_peer_has(void *arg)
{
    const th_peer_want_t *w = arg;
    return w->p->eof || th_peer_line(w->p, w->ev, w->k) != NULL;
}

/*
 * Runs the loop until the peer has printed its k-th line with ev == `ev` and returns it
 * (borrowed, valid until the peer is closed); NULL after `ms`, or as soon as the peer's
 * stdout has closed without it.
 */
static TH_UNUSED json_t *th_peer_wait(th_peer_t *p, const char *ev, int k, unsigned ms)
{
    th_peer_want_t w = {p, ev, k};
    th_run_pred(p->loop, th_peer_has, &w, ms);
    return th_peer_line(p, ev, k);
}

static TH_UNUSED bool th_peer_gone(void *arg)
{
    const th_peer_t *p = arg;
    return !p->spawned || (p->exited && p->eof);
}

/*
 * Runs the loop until the peer has exited and its stdout is read to the end; returns the
 * exit status, or -1 if it is still running after `ms` (or died by a signal).
 */
static TH_UNUSED int th_peer_wait_exit(th_peer_t *p, unsigned ms)
{
    th_run_pred(p->loop, th_peer_gone, p, ms);
    if (!p->exited || p->term_signal != 0)
        return -1;
    return (int)p->exit_status;
}

/* Sends a signal to a running peer. */
static TH_UNUSED void th_peer_kill(th_peer_t *p, int sig)
{
    if (p->spawned && !p->exited)
        uv_process_kill(&p->proc, sig);
}

static void th_peer_handle_closed(uv_handle_t *h)
{
    th_peer_t *p = h->data;
    p->open_handles--;
}

static TH_UNUSED bool th_peer_closed(void *arg)
{
    const th_peer_t *p = arg;
    return p->open_handles == 0;
}

/*
 * Ends every peer this process spawned: SIGTERM, and SIGKILL if it is still there after 3 s;
 * closes its handles and frees it. For teardown.
 */
static TH_UNUSED void th_peer_close_all(void)
{
    for (int i = 0; i < th_npeers; i++) {
        th_peer_t *p = th_peers[i];
        if (p->spawned && !p->exited) {
            th_peer_kill(p, SIGTERM);
            if (th_peer_wait_exit(p, 3000) < 0 && !p->exited) {
                fprintf(stderr, "%s: still running after SIGTERM, killing it\n", p->name);
                th_peer_kill(p, SIGKILL);
                th_run_pred(p->loop, th_peer_gone, p, 5000);
            }
        }
        if (p->out_init) {
            p->open_handles++;
            uv_close((uv_handle_t *)&p->out, th_peer_handle_closed);
        }
        if (p->proc_init) {
            p->open_handles++;
            uv_close((uv_handle_t *)&p->proc, th_peer_handle_closed);
        }
        th_run_pred(p->loop, th_peer_closed, p, 2000);
        json_decref(p->lines);
        free(p->partial);
        free(p);
        th_peers[i] = NULL;
    }
    th_npeers = 0;
}

/* ---- what a test keeps until its teardown ------------------------------------------------ */

/*
 * Instances and JSON values a scenario makes are kept in per-process lists, so that
 * th_kept_free() in teardown frees them even when the test failed half-way (Criterion runs
 * each test in its own process).
 */
#define TH_KEPT_MAX 8

static nipc_t *th_kept_ipc[TH_KEPT_MAX] __attribute__((unused));
static int th_nkept_ipc __attribute__((unused));
static json_t *th_kept_json __attribute__((unused));

/* Keeps an instance until th_kept_free(); returns it. */
static TH_UNUSED nipc_t *th_track(nipc_t *ipc)
{
    cr_assert_lt(th_nkept_ipc, TH_KEPT_MAX, "too many instances");
    th_kept_ipc[th_nkept_ipc++] = ipc;
    return ipc;
}

/* A new instance on `loop` with a copy of `cfg`, kept until th_kept_free(). */
static TH_UNUSED nipc_t *th_instance(uv_loop_t *loop, const nipc_config_t *cfg)
{
    nipc_t *ipc;
    int err = nipc_new(&ipc, loop, cfg);
    cr_assert_eq(err, 0, "nipc_new: %s", nipc_strerror(err));
    return th_track(ipc);
}

/* Keeps a value (a new reference, stolen) alive until th_kept_free(); returns it, borrowed. */
static TH_UNUSED json_t *th_keep(json_t *v)
{
    cr_assert_not_null(v);
    if (th_kept_json == NULL)
        th_kept_json = json_array();
    json_array_append_new(th_kept_json, v);
    return v;
}

/* For teardown: frees the kept instances, then the kept values. */
static TH_UNUSED void th_kept_free(void)
{
    for (int i = 0; i < th_nkept_ipc; i++)
        nipc_free(th_kept_ipc[i]);
    th_nkept_ipc = 0;
    json_decref(th_kept_json);
    th_kept_json = NULL;
}

/* ---- helpers for the interop scenarios --------------------------------------------------- */

/* One Test per node-ipc version, each calling scenario(ver). */
#define TH_BOTH_VERSIONS(suite, scenario)                                                          \
    Test(suite, scenario##_v10)                                                                    \
    {                                                                                              \
        scenario("10");                                                                            \
    }                                                                                              \
    Test(suite, scenario##_v9)                                                                     \
    {                                                                                              \
        scenario("9");                                                                             \
    }

/* The parameters of TH_STREAM_BOTH_VERSIONS(): every stream transport of the suite. */
static TH_UNUSED struct criterion_test_params th_transport_params(void)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * One ParameterizedTest per node-ipc version over every stream transport of the suite
 * (th_transport_params()), each calling scenario(t, ver): a transport added to
 * TH_NIPC_TRANSPORT_LIST runs every such scenario. Criterion reports each run under the same
 * name, so a scenario's messages name t->name. TH_STREAM_BOTH_VERSIONS_OVER() takes another
 * function returning the parameters, a subset of the list.
 */
#define TH_STREAM_BOTH_VERSIONS(suite, scenario)                                                   \
    TH_STREAM_BOTH_VERSIONS_OVER(suite, scenario, th_transport_params)

#define TH_STREAM_BOTH_VERSIONS_OVER(suite, scenario, params)                                      \
    TH_STREAM_TEST_(suite, scenario##_v10, scenario, "10", params)                                 \
    TH_STREAM_TEST_(suite, scenario##_v9, scenario, "9", params)

#define TH_STREAM_TEST_(suite, name, scenario, ver, params)                                        \
    ParameterizedTestParameters(suite, name)                                                       \
    {                                                                                              \
        return params();                                                                           \
    }                                                                                              \
    ParameterizedTest(th_transport_t *t, suite, name)                                              \
    {                                                                                              \
        scenario(t, ver);                                                                          \
    }

/* Compact JSON text of `v` ("(none)" for NULL), in one of four rotating static buffers. */
static TH_UNUSED const char *th_json_dump(const json_t *v)
{
    static char bufs[4][2048];
    static int i;
    char *b = bufs[i++ % 4];
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(b, sizeof bufs[0], "%s", s ? s : "(none)");
    free(s);
    return b;
}

/* Fails the test unless `got` equals the JSON text `want`. */
static TH_UNUSED void th_assert_json(const json_t *got, const char *want, const char *what)
{
    json_error_t err;
    json_t *w = json_loads(want, JSON_DECODE_ANY, &err);
    cr_assert_not_null(w, "bad expectation %s: %s", want, err.text);
    bool eq = got != NULL && json_equal(got, w);
    json_decref(w);
    cr_assert(eq, "%s: got %s, want %s", what, th_json_dump(got), want);
}

/* The `data` member of a peer's line, borrowed. */
static TH_UNUSED json_t *th_line_data(const json_t *line)
{
    return json_object_get(line, "data");
}

/* HOST:PORT as peer.js takes it (--tcp, --udp4, --udp6, --to): an IPv6 host in brackets. In
 * one of four rotating static buffers. */
static TH_UNUSED const char *th_hostport(const char *host, int port)
{
    static char bufs[4][80];
    static int i;
    char *b = bufs[i++ % 4];
    if (strchr(host, ':') != NULL)
        snprintf(b, sizeof bufs[0], "[%s]:%d", host, port);
    else
        snprintf(b, sizeof bufs[0], "%s:%d", host, port);
    return b;
}

/*
 * A TCP port on the loopback address `host` where nobody listens and nobody else can start
 * to: a socket bound to it (port 0, the system's choice) that never listens. A connect to it
 * is refused (ECONNREFUSED), and the kernel gives a bound port to no other socket, not even
 * as a connecting socket's local port (which would make a connect to it succeed with itself).
 * Returns the socket (close it in teardown) and sets *port.
 */
static TH_UNUSED int th_refusing_port(const char *host, int *port)
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    int af = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
    if (af == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
        a->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, host, &a->sin6_addr), 1, "not an IPv6 literal: %s", host);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&sa;
        a->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, host, &a->sin_addr), 1, "not an IPv4 literal: %s", host);
        len = sizeof *a;
    }
    int fd = socket(af, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0, "bind: %s", strerror(errno));
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(af == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                 : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

/*
 * Waits for the peer's first `listening` line (a TCP server-echo or any UDP role) and returns
 * its "port", the real one also when the peer asked for port 0. Fails the test without it.
 */
static TH_UNUSED int th_peer_port(th_peer_t *p, unsigned ms)
{
    json_t *line = th_peer_wait(p, "listening", 0, ms);
    cr_assert_not_null(line, "%s", th_peer_dump(p));
    json_int_t port = json_integer_value(json_object_get(line, "port"));
    cr_assert(port > 0 && port <= 65535, "no port in the listening line: %s", th_peer_dump(p));
    return (int)port;
}

/* ---- peers over a stream transport of the suite (transport.h) --------------------------- */

/*
 * Where a Node peer of transport `t` listens or connects, as peer.js's --at takes it: the
 * Unix socket `path`, or HOST:PORT on the transport's loopback address. The one place that
 * knows how each kind of transport writes its endpoint for peer.js: a new kind adds its case
 * here (-Wswitch asks for it) and its entry, by t->name, in peer.js's TRANSPORTS. In one of
 * the rotating static buffers of th_hostport(), or `path` itself.
 */
static TH_UNUSED const char *th_peer_at(const th_transport_t *t, const char *path, int port)
{
    switch (t->kind) {
    case TH_UNIX:
        return path;
    case TH_TCP4:
    case TH_TCP6:
        return th_hostport(th_loopback(t), port);
    case TH_TLS:
        return th_hostport("127.0.0.1", port);
    }
    cr_assert_fail("%s: peer.js has no endpoint for transport kind %d", t->name, (int)t->kind);
    return NULL;
}

/* th_peer_at() of a started nipc server: where a Node client finds it. */
static TH_UNUSED const char *th_peer_at_server(const th_transport_t *t, const nipc_server_t *server)
{
    if (t->kind != TH_UNIX)
        cr_assert_gt(nipc_server_port(server), 0, "%s: the server has no port yet", t->name);
    return th_peer_at(t, nipc_server_path(server), nipc_server_port(server));
}

/*
 * th_peer_spawn() of a stream role over transport `t`: `node peer.js --ver VER --role ROLE
 * --transport NAME --at AT ...`, NAME being t->name and AT made by th_peer_at() or
 * th_peer_at_server(); the extra arguments are strings ended by NULL. The peer's name in
 * messages ends with the transport's.
 */
static TH_UNUSED th_peer_t *th_peer_vspawn_on(uv_loop_t *loop, const char *file,
                                              const th_transport_t *t, const char *ver,
                                              const char *role, const char *at, va_list ap)
{
    const char *lead[] = {"--transport", t->name, "--at", at, NULL};
    if (t->kind == TH_TLS) /* peer.js's tls transport reads the certificates there */
        setenv("NIPC_TLS_DIR", th_tls_dir(), 1);
    return th_peer_vspawn(loop, file, ver, role, t->name, lead, ap);
}

static TH_UNUSED __attribute__((sentinel)) th_peer_t *
th_peer_spawn_on(uv_loop_t *loop, const th_transport_t *t, const char *ver, const char *role,
                 const char *at, ...)
{
    va_list ap;
    va_start(ap, at);
    th_peer_t *p = th_peer_vspawn_on(loop, "peer.js", t, ver, role, at, ap);
    va_end(ap);
    return p;
}

/* th_peer_spawn_on() of another peer script of test/interop/node (e.g. request_peer.js)
 * that takes peer.js's --ver, --role, --transport and --at. */
static TH_UNUSED __attribute__((sentinel)) th_peer_t *
th_peer_spawn_script_on(uv_loop_t *loop, const char *file, const th_transport_t *t, const char *ver,
                        const char *role, const char *at, ...)
{
    va_list ap;
    va_start(ap, at);
    th_peer_t *p = th_peer_vspawn_on(loop, file, t, ver, role, at, ap);
    va_end(ap);
    return p;
}

/*
 * Waits for a Node server's first `listening` line and returns the port it got, the real one
 * also for port 0 (a network transport), or 0 for a Unix socket, whose line has none. Fails
 * the test without the line.
 */
static TH_UNUSED int th_peer_listening(th_peer_t *p, const th_transport_t *t, unsigned ms)
{
    if (t->kind != TH_UNIX)
        return th_peer_port(p, ms);
    cr_assert_not_null(th_peer_wait(p, "listening", 0, ms), "%s", th_peer_dump(p));
    return 0;
}

#endif /* NIPC_TEST_PEER_H */
