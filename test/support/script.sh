# SPDX-License-Identifier: MIT
# Sourced by the shell tests (test/examples/run.sh, test/cli/run.sh) after they set $tmp, a
# temporary directory, and $failed=0: reporting and a bounded run of one command.

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
