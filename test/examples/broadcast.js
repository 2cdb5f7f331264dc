#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node-ipc's Multi-Client-Broadcast scenario, the Node side for examples/broadcast.c:
//
//   node broadcast.js --role world|hello|goodbye (--path SOCKET | --tcp PORT)
//
// world answers each `app.message` with data.message + ' world!' and, once it has heard from
// hello and goodbye, broadcasts `kill.connection`; it logs "world <- <id>: <message>" and
// "world: <id> has disconnected". A client emits `app.message` {id: role, message: role},
// prints "<role> <- world: <message>", and on `kill.connection` prints "<role>: world
// requested kill.connection", disconnects and exits 0.
'use strict';

const { start, serve, connect } = require('./common.js');

const { args, ipc } = start('usage: node broadcast.js --role world|hello|goodbye (--path SOCKET | --tcp PORT)');

if (args.role === 'world') {
    const heard = { hello: false, goodbye: false };
    serve(ipc, args, () => {
        ipc.server.on('app.message', (data, socket) => {
            console.log(`world <- ${data.id}: ${data.message}`);
            heard[data.id] = true;
            ipc.server.emit(socket, 'app.message', { id: 'world', message: `${data.message} world!` });
            if (heard.hello && heard.goodbye) {
                console.log('world: heard from hello and goodbye, telling every client to go');
                ipc.server.broadcast('kill.connection', { id: 'world' });
            }
        });
        ipc.server.on('socket.disconnected', (socket, id) => console.log(`world: ${id} has disconnected`));
    });
} else {
    process.exitCode = 1; // until world says kill.connection
    connect(ipc, args, (world) => {
        world.on('connect', () => world.emit('app.message', { id: args.role, message: args.role }));
        world.on('app.message', (data) => console.log(`${args.role} <- world: ${data.message}`));
        world.on('kill.connection', () => {
            console.log(`${args.role}: world requested kill.connection`);
            process.exitCode = 0;
            ipc.disconnect('world');
        });
    });
}
