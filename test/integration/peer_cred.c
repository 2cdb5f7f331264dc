/* SPDX-License-Identifier: MIT */
/*
 * Peer credentials on Unix sockets (SO_PEERCRED): each side learns the other's pid, uid
 * and gid, and allow_uids / allow_gids decide who may connect, before `connect`.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(peer_cred, 20);

typedef struct peer {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
    bool up;
} peer_t;

static void client_of(peer_t *p, nipc_server_t *server)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.stop_retrying = true;
    memset(p, 0, sizeof *p);
    cr_assert_eq(nipc_new(&p->ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_connect_to(p->ipc, "s", nipc_server_path(server), &p->c), 0);
    nipc_client_on(p->c, NIPC_EVENT_ANY, th_record, &p->rec);
    nipc_client_on(p->c, "destroy", th_record, &p->rec);
    nipc_client_on(p->c, "connect", th_flag, &p->up);
}

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

Test(peer_cred, both_sides_see_the_other_process)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, th_path(dir, "cred.sock"));
    peer_t p;
    client_of(&p, srv.server);
    cr_assert(th_run_until(&loop, &p.up, 2000));
    cr_assert(wait_count(&srv.rec, "connect", 1, 2000));
    nipc_socket_t *sock = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    nipc_cred_t cr;
    cr_assert_eq(nipc_socket_peer_cred(sock, &cr), 0);
    cr_assert_eq(cr.pid, (long)getpid());
    cr_assert_eq(cr.uid, (unsigned)getuid());
    cr_assert_eq(cr.gid, (unsigned)getgid());
    memset(&cr, 0, sizeof cr);
    cr_assert_eq(nipc_client_peer_cred(p.c, &cr), 0);
    cr_assert_eq(cr.pid, (long)getpid());
    cr_assert_eq(cr.uid, (unsigned)getuid());
    nipc_free(p.ipc);
    nipc_free(srv.ipc);
}

Test(peer_cred, tcp_has_no_credentials)
{
    nipc_config_t cfg;
    th_config(&cfg);
    const th_transport_t tcp4 = {"tcp4", TH_TCP4};
    th_server_t srv;
    th_server_start_on(&srv, &loop, &cfg, &tcp4, dir, "x");
    nipc_t *ipc;
    nipc_client_t *c;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(th_connect(ipc, &tcp4, "s", srv.server, &c), 0);
    nipc_cred_t cr;
    cr_assert_eq(nipc_client_peer_cred(c, &cr), UV_ENOTSUP);
    cr_assert(wait_count(&srv.rec, "connect", 1, 2000));
    cr_assert_eq(nipc_socket_peer_cred(srv.rec.socket[th_find(&srv.rec, "connect", 0)], &cr),
                 UV_ENOTSUP);
    nipc_free(ipc);
    nipc_free(srv.ipc);
}

/* A uid that is not ours: refused before `connect`, and the server says why. */
Test(peer_cred, a_peer_outside_the_rule_is_refused_before_connect)
{
    nipc_config_t cfg;
    th_config(&cfg);
    unsigned other = (unsigned)getuid() + 4242, nogid = (unsigned)getgid() + 4242;
    cfg.allow_uids = &other;
    cfg.n_allow_uids = 1;
    cfg.allow_gids = &nogid;
    cfg.n_allow_gids = 1;
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, th_path(dir, "rule.sock"));
    peer_t p;
    client_of(&p, srv.server);
    cr_assert(wait_count(&srv.rec, "error", 1, 2000), "%s", th_types(&srv.rec));
    cr_assert_eq(srv.rec.status[th_find(&srv.rec, "error", 0)], UV_EACCES);
    cr_assert(wait_count(&p.rec, "destroy", 1, 2000), "%s", th_types(&p.rec));
    cr_assert_eq(th_count(&srv.rec, "connect"), 0, "%s", th_types(&srv.rec));
    cr_assert_eq(nipc_server_socket_count(srv.server), 0);
    nipc_free(p.ipc);
    nipc_free(srv.ipc);
}

/* Our uid, or our gid alone: let in. */
Test(peer_cred, a_peer_inside_the_rule_connects)
{
    for (int by_gid = 0; by_gid < 2; by_gid++) {
        nipc_config_t cfg;
        th_config(&cfg);
        unsigned uid = by_gid ? (unsigned)getuid() + 4242 : (unsigned)getuid();
        unsigned gid = (unsigned)getgid();
        cfg.allow_uids = &uid;
        cfg.n_allow_uids = 1;
        if (by_gid) {
            cfg.allow_gids = &gid;
            cfg.n_allow_gids = 1;
        }
        th_server_t srv;
        th_server_start(&srv, &loop, &cfg, th_path(dir, by_gid ? "g.sock" : "u.sock"));
        peer_t p;
        client_of(&p, srv.server);
        cr_assert(th_run_until(&loop, &p.up, 2000), "by_gid %d: %s", by_gid, th_types(&p.rec));
        cr_assert(wait_count(&srv.rec, "connect", 1, 2000), "by_gid %d", by_gid);
        cr_assert_eq(th_count(&srv.rec, "error"), 0);
        nipc_free(p.ipc);
        nipc_free(srv.ipc);
    }
}
