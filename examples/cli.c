/* SPDX-License-Identifier: MIT */
/*
 * The examples' command line and loop (cli.h). Every value is checked strictly: a port is
 * decimal digits only, so "1e3" or "8050x" is an error, never port 1 or 8050, and a
 * certificate, key or CA file that cannot be read is an error here, with its path, rather
 * than a TLS failure later.
 */
#include "cli.h"
#include "args.h"

#include <nipc.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PORT_MAX 65535
#define TIMEOUT_MAX 3600
#define DELAY_MAX 60000

/* The help's first paragraph: the usage lines. */
static void synopsis(const cli_t *cli)
{
    const char *end = strstr(cli->help, "\n\n");
    int n = end != NULL ? (int)(end - cli->help) + 1 : (int)strlen(cli->help);
    fprintf(stderr, "%.*s", n, cli->help);
}

/* Says why the command line is wrong, then how it should look; returns the exit status. */
static int bad(const cli_t *cli, const char *fmt, ...) NIPC_PRINTF(2, 3);
static int bad(const cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    synopsis(cli);
    return 2;
}

/* A decimal number from min to max (args_number() in unsigned long). */
static bool number(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    unsigned long long v;
    if (!args_number(s, min, max, &v))
        return false;
    *out = (unsigned long)v;
    return true;
}

static bool port_arg(const char *s, int *port)
{
    unsigned long v;
    if (!number(s, 1, PORT_MAX, &v))
        return false;
    *port = (int)v;
    return true;
}

/* Whether the argument after --tcp/--tls/--udp4/--udp6 is its PORT rather than the next option:
 * anything but "-" followed by a non-digit, so "-1" and "" are refused as ports. */
static bool is_operand(const char *s)
{
    return s[0] != '-' || (s[1] >= '0' && s[1] <= '9');
}

static int transport_of(const char *a)
{
    if (strcmp(a, "--tcp") == 0)
        return CLI_TCP;
    if (strcmp(a, "--tls") == 0)
        return CLI_TLS;
    if (strcmp(a, "--udp4") == 0)
        return CLI_UDP4;
    if (strcmp(a, "--udp6") == 0)
        return CLI_UDP6;
    return -1;
}

/* The FILE of --cert, --key or --ca at argv[*i + 1]: sets *file and moves *i past it, or
 * returns the exit status of a bad command line. */
static int file_arg(const cli_t *cli, int argc, char **argv, int *i, const char **file)
{
    const char *opt = argv[*i];
    if (*i + 1 >= argc || argv[*i + 1][0] == '\0')
        return bad(cli, "%s: FILE is missing", opt);
    const char *path = argv[++*i];
    const char *why = args_unreadable(path);
    if (why != NULL)
        return bad(cli, "%s %s: %s", opt, path, why);
    *file = path;
    return -1;
}

/* The count of --timeout or --workers at argv[*i + 1], from 1 to max: sets *out and moves *i
 * past it, or returns the exit status of a bad command line. `name` is the operand in the
 * synopsis (SECONDS, N), `unit` what it counts. */
static int count_arg(const cli_t *cli, int argc, char **argv, int *i, const char *name,
                     const char *unit, unsigned long max, unsigned *out)
{
    const char *opt = argv[*i];
    unsigned long v;
    if (*i + 1 >= argc)
        return bad(cli, "%s: %s is missing", opt, name);
    const char *val = argv[++*i];
    if (!number(val, 1, max, &v))
        return bad(cli, "%s: \"%s\" is not a number of %s (1-%lu)", opt, val, unit, max);
    *out = (unsigned)v;
    return -1;
}

/* --role NAME: sets cli->role, or returns the exit status of a bad command line. */
static int role_arg(cli_t *cli, const char *name)
{
    if (name == NULL)
        return bad(cli, "--role: NAME is missing");
    for (const char *const *r = cli->roles; *r != NULL; r++) {
        if (strcmp(*r, name) == 0) {
            cli->role = *r;
            return -1;
        }
    }
    return bad(cli, "--role: \"%s\" is not a role of %s", name, cli->prog);
}

bool cli_is(const cli_t *cli, const char *name)
{
    return cli->role != NULL && strcmp(cli->role, name) == 0;
}

int cli_parse(cli_t *cli, int argc, char **argv)
{
    bool chosen = false, local_port_set = false;
    const char *tls_opt = NULL; /* the first of --cert, --key and --ca given */
    int n_ca = 0, status;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int t = transport_of(a);

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(cli->help, stdout);
            return 0;
        }
        if (t >= 0 || strcmp(a, "--path") == 0) {
            if (chosen)
                return bad(cli, "%s: only one of --path, --tcp, --tls, --udp4 and --udp6", a);
            chosen = true;
        }
        if (t >= 0) {
            cli->transport = (cli_transport_t)t;
            if (val != NULL && is_operand(val) && !port_arg(argv[++i], &cli->port))
                return bad(cli, "%s: \"%s\" is not a port number (1-%d)", a, val, PORT_MAX);
        } else if (strcmp(a, "--path") == 0) {
            if (val == NULL || *val == '\0')
                return bad(cli, "%s: PATH is missing", a);
            cli->transport = CLI_UNIX;
            cli->path = argv[++i];
        } else if (cli->client && strcmp(a, "--local-port") == 0) {
            if (val == NULL)
                return bad(cli, "%s: PORT is missing", a);
            if (!port_arg(argv[++i], &cli->local_port))
                return bad(cli, "%s: \"%s\" is not a port number (1-%d)", a, val, PORT_MAX);
            local_port_set = true;
        } else if (cli->client && strcmp(a, "--timeout") == 0) {
            status =
                count_arg(cli, argc, argv, &i, "SECONDS", "seconds", TIMEOUT_MAX, &cli->timeout_s);
            if (status >= 0)
                return status;
        } else if (cli->cluster && strcmp(a, "--workers") == 0) {
            status = count_arg(cli, argc, argv, &i, "N", "workers", CLI_WORKERS_MAX, &cli->workers);
            if (status >= 0)
                return status;
        } else if (cli->delay_opt && strcmp(a, "--delay") == 0) {
            status =
                count_arg(cli, argc, argv, &i, "MS", "milliseconds", DELAY_MAX, &cli->delay_ms);
            if (status >= 0)
                return status;
        } else if (cli->log_opts && strcmp(a, "--silent") == 0) {
            cli->silent = true;
        } else if (cli->log_opts && strcmp(a, "--log-payloads") == 0) {
            cli->log_payloads = true;
        } else if (cli->roles != NULL && strcmp(a, "--role") == 0) {
            if ((status = role_arg(cli, val)) >= 0)
                return status;
            i++;
        } else if (strcmp(a, "--cert") == 0 || strcmp(a, "--key") == 0) {
            const char **file = strcmp(a, "--cert") == 0 ? &cli->cert : &cli->key;
            if (*file != NULL)
                return bad(cli, "%s: given twice", a);
            if ((status = file_arg(cli, argc, argv, &i, file)) >= 0)
                return status;
            tls_opt = tls_opt != NULL ? tls_opt : a;
        } else if (strcmp(a, "--ca") == 0) {
            if (n_ca == CLI_CA_MAX)
                return bad(cli, "%s: at most %d files (one file may hold several CAs)", a,
                           CLI_CA_MAX);
            if ((status = file_arg(cli, argc, argv, &i, &cli->ca[n_ca])) >= 0)
                return status;
            cli->ca[++n_ca] = NULL;
            tls_opt = tls_opt != NULL ? tls_opt : a;
        } else if (a[0] == '-') {
            return bad(cli, "unknown option \"%s\"", a);
        } else {
            return bad(cli, "unexpected argument \"%s\"", a);
        }
    }

    if (cli->cluster && cli->transport != CLI_UNIX && cli->transport != CLI_TCP)
        return bad(cli, "serves a Unix socket (--path) or TCP (--tcp) only");
    bool udp = cli->transport == CLI_UDP4 || cli->transport == CLI_UDP6;
    if (cli->stream_only && cli->transport != CLI_UNIX && cli->transport != CLI_TCP)
        return bad(cli, "talks over a Unix socket (--path) or TCP (--tcp) only");
    if (cli->udp_only && !udp)
        return bad(cli, "talks over UDP (--udp4 or --udp6) only");
    if (tls_opt != NULL && cli->transport != CLI_TLS)
        return bad(cli, "%s goes with --tls", tls_opt);
    if ((cli->cert == NULL) != (cli->key == NULL))
        return bad(cli, "%s needs %s too: a certificate and its key",
                   cli->cert ? "--cert" : "--key", cli->cert ? "--key" : "--cert");
    /* A TLS server has nothing to prove who it is with: nipc would refuse to start it. */
    if (!cli->client && cli->transport == CLI_TLS && cli->cert == NULL)
        return bad(cli, "--tls needs --cert FILE and --key FILE, world's certificate and key");
    if (local_port_set && cli->transport != CLI_UDP4 && cli->transport != CLI_UDP6)
        return bad(cli, "--local-port goes with --udp4 or --udp6");
    /* Both ends are on the same host: hello would send to itself and take that for world. */
    if (local_port_set && cli->local_port == cli->port)
        return bad(cli, "--local-port: %d is world's port", cli->local_port);
    return -1;
}

/* ---- starting and the loop
 * ------------------------------------------------------------------------------ */

static int serve(nipc_t *ipc, const cli_t *cli, const cli_handler_t *h)
{
    nipc_server_t *server;
    int err;
    switch (cli->transport) {
    case CLI_UNIX:
        err = nipc_serve(ipc, cli->path, &server);
        break;
    case CLI_UDP4:
    case CLI_UDP6:
        err = nipc_serve_net(ipc, cli->transport == CLI_UDP6 ? "::1" : NULL, cli->port,
                             cli->transport == CLI_UDP6 ? NIPC_UDP6 : NIPC_UDP4, &server);
        break;
    default: /* TCP; config.tls turns it into TLS */
        err = nipc_serve_net(ipc, NULL, cli->port, NIPC_TCP, &server);
    }
    for (; err == 0 && h->type != NULL; h++)
        err = nipc_server_on(server, h->type, h->cb, ipc);
    return err != 0 ? err : nipc_server_start(server);
}

static int connect_world(nipc_t *ipc, const cli_t *cli, const cli_handler_t *h)
{
    nipc_client_t *client;
    int err = cli->transport == CLI_UNIX
                  ? nipc_connect_to(ipc, "world", cli->path, &client)
                  : nipc_connect_to_net(ipc, "world", NULL, cli->port, &client);
    for (; err == 0 && h->type != NULL; h++)
        err = nipc_client_on(client, h->type, h->cb, ipc);
    return err;
}

int cli_start(nipc_t **ipc, const nipc_config_t *cfg, const cli_t *cli, bool serve_it,
              const cli_handler_t *handlers)
{
    int err = nipc_new(ipc, NULL, cfg);
    if (err == 0)
        err = serve_it ? serve(*ipc, cli, handlers) : connect_world(*ipc, cli, handlers);
    if (err != 0) {
        fprintf(stderr, "%s: cannot %s: %s (%s)\n", cli->prog, serve_it ? "listen" : "connect",
                nipc_strerror(err), nipc_err_name(err));
        nipc_free(*ipc);
        *ipc = NULL;
        return 1;
    }
    if (serve_it) {
        printf("%s is listening\n", cfg->id);
        fflush(stdout);
    }
    return 0;
}

static uv_signal_t sigint, sigterm;
static uv_timer_t timer;
static bool timed_out;

static void stop(nipc_t *ipc)
{
    uv_signal_stop(&sigint);
    uv_signal_stop(&sigterm);
    uv_timer_stop(&timer);
    nipc_stop(ipc);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    (void)signum;
    stop(sig->data);
}

static void on_timer(uv_timer_t *t)
{
    timed_out = true;
    stop(t->data);
}

int cli_run(nipc_t *ipc, unsigned timeout_s)
{
    uv_loop_t *loop = nipc_loop(ipc);
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_timer_init(loop, &timer);
    sigint.data = sigterm.data = timer.data = ipc;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    if (timeout_s != 0)
        uv_timer_start(&timer, on_timer, (uint64_t)timeout_s * 1000, 0);
    /* Unreferenced: the exchange alone keeps the loop running. */
    uv_unref((uv_handle_t *)&sigint);
    uv_unref((uv_handle_t *)&sigterm);
    uv_unref((uv_handle_t *)&timer);

    nipc_run(ipc);

    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&timer, NULL);
    return timed_out ? 1 : 0;
}
