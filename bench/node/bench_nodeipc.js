#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// bench_nodeipc.js: node-ipc (@achrinza/node-ipc 10.1.11, the copy installed for the interop
// tests) in nipc's benchmark suite, with the same command line and output as the C programs
// (bench/README.md):
//
//   node bench_nodeipc.js server|client --transport unix|tcp|tls --endpoint PATH|HOST:PORT
//        --test throughput|sweep|doubles|raw|latency|broadcast|idle|handshakes|echo [--count N]
//        [--size N] [--clients N] [--seconds S] [--certs DIR] [--shapes FILE --shape NAME]
//
// Its best honest configuration: config.silent = true, one emit per event (node-ipc has no
// batching API), the default delimiter framing. The server uses serve(path) or
// serveNet(host, port); the client connectTo / connectToNet with stopRetrying (a lost
// connection is a failure, not something to retry). Over tls, config.tls is set as node-ipc's
// TLSSocket examples do: the server's public/private are DIR/server.pem and DIR/server.key
// (--certs DIR, made by test/support/certs.sh), the client's trustedConnections DIR/ca.pem
// with rejectUnauthorized, so it verifies the server against the address it connects to. A client that streams (throughput,
// sweep) emits without waiting for the server, and only yields when its socket asks it to
// (writableNeedDrain), as any Node writer must to keep memory bounded.
//
// Tests:
//   throughput, sweep  the client emits --count `m` {i, s} (s = "hello", or --size 'x' for
//                      sweep), then `done` {n}; the server checks i = 0, 1, 2, ... and n and
//                      prints the result, timed from the first bytes received to `done`.
//   doubles            the same with {i, d}, d a row of eight doubles of the pool that
//                      bench/doubles.h describes, taken in turn; the server also checks that
//                      every double arrived as sent.
//   raw                both sides with rawBuffer: true (and node-ipc's default encoding, utf8):
//                      the client emits --count Buffers of --size bytes of the stream that
//                      bench/pattern.h describes (emit(buffer), which node-ipc copies with
//                      Buffer.from), and the server checks and counts the bytes of its `data`
//                      events, timed from the first to the one that completes the stream.
//   latency            ping {i} -> pong {i}, --count round trips, each timed with
//                      process.hrtime.bigint(); the client prints p50/p99/p99.9 in ns.
//   echo               the client emits --count `e` events, event N the value N mod n of the
//                      shape --shape of the file --shapes (bench/shapes.json, read by
//                      ./shapes.js) with i = N, at most ECHO_WINDOW in flight; the server
//                      emits each event's data back as it received it; the client checks
//                      that every echo is the next and that every 64th is the value sent, and
//                      prints {count, seconds, bytes}, timed from the first emit to the last echo.
//   broadcast          the client process opens --clients connections, one IPCModule each;
//                      once the server has them all it calls server.broadcast('m', {i}) --count
//                      times; every connection checks its sequence; timed from the first bytes
//                      received to the last event.
//   idle               --clients connections, each says `hello` and waits for `ok`; held until
//                      --seconds.
//   handshakes         --count connections one after another (tcp or tls), each a fresh
//                      IPCModule: connect (and handshake), ping {i} -> pong {i}, disconnect,
//                      and the next once the socket has closed; the client prints
//                      {count, seconds}.
//
// node-ipc's receiver (its "legacy" framing) parses nothing until a read happens to end on
// the delimiter: it keeps appending to a buffer meanwhile. That is its real behaviour; if it
// stalls, --seconds (default 60) ends the run and the measuring side prints its partial
// result with "timedOut":true. The side that does not measure prints {"ev":"cpu","cpu_ns":N}
// when it is done. CPU time is process.cpuUsage() (user + system). Exit: 0 done, 1 a check
// failed or a connection broke, 2 bad arguments, 3 an exception.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { IPCModule } = require(path.join(__dirname, '../../test/interop/node/node_modules/node-ipc-10'));
const { ECHO_WINDOW, ECHO_CHECK_EVERY, loadShapes, frameBytes } = require('./shapes.js');

const SERVER_ID = 'bench';

// ---- output, exit ----------------------------------------------------------------------

// Writes to a pipe or a file are synchronous on Linux: process.exit() loses nothing.
function out(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function cpuNs() {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
}

let unixPath = null; // server: its socket file, removed on exit

function exit(code) {
    if (unixPath) {
        try {
            fs.unlinkSync(unixPath);
        } catch (_) { /* gone already */ }
    }
    process.exit(code);
}

function fail(message, code = 1) {
    out({ ev: 'error', message });
    exit(code);
}

function doneCpu() {
    out({ ev: 'cpu', cpu_ns: cpuNs() });
    exit(0);
}

process.on('uncaughtException', (err) => {
    out({ ev: 'error', message: `exception: ${(err && err.stack) || err}` });
    exit(3);
});

// ---- arguments -------------------------------------------------------------------------

function parseCli(argv) {
    const role = argv[0];
    if (role !== 'server' && role !== 'client') {
        fail('usage: bench_nodeipc.js server|client --transport unix|tcp --endpoint E --test T '
            + '[--count N] [--size N] [--clients N] [--seconds S] [--shapes FILE --shape NAME]', 2);
    }
    let v;
    try {
        v = parseArgs({
            args: argv.slice(1),
            strict: true,
            options: {
                transport: { type: 'string' },
                endpoint: { type: 'string' },
                test: { type: 'string' },
                count: { type: 'string' },
                size: { type: 'string', default: '1024' },
                clients: { type: 'string' },
                seconds: { type: 'string', default: '60' },
                certs: { type: 'string' },
                shapes: { type: 'string' },
                shape: { type: 'string' },
            },
        }).values;
    } catch (err) {
        fail(err.message, 2);
    }
    const int = (name) => {
        if (v[name] === undefined) return undefined;
        if (!/^\d+$/.test(v[name])) fail(`--${name} wants a non-negative integer, got '${v[name]}'`, 2);
        return Number(v[name]);
    };
    if (!['unix', 'tcp', 'tls'].includes(v.transport)) fail('--transport must be unix, tcp or tls', 2);
    if (v.transport === 'tls' && !v.certs) fail('--transport tls needs --certs DIR', 2);
    if (!v.endpoint) fail('--endpoint is required', 2);
    const tests = ['throughput', 'sweep', 'doubles', 'raw', 'latency', 'broadcast', 'idle', 'handshakes', 'echo'];
    if (!tests.includes(v.test)) fail(`--test must be one of ${tests.join(', ')}`, 2);
    const seconds = Number(v.seconds);
    if (!(seconds > 0)) fail(`--seconds wants a positive number, got '${v.seconds}'`, 2);
    const defaults = {
        throughput: 1000000, sweep: 10000, doubles: 100000, raw: 10000, latency: 100000, broadcast: 10000, idle: 0,
        handshakes: 1000, echo: 100000,
    };
    const o = {
        server: role === 'server',
        tcp: v.transport !== 'unix', // tcp or tls
        tls: v.transport === 'tls',
        certs: v.certs,
        endpoint: v.endpoint,
        test: v.test,
        count: int('count') ?? defaults[v.test],
        size: int('size'),
        clients: int('clients') ?? (v.test === 'idle' ? 100 : 10),
        seconds,
        shapes: v.shapes,
        shape: v.shape,
    };
    if (o.test === 'handshakes' && !o.tcp) fail('handshakes: tcp or tls only', 2);
    if (o.test === 'broadcast' && o.clients < 1) fail('--clients must be at least 1 for broadcast', 2);
    if (o.test === 'raw' && o.size < 1) fail('--size must be at least 1 for raw', 2);
    if (o.test === 'echo' && (!o.shapes || !o.shape)) fail('echo: --shapes FILE and --shape NAME are required', 2);
    if (o.tcp) {
        const m = /^\[([^\]]+)\]:(\d+)$/.exec(o.endpoint) || /^([^:[\]]+):(\d+)$/.exec(o.endpoint);
        if (!m || Number(m[2]) > 65535) fail(`--endpoint wants HOST:PORT, got '${o.endpoint}'`, 2);
        o.host = m[1];
        o.port = Number(m[2]);
        if (!o.server && o.port === 0) fail('a client needs the real port', 2);
    }
    return o;
}

const o = parseCli(process.argv.slice(2));

// The --seconds bound: the test in progress decides what to print.
let onTimeout = () => fail(`timed out after ${o.seconds} s`);
setTimeout(() => onTimeout(), o.seconds * 1000);

// ---- node-ipc set-up -------------------------------------------------------------------

function makeIpc() {
    const ipc = new IPCModule();
    ipc.config.id = SERVER_ID;
    ipc.config.silent = true;
    ipc.config.logInColor = false;
    ipc.config.rawBuffer = o.test === 'raw';
    if (o.tls) {
        ipc.config.tls = o.server
            ? { public: path.join(o.certs, 'server.pem'), private: path.join(o.certs, 'server.key') }
            : { trustedConnections: [path.join(o.certs, 'ca.pem')], rejectUnauthorized: true };
    }
    return ipc;
}

// Serves on the endpoint and calls ready(ipc) once listening, after printing the ready line.
function serve(ready) {
    const ipc = makeIpc();
    // node-ipc's default of 100 would refuse the rest of a large idle run (the server need
    // not be told --clients).
    ipc.config.maxConnections = 65536;
    let listening = false;
    const onStart = () => {
        listening = true;
        let ep = o.endpoint;
        if (o.tcp) {
            const port = ipc.server.server.address().port;
            ep = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`;
        } else {
            unixPath = o.endpoint;
        }
        out({ ev: 'ready', endpoint: ep });
        ready(ipc);
    };
    if (o.tcp) {
        // node-ipc takes a falsy port as config.networkPort (8000) and tells Unix from TCP by
        // `if (!this.port)`: the string '0' gets past both and Node's listen() takes it as
        // "any free port". Its start() would also unlink a file named like the host.
        ipc.config.unlink = false;
        ipc.serveNet(o.host, o.port || 8000, onStart);
        if (o.port === 0) ipc.server.port = '0';
    } else {
        ipc.serve(o.endpoint, onStart);
    }
    ipc.server.on('error', (err) => {
        if (!listening) fail(`listen ${o.endpoint}: ${err.message}`);
        if (!serverQuiet) fail(`server socket: ${err.message}`);
    });
    ipc.server.start();
    return ipc;
}
let serverQuiet = false; // past the measured part, socket errors no longer matter

// One connection: a fresh IPCModule. Returns its client (ipc.of[SERVER_ID]).
function connect() {
    const ipc = makeIpc();
    ipc.config.stopRetrying = true;
    if (o.tcp) ipc.connectToNet(SERVER_ID, o.host, o.port);
    else ipc.connectTo(SERVER_ID, o.endpoint);
    const c = ipc.of[SERVER_ID];
    c.ipc = ipc;
    c.finished = false;
    c.on('error', (err) => {
        if (!c.finished) fail(`connection: ${err.message || JSON.stringify(err)}`);
    });
    c.on('destroy', () => {
        if (!c.finished) fail('connection closed');
    });
    return c;
}

// Calls fn once the connection can carry events as nipc's `connect` means it: node-ipc's
// `connect` is the TLS socket's TCP `connect`, before the handshake, so over tls it waits
// for `secureConnect` too (an emit before it would be timed with the handshake).
function up(c, fn) {
    c.on('connect', () => {
        if (o.tls && !c.socket.encrypted) fail('tls: node-ipc made a plain socket');
        if (o.tls) c.socket.once('secureConnect', fn);
        else fn();
    });
}

// Resolves on the socket's next 'drain', or when it closes (then no 'drain' comes).
function drainOrClose(sock) {
    return new Promise((resolve) => {
        const done = () => {
            sock.off('drain', done);
            sock.off('close', done);
            resolve();
        };
        sock.on('drain', done);
        sock.on('close', done);
    });
}

// Resolves once the socket has handed all its queued writes to the kernel (or closed).
async function drained(sock) {
    while (sock.writableLength > 0 && !sock.destroyed) await drainOrClose(sock);
}

const hr = () => process.hrtime.bigint();
const secs = (t0, t1) => Number(t1 - t0) / 1e9;

// ---- throughput, sweep, doubles --------------------------------------------------------

// The doubles test's pool, as bench/doubles.h builds it: DOUBLES_EVENTS rows of eight
// doubles (2^52 + 52 bits of xorshift32) / 2^53, in [0.5, 1).
const DOUBLES_EVENTS = 1024;
function doublesPool() {
    let s = 2463534242;
    const next = () => {
        s ^= s << 13;
        s >>>= 0;
        s ^= s >>> 17;
        s ^= s << 5;
        s >>>= 0;
        return s;
    };
    const rows = [];
    for (let k = 0; k < DOUBLES_EVENTS; k++) {
        const row = [];
        for (let j = 0; j < 8; j++) {
            const a = next();
            const b = next();
            row.push((2 ** 52 + (a >>> 12) * 2 ** 32 + b) / 2 ** 53);
        }
        rows.push(row);
    }
    return rows;
}

function serverStream() {
    const pool = o.test === 'doubles' ? doublesPool() : null;
    let expect = 0;
    let bytes = 0;
    let t0 = 0n;
    const result = (extra) => {
        const t1 = hr();
        out({ ev: 'result', count: expect, seconds: t0 ? secs(t0, t1) : 0, bytes, cpu_ns: cpuNs(), ...extra });
    };
    onTimeout = () => {
        result({ timedOut: true });
        exit(0);
    };
    serve((ipc) => {
        ipc.server.on('connect', (socket) => {
            // Ahead of node-ipc's own listener: the clock starts when the first bytes arrive.
            // The chunks are strings (node-ipc sets utf8); the payload is ASCII.
            socket.prependListener('data', (chunk) => {
                if (!t0) t0 = hr();
                bytes += chunk.length;
            });
        });
        ipc.server.on('m', (data) => {
            if (!data || data.i !== expect) {
                fail(`out of order: got i=${data && data.i}, expected ${expect}`);
            }
            if (pool) {
                const want = pool[expect % DOUBLES_EVENTS];
                const d = data.d;
                if (!Array.isArray(d) || d.length !== 8) fail('doubles: not an array of eight');
                for (let j = 0; j < 8; j++) {
                    if (d[j] !== want[j]) fail('doubles: a double changed on the way');
                }
            }
            expect++;
        });
        ipc.server.on('done', (data) => {
            const n = data && data.n;
            if (n !== expect || expect !== o.count) {
                fail(`done says n=${n}; received ${expect} events of --count ${o.count}`);
            }
            result({});
            exit(0);
        });
    });
}

// Emits send(c, i) for i = 0 .. --count - 1, then end(c), and leaves once all is written.
function stream(send, end) {
    const c = connect();
    up(c, async () => {
        const sock = c.socket;
        for (let i = 0; i < o.count; i++) {
            send(c, i);
            if (sock.writableNeedDrain) await drainOrClose(sock);
        }
        end(c);
        c.finished = true; // the server may leave as soon as it has the last bytes
        await drained(sock);
        doneCpu();
    });
}

function clientStream(sweep) {
    const s = sweep ? 'x'.repeat(o.size) : 'hello';
    const pool = o.test === 'doubles' ? doublesPool() : null;
    stream((c, i) => {
        if (pool) c.emit('m', { i, d: pool[i % DOUBLES_EVENTS] });
        else c.emit('m', { i, s });
    }, (c) => c.emit('done', { n: o.count }));
}

// ---- raw -------------------------------------------------------------------------------

// bench/pattern.h's stream: at offset k the byte PATTERN_BASE + k mod PATTERN_PERIOD.
const PATTERN_PERIOD = 89;
const PATTERN_BASE = 0x21;

function patternFill(n) {
    const b = Buffer.allocUnsafe(n);
    for (let k = 0; k < n; k++) b[k] = PATTERN_BASE + (k % PATTERN_PERIOD);
    return b;
}

// Checks the next bytes of the stream as pattern_check() does: the first byte of every
// write in them and their last byte; false when one is out of place or the stream too long.
function patternCheck(rx, buf) {
    const end = rx.off + buf.length;
    if (end > rx.total) return false;
    for (; rx.next < end; rx.next += rx.size) {
        if (buf[rx.next - rx.off] !== PATTERN_BASE + rx.phase) return false;
        rx.phase += rx.step;
        if (rx.phase >= PATTERN_PERIOD) rx.phase -= PATTERN_PERIOD;
    }
    if (buf.length > 0 && buf[buf.length - 1] !== PATTERN_BASE + ((end - 1) % PATTERN_PERIOD)) return false;
    rx.off = end;
    return true;
}

function serverRaw() {
    const rx = { size: o.size, total: o.size * o.count, off: 0, next: 0, phase: 0, step: o.size % PATTERN_PERIOD };
    let reads = 0;
    let t0 = 0n;
    const result = (extra) => {
        const t1 = hr();
        out({
            ev: 'result', count: Math.floor(rx.off / o.size), seconds: t0 ? secs(t0, t1) : 0, bytes: rx.off, reads,
            cpu_ns: cpuNs(), ...extra,
        });
    };
    onTimeout = () => {
        result({ timedOut: true });
        exit(0);
    };
    serve((ipc) => {
        ipc.server.on('data', (buf) => {
            if (!t0) t0 = hr();
            reads++;
            if (!patternCheck(rx, buf)) {
                fail(`a byte out of place in the ${buf.length} bytes after ${rx.off}, or more than --count writes`);
            }
            if (rx.off === rx.total) {
                result({});
                exit(0);
            }
        });
    });
}

function clientRaw() {
    const pat = patternFill(o.size + PATTERN_PERIOD);
    const step = o.size % PATTERN_PERIOD;
    let phase = 0;
    stream((c) => {
        c.emit(pat.subarray(phase, phase + o.size));
        phase += step;
        if (phase >= PATTERN_PERIOD) phase -= PATTERN_PERIOD;
    }, () => {});
}

// ---- latency ---------------------------------------------------------------------------

function serverLatency() {
    serve((ipc) => {
        ipc.server.on('ping', (data, socket) => ipc.server.emit(socket, 'pong', data));
        ipc.server.on('done', () => doneCpu());
    });
}

function pct(sorted, n, q) {
    if (n === 0) return 0;
    const k = Math.max(1, Math.ceil(q * n));
    return sorted[k - 1];
}

function clientLatency() {
    const c = connect();
    const rtt = new Float64Array(o.count);
    let i = 0;
    let t0 = 0n;
    const result = (extra) => {
        const v = rtt.subarray(0, i).sort();
        out({
            ev: 'result', count: i, p50: pct(v, i, 0.5), p99: pct(v, i, 0.99), p999: pct(v, i, 0.999),
            cpu_ns: cpuNs(), ...extra,
        });
    };
    onTimeout = () => {
        result({ timedOut: true });
        exit(0);
    };
    c.on('pong', async (data) => {
        const t1 = hr();
        if (!data || data.i !== i) fail(`expected pong ${i}, got ${JSON.stringify(data)}`);
        rtt[i++] = Number(t1 - t0);
        if (i < o.count) {
            t0 = hr();
            c.emit('ping', { i });
            return;
        }
        c.finished = true;
        c.emit('done', { n: o.count });
        await drained(c.socket);
        result({});
        exit(0);
    });
    up(c, () => {
        if (o.count === 0) {
            c.finished = true;
            c.emit('done', { n: 0 });
            drained(c.socket).then(() => { result({}); exit(0); });
            return;
        }
        t0 = hr();
        c.emit('ping', { i: 0 });
    });
}

// ---- echo ------------------------------------------------------------------------------

// The server sends every event's data back as node-ipc decoded it, and leaves when the
// client has gone (it does once it has every echo).
function serverEcho() {
    serve((ipc) => {
        let echoed = 0;
        ipc.server.on('e', (data, socket) => {
            ipc.server.emit(socket, 'e', data);
            if (++echoed === o.count) serverQuiet = true;
        });
        ipc.server.on('connect', (socket) => {
            socket.on('close', () => {
                if (echoed !== o.count) fail(`connection closed after ${echoed} of ${o.count} echoes`);
                doneCpu();
            });
        });
    });
}

// Event N is the shape's value N mod n with i = N, set in place before its emit (which
// writes the frame at once); at most ECHO_WINDOW are in flight. Every echo must be the next,
// and every ECHO_CHECK_EVERY-th must write as the value sent did.
function clientEcho() {
    let shape;
    try {
        shape = loadShapes(o.shapes).find((s) => s.name === o.shape);
    } catch (err) {
        fail(err.message, 2);
    }
    if (!shape) fail(`no shape '${o.shape}' in ${o.shapes}`, 2);
    const { values, texts } = shape;
    const tails = texts.map((t) => t.slice('{"i":0'.length));
    const c = connect();
    let sent = 0;
    let echoed = 0;
    let t0 = 0n;
    const result = (extra) => {
        out({
            ev: 'result', count: echoed, seconds: t0 ? secs(t0, hr()) : 0, bytes: frameBytes(texts, echoed),
            cpu_ns: cpuNs(), ...extra,
        });
    };
    onTimeout = () => {
        result({ timedOut: true });
        exit(0);
    };
    const send = () => {
        for (; sent < o.count && sent - echoed < ECHO_WINDOW; sent++) {
            const v = values[sent % values.length];
            v.i = sent;
            if (sent === 0) t0 = hr();
            c.emit('e', v);
        }
    };
    c.on('e', (data) => {
        if (!data || data.i !== echoed) fail(`echo: expected i=${echoed}, got ${JSON.stringify(data)}`);
        if (echoed % ECHO_CHECK_EVERY === 0 && JSON.stringify(data) !== `{"i":${echoed}${tails[echoed % tails.length]}`) {
            fail(`echo ${echoed}: the value changed on the way: ${JSON.stringify(data)}`);
        }
        if (++echoed < o.count) {
            send();
            return;
        }
        c.finished = true;
        result({});
        exit(0);
    });
    up(c, send);
}

// ---- broadcast -------------------------------------------------------------------------

function serverBroadcast() {
    serve((ipc) => {
        const server = ipc.server;
        let conns = 0;
        let closed = 0;
        let sent = false;
        const maybeDone = () => {
            if (sent && closed >= o.clients) doneCpu();
        };
        server.on('connect', (socket) => {
            socket.on('close', () => {
                closed++;
                maybeDone();
            });
            if (++conns === o.clients) setImmediate(run);
        });
        async function run() {
            const sockets = server.sockets.slice(); // node-ipc splices its own on close
            for (let i = 0; i < o.count; i++) {
                server.broadcast('m', { i });
                for (const s of sockets) {
                    if (s.writableNeedDrain && !s.destroyed) await drainOrClose(s);
                }
            }
            for (const s of sockets) await drained(s);
            sent = true;
            serverQuiet = true; // clients close as they finish
            maybeDone();
        }
    });
}

function clientBroadcast() {
    let t0 = 0n;
    let t1 = 0n;
    let deliveries = 0;
    let finished = 0;
    const result = (extra) => {
        if (!t1) t1 = hr();
        out({ ev: 'result', deliveries, seconds: t0 ? secs(t0, t1) : 0, cpu_ns: cpuNs(), ...extra });
    };
    onTimeout = () => {
        t1 = 0n;
        result({ timedOut: true });
        exit(0);
    };
    if (o.count === 0) {
        result({});
        exit(0);
    }
    for (let k = 0; k < o.clients; k++) {
        const c = connect();
        let expect = 0;
        c.socket.prependListener('data', () => {
            if (!t0) t0 = hr();
        });
        c.on('m', (data) => {
            if (!data || data.i !== expect) {
                fail(`connection ${k}: expected event ${expect}, got ${JSON.stringify(data)}`);
            }
            deliveries++;
            if (++expect === o.count) {
                t1 = hr();
                c.finished = true;
                c.ipc.disconnect(SERVER_ID);
                if (++finished === o.clients) {
                    result({});
                    exit(0);
                }
            }
        });
    }
}

// ---- idle ------------------------------------------------------------------------------

function serverIdle() {
    onTimeout = () => doneCpu(); // the normal end of an idle run
    serve((ipc) => {
        let hellos = 0;
        let open = 0;
        serverQuiet = true;
        ipc.server.on('connect', (socket) => {
            socket.on('close', () => {
                open--;
                if (hellos > 0 && open === 0) doneCpu();
            });
            open++;
        });
        ipc.server.on('hello', (data, socket) => {
            hellos++;
            ipc.server.emit(socket, 'ok', {});
        });
    });
}

function clientIdle() {
    const conns = [];
    let ok = 0;
    onTimeout = () => {
        for (const c of conns) {
            c.finished = true;
            c.ipc.disconnect(SERVER_ID);
        }
        doneCpu();
    };
    if (o.clients === 0) out({ ev: 'connected', n: 0 });
    for (let k = 0; k < o.clients; k++) {
        const c = connect();
        conns.push(c);
        c.on('connect', () => c.emit('hello', { k }));
        c.on('ok', () => {
            if (++ok === o.clients) out({ ev: 'connected', n: o.clients });
        });
    }
}

// ---- handshakes ------------------------------------------------------------------------

function clientHandshakes() {
    let n = 0;
    const t0 = hr();
    const result = (extra) => {
        out({ ev: 'result', count: n, seconds: secs(t0, hr()), cpu_ns: cpuNs(), ...extra });
    };
    onTimeout = () => {
        result({ timedOut: true });
        exit(0);
    };
    const next = () => {
        if (n === o.count) {
            result({});
            exit(0);
        }
        const c = connect();
        c.on('connect', () => c.emit('ping', { i: n }));
        c.on('pong', (data) => {
            if (!data || data.i !== n) fail(`expected pong ${n}, got ${JSON.stringify(data)}`);
            n++;
            c.finished = true;
            c.socket.once('close', () => setImmediate(next));
            c.ipc.disconnect(SERVER_ID);
        });
    };
    next();
}

function serverHandshakes() {
    serverQuiet = true; // clients come and go; a reset as one leaves is no failure
    serverLatency();
}

// ---- main ------------------------------------------------------------------------------

const run = {
    throughput: [serverStream, () => clientStream(false)],
    sweep: [serverStream, () => clientStream(true)],
    doubles: [serverStream, () => clientStream(false)],
    raw: [serverRaw, clientRaw],
    latency: [serverLatency, clientLatency],
    broadcast: [serverBroadcast, clientBroadcast],
    idle: [serverIdle, clientIdle],
    handshakes: [serverHandshakes, clientHandshakes],
    echo: [serverEcho, clientEcho],
}[o.test];
run[o.server ? 0 : 1]();
