#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// peer.js: one node-ipc peer for nipc's interop tests, driven by its arguments.
//
//   node peer.js --ver 10|9 --role ROLE (--transport NAME --at ENDPOINT | --path P |
//                --tcp HOST:PORT) [options]
//   node peer.js --ver 10|9 --role udp-ROLE (--udp4 | --udp6) HOST:PORT [--to HOST:PORT] [options]
//
// Transports. The stream roles (server-*, client-*) take --transport NAME --at ENDPOINT,
// NAME one of nipc's stream transports as test/support/transport.h names them (the
// TRANSPORTS table below): unix (ENDPOINT a socket path: serve(path) / connectTo(sid,
// path)), tcp4 and tcp6 (ENDPOINT HOST:PORT, the host of that family: serveNet(host, port) /
// connectToNet(sid, host, port)); write an IPv6 host in brackets: --at [::1]:0. --path P is
// short for --transport unix --at P, --tcp HOST:PORT for tcp4 or tcp6 by the host. A server
// may ask for port 0 (any free port); a client may not. The UDP roles take --udp4 or --udp6
// HOST:PORT, their own bind address (serveNet(host, port, 'udp4'|'udp6')), port 0 allowed.
// node-ipc itself cannot ask for port 0 (it reads a falsy port as config.networkPort, 8000),
// so the peer sets the server's port to the string '0' before start(). It also turns
// config.unlink off for TCP and UDP (node-ipc would unlink a file named like the host).
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
//   server-echo         serve on the transport with config.id = --id (default "world").
//     aliases:          server-flood-sink, server-counts-flood (same handlers).
//                       {"ev":"listening"}                       once, when listening (unix)
//                       {"ev":"listening","port":N}              the same over TCP; N is the
//                                                                real port (from
//                                                                server.address())
//                       {"ev":"connect"}                         each accepted client
//                       {"ev":"message","data":D}                each `message`; replies
//                                                                `message` with D + " world!"
//                                                                for a string, else {got: D};
//                                                                with --reply T always
//                                                                {id: <--id>, message: T}
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
//     options: --max-connections N (config.maxConnections), --news N, --broadcast, --clients N,
//              --reply T. node-ipc's test/TCP/TCPServer.js helper is
//              --tcp 127.0.0.1:8300 --id tcpServer --reply 'I am TCP server!'.
//
//   client-echo         connect to --server-id on the transport (every client role:
//                       connectTo or connectToNet); on connect emit `message`
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
//   tcp-test-client     node-ipc's test/TCP/client.js round trip: connectToNet('tcpServer'
//                       (--server-id), host, port) over tcp4 or tcp6 (default --tcp
//                       127.0.0.1:8300); on
//                       connect emit `message` "hello"; wait for one `message` reply.
//                       {"ev":"connect"} {"ev":"message","data":D}; exit 0 if D deep-equals
//                       {id: "tcpServer", message: "I am TCP server!"}, else {"ev":"mismatch"}
//                       and exit 1. With --end it emits `END` first either way.
//
//   info                print {"ev":"info","ver":V,"name":...,"version":...} and exit 0.
//
// rawBuffer roles (config.rawBuffer = true, config.encoding = --encoding ENC, default utf8).
// node-ipc writes Buffer.from(value, ENC) for each value emitted; H below is the hex of a
// `data` event's Buffer as node-ipc handed it over (after its own decoding, lossy for some
// encodings). The values emitted: each --send TEXT in order (repeatable), then with --readme
// the three of node-ipc's README ("Raw Buffer or Binary Sockets"): [10, 20, 30],
// [0x05, 0x6d, 0x5c] and its 6-byte buffer (writeUInt16BE(2, 0), writeUInt32BE(16772812, 2)).
//
//   server-raw          serve on the transport; to each client on connect emit the values;
//                       with --answer T emit T to the socket --delay MS (default 100) after
//                       each `data` event; stop after --clients N socket.disconnected.
//                       {"ev":"listening"[,"port":N]} {"ev":"connect"}
//                       {"ev":"data","hex":H,"outstanding":K}    each `data`; K = the earlier
//                                                                `data` events not yet
//                                                                answered (with --answer)
//                       {"ev":"socket.disconnected","id":false} {"ev":"end","clients":N}
//
//   client-raw          on connect emit the values; print each `data`; after --bytes N
//                       (default 0: right after sending) bytes received, disconnect, exit 0.
//                       {"ev":"connect"} {"ev":"data","hex":H} ... {"ev":"done"}
//
// sync roles (JSON mode; node-ipc's config.sync holds each emit after the first until a read
// has arrived):
//
//   server-slow         answer each `ask` D with `answer` D to its socket --delay MS (default
//                       100) later; END stops it (exit 0).
//                       {"ev":"ask","data":D,"outstanding":K}    K = the asks received and not
//                                                                yet answered (0 unless the
//                                                                client pipelines)
//                       {"ev":"END","outstanding":K} {"ev":"end"} on END
//
//   client-sync         config.sync = true; on connect emit --count N (default 4) `ask`
//                       {i: k}, k = 0..N-1, at once; after N `answer` events exit 0.
//                       {"ev":"connect"} {"ev":"answer","data":D} xN {"ev":"done"}
//
// UDP roles. Each is a node-ipc UDP "server" (node-ipc has no UDP client) bound to --udp4 or
// --udp6 HOST:PORT; sending means server.emit({address, port}, type, data). FROM below is
// the event's second argument, node-ipc's per-datagram rinfo: {"address":A,"port":P,
// "family":"IPv4"|"IPv6","size":BYTES,"id":ID}; "id" only when that datagram's data carried a
// truthy id. UDP roles print {"ev":"error","code":C,"message":M} for a socket error; one
// before the socket is bound (e.g. EINVAL: udp6 on an IPv4 address) exits 1. node-ipc binds a
// udp4 server given host ::1 to 127.0.0.1 instead. Sending udp4 to an IPv6 address (or the
// reverse) makes node-ipc's send callback throw: exit 3.
//
//   udp-server          config.id = --id (default "udp4Server" / "udp6Server").
//                       {"ev":"listening","port":N,"address":A}  once bound (real port)
//                       {"ev":"message","data":D,"from":FROM}    each `message`; replies to
//                                                                FROM's address and port
//                                                                `message` {id: <--id>,
//                                                                message: --reply T, default
//                                                                "I am UDP4 server!" or
//                                                                "I am UDP6 server!"}
//                       {"ev":"end"}                             on `END`: close, exit 0
//                       (node-ipc's test/UDP/UDP4Server.js, UDP6Server.js helpers, given
//                       --udp4 127.0.0.1:8095 or --udp6 [::1]:8099)
//
//   udp-client          config.id = --id (default "node"); once bound, emit `message`
//                       {id: <--id>, message: --text T (default "Hello")} to --to HOST:PORT;
//                       print every `message`; after --count N (default 1; 0: right after
//                       sending) of them, exit 0 (with --end, emit `END` to --to first).
//                       {"ev":"listening","port":N,"address":A}
//                       {"ev":"message","data":D,"from":FROM} ... {"ev":"done"}
//
//   udp-test-client     node-ipc's test/UDP/client.js: bound to --udp4 or --udp6 HOST:PORT
//                       (default --udp4 127.0.0.1:0), emit `message` {} to --to HOST:PORT
//                       (default 127.0.0.1:8095, or [::1]:8099 with --udp6); on the first
//                       `message` emit `END` (data {}) to --to, exit 0 if D deep-equals
//                       {id: "udp4Server", message: "I am UDP4 server!"} (udp6: "udp6Server",
//                       "I am UDP6 server!"), else print {"ev":"mismatch"} and exit 1.
//                       {"ev":"listening","port":N,"address":A} {"ev":"message","data":D,
//                       "from":FROM} [{"ev":"mismatch"}]
//
//   udp-raw             rawBuffer (--encoding ENC) UDP server; once bound, emit the values
//                       (--send, --readme, as above) to --to HOST:PORT if given, one
//                       datagram each; print each `data`; with --answer T emit T back to its
//                       sender; after --count N (default 1; 0: right after sending) of them,
//                       exit 0. node-ipc decodes a UDP datagram as UTF-8 before converting it
//                       with ENC (compat R5), unlike a stream's read.
//                       {"ev":"listening","port":N,"address":A}
//                       {"ev":"data","hex":H,"from":FROM} ... {"ev":"done"}
//
// All client roles also print {"ev":"error","code":C,"message":M} for socket errors (or
// {"ev":"error","data":D} for node-ipc's "Invalid JSON" pseudo-event), {"ev":"disconnect"}
// and {"ev":"destroy"}; a destroy before the role is done exits 1 (but see client-recv).
// The connect action of client-echo, client-flood and client-id-bye runs on the first
// connect only; client-recv says hello again after a reconnect.
//
// Client options:
//   --id ID          this client's id (config.id, sent as data.id), default "node"
//   --server-id SID  the name given to connectTo / connectToNet (a local key only), default
//                    "world" ("tcpServer" for tcp-test-client)
//   --retry MS       config.retry; also turns retrying on (config.stopRetrying = false)
//   --max-retries N  config.maxRetries; also turns retrying on
//                    Without either, config.stopRetrying = true, so a missing server fails
//                    fast: {"ev":"error","code":"ENOENT"|"ECONNREFUSED",...} then exit 1.
//   --end            emit `END` before disconnecting (stops a Node server-echo; for
//                    udp-client, stops a Node udp-server)
// TLS: --transport tls (ENDPOINT HOST:PORT on IPv4) is node-ipc's config.tls with the files
// of test/support/certs.sh in $NIPC_TLS_DIR: server.pem and server.key, trusting ca.pem,
// rejectUnauthorized. With --mutual, node-ipc's most secure set-up: the server also has
// requestCert and dhparam.pem, the client its own client.pem and client.key.
// Common options:
//   --timeout MS     hard timeout, default 20000
//   --timing         add "ms" (milliseconds since the connect) to the sent / count.result lines
//   --verbose        node-ipc's log goes to stderr
//   On SIGTERM or SIGINT the peer prints {"ev":"signal","signal":S} and exits: 0 for a
//   server or udp-server (after closing it), 1 for a client or the UDP client roles.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { parseArgs, isDeepStrictEqual } = require('node:util');
const { load, installed, VERSIONS } = require('./lib');

const SERVER_ROLES = ['server-echo', 'server-flood-sink', 'server-counts-flood', 'server-raw', 'server-slow'];
const CLIENT_ROLES = ['client-echo', 'client-flood', 'client-recv', 'client-id-bye', 'tcp-test-client',
    'client-raw', 'client-sync'];
const UDP_ROLES = ['udp-server', 'udp-client', 'udp-test-client', 'udp-raw'];
const RAW_ROLES = ['server-raw', 'client-raw', 'udp-raw'];
const ROLES = [...SERVER_ROLES, ...CLIENT_ROLES, ...UDP_ROLES, 'info'];

// Endpoints of node-ipc's own test helpers (its test/TCP and test/UDP suites).
const TCP_TEST_SERVER = '127.0.0.1:8300';
const UDP_TEST_SERVER = { udp4: '127.0.0.1:8095', udp6: '[::1]:8099' };
const UDP_TEST_BIND = { udp4: '127.0.0.1:0', udp6: '[::1]:0' };
// What node-ipc's helper servers answer.
const tcpTestReply = () => ({ id: 'tcpServer', message: 'I am TCP server!' });
const udpTestReply = (family) => ({ id: `${family}Server`, message: `I am ${family.toUpperCase()} server!` });

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
                transport: { type: 'string' },
                at: { type: 'string' },
                path: { type: 'string' },
                tcp: { type: 'string' },
                udp4: { type: 'string' },
                udp6: { type: 'string' },
                to: { type: 'string' },
                id: { type: 'string' },
                'server-id': { type: 'string' },
                reply: { type: 'string' },
                text: { type: 'string' },
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
                encoding: { type: 'string' },
                send: { type: 'string', multiple: true },
                readme: { type: 'boolean', default: false },
                answer: { type: 'string' },
                bytes: { type: 'string' },
                mutual: { type: 'boolean', default: false },
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
        id: parsed.id,
        serverId: parsed['server-id'],
        reply: parsed.reply,
        text: parsed.text,
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
        encoding: parsed.encoding ?? 'utf8',
        send: parsed.send ?? [],
        readme: parsed.readme,
        answer: parsed.answer,
        bytes: int('bytes', 0),
    };
    if (!VERSIONS.includes(o.ver)) fail(`--ver must be one of ${VERSIONS.join(', ')}`);
    if (!ROLES.includes(o.role)) fail(`--role must be one of ${ROLES.join(', ')}`);
    if (o.role === 'info') return o;

    const given = (names) => names.filter((n) => parsed[n] !== undefined);
    const isClient = CLIENT_ROLES.includes(o.role);
    const rawOnly = given(['encoding', 'send', 'answer', 'bytes']).concat(o.readme ? ['readme'] : []);
    if (!RAW_ROLES.includes(o.role) && rawOnly.length) fail(`--${rawOnly[0]} is for the raw roles`);
    if (o.answer !== undefined && o.role === 'client-raw') fail('--answer is for server-raw and udp-raw');
    if (o.bytes !== undefined && o.role !== 'client-raw') fail('--bytes is for client-raw');
    if (!Buffer.isEncoding(o.encoding)) fail(`--encoding: not a Node encoding: '${o.encoding}'`);
    if (UDP_ROLES.includes(o.role)) {
        // A dgram socket bound with serveNet(host, port, 'udp4'|'udp6').
        const extra = given(['transport', 'at', 'path', 'tcp']).concat(parsed.mutual ? ['mutual'] : []);
        if (extra.length) fail(`--${extra[0]} does not go with --role ${o.role}`);
        const fams = given(['udp4', 'udp6']);
        if (fams.length > 1) fail('give only one of --udp4, --udp6');
        let family = fams[0];
        let bind = family && parsed[family];
        if (!family) {
            if (o.role !== 'udp-test-client') fail(`--role ${o.role} wants --udp4 or --udp6 HOST:PORT`);
            family = 'udp4';
            bind = UDP_TEST_BIND.udp4;
        }
        o.udp = { family, ...endpoint(`--${family}`, bind, true) };
        let to = parsed.to;
        if (to === undefined && o.role === 'udp-test-client') to = UDP_TEST_SERVER[family];
        if (o.role !== 'udp-server' && o.reply !== undefined) fail('--reply is for servers');
        if (o.role !== 'udp-client' && o.text !== undefined) fail('--text is for udp-client');
        if (o.role === 'udp-server') {
            if (to !== undefined) fail('--to does not go with --role udp-server');
        } else if (o.role === 'udp-raw') {
            if (to !== undefined) o.to = endpoint('--to', to, false);
        } else {
            if (to === undefined) fail(`--role ${o.role} wants --to HOST:PORT`);
            o.to = endpoint('--to', to, false);
        }
    } else {
        // A stream over one of TRANSPORTS: --transport NAME --at ENDPOINT, or the shorthands
        // --path P (unix) and --tcp HOST:PORT (tcp4, or tcp6 for an IPv6 host).
        const extra = given(['udp4', 'udp6', 'to', 'text']);
        if (extra.length) fail(`--${extra[0]} does not go with --role ${o.role}`);
        o.stream = streamOption(parsed, o.role, !isClient);
        if (isClient && o.reply !== undefined) fail('--reply is for servers');
        if (parsed.mutual && o.stream.transport !== 'tls') fail('--mutual goes with --transport tls');
        o.stream.mutual = parsed.mutual;
    }
    if (o.serverId === undefined) o.serverId = o.role === 'tcp-test-client' ? 'tcpServer' : 'world';
    return o;
}

// The stream endpoint of the arguments: {transport: NAME, ...} with what TRANSPORTS[NAME]
// made of the endpoint. `bind`: a server's endpoint, where port 0 is allowed.
function streamOption(parsed, role, bind) {
    const forms = ['at', 'path', 'tcp'].filter((n) => parsed[n] !== undefined);
    if (forms.length > 1) fail(`give only one of --transport NAME --at ENDPOINT, --path, --tcp`);
    if ((parsed.transport === undefined) !== (parsed.at === undefined)) {
        fail('--transport NAME and --at ENDPOINT go together');
    }
    let name = parsed.transport;
    let flag = '--at';
    let raw = parsed.at;
    if (parsed.path !== undefined) {
        [name, flag, raw] = ['unix', '--path', parsed.path];
    } else if (parsed.tcp !== undefined || (forms.length === 0 && role === 'tcp-test-client')) {
        raw = parsed.tcp ?? TCP_TEST_SERVER;
        name = net.isIPv6(endpoint('--tcp', raw, bind).host) ? 'tcp6' : 'tcp4';
        flag = '--tcp';
    } else if (name === undefined) {
        fail('--transport NAME --at ENDPOINT, --path SOCKET or --tcp HOST:PORT is required');
    }
    const transport = Object.hasOwn(TRANSPORTS, name) ? TRANSPORTS[name] : undefined;
    if (transport === undefined) fail(`--transport must be one of ${Object.keys(TRANSPORTS).join(', ')}`);
    if (role === 'tcp-test-client' && !name.startsWith('tcp')) {
        fail('--role tcp-test-client works over TCP only (tcp4, tcp6)');
    }
    return { transport: name, ...transport.endpoint(flag, raw, bind) };
}

// HOST:PORT or [IPV6HOST]:PORT. Port 0 (any free port) only where we bind.
function endpoint(flag, raw, bind) {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(raw) || /^([^:[\]]+):(\d+)$/.exec(raw);
    if (!m) fail(`${flag} wants HOST:PORT or [IPV6]:PORT, got '${raw}'`);
    const port = Number(m[2]);
    if (port > 65535 || (!bind && port === 0)) {
        fail(`${flag}: port must be ${bind ? '0' : '1'}..65535, got '${m[2]}'`);
    }
    return { host: m[1], port };
}

// ---- helpers ---------------------------------------------------------------------------

function makeIpc(o, id) {
    const ipc = load(o.ver);
    ipc.config.id = id;
    if (RAW_ROLES.includes(o.role)) {
        ipc.config.rawBuffer = true;
        ipc.config.encoding = o.encoding;
    }
    if (o.role === 'client-sync') ipc.config.sync = true;
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

// What a raw role emits, in order: each --send text, then with --readme the values of
// node-ipc's README section "Raw Buffer or Binary Sockets", made as it makes them.
function rawValues(o) {
    const values = [...o.send];
    if (o.readme) {
        const myBuffer = Buffer.alloc(6).fill(0);
        myBuffer.writeUInt16BE(2, 0);
        myBuffer.writeUInt32BE(16772812, 2);
        values.push([10, 20, 30], [0x05, 0x6d, 0x5c], myBuffer);
    }
    return values;
}

// The line of a raw `data` event: its Buffer in hex, as node-ipc handed it over.
const dataLine = (buf, more) => ({ ev: 'data', hex: buf.toString('hex'), ...more });

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

// Over TCP and UDP, node-ipc takes a falsy port as "use config.networkPort" (8000), and its
// server tells a Unix socket from a network one by `if (!this.port)`, so port 0 cannot be
// asked for through serveNet. A string '0' passes both tests and Node's listen() and bind()
// take it as "any free port": serveNet() with the port as given, then this.
function anyPort(ipc, ep) {
    if (ep.port === 0) ipc.server.port = '0';
}

// node-ipc's server start() first unlinks its "path", which for TCP and UDP is the host
// string: it would delete a file named e.g. "127.0.0.1" in the current directory.
function noUnlink(ipc) {
    ipc.config.unlink = false;
}

// The stream transports, named as nipc's test suite names them (test/support/transport.h):
// how --at ENDPOINT is read, how node-ipc serves and connects there, what the `listening`
// line adds, and what a stopping server cleans up. A new stream transport joins the peer
// with one entry here.
const TRANSPORTS = {
    unix: {
        endpoint: (flag, raw) => ({ path: raw }),
        serve: (ipc, ep, onStart) => ipc.serve(ep.path, onStart),
        connect: (ipc, serverId, ep) => ipc.connectTo(serverId, ep.path),
        listening: () => ({}),
        stopped(ep) {
            try {
                fs.unlinkSync(ep.path);
            } catch (_) { /* already gone */ }
        },
    },
    tcp4: tcpTransport(4),
    tcp6: tcpTransport(6),
    tls: tlsTransport(),
};

// TLS over TCP on IPv4, node-ipc's config.tls (T1, T2) with the certificates of
// test/support/certs.sh in $NIPC_TLS_DIR: the server's key and certificate, and the test CA
// to verify the other side (rejectUnauthorized, as node's default). With --mutual (ep.mutual),
// node-ipc's most secure set-up (its examples' basic-most-secure and
// rawBuffer-only-works-with-most-secure): the server asks for and verifies a client
// certificate and has DH parameters, and the client presents its own certificate.
function tlsTransport() {
    const tcp = tcpTransport(4);
    const withTls = (ipc, ep, side) => {
        const dir = process.env.NIPC_TLS_DIR;
        if (!dir) fail('--transport tls needs NIPC_TLS_DIR (certs.sh output)');
        const own = ep.mutual && side === 'client' ? 'client' : 'server';
        ipc.config.tls = {
            public: path.join(dir, `${own}.pem`),
            private: path.join(dir, `${own}.key`),
            trustedConnections: [path.join(dir, 'ca.pem')],
            rejectUnauthorized: true,
        };
        if (ep.mutual && side === 'server') {
            ipc.config.tls.requestCert = true;
            ipc.config.tls.dhparam = path.join(dir, 'dhparam.pem');
        }
    };
    return {
        ...tcp,
        serve(ipc, ep, onStart) {
            withTls(ipc, ep, 'server');
            tcp.serve(ipc, ep, onStart);
        },
        connect(ipc, serverId, ep) {
            withTls(ipc, ep, 'client');
            tcp.connect(ipc, serverId, ep);
        },
    };
}

// TCP on IPv4 or IPv6: --at HOST:PORT, [HOST]:PORT for IPv6, whose host is of that family
// (tcp4 also takes a host name).
function tcpTransport(family) {
    return {
        endpoint(flag, raw, bind) {
            const ep = endpoint(flag, raw, bind);
            if ((net.isIPv6(ep.host) ? 6 : 4) !== family) {
                fail(`${flag}: tcp${family} wants an IPv${family} host, got '${ep.host}'`);
            }
            return ep;
        },
        serve(ipc, ep, onStart) {
            noUnlink(ipc);
            ipc.serveNet(ep.host, ep.port, onStart);
            anyPort(ipc, ep);
        },
        connect: (ipc, serverId, ep) => ipc.connectToNet(serverId, ep.host, ep.port),
        listening: (server) => ({ port: server.server.address().port }),
        stopped() {},
    };
}

// Counts a dgram socket's sends that have not called back yet, so that a peer can exit
// after its last datagram left; node-ipc keeps no handle on them. Returns () => Promise
// resolving once none is pending (or after capMs). node-ipc's own send callback still runs.
function trackSends(sock, capMs = 2000) {
    const send = sock.send;
    let pending = 0;
    let waiters = [];
    sock.send = function (...args) {
        pending++;
        const settle = () => {
            if (--pending === 0) {
                const w = waiters;
                waiters = [];
                for (const f of w) f();
            }
        };
        const i = args.findIndex((a) => typeof a === 'function');
        if (i >= 0) {
            const cb = args[i];
            args[i] = function (...res) {
                settle();
                return cb.apply(this, res);
            };
        } else {
            args.push(settle);
        }
        return send.apply(this, args);
    };
    return () => {
        if (pending === 0) return Promise.resolve();
        return Promise.race([
            new Promise((resolve) => waiters.push(resolve)),
            new Promise((resolve) => setTimeout(resolve, capMs)),
        ]);
    };
}

function withTiming(o, line, t0) {
    if (o.timing && t0 !== undefined) {
        line.ms = Math.round(Number(process.hrtime.bigint() - t0) / 1e5) / 10;
    }
    return line;
}

// ---- server roles ----------------------------------------------------------------------

function runServer(o) {
    const transport = TRANSPORTS[o.stream.transport];
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
        transport.stopped(o.stream);
        finish(code);
    }

    const onStart = () => {
        const server = ipc.server;
        listening = true;

        server.on('connect', (socket) => {
            out({ ev: 'connect' });
            if (o.role === 'server-raw') {
                for (const v of rawValues(o)) server.emit(socket, v);
            }
        });

        // The answers of server-raw and server-slow, each --delay ms after its request.
        // `outstanding` counts the requests (of any client) received and not yet answered: with
        // one client that waits for each answer, it is 0 whenever a request arrives.
        let outstanding = 0;
        const answerLater = (send) => {
            outstanding++;
            setTimeout(() => {
                outstanding--;
                if (!exiting) send();
            }, o.delay);
        };
        if (o.role === 'server-raw') {
            server.on('data', (buf, socket) => {
                out(dataLine(buf, { outstanding }));
                if (o.answer !== undefined) answerLater(() => server.emit(socket, o.answer));
            });
        }
        if (o.role === 'server-slow') {
            server.on('ask', (data, socket) => {
                out({ ev: 'ask', data, outstanding });
                answerLater(() => server.emit(socket, 'answer', data));
            });
            server.on('END', () => out({ ev: 'END', outstanding }));
        }

        server.on('message', (data, socket) => {
            out({ ev: 'message', data });
            let reply;
            if (o.reply !== undefined) {
                reply = { id: ipc.config.id, message: o.reply };
            } else {
                reply = typeof data === 'string' ? data + ' world!' : { got: data };
            }
            server.emit(socket, 'message', reply);
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

        out({ ev: 'listening', ...transport.listening(server) });
    };

    transport.serve(ipc, o.stream, onStart);

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

    TRANSPORTS[o.stream.transport].connect(ipc, o.serverId, o.stream);
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
        'tcp-test-client'() {
            if (started) return;
            started = true;
            peer.emit('message', 'hello');
        },
        'client-raw'() {
            if (started) return;
            started = true;
            for (const v of rawValues(o)) peer.emit(v);
            if ((o.bytes ?? 0) === 0) {
                out({ ev: 'done' });
                leave(0);
            }
        },
        'client-sync'() {
            if (started) return;
            started = true;
            // All at once: node-ipc's queue writes the first and holds the others.
            for (let i = 0; i < (o.count ?? 4); i++) peer.emit('ask', { i });
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

    if (o.role === 'tcp-test-client') {
        peer.on('message', (data) => {
            if (exiting) return;
            out({ ev: 'message', data });
            if (isDeepStrictEqual(data, tcpTestReply())) {
                leave(0);
            } else {
                out({ ev: 'mismatch' });
                leave(1);
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

    if (o.role === 'client-raw') {
        let got = 0;
        peer.on('data', (buf) => {
            if (exiting) return;
            out(dataLine(buf));
            got += buf.length;
            if (got >= (o.bytes ?? 0)) {
                out({ ev: 'done' });
                leave(0);
            }
        });
    }

    if (o.role === 'client-sync') {
        let answers = 0;
        peer.on('answer', (data) => {
            if (exiting) return;
            out({ ev: 'answer', data });
            if (++answers === (o.count ?? 4)) {
                out({ ev: 'done' });
                leave(0);
            }
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

// ---- UDP roles -------------------------------------------------------------------------

// Every UDP role is a node-ipc UDP "server" (serveNet(host, port, 'udp4'|'udp6')): node-ipc
// has no UDP client, a peer just emits to another one's {address, port}.
function runUdp(o) {
    const { family } = o.udp;
    const ipc = makeIpc(o, o.id ?? (o.role === 'udp-server' ? `${family}Server` : 'node'));
    noUnlink(ipc);
    // The start callback runs right after bind() is called, before the socket is bound (and
    // also when binding then fails); node-ipc's `connect` event marks the real start.
    ipc.serveNet(o.udp.host, o.udp.port, family, () => {});
    anyPort(ipc, o.udp);
    const server = ipc.server;
    let listening = false;
    let sent = () => Promise.resolve();

    const emitTo = (ep, type, data) => server.emit({ address: ep.host, port: ep.port }, type, data);

    async function stop(line, code) {
        if (exiting) return;
        exiting = true;
        if (line) out(line);
        await sent();
        try {
            server.stop();
        } catch (_) { /* not started */ }
        finish(code);
    }

    server.on('error', (err) => {
        if (exiting) return;
        out(errorLine(err));
        if (!listening) finish(1); // e.g. EADDRINUSE, or EINVAL for udp6 on an IPv4 host
    });

    // node-ipc publishes `connect` once, with the dgram socket, when it is listening.
    server.on('connect', () => {
        if (listening) return;
        listening = true;
        sent = trackSends(server.server);
        const a = server.server.address();
        out({ ev: 'listening', port: a.port, address: a.address });
        if (o.role === 'udp-client') {
            emitTo(o.to, 'message', { id: ipc.config.id, message: o.text ?? 'Hello' });
            if ((o.count ?? 1) === 0) done();
        } else if (o.role === 'udp-test-client') {
            emitTo(o.to, 'message', {});
        } else if (o.role === 'udp-raw') {
            if (o.to !== undefined) {
                for (const v of rawValues(o)) emitTo(o.to, v);
            }
            if ((o.count ?? 1) === 0) done();
        }
    });

    // The second argument is node-ipc's per-datagram rinfo:
    // {address, family, port, size, ipcBuffer, id (when the data had one)}.
    const fromOf = (s) => ({ address: s.address, port: s.port, family: s.family, size: s.size, id: s.id });

    let got = 0;
    function done() {
        out({ ev: 'done' });
        if (o.end) emitTo(o.to, 'END');
        stop(null, 0);
    }

    server.on('message', (data, socket) => {
        if (exiting) return;
        out({ ev: 'message', data, from: fromOf(socket) });
        if (o.role === 'udp-server') {
            const text = o.reply ?? udpTestReply(family).message;
            server.emit({ address: socket.address, port: socket.port }, 'message',
                { id: ipc.config.id, message: text });
        } else if (o.role === 'udp-client') {
            if (++got === (o.count ?? 1)) done();
        } else {
            const ok = isDeepStrictEqual(data, udpTestReply(family));
            if (!ok) out({ ev: 'mismatch' });
            emitTo(o.to, 'END');
            stop(null, ok ? 0 : 1);
        }
    });

    if (o.role === 'udp-server') {
        server.on('END', () => stop({ ev: 'end' }, 0));
    }

    if (o.role === 'udp-raw') {
        server.on('data', (buf, rinfo) => {
            if (exiting) return;
            out(dataLine(buf, { from: fromOf(rinfo) }));
            if (o.answer !== undefined) server.emit({ address: rinfo.address, port: rinfo.port }, o.answer);
            if (++got === (o.count ?? 1)) done();
        });
    }

    for (const sig of ['SIGTERM', 'SIGINT']) {
        process.on(sig, () => stop({ ev: 'signal', signal: sig }, o.role === 'udp-server' ? 0 : 1));
    }

    server.start();
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
    } else if (UDP_ROLES.includes(o.role)) {
        runUdp(o);
    } else {
        runClient(o);
    }
}

main();
