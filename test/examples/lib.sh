# SPDX-License-Identifier: MIT
# The helpers of the examples' test scripts (run.sh, scenarios.sh), sourced after they set
# $node: a temporary directory $tmp removed at exit, with every background process started
# by start_bg killed then; runs bounded in time with their output in $tmp/<name>.out/.err;
# checks that print "ok:" or "FAIL:" and set $failed. A script may define cleanup_more, run
# at exit before $tmp goes.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-examples.XXXXXX")
failed=0
pids=() # background processes started here and not yet reaped, killed at exit

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    declare -F cleanup_more >/dev/null && cleanup_more
    rm -rf "$tmp"
}
trap cleanup EXIT

# fail, ok, show, run, start_bg, forget and stop_bg, which the tool's tests share.
# shellcheck source=../support/script.sh
. "$(dirname "${BASH_SOURCE[0]}")/../support/script.sh"

# expect_rc <want> <name> <what>: checks $rc from the last run; shows its output on failure.
expect_rc() {
    if [ "$rc" = "$1" ]; then
        ok "$3: exit $rc"
        return 0
    fi
    fail "$3: exit $rc, want $1"
    show "stdout" "$tmp/$2.out"
    show "stderr" "$tmp/$2.err"
    return 1
}

# expect_in <file> <fixed string> <what>
expect_in() {
    if grep -qF -- "$2" "$1"; then
        return 0
    fi
    fail "$3: no '$2' in $(basename "$1")"
    show "$(basename "$1")" "$1"
    return 1
}

expect_empty() { # <file> <what>
    [ -s "$1" ] || return 0
    fail "$2: $(basename "$1") is not empty"
    show "$(basename "$1")" "$1"
}

# A free loopback port for <tcp|udp4|udp6>, the system's choice; never 8000, the default.
free_port() {
    local p
    p=$("$node" -e '
        const kind = process.argv[1];
        const done = (port, close) => { console.log(port); close(); };
        if (kind === "tcp") {
            const s = require("node:net").createServer();
            s.listen(0, "127.0.0.1", () => done(s.address().port, () => s.close()));
        } else {
            const s = require("node:dgram").createSocket(kind);
            s.bind(0, kind === "udp6" ? "::1" : "127.0.0.1",
                   () => done(s.address().port, () => s.close()));
        }' "$1") || return 1
    [ "$p" != 8000 ] || p=$(free_port "$1")
    echo "$p"
}

# start_net <name> <transport option> <port kind> <command...>: a server that prints "world
# is listening", started as <command...> <transport option> PORT on a free port (a few tries,
# as another process may take the port between free_port and the server's bind). Sets $port.
start_net() {
    local name=$1 opt=$2 kind=$3
    shift 3
    for _ in 1 2 3; do
        port=$(free_port "$kind") || return 1
        start_bg "$name" "world is listening" "$@" "$opt" "$port" && return 0
        kill -KILL "$bg_pid" 2>/dev/null
        wait "$bg_pid" 2>/dev/null
        forget "$bg_pid"
    done
    return 1
}

# wait_lines <file> <count> <extended regex> [<seconds>]: until <file> has <count> lines that
# match, within 5 s (or <seconds>).
wait_lines() {
    local n
    for _ in $(seq $((${4:-5} * 20))); do
        n=$(grep -cE -- "$3" "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# expect_bad <name> <what> <reason>: the last run was refused as a bad command line.
expect_bad() {
    expect_rc 2 "$1" "$2" &&
        expect_in "$tmp/$1.err" "$3" "$2" &&
        expect_in "$tmp/$1.err" "usage: " "$2" &&
        expect_empty "$tmp/$1.out" "$2"
}


unknown_case() { # <script name>
    echo "$1: unknown case '$case_name'" >&2
    exit 2
}

# finish: the verdict, from every check and from every program's stderr (for ctest's
# sanitizer patterns, FAIL_REGULAR_EXPRESSION); exits 1 if anything failed.
finish() {
    cat "$tmp"/*.err 2>/dev/null | grep -E 'Sanitizer|runtime error' && failed=1
    [ "$failed" = 0 ] && echo "all passed" || echo "some checks failed"
    exit "$failed"
}
