// SPDX-License-Identifier: MIT
//
// The seeded xorshift32 generator the unit tests' Node scripts share, so that a seed names
// the same inputs on every run.
'use strict';

function xorshift(seed) {
    let state = Number(seed) >>> 0 || 1;
    return () => {
        state ^= state << 13;
        state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        return state;
    };
}

module.exports = { xorshift };
