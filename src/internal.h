/* SPDX-License-Identifier: MIT */
/*
 * Internal types shared by the instance, its server, sockets and clients.
 *
 * Ownership: an instance owns its server and its clients; a server owns its sockets. Every
 * libuv handle is closed asynchronously, so an object is freed only from the close callback
 * of its last handle. The instance counts close callbacks still to come (pending_closes), so
 * nipc_free() knows when nothing refers to it any more.
 */
#ifndef NIPC_INTERNAL_H
#define NIPC_INTERNAL_H

#include "core/core.h"

#include <sys/socket.h>
#include <sys/types.h>

typedef struct nipc_conn nipc_conn_t;
typedef struct nipc_deferred nipc_deferred_t;
/* A kind of stream: transport/transport.h. */
typedef struct nipc_stream_ops nipc_stream_ops_t;
/* How frames are made and read: codec/codec.h. */
typedef struct nipc_codec_ops nipc_codec_ops_t;

/* The object that holds `member` at address p. */
#define nipc__container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* ---- ipc.c: deferred work ------------------------------------------------------------------ */

typedef void (*nipc_deferred_cb)(nipc_deferred_t *d);

/*
 * A call to make from the loop after the current callback returns. The node lives inside
 * the object it concerns, so deferring never allocates and never fails; a node is queued at
 * most once at a time, and its owner cancels it before it goes away.
 */
struct nipc_deferred {
    nipc_deferred_t *next;
    nipc_deferred_cb fn;
    bool queued;
};

/* ---- conn.c: receive deadlines --------------------------------------------------------- */

typedef struct nipc_deadline nipc_deadline_t;

/*
 * A connection's place in one of the instance's deadline queues. Every entry of a queue
 * has the same timeout and enters at the tail stamped with the loop's time, so a queue is
 * ordered by deadline: its head is the next to expire, and entering or leaving costs a few
 * pointer writes, never a timer of its own.
 */
struct nipc_deadline {
    nipc_deadline_t *prev;
    nipc_deadline_t *next;
    uint64_t since; /* uv_now() when the clock started */
};

typedef struct nipc_deadlines {
    nipc_deadline_t *head;
    nipc_deadline_t *tail;
} nipc_deadlines_t;

/* ---- conn.c: one connected peer over any stream transport ------------------------------ */

typedef struct nipc_conn_hooks {
    /* A decoded frame (S8, C5); hints (NIPC_HINT_*) say what data may hold. */
    void (*on_message)(nipc_conn_t *c, const char *type, json_t *data, unsigned hints);
    /* Raw mode: the bytes of one read (R3). */
    void (*on_bytes)(nipc_conn_t *c, const char *p, size_t n);
    /* An error on this connection: a bad or refused frame (payload set, connection kept) or
     * a transport, size or timeout error (payload NULL, the connection is closing). */
    void (*on_error)(nipc_conn_t *c, int err, json_t *payload);
    /* Everything queued was written after an emit had been refused with EQUEUEFULL. */
    void (*on_drain)(nipc_conn_t *c);
    /* A start that was pending (a handshake) has ended: the conn is established and frames
     * flow. A failed one is an on_error and a close instead. */
    void (*on_ready)(nipc_conn_t *c);
    /* The connection has begun to close (optional): no more events but on_close follow. */
    void (*on_closing)(nipc_conn_t *c);
    /* The handle is closed; status is the error that closed it (UV_EOF when the peer
     * closed), or 0 when this side closed it. What was queued and not written is still
     * counted (nipc__conn_take_loss). The hook may free the memory holding the conn, or
     * open it again. */
    void (*on_close)(nipc_conn_t *c, int status);
} nipc_conn_hooks_t;

/* Frames and bytes accepted by emit and then discarded unwritten (or not known to be
 * written: a write that failed may have delivered part of them). */
typedef struct nipc_loss {
    size_t frames;
    size_t bytes;
} nipc_loss_t;

/* request.c: a connection's requests waiting for their replies. */
typedef struct nipc_request nipc_request_t;
typedef struct nipc_requests {
    nipc_request_t *head; /* oldest first */
    nipc_request_t *tail;
    int64_t last_id; /* ids are never reused on a connection */
} nipc_requests_t;

/* The lengths of queued frames, oldest first, for codecs whose frames have no delimiter to
 * find them by. */
typedef struct nipc_lens {
    size_t *v;
    size_t head; /* the oldest is v[head] */
    size_t n;    /* v[head, n) are queued */
    size_t cap;
} nipc_lens_t;

struct nipc_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } u;
    nipc_t *ipc;
    const nipc_conn_hooks_t *hooks;
    const nipc_stream_ops_t *ops; /* the transport */
    const nipc_codec_ops_t *codec;
    void *xport;            /* the transport's own state (TLS), or NULL */
    const char *servername; /* a client's: the host connected to, for TLS; else NULL */
    uv_connect_t creq;
    void (*on_connected)(nipc_conn_t *c, int status); /* the owner's, for ops->connect */
    nipc_buf_t in;       /* received bytes; the partial frame at its end */
    nipc_buf_t out;      /* frames emitted since the last write was started */
    nipc_buf_t inflight; /* the bytes of the write in progress */
    nipc_frame_t frame;
    json_t *shape;          /* the last event's data, reused for the next of the same shape */
    size_t out_frames;      /* frames in `out` with bytes still unwritten */
    size_t inflight_frames; /* frames in the write in progress */
    nipc_lens_t lens;       /* undelimited codecs: the frames of inflight then out */
    /* Written after the peer's end of file, towards a peer that may have half-closed (it
     * reads them) or gone (a reset loses them): lost unless the shutdown that ends the
     * close succeeds. */
    nipc_loss_t after_eof;
    bool peer_ended;     /* its end of file was read */
    bool after_eof_lost; /* ... and the shutdown failed: the peer had gone */
    /* sync mode (C15): frames emitted while one awaits its answer wait here, and each
     * received read that ends between messages lets one go. */
    nipc_buf_t held;
    nipc_lens_t held_lens;
    bool sync;
    bool sync_busy;     /* a frame went out and no answer has released the next yet */
    size_t rx_messages; /* a custom codec's messages in the current read */
    nipc_requests_t requests;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    uv_timer_t *flush_timer; /* a flush-then-close's bound (flush_timeout_ms), or NULL */
    nipc_deferred_t fail_d;  /* a write error met inside an emit, reported from the loop */
    int fail_err;
    nipc_conn_t *dirty_next; /* in the instance's list of conns to flush */
    size_t read_chunk;       /* the next read's size: grows while reads come back full */
    size_t read_offered;     /* the room the last read was given */
    nipc_deadline_t partial; /* queued while a frame is pending (message_timeout_ms) */
    nipc_deadline_t quiet;   /* queued while a server socket is watched (idle_timeout_ms) */
    bool idle_watched;
    int close_status;
    bool open;        /* the handle is initialised and its close has not completed */
    bool established; /* connected: reading, and writes go out */
    bool writing;     /* wreq is in flight */
    bool dirty;       /* on the flush list */
    bool closing;     /* uv_close or a flush-then-close is under way: no more events */
    bool close_after_flush;
    bool refused; /* an emit was refused with EQUEUEFULL: publish drain when empty */
    /* nipc_socket_stats(), nipc_client_stats(): counted over the object's life, across a
     * client's connections (nipc__conn_open leaves them); queued_bytes is not kept here but
     * read from the queues (nipc__conn_stats). */
    nipc_stats_t stats;
};

void nipc__conn_init(nipc_conn_t *c, nipc_t *ipc, const nipc_conn_hooks_t *hooks,
                     const nipc_stream_ops_t *ops);
/* Initialises the handle, for an accept or a connect. */
int nipc__conn_open(nipc_conn_t *c);
/* The peer is connected: start reading and writing what is queued. 0 when established now;
 * NIPC__PENDING when the transport has more to do first (a TLS handshake): hooks->on_ready
 * follows, or on_error and the close; or an error (nothing published). */
#define NIPC__PENDING 1
int nipc__conn_start(nipc_conn_t *c);
/* Encodes and queues one frame (W1): 0, UV_ENOTCONN (closing), NIPC_EQUEUEFULL, or an
 * encoding error of nipc__encode(). `refer`: a `_new` emit's data, whose large strings may be
 * queued by reference (nipc__encode), except while sync mode holds the frame back. */
int nipc__conn_send(nipc_conn_t *c, const char *type, const json_t *data, bool refer);
/* Queues bytes that are already a frame, or a raw send. */
int nipc__conn_send_bytes(nipc_conn_t *c, const char *p, size_t n);
/* Queues a frame encoded once for several connections (broadcast), its spans referred to
 * again with a reference of this connection's own (copied into sync mode's held frames). */
int nipc__conn_send_frame(nipc_conn_t *c, const nipc_buf_t *frame);
/* Starts the next write if none is in flight (the instance calls it at the end of a turn). */
void nipc__conn_flush(nipc_conn_t *c);
/* Closes: with `flush`, after the queued bytes are written. Idempotent. */
void nipc__conn_close(nipc_conn_t *c, bool flush, int status);
/* Closes at once, even while a flush-then-close is under way (teardown). */
void nipc__conn_abort(nipc_conn_t *c);
/* Frees the buffers; the handle must be closed. */
void nipc__conn_release(nipc_conn_t *c);
/* A server's socket, just started: idle_timeout_ms applies to it (if set) from now on. */
void nipc__conn_watch_idle(nipc_conn_t *c);
/* What was queued and not written, which is then discarded; with `held`, sync mode's
 * frames that await their turn too (a lost connection keeps them for the next one). */
nipc_loss_t nipc__conn_take_loss(nipc_conn_t *c, bool held);
static inline size_t nipc__conn_queued(const nipc_conn_t *c)
{
    return nipc__buf_queued(&c->out) + nipc__buf_queued(&c->inflight) + nipc__buf_size(&c->held);
}
/* The connection's counters, with its queued bytes now. */
void nipc__conn_stats(const nipc_conn_t *c, nipc_stats_t *out);
/* Adds the counters of `from` to `into`: sums, but the peak, which is the higher. */
void nipc__stats_merge(nipc_stats_t *into, const nipc_stats_t *from);
/* A received frame refused with `err` (a code of nipc_refused_t's list; any other counts as
 * malformed). */
void nipc__stats_refuse(nipc_stats_t *st, int err);
/* Frames and bytes a `drop` event reports. */
static inline void nipc__stats_drop(nipc_stats_t *st, nipc_loss_t loss)
{
    st->dropped_frames += loss.frames;
    st->dropped_bytes += loss.bytes;
}

/* ---- request.c: requests and replies ------------------------------------------------------ */

/* Sends type with {"$req": id, "data": data} and waits for the reply (timeout_ms 0: until the
 * connection closes). The errors of nipc__conn_send(); UV_EINVAL for cb or type NULL. */
int nipc__request_send(nipc_conn_t *c, const char *type, json_t *data, unsigned timeout_ms,
                       nipc_reply_cb cb, void *arg);
/* A frame received: true when it was a reply (given to its request, or dropped as late).
 * Every frame passes here: what cannot be a reply is told by its first byte. */
bool nipc__request_reply_slow(nipc_conn_t *c, const char *type, json_t *data);
static inline bool nipc__request_reply(nipc_conn_t *c, const char *type, json_t *data)
{
    return type[0] == '$' && nipc__request_reply_slow(c, type, data);
}
/* The payload of a request frame's data, and its id in *id; else data itself and *id 0. A
 * request's data is an object whose first key is "$req" (JSON.stringify writes the keys in
 * the order the object was made, {$req, data}). `maybe` false (the decoder saw other first
 * bytes) answers at once. */
json_t *nipc__request_unwrap_slow(json_t *data, int64_t *id);
static inline json_t *nipc__request_unwrap(json_t *data, bool maybe, int64_t *id)
{
    if (maybe)
        return nipc__request_unwrap_slow(data, id);
    *id = 0;
    return data;
}
/* Sends the reply to request `id`. */
int nipc__request_answer(nipc_conn_t *c, int64_t id, json_t *answer);
/* {"$re": id, "data": answer} (no "data" when answer is NULL), or NULL when out of memory. */
json_t *nipc__reply_payload(int64_t id, json_t *answer);
/* The connection closed: every request waiting on it ends with UV_ECANCELED. */
void nipc__requests_cancel(nipc_conn_t *c);

/* ---- ipc.c: the instance ----------------------------------------------------------------- */

struct nipc_s {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    bool freeing;
    nipc_config_t cfg;
    size_t dlen;
    const nipc_codec_ops_t *codec; /* every connection's, from the config */
    nipc_codec_t user_codec;       /* cfg.codec points here when the config had one */
    nipc_encoding_t encoding;      /* cfg.encoding, parsed */
    nipc_server_t *server;
    nipc_client_t *clients; /* of[], in creation order */
    uv_check_t check;       /* flushes dirty conns and runs deferred work after each poll */
    uv_idle_t idle;         /* active while work is queued, so the poll does not block */
    uv_idle_t spin;         /* busy_poll_us: active for that long after traffic */
    uint64_t spin_until;    /* uv_hrtime() at which the busy poll ends */
    nipc_conn_t *dirty;
    nipc_deferred_t *deferred; /* queued, in order */
    nipc_deferred_t *deferred_tail;
    nipc_deferred_t *running; /* the calls of this turn not yet made */
    unsigned pending_closes;
    unsigned depth;      /* handlers running: nipc_free() waits until none is */
    bool free_requested; /* nipc_free() was called from a handler */
    bool in_run;         /* nipc_run() is running the owned loop */
    bool log_color;      /* log_in_color, and the lines go where colours show */
    /* log.c: the line being made, and the handle that flushes stdout before the loop
     * waits when a line went to it since the last flush. */
    nipc_buf_t log_buf;
    uv_prepare_t log_prepare;
    bool log_unflushed;
    bool in_logger;                  /* the logger is running: a line it logs is not made */
    struct nipc_tls_ctx *tls_server; /* config.tls made ready, when TLS is used */
    struct nipc_tls_ctx *tls_client;

    /* max_event_name and allowed_events, applied both ways. */
    nipc_type_rules_t rules;
    /* The receive deadlines (conn.c): conns with a pending frame (message_timeout_ms) and
     * watched server sockets (idle_timeout_ms), each queue by deadline, and one unreferenced
     * timer due at the earlier head. */
    nipc_deadlines_t partial;
    nipc_deadlines_t quiet;
    uv_timer_t deadline;
    uint64_t deadline_due;    /* when it is due, while it is active */
    nipc_deferred_t expire_d; /* the expiry, run after the poll that followed the timer */
    /* A descriptor held in reserve by the first stream server that listens, beside
     * libuv's: closed to accept and close what waits when descriptors run out (server.c). */
    int spare_fd;
    bool has_spare;
    nipc_deferred_t spare_d; /* takes the spare back after the poll that used it */
    /* The generator behind retry_jitter (nipc__random), seeded at its first use. */
    uint64_t rng;
    bool rng_seeded;
    /* mailbox.c: the mailboxes not closed yet, and the handle their posters wake the loop
     * with (unreferenced, made with the first mailbox); a broadcast's encoding. */
    nipc_mailbox_t *mailboxes;
    uv_async_t mail_wake;
    bool mail_wake_open;
    nipc_buf_t mail_buf;
    /* The last nipc_socket_serial() given (server.c): serials are never reused. */
    uint64_t last_serial;
};

/* The instance is being freed, or will be once the running handler returns: no event is
 * published and every call that would start something fails with NIPC_EDESTROYED. */
static inline bool nipc__gone(const nipc_t *ipc)
{
    return ipc->freeing || ipc->free_requested;
}
/* Queues d->fn(d) to run from the loop after the current callback returns. A node already
 * queued stays where it is. */
void nipc__defer(nipc_t *ipc, nipc_deferred_t *d, nipc_deferred_cb fn);
/* Unqueues d (its object is going away); safe while the deferred calls are being made. */
void nipc__defer_cancel(nipc_t *ipc, nipc_deferred_t *d);
/* A uniform draw from [0, 1), from the instance's own generator (splitmix64), seeded at the
 * first call from the system's random source, or from the time and pid if that fails: a
 * different sequence for every instance and process, so jittered clients spread out. Not
 * for secrets. */
double nipc__random(nipc_t *ipc);
/* Runs the handlers of `t` for ev, unless the instance is being freed (except `drop`). */
void nipc__publish(nipc_t *ipc, nipc_events_t *t, const nipc_event_t *ev);
/* {frames, bytes, code, message} for a `drop` event. */
json_t *nipc__drop_payload(nipc_loss_t loss, int reason);
/* Logs the loss and publishes `drop` with its payload (nothing when nothing was lost). */
void nipc__publish_drop(nipc_t *ipc, nipc_events_t *t, nipc_event_t *ev, nipc_loss_t loss,
                        int reason);
/* The rules an event type follows both ways, sent or received: reserved names
 * (NIPC_ERESERVED unless allow_reserved_events), max_event_name (NIPC_ENAMELEN) and
 * allowed_events (NIPC_ENOTALLOWED). */
int nipc__type_rules_apply(const nipc_t *ipc, const char *type);
/* The JSON codec's admit (codec/codec.h): UV_EINVAL for NULL, the rules above, and
 * UV_EINVAL for a name legacy node-ipc crashes on (W13). */
int nipc__admit(const nipc_t *ipc, const char *type);
/* nipc__msg_encode() with the instance's rules: nipc__admit(), delimiter, legacy data and
 * max_message_size (UV_EMSGSIZE); with `refer`, nipc__msg_encode_new(). */
int nipc__encode(const nipc_t *ipc, nipc_buf_t *out, const char *type, const json_t *data,
                 bool refer);
/* Puts a conn on the flush list. */
void nipc__schedule_flush(nipc_t *ipc, nipc_conn_t *c);
/* Traffic on a connection: with busy_poll_us, the loop polls without sleeping for a while. */
void nipc__busy_poll(nipc_t *ipc);
void nipc__unschedule_flush(nipc_t *ipc, nipc_conn_t *c);
/* uv_close through the instance's count of close callbacks to come. */
void nipc__close_handle(nipc_t *ipc, uv_handle_t *h, uv_close_cb cb);
void nipc__handle_closed(nipc_t *ipc);
/* A close callback for a handle nipc allocated alone (a timer, a listener, a refused
 * connection): h->data is the instance; frees h. */
void nipc__free_handle(uv_handle_t *h);
/* ---- log.c ---------------------------------------------------------------------------- */

/* The log's buffer and its handle, at nipc_new(); the handle is closed with the instance's
 * others, and nipc__log_free() writes what is left, when the instance is freed. */
void nipc__log_init(nipc_t *ipc);
uv_handle_t *nipc__log_handle(nipc_t *ipc);
void nipc__log_free(nipc_t *ipc);
/* Logging is on (not `silent`): a caller may skip work that only a log line needs. */
bool nipc__log_on(const nipc_t *ipc);
/* One event's line: "<what> [<who> :] <type>", then its data when log_payloads. */
void nipc__log_event(nipc_t *ipc, const char *what, const char *who, const char *type,
                     const json_t *data);
/* json_vpack_ex(): 0, UV_EINVAL (a bad format or argument) or UV_ENOMEM. */
int nipc__vpack(json_t **out, const char *fmt, va_list ap);
/* {code, message} for a transport error event. */
json_t *nipc__error_payload(int err);
/* The longest Unix socket path this platform accepts. */
size_t nipc__max_path(void);

/* ---- server.c ------------------------------------------------------------------------------- */

/*
 * A server's peer. Stream transports: a connection, owned by the server's array until its
 * close. UDP: a datagram's sender, on the stack of the receive callback (only address, port,
 * family, size and the learned id are set), or the bound socket itself for `connect` (U7).
 */
struct nipc_socket_s {
    nipc_conn_t conn; /* first: the conn hooks cast back to the socket */
    nipc_server_t *server;
    json_t *id;    /* learned from data.id (S9), or NULL */
    char *id_text; /* nipc_socket_id() of an id that is not a string, made when asked */
    void *data;
    uint64_t serial;      /* nipc_socket_serial(): 1, 2, ... in accept order; 0 for UDP */
    bool closing_counted; /* counted in the server's `closing` */
    bool announced;       /* `connect` was published (after the handshake, for TLS) */
    bool udp;
    const char *family; /* "IPv4", "IPv6", or NULL for a Unix socket */
    char address[64];   /* the text of sa, made on first use ("" until then) */
    int port;
    size_t size;                /* UDP: the datagram's size */
    struct sockaddr_storage sa; /* the peer's address (UDP: where replies go) */
};

/* The socket file a Unix socket server bound: what it may remove when it stops. */
typedef struct nipc_sockfile {
    dev_t dev;
    ino_t ino;
    bool valid;
} nipc_sockfile_t;

/*
 * A server's listening handle, and beside it a handle that takes and closes at once a
 * connection nipc cannot take for want of memory. Without it such a connection would stay
 * in libuv, which stops watching a listener whose connection callback returned without
 * uv_accept() until one is made: the server would never accept again. The block is freed
 * when both handles have closed.
 */
typedef struct nipc_listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
        uv_udp_t udp;
    };
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } shed;
    nipc_t *ipc;
    bool shed_busy; /* shed is closing, usable again from its close callback */
    bool stalled;   /* a connection waits in libuv (which has paused) for shed */
    bool closing;   /* the listener is closing */
    int handles;    /* initialised and not yet closed */
} nipc_listener_t;

struct nipc_server_s {
    nipc_t *ipc;
    const nipc_stream_ops_t *ops; /* the stream transport; NULL for UDP */
    nipc_net_t net;
    bool is_net; /* TCP or UDP, else a Unix socket at `path` */
    char *path;  /* Unix socket path, or the host for network servers */
    int port;    /* asked for: 0 lets the system choose */
    int bound_port;
    nipc_events_t events;
    nipc_listener_t *listener;      /* NULL when not listening */
    struct nipc_resolver *resolver; /* a host name being resolved by start */
    nipc_socket_t **sockets;        /* stream peers in connection order (server.sockets) */
    size_t count;
    size_t cap;
    size_t closing;          /* of those, how many are closing: they no longer take a slot (S6) */
    size_t pending;          /* of those, how many are not announced yet (a TLS handshake) */
    nipc_sockfile_t file;    /* the socket file bound, removed when the server stops */
    nipc_deferred_t start_d; /* publishes `start` (and UDP's `connect`) */
    nipc_socket_t self;      /* UDP: the bound socket, for `connect` */
    struct sockaddr_storage *peers; /* UDP: senders heard from, for broadcast */
    size_t npeers;
    char *dgram;        /* UDP: the receive buffer */
    nipc_buf_t scratch; /* broadcast and UDP emits encode here once */
    bool start_pending; /* listening, `start` not yet published */
    /* A listening descriptor that no handle holds (-1: none): the one bound by
     * nipc_server_listen_shared() for other processes (`shared`: the server is listening
     * through them, and removes its socket file when it stops), or the one nipc_serve_fd()
     * was given (`adopted`), until nipc_server_start() opens the listener on it. */
    int fd;
    bool shared;
    bool adopted;
    /* What nipc_server_stats() adds to its live sockets' counters: those of the sockets
     * that have closed, UDP's traffic, the `drop` events with no socket, the connections. */
    nipc_stats_t stats;
};

void nipc__server_publish(nipc_server_t *s, const char *type, json_t *data, nipc_socket_t *sock,
                          int status);
/* `error` with {code, message, errno} for a transport error (sock may be NULL). */
void nipc__server_publish_error(nipc_server_t *s, int err, nipc_socket_t *sock);
/* A frame arrived from `sock`: learn data.id (S9), log, publish. */
void nipc__server_deliver(nipc_server_t *s, nipc_socket_t *sock, const char *type, json_t *data,
                          unsigned hints);

/* `drop` on the server (sock NULL) or one of its sockets, for frames it accepted and lost. */
void nipc__server_publish_loss(nipc_server_t *s, nipc_socket_t *sock, nipc_loss_t loss, int reason);
/* The stream socket with this nipc_socket_serial(), or NULL when none has it (any more). */
nipc_socket_t *nipc__server_socket_by_serial(const nipc_server_t *s, uint64_t serial);
/* A socket that could not take a broadcast's frame of `bytes` (sock NULL: a UDP send). */
typedef void (*nipc_lost_cb)(void *arg, nipc_socket_t *sock, int err, size_t bytes);
/*
 * A mailbox's broadcasts: nipc_server_broadcast() of (type, data) encoded into `buf`, and
 * nipc_server_broadcast_bytes(), except that a socket that cannot take the frame is given to
 * lost() instead of returned: its poster was told the frame was accepted. lost() may publish
 * (so `buf` is not the scratch buffer, which its handlers may broadcast through). Returns the
 * error that kept the frame from every socket (encoding, NIPC_EDESTROYED), or 0.
 */
int nipc__server_broadcast_frame(nipc_server_t *s, nipc_buf_t *buf, const char *type,
                                 const json_t *data, bool refer, nipc_lost_cb lost, void *arg);
int nipc__server_broadcast_raw(nipc_server_t *s, const void *p, size_t n, nipc_lost_cb lost,
                               void *arg);

/* A datagram arrived from `from`: its frames are the server's (U2, U3). */
void nipc__server_datagram(nipc_server_t *s, const char *p, size_t n, const struct sockaddr *from);

/* transport/udp.c (U1, U4) */
/* Binds and starts receiving (into s->dgram, then nipc__server_datagram); *bound is the
 * address the system gave. */
int nipc__udp_bind(uv_udp_t *h, const struct sockaddr *sa, struct sockaddr_storage *bound);
/* One datagram: UV_EMSGSIZE past NIPC_UDP_MAX_FRAME, UV_EINVAL when not bound. */
int nipc__udp_send(nipc_server_t *s, const struct sockaddr *to, const char *p, size_t n);

/* ---- transport/tls_stream.c ---------------------------------------------------------------- */

/* The instance's TLS context for its server or its clients, made from config.tls at first
 * use: 0, or why the configuration is refused (logged), e.g. a server without a key (T6). */
int nipc__tls_context(nipc_t *ipc, bool server, struct nipc_tls_ctx **out);
void nipc__tls_contexts_free(nipc_t *ipc);

/* ---- transport/addr.c: addresses and name resolution --------------------------------------- */

/* The port of an IPv4 or IPv6 address. */
int nipc__ip_port(const struct sockaddr *sa);
/* Fills `sa` from an IP literal and a port: 0, or UV_EINVAL when host is not a literal. */
int nipc__ip_parse(const char *host, int port, struct sockaddr_storage *sa);
/* A socket's peer or own address: kept in sock->sa with its port and node-ipc's family name
 * ("IPv4", "IPv6"); the text form is made when first asked for (nipc_socket_address). */
void nipc__ip_describe(nipc_socket_t *sock, const struct sockaddr *sa);
/* The text of the address nipc__ip_describe() kept, made and cached on the first call. */
const char *nipc__ip_text(nipc_socket_t *sock);
/*
 * What a descriptor inherited from another process listens on: 0 for a stream socket that
 * listens, with *family AF_UNIX (and *where its path) or AF_INET / AF_INET6 over TCP (*where
 * its address as text, *port its port); *where is the caller's to nipc__free(). UV_EINVAL for
 * anything else: no descriptor, not a socket, datagrams, a socket that does not listen, an
 * unnamed or abstract Unix socket. UV_ENOMEM.
 */
int nipc__listener_describe(int fd, int *family, char **where, int *port);
/* Resolves host:port (family 0, 4 or 6) now, blocking, to its first address. */
int nipc__resolve_now(nipc_t *ipc, const char *host, int port, int family,
                      struct sockaddr_storage *sa);

typedef void (*nipc_resolved_cb)(void *owner, int status, const struct sockaddr *sa);
typedef struct nipc_resolver nipc_resolver_t;
/*
 * Resolves host:port (family 0, 4 or 6) on libuv's thread pool and calls cb(owner, ...)
 * from the loop. The instance counts it like a closing handle, so nipc_free() waits for it.
 */
int nipc__resolve(nipc_t *ipc, const char *host, int port, int family, void *owner,
                  nipc_resolved_cb cb, nipc_resolver_t **out);
/* The owner is going away: the callback will not run. */
void nipc__resolve_cancel(nipc_resolver_t *r);

/* ---- server.c / client.c --------------------------------------------------------------- */

/* Closes everything at once; the memory is freed by the close callbacks. */
void nipc__server_teardown(nipc_server_t *server);
void nipc__client_teardown(nipc_client_t *client);
/* nipc_free(): a `drop` event for each connection with frames still queued. */
void nipc__server_report_losses(nipc_server_t *server);
void nipc__client_report_loss(nipc_client_t *client);
/* nipc_stop(): stops listening and closes every socket after its queue is written. */
void nipc__server_shutdown(nipc_server_t *server);
/* The next client of of[] in creation order. */
nipc_client_t *nipc__client_next(const nipc_client_t *client);
/* For mailbox.c: the client's instance; whether it was closed (nipc_client_close) or is
 * destroyed (retrying ended, it may start again); `drop` on it for frames it accepted and
 * lost. */
nipc_t *nipc__client_ipc(const nipc_client_t *client);
bool nipc__client_closed(const nipc_client_t *client);
bool nipc__client_destroyed(const nipc_client_t *client);
void nipc__client_publish_loss(nipc_client_t *client, nipc_loss_t loss, int reason);

/* ---- mailbox.c: emits posted from other threads -------------------------------------------- */

/* Closes the target's mailboxes (a client or the server): posts are NIPC_EDESTROYED from now
 * on, and the target's references go. What they held unperformed is discarded and returned,
 * for the target to report with `drop`. */
nipc_loss_t nipc__mailboxes_close(nipc_t *ipc, const void *target);
/* Posts to the target's mailboxes are answered with `code` from now on (NIPC_EDESTROYED for
 * a destroyed client), or queued again (0). */
void nipc__mailboxes_refuse(nipc_t *ipc, const void *target, int code);
/* The target can take frames again (a client's queue drained, or its connection closed): its
 * mailboxes that waited for it are drained from the loop. */
void nipc__mailboxes_resume(nipc_t *ipc, const void *target);
/* nipc_free(), once the targets have closed theirs: what is left of the mailboxes' state. */
void nipc__mailboxes_free(nipc_t *ipc);

#endif /* NIPC_INTERNAL_H */
