#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage:
#   fuzz/run.sh replay HARNESS CORPUS_DIR
#       runs every file of CORPUS_DIR once (libFuzzer's file list, or replay.c's main)
#   fuzz/run.sh fuzz HARNESS CORPUS_DIR SECONDS DICT ARTIFACTS [WORK_DIR]
#       fuzzes for SECONDS with the dictionary, starting from CORPUS_DIR. New inputs go to
#       WORK_DIR (kept), or to a temporary directory that is removed; never into CORPUS_DIR.
#       A crash, leak or failed check is saved as ARTIFACTS<kind>-<sha1> and fails the run.
#       The last lines printed are libFuzzer's final ones: #N (executions), cov: and ft:.
# ctest runs both for each harness (label fuzz); `make fuzz` runs the second for longer.
set -euo pipefail

mode=$1 harness=$2 corpus=$3
name=$(basename "$harness")
is_libfuzzer() {
    local help
    help=$("$harness" -help=1 2>&1 || true)
    [[ $help == *-max_total_time* ]]
}

if [ "$mode" = replay ]; then
    shopt -s nullglob
    files=("$corpus"/*)
    [ ${#files[@]} -gt 0 ] || { echo "$name: no seed in $corpus" >&2; exit 1; }
    status=0
    if is_libfuzzer; then
        # Given files, libFuzzer runs each once: no fuzzing, nothing written anywhere.
        log=$(mktemp "${TMPDIR:-/tmp}/nipc-fuzz-log-XXXXXX")
        trap 'rm -f "$log"' EXIT
        "$harness" "${files[@]}" >"$log" 2>&1 || status=$?
        grep -v '^Running: \|^Executed ' "$log" || true
    else
        "$harness" "$corpus" || status=$?
    fi
    [ "$status" = 0 ] || { echo "$name: FAILED (status $status)" >&2; exit 1; }
    echo "$name: ${#files[@]} seeds replayed"
    exit 0
fi

[ "$mode" = fuzz ] || { echo "usage: $0 replay|fuzz HARNESS CORPUS_DIR ..." >&2; exit 2; }
seconds=$4 dict=$5 artifacts=$6 work=${7:-}
if ! is_libfuzzer; then
    echo "$name: not a libFuzzer binary (build with clang: the asan preset)" >&2
    exit 1
fi
mkdir -p "$(dirname "$artifacts")"
tmp=
if [ -z "$work" ]; then
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-fuzz-XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    work=$tmp
fi
mkdir -p "$work"
log=$(mktemp "${TMPDIR:-/tmp}/nipc-fuzz-log-XXXXXX")
trap 'rm -rf "$tmp" "$log"' EXIT
status=0
"$harness" -max_total_time="$seconds" -dict="$dict" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$work" "$corpus" >"$log" 2>&1 || status=$?
if [ "$status" != 0 ]; then
    cat "$log"
    echo "$name: FAILED (status $status); the input is in $(dirname "$artifacts")" >&2
    exit 1
fi
# The summary: the last status line (#N DONE cov: ft: corp: exec/s:) and the final stats.
grep -E '^#[0-9]+' "$log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
