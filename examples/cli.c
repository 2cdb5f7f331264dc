/* SPDX-License-Identifier: MIT */
/*
 * hello's, world's and cluster's command line (cli.h). Every value is checked strictly: a port is
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
