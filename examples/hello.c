/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic client examples, in C, as "hello" (`hello --help` for the options).
 *
 * On a Unix socket or TCP it connects to world (retrying every 1.5 s until world is up),
 * emits `message` "hello" and prints the answer; then it says goodbye with its id in
 * data.id, so world can name it when it leaves, and disconnects: what was emitted is written
 * before the socket closes.
 *
 * Over UDP it is node-ipc's README UDP client, which is a second UDP server: it binds its
 * own socket (any free port, unless --local-port says which), sends
 * {"from":"hello","message":"Hello"} to world's address and port, and prints the answer.
 * Only a datagram from world's address and port is an answer; hello refuses to run on
 * world's port, where it would hear itself.
 *
 * Over TLS (--tls) it is node-ipc's TLS "basic" client: it verifies world's certificate,
 * against the CAs of --ca, and that it names 127.0.0.1, before anything is sent. With --cert
 * and --key it also presents a client certificate, as node-ipc's "basic-most-secure" client
 * does for a world that requires one (world --ca). A certificate refused on either side
 * ends hello at once (nipc does not retry a failed verification), naming the cause.
 *
 * Exits 0 once world has answered, 1 when world has not answered within the timeout (10 s
 * by default) or something failed, 2 for a bad command line.
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: hello [--path PATH | --tcp [PORT] | --udp4 [PORT] | --udp6 [PORT]]\n"
    "             [--local-port PORT] [--timeout SECONDS]\n"
    "       hello --tls [PORT] [--ca FILE]... [--cert FILE --key FILE] [--timeout SECONDS]\n"
    "       hello -h | --help\n"
    "\n"
    "node-ipc's basic client example. Connects to world, emits `message` \"hello\", prints\n"
    "the answer, says goodbye with its id in data.id and disconnects. Over UDP it is\n"
    "node-ipc's README UDP client: it sends {\"from\":\"hello\",\"message\":\"Hello\"} from its\n"
    "own UDP socket to world and prints the answer.\n"
    "\n"
    "  (no option)        world's Unix socket at node-ipc's default path, /tmp/app.world\n"
    "  --path PATH        world's Unix socket at PATH\n"
    "  --tcp [PORT]       world over TCP at 127.0.0.1 port PORT (default 8000)\n"
    "  --tls [PORT]       world over TLS over TCP at 127.0.0.1 port PORT (default 8000)\n"
    "  --udp4 [PORT]      world over UDP at 127.0.0.1 port PORT (default 8000)\n"
    "  --udp6 [PORT]      world over UDP at ::1 port PORT (default 8000)\n"
    "  --local-port PORT  with --udp4 or --udp6: hello's own port (default: any free port);\n"
    "                     it must not be world's\n"
    "  --ca FILE          with --tls: trust the CAs in FILE (PEM) to have issued world's\n"
    "                     certificate, instead of the system's; may be given up to 8 times\n"
    "  --cert FILE        with --tls: present this client certificate (PEM) to world, for\n"
    "                     a world that requires one (world --ca)\n"
    "  --key FILE         with --cert: its private key, PEM, unencrypted\n"
    "  --timeout SECONDS  give up when world has not answered within SECONDS (1-3600,\n"
    "                     default 10); until then hello retries every 1.5 s\n"
    "  -h, --help         print this help and exit\n"
    "\n"
    "Over TLS hello verifies world's certificate, and that it is for 127.0.0.1, before it\n"
    "sends anything. A certificate refused, world's by hello or hello's by world, is final:\n"
    "hello exits at once, naming the cause, without retrying.\n"
    "\n"
    "PORT is a decimal number from 1 to 65535.\n"
    "Exit status: 0 when world answered, 1 when it did not in time or something failed (a\n"
    "certificate refused), 2 for a bad command line (a FILE that cannot be read is one).\n";

typedef struct hello {
    nipc_t *ipc;
    nipc_server_t *udp;     /* hello's own UDP socket, or NULL over a stream */
    const char *world_host; /* UDP: where world is */
    int world_port;
    unsigned timeout_s;
    uv_timer_t timeout;
    int status;   /* the exit status: 1 until world answers */
    int last_err; /* the client's last error, the cause when it gives up */
    bool done;
} hello_t;

/* Ends the exchange: the client's disconnect, or the UDP socket's close, lets nipc_run()
 * return. */
static void finish(hello_t *h, int status)
{
    if (h->done)
        return;
    h->done = true;
    h->status = status;
    uv_timer_stop(&h->timeout);
    if (h->udp != NULL)
        nipc_server_stop(h->udp);
    else
        nipc_disconnect(h->ipc, "world");
}

/* Prints world's answer: a string as itself, anything else as JSON text. */
static void print_answer(hello_t *h, const json_t *data)
{
    char *json = json_is_string(data) ? NULL : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *text = json_is_string(data) ? json_string_value(data) : json;
    nipc_log(h->ipc, "got a message from world : %s", text != NULL ? text : "undefined");
    printf("hello <- world: %s\n", text != NULL ? text : "undefined");
    fflush(stdout);
    free(json);
}

static void on_timeout(uv_timer_t *t)
{
    hello_t *h = t->data;
    fprintf(stderr, "hello: no answer from world within %u s\n", h->timeout_s);
    finish(h, 1);
}

/* ---- Unix socket and TCP ------------------------------------------------------------------- */

static void on_connect(const nipc_event_t *ev, void *arg)
{
    hello_t *h = arg;
    const char *subject = nipc_client_tls_subject(ev->client);
    if (subject != NULL)
        nipc_log(h->ipc, "## connected to world over TLS, certificate subject: %s ##", subject);
    else
        nipc_log(h->ipc, "## connected to world ##");
    int err = nipc_client_emit_new(ev->client, "message", json_string("hello"));
    if (err) {
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
        finish(h, 1);
    }
}

static void on_message(const nipc_event_t *ev, void *arg)
{
    hello_t *h = arg;
    if (h->done)
        return;
    print_answer(h, ev->data);
    nipc_client_emitf(ev->client, "message", "{s:s, s:s}", "id", nipc_config(h->ipc)->id, "message",
                      "goodbye");
    finish(h, 0);
}

static void on_disconnect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    nipc_log(((hello_t *)arg)->ipc, "disconnected from world");
}

/* Ends hello for good: the client will not, or should not, try again. */
static void give_up(hello_t *h, int err)
{
    if (h->done)
        return;
    fprintf(stderr, "hello: cannot talk to world: %s (%s)\n", nipc_strerror(err),
            nipc_err_name(err));
    finish(h, 1);
}

/* A failure that the next attempt would meet again: a certificate refused, by either side,
 * no TLS version in common, or hello's own TLS configuration refused (UV_EINVAL: a --cert,
 * --key or --ca file that holds no certificate or key, a key that is not the certificate's;
 * nipc logs which). */
static bool refused(int err)
{
    return err == NIPC_ECERTEXPIRED || err == NIPC_ECERTUNTRUSTED || err == NIPC_ECERTNAME ||
           err == NIPC_ECERTINVALID || err == NIPC_ETLSVERSION || err == NIPC_ENOPEERCERT ||
           err == UV_EINVAL;
}

static void on_error(const nipc_event_t *ev, void *arg)
{
    hello_t *h = arg;
    h->last_err = ev->status;
    nipc_log(h->ipc, "error: %s (%s)", nipc_strerror(ev->status), nipc_err_name(ev->status));
    /* nipc does not retry a server certificate that failed hello's verification (`destroy`
     * follows). But with TLS 1.3 world judges hello's certificate after hello's side of the
     * handshake is done and `connect` has fired, so world's refusal arrives as the error of
     * a connection that was up, which nipc retries like any lost connection; and nipc
     * retries a configuration it refused. Each would fail the same way every time: hello
     * stops here. */
    if (refused(ev->status))
        give_up(h, ev->status);
}

/* The client stopped retrying before world answered. */
static void on_destroy(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    hello_t *h = arg;
    give_up(h, h->last_err);
}

/* ---- UDP ----------------------------------------------------------------------------------- */

static void on_udp_start(const nipc_event_t *ev, void *arg)
{
    hello_t *h = arg;
    int port = nipc_server_port(ev->server);
    nipc_log(h->ipc, "hello is bound to %s port %d", nipc_server_host(ev->server), port);
    if (port == h->world_port) { /* the system's choice fell on a port world does not hold */
        fprintf(stderr, "hello: bound to world's port %d, where hello would hear itself\n", port);
        finish(h, 1);
        return;
    }
    int err = nipc_server_emit_to_new(
        ev->server, h->world_host, h->world_port, "message",
        json_pack("{s:s, s:s}", "from", nipc_config(h->ipc)->id, "message", "Hello"));
    if (err) {
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
        finish(h, 1);
    }
}

static void on_udp_message(const nipc_event_t *ev, void *arg)
{
    hello_t *h = arg;
    const char *from = nipc_socket_address(ev->socket);
    int from_port = nipc_socket_port(ev->socket);
    if (h->done)
        return;
    /* hello's own port is never world's (see on_udp_start), so this also drops its own. */
    if (from == NULL || strcmp(from, h->world_host) != 0 || from_port != h->world_port) {
        nipc_log(h->ipc, "ignored a message from %s port %d, not world", from ? from : "?",
                 from_port);
        return;
    }
    print_answer(h, ev->data);
    finish(h, 0);
}

static int start(hello_t *h, const cli_t *cli)
{
    nipc_client_t *world;
    int err;

    switch (cli->transport) {
    case CLI_UNIX:
    case CLI_TCP:
    case CLI_TLS: /* config.tls turns TCP into TLS */
        err = cli->transport == CLI_UNIX
                  ? nipc_connect_to(h->ipc, "world", cli->path, &world)
                  : nipc_connect_to_net(h->ipc, "world", NULL, cli->port, &world);
        if (err == 0) {
            nipc_client_on(world, "connect", on_connect, h);
            nipc_client_on(world, "message", on_message, h);
            nipc_client_on(world, "disconnect", on_disconnect, h);
            nipc_client_on(world, "error", on_error, h);
            nipc_client_on(world, "destroy", on_destroy, h);
        }
        return err;
    case CLI_UDP4:
    case CLI_UDP6:
        h->world_host = cli->transport == CLI_UDP6 ? "::1" : "127.0.0.1";
        h->world_port = cli->port;
        err = nipc_serve_net(h->ipc, h->world_host, cli->local_port,
                             cli->transport == CLI_UDP6 ? NIPC_UDP6 : NIPC_UDP4, &h->udp);
        if (err == 0) {
            nipc_server_on(h->udp, "start", on_udp_start, h);
            nipc_server_on(h->udp, "message", on_udp_message, h);
            err = nipc_server_start(h->udp);
        }
        return err;
    }
    return UV_EINVAL;
}

int main(int argc, char **argv)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.id = "hello";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    cli_t cli = {
        .prog = "hello", .help = help, .client = true, .port = cfg.network_port, .timeout_s = 10};
    int status = cli_parse(&cli, argc, argv);
    if (status >= 0)
        return status;
    if (cli.transport == CLI_TLS) {
        cfg.tls.enabled = true; /* reject_unauthorized is on by default: world is verified */
        cfg.tls.trusted_connections = cli.ca[0] != NULL ? cli.ca : NULL;
        cfg.tls.public_cert = cli.cert;
        cfg.tls.private_key = cli.key;
    }

    hello_t h = {.timeout_s = cli.timeout_s, .status = 1};
    int err = nipc_new(&h.ipc, NULL, &cfg);
    if (err == 0)
        err = start(&h, &cli);
    if (err != 0) {
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
        nipc_free(h.ipc);
        return 1;
    }

    uv_timer_init(nipc_loop(h.ipc), &h.timeout);
    h.timeout.data = &h;
    uv_timer_start(&h.timeout, on_timeout, (uint64_t)cli.timeout_s * 1000, 0);
    uv_unref((uv_handle_t *)&h.timeout); /* the exchange alone keeps the loop running */

    nipc_run(h.ipc);

    uv_close((uv_handle_t *)&h.timeout, NULL);
    nipc_free(h.ipc);
    return h.status;
}
