#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// tls_peer.js: a node-ipc TLS server or client for nipc's TLS interop tests
// (test/interop/tls.c), driven by its arguments and by JSON lines on stdin.
//
//   node tls_peer.js --ver 10|9 --role server [--host H] [TLS options] [options]
//   node tls_peer.js --ver 10|9 --role client --port P [--host H] [TLS options] [options]
//
// The server calls serveNet(H, 0) (H default 127.0.0.1) and listens on a port of the
// system's choice; the client calls connectToNet('server', H, P). Both set config.tls the
// way node-ipc's TLSSocket examples do, from these options:
//
//   --public FILE       config.tls.public: the certificate node-ipc reads into `cert`
//   --private FILE      config.tls.private: the key node-ipc reads into `key`
//   --ca FILE           config.tls.trustedConnections (repeat for several); node-ipc reads
//                       them into `ca`
//   --dhparam FILE      config.tls.dhparam (the server reads the file)
//   --request-cert      config.tls.requestCert = true (server)
//   --no-reject         config.tls.rejectUnauthorized = false (Node's default is true)
//   --servername NAME   config.tls.servername (client; passed through to tls.connect)
//
// Other options:
//   --on TYPES          comma-separated event types to report (default ping,pong,news)
//   --id ID             config.id (default "node")
//   --retry MS          config.retry, and retrying on; --max-retries N config.maxRetries,
//                       and retrying on. Without either, config.stopRetrying = true.
//   --timeout MS        the peer's whole lifetime (default 15000)
//   --verbose           node-ipc's log on stderr
//
// stdout carries one JSON object per line:
//
//   {"ev":"listening","port":N}                      server: listening on port N
//   {"ev":"connect","n":K,"authorized":B,"subject":S}
//                       server: node-ipc's `connect` for the K-th (0-based) client; B and S
//                       are the TLS socket's `authorized` and the client certificate's subject
//                       ("CN=...,O=..." in the certificate's order, or null)
//   {"ev":"connect","authorized":B}                  client: node-ipc's `connect`; B is the
//                                                    TLS socket's `authorized` at that moment
//   {"ev":"secure","authorized":B,"subject":S,"protocol":P}
//                       client: the TLS socket's `secureConnect` (the handshake is done),
//                       which node-ipc does not report; S is the server certificate's subject
//   {"ev":"event","type":T,"data":D[,"n":K]}         an event of a --on type (server: from K)
//   {"ev":"error","code":C,"message":M}              node-ipc's `error`
//   {"ev":"tlsClientError","code":C,"message":M}     server: a failed handshake; node-ipc
//                                                    does not listen for these, the peer does
//   {"ev":"socket.disconnected"}                     server: node-ipc's, a client went away
//   {"ev":"disconnect"}, {"ev":"destroy"}            client: node-ipc's
//   {"ev":"bye"}                                     after `quit`, or stdin closed
//   {"ev":"timeout"}                                 the lifetime is over
//   {"ev":"exception","message":M}                   an uncaught exception
//
// stdin takes one JSON object per line:
//
//   {"cmd":"emit","type":T,"data":D}       client: ipc.of.server.emit(T, D)
//   {"cmd":"emit","type":T,"data":D,"to":K} server: ipc.server.emit(<K-th client>, T, D)
//   {"cmd":"broadcast","type":T,"data":D}  server: ipc.server.broadcast(T, D)
//   {"cmd":"quit"}                         stop the server or disconnect the client, exit 0
//
// Exit: 0 after `quit` or the end of stdin, 1 for a client's `destroy` (it connects once,
// or as often as --retry/--max-retries let it), for bad arguments or a server that cannot
// listen, 2 on the timeout, 3 on an uncaught exception.
'use strict';

const { parseArgs } = require('node:util');
const readline = require('node:readline');
const { load } = require('./lib');

function say(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

let leaving = false;
function leave(code) {
    leaving = true;
    process.exit(code);
}

process.on('uncaughtException', (err) => {
    say({ ev: 'exception', message: String((err && err.message) || err) });
    leave(3);
});

function usage(message) {
    process.stderr.write(`tls_peer.js: ${message}\n`);
    leave(1);
}

function options() {
    let v;
    try {
        v = parseArgs({
            options: {
                ver: { type: 'string' },
                role: { type: 'string' },
                host: { type: 'string', default: '127.0.0.1' },
                port: { type: 'string' },
                public: { type: 'string' },
                private: { type: 'string' },
                ca: { type: 'string', multiple: true },
                dhparam: { type: 'string' },
                'request-cert': { type: 'boolean', default: false },
                'no-reject': { type: 'boolean', default: false },
                servername: { type: 'string' },
                on: { type: 'string', default: 'ping,pong,news' },
                id: { type: 'string', default: 'node' },
                retry: { type: 'string' },
                'max-retries': { type: 'string' },
                timeout: { type: 'string', default: '15000' },
                verbose: { type: 'boolean', default: false },
            },
            strict: true,
        }).values;
    } catch (err) {
        usage(err.message);
    }
    if (v.ver !== '10' && v.ver !== '9') usage('--ver 10 or --ver 9');
    if (v.role !== 'server' && v.role !== 'client') usage('--role server or --role client');
    if (v.role === 'client' && !(Number(v.port) > 0)) usage('a client needs --port P');
    return v;
}

// config.tls as node-ipc takes it: file paths under its own names, Node's options as is.
function tlsConfig(o) {
    const tls = {};
    if (o.public !== undefined) tls.public = o.public;
    if (o.private !== undefined) tls.private = o.private;
    if (o.ca !== undefined) tls.trustedConnections = o.ca;
    if (o.dhparam !== undefined) tls.dhparam = o.dhparam;
    if (o['request-cert']) tls.requestCert = true;
    tls.rejectUnauthorized = !o['no-reject'];
    if (o.servername !== undefined) tls.servername = o.servername;
    return tls;
}

// "CN=...,O=..." from Node's subject object, keys in the order the certificate has them.
function subjectText(cert) {
    if (!cert || !cert.subject) return null;
    return Object.entries(cert.subject).map(([k, val]) => `${k}=${val}`).join(',');
}

function errLine(ev, err) {
    if (err instanceof Error) return { ev, code: err.code ?? null, message: err.message };
    return { ev, code: null, message: String(err && err.message ? err.message : err) };
}

// Reads commands from stdin; its end means the test is gone, so the peer leaves too.
function commands(run, quit) {
    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', (text) => {
        if (text.trim() === '') return;
        let cmd;
        try {
            cmd = JSON.parse(text);
        } catch (_) {
            process.stderr.write(`tls_peer.js: not JSON on stdin: ${text}\n`);
            return;
        }
        if (cmd.cmd === 'quit') quit();
        else run(cmd);
    });
    rl.on('close', quit);
}

function server(o, ipc, types) {
    const clients = [];
    const quit = () => {
        if (leaving) return;
        say({ ev: 'bye' });
        try {
            ipc.server.stop();
        } catch (_) { /* not listening */ }
        leave(0);
    };

    ipc.config.unlink = false; // start() would unlink a file named like the host
    ipc.serveNet(o.host, 0, () => {
        const srv = ipc.server;
        say({ ev: 'listening', port: srv.server.address().port });
        srv.server.on('tlsClientError', (err) => say(errLine('tlsClientError', err)));
        srv.on('connect', (socket) => {
            clients.push(socket);
            const peerCert = socket.getPeerCertificate ? socket.getPeerCertificate() : null;
            say({
                ev: 'connect',
                n: clients.length - 1,
                authorized: socket.authorized ?? null,
                subject: subjectText(peerCert),
            });
        });
        for (const type of types) {
            srv.on(type, (data, socket) => say({ ev: 'event', type, data, n: clients.indexOf(socket) }));
        }
        srv.on('socket.disconnected', () => say({ ev: 'socket.disconnected' }));
        commands((cmd) => {
            if (cmd.cmd === 'broadcast') {
                srv.broadcast(cmd.type, cmd.data);
            } else if (cmd.cmd === 'emit') {
                const socket = clients[cmd.to ?? clients.length - 1];
                if (socket === undefined) process.stderr.write(`tls_peer.js: no client ${cmd.to}\n`);
                else srv.emit(socket, cmd.type, cmd.data);
            }
        }, quit);
    });
    // serveNet takes a falsy port as config.networkPort and a string port as a UDP type, so
    // the port is set afterwards: a string '0' is truthy for node-ipc and "any" for listen().
    ipc.server.port = '0';
    ipc.server.on('error', (err) => say(errLine('error', err)));
    ipc.server.start();
}

function client(o, ipc, types) {
    if (o.retry !== undefined) ipc.config.retry = Number(o.retry);
    if (o['max-retries'] !== undefined) ipc.config.maxRetries = Number(o['max-retries']);
    ipc.config.stopRetrying = o.retry === undefined && o['max-retries'] === undefined;
    ipc.connectToNet('server', o.host, Number(o.port));
    const peer = ipc.of.server;
    const quit = () => {
        if (leaving) return;
        say({ ev: 'bye' });
        const socket = peer.socket;
        const go = () => {
            ipc.disconnect('server');
            leave(0);
        };
        // Let queued writes reach the kernel first.
        if (socket && !socket.destroyed && socket.writableLength > 0) {
            socket.once('drain', go);
            setTimeout(go, 1000);
        } else {
            go();
        }
    };

    peer.on('connect', () => {
        // node-ipc listens for the TLS socket's `connect` (TCP is up), not `secureConnect`.
        const socket = peer.socket;
        say({ ev: 'connect', authorized: socket.authorized ?? null });
        socket.once('secureConnect', () => {
            say({
                ev: 'secure',
                authorized: socket.authorized,
                subject: subjectText(socket.getPeerCertificate()),
                protocol: socket.getProtocol(),
            });
        });
    });
    peer.on('error', (err) => {
        if (!leaving) say(errLine('error', err));
    });
    peer.on('disconnect', () => {
        if (!leaving) say({ ev: 'disconnect' });
    });
    peer.on('destroy', () => {
        if (leaving) return;
        say({ ev: 'destroy' });
        leave(1);
    });
    for (const type of types) {
        peer.on(type, (data) => say({ ev: 'event', type, data }));
    }
    commands((cmd) => {
        if (cmd.cmd === 'emit') peer.emit(cmd.type, cmd.data);
    }, quit);
}

function main() {
    const o = options();
    const lifetime = Number(o.timeout);
    setTimeout(() => {
        say({ ev: 'timeout' });
        leave(2);
    }, lifetime > 0 ? lifetime : 15000);
    for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => leave(1));

    const ipc = load(o.ver);
    ipc.config.id = o.id;
    ipc.config.silent = !o.verbose;
    ipc.config.logInColor = false;
    ipc.config.logger = (line) => process.stderr.write(`[node-ipc ${o.ver}] ${line}\n`);
    ipc.config.tls = tlsConfig(o);
    const types = o.on.split(',').filter((t) => t !== '');
    if (o.role === 'server') server(o, ipc, types);
    else client(o, ipc, types);
}

main();
