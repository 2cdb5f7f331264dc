/* SPDX-License-Identifier: MIT */
/*
 * The Unix socket file a server owns (S4, S15, K5): a stop removes only the socket this
 * server bound, never a file or another server's socket put at its path since; the stale
 * probe never waits, even on a live server that cannot accept; a missing directory is
 * reported as such.
 */
#include "../support/harness.h"

#include <fcntl.h>

TH_LOOP_SUITE(socket_file, 20);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static void expect_file(const char *path, const char *text)
{
    char got[64] = "";
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s is gone", path);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    cr_assert_str_eq(got, text);
}

static bool is_socket(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The issue's `world & rm /tmp/app.world; echo precious > /tmp/app.world; kill %1`. */
Test(socket_file, s15_stop_keeps_a_file_put_at_the_path)
{
    nipc_config_t cfg;
    th_config(&cfg);
    const char *path = th_path(dir, "app.world");
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    cr_assert(is_socket(path));
    cr_assert_eq(unlink(path), 0);
    write_file(path, "precious\n");
    cr_assert_eq(nipc_server_stop(srv.server), 0);
    th_run_for(&loop, 20);
    expect_file(path, "precious\n");
    nipc_free(srv.ipc);
    th_run_for(&loop, 20);
    expect_file(path, "precious\n");
}

Test(socket_file, s15_free_keeps_a_file_put_at_the_path)
{
    nipc_config_t cfg;
    th_config(&cfg);
    const char *path = th_path(dir, "free.sock");
    th_server_t srv;
    th_server_start(&srv, &loop, &cfg, path);
    cr_assert_eq(unlink(path), 0);
    write_file(path, "mine");
    nipc_free(srv.ipc);
    th_run_for(&loop, 20);
    expect_file(path, "mine");
}

static void count_connect(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
}

/* A second server took the path over: the first one's stop leaves it listening. */
Test(socket_file, s15_stop_keeps_the_socket_of_a_server_that_took_the_path_over)
{
    nipc_config_t cfg;
    th_config(&cfg);
    const char *path = th_path(dir, "shared.sock");
    th_server_t a, b;
    th_server_start(&a, &loop, &cfg, path);
    cr_assert_eq(unlink(path), 0);
    th_server_start(&b, &loop, &cfg, path);
    int connects = 0;
    nipc_server_on(b.server, "connect", count_connect, &connects);
    cr_assert_eq(nipc_server_stop(a.server), 0);
    nipc_free(a.ipc);
    th_run_for(&loop, 20);
    cr_assert(is_socket(path), "the live server's socket was removed");
    int fd = th_raw_connect(path);
    bool seen = false;
    for (int i = 0; i < 200 && connects == 0; i++)
        th_run_for(&loop, 5);
    seen = connects == 1;
    cr_assert(seen, "the second server did not get the connection");
    close(fd);
    /* Its own stop removes its own socket. */
    cr_assert_eq(nipc_server_stop(b.server), 0);
    cr_assert_not(is_socket(path), "a server's own socket stays after its stop");
    nipc_free(b.ipc);
}

/* A listener whose backlog is full (its process stopped, or busy) never accepts: a blocking
 * connect to it would wait for ever. The probe must not, and such a server counts as live. */
Test(socket_file, s4_a_live_server_with_a_full_backlog_is_eaddrinuse_at_once)
{
    const char *path = th_path(dir, "full.sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(lfd >= 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lfd, 0), 0);
    int fds[64];
    int n = 0, e = 0;
    for (; n < 64; n++) {
        fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fds[n], (struct sockaddr *)&sa, sizeof sa) != 0) {
            e = errno;
            close(fds[n]);
            break;
        }
    }
    cr_assert_eq(e, EAGAIN, "the backlog never filled (%d connects): %s", n, strerror(e));

    nipc_config_t cfg;
    th_config(&cfg);
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    uint64_t t0 = uv_hrtime();
    int err = nipc_server_start(s);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    cr_assert_eq(err, UV_EADDRINUSE, "start: %s", nipc_strerror(err));
    /* A bound, not a measurement: the probe returns at once or it hangs. */
    cr_assert_lt(ms, 5000, "the probe waited %llu ms", (unsigned long long)ms);
    cr_assert(is_socket(path), "the live server's socket was removed");
    nipc_free(ipc);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
}

Test(socket_file, k5_a_missing_directory_is_enoent_and_the_log_names_the_path)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.silent = false;
    char log[4096] = "";
    cfg.logger = th_log_to;
    cfg.logger_arg = log;
    const char *path = th_path(dir, "no/such/dir.sock");
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    int err = nipc_server_start(s);
    cr_assert_eq(err, UV_ENOENT, "start: %s", nipc_strerror(err));
    cr_assert_not_null(strstr(log, path), "the log does not name %s: %s", path, log);
    nipc_free(ipc);
    /* A client to a missing directory hears the same. */
    nipc_t *c;
    th_config(&cfg);
    cfg.stop_retrying = true;
    cr_assert_eq(nipc_new(&c, &loop, &cfg), 0);
    nipc_client_t *cl;
    cr_assert_eq(nipc_connect_to(c, "x", path, &cl), 0);
    th_rec_t rec = {0};
    nipc_client_on(cl, NIPC_EVENT_ANY, th_record, &rec);
    for (int i = 0; i < 200 && th_count(&rec, "destroy") == 0; i++)
        th_run_for(&loop, 5);
    int i = th_find(&rec, "error", 0);
    cr_assert_geq(i, 0, "%s", th_types(&rec));
    cr_assert_eq(rec.status[i], UV_ENOENT, "%s", nipc_strerror(rec.status[i]));
    nipc_free(c);
}

/* Nothing but a stale socket is removed before listening (S4), whatever unlink says. */
Test(socket_file, s4_a_file_at_the_path_is_eexist_and_stays)
{
    nipc_config_t cfg;
    th_config(&cfg);
    const char *path = th_path(dir, "file.sock");
    write_file(path, "keep");
    nipc_t *ipc;
    nipc_server_t *s;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    cr_assert_eq(nipc_serve(ipc, path, &s), 0);
    cr_assert_eq(nipc_server_start(s), UV_EEXIST);
    expect_file(path, "keep");
    nipc_free(ipc);
}

/* ---- secure_socket_root (node-ipc 14's secureSocketRoot) ---------------------------------- */

static nipc_t *secure_instance(const char *id)
{
    nipc_config_t cfg;
    th_config(&cfg);
    cfg.secure_socket_root = true;
    cfg.id = id;
    cfg.stop_retrying = true;
    nipc_t *ipc;
    cr_assert_eq(nipc_new(&ipc, &loop, &cfg), 0);
    return ipc;
}

/* A per-user directory under $XDG_RUNTIME_DIR, made 0700, where a client finds the server. */
Test(socket_file, secure_root_is_a_private_directory_made_by_the_server)
{
    setenv("XDG_RUNTIME_DIR", dir, 1);
    nipc_t *s = secure_instance("world");
    nipc_server_t *srv;
    cr_assert_eq(nipc_serve(s, NULL, &srv), 0);
    char want[128];
    snprintf(want, sizeof want, "%s/nipc/app.world", dir);
    cr_assert_str_eq(nipc_server_path(srv), want);
    cr_assert_eq(nipc_server_start(srv), 0);
    struct stat st;
    cr_assert_eq(lstat(th_path(dir, "nipc"), &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700, "mode %o", st.st_mode & 0777);
    nipc_t *c = secure_instance("hello");
    nipc_client_t *cl;
    cr_assert_eq(nipc_connect_to(c, "world", NULL, &cl), 0);
    bool up = false;
    nipc_client_on(cl, "connect", th_flag, &up);
    cr_assert(th_run_until(&loop, &up, 2000));
    nipc_free(c);
    nipc_free(s);
    rmdir(th_path(dir, "nipc"));
}

Test(socket_file, secure_root_falls_back_to_a_tmp_directory_of_the_user)
{
    unsetenv("XDG_RUNTIME_DIR");
    nipc_t *s = secure_instance("world");
    nipc_server_t *srv;
    cr_assert_eq(nipc_serve(s, NULL, &srv), 0);
    char want[128];
    snprintf(want, sizeof want, "/tmp/nipc-%u/app.world", (unsigned)geteuid());
    cr_assert_str_eq(nipc_server_path(srv), want);
    nipc_free(s); /* never started: nothing made in /tmp */
}

/* A client of a secure socket root that is refused: the first attempt's `error`. */
static int secure_client_error(void)
{
    nipc_t *c = secure_instance("hello");
    nipc_client_t *cl;
    cr_assert_eq(nipc_connect_to(c, "world", NULL, &cl), 0);
    th_rec_t rec = {0};
    nipc_client_on(cl, NIPC_EVENT_ANY, th_record, &rec);
    for (int i = 0; i < 200 && th_count(&rec, "error") == 0; i++)
        th_run_for(&loop, 5);
    int e = th_find(&rec, "error", 0);
    cr_assert_geq(e, 0, "no error: %s", th_types(&rec));
    int status = rec.status[e];
    nipc_free(c);
    return status;
}

/* A socket directory others can write to is refused by both sides. */
Test(socket_file, secure_root_refuses_a_directory_others_can_write)
{
    setenv("XDG_RUNTIME_DIR", dir, 1);
    const char *d = th_path(dir, "nipc");
    cr_assert_eq(mkdir(d, 0700), 0);
    cr_assert_eq(chmod(d, 0777), 0);
    nipc_t *s = secure_instance("world");
    nipc_server_t *srv;
    cr_assert_eq(nipc_serve(s, NULL, &srv), 0);
    cr_assert_eq(nipc_server_start(srv), UV_EACCES, "a world-writable directory");
    cr_assert_eq(secure_client_error(), UV_EACCES, "a client into a world-writable directory");
    cr_assert_eq(chmod(d, 0700), 0);
    cr_assert_eq(nipc_server_start(srv), 0, "ours again, 0700");
    nipc_free(s);
    rmdir(d);
}

/* A socket directory of another user is refused by both sides. Only root can give a
 * directory away, so as any other user the test reports a skip. */
Test(socket_file, secure_root_refuses_a_directory_another_user_owns)
{
    if (geteuid() != 0)
        cr_skip_test("chown to another user needs root");
    setenv("XDG_RUNTIME_DIR", dir, 1);
    const char *d = th_path(dir, "nipc");
    cr_assert_eq(mkdir(d, 0700), 0);
    cr_assert_eq(chown(d, 65534, 65534), 0);
    nipc_t *s = secure_instance("world");
    nipc_server_t *srv;
    cr_assert_eq(nipc_serve(s, NULL, &srv), 0);
    cr_assert_eq(nipc_server_start(srv), UV_EACCES, "a directory of another user");
    cr_assert_eq(secure_client_error(), UV_EACCES, "a client into another user's directory");
    cr_assert_eq(chown(d, 0, 0), 0);
    cr_assert_eq(nipc_server_start(srv), 0, "ours again, 0700");
    nipc_free(s);
    rmdir(d);
}
