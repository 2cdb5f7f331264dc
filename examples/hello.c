/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basic Unix socket client, in C. Connects to "world" on the default path
 * (/tmp/app.world), emits `message` "hello" and prints the answer. Then it says goodbye
 * with its id in data.id, so world can name it when it leaves, and disconnects: what was
 * emitted is written before the socket closes. Gives up after 10 seconds.
 */
#include <nipc.h>

#include <stdio.h>

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

static void on_timeout(uv_timer_t *t)
{
    fprintf(stderr, "hello: no answer from world within 10 s\n");
    uv_stop(t->loop);
}

int main(void)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.id = "hello";
    cfg.retry = 1500;
    cfg.log_in_color = false;

    nipc_t *ipc;
    nipc_client_t *world;
    int err = nipc_new(&ipc, NULL, &cfg);
    if (err == 0)
        err = nipc_connect_to(ipc, "world", NULL, &world);
    if (err != 0) {
        fprintf(stderr, "hello: %s\n", nipc_strerror(err));
        nipc_free(ipc);
        return 1;
    }
    nipc_client_on(world, "connect", on_connect, ipc);
    nipc_client_on(world, "message", on_message, ipc);
    nipc_client_on(world, "disconnect", on_disconnect, ipc);
    nipc_client_on(world, "error", on_error, ipc);

    uv_timer_t timeout;
    uv_timer_init(nipc_loop(ipc), &timeout);
    uv_timer_start(&timeout, on_timeout, 10000, 0);
    uv_unref((uv_handle_t *)&timeout); /* the client alone decides when the loop ends */

    nipc_run(ipc);

    uv_close((uv_handle_t *)&timeout, NULL);
    nipc_free(ipc);
    return status;
}
