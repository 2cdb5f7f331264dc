/* SPDX-License-Identifier: MIT */
/*
 * Requests and replies through real sockets, over every stream transport: each reply reaches
 * its own request, both ways; a reply that comes too late is a timeout and is never given to
 * a later request; a connection that closes ends its requests (UV_ECANCELED), as does
 * nipc_free(); the callback runs once, never inside the call; and the frames are ordinary
 * node-ipc frames.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(request, 30);

typedef struct answer {
    int calls;
    int status;
    char data[128];
    bool inside; /* the callback ran inside the call that made the request */
} answer_t;

static bool in_call;

static void on_reply(int status, json_t *data, void *arg)
{
    answer_t *a = arg;
    a->calls++;
    a->status = status;
    a->inside = in_call;
    a->data[0] = '\0';
    if (data != NULL) {
        char *s = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(a->data, sizeof a->data, "%s", s);
        free(s);
    }
}

/* Requests: `add` is answered at once with a + b; `later` is kept to be answered by the
 * test; every event is recorded. */
typedef struct held {
    int n;
    int64_t ids[8];
    nipc_socket_t *socket;
} held_t;

static void answer_add(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    json_int_t a = json_integer_value(json_object_get(ev->data, "a"));
    json_int_t b = json_integer_value(json_object_get(ev->data, "b"));
    cr_assert_gt(ev->request, 0, "a request has its id");
    json_t *sum = json_integer(a + b);
    cr_assert_eq(nipc_reply(ev, sum), 0);
    json_decref(sum);
}

static void keep_later(const nipc_event_t *ev, void *arg)
{
    held_t *h = arg;
    if (h->n < 8)
        h->ids[h->n++] = ev->request;
    h->socket = ev->socket;
}

typedef struct pair {
    th_server_t srv;
    nipc_t *cipc;
    nipc_client_t *c;
    bool connected;
    held_t later;
} pair_t;

static void pair_up(pair_t *p, const th_transport_t *t)
{
    nipc_config_t cfg;
    th_config(&cfg);
    memset(p, 0, sizeof *p);
    th_server_start_on(&p->srv, &loop, &cfg, t, dir, "req.sock");
    nipc_server_on(p->srv.server, "add", answer_add, NULL);
    nipc_server_on(p->srv.server, "later", keep_later, &p->later);
    cr_assert_eq(nipc_new(&p->cipc, &loop, &cfg), 0);
    cr_assert_eq(th_connect(p->cipc, t, "world", p->srv.server, &p->c), 0, "%s", t->name);
    nipc_client_on(p->c, "connect", th_flag, &p->connected);
    nipc_client_on(p->c, "add", answer_add, NULL);
    cr_assert(th_run_until(&loop, &p->connected, 3000), "%s: no connect", t->name);
    for (int i = 0; i < 400 && nipc_server_socket_count(p->srv.server) == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_server_socket_count(p->srv.server), 1, "%s", t->name);
}

/* nipc_server_reply() with a string answer made here (the call borrows it). */
static int reply_text(pair_t *p, int64_t id, const char *text)
{
    json_t *v = json_string(text);
    int err = nipc_server_reply(p->srv.server, p->later.socket, id, v);
    json_decref(v);
    return err;
}

static json_t *operands(int a, int b)
{
    return json_pack("{s:i, s:i}", "a", a, "b", b);
}

ParameterizedTestParameters(request, each_reply_reaches_its_own_request_both_ways)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, request, each_reply_reaches_its_own_request_both_ways)
{
    pair_t p;
    pair_up(&p, t);
    answer_t a[3] = {0};
    in_call = true;
    for (int i = 0; i < 3; i++) {
        json_t *ops = operands(i, 10 * i);
        cr_assert_eq(nipc_client_request(p.c, "add", ops, 2000, on_reply, &a[i]), 0);
        json_decref(ops);
    }
    in_call = false;
    for (int i = 0; i < 400 && a[2].calls == 0; i++)
        th_run_for(&loop, 5);
    for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d", 11 * i);
        cr_assert_eq(a[i].calls, 1, "%s", t->name);
        cr_assert_eq(a[i].status, 0, "%s: %s", t->name, nipc_strerror(a[i].status));
        cr_assert_str_eq(a[i].data, want, "%s", t->name);
        cr_assert(!a[i].inside, "never inside the call");
    }
    /* The server asks the client. */
    answer_t back = {0};
    json_t *ops = operands(20, 22);
    cr_assert_eq(nipc_server_request(p.srv.server, nipc_server_socket_at(p.srv.server, 0), "add",
                                     ops, 2000, on_reply, &back),
                 0);
    json_decref(ops);
    for (int i = 0; i < 400 && back.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(back.calls, 1, "%s", t->name);
    cr_assert_str_eq(back.data, "42", "%s", t->name);
    /* Answered out of order, each reply still finds its own request. */
    answer_t x = {0}, y = {0};
    cr_assert_eq(nipc_client_request(p.c, "later", NULL, 2000, on_reply, &x), 0);
    cr_assert_eq(nipc_client_request(p.c, "later", NULL, 2000, on_reply, &y), 0);
    for (int i = 0; i < 400 && p.later.n < 2; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(p.later.n, 2, "%s", t->name);
    cr_assert_eq(reply_text(&p, p.later.ids[1], "second"), 0);
    cr_assert_eq(nipc_server_reply(p.srv.server, p.later.socket, p.later.ids[0], NULL), 0);
    for (int i = 0; i < 400 && x.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(y.calls, 1, "%s", t->name);
    cr_assert_str_eq(y.data, "\"second\"", "%s", t->name);
    cr_assert_eq(x.calls, 1, "%s", t->name);
    cr_assert_eq(x.status, 0, "%s", t->name);
    cr_assert_str_eq(x.data, "", "%s: a reply without data", t->name);
    nipc_free(p.cipc);
    nipc_free(p.srv.ipc);
}

ParameterizedTestParameters(request, a_late_reply_is_a_timeout_and_reaches_no_later_request)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, request,
                  a_late_reply_is_a_timeout_and_reaches_no_later_request)
{
    pair_t p;
    pair_up(&p, t);
    answer_t first = {0}, second = {0};
    cr_assert_eq(nipc_client_request(p.c, "later", NULL, 100, on_reply, &first), 0);
    for (int i = 0; i < 400 && first.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(first.calls, 1, "%s", t->name);
    cr_assert_eq(first.status, UV_ETIMEDOUT, "%s", t->name);
    cr_assert_eq(nipc_client_request(p.c, "later", NULL, 2000, on_reply, &second), 0);
    for (int i = 0; i < 400 && p.later.n < 2; i++)
        th_run_for(&loop, 5);
    /* The first request's reply comes now, too late: dropped. Then the second's. */
    cr_assert_eq(reply_text(&p, p.later.ids[0], "late"), 0);
    th_run_for(&loop, 100);
    cr_assert_eq(second.calls, 0, "%s: a late reply went to a later request", t->name);
    cr_assert_eq(first.calls, 1, "%s: a callback ran twice", t->name);
    cr_assert_eq(reply_text(&p, p.later.ids[1], "mine"), 0);
    for (int i = 0; i < 400 && second.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_str_eq(second.data, "\"mine\"", "%s", t->name);
    nipc_free(p.cipc);
    nipc_free(p.srv.ipc);
}

/* A closing connection ends what waits on it; so does nipc_free, inside the call. */
Test(request, a_closed_connection_and_a_free_cancel_requests)
{
    th_transport_t t = {"unix", TH_UNIX};
    pair_t p;
    pair_up(&p, &t);
    answer_t lost = {0}, freed = {0};
    cr_assert_eq(nipc_client_request(p.c, "later", NULL, 0, on_reply, &lost), 0);
    for (int i = 0; i < 400 && p.later.n < 1; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(nipc_socket_close(p.later.socket, false), 0);
    for (int i = 0; i < 400 && lost.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(lost.calls, 1);
    cr_assert_eq(lost.status, UV_ECANCELED);

    nipc_client_t *c2;
    bool up = false;
    cr_assert_eq(nipc_connect_to(p.cipc, "two", nipc_server_path(p.srv.server), &c2), 0);
    nipc_client_on(c2, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000));
    cr_assert_eq(nipc_client_request(c2, "later", NULL, 0, on_reply, &freed), 0);
    nipc_free(p.cipc);
    cr_assert_eq(freed.calls, 0, "the loop has not run yet");
    th_run_for(&loop, 50);
    cr_assert_eq(freed.calls, 1);
    cr_assert_eq(freed.status, UV_ECANCELED);
    nipc_free(p.srv.ipc);
}

/* What is not a request stays an ordinary event; bad calls hand nothing out. */
Test(request, ordinary_frames_and_bad_calls)
{
    th_transport_t t = {"unix", TH_UNIX};
    pair_t p;
    pair_up(&p, &t);
    cr_assert_eq(nipc_client_request(p.c, "add", NULL, 0, NULL, NULL), UV_EINVAL);
    cr_assert_eq(nipc_client_request(NULL, "add", NULL, 0, on_reply, NULL), UV_EINVAL);
    answer_t a = {0};
    cr_assert_eq(nipc_client_request(p.c, "connect", NULL, 0, on_reply, &a), NIPC_ERESERVED);
    /* An object that holds "$req" among other keys is data like any other. */
    cr_assert_eq(nipc_client_emit_new(p.c, "plain", json_pack("{s:i, s:i}", "$req", 3, "x", 1)), 0);
    /* A "$reply" that matches nothing waiting is dropped; one without "$re" is an event. */
    cr_assert_eq(nipc_server_broadcast_new(p.srv.server, "$reply", json_pack("{s:i}", "$re", 9)),
                 0);
    cr_assert_eq(nipc_server_broadcast_new(p.srv.server, "$reply", json_pack("{s:i}", "x", 1)), 0);
    th_rec_t rec = {0};
    nipc_client_on(p.c, NIPC_EVENT_ANY, th_record, &rec);
    for (int i = 0; i < 400 && th_count(&p.srv.rec, "plain") == 0; i++)
        th_run_for(&loop, 5);
    th_run_for(&loop, 50);
    int k = th_find(&p.srv.rec, "plain", 0);
    cr_assert_geq(k, 0);
    cr_assert_str_eq(p.srv.rec.data[k], "{\"$req\":3,\"x\":1}");
    cr_assert_str_eq(th_types(&rec), "$reply");
    nipc_event_t not_request = {.type = "x", .client = p.c};
    cr_assert_eq(nipc_reply(&not_request, NULL), UV_EINVAL);
    cr_assert_eq(nipc_reply(NULL, NULL), UV_EINVAL);
    nipc_free(p.cipc);
    nipc_free(p.srv.ipc);
}

/* The request frame on the wire is an ordinary node-ipc frame, as docs/protocol.md says. */
Test(request, the_frames_are_node_ipc_frames)
{
    int lfd = th_raw_listen(th_path(dir, "raw.sock"));
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_client_t *c;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_connect_to(ipc, "raw", th_path(dir, "raw.sock"), &c), 0);
    int fd = th_raw_accept(&loop, lfd, 2000);
    cr_assert(fd >= 0);
    answer_t a = {0};
    json_t *ops = operands(1, 2);
    cr_assert_eq(nipc_client_request(c, "add", ops, 2000, on_reply, &a), 0);
    json_decref(ops);
    const char *want = "{\"type\":\"add\",\"data\":{\"$req\":1,\"data\":{\"a\":1,\"b\":2}}}\f";
    char buf[128] = {0};
    cr_assert_eq(th_raw_read(&loop, fd, buf, strlen(want), 2000), strlen(want));
    cr_assert_str_eq(buf, want);
    const char *reply = "{\"type\":\"$reply\",\"data\":{\"$re\":1,\"data\":3}}\f";
    th_raw_write(fd, reply, strlen(reply));
    for (int i = 0; i < 400 && a.calls == 0; i++)
        th_run_for(&loop, 5);
    cr_assert_eq(a.status, 0);
    cr_assert_str_eq(a.data, "3");
    close(fd);
    close(lfd);
    nipc_free(ipc);
}

static void step(nipc_t *ipc, const bool *flag)
{
    for (int i = 0; i < 2000 && !*flag; i++) {
        uv_run(nipc_loop(ipc), UV_RUN_NOWAIT);
        usleep(1000);
    }
    cr_assert(*flag);
}

static void flag_on_event(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    *(bool *)arg = true;
}

/* With an owned loop, nipc_free() runs the closes itself: the request ends inside it. */
Test(request, a_free_of_an_owned_loop_ends_requests_inside_it)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    nipc_client_t *c;
    bool started = false, up = false, asked = false;
    cr_assert_eq(nipc_new(&ipc, NULL, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, th_path(dir, "own.sock"), &s), 0);
    nipc_server_on(s, "start", flag_on_event, &started);
    nipc_server_on(s, "later", flag_on_event, &asked);
    cr_assert_eq(nipc_server_start(s), 0);
    step(ipc, &started);
    cr_assert_eq(nipc_connect_to(ipc, "own", th_path(dir, "own.sock"), &c), 0);
    nipc_client_on(c, "connect", flag_on_event, &up);
    step(ipc, &up);
    answer_t a = {0};
    cr_assert_eq(nipc_client_request(c, "later", NULL, 5000, on_reply, &a), 0);
    step(ipc, &asked);
    cr_assert_eq(a.calls, 0);
    nipc_free(ipc);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(a.status, UV_ECANCELED);
}

/* A request is told by its data's first key, on the fast path (by the frame's bytes) and on
 * the general path (jansson's, for a type with an escape) alike; other keys first, or more
 * keys, make ordinary data. */
Test(request, requests_are_told_on_both_decoding_paths)
{
    int lfd = th_raw_listen(th_path(dir, "raw.sock"));
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec = {0};
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_connect_to(ipc, "raw", th_path(dir, "raw.sock"), &c), 0);
    nipc_client_on(c, "add", answer_add, NULL);
    nipc_client_on(c, "plain", th_record, &rec);
    int fd = th_raw_accept(&loop, lfd, 2000);
    cr_assert(fd >= 0);
    const char *frames =
        "{\"type\":\"add\",\"data\":{\"$req\":5,\"data\":{\"a\":1,\"b\":2}}}\f"
        "{\"type\":\"add\",\"data\":{\"$req\":6,\"data\":{\"a\":2,\"b\":2}}}\f"
        "{\"type\":\"a\\u0064d\",\"data\":{\"$req\":7,\"data\":{\"a\":3,\"b\":3}}}\f"
        "{\"type\":\"plain\",\"data\":{\"data\":1,\"$req\":8}}\f"
        "{\"type\":\"plain\",\"data\":{\"$req\":9,\"data\":1,\"x\":2}}\f";
    th_raw_write(fd, frames, strlen(frames));
    const char *want = "{\"type\":\"$reply\",\"data\":{\"$re\":5,\"data\":3}}\f"
                       "{\"type\":\"$reply\",\"data\":{\"$re\":6,\"data\":4}}\f"
                       "{\"type\":\"$reply\",\"data\":{\"$re\":7,\"data\":6}}\f";
    char buf[256] = {0};
    cr_assert_eq(th_raw_read(&loop, fd, buf, strlen(want), 2000), strlen(want), "%s", buf);
    cr_assert_str_eq(buf, want);
    for (int i = 0; i < 400 && rec.n < 2; i++)
        th_run_for(&loop, 5);
    cr_assert_str_eq(th_types(&rec), "plain plain");
    cr_assert_str_eq(rec.data[0], "{\"data\":1,\"$req\":8}");
    cr_assert_str_eq(rec.data[1], "{\"$req\":9,\"data\":1,\"x\":2}");
    close(fd);
    close(lfd);
    nipc_free(ipc);
}
