#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// node-ipc's UDP Multi-Client-Broadcast scenario, the Node side for examples/udp_broadcast.c:
//
//   node udp_broadcast.js --role world --udp4 PORT
//   node udp_broadcast.js --role hello|goodbye --udp4 PORT --local-port PORT
//
// world answers each `message` with data.message + ' world!' and, once it has heard from
// hello and goodbye, calls broadcast (which over UDP reaches no one in node-ipc); it logs
// "world <- <id>: <message>". A client serves its own udp4 port, sends {id: role, message:
// 'Hello' or 'Goodbye'} to world, prints "<role> <- world: <message>" for each, and exits 0
// at world's "Everybody Loves The World!..." broadcast.
'use strict';

const { start, serve } = require('./common.js');

const { args, ipc } = start('usage: node udp_broadcast.js --role world|hello|goodbye --udp4 PORT [--local-port PORT]');

if (args.role === 'world') {
    const heard = { hello: false, goodbye: false };
    serve(ipc, args, () => {
        ipc.server.on('message', (data, socket) => {
            console.log(`world <- ${data.id}: ${data.message}`);
            heard[data.id] = true;
            ipc.server.emit(socket, 'message', { id: 'world', message: `${data.message} world!` });
            if (heard.hello && heard.goodbye) {
                ipc.server.broadcast('message', {
                    id: 'world',
                    message: 'Everybody Loves The World! Got messages from hello and goodbye!',
                });
            }
        });
    });
} else {
    process.exitCode = 1; // until the broadcast
    const world = { address: '127.0.0.1', port: args.udp4 };
    serve(ipc, { ...args, udp4: args.localPort }, () => {
        ipc.server.on('message', (data) => {
            console.log(`${args.role} <- world: ${data.message}`);
            if (data.message.startsWith('Everybody')) {
                process.exitCode = 0;
                ipc.server.stop();
            }
        });
        ipc.server.on('start', () => {
            const message = args.role === 'hello' ? 'Hello' : 'Goodbye';
            ipc.server.emit(world, 'message', { id: args.role, message });
        });
    });
}
