/* SPDX-License-Identifier: MIT */
/*
 * nipc, the command-line tool: `nipc serve | emit | listen | ping [options]`.
 *
 * This file reads the command line into a tool_t: one table of options (which subcommands
 * take each, and its help line), strict value checks (numbers are decimal digits only, a
 * port 0-65535, a certificate file must be readable), and nipc's config built from them.
 * Any mistake is a usage error: exit 2, the reason and a hint on stderr. The subcommands
 * themselves are in serve.c and client.c. docs/man/nipc.1 is the manual.
 */
#include "tool.h"
#include "args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALL (CMD_SERVE | CMD_EMIT | CMD_LISTEN | CMD_PING)
#define CLIENTS (CMD_EMIT | CMD_LISTEN | CMD_PING)

typedef enum key {
    K_HELP,
    K_ID,
    K_PATH,
    K_TCP,
    K_UDP4,
    K_UDP6,
    K_TLS,
    K_CERT,
    K_KEY,
    K_CA,
    K_REQUEST_CERT,
    K_INSECURE,
    K_SERVERNAME,
    K_DHPARAM,
    K_CIPHERS,
    K_TLS_MIN,
    K_HANDSHAKE,
    K_RETRY_UNVERIFIED,
    K_APPSPACE,
    K_SOCKET_ROOT,
    K_SECURE_ROOT,
    K_RAW,
    K_ENCODING,
    K_DELIMITER,
    K_SYNC,
    K_NO_UNLINK,
    K_SILENT,
    K_VERBOSE,
    K_LOG_DEPTH,
    K_MAX_CONN,
    K_RETRY,
    K_MAX_RETRIES,
    K_STOP_RETRYING,
    K_RETRY_BACKOFF,
    K_RETRY_MAX,
    K_RETRY_JITTER,
    K_READABLE_ALL,
    K_WRITABLE_ALL,
    K_LOCAL_ADDRESS,
    K_LOCAL_PORT,
    K_FAMILY,
    K_MAX_MSG,
    K_MAX_QUEUED,
    K_FLUSH_TIMEOUT,
    K_UNIX_SNDBUF,
    K_BUSY_POLL,
    K_ALLOW_RESERVED,
    K_NO_LEGACY_DATA,
    K_MAX_EVENT_NAME,
    K_MSG_TIMEOUT,
    K_IDLE_TIMEOUT,
    K_ALLOWED_EVENT,
    K_ASSURED,
    K_REUSE_PORT,
    K_ALLOW_UID,
    K_ALLOW_GID,
    K_ECHO,
    K_REPLY,
    K_STDIN,
    K_STATS,
    K_STATS_INTERVAL,
    K_WAIT,
    K_REQUEST,
    K_TIMEOUT,
    K_COUNT,
    K_TYPE,
    K_DATA,
    K_INTERVAL,
} key_t_;

typedef struct opt {
    const char *name;
    const char *arg; /* the operand's name, or NULL for a flag */
    unsigned cmds;
    key_t_ key;
    const char *help;
} opt_t;

/* Grouped as the help prints them; a NULL name starts a group, its help the title. */
static const opt_t opts[] = {
    {NULL, NULL, ALL, K_HELP, "Where"},
    {"--id", "ID", ALL, K_ID, "the Unix socket socket_root + appspace + ID (node-ipc's id)"},
    {"--path", "PATH", ALL, K_PATH, "the Unix socket at PATH"},
    {"--tcp", "HOST:PORT", ALL, K_TCP, "TCP (serve: PORT 0 = any free port; [::1]:PORT for IPv6)"},
    {"--udp4", "HOST:PORT", ALL, K_UDP4, "UDP over IPv4 (clients bind their own free port)"},
    {"--udp6", "HOST:PORT", ALL, K_UDP6, "UDP over IPv6"},
    {NULL, NULL, ALL, K_HELP, "TLS (with --tcp)"},
    {"--tls", NULL, ALL, K_TLS, "speak TLS over --tcp"},
    {"--cert", "FILE", ALL, K_CERT, "this side's certificate, PEM (serve: required)"},
    {"--key", "FILE", ALL, K_KEY, "its private key, PEM"},
    {"--ca", "FILE", ALL, K_CA, "trust the CAs in FILE (repeatable; default: the system's)"},
    {"--request-cert", NULL, CMD_SERVE, K_REQUEST_CERT,
     "require a client certificate from a --ca (mutual TLS)"},
    {"--insecure", NULL, CLIENTS, K_INSECURE, "do not verify the server's certificate"},
    {"--servername", "NAME", CLIENTS, K_SERVERNAME, "the name to verify (default: HOST)"},
    {"--dhparam", "FILE", CMD_SERVE, K_DHPARAM, "DH parameters, PEM"},
    {"--ciphers", "LIST", ALL, K_CIPHERS, "an OpenSSL cipher list"},
    {"--tls-min-version", "12|13", ALL, K_TLS_MIN, "the lowest TLS version (default 12)"},
    {"--handshake-timeout", "MS", ALL, K_HANDSHAKE, "a handshake's time limit (default 10000)"},
    {"--retry-unverified", NULL, CLIENTS, K_RETRY_UNVERIFIED,
     "retry after a certificate failed verification"},
    {NULL, NULL, ALL, K_HELP, "node-ipc's config"},
    {"--appspace", "S", ALL, K_APPSPACE, "appspace (default \"app.\")"},
    {"--socket-root", "DIR", ALL, K_SOCKET_ROOT, "socketRoot, with its trailing / (\"/tmp/\")"},
    {"--secure-socket-root", NULL, ALL, K_SECURE_ROOT, "secureSocketRoot: a per-user directory"},
    {"--raw", NULL, ALL, K_RAW, "rawBuffer: bytes with no framing (see --encoding)"},
    {"--encoding", "ENC", ALL, K_ENCODING,
     "raw mode's text: utf8 ascii latin1 binary hex base64 base64url utf16le ucs2"},
    {"--delimiter", "S", ALL, K_DELIMITER,
     "the frame delimiter (default \\f; \\f \\n \\r \\t \\\\)"},
    {"--sync", NULL, CLIENTS, K_SYNC, "sync: each emit waits for a read"},
    {"--no-unlink", NULL, CMD_SERVE, K_NO_UNLINK, "keep a stale socket file (unlink off)"},
    {"--silent", NULL, ALL, K_SILENT, "no nipc log (the default)"},
    {"--verbose", NULL, ALL, K_VERBOSE, "nipc's own log on stderr"},
    {"--log-depth", "N", ALL, K_LOG_DEPTH, "logDepth (default 5)"},
    {"--max-connections", "N", CMD_SERVE, K_MAX_CONN, "maxConnections (default 100)"},
    {"--retry", "MS", CLIENTS, K_RETRY, "retry: between reconnects (default 500)"},
    {"--max-retries", "N|forever", CLIENTS, K_MAX_RETRIES,
     "maxRetries (default 0 here: a refused connection fails at once)"},
    {"--stop-retrying", NULL, CLIENTS, K_STOP_RETRYING, "stopRetrying: never reconnect"},
    {"--readable-all", NULL, CMD_SERVE, K_READABLE_ALL, "readableAll: socket file mode |= 0444"},
    {"--writable-all", NULL, CMD_SERVE, K_WRITABLE_ALL, "writableAll: socket file mode |= 0222"},
    {"--local-address", "ADDR", CLIENTS, K_LOCAL_ADDRESS, "interface.localAddress"},
    {"--local-port", "PORT", CLIENTS, K_LOCAL_PORT, "interface.localPort (UDP: own port)"},
    {"--family", "4|6", CLIENTS, K_FAMILY, "interface.family"},
    {NULL, NULL, ALL, K_HELP, "nipc's own config"},
    {"--max-message-size", "BYTES", ALL, K_MAX_MSG, "longest frame (default 64 MiB)"},
    {"--max-queued-bytes", "BYTES", ALL, K_MAX_QUEUED, "output queue bound (0 = none)"},
    {"--flush-timeout", "MS", ALL, K_FLUSH_TIMEOUT, "a flushing close's limit (default 10000)"},
    {"--unix-send-buffer", "BYTES", ALL, K_UNIX_SNDBUF, "SO_SNDBUF of Unix sockets"},
    {"--busy-poll", "US", ALL, K_BUSY_POLL, "busy-poll after traffic (default 0)"},
    {"--retry-backoff", "X", CLIENTS, K_RETRY_BACKOFF,
     "each wait between reconnects X times the last (1)"},
    {"--retry-max", "MS", CLIENTS, K_RETRY_MAX, "the longest wait (0 = no cap, the default)"},
    {"--retry-jitter", "X", CLIENTS, K_RETRY_JITTER,
     "0-1: each wait drawn from [wait*(1-X), wait] (0)"},
    {"--allow-reserved-events", NULL, ALL, K_ALLOW_RESERVED, "let frames use lifecycle names"},
    {"--no-legacy-data", NULL, ALL, K_NO_LEGACY_DATA, "send null and \"\" as they are, not {}"},
    {"--max-event-name", "N", ALL, K_MAX_EVENT_NAME, "longest type (default 256, 0 = none)"},
    {"--message-timeout", "MS", ALL, K_MSG_TIMEOUT, "a frame's time limit (default 30000)"},
    {"--idle-timeout", "MS", CMD_SERVE, K_IDLE_TIMEOUT, "close a silent socket (default off)"},
    {"--allowed-event", "TYPE", ALL, K_ALLOWED_EVENT, "allowedEvents (repeatable)"},
    {"--assured", NULL, ALL, K_ASSURED, "node-ipc 14's assured mode"},
    {"--reuse-port", NULL, CMD_SERVE, K_REUSE_PORT, "SO_REUSEPORT on a TCP or UDP server"},
    {"--allow-uid", "UID", CMD_SERVE, K_ALLOW_UID, "accept this uid only (repeatable)"},
    {"--allow-gid", "GID", CMD_SERVE, K_ALLOW_GID, "accept this gid only (repeatable)"},
    {NULL, NULL, ALL, K_HELP, "This command"},
    {"--echo", NULL, CMD_SERVE, K_ECHO, "answer each event with its type and data"},
    {"--reply", "TYPE=JSON", CMD_SERVE, K_REPLY, "answer each event with TYPE and JSON"},
    {"--stdin", NULL, CMD_SERVE | CMD_EMIT, K_STDIN,
     "one {\"type\":T,\"data\":D} per stdin line (serve: broadcast); also -"},
    {"--stats", NULL, CMD_SERVE, K_STATS, "print the server's counters to stderr at exit"},
    {"--stats-interval", "MS", CMD_SERVE, K_STATS_INTERVAL,
     "... and every MS ms (implies --stats)"},
    {"--wait", "TYPE", CMD_EMIT, K_WAIT, "then wait for an event TYPE and print it"},
    {"--request", NULL, CMD_EMIT, K_REQUEST, "send a request and print its reply"},
    {"--timeout", "MS", CLIENTS, K_TIMEOUT,
     "give up after MS (emit: 10000; listen: none; ping: 2000 per round trip)"},
    {"--count", "N", CMD_LISTEN | CMD_PING, K_COUNT, "listen: exit after N events; ping: N (5)"},
    {"--type", "TYPE", CMD_PING, K_TYPE, "the event echoed (default ping)"},
    {"--data", "JSON", CMD_PING, K_DATA, "extra data fields (default none: {\"seq\":N})"},
    {"--interval", "MS", CMD_PING, K_INTERVAL, "wait between round trips (default 0)"},
    {"-h, --help", NULL, ALL, K_HELP, "print this help and exit"},
};

static const struct {
    tool_cmd_t cmd;
    const char *name, *usage, *about;
} cmds[] = {
    {CMD_SERVE, "serve", "nipc serve [WHERE] [--echo | --reply TYPE=JSON] [--stdin] [options]",
     "Listens and prints every event it receives as one JSON line on stdout, the first\n"
     "{\"event\":\"listening\",...} with the path or the port it got. Runs until SIGINT or\n"
     "SIGTERM (exit 0)."},
    {CMD_EMIT, "emit",
     "nipc emit [WHERE] TYPE [JSON] [--wait TYPE | --request] [options]\n"
     "       nipc emit [WHERE] - | --stdin [options]",
     "Connects, sends one event (or one per line of stdin), and disconnects once everything\n"
     "is written. Exit 1 if anything was not delivered. Raw mode sends TYPE as text."},
    {CMD_LISTEN, "listen", "nipc listen [WHERE] [TYPE [JSON]] [--count N] [options]",
     "Connects (sending TYPE with JSON on each connect, if given) and prints every event the\n"
     "server sends as a JSON line, until SIGINT or --count N events."},
    {CMD_PING, "ping", "nipc ping [WHERE] [--count N] [--type TYPE] [options]",
     "Sends --count events of --type, one at a time, each after the server echoed the last\n"
     "(`nipc serve --echo`, or a node-ipc server that answers with the same type), and\n"
     "prints min/median/p99/max of the round trips. Exit 1 if one was lost."},
};

static const char top_help[] =
    "usage: nipc COMMAND [options]   (nipc COMMAND --help for each)\n"
    "\n"
    "node-ipc's protocol from the command line, over Unix sockets, TCP, TLS and UDP.\n"
    "\n"
    "  serve   listen, print every event received as a JSON line; --echo or --reply\n"
    "  emit    send one event (or one per stdin line); --wait TYPE, --request\n"
    "  listen  connect and print every event the server sends\n"
    "  ping    round trips to an echoing server: min/median/p99\n"
    "  version print nipc's version\n"
    "\n"
    "WHERE is --id ID (default: the host name), --path PATH, --tcp HOST:PORT [--tls],\n"
    "--udp4 HOST:PORT or --udp6 HOST:PORT.\n"
    "Exit status: 0 ok, 1 a runtime failure (refused, lost, timeout), 2 a usage error.\n"
    "See nipc(1).\n";

static void print_help(tool_cmd_t cmd)
{
    for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
        if (cmds[c].cmd != cmd)
            continue;
        printf("usage: %s\n\n%s\n", cmds[c].usage, cmds[c].about);
    }
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        const opt_t *o = &opts[i];
        if (!(o->cmds & cmd))
            continue;
        if (o->name == NULL) {
            printf("\n%s:\n", o->help);
            continue;
        }
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("\nExit status: 0 ok, 1 a runtime failure, 2 a usage error. See nipc(1).\n");
}

/* ---- usage errors ------------------------------------------------------------------------ */

static int usage(const tool_t *t, const char *fmt, ...) NIPC_PRINTF(2, 3);
static int usage(const tool_t *t, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", t->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", t->prog);
    return EXIT_USAGE;
}

void tool_fail(tool_t *t, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", t->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t->status = EXIT_RUNTIME;
}

/* HOST:PORT, [IPv6]:PORT or :PORT (the default host). */
static bool host_port(tool_t *t, const char *s, int min_port)
{
    const char *colon = strrchr(s, ':');
    const char *h = s, *hend = colon;
    unsigned long long port;
    if (colon == NULL || !args_number(colon + 1, (unsigned long long)min_port, 65535, &port))
        return false;
    if (s[0] == '[') {
        if (colon == s || colon[-1] != ']')
            return false;
        h = s + 1;
        hend = colon - 1;
    }
    size_t n = (size_t)(hend - h);
    if (n >= sizeof(t->host))
        return false;
    memcpy(t->host, h, n);
    t->host[n] = '\0';
    t->port = (int)port;
    return true;
}

/* --delimiter's escapes, so a shell user can write \f or \n. Returns a new string or NULL. */
static char *unescape(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (; *s != '\0'; s++) {
        if (*s != '\\' || s[1] == '\0') {
            *o++ = *s;
            continue;
        }
        switch (*++s) {
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        default:
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static json_t *parse_json(const char *s, json_error_t *e)
{
    return json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, e);
}

static char *delimiter_copy; /* --delimiter's unescaped text, freed at exit */

/* One option with its value (NULL for a flag); returns -1, or an exit status. */
static int apply(tool_t *t, const opt_t *o, const char *v)
{
    unsigned long long n;
    const char *why;
    nipc_config_t *c = &t->cfg;
#define NUM(min, max)                                                                              \
    do {                                                                                           \
        if (!args_number(v, (min), (max), &n))                                                     \
            return usage(t, "%s: \"%s\" is not a number from %llu to %llu", o->name, v,            \
                         (unsigned long long)(min), (unsigned long long)(max));                    \
    } while (0)

    switch (o->key) {
    case K_HELP:
        print_help(t->cmd);
        return EXIT_OK;
    case K_ID:
    case K_PATH:
    case K_TCP:
    case K_UDP4:
    case K_UDP6:
        if (t->ep_given)
            return usage(t, "%s: give one of --id, --path, --tcp, --udp4 and --udp6", o->name);
        t->ep_given = true;
        if (*v == '\0')
            return usage(t, "%s: %s is empty", o->name, o->arg);
        if (o->key == K_ID) {
            t->ep = EP_ID;
            c->id = v;
        } else if (o->key == K_PATH) {
            t->ep = EP_PATH;
            t->path = v;
        } else {
            t->ep = o->key == K_TCP ? EP_TCP : o->key == K_UDP4 ? EP_UDP4 : EP_UDP6;
            if (!host_port(t, v, t->cmd == CMD_SERVE ? 0 : 1))
                return usage(t, "%s: \"%s\" is not HOST:PORT (PORT %s-65535)", o->name, v,
                             t->cmd == CMD_SERVE ? "0" : "1");
        }
        return -1;
    case K_TLS:
        t->tls = true;
        return -1;
    case K_CERT:
    case K_KEY:
    case K_CA:
    case K_DHPARAM:
        if ((why = args_unreadable(v)) != NULL)
            return usage(t, "%s %s: %s", o->name, v, why);
        if (o->key == K_CERT)
            c->tls.public_cert = v;
        else if (o->key == K_KEY)
            c->tls.private_key = v;
        else if (o->key == K_DHPARAM)
            c->tls.dhparam = v;
        else if (t->n_ca == TOOL_CA_MAX)
            return usage(t, "--ca: at most %d files (one file may hold several CAs)", TOOL_CA_MAX);
        else
            t->ca[t->n_ca++] = v;
        return -1;
    case K_REQUEST_CERT:
        c->tls.request_cert = true;
        return -1;
    case K_INSECURE:
        t->insecure = true;
        return -1;
    case K_SERVERNAME:
        c->tls.servername = v;
        return -1;
    case K_CIPHERS:
        c->tls.ciphers = v;
        return -1;
    case K_TLS_MIN:
        if (strcmp(v, "12") != 0 && strcmp(v, "13") != 0)
            return usage(t, "--tls-min-version: \"%s\" is neither 12 nor 13", v);
        c->tls.min_version = v[1] - '0' + 10;
        return -1;
    case K_HANDSHAKE:
        NUM(1, 3600000);
        c->tls.handshake_timeout_ms = (unsigned)n;
        return -1;
    case K_RETRY_UNVERIFIED:
        c->tls.retry_unverified = true;
        return -1;
    case K_APPSPACE:
        c->appspace = v;
        return -1;
    case K_SOCKET_ROOT:
        c->socket_root = v;
        return -1;
    case K_SECURE_ROOT:
        c->secure_socket_root = true;
        return -1;
    case K_RAW:
        c->raw_buffer = true;
        return -1;
    case K_ENCODING:
        c->encoding = v;
        return -1;
    case K_DELIMITER:
        free(delimiter_copy);
        delimiter_copy = unescape(v);
        if (delimiter_copy == NULL || *delimiter_copy == '\0')
            return usage(t, "--delimiter: it must not be empty");
        c->delimiter = delimiter_copy;
        return -1;
    case K_SYNC:
        c->sync = true;
        return -1;
    case K_NO_UNLINK:
        c->unlink = false;
        return -1;
    case K_SILENT:
        t->verbose = false;
        return -1;
    case K_VERBOSE:
        t->verbose = true;
        return -1;
    case K_LOG_DEPTH:
        NUM(0, 1000);
        c->log_depth = (int)n;
        return -1;
    case K_MAX_CONN:
        NUM(1, 1000000);
        c->max_connections = (unsigned)n;
        return -1;
    case K_RETRY:
        NUM(0, 3600000);
        c->retry = (unsigned)n;
        return -1;
    case K_MAX_RETRIES:
        if (strcmp(v, "forever") == 0 || strcmp(v, "Infinity") == 0) {
            c->max_retries = NIPC_RETRY_FOREVER;
            return -1;
        }
        NUM(0, 1000000000);
        c->max_retries = (long)n;
        return -1;
    case K_STOP_RETRYING:
        c->stop_retrying = true;
        return -1;
    case K_RETRY_BACKOFF:
        if (!args_decimal(v, 1, 1000, &c->retry_backoff))
            return usage(t, "--retry-backoff: \"%s\" is not a decimal number from 1 to 1000", v);
        return -1;
    case K_RETRY_MAX:
        NUM(0, 3600000);
        c->retry_max_ms = (unsigned)n;
        return -1;
    case K_RETRY_JITTER:
        if (!args_decimal(v, 0, 1, &c->retry_jitter))
            return usage(t, "--retry-jitter: \"%s\" is not a decimal number from 0 to 1", v);
        return -1;
    case K_READABLE_ALL:
        c->readable_all = true;
        return -1;
    case K_WRITABLE_ALL:
        c->writable_all = true;
        return -1;
    case K_LOCAL_ADDRESS:
        c->iface.local_address = v;
        return -1;
    case K_LOCAL_PORT:
        NUM(1, 65535);
        c->iface.local_port = (int)n;
        return -1;
    case K_FAMILY:
        if (strcmp(v, "4") != 0 && strcmp(v, "6") != 0)
            return usage(t, "--family: \"%s\" is neither 4 nor 6", v);
        c->iface.family = v[0] - '0';
        return -1;
    case K_MAX_MSG:
        NUM(1, SIZE_MAX);
        c->max_message_size = (size_t)n;
        return -1;
    case K_MAX_QUEUED:
        NUM(0, SIZE_MAX);
        c->max_queued_bytes = (size_t)n;
        return -1;
    case K_FLUSH_TIMEOUT:
        NUM(0, 3600000);
        c->flush_timeout_ms = (unsigned)n;
        return -1;
    case K_UNIX_SNDBUF:
        NUM(0, SIZE_MAX);
        c->unix_send_buffer = (size_t)n;
        return -1;
    case K_BUSY_POLL:
        NUM(0, 1000000);
        c->busy_poll_us = (unsigned)n;
        return -1;
    case K_ALLOW_RESERVED:
        c->allow_reserved_events = true;
        return -1;
    case K_NO_LEGACY_DATA:
        c->legacy_data = false;
        return -1;
    case K_MAX_EVENT_NAME:
        NUM(0, 1000000);
        c->max_event_name = (size_t)n;
        return -1;
    case K_MSG_TIMEOUT:
        NUM(0, 3600000);
        c->message_timeout_ms = (unsigned)n;
        return -1;
    case K_IDLE_TIMEOUT:
        NUM(0, 3600000);
        c->idle_timeout_ms = (unsigned)n;
        return -1;
    case K_ALLOWED_EVENT:
        if (t->n_allowed == TOOL_LIST_MAX)
            return usage(t, "--allowed-event: at most %d", TOOL_LIST_MAX);
        t->allowed[t->n_allowed++] = v;
        c->allowed_events = t->allowed;
        return -1;
    case K_ASSURED:
        c->assured = true;
        return -1;
    case K_REUSE_PORT:
        c->reuse_port = true;
        return -1;
    case K_ALLOW_UID:
    case K_ALLOW_GID: {
        bool uid = o->key == K_ALLOW_UID;
        size_t *count = uid ? &c->n_allow_uids : &c->n_allow_gids;
        NUM(0, 4294967295u);
        if (*count == TOOL_LIST_MAX)
            return usage(t, "%s: at most %d", o->name, TOOL_LIST_MAX);
        (uid ? t->uids : t->gids)[(*count)++] = (unsigned)n;
        return -1;
    }
    case K_ECHO:
        t->echo = true;
        return -1;
    case K_REPLY: {
        const char *eq = strchr(v, '=');
        json_error_t e;
        if (eq == NULL || eq == v)
            return usage(t, "--reply: \"%s\" is not TYPE=JSON", v);
        free((char *)t->reply_type); /* the last --reply is the one */
        t->reply_type = strndup(v, (size_t)(eq - v));
        json_decref(t->reply_data);
        if ((t->reply_data = parse_json(eq + 1, &e)) == NULL)
            return usage(t, "--reply: the JSON after '=' is not valid: %s", e.text);
        return -1;
    }
    case K_STDIN:
        t->use_stdin = true;
        return -1;
    case K_STATS:
        t->stats = true;
        return -1;
    case K_STATS_INTERVAL:
        NUM(1, 86400000);
        t->stats = true;
        t->stats_ms = (unsigned)n;
        return -1;
    case K_WAIT:
        t->wait_type = v;
        return -1;
    case K_REQUEST:
        t->request = true;
        return -1;
    case K_TIMEOUT:
        NUM(1, 86400000);
        t->timeout_ms = (unsigned)n;
        return -1;
    case K_COUNT:
        NUM(1, 100000000);
        t->count = (long)n;
        return -1;
    case K_TYPE:
        t->type = v;
        return -1;
    case K_DATA: {
        json_error_t e;
        json_decref(t->data);
        if ((t->data = parse_json(v, &e)) == NULL || !json_is_object(t->data))
            return usage(t, "--data: not a JSON object%s%s", t->data ? "" : ": ",
                         t->data ? "" : e.text);
        return -1;
    }
    case K_INTERVAL:
        NUM(0, 3600000);
        t->interval_ms = (unsigned)n;
        return -1;
    }
#undef NUM
    return -1;
}

static const opt_t *find_opt(const char *name, size_t n)
{
    if ((n == 2 && strncmp(name, "-h", 2) == 0) || (n == 6 && strncmp(name, "--help", 6) == 0))
        return &opts[sizeof(opts) / sizeof(opts[0]) - 1];
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
        if (opts[i].name != NULL && opts[i].name[0] == '-' && opts[i].name[1] == '-' &&
            strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0)
            return &opts[i];
    return NULL;
}

/* Reads argv[2...] (after the subcommand); returns -1 to go on, or an exit status. */
static int parse(tool_t *t, int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0, status;
    bool no_more_opts = false;

    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (no_more_opts || a[0] != '-' || strcmp(a, "-") == 0) {
            if (strcmp(a, "-") == 0 && !no_more_opts && (t->cmd & (CMD_EMIT | CMD_SERVE))) {
                t->use_stdin = true;
                continue;
            }
            if (n_pos == 2 || !(t->cmd & (CMD_EMIT | CMD_LISTEN)))
                return usage(t, "unexpected argument \"%s\"", a);
            pos[n_pos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            no_more_opts = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const opt_t *o = find_opt(a, len);
        if (o == NULL)
            return usage(t, "unknown option \"%.*s\"", (int)len, a);
        if (!(o->cmds & t->cmd))
            return usage(t, "%s does not go with %s", o->name, t->prog);
        const char *v = NULL;
        if (o->arg != NULL) {
            if (eq != NULL)
                v = eq + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return usage(t, "%s: %s is missing", o->name, o->arg);
        } else if (eq != NULL) {
            return usage(t, "%s takes no value", o->name);
        }
        if ((status = apply(t, o, v)) >= 0)
            return status;
    }

    if (n_pos >= 1)
        t->type = pos[0];
    if (n_pos == 2) {
        json_error_t e;
        if (t->cfg.raw_buffer)
            return usage(t, "raw mode sends TYPE as text: no JSON goes with it");
        if ((t->data = parse_json(pos[1], &e)) == NULL)
            return usage(t, "\"%s\" is not JSON: %s (a string is written \"\\\"text\\\"\")", pos[1],
                         e.text);
    }
    return -1;
}

/* Checks what only makes sense together, and completes the config. */
static int check(tool_t *t)
{
    nipc_config_t *c = &t->cfg;
    bool udp = t->ep == EP_UDP4 || t->ep == EP_UDP6;
    if (t->cmd == CMD_EMIT && t->use_stdin && t->type != NULL)
        return usage(t, "give TYPE [JSON] or --stdin, not both");
    if (t->cmd == CMD_EMIT && !t->use_stdin && t->type == NULL)
        return usage(t, "TYPE is missing: nipc emit [WHERE] TYPE [JSON]");
    if (t->cmd == CMD_EMIT && t->request && (t->wait_type || t->use_stdin))
        return usage(t, "--request goes alone: not with --wait or --stdin");
    if (t->request && (c->raw_buffer || udp))
        return usage(t, "--request needs JSON mode over a stream (no --raw, no UDP)");
    if (t->echo && t->reply_type != NULL)
        return usage(t, "--echo or --reply, not both");
    if (t->tls && t->ep != EP_TCP)
        return usage(t, "--tls goes with --tcp HOST:PORT");
    if (c->reuse_port && (t->ep == EP_ID || t->ep == EP_PATH)) /* no port on a Unix socket */
        return usage(t, "--reuse-port goes with --tcp, --udp4 or --udp6");
    bool tls_files = c->tls.public_cert || c->tls.private_key || t->n_ca || c->tls.request_cert;
    if (tls_files && !t->tls)
        return usage(t, "--cert, --key, --ca and --request-cert go with --tls");
    if ((c->tls.public_cert == NULL) != (c->tls.private_key == NULL))
        return usage(t, "%s needs %s too", c->tls.public_cert ? "--cert" : "--key",
                     c->tls.public_cert ? "--key" : "--cert");
    if (t->cmd == CMD_SERVE && t->tls && c->tls.public_cert == NULL)
        return usage(t, "--tls needs --cert FILE and --key FILE to serve");
    if (c->tls.request_cert && t->n_ca == 0)
        return usage(t, "--request-cert needs --ca FILE: the CA that issued the clients'");
    if (c->raw_buffer && t->cmd == CMD_EMIT && t->wait_type && strcmp(t->wait_type, "data"))
        return usage(t, "raw mode has no types: --wait data waits for the next read");

    if (t->tls) {
        c->tls.enabled = true;
        if (t->n_ca > 0)
            c->tls.trusted_connections = t->ca;
        if (c->tls.request_cert)
            c->tls.reject_unauthorized = true;
        if (t->insecure)
            c->tls.reject_unauthorized = false;
    }
    if (c->n_allow_uids)
        c->allow_uids = t->uids;
    if (c->n_allow_gids)
        c->allow_gids = t->gids;
    if (t->n_allowed)
        t->allowed[t->n_allowed] = NULL;
    if (t->cmd == CMD_PING && t->type == NULL)
        t->type = "ping";
    if (t->cmd == CMD_PING && t->count == 0)
        t->count = 5;
    if (t->timeout_ms == 0 && t->cmd == CMD_EMIT)
        t->timeout_ms = 10000;
    if (t->timeout_ms == 0 && t->cmd == CMD_PING)
        t->timeout_ms = 2000;
    if (!t->ep_given)
        t->ep = EP_ID; /* node-ipc's default path, socket_root + appspace + host name */
    return -1;
}

/* ---- shared by the subcommands --------------------------------------------------------- */

const char *tool_where(const tool_t *t, char *buf, size_t n)
{
    switch (t->ep) {
    case EP_ID:
        snprintf(buf, n, "%s%s%s", t->cfg.socket_root, t->cfg.appspace, t->cfg.id);
        break;
    case EP_PATH:
        snprintf(buf, n, "%s", t->path);
        break;
    default:
        snprintf(buf, n, "%s %s:%d",
                 t->ep == EP_TCP    ? (t->tls ? "tls" : "tcp")
                 : t->ep == EP_UDP4 ? "udp4"
                                    : "udp6",
                 t->host, t->port);
    }
    return buf;
}

void tool_signals(tool_t *t, uv_signal_cb cb)
{
    uv_loop_t *loop = nipc_loop(t->ipc);
    uv_signal_init(loop, &t->sigint);
    uv_signal_init(loop, &t->sigterm);
    t->sigint.data = t->sigterm.data = t;
    uv_signal_start(&t->sigint, cb, SIGINT);
    uv_signal_start(&t->sigterm, cb, SIGTERM);
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    t->timer_on = true;
}

/* Closes the tool's own handles, so that nipc_run() can return. Idempotent. */
void tool_close_own(tool_t *t)
{
    if (!t->timer_on)
        return;
    t->timer_on = false;
    uv_close((uv_handle_t *)&t->sigint, NULL);
    uv_close((uv_handle_t *)&t->sigterm, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
    lines_close(&t->in);
}

bool tool_parse_line(tool_t *t, const char *line, size_t lineno, json_t **obj, const char **type,
                     json_t **data)
{
    json_error_t e;
    json_t *o = json_loads(line, JSON_ALLOW_NUL, &e);
    json_t *ty = json_object_get(o, "type");
    if (o == NULL || !json_is_object(o) || !json_is_string(ty)) {
        fprintf(stderr, "%s: stdin line %zu: %s; each line is {\"type\":TYPE,\"data\":JSON}\n",
                t->prog, lineno, o == NULL ? e.text : "no \"type\" string");
        json_decref(o);
        return false;
    }
    *obj = o;
    *type = json_string_value(ty);
    *data = json_object_get(o, "data");
    return true;
}

static void log_to_stderr(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

int main(int argc, char **argv)
{
    static tool_t tool;
    tool_t *t = &tool;
    char prog[32];

    if (argc < 2) {
        fputs(top_help, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        fputs(top_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("nipc %s\n", nipc_version_string());
        return EXIT_OK;
    }
    for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++)
        if (strcmp(name, cmds[c].name) == 0)
            t->cmd = cmds[c].cmd;
    if (t->cmd == 0) {
        fprintf(stderr, "nipc: unknown command \"%s\"\n%s", name, top_help);
        return EXIT_USAGE;
    }
    snprintf(prog, sizeof(prog), "nipc %s", name);
    t->prog = prog;

    nipc_config_init(&t->cfg);
    t->cfg.max_retries = 0; /* a tool says "refused" at once; --max-retries to wait */
    t->color = isatty(STDOUT_FILENO) == 1;
    t->progress = isatty(STDERR_FILENO) == 1;

    int status = parse(t, argc, argv);
    if (status < 0)
        status = check(t);
    if (status < 0) {
        t->cfg.silent = !t->verbose;
        t->cfg.logger = log_to_stderr;
        t->cfg.log_in_color = t->progress;
        int err = nipc_new(&t->ipc, NULL, &t->cfg);
        if (err != 0) {
            fprintf(stderr, "%s: the options are refused: %s (%s)\n", t->prog, nipc_strerror(err),
                    nipc_err_name(err));
            status = EXIT_USAGE;
        } else {
            status = t->cmd == CMD_SERVE ? serve_run(t) : client_run(t);
            nipc_free(t->ipc);
        }
    }
    json_decref(t->data);
    json_decref(t->reply_data);
    free((char *)t->reply_type);
    free(delimiter_copy);
    return status;
}
