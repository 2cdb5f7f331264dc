/* SPDX-License-Identifier: MIT */
/*
 * Unix domain sockets: listening with node-ipc's options and our unlink policy, and
 * connecting. Paths are used verbatim (K5) and refused, never truncated, past the OS limit.
 *
 * Unlink policy (S4, DESIGN): only a stale socket is removed before listening. A path that
 * holds something other than a socket is refused with UV_EEXIST; a socket someone still
 * accepts on is refused with UV_EADDRINUSE. The probe is one non-blocking connect(): it
 * never waits, whatever the peer does. A listener whose backlog is full (a stopped or busy
 * server) answers EAGAIN at once and counts as live.
 *
 * The listening socket is bound here, not by libuv, so that libuv does not know its path
 * and never unlinks it, and so that it can be bound for other processes to inherit
 * (nipc_server_listen_shared). When the server stops, nipc__pipe_unlink_own() removes the
 * path only if it is still the socket this server bound (same device and inode, still a
 * socket): a file put there since, or the socket of a server that took the path over, stays.
 */
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, strlen(path) + 1);
}

static int probe_listening(const char *path, bool *listening)
{
    struct sockaddr_un sa;
    fill_addr(&sa, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = rc == 0 ? 0 : errno;
    close(fd);
    /* EAGAIN (Linux) or EINPROGRESS: someone listens and has not accepted yet. */
    *listening = rc == 0 || e == EAGAIN || e == EINPROGRESS;
    if (rc != 0 && !*listening && e != ECONNREFUSED && e != ENOENT)
        return -e;
    return 0;
}

int nipc__pipe_clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return UV_EEXIST;
    bool listening = false;
    int err = probe_listening(path, &listening);
    if (err)
        return err;
    if (listening)
        return UV_EADDRINUSE;
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/*
 * secure_socket_root: the directory holding `path` must be ours alone, a directory (not a
 * link to one), owned by this user and writable by nobody else, or someone could replace
 * the socket. A server creates it (mode 0700) when it is missing.
 */
static int check_dir(const char *path, const nipc_config_t *cfg, bool create)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *slash = strrchr(path, '/');
    struct stat st;
    if (!cfg->secure_socket_root)
        return 0;
    if (slash == NULL)
        memcpy(dir, ".", 2);
    else if (slash == path)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -errno;
    if (lstat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0)
        return UV_EACCES;
    return 0;
}

/* S5: readableAll / writableAll add read or write permission for everyone. */
static int apply_mode(const char *path, const nipc_config_t *cfg)
{
    mode_t add = (cfg->readable_all ? 0444 : 0) | (cfg->writable_all ? 0222 : 0);
    struct stat st;
    if (add == 0)
        return 0;
    if (stat(path, &st) != 0 || chmod(path, (st.st_mode & 07777) | add) != 0)
        return -errno;
    return 0;
}

/* Binds, applies readable_all / writable_all (S5) and listens; *bound identifies the socket
 * file made. On error nothing is left at the path that was not there before. */
static int pipe_bind(const char *path, const nipc_config_t *cfg, nipc_sockfile_t *bound, int *out)
{
    int err;
    struct sockaddr_un sa;
    struct stat st;
    if (strlen(path) > nipc__max_path())
        return UV_ENAMETOOLONG;
    if ((err = check_dir(path, cfg, true)) != 0)
        return err;
    if (cfg->unlink && (err = nipc__pipe_clear_stale(path)) != 0)
        return err;
    fill_addr(&sa, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* A missing directory is ENOENT here (libuv's own bind would report EACCES). */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    if ((err = apply_mode(path, cfg)) != 0 || (lstat(path, &st) != 0 && (err = -errno) != 0)) {
        unlink(path);
        close(fd);
        return err;
    }
    bound->dev = st.st_dev;
    bound->ino = st.st_ino;
    bound->valid = true;
    if (listen(fd, NIPC__BACKLOG) != 0) {
        err = -errno;
        nipc__pipe_unlink_own(path, bound);
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

bool nipc__pipe_unlink_own(const char *path, nipc_sockfile_t *bound)
{
    struct stat st;
    bool ours = bound->valid && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
                st.st_dev == bound->dev && st.st_ino == bound->ino;
    bound->valid = false;
    return ours && unlink(path) == 0;
}

/* ---- the entry ---------------------------------------------------------------------------- */

static int init(uv_loop_t *loop, uv_handle_t *h)
{
    return uv_pipe_init(loop, (uv_pipe_t *)h, 0);
}

static int bind_path(nipc_server_t *s, const struct sockaddr *sa, int *fd)
{
    (void)sa;
    return pipe_bind(s->path, &s->ipc->cfg, &s->file, fd);
}

static int open_fd(nipc_server_t *s, uv_handle_t *h, int fd)
{
    (void)s;
    return uv_pipe_open((uv_pipe_t *)h, fd);
}

static int connect_to(nipc_conn_t *c, const char *path, const struct sockaddr *sa)
{
    (void)sa;
    int err;
    if (strlen(path) > nipc__max_path())
        return UV_ENAMETOOLONG;
    if ((err = check_dir(path, &c->ipc->cfg, false)) != 0)
        return err;
    c->creq.data = c;
    uv_pipe_connect(&c->creq, &c->u.pipe, path, nipc__stream_connected);
    return 0;
}

static int start(nipc_conn_t *c)
{
    /* A Unix socket's send buffer bounds what is in flight between two processes; the
     * system's 208 KiB makes a 1 MiB event cross in five sleeps and wake-ups of each side.
     * Best effort: the kernel caps the size, and a refusal changes only the speed. */
    size_t sndbuf = c->ipc->cfg.unix_send_buffer;
    if (sndbuf > 0) {
        int v = sndbuf > INT_MAX / 2 ? INT_MAX / 2 : (int)sndbuf;
        (void)uv_send_buffer_size(&c->u.handle, &v);
    }
    return nipc__stream_read_start(c);
}

/* The kernel's record of the process that connected (or accepted) the other end. */
static int cred(nipc_conn_t *c, nipc_cred_t *out)
{
    uv_os_fd_t fd;
    int err = uv_fileno(&c->u.handle, &fd);
    if (err)
        return err;
#if defined(SO_PEERCRED)
    struct ucred u;
    socklen_t len = sizeof u;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) != 0)
        return -errno;
    out->pid = (long)u.pid;
    out->uid = (unsigned)u.uid;
    out->gid = (unsigned)u.gid;
    return 0;
#else
    (void)fd;
    (void)out;
    return UV_ENOTSUP;
#endif
}

static int peer(nipc_conn_t *c, struct sockaddr_storage *sa)
{
    (void)c;
    (void)sa;
    return UV_ENOTSUP; /* peer credentials, not an address */
}

const nipc_stream_ops_t nipc__pipe_ops = {
    .name = "unix",
    .init = init,
    .bind = bind_path,
    .open = open_fd,
    .accept = nipc__stream_accept,
    .connect = connect_to,
    .start = start,
    .read_stop = nipc__stream_read_stop,
    .write = nipc__stream_write,
    .try_write = nipc__stream_try_write,
    .unsent = nipc__stream_unsent,
    .shutdown = nipc__stream_shutdown,
    .close = nipc__stream_close,
    .peer = peer,
    .cred = cred,
};
