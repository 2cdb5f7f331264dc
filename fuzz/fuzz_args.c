/* SPDX-License-Identifier: MIT */
/*
 * The command lines: the nipc tool's (tools/nipc/main.c: parse, check, and a stdin line's
 * parse) and the examples' (examples/cli.c, cli_parse), with the value checks they share
 * (tools/common/args.c). Both files are compiled into this harness, so their static
 * functions are reachable; their output goes to a memory stream instead of stdout and
 * stderr, and fopen, which args_unreadable uses to check a certificate file, sees only
 * three names: cert.pem (readable), empty.pem (empty) and dir (a directory).
 *
 * Input: byte 0 chooses the program: nipc serve, emit, listen or ping, one of the seven
 * examples' command lines (hello, world, cluster, sync, raw, broadcast, udp_broadcast), or
 * a line of `nipc emit --stdin`. The rest is split at NUL bytes into argv (at most 64).
 *
 * Properties: no crash, no leak; the status is "go on", 0 (help) or 2 (usage), and a usage
 * error says why; what is accepted holds what the man page and cli.h promise: ports in
 * range, one endpoint, files only with --tls, a certificate with its key, a role from the
 * list, counts within their bounds; and the tool's config passes nipc's own check or is
 * refused by it with a reason, never a crash.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>

static FILE *fuzz_out; /* what the programs print, for this input */

static FILE *fuzz_fopen(const char *path, const char *mode)
{
    static char pem[] = "-----BEGIN CERTIFICATE-----\n";
    (void)mode;
    if (strcmp(path, "cert.pem") == 0)
        return fmemopen(pem, sizeof pem - 1, "rb");
    if (strcmp(path, "empty.pem") == 0)
        return tmpfile();
    errno = strcmp(path, "dir") == 0 ? EISDIR : ENOENT;
    return NULL;
}

/* The programs' output, into this input's stream. */
#undef stdout
#undef stderr
#define stdout fuzz_out
#define stderr fuzz_out
#define printf(...) fprintf(fuzz_out, __VA_ARGS__)
#define fopen fuzz_fopen
#define main nipc_tool_main

#include "../tools/common/args.c"
#include "../tools/nipc/main.c"
#include "../examples/cli.c"

#undef main
#undef fopen
#undef printf
#undef stdout
#undef stderr

#include "core/core.h"

/* The subcommands run nothing here. */
int serve_run(tool_t *t)
{
    (void)t;
    return 0;
}

int client_run(tool_t *t)
{
    (void)t;
    return 0;
}

void lines_close(lines_t *l)
{
    (void)l;
}

#define MAX_ARGS 64

static void check_tool(tool_cmd_t cmd, const char *name, int argc, char **argv)
{
    static tool_t tool;
    tool_t *t = &tool;
    char prog[32];
    memset(t, 0, sizeof *t);
    t->cmd = cmd;
    snprintf(prog, sizeof prog, "nipc %s", name);
    t->prog = prog;
    nipc_config_init(&t->cfg);
    t->cfg.max_retries = 0;

    int status = parse(t, argc, argv);
    if (status < 0)
        status = check(t);
    FUZZ_CHECK(status == -1 || status == EXIT_OK || status == EXIT_USAGE, "status %d", status);
    if (status == EXIT_USAGE)
        FUZZ_CHECK(ftell(fuzz_out) > 0, "a usage error that says nothing");
    if (status == -1) {
        FUZZ_CHECK(t->ep_given || t->ep == EP_ID, "no endpoint");
        if (t->ep == EP_TCP || t->ep == EP_UDP4 || t->ep == EP_UDP6)
            FUZZ_CHECK(t->port >= (cmd == CMD_SERVE ? 0 : 1) && t->port <= 65535 &&
                           strlen(t->host) < sizeof t->host,
                       "port %d", t->port);
        FUZZ_CHECK(!t->tls || t->ep == EP_TCP, "--tls without --tcp");
        FUZZ_CHECK((t->cfg.tls.public_cert == NULL) == (t->cfg.tls.private_key == NULL),
                   "a certificate without its key");
        FUZZ_CHECK(cmd != CMD_EMIT || t->use_stdin || t->type != NULL, "emit without TYPE");
        FUZZ_CHECK(t->n_ca <= TOOL_CA_MAX && t->n_allowed <= TOOL_LIST_MAX &&
                       t->cfg.n_allow_uids <= TOOL_LIST_MAX,
                   "a list past its bound");
        char where[64];
        tool_where(t, where, sizeof where);
        /* The config as the tool hands it to nipc_new: accepted, or refused with a reason. */
        const char *why = NULL;
        int err = nipc__config_check(&t->cfg, &why);
        FUZZ_CHECK(err == 0 || (why != NULL && why[0] != '\0'), "refused without a reason");
        if (err == 0 && !t->tls) {
            t->cfg.silent = true;
            nipc_t *ipc = NULL;
            err = nipc_new(&ipc, NULL, &t->cfg);
            FUZZ_CHECK(err == 0, "the checked config is refused: %s", nipc_err_name(err));
            nipc_free(ipc);
        }
    }
    json_decref(t->data);
    json_decref(t->reply_data);
    free((char *)t->reply_type);
    free(delimiter_copy);
    delimiter_copy = NULL;
}

static void check_example(unsigned which, int argc, char **argv)
{
    static const char *const two[] = {"world", "hello", NULL};
    static const char *const three[] = {"world", "hello", "goodbye", NULL};
    static const char *const progs[] = {"hello", "world",     "cluster",      "sync",
                                        "raw",   "broadcast", "udp_broadcast"};
    cli_t c = {.prog = progs[which], .help = "usage: x [options]\n\nhelp\n", .port = 8000};
    switch (which) {
    case 0:
        c.client = true;
        c.timeout_s = 10;
        break;
    case 2:
        c.cluster = true;
        c.workers = 2;
        break;
    case 3:
    case 4:
    case 5:
        c.delay_opt = which == 3;
        c.delay_ms = which == 3 ? 2000 : 0;
        c.client = c.stream_only = true;
        c.roles = which == 5 ? three : two;
        c.role = "world";
        c.timeout_s = 10;
        break;
    case 6:
        c.client = c.udp_only = true;
        c.roles = three;
        c.role = "world";
        c.transport = CLI_UDP4;
        c.timeout_s = 10;
        break;
    default:
        break;
    }
    argv[0] = (char *)progs[which];
    int status = cli_parse(&c, argc, argv);
    FUZZ_CHECK(status == -1 || status == 0 || status == 2, "status %d", status);
    if (status == 2)
        FUZZ_CHECK(ftell(fuzz_out) > 0, "a usage error that says nothing");
    if (status != -1)
        return;
    FUZZ_CHECK(c.port >= 1 && c.port <= 65535, "port %d", c.port);
    FUZZ_CHECK(c.local_port == 0 || (c.local_port <= 65535 && c.local_port != c.port),
               "local port %d", c.local_port);
    FUZZ_CHECK(c.transport <= CLI_UDP6, "transport %d", (int)c.transport);
    FUZZ_CHECK(!c.stream_only || c.transport == CLI_UNIX || c.transport == CLI_TCP, "stream");
    FUZZ_CHECK(!c.udp_only || c.transport == CLI_UDP4 || c.transport == CLI_UDP6, "udp");
    FUZZ_CHECK(!c.cluster || c.transport == CLI_UNIX || c.transport == CLI_TCP, "cluster");
    FUZZ_CHECK((c.cert == NULL) == (c.key == NULL), "a certificate without its key");
    FUZZ_CHECK(c.cert == NULL || c.transport == CLI_TLS, "--cert without --tls");
    FUZZ_CHECK(c.client || c.transport != CLI_TLS || c.cert != NULL, "a TLS world without one");
    FUZZ_CHECK(c.path == NULL || c.path[0] != '\0', "an empty --path");
    FUZZ_CHECK(c.workers <= CLI_WORKERS_MAX && c.timeout_s <= 3600 && c.delay_ms <= 60000,
               "a count past its bound");
    if (c.roles != NULL) {
        bool listed = false;
        for (const char *const *r = c.roles; *r != NULL; r++)
            listed |= *r == c.role;
        FUZZ_CHECK(listed, "role %s", c.role);
    }
    for (int i = 0; i < CLI_CA_MAX && c.ca[i] != NULL; i++)
        FUZZ_CHECK(strcmp(c.ca[i], "cert.pem") == 0, "an unreadable CA was taken: %s", c.ca[i]);
}

static void check_line(const char *line)
{
    static tool_t tool;
    memset(&tool, 0, sizeof tool);
    tool.prog = "nipc emit";
    json_t *obj = NULL, *data = NULL;
    const char *type = NULL;
    if (tool_parse_line(&tool, line, 1, &obj, &type, &data)) {
        FUZZ_CHECK(json_is_object(obj) && type != NULL && json_object_get(obj, "type") != NULL &&
                       (data == NULL || data == json_object_get(obj, "data")),
                   "a line's parts");
        json_decref(obj);
    } else {
        FUZZ_CHECK(ftell(fuzz_out) > 0, "a bad line that says nothing");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        tool_cmd_t cmd;
        const char *name;
    } tools[] = {
        {CMD_SERVE, "serve"}, {CMD_EMIT, "emit"}, {CMD_LISTEN, "listen"}, {CMD_PING, "ping"}};
    fuzz_in_t in = {data, size};
    unsigned which = fuzz_byte(&in) % 12;

    char *buf = NULL;
    size_t len = 0;
    fuzz_out = open_memstream(&buf, &len);
    if (fuzz_out == NULL)
        abort();

    char *args[MAX_ARGS + 1];
    int argc = 0;
    if (which == 11) {
        args[argc++] = fuzz_string(&in);
        check_line(args[0]);
    } else {
        args[argc++] = fuzz_copy("nipc", 5);
        if (which < 4)
            args[argc++] = fuzz_copy(tools[which].name, strlen(tools[which].name) + 1);
        while (in.n > 0 && argc < MAX_ARGS)
            args[argc++] = fuzz_string(&in);
        args[argc] = NULL;
        char *argv[MAX_ARGS + 1];
        memcpy(argv, args, sizeof argv); /* the parsers' argv; args are ours to free */
        if (which < 4)
            check_tool(tools[which].cmd, tools[which].name, argc, argv);
        else
            check_example(which - 4, argc, argv);
    }
    for (int i = 0; i < argc; i++)
        free(args[i]);
    fclose(fuzz_out);
    free(buf);
    fuzz_out = NULL;
    return 0;
}
