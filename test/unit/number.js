#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// number.js: the doubles test/unit/number.c checks nipc__js_number on, each with the text
// JavaScript writes for it.
//
//   node number.js SEED RANDOM DECIMALS
//
// prints one line per double, "<16 hex digits of its IEEE 754 bits> <String(x)>", then
// "end <lines>". In order: RANDOM random bit patterns (every finite one equally likely),
// DECIMALS decimals with few digits, then the edge cases. The random and decimal parts come
// from a xorshift32 generator seeded with SEED, which number.c runs too, so it can check
// that it got the list it asked for; the edge cases are listed here only.
'use strict';

const [seedArg, randomArg, decimalArg] = process.argv.slice(2);
if (decimalArg === undefined) {
    console.error('usage: node number.js SEED RANDOM DECIMALS');
    process.exit(2);
}
const next = require('./random.js').xorshift(seedArg);

const view = new DataView(new ArrayBuffer(8));
const fromWords = (hi, lo) => {
    view.setUint32(0, hi);
    view.setUint32(4, lo);
    return view.getFloat64(0);
};
const fromBits = (b) => {
    view.setBigUint64(0, BigInt.asUintN(64, b));
    return view.getFloat64(0);
};
const bitsOf = (x) => {
    view.setFloat64(0, x);
    return view.getBigUint64(0);
};

let out = [];
let lines = 0;
const emit = (x) => {
    view.setFloat64(0, x);
    const hex = view.getUint32(0).toString(16).padStart(8, '0') +
                view.getUint32(4).toString(16).padStart(8, '0');
    out.push(hex + ' ' + String(x));
    lines++;
    if (out.length >= 65536) {
        process.stdout.write(out.join('\n') + '\n');
        out = [];
    }
};

// Random bit patterns; a draw with the all-ones exponent (Infinity, NaN) is drawn again.
for (let i = 0; i < Number(randomArg); i++) {
    let hi;
    let lo;
    do {
        hi = next();
        lo = next();
    } while (((hi >>> 20) & 0x7ff) === 0x7ff);
    emit(fromWords(hi, lo));
}

// Decimals with 1 to 15 digits, either divided by 10^j (j <= 22, what a program computes) or
// read from "<digits>e<exponent>" over the whole range (what a parser makes of short text).
const POW10 = [];
for (let j = 0; j <= 22; j++)
    POW10.push(Number('1e' + j));
for (let i = 0; i < Number(decimalArg); i++) {
    const k = 1 + (next() % 15);
    const r = (next() % 2097152) * 4294967296 + next(); // < 2^53, exact
    const m = POW10[k - 1] + (r % (9 * POW10[k - 1]));
    let x;
    if (next() % 2 === 0) {
        x = m / POW10[next() % 23];
    } else {
        const lo = -340;
        const hi = 308 - k;
        x = Number(m + 'e' + (lo + (next() % (hi - lo + 1))));
    }
    emit(next() % 2 === 0 ? x : -x);
}

// Edge cases, each also negated.
const edges = [];
const near = (x, n) => {
    const b = bitsOf(x);
    for (let d = -n; d <= n; d++) {
        const nb = b + BigInt(d);
        if (nb >= 0n && nb < 0x7ff0000000000000n)
            edges.push(fromBits(nb));
    }
};
// Powers of two over the whole range, with the doubles next to them.
for (let e = -1074; e <= 1023; e++)
    near(2 ** e, 1);
// Subnormals: the smallest few, the largest, the smallest normal.
for (let b = 1n; b <= 64n; b++)
    edges.push(fromBits(b));
near(fromBits(0x000fffffffffffffn), 2);
near(fromBits(0x0010000000000000n), 2); // DBL_MIN
near(fromBits(0x7fefffffffffffffn), 2); // DBL_MAX and below
// Where the layout changes: 1e21, 1e-6, 1e-7, and their powers of ten around.
for (const x of [1e21, 1e20, 1e22, 1e-6, 1e-7, 1e-5, 1e-8, 1, 10, 0.1])
    near(x, 3);
// 17 significant digits.
for (const x of [0.1 + 0.2, 1 / 3, 2 / 3, 1.0000000000000002, 0.9999999999999999,
                 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.12345679,
                 5.0000000000000005e-7, 9.999999999999999e20])
    near(x, 2);
// Integers near 2^53 and beyond, where the spacing grows past 1.
for (let i = -64; i <= 64; i++) {
    edges.push(2 ** 53 + i);
    edges.push(2 ** 54 + 4 * i);
    edges.push(2 ** 64 + 4096 * i);
    edges.push(1e21 + 131072 * i);
}
for (let e = 53; e <= 80; e++)
    near(2 ** e - 1, 2);
// Doubles whose rounding interval ends exactly on a round number a * 10^j: the end belongs
// to the interval when the significand is even, and not when it is odd.
const TWO52 = 1n << 52n;
for (let j = 0n; j <= 40n; j++) {
    for (let a = 1n; a <= 999n; a++) {
        let o = a * 10n ** j;
        let v = 0n;
        while ((o & 1n) === 0n) {
            o >>= 1n;
            v++;
        }
        // o * 2^v is the midpoint of c * 2^(v+1) and (c + 1) * 2^(v+1) when o = 2c + 1.
        if (o <= 2n * TWO52 || o >= 4n * TWO52)
            continue;
        const c = (o - 1n) / 2n;
        const q = v + 1n;
        if (q + 1075n > 2046n)
            continue;
        const b = ((q + 1075n) << 52n) | (c - TWO52);
        edges.push(fromBits(b), fromBits(b + 1n));
    }
}
for (const x of edges) {
    emit(x);
    emit(-x);
}

out.push('end ' + lines);
process.stdout.write(out.join('\n') + '\n');
