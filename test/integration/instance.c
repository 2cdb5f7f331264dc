/* SPDX-License-Identifier: MIT */
/*
 * The instance: independent instances in one process, each with its own delimiter (K2),
 * logging through a callback with silent, depth and colour (K3), an owned loop that ends
 * when there is nothing left to do, refused configurations, and out-of-memory at every
 * allocation of a whole exchange.
 */
#include "../support/transport.h"
#include "internal.h"

#include <openssl/crypto.h>

#include <fcntl.h>
#include <stdlib.h>

static char dir[64];

static void setup(void)
{
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_rmdir(dir);
}

TestSuite(instance, .init = setup, .fini = teardown, .timeout = 30);

/* ---- K2 ---------------------------------------------------------------------------------- */

typedef struct pair {
    nipc_t *server_ipc, *client_ipc;
    nipc_server_t *server;
    nipc_client_t *client;
    th_rec_t srec, crec;
} pair_t;

static void reply(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emit(ev->server, ev->socket, "pong", ev->data);
}

static void pair_open_cfg(pair_t *p, uv_loop_t *loop, const nipc_config_t *base, const char *name)
{
    nipc_config_t cfg = *base;
    cfg.stop_retrying = true;
    memset(p, 0, sizeof *p);
    cr_assert_eq(nipc_new(&p->server_ipc, loop, &cfg), 0);
    cr_assert_eq(nipc_new(&p->client_ipc, loop, &cfg), 0);
    cr_assert_eq(nipc_serve(p->server_ipc, th_path(dir, name), &p->server), 0);
    nipc_server_on(p->server, NIPC_EVENT_ANY, th_record, &p->srec);
    nipc_server_on(p->server, "ping", reply, NULL);
    cr_assert_eq(nipc_server_start(p->server), 0);
    th_run_for(loop, 10);
    cr_assert_eq(nipc_connect_to(p->client_ipc, "s", th_path(dir, name), &p->client), 0);
    nipc_client_on(p->client, NIPC_EVENT_ANY, th_record, &p->crec);
}

static void pair_open(pair_t *p, uv_loop_t *loop, const char *delim, const char *name)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.delimiter = delim;
    pair_open_cfg(p, loop, &cfg, name);
}

Test(instance, k2_instances_are_independent_with_their_own_delimiters)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    pair_t ff, bar, crlf;
    pair_open(&ff, &loop, "\f", "ff.sock");
    pair_open(&bar, &loop, "|", "bar.sock");
    pair_open(&crlf, &loop, "\r\n", "crlf.sock");
    pair_t *all[] = {&ff, &bar, &crlf};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 5; i++)
            nipc_client_emitf(all[k]->client, "ping", "{s:i, s:s}", "i", i, "s", "a\r\nb");
    /* A frame holding the delimiter would be cut in two: it is refused, never sent. */
    cr_assert_eq(nipc_client_emitf(bar.client, "ping", "{s:s}", "s", "a|b"), NIPC_EDELIM);
    cr_assert_eq(nipc_client_emitf(ff.client, "ping|", "{s:s}", "s", "a|b"), 0);
    uint64_t end = uv_hrtime() / 1000000 + 3000;
    while ((th_count(&ff.crec, "pong") < 5 || th_count(&bar.crec, "pong") < 5 ||
            th_count(&crlf.crec, "pong") < 5) &&
           uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(th_count(&all[k]->crec, "pong"), 5, "pair %d: %s", k, th_types(&all[k]->crec));
        cr_assert_eq(th_count(&all[k]->srec, "error"), 0);
        cr_assert_str_eq(all[k]->crec.data[th_find(&all[k]->crec, "pong", 4)],
                         "{\"i\":4,\"s\":\"a\\r\\nb\"}");
        cr_assert_str_eq(nipc_config(all[k]->server_ipc)->delimiter, k == 0   ? "\f"
                                                                     : k == 1 ? "|"
                                                                              : "\r\n");
        nipc_free(all[k]->client_ipc);
        nipc_free(all[k]->server_ipc);
    }
    th_loop_close(&loop);
}

/* ---- busy_poll_us ------------------------------------------------------------------------ */

static void count_turn(uv_prepare_t *h)
{
    ++*(long *)h->data;
}

/* Loop turns in `ms` milliseconds of running the loop. */
static long turns_in(uv_loop_t *loop, uv_prepare_t *counter, unsigned ms)
{
    *(long *)counter->data = 0;
    th_run_for(loop, ms);
    return *(long *)counter->data;
}

/*
 * With busy_poll_us the loop keeps turning without sleeping after traffic (a turn is a poll
 * that does not wait), for that long and no longer; without it, and when quiet, a turn
 * happens only when something wakes the loop. Counted with a prepare handle, which runs
 * once per turn, over a real Unix socket.
 */
static void busy_poll_case(unsigned us, bool spins)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    long turns = 0;
    uv_prepare_t counter;
    uv_prepare_init(&loop, &counter);
    counter.data = &turns;
    uv_prepare_start(&counter, count_turn);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.busy_poll_us = us;
    pair_t p;
    pair_open_cfg(&p, &loop, &cfg, "spin.sock");
    uint64_t end = uv_hrtime() / 1000000 + 3000;
    while (th_count(&p.crec, "connect") == 0 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    cr_assert_eq(th_count(&p.crec, "connect"), 1, "%s", th_types(&p.crec));

    th_run_for(&loop, 2 * us / 1000 + 20); /* the connection's own traffic is long past */
    long quiet = turns_in(&loop, &counter, 50);
    cr_assert_leq(quiet, 5, "%ld turns in 50 ms of quiet", quiet);

    cr_assert_eq(nipc_client_emitf(p.client, "ping", "{s:i}", "i", 1), 0);
    end = uv_hrtime() / 1000000 + 3000;
    while (th_count(&p.crec, "pong") == 0 && uv_hrtime() / 1000000 < end)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(th_count(&p.crec, "pong"), 1, "%s", th_types(&p.crec));
    /* Even on a loaded machine, where each yield may hand the CPU away for a time slice,
     * a spinning loop turns far more than 10 times in 100 ms; a sleeping one once or twice. */
    long after = turns_in(&loop, &counter, 100);
    if (spins)
        cr_assert_geq(after, 10, "only %ld turns in the 100 ms after a round trip", after);
    else
        cr_assert_leq(after, 5, "%ld turns in the 100 ms after a round trip", after);

    th_run_for(&loop, 2 * us / 1000 + 20); /* past the window */
    quiet = turns_in(&loop, &counter, 50);
    cr_assert_leq(quiet, 5, "%ld turns in 50 ms once the window is over", quiet);

    nipc_free(p.client_ipc);
    nipc_free(p.server_ipc);
    uv_close((uv_handle_t *)&counter, NULL);
    th_loop_close(&loop);
}

Test(instance, busy_poll_keeps_the_loop_turning_after_traffic_then_sleeps)
{
    busy_poll_case(300000, true);
}

Test(instance, without_busy_poll_the_loop_sleeps_after_traffic)
{
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cr_assert_eq(cfg.busy_poll_us, 0, "busy polling is off by default");
    busy_poll_case(0, false);
}

Test(instance, k2_the_config_is_copied_strings_included)
{
    char id[16] = "mine", root[80];
    snprintf(root, sizeof root, "%s/", dir);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.id = id;
    cfg.socket_root = root;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    strcpy(id, "changed");
    memset(root, 0, sizeof root);
    cfg.retry = 1;
    cr_assert_str_eq(nipc_config(ipc)->id, "mine");
    cr_assert_neq(nipc_config(ipc)->id, id);
    cr_assert_eq(nipc_config(ipc)->retry, 500);
    nipc_server_t *s;
    cr_assert_eq(nipc_serve(ipc, NULL, &s), 0);
    cr_assert_str_eq(nipc_server_path(s), th_path(dir, "app.mine"));
    nipc_free(ipc);
}

/* ---- K3 ---------------------------------------------------------------------------------- */

typedef struct lines {
    int n;
    char text[256][256];
} lines_t;

static void collect(const char *line, void *arg)
{
    lines_t *l = arg;
    if (l->n < 256)
        snprintf(l->text[l->n++], 256, "%s", line);
}

static bool any_line(const lines_t *l, const char *needle)
{
    for (int i = 0; i < l->n; i++)
        if (strstr(l->text[i], needle) != NULL)
            return true;
    return false;
}

static void logged_exchange(lines_t *l, bool silent, bool color, int depth, bool payloads)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.silent = silent;
    cfg.log_in_color = color;
    cfg.log_depth = depth;
    cfg.log_payloads = payloads;
    cfg.logger = collect;
    cfg.logger_arg = l;
    cfg.stop_retrying = true;
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, th_path(dir, "log.sock"));
    nipc_t *cipc;
    nipc_client_t *c;
    cr_assert_eq(nipc_new(&cipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_connect_to(cipc, "s", th_path(dir, "log.sock"), &c), 0);
    nipc_client_emitf(c, "deep", "{s:{s:{s:s}}, s:s}", "a", "b", "c", "d", "name", "x");
    uint64_t end = uv_hrtime() / 1000000 + 2000;
    while (th_count(&srv.rec, "deep") < 1 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    cr_assert_eq(th_count(&srv.rec, "deep"), 1);
    nipc_free(cipc);
    nipc_free(srv.ipc);
    th_loop_close(&loop);
}

Test(instance, k3_logging_goes_through_the_logger_unless_silent)
{
    static lines_t plain, color, shallow, silent, typed;
    logged_exchange(&plain, false, false, 5, true);
    cr_assert_gt(plain.n, 3);
    cr_assert(any_line(&plain, "starting server on"));
    cr_assert(any_line(&plain, "dispatching event to s : deep { a: { b: { c: 'd' } }, name: 'x' }"),
              "util.inspect form");
    cr_assert(any_line(&plain, "received event of : deep { a: { b: { c: 'd' } }, name: 'x' }"));
    for (int i = 0; i < plain.n; i++)
        cr_assert_null(strchr(plain.text[i], '\n'), "one line per call, no newline");

    logged_exchange(&color, false, true, 5, true);
    cr_assert(any_line(&color, "\x1b[32m'd'\x1b[39m"), "strings in green");

    logged_exchange(&shallow, false, false, 1, true);
    cr_assert(any_line(&shallow, "{ a: { b: [Object] }, name: 'x' }"));

    logged_exchange(&silent, true, false, 5, true);
    cr_assert_eq(silent.n, 0);

    /* log_payloads off (the default, as node-ipc 14's logPayloads): the type, not the data. */
    logged_exchange(&typed, false, false, 5, false);
    cr_assert(any_line(&typed, "received event of : deep"));
    cr_assert(any_line(&typed, "dispatching event to s : deep"));
    for (int i = 0; i < typed.n; i++)
        cr_assert_null(strstr(typed.text[i], "name"), "a payload in the log: %s", typed.text[i]);
}

static void log_line(const char *line, void *arg)
{
    collect(line, arg);
}

Test(instance, k3_nipc_log_formats_and_respects_silent)
{
    static lines_t l;
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.logger = log_line;
    cfg.logger_arg = &l;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    nipc_log(ipc, "n=%d s=%s", 7, "x");
    char big[2000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    nipc_log(ipc, "%s", big);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.text[0], "n=7 s=x");
    cr_assert_eq(strlen(l.text[1]), 255, "long lines are passed whole (cut by the test)");
    nipc_free(ipc);

    cfg.silent = true;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    nipc_log(ipc, "quiet");
    cr_assert_eq(l.n, 2);
    nipc_free(ipc);
}

/* ---- owned loop ---------------------------------------------------------------------------- */

static void bye(const nipc_event_t *ev, void *arg)
{
    nipc_t *ipc = arg;
    (void)ev;
    nipc_server_stop(nipc_server(ipc));
    nipc_disconnect(ipc, "self");
}

Test(instance, owned_loop_runs_until_nothing_is_left)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    cr_assert_not_null(nipc_loop(ipc));
    nipc_server_t *s;
    nipc_client_t *c;
    th_rec_t srec = {0};
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "self.sock"), &s), 0);
    nipc_server_on(s, NIPC_EVENT_ANY, th_record, &srec);
    nipc_server_on(s, "hi", bye, ipc);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_eq(nipc_connect_to(ipc, "self", th_path(dir, "self.sock"), &c), 0);
    cr_assert_eq(nipc_client_emit_new(c, "hi", json_string("me")), 0);
    /* Returns once the server stopped and both ends of the connection closed. */
    nipc_run(ipc);
    cr_assert_str_eq(th_types(&srec), "start connect hi socket.disconnected close");
    nipc_free(ipc);
}

Test(instance, refused_configurations)
{
    nipc_config_t cfg;
    nipc_t *ipc = (nipc_t *)1;
    th_config(&cfg);
    cfg.encoding = "latin1"; /* W17: JSON mode is UTF-8 only */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_ENOTSUP);
    cr_assert_null(ipc);
    th_config(&cfg);
    cfg.raw_buffer = true;
    cfg.encoding = "utf-7"; /* not one of Node's */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    th_config(&cfg);
    cfg.tls.min_version = 10; /* nothing below TLS 1.2 is spoken */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    cr_assert_null(ipc);
    th_config(&cfg);
    cfg.delimiter = "";
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    th_config(&cfg);
    cfg.max_message_size = 0;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    th_config(&cfg);
    cfg.retry_backoff = 0.5; /* waits that shrink */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    th_config(&cfg);
    cfg.retry_jitter = 1.5; /* a wait below 0 */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    th_config(&cfg);
    cfg.retry_max_ms = cfg.retry - 1; /* a cap below the first wait */
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), UV_EINVAL);
    cr_assert_null(ipc);
    cr_assert_eq(nipc_new(NULL, NULL, NULL), UV_EINVAL);
    /* NULL config means node-ipc's defaults. */
    cr_assert_eq(nipc_new(&ipc, NULL, NULL), 0);
    cr_assert_str_eq(nipc_config(ipc)->appspace, "app.");
    nipc_free(ipc);
}

/* ---- a call that fails hands nothing out ------------------------------------------------ */

/* Each handle a failed call could hand out is preset to this and must come back NULL. */
#define NOT_NULL(type) ((type *)(uintptr_t)0x5a5a)

/* nipc.h's convention: every function with an `out` parameter sets *out = NULL when it fails,
 * whatever the failure (nipc_serve and nipc_serve_net once left it as it was). */
Test(instance, a_call_that_fails_hands_nothing_out)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc = NOT_NULL(nipc_t);
    nipc_server_t *s = NOT_NULL(nipc_server_t);
    nipc_client_t *c = NOT_NULL(nipc_client_t);
    nipc_mailbox_t *mb = NOT_NULL(nipc_mailbox_t);
#define REFUSED(call, code, var, type)                                                             \
    do {                                                                                           \
        var = NOT_NULL(type);                                                                      \
        int err_ = (call);                                                                         \
        cr_assert_eq(err_, code, "%s: %s, not %s", #call, nipc_err_name(err_),                     \
                     nipc_err_name(code));                                                         \
        cr_assert_null(var, "%s failed and handed something out", #call);                          \
    } while (0)

    cfg.delimiter = "";
    REFUSED(nipc_new(&ipc, &loop, &cfg), UV_EINVAL, ipc, nipc_t);
    th_config(&cfg);
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);

    /* Servers: bad arguments, a family the host cannot take, a path too long. */
    REFUSED(nipc_serve(NULL, th_path(dir, "x.sock"), &s), UV_EINVAL, s, nipc_server_t);
    REFUSED(nipc_serve_net(NULL, NULL, 0, NIPC_TCP, &s), UV_EINVAL, s, nipc_server_t);
    REFUSED(nipc_serve_net(ipc, NULL, 0, NIPC_UDP6, &s), UV_EAFNOSUPPORT, s, nipc_server_t);
    REFUSED(nipc_serve_net(ipc, NULL, 70000, NIPC_TCP, &s), UV_EINVAL, s, nipc_server_t);
    REFUSED(nipc_serve_net(ipc, NULL, 0, (nipc_net_t)5, &s), UV_EINVAL, s, nipc_server_t);
    char longp[4096];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    REFUSED(nipc_serve(ipc, longp, &s), UV_ENAMETOOLONG, s, nipc_server_t);
    REFUSED(nipc_serve_fd(ipc, -1, &s), UV_EINVAL, s, nipc_server_t);
    cr_assert_null(nipc_server(ipc), "a refused serve made a server");

    /* One server per instance: every second serve is UV_EALREADY. */
    nipc_server_t *first;
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "out.sock"), &first), 0);
    REFUSED(nipc_serve(ipc, th_path(dir, "x.sock"), &s), UV_EALREADY, s, nipc_server_t);
    REFUSED(nipc_serve_net(ipc, NULL, 0, NIPC_TCP, &s), UV_EALREADY, s, nipc_server_t);
    REFUSED(nipc_serve_fd(ipc, -1, &s), UV_EALREADY, s, nipc_server_t);
    cr_assert_eq(nipc_server(ipc), first);

    /* Clients: bad arguments, a path too long, an id already connecting. */
    REFUSED(nipc_connect_to(NULL, "a", th_path(dir, "out.sock"), &c), UV_EINVAL, c, nipc_client_t);
    REFUSED(nipc_connect_to(ipc, "", th_path(dir, "out.sock"), &c), UV_EINVAL, c, nipc_client_t);
    REFUSED(nipc_connect_to(ipc, "a", longp, &c), UV_ENAMETOOLONG, c, nipc_client_t);
    REFUSED(nipc_connect_to_net(ipc, "n", NULL, 0, &c), UV_EINVAL, c, nipc_client_t);
    REFUSED(nipc_connect_to_net(ipc, "n", NULL, 70000, &c), UV_EINVAL, c, nipc_client_t);
    nipc_client_t *a;
    cr_assert_eq(nipc_connect_to(ipc, "a", th_path(dir, "out.sock"), &a), 0);
    REFUSED(nipc_connect_to(ipc, "a", th_path(dir, "out.sock"), &c), UV_EALREADY, c, nipc_client_t);
    REFUSED(nipc_connect_to_net(ipc, "a", NULL, 1, &c), UV_EALREADY, c, nipc_client_t);
    cr_assert_eq(nipc_of(ipc, "a"), a);

    /* Mailboxes: no target, a closed client. */
    REFUSED(nipc_client_mailbox(NULL, 0, &mb), UV_EINVAL, mb, nipc_mailbox_t);
    REFUSED(nipc_server_mailbox(NULL, 0, &mb), UV_EINVAL, mb, nipc_mailbox_t);
    cr_assert_eq(nipc_client_close(a, false), 0);
    REFUSED(nipc_client_mailbox(a, 0, &mb), NIPC_EDESTROYED, mb, nipc_mailbox_t);
#undef REFUSED
    nipc_free(ipc);
    th_loop_close(&loop);
}

/* ---- out of memory ------------------------------------------------------------------------- */

/*
 * A whole exchange (instance, server start, client connect, emits both ways, a flushing
 * disconnect, the server seeing the socket leave) with the n-th allocation failing, jansson's
 * and OpenSSL's allocations included, for every n until one run needs no failure, over every
 * stream transport. Each call either works or returns an error (UV_ENOMEM, or over TLS what
 * OpenSSL made of its failure when it does not say); nothing crashes and (under ASan) nothing
 * leaks. And no event is ever published inside the call that caused it: every handler checks
 * that no nipc call is on the stack.
 */

/*
 * OpenSSL's allocator, routed through nipc's countdown by this test, never by the library
 * (which must not take over a host's OpenSSL allocator). CRYPTO_set_mem_functions refuses once
 * OpenSSL has allocated anything, so it runs in a constructor: before main, in the runner and
 * in every worker (each a fresh process). The sweeps fail loudly if it came too late.
 * The functions keep OpenSSL 3's own rules: malloc(0) and realloc(p, 0) give NULL, the
 * latter freeing p, and realloc(NULL, n) is malloc(n).
 */
static int openssl_hooked;
static bool openssl_failed; /* the allocation made to fail was OpenSSL's */

/* While profiling, which allocations of the run (1-based, from run_base) are OpenSSL's. */
#define PROFILE_MAX 65536
static bool profiling;
static unsigned long run_base;
static bool profile_openssl[PROFILE_MAX];

static bool openssl_should_fail(void)
{
    bool fail = nipc__test_alloc_should_fail();
    openssl_failed = openssl_failed || fail;
    unsigned long i = nipc__test_allocs() - run_base;
    if (profiling && i < PROFILE_MAX)
        profile_openssl[i] = true;
    return fail;
}

static void *openssl_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    if (n == 0)
        return NULL;
    return openssl_should_fail() ? NULL : malloc(n);
}

static void *openssl_realloc(void *p, size_t n, const char *file, int line)
{
    if (p == NULL)
        return openssl_malloc(n, file, line);
    if (n == 0) {
        free(p);
        return NULL;
    }
    return openssl_should_fail() ? NULL : realloc(p, n);
}

static void openssl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

__attribute__((constructor)) static void hook_openssl(void)
{
    openssl_hooked = CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free);
}

static int in_call;       /* nipc calls made by the test that are running */
static int inside_events; /* events published inside one of them */

static int oom_ret;
static int call_done(int ret)
{
    in_call--;
    return ret;
}
#define CALL(expr) (in_call++, oom_ret = (expr), call_done(oom_ret))

static void oom_record(const nipc_event_t *ev, void *arg)
{
    inside_events += in_call > 0;
    th_record(ev, arg);
}

static void oom_reply(const nipc_event_t *ev, void *arg)
{
    inside_events += in_call > 0;
    (void)arg;
    (void)CALL(nipc_server_emitf(ev->server, ev->socket, "pong", "{s:O?}", "got", ev->data));
}

static void oom_goodbye(const nipc_event_t *ev, void *arg)
{
    inside_events += in_call > 0;
    (void)CALL(nipc_disconnect(arg, nipc_client_id(ev->client)));
}

/* What a sweep's run waits for: its recorders, and the server of a stream exchange. */
typedef struct oom_watch {
    const th_rec_t *client, *server;
    const nipc_server_t *s;
    bool patient; /* a run with no failure, which must complete */
} oom_watch_t;

/*
 * Runs the loop until done(w), for a second at most, or until the recorders have seen
 * nothing new for 30 ms: a failed allocation can leave a side waiting for ever, e.g. for a
 * reply never sent. A patient run, which nothing makes fail, waits ten seconds and two of
 * quiet, so that a loaded machine never fails it.
 */
static void run_until_quiet(uv_loop_t *loop, bool (*done)(const oom_watch_t *),
                            const oom_watch_t *w)
{
    unsigned gap = w->patient ? 2000 : 30;
    uint64_t now = uv_hrtime() / 1000000, end = now + (w->patient ? 10000 : 1000),
             quiet = now + gap;
    int seen = 0;
    while (!done(w) && now < end && now < quiet) {
        uv_run(loop, UV_RUN_NOWAIT);
        now = uv_hrtime() / 1000000;
        int n = w->client->n + (w->server != NULL ? w->server->n : 0);
        if (n != seen) {
            seen = n;
            quiet = now + gap;
        }
    }
}

/*
 * The client's destroy, and the server's socket.disconnected, or an error that left the
 * server with no socket (a connection that failed before it was the server's): the exchange
 * is over.
 */
static bool stream_done(const oom_watch_t *w)
{
    return th_count(w->client, "destroy") >= 1 &&
           (th_count(w->server, "socket.disconnected") >= 1 ||
            (th_count(w->server, "error") >= 1 && nipc_server_socket_count(w->s) == 0));
}

static bool udp_done(const oom_watch_t *w)
{
    return th_count(w->client, "pong") >= 1;
}

/* What one run of a sweep did. */
typedef struct oom_run {
    bool completed;      /* the whole exchange happened */
    bool fired;          /* the allocation made to fail came (a run it never reached ends) */
    bool other_code;     /* a call failed with an error other than UV_ENOMEM */
    unsigned long setup; /* allocations until nipc_server_start returned */
    unsigned long total; /* allocations of the run */
} oom_run_t;

/*
 * One exchange with the n-th allocation of the run failing (0: none). Over TLS the config
 * names the certificates before nipc_new, so that the client's TLS context is made there and
 * the server's in nipc_server_start: every allocation after that is the connection's.
 */
static void stream_exchange(const th_transport_t *t, unsigned long n, oom_run_t *r)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_retries = 0;
    char cert[128], key[128], ca[128];
    const char *cas[] = {ca, NULL};
    if (t->kind == TH_TLS) {
        snprintf(cert, sizeof cert, "%s/server.pem", th_tls_dir());
        snprintf(key, sizeof key, "%s/server.key", th_tls_dir());
        snprintf(ca, sizeof ca, "%s/ca.pem", th_tls_dir());
        cfg.tls.enabled = true;
        cfg.tls.public_cert = cert;
        cfg.tls.private_key = key;
        cfg.tls.trusted_connections = cas;
    }
    nipc_t *ipc = NULL;
    nipc_server_t *s = NULL;
    nipc_client_t *c = NULL;
    memset(r, 0, sizeof *r);
    th_rec_t *rec = calloc(1, sizeof *rec), *srec = calloc(1, sizeof *srec);
    openssl_failed = false;
    run_base = nipc__test_allocs();
    nipc__test_fail_alloc_after(n);
    int err = CALL(nipc_new(&ipc, &loop, &cfg));
    if (err == 0)
        err = CALL(th_serve(ipc, t, dir, "oom.sock", &s));
    if (err == 0) {
        nipc_server_on(s, "ping", oom_reply, NULL);
        nipc_server_on(s, NIPC_EVENT_ANY, oom_record, srec);
        err = CALL(nipc_server_start(s));
    }
    r->setup = nipc__test_allocs() - run_base;
    if (err == 0)
        err = CALL(th_connect(ipc, t, "s", s, &c));
    if (err == 0) {
        nipc_client_on(c, NIPC_EVENT_ANY, oom_record, rec);
        /* The disconnect drops wildcard handlers (C12): destroy needs its own. */
        nipc_client_on(c, "destroy", oom_record, rec);
        nipc_client_on(c, "pong", oom_goodbye, ipc);
        err = CALL(nipc_client_emitf(c, "ping", "{s:i}", "i", 1));
    }
    if (err == 0) {
        const oom_watch_t w = {rec, srec, s, n == 0};
        run_until_quiet(&loop, stream_done, &w);
        r->completed = th_count(rec, "pong") == 1 && th_count(rec, "destroy") == 1 &&
                       th_count(srec, "socket.disconnected") == 1;
    }
    r->total = nipc__test_allocs() - run_base;
    /* OpenSSL 3.0 does not report every failed allocation (a PEM reader that could not
     * allocate goes on to say "no start line"): nipc's code is UV_ENOMEM wherever OpenSSL's
     * error queue says malloc failure, and otherwise what OpenSSL made of it. */
    cr_assert(err == 0 || err == UV_ENOMEM || (openssl_failed && err < 0), "%s: n=%lu: %s", t->name,
              n, nipc_strerror(err));
    r->other_code = err != 0 && err != UV_ENOMEM;
    r->fired = nipc__test_alloc_failed();
    nipc__test_fail_alloc_after(0);
    nipc_free(ipc);
    th_loop_close(&loop);
    free(rec);
    free(srec);
    unlink(th_path(dir, "oom.sock"));
}

ParameterizedTestParameters(instance, every_allocation_failure_is_survived)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/*
 * Over TLS a run makes about 20 000 allocations, three quarters of them OpenSSL's while it
 * builds the two contexts (parsing keys and certificates), and every run builds them again:
 * a sweep of every one would take minutes under ASan. So every allocation of nipc's own is
 * swept, and every one from nipc_server_start's return on (the connect, the whole
 * handshake, the exchange and the close), but of OpenSSL's allocations before that only one
 * in OPENSSL_SETUP_STRIDE. Under valgrind, where a run takes a third of a second, OpenSSL's
 * are one in 4 times that before, and one in VALGRIND_STRIDE after. Which allocation is whose
 * comes from a run without failures (a profile), made after a first one (a warm-up) that did
 * OpenSSL's once-per-process initialisation: a failure in that would be OpenSSL's alone, and
 * stays for the process.
 */
#define OPENSSL_SETUP_STRIDE 16
#define VALGRIND_STRIDE 16

ParameterizedTest(th_transport_t *t, instance, every_allocation_failure_is_survived, .timeout = 240)
{
    cr_assert_eq(openssl_hooked, 1, "CRYPTO_set_mem_functions came after OpenSSL allocated");
    oom_run_t warm, prof, r;
    stream_exchange(t, 0, &warm);
    profiling = true;
    memset(profile_openssl, 0, sizeof profile_openssl);
    stream_exchange(t, 0, &prof);
    profiling = false;
    cr_assert(warm.completed && prof.completed, "%s: no exchange without failures", t->name);
    cr_assert_lt(prof.total, PROFILE_MAX, "%s: %lu allocations", t->name, prof.total);
    unsigned long openssl = 0, runs = 0, other = 0, setup_openssl = 0;
    for (unsigned long i = 1; i <= prof.total; i++)
        openssl += profile_openssl[i];
    uint64_t t0 = uv_hrtime();
    unsigned long unreached = 0; /* runs that ended before their n-th allocation */
    unsigned long setup_stride = OPENSSL_SETUP_STRIDE * (th_valgrind() ? 4 : 1), later = 0;
    for (unsigned long n = 1;; n++) {
        if (n <= prof.setup && profile_openssl[n] && setup_openssl++ % setup_stride != 0)
            continue;
        if (th_valgrind() && n > prof.setup && n <= prof.total && profile_openssl[n] &&
            later++ % VALGRIND_STRIDE != 0)
            continue;
        stream_exchange(t, n, &r);
        runs++;
        other += r.other_code;
        /* The end: a run with fewer allocations than n. One that stopped short of the
         * profile's count had an allocation count of its own (a read split otherwise, a
         * side left waiting beyond the quiet time): the sweep goes on. */
        if (!r.fired && n > prof.total)
            break;
        unreached += !r.fired;
    }
    stream_exchange(t, 0, &r);
    cr_assert(r.completed, "%s: the exchange did not complete with no allocation failing", t->name);
    cr_assert_gt(prof.total, 20, "%s: the exchange made only %lu allocations", t->name, prof.total);
    cr_assert_eq(inside_events, 0, "%s: %d events published inside a call", t->name, inside_events);
    cr_log_info("%s: %lu allocations (%lu OpenSSL's, %lu until the server started), %lu runs, "
                "%lu ended before their failure, %lu failed with a code other than ENOMEM, %.1f s",
                t->name, prof.total, openssl, prof.setup, runs, unreached, other,
                (double)(uv_hrtime() - t0) / 1e9);
}

/* The same sweep over UDP: two UDP servers, one sends `ping` to the other, which answers the
 * sender's socket with `pong` (node-ipc's UDP hello world, U6). */
static void udp_pong(const nipc_event_t *ev, void *arg)
{
    inside_events += in_call > 0;
    (void)arg;
    (void)CALL(nipc_server_emit(ev->server, ev->socket, "pong", ev->data));
}

/* The UDP exchange with the n-th allocation failing (0: none, and a patient wait). */
static void udp_exchange(unsigned long n, oom_run_t *r)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *a = NULL, *b = NULL;
    nipc_server_t *sa = NULL, *sb = NULL;
    memset(r, 0, sizeof *r);
    th_rec_t *rec = calloc(1, sizeof *rec);
    run_base = nipc__test_allocs();
    nipc__test_fail_alloc_after(n);
    int err = CALL(nipc_new(&a, &loop, &cfg));
    if (err == 0)
        err = CALL(nipc_new(&b, &loop, &cfg));
    if (err == 0)
        err = CALL(nipc_serve_net(a, "127.0.0.1", 0, NIPC_UDP4, &sa));
    if (err == 0)
        err = CALL(nipc_serve_net(b, "127.0.0.1", 0, NIPC_UDP4, &sb));
    if (err == 0) {
        nipc_server_on(sa, "ping", udp_pong, NULL);
        nipc_server_on(sb, NIPC_EVENT_ANY, oom_record, rec);
        err = CALL(nipc_server_start(sa));
    }
    if (err == 0)
        err = CALL(nipc_server_start(sb));
    if (err == 0)
        err = CALL(nipc_server_emit_to(sb, "127.0.0.1", nipc_server_port(sa), "ping", NULL));
    if (err == 0) {
        const oom_watch_t w = {rec, NULL, NULL, n == 0};
        run_until_quiet(&loop, udp_done, &w);
        r->completed = th_count(rec, "pong") == 1;
    }
    r->total = nipc__test_allocs() - run_base;
    cr_assert(err == 0 || err == UV_ENOMEM, "n=%lu: %s", n, nipc_strerror(err));
    r->fired = nipc__test_alloc_failed();
    nipc__test_fail_alloc_after(0);
    nipc_free(a);
    nipc_free(b);
    th_loop_close(&loop);
    free(rec);
}

Test(instance, every_allocation_failure_is_survived_over_udp, .timeout = 120)
{
    oom_run_t prof, r;
    udp_exchange(0, &prof);
    cr_assert(prof.completed, "no exchange without failures");
    unsigned long n = 1;
    for (;; n++) {
        udp_exchange(n, &r);
        if (!r.fired && n > prof.total)
            break;
    }
    udp_exchange(0, &r);
    cr_assert(r.completed, "the exchange did not complete with no allocation failing");
    cr_assert_gt(prof.total, 10, "the exchange made only %lu allocations", prof.total);
    cr_assert_eq(inside_events, 0, "%d events published inside a call", inside_events);
    cr_log_info("udp: %lu allocations, %lu runs", prof.total, n);
}

/* ---- K3: colours only where they show ---------------------------------------------------- */

/* Logs one JSON value through the default logger (stdout) with log_in_color, with stdout
 * pointing at `fd`; returns what was written, read back by read_back(). */
static void log_to_stdout_fd(int fd)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    cr_assert(saved >= 0);
    cr_assert_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    nipc_config_t cfg;
    nipc_config_init(&cfg);
    cfg.log_in_color = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    json_t *v = json_pack("{s:s}", "name", "x");
    nipc_log_json(ipc, v, "data:");
    json_decref(v);
    nipc_free(ipc);
    fflush(stdout);
    cr_assert_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
}

/* log_in_color (default true): node-ipc colours a log redirected to a file too; nipc colours
 * only a terminal, so a log file holds plain text. */
Test(instance, k3_colours_go_to_a_terminal_and_never_to_a_file)
{
    char path[96];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    cr_assert(fd >= 0);
    log_to_stdout_fd(fd);
    char got[512] = "";
    cr_assert_gt(pread(fd, got, sizeof got - 1, 0), 0);
    close(fd);
    cr_assert_not_null(strstr(got, "data: { name: 'x' }"), "%s", got);
    cr_assert_null(strchr(got, '\x1b'), "escape codes in a file: %s", got);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert(master >= 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    cr_assert(slave >= 0);
    log_to_stdout_fd(slave);
    memset(got, 0, sizeof got);
    ssize_t n = read(master, got, sizeof got - 1);
    cr_assert_gt(n, 0);
    close(slave);
    close(master);
    cr_assert_not_null(strstr(got, "\x1b[32m'x'\x1b[39m"), "no colour on a terminal: %s", got);
}

/* jansson's allocator is process-wide: nipc routes it through its own only while it is
 * still jansson's default, never over an application's choice. */
static size_t app_allocs;
static void *app_malloc(size_t n)
{
    app_allocs++;
    return malloc(n);
}

Test(instance, an_application_json_allocator_is_kept)
{
    json_malloc_t m;
    json_free_t f;
    json_set_alloc_funcs(app_malloc, free);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, NULL, NULL), 0);
    json_get_alloc_funcs(&m, &f);
    cr_assert_eq(m, app_malloc, "nipc_new replaced the application's allocator");
    json_decref(json_string("x"));
    cr_assert_gt(app_allocs, 0);
    nipc_free(ipc);
}
