#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: scripts/demo.sh [builddir]
# Runs the demo: examples/world serves on node-ipc's default socket, examples/hello connects,
# exchanges messages and exits; then world is stopped and both outputs are printed.
# NIPC_DEMO_SOCKET=PATH runs both on that socket instead (their --path PATH).
# Exits non-zero if world never comes up or hello fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-$root/build}
world=$builddir/examples/world
hello=$builddir/examples/hello
sock=${NIPC_DEMO_SOCKET:-/tmp/app.world} # node-ipc default: <socketRoot><appspace><id>
where=() # no option: node-ipc's default path
[ -z "${NIPC_DEMO_SOCKET:-}" ] || where=(--path "$sock")

for exe in "$world" "$hello"; do
    [ -x "$exe" ] || { echo "demo: $exe not built (run make first)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-demo.XXXXXX")
world_pid=
stop_world() { # SIGTERM, then SIGKILL after 3 s; always reaps it
    [ -n "$world_pid" ] || return 0
    kill "$world_pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$world_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$world_pid" 2>/dev/null || true
    wait "$world_pid" 2>/dev/null || true
    world_pid=
    rm -f "$sock"
}
cleanup() {
    stop_world
    rm -rf "$tmp"
}
trap cleanup EXIT

show() { # <title> <file>
    echo "===== $1 ====="
    cat "$2"
    echo
}

# A socket left by an earlier run would make the poll below succeed too early; a node-ipc
# server removes it before listening anyway.
rm -f "$sock"

# stdbuf: line-buffered stdout, so world's output survives being killed. Its preload would
# upset an ASan build's link-order check, which is harmless here.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    stdbuf -oL -eL "$world" "${where[@]}" >"$tmp/world.out" 2>&1 &
world_pid=$!

# Wait up to 5 s for world's socket.
for _ in $(seq 50); do
    [ -S "$sock" ] && break
    if ! kill -0 "$world_pid" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [ ! -S "$sock" ]; then
    echo "demo: world did not create $sock within 5 s" >&2
    show "world output" "$tmp/world.out"
    exit 1
fi

hello_status=0
# hello gives up by itself after 10 s; the timeout only bounds a hello that hangs.
timeout 30 "$hello" "${where[@]}" >"$tmp/hello.out" 2>&1 || hello_status=$?

# Stop world and wait for it, so its output is complete.
stop_world

show "world output" "$tmp/world.out"
show "hello output (exit status $hello_status)" "$tmp/hello.out"
if [ "$hello_status" != 0 ]; then
    echo "demo: hello failed with status $hello_status" >&2
    exit 1
fi
echo "demo: OK"
