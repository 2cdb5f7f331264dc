// SPDX-License-Identifier: MIT
//
// generated.js: what the table generators (gen_pow10.js, gen_pow5.js) share: writing a
// generated file, or with --check on the command line exiting 1 when it differs.
'use strict';

const fs = require('fs');
const path = require('path');

// `text` is the file's whole content; `script` the generator's __filename, for the message.
function writeOrCheck(out, text, script) {
    if (process.argv.includes('--check')) {
        const have = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
        if (have !== text) {
            console.error(`${out} is not what ${path.basename(script)} writes`);
            process.exit(1);
        }
    } else {
        fs.writeFileSync(out, text);
    }
}

module.exports = { writeOrCheck };
