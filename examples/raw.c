/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's rawBuffer examples (unixWindowsSocket/rawBuffer, TCPSocket/rawBuffer) in C:
 * raw mode, where bytes go as they are, with no JSON and no framing (`raw --help`).
 *
 *   raw --role world [--path PATH | --tcp [PORT]]   greets each client with "hello", and
 *                                                   answers each read with "goodbye"
 *   raw --role hello [--path PATH | --tcp [PORT]]   sends "hello", prints what it reads
 *
 * Both use node-ipc's config: rawBuffer true, encoding ascii. Either side may be node-ipc's
 * own (test/examples/raw.js is one): with raw world and node's hello-client.js, or node's
 * world.server.js and raw hello, the client gets "hello" then "goodbye". Raw mode has no
 * framing, so the two may arrive as one read, "hellogoodbye": hello prints each read and
 * stops once it has the twelve bytes (node-ipc's hello runs on).
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: raw [--role world|hello] [--path PATH | --tcp [PORT]] [--timeout SECONDS]\n"
    "       raw -h | --help\n"
    "\n"
    "node-ipc's rawBuffer example: no JSON, no framing, ascii bytes. world sends \"hello\" to\n"
    "each client that connects and \"goodbye\" for each read it gets; hello sends \"hello\",\n"
    "prints each read and exits once it has \"hellogoodbye\".\n"
    "\n"
    "  --role world   the server (the default); runs until SIGINT or SIGTERM\n"
    "  --role hello   the client\n"
    "  (no option)    node-ipc's default Unix socket, /tmp/app.world\n"
    "  --path PATH    a Unix socket at PATH\n"
    "  --tcp [PORT]   TCP, 127.0.0.1 port PORT (default 8000)\n"
    "  --timeout SECONDS  hello: give up after SECONDS (default 10)\n"
    "  -h, --help     print this help and exit\n"
    "\n"
    "Exit status: 0 when done, 1 when something failed or hello timed out, 2 for a bad\n"
    "command line.\n";

#define EXPECTED "hellogoodbye"

static size_t got; /* hello: how much of EXPECTED has arrived */
static int status = 1;

static void on_world_connect(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_send_text(ev->server, ev->socket, "hello");
}

static void on_world_data(const nipc_event_t *ev, void *arg)
{
    printf("world <- hello: %.*s\n", (int)ev->size, ev->bytes);
    fflush(stdout);
    (void)arg;
    nipc_server_send_text(ev->server, ev->socket, "goodbye");
}

static void on_hello_connect(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_client_send_text(ev->client, "hello");
}

static void on_hello_data(const nipc_event_t *ev, void *arg)
{
    printf("hello <- world: %.*s\n", (int)ev->size, ev->bytes);
    fflush(stdout);
    bool fits =
        got + ev->size <= strlen(EXPECTED) && memcmp(&EXPECTED[got], ev->bytes, ev->size) == 0;
    got += ev->size;
    if (!fits) {
        fprintf(stderr, "raw: world sent other bytes than \"" EXPECTED "\"\n");
        nipc_disconnect(arg, "world");
    } else if (got == strlen(EXPECTED)) {
        status = 0;
        nipc_disconnect(arg, "world");
    }
}

int main(int argc, char **argv)
{
    static const char *const roles[] = {"world", "hello", NULL};
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.retry = 1500;
    cfg.raw_buffer = true;
    cfg.encoding = "ascii";
    cfg.silent = true;

    cli_t cli = {.prog = "raw",
                 .help = help,
                 .client = true,
                 .stream_only = true,
                 .roles = roles,
                 .role = "world",
                 .port = cfg.network_port,
                 .timeout_s = 10};
    int rc = cli_parse(&cli, argc, argv);
    if (rc >= 0)
        return rc;
    bool world = cli_is(&cli, "world");
    cfg.id = cli.role;

    static const cli_handler_t world_on[] = {
        {"connect", on_world_connect}, {"data", on_world_data}, {NULL, NULL}};
    static const cli_handler_t hello_on[] = {
        {"connect", on_hello_connect}, {"data", on_hello_data}, {NULL, NULL}};
    nipc_t *ipc;
    if (cli_start(&ipc, &cfg, &cli, world, world ? world_on : hello_on) != 0)
        return 1;

    if (cli_run(ipc, world ? 0 : cli.timeout_s) != 0)
        fprintf(stderr, "raw: no \"" EXPECTED "\" within %u s\n", cli.timeout_s);
    nipc_free(ipc);
    return world ? 0 : status;
}
