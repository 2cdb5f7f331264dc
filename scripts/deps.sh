#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: scripts/deps.sh [--no-node] [--bench] [--valgrind]
# Makes sure the Debian packages nipc needs are installed (installing them when run as root),
# then, unless --no-node, runs `npm ci` for the interop tests' Node peers when needed.
# --bench also wants the benchmarks' optional packages (libzmq3-dev for bench_zmq): installed
# when run as root, otherwise only reported, since the suite runs without them.
# --valgrind also needs valgrind (make test-valgrind), as a required package.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
want_node=1
want_bench=0
want_valgrind=0
for arg in "$@"; do
    case $arg in
    --no-node) want_node=0 ;;
    --bench) want_bench=1 ;;
    --valgrind) want_valgrind=1 ;;
    *) echo "usage: $0 [--no-node] [--bench] [--valgrind]" >&2; exit 2 ;;
    esac
done

# openssl (the command) makes the TLS tests' certificates (test/support/certs.sh); clang and
# its runtimes (libclang-rt-14-dev: ASan, UBSan, TSan, libFuzzer) build the asan and tsan trees
# and fuzz/.
pkgs=(libuv1-dev libjansson-dev libssl-dev openssl libcriterion-dev cmake pkg-config gcc make
    clang libclang-rt-14-dev)
bench_pkgs=(libzmq3-dev)

installed() { # <package>
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

[ "$want_valgrind" = 1 ] && pkgs+=(valgrind)

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ "$want_node" = 1 ]; then
    # Node may come from elsewhere (e.g. NodeSource, whose nodejs bundles npm and conflicts
    # with Debian's npm package), so the commands count, not the package names.
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
fi

if [ "$want_bench" = 1 ]; then
    optional=()
    for p in "${bench_pkgs[@]}"; do
        installed "$p" || optional+=("$p")
    done
    if [ ${#optional[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            missing+=("${optional[@]}")
        else
            echo "deps: optional benchmark packages missing: ${optional[*]} (their benchmarks are skipped)" >&2
            echo "deps: run:  sudo apt-get install -y ${optional[*]}" >&2
        fi
    fi
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing Debian packages: ${missing[*]}" >&2
        echo "deps: run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        echo "deps:  or:  sudo $0 $*" >&2
        exit 1
    fi
    echo "deps: installing ${missing[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

[ "$want_node" = 1 ] || exit 0

# npm ci when node_modules is missing or older than package-lock.json.
node_dir=$root/test/interop/node
if [ ! -f "$node_dir/package-lock.json" ]; then
    echo "deps: no $node_dir/package-lock.json; skipping npm ci" >&2
    exit 0
fi
if [ ! -d "$node_dir/node_modules" ] || [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules" ]; then
    echo "deps: npm ci in test/interop/node"
    (cd "$node_dir" && npm ci --no-audit --no-fund)
    touch "$node_dir/node_modules"
fi
