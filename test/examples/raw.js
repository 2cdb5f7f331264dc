#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node-ipc's rawBuffer scenario, the Node side for examples/raw.c:
//
//   node raw.js --role world|hello (--path SOCKET | --tcp PORT)
//
// world greets each client with "hello" and answers each read with "goodbye", logging
// "world <- hello: <read>"; hello sends "hello", prints "hello <- world: <read>" for each
// read, and exits 0 once it has "hellogoodbye" (1 when the bytes differ).
'use strict';

const { start, serve, connect } = require('./common.js');

const { args, ipc } = start('usage: node raw.js --role world|hello (--path SOCKET | --tcp PORT)');
ipc.config.rawBuffer = true;
ipc.config.encoding = 'ascii';

if (args.role === 'world') {
    serve(ipc, args, () => {
        ipc.server.on('connect', (socket) => ipc.server.emit(socket, 'hello'));
        ipc.server.on('data', (data, socket) => {
            console.log(`world <- hello: ${data.toString()}`);
            ipc.server.emit(socket, 'goodbye');
        });
    });
} else {
    let got = '';
    connect(ipc, args, (world) => {
        world.on('connect', () => world.emit('hello'));
        world.on('data', (data) => {
            console.log(`hello <- world: ${data.toString()}`);
            got += data.toString();
            if (!'hellogoodbye'.startsWith(got)) process.exitCode = 1;
            if (got.length >= 'hellogoodbye'.length || process.exitCode) ipc.disconnect('world');
        });
    });
}
