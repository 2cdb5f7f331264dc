/* SPDX-License-Identifier: MIT */
/*
 * Unix domain sockets: listening with node-ipc's options and our unlink policy, and
 * connecting. Paths are used verbatim (K5) and refused, never truncated, past the OS limit.
 *
 * Unlink policy (S4, DESIGN): only a stale socket is removed. A path that holds something
 * other than a socket is refused with UV_EEXIST; a socket someone still accepts on is
 * refused with UV_EADDRINUSE. The probe is a plain connect() on a local socket, which
 * completes or fails at once.
 */
#include "transport.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int probe_listening(const char *path, bool *listening)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return (-(errno));
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    /* EAGAIN: the backlog is full, so someone is listening. */
    *listening = rc == 0 || e == EAGAIN;
    if (rc != 0 && e != ECONNREFUSED && e != EAGAIN && e != ENOENT)
        return (-(e));
    return 0;
}

int nipc__pipe_clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : (-(errno));
    if (!S_ISSOCK(st.st_mode))
        return UV_EEXIST;
    bool listening = false;
    int err = probe_listening(path, &listening);
    if (err)
        return err;
    if (listening)
        return UV_EADDRINUSE;
    if (unlink(path) != 0 && errno != ENOENT)
        return (-(errno));
    return 0;
}

int nipc__pipe_listen(uv_pipe_t *h, const char *path, const nipc_config_t *cfg,
                      uv_connection_cb on_connection)
{
    int err;
    if (strlen(path) > nipc__max_path())
        return UV_ENAMETOOLONG;
    if (cfg->unlink && (err = nipc__pipe_clear_stale(path)) != 0)
        return err;
    if ((err = uv_pipe_bind(h, path)) != 0)
        return err;
    int mode = (cfg->readable_all ? UV_READABLE : 0) | (cfg->writable_all ? UV_WRITABLE : 0);
    if (mode != 0 && (err = uv_pipe_chmod(h, mode)) != 0)
        return err;
    /* node's default backlog; maxConnections is enforced per accept (S6). */
    return uv_listen((uv_stream_t *)h, 511, on_connection);
}

int nipc__pipe_connect(uv_connect_t *req, uv_pipe_t *h, const char *path, uv_connect_cb cb)
{
    if (strlen(path) > nipc__max_path())
        return UV_ENAMETOOLONG;
    uv_pipe_connect(req, h, path, cb);
    return 0;
}
