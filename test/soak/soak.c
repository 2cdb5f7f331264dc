/* SPDX-License-Identifier: MIT */
/*
 * The soak tests: long runs that show nothing is lost and memory stays flat. test/soak/run.sh
 * (`make soak`) runs the long versions, ctest (label soak) short ones.
 *
 *   soak events --transport unix|tcp [--clients 4] [--events 10000000]
 *       One server; each client, a process of its own, emits its share of the events, each
 *       {"c":<client>,"i":<its sequence number>}, as fast as its queue (max_queued_bytes
 *       1 MiB, `drain` as flow control) lets it, then `done` with its count. The server
 *       checks every client's sequence (none lost, none reordered or repeated) and its count.
 *       Resident memory (VmRSS) and nipc's live blocks are sampled after the warm-up (a
 *       tenth of the events, and on a client its queue full once) and at the end (the last
 *       event): the run fails if the end is more than 64 blocks above the warm-up, on the
 *       server or in a client, or more than --max-growth-kib (3072) of RSS in a client, and
 *       2048 plus 2 MiB per client on the server. A client's 3 MiB: its queue and the write in
 *       flight are two buffers that swap, each touched deeper as it is reused, up to the
 *       queue bound (1 MiB each), and 1 MiB for the allocator's slack (a write that starts
 *       early, past 16 KiB queued, makes both buffers deep sooner: up to +2.2 MiB was seen in
 *       the short run). The server's: a queue of answers it does not have, and the buffer of
 *       its largest read per client (1 MiB reads while a connection's reads come back full,
 *       until it drains). The block count is the sharp test: a block kept per 100 000
 *       events fails the long run. Under ASan or valgrind, whose allocators keep what is
 *       freed for a while, RSS is reported, not judged. The server's blocks must also come back to
 *       their level once the clients have left.
 *
 *   soak idle --transport unix|tcp [--connections 10000]
 *       One server and, in another process, one instance with that many clients connected
 *       to it and idle; each side reports its VmRSS and live blocks before the connections
 *       and once all are up, and the difference per connection: more than
 *       --max-kib-per-connection (8) of RSS on either side fails the run (not judged under
 *       ASan or valgrind). RLIMIT_NOFILE is raised to its hard limit on both sides, and the run
 * refused if that is too low.
 *
 * Clients are this program again (events-client / idle-client), so that each process's memory
 * is its own. Every process ends with a deadline (--timeout, 600 s).
 * Output: one line per result, starting with "soak "; exit status 0 when every check held.
 * Links nipc_static for nipc__test_count_blocks() and nipc__test_live_blocks().
 */
#include <nipc.h>

#include "core/core.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#endif
#ifndef SOAK_ASAN
#define SOAK_ASAN 0
#endif

typedef struct opts {
    const char *mode;
    bool tcp;
    long clients;
    long events;
    long connections;
    long max_growth_kib;
    long max_kib_per_conn;
    long timeout_s;
    const char *endpoint; /* clients: the server's path, or 127.0.0.1:port */
    long id;              /* events-client: which client */
} opts_t;

static opts_t o = {.clients = 4,
                   .events = 10000000,
                   .connections = 10000,
                   .max_growth_kib = 3072,
                   .max_kib_per_conn = 8,
                   .timeout_s = 600,
                   .id = -1};
static const char *self_name = "soak";
/* RSS is reported but not judged under ASan or valgrind (test/support/valgrind.sh), whose
 * allocators keep what is freed for a while. */
static bool unjudged = SOAK_ASAN;
static nipc_t *ipc;
static uv_timer_t deadline;

/* ---- helpers ----------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", self_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        die("/proc/self/status: %s", strerror(errno));
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    if (kib < 0)
        die("no VmRSS in /proc/self/status");
    return kib;
}

/* Up to the hard limit: `need` descriptors at least, or the run cannot be made. */
static void raise_nofile(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit: %s", strerror(errno));
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("setrlimit: %s", strerror(errno));
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur < need)
        die("%ld connections need %ld descriptors; the hard limit is %ld (ulimit -Hn)",
            o.connections, need, (long)rl.rlim_cur);
}

static long number(const char *flag, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        die("%s: not a number: %s", flag, s);
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: soak events --transport unix|tcp [--clients N] [--events N]\n"
                    "                   [--max-growth-kib K] [--timeout S]\n"
                    "       soak idle --transport unix|tcp [--connections N]\n"
                    "                 [--max-kib-per-connection K] [--timeout S]\n");
    exit(2);
}

static void parse(int argc, char **argv)
{
    if (argc < 2)
        usage();
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--transport") == 0) {
            if (strcmp(v, "unix") != 0 && strcmp(v, "tcp") != 0)
                usage();
            o.tcp = strcmp(v, "tcp") == 0;
        } else if (strcmp(a, "--clients") == 0) {
            o.clients = number(a, v);
        } else if (strcmp(a, "--events") == 0) {
            o.events = number(a, v);
        } else if (strcmp(a, "--connections") == 0) {
            o.connections = number(a, v);
        } else if (strcmp(a, "--max-growth-kib") == 0) {
            o.max_growth_kib = number(a, v);
        } else if (strcmp(a, "--max-kib-per-connection") == 0) {
            o.max_kib_per_conn = number(a, v);
        } else if (strcmp(a, "--timeout") == 0) {
            o.timeout_s = number(a, v);
        } else if (strcmp(a, "--endpoint") == 0) {
            o.endpoint = v;
        } else if (strcmp(a, "--id") == 0) {
            o.id = number(a, v);
        } else {
            usage();
        }
    }
    if (o.clients < 1 || o.events < o.clients || o.connections < 1)
        die("at least one client, one event per client and one connection");
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    die("not done within %ld s", o.timeout_s);
}

/* An instance with its own loop, and the deadline on it (unref'd: it keeps nothing alive). */
static void instance(nipc_config_t *cfg)
{
    int err = nipc_new(&ipc, NULL, cfg);
    if (err)
        die("nipc_new: %s", nipc_strerror(err));
    uv_timer_init(nipc_loop(ipc), &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)o.timeout_s * 1000, 0);
    uv_unref((uv_handle_t *)&deadline);
}

/* The program's own handles close when its run is over, so that nipc_run() returns. */
static uv_idle_t pump;
static bool pump_open;

static void close_own_handles(void)
{
    if (!uv_is_closing((uv_handle_t *)&deadline))
        uv_close((uv_handle_t *)&deadline, NULL);
    if (pump_open && !uv_is_closing((uv_handle_t *)&pump))
        uv_close((uv_handle_t *)&pump, NULL);
}

static void finish(void)
{
    nipc_run(ipc);
    nipc_free(ipc);
}

/* The server, on a fresh endpoint: a socket in a new directory, or 127.0.0.1 port 0. */
static char sock_dir[64];
static char endpoint[128];

/* At exit, a failed run's too: the socket and its directory. */
static void unserve(void)
{
    unlink(endpoint);
    rmdir(sock_dir);
}

static nipc_server_t *serve(void)
{
    nipc_server_t *s;
    int err;
    if (o.tcp) {
        err = nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s);
    } else {
        snprintf(sock_dir, sizeof sock_dir, "/tmp/nipc-soak-XXXXXX");
        if (mkdtemp(sock_dir) == NULL)
            die("mkdtemp: %s", strerror(errno));
        snprintf(endpoint, sizeof endpoint, "%s/soak.sock", sock_dir);
        atexit(unserve);
        err = nipc_serve(ipc, endpoint, &s);
    }
    if (err)
        die("serve: %s", nipc_strerror(err));
    return s;
}

static void server_started(nipc_server_t *s)
{
    if (o.tcp)
        snprintf(endpoint, sizeof endpoint, "127.0.0.1:%d", nipc_server_port(s));
}

static int client_connect(const char *id, nipc_client_t **c)
{
    if (!o.tcp)
        return nipc_connect_to(ipc, id, o.endpoint, c);
    const char *colon = strrchr(o.endpoint, ':');
    if (colon == NULL)
        die("--endpoint: HOST:PORT");
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - o.endpoint), o.endpoint);
    return nipc_connect_to_net(ipc, id, host, (int)number("--endpoint", colon + 1), c);
}

/*
 * The clients: this program again (its path as readlink gives it, which valgrind answers
 * with the program it runs rather than itself), as libuv processes on the server's loop,
 * so that a client that fails fails the run at once rather than at the deadline.
 */
#define MAX_CHILDREN 64
static uv_process_t children[MAX_CHILDREN];
static long n_children;

static void on_child_exit(uv_process_t *p, int64_t status, int signal)
{
    if (status != 0 || signal != 0)
        die("a client ended with status %lld, signal %d", (long long)status, signal);
    uv_close((uv_handle_t *)p, NULL);
}

/* `mode` with the endpoint and the given arguments. */
static void spawn_client(const char *mode, const char *more[])
{
    static char self[4096];
    if (self[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            die("readlink /proc/self/exe: %s", strerror(errno));
        self[n] = '\0';
    }
    if (n_children == MAX_CHILDREN)
        die("more than %d clients", MAX_CHILDREN);
    char timeout[24];
    snprintf(timeout, sizeof timeout, "%ld", o.timeout_s);
    char *argv[24] = {self,         (char *)mode, "--transport", o.tcp ? "tcp" : "unix",
                      "--endpoint", endpoint,     "--timeout",   timeout};
    size_t n = 8;
    for (size_t i = 0; more[i] != NULL && n < 23; i++)
        argv[n++] = (char *)more[i];
    argv[n] = NULL;
    uv_stdio_container_t stdio[3];
    for (int fd = 0; fd < 3; fd++) {
        stdio[fd].flags = UV_INHERIT_FD;
        stdio[fd].data.fd = fd;
    }
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = self;
    opt.args = argv;
    opt.exit_cb = on_child_exit;
    opt.stdio_count = 3;
    opt.stdio = stdio;
    int err = uv_spawn(nipc_loop(ipc), &children[n_children], &opt);
    if (err)
        die("spawn %s: %s", self, uv_strerror(err));
    n_children++;
}

static void on_error(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    die("error event: %s", nipc_strerror(ev->status));
}

/* ---- events: the server -------------------------------------------------------------------- */

typedef struct peer {
    long next;     /* the sequence number its next event must carry */
    bool done;     /* its `done` came */
    long rss_warm; /* its own samples, from `done` */
    long rss_end;
    long live_warm;
    long live_end;
} peer_t;

static peer_t *peers;
static long received, warm_at, clients_done;
static uint64_t t_first;
static long s_rss_warm, s_rss_end, s_rss_peak, s_live_warm, s_live_end;
static long s_live_start, s_live_left, closed; /* the server's blocks before and after */
static double seconds;

static void on_event(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    long c = (long)json_integer_value(json_object_get(ev->data, "c"));
    long i = (long)json_integer_value(json_object_get(ev->data, "i"));
    if (c < 0 || c >= o.clients)
        die("an event from client %ld of %ld", c, o.clients);
    if (i != peers[c].next)
        die("client %ld: event %ld where %ld was due (%s)", c, i, peers[c].next,
            i > peers[c].next ? "lost" : "reordered or repeated");
    peers[c].next++;
    if (received++ == 0)
        t_first = uv_hrtime();
    if (received % (o.events / 100 + 1) == 0) {
        long rss = rss_kib();
        s_rss_peak = rss > s_rss_peak ? rss : s_rss_peak;
    }
    if (received == warm_at) {
        s_rss_warm = rss_kib();
        s_live_warm = nipc__test_live_blocks();
    } else if (received == o.events) {
        seconds = (double)(uv_hrtime() - t_first) / 1e9;
        s_rss_end = rss_kib();
        s_live_end = nipc__test_live_blocks();
    }
}

/* Every client gone: the server's blocks are back to their level before the clients, once
 * the loop has finished the closes (a turn later; the settle timer gives it 50 ms). */
static uv_timer_t settle;

static void on_settled(uv_timer_t *t)
{
    s_live_left = nipc__test_live_blocks();
    uv_close((uv_handle_t *)t, NULL);
    close_own_handles();
    nipc_stop(ipc);
}

static void maybe_end(void)
{
    if (clients_done == o.clients && closed == o.clients) {
        uv_timer_init(nipc_loop(ipc), &settle);
        uv_timer_start(&settle, on_settled, 50, 0);
    }
}

static void on_close(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    closed++;
    maybe_end();
}

static void on_done(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    json_t *d = ev->data;
    long c = (long)json_integer_value(json_object_get(d, "c"));
    long n = (long)json_integer_value(json_object_get(d, "n"));
    if (c < 0 || c >= o.clients || peers[c].done)
        die("a done from client %ld", c);
    if (n != peers[c].next)
        die("client %ld sent %ld events, %ld arrived", c, n, peers[c].next);
    peers[c].done = true;
    peers[c].rss_warm = (long)json_integer_value(json_object_get(d, "rss_warm"));
    peers[c].rss_end = (long)json_integer_value(json_object_get(d, "rss_end"));
    peers[c].live_warm = (long)json_integer_value(json_object_get(d, "live_warm"));
    peers[c].live_end = (long)json_integer_value(json_object_get(d, "live_end"));
    clients_done++;
    maybe_end();
}

/* A side's memory over the run, judged against `bound` KiB of growth: one line, and whether
 * it stayed within it. `peak` is the largest RSS sampled, or 0 if the side kept none. */
static bool judge(const char *who, long rss_warm, long rss_end, long peak, long bound,
                  long live_warm, long live_end)
{
    long grew = rss_end - rss_warm, blocks = live_end - live_warm;
    bool rss_ok = unjudged || grew <= bound, live_ok = blocks <= 64;
    char peak_text[48] = "";
    if (peak > 0)
        snprintf(peak_text, sizeof peak_text, ", peak %ld KiB", peak);
    printf("soak   %s: RSS %ld KiB after warm-up, %ld KiB at the end (%+ld KiB; bound %ld%s)%s, "
           "nipc live blocks %ld -> %ld (%+ld; bound 64)%s\n",
           who, rss_warm, rss_end, grew, bound,
           unjudged ? ", not judged under ASan or valgrind" : "", peak_text, live_warm, live_end,
           blocks, rss_ok && live_ok ? "" : "  <- beyond its bound");
    return rss_ok && live_ok;
}

static int events_server(void)
{
    nipc__test_count_blocks(true);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;
    cfg.max_connections = (unsigned)o.clients;
    instance(&cfg);
    peers = calloc((size_t)o.clients, sizeof *peers);
    if (peers == NULL)
        die("out of memory");
    warm_at = o.events / 10 > 0 ? o.events / 10 : 1;
    nipc_server_t *s = serve();
    nipc_server_on(s, "e", on_event, NULL);
    nipc_server_on(s, "done", on_done, NULL);
    nipc_server_on(s, "close", on_close, NULL);
    nipc_server_on(s, "error", on_error, NULL);
    int err = nipc_server_start(s);
    if (err)
        die("start: %s", nipc_strerror(err));
    server_started(s);
    s_live_start = nipc__test_live_blocks();

    for (long c = 0; c < o.clients; c++) {
        char id[24], share[24];
        snprintf(id, sizeof id, "%ld", c);
        /* The events split as evenly as they go; the first clients take the remainder. */
        long n = o.events / o.clients + (c < o.events % o.clients);
        snprintf(share, sizeof share, "%ld", n);
        const char *more[] = {"--id", id, "--events", share, NULL};
        spawn_client("events-client", more);
    }
    finish(); /* until the clients have exited, each with success */
    bool ok = true;
    if (clients_done != o.clients)
        die("%ld of %ld clients finished", clients_done, o.clients);

    printf("soak events %s: %ld events from %ld clients in %.2f s, %.0f events/s, none lost, "
           "none reordered\n",
           o.tcp ? "tcp" : "unix", received, o.clients, seconds, (double)received / seconds);
    /* The server's reads grow to 1 MiB (2 MiB of buffer) on a connection whose reads come
     * back full, and shrink once it drains: its bound allows that on every connection. */
    ok = judge("server", s_rss_warm, s_rss_end, s_rss_peak, 2048 + 2048 * o.clients,
               s_live_warm, s_live_end) &&
         ok;
    /* One block more may stay: the server's socket table, made by the first connection and
     * kept at its peak size. */
    bool back = s_live_left <= s_live_start + 1;
    printf("soak   server: nipc live blocks %ld before the clients, %ld once they left%s\n",
           s_live_start, s_live_left, back ? "" : "  <- not back to its level");
    ok = ok && back;
    for (long c = 0; c < o.clients; c++) {
        char who[32];
        snprintf(who, sizeof who, "client %ld", c);
        ok = judge(who, peers[c].rss_warm, peers[c].rss_end, 0, o.max_growth_kib,
                   peers[c].live_warm, peers[c].live_end) &&
             ok;
    }
    free(peers);
    return ok ? 0 : 1;
}

/* ---- events: a client ---------------------------------------------------------------------- */

static nipc_client_t *client;
static json_t *payload, *payload_i;
static long next_i, c_warm_at;
static long c_rss_warm, c_live_warm;
static bool blocked, was_full, done_sent;

/* Emits until the queue is full (then `drain` restarts the pump), a batch per loop turn. */
static void send_more(uv_idle_t *h)
{
    (void)h;
    while (next_i < o.events) {
        json_integer_set(payload_i, next_i);
        int err = nipc_client_emit(client, "e", payload);
        if (err == NIPC_EQUEUEFULL) {
            blocked = was_full = true;
            uv_idle_stop(&pump);
            return;
        }
        if (err)
            die("emit: %s", nipc_strerror(err));
        /* Warm once a tenth is sent and the queue has been full (unless it never fills). */
        if (++next_i >= c_warm_at && c_rss_warm == 0 && (was_full || next_i >= 2 * c_warm_at)) {
            c_rss_warm = rss_kib();
            c_live_warm = nipc__test_live_blocks();
        }
        if (next_i % 4096 == 0)
            return;
    }
    long rss_end = rss_kib(), live_end = nipc__test_live_blocks();
    int err = nipc_client_emitf(client, "done", "{s:I,s:I,s:I,s:I,s:I,s:I}", "c", (json_int_t)o.id,
                                "n", (json_int_t)o.events, "rss_warm", (json_int_t)c_rss_warm,
                                "rss_end", (json_int_t)rss_end, "live_warm",
                                (json_int_t)c_live_warm, "live_end", (json_int_t)live_end);
    if (err == NIPC_EQUEUEFULL) {
        blocked = true;
        uv_idle_stop(&pump);
        return;
    }
    if (err)
        die("emit done: %s", nipc_strerror(err));
    uv_idle_stop(&pump);
    done_sent = true;
    nipc_disconnect(ipc, "soak"); /* after what is queued is written */
}

static void on_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    uv_idle_start(&pump, send_more);
}

static void on_drain(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (blocked) {
        blocked = false;
        uv_idle_start(&pump, send_more);
    }
}

/* The end of the client, after its disconnect (or the server's). */
static void on_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    close_own_handles();
}

static void on_drop(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    die("%lld frames dropped: %s",
        (long long)json_integer_value(json_object_get(ev->data, "frames")),
        nipc_strerror(ev->status));
}

static int events_client(void)
{
    if (o.endpoint == NULL || o.id < 0)
        die("events-client: --endpoint and --id");
    nipc__test_count_blocks(true);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;
    cfg.stop_retrying = true;
    cfg.max_queued_bytes = 1 << 20;
    instance(&cfg);
    c_warm_at = o.events / 10 > 0 ? o.events / 10 : 1;
    payload = json_pack("{s:I,s:i}", "c", (json_int_t)o.id, "i", 0);
    payload_i = json_object_get(payload, "i");
    int err = client_connect("soak", &client);
    if (err)
        die("connect: %s", nipc_strerror(err));
    nipc_client_on(client, "connect", on_connect, NULL);
    nipc_client_on(client, "drain", on_drain, NULL);
    nipc_client_on(client, "drop", on_drop, NULL);
    nipc_client_on(client, "error", on_error, NULL);
    nipc_client_on(client, "destroy", on_destroy, NULL);
    uv_idle_init(nipc_loop(ipc), &pump);
    pump_open = true;
    finish();
    json_decref(payload);
    if (!done_sent)
        die("disconnected after %ld of %ld events", next_i, o.events);
    return 0;
}

/* ---- idle: the server ---------------------------------------------------------------------- */

static long up;
static long s_rss_before, s_live_before, s_rss_up, s_live_up;

static void on_idle_start(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    server_started(ev->server);
    s_rss_before = rss_kib();
    s_live_before = nipc__test_live_blocks();
    char n[24];
    snprintf(n, sizeof n, "%ld", o.connections);
    const char *more[] = {"--connections", n, NULL};
    spawn_client("idle-client", more);
}

static void on_idle_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (++up == o.connections) {
        s_rss_up = rss_kib();
        s_live_up = nipc__test_live_blocks();
    }
}

static bool idle_ok = true;

static void per_connection(const char *who, long rss_before, long rss_up, long live_before,
                           long live_up)
{
    double kib = (double)(rss_up - rss_before) / (double)o.connections;
    bool ok = unjudged || kib <= (double)o.max_kib_per_conn;
    printf("soak   %s: RSS %ld KiB before, %ld KiB with the connections up: %.2f KiB per "
           "connection%s; nipc live blocks %ld -> %ld, %.2f per connection%s\n",
           who, rss_before, rss_up, kib, unjudged ? " (not judged under ASan or valgrind)" : "",
           live_before, live_up, (double)(live_up - live_before) / (double)o.connections,
           ok ? "" : "  <- beyond its bound");
    idle_ok = idle_ok && ok;
}

/* The client's figures, once all its connections are up: the run is over. */
static void on_sampled(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (up != o.connections)
        die("the client has %ld connections up, the server %ld of them",
            (long)json_integer_value(json_object_get(ev->data, "n")), up);
    printf("soak idle %s: %ld connections up and idle on one server\n", o.tcp ? "tcp" : "unix",
           o.connections);
    per_connection("server", s_rss_before, s_rss_up, s_live_before, s_live_up);
    json_t *d = ev->data;
    per_connection("client", (long)json_integer_value(json_object_get(d, "rss_before")),
                   (long)json_integer_value(json_object_get(d, "rss_up")),
                   (long)json_integer_value(json_object_get(d, "live_before")),
                   (long)json_integer_value(json_object_get(d, "live_up")));
    fflush(stdout);
    close_own_handles();
    nipc_stop(ipc);
}

static int idle_server(void)
{
    raise_nofile(o.connections + 64);
    nipc__test_count_blocks(true);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;
    cfg.max_connections = (unsigned)o.connections;
    instance(&cfg);
    nipc_server_t *s = serve();
    nipc_server_on(s, "start", on_idle_start, NULL);
    nipc_server_on(s, "connect", on_idle_connect, NULL);
    nipc_server_on(s, "sampled", on_sampled, NULL);
    nipc_server_on(s, "error", on_error, NULL);
    int err = nipc_server_start(s);
    if (err)
        die("start: %s", nipc_strerror(err));
    finish(); /* until the client has exited, with success */
    return n_children == 1 && idle_ok && up == o.connections ? 0 : 1;
}

/* ---- idle: the client ---------------------------------------------------------------------- */

/* Connections are made a batch at a time, so that no listen backlog overflows (a Unix socket
 * refuses a connect then, and TCP drops the SYN for a second). */
#define IDLE_IN_FLIGHT 256

static long made, connected;
static nipc_client_t *first;
static long c_rss_before, c_live_before;

static void on_client_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (--connected == 0)
        close_own_handles();
}

static void connect_more(void);

static void on_client_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (++connected < o.connections) {
        connect_more();
        return;
    }
    long rss_up = rss_kib(), live_up = nipc__test_live_blocks();
    int err =
        nipc_client_emitf(first, "sampled", "{s:I,s:I,s:I,s:I,s:I}", "n", (json_int_t)connected,
                          "rss_before", (json_int_t)c_rss_before, "rss_up", (json_int_t)rss_up,
                          "live_before", (json_int_t)c_live_before, "live_up", (json_int_t)live_up);
    if (err)
        die("emit sampled: %s", nipc_strerror(err));
}

static void connect_more(void)
{
    while (made < o.connections && made - connected < IDLE_IN_FLIGHT) {
        char id[24];
        snprintf(id, sizeof id, "c%ld", made);
        nipc_client_t *c;
        int err = client_connect(id, &c);
        if (err)
            die("connect %s: %s", id, nipc_strerror(err));
        nipc_client_on(c, "connect", on_client_connect, NULL);
        nipc_client_on(c, "destroy", on_client_destroy, NULL);
        nipc_client_on(c, "error", on_error, NULL);
        if (made++ == 0)
            first = c;
    }
}

static int idle_client(void)
{
    if (o.endpoint == NULL)
        die("idle-client: --endpoint");
    raise_nofile(o.connections + 64);
    nipc__test_count_blocks(true);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;
    cfg.stop_retrying = true;
    instance(&cfg);
    c_rss_before = rss_kib();
    c_live_before = nipc__test_live_blocks();
    connect_more();
    finish();
    return 0;
}

int main(int argc, char **argv)
{
    self_name = argv[0];
    const char *vg = getenv("NIPC_VALGRIND");
    unjudged = unjudged || (vg != NULL && strcmp(vg, "1") == 0);
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse(argc, argv);
    if (strcmp(o.mode, "events") == 0)
        return events_server();
    if (strcmp(o.mode, "events-client") == 0)
        return events_client();
    if (strcmp(o.mode, "idle") == 0)
        return idle_server();
    if (strcmp(o.mode, "idle-client") == 0)
        return idle_client();
    usage();
}
