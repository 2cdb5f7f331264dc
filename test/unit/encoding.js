#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// encoding.js: what Node's Buffer makes of the byte strings test/unit/encoding.c checks
// nipc__encoding_from_text and nipc__encoding_to_text on.
//
//   node encoding.js SEED COUNT
//
// prints, for each input and each encoding, one line
//
//   <encoding> <input> <from> <to>
//
// where from is Buffer.from(Buffer.from(input).toString('utf8'), encoding), what a C text
// stands for once sent, and to is Buffer.from(Buffer.from(input).toString(encoding), 'utf8'),
// a buffer's text as UTF-8; every field in hex, '-' when empty. Then one line
// "name <name in hex> <0 or 1>" per name of a list, with Buffer.isEncoding's answer, and
// "end <lines>". The inputs: a fixed list, then COUNT random ones of each kind (bytes, valid
// UTF-8, hex-like and base64-like text with junk) from a xorshift32 generator seeded with
// SEED, then a few long ones, past the size where Node allocates outside its pool.
'use strict';

const [seedArg, countArg] = process.argv.slice(2);
if (countArg === undefined) {
    console.error('usage: node encoding.js SEED COUNT');
    process.exit(2);
}
const next = require('./random.js').xorshift(seedArg);
const below = (n) => next() % n;
const pick = (list) => list[below(list.length)];

const ENCODINGS = ['utf8', 'ascii', 'latin1', 'hex', 'base64', 'base64url', 'utf16le'];

const inputs = [];
const text = (s) => inputs.push(Buffer.from(s, 'utf8'));
const bytes = (a) => inputs.push(Buffer.from(a));

// node-ipc's README and the compat notes (R2, R4).
for (const s of ['', 'hello', 'héllo', '0a0b0cff', 'zz', 'AAEC/w==', 'hi', '000200ffeecc',
                 '0200cceeff00', '056d5c'])
    text(s);
bytes([0x00, 0xff, 0x80, 0x41, 0xc3, 0xa9, 0x0c]);
bytes([0x00, 0x02, 0x00, 0xff, 0xee, 0xcc]);
bytes([0x02, 0x00, 0xcc, 0xee, 0xff, 0x00]);
// Ill-formed UTF-8: lone continuations, bad leads, overlongs, surrogates, past U+10FFFF,
// sequences cut short in the middle and at the end.
for (const a of [[0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0xbf], [0xc2], [0xc2, 0x41], [0xe0, 0x80, 0x80],
                 [0xe0, 0xa0], [0xe0, 0xa0, 0x41], [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf],
                 [0xed, 0xbf, 0xbf], [0xef, 0xbf, 0xbd], [0xef, 0xbf, 0xbe], [0xf0, 0x80, 0x80, 0x80],
                 [0xf0, 0x90], [0xf0, 0x90, 0x80], [0xf0, 0x9f, 0x98, 0x80], [0xf4, 0x8f, 0xbf, 0xbf],
                 [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xfe], [0xff],
                 [0x41, 0xe2, 0x82], [0xe2, 0x82, 0xe2, 0x82, 0xac], [0xf1, 0x80, 0x80, 0xc2, 0x80]])
    bytes(a);
// UTF-16 units whose low byte is a hex digit or '=' or a base64 character, astral characters.
for (const s of ['ı1', '1ı', 'ab😀cd', 'ŁŁŁŁ', 'QUJDĽQQ', 'QUJDĀQQ', 'QU😀JD', '€', '😀', '\u{10ffff}',
                 '\ufeff', '\ufffd', '\ud7ff\ue000', 'ĀāĂ', 'ÿ'])
    text(s);
// Hex: odd lengths, bad pairs, upper case, stops.
for (const s of ['a', 'abc', '0A0B', '0g12', '12 34', '1234z5', 'g1', '1g', 'ff00FF', '0'])
    text(s);
// Base64: padding in and out of place, junk, both alphabets, lengths 1 to 8.
for (const s of ['AAEC_w==', 'AAEC-w', 'AAEC/w', 'A', 'AB', 'ABC', 'ABCD', 'AB=CD', 'AB==CD', 'A===',
                 'AB CD', 'AB\nCD', 'AB*CD', '=AB', 'AAEC/w==AAEC', 'QQ==QQ==', 'QUI=QUI=', 'Q=Q',
                 'QQ=', 'QUJD=', 'QUJDRA=', 'QUJDRA', 'QUJDR', '====', ' QUJD ', 'éQUJD', 'ÿQUJD',
                 '+/+/', '-_-_', 'QR==', 'QUJ=', 'AP+AQcOpDA==', 'AP-AQcOpDA'])
    text(s);

const randomBytes = (len) => {
    const a = [];
    for (let i = 0; i < len; i++) {
        const r = below(10);
        if (r < 4)
            a.push(below(256));
        else if (r < 7)
            a.push(0x80 + below(64)); // continuations
        else if (r < 9)
            a.push(pick([0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf3, 0xf4, 0xf5, 0xff]));
        else
            a.push(0x20 + below(95));
    }
    return Buffer.from(a);
};
const randomText = (len) => {
    let s = '';
    for (let i = 0; i < len; i++) {
        const r = below(10);
        let c;
        if (r < 3)
            c = 0x20 + below(95);
        else if (r < 5)
            c = 0x80 + below(0x780);
        else if (r < 7)
            do
                c = 0x800 + below(0x10000 - 0x800);
            while (c >= 0xd800 && c <= 0xdfff);
        else if (r < 9)
            c = 0x10000 + below(0x100000);
        else
            c = pick([0, 0x7f, 0xd7ff, 0xe000, 0xfeff, 0xfffd, 0xffff, 0x10000, 0x10ffff, 0x1f600]);
        s += String.fromCodePoint(c);
    }
    return Buffer.from(s, 'utf8');
};
// Characters from `good` with junk among them.
const randomLike = (len, good, junk) => {
    let s = '';
    for (let i = 0; i < len; i++)
        s += below(12) === 0 ? pick(junk) : good[below(good.length)];
    return Buffer.from(s, 'utf8');
};
const HEX = '0123456789abcdefABCDEF';
const HEX_JUNK = [' ', 'z', 'g', '\n', 'ı', 'İ', '😀', 'é', 'Ā', '-'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_';
const B64_JUNK = [' ', '\n', '\t', '\r', '=', '==', '*', '.', 'é', 'Ł', 'Ľ', 'ı', '😀', '€', '\u0100', '\u013d'];
const randomHex = (len) => randomLike(len, HEX, HEX_JUNK);
const randomBase64 = (len) => {
    const b = randomLike(len, B64, B64_JUNK);
    return below(3) === 0 ? Buffer.concat([b, Buffer.from('='.repeat(below(3)))]) : b;
};

const count = Number(countArg);
for (const make of [randomBytes, randomText, randomHex, randomBase64]) {
    for (let i = 0; i < count; i++)
        inputs.push(make(below(40)));
    // Past 4096 bytes Node sizes the buffer in C++ (createFromString), not in JavaScript.
    for (const len of [3000, 5000, 9001])
        inputs.push(make(len));
}

const hex = (b) => (b.length === 0 ? '-' : b.toString('hex'));
let out = [];
let lines = 0;
const line = (s) => {
    out.push(s);
    lines++;
    if (out.length >= 4096) {
        process.stdout.write(out.join('\n') + '\n');
        out = [];
    }
};
for (const input of inputs) {
    const js = input.toString('utf8');
    for (const enc of ENCODINGS) {
        const from = Buffer.from(js, enc);
        const to = Buffer.from(input.toString(enc), 'utf8');
        line(`${enc} ${hex(input)} ${hex(from)} ${hex(to)}`);
    }
}

const NAMES = ['utf8', 'utf-8', 'ascii', 'latin1', 'binary', 'hex', 'base64', 'base64url', 'utf16le',
               'utf-16le', 'ucs2', 'ucs-2', 'UTF8', 'Utf-8', 'ASCII', 'Latin1', 'BINARY', 'HeX',
               'Base64', 'BASE64URL', 'UTF16LE', 'Utf-16LE', 'UCS2', 'UCS-2', '', ' utf8', 'utf8 ',
               'utf', 'utf16', 'utf-16', 'utf_8', 'utf-8 ', 'ucs', 'ucs-4', 'latin-1', 'latin', 'base-64',
               'base64-url', 'base64 ', 'hexa', 'he', 'raw', 'buffer', 'binary1', 'ut8', 'LATİN1',
               'ba\u017fe64', 'utf\u00ad8', 'ucs\u20122'];
for (const n of NAMES)
    line(`name ${hex(Buffer.from(n, 'utf8'))} ${Buffer.isEncoding(n) ? 1 : 0}`);

out.push('end ' + lines);
process.stdout.write(out.join('\n') + '\n');
