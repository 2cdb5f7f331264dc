/* SPDX-License-Identifier: MIT */
/*
 * node-ipc's basicSync example (unixWindowsSocket/basicSync, TCPSocket/basicSync) in C: a
 * client in sync mode, whose emits wait their turn (`sync --help`).
 *
 *   sync --role world [--path PATH | --tcp [PORT]] [--delay MS]
 *       answers each `app.message` after MS milliseconds (default 2000, as node-ipc's) with
 *       {"id":"world","message":<data.message> + " world!"}
 *   sync --role hello [--path PATH | --tcp [PORT]]
 *       with config.sync, emits `app.message` {"id":"hello","message":"hello0"} to "hello9"
 *       at once; nipc sends each only after world answered the one before. It prints each
 *       answer and exits once it has all ten.
 *
 * world logs how many messages wait for an answer when one arrives: with a sync client it is
 * always 1. Either side may be node-ipc's own (test/examples/sync.js is one).
 */
#include "cli.h"

#include <nipc.h>

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
    "usage: sync [--role world|hello] [--path PATH | --tcp [PORT]] [--delay MS]\n"
    "            [--timeout SECONDS]\n"
    "       sync -h | --help\n"
    "\n"
    "node-ipc's basicSync example. hello, a client with config.sync, emits ten `app.message`\n"
    "at once (\"hello0\" to \"hello9\"); each goes only once world answered the one before.\n"
    "world answers each after a delay with data.message + \" world!\".\n"
    "\n"
    "  --role world       the server (the default); runs until SIGINT or SIGTERM\n"
    "  --role hello       the sync client\n"
    "  (no option)        node-ipc's default Unix socket, /tmp/app.world\n"
    "  --path PATH        a Unix socket at PATH\n"
    "  --tcp [PORT]       TCP, 127.0.0.1 port PORT (default 8000)\n"
    "  --delay MS         world: wait MS milliseconds before each answer (default 2000)\n"
    "  --timeout SECONDS  hello: give up after SECONDS (default 60)\n"
    "  -h, --help         print this help and exit\n"
    "\n"
    "Exit status: 0 when done, 1 when something failed or hello timed out, 2 for a bad\n"
    "command line.\n";

#define COUNT 10

/* world: an answer waiting for its timer. A socket that closes first takes its answers
 * along (on_close), so no timer writes to a socket that is gone. */
typedef struct answer {
    uv_timer_t timer;
    nipc_server_t *server;
    nipc_socket_t *socket;
    json_t *data;
    struct answer *next;
} answer_t;

static answer_t *waiting; /* world's answers not sent yet */
static unsigned delay_ms;
static int answered; /* hello: answers received */

static size_t count_waiting(void)
{
    size_t n = 0;
    for (answer_t *a = waiting; a != NULL; a = a->next)
        n++;
    return n;
}

static void free_answer(uv_handle_t *h)
{
    answer_t *a = h->data;
    json_decref(a->data);
    free(a);
}

/* Takes a out of the waiting list and frees it once its timer is closed. */
static void drop(answer_t *a)
{
    for (answer_t **p = &waiting; *p != NULL; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    uv_close((uv_handle_t *)&a->timer, free_answer);
}

static void on_timer(uv_timer_t *t)
{
    answer_t *a = t->data;
    nipc_server_emit(a->server, a->socket, "app.message", a->data);
    drop(a);
}

static void on_world_message(const nipc_event_t *ev, void *arg)
{
    char *text = nipc_js_string(json_object_get(ev->data, "message"));
    answer_t *a = calloc(1, sizeof *a);
    if (text == NULL || a == NULL) {
        fprintf(stderr, "sync: out of memory\n");
        free(text);
        free(a);
        return;
    }
    *a = (answer_t){.server = ev->server, .socket = ev->socket, .next = waiting};
    a->data = json_pack("{s:s, s:s+}", "id", "world", "message", text, " world!");
    waiting = a;
    printf("world <- %s: %s, %zu waiting for an answer\n", nipc_socket_id(ev->socket), text,
           count_waiting());
    fflush(stdout);
    free(text);
    uv_timer_init(nipc_loop(arg), &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_timer, delay_ms, 0);
}

static void on_world_close(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    for (answer_t *a = waiting, *next; a != NULL; a = next) {
        next = a->next;
        if (a->socket == ev->socket)
            drop(a);
    }
}

static void on_hello_connect(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNT; i++) {
        char message[16];
        snprintf(message, sizeof message, "hello%d", i);
        int err = nipc_client_emitf(ev->client, "app.message", "{s:s, s:s}", "id", "hello",
                                    "message", message);
        if (err)
            fprintf(stderr, "sync: cannot emit: %s\n", nipc_strerror(err));
    }
}

static void on_hello_message(const nipc_event_t *ev, void *arg)
{
    const char *text = json_string_value(json_object_get(ev->data, "message"));
    printf("hello <- world: %s\n", text != NULL ? text : "(no message)");
    fflush(stdout);
    if (++answered == COUNT)
        nipc_disconnect(arg, "world");
}

int main(int argc, char **argv)
{
    static const char *const roles[] = {"world", "hello", NULL};
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.retry = 1000;
    cfg.sync = true;
    cfg.silent = true;

    cli_t cli = {.prog = "sync",
                 .help = help,
                 .client = true,
                 .stream_only = true,
                 .delay_opt = true,
                 .delay_ms = 2000,
                 .roles = roles,
                 .role = "world",
                 .port = cfg.network_port,
                 .timeout_s = 60};
    int rc = cli_parse(&cli, argc, argv);
    if (rc >= 0)
        return rc;
    bool world = cli_is(&cli, "world");
    cfg.id = cli.role;
    delay_ms = cli.delay_ms;

    static const cli_handler_t world_on[] = {
        {"app.message", on_world_message}, {"close", on_world_close}, {NULL, NULL}};
    static const cli_handler_t hello_on[] = {
        {"connect", on_hello_connect}, {"app.message", on_hello_message}, {NULL, NULL}};
    nipc_t *ipc;
    if (cli_start(&ipc, &cfg, &cli, world, world ? world_on : hello_on) != 0)
        return 1;

    if (cli_run(ipc, world ? 0 : cli.timeout_s) != 0)
        fprintf(stderr, "sync: %d of %d answers within %u s\n", answered, COUNT, cli.timeout_s);
    while (waiting != NULL) /* stopped by a signal with answers still waiting */
        drop(waiting);
    nipc_free(ipc);
    return world || answered == COUNT ? 0 : 1;
}
