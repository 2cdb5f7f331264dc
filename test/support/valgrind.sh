#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/support/valgrind.sh COMMAND [ARG...]
# How the valgrind tree (preset valgrind, `make test-valgrind`) starts each test that is a
# program of ours: under valgrind's memcheck, with every process it starts (Criterion's
# workers, the soak clients) traced too. Node peers, shells (system(), test/support/certs.sh)
# and what they start run natively: valgrind on node would check V8, not nipc, and take
# minutes per peer. Quiet, so valgrind prints only what it finds: the test's
# FAIL_REGULAR_EXPRESSION fails it on any line of valgrind's, as it fails on ASan's reports
# (Criterion ignores a worker's exit code); --error-exitcode fails a plain program by itself.
# Leaks count when definite or indirect: "possibly lost" and "still reachable" blocks are
# what libraries keep until exit. The tests keep their event recorders on the stack (a
# th_rec_t is 0.9 MiB), so a frame may be larger than valgrind's 2 MB guess at a stack
# switch: --max-stackframe is the 8 MiB stack itself, beyond which a test would crash anyway.
# NIPC_VALGRIND=1 tells the tests (th_valgrind()) to scale down what only costs time there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export NIPC_VALGRIND=1
exec valgrind --quiet --tool=memcheck --error-exitcode=97 \
    --trace-children=yes --trace-children-skip='*/node,*/nodejs,*/npm,*/sh,*/bash,*/openssl' \
    --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --max-stackframe=8388608 --num-callers=40 --suppressions="$here/valgrind.supp" \
    "$@"
