#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/cli/run.sh CASE BUILDDIR [NODE]
# Tests the nipc tool (tools/nipc) as a script uses it. CASE is one of:
#   options  --help on every subcommand (exit 0, stdout), bad command lines refused with
#            exit 2 and the reason on stderr, a refused connection exit 1 with its cause
#   unix     nipc serve --echo on a Unix socket in a temporary directory, against nipc
#            emit (--wait, --request, a JSON string, stdin lines in order), listen --count,
#            ping; serve's JSON lines (listening, connect with cred, the event); --reply;
#            raw mode with --encoding hex; serve --stdin broadcast to listen
#   net      the same over TCP on port 0 (the port from serve's first line) and UDP4
#   tls      TLS with certificates from test/support/certs.sh: emit --wait and ping with
#            mutual TLS, the client's subject in serve's line; a client with no certificate
#            and one trusting another CA exit 1, naming the cause
#   node     against node-ipc (test/interop/node/peer.js) over a Unix socket and TCP: emit
#            --wait and ping against its echo server, listen to its `news`, and nipc serve
#            --echo answering its echo client, which learned id shows in serve's lines
# Loopback and a temporary directory only; every wait is bounded; every process started
# here is killed at exit. Exits 1 if a check failed.
set -uo pipefail

case_name=${1:?usage: run.sh CASE BUILDDIR [NODE]}
builddir=$(cd "${2:?usage: run.sh CASE BUILDDIR [NODE]}" && pwd)
node=${3:-node}
here=$(cd "$(dirname "$0")" && pwd)
nipc=$builddir/tools/nipc/nipc
peer=$here/../interop/node/peer.js

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nipc-cli.XXXXXX")
failed=0
pids=()

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=../support/script.sh
. "$here/../support/script.sh"

# check <want rc> <name> <what> [<fixed string in stdout>...]
check() {
    local want=$1 name=$2 what=$3 s bad=0
    shift 3
    [ "$rc" = "$want" ] || { fail "$what: exit $rc, want $want"; bad=1; }
    for s in "$@"; do
        grep -qF -- "$s" "$tmp/$name.out" || { fail "$what: no '$s' in stdout"; bad=1; }
    done
    if [ $bad = 1 ]; then
        show stdout "$tmp/$name.out"
        show stderr "$tmp/$name.err"
    else
        ok "$what"
    fi
}

# err_has <name> <fixed string> <what>: stderr of the last run names the cause.
err_has() {
    if grep -qF -- "$2" "$tmp/$1.err"; then ok "$3"; else
        fail "$3: no '$2' in stderr"
        show stderr "$tmp/$1.err"
    fi
}

# start_bg <name> <ready string> <command...>: in the background, up to 5 s for <ready> in
# its stdout. Sets $bg_pid. Its stdin is $bg_stdin (opened read-write, so a fifo does not
# block), else /dev/null, where bash puts a background job's stdin anyway.
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
    fail "$name did not get ready"
    show stdout "$tmp/$name.out"
    show stderr "$tmp/$name.err"
    return 1
}

# stop_bg <name> <pid>: SIGTERM, up to 5 s for it to exit; it must exit 0.
stop_bg() {
    local status
    kill -TERM "$2" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$2" 2>/dev/null
    wait "$2"
    status=$?
    [ "$status" = 0 ] || fail "$1: exit $status after SIGTERM, want 0"
}

# split_at_dashes <a...> -- <b...>: sets the arrays left=(a...) and right=(b...).
split_at_dashes() {
    left=()
    while [ "$1" != -- ]; do
        left+=("$1")
        shift
    done
    shift
    right=("$@")
}

# The port in the first line of a server's stdout ({"event":"listening",...,"port":N}).
port_of() { sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/$1.out" | head -n 1; }

# ---- the cases --------------------------------------------------------------------------

case_options() {
    local c
    for c in serve emit listen ping; do
        run 5 help "$nipc" "$c" --help
        check 0 help "nipc $c --help" "usage: nipc $c" "Exit status"
    done
    run 5 help "$nipc" --help
    check 0 help "nipc --help" "usage: nipc COMMAND"
    run 5 version "$nipc" version
    check 0 version "nipc version" "nipc "

    while IFS='|' read -r what want args; do
        # shellcheck disable=SC2086 # the arguments are meant to be split
        run 5 bad "$nipc" $args
        check 2 bad "refused: $what"
        err_has bad "$want" "$what: the reason"
    done <<EOF
no command||
unknown command|unknown command|frob
unknown option|unknown option "--frob"|emit --path $tmp/s x --frob
emit without TYPE|TYPE is missing|emit --path $tmp/s
bad JSON|is not JSON|emit --path $tmp/s x {a
bad port|is not HOST:PORT|emit --tcp 127.0.0.1:99999 x
port 0 for a client|is not HOST:PORT|emit --tcp 127.0.0.1:0 x
two places|give one of|emit --path $tmp/s --tcp 127.0.0.1:1 x
option of another command|--echo does not go with nipc emit|emit --echo x
tls without tcp|--tls goes with --tcp|emit --path $tmp/s --tls x
cert without tls|go with --tls|serve --path $tmp/s --cert /etc/hostname --key /etc/hostname
tls serve without cert|needs --cert FILE and --key FILE|serve --tcp 127.0.0.1:0 --tls
unreadable file|--ca $tmp/none:|emit --tcp 127.0.0.1:1 --tls --ca $tmp/none x
number with a letter|is not a number|ping --path $tmp/s --count 3x
request over raw|--request needs JSON mode|emit --path $tmp/s --raw x --request
reply without =|is not TYPE=JSON|serve --path $tmp/s --reply x
empty delimiter|must not be empty|serve --path $tmp/s --delimiter=
unknown encoding|refused|serve --path $tmp/s --raw --encoding ebcdic
reserved event|NIPC_ERESERVED|emit --path $tmp/s error 1
EOF

    run 5 refused "$nipc" emit --path "$tmp/none.sock" x 1
    check 1 refused "emit to no server: exit 1"
    err_has refused "no such file or directory" "emit to no server: the cause"
    run 5 refused "$nipc" ping --path "$tmp/none.sock"
    check 1 refused "ping to no server: exit 1"
    err_has refused "is a server listening there?" "ping to no server: what to do"
}

# Self tests on one place: $1 the name, then the WHERE options of serve and of the clients.
self_exchange() { # <name> <serve where...> -- <client where...>
    local name=$1 swhere cwhere
    shift
    split_at_dashes "$@"
    swhere=("${left[@]}")
    cwhere=("${right[@]}")
    start_bg "$name-serve" '"event":"listening"' "$nipc" serve "${swhere[@]}" --echo || return
    local spid=$bg_pid port
    port=$(port_of "$name-serve")
    [ -n "$port" ] && cwhere=("${cwhere[@]/PORT/$port}")

    run 5 emit "$nipc" emit "${cwhere[@]}" hello '{"id":"cli","n":1}' --wait hello
    check 0 emit "$name: emit --wait gets the echo" '"event":"hello","data":{"id":"cli","n":1}'
    run 5 emit "$nipc" emit "${cwhere[@]}" s '"a string"' --wait s
    check 0 emit "$name: a JSON string" '"data":"a string"'
    run 5 ping "$nipc" ping "${cwhere[@]}" --count 20
    check 0 ping "$name: ping --count 20" "20 sent, 20 received, 0% lost" "rtt min/median/p99/max"
    run 5 listen "$nipc" listen "${cwhere[@]}" --count 1 hi '[1,2]'
    check 0 listen "$name: listen --count 1 sends TYPE on connect, prints the echo" \
        '"event":"hi","data":[1,2]'
    if [ "${cwhere[0]}" != --udp4 ]; then
        run 5 req "$nipc" emit "${cwhere[@]}" --request add '{"a":1}'
        check 0 req "$name: --request prints the reply" '{"event":"$reply","data":{"a":1}'
        seq 1 200 | sed 's/.*/{"type":"line","data":&}/' >"$tmp/lines"
        run 10 stdin "$nipc" emit "${cwhere[@]}" - <"$tmp/lines"
        check 0 stdin "$name: 200 stdin lines"
        run 5 stdin2 "$nipc" emit "${cwhere[@]}" --stdin --wait b \
            < <(printf '{"type":"a","data":1}\n{"type":"b","data":2}\n')
        check 0 stdin2 "$name: stdin lines from a pipe, then --wait" '"event":"b","data":2'
    fi
    sleep 0.2
    stop_bg "$name-serve" "$spid"
    local out=$tmp/$name-serve.out
    if [ "${cwhere[0]}" != --udp4 ]; then
        local got
        got=$(grep -c '"event":"line"' "$out")
        [ "$got" = 200 ] || fail "$name: serve got $got of 200 lines"
        grep '"event":"line"' "$out" | sed 's/.*"data":\([0-9]*\).*/\1/' | cmp -s - <(seq 1 200) ||
            fail "$name: the 200 lines are not in order"
        grep -qF '"event":"connect"' "$out" || fail "$name: serve printed no connect"
    fi
    grep -qF '"id":"cli"' "$out" || fail "$name: serve did not show the learned id"
    grep -qF '"event":"add","data":{"a":1},"request":' "$out" || [ "${cwhere[0]}" = --udp4 ] ||
        fail "$name: serve did not show the request"
    ok "$name: serve's lines"
}

case_unix() {
    self_exchange unix --path "$tmp/s.sock" -- --path "$tmp/s.sock"
    grep -qF '"cred":{"pid":' "$tmp/unix-serve.out" || fail "unix: no peer credentials"

    # By id: socket_root + appspace + id.
    start_bg id-serve '"event":"listening"' "$nipc" serve --socket-root "$tmp/" --appspace t. \
        --id w --reply 'got={"ok":true}' || return
    local spid=$bg_pid
    grep -qF "\"path\":\"$tmp/t.w\"" "$tmp/id-serve.out" || fail "id: not at socket_root+appspace+id"
    run 5 id "$nipc" emit --socket-root "$tmp/" --appspace t. --id w x 1 --wait got
    check 0 id "--id and --reply" '"event":"got","data":{"ok":true}'
    stop_bg id-serve "$spid"

    # Raw mode: hex both ways.
    start_bg raw-serve '"event":"listening"' "$nipc" serve --path "$tmp/r.sock" --raw \
        --encoding hex --echo || return
    spid=$bg_pid
    run 5 raw "$nipc" emit --path "$tmp/r.sock" --raw --encoding hex 00ff0c41 --wait data
    check 0 raw "raw hex: the bytes back" '"event":"data","data":"00ff0c41","size":4'
    run 5 raw "$nipc" emit --path "$tmp/r.sock" --raw --encoding latin1 'é' --wait data
    check 0 raw "raw latin1" '"data":"é","size":1'
    stop_bg raw-serve "$spid"
    grep -qF '"data":"00ff0c41","size":4' "$tmp/raw-serve.out" || fail "raw: serve's line"

    # serve --stdin broadcasts to a listener: a fifo holds stdin open.
    mkfifo "$tmp/in"
    bg_stdin=$tmp/in start_bg bc-serve '"event":"listening"' "$nipc" serve --path "$tmp/b.sock" \
        --stdin || return
    spid=$bg_pid
    "$nipc" listen --path "$tmp/b.sock" --count 2 >"$tmp/bc-listen.out" 2>"$tmp/bc-listen.err" &
    local lpid=$!
    pids+=("$lpid")
    for _ in $(seq 50); do
        grep -qF '"event":"connect"' "$tmp/bc-serve.out" && break
        sleep 0.1
    done
    printf '{"type":"news","data":1}\n{"type":"news","data":2}\n' >"$tmp/in"
    timeout 5 tail --pid="$lpid" -f /dev/null
    wait "$lpid"
    rc=$?
    check 0 bc-listen "serve --stdin broadcasts, listen --count 2" \
        '"event":"news","data":1' '"event":"news","data":2'
    stop_bg bc-serve "$spid"
}

case_net() {
    self_exchange tcp --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
    grep -qF '"from":{"address":"127.0.0.1"' "$tmp/tcp-serve.out" || fail "tcp: no from address"
    self_exchange udp4 --udp4 127.0.0.1:0 -- --udp4 127.0.0.1:PORT
}

case_tls() {
    local certs=$tmp/certs
    bash "$here/../support/certs.sh" "$certs" >"$tmp/certs.log" 2>&1 || {
        fail "certs.sh"
        show log "$tmp/certs.log"
        return
    }
    start_bg tls-serve '"event":"listening"' "$nipc" serve --tcp 127.0.0.1:0 --tls \
        --cert "$certs/server.pem" --key "$certs/server.key" --ca "$certs/ca.pem" \
        --request-cert --echo || return
    local spid=$bg_pid port
    port=$(port_of tls-serve)
    local client=(--tcp "127.0.0.1:$port" --tls --ca "$certs/ca.pem"
        --cert "$certs/client.pem" --key "$certs/client.key")
    run 5 tls "$nipc" emit "${client[@]}" m '"over tls"' --wait m
    check 0 tls "tls: emit --wait" '"data":"over tls"' '"subject":"CN=localhost"'
    run 5 tls "$nipc" ping "${client[@]}" --count 5
    check 0 tls "tls: ping" "5 sent, 5 received"
    # --wait: over TLS 1.3 the client's handshake ends before the server has looked at
    # its certificate, so only a client that waits hears the refusal.
    run 5 tls "$nipc" emit --tcp "127.0.0.1:$port" --tls --ca "$certs/ca.pem" m 1 --wait m
    check 1 tls "tls: no client certificate, exit 1"
    err_has tls NIPC_ENOPEERCERT "tls: the cause named"
    run 5 tls "$nipc" emit --tcp "127.0.0.1:$port" --tls --ca "$certs/ca2.pem" \
        --cert "$certs/client.pem" --key "$certs/client.key" m 1
    check 1 tls "tls: a server from an untrusted CA, exit 1"
    err_has tls NIPC_ECERTUNTRUSTED "tls: the cause named"
    stop_bg tls-serve "$spid"
    grep -qF '"subject":"CN=nipc test client,O=nipc"' "$tmp/tls-serve.out" ||
        fail "tls: serve did not show the client's subject"
}

node_against() { # <name> <peer where...> -- <nipc where...>
    local name=$1 pwhere cwhere
    shift
    split_at_dashes "$@"
    pwhere=("${left[@]}")
    cwhere=("${right[@]}")
    start_bg "$name-peer" '"ev":"listening"' "$node" "$peer" --ver 10 --role server-echo \
        "${pwhere[@]}" --news 2 --timeout 15000 || return
    local ppid=$bg_pid port
    port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/$name-peer.out" | head -n 1)
    [ -n "$port" ] && cwhere=("${cwhere[@]/PORT/$port}")
    run 5 emit "$nipc" emit "${cwhere[@]}" message '"hello"' --wait message
    check 0 emit "$name: emit --wait against node-ipc's echo" '"data":"hello world!"'
    run 5 ping "$nipc" ping "${cwhere[@]}" --type message --count 5
    check 0 ping "$name: ping --type message against node-ipc" "5 sent, 5 received"
    run 5 listen "$nipc" listen "${cwhere[@]}" --count 2 hello '{"id":"cli"}'
    check 0 listen "$name: listen to node-ipc's news" '"event":"news","data":{"i":0,"to":"cli"}' \
        '"event":"news","data":{"i":1,"to":"cli"}'
    # END stops node-ipc's server (exit 0).
    run 5 end "$nipc" emit "${cwhere[@]}" END
    check 0 end "$name: emit END"
    timeout 5 tail --pid="$ppid" -f /dev/null
    wait "$ppid"
    rc=$?
    check 0 "$name-peer" "$name: node-ipc's server ended by END" '"ev":"end"'
}

node_client() { # <name> <serve where...> -- <peer where...>
    local name=$1 swhere pwhere
    shift
    split_at_dashes "$@"
    swhere=("${left[@]}")
    pwhere=("${right[@]}")
    start_bg "$name-serve" '"event":"listening"' "$nipc" serve "${swhere[@]}" --echo || return
    local spid=$bg_pid port
    port=$(port_of "$name-serve")
    [ -n "$port" ] && pwhere=("${pwhere[@]/PORT/$port}")
    run 10 client "$node" "$peer" --ver 10 --role client-echo "${pwhere[@]}" --timeout 8000
    check 0 client "$name: node-ipc's echo client gets nipc serve's echoes" '"ev":"done"'
    sleep 0.2
    stop_bg "$name-serve" "$spid"
    grep -qF '"id":"node"' "$tmp/$name-serve.out" || {
        fail "$name: serve did not learn node's id"
        show serve "$tmp/$name-serve.out"
    }
}

case_node() {
    node_against node-unix --path "$tmp/n.sock" -- --path "$tmp/n.sock"
    node_against node-tcp --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
    node_client node-serve-unix --path "$tmp/m.sock" -- --path "$tmp/m.sock"
    node_client node-serve-tcp --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
}

case "$case_name" in
options | unix | net | tls | node) "case_$case_name" ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac
[ "$failed" = 0 ] && echo "PASS: $case_name"
exit "$failed"
