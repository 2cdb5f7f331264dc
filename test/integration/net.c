/* SPDX-License-Identifier: MIT */
/*
 * What only network servers and clients have (the behaviours they share with Unix sockets
 * run in the conformance suite): node-ipc's default host and port (S2, C2), host names
 * resolved asynchronously, the client's local bind options (C16), no unlink of anything for
 * a network server, and port errors. Host names used: "localhost" only, which resolves from
 * /etc/hosts without leaving the machine.
 */
#include "../support/transport.h"

TH_LOOP_SUITE(net, 20);

static bool wait_count(th_rec_t *r, const char *type, int n, unsigned ms)
{
    uint64_t end = uv_hrtime() / 1000000 + ms;
    while (th_count(r, type) < n && uv_hrtime() / 1000000 < end)
        th_run_for(&loop, 5);
    return th_count(r, type) >= n;
}

typedef struct end {
    nipc_t *ipc;
    nipc_client_t *c;
    th_rec_t rec;
} end_t;

static void client_net(end_t *e, const nipc_config_t *cfg, const char *host, int port)
{
    memset(e, 0, sizeof *e);
    cr_assert_eq(nipc_new(&e->ipc, &loop, cfg), 0);
    cr_assert_eq(nipc_connect_to_net(e->ipc, "srv", host, port, &e->c), 0);
    nipc_client_on(e->c, NIPC_EVENT_ANY, th_record, &e->rec);
}

/* A loopback port that was free a moment ago. */
static int free_port(const char *host)
{
    th_transport_t t = {"tcp", strchr(host, ':') ? TH_TCP6 : TH_TCP4};
    int port;
    close(th_raw_listen_any(&t, dir, "x", &port));
    return port;
}

Test(net, s2_c2_defaults_are_the_configs_network_host_and_port)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.network_host = "::1";
    cfg.network_port = 0; /* for the server: let the system choose */
    th_server_t srv;
    memset(&srv, 0, sizeof srv);
    cr_assert_eq(nipc_new(&srv.ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(srv.ipc, NULL, NIPC_PORT_DEFAULT, NIPC_TCP, &srv.server), 0);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, th_record, &srv.rec);
    cr_assert_eq(nipc_server_start(srv.server), 0);
    cr_assert_str_eq(nipc_server_host(srv.server), "::1");
    cr_assert_gt(nipc_server_port(srv.server), 0);

    /* The client takes both from its config too. */
    cfg.network_port = nipc_server_port(srv.server);
    cfg.stop_retrying = true;
    end_t c;
    client_net(&c, &cfg, NULL, NIPC_PORT_DEFAULT);
    cr_assert_str_eq(nipc_client_path(c.c), "::1");
    cr_assert(wait_count(&c.rec, "connect", 1, 2000), "%s", th_types(&c.rec));
    cr_assert(wait_count(&srv.rec, "connect", 1, 2000));
    nipc_socket_t *peer = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    cr_assert_str_eq(nipc_socket_family(peer), "IPv6");
    cr_assert_str_eq(nipc_socket_address(peer), "::1");
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

Test(net, s2_the_default_host_is_127_0_0_1)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, NULL, 0, NIPC_TCP, &s), 0);
    cr_assert_str_eq(nipc_server_host(s), "127.0.0.1");
    cr_assert_eq(nipc_server_port(s), 0, "no port before start");
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_gt(nipc_server_port(s), 0);
    cr_assert_eq(nipc_server_stop(s), 0);
    cr_assert_eq(nipc_server_port(s), 0, "no port once stopped");
    nipc_free(ipc);
}

Test(net, host_names_are_resolved_for_servers_and_clients)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    memset(&srv, 0, sizeof srv);
    cr_assert_eq(nipc_new(&srv.ipc, &loop, &cfg), 0);
    /* family 4 hint on the server side too: "localhost" may list ::1 first. */
    cr_assert_eq(nipc_serve_net(srv.ipc, "127.0.0.1", 0, NIPC_TCP, &srv.server), 0);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, th_record, &srv.rec);
    cr_assert_eq(nipc_server_start(srv.server), 0);

    cfg.iface.family = 4;
    cfg.stop_retrying = true;
    end_t c;
    client_net(&c, &cfg, "localhost", nipc_server_port(srv.server));
    cr_assert(wait_count(&c.rec, "connect", 1, 3000), "%s", th_types(&c.rec));
    nipc_free(c.ipc);
    nipc_free(srv.ipc);

    /* A server on a name publishes start once the name is resolved and bound. */
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    th_rec_t rec = {0};
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "localhost", 0, NIPC_TCP, &s), 0);
    nipc_server_on(s, NIPC_EVENT_ANY, th_record, &rec);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EALREADY, "resolving counts as started");
    cr_assert(wait_count(&rec, "start", 1, 3000), "%s", th_types(&rec));
    cr_assert_gt(nipc_server_port(s), 0);
    nipc_free(ipc);
}

Test(net, freeing_while_a_name_resolves_is_clean)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    nipc_client_t *c;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "localhost", 0, NIPC_TCP, &s), 0);
    cr_assert_eq(nipc_server_start(s), 0);
    cr_assert_eq(nipc_connect_to_net(ipc, "x", "localhost", 9, &c), 0);
    nipc_free(ipc); /* both resolutions are still under way */
}

Test(net, c16_the_client_binds_its_local_end_from_iface)
{
    nipc_config_t cfg;
    th_config(&cfg);
    th_server_t srv;
    memset(&srv, 0, sizeof srv);
    cr_assert_eq(nipc_new(&srv.ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(srv.ipc, "127.0.0.1", 0, NIPC_TCP, &srv.server), 0);
    nipc_server_on(srv.server, NIPC_EVENT_ANY, th_record, &srv.rec);
    cr_assert_eq(nipc_server_start(srv.server), 0);

    int local = free_port("127.0.0.1");
    cfg.iface.local_address = "127.0.0.1";
    cfg.iface.local_port = local;
    cfg.stop_retrying = true;
    end_t c;
    client_net(&c, &cfg, "127.0.0.1", nipc_server_port(srv.server));
    cr_assert(wait_count(&srv.rec, "connect", 1, 2000), "%s", th_types(&c.rec));
    nipc_socket_t *peer = srv.rec.socket[th_find(&srv.rec, "connect", 0)];
    cr_assert_eq(nipc_socket_port(peer), local);
    cr_assert_str_eq(nipc_socket_address(peer), "127.0.0.1");
    nipc_free(c.ipc);

    /* A local address that is not an IP literal fails the attempt like a failed connect. */
    cfg.iface.local_address = "not-an-ip";
    cfg.iface.local_port = 0;
    client_net(&c, &cfg, "127.0.0.1", nipc_server_port(srv.server));
    cr_assert_eq(c.rec.n, 0, "nothing is published inside nipc_connect_to_net()");
    cr_assert(wait_count(&c.rec, "destroy", 1, 2000), "%s", th_types(&c.rec));
    cr_assert_str_eq(th_types(&c.rec), "error disconnect destroy");
    nipc_free(c.ipc);
    nipc_free(srv.ipc);
}

Test(net, nothing_is_unlinked_for_a_network_server)
{
    char cwd[512];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    FILE *f = fopen("127.0.0.1", "w"); /* node-ipc would delete this file */
    fputs("keep", f);
    fclose(f);
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(ipc, "127.0.0.1", 0, NIPC_TCP, &s), 0);
    cr_assert_eq(nipc_server_start(s), 0);
    th_run_for(&loop, 20);
    nipc_free(ipc);
    struct stat st;
    cr_assert_eq(stat("127.0.0.1", &st), 0, "the file must still be there");
    cr_assert_eq(chdir(cwd), 0);
}

Test(net, ports_in_use_and_out_of_range_are_refused)
{
    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *a, *b;
    nipc_server_t *sa, *sb;
    cr_assert_eq(nipc_new(&a, &loop, &cfg), 0);
    cr_assert_eq(nipc_new(&b, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(a, "127.0.0.1", 0, NIPC_TCP, &sa), 0);
    cr_assert_eq(nipc_server_start(sa), 0);
    cr_assert_eq(nipc_serve_net(b, "127.0.0.1", nipc_server_port(sa), NIPC_TCP, &sb), 0);
    cr_assert_eq(nipc_server_start(sb), UV_EADDRINUSE);
    cr_assert_eq(nipc_serve_net(b, "127.0.0.1", 1, NIPC_TCP, NULL), UV_EALREADY);

    nipc_t *c;
    cr_assert_eq(nipc_new(&c, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve_net(c, NULL, 65536, NIPC_TCP, NULL), UV_EINVAL);
    cr_assert_eq(nipc_serve_net(c, NULL, -2, NIPC_TCP, NULL), UV_EINVAL);
    cr_assert_eq(nipc_serve_net(c, NULL, 0, (nipc_net_t)5, NULL), UV_EINVAL);
    cr_assert_eq(nipc_connect_to_net(c, "x", NULL, 0, NULL), UV_EINVAL, "no port 0 to connect to");
    cr_assert_eq(nipc_connect_to_net(c, "x", NULL, 65536, NULL), UV_EINVAL);
    cr_assert_eq(nipc_connect_to_net(c, NULL, NULL, 80, NULL), UV_EINVAL);
    nipc_free(a);
    nipc_free(b);
    nipc_free(c);
}
