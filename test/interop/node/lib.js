// SPDX-License-Identifier: MIT
//
// Loads node-ipc for the interop peers. Both majors are installed side by side through
// npm aliases (see package.json), both from the maintained @achrinza fork:
//
//   node-ipc-10 -> @achrinza/node-ipc@10.1.11  (ESM package; `require` gets its esbuild CJS
//                  bundle, which exports { IPCModule, default }; `default` is the singleton)
//   node-ipc-9  -> @achrinza/node-ipc@9.2.9    (plain CJS; `require` returns the singleton,
//                  whose `.IPC` property is the class)
//
// load(ver) always returns a fresh instance, so nothing is shared with other users of the
// singleton and every peer starts from the library defaults.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const VERSIONS = ['10', '9'];

function load(ver) {
    switch (String(ver)) {
    case '10': {
        const { IPCModule } = require('node-ipc-10');
        return new IPCModule();
    }
    case '9': {
        const { IPC } = require('node-ipc-9');
        return new IPC();
    }
    default:
        throw new Error(`unknown node-ipc version '${ver}' (want one of ${VERSIONS.join(', ')})`);
    }
}

// The installed package's own name and version. Read from disk, because v10's "exports"
// map does not expose its package.json to require().
function installed(ver) {
    if (!VERSIONS.includes(String(ver))) {
        throw new Error(`unknown node-ipc version '${ver}'`);
    }
    const file = path.join(__dirname, 'node_modules', `node-ipc-${ver}`, 'package.json');
    const { name, version } = JSON.parse(fs.readFileSync(file, 'utf8'));
    return { name, version };
}

module.exports = { VERSIONS, load, installed };
