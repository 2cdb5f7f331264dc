/* SPDX-License-Identifier: MIT */
/*
 * nipc's own error codes. Every nipc function returns 0 or a negative code: libuv's codes
 * (UV_ECONNREFUSED, UV_EINVAL, ...) pass through unchanged, and nipc's own sit in a
 * separate range below libuv's, so the two never collide. nipc_strerror() and
 * nipc_err_name() describe both.
 */
#ifndef NIPC_ERRNO_H
#define NIPC_ERRNO_H

#define NIPC__ERR_BASE (-30000)

/* X(name, offset, message): the single table names and messages come from. */
#define NIPC_ERRNO_MAP(X)                                                                          \
    X(EPROTO, 1, "invalid frame: not a JSON message")                                              \
    X(EBADTYPE, 2, "invalid frame: type is not a string")                                          \
    X(ERESERVED, 3, "frame uses a reserved lifecycle event name")                                  \
    X(EMSGSIZE, 4, "message larger than max_message_size")                                         \
    X(EQUEUEFULL, 5, "output queue above max_queued_bytes")                                        \
    X(ENOTCONN, 6, "client is not connected")                                                      \
    X(EDESTROYED, 7, "client was destroyed")                                                       \
    X(ENOTSUP, 8, "feature not supported by this build of nipc")                                   \
    X(EDELIM, 9, "frame text would contain the delimiter")

enum nipc_errno {
#define NIPC__ERR_ENUM(name, off, msg) NIPC_##name = NIPC__ERR_BASE - (off),
    NIPC_ERRNO_MAP(NIPC__ERR_ENUM)
#undef NIPC__ERR_ENUM
        NIPC__ERR_LAST = NIPC__ERR_BASE - 100
};

#endif /* NIPC_ERRNO_H */
