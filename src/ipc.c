/* SPDX-License-Identifier: MIT */
/*
 * The instance: its config copy (K1, K2), its loop, the end-of-turn work (write flushes and
 * deferred events), logging (K3) and teardown.
 *
 * End of turn: a check handle runs after each poll phase. It starts one write per dirty
 * connection and then runs deferred calls (events that must not run inside the call that
 * caused them). While such work is queued an idle handle is active, which keeps the loop
 * alive and stops the poll from blocking; otherwise both are inert and do not keep the loop
 * alive.
 *
 * Busy polling (busy_poll_us): after traffic on a connection a second idle handle stays
 * active for that long, so the loop polls without sleeping and a reply that comes within the
 * window is read without the wake-up of a sleeping process, which on virtual machines costs
 * tens of microseconds across cores. Each idle turn yields the processor, so a peer on the
 * same core runs at once. It never keeps the loop alive.
 */
#include "codec/codec.h"
#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

size_t nipc__max_path(void)
{
    return sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* exists only to make the poll non-blocking while work is queued */
}

static void on_spin(uv_idle_t *h)
{
    nipc_t *ipc = h->data;
    if (uv_hrtime() >= ipc->spin_until)
        uv_idle_stop(h);
    else
        sched_yield();
}

void nipc__busy_poll(nipc_t *ipc)
{
    if (ipc->cfg.busy_poll_us == 0)
        return;
    ipc->spin_until = uv_hrtime() + (uint64_t)ipc->cfg.busy_poll_us * 1000;
    if (!uv_is_active((uv_handle_t *)&ipc->spin))
        uv_idle_start(&ipc->spin, on_spin);
}

static void wake(nipc_t *ipc)
{
    if (!uv_is_active((uv_handle_t *)&ipc->idle))
        uv_idle_start(&ipc->idle, on_idle);
}

void nipc__schedule_flush(nipc_t *ipc, nipc_conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dirty_next = ipc->dirty;
    ipc->dirty = c;
    wake(ipc);
}

void nipc__unschedule_flush(nipc_t *ipc, nipc_conn_t *c)
{
    if (!c->dirty)
        return;
    for (nipc_conn_t **link = &ipc->dirty; *link != NULL; link = &(*link)->dirty_next) {
        if (*link == c) {
            *link = c->dirty_next;
            break;
        }
    }
    c->dirty = false;
    c->dirty_next = NULL;
}

void nipc__defer(nipc_t *ipc, nipc_deferred_t *d, nipc_deferred_cb fn)
{
    d->fn = fn;
    if (d->queued)
        return;
    d->queued = true;
    d->next = NULL;
    if (ipc->deferred_tail != NULL)
        ipc->deferred_tail->next = d;
    else
        ipc->deferred = d;
    ipc->deferred_tail = d;
    wake(ipc);
}

/* Unlinks d from a singly linked list; returns the node before it (NULL: it was first). */
static bool unlink_node(nipc_deferred_t **head, nipc_deferred_t *d, nipc_deferred_t **prev)
{
    *prev = NULL;
    for (nipc_deferred_t **link = head; *link != NULL; link = &(*link)->next) {
        if (*link == d) {
            *link = d->next;
            return true;
        }
        *prev = *link;
    }
    return false;
}

void nipc__defer_cancel(nipc_t *ipc, nipc_deferred_t *d)
{
    if (!d->queued)
        return;
    nipc_deferred_t *prev;
    d->queued = false;
    /* This turn's calls first: a call may cancel a later one of the same turn. */
    if (unlink_node(&ipc->running, d, &prev))
        return;
    if (unlink_node(&ipc->deferred, d, &prev) && ipc->deferred_tail == d)
        ipc->deferred_tail = prev;
}

static void drop_deferred(nipc_deferred_t **head)
{
    while (*head != NULL) {
        nipc_deferred_t *d = *head;
        *head = d->next;
        d->queued = false;
        d->next = NULL;
    }
}

static void free_now(nipc_t *ipc, bool inside_loop);

static void on_check(uv_check_t *h)
{
    nipc_t *ipc = h->data;

    /* Writes first, so an event deferred this turn sees its emits already on the way. */
    while (ipc->dirty != NULL) {
        nipc_conn_t *c = ipc->dirty;
        ipc->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        nipc__conn_flush(c);
    }

    /* The calls queued so far: the list is taken whole, so calls queued meanwhile wait for
     * the next turn, and each is unlinked before it runs, so a call may cancel any other. */
    ipc->running = ipc->deferred;
    ipc->deferred = ipc->deferred_tail = NULL;
    while (ipc->running != NULL && !ipc->free_requested) {
        nipc_deferred_t *d = ipc->running;
        ipc->running = d->next;
        d->next = NULL;
        d->queued = false;
        d->fn(d);
    }
    if (ipc->free_requested) {
        free_now(ipc, true);
        return;
    }

    if (ipc->dirty == NULL && ipc->deferred == NULL)
        uv_idle_stop(&ipc->idle);
}

double nipc__random(nipc_t *ipc)
{
    if (!ipc->rng_seeded) {
        uint64_t seed;
        /* Synchronous (no callback): getrandom() where there is one, which needs no
         * descriptor, so a process out of them (EMFILE) still gets here. */
        if (uv_random(NULL, NULL, &seed, sizeof seed, 0, NULL) != 0)
            seed = uv_hrtime() ^ ((uint64_t)uv_os_getpid() << 32) ^ (uint64_t)(uintptr_t)ipc;
        ipc->rng = seed;
        ipc->rng_seeded = true;
    }
    uint64_t z = (ipc->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53; /* the top 53 bits: every double in [0, 1) exact */
}

void nipc__publish(nipc_t *ipc, nipc_events_t *t, const nipc_event_t *ev)
{
    if (nipc__gone(ipc))
        return;
    ipc->depth++;
    nipc__events_publish(t, ev);
    ipc->depth--;
}

json_t *nipc__drop_payload(nipc_loss_t loss, int reason)
{
    return json_pack("{s:I, s:I, s:s, s:s}", "frames", (json_int_t)loss.frames, "bytes",
                     (json_int_t)loss.bytes, "code", nipc_err_name(reason), "message",
                     nipc_strerror(reason));
}

void nipc__publish_drop(nipc_t *ipc, nipc_events_t *t, nipc_event_t *ev, nipc_loss_t loss,
                        int reason)
{
    if (loss.frames == 0 && loss.bytes == 0)
        return;
    nipc_log(ipc, "dropped %zu frames (%zu bytes) not written: %s", loss.frames, loss.bytes,
             nipc_strerror(reason));
    json_t *payload = nipc__drop_payload(loss, reason);
    ev->type = "drop";
    ev->data = payload;
    ev->status = reason;
    /* Published even while the instance is being freed (nipc__publish would not): a loss is
     * never silent. Calls from its handlers fail then with NIPC_EDESTROYED. */
    ipc->depth++;
    nipc__events_publish(t, ev);
    ipc->depth--;
    json_decref(payload);
}

int nipc__type_rules_apply(const nipc_t *ipc, const char *type)
{
    if (!ipc->cfg.allow_reserved_events && nipc__event_reserved(type))
        return NIPC_ERESERVED;
    return nipc__type_check(&ipc->rules, type, strlen(type));
}

int nipc__admit(const nipc_t *ipc, const char *type)
{
    if (type == NULL)
        return UV_EINVAL;
    /* A nipc receiver refuses these names (W14), and max_event_name and allowed_events bind
     * the receiver, so they bind the sender too. */
    int err = nipc__type_rules_apply(ipc, type);
    if (err == 0 && nipc__type_crashes_legacy(type))
        err = UV_EINVAL;
    return err;
}

int nipc__encode(const nipc_t *ipc, nipc_buf_t *out, const char *type, const json_t *data,
                 bool refer)
{
    const nipc_config_t *cfg = &ipc->cfg;
    int err = nipc__admit(ipc, type);
    if (err)
        return err;
    size_t mark = out->len, before = nipc__buf_queued(out);
    err = nipc__msg_encode_ref(out, type, data, cfg->legacy_data, cfg->delimiter, ipc->dlen, refer);
    if (err == 0 && nipc__buf_queued(out) - before - ipc->dlen > cfg->max_message_size) {
        nipc__buf_truncate(out, mark); /* a nipc receiver would close the connection on it */
        return UV_EMSGSIZE;
    }
    return err;
}

const nipc_codec_ops_t *nipc__codec_for(const nipc_config_t *cfg)
{
    return cfg->codec != NULL ? &nipc__custom_codec
           : cfg->raw_buffer  ? &nipc__raw_codec
                              : &nipc__json_codec;
}

void nipc__close_handle(nipc_t *ipc, uv_handle_t *h, uv_close_cb cb)
{
    ipc->pending_closes++;
    uv_close(h, cb);
}

static void finish_free(nipc_t *ipc)
{
    if (ipc->loop != NULL) /* the log was made: write what it holds */
        nipc__log_free(ipc);
    if (ipc->has_spare)
        close(ipc->spare_fd);
    nipc__tls_contexts_free(ipc);
    nipc__type_rules_free(&ipc->rules);
    nipc__config_free(&ipc->cfg);
    nipc__free(ipc);
}

void nipc__handle_closed(nipc_t *ipc)
{
    if (--ipc->pending_closes == 0 && ipc->freeing && !ipc->owns_loop)
        finish_free(ipc);
}

void nipc__free_handle(uv_handle_t *h)
{
    nipc_t *ipc = h->data;
    nipc__free(h);
    nipc__handle_closed(ipc);
}

static void on_own_handle_closed(uv_handle_t *h)
{
    nipc__handle_closed(h->data);
}

/*
 * A write to a peer that has gone raises SIGPIPE, whose default action kills the process:
 * a peer could crash us by closing at the right moment. Like Node, ignore it, but only when
 * the application has not chosen a disposition of its own.
 */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/*
 * jansson allocates through nipc's allocator, so that the out-of-memory tests reach its
 * allocations too. Its functions are process-wide: they are set only while they are still
 * jansson's defaults (malloc and free, which nipc's allocator calls), never over an
 * application's own.
 */
static void use_our_allocator(void)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (m == malloc && f == free)
        json_set_alloc_funcs(nipc__malloc, nipc__free);
}

/* secure_socket_root: $XDG_RUNTIME_DIR/nipc/ (an absolute one), else /tmp/nipc-<uid>/. */
static int secure_root(nipc_config_t *cfg)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char root[256];
    int n = xdg != NULL && xdg[0] == '/'
                ? snprintf(root, sizeof root, "%s/nipc/", xdg)
                : snprintf(root, sizeof root, "/tmp/nipc-%u/", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= sizeof root)
        return UV_ENAMETOOLONG;
    char *copy = nipc__strdup(root);
    if (copy == NULL)
        return UV_ENOMEM;
    nipc__free((char *)cfg->socket_root);
    cfg->socket_root = copy;
    return 0;
}

int nipc_new(nipc_t **out, uv_loop_t *loop, const nipc_config_t *cfg)
{
    nipc_config_t defaults;
    const char *why = NULL;
    int err;

    if (out == NULL)
        return UV_EINVAL;
    *out = NULL;
    if (cfg == NULL) {
        nipc_config_init(&defaults);
        cfg = &defaults;
    }
    if ((err = nipc__config_check(cfg, &why)) != 0) {
        if (!cfg->silent)
            fprintf(stderr, "nipc: %s\n", why);
        return err;
    }

    nipc_t *ipc = nipc__calloc(1, sizeof *ipc);
    if (ipc == NULL)
        return UV_ENOMEM;
    if ((err = nipc__config_copy(&ipc->cfg, cfg)) != 0) {
        nipc__free(ipc);
        return err;
    }
    if (ipc->cfg.secure_socket_root && (err = secure_root(&ipc->cfg)) != 0) {
        finish_free(ipc);
        return err;
    }
    /* A client's TLS configuration is checked now, once: a CA file that cannot be read
     * would otherwise fail every attempt of every client, retried for ever. (A server's is
     * checked by nipc_server_start, T6.) */
    struct nipc_tls_ctx *ctx;
    if (ipc->cfg.tls.enabled && (err = nipc__tls_context(ipc, false, &ctx)) != 0) {
        if (!cfg->silent)
            fprintf(stderr, "nipc: the TLS configuration is refused: %s\n", nipc_strerror(err));
        finish_free(ipc);
        return err;
    }
    ipc->dlen = strlen(ipc->cfg.delimiter);
    nipc__buf_init(&ipc->mail_buf);
    if (cfg->codec != NULL) { /* the instance keeps its own copy, as of every key */
        ipc->user_codec = *cfg->codec;
        ipc->cfg.codec = &ipc->user_codec;
    }
    ipc->codec = nipc__codec_for(&ipc->cfg);
    if (ipc->cfg.encoding != NULL)
        nipc__encoding_parse(ipc->cfg.encoding, &ipc->encoding); /* checked above */
    if ((err = nipc__type_rules_init(&ipc->rules, &ipc->cfg)) != 0) {
        finish_free(ipc);
        return err;
    }
    /* ANSI colours go to a terminal, or to a logger that asked for them; a log redirected to
     * a file stays plain text (node-ipc's util.inspect would colour it regardless). */
    ipc->log_color = ipc->cfg.log_in_color && (ipc->cfg.logger != NULL || isatty(STDOUT_FILENO));
    if (loop == NULL) {
        if ((err = uv_loop_init(&ipc->own_loop)) != 0) {
            finish_free(ipc);
            return err;
        }
        loop = &ipc->own_loop;
        ipc->owns_loop = true;
    }
    ipc->loop = loop;
    ignore_sigpipe();
    use_our_allocator();
    uv_check_init(loop, &ipc->check);
    uv_idle_init(loop, &ipc->idle);
    uv_idle_init(loop, &ipc->spin);
    uv_unref((uv_handle_t *)&ipc->spin);
    /* The receive deadlines' timer (conn.c): the connections it watches keep the loop
     * alive, never the timer itself. */
    uv_timer_init(loop, &ipc->deadline);
    uv_unref((uv_handle_t *)&ipc->deadline);
    ipc->check.data = ipc->idle.data = ipc->spin.data = ipc->deadline.data = ipc;
    uv_check_start(&ipc->check, on_check);
    uv_unref((uv_handle_t *)&ipc->check);
    nipc__log_init(ipc);
    *out = ipc;
    return 0;
}

/* The owned loop runs until the last close callback; then the instance is gone. */
static void finish_owned(nipc_t *ipc)
{
    while (ipc->pending_closes > 0)
        uv_run(&ipc->own_loop, UV_RUN_ONCE);
    uv_loop_close(&ipc->own_loop);
    finish_free(ipc);
}

/*
 * Reports what every connection still had queued, then closes everything. `inside_loop`:
 * called from the check callback (a nipc_free() made in a handler), where an owned loop
 * cannot be run again; nipc_run() then completes the free when the loop returns.
 */
static void free_now(nipc_t *ipc, bool inside_loop)
{
    ipc->freeing = true;
    ipc->free_requested = false;
    if (ipc->server != NULL)
        nipc__server_report_losses(ipc->server);
    for (nipc_client_t *cl = ipc->clients; cl != NULL; cl = nipc__client_next(cl))
        nipc__client_report_loss(cl);
    drop_deferred(&ipc->running);
    drop_deferred(&ipc->deferred);
    ipc->deferred_tail = NULL;
    if (ipc->server != NULL)
        nipc__server_teardown(ipc->server);
    while (ipc->clients != NULL)
        nipc__client_teardown(ipc->clients);
    /* The targets closed their mailboxes above, so no poster reaches the handle now. */
    nipc__mailboxes_free(ipc);
    if (ipc->mail_wake_open) {
        ipc->mail_wake_open = false;
        nipc__close_handle(ipc, (uv_handle_t *)&ipc->mail_wake, on_own_handle_closed);
    }
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->check, on_own_handle_closed);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->idle, on_own_handle_closed);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->spin, on_own_handle_closed);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->deadline, on_own_handle_closed);
    nipc__close_handle(ipc, nipc__log_handle(ipc), on_own_handle_closed);
    if (ipc->owns_loop && !inside_loop && !ipc->in_run)
        finish_owned(ipc);
}

void nipc_free(nipc_t *ipc)
{
    if (ipc == NULL || nipc__gone(ipc))
        return;
    if (ipc->depth > 0) {
        /* From a handler: the objects on the stack stay valid until it returns. */
        ipc->free_requested = true;
        wake(ipc);
        return;
    }
    free_now(ipc, false);
}

int nipc_run(nipc_t *ipc)
{
    if (ipc == NULL || ipc->freeing)
        return UV_EINVAL;
    if (!ipc->owns_loop) {
        uv_run(ipc->loop, UV_RUN_DEFAULT);
        return 0;
    }
    ipc->in_run = true;
    uv_run(ipc->loop, UV_RUN_DEFAULT);
    ipc->in_run = false;
    if (ipc->freeing) /* nipc_free() was called while it ran */
        finish_owned(ipc);
    else /* lines logged by the last callbacks, after the loop last waited */
        nipc_log_flush(ipc);
    return 0;
}

int nipc_stop(nipc_t *ipc)
{
    if (ipc == NULL || nipc__gone(ipc))
        return UV_EINVAL;
    if (ipc->server != NULL)
        nipc__server_shutdown(ipc->server);
    nipc_client_t *cl = ipc->clients;
    while (cl != NULL) {
        nipc_client_t *next = nipc__client_next(cl);
        nipc_client_close(cl, true);
        cl = next;
    }
    return 0;
}

uv_loop_t *nipc_loop(nipc_t *ipc)
{
    return ipc->loop;
}

const nipc_config_t *nipc_config(const nipc_t *ipc)
{
    return &ipc->cfg;
}

/* ---- logging (K3) ---------------------------------------------------------------------- */

int nipc__vpack(json_t **out, const char *fmt, va_list ap)
{
    json_error_t e;
    *out = json_vpack_ex(&e, 0, fmt, ap);
    if (*out != NULL)
        return 0;
    return json_error_code(&e) == json_error_out_of_memory ? UV_ENOMEM : UV_EINVAL;
}

json_t *nipc__error_payload(int err)
{
    return json_pack("{s:s, s:s, s:i}", "code", nipc_err_name(err), "message", nipc_strerror(err),
                     "errno", err);
}
