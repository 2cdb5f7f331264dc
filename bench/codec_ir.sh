#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Instructions per event of the codec, per shape of bench/shapes.json, counted by callgrind
# (valgrind) on bench_codec, so that a busy machine does not blur them:
#
#   bench/codec_ir.sh [BUILD_DIR] [SHAPE...]      (BUILD_DIR: build; shapes: all)
#
# For each shape it prints the instructions of one encode (the sender's) and of a decode plus
# the echo's encode (the server's side of an echo), each the difference of two runs, so that
# start-up and loading the file cancel out.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
shift || true
prog="$build/bench/bench_codec"
shapes="$here/shapes.json"
[ -x "$prog" ] || { echo "codec_ir.sh: no $prog (build first)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "codec_ir.sh: needs valgrind" >&2; exit 2; }
if [ $# -eq 0 ]; then
    mapfile -t names < <(node -e 'for (const s of require(process.argv[1]).shapes) console.log(s.name)' "$shapes")
else
    names=("$@")
fi
n=2000
ir() { # pass count -> instructions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$prog" "$shapes" --only "$1" \
        --pass "$2" --count "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-12s %12s %14s\n' shape 'encode Ir' 'decode+enc Ir'
for s in "${names[@]}"; do
    e1=$(ir "$s" enc $n)
    e2=$(ir "$s" enc $((2 * n)))
    f1=$(ir "$s" full $n)
    printf '%-12s %12d %14d\n' "$s" $(((e2 - e1) / n)) $(((f1 - e1) / n))
done
