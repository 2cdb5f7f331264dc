#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// peer.js: one node-ipc peer for nipc's interop tests, driven by its arguments.
//
//   node peer.js --ver 10|9 --role ROLE [--path P] [options]
//
// stdout carries only JSON lines, one event each ({"ev": ...}); node-ipc's own logging is
// silenced (--verbose sends it to stderr instead). Every run ends by itself:
//
//   exit 0  the role finished as it should
//   exit 1  it failed (connection lost or refused, wrong count result, bad arguments, ...)
//   exit 2  the hard timeout (--timeout MS, default 20000) fired; {"ev":"timeout"} is printed
//   exit 3  an uncaught exception, printed as {"ev":"exception","message":...}; e.g. v10
//           throws when a peer sends an event whose "type" is not a string
//
// Roles (lines in the order they normally appear; "data" is the event's data as received):
//
//   server-echo         serve on --path with config.id = --id (default "world").
//     aliases:          server-flood-sink, server-counts-flood (same handlers).
//                       {"ev":"listening"}                       once, when listening
//                       {"ev":"connect"}                         each accepted client
//                       {"ev":"message","data":D}                each `message`; replies
//                                                                `message` with D + " world!"
//                                                                for a string, else {got: D}
//                       {"ev":"hello","data":D}                  each `hello`; replies with
//                                                                --news N `news` events
//                                                                {i, to: D.id} (emit to that
//                                                                socket, or broadcast with
//                                                                --broadcast)
//                       `count` {i} events are counted per socket, checking i = 0, 1, 2, ...
//                       {"ev":"count.result","received":n,"inOrder":b}
//                                                                on `count.done`, after
//                                                                replying `count.result`
//                                                                {received, inOrder}; the
//                                                                counter then restarts
//                       {"ev":"socket.disconnected","id":ID}     a client went away; ID is
//                                                                the last data.id it sent, or
//                                                                false
//                       {"ev":"end"}                             on `END`: stop, exit 0
//                       {"ev":"end","clients":N}                 with --clients N: after N
//                                                                socket.disconnected, exit 0
//     options: --max-connections N (config.maxConnections), --news N, --broadcast, --clients N
//
//   client-echo         connectTo(--server-id, --path); on connect emit `message`
//                       {id: ID, message: "hi"} then `message` "hello" (ID = --id, default
//                       "node"); after 2 `message` replies disconnect and exit 0.
//                       {"ev":"connect"} {"ev":"message","data":D} x2 {"ev":"done"}
//
//   client-flood        on connect emit --count N (default 100000) `count` events {i: k},
//                       k = 0..N-1, then `count.done` {}; wait for `count.result`.
//                       {"ev":"connect"} {"ev":"sent"} {"ev":"count.result","received":n,
//                       "inOrder":b}; exit 0 if received == N and inOrder, else exit 1.
//
//   client-recv         on every connect emit `hello` {id: ID}; print each `news` and
//                       `message` event; after --count N (default 1) of them, exit 0.
//                       {"ev":"connect"} {"ev":"news"|"message","data":D} ... {"ev":"done"}
//                       If the server closes the connection first: {"ev":"disconnect"}
//                       {"ev":"destroy"} and exit 0 if it had connected (the
//                       maxConnections test), exit 1 if it never did.
//
//   client-id-bye       on connect emit `message` {id: ID, message: "bye"}, wait --delay MS
//                       (default 100), disconnect, exit 0. Replies are ignored.
//                       {"ev":"connect"} {"ev":"done"}
//
//   info                print {"ev":"info","ver":V,"name":...,"version":...} and exit 0.
//
// All client roles also print {"ev":"error","code":C,"message":M} for socket errors (or
// {"ev":"error","data":D} for node-ipc's "Invalid JSON" pseudo-event), {"ev":"disconnect"}
// and {"ev":"destroy"}; a destroy before the role is done exits 1 (but see client-recv).
// The connect action of client-echo, client-flood and client-id-bye runs on the first
// connect only; client-recv says hello again after a reconnect.
//
// Client options:
//   --id ID          this client's id (config.id, sent as data.id), default "node"
//   --server-id SID  the name given to connectTo (a local key only), default "world"
//   --retry MS       config.retry; also turns retrying on (config.stopRetrying = false)
//   --max-retries N  config.maxRetries; also turns retrying on
//                    Without either, config.stopRetrying = true, so a missing server fails
//                    fast: {"ev":"error","code":"ENOENT"|"ECONNREFUSED",...} then exit 1.
//   --end            emit `END` before disconnecting (stops a Node server-echo)
// Common options:
//   --timeout MS     hard timeout, default 20000
//   --timing         add "ms" (milliseconds since the connect) to the sent / count.result lines
//   --verbose        node-ipc's log goes to stderr
//   On SIGTERM or SIGINT the peer prints {"ev":"signal","signal":S} and exits: 0 for a
//   server (after closing it), 1 for a client.
'use strict';

const fs = require('node:fs');
const { parseArgs } = require('node:util');
const { load, installed, VERSIONS } = require('./lib');

const SERVER_ROLES = ['server-echo', 'server-flood-sink', 'server-counts-flood'];
const CLIENT_ROLES = ['client-echo', 'client-flood', 'client-recv', 'client-id-bye'];
const ROLES = [...SERVER_ROLES, ...CLIENT_ROLES, 'info'];

// ---- output and exit -------------------------------------------------------------------

// One JSON object per line. Writes to a pipe or a file are synchronous on Linux, so
// process.exit() right after out() loses nothing.
function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

let exiting = false;
function finish(code) {
    exiting = true;
    process.exit(code);
}

function fail(message) {
    process.stderr.write(`peer.js: ${message}\n`);
    finish(1);
}

process.on('uncaughtException', (err) => {
    out({ ev: 'exception', message: String((err && err.message) || err) });
    finish(3);
});

// ---- arguments -------------------------------------------------------------------------

function parseCli(argv) {
    let parsed;
    try {
        parsed = parseArgs({
            args: argv,
            strict: true,
            options: {
                ver: { type: 'string' },
                role: { type: 'string' },
                path: { type: 'string' },
                id: { type: 'string' },
                'server-id': { type: 'string', default: 'world' },
                count: { type: 'string' },
                clients: { type: 'string' },
                news: { type: 'string', default: '0' },
                broadcast: { type: 'boolean', default: false },
                'max-connections': { type: 'string' },
                retry: { type: 'string' },
                'max-retries': { type: 'string' },
                delay: { type: 'string', default: '100' },
                timeout: { type: 'string', default: '20000' },
                end: { type: 'boolean', default: false },
                timing: { type: 'boolean', default: false },
                verbose: { type: 'boolean', default: false },
            },
        }).values;
    } catch (err) {
        fail(err.message);
    }

    const int = (name, min) => {
        const raw = parsed[name];
        if (raw === undefined) return undefined;
        if (!/^\d+$/.test(raw) || Number(raw) < min) {
            fail(`--${name} wants an integer >= ${min}, got '${raw}'`);
        }
        return Number(raw);
    };

    const o = {
        ver: parsed.ver,
        role: parsed.role,
        path: parsed.path,
        id: parsed.id,
        serverId: parsed['server-id'],
        count: int('count', 0),
        clients: int('clients', 1),
        news: int('news', 0),
        broadcast: parsed.broadcast,
        maxConnections: int('max-connections', 1),
        retry: int('retry', 0),
        maxRetries: int('max-retries', 0),
        delay: int('delay', 0),
        timeout: int('timeout', 1),
        end: parsed.end,
        timing: parsed.timing,
        verbose: parsed.verbose,
    };
    if (!VERSIONS.includes(o.ver)) fail(`--ver must be one of ${VERSIONS.join(', ')}`);
    if (!ROLES.includes(o.role)) fail(`--role must be one of ${ROLES.join(', ')}`);
    if (o.role !== 'info' && !o.path) fail('--path is required');
    return o;
}

// ---- helpers ---------------------------------------------------------------------------

function makeIpc(o, id) {
    const ipc = load(o.ver);
    ipc.config.id = id;
    ipc.config.silent = !o.verbose;
    ipc.config.logInColor = false;
    ipc.config.logger = (line) => process.stderr.write(`[node-ipc ${o.ver}] ${line}\n`);
    return ipc;
}

// A node-ipc "error" is either a socket Error or, for a frame that is not JSON, the data of
// its pseudo-event {message: 'Invalid JSON response format', err, response}.
function errorLine(err) {
    if (err instanceof Error) {
        return { ev: 'error', code: err.code, message: err.message };
    }
    const data = Object.assign({}, err);
    if (data.err !== undefined) data.err = String(data.err);
    return { ev: 'error', data };
}

// Resolves once every socket has handed its queued writes to the kernel (or after capMs).
function drained(sockets, capMs = 2000) {
    const pending = sockets.filter((s) => s && !s.destroyed && s.writableLength > 0);
    if (pending.length === 0) return Promise.resolve();
    const waits = pending.map((s) => new Promise((resolve) => {
        s.once('drain', resolve);
        s.once('close', resolve);
    }));
    const cap = new Promise((resolve) => setTimeout(resolve, capMs));
    return Promise.race([Promise.all(waits), cap]);
}

function withTiming(o, line, t0) {
    if (o.timing && t0 !== undefined) {
        line.ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10;
    }
    return line;
}

// ---- server roles ----------------------------------------------------------------------

function runServer(o) {
    const ipc = makeIpc(o, o.id ?? 'world');
    if (o.maxConnections !== undefined) ipc.config.maxConnections = o.maxConnections;

    let listening = false;
    let gone = 0;

    async function stop(line, code) {
        exiting = true;
        out(line);
        const sockets = ipc.server && ipc.server.sockets ? ipc.server.sockets.slice() : [];
        await drained(sockets);
        try {
            ipc.server.stop();
        } catch (_) { /* not started */ }
        try {
            fs.unlinkSync(o.path);
        } catch (_) { /* already gone */ }
        finish(code);
    }

    ipc.serve(o.path, () => {
        const server = ipc.server;
        listening = true;

        server.on('connect', () => out({ ev: 'connect' }));

        server.on('message', (data, socket) => {
            out({ ev: 'message', data });
            server.emit(socket, 'message', typeof data === 'string' ? data + ' world!' : { got: data });
        });

        server.on('hello', (data, socket) => {
            out({ ev: 'hello', data });
            const to = data && data.id !== undefined ? data.id : null;
            for (let i = 0; i < o.news; i++) {
                if (o.broadcast) {
                    server.broadcast('news', { i, to });
                } else {
                    server.emit(socket, 'news', { i, to });
                }
            }
        });

        // Flood check, kept on the socket so that several clients can flood at once.
        server.on('count', (data, socket) => {
            const st = socket.nipcCount || (socket.nipcCount = { received: 0, inOrder: true });
            if (!data || data.i !== st.received) st.inOrder = false;
            st.received++;
        });

        server.on('count.done', (data, socket) => {
            const st = socket.nipcCount || { received: 0, inOrder: true };
            socket.nipcCount = undefined;
            const result = { received: st.received, inOrder: st.inOrder };
            server.emit(socket, 'count.result', result);
            out({ ev: 'count.result', ...result });
        });

        server.on('socket.disconnected', (socket, id) => {
            out({ ev: 'socket.disconnected', id });
            gone++;
            if (o.clients !== undefined && gone >= o.clients && !exiting) {
                stop({ ev: 'end', clients: o.clients }, 0);
            }
        });

        server.on('END', () => {
            if (!exiting) stop({ ev: 'end' }, 0);
        });

        out({ ev: 'listening' });
    });

    ipc.server.on('error', (err) => {
        out(errorLine(err));
        if (!listening) finish(1); // e.g. EADDRINUSE, EACCES
    });

    ipc.server.start();

    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => {
            if (!exiting) stop({ ev: 'signal', signal: sig }, 0);
        });
    }
}

// ---- client roles ----------------------------------------------------------------------

function runClient(o) {
    const myId = o.id ?? 'node';
    const ipc = makeIpc(o, myId);
    const retrying = o.retry !== undefined || o.maxRetries !== undefined;
    ipc.config.stopRetrying = !retrying;
    if (o.retry !== undefined) ipc.config.retry = o.retry;
    if (o.maxRetries !== undefined) ipc.config.maxRetries = o.maxRetries;

    ipc.connectTo(o.serverId, o.path);
    const peer = ipc.of[o.serverId];

    let connected = false; // ever connected
    let started = false; // the role's one-time connect action ran
    let t0;

    // Leave: optionally say END, let queued writes reach the kernel, then disconnect and exit.
    async function leave(code) {
        if (exiting) return;
        exiting = true;
        if (o.end) peer.emit('END', {});
        if (peer.socket) await drained([peer.socket]);
        ipc.disconnect(o.serverId);
        finish(code);
    }

    peer.on('error', (err) => {
        if (!exiting) out(errorLine(err));
    });
    peer.on('disconnect', () => {
        if (!exiting) out({ ev: 'disconnect' });
    });
    peer.on('destroy', () => {
        if (exiting) return;
        out({ ev: 'destroy' });
        finish(o.role === 'client-recv' && connected ? 0 : 1);
    });

    const onConnect = {
        'client-echo'() {
            if (started) return;
            started = true;
            peer.emit('message', { id: myId, message: 'hi' });
            peer.emit('message', 'hello');
        },
        'client-flood'() {
            if (started) return;
            started = true;
            const n = o.count ?? 100000;
            // One emit per event, as a node-ipc application would send them; each is a
            // socket.write(), queued in user space while the kernel buffer is full.
            for (let i = 0; i < n; i++) {
                peer.emit('count', { i });
            }
            peer.emit('count.done', {});
            out(withTiming(o, { ev: 'sent' }, t0));
        },
        'client-recv'() {
            peer.emit('hello', { id: myId });
            if ((o.count ?? 1) === 0) {
                out({ ev: 'done' });
                leave(0);
            }
        },
        'client-id-bye'() {
            if (started) return;
            started = true;
            peer.emit('message', { id: myId, message: 'bye' });
            setTimeout(() => {
                out({ ev: 'done' });
                leave(0);
            }, o.delay);
        },
    }[o.role];

    peer.on('connect', () => {
        if (exiting) return;
        connected = true;
        if (t0 === undefined) t0 = process.hrtime.bigint();
        out({ ev: 'connect' });
        onConnect();
    });

    if (o.role === 'client-echo') {
        let replies = 0;
        peer.on('message', (data) => {
            if (exiting) return;
            out({ ev: 'message', data });
            if (++replies === 2) {
                out({ ev: 'done' });
                leave(0);
            }
        });
    }

    if (o.role === 'client-flood') {
        const n = o.count ?? 100000;
        peer.on('count.result', (data) => {
            if (exiting) return;
            const fields = data && typeof data === 'object' ? data : { data };
            out(withTiming(o, { ev: 'count.result', ...fields }, t0));
            leave(fields.received === n && fields.inOrder === true ? 0 : 1);
        });
    }

    if (o.role === 'client-recv') {
        const n = o.count ?? 1;
        let got = 0;
        for (const type of ['news', 'message']) {
            peer.on(type, (data) => {
                if (exiting) return;
                out({ ev: type, data });
                if (++got === n) {
                    out({ ev: 'done' });
                    leave(0);
                }
            });
        }
    }

    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => {
            if (exiting) return;
            out({ ev: 'signal', signal: sig });
            finish(1);
        });
    }
}

// ---- main ------------------------------------------------------------------------------

function main() {
    const o = parseCli(process.argv.slice(2));

    // The hard timeout stays referenced, so it also ends a run whose event loop would
    // otherwise sit idle.
    setTimeout(() => {
        out({ ev: 'timeout' });
        finish(2);
    }, o.timeout);

    if (o.role === 'info') {
        out({ ev: 'info', ver: o.ver, ...installed(o.ver) });
        finish(0);
    } else if (SERVER_ROLES.includes(o.role)) {
        runServer(o);
    } else {
        runClient(o);
    }
}

main();
