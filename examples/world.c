/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic server examples, in C, as "world".
 *
 *   world               Unix socket at the default path (/tmp/app.world): answers every
 *                       `message` whose data is a string with that string + " world!", and
 *                       logs each client that leaves, by the id it sent in data.id.
 *   world --tcp [PORT]  the same over TCP on 127.0.0.1 (default port 8000).
 *   world --udp4 [PORT] node-ipc's UDP example on 127.0.0.1 (default 8000): answers each
 *                       `message` with {"from":"world","message":<message> + " world!"},
 *                       sent to the address and port the datagram came from.
 *   world --udp6 [PORT] the same on ::1.
 *
 * Stops cleanly on SIGINT or SIGTERM.
 */
#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_message(const nipc_event_t *ev, void *arg)
{
    nipc_t *ipc = arg;
    nipc_log(ipc, "got a message : %s",
             json_is_string(ev->data) ? json_string_value(ev->data) : "(not a string)");
    if (!json_is_string(ev->data))
        return;
    json_t *reply = json_sprintf("%s world!", json_string_value(ev->data));
    nipc_server_emit_new(ev->server, ev->socket, "message", reply);
}

/* UDP: data is {from, message}; the answer goes back to the sender's address and port. */
static void on_udp_message(const nipc_event_t *ev, void *arg)
{
    const char *text = json_string_value(json_object_get(ev->data, "message"));
    const char *from = json_string_value(json_object_get(ev->data, "from"));
    nipc_log(arg, "got a message from %s : %s", from ? from : "?", text ? text : "?");
    if (text == NULL)
        return;
    json_t *reply = json_pack("{s:s, s:s+}", "from", "world", "message", text, " world!");
    nipc_server_emit_new(ev->server, ev->socket, "message", reply);
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
        nipc_log(arg, "world is listening on %s port %d", nipc_server_host(ev->server),
                 nipc_server_port(ev->server));
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    uv_stop(sig->loop);
}

static int usage(void)
{
    fprintf(stderr, "usage: world [--tcp [PORT] | --udp4 [PORT] | --udp6 [PORT]]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : NULL;
    int port = argc > 2 ? atoi(argv[2]) : NIPC_PORT_DEFAULT;
    if (argc > 3 ||
        (mode && strcmp(mode, "--tcp") && strcmp(mode, "--udp4") && strcmp(mode, "--udp6")) ||
        (argc > 2 && (port <= 0 || port > 65535)))
        return usage();
    bool udp = mode && strncmp(mode, "--udp", 5) == 0;

    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.id = "world";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    nipc_t *ipc;
    nipc_server_t *server;
    int err = nipc_new(&ipc, NULL, &cfg);
    if (err == 0 && mode == NULL)
        err = nipc_serve(ipc, NULL, &server);
    else if (err == 0 && strcmp(mode, "--tcp") == 0)
        err = nipc_serve_net(ipc, NULL, port, NIPC_TCP, &server);
    else if (err == 0)
        err = nipc_serve_net(ipc, strcmp(mode, "--udp6") == 0 ? "::1" : NULL, port,
                             strcmp(mode, "--udp6") == 0 ? NIPC_UDP6 : NIPC_UDP4, &server);
    if (err == 0) {
        nipc_server_on(server, "start", on_start, ipc);
        nipc_server_on(server, "message", udp ? on_udp_message : on_message, ipc);
        nipc_server_on(server, "socket.disconnected", on_disconnected, ipc);
        err = nipc_server_start(server);
    }
    if (err != 0) {
        fprintf(stderr, "world: %s\n", nipc_strerror(err));
        nipc_free(ipc);
        return 1;
    }

    uv_signal_t sigint, sigterm;
    uv_signal_init(nipc_loop(ipc), &sigint);
    uv_signal_init(nipc_loop(ipc), &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);

    nipc_run(ipc);

    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    nipc_log(ipc, "world stopped");
    nipc_free(ipc);
    return 0;
}
