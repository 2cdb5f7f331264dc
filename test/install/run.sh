#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/install/run.sh <builddir>
# Installs <builddir> into a temporary prefix, then builds and runs consumer.c against it
# twice: with pkg-config, and with find_package(nipc X.Y) where X.Y is the version README.md
# tells users to ask for (which must be include/nipc/version.h's major.minor). CC and NIPC_CONSUMER_CFLAGS (set by
# ctest from the build's compiler and CMAKE_C_FLAGS, e.g. sanitizer flags) are honoured.
# When the build has the nipc tool, checks that bin/nipc and its man page man1/nipc.1 are
# installed too.
set -euo pipefail

builddir=$(cd "${1:?usage: run.sh <builddir>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
read -r -a cflags <<<"${NIPC_CONSUMER_CFLAGS:-}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "== cmake --install $builddir --prefix $prefix"
cmake --install "$builddir" --prefix "$prefix" >"$tmp/install.log" || {
    cat "$tmp/install.log"
    exit 1
}

# lib/ or lib/<multiarch>/, whatever CMAKE_INSTALL_LIBDIR was: find it from nipc.pc.
pc=$(find "$prefix" -name nipc.pc -print -quit)
[ -n "$pc" ] || { echo "FAIL: no nipc.pc installed under $prefix" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

check_output() { # <name> <command...>
    local name=$1 out
    shift
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@") || {
        echo "FAIL: $name exited with status $?" >&2
        exit 1
    }
    printf '%s\n' "$out" | sed "s/^/[$name] /"
    if [ -z "$out" ]; then
        echo "FAIL: $name printed nothing" >&2
        exit 1
    fi
    printf '%s\n' "$out" | grep -qx "nipc $version" || {
        echo "FAIL: $name does not report version $version" >&2
        exit 1
    }
}

# One place sets the version (include/nipc/version.h): the library, nipc.pc and the CMake
# package follow it, and no declaration in nipc.h claims a newer one.
version=$(sed -n 's/^#define NIPC_VERSION_STRING "\(.*\)"$/\1/p' "$here/../../include/nipc/version.h")
newest=$(grep -o 'Since [0-9]*\.[0-9]*\.[0-9]*' "$here/../../include/nipc.h" | cut -d' ' -f2 |
    sort -V | tail -n 1)
echo "== version $version; newest 'Since' in nipc.h: $newest"
if [ "$(printf '%s\n%s\n' "$newest" "$version" | sort -V | tail -n 1)" != "$version" ]; then
    echo "FAIL: nipc.h marks functions since $newest, but the library is $version" >&2
    exit 1
fi
want_minor=${newest%.*}

# The README's (and docs/') find_package(nipc X.Y) lines are what users copy: with
# SameMinorVersion, X.Y must be version.h's major.minor, or the line fails. The consumer
# below is configured with the README's version, so its line is the one exercised.
src=$here/../..
readme_lines=$(grep -rhoE 'find_package\(nipc [0-9]+\.[0-9]+(\.[0-9]+)?' "$src/README.md" "$src/docs" |
    sed 's/.* //' | sort -u || true)
echo "== find_package versions in README.md and docs/: ${readme_lines:-none}"
[ -n "$readme_lines" ] || { echo "FAIL: README.md shows no find_package(nipc X.Y) line" >&2; exit 1; }
for v in $readme_lines; do
    [ "$v" = "${version%.*}" ] || [ "$v" = "$version" ] || {
        echo "FAIL: the docs say find_package(nipc $v), but the package is $version (same minor" \
            "version required)" >&2
        exit 1
    }
done
readme_want=$(printf '%s\n' "$readme_lines" | head -n 1)
# nipc.h's newest functions belong to this minor version: find_package(nipc $want_minor)
# must find the package too.
[ "$want_minor" = "${version%.*}" ] || {
    echo "FAIL: nipc.h's newest 'Since' is $newest, but the package is $version" >&2
    exit 1
}

echo "== pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc_flags=$(pkg-config --cflags --libs nipc)
pc_version=$(pkg-config --modversion nipc)
[ "$pc_version" = "$version" ] || { echo "FAIL: nipc.pc says $pc_version, not $version" >&2; exit 1; }
echo "pkg-config --cflags --libs nipc: $pc_flags"
# shellcheck disable=SC2086 # pkg-config output is meant to be word-split
"$cc" "${cflags[@]}" -std=c11 -Wall -Wextra -Werror "$here/consumer.c" $pc_flags \
    -o "$tmp/consumer_pc"
check_output pkg-config "$tmp/consumer_pc"

echo "== find_package(nipc)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DNIPC_WANT_VERSION="$readme_want" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${NIPC_CONSUMER_CFLAGS:-}" \
    >"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log"
    exit 1
}
cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 || {
    cat "$tmp/cmake.log"
    exit 1
}
check_output find_package-shared "$tmp/cmake-build/consumer_shared"
check_output find_package-static "$tmp/cmake-build/consumer_static"

# The tool and its manual, when the build has the tool.
if [ -e "$builddir/tools/nipc/nipc" ]; then
    echo "== the nipc tool and nipc(1)"
    man=$(find "$prefix" -path '*/man1/nipc.1' -print -quit)
    [ -n "$man" ] || { echo "FAIL: no man1/nipc.1 installed under $prefix" >&2; exit 1; }
    grep -q '^\.TH NIPC 1' "$man" || { echo "FAIL: $man is not nipc's man page" >&2; exit 1; }
    [ -x "$prefix/bin/nipc" ] || { echo "FAIL: no bin/nipc installed under $prefix" >&2; exit 1; }
    check_output nipc-tool "$prefix/bin/nipc" version
fi

echo "OK: installed nipc works with pkg-config and find_package"
