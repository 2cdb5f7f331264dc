#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Usage: test/examples/scenarios.sh CASE BUILDDIR [NODE]
# Runs node-ipc's example scenarios that examples/{raw,sync,broadcast,udp_broadcast}.c port,
# each C side against its Node counterpart in this directory (node-ipc 10), both ways:
#   raw        raw mode: C world with a Node hello and Node world with a C hello, on a Unix
#              socket and over TCP: the client reads exactly "hellogoodbye" (in one read or
#              more), world logs "hello"; C against C too
#   sync       a sync client's 10 messages, each sent only once the one before was answered
#              (world never has two waiting), the answers "hello0 world!".."hello9 world!" in
#              order: C hello against Node world and Node hello against C world
#   broadcast  Multi-Client-Broadcast: hello and goodbye each get "<id> world!", then world,
#              having heard from both, broadcasts kill.connection and both disconnect and
#              exit 0; world logs both leaving. C world with Node clients, Node world with C
#              clients, on a Unix socket and over TCP
#   udp        UDP Multi-Client-Broadcast: hello and goodbye, each its own UDP socket, get
#              "<Message> world!"; nipc's world then broadcasts to every sender heard from
#              (both get "Everybody Loves The World!..."), node-ipc's world broadcasts to
#              no one over UDP (its known limitation), so there the clients get only their
#              answers
# Loopback and a temporary directory only; every wait is bounded. Exits 1 if a check failed.
set -uo pipefail

case_name=${1:?usage: scenarios.sh CASE BUILDDIR [NODE]}
builddir=$(cd "${2:?usage: scenarios.sh CASE BUILDDIR [NODE]}" && pwd)
node=${3:-node}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

# c <example>: the C program; js <example>: its Node counterpart.
c() { echo "$builddir/examples/$1"; }
js() { echo "$node $here/$1.js"; }

# server <name> <transport: unix|tcp|udp4> <command...>: starts a world, on a socket in $tmp or a
# free port. Sets $where to the transport option and its value for the clients.
server() {
    local name=$1 t=$2
    shift 2
    if [ "$t" = unix ]; then
        where="--path $tmp/$name.sock"
        # shellcheck disable=SC2086 # $where is two words
        start_bg "$name" "world is listening" "$@" $where && return 0
    elif start_net "$name" "--$t" "$t" "$@"; then
        where="--$t $port"
        return 0
    fi
    fail "$name: world did not start"
    show "$name stdout" "$tmp/$name.out"
    show "$name stderr" "$tmp/$name.err"
    return 1
}

# ---- raw -------------------------------------------------------------------------------------

raw_pair() { # <name> <transport> <world command> <hello command>
    local name=$1 t=$2 world=$3 hello=$4 got
    # shellcheck disable=SC2086 # the commands are words
    server "$name-w" "$t" $world --role world || return
    # shellcheck disable=SC2086
    run 10 "$name-h" $hello --role hello $where
    expect_rc 0 "$name-h" "$name: hello" &&
        got=$(sed -n 's/^hello <- world: //p' "$tmp/$name-h.out" | tr -d '\n')
    if [ "${got-}" = hellogoodbye ]; then
        ok "$name: hello read \"hellogoodbye\""
    else
        fail "$name: hello read \"${got-}\", want \"hellogoodbye\""
    fi
    wait_lines "$tmp/$name-w.out" 1 "^world <- hello: hello$" ||
        fail "$name: world did not log hello's \"hello\""
    stop_bg "$name-w" "$bg_pid" 0
}

case_raw() {
    local t
    for t in unix tcp; do
        raw_pair "raw-c-node-$t" "$t" "$(c raw)" "$(js raw)"
        raw_pair "raw-node-c-$t" "$t" "$(js raw)" "$(c raw)"
        raw_pair "raw-c-c-$t" "$t" "$(c raw)" "$(c raw)"
    done
}

# ---- sync ------------------------------------------------------------------------------------

sync_pair() { # <name> <transport> <world command> <hello command>
    local name=$1 t=$2 world=$3 hello=$4 want
    # shellcheck disable=SC2086 # the commands are words
    server "$name-w" "$t" $world --role world --delay 100 || return
    # shellcheck disable=SC2086
    run 20 "$name-h" $hello --role hello $where
    want=$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "hello$i world!"; done)
    if expect_rc 0 "$name-h" "$name: hello" &&
        [ "$(sed -n 's/^hello <- world: //p' "$tmp/$name-h.out")" = "$want" ]; then
        ok "$name: hello0 world! to hello9 world!, in order"
    else
        fail "$name: the answers are not hello0 world! to hello9 world!"
        show "hello stdout" "$tmp/$name-h.out"
    fi
    if [ "$(grep -c ', 1 waiting for an answer$' "$tmp/$name-w.out")" = 10 ]; then
        ok "$name: world got each message once the one before was answered"
    else
        fail "$name: world did not get 10 messages one at a time"
        show "world stdout" "$tmp/$name-w.out"
    fi
    stop_bg "$name-w" "$bg_pid" 0
}

case_sync() {
    sync_pair sync-node-c-unix unix "$(js sync)" "$(c sync)"
    sync_pair sync-c-node-tcp tcp "$(c sync)" "$(js sync)"
    sync_pair sync-c-c-tcp tcp "$(c sync)" "$(c sync)"
    # A client without sync mode sends its ten at once: the check above can fail.
    server sync-nosync unix "$(c sync)" --role world --delay 100 || return
    # shellcheck disable=SC2086
    run 10 sync-nosync-h "$node" -e '
        const { load } = require(process.argv[1]);
        const ipc = load("10");
        ipc.config.silent = true;
        ipc.connectTo("world", process.argv[2], () => {
            ipc.of.world.on("connect", () => {
                for (let i = 0; i < 10; i++) ipc.of.world.emit("app.message", { id: "hello", message: `hello${i}` });
            });
            let n = 0;
            ipc.of.world.on("app.message", () => { if (++n === 10) ipc.disconnect("world"); });
        });' "$here/../interop/node/lib.js" "$tmp/sync-nosync.sock"
    if expect_rc 0 sync-nosync-h "sync: a client without sync mode" &&
        wait_lines "$tmp/sync-nosync.out" 1 ", 10 waiting for an answer$"; then
        ok "sync: world saw a client without sync mode send its ten at once"
    else
        fail "sync: world did not see a client without sync mode send its ten at once"
    fi
    stop_bg sync-nosync "$bg_pid" 0
}

# ---- broadcast -------------------------------------------------------------------------------

broadcast_trio() { # <name> <transport> <world command> <client command>
    local name=$1 t=$2 world=$3 client=$4 wpid hpid id
    # shellcheck disable=SC2086 # the commands are words
    server "$name-w" "$t" $world --role world || return
    wpid=$bg_pid
    # hello first, answered before goodbye starts, so world hears them in that order.
    # shellcheck disable=SC2086
    if ! start_bg "$name-hello" "hello <- world: hello world!" timeout 10 $client --role hello $where; then
        fail "$name: hello got no answer"
        show "hello stdout" "$tmp/$name-hello.out"
        stop_bg "$name-w" "$wpid" 0
        return
    fi
    hpid=$bg_pid
    # shellcheck disable=SC2086
    run 10 "$name-goodbye" $client --role goodbye $where
    expect_rc 0 "$name-goodbye" "$name: goodbye"
    wait "$hpid"
    rc=$?
    forget "$hpid"
    expect_rc 0 "$name-hello" "$name: hello"
    for id in hello goodbye; do
        expect_in "$tmp/$name-$id.out" "$id <- world: $id world!" "$name: $id's answer" &&
            expect_in "$tmp/$name-$id.out" "$id: world requested kill.connection" \
                "$name: $id told to go" &&
            ok "$name: $id answered, then told to go by the broadcast"
        wait_lines "$tmp/$name-w.out" 1 "^world: $id has disconnected$" ||
            fail "$name: world did not log $id leaving"
    done
    expect_in "$tmp/$name-w.out" "world: heard from hello and goodbye" "$name: world"
    stop_bg "$name-w" "$wpid" 0
}

case_broadcast() {
    local t
    for t in unix tcp; do
        broadcast_trio "bc-c-node-$t" "$t" "$(c broadcast)" "$(js broadcast)"
        broadcast_trio "bc-node-c-$t" "$t" "$(js broadcast)" "$(c broadcast)"
    done
    broadcast_trio bc-c-c-unix unix "$(c broadcast)" "$(c broadcast)"
}

# ---- udp -------------------------------------------------------------------------------------

# udp_trio <name> <world command> <client command> <broadcast: yes|no>
udp_trio() {
    local name=$1 world=$2 client=$3 everybody=$4 hpid id msg local_opt
    # shellcheck disable=SC2086 # the commands are words
    server "$name-w" udp4 $world --role world || return
    local wpid=$bg_pid
    for id in hello goodbye; do
        # node-ipc takes port 0 for its default, 8000: a Node client is given a free port.
        local_opt="--local-port $(free_port udp4)"
        msg=Hello
        [ "$id" = goodbye ] && msg=Goodbye
        # shellcheck disable=SC2086
        if ! start_bg "$name-$id" "$id <- world: $msg world!" \
            timeout 10 $client --role $id $where $local_opt --timeout 2; then
            fail "$name: $id got no answer"
            show "$id stdout" "$tmp/$name-$id.out"
            show "$id stderr" "$tmp/$name-$id.err"
            continue
        fi
        eval "pid_$id=$bg_pid"
    done
    for id in hello goodbye; do
        hpid=$(eval "echo \${pid_$id:-}")
        [ -n "$hpid" ] || continue
        wait "$hpid"
        rc=$?
        forget "$hpid"
        expect_rc 0 "$name-$id" "$name: $id" || continue
        if [ "$everybody" = yes ]; then
            expect_in "$tmp/$name-$id.out" "$id <- world: Everybody Loves The World!" \
                "$name: $id, world's broadcast" && ok "$name: $id answered, then broadcast to"
        elif grep -q "Everybody" "$tmp/$name-$id.out"; then
            fail "$name: $id got a broadcast from node-ipc's world, which sends none over UDP"
        else
            ok "$name: $id answered (node-ipc's UDP broadcast reaches no one)"
        fi
    done
    unset pid_hello pid_goodbye
    stop_bg "$name-w" "$wpid" 0
}

case_udp() {
    udp_trio udp-c-node "$(c udp_broadcast)" "$(js udp_broadcast)" yes
    udp_trio udp-node-c "$(js udp_broadcast)" "$(c udp_broadcast)" no
    udp_trio udp-c-c "$(c udp_broadcast)" "$(c udp_broadcast)" yes
}

for exe in raw sync broadcast udp_broadcast; do
    [ -x "$(c $exe)" ] || { echo "FAIL: $(c $exe) not built"; exit 1; }
done
case "$case_name" in
raw) case_raw ;;
sync) case_sync ;;
broadcast) case_broadcast ;;
udp) case_udp ;;
*) unknown_case scenarios.sh ;;
esac
finish
