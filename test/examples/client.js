#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// A node-ipc client for the examples' tests: it stands in for hello in front of the C world.
//
//   node client.js (--path SOCKET | --tcp PORT [--tls DIR [--mutual]]) VALUE...
//
// With --tls, node-ipc's TLS client (config.tls) trusting DIR/ca.pem (test/support/certs.sh's
// files) and verifying world (rejectUnauthorized); with --mutual it also shows its own
// certificate, DIR/client.pem, as node-ipc's basic-most-secure example does.
//
// Connects to world (connectTo('world', SOCKET) or connectToNet('world', '127.0.0.1', PORT)),
// emits `message` with each VALUE, parsed as JSON, in turn, each once the one before has
// been answered, and prints each answer's data as one JSON line. Runs node-ipc 10 (the
// @achrinza/node-ipc package the interop tests pin), loaded by ../interop/node/lib.js.
//
// Exit 0 after the last answer; 1 on an error or a connection lost before then (the reason
// on stderr); 2 when it has not finished within 10 s.
'use strict';

const path = require('node:path');
const { load } = require(path.join(__dirname, '..', 'interop', 'node', 'lib.js'));

function parse(argv) {
    const args = { path: null, port: null, tls: null, mutual: false, values: [] };
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--path' && i + 1 < argv.length) {
            args.path = argv[++i];
        } else if (argv[i] === '--tcp' && i + 1 < argv.length) {
            args.port = Number(argv[++i]);
        } else if (argv[i] === '--tls' && i + 1 < argv.length) {
            args.tls = argv[++i];
        } else if (argv[i] === '--mutual') {
            args.mutual = true;
        } else {
            args.values.push(JSON.parse(argv[i]));
        }
    }
    if ((args.path === null) === (args.port === null) || args.values.length === 0 ||
        (args.tls !== null && args.port === null) || (args.mutual && args.tls === null)) {
        throw new Error('usage: node client.js (--path SOCKET | --tcp PORT [--tls DIR [--mutual]]) VALUE...');
    }
    return args;
}

function main() {
    let args;
    try {
        args = parse(process.argv.slice(2));
    } catch (e) {
        console.error(`client.js: ${e.message}`);
        process.exit(1);
    }

    // Unref'd: it ends a run that hangs, and does not keep a finished one alive.
    setTimeout(() => {
        console.error('client.js: not finished within 10 s');
        process.exit(2);
    }, 10000).unref();

    const ipc = load('10');
    ipc.config.id = 'node-hello';
    ipc.config.silent = true;
    ipc.config.stopRetrying = true; // no world: fail at once, do not retry
    if (args.tls !== null) {
        ipc.config.tls = {
            trustedConnections: [path.join(args.tls, 'ca.pem')],
            rejectUnauthorized: true,
        };
        if (args.mutual) {
            ipc.config.tls.public = path.join(args.tls, 'client.pem');
            ipc.config.tls.private = path.join(args.tls, 'client.key');
        }
    }

    let answered = 0;
    let finished = false;
    const finish = (code, why) => {
        if (finished) return;
        finished = true;
        if (why) console.error(`client.js: ${why}`);
        process.exitCode = code;
        ipc.disconnect('world');
    };

    const setup = () => {
        const world = ipc.of.world;
        world.on('connect', () => world.emit('message', args.values[0]));
        world.on('message', (data) => {
            if (finished) return;
            console.log(JSON.stringify(data));
            answered++;
            if (answered < args.values.length) {
                world.emit('message', args.values[answered]);
            } else {
                finish(0);
            }
        });
        world.on('error', (err) => finish(1, `error: ${err && (err.code || err.message)}`));
        world.on('disconnect', () => finish(1, `disconnected after ${answered} answer(s)`));
    };

    if (args.path !== null) {
        ipc.connectTo('world', args.path, setup);
    } else {
        ipc.connectToNet('world', '127.0.0.1', args.port, setup);
    }
}

main();
