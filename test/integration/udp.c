/* SPDX-License-Identifier: MIT */
/*
 * UDP servers, udp4 and udp6 (U1-U7): binding, `start` with {address, port} and one
 * `connect` (U7), each datagram parsed on its own and possibly holding several frames (U2),
 * the sender as the socket with its learned id (U3), one datagram per emit with the bytes of
 * a stream frame (U4), broadcast to known senders (U5, our choice), a "client" that is a
 * second UDP server (U6), and frames too large for a datagram refused. In raw mode (R3 over
 * UDP) each datagram is one `data` event with its bytes, and every send one datagram.
 */
#include "../support/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static uv_loop_t loop;

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
    th_loop_close(&loop);
}

TestSuite(udp, .init = setup, .fini = teardown, .timeout = 20);

typedef struct family {
    const char *name;
    nipc_net_t net;
    const char *host;
    int af;
} family_t;

static family_t v4 = {"udp4", NIPC_UDP4, "127.0.0.1", AF_INET};
static family_t v6 = {"udp6", NIPC_UDP6, "::1", AF_INET6};

typedef struct peer {
    nipc_t *ipc;
    nipc_server_t *s;
    th_rec_t rec;
    bool started;
} peer_t;

/* A started UDP server of family f with `cfg`, every event recorded. */
static void peer_up_cfg(peer_t *p, const family_t *f, const nipc_config_t *cfg)
{
    memset(p, 0, sizeof *p);
    cr_assert_eq(nipc_new(&p->ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_serve_net(p->ipc, f->host, 0, f->net, &p->s), 0);
    nipc_server_on(p->s, NIPC_EVENT_ANY, th_record, &p->rec);
    nipc_server_on(p->s, "start", th_flag, &p->started);
    cr_assert_eq(nipc_server_start(p->s), 0, "%s", f->name);
    cr_assert(th_run_until(&loop, &p->started, 2000), "%s: no start", f->name);
    cr_assert_gt(nipc_server_port(p->s), 0);
}

static void peer_up(peer_t *p, const family_t *f)
{
    nipc_config_t cfg;
    th_config(&cfg);
    peer_up_cfg(p, f, &cfg);
}

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

/* A plain UDP socket on loopback, port 0, non-blocking. */
static int raw_udp(const family_t *f, int *port)
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len = f->af == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    sa.ss_family = (sa_family_t)f->af;
    if (f->af == AF_INET6)
        inet_pton(AF_INET6, "::1", &((struct sockaddr_in6 *)&sa)->sin6_addr);
    else
        inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&sa)->sin_addr);
    int fd = socket(f->af, SOCK_DGRAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(f->af == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                    : ((struct sockaddr_in *)&sa)->sin_port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void raw_sendto(const family_t *f, int fd, int port, const char *p, size_t n)
{
    struct sockaddr_storage sa;
    socklen_t len = th_loopback_sockaddr(f->af, port, &sa);
    cr_assert_eq(sendto(fd, p, n, 0, (struct sockaddr *)&sa, len), (ssize_t)n);
}

/* Receives one datagram on a raw socket while running the loop; returns its size or -1. */
static ssize_t raw_recv(int fd, char *buf, size_t cap, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (uv_hrtime() / 1000000 < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = recv(fd, buf, cap, 0);
        if (r >= 0)
            return r;
        struct pollfd pfd = {fd, POLLIN, 0};
        poll(&pfd, 1, 1);
    }
    return -1;
}

static void u1_u7_start_and_connect(const family_t *f)
{
    peer_t p;
    peer_up(&p, f);
    th_run_for(&loop, 20);
    /* start with {address, port}, then connect once with the bound socket (U7). */
    cr_assert_str_eq(th_types(&p.rec), "start connect", "%s", f->name);
    char want[80];
    snprintf(want, sizeof want, "{\"address\":\"%s\",\"port\":%d}", f->host, nipc_server_port(p.s));
    cr_assert_str_eq(p.rec.data[0], want);
    nipc_socket_t *self = p.rec.socket[1];
    cr_assert_not_null(self);
    cr_assert_str_eq(nipc_socket_address(self), f->host);
    cr_assert_eq(nipc_socket_port(self), nipc_server_port(p.s));
    cr_assert_str_eq(nipc_socket_family(self), f->af == AF_INET6 ? "IPv6" : "IPv4");
    cr_assert_str_eq(nipc_server_host(p.s), f->host);
    cr_assert_null(nipc_server_path(p.s));
    nipc_free(p.ipc);
}

Test(udp, u1_u7_udp4_start_and_connect)
{
    u1_u7_start_and_connect(&v4);
}

Test(udp, u1_u7_udp6_start_and_connect)
{
    u1_u7_start_and_connect(&v6);
}

/* node's dgram refuses to bind an address of the other family; nipc used to open an IPv4
 * socket for NIPC_UDP6 on the default host 127.0.0.1 without a word. */
Test(udp, u1_a_literal_of_the_other_family_is_refused)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s = (nipc_server_t *)1;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, NULL, 0, NIPC_UDP6, &s), UV_EAFNOSUPPORT);
    cr_assert_null(s, "a refused serve handed a server out");
    cr_assert_null(nipc_server(ipc), "a refused serve made a server");
    s = (nipc_server_t *)1;
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_UDP6, &s), UV_EAFNOSUPPORT);
    cr_assert_null(s);
    s = (nipc_server_t *)1;
    cr_assert_eq(nipc_serve_net(ipc, "fe80::1", 0, NIPC_UDP4, &s), UV_EAFNOSUPPORT);
    cr_assert_null(s);
    cr_assert_eq(nipc_serve_net(ipc, "::1", 0, NIPC_UDP6, &s), 0);
    cr_assert_eq(s, nipc_server(ipc));
    nipc_free(ipc);
}

Test(udp, u1_udp4_asked_for_ipv6_loopback_binds_127_0_0_1)
{
    family_t f = v4;
    f.host = "::1";
    peer_t p;
    peer_up(&p, &f);
    cr_assert_str_eq(nipc_server_host(p.s), "127.0.0.1");
    nipc_free(p.ipc);
}

static void reply_to_sender(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_emitf(ev->server, ev->socket, "pong", "{s:O?}", "got", ev->data);
}

static void u2_u3_u4_frames_sender_and_reply(const family_t *f)
{
    peer_t p;
    peer_up(&p, f);
    nipc_server_on(p.s, "ping", reply_to_sender, NULL);
    int rport;
    int fd = raw_udp(f, &rport);

    /* Two frames in one datagram: both delivered, with the sender as socket (U2, U3). */
    const char two[] = "{\"type\":\"ping\",\"data\":{\"id\":\"hello\",\"n\":1}}\f"
                       "{\"type\":\"ping\",\"data\":{\"n\":2}}\f";
    raw_sendto(f, fd, nipc_server_port(p.s), two, sizeof two - 1);
    cr_assert(wait_count(&p.rec, "ping", 2, 2000), "%s: %s", f->name, th_types(&p.rec));
    int i = th_find(&p.rec, "ping", 0);
    cr_assert_str_eq(p.rec.data[i], "{\"id\":\"hello\",\"n\":1}");
    cr_assert_str_eq(p.rec.data[th_find(&p.rec, "ping", 1)], "{\"n\":2}");

    /* Each reply is one datagram holding one frame, the bytes a stream would carry (U4). */
    char buf[2048];
    for (int k = 1; k <= 2; k++) {
        ssize_t n = raw_recv(fd, buf, sizeof buf, 2000);
        cr_assert_gt(n, 0, "%s: reply %d missing", f->name, k);
        buf[n] = '\0';
        char want[128];
        snprintf(want, sizeof want, "{\"type\":\"pong\",\"data\":{\"got\":%s}}\f",
                 k == 1 ? "{\"id\":\"hello\",\"n\":1}" : "{\"n\":2}");
        cr_assert_str_eq(buf, want);
    }
    close(fd);
    nipc_free(p.ipc);
}

Test(udp, u2_u3_u4_udp4)
{
    u2_u3_u4_frames_sender_and_reply(&v4);
}

Test(udp, u2_u3_u4_udp6)
{
    u2_u3_u4_frames_sender_and_reply(&v6);
}

typedef struct seen {
    char address[64];
    int port;
    char family[8];
    size_t size;
    char id[32];
} seen_t;

static void note_sender(const nipc_event_t *ev, void *arg)
{
    seen_t *s = arg;
    snprintf(s->address, sizeof s->address, "%s", nipc_socket_address(ev->socket));
    s->port = nipc_socket_port(ev->socket);
    snprintf(s->family, sizeof s->family, "%s", nipc_socket_family(ev->socket));
    s->size = nipc_socket_size(ev->socket);
    const char *id = nipc_socket_id(ev->socket);
    snprintf(s->id, sizeof s->id, "%s", id ? id : "");
}

Test(udp, u3_the_socket_describes_the_sender)
{
    peer_t p;
    peer_up(&p, &v6);
    seen_t seen = {0};
    nipc_server_on(p.s, "hi", note_sender, &seen);
    int rport;
    int fd = raw_udp(&v6, &rport);
    const char frame[] = "{\"type\":\"hi\",\"data\":{\"id\":\"hello\"}}\f";
    raw_sendto(&v6, fd, nipc_server_port(p.s), frame, sizeof frame - 1);
    cr_assert(wait_count(&p.rec, "hi", 1, 2000));
    cr_assert_str_eq(seen.address, "::1");
    cr_assert_eq(seen.port, rport);
    cr_assert_str_eq(seen.family, "IPv6");
    cr_assert_eq(seen.size, sizeof frame - 1);
    cr_assert_str_eq(seen.id, "hello");
    close(fd);
    nipc_free(p.ipc);
}

Test(udp, u2_each_datagram_stands_alone_and_fragments_are_reported)
{
    peer_t p;
    peer_up(&p, &v4);
    int rport;
    int fd = raw_udp(&v4, &rport);
    int port = nipc_server_port(p.s);
#define SEND(lit) raw_sendto(&v4, fd, port, lit, sizeof lit - 1)
    /* A frame cut across two datagrams is not joined: both halves are fragments. */
    SEND("{\"type\":\"ha");
    SEND("lf\",\"data\":1}\f");
    /* A complete frame followed by a fragment: the frame is delivered, the rest reported. */
    SEND("{\"type\":\"whole\",\"data\":1}\f{\"type\":");
    /* Garbage and invalid JSON do not stop the server. */
    SEND("\xff\xfe\f\f");
    SEND("{\"type\":\"after\",\"data\":2}\f");
#undef SEND
    cr_assert(wait_count(&p.rec, "after", 1, 2000), "%s", th_types(&p.rec));
    cr_assert_eq(th_count(&p.rec, "half"), 0);
    cr_assert_eq(th_count(&p.rec, "whole"), 1);
    cr_assert_eq(th_count(&p.rec, "error"), 5, "%s", th_types(&p.rec));
    for (int k = 0; k < 5; k++)
        cr_assert_lt(p.rec.status[th_find(&p.rec, "error", k)], 0);
    close(fd);
    nipc_free(p.ipc);
}

static void hello_world(const family_t *f)
{
    /* node-ipc's README UDP example: world answers, hello is a second UDP server (U6). */
    peer_t world, hello;
    peer_up(&world, f);
    peer_up(&hello, f);
    nipc_server_on(world.s, "message", reply_to_sender, NULL);
    cr_assert_eq(
        nipc_server_emit_to_new(hello.s, f->host, nipc_server_port(world.s), "message",
                                json_pack("{s:s, s:s}", "from", "hello", "message", "Hello")),
        0);
    cr_assert(wait_count(&hello.rec, "pong", 1, 2000), "%s: %s", f->name, th_types(&hello.rec));
    cr_assert_str_eq(hello.rec.data[th_find(&hello.rec, "pong", 0)],
                     "{\"got\":{\"from\":\"hello\",\"message\":\"Hello\"}}");
    int w = th_find(&world.rec, "message", 0);
    cr_assert_str_eq(world.rec.data[w], "{\"from\":\"hello\",\"message\":\"Hello\"}");
    nipc_free(hello.ipc);
    nipc_free(world.ipc);
}

Test(udp, u6_udp4_hello_world)
{
    hello_world(&v4);
}

Test(udp, u6_udp6_hello_world)
{
    hello_world(&v6);
}

static void broadcast_back(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    nipc_server_broadcastf(ev->server, "news", "{s:s}", "to", "all");
}

/* node-ipc's UDP Multi-Client-Broadcast example broadcasts from the handler of a sender's
 * first frame: that sender is among those heard from already. */
Test(udp, u5_broadcast_from_a_handler_reaches_its_sender)
{
    peer_t world, hello;
    peer_up(&world, &v4);
    peer_up(&hello, &v4);
    nipc_server_on(world.s, "hello", broadcast_back, NULL);
    nipc_server_emit_to_new(hello.s, "127.0.0.1", nipc_server_port(world.s), "hello",
                            json_object());
    cr_assert(wait_count(&hello.rec, "news", 1, 2000), "%s", th_types(&hello.rec));
    nipc_free(hello.ipc);
    nipc_free(world.ipc);
}

Test(udp, u5_broadcast_reaches_every_sender_heard_from)
{
    peer_t world;
    peer_up(&world, &v4);
    peer_t c[3];
    for (int i = 0; i < 3; i++) {
        peer_up(&c[i], &v4);
        nipc_server_emit_to_new(c[i].s, "127.0.0.1", nipc_server_port(world.s), "hello",
                                json_pack("{s:i}", "i", i));
    }
    cr_assert(wait_count(&world.rec, "hello", 3, 2000));
    cr_assert_eq(nipc_server_broadcastf(world.s, "news", "{s:s}", "to", "all"), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert(wait_count(&c[i].rec, "news", 1, 2000), "client %d", i);
        cr_assert_str_eq(c[i].rec.data[th_find(&c[i].rec, "news", 0)], "{\"to\":\"all\"}");
    }
    th_run_for(&loop, 30);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(th_count(&c[i].rec, "news"), 1, "exactly once");
        nipc_free(c[i].ipc);
    }
    /* A server nobody wrote to broadcasts to nobody, without error. */
    peer_t lonely;
    peer_up(&lonely, &v4);
    cr_assert_eq(nipc_server_broadcastf(lonely.s, "news", "{}"), 0);
    nipc_free(lonely.ipc);
    nipc_free(world.ipc);
}

Test(udp, a_frame_too_large_for_a_datagram_is_refused)
{
    peer_t p;
    peer_up(&p, &v4);
    size_t n = NIPC_UDP_MAX_FRAME;
    char *big = malloc(n);
    memset(big, 'x', n);
    json_t *s = json_stringn(big, n);
    cr_assert_eq(nipc_server_emit_to(p.s, "127.0.0.1", 9, "big", s), UV_EMSGSIZE);
    json_decref(s);
    /* The largest that fits goes out whole. */
    int rport;
    int fd = raw_udp(&v4, &rport);
    size_t room = NIPC_UDP_MAX_FRAME - strlen("{\"type\":\"big\",\"data\":\"\"}\f");
    s = json_stringn(big, room);
    cr_assert_eq(nipc_server_emit_to(p.s, "127.0.0.1", rport, "big", s), 0);
    json_decref(s);
    char *buf = malloc(70000);
    cr_assert_eq(raw_recv(fd, buf, 70000, 2000), NIPC_UDP_MAX_FRAME);
    free(buf);
    free(big);
    close(fd);
    nipc_free(p.ipc);
}

Test(udp, emit_to_refuses_bad_arguments)
{
    peer_t p;
    peer_up(&p, &v4);
    cr_assert_eq(nipc_server_emit_to(p.s, "not-an-ip", 9, "x", NULL), UV_EINVAL);
    cr_assert_eq(nipc_server_emit_to(p.s, "127.0.0.1", 0, "x", NULL), UV_EINVAL);
    cr_assert_eq(nipc_server_emit_to(p.s, "127.0.0.1", 70000, "x", NULL), UV_EINVAL);
    cr_assert_eq(nipc_server_emit_to(p.s, NULL, 9, "x", NULL), UV_EINVAL);
    nipc_server_stop(p.s);
    cr_assert_eq(nipc_server_emit_to(p.s, "127.0.0.1", 9, "x", NULL), UV_EINVAL,
                 "a stopped server sends nothing");
    nipc_free(p.ipc);
}

/* ---- reuse_port ------------------------------------------------------------------------- */

/* A started UDP server of family f on `port` with reuse_port as given: its start's code. */
static int reuse_up(peer_t *p, const family_t *f, int port, bool reuse)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.reuse_port = reuse;
    memset(p, 0, sizeof *p);
    cr_assert_eq(nipc_new(&p->ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(p->ipc, f->host, port, f->net, &p->s), 0);
    nipc_server_on(p->s, NIPC_EVENT_ANY, th_record, &p->rec);
    nipc_server_on(p->s, "start", th_flag, &p->started);
    return nipc_server_start(p->s);
}

/* reuse_port applies to UDP as to TCP (SO_REUSEPORT), never ignored: two servers bind one
 * port and the kernel spreads the datagrams among them by their source. From 32 senders,
 * every datagram to one of the two has odds of 2^-31. */
static void reuse_port_shares(const family_t *f)
{
    peer_t a, b;
    cr_assert_eq(reuse_up(&a, f, 0, true), 0, "%s", f->name);
    int port = nipc_server_port(a.s);
    cr_assert_eq(reuse_up(&b, f, port, true), 0, "%s: the second reuse_port server", f->name);
    cr_assert_eq(nipc_server_port(b.s), port);
    int ca = 0, cb = 0;
    nipc_server_on(a.s, "hi", th_tally, &ca);
    nipc_server_on(b.s, "hi", th_tally, &cb);
    static const char frame[] = "{\"type\":\"hi\",\"data\":1}\f";
    for (int i = 0; i < 32; i++) {
        int sport, fd = raw_udp(f, &sport);
        raw_sendto(f, fd, port, frame, sizeof frame - 1);
        close(fd);
    }
    uint64_t end = uv_hrtime() / 1000000 + 2000;
    while (ca + cb < 32 && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    cr_assert_eq(ca + cb, 32, "%s: %d + %d datagrams", f->name, ca, cb);
    cr_assert(ca > 0 && cb > 0, "%s: one server got every datagram (%d, %d)", f->name, ca, cb);
    nipc_free(a.ipc);
    nipc_free(b.ipc);
}

Test(udp, reuse_port_lets_two_udp4_servers_share_a_port)
{
    reuse_port_shares(&v4);
}

Test(udp, reuse_port_lets_two_udp6_servers_share_a_port)
{
    reuse_port_shares(&v6);
}

/* Only both set shares the port: otherwise the second is UV_EADDRINUSE. */
Test(udp, without_reuse_port_the_second_udp_server_is_eaddrinuse)
{
    static const bool pairs[][2] = {{false, false}, {true, false}, {false, true}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        peer_t a, b;
        cr_assert_eq(reuse_up(&a, &v4, 0, pairs[i][0]), 0);
        int err = reuse_up(&b, &v4, nipc_server_port(a.s), pairs[i][1]);
        cr_assert_eq(err, UV_EADDRINUSE, "reuse_port %d then %d: %s", pairs[i][0], pairs[i][1],
                     nipc_strerror(err));
        nipc_free(b.ipc);
        nipc_free(a.ipc);
    }
}

/* ---- raw mode (R1-R3 over UDP) ------------------------------------------------------------ */

#define DGRAMS 8
#define SMALL 64

/* The `data` events of a raw UDP server, and what its handler's answers returned. */
typedef struct dgrams {
    int n;
    size_t size[DGRAMS];
    char bytes[DGRAMS][SMALL]; /* for datagrams of up to SMALL bytes */
    char address[DGRAMS][64];
    int port[DGRAMS];
    bool data_null; /* every event had data NULL */
    int sent[DGRAMS], emitted[DGRAMS], too_large[DGRAMS];
} dgrams_t;

static char huge[NIPC_UDP_MAX_FRAME + 1];

/* Records the datagram and, for a small one, answers the sender from the handler: its
 * bytes after a '>', then the hex text "0c00ff" as an emit's type; a datagram too large is
 * refused there too. */
static void on_dgram(const nipc_event_t *ev, void *arg)
{
    dgrams_t *d = arg;
    int i = d->n++;
    cr_assert_lt(i, DGRAMS);
    cr_assert_not_null(ev->bytes, "R3: a data event carries its bytes");
    d->size[i] = ev->size;
    d->data_null = (i == 0 || d->data_null) && ev->data == NULL;
    snprintf(d->address[i], sizeof d->address[i], "%s", nipc_socket_address(ev->socket));
    d->port[i] = nipc_socket_port(ev->socket);
    if (ev->size > SMALL)
        return;
    memcpy(d->bytes[i], ev->bytes, ev->size);
    char echo[SMALL + 1] = ">";
    memcpy(echo + 1, ev->bytes, ev->size);
    d->sent[i] = nipc_server_send(ev->server, ev->socket, echo, ev->size + 1);
    d->emitted[i] = nipc_server_emit(ev->server, ev->socket, "0c00ff", NULL);
    d->too_large[i] = nipc_server_send(ev->server, ev->socket, huge, sizeof huge);
}

/* The next datagram on fd is exactly n bytes at p. */
static void expect_dgram(const family_t *f, int fd, const void *p, size_t n, const char *what)
{
    static char buf[NIPC_UDP_MAX_FRAME + 16];
    ssize_t r = raw_recv(fd, buf, sizeof buf, 2000);
    cr_assert_eq(r, (ssize_t)n, "%s: %s: a datagram of %zd bytes, not %zu", f->name, what, r, n);
    cr_assert(memcmp(buf, p, n) == 0, "%s: %s: other bytes", f->name, what);
}

/* Nothing more arrives on fd. */
static void expect_quiet(const family_t *f, int fd, const char *what)
{
    char buf[64];
    ssize_t r = raw_recv(fd, buf, sizeof buf, 50);
    cr_assert_eq(r, -1, "%s: %s: an unexpected datagram of %zd bytes", f->name, what, r);
}

static void raw_datagrams(const family_t *f)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.raw_buffer = true;
    cfg.encoding = "hex";
    peer_t p;
    peer_up_cfg(&p, f, &cfg);
    dgrams_t d = {0};
    nipc_server_on(p.s, "data", on_dgram, &d);
    int port = nipc_server_port(p.s), pa, pb;
    int a = raw_udp(f, &pa), b = raw_udp(f, &pb);

    /* The delimiter, NUL and invalid UTF-8: bytes, with no framing and nothing decoded. */
    const char one[] = "\f{\"type\":\"x\"}\f\xff\xfe\x00\x80";
    const char two[] = "\xc3\x28\xed\xa0\x80\f";
    raw_sendto(f, a, port, one, sizeof one - 1);
    cr_assert(th_run_until_count(&loop, &d.n, 1, 2000), "%s", f->name);
    raw_sendto(f, b, port, two, sizeof two - 1);
    cr_assert(th_run_until_count(&loop, &d.n, 2, 2000), "%s", f->name);
    raw_sendto(f, a, port, "\f", 1);
    cr_assert(th_run_until_count(&loop, &d.n, 3, 2000), "%s", f->name);
    const char *want[] = {one, two, "\f"};
    const size_t wlen[] = {sizeof one - 1, sizeof two - 1, 1};
    const int from[] = {pa, pb, pa};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(d.size[i], wlen[i], "%s: datagram %d is one event of its size", f->name, i);
        cr_assert(memcmp(d.bytes[i], want[i], wlen[i]) == 0, "%s: datagram %d", f->name, i);
        cr_assert_str_eq(d.address[i], f->host, "%s: datagram %d", f->name, i);
        cr_assert_eq(d.port[i], from[i], "%s: datagram %d's sender", f->name, i);
        cr_assert_eq(d.sent[i], 0, "%s: send from the handler", f->name);
        cr_assert_eq(d.emitted[i], 0, "%s: emit from the handler", f->name);
        cr_assert_eq(d.too_large[i], UV_EMSGSIZE, "%s: a send larger than a datagram", f->name);
    }
    cr_assert(d.data_null, "%s: raw data events have no JSON data", f->name);
    th_run_for(&loop, 20);
    cr_assert_eq(d.n, 3, "%s: %s", f->name, th_types(&p.rec));
    cr_assert_eq(th_count(&p.rec, "error"), 0, "%s: %s", f->name, th_types(&p.rec));

    /* Each answer is one datagram holding exactly its bytes, in order. */
    char echo[SMALL + 1] = ">";
    for (int i = 0; i < 3; i++) {
        int fd = from[i] == pa ? a : b;
        memcpy(echo + 1, want[i], wlen[i]);
        expect_dgram(f, fd, echo, wlen[i] + 1, "nipc_server_send from the handler");
        expect_dgram(f, fd, "\x0c\x00\xff", 3, "nipc_server_emit in hex");
    }
    expect_quiet(f, a, "after the answers");
    expect_quiet(f, b, "after the answers");

    /* To an address and port, after the handler. */
    cr_assert_eq(nipc_server_send_to(p.s, f->host, pb, "\x00\f\xff", 3), 0, "%s", f->name);
    expect_dgram(f, b, "\x00\f\xff", 3, "nipc_server_send_to");
    cr_assert_eq(nipc_server_emit_to(p.s, f->host, pa, "fffe0c", NULL), 0, "%s", f->name);
    expect_dgram(f, a, "\xff\xfe\x0c", 3, "nipc_server_emit_to in hex");

    /* Every sender heard from gets the broadcast, once. */
    cr_assert_eq(nipc_server_broadcast_bytes(p.s, "\f\xfe", 2), 0, "%s", f->name);
    cr_assert_eq(nipc_server_broadcast_text(p.s, "00"), 0, "%s", f->name);
    for (int i = 0; i < 2; i++) {
        expect_dgram(f, i == 0 ? a : b, "\f\xfe", 2, "nipc_server_broadcast_bytes");
        expect_dgram(f, i == 0 ? a : b, "\x00", 1, "nipc_server_broadcast_text");
        expect_quiet(f, i == 0 ? a : b, "one broadcast, one datagram");
    }

    /* The largest datagram goes and comes whole; one byte more is refused, never cut. */
    for (size_t i = 0; i < sizeof huge; i++)
        huge[i] = (char)(i * 31 + (i >> 8));
    cr_assert_eq(nipc_server_send_to(p.s, f->host, pa, huge, NIPC_UDP_MAX_FRAME), 0);
    expect_dgram(f, a, huge, NIPC_UDP_MAX_FRAME, "the largest datagram");
    cr_assert_eq(nipc_server_send_to(p.s, f->host, pa, huge, sizeof huge), UV_EMSGSIZE);
    cr_assert_eq(nipc_server_broadcast_bytes(p.s, huge, sizeof huge), UV_EMSGSIZE, "%s", f->name);
    char *hex = malloc(2 * sizeof huge + 1);
    cr_assert_not_null(hex);
    memset(hex, 'a', 2 * sizeof huge);
    hex[2 * sizeof huge] = '\0';
    cr_assert_eq(nipc_server_emit_to(p.s, f->host, pa, hex, NULL), UV_EMSGSIZE, "%s", f->name);
    cr_assert_eq(nipc_server_broadcast_text(p.s, hex), UV_EMSGSIZE, "%s", f->name);
    free(hex);
    expect_quiet(f, a, "nothing of what was refused");
    expect_quiet(f, b, "nothing of what was refused");
    raw_sendto(f, b, port, huge, NIPC_UDP_MAX_FRAME);
    cr_assert(th_run_until_count(&loop, &d.n, 4, 2000), "%s", f->name);
    cr_assert_eq(d.size[3], NIPC_UDP_MAX_FRAME, "%s: a large datagram is one event", f->name);
    cr_assert_eq(d.port[3], pb, "%s", f->name);
    close(a);
    close(b);
    nipc_free(p.ipc);
}

Test(udp, r3_udp4_raw_datagrams_both_ways)
{
    raw_datagrams(&v4);
}

Test(udp, r3_udp6_raw_datagrams_both_ways)
{
    raw_datagrams(&v6);
}

static void send_nothing(const nipc_event_t *ev, void *arg)
{
    *(int *)arg = nipc_server_send(ev->server, ev->socket, "", 0);
}

/* nipc.h: "An empty send writes nothing", as over a stream: no empty datagram either. */
/* As node's dgram does for node-ipc's raw emit of invalid hex: an empty send is one empty
 * datagram (on a stream it writes nothing: there is nothing to write). */
Test(udp, r1_an_empty_raw_send_is_one_empty_datagram)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.raw_buffer = true;
    peer_t p;
    peer_up_cfg(&p, &v4, &cfg);
    int sent = 1;
    nipc_server_on(p.s, "data", send_nothing, &sent);
    int pa;
    int a = raw_udp(&v4, &pa);
    raw_sendto(&v4, a, nipc_server_port(p.s), "hi", 2);
    cr_assert(wait_count(&p.rec, "data", 1, 2000), "%s", th_types(&p.rec));
    cr_assert_eq(sent, 0, "nipc_server_send from the handler");
    char wrote[160] = "", buf[8];
    const char *names[] = {"nipc_server_send", "nipc_server_send_to", "nipc_server_broadcast_bytes",
                           "nipc_server_broadcast_text", "nipc_server_emit_to"};
    for (int i = 0; i < 5; i++) {
        int err = i == 1   ? nipc_server_send_to(p.s, "127.0.0.1", pa, "", 0)
                  : i == 2 ? nipc_server_broadcast_bytes(p.s, "", 0)
                  : i == 3 ? nipc_server_broadcast_text(p.s, "")
                  : i == 4 ? nipc_server_emit_to(p.s, "127.0.0.1", pa, "", NULL)
                           : 0; /* 0: the handler's, made already */
        cr_assert_eq(err, 0, "%s", names[i]);
        if (raw_recv(a, buf, sizeof buf, 500) != 0)
            snprintf(wrote + strlen(wrote), sizeof wrote - strlen(wrote), " %s", names[i]);
    }
    cr_assert_str_empty(wrote, "no empty datagram came from:%s", wrote);
    cr_assert_lt(raw_recv(a, buf, sizeof buf, 50), 0, "one datagram each");
    close(a);
    nipc_free(p.ipc);
}
