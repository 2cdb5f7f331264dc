#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/examples/run.sh CASE BUILDDIR [NODE]
# Tests examples/hello and examples/world as a user runs them. CASE is one of:
#   options   --help / -h on stdout with exit 0; bad ports, unknown options and other bad
#             command lines (TLS options without --tls, a --cert without its --key, a file
#             that cannot be read) refused with exit 2, the reason and the synopsis on stderr
#   timeout   hello with no world exits 1 within its --timeout (UDP, TCP, Unix socket)
#   exchange  hello against world on a Unix socket in a temporary directory (world's log by
#             default, with --log-payloads and with --silent), and on a free non-default
#             port over TCP, UDP4 (also with --local-port) and UDP6 when ::1 works
#   tls       hello --tls against world --tls with certificates from test/support/certs.sh:
#             the exchange with world's certificate verified; mutual TLS, with the client's
#             subject in world's log; hello refusing a world whose certificate is from
#             another CA, for another name or expired, and a mutual-TLS world refusing a
#             hello with no certificate or one from another CA: exit 1 at once (no retry),
#             the cause named; node-ipc's TLS client against world and hello against
#             node-ipc's TLS world, basic and mutual;
#             files that hold no certificate; and the certificates that README.md's openssl
#             recipe makes
#   node      world answers a node-ipc client (client.js) as node-ipc's world does, for
#             5, {"a":1}, [1,2] and "hello"; hello gets its answer from a node-ipc world
#             (test/interop/node/peer.js) on a Unix socket and over UDP
# and examples/cluster:
#   cluster   its command line; cluster --workers 3 on a Unix socket: 10 node-ipc clients
#             at once (cluster_client.js), 5 events each, every event logged exactly once by
#             the worker that answered it; the worker that served the first event killed
#             (SIGKILL) and replaced, and the next events served, none by it, so more than
#             one worker served; the other two first workers killed, and the next events
#             served by the replacements only; SIGTERM stops every worker and removes the
#             socket; a second cluster on a live socket and one on a TCP port held without
#             reuse_port refused; --tcp (reuse_port) with every event once, and a worker
#             replaced there too
#   cluster_node  node-ipc's README cluster client itself (connect, emit `currentDate`,
#             disconnect at once, on an interval) with @achrinza/node-ipc 10 and 9 against
#             cluster on a Unix socket and over TCP: each of its events logged once
# Loopback and a temporary directory only; every wait is bounded. Exits 1 if a check failed.
set -uo pipefail

case_name=${1:?usage: run.sh CASE BUILDDIR [NODE]}
builddir=$(cd "${2:?usage: run.sh CASE BUILDDIR [NODE]}" && pwd)
node=${3:-node}
here=$(cd "$(dirname "$0")" && pwd)
peer=$here/../interop/node/peer.js
hello=$builddir/examples/hello
world=$builddir/examples/world
cluster=$builddir/examples/cluster
cclient=$here/cluster_client.js

# shellcheck source=lib.sh
. "$here/lib.sh"

# lib.sh's cleanup also kills cluster's workers, which it does not know of (they also stop
# by themselves once their parent is gone).
# shellcheck disable=SC2317 # run by lib.sh's EXIT trap
cleanup_more() {
    local p
    for p in $(cluster_workers "$tmp"/*.out); do
        is_cluster "$p" && kill -KILL "$p" 2>/dev/null
    done
}

# start_world <name> <transport option> <port kind> [<more world arguments...>]: world on a
# free port. Sets $port.
start_world() {
    local name=$1 opt=$2 kind=$3
    shift 3
    start_net "$name" "$opt" "$kind" "$world" "$@"
}

# ---- options --------------------------------------------------------------------------------

# tls_options <prog> <exe>: --cert, --key and --ca, checked before anything starts. The files
# only need to be readable here, so they need not be certificates.
tls_options() {
    local prog=$1 exe=$2 pem=$tmp/some.pem empty=$tmp/empty.pem opt cas=()
    echo "not checked here" >"$pem"
    : >"$empty"
    for opt in --cert --key --ca; do
        run 10 file "$exe" --tls "$opt" "$tmp/missing.pem" --cert "$pem" --key "$pem"
        expect_bad file "$prog $opt missing file" \
            "$prog: $opt $tmp/missing.pem: No such file or directory"
        run 10 file "$exe" --tls "$opt" "$tmp" --cert "$pem" --key "$pem"
        expect_bad file "$prog $opt directory" "$prog: $opt $tmp: Is a directory"
        run 10 file "$exe" --tls "$opt" "$empty" --cert "$pem" --key "$pem"
        expect_bad file "$prog $opt empty file" "$prog: $opt $empty: the file is empty"
        run 10 file "$exe" --tls "$opt" ""
        expect_bad file "$prog $opt ''" "$prog: $opt: FILE is missing"
        run 10 file "$exe" --tls "$opt"
        expect_bad file "$prog $opt without FILE" "$prog: $opt: FILE is missing"
        run 10 file "$exe" --tcp 8001 "$opt" "$pem"
        expect_bad file "$prog --tcp $opt" "$prog: $opt goes with --tls"
        run 10 file "$exe" "$opt" "$pem"
        expect_bad file "$prog $opt (Unix socket)" "$prog: $opt goes with --tls"
    done
    for opt in --cert --key; do
        run 10 file "$exe" --tls "$opt" "$pem" "$opt" "$pem"
        expect_bad file "$prog $opt twice" "$prog: $opt: given twice"
    done
    run 10 file "$exe" --tls --cert "$pem"
    expect_bad file "$prog --cert alone" "$prog: --cert needs --key too"
    run 10 file "$exe" --tls --key "$pem"
    expect_bad file "$prog --key alone" "$prog: --key needs --cert too"
    for _ in 1 2 3 4 5 6 7 8 9; do
        cas+=(--ca "$pem")
    done
    run 10 file "$exe" --tls --cert "$pem" --key "$pem" "${cas[@]}"
    expect_bad file "$prog with 9 --ca" "$prog: --ca: at most 8 files"
    run 10 file "$exe" --tls --udp4
    expect_bad file "$prog --tls --udp4" "only one of --path, --tcp, --tls, --udp4 and --udp6"
    if [ "$prog" = world ]; then
        run 10 file "$exe" --tls
        expect_bad file "world --tls without a certificate" \
            "world: --tls needs --cert FILE and --key FILE"
        run 10 file "$exe" --tls --ca "$pem"
        expect_bad file "world --tls --ca without a certificate" \
            "world: --tls needs --cert FILE and --key FILE"
    fi
}

case_options() {
    local prog exe opt v
    for prog in hello world; do
        exe=$builddir/examples/$prog
        for opt in --help -h; do
            run 10 help "$exe" "$opt"
            expect_rc 0 help "$prog $opt" &&
                expect_in "$tmp/help.out" "usage: $prog" "$prog $opt" &&
                expect_in "$tmp/help.out" "--udp4 [PORT]" "$prog $opt: the options" &&
                expect_in "$tmp/help.out" "--tls [PORT]" "$prog $opt: the TLS options" &&
                expect_in "$tmp/help.out" "--ca FILE" "$prog $opt: the TLS options" &&
                expect_empty "$tmp/help.err" "$prog $opt"
        done
        for opt in --tcp --tls --udp4 --udp6; do
            for v in 1e3 8050x 0 65536 -1 "" " 80" +80 99999999999999999999; do
                run 10 port "$exe" "$opt" "$v"
                expect_rc 2 port "$prog $opt '$v'" &&
                    expect_in "$tmp/port.err" \
                        "$prog: $opt: \"$v\" is not a port number (1-65535)" \
                        "$prog $opt '$v'" &&
                    expect_in "$tmp/port.err" "usage: $prog" "$prog $opt '$v'" &&
                    expect_empty "$tmp/port.out" "$prog $opt '$v'"
            done
        done
        for v in --bogus -x; do
            run 10 unknown "$exe" "$v"
            expect_rc 2 unknown "$prog $v" &&
                expect_in "$tmp/unknown.err" "$prog: unknown option \"$v\"" "$prog $v" &&
                expect_in "$tmp/unknown.err" "usage: $prog" "$prog $v" &&
                expect_empty "$tmp/unknown.out" "$prog $v"
        done
        run 10 stray "$exe" stray
        expect_rc 2 stray "$prog stray" &&
            expect_in "$tmp/stray.err" "unexpected argument \"stray\"" "$prog stray"
        run 10 two "$exe" --tcp 8001 --udp4 8002
        expect_rc 2 two "$prog with two transports" &&
            expect_in "$tmp/two.err" "only one of" "$prog with two transports"
        run 10 nopath "$exe" --path
        expect_rc 2 nopath "$prog --path without PATH" &&
            expect_in "$tmp/nopath.err" "PATH is missing" "$prog --path"
        tls_options "$prog" "$exe"
        run 10 stray "$exe" --local-port 9000
        if [ "$prog" = world ]; then
            expect_rc 2 stray "world --local-port (hello's only)" &&
                expect_in "$tmp/stray.err" "unknown option \"--local-port\"" "world --local-port"
        fi
    done

    for v in 1e3 8050x 0 65536 -1 ""; do
        run 10 local "$hello" --udp4 8001 --local-port "$v"
        expect_rc 2 local "hello --local-port '$v'" &&
            expect_in "$tmp/local.err" "--local-port: \"$v\" is not a port number" \
                "hello --local-port '$v'"
    done
    run 10 local "$hello" --udp4 --local-port 8000
    expect_rc 2 local "hello --local-port = world's port" &&
        expect_in "$tmp/local.err" "8000 is world's port" "hello --local-port 8000"
    run 10 local "$hello" --tcp 8001 --local-port 9000
    expect_rc 2 local "hello --tcp --local-port" &&
        expect_in "$tmp/local.err" "--local-port goes with --udp4 or --udp6" "hello --tcp --local-port"
    for v in 0 x 1.5 3601 ""; do
        run 10 tmo "$hello" --timeout "$v"
        expect_rc 2 tmo "hello --timeout '$v'" &&
            expect_in "$tmp/tmo.err" "--timeout: \"$v\" is not a number of seconds (1-3600)" \
                "hello --timeout '$v'"
    done
}

# ---- timeout --------------------------------------------------------------------------------

# expect_no_answer <name> <what>: hello (just run with --timeout 1) gave up, in time.
expect_no_answer() {
    local name=$1 what=$2 elapsed=$3
    expect_rc 1 "$name" "$what" || return
    expect_in "$tmp/$name.err" "hello: no answer from world within 1 s" "$what"
    if grep -qF "hello <- world" "$tmp/$name.out"; then
        fail "$what: hello printed an answer"
        show stdout "$tmp/$name.out"
    fi
    if [ "$elapsed" -lt 1 ] || [ "$elapsed" -gt 5 ]; then
        fail "$what: took $elapsed s, want about 1"
    fi
}

case_timeout() {
    local p lp start
    p=$(free_port udp4) || { fail "no free UDP port"; return; }
    start=$SECONDS
    run 20 udp "$hello" --udp4 "$p" --timeout 1
    expect_no_answer udp "hello --udp4 $p with no world" $((SECONDS - start))
    # With its own port chosen, hello still does not take its own datagram for an answer.
    p=$(free_port udp4) || { fail "no free UDP port"; return; }
    start=$SECONDS
    lp=$(free_port udp4) || { fail "no free UDP port"; return; }
    [ "$lp" != "$p" ] || lp=$(free_port udp4)
    run 20 udp "$hello" --udp4 "$p" --local-port "$lp" --timeout 1
    expect_no_answer udp "hello --udp4 $p --local-port with no world" $((SECONDS - start))

    p=$(free_port tcp) || { fail "no free TCP port"; return; }
    start=$SECONDS
    run 20 tcp "$hello" --tcp "$p" --timeout 1
    expect_no_answer tcp "hello --tcp $p with no world" $((SECONDS - start))

    start=$SECONDS
    run 20 unix "$hello" --path "$tmp/nobody.sock" --timeout 1
    expect_no_answer unix "hello --path with no world" $((SECONDS - start))
}

# ---- exchange -------------------------------------------------------------------------------

# hello_against <name> <what> <answer line> <hello arguments...>
hello_against() {
    local name=$1 what=$2 line=$3
    shift 3
    run 30 "$name" "$hello" "$@"
    expect_rc 0 "$name" "$what" && expect_in "$tmp/$name.out" "hello <- world: $line" "$what"
}

case_exchange() {
    local sock=$tmp/world.sock udp='{"from":"world","message":"Hello world!"}' lp
    if start_bg w-unix "world is listening" "$world" --path "$sock"; then
        hello_against unix "hello --path" "hello world!" --path "$sock"
        stop_bg w-unix "$bg_pid" 0
        expect_in "$tmp/w-unix.out" "client hello has disconnected!" "world --path"
        [ ! -e "$sock" ] || fail "world --path left $sock behind"
        # The log: world's own line with the data, nipc's event lines without it
        # (log_payloads off).
        expect_in "$tmp/w-unix.out" "got a message : hello" "world's log"
        expect_in "$tmp/w-unix.out" "received event of : message" "world's log"
        if grep -qF "received event of : message hello" "$tmp/w-unix.out"; then
            fail "world without --log-payloads logged a payload"
        fi
    else
        fail "world --path did not start"
        show "world stderr" "$tmp/w-unix.err"
    fi

    if start_bg w-payloads "world is listening" "$world" --path "$sock" --log-payloads; then
        hello_against payloads "hello against world --log-payloads" "hello world!" --path "$sock"
        stop_bg w-payloads "$bg_pid" 0
        expect_in "$tmp/w-payloads.out" "received event of : message hello" "--log-payloads"
        expect_in "$tmp/w-payloads.out" "dispatching event to socket : message hello world!" \
            "--log-payloads"
    else
        fail "world --log-payloads did not start"
        show "world stderr" "$tmp/w-payloads.err"
    fi

    # --silent prints nothing, not even that it listens: its socket says it is up.
    "$world" --path "$sock" --silent >"$tmp/w-silent.out" 2>"$tmp/w-silent.err" &
    bg_pid=$!
    pids+=("$bg_pid")
    for _ in $(seq 50); do
        [ -S "$sock" ] && break
        sleep 0.1
    done
    hello_against silent "hello against world --silent" "hello world!" --path "$sock"
    stop_bg w-silent "$bg_pid" 0
    if [ -s "$tmp/w-silent.out" ]; then
        fail "world --silent wrote to stdout"
        show "w-silent.out" "$tmp/w-silent.out"
    fi

    if start_world w-tcp --tcp tcp; then
        hello_against tcp "hello --tcp $port" "hello world!" --tcp "$port"
        stop_bg w-tcp "$bg_pid" 0
        expect_in "$tmp/w-tcp.out" "client hello has disconnected!" "world --tcp"
    else
        fail "world --tcp did not start"
        show "world stderr" "$tmp/w-tcp.err"
    fi

    if start_world w-udp4 --udp4 udp4; then
        hello_against udp4 "hello --udp4 $port" "$udp" --udp4 "$port"
        lp=$(free_port udp4)
        hello_against udp4-lp "hello --udp4 $port --local-port $lp" "$udp" \
            --udp4 "$port" --local-port "$lp" &&
            expect_in "$tmp/udp4-lp.out" "hello is bound to 127.0.0.1 port $lp" "--local-port $lp"
        stop_bg w-udp4 "$bg_pid" 0
    else
        fail "world --udp4 did not start"
        show "world stderr" "$tmp/w-udp4.err"
    fi

    if ! free_port udp6 >/dev/null 2>&1; then
        echo "skip: no ::1 here, so no --udp6 exchange"
    elif start_world w-udp6 --udp6 udp6; then
        hello_against udp6 "hello --udp6 $port" "$udp" --udp6 "$port"
        stop_bg w-udp6 "$bg_pid" 0
    else
        fail "world --udp6 did not start"
        show "world stderr" "$tmp/w-udp6.err"
    fi
}

# ---- tls ------------------------------------------------------------------------------------

# tls_refused <name> <what> <cause> <hello arguments...>: hello exits 1 at once (well within
# its --timeout of 10 s, so it did not retry), with <cause> on stderr and no answer.
tls_refused() {
    local name=$1 what=$2 cause=$3 start=$SECONDS elapsed
    shift 3
    run 30 "$name" "$hello" --timeout 10 "$@"
    elapsed=$((SECONDS - start))
    expect_rc 1 "$name" "$what" || return
    expect_in "$tmp/$name.err" "hello: cannot talk to world: $cause" "$what"
    if grep -qF "hello <- world" "$tmp/$name.out"; then
        fail "$what: hello printed an answer"
        show stdout "$tmp/$name.out"
    fi
    [ "$elapsed" -le 3 ] || fail "$what: took $elapsed s, so hello retried"
}

# tls_world <name> <certificate> [<world arguments...>]: world --tls with <certificate>.pem and
# its key from $certs on a free port. Sets $port and $bg_pid.
tls_world() {
    local name=$1 cert=$2
    shift 2
    start_world "$name" --tls tcp --cert "$certs/$cert.pem" --key "$certs/$cert.key" "$@" &&
        return 0
    fail "world --tls with $cert.pem did not start"
    show "world stdout" "$tmp/$name.out"
    show "world stderr" "$tmp/$name.err"
    return 1
}

# readme_recipe: the openssl commands of README.md's TLS section (the block after the marker
# `<!-- readme-test: certs.sh -->`), run as written in an empty directory, make certificates
# that world and hello accept for mutual TLS.
readme_recipe() {
    local dir=$tmp/readme-certs what="README.md's openssl recipe"
    mkdir -p "$dir"
    awk '$0 == "<!-- readme-test: certs.sh -->" { found = 1; next }
        found == 1 && /^```sh$/ { found = 2; next }
        found == 2 && /^```$/ { exit }
        found == 2 { print }' "$here/../../README.md" >"$dir/recipe.sh"
    if [ ! -s "$dir/recipe.sh" ]; then
        fail "$what: README.md has no sh block after <!-- readme-test: certs.sh -->"
        return
    fi
    if ! (cd "$dir" && bash -eu recipe.sh) >"$tmp/recipe.out" 2>"$tmp/recipe.log"; then
        fail "$what failed"
        show "openssl" "$tmp/recipe.log"
        return
    fi
    if ! start_world w-readme --tls tcp --cert "$dir/server.pem" --key "$dir/server.key" \
        --ca "$dir/ca.pem"; then
        fail "$what: world did not start"
        show "world stdout" "$tmp/w-readme.out"
        return
    fi
    hello_against readme "$what: mutual TLS" "hello world!" --tls "$port" --ca "$dir/ca.pem" \
        --cert "$dir/client.pem" --key "$dir/client.key" &&
        expect_in "$tmp/readme.out" "certificate subject: CN=localhost ##" "$what: world's subject"
    tls_refused readme-nocert "$what: hello without its certificate" \
        "peer sent no certificate where one is required" --tls "$port" --ca "$dir/ca.pem"
    stop_bg w-readme "$bg_pid" 0
    expect_in "$tmp/w-readme.out" "certificate subject: CN=my client" "$what: the client's subject"
}

case_tls() {
    local untrusted='certificate not issued by a trusted CA (NIPC_ECERTUNTRUSTED)'
    local nocert='peer sent no certificate where one is required (NIPC_ENOPEERCERT)'
    local client_subject='certificate subject: CN=nipc test client,O=nipc'
    certs=$tmp/certs
    if ! bash "$here/../support/certs.sh" "$certs" >"$tmp/certs.out" 2>"$tmp/certs.log"; then
        fail "certs.sh failed"
        show "certs.sh" "$tmp/certs.log"
        return
    fi
    local ca=(--ca "$certs/ca.pem") mine=(--cert "$certs/client.pem" --key "$certs/client.key")

    # node-ipc's TLS basic example: encrypted, world's certificate verified by hello.
    if tls_world w-basic server; then
        hello_against basic "hello --tls against world --tls" "hello world!" \
            --tls "$port" "${ca[@]}" &&
            expect_in "$tmp/basic.out" "connected to world over TLS, certificate subject: " \
                "hello --tls: world's subject" &&
            expect_in "$tmp/basic.out" "subject: CN=localhost ##" "hello --tls: world's subject"
        # Verification is on by default: with no --ca, the test CA is not in the system's store.
        tls_refused basic-noca "hello --tls without --ca" "$untrusted" --tls "$port"
        # A client certificate that world did not ask for changes nothing.
        hello_against basic-cert "hello --tls --cert against world --tls" "hello world!" \
            --tls "$port" "${ca[@]}" "${mine[@]}"
        stop_bg w-basic "$bg_pid" 0
        expect_in "$tmp/w-basic.out" "client connected over TLS, no client certificate" \
            "world --tls: a client without a certificate" &&
            expect_in "$tmp/w-basic.out" "client hello has disconnected!" "world --tls"
    fi

    # basic-most-secure: mutual TLS, world logs the subject of hello's certificate.
    if tls_world w-mutual server "${ca[@]}"; then
        hello_against mutual "hello --tls --cert against world --tls --ca" "hello world!" \
            --tls "$port" "${ca[@]}" "${mine[@]}"
        tls_refused mutual-nocert "hello --tls without a certificate against world --ca" \
            "$nocert" --tls "$port" "${ca[@]}"
        tls_refused mutual-other "hello --tls with another CA's certificate against world --ca" \
            "$untrusted" --tls "$port" "${ca[@]}" \
            --cert "$certs/client2.pem" --key "$certs/client2.key"
        stop_bg w-mutual "$bg_pid" 0
        expect_in "$tmp/w-mutual.out" "client connected over TLS, $client_subject" \
            "world --tls --ca: the client's subject"
        expect_in "$tmp/w-mutual.out" "client error: $nocert" \
            "world --tls --ca: a client without a certificate"
        expect_in "$tmp/w-mutual.out" "client error: $untrusted" \
            "world --tls --ca: a client certificate from another CA"
        if [ "$(grep -cF "client connected over TLS" "$tmp/w-mutual.out")" != 1 ]; then
            fail "world --tls --ca let in a client that it should have refused"
            show "world stdout" "$tmp/w-mutual.out"
        fi
    fi

    # node-ipc's TLS client against world, both set-ups, answered as node-ipc's world does.
    if tls_world w-node server; then
        node_client node-tls "node-ipc TLS client, world --tls" --tcp "$port" --tls "$certs"
        stop_bg w-node "$bg_pid" 0
    fi
    if tls_world w-node-mutual server "${ca[@]}"; then
        node_client node-tls-mutual "node-ipc TLS client with its certificate, world --tls --ca" \
            --tcp "$port" --tls "$certs" --mutual
        stop_bg w-node-mutual "$bg_pid" 0
        expect_in "$tmp/w-node-mutual.out" "client connected over TLS, $client_subject" \
            "world --tls --ca: node-ipc's client's subject"
    fi

    # The same two against node-ipc's own TLS world (peer.js: config.tls with certs.sh's
    # files; --mutual adds requestCert), as node-ipc's examples run them.
    export NIPC_TLS_DIR=$certs
    local mode p
    for mode in basic mutual; do
        local extra=() hargs=(--tls)
        [ "$mode" = mutual ] && extra=(--mutual)
        if start_bg "n-tls-$mode" '"ev":"listening"' "$node" "$peer" --ver 10 --role server-echo \
            --id world --transport tls --at 127.0.0.1:0 "${extra[@]}"; then
            p=$(sed -n 's/.*"ev":"listening","port":\([0-9]*\).*/\1/p' "$tmp/n-tls-$mode.out")
            hargs+=("$p" "${ca[@]}")
            [ "$mode" = mutual ] && hargs+=("${mine[@]}")
            hello_against "hello-node-tls-$mode" "hello --tls ($mode), node-ipc's TLS world" \
                "hello world!" "${hargs[@]}"
            stop_bg "n-tls-$mode" "$bg_pid" 0
        else
            fail "the node-ipc TLS world ($mode) did not start"
            show "stderr" "$tmp/n-tls-$mode.err"
        fi
    done

    # hello refuses a world whose certificate does not verify.
    if tls_world w-other other; then
        tls_refused other "hello --tls, world's certificate from another CA" "$untrusted" \
            --tls "$port" "${ca[@]}"
        stop_bg w-other "$bg_pid" 0
    fi
    if tls_world w-name wrongname; then
        tls_refused name "hello --tls, world's certificate for another name" \
            'certificate does not match the host name or IP address (NIPC_ECERTNAME)' \
            --tls "$port" "${ca[@]}"
        stop_bg w-name "$bg_pid" 0
    fi
    if tls_world w-expired expired; then
        tls_refused expired "hello --tls, world's certificate expired" \
            'certificate has expired or is not yet valid (NIPC_ECERTEXPIRED)' \
            --tls "$port" "${ca[@]}"
        stop_bg w-expired "$bg_pid" 0
    fi

    readme_recipe

    # A file that is readable but holds no certificate: hello's configuration is refused
    # before any attempt (by nipc_new), and hello ends there; world cannot listen. Exit 1,
    # not 2.
    run 10 conf "$hello" --timeout 10 --tls "$(free_port tcp)" --ca "$certs/ca.key"
    expect_rc 1 conf "hello --tls --ca with a file that holds no certificate" &&
        expect_in "$tmp/conf.err" "hello: invalid argument" "hello --tls --ca ca.key" &&
        expect_in "$tmp/conf.out" "holds no certificate" "hello --tls --ca ca.key: why"
    run 10 w-bad "$world" --tls "$(free_port tcp)" --cert "$certs/ca.key" --key "$certs/server.key"
    expect_rc 1 w-bad "world --tls with a key as its certificate" &&
        expect_in "$tmp/w-bad.err" "world: cannot listen: invalid argument (EINVAL)" \
            "world --tls with a key as its certificate" &&
        expect_in "$tmp/w-bad.out" "holds no certificate" "world --tls: why"
}

# ---- node -----------------------------------------------------------------------------------

# What node-ipc's world answers, in JavaScript: data + ' world!'.
node_values=(5 '{"a":1}' '[1,2]' '"hello"')
node_answers='"5 world!"
"[object Object] world!"
"1,2 world!"
"hello world!"'

# node_client <name> <what> <client.js transport arguments...>
node_client() {
    local name=$1 what=$2
    shift 2
    run 30 "$name" "$node" "$here/client.js" "$@" "${node_values[@]}"
    expect_rc 0 "$name" "$what" || return
    if [ "$(cat "$tmp/$name.out")" != "$node_answers" ]; then
        fail "$what: world's answers differ from node-ipc's"
        echo "want:"
        echo "$node_answers"
        show "got" "$tmp/$name.out"
    fi
}

case_node() {
    local sock=$tmp/world.sock nsock=$tmp/node-world.sock p
    if start_bg w-unix "world is listening" "$world" --path "$sock"; then
        node_client node-unix "node-ipc client, world --path" --path "$sock"
        stop_bg w-unix "$bg_pid" 0
    else
        fail "world --path did not start"
        show "world stderr" "$tmp/w-unix.err"
    fi
    if start_world w-tcp --tcp tcp; then
        node_client node-tcp "node-ipc client, world --tcp $port" --tcp "$port"
        stop_bg w-tcp "$bg_pid" 0
    else
        fail "world --tcp did not start"
        show "world stderr" "$tmp/w-tcp.err"
    fi

    # The other way round: hello against node-ipc's world (peer.js answers a string message
    # with data + " world!" too).
    if start_bg n-unix '"ev":"listening"' "$node" "$peer" --ver 10 --role server-echo \
        --id world --path "$nsock"; then
        hello_against hello-node "hello --path, node-ipc world" "hello world!" --path "$nsock"
        stop_bg n-unix "$bg_pid" 0
    else
        fail "the node-ipc world did not start"
        show "stderr" "$tmp/n-unix.err"
    fi
    if start_bg n-udp '"ev":"listening"' "$node" "$peer" --ver 10 --role udp-server \
        --id world --reply "Hello world!" --udp4 127.0.0.1:0; then
        p=$(sed -n 's/.*"ev":"listening","port":\([0-9]*\).*/\1/p' "$tmp/n-udp.out")
        hello_against hello-node-udp "hello --udp4 $p, node-ipc world" \
            '{"id":"world","message":"Hello world!"}' --udp4 "$p"
        stop_bg n-udp "$bg_pid" 0
    else
        fail "the node-ipc UDP world did not start"
        show "stderr" "$tmp/n-udp.err"
    fi
}

# ---- cluster --------------------------------------------------------------------------------

# The pids cluster logged for its workers ("cluster: worker N is pid P"), in <files...>.
cluster_workers() {
    sed -n 's/^cluster: worker [0-9]* is pid \([0-9]*\)$/\1/p' "$@" 2>/dev/null
}

# is_cluster <pid>: that process runs examples/cluster (a zombie's cmdline is empty).
is_cluster() {
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
    [ "${cmd%% *}" = "$cluster" ]
}

# The "SEQ PID" pairs of <tag>: what the workers logged in <cluster output>, what the
# clients were answered in <client output>.
logged_pairs() { # <cluster output> <tag>
    sed -n 's/^worker \([0-9]*\): currentDate {.*"seq":"\('"$2"'-[0-9-]*\)"}$/\2 \1/p' "$1" | sort
}
served_pairs() { # <client output>
    sed -n 's/^{"ev":"served","seq":"\([^"]*\)","pid":\([0-9]*\),.*/\1 \2/p' "$1" | sort
}

# cluster_round <name> <cluster output> <clients> <count> <cluster_client.js transport...>:
# <clients> node-ipc clients at once, <count> events each, tagged <name>. Every event must
# be logged exactly once, by the worker whose pid answered it. Sets $round_pids to the
# distinct pids that served.
cluster_round() {
    local name=$1 out=$2 clients=$3 count=$4 want
    shift 4
    round_pids=
    want=$((clients * count))
    run 30 "$name" "$node" "$cclient" "$@" --clients "$clients" --count "$count" --tag "$name"
    expect_rc 0 "$name" "$name: $clients clients, $count events each" || return 1
    wait_lines "$out" "$want" "^worker [0-9]+: currentDate .*\"seq\":\"$name-" 2
    logged_pairs "$out" "$name" >"$tmp/$name.logged"
    served_pairs "$tmp/$name.out" >"$tmp/$name.served"
    if [ "$(wc -l <"$tmp/$name.served")" != "$want" ]; then
        fail "$name: $(wc -l <"$tmp/$name.served") events answered, want $want"
        return 1
    fi
    if ! cmp -s "$tmp/$name.logged" "$tmp/$name.served"; then
        fail "$name: the workers' lines differ from the answers (lost, repeated or misattributed)"
        diff "$tmp/$name.logged" "$tmp/$name.served" | head -20
        return 1
    fi
    round_pids=$(cut -d' ' -f2 "$tmp/$name.served" | sort -u | tr '\n' ' ')
    ok "$name: $want events, each logged once, served by pids $round_pids"
}

# replaced <cluster output> <pid>: cluster logged <pid>'s death by SIGKILL and the pid of its
# replacement, which then listens. Sets $new_pid.
replaced() {
    local out=$1 pid=$2 n
    new_pid=
    if ! wait_lines "$out" 1 "^cluster: worker [0-9]+ \(pid $pid\) was killed by signal 9"; then
        fail "cluster did not see worker $pid die"
        show "cluster stdout" "$out"
        return 1
    fi
    n=$(sed -n "s/^cluster: worker \([0-9]*\) (pid $pid) was killed by signal 9.*/\1/p" "$out")
    # The first pid logged for that worker after its death.
    for _ in $(seq 100); do
        new_pid=$(awk -v dead="(pid $pid) was killed" -v slot="cluster: worker $n is pid " '
            index($0, dead) { seen = 1; next }
            seen && index($0, slot) == 1 { print substr($0, length(slot) + 1); exit }' "$out")
        [ -n "$new_pid" ] && break
        sleep 0.05
    done
    if [ -z "$new_pid" ] || ! wait_lines "$out" 1 "^worker $new_pid: listening on "; then
        fail "worker $n (pid $pid) was not replaced by one that listens"
        show "cluster stdout" "$out"
        return 1
    fi
    ok "worker $n: pid $pid killed, pid $new_pid in its place"
}

# in_list <word> <list>: <word> is one of the words of <list>.
in_list() {
    case " $2 " in *" $1 "*) return 0 ;; esac
    return 1
}

# cluster_stopped <name> <pid>: SIGTERM ends it with status 0, after every worker, which
# are all gone then.
cluster_stopped() {
    local name=$1 pid=$2 p
    stop_bg "$name" "$pid" 0
    expect_in "$tmp/$name.out" "cluster: stopped" "$name: SIGTERM"
    for p in $(cluster_workers "$tmp/$name.out"); do
        if is_cluster "$p"; then
            fail "$name: worker $p still runs after the cluster stopped"
            kill -KILL "$p"
        fi
    done
}

cluster_options() {
    run 10 c-help "$cluster" --help
    expect_rc 0 c-help "cluster --help" &&
        expect_in "$tmp/c-help.out" "usage: cluster" "cluster --help" &&
        expect_in "$tmp/c-help.out" "--workers N" "cluster --help: the options"
    for v in 0 257 x ""; do
        run 10 c-bad "$cluster" --workers "$v"
        expect_bad c-bad "cluster --workers '$v'" \
            "cluster: --workers: \"$v\" is not a number of workers (1-256)"
    done
    run 10 c-bad "$cluster" --workers
    expect_bad c-bad "cluster --workers without N" "cluster: --workers: N is missing"
    for v in --udp4 --udp6 --tls; do
        run 10 c-bad "$cluster" "$v"
        expect_bad c-bad "cluster $v" "cluster: serves a Unix socket (--path) or TCP (--tcp) only"
    done
    run 10 c-bad "$cluster" --timeout 3
    expect_bad c-bad "cluster --timeout (hello's)" "cluster: unknown option \"--timeout\""
}

case_cluster() {
    local sock=$tmp/ipc.sock out=$tmp/cluster.out cpid firsts victim p others served n
    cluster_options

    if ! start_bg cluster "cluster: worker 3 is pid" "$cluster" --workers 3 --path "$sock" ||
        ! wait_lines "$out" 3 "^worker [0-9]+: listening on $sock\$"; then
        fail "cluster --workers 3 did not start"
        show "cluster stdout" "$out"
        show "cluster stderr" "$tmp/cluster.err"
        return
    fi
    cpid=$bg_pid
    firsts=$(cluster_workers "$out" | tr '\n' ' ')
    [ -S "$sock" ] || fail "cluster: no socket at $sock"

    # A second cluster on the same socket: refused while the first one lives.
    run 10 c-twice "$cluster" --workers 1 --path "$sock"
    expect_rc 1 c-twice "a second cluster on a live socket" &&
        expect_in "$tmp/c-twice.err" "cluster: cannot listen on $sock: address already in use" \
            "a second cluster on a live socket"

    cluster_round r1 "$out" 10 5 --path "$sock" || return
    served=$round_pids
    # The worker that served the first event goes: the next ones are someone else's.
    victim=$(sed -n 's/^r1-0-0 //p' "$tmp/r1.served")
    kill -KILL "$victim"
    replaced "$out" "$victim" || return
    cluster_round r2 "$out" 10 5 --path "$sock" || return
    if in_list "$victim" "$round_pids"; then
        fail "r2: served by $victim, which was killed"
    fi
    served="$served $round_pids"
    n=$(echo "$served" | tr ' ' '\n' | grep -v '^$' | sort -u | wc -l)
    if [ "$n" -gt 1 ]; then
        ok "cluster: $n workers served"
    else
        fail "cluster: one worker served every event"
    fi

    # The other first workers go too: only replacements are left, and they serve.
    others=
    for p in $firsts; do
        [ "$p" = "$victim" ] && continue
        kill -KILL "$p"
        replaced "$out" "$p" || return
        others="$others $new_pid"
    done
    cluster_round r3 "$out" 10 5 --path "$sock" || return
    for p in $round_pids; do
        if in_list "$p" "$firsts"; then
            fail "r3: served by $p, one of the first workers, all killed"
        elif ! in_list "$p" "$(cluster_workers "$out" | tr '\n' ' ')"; then
            fail "r3: served by $p, which cluster never logged as a worker"
        fi
    done

    cluster_stopped cluster "$cpid"
    [ ! -e "$sock" ] || fail "cluster left $sock behind"
    expect_empty "$tmp/cluster.err" "cluster"

    # --tcp: every worker binds the port with reuse_port.
    if start_cluster_tcp c-tcp "$tmp/c-tcp.out"; then
        cpid=$bg_pid
        cluster_round t1 "$tmp/c-tcp.out" 6 4 --tcp "$port"
        victim=$(sed -n 's/^t1-0-0 //p' "$tmp/t1.served")
        if [ -n "$victim" ]; then
            kill -KILL "$victim"
            replaced "$tmp/c-tcp.out" "$victim" &&
                cluster_round t2 "$tmp/c-tcp.out" 6 4 --tcp "$port"
        fi
        cluster_stopped c-tcp "$cpid"
    fi

    # A port that someone holds without reuse_port: the workers cannot listen, and the
    # cluster stops rather than start them again and again.
    if start_world w-hold --tcp tcp; then
        local hold=$bg_pid
        run 10 c-held "$cluster" --workers 2 --tcp "$port"
        expect_rc 1 c-held "cluster --tcp on a port held without reuse_port" &&
            expect_in "$tmp/c-held.out" "cannot serve; stopping" "cluster --tcp, port held" &&
            expect_in "$tmp/c-held.err" "cannot serve: address already in use" \
                "cluster --tcp, port held"
        stop_bg w-hold "$hold" 0
    fi
}

# start_cluster_tcp <name> <output>: cluster --workers 2 --tcp on a free port, both workers
# listening. Sets $port and $bg_pid.
start_cluster_tcp() {
    local name=$1 out=$2
    for _ in 1 2 3; do
        port=$(free_port tcp) || return 1
        if start_bg "$name" "cluster: worker 2 is pid" "$cluster" --workers 2 --tcp "$port" &&
            wait_lines "$out" 2 "^worker [0-9]+: listening on 127.0.0.1 port $port\$"; then
            return 0
        fi
        kill -TERM "$bg_pid" 2>/dev/null
        wait "$bg_pid" 2>/dev/null
        forget "$bg_pid"
    done
    fail "cluster --tcp did not start"
    show "cluster stdout" "$out"
    return 1
}

# readme_client <name> <cluster output> <cluster_client.js arguments...>: node-ipc's README
# client, which leaves right after each emit; each message it emitted is logged once.
readme_client() {
    local name=$1 out=$2 m n want line
    shift 2
    run 20 "$name" "$node" "$cclient" "$@" --interval 100 --count 4
    expect_rc 0 "$name" "$name: node-ipc's README cluster client" || return
    want=$(grep -c '"ev":"emitted"' "$tmp/$name.out")
    [ "$want" = 4 ] || fail "$name: $want events emitted, want 4"
    # shellcheck disable=SC2013 # an ISO date has no space
    for m in $(sed -n 's/^{"ev":"emitted","message":"\([^"]*\)"}$/\1/p' "$tmp/$name.out"); do
        line="currentDate {\"message\":\"$m\"}"
        for _ in $(seq 40); do
            grep -qF -- "$line" "$out" && break
            sleep 0.05
        done
        n=$(grep -cF -- "$line" "$out")
        [ "$n" = 1 ] || fail "$name: $m logged $n times, want 1"
    done
    ok "$name: $want events of node-ipc's client, each logged once"
}

case_cluster_node() {
    local sock=$tmp/ipc.sock v
    if start_bg cn-unix "cluster: worker 2 is pid" "$cluster" --workers 2 --path "$sock" &&
        wait_lines "$tmp/cn-unix.out" 2 "^worker [0-9]+: listening on "; then
        for v in 10 9; do
            readme_client "readme-unix-v$v" "$tmp/cn-unix.out" --path "$sock" --ver "$v"
        done
        cluster_stopped cn-unix "$bg_pid"
    else
        fail "cluster --path did not start"
        show "cluster stdout" "$tmp/cn-unix.out"
    fi
    if start_cluster_tcp cn-tcp "$tmp/cn-tcp.out"; then
        for v in 10 9; do
            readme_client "readme-tcp-v$v" "$tmp/cn-tcp.out" --tcp "$port" --ver "$v"
        done
        cluster_stopped cn-tcp "$bg_pid"
    fi
}

for exe in "$hello" "$world" "$cluster"; do
    [ -x "$exe" ] || { echo "FAIL: $exe not built"; exit 1; }
done
case "$case_name" in
options) case_options ;;
timeout) case_timeout ;;
exchange) case_exchange ;;
tls) case_tls ;;
node) case_node ;;
cluster) case_cluster ;;
cluster_node) case_cluster_node ;;
*) unknown_case run.sh ;;
esac
finish
