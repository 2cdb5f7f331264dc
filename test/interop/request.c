/* SPDX-License-Identifier: MIT */
/*
 * nipc's requests and replies against the real node-ipc, @achrinza/node-ipc 10.1.11 and
 * 9.2.9, run as test/interop/node/request_peer.js (../support/peer.h). node-ipc knows no
 * requests: its peers answer with the one-line recipe of include/nipc.h, emitting `$reply`
 * with {$re: m.$req, data: ...}. Every scenario runs once per version and over a Unix socket
 * and TCP on 127.0.0.1 (port 0):
 *
 *  - a C client's requests to a Node server: several at once, each given its own answer
 *    although a `slow` one (answered after 300 ms) is answered after the later `add`s; a
 *    request with a 100 ms timeout to `slow` ends in UV_ETIMEDOUT, and its late reply then
 *    reaches no later request;
 *  - the same from a C server to a Node client (nipc_server_request() to its socket);
 *  - a Node client making requests in the convention to a C server answering with
 *    nipc_reply(): the Node side checks that each reply's $re is one of its open requests
 *    and its answer the right one.
 */
#include "../support/peer.h"

#define PEER_MS 10000 /* a bound for anything a Node peer does, never a measurement */
#define SCRIPT "request_peer.js"

static uv_loop_t loop;
static char dir[64]; /* the Unix sockets */
static nipc_t *instances[2];
static int ninstances;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    th_peer_close_all();
    for (int i = 0; i < ninstances; i++)
        nipc_free(instances[i]);
    ninstances = 0;
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(request, .init = setup, .fini = teardown, .timeout = 30);

/* A Unix socket and TCP on 127.0.0.1: the transports the scenarios run over. */
static struct criterion_test_params unix_and_tcp4(void)
{
    static th_transport_t ts[] = {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}};
    return cr_make_param_array(th_transport_t, ts, 2);
}

static th_server_t srv; /* static: its recorder is large */

static nipc_t *instance(void)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cr_assert_lt(ninstances, 2);
    cr_assert_eq(nipc_new(&instances[ninstances], &loop, &cfg), 0);
    return instances[ninstances++];
}

/* ---- requests from C, answered by Node -------------------------------------------------- */

/* One request's outcome: how often its callback ran, and in which place among all. */
typedef struct answer {
    int calls;
    int status;
    json_int_t value; /* the answer, an integer */
    bool integer;     /* it was one */
    int order;        /* 1 for the first callback of the test, 2 for the next, ... */
} answer_t;

static int answered;

static void on_reply(int status, json_t *data, void *arg)
{
    answer_t *a = arg;
    a->calls++;
    a->status = status;
    a->integer = json_is_integer(data);
    a->value = json_integer_value(data);
    a->order = ++answered;
}

/* Who the C side asks: a client of the Node server, or the C server's socket to a Node
 * client. */
typedef struct asker {
    const th_transport_t *t;
    th_peer_t *peer;
    nipc_client_t *client;
    nipc_socket_t *socket;
} asker_t;

static void ask(const asker_t *k, const char *type, int a, int b, unsigned ms, answer_t *out)
{
    json_t *ops = json_pack("{s:i, s:i}", "a", a, "b", b);
    int err = k->client != NULL
                  ? nipc_client_request(k->client, type, ops, ms, on_reply, out)
                  : nipc_server_request(srv.server, k->socket, type, ops, ms, on_reply, out);
    json_decref(ops);
    cr_assert_eq(err, 0, "%s: request %s: %s", k->t->name, type, nipc_strerror(err));
}

static void assert_answer(const asker_t *k, const answer_t *a, json_int_t want, const char *what)
{
    cr_assert_eq(a->calls, 1, "%s: %s: %d callbacks\n%s", k->t->name, what, a->calls,
                 th_peer_dump(k->peer));
    cr_assert_eq(a->status, 0, "%s: %s: %s", k->t->name, what, nipc_strerror(a->status));
    cr_assert(a->integer && a->value == want, "%s: %s: answer %lld, want %lld", k->t->name, what,
              (long long)a->value, (long long)want);
}

/*
 * Several requests at once: a `slow` one first, then five `add`s, each with other operands.
 * Node answers the adds at once and the slow one 300 ms later, so the replies come in
 * another order than the requests; each must reach its own.
 */
static void several_at_once(const asker_t *k)
{
    answer_t slow = {0}, add[5] = {{0}};
    answered = 0;
    ask(k, "slow", 7, 8, 5000, &slow);
    for (int i = 0; i < 5; i++)
        ask(k, "add", i, 1000 * i, 5000, &add[i]);
    cr_assert(th_run_until_count(&loop, &answered, 6, PEER_MS), "%s: %d of 6 answered\n%s",
              k->t->name, answered, th_peer_dump(k->peer));
    for (int i = 0; i < 5; i++)
        assert_answer(k, &add[i], 1001 * i, "add");
    assert_answer(k, &slow, 15, "slow");
    cr_assert_eq(slow.order, 6, "%s: the slow answer came before an add's", k->t->name);
}

/*
 * A request with a 100 ms timeout to `slow` times out; a second `slow`, made after the
 * timeout and so still open when the first one's late reply comes, gets its own answer only.
 */
static void late_reply_reaches_no_later_request(const asker_t *k)
{
    answer_t first = {0}, second = {0};
    answered = 0;
    uint64_t t0 = uv_hrtime();
    ask(k, "slow", 1, 1, 100, &first);
    cr_assert(th_run_until_count(&loop, &first.calls, 1, PEER_MS), "%s: no timeout", k->t->name);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    cr_assert_eq(first.status, UV_ETIMEDOUT, "%s: %s", k->t->name, nipc_strerror(first.status));
    cr_assert(ms >= 90, "%s: timed out after %.0f ms", k->t->name, ms);
    ask(k, "slow", 20, 20, 5000, &second);

    /* The first reply leaves Node ~200 ms before the second. */
    int late = th_peer_count(k->peer, "answered");
    cr_assert_not_null(th_peer_wait(k->peer, "answered", late, PEER_MS), "%s",
                       th_peer_dump(k->peer));
    cr_assert(th_run_until_count(&loop, &second.calls, 1, PEER_MS), "%s: no second answer\n%s",
              k->t->name, th_peer_dump(k->peer));
    assert_answer(k, &second, 40, "the request after the timed-out one");
    th_run_for(&loop, 50);
    cr_assert_eq(first.calls, 1, "%s: the timed-out request was called again", k->t->name);
    cr_assert_eq(second.calls, 1, "%s", k->t->name);
}

static void c_client_asks_node_server(const th_transport_t *t, const char *ver)
{
    const char *path = th_path(dir, "node.sock");
    asker_t k = {.t = t};
    k.peer = th_peer_spawn_script_on(&loop, SCRIPT, t, ver, "server", th_peer_at(t, path, 0), NULL);
    int port = th_peer_listening(k.peer, t, PEER_MS);
    nipc_t *ipc = instance();
    int err = t->kind == TH_UNIX ? nipc_connect_to(ipc, "server", path, &k.client)
                                 : nipc_connect_to_net(ipc, "server", "127.0.0.1", port, &k.client);
    cr_assert_eq(err, 0, "%s: %s", t->name, nipc_strerror(err));
    bool connected = false;
    nipc_client_on(k.client, "connect", th_flag, &connected);
    cr_assert(th_run_until(&loop, &connected, PEER_MS), "%s: no connect", t->name);

    several_at_once(&k);
    late_reply_reaches_no_later_request(&k);
}

TH_STREAM_BOTH_VERSIONS_OVER(request, c_client_asks_node_server, unix_and_tcp4)

static void start_c_server(const th_transport_t *t)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_start_on(&srv, &loop, &cfg, t, dir, "c.sock");
    instances[ninstances++] = srv.ipc;
}

static void c_server_asks_node_client(const th_transport_t *t, const char *ver)
{
    start_c_server(t);
    asker_t k = {.t = t};
    k.peer = th_peer_spawn_script_on(&loop, SCRIPT, t, ver, "answerer",
                                     th_peer_at_server(t, srv.server), NULL);
    cr_assert(th_rec_wait(&loop, &srv.rec, "connect", 1, PEER_MS), "%s: no connect\n%s", t->name,
              th_peer_dump(k.peer));
    k.socket = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    cr_assert_not_null(k.socket);

    several_at_once(&k);
    late_reply_reaches_no_later_request(&k);
}

TH_STREAM_BOTH_VERSIONS_OVER(request, c_server_asks_node_client, unix_and_tcp4)

/* ---- requests from Node, answered by C ---------------------------------------------------- */

static int adds;

static void answer_add(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    adds++;
    cr_assert_gt(ev->request, 0, "an `add` from the asker is a request");
    json_int_t a = json_integer_value(json_object_get(ev->data, "a"));
    json_int_t b = json_integer_value(json_object_get(ev->data, "b"));
    json_t *sum = json_integer(a + b);
    cr_assert_eq(nipc_reply(ev, sum), 0);
    json_decref(sum);
}

static void node_client_asks_c_server(const th_transport_t *t, const char *ver)
{
    start_c_server(t);
    adds = 0;
    nipc_server_on(srv.server, "add", answer_add, NULL);
    th_peer_t *p = th_peer_spawn_script_on(&loop, SCRIPT, t, ver, "asker",
                                           th_peer_at_server(t, srv.server), "--count", "8", NULL);
    json_t *done = th_peer_wait(p, "done", 0, PEER_MS);
    cr_assert_not_null(done, "%s: %s", t->name, th_peer_dump(p));
    cr_assert(json_is_true(json_object_get(done, "ok")), "%s: %s", t->name, th_peer_dump(p));
    cr_assert_eq(adds, 8, "%s", t->name);
    th_run_for(&loop, 50); /* nothing more comes */
    cr_assert_eq(th_peer_count(p, "reply"), 8, "%s: %s", t->name, th_peer_dump(p));
}

TH_STREAM_BOTH_VERSIONS_OVER(request, node_client_asks_c_server, unix_and_tcp4)
