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

/*
 * X(name, offset, message): the single table names and messages come from. Only what libuv
 * has no code for is here; a protocol error is UV_EPROTO, a frame too large UV_EMSGSIZE, a
 * connection that is not up UV_ENOTCONN, a feature this release lacks UV_ENOTSUP.
 *  - EBADTYPE: a frame that is JSON but whose `type` is not a string (node-ipc v10 crashes
 *    on it), told apart from invalid JSON (UV_EPROTO) because the peer is not speaking
 *    node-ipc's envelope at all;
 *  - ERESERVED: a lifecycle event name (connect, error, ...) received or sent without
 *    allow_reserved_events: the frame is well formed, but refused by policy;
 *  - EQUEUEFULL: the connection's queue is above max_queued_bytes, or a mailbox holds its
 *    max_queued emits: nothing is broken, emit again after `drain`, or post again (UV_ENOBUFS
 *    would read as an allocation failure);
 *  - EDESTROYED: the client or instance was closed by the application, which differs from
 *    a connection that is down for now (UV_ENOTCONN, a retry may bring it back);
 *  - EDELIM: the frame's text would contain the delimiter and be cut at the receiver;
 *  - ETLS: a TLS handshake or record failed for a reason none of the codes below names
 *    (UV_EPROTO would not tell a TLS failure from a bad frame);
 *  - ECERTEXPIRED: a certificate is past its notAfter or before its notBefore date: libuv
 *    knows nothing of certificates, and the fix (a new certificate, a clock) is its own;
 *  - ECERTUNTRUSTED: a certificate chain ends at no trusted CA (an other CA, a self-signed
 *    certificate): fixed by trusting the right CA, so told apart from a bad certificate;
 *  - ECERTNAME: the certificate is trusted but names another host or IP address than the
 *    one connected to, the one check that tells the peer is who the client meant;
 *  - ECERTINVALID: a certificate refused for any other check (its purpose, signature, key
 *    size, revocation), or the peer's refusal of ours when its alert says no more;
 *  - ETLSVERSION: the two sides share no TLS version (nipc never goes below TLS 1.2), a
 *    configuration mismatch no libuv code describes;
 *  - ENOPEERCERT: mutual TLS was required and the client sent no certificate.
 *  - ENAMELEN: an event type longer than max_event_name, received or sent. libuv's
 *    UV_ENAMETOOLONG is the system's path error, which nipc returns for socket paths; a
 *    frame refused by a protocol limit must not read as a file system failure;
 *  - ENOTALLOWED: an event type missing from allowed_events, received or sent: refused by
 *    policy like ERESERVED (UV_EPERM and UV_EACCES are the system's permission errors).
 * Offsets are never reused: 1, 4, 6 and 8 were the codes now taken from libuv.
 */
#define NIPC_ERRNO_MAP(X)                                                                          \
    X(EBADTYPE, 2, "invalid frame: type is not a string")                                          \
    X(ERESERVED, 3, "frame uses a reserved lifecycle event name")                                  \
    X(EQUEUEFULL, 5, "output queue full (max_queued_bytes, or a mailbox's max_queued)")            \
    X(EDESTROYED, 7, "client or instance was closed")                                              \
    X(EDELIM, 9, "frame text would contain the delimiter")                                         \
    X(ETLS, 10, "TLS handshake or record failed")                                                  \
    X(ECERTEXPIRED, 11, "certificate has expired or is not yet valid")                             \
    X(ECERTUNTRUSTED, 12, "certificate not issued by a trusted CA")                                \
    X(ECERTNAME, 13, "certificate does not match the host name or IP address")                     \
    X(ECERTINVALID, 14, "certificate refused by verification")                                     \
    X(ETLSVERSION, 15, "no TLS protocol version in common")                                        \
    X(ENOPEERCERT, 16, "peer sent no certificate where one is required")                           \
    X(ENAMELEN, 20, "event type longer than max_event_name")                                       \
    X(ENOTALLOWED, 21, "event type not in allowed_events")

enum nipc_errno {
#define NIPC__ERR_ENUM(name, off, msg) NIPC_##name = NIPC__ERR_BASE - (off),
    NIPC_ERRNO_MAP(NIPC__ERR_ENUM)
#undef NIPC__ERR_ENUM
        NIPC__ERR_LAST = NIPC__ERR_BASE - 100
};

#endif /* NIPC_ERRNO_H */
