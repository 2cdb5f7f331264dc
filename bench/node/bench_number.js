// SPDX-License-Identifier: MIT
// ns per double for Node's JSON.stringify(x) on the values bench_number wrote (see
// bench/bench_number.c): node bench/node/bench_number.js DIR. Best of 5 passes.
'use strict';
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bench/node/bench_number.js DIR');
  process.exit(2);
}
for (const name of ['random', 'short']) {
  const b = fs.readFileSync(path.join(dir, `${name}.bin`));
  const v = new Float64Array(b.buffer, b.byteOffset, b.length / 8);
  let sink = 0;
  let best = Infinity;
  for (let pass = 0; pass < 5; pass++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < v.length; i++) sink += JSON.stringify(v[i]).length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / v.length);
  }
  console.log(`${name.padEnd(7)} JSON.stringify  ${best.toFixed(1).padStart(6)} ns per double (${sink / 5} bytes written)`);
}
