// SPDX-License-Identifier: MIT
//
// Node-to-Node check of peer.js, needing no C code: every role against a Node server-echo,
// for each server/client pairing of node-ipc 10 and 9.
//
//   node --test selftest.js          (or: npm test)
//
// The flood timings are reported as test diagnostics ("# flood v10->v9: ...").
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PEER = path.join(__dirname, 'peer.js');
const VERS = ['10', '9'];
const FLOOD = 100000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-peer-selftest-'));
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

let sockSeq = 0;
const sockPath = () => path.join(dir, `s${++sockSeq}.sock`);

// Starts peer.js; collects its JSON lines. wait(pred) resolves with the first line matching
// pred (also one already seen); done resolves with { code, lines } when the process exits.
function peer(args) {
    const proc = spawn(process.execPath, [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    const waiters = [];
    let buf = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
            const text = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const line = JSON.parse(text); // anything but JSON on stdout is a bug
            lines.push(line);
            for (const w of waiters.slice()) {
                if (w.pred(line)) {
                    waiters.splice(waiters.indexOf(w), 1);
                    w.resolve(line);
                }
            }
        }
    });
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => { stderr += chunk; });
    const done = new Promise((resolve) => {
        proc.on('close', (code) => {
            for (const w of waiters) w.reject(new Error(`exited (${code}) before the line came; got ${JSON.stringify(lines)} ${stderr}`));
            resolve({ code, lines, stderr });
        });
    });
    const wait = (pred) => {
        const seen = lines.find(pred);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve, reject) => waiters.push({ pred, resolve, reject }));
    };
    return { proc, lines, wait, done };
}

const ev = (name) => (line) => line.ev === name;
const evs = (lines) => lines.map((l) => l.ev);

async function server(ver, extra = []) {
    const p = sockPath();
    const s = peer(['--ver', ver, '--role', 'server-echo', '--path', p, '--timeout', '30000', ...extra]);
    await s.wait(ev('listening'));
    return { s, p };
}

async function run(args) {
    return peer(args).done;
}

test('info names the installed fork versions', async () => {
    for (const [ver, version] of [['10', '10.1.11'], ['9', '9.2.9']]) {
        const { code, lines } = await run(['--ver', ver, '--role', 'info']);
        assert.equal(code, 0);
        assert.deepEqual(lines, [{ ev: 'info', ver, name: '@achrinza/node-ipc', version }]);
    }
});

for (const sv of VERS) {
    for (const cv of VERS) {
        const pair = `v${cv} client -> v${sv} server`;

        test(`echo, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const c = await run(['--ver', cv, '--role', 'client-echo', '--path', p]);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [
                { ev: 'connect' },
                { ev: 'message', data: { got: { id: 'node', message: 'hi' } } },
                { ev: 'message', data: 'hello world!' },
                { ev: 'done' },
            ]);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines, [
                { ev: 'listening' },
                { ev: 'connect' },
                { ev: 'message', data: { id: 'node', message: 'hi' } },
                { ev: 'message', data: 'hello' },
                { ev: 'socket.disconnected', id: 'node' },
                { ev: 'end', clients: 1 },
            ]);
        });

        test(`flood of ${FLOOD}, ${pair}`, async (t) => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const t0 = process.hrtime.bigint();
            const c = await run(['--ver', cv, '--role', 'client-flood', '--path', p, '--timing']);
            const wall = Number(process.hrtime.bigint() - t0) / 1e6;
            assert.equal(c.code, 0, JSON.stringify(c.lines));
            assert.deepEqual(evs(c.lines), ['connect', 'sent', 'count.result']);
            const result = c.lines[2];
            assert.equal(result.received, FLOOD);
            assert.equal(result.inOrder, true);
            t.diagnostic(`flood v${cv}->v${sv}: sent after ${c.lines[1].ms} ms, ` +
                `count.result after ${result.ms} ms (from connect); process wall ${wall.toFixed(0)} ms`);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines.find(ev('count.result')), { ev: 'count.result', received: FLOOD, inOrder: true });
        });

        test(`hello and news, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1', '--news', '3']);
            const c = await run(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'rx', '--count', '3']);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [
                { ev: 'connect' },
                { ev: 'news', data: { i: 0, to: 'rx' } },
                { ev: 'news', data: { i: 1, to: 'rx' } },
                { ev: 'news', data: { i: 2, to: 'rx' } },
                { ev: 'done' },
            ]);
            const r = await s.done;
            assert.deepEqual(r.lines.find(ev('hello')), { ev: 'hello', data: { id: 'rx' } });
        });

        test(`id learned then bye, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--clients', '1']);
            const c = await run(['--ver', cv, '--role', 'client-id-bye', '--path', p, '--id', 'byebye']);
            assert.equal(c.code, 0);
            assert.deepEqual(c.lines, [{ ev: 'connect' }, { ev: 'done' }]);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(r.lines.find(ev('socket.disconnected')), { ev: 'socket.disconnected', id: 'byebye' });
        });

        test(`maxConnections 1 closes the second client, ${pair}`, async () => {
            const { s, p } = await server(sv, ['--max-connections', '1', '--clients', '1', '--news', '1']);
            // The first client gets its one news item and then waits for a second one.
            const a = peer(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'a', '--count', '2']);
            await a.wait(ev('news'));
            const b = await run(['--ver', cv, '--role', 'client-recv', '--path', p, '--id', 'b',
                '--max-retries', '0']);
            assert.equal(b.code, 0);
            // The kernel accepts, so the client sees connect; its hello may meet EPIPE.
            assert.deepEqual(evs(b.lines).filter((e) => e !== 'error'), ['connect', 'disconnect', 'destroy']);
            a.proc.kill('SIGTERM');
            const ra = await a.done;
            assert.deepEqual(evs(ra.lines), ['connect', 'news', 'signal']);
            const r = await s.done;
            assert.equal(r.code, 0);
            assert.deepEqual(evs(r.lines), ['listening', 'connect', 'hello', 'socket.disconnected', 'end']);
        });
    }
}

test('broadcast news reaches every client', async () => {
    for (const ver of VERS) {
        const { s, p } = await server(ver, ['--clients', '2', '--news', '2', '--broadcast']);
        // a: its own 2 items, then 2 more when b says hello.
        const a = peer(['--ver', ver, '--role', 'client-recv', '--path', p, '--id', 'a', '--count', '4']);
        await a.wait(ev('news'));
        const b = await run(['--ver', ver, '--role', 'client-recv', '--path', p, '--id', 'b', '--count', '2']);
        const ra = await a.done;
        assert.equal(b.code, 0);
        assert.equal(ra.code, 0);
        assert.deepEqual(b.lines.filter(ev('news')).map((l) => l.data), [{ i: 0, to: 'b' }, { i: 1, to: 'b' }]);
        assert.deepEqual(ra.lines.filter(ev('news')).map((l) => l.data),
            [{ i: 0, to: 'a' }, { i: 1, to: 'a' }, { i: 0, to: 'b' }, { i: 1, to: 'b' }]);
        assert.equal((await s.done).code, 0);
    }
});

test('END stops server-echo; a client without a server fails fast', async () => {
    for (const ver of VERS) {
        const { s, p } = await server(ver);
        const c = await run(['--ver', ver, '--role', 'client-echo', '--path', p, '--end']);
        assert.equal(c.code, 0);
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines.at(-1), { ev: 'end' });
        assert.equal(fs.existsSync(p), false, 'socket file removed');

        const t0 = Date.now();
        const miss = await run(['--ver', ver, '--role', 'client-echo', '--path', p]);
        assert.equal(miss.code, 1);
        assert.deepEqual(miss.lines.map((l) => l.ev), ['error', 'disconnect', 'destroy']);
        assert.equal(miss.lines[0].code, 'ENOENT');
        assert.ok(Date.now() - t0 < 5000);
    }
});

test('--retry waits for a late server', async () => {
    for (const ver of VERS) {
        const p = sockPath();
        const c = peer(['--ver', ver, '--role', 'client-echo', '--path', p, '--retry', '100', '--end']);
        await c.wait(ev('error'));
        const s = peer(['--ver', ver, '--role', 'server-echo', '--path', p]);
        const rc = await c.done;
        assert.equal(rc.code, 0);
        assert.deepEqual(evs(rc.lines).filter((e) => e !== 'error' && e !== 'disconnect'),
            ['connect', 'message', 'message', 'done']);
        assert.equal((await s.done).code, 0);
    }
});

test('hard timeout and signals', async () => {
    for (const ver of VERS) {
        const t = await run(['--ver', ver, '--role', 'server-echo', '--path', sockPath(), '--timeout', '300']);
        assert.equal(t.code, 2);
        assert.deepEqual(t.lines, [{ ev: 'listening' }, { ev: 'timeout' }]);

        const { s } = await server(ver);
        s.proc.kill('SIGTERM');
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines, [{ ev: 'listening' }, { ev: 'signal', signal: 'SIGTERM' }]);
    }
});

// ---- TCP (--tcp HOST:PORT) and UDP (--udp4 / --udp6 HOST:PORT), port 0 throughout ------

const net = require('node:net');

const TCP_HOSTS = ['127.0.0.1', '::1'];
const hostPort = (host, port) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

async function tcpServer(ver, host, extra = []) {
    const s = peer(['--ver', ver, '--role', 'server-echo', '--tcp', hostPort(host, 0), '--timeout', '30000', ...extra]);
    const { port } = await s.wait(ev('listening'));
    assert.ok(Number.isInteger(port) && port > 0, `real port in the listening line, got ${port}`);
    return { s, port, ep: hostPort(host, port) };
}

// A loopback TCP port that nothing listens on (just released by the kernel).
async function freePort() {
    const srv = net.createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const { port } = srv.address();
    await new Promise((resolve) => srv.close(resolve));
    return port;
}

for (const host of TCP_HOSTS) {
    for (const sv of VERS) {
        for (const cv of VERS) {
            const pair = `v${cv} client -> v${sv} server, TCP ${host}`;

            test(`echo and news, ${pair}`, async () => {
                const { s, ep } = await tcpServer(sv, host, ['--clients', '2', '--news', '2']);
                const c = await run(['--ver', cv, '--role', 'client-echo', '--tcp', ep]);
                assert.equal(c.code, 0, JSON.stringify(c.lines));
                assert.deepEqual(c.lines, [
                    { ev: 'connect' },
                    { ev: 'message', data: { got: { id: 'node', message: 'hi' } } },
                    { ev: 'message', data: 'hello world!' },
                    { ev: 'done' },
                ]);
                const n = await run(['--ver', cv, '--role', 'client-recv', '--tcp', ep, '--id', 'rx', '--count', '2']);
                assert.equal(n.code, 0, JSON.stringify(n.lines));
                assert.deepEqual(n.lines, [
                    { ev: 'connect' },
                    { ev: 'news', data: { i: 0, to: 'rx' } },
                    { ev: 'news', data: { i: 1, to: 'rx' } },
                    { ev: 'done' },
                ]);
                const r = await s.done;
                assert.equal(r.code, 0);
                assert.deepEqual(r.lines.slice(1), [
                    { ev: 'connect' },
                    { ev: 'message', data: { id: 'node', message: 'hi' } },
                    { ev: 'message', data: 'hello' },
                    { ev: 'socket.disconnected', id: 'node' },
                    { ev: 'connect' },
                    { ev: 'hello', data: { id: 'rx' } },
                    { ev: 'socket.disconnected', id: 'rx' },
                    { ev: 'end', clients: 2 },
                ]);
            });

            test(`tcp-test-client against a tcpServer, ${pair}`, async () => {
                const { s, ep } = await tcpServer(sv, host,
                    ['--id', 'tcpServer', '--reply', 'I am TCP server!', '--clients', '1']);
                const c = await run(['--ver', cv, '--role', 'tcp-test-client', '--tcp', ep]);
                assert.equal(c.code, 0, JSON.stringify(c.lines));
                assert.deepEqual(c.lines, [
                    { ev: 'connect' },
                    { ev: 'message', data: { id: 'tcpServer', message: 'I am TCP server!' } },
                ]);
                const r = await s.done;
                assert.equal(r.code, 0);
                assert.deepEqual(r.lines.slice(1), [
                    { ev: 'connect' },
                    { ev: 'message', data: 'hello' },
                    { ev: 'socket.disconnected', id: false },
                    { ev: 'end', clients: 1 },
                ]);
            });
        }
    }
}

for (const sv of VERS) {
    for (const cv of VERS) {
        test(`flood of ${FLOOD} over TCP, v${cv} client -> v${sv} server`, async (t) => {
            const { s, ep } = await tcpServer(sv, '127.0.0.1', ['--clients', '1']);
            const c = await run(['--ver', cv, '--role', 'client-flood', '--tcp', ep, '--timing']);
            assert.equal(c.code, 0, JSON.stringify(c.lines));
            assert.deepEqual(evs(c.lines), ['connect', 'sent', 'count.result']);
            assert.equal(c.lines[2].received, FLOOD);
            assert.equal(c.lines[2].inOrder, true);
            t.diagnostic(`flood TCP v${cv}->v${sv}: sent after ${c.lines[1].ms} ms, ` +
                `count.result after ${c.lines[2].ms} ms (from connect)`);
            assert.equal((await s.done).code, 0);
        });
    }
}

test('TCP: mismatch, END, refused, retry count, late server, maxConnections', async () => {
    for (const ver of VERS) {
        // tcp-test-client against a plain echo server: 'hello world!' is not tcpServer's reply.
        const { s, ep } = await tcpServer(ver, '127.0.0.1');
        const m = await run(['--ver', ver, '--role', 'tcp-test-client', '--tcp', ep, '--end']);
        assert.equal(m.code, 1);
        assert.deepEqual(m.lines, [{ ev: 'connect' }, { ev: 'message', data: 'hello world!' }, { ev: 'mismatch' }]);
        const r = await s.done; // stopped by the END
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines.at(-1), { ev: 'end' });

        // Nothing listening: fails fast without retry options.
        const port = await freePort();
        const miss = await run(['--ver', ver, '--role', 'client-echo', '--tcp', `127.0.0.1:${port}`]);
        assert.equal(miss.code, 1);
        assert.deepEqual(evs(miss.lines), ['error', 'disconnect', 'destroy']);
        assert.equal(miss.lines[0].code, 'ECONNREFUSED');

        // node-ipc's TCP retry test: retry 60, maxRetries 3 => 4 errors, then destroy.
        const rt = await run(['--ver', ver, '--role', 'client-echo', '--tcp', `127.0.0.1:${port}`,
            '--retry', '60', '--max-retries', '3']);
        assert.equal(rt.code, 1);
        assert.deepEqual(evs(rt.lines), ['error', 'disconnect', 'error', 'disconnect', 'error', 'disconnect',
            'error', 'disconnect', 'destroy']);

        // --retry against a server that comes later on that port.
        const late = peer(['--ver', ver, '--role', 'client-echo', '--tcp', `127.0.0.1:${port}`, '--retry', '100', '--end']);
        await late.wait(ev('error'));
        const ls = peer(['--ver', ver, '--role', 'server-echo', '--tcp', `127.0.0.1:${port}`]);
        const rl = await late.done;
        assert.equal(rl.code, 0, JSON.stringify(rl.lines));
        assert.deepEqual(evs(rl.lines).filter((e) => e !== 'error' && e !== 'disconnect'),
            ['connect', 'message', 'message', 'done']);
        const rls = await ls.done;
        assert.equal(rls.code, 0);
        assert.deepEqual(rls.lines[0], { ev: 'listening', port });

        // maxConnections over TCP.
        const mc = await tcpServer(ver, '::1', ['--max-connections', '1', '--clients', '1', '--news', '1']);
        const a = peer(['--ver', ver, '--role', 'client-recv', '--tcp', mc.ep, '--id', 'a', '--count', '2']);
        await a.wait(ev('news'));
        const b = await run(['--ver', ver, '--role', 'client-recv', '--tcp', mc.ep, '--id', 'b']);
        assert.equal(b.code, 0);
        assert.deepEqual(evs(b.lines).filter((e) => e !== 'error'), ['connect', 'disconnect', 'destroy']);
        a.proc.kill('SIGTERM');
        await a.done;
        const rmc = await mc.s.done;
        assert.equal(rmc.code, 0);
        assert.deepEqual(evs(rmc.lines), ['listening', 'connect', 'hello', 'socket.disconnected', 'end']);
    }
});

// ---- --transport NAME --at ENDPOINT, as the C tests start their peers ---------------------

const TRANSPORTS = [
    { name: 'unix', at: () => sockPath() },
    { name: 'tcp4', at: () => '127.0.0.1:0' },
    { name: 'tcp6', at: () => '[::1]:0' },
];

for (const t of TRANSPORTS) {
    test(`echo over --transport ${t.name}, v10 client -> v9 server`, async () => {
        let at = t.at();
        const s = peer(['--ver', '9', '--role', 'server-echo', '--transport', t.name, '--at', at,
            '--clients', '1', '--timeout', '30000']);
        const listening = await s.wait(ev('listening'));
        if (t.name === 'unix') {
            assert.deepEqual(listening, { ev: 'listening' });
        } else {
            assert.ok(Number.isInteger(listening.port) && listening.port > 0, JSON.stringify(listening));
            at = at.replace(/:0$/, `:${listening.port}`);
        }
        const c = await run(['--ver', '10', '--role', 'client-echo', '--transport', t.name, '--at', at]);
        assert.equal(c.code, 0, JSON.stringify(c.lines));
        assert.deepEqual(evs(c.lines), ['connect', 'message', 'message', 'done']);
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines.at(-1), { ev: 'end', clients: 1 });
        if (t.name === 'unix') assert.ok(!fs.existsSync(at), 'the socket file is removed at the end');
    });
}

test('--transport refuses what does not fit', async () => {
    for (const args of [
        ['--transport', 'tcp4', '--at', '[::1]:0'], // the host's family is not the transport's
        ['--transport', 'tcp6', '--at', '127.0.0.1:0'],
        ['--transport', 'tls', '--at', '127.0.0.1:0'], // not a transport (yet)
        ['--transport', 'unix'], // --transport and --at go together
        ['--at', 'x'],
        ['--transport', 'unix', '--at', 'x', '--path', 'y'], // one form only
    ]) {
        const r = await run(['--ver', '10', '--role', 'server-echo', ...args, '--timeout', '3000']);
        assert.equal(r.code, 1, args.join(' '));
        assert.deepEqual(r.lines, [], args.join(' '));
    }
    const tc = await run(['--ver', '10', '--role', 'tcp-test-client', '--transport', 'unix', '--at', 'x']);
    assert.equal(tc.code, 1);
});

// Bytes of one datagram carrying one `message` frame: the JSON text and the \f delimiter.
const frameSize = (data) => Buffer.byteLength(JSON.stringify({ type: 'message', data })) + 1;

const UDP = [
    { family: 'udp4', host: '127.0.0.1', v: 'IPv4', reply: 'I am UDP4 server!' },
    { family: 'udp6', host: '::1', v: 'IPv6', reply: 'I am UDP6 server!' },
];

async function udpServer(ver, u, extra = []) {
    const s = peer(['--ver', ver, '--role', 'udp-server', `--${u.family}`, hostPort(u.host, 0), '--timeout', '30000', ...extra]);
    const l = await s.wait(ev('listening'));
    assert.ok(Number.isInteger(l.port) && l.port > 0, `real port in the listening line, got ${l.port}`);
    assert.equal(l.address, u.host);
    return { s, port: l.port, ep: hostPort(u.host, l.port) };
}

for (const u of UDP) {
    for (const sv of VERS) {
        for (const cv of VERS) {
            test(`udp-client and udp-test-client, v${cv} -> v${sv} udp-server, ${u.family} ${u.host}`, async () => {
                const { s, port, ep } = await udpServer(sv, u);
                const c = await run(['--ver', cv, '--role', 'udp-client', `--${u.family}`, hostPort(u.host, 0),
                    '--to', ep, '--id', 'c1', '--text', 'hi there']);
                assert.equal(c.code, 0, JSON.stringify(c.lines));
                assert.deepEqual(evs(c.lines), ['listening', 'message', 'done']);
                const cport = c.lines[0].port;
                const reply = { id: `${u.family}Server`, message: u.reply };
                assert.deepEqual(c.lines[1], {
                    ev: 'message',
                    data: reply,
                    from: { address: u.host, port, family: u.v, size: frameSize(reply), id: reply.id },
                });

                const t = await run(['--ver', cv, '--role', 'udp-test-client', `--${u.family}`, hostPort(u.host, 0), '--to', ep]);
                assert.equal(t.code, 0, JSON.stringify(t.lines));
                assert.deepEqual(evs(t.lines), ['listening', 'message']);
                assert.deepEqual(t.lines[1].data, reply);
                const tport = t.lines[0].port;

                const r = await s.done; // the test client's END
                assert.equal(r.code, 0);
                assert.deepEqual(r.lines.slice(1), [
                    { ev: 'message', data: { id: 'c1', message: 'hi there' },
                        from: { address: u.host, port: cport, family: u.v, size: frameSize({ id: 'c1', message: 'hi there' }), id: 'c1' } },
                    { ev: 'message', data: {}, from: { address: u.host, port: tport, family: u.v, size: frameSize({}) } },
                    { ev: 'end' },
                ]);
            });
        }
    }
}

test('UDP: mismatch, --end, udp4 on ::1, udp6 on 127.0.0.1, signal', async () => {
    for (const ver of VERS) {
        for (const u of UDP) {
            // A reply other than node-ipc's helper's: mismatch, exit 1; END still sent.
            const { s, ep } = await udpServer(ver, u, ['--reply', 'nope', '--id', 'other']);
            const t = await run(['--ver', ver, '--role', 'udp-test-client', `--${u.family}`, hostPort(u.host, 0), '--to', ep]);
            assert.equal(t.code, 1);
            assert.deepEqual(evs(t.lines), ['listening', 'message', 'mismatch']);
            assert.deepEqual(t.lines[1].data, { id: 'other', message: 'nope' });
            assert.equal((await s.done).code, 0);

            // udp-client --count 1 --end stops the server.
            const s2 = await udpServer(ver, u);
            const c = await run(['--ver', ver, '--role', 'udp-client', `--${u.family}`, hostPort(u.host, 0), '--to', s2.ep, '--end']);
            assert.equal(c.code, 0);
            assert.deepEqual(evs(c.lines), ['listening', 'message', 'done']);
            const r2 = await s2.s.done;
            assert.equal(r2.code, 0);
            assert.deepEqual(r2.lines.slice(1).map((l) => [l.ev, l.data]),
                [['message', { id: 'node', message: 'Hello' }], ['end', undefined]]);
        }

        // node-ipc binds a udp4 server asked for ::1 to 127.0.0.1 instead.
        const four = await run(['--ver', ver, '--role', 'udp-server', '--udp4', '[::1]:0', '--timeout', '500']);
        assert.equal(four.code, 2);
        assert.equal(four.lines[0].address, '127.0.0.1');

        // udp6 cannot bind an IPv4 address (node-ipc's default host): error, exit 1.
        const six = await run(['--ver', ver, '--role', 'udp-server', '--udp6', '127.0.0.1:0']);
        assert.equal(six.code, 1);
        assert.deepEqual(six.lines, [{ ev: 'error', code: 'EINVAL', message: 'bind EINVAL 127.0.0.1' }]);

        const { s } = await udpServer(ver, UDP[0]);
        s.proc.kill('SIGTERM');
        const rs = await s.done;
        assert.equal(rs.code, 0);
        assert.deepEqual(evs(rs.lines), ['listening', 'signal']);
    }
});

// The raw and sync roles, Node to Node: what the C tests (test/interop/raw.c) rely on.
const hexOf = (lines) => lines.filter(ev('data')).map((l) => l.hex).join('');
const README_HEX = '0a141e' + '056d5c' + '000200ffeecc';

for (const [sv, cv] of [['9', '10'], ['10', '9']]) {
    test(`raw: client-raw v${cv} <-> server-raw v${sv}, hex and ascii`, async () => {
        const p = sockPath();
        const s = peer(['--ver', sv, '--role', 'server-raw', '--path', p, '--encoding', 'hex',
            '--send', '0a0b', '--send', 'zz', '--readme', '--answer', 'ff', '--delay', '0', '--clients', '1']);
        await s.wait(ev('listening'));
        const c = await run(['--ver', cv, '--role', 'client-raw', '--path', p, '--encoding', 'hex',
            '--send', 'C0FFEE', '--bytes', String(2 + README_HEX.length / 2 + 1)]);
        assert.equal(c.code, 0, JSON.stringify(c.lines));
        assert.equal(hexOf(c.lines), '0a0b' + README_HEX + 'ff');
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.equal(hexOf(r.lines), 'c0ffee');
        assert.deepEqual(r.lines.filter(ev('data')).map((l) => l.outstanding), [0]);

        // ascii: node-ipc writes latin1 and its receive strips bit 7.
        const p2 = sockPath();
        const s2 = peer(['--ver', sv, '--role', 'server-raw', '--path', p2, '--encoding', 'ascii',
            '--send', 'h\u00e9llo', '--clients', '1']);
        await s2.wait(ev('listening'));
        const c2 = await run(['--ver', cv, '--role', 'client-raw', '--path', p2, '--encoding', 'ascii', '--bytes', '5']);
        assert.equal(c2.code, 0, JSON.stringify(c2.lines));
        assert.equal(hexOf(c2.lines), '68696c6c6f');
        assert.equal((await s2.done).code, 0);
    });

    test(`sync: client-sync v${cv} -> server-slow v${sv} never has two asks outstanding`, async () => {
        const p = sockPath();
        const s = peer(['--ver', sv, '--role', 'server-slow', '--path', p, '--delay', '50']);
        await s.wait(ev('listening'));
        const c = await run(['--ver', cv, '--role', 'client-sync', '--path', p, '--count', '3', '--end']);
        assert.equal(c.code, 0, JSON.stringify(c.lines));
        assert.deepEqual(c.lines.filter(ev('answer')).map((l) => l.data), [{ i: 0 }, { i: 1 }, { i: 2 }]);
        const r = await s.done;
        assert.equal(r.code, 0);
        assert.deepEqual(r.lines.filter(ev('ask')).map((l) => [l.data.i, l.outstanding]), [[0, 0], [1, 0], [2, 0]]);
        assert.deepEqual(r.lines.at(-1), { ev: 'end' });
    });

    test(`raw UDP: udp-raw v${cv} -> udp-raw v${sv} reads datagrams as UTF-8 first`, async () => {
        const s = peer(['--ver', sv, '--role', 'udp-raw', '--udp4', '127.0.0.1:0', '--encoding', 'hex', '--count', '2']);
        const l = await s.wait(ev('listening'));
        const c = await run(['--ver', cv, '--role', 'udp-raw', '--udp4', '127.0.0.1:0', '--to', `127.0.0.1:${l.port}`,
            '--encoding', 'ascii', '--send', 'h\u00e9llo', '--send', 'c0ffee', '--count', '0']);
        assert.equal(c.code, 0, JSON.stringify(c.lines));
        const r = await s.done;
        assert.equal(r.code, 0);
        // 68 e9 6c 6c 6f is no UTF-8 ('h' no hex digit either): nothing; the text c0ffee is hex.
        assert.deepEqual(r.lines.filter(ev('data')).map((l) => [l.hex, l.from.size]), [['', 5], ['c0ffee', 6]]);
    });
}

test('raw and sync options refuse what does not fit', async () => {
    for (const args of [
        ['--role', 'server-echo', '--path', sockPath(), '--encoding', 'hex'], // raw roles only
        ['--role', 'server-raw', '--path', sockPath(), '--bytes', '1'], // client-raw only
        ['--role', 'client-raw', '--path', sockPath(), '--answer', 'x'], // servers only
        ['--role', 'server-raw', '--path', sockPath(), '--encoding', 'nope'],
        ['--role', 'server-raw', '--path', sockPath(), '--mutual'], // tls only
    ]) {
        const r = await run(['--ver', '10', ...args, '--timeout', '3000']);
        assert.equal(r.code, 1, args.join(' '));
        assert.deepEqual(r.lines, [], args.join(' '));
    }
});
