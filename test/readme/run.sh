#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/readme/run.sh BUILDDIR [NODE]
# Compiles the server and the client of README.md ("Using the library"), taken from the
# page itself (the code block after each `<!-- readme-test: NAME -->`), against the build's
# static library, with -Wall -Wextra -Werror, and runs them against each other on a Unix
# socket in a temporary directory; then the page's node-ipc client (hello.js, with the pinned
# @achrinza/node-ipc 10.1.11 of test/interop/node, which installs it as node-ipc-10) and its
# `nipc emit` line against the same server. Then the client alone, with no server: it must
# give up (max_retries) and exit 1, not hang. CC and NIPC_CONSUMER_CFLAGS as in
# test/install/run.sh.
set -euo pipefail

builddir=$(cd "${1:?usage: run.sh BUILDDIR [NODE]}" && pwd)
node=${2:-node}
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-cc}
read -r -a cflags <<<"${NIPC_CONSUMER_CFLAGS:-}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-readme.XXXXXX")
server_pid=
cleanup() {
    [ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# extract NAME: the fenced block that follows the marker, without its fences.
extract() {
    awk -v want="<!-- readme-test: $1 -->" '
        $0 == want { found = 1; next }
        found == 1 && /^```(c|js)$/ { found = 2; next }
        found == 2 && /^```$/ { exit }
        found == 2 { print }' "$root/README.md" >"$tmp/$1"
    [ -s "$tmp/$1" ] || { echo "FAIL: README.md has no block marked readme-test: $1" >&2; exit 1; }
}

for name in server.c client.c; do
    extract "$name"
    # shellcheck disable=SC2046 # pkg-config output is meant to be word-split
    "$cc" "${cflags[@]}" -std=gnu11 -Wall -Wextra -Werror -I"$root/include" \
        $(pkg-config --cflags libuv jansson libssl) "$tmp/$name" "$builddir/libnipc.a" \
        $(pkg-config --libs libuv jansson libssl libcrypto) -o "$tmp/${name%.c}"
    echo "ok: $name from README.md compiles ($(wc -l <"$tmp/$name") lines)"
done

sock=$tmp/world.sock
"$tmp/server" "$sock" >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
    [ -S "$sock" ] && break
    sleep 0.1
done
[ -S "$sock" ] || { echo "FAIL: the server did not listen on $sock" >&2; cat "$tmp/server.out"; exit 1; }

status=0
timeout 20 "$tmp/client" "$sock" >"$tmp/client.out" 2>&1 || status=$?
if [ "$status" != 0 ] || ! grep -qxF 'world answered {"text": "hello"}' "$tmp/client.out"; then
    echo "FAIL: the client exited $status" >&2
    cat "$tmp/client.out" "$tmp/server.out" >&2
    exit 1
fi
echo "ok: the client got its answer and exited 0"

# The page's node-ipc client; the package is the pinned one, under its alias.
extract hello.js
sed 's#@achrinza/node-ipc#node-ipc-10#' "$tmp/hello.js" >"$tmp/hello-pinned.js"
status=0
NODE_PATH="$root/test/interop/node/node_modules" timeout 20 "$node" "$tmp/hello-pinned.js" \
    "$sock" >"$tmp/node.out" 2>&1 || status=$?
if [ "$status" != 0 ] || ! grep -qxF 'world answered {"text":"hello"}' "$tmp/node.out"; then
    echo "FAIL: hello.js exited $status" >&2
    cat "$tmp/node.out" "$tmp/server.out" >&2
    exit 1
fi
echo "ok: node-ipc's README client got its answer from the README's server"

status=0
timeout 20 "$builddir/tools/nipc/nipc" emit --path "$sock" message '{"text":"hi"}' --wait message \
    >"$tmp/nipc.out" 2>&1 || status=$?
if [ "$status" != 0 ] || ! grep -qF '"data":{"text":"hi"}' "$tmp/nipc.out"; then
    echo "FAIL: nipc emit exited $status" >&2
    cat "$tmp/nipc.out" "$tmp/server.out" >&2
    exit 1
fi
echo "ok: nipc emit got its answer from the README's server"
kill -TERM "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=

status=0
timeout 20 "$tmp/client" "$tmp/nobody.sock" >"$tmp/alone.out" 2>&1 || status=$?
if [ "$status" != 1 ]; then
    echo "FAIL: with no server the client exited $status, want 1" >&2
    cat "$tmp/alone.out" >&2
    exit 1
fi
echo "ok: with no server the client gives up and exits 1"
