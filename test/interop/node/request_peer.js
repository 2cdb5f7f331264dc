// SPDX-License-Identifier: MIT
//
// A node-ipc peer for test/interop/request.c: nipc's requests and replies (include/nipc.h,
// "requests and replies") against the real node-ipc, which knows nothing of them. A request
// of type T is the ordinary frame {"type":T,"data":{"$req":ID,"data":PAYLOAD}}, its reply
// {"type":"$reply","data":{"$re":ID,"data":ANSWER}}.
//
//   node request_peer.js --ver 10|9 --role ROLE --transport unix|tcp4 --at ENDPOINT
//                        [--count N] [--timeout MS]
//
// --at is a Unix socket path, or HOST:PORT on IPv4 (a server takes port 0). Roles:
//
//   server    serves at ENDPOINT; answers `add` with a + b at once, and `slow` with a + b
//             after SLOW_MS
//   answerer  a client of the server at ENDPOINT answering `add` and `slow` the same way
//   asker     a client making N `add` requests at once ($req 1..N, data {a: i, b: 100 * i})
//             and checking each `$reply`: its $re one still open, its data a + b
//
// stdout, one JSON object per line:
//   {"ev":"listening"[,"port":P]}       server: listening (P the real port over TCP)
//   {"ev":"connect"}                     answerer, asker: connected
//   {"ev":"answered","type":T,"re":ID}   server, answerer: a `slow` reply has been emitted
//   {"ev":"reply","re":ID,"data":D,"ok":B}  asker: a reply, B whether it was the right one
//   {"ev":"done","n":N,"ok":B}           asker: N replies came, B whether all were right
//   {"ev":"timeout"}                     the lifetime (--timeout, default 10000) is over
//   {"ev":"exception","message":M}       an uncaught exception
// Exit: 0 on SIGTERM, 1 for bad arguments, 2 on the timeout, 3 on an exception.
'use strict';

const { parseArgs } = require('node:util');
const { load } = require('./lib');

const SLOW_MS = 300;

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

process.on('uncaughtException', (err) => {
    say({ ev: 'exception', message: String((err && err.message) || err) });
    process.exit(3);
});

function bad(message) {
    process.stderr.write(`request_peer.js: ${message}\n`);
    process.exit(1);
}

function options() {
    let o;
    try {
        o = parseArgs({
            options: {
                ver: { type: 'string' },
                role: { type: 'string' },
                transport: { type: 'string' },
                at: { type: 'string' },
                count: { type: 'string', default: '5' },
                timeout: { type: 'string', default: '10000' },
            },
            strict: true,
        }).values;
    } catch (err) {
        bad(err.message);
    }
    if (!['server', 'answerer', 'asker'].includes(o.role)) bad('--role server|answerer|asker');
    if (o.transport === 'tcp4') {
        const m = /^([0-9.]+):(\d+)$/.exec(o.at || '');
        if (!m) bad(`--at HOST:PORT for tcp4, got '${o.at}'`);
        o.host = m[1];
        o.port = Number(m[2]);
    } else if (o.transport !== 'unix' || !o.at) {
        bad('--transport unix --at PATH, or --transport tcp4 --at HOST:PORT');
    }
    return o;
}

// `slow`: a + b, SLOW_MS later, emitted by `send`; says so, so that a test knows the late
// reply is on its way.
function answerSlowly(m, send) {
    setTimeout(() => {
        send({ $re: m.$req, data: m.data.a + m.data.b });
        say({ ev: 'answered', type: 'slow', re: m.$req });
    }, SLOW_MS);
}

function server(o, ipc) {
    const listening = () => {
        // The documented recipe (include/nipc.h, "requests and replies"), as is:
        ipc.server.on('add', (m, socket) =>
            ipc.server.emit(socket, '$reply', { $re: m.$req, data: m.data.a + m.data.b }));
        ipc.server.on('slow', (m, socket) =>
            answerSlowly(m, (reply) => ipc.server.emit(socket, '$reply', reply)));
        say(o.transport === 'tcp4'
            ? { ev: 'listening', port: ipc.server.server.address().port }
            : { ev: 'listening' });
    };
    if (o.transport === 'tcp4') {
        ipc.config.unlink = false; // start() would unlink a file named like the host
        ipc.serveNet(o.host, o.port, listening);
        // A falsy port is node-ipc's networkPort, and the string '0' is "any" to listen().
        if (o.port === 0) ipc.server.port = '0';
    } else {
        ipc.serve(o.at, listening);
    }
    ipc.server.start();
}

function connect(o, ipc) {
    ipc.config.stopRetrying = true;
    if (o.transport === 'tcp4') ipc.connectToNet('server', o.host, o.port);
    else ipc.connectTo('server', o.at);
    const peer = ipc.of.server;
    peer.on('connect', () => say({ ev: 'connect' }));
    return peer;
}

function answerer(o, ipc) {
    const peer = connect(o, ipc);
    // The same recipe on a client.
    peer.on('add', (m) => peer.emit('$reply', { $re: m.$req, data: m.data.a + m.data.b }));
    peer.on('slow', (m) => answerSlowly(m, (reply) => peer.emit('$reply', reply)));
}

function asker(o, ipc) {
    const peer = connect(o, ipc);
    const n = Number(o.count);
    const open = new Map(); // $req -> the right answer
    let allOk = true;
    peer.on('connect', () => {
        for (let i = 1; i <= n; i++) {
            open.set(i, i + 100 * i);
            peer.emit('add', { $req: i, data: { a: i, b: 100 * i } });
        }
    });
    peer.on('$reply', (r) => {
        const ok = r !== null && typeof r === 'object' && open.has(r.$re) &&
            r.data === open.get(r.$re);
        if (ok) open.delete(r.$re);
        allOk = allOk && ok;
        say({ ev: 'reply', re: r && r.$re, data: r && r.data, ok });
        if (open.size === 0) say({ ev: 'done', n, ok: allOk });
    });
}

function main() {
    const o = options();
    setTimeout(() => {
        say({ ev: 'timeout' });
        process.exit(2);
    }, Number(o.timeout) > 0 ? Number(o.timeout) : 10000);
    process.on('SIGTERM', () => process.exit(0));
    const ipc = load(o.ver);
    ipc.config.id = o.role;
    ipc.config.silent = true;
    ({ server, answerer, asker })[o.role](o, ipc);
}

main();
