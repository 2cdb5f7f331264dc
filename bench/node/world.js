#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// world.js: node-ipc's basic world server (@achrinza/node-ipc 10.1.11), the Node side of the
// benchmark's world test (bench/README.md), as examples/world.c is nipc's:
//
//   node world.js --path PATH [--silent]
//
// It answers each `message` with data + ' world!' and logs it with
// ipc.log('got a message : ', data), with node-ipc's default logging (config.silent false,
// its logger console.log, logInColor and logDepth at their defaults) unless --silent. The
// driver points stdout at a file. SIGTERM ends it; console.log's writes to a file are
// synchronous, so every line is in the file by then.
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const { IPCModule } = require(path.join(__dirname, '../../test/interop/node/node_modules/node-ipc-10'));

const { values: o } = parseArgs({
    options: { path: { type: 'string' }, silent: { type: 'boolean', default: false } },
});
if (!o.path) {
    process.stderr.write('usage: node world.js --path PATH [--silent]\n');
    process.exit(2);
}

const ipc = new IPCModule();
ipc.config.id = 'world';
ipc.config.retry = 1500;
ipc.config.silent = o.silent;

ipc.serve(o.path, () => {
    ipc.server.on('message', (data, socket) => {
        ipc.log('got a message : ', data);
        ipc.server.emit(socket, 'message', data + ' world!');
    });
    ipc.server.on('socket.disconnected', (socket, destroyedSocketID) => {
        ipc.log('client ' + destroyedSocketID + ' has disconnected!');
    });
});
ipc.server.start();

process.on('SIGTERM', () => process.exit(0));
