/* SPDX-License-Identifier: MIT */
/*
 * bench_zmq: ZeroMQ (libzmq) in nipc's benchmark suite, with the same command line and
 * output as the other programs (bench/README.md). One ZMQ message per event; its bytes are
 * the JSON nipc would send, without the '\f' delimiter (ZMQ frames messages itself). Outside
 * the echo test no JSON library: like bench_raw, the receiver reads each message's "i" with a
 * few lines of C to prove in-order delivery. The echo test decodes and encodes every message
 * with jansson, as a C program using ZeroMQ for JSON would. libzmq's defaults otherwise (one
 * I/O thread, HWM 1000).
 *
 *   bench_zmq server|client --transport unix|tcp --endpoint PATH|HOST:PORT --test TEST
 *             [--count N] [--size N] [--clients N] [--seconds S] [--shapes FILE --shape NAME]
 *
 * Endpoints: unix -> ipc://PATH, tcp -> tcp://HOST:PORT (port 0 binds tcp://HOST:* and the
 * ready line carries the port from ZMQ_LAST_ENDPOINT). The server binds, the client connects.
 *
 * Tests:
 *   throughput, sweep  PUSH (client) -> PULL (server): --count messages
 *                      {"type":"m","data":{"i":N,"s":...}}, then {"type":"done",...}; the
 *                      server checks i = 0, 1, 2, ... and n, timed from the first message.
 *   doubles            the same with {"i":N,"d":[...]}, a row of bench/doubles.h's pool of
 *                      eight doubles taken in turn, its text written once before the run.
 *   latency            REQ (client) / REP (server): ping {"i":N} -> pong {"i":N}, --count
 *                      round trips, then done; the client prints p50/p99/p99.9 in ns.
 *   broadcast          XPUB (server) / SUB (client, --clients sockets). The server counts
 *                      --clients subscriptions (ZMQ_XPUB_VERBOSER) before it publishes, so no
 *                      subscriber joins late, and uses HWM 0 on both sides: PUB/SUB drops at
 *                      the high-water mark, and a drop would fail the sequence check. It then
 *                      waits for every subscriber's unsubscription (its close) and exits.
 *   idle               ROUTER (server) / DEALER (client, --clients sockets): each DEALER says
 *                      hello and waits for the answer, so every connection is really up, and
 *                      says bye at --seconds.
 *   echo               DEALER (client) / ROUTER (server), one connection: the client sends
 *                      --count messages {"type":"e","data":V}, V the value N mod n of the shape
 *                      --shape of --shapes (bench/shapes.h) with "i" = N, its text spliced from
 *                      the file's (so the bytes nipc and node-ipc send), at most ECHO_WINDOW in
 *                      flight; the server parses each with json_loadb and sends back its
 *                      json_dumpb(JSON_COMPACT); the client parses every echo with json_loadb,
 *                      checks that its "i" is the next and compares every 64th with the value
 *                      sent (json_equal), and prints {count, seconds, bytes}.
 * Every test is supported. Runs are bounded by --seconds (default 60) as in bench_raw: the
 * measuring side prints its partial result with "timedOut":true, the other side an error; the
 * side that does not measure prints {"ev":"cpu","cpu_ns":N} when it is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "doubles.h"
#include "shapes.h"

#define HDR 64 /* bytes of a message's start read for its fields */

/* ---- options, output ------------------------------------------------------------------- */

struct opts {
    int server;
    int tcp;
    const char *endpoint;
    const char *test;
    const char *shapes; /* echo: bench/shapes.json */
    const char *shape;  /* echo: the name of a shape in it */
    uint64_t count;
    uint64_t size;
    long clients;
    double seconds;
};

static struct opts o;
static void *ctx;
static char zep[600];         /* the ZMQ endpoint */
static const char *unix_path; /* server: its ipc socket file, removed as it exits */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* Leaves without zmq_ctx_term, which could wait on lingering messages. */
static void leave(int code)
{
    fflush(stdout);
    if (unix_path)
        unlink(unix_path);
    _exit(code);
}

__attribute__((format(printf, 2, 3))) static void fail(int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("{\"ev\":\"error\",\"message\":", stdout);
    json_str(msg);
    fputs("}\n", stdout);
    leave(code);
}

/* The side that does not measure reports its CPU time as it leaves. */
static void done_cpu(void)
{
    printf("{\"ev\":\"cpu\",\"cpu_ns\":%llu}\n", (unsigned long long)cpu_ns());
    leave(0);
}

/* ---- the --seconds bound ---------------------------------------------------------------- */

/* SIGALRM without SA_RESTART: a blocked zmq_msg_recv, zmq_send or zmq_poll returns EINTR
 * (libzmq blocks signals in its own threads). The timer repeats every 100 ms after it first
 * fires, so a signal that lands just before a blocking call only delays the exit. */
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static void arm_timer(double secs)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it;
    it.it_value.tv_sec = (time_t)secs;
    it.it_value.tv_usec = (suseconds_t)((secs - (double)(time_t)secs) * 1e6);
    if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
        it.it_value.tv_usec = 1;
    it.it_interval.tv_sec = 0;
    it.it_interval.tv_usec = 100000;
    setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- sockets ---------------------------------------------------------------------------- */

static int is_ipv6;

static void make_endpoint(int bind)
{
    if (!o.tcp) {
        snprintf(zep, sizeof zep, "ipc://%s", o.endpoint);
        return;
    }
    const char *colon = strrchr(o.endpoint, ':');
    if (!colon || colon == o.endpoint || !colon[1])
        fail(2, "--endpoint wants HOST:PORT, got '%s'", o.endpoint);
    char host[300];
    size_t hl = (size_t)(colon - o.endpoint);
    if (hl >= sizeof host)
        fail(2, "--endpoint too long");
    memcpy(host, o.endpoint, hl);
    host[hl] = 0;
    const char *port = colon + 1;
    if (host[0] != '[' && strchr(host, ':')) /* a bare IPv6 address */
        snprintf(zep, sizeof zep, "tcp://[%s]:%s", host, bind && !strcmp(port, "0") ? "*" : port);
    else
        snprintf(zep, sizeof zep, "tcp://%s:%s", host, bind && !strcmp(port, "0") ? "*" : port);
    is_ipv6 = strchr(host, ':') != NULL;
}

static void *sock(int type)
{
    void *s = zmq_socket(ctx, type);
    if (!s)
        fail(1, "zmq_socket: %s", zmq_strerror(errno));
    if (is_ipv6) {
        int one = 1;
        zmq_setsockopt(s, ZMQ_IPV6, &one, sizeof one);
    }
    return s;
}

static void setopt_int(void *s, int opt, int v)
{
    if (zmq_setsockopt(s, opt, &v, sizeof v) < 0)
        fail(1, "zmq_setsockopt %d: %s", opt, zmq_strerror(errno));
}

/* Binds and prints the ready line (the real port over TCP). */
static void bind_ready(void *s)
{
    /* ZeroMQ's default backlog (100) drops connects when thousands arrive at once (idle
     * with 10 000 clients); the kernel caps it at somaxconn anyway. */
    setopt_int(s, ZMQ_BACKLOG, 4096);
    if (zmq_bind(s, zep) < 0)
        fail(1, "zmq_bind %s: %s", zep, zmq_strerror(errno));
    if (!o.tcp)
        unix_path = o.endpoint;
    char last[600];
    size_t len = sizeof last;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, last, &len) < 0)
        fail(1, "ZMQ_LAST_ENDPOINT: %s", zmq_strerror(errno));
    const char *ep = o.endpoint;
    if (o.tcp) {
        ep = last + strlen("tcp://"); /* HOST:PORT, an IPv6 host in brackets */
    }
    fputs("{\"ev\":\"ready\",\"endpoint\":", stdout);
    json_str(ep);
    fputs("}\n", stdout);
    fflush(stdout);
}

static void connect_to(void *s)
{
    if (zmq_connect(s, zep) < 0)
        fail(1, "zmq_connect %s: %s", zep, zmq_strerror(errno));
}

/* Message size, or -1 once the time bound has passed. */
static int recv_msg(void *s, zmq_msg_t *m, int flags)
{
    for (;;) {
        int r = zmq_msg_recv(m, s, flags);
        if (r >= 0)
            return r;
        if (errno == EINTR) {
            if (timed_out)
                return -1;
            continue;
        }
        if (errno == EAGAIN)
            return -2;
        fail(1, "zmq_msg_recv: %s", zmq_strerror(errno));
    }
}

/* 0, or -1 once the time bound has passed. */
static int send_buf(void *s, const void *buf, size_t n, int flags)
{
    for (;;) {
        if (zmq_send(s, buf, n, flags) >= 0)
            return 0;
        if (errno == EINTR) {
            if (timed_out)
                return -1;
            continue;
        }
        fail(1, "zmq_send: %s", zmq_strerror(errno));
    }
}

/* Closes s, lets libzmq send what is queued on it (within the --seconds bound), and leaves as
 * done_cpu() does. */
static void close_and_leave(void *s)
{
    zmq_close(s);
    while (zmq_ctx_term(ctx) < 0 && errno == EINTR)
        if (timed_out)
            fail(1, "timed out after %g s", o.seconds);
    done_cpu();
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- messages --------------------------------------------------------------------------- */

static size_t put_u64(char *p, uint64_t v)
{
    char t[20];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = t[n - 1 - i];
    return n;
}

/* If h starts with prefix followed by a decimal number and a non-digit, stores it. */
static int field_u64(const char *h, size_t hl, const char *prefix, size_t plen, uint64_t *v)
{
    if (hl > HDR)
        hl = HDR;
    if (hl <= plen || memcmp(h, prefix, plen) != 0)
        return 0;
    size_t i = plen;
    uint64_t x = 0;
    while (i < hl && h[i] >= '0' && h[i] <= '9' && i - plen < 19)
        x = x * 10 + (uint64_t)(h[i++] - '0');
    if (i == plen || i >= hl || (h[i] >= '0' && h[i] <= '9'))
        return 0;
    *v = x;
    return 1;
}

static void show(const char *h, size_t hl, char *out, size_t cap)
{
    size_t n = hl < cap - 1 ? hl : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (h[i] >= 0x20 && h[i] < 0x7f) ? h[i] : '?';
    out[n] = 0;
}

#define LIT(s) s, sizeof s - 1
#define P_M "{\"type\":\"m\",\"data\":{\"i\":"
#define P_DONE "{\"type\":\"done\",\"data\":{\"n\":"
#define P_PING "{\"type\":\"ping\",\"data\":{\"i\":"
#define P_PONG "{\"type\":\"pong\",\"data\":{\"i\":"
#define P_E "{\"type\":\"e\",\"data\":{\"i\":"

/* prefix + N + tail into f; returns the length. */
static size_t frame(char *f, const char *prefix, size_t plen, uint64_t v, const char *tail,
                    size_t tlen)
{
    memcpy(f, prefix, plen);
    size_t n = plen + put_u64(f + plen, v);
    memcpy(f + n, tail, tlen);
    return n + tlen;
}

/* ---- throughput, sweep, doubles --------------------------------------------------------- */

static void client_stream(int sweep, int doubles)
{
    void *s = sock(ZMQ_PUSH);
    setopt_int(s, ZMQ_LINGER, (int)(o.seconds * 1000));
    connect_to(s);
    /* Sweep messages are built in place: the header is written right-aligned before a fixed
     * run of 'x', so each send is one zmq_send of a contiguous buffer. */
    size_t off = 64;
    char *buf = malloc(off + (sweep ? o.size : 0) + 16);
    if (sweep) {
        memset(buf + off, 'x', o.size);
        memcpy(buf + off + o.size, "\"}}", 3);
    }
    static size_t dlen[DOUBLES_EVENTS];
    char *dtext = NULL;
    if (doubles) {
        dtext = malloc((size_t)DOUBLES_EVENTS * DOUBLES_TAIL);
        if (!dtext)
            fail(1, "out of memory");
        doubles_tails(dtext, dlen, "}}");
    }
    char f[128 + DOUBLES_TAIL];
    for (uint64_t i = 0; i < o.count; i++) {
        if (doubles) {
            size_t k = i % DOUBLES_EVENTS;
            size_t n = frame(f, LIT(P_M), i, dtext + k * DOUBLES_TAIL, dlen[k]);
            if (send_buf(s, f, n, 0) < 0)
                fail(1, "timed out after %g s", o.seconds);
        } else if (!sweep) {
            size_t n = frame(f, LIT(P_M), i, LIT(",\"s\":\"hello\"}}"));
            if (send_buf(s, f, n, 0) < 0)
                fail(1, "timed out after %g s", o.seconds);
        } else {
            size_t h = frame(f, LIT(P_M), i, LIT(",\"s\":\""));
            memcpy(buf + off - h, f, h);
            if (send_buf(s, buf + off - h, h + o.size + 3, 0) < 0)
                fail(1, "timed out after %g s", o.seconds);
        }
    }
    size_t n = frame(f, LIT(P_DONE), o.count, LIT("}}"));
    if (send_buf(s, f, n, 0) < 0)
        fail(1, "timed out after %g s", o.seconds);
    close_and_leave(s);
}

static void server_stream(void)
{
    void *s = sock(ZMQ_PULL);
    bind_ready(s);
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t t0 = 0, t1 = 0, bytes = 0, expect = 0, v;
    for (;;) {
        int r = recv_msg(s, &m, 0);
        if (r < 0) { /* timed out */
            t1 = now_ns();
            printf("{\"ev\":\"result\",\"count\":%llu,\"seconds\":%.9f,\"bytes\":%llu,"
                   "\"cpu_ns\":%llu,\"timedOut\":true}\n",
                   (unsigned long long)expect, t0 ? (double)(t1 - t0) / 1e9 : 0.0,
                   (unsigned long long)bytes, (unsigned long long)cpu_ns());
            leave(0);
        }
        if (!t0)
            t0 = now_ns();
        bytes += (uint64_t)r;
        const char *h = zmq_msg_data(&m);
        if (field_u64(h, (size_t)r, LIT(P_M), &v)) {
            if (v != expect)
                fail(1, "out of order: got i=%llu, expected %llu", (unsigned long long)v,
                     (unsigned long long)expect);
            expect++;
            continue;
        }
        if (field_u64(h, (size_t)r, LIT(P_DONE), &v)) {
            t1 = now_ns();
            if (v != expect || expect != o.count)
                fail(1, "done says n=%llu; received %llu events of --count %llu",
                     (unsigned long long)v, (unsigned long long)expect,
                     (unsigned long long)o.count);
            break;
        }
        char shown[HDR + 1];
        show(h, (size_t)r, shown, sizeof shown);
        fail(1, "unexpected message after %llu events: %s", (unsigned long long)expect, shown);
    }
    printf("{\"ev\":\"result\",\"count\":%llu,\"seconds\":%.9f,\"bytes\":%llu,\"cpu_ns\":%llu}\n",
           (unsigned long long)expect, (double)(t1 - t0) / 1e9, (unsigned long long)bytes,
           (unsigned long long)cpu_ns());
    leave(0);
}

/* ---- latency ---------------------------------------------------------------------------- */

static void server_latency(void)
{
    void *s = sock(ZMQ_REP);
    bind_ready(s);
    zmq_msg_t m;
    zmq_msg_init(&m);
    char f[128];
    uint64_t v;
    for (;;) {
        int r = recv_msg(s, &m, 0);
        if (r < 0)
            fail(1, "timed out after %g s", o.seconds);
        const char *h = zmq_msg_data(&m);
        if (field_u64(h, (size_t)r, LIT(P_PING), &v)) {
            size_t n = frame(f, LIT(P_PONG), v, LIT("}}"));
            if (send_buf(s, f, n, 0) < 0)
                fail(1, "timed out after %g s", o.seconds);
            continue;
        }
        if (field_u64(h, (size_t)r, LIT(P_DONE), &v)) {
            send_buf(s, h, (size_t)r, 0);
            zmq_close(s);
            zmq_ctx_term(ctx);
            done_cpu();
        }
        char shown[HDR + 1];
        show(h, (size_t)r, shown, sizeof shown);
        fail(1, "unexpected message: %s", shown);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the samples at or below it. */
static uint64_t pct(const uint64_t *v, uint64_t n, double q)
{
    if (n == 0)
        return 0;
    double r = q * (double)n;
    uint64_t k = (uint64_t)r;
    if ((double)k < r)
        k++;
    if (k == 0)
        k = 1;
    return v[k - 1];
}

static void client_latency(void)
{
    void *s = sock(ZMQ_REQ);
    setopt_int(s, ZMQ_LINGER, 1000);
    connect_to(s);
    uint64_t *rtt = malloc((o.count ? o.count : 1) * sizeof *rtt);
    zmq_msg_t m;
    zmq_msg_init(&m);
    char f[128];
    uint64_t i, v;
    int timeout = 0;
    for (i = 0; i < o.count; i++) {
        size_t n = frame(f, LIT(P_PING), i, LIT("}}"));
        uint64_t t0 = now_ns();
        if (send_buf(s, f, n, 0) < 0) {
            timeout = 1;
            break;
        }
        int r = recv_msg(s, &m, 0);
        if (r < 0) {
            timeout = 1;
            break;
        }
        uint64_t t1 = now_ns();
        const char *h = zmq_msg_data(&m);
        if (!field_u64(h, (size_t)r, LIT(P_PONG), &v) || v != i) {
            char shown[HDR + 1];
            show(h, (size_t)r, shown, sizeof shown);
            fail(1, "expected pong %llu, got: %s", (unsigned long long)i, shown);
        }
        rtt[i] = t1 - t0;
    }
    if (!timeout) { /* let the server go */
        size_t n = frame(f, LIT(P_DONE), o.count, LIT("}}"));
        if (send_buf(s, f, n, 0) == 0)
            recv_msg(s, &m, 0);
    }
    qsort(rtt, i, sizeof *rtt, cmp_u64);
    printf("{\"ev\":\"result\",\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,"
           "\"cpu_ns\":%llu%s}\n",
           (unsigned long long)i, (unsigned long long)pct(rtt, i, 0.50),
           (unsigned long long)pct(rtt, i, 0.99), (unsigned long long)pct(rtt, i, 0.999),
           (unsigned long long)cpu_ns(), timeout ? ",\"timedOut\":true" : "");
    leave(0);
}

/* ---- echo ------------------------------------------------------------------------------- */

/* Every message parsed and written again, to the peer it came from. */
static void server_echo(void)
{
    void *s = sock(ZMQ_ROUTER);
    setopt_int(s, ZMQ_LINGER, (int)(o.seconds * 1000));
    bind_ready(s);
    zmq_msg_t id, m;
    zmq_msg_init(&id);
    zmq_msg_init(&m);
    size_t cap = 65536;
    char *out = malloc(cap);
    for (uint64_t n = 0; n < o.count; n++) {
        if (recv_msg(s, &id, 0) < 0 || recv_msg(s, &m, 0) < 0)
            fail(1, "timed out after %g s with %llu of %llu echoes", o.seconds,
                 (unsigned long long)n, (unsigned long long)o.count);
        json_error_t e;
        json_t *root = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &e);
        if (root == NULL)
            fail(1, "echo %llu: not JSON: %s", (unsigned long long)n, e.text);
        const char *type = json_string_value(json_object_get(root, "type"));
        if (type == NULL || strcmp(type, "e") != 0)
            fail(1, "echo %llu: not an event of type e", (unsigned long long)n);
        size_t len;
        while ((len = json_dumpb(root, out, cap, JSON_COMPACT)) > cap)
            if ((out = realloc(out, cap = len)) == NULL)
                fail(1, "out of memory");
        if (len == 0)
            fail(1, "echo %llu: json_dumpb failed", (unsigned long long)n);
        json_decref(root);
        if (zmq_msg_send(&id, s, ZMQ_SNDMORE) < 0 || send_buf(s, out, len, 0) < 0)
            fail(1, "echo %llu: zmq_send: %s", (unsigned long long)n, zmq_strerror(errno));
    }
    close_and_leave(s); /* with the last echoes */
}

static void client_echo(void)
{
    shape_t shape;
    const char *why = shape_load(&shape, o.shapes, o.shape);
    if (why)
        fail(2, "%s: shape %s: %s", o.shapes, o.shape, why);
    json_t *shape_i[SHAPE_MAX_VALUES];
    size_t longest = 0;
    for (size_t k = 0; k < shape.n; k++) {
        shape_i[k] = json_object_get(shape.value[k], "i");
        if (shape.tail_len[k] > longest)
            longest = shape.tail_len[k];
    }
    void *s = sock(ZMQ_DEALER);
    setopt_int(s, ZMQ_LINGER, 0);
    connect_to(s);
    char *f = malloc(sizeof P_E + 20 + longest + 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t sent = 0, echoed = 0, t0 = 0;
    int timeout = 0;
    while (echoed < o.count && !timeout) {
        for (; sent < o.count && sent - echoed < ECHO_WINDOW; sent++) {
            size_t k = sent % shape.n;
            size_t n = frame(f, LIT(P_E), sent, shape.tail[k], shape.tail_len[k]);
            f[n++] = '}';
            if (sent == 0)
                t0 = now_ns();
            if (send_buf(s, f, n, 0) < 0) {
                timeout = 1;
                break;
            }
        }
        int r = timeout ? -1 : recv_msg(s, &m, 0);
        if (r < 0) {
            timeout = 1;
            break;
        }
        json_error_t e;
        json_t *root = json_loadb(zmq_msg_data(&m), (size_t)r, 0, &e);
        json_t *data = json_object_get(root, "data");
        json_t *i = json_object_get(data, "i");
        const char *type = json_string_value(json_object_get(root, "type"));
        if (type == NULL || strcmp(type, "e") != 0 || !json_is_integer(i) ||
            (uint64_t)json_integer_value(i) != echoed) {
            char shown[HDR + 1];
            show(zmq_msg_data(&m), (size_t)r, shown, sizeof shown);
            fail(1, "echo: expected an event e with i=%llu, got: %s", (unsigned long long)echoed,
                 root ? shown : e.text);
        }
        if (echoed % ECHO_CHECK_EVERY == 0) {
            size_t k = echoed % shape.n;
            json_integer_set(shape_i[k], (json_int_t)echoed); /* the value as it was sent */
            if (!json_equal(data, shape.value[k]))
                fail(1, "echo %llu: the value changed on the way", (unsigned long long)echoed);
        }
        json_decref(root);
        echoed++;
    }
    uint64_t t1 = now_ns();
    printf("{\"ev\":\"result\",\"count\":%llu,\"seconds\":%.9f,\"bytes\":%llu,\"cpu_ns\":%llu%s}\n",
           (unsigned long long)echoed, t0 ? (double)(t1 - t0) / 1e9 : 0.0,
           (unsigned long long)shape_bytes(&shape, echoed), (unsigned long long)cpu_ns(),
           timeout ? ",\"timedOut\":true" : "");
    leave(0);
}

/* ---- broadcast -------------------------------------------------------------------------- */

static void server_broadcast(void)
{
    void *s = sock(ZMQ_XPUB);
    setopt_int(s, ZMQ_SNDHWM, 0);
    setopt_int(s, ZMQ_XPUB_VERBOSER, 1); /* every (un)subscription reaches us */
    setopt_int(s, ZMQ_LINGER, (int)(o.seconds * 1000));
    bind_ready(s);
    zmq_msg_t m;
    zmq_msg_init(&m);
    long subs = 0;
    while (subs < o.clients) {
        int r = recv_msg(s, &m, 0);
        if (r < 0)
            fail(1, "timed out after %g s with %ld of %ld subscribers", o.seconds, subs, o.clients);
        if (r >= 1 && ((const char *)zmq_msg_data(&m))[0] == 1)
            subs++;
    }
    char f[128];
    for (uint64_t i = 0; i < o.count; i++) {
        size_t n = frame(f, LIT(P_M), i, LIT("}}"));
        if (send_buf(s, f, n, 0) < 0)
            fail(1, "timed out after %g s", o.seconds);
    }
    /* Stay until every subscriber has gone (its unsubscription arrives when it closes). */
    while (subs > 0) {
        int r = recv_msg(s, &m, 0);
        if (r < 0)
            fail(1, "timed out after %g s", o.seconds);
        if (r >= 1 && ((const char *)zmq_msg_data(&m))[0] == 0)
            subs--;
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    done_cpu();
}

static void client_broadcast(void)
{
    long nc = o.clients;
    void **subs = calloc((size_t)nc, sizeof *subs);
    zmq_pollitem_t *items = calloc((size_t)nc, sizeof *items);
    long *owner = calloc((size_t)nc, sizeof *owner); /* items[j] is subscriber owner[j] */
    uint64_t *expect = calloc((size_t)nc, sizeof *expect);
    for (long k = 0; k < nc; k++) {
        subs[k] = sock(ZMQ_SUB);
        setopt_int(subs[k], ZMQ_RCVHWM, 0);
        setopt_int(subs[k], ZMQ_LINGER, 0);
        zmq_setsockopt(subs[k], ZMQ_SUBSCRIBE, "", 0);
        connect_to(subs[k]);
        items[k].socket = subs[k];
        items[k].events = ZMQ_POLLIN;
        owner[k] = k;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    uint64_t t0 = 0, t1 = 0, deliveries = 0, v;
    long live = o.count ? nc : 0;
    int timeout = 0;
    while (live > 0 && !timeout) {
        int rc = zmq_poll(items, (int)live, -1);
        if (rc < 0) {
            if (errno != EINTR)
                fail(1, "zmq_poll: %s", zmq_strerror(errno));
            timeout = timed_out;
            continue;
        }
        for (long j = live; j-- > 0;) {
            if (!(items[j].revents & ZMQ_POLLIN))
                continue;
            long k = owner[j];
            /* Drain what is there, a bounded number so the others get their turn. */
            for (int b = 0; b < 256; b++) {
                int r = recv_msg(subs[k], &m, ZMQ_DONTWAIT);
                if (r == -2)
                    break;
                if (r < 0) {
                    timeout = 1;
                    break;
                }
                if (!t0)
                    t0 = now_ns();
                const char *h = zmq_msg_data(&m);
                if (!field_u64(h, (size_t)r, LIT(P_M), &v) || v != expect[k]) {
                    char shown[HDR + 1];
                    show(h, (size_t)r, shown, sizeof shown);
                    fail(1, "subscriber %ld: expected event %llu, got: %s", k,
                         (unsigned long long)expect[k], shown);
                }
                deliveries++;
                if (++expect[k] == o.count) {
                    t1 = now_ns();
                    zmq_close(subs[k]); /* the server sees our unsubscription */
                    items[j] = items[live - 1];
                    owner[j] = owner[live - 1];
                    live--;
                    break;
                }
            }
            if (timeout)
                break;
        }
    }
    if (timeout)
        t1 = now_ns();
    printf("{\"ev\":\"result\",\"deliveries\":%llu,\"seconds\":%.9f,\"cpu_ns\":%llu%s}\n",
           (unsigned long long)deliveries, t0 ? (double)(t1 - t0) / 1e9 : 0.0,
           (unsigned long long)cpu_ns(), timeout ? ",\"timedOut\":true" : "");
    fflush(stdout);
    for (long j = 0; j < live; j++)
        zmq_close(items[j].socket);
    zmq_ctx_term(ctx); /* linger 0: closes the connections now */
    _exit(0);
}

/* ---- idle ------------------------------------------------------------------------------- */

static void server_idle(void)
{
    void *s = sock(ZMQ_ROUTER);
    setopt_int(s, ZMQ_LINGER, 0);
    bind_ready(s);
    zmq_msg_t id, m;
    zmq_msg_init(&id);
    zmq_msg_init(&m);
    long hellos = 0, open = 0;
    while (!(hellos > 0 && open == 0)) {
        int r = recv_msg(s, &id, 0);
        if (r < 0)
            break; /* --seconds: the normal end of an idle run */
        r = recv_msg(s, &m, 0);
        if (r < 0)
            break;
        if (r == 5 && !memcmp(zmq_msg_data(&m), "hello", 5)) {
            hellos++;
            open++;
            if (zmq_msg_send(&id, s, ZMQ_SNDMORE) < 0 || zmq_send(s, "ok", 2, 0) < 0)
                fail(1, "zmq_send: %s", zmq_strerror(errno));
        } else if (r == 3 && !memcmp(zmq_msg_data(&m), "bye", 3)) {
            open--;
        }
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    done_cpu();
}

static void client_idle(void)
{
    void **ds = calloc((size_t)o.clients + 1, sizeof *ds);
    for (long k = 0; k < o.clients; k++) {
        ds[k] = sock(ZMQ_DEALER);
        setopt_int(ds[k], ZMQ_LINGER, 1000);
        connect_to(ds[k]);
        if (send_buf(ds[k], "hello", 5, 0) < 0)
            fail(1, "timed out after %g s", o.seconds);
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (long k = 0; k < o.clients; k++)
        if (recv_msg(ds[k], &m, 0) < 0)
            fail(1, "timed out after %g s with %ld of %ld connections", o.seconds, k, o.clients);
    printf("{\"ev\":\"connected\",\"n\":%ld}\n", o.clients);
    fflush(stdout);
    while (!timed_out)
        pause();
    for (long k = 0; k < o.clients; k++) {
        zmq_send(ds[k], "bye", 3, ZMQ_DONTWAIT);
        zmq_close(ds[k]);
    }
    zmq_ctx_term(ctx);
    done_cpu();
}

/* ---- main ------------------------------------------------------------------------------- */

static uint64_t num_arg(const char *name, const char *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-')
        fail(2, "%s wants a non-negative integer, got '%s'", name, v);
    return x;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    const char *transport = NULL;
    int count_given = 0;
    o.seconds = 60;
    o.size = 1024;
    o.clients = -1;
    if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client")))
        fail(2, "usage: bench_zmq server|client --transport unix|tcp --endpoint E --test T "
                "[--count N] [--size N] [--clients N] [--seconds S] [--shapes FILE --shape NAME]");
    o.server = !strcmp(argv[1], "server");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            fail(2, "%s wants a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--transport"))
            transport = v;
        else if (!strcmp(a, "--endpoint"))
            o.endpoint = v;
        else if (!strcmp(a, "--test"))
            o.test = v;
        else if (!strcmp(a, "--shapes"))
            o.shapes = v;
        else if (!strcmp(a, "--shape"))
            o.shape = v;
        else if (!strcmp(a, "--count")) {
            o.count = num_arg(a, v);
            count_given = 1;
        } else if (!strcmp(a, "--size"))
            o.size = num_arg(a, v);
        else if (!strcmp(a, "--clients"))
            o.clients = (long)num_arg(a, v);
        else if (!strcmp(a, "--seconds")) {
            char *end;
            o.seconds = strtod(v, &end);
            if (end == v || *end || !(o.seconds > 0))
                fail(2, "--seconds wants a positive number, got '%s'", v);
        } else
            fail(2, "unknown option %s", a);
    }
    if (!transport || (strcmp(transport, "unix") && strcmp(transport, "tcp")))
        fail(2, "--transport must be unix or tcp");
    o.tcp = !strcmp(transport, "tcp");
    if (!o.endpoint)
        fail(2, "--endpoint is required");
    if (!o.test)
        fail(2, "--test is required");
    if (!count_given)
        o.count = !strcmp(o.test, "throughput") ? 1000000
                  : !strcmp(o.test, "sweep")    ? 10000
                  : !strcmp(o.test, "latency")  ? 100000
                                                : 10000;
    if (o.clients < 0)
        o.clients = !strcmp(o.test, "idle") ? 100 : 10;
    if (o.size > (uint64_t)INT32_MAX)
        fail(2, "--size too large");

    make_endpoint(o.server); /* before any socket: it decides ZMQ_IPV6 */
    ctx = zmq_ctx_new();
    if (!ctx)
        fail(1, "zmq_ctx_new: %s", zmq_strerror(errno));
    int maxs = o.clients + 64 > ZMQ_MAX_SOCKETS_DFLT ? (int)o.clients + 64 : ZMQ_MAX_SOCKETS_DFLT;
    zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, maxs);
    arm_timer(o.seconds);

    if (!strcmp(o.test, "throughput") || !strcmp(o.test, "sweep") || !strcmp(o.test, "doubles")) {
        if (o.server)
            server_stream();
        else
            client_stream(!strcmp(o.test, "sweep"), !strcmp(o.test, "doubles"));
    } else if (!strcmp(o.test, "latency")) {
        if (o.server)
            server_latency();
        else
            client_latency();
    } else if (!strcmp(o.test, "broadcast")) {
        if (o.clients < 1)
            fail(2, "--clients must be at least 1 for broadcast");
        if (o.server)
            server_broadcast();
        else
            client_broadcast();
    } else if (!strcmp(o.test, "idle")) {
        if (o.server)
            server_idle();
        else
            client_idle();
    } else if (!strcmp(o.test, "echo")) {
        if (!o.shapes || !o.shape)
            fail(2, "echo: --shapes FILE and --shape NAME are required");
        if (o.server)
            server_echo();
        else
            client_echo();
    } else {
        fail(2, "unknown --test %s", o.test);
    }
    return 0;
}
