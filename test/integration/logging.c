/* SPDX-License-Identifier: MIT */
/*
 * The log's promises (K3, src/log.c): lines to stdout are written many at a time, never a
 * write per line, and in order with the program's own stdout; none waits while the loop
 * waits; none is lost when nipc_run() returns, at nipc_free(), or at exit() from a
 * handler; nothing is formatted when `silent`; a logger gets each line at once and cannot
 * nest them; ipc.log's rendering of a value (nipc_log_json). stdout is pointed at a file
 * in the test's directory while a test logs; the process's write calls are counted from
 * /proc/self/io.
 */
#include "../support/transport.h"
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>

static char dir[64];
static char file[96];
static int saved_stdout = -1;

static void setup(void)
{
    th_tmpdir(dir);
    snprintf(file, sizeof file, "%s/stdout.txt", dir);
}

static void teardown(void)
{
    th_rmdir(dir);
}

TestSuite(logging, .init = setup, .fini = teardown, .timeout = 30);

/* stdout goes to `file` (emptied) until restore_stdout(). */
static void capture_stdout(void)
{
    fflush(stdout);
    int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    cr_assert(fd >= 0);
    saved_stdout = dup(STDOUT_FILENO);
    cr_assert(saved_stdout >= 0);
    cr_assert_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    close(fd);
}

static void restore_stdout(void)
{
    fflush(stdout);
    cr_assert_eq(dup2(saved_stdout, STDOUT_FILENO), STDOUT_FILENO);
    close(saved_stdout);
}

/* What the file holds now, NUL-terminated (the caller frees it). */
static char *captured(size_t *len)
{
    FILE *f = fopen(file, "rb");
    cr_assert_not_null(f);
    char *text = malloc(1 << 20);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    text[n] = '\0';
    if (len != NULL)
        *len = n;
    return text;
}

static size_t count_lines(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The write system calls this process has made (syscw in /proc/self/io). */
static long writes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    cr_assert_not_null(f);
    char key[32];
    long v, n = -1;
    while (fscanf(f, "%31[^:]: %ld\n", key, &v) == 2)
        if (strcmp(key, "syscw") == 0)
            n = v;
    fclose(f);
    cr_assert_geq(n, 0, "no syscw in /proc/self/io");
    return n;
}

static nipc_t *new_ipc(uv_loop_t *loop, bool silent)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = silent;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, loop, &cfg), 0);
    return ipc;
}

/* ---- many lines a write, none left while the loop waits -------------------------------- */

typedef struct burst {
    nipc_t *ipc;
    int lines;
    long writes_during;   /* write calls while the burst was being logged */
    size_t in_file_after; /* lines in the file when the later timer ran */
} burst_t;

static void log_burst(uv_timer_t *t)
{
    burst_t *b = t->data;
    long w0 = writes();
    for (int i = 0; i < b->lines; i++)
        nipc_log(b->ipc, "burst line %d of %d", i, b->lines);
    b->writes_during = writes() - w0;
}

static void look_later(uv_timer_t *t)
{
    burst_t *b = t->data;
    char *text = captured(NULL);
    b->in_file_after = count_lines(text, "burst line ");
    free(text);
}

Test(logging, a_turns_lines_are_written_together_before_the_loop_waits)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    capture_stdout();
    burst_t b = {.ipc = new_ipc(&loop, false), .lines = 300};
    uv_timer_t now, later;
    uv_timer_init(&loop, &now);
    uv_timer_init(&loop, &later);
    now.data = later.data = &b;
    uv_timer_start(&now, log_burst, 0, 0);
    uv_timer_start(&later, look_later, 100, 0); /* the loop waits for this one */
    uv_run(&loop, UV_RUN_DEFAULT);
    nipc_free(b.ipc);
    restore_stdout();
    uv_close((uv_handle_t *)&now, NULL);
    uv_close((uv_handle_t *)&later, NULL);
    th_loop_close(&loop);

    /* 300 lines of about 22 bytes: a few writes of stdio's buffer, not one per line. */
    cr_assert_leq(b.writes_during, 3, "%ld writes for 300 lines", b.writes_during);
    cr_assert_eq(b.in_file_after, 300, "%zu of 300 lines written before the loop waited",
                 b.in_file_after);
    char *text = captured(NULL);
    const char *p = text;
    for (int i = 0; i < 300; i++) { /* each once, whole, in order */
        char want[64];
        snprintf(want, sizeof want, "burst line %d of 300\n", i);
        p = strstr(p, want);
        cr_assert_not_null(p, "line %d missing or out of order", i);
    }
    free(text);
}

Test(logging, lines_keep_their_order_with_the_programs_own_output)
{
    capture_stdout();
    nipc_t *ipc = new_ipc(NULL, false);
    printf("the program's first line\n");
    nipc_log(ipc, "a log line");
    fputs("the program's second line\n", stdout);
    json_t *v = json_pack("[i]", 1);
    nipc_log_json(ipc, v, "a value:");
    json_decref(v);
    nipc_free(ipc);
    restore_stdout();
    char *text = captured(NULL);
    cr_assert_str_eq(text, "the program's first line\na log line\nthe program's second line\n"
                           "a value: [ 1 ]\n");
    free(text);
}

Test(logging, long_lines_are_written_whole)
{
    capture_stdout();
    nipc_t *ipc = new_ipc(NULL, false);
    size_t n = 300 * 1024; /* past the line buffer kept between lines */
    char *big = malloc(n + 1);
    cr_assert_not_null(big);
    memset(big, 'y', n);
    big[n] = '\0';
    long w0 = writes();
    for (int i = 0; i < 3; i++)
        nipc_log(ipc, "%d %s", i, big);
    nipc_log(ipc, "short");
    nipc_free(ipc);
    long w = writes() - w0;
    restore_stdout();
    free(big);
    cr_assert_leq(w, 12, "%ld writes for 900 KiB", w);
    size_t len;
    char *text = captured(&len);
    cr_assert_eq(len, 3 * (n + 3) + 6);
    cr_assert_str_eq(text + 3 * (n + 3), "short\n");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(text[i * (n + 3)], '0' + i);
    free(text);
}

/* ---- nothing lost at the ends ---------------------------------------------------------- */

static void stop_soon(uv_timer_t *t)
{
    nipc_t *ipc = t->data;
    nipc_log(ipc, "the last line");
    uv_close((uv_handle_t *)t, NULL);
}

Test(logging, lines_of_the_last_turn_are_written_when_nipc_run_returns)
{
    capture_stdout();
    nipc_t *ipc = new_ipc(NULL, false);
    uv_timer_t t;
    uv_timer_init(nipc_loop(ipc), &t);
    t.data = ipc;
    uv_timer_start(&t, stop_soon, 0, 0);
    cr_assert_eq(nipc_run(ipc), 0);
    char *text = captured(NULL); /* before nipc_free(): nipc_run() wrote it */
    nipc_free(ipc);
    restore_stdout();
    cr_assert_str_eq(text, "the last line\n");
    free(text);
}

Test(logging, nipc_free_and_nipc_log_flush_write_what_is_pending)
{
    capture_stdout();
    nipc_t *ipc = new_ipc(NULL, false);
    nipc_log(ipc, "one");
    char *text = captured(NULL);
    cr_assert_str_eq(text, "", "written at once");
    free(text);
    nipc_log_flush(ipc);
    text = captured(NULL);
    cr_assert_str_eq(text, "one\n");
    free(text);
    nipc_log(ipc, "two");
    nipc_free(ipc);
    restore_stdout();
    text = captured(NULL);
    cr_assert_str_eq(text, "one\ntwo\n");
    free(text);
}

static void exit_in_handler(uv_timer_t *t)
{
    nipc_t *ipc = t->data;
    nipc_log(ipc, "logged, then exit()");
    exit(7);
}

/* A program that calls exit() in a handler, with a line logged and not yet written. */
Test(logging, exit_from_a_handler_writes_the_pending_lines)
{
    fflush(stdout);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) != STDOUT_FILENO)
            _exit(1);
        nipc_config_t cfg;
        nipc_config_init(&cfg);
        nipc_t *ipc;
        if (nipc_new(&ipc, NULL, &cfg) != 0)
            _exit(2);
        uv_timer_t t;
        uv_timer_init(nipc_loop(ipc), &t);
        t.data = ipc;
        uv_timer_start(&t, exit_in_handler, 0, 0);
        nipc_run(ipc);
        _exit(3);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status %d", status);
    char *text = captured(NULL);
    cr_assert_str_eq(text, "logged, then exit()\n");
    free(text);
}

/* ---- nothing formatted that is not written --------------------------------------------- */

Test(logging, silent_formats_nothing)
{
    capture_stdout();
    nipc_t *loud = new_ipc(NULL, false), *quiet = new_ipc(NULL, true);
    int n_loud = -1, n_quiet = -1;
    /* %n stores how much was formatted: the silent instance must not get that far. */
    nipc_log(loud, "abc%n", &n_loud);
    nipc_log(quiet, "abc%n", &n_quiet);
    json_t *v = json_pack("{s:i}", "a", 1);
    nipc_log_json(quiet, v, "value%n", &n_quiet);
    json_decref(v);
    long w0 = writes();
    nipc_free(quiet);
    cr_assert_eq(writes(), w0, "a silent instance wrote");
    nipc_free(loud);
    restore_stdout();
    cr_assert_eq(n_loud, 3);
    cr_assert_eq(n_quiet, -1, "a silent line was formatted");
    char *text = captured(NULL);
    cr_assert_str_eq(text, "abc\n");
    free(text);
}

/* ---- the logger ------------------------------------------------------------------------ */

typedef struct got {
    nipc_t *ipc;
    int n;
    char last[512];
} got_t;

static void reentrant_logger(const char *line, void *arg)
{
    got_t *g = arg;
    g->n++;
    snprintf(g->last, sizeof g->last, "%s", line);
    nipc_log(g->ipc, "from inside the logger"); /* not made: it would nest */
}

Test(logging, a_logger_gets_each_line_at_once_and_cannot_nest_lines)
{
    static got_t g;
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.logger = reentrant_logger;
    cfg.logger_arg = &g;
    capture_stdout();
    cr_assert_eq(nipc_new(&g.ipc, NULL, &cfg), 0);
    nipc_log(g.ipc, "first %d", 1);
    cr_assert_eq(g.n, 1);
    cr_assert_str_eq(g.last, "first 1");
    nipc_log(g.ipc, "second");
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.last, "second");
    nipc_free(g.ipc);
    restore_stdout();
    char *text = captured(NULL);
    cr_assert_str_eq(text, "", "a logger's lines went to stdout");
    free(text);
}

/* ---- ipc.log's rendering of one value -------------------------------------------------- */

static void keep(const char *line, void *arg)
{
    snprintf(arg, 512, "%s", line);
}

static void expect_rendering(bool color, const char *json, const char *want)
{
    char line[512] = "";
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.logger = keep;
    cfg.logger_arg = line;
    cfg.log_in_color = color;
    cfg.log_depth = 1;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    json_t *v = json != NULL ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    cr_assert(json == NULL || v != NULL, "%s", json);
    nipc_log_json(ipc, v, "got a message %s", ":");
    json_decref(v);
    nipc_free(ipc);
    cr_assert_str_eq(line, want, "%s", json ? json : "NULL");
}

/* As node-ipc's log(): a string, number or boolean as String() writes it; null, objects
 * and arrays through util.inspect (depth, colours); undefined. */
Test(logging, nipc_log_json_renders_a_value_as_ipc_log_does)
{
    expect_rendering(false, "\"hello\"", "got a message : hello");
    expect_rendering(true, "\"hello\"", "got a message : hello");
    expect_rendering(false, "5", "got a message : 5");
    expect_rendering(false, "0.1", "got a message : 0.1");
    expect_rendering(false, "1e21", "got a message : 1e+21");
    expect_rendering(false, "true", "got a message : true");
    expect_rendering(false, "null", "got a message : null");
    expect_rendering(true, "null", "got a message : \x1b[1mnull\x1b[22m");
    expect_rendering(false, NULL, "got a message : undefined");
    expect_rendering(false, "{\"id\":\"hello\",\"list\":[1,\"two\"],\"deep\":{\"a\":{}}}",
                     "got a message : { id: 'hello', list: [ 1, 'two' ], deep: { a: {} } }");
    expect_rendering(false, "{\"deep\":{\"a\":{\"b\":1}}}",
                     "got a message : { deep: { a: [Object] } }");
    expect_rendering(true, "[\"x\",2]",
                     "got a message : [ \x1b[32m'x'\x1b[39m, \x1b[33m2\x1b[39m ]");
}
