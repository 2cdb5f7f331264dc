/* SPDX-License-Identifier: MIT */
/*
 * `nipc serve`: one server on a Unix socket, TCP (TLS), UDP4 or UDP6. Every event it
 * publishes is one JSON line (output.c), the first {"event":"listening",...} with the path
 * or the port, so a script can ask for port 0. --echo answers a frame with its own type
 * and data (a request with nipc_reply(), a raw read with its bytes), --reply TYPE=JSON with
 * a fixed one; --stdin broadcasts each line of stdin. SIGINT / SIGTERM end it gracefully:
 * nipc_stop() lets what was emitted be written, and nipc_run() returns. --stats prints the
 * server's counters (nipc_server_stats) as one JSON line on stderr when it ends, and with
 * --stats-interval every MS ms too, from the tool's timer (which serve has no other use for),
 * so stdout stays the stream of events.
 */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say_error(tool_t *t, const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", t->prog, what, nipc_strerror(err), nipc_err_name(err));
}

static void answer(tool_t *t, const nipc_event_t *ev)
{
    int err = 0;
    if (ev->bytes != NULL) {
        if (t->echo)
            err = nipc_server_send(ev->server, ev->socket, ev->bytes, ev->size);
        else if (t->reply_type != NULL)
            err = nipc_server_send_text(ev->server, ev->socket, t->reply_type);
    } else if (ev->request != 0) {
        err = nipc_reply(ev, t->echo ? ev->data : t->reply_data);
    } else if (t->echo) {
        err = nipc_server_emit(ev->server, ev->socket, ev->type, ev->data);
    } else if (t->reply_type != NULL) {
        err = nipc_server_emit(ev->server, ev->socket, t->reply_type, t->reply_data);
    }
    if (err != 0)
        say_error(t, "cannot answer", err);
}

static void on_event(const nipc_event_t *ev, void *arg)
{
    tool_t *t = arg;
    if (strcmp(ev->type, "start") == 0) {
        json_t *line;
        const char *host = nipc_server_host(ev->server);
        if (host == NULL)
            line =
                json_pack("{s:s,s:s}", "event", "listening", "path", nipc_server_path(ev->server));
        else
            line = json_pack("{s:s,s:s,s:s,s:i}", "event", "listening", "transport",
                             t->ep == EP_TCP    ? (t->tls ? "tls" : "tcp")
                             : t->ep == EP_UDP4 ? "udp4"
                                                : "udp6",
                             "host", host, "port", nipc_server_port(ev->server));
        out_json(t, line);
        return;
    }
    out_event(t, ev);
    bool frame = ev->bytes != NULL || (!out_is_lifecycle(ev->type) && !t->cfg.raw_buffer);
    if (frame && ev->socket != NULL && (t->echo || t->reply_type != NULL))
        answer(t, ev);
}

static int on_line(void *arg, const char *line, size_t n)
{
    tool_t *t = arg;
    static size_t lineno;
    int err;
    lineno++;
    if (n == 0)
        return 0;
    if (t->cfg.raw_buffer) {
        err = nipc_server_broadcast_text(t->server, line);
    } else {
        json_t *obj, *data;
        const char *type;
        if (!tool_parse_line(t, line, lineno, &obj, &type, &data))
            return 0; /* the server goes on: one bad line is no reason to stop serving */
        err = nipc_server_broadcast(t->server, type, data);
        json_decref(obj);
    }
    if (err != 0)
        say_error(t, "cannot broadcast a line of stdin", err);
    return 0;
}

static void on_end(void *arg, int err)
{
    tool_t *t = arg;
    if (err != 0)
        say_error(t, "cannot read stdin", err);
}

static const char *const refused_names[NIPC_REFUSED_COUNT] = {
    [NIPC_REFUSED_MALFORMED] = "malformed",     [NIPC_REFUSED_BAD_TYPE] = "bad_type",
    [NIPC_REFUSED_RESERVED] = "reserved",       [NIPC_REFUSED_NAME_LENGTH] = "name_length",
    [NIPC_REFUSED_NOT_ALLOWED] = "not_allowed", [NIPC_REFUSED_TOO_LARGE] = "too_large",
    [NIPC_REFUSED_TIMED_OUT] = "timed_out",
};

/* {"event":"stats","final":F,"connected":N,"frames_in":...,"refused":{...},...} on stderr. */
static void print_stats(tool_t *t, bool final)
{
    nipc_stats_t st;
    if (nipc_server_stats(t->server, &st) != 0)
        return;
    json_t *refused = json_object();
    for (int i = 0; i < NIPC_REFUSED_COUNT; i++)
        json_object_set_new(refused, refused_names[i], json_integer((json_int_t)st.refused[i]));
    json_t *line = json_pack(
        "{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I}", "event",
        "stats", "final", final, "connected", (json_int_t)nipc_server_socket_count(t->server),
        "connections", (json_int_t)st.connections, "connections_refused",
        (json_int_t)st.connections_refused, "frames_in", (json_int_t)st.frames_in, "bytes_in",
        (json_int_t)st.bytes_in, "frames_out", (json_int_t)st.frames_out, "bytes_out",
        (json_int_t)st.bytes_out, "queued_bytes", (json_int_t)st.queued_bytes, "queued_peak",
        (json_int_t)st.queued_peak, "refused", refused, "queue_full", (json_int_t)st.queue_full,
        "dropped_frames", (json_int_t)st.dropped_frames, "dropped_bytes",
        (json_int_t)st.dropped_bytes);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text != NULL) {
        fprintf(stderr, "%s\n", text);
        fflush(stderr);
    }
    free(text);
    json_decref(line);
}

static void on_stats_timer(uv_timer_t *timer)
{
    print_stats(timer->data, false);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    tool_t *t = sig->data;
    (void)signum;
    tool_close_own(t);
    nipc_stop(t->ipc);
}

int serve_run(tool_t *t)
{
    nipc_server_t *s = NULL;
    int err;
    char where[512];
    switch (t->ep) {
    case EP_ID:
        err = nipc_serve(t->ipc, NULL, &s);
        break;
    case EP_PATH:
        err = nipc_serve(t->ipc, t->path, &s);
        break;
    case EP_TCP:
        err = nipc_serve_net(t->ipc, t->host[0] ? t->host : NULL, t->port, NIPC_TCP, &s);
        break;
    default:
        err = nipc_serve_net(t->ipc, t->host[0] ? t->host : NULL, t->port,
                             t->ep == EP_UDP4 ? NIPC_UDP4 : NIPC_UDP6, &s);
    }
    if (err == 0) {
        t->server = s;
        nipc_server_on(s, NIPC_EVENT_ANY, on_event, t);
        err = nipc_server_start(s);
    }
    if (err != 0) {
        fprintf(stderr, "%s: cannot listen on %s: %s (%s)%s\n", t->prog,
                tool_where(t, where, sizeof(where)), nipc_strerror(err), nipc_err_name(err),
                err == UV_EADDRINUSE ? "; another server is there: stop it or pick another"
                : err == UV_ENOENT   ? "; the directory does not exist"
                                     : "");
        return EXIT_RUNTIME;
    }
    tool_signals(t, on_signal);
    if (t->stats_ms != 0)
        uv_timer_start(&t->timer, on_stats_timer, t->stats_ms, t->stats_ms);
    if (t->use_stdin && (err = lines_open(&t->in, nipc_loop(t->ipc), on_line, on_end, t)) != 0)
        say_error(t, "cannot read stdin", err);
    nipc_run(t->ipc);
    if (t->stats)
        print_stats(t, true);
    return t->status;
}
