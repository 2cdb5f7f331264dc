/* SPDX-License-Identifier: MIT */
/*
 * The address helpers every network transport shares (TCP, TLS, UDP): IP literals,
 * node-ipc's view of an address ({address, family, port}), and asynchronous name
 * resolution. A resolver outlives its owner safely: the owner cancels it, and the request
 * frees itself when libuv's thread pool is done with it.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    nipc_resolver_t *r = req->data;
    nipc_t *ipc = r->ipc;
    if (r->owner != NULL) {
        struct sockaddr_storage sa;
        const struct sockaddr *found = NULL;
        if (status == 0 && res != NULL && res->ai_addrlen <= sizeof sa) {
            memcpy(&sa, res->ai_addr, res->ai_addrlen);
            found = (const struct sockaddr *)&sa;
        } else if (status == 0) {
            status = UV_EAI_NONAME;
        }
        r->cb(r->owner, status, found);
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
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
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
