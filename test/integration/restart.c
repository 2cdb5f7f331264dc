/* SPDX-License-Identifier: MIT */
/*
 * A server killed (SIGKILL) in the middle of a stream and started again at the same place,
 * over a Unix socket, TCP on 127.0.0.1 and ::1, and TLS. The server is a forked child
 * process that reports every event it receives, as it receives it, on a pipe; the client,
 * in the test process, emits numbered events at a steady rate throughout, with backoff and
 * jitter on its reconnects.
 *
 * What nipc.h promises, and so what is asserted: on a connection that stays up nothing is
 * lost, reordered or duplicated; frames emitted while connecting are kept across failed
 * attempts and written once connected (C13); emits between attempts are refused
 * (UV_ENOTCONN), never queued; a frame accepted and then discarded by nipc is reported by
 * `drop`. Frames nipc had already written when the server died were in the kernel's socket
 * buffers or the dead process: lost, and reported by nobody, which is why TCP and Unix
 * sockets give no more. Hence, counting across both server lifetimes:
 *
 *  - no event is delivered twice, and none that an emit refused is delivered;
 *  - the first server got a prefix, in order, of what was accepted before the loss;
 *  - the second got exactly, in order, everything accepted after the loss (queued while
 *    reconnecting, or emitted on the new connection), up to the flushing close;
 *  - `drop` never reports more frames than the first server missed (the frames emitted
 *    after the server was dead are reported when the client read the end before writing
 *    them; a write the kernel took first is TCP's to lose);
 *  - the client reconnected within one capped wait of the second server listening.
 *
 * The server process does not use Criterion (see prefork.c): it reports with its exit
 * status, runs LeakSanitizer on itself under AddressSanitizer, and ends with _exit().
 */
#include "../support/transport.h"

#include <signal.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__)
#define RESTART_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RESTART_LSAN 1
#endif
#endif
#if defined(RESTART_LSAN)
#include <sanitizer/lsan_interface.h>
#endif

/* ---- fixture --------------------------------------------------------------------------- */

#define SERVER_BOUND_MS 20000 /* a server process never outlives this */

/* Static, so that what a server process inherits stays reachable there (nipc.h's rule). */
static uv_loop_t loop;
static char dir[64];
static pid_t servers[2];
static int reports[2] = {-1, -1}; /* the read ends of the servers' pipes */

static void setup(void)
{
    cr_assert_eq(uv_loop_init(&loop), 0);
    th_tmpdir(dir);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (servers[i] > 0) {
            kill(servers[i], SIGKILL);
            waitpid(servers[i], NULL, 0);
        }
        if (reports[i] >= 0)
            close(reports[i]);
    }
    th_loop_close(&loop);
    th_rmdir(dir);
}

TestSuite(restart, .init = setup, .fini = teardown, .timeout = 60);

/* ---- the server process ---------------------------------------------------------------- */

enum { SV_OK, SV_LOOP_FORK, SV_NEW, SV_SERVE, SV_START, SV_REPORT, SV_BOUND, SV_LEAKED };

static const char *sv_status_name(int st)
{
    static const char *names[] = {"ok",
                                  "uv_loop_fork failed",
                                  "nipc_new failed",
                                  "serve failed",
                                  "nipc_server_start failed",
                                  "a report could not be written",
                                  "still running at its time bound",
                                  "LeakSanitizer found leaks"};
    return st >= 0 && st < (int)(sizeof names / sizeof names[0]) ? names[st] : "?";
}

#define SV_LISTENING (-1) /* reported on `start`; any other report is an event's seq */

static struct {
    nipc_t *ipc;
    uv_signal_t term;
    uv_timer_t bound;
    int out;
    bool ending;
    int status;
} sv;

static void sv_end(int status)
{
    if (sv.ending)
        return;
    sv.ending = true;
    if (sv.status == SV_OK)
        sv.status = status;
    uv_close((uv_handle_t *)&sv.term, NULL);
    uv_close((uv_handle_t *)&sv.bound, NULL);
    nipc_stop(sv.ipc);
}

/* One report, written before the handler returns: a SIGKILL loses none that was made. */
static void sv_report(int32_t v)
{
    const char *p = (const char *)&v;
    size_t n = sizeof v;
    while (n > 0) {
        ssize_t w = write(sv.out, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            sv_end(SV_REPORT);
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

static void sv_on_start(const nipc_event_t *ev, void *arg)
{
    (void)ev;
    (void)arg;
    sv_report(SV_LISTENING);
}

static void sv_on_n(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    sv_report((int32_t)json_integer_value(json_object_get(ev->data, "seq")));
}

static void sv_on_term(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    sv_end(SV_OK);
}

static void sv_on_bound(uv_timer_t *t)
{
    (void)t;
    sv_end(SV_BOUND);
}

static int sv_serve(const th_transport_t *t, int port)
{
    nipc_config_t cfg;
    nipc_server_t *s;
    th_config(&cfg);
    if (nipc_new(&sv.ipc, NULL, &cfg) != 0)
        return SV_NEW;
    int st = th_serve_at(sv.ipc, t, dir, "restart.sock", port, &s) != 0 ? SV_SERVE : SV_OK;
    if (st == SV_OK) {
        nipc_server_on(s, "start", sv_on_start, NULL);
        nipc_server_on(s, "n", sv_on_n, NULL);
        st = nipc_server_start(s) != 0 ? SV_START : SV_OK;
    }
    if (st == SV_OK) {
        uv_signal_init(nipc_loop(sv.ipc), &sv.term);
        uv_signal_start(&sv.term, sv_on_term, SIGTERM);
        uv_timer_init(nipc_loop(sv.ipc), &sv.bound);
        uv_timer_start(&sv.bound, sv_on_bound, SERVER_BOUND_MS, 0);
        nipc_run(sv.ipc);
        st = sv.status;
    }
    nipc_free(sv.ipc);
    return st;
}

/* Forks server k on the transport's endpoint (dir/restart.sock, or loopback:port). */
static void fork_server(int k, const th_transport_t *t, int port)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        for (int i = 0; i < 2; i++)
            if (reports[i] >= 0)
                close(reports[i]);
        sv.out = p[1];
        int st = uv_loop_fork(&loop) != 0 ? SV_LOOP_FORK : sv_serve(t, port);
#if defined(RESTART_LSAN)
        if (st == SV_OK && __lsan_do_recoverable_leak_check() != 0)
            st = SV_LEAKED;
#endif
        _exit(st);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    servers[k] = pid;
    reports[k] = p[0];
}

/* ---- the streaming client -------------------------------------------------------------- */

#define SEQ_MAX 200000
#define BATCH 4             /* emits per tick of 1 ms */
#define FIRST_LIFE 300      /* events the first server reports before it is killed */
#define FAILED_ATTEMPTS 3   /* failed attempts before the second server starts */
#define AFTER_RECONNECT 500 /* events accepted on the new connection before the close */
#define RETRY_MAX_MS 160    /* the client's cap: it reconnects within one such wait */

enum outcome { UNTRIED, BEFORE_LOSS, AFTER_LOSS, REFUSED };

enum phase { STREAMING, SERVER_GONE, RESTARTED, RECONNECTED, CLOSING, SERVER_ENDING, DONE };

static struct {
    const th_transport_t *t;
    int port;
    nipc_t *ipc;
    nipc_client_t *c;
    uv_timer_t tick;
    enum phase phase;
    bool done;
    int32_t next; /* the seq of the next emit */
    int8_t outcome[SEQ_MAX];
    uint8_t delivered[SEQ_MAX]; /* how many times a server reported it */
    int32_t life[2][SEQ_MAX];   /* the seqs each server reported, in order */
    int nlife[2];
    char carry[2][4]; /* a report read in part */
    int ncarry[2];
    bool listening[2], eof[2];
    uint64_t listening_at[2];
    int connects, errors, errors_at_kill, refused, accepted_after_connect;
    bool lost;      /* the first connection was lost (its `disconnect` came) */
    bool destroyed; /* the client's `destroy`, after its flushing close */
    long long dropped_frames;
    int drops;
    uint64_t killed_at, reconnected_at;
    int refused_code; /* the code of the refusals (UV_ENOTCONN expected) */
} st;

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void read_reports(int k)
{
    if (reports[k] < 0 || st.eof[k])
        return;
    char buf[4096];
    for (;;) {
        ssize_t r = read(reports[k], buf, sizeof buf);
        if (r == 0) {
            st.eof[k] = true;
            return;
        }
        if (r < 0)
            return; /* EAGAIN: all read for now */
        for (ssize_t i = 0; i < r; i++) {
            st.carry[k][st.ncarry[k]++] = buf[i];
            if (st.ncarry[k] < 4)
                continue;
            st.ncarry[k] = 0;
            int32_t v;
            memcpy(&v, st.carry[k], sizeof v);
            if (v == SV_LISTENING) {
                st.listening[k] = true;
                st.listening_at[k] = now_ms();
            } else if (v >= 0 && v < SEQ_MAX) {
                st.delivered[v]++;
                st.life[k][st.nlife[k]++] = v;
            } else {
                st.delivered[0] = 100; /* a report that names no seq: fails the test */
            }
        }
    }
}

static void emit_batch(void)
{
    for (int i = 0; i < BATCH && st.next < SEQ_MAX; i++) {
        int32_t seq = st.next++;
        int err = nipc_client_emitf(st.c, "n", "{s:i}", "seq", (int)seq);
        if (err == 0) {
            st.outcome[seq] = st.lost ? AFTER_LOSS : BEFORE_LOSS;
            st.accepted_after_connect += st.connects >= 2;
        } else {
            st.outcome[seq] = REFUSED;
            st.refused++;
            st.refused_code = err;
        }
    }
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
    read_reports(0);
    read_reports(1);
    switch (st.phase) {
    case STREAMING:
        if (st.connects >= 1)
            emit_batch();
        if (st.nlife[0] >= FIRST_LIFE) {
            kill(servers[0], SIGKILL);
            st.killed_at = now_ms();
            st.errors_at_kill = st.errors;
            st.phase = SERVER_GONE;
            /* Dead, its sockets closed: what is emitted now is accepted (the client has not
             * read the end yet) and can never be written, so it must come back as `drop`. */
            int status;
            cr_assert_eq(waitpid(servers[0], &status, 0), servers[0]);
            cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
            servers[0] = 0;
            emit_batch();
        }
        break;
    case SERVER_GONE:
        emit_batch();
        /* The client has failed a few attempts: its waits grew (20, 40, 80 ms). */
        if (st.errors - st.errors_at_kill >= FAILED_ATTEMPTS) {
            fork_server(1, st.t, st.port);
            st.phase = RESTARTED;
        }
        break;
    case RESTARTED:
        emit_batch();
        if (st.connects >= 2) {
            st.reconnected_at = now_ms();
            st.phase = RECONNECTED;
        }
        break;
    case RECONNECTED:
        emit_batch();
        if (st.accepted_after_connect >= AFTER_RECONNECT || st.next >= SEQ_MAX) {
            cr_assert_eq(nipc_client_close(st.c, true), 0);
            st.phase = CLOSING;
        }
        break;
    case CLOSING:
        if (st.destroyed) {
            kill(servers[1], SIGTERM);
            st.phase = SERVER_ENDING;
        }
        break;
    case SERVER_ENDING:
        if (st.eof[1]) {
            uv_timer_stop(&st.tick);
            st.phase = DONE;
            st.done = true;
            uv_stop(&loop); /* else this turn's poll waits for th_run_until's deadline */
        }
        break;
    case DONE:
        break;
    }
}

static void on_client_event(const nipc_event_t *ev, void *arg)
{
    (void)arg;
    if (strcmp(ev->type, "connect") == 0) {
        st.connects++;
    } else if (strcmp(ev->type, "disconnect") == 0) {
        if (st.connects >= 1)
            st.lost = true;
    } else if (strcmp(ev->type, "error") == 0) {
        st.errors++;
    } else if (strcmp(ev->type, "drop") == 0) {
        st.drops++;
        st.dropped_frames += (long long)json_integer_value(json_object_get(ev->data, "frames"));
    } else if (strcmp(ev->type, "destroy") == 0) {
        st.destroyed = true;
    }
}

/* Waits for server k's exit; returns its wait status. */
static int reap(int k)
{
    int status = 0;
    pid_t got = 0;
    for (int tries = 0; tries < 1000 && got == 0; tries++) {
        got = waitpid(servers[k], &status, WNOHANG);
        if (got == 0)
            usleep(5000);
    }
    cr_assert_eq(got, servers[k], "server %d did not end within 5 s", k + 1);
    servers[k] = 0;
    return status;
}

ParameterizedTestParameters(restart, a_server_killed_mid_stream_and_started_again)
{
    TH_NIPC_TRANSPORT_PARAMS();
}

ParameterizedTest(th_transport_t *t, restart, a_server_killed_mid_stream_and_started_again)
{
    st.t = t;
    st.port = th_unused_port(t, dir);
    if (t->kind == TH_TLS)
        (void)th_tls_dir(); /* the certificates, made before the servers fork */

    fork_server(0, t, st.port);
    for (int i = 0; i < 1000 && !st.listening[0]; i++) {
        read_reports(0);
        usleep(2000);
    }
    cr_assert(st.listening[0], "%s: the first server did not start", t->name);

    nipc_config_t cfg;
    th_config(&cfg);
    cfg.retry = 20;
    cfg.retry_backoff = 2;
    cfg.retry_max_ms = RETRY_MAX_MS;
    cfg.retry_jitter = 0.25;
    cr_assert_eq(nipc_new(&st.ipc, &loop, &cfg), 0);
    int err = th_connect_raw(st.ipc, t, "server", dir, "restart.sock", st.port, &st.c);
    cr_assert_eq(err, 0, "%s: connect: %s", t->name, nipc_strerror(err));
    static const char *const kinds[] = {"connect", "disconnect", "error", "drop", "destroy"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        nipc_client_on(st.c, kinds[i], on_client_event, NULL);
    uv_timer_init(&loop, &st.tick);
    uv_timer_start(&st.tick, on_tick, 1, 1);
    th_run_until(&loop, &st.done, 40000);
    uv_close((uv_handle_t *)&st.tick, NULL);
    cr_assert(st.done, "%s: stuck in phase %d: %d connects, %d errors, %d + %d reported", t->name,
              (int)st.phase, st.connects, st.errors, st.nlife[0], st.nlife[1]);

    int s2 = reap(1);
    cr_assert(WIFEXITED(s2), "%s: the second server died of signal %d", t->name,
              WIFSIGNALED(s2) ? WTERMSIG(s2) : 0);
    cr_assert_eq(WEXITSTATUS(s2), SV_OK, "%s: the second server: %s", t->name,
                 sv_status_name(WEXITSTATUS(s2)));
    read_reports(0);
    cr_assert(st.listening[1], "%s: the second server never said it listened", t->name);

    /* Never twice, never one that was refused. */
    int a1 = 0, a2 = 0;
    for (int32_t s = 0; s < st.next; s++) {
        cr_assert_leq(st.delivered[s], 1, "%s: event %d delivered %d times", t->name, (int)s,
                      (int)st.delivered[s]);
        if (st.delivered[s])
            cr_assert(st.outcome[s] == BEFORE_LOSS || st.outcome[s] == AFTER_LOSS,
                      "%s: event %d was delivered, but its emit was refused", t->name, (int)s);
        a1 += st.outcome[s] == BEFORE_LOSS;
        a2 += st.outcome[s] == AFTER_LOSS;
    }
    /* The first server: a prefix of what was accepted before the loss, in order. */
    int k = 0;
    for (int32_t s = 0; s < st.next && k < st.nlife[0]; s++) {
        if (st.outcome[s] != BEFORE_LOSS)
            continue;
        cr_assert_eq(st.life[0][k], s, "%s: the first server's report %d is %d, not %d", t->name, k,
                     (int)st.life[0][k], (int)s);
        k++;
    }
    cr_assert_eq(k, st.nlife[0], "%s", t->name);
    /* The second: everything accepted after the loss, in order, none missing. */
    k = 0;
    for (int32_t s = 0; s < st.next; s++) {
        if (st.outcome[s] != AFTER_LOSS)
            continue;
        cr_assert_lt(k, st.nlife[1], "%s: event %d, accepted after the loss, never arrived",
                     t->name, (int)s);
        cr_assert_eq(st.life[1][k], s, "%s: the second server's report %d is %d, not %d", t->name,
                     k, (int)st.life[1][k], (int)s);
        k++;
    }
    cr_assert_eq(k, st.nlife[1], "%s: the second server got events never accepted", t->name);
    cr_assert_geq(st.accepted_after_connect, AFTER_RECONNECT, "%s", t->name);
    /* A drop is a frame nipc discarded: never one the first server had. (A failed write
     * counts its frames whole, and part of it may have arrived; at this rate the socket
     * buffers never fill, so no write is ever partial.) */
    int missed = a1 - st.nlife[0];
    cr_assert_leq(st.dropped_frames, missed, "%s: %lld frames dropped, but only %d missed", t->name,
                  st.dropped_frames, missed);
    /* The batch emitted after the kill is reported when the client read the end of file
     * before it wrote the batch (hostile.c's a_peer_gone_after_its_request_has_its_answer_
     * reported holds that order): if the batch went into the kernel first, TCP lost it
     * where nobody can see, as any write just before a crash. */
    cr_log_info("%s: %lld frames dropped of the batch of %d emitted after the kill", t->name,
                st.dropped_frames, BATCH);
    /* Between attempts emits are refused, never queued. */
    cr_assert_gt(st.refused, 0, "%s: no emit was refused while the server was away", t->name);
    cr_assert_eq(st.refused_code, UV_ENOTCONN, "%s: %s", t->name, nipc_err_name(st.refused_code));
    /* Reconnected as configured: within one capped wait of the server listening. */
    int64_t late = (int64_t)st.reconnected_at - (int64_t)st.listening_at[1];
    cr_assert_lt(late, RETRY_MAX_MS + 150, "%s: reconnected %lld ms after the server listened",
                 t->name, (long long)late);

    cr_log_info("%s: first server got %d of %d accepted before the kill (%d lost: %lld dropped, "
                "%lld in the kernel or the dead process); %d refused between attempts; second "
                "server got %d of %d accepted after (%d queued while reconnecting); reconnected "
                "%lld ms after it listened, %llu ms after the kill",
                t->name, st.nlife[0], a1, missed, st.dropped_frames,
                (long long)missed - st.dropped_frames, st.refused, st.nlife[1], a2,
                a2 - st.accepted_after_connect, (long long)late,
                (unsigned long long)(st.reconnected_at - st.killed_at));
    nipc_free(st.ipc);
}
