#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/soak/run.sh [BUILD_DIR]   (`make soak`)
# The long soak runs (test/soak/soak.c says what each checks): 10 million events from 4
# clients to one server over a Unix socket and over TCP, then 10 000 idle connections on one
# server over each. Prints every figure; exits 1 if any run failed. SOAK_EVENTS and
# SOAK_CONNECTIONS change the sizes.
set -uo pipefail

build=${1:-build}
soak=$build/test/soak/soak
if [ ! -x "$soak" ]; then
    echo "soak: $soak is not built (make build)" >&2
    exit 1
fi
events=${SOAK_EVENTS:-10000000}
connections=${SOAK_CONNECTIONS:-10000}

failed=0
run() {
    echo "+ soak $*"
    local start=$SECONDS
    if ! "$soak" "$@"; then
        echo "soak: FAILED: soak $*" >&2
        failed=1
    fi
    echo "  ($((SECONDS - start)) s)"
}

for t in unix tcp; do
    run events --transport "$t" --clients 4 --events "$events"
done
for t in unix tcp; do
    run idle --transport "$t" --connections "$connections"
done
[ "$failed" = 0 ] && echo "soak: all runs passed"
exit "$failed"
