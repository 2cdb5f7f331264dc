/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic Unix socket server, in C. Serves as id "world" on the default path
 * (/tmp/app.world), answers every `message` whose data is a string with that string +
 * " world!", and logs each client that leaves, by the id it sent in data.id.
 * Stops cleanly on SIGINT or SIGTERM.
 */
#include <nipc.h>

#include <stdio.h>

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

static void on_disconnected(const nipc_event_t *ev, void *arg)
{
    const char *id = nipc_socket_id(ev->socket);
    if (id != NULL)
        nipc_log(arg, "client %s has disconnected!", id);
}

static void on_start(const nipc_event_t *ev, void *arg)
{
    nipc_log(arg, "world is listening on %s", nipc_server_path(ev->server));
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    uv_stop(sig->loop);
}

int main(void)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.id = "world";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    nipc_t *ipc;
    nipc_server_t *server;
    int err = nipc_new(&ipc, NULL, &cfg);
    if (err == 0)
        err = nipc_serve(ipc, NULL, &server);
    if (err == 0) {
        nipc_server_on(server, "start", on_start, ipc);
        nipc_server_on(server, "message", on_message, ipc);
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
