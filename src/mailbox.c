/* SPDX-License-Identifier: MIT */
/*
 * Mailboxes: emits posted from any thread, performed by the loop (nipc.h, "emitting from
 * other threads"). A mailbox is bound to one target, a client or the server, and made on
 * the loop's thread; the loop performs each posted emit as the loop-thread call would.
 *
 * State, and who may touch it:
 *  - under `lock`, from any thread: the posted list (head, tail), `queued`, `refuse` and
 *    `closed`. A poster checks, queues and, when the list was empty, wakes the loop, all
 *    under the lock; the loop takes the whole list at once under it, then performs what it
 *    took without it.
 *  - `refs`, atomic: the target's reference (until it closes the mailbox) and the
 *    application's (nipc_mailbox_retain / _release). The last release frees the memory, on
 *    whichever thread makes it; by then the target has let go, and nothing is queued.
 *  - everything else belongs to the loop's thread: the target, the list of mail taken and
 *    not yet performed (inbox), the instance's list of mailboxes, and the drain's flags.
 *    `ipc`, `client`, `server` and `max` are set at creation and never change, so a poster
 *    may read them; it dereferences `ipc` (its config, for the type rules) only under the
 *    lock while `closed` is false: closing takes the lock, and the instance is freed only
 *    after every mailbox is closed.
 *
 * One wake-up handle per instance (uv_async_t, unreferenced, made with the first mailbox):
 * one wake, and one pass over the instance's mailboxes, serves every mailbox posted to
 * since the last, and a mailbox's memory is tied to no handle, so any thread may free it.
 * A poster wakes the loop only when it finds the list empty: the loop empties it when it
 * wakes, so the next post wakes it again (libuv runs the callback at least once after each
 * uv_async_send). The handle is closed by nipc_free(), after every mailbox is closed, so no
 * poster can reach it then.
 *
 * A drain performs at most MAIL_BATCH emits of a mailbox per wake and wakes the loop again
 * for the rest, so a full mailbox does not hold the loop from its reads for long.
 *
 * What a drain cannot perform is reported by the target's `drop` ({frames, bytes, code}):
 * failures are summed by socket and code, and published after the drain, or before it goes
 * on when more than LOST_RUNS kinds have accumulated. Handlers run then, and may close the
 * target, free the instance or post again: the drain holds a reference to the mailbox, takes
 * each mail off the inbox before performing it, and looks at the mailbox and the instance
 * again after anything that may publish.
 *
 * A client whose queue is full (NIPC_EQUEUEFULL at the loop) stalls its mailbox instead of
 * losing the emit: the mail stays first in the inbox, counted against max_queued, until the
 * client drains or its connection closes (nipc__mailboxes_resume), so posters meet the
 * mailbox's bound, not a loss.
 */
#include "codec/codec.h"

#include <stdatomic.h>
#include <string.h>

/* Emits of one mailbox performed per wake-up. */
#define MAIL_BATCH 2048
/* Kinds of failure (socket, code) a drain sums before it publishes them. */
#define LOST_RUNS 8

enum mail_kind { MAIL_EMIT, MAIL_EMIT_TO, MAIL_SEND };

typedef struct nipc_mail nipc_mail_t;

struct nipc_mail {
    nipc_mail_t *next;
    json_t *data;    /* an emit's, stolen from the poster (NULL: {}) */
    uint64_t serial; /* MAIL_EMIT_TO: the socket's */
    size_t n;        /* MAIL_SEND: the bytes in text */
    enum mail_kind kind;
    char text[]; /* an emit's type, NUL-terminated; a send's bytes */
};

struct nipc_mailbox_s {
    uv_mutex_t lock;
    nipc_mail_t *head; /* posted, not yet taken by the loop */
    nipc_mail_t *tail;
    size_t queued; /* posted and not yet performed: the posted list and the inbox */
    int refuse;    /* posts are answered with it when not 0 (a destroyed client) */
    bool closed;   /* the target has let go: posts are NIPC_EDESTROYED, ipc may be freed */
    atomic_uint refs;

    /* Set at creation, never changed. */
    nipc_t *ipc;
    nipc_client_t *client; /* the target: one of the two */
    nipc_server_t *server;
    size_t max;

    /* The loop's. */
    nipc_mail_t *inbox; /* taken from the posted list, not yet performed, in order */
    nipc_mail_t *inbox_tail;
    nipc_mailbox_t *prev; /* in the instance's list, until closed */
    nipc_mailbox_t *next;
    nipc_mailbox_t *ready_next; /* in a wake-up's list of mailboxes to drain */
    bool ready;
    bool stalled; /* a client's queue was full: wait for resume */
};

static const void *target_of(const nipc_mailbox_t *mb)
{
    return mb->client != NULL ? (const void *)mb->client : (const void *)mb->server;
}

static void free_mail(nipc_mail_t *m)
{
    json_decref(m->data);
    nipc__free(m);
}

/* Frees a list of mail and returns what it held. */
static nipc_loss_t discard(nipc_mail_t *m)
{
    nipc_loss_t loss = {0, 0};
    while (m != NULL) {
        nipc_mail_t *next = m->next;
        loss.frames++;
        loss.bytes += m->n;
        free_mail(m);
        m = next;
    }
    return loss;
}

/* ---- references ---------------------------------------------------------------------- */

void nipc_mailbox_retain(nipc_mailbox_t *mb)
{
    if (mb != NULL)
        atomic_fetch_add_explicit(&mb->refs, 1, memory_order_relaxed);
}

void nipc_mailbox_release(nipc_mailbox_t *mb)
{
    if (mb == NULL || atomic_fetch_sub_explicit(&mb->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* The last reference: the target let go (closing emptied both lists), and no other
     * thread can reach the mailbox any more. */
    uv_mutex_destroy(&mb->lock);
    nipc__free(mb);
}

/* ---- the target's side (loop thread) ----------------------------------------------------- */

static void list_remove(nipc_t *ipc, nipc_mailbox_t *mb)
{
    if (mb->prev != NULL)
        mb->prev->next = mb->next;
    else
        ipc->mailboxes = mb->next;
    if (mb->next != NULL)
        mb->next->prev = mb->prev;
    mb->prev = mb->next = NULL;
}

/* Closes one mailbox to posts, empties it, and drops the target's reference. */
static nipc_loss_t close_one(nipc_mailbox_t *mb)
{
    uv_mutex_lock(&mb->lock);
    mb->closed = true;
    nipc_mail_t *posted = mb->head;
    mb->head = mb->tail = NULL;
    mb->queued = 0;
    uv_mutex_unlock(&mb->lock);
    nipc_loss_t loss = discard(mb->inbox);
    nipc_loss_t more = discard(posted);
    mb->inbox = mb->inbox_tail = NULL;
    loss.frames += more.frames;
    loss.bytes += more.bytes;
    list_remove(mb->ipc, mb);
    nipc_mailbox_release(mb);
    return loss;
}

nipc_loss_t nipc__mailboxes_close(nipc_t *ipc, const void *target)
{
    nipc_loss_t loss = {0, 0};
    nipc_mailbox_t *mb = ipc->mailboxes;
    while (mb != NULL) {
        nipc_mailbox_t *next = mb->next;
        if (target_of(mb) == target) {
            nipc_loss_t l = close_one(mb);
            loss.frames += l.frames;
            loss.bytes += l.bytes;
        }
        mb = next;
    }
    return loss;
}

void nipc__mailboxes_refuse(nipc_t *ipc, const void *target, int code)
{
    for (nipc_mailbox_t *mb = ipc->mailboxes; mb != NULL; mb = mb->next) {
        if (target_of(mb) != target)
            continue;
        uv_mutex_lock(&mb->lock);
        mb->refuse = code;
        uv_mutex_unlock(&mb->lock);
    }
}

void nipc__mailboxes_resume(nipc_t *ipc, const void *target)
{
    bool any = false;
    for (nipc_mailbox_t *mb = ipc->mailboxes; mb != NULL; mb = mb->next) {
        if (target_of(mb) == target && mb->stalled) {
            mb->stalled = false;
            any = true;
        }
    }
    if (any) /* drained from the loop, never inside the caller's call */
        uv_async_send(&ipc->mail_wake);
}

void nipc__mailboxes_free(nipc_t *ipc)
{
    /* None is left: the server and the clients of of[] closed theirs, reporting what they
     * held, and a client leaves of[] only by its close, which closes them too. */
    while (ipc->mailboxes != NULL)
        (void)close_one(ipc->mailboxes);
    nipc__buf_free(&ipc->mail_buf);
}

/* ---- draining (loop thread) ------------------------------------------------------------ */

typedef struct lost_run {
    nipc_socket_t *sock; /* NULL: the target itself */
    int code;
    nipc_loss_t loss;
} lost_run_t;

typedef struct drain {
    nipc_mailbox_t *mb;
    lost_run_t runs[LOST_RUNS];
    unsigned n;
} drain_t;

/* Publishes what the drain could not perform, by socket and code. */
static void publish_lost(drain_t *d)
{
    unsigned n = d->n;
    d->n = 0;
    for (unsigned i = 0; i < n; i++) {
        lost_run_t *r = &d->runs[i];
        if (d->mb->client != NULL)
            nipc__client_publish_loss(d->mb->client, r->loss, r->code);
        else
            nipc__server_publish_loss(d->mb->server, r->sock, r->loss, r->code);
    }
}

static void note_lost(drain_t *d, nipc_socket_t *sock, int code, size_t bytes)
{
    for (unsigned i = 0; i < d->n; i++) {
        lost_run_t *r = &d->runs[i];
        if (r->sock == sock && r->code == code) {
            r->loss.frames++;
            r->loss.bytes += bytes;
            return;
        }
    }
    if (d->n == LOST_RUNS)
        publish_lost(d);
    d->runs[d->n++] = (lost_run_t){sock, code, {1, bytes}};
}

/* nipc__server_broadcast_*'s report of a socket that could not take a frame. */
static void on_broadcast_lost(void *arg, nipc_socket_t *sock, int err, size_t bytes)
{
    note_lost(arg, sock, err, bytes);
}

/* Performs one mail as the loop-thread call would. Returns NIPC_EQUEUEFULL when a client's
 * queue is full (the mail is then still the caller's); every other failure is noted. */
static int perform(drain_t *d, nipc_mail_t *m)
{
    nipc_mailbox_t *mb = d->mb;
    nipc_socket_t *sock = NULL;
    int err;
    if (mb->client != NULL) {
        err = m->kind == MAIL_SEND ? nipc_client_send(mb->client, m->text, m->n)
                                   : nipc_client_emit(mb->client, m->text, m->data);
        if (err == NIPC_EQUEUEFULL)
            return err;
    } else if (m->kind == MAIL_EMIT) {
        err = nipc__server_broadcast_frame(mb->server, &mb->ipc->mail_buf, m->text, m->data, false,
                                           on_broadcast_lost, d);
    } else if (m->kind == MAIL_SEND) {
        err = nipc__server_broadcast_raw(mb->server, m->text, m->n, on_broadcast_lost, d);
    } else {
        /* A socket gone since the serial was read no longer has a connection. */
        sock = nipc__server_socket_by_serial(mb->server, m->serial);
        err = sock == NULL ? UV_ENOTCONN : nipc_server_emit(mb->server, sock, m->text, m->data);
    }
    if (err)
        note_lost(d, sock, err, m->n);
    return 0;
}

static bool may_drain(const nipc_mailbox_t *mb)
{
    return mb->inbox != NULL && !mb->closed && !mb->stalled && !nipc__gone(mb->ipc);
}

/* Performs what the mailbox took, in order, up to MAIL_BATCH. The caller holds a
 * reference: a handler of a `drop` published here may close it. */
static void drain(nipc_mailbox_t *mb)
{
    drain_t d = {.mb = mb};
    size_t done = 0;
    while (done < MAIL_BATCH && may_drain(mb)) {
        nipc_mail_t *m = mb->inbox;
        mb->inbox = m->next;
        if (mb->inbox == NULL)
            mb->inbox_tail = NULL;
        m->next = NULL;
        if (perform(&d, m) == NIPC_EQUEUEFULL) {
            /* Kept first, and still counted: the client's drain brings it back. */
            m->next = mb->inbox;
            mb->inbox = m;
            if (mb->inbox_tail == NULL)
                mb->inbox_tail = m;
            mb->stalled = true;
            break;
        }
        free_mail(m);
        done++;
    }
    if (done > 0 && !mb->closed) {
        uv_mutex_lock(&mb->lock);
        mb->queued -= done;
        uv_mutex_unlock(&mb->lock);
    }
    publish_lost(&d);
    if (may_drain(mb)) /* more than one batch: the rest on the next turn */
        uv_async_send(&mb->ipc->mail_wake);
}

/* Moves what was posted to the end of the inbox. */
static void take(nipc_mailbox_t *mb)
{
    uv_mutex_lock(&mb->lock);
    nipc_mail_t *head = mb->head, *tail = mb->tail;
    mb->head = mb->tail = NULL;
    uv_mutex_unlock(&mb->lock);
    if (head == NULL)
        return;
    if (mb->inbox_tail != NULL)
        mb->inbox_tail->next = head;
    else
        mb->inbox = head;
    mb->inbox_tail = tail;
}

static void on_wake(uv_async_t *h)
{
    nipc_t *ipc = h->data;
    if (nipc__gone(ipc))
        return;
    /* First what every mailbox holds, then the emits: a handler run by a drain may close
     * any mailbox, so each in the list is held by a reference of its own. */
    nipc_mailbox_t *ready = NULL, **tail = &ready;
    for (nipc_mailbox_t *mb = ipc->mailboxes; mb != NULL; mb = mb->next) {
        take(mb);
        if (!mb->ready && may_drain(mb)) {
            mb->ready = true;
            nipc_mailbox_retain(mb);
            *tail = mb;
            tail = &mb->ready_next;
        }
    }
    while (ready != NULL) {
        nipc_mailbox_t *mb = ready;
        ready = mb->ready_next;
        mb->ready_next = NULL;
        mb->ready = false;
        drain(mb);
        nipc_mailbox_release(mb);
    }
}

/* ---- making one (loop thread) ------------------------------------------------------------ */

static int make(nipc_t *ipc, nipc_client_t *cl, nipc_server_t *s, size_t max_queued, int refuse,
                nipc_mailbox_t **out)
{
    if (!ipc->mail_wake_open) {
        int err = uv_async_init(ipc->loop, &ipc->mail_wake, on_wake);
        if (err)
            return err;
        ipc->mail_wake.data = ipc;
        /* Posts alone never keep nipc_run() going: the targets' handles do. */
        uv_unref((uv_handle_t *)&ipc->mail_wake);
        ipc->mail_wake_open = true;
    }
    nipc_mailbox_t *mb = nipc__calloc(1, sizeof *mb);
    if (mb == NULL)
        return UV_ENOMEM;
    int err = uv_mutex_init(&mb->lock);
    if (err) {
        nipc__free(mb);
        return err;
    }
    atomic_init(&mb->refs, 2); /* the target's and the caller's */
    mb->ipc = ipc;
    mb->client = cl;
    mb->server = s;
    mb->max = max_queued != 0 ? max_queued : NIPC_MAILBOX_MAX_QUEUED;
    mb->refuse = refuse;
    mb->next = ipc->mailboxes;
    if (mb->next != NULL)
        mb->next->prev = mb;
    ipc->mailboxes = mb;
    *out = mb;
    return 0;
}

int nipc_client_mailbox(nipc_client_t *client, size_t max_queued, nipc_mailbox_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (client == NULL || out == NULL)
        return UV_EINVAL;
    nipc_t *ipc = nipc__client_ipc(client);
    if (nipc__gone(ipc) || nipc__client_closed(client))
        return NIPC_EDESTROYED;
    return make(ipc, client, NULL, max_queued, nipc__client_destroyed(client) ? NIPC_EDESTROYED : 0,
                out);
}

int nipc_server_mailbox(nipc_server_t *server, size_t max_queued, nipc_mailbox_t **out)
{
    if (out != NULL)
        *out = NULL;
    if (server == NULL || out == NULL)
        return UV_EINVAL;
    if (nipc__gone(server->ipc))
        return NIPC_EDESTROYED;
    return make(server->ipc, NULL, server, max_queued, 0, out);
}

/* ---- posting (any thread) ---------------------------------------------------------------- */

/* The checks of the call the loop will make that need no loop state: the codec's type rules
 * read only the instance's config, which nothing changes after nipc_new(). */
static int admit(const nipc_mailbox_t *mb, const nipc_mail_t *m)
{
    const nipc_t *ipc = mb->ipc;
    if (m->kind != MAIL_SEND)
        return ipc->codec->admit(ipc, m->text);
    if (ipc->codec == &nipc__json_codec)
        return UV_EINVAL;
    return m->n > ipc->cfg.max_message_size ? UV_EMSGSIZE : 0;
}

/* Queues m (the caller's until this returns 0; else still the caller's to free). */
static int post(nipc_mailbox_t *mb, nipc_mail_t *m)
{
    uv_mutex_lock(&mb->lock);
    int err = mb->closed ? NIPC_EDESTROYED : mb->refuse;
    if (err == 0)
        err = admit(mb, m);
    if (err == 0 && mb->queued >= mb->max)
        err = NIPC_EQUEUEFULL;
    if (err == 0) {
        bool wake = mb->head == NULL;
        if (mb->tail != NULL)
            mb->tail->next = m;
        else
            mb->head = m;
        mb->tail = m;
        mb->queued++;
        /* Under the lock: the handle is closed only once every mailbox is closed. */
        if (wake)
            uv_async_send(&mb->ipc->mail_wake);
    }
    uv_mutex_unlock(&mb->lock);
    return err;
}

static nipc_mail_t *new_mail(enum mail_kind kind, const void *text, size_t n, bool nul)
{
    if (n > SIZE_MAX - sizeof(nipc_mail_t) - 1)
        return NULL;
    nipc_mail_t *m = nipc__malloc(sizeof *m + n + nul);
    if (m == NULL)
        return NULL;
    m->next = NULL;
    m->data = NULL;
    m->serial = 0;
    m->n = nul ? 0 : n;
    m->kind = kind;
    if (n > 0)
        memcpy(m->text, text, n);
    if (nul)
        m->text[n] = '\0';
    return m;
}

static int post_emit(nipc_mailbox_t *mb, enum mail_kind kind, uint64_t serial, const char *type,
                     json_t *data)
{
    if (mb == NULL || type == NULL ||
        (kind == MAIL_EMIT_TO && (mb->server == NULL || serial == 0))) {
        json_decref(data);
        return UV_EINVAL;
    }
    nipc_mail_t *m = new_mail(kind, type, strlen(type), true);
    if (m == NULL) {
        json_decref(data);
        return UV_ENOMEM;
    }
    m->data = data;
    m->serial = serial;
    int err = post(mb, m);
    if (err)
        free_mail(m);
    return err;
}

int nipc_mailbox_emit(nipc_mailbox_t *mb, const char *type, json_t *data)
{
    return post_emit(mb, MAIL_EMIT, 0, type, data);
}

int nipc_mailbox_emit_to(nipc_mailbox_t *mb, uint64_t socket_serial, const char *type, json_t *data)
{
    return post_emit(mb, MAIL_EMIT_TO, socket_serial, type, data);
}

int nipc_mailbox_send(nipc_mailbox_t *mb, const void *p, size_t n)
{
    if (mb == NULL || (p == NULL && n > 0))
        return UV_EINVAL;
    nipc_mail_t *m = new_mail(MAIL_SEND, p, n, false);
    if (m == NULL)
        return UV_ENOMEM;
    int err = post(mb, m);
    if (err)
        free_mail(m);
    return err;
}
