#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// gen_pow10.js: writes src/core/pow10.h, the powers of ten that src/core/number.c multiplies
// by, and checks in exact integer arithmetic (BigInt) every constant number.c relies on.
//
//   node scripts/gen_pow10.js            rewrite src/core/pow10.h
//   node scripts/gen_pow10.js --check    exit 1 when src/core/pow10.h differs from its output
//
// For each decimal exponent e = -k in [E_MIN, E_MAX] the table holds g(e), the 128-bit integer
// ceil(10^e * 2^(127 - floor(e * log2(10)))), which lies in [2^127, 2^128). It is exact when
// that product is an integer (0 <= e <= 55) and one unit above it otherwise. number.c reads
// the three floor-logarithms below as multiply-and-shift formulas; this script checks each
// formula against the exact value over the whole range it is used on.
'use strict';

const path = require('path');

const { writeOrCheck } = require('./generated');

const OUT = path.join(__dirname, '..', 'src', 'core', 'pow10.h');

// Binary exponents of a double's integer significand: q = biased exponent - 1075, and
// -1074 for subnormals. The table covers the decimal exponents those need.
const Q_MIN = -1074;
const Q_MAX = 2046 - 1075;

const big = (n) => BigInt(n);
const pow = (b, e) => big(b) ** big(e);
const bitLength = (n) => n.toString(2).length;

// floor(log10(num / den)) for positive BigInts, exactly.
function floorLog10(num, den) {
    let k = num.toString().length - den.toString().length;
    for (;;) {
        const lo = k >= 0 ? [pow(10, k) * den, num] : [den, num * pow(10, -k)];
        if (lo[0] > lo[1]) {
            k--;
            continue;
        }
        const hi = k + 1 >= 0 ? [pow(10, k + 1) * den, num] : [den, num * pow(10, -(k + 1))];
        if (hi[0] <= hi[1]) {
            k++;
            continue;
        }
        return k;
    }
}

// floor(q * log10(2)) and floor(log10(3/4 * 2^q)), exactly.
const log10Pow2 = (q) => (q >= 0 ? floorLog10(pow(2, q), 1n) : floorLog10(1n, pow(2, -q)));
const log10ThreeQuartersPow2 = (q) =>
    q >= 2 ? floorLog10(3n * pow(2, q - 2), 1n) : floorLog10(3n, pow(2, 2 - q));
// floor(e * log2(10)), exactly: 10^e is a power of two only for e = 0.
const log2Pow10 = (e) => (e >= 0 ? bitLength(pow(10, e)) - 1 : -bitLength(pow(10, -e)));

// The smallest shift s (with its multiplier and offset) for which floor((x * mul - sub) / 2^s)
// equals want(x) on every x in [lo, hi]; number.c evaluates it on a non-negative operand.
function fitFormula(name, lo, hi, want, logValue, offsetValue) {
    const wants = [];
    for (let x = lo; x <= hi; x++)
        wants.push(want(x));
    for (let s = 8; s <= 30; s++) {
        const scale = 2 ** s;
        for (const mul of [Math.floor(logValue * scale), Math.ceil(logValue * scale)]) {
            for (const sub of [Math.floor(-offsetValue * scale), Math.ceil(-offsetValue * scale)]) {
                let ok = true;
                for (let x = lo; x <= hi && ok; x++)
                    ok = Math.floor((x * mul - sub) / scale) === wants[x - lo];
                if (ok)
                    return { name, mul, sub, shift: s };
            }
        }
    }
    throw new Error(`no formula for ${name}`);
}

const fLog10Pow2 = fitFormula('LOG10_POW2', Q_MIN, Q_MAX, log10Pow2, Math.log10(2), 0);
const fLog10ThreeQuarters = fitFormula('LOG10_3Q_POW2', Q_MIN + 1, Q_MAX, log10ThreeQuartersPow2,
                                       Math.log10(2), Math.log10(0.75));

// The decimal exponents the table needs: -k for every q, regular or not.
let kMin = Infinity;
let kMax = -Infinity;
for (let q = Q_MIN; q <= Q_MAX; q++) {
    for (const k of [log10Pow2(q), q > Q_MIN ? log10ThreeQuartersPow2(q) : log10Pow2(q)]) {
        kMin = Math.min(kMin, k);
        kMax = Math.max(kMax, k);
    }
}
const E_MIN = -kMax;
const E_MAX = -kMin;

const fLog2Pow10 = fitFormula('LOG2_POW10', E_MIN, E_MAX, log2Pow10, Math.log2(10), 0);

// The shift h = q + floor(-k * log2(10)) + 1 that number.c applies to the bounds before the
// multiplication must stay small enough for 4 * c + 2 < 2^55 to fit 64 bits shifted.
for (let q = Q_MIN; q <= Q_MAX; q++) {
    for (const k of [log10Pow2(q), log10ThreeQuartersPow2(q)]) {
        const h = q + log2Pow10(-k) + 1;
        if (h < 1 || h > 4)
            throw new Error(`h = ${h} at q = ${q}`);
    }
}

const TWO127 = pow(2, 127);
const TWO128 = pow(2, 128);
const MASK64 = pow(2, 64) - 1n;
const hex = (n) => '0x' + n.toString(16).padStart(16, '0');

function g(e) {
    const t = 127 - log2Pow10(e); // G = 10^e * 2^t
    let num;
    let den;
    if (e >= 0) {
        num = pow(10, e) * (t >= 0 ? pow(2, t) : 1n);
        den = t >= 0 ? 1n : pow(2, -t);
    } else {
        num = pow(2, t);
        den = pow(10, -e);
    }
    const v = (num + den - 1n) / den; // ceil
    if (v < TWO127 || v >= TWO128)
        throw new Error(`g(${e}) out of range`);
    return { v, exact: num % den === 0n };
}

const lines = [];
lines.push('/* SPDX-License-Identifier: MIT */');
lines.push(
    '/*',
    ' * Generated by scripts/gen_pow10.js: do not edit. For e in [POW10_E_MIN, POW10_E_MAX],',
    ' * pow10_g[e - POW10_E_MIN] = {high, low} 64 bits of',
    ' * ceil(10^e * 2^(127 - floor(e * log2(10)))), a 128-bit integer in [2^127, 2^128),',
    ' * exact for 0 <= e <= 55. The LOG* formulas are floor(x * log) as',
    ' * floor((x * MUL - SUB) / 2^SHIFT), checked by the script over the ranges number.c',
    ' * uses them on.',
    ' */');
lines.push('#ifndef NIPC_CORE_POW10_H');
lines.push('#define NIPC_CORE_POW10_H');
lines.push('');
lines.push('#include <stdint.h>');
lines.push('');
for (const f of [fLog10Pow2, fLog10ThreeQuarters, fLog2Pow10]) {
    lines.push(`#define ${f.name}_MUL ${f.mul}`);
    lines.push(`#define ${f.name}_SUB ${f.sub}`);
    lines.push(`#define ${f.name}_SHIFT ${f.shift}`);
}
lines.push(`#define POW10_E_MIN (${E_MIN})`);
lines.push(`#define POW10_E_MAX ${E_MAX}`);
lines.push('');
lines.push(`static const uint64_t pow10_g[${E_MAX - E_MIN + 1}][2] = {`);
for (let e = E_MIN; e <= E_MAX; e++) {
    const { v, exact } = g(e);
    if (exact !== (e >= 0 && e <= 55))
        throw new Error(`exactness of g(${e})`);
    lines.push(`    {${hex(v >> 64n)}, ${hex(v & MASK64)}}, /* 10^${e} */`);
}
lines.push('};');
lines.push('');
lines.push('#endif');
writeOrCheck(OUT, lines.join('\n') + '\n', __filename);
