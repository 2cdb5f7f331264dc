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
#include "internal.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

struct nipc_deferred {
    nipc_deferred_t *next;
    nipc_deferred_cb fn;
    void *arg;
};

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

int nipc__defer(nipc_t *ipc, nipc_deferred_cb fn, void *arg)
{
    nipc_deferred_t *d = nipc__calloc(1, sizeof *d);
    if (d == NULL)
        return UV_ENOMEM;
    d->fn = fn;
    d->arg = arg;
    if (ipc->deferred_tail != NULL)
        ipc->deferred_tail->next = d;
    else
        ipc->deferred = d;
    ipc->deferred_tail = d;
    wake(ipc);
    return 0;
}

void nipc__defer_cancel(nipc_t *ipc, void *arg)
{
    nipc_deferred_t **link = &ipc->deferred;
    ipc->deferred_tail = NULL;
    while (*link != NULL) {
        nipc_deferred_t *d = *link;
        if (d->arg == arg) {
            *link = d->next;
            nipc__free(d);
        } else {
            ipc->deferred_tail = d;
            link = &d->next;
        }
    }
}

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

    /* The calls queued so far, popped one at a time from the live list so that a call may
     * cancel later ones (its object is going away); calls queued meanwhile wait a turn. */
    nipc_deferred_t *last = ipc->deferred_tail;
    while (last != NULL && ipc->deferred != NULL) {
        nipc_deferred_t *d = ipc->deferred;
        ipc->deferred = d->next;
        if (ipc->deferred == NULL)
            ipc->deferred_tail = NULL;
        bool was_last = d == last;
        d->fn(d->arg);
        nipc__free(d);
        if (was_last)
            break;
    }

    if (ipc->dirty == NULL && ipc->deferred == NULL)
        uv_idle_stop(&ipc->idle);
}

void nipc__close_handle(nipc_t *ipc, uv_handle_t *h, uv_close_cb cb)
{
    ipc->pending_closes++;
    uv_close(h, cb);
}

static void finish_free(nipc_t *ipc)
{
    nipc__config_free(&ipc->cfg);
    nipc__free(ipc);
}

void nipc__handle_closed(nipc_t *ipc)
{
    if (--ipc->pending_closes == 0 && ipc->freeing && !ipc->owns_loop)
        finish_free(ipc);
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
    ipc->dlen = strlen(ipc->cfg.delimiter);
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
    uv_check_init(loop, &ipc->check);
    uv_idle_init(loop, &ipc->idle);
    uv_idle_init(loop, &ipc->spin);
    uv_unref((uv_handle_t *)&ipc->spin);
    ipc->check.data = ipc->idle.data = ipc->spin.data = ipc;
    uv_check_start(&ipc->check, on_check);
    uv_unref((uv_handle_t *)&ipc->check);
    *out = ipc;
    return 0;
}

void nipc_free(nipc_t *ipc)
{
    if (ipc == NULL || ipc->freeing)
        return;
    ipc->freeing = true;
    while (ipc->deferred != NULL) {
        nipc_deferred_t *d = ipc->deferred;
        ipc->deferred = d->next;
        nipc__free(d);
    }
    ipc->deferred_tail = NULL;
    if (ipc->server != NULL)
        nipc__server_teardown(ipc->server);
    while (ipc->clients != NULL)
        nipc__client_teardown(ipc->clients);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->check, on_own_handle_closed);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->idle, on_own_handle_closed);
    nipc__close_handle(ipc, (uv_handle_t *)&ipc->spin, on_own_handle_closed);
    if (ipc->owns_loop) {
        while (ipc->pending_closes > 0)
            uv_run(&ipc->own_loop, UV_RUN_ONCE);
        uv_loop_close(&ipc->own_loop);
        finish_free(ipc);
    }
}

int nipc_run(nipc_t *ipc)
{
    return uv_run(ipc->loop, UV_RUN_DEFAULT);
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

bool nipc__log_on(const nipc_t *ipc)
{
    return !ipc->cfg.silent;
}

static void emit_line(nipc_t *ipc, const char *line)
{
    if (ipc->cfg.logger != NULL) {
        ipc->cfg.logger(line, ipc->cfg.logger_arg);
    } else {
        fputs(line, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
}

void nipc_log(nipc_t *ipc, const char *fmt, ...)
{
    char small[512];
    if (!nipc__log_on(ipc))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        emit_line(ipc, small);
        return;
    }
    char *big = nipc__malloc((size_t)n + 1);
    if (big == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    emit_line(ipc, big);
    nipc__free(big);
}

void nipc__log_json(nipc_t *ipc, const char *prefix, const json_t *v)
{
    if (!nipc__log_on(ipc))
        return;
    nipc_buf_t b;
    nipc__buf_init(&b);
    if (nipc__buf_append(&b, prefix, strlen(prefix)) == 0 && nipc__buf_append(&b, " ", 1) == 0 &&
        nipc__log_render(&b, v, ipc->cfg.log_depth, ipc->cfg.log_in_color) == 0 &&
        nipc__buf_append(&b, "", 1) == 0)
        emit_line(ipc, b.data);
    nipc__buf_free(&b);
}

json_t *nipc__error_payload(int err)
{
    return json_pack("{s:s, s:s, s:i}", "code", nipc_err_name(err), "message", nipc_strerror(err),
                     "errno", err);
}
