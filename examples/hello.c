/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic client examples, in C, as "hello".
 *
 *   hello               connects to "world" on the default Unix socket (/tmp/app.world),
 *                       emits `message` "hello" and prints the answer; then says goodbye
 *                       with its id in data.id, so world can name it when it leaves, and
 *                       disconnects: what was emitted is written before the socket closes.
 *   hello --tcp [PORT]  the same to world over TCP on 127.0.0.1 (default port 8000).
 *   hello --udp4 [PORT] node-ipc's UDP example: a UDP "client" is a second UDP server. It
 *                       binds 127.0.0.1 port 8001 (or PORT), sends
 *                       {"from":"hello","message":"Hello"} to 127.0.0.1:8000 and prints
 *                       the answer.
 *   hello --udp6 [PORT] the same on ::1.
 *
 * Gives up after 10 seconds.
 */
#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int status = 1;

static void on_connect(const nipc_event_t *ev, void *arg)
{
    nipc_log(arg, "## connected to world ##");
    nipc_client_emit_new(ev->client, "message", json_string("hello"));
}

static void on_message(const nipc_event_t *ev, void *arg)
{
    nipc_t *ipc = arg;
    const char *text = json_is_string(ev->data) ? json_string_value(ev->data) : "?";
    nipc_log(ipc, "got a message from world : %s", text);
    printf("hello <- world: %s\n", text);
    fflush(stdout);
    status = 0;
    nipc_client_emitf(ev->client, "message", "{s:s, s:s}", "id", nipc_config(ipc)->id, "message",
                      "goodbye");
    nipc_disconnect(ipc, "world");
}

static void on_disconnect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    nipc_log(arg, "disconnected from world");
}

static void on_error(const nipc_event_t *ev, void *arg)
{
    nipc_log(arg, "error: %s", nipc_strerror(ev->status));
}

/* ---- UDP ----------------------------------------------------------------------------------- */

static const char *udp_world; /* the address world listens on */

static void on_udp_start(const nipc_event_t *ev, void *arg)
{
    nipc_log(arg, "hello is bound to %s port %d", nipc_server_host(ev->server),
             nipc_server_port(ev->server));
    int err = nipc_server_emit_to_new(ev->server, udp_world, 8000, "message",
                                      json_pack("{s:s, s:s}", "from", "hello", "message", "Hello"));
    if (err)
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
}

static void on_udp_message(const nipc_event_t *ev, void *arg)
{
    char *text = json_dumps(ev->data, JSON_COMPACT);
    nipc_log(arg, "got a message from %s port %d : %s", nipc_socket_address(ev->socket),
             nipc_socket_port(ev->socket), text ? text : "?");
    printf("hello <- world: %s\n", text ? text : "?");
    fflush(stdout);
    free(text);
    status = 0;
    nipc_server_stop(ev->server);
}

static void on_timeout(uv_timer_t *t)
{
    fprintf(stderr, "hello: no answer from world within 10 s\n");
    uv_stop(t->loop);
}

static int usage(void)
{
    fprintf(stderr, "usage: hello [--tcp [PORT] | --udp4 [PORT] | --udp6 [PORT]]\n");
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
    cfg.id = "hello";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    nipc_t *ipc;
    int err = nipc_new(&ipc, NULL, &cfg);
    if (err == 0 && udp) {
        bool v6 = strcmp(mode, "--udp6") == 0;
        udp_world = v6 ? "::1" : "127.0.0.1";
        nipc_server_t *me;
        err = nipc_serve_net(ipc, udp_world, port == NIPC_PORT_DEFAULT ? 8001 : port,
                             v6 ? NIPC_UDP6 : NIPC_UDP4, &me);
        if (err == 0) {
            nipc_server_on(me, "start", on_udp_start, ipc);
            nipc_server_on(me, "message", on_udp_message, ipc);
            err = nipc_server_start(me);
        }
    } else if (err == 0) {
        nipc_client_t *world;
        err = mode == NULL ? nipc_connect_to(ipc, "world", NULL, &world)
                           : nipc_connect_to_net(ipc, "world", NULL, port, &world);
        if (err == 0) {
            nipc_client_on(world, "connect", on_connect, ipc);
            nipc_client_on(world, "message", on_message, ipc);
            nipc_client_on(world, "disconnect", on_disconnect, ipc);
            nipc_client_on(world, "error", on_error, ipc);
        }
    }
    if (err != 0) {
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
        nipc_free(ipc);
        return 1;
    }

    uv_timer_t timeout;
    uv_timer_init(nipc_loop(ipc), &timeout);
    uv_timer_start(&timeout, on_timeout, 10000, 0);
    uv_unref((uv_handle_t *)&timeout); /* the exchange alone decides when the loop ends */

    nipc_run(ipc);

    uv_close((uv_handle_t *)&timeout, NULL);
    nipc_free(ipc);
    return status;
}
