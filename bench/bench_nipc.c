/* SPDX-License-Identifier: MIT */
/*
 * nipc's side of the benchmark suite (bench/README.md has the contract), through the public
 * API only, written as a user would: one data object reused for every event (the sweep's
 * large events: a fresh one each around a shared string, handed over), the client's
 * queue bounded by max_queued_bytes with `drain` as its flow control, every received event
 * decoded and its sequence checked. Over `--transport tls` the server presents
 * server.pem/server.key from `--certs DIR` and the client verifies it with DIR/ca.pem against
 * the address it connects to (127.0.0.1, in the certificate's names). The raw test runs both
 * sides in raw mode (raw_buffer): the client sends bytes with nipc_client_send(), and the
 * server checks and counts the bytes of its `data` events (bench/pattern.h). The echo test's
 * client emits the values of a shape of bench/shapes.json (bench/shapes.h), each with "i" set,
 * at most ECHO_WINDOW in flight, and the server sends every event back as it decoded it.
 */
#include <nipc.h>

#include "doubles.h"
#include "pattern.h"
#include "shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct opts {
    bool server;
    bool tcp; /* tcp or tls */
    bool tls;
    const char *certs; /* tls: the directory test/support/certs.sh wrote */
    const char *endpoint;
    const char *test;
    const char *shapes; /* echo: bench/shapes.json */
    const char *shape;  /* echo: the name of a shape in it */
    long count;
    long size;
    long clients;
    double seconds;
    unsigned busy_poll_us; /* nipc_config_t.busy_poll_us (the nipc-spin variant) */
} opts_t;

static opts_t o = {.count = 1000000, .size = 16, .clients = 10, .seconds = 60};
static bool sweep;      /* is("sweep"), decided once rather than per event */
static bool doubles;    /* is("doubles") */
static bool handshakes; /* is("handshakes") */
static bool raw;        /* is("raw") */
static bool echo;       /* is("echo") */
static bool world;      /* is("world"): a client of examples/world or of node-ipc's world */
static double pool[DOUBLES_EVENTS * DOUBLES_PER_EVENT];
static nipc_t *ipc;
static uv_loop_t *loop;

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

/*
 * From this payload size on, the sweep's client sends as a C program sending large payloads
 * would: a fresh object per event around one shared string, handed over with
 * nipc_client_emit_new(), which may then send the string from where it is. Smaller events
 * reuse one object with nipc_client_emit(), which is faster for them.
 */
#define BIG_EVENT (64 * 1024)

static long long cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

NIPC_PRINTF(1, 2) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

_Noreturn static void fail(const char *msg)
{
    say("{\"ev\":\"error\",\"message\":\"%s\"}", msg);
    exit(1);
}

static bool is(const char *test)
{
    return strcmp(o.test, test) == 0;
}

/*
 * A decimal number ("120", "2.5"); anything else gives -1. Not atol or atof: their code
 * would be mapped into the idle server, whose RSS is measured.
 */
static double number(const char *s)
{
    double v = 0, scale = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s == '.' && scale == 0)
            scale = 1;
        else if (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s - '0');
            scale *= 10;
        } else
            return -1;
    }
    return scale > 0 ? v / scale : v;
}

/* "host:port" or "[v6]:port" */
static void split(const char *ep, char *host, size_t len, int *port)
{
    const char *colon = strrchr(ep, ':');
    if (colon == NULL)
        fail("endpoint must be HOST:PORT");
    const char *h = ep;
    size_t n = (size_t)(colon - ep);
    if (h[0] == '[') {
        h++;
        n -= 2;
    }
    /* No snprintf: like the ready line, kept out of the idle server's RSS. */
    if (n >= len)
        fail("endpoint host too long");
    memcpy(host, h, n);
    host[n] = '\0';
    double p = number(colon + 1);
    if (p < 0 || p > 65535)
        fail("endpoint port must be 0 to 65535");
    *port = (int)p;
}

static void arm_deadline(void);

/* ---- server ---------------------------------------------------------------------------- */

static long expected;
static uint64_t first_ns;
static long long bytes;
static pattern_rx_t rx; /* raw: where the stream is */
static long reads;      /* raw: `data` events */

/* The receiver's result: n events (raw: writes) and `bytes`, timed from the first. */
static void stream_result(long n)
{
    double secs = (double)(now_ns() - first_ns) / 1e9;
    char more[32] = "";
    if (raw)
        snprintf(more, sizeof more, ",\"reads\":%ld", reads);
    say("{\"ev\":\"result\",\"count\":%ld,\"seconds\":%.6f,\"bytes\":%lld%s,\"cpu_ns\":%lld}", n,
        secs, bytes, more, cpu_ns());
    uv_stop(loop);
}

static void on_event(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    json_t *i = json_object_get(ev->data, "i");
    if (json_integer_value(i) != expected)
        fail("out of order or lost event");
    if (doubles) {
        /* Every double must arrive as the very double sent. */
        json_t *d = json_object_get(ev->data, "d");
        const double *want = pool + (expected % DOUBLES_EVENTS) * DOUBLES_PER_EVENT;
        if (json_array_size(d) != DOUBLES_PER_EVENT)
            fail("doubles: not an array of eight");
        for (size_t j = 0; j < DOUBLES_PER_EVENT; j++)
            if (json_real_value(json_array_get(d, j)) != want[j])
                fail("doubles: a double changed on the way");
        bytes += DOUBLES_PER_EVENT * sizeof(double);
    }
    if (expected++ == 0)
        first_ns = now_ns();
    if (sweep)
        bytes += (long long)json_string_length(json_object_get(ev->data, "s"));
}

static void on_done(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    long n = (long)json_integer_value(json_object_get(ev->data, "n"));
    if (n != expected)
        fail("count mismatch");
    stream_result(expected);
}

/* Raw: one `data` event per read, its bytes checked against the stream. */
static void on_bytes(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (reads++ == 0)
        first_ns = now_ns();
    if (pattern_check(&rx, ev->bytes, ev->size) != 0)
        fail("raw: a byte out of place, or more than --count writes");
    if (rx.off == rx.total) {
        bytes = (long long)rx.off;
        stream_result(o.count);
    }
}

/* Echo: the server's echoes sent, the client's received. */
static long echoed;

/* Every event goes back as it was decoded: the real work of an echo server. */
static void on_echo(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    int err = nipc_server_emit(ev->server, ev->socket, "e", ev->data);
    if (err)
        fail(nipc_strerror(err));
    echoed++;
}

/* Echo: the client leaves once it has every echo, and the run ends with its connection. */
static void on_echo_close(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (echoed != o.count)
        fail("echo: the connection closed before --count echoes");
    say("{\"ev\":\"cpu\",\"cpu_ns\":%lld}", cpu_ns());
    uv_stop(loop);
}

static void on_ping(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

/* Broadcast: once every client is connected, send `count` events in batches per turn. */
static long connected, sent;
static uv_idle_t pump;
static json_t *payload, *payload_i;

static void broadcast_batch(uv_idle_t *h)
{
    nipc_server_t *s = h->data;
    for (int k = 0; k < 256 && sent < o.count; k++) {
        json_integer_set(payload_i, sent++);
        nipc_server_broadcast(s, "b", payload);
    }
    if (sent == o.count)
        uv_idle_stop(h);
}

static void on_server_connect(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (is("broadcast") && ++connected == o.clients) {
        pump.data = ev->server;
        uv_idle_start(&pump, broadcast_batch);
    }
}

/*
 * The ready line is written without printf, as bench_raw writes its own: the idle test measures
 * this server's RSS, and printf's code would be the largest part of libc it touches.
 */
static void on_start(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    char port[16], *p = port + sizeof port;
    *--p = '\0';
    for (unsigned v = (unsigned)nipc_server_port(ev->server); p == port + sizeof port - 1 || v;
         v /= 10)
        *--p = (char)('0' + v % 10);
    fputs("{\"ev\":\"ready\",\"endpoint\":\"", stdout);
    if (o.tcp) {
        fputs(nipc_server_host(ev->server), stdout);
        fputs(":", stdout);
        fputs(p, stdout);
    } else {
        fputs(nipc_server_path(ev->server), stdout);
    }
    fputs("\"}\n", stdout);
    fflush(stdout);
}

static int run_server(const nipc_config_t *cfg)
{
    nipc_server_t *s;
    int err = nipc_new(&ipc, NULL, cfg);
    if (err == 0 && o.tcp) {
        char host[128];
        int port;
        split(o.endpoint, host, sizeof host, &port);
        err = nipc_serve_net(ipc, host, port, NIPC_TCP, &s);
    } else if (err == 0) {
        err = nipc_serve(ipc, o.endpoint, &s);
    }
    if (err)
        fail(nipc_strerror(err));
    loop = nipc_loop(ipc);
    arm_deadline();
    uv_idle_init(loop, &pump);
    payload = json_pack("{s:i}", "i", 0);
    payload_i = json_object_get(payload, "i");
    nipc_server_on(s, "start", on_start, NULL);
    nipc_server_on(s, "connect", on_server_connect, NULL);
    nipc_server_on(s, "m", on_event, NULL);
    nipc_server_on(s, "done", on_done, NULL);
    nipc_server_on(s, "data", on_bytes, NULL);
    pattern_rx_init(&rx, (uint64_t)o.size, (uint64_t)o.count);
    nipc_server_on(s, "ping", on_ping, NULL);
    nipc_server_on(s, "e", on_echo, NULL);
    if (echo)
        nipc_server_on(s, "close", on_echo_close, NULL);
    if ((err = nipc_server_start(s)) != 0)
        fail(nipc_strerror(err));
    nipc_run(ipc);
    return 0;
}

/* ---- client ---------------------------------------------------------------------------- */

static nipc_client_t *client;
static long next_i;
static json_t *rows[DOUBLES_EVENTS]; /* doubles: the pool's rows as JSON arrays */
static bool blocked;
static uv_idle_t sender;
static char *pattern;  /* raw: the stream's bytes, --size + PATTERN_PERIOD of them */
static json_t *big;    /* sweep of BIG_EVENT bytes or more: the payload string, shared */
static unsigned phase; /* raw: where write next_i starts in `pattern` */
static unsigned step;  /* raw: --size mod PATTERN_PERIOD */

/* Write next_i: an event, or in raw mode --size bytes of the stream. */
static int send_one(void)
{
    if (raw)
        return nipc_client_send(client, pattern + phase, (size_t)o.size);
    if (big != NULL) /* a fresh object per event, handed over with the shared string */
        return nipc_client_emit_new(client, "m",
                                    json_pack("{s:I,s:O}", "i", (json_int_t)next_i, "s", big));
    json_integer_set(payload_i, next_i);
    if (doubles)
        json_object_set(payload, "d", rows[next_i % DOUBLES_EVENTS]);
    return nipc_client_emit(client, "m", payload);
}

/* Sends events until the queue is full, then waits for `drain`. */
static void send_more(uv_idle_t *h)
{
    (void)h;
    while (next_i < o.count) {
        int err = send_one();
        if (err == NIPC_EQUEUEFULL) {
            blocked = true;
            uv_idle_stop(&sender);
            return;
        }
        if (err)
            fail(nipc_strerror(err));
        phase = pattern_advance(phase, step);
        if (++next_i % 4096 == 0)
            return; /* let the loop breathe: reads, writes */
    }
    uv_idle_stop(&sender);
    /* `done` obeys the same bound: a full queue refuses it too, until `drain`. Raw mode has
     * none: the server knows how many bytes to expect. */
    int err = raw ? 0 : nipc_client_emitf(client, "done", "{s:I}", "n", (json_int_t)o.count);
    if (err == NIPC_EQUEUEFULL) {
        blocked = true;
        return;
    }
    if (err)
        fail(nipc_strerror(err));
    say("{\"ev\":\"sent\",\"cpu_ns\":%lld}", cpu_ns());
    nipc_disconnect(ipc, "bench");
}

static void on_drain(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (blocked) {
        blocked = false;
        uv_idle_start(&sender, send_more);
    }
}

/* Latency: one ping in flight, every round trip recorded. */
static uint64_t *rtt;
static uint64_t sent_at;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void ping(void)
{
    json_integer_set(payload_i, next_i);
    sent_at = now_ns();
    nipc_client_emit(client, "ping", payload);
}

static void on_pong(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    uint64_t t = now_ns();
    if (json_integer_value(json_object_get(ev->data, "i")) != next_i)
        fail("pong out of order");
    rtt[next_i++] = t - sent_at;
    if (next_i < o.count) {
        ping();
        return;
    }
    qsort(rtt, (size_t)o.count, sizeof *rtt, cmp_u64);
    size_t n = (size_t)o.count;
    say("{\"ev\":\"result\",\"count\":%ld,\"p50\":%llu,\"p99\":%llu,\"p999\":%llu,\"cpu_ns\":%lld}",
        o.count, (unsigned long long)rtt[n / 2], (unsigned long long)rtt[n * 99 / 100],
        (unsigned long long)rtt[n * 999 / 1000], cpu_ns());
    nipc_disconnect(ipc, "bench");
}

/*
 * Echo: event N carries value N mod shape.n with "i" set to N, as a C program would send it:
 * the values parsed once, each event's "i" set in place before its emit (which encodes at
 * once). At most ECHO_WINDOW events are in flight, far below max_queued_bytes for every shape
 * of the file, so any emit error, NIPC_EQUEUEFULL included, is a failure.
 */
static shape_t shape;
static json_t *shape_i[SHAPE_MAX_VALUES]; /* each value's "i" */

static void echo_send(void)
{
    for (; next_i < o.count && next_i - echoed < ECHO_WINDOW; next_i++) {
        size_t k = (size_t)next_i % shape.n;
        json_integer_set(shape_i[k], next_i);
        if (next_i == 0)
            first_ns = now_ns();
        int err = nipc_client_emit(client, "e", shape.value[k]);
        if (err)
            fail(nipc_strerror(err));
    }
}

/* Each echo must be the next, and every ECHO_CHECK_EVERY-th the very value sent. */
static void on_echo_back(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    json_t *i = json_object_get(ev->data, "i");
    if (!json_is_integer(i) || json_integer_value(i) != echoed)
        fail("echo: out of order, lost or repeated");
    if (echoed % ECHO_CHECK_EVERY == 0) {
        size_t k = (size_t)echoed % shape.n;
        json_integer_set(shape_i[k], echoed); /* the value as it was sent */
        if (!json_equal(ev->data, shape.value[k]))
            fail("echo: the value changed on the way");
    }
    if (++echoed < o.count) {
        echo_send();
        return;
    }
    say("{\"ev\":\"result\",\"count\":%ld,\"seconds\":%.6f,\"bytes\":%llu,\"cpu_ns\":%lld}", echoed,
        (double)(now_ns() - first_ns) / 1e9,
        (unsigned long long)shape_bytes(&shape, (uint64_t)o.count), cpu_ns());
    nipc_disconnect(ipc, "bench");
}

/*
 * World: node-ipc's basic world answers each `message` with its data + " world!". The
 * client sends the numbers 0, 1, 2, ... (at most ECHO_WINDOW unanswered), and each answer
 * must be the next number's "N world!": none lost, repeated or reordered.
 */
static json_t *world_n;

static void world_send(void)
{
    for (; next_i < o.count && next_i - echoed < ECHO_WINDOW; next_i++) {
        json_integer_set(world_n, next_i);
        if (next_i == 0)
            first_ns = now_ns();
        int err = nipc_client_emit(client, "message", world_n);
        if (err)
            fail(nipc_strerror(err));
    }
}

static void on_world_answer(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    char want[40];
    int n = snprintf(want, sizeof want, "%ld world!", echoed);
    if (!json_is_string(ev->data) || json_string_length(ev->data) != (size_t)n ||
        memcmp(json_string_value(ev->data), want, (size_t)n) != 0)
        fail("world: an answer out of order, lost, repeated or not N world!");
    if (++echoed < o.count) {
        world_send();
        return;
    }
    say("{\"ev\":\"result\",\"count\":%ld,\"seconds\":%.6f,\"cpu_ns\":%lld}", echoed,
        (double)(now_ns() - first_ns) / 1e9, cpu_ns());
    nipc_disconnect(ipc, "bench");
}

/*
 * Handshakes: --count connections one after another, each connect (+ TLS handshake), one
 * ping and its pong, then close; the next starts once the last is destroyed.
 */
static long hs_done;
static uint64_t hs_first;
static char hs_host[128];
static int hs_port;
static void hs_connect(void);

static void on_hs_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (hs_done < o.count) {
        hs_connect();
        return;
    }
    say("{\"ev\":\"result\",\"count\":%ld,\"seconds\":%.6f,\"cpu_ns\":%lld}", hs_done,
        (double)(now_ns() - hs_first) / 1e9, cpu_ns());
    uv_stop(loop);
}

static void on_hs_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    json_integer_set(payload_i, hs_done);
    if (nipc_client_emit(client, "ping", payload))
        fail("handshakes: emit failed");
}

static void on_hs_pong(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (json_integer_value(json_object_get(ev->data, "i")) != hs_done)
        fail("handshakes: pong out of order");
    hs_done++;
    nipc_client_close(client, false);
}

static void on_hs_disconnect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (nipc_of(ipc, "bench") == client)
        fail("handshakes: connection lost before its pong");
}

static void hs_connect(void)
{
    int err = nipc_connect_to_net(ipc, "bench", hs_host, hs_port, &client);
    if (err)
        fail(nipc_strerror(err));
    nipc_client_on(client, "connect", on_hs_connect, NULL);
    nipc_client_on(client, "pong", on_hs_pong, NULL);
    nipc_client_on(client, "disconnect", on_hs_disconnect, NULL);
    nipc_client_on(client, "destroy", on_hs_destroy, NULL);
}

static void on_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (is("latency"))
        ping();
    else if (echo)
        echo_send();
    else if (world)
        world_send();
    else if (is("throughput") || is("sweep") || doubles || raw)
        uv_idle_start(&sender, send_more);
}

/* Broadcast and idle: many connections of one instance. */
typedef struct conn_state {
    long next;
} conn_state_t;

static conn_state_t *states;
static long clients_up, clients_done, deliveries;
static uint64_t bc_first;

static void on_bc_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    if (++clients_up == o.clients && is("idle"))
        say("{\"ev\":\"connected\",\"n\":%ld}", clients_up);
}

static void on_bc(const nipc_event_t *ev, void *arg)
{
    conn_state_t *st = arg;
    if (json_integer_value(json_object_get(ev->data, "i")) != st->next)
        fail("broadcast out of order");
    if (deliveries++ == 0)
        bc_first = now_ns();
    if (++st->next == o.count && ++clients_done == o.clients) {
        say("{\"ev\":\"result\",\"deliveries\":%ld,\"seconds\":%.6f,\"cpu_ns\":%lld}", deliveries,
            (double)(now_ns() - bc_first) / 1e9, cpu_ns());
        uv_stop(loop);
    }
}

static int run_client(nipc_config_t *cfg)
{
    cfg->max_queued_bytes = 4 << 20;
    cfg->stop_retrying = true;
    int err = nipc_new(&ipc, NULL, cfg);
    if (err)
        fail(nipc_strerror(err));
    loop = nipc_loop(ipc);
    arm_deadline();
    char host[128] = "";
    int port = 0;
    if (o.tcp)
        split(o.endpoint, host, sizeof host, &port);
    if (handshakes) {
        if (!o.tcp)
            fail("handshakes: tcp or tls only");
        memcpy(hs_host, host, sizeof hs_host);
        hs_port = port;
        payload = json_pack("{s:i}", "i", 0);
        payload_i = json_object_get(payload, "i");
        hs_first = now_ns();
        hs_connect();
        nipc_run(ipc);
        return 0;
    }

    long n = is("broadcast") || is("idle") ? o.clients : 1;
    states = calloc((size_t)n, sizeof *states);
    for (long k = 0; k < n; k++) {
        char id[32];
        snprintf(id, sizeof id, n == 1 ? "bench" : "c%ld", k);
        nipc_client_t *c;
        err = o.tcp ? nipc_connect_to_net(ipc, id, host, port, &c)
                    : nipc_connect_to(ipc, id, o.endpoint, &c);
        if (err)
            fail(nipc_strerror(err));
        if (n == 1) {
            client = c;
            nipc_client_on(c, "connect", on_connect, NULL);
            nipc_client_on(c, "drain", on_drain, NULL);
            nipc_client_on(c, "pong", on_pong, NULL);
            nipc_client_on(c, "e", on_echo_back, NULL);
            if (world)
                nipc_client_on(c, "message", on_world_answer, NULL);
        } else {
            nipc_client_on(c, "connect", on_bc_connect, NULL);
            nipc_client_on(c, "b", on_bc, &states[k]);
        }
    }

    /*
     * The payload: {"i":N,"s":"hello"}; for the sweep, --size bytes of 'x'; for doubles,
     * {"i":N,"d":[eight doubles]}, a row of the pool taken in turn.
     */
    char *s = NULL;
    if (is("sweep")) {
        s = malloc((size_t)o.size + 1);
        memset(s, 'x', (size_t)o.size);
        s[o.size] = '\0';
    }
    if (doubles) {
        for (int k = 0; k < DOUBLES_EVENTS; k++) {
            rows[k] = json_array();
            for (int j = 0; j < DOUBLES_PER_EVENT; j++)
                json_array_append_new(rows[k], json_real(pool[k * DOUBLES_PER_EVENT + j]));
        }
        payload = json_pack("{s:i, s:O}", "i", 0, "d", rows[0]);
    } else {
        payload = json_pack("{s:i, s:s}", "i", 0, "s", s ? s : "hello");
    }
    payload_i = json_object_get(payload, "i");
    if (is("sweep") && o.size >= BIG_EVENT)
        big = json_incref(json_object_get(payload, "s"));
    free(s);
    if (is("latency"))
        rtt = calloc((size_t)o.count, sizeof *rtt);
    world_n = json_integer(0);
    if (echo) {
        const char *why = shape_load(&shape, o.shapes, o.shape);
        if (why)
            fail(why);
        for (size_t k = 0; k < shape.n; k++)
            shape_i[k] = json_object_get(shape.value[k], "i");
    }
    if (raw) {
        if ((pattern = malloc((size_t)o.size + PATTERN_PERIOD)) == NULL)
            fail("out of memory");
        pattern_fill(pattern, (size_t)o.size + PATTERN_PERIOD);
        step = (unsigned)(o.size % PATTERN_PERIOD);
    }
    uv_idle_init(loop, &sender);
    nipc_run(ipc);
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fail("timed out");
}

/* Every run ends by itself: past --seconds it fails. */
static void arm_deadline(void)
{
    static uv_timer_t deadline;
    uv_timer_init(loop, &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)(o.seconds * 1000), 0);
    uv_unref((uv_handle_t *)&deadline);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        fail("usage: bench_nipc server|client --transport unix|tcp|tls --endpoint E --test T");
    o.server = strcmp(argv[1], "server") == 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--transport")) {
            o.tls = !strcmp(v, "tls");
            o.tcp = o.tls || !strcmp(v, "tcp");
        } else if (!strcmp(k, "--certs"))
            o.certs = v;
        else if (!strcmp(k, "--endpoint"))
            o.endpoint = v;
        else if (!strcmp(k, "--test"))
            o.test = v;
        else if (!strcmp(k, "--shapes"))
            o.shapes = v;
        else if (!strcmp(k, "--shape"))
            o.shape = v;
        else if (!strcmp(k, "--count"))
            o.count = (long)number(v);
        else if (!strcmp(k, "--size"))
            o.size = (long)number(v);
        else if (!strcmp(k, "--clients"))
            o.clients = (long)number(v);
        else if (!strcmp(k, "--seconds"))
            o.seconds = number(v);
        else if (!strcmp(k, "--busy-poll"))
            o.busy_poll_us = (unsigned)number(v);
    }
    if (o.endpoint == NULL || o.test == NULL || o.count <= 0 || o.clients <= 0 || o.seconds <= 0 ||
        o.size < 0 || (o.tls && o.certs == NULL))
        fail("missing or bad arguments");
    sweep = is("sweep");
    doubles = is("doubles");
    handshakes = is("handshakes");
    raw = is("raw");
    echo = is("echo");
    world = is("world");
    if (echo && (o.shapes == NULL || o.shape == NULL))
        fail("echo: --shapes FILE and --shape NAME are required");
    if (raw && o.size == 0)
        fail("raw: --size must be at least 1");
    if (doubles)
        doubles_pool(pool);

    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;
    cfg.max_connections = (unsigned)o.clients + 10;
    cfg.busy_poll_us = o.busy_poll_us;
    cfg.raw_buffer = raw;
    if (o.tls) {
        static char key[4096], cert[4096], ca[4096];
        static const char *cas[2] = {ca, NULL};
        snprintf(key, sizeof key, "%s/server.key", o.certs);
        snprintf(cert, sizeof cert, "%s/server.pem", o.certs);
        snprintf(ca, sizeof ca, "%s/ca.pem", o.certs);
        cfg.tls.enabled = true;
        if (o.server) {
            cfg.tls.private_key = key;
            cfg.tls.public_cert = cert;
        } else {
            cfg.tls.trusted_connections = cas;
            cfg.tls.reject_unauthorized = true;
        }
    }

    return o.server ? run_server(&cfg) : run_client(&cfg);
}
