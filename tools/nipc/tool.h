/* SPDX-License-Identifier: MIT */
/*
 * The nipc command-line tool: what its subcommands share. main.c reads the command line into
 * a tool_t, serve.c and client.c run the subcommands on it, output.c writes events as JSON
 * lines, lines.c reads stdin a line at a time. Everything runs on the instance's own loop,
 * in one thread. The tool uses nipc's public API only.
 */
#ifndef NIPC_TOOL_H
#define NIPC_TOOL_H

#include <nipc.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The exit statuses scripts rely on (docs/man/nipc.1). */
#define EXIT_OK 0
#define EXIT_RUNTIME 1 /* connection refused or lost, timeout, an event not delivered */
#define EXIT_USAGE 2   /* a bad command line */

#define TOOL_CA_MAX 8
#define TOOL_LIST_MAX 32 /* --allowed-event, --allow-uid, --allow-gid */

typedef enum tool_cmd {
    CMD_SERVE = 1,
    CMD_EMIT = 2,
    CMD_LISTEN = 4,
    CMD_PING = 8,
} tool_cmd_t;

/* Where to listen or connect. */
typedef enum endpoint {
    EP_ID,   /* --id ID, or the default: socket_root + appspace + id */
    EP_PATH, /* --path P */
    EP_TCP,  /* --tcp HOST:PORT (TLS with --tls) */
    EP_UDP4, /* --udp4 HOST:PORT */
    EP_UDP6, /* --udp6 HOST:PORT */
} endpoint_t;

/* lines.c: stdin, one line at a time; each line (without its newline, NUL-terminated in place)
 * goes to on_line, which returns 0 to go on, 1 to be called again with the same line after
 * lines_resume(), or -1 to stop reading. on_end runs once, at the end of the input or after
 * a read error (err < 0). A pipe or terminal is read as a libuv stream, anything else (a
 * file) with uv_fs_read, which never blocks for long on a file. */
typedef int (*lines_cb)(void *arg, const char *line, size_t n);
typedef void (*lines_end_cb)(void *arg, int err);
typedef struct lines {
    uv_loop_t *loop;
    bool stream, open, paused, eof, ended, closing, busy;
    union {
        uv_pipe_t pipe;
        uv_tty_t tty;
        uv_stream_t stream;
    } h;
    uv_fs_t req;
    char rbuf[65536];
    char *acc; /* what was read and not yet taken as lines: acc[pos, len) */
    size_t pos, len, cap;
    lines_cb on_line;
    lines_end_cb on_end;
    void *arg;
} lines_t;

int lines_open(lines_t *in, uv_loop_t *loop, lines_cb on_line, lines_end_cb on_end, void *arg);
void lines_resume(lines_t *in);
/* Stops reading; the struct must stay until the loop has ended (a file read in flight
 * completes into nothing). Idempotent. */
void lines_close(lines_t *in);

typedef struct tool {
    tool_cmd_t cmd;
    const char *prog; /* "nipc serve", ...: the prefix of every message */
    nipc_config_t cfg;

    endpoint_t ep;
    bool ep_given;
    const char *path;
    char host[256];
    int port;

    /* TLS: the files were readable when the command line was read. */
    bool tls;
    const char *ca[TOOL_CA_MAX + 1];
    int n_ca;
    bool insecure; /* client: do not verify the server */
    const char *allowed[TOOL_LIST_MAX + 1];
    int n_allowed;
    unsigned uids[TOOL_LIST_MAX], gids[TOOL_LIST_MAX];

    /* Subcommand options. */
    bool echo;              /* serve --echo */
    const char *reply_type; /* serve --reply TYPE=JSON */
    json_t *reply_data;
    bool use_stdin;        /* emit - / --stdin; serve --stdin (broadcast each line) */
    bool stats;            /* serve --stats: the counters on stderr at exit */
    unsigned stats_ms;     /* serve --stats-interval MS: and every MS ms (0: at exit only) */
    const char *type;      /* emit, listen: TYPE; ping --type */
    json_t *data;          /* its JSON, or NULL */
    const char *wait_type; /* emit --wait TYPE */
    bool request;          /* emit --request */
    unsigned timeout_ms;   /* --timeout MS; 0: none (emit, listen), ping: per round trip */
    long count;            /* listen, ping --count N */
    unsigned interval_ms;  /* ping --interval MS */
    bool verbose;
    bool color;    /* stdout is a terminal: lifecycle events in colour */
    bool progress; /* stderr is a terminal: ping's per-reply lines, notes */

    /* The run. */
    nipc_t *ipc;
    nipc_server_t *server; /* serve's server; UDP clients' own socket */
    nipc_client_t *client;
    uv_signal_t sigint, sigterm;
    uv_timer_t timer;
    bool timer_on;
    lines_t in;
    int status;   /* the exit status so far */
    int last_err; /* the client's last connection error, for the message */
    bool connected, finished;
} tool_t;

/* main.c */
void tool_fail(tool_t *t, const char *fmt, ...) NIPC_PRINTF(2, 3);
const char *tool_where(const tool_t *t, char *buf, size_t n);
void tool_signals(tool_t *t, uv_signal_cb cb);
void tool_close_own(tool_t *t);
/* Turns one line of stdin, {"type":T,"data":D}, into a type and data (a new reference, or
 * NULL); returns false after saying what is wrong with it. */
bool tool_parse_line(tool_t *t, const char *line, size_t lineno, json_t **obj, const char **type,
                     json_t **data);

/* serve.c, client.c */
int serve_run(tool_t *t);
int client_run(tool_t *t);

/* output.c */
void out_event(tool_t *t, const nipc_event_t *ev);
void out_json(tool_t *t, json_t *line); /* steals line */
json_t *out_bytes(const char *encoding, const char *p, size_t n);
bool out_is_lifecycle(const char *type);

#endif /* NIPC_TOOL_H */
