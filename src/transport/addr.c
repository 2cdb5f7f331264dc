/* SPDX-License-Identifier: MIT */
/*
 * The address helpers every network transport shares (TCP, TLS, UDP): IP literals,
 * node-ipc's view of an address ({address, family, port}), name resolution (asynchronous,
 * and blocking for nipc_server_listen_shared), and what a listening descriptor inherited
 * from another process is bound to (nipc_serve_fd). A resolver outlives its owner safely:
 * the owner cancels it, and the request frees itself when libuv's thread pool is done with
 * it.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

int nipc__ip_parse(const char *host, int port, struct sockaddr_storage *sa)
{
    memset(sa, 0, sizeof *sa);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)sa) == 0)
        return 0;
    /* uv_ip6_addr accepts "fe80::1%eth0"; brackets are not part of a literal. */
    if (strchr(host, ':') != NULL && uv_ip6_addr(host, port, (struct sockaddr_in6 *)sa) == 0)
        return 0;
    return UV_EINVAL;
}

int nipc__ip_port(const struct sockaddr *sa)
{
    return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                           : ((const struct sockaddr_in *)sa)->sin_port);
}

void nipc__ip_describe(nipc_socket_t *sock, const struct sockaddr *sa)
{
    bool v6 = sa->sa_family == AF_INET6;
    memcpy(&sock->sa, sa, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    sock->family = v6 ? "IPv6" : "IPv4";
    sock->port = nipc__ip_port(sa);
    sock->address[0] = '\0';
}

const char *nipc__ip_text(nipc_socket_t *sock)
{
    if (sock->address[0] == '\0') {
        if (sock->sa.ss_family == AF_INET6)
            uv_ip6_name((const struct sockaddr_in6 *)&sock->sa, sock->address,
                        sizeof sock->address);
        else
            uv_ip4_name((const struct sockaddr_in *)&sock->sa, sock->address, sizeof sock->address);
    }
    return sock->address;
}

struct nipc_resolver {
    uv_getaddrinfo_t req;
    nipc_t *ipc;
    void *owner; /* NULL once cancelled */
    nipc_resolved_cb cb;
    int port;
};

/* The first address of a resolution, into *sa: 0, or why there is none. */
static int first_address(int status, const struct addrinfo *res, struct sockaddr_storage *sa)
{
    if (status != 0)
        return status;
    if (res == NULL || res->ai_addrlen > sizeof *sa)
        return UV_EAI_NONAME;
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    return 0;
}

/* What a server or client looks up: stream addresses of the family, for the port. */
static void lookup_of(int family, int port, struct addrinfo *hints, char service[8])
{
    snprintf(service, 8, "%d", port);
    memset(hints, 0, sizeof *hints);
    hints->ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
    hints->ai_socktype = SOCK_STREAM;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    nipc_resolver_t *r = req->data;
    nipc_t *ipc = r->ipc;
    if (r->owner != NULL) {
        struct sockaddr_storage sa;
        status = first_address(status, res, &sa);
        r->cb(r->owner, status, status == 0 ? (const struct sockaddr *)&sa : NULL);
    }
    uv_freeaddrinfo(res);
    nipc__free(r);
    nipc__handle_closed(ipc);
}

int nipc__resolve(nipc_t *ipc, const char *host, int port, int family, void *owner,
                  nipc_resolved_cb cb, nipc_resolver_t **out)
{
    nipc_resolver_t *r = nipc__calloc(1, sizeof *r);
    if (r == NULL)
        return UV_ENOMEM;
    r->ipc = ipc;
    r->owner = owner;
    r->cb = cb;
    r->req.data = r;
    char service[8];
    struct addrinfo hints;
    lookup_of(family, port, &hints, service);
    int err = uv_getaddrinfo(ipc->loop, &r->req, on_resolved, host, service, &hints);
    if (err) {
        nipc__free(r);
        return err;
    }
    ipc->pending_closes++;
    *out = r;
    return 0;
}

void nipc__resolve_cancel(nipc_resolver_t *r)
{
    if (r != NULL)
        r->owner = NULL;
}

int nipc__resolve_now(nipc_t *ipc, const char *host, int port, int family,
                      struct sockaddr_storage *sa)
{
    char service[8];
    struct addrinfo hints;
    uv_getaddrinfo_t req;
    memset(&req, 0, sizeof req);
    lookup_of(family, port, &hints, service);
    /* No callback: libuv resolves inside the call. */
    int err = uv_getaddrinfo(ipc->loop, &req, NULL, host, service, &hints);
    err = first_address(err, req.addrinfo, sa);
    uv_freeaddrinfo(req.addrinfo);
    return err;
}

/* ---- a listening descriptor from another process ------------------------------------------ */

static int sockopt_int(int fd, int level, int name, int *v)
{
    socklen_t len = sizeof *v;
    *v = 0;
    return getsockopt(fd, level, name, v, &len) == 0 ? 0 : UV_EINVAL;
}

/* A named Unix socket's path (an unnamed or abstract one has none). */
static int unix_path(const struct sockaddr_un *un, socklen_t len, char **where)
{
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len <= off || un->sun_path[0] == '\0')
        return UV_EINVAL;
    /* The kernel may leave out the terminating NUL of a path that fills sun_path. */
    size_t n = strnlen(un->sun_path, len - off);
    *where = nipc__malloc(n + 1);
    if (*where == NULL)
        return UV_ENOMEM;
    memcpy(*where, un->sun_path, n);
    (*where)[n] = '\0';
    return 0;
}

int nipc__listener_describe(int fd, int *family, char **where, int *port)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int v;
    *where = NULL;
    *port = 0;
    if (fd < 0 || sockopt_int(fd, SOL_SOCKET, SO_TYPE, &v) != 0 || v != SOCK_STREAM)
        return UV_EINVAL;
#if defined(SO_ACCEPTCONN)
    if (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &v) != 0 || v == 0)
        return UV_EINVAL;
#endif
    memset(&sa, 0, sizeof sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return UV_EINVAL;
    *family = sa.ss_family;
    if (sa.ss_family == AF_UNIX)
        return unix_path((const struct sockaddr_un *)&sa, len, where);
    if (sa.ss_family != AF_INET && sa.ss_family != AF_INET6)
        return UV_EINVAL;
#if defined(SO_PROTOCOL)
    /* A stream over IP that is not TCP (SCTP's one-to-one sockets) is no nipc transport. */
    if (sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &v) != 0 || v != IPPROTO_TCP)
        return UV_EINVAL;
#endif
    char text[INET6_ADDRSTRLEN];
    if (sa.ss_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)&sa, text, sizeof text);
    else
        uv_ip4_name((const struct sockaddr_in *)&sa, text, sizeof text);
    *port = nipc__ip_port((const struct sockaddr *)&sa);
    *where = nipc__strdup(text);
    return *where != NULL ? 0 : UV_ENOMEM;
}
