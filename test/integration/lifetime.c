/* SPDX-License-Identifier: MIT */
/*
 * Handle lifetimes and the ways to end (nipc.h, "Lifetimes"): nipc_free() from a handler is
 * deferred until the handler returns, a closed client stays valid until its `destroy`,
 * nipc_stop() ends nipc_run() without losing what was emitted, and the deferred work the
 * instance runs at the end of a turn allocates nothing and survives cancellation.
 */
#include "../support/transport.h"
#include "internal.h"

TH_LOOP_SUITE(lifetime, 20);

typedef struct freer {
    nipc_t *ipc;
    int seen;
} freer_t;

static void free_on_message(const nipc_event_t *ev, void *arg)
{
    freer_t *f = arg;
    f->seen++;
    nipc_free(f->ipc);
    /* Everything the handler was given is still valid until it returns. */
    cr_assert_not_null(ev->server);
    cr_assert_eq(nipc_server_socket_count(ev->server), 1);
    cr_assert_eq(nipc_server_emit(ev->server, ev->socket, "late", NULL), NIPC_EDESTROYED);
    nipc_free(f->ipc); /* twice: still harmless */
}

ParameterizedTestParameters(lifetime, nipc_free_from_a_handler_is_deferred)
{
    TH_TRANSPORT_PARAMS();
}

/* The use-after-free: a handler frees its instance while the read that carried the
 * frame still has frames to dispatch. */
ParameterizedTest(th_transport_t *t, lifetime, nipc_free_from_a_handler_is_deferred)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "free.sock");
    freer_t f = {srv.ipc, 0};
    nipc_server_on(srv.server, "m", free_on_message, &f);
    int fd = th_raw_connect_server(t, srv.server);
    static const char frames[] = "{\"type\":\"m\",\"data\":1}\f{\"type\":\"m\",\"data\":2}\f"
                                 "{\"type\":\"m\",\"data\":3}\f";
    th_raw_write(fd, frames, sizeof frames - 1);
    cr_assert(th_raw_closed(&loop, fd, 2000), "%s: the freed server's socket stayed open", t->name);
    cr_assert_eq(f.seen, 1, "%s: %d frames dispatched after nipc_free", t->name, f.seen);
    close(fd);
}

static void free_own_loop(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    nipc_free(arg);
}

/* With an owned loop, a free requested by a handler ends nipc_run(), and the instance is
 * gone: the sanitizers see every byte released. */
Test(lifetime, nipc_free_from_a_handler_ends_nipc_run_of_an_owned_loop)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "own.sock"), &s), 0);
    cr_assert_eq(nipc_server_on(s, "start", free_own_loop, ipc), 0);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_eq(nipc_run(ipc), 0);
    struct stat st;
    cr_assert_neq(lstat(th_path(dir, "own.sock"), &st), 0, "the socket file stayed");
}

ParameterizedTestParameters(lifetime, a_closed_client_is_valid_until_destroy)
{
    TH_TRANSPORT_PARAMS();
}

typedef struct watch {
    nipc_client_t *c;
    int destroy;
    int emit_in_destroy;
} watch_t;

static void on_destroy(const nipc_event_t *ev, void *arg)
{
    watch_t *w = arg;
    w->destroy++;
    w->emit_in_destroy = nipc_client_emit(ev->client, "x", NULL);
}

/* The invalid read: emitting on a client after nipc_disconnect(). Until `destroy`
 * has returned the handle is valid and says so; a destroyed client whose retries ran out
 * stays valid for good. */
ParameterizedTest(th_transport_t *t, lifetime, a_closed_client_is_valid_until_destroy)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "c.sock");
    nipc_t *ipc;
    cfg.stop_retrying = true;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "s", srv.server, &c), 0);
    watch_t w = {c, 0, 0};
    nipc_client_on(c, "destroy", on_destroy, &w);
    bool up = false;
    nipc_client_on(c, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000), "%s", t->name);
    cr_assert_eq(nipc_disconnect(ipc, "s"), 0);
    cr_assert_null(nipc_of(ipc, "s"));
    cr_assert_eq(nipc_client_emit(c, "x", NULL), NIPC_EDESTROYED, "%s", t->name);
    cr_assert_eq(nipc_client_close(c, true), UV_EALREADY, "%s", t->name);
    cr_assert_eq(w.destroy, 0, "%s: destroy inside the call", t->name);
    for (int i = 0; i < 400 && w.destroy == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(w.destroy, 1, "%s", t->name);
    cr_assert_eq(w.emit_in_destroy, NIPC_EDESTROYED, "%s", t->name);

    /* Destroyed by running out of retries: valid, in of[], and it says so. */
    nipc_client_t *d;
    cr_assert_eq(th_connect_nowhere(ipc, t, "gone", dir, &d), 0);
    watch_t w2 = {d, 0, 0};
    nipc_client_on(d, "destroy", on_destroy, &w2);
    for (int i = 0; i < 400 && w2.destroy == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(w2.destroy, 1, "%s", t->name);
    th_run_for(&loop, 20);
    cr_assert_eq(nipc_of(ipc, "gone"), d, "%s", t->name);
    cr_assert_eq(nipc_client_emit(d, "x", NULL), NIPC_EDESTROYED, "%s", t->name);
    /* Its close ends with one more destroy, from the loop, and then it is freed. */
    cr_assert_eq(nipc_client_close(d, false), 0, "%s", t->name);
    cr_assert_eq(w2.destroy, 1, "%s", t->name);
    for (int i = 0; i < 400 && w2.destroy == 1; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(w2.destroy, 2, "%s", t->name);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

typedef struct stopper {
    int n;
    nipc_t *server_ipc;
} stopper_t;

static void stop_after_reply(const nipc_event_t *ev, void *arg)
{
    stopper_t *st = arg;
    st->n++;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(nipc_server_emitf(ev->server, ev->socket, "reply", "{s:i}", "i", i), 0);
    cr_assert_eq(nipc_stop(st->server_ipc), 0);
}

static void count_reply(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
}

static void stop_client(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    nipc_stop(arg);
}

ParameterizedTestParameters(lifetime, nipc_stop_ends_nipc_run_and_loses_nothing)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

/* A server stops from a handler after emitting: every reply arrives before its socket
 * closes, the loop runs out of work, and nipc_run() returns 0. */
ParameterizedTest(th_transport_t *t, lifetime, nipc_stop_ends_nipc_run_and_loses_nothing)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, t, dir, "stop.sock");
    stopper_t st = {0, srv.ipc};
    nipc_server_on(srv.server, "ask", stop_after_reply, &st);
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *c;
    cr_assert_eq(th_connect(ipc, t, "s", srv.server, &c), 0);
    int replies = 0;
    nipc_client_on(c, "reply", count_reply, &replies);
    nipc_client_on(c, "disconnect", stop_client, ipc);
    cr_assert_eq(nipc_client_emit(c, "ask", NULL), 0);
    /* nipc_run() returns once both instances have nothing left: no timer bounds it but the
     * test's own timeout. */
    cr_assert_eq(nipc_run(ipc), 0);
    cr_assert_eq(st.n, 1, "%s", t->name);
    cr_assert_eq(replies, 100, "%s: %d replies", t->name, replies);
    cr_assert_eq(th_count(&srv.rec, "drop"), 0, "%s: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(nipc_stop(ipc), 0);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

/* nipc_stop() also ends a client that is retrying, and one that is connecting. */
Test(lifetime, nipc_stop_ends_retrying_clients)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    nipc_client_t *a, *b;
    cr_assert_eq(nipc_connect_to(ipc, "a", th_path(dir, "nobody.sock"), &a), 0);
    int destroys = 0;
    nipc_client_on(a, "destroy", th_tally, &destroys);
    th_run_for(&loop, 100); /* a few attempts: it is between two of them now or soon */
    cr_assert_eq(nipc_connect_to(ipc, "b", th_path(dir, "nobody.sock"), &b), 0);
    nipc_client_on(b, "destroy", th_tally, &destroys);
    cr_assert_eq(nipc_stop(ipc), 0);
    cr_assert_eq(nipc_run(ipc), 0); /* returns: nothing retries any more */
    cr_assert_eq(destroys, 2);
    cr_assert_null(nipc_of(ipc, "a"));
    nipc_free(ipc);
}

/* ---- deferred work ---------------------------------------------------------------------- */

typedef struct job {
    nipc_deferred_t d;
    nipc_t *ipc;
    struct job *cancel; /* cancelled by this job when it runs */
    struct job *queue;  /* queued by this job when it runs */
    char name;
    char *order;
} job_t;

static void run_job(nipc_deferred_t *d)
{
    job_t *j = nipc__container_of(d, job_t, d);
    size_t n = strlen(j->order);
    j->order[n] = j->name;
    j->order[n + 1] = '\0';
    if (j->cancel != NULL)
        nipc__defer_cancel(j->ipc, &j->cancel->d);
    if (j->queue != NULL)
        nipc__defer(j->ipc, &j->queue->d, run_job);
}

/* Deferred calls run in order, a call may cancel a later one of the same turn (even the
 * last) or queue one for the next turn, and none of it allocates. */
Test(lifetime, deferred_work_allocates_nothing_and_survives_cancellation)
{
    nipc_t *ipc;
    nipc_config_t cfg;
    th_config(&cfg);
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    char order[16] = "";
    job_t a = {.ipc = ipc, .name = 'a', .order = order};
    job_t b = {.ipc = ipc, .name = 'b', .order = order};
    job_t c = {.ipc = ipc, .name = 'c', .order = order};
    job_t d = {.ipc = ipc, .name = 'd', .order = order};
    job_t e = {.ipc = ipc, .name = 'e', .order = order};
    a.cancel = &e; /* the last of the turn */
    b.queue = &d;
    c.cancel = &b; /* already run: nothing */
    nipc__test_fail_alloc_after(1);
    nipc__defer(ipc, &a.d, run_job);
    nipc__defer(ipc, &b.d, run_job);
    nipc__defer(ipc, &c.d, run_job);
    nipc__defer(ipc, &e.d, run_job);
    nipc__defer(ipc, &a.d, run_job); /* already queued: stays where it is */
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_str_eq(order, "abc");
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_str_eq(order, "abcd");
    nipc__test_fail_alloc_after(0);
    /* Queued and then cancelled before the turn: never runs; a node can be queued again. */
    nipc__defer(ipc, &e.d, run_job);
    nipc__defer_cancel(ipc, &e.d);
    nipc__defer(ipc, &a.d, run_job);
    a.cancel = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_str_eq(order, "abcda");
    nipc_free(ipc);
}
