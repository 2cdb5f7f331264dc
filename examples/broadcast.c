/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's Multi-Client-Broadcast example (unixWindowsSocket/, TCPSocket/) in C: one
 * server, several clients, and a broadcast that tells them all to go (`broadcast --help`).
 *
 *   broadcast --role world [--path PATH | --tcp [PORT]]
 *       answers each `app.message` with {"id":"world","message":<data.message> + " world!"};
 *       once it has heard from both hello and goodbye, it broadcasts `kill.connection`
 *       {"id":"world"} to every client
 *   broadcast --role hello|goodbye [--path PATH | --tcp [PORT]]
 *       emits `app.message` {"id":<role>,"message":<role>}, prints the answer, and on
 *       `kill.connection` disconnects and exits
 *
 * Start world, then hello and goodbye in any order: both exit once the second has spoken.
 * Any side may be node-ipc's own (test/examples/broadcast.js is one).
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: broadcast [--role world|hello|goodbye] [--path PATH | --tcp [PORT]]\n"
    "                 [--timeout SECONDS]\n"
    "       broadcast -h | --help\n"
    "\n"
    "node-ipc's Multi-Client-Broadcast example. hello and goodbye each emit `app.message`\n"
    "with their id and get data.message + \" world!\" back; once world has heard from both\n"
    "it broadcasts `kill.connection`, and each client disconnects and exits.\n"
    "\n"
    "  --role world          the server (the default); runs until SIGINT or SIGTERM\n"
    "  --role hello|goodbye  a client, with that id\n"
    "  (no option)           node-ipc's default Unix socket, /tmp/app.world\n"
    "  --path PATH           a Unix socket at PATH\n"
    "  --tcp [PORT]          TCP, 127.0.0.1 port PORT (default 8000)\n"
    "  --timeout SECONDS     a client: give up after SECONDS without kill.connection\n"
    "                        (default 10)\n"
    "  -h, --help            print this help and exit\n"
    "\n"
    "Exit status: 0 when done, 1 when something failed or a client timed out, 2 for a bad\n"
    "command line.\n";

static bool heard_hello, heard_goodbye; /* world */
static bool killed;                     /* a client: world sent kill.connection */

static void on_world_message(const nipc_event_t *ev, void *arg)
{
    const char *id = json_string_value(json_object_get(ev->data, "id"));
    char *text = nipc_js_string(json_object_get(ev->data, "message"));
    nipc_log(arg, "got a message from %s : %s", id ? id : "?", text ? text : "?");
    printf("world <- %s: %s\n", id ? id : "?", text ? text : "?");
    heard_hello |= id != NULL && strcmp(id, "hello") == 0;
    heard_goodbye |= id != NULL && strcmp(id, "goodbye") == 0;
    if (text != NULL)
        nipc_server_emitf(ev->server, ev->socket, "app.message", "{s:s, s:s+}", "id", "world",
                          "message", text, " world!");
    free(text);
    if (heard_hello && heard_goodbye) {
        printf("world: heard from hello and goodbye, telling every client to go\n");
        nipc_server_broadcastf(ev->server, "kill.connection", "{s:s}", "id", "world");
    }
    fflush(stdout);
}

static void on_world_disconnected(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    const char *id = nipc_socket_id(ev->socket);
    printf("world: %s has disconnected\n", id != NULL ? id : "a client without an id");
    fflush(stdout);
}

static void on_client_connect(const nipc_event_t *ev, void *arg)
{
    const char *id = nipc_config(arg)->id;
    nipc_client_emitf(ev->client, "app.message", "{s:s, s:s}", "id", id, "message", id);
}

static void on_client_message(const nipc_event_t *ev, void *arg)
{
    printf("%s <- world: %s\n", nipc_config(arg)->id,
           json_string_value(json_object_get(ev->data, "message")));
    fflush(stdout);
}

static void on_kill(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    printf("%s: world requested kill.connection\n", nipc_config(arg)->id);
    fflush(stdout);
    killed = true;
    nipc_disconnect(arg, "world");
}

int main(int argc, char **argv)
{
    static const char *const roles[] = {"world", "hello", "goodbye", NULL};
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.retry = 1500;
    cfg.silent = true;

    cli_t cli = {.prog = "broadcast",
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

    static const cli_handler_t world_on[] = {{"app.message", on_world_message},
                                             {"socket.disconnected", on_world_disconnected},
                                             {NULL, NULL}};
    static const cli_handler_t client_on[] = {{"connect", on_client_connect},
                                              {"app.message", on_client_message},
                                              {"kill.connection", on_kill},
                                              {NULL, NULL}};
    nipc_t *ipc;
    if (cli_start(&ipc, &cfg, &cli, world, world ? world_on : client_on) != 0)
        return 1;
    if (cli_run(ipc, world ? 0 : cli.timeout_s) != 0)
        fprintf(stderr, "broadcast: no kill.connection within %u s\n", cli.timeout_s);
    nipc_free(ipc);
    return world || killed ? 0 : 1;
}
