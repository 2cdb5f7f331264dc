# SPDX-License-Identifier: MIT
# Sourced by the shell tests (test/examples/lib.sh, test/cli/run.sh) after they set $tmp, a
# temporary directory, $failed=0 and pids=(), the background processes their EXIT trap
# kills: reporting, a bounded run of one command, and background servers.

fail() {
    echo "FAIL: $*"
    failed=1
}
ok() {
    echo "ok: $*"
}

# Prints a file under a title, for the log of a failed check.
show() { # <title> <file>
    echo "----- $1"
    cat "$2"
    echo "-----"
}

# run <seconds> <name> <command...>: runs the command in the foreground, bounded, with its
# stdout and stderr in $tmp/<name>.out and .err; sets $rc (124 when the bound was hit).
run() {
    local secs=$1 name=$2
    shift 2
    timeout -k 2 "$secs" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
}

# start_bg <name> <ready string> <command...>: starts it in the background, its output in
# $tmp/<name>.out and .err, its pid in $bg_pid and added to $pids, and waits up to 5 s for
# <ready string> in its stdout. Its stdin is $bg_stdin (opened read-write, so a fifo does not
# block), else /dev/null, where bash puts a background job's stdin anyway. Returns 1, saying
# nothing (a caller may try another port), if it exited or did not get ready.
start_bg() {
    local name=$1 ready=$2
    shift 2
    "$@" <>"${bg_stdin:-/dev/null}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    bg_pid=$!
    pids+=("$bg_pid")
    for _ in $(seq 50); do
        grep -qsF -- "$ready" "$tmp/$name.out" && return 0
        kill -0 "$bg_pid" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# start_or_fail <name> <ready string> <command...>: start_bg, and a FAIL with the process's
# output if it did not get ready.
start_or_fail() {
    start_bg "$@" && return 0
    fail "$1 did not get ready"
    show stdout "$tmp/$1.out"
    show stderr "$tmp/$1.err"
    return 1
}

# forget <pid>: it was reaped, so its number may be another process's from now on.
forget() {
    local p keep=()
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    pids=("${keep[@]}")
}

# stop_bg <name> <pid> <want status>: SIGTERM, then up to 5 s for it to exit with that status.
stop_bg() {
    local name=$1 pid=$2 want=$3 status
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "$name: still running 5 s after SIGTERM"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid"
    status=$?
    forget "$pid"
    if [ "$status" != "$want" ]; then
        fail "$name: exit $status after SIGTERM, want $want"
        show "$name stdout" "$tmp/$name.out"
        show "$name stderr" "$tmp/$name.err"
    fi
}
