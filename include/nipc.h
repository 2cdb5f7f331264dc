/* SPDX-License-Identifier: MIT */
/*
 * nipc: node-ipc for C. The whole public API.
 *
 * An instance (nipc_t, node-ipc's `new IPC()`) holds a copy of its config, at most one
 * server (node-ipc's `ipc.server`) and a table of clients by id (node-ipc's `ipc.of`).
 * Everything runs on one libuv loop, the caller's or one the instance owns, and every call
 * must be made on that loop's thread, with one exception: a mailbox's post and reference
 * functions (nipc_mailbox_emit(), nipc_mailbox_emit_to(), nipc_mailbox_send(),
 * nipc_mailbox_retain(), nipc_mailbox_release()), which any thread may call, for emits that
 * the loop then performs (since 0.4.0).
 *
 * Conventions, as in libuv:
 *  - functions return 0 or a negative error code (libuv's UV_E* or nipc's NIPC_E*); a call
 *    that fails hands nothing out (*out is NULL);
 *  - if a call returns an error, no event is ever published because of it; otherwise the
 *    events it causes are published later from the loop, never inside the call (the one
 *    exception: nipc_free() reports what it discards, see there);
 *  - `json_t *` data in an event is borrowed for the duration of the handler
 *    (json_incref() it to keep it). Emit functions borrow the caller's reference; the
 *    `_new` variants steal it, even on error (jansson's rule).
 *
 * Lifetimes, one rule for every handle: a handle is valid from the call that made it until
 * the last event published for it returns, and every handle has such a last event:
 *  - nipc_t: until nipc_free() (from a handler too: the free then completes after the
 *    handler returns);
 *  - nipc_server_t: until nipc_free() of its instance;
 *  - nipc_socket_t (a stream peer): until its `close` event returns, which follows
 *    `socket.disconnected`; a UDP sender's socket only during its handler;
 *  - nipc_client_t: until the `destroy` that follows nipc_client_close() or
 *    nipc_disconnect() returns. A client whose retries ran out (or whose retrying was
 *    stopped, nipc_client_stop_retrying()) is destroyed but not closed: it stays valid (and
 *    in of[]) and its emits return NIPC_EDESTROYED.
 *
 * Nothing accepted is lost silently: every frame that an emit accepted (returned 0) and
 * nipc then discards, because its connection was lost, closed without flush, timed out in
 * a flush, never came up before retrying ended, or its instance was freed, is reported by a
 * `drop` event on the server or client that accepted it.
 *
 * Since 0.1.0 unless noted.
 */
#ifndef NIPC_H
#define NIPC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "nipc/errno.h"
#include "nipc/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NIPC_BUILDING) && defined(__GNUC__)
#define NIPC_EXTERN __attribute__((visibility("default")))
#else
#define NIPC_EXTERN
#endif

#if defined(__GNUC__)
#define NIPC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NIPC_PRINTF(fmt, args)
#endif

typedef struct nipc_s nipc_t;
typedef struct nipc_server_s nipc_server_t;
typedef struct nipc_client_s nipc_client_t;
typedef struct nipc_socket_s nipc_socket_t;
typedef struct nipc_mailbox_s nipc_mailbox_t;

/* ---- errors and version ---------------------------------------------------------------- */

/* A message for any code nipc returns (libuv's or nipc's); never NULL. */
NIPC_EXTERN const char *nipc_strerror(int err);
/* The symbolic name of a code, e.g. "ECONNREFUSED" or "NIPC_EQUEUEFULL"; never NULL. */
NIPC_EXTERN const char *nipc_err_name(int err);
NIPC_EXTERN const char *nipc_version_string(void);
NIPC_EXTERN unsigned nipc_version(void);
/*
 * JavaScript's String(v) for a JSON value, which is what a node-ipc program writes with
 * `data + ""`: a string as itself, a number as Number.prototype.toString writes it (an
 * integer past 2^53 rounded, as in JavaScript), true / false / null as words, an object as
 * "[object Object]", an array as Array.prototype.join(",") of its elements (null elements
 * give "", nested arrays are joined in place, an array met again inside itself gives ""),
 * and NULL as "undefined". A string that holds a NUL byte ends there in C. Returns a new
 * NUL-terminated string for the caller to free(), or NULL when out of memory. Since 0.2.0.
 */
NIPC_EXTERN char *nipc_js_string(const json_t *v);

/* ---- config ---------------------------------------------------------------------------- */

/* maxRetries = Infinity, node-ipc's default. */
#define NIPC_RETRY_FOREVER (-1L)

/* Receives one line of log text (no trailing newline). */
typedef void (*nipc_logger_cb)(const char *line, void *arg);

/*
 * node-ipc's ipc.config, key for key (camelCase becomes snake_case), plus nipc's own keys.
 * Fill it with nipc_config_init() and change what you need; nipc_new() copies it, strings
 * included, so the caller's copy may be freed or reused at once (K1, K2).
 */
typedef struct nipc_config {
    /* node-ipc keys, with node-ipc's defaults. */
    const char *appspace;     /* "app." */
    const char *socket_root;  /* "/tmp/" (concatenated as is: keep the trailing '/') */
    const char *id;           /* the host name; used for the default server path */
    const char *network_host; /* "127.0.0.1" (TCP and UDP transports) */
    int network_port;         /* 8000 */
    const char *encoding;     /* "utf8"; raw mode: how text becomes bytes, any of Node's
                                 encodings (utf8, ascii, latin1 or binary, hex, base64,
                                 base64url, utf16le or ucs2; R2). JSON mode is UTF-8 only
                                 (W17): another encoding is UV_ENOTSUP there. */
    bool raw_buffer;          /* false. true: raw mode (R1-R6), no framing: an emit sends
                                 bytes (nipc_client_send(), or emit's type as text in
                                 `encoding`), and each read arrives whole as one `data`
                                 event with its bytes (nipc_event_t.bytes), undecoded */
    const char *delimiter;    /* "\f"; any non-empty string (W15) */
    bool sync;                /* false. true, for clients (C15): the first emit goes at once
                                 and each later one waits until a read that ends between
                                 messages (raw mode: any read) has arrived since the last
                                 went, as node-ipc's queue does */
    bool unlink;              /* true: remove a stale socket before listening */
    bool silent;              /* false: logging is on, as in node-ipc */
    bool log_in_color;        /* true: ANSI colours when rendering JSON in log lines, if
                                 they go to a custom logger or to stdout on a terminal */
    int log_depth;            /* 5: JSON nesting shown in log lines */
    bool log_payloads;        /* false: the lines of events sent and received name their
                                 type, not their data (node-ipc 14's logPayloads); true:
                                 the data too, as ipc.log renders it. Since 0.5.0 */
    nipc_logger_cb logger;    /* NULL: write lines to stdout */
    void *logger_arg;
    unsigned max_connections; /* 100: more concurrent peers are accepted, then closed (S6) */
    unsigned retry;           /* 500: milliseconds between reconnect attempts, a fixed
                                 interval (C7) unless retry_backoff grows it */
    long max_retries;         /* NIPC_RETRY_FOREVER; 0 means no retry (C8) */
    bool stop_retrying;       /* false: true means never reconnect (C10); each client's
                                 starting value, which nipc_client_stop_retrying() and
                                 nipc_client_resume_retrying() change at run time */
    bool readable_all;        /* false: socket file mode |= 0444 (S5) */
    bool writable_all;        /* false: socket file mode |= 0222 (S5) */
    struct {                  /* node-ipc's config.interface, for TCP clients (C16) */
        const char *local_address;
        int local_port;
        int family; /* 0, 4 or 6 */
    } iface;
    /*
     * node-ipc's config.tls (T1-T6): with `enabled`, TCP servers and clients speak TLS 1.2 or
     * newer (OpenSSL 3). Unix sockets and UDP have no TLS: with `enabled`, nipc_serve(),
     * nipc_connect_to(), nipc_serve_fd() on a Unix socket and a UDP nipc_serve_net() return
     * UV_ENOTSUP rather than talk plaintext (node-ipc silently does; since 0.5.0). A client
     * verifies the server's certificate and its name (the host connected to, or `servername`)
     * unless reject_unauthorized is false; with no CA given it trusts the system's store. A server
     * needs a key and a certificate: nipc_server_start() fails with UV_EINVAL without them
     * (T6). `connect` fires after the handshake on both sides (node-ipc 14; legacy fires a
     * client's before it). A failed handshake is an `error` naming its cause
     * (NIPC_ECERTEXPIRED, NIPC_ECERTUNTRUSTED, NIPC_ECERTNAME, NIPC_ECERTINVALID,
     * NIPC_ETLSVERSION, NIPC_ENOPEERCERT, NIPC_ETLS); a certificate that failed is final for
     * a client (no retry) unless retry_unverified.
     */
    struct {
        bool enabled;
        const char *private_key; /* path of the key, PEM (node-ipc's `private`) */
        const char *public_cert; /* path of the certificate and its chain (`public`) */
        const char *dhparam;     /* server: path of DH parameters, optional */
        /* NULL-terminated paths of the CA files to trust (node-ipc's trustedConnections,
         * one or several); none: the system's store. */
        const char *const *trusted_connections;
        const char *key_pem;  /* the key, certificate and CAs as PEM text in memory, */
        const char *cert_pem; /* each instead of its file */
        const char *ca_pem;
        bool request_cert;             /* server: ask clients for a certificate (T5) */
        bool reject_unauthorized;      /* true: verify the peer (T4; a server with request_cert) */
        const char *ciphers;           /* an OpenSSL cipher list, NULL: OpenSSL's default */
        const char *servername;        /* client: the name to verify and send, NULL: the host */
        int min_version;               /* 12 (TLS 1.2, the floor) or 13 */
        unsigned handshake_timeout_ms; /* 10000: a handshake not done by then fails */
        bool retry_unverified; /* false: a certificate that fails verification ends retrying */
    } tls;

    /* Who may connect to a Unix socket server (peer credentials, SO_PEERCRED; node-ipc has
     * no such rule). With either list non-empty, a peer is accepted when its uid is in
     * allow_uids or its gid in allow_gids; any other, and any whose credentials cannot be
     * read, is closed before `connect`, and the server publishes `error` UV_EACCES (the log
     * names its pid, uid and gid). Empty lists: everyone the socket file's mode lets in.
     * Since 0.2.0. */
    const unsigned *allow_uids;
    size_t n_allow_uids;
    const unsigned *allow_gids;
    size_t n_allow_gids;
    /* node-ipc 14's secureSocketRoot: false keeps node-ipc 9/10's socket_root ("/tmp/"),
     * where Node peers look. true: socket_root is a per-user directory,
     * $XDG_RUNTIME_DIR/nipc/ or else /tmp/nipc-<uid>/, which a server creates with mode
     * 0700; a server refuses to listen in, and a client to connect into, a socket directory
     * owned by another user or writable by others (UV_EACCES). Since 0.2.0. */
    bool secure_socket_root;

    /* nipc's own keys; the defaults never change what a node-ipc peer sees. */
    size_t max_message_size;    /* 64 MiB: a longer incoming frame closes its connection
                                   (UDP: is an `error`, the datagram's other frames go on),
                                   and a longer outgoing one is refused (UV_EMSGSIZE) */
    size_t max_queued_bytes;    /* 64 MiB per connection; above it, emit returns
                                   NIPC_EQUEUEFULL and `drain` follows when the queue
                                   empties (an empty queue always takes one frame);
                                   0 = unbounded */
    unsigned flush_timeout_ms;  /* 10000: a close that flushes (nipc_disconnect,
                                   nipc_client_close/nipc_socket_close with flush, and
                                   the peer's end of file, after which what is queued is
                                   still written as Node does) waits
                                   this long for the peer to read, then closes and reports
                                   the rest with `drop` (UV_ETIMEDOUT); 0 = wait for ever */
    size_t unix_send_buffer;    /* 256 KiB: SO_SNDBUF asked for each Unix socket connection
                                   (Linux doubles it, capped by net.core.wmem_max); 0 keeps
                                   the system default (208 KiB on Linux). TCP is left to
                                   the kernel's autotuning. */
    unsigned busy_poll_us;      /* 0: after traffic on a connection, the loop polls without
                                   sleeping for this many microseconds, yielding the CPU each
                                   turn: lower latency across cores for CPU time */
    bool allow_reserved_events; /* false: a frame named like a lifecycle event is refused,
                                   received (an `error`) or sent (NIPC_ERESERVED) */
    bool legacy_data;           /* true: null and "" data are sent as {} like node-ipc (W4) */

    /*
     * Reconnect backoff and jitter, beside node-ipc's fixed `retry` interval (since 0.3.0).
     * The defaults are node-ipc's rule exactly: every wait between attempts is `retry` ms.
     * The first wait after a close (or after a first attempt that failed) is `retry` ms;
     * each further wait, with no connection in between, is the one before times
     * retry_backoff, and at most retry_max_ms; a published `connect` (and a destroyed
     * client started again) brings the wait back to `retry`. With retry_jitter j, each
     * wait w is drawn uniformly from [w*(1-j), w]: jitter only shortens, so the cap holds
     * and the growth is the same, while many clients that lost one server spread out
     * instead of reconnecting in lockstep. The draws come from a generator per instance,
     * seeded once from the system's random source (uv_random(), else the time and pid).
     * nipc_new() refuses (UV_EINVAL) a backoff below 1 or not finite, a jitter outside
     * 0-1, and a retry_max_ms (other than 0) below `retry`.
     */
    double retry_backoff;  /* 1: a fixed interval, node-ipc's; 2: each wait doubles */
    unsigned retry_max_ms; /* 0: no cap (a wait stops growing at UINT_MAX ms); else the
                              longest wait, >= retry */
    double retry_jitter;   /* 0: none; up to 1 (a wait anywhere from 0 to w) */

    /* NULL: node-ipc's JSON frames, or raw mode's bytes with raw_buffer. Else the caller's
     * codec (node-ipc 14's custom parser), copied by nipc_new(): see nipc_codec_t. Since
     * 0.3.0. */
    const struct nipc_codec *codec;

    /* node-ipc 14's guarded and assured limits, and an idle bound; since 0.2.0. */

    /* 256 (node-ipc 14's maxEventNameLength): a frame whose type is longer, counted in UTF-16
     * code units as JavaScript counts, is refused received (an `error`, the connection kept)
     * and sent (NIPC_ENAMELEN). 0 = no limit. */
    size_t max_event_name;
    /* 30000 (node-ipc 14's messageTimeout): a frame not complete this long after its first
     * byte arrived closes its connection with an `error` (UV_ETIMEDOUT). Each frame is timed
     * on its own, on servers and clients. 0 = no limit. */
    unsigned message_timeout_ms;
    /* 0 (off): a server's socket that has received no byte for this long is closed as
     * nipc_socket_close(socket, true) closes it (no `error`), and gives its max_connections
     * slot back. Bytes sent to it do not count: a peer that only listens must send something
     * within the time. Server sockets only: a client would reconnect at once. */
    unsigned idle_timeout_ms;
    /* NULL (any type), or a NULL-terminated list of at least one type (node-ipc 14's
     * allowedEvents), copied by nipc_new(): a frame of another type is refused received (an
     * `error`, the connection kept) and sent (NIPC_ENOTALLOWED). The events nipc publishes
     * itself (connect, error, ...) are not frames and are not affected. */
    const char *const *allowed_events;
    /* false. true: node-ipc 14's assured mode, as one switch that is checked, not a set of
     * defaults that could be undone: nipc_new() refuses (UV_EINVAL) a config without an
     * allowed_events list or with max_event_name or message_timeout_ms off; a TCP server
     * must require client certificates (tls.enabled, request_cert, reject_unauthorized) and
     * a TCP client must verify its server and have a certificate of its own, or
     * nipc_serve_net() / nipc_connect_to_net() return UV_EINVAL; UDP, which nothing
     * authenticates, is refused the same way. Unix sockets need no TLS (their file mode, and
     * allow_uids / allow_gids, say who may connect). */
    bool assured;

    /* false. true: a TCP (or TLS) server sets SO_REUSEPORT on its socket before binding, so
     * that several servers, in several processes or instances, each with reuse_port, listen
     * on the same port, and the kernel spreads the new connections among them (Linux: by a
     * hash of the peer's address and port; a server that stops gives its share to the
     * others). Without it a second server on a port is UV_EADDRINUSE. nipc_server_start()
     * returns UV_ENOTSUP where the system has no SO_REUSEPORT. A UDP server sets it too, and
     * the kernel spreads the datagrams among the servers bound to the port by their source
     * (since 0.5.0). A Unix socket has no port to share: nipc_serve() returns UV_ENOTSUP
     * (several processes share one Unix socket through nipc_server_listen_shared()); a
     * server of nipc_serve_fd() binds nothing, so it plays no part there. Since 0.3.0. */
    bool reuse_port;
} nipc_config_t;

/* Fills `cfg` with node-ipc's defaults (K1). The id is this machine's host name, in a
 * string that is read once per process and never changes (safe from any thread). */
NIPC_EXTERN void nipc_config_init(nipc_config_t *cfg);

/* A Unix socket peer's process, as the kernel saw it connect (SO_PEERCRED). Since 0.2.0. */
typedef struct nipc_cred {
    long pid;
    unsigned uid;
    unsigned gid;
} nipc_cred_t;

/* ---- events ---------------------------------------------------------------------------- */

/*
 * Everything a handler is told. Which fields are set depends on the event:
 *
 *   event                 emitter  data                              socket  status
 *   start                 server   NULL; UDP: {address, port}         -       0
 *   connect               server   NULL                              peer**  0
 *   connect               client   NULL                              -       0
 *   <custom type>         both     the frame's data (NULL if absent) peer*   0
 *   error                 both     {message, err, response} (a bad   peer*   < 0
 *                                  frame: UV_EPROTO, or the refusal's
 *                                  code) or {code, message, errno}
 *                                  (a transport error)
 *   socket.disconnected   server   the learned id (any JSON value:   peer    0
 *                                  "a", 5, {...}, as the peer sent
 *                                  it), or false when none
 *   close                 server   false, or true after an error     peer    0
 *   disconnect / destroy  client   NULL                              -       0
 *   drain                 both     NULL                              peer*   0
 *   data (raw mode)       both     NULL; the read in bytes / size    peer*   0
 *   drop                  both     {frames, bytes, code, message}    peer*   < 0
 *
 *   (* peer on the server side, NULL on the client side; a server's `error` has NULL when no
 *    connection is concerned: an accept that failed, a host that cannot be resolved or
 *    bound. ** UDP: published once, after `start`, with the bound socket itself.)
 *
 * `type` is the event name. Pointers are valid only during the handler.
 *
 * `drop` reports frames that were accepted by an emit and will never be written: how many
 * and their bytes (those of a write that failed may have been partly delivered), and why:
 * `code` names the status, e.g. UV_ECANCELED (closed without flush, or nipc_free()),
 * UV_ETIMEDOUT (flush_timeout_ms), UV_EOF or UV_ECONNRESET (the peer went away), or the
 * last connection error of a client whose retrying ended before it connected.
 */
typedef struct nipc_event {
    const char *type;
    json_t *data;
    nipc_socket_t *socket;
    nipc_server_t *server; /* the server that published it, or NULL */
    nipc_client_t *client; /* the client that published it, or NULL */
    int status;            /* error events: the code; 0 otherwise */
    const char *bytes;     /* raw mode's `data`: the bytes of one read, else NULL (0.3.0) */
    size_t size;           /* how many */
    int64_t request;       /* a request's id, to answer with nipc_reply(); else 0 (0.3.0) */
} nipc_event_t;

typedef void (*nipc_event_cb)(const nipc_event_t *ev, void *arg);

/* The wildcard type: its handlers see every event, before the typed handlers (S17). */
#define NIPC_EVENT_ANY "*"

/* ---- requests and replies (since 0.3.0) -------------------------------------------------- */

/*
 * Requests beyond node-ipc, in ordinary node-ipc frames (docs/protocol.md): a request of type
 * T is the frame {"type":T,"data":{"$req":<id>,"data":<data>}}, and its reply
 * {"type":"$reply","data":{"$re":<id>,"data":<answer>}} (the inner "data" is absent when
 * NULL). A Node peer answers in one line:
 *
 *     ipc.server.on('add', (m, socket) =>
 *         ipc.server.emit(socket, '$reply', {$re: m.$req, data: m.data.a + m.data.b}));
 *
 * On the receiving side a frame whose data is an object with "$req" as its first key (and
 * "data" as its only other) is a request: it is published as an event of its type whose
 * data is the payload and whose `request` is the id; answer it with nipc_reply() from the handler,
 * or later with nipc_server_reply() / nipc_client_reply() and the id. With allowed_events set, list
 * "$reply" in it. JSON mode and a caller's codec; raw mode has no types (UV_EINVAL).
 *
 * The callback runs exactly once, from the loop: status 0 with the answer (borrowed for the
 * call, NULL when the reply had none); UV_ETIMEDOUT when no reply came within timeout_ms (0:
 * no time limit), after which a late reply is dropped, never given to a later request; or
 * UV_ECANCELED when the connection closed first (nipc_free() closes it). If the call
 * returns an error, the callback never runs.
 */
typedef void (*nipc_reply_cb)(int status, json_t *data, void *arg);

/* The codes of nipc_client_emit() and nipc_server_emit(); UV_EINVAL for cb NULL;
 * nipc_server_request() on a UDP sender: UV_ENOTSUP (a sender has no connection to wait
 * on). Data is borrowed. */
NIPC_EXTERN int nipc_client_request(nipc_client_t *client, const char *type, json_t *data,
                                    unsigned timeout_ms, nipc_reply_cb cb, void *arg);
NIPC_EXTERN int nipc_server_request(nipc_server_t *server, nipc_socket_t *socket, const char *type,
                                    json_t *data, unsigned timeout_ms, nipc_reply_cb cb, void *arg);
/* Answers the request `ev` published (its socket, or its client): the codes of the emits;
 * UV_EINVAL when ev is no request. The answer is borrowed. */
NIPC_EXTERN int nipc_reply(const nipc_event_t *ev, json_t *answer);
NIPC_EXTERN int nipc_server_reply(nipc_server_t *server, nipc_socket_t *socket, int64_t request,
                                  json_t *answer);
NIPC_EXTERN int nipc_client_reply(nipc_client_t *client, int64_t request, json_t *answer);

/* ---- codecs (since 0.3.0) ---------------------------------------------------------------- */

/* What a codec writes an emit's bytes to, and the connection its reads come from. */
typedef struct nipc_codec_out nipc_codec_out_t;
typedef struct nipc_codec_in nipc_codec_in_t;

/*
 * A caller's wire format, node-ipc 14's custom parser, for stream transports (UDP refuses
 * it: UV_ENOTSUP). Both functions run on the loop's thread.
 *
 * encode: the bytes of one emit (type, data; data may be NULL), written with
 * nipc_codec_write(). 0, or a negative code that the emit returns (nothing is sent). The
 * type rules hold first: reserved names, max_event_name, allowed_events, and the bytes must
 * fit max_message_size. Broadcast encodes once for every socket.
 *
 * read: p[0, n) is what the last call left (its remainder) followed by the bytes of a new
 * read. Publish each complete message with nipc_codec_deliver(), and return how many bytes
 * of p were consumed: the rest is passed again, with the next read after it. A remainder
 * longer than max_message_size closes the connection (`error` UV_EMSGSIZE), as does a
 * negative return (`error` with that code).
 */
typedef struct nipc_codec {
    int (*encode)(void *arg, const char *type, const json_t *data, nipc_codec_out_t *out);
    ssize_t (*read)(void *arg, nipc_codec_in_t *in, const char *p, size_t n);
    void *arg;
} nipc_codec_t;

/* Appends n bytes to an emit's encoding: 0, UV_EINVAL or UV_ENOMEM. */
NIPC_EXTERN int nipc_codec_write(nipc_codec_out_t *out, const void *p, size_t n);
/*
 * From read: publishes one message (type, data borrowed for the call) on the connection,
 * as a JSON frame would be. 0; or a type the rules refuse (NIPC_ERESERVED, NIPC_ENAMELEN,
 * NIPC_ENOTALLOWED), which is published as an `error` instead; or UV_ECANCELED when a
 * handler closed the connection (deliver nothing more), UV_EINVAL for NULL.
 */
NIPC_EXTERN int nipc_codec_deliver(nipc_codec_in_t *in, const char *type, json_t *data);

/* ---- instance -------------------------------------------------------------------------- */

/*
 * Creates an instance with a copy of `cfg` (NULL: defaults). With `loop` NULL the instance
 * creates and owns its loop (run it with nipc_run()); otherwise it uses the caller's.
 * Returns 0 and sets *out, or UV_EINVAL (a bad key: an empty delimiter, an empty
 * allowed_events, `assured` without what it requires, an unknown encoding, ...),
 * UV_ENOMEM, UV_ENOTSUP (a non-UTF-8 encoding in JSON mode: a key that cannot be honoured
 * is refused, never ignored).
 *
 * If SIGPIPE still has its default disposition, it is set to ignored, as Node does:
 * otherwise a peer that closes while we write would kill the process.
 */
NIPC_EXTERN int nipc_new(nipc_t **out, uv_loop_t *loop, const nipc_config_t *cfg);

/*
 * Closes every server, socket and client at once and frees the instance. What connections
 * still had queued is discarded: first each such connection's `drop` event is published
 * (inside this call, the only events it publishes; emits made from those handlers fail
 * with NIPC_EDESTROYED). Requests still waiting end with UV_ECANCELED when their
 * connection's close completes: inside this call with an owned loop, else when the caller's
 * loop next runs. To lose nothing, call nipc_stop() and run the loop first.
 *
 * From a handler (or anything nipc calls) the free is deferred: it happens when the
 * handler has returned, and no other event is published meanwhile. With an owned loop,
 * nipc_run() then returns and the instance is gone. Outside the loop, with an owned loop,
 * the close completes inside this call; with the caller's loop, the memory is released when
 * that loop next runs its close callbacks. Close your own handles on an owned loop
 * (nipc_loop()) before, or nipc_run() cannot return.
 */
NIPC_EXTERN void nipc_free(nipc_t *ipc);

/*
 * Runs the loop until nothing is left to do: no server listening, no connection, no client
 * retrying, and no handle of the caller's on that loop. Returns 0, or UV_EINVAL. If a
 * handler called nipc_free() on an instance with an owned loop, the instance is gone when
 * this returns.
 */
NIPC_EXTERN int nipc_run(nipc_t *ipc);

/*
 * Ends everything gracefully, so that nipc_run() returns: the server stops listening, every
 * socket and client closes after what was emitted to it is written (within
 * flush_timeout_ms), and clients stop retrying. Callable from a handler, or from a
 * uv_signal_t callback on the loop for Ctrl-C (close that signal handle too). Events of
 * the closes follow from the loop. Returns 0, or UV_EINVAL after nipc_free(). Since 0.2.0.
 */
NIPC_EXTERN int nipc_stop(nipc_t *ipc);
NIPC_EXTERN uv_loop_t *nipc_loop(nipc_t *ipc);
/* The instance's copy of the config. Strings in it belong to the instance. */
NIPC_EXTERN const nipc_config_t *nipc_config(const nipc_t *ipc);

/*
 * node-ipc's ipc.log: one line, formatted as printf() does, through the instance's logger,
 * or to stdout when there is none; nothing, and no formatting, when `silent`. A line for
 * stdout goes into stdio's buffer, in order with the program's own output, and stdio writes
 * many lines at once (a terminal: a line at a time); nipc flushes stdout before the loop
 * next waits, when nipc_run() returns, at nipc_free() and in nipc_log_flush(), and exit()
 * flushes it. A line that cannot be made (out of memory) is not written. A line the logger
 * logs while it runs is not made.
 */
NIPC_EXTERN void nipc_log(nipc_t *ipc, const char *fmt, ...) NIPC_PRINTF(2, 3);
/*
 * ipc.log(text, value): the formatted text, a space and `value` as node-ipc renders an
 * argument: a string as its text, a number as JavaScript writes it, a boolean, and null,
 * an object or an array as util.inspect shows it (log_depth levels, colours with
 * log_in_color); NULL is `undefined`. The value is borrowed. Since 0.5.0.
 */
NIPC_EXTERN void nipc_log_json(nipc_t *ipc, const json_t *value, const char *fmt, ...)
    NIPC_PRINTF(3, 4);
/* Flushes stdout now, when log lines went to it since the last flush. Since 0.5.0. */
NIPC_EXTERN void nipc_log_flush(nipc_t *ipc);

/* ---- server ---------------------------------------------------------------------------- */

/*
 * node-ipc's serve(path): creates the instance's server on a Unix socket at `path`, or at
 * socket_root + appspace + id when `path` is NULL (S1). Nothing listens until
 * nipc_server_start(). An instance has at most one server: UV_EALREADY otherwise.
 * UV_ENAMETOOLONG when the path does not fit a Unix socket address. UV_ENOTSUP with
 * tls.enabled (a Unix socket has no TLS: refused, not served in plaintext) or reuse_port.
 */
NIPC_EXTERN int nipc_serve(nipc_t *ipc, const char *path, nipc_server_t **out);
/* node-ipc's ipc.server: the instance's server, or NULL. */
NIPC_EXTERN nipc_server_t *nipc_server(nipc_t *ipc);

/*
 * Starts listening (S3). With `unlink`, a stale socket at the path is removed first; a path
 * where someone listens gives UV_EADDRINUSE, and a path holding anything but a socket
 * UV_EEXIST (nothing else is ever deleted). Whether a socket is stale is decided by one
 * non-blocking connect, which never waits: a server that cannot accept at once (its backlog
 * full, or the process stopped) counts as live. A missing directory is UV_ENOENT (other
 * failures are the system's own codes); the log line names the path. `start` is published
 * once listening. UV_EALREADY when listening or starting.
 *
 * Out of descriptors (EMFILE), a stream server sheds what connects: libuv's spare
 * descriptor accepts and closes it unseen; without that one, the instance's own (taken when
 * its first stream server listens) does, with an `error` (UV_EMFILE); without either, the
 * server's newest connection is closed to free one. A process that has neither spare and
 * whose server has no connection waits inside libuv until a descriptor frees up.
 */
NIPC_EXTERN int nipc_server_start(nipc_server_t *server);

/*
 * Stops listening and removes the socket file, if it is still the socket this server bound
 * (a file or another server's socket put at the path since stays); connected sockets keep
 * working (S15). No event. Returns UV_EINVAL when the server is not listening.
 */
NIPC_EXTERN int nipc_server_stop(nipc_server_t *server);

/*
 * One frame to one socket (S13). Returns 0 when the frame is queued (written at the end of
 * the loop turn; if it is discarded later, a `drop` event says so), or:
 *   UV_EINVAL       server or socket NULL, the socket not of this server, type NULL, a type
 *                   named like an Object.prototype member (W13), data not valid UTF-8 or
 *                   nested too deep;
 *   NIPC_ERESERVED  a lifecycle name (connect, error, *, ...) without allow_reserved_events;
 *   UV_EMSGSIZE     the frame is longer than max_message_size (UDP: than one datagram);
 *   NIPC_ENAMELEN   the type is longer than max_event_name;
 *   NIPC_ENOTALLOWED allowed_events is set and does not list the type;
 *   NIPC_EDELIM     the frame's text would contain the delimiter;
 *   NIPC_EQUEUEFULL the socket's queue is above max_queued_bytes (`drain` follows);
 *   UV_ENOTCONN     the socket is closing;
 *   NIPC_EDESTROYED the instance is being freed;
 *   UV_ENOMEM.
 */
NIPC_EXTERN int nipc_server_emit(nipc_server_t *server, nipc_socket_t *socket, const char *type,
                                 json_t *data);
NIPC_EXTERN int nipc_server_emit_new(nipc_server_t *server, nipc_socket_t *socket, const char *type,
                                     json_t *data);
/*
 * `_new` steals `data`, even on error. `_emitf`: `fmt` and the arguments build the data with
 * json_pack(); a format that does not match its arguments is UV_EINVAL, and no frame is
 * sent. Both return the codes of nipc_server_emit(). The same holds for every `_new` and
 * `f` variant below.
 *
 * Large strings (since 0.4.0): a `_new` or `f` emit over a stream (nipc_server_emit_new,
 * nipc_server_broadcast_new, nipc_client_emit_new and their `f` forms; JSON mode, with a
 * delimiter that starts with a control byte, as the default "\f" does) does not copy a
 * string of data of 64 KiB or more that needs no escape: it keeps a reference to it and
 * writes it from where it is, until the write that carries it completes or its frame is
 * dropped (a broadcast: a reference per socket). This is jansson's rule for a stolen value
 * made explicit: a caller that kept another reference to such a string (json_incref(),
 * json_pack()'s "O") must not change it (json_string_set() and the like) meanwhile; reading
 * it and sending it again are fine. The borrowed emits copy everything, so their data may
 * change as soon as they return. The bytes sent are the same either way.
 */
NIPC_EXTERN int nipc_server_emitf(nipc_server_t *server, nipc_socket_t *socket, const char *type,
                                  const char *fmt, ...);

/*
 * The same frame, encoded once, to every connected socket in connection order (S14).
 * Returns 0, or an encoding error of nipc_server_emit() (no socket gets the frame), or the
 * first per-socket error met (NIPC_EQUEUEFULL, UV_ENOTCONN; the other sockets still get
 * it). `_new`: large strings as nipc_server_emitf()'s note says.
 */
NIPC_EXTERN int nipc_server_broadcast(nipc_server_t *server, const char *type, json_t *data);
NIPC_EXTERN int nipc_server_broadcast_new(nipc_server_t *server, const char *type, json_t *data);
NIPC_EXTERN int nipc_server_broadcastf(nipc_server_t *server, const char *type, const char *fmt,
                                       ...);

/*
 * Raw mode (and a caller's codec): bytes as they are, with no framing (R1), to one socket
 * (for a UDP sender, one datagram back to it), to an address:port (UDP), or to every socket
 * (UDP: every sender heard from). The `_text` variants send text converted with the
 * configured encoding, as Node's Buffer.from(text, encoding) (R2; raw mode only); the emit
 * functions do the same with their type in raw mode, and ignore data. An empty send writes
 * nothing on a stream, and is one empty datagram on UDP (as node's dgram sends). Returns the codes
 * of nipc_server_emit(), and UV_EINVAL in JSON mode. A peer may receive one send as several reads,
 * or several as one: raw mode has no framing. Since 0.3.0.
 */
NIPC_EXTERN int nipc_server_send(nipc_server_t *server, nipc_socket_t *socket, const void *p,
                                 size_t n);
NIPC_EXTERN int nipc_server_send_text(nipc_server_t *server, nipc_socket_t *socket,
                                      const char *text);
NIPC_EXTERN int nipc_server_send_to(nipc_server_t *server, const char *address, int port,
                                    const void *p, size_t n);
NIPC_EXTERN int nipc_server_broadcast_bytes(nipc_server_t *server, const void *p, size_t n);
NIPC_EXTERN int nipc_server_broadcast_text(nipc_server_t *server, const char *text);

/* node-ipc's server.sockets: how many are connected, and the i-th in connection order. */
NIPC_EXTERN size_t nipc_server_socket_count(const nipc_server_t *server);
NIPC_EXTERN nipc_socket_t *nipc_server_socket_at(const nipc_server_t *server, size_t i);
/* The path a Unix socket server listens on (or will); NULL for a network server (see
 * nipc_server_host()). */
NIPC_EXTERN const char *nipc_server_path(const nipc_server_t *server);

NIPC_EXTERN int nipc_server_on(nipc_server_t *server, const char *type, nipc_event_cb cb,
                               void *arg);
NIPC_EXTERN int nipc_server_once(nipc_server_t *server, const char *type, nipc_event_cb cb,
                                 void *arg);
/* Removes the handler registered with this cb and arg; cb NULL removes every handler of the
 * type (node-ipc's off(type, '*')). Returns UV_ENOENT when nothing matched. */
NIPC_EXTERN int nipc_server_off(nipc_server_t *server, const char *type, nipc_event_cb cb,
                                void *arg);

/* ---- a server's socket ----------------------------------------------------------------- */

/*
 * The id learned from the last frame whose data had a truthy `id` (S9), or NULL: a string
 * as it is, any other value as its JSON text (`5`, `true`, `{"a":1}`), valid until the id
 * changes or the socket goes. nipc_socket_id_json() gives the value itself (borrowed;
 * since 0.2.0).
 */
NIPC_EXTERN const char *nipc_socket_id(const nipc_socket_t *socket);
NIPC_EXTERN json_t *nipc_socket_id_json(const nipc_socket_t *socket);
/* The verified certificate subject of a TLS peer in RFC 2253 text ("CN=client,O=org"), or
 * NULL (no TLS, no certificate, or not verified). Valid while the socket is. Since 0.2.0. */
NIPC_EXTERN const char *nipc_socket_tls_subject(const nipc_socket_t *socket);
/* The peer's pid, uid and gid over a Unix socket: 0, UV_ENOTCONN once its connection has
 * closed, or UV_ENOTSUP for another transport (or a platform without peer credentials).
 * Since 0.2.0. */
NIPC_EXTERN int nipc_socket_peer_cred(const nipc_socket_t *socket, nipc_cred_t *out);
NIPC_EXTERN nipc_server_t *nipc_socket_server(const nipc_socket_t *socket);
/* A number for a stream socket that no other socket of the instance has had or will have
 * (1, 2, ... in accept order), so that another thread may name it in
 * nipc_mailbox_emit_to() after the socket itself is gone; 0 for a UDP sender. Since 0.4.0. */
NIPC_EXTERN uint64_t nipc_socket_serial(const nipc_socket_t *socket);
NIPC_EXTERN void nipc_socket_set_data(nipc_socket_t *socket, void *data);
NIPC_EXTERN void *nipc_socket_data(const nipc_socket_t *socket);
/*
 * Closes the connection: with `flush`, after what was emitted to it is written (within
 * flush_timeout_ms); otherwise at once, and what was queued is reported with `drop`. From
 * the loop then: `drop` if anything was lost, `socket.disconnected`, `close`; the socket
 * stays valid until `close` returns. UV_EINVAL for NULL or a UDP sender, UV_EALREADY when
 * it is already closing.
 */
NIPC_EXTERN int nipc_socket_close(nipc_socket_t *socket, bool flush);

/* ---- network servers (TCP, UDP) ---------------------------------------------------------- */

/* The transport of nipc_serve_net(): node-ipc's serveNet UDPType, or TCP when omitted. */
typedef enum nipc_net {
    NIPC_TCP = 0,
    NIPC_UDP4 = 4,
    NIPC_UDP6 = 6,
} nipc_net_t;

/* As a port argument: the config's network_port (node-ipc's falsy port). Since 0.2.0. */
#define NIPC_PORT_DEFAULT (-1)

/* The most a UDP frame may hold: a larger emit is refused with UV_EMSGSIZE. */
#define NIPC_UDP_MAX_FRAME 65507

/*
 * node-ipc's serveNet(host, port, UDPType) (S2, U1): creates the instance's server on a
 * network transport. host NULL is the config's network_host; a host name is resolved when
 * the server starts. port NIPC_PORT_DEFAULT is the config's network_port; port 0 lets the
 * system choose (node-ipc would take 0 as "default"), see nipc_server_port(). NIPC_UDP4 with
 * host "::1" binds 127.0.0.1, as node-ipc does; otherwise an IP literal of the other family
 * than the UDP type is UV_EAFNOSUPPORT (NIPC_UDP6 on the default host 127.0.0.1 included:
 * pass "::1"), as node's dgram refuses it. Nothing listens until nipc_server_start();
 * nothing is ever unlinked for a network server. UV_EALREADY when the instance has a
 * server, UV_EINVAL for a port outside 0-65535, UV_ENOTSUP for UDP with tls.enabled (UDP
 * has no TLS: refused, not sent in plaintext) or with a caller's codec. Since 0.2.0.
 */
NIPC_EXTERN int nipc_serve_net(nipc_t *ipc, const char *host, int port, nipc_net_t net,
                               nipc_server_t **out);

/* The port a network server listens on (the system's choice when 0 was asked), or 0 when it
 * is not listening. For an IP literal host it is known when nipc_server_start() returns; for
 * a host name, once `start` was published. Since 0.2.0. */
NIPC_EXTERN int nipc_server_port(const nipc_server_t *server);
/* The host it was asked to listen on, or NULL for a Unix socket server. Since 0.2.0. */
NIPC_EXTERN const char *nipc_server_host(const nipc_server_t *server);

/*
 * UDP: one datagram holding one frame to address:port (U4), node-ipc's
 * server.emit({address, port}, type, data). UV_EMSGSIZE when the frame would not fit one
 * datagram (NIPC_UDP_MAX_FRAME), never a truncation; UV_EINVAL for a stream server or an
 * address that is not an IP literal; the encoding errors of nipc_server_emit(). A datagram
 * that the system takes is not reported further. Since 0.2.0.
 */
NIPC_EXTERN int nipc_server_emit_to(nipc_server_t *server, const char *address, int port,
                                    const char *type, json_t *data);
NIPC_EXTERN int nipc_server_emit_to_new(nipc_server_t *server, const char *address, int port,
                                        const char *type, json_t *data);

/*
 * A peer's address: for a TCP socket the remote end, for a UDP sender the datagram's source
 * (U3), for a Unix socket NULL / 0. The family is "IPv4" or "IPv6" as node-ipc reports it.
 * A UDP sender's socket is valid only during the handler; reply with nipc_server_emit() on
 * it there, or keep its address and port for nipc_server_emit_to(). Since 0.2.0.
 */
NIPC_EXTERN const char *nipc_socket_address(const nipc_socket_t *socket);
NIPC_EXTERN int nipc_socket_port(const nipc_socket_t *socket);
NIPC_EXTERN const char *nipc_socket_family(const nipc_socket_t *socket);
/* The size of the datagram that carried the frame (UDP), or 0. Since 0.2.0. */
NIPC_EXTERN size_t nipc_socket_size(const nipc_socket_t *socket);

/* ---- several processes on one socket (node-ipc's cluster example) ------------------------ */

/*
 * A parent process binds, forks workers, and each worker serves the one listening socket;
 * the kernel gives each new connection to one of the workers that accept (node's cluster
 * primary hands connections out itself). Since 0.3.0. The rules of fork():
 *
 *  - The parent makes its instance and server, calls nipc_server_listen_shared(), and
 *    fork()s (fflush(stdout) first, or buffered output is written twice). It keeps the
 *    listening socket, and a Unix socket's file, until nipc_free() or nipc_server_stop():
 *    stop it once the workers are gone, or new clients find no socket.
 *  - The worker (the child) inherits the parent's instance and loop, and must never run,
 *    use or free them: nipc_free() there would close what the parent still uses. Its first
 *    call is uv_loop_fork() on every loop the parent had (nipc_loop() of an instance that
 *    owns its loop): without it the child shares the parent's libuv signal pipe, so a
 *    SIGTERM sent to the worker also reaches the parent's uv_signal_t handlers. Then it
 *    makes an instance with its own loop (nipc_new() with loop NULL, or a loop made in the
 *    child), nipc_serve_fd() on the descriptor, nipc_server_start(), nipc_run(), and ends
 *    with nipc_free() and exit(). What it inherited and never frees stays reachable through
 *    the parent's pointers (keep them in static storage, or on the stack of the function
 *    that forked), so LeakSanitizer reports only the worker's own leaks; a child that must
 *    not run the parent's atexit() handlers (a test framework's) ends with _exit().
 *  - The descriptor is close-on-exec: a worker that exec()s another program and passes it
 *    on clears FD_CLOEXEC first (fcntl()), and the program calls nipc_serve_fd().
 *
 * On TCP, independent processes can also share a port without a parent: config.reuse_port.
 */

/*
 * The parent's side: binds and listens now, as nipc_server_start() would (the stale-socket
 * probe and the unlink rule, readable_all / writable_all, secure_socket_root; a TCP host
 * name is resolved here, blocking; reuse_port), publishes nothing and accepts nothing, and
 * sets *fd to the listening descriptor for worker processes to inherit across fork(). The
 * server keeps the descriptor: nipc_server_stop(), nipc_stop() or nipc_free() closes it and
 * removes the socket file, if the path still holds the socket bound here (as for any
 * server). The descriptor is on no loop: it keeps none alive, and the server publishes no
 * event for it, ever. nipc_server_port() gives a TCP server's port once this returns.
 * nipc_server_start() is UV_EALREADY on such a server; after a stop it starts as usual.
 * Returns 0, or the errors of nipc_server_start(), with *fd -1: UV_EALREADY when listening
 * or starting, UV_ENOTSUP for UDP, UV_EINVAL for NULL or a server of nipc_serve_fd(),
 * NIPC_EDESTROYED while the instance is freed. config.tls is the workers' business: this
 * process does no TLS. Since 0.3.0.
 */
NIPC_EXTERN int nipc_server_listen_shared(nipc_server_t *server, int *fd);

/*
 * A worker's side: creates the instance's server on `fd`, a listening descriptor inherited
 * from the parent (nipc_server_listen_shared(), or any listening stream socket), a Unix
 * socket or TCP as getsockname() says. For a Unix socket nipc_server_path() is its path;
 * for TCP nipc_server_host() is its address as text, and over TCP config.tls makes it TLS,
 * as nipc_serve_net() does (`assured` applies too). nipc_server_start() accepts on it and
 * publishes `start` as usual; nothing is bound and nothing is ever unlinked. From a
 * successful call the server owns the descriptor: nipc_server_stop() or nipc_free() closes
 * this process's copy (the socket goes on in the others, its file stays), and a stopped
 * server cannot start again (UV_EBADF). UV_EINVAL, and the descriptor stays the caller's,
 * for one that is not a listening stream socket (not open, not a socket, UDP, not
 * listening, a Unix socket with no path) or an instance NULL; UV_EALREADY when the instance
 * has a server; UV_ENOTSUP for a Unix socket with tls.enabled. Since 0.3.0.
 */
NIPC_EXTERN int nipc_serve_fd(nipc_t *ipc, int fd, nipc_server_t **out);

/* ---- client ---------------------------------------------------------------------------- */

/*
 * node-ipc's connectTo(id, path): creates the client of[id] and starts connecting to `path`,
 * or to socket_root + appspace + id when `path` is NULL (C1). Register handlers on *out
 * right away: `connect` comes later from the loop. Emits made before then are delivered
 * once connected (C13). If of[id] exists and is connecting or connected, returns
 * UV_EALREADY (and *out NULL: nipc_of() gives that client); if it was destroyed, it starts
 * again, handlers kept. UV_ENAMETOOLONG past the Unix socket path limit; UV_ENOTSUP with
 * tls.enabled (a Unix socket has no TLS: refused, not connected in plaintext); a failure to
 * set up the connection is returned, and then nothing is published.
 */
NIPC_EXTERN int nipc_connect_to(nipc_t *ipc, const char *id, const char *path, nipc_client_t **out);
/*
 * node-ipc's connectToNet(id, host, port) (C2): a TCP client, with every behaviour of
 * nipc_connect_to(). host NULL is the config's network_host (names are resolved on each
 * attempt), port NIPC_PORT_DEFAULT its network_port. The config's `iface` binds the local
 * end (C16): local_address, local_port and family (4 or 6), each only when set.
 * Since 0.2.0.
 */
NIPC_EXTERN int nipc_connect_to_net(nipc_t *ipc, const char *id, const char *host, int port,
                                    nipc_client_t **out);

/* node-ipc's ipc.of[id], or NULL. */
NIPC_EXTERN nipc_client_t *nipc_of(nipc_t *ipc, const char *id);

/*
 * node-ipc's disconnect(id) (C12), made lossless (C14): nipc_client_close(of[id], true).
 * UV_ENOENT for an unknown id.
 */
NIPC_EXTERN int nipc_disconnect(nipc_t *ipc, const char *id);

/*
 * Closes a client: stops retrying, drops its wildcard handlers (C12), removes it from of[]
 * at once, and closes its connection, with `flush` after what was emitted is written
 * (within flush_timeout_ms; emits queued while connecting are delivered first if the
 * connection comes up), otherwise at once. From the loop then: `drop` if anything was
 * lost, `disconnect` (if it was connected or connecting), and `destroy`, after which the
 * client is freed; an already destroyed client gets that `destroy` once more. Emits return
 * NIPC_EDESTROYED from this call on. UV_EALREADY when already closed. Since 0.2.0 (the
 * handle-based close of both sides, like nipc_socket_close()).
 */
NIPC_EXTERN int nipc_client_close(nipc_client_t *client, bool flush);

/*
 * node-ipc's stopRetrying set to true "in real time", for this client alone (node-ipc's flag
 * is in the config every client of an instance shares; nipc copies the config at nipc_new,
 * and a client's flag starts as the config's stop_retrying). From this call on the client
 * does not reconnect, whatever max_retries says:
 *  - between attempts (after `disconnect`, waiting for the next one): the armed attempt is
 *    called off and the client ends as one whose retries ran out: from the loop, `drop` for
 *    the frames queued while connecting, if any (the last attempt's error), then `destroy`.
 *    No attempt is made (node-ipc's timer would still make one);
 *  - connecting: that attempt goes on; if it fails, `error`, `disconnect`, `drop` for what
 *    was queued, and `destroy`;
 *  - connected: nothing changes until the connection is lost (or closed by the server):
 *    then `disconnect` and `destroy`, no retry, as node-ipc does;
 *  - already destroyed: nothing now; nipc_connect_to() with its id starts it again, for one
 *    attempt and no retry, as a connectTo() under node-ipc's stopRetrying would.
 * A destroyed client stays valid and in of[], its emits return NIPC_EDESTROYED. No event
 * comes inside the call. Returns 0 (also when already stopped), UV_EINVAL for client NULL,
 * NIPC_EDESTROYED after nipc_client_close() / nipc_disconnect() or while freeing.
 * Since 0.4.0.
 */
NIPC_EXTERN int nipc_client_stop_retrying(nipc_client_t *client);
/*
 * Undoes nipc_client_stop_retrying() (node-ipc's stopRetrying set back to false), and clears
 * a stop_retrying the config gave: the config's rule applies again, with retries_remaining
 * as it stood (node-ipc's stop leaves retriesRemaining alone, and a `connect` resets it)
 * and the backoff where it was. A client stopped between attempts whose `destroy` has not
 * come yet goes on waiting, for what was left of the wait, and no event comes of the stop;
 * a destroyed client is not started again (nipc_connect_to() does that, and it will then
 * retry). No event comes inside the call. Returns 0 (also when not stopped), UV_EINVAL for
 * client NULL, NIPC_EDESTROYED after nipc_client_close() / nipc_disconnect() or while
 * freeing. Since 0.4.0.
 */
NIPC_EXTERN int nipc_client_resume_retrying(nipc_client_t *client);

/*
 * One frame to the server. While connecting (first attempt or a retry), the frame is queued
 * and written once connected. Returns 0 when queued, the encoding and queue errors of
 * nipc_server_emit(), or:
 *   UV_ENOTCONN     between attempts (after `disconnect`, before the retry), or while the
 *                   connection is closing;
 *   NIPC_EDESTROYED after `destroy`, after nipc_client_close(), or while freeing.
 * A frame accepted and never written is reported by `drop`: never a silent loss. `_new` may
 * keep a reference to a large string of data until it is written, as nipc_server_emitf()'s
 * note says.
 */
NIPC_EXTERN int nipc_client_emit(nipc_client_t *client, const char *type, json_t *data);
NIPC_EXTERN int nipc_client_emit_new(nipc_client_t *client, const char *type, json_t *data);
NIPC_EXTERN int nipc_client_emitf(nipc_client_t *client, const char *type, const char *fmt, ...);
/* Raw mode: bytes to the server, and text in the configured encoding, as
 * nipc_server_send() and nipc_server_send_text(); the codes of nipc_client_emit(). In sync
 * mode they wait their turn as emits do. Since 0.3.0. */
NIPC_EXTERN int nipc_client_send(nipc_client_t *client, const void *p, size_t n);
NIPC_EXTERN int nipc_client_send_text(nipc_client_t *client, const char *text);

NIPC_EXTERN const char *nipc_client_id(const nipc_client_t *client);
NIPC_EXTERN const char *nipc_client_path(const nipc_client_t *client);
NIPC_EXTERN bool nipc_client_connected(const nipc_client_t *client);
/* node-ipc's retriesRemaining; NIPC_RETRY_FOREVER when unbounded. */
NIPC_EXTERN long nipc_client_retries_remaining(const nipc_client_t *client);
/* Whether the client would try again if its connection closed, or its attempt failed, now:
 * false when stopped (nipc_client_stop_retrying, the config's stop_retrying), closed,
 * destroyed, or with no retry left; true while waiting for an attempt already armed. A
 * certificate that will fail verification (without tls.retry_unverified) also ends
 * retrying, which this cannot foresee. Since 0.4.0. */
NIPC_EXTERN bool nipc_client_retrying(const nipc_client_t *client);
/* The server's verified certificate subject while connected over TLS, or NULL. Since 0.2.0. */
NIPC_EXTERN const char *nipc_client_tls_subject(const nipc_client_t *client);
/* The server's pid, uid and gid while connected over a Unix socket: 0, UV_ENOTCONN, or
 * UV_ENOTSUP for another transport. Since 0.2.0. */
NIPC_EXTERN int nipc_client_peer_cred(const nipc_client_t *client, nipc_cred_t *out);

NIPC_EXTERN int nipc_client_on(nipc_client_t *client, const char *type, nipc_event_cb cb,
                               void *arg);
NIPC_EXTERN int nipc_client_once(nipc_client_t *client, const char *type, nipc_event_cb cb,
                                 void *arg);
NIPC_EXTERN int nipc_client_off(nipc_client_t *client, const char *type, nipc_event_cb cb,
                                void *arg);

/* ---- counters (since 0.5.0) ------------------------------------------------------------ */

/*
 * Why a received frame was refused: the index of nipc_stats_t.refused. Each refusal is also
 * the `error` event it names, the connection kept, but after TOO_LARGE, TIMED_OUT or a
 * caller's codec's failed read, which close it (UDP: the datagram's other frames go on).
 */
typedef enum nipc_refused {
    NIPC_REFUSED_MALFORMED,   /* UV_EPROTO: not JSON, or `null`; a UDP datagram's fragment with
                                 no delimiter; a caller's codec whose read failed */
    NIPC_REFUSED_BAD_TYPE,    /* NIPC_EBADTYPE: JSON whose type is not a string */
    NIPC_REFUSED_RESERVED,    /* NIPC_ERESERVED: a lifecycle name, without
                                 allow_reserved_events */
    NIPC_REFUSED_NAME_LENGTH, /* NIPC_ENAMELEN: a type longer than max_event_name */
    NIPC_REFUSED_NOT_ALLOWED, /* NIPC_ENOTALLOWED: a type missing from allowed_events */
    NIPC_REFUSED_TOO_LARGE,   /* UV_EMSGSIZE: longer than max_message_size */
    NIPC_REFUSED_TIMED_OUT,   /* UV_ETIMEDOUT: still incomplete after message_timeout_ms */
    NIPC_REFUSED_COUNT
} nipc_refused_t;

/*
 * A connection's counters, or a server's or a client's totals. Every count is since the
 * object was made and never goes down, but the two queue figures. Bytes are the
 * application's: frames as nipc_server_emit() encodes them, delimiters included, before TLS
 * encrypts them and after it decrypts them (the handshake and TLS records are not counted).
 *
 *  - frames_in, bytes_in: bytes read from the peer, and the complete frames split from
 *    them and decoded, refused ones included (raw mode: each read is one frame, one `data`
 *    event; a caller's codec: each nipc_codec_deliver()). A frame over max_message_size,
 *    one that timed out, and a UDP datagram's fragment are never decoded: they are in
 *    refused[] only.
 *  - frames_out, bytes_out: what the transport has taken (written to the socket, or, over
 *    TLS, encrypted and handed to it), counted when the write completes; a frame partly
 *    written is counted when its last byte is. Frames written after the peer's end of file
 *    towards a peer that had in fact gone are counted here and again in dropped_*, as the
 *    `drop` event reports them.
 *  - queued_bytes: accepted by an emit and not written yet (sync mode's waiting frames
 *    included); queued_peak: the most it has been, measured as each frame is queued (a
 *    server's: the highest peak of any of its connections, not of their sum).
 *  - dropped_frames, dropped_bytes: the sums of every `drop` event's frames and bytes.
 *  - refused[reason]: received frames refused, by nipc_refused_t.
 *  - queue_full: emits refused with NIPC_EQUEUEFULL (max_queued_bytes). The other errors an
 *    emit returns are the caller's to see and are not counted.
 *  - reconnects: a client's connections (a published `connect`) after its first, whether
 *    its retries or nipc_connect_to() brought them; 0 for sockets and servers.
 *  - connections: a server's peers that connected (a published `connect`); 0 otherwise.
 *  - connections_refused: a server's connections closed before `connect`: over
 *    max_connections (S6), not in allow_uids / allow_gids, no memory or descriptor to take
 *    them, or a TLS handshake that failed; 0 otherwise.
 *
 * A client counts over its whole life, across its connections. A server counts what all its
 * sockets counted, those closed included, and what it does itself: UDP's datagrams (each
 * frame is a frame; frames_out and bytes_out count the datagrams the system took, and
 * nothing is ever queued), `drop` events with no socket (a mailbox's emit to a socket that
 * had gone, a UDP broadcast), and its connections. The counters add on the loop's thread
 * only, a few additions per read, per frame and per write.
 */
typedef struct nipc_stats {
    uint64_t frames_in;
    uint64_t bytes_in;
    uint64_t frames_out;
    uint64_t bytes_out;
    uint64_t queued_bytes;
    uint64_t queued_peak;
    uint64_t dropped_frames;
    uint64_t dropped_bytes;
    uint64_t refused[NIPC_REFUSED_COUNT];
    uint64_t queue_full;
    uint64_t reconnects;
    uint64_t connections;
    uint64_t connections_refused;
} nipc_stats_t;

/*
 * The counters of one stream socket, of a client, or a server's totals, copied into *out:
 * 0, or UV_EINVAL for NULL (and *out zeroed), UV_ENOTSUP for a UDP sender's socket (its
 * frames are the server's). Call them on the loop's thread, like every call but a
 * mailbox's; from any handler, and at any time the object is valid (a socket until its
 * `close` returns: its counters then are final, `drop` included). nipc_server_stats()
 * walks the live sockets: it costs one pass over them. No event. Since 0.5.0.
 */
NIPC_EXTERN int nipc_socket_stats(const nipc_socket_t *socket, nipc_stats_t *out);
NIPC_EXTERN int nipc_client_stats(const nipc_client_t *client, nipc_stats_t *out);
NIPC_EXTERN int nipc_server_stats(const nipc_server_t *server, nipc_stats_t *out);

/* ---- emitting from other threads (since 0.4.0) -------------------------------------------- */

/* The max_queued of a mailbox made with 0. */
#define NIPC_MAILBOX_MAX_QUEUED 65536

/*
 * A mailbox lets any thread emit through the loop. It is made on the loop's thread for one
 * target, a client or the server; its post functions may then be called from any thread,
 * the loop's included, and queue the emit: the loop wakes (an unreferenced uv_async_t of the
 * instance's) and performs it exactly as the loop-thread call would, nipc_client_emit_new()
 * or nipc_client_send() for a client's mailbox, nipc_server_broadcast_new(),
 * nipc_server_emit_new() or nipc_server_broadcast_bytes() for the server's, with the same
 * encoding, logging and `drop` rules. Emits posted to one mailbox are performed in the order
 * they were posted, so one thread's emits are never reordered; those of several threads
 * interleave as their posts took the mailbox's lock. The loop performs posts while it runs;
 * the mailbox does not keep it alive. Handlers, the logger and a codec run on the loop's
 * thread only.
 *
 * Data: `data` is stolen, even on error, as by every `_new` function, and belongs to the
 * loop from the call on, which encodes it later: the posting thread must neither read nor
 * change the tree, or any value in it, after the call. A value in it that the thread still
 * holds a reference to may only be json_decref()'d: jansson 2.14's reference counts are
 * atomic (JSON_HAVE_ATOMIC_BUILTINS). `type` and a send's bytes are copied.
 *
 * Lifetime: a mailbox is reference counted. The caller of nipc_client_mailbox() or
 * nipc_server_mailbox() gets one reference, and the target keeps one until it closes (a
 * client's nipc_client_close(), or nipc_free() of the instance). A thread may hold the
 * mailbox across that: its posts are then refused, and the memory is freed by the last
 * nipc_mailbox_release(), on whichever thread it is made.
 */

/*
 * Makes a mailbox for the client (loop thread): 0 and *out, with the caller's reference.
 * max_queued bounds the emits waiting in it (0: NIPC_MAILBOX_MAX_QUEUED). UV_EINVAL for
 * NULL, NIPC_EDESTROYED for a closed client or while the instance is freed; a destroyed
 * client's mailbox refuses posts until the client starts again. A failure to make the wake-up
 * handle is returned. No event. Since 0.4.0.
 */
NIPC_EXTERN int nipc_client_mailbox(nipc_client_t *client, size_t max_queued, nipc_mailbox_t **out);
/* The same for the server (loop thread): its mailbox broadcasts, or emits to one socket by
 * its serial; it goes with the instance. Since 0.4.0. */
NIPC_EXTERN int nipc_server_mailbox(nipc_server_t *server, size_t max_queued, nipc_mailbox_t **out);

/*
 * From any thread: queues nipc_client_emit_new(client, type, data), or for the server's
 * mailbox nipc_server_broadcast_new(server, type, data); data is stolen, type copied.
 * Returns 0 when queued, or, and then nothing was queued:
 *   UV_EINVAL        mb NULL, type NULL, a type named like an Object.prototype member (W13):
 *                    the checks of the emit that need no connection;
 *   NIPC_ERESERVED, NIPC_ENAMELEN, NIPC_ENOTALLOWED: as the emit;
 *   NIPC_EQUEUEFULL  max_queued emits already wait in the mailbox: post again later;
 *   NIPC_EDESTROYED  the target is gone (the client was closed, or the instance freed) or
 *                    the client is destroyed (its retrying ended; its restart accepts posts
 *                    again);
 *   UV_ENOMEM.
 * What the emit itself checks at the loop (the data's encoding, the client's state, a full
 * connection queue of the server's) cannot be known at post time: an emit that was posted
 * (returned 0) and then fails, or that the mailbox still holds when its target goes, is
 * reported by the target's `drop` ({frames, bytes, code}, as every `drop`; bytes count what
 * raw sends held, an emit that was never encoded counts none): with the emit's code; with
 * UV_ENOTCONN, socket NULL, for a serial that no longer names a socket; with
 * NIPC_EDESTROYED, before its `destroy`, for what a closed client's mailbox held; with
 * UV_ECANCELED, inside nipc_free(), for what any mailbox held then. A client's full queue
 * (max_queued_bytes) is not a loss: the mailbox keeps that emit and the next ones until the
 * client publishes `drain` (or its connection closes), so posters meet max_queued instead. A
 * broadcast reports each socket that could not take it by `drop` on that socket.
 * Since 0.4.0.
 */
NIPC_EXTERN int nipc_mailbox_emit(nipc_mailbox_t *mb, const char *type, json_t *data);
/*
 * From any thread, the server's mailbox only: queues nipc_server_emit_new() to the stream
 * socket whose nipc_socket_serial() is socket_serial; if none has it when the loop performs
 * the emit (it closed), `drop` (UV_ENOTCONN, socket NULL). UV_EINVAL for a client's mailbox
 * or serial 0; the other codes of nipc_mailbox_emit(). Since 0.4.0.
 */
NIPC_EXTERN int nipc_mailbox_emit_to(nipc_mailbox_t *mb, uint64_t socket_serial, const char *type,
                                     json_t *data);
/*
 * From any thread, raw mode (or a caller's codec): queues a copy of the n bytes at p, sent
 * as nipc_client_send() or, for the server's mailbox, nipc_server_broadcast_bytes(). UV_EINVAL
 * in JSON mode or for p NULL with n > 0, UV_EMSGSIZE past max_message_size; the other codes
 * of nipc_mailbox_emit(). Since 0.4.0.
 */
NIPC_EXTERN int nipc_mailbox_send(nipc_mailbox_t *mb, const void *p, size_t n);
/* From any thread: one more reference, for another thread to release. Since 0.4.0. */
NIPC_EXTERN void nipc_mailbox_retain(nipc_mailbox_t *mb);
/* From any thread: drops a reference; the last frees the mailbox. NULL is ignored. Since
 * 0.4.0. */
NIPC_EXTERN void nipc_mailbox_release(nipc_mailbox_t *mb);

#ifdef __cplusplus
}
#endif
#endif /* NIPC_H */
