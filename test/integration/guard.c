/* SPDX-License-Identifier: MIT */
/*
 * node-ipc 14's guarded limits over real sockets on every stream transport of the suite
 * (../support/transport.h), with raw sockets of the same transport as peers. In each test
 * another connection, or the server itself, is seen to go on. max_event_name and
 * allowed_events: a frame whose type breaks them is an `error` and is not dispatched, and
 * its connection stays; emit refuses the same types; lifecycle events are not frames and
 * are not affected; the rules hold on clients and for UDP too.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(guard, 60);

static th_server_t srv;

/* A test run once over each stream transport of the suite, `t` naming it. */
#define GUARD_TEST(name)                                                                           \
    ParameterizedTestParameters(guard, name)                                                       \
    {                                                                                              \
        TH_TRANSPORT_PARAMS();                                                                     \
    }                                                                                              \
    ParameterizedTest(th_transport_t *t, guard, name)

/* Frees the server's instance, then closes the raw peers. */
static void finish(const int *fds, size_t n)
{
    nipc_free(srv.ipc);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

#define FINISH(...) finish((const int[]){__VA_ARGS__}, sizeof((int[]){__VA_ARGS__}) / sizeof(int))

static uint64_t ms_now(void)
{
    return uv_hrtime() / 1000000;
}

/* Runs the loop until srv has recorded `n` events of `type`, at most `ms`. */
static bool seen(const char *type, int n, unsigned ms)
{
    uint64_t end = ms_now() + ms;
    while (th_count(&srv.rec, type) < n) {
        if (ms_now() >= end)
            return false;
        th_run_for(&loop, 1);
    }
    return true;
}

static void start(const th_transport_t *t, const nipc_config_t *cfg)
{
    th_server_start_on(&srv, &loop, cfg, t, dir, "guard.sock");
}

/* A raw peer, connected once the server has published its `connect`; *sock is its socket. */
static int peer(const th_transport_t *t, nipc_socket_t **sock)
{
    int k = th_count(&srv.rec, "connect");
    int fd = th_raw_connect_server(t, srv.server);
    cr_assert(seen("connect", k + 1, 2000), "%s: the server saw no connect", t->name);
    *sock = srv.rec.socket[th_find(&srv.rec, "connect", k)];
    return fd;
}

static void put(int fd, const char *s)
{
    th_raw_send(&loop, fd, s, strlen(s), 5000);
}

/* Event i of srv.rec is `type` on `sock`. */
static void is_event(const th_transport_t *t, int i, const char *type, nipc_socket_t *sock)
{
    th_assert_event(t, &srv.rec, i, type, sock);
}

/* The server reads what `fd` sends and answers it: a "ping" in, a "pong" back. */
static void still_served(const th_transport_t *t, int fd, nipc_socket_t *sock)
{
    int k = th_count(&srv.rec, "ping");
    put(fd, "{\"type\":\"ping\",\"data\":7}\f");
    cr_assert(seen("ping", k + 1, 2000), "%s: the bystander's frame was lost", t->name);
    is_event(t, th_find(&srv.rec, "ping", k), "ping", sock);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "pong", NULL), 0, "%s", t->name);
    static const char want[] = "{\"type\":\"pong\",\"data\":{}}\f";
    char got[sizeof want] = {0};
    cr_assert_eq(th_raw_read(&loop, fd, got, sizeof want - 1, 2000), sizeof want - 1,
                 "%s: no answer", t->name);
    cr_assert_str_eq(got, want, "%s", t->name);
}

/* The recorded error i: `code` on `sock`, and for a refused frame node-ipc's payload. */
static void is_error(const th_transport_t *t, int i, int code, nipc_socket_t *sock)
{
    is_event(t, i, "error", sock);
    cr_assert_eq(srv.rec.status[i], code, "%s: error %s, not %s", t->name,
                 nipc_err_name(srv.rec.status[i]), nipc_err_name(code));
}

/* ---- max_event_name -------------------------------------------------------------------------- */

GUARD_TEST(a_type_past_max_event_name_is_refused_both_ways)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.max_event_name = 8;
    start(t, &cfg);
    nipc_socket_t *sa, *sb;
    int a = peer(t, &sa), b = peer(t, &sb);

    /* Lengths count UTF-16 code units, as node-ipc 14 does: eight é are sixteen bytes and
     * pass, four U+1F600 are eight units and pass, five are ten and do not. */
    put(a, "{\"type\":\"12345678\",\"data\":1}\f"
           "{\"type\":\"123456789\",\"data\":2}\f"
           "{\"type\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\","
           "\"data\":3}\f"
           "{\"type\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\","
           "\"data\":4}\f"
           "{\"type\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
           "\xf0\x9f\x98\x80\",\"data\":5}\f"
           "{\"type\":\"12345678\",\"data\":6}\f");
    cr_assert(seen("12345678", 2, 2000), "%s: events %s", t->name, th_types(&srv.rec));
    int i = th_find(&srv.rec, "12345678", 0);
    is_event(t, i, "12345678", sa);
    cr_assert_str_eq(srv.rec.data[i], "1", "%s", t->name);
    is_error(t, i + 1, NIPC_ENAMELEN, sa);
    cr_assert(strstr(srv.rec.data[i + 1], "Event name too long") != NULL, "%s: payload %s", t->name,
              srv.rec.data[i + 1]);
    cr_assert(strstr(srv.rec.data[i + 1], "123456789") != NULL,
              "%s: the payload quotes the frame: %s", t->name, srv.rec.data[i + 1]);
    is_event(t, i + 2, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", sa);
    is_event(t, i + 3, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", sa);
    is_error(t, i + 4, NIPC_ENAMELEN, sa);
    is_event(t, i + 5, "12345678", sa);
    cr_assert_str_eq(srv.rec.data[i + 5], "6", "%s: the connection went on", t->name);
    cr_assert_eq(th_count(&srv.rec, "123456789"), 0, "%s: a refused frame was dispatched", t->name);
    cr_assert_eq(th_count(&srv.rec, "error"), 2, "%s", t->name);

    /* The same rule at send: a nipc receiver with this config would refuse the frame. */
    cr_assert_eq(nipc_server_emit(srv.server, sa, "123456789", NULL), NIPC_ENAMELEN, "%s", t->name);
    cr_assert_eq(nipc_server_broadcast(srv.server, "123456789", NULL), NIPC_ENAMELEN, "%s",
                 t->name);
    cr_assert_eq(nipc_server_emit(srv.server, sa, "12345678", NULL), 0, "%s", t->name);
    static const char want[] = "{\"type\":\"12345678\",\"data\":{}}\f";
    char got[sizeof want] = {0};
    cr_assert_eq(th_raw_read(&loop, a, got, sizeof want - 1, 2000), sizeof want - 1, "%s", t->name);
    cr_assert_str_eq(got, want, "%s: a refused emit sent bytes", t->name);

    still_served(t, b, sb);
    cr_assert_eq(nipc_server_socket_count(srv.server), 2, "%s", t->name);
    FINISH(a, b);
}

GUARD_TEST(the_default_max_event_name_is_node_ipc_14s_256)
{
    nipc_config_t cfg;
    th_config(&cfg);
    start(t, &cfg);
    nipc_socket_t *sa;
    int a = peer(t, &sa);
    char type[258];
    memset(type, 'n', 257);
    type[257] = '\0';
    char frame[400];
    snprintf(frame, sizeof frame, "{\"type\":\"%s\",\"data\":1}\f", type);
    put(a, frame);
    type[256] = '\0';
    snprintf(frame, sizeof frame, "{\"type\":\"%s\",\"data\":2}\f", type);
    put(a, frame);
    /* The recorder cuts long types: count this one with a handler of its own. */
    int got = 0;
    nipc_server_on(srv.server, type, th_tally, &got);
    uint64_t end = ms_now() + 2000;
    while (got < 1 && ms_now() < end)
        th_run_for(&loop, 1);
    cr_assert_eq(got, 1, "%s: a type of 256 was not delivered: %s", t->name, th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "error"), 1, "%s", t->name);
    is_error(t, th_find(&srv.rec, "error", 0), NIPC_ENAMELEN, sa);
    cr_assert_eq(nipc_server_emit(srv.server, sa, type, NULL), 0, "%s", t->name);
    type[256] = 'n';
    cr_assert_eq(nipc_server_emit(srv.server, sa, type, NULL), NIPC_ENAMELEN, "%s", t->name);
    FINISH(a);
}

/* ---- allowed_events -------------------------------------------------------------------------- */

static const char *const allowed[] = {"hello", "bye", "ping", "pong", NULL};

GUARD_TEST(allowed_events_refuses_other_types_and_keeps_the_connection)
{
    nipc_config_t cfg;
    th_config(&cfg);
    /* A list the instance copies: the caller's may go at once. */
    const char **list = calloc(5, sizeof *list);
    cr_assert_not_null(list);
    memcpy(list, allowed, 5 * sizeof *list);
    cfg.allowed_events = list;
    start(t, &cfg);
    free(list);
    nipc_socket_t *sa, *sb;
    int a = peer(t, &sa), b = peer(t, &sb);
    is_event(t, th_find(&srv.rec, "connect", 0), "connect", sa); /* lifecycle events go on */

    put(a, "{\"type\":\"hello\",\"data\":1}\f{\"type\":\"nope\",\"data\":2}\f"
           "{\"type\":\"bye\",\"data\":3}\f");
    cr_assert(seen("bye", 1, 2000), "%s: events %s", t->name, th_types(&srv.rec));
    int i = th_find(&srv.rec, "hello", 0);
    is_event(t, i, "hello", sa);
    cr_assert_str_eq(srv.rec.data[i], "1", "%s", t->name);
    is_error(t, i + 1, NIPC_ENOTALLOWED, sa);
    cr_assert(strstr(srv.rec.data[i + 1], "Event not allowed") != NULL, "%s: payload %s", t->name,
              srv.rec.data[i + 1]);
    cr_assert(strstr(srv.rec.data[i + 1], "nope") != NULL, "%s: payload %s", t->name,
              srv.rec.data[i + 1]);
    is_event(t, i + 2, "bye", sa);
    cr_assert_str_eq(srv.rec.data[i + 2], "3", "%s", t->name);
    cr_assert_eq(th_count(&srv.rec, "nope"), 0, "%s", t->name);

    /* The list binds what is sent too, as node-ipc 14's allowedEvents does. */
    cr_assert_eq(nipc_server_emit(srv.server, sa, "nope", NULL), NIPC_ENOTALLOWED, "%s", t->name);
    cr_assert_eq(nipc_server_broadcast(srv.server, "nope", NULL), NIPC_ENOTALLOWED, "%s", t->name);
    still_served(t, a, sa);
    still_served(t, b, sb);
    cr_assert_eq(th_count(&srv.rec, "error"), 1, "%s", t->name);
    FINISH(a, b);
}

GUARD_TEST(a_client_applies_the_rules_too)
{
    nipc_config_t cfg;
    th_config(&cfg);
    start(t, &cfg); /* no rules: it sends what the client refuses */
    nipc_config_t ccfg;
    th_config(&ccfg);
    ccfg.allowed_events = allowed;
    ccfg.max_event_name = 4;
    nipc_t *cipc;
    nipc_client_t *cl;
    cr_assert_eq(nipc_new(&cipc, &loop, &ccfg), 0);
    cr_assert_eq(th_connect(cipc, t, "guarded", srv.server, &cl), 0, "%s", t->name);
    th_rec_t crec = {0};
    nipc_client_on(cl, NIPC_EVENT_ANY, th_record, &crec);
    bool up = false;
    nipc_client_on(cl, "connect", th_flag, &up);
    /* Refused while connecting already: the frame is encoded at once. */
    cr_assert_eq(nipc_client_emit(cl, "nope", NULL), NIPC_ENOTALLOWED, "%s", t->name);
    cr_assert_eq(nipc_client_emit(cl, "hello", NULL), NIPC_ENAMELEN, "%s", t->name);
    cr_assert_eq(nipc_client_emit(cl, "bye", NULL), 0, "%s", t->name);
    cr_assert(th_run_until(&loop, &up, 2000), "%s: no connect", t->name);
    cr_assert(seen("bye", 1, 2000), "%s: the allowed frame was lost", t->name);
    cr_assert_eq(th_count(&srv.rec, "nope") + th_count(&srv.rec, "hello"), 0, "%s", t->name);

    nipc_socket_t *sock = srv.rec.socket[th_find(&srv.rec, "bye", 0)];
    cr_assert_eq(nipc_server_emit(srv.server, sock, "hello", NULL), 0);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "nope", NULL), 0);
    cr_assert_eq(nipc_server_emit(srv.server, sock, "bye", NULL), 0);
    uint64_t end = ms_now() + 2000;
    while (th_count(&crec, "bye") < 1 && ms_now() < end)
        th_run_for(&loop, 1);
    cr_assert_eq(th_count(&crec, "bye"), 1, "%s: client events %s", t->name, th_types(&crec));
    cr_assert_eq(th_count(&crec, "hello") + th_count(&crec, "nope"), 0, "%s", t->name);
    int e = th_find(&crec, "error", 0);
    cr_assert(e >= 0 && crec.status[e] == NIPC_ENAMELEN, "%s: client events %s", t->name,
              th_types(&crec));
    e = th_find(&crec, "error", 1);
    cr_assert(e >= 0 && crec.status[e] == NIPC_ENOTALLOWED, "%s: client events %s", t->name,
              th_types(&crec));
    cr_assert(nipc_client_connected(cl), "%s: refusals closed the client", t->name);
    nipc_free(cipc);
    nipc_free(srv.ipc);
}

/* UDP has no connection to keep or time, but its frames follow the same rules. */
Test(guard, datagrams_follow_the_type_rules)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.allowed_events = allowed;
    cfg.max_event_name = 4;
    memset(&srv, 0, sizeof srv);
    cr_assert_eq(nipc_new(&srv.ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(srv.ipc, "127.0.0.1", 0, NIPC_UDP4, &srv.server), 0);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, th_record, &srv.rec);
    cr_assert_eq(nipc_server_start(srv.server), 0);
    cr_assert(seen("start", 1, 2000));

    nipc_config_t scfg;
    th_config(&scfg);
    nipc_t *sender;
    nipc_server_t *out;
    cr_assert_eq(nipc_new(&sender, &loop, &scfg), 0);
    cr_assert_eq(nipc_serve_net(sender, "127.0.0.1", 0, NIPC_UDP4, &out), 0);
    cr_assert_eq(nipc_server_start(out), 0);
    int port = nipc_server_port(srv.server);
    cr_assert_eq(nipc_server_emit_to(out, "127.0.0.1", port, "hello", NULL), 0);
    cr_assert_eq(nipc_server_emit_to(out, "127.0.0.1", port, "nope", NULL), 0);
    cr_assert_eq(nipc_server_emit_to(out, "127.0.0.1", port, "bye", NULL), 0);
    cr_assert(seen("bye", 1, 2000), "events %s", th_types(&srv.rec));
    cr_assert_eq(th_count(&srv.rec, "hello") + th_count(&srv.rec, "nope"), 0);
    int e = th_find(&srv.rec, "error", 0);
    cr_assert(e >= 0 && srv.rec.status[e] == NIPC_ENAMELEN, "events %s", th_types(&srv.rec));
    e = th_find(&srv.rec, "error", 1);
    cr_assert(e >= 0 && srv.rec.status[e] == NIPC_ENOTALLOWED, "events %s", th_types(&srv.rec));
    cr_assert_eq(nipc_server_emit_to(srv.server, "127.0.0.1", nipc_server_port(out), "nope", NULL),
                 NIPC_ENOTALLOWED);
    nipc_free(sender);
    nipc_free(srv.ipc);
}
