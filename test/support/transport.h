/* SPDX-License-Identifier: MIT */
/*
 * The conformance suite's transports. A test written against these helpers runs unchanged
 * over a Unix socket, TCP on 127.0.0.1 and TCP on ::1, and, for tests whose every peer is
 * nipc, TLS (TH_NIPC_TRANSPORT_PARAMS): a stream transport joins the suite by adding one
 * entry here.
 * Network endpoints always use port 0 on loopback.
 */
#ifndef NIPC_TEST_TRANSPORT_H
#define NIPC_TEST_TRANSPORT_H

#include "harness.h"
#include "internal.h"

#ifndef NIPC_TEST_BARE
#include <criterion/parameterized.h>
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

typedef enum th_kind { TH_UNIX, TH_TCP4, TH_TCP6, TH_TLS } th_kind_t;

/*
 * The name is held in the struct, not pointed to: Criterion copies the parameter into a
 * worker that is a new process (re-executed, with its own address layout), where a pointer
 * to a string literal of the runner would not be valid.
 */
typedef struct th_transport {
    char name[8];
    th_kind_t kind;
} th_transport_t;

/* Every stream transport of the suite, in the order their tests are reported. */
/* clang-format off */
#define TH_TRANSPORT_LIST {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}, {"tcp6", TH_TCP6}}
/* clang-format on */
#define TH_TRANSPORT_COUNT 3

/* For ParameterizedTestParameters: the array Criterion copies into each test. */
#define TH_TRANSPORT_PARAMS()                                                                      \
    do {                                                                                           \
        static th_transport_t th_params_[] = TH_TRANSPORT_LIST;                                    \
        return cr_make_param_array(th_transport_t, th_params_, TH_TRANSPORT_COUNT);                \
    } while (0)

/*
 * The same with TLS over TCP on 127.0.0.1: for tests whose every peer is nipc (a raw socket
 * speaks no TLS). th_serve(), th_connect() and the other helpers below give both instances
 * the test certificates (test/support/certs.sh, made once per test process).
 */
/* clang-format off */
#define TH_NIPC_TRANSPORT_LIST {{"unix", TH_UNIX}, {"tcp4", TH_TCP4}, {"tcp6", TH_TCP6}, \
                                {"tls", TH_TLS}}
/* clang-format on */
#define TH_NIPC_TRANSPORT_COUNT 4

#define TH_NIPC_TRANSPORT_PARAMS()                                                                 \
    do {                                                                                           \
        static th_transport_t th_params_[] = TH_NIPC_TRANSPORT_LIST;                               \
        return cr_make_param_array(th_transport_t, th_params_, TH_NIPC_TRANSPORT_COUNT);           \
    } while (0)

/* The network transports only (tests of what only a network server does: ports). */
/* clang-format off */
#define TH_NET_TRANSPORT_LIST {{"tcp4", TH_TCP4}, {"tcp6", TH_TCP6}}
/* clang-format on */
#define TH_NET_TRANSPORT_COUNT 2

#define TH_NET_TRANSPORT_PARAMS()                                                                  \
    do {                                                                                           \
        static th_transport_t th_params_[] = TH_NET_TRANSPORT_LIST;                                \
        return cr_make_param_array(th_transport_t, th_params_, TH_NET_TRANSPORT_COUNT);            \
    } while (0)

static TH_UNUSED const char *th_loopback(const th_transport_t *t)
{
    return t->kind == TH_TCP6 ? "::1" : "127.0.0.1";
}

/* ---- TLS: the test certificates, given to an instance ---------------------------------- */

static char th_tls_dir_[64];

static TH_UNUSED void th_tls_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", th_tls_dir_);
    if (system(cmd) != 0)
        return;
}

/* The directory holding certs.sh's files, made at the first call of this process. */
static TH_UNUSED const char *th_tls_dir(void)
{
    if (th_tls_dir_[0] == '\0') {
        snprintf(th_tls_dir_, sizeof th_tls_dir_, "/tmp/nipc-tls-XXXXXX");
        cr_assert_not_null(mkdtemp(th_tls_dir_), "mkdtemp: %s", strerror(errno));
        char cmd[512];
        snprintf(cmd, sizeof cmd, "bash '%s/test/support/certs.sh' '%s' >/dev/null 2>&1",
                 NIPC_SOURCE_DIR, th_tls_dir_);
        cr_assert_eq(system(cmd), 0, "certs.sh failed");
        atexit(th_tls_cleanup);
    }
    return th_tls_dir_;
}

/* malloc, not nipc's allocator (whose failures a test may be injecting): nipc frees it
 * with the config, and nipc__free is free. */
static TH_UNUSED char *th_tls_path(const char *name)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", th_tls_dir(), name);
    char *copy = strdup(p);
    cr_assert_not_null(copy);
    return copy;
}

/*
 * Turns TLS on in an instance made by the test (its config is the instance's own copy, so
 * this reaches into it): the test server's key and certificate, and the test CA to trust.
 * A server or client made after this speaks TLS; one made before keeps its transport.
 */
static TH_UNUSED void th_tls_enable(nipc_t *ipc)
{
    nipc_config_t *cfg = &ipc->cfg;
    if (cfg->tls.enabled)
        return;
    cfg->tls.enabled = true;
    cfg->tls.public_cert = th_tls_path("server.pem");
    cfg->tls.private_key = th_tls_path("server.key");
    /* One block, as nipc__config_free frees it: the pointers, then the text. */
    char *ca = th_tls_path("ca.pem");
    size_t n = strlen(ca) + 1;
    char **list = malloc(2 * sizeof *list + n);
    cr_assert_not_null(list);
    memcpy((char *)(list + 2), ca, n);
    list[0] = (char *)(list + 2);
    list[1] = NULL;
    free(ca);
    cfg->tls.trusted_connections = (const char *const *)list;
}

/*
 * Creates the instance's server on a fresh endpoint: the socket dir/name, or the loopback
 * address with port 0. The real port is known once nipc_server_start() has returned.
 */
static TH_UNUSED int th_serve(nipc_t *ipc, const th_transport_t *t, const char *dir,
                              const char *name, nipc_server_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_serve(ipc, th_path(dir, name), out);
    if (t->kind == TH_TLS)
        th_tls_enable(ipc);
    return nipc_serve_net(ipc, th_loopback(t), 0, NIPC_TCP, out);
}

/*
 * th_serve(), but a network server asks for `port` (0: the system's choice); the socket
 * dir/name ignores it. Brings a server back where its clients look for it.
 */
static TH_UNUSED int th_serve_at(nipc_t *ipc, const th_transport_t *t, const char *dir,
                                 const char *name, int port, nipc_server_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_serve(ipc, th_path(dir, name), out);
    if (t->kind == TH_TLS)
        th_tls_enable(ipc);
    return nipc_serve_net(ipc, th_loopback(t), port, NIPC_TCP, out);
}

/*
 * th_server_start() over a transport: a new instance on `loop` with a server on
 * th_serve_at(dir, name, port), a recorder on every event, started and its `start` seen.
 */
static TH_UNUSED void th_server_start_at(th_server_t *s, uv_loop_t *loop, const nipc_config_t *cfg,
                                         const th_transport_t *t, const char *dir, const char *name,
                                         int port)
{
    memset(s, 0, sizeof *s);
    cr_assert_eq(nipc_new(&s->ipc, loop, cfg), 0, "%s: nipc_new", t->name);
    int err = th_serve_at(s->ipc, t, dir, name, port, &s->server);
    cr_assert_eq(err, 0, "%s: serve: %s", t->name, nipc_strerror(err));
    nipc_server_on(s->server, NIPC_EVENT_ANY, th_record, &s->rec);
    nipc_server_on(s->server, "start", th_flag, &s->started);
    err = nipc_server_start(s->server);
    cr_assert_eq(err, 0, "%s: start: %s", t->name, nipc_strerror(err));
    cr_assert(th_run_until(loop, &s->started, 2000), "%s: no start event", t->name);
    if (t->kind != TH_UNIX)
        cr_assert_gt(nipc_server_port(s->server), 0, "%s: started without a port", t->name);
}

/* th_server_start_at() on a fresh endpoint (port 0 for a network server). */
static TH_UNUSED void th_server_start_on(th_server_t *s, uv_loop_t *loop, const nipc_config_t *cfg,
                                         const th_transport_t *t, const char *dir, const char *name)
{
    th_server_start_at(s, loop, cfg, t, dir, name, 0);
}

/* Connects a client of `ipc` to a started server of the same transport. */
static TH_UNUSED int th_connect(nipc_t *ipc, const th_transport_t *t, const char *id,
                                nipc_server_t *server, nipc_client_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_connect_to(ipc, id, nipc_server_path(server), out);
    cr_assert_gt(nipc_server_port(server), 0, "%s: the server has no port yet", t->name);
    if (t->kind == TH_TLS)
        th_tls_enable(ipc);
    return nipc_connect_to_net(ipc, id, th_loopback(t), nipc_server_port(server), out);
}

/* A raw socket connected to a started server (blocking connect, then non-blocking). */
static TH_UNUSED int th_raw_connect_server(const th_transport_t *t, nipc_server_t *server)
{
    if (t->kind == TH_UNIX)
        return th_raw_connect(nipc_server_path(server));
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    if (t->kind == TH_TCP6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)nipc_server_port(server));
        inet_pton(AF_INET6, "::1", &in6->sin6_addr);
        len = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)nipc_server_port(server));
        inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
        len = sizeof *in;
    }
    cr_assert_gt(nipc_server_port(server), 0, "%s: the server has no port yet", t->name);
    int fd = socket(sa.ss_family, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "%s: socket: %s", t->name, strerror(errno));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, len), 0, "%s: connect: %s", t->name,
                 strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/*
 * A raw listening socket of the transport: dir/name, or loopback port 0. Returns the fd;
 * *port is the port it got (0 for Unix).
 */
static TH_UNUSED int th_raw_listen_any(const th_transport_t *t, const char *dir, const char *name,
                                       int *port)
{
    *port = 0;
    if (t->kind == TH_UNIX)
        return th_raw_listen(th_path(dir, name));
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    if (t->kind == TH_TCP6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
        in6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, "::1", &in6->sin6_addr);
        len = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&sa;
        in->sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
        len = sizeof *in;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "%s: socket: %s", t->name, strerror(errno));
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0, "%s: bind: %s", t->name,
                 strerror(errno));
    cr_assert_eq(listen(fd, 8), 0, "%s: listen: %s", t->name, strerror(errno));
    /* Accepted sockets inherit it on Linux; th_raw_accept_any() sets it again anyway. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(t->kind == TH_TCP6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                     : ((struct sockaddr_in *)&sa)->sin_port);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/*
 * th_raw_accept() on a listener made by th_raw_listen_any(). A TCP peer gets TCP_NODELAY,
 * so its small writes leave at once, as nipc's do.
 */
static TH_UNUSED int th_raw_accept_any(uv_loop_t *loop, const th_transport_t *t, int lfd,
                                       unsigned ms)
{
    int fd = th_raw_accept(loop, lfd, ms);
    if (fd >= 0 && t->kind != TH_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* Connects a nipc client to a raw listener made by th_raw_listen_any(). */
static TH_UNUSED int th_connect_raw(nipc_t *ipc, const th_transport_t *t, const char *id,
                                    const char *dir, const char *name, int port,
                                    nipc_client_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_connect_to(ipc, id, th_path(dir, name), out);
    if (t->kind == TH_TLS)
        th_tls_enable(ipc);
    return nipc_connect_to_net(ipc, id, th_loopback(t), port, out);
}

/*
 * A loopback port that was bound and released, where nobody listens yet (0 for Unix): for
 * tests that connect first and start the server there later (th_connect_raw() and
 * th_serve_at() / th_server_start_at() with the same dir, name and port).
 */
static TH_UNUSED int th_unused_port(const th_transport_t *t, const char *dir)
{
    if (t->kind == TH_UNIX)
        return 0;
    int port;
    close(th_raw_listen_any(t, dir, "unused", &port));
    return port;
}

/*
 * An endpoint where nobody listens, for retry tests: a socket path that does not exist, or
 * a loopback port that was bound and released (refused when connected to).
 */
static TH_UNUSED int th_connect_nowhere(nipc_t *ipc, const th_transport_t *t, const char *id,
                                        const char *dir, nipc_client_t **out)
{
    if (t->kind == TH_UNIX)
        return nipc_connect_to(ipc, id, th_path(dir, "nobody.sock"), out);
    if (t->kind == TH_TLS)
        th_tls_enable(ipc);
    return nipc_connect_to_net(ipc, id, th_loopback(t), th_unused_port(t, dir), out);
}

/* The error a failed attempt reports when nobody listens at th_connect_nowhere()'s place. */
static TH_UNUSED int th_nowhere_error(const th_transport_t *t)
{
    return t->kind == TH_UNIX ? UV_ENOENT : UV_ECONNREFUSED;
}

/* The port of a raw socket's local end (0 for a Unix socket). */
static TH_UNUSED int th_raw_local_port(int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    if (sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    return 0;
}

/* The address of loopback:port in family `af` (AF_INET6: ::1, else 127.0.0.1); its length. */
static TH_UNUSED socklen_t th_loopback_sockaddr(int af, int port, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof *sa);
    if (af == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, "::1", &in6->sin6_addr);
        return sizeof *in6;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
    return sizeof *in;
}

/* The address of the Unix socket at `path`, or of loopback:port; returns its length. */
static TH_UNUSED socklen_t th_raw_sockaddr(const th_transport_t *t, const char *path, int port,
                                           struct sockaddr_storage *sa)
{
    if (t->kind != TH_UNIX)
        return th_loopback_sockaddr(t->kind == TH_TCP6 ? AF_INET6 : AF_INET, port, sa);
    memset(sa, 0, sizeof *sa);
    struct sockaddr_un *un = (struct sockaddr_un *)sa;
    un->sun_family = AF_UNIX;
    snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
    return sizeof *un;
}

/*
 * Tries a blocking raw connect to dir/name or loopback:port, closes the socket, and returns
 * 0 when it connected, else the errno (ENOENT: no socket file; ECONNREFUSED: nobody
 * listens). For checking that an endpoint listens, or no longer does.
 */
static TH_UNUSED int th_raw_connect_error(const th_transport_t *t, const char *dir,
                                          const char *name, int port)
{
    struct sockaddr_storage sa;
    socklen_t len = th_raw_sockaddr(t, th_path(dir, name), port, &sa);
    int fd = socket(sa.ss_family, SOCK_STREAM, 0);
    cr_assert(fd >= 0, "%s: socket: %s", t->name, strerror(errno));
    int err = connect(fd, (struct sockaddr *)&sa, len) == 0 ? 0 : errno;
    close(fd);
    return err;
}

/*
 * A server's connected peer reports its remote end: for TCP the loopback address of the
 * transport, a port and node-ipc's family name; for a Unix socket NULL, 0 and NULL.
 */
static TH_UNUSED void th_assert_peer_address(const th_transport_t *t, const nipc_socket_t *sock)
{
    const char *addr = nipc_socket_address(sock);
    const char *family = nipc_socket_family(sock);
    int port = nipc_socket_port(sock);
    if (t->kind == TH_UNIX) {
        cr_assert_null(addr, "%s: a Unix peer has address %s", t->name, addr);
        cr_assert_eq(port, 0, "%s: a Unix peer has port %d", t->name, port);
        cr_assert_null(family, "%s: a Unix peer has family %s", t->name, family);
        return;
    }
    cr_assert_not_null(addr, "%s: the peer has no address", t->name);
    cr_assert_str_eq(addr, th_loopback(t), "%s: peer address %s", t->name, addr);
    cr_assert(port > 0 && port <= 65535, "%s: peer port %d", t->name, port);
    cr_assert_not_null(family, "%s: the peer has no family", t->name);
    cr_assert_str_eq(family, t->kind == TH_TCP6 ? "IPv6" : "IPv4", "%s: peer family %s", t->name,
                     family);
}

/* Event i of the recorder is `type` on `sock`, with the recorded types in the message. */
static TH_UNUSED void th_assert_event(const th_transport_t *t, const th_rec_t *r, int i,
                                      const char *type, const nipc_socket_t *sock)
{
    cr_assert(i >= 0 && i < r->n, "%s: no event %d (events: %s)", t->name, i, th_types(r));
    cr_assert_str_eq(r->type[i], type, "%s: event %d (events: %s)", t->name, i, th_types(r));
    cr_assert_eq(r->socket[i], sock, "%s: event %d is %s on another socket", t->name, i, type);
}

#endif /* NIPC_TEST_TRANSPORT_H */
