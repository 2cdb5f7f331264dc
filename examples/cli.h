/* SPDX-License-Identifier: MIT */
/*
 * What the examples share: the command line (the transport and where world is, and each
 * program's own options) and cli_run(), the loop with Ctrl-C and a time limit. Not part of
 * node-ipc's examples; it only keeps the programs' argument checks in one place.
 */
#ifndef NIPC_EXAMPLES_CLI_H
#define NIPC_EXAMPLES_CLI_H

#include <nipc.h>

#include <stdbool.h>

/* The most --ca files one command line may give (one file may hold several CAs). */
#define CLI_CA_MAX 8
/* The most worker processes cluster --workers may ask for. */
#define CLI_WORKERS_MAX 256

/* Where world is (for world: where it listens). */
typedef enum cli_transport {
    CLI_UNIX, /* a Unix socket: --path PATH, or node-ipc's default path */
    CLI_TCP,  /* --tcp [PORT] */
    CLI_TLS,  /* --tls [PORT]: TLS over TCP */
    CLI_UDP4, /* --udp4 [PORT] */
    CLI_UDP6, /* --udp6 [PORT] */
} cli_transport_t;

/*
 * The caller sets prog, help and client, and the defaults of the other fields; cli_parse()
 * overwrites what the command line gives.
 */
typedef struct cli {
    const char *prog; /* "hello", "world" or "cluster": the prefix of every message */
    const char *help; /* the full usage text; its first paragraph is the synopsis */
    bool client;      /* hello: also --local-port and --timeout */
    bool cluster;     /* cluster: also --workers, and --path or --tcp only */
    bool stream_only; /* also --path or --tcp only (raw, sync, broadcast) */
    bool udp_only;    /* --udp4 or --udp6 only (udp_broadcast) */
    bool delay_opt;   /* sync: also --delay MS */
    bool log_opts;    /* world: also --silent and --log-payloads */
    /* The programs with two sides or more: --role NAME, one of these (NULL-terminated). The
     * caller sets role to the default. */
    const char *const *roles;
    const char *role;

    cli_transport_t transport;
    const char *path;   /* --path PATH; the default, NULL, is node-ipc's path */
    int port;           /* world's port: --tcp/--tls/--udp4/--udp6 PORT */
    int local_port;     /* --local-port PORT (hello, UDP); the default, 0, the system's choice */
    unsigned timeout_s; /* --timeout SECONDS (hello) */
    unsigned workers;   /* --workers N (cluster), 1 to CLI_WORKERS_MAX */
    unsigned delay_ms;  /* --delay MS (sync), 1 to 60000 */
    bool silent;        /* --silent: config.silent */
    bool log_payloads;  /* --log-payloads: config.log_payloads */

    /* With --tls only; each file was readable and not empty when cli_parse() looked. */
    const char *cert;               /* --cert FILE: this side's certificate, PEM */
    const char *key;                /* --key FILE: its private key, PEM */
    const char *ca[CLI_CA_MAX + 1]; /* --ca FILE...: NULL-terminated (config.tls's form) */
} cli_t;

/*
 * Reads argv into *cli. A PORT is 1-65535, in decimal digits only; 0 is refused, since with
 * "the system's choice" the other side would not know where to go. --cert, --key and --ca go
 * with --tls only, --cert and --key together (world: required with --tls), and each FILE
 * must be one that can be read and is not empty: a missing file is a bad command line,
 * reported with its path and the reason, before anything starts. Returns -1 when the
 * program should go on; otherwise the exit status it should end with: 0 after printing the
 * help to stdout (-h, --help), 2 after printing why the command line is wrong, and the
 * synopsis, to stderr.
 */
int cli_parse(cli_t *cli, int argc, char **argv);

/* An event type and its handler, for cli_start(); a NULL type ends a list. */
typedef struct cli_handler {
    const char *type;
    nipc_event_cb cb;
} cli_handler_t;

/*
 * Creates *ipc from cfg, then on cli's transport either (serve) its server on cli->port,
 * with the handlers, started, saying "<cfg->id> is listening" on stdout, or its client of
 * "world", with
 * the handlers, connecting; every handler gets *ipc as its arg. Returns 0, or 1 after
 * saying why on stderr, with nothing left to free.
 */
int cli_start(nipc_t **ipc, const nipc_config_t *cfg, const cli_t *cli, bool serve,
              const cli_handler_t *handlers);

/* Whether --role was `name`. */
bool cli_is(const cli_t *cli, const char *name);

/*
 * Runs ipc's loop until nothing is left to do (a client that finished, a server stopped).
 * SIGINT and SIGTERM end it gracefully (nipc_stop()), and so does the end of timeout_s
 * seconds when it is not 0. Neither keeps the loop running by itself. Returns 0, or 1 when
 * the time ran out. The caller frees ipc after.
 */
int cli_run(nipc_t *ipc, unsigned timeout_s);

#endif /* NIPC_EXAMPLES_CLI_H */
