#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node-ipc's README cluster client, for the cluster example's tests, with its interval and
// its number of rounds as options.
//
//   node cluster_client.js (--path SOCKET | --tcp PORT) [--ver 10|9] [--interval MS]
//                          [--count N] [--clients K --tag T] [--timeout MS]
//
// Without --clients it is the README's client: every --interval MS (default 2000) it
// connects to 'world', emits `currentDate` {message: new Date().toISOString()} and
// disconnects at once, --count times (default: for ever), printing
// {"ev":"emitted","message":M} for each. It reads no answer.
//
// With --clients K, K clients run at the same time, each --count rounds one after the
// other: connect, emit `currentDate` {message: <ISO date>, seq: "T-k-i"}, wait for the
// worker's `served` answer, print {"ev":"served","seq":S,"pid":P,"worker":W}, disconnect.
// Each round is emitted once: a connection lost before its answer is a failure, never a
// second emit.
//
// Runs node-ipc 10 or 9 (--ver, default 10), the @achrinza/node-ipc packages the interop
// tests pin, loaded by ../interop/node/lib.js. Exit 0 after the last round (printing
// {"ev":"done","rounds":N}); 1 on an error or a lost connection (the reason on stderr); 2
// when not done within --timeout MS (default 20000).
'use strict';

const path = require('node:path');
const { load } = require(path.join(__dirname, '..', 'interop', 'node', 'lib.js'));

function parse(argv) {
    const args = {
        path: null, port: null, ver: '10', interval: 2000, count: Infinity, clients: 0,
        tag: 'c', timeout: 20000,
    };
    const number = (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${v}`);
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const v = argv[i + 1];
        if (v === undefined) throw new Error(`${a}: value missing`);
        i++;
        if (a === '--path') args.path = v;
        else if (a === '--tcp') args.port = number(v);
        else if (a === '--ver') args.ver = v;
        else if (a === '--interval') args.interval = number(v);
        else if (a === '--count') args.count = number(v);
        else if (a === '--clients') args.clients = number(v);
        else if (a === '--tag') args.tag = v;
        else if (a === '--timeout') args.timeout = number(v);
        else throw new Error(`unknown option ${a}`);
    }
    if ((args.path === null) === (args.port === null)) {
        throw new Error('usage: node cluster_client.js (--path SOCKET | --tcp PORT) [options]');
    }
    return args;
}

const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

function connect(ipc, args, id, cb) {
    if (args.path !== null) ipc.connectTo(id, args.path, cb);
    else ipc.connectToNet(id, '127.0.0.1', args.port, cb);
}

// The README's client: connect, emit, disconnect, every interval.
function readme(ipc, args) {
    let rounds = 0;
    const tick = () => {
        connect(ipc, args, 'world', () => {
            ipc.of.world.on('connect', () => {
                const message = new Date().toISOString();
                ipc.of.world.emit('currentDate', { message });
                print({ ev: 'emitted', message });
                ipc.disconnect('world');
                if (++rounds >= args.count) {
                    clearInterval(timer);
                    print({ ev: 'done', rounds });
                }
            });
        });
    };
    const timer = setInterval(tick, args.interval);
}

// K clients at once, each waiting for who served it.
function waiting(ipc, args) {
    let running = args.clients;
    let rounds = 0;
    const fail = (why) => {
        console.error(`cluster_client.js: ${why}`);
        process.exit(1);
    };
    const round = (k, i) => {
        if (i >= args.count) {
            if (--running === 0) print({ ev: 'done', rounds });
            return;
        }
        const id = `world-${k}`;
        const seq = `${args.tag}-${k}-${i}`;
        let emitted = false;
        let served = false;
        connect(ipc, args, id, () => {
            const c = ipc.of[id];
            c.on('connect', () => {
                if (emitted) return; // a reconnect: this round's event is out already
                emitted = true;
                c.emit('currentDate', { message: new Date().toISOString(), seq });
            });
            c.on('served', (data) => {
                if (served) return;
                served = true;
                rounds++;
                print({ ev: 'served', seq, pid: data.pid, worker: data.worker });
                ipc.disconnect(id);
                setImmediate(() => round(k, i + 1));
            });
            c.on('disconnect', () => {
                if (!served) fail(`${seq}: disconnected before it was served`);
            });
            c.on('error', (err) => {
                if (!served) fail(`${seq}: ${err && (err.code || err.message)}`);
            });
        });
    };
    for (let k = 0; k < args.clients; k++) round(k, 0);
}

function main() {
    let args;
    try {
        args = parse(process.argv.slice(2));
    } catch (e) {
        console.error(`cluster_client.js: ${e.message}`);
        process.exit(1);
    }
    setTimeout(() => {
        console.error(`cluster_client.js: not done within ${args.timeout} ms`);
        process.exit(2);
    }, args.timeout).unref();

    const ipc = load(args.ver);
    ipc.config.silent = true;
    if (args.clients > 0) {
        ipc.config.stopRetrying = true; // a round that cannot connect fails, never repeats
        waiting(ipc, args);
    } else {
        readme(ipc, args);
    }
}

main();
