/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's UDP Multi-Client-Broadcast example (UDPSocket/Multi-Client-Broadcast) in C
 * (`udp_broadcast --help`). UDP has no connections: each "client" is a UDP server of its own
 * that sends to world's port, and world answers to where each datagram came from.
 *
 *   udp_broadcast --role world [--udp4 [PORT] | --udp6 [PORT]]
 *       answers each `message` with {"id":"world","message":<data.message> + " world!"};
 *       once it has heard from hello and goodbye it broadcasts `message` "Everybody Loves
 *       The World! Got messages from hello and goodbye!" to every sender it heard from
 *   udp_broadcast --role hello|goodbye [--udp4 [PORT] | --udp6 [PORT]] [--local-port PORT]
 *       binds its own port (any free one by default), sends {"id":<role>,"message":"Hello"}
 *       (goodbye: "Goodbye") to world, prints what world sends, and exits once world's
 *       broadcast has come
 *
 * Start world, then hello, then goodbye. node-ipc's own world (test/examples/udp_broadcast.js
 * is one) answers, but its UDP broadcast reaches no one (node-ipc keeps no list of UDP
 * senders): against it a client prints the answer only, and exits 0 at --timeout.
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: udp_broadcast [--role world|hello|goodbye] [--udp4 [PORT] | --udp6 [PORT]]\n"
    "                     [--local-port PORT] [--timeout SECONDS]\n"
    "       udp_broadcast -h | --help\n"
    "\n"
    "node-ipc's UDP Multi-Client-Broadcast example. hello and goodbye, each on a UDP port of\n"
    "its own, send world `message` and get data.message + \" world!\" back; once world has\n"
    "heard from both it broadcasts \"Everybody Loves The World!...\" to every sender.\n"
    "\n"
    "  --role world          the server (the default); runs until SIGINT or SIGTERM\n"
    "  --role hello|goodbye  a client, with that id\n"
    "  --udp4 [PORT]         world at 127.0.0.1 port PORT (the default, port 8000)\n"
    "  --udp6 [PORT]         world at ::1 port PORT (default 8000)\n"
    "  --local-port PORT     a client's own port (default: any free port)\n"
    "  --timeout SECONDS     a client: stop waiting for the broadcast after SECONDS\n"
    "                        (default 10)\n"
    "  -h, --help            print this help and exit\n"
    "\n"
    "Exit status: 0 once a client has world's answer (at the broadcast, or at --timeout\n"
    "without it), 1 when it has no answer or something failed, 2 for a bad command line.\n";

#define EVERYBODY "Everybody Loves The World! Got messages from hello and goodbye!"

static bool heard_hello, heard_goodbye; /* world */
static const char *world_host;          /* a client: where world is */
static int world_port;
static bool answered; /* a client: world answered */

static void on_world_message(const nipc_event_t *ev, void *arg)
{
    const char *id = json_string_value(json_object_get(ev->data, "id"));
    char *text = nipc_js_string(json_object_get(ev->data, "message"));
    nipc_log(arg, "got a message from %s : %s", id ? id : "?", text ? text : "?");
    printf("world <- %s: %s\n", id ? id : "?", text ? text : "?");
    heard_hello |= id != NULL && strcmp(id, "hello") == 0;
    heard_goodbye |= id != NULL && strcmp(id, "goodbye") == 0;
    if (text != NULL)
        nipc_server_emitf(ev->server, ev->socket, "message", "{s:s, s:s+}", "id", "world",
                          "message", text, " world!");
    free(text);
    if (heard_hello && heard_goodbye) {
        printf("world: heard from hello and goodbye, telling every sender\n");
        nipc_server_broadcastf(ev->server, "message", "{s:s, s:s}", "id", "world", "message",
                               EVERYBODY);
    }
    fflush(stdout);
}

static void on_client_start(const nipc_event_t *ev, void *arg)
{
    const char *id = nipc_config(arg)->id;
    nipc_server_emit_to_new(ev->server, world_host, world_port, "message",
                            json_pack("{s:s, s:s}", "id", id, "message",
                                      strcmp(id, "hello") == 0 ? "Hello" : "Goodbye"));
}

static void on_client_message(const nipc_event_t *ev, void *arg)
{
    const char *text = json_string_value(json_object_get(ev->data, "message"));
    printf("%s <- world: %s\n", nipc_config(arg)->id, text != NULL ? text : "?");
    fflush(stdout);
    if (text != NULL && strcmp(text, EVERYBODY) == 0)
        nipc_server_stop(ev->server);
    else
        answered = true;
}

int main(int argc, char **argv)
{
    static const char *const roles[] = {"world", "hello", "goodbye", NULL};
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = true;

    cli_t cli = {.prog = "udp_broadcast",
                 .help = help,
                 .client = true,
                 .udp_only = true,
                 .roles = roles,
                 .role = "world",
                 .transport = CLI_UDP4,
                 .port = cfg.network_port,
                 .timeout_s = 10};
    int rc = cli_parse(&cli, argc, argv);
    if (rc >= 0)
        return rc;
    bool world = cli_is(&cli, "world");
    cfg.id = cli.role;
    world_host = cli.transport == CLI_UDP6 ? "::1" : "127.0.0.1";
    world_port = cli.port;

    static const cli_handler_t world_on[] = {{"message", on_world_message}, {NULL, NULL}};
    static const cli_handler_t client_on[] = {
        {"start", on_client_start}, {"message", on_client_message}, {NULL, NULL}};
    cli_t own = cli; /* a client is a UDP server too, on its own port */
    own.port = cli.local_port;
    nipc_t *ipc;
    if (cli_start(&ipc, &cfg, world ? &cli : &own, true, world ? world_on : client_on) != 0)
        return 1;
    if (cli_run(ipc, world ? 0 : cli.timeout_s) != 0)
        fprintf(stderr, "udp_broadcast: no broadcast within %u s\n", cli.timeout_s);
    nipc_free(ipc);
    return world || answered ? 0 : 1;
}
