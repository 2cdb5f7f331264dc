// SPDX-License-Identifier: MIT
//
// What the Node sides of the examples' scenarios (raw.js, sync.js, broadcast.js,
// udp_broadcast.js) share: their command line, node-ipc 10 loaded fresh, and how they end.
//
//   --role NAME        which side of the scenario this process is
//   --path SOCKET | --tcp PORT | --udp4 PORT    where the server is
//   --local-port PORT  a UDP client's own port (node-ipc takes 0 for "the default")
//   --delay MS         sync.js's world: how long it waits before each answer
//   --timeout SECONDS  the bound below (default 20)
//
// A server prints "<id> is listening" once it is, and exits 0 on SIGTERM. Every process
// exits 2 when it has not finished within the bound.
'use strict';

const path = require('node:path');
const { load } = require(path.join(__dirname, '..', 'interop', 'node', 'lib.js'));

function parse(argv) {
    const args = { role: null, path: null, tcp: null, udp4: null, localPort: null, delay: 2000, timeout: 20 };
    const numbers = { '--tcp': 'tcp', '--udp4': 'udp4', '--local-port': 'localPort', '--delay': 'delay', '--timeout': 'timeout' };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (i + 1 >= argv.length) throw new Error(`${a}: its value is missing`);
        if (a === '--role') args.role = argv[++i];
        else if (a === '--path') args.path = argv[++i];
        else if (a in numbers) args[numbers[a]] = Number(argv[++i]);
        else throw new Error(`unknown argument ${a}`);
    }
    return args;
}

// Parses the command line (exit 1 when it is wrong), arms the bound, and returns
// { args, ipc } with ipc.config.id set to the role.
function start(usage) {
    let args;
    try {
        args = parse(process.argv.slice(2));
    } catch (e) {
        console.error(`${usage}\n${e.message}`);
        process.exit(1);
    }
    setTimeout(() => {
        console.error(`not finished within ${args.timeout} s`);
        process.exit(2);
    }, args.timeout * 1000).unref();
    const ipc = load('10');
    ipc.config.id = args.role;
    ipc.config.retry = 1500;
    ipc.config.silent = true;
    return { args, ipc };
}

// Serves on args' transport; `setup` registers the handlers. Prints "<id> is listening" once
// it is; SIGTERM stops it, with exit 0.
function serve(ipc, args, setup) {
    const ready = () => {
        setup();
        ipc.server.on('start', () => console.log(`${ipc.config.id} is listening`));
    };
    if (args.path !== null) ipc.serve(args.path, ready);
    else if (args.tcp !== null) ipc.serveNet('127.0.0.1', args.tcp, ready);
    else ipc.serveNet('127.0.0.1', args.udp4, 'udp4', ready);
    ipc.server.start();
    process.on('SIGTERM', () => {
        ipc.server.stop();
        process.exit(0);
    });
}

// Connects to world on args' transport; `setup` gets ipc.of.world.
function connect(ipc, args, setup) {
    const ready = () => setup(ipc.of.world);
    if (args.path !== null) ipc.connectTo('world', args.path, ready);
    else ipc.connectToNet('world', '127.0.0.1', args.tcp, ready);
}

module.exports = { start, serve, connect };
