/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic server examples, in C, as "world" (`world --help` for the options).
 *
 * On a Unix socket or TCP it answers every `message` with its data + " world!", converted as
 * JavaScript's `data + ' world!'` does in node-ipc's example (nipc_js_string()): "hello"
 * gives "hello world!", 5 "5 world!", [1,2] "1,2 world!", {"a":1} "[object Object] world!".
 * So a Node hello, or any node-ipc client, sees the answers node-ipc's world would give. It
 * logs each client that leaves by the id it sent in data.id.
 *
 * Over UDP it is node-ipc's README UDP server: each `message` is answered with
 * {"from":"world","message":<data.message> + " world!"}, sent to the address and port the
 * datagram came from.
 *
 * Over TLS (--tls, with --cert and --key) it is node-ipc's TLS "basic" example: the same
 * answers, encrypted, from a server whose certificate the client verifies. With --ca it is
 * "basic-most-secure": world asks each client for a certificate, refuses one without a
 * certificate from those CAs (mutual TLS), and logs the subject of each client's certificate
 * when it connects. nipc publishes `connect` only after the handshake, so the subject is
 * known then.
 *
 * Stops cleanly on SIGINT or SIGTERM.
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: world [--path PATH | --tcp [PORT] | --udp4 [PORT] | --udp6 [PORT]]\n"
    "       world --tls [PORT] --cert FILE --key FILE [--ca FILE]...\n"
    "       world ... [--silent | --log-payloads]\n"
    "       world -h | --help\n"
    "\n"
    "node-ipc's basic server example. Answers each `message` with its data + \" world!\",\n"
    "written as JavaScript converts it (\"hello world!\", \"5 world!\", \"1,2 world!\",\n"
    "\"[object Object] world!\"), and logs each client that leaves by the id it sent in\n"
    "data.id. Over UDP the answer is {\"from\":\"world\",\"message\":M + \" world!\"},\n"
    "where M is data.message, sent to the address and port the message came from.\n"
    "\n"
    "  (no option)    listen on node-ipc's default Unix socket, /tmp/app.world\n"
    "  --path PATH    listen on a Unix socket at PATH\n"
    "  --tcp [PORT]   listen on TCP, 127.0.0.1 port PORT (default 8000)\n"
    "  --tls [PORT]   listen on TLS over TCP, 127.0.0.1 port PORT (default 8000)\n"
    "  --udp4 [PORT]  listen on UDP, 127.0.0.1 port PORT (default 8000)\n"
    "  --udp6 [PORT]  listen on UDP, ::1 port PORT (default 8000)\n"
    "  --cert FILE    with --tls, required: world's certificate, PEM (its chain may follow)\n"
    "  --key FILE     with --tls, required: that certificate's private key, PEM, unencrypted\n"
    "  --ca FILE      with --tls: require a client certificate issued by a CA in FILE (PEM;\n"
    "                 a file may hold several CAs, and --ca may be given up to 8 times)\n"
    "  --silent       no log lines (config.silent); world logs each message, and nipc\n"
    "                 each event received and sent, by default, as node-ipc does\n"
    "  --log-payloads nipc's event lines show each event's data too (log_payloads)\n"
    "  -h, --help     print this help and exit\n"
    "\n"
    "With --tls alone world is node-ipc's TLS basic example: encrypted, and clients can\n"
    "verify world's certificate. With --ca it is the basic-most-secure example, mutual TLS:\n"
    "a client without a valid certificate is refused, and world logs the certificate\n"
    "subject of each client that connects.\n"
    "\n"
    "PORT is a decimal number from 1 to 65535. world runs until SIGINT or SIGTERM.\n"
    "Exit status: 0 once stopped, 1 when it cannot listen (a port in use, a certificate or\n"
    "key refused), 2 for a bad command line (a FILE that cannot be read is one).\n";

/* Logs a `message` as node-ipc's world does: ipc.log('got a message : ', data). */
static void log_message(nipc_t *ipc, const json_t *data)
{
    nipc_log_json(ipc, data, "got a message :");
}

/* Sends the answer, or says why there is none. */
static void answer(const nipc_event_t *ev, json_t *reply)
{
    int err =
        reply != NULL ? nipc_server_emit_new(ev->server, ev->socket, "message", reply) : UV_ENOMEM;
    if (err)
        fprintf(stderr, "world: cannot answer: %s\n", nipc_strerror(err));
}

/* data + " world!": JavaScript's conversion of data to a string, then the words. */
static json_t *plus_world(const json_t *data)
{
    static const char words[] = " world!";
    char *text = nipc_js_string(data), small[256];
    size_t n = text != NULL ? strlen(text) : 0;
    char *s = n + sizeof words <= sizeof small ? small : malloc(n + sizeof words);
    json_t *reply = NULL;
    if (text != NULL && s != NULL) {
        memcpy(s, text, n);
        memcpy(s + n, words, sizeof words);
        reply = json_stringn(s, n + sizeof words - 1);
    }
    if (s != small)
        free(s);
    free(text);
    return reply;
}

static void on_message(const nipc_event_t *ev, void *arg)
{
    log_message(arg, ev->data);
    answer(ev, plus_world(ev->data));
}

/* UDP: data is {from, message}; the answer goes back to the sender's address and port. */
static void on_udp_message(const nipc_event_t *ev, void *arg)
{
    nipc_t *ipc = arg;
    log_message(ipc, ev->data);
    /* data.message: undefined when data is not an object or has no such key. */
    char *text = nipc_js_string(json_object_get(ev->data, "message"));
    answer(ev, text != NULL ? json_pack("{s:s, s:s+}", "from", nipc_config(ipc)->id, "message",
                                        text, " world!")
                            : NULL);
    free(text);
}

/* TLS: a client is in once its handshake is over, with the subject of its certificate
 * (mutual TLS) verified by then. */
static void on_connect(const nipc_event_t *ev, void *arg)
{
    const char *subject = nipc_socket_tls_subject(ev->socket);
    if (subject != NULL)
        nipc_log(arg, "client connected over TLS, certificate subject: %s", subject);
    else
        nipc_log(arg, "client connected over TLS, no client certificate");
}

/* A client's failed handshake (over TLS: its certificate refused, none sent where one is
 * required) or a bad frame: that client is closed, and world goes on. */
static void on_error(const nipc_event_t *ev, void *arg)
{
    nipc_log(arg, "client error: %s (%s)", nipc_strerror(ev->status), nipc_err_name(ev->status));
}

static void on_disconnected(const nipc_event_t *ev, void *arg)
{
    const char *id = nipc_socket_id(ev->socket);
    if (id != NULL)
        nipc_log(arg, "client %s has disconnected!", id);
}

static void on_start(const nipc_event_t *ev, void *arg)
{
    if (nipc_server_path(ev->server) != NULL)
        nipc_log(arg, "world is listening on %s", nipc_server_path(ev->server));
    else
        nipc_log(arg, "world is listening on %s port %d%s", nipc_server_host(ev->server),
                 nipc_server_port(ev->server), nipc_config(arg)->tls.enabled ? " over TLS" : "");
}

static uv_signal_t sigint, sigterm;

/* Ctrl-C or SIGTERM: what was emitted is still written, then nipc_run() returns. The signal
 * handles are this program's own: it closes them, or the loop would never end. */
static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    nipc_stop(sig->data);
}

static int serve(nipc_t *ipc, const cli_t *cli, nipc_server_t **server)
{
    switch (cli->transport) {
    case CLI_UNIX:
        return nipc_serve(ipc, cli->path, server);
    case CLI_TCP:
    case CLI_TLS: /* config.tls turns TCP into TLS */
        return nipc_serve_net(ipc, NULL, cli->port, NIPC_TCP, server);
    case CLI_UDP4:
        return nipc_serve_net(ipc, NULL, cli->port, NIPC_UDP4, server);
    case CLI_UDP6:
        return nipc_serve_net(ipc, "::1", cli->port, NIPC_UDP6, server);
    }
    return UV_EINVAL;
}

int main(int argc, char **argv)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.id = "world";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    cli_t cli = {.prog = "world", .help = help, .port = cfg.network_port, .log_opts = true};
    int status = cli_parse(&cli, argc, argv);
    if (status >= 0)
        return status;
    cfg.silent = cli.silent;
    cfg.log_payloads = cli.log_payloads;
    bool udp = cli.transport == CLI_UDP4 || cli.transport == CLI_UDP6;
    if (cli.transport == CLI_TLS) {
        cfg.tls.enabled = true;
        cfg.tls.public_cert = cli.cert;
        cfg.tls.private_key = cli.key;
        if (cli.ca[0] != NULL) { /* mutual TLS: a client without a valid certificate is out */
            cfg.tls.trusted_connections = cli.ca;
            cfg.tls.request_cert = true;
            cfg.tls.reject_unauthorized = true;
        }
    }

    nipc_t *ipc;
    nipc_server_t *server;
    int err = nipc_new(&ipc, NULL, &cfg);
    if (err == 0)
        err = serve(ipc, &cli, &server);
    if (err == 0) {
        nipc_server_on(server, "start", on_start, ipc);
        nipc_server_on(server, "message", udp ? on_udp_message : on_message, ipc);
        nipc_server_on(server, "socket.disconnected", on_disconnected, ipc);
        if (!udp)
            nipc_server_on(server, "error", on_error, ipc);
        if (cli.transport == CLI_TLS)
            nipc_server_on(server, "connect", on_connect, ipc);
        err = nipc_server_start(server);
    }
    if (err != 0) {
        fprintf(stderr, "world: cannot listen: %s (%s)\n", nipc_strerror(err), nipc_err_name(err));
        nipc_free(ipc);
        return 1;
    }

    uv_signal_init(nipc_loop(ipc), &sigint);
    uv_signal_init(nipc_loop(ipc), &sigterm);
    sigint.data = sigterm.data = ipc;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);

    nipc_run(ipc);
    nipc_log(ipc, "world stopped");
    nipc_free(ipc);
    return 0;
}
