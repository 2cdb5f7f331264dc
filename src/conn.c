/* SPDX-License-Identifier: MIT */
/*
 * One connected peer, whatever the stream transport and the codec: bytes in -> the codec ->
 * events, and frames out through a queue written once per loop turn.
 *
 * Receive: libuv reads straight into the tail of `in`, and the codec (codec/codec.h)
 * consumes what is complete, leaving a partial frame for the next read.
 *
 * Send: frames are encoded straight into `out`. At most one write is in flight: when it
 * completes, or when the loop turn ends (the instance's check handle), `out` becomes the
 * next write. So a connection costs one write per loop turn however many emits it gets. A
 * `_new` emit's large strings are not copied into `out` but referred to (its spans, see
 * nipc_span_t), and each write is a gather of `out`'s own bytes and those strings; sync
 * mode's waiting frames (`held`) always hold their copy.
 *
 * Every frame accepted is counted until it is written (out_frames, inflight_frames), so
 * what a close discards is reported by the owner (nipc__conn_take_loss), never silent.
 *
 * Counters (nipc_stats_t, `stats`): bytes in where a read lands, frames in where a codec
 * splits them, frames and bytes out where a write completes (flush_out's early write,
 * nipc__conn_written, write_direct, and the part of a write a close settles), the peak
 * queue where a frame is queued. One addition each, on paths that already touch the
 * connection.
 *
 * Receive deadlines, without a timer per connection: a connection with a pending frame sits
 * in the instance's `partial` queue (message_timeout_ms), a watched server socket in its
 * `quiet` queue (idle_timeout_ms). Each queue is ordered by deadline, so one unreferenced
 * timer per instance, due at the earlier head, is all they need; a read moves a connection
 * to its queue's tail. The timer does not expire anything itself: it defers the expiry to
 * the end of that loop iteration, after the poll, so bytes that arrived while a slow
 * handler held the loop are read before anyone is judged silent.
 *
 * Invariant: once `closing` is set, no hook but on_close runs again, except the error of a
 * write that failed inside an emit, which is reported from the loop just before. A closing
 * connection is in no deadline queue.
 */
#include "codec/codec.h"
#include "transport/transport.h"

#include <limits.h>
#include <string.h>

#define READ_CHUNK ((size_t)64 * 1024)
/* Reads grow up to this while the peer keeps the socket full, or a large frame is pending. */
#define READ_CHUNK_MAX ((size_t)1024 * 1024)
/* Past this many queued bytes they are written at once instead of at the end of the turn: a
 * peer that answers a batch of requests gets the first answers while the rest are made, so the
 * two sides work at the same time. */
#define FLUSH_THRESHOLD ((size_t)16 * 1024)
/* A uv_buf_t holds an unsigned length: a larger write is cut into buffers of this size. */
#define WRITE_PIECE ((size_t)1 << 30)
/* Buffers on the stack for one write: a queue in more pieces (over 1 GiB, or strings
 * referred to between its bytes) takes an array. */
#define WRITE_PIECES 32
/* A frame this large, with nothing queued before it, is written from the caller's memory. */
#define DIRECT_MIN ((size_t)256 * 1024)

void nipc__conn_init(nipc_conn_t *c, nipc_t *ipc, const nipc_conn_hooks_t *hooks,
                     const nipc_stream_ops_t *ops)
{
    memset(c, 0, sizeof *c);
    c->ipc = ipc;
    c->hooks = hooks;
    c->ops = ops;
    c->codec = ipc->codec;
    nipc__buf_init(&c->in);
    nipc__buf_init(&c->held);
    nipc__buf_init(&c->out);
    nipc__buf_init(&c->inflight);
}

int nipc__conn_open(nipc_conn_t *c)
{
    int err = c->ops->init(c->ipc->loop, &c->u.handle);
    if (err)
        return err;
    c->u.handle.data = c;
    c->open = true;
    c->established = false;
    c->closing = false;
    c->close_after_flush = false;
    c->close_status = 0;
    c->inflight_frames = 0;
    c->after_eof = (nipc_loss_t){0, 0};
    c->peer_ended = false;
    c->after_eof_lost = false;
    c->idle_watched = false;
    /* Each connection starts with an empty receive buffer (W16). */
    nipc__buf_reset(&c->in);
    c->read_chunk = READ_CHUNK;
    nipc__frame_init(&c->frame, c->ipc->cfg.delimiter, c->ipc->dlen);
    return 0;
}

void nipc__conn_release(nipc_conn_t *c)
{
    nipc__unschedule_flush(c->ipc, c);
    json_decref(c->shape);
    c->shape = NULL;
    nipc__buf_free(&c->in);
    nipc__buf_free(&c->out);
    nipc__buf_free(&c->inflight);
    nipc__buf_free(&c->held);
    nipc__free(c->lens.v);
    nipc__free(c->held_lens.v);
}

/* ---- frame lengths, for codecs without a delimiter --------------------------------------- */

/* Room for one more length. */
static int lens_room(nipc_lens_t *l)
{
    if (l->n == l->cap && l->head > 0) {
        memmove(l->v, l->v + l->head, (l->n - l->head) * sizeof *l->v);
        l->n -= l->head;
        l->head = 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        size_t *v = nipc__realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return UV_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    return 0;
}

static int lens_push(nipc_lens_t *l, size_t len)
{
    int err = lens_room(l);
    if (err == 0)
        l->v[l->n++] = len;
    return err;
}

static size_t lens_pop(nipc_lens_t *l)
{
    size_t len = l->v[l->head++];
    if (l->head == l->n)
        l->head = l->n = 0;
    return len;
}

static void lens_drop(nipc_lens_t *l, size_t frames)
{
    l->head += frames;
    if (l->head >= l->n)
        l->head = l->n = 0;
}

static void lens_clear(nipc_lens_t *l)
{
    l->head = l->n = 0;
}

static void settle_inflight(nipc_conn_t *c);

nipc_loss_t nipc__conn_take_loss(nipc_conn_t *c, bool held)
{
    settle_inflight(c); /* nipc_free() asks while the write is still in progress */
    nipc_loss_t loss = {c->out_frames + c->inflight_frames,
                        nipc__buf_queued(&c->out) + nipc__buf_queued(&c->inflight)};
    if (c->after_eof_lost) {
        loss.frames += c->after_eof.frames;
        loss.bytes += c->after_eof.bytes;
        c->after_eof_lost = false;
    }
    c->after_eof = (nipc_loss_t){0, 0};
    nipc__buf_reset(&c->out);
    c->out_frames = 0;
    if (!c->writing) {
        nipc__buf_reset(&c->inflight);
        c->inflight_frames = 0;
        lens_clear(&c->lens);
    } else {
        c->lens.n = c->lens.head + c->inflight_frames; /* those of the write stay */
    }
    if (held) {
        loss.frames += c->held_lens.n - c->held_lens.head;
        loss.bytes += nipc__buf_size(&c->held);
        nipc__buf_reset(&c->held);
        lens_clear(&c->held_lens);
    }
    return loss;
}

void nipc__conn_stats(const nipc_conn_t *c, nipc_stats_t *out)
{
    *out = c->stats;
    out->queued_bytes = nipc__conn_queued(c);
}

void nipc__stats_merge(nipc_stats_t *into, const nipc_stats_t *from)
{
    into->frames_in += from->frames_in;
    into->bytes_in += from->bytes_in;
    into->frames_out += from->frames_out;
    into->bytes_out += from->bytes_out;
    into->queued_bytes += from->queued_bytes;
    if (from->queued_peak > into->queued_peak)
        into->queued_peak = from->queued_peak;
    into->dropped_frames += from->dropped_frames;
    into->dropped_bytes += from->dropped_bytes;
    for (int i = 0; i < NIPC_REFUSED_COUNT; i++)
        into->refused[i] += from->refused[i];
    into->queue_full += from->queue_full;
    into->reconnects += from->reconnects;
    into->connections += from->connections;
    into->connections_refused += from->connections_refused;
}

void nipc__stats_refuse(nipc_stats_t *st, int err)
{
    nipc_refused_t why;
    switch (err) {
    case NIPC_EBADTYPE:
        why = NIPC_REFUSED_BAD_TYPE;
        break;
    case NIPC_ERESERVED:
        why = NIPC_REFUSED_RESERVED;
        break;
    case NIPC_ENAMELEN:
        why = NIPC_REFUSED_NAME_LENGTH;
        break;
    case NIPC_ENOTALLOWED:
        why = NIPC_REFUSED_NOT_ALLOWED;
        break;
    case UV_EMSGSIZE:
        why = NIPC_REFUSED_TOO_LARGE;
        break;
    case UV_ETIMEDOUT:
        why = NIPC_REFUSED_TIMED_OUT;
        break;
    default: /* UV_EPROTO, or what a caller's codec returned */
        why = NIPC_REFUSED_MALFORMED;
        break;
    }
    st->refused[why]++;
}

static void report_write_error(nipc_deferred_t *d)
{
    nipc_conn_t *c = nipc__container_of(d, nipc_conn_t, fail_d);
    c->hooks->on_error(c, c->fail_err, NULL);
}

void nipc__conn_closed(nipc_conn_t *c)
{
    nipc_t *ipc = c->ipc;
    c->open = false;
    c->established = false;
    c->writing = false;
    if (c->fail_d.queued) { /* not reported yet: its error comes before the close */
        nipc__defer_cancel(ipc, &c->fail_d);
        report_write_error(&c->fail_d);
    }
    nipc__requests_cancel(c);
    c->hooks->on_close(c, c->close_status);
    nipc__handle_closed(ipc);
}

/* ---- receive deadlines ---------------------------------------------------------------- */

static bool queued_in(const nipc_deadlines_t *q, const nipc_deadline_t *n)
{
    return n->prev != NULL || q->head == n;
}

static void dequeue(nipc_deadlines_t *q, nipc_deadline_t *n)
{
    if (!queued_in(q, n))
        return;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->prev = n->next = NULL;
}

static void expire(nipc_deferred_t *d);

static void on_deadline(uv_timer_t *t)
{
    nipc_t *ipc = t->data;
    nipc__defer(ipc, &ipc->expire_d, expire);
}

/* Arms the instance's timer for the earlier head of its two queues, unless it is already
 * due no later (a head that left early costs one wake-up that finds nothing due). */
static void arm(nipc_t *ipc)
{
    if (nipc__gone(ipc)) /* its timer is closing, or about to */
        return;
    uint64_t due = UINT64_MAX;
    if (ipc->partial.head != NULL)
        due = ipc->partial.head->since + ipc->cfg.message_timeout_ms;
    if (ipc->quiet.head != NULL && ipc->quiet.head->since + ipc->cfg.idle_timeout_ms < due)
        due = ipc->quiet.head->since + ipc->cfg.idle_timeout_ms;
    if (due == UINT64_MAX) {
        uv_timer_stop(&ipc->deadline);
        return;
    }
    if (uv_is_active((uv_handle_t *)&ipc->deadline) && ipc->deadline_due <= due)
        return;
    uint64_t now = uv_now(ipc->loop);
    ipc->deadline_due = due;
    uv_timer_start(&ipc->deadline, on_deadline, due > now ? due - now : 0, 0);
}

/* Starts n's clock now: it goes to the tail, where the latest deadline is. */
static void restart(nipc_t *ipc, nipc_deadlines_t *q, nipc_deadline_t *n)
{
    n->since = uv_now(ipc->loop);
    if (q->tail == n)
        return;
    dequeue(q, n);
    bool was_empty = q->head == NULL;
    n->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    if (was_empty) /* behind a head, n cannot be due before it */
        arm(ipc);
}

static void unwatch(nipc_conn_t *c)
{
    dequeue(&c->ipc->partial, &c->partial);
    dequeue(&c->ipc->quiet, &c->quiet);
}

void nipc__conn_watch_idle(nipc_conn_t *c)
{
    if (c->ipc->cfg.idle_timeout_ms == 0 || c->closing)
        return;
    c->idle_watched = true;
    restart(c->ipc, &c->ipc->quiet, &c->quiet);
}

/* The head of q when its deadline has passed, else NULL. */
static nipc_deadline_t *due_head(const nipc_deadlines_t *q, unsigned ms, uint64_t now)
{
    return q->head != NULL && q->head->since + ms <= now ? q->head : NULL;
}

static void expire(nipc_deferred_t *d)
{
    nipc_t *ipc = nipc__container_of(d, nipc_t, expire_d);
    uint64_t now = uv_now(ipc->loop);
    nipc_deadline_t *n;
    /* Handlers run from here: each step takes the head afresh, and a free stops it. */
    while (!nipc__gone(ipc) && (n = due_head(&ipc->partial, ipc->cfg.message_timeout_ms, now))) {
        nipc_conn_t *c = nipc__container_of(n, nipc_conn_t, partial);
        dequeue(&ipc->partial, n);
        nipc__stats_refuse(&c->stats, UV_ETIMEDOUT);
        nipc_log(ipc, "frame still incomplete after %u ms: connection closed",
                 ipc->cfg.message_timeout_ms);
        nipc__conn_fail(c, UV_ETIMEDOUT);
    }
    while (!nipc__gone(ipc) && (n = due_head(&ipc->quiet, ipc->cfg.idle_timeout_ms, now))) {
        nipc_conn_t *c = nipc__container_of(n, nipc_conn_t, quiet);
        dequeue(&ipc->quiet, n);
        nipc_log(ipc, "nothing received for %u ms: socket closed", ipc->cfg.idle_timeout_ms);
        nipc__conn_close(c, true, 0);
    }
    arm(ipc);
}

/* message_timeout_ms times each frame from the read that brought its first byte: a frame
 * completed restarts the clock for the next one, if it has begun. */
static void time_partial(nipc_conn_t *c, bool completed)
{
    nipc_t *ipc = c->ipc;
    if (nipc__buf_size(&c->in) == 0)
        dequeue(&ipc->partial, &c->partial);
    else if (completed || !queued_in(&ipc->partial, &c->partial))
        restart(ipc, &ipc->partial, &c->partial);
}

/* ---- closing ---------------------------------------------------------------------------- */

static size_t frames_in(nipc_conn_t *c, const nipc_buf_t *q, size_t n);

/*
 * The close cancels the write in progress, of which the system may have taken part since it
 * began (libuv writes as the socket drains): that part is out of the count of what is lost,
 * whole frames and bytes, so that `drop` reports exactly what the peer never got.
 */
static void settle_inflight(nipc_conn_t *c)
{
    if (!c->writing || c->ops->unsent == NULL)
        return;
    size_t n = nipc__buf_queued(&c->inflight), left = c->ops->unsent(c);
    if (left >= n)
        return;
    size_t done = n - left, k = frames_in(c, &c->inflight, done);
    c->inflight_frames -= k;
    c->stats.frames_out += k;
    c->stats.bytes_out += done;
    nipc__buf_drop(&c->inflight, done); /* libuv is past those buffers */
}

static void close_now(nipc_conn_t *c)
{
    if (c->flush_timer != NULL) {
        c->flush_timer->data = c->ipc;
        nipc__close_handle(c->ipc, (uv_handle_t *)c->flush_timer, nipc__free_handle);
        c->flush_timer = NULL;
    }
    if (uv_is_closing(&c->u.handle))
        return;
    nipc__unschedule_flush(c->ipc, c);
    settle_inflight(c);
    c->ops->close(c);
}

static void begin_closing(nipc_conn_t *c);

/* The queue could not be written: the connection closes, and the error is published from the
 * loop (this may run inside an emit, where no event may be published). */
static void write_failed(nipc_conn_t *c, int err)
{
    if (!c->closing) {
        c->fail_err = err;
        nipc__defer(c->ipc, &c->fail_d, report_write_error);
        c->close_status = err;
        begin_closing(c);
    } else if (c->close_status == 0) {
        c->close_status = err;
    }
    close_now(c);
}

/* Buffers b[k, ...) for n bytes at p, each under 4 GiB, those below `max` filled; returns k
 * plus how many the bytes take. */
static size_t pieces(uv_buf_t *b, size_t k, size_t max, const char *p, size_t n)
{
    for (; n > 0; k++) {
        size_t len = n < WRITE_PIECE ? n : WRITE_PIECE;
        if (k < max)
            b[k] = uv_buf_init((char *)p, (unsigned)len);
        p += len;
        n -= len;
    }
    return k;
}

/* The queued bytes of q in order, its own and its spans' between them, as buffers b[0, max);
 * returns how many all of them take. */
static size_t queue_bufs(const nipc_buf_t *q, uv_buf_t *b, size_t max)
{
    size_t k = 0, pos = q->off;
    const nipc_spans_t *s = q->spans;
    for (size_t i = s != NULL ? s->head : 0; s != NULL && i < s->n; i++) {
        k = pieces(b, k, max, q->data + pos, s->v[i].at - pos);
        k = pieces(b, k, max, s->v[i].p, s->v[i].n);
        pos = s->v[i].at;
    }
    return pieces(b, k, max, q->data + pos, q->len - pos);
}

/* Frames completed in the n bytes written from p (a frame's delimiter appears only at its
 * end: the encoder refuses any other, NIPC_EDELIM); for an undelimited codec, from the
 * lengths, whose oldest is then what is left of the frame the write ended in. */
static size_t frames_written(nipc_conn_t *c, const char *p, size_t n)
{
    if (!c->codec->delimited) {
        size_t k = 0;
        nipc_lens_t *l = &c->lens;
        while (l->head < l->n && l->v[l->head] <= n) {
            n -= lens_pop(l);
            k++;
        }
        if (n > 0 && l->head < l->n)
            l->v[l->head] -= n;
        return k;
    }
    const char *d = c->ipc->cfg.delimiter;
    size_t dlen = c->ipc->dlen, k = 0;
    const char *end = p + n;
    while (p < end) {
        const char *q =
            dlen == 1 ? memchr(p, d[0], (size_t)(end - p)) : memmem(p, (size_t)(end - p), d, dlen);
        if (q == NULL)
            break;
        k++;
        p = q + dlen;
    }
    return k;
}

/* Frames completed in the first n queued bytes of q. A frame ends in q's own bytes, never in
 * a span (which holds no delimiter), so only those are looked at; undelimited codecs have no
 * spans. */
static size_t frames_in(nipc_conn_t *c, const nipc_buf_t *q, size_t n)
{
    size_t k = 0, pos = q->off;
    const nipc_spans_t *s = q->spans;
    for (size_t i = s != NULL ? s->head : 0; n > 0 && s != NULL && i < s->n; i++) {
        size_t own = s->v[i].at - pos < n ? s->v[i].at - pos : n;
        k += frames_written(c, q->data + pos, own);
        n -= own;
        n -= n < s->v[i].n ? n : s->v[i].n;
        pos = s->v[i].at;
    }
    return n > 0 ? k + frames_written(c, q->data + pos, n) : k;
}

/* ---- sending --------------------------------------------------------------------------- */

void nipc__conn_shut(nipc_conn_t *c, int status)
{
    if (status < 0 && c->peer_ended && c->after_eof.frames > 0) {
        /* The peer had gone, not half-closed (a reset answered what was written since its end
         * of file): that is lost, and the reset is why. */
        c->close_status = status;
        c->after_eof_lost = true;
    }
    close_now(c);
}

/* All queued bytes are out (or the peer is gone): finish a flush-then-close. */
static void finish_close(nipc_conn_t *c)
{
    if (c->ops->shutdown(c) != 0)
        close_now(c);
}

/* An emit was refused and everything queued is now out (sync's waiting frames included). */
static void maybe_drain(nipc_conn_t *c)
{
    if (c->refused && !c->closing && nipc__buf_size(&c->held) == 0) {
        c->refused = false;
        c->hooks->on_drain(c);
    }
}

void nipc__conn_written(nipc_conn_t *c, int status)
{
    c->writing = false;
    if (status < 0) {
        /* The bytes stay counted in `inflight`: the close reports them as lost. UV_ECANCELED:
         * the handle is closing and already knows why. */
        if (status == UV_ECANCELED)
            return;
        if (!c->closing) {
            c->hooks->on_error(c, status, NULL);
            nipc__conn_close(c, false, status);
        } else if (c->close_after_flush) {
            /* A flush that cannot finish (the peer reset): nothing more will be read, so the
             * close does not wait for flush_timeout_ms, and the loss is the write's. */
            c->close_status = status;
            close_now(c);
        }
        return;
    }
    size_t bytes = nipc__buf_queued(&c->inflight);
    c->stats.frames_out += c->inflight_frames;
    c->stats.bytes_out += bytes;
    if (c->peer_ended) {
        c->after_eof.frames += c->inflight_frames;
        c->after_eof.bytes += bytes;
    }
    nipc__buf_reset(&c->inflight);
    lens_drop(&c->lens, c->inflight_frames);
    c->inflight_frames = 0;
    if (uv_is_closing(&c->u.handle))
        return;
    if (nipc__buf_queued(&c->out) > 0) {
        nipc__schedule_flush(c->ipc, c);
    } else if (c->close_after_flush) {
        finish_close(c);
    } else {
        maybe_drain(c);
    }
}

/* Hands `out` to libuv as the next write (at most one in flight). */
static void start_write(nipc_conn_t *c)
{
    if (c->writing || !c->established || uv_is_closing(&c->u.handle))
        return;
    if (nipc__buf_queued(&c->out) == 0) {
        if (c->close_after_flush)
            finish_close(c);
        return;
    }
    nipc__buf_swap(&c->out, &c->inflight);
    nipc__buf_reset(&c->out);
    c->inflight_frames = c->out_frames;
    c->out_frames = 0;
    uv_buf_t small[WRITE_PIECES];
    size_t need = queue_bufs(&c->inflight, small, WRITE_PIECES);
    uv_buf_t *b = need <= WRITE_PIECES ? small
                  : need <= UINT_MAX   ? nipc__calloc(need, sizeof *b)
                                       : NULL;
    int err = UV_ENOMEM;
    if (b != NULL) {
        if (b != small)
            queue_bufs(&c->inflight, b, need);
        err = c->ops->write(c, b, (unsigned)need); /* the transport copies b */
        if (b != small)
            nipc__free(b);
    }
    if (err) {
        write_failed(c, err);
        return;
    }
    c->writing = true;
}

/*
 * The end-of-turn write. It first writes synchronously what the socket takes now: in the
 * usual case that is everything, and no write request, completion callback or extra loop
 * iteration is needed. Only what is left goes through start_write(). With `settle`, a queue
 * that empties ends a flush-then-close or brings `drain`; without, from inside an emit, it
 * does neither (no event inside a call), and the end of the turn does.
 */
static void settled(nipc_conn_t *c)
{
    if (c->close_after_flush)
        finish_close(c);
    else
        maybe_drain(c); /* an early write may have emptied a queue that had refused */
}

static void flush_out(nipc_conn_t *c, bool settle)
{
    if (c->writing || !c->established || uv_is_closing(&c->u.handle))
        return; /* the write's end goes on from there, or nothing can be written yet */
    if (nipc__buf_queued(&c->out) == 0) {
        if (settle)
            settled(c);
        return;
    }
    /* A queue in more pieces than the stack holds tries its first ones. */
    uv_buf_t b[WRITE_PIECES];
    size_t k = queue_bufs(&c->out, b, WRITE_PIECES);
    nipc__busy_poll(c->ipc); /* the answer may come soon */
    int n = c->ops->try_write(c, b, k < WRITE_PIECES ? (unsigned)k : WRITE_PIECES);
    if (n < 0 && n != UV_EAGAIN) {
        write_failed(c, n);
        return;
    }
    if (n > 0) {
        c->stats.bytes_out += (size_t)n;
        if ((size_t)n < nipc__buf_queued(&c->out)) {
            /* Rare: the socket took part of the queue. Count the frames it took whole. */
            size_t whole = frames_in(c, &c->out, (size_t)n);
            c->out_frames -= whole;
            c->stats.frames_out += whole;
        }
        nipc__buf_drop(&c->out, (size_t)n);
    }
    if (nipc__buf_queued(&c->out) > 0) {
        start_write(c);
        return;
    }
    nipc__buf_reset(&c->out);
    c->stats.frames_out += c->out_frames;
    c->out_frames = 0;
    lens_clear(&c->lens);
    if (settle)
        settled(c);
}

void nipc__conn_flush(nipc_conn_t *c)
{
    flush_out(c, true);
}

/*
 * Bytes were appended at `mark`: enforce the queue bound, then schedule the write. An empty
 * queue takes any one frame, so a frame larger than the bound can still be sent, and a
 * refusal always has a write in progress whose end brings `drain`.
 */
/* A frame was added to `out`: it goes at the end of the turn, or now past the threshold. */
static void enqueued(nipc_conn_t *c)
{
    c->sync_busy = c->sync;
    c->out_frames++;
    if (c->established) {
        /* Scheduled either way: the end of the turn settles what the early write cannot. */
        if (nipc__buf_queued(&c->out) >= FLUSH_THRESHOLD)
            flush_out(c, false);
        nipc__schedule_flush(c->ipc, c);
    }
}

/* `mark` was dst's own length and `was` its queued bytes before the frame (its spans count). */
static int queued(nipc_conn_t *c, nipc_buf_t *dst, size_t mark, size_t was)
{
    size_t len = nipc__buf_queued(dst) - was;
    size_t max = c->ipc->cfg.max_queued_bytes;
    if (len == 0) /* an empty raw frame: nothing to write, nothing to lose */
        return 0;
    size_t now = nipc__conn_queued(c);
    if (max != 0 && now > max && now - len > 0) {
        nipc__buf_truncate(dst, mark);
        c->refused = true;
        c->stats.queue_full++;
        return NIPC_EQUEUEFULL;
    }
    /* Queues with lengths never hold spans: held copies them, undelimited codecs make none. */
    nipc_lens_t *l = dst == &c->held ? &c->held_lens : c->codec->delimited ? NULL : &c->lens;
    if (l != NULL && lens_push(l, len) != 0) {
        nipc__buf_truncate(dst, mark);
        return UV_ENOMEM;
    }
    if (now > c->stats.queued_peak)
        c->stats.queued_peak = now;
    if (dst != &c->held) /* else sync: it waits for its turn */
        enqueued(c);
    return 0;
}

/* Where the next frame goes: out, or in sync mode, while one awaits its answer, held. */
static nipc_buf_t *next_queue(nipc_conn_t *c)
{
    return c->sync_busy ? &c->held : &c->out;
}

int nipc__conn_send(nipc_conn_t *c, const char *type, const json_t *data, bool refer)
{
    if (c->closing)
        return UV_ENOTCONN;
    nipc_buf_t *dst = next_queue(c);
    size_t mark = dst->len, was = nipc__buf_queued(dst);
    int err = c->codec->encode(c->ipc, dst, type, data, refer && dst != &c->held);
    return err ? err : queued(c, dst, mark, was);
}

int nipc__conn_send_frame(nipc_conn_t *c, const nipc_buf_t *frame)
{
    if (!nipc__buf_has_spans(frame))
        return nipc__conn_send_bytes(c, frame->data + frame->off, nipc__buf_size(frame));
    if (c->closing)
        return UV_ENOTCONN;
    nipc_buf_t *dst = next_queue(c);
    size_t mark = dst->len, was = nipc__buf_queued(dst);
    int err = nipc__buf_append_queue(dst, frame, dst != &c->held);
    return err ? err : queued(c, dst, mark, was);
}

/*
 * A large frame with nothing queued before it is written from where it is, and only what the
 * socket does not take now is copied into the queue: a raw send of 1 MiB is otherwise copied
 * twice, into the queue and then into the kernel. Returns the bytes written; an error is met
 * again by the queued write, which reports it from the loop.
 */
static size_t write_direct(nipc_conn_t *c, const char *p, size_t n)
{
    if (n < DIRECT_MIN || !c->established || c->writing || nipc__conn_queued(c) > 0 ||
        c->sync_busy || uv_is_closing(&c->u.handle))
        return 0;
    uv_buf_t b[WRITE_PIECES];
    size_t k = pieces(b, 0, WRITE_PIECES, p, n);
    int w = c->ops->try_write(c, b, k < WRITE_PIECES ? (unsigned)k : WRITE_PIECES);
    return w > 0 ? (size_t)w : 0;
}

int nipc__conn_send_bytes(nipc_conn_t *c, const char *p, size_t n)
{
    if (c->closing)
        return UV_ENOTCONN;
    nipc_buf_t *dst = next_queue(c);
    /* The room first (and its length's): once part is written, the rest must find its
     * place, so that queued() below cannot fail. */
    if (nipc__buf_reserve(dst, n) != 0 ||
        (!c->codec->delimited && dst == &c->out && lens_room(&c->lens) != 0))
        return UV_ENOMEM;
    size_t done = write_direct(c, p, n);
    if (done > 0) {
        nipc__busy_poll(c->ipc);
        c->sync_busy = c->sync; /* it went: sync waits for its answer */
        c->stats.bytes_out += done;
        if (done == n) {
            c->stats.frames_out++;
            return 0;
        }
    }
    size_t mark = dst->len, was = nipc__buf_queued(dst);
    nipc__buf_append(dst, p + done, n - done); /* cannot fail: reserved */
    return queued(c, dst, mark, was);
}

/* sync mode (C15): an answer came; the next waiting frame goes, or nothing awaits one now. */
static void sync_release(nipc_conn_t *c)
{
    nipc_lens_t *l = &c->held_lens;
    c->sync_busy = false;
    if (l->head == l->n)
        return;
    size_t len = l->v[l->head];
    size_t mark = c->out.len;
    if (nipc__buf_append(&c->out, c->held.data + c->held.off, len) != 0 ||
        (!c->codec->delimited && lens_push(&c->lens, len) != 0)) {
        c->out.len = mark;
        nipc__conn_fail(c, UV_ENOMEM); /* the frame stays held: the close reports it */
        return;
    }
    lens_pop(l);
    c->held.off += len;
    if (nipc__buf_size(&c->held) == 0)
        nipc__buf_reset(&c->held);
    enqueued(c);
}

static void on_flush_timeout(uv_timer_t *t)
{
    nipc_conn_t *c = t->data;
    c->close_status = UV_ETIMEDOUT; /* what is still queued is reported as lost */
    close_now(c);
}

/* flush_timeout_ms bounds a flush-then-close: a peer that never reads cannot hold it open. */
static void arm_flush_timer(nipc_conn_t *c)
{
    unsigned ms = c->ipc->cfg.flush_timeout_ms;
    if (ms == 0 || c->flush_timer != NULL)
        return;
    uv_timer_t *t = nipc__malloc(sizeof *t);
    if (t == NULL) {
        close_now(c); /* no bound can be kept: close now, and the loss is reported */
        return;
    }
    uv_timer_init(c->ipc->loop, t);
    t->data = c;
    uv_timer_start(t, on_flush_timeout, ms, 0);
    c->flush_timer = t;
}

static void begin_closing(nipc_conn_t *c)
{
    if (c->established)
        c->ops->read_stop(c);
    c->closing = true;
    unwatch(c);
    if (c->hooks->on_closing != NULL)
        c->hooks->on_closing(c);
}

void nipc__conn_close(nipc_conn_t *c, bool flush_first, int status)
{
    if (!c->open || c->closing)
        return;
    c->close_status = status;
    begin_closing(c);
    /* A graceful close ends with the transport's shutdown even when nothing is queued: over
     * TLS that is close_notify, without which a strict peer reads a truncation. */
    if (flush_first && c->established) {
        c->close_after_flush = true;
        start_write(c);
        if (!uv_is_closing(&c->u.handle))
            arm_flush_timer(c);
        return;
    }
    close_now(c);
}

void nipc__conn_abort(nipc_conn_t *c)
{
    if (!c->open)
        return;
    if (!c->closing)
        begin_closing(c);
    close_now(c);
}

/* ---- receiving ------------------------------------------------------------------------- */

/* How large reads grow. Raw mode publishes each read whole, so its reads may grow up to
 * max_message_size (a read never brings more than the socket holds, which bounds it). */
static size_t read_max(const nipc_conn_t *c)
{
    size_t max = c->ipc->cfg.max_message_size;
    if (c->codec != &nipc__raw_codec)
        return READ_CHUNK_MAX;
    return max < READ_CHUNK ? READ_CHUNK : max > WRITE_PIECE ? WRITE_PIECE : max;
}

void nipc__conn_rx_room(nipc_conn_t *c, uv_buf_t *buf)
{
    /* Reads start at 64 KiB. They grow while they come back full (a peer streaming faster
     * than one read drains the socket) and while a large frame is pending, so a stream
     * arrives in few system calls and the sender finds room sooner. */
    size_t pending = nipc__buf_size(&c->in);
    size_t chunk = pending < READ_CHUNK_MAX ? pending : READ_CHUNK_MAX;
    if (chunk < c->read_chunk)
        chunk = c->read_chunk;
    /* Reclaim the consumed prefix before growing for the next read. */
    if (c->in.off > 0 && c->in.cap - c->in.len < chunk)
        nipc__buf_compact(&c->in);
    if (nipc__buf_reserve(&c->in, chunk) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
        return;
    }
    size_t room = c->in.cap - c->in.len;
    if (c->codec == &nipc__raw_codec && room > c->ipc->cfg.max_message_size)
        room = c->ipc->cfg.max_message_size > 0 ? c->ipc->cfg.max_message_size : 1;
    c->read_offered = room > UINT32_MAX ? UINT32_MAX : room;
    *buf = uv_buf_init(c->in.data + c->in.len, (unsigned)c->read_offered);
}

/*
 * A full read doubles the next one; one under a quarter full halves it, down to 64 KiB.
 * Returns whether the read was full: the socket may hold more.
 */
static bool adapt_read_chunk(nipc_conn_t *c, size_t nread)
{
    bool full = nread >= c->read_offered;
    if (full && c->read_chunk < read_max(c))
        c->read_chunk *= 2;
    else if (nread < c->read_chunk / 4 && c->read_chunk > READ_CHUNK)
        c->read_chunk /= 2;
    return full;
}

void nipc__conn_fail(nipc_conn_t *c, int err)
{
    c->hooks->on_error(c, err, NULL);
    nipc__conn_close(c, false, err);
}

void nipc__conn_rx(nipc_conn_t *c, ssize_t nread)
{
    if (nread < 0) {
        /* The peer's end of file: what is queued is still written (within flush_timeout_ms),
         * then the connection closes, as Node ends a socket whose peer ended (allowHalfOpen
         * false): a peer that half-closes after its request gets its whole answer. Towards
         * a peer that has gone instead, the shutdown fails and nipc__conn_shut() reports
         * what was written meanwhile as lost. */
        if (nread == UV_EOF) {
            c->peer_ended = true;
            nipc__conn_close(c, true, UV_EOF);
        } else
            nipc__conn_fail(c, (int)nread);
        return;
    }
    c->in.len += (size_t)nread;
    c->stats.bytes_in += (size_t)nread;
    bool full = adapt_read_chunk(c, (size_t)nread);
    unsigned found = 0;
    size_t was = c->in.off;
    if (nread > 0) {
        nipc__busy_poll(c->ipc);
        if (c->idle_watched)
            restart(c->ipc, &c->ipc->quiet, &c->quiet);
        found = c->codec->rx(c);
        if (c->closing)
            return;
    }
    if (c->ipc->cfg.message_timeout_ms != 0)
        time_partial(c, (found & NIPC__RX_MESSAGE) != 0);
    /* C15: a read that ended between messages lets the next sync frame go. */
    if (c->sync && found == (NIPC__RX_MESSAGE | NIPC__RX_BOUNDARY))
        sync_release(c);
    /* The partial frame moves to the front when the next read needs the room (on_alloc),
     * so a large frame is not copied again after every read; or at once, when messages were
     * just consumed and another as large would not fit after it: it would have to move
     * later, grown by the reads until then, so it moves now, holding only the end of this
     * read (a stream of 1 MiB frames otherwise moved a third of its bytes). A large buffer is
     * kept while reads come back full; once a read drains the socket and no frame is
     * pending, its memory goes back. libuv reads until the socket is drained (a read of 0
     * bytes at worst), so a quiet connection always keeps a small buffer at most. */
    if (nipc__buf_size(&c->in) == 0) {
        if (c->in.cap > 4 * READ_CHUNK && !full)
            nipc__buf_free(&c->in);
        else
            nipc__buf_reset(&c->in);
    } else if (c->in.off > was && c->in.cap - c->in.off < c->in.off - was + READ_CHUNK) {
        nipc__buf_compact(&c->in);
    }
}

static void establish(nipc_conn_t *c)
{
    c->established = true;
    /* sync: a frame lost with the last connection will get no answer; the next goes. */
    if (c->sync && nipc__buf_queued(&c->out) == 0)
        sync_release(c);
    if (nipc__buf_queued(&c->out) > 0)
        nipc__schedule_flush(c->ipc, c);
}

int nipc__conn_start(nipc_conn_t *c)
{
    int err = c->ops->start(c);
    if (err == 0)
        establish(c);
    return err;
}

void nipc__conn_ready(nipc_conn_t *c, int status)
{
    if (c->closing)
        return;
    if (status < 0) {
        nipc__conn_fail(c, status);
        return;
    }
    establish(c);
    c->hooks->on_ready(c);
}
