#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# check_api_docs.sh [SOURCE_DIR]: docs/api/ documents exactly the functions of include/nipc.h.
#
# Every NIPC_EXTERN function of include/nipc.h must have one `### nipc_name` heading in one
# page of docs/api/, whose first ```c block after it is the declaration as nipc.h writes it
# (whitespace aside, without NIPC_EXTERN and NIPC_PRINTF), and whose text says since which
# version it exists ("Since X.Y.Z"). A `### nipc_*` heading for a function nipc.h no longer
# declares fails too, as does a page that docs/api/README.md does not link. ctest runs it as
# docs_api; it needs bash, awk, grep and sort only.
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
header="$root/include/nipc.h"
docs="$root/docs/api"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One normalised declaration per line, "name<TAB>declaration", from a declaration that may
# span lines: runs of blanks become one space, and no space follows '(' or precedes ')'.
normalise='
function norm(d) {
    gsub(/[ \t]+/, " ", d); sub(/^ /, "", d); sub(/ $/, "", d)
    gsub(/\( /, "(", d); gsub(/ \)/, ")", d); gsub(/ ;/, ";", d)
    return d
}
function name_of(d,    n) {
    n = d; sub(/\(.*/, "", n); sub(/.*[^A-Za-z0-9_]/, "", n)
    return n
}'

awk "$normalise"'
/^NIPC_EXTERN/ { d = ""; on = 1 }
on {
    d = d " " $0
    if ($0 ~ /;/) {
        sub(/^ *NIPC_EXTERN /, "", d); sub(/ *NIPC_PRINTF\([^)]*\)/, "", d)
        d = norm(d); print name_of(d) "\t" d; on = 0
    }
}' "$header" | sort >"$tmp/header"

if [ ! -s "$tmp/header" ]; then
    echo "check_api_docs: found no NIPC_EXTERN function in $header" >&2
    exit 1
fi

# For every `### nipc_*` heading: "name<TAB>page<TAB>declaration<TAB>since", where the
# declaration is the first ```c block of the entry and since is the version its text names.
for page in "$docs"/*.md; do
    awk -v page="${page#"$root"/}" "$normalise"'
    function flush() {
        if (name != "") print name "\t" page "\t" norm(decl) "\t" since
        name = ""; decl = ""; since = ""; state = 0
    }
    /^(#|##|###) / { flush() }
    /^### nipc_/ {
        name = $2
        if (NF != 2) name = name " (heading has more than the name)"
        state = 1; next
    }
    name != "" && state == 1 && /^```c[ \t]*$/ { state = 2; next }
    name != "" && state == 2 && /^```/ { state = 3; next }
    name != "" && state == 2 { decl = decl " " $0; next }
    name != "" && since == "" && match($0, /Since [0-9]+\.[0-9]+\.[0-9]+/) {
        since = substr($0, RSTART + 6, RLENGTH - 6)
    }
    END { flush() }' "$page"
done | sort >"$tmp/docs"

fail=0
say() {
    echo "check_api_docs: $*" >&2
    fail=1
}

while IFS=$'\t' read -r name decl; do
    entries=$(awk -F'\t' -v n="$name" '$1 == n' "$tmp/docs")
    count=$(printf '%s' "$entries" | grep -c . || true)
    if [ "$count" -eq 0 ]; then
        say "$name (include/nipc.h) has no '### $name' entry in docs/api/"
        continue
    fi
    if [ "$count" -gt 1 ]; then
        say "$name has $count entries, one expected: $(printf '%s\n' "$entries" | cut -f2 | tr '\n' ' ')"
    fi
    while IFS=$'\t' read -r _ page docdecl since; do
        if [ "$docdecl" != "$decl" ]; then
            say "$page: the declaration of $name differs from include/nipc.h"
            echo "    nipc.h: $decl" >&2
            echo "    docs:   ${docdecl:-(no \`\`\`c block after the heading)}" >&2
        fi
        if [ -z "$since" ]; then
            say "$page: $name does not say 'Since X.Y.Z'"
        fi
    done <<<"$entries"
done <"$tmp/header"

cut -f1 "$tmp/header" >"$tmp/names"
while IFS=$'\t' read -r name page _; do
    if ! grep -qxF "$name" "$tmp/names"; then
        say "$page: '### $name' documents a function include/nipc.h does not declare"
    fi
done <"$tmp/docs"

for page in "$docs"/*.md; do
    base=${page##*/}
    [ "$base" = README.md ] && continue
    if ! grep -qF "($base)" "$docs/README.md"; then
        say "docs/api/README.md does not link $base"
    fi
done

if [ "$fail" -ne 0 ]; then
    echo "check_api_docs: docs/api/ is out of step with include/nipc.h (see above)" >&2
    exit 1
fi
echo "check_api_docs: $(wc -l <"$tmp/names") functions, each documented once in docs/api/"
