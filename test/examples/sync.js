#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node-ipc's basicSync scenario, the Node side for examples/sync.c:
//
//   node sync.js --role world|hello (--path SOCKET | --tcp PORT) [--delay MS]
//
// world answers each `app.message` after MS milliseconds with data.message + ' world!',
// logging "world <- <id>: <message>, <n> waiting for an answer"; hello, with config.sync,
// emits "hello0" to "hello9" at once, prints "hello <- world: <message>" for each answer
// and exits 0 after the tenth.
'use strict';

const { start, serve, connect } = require('./common.js');

const { args, ipc } = start('usage: node sync.js --role world|hello (--path SOCKET | --tcp PORT)');
ipc.config.sync = true;

if (args.role === 'world') {
    let waiting = 0;
    serve(ipc, args, () => {
        ipc.server.on('app.message', (data, socket) => {
            waiting++;
            console.log(`world <- ${data.id}: ${data.message}, ${waiting} waiting for an answer`);
            setTimeout(() => {
                waiting--;
                ipc.server.emit(socket, 'app.message', { id: 'world', message: `${data.message} world!` });
            }, args.delay);
        });
    });
} else {
    let answered = 0;
    connect(ipc, args, (world) => {
        world.on('connect', () => {
            for (let i = 0; i < 10; i++) world.emit('app.message', { id: 'hello', message: `hello${i}` });
        });
        world.on('app.message', (data) => {
            console.log(`hello <- world: ${data.message}`);
            if (++answered === 10) ipc.disconnect('world');
        });
    });
}
