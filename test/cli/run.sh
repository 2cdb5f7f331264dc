#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/cli/run.sh CASE BUILDDIR [NODE]
# Tests the nipc tool (tools/nipc) as a script uses it. CASE is one of:
#   options  --help on every subcommand (exit 0, stdout), bad command lines refused with
#            exit 2 and the reason on stderr, a refused connection exit 1 with its cause;
#            --retry-backoff, --retry-max and --retry-jitter against no server (the waits
#            the verbose log announces)
#   unix     nipc serve --echo on a Unix socket in a temporary directory, against nipc
#            emit (--wait, --request, a JSON string, stdin lines in order), listen --count,
#            ping; serve's JSON lines (listening, connect with cred, the event); --reply;
#            raw mode with --encoding hex; serve --stdin broadcast to listen
#   net      the same over TCP on port 0 (the port from serve's first line), UDP4 and UDP6
#   tls      TLS with certificates from test/support/certs.sh: emit --wait and ping with
#            mutual TLS, the client's subject in serve's line; a client with no certificate
#            and one trusting another CA exit 1, naming the cause; --servername verified in
#            place of the host (a name the certificate lacks exits 1, one it holds connects);
#            --retry-unverified retrying an untrusted server --max-retries times
#   node     against node-ipc 10 and 9 (test/interop/node/peer.js): over a Unix socket, TCP
#            and mutual TLS, emit --wait, ping and listen against its echo server, and nipc
#            serve --echo answering its echo client (the learned id, over TLS the client's
#            subject in serve's lines); over UDP4 and UDP6 the same with its UDP server and
#            client; emit --request against request_peer.js's server (Unix, TCP); raw mode
#            with --encoding hex both ways against its raw roles (Unix, TCP, UDP4)
# Loopback and a temporary directory only; every wait is bounded; every process started
# here is killed at exit. Exits 1 if a check failed.
set -uo pipefail

case_name=${1:?usage: run.sh CASE BUILDDIR [NODE]}
builddir=$(cd "${2:?usage: run.sh CASE BUILDDIR [NODE]}" && pwd)
node=${3:-node}
here=$(cd "$(dirname "$0")" && pwd)
nipc=$builddir/tools/nipc/nipc
peer=$here/../interop/node/peer.js
request_peer=$here/../interop/node/request_peer.js

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

# wait_bg <pid>: up to 5 s for it to exit by itself (then SIGKILL); sets $rc to its status.
wait_bg() {
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1"
    rc=$?
    forget "$1"
}

# The port in the first line of a server's stdout ({"event":"listening",...,"port":N}, or
# a Node peer's {"ev":"listening","port":N}).
port_of() { sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$tmp/$1.out" | head -n 1; }

# start_server <name> <ready> <command...> -- <client where...>: start_or_fail, then sets
# $spid to its pid and the array $where to the client's WHERE options with PORT replaced by
# the port the server printed.
start_server() {
    local name=$1 ready=$2 port
    shift 2
    split_at_dashes "$@"
    where=("${right[@]}")
    start_or_fail "$name" "$ready" "${left[@]}" || return
    spid=$bg_pid
    port=$(port_of "$name")
    [ -n "$port" ] && where=("${where[@]/PORT/$port}")
    return 0
}

# Whether a WHERE is UDP (no connection, requests or ordered streams).
is_udp() { [ "$1" = --udp4 ] || [ "$1" = --udp6 ]; }

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
reuse-port on a Unix socket|--reuse-port goes with --tcp|serve --path $tmp/s --reuse-port
cert without tls|go with --tls|serve --path $tmp/s --cert /etc/hostname --key /etc/hostname
tls serve without cert|needs --cert FILE and --key FILE|serve --tcp 127.0.0.1:0 --tls
unreadable file|--ca $tmp/none:|emit --tcp 127.0.0.1:1 --tls --ca $tmp/none x
number with a letter|is not a number|ping --path $tmp/s --count 3x
request over raw|--request needs JSON mode|emit --path $tmp/s --raw x --request
reply without =|is not TYPE=JSON|serve --path $tmp/s --reply x
reply given again (no leak)|is not TYPE=JSON|serve --path $tmp/s --reply a=1 --reply b=2 --reply x
empty delimiter|must not be empty|serve --path $tmp/s --delimiter=
unknown encoding|refused|serve --path $tmp/s --raw --encoding ebcdic
reserved event|NIPC_ERESERVED|emit --path $tmp/s error 1
backoff below 1|is not a decimal number from 1|listen --path $tmp/s --retry-backoff 0.5
backoff with an exponent|is not a decimal number|listen --path $tmp/s --retry-backoff 1e1
jitter above 1|is not a decimal number from 0 to 1|listen --path $tmp/s --retry-jitter 1.5
jitter without digits|is not a decimal number|listen --path $tmp/s --retry-jitter .5
cap below retry|the options are refused|listen --path $tmp/s --retry 100 --retry-max 50
backoff for serve|--retry-backoff does not go with nipc serve|serve --path $tmp/s --retry-backoff 2
EOF

    # Backoff and a cap: the waits the verbose log announces, then exit 1 when retries end.
    run 10 backoff "$nipc" listen --path "$tmp/none.sock" --max-retries 5 --retry 20 \
        --retry-backoff 2 --retry-max 80 --retry-jitter 0 --verbose
    check 1 backoff "listen --retry-backoff 2 --retry-max 80: exit 1 when retries end"
    local waits
    waits=$(sed -n 's/.*next attempt in \([0-9]*\) ms.*/\1/p' "$tmp/backoff.err" | tr '\n' ' ')
    if [ "$waits" = "20 40 80 80 80 " ]; then ok "backoff: waits of 20 40 80 80 80 ms"; else
        fail "backoff: waits '$waits', want '20 40 80 80 80 '"
        show stderr "$tmp/backoff.err"
    fi
    err_has backoff "is a server listening there?" "backoff: the cause when retries end"
    # Jitter: waits drawn from [25, 50] ms (their values are random; their count is not).
    run 10 jitter "$nipc" listen --path "$tmp/none.sock" --max-retries 4 --retry 50 \
        --retry-jitter 0.5 --verbose
    check 1 jitter "listen --retry-jitter 0.5: exit 1 when retries end"
    waits=$(sed -n 's/.*next attempt in \([0-9]*\) ms.*/\1/p' "$tmp/jitter.err")
    if [ "$(wc -l <<<"$waits")" = 4 ] && awk '$1 < 25 || $1 > 50 { bad = 1 } END { exit bad }' \
        <<<"$waits"; then ok "jitter: 4 waits within [25, 50] ms"; else
        fail "jitter: waits '$(tr '\n' ' ' <<<"$waits")', want 4 within [25, 50]"
        show stderr "$tmp/jitter.err"
    fi

    run 5 refused "$nipc" emit --path "$tmp/none.sock" x 1
    check 1 refused "emit to no server: exit 1"
    err_has refused "no such file or directory" "emit to no server: the cause"
    run 5 refused "$nipc" ping --path "$tmp/none.sock"
    check 1 refused "ping to no server: exit 1"
    err_has refused "is a server listening there?" "ping to no server: what to do"
}

# Self tests on one place: $1 the name, then the WHERE options of serve and of the clients.
self_exchange() { # <name> <serve where...> -- <client where...>
    local name=$1 cwhere spid where
    shift
    split_at_dashes "$@"
    start_server "$name-serve" '"event":"listening"' "$nipc" serve "${left[@]}" --echo \
        -- "${right[@]}" || return
    cwhere=("${where[@]}")

    run 5 emit "$nipc" emit "${cwhere[@]}" hello '{"id":"cli","n":1}' --wait hello
    check 0 emit "$name: emit --wait gets the echo" '"event":"hello","data":{"id":"cli","n":1}'
    run 5 emit "$nipc" emit "${cwhere[@]}" s '"a string"' --wait s
    check 0 emit "$name: a JSON string" '"data":"a string"'
    run 5 ping "$nipc" ping "${cwhere[@]}" --count 20
    check 0 ping "$name: ping --count 20" "20 sent, 20 received, 0% lost" "rtt min/median/p99/max"
    run 5 listen "$nipc" listen "${cwhere[@]}" --count 1 hi '[1,2]'
    check 0 listen "$name: listen --count 1 sends TYPE on connect, prints the echo" \
        '"event":"hi","data":[1,2]'
    if ! is_udp "${cwhere[0]}"; then
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
    stop_bg "$name-serve" "$spid" 0
    local out=$tmp/$name-serve.out
    if ! is_udp "${cwhere[0]}"; then
        local got
        got=$(grep -c '"event":"line"' "$out")
        [ "$got" = 200 ] || fail "$name: serve got $got of 200 lines"
        grep '"event":"line"' "$out" | sed 's/.*"data":\([0-9]*\).*/\1/' | cmp -s - <(seq 1 200) ||
            fail "$name: the 200 lines are not in order"
        grep -qF '"event":"connect"' "$out" || fail "$name: serve printed no connect"
    fi
    grep -qF '"id":"cli"' "$out" || fail "$name: serve did not show the learned id"
    grep -qF '"event":"add","data":{"a":1},"request":' "$out" || is_udp "${cwhere[0]}" ||
        fail "$name: serve did not show the request"
    ok "$name: serve's lines"
}

# serve --stats against 3 emits whose every byte is known: each {"type":"x","data":N}\f (22
# bytes) answered by {"type":"got","data":{"ok":true}}\f (34), then a frame of a type that
# allowed_events refuses; stderr gets a line every 100 ms and the final one at exit.
stats_serve() { # <name> <connections> <serve where...> -- <client where...>
    local name=$1 conns=$2 spid where line
    shift 2
    split_at_dashes "$@"
    start_server "$name-serve" '"event":"listening"' "$nipc" serve "${left[@]}" \
        --reply 'got={"ok":true}' --allowed-event x --allowed-event got --stats \
        --stats-interval 100 -- "${right[@]}" || return
    for n in 1 2 3; do
        run 5 emit "$nipc" emit "${where[@]}" x "$n" --wait got
        check 0 emit "$name: emit $n, answered" '"event":"got"'
    done
    run 5 emit "$nipc" emit "${where[@]}" --allowed-event other other 1
    sleep 0.3
    stop_bg "$name-serve" "$spid" 0
    grep -qF '"event":"stats","final":false' "$tmp/$name-serve.err" ||
        fail "$name: no periodic stats line"
    line=$(grep -F '"event":"stats","final":true' "$tmp/$name-serve.err")
    local want
    for want in "\"connections\":$conns," '"frames_in":4,' '"bytes_in":92,' '"frames_out":3,' \
        '"bytes_out":102,' '"queued_bytes":0,' '"not_allowed":1,' '"malformed":0,' \
        '"dropped_frames":0,' '"queue_full":0,'; do
        [[ $line == *"$want"* ]] || fail "$name: no $want in the final stats line: $line"
    done
    ok "$name: serve --stats"
}

case_unix() {
    self_exchange unix --path "$tmp/s.sock" -- --path "$tmp/s.sock"
    stats_serve unix-stats 4 --path "$tmp/st.sock" -- --path "$tmp/st.sock"
    grep -qF '"cred":{"pid":' "$tmp/unix-serve.out" || fail "unix: no peer credentials"

    # By id: socket_root + appspace + id.
    start_or_fail id-serve '"event":"listening"' "$nipc" serve --socket-root "$tmp/" --appspace t. \
        --id w --reply 'got={"ok":true}' || return
    local spid=$bg_pid
    grep -qF "\"path\":\"$tmp/t.w\"" "$tmp/id-serve.out" || fail "id: not at socket_root+appspace+id"
    run 5 id "$nipc" emit --socket-root "$tmp/" --appspace t. --id w x 1 --wait got
    check 0 id "--id and --reply" '"event":"got","data":{"ok":true}'
    stop_bg id-serve "$spid" 0

    # Raw mode: hex both ways.
    start_or_fail raw-serve '"event":"listening"' "$nipc" serve --path "$tmp/r.sock" --raw \
        --encoding hex --echo || return
    spid=$bg_pid
    run 5 raw "$nipc" emit --path "$tmp/r.sock" --raw --encoding hex 00ff0c41 --wait data
    check 0 raw "raw hex: the bytes back" '"event":"data","data":"00ff0c41","size":4'
    run 5 raw "$nipc" emit --path "$tmp/r.sock" --raw --encoding latin1 'é' --wait data
    check 0 raw "raw latin1" '"data":"é","size":1'
    stop_bg raw-serve "$spid" 0
    grep -qF '"data":"00ff0c41","size":4' "$tmp/raw-serve.out" || fail "raw: serve's line"

    # serve --stdin broadcasts to a listener: a fifo holds stdin open.
    mkfifo "$tmp/in"
    bg_stdin=$tmp/in start_or_fail bc-serve '"event":"listening"' "$nipc" serve --path "$tmp/b.sock" \
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
    wait_bg "$lpid"
    check 0 bc-listen "serve --stdin broadcasts, listen --count 2" \
        '"event":"news","data":1' '"event":"news","data":2'
    stop_bg bc-serve "$spid" 0
}

case_net() {
    self_exchange tcp --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
    grep -qF '"from":{"address":"127.0.0.1"' "$tmp/tcp-serve.out" || fail "tcp: no from address"
    stats_serve tcp-stats 4 --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
    stats_serve udp4-stats 0 --udp4 127.0.0.1:0 -- --udp4 127.0.0.1:PORT
    self_exchange udp4 --udp4 127.0.0.1:0 -- --udp4 127.0.0.1:PORT
    self_exchange udp6 --udp6 '[::1]:0' -- --udp6 '[::1]:PORT'
    grep -qF '"from":{"address":"::1"' "$tmp/udp6-serve.out" || fail "udp6: no from address"
}

# The certificates of test/support/certs.sh in $tmp/certs.
make_certs() {
    bash "$here/../support/certs.sh" "$tmp/certs" >"$tmp/certs.log" 2>&1 && return 0
    fail "certs.sh"
    show log "$tmp/certs.log"
    return 1
}

case_tls() {
    local certs=$tmp/certs
    make_certs || return
    start_or_fail tls-serve '"event":"listening"' "$nipc" serve --tcp 127.0.0.1:0 --tls \
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
    # --retry-unverified: the untrusted server is tried again as --max-retries says (two
    # "retrying" lines in the verbose log); without it, the first refusal ends retrying.
    local untrusted=(--tcp "127.0.0.1:$port" --tls --ca "$certs/ca2.pem"
        --cert "$certs/client.pem" --key "$certs/client.key" --max-retries 2 --retry 20 --verbose)
    local flag retries want
    for flag in "" --retry-unverified; do
        want=0
        [ -n "$flag" ] && want=2
        # shellcheck disable=SC2086 # an empty $flag is no argument
        run 10 tls "$nipc" listen "${untrusted[@]}" $flag
        check 1 tls "tls: an untrusted server, ${flag:-no --retry-unverified}: exit 1"
        retries=$(grep -c '^retrying ' "$tmp/tls.err")
        if [ "$retries" = "$want" ]; then ok "tls: ${flag:-no --retry-unverified}: $want retries"; else
            fail "tls: ${flag:-no --retry-unverified}: $retries retries, want $want"
            show stderr "$tmp/tls.err"
        fi
        err_has tls NIPC_ECERTUNTRUSTED "tls: the cause named"
    done
    # --servername: the name verified instead of the host. server.pem holds 127.0.0.1 but
    # not elsewhere.example; wrongname.pem holds elsewhere.example only.
    run 5 tls "$nipc" emit "${client[@]}" --servername elsewhere.example m 1
    check 1 tls "tls: --servername the certificate does not hold, exit 1"
    err_has tls NIPC_ECERTNAME "tls: the cause named"
    stop_bg tls-serve "$spid" 0
    grep -qF '"subject":"CN=nipc test client,O=nipc"' "$tmp/tls-serve.out" ||
        fail "tls: serve did not show the client's subject"
    start_or_fail tls-other '"event":"listening"' "$nipc" serve --tcp 127.0.0.1:0 --tls \
        --cert "$certs/wrongname.pem" --key "$certs/wrongname.key" --echo || return
    spid=$bg_pid
    port=$(port_of tls-other)
    run 5 tls "$nipc" emit --tcp "127.0.0.1:$port" --tls --ca "$certs/ca.pem" \
        --servername elsewhere.example m '"by name"' --wait m
    check 0 tls "tls: --servername a name the certificate holds" '"data":"by name"' \
        '"subject":"CN=elsewhere.example"'
    stop_bg tls-other "$spid" 0
}

# ---- against node-ipc -------------------------------------------------------------------
# Each function takes a name, the node-ipc version (10 or 9), then the peer's WHERE and
# nipc's, or the other way round, split at --, PORT in the client's standing for the server's.

# nipc emit, ping and listen against node-ipc's echo server (peer.js server-echo).
node_against() { # <name> <ver> <peer where...> -- <nipc where...>
    local name=$1 ver=$2 spid where
    shift 2
    start_server "$name-peer" '"ev":"listening"' "$node" "$peer" --ver "$ver" --role server-echo \
        --news 2 --timeout 15000 "$@" || return
    run 5 emit "$nipc" emit "${where[@]}" message '"hello"' --wait message
    check 0 emit "$name: emit --wait against node-ipc's echo" '"data":"hello world!"'
    run 5 ping "$nipc" ping "${where[@]}" --type message --count 5
    check 0 ping "$name: ping --type message against node-ipc" "5 sent, 5 received"
    run 5 listen "$nipc" listen "${where[@]}" --count 2 hello '{"id":"cli"}'
    check 0 listen "$name: listen to node-ipc's news" '"event":"news","data":{"i":0,"to":"cli"}' \
        '"event":"news","data":{"i":1,"to":"cli"}'
    # END stops node-ipc's server (exit 0).
    run 5 end "$nipc" emit "${where[@]}" END
    check 0 end "$name: emit END"
    wait_bg "$spid"
    check 0 "$name-peer" "$name: node-ipc's server ended by END" '"ev":"end"'
}

# node-ipc's echo client (peer.js client-echo) against nipc serve --echo.
node_client() { # <name> <ver> <serve where...> -- <peer where...>
    local name=$1 ver=$2 spid where
    shift 2
    start_server "$name-serve" '"event":"listening"' "$nipc" serve --echo "$@" || return
    run 10 client "$node" "$peer" --ver "$ver" --role client-echo "${where[@]}" --timeout 8000
    check 0 client "$name: node-ipc's echo client gets nipc serve's echoes" '"ev":"done"'
    sleep 0.2
    stop_bg "$name-serve" "$spid" 0
    grep -qF '"id":"node"' "$tmp/$name-serve.out" || {
        fail "$name: serve did not learn node's id"
        show serve "$tmp/$name-serve.out"
    }
}

# UDP both ways: nipc emit and ping to node-ipc's UDP server (peer.js udp-server), and
# node-ipc's udp-client to nipc serve --echo. <host> is 127.0.0.1 or [::1].
node_udp() { # <name> <ver> --udp4|--udp6 <host>
    local name=$1 ver=$2 fam=$3 host=$4 spid where
    local family=${fam#--}
    local server=${family}Server hello="I am ${family^^} server!"
    start_server "$name-peer" '"ev":"listening"' "$node" "$peer" --ver "$ver" --role udp-server \
        "$fam" "$host:0" --timeout 15000 -- "$fam" "$host:PORT" || return
    run 5 emit "$nipc" emit "${where[@]}" message '{"id":"cli","message":"hi"}' --wait message
    check 0 emit "$name: emit --wait against node-ipc's UDP server" \
        "\"data\":{\"id\":\"$server\",\"message\":\"$hello\"}"
    run 5 ping "$nipc" ping "${where[@]}" --type message --count 5
    check 0 ping "$name: ping --type message against node-ipc" "5 sent, 5 received"
    run 5 end "$nipc" emit "${where[@]}" END
    check 0 end "$name: emit END"
    wait_bg "$spid"
    check 0 "$name-peer" "$name: node-ipc's UDP server, the id learned, ended by END" \
        '"data":{"id":"cli","message":"hi"}' '"id":"cli"}' '"ev":"end"'

    start_server "$name-serve" '"event":"listening"' "$nipc" serve "$fam" "$host:0" --echo \
        -- "$host:PORT" || return
    run 10 client "$node" "$peer" --ver "$ver" --role udp-client "$fam" "$host:0" \
        --to "${where[0]}" --timeout 8000
    check 0 client "$name: node-ipc's UDP client gets nipc serve's echo" \
        '"data":{"id":"node","message":"Hello"}' '"ev":"done"'
    stop_bg "$name-serve" "$spid" 0
    grep -qF '"id":"node"}' "$tmp/$name-serve.out" || {
        fail "$name: serve did not learn node's id"
        show serve "$tmp/$name-serve.out"
    }
}

# nipc emit --request to node-ipc answering requests (request_peer.js server).
node_request() { # <name> <ver> <request_peer where...> -- <nipc where...>
    local name=$1 ver=$2 spid where
    shift 2
    start_server "$name-peer" '"ev":"listening"' "$node" "$request_peer" --ver "$ver" \
        --role server --timeout 15000 "$@" || return
    run 5 req "$nipc" emit "${where[@]}" --request add '{"a":2,"b":40}'
    check 0 req "$name: emit --request, node-ipc's answer" '{"event":"$reply","data":42,'
    run 5 req "$nipc" emit "${where[@]}" --request slow '{"a":1,"b":2}'
    check 0 req "$name: emit --request, a late answer" '{"event":"$reply","data":3,'
    stop_bg "$name-peer" "$spid" 0
}

# Raw mode, hex, both ways: nipc emit to node-ipc's server-raw (which answers each data),
# and node-ipc's client-raw to nipc serve --echo; the bytes include 00 and ff.
node_raw() { # <name> <ver> <peer where...> -- <nipc where...>
    local name=$1 ver=$2 spid where
    shift 2
    start_server "$name-peer" '"ev":"listening"' "$node" "$peer" --ver "$ver" --role server-raw \
        --encoding hex --answer 0aff00 --clients 1 --timeout 15000 "$@" || return
    run 5 raw "$nipc" emit "${where[@]}" --raw --encoding hex 00ff0c41 --wait data
    check 0 raw "$name: emit --raw --encoding hex gets node-ipc's answer" \
        '"event":"data","data":"0aff00","size":3'
    wait_bg "$spid"
    check 0 "$name-peer" "$name: node-ipc's server-raw got the bytes" '"hex":"00ff0c41"' \
        '"ev":"end","clients":1'
}
node_raw_client() { # <name> <ver> <serve where...> -- <peer where...>
    local name=$1 ver=$2 spid where
    shift 2
    start_server "$name-serve" '"event":"listening"' "$nipc" serve --raw --encoding hex --echo \
        "$@" || return
    run 10 client "$node" "$peer" --ver "$ver" --role client-raw "${where[@]}" --encoding hex \
        --send 00ff0c41 --bytes 4 --timeout 8000
    check 0 client "$name: node-ipc's client-raw gets nipc serve's echo" '"hex":"00ff0c41"' \
        '"ev":"done"'
    stop_bg "$name-serve" "$spid" 0
    grep -qF '"data":"00ff0c41","size":4' "$tmp/$name-serve.out" || fail "$name: serve's line"
}
# Raw UDP: node-ipc decodes a datagram as UTF-8 first (compat R5), so ASCII bytes only.
node_raw_udp() { # <name> <ver>
    local name=$1 ver=$2 spid where
    start_server "$name-peer" '"ev":"listening"' "$node" "$peer" --ver "$ver" --role udp-raw \
        --udp4 127.0.0.1:0 --encoding hex --answer 414243 --count 1 --timeout 15000 \
        -- --udp4 127.0.0.1:PORT || return
    run 5 raw "$nipc" emit "${where[@]}" --raw --encoding hex 0a4142 --wait data
    check 0 raw "$name: emit --udp4 --raw gets node-ipc's answer" '"data":"414243","size":3'
    wait_bg "$spid"
    check 0 "$name-peer" "$name: node-ipc's udp-raw got the bytes" '"hex":"0a4142"' '"ev":"done"'
}

case_node() {
    make_certs || return
    export NIPC_TLS_DIR=$tmp/certs
    local c=$tmp/certs v
    local tls_client=(--tls --ca "$c/ca.pem" --cert "$c/client.pem" --key "$c/client.key")
    local tls_serve=(--tls --cert "$c/server.pem" --key "$c/server.key" --ca "$c/ca.pem"
        --request-cert)
    for v in 10 9; do
        node_against "node$v-unix" "$v" --path "$tmp/n$v.sock" -- --path "$tmp/n$v.sock"
        node_against "node$v-tcp" "$v" --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
        node_against "node$v-tls" "$v" --transport tls --at 127.0.0.1:0 --mutual \
            -- --tcp 127.0.0.1:PORT "${tls_client[@]}"
        node_client "node$v-serve-unix" "$v" --path "$tmp/m$v.sock" -- --path "$tmp/m$v.sock"
        node_client "node$v-serve-tcp" "$v" --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
        node_client "node$v-serve-tls" "$v" --tcp 127.0.0.1:0 "${tls_serve[@]}" \
            -- --transport tls --at 127.0.0.1:PORT --mutual
        grep -qF '"subject":"CN=nipc test client,O=nipc"' "$tmp/node$v-serve-tls-serve.out" ||
            fail "node$v-serve-tls: serve did not show node's certificate subject"
        node_udp "node$v-udp4" "$v" --udp4 127.0.0.1
        node_udp "node$v-udp6" "$v" --udp6 '[::1]'
        node_request "node$v-request-unix" "$v" --transport unix --at "$tmp/q$v.sock" \
            -- --path "$tmp/q$v.sock"
        node_request "node$v-request-tcp" "$v" --transport tcp4 --at 127.0.0.1:0 \
            -- --tcp 127.0.0.1:PORT
        node_raw "node$v-raw-unix" "$v" --path "$tmp/r$v.sock" -- --path "$tmp/r$v.sock"
        node_raw "node$v-raw-tcp" "$v" --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
        node_raw_client "node$v-raw-serve" "$v" --tcp 127.0.0.1:0 -- --tcp 127.0.0.1:PORT
        node_raw_udp "node$v-raw-udp4" "$v"
    done
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
