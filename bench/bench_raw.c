/* SPDX-License-Identifier: MIT */
/*
 * bench_raw: the floor of nipc's benchmark suite. Plain POSIX sockets and poll(), no libuv,
 * no JSON library: what any IPC layer over the same socket costs at least. It sends the very
 * bytes nipc would send (node-ipc's framing: JSON, then '\f') but never decodes JSON; the
 * receiver still proves in-order delivery by scanning each frame's "i" with a few lines of C.
 *
 *   bench_raw server|client --transport unix|tcp --endpoint PATH|HOST:PORT --test TEST
 *             [--count N] [--size N] [--clients N] [--seconds S] [--wait read|epoll]
 *
 * Tests (see bench/README.md for the contract):
 *   throughput, sweep  the client writes --count frames {"type":"m","data":{"i":N,"s":...}}
 *                      (s = "hello", or --size bytes of 'x' for sweep) batched into 64 KiB
 *                      writes (a sweep frame of 64 KiB or more goes out whole in one writev
 *                      instead: batching gains it nothing, and the floor should not copy
 *                      what a ZMQ sender does not), then {"type":"done","data":{"n":COUNT}}.
 *                      The server reads with a 1 MiB buffer, finds frames with memchr('\f'),
 *                      checks i = 0, 1, 2, ... and n, and prints the result, timed from its
 *                      first read to `done`.
 *   doubles            the same with {"i":N,"d":[...]}, a row of bench/doubles.h's pool of
 *                      eight doubles taken in turn, its text written once before the run (the
 *                      floor formats nothing while measured, as it writes 'x' for the sweep).
 *   raw                no framing, as nipc's raw mode: the client writes --count writes of
 *                      --size bytes of bench/pattern.h's stream, batched into 64 KiB writes
 *                      as above (a write of 64 KiB or more goes out whole, straight from the
 *                      pattern); the server reads with the 1 MiB buffer, checks the bytes as
 *                      pattern.h says and prints the result once it has them all, timed from
 *                      its first read to its last.
 *   latency            --count round trips, one frame each way, blocking read/write; the
 *                      client records every RTT (CLOCK_MONOTONIC) and prints p50/p99/p99.9.
 *                      With --wait epoll both sides sleep in epoll_wait before each read.
 *   broadcast          the server accepts --clients connections, then writes every frame
 *                      {"type":"m","data":{"i":N}} to each of them (in 64 KiB batches, the
 *                      same batch to every connection); the client opens them all, reads
 *                      them with poll() and checks each connection's sequence.
 *   idle               the client opens --clients connections (each acknowledged by one byte
 *                      from the server, so they are accepted) and holds them; the server only
 *                      keeps them. Both leave at --seconds (or when the driver kills them).
 *
 * Every run is bounded by --seconds (default 60): the measuring side then prints its partial
 * result with "timedOut":true; the other side prints an error. The side that does not
 * measure prints {"ev":"cpu","cpu_ns":N} when it is done. Exit: 0 done, 1 a check failed or
 * a socket error, 2 bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "doubles.h"
#include "pattern.h"

#define BATCH ((size_t)64 * 1024)  /* client write batch */
#define RBUF ((size_t)1024 * 1024) /* receive buffer */
#define HDR 64                     /* bytes of a frame's start kept to read its fields */

/* ---- options, output ------------------------------------------------------------------- */

struct opts {
    int server;
    int tcp;
    const char *endpoint;
    const char *test;
    uint64_t count;
    uint64_t size;
    long clients;
    double seconds;
    int epoll; /* latency: wait in epoll_wait before each read, as an event loop does */
};

static struct opts o;
static const char *unix_path; /* server: unlinked at exit */

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

static void cleanup(void)
{
    if (unix_path)
        unlink(unix_path);
}

__attribute__((format(printf, 2, 3))) _Noreturn static void fail(int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("{\"ev\":\"error\",\"message\":", stdout);
    json_str(msg);
    fputs("}\n", stdout);
    fflush(stdout);
    cleanup();
    exit(code);
}

/* The side that does not measure reports its CPU time as it leaves. */
static void done_cpu(void)
{
    printf("{\"ev\":\"cpu\",\"cpu_ns\":%llu}\n", (unsigned long long)cpu_ns());
    fflush(stdout);
    cleanup();
    exit(0);
}

/* calloc that ends the run on failure. Blocks live until exit, and stay reachable from here
 * so that a leak checker has nothing to say about a run that exits from deep inside. */
static void *held[16];
static size_t nheld;

static void *xalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        fail(1, "out of memory (%zu bytes)", n);
    if (nheld < sizeof held / sizeof *held)
        held[nheld++] = p;
    return p;
}

/* ---- the --seconds bound ---------------------------------------------------------------- */

/* SIGALRM without SA_RESTART: a blocked read, write, accept or poll returns EINTR. After the
 * first expiry the timer repeats every 100 ms, so a signal landing between a check of
 * timed_out and the next blocking call only delays the exit. */
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

static void split_hostport(const char *ep, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(ep, ':');
    if (!colon || colon == ep || !colon[1])
        fail(2, "--endpoint wants HOST:PORT, got '%s'", ep);
    const char *h = ep;
    size_t hl = (size_t)(colon - ep);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hcap || strlen(colon + 1) >= pcap)
        fail(2, "--endpoint too long");
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, colon + 1);
}

static struct addrinfo *resolve(int passive)
{
    char host[256], port[32];
    split_hostport(o.endpoint, host, sizeof host, port, sizeof port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        fail(1, "getaddrinfo %s: %s", o.endpoint, gai_strerror(rc));
    return ai;
}

static void unix_addr(struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(o.endpoint) >= sizeof sa->sun_path)
        fail(2, "socket path too long: %s", o.endpoint);
    strcpy(sa->sun_path, o.endpoint);
}

/*
 * Socket options as nipc sets them on a connection: TCP_NODELAY over TCP, and over Unix
 * sockets the send buffer nipc asks for by default (nipc_config_t.unix_send_buffer), so the
 * floor and nipc move bytes through the same kernel buffers.
 */
#define UNIX_SEND_BUFFER (256 * 1024)

static void tune(int fd)
{
    int one = 1, sndbuf = UNIX_SEND_BUFFER;
    if (o.tcp)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    else
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

/* Binds, listens and prints the ready line. */
static int listen_ready(void)
{
    int fd;
    if (!o.tcp) {
        struct sockaddr_un sa;
        unix_addr(&sa);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unlink(o.endpoint);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
            fail(1, "bind %s: %s", o.endpoint, strerror(errno));
        unix_path = o.endpoint;
        if (listen(fd, 4096) < 0)
            fail(1, "listen: %s", strerror(errno));
        fputs("{\"ev\":\"ready\",\"endpoint\":", stdout);
        json_str(o.endpoint);
        fputs("}\n", stdout);
    } else {
        struct addrinfo *ai = resolve(1);
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
            fail(1, "bind %s: %s", o.endpoint, strerror(errno));
        if (listen(fd, 4096) < 0)
            fail(1, "listen: %s", strerror(errno));
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                            : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        char host[256], pstr[32], ep[300];
        split_hostport(o.endpoint, host, sizeof host, pstr, sizeof pstr);
        if (strchr(host, ':'))
            snprintf(ep, sizeof ep, "[%s]:%d", host, port);
        else
            snprintf(ep, sizeof ep, "%s:%d", host, port);
        fputs("{\"ev\":\"ready\",\"endpoint\":", stdout);
        json_str(ep);
        fputs("}\n", stdout);
        freeaddrinfo(ai);
    }
    fflush(stdout);
    return fd;
}

/* Blocking accept; -1 once the time bound has passed. */
static int accept_one(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            tune(fd);
            return fd;
        }
        if (errno == EINTR) {
            if (timed_out)
                return -1;
            continue;
        }
        if (errno == ECONNABORTED)
            continue;
        fail(1, "accept: %s", strerror(errno));
    }
}

static int connect_one(void)
{
    int fd;
    for (;;) {
        int rc;
        if (!o.tcp) {
            struct sockaddr_un sa;
            unix_addr(&sa);
            fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
        } else {
            struct addrinfo *ai = resolve(0);
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
            freeaddrinfo(ai);
        }
        if (rc == 0)
            break;
        if (errno == EINTR && !timed_out) {
            close(fd);
            continue;
        }
        fail(1, "connect %s: %s", o.endpoint, timed_out ? "timed out" : strerror(errno));
    }
    tune(fd);
    return fd;
}

/* 0, or -1 once the time bound has passed; socket errors end the run. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                if (timed_out)
                    return -1;
                continue;
            }
            fail(1, "write: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Bytes read, 0 at EOF, -1 once the time bound has passed. */
static ssize_t read_some(int fd, char *buf, size_t cap)
{
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r >= 0)
            return r;
        if (errno == EINTR) {
            if (timed_out)
                return -1;
            continue;
        }
        fail(1, "read: %s", strerror(errno));
    }
}

/*
 * With --wait epoll, the latency test sleeps in epoll_wait until its socket is readable and
 * then reads, as every event loop (libuv's, Node's) does: the floor of an event-driven peer,
 * next to the blocking read of the plain floor. -1 once the time bound has passed.
 */
static ssize_t wait_and_read(int fd, char *buf, size_t cap)
{
    static int ep = -1;
    if (o.epoll) {
        if (ep < 0) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
            if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
                fail(1, "epoll: %s", strerror(errno));
        }
        struct epoll_event got;
        for (;;) {
            int n = epoll_wait(ep, &got, 1, -1);
            if (n == 1)
                break;
            if (n < 0 && errno == EINTR && timed_out)
                return -1;
            if (n < 0 && errno != EINTR)
                fail(1, "epoll_wait: %s", strerror(errno));
        }
    }
    return read_some(fd, buf, cap);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ---- frames ----------------------------------------------------------------------------- */

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

/* A frame is handed to the callback with its first min(HDR, length) bytes and its full
 * length (delimiter included). The delimiter search is memchr over whole reads; only frames
 * that straddle two reads have their first bytes copied aside. */
typedef int (*frame_fn)(void *ctx, const char *hdr, size_t hlen, uint64_t flen);

struct parser {
    char hdr[HDR];
    size_t hlen;   /* bytes kept of the current partial frame */
    uint64_t flen; /* bytes seen of the current partial frame */
};

static int feed(struct parser *p, const char *q, size_t n, frame_fn fn, void *ctx)
{
    const char *end = q + n;
    while (q < end) {
        const char *d = memchr(q, '\f', (size_t)(end - q));
        size_t take = (size_t)((d ? d : end) - q);
        if (d && p->flen == 0) { /* the whole frame is in this read */
            if (fn(ctx, q, take < HDR ? take : HDR, take + 1) < 0)
                return -1;
            q = d + 1;
            continue;
        }
        if (p->hlen < HDR) {
            size_t c = HDR - p->hlen < take ? HDR - p->hlen : take;
            memcpy(p->hdr + p->hlen, q, c);
            p->hlen += c;
        }
        p->flen += take;
        if (!d)
            break;
        if (fn(ctx, p->hdr, p->hlen, p->flen + 1) < 0)
            return -1;
        p->hlen = 0;
        p->flen = 0;
        q = d + 1;
    }
    return 0;
}

/* If hdr starts with prefix followed by a decimal number and a non-digit, stores it. */
static int field_u64(const char *h, size_t hl, const char *prefix, size_t plen, uint64_t *v)
{
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

#define LIT(s) s, sizeof s - 1
#define P_M "{\"type\":\"m\",\"data\":{\"i\":"
#define P_DONE "{\"type\":\"done\",\"data\":{\"n\":"
#define P_PING "{\"type\":\"ping\",\"data\":{\"i\":"
#define P_PONG "{\"type\":\"pong\",\"data\":{\"i\":"

static void show(const char *h, size_t hl, char *out, size_t cap)
{
    size_t n = hl < cap - 1 ? hl : cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (h[i] >= 0x20 && h[i] < 0x7f) ? h[i] : '?';
    out[n] = 0;
}

/* ---- throughput, sweep, doubles --------------------------------------------------------- */

struct wbuf {
    int fd;
    char *buf;
    size_t len;
};

static int wb_flush(struct wbuf *w)
{
    int rc = write_all(w->fd, w->buf, w->len);
    w->len = 0;
    return rc;
}

static int wb_put(struct wbuf *w, const char *p, size_t n)
{
    while (n) {
        size_t c = BATCH - w->len < n ? BATCH - w->len : n;
        memcpy(w->buf + w->len, p, c);
        w->len += c;
        p += c;
        n -= c;
        if (w->len == BATCH && wb_flush(w) < 0)
            return -1;
    }
    return 0;
}

static int wb_fill(struct wbuf *w, char ch, uint64_t n)
{
    while (n) {
        size_t c = BATCH - w->len < n ? BATCH - w->len : (size_t)n;
        memset(w->buf + w->len, ch, c);
        w->len += c;
        n -= c;
        if (w->len == BATCH && wb_flush(w) < 0)
            return -1;
    }
    return 0;
}

/* head + payload + "\"}}\f" in one writev (resumed after a partial write). */
static int writev_frame(int fd, const char *head, size_t hlen, const char *payload, size_t plen)
{
    struct iovec iov[3] = {{(void *)head, hlen}, {(void *)payload, plen}, {"\"}}\f", 4}};
    struct iovec *v = iov;
    int cnt = 3;
    while (cnt > 0) {
        ssize_t w = writev(fd, v, cnt);
        if (w < 0) {
            if (errno == EINTR) {
                if (timed_out)
                    return -1;
                continue;
            }
            fail(1, "writev: %s", strerror(errno));
        }
        while (cnt > 0 && (size_t)w >= v->iov_len) {
            w -= (ssize_t)v->iov_len;
            v++;
            cnt--;
        }
        if (cnt > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static void client_stream(int sweep, int doubles)
{
    int fd = connect_one();
    struct wbuf w = {fd, xalloc(BATCH), 0};
    /* Frames of at least a batch gain nothing from batching: they go out whole, one writev
     * each, from one prebuilt payload (as a ZMQ sender writes a large message in place). */
    int big = sweep && o.size + 64 >= BATCH;
    char *xs = NULL;
    if (big) {
        xs = xalloc(o.size);
        memset(xs, 'x', o.size);
    }
    static size_t dlen[DOUBLES_EVENTS];
    char *dtext = NULL;
    if (doubles) {
        dtext = xalloc((size_t)DOUBLES_EVENTS * DOUBLES_TAIL);
        doubles_tails(dtext, dlen, "}}\f");
    }
    char f[128];
    for (uint64_t i = 0; i < o.count; i++) {
        size_t n = sizeof P_M - 1;
        memcpy(f, P_M, n);
        n += put_u64(f + n, i);
        if (doubles) {
            size_t k = i % DOUBLES_EVENTS;
            if (wb_put(&w, f, n) < 0 || wb_put(&w, dtext + k * DOUBLES_TAIL, dlen[k]) < 0)
                goto timeout;
        } else if (!sweep) {
            memcpy(f + n, LIT(",\"s\":\"hello\"}}\f"));
            n += sizeof ",\"s\":\"hello\"}}\f" - 1;
            if (w.len + n <= BATCH) { /* the common case: room in the batch */
                memcpy(w.buf + w.len, f, n);
                w.len += n;
                continue;
            }
            if (wb_put(&w, f, n) < 0)
                goto timeout;
        } else {
            memcpy(f + n, LIT(",\"s\":\""));
            n += sizeof ",\"s\":\"" - 1;
            if (big) { /* one writev per frame, straight from the payload */
                if (wb_flush(&w) < 0 || writev_frame(fd, f, n, xs, o.size) < 0)
                    goto timeout;
                continue;
            }
            if (wb_put(&w, f, n) < 0 || wb_fill(&w, 'x', o.size) < 0 ||
                wb_put(&w, LIT("\"}}\f")) < 0)
                goto timeout;
        }
    }
    size_t n = sizeof P_DONE - 1;
    memcpy(f, P_DONE, n);
    n += put_u64(f + n, o.count);
    memcpy(f + n, LIT("}}\f"));
    n += 3;
    if (wb_put(&w, f, n) < 0 || wb_flush(&w) < 0)
        goto timeout;
    close(fd);
    done_cpu();
timeout:
    fail(1, "timed out after %g s", o.seconds);
}

struct stream_rx {
    uint64_t expect;
    int done;
    uint64_t done_n;
    char err[300];
};

static int stream_frame(void *ctx, const char *h, size_t hl, uint64_t flen)
{
    struct stream_rx *s = ctx;
    uint64_t v;
    (void)flen;
    if (field_u64(h, hl, LIT(P_M), &v)) {
        if (v != s->expect) {
            snprintf(s->err, sizeof s->err, "out of order: got i=%llu, expected %llu",
                     (unsigned long long)v, (unsigned long long)s->expect);
            return -1;
        }
        s->expect++;
        return 0;
    }
    if (field_u64(h, hl, LIT(P_DONE), &v)) {
        s->done = 1;
        s->done_n = v;
        return -1; /* stop: nothing may follow */
    }
    char shown[HDR + 1];
    show(h, hl, shown, sizeof shown);
    snprintf(s->err, sizeof s->err, "unexpected frame after %llu events: %s",
             (unsigned long long)s->expect, shown);
    return -1;
}

/* The receiver's result, timed from t0 to t1 (a partial one past --seconds); then exits. */
static void stream_result(uint64_t count, uint64_t t0, uint64_t t1, uint64_t bytes,
                          const char *more, int timeout)
{
    printf(
        "{\"ev\":\"result\",\"count\":%llu,\"seconds\":%.9f,\"bytes\":%llu%s,\"cpu_ns\":%llu%s}\n",
        (unsigned long long)count, t0 ? (double)(t1 - t0) / 1e9 : 0.0, (unsigned long long)bytes,
        more, (unsigned long long)cpu_ns(), timeout ? ",\"timedOut\":true" : "");
    fflush(stdout);
    cleanup();
    exit(0);
}

static void server_stream(void)
{
    int lfd = listen_ready();
    int fd = accept_one(lfd);
    char *buf = xalloc(RBUF);
    struct parser p = {0};
    struct stream_rx s = {0};
    uint64_t t0 = 0, t1 = 0, bytes = 0;
    int timeout = fd < 0;
    while (!timeout) {
        ssize_t r = read_some(fd, buf, RBUF);
        if (r < 0) {
            timeout = 1;
            break;
        }
        if (r == 0)
            fail(1, "connection closed after %llu events, before done",
                 (unsigned long long)s.expect);
        if (!t0)
            t0 = now_ns();
        bytes += (uint64_t)r;
        if (feed(&p, buf, (size_t)r, stream_frame, &s) < 0) {
            if (!s.done)
                fail(1, "%s", s.err);
            t1 = now_ns();
            break;
        }
    }
    if (timeout)
        stream_result(s.expect, t0, now_ns(), bytes, "", 1);
    if (s.done_n != s.expect || s.expect != o.count)
        fail(1, "done says n=%llu; received %llu events of --count %llu",
             (unsigned long long)s.done_n, (unsigned long long)s.expect,
             (unsigned long long)o.count);
    stream_result(s.expect, t0, t1, bytes, "", 0);
}

/* ---- raw -------------------------------------------------------------------------------- */

static void client_raw(void)
{
    int fd = connect_one();
    char *pat = xalloc(o.size + PATTERN_PERIOD);
    pattern_fill(pat, o.size + PATTERN_PERIOD);
    struct wbuf w = {fd, xalloc(BATCH), 0};
    int big = o.size >= BATCH; /* as the sweep's: whole, with nothing to batch */
    unsigned phase = 0, step = (unsigned)(o.size % PATTERN_PERIOD);
    for (uint64_t i = 0; i < o.count; i++) {
        const char *p = pat + phase;
        if (big ? write_all(fd, p, o.size) < 0 : wb_put(&w, p, o.size) < 0)
            fail(1, "timed out after %g s", o.seconds);
        phase = pattern_advance(phase, step);
    }
    if (wb_flush(&w) < 0)
        fail(1, "timed out after %g s", o.seconds);
    close(fd);
    done_cpu();
}

static void server_raw(void)
{
    int lfd = listen_ready();
    int fd = accept_one(lfd);
    char *buf = xalloc(RBUF);
    pattern_rx_t rx;
    pattern_rx_init(&rx, o.size, o.count);
    uint64_t t0 = 0, reads = 0;
    int timeout = fd < 0;
    while (!timeout && rx.off < rx.total) {
        ssize_t r = read_some(fd, buf, RBUF);
        if (r < 0) {
            timeout = 1;
            break;
        }
        if (r == 0)
            fail(1, "connection closed after %llu of %llu bytes", (unsigned long long)rx.off,
                 (unsigned long long)rx.total);
        if (!t0)
            t0 = now_ns();
        reads++;
        if (pattern_check(&rx, buf, (size_t)r) < 0)
            fail(1, "a byte out of place in the %llu bytes after %llu, or more than --count writes",
                 (unsigned long long)r, (unsigned long long)rx.off);
    }
    char more[40];
    snprintf(more, sizeof more, ",\"reads\":%llu", (unsigned long long)reads);
    stream_result(rx.off / o.size, t0, now_ns(), rx.off, more, timeout);
}

/* ---- latency ---------------------------------------------------------------------------- */

struct ping_rx {
    int fd;
    char err[300];
};

static int ping_frame(void *ctx, const char *h, size_t hl, uint64_t flen)
{
    struct ping_rx *s = ctx;
    uint64_t v;
    (void)flen;
    if (!field_u64(h, hl, LIT(P_PING), &v)) {
        char shown[HDR + 1];
        show(h, hl, shown, sizeof shown);
        snprintf(s->err, sizeof s->err, "unexpected frame: %s", shown);
        return -1;
    }
    char f[64];
    size_t n = sizeof P_PONG - 1;
    memcpy(f, P_PONG, n);
    n += put_u64(f + n, v);
    memcpy(f + n, LIT("}}\f"));
    n += 3;
    if (write_all(s->fd, f, n) < 0) {
        snprintf(s->err, sizeof s->err, "timed out after %g s", o.seconds);
        return -1;
    }
    return 0;
}

static void server_latency(void)
{
    int lfd = listen_ready();
    int fd = accept_one(lfd);
    if (fd < 0)
        fail(1, "timed out after %g s waiting for the client", o.seconds);
    char buf[4096];
    struct parser p = {0};
    struct ping_rx s = {fd, ""};
    for (;;) {
        ssize_t r = wait_and_read(fd, buf, sizeof buf);
        if (r < 0)
            fail(1, "timed out after %g s", o.seconds);
        if (r == 0)
            break;
        if (feed(&p, buf, (size_t)r, ping_frame, &s) < 0)
            fail(1, "%s", s.err);
    }
    done_cpu();
}

struct pong_rx {
    uint64_t expect;
    int got;
    char err[300];
};

static int pong_frame(void *ctx, const char *h, size_t hl, uint64_t flen)
{
    struct pong_rx *s = ctx;
    uint64_t v;
    (void)flen;
    if (s->got || !field_u64(h, hl, LIT(P_PONG), &v) || v != s->expect) {
        char shown[HDR + 1];
        show(h, hl, shown, sizeof shown);
        snprintf(s->err, sizeof s->err, "expected pong %llu, got: %s",
                 (unsigned long long)s->expect, shown);
        return -1;
    }
    s->got = 1;
    return 0;
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

static void print_latency(uint64_t *rtt, uint64_t n, int timeout)
{
    qsort(rtt, n, sizeof *rtt, cmp_u64);
    printf("{\"ev\":\"result\",\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,"
           "\"cpu_ns\":%llu%s}\n",
           (unsigned long long)n, (unsigned long long)pct(rtt, n, 0.50),
           (unsigned long long)pct(rtt, n, 0.99), (unsigned long long)pct(rtt, n, 0.999),
           (unsigned long long)cpu_ns(), timeout ? ",\"timedOut\":true" : "");
    fflush(stdout);
}

static void client_latency(void)
{
    int fd = connect_one();
    uint64_t *rtt = xalloc((o.count ? o.count : 1) * sizeof *rtt);
    char buf[4096], f[64];
    struct parser p = {0};
    struct pong_rx s = {0};
    uint64_t i;
    int timeout = 0;
    for (i = 0; i < o.count && !timeout; i++) {
        size_t n = sizeof P_PING - 1;
        memcpy(f, P_PING, n);
        n += put_u64(f + n, i);
        memcpy(f + n, LIT("}}\f"));
        n += 3;
        s.expect = i;
        s.got = 0;
        uint64_t t0 = now_ns();
        if (write_all(fd, f, n) < 0) {
            timeout = 1;
            break;
        }
        while (!s.got) {
            ssize_t r = wait_and_read(fd, buf, sizeof buf);
            if (r < 0) {
                timeout = 1;
                break;
            }
            if (r == 0)
                fail(1, "connection closed after %llu round trips", (unsigned long long)i);
            if (feed(&p, buf, (size_t)r, pong_frame, &s) < 0)
                fail(1, "%s", s.err);
        }
        if (timeout)
            break;
        rtt[i] = now_ns() - t0;
    }
    close(fd);
    print_latency(rtt, i, timeout);
    exit(0);
}

/* ---- broadcast -------------------------------------------------------------------------- */

static void server_broadcast(void)
{
    int lfd = listen_ready();
    int *fds = xalloc((size_t)o.clients * sizeof *fds);
    for (long k = 0; k < o.clients; k++) {
        fds[k] = accept_one(lfd);
        if (fds[k] < 0)
            fail(1, "timed out after %g s with %ld of %ld clients", o.seconds, k, o.clients);
    }
    char *batch = xalloc(BATCH);
    size_t len = 0;
    char f[64];
    for (uint64_t i = 0; i <= o.count; i++) {
        size_t n = 0;
        if (i < o.count) {
            n = sizeof P_M - 1;
            memcpy(f, P_M, n);
            n += put_u64(f + n, i);
            memcpy(f + n, LIT("}}\f"));
            n += 3;
        }
        if (i == o.count || len + n > BATCH) {
            for (long k = 0; k < o.clients; k++)
                if (write_all(fds[k], batch, len) < 0)
                    fail(1, "timed out after %g s", o.seconds);
            len = 0;
        }
        memcpy(batch + len, f, n);
        len += n;
    }
    /* Stay until every client has read everything and closed. */
    char buf[256];
    for (long k = 0; k < o.clients; k++) {
        ssize_t r;
        while ((r = read_some(fds[k], buf, sizeof buf)) > 0)
            ;
        if (r < 0)
            fail(1, "timed out after %g s", o.seconds);
        close(fds[k]);
    }
    done_cpu();
}

struct bc_rx {
    uint64_t expect;
    char err[300];
};

static int bc_frame(void *ctx, const char *h, size_t hl, uint64_t flen)
{
    struct bc_rx *s = ctx;
    uint64_t v;
    (void)flen;
    if (!field_u64(h, hl, LIT(P_M), &v) || v != s->expect || v >= o.count) {
        char shown[HDR + 1];
        show(h, hl, shown, sizeof shown);
        snprintf(s->err, sizeof s->err, "expected event %llu, got: %s",
                 (unsigned long long)s->expect, shown);
        return -1;
    }
    s->expect++;
    return 0;
}

static void client_broadcast(void)
{
    long nc = o.clients;
    struct pollfd *pfd = xalloc((size_t)nc * sizeof *pfd);
    struct parser *ps = xalloc((size_t)nc * sizeof *ps);
    struct bc_rx *rx = xalloc((size_t)nc * sizeof *rx);
    for (long k = 0; k < nc; k++) {
        pfd[k].fd = connect_one();
        pfd[k].events = POLLIN;
    }
    char *buf = xalloc(RBUF);
    uint64_t t0 = 0, t1 = 0, deliveries = 0;
    long left = o.count ? nc : 0;
    int timeout = 0;
    while (left > 0) {
        int rc = poll(pfd, (nfds_t)nc, -1);
        if (rc < 0) {
            if (errno != EINTR)
                fail(1, "poll: %s", strerror(errno));
            if (timed_out) {
                timeout = 1;
                break;
            }
            continue;
        }
        for (long k = 0; k < nc && rc > 0; k++) {
            if (pfd[k].fd < 0 || !pfd[k].revents)
                continue;
            rc--;
            ssize_t r = read_some(pfd[k].fd, buf, RBUF);
            if (r < 0) {
                timeout = 1;
                break;
            }
            if (r == 0)
                fail(1, "connection %ld closed after %llu of %llu events", k,
                     (unsigned long long)rx[k].expect, (unsigned long long)o.count);
            if (!t0)
                t0 = now_ns();
            uint64_t before = rx[k].expect;
            if (feed(&ps[k], buf, (size_t)r, bc_frame, &rx[k]) < 0)
                fail(1, "connection %ld: %s", k, rx[k].err);
            deliveries += rx[k].expect - before;
            if (rx[k].expect == o.count) {
                t1 = now_ns();
                close(pfd[k].fd);
                pfd[k].fd = -1;
                left--;
            }
        }
        if (timeout)
            break;
    }
    if (timeout)
        t1 = now_ns();
    printf("{\"ev\":\"result\",\"deliveries\":%llu,\"seconds\":%.9f,\"cpu_ns\":%llu%s}\n",
           (unsigned long long)deliveries, t0 ? (double)(t1 - t0) / 1e9 : 0.0,
           (unsigned long long)cpu_ns(), timeout ? ",\"timedOut\":true" : "");
    fflush(stdout);
    exit(0);
}

/* ---- idle ------------------------------------------------------------------------------- */

static struct pollfd *idle_pfd; /* grows with the connections */

static void server_idle(void)
{
    int lfd = listen_ready();
    size_t cap = 64, n = 1;
    struct pollfd *pfd = idle_pfd = calloc(cap, sizeof *pfd);
    if (!pfd)
        fail(1, "out of memory");
    pfd[0].fd = lfd;
    pfd[0].events = POLLIN;
    long accepted = 0;
    char buf[256];
    while (!timed_out && !(accepted > 0 && n == 1)) {
        int rc = poll(pfd, (nfds_t)n, -1);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fail(1, "poll: %s", strerror(errno));
        }
        for (size_t k = n; k-- > 1;) { /* connections: a read of 0 is a client gone */
            if (!pfd[k].revents)
                continue;
            ssize_t r = read(pfd[k].fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                close(pfd[k].fd);
                pfd[k] = pfd[--n];
            }
        }
        if (pfd[0].revents & POLLIN) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                tune(fd);
                if (write(fd, "k", 1) != 1) {
                    close(fd);
                    continue;
                }
                if (n == cap) {
                    cap *= 2;
                    pfd = idle_pfd = realloc(pfd, cap * sizeof *pfd);
                    if (!pfd)
                        fail(1, "out of memory");
                }
                pfd[n].fd = fd;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                n++;
                accepted++;
            }
        }
    }
    done_cpu();
}

static void client_idle(void)
{
    int *fds = xalloc(((size_t)o.clients + 1) * sizeof *fds);
    for (long k = 0; k < o.clients; k++) {
        fds[k] = connect_one();
        char c;
        ssize_t r = read_some(fds[k], &c, 1);
        if (r < 0)
            fail(1, "timed out after %g s", o.seconds);
        if (r == 0)
            fail(1, "connection %ld closed by the server", k);
    }
    printf("{\"ev\":\"connected\",\"n\":%ld}\n", o.clients);
    fflush(stdout);
    while (!timed_out)
        pause();
    for (long k = 0; k < o.clients; k++)
        close(fds[k]);
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
        fail(2, "usage: bench_raw server|client --transport unix|tcp --endpoint E --test T "
                "[--count N] [--size N] [--clients N] [--seconds S]");
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
        } else if (!strcmp(a, "--wait")) {
            if (strcmp(v, "epoll") && strcmp(v, "read"))
                fail(2, "--wait must be epoll or read, got '%s'", v);
            o.epoll = !strcmp(v, "epoll");
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
    arm_timer(o.seconds);

    if (!strcmp(o.test, "raw")) {
        if (o.size < 1)
            fail(2, "--size must be at least 1 for raw");
        if (o.server)
            server_raw();
        else
            client_raw();
    } else if (!strcmp(o.test, "throughput") || !strcmp(o.test, "sweep") ||
               !strcmp(o.test, "doubles")) {
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
    } else {
        fail(2, "unknown --test %s", o.test);
    }
    return 0;
}
