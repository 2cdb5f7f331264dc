// SPDX-License-Identifier: MIT
//
// bench/shapes.json, the payloads of the echo test (bench/README.md), as bench_nodeipc.js and
// run.js read it; bench/shapes.h is its twin for the C programs. The file is one shape a line,
// each line exactly as JSON.stringify writes the shape, {"name":N,"value":V} or
// {"name":N,"values":[V,...]}, because the C programs find a value's text in the file and
// splice N into it; event N carries value N mod (how many there are) with "i" = N. Every value
// is an object whose first member is "i":0.
'use strict';

const fs = require('node:fs');

const ECHO_WINDOW = 128; // events in flight, sent minus echoed (ECHO_WINDOW in shapes.h)
const ECHO_CHECK_EVERY = 64; // the echo of every event N with N % 64 == 0 is compared whole
const MAX_VALUES = 16; // SHAPE_MAX_VALUES in shapes.h

// Every shape of `file`: [{name, values, texts}], texts[k] = JSON.stringify(values[k]).
// Throws when the file is not laid out as the C programs expect.
function loadShapes(file) {
    const text = fs.readFileSync(file, 'utf8');
    const doc = JSON.parse(text);
    if (!doc || !Array.isArray(doc.shapes) || doc.shapes.length === 0) throw new Error(`${file}: no "shapes" list`);
    const canonical = '{"shapes":[\n' + doc.shapes.map((s) => JSON.stringify(s)).join(',\n') + '\n]}\n';
    if (text !== canonical) {
        throw new Error(`${file}: not one shape a line, each as JSON.stringify writes it (the C programs read the text)`);
    }
    const names = new Set();
    return doc.shapes.map((s) => {
        const values = s.values ?? [s.value];
        const keys = Object.keys(s).join();
        if (typeof s.name !== 'string' || !/^[a-z0-9]+$/.test(s.name) || (keys !== 'name,value' && keys !== 'name,values')) {
            throw new Error(`${file}: a shape is {"name":"[a-z0-9]+","value":V} or {"name":...,"values":[V,...]}`);
        }
        if (names.has(s.name)) throw new Error(`${file}: shape ${s.name} twice`);
        names.add(s.name);
        if (!Array.isArray(values) || values.length < 1 || values.length > MAX_VALUES) {
            throw new Error(`${file}: shape ${s.name}: 1 to ${MAX_VALUES} values`);
        }
        const texts = values.map((v) => JSON.stringify(v));
        if (!texts.every((t) => /^\{"i":0[,}]/.test(t))) {
            throw new Error(`${file}: shape ${s.name}: every value is an object whose first member is "i":0`);
        }
        return { name: s.name, values, texts };
    });
}

// The bytes of frames 0 .. count - 1 as node-ipc writes them, {"type":"e","data":V}\f, V the
// value of event N with "i" = N: what the echo test's result calls bytes (shape_bytes() in
// shapes.h): the value's text with the digits of N for its "0", and 21 bytes around it
// ({"type":"e","data": before, } and the delimiter after).
function frameBytes(texts, count) {
    let b = count; // a digit each
    for (let p = 10; p < count; p *= 10) b += count - p; // and one more from p on
    const n = texts.length;
    texts.forEach((t, k) => {
        if (k < count) b += Math.floor((count - k + n - 1) / n) * (Buffer.byteLength(t) - 1 + 21);
    });
    return b;
}

module.exports = { ECHO_WINDOW, ECHO_CHECK_EVERY, loadShapes, frameBytes };
