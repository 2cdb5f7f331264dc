/* SPDX-License-Identifier: MIT */
/*
 * `nipc emit`, `nipc listen` and `nipc ping`: one client (a Unix socket or TCP / TLS), or
 * over UDP a socket of our own on a free port, which node-ipc's UDP "clients" are too.
 *
 * The run ends through finish(): a stream client is closed with flush, so everything
 * emitted is written before the connection goes (nipc_client_close(client, true)), and the
 * tool exits only after `destroy`; a `drop` on the way means something was lost, and the
 * exit status says so. A UDP socket is stopped with nipc_stop(). The tool's own handles
 * (signals, the timer, stdin) are closed in the same step, so nipc_run() returns.
 *
 * One timer serves every command: emit's and listen's --timeout for the whole run, ping's
 * for the connection and then for each round trip (or the wait of --interval).
 */
#include "tool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ping's state. */
typedef struct ping {
    long seq;       /* the round trip under way, from 1 */
    long received;  /* answers that came in time */
    bool waiting;   /* a ping is out; the timer is its timeout, else the interval */
    uint64_t t0;    /* when it went, uv_hrtime() */
    double *rtt_ms; /* the received round trips */
} ping_t;

static ping_t ping;

static bool udp(const tool_t *t)
{
    return t->ep == EP_UDP4 || t->ep == EP_UDP6;
}

static const char *where(const tool_t *t)
{
    static char buf[512];
    return tool_where(t, buf, sizeof(buf));
}

/* A code caused by what the command line asked to send, not by the connection. */
static bool is_input_error(int err)
{
    return err == UV_EINVAL || err == NIPC_ERESERVED || err == NIPC_ENAMELEN ||
           err == NIPC_ENOTALLOWED || err == UV_EMSGSIZE || err == NIPC_EDELIM;
}

static void finish(tool_t *t, int status)
{
    if (status > t->status)
        t->status = status;
    if (t->finished)
        return;
    t->finished = true;
    tool_close_own(t);
    if (t->client != NULL)
        nipc_client_close(t->client, status == EXIT_OK || t->cmd == CMD_EMIT);
    else
        nipc_stop(t->ipc);
}

static int send_one(tool_t *t, const char *type, json_t *data)
{
    if (t->client != NULL)
        return t->cfg.raw_buffer ? nipc_client_send_text(t->client, type)
                                 : nipc_client_emit(t->client, type, data);
    /* UDP: a datagram to the server; raw text goes as its bytes (UTF-8). */
    const char *host = t->host[0] ? t->host : t->ep == EP_UDP6 ? "::1" : "127.0.0.1";
    return t->cfg.raw_buffer ? nipc_server_send_to(t->server, host, t->port, type, strlen(type))
                             : nipc_server_emit_to(t->server, host, t->port, type, data);
}

static void send_failed(tool_t *t, const char *type, int err)
{
    fprintf(stderr, "%s: cannot send \"%s\": %s (%s)\n", t->prog, type, nipc_strerror(err),
            nipc_err_name(err));
    finish(t, is_input_error(err) ? EXIT_USAGE : EXIT_RUNTIME);
}

static void start_timer(tool_t *t, unsigned ms, uv_timer_cb cb)
{
    if (t->timer_on && ms > 0)
        uv_timer_start(&t->timer, cb, ms, 0);
}

/* ---- ping ---------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void ping_summary(tool_t *t)
{
    long sent = ping.seq;
    printf("--- %s ping statistics ---\n", where(t));
    printf("%ld sent, %ld received, %ld%% lost\n", sent, ping.received,
           sent ? (sent - ping.received) * 100 / sent : 0);
    if (ping.received > 0) {
        size_t n = (size_t)ping.received;
        qsort(ping.rtt_ms, n, sizeof(double), cmp_double);
        double median =
            n % 2 ? ping.rtt_ms[n / 2] : (ping.rtt_ms[n / 2 - 1] + ping.rtt_ms[n / 2]) / 2;
        size_t rank = (size_t)ceil(0.99 * (double)n); /* nearest rank */
        printf("rtt min/median/p99/max = %.3f/%.3f/%.3f/%.3f ms\n", ping.rtt_ms[0], median,
               ping.rtt_ms[rank - 1], ping.rtt_ms[n - 1]);
    }
    fflush(stdout);
}

static void ping_done(tool_t *t)
{
    ping_summary(t);
    finish(t, ping.received == t->count ? EXIT_OK : EXIT_RUNTIME);
}

static void ping_send(tool_t *t);

static void on_ping_timer(uv_timer_t *timer)
{
    tool_t *t = timer->data;
    if (!ping.waiting) { /* the interval is over, or the connection never came */
        if (ping.seq == 0 && !t->connected && !udp(t)) {
            fprintf(stderr, "%s: no connection to %s within %u ms\n", t->prog, where(t),
                    t->timeout_ms);
            finish(t, EXIT_RUNTIME);
            return;
        }
        ping_send(t);
        return;
    }
    ping.waiting = false;
    if (t->color)
        printf("seq=%ld: no answer within %u ms\n", ping.seq, t->timeout_ms);
    if (ping.seq >= t->count)
        ping_done(t);
    else
        ping_send(t);
}

static void ping_send(tool_t *t)
{
    json_t *data = t->data != NULL ? json_deep_copy(t->data) : json_object();
    ping.seq++;
    json_object_set_new(data, "seq", json_integer(ping.seq));
    ping.t0 = uv_hrtime();
    int err = send_one(t, t->type, data);
    json_decref(data);
    if (err != 0) {
        ping.seq--;
        send_failed(t, t->type, err);
        return;
    }
    ping.waiting = true;
    start_timer(t, t->timeout_ms, on_ping_timer);
}

static void ping_answer(tool_t *t, const nipc_event_t *ev)
{
    json_t *seq = json_object_get(ev->data, "seq");
    if (!ping.waiting || (json_is_integer(seq) && json_integer_value(seq) != ping.seq))
        return; /* late: its round trip was counted as lost */
    double ms = (double)(uv_hrtime() - ping.t0) / 1e6;
    ping.waiting = false;
    uv_timer_stop(&t->timer);
    ping.rtt_ms[ping.received++] = ms;
    if (t->color) {
        printf("seq=%ld time=%.3f ms\n", ping.seq, ms);
        fflush(stdout);
    }
    if (ping.seq >= t->count)
        ping_done(t);
    else if (t->interval_ms > 0)
        start_timer(t, t->interval_ms, on_ping_timer);
    else
        ping_send(t);
}

/* ---- emit's stdin ------------------------------------------------------------------------ */

static int on_line(void *arg, const char *line, size_t n)
{
    tool_t *t = arg;
    static size_t lineno;
    static bool again; /* the same line once more, after `drain` */
    if (!again)
        lineno++;
    again = false;
    if (n == 0)
        return 0;
    json_t *obj = NULL, *data = NULL;
    const char *type = line;
    if (!t->cfg.raw_buffer && !tool_parse_line(t, line, lineno, &obj, &type, &data)) {
        fprintf(stderr, "%s: stopped at that line; the lines before it are delivered\n", t->prog);
        finish(t, EXIT_RUNTIME);
        return -1;
    }
    int err = send_one(t, type, data);
    if (err == NIPC_EQUEUEFULL) {
        json_decref(obj);
        again = true;
        return 1; /* lines_resume() at `drain` */
    }
    if (err != 0) {
        fprintf(stderr, "%s: stdin line %zu: ", t->prog, lineno);
        send_failed(t, type, err);
        json_decref(obj);
        return -1;
    }
    json_decref(obj);
    return 0;
}

static void on_end(void *arg, int err)
{
    tool_t *t = arg;
    if (err != 0) {
        fprintf(stderr, "%s: cannot read stdin: %s\n", t->prog, nipc_strerror(err));
        finish(t, EXIT_RUNTIME);
    } else if (t->wait_type == NULL) {
        finish(t, EXIT_OK);
    }
}

/* ---- events ------------------------------------------------------------------------------ */

static void on_reply(int status, json_t *data, void *arg)
{
    tool_t *t = arg;
    if (t->finished)
        return;
    if (status != 0) {
        fprintf(stderr, "%s: no reply to \"%s\" from %s: %s\n", t->prog, t->type, where(t),
                status == UV_ETIMEDOUT ? "timed out (--timeout MS to wait longer)"
                                       : nipc_strerror(status));
        finish(t, EXIT_RUNTIME);
        return;
    }
    out_json(t, json_pack("{s:s,s:O,s:n,s:n}", "event", "$reply", "data",
                          data != NULL ? data : json_null(), "from", "id"));
    finish(t, EXIT_OK);
}

/* The first thing to send, once there is someone to send it to. */
static void begin(tool_t *t)
{
    int err;
    if (t->cmd == CMD_PING) {
        uv_timer_stop(&t->timer);
        ping_send(t);
    } else if (t->cmd == CMD_LISTEN && t->type != NULL) {
        if ((err = send_one(t, t->type, t->data)) != 0)
            send_failed(t, t->type, err);
    }
}

static void on_timeout(uv_timer_t *timer)
{
    tool_t *t = timer->data;
    if (t->cmd == CMD_LISTEN) {
        finish(t, EXIT_OK); /* listen --timeout: listened that long */
        return;
    }
    fprintf(stderr, "%s: timed out after %u ms %s %s\n", t->prog, t->timeout_ms,
            t->connected || udp(t) ? "waiting for" : "connecting to",
            t->connected || udp(t) ? (t->wait_type ? t->wait_type : "the reply") : where(t));
    finish(t, EXIT_RUNTIME);
}

static void on_event(const nipc_event_t *ev, void *arg)
{
    tool_t *t = arg;
    const char *type = ev->type;

    if (strcmp(type, "connect") == 0) {
        if (udp(t))
            return; /* our UDP socket's first sender: `start` began the run */
        t->connected = true;
        if (t->verbose)
            fprintf(stderr, "%s: connected to %s\n", t->prog, where(t));
        begin(t);
    } else if (strcmp(type, "start") == 0) { /* UDP: our own socket is up */
        if (t->cmd == CMD_EMIT && t->use_stdin) {
            int err = lines_open(&t->in, nipc_loop(t->ipc), on_line, on_end, t);
            if (err != 0)
                on_end(t, err);
        } else if (t->cmd == CMD_EMIT) {
            int err = send_one(t, t->type, t->data);
            if (err != 0)
                send_failed(t, t->type, err);
            else if (t->wait_type == NULL)
                finish(t, EXIT_OK);
        } else {
            begin(t);
        }
    } else if (strcmp(type, "error") == 0) {
        t->last_err = ev->status;
        if (t->connected || udp(t) || t->verbose)
            fprintf(stderr, "%s: %s: %s (%s)\n", t->prog, where(t), nipc_strerror(ev->status),
                    nipc_err_name(ev->status));
    } else if (strcmp(type, "disconnect") == 0) {
        if (t->connected && !t->finished && t->cmd != CMD_EMIT)
            fprintf(stderr, "%s: %s closed the connection\n", t->prog, where(t));
        t->connected = false;
    } else if (strcmp(type, "drop") == 0) {
        json_t *d = ev->data;
        fprintf(stderr, "%s: %lld event(s) (%lld bytes) not delivered to %s: %s (%s)\n", t->prog,
                (long long)json_integer_value(json_object_get(d, "frames")),
                (long long)json_integer_value(json_object_get(d, "bytes")), where(t),
                json_string_value(json_object_get(d, "message")), nipc_err_name(ev->status));
        if (t->status < EXIT_RUNTIME)
            t->status = EXIT_RUNTIME;
    } else if (strcmp(type, "drain") == 0) {
        lines_resume(&t->in);
    } else if (strcmp(type, "destroy") == 0) {
        if (!t->finished) { /* retrying ended, not by us */
            int err = t->last_err;
            if (err != 0)
                fprintf(stderr, "%s: cannot connect to %s: %s (%s)%s\n", t->prog, where(t),
                        nipc_strerror(err), nipc_err_name(err),
                        err == UV_ECONNREFUSED || err == UV_ENOENT
                            ? "; is a server listening there? (nipc serve ...)"
                            : "");
            else
                fprintf(stderr, "%s: the connection to %s ended\n", t->prog, where(t));
            if (t->cmd == CMD_PING && ping.seq > 0)
                ping_summary(t);
            finish(t, EXIT_RUNTIME);
        }
        t->client = NULL; /* freed once this handler returns */
    } else if (t->finished || strcmp(type, "socket.disconnected") == 0 ||
               strcmp(type, "close") == 0) {
        return;
    } else if (t->cmd == CMD_PING) {
        if (strcmp(type, t->cfg.raw_buffer ? "data" : t->type) == 0)
            ping_answer(t, ev);
    } else if (t->cmd == CMD_LISTEN) {
        out_event(t, ev);
        if (t->count > 0 && --t->count == 0)
            finish(t, EXIT_OK);
    } else if (t->wait_type != NULL && strcmp(type, t->wait_type) == 0) {
        out_event(t, ev);
        finish(t, EXIT_OK);
    }
}

/* The wildcard: every frame (and raw read), the lifecycle being left to on_event. */
static void on_frame(const nipc_event_t *ev, void *arg)
{
    if (!out_is_lifecycle(ev->type))
        on_event(ev, arg);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    tool_t *t = sig->data;
    (void)signum;
    if (t->cmd == CMD_PING) {
        ping_done(t);
        return;
    }
    if (t->cmd != CMD_LISTEN)
        fprintf(stderr, "%s: interrupted\n", t->prog);
    finish(t, t->cmd == CMD_LISTEN ? EXIT_OK : EXIT_RUNTIME);
}

static int open_client(tool_t *t)
{
    const char *host = t->host[0] ? t->host : NULL;
    switch (t->ep) {
    case EP_ID:
        return nipc_connect_to(t->ipc, t->cfg.id, NULL, &t->client);
    case EP_PATH:
        return nipc_connect_to(t->ipc, "nipc", t->path, &t->client);
    case EP_TCP:
        return nipc_connect_to_net(t->ipc, "nipc", host, t->port, &t->client);
    default: {
        const nipc_config_t *c = &t->cfg;
        const char *local = c->iface.local_address ? c->iface.local_address
                            : t->ep == EP_UDP6     ? "::1"
                                                   : "127.0.0.1";
        int err = nipc_serve_net(t->ipc, local, c->iface.local_port,
                                 t->ep == EP_UDP4 ? NIPC_UDP4 : NIPC_UDP6, &t->server);
        if (err == 0) {
            nipc_server_on(t->server, NIPC_EVENT_ANY, on_event, t);
            err = nipc_server_start(t->server);
        }
        return err;
    }
    }
}

int client_run(tool_t *t)
{
    int err;
    tool_signals(t, on_signal);
    if (t->cmd == CMD_PING && (ping.rtt_ms = calloc((size_t)t->count, sizeof(double))) == NULL) {
        fprintf(stderr, "%s: out of memory for %ld round trips\n", t->prog, t->count);
        tool_close_own(t);
        nipc_run(t->ipc);
        return EXIT_RUNTIME;
    }
    if ((err = open_client(t)) != 0) {
        fprintf(stderr, "%s: cannot %s %s: %s (%s)\n", t->prog,
                udp(t) ? "bind a UDP socket for" : "connect to", where(t), nipc_strerror(err),
                nipc_err_name(err));
        tool_close_own(t);
        nipc_run(t->ipc);
        free(ping.rtt_ms);
        return err == UV_ENAMETOOLONG || err == UV_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (t->client != NULL) {
        /* Typed handlers for the lifecycle: nipc_client_close() drops wildcard handlers
         * (C12), and `drop` and `destroy` come after it. */
        static const char *const kinds[] = {"connect", "error",   "disconnect", "drop",
                                            "drain",   "destroy", NULL};
        for (int i = 0; kinds[i] != NULL; i++)
            nipc_client_on(t->client, kinds[i], on_event, t);
        nipc_client_on(t->client, NIPC_EVENT_ANY, on_frame, t);
    }

    if (t->cmd == CMD_PING)
        start_timer(t, t->timeout_ms, on_ping_timer); /* bounds the connection */
    else if (t->timeout_ms > 0)
        start_timer(t, t->timeout_ms, on_timeout);

    if (t->cmd == CMD_EMIT && t->client != NULL) {
        /* Emits made while connecting are queued and go once connected (C13). */
        if (t->use_stdin) {
            if ((err = lines_open(&t->in, nipc_loop(t->ipc), on_line, on_end, t)) != 0)
                on_end(t, err);
        } else if (t->request) {
            err = nipc_client_request(t->client, t->type, t->data, t->timeout_ms, on_reply, t);
            if (err != 0)
                send_failed(t, t->type, err);
        } else if ((err = send_one(t, t->type, t->data)) != 0) {
            send_failed(t, t->type, err);
        } else if (t->wait_type == NULL) {
            finish(t, EXIT_OK);
        }
    }
    nipc_run(t->ipc);
    free(ping.rtt_ms);
    return t->status;
}
